//! Online rebuilds: the table changes while the application keeps writing through other
//! connections. Triggers on the old table log which rows the application changes; the rows
//! are copied in short chunks sized to a time budget; the log is applied until little is
//! left; one short cut-over transaction applies the rest, runs the one-shot's checks and
//! swaps the tables; the old table is then purged in chunks. The state table
//! `"sqlite-rebuild online"` records where a run is, so a later call cleans up what a
//! killed run set up (before its cut-over) or finishes its purge (after).

use super::checks::{self, count, Baseline};
use super::runtime::Runtime;
use super::steps;
use super::{explain, foreign_key_violation, is_violation, quarantine, report, Stop, Tally};
use crate::builder::quarantine::default_quarantine_name;
use crate::builder::{OnViolation, OnlineOptions, TableRebuild};
use crate::db::guards::{ForeignKeysOff, ForeignKeysPragmaOff, PragmaSet, QuotesAsStrings};
use crate::db::{catalog, connection};
use crate::error::{sqlite_message, DependentKind, Error, Result};
use crate::introspect::{introspect, preflight_online, DependentFacts};
use crate::report::{MovedRows, Phase, RebuildReport};
use crate::sql::{self, ident, qualified};
use crate::strategy::{self, Choice, Payload, PlanContext, Purpose, RebuildPlan, StepKind};
use rusqlite::{Connection, ErrorCode, OptionalExtension};
use std::time::{Duration, Instant};

/// The table recording online runs in progress, one row per table.
const STATE: &str = catalog::ONLINE_STATE;

/// The state's clock: seconds, as SQLite reads them.
const NOW: &str = "CAST(strftime('%s', 'now') AS INTEGER)";

/// Seconds beyond the lock wait after which a run's state with no progress is a killed run's.
const ALIVE_MARGIN_SECS: i64 = 10;

/// Catch-up rounds without a smaller backlog before the cut-over takes the rest.
const STALLED_ROUNDS: u32 = 50;

/// What the kept statistics' index names start with while the old indexes are dropped.
const STAT_LABEL: &str = "sqlite-rebuild kept ";

/// The names of what one run sets up beside the table.
struct Run {
    schema: String,
    table: String,
    scratch: String,
    log: String,
    aside: String,
}

impl Run {
    fn new(schema: &str, table: &str, scratch: &str) -> Run {
        Run {
            schema: schema.to_owned(),
            table: table.to_owned(),
            scratch: scratch.to_owned(),
            log: format!("sqlite-rebuild log {table}"),
            aside: format!("sqlite-rebuild old {table}"),
        }
    }

    fn q(&self, name: &str) -> String {
        qualified(&self.schema, name)
    }

    fn triggers(&self) -> [String; 3] {
        ["insert", "update", "delete"].map(|op| format!("{} {op}", self.log))
    }

    fn state(&self) -> String {
        self.q(STATE)
    }
}

/// `TableRebuild::execute_online`.
pub(crate) fn execute_online(
    conn: &mut Connection,
    rb: &TableRebuild,
    opts: &OnlineOptions,
) -> Result<RebuildReport> {
    let conn: &Connection = conn;
    let pre = preflight_online(conn, rb)?;
    finish_leftovers(conn, &pre.schema, &rb.table, opts, false)?;
    // Enforcement off on this connection for the whole run: the copy writes children's
    // parents out of order, and the purge must cascade into nothing.
    let foreign_keys = ForeignKeysPragmaOff::engage(conn, &rb.table)?;
    // The plan as `execute` would make it; one that would not copy (SQLite's ALTER TABLE,
    // in place) is made again as a copy: those run in one transaction.
    let planned = |rb: &TableRebuild| {
        read(conn, |conn| {
            let _off = ForeignKeysOff::engage(conn, &rb.table)?;
            let facts = introspect(conn, rb, &pre)?;
            strategy::plan(conn, rb, facts, Purpose::Execute)
        })
    };
    let mut plan = planned(rb)?;
    if plan.context().choice == Choice::Unchanged {
        foreign_keys.restore()?;
        return Ok(report(plan.context(), &[], Tally::default(), Vec::new()));
    }
    let rb = rb.clone().force_copy(true);
    if plan.context().choice != Choice::Copy {
        plan = planned(&rb)?;
    }
    let ctx = plan.context();
    supported(&plan)?;
    let source = &ctx.facts.source;
    if !source.schema.eq_ignore_ascii_case("temp")
        && catalog::has_table(conn, "temp", &source.name)?
    {
        return Err(Error::OnlineUnsupported {
            table: source.name.clone(),
            reason: "a TEMP table of the same name shadows it on this connection, and SQLite \
                     cannot rename a shadowed table that has indexes (run it with execute)"
                .into(),
        });
    }
    if ctx.facts.target.autoincrement
        && !catalog::has_table(conn, &source.schema, "sqlite_sequence")?
    {
        return Err(Error::OnlineUnsupported {
            table: source.name.clone(),
            reason: "its target is the schema's first AUTOINCREMENT table: creating it creates \
                     sqlite_sequence, which SQLite cannot drop again if a chunk is refused \
                     (run it with execute)"
                .into(),
        });
    }
    // What the cut-over would refuse in the schema (a dependent the target breaks), found
    // on a schema-only replica before anything is written: the set-up commits, and may
    // create what a refusal could not take back (sqlite_sequence, for AUTOINCREMENT).
    super::dry_run::rehearse_schema(conn, &rb, &plan)?;
    let mut rt = Runtime::new(conn, &rb, &plan)?;
    let run = Run::new(
        &ctx.facts.source.schema,
        &ctx.facts.source.name,
        &ctx.facts.scratch,
    );
    let result = online(&mut rt, &rb, &plan, &run, opts);
    drop(rt);
    let restored = foreign_keys.restore();
    let report = result?;
    restored?;
    Ok(report)
}

/// What the online mode refuses, before anything is written.
fn supported(plan: &RebuildPlan) -> Result<()> {
    let ctx = plan.context();
    let facts = &ctx.facts;
    let source = &facts.source;
    let refuse = |reason: &str| {
        Err(Error::OnlineUnsupported {
            table: source.name.clone(),
            reason: reason.to_owned(),
        })
    };
    if source.without_rowid || facts.target.table.without_rowid {
        return refuse("the change log follows rows by rowid, and a WITHOUT ROWID table has none");
    }
    if source.rowid_name().is_none() || facts.target.table.rowid_name().is_none() {
        return refuse("its columns rowid, oid and _rowid_ hide the rowid the change log follows");
    }
    if ctx.mapping.renumbers(facts) {
        return refuse("the target gives rows other rowids, which the change log cannot follow");
    }
    if !ctx.mapping.follow.is_empty() {
        return refuse("children's keys follow remapped keys (run it with execute)");
    }
    if facts.restore.is_some() || facts.kept_old.is_some() || !facts.renames.is_empty() {
        return refuse("restoring quarantined rows, keeping the old table and renaming columns run with execute");
    }
    if !facts.full_text.is_empty() {
        return refuse("a full-text index keeps the table as external content");
    }
    match plan.steps().iter().find(|s| !runs_online(s.kind())) {
        Some(step) => Err(unsupported_step(source, step.kind())),
        None => Ok(()),
    }
}

/// The set-up, then the copy up to the cut-over (undone if it stops), then the purge.
fn online(
    rt: &mut Runtime<'_>,
    rb: &TableRebuild,
    plan: &RebuildPlan,
    run: &Run,
    opts: &OnlineOptions,
) -> Result<RebuildReport> {
    let conn = rt.conn;
    let ctx = plan.context();
    let source = &ctx.facts.source;
    let (low, high, fingerprint) = write(conn, opts, "setting up the online rebuild", |conn| {
        set_up(conn, ctx, run, opts)
    })?;
    // From here on, whatever this run set up goes if it stops before the cut-over: the
    // old table is as the application left it.
    let swapped = copy_and_swap(rt, rb, plan, run, opts, (low, high), &fingerprint);
    let (children, mut tally, moved) = match swapped {
        Ok(swapped) => swapped,
        Err(e) => {
            if let Err(cleanup) = abandon(conn, run, opts) {
                log::error!(
                    "could not remove what the online rebuild of {} set up: {cleanup}",
                    ident(&run.table)
                );
            }
            return Err(e);
        }
    };
    rt.reset_counts();
    let counting = ctx.mapping.counts_in_copy() || !ctx.mapping.chains.is_empty();
    let hits = counting.then(|| {
        format!(
            "SELECT {} FROM {} AS {}",
            ctx.mapping.select_exprs(&source.name, true).join(", "),
            run.q(&run.aside),
            ident(&source.name)
        )
    });
    let params = ctx.mapping.params.as_slice();
    purge(rt, run, opts, hits.as_deref().map(|sql| (sql, params))).map_err(|e| {
        Error::PurgeUnfinished {
            table: run.table.clone(),
            source: Box::new(e),
        }
    })?;
    tally.copy_counts = rt.counts();
    let mut report = report(ctx, &children, tally, vec![0; ctx.mapping.rules.len()]);
    report.quarantined = moved.rows;
    report.keys_nulled = moved.keys_nulled;
    report.quarantine_reports = moved.reports;
    Ok(report)
}

/// The chunked copy, the catch-up and the cut-over, after the set-up.
fn copy_and_swap(
    rt: &mut Runtime<'_>,
    rb: &TableRebuild,
    plan: &RebuildPlan,
    run: &Run,
    opts: &OnlineOptions,
    (low, high): (i64, i64),
    fingerprint: &str,
) -> Result<(Vec<String>, Tally, Moved)> {
    let conn = rt.conn;
    let ctx = plan.context();
    let source = &ctx.facts.source;
    let rowid = source.rowid_name().unwrap_or("rowid");
    let mut fingerprint = fingerprint.to_owned();
    let mut moved = Moved::default();
    let into = match &rb.on_violation {
        OnViolation::Abort => None,
        OnViolation::Quarantine => Some(default_quarantine_name(&source.name)),
        OnViolation::QuarantineInto(name) => Some(name.clone()),
    };
    // Violations that stay: moved into quarantine when asked (then the work goes on), else
    // the whole table's report.
    let settle = |e: rusqlite::Error, moved: &mut Moved, fingerprint: &mut String| match &into {
        Some(into) if quarantine_pass(conn, ctx, rb, run, opts, into, moved, fingerprint)? => {
            Ok(())
        }
        _ => Err(refusal(conn, ctx, rb, e)),
    };
    // The catch-up, with what it refuses settled.
    let caught_up = |leave: u64, moved: &mut Moved, fingerprint: &mut String| loop {
        match catch_up(rt, ctx, run, &apply_sql(ctx, run), opts, leave) {
            Ok(()) => return Ok(()),
            Err(Chunk::Copy(e)) if is_violation(&e) => settle(e, moved, fingerprint)?,
            Err(Chunk::Copy(e)) => return Err(Error::sqlite("applying the change log")(e)),
            Err(Chunk::Other(e)) => return Err(e),
        }
    };
    log::info!(
        "online rebuild of {}: rows {low}..={high} to copy, changes logged in {}",
        source.qualified(),
        ident(&run.log)
    );
    let copy = apply_sql(ctx, run);
    let apply = &copy;
    let src_rowid = format!("{}.{}", source.qualified(), ident(rowid));
    let copy_rowid = ident(ctx.facts.target.table.rowid_name().unwrap_or("rowid"));
    let total = count(conn, &source.qualified())?;
    let mut chunk = ChunkSize::new(opts);
    let mut done = low - 1;
    let mut copied = 0u64;
    let mut retried = false;
    // A refused chunk or log entry: the whole table's violations, or the error as it is.
    let stopped = |e: Chunk| match e {
        Chunk::Copy(e) if is_violation(&e) => refusal(conn, ctx, rb, e),
        Chunk::Copy(e) => Error::sqlite("copying the rows")(e),
        Chunk::Other(e) => e,
    };
    rt.progress(Phase::Copy, 0, total);
    while done < high {
        let rows = chunk.rows;
        let attempt = write_held(conn, opts, "copying a chunk", |conn| {
            let hi: i64 = conn
                .query_row(
                    &format!(
                        "SELECT {src_rowid} FROM {} WHERE {src_rowid} > ?1 ORDER BY {src_rowid} LIMIT 1 OFFSET ?2",
                        source.qualified()
                    ),
                    (done, rows as i64 - 1),
                    |r| r.get(0),
                )
                .optional()
                .map_err(Error::sqlite("finding a chunk's end"))?
                .map_or(high, |hi: i64| hi.min(high));
            conn.execute(
                &format!(
                    "DELETE FROM {} WHERE {copy_rowid} > ?1 AND {copy_rowid} <= ?2",
                    run.q(&run.scratch)
                ),
                (done, hi),
            )
            .map_err(Error::sqlite("clearing a chunk's range"))?;
            let n = conn
                .execute(
                    &format!("{copy} WHERE {src_rowid} > {done} AND {src_rowid} <= {hi}"),
                    rusqlite::params_from_iter(ctx.mapping.params.iter()),
                )
                .map_err(Chunk::Copy)?;
            conn.execute(
                &format!(
                    "UPDATE {} SET high = ?1, beat = {NOW} WHERE tbl = ?2",
                    run.state()
                ),
                (hi, &run.table),
            )
            .map_err(Error::sqlite("recording the copy's progress"))?;
            Ok((hi, n as u64))
        });
        match attempt {
            Ok(((hi, n), held)) => {
                done = hi;
                copied += n;
                retried = false;
                chunk.measured(n, held);
                rt.progress(Phase::Copy, copied.min(total), total.max(copied));
            }
            Err(Chunk::Copy(e)) if is_violation(&e) && !retried => {
                // A row the application changed since may hold a value its old row did:
                // bring the copied rows up to date, then copy the chunk once more.
                log::debug!("a chunk was refused ({e}); catching up before retrying it");
                caught_up(0, &mut moved, &mut fingerprint)?;
                retried = true;
                continue;
            }
            Err(Chunk::Copy(e)) if is_violation(&e) => {
                settle(e, &mut moved, &mut fingerprint)?;
                retried = false;
                continue;
            }
            Err(e) => return Err(stopped(e)),
        }
        pause(conn, &run.schema, opts);
    }
    // Catch up until the backlog fits in one chunk's budget.
    caught_up(chunk.rows, &mut moved, &mut fingerprint)?;
    loop {
        match cut_over(rt, plan, run, apply, opts, &fingerprint) {
            Ok((children, tally)) => return Ok((children, tally, moved)),
            Err(Chunk::Copy(e)) if is_violation(&e) => {
                settle(e, &mut moved, &mut fingerprint)?;
                caught_up(chunk.rows, &mut moved, &mut fingerprint)?;
            }
            Err(e) => return Err(stopped(e)),
        }
    }
}

/// The copy's statement, for the chunks and the change log alike. Rows may be copied again
/// from the log: the rules' hits are counted on the old table as the cut-over left it,
/// during the purge.
fn apply_sql(ctx: &PlanContext, run: &Run) -> String {
    let source = &ctx.facts.source;
    ctx.mapping.copy_sql(
        &run.q(&run.scratch),
        &source.qualified(),
        &source.name,
        false,
    )
}

/// What the quarantine passes did, for the report.
#[derive(Default)]
struct Moved {
    reports: Vec<crate::report::ValidationReport>,
    rows: Vec<MovedRows>,
    keys_nulled: Vec<MovedRows>,
}

/// Moves the rows that violate the target, and their children's rows, into quarantine as
/// the one-shot does between attempts, in one transaction: it reads the whole table, so
/// the writers wait for it (only when rows violate). The table's triggers, the change
/// log's among them, are suspended while rows move: the copies of the moved rows go here.
/// False when nothing could be moved.
#[allow(clippy::too_many_arguments)]
fn quarantine_pass(
    conn: &Connection,
    ctx: &PlanContext,
    rb: &TableRebuild,
    run: &Run,
    opts: &OnlineOptions,
    into: &str,
    moved: &mut Moved,
    expected_fingerprint: &mut String,
) -> Result<bool> {
    let source = &ctx.facts.source;
    let rowid = ident(source.rowid_name().unwrap_or("rowid"));
    let copy_rowid = ident(ctx.facts.target.table.rowid_name().unwrap_or("rowid"));
    let found = write(conn, opts, "quarantining rows", |conn| {
        if fingerprint(conn, source)? != *expected_fingerprint {
            return Err(schema_changed(source));
        }
        let found = quarantine::move_violations(
            conn,
            &ctx.facts,
            &ctx.mapping,
            into,
            (rb.sample_size, rb.orphans),
        )?;
        if found.is_some() {
            conn.execute(
                &format!(
                    "DELETE FROM {} WHERE {copy_rowid} NOT IN (SELECT {rowid} FROM {})",
                    run.q(&run.scratch),
                    source.qualified()
                ),
                [],
            )
            .map_err(Error::sqlite("removing the copies of quarantined rows"))?;
            // The quarantine tables are new; what the cut-over compares is the schema now.
            *expected_fingerprint = fingerprint(conn, source)?;
        }
        Ok(found)
    })?;
    let Some((report, rows, nulled)) = found else {
        return Ok(false);
    };
    log::info!(
        "online rebuild of {}: {} rows violating the target moved into quarantine",
        source.qualified(),
        report.violation_count()
    );
    moved.reports.push(report);
    for m in rows {
        MovedRows::merge_into(&mut moved.rows, m);
    }
    for m in nulled {
        MovedRows::merge_into(&mut moved.keys_nulled, m);
    }
    Ok(true)
}

fn schema_changed(source: &crate::db::catalog::Table) -> Error {
    Error::CheckFailed {
        table: source.name.clone(),
        reason: "the schema changed during the online rebuild (the table, a table \
                 referencing it, a view or a trigger); nothing was swapped, run it again"
            .into(),
    }
}

/// What a chunk's transaction stopped on: a row SQLite refused, or anything else.
enum Chunk {
    Copy(rusqlite::Error),
    Other(Error),
}

impl From<Error> for Chunk {
    fn from(e: Error) -> Self {
        Chunk::Other(e)
    }
}

/// The violations, diagnosed over the whole table as the one-shot does (in a read
/// transaction: on a WAL database, writers go on).
fn refusal(conn: &Connection, ctx: &PlanContext, rb: &TableRebuild, e: rusqlite::Error) -> Error {
    read(conn, |conn| {
        Ok(explain(conn, ctx, rb.sample_size, Stop::Violations(e)))
    })
    .unwrap_or_else(|e| e)
}

/// Chunk sizes that keep each transaction near the time budget.
struct ChunkSize {
    rows: u64,
    budget: Duration,
}

impl ChunkSize {
    fn new(opts: &OnlineOptions) -> Self {
        ChunkSize {
            rows: opts.first_chunk_rows,
            budget: opts.chunk_time,
        }
    }

    /// Follows the rate just measured, by at most a factor of two either way.
    fn measured(&mut self, rows: u64, took: Duration) {
        if rows == 0 {
            return;
        }
        let per_row = took.as_secs_f64() / rows as f64;
        let ideal = (self.budget.as_secs_f64() / per_row.max(1e-9)) as u64;
        self.rows = ideal.clamp((self.rows / 2).max(1), self.rows.saturating_mul(2).max(2));
    }
}

/// The writers' turn between two chunks. On a WAL database the rebuild also checkpoints
/// (PASSIVE: writers go on) what its chunk added to the log, so that the application's
/// next commit does not find the log past its auto-checkpoint size and copy the rebuild's
/// pages while its caller waits.
fn pause(conn: &Connection, schema: &str, opts: &OnlineOptions) {
    let started = Instant::now();
    let wal = conn
        .query_row(&format!("PRAGMA {}.journal_mode", ident(schema)), [], |r| {
            r.get::<_, String>(0)
        })
        .is_ok_and(|mode| mode.eq_ignore_ascii_case("wal"));
    if wal {
        let checkpoint = conn.query_row(
            &format!("PRAGMA {}.wal_checkpoint(PASSIVE)", ident(schema)),
            [],
            |_| Ok(()),
        );
        if let Err(e) = checkpoint {
            log::debug!("a checkpoint between chunks failed: {e}");
        }
    }
    if let Some(left) = opts.pause.checked_sub(started.elapsed()) {
        std::thread::sleep(left);
    }
}

/// The scratch table, the change log and its triggers, and the run's state row, in one
/// transaction. Returns the range of rowids to copy (rows above it are logged anyway) and
/// the schema's fingerprint, which the cut-over compares.
fn set_up(
    conn: &Connection,
    ctx: &PlanContext,
    run: &Run,
    opts: &OnlineOptions,
) -> Result<(i64, i64, String)> {
    let source = &ctx.facts.source;
    let rowid = source.rowid_name().unwrap_or("rowid");
    let batch = |sql: &str, what: &str| {
        conn.execute_batch(sql)
            .map_err(Error::sqlite(format!("{what} for the online rebuild")))
    };
    batch(
        &format!(
            "CREATE TABLE IF NOT EXISTS {} (tbl TEXT PRIMARY KEY, phase TEXT NOT NULL, scratch TEXT NOT NULL, high INTEGER, beat INTEGER NOT NULL)",
            run.state()
        ),
        "creating the state table",
    )?;
    conn.execute(
        &format!(
            "INSERT INTO {} (tbl, phase, scratch, beat) VALUES (?1, 'copy', ?2, {NOW})",
            run.state()
        ),
        (&run.table, &run.scratch),
    )
    .map_err(Error::sqlite("recording the online rebuild"))?;
    batch(
        &ctx.facts.target.create_scratch,
        "creating the scratch table",
    )?;
    for d in prebuilt(ctx, opts) {
        let name = qualified(&run.schema, &prebuilt_name(&d.def.name));
        let Some(create) = d.index_as(&name, &run.scratch) else {
            continue;
        };
        let quotes = d
            .quotes_are_names
            .then(|| QuotesAsStrings::in_ddl(conn, false))
            .transpose()?;
        let built = conn.execute_batch(&create);
        drop(quotes);
        built.map_err(|e| Error::DependentBroken {
            table: source.name.clone(),
            kind: DependentKind::Index,
            name: d.def.name.clone(),
            reason: sqlite_message(&e),
        })?;
    }
    let log = run.q(&run.log);
    batch(
        &format!("CREATE TABLE {log} (seq INTEGER PRIMARY KEY, id INTEGER NOT NULL)"),
        "creating the change log",
    )?;
    let [insert, update, delete] = run.triggers();
    let r = ident(rowid);
    batch(
        &format!(
            "CREATE TRIGGER {} AFTER INSERT ON {} BEGIN INSERT INTO {} (id) VALUES (new.{r}); END;
             CREATE TRIGGER {} AFTER UPDATE ON {} BEGIN INSERT INTO {} (id) SELECT old.{r} UNION SELECT new.{r}; END;
             CREATE TRIGGER {} AFTER DELETE ON {} BEGIN INSERT INTO {} (id) VALUES (old.{r}); END;",
            run.q(&insert),
            ident(&source.name),
            ident(&run.log),
            run.q(&update),
            ident(&source.name),
            ident(&run.log),
            run.q(&delete),
            ident(&source.name),
            ident(&run.log),
        ),
        "creating the change log's triggers",
    )?;
    let (low, high) = conn
        .query_row(
            &format!(
                "SELECT coalesce(min({r}), 1), coalesce(max({r}), 0) FROM {}",
                source.qualified()
            ),
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(Error::sqlite("reading the range of rowids"))?;
    Ok((low, high, fingerprint(conn, source)?))
}

/// What the rebuild depends on in the schema (the table, its family, every view and
/// trigger), but the run's own objects: the application must not change it meanwhile, or
/// the cut-over would swap in a table built for the schema as it was.
fn fingerprint(conn: &Connection, source: &crate::db::catalog::Table) -> Result<String> {
    conn.query_row(
        &catalog::fingerprint_sql(&source.schema, &source.name),
        [],
        |r| r.get::<_, Option<String>>(0),
    )
    .map(Option::unwrap_or_default)
    .map_err(Error::sqlite("reading what the table depends on"))
}

/// Applies the change log in chunks until at most `leave` changes are left: each logged
/// row is copied again from the old table (or removed, when it is gone).
fn catch_up(
    rt: &Runtime<'_>,
    ctx: &PlanContext,
    run: &Run,
    apply: &str,
    opts: &OnlineOptions,
    leave: u64,
) -> std::result::Result<(), Chunk> {
    let conn = rt.conn;
    let mut chunk = ChunkSize::new(opts);
    let mut applied = 0u64;
    let (mut smallest, mut stalled) = (u64::MAX, 0);
    loop {
        let backlog = count(conn, &run.q(&run.log))?;
        rt.progress(Phase::CatchUp, applied, applied + backlog);
        if backlog <= leave || backlog == 0 {
            return Ok(());
        }
        // Writers outpacing the catch-up: the cut-over applies the rest, holding the lock
        // longer, rather than never ending.
        (smallest, stalled) = match backlog < smallest {
            true => (backlog, 0),
            false => (smallest, stalled + 1),
        };
        if stalled >= STALLED_ROUNDS {
            log::warn!(
                "the application writes faster than the online rebuild of {} catches up: {backlog} changes left for the cut-over",
                ident(&run.table)
            );
            return Ok(());
        }
        let rows = chunk.rows;
        let (n, held) = match write_held(conn, opts, "applying the change log", |conn| {
            apply_log(conn, ctx, run, apply, Some(rows))
        }) {
            // An entry may collide with a row whose own change comes later in the log:
            // the whole log at once is the table as it is now.
            Err(Chunk::Copy(e)) if is_violation(&e) => {
                log::debug!("a change was refused ({e}); applying the whole log at once");
                write_held(conn, opts, "applying the change log", |conn| {
                    apply_log(conn, ctx, run, apply, None)
                })?
            }
            other => other?,
        };
        applied += n;
        chunk.measured(n, held);
        pause(conn, &run.schema, opts);
    }
}

/// One batch of the change log (`limit` entries, or all of them), inside a transaction.
fn apply_log(
    conn: &Connection,
    ctx: &PlanContext,
    run: &Run,
    apply: &str,
    limit: Option<u64>,
) -> std::result::Result<u64, Chunk> {
    let source = &ctx.facts.source;
    let rowid = ident(source.rowid_name().unwrap_or("rowid"));
    let log = run.q(&run.log);
    let upto: Option<i64> = match limit {
        Some(n) => conn
            .query_row(
                &format!("SELECT seq FROM {log} ORDER BY seq LIMIT 1 OFFSET ?1"),
                [n as i64 - 1],
                |r| r.get(0),
            )
            .optional()
            .map_err(Error::sqlite("reading the change log"))?,
        None => None,
    };
    let within = match upto {
        Some(seq) => format!("seq <= {seq}"),
        None => "1".to_owned(),
    };
    let ids = format!("SELECT id FROM {log} WHERE {within}");
    conn.execute(
        &format!(
            "DELETE FROM {} WHERE {} IN ({ids})",
            run.q(&run.scratch),
            ident(ctx.facts.target.table.rowid_name().unwrap_or("rowid"))
        ),
        [],
    )
    .map_err(Error::sqlite("removing changed rows from the copy"))?;
    conn.execute(
        &format!("{apply} WHERE {}.{rowid} IN ({ids})", source.qualified()),
        rusqlite::params_from_iter(ctx.mapping.params.iter()),
    )
    .map_err(Chunk::Copy)?;
    let n = conn
        .execute(&format!("DELETE FROM {log} WHERE {within}"), [])
        .map_err(Error::sqlite("emptying the change log"))?;
    beat(conn, run)?;
    Ok(n as u64)
}

/// The one transaction that swaps the tables: the last changes, then the plan's own steps
/// from the drop of the old table on (the old table renamed aside instead, the indexes
/// built before the copy renamed in), then the one-shot's checks before commit.
fn cut_over(
    rt: &Runtime<'_>,
    plan: &RebuildPlan,
    run: &Run,
    apply: &str,
    opts: &OnlineOptions,
    fingerprint_at_set_up: &str,
) -> std::result::Result<(Vec<String>, Tally), Chunk> {
    let conn = rt.conn;
    let ctx = plan.context();
    let facts = &ctx.facts;
    let source = &facts.source;
    let prebuilt = prebuilt(ctx, opts);
    rt.progress(Phase::CutOver, 0, 1);
    let started = Instant::now();
    let cut = write(conn, opts, "cutting over", |conn| {
        if fingerprint(conn, source)? != fingerprint_at_set_up {
            return Err(Chunk::Other(schema_changed(source)));
        }
        apply_log(conn, ctx, run, apply, None)?;
        drop_change_log(conn, run, false)?;
        let baseline = Baseline::take(rt, ctx)?;
        let mut tally = Tally {
            old_rows: baseline.old_rows,
            rows_copied: baseline.old_rows,
            ..Tally::default()
        };
        // The counter as the application left it: its inserts since the plan raised it.
        let sequence = match facts.target.autoincrement {
            true => catalog::sequence(conn, &source.schema, &source.name)?,
            false => None,
        };
        for step in plan.steps() {
            let prebuilt_index = match step.payload() {
                Payload::Recreate { name, .. } => prebuilt
                    .iter()
                    .find(|d| d.def.name.eq_ignore_ascii_case(name)),
                _ => None,
            };
            match step.kind() {
                // Done before the cut-over, or below with the counter read above.
                StepKind::CreateTarget | StepKind::Copy | StepKind::RestoreSequence => {}
                StepKind::DropOld => set_aside(conn, ctx, run, &prebuilt)?,
                StepKind::CreateIndex if prebuilt_index.is_some() => {
                    if let Some(d) = prebuilt_index {
                        move_index_in(conn, run, d)?;
                        tally.recreated.push(d.def.name.clone());
                    }
                }
                kind if runs_online(kind) => {
                    steps::run(rt, ctx, step, &mut tally).map_err(|stop| match stop {
                        Stop::Violations(e) => Chunk::Copy(e),
                        Stop::Error(e) => Chunk::Other(e),
                    })?
                }
                other => return Err(Chunk::Other(unsupported_step(source, other))),
            }
        }
        if let Some(seq) = sequence {
            let seq_table = run.q("sqlite_sequence");
            conn.execute(
                &format!("UPDATE {seq_table} SET seq = max(seq, ?1) WHERE name = ?2"),
                (seq, &source.name),
            )
            .map_err(Error::sqlite("raising the AUTOINCREMENT counter"))?;
            conn.execute(&format!("INSERT INTO {seq_table} (name, seq) SELECT ?2, ?1 WHERE NOT EXISTS (SELECT 1 FROM {seq_table} WHERE name = ?2)"), (seq, &source.name))
                .map_err(Error::sqlite("recording the AUTOINCREMENT counter"))?;
        }
        // The one-shot proves the target's own foreign keys on the rows before its copy;
        // here the parents may have changed since any chunk: every row, now (the cost of
        // a target with foreign keys: one lookup per row inside the cut-over).
        if !facts.target.foreign_keys.is_empty() {
            let violations: i64 = conn
                .query_row(
                    "SELECT count(*) FROM pragma_foreign_key_check(?1, ?2)",
                    [&source.name, &source.schema],
                    |r| r.get(0),
                )
                .map_err(Error::sqlite("checking the table's foreign keys"))?;
            if violations > 0 {
                return Err(match foreign_key_violation() {
                    Stop::Violations(e) => Chunk::Copy(e),
                    Stop::Error(e) => Chunk::Other(e),
                });
            }
        }
        match checks::before_commit(rt, ctx, &baseline, &mut tally) {
            Ok(()) => {}
            Err(Stop::Violations(e)) => return Err(Chunk::Copy(e)),
            Err(Stop::Error(e)) => return Err(Chunk::Other(e)),
        }
        conn.execute(
            &format!(
                "UPDATE {} SET phase = 'purge', beat = {NOW} WHERE tbl = ?1",
                run.state()
            ),
            [&run.table],
        )
        .map_err(Error::sqlite("recording the cut-over"))?;
        let children: Vec<String> = baseline.children.iter().map(|c| c.name.clone()).collect();
        Ok((children, tally))
    })?;
    log::info!(
        "online rebuild of {}: cut over in {} ms",
        source.qualified(),
        started.elapsed().as_millis()
    );
    rt.progress(Phase::CutOver, 1, 1);
    Ok(cut)
}

/// The plan's steps the online mode runs (the others, it refuses up front).
fn runs_online(kind: StepKind) -> bool {
    matches!(
        kind,
        StepKind::CreateTarget
            | StepKind::Copy
            | StepKind::RestoreSequence
            | StepKind::DropOld
            | StepKind::DropDependent
            | StepKind::KeepStatistics
            | StepKind::Rename
            | StepKind::SwitchDefinition
            | StepKind::CreateIndex
            | StepKind::CreateTrigger
            | StepKind::RestoreStatistics
    )
}

fn unsupported_step(source: &crate::db::catalog::Table, kind: StepKind) -> Error {
    Error::OnlineUnsupported {
        table: source.name.clone(),
        reason: format!(
            "its rebuild needs a step the online mode does not run ({})",
            kind.describe()
        ),
    }
}

/// The old table's indexes that are built on the new table before the copy: all of them,
/// unless the caller wants them at the cut-over or the connection cannot write the schema
/// (their names are only free to move in at the cut-over).
fn prebuilt<'p>(ctx: &'p PlanContext, opts: &OnlineOptions) -> Vec<&'p DependentFacts> {
    if opts.indexes_at_cut_over || ctx.facts.defensive {
        return Vec::new();
    }
    ctx.facts
        .dependents
        .iter()
        .filter(|d| d.def.kind == DependentKind::Index && d.index.is_some())
        .collect()
}

/// The name an index has on the new table until the cut-over.
fn prebuilt_name(index: &str) -> String {
    format!("sqlite-rebuild index {index}")
}

/// The old table out of the way, instead of the one-shot's drop: its triggers dropped (the
/// plan recreates them), the indexes built again at the cut-over dropped (their names are
/// needed), the rest going with it; the statistics `DROP TABLE` would delete deleted; then
/// renamed aside for the purge. Legacy renames touch nothing that names the table:
/// children's REFERENCES, views and triggers go on naming it, and find the new table.
fn set_aside(
    conn: &Connection,
    ctx: &PlanContext,
    run: &Run,
    prebuilt: &[&DependentFacts],
) -> std::result::Result<(), Chunk> {
    let facts = &ctx.facts;
    let source = &facts.source;
    let stats: Vec<&String> = facts.statistics.iter().flat_map(|s| &s.tables).collect();
    // DROP INDEX deletes the statistics of its name, wherever the plan set them aside:
    // they are labelled apart around the drops.
    let stash = |from: &str, to: &str| -> std::result::Result<(), Chunk> {
        for stat in &stats {
            conn.execute(
                &format!(
                    "UPDATE {} SET idx = ?2 || substr(idx, length(?1) + 1) WHERE tbl = ?3 COLLATE NOCASE AND substr(idx, 1, length(?1)) = ?1",
                    run.q(stat)
                ),
                (from, to, &facts.scratch),
            )
            .map_err(Error::sqlite("setting the kept statistics apart"))?;
        }
        Ok(())
    };
    stash("", STAT_LABEL)?;
    for d in &facts.dependents {
        let kind = match d.def.kind {
            DependentKind::Index if prebuilt.iter().any(|p| p.def.name == d.def.name) => continue,
            DependentKind::Index => "INDEX",
            _ => "TRIGGER",
        };
        exec(
            conn,
            &format!(
                "DROP {kind} {}",
                qualified(d.def.owner(&source.schema), &d.def.name)
            ),
            "dropping the old table's index or trigger",
        )?;
    }
    stash(STAT_LABEL, "")?;
    for stat in &stats {
        conn.execute(
            &format!("DELETE FROM {} WHERE tbl = ?1 COLLATE NOCASE", run.q(stat)),
            [&source.name],
        )
        .map_err(Error::sqlite("deleting the old table's statistics"))?;
    }
    let _legacy = PragmaSet::legacy_alter_table(conn, true)?;
    exec(
        conn,
        &format!(
            "ALTER TABLE {} RENAME TO {}",
            source.qualified(),
            ident(&run.aside)
        ),
        "renaming the old table aside",
    )
}

/// Gives an index built on the new table its name: the old table's index of that name is
/// renamed aside (it goes with the purge), both by editing `sqlite_schema`, and the schema
/// version bumped so that every connection reloads it (SQLite's documented procedure).
/// The moved index's text is the old one's, as the one-shot's `CREATE INDEX` stores it.
fn move_index_in(
    conn: &Connection,
    run: &Run,
    d: &DependentFacts,
) -> std::result::Result<(), Chunk> {
    let fail = |e| {
        Chunk::Other(Error::sqlite(format!(
            "moving the index {} in",
            ident(&d.def.name)
        ))(e))
    };
    let master = run.q("sqlite_schema");
    let aside_name = format!("sqlite-rebuild old {}", d.def.name);
    let aside_sql: String = conn
        .query_row(
            &format!("SELECT sql FROM {master} WHERE type = 'index' AND name = ?1 COLLATE NOCASE"),
            [&d.def.name],
            |r| r.get(0),
        )
        .map_err(fail)?;
    let aside_sql = sql::parse_create_index(&aside_sql)
        .map(|ix| sql::replace_span(&aside_sql, ix.name_span, &ident(&aside_name)))
        .map_err(|e| {
            Chunk::Other(Error::CheckFailed {
                table: run.table.clone(),
                reason: format!("the index {} does not parse: {e}", ident(&d.def.name)),
            })
        })?;
    let version = connection::schema_version(conn, &run.schema).map_err(fail)?;
    let writable = PragmaSet::writable_schema(conn, true)?;
    let moved = (|| {
        let aside = conn.execute(
            &format!("UPDATE {master} SET name = ?1, sql = ?2 WHERE type = 'index' AND name = ?3 COLLATE NOCASE"),
            (&aside_name, &aside_sql, &d.def.name),
        )?;
        let moved_in = conn.execute(
            &format!("UPDATE {master} SET name = ?1, sql = ?2 WHERE type = 'index' AND name = ?3"),
            (&d.def.name, &d.def.sql, prebuilt_name(&d.def.name)),
        )?;
        Ok::<_, rusqlite::Error>((aside, moved_in))
    })();
    writable.restore()?;
    if moved.map_err(fail)? != (1, 1) {
        return Err(Chunk::Other(Error::CheckFailed {
            table: run.table.clone(),
            reason: format!(
                "the index {} or its copy on the new table was not found in sqlite_schema",
                ident(&d.def.name)
            ),
        }));
    }
    conn.execute_batch(&format!(
        "PRAGMA {}.schema_version = {}",
        ident(&run.schema),
        version + 1
    ))
    .map_err(fail)
}

/// The logging triggers and the change log; `if_exists` when a killed run may have left
/// only part of them (the cut-over insists they are all there).
fn drop_change_log(
    conn: &Connection,
    run: &Run,
    if_exists: bool,
) -> std::result::Result<(), Chunk> {
    let if_exists = if if_exists { "IF EXISTS " } else { "" };
    for trigger in run.triggers() {
        exec(
            conn,
            &format!("DROP TRIGGER {if_exists}{}", run.q(&trigger)),
            "dropping the change log's trigger",
        )?;
    }
    exec(
        conn,
        &format!("DROP TABLE {if_exists}{}", run.q(&run.log)),
        "dropping the change log",
    )
}

fn exec(conn: &Connection, sql: &str, what: &str) -> std::result::Result<(), Chunk> {
    conn.execute_batch(sql)
        .map_err(|e| Chunk::Other(Error::sqlite(what.to_owned())(e)))
}

/// Deletes a table's rows in chunks, each its own transaction, then drops it: a DROP of a
/// large table would hold the lock while it frees every page.
fn purge_table(
    rt_conn: &Connection,
    run: &Run,
    table: &str,
    opts: &OnlineOptions,
    read_first: Option<(&str, &[rusqlite::types::Value])>,
    progress: &dyn Fn(u64),
) -> Result<()> {
    let schema = run.schema.as_str();
    let q = qualified(schema, table);
    let mut chunk = ChunkSize::new(opts);
    let mut purged = 0u64;
    let failed = |e| Chunk::Other(Error::sqlite(format!("purging {}", ident(table)))(e));
    // Its rowid by a name no column hides (the old table's columns may be named rowid).
    let rowid = match catalog::resolve_table(rt_conn, schema, table)?.rowid_name() {
        Some(name) => ident(name),
        None => {
            return Err(Error::RowidUnreachable {
                table: table.to_owned(),
                reason: "its columns rowid, oid and _rowid_ hide it".into(),
            })
        }
    };
    loop {
        let rows = chunk.rows;
        let n = write_held(rt_conn, opts, "purging the old table", |conn| {
            // A range of rowids from the start (all that is left, at the end).
            let hi: Option<i64> = conn
                .query_row(
                    &format!("SELECT {rowid} FROM {q} ORDER BY {rowid} LIMIT 1 OFFSET ?1"),
                    [rows as i64 - 1],
                    |r| r.get(0),
                )
                .optional()
                .map_err(failed)?;
            let range = hi.map_or(String::new(), |hi| format!(" WHERE {rowid} <= {hi}"));
            if let Some((select, params)) = read_first {
                let mut stmt = conn.prepare(&format!("{select}{range}")).map_err(failed)?;
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(params))
                    .map_err(failed)?;
                while rows.next().map_err(failed)?.is_some() {}
            }
            let n = conn
                .execute(&format!("DELETE FROM {q}{range}"), [])
                .map_err(failed)?;
            beat(conn, run)?;
            Ok((n as u64, hi.is_none()))
        });
        let ((n, last), held) = n.map_err(chunk_error)?;
        purged += n;
        progress(purged);
        if last {
            break;
        }
        chunk.measured(n, held);
        pause(rt_conn, schema, opts);
    }
    write(rt_conn, opts, "dropping the old table", |conn| {
        exec(
            conn,
            &format!("DROP TABLE IF EXISTS {q}"),
            "dropping the purged table",
        )
    })
    .map_err(chunk_error)
}

fn chunk_error(e: Chunk) -> Error {
    match e {
        Chunk::Copy(e) => Error::sqlite("purging")(e),
        Chunk::Other(e) => e,
    }
}

/// After the cut-over: the old table goes in chunks, then the run's state row.
/// `hits` reads the old table's rows through the rules' counting expressions: each chunk
/// is read through it before it goes, so the counts are the one-shot's over the final data.
fn purge(
    rt: &Runtime<'_>,
    run: &Run,
    opts: &OnlineOptions,
    hits: Option<(&str, &[rusqlite::types::Value])>,
) -> Result<()> {
    let total = count(rt.conn, &run.q(&run.aside))?;
    rt.progress(Phase::Purge, 0, total);
    purge_table(rt.conn, run, &run.aside, opts, hits, &|n| {
        rt.progress(Phase::Purge, n, total)
    })?;
    forget(rt.conn, run, opts)
}

/// Records that the run is alive (inside one of its transactions).
fn beat(conn: &Connection, run: &Run) -> Result<()> {
    conn.execute(
        &format!("UPDATE {} SET beat = {NOW} WHERE tbl = ?1", run.state()),
        [&run.table],
    )
    .map(drop)
    .map_err(Error::sqlite("recording the online rebuild's progress"))
}

/// Removes the run's state row, and the state table once no run is left.
fn forget(conn: &Connection, run: &Run, opts: &OnlineOptions) -> Result<()> {
    write(conn, opts, "ending the online rebuild", |conn| {
        conn.execute(
            &format!("DELETE FROM {} WHERE tbl = ?1", run.state()),
            [&run.table],
        )
        .map_err(Error::sqlite("removing the online rebuild's state"))?;
        let left: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {}", run.state()), [], |r| {
                r.get(0)
            })
            .map_err(Error::sqlite("reading the online rebuild's state"))?;
        if left == 0 {
            exec(
                conn,
                &format!("DROP TABLE {}", run.state()),
                "dropping the state table",
            )?;
        }
        Ok(())
    })
    .map_err(chunk_error)
}

/// Before the cut-over: the logging triggers and the log go at once (the application's
/// writes stop paying for them), then the scratch copy in chunks, then the state row.
fn abandon(conn: &Connection, run: &Run, opts: &OnlineOptions) -> Result<()> {
    write(conn, opts, "removing the change log", |conn| {
        drop_change_log(conn, run, true)
    })
    .map_err(chunk_error)?;
    if catalog::has_table(conn, &run.schema, &run.scratch)? {
        purge_table(conn, run, &run.scratch, opts, None, &|_| {})?;
    }
    if catalog::has_table(conn, &run.schema, STATE)? {
        forget(conn, run, opts)?;
    }
    log::info!(
        "removed what the online rebuild of {} had set up",
        ident(&run.table)
    );
    Ok(())
}

/// What an earlier run left, found through the state table: set-up that never cut over is
/// removed, a purge that did not finish is finished. A run that recorded progress lately
/// may be alive in another process: it is left alone unless `force`.
pub(crate) fn finish_leftovers(
    conn: &Connection,
    schema: &str,
    table: &str,
    opts: &OnlineOptions,
    force: bool,
) -> Result<()> {
    if !catalog::has_table(conn, schema, STATE)? {
        return Ok(());
    }
    let row: Option<(String, String, i64)> = conn
        .query_row(
            &format!(
                "SELECT phase, scratch, {NOW} - beat FROM {} WHERE tbl = ?1 COLLATE NOCASE",
                qualified(schema, STATE)
            ),
            [table],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(Error::sqlite("reading an earlier online rebuild's state"))?;
    let Some((phase, scratch, seconds_ago)) = row else {
        return Ok(());
    };
    // A live run records progress in each of its transactions, and waits at most
    // `lock_wait` for each.
    let alive_within = opts.lock_wait.as_secs() as i64 + ALIVE_MARGIN_SECS;
    if !force && seconds_ago < alive_within {
        return Err(Error::OnlineRunning {
            table: table.to_owned(),
            seconds_ago,
        });
    }
    let run = Run::new(schema, table, &scratch);
    let _foreign_keys = ForeignKeysPragmaOff::engage(conn, table)?;
    if phase == "purge" {
        log::info!(
            "finishing the purge of an earlier online rebuild of {}",
            ident(table)
        );
        purge_table(conn, &run, &run.aside, opts, None, &|_| {})?;
        forget(conn, &run, opts)
    } else {
        log::info!(
            "an earlier online rebuild of {} stopped before its cut-over: removing what it set up",
            ident(table)
        );
        abandon(conn, &run, opts)
    }
}

/// Runs `f` in a `BEGIN IMMEDIATE` transaction, waiting for the write lock up to the
/// options' limit; commits, or rolls back on error.
fn write<T, E: From<Error>>(
    conn: &Connection,
    opts: &OnlineOptions,
    what: &str,
    f: impl FnOnce(&Connection) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    retry_busy(conn, opts, what, "BEGIN IMMEDIATE")?;
    let result = f(conn);
    match result {
        Ok(v) => match retry_busy(conn, opts, what, "COMMIT") {
            Ok(()) => Ok(v),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e.into())
            }
        },
        Err(e) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(e)
        }
    }
}

/// [`write`], also returning how long the transaction held the write lock: chunk sizes
/// follow that, not the wait for the lock before it (which would shrink them to nothing
/// under busy writers).
fn write_held<T, E: From<Error>>(
    conn: &Connection,
    opts: &OnlineOptions,
    what: &str,
    f: impl FnOnce(&Connection) -> std::result::Result<T, E>,
) -> std::result::Result<(T, Duration), E> {
    let mut began = Instant::now();
    write(conn, opts, what, |conn| {
        began = Instant::now();
        f(conn)
    })
    .map(|v| (v, began.elapsed()))
}

/// Runs `f` in a read transaction, always rolled back.
fn read<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("BEGIN")
        .map_err(Error::sqlite("beginning a read transaction"))?;
    let result = f(conn);
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

fn retry_busy(conn: &Connection, opts: &OnlineOptions, what: &str, sql: &str) -> Result<()> {
    let started = Instant::now();
    // Short polls: the application's writers sleep in their busy handlers too, and a
    // rebuild polling as slowly as they do would rarely find the lock free between them.
    let mut wait = Duration::from_micros(100);
    loop {
        match conn.execute_batch(sql) {
            Ok(()) => return Ok(()),
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && started.elapsed() < opts.lock_wait =>
            {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(1));
            }
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                return Err(Error::Busy {
                    context: what.to_owned(),
                    source: e,
                })
            }
            Err(e) => return Err(Error::sqlite(what.to_owned())(e)),
        }
    }
}

//! The run up to the cut-over: the set-up (the copy, its indexes, the change log and its
//! triggers), the change log applied in chunks, and the quarantine passes.

use super::{lock::*, state::*};
use crate::builder::{OnlineOptions, TableRebuild};
use crate::db::catalog;
use crate::db::guards::QuotesAsStrings;
use crate::error::{sqlite_message, DependentKind, Error, Result};
use crate::execute::checks::count;
use crate::execute::runtime::Runtime;
use crate::execute::{is_violation, quarantine};
use crate::introspect::DependentFacts;
use crate::report::{MovedRows, Phase};
use crate::sql::{self, ident, qualified};
use crate::strategy::PlanContext;
use rusqlite::{Connection, OptionalExtension};

/// Catch-up rounds without a smaller backlog before the cut-over takes the rest.
pub(super) const STALLED_ROUNDS: u32 = 50;

/// The scratch table, the change log and its triggers, and the run's state row, in one
/// transaction. Returns the range of rowids to copy (rows above it are logged anyway) and
/// the schema's fingerprint, which the cut-over compares.
pub(super) fn set_up(
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
    let create = &ctx.facts.target.create_scratch;
    let create = match &run.autoincrement_later {
        Some(later) => sql::replace_span(create, later.span, ""),
        None => create.clone(),
    };
    batch(&create, "creating the scratch table")?;
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
    // What the rebuild depends on in the schema (the table, its family, every view and
    // trigger, but the run's own objects): the application must not change it meanwhile,
    // or the cut-over would swap in a table built for the schema as it was.
    Ok((
        low,
        high,
        catalog::fingerprint(conn, &source.schema, &source.name)?,
    ))
}

/// The old table's indexes that are built on the new table before the copy: all of them,
/// unless the caller wants them at the cut-over or the connection cannot write the schema
/// (their names are only free to move in at the cut-over).
pub(super) fn prebuilt<'p>(ctx: &'p PlanContext, opts: &OnlineOptions) -> Vec<&'p DependentFacts> {
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
pub(super) fn prebuilt_name(index: &str) -> String {
    format!("sqlite-rebuild index {index}")
}

/// Applies the change log in chunks until at most `leave` changes are left: each logged
/// row is copied again from the old table (or removed, when it is gone).
pub(super) fn catch_up(
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
pub(super) fn apply_log(
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

/// The copy's statement, for the chunks and the change log alike. Rows may be copied again
/// from the log: the rules' hits are counted on the old table as the cut-over left it,
/// during the purge.
pub(super) fn apply_sql(ctx: &PlanContext, run: &Run) -> String {
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
pub(super) struct Moved {
    pub(super) reports: Vec<crate::report::ValidationReport>,
    pub(super) rows: Vec<MovedRows>,
    pub(super) keys_nulled: Vec<MovedRows>,
}

/// Moves the rows that violate the target, and their children's rows, into quarantine as
/// the one-shot does between attempts, in one transaction: it reads the whole table, so
/// the writers wait for it (only when rows violate). The table's triggers, the change
/// log's among them, are suspended while rows move: the copies of the moved rows go here.
/// False when nothing could be moved.
#[allow(clippy::too_many_arguments)]
pub(super) fn quarantine_pass(
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
        if catalog::fingerprint(conn, &source.schema, &source.name)? != *expected_fingerprint {
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
            *expected_fingerprint = catalog::fingerprint(conn, &source.schema, &source.name)?;
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

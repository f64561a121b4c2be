//! Online rebuilds: the table changes while the application keeps writing through other
//! connections. Triggers on the old table log which rows the application changes; the rows
//! are copied in short chunks sized to a time budget; the log is applied until little is
//! left; one short cut-over transaction applies the rest, runs the one-shot's checks and
//! swaps the tables; the old table is then purged in chunks. The state table
//! `"sqlite-rebuild online"` records where a run is, so a later call cleans up what a
//! killed run set up (before its cut-over) or finishes its purge (after).

mod copy;
mod cut_over;
mod lock;
mod state;

use super::checks::count;
use super::runtime::Runtime;
use super::{explain, is_violation, report, Stop, Tally};
use crate::builder::quarantine::default_quarantine_name;
use crate::builder::{OnViolation, OnlineOptions, TableRebuild};
use crate::db::catalog;
use crate::db::guards::{ForeignKeysOff, ForeignKeysPragmaOff};
use crate::error::{Error, Result};
use crate::introspect::{introspect, preflight_online};
use crate::report::{Phase, RebuildReport};
use crate::sql::ident;
use crate::strategy::{self, Choice, PlanContext, Purpose, RebuildPlan};
use rusqlite::{Connection, OptionalExtension};
use {copy::*, cut_over::*, lock::*, state::*};

pub(crate) use state::finish_leftovers;

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
    supported(conn, &plan)?;
    let source = &ctx.facts.source;
    // SQLite creates sqlite_sequence with the first AUTOINCREMENT table and cannot drop it
    // again: a run refused after its set-up would leave it. The copy goes without the
    // keyword, and the cut-over gives it back by editing the stored statement.
    let autoincrement_later = match ctx.facts.target.autoincrement
        && !catalog::has_table(conn, &source.schema, "sqlite_sequence")?
    {
        false => None,
        true => match (
            ctx.facts.defensive,
            Autoincrement::of(&ctx.facts.target.create_scratch),
        ) {
            (false, Some(later)) => Some(later),
            _ => {
                return Err(Error::OnlineUnsupported {
                    table: source.name.clone(),
                    reason: "its target is the schema's first AUTOINCREMENT table, which creates \
                             sqlite_sequence for good, and this connection cannot write the \
                             schema to add the keyword at the cut-over (run it with execute)"
                        .into(),
                })
            }
        },
    };
    // What the cut-over would refuse in the schema (a dependent the target breaks), found
    // on a schema-only replica before anything is written: the set-up commits, and may
    // create what a refusal could not take back (sqlite_sequence, for AUTOINCREMENT).
    super::dry_run::rehearse_schema(conn, &rb, &plan)?;
    let mut rt = Runtime::new(conn, &rb, &plan)?;
    let run = Run {
        autoincrement_later,
        ..Run::new(
            &ctx.facts.source.schema,
            &ctx.facts.source.name,
            &ctx.facts.scratch,
        )
    };
    let result = online(&mut rt, &rb, &plan, &run, opts);
    drop(rt);
    let restored = foreign_keys.restore();
    let report = result?;
    restored?;
    Ok(report)
}

/// What the online mode refuses, before anything is written.
fn supported(conn: &Connection, plan: &RebuildPlan) -> Result<()> {
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
    if !source.schema.eq_ignore_ascii_case("temp")
        && catalog::has_table(conn, "temp", &source.name)?
    {
        return refuse(
            "a TEMP table of the same name shadows it on this connection, and SQLite \
                       cannot rename a shadowed table that has indexes (run it with execute)",
        );
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
    let copy = apply_sql(ctx, run);
    let apply = &copy;
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
        match catch_up(rt, ctx, run, apply, opts, leave) {
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

/// The violations, diagnosed over the whole table as the one-shot does (in a read
/// transaction: on a WAL database, writers go on).
fn refusal(conn: &Connection, ctx: &PlanContext, rb: &TableRebuild, e: rusqlite::Error) -> Error {
    read(conn, |conn| {
        Ok(explain(conn, ctx, rb.sample_size, Stop::Violations(e)))
    })
    .unwrap_or_else(|e| e)
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

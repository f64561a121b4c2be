//! Execution: SQLite's generalized ALTER TABLE procedure
//! (<https://www.sqlite.org/lang_altertable.html#otheralter>), run from a plan. The main
//! functions read as that procedure: foreign keys off, a transaction, the catalog, the
//! steps, the checks, commit, foreign keys back on. Any failure rolls back, so the
//! database is exactly as it was.

mod checks;
mod dry_run;
mod online;
mod quarantine;
mod runtime;
mod steps;

use crate::builder::quarantine::default_quarantine_name;
use crate::builder::{OnViolation, TableRebuild};
use crate::db::catalog;
use crate::db::guards::{ForeignKeysOff, ForeignKeysPragmaOff, Savepoint};
use crate::error::{Error, Result};
use crate::introspect::{introspect, preflight, Preflight, Verb};
use crate::mapping::Counted;
use crate::report::{MovedRows, Phase, RebuildReport, RuleReport};
use crate::sql::ident;
use crate::strategy::{self, Choice, PlanContext, Purpose, RebuildPlan};
use crate::validation::diagnose;
use checks::Baseline;
pub(crate) use dry_run::{rehearse_schema, validate};
pub(crate) use online::{execute_online, finish_leftovers as clean_up_online};
use runtime::{Counts, Runtime};
use rusqlite::{Connection, ErrorCode, Transaction};
use std::collections::BTreeMap;

/// `TableRebuild::execute`: the rebuild in a transaction of its own.
pub(crate) fn execute(conn: &mut Connection, rb: &TableRebuild) -> Result<RebuildReport> {
    let conn: &Connection = conn;
    let pre = preflight(conn, rb, Verb::Execute)?;
    // 1. Foreign key enforcement off, before the transaction (inside one the pragma does
    //    nothing); the guard switches it back on, on every path.
    let foreign_keys = ForeignKeysPragmaOff::engage(conn, &rb.table)?;
    let result = (|| {
        // 2. Start a transaction.
        let tx = Transaction::new_unchecked(conn, pre.behavior)
            .map_err(Error::sqlite("beginning the rebuild's transaction"))?;
        // 3 to 10: remember the dependents, create, copy, drop, rename, recreate, check.
        let report = rebuild(&tx, rb, &pre, Nesting::OwnTransaction)?;
        // 11. Commit (with nothing to do, nothing is committed: the file stays as it was).
        if report.strategy() == crate::report::Strategy::Unchanged {
            tx.rollback()
                .map_err(Error::sqlite("ending the transaction"))?;
        } else {
            tx.commit()
                .map_err(Error::sqlite("committing the rebuild"))?;
        }
        Ok(report)
    })();
    // 12. Foreign key enforcement back on.
    let restored = foreign_keys.restore();
    let report = result?;
    restored?;
    Ok(report)
}

/// `TableRebuild::execute_in`: the rebuild under a savepoint of the caller's transaction.
pub(crate) fn execute_in(tx: &Transaction<'_>, rb: &TableRebuild) -> Result<RebuildReport> {
    let pre = preflight(tx, rb, Verb::ExecuteIn)?;
    rebuild(tx, rb, &pre, Nesting::CallersTransaction)
}

/// Whose transaction the rebuild runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nesting {
    /// `execute`'s own: a refusal rolls the whole transaction back.
    OwnTransaction,
    /// The caller's: everything happens under a savepoint.
    CallersTransaction,
}

/// Steps 3 to 10 of the procedure, inside a transaction.
fn rebuild(
    conn: &Connection,
    rb: &TableRebuild,
    pre: &Preflight,
    nesting: Nesting,
) -> Result<RebuildReport> {
    let _foreign_keys = ForeignKeysOff::engage(conn, &rb.table)?;
    // 3. Remember the indexes, triggers and views: the catalog, read once.
    let facts = introspect(conn, rb, pre)?;
    let plan = strategy::plan(conn, rb, facts, Purpose::Execute)?;
    let mut rt = Runtime::new(conn, rb, &plan)?;
    log::info!(
        "rebuilding {} ({} {})",
        plan.context().facts.source.qualified(),
        plan.steps().len(),
        if plan.steps().len() == 1 {
            "step"
        } else {
            "steps"
        }
    );
    // 4 to 10: the plan's steps and the checks before commit.
    run(&mut rt, rb, &plan, nesting)
}

/// Why an attempt stopped: rows violate the target (diagnose them), or anything else.
pub(super) enum Stop {
    Violations(rusqlite::Error),
    Error(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Error(e)
    }
}

/// What the steps did, for the checks and the report.
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// Rows in the old table (and the quarantine table restored), for progress.
    pub old_rows: u64,
    pub rows_copied: u64,
    pub recreated: Vec<String>,
    pub restored: Vec<MovedRows>,
    /// Rows put back into each child (lower-case name).
    pub restored_into: BTreeMap<String, u64>,
    pub keys_followed: Vec<(String, u64)>,
    /// The counters as the copy left them (before children's rewrites call the same
    /// functions).
    pub copy_counts: Counts,
    /// Views and triggers that were broken before the rebuild, so not checked.
    pub already_broken: Vec<String>,
}

/// Attempts the rebuild; under the quarantine policy, moves the violating rows aside and
/// attempts again until the rows fit.
fn run(
    rt: &mut Runtime<'_>,
    rb: &TableRebuild,
    plan: &RebuildPlan,
    nesting: Nesting,
) -> Result<RebuildReport> {
    let conn = rt.conn;
    let ctx = plan.context();
    let source = &ctx.facts.source;
    if ctx.choice == Choice::Unchanged {
        log::info!(
            "nothing to do for {}: the target is its current definition",
            source.qualified()
        );
        return Ok(report(ctx, &[], Tally::default(), Vec::new()));
    }
    let quarantine = match &rb.on_violation {
        OnViolation::Abort => None,
        OnViolation::Quarantine => Some(default_quarantine_name(&source.name)),
        OnViolation::QuarantineInto(name) => Some(name.clone()),
    };
    // In a transaction of its own, a rebuild that stops rolls the whole transaction back.
    // Savepoints there would only cost: SQLite copies every page written under a savepoint
    // into a sub-journal as well (about 5% of a large rebuild). Quarantine retries need them.
    let nested = nesting == Nesting::CallersTransaction || quarantine.is_some();
    let savepoint = |name| nested.then(|| Savepoint::begin(conn, name)).transpose();
    let sp = savepoint("sqlite_rebuild")?;
    let mut quarantined = Vec::new();
    let mut keys_nulled = Vec::new();
    let mut quarantine_reports = Vec::new();
    let outcome = loop {
        let attempt_sp = savepoint("sqlite_rebuild_attempt")?;
        match (attempt(rt, plan), &quarantine) {
            (Ok(report), _) => {
                if let Some(attempt_sp) = attempt_sp {
                    attempt_sp.release()?;
                }
                break Ok(report);
            }
            (Err(Stop::Violations(e)), Some(into)) => {
                drop(attempt_sp);
                match quarantine::move_violations(
                    conn,
                    &ctx.facts,
                    &ctx.mapping,
                    into,
                    (rb.sample_size, rb.orphans),
                )? {
                    Some((report, moved, nulled)) => {
                        quarantine_reports.push(report);
                        for m in moved {
                            MovedRows::merge_into(&mut quarantined, m);
                        }
                        for m in nulled {
                            MovedRows::merge_into(&mut keys_nulled, m);
                        }
                    }
                    None => break Err(Stop::Violations(e)),
                }
            }
            (Err(stop), _) => break Err(stop),
        }
    };
    match outcome {
        Ok(mut report) => {
            let moved = quarantined.iter().map(|m| m.from_table());
            reindex_external_content(
                conn,
                &source.schema,
                moved.chain(report.restored.iter().map(|m| m.to_table())),
            )?;
            if let Some(sp) = sp {
                sp.release()?;
            }
            report.quarantined = quarantined;
            report.keys_nulled = keys_nulled;
            report.quarantine_reports = quarantine_reports;
            log_success(&source.qualified(), &report);
            Ok(report)
        }
        Err(stop) => {
            match sp {
                Some(sp) => drop(sp),
                None => {
                    // Undo everything, then explain in a fresh transaction that `execute`
                    // rolls back too. (SQLite may have rolled back already, e.g. disk full.)
                    if !conn.is_autocommit() {
                        conn.execute_batch("ROLLBACK")
                            .map_err(Error::sqlite("rolling the rebuild back"))?;
                    }
                    conn.execute_batch("BEGIN")
                        .map_err(Error::sqlite("beginning a transaction to explain"))?;
                }
            }
            let e = explain(conn, ctx, rb.sample_size, stop);
            match &e {
                Error::Violations(r) => log::info!(
                    "refused rebuilding {}: {} of {} rows violate the target; nothing changed",
                    source.qualified(),
                    r.violation_count(),
                    r.rows_checked()
                ),
                e => log::info!("rebuild of {} rolled back: {e}", source.qualified()),
            }
            Err(e)
        }
    }
}

fn log_success(table: &str, report: &RebuildReport) {
    if report.strategy == crate::report::Strategy::Alter {
        log::info!(
            "changed {table} with SQLite's own ALTER TABLE: no row copied, {} child tables checked",
            report.children_checked.len()
        );
    } else if report.in_place {
        log::info!(
            "rebuilt {table} in place (only constraints changed): {} rows checked, {} child tables checked",
            report.rows_copied,
            report.children_checked.len()
        );
    } else {
        log::info!(
            "rebuilt {table}: {} rows copied, {} indexes and triggers recreated, {} child tables checked",
            report.rows_copied,
            report.recreated.len(),
            report.children_checked.len()
        );
    }
    for m in &report.quarantined {
        log::info!("quarantined {m}");
    }
}

/// One attempt: a baseline, every step of the plan, the checks before commit, the report.
/// Runs inside the caller's savepoint or transaction, which undoes it when it stops.
fn attempt(rt: &mut Runtime<'_>, plan: &RebuildPlan) -> std::result::Result<RebuildReport, Stop> {
    let ctx = plan.context();
    let baseline = Baseline::take(rt, ctx)?;
    rt.progress(Phase::Validate, 0, baseline.old_rows);
    rt.reset_counts();
    let rule_counts = rule_counts_before(rt, ctx)?;
    rt.progress(Phase::Validate, baseline.old_rows, baseline.old_rows);
    let mut tally = Tally {
        old_rows: baseline.old_rows,
        ..Tally::default()
    };
    for step in plan.steps() {
        steps::run(rt, ctx, step, &mut tally)?;
    }
    checks::before_commit(rt, ctx, &baseline, &mut tally)?;
    let children: Vec<String> = baseline.children.iter().map(|c| c.name.clone()).collect();
    Ok(report(ctx, &children, tally, rule_counts))
}

/// Whether the copy counts the value rules' hits itself (`sqlite_rebuild_hit`).
fn counts_in_copy(ctx: &PlanContext) -> bool {
    ctx.purpose == Purpose::Execute && ctx.choice == Choice::Copy && ctx.mapping.counts_in_copy()
}

/// Rule counts that are not taken during the copy: known from the sample that chose the
/// in-place way, or one scan of the old table. A dry run reports violations, not counts.
fn rule_counts_before(rt: &mut Runtime<'_>, ctx: &PlanContext) -> Result<Vec<u64>> {
    if let Some(counts) = rt.known_counts.take() {
        return Ok(counts);
    }
    if ctx.purpose == Purpose::DryRun || counts_in_copy(ctx) {
        return Ok(vec![0; ctx.mapping.rules.len()]);
    }
    ctx.mapping
        .count_rule_hits(rt.conn, &ctx.facts.source, None)
}

fn report(
    ctx: &PlanContext,
    children_checked: &[String],
    tally: Tally,
    rule_counts: Vec<u64>,
) -> RebuildReport {
    let counted_in_copy = counts_in_copy(ctx);
    let copied = &tally.copy_counts;
    let mut rules: Vec<(usize, RuleReport)> = ctx
        .mapping
        .rules
        .iter()
        .zip(rule_counts)
        .enumerate()
        .map(|(i, (slot, n))| {
            let rows_changed = match slot.counted {
                Counted::Sql { .. } if counted_in_copy => copied.hits.get(i).copied().unwrap_or(0),
                Counted::Sql { .. } => n,
                Counted::Chain { chain, step } => copied
                    .chains
                    .get(chain)
                    .and_then(|c| c.get(step))
                    .copied()
                    .unwrap_or(0),
            };
            (
                slot.position,
                RuleReport::new(
                    slot.rule.column.clone(),
                    slot.rule.rule.values(),
                    rows_changed,
                ),
            )
        })
        .collect();
    rules.sort_by_key(|(position, _)| *position);
    RebuildReport {
        table: ctx.facts.source.name.clone(),
        rows_copied: tally.rows_copied,
        rules: rules.into_iter().map(|(_, r)| r).collect(),
        recreated: tally.recreated,
        dropped: ctx.facts.dropped.iter().map(|d| d.name.clone()).collect(),
        children_checked: children_checked.to_vec(),
        quarantined: Vec::new(),
        quarantine_reports: Vec::new(),
        restored: tally.restored,
        keys_followed: tally.keys_followed,
        keys_nulled: Vec::new(),
        already_broken: tally.already_broken,
        dropped_columns: ctx.mapping.dropped.clone(),
        defaulted_columns: ctx.mapping.defaulted.clone(),
        in_place: ctx.in_place() || ctx.alters(),
        strategy: ctx.strategy(),
    }
}

/// Rows moved to or from quarantine left or entered their tables without triggers, so
/// full-text indexes whose external content is one of those tables are rebuilt from it.
fn reindex_external_content<'t>(
    conn: &Connection,
    schema: &str,
    tables: impl Iterator<Item = &'t str>,
) -> Result<()> {
    let mut tables: Vec<&str> = tables.collect();
    tables.sort_by_key(|t| t.to_ascii_lowercase());
    tables.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    for table in tables {
        for fts in catalog::external_content_indexes(conn, schema, table)? {
            let fts_q = ident(&fts);
            log::debug!(
                "rebuilding full-text index {fts_q}: rows of {} moved",
                ident(table)
            );
            conn.execute_batch(&format!(
                "INSERT INTO {}.{fts_q} ({fts_q}) VALUES ('rebuild')",
                ident(schema)
            ))
            .map_err(Error::sqlite(format!(
                "rebuilding the full-text index \"{fts}\" of \"{table}\" after moving rows"
            )))?;
        }
    }
    Ok(())
}

const VIOLATION_CONTEXT: &str = "copying rows into the target table";

/// Turns a stop into the caller's error; violations get their full report.
fn explain(conn: &Connection, ctx: &PlanContext, sample_size: usize, stop: Stop) -> Error {
    match stop {
        Stop::Error(e) => e,
        Stop::Violations(engine_error) => {
            match diagnose(conn, &ctx.facts, &ctx.mapping, sample_size) {
                Ok(report) if !report.is_ok() => Error::Violations(
                    report.with_columns(&ctx.mapping.dropped, &ctx.mapping.defaulted),
                ),
                // A foreign key SQLite finds broken, which the report's comparison does not
                // model exactly: still a refusal naming the table.
                Ok(_) if matches!(&engine_error, rusqlite::Error::SqliteFailure(e, _) if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => {
                    Error::CheckFailed {
                        table: ctx.facts.source.name.clone(),
                        reason: "rows of the target would break one of its foreign keys (SQLite compares a key under its parent column's type and collation)".to_owned(),
                    }
                }
                // SQLite refused a row that the report cannot explain: say what SQLite said.
                Ok(_) => Error::Sqlite {
                    context: VIOLATION_CONTEXT.to_owned(),
                    source: engine_error,
                },
                Err(e) => e,
            }
        }
    }
}

pub(super) fn is_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::ConstraintViolation) | Some(ErrorCode::TypeMismatch)
    )
}

/// A check's finding, as the constraint error SQLite would raise: the caller diagnoses it.
pub(super) fn constraint_stop(code: std::ffi::c_int, message: String) -> Stop {
    Stop::Violations(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(code),
        Some(message),
    ))
}

/// Rows break a foreign key of the target: SQLite's own error for it, so the violations
/// are diagnosed like any other constraint's.
pub(super) fn foreign_key_violation() -> Stop {
    constraint_stop(
        rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY,
        "FOREIGN KEY constraint failed".into(),
    )
}

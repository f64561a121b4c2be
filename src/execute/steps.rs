//! One function per kind of step: each runs the plan's statement and does what its kind
//! needs around it (chunks and progress for the copy, suspended triggers for rewrites, a
//! pragma for the rename, the checks of the drop).

use super::runtime::Runtime;
use super::{foreign_key_violation, is_violation, Stop, Tally};
use crate::db::guards::{edit_schema, PragmaSet, QuotesAsStrings, TriggersSuspended};
use crate::error::{sqlite_message, Error};
use crate::report::{MovedRows, Phase};
use crate::sql::ident;
use crate::strategy::{Payload, PlanContext, PlanStep, StepKind};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OptionalExtension};

/// Rows copied between two progress reports during the copy.
pub(super) const CHUNK_ROWS: u64 = 100_000;

type StepResult = std::result::Result<(), Stop>;

/// Runs one step of the plan.
pub(super) fn run(
    rt: &Runtime<'_>,
    ctx: &PlanContext,
    step: &PlanStep,
    tally: &mut Tally,
) -> StepResult {
    match (step.kind(), step.payload()) {
        (StepKind::Copy, _) => copy(rt, ctx, step, tally),
        (StepKind::RestoreRows, Payload::RestoreRows { from }) => {
            restore_rows(rt, ctx, step, from, tally)
        }
        (StepKind::DropOld, _) => drop_old(rt, ctx, step, tally),
        (StepKind::RenameColumn | StepKind::AlterTable, _) => {
            // A rename rewrites what names the column only with legacy_alter_table off.
            let _legacy = PragmaSet::legacy_alter_table(rt.conn, false)?;
            exec(rt.conn, step).map(drop).map_err(|e| {
                // ADD CONSTRAINT checks the rows: a failure is theirs, diagnosed in full.
                if step.kind() == StepKind::AlterTable && is_violation(&e) {
                    return Stop::Violations(e);
                }
                Error::dependent_broken(&ctx.facts.source.name, sqlite_message(&e)).into()
            })
        }
        (StepKind::SwitchDefinition, _) => switch_definition(rt.conn, ctx, step),
        (StepKind::RemapInPlace, _) => remap_in_place(rt, ctx, step),
        (StepKind::FollowChildKeys, Payload::Follow { child }) => {
            follow(rt, ctx, step, child, tally)
        }
        (StepKind::RestoreChildKeys, Payload::RestoreChild { child, quarantine }) => {
            restore_keys(rt, ctx, step, child, quarantine, tally)
        }
        (StepKind::RestoreChildRows, Payload::RestoreChild { child, quarantine }) => {
            restore_child(rt, ctx, step, child, quarantine, tally)
        }
        (StepKind::Rename, _) => rename(rt.conn, ctx, step),
        (
            StepKind::CreateIndex | StepKind::CreateTrigger,
            Payload::Recreate {
                name,
                kind,
                build,
                quotes_are_names,
            },
        ) => recreate(
            rt,
            ctx,
            step,
            name,
            *kind,
            (*build, *quotes_are_names),
            tally,
        ),
        (StepKind::CreateTarget, _) => exec(rt.conn, step)
            .map(drop)
            .map_err(|e| fail(ctx, "creating the target table", e)),
        (kind, _) => exec(rt.conn, step)
            .map(drop)
            .map_err(|e| fail(ctx, &format!("step {kind:?}"), e)),
    }
}

fn fail(ctx: &PlanContext, context: &str, e: rusqlite::Error) -> Stop {
    Error::sqlite(format!(
        "{context} (rebuilding \"{}\")",
        ctx.facts.source.name
    ))(e)
    .into()
}

/// Runs the step's statement with its parameters (as many as it holds).
fn exec(conn: &Connection, step: &PlanStep) -> rusqlite::Result<usize> {
    log::debug!("{}", step.sql_with_literals().trim_end());
    let mut stmt = conn.prepare(step.sql())?;
    let used = stmt.parameter_count();
    stmt.execute(params_from_iter(step.params().iter().take(used)))
}

/// A violation is diagnosed; anything else is the step's failure.
pub(super) fn violation_or(ctx: &PlanContext, context: &str, e: rusqlite::Error) -> Stop {
    if is_violation(&e) {
        Stop::Violations(e)
    } else {
        fail(ctx, context, e)
    }
}

fn copy(rt: &Runtime<'_>, ctx: &PlanContext, step: &PlanStep, tally: &mut Tally) -> StepResult {
    let copied = if rt.reports_progress() {
        copy_in_chunks(rt, ctx, step, tally.old_rows)
    } else {
        exec(rt.conn, step)
    };
    tally.rows_copied += copied.map_err(|e| violation_or(ctx, "copying rows", e))? as u64;
    Ok(())
}

/// The copy, in chunks of [`CHUNK_ROWS`] rows in rowid order, reporting progress after
/// each. Tables without rowid are copied in one statement.
fn copy_in_chunks(
    rt: &Runtime<'_>,
    ctx: &PlanContext,
    step: &PlanStep,
    total: u64,
) -> rusqlite::Result<usize> {
    let source = &ctx.facts.source;
    rt.progress(Phase::Copy, 0, total);
    let Some(rowid) = source.rowid_name() else {
        let n = exec(rt.conn, step)?;
        rt.progress(Phase::Copy, n as u64, total);
        return Ok(n);
    };
    let r = format!("{}.{}", ident(&source.name), ident(rowid));
    let boundary = format!(
        "SELECT {r} FROM {} WHERE ?1 IS NULL OR {r} > ?1 ORDER BY {r} LIMIT 1 OFFSET {}",
        source.qualified(),
        CHUNK_ROWS - 1
    );
    let (lo, hi) = (step.params().len() + 1, step.params().len() + 2);
    let chunk_sql = format!(
        "{} WHERE (?{lo} IS NULL OR {r} > ?{lo}) AND (?{hi} IS NULL OR {r} <= ?{hi})",
        step.sql()
    );
    let mut chunk = rt.conn.prepare(&chunk_sql)?;
    let mut next = rt.conn.prepare(&boundary)?;
    let mut from: Option<i64> = None;
    let mut done = 0usize;
    loop {
        let to: Option<i64> = next.query_row([from], |row| row.get(0)).optional()?;
        let params = step
            .params()
            .iter()
            .cloned()
            .chain([Value::from(from), Value::from(to)]);
        log::debug!(
            "{} (rows after {from:?} up to {to:?})",
            step.sql_with_literals()
        );
        done += chunk.execute(params_from_iter(params))?;
        rt.progress(Phase::Copy, done as u64, total);
        match to {
            Some(t) => from = Some(t),
            None => return Ok(done),
        }
    }
}

fn restore_rows(
    rt: &Runtime<'_>,
    ctx: &PlanContext,
    step: &PlanStep,
    from: &str,
    tally: &mut Tally,
) -> StepResult {
    let n = exec(rt.conn, step).map_err(|e| violation_or(ctx, "copying rows", e))? as u64;
    tally.rows_copied += n;
    tally
        .restored
        .push(MovedRows::new(from, &ctx.facts.source.name, n));
    rt.progress(Phase::Copy, tally.rows_copied, tally.old_rows);
    Ok(())
}

/// Drops the old table once the target's own foreign keys to other tables hold (self
/// references are checked after the rename, when they point at the new rows).
fn drop_old(rt: &Runtime<'_>, ctx: &PlanContext, step: &PlanStep, tally: &mut Tally) -> StepResult {
    let (conn, facts) = (rt.conn, &ctx.facts);
    let scratch_violations: i64 = conn
        .query_row(
            "SELECT count(*) FROM pragma_foreign_key_check(?1, ?2) WHERE parent <> ?3 COLLATE NOCASE",
            [&facts.scratch, &facts.source.schema, &facts.source.name],
            |r| r.get(0),
        )
        .map_err(|e| fail(ctx, "checking the target's foreign keys", e))?;
    if scratch_violations > 0 {
        return Err(foreign_key_violation());
    }
    // Rule counts are the copy's: a child's rewrite may call the same functions.
    tally.copy_counts = rt.counts();
    let changes = conn.total_changes();
    exec(conn, step).map_err(|e| fail(ctx, "dropping the old table", e))?;
    // With foreign key enforcement off, DROP TABLE deletes no row of any table; a cascade
    // (or an implicit DELETE) would show here.
    let deleted = conn.total_changes() - changes;
    if deleted != 0 {
        return Err(Error::CheckFailed {
            table: facts.source.name.clone(),
            reason: format!(
                "dropping the old table changed {deleted} rows: foreign key enforcement was not off"
            ),
        }
        .into());
    }
    Ok(())
}

/// Replaces the table's stored `CREATE TABLE` statement and bumps `schema_version`, so
/// SQLite reloads the schema (SQLite's documented procedure for changes that keep the
/// stored format). `writable_schema` is as it was again on every path.
fn switch_definition(conn: &Connection, ctx: &PlanContext, step: &PlanStep) -> StepResult {
    let failed = |e| fail(ctx, "switching the stored definition", e);
    let switched = edit_schema(conn, &ctx.facts.source.schema, |conn| {
        exec(conn, step).map(|n| n == 1)
    })?;
    if !switched.map_err(failed)? {
        return Err(failed(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            Some(format!(
                "the definition of \"{}\" was not found in sqlite_schema",
                ctx.facts.source.name
            )),
        )));
    }
    Ok(())
}

/// The rules applied to the rows where they are: not an event of the application's, so
/// the table's triggers are suspended.
fn remap_in_place(rt: &Runtime<'_>, ctx: &PlanContext, step: &PlanStep) -> StepResult {
    let source = &ctx.facts.source;
    let triggers = TriggersSuspended::engage(rt.conn, &source.schema, &source.name)?;
    exec(rt.conn, step).map_err(|e| violation_or(ctx, "remapping rows in place", e))?;
    triggers.restore()?;
    Ok(())
}

fn follow(
    rt: &Runtime<'_>,
    ctx: &PlanContext,
    step: &PlanStep,
    child: &str,
    tally: &mut Tally,
) -> StepResult {
    let table = &ctx.facts.source.name;
    let triggers = TriggersSuspended::engage(rt.conn, &ctx.facts.source.schema, child)?;
    let n = match exec(rt.conn, step) {
        Ok(n) => n as u64,
        Err(e) if is_violation(&e) => {
            return Err(Error::CheckFailed {
                table: table.clone(),
                reason: format!(
                    "rewriting the foreign keys of child \"{child}\" to follow the remapped keys breaks one of its constraints: {}",
                    sqlite_message(&e)
                ),
            }
            .into())
        }
        Err(e) => return Err(fail(ctx, &format!("rewriting the keys of \"{child}\""), e)),
    };
    triggers.restore()?;
    // A table followed through several of its keys is one entry.
    match tally
        .keys_followed
        .iter_mut()
        .find(|(t, _)| t.eq_ignore_ascii_case(child))
    {
        Some((_, total)) => *total += n,
        None => tally.keys_followed.push((child.to_owned(), n)),
    }
    Ok(())
}

fn restore_child(
    rt: &Runtime<'_>,
    ctx: &PlanContext,
    step: &PlanStep,
    child: &str,
    quarantine: &str,
    tally: &mut Tally,
) -> StepResult {
    let triggers = TriggersSuspended::engage(rt.conn, &ctx.facts.source.schema, child)?;
    let n = exec(rt.conn, step)
        .map_err(|e| fail(ctx, &format!("restoring the rows of \"{child}\""), e))?
        as u64;
    triggers.restore()?;
    *tally
        .restored_into
        .entry(child.to_ascii_lowercase())
        .or_insert(0) += n;
    tally.restored.push(MovedRows::new(quarantine, child, n));
    Ok(())
}

/// Child rows get back the keys quarantine set to NULL; their triggers do not fire, and
/// their number does not change.
fn restore_keys(
    rt: &Runtime<'_>,
    ctx: &PlanContext,
    step: &PlanStep,
    child: &str,
    kept: &str,
    tally: &mut Tally,
) -> StepResult {
    let triggers = TriggersSuspended::engage(rt.conn, &ctx.facts.source.schema, child)?;
    let n = exec(rt.conn, step)
        .map_err(|e| fail(ctx, &format!("restoring the keys of \"{child}\""), e))?
        as u64;
    triggers.restore()?;
    tally.restored.push(MovedRows::new(kept, child, n));
    Ok(())
}

/// The rename into place, with `legacy_alter_table` on: views and triggers that name the
/// table are left as they are (the checks before commit compile them).
fn rename(conn: &Connection, ctx: &PlanContext, step: &PlanStep) -> StepResult {
    let legacy = PragmaSet::legacy_alter_table(conn, true)?;
    let renamed = exec(conn, step);
    legacy.restore()?;
    renamed
        .map(drop)
        .map_err(|e| fail(ctx, "renaming the new table into place", e))
}

fn recreate(
    rt: &Runtime<'_>,
    ctx: &PlanContext,
    step: &PlanStep,
    name: &str,
    kind: crate::error::DependentKind,
    (build, quotes_are_names): (bool, bool),
    tally: &mut Tally,
) -> StepResult {
    let total = ctx.facts.dependents.len() as u64;
    if tally.recreated.is_empty() {
        rt.progress(Phase::Indexes, 0, total);
    }
    let quotes = quotes_are_names
        .then(|| QuotesAsStrings::in_ddl(rt.conn, false))
        .transpose()?;
    let done = if build {
        exec(rt.conn, step).map(drop)
    } else {
        rt.conn.prepare(step.sql()).map(drop)
    };
    drop(quotes);
    match done {
        Ok(()) => {
            tally.recreated.push(name.to_owned());
            rt.progress(Phase::Indexes, tally.recreated.len() as u64, total);
            Ok(())
        }
        Err(e) if is_violation(&e) => Err(Stop::Violations(e)),
        Err(e) => Err(Error::DependentBroken {
            table: ctx.facts.source.name.clone(),
            kind,
            name: name.to_owned(),
            reason: sqlite_message(&e),
        }
        .into()),
    }
}

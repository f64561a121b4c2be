//! The dry runs, which write nothing but `temp` and take no lock a reader would not:
//! `validate` copies every row into a TEMP table of the target's (SQLite judges each row as
//! the copy would), checks the target's foreign keys and, when parent keys change, the
//! children against it (mirrored into `temp`); `validate` and `plan` rehearse the schema
//! steps on a schema-only replica, where what uses each view and trigger is compiled before
//! and after. A read-only connection (`SQLITE_OPEN_READ_ONLY`) can run both.

use super::checks::{self, count, fk_violations};
use super::runtime::Runtime;
use super::{explain, foreign_key_violation, steps, Stop, Tally};
use crate::builder::TableRebuild;
use crate::db::guards::{ForeignKeysOff, PragmaSet, Savepoint};
use crate::db::replica::Replica;
use crate::db::{catalog, usage};
use crate::error::{Error, Result};
use crate::introspect::{introspect, preflight, Facts, Verb};
use crate::report::{ConstraintKind, ValidationReport};
use crate::sql::{self, ident, qualified};
use crate::strategy::{self, Choice, PlanContext, Purpose, RebuildPlan, StepKind};
use crate::validation::probes;
use rusqlite::{params_from_iter, Connection};

/// `TableRebuild::validate`.
pub(crate) fn validate(conn: &Connection, rb: &TableRebuild) -> Result<ValidationReport> {
    let pre = preflight(conn, rb, Verb::Validate)?;
    let _foreign_keys = ForeignKeysOff::engage(conn, &rb.table)?;
    let facts = introspect(conn, rb, &pre)?;
    let plan = strategy::plan(conn, rb, facts, Purpose::DryRun)?;
    let ctx = plan.context();
    let source = &ctx.facts.source;
    log::info!(
        "validating {} (dry run: rows into a TEMP copy of the target, the schema on a replica)",
        source.qualified()
    );
    let rt = Runtime::new(conn, rb, &plan)?;
    let report = match rehearse_rows(&rt, &plan) {
        Ok(rows) => ValidationReport::clean(&source.name, rows),
        Err(stop) => match explain(conn, ctx, rb.sample_size, stop) {
            Error::Violations(report) => report,
            e => return Err(e),
        },
    };
    drop(rt);
    // A refused row comes first; then what a rebuild of fitting rows would break.
    if report.is_ok() {
        rehearse_schema(conn, rb, &plan)?;
    }
    let report = report.with_columns(&ctx.mapping.dropped, &ctx.mapping.defaulted);
    log::info!(
        "validated {}: {} of {} rows violate the target",
        source.qualified(),
        report.violation_count(),
        report.rows_checked()
    );
    Ok(report)
}

/// The rows: into the TEMP target, through the same expressions and rules, with the
/// unique indexes on it; then the target's foreign keys and the children. Rolled back.
fn rehearse_rows(rt: &Runtime<'_>, plan: &RebuildPlan) -> std::result::Result<u64, Stop> {
    let ctx = plan.context();
    let (conn, facts) = (rt.conn, &ctx.facts);
    let mut old_rows = count(conn, &facts.source.qualified())?;
    if let Some(r) = &facts.restore {
        old_rows += count(conn, &r.table.qualified())?;
    }
    if ctx.choice == Choice::Unchanged {
        return Ok(old_rows);
    }
    let steps = strategy::rehearsal_steps(conn, facts, &ctx.mapping)?;
    let sp = Savepoint::begin(conn, "sqlite_rebuild_dry_run")?;
    let mut tally = Tally {
        old_rows,
        ..Tally::default()
    };
    for step in &steps {
        steps::run(rt, ctx, step, &mut tally)?;
    }
    let probe = qualified("temp", &facts.probe_target);
    checks::check_strict_generated(conn, facts, &probe)?;
    if foreign_key_orphans(conn, facts, &probe)? > 0 {
        return Err(foreign_key_violation());
    }
    if ctx.mapping.parent_keys_change(facts) || facts.restore.is_some() {
        rehearse_children(rt, ctx)?;
    }
    drop(sp);
    Ok(tally.rows_copied)
}

/// Rows of `table` (the target's rows) that break one of the target's foreign keys: the
/// report's predicates (a TEMP table's keys cannot reach parents in another schema).
fn foreign_key_orphans(conn: &Connection, facts: &Facts, table: &str) -> Result<u64> {
    let alias = ident(&facts.target.def.name);
    let mut orphans = 0;
    for probe in probes(facts, table, "rowid", &alias)
        .into_iter()
        .filter(|p| p.kind == ConstraintKind::ForeignKey)
    {
        orphans += conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM {table} AS {alias} WHERE {}",
                    probe.predicate
                ),
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(Error::sqlite(format!(
                "checking {} (validating \"{}\")",
                probe.label(),
                facts.source.name
            )))? as u64;
    }
    Ok(orphans)
}

/// The children, against the rows the table would hold: the TEMP target takes the table's
/// name in `temp`, each child (and each table whose keys follow) is mirrored beside it
/// with its rows, keys follow and quarantined child rows come back as they would, and
/// SQLite's `foreign_key_check` compares each child with how it is now.
fn rehearse_children(rt: &Runtime<'_>, ctx: &PlanContext) -> std::result::Result<(), Stop> {
    let (conn, facts) = (rt.conn, &ctx.facts);
    let source = &facts.source;
    let mut mirrored: Vec<&str> = facts.child_tables();
    for u in &ctx.mapping.follow {
        if !mirrored.iter().any(|m| m.eq_ignore_ascii_case(&u.child)) {
            mirrored.push(&u.child);
        }
    }
    if mirrored.is_empty() {
        return Ok(());
    }
    for name in std::iter::once(source.name.as_str()).chain(mirrored.iter().copied()) {
        if catalog::free_name(conn, "temp", name)? != name {
            log::warn!(
                "a dry run cannot check the children of {}: temp already holds a table \"{name}\" (execute checks them)",
                source.qualified()
            );
            return Ok(());
        }
    }
    let fail = |what: String| Error::sqlite(format!("{what} (validating \"{}\")", source.name));
    let legacy = PragmaSet::legacy_alter_table(conn, true)?;
    conn.execute_batch(&format!(
        "ALTER TABLE {} RENAME TO {}",
        qualified("temp", &facts.probe_target),
        ident(&source.name)
    ))
    .map_err(fail("naming the TEMP target".into()))?;
    legacy.restore()?;
    for name in &mirrored {
        mirror(conn, &source.schema, name)?;
    }
    for u in &ctx.mapping.follow {
        let sql = u.sql_in("temp");
        conn.prepare(&sql)
            .and_then(|mut s| {
                let used = s.parameter_count();
                s.execute(params_from_iter(u.params.iter().take(used)))
            })
            .map_err(|e| super::steps::violation_or(ctx, "rewriting a child's keys", e))?;
    }
    if let Some(r) = &facts.restore {
        for c in &r.children {
            conn.execute_batch(&strategy::restore_child_sql(
                &qualified("temp", &c.child),
                &qualified(&source.schema, &c.quarantine),
                &c.columns,
                c.rowid,
            ))
            .map_err(|e| super::steps::violation_or(ctx, "restoring a child's rows", e))?;
        }
    }
    for child in facts.child_tables() {
        let before = fk_violations(conn, &source.schema, child, &source.name)
            .map_err(fail("checking child foreign keys".into()))?;
        let after = fk_violations(conn, "temp", child, &source.name)
            .map_err(fail("checking child foreign keys".into()))?;
        let new: u64 = after
            .iter()
            .map(|(id, n)| n.saturating_sub(*before.get(id).unwrap_or(&0)))
            .sum();
        if new > 0 {
            return Err(Error::CheckFailed {
                table: source.name.clone(),
                reason: format!(
                    "{new} rows of child \"{child}\" would no longer find their parent row"
                ),
            }
            .into());
        }
    }
    Ok(())
}

/// `schema.name` as a TEMP table of the same definition and rows (rowids included).
fn mirror(conn: &Connection, schema: &str, name: &str) -> Result<()> {
    let fail = |e| Error::sqlite(format!("mirroring \"{name}\" into temp for a dry run"))(e);
    let table = catalog::resolve_table(conn, schema, name)?;
    let Some(body) = sql::parse_create_table(&table.sql)
        .ok()
        .and_then(|def| table.sql.get(def.name_span.1..def.end).map(str::to_owned))
    else {
        log::warn!("a dry run cannot mirror \"{name}\": its definition does not parse");
        return Ok(());
    };
    conn.execute_batch(&format!("CREATE TABLE {}{body}", qualified("temp", name)))
        .map_err(fail)?;
    let mut columns: Vec<String> = table
        .columns
        .iter()
        .filter(|c| c.hidden == 0)
        .map(|c| ident(&c.name))
        .collect();
    if table.rowid_name().is_some() {
        columns.insert(0, "rowid".to_owned());
    }
    conn.execute_batch(&format!(
        "INSERT INTO {} ({1}) SELECT {1} FROM {2}",
        qualified("temp", name),
        columns.join(", "),
        qualified(schema, name)
    ))
    .map_err(fail)
}

/// The plan's schema steps, rehearsed on a schema-only replica (no row is read or written
/// there): the target created, columns renamed, the old table dropped, the new one
/// renamed into place, indexes and triggers recreated; then what uses each view and
/// trigger must compile as it did, and the schema re-parse. A dependent the rebuild breaks
/// is refused here by its name, as `execute` refuses it. What the replica cannot compile
/// before the rehearsal (a stand-in cannot do all a function can) is not judged.
pub(crate) fn rehearse_schema(
    conn: &Connection,
    rb: &TableRebuild,
    plan: &RebuildPlan,
) -> Result<()> {
    let ctx = plan.context();
    let facts = &ctx.facts;
    if ctx.choice == Choice::Unchanged {
        return Ok(());
    }
    let replica = match Replica::of(conn) {
        Ok(r) => r,
        Err(e) => {
            log::warn!(
                "the dry run cannot rehearse the schema of {} ({e}); execute checks its dependents",
                facts.source.qualified()
            );
            return Ok(());
        }
    };
    let rep = &replica.conn;
    let before = usage::compile(rep, &usage::usages(rep, &facts.source.schema)?)?;
    let schema_ok = checks::schema_probe(rep, facts)?.is_ok();
    let rt = Runtime::new(rep, rb, plan)?;
    let mut tally = Tally::default();
    for step in plan.steps().iter().filter(|s| is_schema_step(s.kind())) {
        match steps::run(&rt, ctx, step, &mut tally) {
            Ok(()) => {}
            Err(Stop::Error(e @ Error::DependentBroken { .. })) => return Err(e),
            Err(Stop::Error(e)) => {
                log::warn!(
                    "the dry run's rehearsal of the schema of {} stopped ({e}); execute checks its dependents",
                    facts.source.qualified()
                );
                return Ok(());
            }
            Err(Stop::Violations(e)) => {
                log::warn!(
                    "the dry run's rehearsal of the schema of {} stopped ({e})",
                    facts.source.qualified()
                );
                return Ok(());
            }
        }
    }
    match checks::still_working(rep, facts, &before) {
        Ok(not_checked) => {
            for (name, why) in not_checked {
                log::debug!("{name} does not compile in the dry run's replica ({why}); not judged");
            }
        }
        Err(Stop::Error(e)) => return Err(e),
        Err(Stop::Violations(_)) => {}
    }
    if schema_ok {
        if let Err(msg) = checks::schema_probe(rep, facts)? {
            return Err(Error::dependent_broken(&facts.source.name, msg));
        }
    }
    Ok(())
}

/// The steps that change the schema, not rows.
fn is_schema_step(kind: StepKind) -> bool {
    matches!(
        kind,
        StepKind::DropDependent
            | StepKind::CreateTarget
            | StepKind::RenameColumn
            | StepKind::DropOld
            | StepKind::Rename
            | StepKind::SwitchDefinition
            | StepKind::CreateIndex
            | StepKind::CreateTrigger
    )
}

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
use crate::db::guards::{AttachedMemory, ForeignKeysOff, Savepoint};
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
    // The children are mirrored into a database of the dry run's own, attached (which is
    // possible only outside a transaction, and writable only on a writable connection),
    // else into temp.
    let mirror = match checks_children(ctx) && conn.is_autocommit() {
        true => Some(AttachedMemory::attach(conn, "rebuild_dry_run")?)
            .filter(|m| !conn.is_readonly(m.name()).unwrap_or(true)),
        false => None,
    };
    let into = mirror.as_ref().map_or("temp", |m| m.name());
    // In execute's order: the rows, the indexes and triggers recreated, the children, the
    // views and triggers compiled.
    let sp = Savepoint::begin(conn, "sqlite_rebuild_dry_run")?;
    let outcome = (|| {
        let rows = rows_into_temp(&rt, &plan)?;
        let rehearsal = SchemaRehearsal::steps(conn, rb, &plan)?;
        if checks_children(ctx) && ctx.choice != Choice::Unchanged {
            rehearse_children(&rt, ctx, into)?;
        }
        Ok::<_, Stop>((rows, rehearsal))
    })();
    drop(sp);
    drop(mirror);
    let report = match outcome {
        Ok((rows, rehearsal)) => {
            rehearsal.checks()?;
            ValidationReport::clean(&source.name, rows)
        }
        Err(stop) => match explain(conn, ctx, rb.sample_size, stop) {
            Error::Violations(report) => report,
            e => return Err(e),
        },
    };
    drop(rt);
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
/// unique indexes on it; then the target's foreign keys. Inside the dry run's savepoint.
fn rows_into_temp(rt: &Runtime<'_>, plan: &RebuildPlan) -> std::result::Result<u64, Stop> {
    let ctx = plan.context();
    let (conn, facts) = (rt.conn, &ctx.facts);
    let mut old_rows = count(conn, &facts.source.qualified())?;
    if let Some(r) = &facts.restore {
        old_rows += count(conn, &r.table.qualified())?;
    }
    // ALTER TABLE statements that check no row (ADD, RENAME, DROP COLUMN) leave none to judge.
    let rows_judged = match &ctx.choice {
        Choice::Unchanged => false,
        Choice::Alter { statements, .. } => statements.iter().any(|s| s.row_check.is_some()),
        _ => true,
    };
    if !rows_judged {
        return Ok(old_rows);
    }
    let steps = strategy::rehearsal_steps(conn, facts, &ctx.mapping)?;
    let mut tally = Tally {
        old_rows,
        ..Tally::default()
    };
    for step in &steps {
        match steps::run(rt, ctx, step, &mut tally) {
            // An index the target breaks is named by the schema's rehearsal, once the rows
            // fit (execute finds a row that does not fit first, too).
            Err(Stop::Error(Error::DependentBroken { .. }))
                if step.kind() == StepKind::CreateIndex => {}
            outcome => outcome?,
        }
    }
    let probe = qualified("temp", &facts.probe_target);
    checks::check_strict_generated(conn, facts, &probe)?;
    if foreign_key_orphans(conn, facts, &probe)? > 0 {
        return Err(foreign_key_violation());
    }
    Ok(tally.rows_copied)
}

/// Whether children's keys are checked against the new rows (as execute checks them; after
/// ALTER TABLE, which rewrites them itself, it does not).
fn checks_children(ctx: &PlanContext) -> bool {
    !ctx.alters() && (ctx.mapping.parent_keys_change(&ctx.facts) || ctx.facts.restore.is_some())
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

/// The children, against the rows the table would hold: the target's rows are copied
/// under the table's name into `into` (an attached in-memory database of the dry run's own,
/// or `temp` inside the caller's transaction, where no database can be attached), each child
/// (and each table whose keys follow) is mirrored beside them with its rows, keys follow and
/// quarantined child rows come back as they would, and SQLite's `foreign_key_check`
/// compares each child with how it is now.
fn rehearse_children(
    rt: &Runtime<'_>,
    ctx: &PlanContext,
    into: &str,
) -> std::result::Result<(), Stop> {
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
        if catalog::free_name(conn, into, name)? != name {
            log::warn!(
                "a dry run inside a transaction cannot check the children of {}: temp already holds a table \"{name}\" (execute checks them)",
                source.qualified()
            );
            return Ok(());
        }
    }
    let fail = |what: String| Error::sqlite(format!("{what} (validating \"{}\")", source.name));
    let rows = qualified(into, &source.name);
    let columns: Vec<String> = facts
        .target
        .table
        .columns
        .iter()
        .filter(|c| c.hidden == 0)
        .map(|c| ident(&c.name))
        .collect();
    conn.execute_batch(&format!(
        "CREATE TABLE {rows}{body}; INSERT INTO {rows} ({columns}) SELECT {columns} FROM {probe};",
        body = facts.target.body,
        columns = columns.join(", "),
        probe = qualified("temp", &facts.probe_target),
    ))
    .map_err(fail("copying the target's rows beside its children".into()))?;
    // The unique indexes recreated after the swap may be the children's parent keys.
    for d in facts.dependents.iter().filter(|d| d.is_unique_index()) {
        let name = catalog::free_name(conn, into, &format!("{}__{}", source.name, d.def.name))?;
        let Some(sql) = d.index_as(&qualified(into, &name), &source.name) else {
            continue;
        };
        match conn.execute_batch(&sql) {
            Err(e) if super::is_violation(&e) => return Err(Stop::Violations(e)),
            // One the target breaks is the schema rehearsal's to name.
            _ => {}
        }
    }
    for name in &mirrored {
        mirror(conn, facts, name, into)?;
    }
    for u in &ctx.mapping.follow {
        let sql = u.sql_in(into);
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
                &qualified(into, &c.child),
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
        let after = fk_violations(conn, into, child, &source.name)
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

/// A table below the rebuilt one as a TEMP table of the same definition (as it reads after
/// the renames: its foreign keys name the target's columns) and rows, rowids included.
fn mirror(conn: &Connection, facts: &Facts, name: &str, into: &str) -> Result<()> {
    let fail = |e| Error::sqlite(format!("mirroring \"{name}\" into temp for a dry run"))(e);
    let schema = &facts.source.schema;
    let table = match facts.descendant(name) {
        Some(d) => d.table.clone(),
        None => catalog::resolve_table(conn, schema, name)?,
    };
    let Some(body) = sql::parse_create_table(&table.sql)
        .ok()
        .and_then(|def| table.sql.get(def.name_span.1..def.end).map(str::to_owned))
    else {
        log::warn!("a dry run cannot mirror \"{name}\": its definition does not parse");
        return Ok(());
    };
    conn.execute_batch(&format!("CREATE TABLE {}{body}", qualified(into, name)))
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
        qualified(into, name),
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
    SchemaRehearsal::steps(conn, rb, plan)
        .map_err(|stop| match stop {
            Stop::Error(e) => e,
            Stop::Violations(e) => Error::sqlite("rehearsing the schema")(e),
        })?
        .checks()
}

/// The schema's rehearsal, in execute's two halves: the steps, then the checks before
/// commit. `None` when the replica could not be made or the rehearsal could not go on
/// (logged): execute then judges alone.
pub(crate) struct SchemaRehearsal<'p> {
    state: Option<(Replica, Vec<usage::Compiled>, bool)>,
    plan: &'p RebuildPlan,
}

impl<'p> SchemaRehearsal<'p> {
    fn steps(
        conn: &Connection,
        rb: &TableRebuild,
        plan: &'p RebuildPlan,
    ) -> std::result::Result<Self, Stop> {
        let ctx = plan.context();
        let facts = &ctx.facts;
        let nothing = SchemaRehearsal { state: None, plan };
        if ctx.choice == Choice::Unchanged {
            return Ok(nothing);
        }
        let replica = match Replica::of(conn) {
            Ok(r) => r,
            Err(e) => {
                log::warn!(
                    "the dry run cannot rehearse the schema of {} ({e}); execute checks its dependents",
                    facts.source.qualified()
                );
                return Ok(nothing);
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
                Err(Stop::Error(e @ Error::DependentBroken { .. })) => return Err(e.into()),
                Err(Stop::Error(e)) => {
                    log::warn!(
                        "the dry run's rehearsal of the schema of {} stopped ({e}); execute checks its dependents",
                        facts.source.qualified()
                    );
                    return Ok(nothing);
                }
                Err(Stop::Violations(e)) => {
                    log::warn!(
                        "the dry run's rehearsal of the schema of {} stopped ({e})",
                        facts.source.qualified()
                    );
                    return Ok(nothing);
                }
            }
        }
        drop(rt);
        Ok(SchemaRehearsal {
            state: Some((replica, before, schema_ok)),
            plan,
        })
    }

    fn checks(self) -> Result<()> {
        let Some((replica, before, schema_ok)) = self.state else {
            return Ok(());
        };
        let (rep, facts) = (&replica.conn, &self.plan.context().facts);
        match checks::still_working(rep, facts, &before) {
            Ok(not_checked) => {
                for (name, why) in not_checked {
                    log::debug!(
                        "{name} does not compile in the dry run's replica ({why}); not judged"
                    );
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

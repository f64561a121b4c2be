//! Strategy: decide first whether the rebuild is done in place or by copy (`choice`), then
//! build that strategy's steps (`steps`), each carrying what it acts on, into the public
//! [`RebuildPlan`] (`plan`), which keeps what it was worked out from (`context`).

mod choice;
mod context;
mod plan;
mod steps;

pub(crate) use context::{AlterStatement, Choice, PlanContext, Purpose};
pub(crate) use plan::Payload;
pub use plan::{PlanStep, RebuildPlan, StepKind};
pub(crate) use steps::copy as copy_steps;
pub(crate) use steps::{rehearsal as rehearsal_steps, restore_child_sql};

use crate::builder::{OnViolation, TableRebuild};
use crate::db::catalog;
use crate::db::guards::{ForeignKeysOff, Savepoint};
use crate::error::{sqlite_message, Error, Result};
use crate::introspect::{self, Facts};
use crate::mapping::{self, Mapping};
use rusqlite::Connection;

/// Maps the columns, chooses the strategy, and lays out its steps.
pub(crate) fn plan(
    conn: &Connection,
    rb: &TableRebuild,
    facts: Facts,
    purpose: Purpose,
) -> Result<RebuildPlan> {
    let mapping = mapping::map(rb, &facts)?;
    check_dropped_columns(conn, rb, &facts, &mapping)?;
    introspect::check_declared_children(rb, &facts)?;
    introspect::check_child_keys(&facts)?;
    introspect::check_parent_keys(&facts)?;
    introspect::check_quoted_names(&facts)?;
    introspect::check_full_text(&facts)?;
    check_restore_compiles(conn, &facts, &mapping)?;
    let strategy = choice::choose(conn, rb, &facts, &mapping)?;
    let writes_rows = !matches!(strategy, Choice::Unchanged | Choice::Alter { .. });
    if writes_rows && mapping.chains.is_empty() && has_rows(conn, &facts)? {
        trial_row(conn, &facts, &mapping)?;
    }
    // A copy that cannot carry the rowids over renumbers the rows: refused, unless there
    // are none (the in-place switch keeps them where they are).
    let rowids_lost = match mapping.rowids_lost(&facts) {
        Some(reason) if has_rows(conn, &facts)? => Some(reason),
        _ => None,
    };
    if let (Some(reason), Choice::Copy) = (rowids_lost, &strategy) {
        return Err(Error::RowidUnreachable {
            table: facts.source.name.clone(),
            reason: reason.to_owned(),
        });
    }
    let (steps, checks) = match strategy {
        Choice::Unchanged => (Vec::new(), Vec::new()),
        Choice::InPlace { .. } => steps::in_place(&facts, &mapping, purpose),
        Choice::Alter { ref statements, .. } => steps::alter(&facts, statements),
        Choice::Copy => steps::copy(&facts, &mapping, purpose),
    };
    let not_renderable = not_renderable(rb, &mapping).or_else(|| {
        rowids_lost.map(|reason| {
            format!("the script copies, and the implicit rowids cannot be kept ({reason})")
        })
    });
    Ok(RebuildPlan::new(
        steps,
        checks,
        PlanContext {
            facts,
            mapping,
            choice: strategy,
            purpose,
            not_renderable,
        },
    ))
}

/// A column the target has no place for goes only when the caller named it, or when it
/// holds nothing but NULLs.
fn check_dropped_columns(
    conn: &Connection,
    rb: &TableRebuild,
    facts: &Facts,
    mapping: &Mapping,
) -> Result<()> {
    let unnamed: Vec<&String> = mapping
        .dropped
        .iter()
        .filter(|c| !rb.drop_columns.iter().any(|d| d.eq_ignore_ascii_case(c)))
        .collect();
    if unnamed.is_empty() {
        return Ok(());
    }
    let counts: Vec<String> = unnamed
        .iter()
        .map(|c| format!("count({})", crate::sql::ident(c)))
        .collect();
    let values: Vec<i64> = conn
        .query_row(
            &format!(
                "SELECT {} FROM {}",
                counts.join(", "),
                facts.source.qualified()
            ),
            [],
            |r| (0..unnamed.len()).map(|i| r.get(i)).collect(),
        )
        .map_err(Error::sqlite("counting the values of dropped columns"))?;
    match unnamed.iter().zip(values).find(|(_, n)| *n > 0) {
        Some((column, n)) => Err(Error::ColumnDropped {
            table: facts.source.name.clone(),
            column: (*column).clone(),
            values: n as u64,
        }),
        None => Ok(()),
    }
}

/// The target must take a row the way SQLite writes one. What only a write finds is the
/// target's error, found the same way whichever path the rebuild takes and before anything
/// runs: a CHECK calling `date('now')`, which SQLite refuses in a CHECK, would make the
/// copy fail, and the in-place switch refuse every later write. The first row is copied
/// into a TEMP table of the target's definition, in a savepoint rolled back; a row that
/// merely violates a constraint is validation's business.
fn trial_row(conn: &Connection, facts: &Facts, mapping: &Mapping) -> Result<()> {
    let source = &facts.source;
    let name = catalog::free_name(conn, "temp", &format!("{}__rebuild_trial", source.name))?;
    let trial = crate::sql::qualified("temp", &name);
    let _foreign_keys = ForeignKeysOff::engage(conn, &source.name)?;
    let sp = Savepoint::begin(conn, "sqlite_rebuild_trial")?;
    if conn
        .execute_batch(&format!("CREATE TABLE {trial} {}", facts.target.body))
        .is_err()
    {
        return Ok(()); // The probe took it; a TEMP table may not (a foreign key's parent).
    }
    let insert = format!(
        "{} LIMIT 1",
        mapping.copy_sql(&trial, &source.qualified(), &source.name, false)
    );
    let written = conn.prepare(&insert).and_then(|mut stmt| {
        let used = stmt.parameter_count();
        stmt.execute(rusqlite::params_from_iter(mapping.params.iter().take(used)))
    });
    drop(sp);
    match written {
        Err(e) if !is_constraint(&e) => match Error::operational("trying a row in the target", e) {
            Ok(e) => Err(e),
            Err(e) => Err(Error::TargetSql {
                table: source.name.clone(),
                reason: sqlite_message(&e),
            }),
        },
        _ => Ok(()),
    }
}

/// A constraint or datatype violation: a row that does not fit, not a target that cannot
/// take rows.
fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation) | Some(rusqlite::ErrorCode::TypeMismatch)
    )
}

/// Whether the table holds any row.
fn has_rows(conn: &Connection, facts: &Facts) -> Result<bool> {
    conn.query_row(
        &format!("SELECT EXISTS (SELECT 1 FROM {})", facts.source.qualified()),
        [],
        |r| r.get(0),
    )
    .map_err(Error::sqlite("checking whether the table has rows"))
}

/// Why the rebuild needs Rust while it runs, if it does.
fn not_renderable(rb: &TableRebuild, mapping: &Mapping) -> Option<String> {
    if let Some(chain) = mapping.chains.first() {
        return Some(format!(
            "column \"{}\" has a closure rule (remap_with), which only Rust can apply",
            chain.column
        ));
    }
    if matches!(
        rb.on_violation,
        OnViolation::Quarantine | OnViolation::QuarantineInto(_)
    ) {
        return Some(
            "the quarantine policy moves rows between tables as they fail, which a script cannot decide"
                .to_owned(),
        );
    }
    rb.restore_from
        .as_ref()
        .map(|_| "restore_from reads quarantine tables that only execute() handles".to_owned())
}

/// The quarantine table being restored must provide what the rules read from the old
/// table: its copy must compile against the target.
fn check_restore_compiles(conn: &Connection, facts: &Facts, mapping: &Mapping) -> Result<()> {
    let Some(r) = &facts.restore else {
        return Ok(());
    };
    let probe = Savepoint::begin(conn, "sqlite_rebuild_probe")?;
    let probe_target = crate::sql::qualified("temp", &facts.probe_target);
    let compiled = conn
        .execute_batch(&facts.target.create_probe)
        .and_then(|_| {
            conn.prepare(&mapping::restore_sql(
                mapping,
                facts,
                &r.table,
                &probe_target,
            ))
            .map(drop)
        });
    drop(probe);
    compiled.map_err(|e| Error::Quarantine {
        table: r.table.name.clone(),
        reason: format!(
            "its rows cannot be copied into the target: {}",
            sqlite_message(&e)
        ),
    })
}

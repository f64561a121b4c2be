//! The checks around the steps: a baseline taken before anything is written (row counts,
//! children's existing foreign key violations, whether the schema compiles), and the
//! checks before commit (SQLite's step 10, and what it leaves out) that compare with it.

use super::runtime::Runtime;
use super::{constraint_stop, foreign_key_violation, Stop, Tally};
use crate::db::guards::{PragmaSet, QuotesAsStrings, Savepoint};
use crate::db::usage::{self, Compiled};
use crate::error::{sqlite_message, Error, Result};
use crate::introspect::Facts;
use crate::report::Phase;
use crate::sql::{balanced, ident, qualified};
use crate::strategy::PlanContext;
use crate::validation::strict_storage_class;
use rusqlite::Connection;
use std::collections::BTreeMap;

/// What the checks before commit compare with.
pub(super) struct Baseline {
    /// The schema re-parsed before the rebuild (else the re-parse after cannot tell).
    pub schema_ok: bool,
    /// What uses each view and trigger, compiled before the rebuild.
    pub uses: Vec<Compiled>,
    /// Rows of the old table, plus those of the quarantine table being restored.
    pub old_rows: u64,
    /// Whether children's foreign keys are re-checked.
    pub check_children: bool,
    /// Per distinct child: its rows (only when rows go back into it), and its existing
    /// violations per foreign key (only when children are re-checked).
    pub children: Vec<ChildBaseline>,
}

pub(super) struct ChildBaseline {
    pub name: String,
    pub rows: Option<u64>,
    pub violations: BTreeMap<i64, u64>,
}

impl Baseline {
    pub(super) fn take(rt: &Runtime<'_>, ctx: &PlanContext) -> Result<Baseline> {
        let (conn, facts) = (rt.conn, &ctx.facts);
        let source = &facts.source;
        let schema_ok = match schema_probe(conn, facts)? {
            Ok(()) => true,
            Err(msg) => {
                log::warn!("the schema already fails to re-parse ({msg}); each view and trigger is still compiled on its own");
                false
            }
        };
        let uses = usage::compile(conn, &usage::usages(conn, &source.schema)?)?;
        // ALTER TABLE keeps every row where it is: nothing to count.
        let mut old_rows = match ctx.alters() {
            true => 0,
            false => count(conn, &source.qualified())?,
        };
        if let Some(r) = &facts.restore {
            old_rows += count(conn, &r.table.qualified())?;
        }
        let check_children =
            !ctx.alters() && (ctx.mapping.parent_keys_change(facts) || facts.restore.is_some());
        let mut children = Vec::new();
        for child in facts.child_tables() {
            let violations = if check_children {
                fk_violations(conn, &source.schema, child, &source.name)
                    .map_err(fail(facts, "checking child foreign keys"))?
            } else {
                BTreeMap::new()
            };
            // Counting a child's rows reads the whole table: only when rows go back into
            // it. That nothing else removes child rows, the drop's change count shows.
            let rows = match facts.restore {
                Some(_) => Some(count(conn, &qualified(&source.schema, child))?),
                None => None,
            };
            children.push(ChildBaseline {
                name: child.to_owned(),
                rows,
                violations,
            });
        }
        Ok(Baseline {
            schema_ok,
            uses,
            old_rows,
            check_children,
            children,
        })
    }
}

fn fail<'a>(facts: &'a Facts, context: &'a str) -> impl FnOnce(rusqlite::Error) -> Error + 'a {
    Error::sqlite(format!("{context} (rebuilding \"{}\")", facts.source.name))
}

/// The checks before commit: the new constraints (in place) or generated values (copied),
/// the row count, the table's own foreign keys and each child's (step 10 of SQLite's
/// procedure), and that every view and trigger still compiles (step 9).
pub(super) fn before_commit(
    rt: &Runtime<'_>,
    ctx: &PlanContext,
    baseline: &Baseline,
    tally: &mut Tally,
) -> std::result::Result<(), Stop> {
    let (conn, facts) = (rt.conn, &ctx.facts);
    let source = &facts.source;
    let table = &source.name;
    if ctx.alters() {
        // ALTER TABLE adds no row, loses none, and checked what it added.
    } else if ctx.in_place() {
        tally.rows_copied = baseline.old_rows;
        check_in_place(conn, facts)?;
    } else {
        check_strict_generated(conn, facts, &facts.source.qualified())?;
    }
    let checks_total = baseline.children.len() as u64 + 2;
    rt.progress(Phase::Checks, 0, checks_total);
    let new_rows = if ctx.alters() {
        baseline.old_rows
    } else {
        count(conn, &source.qualified())?
    };
    let old_rows = baseline.old_rows;
    if !ctx.alters() && (new_rows != old_rows || tally.rows_copied != old_rows) {
        return Err(Error::CheckFailed {
            table: table.clone(),
            reason: format!(
                "the old table had {old_rows} rows, {} were copied and the new table has {new_rows}",
                tally.rows_copied
            ),
        }
        .into());
    }
    if !facts.target.foreign_keys.is_empty() {
        let own = fk_violations(conn, &source.schema, table, table)
            .map_err(fail(facts, "checking the table's foreign keys"))?;
        if own.values().any(|n| *n > 0) {
            return Err(foreign_key_violation());
        }
    }
    for (i, child) in baseline.children.iter().enumerate() {
        rt.progress(Phase::Checks, 1 + i as u64, checks_total);
        let name = &child.name;
        if let Some(rows_before) = child.rows {
            let rows_after = count(conn, &qualified(&source.schema, name))?;
            let rows_before = rows_before
                + tally
                    .restored_into
                    .get(&name.to_ascii_lowercase())
                    .unwrap_or(&0);
            if rows_after != rows_before {
                return Err(Error::CheckFailed {
                    table: table.clone(),
                    reason: format!(
                        "child \"{name}\" had {rows_before} rows and now has {rows_after}"
                    ),
                }
                .into());
            }
        }
        if baseline.check_children {
            let after = fk_violations(conn, &source.schema, name, table)
                .map_err(fail(facts, "checking child foreign keys"))?;
            let new: u64 = after
                .iter()
                .map(|(id, n)| n.saturating_sub(*child.violations.get(id).unwrap_or(&0)))
                .sum();
            if new > 0 {
                return Err(Error::CheckFailed {
                    table: table.clone(),
                    reason: format!(
                        "{new} rows of child \"{name}\" would no longer find their parent row"
                    ),
                }
                .into());
            }
        }
    }
    rt.progress(Phase::Checks, checks_total - 1, checks_total);
    for (name, why) in still_working(conn, facts, &baseline.uses)? {
        log::warn!("{name} was already broken before the rebuild ({why}); it is not checked");
        tally.already_broken.push(name);
    }
    // SQLite's own re-parse of the schema also sees what no statement fires (a trigger
    // `UPDATE OF` a column that went).
    if baseline.schema_ok {
        if let Err(msg) = schema_probe(conn, facts)? {
            return Err(Error::dependent_broken(table, msg).into());
        }
    }
    rt.progress(Phase::Checks, checks_total, checks_total);
    let children: Vec<&str> = baseline.children.iter().map(|c| c.name.as_str()).collect();
    log::debug!(
        "checks passed: {new_rows} rows in {table:?} as before; child tables intact: {children:?}; \
         views and triggers compile"
    );
    Ok(())
}

/// After an in-place switch: every row must satisfy the new CHECK and NOT NULL
/// constraints, evaluated over the rows as stored (the same declared types keep them
/// exactly as a copy would store them), and the new foreign keys must find their parents.
/// This is the check SQLite's procedure asks for, limited to what the switch can break:
/// `PRAGMA quick_check` would also verify the file's structure, which the switch does not
/// touch, at several times the cost of a copy.
fn check_in_place(conn: &Connection, facts: &Facts) -> std::result::Result<(), Stop> {
    // The CHECKs are evaluated in a query: read as the schema reads them.
    let _quotes = QuotesAsStrings::dml_like_ddl(conn)?;
    let target = &facts.target.table;
    let mut conditions: Vec<String> = facts
        .target
        .def
        .checks
        .iter()
        .map(|c| format!("NOT ({})", c.expr))
        .collect();
    for c in target.columns.iter().filter(|c| c.notnull) {
        if target.ipk.as_deref() != Some(c.name.as_str()) {
            // Not `IS NULL`: the planner folds that to false on a column the (new)
            // definition declares NOT NULL.
            conditions.push(format!("typeof({}) = 'null'", ident(&c.name)));
        }
    }
    let bad = rows_where_any(conn, &facts.source.qualified(), &conditions)
        .map_err(fail(facts, "checking the rows against the new constraints"))?;
    if bad > 0 {
        return Err(constraint_stop(
            rusqlite::ffi::SQLITE_CONSTRAINT_CHECK,
            format!("{bad} rows violate the new constraints"),
        ));
    }
    if !facts.target.foreign_keys.is_empty() {
        let orphans: i64 = conn
            .query_row(
                "SELECT count(*) FROM pragma_foreign_key_check(?1, ?2)",
                [&facts.source.name, &facts.source.schema],
                |r| r.get(0),
            )
            .map_err(fail(facts, "checking the table's foreign keys"))?;
        if orphans > 0 {
            return Err(foreign_key_violation());
        }
    }
    Ok(())
}

/// Generated columns of a STRICT target must compute values of their declared type. New
/// SQLite checks that as rows are written; 3.40 only shows it in `integrity_check`
/// ("non-REAL value in t.g"), so a rebuild that old SQLite accepts is checked here.
pub(super) fn check_strict_generated(
    conn: &Connection,
    facts: &Facts,
    table: &str,
) -> std::result::Result<(), Stop> {
    let target = &facts.target.table;
    if !target.strict {
        return Ok(());
    }
    let conditions: Vec<String> = target
        .columns
        .iter()
        .filter(|c| c.is_generated())
        .filter_map(|c| {
            let allowed = match strict_storage_class(&c.decl_type)? {
                // A REAL column stores integers as REAL; generated values may read back as either.
                "real" => "'real', 'integer'".to_owned(),
                class => format!("'{class}'"),
            };
            Some(format!(
                "typeof({}) NOT IN ('null', {allowed})",
                ident(&c.name)
            ))
        })
        .collect();
    let bad = rows_where_any(conn, table, &conditions)
        .map_err(Error::sqlite("checking the generated columns' types"))?;
    if bad > 0 {
        // SQLITE_CONSTRAINT_DATATYPE, as SQLite itself reports a STRICT type error.
        return Err(constraint_stop(
            rusqlite::ffi::SQLITE_CONSTRAINT | (12 << 8),
            format!("{bad} rows compute generated values of the wrong type"),
        ));
    }
    Ok(())
}

/// Rows of `table` (qualified) matching any of `conditions` (0 when there are none).
fn rows_where_any(conn: &Connection, table: &str, conditions: &[String]) -> rusqlite::Result<i64> {
    if conditions.is_empty() {
        return Ok(0);
    }
    conn.query_row(
        &format!(
            "SELECT count(*) FROM {table} WHERE {}",
            balanced("OR", conditions)
        ),
        [],
        |r| r.get(0),
    )
}

pub(super) fn count(conn: &Connection, table_sql: &str) -> Result<u64> {
    conn.query_row(&format!("SELECT count(*) FROM {table_sql}"), [], |r| {
        r.get::<_, i64>(0).map(|n| n as u64)
    })
    .map_err(Error::sqlite(format!("counting rows of {table_sql}")))
}

/// `fkid -> violations` of `child`'s foreign keys pointing at `parent`, from
/// `pragma_foreign_key_check`.
pub(super) fn fk_violations(
    conn: &Connection,
    schema: &str,
    child: &str,
    parent: &str,
) -> rusqlite::Result<BTreeMap<i64, u64>> {
    let mut stmt = conn.prepare("SELECT fkid, count(*) FROM pragma_foreign_key_check(?1, ?2) WHERE parent = ?3 COLLATE NOCASE GROUP BY fkid")?;
    let rows = stmt.query_map([child, schema, parent], |r| {
        Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
    })?;
    rows.collect()
}

/// Checks that every view and trigger in the schema still parses, by renaming the table
/// inside a savepoint that is rolled back: SQLite re-parses the whole schema on rename.
pub(super) fn schema_probe(
    conn: &Connection,
    facts: &Facts,
) -> Result<std::result::Result<(), String>> {
    let legacy = PragmaSet::legacy_alter_table(conn, false)?;
    let sp = Savepoint::begin(conn, "sqlite_rebuild_schema_probe")?;
    let outcome = conn
        .execute_batch(&format!(
            "ALTER TABLE {} RENAME TO {}",
            facts.source.qualified(),
            ident(&facts.probe_name)
        ))
        .map_err(|e| sqlite_message(&e));
    drop(sp);
    legacy.restore()?;
    Ok(outcome)
}

/// What compiled before must compile after: each view and trigger that compiled reading
/// double quotes only as names still does so (a `"name"` that named a column must not turn
/// into a string); one that needed them as strings still compiles with them. One that
/// compiled neither way was broken before the rebuild: it is returned, with why, and the
/// others are still checked.
pub(super) fn still_working(
    conn: &Connection,
    facts: &Facts,
    before: &[Compiled],
) -> std::result::Result<Vec<(String, String)>, Stop> {
    let after = usage::compile(conn, &usage::usages(conn, &facts.source.schema)?)?;
    let mut already_broken = Vec::new();
    for was in before {
        let Some(now) = after.iter().find(|c| c.usage.is(&was.usage)) else {
            let dropped = facts
                .dropped
                .iter()
                .any(|d| d.name.eq_ignore_ascii_case(&was.usage.name));
            if dropped {
                continue;
            }
            return Err(Error::DependentBroken {
                table: facts.source.name.clone(),
                kind: was.usage.kind,
                name: was.usage.name.clone(),
                reason: "it is no longer in the schema".to_owned(),
            }
            .into());
        };
        let broken = match (&was.strict, &was.loose) {
            (None, _) => now.strict.as_ref(),
            (Some(_), None) => now.loose.as_ref(),
            (Some(_), Some(why)) => {
                already_broken.push((was.usage.name.clone(), why.clone()));
                None
            }
        };
        if let Some(reason) = broken {
            return Err(Error::DependentBroken {
                table: facts.source.name.clone(),
                kind: was.usage.kind,
                name: was.usage.name.clone(),
                reason: reason.clone(),
            }
            .into());
        }
    }
    Ok(already_broken)
}

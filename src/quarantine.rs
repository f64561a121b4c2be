//! Quarantine: moving the rows that would violate the target, whole and unchanged, into
//! quarantine tables (with the child rows that reference them, so foreign keys stay
//! consistent), and finding those tables again to put the rows back.
//!
//! Everything here runs inside the rebuild's savepoint: a failure undoes every move.

use crate::error::{Error, Result};
use crate::plan::{self, ChildRestore, Prepared, Restore};
use crate::quote::{ident, literal, qualified};
use crate::schema::{self, ForeignKey, Table};
use crate::validate::{self, ValidationReport};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};
use std::fmt;

/// Column of a quarantine table saying which constraints the row broke (or which parent
/// row took it along).
pub(crate) const VIOLATION: &str = "sqlite_rebuild_violation";
/// Column of a quarantine table saying when the row was moved (UTC, ISO 8601).
pub(crate) const QUARANTINED_AT: &str = "sqlite_rebuild_quarantined_at";

/// How deep child tables are followed (a cycle of foreign keys stops earlier).
const MAX_DEPTH: usize = 16;

/// Rows moved from one table to another: into quarantine, or back from it.
///
/// Listed by [`RebuildReport::quarantined`](crate::RebuildReport::quarantined) and
/// [`RebuildReport::restored`](crate::RebuildReport::restored).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MovedRows {
    from: String,
    to: String,
    rows: u64,
}

impl MovedRows {
    /// The table the rows left.
    pub fn from_table(&self) -> &str {
        &self.from
    }

    /// The table that holds them now.
    pub fn to_table(&self) -> &str {
        &self.to
    }

    /// How many rows moved.
    pub fn rows(&self) -> u64 {
        self.rows
    }
}

impl fmt::Display for MovedRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} from {} to {}",
            self.rows,
            if self.rows == 1 { "row" } else { "rows" },
            ident(&self.from),
            ident(&self.to)
        )
    }
}

pub(crate) fn moved(from: &str, to: &str, rows: u64) -> MovedRows {
    MovedRows {
        from: from.to_owned(),
        to: to.to_owned(),
        rows,
    }
}

/// Adds `m` to `all`, summing moves between the same two tables.
pub(crate) fn merge(all: &mut Vec<MovedRows>, m: MovedRows) {
    match all
        .iter_mut()
        .find(|x| x.from.eq_ignore_ascii_case(&m.from) && x.to.eq_ignore_ascii_case(&m.to))
    {
        Some(x) => x.rows += m.rows,
        None => all.push(m),
    }
}

/// The quarantine table of a child: named after its parent's quarantine table.
pub(crate) fn child_quarantine_name(parent_quarantine: &str, child: &str) -> String {
    format!("{parent_quarantine}__{child}")
}

/// Finds the quarantine table to restore and its children's, and checks they are ours.
pub(crate) fn restore_source(
    conn: &Connection,
    source: &Table,
    children: &[ForeignKey],
    name: &str,
) -> Result<Restore> {
    let table = schema::resolve_table(conn, &source.schema, name)?;
    if table.name.eq_ignore_ascii_case(&source.name) {
        return Err(Error::Quarantine {
            table: table.name,
            reason: "it is the table being rebuilt".into(),
        });
    }
    if table.column(VIOLATION).is_none() {
        return Err(Error::Quarantine {
            table: table.name,
            reason: format!(
                "it is not a quarantine table (it has no \"{VIOLATION}\" column); restore_from \
                 takes a table that OnViolation::Quarantine filled"
            ),
        });
    }
    let mut out = Vec::new();
    let mut path = vec![source.name.to_ascii_lowercase()];
    let child_names = distinct_children(children);
    collect_child_restores(
        conn,
        &source.schema,
        &child_names,
        &table.name,
        &mut path,
        &mut out,
    )?;
    Ok(Restore {
        table,
        children: out,
    })
}

fn distinct_children(fks: &[ForeignKey]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for fk in fks {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&fk.child)) {
            names.push(fk.child.clone());
        }
    }
    names
}

fn collect_child_restores(
    conn: &Connection,
    schema_name: &str,
    children: &[String],
    parent_quarantine: &str,
    path: &mut Vec<String>,
    out: &mut Vec<ChildRestore>,
) -> Result<()> {
    if path.len() > MAX_DEPTH {
        return Ok(());
    }
    for child in children {
        if path.contains(&child.to_ascii_lowercase()) {
            continue;
        }
        let quarantine = child_quarantine_name(parent_quarantine, child);
        let Ok(q) = schema::resolve_table(conn, schema_name, &quarantine) else {
            continue;
        };
        let child_table = schema::resolve_table(conn, schema_name, child)?;
        let columns: Vec<String> = child_table
            .columns
            .iter()
            .filter(|c| !c.is_generated())
            .map(|c| c.name.clone())
            .collect();
        if let Some(missing) = columns.iter().find(|c| q.column(c).is_none()) {
            return Err(Error::Quarantine {
                table: q.name,
                reason: format!(
                    "it has no column \"{missing}\", which child \"{child}\" has: its rows cannot go back"
                ),
            });
        }
        out.push(ChildRestore {
            child: child_table.name.clone(),
            quarantine: q.name.clone(),
            columns,
            rowid: child_table.rowid_name().is_some() && q.rowid_name().is_some(),
        });
        let grandchildren: Vec<ForeignKey> =
            schema::referencing(conn, schema_name, &child_table.name)?
                .into_iter()
                .filter(|fk| !fk.child.eq_ignore_ascii_case(&child_table.name))
                .collect();
        path.push(child.to_ascii_lowercase());
        collect_child_restores(
            conn,
            schema_name,
            &distinct_children(&grandchildren),
            &q.name,
            path,
            out,
        )?;
        path.pop();
    }
    Ok(())
}

/// `INSERT` that puts a child's quarantined rows back, rowids included.
pub(crate) fn restore_child_sql(
    schema_name: &str,
    child: &str,
    quarantine: &str,
    columns: &[String],
    rowid: bool,
) -> String {
    let mut cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    if rowid {
        cols.insert(0, "rowid".to_owned());
    }
    format!(
        "INSERT OR ABORT INTO {0} ({1}) SELECT {1} FROM {2}",
        qualified(schema_name, child),
        cols.join(", "),
        qualified(schema_name, quarantine)
    )
}

/// Finds the old table's rows that would still violate the target and moves them, and the
/// child rows that reference them, into quarantine. `None` when there is nothing the
/// quarantine can take (the violations come from restored rows, or cannot be explained).
pub(crate) fn move_violations(
    conn: &Connection,
    p: &Prepared,
    quarantine: &str,
    sample_size: usize,
) -> Result<Option<(ValidationReport, Vec<MovedRows>)>> {
    let report = validate::diagnose(conn, p, sample_size)?;
    if report.is_ok() {
        return Ok(None);
    }
    let table = &p.source.name;
    let fail = |what: &str| Error::sqlite(format!("{what} (quarantining rows of \"{table}\")"));

    let stage_name = schema::free_name(conn, "temp", &format!("{table}__rebuild_quarantine"))?;
    let st = validate::staging(p, &stage_name);
    conn.execute_batch(&st.create)
        .map_err(fail("creating the staging table"))?;
    conn.prepare(&st.inserts[0])
        .and_then(|mut s| s.execute(params_from_iter(&p.params)))
        .map_err(fail("staging rows"))?;
    st.number_null_keys(conn)
        .map_err(fail("assigning rowids to NULL keys"))?;
    let alias = ident(&p.target_def.name);
    let probes: Vec<validate::Probe> = validate::probes(conn, p, &st.table, &st.seq, &alias)?
        .into_iter()
        .filter(|probe| {
            conn.prepare(&format!(
                "SELECT 1 FROM {} AS {alias} WHERE {}",
                st.table, probe.predicate
            ))
            .is_ok()
        })
        .collect();
    let keys = qualified(
        "temp",
        &schema::free_name(conn, "temp", &format!("{table}__rebuild_rejected"))?,
    );
    let key_names: Vec<String> = (1..=st.keys.len()).map(|i| format!("k{i}")).collect();
    let found = if probes.is_empty() {
        0
    } else {
        let reasons: Vec<String> = probes
            .iter()
            .map(|probe| {
                format!(
                    "CASE WHEN {} THEN {} ELSE '' END",
                    probe.predicate,
                    literal(&Value::Text(format!("; {} {}", probe.kind, probe.name)))
                )
            })
            .collect();
        let any: Vec<String> = probes
            .iter()
            .map(|probe| format!("({})", probe.predicate))
            .collect();
        let selected: Vec<String> = st
            .keys
            .iter()
            .zip(&key_names)
            .map(|(k, n)| format!("{alias}.{k} AS {n}"))
            .collect();
        conn.execute_batch(&format!(
            "CREATE TABLE {keys} AS SELECT {}, substr({}, 3) AS reason FROM {} AS {alias} WHERE {alias}.{} = 0 AND ({})",
            selected.join(", "),
            reasons.join(" || "),
            st.table,
            st.origin,
            any.join(" OR ")
        ))
        .map_err(fail("selecting the rows to quarantine"))?;
        conn.query_row(&format!("SELECT count(*) FROM {keys}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(fail("counting the rows to quarantine"))?
    };
    conn.execute_batch(&format!("DROP TABLE {}", st.table))
        .map_err(fail("dropping the staging table"))?;
    if found == 0 {
        if !probes.is_empty() {
            conn.execute_batch(&format!("DROP TABLE {keys}"))
                .map_err(fail("dropping the key table"))?;
        }
        return Ok(None);
    }

    let row_key = p.source.row_key();
    let on: Vec<String> = row_key
        .iter()
        .zip(&key_names)
        .map(|(col, k)| format!("t0.{} = k.{k}", ident(col)))
        .collect();
    let rows = format!(
        "{} AS t0 JOIN {keys} AS k ON {}",
        p.source.qualified(),
        on.join(" AND ")
    );
    let mut all = Vec::new();
    let mut path = Vec::new();
    move_rows(
        conn, &p.source, &rows, "t0", "k.reason", quarantine, &mut path, &mut all,
    )?;
    conn.execute_batch(&format!("DROP TABLE {keys}"))
        .map_err(fail("dropping the key table"))?;
    log::info!(
        "quarantined {found} rows of {} into \"{quarantine}\"",
        p.source.qualified()
    );
    Ok(Some((report, all)))
}

/// Moves the rows of `table` selected by `SELECT <alias>.* FROM <rows>` into `quarantine`,
/// after moving the child rows that reference them into quarantine tables of their own.
#[allow(clippy::too_many_arguments)]
fn move_rows(
    conn: &Connection,
    table: &Table,
    rows: &str,
    alias: &str,
    reason: &str,
    quarantine: &str,
    path: &mut Vec<String>,
    all: &mut Vec<MovedRows>,
) -> Result<()> {
    let fail = |what: &str| {
        Error::sqlite(format!(
            "{what} (quarantining rows of \"{}\" into \"{quarantine}\")",
            table.name
        ))
    };
    let columns: Vec<String> = table
        .columns
        .iter()
        .filter(|c| !c.is_generated())
        .map(|c| c.name.clone())
        .collect();
    ensure_quarantine_table(conn, table, quarantine, &columns)?;
    let q = qualified(&table.schema, quarantine);
    let rowid = table.rowid_name();
    let mut into: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    let mut from: Vec<String> = columns
        .iter()
        .map(|c| format!("{alias}.{}", ident(c)))
        .collect();
    if let Some(r) = rowid {
        into.insert(0, "rowid".to_owned());
        from.insert(0, format!("{alias}.{}", ident(r)));
    }
    into.extend([ident(VIOLATION), ident(QUARANTINED_AT)]);
    from.extend([
        reason.to_owned(),
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')".to_owned(),
    ]);
    let n = conn
        .execute(
            &format!(
                "INSERT INTO {q} ({}) SELECT {} FROM {rows}",
                into.join(", "),
                from.join(", ")
            ),
            [],
        )
        .map_err(fail("copying rows into quarantine"))? as u64;
    if n == 0 {
        return Ok(());
    }
    path.push(table.name.to_ascii_lowercase());
    // Listed before the children's moves, though it happens after them.
    let listed_at = all.len();

    // Children first: their rows are found through the parent rows still in place.
    if path.len() <= MAX_DEPTH {
        // A child's references to itself (replies to a moved comment) are followed here;
        // the rebuilt table's own are found by the next attempt, as violations.
        let follow_self = path.len() > 1;
        let children: Vec<ForeignKey> = schema::referencing(conn, &table.schema, &table.name)?
            .into_iter()
            .filter(|fk| follow_self || !fk.child.eq_ignore_ascii_case(&table.name))
            .collect();
        for fk in &children {
            let self_reference = fk.child.eq_ignore_ascii_case(&table.name);
            if path.contains(&fk.child.to_ascii_lowercase()) && !self_reference {
                continue;
            }
            let referenced = fk.referenced(&table.columns);
            if referenced.len() != fk.from.len() {
                continue; // SQLite itself reports such a key as a mismatch
            }
            if self_reference {
                let descendants = self_descendants(table, fk, &referenced, rows, alias, path.len());
                let why = literal(&Value::Text(format!(
                    "references a row of \"{}\" moved to \"{quarantine}\"",
                    table.name
                )));
                let child_alias = format!("t{}", path.len());
                move_rows(
                    conn,
                    table,
                    &descendants,
                    &child_alias,
                    &why,
                    quarantine,
                    path,
                    all,
                )?;
                continue;
            }
            let child = schema::resolve_table(conn, &table.schema, &fk.child)?;
            let child_alias = format!("t{}", path.len());
            let child_cols: Vec<String> = fk
                .from
                .iter()
                .map(|c| format!("{child_alias}.{}", ident(c)))
                .collect();
            let parent_cols: Vec<String> = referenced
                .iter()
                .map(|c| format!("{alias}.{}", ident(c)))
                .collect();
            let child_rows = format!(
                "{} AS {child_alias} WHERE ({}) IN (SELECT {} FROM {rows})",
                child.qualified(),
                child_cols.join(", "),
                parent_cols.join(", ")
            );
            let why = literal(&Value::Text(format!(
                "references a row of \"{}\" moved to \"{quarantine}\"",
                table.name
            )));
            move_rows(
                conn,
                &child,
                &child_rows,
                &child_alias,
                &why,
                &child_quarantine_name(quarantine, &child.name),
                path,
                all,
            )?;
        }
    }
    path.pop();

    let key = table.row_key();
    let key_cols: Vec<String> = key.iter().map(|c| ident(c)).collect();
    let key_sel: Vec<String> = key
        .iter()
        .map(|c| format!("{alias}.{}", ident(c)))
        .collect();
    let delete = format!(
        "DELETE FROM {} WHERE ({}) IN (SELECT {} FROM {rows})",
        table.qualified(),
        key_cols.join(", "),
        key_sel.join(", ")
    );
    let deleted = without_triggers(conn, table, || conn.execute(&delete, []))
        .and_then(|r| r.map_err(fail("removing quarantined rows")))? as u64;
    if deleted != n {
        return Err(Error::CheckFailed {
            table: table.name.clone(),
            reason: format!(
                "{n} rows were copied into quarantine \"{quarantine}\" but {deleted} removed"
            ),
        });
    }
    match all
        .iter_mut()
        .find(|m| m.from.eq_ignore_ascii_case(&table.name) && m.to.eq_ignore_ascii_case(quarantine))
    {
        Some(m) => m.rows += n,
        None => all.insert(listed_at, moved(&table.name, quarantine, n)),
    }
    Ok(())
}

/// The rows of `table` that reference the moving `rows` through its own foreign key `fk`,
/// directly or down a chain of such references (a reply to a reply), and are not moving
/// already: a FROM clause over `table` aliased `t<depth>`.
fn self_descendants(
    table: &Table,
    fk: &ForeignKey,
    referenced: &[String],
    rows: &str,
    alias: &str,
    depth: usize,
) -> String {
    let key = table.row_key();
    let child_alias = format!("t{depth}");
    let (c, m) = (format!("c{depth}"), format!("m{depth}"));
    let key_names: Vec<String> = (1..=key.len()).map(|i| format!("k{i}")).collect();
    let ref_names: Vec<String> = (1..=referenced.len()).map(|i| format!("r{i}")).collect();
    let pick = |from: &str, cols: &[String]| -> Vec<String> {
        cols.iter()
            .map(|col| format!("{from}.{}", ident(col)))
            .collect()
    };
    let seed: Vec<String> = pick(alias, &key)
        .into_iter()
        .chain(pick(alias, referenced))
        .collect();
    let step: Vec<String> = pick(&c, &key)
        .into_iter()
        .chain(pick(&c, referenced))
        .collect();
    let join: Vec<String> = fk
        .from
        .iter()
        .zip(&ref_names)
        .map(|(from, r)| format!("{c}.{} = {m}.{r}", ident(from)))
        .collect();
    let closure = format!(
        "WITH RECURSIVE {m}({}) AS (SELECT {} FROM {rows} UNION SELECT {} FROM {} AS {c} JOIN {m} ON {}) SELECT {} FROM {m}",
        key_names.iter().chain(&ref_names).cloned().collect::<Vec<_>>().join(", "),
        seed.join(", "),
        step.join(", "),
        table.qualified(),
        join.join(" AND "),
        key_names.join(", ")
    );
    let own_key = pick(&child_alias, &key).join(", ");
    format!(
        "{} AS {child_alias} WHERE ({own_key}) IN ({closure}) AND ({own_key}) NOT IN (SELECT {} FROM {rows})",
        table.qualified(),
        pick(alias, &key).join(", ")
    )
}

/// Creates the quarantine table, or checks that an existing one can take the rows.
fn ensure_quarantine_table(
    conn: &Connection,
    table: &Table,
    quarantine: &str,
    columns: &[String],
) -> Result<()> {
    let mut needed: Vec<String> = columns.to_vec();
    needed.extend([VIOLATION.to_owned(), QUARANTINED_AT.to_owned()]);
    match schema::resolve_table(conn, &table.schema, quarantine) {
        Ok(existing) => {
            if existing.name.eq_ignore_ascii_case(&table.name) {
                return Err(Error::Quarantine {
                    table: existing.name,
                    reason: "it is the table whose rows it would receive".into(),
                });
            }
            if let Some(missing) = needed.iter().find(|c| existing.column(c).is_none()) {
                return Err(Error::Quarantine {
                    table: existing.name,
                    reason: format!(
                        "it exists without a column \"{missing}\"; choose another name with OnViolation::QuarantineInto"
                    ),
                });
            }
            Ok(())
        }
        Err(Error::UnknownTable { .. }) => {
            // No declared types: the values keep exactly the storage class they had.
            let defs: Vec<String> = needed.iter().map(|c| ident(c)).collect();
            conn.execute_batch(&format!(
                "CREATE TABLE {} ({})",
                qualified(&table.schema, quarantine),
                defs.join(", ")
            ))
            .map_err(|e| Error::Quarantine {
                table: quarantine.to_owned(),
                reason: format!("cannot be created: {}", plan::sqlite_message(&e)),
            })
        }
        Err(e) => Err(e),
    }
}

/// Runs `f` with the table's triggers dropped, then recreates them from their stored SQL:
/// moving rows to and from quarantine is not an event of the application's.
pub(crate) fn without_triggers<T>(
    conn: &Connection,
    table: &Table,
    f: impl FnOnce() -> T,
) -> Result<T> {
    let triggers = schema::triggers(conn, table)?;
    for (t, drop) in &triggers {
        conn.execute_batch(drop).map_err(Error::sqlite(format!(
            "suspending trigger \"{}\" of \"{}\"",
            t.name, table.name
        )))?;
    }
    let out = f();
    for (t, _) in &triggers {
        conn.execute_batch(&plan::dependent_sql(t, &table.schema))
            .map_err(Error::sqlite(format!(
                "recreating trigger \"{}\" of \"{}\"",
                t.name, table.name
            )))?;
    }
    Ok(out)
}

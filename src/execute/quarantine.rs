//! Quarantine: moving the rows that would violate the target, whole and unchanged, into
//! quarantine tables (with the child rows that reference them, so foreign keys stay
//! consistent). It runs between attempts, when the table is as it was before the rebuild,
//! so it reads the live catalog as it goes; everything here runs inside the rebuild's
//! savepoint, and a failure undoes every move.

use crate::builder::quarantine::{
    child_quarantine_name, nulled_keys_name, CHILD_ROWID, MAX_DEPTH, QUARANTINED_AT, VIOLATION,
};
use crate::builder::Orphans;
use crate::db::catalog;
use crate::db::guards::TriggersSuspended;
use crate::db::{ForeignKey, Table};
use crate::error::{sqlite_message, Error, Result};
use crate::introspect::Facts;
use crate::mapping::Mapping;
use crate::report::{MovedRows, ValidationReport};
use crate::sql::{balanced, ident, literal, qualified};
use crate::validation::{diagnose, probes, Probe, Staging};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

/// Finds the old table's rows that would still violate the target and moves them, and the
/// child rows that reference them, into quarantine. `None` when there is nothing the
/// quarantine can take (the violations come from restored rows, or cannot be explained).
pub(super) fn move_violations(
    conn: &Connection,
    facts: &Facts,
    mapping: &Mapping,
    quarantine: &str,
    (sample_size, orphans): (usize, Orphans),
) -> Result<Option<Quarantined>> {
    let report = diagnose(conn, facts, mapping, sample_size)?;
    if report.is_ok() {
        return Ok(None);
    }
    let source = &facts.source;
    let table = &source.name;
    let fail = |what: &str| Error::sqlite(format!("{what} (quarantining rows of \"{table}\")"));

    let stage_name = catalog::free_name(conn, "temp", &format!("{table}__rebuild_quarantine"))?;
    let st = Staging::new(facts, mapping, &stage_name);
    conn.execute_batch(&st.create)
        .map_err(fail("creating the staging table"))?;
    conn.prepare(&st.inserts[0])
        .and_then(|mut s| s.execute(params_from_iter(&mapping.params)))
        .map_err(fail("staging rows"))?;
    st.number_null_keys(conn)
        .map_err(fail("assigning rowids to NULL keys"))?;
    let alias = ident(&facts.target.def.name);
    let probes: Vec<Probe> = probes(facts, &st.table, &st.seq, &alias)
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
        &catalog::free_name(conn, "temp", &format!("{table}__rebuild_rejected"))?,
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
                    literal(&Value::Text(format!("; {}", probe.label())))
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
            "CREATE TABLE {keys} AS SELECT {}, substr({}, 3) AS reason FROM {} AS {alias} WHERE {} AND {}",
            selected.join(", "),
            balanced("||", &reasons),
            st.table,
            st.is_old_row(&alias),
            balanced("OR", &any)
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

    let row_key = source.row_key();
    let on: Vec<String> = row_key
        .iter()
        .zip(&key_names)
        .map(|(col, k)| format!("t0.{} = k.{k}", ident(col)))
        .collect();
    let rows = format!(
        "{} AS t0 JOIN {keys} AS k ON {}",
        source.qualified(),
        on.join(" AND ")
    );
    let mut moves = Moves {
        orphans,
        moved: Vec::new(),
        nulled: Vec::new(),
    };
    let mut path = Vec::new();
    move_rows(
        conn, source, &rows, "t0", "k.reason", quarantine, &mut path, &mut moves,
    )?;
    conn.execute_batch(&format!("DROP TABLE {keys}"))
        .map_err(fail("dropping the key table"))?;
    log::info!(
        "quarantined {found} rows of {} into \"{quarantine}\"",
        source.qualified()
    );
    Ok(Some((report, moves.moved, moves.nulled)))
}

/// A pass's report, the rows it moved, and the child keys it set to NULL.
pub(super) type Quarantined = (ValidationReport, Vec<MovedRows>, Vec<MovedRows>);

/// What a quarantine pass did: rows moved, child keys set to NULL.
struct Moves {
    orphans: Orphans,
    moved: Vec<MovedRows>,
    nulled: Vec<MovedRows>,
}

/// Whether the policy keeps the child's rows with `fk` set to NULL: its columns nullable,
/// the child with rowids (which the kept keys are recorded by).
fn nulls_key(orphans: Orphans, fk: &ForeignKey, child: &Table) -> bool {
    let wanted = match orphans {
        Orphans::Move => false,
        Orphans::SetNull => true,
        Orphans::OnDelete => fk.on_delete.eq_ignore_ascii_case("SET NULL"),
    };
    wanted
        && child.rowid_name().is_some()
        && fk.from.iter().all(|c| {
            child
                .column(c)
                .is_some_and(|col| !col.notnull && col.pk == 0)
        })
}

/// Sets the child's key to NULL in the rows that reference the moved ones, keeping each
/// row's key in the kept-keys table first. The child's triggers do not fire.
#[allow(clippy::too_many_arguments)]
fn null_keys(
    conn: &Connection,
    child: &Table,
    fk: &ForeignKey,
    child_rows: &str,
    child_alias: &str,
    why: &str,
    parent_quarantine: &str,
    moves: &mut Moves,
) -> Result<()> {
    let keys = nulled_keys_name(parent_quarantine, &child.name);
    let fail = |what: &str| {
        Error::sqlite(format!(
            "{what} (keeping the keys of \"{}\" in \"{keys}\")",
            child.name
        ))
    };
    let q = qualified(&child.schema, &keys);
    let cols: Vec<String> = fk.from.iter().map(|c| ident(c)).collect();
    let rowid = child.rowid_name().unwrap_or("rowid");
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {q} ({} INTEGER, {}, {} TEXT, {} TEXT)",
        ident(CHILD_ROWID),
        cols.join(", "),
        ident(VIOLATION),
        ident(QUARANTINED_AT)
    ))
    .map_err(fail("creating the table of kept keys"))?;
    let selected: Vec<String> = cols.iter().map(|c| format!("{child_alias}.{c}")).collect();
    let n = conn
        .execute(
            &format!(
                "INSERT INTO {q} ({}, {}, {}, {}) SELECT {child_alias}.{}, {}, {why}, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM {child_rows}",
                ident(CHILD_ROWID),
                cols.join(", "),
                ident(VIOLATION),
                ident(QUARANTINED_AT),
                ident(rowid),
                selected.join(", ")
            ),
            [],
        )
        .map_err(fail("keeping the keys"))? as u64;
    if n == 0 {
        return Ok(());
    }
    let sets: Vec<String> = cols.iter().map(|c| format!("{c} = NULL")).collect();
    let triggers = TriggersSuspended::engage(conn, &child.schema, &child.name)?;
    let updated = conn
        .execute(
            &format!(
                "UPDATE {} SET {} WHERE {} IN (SELECT {} FROM {q})",
                child.qualified(),
                sets.join(", "),
                ident(rowid),
                ident(CHILD_ROWID)
            ),
            [],
        )
        .map_err(fail("setting the keys to NULL"))? as u64;
    triggers.restore()?;
    log::info!(
        "kept {updated} rows of \"{}\" with their key set to NULL; the keys are in \"{keys}\"",
        child.name
    );
    MovedRows::merge_into(&mut moves.nulled, MovedRows::new(&child.name, &keys, n));
    Ok(())
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
    moves: &mut Moves,
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
                "INSERT OR ABORT INTO {q} ({}) SELECT {} FROM {rows}",
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
    let listed_at = moves.moved.len();

    // Children first: their rows are found through the parent rows still in place.
    if path.len() <= MAX_DEPTH {
        // A child's references to itself (replies to a moved comment) are followed here;
        // the rebuilt table's own are found by the next attempt, as violations.
        let follow_self = path.len() > 1;
        let children: Vec<ForeignKey> = catalog::referencing(conn, &table.schema, &table.name)?
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
                    moves,
                )?;
                continue;
            }
            let child = catalog::resolve_table(conn, &table.schema, &fk.child)?;
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
            if nulls_key(moves.orphans, fk, &child) {
                null_keys(
                    conn,
                    &child,
                    fk,
                    &child_rows,
                    &child_alias,
                    &why,
                    quarantine,
                    moves,
                )?;
                continue;
            }
            move_rows(
                conn,
                &child,
                &child_rows,
                &child_alias,
                &why,
                &child_quarantine_name(quarantine, &child.name),
                path,
                moves,
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
    let triggers = TriggersSuspended::engage(conn, &table.schema, &table.name)?;
    let deleted = conn
        .execute(&delete, [])
        .map_err(fail("removing quarantined rows"))? as u64;
    triggers.restore()?;
    if deleted != n {
        return Err(Error::CheckFailed {
            table: table.name.clone(),
            reason: format!(
                "{n} rows were copied into quarantine \"{quarantine}\" but {deleted} removed"
            ),
        });
    }
    match moves
        .moved
        .iter_mut()
        .find(|m| m.same_route(&table.name, quarantine))
    {
        Some(m) => m.add(n),
        None => moves
            .moved
            .insert(listed_at, MovedRows::new(&table.name, quarantine, n)),
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
    match catalog::resolve_table(conn, &table.schema, quarantine) {
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
                reason: format!("cannot be created: {}", sqlite_message(&e)),
            })
        }
        Err(e) => Err(e),
    }
}

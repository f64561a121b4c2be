//! Schema fidelity: every kind of table and dependent survives a rebuild. Each test
//! rebuilds and compares the whole database (every schema row and every table's rows, in
//! main, temp and attached databases) before and after: equal except for the requested
//! change, which is then checked on its own.
//!
//! The tests are grouped by theme in the modules below; the helpers that compare databases
//! are here.

#[path = "../common/mod.rs"]
mod common;
mod conflicts;
mod dependents;
mod drift;
mod dropped_columns;
mod foreign_keys;
mod full_text;
mod in_place_parity;
mod messages;
mod quotes;
mod read_only;
mod regressions;
mod rowids;
mod schemas;
mod statistics;
mod tables;
mod unchanged;
mod usage;

use common::*;
use sqlite_rebuild::rusqlite::types::Value;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{ChildTables, Error, RebuildReport, ScriptOptions, TableRebuild};

/// The snapshot without `db.table` itself: its schema row, the automatic indexes of its
/// constraints (part of its definition), and its rows.
pub(crate) fn without(mut s: Snapshot, db: &str, table: &str) -> Snapshot {
    s.schema.retain(|(kind, name, on, _)| {
        let own = kind == &format!("{db}.table") && name == table;
        let automatic =
            kind == &format!("{db}.index") && on == table && name.starts_with("sqlite_autoindex_");
        !own && !automatic
    });
    s.rows.remove(&format!("{db}.{table}"));
    s
}

/// Runs the rebuild of `db.table` and asserts that nothing but that table changed, and that
/// its stored definition is now `target` (SQLite quotes the name after the rename and
/// drops a schema prefix; both are normalised here).
pub(crate) fn rebuild_changing_only(
    conn: &mut Connection,
    rb: TableRebuild,
    db: &str,
    table: &str,
    target: &str,
) -> RebuildReport {
    let before = normalized(snapshot(conn));
    let report = rb.execute(conn).unwrap_or_else(|e| panic!("{e}"));
    let after = normalized(snapshot(conn));
    assert_same(&without(after, db, table), &without(before, db, table));
    assert_eq!(stored_sql(conn, db, table), unqualified(target));
    assert_eq!(
        conn.query_row(&format!("PRAGMA \"{db}\".integrity_check"), [], |r| r
            .get::<_, String>(0))
            .unwrap(),
        "ok"
    );
    report
}

/// [`rebuild_changing_only`] of a `main` table to `target`, with no other rule.
pub(crate) fn rebuild_main(conn: &mut Connection, table: &str, target: &str) -> RebuildReport {
    rebuild_changing_only(
        conn,
        TableRebuild::new(table).create_sql(target),
        "main",
        table,
        target,
    )
}

pub(crate) fn stored_sql(conn: &Connection, db: &str, table: &str) -> String {
    let sql: String = conn
        .query_row(
            &format!("SELECT sql FROM \"{db}\".sqlite_schema WHERE type = 'table' AND name = ?1"),
            [table],
            |r| r.get(0),
        )
        .unwrap();
    sql.replacen(
        &format!("CREATE TABLE \"{table}\""),
        &format!("CREATE TABLE {table}"),
        1,
    )
}

/// `CREATE TABLE aux.t (...)` as SQLite stores it: `CREATE TABLE t (...)`.
pub(crate) fn unqualified(target: &str) -> String {
    for prefix in ["aux.", "temp.", "main."] {
        if let Some(at) = target.find(prefix) {
            if target[..at].trim_end().ends_with("TABLE") {
                return format!("{}{}", &target[..at], &target[at + prefix.len()..]);
            }
        }
    }
    target.to_owned()
}

pub(crate) fn values(conn: &Connection, sql: &str) -> Vec<Vec<Value>> {
    query_all(conn, sql)
}

pub(crate) fn int_v(n: i64) -> Value {
    Value::Integer(n)
}

/// FTS5's integrity check; `rank = 1` makes it compare the index with the content table.
pub(crate) fn fts_integrity(conn: &Connection, fts: &str) {
    conn.execute(
        &format!("INSERT INTO {fts} ({fts}, rank) VALUES ('integrity-check', 1)"),
        [],
    )
    .unwrap_or_else(|e| panic!("{fts} integrity-check: {e}"));
}

//! Helpers shared by the integration tests: the v3_plans fixture and its downgrade,
//! whole-database snapshots for asserting "exactly as it was", and refusals checked
//! against them.
#![allow(dead_code)]

use sqlite_rebuild::rusqlite::types::Value;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{Error, TableRebuild};
use std::collections::BTreeMap;

pub const V3_SCHEMA: &str = include_str!("../../examples/v3_plans.sql");
pub const V2_PLANS: &str = include_str!("../../examples/v3_plans_v2.sql");
pub const CHILDREN: [&str; 3] = ["plan_projects", "plan_arguments", "plan_invariants"];

/// Phase of plan `i`: three in four are 'action', which the v2 schema rejects.
pub fn phase(i: i64) -> &'static str {
    if i % 4 == 0 {
        "execute"
    } else {
        "action"
    }
}

/// State of plan `i`: 'applied' and 'constrained' are v3-only.
pub fn state(i: i64) -> &'static str {
    ["queued", "applied", "constrained"][(i % 3) as usize]
}

/// The v3 plans database with `plans` plans and one row per plan in each child table.
pub fn plans_db(conn: &Connection, plans: i64) {
    conn.execute_batch(V3_SCHEMA).unwrap();
    conn.execute_batch("BEGIN").unwrap();
    for i in 1..=plans {
        conn.execute(
            "INSERT INTO v3_plans (name, phase, processing_state) VALUES (?1, ?2, ?3)",
            (format!("plan {i}"), phase(i), state(i)),
        )
        .unwrap();
        for (table, col) in [
            ("plan_projects", "project"),
            ("plan_arguments", "argument"),
            ("plan_invariants", "invariant"),
        ] {
            conn.execute(
                &format!("INSERT INTO {table} (plan_id, {col}) VALUES (?1, 'v' || ?1)"),
                [i],
            )
            .unwrap();
        }
    }
    conn.execute_batch("COMMIT").unwrap();
}

/// Everything observable about a database: schema rows of main, temp and every attached
/// database, and every row of every table (with its rowid where it has one), in order.
#[derive(Debug, PartialEq, Clone)]
pub struct Snapshot {
    pub schema: Vec<(String, String, String, Option<String>)>,
    pub rows: BTreeMap<String, Vec<Vec<Value>>>,
}

pub fn snapshot(conn: &Connection) -> Snapshot {
    let mut schema = Vec::new();
    let mut tables = Vec::new();
    let databases: Vec<String> = conn
        .prepare("SELECT name FROM pragma_database_list ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for db in &databases {
        let db = db.as_str();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT type, name, tbl_name, sql FROM \"{db}\".sqlite_schema ORDER BY type, name"
            ))
            .unwrap();
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap();
        for row in rows {
            let row: (String, String, String, Option<String>) = row.unwrap();
            if row.0 == "table" {
                tables.push((db, row.1.clone()));
            }
            schema.push((format!("{db}.{}", row.0), row.1, row.2, row.3));
        }
    }
    let mut rows = BTreeMap::new();
    for (db, table) in tables {
        let wr: bool = conn
            .query_row(
                "SELECT wr FROM pragma_table_list WHERE schema = ?1 AND name = ?2",
                [db, table.as_str()],
                |r| r.get(0),
            )
            .unwrap_or(true);
        let q = format!("\"{db}\".\"{}\"", table.replace('"', "\"\""));
        let all = if wr {
            query_all(conn, &format!("SELECT * FROM {q}"))
        } else {
            rows_by_rowid(conn, db, &table)
        };
        rows.insert(format!("{db}.{table}"), all);
    }
    Snapshot { schema, rows }
}

/// Every row of a rowid table, its rowid first, in rowid order; in slices of columns when
/// there are more than a result set may hold (2000).
fn rows_by_rowid(conn: &Connection, db: &str, table: &str) -> Vec<Vec<Value>> {
    let q = format!("\"{db}\".\"{}\"", table.replace('"', "\"\""));
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_xinfo(?1, ?2) WHERE hidden <> 1 ORDER BY cid")
        .unwrap()
        .query_map([table, db], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    if columns.len() < 1000 {
        return query_all(
            conn,
            &format!("SELECT _rowid_, * FROM {q} ORDER BY _rowid_"),
        );
    }
    let mut rows: Vec<Vec<Value>> = Vec::new();
    for (i, slice) in columns.chunks(1000).enumerate() {
        let list: Vec<String> = slice
            .iter()
            .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
            .collect();
        let part = query_all(
            conn,
            &format!(
                "SELECT _rowid_, {} FROM {q} ORDER BY _rowid_",
                list.join(", ")
            ),
        );
        if i == 0 {
            rows = part;
        } else {
            for (row, more) in rows.iter_mut().zip(part) {
                row.extend(more.into_iter().skip(1));
            }
        }
    }
    rows
}

/// Every row `sql` returns. Text that is not valid UTF-8 is kept distinct, as its bytes.
pub fn query_all(conn: &Connection, sql: &str) -> Vec<Vec<Value>> {
    use sqlite_rebuild::rusqlite::types::ValueRef;
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(v) => Value::Integer(v),
                        ValueRef::Real(v) => Value::Real(v),
                        ValueRef::Text(t) => match std::str::from_utf8(t) {
                            Ok(s) => Value::Text(s.to_owned()),
                            Err(_) => Value::Text(format!("<not UTF-8: {t:02x?}>")),
                        },
                        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                    })
                })
                .collect::<Result<Vec<_>, sqlite_rebuild::rusqlite::Error>>()
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

pub fn count(conn: &Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

pub fn int(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

pub fn text(v: &str) -> Value {
    Value::Text(v.to_owned())
}

pub fn fk_on(conn: &Connection) -> bool {
    conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap()
}

/// The snapshot with the table name in each `CREATE TABLE` unquoted: a rebuilt table's
/// stored statement names it as SQLite writes it after a rename (`CREATE TABLE "t"`). The
/// internal rowids of `sqlite_sequence` rows (which a rebuild rewrites) are left out.
pub fn normalized(mut s: Snapshot) -> Snapshot {
    if let Some(rows) = s.rows.get_mut("main.sqlite_sequence") {
        for r in rows.iter_mut() {
            r.remove(0);
        }
        rows.sort_by_key(|r| format!("{r:?}"));
    }
    for (kind, name, _, sql) in &mut s.schema {
        if kind.ends_with(".table") {
            if let Some(text) = sql {
                let quoted = format!("CREATE TABLE \"{name}\"");
                if let Some(rest) = text.strip_prefix(&quoted) {
                    *text = format!("CREATE TABLE {name}{rest}");
                }
            }
        }
    }
    s
}

/// [`normalized`], with double quotes taken out of every table's statement: a script that
/// copies the children stores their statements as SQLite's rename writes them (names
/// quoted), which is the only difference from `execute()` it may make.
pub fn unquoted(mut s: Snapshot) -> Snapshot {
    for (kind, _, _, sql) in &mut s.schema {
        if kind.ends_with(".table") {
            if let Some(text) = sql {
                *text = text.replace('"', "");
            }
        }
    }
    normalized(s)
}

/// Every row of `table` with its rowid first, in rowid order.
pub fn rows_with_rowid(conn: &Connection, table: &str) -> Vec<Vec<Value>> {
    query_all(
        conn,
        &format!("SELECT rowid, * FROM {table} ORDER BY rowid"),
    )
}

/// Asserts two snapshots are equal, naming the schema rows and tables that differ instead
/// of printing both databases.
pub fn assert_same(actual: &Snapshot, expected: &Snapshot) {
    let schema_diff: Vec<_> = actual
        .schema
        .iter()
        .filter(|r| !expected.schema.contains(r))
        .chain(
            expected
                .schema
                .iter()
                .filter(|r| !actual.schema.contains(r)),
        )
        .collect();
    assert!(schema_diff.is_empty(), "schema differs: {schema_diff:#?}");
    let tables: Vec<&String> = actual
        .rows
        .keys()
        .chain(expected.rows.keys())
        .filter(|t| actual.rows.get(*t) != expected.rows.get(*t))
        .collect();
    if let Some(t) = tables.first() {
        let (a, e) = (actual.rows.get(*t), expected.rows.get(*t));
        let first = a
            .into_iter()
            .flatten()
            .zip(e.into_iter().flatten())
            .find(|(x, y)| x != y);
        panic!(
            "rows of {t} differ: {} vs {} rows; first difference: {first:?}",
            a.map_or(0, Vec::len),
            e.map_or(0, Vec::len)
        );
    }
}

/// Makes rebuilds on this connection take the copy path even for constraint-only changes:
/// `SQLITE_DBCONFIG_DEFENSIVE` forbids the in-place switch of the stored definition.
pub fn copy_only(conn: &Connection) {
    use sqlite_rebuild::rusqlite::config::DbConfig;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
        .unwrap();
}

/// The v3 `CREATE TABLE v3_plans` with one more CHECK, which every fixture row satisfies: a
/// constraint-only change that needs no remapping.
pub fn v3_plans_with_named_check() -> String {
    V3_SCHEMA.split(';').next().unwrap().replace(
        "updated_at TEXT,",
        "updated_at TEXT, CONSTRAINT named CHECK (name <> ''),",
    )
}

/// The story's downgrade: `v3_plans` back to the v2 definition, with no rule.
pub fn downgrade() -> TableRebuild {
    TableRebuild::new("v3_plans").create_sql(V2_PLANS)
}

/// The rules that make every story row fit the v2 definition.
pub fn with_rules(rb: TableRebuild) -> TableRebuild {
    rb.remap("phase", "action", "strategize")
        .remap("processing_state", "applied", "complete")
        .remap("processing_state", "constrained", "complete")
}

/// Runs the rebuild, expects it to be refused, and asserts the database (every schema,
/// every row) is exactly as it was.
pub fn refused(conn: &mut Connection, rb: TableRebuild) -> Error {
    let before = snapshot(conn);
    let err = rb.execute(conn).expect_err("the rebuild must be refused");
    assert_same(&snapshot(conn), &before);
    err
}

/// As [`refused`], through every verb: `validate`, `plan` and `execute` fail with the same
/// error, and foreign key enforcement is as it was.
pub fn refused_by_every_verb(conn: &mut Connection, rb: TableRebuild) -> Error {
    let before = snapshot(conn);
    let fk = fk_on(conn);
    let validate_err = rb.validate(conn).unwrap_err();
    let plan_err = rb.plan(conn).unwrap_err();
    let err = rb.execute(conn).unwrap_err();
    assert_eq!(validate_err.to_string(), err.to_string());
    assert_eq!(plan_err.to_string(), err.to_string());
    assert_same(&snapshot(conn), &before);
    assert_eq!(fk_on(conn), fk);
    err
}

//! The library never panics on any builder input: random (and hostile) table names, target
//! SQL, column expressions, rules, policies and sample sizes, through plan, validate,
//! to_sql and execute. A refused execute leaves the database exactly as it was.
//!
//! 256 cases by default; set `PROPTEST_CASES` for more.

mod common;

use common::*;
use proptest::prelude::*;
use sqlite_rebuild::rusqlite::types::Value;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{OnViolation, TableRebuild};

fn db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, tag TEXT UNIQUE);
         CREATE INDEX items_qty ON items (qty);
         CREATE TABLE child (id INTEGER PRIMARY KEY, item INTEGER REFERENCES items (id));
         CREATE TRIGGER items_t AFTER UPDATE ON items BEGIN SELECT 1; END;
         CREATE VIEW items_v AS SELECT name FROM items;
         INSERT INTO items VALUES (1, 'a', 1, 'x'), (2, NULL, -1, 'y'), (3, 'c', NULL, NULL);
         INSERT INTO child VALUES (10, 1), (11, 2);",
    )
    .unwrap();
    conn
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("items".to_owned()),
        Just("name".to_owned()),
        Just("qty".to_owned()),
        Just("tag".to_owned()),
        Just("id".to_owned()),
        Just("child".to_owned()),
        "[a-z\"'`;\\[\\]() \0-]{0,12}",
        any::<String>(),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::Integer),
        any::<f64>().prop_map(Value::Real),
        "[a-z'\";\0]{0,6}".prop_map(Value::Text),
        proptest::collection::vec(any::<u8>(), 0..4).prop_map(Value::Blob),
    ]
}

/// A column definition: mostly plausible, sometimes garbage.
fn column_def() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("id INTEGER PRIMARY KEY".to_owned()),
        Just("name TEXT".to_owned()),
        Just("name TEXT NOT NULL".to_owned()),
        Just("qty INTEGER CHECK (qty > 0)".to_owned()),
        Just("qty REAL DEFAULT 0".to_owned()),
        Just("tag TEXT UNIQUE COLLATE NOCASE".to_owned()),
        Just("extra TEXT NOT NULL DEFAULT 'e'".to_owned()),
        Just("g INTEGER GENERATED ALWAYS AS (qty * 2)".to_owned()),
        Just("CHECK (name <> 'a')".to_owned()),
        Just("FOREIGN KEY (qty) REFERENCES child (id)".to_owned()),
        word(),
    ]
}

fn target_sql() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (proptest::collection::vec(column_def(), 0..6), "[ ;a-z()\0-]{0,6}", prop::bool::ANY)
            .prop_map(|(cols, tail, strict)| format!(
                "CREATE TABLE items ({}){}{tail}",
                cols.join(", "),
                if strict { " STRICT" } else { "" }
            )),
        1 => any::<String>(),
    ]
}

#[derive(Debug, Clone)]
enum Rule {
    Column(String, String),
    Remap(String, Value, Value),
    Null(String, Value),
    Closure(String),
}

fn rule() -> impl Strategy<Value = Rule> {
    prop_oneof![
        (
            word(),
            prop_oneof![
                Just("qty + 1".to_owned()),
                Just("upper(name)".to_owned()),
                word()
            ]
        )
            .prop_map(|(c, e)| Rule::Column(c, e)),
        (word(), value(), value()).prop_map(|(c, f, t)| Rule::Remap(c, f, t)),
        (word(), value()).prop_map(|(c, v)| Rule::Null(c, v)),
        word().prop_map(Rule::Closure),
    ]
}

fn build(
    table: String,
    sql: Option<String>,
    rules: Vec<Rule>,
    quarantine: Option<Option<String>>,
    sample: usize,
    extra: Option<String>,
) -> TableRebuild {
    let mut rb = TableRebuild::new(table).sample_size(sample);
    if let Some(sql) = sql {
        rb = rb.create_sql(sql);
    }
    for r in rules {
        rb = match r {
            Rule::Column(c, e) => rb.column(c, e),
            Rule::Remap(c, f, t) => rb.remap(c, f, t),
            Rule::Null(c, v) => rb.remap_null(c, v),
            Rule::Closure(c) => rb.remap_with(c, |v| Value::try_from(v).unwrap_or(Value::Null)),
        };
    }
    rb = match quarantine {
        None => rb,
        Some(None) => rb.on_violation(OnViolation::Quarantine),
        Some(Some(name)) => rb.on_violation(OnViolation::QuarantineInto(name)),
    };
    match extra {
        Some(e) if e.len() % 2 == 0 => rb.child(e),
        Some(e) => rb.restore_from(e),
        None => rb,
    }
}

proptest! {
    #[test]
    fn no_input_makes_the_library_panic(
        table in word(),
        sql in proptest::option::weighted(0.95, target_sql()),
        rules in proptest::collection::vec(rule(), 0..4),
        quarantine in proptest::option::of(proptest::option::of(word())),
        sample in 0usize..30,
        extra in proptest::option::weighted(0.2, word()),
    ) {
        let rb = build(table, sql, rules, quarantine, sample, extra);
        let mut conn = db();
        let before = snapshot(&conn);
        let _ = rb.plan(&conn).and_then(|p| p.to_sql());
        let _ = rb.validate(&conn);
        prop_assert_eq!(&snapshot(&conn), &before, "plan and validate change nothing");
        match rb.execute(&mut conn) {
            Ok(_) => {
                let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
                prop_assert_eq!(ok, "ok");
            }
            Err(e) => prop_assert_eq!(&snapshot(&conn), &before, "refused ({}) but changed", e),
        }
        prop_assert!(conn.is_autocommit());
        prop_assert!(fk_on(&conn));
    }
}

//! Hostile input: identifiers and values carrying quotes, `;`, comments, NUL bytes, very
//! long names and injection attempts, and target SQL hiding a second statement. Each is
//! refused with a typed error or handled as data; nothing is ever executed as SQL, and a
//! refusal leaves the database exactly as it was.

mod common;

use common::*;
use sqlite_rebuild::rusqlite::types::Value;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{Error, OnViolation, TableRebuild};

fn db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER);
         INSERT INTO items (name, qty) VALUES ('a', 1), ('b', -2);
         CREATE TABLE unrelated (x);
         INSERT INTO unrelated VALUES (42);",
    )
    .unwrap();
    conn
}

const TARGET: &str = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER)";

/// The rebuild is refused with a typed error (not an SQLite failure) and nothing changes.
fn typed_refusal(rb: TableRebuild) -> Error {
    let err = refused(&mut db(), rb);
    assert!(!matches!(err, Error::Sqlite { .. }), "untyped: {err}");
    err
}

#[test]
fn target_sql_hiding_a_second_statement_is_refused() {
    for sql in [
        format!("{TARGET}; DROP TABLE unrelated"),
        format!("{TARGET};\nDROP TABLE unrelated;"),
        format!("{TARGET} -- comment\n; DROP TABLE unrelated"),
        format!("{TARGET} /* ; */ ; DELETE FROM unrelated"),
        format!("{TARGET};;"),
        format!("{TARGET}\0; DROP TABLE unrelated"),
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER CHECK (qty > 0 OR 1)); DROP TABLE unrelated".to_owned(),
    ] {
        let err = typed_refusal(TableRebuild::new("items").create_sql(sql.clone()));
        assert!(matches!(err, Error::TargetSql { .. }), "{sql:?}: {err}");
    }
}

#[test]
fn comments_inside_one_statement_are_only_comments() {
    let mut conn = db();
    TableRebuild::new("items")
        .create_sql(format!(
            "{TARGET} /* DROP TABLE unrelated; */ -- ; DELETE FROM unrelated"
        ))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(int(&conn, "SELECT x FROM unrelated"), 42);
}

#[test]
fn column_expressions_cannot_smuggle_statements() {
    for expr in [
        "1); DROP TABLE unrelated; --",
        "qty; DROP TABLE unrelated",
        "qty -- ",
        "(SELECT x FROM unrelated), 2",
        "qty)",
        "",
        "\0",
    ] {
        let err = typed_refusal(
            TableRebuild::new("items")
                .create_sql(TARGET)
                .column("qty", expr),
        );
        assert!(
            matches!(err, Error::InvalidExpression { .. }),
            "{expr:?}: {err}"
        );
    }
}

#[test]
fn hostile_names_are_looked_up_as_data() {
    let long = "x".repeat(100_000);
    for name in [
        "items; DROP TABLE unrelated",
        "items\" ; DROP TABLE unrelated; --",
        "items\0",
        "it'ems",
        long.as_str(),
    ] {
        let err = typed_refusal(TableRebuild::new(name).create_sql(TARGET));
        assert!(matches!(err, Error::UnknownTable { .. }), "{err}");
        let err = typed_refusal(TableRebuild::new("items").schema(name).create_sql(TARGET));
        assert!(matches!(err, Error::UnknownTable { .. }), "{err}");
        let err = typed_refusal(
            TableRebuild::new("items")
                .create_sql(TARGET)
                .remap(name, 1, 2),
        );
        assert!(matches!(err, Error::UnknownColumn { .. }), "{err}");
        let err = typed_refusal(TableRebuild::new("items").create_sql(TARGET).child(name));
        assert!(matches!(err, Error::NotAChild { .. }), "{err}");
        let err = typed_refusal(
            TableRebuild::new("items")
                .create_sql(TARGET)
                .restore_from(name),
        );
        assert!(matches!(err, Error::UnknownTable { .. }), "{err}");
    }
}

#[test]
fn hostile_values_and_quarantine_names_are_data() {
    let mut conn = db();
    let nasty = "'); DROP TABLE unrelated; --\0\"`[]";
    let quarantine = "q\"; DROP TABLE unrelated; --";
    let report = TableRebuild::new("items")
        .create_sql(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER CHECK (qty >= 0))",
        )
        .remap("name", "a", nasty)
        .remap_null("name", nasty)
        .on_violation(OnViolation::QuarantineInto(quarantine.to_owned()))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(report.quarantined()[0].to_table(), quarantine);
    assert_eq!(
        query_all(&conn, "SELECT name FROM items"),
        vec![vec![Value::Text(nasty.to_owned())]]
    );
    assert_eq!(
        count(&conn, "\"q\"\"; DROP TABLE unrelated; --\""),
        1,
        "the quarantine table carries the name as given"
    );
    assert_eq!(int(&conn, "SELECT x FROM unrelated"), 42);

    // The same values rendered into a script stay literals.
    let conn = db();
    let script = TableRebuild::new("items")
        .create_sql(TARGET)
        .remap("name", "b", nasty)
        .plan(&conn)
        .unwrap()
        .to_sql()
        .unwrap();
    conn.execute_batch(&script).unwrap();
    assert_eq!(
        query_all(&conn, "SELECT name FROM items ORDER BY id"),
        vec![vec![text("a")], vec![Value::Text(nasty.to_owned())]]
    );
    assert_eq!(int(&conn, "SELECT x FROM unrelated"), 42);
}

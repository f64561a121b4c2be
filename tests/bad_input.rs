//! Bad input is a typed error naming what is wrong, and changes nothing.

mod common;

use common::*;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{Error, TableRebuild};

fn db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER);
         INSERT INTO items (name, qty) VALUES ('a', 1), ('b', 2);
         CREATE TABLE unrelated (x);
         CREATE VIEW items_view AS SELECT * FROM items;
         CREATE VIRTUAL TABLE docs USING fts5(body);
         ANALYZE;",
    )
    .unwrap();
    conn
}

const GOOD: &str =
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER CHECK (qty > 0))";

/// Runs the rebuild through execute, validate and plan; each must fail the same way and
/// leave the database exactly as it was.
fn refused(rb: TableRebuild) -> Error {
    let mut conn = db();
    let err = refused_by_every_verb(&mut conn, rb);
    assert!(fk_on(&conn));
    err
}

#[test]
fn unknown_table() {
    let err = refused(TableRebuild::new("nope").create_sql("CREATE TABLE nope (a)"));
    assert!(
        matches!(&err, Error::UnknownTable { table, schema } if table == "nope" && schema == "main"),
        "{err}"
    );
}

#[test]
fn views_virtual_and_internal_tables_are_not_rebuildable() {
    for (name, kind) in [
        ("items_view", "view"),
        ("docs", "virtual table"),
        ("docs_data", "shadow table"),
        ("sqlite_stat1", "internal"),
    ] {
        let err = refused(TableRebuild::new(name).create_sql(format!("CREATE TABLE {name} (a)")));
        match &err {
            Error::NotRebuildable { table, kind: k } => {
                assert_eq!(table, name);
                assert!(k.contains(kind), "{k}");
            }
            other => panic!("{name}: {other}"),
        }
    }
}

#[test]
fn missing_target_sql() {
    let err = refused(TableRebuild::new("items"));
    assert!(matches!(err, Error::MissingTargetSql { .. }), "{err}");
}

#[test]
fn target_sql_for_another_table() {
    let err = refused(
        TableRebuild::new("items").create_sql("CREATE TABLE things (id INTEGER PRIMARY KEY)"),
    );
    let Error::TargetSql { table, reason } = &err else {
        panic!("{err}")
    };
    assert_eq!(table, "items");
    assert!(reason.contains("\"things\""), "{reason}");
}

#[test]
fn target_sql_syntax_error_names_sqlites_message() {
    let err = refused(
        TableRebuild::new("items")
            .create_sql("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL,)"),
    );
    let Error::TargetSql { reason, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        reason.contains("syntax error") || reason.contains("empty definition"),
        "{reason}"
    );
}

#[test]
fn target_sql_with_more_than_one_statement() {
    for sql in [
        format!("{GOOD}; DROP TABLE unrelated"),
        format!("{GOOD}; /* hidden */ DELETE FROM items;"),
        "CREATE TABLE items (a); CREATE TABLE items2 (b)".to_owned(),
    ] {
        let err = refused(TableRebuild::new("items").create_sql(sql.clone()));
        let Error::TargetSql { reason, .. } = &err else {
            panic!("{sql}: {err}")
        };
        assert!(reason.contains("statement"), "{reason}");
    }
}

#[test]
fn target_sql_that_is_not_create_table() {
    for sql in [
        "CREATE VIEW items AS SELECT 1",
        "DROP TABLE items",
        "CREATE TABLE items AS SELECT * FROM unrelated",
        "",
    ] {
        let err = refused(TableRebuild::new("items").create_sql(sql));
        assert!(matches!(err, Error::TargetSql { .. }), "{sql}: {err}");
    }
}

#[test]
fn target_in_another_schema() {
    let err = refused(
        TableRebuild::new("items").create_sql("CREATE TEMP TABLE items (id INTEGER PRIMARY KEY)"),
    );
    let Error::TargetSql { reason, .. } = &err else {
        panic!("{err}")
    };
    assert!(reason.contains("temp"), "{reason}");
}

#[test]
fn trailing_semicolon_and_comment_are_fine() {
    let mut conn = db();
    TableRebuild::new("items")
        .create_sql(format!("{GOOD}; -- v2"))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(count(&conn, "items"), 2);
}

#[test]
fn remap_naming_an_unknown_column() {
    let err = refused(
        TableRebuild::new("items")
            .create_sql(GOOD)
            .remap("colour", "red", "blue"),
    );
    let Error::UnknownColumn { column, rule, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((column.as_str(), rule.as_str()), ("colour", "remap"));
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn column_rule_naming_an_unknown_column() {
    let err = refused(
        TableRebuild::new("items")
            .create_sql(GOOD)
            .column("weight", "qty * 2"),
    );
    let Error::UnknownColumn { column, rule, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((column.as_str(), rule.as_str()), ("weight", "column"));
}

#[test]
fn column_expression_that_does_not_compile() {
    let err = refused(
        TableRebuild::new("items")
            .create_sql(GOOD)
            .column("qty", "no_such_col + 1"),
    );
    let Error::InvalidExpression { column, reason, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(column, "qty");
    assert!(reason.contains("no_such_col"), "{reason}");
}

#[test]
fn column_expression_smuggling_a_statement() {
    let err = refused(
        TableRebuild::new("items")
            .create_sql(GOOD)
            .column("qty", "1); DROP TABLE unrelated; --"),
    );
    assert!(matches!(err, Error::InvalidExpression { .. }), "{err}");
}

#[test]
fn not_null_without_default_and_no_source() {
    let err = refused(TableRebuild::new("items").create_sql(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER, sku TEXT NOT NULL)",
    ));
    let Error::MissingSource { column, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(column, "sku");
    assert!(
        err.to_string().contains(".column(\"sku\""),
        "the error says what to do: {err}"
    );
}

#[test]
fn new_column_with_default_or_expression_is_fine() {
    let mut conn = db();
    TableRebuild::new("items")
        .create_sql("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER, sku TEXT NOT NULL, note TEXT NOT NULL DEFAULT 'n/a')")
        .column("sku", "'SKU-' || id")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        query_all(&conn, "SELECT sku, note FROM items ORDER BY id"),
        vec![
            vec![text("SKU-1"), text("n/a")],
            vec![text("SKU-2"), text("n/a")]
        ]
    );
}

#[test]
fn declared_child_that_does_not_reference_the_table() {
    let err = refused(
        TableRebuild::new("items")
            .create_sql(GOOD)
            .child("unrelated"),
    );
    assert!(
        matches!(&err, Error::NotAChild { child, .. } if child == "unrelated"),
        "{err}"
    );
    let err = refused(
        TableRebuild::new("items")
            .create_sql(GOOD)
            .child("no_such_table"),
    );
    assert!(
        matches!(&err, Error::NotAChild { child, .. } if child == "no_such_table"),
        "{err}"
    );
}

#[test]
fn execute_inside_an_open_transaction_is_refused() {
    let mut conn = db();
    conn.execute_batch("BEGIN; INSERT INTO unrelated VALUES (1);")
        .unwrap();
    let before = snapshot(&conn);
    let err = TableRebuild::new("items")
        .create_sql(GOOD)
        .execute(&mut conn)
        .unwrap_err();
    assert!(matches!(err, Error::TransactionOpen), "{err}");
    assert!(
        !conn.is_autocommit(),
        "the caller's transaction is left open"
    );
    assert_eq!(snapshot(&conn), before);
    conn.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn journal_mode_off_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("db")).unwrap();
    conn.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER); PRAGMA journal_mode = OFF;").unwrap();
    let err = TableRebuild::new("items")
        .create_sql(GOOD)
        .execute(&mut conn)
        .unwrap_err();
    assert!(matches!(err, Error::NoJournal { .. }), "{err}");
}

#[test]
fn hostile_identifiers_and_values_are_data() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        r#"CREATE TABLE "my ""odd"" table" ("select" INTEGER PRIMARY KEY, "col with space" TEXT, "ORDER" TEXT);
           INSERT INTO "my ""odd"" table" VALUES (1, 'x''); DROP TABLE t; --', 'a'), (2, 'b', 'c');
           CREATE INDEX "idx ""q""" ON "my ""odd"" table" ("col with space");"#,
    )
    .unwrap();
    let report = TableRebuild::new("my \"odd\" table")
        .create_sql(r#"CREATE TABLE "my ""odd"" table" ("select" INTEGER PRIMARY KEY, "col with space" TEXT NOT NULL, "ORDER" TEXT CHECK ("ORDER" <> 'a'))"#)
        .remap("ORDER", "a", "'); DROP TABLE x; --")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(report.rows_copied(), 2);
    assert_eq!(
        query_all(
            &conn,
            r#"SELECT "col with space", "ORDER" FROM "my ""odd"" table" ORDER BY 1"#
        ),
        vec![
            vec![text("b"), text("c")],
            vec![text("x'); DROP TABLE t; --"), text("'); DROP TABLE x; --")]
        ]
    );
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM sqlite_schema WHERE name = 'idx \"q\"'"
        ),
        1
    );
}

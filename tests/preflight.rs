//! One preflight for every verb: a database whose journal is off cannot roll back, so each
//! verb refuses a schema it writes whose journal is off, before anything is written:
//! `execute` and `execute_in` the table's schema and `temp` (where TEMP triggers live),
//! `validate` and `plan` only `temp` (where their dry run works), so they still work when
//! only the table's journal is off. Every schema, every row, is exactly as before.

mod common;

use common::*;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{Error, TableRebuild};

fn downgrade() -> TableRebuild {
    with_rules(common::downgrade())
}

/// The story on `conn`, with something in `temp` too: a TEMP trigger on the table (a
/// rebuild recreates it in `temp`) and a TEMP table with a row.
fn story(conn: &Connection) {
    plans_db(conn, 50);
    conn.execute_batch(
        "CREATE TEMP TABLE scratchpad (x); INSERT INTO scratchpad VALUES (1);
         CREATE TEMP TRIGGER v3_plans_seen AFTER INSERT ON main.v3_plans
         BEGIN INSERT INTO scratchpad VALUES (new.id); END;",
    )
    .unwrap();
}

/// Sets the journal modes with `pragmas`, checking SQLite took them.
fn journal(conn: &Connection, pragmas: &str, main: &str, temp: &str) {
    for pragma in pragmas.split(';').filter(|p| !p.trim().is_empty()) {
        conn.query_row(pragma, [], |_| Ok(())).unwrap();
    }
    let mode = |schema: &str| -> String {
        conn.query_row(&format!("PRAGMA {schema}.journal_mode"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!((mode("main").as_str(), mode("temp").as_str()), (main, temp));
}

/// Every verb refuses with `NoJournal`, the dry runs naming `temp` and the rebuilds
/// `schema` (the first they write), and nothing changes.
fn every_verb_refuses(conn: &mut Connection, schema: &str) {
    let before = snapshot(conn);
    let no_journal = |e: Error| match e {
        Error::NoJournal { schema: s } if s == "temp" => {}
        other => panic!("expected NoJournal for temp, got {other:?}"),
    };
    no_journal(downgrade().validate(conn).unwrap_err());
    assert_same(&snapshot(conn), &before);
    no_journal(downgrade().plan(conn).unwrap_err());
    assert_same(&snapshot(conn), &before);
    rebuilds_refuse(conn, schema);
}

/// The dry runs work and change nothing; the rebuilds refuse with `NoJournal` naming
/// `schema`, and nothing changes.
fn only_rebuilds_refuse(conn: &mut Connection, schema: &str) {
    let before = snapshot(conn);
    assert!(downgrade().validate(conn).unwrap().is_ok());
    assert!(!common::downgrade().validate(conn).unwrap().is_ok());
    assert!(downgrade().plan(conn).unwrap().to_sql().is_ok());
    assert_same(&snapshot(conn), &before);
    rebuilds_refuse(conn, schema);
}

fn rebuilds_refuse(conn: &mut Connection, schema: &str) {
    let before = snapshot(conn);
    let no_journal = |e: Error| match e {
        Error::NoJournal { schema: s } if s == schema => {}
        other => panic!("expected NoJournal for {schema}, got {other:?}"),
    };
    no_journal(downgrade().execute(conn).unwrap_err());
    assert_same(&snapshot(conn), &before);
    let tx = conn.transaction().unwrap();
    no_journal(downgrade().execute_in(&tx).unwrap_err());
    tx.commit().unwrap();
    assert_same(&snapshot(conn), &before);
    assert!(conn.is_autocommit());
}

#[test]
fn main_journal_off_on_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("plans.db")).unwrap();
    story(&conn);
    journal(&conn, "PRAGMA main.journal_mode = OFF", "off", "delete");
    only_rebuilds_refuse(&mut conn, "main");
    // Reopened, the file holds the story as it was: no scratch or probe table.
    drop(conn);
    let conn = Connection::open(dir.path().join("plans.db")).unwrap();
    let stray = int(
        &conn,
        "SELECT count(*) FROM sqlite_schema WHERE name GLOB 'v3_plans__*'",
    );
    assert_eq!(stray, 0);
    assert_eq!(count(&conn, "v3_plans"), 50);
}

#[test]
fn only_temp_journal_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("plans.db")).unwrap();
    story(&conn);
    journal(&conn, "PRAGMA temp.journal_mode = OFF", "delete", "off");
    every_verb_refuses(&mut conn, "temp");
}

#[test]
fn every_journal_off_and_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("plans.db")).unwrap();
    story(&conn);
    // Without a schema name the pragma sets every database's mode.
    journal(&conn, "PRAGMA journal_mode = OFF", "off", "off");
    every_verb_refuses(&mut conn, "main");

    let mut conn = Connection::open_in_memory().unwrap();
    story(&conn);
    journal(&conn, "PRAGMA journal_mode = OFF", "off", "off");
    every_verb_refuses(&mut conn, "main");
}

#[test]
fn an_attached_table_with_its_journal_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute(
        "ATTACH ?1 AS aux",
        [dir.path().join("aux.db").display().to_string()],
    )
    .unwrap();
    conn.execute_batch(
        "CREATE TABLE aux.t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO aux.t VALUES (1, 'x');",
    )
    .unwrap();
    conn.query_row("PRAGMA aux.journal_mode = OFF", [], |_| Ok(()))
        .unwrap();
    let before = snapshot(&conn);
    let rb = TableRebuild::new("t")
        .schema("aux")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    assert!(rb.validate(&conn).unwrap().is_ok());
    rb.plan(&conn).unwrap();
    let err = rb.execute(&mut conn).unwrap_err();
    assert!(
        matches!(&err, Error::NoJournal { schema } if schema == "aux"),
        "{err:?}"
    );
    assert_same(&snapshot(&conn), &before);
    // Another attached database's journal does not matter.
    conn.query_row("PRAGMA aux.journal_mode = DELETE", [], |_| Ok(()))
        .unwrap();
    conn.execute("ATTACH ':memory:' AS other", []).unwrap();
    conn.query_row("PRAGMA other.journal_mode = OFF", [], |_| Ok(()))
        .unwrap();
    rb.execute(&mut conn).unwrap();
}

#[test]
fn every_other_journal_mode_works() {
    for mode in ["delete", "truncate", "persist", "memory", "wal"] {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("plans.db")).unwrap();
        story(&conn);
        let set: String = conn
            .query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(set, mode);
        let before = snapshot(&conn);
        // A dry run and a plan change nothing; then the rebuild goes through.
        assert!(downgrade().validate(&conn).unwrap().is_ok());
        downgrade().plan(&conn).unwrap();
        assert_same(&snapshot(&conn), &before);
        let report = downgrade().execute(&mut conn).unwrap();
        assert_eq!(report.rows_copied(), 50, "{mode}");
    }
}

#[test]
fn execute_in_a_transaction_that_has_ended_is_refused() {
    let mut conn = Connection::open_in_memory().unwrap();
    story(&conn);
    let before = snapshot(&conn);
    let tx = conn.transaction().unwrap();
    // SQLite, or the caller, ended the transaction behind the framework's back.
    tx.execute_batch("ROLLBACK").unwrap();
    let err = downgrade().execute_in(&tx).unwrap_err();
    assert!(matches!(err, Error::TransactionEnded), "{err:?}");
    drop(tx);
    assert!(conn.is_autocommit());
    assert_same(&snapshot(&conn), &before);
}

#[test]
fn execute_inside_an_open_transaction_is_refused_first() {
    // The transaction state is the first thing the preflight checks: even an unknown table
    // is reported as the open transaction.
    let mut conn = Connection::open_in_memory().unwrap();
    story(&conn);
    conn.execute_batch("BEGIN").unwrap();
    let err = TableRebuild::new("nope")
        .create_sql("CREATE TABLE nope (a)")
        .execute(&mut conn)
        .unwrap_err();
    assert!(matches!(err, Error::TransactionOpen), "{err:?}");
    conn.execute_batch("ROLLBACK").unwrap();
}

//! Nothing to do is nothing done: a target that is the table's current definition, with
//! nothing else asked, writes nothing (no schema_version bump, the stored text and the file
//! untouched), reads no row, and says so.

use super::*;
use sqlite_rebuild::rusqlite::OpenFlags;
use sqlite_rebuild::{Strategy, TableSnapshot};
use std::sync::{Arc, Mutex};

const T: &str = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL CHECK (v <> ''))";

fn file_db(dir: &std::path::Path) -> Connection {
    let conn = Connection::open(dir.join("t.db")).unwrap();
    conn.execute_batch(&format!(
        "{T}; CREATE INDEX t_v ON t (v); INSERT INTO t VALUES (1, 'a'), (2, 'b');"
    ))
    .unwrap();
    conn
}

fn schema_version(conn: &Connection) -> i64 {
    int(conn, "PRAGMA schema_version")
}

#[test]
fn the_same_definition_changes_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = file_db(dir.path());
    // The same statement, written with other spacing and a comment.
    let same =
        "CREATE TABLE t (id INTEGER PRIMARY KEY,   v TEXT NOT NULL /* kept */ CHECK (v <> ''))";
    let plan = TableRebuild::new("t").create_sql(same).plan(&conn).unwrap();
    assert_eq!(plan.strategy(), Strategy::Unchanged);
    assert!(plan.steps().is_empty(), "{plan}");
    let watcher =
        Connection::open_with_flags(dir.path().join("t.db"), OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let data_version = int(&watcher, "PRAGMA data_version");
    let bytes = std::fs::read(dir.path().join("t.db")).unwrap();
    let version = schema_version(&conn);
    let before = snapshot(&conn);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let report = TableRebuild::new("t")
        .create_sql(same)
        .on_progress(move |p| log.lock().unwrap().push(p.phase()))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(report.strategy(), Strategy::Unchanged);
    assert!(!report.in_place());
    assert!(
        report.to_string().starts_with("nothing to do for \"t\""),
        "{report}"
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "no row was counted or copied"
    );
    assert_eq!(schema_version(&conn), version);
    assert_eq!(snapshot(&conn), before);
    assert_eq!(
        stored_sql(&conn, "main", "t"),
        T,
        "the stored text is the user's"
    );
    assert_eq!(int(&watcher, "PRAGMA data_version"), data_version);
    drop(conn);
    assert_eq!(std::fs::read(dir.path().join("t.db")).unwrap(), bytes);
}

#[test]
fn a_rebuild_back_to_a_snapshot_of_itself_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = file_db(dir.path());
    let now = TableSnapshot::capture(&conn, "t").unwrap();
    let version = schema_version(&conn);
    let report = TableRebuild::from_snapshot(&now)
        .execute(&mut conn)
        .unwrap();
    assert_eq!(report.strategy(), Strategy::Unchanged);
    assert_eq!(schema_version(&conn), version);
}

#[test]
fn anything_asked_besides_is_something_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let conn = file_db(dir.path());
    let rb = TableRebuild::new("t").create_sql(T);
    for (what, rb) in [
        (
            "a rule, even one matching no row",
            rb.clone().remap("v", "zzz", "y"),
        ),
        ("a column expression", rb.clone().column("v", "v || ''")),
        ("a dependent to drop", rb.clone().drop_dependent("t_v")),
        (
            "another way of writing a type",
            TableRebuild::new("t").create_sql(T.replace("TEXT", "text")),
        ),
    ] {
        assert_ne!(
            rb.plan(&conn).unwrap().strategy(),
            Strategy::Unchanged,
            "{what}"
        );
    }
}

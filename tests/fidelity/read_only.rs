//! A dry run is read-only: `validate` and `plan` work on a connection opened with
//! `SQLITE_OPEN_READ_ONLY`, take no write lock (another connection may hold it meanwhile),
//! commit nothing (another connection's `PRAGMA data_version` does not move), and say what
//! a writable connection's would say: the same report, the same script, the same refusals.

use super::*;
use sqlite_rebuild::rusqlite::OpenFlags;
use sqlite_rebuild::DependentKind;
use std::path::{Path, PathBuf};

/// The story in a file, with a view and a trigger over the plans.
fn story_file(dir: &Path) -> PathBuf {
    let path = dir.join("plans.db");
    let conn = Connection::open(&path).unwrap();
    plans_db(&conn, 60);
    conn.execute_batch(
        "CREATE TABLE log (x);
         CREATE VIEW plan_names AS SELECT id, name FROM v3_plans;
         CREATE TRIGGER plans_log AFTER UPDATE ON v3_plans BEGIN INSERT INTO log VALUES (new.id); END;",
    )
    .unwrap();
    path
}

fn read_only(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn data_version(conn: &Connection) -> i64 {
    int(conn, "PRAGMA data_version")
}

/// Each verb's outcome, as text: the report, the script, or the error.
fn dry_runs(conn: &Connection, rb: &TableRebuild) -> (String, String) {
    let validated = match rb.validate(conn) {
        Ok(report) => format!("{report}"),
        Err(e) => format!("error: {e}"),
    };
    let planned = match rb.plan(conn) {
        Ok(plan) => plan
            .to_sql()
            .unwrap_or_else(|e| format!("not renderable: {e}")),
        Err(e) => format!("error: {e}"),
    };
    (validated, planned)
}

/// Rebuilds of several kinds: refused rows, fitting rows, a renamed column, a dependent the
/// target breaks, children a key change orphans, a constraint-only change.
fn cases() -> Vec<(&'static str, TableRebuild)> {
    let v2_with_title = V2_PLANS.replace("name TEXT", "title TEXT");
    vec![
        ("refused rows", downgrade()),
        ("fitting rows", with_rules(downgrade())),
        (
            "a renamed column",
            with_rules(TableRebuild::new("v3_plans").create_sql(v2_with_title.clone()))
                .column("title", "name"),
        ),
        (
            "a view the target breaks",
            with_rules(
                TableRebuild::new("v3_plans")
                    .create_sql(V2_PLANS.replace("name TEXT NOT NULL,", ""))
                    .drop_column("name"),
            ),
        ),
        (
            "a constraint-only change",
            TableRebuild::new("v3_plans").create_sql(v3_plans_with_named_check()),
        ),
    ]
}

#[test]
fn validate_and_plan_on_a_read_only_connection_say_what_a_writable_one_says() {
    let dir = tempfile::tempdir().unwrap();
    let path = story_file(dir.path());
    let writable = Connection::open(&path).unwrap();
    let ro = read_only(&path);
    let before = snapshot(&writable);
    let file_before = std::fs::read(&path).unwrap();
    for (what, rb) in cases() {
        let expected = dry_runs(&writable, &rb);
        assert_eq!(dry_runs(&ro, &rb), expected, "{what}");
        // And the dry run says what execute finds, on a copy of the file.
        let copy_path = dir.path().join("copy.db");
        std::fs::copy(&path, &copy_path).unwrap();
        let mut copy = Connection::open(&copy_path).unwrap();
        match (rb.validate(&ro), rb.execute(&mut copy)) {
            (Ok(report), Ok(_)) => assert!(report.is_ok(), "{what}: {report}"),
            (Ok(report), Err(Error::Violations(found))) => assert_eq!(report, found, "{what}"),
            (Err(e), Err(found)) => assert_eq!(e.to_string(), found.to_string(), "{what}"),
            (validated, executed) => panic!("{what}: validate {validated:?}, execute {executed:?}"),
        }
    }
    assert_same(&snapshot(&writable), &before);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        file_before,
        "the file is byte for byte as it was"
    );
}

#[test]
fn a_dependent_the_target_breaks_is_refused_by_name_on_a_read_only_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = story_file(dir.path());
    let ro = read_only(&path);
    // The story's own view over the name goes; the one added here is then named.
    let rb = with_rules(
        TableRebuild::new("v3_plans")
            .create_sql(V2_PLANS.replace("name TEXT NOT NULL,", ""))
            .drop_column("name")
            .drop_dependent("active_plans"),
    );
    for err in [rb.validate(&ro).unwrap_err(), rb.plan(&ro).unwrap_err()] {
        assert!(
            matches!(&err, Error::DependentBroken { kind: DependentKind::View, name, .. } if name == "plan_names"),
            "{err:?}"
        );
    }
    assert!(rb
        .drop_dependent("plan_names")
        .validate(&ro)
        .unwrap()
        .is_ok());
}

#[test]
fn a_dry_run_takes_no_write_lock_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = story_file(dir.path());
    let conn = Connection::open(&path).unwrap();
    let other = Connection::open(&path).unwrap();
    let version = data_version(&other);
    for (what, rb) in cases() {
        let _ = rb.validate(&conn);
        let _ = rb.plan(&conn);
        assert_eq!(
            data_version(&other),
            version,
            "{what}: another connection saw a commit"
        );
    }
    // Another connection holds the write lock, with a write not yet committed: the dry runs
    // still run (they would be SQLITE_BUSY at once if they wanted the lock).
    other
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO log VALUES ('held');")
        .unwrap();
    assert!(with_rules(downgrade()).validate(&conn).unwrap().is_ok());
    assert!(!downgrade().validate(&conn).unwrap().is_ok());
    with_rules(downgrade()).plan(&conn).unwrap();
    // The PRAGMA, not busy_timeout(): rusqlite 0.43's handler API needs SQLite 3.44.
    let mut writer = Connection::open(&path).unwrap();
    writer.pragma_update(None, "busy_timeout", 0).unwrap();
    let err = with_rules(downgrade()).execute(&mut writer).unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err:?}");
    other.execute_batch("ROLLBACK").unwrap();
}

/// A key change that children cannot follow (an expression computes the key) orphans them:
/// the dry run on a read-only connection finds it as `execute` does; a remap they follow
/// passes.
#[test]
fn children_a_key_change_orphans_are_found_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let mut conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT UNIQUE);
         CREATE TABLE c (id INTEGER PRIMARY KEY, code TEXT UNIQUE REFERENCES p (code));
         CREATE TABLE g (id INTEGER PRIMARY KEY, code TEXT REFERENCES c (code));
         INSERT INTO p VALUES (1, 'a'), (2, 'b');
         INSERT INTO c VALUES (1, 'a'), (2, 'b'), (3, NULL);",
    )
    .unwrap();
    let ro = read_only(&path);
    let target = "CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT UNIQUE CHECK (code <> ''))";
    let computed = TableRebuild::new("p")
        .create_sql(target)
        .column("code", "upper(code)");
    let err = computed.validate(&ro).unwrap_err();
    assert!(
        matches!(&err, Error::CheckFailed { reason, .. } if reason.contains("2 rows of child \"c\"")),
        "{err:?}"
    );
    assert_eq!(err.to_string(), refused(&mut conn, computed).to_string());
    let followed = TableRebuild::new("p")
        .create_sql(target)
        .remap("code", "a", "z");
    assert!(followed.validate(&ro).unwrap().is_ok());
    followed.execute(&mut conn).unwrap();
    assert_eq!(
        values(&conn, "SELECT code FROM c ORDER BY id"),
        vec![vec![text("z")], vec![text("b")], vec![Value::Null]]
    );
}

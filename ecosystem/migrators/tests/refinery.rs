//! refinery runs a rendered script as a migration: each in a transaction of its own, on a
//! rusqlite connection whose foreign keys are on (the bundled SQLite's default).

use refinery::{Migration, Runner};
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild_migrators::*;

const PLANS: i64 = 200;

fn migrations(conn: &Connection, with_rules: bool) -> Vec<Migration> {
    let script = downgrade(with_rules).plan(conn).unwrap().to_sql().unwrap();
    vec![
        Migration::unapplied("V1__v3_plans", V3_SCHEMA).unwrap(),
        Migration::unapplied("V2__downgrade_plans", &script).unwrap(),
    ]
}

/// The store at version 1, filled.
fn store() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("store.db")).unwrap();
    let first = [Migration::unapplied("V1__v3_plans", V3_SCHEMA).unwrap()];
    Runner::new(&first).run(&mut conn).unwrap();
    fill(&conn, PLANS).unwrap();
    (dir, conn)
}

fn versions(conn: &Connection) -> Vec<i64> {
    conn.prepare("SELECT version FROM refinery_schema_history ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn the_downgrade_runs_as_a_refinery_migration_with_foreign_keys_on() {
    let (_dir, mut conn) = store();
    let fk: bool = conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert!(fk);
    let all = migrations(&conn, true);
    let report = Runner::new(&all).run(&mut conn).unwrap();
    assert_eq!(report.applied_migrations().len(), 1);
    assert_downgraded(&conn, PLANS);
    assert_eq!(versions(&conn), vec![1, 2]);
}

#[test]
fn violating_rows_fail_the_migration_and_nothing_changes() {
    let (_dir, mut conn) = store();
    let before = dump(&conn);
    let all = migrations(&conn, false);
    let err = Runner::new(&all).run(&mut conn).unwrap_err().to_string();
    assert!(err.contains("ck_v3_plans_phase"), "{err}");
    assert!(conn.is_autocommit());
    assert_eq!(dump(&conn), before);
    assert_eq!(versions(&conn), vec![1]);
}

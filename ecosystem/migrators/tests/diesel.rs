//! diesel_migrations runs a rendered script as a migration directory's `up.sql`: each
//! migration in a transaction, foreign keys on. diesel's transaction manager cannot follow
//! a transaction that a statement rolled back (`RAISE(ROLLBACK)`): its own rollback then
//! fails with "Cannot perform this operation outside of a transaction", hiding the guard's
//! message. So the script for diesel is rendered `without_transaction()`: its guards fail
//! their statement (`RAISE(ABORT)`) and diesel rolls back its own transaction.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel::Connection as _;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::ScriptOptions;
use sqlite_rebuild_migrators::*;
use std::path::Path;

const PLANS: i64 = 200;

fn migration(dir: &Path, name: &str, up: &str, down: &str) {
    let m = dir.join("migrations").join(name);
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("up.sql"), up).unwrap();
    std::fs::write(m.join("down.sql"), down).unwrap();
}

/// The store at its first migration, filled, with the downgrade rendered as the second.
fn store(dir: &Path, with_rules: bool) -> (SqliteConnection, Connection) {
    let db = dir.join("store.db");
    let mut diesel = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    diesel::sql_query("PRAGMA foreign_keys = ON")
        .execute(&mut diesel)
        .unwrap();
    migration(dir, "2026-01-01-000001_v3_plans", V3_SCHEMA, "SELECT 1;");
    let migrations = FileBasedMigrations::from_path(dir.join("migrations")).unwrap();
    diesel.run_pending_migrations(migrations).unwrap();
    let conn = Connection::open(&db).unwrap();
    fill(&conn, PLANS).unwrap();
    let script = downgrade(with_rules)
        .plan(&conn)
        .unwrap()
        .to_sql_with(&ScriptOptions::new().without_transaction())
        .unwrap();
    migration(
        dir,
        "2026-01-02-000001_downgrade_plans",
        &script,
        "SELECT 1;",
    );
    (diesel, conn)
}

fn versions(conn: &Connection) -> Vec<String> {
    conn.prepare("SELECT version FROM __diesel_schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    foreign_keys: i32,
}

#[test]
fn the_downgrade_runs_as_a_diesel_migration_with_foreign_keys_on() {
    let dir = tempfile::tempdir().unwrap();
    let (mut diesel, conn) = store(dir.path(), true);
    let flag: Flag = diesel::sql_query("PRAGMA foreign_keys")
        .get_result(&mut diesel)
        .unwrap();
    assert_eq!(flag.foreign_keys, 1);
    let migrations = FileBasedMigrations::from_path(dir.path().join("migrations")).unwrap();
    let ran = diesel.run_pending_migrations(migrations).unwrap();
    assert_eq!(ran.len(), 1);
    assert_downgraded(&conn, PLANS);
    assert_eq!(versions(&conn), vec!["20260101000001", "20260102000001"]);
}

#[test]
fn violating_rows_fail_the_migration_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut diesel, conn) = store(dir.path(), false);
    let before = dump(&conn);
    let migrations = FileBasedMigrations::from_path(dir.path().join("migrations")).unwrap();
    let err = diesel
        .run_pending_migrations(migrations)
        .unwrap_err()
        .to_string();
    assert!(err.contains("ck_v3_plans_phase"), "{err}");
    assert_eq!(dump(&conn), before);
    assert_eq!(versions(&conn), vec!["20260101000001"]);
}

/// The default script (its guards roll back) is refused just as safely inside diesel, but
/// with diesel's message instead of the guard's.
#[test]
fn the_default_script_is_refused_too_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut diesel, conn) = store(dir.path(), false);
    let script = downgrade(false).plan(&conn).unwrap().to_sql().unwrap();
    migration(
        dir.path(),
        "2026-01-02-000001_downgrade_plans",
        &script,
        "SELECT 1;",
    );
    let before = dump(&conn);
    let migrations = FileBasedMigrations::from_path(dir.path().join("migrations")).unwrap();
    assert!(diesel.run_pending_migrations(migrations).is_err());
    assert_eq!(dump(&conn), before);
    assert_eq!(versions(&conn), vec!["20260101000001"]);
}

//! sqlx's own migrator (`sqlx::migrate::Migrator`) runs a rendered script as a migration
//! file: on SQLite it opens a transaction per migration and its connections turn foreign
//! keys on, where `PRAGMA foreign_keys = OFF` does nothing (sqlx issue 2085). The default
//! script needs neither; the children stay whole and the migration is recorded. A script
//! that finds violating rows fails the migration, and nothing changes.

use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild_migrators::*;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use std::path::Path;

const PLANS: i64 = 200;

async fn pool(db: &Path) -> SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(db)
                .create_if_missing(true),
        )
        .await
        .unwrap()
}

/// A store created by sqlx's first migration and filled; the downgrade rendered into the
/// second migration's file.
async fn store(dir: &Path, with_rules: bool) -> (SqlitePool, std::path::PathBuf) {
    let migrations = dir.join("migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(migrations.join("0001_v3_plans.sql"), V3_SCHEMA).unwrap();
    let db = dir.join("store.db");
    let pool = pool(&db).await;
    Migrator::new(migrations.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let conn = Connection::open(&db).unwrap();
    fill(&conn, PLANS).unwrap();
    let script = downgrade(with_rules).plan(&conn).unwrap().to_sql().unwrap();
    std::fs::write(migrations.join("0002_downgrade_plans.sql"), script).unwrap();
    (pool, db)
}

fn applied(conn: &Connection) -> Vec<(i64, bool)> {
    conn.prepare("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_downgrade_runs_as_a_sqlx_migration_with_foreign_keys_on() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, db) = store(dir.path(), true).await;
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(fk, 1, "sqlx's SQLite connections enforce foreign keys");
    let migrator = Migrator::new(dir.path().join("migrations").as_path())
        .await
        .unwrap();
    migrator.run(&pool).await.unwrap();

    let conn = Connection::open(&db).unwrap();
    assert_downgraded(&conn, PLANS);
    let stored: String = conn
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'v3_plans'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!stored.contains("'action'"), "{stored}");
    assert_eq!(applied(&conn), vec![(1, true), (2, true)]);
    let violations: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(violations, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn violating_rows_fail_the_migration_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, db) = store(dir.path(), false).await;
    let before = dump(&Connection::open(&db).unwrap());
    let migrator = Migrator::new(dir.path().join("migrations").as_path())
        .await
        .unwrap();
    let err = migrator.run(&pool).await.unwrap_err().to_string();
    assert!(err.contains("ck_v3_plans_phase"), "{err}");
    let conn = Connection::open(&db).unwrap();
    assert_eq!(dump(&conn), before);
    assert_eq!(applied(&conn), vec![(1, true)]);
}

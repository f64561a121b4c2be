//! Inside rusqlite_migration: `M::up_with_hook` calls `execute_in` on the migration's
//! transaction, on a connection with `foreign_keys=ON`.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::*;
use rusqlite_migration::{HookError, Migrations, M};
use sqlite_rebuild::rusqlite::config::DbConfig;
use sqlite_rebuild::rusqlite::{Connection, Transaction};
use sqlite_rebuild::TableRebuild;

const PLANS: i64 = 120;

fn downgrade() -> TableRebuild {
    TableRebuild::new("v3_plans").create_sql(V2_PLANS)
}

fn with_rules(rb: TableRebuild) -> TableRebuild {
    rb.remap("phase", "action", "strategize")
        .remap("processing_state", "applied", "complete")
        .remap("processing_state", "constrained", "complete")
}

fn hook(rb: TableRebuild) -> impl Fn(&Transaction) -> Result<(), HookError> + Clone {
    move |tx: &Transaction| {
        rb.execute_in(tx)
            .map(drop)
            .map_err(|e| HookError::Hook(e.to_string()))
    }
}

/// A v3 database that release 1's migration created and the application filled.
fn released_db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.pragma_update(None, "foreign_keys", true).unwrap();
    plans_db(&conn, PLANS);
    conn.pragma_update(None, "user_version", 1).unwrap();
    conn
}

fn children(conn: &Connection) -> Vec<Vec<Vec<sqlite_rebuild::rusqlite::types::Value>>> {
    CHILDREN
        .iter()
        .map(|t| query_all(conn, &format!("SELECT * FROM {t} ORDER BY id")))
        .collect()
}

#[test]
fn hook_rebuilds_in_the_migration_transaction_and_the_foreign_key_check_passes() {
    let mut conn = released_db();
    let children_before = children(&conn);
    assert_eq!(children_before[0].len(), PLANS as usize);

    Migrations::new(vec![
        M::up(V3_SCHEMA),
        // The migration's own SQL runs first, in the same transaction as the hook.
        M::up_with_hook(
            "UPDATE plan_projects SET project = upper(project) WHERE plan_id = 1",
            hook(with_rules(downgrade())),
        )
        .foreign_key_check(),
        // rusqlite_migration checks foreign keys before a migration's hook, so the check that
        // sees the rebuilt table is the next migration's.
        M::up("CREATE INDEX plan_projects_by_plan ON plan_projects (plan_id)").foreign_key_check(),
    ])
    .to_latest(&mut conn)
    .unwrap();

    assert_eq!(int(&conn, "PRAGMA user_version"), 3);
    assert!(fk_on(&conn), "the caller's foreign_keys=ON is back");
    assert!(query_all(&conn, "PRAGMA foreign_key_check").is_empty());
    // Every child row intact (only the migration's own UPDATE changed one), no cascade ran
    // and no child trigger fired.
    let mut expected = children_before;
    expected[0][0][2] = text("V1");
    assert_eq!(children(&conn), expected);
    assert_eq!(int(&conn, "SELECT count(*) FROM plan_events"), 0);
    // The downgrade happened: rows remapped, the v2 CHECK in force.
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM v3_plans WHERE phase = 'strategize'"
        ),
        (1..=PLANS).filter(|i| phase(*i) == "action").count() as i64
    );
    let err = conn
        .execute("UPDATE v3_plans SET phase = 'action' WHERE id = 2", [])
        .unwrap_err();
    assert!(err.to_string().contains("ck_v3_plans_phase"), "{err}");
}

#[test]
fn the_frameworks_foreign_key_check_would_catch_an_orphan() {
    // Control: the check the previous test relies on does fail on a broken child.
    let mut conn = released_db();
    let before = snapshot(&conn);
    let orphan = |tx: &Transaction| -> Result<(), HookError> {
        tx.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY, false)?;
        tx.execute_batch("INSERT INTO plan_projects (plan_id, project) VALUES (9999, 'x')")?;
        tx.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY, true)?;
        Ok(())
    };
    let err = Migrations::new(vec![
        M::up(V3_SCHEMA),
        M::up_with_hook("", orphan),
        M::up("").foreign_key_check(),
    ])
    .to_latest(&mut conn)
    .unwrap_err();
    assert!(
        matches!(&err, rusqlite_migration::Error::ForeignKeyCheck(rows) if rows.len() == 1),
        "{err}"
    );
    assert!(
        err.to_string().contains("in table 'plan_projects'"),
        "{err}"
    );
    assert_eq!(snapshot(&conn), before);
}

#[test]
fn a_refused_rebuild_rolls_the_whole_migration_back() {
    let mut conn = released_db();
    let before = snapshot(&conn);
    let err = Migrations::new(vec![
        M::up(V3_SCHEMA),
        M::up_with_hook(
            "INSERT INTO plan_events VALUES (0, 'migration 2 started')",
            hook(downgrade()),
        ),
    ])
    .to_latest(&mut conn)
    .unwrap_err();
    let rusqlite_migration::Error::Hook(message) = &err else {
        panic!("expected the hook's error, got {err}");
    };
    // The refusal's report reaches the framework's error with its exact counts.
    let bad_phase = (1..=PLANS).filter(|i| phase(*i) == "action").count();
    assert!(
        message.contains(&format!("CHECK ck_v3_plans_phase: {bad_phase} rows")),
        "{message}"
    );
    // The migration's SQL and the rebuild are both undone; user_version is still 1.
    assert_eq!(snapshot(&conn), before);
    assert_eq!(int(&conn, "PRAGMA user_version"), 1);
    assert!(fk_on(&conn));
}

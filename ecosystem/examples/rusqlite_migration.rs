//! A rebuild inside a migration framework: `rusqlite_migration`'s `M::up_with_hook` calls
//! `execute_in` on the migration's own transaction, on a connection with `foreign_keys=ON`.
//!
//! Migration 1 creates the v3 schema and the application fills it; a later release adds
//! migration 2, which downgrades `v3_plans` in its hook, and migration 3, whose
//! `foreign_key_check()` runs the framework's `PRAGMA foreign_key_check` after the rebuild
//! in the same transaction: every child row still finds its plan.
//!
//! Run from the repository's root with
//! `cargo run --manifest-path ecosystem/Cargo.toml --example rusqlite_migration`.

use rusqlite_migration::{HookError, Migrations, M};
use sqlite_rebuild::rusqlite::{Connection, Transaction};
use sqlite_rebuild::TableRebuild;
use sqlite_rebuild_ecosystem::{V2_PLANS, V3_SCHEMA};

/// 100 plans, most in values the v2 schema rejects, each with a project.
const SEED: &str = "
    INSERT INTO v3_plans (name, phase, processing_state)
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
        SELECT 'plan ' || i,
               CASE WHEN i % 4 = 0 THEN 'execute' ELSE 'action' END,
               CASE i % 3 WHEN 0 THEN 'queued' WHEN 1 THEN 'applied' ELSE 'constrained' END
        FROM n;
    INSERT INTO plan_projects (plan_id, project) SELECT id, 'project ' || id FROM v3_plans;";

/// The downgrade as a migration hook: errors become the framework's `HookError`, so the
/// framework rolls the whole migration back.
fn downgrade_plans(tx: &Transaction) -> Result<(), HookError> {
    let report = TableRebuild::new("v3_plans")
        .create_sql(V2_PLANS)
        .remap("phase", "action", "strategize")
        .remap("processing_state", "applied", "complete")
        .remap("processing_state", "constrained", "complete")
        .execute_in(tx)
        .map_err(|e| HookError::Hook(e.to_string()))?;
    print!("{report}");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let dir = tempfile::tempdir()?;
    let mut conn = Connection::open(dir.path().join("plans.db"))?;
    // Applications switch foreign keys on; the bundled SQLite already starts with them on.
    conn.pragma_update(None, "foreign_keys", true)?;

    // Release 1 of the application: the v3 schema, then months of use.
    Migrations::new(vec![M::up(V3_SCHEMA)]).to_latest(&mut conn)?;
    conn.execute_batch(SEED)?;

    // Release 2: the downgrade in a hook, then a migration that checks foreign keys.
    let migrations = Migrations::new(vec![
        M::up(V3_SCHEMA),
        M::up_with_hook("", downgrade_plans),
        M::up("CREATE INDEX plan_projects_by_plan ON plan_projects (plan_id)").foreign_key_check(),
    ]);
    migrations.to_latest(&mut conn)?;

    let (version, phase, projects, fk_on): (i64, String, i64, bool) = conn.query_row(
        "SELECT (SELECT user_version FROM pragma_user_version),
                (SELECT phase FROM v3_plans WHERE name = 'plan 1'),
                (SELECT count(*) FROM plan_projects),
                (SELECT foreign_keys FROM pragma_foreign_keys)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    println!("user_version {version}; plan 1's phase is now '{phase}'");
    println!("plan_projects: {projects} rows intact; foreign_keys still {fk_on}");
    assert_eq!(
        (version, phase.as_str(), projects, fk_on),
        (3, "strategize", 100, true)
    );
    Ok(())
}

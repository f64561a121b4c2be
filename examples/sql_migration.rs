//! A rebuild for frameworks that only take SQL text (refinery, diesel, sqlx, plain `.sql`
//! files): the plan is rendered with `RebuildPlan::to_sql` into a migration file, then run the
//! way such a framework runs one, with `execute_batch` inside its own transaction.
//!
//! The rendered script validates every row before anything is written and rolls back with a
//! message naming the problem when a row would not fit, so a bad migration file cannot leave
//! the database half-migrated.
//!
//! Run with `cargo run --example sql_migration`.

use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::TableRebuild;
use std::path::Path;

const V3_SCHEMA: &str = include_str!("v3_plans.sql");
const V2_PLANS: &str = include_str!("v3_plans_v2.sql");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("plans.db");
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations)?;

    let mut conn = Connection::open(&db)?;
    conn.execute_batch(V3_SCHEMA)?;
    conn.execute_batch(
        "INSERT INTO v3_plans (name, phase, processing_state)
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
             SELECT 'plan ' || i, CASE WHEN i % 4 = 0 THEN 'execute' ELSE 'action' END,
                    CASE i % 3 WHEN 0 THEN 'queued' WHEN 1 THEN 'applied' ELSE 'constrained' END
             FROM n;
         INSERT INTO plan_projects (plan_id, project) SELECT id, 'project ' || id FROM v3_plans;",
    )?;

    // At development time: render the migration files from a copy of the schema.
    let forgot_rules = TableRebuild::new("v3_plans").create_sql(V2_PLANS);
    std::fs::write(
        migrations.join("V2__downgrade_plans_unsafe.sql"),
        forgot_rules.plan(&conn)?.to_sql()?,
    )?;
    let with_rules = forgot_rules
        .remap("phase", "action", "strategize")
        .remap("processing_state", "applied", "complete")
        .remap("processing_state", "constrained", "complete");
    let script = with_rules.plan(&conn)?.to_sql()?;
    std::fs::write(migrations.join("V2__downgrade_plans.sql"), &script)?;
    println!("== migrations/V2__downgrade_plans.sql ==\n{script}");

    // At deployment: the framework runs a file in a transaction; foreign keys are switched
    // off first, as the script's header asks (SQLite ignores that pragma inside one).
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    println!("== running the file rendered without rules ==");
    match run_migration(
        &mut conn,
        &migrations.join("V2__downgrade_plans_unsafe.sql"),
    ) {
        Err(e) => println!("refused: {e}"),
        Ok(()) => return Err("expected the guard to refuse".into()),
    }
    let action: i64 = conn.query_row(
        "SELECT count(*) FROM v3_plans WHERE phase = 'action'",
        [],
        |r| r.get(0),
    )?;
    println!("plans still in phase 'action': {action} (nothing changed)\n");

    println!("== running the file rendered with rules ==");
    run_migration(&mut conn, &migrations.join("V2__downgrade_plans.sql"))?;
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    let (plans, projects, orphans): (i64, i64, i64) = conn.query_row(
        "SELECT (SELECT count(*) FROM v3_plans), (SELECT count(*) FROM plan_projects),
                (SELECT count(*) FROM pragma_foreign_key_check)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    println!("done: {plans} plans, {projects} projects, {orphans} foreign key violations");
    assert_eq!((plans, projects, orphans), (100, 100, 0));
    Ok(())
}

/// What refinery and friends do with a migration file: one transaction around the text.
fn run_migration(conn: &mut Connection, file: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let sql = std::fs::read_to_string(file)?;
    let tx = conn.transaction()?;
    tx.execute_batch(&sql)?;
    tx.commit()?;
    Ok(())
}

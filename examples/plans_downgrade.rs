//! The `v3_plans` downgrade: narrower CHECK constraints while most rows hold values they
//! reject. First refused with a report (nothing changes), then done with remapping rules,
//! with every child row, the index, the triggers and the view intact.
//!
//! Run with `cargo run --example plans_downgrade` (add `RUST_LOG=debug` to see each statement).

use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{Error, TableRebuild};

const V3_SCHEMA: &str = include_str!("v3_plans.sql");
const V2_PLANS: &str = include_str!("v3_plans_v2.sql");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let dir = tempfile::tempdir()?;
    let mut conn = Connection::open(dir.path().join("plans.db"))?;
    conn.execute_batch(V3_SCHEMA)?;
    seed(&conn, 1_000)?;
    let children_before = child_rows(&conn)?;
    println!("v3 database: 1000 plans, {children_before} child rows");

    let downgrade = TableRebuild::new("v3_plans")
        .create_sql(V2_PLANS)
        .child("plan_projects")
        .child("plan_arguments")
        .child("plan_invariants")
        .sample_size(3);

    println!("\n== downgrade without remapping rules ==");
    match downgrade.execute(&mut conn) {
        Err(Error::Violations(report)) => println!("{report}"),
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }
    assert_eq!(
        child_rows(&conn)?,
        children_before,
        "a refusal changes nothing"
    );

    println!("\n== the plan with remapping rules ==");
    let downgrade = downgrade
        .remap("phase", "action", "strategize")
        .remap("processing_state", "applied", "complete")
        .remap("processing_state", "constrained", "complete");
    println!("{}", downgrade.plan(&conn)?);

    println!("== downgrade with remapping rules ==");
    let report = downgrade.execute(&mut conn)?;
    println!("{report}");

    let children_after = child_rows(&conn)?;
    let active: i64 = conn.query_row("SELECT count(*) FROM active_plans", [], |r| r.get(0))?;
    let fk_on: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    println!("child rows: {children_before} before, {children_after} after");
    println!(
        "view active_plans: {active} rows; foreign_keys still {}",
        if fk_on { "ON" } else { "OFF" }
    );
    assert_eq!(children_after, children_before);
    Ok(())
}

/// Plans mostly in the v3-only phase 'action' and states 'applied' / 'constrained'.
fn seed(conn: &Connection, plans: i64) -> sqlite_rebuild::rusqlite::Result<()> {
    conn.execute_batch("BEGIN")?;
    for i in 1..=plans {
        let phase = if i % 4 == 0 { "execute" } else { "action" };
        let state = ["queued", "applied", "constrained"][(i % 3) as usize];
        conn.execute(
            "INSERT INTO v3_plans (name, phase, processing_state) VALUES (?1, ?2, ?3)",
            (format!("plan {i}"), phase, state),
        )?;
        for table in ["plan_projects", "plan_arguments", "plan_invariants"] {
            conn.execute(
                &format!(
                    "INSERT INTO {table} (plan_id, {}) VALUES (?1, 'x')",
                    child_column(table)
                ),
                [i],
            )?;
        }
    }
    conn.execute_batch("COMMIT")
}

fn child_column(table: &str) -> &'static str {
    match table {
        "plan_projects" => "project",
        "plan_arguments" => "argument",
        _ => "invariant",
    }
}

fn child_rows(conn: &Connection) -> sqlite_rebuild::rusqlite::Result<i64> {
    conn.query_row(
        "SELECT (SELECT count(*) FROM plan_projects) + (SELECT count(*) FROM plan_arguments)
              + (SELECT count(*) FROM plan_invariants)",
        [],
        |r| r.get(0),
    )
}

//! Peak memory (RSS) and time of a rebuild against the hand-written SQL doing the same
//! work, for BENCHMARKS.md (one run each: criterion's benches give the timing medians). Linux only: it reads `VmHWM` from `/proc/self/status`, after resetting it
//! (`/proc/self/clear_refs`) once the fixture is built, so only the rebuild is measured.
//!
//! ```sh
//! cargo run --release --example peak_memory -- crate 1000000
//! cargo run --release --example peak_memory -- hand 1000000
//! ```
//!
//! Each run is its own process, so one side's allocations cannot hide the other's. Two more
//! sides measure the crate's other verbs on the same fixture: `validate` (the dry run with
//! the rules) and `refusal` (`execute` without them: most rows violate).

use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::TableRebuild;

const V3_SCHEMA: &str = include_str!("v3_plans.sql");
const V2_PLANS: &str = include_str!("v3_plans_v2.sql");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let side = args.next().unwrap_or_else(|| "crate".into());
    let plans: u64 = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let conn = Connection::open(dir.path().join("plans.db"))?;
    conn.execute_batch(V3_SCHEMA)?;
    conn.execute_batch(&format!(
        "BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {plans})
         INSERT INTO v3_plans (id, name, phase, processing_state)
             SELECT i, 'plan ' || i, CASE WHEN i % 4 = 0 THEN 'execute' ELSE 'action' END,
                    CASE i % 3 WHEN 0 THEN 'queued' WHEN 1 THEN 'applied' ELSE 'constrained' END
             FROM n;
         INSERT INTO plan_projects (plan_id, project) SELECT id, 'p' FROM v3_plans;
         INSERT INTO plan_arguments (plan_id, argument) SELECT id, 'a' FROM v3_plans;
         INSERT INTO plan_invariants (plan_id, invariant) SELECT id, 'i' FROM v3_plans;
         COMMIT;"
    ))?;
    // A fresh connection, so the fixture's page cache is not counted either.
    drop(conn);
    let mut conn = Connection::open(dir.path().join("plans.db"))?;
    std::fs::write("/proc/self/clear_refs", "5")?;
    let before = peak_kib()?;
    let started = std::time::Instant::now();
    let downgrade = TableRebuild::new("v3_plans").create_sql(V2_PLANS);
    let with_rules = downgrade
        .clone()
        .remap("phase", "action", "strategize")
        .remap("processing_state", "applied", "complete")
        .remap("processing_state", "constrained", "complete");
    match side.as_str() {
        "crate" => {
            with_rules.execute(&mut conn)?;
        }
        "validate" => {
            let report = with_rules.validate(&conn)?;
            assert!(report.is_ok(), "{report}");
        }
        "refusal" => {
            downgrade
                .execute(&mut conn)
                .expect_err("without rules, most rows violate");
        }
        "hand" => hand_written(&conn)?,
        other => {
            return Err(
                format!("side must be crate, validate, refusal or hand, not {other}").into(),
            )
        }
    }
    let elapsed = started.elapsed();
    let peak = peak_kib()?;
    println!(
        "{side} {plans} plans: {elapsed:.2?}, peak RSS {peak} KiB ({before} KiB before the rebuild)"
    );
    Ok(())
}

/// The copy and swap by hand, with the same rules as CASE expressions.
fn hand_written(conn: &Connection) -> Result<(), Box<dyn std::error::Error>> {
    let body = V2_PLANS
        .trim_start()
        .strip_prefix("CREATE TABLE v3_plans")
        .ok_or("unexpected v2 text")?;
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = OFF;
         BEGIN;
         CREATE TABLE v3_plans__new {body};
         INSERT INTO v3_plans__new (id, name, phase, processing_state, updated_at)
             SELECT id, name,
                    CASE WHEN phase IS 'action' THEN 'strategize' ELSE phase END,
                    CASE WHEN processing_state IS 'applied' THEN 'complete'
                         WHEN processing_state IS 'constrained' THEN 'complete'
                         ELSE processing_state END,
                    updated_at
             FROM v3_plans;
         DROP TABLE v3_plans;
         PRAGMA legacy_alter_table = ON;
         ALTER TABLE v3_plans__new RENAME TO v3_plans;
         PRAGMA legacy_alter_table = OFF;
         CREATE INDEX v3_plans_by_phase ON v3_plans (phase, processing_state);
         CREATE TRIGGER v3_plans_phase_changed AFTER UPDATE OF phase ON v3_plans
         BEGIN
             INSERT INTO plan_events (plan_id, event) VALUES (new.id, 'phase:' || new.phase);
         END;
         COMMIT;
         PRAGMA foreign_keys = ON;"
    ))?;
    Ok(())
}

fn peak_kib() -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("malformed VmHWM")?
        .parse()?)
}

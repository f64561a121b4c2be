//! A terminal progress bar (indicatif) for a 1M-row rebuild, fed by `on_progress`.
//!
//! Run with `cargo run --release --example progress_bar` (`-- 200000` for fewer rows).

use indicatif::{ProgressBar, ProgressStyle};
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{Phase, TableRebuild};
use std::sync::Mutex;

const V3_SCHEMA: &str = include_str!("v3_plans.sql");
const V2_PLANS: &str = include_str!("v3_plans_v2.sql");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let plans: u64 = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let mut conn = Connection::open(dir.path().join("plans.db"))?;
    conn.execute_batch(V3_SCHEMA)?;
    eprintln!("creating {plans} plans ...");
    conn.execute_batch(&format!(
        "BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {plans})
         INSERT INTO v3_plans (id, name, phase, processing_state)
             SELECT i, 'plan ' || i, CASE WHEN i % 4 = 0 THEN 'execute' ELSE 'action' END,
                    CASE i % 3 WHEN 0 THEN 'queued' WHEN 1 THEN 'applied' ELSE 'constrained' END
             FROM n;
         INSERT INTO plan_projects (plan_id, project) SELECT id, 'project' FROM v3_plans;
         COMMIT;"
    ))?;

    let style = ProgressStyle::with_template(
        "{prefix:>9} [{elapsed_precise}] {bar:40.cyan/blue} {pos:>8}/{len:8} {msg}",
    )?;
    // One bar per phase: a new one starts when the phase changes.
    let current: Mutex<Option<(Phase, ProgressBar)>> = Mutex::new(None);
    let report = TableRebuild::new("v3_plans")
        .create_sql(V2_PLANS)
        .remap("phase", "action", "strategize")
        .remap("processing_state", "applied", "complete")
        .remap("processing_state", "constrained", "complete")
        .on_progress(move |p| {
            let mut current = current.lock().unwrap();
            if current.as_ref().map(|(phase, _)| *phase) != Some(p.phase()) {
                if let Some((_, bar)) = current.take() {
                    bar.finish();
                }
                let bar = ProgressBar::new(p.total()).with_style(style.clone());
                bar.set_prefix(p.phase().to_string());
                *current = Some((p.phase(), bar));
            }
            if let Some((_, bar)) = current.as_ref() {
                bar.set_length(p.total());
                bar.set_position(p.done());
                if p.done() == p.total() {
                    bar.finish();
                }
            }
        })
        .execute(&mut conn)?;
    println!("{report}");
    Ok(())
}

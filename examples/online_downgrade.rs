//! The v3_plans downgrade run online while the application keeps writing: a writer thread
//! inserts and renames plans every 2 ms through its own connection, and reports the
//! longest it had to wait, during `execute` and then during `execute_online`.
//!
//! Run with `cargo run --release --example online_downgrade` (`-- 1000000` for more plans).

use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{OnlineOptions, Phase, TableRebuild};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const V3_SCHEMA: &str = include_str!("v3_plans.sql");
const V2_PLANS: &str = include_str!("v3_plans_v2.sql");

fn downgrade() -> TableRebuild {
    TableRebuild::new("v3_plans")
        .create_sql(V2_PLANS)
        .remap("phase", "action", "strategize")
        .remap("processing_state", "applied", "complete")
        .remap("processing_state", "constrained", "complete")
}

fn open(path: &Path) -> Result<Connection, sqlite_rebuild::rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.execute_batch("PRAGMA busy_timeout = 60000; PRAGMA synchronous = NORMAL")?;
    Ok(conn)
}

fn create(path: &Path, plans: u64) -> Result<(), Box<dyn std::error::Error>> {
    let conn = open(path)?;
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch(V3_SCHEMA)?;
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
    Ok(())
}

/// Runs `rebuild` while a writer writes every 2 ms; returns the writer's longest wait.
fn with_a_writer(
    path: &Path,
    plans: u64,
    rebuild: impl FnOnce(&mut Connection) -> Result<(), sqlite_rebuild::Error>,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (path, stop) = (path.to_owned(), stop.clone());
        std::thread::spawn(
            move || -> Result<Duration, sqlite_rebuild::rusqlite::Error> {
                let conn = open(&path)?;
                let mut longest = Duration::ZERO;
                let mut k: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    conn.execute(
                    "INSERT INTO v3_plans (name, phase, processing_state) VALUES ('new', 'execute', 'queued')",
                    [],
                )?;
                    conn.execute(
                        "UPDATE v3_plans SET name = name || '+' WHERE id = ?1",
                        [((k * 7_919) % plans + 1) as i64],
                    )?;
                    longest = longest.max(started.elapsed());
                    k += 1;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Ok(longest)
            },
        )
    };
    let mut conn = open(path)?;
    let result = rebuild(&mut conn);
    stop.store(true, Ordering::Relaxed);
    let longest = writer.join().map_err(|_| "the writer panicked")??;
    result?;
    Ok(longest)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let plans: u64 = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(300_000);
    let dir = tempfile::tempdir()?;
    for online in [false, true] {
        let path = dir.path().join(format!("plans-{online}.db"));
        eprintln!("creating {plans} plans ...");
        create(&path, plans)?;
        let started = Instant::now();
        let longest = with_a_writer(&path, plans, |conn| {
            if online {
                let last = Mutex::new(None);
                downgrade()
                    .on_progress(move |p| {
                        let mut last = last.lock().unwrap();
                        if *last != Some(p.phase()) && p.phase() != Phase::Checks {
                            eprintln!("  {} (of {})", p.phase(), p.total());
                            *last = Some(p.phase());
                        }
                    })
                    .execute_online(conn, &OnlineOptions::default())
                    .map(drop)
            } else {
                downgrade().execute(conn).map(drop)
            }
        })?;
        println!(
            "{}: {:.2} s; the writer's longest wait for one insert and one update: {} ms",
            if online { "execute_online" } else { "execute" },
            started.elapsed().as_secs_f64(),
            longest.as_millis()
        );
    }
    Ok(())
}

//! What the application's writers wait during a rebuild of the v3_plans story (N plans and
//! 3N rows in each child table, a WAL database): one writer on a connection of its own
//! writes at a steady rate while the table is rebuilt by the hand-written SQL, by
//! `execute` (one transaction) and by `execute_online`. Each write's wait counts from the
//! moment it was due, so the writes queued behind a held lock count too (no coordinated
//! omission). Reported: p50, p99 and max wait of the writes due during the rebuild, the
//! rebuild's total time and its ratio to the hand-written SQL's in the same run.
//!
//! Not criterion: criterion times a function over many iterations, while this measures a
//! distribution of another thread's waits during one long operation. Each figure is one
//! run on a fresh copy of one template.
//!
//! N = 1 000 000 by default (the figure; ~2 x 254 MiB in $TMPDIR, a few minutes);
//! `SQLITE_REBUILD_BENCH_PLANS=N` for another size; `SQLITE_REBUILD_BENCH_SMOKE=1` for
//! N = 20 000 (CI: it checks that everything runs and every result is right).

mod common;

use common::*;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{OnlineOptions, Phase};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One write every `INTERVAL`: 200 writes a second.
const INTERVAL: Duration = Duration::from_millis(5);

fn plans() -> i64 {
    let on = |var: &str| std::env::var(var).is_ok_and(|v| !v.is_empty() && v != "0");
    if on("SQLITE_REBUILD_BENCH_SMOKE") {
        return 20_000;
    }
    std::env::var("SQLITE_REBUILD_BENCH_PLANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn open(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    // The pragma: clippy.toml keeps rusqlite's busy_timeout out (it needs SQLite 3.44+).
    conn.execute_batch("PRAGMA busy_timeout = 60000; PRAGMA synchronous = NORMAL")
        .unwrap();
    conn
}

/// Write `k` of the writer: a new plan, a renamed plan, a new child row, in turn. Each
/// fits both the old and the new definition.
fn write(conn: &Connection, k: i64, n: i64) {
    match k % 3 {
        0 => conn.execute(
            "INSERT INTO v3_plans (id, name, phase, processing_state) VALUES (?1, 'new', 'execute', 'queued')",
            [10_000_000 + k],
        ),
        1 => conn.execute(
            "UPDATE v3_plans SET name = name || '+' WHERE id = ?1",
            [(k * 7_919) % n + 1],
        ),
        _ => conn.execute(
            "INSERT INTO plan_projects (plan_id, project) VALUES (?1, 'w')",
            [(k * 104_729) % n + 1],
        ),
    }
    .unwrap();
}

struct Waits {
    /// (due since the writer started, wait) of every write.
    writes: Vec<(Duration, Duration)>,
    count: i64,
}

/// Writes at the steady rate until `stop`; each wait from the moment the write was due.
fn writer(path: PathBuf, n: i64, stop: Arc<AtomicBool>, started: Instant) -> Waits {
    let conn = open(&path);
    let mut writes = Vec::new();
    let mut k = 0i64;
    while !stop.load(Ordering::Relaxed) {
        let due = started + INTERVAL * k as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        write(&conn, k, n);
        writes.push((due - started, due.elapsed()));
        k += 1;
    }
    Waits { writes, count: k }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

struct Outcome {
    name: &'static str,
    /// For an online rebuild: how long each phase took, and in which the longest wait
    /// began.
    phases: Option<(Vec<(Phase, Duration)>, Phase)>,
    total: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
    writes: usize,
}

/// A fresh copy of the template, the writer started, `rebuild` run on a connection of its
/// own, the writer stopped; then the result checked.
fn measure(
    name: &'static str,
    template: &Path,
    n: i64,
    rebuild: impl FnOnce(&mut Connection) -> Vec<(Phase, Instant)>,
) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    std::fs::copy(template, &path).unwrap();
    let mut conn = open(&path);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let thread = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || writer(path, n, stop, started))
    };
    // The writer's own pace first.
    std::thread::sleep(Duration::from_millis(500));
    let from = started.elapsed();
    let timeline = rebuild(&mut conn);
    let to = started.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let waits = thread.join().unwrap();
    let during_writes: Vec<(Duration, Duration)> = waits
        .writes
        .iter()
        .filter(|(due, _)| *due >= from && *due <= to)
        .copied()
        .collect();
    let mut during: Vec<Duration> = during_writes.iter().map(|(_, wait)| *wait).collect();
    during.sort_unstable();
    let phases = (!timeline.is_empty()).then(|| {
        let end = started + to;
        let spans: Vec<(Phase, Duration)> = timeline
            .iter()
            .enumerate()
            .map(|(i, (phase, at))| {
                let next = timeline.get(i + 1).map_or(end, |(_, t)| *t);
                (*phase, next - *at)
            })
            .collect();
        let longest = during_writes.iter().max_by_key(|(_, wait)| *wait);
        let at = longest.map_or(started, |(due, _)| started + *due);
        let phase = timeline
            .iter()
            .rev()
            .find(|(_, t)| *t <= at)
            .map_or(timeline[0].0, |(p, _)| *p);
        (spans, phase)
    });
    check(&conn, n, waits.count);
    Outcome {
        name,
        phases,
        total: to - from,
        p50: percentile(&during, 0.5),
        p99: percentile(&during, 0.99),
        max: during.last().copied().unwrap_or_default(),
        writes: during.len(),
    }
}

/// The rebuild happened, whole, and kept every write.
fn check(conn: &Connection, n: i64, writes: i64) {
    let int = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    let new_plans = (writes + 2) / 3;
    assert_eq!(int("SELECT count(*) FROM v3_plans"), n + new_plans);
    assert_eq!(
        int("SELECT count(*) FROM v3_plans WHERE phase = 'action' OR processing_state IN ('applied', 'constrained')"),
        0
    );
    // The v2 definition, which has no 'action' phase.
    assert_eq!(
        int("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'v3_plans' AND sql NOT LIKE '%''action''%'"),
        1
    );
    assert_eq!(
        int("SELECT count(*) FROM plan_projects"),
        3 * n + writes / 3
    );
    assert_eq!(int("SELECT count(*) FROM pragma_foreign_key_check"), 0);
    assert_eq!(
        int("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'sqlite-rebuild%' OR name LIKE '%rebuild%'"),
        0
    );
    let ok: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn main() {
    // `cargo bench` passes --bench; a filter is not supported.
    let n = plans();
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template.db");
    let built = Instant::now();
    build_template(&template, n, STORY_PHASE, STORY_STATE);
    {
        let conn = Connection::open(&template).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
    eprintln!(
        "template of {n} plans built in {:.1} s",
        built.elapsed().as_secs_f64()
    );
    let hand_sql = hand_written_sql();
    // The moments the online rebuild entered each phase (the cut-over's transaction
    // reports its indexes and checks; they count as the cut-over).
    let online = |conn: &mut Connection, options: OnlineOptions| {
        let timeline = Arc::new(std::sync::Mutex::new(Vec::<(Phase, Instant)>::new()));
        let seen = timeline.clone();
        story_rebuild()
            .on_progress(move |p| {
                let phase = match p.phase() {
                    Phase::Indexes | Phase::Checks => Phase::CutOver,
                    other => other,
                };
                let mut seen = seen.lock().unwrap();
                if seen.last().map(|(p, _)| *p) != Some(phase) {
                    seen.push((phase, Instant::now()));
                }
            })
            .execute_online(conn, &options)
            .unwrap();
        let timeline = timeline.lock().unwrap().clone();
        timeline
    };
    let outcomes = [
        measure("hand-written SQL", &template, n, |conn| {
            conn.execute_batch(&hand_sql).unwrap();
            Vec::new()
        }),
        measure("execute (one-shot)", &template, n, |conn| {
            story_rebuild().execute(conn).unwrap();
            Vec::new()
        }),
        measure(
            "execute_online, indexes built before the copy (default)",
            &template,
            n,
            |conn| online(conn, OnlineOptions::default()),
        ),
        measure("execute_online, pause(10 ms)", &template, n, |conn| {
            online(
                conn,
                OnlineOptions::default().pause(Duration::from_millis(10)),
            )
        }),
        measure("execute_online, chunk_time(20 ms)", &template, n, |conn| {
            online(
                conn,
                OnlineOptions::default().chunk_time(Duration::from_millis(20)),
            )
        }),
        measure(
            "execute_online, indexes built at the cut-over",
            &template,
            n,
            |conn| online(conn, OnlineOptions::default().indexes_at_cut_over(true)),
        ),
    ];
    let base = outcomes[0].total.as_secs_f64();
    println!(
        "\nwriter latency, {n} plans, one write every {INTERVAL:?}, WAL, synchronous=NORMAL\n"
    );
    println!("| rebuild | total (ms) | ratio to hand-written | writes during | p50 wait (ms) | p99 wait (ms) | max wait (ms) |");
    println!("|---|---|---|---|---|---|---|");
    for o in &outcomes {
        println!(
            "| {} | {} | {:.2} | {} | {} | {} | {} |",
            o.name,
            ms(o.total),
            o.total.as_secs_f64() / base,
            o.writes,
            ms(o.p50),
            ms(o.p99),
            ms(o.max)
        );
    }
    println!();
    for o in &outcomes {
        if let Some((spans, longest)) = &o.phases {
            let spans: Vec<String> = spans
                .iter()
                .map(|(p, d)| format!("{p} {} ms", ms(*d)))
                .collect();
            println!(
                "{}: {}; the longest wait began during the {longest}",
                o.name,
                spans.join(", ")
            );
        }
    }
}

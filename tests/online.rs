//! Online rebuilds: the story's downgrade while writer threads insert, update and delete
//! through connections of their own; the result equals a one-shot rebuild of the final
//! data. Refusals and killed runs leave the application's table whole and, after the next
//! call, nothing of the rebuild's behind.

mod common;

use common::*;
use sqlite_rebuild::rusqlite::types::Value;
use sqlite_rebuild::rusqlite::{Connection, OpenFlags};
use sqlite_rebuild::{Error, OnlineOptions, Phase};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PLANS: i64 = 20_000;

fn options() -> OnlineOptions {
    OnlineOptions::default()
        .chunk_time(Duration::from_millis(2))
        .pause(Duration::from_millis(1))
        .first_chunk_rows(200)
}

fn open(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    // The pragma rather than rusqlite's busy_timeout, which needs sqlite3_set_clientdata
    // (SQLite 3.44+; CI also links the system's 3.40).
    conn.execute_batch("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON")
        .unwrap();
    conn
}

fn wal_plans(path: &Path, plans: i64) -> Connection {
    let conn = open(path);
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    plans_db(&conn, plans);
    conn
}

/// One write of a writer thread, replayable on another database.
type Op = (String, Vec<Value>);

/// Writer `k` of two: works on its own plans (ids of its parity, and new ids of its own
/// range), so the two writers' orders do not matter to the result.
fn write_one(conn: &Connection, k: i64, j: i64) -> Op {
    let (sql, params): (&str, Vec<Value>) = match j % 4 {
        0 => (
            "INSERT INTO v3_plans (id, name, phase, processing_state) VALUES (?1, ?2, ?3, 'queued')",
            vec![
                Value::Integer(1_000_000 + k * 100_000 + j),
                Value::Text(format!("new {k}/{j}")),
                Value::Text(["execute", "strategize"][(j % 2) as usize].into()),
            ],
        ),
        1 => (
            "INSERT INTO plan_projects (id, plan_id, project) VALUES (?1, ?2, 'p')",
            vec![
                Value::Integer(1_000_000 + k * 100_000 + j),
                Value::Integer(1_000_000 + k * 100_000 + j - 1),
            ],
        ),
        2 => (
            "UPDATE v3_plans SET phase = ?2, name = name || '+' WHERE id = ?1",
            vec![
                Value::Integer((j * 7919) % PLANS / 2 * 2 + k),
                Value::Text(["strategize", "execute"][(j % 2) as usize].into()),
            ],
        ),
        _ => (
            "DELETE FROM v3_plans WHERE id = ?1",
            vec![Value::Integer((j * 104_729) % PLANS / 2 * 2 + k)],
        ),
    };
    conn.execute(
        sql,
        sqlite_rebuild::rusqlite::params_from_iter(params.iter()),
    )
    .unwrap();
    (sql.to_owned(), params)
}

/// The snapshot with `plan_events`' rowids left out and its rows sorted (the two writers'
/// events interleave in whatever order they committed).
fn comparable(conn: &Connection) -> Snapshot {
    let mut s = snapshot(conn);
    if let Some(rows) = s.rows.get_mut("main.plan_events") {
        for r in rows.iter_mut() {
            r.remove(0);
        }
        rows.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    }
    s
}

#[test]
fn writers_keep_writing_and_the_result_is_the_one_shot_of_the_final_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let mut conn = wal_plans(&path, PLANS);
    let initial = dir.path().join("initial.db");
    conn.execute("VACUUM INTO ?1", [initial.to_str().unwrap()])
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|k| {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                let conn = open(&path);
                let mut ops = Vec::new();
                let mut j = 0;
                while !stop.load(Ordering::Relaxed) || j < 400 {
                    ops.push(write_one(&conn, k, j));
                    j += 1;
                    std::thread::sleep(Duration::from_micros(200));
                }
                ops
            })
        })
        .collect();
    let phases = Arc::new(Mutex::new(Vec::new()));
    let seen = phases.clone();
    let report = with_rules(downgrade())
        .on_progress(move |p| seen.lock().unwrap().push(p.phase()))
        .execute_online(&mut conn, &options())
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let ops: Vec<Vec<Op>> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(ops.iter().all(|o| o.len() >= 400));
    assert!(report.rows_copied() > 0);
    let phases = phases.lock().unwrap().clone();
    for phase in [Phase::Copy, Phase::CatchUp, Phase::CutOver, Phase::Purge] {
        assert!(phases.contains(&phase), "no {phase} progress in {phases:?}");
    }

    // The same writes on the initial data, then the one-shot rebuild.
    let mut expected = open(&initial);
    for thread in &ops {
        for (sql, params) in thread {
            expected
                .execute(
                    sql,
                    sqlite_rebuild::rusqlite::params_from_iter(params.iter()),
                )
                .unwrap();
        }
    }
    with_rules(downgrade()).execute(&mut expected).unwrap();
    assert_same(
        &unquoted(comparable(&conn)),
        &unquoted(comparable(&expected)),
    );
    let fk: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0, "every child row finds its plan");
}

#[test]
fn a_violation_refuses_and_removes_everything_set_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let mut conn = wal_plans(&path, 3_000);
    let before = snapshot(&conn);
    let one_shot = downgrade().sample_size(2).validate(&conn).unwrap();
    // No rule: three plans in four have a phase the target rejects.
    let err = downgrade()
        .sample_size(2)
        .execute_online(&mut conn, &options())
        .unwrap_err();
    let Error::Violations(report) = err else {
        panic!("expected violations, got {err:?}");
    };
    assert_eq!(report.violation_count(), one_shot.violation_count());
    assert!(report.violation_count() > 0);
    assert_same(&snapshot(&conn), &before);
}

#[test]
fn a_violation_written_during_the_copy_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let mut conn = wal_plans(&path, 3_000);
    conn.execute_batch("UPDATE v3_plans SET phase = 'execute', processing_state = 'queued'")
        .unwrap();
    let writer = open(&path);
    let wrote = Arc::new(AtomicBool::new(false));
    let once = wrote.clone();
    let writer = Mutex::new(writer);
    let err = downgrade()
        .on_progress(move |p| {
            if p.phase() == Phase::Copy && p.done() > 0 && !once.swap(true, Ordering::Relaxed) {
                // The first plan, copied already, now holds a value the target rejects.
                writer
                    .lock()
                    .unwrap()
                    .execute_batch("UPDATE v3_plans SET phase = 'action' WHERE id = 1")
                    .unwrap();
            }
        })
        .execute_online(&mut conn, &options())
        .unwrap_err();
    assert!(wrote.load(Ordering::Relaxed));
    let Error::Violations(report) = err else {
        panic!("expected violations, got {err:?}");
    };
    assert_eq!(report.violation_count(), 1);
    let leftovers: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'sqlite-rebuild%' OR name LIKE '%rebuild%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(leftovers, 0);
    assert_eq!(count(&conn, "v3_plans"), 3_000);
}

/// The database as a crash at each progress report would leave it: every committed
/// transaction, nothing else (a copy taken by another connection at that moment).
#[test]
fn killed_at_any_report_the_table_is_whole_and_the_next_call_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let mut conn = wal_plans(&path, 5_000);
    let old = comparable(&conn);
    let mut expected = Connection::open_in_memory().unwrap();
    plans_db(&expected, 5_000);
    with_rules(downgrade()).execute(&mut expected).unwrap();
    let expected = comparable(&expected);

    let copies = Arc::new(Mutex::new(Vec::new()));
    let taken = copies.clone();
    let (dir_path, source) = (dir.path().to_owned(), path.clone());
    with_rules(downgrade())
        .on_progress(move |p| {
            let mut taken = taken.lock().unwrap();
            // A moment in each phase, and a few within the copy.
            if taken.iter().any(|(phase, _, _)| *phase == p.phase()) && p.done() % 7 != 1 {
                return;
            }
            let copy = dir_path.join(format!("crash{}.db", taken.len()));
            let reader =
                Connection::open_with_flags(&source, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
            reader
                .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
                .unwrap();
            taken.push((p.phase(), copy, ()));
        })
        .execute_online(&mut conn, &options())
        .unwrap();
    let copies = copies.lock().unwrap().clone();
    assert!(copies.len() > 5);
    for (phase, copy, ()) in copies {
        let mut crashed = open(&copy);
        let state: i64 = crashed
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite-rebuild online'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let now = comparable(&crashed);
        let table = |s: &Snapshot| s.rows.get("main.v3_plans").cloned();
        let whole_old = table(&now) == table(&old);
        let whole_new = table(&now) == table(&expected);
        assert!(
            whole_old || whole_new,
            "at {phase}: v3_plans is neither whole"
        );
        // The next call cleans up (or finishes the purge), then rebuilds if needed.
        with_rules(downgrade())
            .execute_online(&mut crashed, &options())
            .unwrap();
        assert_same(&unquoted(comparable(&crashed)), &unquoted(expected.clone()));
        let _ = state;
    }
}

#[test]
fn what_the_online_mode_does_not_do_is_refused_before_anything_is_written() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE k (a TEXT PRIMARY KEY, b) WITHOUT ROWID; INSERT INTO k VALUES ('x', 1);",
    )
    .unwrap();
    let before = snapshot(&conn);
    let err = sqlite_rebuild::TableRebuild::new("k")
        .create_sql("CREATE TABLE k (a TEXT PRIMARY KEY, b NOT NULL) WITHOUT ROWID")
        .execute_online(&mut conn, &options())
        .unwrap_err();
    assert!(
        matches!(err, Error::OnlineUnsupported { ref table, .. } if table == "k"),
        "{err:?}"
    );
    assert_same(&snapshot(&conn), &before);
}

//! Online rebuilds: the story's downgrade while writer threads insert, update and delete
//! through connections of their own; the result equals a one-shot rebuild of the final
//! data. Refusals and killed runs leave the application's table whole and, after the next
//! call, nothing of the rebuild's behind.

mod common;

use common::*;
use sqlite_rebuild::rusqlite::types::Value;
use sqlite_rebuild::rusqlite::{Connection, OpenFlags};
use sqlite_rebuild::{Error, OnlineOptions, Phase, RebuildReport, TableRebuild};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
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
    plans_in(path, plans, "wal")
}

fn plans_in(path: &Path, plans: i64, journal_mode: &str) -> Connection {
    let conn = open(path);
    let mode: String = conn
        .query_row(&format!("PRAGMA journal_mode = {journal_mode}"), [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(mode, journal_mode);
    plans_db(&conn, plans);
    conn
}

/// `rb`, writing `sql` once through a connection of its own to `path` as soon as the first
/// chunk is copied; the flag says it did.
fn writing_during_the_copy(
    rb: TableRebuild,
    path: &Path,
    sql: &'static str,
) -> (TableRebuild, Arc<AtomicBool>) {
    let writer = Mutex::new(open(path));
    let wrote = Arc::new(AtomicBool::new(false));
    let once = wrote.clone();
    let rb = rb.on_progress(move |p| {
        if p.phase() == Phase::Copy && p.done() > 0 && !once.swap(true, Ordering::Relaxed) {
            writer.lock().unwrap().execute_batch(sql).unwrap();
        }
    });
    (rb, wrote)
}

/// The story's `plans` plans, then `sql` (writes, ANALYZE), then `rb` run by `execute`: what
/// an online run must give. Foreign keys on, as the writers' connections.
fn one_shot(plans: i64, sql: &str, rb: TableRebuild) -> (Connection, RebuildReport) {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    plans_db(&conn, plans);
    conn.execute_batch(sql).unwrap();
    let report = rb.execute(&mut conn).unwrap();
    (conn, report)
}

fn has_state(conn: &Connection) -> bool {
    int(
        conn,
        "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite-rebuild online'",
    ) > 0
}

/// What time does to a killed run's state: its last progress an hour ago.
fn age_state(conn: &Connection) {
    if has_state(conn) {
        conn.execute_batch(r#"UPDATE "sqlite-rebuild online" SET beat = beat - 3600"#)
            .unwrap();
    }
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
/// events interleave in whatever order they committed), and `sqlite_sequence`'s rowids
/// left out (SQLite's own bookkeeping: the one-shot's and the online run's scratch tables
/// add and remove its rows in other orders).
fn comparable(conn: &Connection) -> Snapshot {
    let mut s = snapshot(conn);
    if let Some(rows) = s.rows.get_mut("main.sqlite_sequence") {
        for r in rows.iter_mut() {
            r.remove(0);
        }
    }
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
    writers_keep_writing("wal");
}

/// The same in rollback-journal mode, where each chunk also blocks the readers while it
/// commits: slower for the writers, the same result.
#[test]
fn writers_keep_writing_in_rollback_journal_mode_too() {
    writers_keep_writing("delete");
}

fn writers_keep_writing(journal_mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let mut conn = plans_in(&path, PLANS, journal_mode);
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
    assert_same(&comparable(&conn), &comparable(&expected));
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
    // The first plan, copied already, comes to hold a value the target rejects.
    let (rb, wrote) = writing_during_the_copy(
        downgrade(),
        &path,
        "UPDATE v3_plans SET phase = 'action' WHERE id = 1",
    );
    let err = rb.execute_online(&mut conn, &options()).unwrap_err();
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
    let expected = comparable(&one_shot(5_000, "", with_rules(downgrade())).0);

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
        let now = comparable(&crashed);
        let table = |s: &Snapshot| s.rows.get("main.v3_plans").cloned();
        let whole_old = table(&now) == table(&old);
        let whole_new = table(&now) == table(&expected);
        assert!(
            whole_old || whole_new,
            "at {phase}: v3_plans is neither whole"
        );
        // The next call, once the killed run's state is old, cleans up (or finishes the
        // purge), then rebuilds if needed.
        let rb = with_rules(downgrade());
        let refused = rb.clone().execute_online(&mut crashed, &options());
        if has_state(&crashed) {
            assert!(
                matches!(&refused, Err(Error::OnlineRunning { table, .. }) if table == "v3_plans"),
                "at {phase}: a run with recent progress is left alone: {refused:?}"
            );
            age_state(&crashed);
            rb.execute_online(&mut crashed, &options()).unwrap();
        } else {
            refused.unwrap();
        }
        assert_same(&unquoted(comparable(&crashed)), &unquoted(expected.clone()));
    }
}

/// Each refusal names the table and why, and the database is exactly as it was.
#[test]
fn what_sqlite_cannot_undo_or_rename_online_is_refused_before_anything_is_written() {
    let cases = [
        (
            // SQLite's rename of main.t fails while temp.t shadows it and it has indexes.
            "CREATE TABLE t (a INTEGER PRIMARY KEY, b); CREATE INDEX t_b ON t (b);
             INSERT INTO t VALUES (1, 2); CREATE TEMP TABLE t (x);",
            "CREATE TABLE t (a INTEGER PRIMARY KEY, b NOT NULL)",
            "TEMP table",
        ),
        (
            // The schema's first AUTOINCREMENT table would create sqlite_sequence for good,
            // and a defensive connection cannot add the keyword at the cut-over.
            "CREATE TABLE t (a INTEGER PRIMARY KEY, b); INSERT INTO t VALUES (1, 2);",
            "CREATE TABLE t (a INTEGER PRIMARY KEY AUTOINCREMENT, b)",
            "sqlite_sequence",
        ),
    ];
    for (setup, target, why) in cases {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(setup).unwrap();
        copy_only(&conn);
        let before = snapshot(&conn);
        let err = TableRebuild::new("t")
            .create_sql(target)
            .execute_online(&mut conn, &options())
            .unwrap_err();
        assert!(
            matches!(&err, Error::OnlineUnsupported { table, reason } if table == "t" && reason.contains(why)),
            "{err:?}"
        );
        assert_same(&snapshot(&conn), &before);
        // The one-shot does it.
        TableRebuild::new("t")
            .create_sql(target)
            .execute(&mut conn)
            .unwrap();
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
    let err = TableRebuild::new("k")
        .create_sql("CREATE TABLE k (a TEXT PRIMARY KEY, b NOT NULL) WITHOUT ROWID")
        .execute_online(&mut conn, &options())
        .unwrap_err();
    assert!(
        matches!(err, Error::OnlineUnsupported { ref table, .. } if table == "k"),
        "{err:?}"
    );
    assert_same(&snapshot(&conn), &before);
}

/// The environment variable that makes `sigkill_child` run a rebuild (in a child process).
const CHILD_DB: &str = "SQLITE_REBUILD_ONLINE_CHILD_DB";

/// Not a test on its own: the child process `killed_by_sigkill_...` starts and kills. It
/// prints each progress report, so the parent knows where the run is.
#[test]
fn sigkill_child() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let mut conn = open(Path::new(&path));
    with_rules(downgrade())
        .on_progress(|p| {
            let mut out = std::io::stdout().lock();
            writeln!(out, "progress {} {}", p.phase(), p.done()).unwrap();
            out.flush().unwrap();
        })
        .execute_online(&mut conn, &options())
        .unwrap();
    println!("progress done");
}

/// Runs the child on `db`; kills it (SIGKILL) at the `n`th report of `phase`, or lets it
/// finish when `None`. Returns the reports it printed.
fn run_child(db: &Path, kill_at: Option<(&str, usize)>) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkill_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(report) = line.strip_prefix("progress ") {
            seen.push(report.to_owned());
            let phase = report.split(' ').next().unwrap();
            let nth = seen
                .iter()
                .filter(|r| r.split(' ').next() == Some(phase))
                .count();
            if kill_at == Some((phase, nth)) {
                child.kill().unwrap();
                break;
            }
        }
    }
    let status = child.wait().unwrap();
    if kill_at.is_none() {
        assert!(status.success(), "the child failed: {seen:?}");
        assert_eq!(seen.last().map(String::as_str), Some("done"));
    }
    seen
}

fn killed_by_sigkill(journal_mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template.db");
    {
        let conn = open(&template);
        let mode: String = conn
            .query_row(&format!("PRAGMA journal_mode = {journal_mode}"), [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(mode, journal_mode);
        plans_db(&conn, 5_000);
        // Statistics too: the rebuild keeps those of the unchanged indexes.
        conn.execute_batch("ANALYZE").unwrap();
    }
    let old = comparable(&open(&template));
    let expected = comparable(&one_shot(5_000, "ANALYZE", with_rules(downgrade())).0);
    let fresh = |name: &str| {
        let path = dir.path().join(name);
        open(&template)
            .execute("VACUUM INTO ?1", [path.to_str().unwrap()])
            .unwrap();
        let conn = open(&path);
        conn.query_row(&format!("PRAGMA journal_mode = {journal_mode}"), [], |_| {
            Ok(())
        })
        .unwrap();
        path
    };

    // A whole run first, to know its phases and how many reports each gives; then kills
    // at the first reports of each phase and spread over the rest.
    let reports = run_child(&fresh("whole.db"), None);
    let mut phases: Vec<(&str, usize)> = Vec::new();
    for r in &reports {
        let phase = r.split(' ').next().unwrap();
        match phases.last_mut() {
            Some((p, n)) if *p == phase => *n += 1,
            _ => phases.push((phase, 1)),
        }
    }
    let mut moments = Vec::new();
    for &(phase, n) in phases.iter().filter(|(p, _)| *p != "done") {
        let mut at: Vec<usize> = [1, 2, 3]
            .into_iter()
            .chain((1..=6).map(|k| k * n / 6))
            .collect();
        at.retain(|&k| k >= 1 && k <= n);
        at.sort_unstable();
        at.dedup();
        moments.extend(at.into_iter().map(|k| (phase, k)));
    }
    let mut phases_killed = std::collections::BTreeSet::new();
    for (i, moment) in moments.into_iter().enumerate() {
        let db = fresh(&format!("killed{i}.db"));
        let seen = run_child(&db, Some(moment));
        let at = seen.last().cloned().unwrap_or_default();
        phases_killed.insert(at.split(' ').next().unwrap_or("").to_owned());
        let mut crashed = open(&db);
        let now = comparable(&crashed);
        let table = |s: &Snapshot| {
            let def = s
                .schema
                .iter()
                .find(|o| o.0 == "main.table" && o.1 == "v3_plans");
            (def.cloned(), s.rows.get("main.v3_plans").cloned())
        };
        assert!(
            table(&now) == table(&old) || table(&now) == table(&expected),
            "{journal_mode}: killed after {at:?}, v3_plans is neither the old table whole nor the new one"
        );
        // Half the time the caller says the run is dead; else its state is aged, as
        // waiting would.
        if i % 2 == 0 {
            with_rules(downgrade())
                .clean_up_online(&crashed, &options())
                .unwrap();
        } else {
            age_state(&crashed);
        }
        with_rules(downgrade())
            .execute_online(&mut crashed, &options())
            .unwrap();
        assert_same(&comparable(&crashed), &expected);
        assert_eq!(
            int(&crashed, "SELECT count(*) FROM pragma_foreign_key_check"),
            0
        );
        let ok: String = crashed
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok", "{journal_mode}: killed after {at:?}");
    }
    // "indexes" and "checks" are reported inside the cut-over's transaction.
    for phase in ["copy", "catch-up", "cut-over", "indexes", "checks", "purge"] {
        assert!(
            phases_killed.contains(phase),
            "{journal_mode}: no kill during {phase}: {phases_killed:?}"
        );
    }
}

/// Killed at many moments of a run, in both journal modes (the online mode does not need
/// WAL; it only lets the application's readers go on during each chunk).
#[test]
fn killed_by_sigkill_the_table_is_whole_and_the_next_call_finishes_wal() {
    killed_by_sigkill("wal");
}

#[test]
fn killed_by_sigkill_the_table_is_whole_and_the_next_call_finishes_rollback_journal() {
    killed_by_sigkill("delete");
}

/// A unique value moved from a copied row to one not yet copied: the chunk first collides
/// with the stale copy, then goes through once the change log is applied.
#[test]
fn a_chunk_refused_by_a_stale_copy_goes_through_after_the_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut conn = open(&path);
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER);
         WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 3000)
         INSERT INTO t SELECT x, 'name ' || x, x FROM i;",
    )
    .unwrap();
    let target =
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER CHECK (n >= 0))";
    let (rb, moved) = writing_during_the_copy(
        TableRebuild::new("t").create_sql(target),
        &path,
        "BEGIN; UPDATE t SET name = 'moved' WHERE id = 1;
         UPDATE t SET name = 'name 1' WHERE id = 3000; COMMIT;",
    );
    rb.execute_online(&mut conn, &options()).unwrap();
    assert!(moved.load(Ordering::Relaxed));
    let mut expected = Connection::open_in_memory().unwrap();
    expected
        .execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER);
             WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 3000)
             INSERT INTO t SELECT x, 'name ' || x, x FROM i;
             UPDATE t SET name = 'moved' WHERE id = 1;
             UPDATE t SET name = 'name 1' WHERE id = 3000;",
        )
        .unwrap();
    TableRebuild::new("t")
        .create_sql(target)
        .execute(&mut expected)
        .unwrap();
    assert_same(&unquoted(snapshot(&conn)), &unquoted(snapshot(&expected)));
}

/// The application changes the schema during the run (a trigger on the table): the
/// cut-over refuses rather than swap in a table without it, and leaves nothing behind.
#[test]
fn a_schema_change_during_the_run_refuses_the_cut_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let mut conn = wal_plans(&path, 3_000);
    let (rb, changed) = writing_during_the_copy(
        with_rules(downgrade()),
        &path,
        "CREATE TRIGGER audit AFTER DELETE ON v3_plans BEGIN SELECT 1; END",
    );
    let err = rb.execute_online(&mut conn, &options()).unwrap_err();
    assert!(changed.load(Ordering::Relaxed));
    assert!(
        matches!(&err, Error::CheckFailed { table, reason } if table == "v3_plans" && reason.contains("schema changed")),
        "{err:?}"
    );
    let mut expected = open(&dir.path().join("expected.db"));
    plans_db(&expected, 3_000);
    expected
        .execute_batch("CREATE TRIGGER audit AFTER DELETE ON v3_plans BEGIN SELECT 1; END")
        .unwrap();
    assert_same(&snapshot(&conn), &snapshot(&expected));
    // Run again, it goes through and keeps the application's trigger.
    with_rules(downgrade())
        .execute_online(&mut conn, &options())
        .unwrap();
    with_rules(downgrade()).execute(&mut expected).unwrap();
    assert_same(&unquoted(snapshot(&conn)), &unquoted(snapshot(&expected)));
}

/// The story with a unique index and statistics beside the table's own index.
fn indexed_plans(path: &Path) -> Connection {
    let conn = wal_plans(path, 3_000);
    conn.execute_batch("CREATE UNIQUE INDEX plans_by_name ON v3_plans (name); ANALYZE;")
        .unwrap();
    conn
}

/// Where the indexes are built (on the new table before the copy, by default; inside the
/// cut-over when asked, or on a defensive connection, which cannot rename them in), the
/// result is the one-shot's, text of every index and statistics included.
#[test]
fn every_index_placement_gives_the_one_shots_result() {
    let dir = tempfile::tempdir().unwrap();
    let mut expected = indexed_plans(&dir.path().join("expected.db"));
    with_rules(downgrade()).execute(&mut expected).unwrap();
    let expected = comparable(&expected);
    let cases = [
        ("before the copy", options(), false, true),
        (
            "at the cut-over",
            options().indexes_at_cut_over(true),
            false,
            false,
        ),
        ("defensive connection", options(), true, false),
    ];
    for (case, opts, defensive, prebuilt) in cases {
        let path = dir.path().join(format!("{case}.db"));
        let mut conn = indexed_plans(&path);
        if defensive {
            copy_only(&conn);
        }
        let observer = Mutex::new(open(&path));
        let seen = Arc::new(Mutex::new(None));
        let during_copy = seen.clone();
        with_rules(downgrade())
            .on_progress(move |p| {
                let mut seen = during_copy.lock().unwrap();
                if p.phase() == Phase::Copy && seen.is_none() {
                    *seen = Some(int(
                        &observer.lock().unwrap(),
                        "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'sqlite-rebuild index %'",
                    ));
                }
            })
            .execute_online(&mut conn, &opts)
            .unwrap();
        let built_before = seen.lock().unwrap().unwrap();
        assert_eq!(built_before > 0, prebuilt, "{case}: indexes on the copy");
        assert_eq!(built_before, if prebuilt { 2 } else { 0 }, "{case}");
        assert_same(&comparable(&conn), &expected);
    }
}

/// A unique index the rules break (two plans end with the same phase and name) refuses
/// during the copy when the index is built before it, with the one-shot's report.
#[test]
fn a_unique_index_the_rules_break_refuses_during_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let mut conn = wal_plans(&path, 3_000);
    conn.execute_batch(
        "CREATE UNIQUE INDEX plans_by_phase_name ON v3_plans (phase, name);
         UPDATE v3_plans SET phase = 'strategize', processing_state = 'queued';
         UPDATE v3_plans SET name = 'plan 1', phase = 'action' WHERE id = 2000;",
    )
    .unwrap();
    let before = snapshot(&conn);
    let rb = || with_rules(downgrade()).sample_size(5);
    let one_shot = rb().validate(&conn).unwrap();
    assert_eq!(one_shot.violation_count(), 1);
    let phases = Arc::new(Mutex::new(Vec::new()));
    let seen = phases.clone();
    let err = rb()
        .on_progress(move |p| seen.lock().unwrap().push(p.phase()))
        .execute_online(&mut conn, &options())
        .unwrap_err();
    let Error::Violations(report) = err else {
        panic!("expected violations, got {err:?}");
    };
    assert_eq!(format!("{report}"), format!("{one_shot}"));
    assert!(!phases.lock().unwrap().contains(&Phase::CutOver));
    assert_same(&snapshot(&conn), &before);
}

/// Rows changed after they were copied, and rows deleted: the report counts what the rules
/// did to the table as the cut-over found it, as the one-shot does.
#[test]
fn the_report_counts_the_rules_over_the_table_as_it_was_cut_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let mut conn = wal_plans(&path, 3_000);
    let writes = "UPDATE v3_plans SET processing_state = 'queued' WHERE id <= 30;
                  UPDATE v3_plans SET phase = 'action' WHERE id BETWEEN 31 AND 40 AND phase = 'execute';
                  DELETE FROM v3_plans WHERE id BETWEEN 41 AND 60;
                  UPDATE v3_plans SET processing_state = 'applied' WHERE id > 2990;";
    let (rb, wrote) = writing_during_the_copy(with_rules(downgrade()), &path, writes);
    let report = rb.execute_online(&mut conn, &options()).unwrap();
    assert!(wrote.load(Ordering::Relaxed));
    let (expected, one_shot) = one_shot(3_000, writes, with_rules(downgrade()));
    assert_eq!(report.rules(), one_shot.rules());
    assert_eq!(report.rows_copied(), one_shot.rows_copied());
    assert_same(&comparable(&conn), &comparable(&expected));
}

/// A second online rebuild of the table while one runs: refused, and the first one goes on
/// to the end untouched.
#[test]
fn a_second_run_while_one_is_running_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let mut conn = wal_plans(&path, 3_000);
    let second = Mutex::new(open(&path));
    let refusal = Arc::new(Mutex::new(None));
    let seen = refusal.clone();
    let report = with_rules(downgrade())
        .on_progress(move |p| {
            let mut seen = seen.lock().unwrap();
            if p.phase() == Phase::Copy && p.done() > 0 && seen.is_none() {
                let mut other = second.lock().unwrap();
                *seen = Some(
                    with_rules(downgrade())
                        .execute_online(&mut other, &options())
                        .unwrap_err(),
                );
            }
        })
        .execute_online(&mut conn, &options())
        .unwrap();
    let refusal = refusal.lock().unwrap().take().unwrap();
    assert!(
        matches!(&refusal, Error::OnlineRunning { table, seconds_ago } if table == "v3_plans" && *seconds_ago < 5),
        "{refusal:?}"
    );
    assert_eq!(report.rows_copied(), 3_000);
    let (expected, _) = one_shot(3_000, "", with_rules(downgrade()));
    assert_same(&comparable(&conn), &comparable(&expected));
}

/// The same with a rule run in Rust (a closure, counted as it runs): rows it changed that
/// the application changed again, or deleted, are counted as the one-shot counts them.
#[test]
fn a_closure_rule_is_counted_over_the_table_as_it_was_cut_over() {
    use sqlite_rebuild::rusqlite::types::ValueRef;
    let lower = |rb: sqlite_rebuild::TableRebuild| {
        rb.create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, tag TEXT CHECK (tag = lower(tag)))")
            .remap_with("tag", |v: ValueRef<'_>| match v {
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).to_lowercase()),
                other => Value::try_from(other).unwrap_or(Value::Null),
            })
    };
    let table = "CREATE TABLE t (id INTEGER PRIMARY KEY, tag TEXT);
         WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 3000)
         INSERT INTO t SELECT x, CASE x % 3 WHEN 0 THEN 'tag ' ELSE 'Tag ' END || x FROM i;";
    let writes = "UPDATE t SET tag = lower(tag) WHERE id <= 50;
                  DELETE FROM t WHERE id BETWEEN 51 AND 60;
                  UPDATE t SET tag = 'NEW' WHERE id = 2999;";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut conn = open(&path);
    conn.execute_batch(&format!("PRAGMA journal_mode = WAL; {table}"))
        .unwrap();
    let (rb, wrote) = writing_during_the_copy(lower(TableRebuild::new("t")), &path, writes);
    let report = rb.execute_online(&mut conn, &options()).unwrap();
    assert!(wrote.load(Ordering::Relaxed));
    let mut expected = Connection::open_in_memory().unwrap();
    expected
        .execute_batch(&format!("{table} {writes}"))
        .unwrap();
    let one_shot = lower(TableRebuild::new("t"))
        .execute(&mut expected)
        .unwrap();
    assert_eq!(
        one_shot.rules()[0].rows_changed(),
        2000 - 50 + 50 / 3 - 7 + 1
    );
    assert_eq!(report.rules(), one_shot.rules());
    assert_same(&comparable(&conn), &comparable(&expected));
}

/// The purge cannot get the write lock (another connection holds it): the rebuild is done
/// and says so (`Error::PurgeUnfinished`), the old table waits aside, and clean_up_online
/// finishes it.
#[test]
fn a_purge_that_stops_leaves_the_rebuilt_table_and_is_finished_later() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let mut conn = wal_plans(&path, 3_000);
    // SQLite's own busy handler would wait its 10 s before each of the rebuild's attempts.
    conn.execute_batch("PRAGMA busy_timeout = 0").unwrap();
    let blocker = Arc::new(Mutex::new(open(&path)));
    let holding = blocker.clone();
    let err = with_rules(downgrade())
        .on_progress(move |p| {
            let blocker = holding.lock().unwrap();
            if p.phase() == Phase::Purge && blocker.is_autocommit() {
                blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
            }
        })
        .execute_online(&mut conn, &options().lock_wait(Duration::from_millis(200)))
        .unwrap_err();
    blocker.lock().unwrap().execute_batch("COMMIT").unwrap();

    assert!(
        matches!(&err, Error::PurgeUnfinished { table, source } if table == "v3_plans" && matches!(**source, Error::Busy { .. })),
        "{err:?}"
    );
    let expected = comparable(&one_shot(3_000, "", with_rules(downgrade())).0);
    let now = comparable(&conn);
    assert_eq!(
        now.rows.get("main.v3_plans"),
        expected.rows.get("main.v3_plans")
    );
    assert_eq!(
        int(
            &conn,
            r#"SELECT count(*) FROM "sqlite-rebuild old v3_plans""#
        ),
        3_000
    );
    with_rules(downgrade())
        .clean_up_online(&conn, &options())
        .unwrap();
    assert_same(&comparable(&conn), &expected);
}

/// The quarantine tables of `conn` without what says when and in which pass a row moved
/// (the moment, the order of rowids): an online run moves rows in passes.
fn quarantine_as_sets(conn: &Connection) -> Snapshot {
    let tables: Vec<String> = query_all(
        conn,
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE '%\\_\\_rejected%' ESCAPE '\\'",
    )
    .into_iter()
    .map(|r| match &r[0] {
        Value::Text(t) => t.clone(),
        other => panic!("{other:?}"),
    })
    .collect();
    for t in &tables {
        conn.execute_batch(&format!(
            "UPDATE \"{t}\" SET sqlite_rebuild_quarantined_at = NULL"
        ))
        .unwrap();
    }
    let mut s = comparable(conn);
    for t in &tables {
        if let Some(rows) = s.rows.get_mut(&format!("main.{t}")) {
            for r in rows.iter_mut() {
                r.remove(0);
            }
            rows.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        }
    }
    s
}

/// Quarantine online: the rows that violate, and a row the application makes violate during
/// the copy, move into quarantine with their child rows, as the one-shot moves them from
/// the final data.
#[test]
fn quarantine_online_moves_what_the_one_shot_moves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let mut conn = wal_plans(&path, 3_000);
    // The phase rule only: the v3-only states (two plans in three) violate.
    let rb = || {
        downgrade()
            .remap("phase", "action", "strategize")
            .on_violation(sqlite_rebuild::OnViolation::Quarantine)
    };
    let write = "UPDATE v3_plans SET processing_state = 'applied' WHERE id = 3";
    let (online, wrote) = writing_during_the_copy(rb(), &path, write);
    let report = online.execute_online(&mut conn, &options()).unwrap();
    assert!(wrote.load(Ordering::Relaxed));
    let (expected, one_shot) = one_shot(3_000, write, rb());
    assert_eq!(report.quarantined(), one_shot.quarantined());
    assert_eq!(report.rows_copied(), one_shot.rows_copied());
    assert!(
        report.quarantine_reports().len() >= 2,
        "a pass for the write"
    );
    assert_same(&quarantine_as_sets(&conn), &quarantine_as_sets(&expected));
}

/// A killed online run's triggers are on the table: the other verbs refuse it (they would
/// take the triggers for the table's own and recreate them), untouched, until the online
/// mode finishes or removes the run.
#[test]
fn a_killed_runs_leftovers_are_refused_by_the_other_verbs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let mut conn = wal_plans(&path, 3_000);
    let crashed = dir.path().join("crashed.db");
    let (source, copy) = (path.clone(), crashed.clone());
    let taken = Arc::new(AtomicBool::new(false));
    let once = taken.clone();
    with_rules(downgrade())
        .on_progress(move |p| {
            if p.phase() == Phase::Copy && p.done() > 0 && !once.swap(true, Ordering::Relaxed) {
                // What a SIGKILL here would leave: every committed transaction.
                Connection::open_with_flags(&source, OpenFlags::SQLITE_OPEN_READ_ONLY)
                    .unwrap()
                    .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
                    .unwrap();
            }
        })
        .execute_online(&mut conn, &options())
        .unwrap();
    assert!(taken.load(Ordering::Relaxed));
    let mut conn = open(&crashed);
    let before = snapshot(&conn);
    let in_progress = |e: Error| {
        assert!(
            matches!(&e, Error::OnlineInProgress { table, phase } if table == "v3_plans" && phase == "copy"),
            "{e:?}"
        )
    };
    in_progress(with_rules(downgrade()).validate(&conn).unwrap_err());
    in_progress(with_rules(downgrade()).plan(&conn).unwrap_err());
    in_progress(with_rules(downgrade()).execute(&mut conn).unwrap_err());
    let tx = conn.transaction().unwrap();
    in_progress(with_rules(downgrade()).execute_in(&tx).unwrap_err());
    drop(tx);
    assert_same(&snapshot(&conn), &before);
    with_rules(downgrade())
        .clean_up_online(&conn, &options())
        .unwrap();
    with_rules(downgrade()).execute(&mut conn).unwrap();
    let (expected, _) = one_shot(3_000, "", with_rules(downgrade()));
    assert_same(&comparable(&conn), &comparable(&expected));
}

/// The schema's first AUTOINCREMENT table: the copy goes without the keyword, the cut-over
/// gives it back (and sqlite_sequence appears only then). A refusal leaves no
/// sqlite_sequence; a success is the one-shot's database, counter included.
#[test]
fn the_schemas_first_autoincrement_table_comes_at_the_cut_over() {
    let setup = "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT);
                 WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 500)
                 INSERT INTO t SELECT x * 2, 'b' || x FROM i;";
    let target = "CREATE TABLE t (a INTEGER PRIMARY KEY  AUTOINCREMENT, b TEXT NOT NULL)";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut conn = open(&path);
    conn.execute_batch(&format!("PRAGMA journal_mode = WAL; {setup}"))
        .unwrap();
    // Refused during the copy: a row the writer empties.
    let before = snapshot(&conn);
    let (rb, wrote) = writing_during_the_copy(
        TableRebuild::new("t").create_sql(target),
        &path,
        "UPDATE t SET b = NULL WHERE a = 1000",
    );
    let err = rb.execute_online(&mut conn, &options()).unwrap_err();
    assert!(wrote.load(Ordering::Relaxed));
    assert!(matches!(err, Error::Violations(_)), "{err:?}");
    conn.execute_batch("UPDATE t SET b = 'b500' WHERE a = 1000")
        .unwrap();
    assert_same(&snapshot(&conn), &before);
    // Then done, as the one-shot does it.
    TableRebuild::new("t")
        .create_sql(target)
        .execute_online(&mut conn, &options())
        .unwrap();
    let mut expected = Connection::open_in_memory().unwrap();
    expected.execute_batch(setup).unwrap();
    TableRebuild::new("t")
        .create_sql(target)
        .execute(&mut expected)
        .unwrap();
    assert_same(&comparable(&conn), &comparable(&expected));
    conn.execute("INSERT INTO t (b) VALUES ('next')", [])
        .unwrap();
    assert_eq!(int(&conn, "SELECT max(a) FROM t"), 1001);
}

/// Killed between the purge's last two transactions (the old table dropped, the state not
/// yet removed): the clean-up finds nothing to purge and ends the run.
#[test]
fn a_run_killed_after_dropping_the_old_table_is_ended_by_the_next_call() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let mut conn = wal_plans(&path, 1_000);
    let crashed = dir.path().join("crashed.db");
    let (source, copy) = (path.clone(), crashed.clone());
    let taken = Arc::new(AtomicBool::new(false));
    let once = taken.clone();
    with_rules(downgrade())
        .on_progress(move |p| {
            if p.phase() == Phase::Purge && !once.swap(true, Ordering::Relaxed) {
                Connection::open_with_flags(&source, OpenFlags::SQLITE_OPEN_READ_ONLY)
                    .unwrap()
                    .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
                    .unwrap();
            }
        })
        .execute_online(&mut conn, &options())
        .unwrap();
    let mut crashed = open(&crashed);
    crashed
        .execute_batch(r#"DROP TABLE "sqlite-rebuild old v3_plans""#)
        .unwrap();
    with_rules(downgrade())
        .clean_up_online(&crashed, &options())
        .unwrap();
    assert!(!has_state(&crashed));
    // Nothing left to do: the table is the target already.
    with_rules(downgrade())
        .execute_online(&mut crashed, &options())
        .unwrap();
    assert_same(&comparable(&crashed), &comparable(&conn));
}

//! Crash safety: a rebuild runs in a child process on a file database (100k plans and a
//! row per plan in each of the three child tables) and is killed with SIGKILL at moments
//! spread over the whole rebuild, 50 times per journal mode (rollback journal and WAL) and
//! per path (copy and swap, and the in-place switch of a constraint-only change). After each kill the database must pass `integrity_check` and equal, schema text
//! and every row, either the state before the rebuild or the state after it; no scratch
//! table may be left behind.
//!
//! Set `SQLITE_REBUILD_CRASH_KILLS` for more kills per journal mode (default 50).

mod common;

use common::*;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::TableRebuild;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const PLANS: i64 = 100_000;
const CHILD_ENV: &str = "SQLITE_REBUILD_CRASH_CHILD";
/// Set in the child to take the copy path.
const COPY_ENV: &str = "SQLITE_REBUILD_CRASH_COPY";

/// Opens `path`, on the copy path when `copy` is set.
fn open(path: &Path, copy: bool) -> Connection {
    let conn = Connection::open(path).unwrap();
    if copy {
        copy_only(&conn);
    }
    conn
}

/// The copy path: the v2 downgrade, whose rules rewrite most rows. The in-place path: a
/// new CHECK that every row satisfies.
fn rebuild(copy: bool) -> TableRebuild {
    if copy {
        TableRebuild::new("v3_plans")
            .create_sql(V2_PLANS)
            .remap("phase", "action", "strategize")
            .remap("processing_state", "applied", "complete")
            .remap("processing_state", "constrained", "complete")
    } else {
        TableRebuild::new("v3_plans").create_sql(v3_plans_with_named_check())
    }
}

/// The child side: when started by `kill_at_many_moments`, run the rebuild and say when it
/// begins. In a normal test run this does nothing.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let copy = std::env::var_os(COPY_ENV).is_some();
    let mut conn = open(Path::new(&path), copy);
    println!("\nsqlite-rebuild-child-ready");
    rebuild(copy).execute(&mut conn).unwrap();
    println!("done");
}

fn template(dir: &Path, journal: &str) -> PathBuf {
    let path = dir.join(format!("template-{journal}.db"));
    let conn = Connection::open(&path).unwrap();
    conn.query_row(&format!("PRAGMA journal_mode = {journal}"), [], |_| Ok(()))
        .unwrap();
    conn.execute_batch(V3_SCHEMA).unwrap();
    conn.execute_batch(&format!(
        "BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {PLANS})
         INSERT INTO v3_plans (id, name, phase, processing_state)
             SELECT i, 'plan ' || i, CASE WHEN i % 4 = 0 THEN 'execute' ELSE 'action' END,
                    CASE i % 3 WHEN 0 THEN 'queued' WHEN 1 THEN 'applied' ELSE 'constrained' END
             FROM n;
         INSERT INTO plan_projects (plan_id, project) SELECT id, 'p' || id FROM v3_plans;
         INSERT INTO plan_arguments (plan_id, argument) SELECT id, 'a' || id FROM v3_plans;
         INSERT INTO plan_invariants (plan_id, invariant) SELECT id, 'i' || id FROM v3_plans;
         COMMIT;"
    ))
    .unwrap();
    // Everything in the main file, so copying the file copies the database.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap_or(());
    path
}

/// Copies a database file to `to`, removing any journal or WAL left at `to`.
fn fresh_copy(from: &Path, to: &Path) {
    for suffix in ["-journal", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", to.display()));
    }
    std::fs::copy(from, to).unwrap();
}

/// Starts the child on `db` and returns it once it is about to rebuild.
fn spawn_child(db: &Path, copy: bool) -> std::process::Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    if copy {
        command.env(COPY_ENV, "1");
    }
    let mut child = command
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line == "sqlite-rebuild-child-ready" => break,
            Some(Ok(_)) => continue,
            other => panic!("child ended before the rebuild: {other:?}"),
        }
    }
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

/// Whether the database at `db` equals the one at `expected`: schema text of every object,
/// and every row of every table with its rowid.
fn same_database(conn: &Connection, expected: &Path) -> bool {
    conn.execute("ATTACH ?1 AS expected", [expected.display().to_string()])
        .unwrap();
    let differs = |sql: &str| int(conn, sql) > 0;
    let mut same = !differs(
        "SELECT count(*) FROM (
             SELECT type, name, tbl_name, sql FROM main.sqlite_schema
             EXCEPT SELECT type, name, tbl_name, sql FROM expected.sqlite_schema)",
    ) && !differs(
        "SELECT count(*) FROM (
             SELECT type, name, tbl_name, sql FROM expected.sqlite_schema
             EXCEPT SELECT type, name, tbl_name, sql FROM main.sqlite_schema)",
    );
    if same {
        let tables: Vec<String> = query_all(
            conn,
            "SELECT name FROM expected.sqlite_schema WHERE type = 'table'",
        )
        .into_iter()
        .map(|r| match &r[0] {
            sqlite_rebuild::rusqlite::types::Value::Text(t) => t.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
        for t in tables {
            // sqlite_sequence's own rowids are internal; its rows are compared whole.
            let cols = if t == "sqlite_sequence" {
                "*"
            } else {
                "rowid, *"
            };
            for (a, b) in [("main", "expected"), ("expected", "main")] {
                same &= !differs(&format!(
                    "SELECT count(*) FROM (SELECT {cols} FROM {a}.\"{t}\" EXCEPT SELECT {cols} FROM {b}.\"{t}\")"
                ));
            }
            same &= int(conn, &format!("SELECT count(*) FROM main.\"{t}\""))
                == int(conn, &format!("SELECT count(*) FROM expected.\"{t}\""));
        }
    }
    conn.execute_batch("DETACH expected").unwrap();
    same
}

#[derive(Debug, Default)]
struct Outcomes {
    before: u32,
    after: u32,
}

fn kill_at_many_moments(journal: &str, copy: bool) -> Outcomes {
    let dir = tempfile::tempdir().unwrap();
    let before = template(dir.path(), journal);
    let after = dir.path().join("after.db");
    fresh_copy(&before, &after);
    {
        let mut conn = open(&after, copy);
        assert_eq!(rebuild(copy).execute(&mut conn).unwrap().in_place(), !copy);
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap_or(());
    }
    let work = dir.path().join("work.db");

    // How long the child's rebuild takes, from "ready" to its exit: the longest of three
    // runs, plus a tenth, so the kills reach past the commit however the timing varies.
    let mut span = std::time::Duration::ZERO;
    for _ in 0..3 {
        fresh_copy(&before, &work);
        let start = Instant::now();
        let mut child = spawn_child(&work, copy);
        assert!(
            child.wait().unwrap().success(),
            "an uninterrupted child run succeeds"
        );
        span = span.max(start.elapsed());
    }
    // A margin past the slowest run, so some kills still land after the commit when the
    // machine is busier than it was while measuring.
    let span = span.mul_f64(1.3);

    let kills: u32 = std::env::var("SQLITE_REBUILD_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let mut outcomes = Outcomes::default();
    for i in 0..kills {
        fresh_copy(&before, &work);
        let mut child = spawn_child(&work, copy);
        // Moments spread evenly over the whole rebuild, from its first step to its commit.
        let at = span.mul_f64((f64::from(i) + 0.5) / f64::from(kills));
        std::thread::sleep(at);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let conn = Connection::open(&work).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "{journal}: kill {i} at {at:?}");
        if same_database(&conn, &before) {
            outcomes.before += 1;
        } else if same_database(&conn, &after) {
            outcomes.after += 1;
        } else {
            panic!("{journal}: kill {i} at {at:?} left a state that is neither before nor after");
        }
    }
    let path = if copy { "copy" } else { "in place" };
    eprintln!(
        "{journal}, {path}: {kills} kills over a {span:?} rebuild: {} left the state before, {} the state after, 0 anything else",
        outcomes.before, outcomes.after
    );
    outcomes
}

fn assert_both_outcomes(o: Outcomes) {
    assert!(o.before > 0, "some kills landed before the commit: {o:?}");
    assert!(o.after > 0, "some kills landed after the commit: {o:?}");
}

#[test]
fn sigkill_during_a_copy_in_rollback_journal_mode() {
    assert_both_outcomes(kill_at_many_moments("delete", true));
}

#[test]
fn sigkill_during_a_copy_in_wal_mode() {
    assert_both_outcomes(kill_at_many_moments("wal", true));
}

#[test]
fn sigkill_during_an_in_place_change_in_rollback_journal_mode() {
    assert_both_outcomes(kill_at_many_moments("delete", false));
}

#[test]
fn sigkill_during_an_in_place_change_in_wal_mode() {
    assert_both_outcomes(kill_at_many_moments("wal", false));
}

//! `on_progress`: phases in order, counts that only grow and end at their totals, a report
//! at least every 100,000 copied rows, and the same result as a rebuild without it.

mod common;

use common::*;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{Error, Phase, Progress, TableRebuild};
use std::sync::{Arc, Mutex};

const PLANS: i64 = 230_000;

/// The copy path's phases are the subject here: see `in_place_has_no_copy_phase`.
fn big_db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    copy_only(&conn);
    conn.execute_batch(V3_SCHEMA).unwrap();
    conn.execute_batch(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {PLANS})
         INSERT INTO v3_plans (id, name, phase, processing_state)
             SELECT i * 3, 'plan ' || i, CASE WHEN i % 4 = 0 THEN 'execute' ELSE 'action' END, 'queued'
             FROM n;
         INSERT INTO plan_projects (plan_id, project) SELECT id, 'p' FROM v3_plans;"
    ))
    .unwrap();
    conn
}

fn downgrade() -> TableRebuild {
    common::downgrade().remap("phase", "action", "strategize")
}

fn recorded(rb: TableRebuild) -> (TableRebuild, Arc<Mutex<Vec<Progress>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    (rb.on_progress(move |p| log.lock().unwrap().push(*p)), seen)
}

#[test]
fn phases_run_in_order_and_counts_reach_their_totals() {
    let mut conn = big_db();
    let (rb, seen) = recorded(downgrade());
    rb.execute(&mut conn).unwrap();
    let seen = seen.lock().unwrap().clone();

    // Phases appear in order, each as one run of reports.
    let mut phases: Vec<Phase> = seen.iter().map(|p| p.phase()).collect();
    phases.dedup();
    assert_eq!(
        phases,
        [Phase::Validate, Phase::Copy, Phase::Indexes, Phase::Checks]
    );
    for phase in phases {
        let reports: Vec<&Progress> = seen.iter().filter(|p| p.phase() == phase).collect();
        assert!(
            reports.windows(2).all(|w| w[0].done() <= w[1].done()),
            "{phase}: {reports:?}"
        );
        let last = reports.last().unwrap();
        assert_eq!(last.done(), last.total(), "{phase} ends complete");
    }
    // The copy reports every 100,000 rows, whatever the rowids (here 3, 6, 9, ...).
    let copy: Vec<u64> = seen
        .iter()
        .filter(|p| p.phase() == Phase::Copy)
        .map(|p| p.done())
        .collect();
    assert_eq!(copy, [0, 100_000, 200_000, PLANS as u64]);
    assert!(seen
        .iter()
        .all(|p| p.phase() != Phase::Copy || p.total() == PLANS as u64));
}

#[test]
fn the_result_is_the_same_with_or_without_progress() {
    let mut plain = big_db();
    downgrade().execute(&mut plain).unwrap();
    let mut watched = big_db();
    let (rb, seen) = recorded(downgrade());
    rb.execute(&mut watched).unwrap();
    assert!(!seen.lock().unwrap().is_empty());
    assert_eq!(snapshot(&watched), snapshot(&plain));
}

#[test]
fn a_refusal_with_progress_is_the_same_refusal() {
    let mut conn = big_db();
    let before = snapshot(&conn);
    let (rb, _) = recorded(TableRebuild::new("v3_plans").create_sql(V2_PLANS));
    let Error::Violations(with) = rb.execute(&mut conn).unwrap_err() else {
        panic!()
    };
    let Error::Violations(without) = TableRebuild::new("v3_plans")
        .create_sql(V2_PLANS)
        .execute(&mut conn)
        .unwrap_err()
    else {
        panic!()
    };
    assert_eq!(with, without);
    assert_eq!(snapshot(&conn), before);
}

#[test]
fn in_place_has_no_copy_phase() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(V3_SCHEMA).unwrap();
    conn.execute_batch(
        "INSERT INTO v3_plans (name, phase) VALUES ('a', 'action'), ('b', 'execute');",
    )
    .unwrap();
    let (rb, seen) =
        recorded(TableRebuild::new("v3_plans").create_sql(v3_plans_with_named_check()));
    let report = rb.execute(&mut conn).unwrap();
    assert!(report.in_place());
    let mut phases: Vec<Phase> = seen.lock().unwrap().iter().map(|p| p.phase()).collect();
    phases.dedup();
    assert_eq!(phases, [Phase::Validate, Phase::Checks]);
}

#[test]
fn without_rowid_tables_report_the_copy_whole() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT) WITHOUT ROWID;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
         INSERT INTO kv SELECT i, 'v' FROM n;",
    )
    .unwrap();
    copy_only(&conn);
    let (rb, seen) = recorded(
        TableRebuild::new("kv")
            .create_sql("CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID"),
    );
    rb.execute(&mut conn).unwrap();
    let copy: Vec<(u64, u64)> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.phase() == Phase::Copy)
        .map(|p| (p.done(), p.total()))
        .collect();
    assert_eq!(copy, [(0, 1000), (1000, 1000)]);
}

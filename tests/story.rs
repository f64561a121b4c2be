//! The v3_plans downgrade, end to end: refused with an exact report and nothing changed,
//! then done with remapping rules, children, index, triggers and view intact.

mod common;

use common::*;
use sqlite_rebuild::rusqlite::{Connection, TransactionBehavior};
use sqlite_rebuild::{ConstraintKind, Error, StepKind, TableRebuild};

const PLANS: i64 = 240;

fn downgrade() -> TableRebuild {
    common::downgrade()
        .child("plan_projects")
        .child("plan_arguments")
        .child("plan_invariants")
}

/// Expected counts, from the fixture's formulas rather than from SQL.
fn expected() -> (u64, u64, u64) {
    let bad_phase = (1..=PLANS).filter(|i| phase(*i) == "action").count() as u64;
    let bad_state = (1..=PLANS)
        .filter(|i| matches!(state(*i), "applied" | "constrained"))
        .count() as u64;
    let either = (1..=PLANS)
        .filter(|i| phase(*i) == "action" || matches!(state(*i), "applied" | "constrained"))
        .count() as u64;
    (bad_phase, bad_state, either)
}

fn assert_refusal(err: Error) {
    let Error::Violations(report) = err else {
        panic!("expected violations, got {err}")
    };
    let (bad_phase, bad_state, either) = expected();
    assert_eq!(report.rows_checked(), PLANS as u64);
    assert_eq!(report.violation_count(), either);
    let phase_c = report
        .constraint("ck_v3_plans_phase")
        .expect("phase constraint reported");
    assert_eq!(phase_c.count(), bad_phase);
    assert_eq!(phase_c.kind(), ConstraintKind::Check);
    assert!(phase_c.expression().unwrap().contains("'strategize'"));
    let state_c = report
        .constraint("ck_v3_plans_state")
        .expect("state constraint reported");
    assert_eq!(state_c.count(), bad_state);
    assert_eq!(
        report.constraints().len(),
        2,
        "only the two CHECKs are violated: {report}"
    );
    // A bounded sample, in rowid order, showing the offending values.
    assert_eq!(phase_c.samples().len(), 20);
    let first = &phase_c.samples()[0];
    assert_eq!(first.rowid(), Some(1));
    assert!(
        first
            .values()
            .contains(&("phase".to_owned(), text("action"))),
        "{first}"
    );
    let shown = report.to_string();
    assert!(
        shown.contains(&format!("CHECK ck_v3_plans_phase: {bad_phase} rows")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("CHECK ck_v3_plans_state: {bad_state} rows")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("{either} of {PLANS} rows")),
        "{shown}"
    );
    // The rowid alias is not shown twice: `rowid 1: "phase"='action'`.
    assert!(shown.contains("rowid 1: \"phase\"='action'"), "{shown}");
    assert!(
        first.values().contains(&(
            "id".to_owned(),
            sqlite_rebuild::rusqlite::types::Value::Integer(1)
        )),
        "{first}"
    );
    // The distinct offending values with their counts, most frequent first, and the rules
    // that would resolve them, the admitted values listed.
    let values: Vec<(String, u64)> = state_c
        .distinct_values()
        .iter()
        .map(|v| (format!("{:?}", v.values()[0].1), v.rows()))
        .collect();
    let applied = (1..=PLANS).filter(|i| state(*i) == "applied").count() as u64;
    let constrained = (1..=PLANS).filter(|i| state(*i) == "constrained").count() as u64;
    let mut expected = vec![
        ("Text(\"applied\")".to_owned(), applied),
        ("Text(\"constrained\")".to_owned(), constrained),
    ];
    expected.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    assert_eq!(values, expected);
    assert_eq!(
        phase_c.distinct_values()[0].to_string(),
        format!("\"phase\" = 'action': {bad_phase} rows")
    );
    assert_eq!(
        phase_c.suggested_remaps(),
        [".remap(\"phase\", \"action\", ?) // one of 'strategize', 'execute', 'apply', 'applied'"]
    );
    assert_eq!(phase_c.allowed_values().unwrap().len(), 4);
    assert!(
        shown.contains(&format!(
            "\"phase\" = 'action': {bad_phase} rows\n      fix: .remap(\"phase\", \"action\", ?)"
        )),
        "{shown}"
    );
}

fn assert_downgraded(conn: &Connection) {
    // Every row kept with its id, values remapped.
    assert_eq!(count(conn, "v3_plans"), PLANS);
    for i in [1, 2, 3, 4, PLANS] {
        let (p, s): (String, String) = conn
            .query_row(
                "SELECT phase, processing_state FROM v3_plans WHERE id = ?1",
                [i],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            p,
            if phase(i) == "action" {
                "strategize"
            } else {
                phase(i)
            }
        );
        assert_eq!(
            s,
            if state(i) == "queued" {
                "queued"
            } else {
                "complete"
            }
        );
    }
    // The new constraints are in force.
    let err = conn
        .execute("UPDATE v3_plans SET phase = 'action' WHERE id = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("ck_v3_plans_phase"), "{err}");
    // Children intact, no child trigger fired, foreign keys clean.
    for child in CHILDREN {
        assert_eq!(count(conn, child), PLANS, "{child}");
    }
    assert_eq!(int(conn, "SELECT count(*) FROM plan_events"), 0);
    assert!(query_all(conn, "PRAGMA foreign_key_check").is_empty());
    // Index, triggers and view are back and work.
    let idx: Vec<String> = conn
        .prepare("SELECT name FROM pragma_index_list('v3_plans') WHERE origin = 'c'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(idx, ["v3_plans_by_phase"]);
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT id FROM v3_plans WHERE phase = 'apply'",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("v3_plans_by_phase"), "{plan}");
    conn.execute("UPDATE v3_plans SET phase = 'apply' WHERE id = 2", [])
        .unwrap();
    assert_eq!(
        int(
            conn,
            "SELECT count(*) FROM plan_events WHERE event = 'phase:apply'"
        ),
        1
    );
    assert_eq!(int(conn, "SELECT count(*) FROM active_plans"), PLANS);
    assert_eq!(
        int(conn, "SELECT projects FROM active_plans WHERE id = 7"),
        1
    );
    // AUTOINCREMENT continues after the highest id ever handed out.
    conn.execute("INSERT INTO v3_plans (name) VALUES ('new')", [])
        .unwrap();
    assert_eq!(int(conn, "SELECT max(id) FROM v3_plans"), PLANS + 1);
    // ON DELETE CASCADE works again afterwards: the children still point at the new table.
    if fk_on(conn) {
        conn.execute("DELETE FROM v3_plans WHERE id = 3", [])
            .unwrap();
        assert_eq!(count(conn, "plan_projects"), PLANS - 1);
    }
}

#[test]
fn refused_without_rules_and_database_unchanged_in_memory() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    plans_db(&conn, PLANS);
    let before = snapshot(&conn);
    assert_refusal(downgrade().execute(&mut conn).unwrap_err());
    assert_eq!(snapshot(&conn), before);
    assert!(
        fk_on(&conn),
        "the caller's foreign_keys setting is restored after a refusal"
    );
}

#[test]
fn refused_on_a_file_database_then_reopened_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let mut conn = Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    plans_db(&conn, PLANS);
    let before = snapshot(&conn);
    assert_refusal(downgrade().execute(&mut conn).unwrap_err());
    drop(conn);
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    assert_eq!(snapshot(&conn), before);
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM sqlite_schema WHERE name LIKE '%rebuild%'"
        ),
        0
    );
}

#[test]
fn validate_reports_the_same_and_changes_nothing() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    plans_db(&conn, PLANS);
    let before = snapshot(&conn);
    let report = downgrade().validate(&conn).unwrap();
    assert!(!report.is_ok());
    assert_refusal(Error::Violations(report));
    assert_eq!(snapshot(&conn), before);
    let ok = with_rules(downgrade()).validate(&conn).unwrap();
    assert!(ok.is_ok(), "{ok}");
    assert_eq!(ok.violation_count(), 0);
    assert_eq!(snapshot(&conn), before);
}

#[test]
fn succeeds_with_rules_on_a_file_database() {
    // Only CHECKs change, but the rules rewrite most rows: copied, whether or not the
    // connection allows the in-place switch (tests/in_place.rs has the cases it takes).
    for copy in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plans.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        plans_db(&conn, PLANS);
        if copy {
            copy_only(&conn);
        }
        let report = with_rules(downgrade()).execute(&mut conn).unwrap();
        assert!(!report.in_place());
        assert_eq!(report.rows_copied(), PLANS as u64);
        let (bad_phase, _, _) = expected();
        let rules = report.rules();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].rows_changed(), bad_phase);
        assert_eq!(
            rules[1].rows_changed(),
            (1..=PLANS).filter(|i| state(*i) == "applied").count() as u64
        );
        assert_eq!(
            rules[2].rows_changed(),
            (1..=PLANS).filter(|i| state(*i) == "constrained").count() as u64
        );
        assert_eq!(
            report.recreated(),
            ["v3_plans_by_phase", "v3_plans_phase_changed"]
        );
        assert_eq!(report.children_checked().len(), 3);
        assert!(fk_on(&conn));
        drop(conn);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
        assert_downgraded(&conn);
    }
}

#[test]
fn succeeds_with_rules_and_everything_still_works() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    plans_db(&conn, PLANS);
    with_rules(downgrade()).execute(&mut conn).unwrap();
    assert_downgraded(&conn);
}

#[test]
fn execute_with_foreign_keys_off_restores_off() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    plans_db(&conn, PLANS);
    with_rules(downgrade()).execute(&mut conn).unwrap();
    assert!(!fk_on(&conn));
    assert_downgraded(&conn);
}

#[test]
fn execute_in_a_migration_transaction_with_foreign_keys_on() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    plans_db(&conn, PLANS);
    assert!(fk_on(&conn));
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    tx.execute(
        "INSERT INTO plan_events VALUES (0, 'migration started')",
        [],
    )
    .unwrap();
    let report = with_rules(downgrade()).execute_in(&tx).unwrap();
    assert_eq!(report.rows_copied(), PLANS as u64);
    // Still inside the caller's transaction, enforcement is back on.
    assert!(fk_on(&tx));
    assert!(query_all(&tx, "PRAGMA foreign_key_check").is_empty());
    tx.commit().unwrap();
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM plan_events WHERE event = 'migration started'"
        ),
        1
    );
    conn.execute("DELETE FROM plan_events WHERE plan_id = 0", [])
        .unwrap();
    assert_downgraded(&conn);
}

#[test]
fn execute_in_with_foreign_keys_off() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    plans_db(&conn, PLANS);
    let tx = conn.transaction().unwrap();
    with_rules(downgrade()).execute_in(&tx).unwrap();
    assert!(!fk_on(&tx));
    tx.commit().unwrap();
    assert_downgraded(&conn);
}

#[test]
fn execute_in_refusal_leaves_the_callers_transaction_as_it_was() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    plans_db(&conn, PLANS);
    let tx = conn.transaction().unwrap();
    tx.execute(
        "INSERT INTO plan_events VALUES (0, 'before the rebuild')",
        [],
    )
    .unwrap();
    let before = snapshot(&tx);
    assert_refusal(downgrade().execute_in(&tx).unwrap_err());
    assert_eq!(snapshot(&tx), before);
    assert!(
        fk_on(&tx),
        "enforcement restored inside the caller's transaction"
    );
    // The caller's own work survives and commits.
    tx.commit().unwrap();
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM plan_events WHERE event = 'before the rebuild'"
        ),
        1
    );
}

#[test]
fn plan_renders_the_steps_as_a_script_and_changes_nothing() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    plans_db(&conn, 10);
    let before = snapshot(&conn);
    let plan = with_rules(downgrade()).plan(&conn).unwrap();
    assert_eq!(snapshot(&conn), before);
    let kinds: Vec<StepKind> = plan.steps().iter().map(|s| s.kind()).collect();
    assert_eq!(
        kinds,
        [
            StepKind::CreateTarget,
            StepKind::Copy,
            StepKind::DropOld,
            StepKind::Rename,
            StepKind::CreateIndex,
            StepKind::CreateTrigger,
            StepKind::RestoreSequence,
            StepKind::RestoreSequence,
        ]
    );
    let copy = &plan.steps()[1];
    assert!(
        copy.sql().contains("?1") && !copy.sql().contains("'action'"),
        "values are bound: {}",
        copy.sql()
    );
    let script = plan.to_string();
    // The plan shows the copy that runs, values written out: it counts each rule's rows.
    assert!(
        script.contains(
            "WHEN \"v3_plans\".\"phase\" IS 'action' THEN coalesce(sqlite_rebuild_hit(0), 'strategize')"
        ),
        "{script}"
    );
    assert!(
        script.contains("DROP TABLE \"main\".\"v3_plans\";"),
        "{script}"
    );
    assert!(
        script.contains("PRAGMA legacy_alter_table = ON;"),
        "{script}"
    );
    assert!(
        script.contains("CREATE INDEX \"main\".v3_plans_by_phase ON"),
        "{script}"
    );
    assert!(script.contains("foreign_key_check"), "{script}");
}

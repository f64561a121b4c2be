//! Constraint-only changes (same columns, types, collations, defaults and keys; only CHECK,
//! NOT NULL or FOREIGN KEY clauses differ) switch the stored definition in place, with no
//! copy. Every case runs both paths (the copy is forced with SQLITE_DBCONFIG_DEFENSIVE)
//! and compares the results.

mod common;

use common::*;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{Error, StepKind, TableRebuild};

const PLANS: i64 = 400;

fn story(copy: bool) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    plans_db(&conn, PLANS);
    if copy {
        copy_only(&conn);
    }
    conn
}

/// Runs `rb` on two fresh story databases, in place and copied; returns both.
fn both_paths(
    rb: &TableRebuild,
) -> [(Connection, Result<sqlite_rebuild::RebuildReport, Error>); 2] {
    [false, true].map(|copy| {
        let mut conn = story(copy);
        let outcome = rb.execute(&mut conn);
        (conn, outcome)
    })
}

/// v2's CHECKs, on data that already fits them apart from a few rows fixed by rules.
fn v2_with_few_remaps() -> TableRebuild {
    TableRebuild::new("v3_plans")
        .create_sql(V2_PLANS)
        .remap("phase", "action", "strategize")
        .remap("processing_state", "applied", "complete")
        .remap("processing_state", "constrained", "complete")
}

/// The story database with most rows already in v2's values.
fn mostly_v2(conn: &Connection) {
    conn.execute_batch(
        "UPDATE v3_plans SET phase = 'execute' WHERE id % 10 <> 5;
         UPDATE v3_plans SET processing_state = 'queued' WHERE id % 25 <> 0;
         DELETE FROM plan_events;",
    )
    .unwrap();
}

#[test]
fn a_new_check_is_switched_in_place_with_the_copys_result() {
    let rb = TableRebuild::new("v3_plans").create_sql(v3_plans_with_named_check());
    let plan = rb.plan(&story(false)).unwrap();
    assert_eq!(plan.steps().len(), 1);
    assert_eq!(plan.steps()[0].kind(), StepKind::SwitchDefinition);
    let [(in_place, a), (copied, b)] = both_paths(&rb);
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.in_place() && !b.in_place());
    assert_eq!(a.rows_copied(), b.rows_copied());
    assert!(a.recreated().is_empty());
    assert_same(
        &normalized(snapshot(&in_place)),
        &normalized(snapshot(&copied)),
    );
    // The new constraint is in force.
    let err = in_place
        .execute("UPDATE v3_plans SET name = '' WHERE id = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("named"), "{err}");
}

#[test]
fn few_remaps_are_applied_in_place_without_firing_triggers() {
    let rb = v2_with_few_remaps();
    let mut results = Vec::new();
    for copy in [false, true] {
        let mut conn = story(copy);
        mostly_v2(&conn);
        let report = rb.execute(&mut conn).unwrap();
        assert_eq!(report.in_place(), !copy);
        // v3_plans_phase_changed fires on UPDATE OF phase: not for the remapping.
        assert_eq!(count(&conn, "plan_events"), 0);
        let counts: Vec<u64> = report.rules().iter().map(|r| r.rows_changed()).collect();
        results.push((normalized(snapshot(&conn)), counts));
    }
    assert_eq!(results[0].1, results[1].1, "the same rule counts");
    assert!(results[0].1.iter().all(|n| *n > 0));
    assert_same(&results[0].0, &results[1].0);
}

#[test]
fn many_remaps_take_the_copy_which_is_faster_for_them() {
    let mut conn = story(false);
    let report = v2_with_few_remaps().execute(&mut conn).unwrap();
    assert!(!report.in_place(), "75% of the rows are rewritten");
}

#[test]
fn violations_are_refused_the_same_way_on_both_paths() {
    let rb = TableRebuild::new("v3_plans").create_sql(V2_PLANS);
    let [(in_place, a), (copied, b)] = both_paths(&rb);
    let (Err(Error::Violations(a)), Err(Error::Violations(b))) = (a, b) else {
        panic!("both refuse")
    };
    assert_eq!(a, b);
    let fresh = snapshot(&story(false));
    assert_eq!(snapshot(&in_place), fresh);
    assert_eq!(snapshot(&copied), fresh);
}

#[test]
fn a_new_not_null_finds_the_nulls_in_place() {
    // The planner folds `x IS NULL` to false once x is declared NOT NULL: the check must
    // not be fooled by the definition it has just switched to.
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT);
         INSERT INTO t VALUES (1, 'a'), (2, NULL), (3, 'c'), (4, 'd'), (5, 'e'), (6, 'f');",
    )
    .unwrap();
    let before = snapshot(&conn);
    let rb = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT NOT NULL)");
    assert_eq!(
        rb.plan(&conn).unwrap().steps()[0].kind(),
        StepKind::SwitchDefinition
    );
    let Error::Violations(report) = rb.execute(&mut conn).unwrap_err() else {
        panic!()
    };
    assert_eq!(report.constraint("NOT NULL(x)").unwrap().count(), 1);
    assert_eq!(snapshot(&conn), before);
    let report = rb.remap_null("x", "").execute(&mut conn).unwrap();
    assert!(report.in_place());
    assert_eq!(int(&conn, "SELECT count(*) FROM t WHERE x = ''"), 1);
}

#[test]
fn a_new_foreign_key_is_checked_in_place() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE owner (id INTEGER PRIMARY KEY);
         CREATE TABLE pet (id INTEGER PRIMARY KEY, owner_id INTEGER);
         INSERT INTO owner VALUES (1);
         INSERT INTO pet VALUES (10, 1), (11, 2), (12, NULL);",
    )
    .unwrap();
    let before = snapshot(&conn);
    let rb = TableRebuild::new("pet").create_sql(
        "CREATE TABLE pet (id INTEGER PRIMARY KEY, owner_id INTEGER REFERENCES owner (id))",
    );
    assert_eq!(
        rb.plan(&conn).unwrap().steps()[0].kind(),
        StepKind::SwitchDefinition
    );
    let Error::Violations(report) = rb.execute(&mut conn).unwrap_err() else {
        panic!()
    };
    assert_eq!(report.violation_count(), 1);
    assert_eq!(report.constraints()[0].samples()[0].rowid(), Some(11));
    assert_eq!(snapshot(&conn), before);
    conn.execute_batch("INSERT INTO owner VALUES (2)").unwrap();
    assert!(rb.execute(&mut conn).unwrap().in_place());
    assert_eq!(
        int(&conn, "SELECT count(*) FROM pragma_foreign_key_list('pet')"),
        1
    );
}

#[test]
fn what_in_place_cannot_do_is_copied() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT UNIQUE, b TEXT UNIQUE);
         INSERT INTO t (a, b) VALUES ('x', 'y');
         ALTER TABLE t ADD COLUMN c TEXT DEFAULT 'old';",
    )
    .unwrap();
    let kind = |sql: &str| {
        TableRebuild::new("t")
            .create_sql(sql)
            .plan(&conn)
            .unwrap()
            .steps()[0]
            .kind()
    };
    // The UNIQUE constraints swapped: their automatic indexes are named by position.
    assert_eq!(
        kind("CREATE TABLE t (id INTEGER PRIMARY KEY, b TEXT UNIQUE, a TEXT UNIQUE, c TEXT DEFAULT 'old')"),
        StepKind::CreateTarget
    );
    // A new DEFAULT: rows from before ADD COLUMN hold no value for c and read the default.
    assert_eq!(
        kind("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT UNIQUE, b TEXT UNIQUE, c TEXT DEFAULT 'new')"),
        StepKind::CreateTarget
    );
    // A new collation, a new type: copied.
    assert_eq!(
        kind("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT UNIQUE COLLATE NOCASE, b TEXT UNIQUE, c TEXT DEFAULT 'old')"),
        StepKind::CreateTarget
    );
    // Only a NOT NULL: in place.
    assert_eq!(
        kind("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT UNIQUE NOT NULL, b TEXT UNIQUE, c TEXT DEFAULT 'old')"),
        StepKind::SwitchDefinition
    );
    // The copy keeps c's value for the old row.
    let mut conn = conn;
    TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT UNIQUE, b TEXT UNIQUE, c TEXT DEFAULT 'new')")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(int(&conn, "SELECT count(*) FROM t WHERE c = 'old'"), 1);
}

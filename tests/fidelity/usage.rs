//! Dependents that compile but would fail when used: SQLite's schema re-parse does not
//! compile a trigger's program or a view's column list against its tables. What uses each
//! one (a SELECT from each view, the statement that fires each trigger) is prepared before
//! and after the rebuild; what compiled before must compile after.

use super::*;
use sqlite_rebuild::DependentKind;

/// Expects every verb that runs the rebuild (validate's dry run, execute, execute_in) to
/// refuse it naming `kind` `name`, with the database exactly as it was.
fn refused_naming(conn: &mut Connection, rb: TableRebuild, kind: DependentKind, name: &str) {
    let before = snapshot(conn);
    let validate_err = rb.validate(conn).expect_err("validate must refuse");
    let in_err = {
        let tx = conn.transaction().unwrap();
        let e = rb.execute_in(&tx).expect_err("execute_in must refuse");
        tx.rollback().unwrap();
        e
    };
    let err = refused(conn, rb);
    for e in [&validate_err, &in_err, &err] {
        assert!(
            matches!(e, Error::DependentBroken { kind: k, name: n, .. } if *k == kind && n == name),
            "expected {kind} {name}: {e:?}"
        );
        assert!(e.to_string().contains("drop_dependent"), "{e}");
    }
    assert_same(&snapshot(conn), &before);
}

/// Then lets `name` go with `drop_dependent` and checks only it and the table changed.
fn goes_when_allowed(conn: &mut Connection, rb: TableRebuild, table: &str, name: &str) {
    let before = normalized(snapshot(conn));
    let report = rb.drop_dependent(name).execute(conn).unwrap();
    assert_eq!(report.dropped(), [name]);
    let mut expected = without(before, "main", table);
    expected.schema.retain(|(_, n, _, _)| n != name);
    assert_same(
        &without(normalized(snapshot(conn)), "main", table),
        &expected,
    );
}

#[test]
fn a_trigger_inserting_positionally_into_a_table_that_gains_a_column() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         CREATE TABLE other (x);
         CREATE TRIGGER other_ins AFTER INSERT ON other BEGIN INSERT INTO t VALUES (NULL, new.x); END;
         INSERT INTO t VALUES (1, 'a');",
    )
    .unwrap();
    // Before: the trigger works.
    conn.execute("INSERT INTO other VALUES ('b')", []).unwrap();
    let rb = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, extra TEXT DEFAULT 'e')");
    refused_naming(&mut conn, rb.clone(), DependentKind::Trigger, "other_ins");
    goes_when_allowed(&mut conn, rb, "t", "other_ins");
}

#[test]
fn a_trigger_inserting_into_a_column_that_goes() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, legacy TEXT);
         CREATE TABLE other (x);
         CREATE TRIGGER other_ins AFTER INSERT ON other BEGIN INSERT INTO t (v, legacy) VALUES (new.x, 'l'); END;
         INSERT INTO t VALUES (1, 'a', 'l');",
    )
    .unwrap();
    let rb = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        .drop_column("legacy");
    refused_naming(&mut conn, rb.clone(), DependentKind::Trigger, "other_ins");
    goes_when_allowed(&mut conn, rb, "t", "other_ins");
}

#[test]
fn a_history_trigger_copying_select_star_when_the_table_gains_a_column() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         CREATE TABLE hist (id INTEGER, v TEXT);
         CREATE TRIGGER t_hist AFTER UPDATE ON t BEGIN INSERT INTO hist SELECT * FROM t WHERE id = new.id; END;
         INSERT INTO t VALUES (1, 'a');
         UPDATE t SET v = 'b';",
    )
    .unwrap();
    let rb = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, extra TEXT)");
    refused_naming(&mut conn, rb.clone(), DependentKind::Trigger, "t_hist");
    goes_when_allowed(&mut conn, rb, "t", "t_hist");
}

#[test]
fn a_view_with_a_column_list_over_select_star_when_a_column_goes() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, legacy TEXT);
         CREATE VIEW v3(x, y, z) AS SELECT * FROM t;
         INSERT INTO t VALUES (1, 'a', 'l');",
    )
    .unwrap();
    let rb = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        .drop_column("legacy");
    refused_naming(&mut conn, rb.clone(), DependentKind::View, "v3");
    goes_when_allowed(&mut conn, rb, "t", "v3");
}

#[test]
fn an_update_of_trigger_and_a_delete_trigger_are_compiled_too() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         CREATE TABLE hist (id INTEGER, v TEXT);
         CREATE TRIGGER t_del BEFORE DELETE ON t BEGIN INSERT INTO hist SELECT * FROM t WHERE id = old.id; END;
         CREATE TRIGGER t_upd AFTER UPDATE OF v ON t BEGIN INSERT INTO hist VALUES (new.id, new.v); END;
         INSERT INTO t VALUES (1, 'a');",
    )
    .unwrap();
    let rb = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, extra TEXT)");
    refused_naming(&mut conn, rb.clone(), DependentKind::Trigger, "t_del");
    // t_upd inserts new.id, new.v: it still works, and is kept.
    let before = normalized(snapshot(&conn));
    let report = rb.drop_dependent("t_del").execute(&mut conn).unwrap();
    assert_eq!(report.recreated(), ["t_upd"]);
    let mut expected = without(before, "main", "t");
    expected.schema.retain(|(_, n, _, _)| n != "t_del");
    assert_same(
        &without(normalized(snapshot(&conn)), "main", "t"),
        &expected,
    );
    conn.execute("UPDATE t SET v = 'b'", []).unwrap();
    assert_eq!(count(&conn, "hist"), 1);
}

#[test]
fn one_view_broken_beforehand_does_not_switch_the_other_checks_off() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, legacy TEXT);
         CREATE TABLE gone (x);
         CREATE VIEW stale AS SELECT x FROM gone;
         CREATE VIEW healthy (a, b, c) AS SELECT * FROM t;
         INSERT INTO t VALUES (1, 'a', 'l');",
    )
    .unwrap();
    // `stale` breaks: its table goes under legacy_alter_table, as an old migration did.
    conn.execute_batch(
        "PRAGMA legacy_alter_table = ON; DROP TABLE gone; PRAGMA legacy_alter_table = OFF;",
    )
    .unwrap();
    assert!(conn.prepare("SELECT * FROM stale").is_err());
    let rb = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        .drop_column("legacy");
    refused_naming(&mut conn, rb.clone(), DependentKind::View, "healthy");

    // Without the healthy view, the rebuild goes ahead and names the broken one.
    let before = normalized(snapshot(&conn));
    let report = rb.drop_dependent("healthy").execute(&mut conn).unwrap();
    assert_eq!(report.already_broken(), ["stale"]);
    assert!(report.to_string().contains("stale"), "{report}");
    let mut expected = without(before, "main", "t");
    expected.schema.retain(|(_, n, _, _)| n != "healthy");
    assert_same(
        &without(normalized(snapshot(&conn)), "main", "t"),
        &expected,
    );
}

#[test]
fn a_trigger_on_a_view_is_compiled_through_the_view() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         CREATE VIEW tv AS SELECT id, v FROM t;
         CREATE TRIGGER tv_ins INSTEAD OF INSERT ON tv BEGIN INSERT INTO t VALUES (new.id, new.v); END;
         INSERT INTO t VALUES (1, 'a');",
    )
    .unwrap();
    let rb = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, extra TEXT)");
    refused_naming(&mut conn, rb, DependentKind::Trigger, "tv_ins");
}

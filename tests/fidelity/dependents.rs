//! Dependents: indexes of every kind, and the indexes, views and triggers a target breaks,
//! which go only when the caller allows it.

use super::*;
use sqlite_rebuild::DependentKind;

#[test]
pub(crate) fn indexes_of_every_kind_and_automatic_ones_come_back() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (a INTEGER, b TEXT COLLATE NOCASE, c REAL, d TEXT,
             PRIMARY KEY (a, b), UNIQUE (d));
         CREATE UNIQUE INDEX t_c ON t (c) WHERE c IS NOT NULL;
         CREATE INDEX t_expr ON t (lower(d), c DESC);
         CREATE INDEX t_coll ON t (d COLLATE RTRIM DESC, a);
         INSERT INTO t VALUES (1, 'x', 1.5, 'p'), (1, 'y', NULL, 'q'), (2, 'x', NULL, NULL);",
    )
    .unwrap();
    let target = "CREATE TABLE t (a INTEGER NOT NULL, b TEXT COLLATE NOCASE, c REAL, d TEXT,
             PRIMARY KEY (a, b), UNIQUE (d))";
    rebuild_main(&mut conn, "t", target);
    let automatic = values(
        &conn,
        "SELECT name, origin FROM pragma_index_list('t') WHERE origin <> 'c' ORDER BY name",
    );
    assert_eq!(
        automatic,
        vec![
            vec![text("sqlite_autoindex_t_1"), text("pk")],
            vec![text("sqlite_autoindex_t_2"), text("u")],
        ]
    );
    assert!(
        conn.execute("INSERT INTO t VALUES (1, 'X', 9, 'r')", [])
            .is_err(),
        "NOCASE key"
    );
    assert!(
        conn.execute("INSERT INTO t VALUES (5, 'z', 1.5, 'r')", [])
            .is_err(),
        "t_c"
    );
}

#[test]
pub(crate) fn an_index_the_target_breaks_goes_only_when_allowed() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, gone TEXT, kept TEXT);
         CREATE INDEX t_gone ON t (gone, kept);
         CREATE INDEX t_kept ON t (kept);
         INSERT INTO t VALUES (1, 'a', 'b');",
    )
    .unwrap();
    let target = "CREATE TABLE t (id INTEGER PRIMARY KEY, kept TEXT)";
    let err = refused(
        &mut conn,
        TableRebuild::new("t")
            .create_sql(target)
            .drop_column("gone"),
    );
    let Error::DependentBroken { kind, name, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((kind.as_str(), name.as_str()), ("index", "t_gone"));
    assert!(
        err.to_string().contains("drop_dependent"),
        "says what to do: {err}"
    );

    let before = normalized(snapshot(&conn));
    let report = TableRebuild::new("t")
        .create_sql(target)
        .drop_column("gone")
        .drop_dependent("t_gone")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(report.dropped(), ["t_gone"]);
    assert_eq!(report.recreated(), ["t_kept"]);
    let mut expected = without(before, "main", "t");
    expected.schema.retain(|(_, name, _, _)| name != "t_gone");
    assert_same(
        &without(normalized(snapshot(&conn)), "main", "t"),
        &expected,
    );
}

#[test]
pub(crate) fn naming_a_dependent_that_does_not_exist_is_refused() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v); CREATE TABLE other (x); CREATE INDEX other_x ON other (x);")
        .unwrap();
    for name in ["no_such_index", "other", "other_x"] {
        let err = refused(
            &mut conn,
            TableRebuild::new("t")
                .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
                .drop_dependent(name),
        );
        assert!(
            matches!(&err, Error::UnknownDependent { table, name: n } if table == "t" && n == name),
            "{name}: {err}"
        );
    }
}

#[test]
pub(crate) fn views_and_other_tables_triggers_the_target_breaks_go_only_when_allowed() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, legacy TEXT, v TEXT);
         CREATE TABLE other (x);
         CREATE TABLE log (x);
         CREATE VIEW uses_legacy AS SELECT id, legacy FROM t;
         CREATE VIEW on_top AS SELECT count(*) AS n FROM uses_legacy;
         CREATE VIEW fine AS SELECT v FROM t;
         CREATE TRIGGER other_ins AFTER INSERT ON other BEGIN INSERT INTO log SELECT legacy FROM t; END;
         INSERT INTO t VALUES (1, 'x', 'y');",
    )
    .unwrap();
    let target = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)";
    let err = refused(
        &mut conn,
        TableRebuild::new("t")
            .create_sql(target)
            .drop_column("legacy"),
    );
    assert!(matches!(&err, Error::DependentBroken { .. }), "{err}");
    // A view built on a dropped view breaks too, and is named.
    let err = refused(
        &mut conn,
        TableRebuild::new("t")
            .create_sql(target)
            .drop_column("legacy")
            .drop_dependent("uses_legacy")
            .drop_dependent("other_ins"),
    );
    assert!(
        matches!(&err, Error::DependentBroken { kind: DependentKind::View, name, .. } if name == "on_top"),
        "{err}"
    );
    let before = normalized(snapshot(&conn));
    let report = TableRebuild::new("t")
        .create_sql(target)
        .drop_column("legacy")
        .drop_dependent("uses_legacy")
        .drop_dependent("on_top")
        .drop_dependent("other_ins")
        .execute(&mut conn)
        .unwrap();
    let mut dropped = report.dropped().to_vec();
    dropped.sort();
    assert_eq!(dropped, ["on_top", "other_ins", "uses_legacy"]);
    let mut expected = without(before, "main", "t");
    expected
        .schema
        .retain(|(_, name, _, _)| !dropped.contains(name));
    assert_same(
        &without(normalized(snapshot(&conn)), "main", "t"),
        &expected,
    );
    assert_eq!(values(&conn, "SELECT v FROM fine"), vec![vec![text("y")]]);
}

#[test]
pub(crate) fn a_dependent_dropped_by_request_is_in_the_plan_and_the_script() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, gone TEXT);
         CREATE INDEX t_gone ON t (gone);
         CREATE VIEW v_gone AS SELECT gone FROM t;
         INSERT INTO t VALUES (1, 'a');",
    )
    .unwrap();
    let rb = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .drop_column("gone")
        .drop_dependent("t_gone")
        .drop_dependent("v_gone");
    let plan = rb.plan(&conn).unwrap();
    let drops: Vec<&str> = plan
        .steps()
        .iter()
        .filter(|s| s.kind() == sqlite_rebuild::StepKind::DropDependent)
        .map(|s| s.sql())
        .collect();
    assert_eq!(drops.len(), 2, "{plan}");
    assert!(
        !plan
            .steps()
            .iter()
            .any(|s| s.sql().contains("CREATE INDEX")),
        "{plan}"
    );
    let script = plan.to_sql().unwrap();
    conn.execute_batch(&script).unwrap();
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM sqlite_schema WHERE name IN ('t_gone', 'v_gone')"
        ),
        0
    );
    assert_eq!(int(&conn, "SELECT count(*) FROM t"), 1);
}

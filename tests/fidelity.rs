//! Schema fidelity: every kind of table and dependent survives a rebuild. Each test
//! rebuilds and compares the whole database (every schema row and every table's rows, in
//! main, temp and attached databases) before and after: equal except for the requested
//! change, which is then checked on its own.

mod common;

use common::*;
use sqlite_rebuild::rusqlite::types::Value;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{
    ConstraintKind, DependentKind, Error, OnViolation, RebuildReport, TableRebuild, TableSnapshot,
};

/// The snapshot without `db.table` itself: its schema row, the automatic indexes of its
/// constraints (part of its definition), and its rows.
fn without(mut s: Snapshot, db: &str, table: &str) -> Snapshot {
    s.schema.retain(|(kind, name, on, _)| {
        let own = kind == &format!("{db}.table") && name == table;
        let automatic =
            kind == &format!("{db}.index") && on == table && name.starts_with("sqlite_autoindex_");
        !own && !automatic
    });
    s.rows.remove(&format!("{db}.{table}"));
    s
}

/// Runs the rebuild of `db.table` and asserts that nothing but that table changed, and that
/// its stored definition is now `target` (SQLite quotes the name after the rename and
/// drops a schema prefix; both are normalised here).
fn rebuild_changing_only(
    conn: &mut Connection,
    rb: TableRebuild,
    db: &str,
    table: &str,
    target: &str,
) -> RebuildReport {
    let before = normalized(snapshot(conn));
    let report = rb.execute(conn).unwrap_or_else(|e| panic!("{e}"));
    let after = normalized(snapshot(conn));
    assert_same(&without(after, db, table), &without(before, db, table));
    assert_eq!(stored_sql(conn, db, table), unqualified(target));
    assert_eq!(
        conn.query_row(&format!("PRAGMA \"{db}\".integrity_check"), [], |r| r
            .get::<_, String>(0))
            .unwrap(),
        "ok"
    );
    report
}

/// [`rebuild_changing_only`] of a `main` table to `target`, with no other rule.
fn rebuild_main(conn: &mut Connection, table: &str, target: &str) -> RebuildReport {
    rebuild_changing_only(
        conn,
        TableRebuild::new(table).create_sql(target),
        "main",
        table,
        target,
    )
}

/// Runs the rebuild, expects it to fail, and asserts the database is exactly as it was.
fn refused(conn: &mut Connection, rb: TableRebuild) -> Error {
    let before = snapshot(conn);
    let err = rb.execute(conn).expect_err("the rebuild must be refused");
    assert_same(&snapshot(conn), &before);
    err
}

fn stored_sql(conn: &Connection, db: &str, table: &str) -> String {
    let sql: String = conn
        .query_row(
            &format!("SELECT sql FROM \"{db}\".sqlite_schema WHERE type = 'table' AND name = ?1"),
            [table],
            |r| r.get(0),
        )
        .unwrap();
    sql.replacen(
        &format!("CREATE TABLE \"{table}\""),
        &format!("CREATE TABLE {table}"),
        1,
    )
}

/// `CREATE TABLE aux.t (...)` as SQLite stores it: `CREATE TABLE t (...)`.
fn unqualified(target: &str) -> String {
    for prefix in ["aux.", "temp.", "main."] {
        if let Some(at) = target.find(prefix) {
            if target[..at].trim_end().ends_with("TABLE") {
                return format!("{}{}", &target[..at], &target[at + prefix.len()..]);
            }
        }
    }
    target.to_owned()
}

fn values(conn: &Connection, sql: &str) -> Vec<Vec<Value>> {
    query_all(conn, sql)
}

fn int_v(n: i64) -> Value {
    Value::Integer(n)
}

// ---------------------------------------------------------------------------------------
// Tables

#[test]
fn strict_can_be_added_and_removed() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, s TEXT, b ANY);
         CREATE INDEX t_n ON t (n);
         INSERT INTO t VALUES (1, 10, 'a', x'01'), (2, '20', 'b', 2.5), (3, NULL, NULL, NULL);",
    )
    .unwrap();
    let strict = "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, s TEXT, b ANY) STRICT";
    let rows = rows_with_rowid(&conn, "t");
    rebuild_main(&mut conn, "t", strict);
    assert_eq!(rows_with_rowid(&conn, "t"), rows);
    assert!(
        conn.execute("INSERT INTO t (n) VALUES ('x')", []).is_err(),
        "STRICT is enforced"
    );
    let loose = "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, s TEXT, b ANY)";
    rebuild_main(&mut conn, "t", loose);
    assert_eq!(rows_with_rowid(&conn, "t"), rows);
}

#[test]
fn values_of_the_wrong_type_for_a_strict_target_are_reported() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, s TEXT);
         INSERT INTO t VALUES (1, 10, 'a'), (2, 'ten', 'b'), (3, 3.5, 'c'), (4, 4, x'00');",
    )
    .unwrap();
    let err = refused(
        &mut conn,
        TableRebuild::new("t")
            .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, s TEXT) STRICT"),
    );
    let Error::Violations(report) = err else {
        panic!("{err}")
    };
    let types: Vec<_> = report
        .constraints()
        .iter()
        .filter(|c| c.kind() == ConstraintKind::Datatype)
        .collect();
    let total: u64 = types.iter().map(|c| c.count()).sum();
    assert_eq!(total, 3, "{report}");
    assert!(report.to_string().contains('n'), "{report}");
}

#[test]
fn a_rowid_table_becomes_without_rowid_and_back() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (code TEXT PRIMARY KEY, v INTEGER, note TEXT);
         CREATE INDEX t_v ON t (v DESC);
         CREATE TABLE log (x);
         CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.code); END;
         CREATE VIEW t_view AS SELECT code, v FROM t;
         CREATE TABLE child (id INTEGER PRIMARY KEY, code TEXT REFERENCES t (code) ON DELETE CASCADE);
         INSERT INTO t VALUES ('b', 2, 'x'), ('a', 1, NULL), ('c', 3, 'z');
         INSERT INTO child VALUES (1, 'a'), (2, 'c');",
    )
    .unwrap();
    let keyed = values(&conn, "SELECT code, v, note FROM t ORDER BY code");
    let without_rowid =
        "CREATE TABLE t (code TEXT PRIMARY KEY, v INTEGER, note TEXT) WITHOUT ROWID";
    rebuild_main(&mut conn, "t", without_rowid);
    assert_eq!(values(&conn, "SELECT * FROM t"), keyed, "ordered by key");
    let rowid = "CREATE TABLE t (code TEXT PRIMARY KEY, v INTEGER, note TEXT)";
    rebuild_main(&mut conn, "t", rowid);
    assert_eq!(
        values(&conn, "SELECT code, v, note FROM t ORDER BY code"),
        keyed
    );
    assert_eq!(int(&conn, "SELECT count(*) FROM t WHERE rowid > 0"), 3);
    conn.execute("INSERT INTO t VALUES ('d', 4, NULL)", [])
        .unwrap();
    assert_eq!(
        int(&conn, "SELECT count(*) FROM log"),
        4,
        "three setup rows and the new one: the trigger is back and never fired in between"
    );
}

#[test]
fn without_rowid_needs_a_primary_key() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (a, b); INSERT INTO t VALUES (1, 2);")
        .unwrap();
    let err = refused(
        &mut conn,
        TableRebuild::new("t").create_sql("CREATE TABLE t (a, b) WITHOUT ROWID"),
    );
    let Error::TargetSql { table, reason } = &err else {
        panic!("{err}")
    };
    assert_eq!(table, "t");
    assert!(reason.contains("PRIMARY KEY"), "{reason}");
}

#[test]
fn generated_columns_are_recomputed_never_copied() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, price REAL, qty INTEGER,
             total REAL GENERATED ALWAYS AS (price * qty) STORED,
             label TEXT AS ('#' || id) VIRTUAL);
         CREATE INDEX t_total ON t (total);
         INSERT INTO t (id, price, qty) VALUES (1, 2.5, 2), (2, 10, 3), (3, NULL, 1);",
    )
    .unwrap();
    // The target changes a generated expression and adds a generated column.
    let target = "CREATE TABLE t (id INTEGER PRIMARY KEY, price REAL, qty INTEGER,
             total REAL GENERATED ALWAYS AS (price * qty * 2) STORED,
             label TEXT AS ('#' || id) VIRTUAL,
             cheap INTEGER AS (price < 5) STORED)";
    rebuild_main(&mut conn, "t", target);
    assert_eq!(
        values(&conn, "SELECT id, total, label, cheap FROM t ORDER BY id"),
        vec![
            vec![int_v(1), Value::Real(10.0), text("#1"), int_v(1)],
            vec![int_v(2), Value::Real(60.0), text("#2"), int_v(0)],
            vec![int_v(3), Value::Null, text("#3"), Value::Null],
        ]
    );
    // The stored column is really stored: the index over it answers from the new values.
    assert_eq!(
        int(
            &conn,
            "SELECT id FROM t INDEXED BY t_total WHERE total = 60"
        ),
        2
    );
}

#[test]
fn a_generated_columns_own_check_is_validated() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, price REAL, qty INTEGER,
             total REAL AS (price * qty));
         INSERT INTO t (id, price, qty) VALUES (1, 2, 2), (2, 50, 3), (3, 40, 3);",
    )
    .unwrap();
    let err = refused(
        &mut conn,
        TableRebuild::new("t").create_sql(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, price REAL, qty INTEGER,
                 total REAL AS (price * qty) CONSTRAINT small CHECK (total < 100))",
        ),
    );
    let Error::Violations(report) = err else {
        panic!("{err}")
    };
    let small = report
        .constraint("small")
        .expect("the generated column's CHECK");
    assert_eq!(small.count(), 2);
    let ids: Vec<_> = small.samples().iter().map(|s| s.rowid()).collect();
    assert_eq!(ids, vec![Some(2), Some(3)]);
}

#[test]
fn collations_and_defaults_are_kept_and_new_defaults_fill_old_rows() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE UNIQUE,
             created TEXT DEFAULT CURRENT_TIMESTAMP, n INTEGER DEFAULT (1 + 1));
         INSERT INTO t (id, name, created) VALUES (1, 'Ann', '2020-01-01 00:00:00');
         INSERT INTO t (id, name, created, n) VALUES (2, 'bob', NULL, 7);",
    )
    .unwrap();
    let target = "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE UNIQUE,
             created TEXT DEFAULT CURRENT_TIMESTAMP, n INTEGER DEFAULT (1 + 1),
             added_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, k INTEGER DEFAULT (abs(-3)))";
    rebuild_main(&mut conn, "t", target);
    assert_eq!(
        values(&conn, "SELECT id, name, created, n, k FROM t ORDER BY id"),
        vec![
            vec![
                int_v(1),
                text("Ann"),
                text("2020-01-01 00:00:00"),
                int_v(2),
                int_v(3)
            ],
            vec![int_v(2), text("bob"), Value::Null, int_v(7), int_v(3)],
        ]
    );
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM t WHERE added_at >= '2026' AND added_at = datetime(added_at)"
        ),
        2,
        "old rows got the new column's CURRENT_TIMESTAMP"
    );
    assert_eq!(
        int(&conn, "SELECT id FROM t WHERE name = 'ANN'"),
        1,
        "NOCASE kept"
    );
    assert!(conn
        .execute("INSERT INTO t (name) VALUES ('BOB')", [])
        .is_err());
    conn.execute("INSERT INTO t (id, name) VALUES (9, 'cy')", [])
        .unwrap();
    assert_eq!(
        values(
            &conn,
            "SELECT n, k, created IS NOT NULL FROM t WHERE id = 9"
        ),
        vec![vec![int_v(2), int_v(3), int_v(1)]]
    );
}

#[test]
fn a_table_in_an_attached_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("main.db")).unwrap();
    conn.execute_batch(&format!(
        "ATTACH DATABASE '{}' AS aux;
         CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO items VALUES (1, 'main item');
         CREATE TABLE aux.items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER);
         CREATE INDEX aux.items_name ON items (name);
         CREATE TABLE aux.log (x);
         CREATE TRIGGER aux.items_ins AFTER INSERT ON items BEGIN INSERT INTO log VALUES (new.name); END;
         CREATE VIEW aux.items_view AS SELECT name FROM items;
         CREATE TABLE aux.parts (id INTEGER PRIMARY KEY, item INTEGER REFERENCES items (id) ON DELETE CASCADE);
         INSERT INTO aux.items VALUES (1, 'a', 1), (2, 'b', 0);
         INSERT INTO aux.parts VALUES (1, 1), (2, 2);",
        dir.path().join("aux.db").display()
    ))
    .unwrap();
    let target = "CREATE TABLE aux.items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER CHECK (qty >= 0))";
    let report = rebuild_changing_only(
        &mut conn,
        TableRebuild::new("items").schema("aux").create_sql(target),
        "aux",
        "items",
        target,
    );
    assert_eq!(report.rows_copied(), 2);
    assert_eq!(
        values(&conn, "SELECT * FROM aux.items ORDER BY id"),
        vec![
            vec![int_v(1), text("a"), int_v(1)],
            vec![int_v(2), text("b"), int_v(0)],
        ]
    );
    conn.execute("INSERT INTO aux.items VALUES (3, 'c', 5)", [])
        .unwrap();
    assert_eq!(
        values(&conn, "SELECT x FROM aux.log"),
        vec![vec![text("a")], vec![text("b")], vec![text("c")]],
        "the trigger fired for the setup rows and the new one, not during the rebuild"
    );
    assert_eq!(int(&conn, "SELECT count(*) FROM aux.items_view"), 3);
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM pragma_index_list('items', 'aux') WHERE name = 'items_name'"
        ),
        1
    );
}

#[test]
fn a_temp_table_with_its_index_and_trigger() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE log (x);
         CREATE TEMP TABLE scratch (id INTEGER PRIMARY KEY, v TEXT);
         CREATE INDEX temp.scratch_v ON scratch (v);
         CREATE TEMP TRIGGER scratch_ins AFTER INSERT ON scratch BEGIN INSERT INTO log VALUES (new.v); END;
         INSERT INTO scratch VALUES (1, 'a'), (2, 'b');
         DELETE FROM log;",
    )
    .unwrap();
    let target =
        "CREATE TEMP TABLE scratch (id INTEGER PRIMARY KEY, v TEXT NOT NULL, w INTEGER DEFAULT 0)";
    rebuild_changing_only(
        &mut conn,
        TableRebuild::new("scratch")
            .schema("temp")
            .create_sql(target),
        "temp",
        "scratch",
        "CREATE TABLE scratch (id INTEGER PRIMARY KEY, v TEXT NOT NULL, w INTEGER DEFAULT 0)",
    );
    conn.execute("INSERT INTO scratch (v) VALUES ('c')", [])
        .unwrap();
    assert_eq!(
        values(&conn, "SELECT x FROM log"),
        vec![vec![text("c")]],
        "the temp trigger is back"
    );
}

#[test]
fn temp_dependents_of_a_main_table_survive() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         CREATE TABLE log (x);
         CREATE TEMP TRIGGER t_upd AFTER UPDATE ON main.t BEGIN INSERT INTO log VALUES (new.v); END;
         CREATE TEMP VIEW t_upper AS SELECT upper(v) AS u FROM main.t;
         INSERT INTO t VALUES (1, 'a');",
    )
    .unwrap();
    let target = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)";
    rebuild_main(&mut conn, "t", target);
    conn.execute("UPDATE t SET v = 'b'", []).unwrap();
    assert_eq!(values(&conn, "SELECT x FROM log"), vec![vec![text("b")]]);
    assert_eq!(
        values(&conn, "SELECT u FROM t_upper"),
        vec![vec![text("B")]]
    );
}

#[test]
fn virtual_and_shadow_tables_are_refused_with_the_reason() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE VIRTUAL TABLE docs USING fts5(body);
         CREATE VIRTUAL TABLE boxes USING rtree(id, min_x, max_x);
         INSERT INTO docs VALUES ('hello');
         INSERT INTO boxes VALUES (1, 0, 1);",
    )
    .unwrap();
    for (table, kind) in [
        ("docs", "virtual table"),
        ("boxes", "virtual table"),
        ("docs_data", "shadow table"),
        ("boxes_node", "shadow table"),
    ] {
        let err = refused(
            &mut conn,
            TableRebuild::new(table).create_sql(format!("CREATE TABLE {table} (x)")),
        );
        let Error::NotRebuildable {
            table: named,
            kind: said,
        } = &err
        else {
            panic!("{table}: {err}")
        };
        assert_eq!(named, table);
        assert!(said.starts_with(kind), "{table}: {said}");
        assert!(err.to_string().contains("only ordinary tables"), "{err}");
    }
}

/// FTS5's integrity check; `rank = 1` makes it compare the index with the content table.
fn fts_integrity(conn: &Connection, fts: &str) {
    conn.execute(
        &format!("INSERT INTO {fts} ({fts}, rank) VALUES ('integrity-check', 1)"),
        [],
    )
    .unwrap_or_else(|e| panic!("{fts} integrity-check: {e}"));
}

#[test]
fn fts5_external_content_tables_keep_working() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT, body TEXT);
         CREATE VIRTUAL TABLE docs_fts USING fts5(title, body, content='docs', content_rowid='id');
         CREATE TRIGGER docs_ai AFTER INSERT ON docs BEGIN
           INSERT INTO docs_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
         END;
         CREATE TRIGGER docs_ad AFTER DELETE ON docs BEGIN
           INSERT INTO docs_fts (docs_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
         END;
         CREATE TABLE notes (body TEXT);
         CREATE VIRTUAL TABLE notes_fts USING fts5(body, content='notes');
         CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN
           INSERT INTO notes_fts (rowid, body) VALUES (new.rowid, new.body);
         END;
         INSERT INTO docs VALUES (3, 'alpha', 'one two'), (7, 'beta', 'two three'), (12, 'gamma', 'three');
         INSERT INTO notes (rowid, body) VALUES (4, 'red fox'), (9, 'blue fox'), (30, 'red hen');",
    )
    .unwrap();
    fts_integrity(&conn, "docs_fts");
    fts_integrity(&conn, "notes_fts");
    let target =
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT, lang TEXT DEFAULT 'en')";
    rebuild_main(&mut conn, "docs", target);
    // The implicit rowid of `notes` is what its index points at.
    let notes_target = "CREATE TABLE notes (body TEXT NOT NULL)";
    rebuild_main(&mut conn, "notes", notes_target);
    fts_integrity(&conn, "docs_fts");
    fts_integrity(&conn, "notes_fts");
    assert_eq!(
        values(
            &conn,
            "SELECT rowid, title FROM docs_fts WHERE docs_fts MATCH 'two' ORDER BY rowid"
        ),
        vec![vec![int_v(3), text("alpha")], vec![int_v(7), text("beta")]]
    );
    assert_eq!(
        values(
            &conn,
            "SELECT rowid, body FROM notes_fts WHERE notes_fts MATCH 'red' ORDER BY rowid"
        ),
        vec![
            vec![int_v(4), text("red fox")],
            vec![int_v(30), text("red hen")]
        ]
    );
    conn.execute_batch("INSERT INTO docs (id, title, body) VALUES (20, 'delta', 'two'); DELETE FROM docs WHERE id = 3;")
        .unwrap();
    fts_integrity(&conn, "docs_fts");
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM docs_fts WHERE docs_fts MATCH 'two'"
        ),
        2
    );
}

// ---------------------------------------------------------------------------------------
// Dependents

#[test]
fn indexes_of_every_kind_and_automatic_ones_come_back() {
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
fn an_index_the_target_breaks_goes_only_when_allowed() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, gone TEXT, kept TEXT);
         CREATE INDEX t_gone ON t (gone, kept);
         CREATE INDEX t_kept ON t (kept);
         INSERT INTO t VALUES (1, 'a', 'b');",
    )
    .unwrap();
    let target = "CREATE TABLE t (id INTEGER PRIMARY KEY, kept TEXT)";
    let err = refused(&mut conn, TableRebuild::new("t").create_sql(target));
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
fn naming_a_dependent_that_does_not_exist_is_refused() {
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
fn views_and_other_tables_triggers_the_target_breaks_go_only_when_allowed() {
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
    let err = refused(&mut conn, TableRebuild::new("t").create_sql(target));
    assert!(matches!(&err, Error::DependentBroken { .. }), "{err}");
    // A view built on a dropped view breaks too, and is named.
    let err = refused(
        &mut conn,
        TableRebuild::new("t")
            .create_sql(target)
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
fn a_dependent_dropped_by_request_is_in_the_plan_and_the_script() {
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

// ---------------------------------------------------------------------------------------
// Foreign keys

#[test]
fn composite_keys_grandchildren_and_self_references_survive() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         CREATE TABLE region (country TEXT, code TEXT, name TEXT, parent_code TEXT,
             PRIMARY KEY (country, code),
             FOREIGN KEY (country, parent_code) REFERENCES region (country, code) ON DELETE CASCADE);
         CREATE TABLE city (id INTEGER PRIMARY KEY, country TEXT, region TEXT,
             FOREIGN KEY (country, region) REFERENCES region (country, code) ON DELETE CASCADE);
         CREATE TABLE street (id INTEGER PRIMARY KEY, city INTEGER REFERENCES city (id) ON DELETE CASCADE);
         INSERT INTO region VALUES ('fr', 'idf', 'Ile-de-France', NULL), ('fr', 'par', 'Paris', 'idf');
         INSERT INTO city VALUES (1, 'fr', 'par'), (2, 'fr', 'idf');
         INSERT INTO street VALUES (10, 1), (11, 2);",
    )
    .unwrap();
    let target = "CREATE TABLE region (country TEXT NOT NULL, code TEXT NOT NULL, name TEXT CHECK (name <> ''), parent_code TEXT,
             PRIMARY KEY (country, code),
             FOREIGN KEY (country, parent_code) REFERENCES region (country, code) ON DELETE CASCADE)";
    rebuild_main(&mut conn, "region", target);
    assert_eq!(count(&conn, "region"), 2);
    assert!(fk_on(&conn));
    assert_eq!(
        int(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    // The cascade is still wired: deleting the top region empties everything below it.
    conn.execute("DELETE FROM region WHERE code = 'idf'", [])
        .unwrap();
    assert_eq!(count(&conn, "city") + count(&conn, "street"), 0);
}

#[test]
fn a_self_reference_the_target_adds_is_checked_against_the_new_rows() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE node (id INTEGER PRIMARY KEY, parent INTEGER);
         INSERT INTO node VALUES (1, NULL), (2, 1), (3, 2), (4, 99);",
    )
    .unwrap();
    let err = refused(
        &mut conn,
        TableRebuild::new("node").create_sql(
            "CREATE TABLE node (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES node (id))",
        ),
    );
    let Error::Violations(report) = err else {
        panic!("{err}")
    };
    let fk = &report.constraints()[0];
    assert_eq!(fk.kind(), ConstraintKind::ForeignKey);
    assert_eq!(fk.count(), 1);
    assert_eq!(fk.samples()[0].rowid(), Some(4));
}

#[test]
fn deferred_foreign_keys_survive_in_both_directions() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         CREATE TABLE parent (id INTEGER PRIMARY KEY, v TEXT);
         CREATE TABLE child (id INTEGER PRIMARY KEY,
             parent INTEGER REFERENCES parent (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
         INSERT INTO parent VALUES (1, 'a'), (2, 'b');
         INSERT INTO child VALUES (10, 1), (11, 2);",
    )
    .unwrap();
    let parent = "CREATE TABLE parent (id INTEGER PRIMARY KEY, v TEXT NOT NULL)";
    rebuild_main(&mut conn, "parent", parent);
    let child = "CREATE TABLE child (id INTEGER PRIMARY KEY,
             parent INTEGER NOT NULL REFERENCES parent (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED)";
    rebuild_main(&mut conn, "child", child);
    assert_eq!(count(&conn, "child"), 2);
    // Still deferred: a dangling row is fine until COMMIT.
    let tx = conn.transaction().unwrap();
    tx.execute("INSERT INTO child VALUES (12, 3)", []).unwrap();
    tx.execute("INSERT INTO parent VALUES (3, 'c')", [])
        .unwrap();
    tx.commit().unwrap();
}

#[test]
fn a_foreign_key_the_target_adds_reports_existing_orphans() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER);
         INSERT INTO parent VALUES (1), (2);
         INSERT INTO child VALUES (10, 1), (11, 5), (12, NULL), (13, 6);",
    )
    .unwrap();
    let err = refused(
        &mut conn,
        TableRebuild::new("child").create_sql(
            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent (id))",
        ),
    );
    let Error::Violations(report) = err else {
        panic!("{err}")
    };
    assert_eq!(report.violation_count(), 2, "{report}");
    let fk = &report.constraints()[0];
    assert_eq!(fk.kind(), ConstraintKind::ForeignKey);
    let rows: Vec<_> = fk.samples().iter().map(|s| s.rowid()).collect();
    assert_eq!(rows, vec![Some(11), Some(13)]);
    assert!(report.to_string().contains("parent"), "{report}");
}

#[test]
fn a_renamed_referenced_column_takes_children_indexes_views_and_triggers_along() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         CREATE TABLE parent (code TEXT PRIMARY KEY, v TEXT);
         CREATE INDEX parent_v ON parent (v, code);
         CREATE TABLE child (id INTEGER PRIMARY KEY, code TEXT REFERENCES parent (code) ON DELETE CASCADE);
         CREATE VIEW codes AS SELECT code, v FROM parent;
         CREATE TABLE log (x);
         CREATE TRIGGER parent_upd AFTER UPDATE ON parent BEGIN INSERT INTO log VALUES (new.code); END;
         CREATE TRIGGER child_ins AFTER INSERT ON child BEGIN INSERT INTO log SELECT v FROM parent WHERE code = new.code; END;
         INSERT INTO parent VALUES ('a', 'x'), ('b', 'y');
         INSERT INTO child VALUES (1, 'a'), (2, 'b');
         DELETE FROM log;",
    )
    .unwrap();
    let target = "CREATE TABLE parent (key TEXT PRIMARY KEY, v TEXT NOT NULL)";
    let rb = TableRebuild::new("parent")
        .create_sql(target)
        .column("key", "code");
    let plan = rb.plan(&conn).unwrap();
    assert!(
        plan.steps()
            .iter()
            .any(|s| s.kind() == sqlite_rebuild::StepKind::RenameColumn),
        "{plan}"
    );
    let before = snapshot(&conn);
    rb.execute(&mut conn).unwrap();
    assert_eq!(stored_sql(&conn, "main", "parent"), target);
    // Everything that named the column now names it as ALTER TABLE RENAME COLUMN would
    // (which quotes the new name); the child's own column keeps its name.
    let renamed = [
        ("parent_v", "CREATE INDEX parent_v ON parent (v, \"key\")"),
        ("child", "CREATE TABLE child (id INTEGER PRIMARY KEY, code TEXT REFERENCES parent (\"key\") ON DELETE CASCADE)"),
        ("codes", "CREATE VIEW codes AS SELECT \"key\", v FROM parent"),
        ("parent_upd", "CREATE TRIGGER parent_upd AFTER UPDATE ON parent BEGIN INSERT INTO log VALUES (new.\"key\"); END"),
        ("child_ins", "CREATE TRIGGER child_ins AFTER INSERT ON child BEGIN INSERT INTO log SELECT v FROM parent WHERE \"key\" = new.code; END"),
    ];
    let mut expected = without(normalized(before), "main", "parent");
    for row in &mut expected.schema {
        if let Some((_, sql)) = renamed.iter().find(|(name, _)| *name == row.1) {
            row.3 = Some(sql.to_string());
        }
    }
    assert_same(
        &without(normalized(snapshot(&conn)), "main", "parent"),
        &expected,
    );
    assert_eq!(
        int(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    assert_eq!(
        values(&conn, "SELECT key, v FROM codes ORDER BY key"),
        values(&conn, "SELECT key, v FROM parent ORDER BY key")
    );
    conn.execute_batch(
        "UPDATE parent SET v = 'z' WHERE key = 'a'; INSERT INTO child VALUES (3, 'b');",
    )
    .unwrap();
    assert_eq!(
        values(&conn, "SELECT x FROM log"),
        vec![vec![text("a")], vec![text("y")]]
    );
    conn.execute("DELETE FROM parent WHERE key = 'b'", [])
        .unwrap();
    assert_eq!(
        count(&conn, "child"),
        1,
        "the cascade follows the renamed key"
    );
}

#[test]
fn a_dropped_referenced_column_is_refused_before_anything_runs() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE parent (code TEXT PRIMARY KEY, v TEXT);
         CREATE TABLE child (id INTEGER PRIMARY KEY, code TEXT REFERENCES parent (code));
         INSERT INTO parent VALUES ('a', 'x');
         INSERT INTO child VALUES (1, 'a');",
    )
    .unwrap();
    // `key` is computed, not a rename of `code`: the children have nothing to follow.
    let rb = TableRebuild::new("parent")
        .create_sql("CREATE TABLE parent (key TEXT PRIMARY KEY, v TEXT)")
        .column("key", "upper(code)");
    assert!(rb.plan(&conn).is_err(), "refused at planning time");
    let err = refused(&mut conn, rb);
    let Error::ChildKeyMissing {
        table,
        child,
        columns,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(
        (table.as_str(), child.as_str(), columns.as_str()),
        ("parent", "child", "code")
    );
}

#[test]
fn a_retyped_referenced_column_is_rechecked_and_children_follow() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         CREATE TABLE parent (code INTEGER PRIMARY KEY, v TEXT);
         CREATE TABLE child (id INTEGER PRIMARY KEY, code INTEGER REFERENCES parent (code) ON DELETE CASCADE);
         INSERT INTO parent VALUES (1, 'x'), (2, 'y');
         INSERT INTO child VALUES (10, 1), (11, 2);",
    )
    .unwrap();
    // INTEGER to TEXT: stored keys become '1', '2'; the children's integers still match
    // (SQLite applies the parent's affinity), so nothing is lost.
    let target = "CREATE TABLE parent (code TEXT PRIMARY KEY, v TEXT)";
    let report = rebuild_main(&mut conn, "parent", target);
    assert_eq!(report.children_checked(), ["child"]);
    assert_eq!(
        values(&conn, "SELECT code, typeof(code) FROM parent ORDER BY code"),
        vec![vec![text("1"), text("text")], vec![text("2"), text("text")]]
    );
    assert_eq!(
        int(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    conn.execute("DELETE FROM parent WHERE code = '1'", [])
        .unwrap();
    assert_eq!(
        count(&conn, "child"),
        1,
        "the cascade still finds the child"
    );

    // BLOB affinity keeps the text; children holding integers would dangle: refused.
    let err = refused(
        &mut conn,
        TableRebuild::new("parent")
            .create_sql("CREATE TABLE parent (code BLOB PRIMARY KEY, v TEXT)")
            .column("code", "CAST(code AS BLOB)"),
    );
    assert!(
        matches!(&err, Error::CheckFailed { reason, .. } if reason.contains("child")),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// Planner statistics

fn stats(conn: &Connection) -> Vec<Vec<Value>> {
    values(
        conn,
        "SELECT tbl, idx, stat FROM sqlite_stat1 ORDER BY tbl, idx",
    )
}

#[test]
fn analyze_statistics_of_unchanged_indexes_survive_the_copy() {
    let mut conn = Connection::open_in_memory().unwrap();
    copy_only(&conn);
    conn.execute_batch(
        "CREATE TABLE t (a INTEGER, b TEXT UNIQUE, c TEXT);
         CREATE INDEX t_a ON t (a);
         CREATE TABLE bare (x);
         CREATE TABLE other (y); CREATE INDEX other_y ON other (y);
         INSERT INTO t VALUES (1, 'p', 'x'), (1, 'q', 'y'), (2, 'r', NULL);
         INSERT INTO bare VALUES (1), (2);
         INSERT INTO other VALUES (1);
         ANALYZE;",
    )
    .unwrap();
    let before = stats(&conn);
    assert_eq!(before.len(), 4, "{before:?}");
    let target = "CREATE TABLE t (a INTEGER NOT NULL, b TEXT UNIQUE, c TEXT)";
    // The whole database, sqlite_stat1 rows included, is as it was.
    rebuild_main(&mut conn, "t", target);
    let bare = "CREATE TABLE bare (x NOT NULL)";
    rebuild_main(&mut conn, "bare", bare);
    assert_eq!(stats(&conn), before);

    // Indexes that go, or come back with other keys, take their statistics with them.
    TableRebuild::new("t")
        .create_sql("CREATE TABLE t (a INTEGER NOT NULL, b TEXT, c TEXT UNIQUE)")
        .drop_dependent("t_a")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        stats(&conn),
        vec![
            vec![text("bare"), Value::Null, text("2")],
            vec![text("other"), text("other_y"), text("1 1")],
        ]
    );
}

#[test]
fn analyze_statistics_survive_the_script_too() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (a INTEGER, b TEXT);
         CREATE INDEX t_a ON t (a);
         INSERT INTO t VALUES (1, 'p'), (1, 'q'), (2, 'r');
         ANALYZE;",
    )
    .unwrap();
    let before = stats(&conn);
    let script = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (a INTEGER NOT NULL, b TEXT, c TEXT)")
        .plan(&conn)
        .unwrap()
        .to_sql()
        .unwrap();
    conn.execute_batch(&script).unwrap();
    assert_eq!(stats(&conn), before);
    assert_eq!(before, vec![vec![text("t"), text("t_a"), text("3 2")]]);
}

#[test]
fn a_rename_runs_the_same_as_a_script_and_validates_first() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF;
         CREATE TABLE parent (code TEXT PRIMARY KEY, v TEXT);
         CREATE TABLE child (id INTEGER PRIMARY KEY, code TEXT REFERENCES parent (code));
         CREATE INDEX parent_v ON parent (v, code);
         INSERT INTO parent VALUES ('a', 'x'), ('b', NULL);
         INSERT INTO child VALUES (1, 'a');",
    )
    .unwrap();
    let strict = TableRebuild::new("parent")
        .create_sql("CREATE TABLE parent (key TEXT PRIMARY KEY, v TEXT NOT NULL)")
        .column("key", "code");
    let report = strict.validate(&conn).unwrap();
    assert_eq!(report.violation_count(), 1, "{report}");
    let before = snapshot(&conn);
    let script = strict.plan(&conn).unwrap().to_sql().unwrap();
    let err = conn.execute_batch(&script).unwrap_err();
    assert!(err.to_string().contains("NOT NULL"), "{err}");
    assert_same(&snapshot(&conn), &before);

    let script = TableRebuild::new("parent")
        .create_sql("CREATE TABLE parent (key TEXT PRIMARY KEY, v TEXT)")
        .column("key", "code")
        .plan(&conn)
        .unwrap()
        .to_sql()
        .unwrap();
    conn.execute_batch(&script).unwrap();
    assert_eq!(
        values(
            &conn,
            "SELECT \"table\", \"to\" FROM pragma_foreign_key_list('child')"
        ),
        vec![vec![text("parent"), text("key")]]
    );
    assert_eq!(
        int(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM parent INDEXED BY parent_v WHERE v = 'x' AND key = 'a'"
        ),
        1
    );
}

#[test]
fn a_self_referencing_parent_whose_key_changes_is_checked_without_its_scratch_copy() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE node (code TEXT PRIMARY KEY, up TEXT REFERENCES node (code));
         CREATE TABLE leaf (id INTEGER PRIMARY KEY, node TEXT REFERENCES node (code));
         INSERT INTO node VALUES ('a', NULL), ('b', 'a');
         INSERT INTO leaf VALUES (1, 'b');",
    )
    .unwrap();
    // A new collation on the referenced key: the children are re-checked, and only they
    // (the scratch copy of the table also references it while the rebuild is planned).
    let target =
        "CREATE TABLE node (code TEXT COLLATE NOCASE PRIMARY KEY, up TEXT REFERENCES node (code))";
    let report = rebuild_main(&mut conn, "node", target);
    assert_eq!(report.children_checked(), ["leaf"]);
    assert_eq!(int(&conn, "SELECT count(*) FROM node WHERE code = 'B'"), 1);
}

#[test]
fn a_key_whose_sort_order_changes_is_rebuilt_not_switched_in_place() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE w (a INTEGER, b TEXT, PRIMARY KEY (a, b DESC)) WITHOUT ROWID;
         CREATE TABLE u (id INTEGER PRIMARY KEY, code TEXT, UNIQUE (code DESC));
         INSERT INTO w VALUES (1, 'x'), (1, 'y'), (2, 'x');
         INSERT INTO u VALUES (1, 'p'), (2, 'q');",
    )
    .unwrap();
    for (table, target) in [
        (
            "w",
            "CREATE TABLE w (a INTEGER, b TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID",
        ),
        (
            "u",
            "CREATE TABLE u (id INTEGER PRIMARY KEY, code TEXT, UNIQUE (code))",
        ),
    ] {
        let rows = values(&conn, &format!("SELECT * FROM {table} ORDER BY 1, 2"));
        let report = rebuild_main(&mut conn, table, target);
        assert!(
            !report.in_place(),
            "{table}: the stored b-tree order changes"
        );
        assert_eq!(
            values(&conn, &format!("SELECT * FROM {table} ORDER BY 1, 2")),
            rows
        );
    }
}

#[test]
fn a_child_key_left_with_only_a_differently_collated_unique_index_is_refused() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (c INTEGER UNIQUE);
         CREATE UNIQUE INDEX t_c_nocase ON t (c COLLATE NOCASE);
         CREATE TABLE child (k REFERENCES t (c));
         INSERT INTO t VALUES (1);
         INSERT INTO child VALUES (1);",
    )
    .unwrap();
    // Without UNIQUE, only the NOCASE index is left, which SQLite cannot use for a key
    // whose column compares with BINARY ("foreign key mismatch").
    let err = refused(
        &mut conn,
        TableRebuild::new("t").create_sql("CREATE TABLE t (c INTEGER)"),
    );
    assert!(
        matches!(&err, Error::ChildKeyMissing { child, .. } if child == "child"),
        "{err}"
    );
    // A table constraint that collates the key differently is no key either.
    let err = refused(
        &mut conn,
        TableRebuild::new("t").create_sql("CREATE TABLE t (c INTEGER, UNIQUE (c COLLATE NOCASE))"),
    );
    assert!(matches!(&err, Error::ChildKeyMissing { .. }), "{err}");
    // Once the column itself is NOCASE, the NOCASE index is its key.
    let target = "CREATE TABLE t (c INTEGER COLLATE NOCASE)";
    rebuild_main(&mut conn, "t", target);
    assert_eq!(
        int(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    conn.execute("INSERT INTO child VALUES (1)", []).unwrap();
}

#[test]
fn null_keys_becoming_rowids_are_numbered_as_sqlite_numbers_them() {
    let mut conn = Connection::open_in_memory().unwrap();
    // DESC: `id` is not a rowid alias here, so it holds NULLs.
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY DESC, x TEXT);
         INSERT INTO t (rowid, id, x) VALUES (1, 1, 'a'), (2, NULL, 'b'), (3, 2, 'c'), (4, 9, 'd');",
    )
    .unwrap();
    // The NULL becomes rowid 2 (one past the largest key so far), which the next row's
    // key then collides with: SQLite would fail there, so the report names that row.
    let target = "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)";
    let err = refused(&mut conn, TableRebuild::new("t").create_sql(target));
    let Error::Violations(report) = err else {
        panic!("{err}")
    };
    let pk = &report.constraints()[0];
    assert_eq!(pk.kind(), ConstraintKind::PrimaryKey, "{report}");
    assert_eq!(pk.count(), 1);
    assert_eq!(pk.samples()[0].rowid(), Some(3));

    // Without the collision, the NULL gets its number and the rebuild goes through.
    conn.execute("UPDATE t SET id = 5 WHERE x = 'c'", [])
        .unwrap();
    rebuild_main(&mut conn, "t", target);
    assert_eq!(
        values(&conn, "SELECT id, x FROM t ORDER BY id"),
        vec![
            vec![int_v(1), text("a")],
            vec![int_v(2), text("b")],
            vec![int_v(5), text("c")],
            vec![int_v(9), text("d")],
        ]
    );
}

#[test]
fn fts5_external_content_follows_rows_quarantined_and_restored() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT, body TEXT);
         CREATE VIRTUAL TABLE docs_fts USING fts5(title, body, content = 'docs', content_rowid = 'id');
         CREATE TRIGGER docs_ai AFTER INSERT ON docs BEGIN
           INSERT INTO docs_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
         END;
         CREATE TRIGGER docs_ad AFTER DELETE ON docs BEGIN
           INSERT INTO docs_fts (docs_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
         END;
         INSERT INTO docs VALUES (1, 'alpha', 'red fox'), (2, '', 'red hen'), (3, 'gamma', 'blue fox');",
    )
    .unwrap();
    let original = snapshot(&conn);
    let before = TableSnapshot::capture(&conn, "docs").unwrap();
    // Document 2 has an empty title, which the target refuses: it moves aside.
    let report = TableRebuild::new("docs")
        .create_sql(
            "CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT CHECK (title <> ''), body TEXT)",
        )
        .on_violation(OnViolation::Quarantine)
        .execute(&mut conn)
        .unwrap();
    assert_eq!(report.quarantined().len(), 1, "{report}");
    fts_integrity(&conn, "docs_fts");
    assert_eq!(
        values(
            &conn,
            "SELECT rowid FROM docs_fts WHERE docs_fts MATCH 'red'"
        ),
        vec![vec![int_v(1)]],
        "the quarantined document is no longer found"
    );

    TableRebuild::from_snapshot(&before)
        .restore_from("docs__rejected")
        .execute(&mut conn)
        .unwrap();
    fts_integrity(&conn, "docs_fts");
    assert_eq!(
        values(
            &conn,
            "SELECT rowid FROM docs_fts WHERE docs_fts MATCH 'red' ORDER BY rowid"
        ),
        vec![vec![int_v(1)], vec![int_v(2)]]
    );
    // FTS5 keeps its index in shadow tables, whose pages a rebuild of the index rewrites;
    // what they answer is checked above. Everything else is as it was.
    let fts_shadow = |s: Snapshot| {
        let mut s = normalized(s);
        s.rows.retain(|t, _| !t.starts_with("main.docs_fts_"));
        s
    };
    assert_same(&fts_shadow(snapshot(&conn)), &fts_shadow(original));
}

#[test]
fn a_strict_generated_column_computing_the_wrong_type_is_reported() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, code ANY) STRICT;
         INSERT INTO t VALUES (1, 2.5), (2, 'x'), (3, 7);",
    )
    .unwrap();
    // SQLite 3.54 refuses the copy; 3.40 would store it and fail `integrity_check` later.
    let err = refused(
        &mut conn,
        TableRebuild::new("t").create_sql(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, code ANY, g REAL AS (code || '') VIRTUAL) STRICT",
        ),
    );
    let Error::Violations(report) = err else {
        panic!("{err}")
    };
    let g = &report.constraints()[0];
    assert_eq!(g.kind(), ConstraintKind::Datatype, "{report}");
    assert_eq!(g.count(), 1, "only 'x' is not a number: {report}");
    assert_eq!(g.samples()[0].rowid(), Some(2));
}

#[test]
fn dependents_dropped_on_request_inside_a_transaction_and_in_place() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         CREATE INDEX t_v ON t (v);
         CREATE VIEW t_view AS SELECT v FROM t;
         INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    )
    .unwrap();
    // Only a CHECK changes: the in-place path, which drops the index and the view too.
    let report = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT CHECK (v <> ''))")
        .drop_dependent("t_v")
        .drop_dependent("T_VIEW")
        .execute(&mut conn)
        .unwrap();
    assert!(report.in_place());
    assert_eq!(report.dropped(), ["t_v", "t_view"]);
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM sqlite_schema WHERE name IN ('t_v', 't_view')"
        ),
        0
    );

    // Inside the caller's transaction, rolled back by the caller: everything comes back.
    conn.execute_batch("CREATE INDEX t_v ON t (v)").unwrap();
    let before = snapshot(&conn);
    let tx = conn.transaction().unwrap();
    let report = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .drop_dependent("t_v")
        .execute_in(&tx)
        .unwrap();
    assert_eq!(report.dropped(), ["t_v"]);
    tx.rollback().unwrap();
    assert_same(&snapshot(&conn), &before);
}

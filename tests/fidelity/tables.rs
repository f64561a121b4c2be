//! Tables: STRICT and WITHOUT ROWID added and removed, generated columns, collations and
//! defaults, attached and temp tables, virtual and shadow tables, FTS5 external content.

use super::*;
use sqlite_rebuild::ConstraintKind;

#[test]
pub(crate) fn strict_can_be_added_and_removed() {
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
pub(crate) fn values_of_the_wrong_type_for_a_strict_target_are_reported() {
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
pub(crate) fn a_rowid_table_becomes_without_rowid_and_back() {
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
pub(crate) fn without_rowid_needs_a_primary_key() {
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
pub(crate) fn generated_columns_are_recomputed_never_copied() {
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
pub(crate) fn a_generated_columns_own_check_is_validated() {
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
pub(crate) fn collations_and_defaults_are_kept_and_new_defaults_fill_old_rows() {
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
pub(crate) fn a_table_in_an_attached_database() {
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
pub(crate) fn a_temp_table_with_its_index_and_trigger() {
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
pub(crate) fn temp_dependents_of_a_main_table_survive() {
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
pub(crate) fn virtual_and_shadow_tables_are_refused_with_the_reason() {
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

#[test]
pub(crate) fn fts5_external_content_tables_keep_working() {
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

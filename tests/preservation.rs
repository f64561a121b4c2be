//! The swap keeps what the caller did not ask to change: indexes, triggers, views, rowids,
//! AUTOINCREMENT counters and child rows; and it refuses when a dependent would break.

mod common;

use common::*;
use sqlite_rebuild::rusqlite::types::Value;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{DependentKind, Error, TableRebuild};

fn sql_of(conn: &Connection, db: &str, name: &str) -> Option<String> {
    conn.query_row(
        &format!("SELECT sql FROM \"{db}\".sqlite_schema WHERE name = ?1"),
        [name],
        |r| r.get(0),
    )
    .ok()
}

#[test]
fn indexes_of_every_kind_survive_with_their_definitions() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT, score REAL);
         CREATE UNIQUE INDEX t_name_u ON t (name COLLATE NOCASE);
         CREATE INDEX t_partial ON t (score) WHERE score > 10;
         CREATE INDEX t_expr ON t (lower(email), score DESC);
         INSERT INTO t VALUES (1, 'a@x', 'Ann', 5), (2, 'b@x', 'Bob', 50);",
    )
    .unwrap();
    let indexes = ["t_name_u", "t_partial", "t_expr"];
    let before: Vec<_> = indexes.iter().map(|i| sql_of(&conn, "main", i)).collect();
    TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT NOT NULL, score REAL CHECK (score >= 0))")
        .execute(&mut conn)
        .unwrap();
    let after: Vec<_> = indexes.iter().map(|i| sql_of(&conn, "main", i)).collect();
    assert_eq!(before, after);
    // The automatic index of UNIQUE(email) comes back from the target's own constraint.
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM pragma_index_list('t') WHERE origin = 'u'"
        ),
        1
    );
    assert!(
        conn.execute("INSERT INTO t VALUES (3, 'c@x', 'ANN', 1)", [])
            .is_err(),
        "t_name_u enforced"
    );
    // The partial index is there and usable as a partial index.
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM t INDEXED BY t_partial WHERE score > 10 AND score > 20"
        ),
        1
    );
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

#[test]
fn triggers_views_and_views_of_views_survive() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         CREATE TABLE log (what TEXT);
         CREATE TABLE other (x);
         CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN INSERT INTO log VALUES ('t_ins ' || new.v); END;
         CREATE TRIGGER other_ins AFTER INSERT ON other BEGIN INSERT INTO log SELECT 'other sees ' || count(*) FROM t; END;
         CREATE VIEW tv AS SELECT id, upper(v) AS uv FROM t;
         CREATE VIEW tvv AS SELECT count(*) AS n FROM tv;
         CREATE TEMP TRIGGER t_temp AFTER DELETE ON main.t BEGIN INSERT INTO log VALUES ('t_temp'); END;
         CREATE TEMP VIEW t_temp_view AS SELECT v FROM main.t;
         INSERT INTO t VALUES (1, 'a'), (2, 'b');
         DELETE FROM log;",
    )
    .unwrap();
    let names = ["t_ins", "other_ins", "tv", "tvv"];
    let before: Vec<_> = names.iter().map(|n| sql_of(&conn, "main", n)).collect();
    let temp_before = sql_of(&conn, "temp", "t_temp");
    let report = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL, extra INT DEFAULT 0)")
        .execute(&mut conn)
        .unwrap();
    assert!(
        report.recreated().contains(&"t_temp".to_owned()),
        "{:?}",
        report.recreated()
    );
    let after: Vec<_> = names.iter().map(|n| sql_of(&conn, "main", n)).collect();
    assert_eq!(before, after);
    assert_eq!(sql_of(&conn, "temp", "t_temp"), temp_before);
    assert_eq!(
        int(&conn, "SELECT count(*) FROM log"),
        0,
        "no trigger fired during the rebuild"
    );

    conn.execute_batch("INSERT INTO t (id, v) VALUES (3, 'c'); INSERT INTO other VALUES (1); DELETE FROM t WHERE id = 1;").unwrap();
    assert_eq!(
        query_all(&conn, "SELECT what FROM log"),
        vec![
            vec![text("t_ins c")],
            vec![text("other sees 3")],
            vec![text("t_temp")]
        ]
    );
    assert_eq!(int(&conn, "SELECT n FROM tvv"), 2);
    assert_eq!(int(&conn, "SELECT count(*) FROM t_temp_view"), 2);
}

#[test]
fn a_view_the_target_breaks_is_refused_by_name() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, legacy TEXT, v TEXT);
         CREATE VIEW uses_legacy AS SELECT legacy FROM t;
         INSERT INTO t VALUES (1, 'x', 'y');",
    )
    .unwrap();
    let before = snapshot(&conn);
    let err = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        .drop_column("legacy")
        .execute(&mut conn)
        .unwrap_err();
    let Error::DependentBroken {
        kind, name, reason, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((kind.as_str(), name.as_str()), ("view", "uses_legacy"));
    assert!(reason.contains("legacy"), "{reason}");
    assert_eq!(snapshot(&conn), before);
}

#[test]
fn a_trigger_the_target_breaks_is_refused_by_name() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, legacy TEXT);
         CREATE TABLE log (x);
         CREATE TRIGGER t_log AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.legacy); END;",
    )
    .unwrap();
    let before = snapshot(&conn);
    let err = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .execute(&mut conn)
        .unwrap_err();
    assert!(
        matches!(&err, Error::DependentBroken { name, .. } if name == "t_log"),
        "{err}"
    );
    assert_eq!(snapshot(&conn), before);
}

#[test]
fn an_index_on_a_dropped_column_is_refused_by_name() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, gone TEXT); CREATE INDEX t_gone ON t (gone);",
    )
    .unwrap();
    let before = snapshot(&conn);
    let err = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .execute(&mut conn)
        .unwrap_err();
    assert!(
        matches!(&err, Error::DependentBroken { kind: DependentKind::Index, name, .. } if name == "t_gone"),
        "{err}"
    );
    assert_eq!(snapshot(&conn), before);
}

#[test]
fn implicit_rowids_and_integer_primary_keys_are_kept() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE plain (name TEXT);
         INSERT INTO plain (rowid, name) VALUES (5, 'a'), (10, 'b'), (42, 'c');
         CREATE TABLE keyed (id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO keyed VALUES (7, 'a'), (99, 'b');",
    )
    .unwrap();
    TableRebuild::new("plain")
        .create_sql("CREATE TABLE plain (name TEXT NOT NULL)")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        query_all(&conn, "SELECT rowid, name FROM plain ORDER BY rowid"),
        vec![
            vec![Value::Integer(5), text("a")],
            vec![Value::Integer(10), text("b")],
            vec![Value::Integer(42), text("c")]
        ]
    );
    // INTEGER PRIMARY KEY becoming INT PRIMARY KEY (no longer a rowid alias): rowids kept.
    TableRebuild::new("keyed")
        .create_sql("CREATE TABLE keyed (id INT PRIMARY KEY, name TEXT)")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        query_all(&conn, "SELECT rowid, id FROM keyed ORDER BY id"),
        vec![
            vec![Value::Integer(7), Value::Integer(7)],
            vec![Value::Integer(99), Value::Integer(99)]
        ]
    );
}

#[test]
fn a_user_column_named_rowid_does_not_hide_the_real_rowid() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (rowid TEXT); INSERT INTO t (_rowid_, rowid) VALUES (8, 'user');",
    )
    .unwrap();
    TableRebuild::new("t")
        .create_sql("CREATE TABLE t (rowid TEXT NOT NULL)")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        query_all(&conn, "SELECT _rowid_, rowid FROM t"),
        vec![vec![Value::Integer(8), text("user")]]
    );
}

#[test]
fn autoincrement_counter_never_goes_back() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
         INSERT INTO t (v) VALUES ('a'), ('b'), ('c');
         DELETE FROM t WHERE id = 3;",
    )
    .unwrap();
    assert_eq!(
        int(&conn, "SELECT seq FROM sqlite_sequence WHERE name = 't'"),
        3
    );
    TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL)")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        int(&conn, "SELECT seq FROM sqlite_sequence WHERE name = 't'"),
        3
    );
    conn.execute("INSERT INTO t (v) VALUES ('d')", []).unwrap();
    assert_eq!(
        int(&conn, "SELECT max(id) FROM t"),
        4,
        "id 3 is not handed out again"
    );
    assert_eq!(int(&conn, "SELECT count(*) FROM sqlite_sequence"), 1);
}

fn family(conn: &Connection) {
    conn.execute_batch(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT UNIQUE, v TEXT);
         CREATE TABLE c_cascade (id INTEGER PRIMARY KEY, pid REFERENCES parent (id) ON DELETE CASCADE);
         CREATE TABLE c_setnull (id INTEGER PRIMARY KEY, pid REFERENCES parent (id) ON DELETE SET NULL);
         CREATE TABLE c_restrict (id INTEGER PRIMARY KEY, pid REFERENCES parent (id) ON DELETE RESTRICT);
         CREATE TABLE c_code (id INTEGER PRIMARY KEY, pcode TEXT REFERENCES parent (code) ON DELETE CASCADE ON UPDATE CASCADE);
         CREATE TABLE log (x);
         CREATE TRIGGER c_cascade_del AFTER DELETE ON c_cascade BEGIN INSERT INTO log VALUES ('deleted'); END;
         CREATE TRIGGER c_setnull_upd AFTER UPDATE ON c_setnull BEGIN INSERT INTO log VALUES ('updated'); END;
         INSERT INTO parent VALUES (1, 'one', 'a'), (2, 'two', 'b');
         INSERT INTO c_cascade VALUES (10, 1), (11, 2);
         INSERT INTO c_setnull VALUES (20, 1);
         INSERT INTO c_restrict VALUES (30, 2);
         INSERT INTO c_code VALUES (40, 'one'), (41, 'two');",
    )
    .unwrap();
}

const CHILD_TABLES: [&str; 5] = ["c_cascade", "c_setnull", "c_restrict", "c_code", "log"];

#[test]
fn children_keep_every_row_with_foreign_keys_on_or_off() {
    for fk in [true, false] {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(if fk {
            "PRAGMA foreign_keys = ON"
        } else {
            "PRAGMA foreign_keys = OFF"
        })
        .unwrap();
        family(&conn);
        let children_before: Vec<_> = CHILD_TABLES
            .iter()
            .map(|t| query_all(&conn, &format!("SELECT * FROM {t}")))
            .collect();
        let report = TableRebuild::new("parent")
            .create_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT UNIQUE, v TEXT NOT NULL CHECK (v <> ''))")
            .execute(&mut conn)
            .unwrap();
        assert_eq!(
            report.children_checked(),
            ["c_cascade", "c_code", "c_restrict", "c_setnull"]
        );
        let children_after: Vec<_> = CHILD_TABLES
            .iter()
            .map(|t| query_all(&conn, &format!("SELECT * FROM {t}")))
            .collect();
        assert_eq!(children_before, children_after, "foreign_keys={fk}");
        assert_eq!(fk_on(&conn), fk);
    }
}

#[test]
fn children_survive_execute_in_with_foreign_keys_on() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    family(&conn);
    let children_before: Vec<_> = CHILD_TABLES
        .iter()
        .map(|t| query_all(&conn, &format!("SELECT * FROM {t}")))
        .collect();
    let tx = conn.transaction().unwrap();
    assert!(fk_on(&tx));
    TableRebuild::new("parent")
        .create_sql(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT UNIQUE, v TEXT NOT NULL)",
        )
        .execute_in(&tx)
        .unwrap();
    assert!(fk_on(&tx));
    let children_after: Vec<_> = CHILD_TABLES
        .iter()
        .map(|t| query_all(&tx, &format!("SELECT * FROM {t}")))
        .collect();
    assert_eq!(children_before, children_after);
    tx.commit().unwrap();
    // Enforcement really is back: RESTRICT refuses, CASCADE cascades.
    assert!(conn.execute("DELETE FROM parent WHERE id = 2", []).is_err());
    conn.execute("DELETE FROM parent WHERE id = 1", []).unwrap();
    assert_eq!(count(&conn, "c_cascade"), 1);
}

#[test]
fn a_child_key_the_target_drops_is_refused_before_anything_runs() {
    let mut conn = Connection::open_in_memory().unwrap();
    family(&conn);
    let before = snapshot(&conn);
    let err = TableRebuild::new("parent")
        .create_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT, v TEXT)")
        .execute(&mut conn)
        .unwrap_err();
    let Error::ChildKeyMissing { child, columns, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((child.as_str(), columns.as_str()), ("c_code", "code"));
    assert_eq!(snapshot(&conn), before);
}

#[test]
fn remapping_a_referenced_key_rewrites_the_children_and_orphans_nothing() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    family(&conn);
    let report = TableRebuild::new("parent")
        .create_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT UNIQUE, v TEXT)")
        .remap("code", "one", "uno")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(report.keys_followed(), [("c_code".to_owned(), 1)]);
    assert_eq!(
        query_all(&conn, "SELECT id, pcode FROM c_code ORDER BY id"),
        vec![
            vec![Value::Integer(40), Value::Text("uno".into())],
            vec![Value::Integer(41), Value::Text("two".into())]
        ]
    );
    assert_eq!(
        int(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    assert!(fk_on(&conn));
}

#[test]
fn a_referenced_key_computed_by_an_expression_is_refused() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    family(&conn);
    let before = snapshot(&conn);
    let err = TableRebuild::new("parent")
        .create_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT UNIQUE, v TEXT)")
        .column("code", "code || '!'")
        .execute(&mut conn)
        .unwrap_err();
    let Error::CheckFailed { reason, .. } = &err else {
        panic!("{err}")
    };
    assert!(reason.contains("c_code"), "{reason}");
    assert_eq!(snapshot(&conn), before);
    assert!(fk_on(&conn));
}

#[test]
fn pre_existing_orphans_do_not_block_a_rebuild() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    family(&conn);
    conn.execute_batch("INSERT INTO c_code VALUES (49, 'ghost'); PRAGMA foreign_keys = ON;")
        .unwrap();
    TableRebuild::new("parent")
        .create_sql(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT COLLATE NOCASE UNIQUE, v TEXT)",
        )
        .execute(&mut conn)
        .unwrap();
    assert_eq!(count(&conn, "c_code"), 3);
}

#[test]
fn remapped_keys_reach_grandchildren_whose_keys_are_the_followed_columns() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(STATUS_FAMILY).unwrap();
    let report = status_remap().execute(&mut conn).unwrap();
    assert_eq!(
        report.keys_followed(),
        [
            ("status_label".to_owned(), 2),
            ("status_note".to_owned(), 2)
        ]
    );
    assert_status_followed(&conn);

    // The same through the SQL script.
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(STATUS_FAMILY).unwrap();
    let script = status_remap().plan(&conn).unwrap().to_sql().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    conn.execute_batch(&script).unwrap();
    assert_status_followed(&conn);
}

/// A parent whose key a child uses as its own key, which a grandchild and the child itself
/// (`alias_of`) reference.
const STATUS_FAMILY: &str = "PRAGMA foreign_keys = ON;
     CREATE TABLE status (code TEXT PRIMARY KEY);
     CREATE TABLE status_label (code TEXT PRIMARY KEY REFERENCES status (code), label TEXT,
         alias_of TEXT REFERENCES status_label (code));
     CREATE TABLE status_note (id INTEGER PRIMARY KEY, code TEXT REFERENCES status_label (code), note TEXT);
     INSERT INTO status VALUES ('old'), ('kept');
     INSERT INTO status_label VALUES ('old', 'Old', NULL), ('kept', 'Kept', 'old');
     INSERT INTO status_note VALUES (1, 'old', 'a'), (2, 'kept', 'b'), (3, 'old', 'c');";

fn status_remap() -> TableRebuild {
    TableRebuild::new("status")
        .create_sql("CREATE TABLE status (code TEXT PRIMARY KEY CHECK (code <> 'old'))")
        .remap("code", "old", "new")
}

fn assert_status_followed(conn: &Connection) {
    assert_eq!(
        query_all(conn, "SELECT code, note FROM status_note ORDER BY id"),
        vec![
            vec![text("new"), text("a")],
            vec![text("kept"), text("b")],
            vec![text("new"), text("c")]
        ]
    );
    assert_eq!(
        query_all(
            conn,
            "SELECT code, alias_of FROM status_label ORDER BY label"
        ),
        vec![
            vec![text("kept"), text("new")],
            vec![text("new"), Value::Null]
        ]
    );
    assert_eq!(
        int(conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
}

//! Remapping rules beyond value-to-value: NULL filling, closures, composition in the order
//! given, per-rule counts, and children whose foreign keys follow remapped keys.

mod common;

use common::*;
use sqlite_rebuild::rusqlite::types::{Value, ValueRef};
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{Error, StepKind, TableRebuild};

fn items() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE item (id INTEGER PRIMARY KEY, tag TEXT, qty INTEGER);
         INSERT INTO item VALUES (1, ' Rust ', 5), (2, NULL, NULL), (3, 'sql', -1), (4, NULL, 2);",
    )
    .unwrap();
    conn
}

fn function_exists(conn: &Connection, name: &str) -> bool {
    conn.query_row(&format!("SELECT {name}(1)"), [], |r| r.get::<_, Value>(0))
        .is_ok()
}

fn trim_lower(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).trim().to_lowercase()),
        other => Value::try_from(other).unwrap(),
    }
}

#[test]
fn remap_null_fills_a_column_that_becomes_not_null() {
    let mut conn = items();
    let target =
        "CREATE TABLE item (id INTEGER PRIMARY KEY, tag TEXT NOT NULL, qty INTEGER NOT NULL)";
    let err = TableRebuild::new("item")
        .create_sql(target)
        .execute(&mut conn)
        .unwrap_err();
    assert!(matches!(err, Error::Violations(_)), "{err}");
    let report = TableRebuild::new("item")
        .create_sql(target)
        .remap_null("tag", "untagged")
        .remap_null("qty", 0)
        .execute(&mut conn)
        .unwrap();
    let counts: Vec<u64> = report.rules().iter().map(|r| r.rows_changed()).collect();
    assert_eq!(counts, [2, 1]);
    assert_eq!(report.rules()[0].from(), Some(&Value::Null));
    assert_eq!(
        query_all(&conn, "SELECT tag, qty FROM item ORDER BY id"),
        vec![
            vec![text(" Rust "), Value::Integer(5)],
            vec![text("untagged"), Value::Integer(0)],
            vec![text("sql"), Value::Integer(-1)],
            vec![text("untagged"), Value::Integer(2)],
        ]
    );
    assert!(report
        .to_string()
        .contains("remap \"tag\": NULL -> 'untagged': 2 rows"));
}

#[test]
fn closure_rule_applies_counts_and_is_unregistered() {
    let mut conn = items();
    let report = TableRebuild::new("item")
        .create_sql(
            "CREATE TABLE item (id INTEGER PRIMARY KEY, tag TEXT CHECK (tag = lower(trim(tag))), qty INTEGER)",
        )
        .remap_with("tag", trim_lower)
        .execute(&mut conn)
        .unwrap();
    assert_eq!(report.rules().len(), 1);
    assert_eq!(report.rules()[0].rows_changed(), 1, "only ' Rust ' changes");
    assert_eq!(report.rules()[0].from(), None);
    assert!(report
        .to_string()
        .contains("remap \"tag\" with a closure: 1 row"));
    assert_eq!(
        query_all(&conn, "SELECT tag FROM item ORDER BY id"),
        vec![
            vec![text("rust")],
            vec![Value::Null],
            vec![text("sql")],
            vec![Value::Null]
        ]
    );
    assert!(!function_exists(&conn, "sqlite_rebuild_remap_1"));
}

#[test]
fn closure_is_unregistered_after_a_refusal_and_a_panic() {
    let mut conn = items();
    let before = snapshot(&conn);
    let err = TableRebuild::new("item")
        .create_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, tag TEXT NOT NULL, qty INTEGER)")
        .remap_with("tag", trim_lower)
        .execute(&mut conn)
        .unwrap_err();
    let Error::Violations(report) = err else {
        panic!("{err}")
    };
    assert_eq!(report.constraint("NOT NULL(tag)").unwrap().count(), 2);
    assert!(!function_exists(&conn, "sqlite_rebuild_remap_1"));
    assert_eq!(snapshot(&conn), before);

    // validate() registers it too, and removes it.
    let report = TableRebuild::new("item")
        .create_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, tag TEXT CHECK (tag <> 'rust'), qty INTEGER)")
        .remap_with("tag", trim_lower)
        .validate(&conn)
        .unwrap();
    assert_eq!(report.violation_count(), 1);
    assert!(!function_exists(&conn, "sqlite_rebuild_remap_1"));

    let err = TableRebuild::new("item")
        .create_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, tag TEXT, qty INTEGER)")
        .remap_with("qty", |v| match v {
            ValueRef::Integer(n) if n < 0 => panic!("negative"),
            other => Value::try_from(other).unwrap(),
        })
        .execute(&mut conn)
        .unwrap_err();
    assert!(matches!(err, Error::Sqlite { .. }), "{err}");
    assert!(!function_exists(&conn, "sqlite_rebuild_remap_1"));
    assert_eq!(snapshot(&conn), before);
}

#[test]
fn rules_compose_in_the_order_given() {
    // 'a' -> 'b' (value), then the closure upper-cases, then 'B' -> 'c' (value).
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, w INTEGER);
         INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2), (3, 'x', 3), (4, 'B', 4);",
    )
    .unwrap();
    let mut conn = conn;
    let report = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, w INTEGER)")
        .remap("w", 4, 40)
        .remap("v", "a", "b")
        .remap_with("v", |v| match v {
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).to_uppercase()),
            other => Value::try_from(other).unwrap(),
        })
        .remap("v", "B", "c")
        .remap("v", "nothing", "never")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        query_all(&conn, "SELECT v, w FROM t ORDER BY id"),
        vec![
            vec![text("c"), Value::Integer(1)],
            vec![text("c"), Value::Integer(2)],
            vec![text("X"), Value::Integer(3)],
            vec![text("c"), Value::Integer(40)],
        ]
    );
    // Reported in the order given, across columns; the rule that matched nothing is shown.
    let shown: Vec<String> = report.rules().iter().map(|r| r.to_string()).collect();
    assert_eq!(
        shown,
        [
            "remap \"w\": 4 -> 40: 1 row",
            "remap \"v\": 'a' -> 'b': 1 row",
            "remap \"v\" with a closure: 3 rows",
            "remap \"v\": 'B' -> 'c': 3 rows",
            "remap \"v\": 'nothing' -> 'never': 0 rows (no row matched: check the value)",
        ]
    );
}

fn parent_child() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE status (code TEXT PRIMARY KEY, label TEXT);
         CREATE TABLE task (id INTEGER PRIMARY KEY, status TEXT REFERENCES status (code));
         CREATE TABLE task_log (id INTEGER PRIMARY KEY, at TEXT);
         CREATE TRIGGER task_updated AFTER UPDATE ON task BEGIN
             INSERT INTO task_log (at) VALUES ('updated');
         END;
         INSERT INTO status VALUES ('wip', 'in progress'), ('done', 'finished'), ('todo', 'to do');
         INSERT INTO task VALUES (1, 'wip'), (2, 'done'), (3, 'wip'), (4, NULL), (5, 'todo');",
    )
    .unwrap();
    conn
}

#[test]
fn children_follow_remapped_keys() {
    let mut conn = parent_child();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    let rb = TableRebuild::new("status")
        .create_sql("CREATE TABLE status (code TEXT PRIMARY KEY CHECK (code IN ('doing', 'done', 'todo')), label TEXT)")
        .remap("code", "wip", "doing")
        .child("task");
    let plan = rb.plan(&conn).unwrap();
    assert!(plan
        .steps()
        .iter()
        .any(|s| s.kind() == StepKind::FollowChildKeys));
    let report = rb.execute(&mut conn).unwrap();
    assert_eq!(report.keys_followed(), [("task".to_owned(), 2)]);
    assert_eq!(
        query_all(&conn, "SELECT status FROM task ORDER BY id"),
        vec![
            vec![text("doing")],
            vec![text("done")],
            vec![text("doing")],
            vec![Value::Null],
            vec![text("todo")]
        ]
    );
    assert_eq!(
        int(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    assert_eq!(
        count(&conn, "task_log"),
        0,
        "the child's triggers did not fire"
    );
    assert!(fk_on(&conn));
}

#[test]
fn children_follow_closure_remapped_keys_and_counts_stay_the_copys() {
    let mut conn = parent_child();
    let report = TableRebuild::new("status")
        .create_sql("CREATE TABLE status (code TEXT PRIMARY KEY, label TEXT)")
        .remap_with("code", |v| match v {
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).to_uppercase()),
            other => Value::try_from(other).unwrap(),
        })
        .execute(&mut conn)
        .unwrap();
    assert_eq!(report.rules()[0].rows_changed(), 3, "the three status rows");
    assert_eq!(report.keys_followed(), [("task".to_owned(), 4)]);
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM task JOIN status ON status.code = task.status"
        ),
        4
    );
}

#[test]
fn keys_changed_by_an_expression_are_refused_not_left_dangling() {
    let mut conn = parent_child();
    let before = snapshot(&conn);
    let err = TableRebuild::new("status")
        .create_sql("CREATE TABLE status (code TEXT PRIMARY KEY, label TEXT)")
        .column("code", "upper(code)")
        .execute(&mut conn)
        .unwrap_err();
    match &err {
        Error::CheckFailed { table, reason } => {
            assert_eq!(table, "status");
            assert!(
                reason.contains("4 rows of child \"task\" would no longer find their parent row"),
                "{reason}"
            );
        }
        other => panic!("{other}"),
    }
    assert_eq!(snapshot(&conn), before);
}

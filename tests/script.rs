//! Plans rendered as SQL scripts (`RebuildPlan::to_sql`) and run through plain rusqlite, as a
//! migration framework that only takes SQL text would run them.

mod common;

use common::*;
use sqlite_rebuild::rusqlite::types::{Value, ValueRef};
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{ChildTables, Error, OnViolation, ScriptOptions, TableRebuild};

const PLANS: i64 = 120;

/// The story database, with foreign key enforcement off as a script's caller must leave it
/// (the bundled SQLite switches it on by default).
fn story_db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    plans_db(&conn, PLANS);
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    conn
}

#[test]
fn script_without_rules_is_refused_with_nothing_changed() {
    let conn = story_db();
    let script = downgrade().plan(&conn).unwrap().to_sql().unwrap();
    let before = snapshot(&conn);
    let err = conn.execute_batch(&script).unwrap_err().to_string();
    assert!(
        err.contains("sqlite-rebuild: rows of \"v3_plans\" would violate the target's CHECK ck_v3_plans_phase"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    // The guard rolled the script's own transaction back: nothing open, nothing changed.
    assert!(conn.is_autocommit());
    assert_eq!(snapshot(&conn), before);
}

#[test]
fn script_with_rules_matches_execute() {
    let by_script = story_db();
    let script = with_rules(downgrade())
        .plan(&by_script)
        .unwrap()
        .to_sql()
        .unwrap();
    by_script.execute_batch(&script).unwrap();
    assert!(by_script.is_autocommit());

    let mut by_execute = story_db();
    by_execute
        .execute_batch("PRAGMA foreign_keys = ON")
        .unwrap();
    with_rules(downgrade()).execute(&mut by_execute).unwrap();

    // execute() switches this constraint-only change in place; the script copies, the
    // children too. The databases are the same but for sqlite_sequence's internal rowids
    // and the quotes a rename puts around names in the children's statements.
    let (a, b) = (snapshot(&by_script), snapshot(&by_execute));
    assert_same(&unquoted(a), &unquoted(b));
    assert_eq!(count(&by_script, "v3_plans"), PLANS);
    assert_eq!(
        int(
            &by_script,
            "SELECT count(*) FROM v3_plans WHERE phase = 'action'"
        ),
        0
    );
    for child in CHILDREN {
        assert_eq!(count(&by_script, child), PLANS);
    }
    assert_eq!(count(&by_script, "plan_events"), 0, "no trigger fired");
}

#[test]
fn script_refuses_to_run_with_foreign_keys_on() {
    let conn = story_db();
    let script = with_rules(downgrade())
        .plan(&conn)
        .unwrap()
        .to_sql_with(&ScriptOptions::new().children(ChildTables::EnforcementOff))
        .unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    let before = snapshot(&conn);
    let err = conn.execute_batch(&script).unwrap_err().to_string();
    assert!(err.contains("foreign key enforcement is ON"), "{err}");
    assert!(err.contains("PRAGMA foreign_keys = OFF"), "{err}");
    assert!(conn.is_autocommit());
    assert_eq!(snapshot(&conn), before);
    for child in CHILDREN {
        assert_eq!(count(&conn, child), PLANS, "no cascade");
    }
}

#[test]
fn script_inside_a_framework_transaction() {
    // refinery and friends wrap each migration in a transaction of their own.
    let mut conn = story_db();
    let script = with_rules(downgrade())
        .plan(&conn)
        .unwrap()
        .to_sql()
        .unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute_batch(&script).unwrap();
    tx.commit().unwrap();
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM v3_plans WHERE phase = 'action'"
        ),
        0
    );

    // A refused script inside such a transaction rolls it back, as the framework would.
    let conn = story_db();
    let script = downgrade().plan(&conn).unwrap().to_sql().unwrap();
    let before = snapshot(&conn);
    conn.execute_batch("BEGIN").unwrap();
    assert!(conn.execute_batch(&script).is_err());
    assert!(
        conn.is_autocommit(),
        "RAISE(ROLLBACK) ended the transaction"
    );
    assert_eq!(snapshot(&conn), before);
}

#[test]
fn script_guards_unique_index_and_child_keys() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF;
         CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT);
         CREATE UNIQUE INDEX parent_code ON parent (lower(code));
         CREATE TABLE child (id INTEGER PRIMARY KEY, code TEXT REFERENCES parent (code));
         CREATE UNIQUE INDEX parent_code_plain ON parent (code);
         INSERT INTO parent VALUES (1, 'a'), (2, 'b');
         INSERT INTO child VALUES (1, 'a'), (2, 'b');",
    )
    .unwrap();
    let before = snapshot(&conn);
    // Remapping 'b' to 'A' breaks the unique expression index (lower(code)).
    let script = TableRebuild::new("parent")
        .create_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT)")
        .remap("code", "b", "A")
        .plan(&conn)
        .unwrap()
        .to_sql()
        .unwrap();
    let err = conn.execute_batch(&script).unwrap_err().to_string();
    assert!(err.contains("UNIQUE parent_code"), "{err}");
    assert_eq!(snapshot(&conn), before);

    // A column expression that changes referenced keys would leave children dangling.
    let script = TableRebuild::new("parent")
        .create_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT)")
        .column("code", "code || '!'")
        .plan(&conn)
        .unwrap()
        .to_sql()
        .unwrap();
    let err = conn.execute_batch(&script).unwrap_err().to_string();
    assert!(
        err.contains("rows of child \"child\" would no longer find their parent row"),
        "{err}"
    );
    assert!(conn.is_autocommit());
    assert_eq!(snapshot(&conn), before);
}

#[test]
fn script_with_not_null_and_remap_null() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT);
         INSERT INTO t VALUES (1, 'x'), (2, NULL), (3, 'it''s');",
    )
    .unwrap();
    let target = "CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT NOT NULL)";
    let err = conn
        .execute_batch(
            &TableRebuild::new("t")
                .create_sql(target)
                .plan(&conn)
                .unwrap()
                .to_sql()
                .unwrap(),
        )
        .unwrap_err()
        .to_string();
    // The guard names the constraint once: "NOT NULL(note)", not "NOT NULL NOT NULL(note)".
    assert!(err.contains("target's NOT NULL(note);"), "{err}");
    let script = TableRebuild::new("t")
        .create_sql(target)
        .remap_null("note", "it's; DROP TABLE t; --")
        .plan(&conn)
        .unwrap()
        .to_sql()
        .unwrap();
    conn.execute_batch(&script).unwrap();
    assert_eq!(
        query_all(&conn, "SELECT note FROM t ORDER BY id"),
        vec![
            vec![text("x")],
            vec![text("it's; DROP TABLE t; --")],
            vec![text("it's")]
        ]
    );
}

#[test]
fn closure_rules_and_quarantine_are_not_renderable() {
    let conn = story_db();
    let err = downgrade()
        .remap_with("phase", |v: ValueRef<'_>| {
            Value::try_from(v).unwrap_or(Value::Null)
        })
        .plan(&conn)
        .unwrap()
        .to_sql()
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotRenderable { table, reason } if table == "v3_plans" && reason.contains("\"phase\"")),
        "{err}"
    );
    let err = downgrade()
        .on_violation(OnViolation::Quarantine)
        .plan(&conn)
        .unwrap()
        .to_sql()
        .unwrap_err();
    assert!(matches!(err, Error::NotRenderable { .. }), "{err}");
    // The plan itself still renders for people to read.
    assert!(downgrade()
        .remap_with("phase", |_| Value::Null)
        .plan(&conn)
        .unwrap()
        .to_string()
        .contains("sqlite_rebuild_remap_1"));
}

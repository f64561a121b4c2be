//! Scripts refuse drift: a script rendered against one schema refuses to run on a database
//! whose table, dependents or children have changed since, before it writes anything.

use super::*;

fn rendered() -> (Connection, String) {
    let conn = Connection::open_in_memory().unwrap();
    plans_db(&conn, 20);
    let script = with_rules(downgrade())
        .plan(&conn)
        .unwrap()
        .to_sql()
        .unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    (conn, script)
}

/// Runs the script, expects the drift guard's refusal, and checks nothing changed.
fn refuses(conn: &Connection, script: &str) {
    let before = snapshot(conn);
    let err = conn.execute_batch(script).unwrap_err();
    assert!(
        err.to_string()
            .contains("changed since this script was rendered"),
        "{err}"
    );
    assert!(
        conn.is_autocommit(),
        "RAISE(ROLLBACK) ended the transaction"
    );
    assert_same(&snapshot(conn), &before);
}

#[test]
fn a_child_added_since_is_not_emptied() {
    let (conn, script) = rendered();
    conn.execute_batch(
        "CREATE TABLE plan_notes (id INTEGER PRIMARY KEY,
                                  plan_id INTEGER REFERENCES v3_plans (id) ON DELETE CASCADE);
         INSERT INTO plan_notes (plan_id) SELECT id FROM v3_plans;",
    )
    .unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    refuses(&conn, &script);
    assert_eq!(count(&conn, "plan_notes"), 20);
}

#[test]
fn an_index_or_a_view_added_since_is_not_lost() {
    for change in [
        "CREATE INDEX v3_plans_by_name ON v3_plans (name)",
        "CREATE VIEW named AS SELECT name FROM v3_plans",
        "CREATE TRIGGER plan_projects_ins AFTER INSERT ON plan_projects BEGIN SELECT 1; END",
        "CREATE TEMP TRIGGER v3_plans_seen AFTER INSERT ON main.v3_plans BEGIN SELECT 1; END",
    ] {
        let (conn, script) = rendered();
        conn.execute_batch(change).unwrap();
        refuses(&conn, &script);
    }
}

#[test]
fn unrelated_changes_do_not_stop_it() {
    let (conn, script) = rendered();
    conn.execute_batch("CREATE TABLE other (x); CREATE INDEX other_x ON other (x);")
        .unwrap();
    conn.execute_batch(&script).unwrap();
    assert_eq!(count(&conn, "v3_plans"), 20);
}

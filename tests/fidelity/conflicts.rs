//! Conflict clauses never decide instead of the crate: every statement that writes rows
//! overrides the tables' own `ON CONFLICT REPLACE / IGNORE` with `OR ABORT`, so a row that a
//! table's clause would delete or skip makes the rebuild refuse, on every path.

use super::*;
use sqlite_rebuild::ConstraintKind;

/// A parent whose key a child references through a `UNIQUE ON CONFLICT REPLACE` column.
fn replacing_child() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE p (code TEXT PRIMARY KEY, label TEXT);
         CREATE TABLE ch (id INTEGER PRIMARY KEY,
                          code TEXT UNIQUE ON CONFLICT REPLACE REFERENCES p (code));
         INSERT INTO p VALUES ('a', 'A'), ('c', 'C');
         INSERT INTO ch VALUES (1, 'a'), (2, 'c');",
    )
    .unwrap();
    conn
}

/// Rewriting child 1 to 'c' while child 2 still holds it: REPLACE would delete child 2.
fn rotation() -> TableRebuild {
    TableRebuild::new("p")
        .create_sql("CREATE TABLE p (code TEXT PRIMARY KEY, label TEXT NOT NULL)")
        .remap("code", "c", "d")
        .remap("code", "a", "c")
}

#[test]
fn a_childs_replace_clause_cannot_delete_rows_while_keys_follow() {
    let mut conn = replacing_child();
    let err = refused(&mut conn, rotation());
    assert!(
        matches!(&err, Error::CheckFailed { reason, .. } if reason.contains("\"ch\"")),
        "{err:?}"
    );
    // The copy path, forced, refuses the same way.
    let mut conn = replacing_child();
    copy_only(&conn);
    refused(&mut conn, rotation());
}

#[test]
fn nor_through_the_script() {
    let conn = replacing_child();
    let before = snapshot(&conn);
    let script = rotation()
        .plan(&conn)
        .unwrap()
        .to_sql_with(&ScriptOptions::new().children(ChildTables::EnforcementOff))
        .unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    let err = conn.execute_batch(&script).unwrap_err();
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK").unwrap();
    }
    assert!(err.to_string().contains("UNIQUE"), "{err}");
    assert_same(&snapshot(&conn), &before);
    assert_eq!(count(&conn, "ch"), 2);
}

/// The default script copies the child with its keys already followed, in one INSERT:
/// no row passes through a value another row still holds, so the rotation has no
/// conflict to refuse, and every row is kept.
#[test]
fn the_script_that_copies_the_children_rotates_keys_without_a_conflict() {
    let conn = replacing_child();
    let script = rotation().plan(&conn).unwrap().to_sql().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    conn.execute_batch(&script).unwrap();
    assert_eq!(
        query_all(&conn, "SELECT id, code FROM ch ORDER BY id"),
        vec![
            vec![Value::Integer(1), text("c")],
            vec![Value::Integer(2), text("d")]
        ]
    );
    assert_eq!(
        int(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
}

/// A table whose `code` skips (IGNORE) or deletes (REPLACE) conflicting rows, with enough
/// rows that one remapped row keeps the change in place.
fn conflicting(clause: &str) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT UNIQUE ON CONFLICT {clause}, n INT);
         INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2);
         WITH RECURSIVE k(i) AS (SELECT 3 UNION ALL SELECT i + 1 FROM k WHERE i < 20)
         INSERT INTO t SELECT i, 'k' || i, i FROM k;"
    ))
    .unwrap();
    conn
}

/// Whether the plan switches the definition in place.
fn in_place(conn: &Connection, rb: &TableRebuild) -> bool {
    rb.plan(conn).unwrap().steps()[0].kind() == sqlite_rebuild::StepKind::SwitchDefinition
}

#[test]
fn a_remap_an_ignore_or_replace_clause_would_decide_is_a_violation_on_both_paths() {
    for (clause, copy) in [
        ("IGNORE", false),
        ("IGNORE", true),
        ("REPLACE", false),
        ("REPLACE", true),
    ] {
        let rb = TableRebuild::new("t")
            .create_sql(format!(
                "CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT UNIQUE ON CONFLICT {clause}, n INT CHECK (n > 0))"
            ))
            .remap("code", "a", "b");
        let mut conn = conflicting(clause);
        if copy {
            copy_only(&conn);
        }
        // A rule on a unique key always copies (an UPDATE would check it row by row), so
        // the IGNORE clause meets the copy's INSERT either way.
        assert!(!in_place(&conn, &rb));
        let Error::Violations(report) = refused(&mut conn, rb.clone()) else {
            panic!("expected a report")
        };
        let unique = report
            .constraint("UNIQUE(code)")
            .expect("the collision is named");
        assert_eq!(unique.kind(), ConstraintKind::Unique);
        assert_eq!(unique.count(), 1, "{report}");
    }
}

#[test]
fn a_remap_to_null_under_not_null_replace_is_a_violation_not_the_default() {
    let setup = "CREATE TABLE t (id INTEGER PRIMARY KEY,
                                 v TEXT NOT NULL ON CONFLICT REPLACE DEFAULT 'd', n INT);
                 INSERT INTO t VALUES (1, 'x', 1), (2, 'y', 2);
                 WITH RECURSIVE k(i) AS (SELECT 3 UNION ALL SELECT i + 1 FROM k WHERE i < 20)
                 INSERT INTO t SELECT i, 'k' || i, i FROM k;";
    let rb = TableRebuild::new("t")
        .create_sql(
            "CREATE TABLE t (id INTEGER PRIMARY KEY,
                             v TEXT NOT NULL ON CONFLICT REPLACE DEFAULT 'd', n INT CHECK (n > 0))",
        )
        .remap("v", "x", None::<&str>);
    for copy in [false, true] {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(setup).unwrap();
        if copy {
            copy_only(&conn);
        }
        assert_eq!(in_place(&conn, &rb), !copy);
        let Error::Violations(report) = refused(&mut conn, rb.clone()) else {
            panic!("expected a report")
        };
        assert_eq!(
            report.constraint("NOT NULL(v)").unwrap().count(),
            1,
            "{report}"
        );
    }
}

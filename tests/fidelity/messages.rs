//! Messages that do not mislead: each situation gets the typed error or the report it
//! deserves, not a bare SQLite error or advice that cannot help.

use super::*;
use sqlite_rebuild::{ConstraintKind, OnViolation};

#[test]
fn the_callers_own_open_statement_is_locked_not_busy() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    )
    .unwrap();
    let before = snapshot(&conn);
    let mut reading = conn.prepare("SELECT * FROM t").unwrap();
    let mut rows = reading.query([]).unwrap();
    rows.next().unwrap();
    let rb = TableRebuild::new("t").create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v REAL)");
    let tx = conn.unchecked_transaction().unwrap();
    let err = rb.execute_in(&tx).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    assert!(
        err.to_string().contains("finish or drop that statement"),
        "{err}"
    );
    assert!(!err.to_string().contains("Retry later"), "{err}");
    drop(tx);
    drop(rows);
    drop(reading);
    assert_eq!(snapshot(&conn), before);
}

/// Text that is not valid UTF-8, which SQLite stores as given.
fn invalid_utf8() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         INSERT INTO t VALUES (1, CAST(x'ff41' AS TEXT)), (2, 'long enough');",
    )
    .unwrap();
    conn
}

const LONG: &str = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT CHECK (length(v) > 5))";

#[test]
fn text_that_is_not_utf8_is_reported_and_quarantined() {
    let mut conn = invalid_utf8();
    let Error::Violations(report) = refused(&mut conn, TableRebuild::new("t").create_sql(LONG))
    else {
        panic!("expected a report")
    };
    let sample = &report.constraint("length(v) > 5").unwrap().samples()[0];
    assert_eq!(sample.rowid(), Some(1));
    assert_eq!(sample.values()[1], ("v".to_owned(), text("\u{fffd}A")));
    let report = TableRebuild::new("t")
        .create_sql(LONG)
        .on_violation(OnViolation::Quarantine)
        .execute(&mut conn)
        .unwrap();
    assert_eq!(report.quarantined()[0].rows(), 1);
    // Moved whole: the bytes are the ones stored.
    let moved: Vec<u8> = conn
        .query_row("SELECT CAST(v AS BLOB) FROM t__rejected", [], |r| r.get(0))
        .unwrap();
    assert_eq!(moved, [0xff, 0x41]);
}

#[test]
fn a_table_of_two_thousand_columns_reports_its_violations() {
    let columns: Vec<String> = (0..1999).map(|i| format!("c{i} INT")).collect();
    let not_null: Vec<String> = (0..1999).map(|i| format!("c{i} INT NOT NULL")).collect();
    for copy in [false, true] {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, {}); INSERT INTO t (id, c5) VALUES (1, 5);",
            columns.join(", ")
        ))
        .unwrap();
        if copy {
            copy_only(&conn);
        }
        let target = format!(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, {})",
            not_null.join(", ")
        );
        let Error::Violations(report) =
            refused(&mut conn, TableRebuild::new("t").create_sql(target))
        else {
            panic!("expected a report")
        };
        assert_eq!(report.violation_count(), 1);
        assert_eq!(report.constraints().len(), 1998, "every column but c5");
        assert!(report
            .constraints()
            .iter()
            .all(|c| c.kind() == ConstraintKind::NotNull && c.samples()[0].rowid() == Some(1)));
    }
}

#[test]
fn a_foreign_key_to_a_column_that_is_not_unique_is_named() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE r (k INT, u INT UNIQUE); INSERT INTO r VALUES (1, 1);
         CREATE TABLE t (id INTEGER PRIMARY KEY, k INT); INSERT INTO t VALUES (1, 1);",
    )
    .unwrap();
    let err = refused_by_every_verb(
        &mut conn,
        TableRebuild::new("t")
            .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, k INT REFERENCES r (k))"),
    );
    assert!(
        matches!(&err, Error::ParentKeyMissing { parent, columns, .. } if parent == "r" && columns == "k"),
        "{err:?}"
    );
    // A unique column is a parent key; so is the table's own key, for a self-reference.
    TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, k INT REFERENCES r (u))")
        .execute(&mut conn)
        .unwrap();
    TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, k INT REFERENCES t (id))")
        .execute(&mut conn)
        .unwrap();
}

#[test]
fn keys_follow_under_the_parents_collation() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         CREATE TABLE p (code TEXT COLLATE NOCASE PRIMARY KEY);
         CREATE TABLE ch (id INTEGER PRIMARY KEY, code TEXT REFERENCES p (code));
         INSERT INTO p VALUES ('A'), ('c');
         INSERT INTO ch VALUES (1, 'a'), (2, 'A'), (3, 'C');",
    )
    .unwrap();
    let report = TableRebuild::new("p")
        .create_sql("CREATE TABLE p (code TEXT COLLATE NOCASE PRIMARY KEY CHECK (code <> 'A'))")
        .remap("code", "A", "B")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(report.keys_followed(), [("ch".to_owned(), 2)]);
    assert_eq!(
        query_all(&conn, "SELECT code FROM ch ORDER BY id"),
        vec![vec![text("B")], vec![text("B")], vec![text("C")]]
    );
    assert!(query_all(&conn, "PRAGMA foreign_key_check").is_empty());
}

/// `CHECK (t.v > 0)` is legal: in its own table's expressions, `t` is the table. Under the
/// scratch name it would name no table, so the copy holds it unqualified and stores the
/// caller's text after the rename; in place the text is stored as it is.
#[test]
fn a_target_naming_the_table_in_its_own_checks_is_taken_on_both_paths() {
    let setup = "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER);
                 INSERT INTO t VALUES (1, 5), (2, 7);";
    // A new type and a generated column: the copy.
    let copied = r#"CREATE TABLE t (id INTEGER PRIMARY KEY, v REAL CHECK (t.v > 0 AND main."t".v < 100), w AS (v * 2))"#;
    // Only a constraint: in place, or the copy on a defensive connection.
    let checked = "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER CHECK (t.v > 0))";
    for (target, copy_only_conn) in [(copied, false), (checked, false), (checked, true)] {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(setup).unwrap();
        if copy_only_conn {
            copy_only(&conn);
            // Defensive: the text cannot be switched back, so it is stored unqualified.
            let before = normalized(snapshot(&conn));
            TableRebuild::new("t")
                .create_sql(target)
                .execute(&mut conn)
                .unwrap();
            assert_same(
                &without(normalized(snapshot(&conn)), "main", "t"),
                &without(before, "main", "t"),
            );
            assert_eq!(
                stored_sql(&conn, "main", "t"),
                "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER CHECK (v > 0))"
            );
        } else {
            rebuild_main(&mut conn, "t", target);
        }
        assert_eq!(
            values(&conn, "SELECT id, v FROM t ORDER BY id"),
            if target == copied {
                vec![
                    vec![int_v(1), Value::Real(5.0)],
                    vec![int_v(2), Value::Real(7.0)],
                ]
            } else {
                vec![vec![int_v(1), int_v(5)], vec![int_v(2), int_v(7)]]
            }
        );
        assert!(conn.execute("INSERT INTO t (v) VALUES (0)", []).is_err());

        // A row the CHECK refuses is reported, as for any other CHECK.
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(setup).unwrap();
        conn.execute("INSERT INTO t VALUES (3, -1)", []).unwrap();
        if copy_only_conn {
            copy_only(&conn);
        }
        let rb = TableRebuild::new("t").create_sql(target);
        assert_eq!(rb.validate(&conn).unwrap().violation_count(), 1);
        let err = refused(&mut conn, rb);
        let Error::Violations(report) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(report.violation_count(), 1, "{report}");
    }
    // Where SQLite refuses a `.` (a generated column), the caller's text is refused as
    // SQLite would refuse it, though a scratch table without the qualifier would pass.
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(setup).unwrap();
    let err = refused_by_every_verb(
        &mut conn,
        TableRebuild::new("t")
            .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER, w AS (t.v * 2))"),
    );
    assert!(
        matches!(&err, Error::TargetSql { reason, .. } if reason.contains("generated columns")),
        "{err:?}"
    );
}

/// The caller's `writable_schema = ON` is theirs: the in-place switch sets it for its own
/// write and puts it back as it was, on success and on refusal.
#[test]
fn an_in_place_rebuild_leaves_the_callers_writable_schema_as_it_was() {
    let writable = |conn: &Connection| int(conn, "PRAGMA writable_schema");
    for on in [true, false] {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER); INSERT INTO t VALUES (1, 5);",
        )
        .unwrap();
        conn.pragma_update(None, "writable_schema", on).unwrap();
        let fits = TableRebuild::new("t")
            .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER CHECK (v > 0))");
        assert_eq!(
            fits.execute(&mut conn).unwrap().strategy(),
            sqlite_rebuild::Strategy::InPlace
        );
        assert_eq!(writable(&conn), i64::from(on), "after a rebuild");
        let refused_target = TableRebuild::new("t")
            .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER CHECK (v > 9))");
        refused(&mut conn, refused_target);
        assert_eq!(writable(&conn), i64::from(on), "after a refusal");
    }
}

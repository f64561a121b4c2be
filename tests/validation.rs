//! Validation is faithful to SQLite: each case is checked against the real engine (a plain
//! INSERT into the target) as well as against exact expected counts.

mod common;

use common::*;
use sqlite_rebuild::rusqlite::types::Value;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{ConstraintKind, Error, TableRebuild, ValidationReport};

/// Builds `old`, inserts `rows`, validates a rebuild to `target`.
fn validate(old: &str, rows: &str, target: &str) -> (Connection, ValidationReport) {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(old).unwrap();
    conn.execute_batch(rows).unwrap();
    let before = snapshot(&conn);
    let report = TableRebuild::new("t")
        .create_sql(target)
        .validate(&conn)
        .unwrap();
    assert_eq!(snapshot(&conn), before);
    (conn, report)
}

fn rowids(report: &ValidationReport, name: &str) -> Vec<i64> {
    let c = report
        .constraint(name)
        .unwrap_or_else(|| panic!("no constraint {name} in {report}"));
    c.samples().iter().map(|s| s.rowid().unwrap()).collect()
}

#[test]
fn check_uses_the_target_affinity_not_the_old_text() {
    // Old TEXT values '10' and ' 12 ' become integers under the target's INTEGER affinity.
    let (_, report) = validate(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)",
        "INSERT INTO t VALUES (1, '10'), (2, '2'), (3, ' 12 '), (4, 'abc'), (5, NULL)",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER, CONSTRAINT big CHECK (x > 3))",
    );
    // 'abc' stays text, and text sorts above integers, so it passes, as in SQLite.
    assert_eq!(rowids(&report, "big"), [2]);
    assert_eq!(report.violation_count(), 1);
}

#[test]
fn check_over_a_text_column_compares_as_text() {
    let (_, report) = validate(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, x)",
        "INSERT INTO t VALUES (1, 10), (2, 4)",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT, CHECK (x > 3))",
    );
    // 10 is stored as '10', and '10' > '3' is false under text comparison.
    assert_eq!(rowids(&report, "x > 3"), [1]);
}

#[test]
fn check_uses_the_target_collation() {
    let (_, report) = validate(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)",
        "INSERT INTO t VALUES (1, 'abc'), (2, 'ABC'), (3, 'abd')",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE CHECK (name <> 'abc'))",
    );
    assert_eq!(rowids(&report, "name <> 'abc'"), [1, 2]);
}

#[test]
fn only_a_numeric_zero_fails_a_check() {
    let (_, report) = validate(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v)",
        "INSERT INTO t VALUES (1, NULL), (2, 1), (3, 0), (4, 0.0), (5, 'abc'), (6, '1abc'), (7, ''), (8, ' 2 '), (9, x'00'), (10, x'31')",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v, CONSTRAINT truthy CHECK (v))",
    );
    assert_eq!(rowids(&report, "truthy"), [3, 4, 5, 7, 9]);
    assert_real_engine_agrees(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v, CONSTRAINT truthy CHECK (v))",
        &report,
        "truthy",
    );
}

/// Inserts every sampled row's old values into the target one by one: exactly the
/// reported ones fail.
fn assert_real_engine_agrees(target: &str, report: &ValidationReport, name: &str) {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(target).unwrap();
    let bad = rowids(report, name);
    for (id, v) in [
        (1, Value::Null),
        (2, Value::Integer(1)),
        (3, Value::Integer(0)),
        (4, Value::Real(0.0)),
        (5, text("abc")),
        (6, text("1abc")),
        (7, text("")),
        (8, text(" 2 ")),
        (9, Value::Blob(vec![0])),
        (10, Value::Blob(vec![0x31])),
    ] {
        let ok = conn
            .execute("INSERT INTO t VALUES (?1, ?2)", (id, &v))
            .is_ok();
        assert_eq!(!ok, bad.contains(&id), "row {id} ({v:?})");
    }
}

#[test]
fn not_null_unique_and_primary_key() {
    let (_, report) = validate(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT, code INT, n TEXT)",
        "INSERT INTO t VALUES
           (1, 'a@x', 1, 'n'), (2, 'A@X', 2, NULL), (3, NULL, 3, 'n'), (4, NULL, 3, 'n'),
           (5, 'b@x', 1, NULL), (6, 'b@x', 6, 'n')",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT COLLATE NOCASE UNIQUE, code INT, n TEXT NOT NULL,
                         UNIQUE (code))",
    );
    // NOCASE makes 'A@X' clash with 'a@x'; NULL emails never clash; the first row of a
    // group is the one kept.
    assert_eq!(rowids(&report, "UNIQUE(email)"), [2, 6]);
    assert_eq!(rowids(&report, "UNIQUE(code)"), [4, 5]);
    assert_eq!(rowids(&report, "NOT NULL(n)"), [2, 5]);
    assert_eq!(
        report.constraint("NOT NULL(n)").unwrap().kind(),
        ConstraintKind::NotNull
    );
    assert_eq!(
        report.constraint("UNIQUE(code)").unwrap().kind(),
        ConstraintKind::Unique
    );
    assert_eq!(report.violation_count(), 4, "rows 2, 4, 5 and 6: {report}");
}

#[test]
fn composite_primary_key_duplicates_and_integer_primary_key_type() {
    let (_, report) = validate(
        "CREATE TABLE t (a, b)",
        "INSERT INTO t VALUES (1, 'x'), (1, 'x'), (1, 'y'), (NULL, 'x'), (NULL, 'x')",
        "CREATE TABLE t (a INT, b TEXT, PRIMARY KEY (a, b))",
    );
    // A rowid table's primary key allows NULLs (an SQLite quirk), so only row 2 clashes.
    assert_eq!(rowids(&report, "PRIMARY KEY(a, b)"), [2]);

    let (_, report) = validate(
        "CREATE TABLE t (k TEXT, v)",
        "INSERT INTO t VALUES ('1', 'a'), ('x', 'b'), ('1.5', 'c'), ('2', 'd'), ('2', 'e')",
        "CREATE TABLE t (k INTEGER PRIMARY KEY, v)",
    );
    assert_eq!(rowids(&report, "INTEGER PRIMARY KEY(k)"), [2, 3]);
    assert_eq!(rowids(&report, "PRIMARY KEY(k)"), [5]);
}

#[test]
fn existing_unique_indexes_count_as_constraints() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT, active INT);
         CREATE UNIQUE INDEX t_email_active ON t (lower(email)) WHERE active;
         INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 1), (3, 'A', 0);",
    )
    .unwrap();
    let before = snapshot(&conn);
    // Remapping makes row 3 active: it now clashes with row 1 under lower().
    let err = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT, active INT)")
        .remap("active", 0, 1)
        .execute(&mut conn)
        .unwrap_err();
    let Error::Violations(report) = err else {
        panic!("{err}")
    };
    assert_eq!(rowids(&report, "t_email_active"), [3]);
    assert_eq!(snapshot(&conn), before);
}

#[test]
fn target_foreign_keys_against_their_parents() {
    let (_, report) = validate(
        "CREATE TABLE owner (id INTEGER PRIMARY KEY); INSERT INTO owner VALUES (1), (2);
         CREATE TABLE t (id INTEGER PRIMARY KEY, owner_id INTEGER)",
        "INSERT INTO t VALUES (1, 1), (2, 3), (3, NULL), (4, '2'), (5, 9)",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, owner_id INTEGER REFERENCES owner (id))",
    );
    // NULL references nothing; '2' becomes 2 under INTEGER affinity and finds its parent.
    assert_eq!(
        rowids(&report, "FOREIGN KEY(owner_id) REFERENCES owner(id)"),
        [2, 5]
    );
}

#[test]
fn self_references_are_checked_against_the_new_rows() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, parent INTEGER);
         INSERT INTO t VALUES (1, NULL), (2, 1), (3, 7);",
    )
    .unwrap();
    let before = snapshot(&conn);
    let target = "CREATE TABLE t (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES t (id))";
    let err = TableRebuild::new("t")
        .create_sql(target)
        .execute(&mut conn)
        .unwrap_err();
    let Error::Violations(report) = err else {
        panic!("{err}")
    };
    assert_eq!(rowids(&report, "FOREIGN KEY(parent) REFERENCES t(id)"), [3]);
    assert_eq!(snapshot(&conn), before);
    TableRebuild::new("t")
        .create_sql(target)
        .remap("parent", 7, 2)
        .execute(&mut conn)
        .unwrap();
    assert!(query_all(&conn, "PRAGMA foreign_key_check").is_empty());
}

#[test]
fn strict_target_reports_type_errors() {
    let (_, report) = validate(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n, s)",
        "INSERT INTO t VALUES (1, 5, 'a'), (2, 'abc', 'b'), (3, 4.5, 'c'), (4, '7', x'01'), (5, NULL, 5)",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, s TEXT) STRICT",
    );
    assert_eq!(rowids(&report, "n INTEGER"), [2, 3]);
    assert_eq!(rowids(&report, "s TEXT"), [4]);
    assert_eq!(
        report.constraint("n INTEGER").unwrap().kind(),
        ConstraintKind::Datatype
    );
}

#[test]
fn remapped_values_are_what_gets_validated() {
    let (conn, report) = validate(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, state TEXT)",
        "INSERT INTO t VALUES (1, 'old'), (2, 'new'), (3, NULL)",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('new', 'done')))",
    );
    assert_eq!(report.violation_count(), 2);
    let fixed = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('new', 'done')))")
        .remap("state", "old", "done")
        .remap("state", None::<&str>, "new")
        .validate(&conn)
        .unwrap();
    assert!(fixed.is_ok(), "{fixed}");
}

#[test]
fn rules_compose_in_order_and_count_rows() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT);
         INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'a');",
    )
    .unwrap();
    let report = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT CHECK (s IN ('c', 'z')))")
        .remap("s", "a", "b")
        .remap("s", "b", "c")
        .remap("s", "nope", "z")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        query_all(&conn, "SELECT s FROM t ORDER BY id"),
        vec![vec![text("c")]; 4]
    );
    let changed: Vec<u64> = report.rules().iter().map(|r| r.rows_changed()).collect();
    // a->b fires on rows 1 and 4; b->c then fires on those and on row 2; the typo on none.
    assert_eq!(changed, [2, 3, 0]);
    assert!(report.to_string().contains("no row matched"), "{report}");
}

#[test]
fn remap_compares_under_the_column_affinity() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT); INSERT INTO t VALUES (1, '1'), (2, '2');",
    )
    .unwrap();
    let report = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT)")
        .remap("code", 1, "one")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(report.rules()[0].rows_changed(), 1);
    assert_eq!(
        query_all(&conn, "SELECT code FROM t ORDER BY id"),
        vec![vec![text("one")], vec![text("2")]]
    );
}

#[test]
fn sample_size_bounds_the_sample_not_the_count() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v INT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
         INSERT INTO t SELECT i, -i FROM n;",
    )
    .unwrap();
    let report = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v INT CHECK (v > 0))")
        .sample_size(3)
        .validate(&conn)
        .unwrap();
    let c = report.constraint("v > 0").unwrap();
    assert_eq!(c.count(), 5000);
    assert_eq!(c.samples().len(), 3);
    assert!(report.to_string().contains("... and 4997 more"), "{report}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

    /// Reports that help write the fix, on generated rows: the distinct offending values
    /// add up to the count (when there are no more of them than the sample size), most
    /// frequent first; a duplicate names the first row of its key under the key's own
    /// collation; every offending value of an IN (...) CHECK gets a `.remap` line.
    #[test]
    fn reports_name_values_collisions_and_fixes(
        rows in proptest::collection::vec((0usize..6, 0i64..5), 1..40),
        sample_size in 1usize..8,
    ) {
        let keys = ["a", "A", "b", "B", "c", "d"];
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT, v INT)").unwrap();
        for (i, (k, v)) in rows.iter().enumerate() {
            conn.execute("INSERT INTO t VALUES (?1, ?2, ?3)", sqlite_rebuild::rusqlite::params![i as i64 + 1, keys[*k], v]).unwrap();
        }
        let report = TableRebuild::new("t")
            .alter_column("k", "TEXT COLLATE NOCASE UNIQUE")
            .add_check("v_known", "v IN (1, 2)")
            .sample_size(sample_size)
            .validate(&conn)
            .unwrap();
        let id_of = |rowid: i64| rows[(rowid - 1) as usize];
        let lower: Vec<String> = rows.iter().map(|r| keys[r.0].to_lowercase()).collect();
        let has_duplicate = (0..lower.len()).any(|i| lower[..i].contains(&lower[i]));
        proptest::prop_assert_eq!(report.constraint("UNIQUE(k)").is_some(), has_duplicate);
        let has_bad = rows.iter().any(|r| r.1 != 1 && r.1 != 2);
        proptest::prop_assert_eq!(report.constraint("v_known").is_some(), has_bad);
        if let Some(c) = report.constraint("v_known") {
            let values = c.distinct_values();
            proptest::prop_assert!(values.windows(2).all(|w| w[0].rows() >= w[1].rows()));
            let distinct: std::collections::BTreeSet<i64> = rows.iter().map(|r| r.1).filter(|v| *v != 1 && *v != 2).collect();
            proptest::prop_assert_eq!(values.len(), distinct.len().min(sample_size));
            if distinct.len() <= sample_size {
                proptest::prop_assert_eq!(values.iter().map(|v| v.rows()).sum::<u64>(), c.count());
            }
            proptest::prop_assert_eq!(c.suggested_remaps().len(), values.len());
            for (line, v) in c.suggested_remaps().iter().zip(values) {
                let Value::Integer(bad) = v.values()[0].1 else { panic!("{v}") };
                proptest::prop_assert_eq!(line, &format!(".remap(\"v\", {bad}i64, ?) // one of 1, 2"));
            }
        }
        if let Some(c) = report.constraint("UNIQUE(k)") {
            for s in c.samples() {
                let first = s.collides_with().expect("a duplicate collides with a row");
                let me = s.rowid().unwrap();
                proptest::prop_assert!(first < me);
                proptest::prop_assert!(keys[id_of(first).0].eq_ignore_ascii_case(keys[id_of(me).0]));
                // No earlier row holds the key: it is the first of its group.
                proptest::prop_assert!((1..first).all(|r| !keys[id_of(r).0].eq_ignore_ascii_case(keys[id_of(me).0])));
            }
        }
    }
}

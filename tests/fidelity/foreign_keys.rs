//! Foreign keys in every direction: composite keys, grandchildren, self-references,
//! deferred keys, added keys with orphans, renamed, dropped and retyped referenced columns.

use super::*;
use sqlite_rebuild::ConstraintKind;

#[test]
pub(crate) fn composite_keys_grandchildren_and_self_references_survive() {
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
pub(crate) fn a_self_reference_the_target_adds_is_checked_against_the_new_rows() {
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
pub(crate) fn deferred_foreign_keys_survive_in_both_directions() {
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
pub(crate) fn a_foreign_key_the_target_adds_reports_existing_orphans() {
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
pub(crate) fn a_renamed_referenced_column_takes_children_indexes_views_and_triggers_along() {
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
pub(crate) fn a_dropped_referenced_column_is_refused_before_anything_runs() {
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
pub(crate) fn a_retyped_referenced_column_is_rechecked_and_children_follow() {
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

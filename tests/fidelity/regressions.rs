//! Bugs the fidelity tests found, each pinned: renames through the script, self-referencing
//! parents, key sort order, collated child keys, NULL keys becoming rowids, FTS after
//! quarantine, STRICT generated columns, drops inside a transaction.

use super::*;
use sqlite_rebuild::{ConstraintKind, OnViolation, TableSnapshot};

#[test]
pub(crate) fn a_rename_runs_the_same_as_a_script_and_validates_first() {
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
pub(crate) fn a_self_referencing_parent_whose_key_changes_is_checked_without_its_scratch_copy() {
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
pub(crate) fn a_key_whose_sort_order_changes_is_rebuilt_not_switched_in_place() {
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
pub(crate) fn a_child_key_left_with_only_a_differently_collated_unique_index_is_refused() {
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
pub(crate) fn null_keys_becoming_rowids_are_numbered_as_sqlite_numbers_them() {
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
pub(crate) fn fts5_external_content_follows_rows_quarantined_and_restored() {
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
pub(crate) fn a_strict_generated_column_computing_the_wrong_type_is_reported() {
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
pub(crate) fn dependents_dropped_on_request_inside_a_transaction_and_in_place() {
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
        .drop_column("v")
        .drop_dependent("t_v")
        .execute_in(&tx)
        .unwrap();
    assert_eq!(report.dropped(), ["t_v"]);
    tx.rollback().unwrap();
    assert_same(&snapshot(&conn), &before);
}

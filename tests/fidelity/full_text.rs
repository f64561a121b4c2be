//! Full-text indexes follow remapped content: an FTS4/FTS5 index whose external content is
//! the rebuilt table (or a child whose keys follow a remap) is rebuilt from it when the
//! rebuild rewrites values, on the copy path, in place and in the script.

use super::*;

fn docs() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT, body TEXT);
         CREATE VIRTUAL TABLE docs_fts USING fts5(title, body, content='docs', content_rowid='id');
         CREATE VIRTUAL TABLE docs_fts4 USING fts4(title, body, content='docs');
         CREATE TRIGGER docs_ai AFTER INSERT ON docs BEGIN
           INSERT INTO docs_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
           INSERT INTO docs_fts4 (docid, title, body) VALUES (new.id, new.title, new.body);
         END;
         CREATE TRIGGER docs_au AFTER UPDATE ON docs BEGIN
           INSERT INTO docs_fts (docs_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
           INSERT INTO docs_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
         END;
         INSERT INTO docs VALUES (3, 'alpha', 'draft'), (7, 'beta', 'final'), (12, 'gamma', 'final');
         WITH RECURSIVE k(i) AS (SELECT 20 UNION ALL SELECT i + 1 FROM k WHERE i < 40)
         INSERT INTO docs SELECT i, 'doc' || i, 'final' FROM k;",
    )
    .unwrap();
    conn
}

fn matches(conn: &Connection, fts: &str, word: &str) -> Vec<Vec<Value>> {
    values(
        conn,
        &format!("SELECT rowid FROM {fts} WHERE {fts} MATCH '{word}' ORDER BY rowid"),
    )
}

/// Both indexes find the remapped text and no longer the old one, and check out whole.
fn follows(conn: &Connection) {
    for fts in ["docs_fts", "docs_fts4"] {
        assert_eq!(
            matches(conn, fts, "published"),
            vec![vec![int_v(3)]],
            "{fts}"
        );
        assert!(matches(conn, fts, "draft").is_empty(), "{fts}");
    }
    fts_integrity(conn, "docs_fts");
    conn.execute(
        "INSERT INTO docs_fts4 (docs_fts4) VALUES ('integrity-check')",
        [],
    )
    .unwrap();
}

const TARGET: &str =
    "CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT, body TEXT CHECK (body <> 'draft'))";

fn remap() -> TableRebuild {
    TableRebuild::new("docs")
        .create_sql(TARGET)
        .remap("body", "draft", "published")
}

#[test]
fn in_place() {
    let mut conn = docs();
    let report = remap().execute(&mut conn).unwrap();
    assert!(report.in_place());
    follows(&conn);
}

#[test]
fn copied() {
    let mut conn = docs();
    copy_only(&conn);
    let report = remap().execute(&mut conn).unwrap();
    assert!(!report.in_place());
    follows(&conn);
}

#[test]
fn through_the_script() {
    let conn = docs();
    let script = remap().plan(&conn).unwrap().to_sql().unwrap();
    conn.execute_batch(&script).unwrap();
    follows(&conn);
}

#[test]
fn a_column_expression_changes_content_too() {
    let mut conn = docs();
    TableRebuild::new("docs")
        .create_sql(TARGET)
        .column(
            "body",
            "CASE body WHEN 'draft' THEN 'published' ELSE body END",
        )
        .execute(&mut conn)
        .unwrap();
    follows(&conn);
}

#[test]
fn a_childs_index_follows_its_keys() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE status (code TEXT PRIMARY KEY);
         CREATE TABLE task (id INTEGER PRIMARY KEY, status TEXT REFERENCES status (code), note TEXT);
         CREATE VIRTUAL TABLE task_fts USING fts5(status, note, content='task', content_rowid='id');
         INSERT INTO status VALUES ('wip'), ('done');
         INSERT INTO task VALUES (1, 'wip', 'a'), (2, 'done', 'b');
         INSERT INTO task_fts (task_fts) VALUES ('rebuild');",
    )
    .unwrap();
    let report = TableRebuild::new("status")
        .create_sql("CREATE TABLE status (code TEXT PRIMARY KEY CHECK (code <> 'wip'))")
        .remap("code", "wip", "doing")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(report.keys_followed(), [("task".to_owned(), 1)]);
    assert_eq!(matches(&conn, "task_fts", "doing"), vec![vec![int_v(1)]]);
    assert!(matches(&conn, "task_fts", "wip").is_empty());
    fts_integrity(&conn, "task_fts");
}

#[test]
fn an_unchanged_copy_leaves_the_index_alone() {
    let mut conn = docs();
    let target = "CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT COLLATE NOCASE, body TEXT)";
    let plan = TableRebuild::new("docs")
        .create_sql(target)
        .plan(&conn)
        .unwrap();
    assert!(
        !plan.to_string().contains("'rebuild'"),
        "nothing rewrote a value: {plan}"
    );
    rebuild_main(&mut conn, "docs", target);
    fts_integrity(&conn, "docs_fts");
}

/// A full-text index reads its content table's columns by name: a target without one (a
/// drop, a rename) would leave the index failing on its next read or rebuild. Refused by
/// its name on every verb; `drop_dependent` lets it go with its shadow tables.
#[test]
fn an_index_reading_a_column_the_target_drops_or_renames_is_refused_by_name() {
    let dropped = TableRebuild::new("docs")
        .create_sql("CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT)")
        .drop_column("body");
    let renamed = TableRebuild::new("docs")
        .create_sql("CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT, text TEXT)")
        .column("text", "body");
    for rb in [dropped.clone(), renamed] {
        let mut conn = docs();
        let err = refused_by_every_verb(&mut conn, rb);
        assert!(
            matches!(&err, Error::DependentBroken { kind: sqlite_rebuild::DependentKind::FullText, name, reason, .. }
                if (name == "docs_fts" || name == "docs_fts4") && reason.contains("body")),
            "{err:?}"
        );
        assert!(err.to_string().contains("drop_dependent"), "{err}");
    }
    let mut conn = docs();
    let before = normalized(snapshot(&conn));
    let report = dropped
        .drop_dependent("docs_fts")
        .drop_dependent("docs_fts4")
        .drop_dependent("docs_ai")
        .drop_dependent("docs_au")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(report.dropped().len(), 4);
    let mut expected = without(before, "main", "docs");
    expected
        .schema
        .retain(|(_, name, _, _)| !name.contains("docs_"));
    expected
        .rows
        .retain(|name, _| !name.starts_with("main.docs_"));
    assert_same(
        &without(normalized(snapshot(&conn)), "main", "docs"),
        &expected,
    );
}

/// Rows that get other rowids (an `id INTEGER PRIMARY KEY DESC` is no rowid alias; the
/// target's `id INTEGER PRIMARY KEY` is) leave an index keyed by rowid pointing at other
/// rows: it is rebuilt too.
#[test]
fn an_index_follows_rows_that_get_other_rowids() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY DESC, body TEXT);
         INSERT INTO notes VALUES (10, 'first'), (20, 'second');
         CREATE VIRTUAL TABLE notes_fts USING fts5(body, content='notes');
         INSERT INTO notes_fts (notes_fts) VALUES ('rebuild');",
    )
    .unwrap();
    assert_eq!(
        values(
            &conn,
            "SELECT rowid FROM notes_fts WHERE notes_fts MATCH 'second'"
        ),
        vec![vec![int_v(2)]]
    );
    TableRebuild::new("notes")
        .create_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        values(
            &conn,
            "SELECT rowid FROM notes_fts WHERE notes_fts MATCH 'second'"
        ),
        vec![vec![int_v(20)]]
    );
    fts_integrity(&conn, "notes_fts");
}

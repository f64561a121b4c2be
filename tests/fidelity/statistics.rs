//! Planner statistics: `sqlite_stat1`/`sqlite_stat4` rows of unchanged indexes survive.

use super::*;

pub(crate) fn stats(conn: &Connection) -> Vec<Vec<Value>> {
    values(
        conn,
        "SELECT tbl, idx, stat FROM sqlite_stat1 ORDER BY tbl, idx",
    )
}

#[test]
pub(crate) fn analyze_statistics_of_unchanged_indexes_survive_the_copy() {
    let mut conn = Connection::open_in_memory().unwrap();
    copy_only(&conn);
    conn.execute_batch(
        "CREATE TABLE t (a INTEGER, b TEXT UNIQUE, c TEXT);
         CREATE INDEX t_a ON t (a);
         CREATE TABLE bare (x);
         CREATE TABLE other (y); CREATE INDEX other_y ON other (y);
         INSERT INTO t VALUES (1, 'p', 'x'), (1, 'q', 'y'), (2, 'r', NULL);
         INSERT INTO bare VALUES (1), (2);
         INSERT INTO other VALUES (1);
         ANALYZE;",
    )
    .unwrap();
    let before = stats(&conn);
    assert_eq!(before.len(), 4, "{before:?}");
    let target = "CREATE TABLE t (a INTEGER NOT NULL, b TEXT UNIQUE, c TEXT)";
    // The whole database, sqlite_stat1 rows included, is as it was.
    rebuild_main(&mut conn, "t", target);
    let bare = "CREATE TABLE bare (x NOT NULL)";
    rebuild_main(&mut conn, "bare", bare);
    assert_eq!(stats(&conn), before);

    // Indexes that go, or come back with other keys, take their statistics with them.
    TableRebuild::new("t")
        .create_sql("CREATE TABLE t (a INTEGER NOT NULL, b TEXT, c TEXT UNIQUE)")
        .drop_dependent("t_a")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        stats(&conn),
        vec![
            vec![text("bare"), Value::Null, text("2")],
            vec![text("other"), text("other_y"), text("1 1")],
        ]
    );
}

#[test]
pub(crate) fn analyze_statistics_survive_the_script_too() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (a INTEGER, b TEXT);
         CREATE INDEX t_a ON t (a);
         INSERT INTO t VALUES (1, 'p'), (1, 'q'), (2, 'r');
         ANALYZE;",
    )
    .unwrap();
    let before = stats(&conn);
    let script = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (a INTEGER NOT NULL, b TEXT, c TEXT)")
        .plan(&conn)
        .unwrap()
        .to_sql()
        .unwrap();
    conn.execute_batch(&script).unwrap();
    assert_eq!(stats(&conn), before);
    assert_eq!(before, vec![vec![text("t"), text("t_a"), text("3 2")]]);
}

//! The in-place path refuses exactly what the copy path refuses, with the same error or
//! report, and takes the copy where rewriting rows where they are would fail half-way.

use super::*;
use sqlite_rebuild::Strategy;

/// 40 rows, so that one or two remapped rows keep a change in place.
fn keyed() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, d TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
         INSERT INTO t SELECT i, 'k' || i, '2000-01-01' FROM n;",
    )
    .unwrap();
    conn
}

#[test]
fn a_key_rotation_is_copied_not_rewritten_in_place() {
    let mut conn = keyed();
    // k1 -> x -> k2 and k2 -> k1: a swap, which an UPDATE would collide on half-way.
    let rb = TableRebuild::new("t")
        .create_sql(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE CHECK (k <> ''), d TEXT)",
        )
        .remap("k", "k1", "x")
        .remap("k", "k2", "k1")
        .remap("k", "x", "k2");
    assert_eq!(rb.plan(&conn).unwrap().strategy(), Strategy::Copy);
    let report = rb.execute(&mut conn).unwrap();
    assert_eq!(report.strategy(), Strategy::Copy);
    assert_eq!(
        query_all(&conn, "SELECT k FROM t WHERE id IN (1, 2) ORDER BY id"),
        vec![vec![text("k2")], vec![text("k1")]]
    );
}

#[test]
fn a_check_no_write_could_pass_is_refused_on_both_paths() {
    let target =
        "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, d TEXT CHECK (d <= date('now')))";
    for copy in [false, true] {
        let mut conn = keyed();
        if copy {
            copy_only(&conn);
        }
        let err = refused_by_every_verb(&mut conn, TableRebuild::new("t").create_sql(target));
        assert!(
            matches!(&err, Error::TargetSql { reason, .. } if reason.contains("non-deterministic")),
            "{err:?}"
        );
    }
    // With no row, the copy takes it as SQLite does; so does the switch.
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, d TEXT)")
        .unwrap();
    TableRebuild::new("t")
        .create_sql(target)
        .execute(&mut conn)
        .unwrap();
}

//! Implicit rowids are kept, or the rebuild refuses with a typed error: a table whose
//! columns take every name of the rowid (`rowid`, `oid`, `_rowid_`) cannot have them read
//! or written, so a copy would renumber its rows.

use super::*;

fn shadowed(conn: &Connection) {
    conn.execute_batch(
        "CREATE TABLE t (rowid TEXT, oid TEXT, _rowid_ TEXT, v INT);
         INSERT INTO t VALUES ('r1', 'o1', 'x1', 1), ('r2', 'o2', 'x2', 2), ('r3', 'o3', 'x3', 3);
         DELETE FROM t WHERE v = 2;",
    )
    .unwrap();
}

const RETYPED: &str = "CREATE TABLE t (rowid TEXT, oid TEXT, _rowid_ TEXT, v REAL)";

#[test]
fn a_copy_that_would_renumber_rows_is_refused() {
    let mut conn = Connection::open_in_memory().unwrap();
    shadowed(&conn);
    let err = refused(&mut conn, TableRebuild::new("t").create_sql(RETYPED));
    assert!(
        matches!(&err, Error::RowidUnreachable { table, .. } if table == "t"),
        "{err:?}"
    );
    assert!(err.to_string().contains("RENAME COLUMN"), "{err}");
    // The script copies too: it cannot be rendered.
    let err = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (rowid TEXT, oid TEXT, _rowid_ TEXT, v INT CHECK (v > 0))")
        .plan(&conn)
        .unwrap()
        .to_sql()
        .unwrap_err();
    assert!(matches!(err, Error::NotRenderable { .. }), "{err:?}");
}

#[test]
fn so_is_a_target_whose_columns_hide_them() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (v INT); INSERT INTO t VALUES (1), (2);")
        .unwrap();
    let err = refused(
        &mut conn,
        TableRebuild::new("t")
            .create_sql("CREATE TABLE t (v INT, rowid TEXT, oid TEXT, _rowid_ TEXT)"),
    );
    assert!(matches!(err, Error::RowidUnreachable { .. }), "{err:?}");
}

#[test]
fn in_place_they_stay_where_they_are() {
    let mut conn = Connection::open_in_memory().unwrap();
    shadowed(&conn);
    let before = query_all(&conn, "SELECT _rowid_ FROM t");
    let target = "CREATE TABLE t (rowid TEXT, oid TEXT, _rowid_ TEXT, v INT CHECK (v > 0))";
    let report = rebuild_main(&mut conn, "t", target);
    assert!(report.in_place());
    assert_eq!(query_all(&conn, "SELECT _rowid_ FROM t"), before);
}

#[test]
fn an_empty_table_has_none_to_lose() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (rowid TEXT, oid TEXT, _rowid_ TEXT, v INT)")
        .unwrap();
    rebuild_main(&mut conn, "t", RETYPED);
}

//! Alembic's `tests/test_batch.py` (sqlalchemy/alembic), the class that runs on SQLite:
//! `BatchRoundTripTest`, ported. Its fixtures are the tables SQLAlchemy creates, written
//! out as SQLAlchemy's SQLite dialect writes them; `batch_alter_table(..., recreate=
//! "always")` is `force_copy(true)`, "auto" is the crate's own choice. The tests that need
//! what SQLite lacks (comments, identity columns) are not ported.

use super::common::*;
use super::{foreign_keys, rebuild, schema_of};
use sqlite_rebuild::rusqlite::types::Value;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{Error, Strategy, TableRebuild};

/// `setUp`: `foo` with five rows.
fn foo() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF;
         CREATE TABLE foo (\n\tid INTEGER NOT NULL, \n\tdata VARCHAR(50), \n\tx INTEGER, \n\tPRIMARY KEY (id)\n);
         INSERT INTO foo VALUES (1, 'd1', 5), (2, '22', 6), (3, '8.5', 7), (4, '9.46', 8), (5, 'd5', 9);",
    )
    .unwrap();
    conn
}

fn i(v: i64) -> Value {
    Value::Integer(v)
}

/// `_assert_data`: `select * from <table>`, with the column names.
fn assert_data(conn: &Connection, table: &str, columns: &[&str], rows: Vec<Vec<Value>>) {
    let names: Vec<Vec<Value>> = query_all(
        conn,
        &format!("SELECT name FROM pragma_table_xinfo('{table}')"),
    );
    let names: Vec<Value> = names.into_iter().flatten().collect();
    assert_eq!(names, columns.iter().map(|c| text(c)).collect::<Vec<_>>());
    assert_eq!(query_all(conn, &format!("SELECT * FROM {table}")), rows);
}

fn foo_rows(data: [Value; 5]) -> Vec<Vec<Value>> {
    data.into_iter()
        .enumerate()
        .map(|(k, d)| vec![i(k as i64 + 1), d, i(k as i64 + 5)])
        .collect()
}

fn original_data() -> [Value; 5] {
    ["d1", "22", "8.5", "9.46", "d5"].map(text)
}

/// The primary key columns, in key order.
fn pk(conn: &Connection, table: &str) -> Vec<String> {
    query_all(
        conn,
        &format!("SELECT name FROM pragma_table_info('{table}') WHERE pk > 0 ORDER BY pk"),
    )
    .into_iter()
    .flatten()
    .map(|v| match v {
        Value::Text(t) => t,
        other => panic!("{other:?}"),
    })
    .collect()
}

/// `_boolean_fixture`: `hasbool` with SQLAlchemy's Boolean CHECK named ck1.
fn hasbool() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE hasbool (\n\tx BOOLEAN, \n\ty INTEGER, \n\tCONSTRAINT ck1 CHECK (x IN (0, 1))\n);
         INSERT INTO hasbool VALUES (1, 10), (0, 20);",
    )
    .unwrap();
    conn
}

/// `test_change_type_boolean_to_int`: Alembic drops the Boolean's CHECK with the type;
/// the crate changes only what it is told, so the CHECK is dropped by name.
#[test]
fn test_change_type_boolean_to_int() {
    let mut conn = hasbool();
    rebuild(
        &mut conn,
        TableRebuild::new("hasbool")
            .alter_column("x", "INTEGER")
            .drop_constraint("ck1"),
    );
    assert_eq!(
        query_all(
            &conn,
            "SELECT type FROM pragma_table_info('hasbool') WHERE name = 'x'"
        ),
        [vec![text("INTEGER")]]
    );
    assert!(!schema_of(&conn, "hasbool").contains("CHECK"));
}

/// `test_change_type_int_to_boolean`.
#[test]
fn test_change_type_int_to_boolean() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE hasbool (\n\tx INTEGER\n); INSERT INTO hasbool VALUES (1), (0);",
    )
    .unwrap();
    rebuild(
        &mut conn,
        TableRebuild::new("hasbool")
            .alter_column("x", "BOOLEAN")
            .add_check("ck1", "x IN (0, 1)"),
    );
    assert_eq!(
        query_all(
            &conn,
            "SELECT type FROM pragma_table_info('hasbool') WHERE name = 'x'"
        ),
        [vec![text("BOOLEAN")]]
    );
}

/// `test_no_net_change_timestamp`, `test_no_net_change_timestamp_w_default`: the same
/// definition again is no change at all (Alembic copies; the crate does nothing).
#[test]
fn test_no_net_change_timestamp() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE hasts (\n\tx DATETIME\n);
         INSERT INTO hasts VALUES ('2012-05-18 15:32:05.000000');",
    )
    .unwrap();
    let report = rebuild(
        &mut conn,
        TableRebuild::new("hasts").alter_column("x", "DATETIME"),
    );
    assert_eq!(report.strategy(), Strategy::Unchanged);
    assert_eq!(
        query_all(&conn, "SELECT x FROM hasts"),
        [vec![text("2012-05-18 15:32:05.000000")]]
    );
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE hasts (\n\tx DATETIME DEFAULT (datetime('now', 'localtime')) NOT NULL\n);",
    )
    .unwrap();
    rebuild(
        &mut conn,
        TableRebuild::new("hasts").alter_column(
            "x",
            "DATETIME DEFAULT (datetime('now', 'localtime')) NOT NULL",
        ),
    );
    conn.execute_batch("INSERT INTO hasts DEFAULT VALUES")
        .unwrap();
    assert_eq!(
        int(&conn, "SELECT count(*) FROM hasts WHERE x IS NOT NULL"),
        1
    );
}

/// `test_drop_col_schematype`: the column goes; its Boolean CHECK is dropped by name
/// (the crate does not drop a constraint it was not told to).
#[test]
fn test_drop_col_schematype() {
    let mut conn = hasbool();
    let err = refused_by_every_verb(&mut conn, TableRebuild::new("hasbool").drop_column("x"));
    assert!(matches!(err, Error::TargetSql { .. }), "{err}");
    rebuild(
        &mut conn,
        TableRebuild::new("hasbool")
            .drop_column("x")
            .drop_constraint("ck1"),
    );
    assert_eq!(
        query_all(&conn, "SELECT name FROM pragma_table_info('hasbool')"),
        [vec![text("y")]]
    );
}

/// `test_ix_existing`.
#[test]
fn test_ix_existing() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t_w_ix (\n\tid INTEGER NOT NULL, \n\tthing INTEGER, \n\tdata VARCHAR(20), \n\tPRIMARY KEY (id)\n);
         CREATE INDEX ix_thing ON t_w_ix (thing);",
    )
    .unwrap();
    rebuild(
        &mut conn,
        TableRebuild::new("t_w_ix")
            .alter_column("data", "VARCHAR(30)")
            .create_index("CREATE INDEX ix_data ON t_w_ix (data)"),
    );
    assert_eq!(
        query_all(&conn, "SELECT l.name, i.name FROM pragma_index_list('t_w_ix') AS l, pragma_index_info(l.name) AS i ORDER BY 1"),
        [vec![text("ix_data"), text("data")], vec![text("ix_thing"), text("thing")]]
    );
}

/// `test_fk_points_to_me_auto`, `_recreate`, and `_sqlite_referential_integrity`, which
/// Alembic marks as failing with `PRAGMA foreign_keys=ON`: the crate works with it on.
#[test]
fn test_fk_points_to_me() {
    for (force_copy, fk_pragma) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut conn = foo();
        conn.execute_batch(&format!(
            "CREATE TABLE bar (\n\tid INTEGER NOT NULL, \n\tfoo_id INTEGER, \n\tPRIMARY KEY (id), \n\tFOREIGN KEY(foo_id) REFERENCES foo (id)\n);
             INSERT INTO bar VALUES (1, 3);
             PRAGMA foreign_keys = {};",
            if fk_pragma { "ON" } else { "OFF" }
        ))
        .unwrap();
        rebuild(
            &mut conn,
            TableRebuild::new("foo")
                .rename_column("data", "newdata")
                .force_copy(force_copy),
        );
        assert_eq!(
            foreign_keys(&conn, "bar"),
            [("foo_id".into(), "foo".into(), "id".into())]
        );
        assert_eq!(query_all(&conn, "SELECT * FROM bar"), [vec![i(1), i(3)]]);
    }
}

/// `test_selfref_fk_auto`, `_recreate`, `_sqlite_referential_integrity` (as above).
#[test]
fn test_selfref_fk() {
    for (force_copy, fk_pragma) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!(
            "PRAGMA foreign_keys = {};
             CREATE TABLE bar (\n\tid INTEGER NOT NULL, \n\tbar_id INTEGER, \n\tdata VARCHAR(50), \n\tPRIMARY KEY (id), \n\tFOREIGN KEY(bar_id) REFERENCES bar (id)\n);
             INSERT INTO bar VALUES (1, NULL, 'x'), (2, 1, 'y');",
            if fk_pragma { "ON" } else { "OFF" }
        ))
        .unwrap();
        rebuild(
            &mut conn,
            TableRebuild::new("bar")
                .rename_column("data", "newdata")
                .force_copy(force_copy),
        );
        assert_eq!(
            foreign_keys(&conn, "bar"),
            [("bar_id".into(), "bar".into(), "id".into())]
        );
        assert_eq!(
            query_all(&conn, "SELECT id, bar_id, newdata FROM bar"),
            [
                vec![i(1), Value::Null, text("x")],
                vec![i(2), i(1), text("y")]
            ]
        );
    }
}

/// `test_change_type`: Alembic copies through `CAST(data AS INTEGER)`, which turns 'd1' into
/// 0 and 8.5 into 8. The crate copies under the new type's affinity, which loses nothing:
/// '22' becomes 22, '8.5' the REAL 8.5, and 'd1' stays text. Alembic's result is one
/// `.column` expression away, and asked for explicitly.
#[test]
fn test_change_type() {
    let mut conn = foo();
    rebuild(
        &mut conn,
        TableRebuild::new("foo").alter_column("data", "INTEGER"),
    );
    assert_data(
        &conn,
        "foo",
        &["id", "data", "x"],
        foo_rows([
            text("d1"),
            i(22),
            Value::Real(8.5),
            Value::Real(9.46),
            text("d5"),
        ]),
    );
    let mut conn = foo();
    rebuild(
        &mut conn,
        TableRebuild::new("foo")
            .alter_column("data", "INTEGER")
            .column("data", "CAST(data AS INTEGER)"),
    );
    assert_data(
        &conn,
        "foo",
        &["id", "data", "x"],
        foo_rows([i(0), i(22), i(8), i(9), i(0)]),
    );
}

/// `test_drop_column`, `test_drop_column_fk_recreate`.
#[test]
fn test_drop_column() {
    for force_copy in [false, true] {
        let mut conn = foo();
        let report = rebuild(
            &mut conn,
            TableRebuild::new("foo")
                .drop_column("data")
                .force_copy(force_copy),
        );
        assert_eq!(
            report.strategy(),
            if force_copy {
                Strategy::Copy
            } else {
                Strategy::Alter
            }
        );
        assert_data(
            &conn,
            "foo",
            &["id", "x"],
            (1..=5).map(|k| vec![i(k), i(k + 4)]).collect(),
        );
    }
}

/// `test_drop_pk_col_readd_col`, `test_drop_pk_col_readd_pk_col`,
/// `test_drop_pk_col_readd_col_also_pk_const`: the key goes with its column (its table
/// constraint named with `primary_key([])`, as the crate drops only what it is told), a
/// column added under the same name is a new one.
#[test]
fn test_drop_pk_col_readd() {
    let mut conn = foo();
    rebuild(
        &mut conn,
        TableRebuild::new("foo")
            .primary_key(Vec::<String>::new())
            .drop_column("id")
            .add_column("id INTEGER"),
    );
    assert!(pk(&conn, "foo").is_empty());
    // A new column: its values are not the old ones.
    assert_eq!(int(&conn, "SELECT count(*) FROM foo WHERE id IS NULL"), 5);

    let mut conn = foo();
    rebuild(
        &mut conn,
        TableRebuild::new("foo")
            .primary_key(Vec::<String>::new())
            .drop_column("id")
            .add_column("id INTEGER PRIMARY KEY"),
    );
    assert_eq!(pk(&conn, "foo"), ["id"]);

    let mut conn = foo();
    rebuild(
        &mut conn,
        TableRebuild::new("foo")
            .primary_key(["id"])
            .drop_column("id")
            .add_column("id INTEGER"),
    );
    assert_eq!(pk(&conn, "foo"), ["id"]);
}

/// `test_add_pk_constraint`, always and auto. (SQLite keeps no name for a primary key, as
/// Alembic's `reflects_pk_names` says of it.)
#[test]
fn test_add_pk_constraint() {
    for force_copy in [false, true] {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE nopk (\n\ta INTEGER, \n\tb INTEGER, \n\tc INTEGER\n);
             INSERT INTO nopk VALUES (1, 2, 3), (2, 4, 5);",
        )
        .unwrap();
        rebuild(
            &mut conn,
            TableRebuild::new("nopk")
                .primary_key(["a", "b"])
                .force_copy(force_copy),
        );
        assert_eq!(pk(&conn, "nopk"), ["a", "b"]);
    }
}

/// `test_add_ck_constraint`, always and auto: the CHECK is stored by name (reflected as
/// Alembic reflects it) and enforced.
#[test]
fn test_add_ck_constraint() {
    for force_copy in [false, true] {
        let mut conn = foo();
        rebuild(
            &mut conn,
            TableRebuild::new("foo")
                .add_check("newck", "x > 0")
                .force_copy(force_copy),
        );
        assert!(schema_of(&conn, "foo").contains("CONSTRAINT \"newck\" CHECK (x > 0)"));
        let err = conn
            .execute("INSERT INTO foo VALUES (6, 5, -2)", [])
            .unwrap_err();
        assert!(err.to_string().contains("newck"), "{err}");
    }
}

/// `test_drop_ck_constraint`, always and auto.
#[test]
fn test_drop_ck_constraint() {
    for force_copy in [false, true] {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE ck_table (\n\tid INTEGER NOT NULL, \n\tCONSTRAINT ck CHECK (id is not NULL)\n);",
        )
        .unwrap();
        rebuild(
            &mut conn,
            TableRebuild::new("ck_table")
                .drop_constraint("ck")
                .force_copy(force_copy),
        );
        assert!(!schema_of(&conn, "ck_table").contains("CHECK"));
    }
}

/// `test_drop_foreign_key`: Alembic names the unnamed key through a naming convention; the
/// crate finds it by its columns.
#[test]
fn test_drop_foreign_key() {
    let mut conn = foo();
    conn.execute_batch(
        "CREATE TABLE bar (\n\tid INTEGER NOT NULL, \n\tfoo_id INTEGER, \n\tPRIMARY KEY (id), \n\tFOREIGN KEY(foo_id) REFERENCES foo (id)\n);
         INSERT INTO bar VALUES (1, 3);",
    )
    .unwrap();
    rebuild(
        &mut conn,
        TableRebuild::new("bar").drop_foreign_key(["foo_id"]),
    );
    assert!(foreign_keys(&conn, "bar").is_empty());
}

/// `test_add_uq`, `test_add_uq_plus_col`, always and auto.
#[test]
fn test_add_uq() {
    let unique = |conn: &Connection| {
        query_all(
            conn,
            "SELECT group_concat(i.name, ',') FROM pragma_index_list('foo') AS l, pragma_index_info(l.name) AS i WHERE l.origin = 'u' GROUP BY l.name",
        )
    };
    for force_copy in [false, true] {
        let mut conn = foo();
        rebuild(
            &mut conn,
            TableRebuild::new("foo")
                .add_unique("newuk", ["x"])
                .force_copy(force_copy),
        );
        assert_eq!(unique(&conn), [vec![text("x")]]);
        assert!(schema_of(&conn, "foo").contains("CONSTRAINT \"newuk\" UNIQUE (\"x\")"));
        let mut conn = foo();
        rebuild(
            &mut conn,
            TableRebuild::new("foo")
                .add_column("y INTEGER")
                .add_unique("newuk", ["x", "y"])
                .force_copy(force_copy),
        );
        assert_eq!(unique(&conn), [vec![text("x,y")]]);
    }
}

/// `test_rename_column`, `test_rename_column_pk`.
#[test]
fn test_rename_column() {
    let mut conn = foo();
    rebuild(&mut conn, TableRebuild::new("foo").rename_column("x", "y"));
    assert_data(
        &conn,
        "foo",
        &["id", "data", "y"],
        foo_rows(original_data()),
    );
    let mut conn = foo();
    rebuild(
        &mut conn,
        TableRebuild::new("foo").rename_column("id", "ident"),
    );
    assert_data(
        &conn,
        "foo",
        &["ident", "data", "x"],
        foo_rows(original_data()),
    );
    assert_eq!(pk(&conn, "foo"), ["ident"]);
}

/// `test_rename_column_boolean`, `test_rename_column_boolean_named_ck` (recreate="always"),
/// `test_rename_column_non_native_boolean_no_ck`: the CHECK follows the rename, and a value
/// no CHECK guards (5) is kept.
#[test]
fn test_rename_column_boolean() {
    for (check, force_copy) in [
        (", \n\tCHECK (flag IN (0, 1))", false),
        (", \n\tCONSTRAINT ck1 CHECK (flag IN (0, 1))", true),
        ("", false),
    ] {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE bar (\n\tid INTEGER NOT NULL, \n\tflag BOOLEAN, \n\tPRIMARY KEY (id){check}\n);
             INSERT INTO bar VALUES (1, 1), (2, 0);"
        ))
        .unwrap();
        let mut rows = vec![vec![i(1), i(1)], vec![i(2), i(0)]];
        if check.is_empty() {
            conn.execute_batch("INSERT INTO bar VALUES (3, 5)").unwrap();
            rows.push(vec![i(3), i(5)]);
        }
        rebuild(
            &mut conn,
            TableRebuild::new("bar")
                .rename_column("flag", "bflag")
                .force_copy(force_copy),
        );
        assert_data(&conn, "bar", &["id", "bflag"], rows);
        if !check.is_empty() {
            assert!(schema_of(&conn, "bar").contains("CHECK (\"bflag\" IN (0, 1))"));
        }
    }
}

/// `test_drop_column_pk`: the rowid alias goes; the rows keep their rowids.
#[test]
fn test_drop_column_pk() {
    let mut conn = foo();
    rebuild(
        &mut conn,
        TableRebuild::new("foo")
            .primary_key(Vec::<String>::new())
            .drop_column("id"),
    );
    assert_data(
        &conn,
        "foo",
        &["data", "x"],
        original_data()
            .into_iter()
            .enumerate()
            .map(|(k, d)| vec![d, i(k as i64 + 5)])
            .collect(),
    );
    assert_eq!(
        query_all(&conn, "SELECT rowid FROM foo"),
        (1..=5).map(|k| vec![i(k)]).collect::<Vec<_>>()
    );
}

/// `test_add_column_auto` (ALTER TABLE, as Alembic notes), `test_add_column_recreate`.
#[test]
fn test_add_column() {
    for force_copy in [false, true] {
        let mut conn = foo();
        let report = rebuild(
            &mut conn,
            TableRebuild::new("foo")
                .add_column("data2 VARCHAR(50) DEFAULT 'hi'")
                .force_copy(force_copy),
        );
        assert_eq!(
            report.strategy(),
            if force_copy {
                Strategy::Copy
            } else {
                Strategy::Alter
            }
        );
        let rows = foo_rows(original_data())
            .into_iter()
            .map(|mut r| {
                r.push(text("hi"));
                r
            })
            .collect();
        assert_data(&conn, "foo", &["id", "data", "x", "data2"], rows);
    }
}

/// `test_add_column_auto_server_default_calculated`: SQLite's ALTER TABLE refuses a
/// non-constant DEFAULT, so the crate copies; every row gets a value.
#[test]
fn test_add_column_auto_server_default_calculated() {
    let mut conn = foo();
    let report = rebuild(
        &mut conn,
        TableRebuild::new("foo")
            .add_column("data2 DATETIME DEFAULT (datetime('now', 'localtime'))"),
    );
    assert_eq!(report.strategy(), Strategy::Copy);
    assert_eq!(
        int(&conn, "SELECT count(*) FROM foo WHERE data2 IS NOT NULL"),
        5
    );
}

/// `test_add_column_auto_generated`, persisted and not.
#[test]
fn test_add_column_auto_generated() {
    for stored in ["STORED", "VIRTUAL"] {
        let mut conn = foo();
        rebuild(
            &mut conn,
            TableRebuild::new("foo").add_column(format!(
                "data2 INTEGER GENERATED ALWAYS AS (1 + 1) {stored}"
            )),
        );
        let rows = foo_rows(original_data())
            .into_iter()
            .map(|mut r| {
                r.push(i(2));
                r
            })
            .collect();
        assert_data(&conn, "foo", &["id", "data", "x", "data2"], rows);
    }
}

/// `test_add_column_insert_before_recreate`, `test_add_column_insert_after_recreate`, and
/// `test_add_column_insert_before_raise_on_alter`: Alembic refuses a position with ALTER;
/// the crate copies when the order changes.
#[test]
fn test_add_column_insert_before_and_after() {
    for (order, expected) in [
        (&["id", "data2"][..], ["id", "data2", "data", "x"]),
        (&["id", "data", "data2"][..], ["id", "data", "data2", "x"]),
    ] {
        let mut conn = foo();
        let report = rebuild(
            &mut conn,
            TableRebuild::new("foo")
                .add_column("data2 VARCHAR(50) DEFAULT 'hi'")
                .column_order(order.iter().copied()),
        );
        assert_eq!(report.strategy(), Strategy::Copy);
        assert_eq!(
            query_all(&conn, "SELECT name FROM pragma_table_info('foo')"),
            expected.map(|c| vec![text(c)])
        );
        assert_eq!(int(&conn, "SELECT count(*) FROM foo WHERE data2 = 'hi'"), 5);
    }
}

/// `test_create_drop_index` (recreate="always").
#[test]
fn test_create_drop_index() {
    let mut conn = foo();
    let indexes = "SELECT l.name, l.\"unique\", i.name FROM pragma_index_list('foo') AS l, pragma_index_info(l.name) AS i";
    assert!(query_all(&conn, indexes).is_empty());
    rebuild(
        &mut conn,
        TableRebuild::new("foo")
            .create_index("CREATE UNIQUE INDEX ix_data ON foo (data)")
            .force_copy(true),
    );
    assert_data(
        &conn,
        "foo",
        &["id", "data", "x"],
        foo_rows(original_data()),
    );
    assert_eq!(
        query_all(&conn, indexes),
        [vec![text("ix_data"), i(1), text("data")]]
    );
    rebuild(
        &mut conn,
        TableRebuild::new("foo")
            .drop_index("ix_data")
            .force_copy(true),
    );
    assert!(query_all(&conn, indexes).is_empty());
}

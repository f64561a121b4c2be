//! Dependents land where they lived: every index and trigger is recreated in its own
//! schema, on the table it was on, whatever other schemas hold a table of the same name.

use super::*;

fn attached() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open_in_memory().unwrap();
    conn.execute(
        "ATTACH ?1 AS aux",
        [dir.path().join("aux.db").display().to_string()],
    )
    .unwrap();
    conn.execute_batch(
        "CREATE TABLE aux.log (x);
         CREATE TABLE aux.t (id INTEGER PRIMARY KEY, v TEXT);
         CREATE INDEX aux.t_v ON t (v);
         CREATE TRIGGER aux.t_ins AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.v); END;
         INSERT INTO aux.t VALUES (1, 'a'), (2, 'b');",
    )
    .unwrap();
    (dir, conn)
}

const AUX_TARGET: &str = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL COLLATE NOCASE)";

/// The trigger fires on `schema.t` and writes into `schema.log`.
fn trigger_fires(conn: &Connection, schema: &str) -> i64 {
    conn.execute(
        &format!("INSERT INTO \"{schema}\".t (v) VALUES ('fired')"),
        [],
    )
    .unwrap();
    int(
        conn,
        &format!("SELECT count(*) FROM \"{schema}\".log WHERE x = 'fired'"),
    )
}

#[test]
fn an_attached_tables_trigger_stays_there_when_main_has_no_such_table() {
    let (_dir, mut conn) = attached();
    rebuild_changing_only(
        &mut conn,
        TableRebuild::new("t").schema("aux").create_sql(AUX_TARGET),
        "aux",
        "t",
        AUX_TARGET,
    );
    assert_eq!(trigger_fires(&conn, "aux"), 1);
}

#[test]
fn an_attached_tables_trigger_does_not_move_onto_mains_table() {
    let (_dir, mut conn) = attached();
    conn.execute_batch(
        "CREATE TABLE main.log (x); CREATE TABLE main.t (id INTEGER PRIMARY KEY, v TEXT);",
    )
    .unwrap();
    rebuild_changing_only(
        &mut conn,
        TableRebuild::new("t").schema("aux").create_sql(AUX_TARGET),
        "aux",
        "t",
        AUX_TARGET,
    );
    assert_eq!(trigger_fires(&conn, "aux"), 1);
    assert_eq!(trigger_fires(&conn, "main"), 0, "main.t has no trigger");
}

#[test]
fn an_attached_tables_trigger_stays_there_in_place_too() {
    let (_dir, mut conn) = attached();
    conn.execute_batch(
        "WITH RECURSIVE k(i) AS (SELECT 3 UNION ALL SELECT i + 1 FROM k WHERE i < 30)
         INSERT INTO aux.t SELECT i, 'k' || i FROM k;",
    )
    .unwrap();
    // Only a constraint changes, and one row is remapped in place (its triggers suspended).
    let target = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT CHECK (v <> 'a'))";
    let rb = TableRebuild::new("t")
        .schema("aux")
        .create_sql(target)
        .remap("v", "a", "z");
    assert_eq!(
        rb.plan(&conn).unwrap().steps()[0].kind(),
        sqlite_rebuild::StepKind::SwitchDefinition
    );
    let before = normalized(snapshot(&conn));
    rb.execute(&mut conn).unwrap();
    let after = normalized(snapshot(&conn));
    assert_same(&without(after, "aux", "t"), &without(before, "aux", "t"));
    assert_eq!(trigger_fires(&conn, "aux"), 1);
}

fn main_and_temp() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE log (x);
         CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         CREATE INDEX t_v ON t (v);
         CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.v); END;
         INSERT INTO t VALUES (1, 'a');
         CREATE TEMP TABLE t (other);
         CREATE TEMP TABLE tlog (x);
         CREATE TEMP TRIGGER on_main AFTER INSERT ON main.t BEGIN INSERT INTO tlog VALUES ('main'); END;
         CREATE TEMP TRIGGER on_temp AFTER INSERT ON t BEGIN INSERT INTO tlog VALUES ('temp'); END;",
    )
    .unwrap();
    conn
}

#[test]
fn mains_trigger_does_not_move_onto_a_temp_table_of_the_same_name() {
    let mut conn = main_and_temp();
    let target = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT COLLATE NOCASE)";
    rebuild_main(&mut conn, "t", target);
    assert_eq!(trigger_fires(&conn, "main"), 1);
    // The TEMP trigger on main.t came back; the one on temp.t was never touched.
    assert_eq!(
        query_all(&conn, "SELECT x FROM tlog"),
        vec![vec![text("main")]]
    );
    conn.execute("INSERT INTO temp.t VALUES (1)", []).unwrap();
    assert_eq!(
        query_all(&conn, "SELECT x FROM tlog ORDER BY x"),
        vec![vec![text("main")], vec![text("temp")]]
    );
}

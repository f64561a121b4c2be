//! Scripts that are safe where foreign key enforcement cannot be switched off: the default
//! copies the table's whole family ([`ChildTables::CopyClosure`]), `Repoint` points the
//! children at the copy through writable_schema, `without_transaction` leaves out the
//! savepoint for engines that refuse it. Each is run with enforcement on and off, inside a
//! transaction of the caller's and not, and compared with `execute()` on the same data.

mod common;

use common::*;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{ChildTables, Error, ScriptOptions, TableRebuild};

const PLANS: i64 = 40;

fn story_db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    plans_db(&conn, PLANS);
    conn
}

/// Runs `script` with enforcement `fk` inside a transaction of the caller's (`in_tx`).
fn run(conn: &mut Connection, script: &str, fk: bool, in_tx: bool) -> Result<(), String> {
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = {}",
        if fk { "ON" } else { "OFF" }
    ))
    .unwrap();
    if in_tx {
        let tx = conn.transaction().unwrap();
        tx.execute_batch(script).map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())
    } else {
        conn.execute_batch(script).map_err(|e| e.to_string())
    }
}

/// What `execute()` makes of the same database and rebuild.
fn by_execute(setup: impl Fn() -> Connection, rb: &TableRebuild) -> Snapshot {
    let mut conn = setup();
    rb.clone().execute(&mut conn).unwrap();
    snapshot(&conn)
}

fn every_way(setup: impl Fn() -> Connection + Copy, rb: TableRebuild) {
    let violations = int(&setup(), "SELECT count(*) FROM pragma_foreign_key_check");
    // Repointing gives the children their own text back: exactly execute()'s.
    for (options, exact) in [
        (ScriptOptions::new(), false),
        (ScriptOptions::new().children(ChildTables::Repoint), true),
    ] {
        for fk in [true, false] {
            for in_tx in [true, false] {
                let mut conn = setup();
                let script = rb
                    .clone()
                    .plan(&conn)
                    .unwrap()
                    .to_sql_with(&options)
                    .unwrap();
                run(&mut conn, &script, fk, in_tx)
                    .unwrap_or_else(|e| panic!("{options:?} fk={fk} tx={in_tx}: {e}\n{script}"));
                assert!(conn.is_autocommit());
                assert_eq!(
                    int(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
                    violations,
                    "{options:?} fk={fk} tx={in_tx}"
                );
                let (got, expected) = (snapshot(&conn), by_execute(setup, &rb));
                if exact {
                    assert_same(&normalized(got), &normalized(expected));
                } else {
                    assert_same(&unquoted(got), &unquoted(expected));
                }
            }
        }
    }
}

#[test]
fn the_story_runs_with_enforcement_on_inside_a_transaction() {
    let mut conn = story_db();
    let script = with_rules(downgrade())
        .plan(&conn)
        .unwrap()
        .to_sql()
        .unwrap();
    run(&mut conn, &script, true, true).unwrap();
    for child in CHILDREN {
        assert_eq!(count(&conn, child), PLANS, "no cascade into {child}");
    }
    assert_eq!(count(&conn, "plan_events"), 0, "no trigger fired");
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM v3_plans WHERE phase = 'action'"
        ),
        0
    );
    // The references are live: a delete still cascades, the view still reads.
    conn.execute("DELETE FROM v3_plans WHERE id = 1", [])
        .unwrap();
    assert_eq!(count(&conn, "plan_projects"), PLANS - 1);
    assert_eq!(int(&conn, "SELECT count(*) FROM active_plans"), PLANS - 1);
}

#[test]
fn the_story_matches_execute_every_way() {
    every_way(story_db, with_rules(downgrade()));
}

#[test]
fn violating_rows_are_refused_with_enforcement_on_and_nothing_changes() {
    for options in [
        ScriptOptions::new(),
        ScriptOptions::new().children(ChildTables::Repoint),
    ] {
        let mut conn = story_db();
        let script = downgrade()
            .plan(&conn)
            .unwrap()
            .to_sql_with(&options)
            .unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        let before = snapshot(&conn);
        let tx = conn.transaction().unwrap();
        let err = tx.execute_batch(&script).unwrap_err().to_string();
        assert!(err.contains("ck_v3_plans_phase"), "{err}");
        drop(tx);
        assert!(conn.is_autocommit());
        assert_same(&snapshot(&conn), &before);
    }
}

#[test]
fn enforcement_off_script_still_refuses_with_enforcement_on() {
    let conn = story_db();
    let script = with_rules(downgrade())
        .plan(&conn)
        .unwrap()
        .to_sql_with(&ScriptOptions::new().children(ChildTables::EnforcementOff))
        .unwrap();
    assert!(script.contains("run this with foreign key enforcement OFF"));
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    let before = snapshot(&conn);
    let err = conn.execute_batch(&script).unwrap_err().to_string();
    assert!(err.contains("foreign key enforcement is ON"), "{err}");
    assert_same(&snapshot(&conn), &before);
    // With enforcement off it runs.
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    conn.execute_batch(&script).unwrap();
    for child in CHILDREN {
        assert_eq!(count(&conn, child), PLANS);
    }
}

#[test]
fn without_transaction_the_script_has_no_transaction_statement() {
    let conn = story_db();
    let plan = with_rules(downgrade()).plan(&conn).unwrap();
    let script = plan
        .to_sql_with(&ScriptOptions::new().without_transaction())
        .unwrap();
    for word in ["SAVEPOINT", "RELEASE", "BEGIN", "COMMIT", "ROLLBACK"] {
        let statements: Vec<String> = script
            .lines()
            .filter(|l| !l.starts_with("--"))
            .map(|l| l.trim().to_ascii_uppercase())
            .filter(|l| {
                l.starts_with(&format!("{word};"))
                    || (l.starts_with(&format!("{word} ")) && !l.contains("INSERT INTO"))
            })
            .collect();
        assert!(statements.is_empty(), "{word}: {statements:?}");
    }
    assert!(!script.contains("RAISE(ROLLBACK"));
    // Run as an engine that applies a file atomically would: inside its own transaction.
    let mut conn = conn;
    run(&mut conn, &script, true, true).unwrap();
    for child in CHILDREN {
        assert_eq!(count(&conn, child), PLANS);
    }
    // A refusal fails the statement; the engine's rollback leaves everything as it was.
    let mut conn = story_db();
    let script = downgrade()
        .plan(&conn)
        .unwrap()
        .to_sql_with(&ScriptOptions::new().without_transaction())
        .unwrap();
    let before = snapshot(&conn);
    let err = run(&mut conn, &script, true, true).unwrap_err();
    assert!(err.contains("ck_v3_plans_phase"), "{err}");
    assert!(conn.is_autocommit());
    assert_same(&snapshot(&conn), &before);
}

/// A table that references itself: the copy's key must reference the copy, or dropping
/// the old table with enforcement on cascades into it.
fn self_referencing() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, up INTEGER REFERENCES t (id) ON DELETE CASCADE, v TEXT);
         INSERT INTO t VALUES (1, NULL, 'a'), (2, 1, 'b'), (3, 2, 'c');",
    )
    .unwrap();
    conn
}

#[test]
fn a_self_referencing_table_keeps_every_row_with_enforcement_on() {
    let rb = TableRebuild::new("t").create_sql(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, up INTEGER REFERENCES t (id) ON DELETE CASCADE, v TEXT NOT NULL)",
    );
    every_way(self_referencing, rb.clone());
    let mut conn = self_referencing();
    let script = rb.plan(&conn).unwrap().to_sql().unwrap();
    run(&mut conn, &script, true, false).unwrap();
    assert_eq!(count(&conn, "t"), 3);
    conn.execute("DELETE FROM t WHERE id = 1", []).unwrap();
    assert_eq!(count(&conn, "t"), 0, "the self-reference still cascades");
}

/// Grandchildren, a DAG of references, a WITHOUT ROWID child, AUTOINCREMENT and generated
/// columns, a unique index a grandchild's key needs, views on views, triggers on other
/// tables naming the family, a TEMP trigger, statistics, and rows that already had no parent.
fn family() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF;
         CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT, v TEXT);
         CREATE UNIQUE INDEX p_code ON p (code);
         CREATE TABLE c (id INTEGER PRIMARY KEY AUTOINCREMENT, pid INTEGER REFERENCES p (id) ON DELETE CASCADE,
                         pcode TEXT REFERENCES p (code) ON UPDATE CASCADE, tag TEXT, up AS (upper(tag)));
         CREATE UNIQUE INDEX c_tag ON c (tag);
         CREATE TABLE w (k TEXT PRIMARY KEY, cid INTEGER REFERENCES c (id) ON DELETE SET NULL, ctag TEXT REFERENCES c (tag)) WITHOUT ROWID;
         CREATE TABLE g (gid, pid REFERENCES p, cid REFERENCES c ON DELETE CASCADE, wk REFERENCES w (k));
         CREATE INDEX g_pid ON g (pid);
         CREATE TABLE audit (what TEXT);
         CREATE TABLE other (x);
         CREATE TRIGGER other_ins AFTER INSERT ON other BEGIN INSERT INTO c (pid, tag) VALUES (1, new.x); END;
         CREATE TRIGGER c_del AFTER DELETE ON c BEGIN INSERT INTO audit VALUES ('c deleted'); END;
         CREATE TRIGGER g_del AFTER DELETE ON g BEGIN INSERT INTO audit VALUES ('g deleted'); END;
         CREATE VIEW pc AS SELECT p.v, c.tag FROM p JOIN c ON c.pid = p.id;
         CREATE VIEW pc2 AS SELECT * FROM pc;
         CREATE TRIGGER pc2_ins INSTEAD OF INSERT ON pc2 BEGIN INSERT INTO audit VALUES (new.tag); END;
         CREATE TEMP TRIGGER w_tmp AFTER UPDATE ON w BEGIN SELECT 1; END;
         INSERT INTO p VALUES (1, 'a', 'one'), (2, 'b', 'two'), (3, 'c', 'three');
         INSERT INTO c (id, pid, pcode, tag) VALUES (5, 1, 'a', 'x'), (6, 2, 'b', 'y'), (9, 3, 'c', 'z'), (10, 77, 'q', 'orphan');
         DELETE FROM c WHERE id = 10; INSERT INTO c (id, pid, pcode, tag) VALUES (7, 99, NULL, 'orphan');
         INSERT INTO w VALUES ('k1', 5, 'x'), ('k2', 6, 'y'), ('k3', NULL, NULL);
         INSERT INTO g (rowid, gid, pid, cid, wk) VALUES (11, 1, 1, 5, 'k1'), (12, 2, 2, 6, 'k2'), (20, 3, 3, 9, 'k3');
         ANALYZE;",
    )
    .unwrap();
    conn
}

#[test]
fn a_family_of_tables_matches_execute_every_way() {
    let rb = TableRebuild::new("p").create_sql(
        "CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT, v TEXT NOT NULL CHECK (v <> ''))",
    );
    every_way(family, rb);
}

#[test]
fn remapped_keys_are_followed_by_the_copies() {
    let rb = TableRebuild::new("p")
        .create_sql(
            "CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT CHECK (code <> 'b'), v TEXT)",
        )
        .remap("code", "b", "bb");
    every_way(family, rb);
    let mut conn = family();
    let script = TableRebuild::new("p")
        .create_sql(
            "CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT CHECK (code <> 'b'), v TEXT)",
        )
        .remap("code", "b", "bb")
        .plan(&conn)
        .unwrap()
        .to_sql()
        .unwrap();
    let audit = count(&conn, "audit");
    run(&mut conn, &script, true, true).unwrap();
    assert_eq!(int(&conn, "SELECT count(*) FROM c WHERE pcode = 'bb'"), 1);
    assert_eq!(count(&conn, "audit"), audit, "no trigger fired");
}

#[test]
fn keys_that_would_lose_their_parents_are_refused_before_anything_is_dropped() {
    let mut conn = family();
    // A column expression rewrites the codes that c.pcode references.
    let script = TableRebuild::new("p")
        .create_sql("CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT, v TEXT)")
        .column("code", "code || '!'")
        .plan(&conn)
        .unwrap()
        .to_sql()
        .unwrap();
    let before = snapshot(&conn);
    let err = run(&mut conn, &script, true, false).unwrap_err();
    assert!(
        err.contains("rows of child \"c\" would no longer find their parent rows"),
        "{err}"
    );
    assert!(conn.is_autocommit());
    assert_same(&snapshot(&conn), &before);
}

#[test]
fn a_cycle_of_references_is_a_typed_error_before_anything_runs() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE a (id INTEGER PRIMARY KEY, b_id REFERENCES b (id));
         CREATE TABLE b (id INTEGER PRIMARY KEY, a_id REFERENCES a (id));",
    )
    .unwrap();
    let before = snapshot(&conn);
    let plan = TableRebuild::new("a")
        .create_sql("CREATE TABLE a (id INTEGER PRIMARY KEY, b_id REFERENCES b (id), v)")
        .plan(&conn)
        .unwrap();
    match plan.to_sql() {
        Err(Error::ReferenceCycle { table, cycle }) => {
            assert_eq!(table, "a");
            assert!(cycle.iter().any(|t| t == "b"), "{cycle:?}");
        }
        other => panic!("expected a cycle error, got {other:?}"),
    }
    assert_same(&snapshot(&conn), &before);
    assert!(plan
        .to_sql_with(&ScriptOptions::new().children(ChildTables::EnforcementOff))
        .is_ok());
    // Repointing drops no child, so a cycle is no obstacle to it, with enforcement on.
    let mut conn = conn;
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF;
         INSERT INTO a VALUES (1, 10), (2, NULL); INSERT INTO b VALUES (10, 1), (11, 2);",
    )
    .unwrap();
    let plan = TableRebuild::new("a")
        .create_sql("CREATE TABLE a (id INTEGER PRIMARY KEY, b_id REFERENCES b (id), v)")
        .plan(&conn)
        .unwrap();
    let script = plan
        .to_sql_with(&ScriptOptions::new().children(ChildTables::Repoint))
        .unwrap();
    run(&mut conn, &script, true, true).unwrap();
    assert_eq!((count(&conn, "a"), count(&conn, "b")), (2, 2));
    assert_eq!(
        int(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    let b_sql: String = conn
        .query_row("SELECT sql FROM sqlite_schema WHERE name = 'b'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        b_sql,
        "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id REFERENCES a (id))"
    );
}

#[test]
fn a_grandchild_or_a_trigger_changed_since_rendering_is_drift() {
    for change in [
        "CREATE INDEX g_wk ON g (wk)",
        "CREATE TRIGGER other_upd AFTER UPDATE ON other BEGIN SELECT 1; END",
        "CREATE TEMP VIEW tv AS SELECT * FROM w",
    ] {
        let mut conn = family();
        let script = TableRebuild::new("p")
            .create_sql("CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT, v TEXT NOT NULL)")
            .plan(&conn)
            .unwrap()
            .to_sql()
            .unwrap();
        conn.execute_batch(change).unwrap();
        let before = snapshot(&conn);
        let err = run(&mut conn, &script, true, false).unwrap_err();
        assert!(
            err.contains("changed since this script was rendered"),
            "{change}: {err}"
        );
        assert_same(&snapshot(&conn), &before);
    }
}

/// `to_sql_statements` splits the script where SQLite would: run one by one in a
/// transaction (as D1's `batch()` runs them), they do what the whole script does. The
/// form without transaction statements creates nothing in `temp` (D1 refuses TEMP objects)
/// and leaves nothing of its own behind.
#[test]
fn the_statements_one_by_one_do_what_the_script_does() {
    for setup in [story_db as fn() -> Connection, family, self_referencing] {
        let table = match int(
            &setup(),
            "SELECT count(*) FROM sqlite_schema WHERE name = 'v3_plans'",
        ) {
            1 => "v3_plans",
            _ if int(
                &setup(),
                "SELECT count(*) FROM sqlite_schema WHERE name = 'p'",
            ) == 1 =>
            {
                "p"
            }
            _ => "t",
        };
        let rb = match table {
            "v3_plans" => with_rules(downgrade()),
            _ => TableRebuild::new(table)
                .add_check("positive_id", "id > 0")
                .force_copy(true),
        };
        for options in [
            ScriptOptions::new(),
            ScriptOptions::new().without_transaction(),
            ScriptOptions::new().children(ChildTables::Repoint),
        ] {
            let mut whole = setup();
            let plan = rb.clone().plan(&whole).unwrap();
            let script = plan.to_sql_with(&options).unwrap();
            run(&mut whole, &script, true, true).unwrap();
            let mut split = setup();
            split.execute_batch("PRAGMA foreign_keys = ON").unwrap();
            let statements = plan.to_sql_statements(&options).unwrap();
            assert!(statements.len() > 10);
            let tx = split.transaction().unwrap();
            for st in &statements {
                tx.execute_batch(st).unwrap_or_else(|e| panic!("{st}: {e}"));
            }
            tx.commit().unwrap();
            assert_same(&snapshot(&split), &snapshot(&whole));
            if !options.opens_savepoint() {
                // (The family's own TEMP trigger is recreated as TEMP; D1 has none.)
                assert!(
                    statements
                        .iter()
                        .all(|s| !s.contains("\"temp\".\"sqlite-rebuild")),
                    "{statements:#?}"
                );
                assert_eq!(
                    int(
                        &split,
                        "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'sqlite-rebuild%'"
                    ),
                    0
                );
            }
        }
    }
}

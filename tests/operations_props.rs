//! Random sequences of operations on a table with dependents, run twice: the way the crate
//! chooses (SQLite's ALTER TABLE, the switch in place, or the copy) and forced to copy.
//! Two independent paths must agree: both refuse with the same error and change nothing,
//! or both succeed with the same database, every kept value under its column's new name,
//! integrity and foreign keys intact, every verb (validate, plan) saying the same, and the
//! plan's script, run as plain SQL, ending the same way.

mod common;

use common::*;
use proptest::prelude::*;
use sqlite_rebuild::rusqlite::types::Value;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{Error, TableRebuild};

const SETUP: &str = "
    CREATE TABLE t (id INTEGER PRIMARY KEY, a INT NOT NULL, b TEXT, c REAL CHECK (c >= 0),
                    d TEXT UNIQUE, e INT DEFAULT 7, CONSTRAINT k_a CHECK (a < 100));
    CREATE INDEX t_b ON t (b);
    CREATE VIEW v AS SELECT a, e FROM t;
    CREATE TABLE child (id INTEGER PRIMARY KEY, t_d REFERENCES t (d));
    INSERT INTO t VALUES (1, 5, 'x', 1.5, 'd1', 1), (2, 6, NULL, 0, 'd2', NULL),
                         (3, 50, 'y', 2.5, NULL, 3), (4, 8, 'z', 3, 'd4', 4);
    INSERT INTO child VALUES (1, 'd1'), (2, 'd4');";

const COLUMNS: [&str; 5] = ["a", "b", "c", "d", "e"];

/// One operation, drawn from small choices so that sequences hit real interactions.
#[derive(Debug, Clone)]
enum Op {
    Add(usize),
    Drop(usize),
    Rename(usize, usize),
    Retype(usize, usize),
    AddCheck(usize),
    DropConstraint(usize),
    SetNotNull(usize),
    DropNotNull(usize),
    Order(usize),
    DropIndex,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..3).prop_map(Op::Add),
        (0usize..5).prop_map(Op::Drop),
        (0usize..5, 0usize..6).prop_map(|(c, n)| Op::Rename(c, n)),
        (0usize..5, 0usize..3).prop_map(|(c, t)| Op::Retype(c, t)),
        (0usize..3).prop_map(Op::AddCheck),
        (0usize..3).prop_map(Op::DropConstraint),
        (0usize..5).prop_map(Op::SetNotNull),
        (0usize..5).prop_map(Op::DropNotNull),
        (0usize..5).prop_map(Op::Order),
        Just(Op::DropIndex),
    ]
}

fn apply(mut rb: TableRebuild, op: &Op) -> TableRebuild {
    let names = ["a", "b", "c", "d", "e", "n1"];
    match op {
        Op::Add(k) => {
            rb = rb.add_column(
                [
                    "f INTEGER",
                    "g TEXT NOT NULL DEFAULT 'g'",
                    "h INT CHECK (h IS NULL OR h > 0)",
                ][*k],
            )
        }
        Op::Drop(c) => rb = rb.drop_column(COLUMNS[*c]),
        Op::Rename(c, n) => rb = rb.rename_column(COLUMNS[*c], names[*n]),
        Op::Retype(c, t) => {
            rb = rb.alter_column(COLUMNS[*c], ["TEXT", "INTEGER", "REAL NOT NULL"][*t])
        }
        Op::AddCheck(k) => {
            rb = rb.add_check(
                ["k_new", "k_pos", "k_len"][*k],
                ["a > 0", "e IS NULL OR e > 2", "length(b) < 5"][*k],
            )
        }
        Op::DropConstraint(k) => rb = rb.drop_constraint(["k_a", "nope", "k_new"][*k]),
        Op::SetNotNull(c) => rb = rb.set_not_null(COLUMNS[*c]),
        Op::DropNotNull(c) => rb = rb.drop_not_null(COLUMNS[*c]),
        Op::Order(c) => rb = rb.column_order([COLUMNS[*c]]),
        Op::DropIndex => rb = rb.drop_index("t_b"),
    }
    rb
}

/// Every value of every original column that survives, under the name it has after the
/// renames (a dropped column has none): (new name, the values in id order).
fn survivors(conn: &Connection, ops: &[Op]) -> Vec<(String, Vec<Value>)> {
    let names = ["a", "b", "c", "d", "e", "n1"];
    let mut out = Vec::new();
    for (i, c) in COLUMNS.iter().enumerate() {
        if ops.iter().any(|o| matches!(o, Op::Drop(d) if *d == i)) {
            continue;
        }
        let new = ops
            .iter()
            .rev()
            .find_map(|o| match o {
                Op::Rename(r, n) if *r == i => Some(names[*n]),
                _ => None,
            })
            .unwrap_or(c);
        let values = query_all(conn, &format!("SELECT {c} FROM t ORDER BY id")).concat();
        out.push((new.to_owned(), values));
    }
    out
}

/// What one path did: its strategy or error, the database after, the values expected.
type Outcome = (
    Result<sqlite_rebuild::Strategy, String>,
    Connection,
    Vec<(String, Vec<Value>)>,
);

fn outcome(ops: &[Op], force_copy: bool) -> Outcome {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(SETUP).unwrap();
    let expected = survivors(&conn, ops);
    let rb = ops
        .iter()
        .fold(TableRebuild::new("t").force_copy(force_copy), apply);
    let before = snapshot(&conn);
    let validated = rb.validate(&conn);
    let planned = rb.plan(&conn).map(|p| p.strategy());
    assert_same(&snapshot(&conn), &before);
    let result = rb.execute(&mut conn);
    // Every verb says the same.
    match (&result, &validated, &planned) {
        (Ok(report), Ok(v), Ok(p)) => {
            assert!(v.is_ok(), "validate found {v} where execute succeeded");
            assert_eq!(*p, report.strategy());
        }
        (Err(Error::Violations(r)), Ok(v), _) => assert_eq!(r.to_string(), v.to_string()),
        (Err(e), Err(v), Err(p)) => {
            assert_eq!(e.to_string(), v.to_string());
            assert_eq!(e.to_string(), p.to_string());
        }
        (e, v, p) => panic!("the verbs disagree: execute {e:?}, validate {v:?}, plan {p:?}"),
    }
    if result.is_err() {
        assert_same(&snapshot(&conn), &before);
    }
    (
        result.map(|r| r.strategy()).map_err(|e| e.to_string()),
        conn,
        expected,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_agree_on_every_path(ops in proptest::collection::vec(op(), 1..5)) {
        let (chosen, fast, expected) = outcome(&ops, false);
        let (copied, copy, _) = outcome(&ops, true);
        match (&chosen, &copied) {
            (Ok(_), Ok(_)) => {
                prop_assert_eq!(normalized(snapshot(&fast)), normalized(snapshot(&copy)), "{:?}", ops);
                // The plan's script, as plain SQL, ends the same way.
                let by_script = Connection::open_in_memory().unwrap();
                by_script.execute_batch(SETUP).unwrap();
                by_script.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
                let rb = ops.iter().fold(TableRebuild::new("t"), apply);
                let script = rb.plan(&by_script).unwrap().to_sql().unwrap();
                by_script.execute_batch(&script).unwrap();
                prop_assert_eq!(unquoted(snapshot(&by_script)), unquoted(snapshot(&fast)), "{:?}", ops);
                for (name, values) in &expected {
                    let after = query_all(&fast, &format!("SELECT \"{name}\" FROM t ORDER BY id")).concat();
                    // A retyped column holds its values under the new affinity: compare as text.
                    let text = |v: &[Value]| v.iter().map(|x| match x {
                        Value::Null => "NULL".to_owned(),
                        Value::Integer(i) => (*i as f64).to_string(),
                        Value::Real(r) => r.to_string(),
                        Value::Text(t) => t.parse::<f64>().map(|f| f.to_string()).unwrap_or(t.clone()),
                        Value::Blob(b) => format!("{b:?}"),
                    }).collect::<Vec<_>>();
                    prop_assert_eq!(text(&after), text(values), "{} after {:?}", name, ops);
                }
                for conn in [&fast, &copy] {
                    let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
                    prop_assert_eq!(ok, "ok");
                    prop_assert_eq!(int(conn, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
                    prop_assert_eq!(count(conn, "child"), 2);
                }
            }
            (Err(a), Err(b)) => prop_assert_eq!(a, b, "{:?}", ops),
            (a, b) => prop_assert!(false, "the paths disagree on {:?}: {:?} against {:?}", ops, a, b),
        }
    }
}

//! Generated families of tables: a parent and tables that reference it, directly or through
//! each other (a DAG, self-references, WITHOUT ROWID and AUTOINCREMENT tables, every ON
//! DELETE action, views over joins, triggers on other tables naming them, rows that already
//! have no parent). The parent is rebuilt by `execute()` and by every form of script, with
//! foreign keys on and off, inside a transaction and not: all must give the same database
//! (the copying script storing the family's statements with quoted names), keep every child
//! row, fire no trigger, and leave the references live; a cycle is a typed error that
//! changes nothing.

mod common;

use common::*;
use proptest::prelude::*;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{ChildTables, Error, ScriptOptions, TableRebuild};
use std::fmt::Write as _;

#[derive(Debug, Clone)]
struct Member {
    /// The tables (earlier in the list; 0 is the parent) it references.
    parents: Vec<usize>,
    action: usize,
    without_rowid: bool,
    autoincrement: bool,
    self_reference: bool,
    /// A trigger on `other` that inserts into it.
    named_by_trigger: bool,
}

#[derive(Debug, Clone)]
struct Family {
    members: Vec<Member>,
    parent_self_reference: bool,
    /// The parent references the last member: a cycle.
    cycle: bool,
    view: bool,
    rows: i64,
    orphans: bool,
    /// The target remaps the parent's `code` (which members reference) 'c1' -> 'c1x'.
    remap: bool,
}

const ACTIONS: [&str; 5] = [
    "CASCADE",
    "SET NULL",
    "RESTRICT",
    "NO ACTION",
    "SET DEFAULT",
];

fn member(index: usize) -> impl Strategy<Value = Member> {
    (
        proptest::collection::vec(0..=index, 1..=2),
        0..ACTIONS.len(),
        any::<bool>(),
        any::<bool>(),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.3),
    )
        .prop_map(
            |(mut parents, action, without_rowid, autoincrement, self_reference, named)| {
                parents.sort_unstable();
                parents.dedup();
                Member {
                    parents,
                    action,
                    without_rowid,
                    autoincrement: autoincrement && !without_rowid,
                    self_reference,
                    named_by_trigger: named,
                }
            },
        )
}

fn family() -> impl Strategy<Value = Family> {
    (1usize..=4)
        .prop_flat_map(|n| {
            let members: Vec<_> = (0..n).map(member).collect();
            (
                members,
                proptest::bool::weighted(0.2),
                proptest::bool::weighted(0.1),
                any::<bool>(),
                1i64..8,
                proptest::bool::weighted(0.3),
                proptest::bool::weighted(0.4),
            )
        })
        .prop_map(
            |(members, parent_self_reference, cycle, view, rows, orphans, remap)| Family {
                members,
                parent_self_reference,
                cycle,
                view,
                rows,
                orphans,
                remap,
            },
        )
}

/// Table `i`: `t0` is the parent, members are `t1`, `t2`, ...
fn name(i: usize) -> String {
    format!("t{i}")
}

fn parent_sql(f: &Family, extra: &str) -> String {
    let mut cols = "id INTEGER PRIMARY KEY, code TEXT UNIQUE, v TEXT".to_owned();
    if f.parent_self_reference {
        cols.push_str(", up INTEGER REFERENCES t0 (id) ON DELETE CASCADE");
    }
    if f.cycle {
        let last = f.members.len();
        let _ = write!(cols, ", back TEXT REFERENCES {} (k)", name(last));
    }
    format!("CREATE TABLE t0 ({cols}{extra})")
}

fn setup(f: &Family) -> String {
    let mut s = String::from("PRAGMA foreign_keys = OFF;\n");
    s.push_str(&parent_sql(f, ""));
    s.push_str(";\nCREATE TABLE audit (what TEXT);\nCREATE TABLE other (x);\n");
    for (j, m) in f.members.iter().enumerate() {
        let i = j + 1;
        let key = if m.autoincrement {
            "id INTEGER PRIMARY KEY AUTOINCREMENT"
        } else if m.without_rowid {
            "id INTEGER NOT NULL"
        } else {
            "id INTEGER PRIMARY KEY"
        };
        let mut cols = vec![key.to_owned(), "k TEXT UNIQUE".to_owned()];
        for &p in &m.parents {
            // The parent is referenced by `code` (UNIQUE), a member by `k` (UNIQUE).
            let col = if p == 0 { "code" } else { "k" };
            cols.push(format!(
                "r{p} TEXT DEFAULT NULL REFERENCES {} ({col}) ON DELETE {} ON UPDATE CASCADE",
                name(p),
                ACTIONS[m.action]
            ));
        }
        if m.self_reference {
            cols.push(format!("up TEXT REFERENCES {} (k)", name(i)));
        }
        if m.without_rowid {
            cols.push("PRIMARY KEY (id)".to_owned());
        }
        let _ = writeln!(
            s,
            "CREATE TABLE {} ({}){};",
            name(i),
            cols.join(", "),
            if m.without_rowid {
                " WITHOUT ROWID"
            } else {
                ""
            }
        );
        let _ = writeln!(
            s,
            "CREATE TRIGGER {0}_del AFTER DELETE ON {0} BEGIN INSERT INTO audit VALUES ('{0} deleted'); END;",
            name(i)
        );
        if m.named_by_trigger {
            let _ = writeln!(
                s,
                "CREATE TRIGGER other_{0} AFTER INSERT ON other BEGIN INSERT INTO {0} (id, k) VALUES (1000 + new.x, 'o' || new.x); END;",
                name(i)
            );
        }
    }
    if f.view {
        let last = f.members.len();
        let _ = writeln!(
            s,
            "CREATE VIEW family AS SELECT t0.v, {0}.k FROM t0 JOIN {0} ON {0}.id = t0.id;\nCREATE VIEW family2 AS SELECT * FROM family;",
            name(last)
        );
    }
    for r in 1..=f.rows {
        let up = if f.parent_self_reference && r > 1 {
            (r - 1).to_string()
        } else {
            "NULL".to_owned()
        };
        let mut cols = "id, code, v".to_owned();
        let mut vals = format!("{r}, 'c{r}', 'v{r}'");
        if f.parent_self_reference {
            cols.push_str(", up");
            let _ = write!(vals, ", {up}");
        }
        let _ = writeln!(s, "INSERT INTO t0 ({cols}) VALUES ({vals});");
        for (j, m) in f.members.iter().enumerate() {
            let i = j + 1;
            let mut cols = vec!["id".to_owned(), "k".to_owned()];
            let mut vals = vec![r.to_string(), format!("'k{i}_{r}'")];
            for &p in &m.parents {
                cols.push(format!("r{p}"));
                vals.push(if p == 0 {
                    format!("'c{}'", (r % f.rows) + 1)
                } else {
                    format!("'k{p}_{r}'")
                });
            }
            if m.self_reference && r > 1 {
                cols.push("up".to_owned());
                vals.push(format!("'k{i}_{}'", r - 1));
            }
            let _ = writeln!(
                s,
                "INSERT INTO {} ({}) VALUES ({});",
                name(i),
                cols.join(", "),
                vals.join(", ")
            );
        }
    }
    if f.orphans {
        if let Some(m) = f.members.first() {
            let p = m.parents[0];
            let col = format!("r{p}");
            let _ = writeln!(
                s,
                "INSERT INTO t1 (id, k, {col}) VALUES (900, 'orphan', 'nowhere');"
            );
        }
    }
    s.push_str("ANALYZE;\nPRAGMA foreign_keys = ON;\n");
    s
}

fn open(f: &Family) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(&setup(f)).unwrap();
    conn
}

fn rebuild(f: &Family) -> TableRebuild {
    let rb = TableRebuild::new("t0").create_sql(parent_sql(f, ", CHECK (v <> '')"));
    if f.remap {
        rb.remap("code", "c1", "c1x")
    } else {
        rb
    }
}

fn check(f: &Family) -> Result<(), TestCaseError> {
    let before = snapshot(&open(f));
    let plan = rebuild(f).plan(&open(f)).unwrap();
    if f.cycle {
        let err = plan.to_sql().unwrap_err();
        prop_assert!(matches!(err, Error::ReferenceCycle { .. }), "{err:?}");
        prop_assert!(plan
            .to_sql_with(&ScriptOptions::new().children(ChildTables::EnforcementOff))
            .is_ok());
        return Ok(());
    }
    let mut by_execute = open(f);
    rebuild(f).execute(&mut by_execute).unwrap();
    let expected = snapshot(&by_execute);
    let audit = count(&open(f), "audit");
    let violations = int(&open(f), "SELECT count(*) FROM pragma_foreign_key_check");
    for (options, exact) in [
        (ScriptOptions::new(), false),
        (ScriptOptions::new().children(ChildTables::Repoint), true),
        (ScriptOptions::new().without_transaction(), false),
    ] {
        for fk in [true, false] {
            for in_tx in [true, false] {
                let mut conn = open(f);
                let script = plan.to_sql_with(&options).unwrap();
                conn.execute_batch(if fk {
                    "PRAGMA foreign_keys = ON"
                } else {
                    "PRAGMA foreign_keys = OFF"
                })
                .unwrap();
                // The form without a savepoint runs only where the caller's transaction
                // (or the engine's) makes it atomic.
                let in_tx = in_tx || !options.opens_savepoint();
                let ran = if in_tx {
                    let tx = conn.transaction().unwrap();
                    tx.execute_batch(&script).and_then(|()| tx.commit())
                } else {
                    conn.execute_batch(&script)
                };
                if let Err(e) = ran {
                    prop_assert!(false, "{options:?} fk={fk} tx={in_tx}: {e}\n{script}");
                }
                prop_assert!(conn.is_autocommit());
                prop_assert_eq!(count(&conn, "audit"), audit, "a trigger fired");
                prop_assert_eq!(
                    int(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
                    violations
                );
                let got = snapshot(&conn);
                if exact {
                    assert_same(&normalized(got), &normalized(snapshot_of(&expected)));
                } else {
                    assert_same(&unquoted(got), &unquoted(snapshot_of(&expected)));
                }
                // The references are live: deleting the parent's rows acts on every child.
                conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
                let _ = conn.execute_batch("DELETE FROM t0");
            }
        }
    }
    assert_same(&snapshot(&open(f)), &before);
    Ok(())
}

fn snapshot_of(s: &Snapshot) -> Snapshot {
    Snapshot {
        schema: s.schema.clone(),
        rows: s.rows.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_script_rebuilds_a_family_as_execute_does(f in family()) {
        check(&f)?;
    }
}

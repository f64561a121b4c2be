//! The story the migration frameworks' tests share: the v3 plans store (its schema from the
//! crate's examples), filled, and the downgrade that needs rules, rendered as the script a
//! migration file holds.

use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::TableRebuild;

/// The v3 schema, as a first migration creates it.
pub const V3_SCHEMA: &str = include_str!("../../../examples/v3_plans.sql");
/// The v2 definition the downgrade goes back to.
pub const V2_PLANS: &str = include_str!("../../../examples/v3_plans_v2.sql");
/// The tables that reference `v3_plans`.
pub const CHILDREN: [&str; 3] = ["plan_projects", "plan_arguments", "plan_invariants"];

/// Fills the store with `plans` plans, three in four in phase 'action' (which v2 rejects),
/// and one row per plan in each child table.
pub fn fill(conn: &Connection, plans: i64) -> sqlite_rebuild::rusqlite::Result<()> {
    conn.execute_batch("BEGIN")?;
    for i in 1..=plans {
        let phase = if i % 4 == 0 { "execute" } else { "action" };
        conn.execute(
            "INSERT INTO v3_plans (name, phase) VALUES (?1, ?2)",
            (format!("plan {i}"), phase),
        )?;
        for (table, col) in [
            ("plan_projects", "project"),
            ("plan_arguments", "argument"),
            ("plan_invariants", "invariant"),
        ] {
            conn.execute(
                &format!("INSERT INTO {table} (plan_id, {col}) VALUES (?1, 'v' || ?1)"),
                [i],
            )?;
        }
    }
    conn.execute_batch("COMMIT")
}

/// The downgrade: back to v2, with or without the rules that make every row fit.
pub fn downgrade(with_rules: bool) -> TableRebuild {
    let rb = TableRebuild::new("v3_plans").create_sql(V2_PLANS);
    if with_rules {
        rb.remap("phase", "action", "strategize")
    } else {
        rb
    }
}

/// Every schema statement and every row of every table (rowid first), in order: to
/// compare a database before and after.
pub fn dump(conn: &Connection) -> Vec<String> {
    let all = |sql: &str| -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            Ok((0..n)
                .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                .collect::<Vec<_>>()
                .join("|"))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let mut out = all("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for t in tables {
        out.push(format!("-- {t}"));
        out.extend(all(&format!("SELECT rowid, * FROM \"{t}\" ORDER BY rowid")));
    }
    out
}

/// Asserts the downgrade happened and took nothing with it: every child row of the `plans`
/// plans is there, no trigger fired, and no plan is left in a phase v2 rejects.
pub fn assert_downgraded(conn: &Connection, plans: i64) {
    for child in CHILDREN {
        assert_eq!(count(conn, child), plans, "no cascade into {child}");
    }
    assert_eq!(count(conn, "plan_events"), 0, "no trigger fired");
    let action: i64 = conn
        .query_row(
            "SELECT count(*) FROM v3_plans WHERE phase = 'action'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(action, 0);
}

/// Row count of `table`.
pub fn count(conn: &Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
        r.get(0)
    })
    .unwrap_or(-1)
}

//! What both benches build on: the v3_plans story's fixture, its rebuild, and the same
//! rebuild written by hand.
#![allow(dead_code)]

use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::TableRebuild;
use std::path::Path;

pub const V3_SCHEMA: &str = include_str!("../../examples/v3_plans.sql");
pub const V2_PLANS: &str = include_str!("../../examples/v3_plans_v2.sql");
pub const CHILDREN: [(&str, &str); 3] = [
    ("plan_projects", "project"),
    ("plan_arguments", "argument"),
    ("plan_invariants", "invariant"),
];

/// The dependents of v3_plans that a hand-written rebuild must recreate (as in
/// `examples/v3_plans.sql`).
pub const INDEX_SQL: &str = "CREATE INDEX v3_plans_by_phase ON v3_plans (phase, processing_state)";
pub const TRIGGER_SQL: &str =
    "CREATE TRIGGER v3_plans_phase_changed AFTER UPDATE OF phase ON v3_plans
BEGIN
    INSERT INTO plan_events (plan_id, event) VALUES (new.id, 'phase:' || new.phase);
END";

/// Phase and state of plan `i` in the story fixture, as `phase(i)` and `state(i)` in
/// `tests/common/mod.rs`: every row violates v2 until the rules remap it.
pub const STORY_PHASE: &str = "CASE WHEN i % 4 = 0 THEN 'execute' ELSE 'action' END";
pub const STORY_STATE: &str =
    "CASE i % 3 WHEN 0 THEN 'queued' WHEN 1 THEN 'applied' ELSE 'constrained' END";

pub fn story_rebuild() -> TableRebuild {
    TableRebuild::new("v3_plans")
        .create_sql(V2_PLANS)
        .remap("phase", "action", "strategize")
        .remap("processing_state", "applied", "complete")
        .remap("processing_state", "constrained", "complete")
}

/// The hand-written copy of the plans into `v3_plans__new`, the three rules as CASEs.
pub const COPY_PLANS_SQL: &str =
    "INSERT INTO v3_plans__new (id, name, phase, processing_state, updated_at)
SELECT id, name,
       CASE WHEN phase IS 'action' THEN 'strategize' ELSE phase END,
       CASE WHEN processing_state IS 'applied' THEN 'complete'
            WHEN processing_state IS 'constrained' THEN 'complete'
            ELSE processing_state END,
       updated_at
FROM v3_plans;";

/// The generalized ALTER TABLE procedure, written by hand for this downgrade.
pub fn hand_written_sql() -> String {
    let create = V2_PLANS.replacen("CREATE TABLE v3_plans", "CREATE TABLE v3_plans__new", 1);
    assert_ne!(create, V2_PLANS, "the v2 statement names v3_plans");
    format!(
        "PRAGMA foreign_keys = OFF;
BEGIN;
{create};
{COPY_PLANS_SQL}
DROP TABLE v3_plans;
PRAGMA legacy_alter_table = ON;
ALTER TABLE v3_plans__new RENAME TO v3_plans;
PRAGMA legacy_alter_table = OFF;
{INDEX_SQL};
{TRIGGER_SQL};
COMMIT;
PRAGMA foreign_keys = ON;"
    )
}

/// Builds a fixture database with bulk SQL in one transaction.
pub fn build_template(path: &Path, n: i64, phase: &str, state: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(V3_SCHEMA).unwrap();
    conn.execute_batch("BEGIN").unwrap();
    conn.execute(
        &format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?1)
             INSERT INTO v3_plans (id, name, phase, processing_state, updated_at)
             SELECT i, 'plan ' || i, {phase}, {state},
                    strftime('%Y-%m-%d %H:%M:%S', 1700000000 + i * 60, 'unixepoch')
             FROM s"
        ),
        [n],
    )
    .unwrap();
    for (table, col) in CHILDREN {
        conn.execute(
            &format!(
                "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < ?1)
                 INSERT INTO {table} (plan_id, {col}) SELECT i / 3 + 1, 'v' || (i / 3 + 1) FROM s"
            ),
            [3 * n - 1],
        )
        .unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "delete", "a rollback-journal database");
}

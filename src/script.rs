//! The self-contained SQL script of [`RebuildPlan::to_sql`], rendered only when asked for:
//! the copy's steps with guards around them. Each guard is a TEMP trigger that rolls the
//! whole transaction back with a message naming the problem, fired by inserting its number
//! when the problem is found.

use crate::db::catalog;
use crate::error::{Error, Result};
use crate::introspect::Facts;
use crate::mapping::Mapping;
use crate::sql::{ident, literal, qualified, with_literals};
use crate::strategy::{
    copy_steps, AlterStatement, Choice, Payload, PlanContext, Purpose, RebuildPlan, StepKind,
};
use crate::validation::{probes, Staging};
use rusqlite::types::Value;
use std::fmt::Write as _;

/// Names the script's guard uses in the temp schema. (SQLite reserves the `sqlite_` prefix.)
const GUARD: &str = "sqlite-rebuild guard";
const STAGE: &str = "sqlite-rebuild stage";

impl RebuildPlan {
    /// A self-contained SQL script that performs the same rebuild when run with rusqlite's
    /// `execute_batch` or as a migration file of any framework (refinery, diesel, sqlx ...).
    ///
    /// The script runs inside a `SAVEPOINT` of its own, so it is atomic whether or not the
    /// caller opened a transaction. Before anything is written it stages every row as the
    /// target would store it (remapping rules included, written as SQL) and checks each
    /// constraint of the target; if any row would violate one, or foreign key enforcement
    /// is on while the table has children, a guard rolls the whole transaction back with a
    /// message naming the problem, leaving the database unchanged. The same guards check the
    /// row count and the children's foreign keys before the script releases its savepoint.
    /// The comments at its top say what the caller must do around it. It always copies (a
    /// new `schema_version` cannot be computed in plain SQL), so it also runs where
    /// [`steps`](Self::steps) would switch the definition in place.
    ///
    /// ```
    /// use sqlite_rebuild::{rusqlite::Connection, TableRebuild};
    ///
    /// let conn = Connection::open_in_memory()?;
    /// conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, state TEXT);
    ///                     INSERT INTO t VALUES (1, 'todo'), (2, 'wip');")?;
    /// let target = "CREATE TABLE t (id INTEGER PRIMARY KEY,
    ///                               state TEXT CHECK (state IN ('todo', 'done')))";
    ///
    /// // Without a rule, the script refuses and changes nothing.
    /// let script = TableRebuild::new("t").create_sql(target).plan(&conn)?.to_sql()?;
    /// let err = conn.execute_batch(&script).unwrap_err();
    /// assert!(err.to_string().contains("CHECK"));
    /// assert!(conn.is_autocommit());
    ///
    /// // With one, it rebuilds.
    /// let script = TableRebuild::new("t")
    ///     .create_sql(target)
    ///     .remap("state", "wip", "todo")
    ///     .plan(&conn)?
    ///     .to_sql()?;
    /// conn.execute_batch(&script)?;
    /// let sql: String = conn.query_row("SELECT sql FROM sqlite_schema WHERE name = 't'", [], |r| r.get(0))?;
    /// assert!(sql.contains("CHECK"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NotRenderable`] when the rebuild needs Rust while it runs: a
    /// [`remap_with`](crate::TableRebuild::remap_with) closure rule, or a quarantine policy.
    pub fn to_sql(&self) -> Result<String> {
        let context = self.context();
        match &context.not_renderable {
            Some(reason) => Err(Error::NotRenderable {
                table: self.table().to_owned(),
                reason: reason.clone(),
            }),
            None => Ok(render(context)),
        }
    }
}

/// The guards: each a trigger, and the statements that fire it.
#[derive(Default)]
struct Guards {
    triggers: Vec<String>,
}

impl Guards {
    /// The script's opening: its savepoint, the guard table and triggers, and the guards
    /// that run before anything else (`before`).
    fn open(&self, s: &mut String, before: &[String]) {
        let _ = writeln!(s, "\nSAVEPOINT sqlite_rebuild;");
        let _ = writeln!(
            s,
            "CREATE TEMP TABLE {} (problem INTEGER, n INTEGER);",
            ident(GUARD)
        );
        for trigger in &self.triggers {
            let _ = writeln!(s, "{trigger}");
        }
        for line in before {
            let _ = writeln!(s, "{line}");
        }
    }

    /// The script's end: the guard table goes, the savepoint is released.
    fn close(s: &mut String) {
        let _ = writeln!(s, "\nDROP TABLE {};", qualified("temp", GUARD));
        let _ = writeln!(s, "RELEASE sqlite_rebuild;");
    }

    /// The first guard: the table, its dependents, children and views are what they were
    /// when the script was rendered.
    fn drift(&mut self, facts: &Facts) -> Option<String> {
        let fingerprint = facts.fingerprint.as_ref()?;
        let source = &facts.source;
        Some(self.guard(
            format!(
                "the definition of {}, its indexes, triggers, children or views changed since this script was rendered; render it again against the database as it is now",
                ident(&source.name)
            ),
            format!(
                "({}) IS NOT {}",
                catalog::fingerprint_sql(&source.schema, &source.name),
                literal(&Value::Text(fingerprint.clone()))
            ),
        ))
    }

    /// A guard with `message` that fires when `condition` holds: returns the statement
    /// that checks it.
    fn guard(&mut self, message: String, condition: String) -> String {
        let k = self.triggers.len() + 1;
        let message = format!("sqlite-rebuild: {message}; nothing was changed");
        self.triggers.push(format!(
            "CREATE TEMP TRIGGER {} BEFORE INSERT ON {} WHEN NEW.problem = {k} BEGIN SELECT RAISE(ROLLBACK, {}); END;",
            ident(&format!("{GUARD} {k}")),
            ident(GUARD),
            literal(&Value::Text(message))
        ));
        format!(
            "INSERT INTO {} (problem) SELECT {k} WHERE {condition};",
            qualified("temp", GUARD)
        )
    }
}

fn render(context: &PlanContext) -> String {
    if let Choice::Alter { statements, .. } = &context.choice {
        return render_alter(context, statements);
    }
    let (facts, mapping) = (&context.facts, &context.mapping);
    let source = &facts.source;
    let table = &source.name;
    let t = ident(table);
    let guard_table = qualified("temp", GUARD);
    let children = facts.child_tables();
    let mut guards = Guards::default();

    let mut before = Vec::new();
    before.extend(guards.drift(facts));
    if !children.is_empty() {
        before.push(guards.guard(
            format!(
                "foreign key enforcement is ON, and dropping {t} would cascade to its children; run PRAGMA foreign_keys = OFF before the transaction begins"
            ),
            "(SELECT foreign_keys FROM pragma_foreign_keys) = 1".to_owned(),
        ));
    }
    let staging = Staging::new(facts, mapping, STAGE);
    let alias = ident(&facts.target.def.name);
    let validation: Vec<String> = probes(facts, &staging.table, &staging.seq, &alias)
        .into_iter()
        .map(|probe| {
            guards.guard(
                format!(
                    "rows of {t} would violate the target's {}; remap them or change the target (TableRebuild::validate lists them)",
                    probe.label()
                ),
                format!(
                    "EXISTS (SELECT 1 FROM {} AS {alias} WHERE {})",
                    staging.table, probe.predicate
                ),
            )
        })
        .collect();
    let scratch = qualified(&source.schema, &facts.scratch);
    let count_check = guards.guard(
        format!("the copy of {t} does not hold every row"),
        format!(
            "(SELECT count(*) FROM {scratch}) <> (SELECT count(*) FROM {})",
            source.qualified()
        ),
    );
    let mut baselines = Vec::new();
    let mut child_checks = Vec::new();
    if mapping.parent_keys_change(facts) {
        for (i, child) in children.iter().enumerate() {
            let violations = format!(
                "(SELECT count(*) FROM pragma_foreign_key_check({}, {}) WHERE parent = {} COLLATE NOCASE)",
                literal(&Value::Text((*child).to_owned())),
                literal(&Value::Text(source.schema.clone())),
                literal(&Value::Text(table.clone()))
            );
            let id = -(i as i64) - 1;
            baselines.push(format!(
                "INSERT INTO {guard_table} (problem, n) SELECT {id}, {violations};"
            ));
            child_checks.push(guards.guard(
                format!(
                    "rows of child {} would no longer find their parent row in {t}",
                    ident(child)
                ),
                format!("{violations} > (SELECT n FROM {guard_table} WHERE problem = {id})"),
            ));
        }
    }

    let mut s = String::new();
    header(&mut s, facts, &children);
    guards.open(&mut s, &before);
    let _ = writeln!(
        s,
        "\n-- Stage every row as the target would store it, and check each constraint."
    );
    let _ = writeln!(s, "{};", staging.create);
    for insert in &staging.inserts {
        let _ = writeln!(s, "{};", with_literals(insert, &mapping.params));
    }
    if let Some(sql) = &staging.assign_rowids {
        let _ = writeln!(s, "{sql};");
    }
    for line in &validation {
        let _ = writeln!(s, "{line}");
    }
    let _ = writeln!(s, "DROP TABLE {};", staging.table);
    for line in &baselines {
        let _ = writeln!(s, "{line}");
    }
    steps(&mut s, facts, mapping, &count_check);
    if !child_checks.is_empty() {
        let _ = writeln!(s, "\n-- Children must still find their parent rows.");
        for line in &child_checks {
            let _ = writeln!(s, "{line}");
        }
    }
    if facts.temp_shadow {
        // SQLite's rename check would resolve main's triggers against the TEMP table.
        let _ = writeln!(
            s,
            "\n-- A TEMP table {t} hid this table when the script was rendered: the rename probe is left"
        );
        let _ = writeln!(
            s,
            "-- out (plan() compiled every view and trigger against the rebuilt schema)."
        );
    } else {
        let _ = writeln!(
            s,
            "\n-- Every view and trigger must still compile: SQLite re-parses the schema on a rename,"
        );
        let _ = writeln!(
            s,
            "-- which is undone at once. A failure here names the broken view or trigger."
        );
        let _ = writeln!(s, "SAVEPOINT sqlite_rebuild_probe;");
        let _ = writeln!(
            s,
            "ALTER TABLE {} RENAME TO {};",
            source.qualified(),
            ident(&facts.probe_name)
        );
        let _ = writeln!(s, "ROLLBACK TO sqlite_rebuild_probe;");
        let _ = writeln!(s, "RELEASE sqlite_rebuild_probe;");
    }
    Guards::close(&mut s);
    s
}

/// The oldest SQLite that runs `sql`: the ALTER TABLE forms came in 3.25 (RENAME COLUMN),
/// 3.35 (DROP COLUMN) and 3.53 (ADD / DROP CONSTRAINT, ALTER COLUMN).
fn needs(sql: &str) -> (u32, &'static str) {
    let upper = sql.to_ascii_uppercase();
    if upper.contains(" ADD CONSTRAINT ")
        || upper.contains(" DROP CONSTRAINT ")
        || upper.contains(" ALTER COLUMN ")
    {
        (3_053_000, "3.53")
    } else if upper.contains(" DROP COLUMN ") {
        (3_035_000, "3.35")
    } else if upper.contains(" RENAME COLUMN ") {
        (3_025_000, "3.25")
    } else {
        (0, "")
    }
}

/// The script of a change SQLite's own ALTER TABLE does: the drift guard, the dependents to
/// drop, and the statements, each one that checks rows guarded first so that a failure is
/// refused by name and rolled back whole. No row is copied; foreign key enforcement may be on.
fn render_alter(context: &PlanContext, statements: &[AlterStatement]) -> String {
    let facts = &context.facts;
    let source = &facts.source;
    let t = ident(&source.name);
    let mut guards = Guards::default();
    let mut before = Vec::new();
    before.extend(guards.drift(facts));
    let checked: Vec<Option<String>> = statements
        .iter()
        .map(|st| {
            st.row_check.as_ref().map(|(label, condition)| {
                guards.guard(
                    format!(
                        "rows of {t} would violate the target's {label}; remap them or change the target (TableRebuild::validate lists them)"
                    ),
                    condition.clone(),
                )
            })
        })
        .collect();
    let (_, version) = statements
        .iter()
        .map(|st| needs(&st.sql))
        .max_by_key(|(v, _)| *v)
        .unwrap_or((0, ""));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "-- sqlite-rebuild script: change {} with SQLite's own ALTER TABLE",
        source.qualified()
    );
    let _ = writeln!(s, "--");
    let _ = writeln!(
        s,
        "-- No row is copied and no table dropped: it runs with foreign key enforcement on or off,"
    );
    let _ = writeln!(
        s,
        "-- inside a framework's transaction or not (SAVEPOINT sqlite_rebuild is one of its own"
    );
    let _ = writeln!(s, "-- when none is open).");
    if !version.is_empty() {
        let _ = writeln!(
            s,
            "-- It needs SQLite {version} or later for its ALTER TABLE forms."
        );
    }
    let _ = writeln!(
        s,
        "-- A guard that finds a problem rolls the whole transaction back (RAISE(ROLLBACK)) with a"
    );
    let _ = writeln!(
        s,
        "-- message naming it: the database is left unchanged. It was rendered against the schema"
    );
    let _ = writeln!(
        s,
        "-- it changes: its first guard refuses to run when that schema has changed since."
    );
    guards.open(&mut s, &before);
    for d in facts.dropped.iter().filter_map(|d| d.drop_sql.as_ref()) {
        let _ = writeln!(s, "\n-- {}", StepKind::DropDependent.describe());
        let _ = writeln!(s, "{d};");
    }
    for (st, guard) in statements.iter().zip(&checked) {
        let _ = writeln!(s, "\n-- {}", StepKind::AlterTable.describe());
        if let Some(guard) = guard {
            let _ = writeln!(s, "{guard}");
        }
        let _ = writeln!(s, "{};", st.sql);
    }
    Guards::close(&mut s);
    s
}

/// The comments at the top: where the script can run and what the caller must do.
fn header(s: &mut String, facts: &Facts, children: &[&str]) {
    let t = ident(&facts.source.name);
    let names: Vec<String> = children.iter().map(|c| ident(c)).collect();
    let _ = writeln!(
        s,
        "-- sqlite-rebuild script: rebuild {}",
        facts.source.qualified()
    );
    let _ = writeln!(s, "--");
    let _ = writeln!(
        s,
        "-- Run it as one unit: rusqlite's execute_batch, or as a migration file. It runs inside"
    );
    let _ = writeln!(
        s,
        "-- SAVEPOINT sqlite_rebuild (a transaction of its own when none is open)."
    );
    if !children.is_empty() {
        let _ = writeln!(
            s,
            "-- {t} has child tables ({}): run this with foreign key enforcement OFF,",
            names.join(", ")
        );
        let _ = writeln!(s, "-- i.e. PRAGMA foreign_keys = OFF before the transaction begins (inside one the pragma");
        let _ = writeln!(
            s,
            "-- does nothing), and switch it back on afterwards. A guard refuses to run otherwise."
        );
    }
    for line in [
        "-- Every row is validated against the target before anything is written. When a guard",
        "-- finds a problem it rolls the whole transaction back (RAISE(ROLLBACK)) with a message",
        "-- naming it: the database is left unchanged (inside a framework's transaction, that",
        "-- transaction is rolled back). If any other statement fails, roll the transaction back.",
        "-- It was rendered against the schema it rebuilds: its first guard refuses to run when the",
        "-- table, its indexes, triggers, children or any view has changed since.",
    ] {
        let _ = writeln!(s, "{line}");
    }
}

/// The copy's steps as statements, the row count checked right after the copy.
fn steps(s: &mut String, facts: &Facts, mapping: &Mapping, count_check: &str) {
    let (steps, _) = copy_steps(facts, mapping, Purpose::Script);
    for (i, step) in steps.iter().enumerate() {
        let _ = writeln!(s, "\n-- {}. {}", i + 1, step.kind().describe());
        match (step.kind(), step.payload()) {
            (StepKind::FollowChildKeys, Payload::Follow { child }) => {
                // As execute() does: the rewrite is not an event of the application's, so
                // the child's triggers are dropped around it and recreated as they were.
                let triggers = facts
                    .descendant(child)
                    .map(|d| d.triggers.as_slice())
                    .unwrap_or_default();
                for t in triggers {
                    let owner = t.owner(&facts.source.schema);
                    let _ = writeln!(s, "DROP TRIGGER {};", qualified(owner, &t.name));
                }
                let _ = writeln!(s, "{};", step.sql_with_literals());
                for t in triggers {
                    let _ = writeln!(s, "{};", t.recreate_sql(&facts.source.schema, None));
                }
            }
            (StepKind::Rename, _) => {
                let _ = writeln!(s, "PRAGMA legacy_alter_table = ON;");
                let _ = writeln!(s, "{};", step.sql());
                let _ = writeln!(s, "PRAGMA legacy_alter_table = OFF;");
            }
            (StepKind::Copy, _) => {
                let _ = writeln!(s, "{};", step.sql_with_literals());
                let _ = writeln!(s, "{count_check}");
            }
            _ => {
                let _ = writeln!(s, "{};", step.sql_with_literals());
            }
        }
    }
}

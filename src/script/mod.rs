//! The self-contained SQL script of [`RebuildPlan::to_sql`], rendered only when asked for:
//! the copy's steps with guards around them. Each guard is a TEMP trigger that rolls the
//! whole transaction back with a message naming the problem, fired by inserting its number
//! when the problem is found. [`ScriptOptions`] choose how the table's children are kept
//! whole (`family`) and whether the script opens a savepoint of its own.

mod family;

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

/// How a script keeps the rebuilt table's children (the tables whose foreign keys reference
/// it, and theirs) whole. Dropping a referenced table with foreign key enforcement on
/// deletes through `ON DELETE CASCADE` (or `SET NULL`); where the pragma cannot be switched
/// off (inside a framework's transaction, Cloudflare D1, dqlite), only the first two run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ChildTables {
    /// Copy every table that references the table, directly or through others, too: the
    /// old tables are dropped children first and the copies renamed into place. Runs with
    /// enforcement on or off, needs no pragma switch, no `BEGIN` and no `writable_schema`;
    /// costs a copy of every such table. The default.
    #[default]
    CopyClosure,
    /// Point the children's `REFERENCES` at the copy through `PRAGMA writable_schema` for
    /// the swap, and give them their own text back after it: nothing but the table is
    /// copied. Runs with enforcement on or off where writing the schema is allowed (plain
    /// SQLite, dqlite, sqld); not on Cloudflare D1 or a connection with
    /// `SQLITE_DBCONFIG_DEFENSIVE`.
    Repoint,
    /// Leave the children alone and refuse to run unless foreign key enforcement is off
    /// (`PRAGMA foreign_keys = OFF` before the transaction begins).
    EnforcementOff,
}

/// How [`RebuildPlan::to_sql_with`] renders the script.
///
/// ```
/// use sqlite_rebuild::{ChildTables, ScriptOptions};
///
/// // For Cloudflare D1: enforcement always on, no BEGIN or SAVEPOINT allowed.
/// let d1 = ScriptOptions::new().without_transaction();
/// // For dqlite: enforcement always on, writable_schema allowed.
/// let dqlite = ScriptOptions::new().children(ChildTables::Repoint);
/// # let _ = (d1, dqlite);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ScriptOptions {
    children: ChildTables,
    without_transaction: bool,
}

impl ScriptOptions {
    /// The default script: the children copied, inside a savepoint of its own.
    pub fn new() -> Self {
        Self::default()
    }

    /// How the children are kept whole.
    pub fn children(mut self, children: ChildTables) -> Self {
        self.children = children;
        self
    }

    /// No `SAVEPOINT` or `RELEASE`, and guards that fail their statement
    /// (`RAISE(ABORT)`) instead of rolling back: for engines that refuse transaction
    /// statements and run a migration file atomically themselves (Cloudflare D1). Run
    /// elsewhere, a failure leaves the statements before it applied.
    pub fn without_transaction(mut self) -> Self {
        self.without_transaction = true;
        self
    }

    /// How the children are kept whole.
    pub fn child_tables(&self) -> ChildTables {
        self.children
    }

    /// The script opens (and releases) a savepoint of its own.
    pub fn opens_savepoint(&self) -> bool {
        !self.without_transaction
    }
}

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
        self.to_sql_with(&ScriptOptions::default())
    }

    /// The script of [`to_sql`](Self::to_sql), rendered as `options` say: how the
    /// table's children are kept whole, and whether it opens a savepoint of its own.
    ///
    /// # Errors
    ///
    /// As [`to_sql`](Self::to_sql), and [`Error::ReferenceCycle`] when the children are
    /// copied ([`ChildTables::CopyClosure`]) but their foreign keys form a cycle.
    pub fn to_sql_with(&self, options: &ScriptOptions) -> Result<String> {
        let context = self.context();
        match &context.not_renderable {
            Some(reason) => Err(Error::NotRenderable {
                table: self.table().to_owned(),
                reason: reason.clone(),
            }),
            None => render(context, options),
        }
    }

    /// The statements of [`to_sql_with`](Self::to_sql_with)'s script, one by one (without
    /// their `;` and the comments), for APIs that take one statement per call: Cloudflare
    /// D1's `batch()` (which runs them atomically, and whose `exec()` splits at newlines),
    /// libSQL's batches. Run them in order, all or none.
    ///
    /// ```
    /// use sqlite_rebuild::{rusqlite::Connection, ScriptOptions, TableRebuild};
    ///
    /// let conn = Connection::open_in_memory()?;
    /// conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);")?;
    /// let plan = TableRebuild::new("t")
    ///     .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    ///     .plan(&conn)?;
    /// let statements = plan.to_sql_statements(&ScriptOptions::new().without_transaction())?;
    /// conn.execute_batch("BEGIN")?; // what D1's batch() does around them
    /// for statement in &statements {
    ///     conn.execute_batch(statement)?;
    /// }
    /// conn.execute_batch("COMMIT")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`to_sql_with`](Self::to_sql_with).
    pub fn to_sql_statements(&self, options: &ScriptOptions) -> Result<Vec<String>> {
        let script = self.to_sql_with(options)?;
        crate::sql::split_statements(&script).ok_or_else(|| Error::NotRenderable {
            table: self.table().to_owned(),
            reason: "the script could not be split into statements".to_owned(),
        })
    }
}

/// The guards: each a trigger, and the statements that fire it.
struct Guards {
    triggers: Vec<String>,
    /// The script opens a savepoint of its own, which a guard rolls back.
    atomic: bool,
    /// Where the guard and the staging table live: `temp`, or for a script without
    /// transaction statements (Cloudflare D1, which also refuses TEMP objects) the table's
    /// own schema, left clean when the script ends and rolled back with it when it fails.
    schema: String,
}

impl Guards {
    fn new(options: &ScriptOptions, facts: &Facts) -> Self {
        let atomic = !options.without_transaction;
        Guards {
            triggers: Vec::new(),
            atomic,
            schema: if atomic {
                "temp".to_owned()
            } else {
                facts.source.schema.clone()
            },
        }
    }

    /// The guard table, qualified.
    fn table(&self) -> String {
        qualified(&self.schema, GUARD)
    }

    /// The script's opening: its savepoint, the guard table and triggers, and the guards
    /// that run before anything else (`before`).
    fn open(&self, s: &mut String, before: &[String]) {
        if self.atomic {
            let _ = writeln!(s, "\nSAVEPOINT sqlite_rebuild;");
        } else {
            let _ = writeln!(s);
        }
        let _ = writeln!(
            s,
            "CREATE TABLE {} (problem INTEGER, n INTEGER);",
            self.table()
        );
        for trigger in &self.triggers {
            let _ = writeln!(s, "{trigger}");
        }
        for line in before {
            let _ = writeln!(s, "{line}");
        }
    }

    /// The script's end: the guard table goes, the savepoint is released.
    fn close(&self, s: &mut String) {
        let _ = writeln!(s, "\nDROP TABLE {};", self.table());
        if self.atomic {
            let _ = writeln!(s, "RELEASE sqlite_rebuild;");
        }
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
        let k = self.register(message);
        format!(
            "INSERT INTO {} (problem) SELECT {k} WHERE {condition};",
            self.table()
        )
    }

    /// The trigger of a guard with `message`: returns its number, which inserting into the
    /// guard table fires.
    fn register(&mut self, message: String) -> usize {
        let k = self.triggers.len() + 1;
        let message = format!("sqlite-rebuild: {message}; nothing was changed");
        self.triggers.push(format!(
            "CREATE TRIGGER {} BEFORE INSERT ON {} WHEN NEW.problem = {k} BEGIN SELECT RAISE({}, {}); END;",
            qualified(&self.schema, &format!("{GUARD} {k}")),
            ident(GUARD),
            if self.atomic { "ROLLBACK" } else { "ABORT" },
            literal(&Value::Text(message))
        ));
        k
    }

    /// One statement for guards over the rows of `table` (as `alias`): a single scan
    /// finds the first row that fails any `(number, predicate)`, and fires that guard.
    fn over_rows(&self, table: &str, alias: &str, checks: &[(usize, String)]) -> Option<String> {
        if checks.is_empty() {
            return None;
        }
        let cases: Vec<String> = checks
            .iter()
            .map(|(k, predicate)| format!("WHEN {predicate} THEN {k}"))
            .collect();
        Some(format!(
            "INSERT INTO {} (problem) SELECT k FROM (SELECT CASE {} END AS k FROM {table} AS {alias}) WHERE k IS NOT NULL LIMIT 1;",
            self.table(),
            cases.join(" ")
        ))
    }
}

/// How the script keeps the children whole, decided for this table.
enum Family<'a> {
    /// Nothing references the table (not even itself): the plain copy.
    None,
    Closure(family::Closure<'a>),
    Repoint(family::Repoint<'a>),
    /// Enforcement must be off; a guard refuses otherwise.
    EnforcementOff,
}

fn render(context: &PlanContext, options: &ScriptOptions) -> Result<String> {
    if let Choice::Alter { statements, .. } = &context.choice {
        return Ok(render_alter(context, statements, options));
    }
    let (facts, mapping) = (&context.facts, &context.mapping);
    let source = &facts.source;
    let table = &source.name;
    let t = ident(table);
    let children = facts.child_tables();
    let referenced = !children.is_empty() || family::self_referencing(facts);
    let family = match (referenced, options.children) {
        (false, _) => Family::None,
        (true, ChildTables::CopyClosure) => Family::Closure(family::Closure::new(facts)?),
        (true, ChildTables::Repoint) => Family::Repoint(family::Repoint::new(facts)),
        (true, ChildTables::EnforcementOff) => Family::EnforcementOff,
    };
    let mut guards = Guards::new(options, facts);
    let guard_table = guards.table();

    let mut before = Vec::new();
    before.extend(guards.drift(facts));
    if let Family::EnforcementOff = family {
        before.push(guards.guard(
            format!(
                "foreign key enforcement is ON, and dropping {t} would cascade to its children or its copy; run PRAGMA foreign_keys = OFF before the transaction begins"
            ),
            "(SELECT foreign_keys FROM pragma_foreign_keys) = 1".to_owned(),
        ));
    }
    let staging = Staging::new_in(facts, mapping, &guards.schema, STAGE);
    let alias = ident(&facts.target.def.name);
    let probes: Vec<_> = probes(facts, &staging.table, &staging.seq, &alias)
        .into_iter()
        // An INTEGER PRIMARY KEY that is the old rowid cannot be duplicate or not an integer.
        .filter(|probe| !(staging.ipk_is_old_rowid && probe.is_rowid_key(facts)))
        .collect();
    // Only the columns the guards read are staged (the table and key names stay the same).
    let staging = Staging::with_columns(facts, mapping, &guards.schema, STAGE, |column| {
        probes
            .iter()
            .any(|p| crate::sql::mentions_identifier(&p.predicate, column))
    });
    let staged = !probes.is_empty();
    let checks: Vec<(usize, String)> = probes
        .into_iter()
        .map(|probe| {
            let k = guards.register(format!(
                "rows of {t} would violate the target's {}; remap them or change the target (TableRebuild::validate lists them)",
                probe.label()
            ));
            (k, format!("({})", probe.predicate))
        })
        .collect();
    let validation = guards.over_rows(&staging.table, &alias, &checks);
    let scratch = qualified(&source.schema, &facts.scratch);
    let count_check = guards.guard(
        format!("the copy of {t} does not hold every row"),
        format!(
            "(SELECT count(*) FROM {scratch}) <> (SELECT count(*) FROM {})",
            source.qualified()
        ),
    );
    // A table's count of rows with no parent, taken before the change (`before`, kept in
    // the guard table under a negative number) and compared after (`after`): its guard
    // fires when there are more.
    let mut baselines = Vec::new();
    let mut key_check = |child: &str, before: String, after: String, message: String| {
        let id = -(baselines.len() as i64) - 1;
        baselines.push(format!(
            "INSERT INTO {guard_table} (problem, n) SELECT {id}, {before};"
        ));
        guards.guard(
            format!(
                "rows of child {} would no longer find their parent {message}",
                ident(child)
            ),
            format!("{after} > (SELECT n FROM {guard_table} WHERE problem = {id})"),
        )
    };
    let mut child_checks = Vec::new();
    let mut closure_checks = Vec::new();
    match &family {
        // The copies are checked before anything is dropped, when a remap or an
        // expression changes keys (else each copy's keys find what the old table's did).
        Family::Closure(closure)
            if mapping.parent_keys_change(facts) || !mapping.follow.is_empty() =>
        {
            for (child, old, copy) in closure.key_checks() {
                closure_checks.push(key_check(&child, old, copy, "rows".to_owned()));
            }
        }
        _ if mapping.parent_keys_change(facts) => {
            for child in &children {
                let violations = format!(
                    "(SELECT count(*) FROM pragma_foreign_key_check({}, {}) WHERE parent = {} COLLATE NOCASE)",
                    literal(&Value::Text((*child).to_owned())),
                    literal(&Value::Text(source.schema.clone())),
                    literal(&Value::Text(table.clone()))
                );
                child_checks.push(key_check(
                    child,
                    violations.clone(),
                    violations,
                    format!("row in {t}"),
                ));
            }
        }
        _ => {}
    }

    let mut s = String::new();
    header(&mut s, facts, &children, &family, &guards);
    guards.open(&mut s, &before);
    if referenced && !matches!(family, Family::EnforcementOff) {
        let _ = writeln!(
            s,
            "-- Enforcement may be on: the keys are checked by the guards below, and at COMMIT."
        );
        let _ = writeln!(s, "PRAGMA defer_foreign_keys = ON;");
    }
    // No constraint to check, no row to stage.
    if staged {
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
        if let Some(line) = &validation {
            let _ = writeln!(s, "{line}");
        }
        let _ = writeln!(s, "DROP TABLE {};", staging.table);
    }
    for line in &baselines {
        let _ = writeln!(s, "{line}");
    }
    steps(
        &mut s,
        facts,
        mapping,
        &count_check,
        &family,
        &closure_checks,
    )?;
    if !child_checks.is_empty() {
        let _ = writeln!(s, "\n-- Children must still find their parent rows.");
        for line in &child_checks {
            let _ = writeln!(s, "{line}");
        }
    }
    if let Family::Closure(_) = family {
        let _ = writeln!(
            s,
            "\n-- The renames above re-parsed every view and trigger of the schema."
        );
    } else if facts.temp_shadow {
        // SQLite's rename check would resolve main's triggers against the TEMP table.
        let _ = writeln!(
            s,
            "\n-- A TEMP table {t} hid this table when the script was rendered: the rename probe is left"
        );
        let _ = writeln!(
            s,
            "-- out (plan() compiled every view and trigger against the rebuilt schema)."
        );
    } else if !guards.atomic {
        let _ = writeln!(
            s,
            "\n-- No savepoint for the rename probe here: plan() compiled every view and trigger."
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
    if referenced && !matches!(family, Family::EnforcementOff) {
        let _ = writeln!(s, "PRAGMA defer_foreign_keys = OFF;");
    }
    guards.close(&mut s);
    Ok(s)
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
fn render_alter(
    context: &PlanContext,
    statements: &[AlterStatement],
    options: &ScriptOptions,
) -> String {
    let facts = &context.facts;
    let source = &facts.source;
    let t = ident(&source.name);
    let mut guards = Guards::new(options, facts);
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
    if guards.atomic {
        let _ = writeln!(
            s,
            "-- inside a framework's transaction or not (SAVEPOINT sqlite_rebuild is one of its own"
        );
        let _ = writeln!(s, "-- when none is open).");
    } else {
        let _ = writeln!(
            s,
            "-- and holds no transaction statement: run it where the engine applies a file atomically"
        );
        let _ = writeln!(s, "-- (Cloudflare D1's migrations, a batch).");
    }
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
        "-- it changes: its first guard refuses to run when that schema has changed since. Run it"
    );
    let _ = writeln!(
        s,
        "-- where the first error stops it (the sqlite3 shell needs -bail)."
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
    guards.close(&mut s);
    s
}

/// The comments at the top: where the script can run and what the caller must do.
fn header(s: &mut String, facts: &Facts, children: &[&str], family: &Family, guards: &Guards) {
    let t = ident(&facts.source.name);
    let names: Vec<String> = children.iter().map(|c| ident(c)).collect();
    let _ = writeln!(
        s,
        "-- sqlite-rebuild script: rebuild {}",
        facts.source.qualified()
    );
    let _ = writeln!(s, "--");
    if guards.atomic {
        let _ = writeln!(
            s,
            "-- Run it as one unit: rusqlite's execute_batch, or as a migration file. It runs inside"
        );
        let _ = writeln!(
            s,
            "-- SAVEPOINT sqlite_rebuild (a transaction of its own when none is open)."
        );
    } else {
        for line in [
            "-- It holds no transaction statement (no BEGIN, SAVEPOINT or RELEASE): run it only where the",
            "-- engine applies a whole file or batch atomically (Cloudflare D1's migrations and batches).",
            "-- A guard that finds a problem fails its statement (RAISE(ABORT)); the engine's rollback",
            "-- then leaves the database unchanged.",
        ] {
            let _ = writeln!(s, "{line}");
        }
    }
    let family_lines: Vec<String> = match family {
        Family::None => Vec::new(),
        Family::Closure(_) => vec![
            format!("-- Tables reference {t}: they are copied too (into scratch tables whose keys reference the"),
            "-- copies), the old tables dropped children first and the copies renamed into place. It".to_owned(),
            "-- runs with foreign key enforcement on or off, inside a framework's transaction or not,".to_owned(),
            "-- and needs no PRAGMA foreign_keys switch and no writable_schema.".to_owned(),
        ],
        Family::Repoint(_) => vec![
            format!("-- Tables reference {t}: for the swap their REFERENCES point at the copy, through"),
            "-- PRAGMA writable_schema, and get their own text back after it. It runs with foreign key".to_owned(),
            "-- enforcement on or off (plain SQLite, dqlite, sqld), not where writing the schema is".to_owned(),
            "-- refused (Cloudflare D1, SQLITE_DBCONFIG_DEFENSIVE).".to_owned(),
        ],
        Family::EnforcementOff => vec![
            format!("-- {t} is referenced (by {}): run this with foreign key enforcement OFF,", if names.is_empty() { "itself".to_owned() } else { names.join(", ") }),
            "-- i.e. PRAGMA foreign_keys = OFF before the transaction begins (inside one the pragma".to_owned(),
            "-- does nothing), and switch it back on afterwards. A guard refuses to run otherwise.".to_owned(),
        ],
    };
    for line in family_lines {
        let _ = writeln!(s, "{line}");
    }
    for line in [
        "-- Every row is validated against the target before anything is written. When a guard",
        "-- finds a problem it rolls the whole transaction back (RAISE(ROLLBACK)) with a message",
        "-- naming it: the database is left unchanged (inside a framework's transaction, that",
        "-- transaction is rolled back). If any other statement fails, roll the transaction back.",
        "-- Run it where the first error stops it (rusqlite, the frameworks; the sqlite3 shell needs",
        "-- -bail): after a refusal, the statements that follow must not run.",
        "-- It was rendered against the schema it rebuilds: its first guard refuses to run when the",
        "-- table, its indexes, triggers, children or any view has changed since.",
    ] {
        if !guards.atomic && line.contains("RAISE(ROLLBACK)") {
            let _ = writeln!(s, "-- finds a problem it fails (RAISE(ABORT)) with a message naming it.");
            continue;
        }
        if !guards.atomic && (line.contains("naming it: the database") || line.contains("transaction is rolled back")) {
            continue;
        }
        let _ = writeln!(s, "{line}");
    }
}

/// The copy's steps as statements, the row count checked right after the copy, and the
/// family's own statements where they belong.
fn steps(
    s: &mut String,
    facts: &Facts,
    mapping: &Mapping,
    count_check: &str,
    family: &Family,
    closure_checks: &[String],
) -> Result<()> {
    let (steps, _) = copy_steps(facts, mapping, Purpose::Script);
    let lines = |s: &mut String, statements: Vec<String>| {
        for st in statements {
            let _ = writeln!(s, "{st};");
        }
    };
    for (i, step) in steps.iter().enumerate() {
        let _ = writeln!(s, "\n-- {}. {}", i + 1, step.kind().describe());
        match (step.kind(), step.payload(), family) {
            (StepKind::CreateTarget, _, Family::Closure(closure)) => {
                let _ = writeln!(s, "{};", closure.root_create()?);
            }
            (StepKind::CreateTarget, _, Family::Repoint(_)) => {
                let _ = writeln!(s, "{};", family::root_create(facts, &[])?);
            }
            (StepKind::Copy, _, _) => {
                let _ = writeln!(s, "{};", step.sql_with_literals());
                let _ = writeln!(s, "{count_check}");
                if let Family::Closure(closure) = family {
                    for (create, _) in closure.root_key_indexes() {
                        let _ = writeln!(s, "{create};");
                    }
                    let _ = writeln!(
                        s,
                        "\n-- Copy the tables that reference it, children after parents, keys following the remaps."
                    );
                    lines(s, closure.copies(mapping)?);
                    for line in closure_checks {
                        let _ = writeln!(s, "{line}");
                    }
                }
            }
            (StepKind::DropOld, _, Family::Closure(closure)) => {
                let _ = writeln!(
                    s,
                    "-- First the views and triggers that name the family (recreated below), and the old"
                );
                let _ = writeln!(
                    s,
                    "-- tables that reference it, children first: nothing references a dropped table."
                );
                lines(s, closure.drops());
                let _ = writeln!(s, "{};", step.sql());
            }
            (StepKind::DropOld, _, Family::Repoint(repoint)) => {
                let _ = writeln!(
                    s,
                    "-- First the children's REFERENCES point at the copy, so the drop cascades nowhere."
                );
                lines(s, repoint.before_drop()?);
                let _ = writeln!(s, "{};", step.sql());
            }
            (StepKind::FollowChildKeys, _, Family::Closure(_)) => {
                let _ = writeln!(s, "-- (done in the copies above)");
            }
            (StepKind::FollowChildKeys, Payload::Follow { child }, _) => {
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
            (StepKind::Rename, _, Family::Closure(closure)) => {
                let _ = writeln!(
                    s,
                    "-- SQLite's own renames: each carries the references to it along, and re-parses the schema."
                );
                lines(s, closure.swaps());
            }
            (StepKind::Rename, _, _) => {
                if let Family::Repoint(repoint) = family {
                    lines(s, repoint.before_rename());
                }
                let _ = writeln!(s, "PRAGMA legacy_alter_table = ON;");
                let _ = writeln!(s, "{};", step.sql());
                let _ = writeln!(s, "PRAGMA legacy_alter_table = OFF;");
                if let Family::Repoint(repoint) = family {
                    let _ = writeln!(s, "-- The children's own text back.");
                    lines(s, repoint.after_rename());
                }
            }
            _ => {
                let _ = writeln!(s, "{};", step.sql_with_literals());
            }
        }
    }
    if let Family::Closure(closure) = family {
        let _ = writeln!(
            s,
            "\n-- The family's indexes, triggers, counters and statistics, and the views and triggers dropped above."
        );
        lines(s, closure.recreate());
    }
    Ok(())
}

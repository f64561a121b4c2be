//! Planning: turns a [`TableRebuild`](crate::TableRebuild) and the live schema into the ordered
//! SQL steps of the rebuild ([`RebuildPlan`]), renderable as a readable script. Planning
//! writes nothing that outlives it: the target table is probed under a scratch name inside a
//! savepoint that is always rolled back.

use crate::builder::{OnViolation, Remap, Rule, TableRebuild};
use crate::error::{Error, Result};
use crate::execute::Savepoint;
use crate::quote::{ident, literal, qualified};
use crate::schema::{self, Dependent, ForeignKey, Index, Table};
use crate::sql;
use rusqlite::types::{Value, ValueRef};
use rusqlite::Connection;
use std::fmt;

/// What a [`PlanStep`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StepKind {
    /// Drop an index, trigger or view the caller allowed to go
    /// ([`TableRebuild::drop_dependent`](crate::TableRebuild::drop_dependent)).
    DropDependent,
    /// Create the target table under a scratch name.
    CreateTarget,
    /// Copy every row into it, applying column expressions and remapping rules.
    Copy,
    /// Rename a column of the old table that the target renames, as `ALTER TABLE ... RENAME
    /// COLUMN` does: children's foreign keys, views and triggers follow the new name.
    RenameColumn,
    /// Drop the old table (the first destructive step; validation has passed by then).
    DropOld,
    /// Rename the target table to the table's name.
    Rename,
    /// Recreate an index that the old table had.
    CreateIndex,
    /// Recreate a trigger that the old table had.
    CreateTrigger,
    /// Put the AUTOINCREMENT counter back where it was.
    RestoreSequence,
    /// Set aside the planner statistics (`sqlite_stat1`, `sqlite_stat4`) of the indexes that
    /// come back unchanged, which `DROP TABLE` would delete.
    KeepStatistics,
    /// Give the set-aside statistics back to the rebuilt table.
    RestoreStatistics,
    /// Copy the rows of a quarantine table back, through the same rules
    /// ([`TableRebuild::restore_from`](crate::TableRebuild::restore_from)).
    RestoreRows,
    /// Put a child table's quarantined rows back.
    RestoreChildRows,
    /// Drop a quarantine table whose rows are back.
    DropQuarantine,
    /// Rewrite a child table's foreign key values the way the rules rewrite the referenced
    /// key, so no child row is left dangling.
    FollowChildKeys,
    /// Constraint-only change, done in place: replace the table's stored `CREATE TABLE`
    /// statement (SQLite's documented procedure for changes that keep the stored format:
    /// `PRAGMA writable_schema`, then a new `schema_version`).
    SwitchDefinition,
    /// Constraint-only change: apply the remapping rules to the rows where they are, with
    /// the table's triggers suspended.
    RemapInPlace,
}

impl StepKind {
    fn describe(self) -> &'static str {
        match self {
            StepKind::DropDependent => "drop a dependent the caller allowed to go (drop_dependent)",
            StepKind::CreateTarget => "create the target table under a scratch name",
            StepKind::Copy => "copy every row; a constraint failure aborts with a full report",
            StepKind::RenameColumn => "rename a column of the old table, so children's foreign keys, views and triggers follow the new name",
            StepKind::DropOld => "drop the old table (validation has passed)",
            StepKind::Rename => "rename the target into place (legacy_alter_table keeps views and triggers untouched)",
            StepKind::CreateIndex => "recreate an index",
            StepKind::CreateTrigger => "recreate a trigger",
            StepKind::RestoreSequence => "restore the AUTOINCREMENT counter",
            StepKind::KeepStatistics => "set aside the ANALYZE statistics of indexes that come back unchanged",
            StepKind::RestoreStatistics => "give the ANALYZE statistics back",
            StepKind::RestoreRows => "copy the quarantined rows back; they are validated like the others",
            StepKind::RestoreChildRows => "put a child table's quarantined rows back",
            StepKind::DropQuarantine => "drop the emptied quarantine table",
            StepKind::FollowChildKeys => "rewrite a child's foreign key values as the rules rewrote the keys they reference",
            StepKind::SwitchDefinition => "switch the stored definition in place (only constraints change; no copy)",
            StepKind::RemapInPlace => "apply the remapping rules in place, triggers suspended",
        }
    }
}

/// One SQL statement of a [`RebuildPlan`].
#[derive(Debug, Clone, PartialEq)]
pub struct PlanStep {
    kind: StepKind,
    sql: String,
    params: Vec<Value>,
}

impl PlanStep {
    fn new(kind: StepKind, sql: String) -> Self {
        PlanStep {
            kind,
            sql,
            params: Vec::new(),
        }
    }

    /// The copy step counting rule hits (run in place of the plan's copy by `execute`).
    pub(crate) fn counting_copy(p: &Prepared) -> PlanStep {
        PlanStep {
            kind: StepKind::Copy,
            sql: p.counting_copy_sql(),
            params: p.params.clone(),
        }
    }

    /// What the step does.
    pub fn kind(&self) -> StepKind {
        self.kind
    }

    /// The statement, with `?N` placeholders where [`params`](Self::params) are bound.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Values bound to the statement's `?N` placeholders, in order.
    pub fn params(&self) -> &[Value] {
        &self.params
    }

    /// The statement with its parameters written out as SQL literals.
    pub fn sql_with_literals(&self) -> String {
        if self.params.is_empty() {
            return self.sql.clone();
        }
        let Ok(tokens) = sql::tokenize(&self.sql) else {
            return self.sql.clone();
        };
        let mut out = String::with_capacity(self.sql.len());
        let mut last = 0;
        for t in tokens.iter().filter(|t| t.kind == sql::TokenKind::Variable) {
            let text = &self.sql[t.start..t.end];
            let value = text
                .strip_prefix('?')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| self.params.get(n.wrapping_sub(1)));
            if let Some(v) = value {
                out.push_str(&self.sql[last..t.start]);
                out.push_str(&literal(v));
                last = t.end;
            }
        }
        out.push_str(&self.sql[last..]);
        out
    }
}

/// The ordered steps of a rebuild, as [`TableRebuild::plan`](crate::TableRebuild::plan)
/// computes them against a live database.
///
/// `Display` renders the plan as a commented SQL script that a person can read: which
/// statements run, in which order, and which checks guard them. Values of remapping rules
/// appear as literals; execution binds them as parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct RebuildPlan {
    schema: String,
    table: String,
    steps: Vec<PlanStep>,
    checks: Vec<String>,
    /// The self-contained script, or why there is none.
    script: std::result::Result<String, String>,
}

impl RebuildPlan {
    /// The table being rebuilt.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The schema holding it (`main` unless chosen with [`TableRebuild::schema`]).
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The steps in execution order.
    pub fn steps(&self) -> &[PlanStep] {
        &self.steps
    }

    /// The checks that run before commit, described in words.
    pub fn checks(&self) -> &[String] {
        &self.checks
    }

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
    /// The comments at its top say what the caller must do around it.
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
        self.script.clone().map_err(|reason| Error::NotRenderable {
            table: self.table.clone(),
            reason,
        })
    }
}

impl fmt::Display for RebuildPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "-- sqlite-rebuild plan: rebuild {}",
            qualified(&self.schema, &self.table)
        )?;
        writeln!(f, "-- Runs with foreign key enforcement off, inside one transaction (execute() does both).")?;
        writeln!(
            f,
            "-- Every row is validated against the target before the first destructive step."
        )?;
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(f, "\n-- {}. {}", i + 1, step.kind.describe())?;
            if step.kind == StepKind::Rename {
                writeln!(f, "PRAGMA legacy_alter_table = ON;")?;
                writeln!(f, "{};", step.sql)?;
                writeln!(f, "PRAGMA legacy_alter_table = OFF;")?;
            } else if step.kind == StepKind::SwitchDefinition {
                writeln!(f, "PRAGMA writable_schema = ON;")?;
                writeln!(f, "{};", step.sql_with_literals())?;
                writeln!(f, "PRAGMA writable_schema = OFF;")?;
                writeln!(f, "PRAGMA schema_version = <schema_version + 1>;")?;
            } else {
                writeln!(f, "{};", step.sql_with_literals())?;
            }
        }
        if !self.checks.is_empty() {
            writeln!(f, "\n-- before COMMIT:")?;
            for check in &self.checks {
                writeln!(f, "--   {check}")?;
            }
        }
        Ok(())
    }
}

/// ANALYZE statistics that stay valid across the rebuild.
#[derive(Debug)]
pub(crate) struct Statistics {
    /// `sqlite_stat1` and `sqlite_stat4`, where the schema has them.
    tables: Vec<String>,
    /// Indexes whose statistics stay valid; `None` is the table's own row.
    indexes: Vec<Option<String>>,
}

/// Everything the executor and the validator need, worked out once.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub source: Table,
    /// The target as SQLite describes it (under the scratch name).
    pub target: Table,
    pub target_def: sql::CreateTable,
    pub target_indexes: Vec<Index>,
    pub target_fks: Vec<ForeignKey>,
    pub scratch: String,
    /// Insert column list of the copy (quoted), and the matching SELECT expressions.
    pub insert_columns: Vec<String>,
    pub select_exprs: Vec<String>,
    /// The copy's SELECT expressions with the value rules counting their hits.
    pub counting_exprs: Vec<String>,
    /// For each hit number of `sqlite_rebuild_hit`: the indexes in `rules` that fire.
    pub hits: Vec<Vec<usize>>,
    /// Rows each rule changed in the current copy, by index in `rules`.
    pub hit_counts: std::sync::Arc<Vec<std::sync::atomic::AtomicU64>>,
    pub params: Vec<Value>,
    /// The copy's first column is the implicit rowid.
    pub copies_rowid: bool,
    /// For each remap rule: which column and its index among that column's rules.
    pub rules: Vec<RuleSlot>,
    pub chains: Vec<Chain>,
    pub dependents: Vec<Dependent>,
    /// Columns the target renames: (old name, new name).
    pub renames: Vec<(String, String)>,
    /// The ANALYZE statistics to carry over, when the schema has any.
    pub statistics: Option<Statistics>,
    /// Dependents dropped on request: their names and the statements that drop them.
    pub dropped: Vec<(String, Option<String>)>,
    /// Foreign keys of other tables that reference the rebuilt table.
    pub children: Vec<ForeignKey>,
    pub sequence: Option<i64>,
    /// The quarantine table being restored, with its children's.
    pub restore: Option<Restore>,
    /// Children whose foreign key values follow remapped parent keys.
    pub child_updates: Vec<ChildUpdate>,
    pub progress: Option<crate::progress::ProgressFn>,
    /// Only constraints change: the rebuild is done in place, without a copy.
    pub in_place: bool,
    /// Rows each rule changes, when already counted for the current rows.
    pub counted_rules: std::cell::RefCell<Option<Vec<u64>>>,
    /// A dry run (`validate`): rolled back, so non-unique indexes are compiled, not built.
    pub dry_run: bool,
    pub plan: RebuildPlan,
}

/// A child table's foreign key columns rewritten by the rules of the keys they reference.
#[derive(Debug)]
pub(crate) struct ChildUpdate {
    pub child: String,
    pub sql: String,
    pub params: Vec<Value>,
}

/// A quarantine table to put back ([`TableRebuild::restore_from`]).
#[derive(Debug)]
pub(crate) struct Restore {
    pub table: Table,
    /// Child quarantine tables, parents before their children.
    pub children: Vec<ChildRestore>,
}

#[derive(Debug)]
pub(crate) struct ChildRestore {
    /// The child table the rows go back into.
    pub child: String,
    pub quarantine: String,
    /// The child's columns, which the quarantine table holds too.
    pub columns: Vec<String>,
    /// Whether the quarantine table's rowids are the child's own.
    pub rowid: bool,
}

/// Where one remap rule sits in the copy, and how its changes are counted.
#[derive(Debug, Clone)]
pub(crate) struct RuleSlot {
    pub rule: Remap,
    /// Position among the builder's rules, so the report keeps the order given.
    pub position: usize,
    pub counted: Counted,
}

#[derive(Debug, Clone)]
pub(crate) enum Counted {
    /// A value rule in the copy's CASE expression, counted by a scan of the old table.
    Sql {
        /// The CASE expression over the old row that says which rule matched first
        /// (1-based, 0 when none) for this rule's column.
        first_match_expr: String,
        /// Rules of the same column (1-based positions) whose first match makes this one
        /// fire.
        fires_when_first: Vec<usize>,
    },
    /// A rule applied by a column's registered function, counted as it runs.
    Chain { chain: usize, step: usize },
}

/// The rules of one column from its first closure rule on: applied in Rust by a scalar
/// function registered for the rebuild's duration.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub function: String,
    pub column: String,
    pub rules: Vec<Rule>,
    /// Rows each rule changed in the current attempt.
    pub counts: std::sync::Arc<Vec<std::sync::atomic::AtomicU64>>,
}

impl Prepared {
    pub(crate) fn copy_sql(&self) -> String {
        format!(
            "INSERT OR ABORT INTO {} ({}) SELECT {} FROM {}",
            qualified(&self.source.schema, &self.scratch),
            self.insert_columns.join(", "),
            self.select_exprs.join(", "),
            self.source.qualified()
        )
    }

    /// The copy statement counting rule hits as it goes (see [`remap_case`]).
    pub(crate) fn counting_copy_sql(&self) -> String {
        format!(
            "INSERT OR ABORT INTO {} ({}) SELECT {} FROM {}",
            qualified(&self.source.schema, &self.scratch),
            self.insert_columns.join(", "),
            self.counting_exprs.join(", "),
            self.source.qualified()
        )
    }

    /// Copies a quarantine table's rows into the target: the quarantine table stands in
    /// for the old table under its name, so the same column expressions apply.
    pub(crate) fn restore_sql(&self, r: &Restore) -> String {
        format!(
            "INSERT OR ABORT INTO {} ({}) SELECT {} FROM {} AS {}",
            qualified(&self.source.schema, &self.scratch),
            self.insert_columns.join(", "),
            self.select_exprs.join(", "),
            r.table.qualified(),
            ident(&self.source.name)
        )
    }

    /// Whether a foreign key (of another table, or the target's own) points at the rebuilt table.
    pub(crate) fn is_self(&self, parent: &str) -> bool {
        parent.eq_ignore_ascii_case(&self.source.name)
    }

    /// Whether the copy takes target column `target` unchanged from old column `source`.
    pub(crate) fn copies_unchanged(&self, target: &str, source: &str) -> bool {
        let (target, source) = (ident(target), qualified_col(&self.source, source));
        self.insert_columns
            .iter()
            .zip(&self.select_exprs)
            .any(|(ins, expr)| *ins == target && *expr == source)
    }
}

/// Introspects, probes the target inside a savepoint that is rolled back, and plans.
pub(crate) fn prepare(conn: &Connection, rb: &TableRebuild) -> Result<Prepared> {
    crate::compat::check_sqlite()?;
    if let Some((column, reason)) = &rb.invalid_value {
        return Err(Error::InvalidValue {
            column: column.clone(),
            reason: reason.clone(),
        });
    }
    let source = schema::resolve_table(conn, &rb.schema, &rb.table)?;
    let table = source.name.clone();
    if crate::execute::query_only(conn)?
        || conn
            .is_readonly(source.schema.as_str())
            .map_err(Error::sqlite("checking whether the database is writable"))?
    {
        return Err(Error::ReadOnly {
            schema: source.schema,
        });
    }
    let Some(create_sql) = rb.create_sql.as_deref() else {
        return Err(Error::MissingTargetSql { table });
    };
    let target_error = |reason: String| Error::TargetSql {
        table: table.clone(),
        reason,
    };
    sql::single_statement(create_sql).map_err(|e| target_error(e.to_string()))?;
    let target_def =
        sql::parse_create_table(create_sql).map_err(|e| target_error(e.to_string()))?;
    if !target_def.name.eq_ignore_ascii_case(&source.name) {
        return Err(target_error(format!(
            "it creates table \"{}\"; the target must keep the name \"{}\"",
            target_def.name, source.name
        )));
    }
    let wanted_schema = if target_def.temp {
        Some("temp")
    } else {
        target_def.schema.as_deref()
    };
    if let Some(s) = wanted_schema {
        if !s.eq_ignore_ascii_case(&source.schema) {
            return Err(target_error(format!(
                "it creates the table in schema \"{s}\" but \"{}\" lives in \"{}\"; a rebuild cannot move a table",
                source.name, source.schema
            )));
        }
    }
    if target_def.if_not_exists {
        return Err(target_error(
            "IF NOT EXISTS makes no sense for a rebuild target; remove it".into(),
        ));
    }

    let scratch = schema::free_name(conn, &source.schema, &format!("{}__rebuild", source.name))?;
    let create_scratch = {
        let def = sql::parse_create_table(create_sql).map_err(|e| target_error(e.to_string()))?;
        // Everything before the name (TEMP, IF NOT EXISTS) goes: the scratch name is qualified.
        let body = create_sql.get(def.name_span.1..).unwrap_or_default();
        format!(
            "CREATE TABLE {}{}",
            qualified(&source.schema, &scratch),
            statement_text(body)
        )
    };

    // Probe the target: SQLite parses it and tells us its columns, keys and indexes.
    let probe = Savepoint::begin(conn, "sqlite_rebuild_probe")?;
    conn.prepare(&create_scratch)
        .and_then(|mut s| s.execute([]))
        .map_err(
            |e| match Error::operational("creating the target table", e) {
                Ok(e) => e,
                Err(e) => target_error(sqlite_message(&e)),
            },
        )?;
    let target = schema::resolve_table(conn, &source.schema, &scratch)?;
    let target_indexes = schema::indexes(conn, &source.schema, &scratch)?;
    let target_fks = schema::foreign_keys(conn, &source.schema, &scratch)?;
    // Each user expression must compile against the old table on its own.
    for (column, expr) in &rb.columns {
        sql::single_expression(expr).map_err(|e| Error::InvalidExpression {
            table: table.clone(),
            column: column.clone(),
            reason: e.to_string(),
        })?;
        conn.prepare(&format!(
            "SELECT ({expr}) FROM {} AS {}",
            source.qualified(),
            ident(&source.name)
        ))
        .map_err(|e| Error::InvalidExpression {
            table: table.clone(),
            column: column.clone(),
            reason: sqlite_message(&e),
        })?;
    }
    // Columns the target renames are renamed in the old table first, the way ALTER TABLE
    // RENAME COLUMN does it; what depends on the table is read as it will be then.
    let renames = renamed_columns(rb, &source, &target);
    for (old, new) in &renames {
        conn.execute_batch(&rename_column_sql(&source, old, new))
            .map_err(|e| crate::execute::dependent_broken(&table, sqlite_message(&e)))?;
    }
    let mut dependents = schema::dependents(conn, &source)?;
    for wanted in &rb.snapshot_dependents {
        match dependents
            .iter_mut()
            .find(|d| d.name.eq_ignore_ascii_case(&wanted.name))
        {
            Some(d) => *d = wanted.clone(),
            None => dependents.push(wanted.clone()),
        }
    }
    let dropped = requested_drops(conn, rb, &source, &mut dependents)?;
    let statistics = kept_statistics(conn, &source, &scratch, &target_indexes, &dependents)?;
    let children: Vec<ForeignKey> = schema::referencing(conn, &source.schema, &source.name)?
        .into_iter()
        .filter(|fk| {
            !fk.child.eq_ignore_ascii_case(&source.name) && !fk.child.eq_ignore_ascii_case(&scratch)
        })
        .collect();
    drop(probe);
    let mapping = map_columns(rb, &source, &target)?;
    for declared in &rb.children {
        if !children
            .iter()
            .any(|fk| fk.child.eq_ignore_ascii_case(declared))
        {
            return Err(Error::NotAChild {
                table: table.clone(),
                child: declared.clone(),
            });
        }
    }
    let sequence = if target.autoincrement {
        schema::sequence(conn, &source.schema, &source.name)?
    } else {
        None
    };

    let restore = match &rb.restore_from {
        Some(name) => Some(crate::quarantine::restore_source(
            conn, &source, &children, name,
        )?),
        None => None,
    };

    let mut prepared = Prepared {
        plan: RebuildPlan {
            schema: source.schema.clone(),
            table: source.name.clone(),
            steps: Vec::new(),
            checks: Vec::new(),
            script: Err(String::new()),
        },
        source,
        target,
        target_def,
        target_indexes,
        target_fks,
        scratch,
        insert_columns: mapping.insert_columns,
        select_exprs: mapping.select_exprs,
        counting_exprs: mapping.counting_exprs,
        hits: mapping.hits,
        hit_counts: std::sync::Arc::new(mapping.rules.iter().map(|_| Default::default()).collect()),
        params: mapping.params,
        copies_rowid: mapping.copies_rowid,
        rules: mapping.rules,
        chains: mapping.chains,
        dependents,
        renames,
        statistics,
        dropped,
        children,
        sequence,
        restore,
        child_updates: Vec::new(),
        progress: rb.progress.clone(),
        in_place: false,
        counted_rules: Default::default(),
        dry_run: false,
    };
    prepared.child_updates = follow_children(conn, rb, &prepared)?;
    crate::execute::check_child_keys(&prepared)?;
    if let Some(r) = &prepared.restore {
        // The quarantine table must provide what the rules read from the old table.
        let probe = Savepoint::begin(conn, "sqlite_rebuild_probe")?;
        let compiled = conn
            .execute_batch(&create_scratch)
            .and_then(|_| conn.prepare(&prepared.restore_sql(r)).map(|_| ()));
        drop(probe);
        compiled.map_err(|e| Error::Quarantine {
            table: r.table.name.clone(),
            reason: format!(
                "its rows cannot be copied into the target: {}",
                sqlite_message(&e)
            ),
        })?;
    }
    prepared.plan = build_plan(&prepared, create_scratch);
    prepared.plan.script = match (prepared.chains.first(), &rb.on_violation, &rb.restore_from) {
        (Some(chain), _, _) => Err(format!(
            "column \"{}\" has a closure rule (remap_with), which only Rust can apply",
            chain.column
        )),
        (None, OnViolation::Quarantine | OnViolation::QuarantineInto(_), _) => Err(
            "the quarantine policy moves rows between tables as they fail, which a script cannot decide"
                .to_owned(),
        ),
        (None, _, Some(_)) => {
            Err("restore_from reads quarantine tables that only execute() handles".to_owned())
        }
        (None, OnViolation::Abort, None) => Ok(build_script(conn, &prepared)?),
    };
    // The script always copies: a new schema_version cannot be computed in plain SQL.
    if in_place_eligible(conn, rb, &prepared)? && remaps_few_rows(conn, &prepared)? {
        prepared.in_place = true;
        let (steps, checks) = in_place_steps(&prepared, create_sql);
        prepared.plan.steps = steps;
        prepared.plan.checks = checks;
    }
    Ok(prepared)
}

/// Whether only constraints change, so the stored definition can be switched in place:
/// the same columns in the same order with the same declared types, collations, defaults
/// and generated expressions; the same keys and automatic indexes (whose names SQLite
/// assigns by position); the same STRICT / WITHOUT ROWID / AUTOINCREMENT. DEFAULT changes
/// go through the copy: rows written before an `ADD COLUMN` hold no value for that column
/// and read its DEFAULT, so changing it in place would change their data. Not for `.column`
/// expressions, closure rules, restores, TEMP tables, or connections in SQLITE_DBCONFIG_DEFENSIVE mode
/// (which forbids writing the schema).
fn in_place_eligible(conn: &Connection, rb: &TableRebuild, p: &Prepared) -> Result<bool> {
    // Closure rules stay on the copy, where each runs exactly once per row.
    if !rb.columns.is_empty()
        || !p.chains.is_empty()
        || p.restore.is_some()
        || p.source.schema.eq_ignore_ascii_case("temp")
    {
        return Ok(false);
    }
    let defensive = conn
        .db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE)
        .map_err(Error::sqlite("reading SQLITE_DBCONFIG_DEFENSIVE"))?;
    if defensive {
        log::debug!("defensive mode: the stored definition cannot be switched in place; copying");
        return Ok(false);
    }
    let Ok(old) = sql::parse_create_table(&p.source.sql) else {
        return Ok(false);
    };
    let new = &p.target_def;
    let norm = |s: &Option<String>| {
        s.as_deref().map(|t| {
            t.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase()
        })
    };
    let same_columns = old.columns.len() == new.columns.len()
        && old.columns.iter().zip(&new.columns).all(|(a, b)| {
            a.name == b.name
                && a.type_text.eq_ignore_ascii_case(&b.type_text)
                && norm(&a.collation) == norm(&b.collation)
                && norm(&a.default_clause) == norm(&b.default_clause)
                && norm(&a.generated_clause) == norm(&b.generated_clause)
        })
        && p.source.columns.len() == p.target.columns.len()
        && p.source
            .columns
            .iter()
            .zip(&p.target.columns)
            .all(|(a, b)| {
                a.name == b.name
                    && a.decl_type == b.decl_type
                    && a.pk == b.pk
                    && a.hidden == b.hidden
            });
    if !same_columns
        || old.strict != new.strict
        || old.without_rowid != new.without_rowid
        || p.source.ipk != p.target.ipk
        || p.source.autoincrement != p.target.autoincrement
    {
        return Ok(false);
    }
    // Compared without their names, which carry the table's.
    let automatic = |ixs: Vec<Index>| -> Vec<Index> {
        ixs.into_iter()
            .filter(|i| i.origin != "c")
            .map(|i| Index {
                name: String::new(),
                ..i
            })
            .collect()
    };
    let old_indexes = schema::indexes(conn, &p.source.schema, &p.source.name)?;
    Ok(automatic(old_indexes) == automatic(p.target_indexes.clone()))
}

/// Rows rewritten in place cost several times a copied row (their index entries move one
/// by one, where a copy builds indexes in one sorted pass): past this share of the rows,
/// the copy is faster.
const IN_PLACE_MAX_REMAPPED_SHARE: f64 = 0.2;

/// Rows sampled to estimate the share of rows the rules rewrite.
const REMAP_SAMPLE_ROWS: u64 = 20_000;

/// Whether the remapping rules change few enough rows for the in-place path to win,
/// estimated on the first rows of the table (a full count would cost a scan).
fn remaps_few_rows(conn: &Connection, p: &Prepared) -> Result<bool> {
    if p.rules.is_empty() {
        return Ok(true);
    }
    let counts = crate::execute::rule_counts_in(conn, p, Some(REMAP_SAMPLE_ROWS))?;
    let sampled: u64 = conn
        .query_row(
            &format!(
                "SELECT count(*) FROM (SELECT 1 FROM {} LIMIT {REMAP_SAMPLE_ROWS})",
                p.source.qualified()
            ),
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(Error::sqlite("counting rows"))? as u64;
    let changed: u64 = counts.iter().sum();
    let few = (changed as f64) <= IN_PLACE_MAX_REMAPPED_SHARE * sampled as f64;
    if !few {
        log::debug!(
            "the rules rewrite {changed} of the first {sampled} rows: copying rather than rewriting in place"
        );
    } else if sampled < REMAP_SAMPLE_ROWS {
        // The sample was the whole table: these are the counts.
        *p.counted_rules.borrow_mut() = Some(counts);
    }
    Ok(few)
}

/// The steps that rewrite children's keys to follow remapped keys.
fn follow_steps(p: &Prepared) -> impl Iterator<Item = PlanStep> + '_ {
    p.child_updates.iter().map(|u| PlanStep {
        kind: StepKind::FollowChildKeys,
        sql: u.sql.clone(),
        params: u.params.clone(),
    })
}

/// The steps of an in-place change: switch the definition, remap in place, children follow.
fn in_place_steps(p: &Prepared, create_sql: &str) -> (Vec<PlanStep>, Vec<String>) {
    let body = sql::parse_create_table(create_sql)
        .ok()
        .and_then(|d| create_sql.get(d.name_span.1..))
        .unwrap_or_default();
    // As SQLite stores a statement (up to its last token), with the name as a rename
    // writes it, so both paths store the same text.
    let stored = format!(
        "CREATE TABLE {}{}",
        ident(&p.source.name),
        statement_text(body)
    );
    let mut steps: Vec<PlanStep> = drop_steps(p).collect();
    steps.push(PlanStep {
        kind: StepKind::SwitchDefinition,
        sql: format!(
            "UPDATE {}.sqlite_schema SET sql = ?1 WHERE type = 'table' AND name = ?2",
            ident(&p.source.schema)
        ),
        params: vec![Value::Text(stored), Value::Text(p.source.name.clone())],
    });
    let table = ident(&p.source.name);
    let mut sets = Vec::new();
    let mut changed = Vec::new();
    for (col, expr) in p.insert_columns.iter().zip(&p.select_exprs) {
        if *expr != format!("{table}.{col}") && !(p.copies_rowid && col == &p.insert_columns[0]) {
            sets.push(format!("{col} = {expr}"));
            changed.push(format!("{table}.{col} IS NOT {expr}"));
        }
    }
    if !sets.is_empty() {
        steps.push(PlanStep {
            kind: StepKind::RemapInPlace,
            sql: format!(
                "UPDATE {} SET {} WHERE {}",
                p.source.qualified(),
                sets.join(", "),
                changed.join(" OR ")
            ),
            params: p.params.clone(),
        });
    }
    steps.extend(follow_steps(p));
    let checks = vec![
        format!("every row of {table} satisfies the new CHECK and NOT NULL constraints"),
        "PRAGMA foreign_key_check finds no new violation in the tables involved".to_owned(),
        "every view and trigger in the schema still compiles".to_owned(),
    ];
    (steps, checks)
}

fn rename_column_sql(table: &Table, old: &str, new: &str) -> String {
    format!(
        "ALTER TABLE {} RENAME COLUMN {} TO {}",
        table.qualified(),
        ident(old),
        ident(new)
    )
}

/// The columns the target renames: `.column("new", "old")` whose expression is only the
/// name of an old column that the target lacks, for a new column the old table lacks.
fn renamed_columns(rb: &TableRebuild, source: &Table, target: &Table) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (new, expr) in &rb.columns {
        // The last rule for a column is the one that counts.
        let last = rb
            .columns
            .iter()
            .rev()
            .find(|(c, _)| c.eq_ignore_ascii_case(new));
        if last.map(|(_, e)| e) != Some(expr) {
            continue;
        }
        let Some(named) = sql::column_name(expr) else {
            continue;
        };
        let (Some(old), Some(new)) = (source.column(&named), target.column(new)) else {
            continue;
        };
        if old.is_generated()
            || new.is_generated()
            || source.column(&new.name).is_some()
            || target.column(&old.name).is_some()
            || out.iter().any(|(o, _)| o.eq_ignore_ascii_case(&old.name))
        {
            continue;
        }
        out.push((old.name.clone(), new.name.clone()));
    }
    out
}

/// The steps that drop the dependents the caller allowed to go; first in every plan.
fn drop_steps(p: &Prepared) -> impl Iterator<Item = PlanStep> + '_ {
    p.dropped
        .iter()
        .filter_map(|(_, sql)| sql.clone())
        .map(|sql| PlanStep::new(StepKind::DropDependent, sql))
}

/// Resolves the names given to `drop_dependent`: each leaves `dependents` (it is not
/// recreated) and gets its DROP statement (none for a snapshot's dependent that the
/// database does not hold).
fn requested_drops(
    conn: &Connection,
    rb: &TableRebuild,
    source: &Table,
    dependents: &mut Vec<Dependent>,
) -> Result<Vec<(String, Option<String>)>> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for wanted in &rb.drop_dependents {
        let unknown = || Error::UnknownDependent {
            table: source.name.clone(),
            name: wanted.clone(),
        };
        let found = schema::droppable(conn, source, wanted)?;
        let planned = dependents
            .iter()
            .position(|d| d.name.eq_ignore_ascii_case(wanted))
            .map(|i| dependents.remove(i));
        let (name, sql) = match (found, planned) {
            (Some((name, sql)), _) => (name, Some(sql)),
            (None, Some(d)) => (d.name, None),
            (None, None) => return Err(unknown()),
        };
        if !out.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            out.push((name, sql));
        }
    }
    Ok(out)
}

/// Which ANALYZE statistics survive the rebuild: the table's own row and those of indexes
/// recreated as they were (explicit ones, and automatic ones with the same keys). `None`
/// when the schema has no statistics tables.
fn kept_statistics(
    conn: &Connection,
    source: &Table,
    scratch: &str,
    target_indexes: &[Index],
    dependents: &[Dependent],
) -> Result<Option<Statistics>> {
    let tables = schema::statistics_tables(conn, &source.schema)?;
    if tables.is_empty() {
        return Ok(None);
    }
    let mut kept: Vec<Option<String>> = vec![None];
    kept.extend(
        dependents
            .iter()
            .filter(|d| d.kind == "index" && !d.temp)
            .map(|d| Some(d.name.clone())),
    );
    let old_prefix = format!("sqlite_autoindex_{}_", source.name);
    let new_prefix = format!("sqlite_autoindex_{scratch}_");
    for old in schema::indexes(conn, &source.schema, &source.name)? {
        let Some(n) = old.name.strip_prefix(&old_prefix) else {
            continue;
        };
        let same = target_indexes.iter().any(|new| {
            new.name.strip_prefix(&new_prefix) == Some(n)
                && (new.unique, &new.origin, &new.keys, &new.descending)
                    == (old.unique, &old.origin, &old.keys, &old.descending)
        });
        if same {
            kept.push(Some(old.name));
        }
    }
    Ok(Some(Statistics {
        tables,
        indexes: kept,
    }))
}

/// The steps that carry the kept statistics over the drop: before it they are re-labelled
/// with the scratch table's name (so `DROP TABLE` removes only the stale ones), after the
/// swap they get the table's name back.
fn statistics_steps(p: &Prepared) -> (Vec<PlanStep>, Vec<PlanStep>) {
    let Some(Statistics {
        tables,
        indexes: kept,
    }) = &p.statistics
    else {
        return (Vec::new(), Vec::new());
    };
    let name = |s: &str| literal(&Value::Text(s.to_owned()));
    let indexes: Vec<String> = kept.iter().flatten().map(|i| name(i)).collect();
    let which = if indexes.is_empty() {
        "idx IS NULL".to_owned()
    } else {
        format!("(idx IS NULL OR idx IN ({}))", indexes.join(", "))
    };
    let relabel = |table: &str, from: &str, to: &str, filter: &str| {
        format!(
            "UPDATE {} SET tbl = {} WHERE tbl = {} COLLATE NOCASE{filter}",
            qualified(&p.source.schema, table),
            name(to),
            name(from)
        )
    };
    let keep = tables
        .iter()
        .map(|t| {
            PlanStep::new(
                StepKind::KeepStatistics,
                relabel(t, &p.source.name, &p.scratch, &format!(" AND {which}")),
            )
        })
        .collect();
    let restore = tables
        .iter()
        .map(|t| {
            PlanStep::new(
                StepKind::RestoreStatistics,
                relabel(t, &p.scratch, &p.source.name, ""),
            )
        })
        .collect();
    (keep, restore)
}

fn build_plan(p: &Prepared, create_scratch: String) -> RebuildPlan {
    let schema = &p.source.schema;
    let mut steps: Vec<PlanStep> = drop_steps(p).collect();
    steps.push(PlanStep::new(StepKind::CreateTarget, create_scratch));
    steps.push(PlanStep {
        kind: StepKind::Copy,
        sql: p.copy_sql(),
        params: p.params.clone(),
    });
    if let Some(r) = &p.restore {
        steps.push(PlanStep {
            kind: StepKind::RestoreRows,
            sql: p.restore_sql(r),
            params: p.params.clone(),
        });
    }
    steps.extend(p.renames.iter().map(|(old, new)| {
        PlanStep::new(
            StepKind::RenameColumn,
            rename_column_sql(&p.source, old, new),
        )
    }));
    let (keep_statistics, restore_statistics) = statistics_steps(p);
    steps.extend(keep_statistics);
    steps.push(PlanStep::new(
        StepKind::DropOld,
        format!("DROP TABLE {}", p.source.qualified()),
    ));
    steps.extend(follow_steps(p));
    steps.push(PlanStep::new(
        StepKind::Rename,
        format!(
            "ALTER TABLE {} RENAME TO {}",
            qualified(schema, &p.scratch),
            ident(&p.source.name)
        ),
    ));
    for d in &p.dependents {
        let kind = if d.kind == "index" {
            StepKind::CreateIndex
        } else {
            StepKind::CreateTrigger
        };
        steps.push(PlanStep::new(kind, dependent_sql(d, schema)));
    }
    steps.extend(restore_statistics);
    if let Some(seq) = p.sequence {
        let seq_table = format!("{}.sqlite_sequence", ident(schema));
        steps.push(PlanStep {
            kind: StepKind::RestoreSequence,
            sql: format!("UPDATE {seq_table} SET seq = max(seq, ?1) WHERE name = ?2"),
            params: vec![Value::Integer(seq), Value::Text(p.source.name.clone())],
        });
        steps.push(PlanStep {
            kind: StepKind::RestoreSequence,
            sql: format!(
                "INSERT INTO {seq_table} (name, seq) SELECT ?2, ?1 WHERE NOT EXISTS (SELECT 1 FROM {seq_table} WHERE name = ?2)"
            ),
            params: vec![Value::Integer(seq), Value::Text(p.source.name.clone())],
        });
    }
    if let Some(r) = &p.restore {
        for c in &r.children {
            steps.push(PlanStep::new(
                StepKind::RestoreChildRows,
                crate::quarantine::restore_child_sql(
                    schema,
                    &c.child,
                    &c.quarantine,
                    &c.columns,
                    c.rowid,
                ),
            ));
        }
        for c in r.children.iter().rev() {
            steps.push(PlanStep::new(
                StepKind::DropQuarantine,
                format!("DROP TABLE {}", qualified(schema, &c.quarantine)),
            ));
        }
        steps.push(PlanStep::new(
            StepKind::DropQuarantine,
            format!("DROP TABLE {}", r.table.qualified()),
        ));
    }
    let mut checks = vec![format!(
        "row count of {} equals the old table's",
        ident(&p.source.name)
    )];
    let mut fk_tables: Vec<&str> = p.children.iter().map(|fk| fk.child.as_str()).collect();
    fk_tables.dedup();
    if !p.target_fks.is_empty() {
        fk_tables.insert(0, &p.source.name);
    }
    if !fk_tables.is_empty() {
        let list: Vec<String> = fk_tables.iter().map(|t| ident(t)).collect();
        checks.push(format!(
            "PRAGMA foreign_key_check finds no new violation in {}",
            list.join(", ")
        ));
    }
    checks.push("every view and trigger in the schema still compiles".to_owned());
    RebuildPlan {
        schema: schema.clone(),
        table: p.source.name.clone(),
        steps,
        checks,
        script: Err(String::new()),
    }
}

/// Names the script's guard uses in the temp schema.
/// (SQLite reserves the `sqlite_` prefix.)
const GUARD: &str = "sqlite-rebuild guard";
const STAGE: &str = "sqlite-rebuild stage";

/// The self-contained script of [`RebuildPlan::to_sql`].
fn build_script(conn: &Connection, p: &Prepared) -> Result<String> {
    use std::fmt::Write as _;
    let table = &p.source.name;
    let schema = p.source.schema.as_str();
    let t = ident(table);
    let guard_table = qualified("temp", GUARD);
    let mut children: Vec<&str> = p.children.iter().map(|fk| fk.child.as_str()).collect();
    children.sort_by_key(|c| c.to_ascii_lowercase());
    children.dedup_by(|a, b| a.eq_ignore_ascii_case(b));

    // Each guard: a trigger that rolls everything back with its message, and the statement
    // that inserts its number when the problem is found.
    let mut triggers = Vec::new();
    let mut guard = |n: &mut Vec<String>, message: String, condition: String| {
        let k = triggers.len() + 1;
        let message = format!("sqlite-rebuild: {message}; nothing was changed");
        triggers.push(format!(
            "CREATE TEMP TRIGGER {} BEFORE INSERT ON {} WHEN NEW.problem = {k} BEGIN SELECT RAISE(ROLLBACK, {}); END;",
            ident(&format!("{GUARD} {k}")),
            ident(GUARD),
            literal(&Value::Text(message))
        ));
        n.push(format!(
            "INSERT INTO {} (problem) SELECT {k} WHERE {condition};",
            qualified("temp", GUARD)
        ));
    };

    let mut before = Vec::new();
    if !children.is_empty() {
        guard(
            &mut before,
            format!(
                "foreign key enforcement is ON, and dropping {t} would cascade to its children; run PRAGMA foreign_keys = OFF before the transaction begins"
            ),
            "(SELECT foreign_keys FROM pragma_foreign_keys) = 1".to_owned(),
        );
    }
    let staging = crate::validate::staging(p, STAGE);
    let alias = ident(&p.target_def.name);
    let mut validation = Vec::new();
    for probe in crate::validate::probes(conn, p, &staging.table, &staging.seq, &alias)? {
        guard(
            &mut validation,
            format!(
                "rows of {t} would violate the target's {} {}; remap them or change the target (TableRebuild::validate lists them)",
                probe.kind, probe.name
            ),
            format!(
                "EXISTS (SELECT 1 FROM {} AS {alias} WHERE {})",
                staging.table, probe.predicate
            ),
        );
    }
    let scratch = qualified(&p.source.schema, &p.scratch);
    let mut count_check = Vec::new();
    guard(
        &mut count_check,
        format!("the copy of {t} does not hold every row"),
        format!(
            "(SELECT count(*) FROM {scratch}) <> (SELECT count(*) FROM {})",
            p.source.qualified()
        ),
    );
    let check_children = crate::execute::children_need_check(p);
    let mut baselines = Vec::new();
    let mut child_checks = Vec::new();
    if check_children {
        for (i, child) in children.iter().enumerate() {
            let violations = format!(
                "(SELECT count(*) FROM pragma_foreign_key_check({}, {}) WHERE parent = {} COLLATE NOCASE)",
                literal(&Value::Text((*child).to_owned())),
                literal(&Value::Text(p.source.schema.clone())),
                literal(&Value::Text(table.clone()))
            );
            let id = -(i as i64) - 1;
            baselines.push(format!(
                "INSERT INTO {guard_table} (problem, n) SELECT {id}, {violations};"
            ));
            guard(
                &mut child_checks,
                format!(
                    "rows of child {} would no longer find their parent row in {t}",
                    ident(child)
                ),
                format!("{violations} > (SELECT n FROM {guard_table} WHERE problem = {id})"),
            );
        }
    }

    let mut s = String::new();
    let names: Vec<String> = children.iter().map(|c| ident(c)).collect();
    let _ = writeln!(
        s,
        "-- sqlite-rebuild script: rebuild {}",
        p.source.qualified()
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
    let _ = writeln!(
        s,
        "-- Every row is validated against the target before anything is written. When a guard"
    );
    let _ = writeln!(
        s,
        "-- finds a problem it rolls the whole transaction back (RAISE(ROLLBACK)) with a message"
    );
    let _ = writeln!(
        s,
        "-- naming it: the database is left unchanged (inside a framework's transaction, that"
    );
    let _ = writeln!(
        s,
        "-- transaction is rolled back). If any other statement fails, roll the transaction back."
    );
    let _ = writeln!(s, "-- The script was generated against the schema it rebuilds; regenerate it if that changes.");
    let _ = writeln!(s, "\nSAVEPOINT sqlite_rebuild;");
    let _ = writeln!(
        s,
        "CREATE TEMP TABLE {} (problem INTEGER, n INTEGER);",
        ident(GUARD)
    );
    for trigger in &triggers {
        let _ = writeln!(s, "{trigger}");
    }
    for line in &before {
        let _ = writeln!(s, "{line}");
    }
    let _ = writeln!(
        s,
        "\n-- Stage every row as the target would store it, and check each constraint."
    );
    let _ = writeln!(s, "{};", staging.create);
    for insert in &staging.inserts {
        let stage_insert = PlanStep {
            kind: StepKind::Copy,
            sql: insert.clone(),
            params: p.params.clone(),
        };
        let _ = writeln!(s, "{};", stage_insert.sql_with_literals());
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
    let mut child_updates = p.child_updates.iter();
    for (i, step) in p.plan.steps.iter().enumerate() {
        let _ = writeln!(s, "\n-- {}. {}", i + 1, step.kind.describe());
        if step.kind == StepKind::FollowChildKeys {
            // As execute() does: the rewrite is not an event of the application's, so the
            // child's triggers are dropped around it and recreated as they were.
            let child = match child_updates.next() {
                Some(u) => schema::resolve_table(conn, &p.source.schema, &u.child)?,
                None => continue,
            };
            let triggers = schema::triggers(conn, &child)?;
            for (_, drop) in &triggers {
                let _ = writeln!(s, "{drop};");
            }
            let _ = writeln!(s, "{};", step.sql_with_literals());
            for (t, _) in &triggers {
                let _ = writeln!(s, "{};", dependent_sql(t, schema));
            }
            continue;
        }
        if step.kind == StepKind::Rename {
            let _ = writeln!(s, "PRAGMA legacy_alter_table = ON;");
            let _ = writeln!(s, "{};", step.sql);
            let _ = writeln!(s, "PRAGMA legacy_alter_table = OFF;");
        } else {
            let _ = writeln!(s, "{};", step.sql_with_literals());
        }
        if step.kind == StepKind::Copy {
            for line in &count_check {
                let _ = writeln!(s, "{line}");
            }
        }
    }
    if !child_checks.is_empty() {
        let _ = writeln!(s, "\n-- Children must still find their parent rows.");
        for line in &child_checks {
            let _ = writeln!(s, "{line}");
        }
    }
    let probe = crate::schema::free_name(conn, &p.source.schema, &format!("{table}__probe"))?;
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
        p.source.qualified(),
        ident(&probe)
    );
    let _ = writeln!(s, "ROLLBACK TO sqlite_rebuild_probe;");
    let _ = writeln!(s, "RELEASE sqlite_rebuild_probe;");
    let _ = writeln!(s, "\nDROP TABLE {};", qualified("temp", GUARD));
    let _ = writeln!(s, "RELEASE sqlite_rebuild;");
    Ok(s)
}

/// The statement that recreates a dependent, so that SQLite stores the same text again.
/// An index name gets a schema prefix (SQLite stores the name token as written, without the
/// prefix), so an index of an attached database is recreated there. A TEMP trigger's stored
/// text has lost its `TEMP` keyword, which must be put back or it would land in `main`.
pub(crate) fn dependent_sql(d: &Dependent, schema: &str) -> String {
    if d.kind == "index" {
        if let Ok(ix) = sql::parse_create_index(&d.sql) {
            let name = d
                .sql
                .get(ix.name_span.0..ix.name_span.1)
                .unwrap_or(&ix.name);
            return sql::replace_span(&d.sql, ix.name_span, &format!("{}.{name}", ident(schema)));
        }
    }
    if d.temp {
        if let Ok(tokens) = sql::tokenize(&d.sql) {
            let mut words = tokens.iter().filter(|t| t.kind == sql::TokenKind::Word);
            if let (Some(create), Some(next)) = (words.next(), words.next()) {
                let next_text = &d.sql[next.start..next.end];
                if !next_text.eq_ignore_ascii_case("TEMP")
                    && !next_text.eq_ignore_ascii_case("TEMPORARY")
                {
                    return format!("{} TEMP{}", &d.sql[..create.end], &d.sql[create.end..]);
                }
            }
        }
    }
    d.sql.clone()
}

/// For each child whose foreign key references a column with remapping rules (copied
/// from the old column of the same name), the UPDATE that applies the same rules to the
/// child's column; and so on down: a grandchild whose foreign key references a followed
/// column of a child follows the same rules. Keys computed by `.column()` expressions
/// cannot be followed; the check of the children's foreign keys before commit refuses
/// those rebuilds instead.
fn follow_children(conn: &Connection, rb: &TableRebuild, p: &Prepared) -> Result<Vec<ChildUpdate>> {
    // The rules a followed column takes: those of the old table's column it refers to.
    let rules_of = |column: &str| -> Vec<(usize, &Remap)> {
        rb.remaps
            .iter()
            .enumerate()
            .filter(|(_, r)| r.column.eq_ignore_ascii_case(column))
            .collect()
    };
    // Each foreign key to follow, with the old table's column whose rules each of its
    // columns takes (`None`: not followed).
    let mut queue: std::collections::VecDeque<(ForeignKey, Vec<Option<String>>)> = p
        .children
        .iter()
        .filter_map(|fk| {
            let referenced = crate::execute::referenced_columns(p, fk);
            (referenced.len() == fk.from.len()).then(|| {
                let carried = referenced
                    .iter()
                    .map(|to| {
                        let copied_plain = p.insert_columns.iter().any(|ins| *ins == ident(to))
                            && !rb.columns.iter().any(|(c, _)| c.eq_ignore_ascii_case(to))
                            && p.source.column(to).is_some();
                        (copied_plain && !rules_of(to).is_empty()).then(|| to.clone())
                    })
                    .collect();
                (fk.clone(), carried)
            })
        })
        .collect();
    let mut followed: Vec<(String, i64)> = Vec::new();
    let mut out = Vec::new();
    while let Some((fk, carried)) = queue.pop_front() {
        let key = (fk.child.to_ascii_lowercase(), fk.id);
        if followed.contains(&key) || fk.child.eq_ignore_ascii_case(&p.source.name) {
            continue;
        }
        followed.push(key);
        let child_alias = ident(&fk.child);
        let mut m = Mapping::default();
        let mut sets = Vec::new();
        let mut changed = Vec::new();
        for (from, source_column) in fk.from.iter().zip(&carried) {
            let Some(to) = source_column else {
                continue;
            };
            let rules = rules_of(to);
            let base = format!("{child_alias}.{}", ident(from));
            let split = first_closure(&rules);
            let mut expr = if split == 0 {
                base.clone()
            } else {
                remap_case(&base, &rules[..split], &mut m).0
            };
            if split < rules.len() {
                match p.chains.iter().find(|c| c.column.eq_ignore_ascii_case(to)) {
                    Some(chain) => expr = format!("{}({expr})", chain.function),
                    None => continue,
                }
            }
            changed.push(format!("{base} IS NOT {expr}"));
            sets.push(format!("{} = {expr}", ident(from)));
        }
        if sets.is_empty() {
            continue;
        }
        out.push(ChildUpdate {
            child: fk.child.clone(),
            sql: format!(
                "UPDATE {} AS {child_alias} SET {} WHERE {}",
                qualified(&p.source.schema, &fk.child),
                sets.join(", "),
                changed.join(" OR ")
            ),
            params: m.params,
        });
        // Grandchildren whose keys refer to the columns just rewritten follow them.
        let child_columns = schema::columns(conn, &p.source.schema, &fk.child)?;
        for grandchild in schema::referencing(conn, &p.source.schema, &fk.child)? {
            let referenced = grandchild.referenced(&child_columns);
            if referenced.len() != grandchild.from.len() {
                continue;
            }
            let carried: Vec<Option<String>> = referenced
                .iter()
                .map(|col| {
                    fk.from
                        .iter()
                        .zip(&carried)
                        .find(|(from, _)| from.eq_ignore_ascii_case(col))
                        .and_then(|(_, source_column)| source_column.clone())
                })
                .collect();
            if carried.iter().any(Option::is_some) {
                queue.push_back((grandchild, carried));
            }
        }
    }
    Ok(out)
}

#[derive(Default)]
struct Mapping {
    /// `select_exprs` with value rules counting their hits.
    counting_exprs: Vec<String>,
    /// For each hit number: the rule slots that fire.
    hits: Vec<Vec<usize>>,
    copies_rowid: bool,
    insert_columns: Vec<String>,
    select_exprs: Vec<String>,
    params: Vec<Value>,
    rules: Vec<RuleSlot>,
    chains: Vec<Chain>,
}

fn map_columns(rb: &TableRebuild, source: &Table, target: &Table) -> Result<Mapping> {
    let table = &source.name;
    let unknown = |rule: &str, column: &str, problem: &str| Error::UnknownColumn {
        table: table.clone(),
        column: column.to_owned(),
        rule: rule.to_owned(),
        problem: problem.to_owned(),
    };
    for (column, _) in &rb.columns {
        match target.column(column) {
            None => return Err(unknown("column", column, "does not exist")),
            Some(c) if c.is_generated() => {
                return Err(unknown(
                    "column",
                    column,
                    "is a generated column (SQLite computes it)",
                ))
            }
            Some(_) => {}
        }
    }
    for r in &rb.remaps {
        match target.column(&r.column) {
            None => return Err(unknown("remap", &r.column, "does not exist")),
            Some(c) if c.is_generated() => {
                return Err(unknown(
                    "remap",
                    &r.column,
                    "is a generated column (SQLite computes it)",
                ))
            }
            Some(_) => {}
        }
    }

    let mut m = Mapping::default();
    // Keep implicit rowids: copy them explicitly unless an INTEGER PRIMARY KEY carries them.
    if target.ipk.is_none() {
        if let (Some(from), Some(to)) = (source.rowid_name(), target.rowid_name()) {
            m.insert_columns.push(ident(to));
            m.select_exprs.push(qualified_col(source, from));
            m.counting_exprs.push(qualified_col(source, from));
            m.copies_rowid = true;
        }
    }
    for col in target.columns.iter().filter(|c| !c.is_generated()) {
        let explicit = rb
            .columns
            .iter()
            .rev()
            .find(|(c, _)| c.eq_ignore_ascii_case(&col.name));
        let base = match explicit {
            Some((_, expr)) => format!("({expr})"),
            None => match source.column(&col.name) {
                Some(src) => qualified_col(source, &src.name),
                None => {
                    let has_rules = rb
                        .remaps
                        .iter()
                        .any(|r| r.column.eq_ignore_ascii_case(&col.name));
                    if has_rules {
                        return Err(unknown(
                            "remap",
                            &col.name,
                            "has no source value (it takes its DEFAULT)",
                        ));
                    }
                    if col.notnull
                        && col.default.is_none()
                        && target.ipk.as_deref() != Some(col.name.as_str())
                    {
                        return Err(Error::MissingSource {
                            table: table.clone(),
                            column: col.name.clone(),
                        });
                    }
                    continue; // the column's DEFAULT applies
                }
            },
        };
        let rules: Vec<(usize, &Remap)> = rb
            .remaps
            .iter()
            .enumerate()
            .filter(|(_, r)| r.column.eq_ignore_ascii_case(&col.name))
            .collect();
        // Value rules up to the first closure compare in SQL, under the old column's
        // affinity and collation; from the first closure on, a registered function applies
        // the rest in order.
        let (leading, chained) = rules.split_at(first_closure(&rules));
        let (mut expr, mut counting) = if leading.is_empty() {
            (base.clone(), base)
        } else {
            remap_case(&base, leading, &mut m)
        };
        if !chained.is_empty() {
            let chain = m.chains.len();
            let function = format!("sqlite_rebuild_remap_{}", chain + 1);
            expr = format!("{function}({expr})");
            counting = format!("{function}({counting})");
            for (step, (position, rule)) in chained.iter().enumerate() {
                m.rules.push(RuleSlot {
                    rule: (*rule).clone(),
                    position: *position,
                    counted: Counted::Chain { chain, step },
                });
            }
            m.chains.push(Chain {
                function,
                column: col.name.clone(),
                rules: chained.iter().map(|(_, r)| r.rule.clone()).collect(),
                counts: std::sync::Arc::new(chained.iter().map(|_| Default::default()).collect()),
            });
        }
        m.insert_columns.push(ident(&col.name));
        m.select_exprs.push(expr);
        m.counting_exprs.push(counting);
    }
    Ok(m)
}

/// `col` qualified by the old table's name, so it cannot be mistaken for anything else.
fn qualified_col(source: &Table, column: &str) -> String {
    format!("{}.{}", ident(&source.name), ident(column))
}

/// Where a column's rules switch from SQL to Rust: the position of its first closure rule.
/// Value rules before it compare in SQL, under the column's affinity and collation.
fn first_closure(rules: &[(usize, &Remap)]) -> usize {
    rules
        .iter()
        .position(|(_, r)| matches!(r.rule, Rule::With(_)))
        .unwrap_or(rules.len())
}

/// One flat CASE that applies a column's rules as a composition in the order given: the
/// first rule matching the old value fires, and its output then passes through the later
/// rules, which is worked out here since those comparisons are between literals.
/// Only value rules reach here.
///
/// Returns the CASE, and the same CASE counting its hits: each THEN first calls
/// `sqlite_rebuild_hit(k)`, which counts the rules that fire and returns NULL, so
/// `coalesce` goes on to the value; the copy counts them in the pass it makes anyway.
fn remap_case(base: &str, rules: &[(usize, &Remap)], m: &mut Mapping) -> (String, String) {
    let pairs: Vec<(&Value, &Value)> = rules
        .iter()
        .filter_map(|(_, r)| match &r.rule {
            Rule::Value { from, to } => Some((from, to)),
            Rule::With(_) => None,
        })
        .collect();
    let mut case = String::from("CASE");
    let mut counting = String::from("CASE");
    let first_slot = m.rules.len();
    let mut chains: Vec<Vec<usize>> = Vec::new();
    let mut from_slots = Vec::new();
    for (i, (from, to)) in pairs.iter().enumerate() {
        m.params.push((*from).clone());
        let from_slot = m.params.len();
        from_slots.push(from_slot);
        // Compose: the value this rule produces, run through the rules after it.
        let mut value = (*to).clone();
        let mut fired = vec![i + 1];
        for (j, (later_from, later_to)) in pairs.iter().enumerate().skip(i + 1) {
            if sql_is(&value, later_from) {
                value = (*later_to).clone();
                fired.push(j + 1);
            }
        }
        let hit = m.hits.len();
        m.hits
            .push(fired.iter().map(|pos| first_slot + pos - 1).collect());
        chains.push(fired);
        m.params.push(value);
        let to_slot = m.params.len();
        case.push_str(&format!(" WHEN {base} IS ?{from_slot} THEN ?{to_slot}"));
        counting.push_str(&format!(
            " WHEN {base} IS ?{from_slot} THEN coalesce({HIT_FUNCTION}({hit}), ?{to_slot})"
        ));
    }
    case.push_str(&format!(" ELSE {base} END"));
    counting.push_str(&format!(" ELSE {base} END"));
    let mut first = String::from("CASE");
    for (i, slot) in from_slots.iter().enumerate() {
        first.push_str(&format!(" WHEN {base} IS ?{slot} THEN {}", i + 1));
    }
    first.push_str(" ELSE 0 END");
    for (i, (position, rule)) in rules.iter().enumerate() {
        let fires_when_first = chains
            .iter()
            .enumerate()
            .filter(|(_, chain)| chain.contains(&(i + 1)))
            .map(|(m_idx, _)| m_idx + 1)
            .collect();
        m.rules.push(RuleSlot {
            rule: (*rule).clone(),
            position: *position,
            counted: Counted::Sql {
                first_match_expr: first.clone(),
                fires_when_first,
            },
        });
    }
    (case, counting)
}

/// The function that counts rule hits during the copy.
pub(crate) const HIT_FUNCTION: &str = "sqlite_rebuild_hit";

/// SQLite's `IS` between two values that carry no affinity, under BINARY collation.
pub(crate) fn sql_is(a: &Value, b: &Value) -> bool {
    sql_is_ref(a.into(), b.into())
}

/// [`sql_is`] over borrowed values.
pub(crate) fn sql_is_ref(a: ValueRef<'_>, b: ValueRef<'_>) -> bool {
    match (a, b) {
        (ValueRef::Null, ValueRef::Null) => true,
        (ValueRef::Integer(x), ValueRef::Integer(y)) => x == y,
        (ValueRef::Real(x), ValueRef::Real(y)) => x == y,
        (ValueRef::Integer(i), ValueRef::Real(r)) | (ValueRef::Real(r), ValueRef::Integer(i)) => {
            r.fract() == 0.0 && r >= -(i64::MAX as f64) && r < i64::MAX as f64 && (r as i64) == i
        }
        (ValueRef::Text(x), ValueRef::Text(y)) => x == y,
        (ValueRef::Blob(x), ValueRef::Blob(y)) => x == y,
        _ => false,
    }
}

/// The statement up to the end of its last token: no `;`, trailing space or comment.
fn statement_text(sql: &str) -> &str {
    let Ok(tokens) = sql::tokenize(sql) else {
        return sql.trim_end();
    };
    match tokens.iter().rev().find(|t| {
        !matches!(
            t.kind,
            sql::TokenKind::Space | sql::TokenKind::Comment | sql::TokenKind::Semicolon
        )
    }) {
        Some(t) => &sql[..t.end],
        None => "",
    }
}

/// SQLite's message without rusqlite's wrapping.
pub(crate) fn sqlite_message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::sql_is;
    use rusqlite::types::Value;
    use rusqlite::Connection;

    #[test]
    fn sql_is_agrees_with_sqlite() {
        let conn = Connection::open_in_memory().unwrap();
        let values = [
            Value::Null,
            Value::Integer(1),
            Value::Real(1.0),
            Value::Real(1.5),
            Value::Text("1".into()),
            Value::Text("a".into()),
            Value::Text("A".into()),
            Value::Blob(b"a".to_vec()),
            Value::Integer(i64::MAX),
            Value::Real(i64::MAX as f64),
        ];
        for a in &values {
            for b in &values {
                let expected: bool = conn
                    .query_row("SELECT ?1 IS ?2", [a, b], |r| r.get(0))
                    .unwrap();
                assert_eq!(sql_is(a, b), expected, "{a:?} IS {b:?}");
            }
        }
    }
}

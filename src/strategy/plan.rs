//! The plan as the caller sees it ([`RebuildPlan`], [`PlanStep`], [`StepKind`]): the ordered
//! statements of a rebuild, each carrying what it acts on, renderable as a readable
//! script. The executor runs exactly these statements.

use super::context::PlanContext;
use crate::error::DependentKind;
use crate::sql::{qualified, with_literals};
use rusqlite::types::Value;
use std::fmt;
use std::sync::Arc;

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
    /// Rebuild a full-text index (FTS4/FTS5) from its external content table, whose values
    /// the rebuild rewrote without firing the triggers that keep the index in step.
    RebuildFullText,
    /// SQLite's own `ALTER TABLE ... ADD COLUMN / RENAME COLUMN / DROP COLUMN`, where it
    /// does all that was asked ([`Strategy::Alter`](crate::Strategy::Alter)): no copy.
    AlterTable,
    /// Give child rows back the foreign keys that quarantine set to NULL
    /// ([`Orphans::SetNull`](crate::Orphans::SetNull)).
    RestoreChildKeys,
    /// Keep the old table, with its rows, under another name
    /// ([`TableRebuild::keep_old_as`](crate::TableRebuild::keep_old_as)).
    KeepOld,
}

impl StepKind {
    pub(crate) fn describe(self) -> &'static str {
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
            StepKind::RebuildFullText => "rebuild a full-text index from the content the rebuild rewrote",
            StepKind::AlterTable => "SQLite's own ALTER TABLE does it: no row is copied",
            StepKind::KeepOld => "keep the old table, with its rows, under another name",
            StepKind::RestoreChildKeys => "give child rows back the keys quarantine set to NULL",
        }
    }
}

/// What a step acts on, beyond its statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Payload {
    None,
    /// The index or trigger it recreates; `build: false` only compiles it (a dry run's
    /// non-unique index: nothing it would find is a violation).
    Recreate {
        name: String,
        kind: DependentKind,
        build: bool,
        /// Created with double-quoted text read only as names.
        quotes_are_names: bool,
    },
    /// The child whose keys it rewrites.
    Follow {
        child: String,
    },
    /// The quarantine table whose rows it copies back.
    RestoreRows {
        from: String,
    },
    /// A child's quarantine table and the child its rows go back into.
    RestoreChild {
        child: String,
        quarantine: String,
    },
}

/// One SQL statement of a [`RebuildPlan`].
#[derive(Debug, Clone, PartialEq)]
pub struct PlanStep {
    kind: StepKind,
    title: String,
    sql: String,
    params: Vec<Value>,
    payload: Payload,
}

impl PlanStep {
    pub(crate) fn new(kind: StepKind, sql: String) -> Self {
        PlanStep {
            kind,
            title: kind.describe().to_owned(),
            sql,
            params: Vec::new(),
            payload: Payload::None,
        }
    }

    /// The step with values bound to its `?N` placeholders.
    pub(crate) fn bind(mut self, params: Vec<Value>) -> Self {
        self.params = params;
        self
    }

    /// The step with a title of its own, where the kind's description says too little.
    pub(crate) fn titled(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// The step acting on `payload`.
    pub(crate) fn on(mut self, payload: Payload) -> Self {
        self.payload = payload;
        self
    }

    pub(crate) fn payload(&self) -> &Payload {
        &self.payload
    }

    /// What the step does, in words (as the plan's Display shows it).
    pub fn title(&self) -> &str {
        &self.title
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
        with_literals(&self.sql, &self.params)
    }
}

/// The ordered steps of a rebuild, as [`TableRebuild::plan`](crate::TableRebuild::plan)
/// computes them against a live database.
///
/// `Display` renders the plan as a commented SQL script that a person can read: which
/// statements run, in which order, and which checks guard them. Values of remapping rules
/// appear as literals; execution binds them as parameters. The statements are the ones
/// [`TableRebuild::execute`](crate::TableRebuild::execute) runs.
#[derive(Debug, Clone)]
pub struct RebuildPlan {
    schema: String,
    table: String,
    steps: Vec<PlanStep>,
    checks: Vec<String>,
    context: Arc<PlanContext>,
}

impl PartialEq for RebuildPlan {
    fn eq(&self, other: &Self) -> bool {
        (&self.schema, &self.table, &self.steps, &self.checks)
            == (&other.schema, &other.table, &other.steps, &other.checks)
    }
}

impl RebuildPlan {
    pub(crate) fn new(steps: Vec<PlanStep>, checks: Vec<String>, context: PlanContext) -> Self {
        RebuildPlan {
            schema: context.facts.source.schema.clone(),
            table: context.facts.source.name.clone(),
            steps,
            checks,
            context: Arc::new(context),
        }
    }

    /// What the plan was worked out from.
    pub(crate) fn context(&self) -> &PlanContext {
        &self.context
    }

    /// The table being rebuilt.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The schema holding it (`main` unless chosen with [`TableRebuild::schema`](crate::TableRebuild::schema)).
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The steps in execution order.
    pub fn steps(&self) -> &[PlanStep] {
        &self.steps
    }

    /// Which way the rebuild goes: a copy, in place, or nothing to do.
    pub fn strategy(&self) -> crate::report::Strategy {
        self.context.strategy()
    }

    /// The target `CREATE TABLE`: the one given to
    /// [`create_sql`](crate::TableRebuild::create_sql), or the table's definition as the
    /// operations ([`add_column`](crate::TableRebuild::add_column), ...) edit it.
    pub fn target_sql(&self) -> &str {
        match &self.context.choice {
            super::Choice::Alter { stored_sql, .. } => stored_sql,
            _ => &self.context.facts.target.sql,
        }
    }

    /// Old columns the target has no place for: their values go.
    pub fn dropped_columns(&self) -> &[String] {
        &self.context.mapping.dropped
    }

    /// Target columns with no source, which take their DEFAULT.
    pub fn defaulted_columns(&self) -> &[String] {
        &self.context.mapping.defaulted
    }

    /// The checks that run before commit, described in words.
    pub fn checks(&self) -> &[String] {
        &self.checks
    }
}

impl fmt::Display for RebuildPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "-- sqlite-rebuild plan: rebuild {}",
            qualified(&self.schema, &self.table)
        )?;
        if self.context.facts.target.by_operations {
            writeln!(
                f,
                "-- target: {}",
                self.target_sql().replace('\n', "\n--   ")
            )?;
        }
        if matches!(self.context.choice, super::Choice::Alter { .. }) {
            writeln!(
                f,
                "-- SQLite's own ALTER TABLE, inside one transaction: no row is copied."
            )?;
        } else {
            writeln!(f, "-- Runs with foreign key enforcement off, inside one transaction (execute() does both).")?;
            writeln!(
                f,
                "-- Every row is validated against the target before the first destructive step."
            )?;
        }
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(f, "\n-- {}. {}", i + 1, step.title)?;
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
        if !self.context.mapping.dropped.is_empty() {
            writeln!(
                f,
                "\n-- columns dropped with their values: {}",
                self.context.mapping.dropped.join(", ")
            )?;
        }
        if !self.context.mapping.defaulted.is_empty() {
            writeln!(
                f,
                "-- columns filled with their DEFAULT: {}",
                self.context.mapping.defaulted.join(", ")
            )?;
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

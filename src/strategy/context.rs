//! What a plan was computed from, kept with it so that later layers (the script, the
//! executor) read the same facts instead of asking SQLite again.

use crate::introspect::Facts;
use crate::mapping::Mapping;
use crate::report::Strategy;

/// The two ways a rebuild can go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Choice {
    /// SQLite's generalized procedure: create, copy, drop, rename, recreate.
    Copy,
    /// The target is the table's current definition and nothing else is asked: nothing to
    /// do, and nothing is done.
    Unchanged,
    /// SQLite's own `ALTER TABLE` statements do it, as judged on a replica of the schema.
    Alter {
        /// The statements, in order.
        statements: Vec<AlterStatement>,
        /// The table's `CREATE TABLE` as SQLite stores it after them.
        stored_sql: String,
    },
    /// Only constraints change: switch the stored definition, remap in place.
    InPlace {
        /// Rows each rule changes, when the sample that chose this way was the whole
        /// table (so the executor need not count again).
        known_counts: Option<Vec<u64>>,
    },
}

/// One `ALTER TABLE` statement of a [`Choice::Alter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AlterStatement {
    pub sql: String,
    /// For a statement that checks the rows itself (`ADD CONSTRAINT`, `SET NOT NULL`): what
    /// it checks, and a condition that holds when a row would fail it, so a script can
    /// refuse by name first.
    pub row_check: Option<(String, String)>,
}

impl AlterStatement {
    pub(crate) fn new(sql: String) -> Self {
        AlterStatement {
            sql,
            row_check: None,
        }
    }
}

/// Who the steps are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// `execute` and `plan`: the copy counts the rules' hits as it goes.
    Execute,
    /// `validate`: rolled back, so non-unique indexes are compiled, not built, and no rule
    /// is counted.
    DryRun,
    /// `to_sql`: plain SQL text, no registered function.
    Script,
}

/// Everything a plan was worked out from.
#[derive(Debug)]
pub(crate) struct PlanContext {
    pub facts: Facts,
    pub mapping: Mapping,
    pub choice: Choice,
    pub purpose: Purpose,
    /// Why the plan cannot run as an SQL script, if it cannot.
    pub not_renderable: Option<String>,
}

impl PlanContext {
    pub(crate) fn in_place(&self) -> bool {
        matches!(self.choice, Choice::InPlace { .. })
    }

    /// SQLite's `ALTER TABLE` does it: no row is copied or rewritten by the crate.
    pub(crate) fn alters(&self) -> bool {
        matches!(self.choice, Choice::Alter { .. })
    }

    /// The way taken, as the caller sees it.
    pub(crate) fn strategy(&self) -> Strategy {
        match self.choice {
            Choice::Copy => Strategy::Copy,
            Choice::InPlace { .. } => Strategy::InPlace,
            Choice::Alter { .. } => Strategy::Alter,
            Choice::Unchanged => Strategy::Unchanged,
        }
    }
}

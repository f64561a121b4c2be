//! Progress reports for long rebuilds ([`Progress`], [`Phase`]), delivered to the callback
//! given with [`TableRebuild::on_progress`](crate::TableRebuild::on_progress).

use std::fmt;

/// The phase a [`Progress`] report is about, in the order they run. A change done
/// [in place](crate::RebuildReport::in_place) has no `Copy` or `Indexes` phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Reading the old table before anything is written: schema checks and the rows each
    /// rule changes. `total` is the old table's row count.
    Validate,
    /// Copying rows into the new table (every row is validated by the copy itself).
    /// Reported at least every 100,000 rows.
    Copy,
    /// Recreating indexes and triggers after the swap; `done` and `total` count them.
    Indexes,
    /// Checks before commit (row counts, foreign keys, views and triggers); `done` and
    /// `total` count the tables checked.
    Checks,
    /// Online rebuilds: applying the rows the application changed while the copy ran.
    /// `done` counts the changes applied, `total` is the change log's backlog.
    CatchUp,
    /// Online rebuilds: the one short transaction that swaps the tables.
    CutOver,
    /// Online rebuilds: the old table's rows deleted in chunks after the swap.
    Purge,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Validate => "validate",
            Phase::Copy => "copy",
            Phase::Indexes => "indexes",
            Phase::Checks => "checks",
            Phase::CatchUp => "catch-up",
            Phase::CutOver => "cut-over",
            Phase::Purge => "purge",
        })
    }
}

/// Where a rebuild is: its phase, and how much of it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Progress {
    phase: Phase,
    done: u64,
    total: u64,
}

impl Progress {
    pub(crate) fn new(phase: Phase, done: u64, total: u64) -> Self {
        Progress { phase, done, total }
    }

    /// The phase running.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Units done in this phase (rows for `Validate` and `Copy`).
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Units in this phase.
    pub fn total(&self) -> u64 {
        self.total
    }
}

//! What a rebuild did ([`RebuildReport`]): rows copied, each rule's count, dependents
//! recreated or dropped, children checked, rows moved to or from quarantine. Plain data with
//! a `Display`; execution fills it.

use super::ValidationReport;
use crate::sql::{ident, literal};
use rusqlite::types::Value;
use std::fmt;

/// What a successful rebuild did: rows copied, rows each remapping rule changed, dependents
/// recreated and children checked.
///
/// ```
/// use sqlite_rebuild::{rusqlite::Connection, TableRebuild};
///
/// let mut conn = Connection::open_in_memory()?;
/// conn.execute_batch(
///     "CREATE TABLE item (id INTEGER PRIMARY KEY, qty TEXT);
///      CREATE INDEX item_qty ON item (qty);
///      INSERT INTO item VALUES (1, '5'), (2, '-1'), (3, '0');",
/// )?;
/// // qty becomes an INTEGER: the table is copied.
/// let report = TableRebuild::new("item")
///     .create_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, qty INTEGER CHECK (qty >= 0))")
///     .remap("qty", "-1", 0)
///     .remap("qty", "7", 0) // matches nothing: the report says so
///     .execute(&mut conn)?;
/// assert_eq!(
///     report.to_string(),
///     r#"rebuilt "item": 3 rows copied
///   remap "qty": '-1' -> 0: 1 row
///   remap "qty": '7' -> 0: 0 rows (no row matched: check the value)
///   recreated: item_qty
/// "#
/// );
///
/// // Only a constraint changes: done in place, nothing copied.
/// let report = TableRebuild::new("item")
///     .create_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, qty INTEGER CHECK (qty < 10))")
///     .execute(&mut conn)?;
/// assert!(report.in_place());
/// assert_eq!(
///     report.to_string(),
///     "rebuilt \"item\" in place (only constraints changed, nothing copied): 3 rows checked\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RebuildReport {
    pub(crate) table: String,
    pub(crate) rows_copied: u64,
    pub(crate) rules: Vec<RuleReport>,
    pub(crate) recreated: Vec<String>,
    pub(crate) dropped: Vec<String>,
    pub(crate) children_checked: Vec<String>,
    pub(crate) quarantined: Vec<MovedRows>,
    pub(crate) quarantine_reports: Vec<ValidationReport>,
    pub(crate) restored: Vec<MovedRows>,
    pub(crate) keys_followed: Vec<(String, u64)>,
    pub(crate) keys_nulled: Vec<MovedRows>,
    pub(crate) dropped_columns: Vec<String>,
    pub(crate) defaulted_columns: Vec<String>,
    pub(crate) already_broken: Vec<String>,
    pub(crate) in_place: bool,
    pub(crate) strategy: Strategy,
}

impl RebuildReport {
    /// The rebuilt table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Rows in the rebuilt table: all of the old table's rows (plus any restored), copied,
    /// or kept where they were when the change was done [in place](Self::in_place); 0 when
    /// there was nothing to do ([`Strategy::Unchanged`]: no row was read).
    pub fn rows_copied(&self) -> u64 {
        self.rows_copied
    }

    /// Whether no row was copied: only constraints changed, so the stored definition was
    /// switched in place, or SQLite's `ALTER TABLE` did it ([`Strategy::Alter`]); indexes
    /// and triggers stayed as they were. A connection in `SQLITE_DBCONFIG_DEFENSIVE` mode
    /// never switches definitions in place.
    pub fn in_place(&self) -> bool {
        self.in_place
    }

    /// Which way the rebuild went: a copy, in place, or nothing to do.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Each remapping rule, in the order given, with the rows it changed.
    pub fn rules(&self) -> &[RuleReport] {
        &self.rules
    }

    /// The indexes, triggers and views dropped on request
    /// ([`TableRebuild::drop_dependent`](crate::TableRebuild::drop_dependent)).
    pub fn dropped(&self) -> &[String] {
        &self.dropped
    }

    /// Old columns the target has no place for, whose values went (each named with
    /// [`drop_column`](crate::TableRebuild::drop_column), or holding only NULLs).
    pub fn dropped_columns(&self) -> &[String] {
        &self.dropped_columns
    }

    /// Target columns that had no source and took their DEFAULT in every row.
    pub fn defaulted_columns(&self) -> &[String] {
        &self.defaulted_columns
    }

    /// Views and triggers that already failed to compile before the rebuild, so could not be
    /// checked (each is logged as a warning); every other one was.
    pub fn already_broken(&self) -> &[String] {
        &self.already_broken
    }

    /// Indexes and triggers recreated after the swap, by name.
    pub fn recreated(&self) -> &[String] {
        &self.recreated
    }

    /// Child tables whose foreign keys were checked before commit.
    pub fn children_checked(&self) -> &[String] {
        &self.children_checked
    }

    /// Rows moved into quarantine tables under [`OnViolation::Quarantine`](crate::OnViolation::Quarantine): the table's
    /// own rows first, then the child rows that referenced them. Empty otherwise.
    pub fn quarantined(&self) -> &[MovedRows] {
        &self.quarantined
    }

    /// Why rows were quarantined: the violations found, one report per pass (a second pass
    /// happens only when moving rows made others violate, e.g. a self-referencing key).
    pub fn quarantine_reports(&self) -> &[ValidationReport] {
        &self.quarantine_reports
    }

    /// Child tables (and their children, where a followed column is their key) whose
    /// foreign key values were rewritten to follow remapped keys of the rebuilt table, with
    /// the number of row updates in each (a row whose several keys follow counts once per
    /// key).
    pub fn keys_followed(&self) -> &[(String, u64)] {
        &self.keys_followed
    }

    /// Under [`Orphans::SetNull`](crate::Orphans::SetNull) or
    /// [`Orphans::OnDelete`](crate::Orphans::OnDelete): per child, the rows kept with their
    /// foreign key set to NULL, from the child to the table that keeps the keys.
    pub fn keys_nulled(&self) -> &[MovedRows] {
        &self.keys_nulled
    }

    /// Rows put back from quarantine tables by
    /// [`TableRebuild::restore_from`](crate::TableRebuild::restore_from).
    pub fn restored(&self) -> &[MovedRows] {
        &self.restored
    }
}

impl fmt::Display for RebuildReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.strategy == Strategy::Unchanged {
            return writeln!(
                f,
                "nothing to do for {}: the target is its current definition; nothing was changed",
                ident(&self.table)
            );
        }
        if self.strategy == Strategy::Alter {
            writeln!(
                f,
                "changed {} with SQLite's own ALTER TABLE: nothing copied",
                ident(&self.table)
            )?;
        } else if self.in_place {
            writeln!(
                f,
                "rebuilt {} in place (only constraints changed, nothing copied): {} {} checked",
                ident(&self.table),
                self.rows_copied,
                rows(self.rows_copied)
            )?;
        } else {
            writeln!(
                f,
                "rebuilt {}: {} {} copied",
                ident(&self.table),
                self.rows_copied,
                rows(self.rows_copied)
            )?;
        }
        for r in &self.rules {
            writeln!(f, "  {r}")?;
        }
        if !self.recreated.is_empty() {
            writeln!(f, "  recreated: {}", self.recreated.join(", "))?;
        }
        if !self.dropped.is_empty() {
            writeln!(f, "  dropped on request: {}", self.dropped.join(", "))?;
        }
        if !self.already_broken.is_empty() {
            writeln!(
                f,
                "  already broken before the rebuild, not checked: {}",
                self.already_broken.join(", ")
            )?;
        }
        if !self.dropped_columns.is_empty() {
            writeln!(f, "  columns dropped: {}", self.dropped_columns.join(", "))?;
        }
        if !self.defaulted_columns.is_empty() {
            writeln!(
                f,
                "  columns filled with their DEFAULT: {}",
                self.defaulted_columns.join(", ")
            )?;
        }
        if !self.children_checked.is_empty() {
            writeln!(
                f,
                "  children intact and checked: {}",
                self.children_checked.join(", ")
            )?;
        }
        for (child, n) in &self.keys_followed {
            writeln!(
                f,
                "  foreign keys of {} followed the remapped keys: {n} {}",
                ident(child),
                rows(*n)
            )?;
        }
        for m in &self.quarantined {
            writeln!(f, "  quarantined: {m}")?;
        }
        for m in &self.restored {
            writeln!(f, "  restored: {m}")?;
        }
        Ok(())
    }
}

/// Which way a rebuild went (or would go).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Strategy {
    /// SQLite's generalized procedure: a new table, the rows copied, the old one dropped.
    Copy,
    /// Only constraints change: the stored definition switched in place, no row copied.
    InPlace,
    /// SQLite's own `ALTER TABLE` (`ADD COLUMN`, `RENAME COLUMN`, `DROP COLUMN`) was
    /// enough: no row copied, no index rebuilt.
    Alter,
    /// The target is the table's current definition and nothing else was asked: nothing
    /// was done (no schema change, no row read).
    Unchanged,
}

/// One remapping rule and the rows it changed.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleReport {
    column: String,
    /// `None` for a closure rule.
    values: Option<(Value, Value)>,
    rows_changed: u64,
}

impl RuleReport {
    pub(crate) fn new(column: String, values: Option<(Value, Value)>, rows_changed: u64) -> Self {
        RuleReport {
            column,
            values,
            rows_changed,
        }
    }

    /// The target column of the rule.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The value replaced (`None` for a [`remap_with`](crate::TableRebuild::remap_with)
    /// closure rule).
    pub fn from(&self) -> Option<&Value> {
        self.values.as_ref().map(|(from, _)| from)
    }

    /// The value written instead (`None` for a closure rule).
    pub fn to(&self) -> Option<&Value> {
        self.values.as_ref().map(|(_, to)| to)
    }

    /// Rows whose value this rule changed (a value rule: rows whose value matched `from`; a
    /// closure rule: rows whose value it returned different). Zero often means a typo in
    /// `from`; it is reported, not an error.
    pub fn rows_changed(&self) -> u64 {
        self.rows_changed
    }
}

impl fmt::Display for RuleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.values {
            Some((from, to)) => write!(
                f,
                "remap {}: {} -> {}",
                ident(&self.column),
                literal(from),
                literal(to)
            )?,
            None => write!(f, "remap {} with a closure", ident(&self.column))?,
        }
        write!(f, ": {} {}", self.rows_changed, rows(self.rows_changed))?;
        if self.rows_changed == 0 {
            match self.values {
                Some(_) => write!(f, " (no row matched: check the value)")?,
                None => write!(f, " (it changed no value)")?,
            }
        }
        Ok(())
    }
}

/// Rows moved from one table to another: into quarantine, or back from it.
///
/// Listed by [`RebuildReport::quarantined`](crate::RebuildReport::quarantined) and
/// [`RebuildReport::restored`](crate::RebuildReport::restored).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MovedRows {
    from: String,
    to: String,
    rows: u64,
}

impl MovedRows {
    /// The table the rows left.
    pub fn from_table(&self) -> &str {
        &self.from
    }

    /// The table that holds them now.
    pub fn to_table(&self) -> &str {
        &self.to
    }

    /// How many rows moved.
    pub fn rows(&self) -> u64 {
        self.rows
    }
}

impl fmt::Display for MovedRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} from {} to {}",
            self.rows,
            if self.rows == 1 { "row" } else { "rows" },
            ident(&self.from),
            ident(&self.to)
        )
    }
}

impl MovedRows {
    pub(crate) fn new(from: &str, to: &str, rows: u64) -> MovedRows {
        MovedRows {
            from: from.to_owned(),
            to: to.to_owned(),
            rows,
        }
    }

    /// Whether it records a move between the same two tables as `other`.
    pub(crate) fn same_route(&self, from: &str, to: &str) -> bool {
        self.from.eq_ignore_ascii_case(from) && self.to.eq_ignore_ascii_case(to)
    }

    /// Adds `m` to `all`, summing moves between the same two tables.
    pub(crate) fn merge_into(all: &mut Vec<MovedRows>, m: MovedRows) {
        match all.iter_mut().find(|x| x.same_route(&m.from, &m.to)) {
            Some(x) => x.rows += m.rows,
            None => all.push(m),
        }
    }

    pub(crate) fn add(&mut self, rows: u64) {
        self.rows += rows;
    }
}

fn rows(n: u64) -> &'static str {
    if n == 1 {
        "row"
    } else {
        "rows"
    }
}

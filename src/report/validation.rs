//! What validation finds ([`ValidationReport`]): each violated constraint with its exact
//! count and a bounded sample of rows. Plain data with a `Display`; the crate's validation
//! fills it.

use crate::sql::{ident, literal};
use rusqlite::types::Value;
use std::fmt;

/// The kind of constraint a row violates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConstraintKind {
    /// A `CHECK` constraint.
    Check,
    /// A `NOT NULL` column.
    NotNull,
    /// A `UNIQUE` constraint or unique index: every row after the first of a group violates.
    Unique,
    /// The `PRIMARY KEY`: duplicates, or a non-integer `INTEGER PRIMARY KEY`.
    PrimaryKey,
    /// A `FOREIGN KEY` of the target that finds no parent row.
    ForeignKey,
    /// A `STRICT` column's type.
    Datatype,
}

impl fmt::Display for ConstraintKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConstraintKind::Check => "CHECK",
            ConstraintKind::NotNull => "NOT NULL",
            ConstraintKind::Unique => "UNIQUE",
            ConstraintKind::PrimaryKey => "PRIMARY KEY",
            ConstraintKind::ForeignKey => "FOREIGN KEY",
            ConstraintKind::Datatype => "STRICT type",
        })
    }
}

/// How a constraint is named to people: `CHECK ck_phase`, or the name alone when it
/// already says what kind it is (`NOT NULL(name)`, `UNIQUE(email)`).
pub(crate) fn label(kind: ConstraintKind, name: &str) -> String {
    let kind = kind.to_string();
    if name.to_ascii_uppercase().contains(&format!("{kind}(")) {
        name.to_owned()
    } else {
        format!("{kind} {name}")
    }
}

/// A row shown as an example of a violation.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRow {
    rowid: Option<i64>,
    values: Vec<(String, Value)>,
}

impl SampleRow {
    pub(crate) fn new(rowid: Option<i64>, values: Vec<(String, Value)>) -> Self {
        SampleRow { rowid, values }
    }

    /// The row's rowid in the old table (`None` for WITHOUT ROWID tables).
    pub fn rowid(&self) -> Option<i64> {
        self.rowid
    }

    /// The values that matter for the constraint, as the target would store them (after
    /// remapping), with their column names.
    pub fn values(&self) -> &[(String, Value)] {
        &self.values
    }
}

impl fmt::Display for SampleRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rowid {
            Some(id) => write!(f, "rowid {id}:")?,
            None => write!(f, "row:")?,
        }
        for (i, (name, value)) in self.values.iter().enumerate() {
            let mut text = literal(value);
            if text.chars().count() > 60 {
                text = text.chars().take(57).collect::<String>() + "...";
            }
            write!(
                f,
                "{} {}={text}",
                if i == 0 { "" } else { "," },
                ident(name)
            )?;
        }
        Ok(())
    }
}

/// The violations of one constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstraintViolations {
    name: String,
    kind: ConstraintKind,
    expression: Option<String>,
    count: u64,
    samples: Vec<SampleRow>,
}

impl ConstraintViolations {
    pub(crate) fn new(
        name: String,
        kind: ConstraintKind,
        expression: Option<String>,
        count: u64,
        samples: Vec<SampleRow>,
    ) -> Self {
        ConstraintViolations {
            name,
            kind,
            expression,
            count,
            samples,
        }
    }

    /// How the report names it (see [`label`]).
    pub(crate) fn label(&self) -> String {
        label(self.kind, &self.name)
    }

    /// The constraint's name: its `CONSTRAINT` name, else its expression or a description
    /// such as `NOT NULL(phase)`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What kind of constraint it is.
    pub fn kind(&self) -> ConstraintKind {
        self.kind
    }

    /// The CHECK expression, for CHECK constraints.
    pub fn expression(&self) -> Option<&str> {
        self.expression.as_deref()
    }

    /// Exactly how many rows violate it.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The first offending rows, at most the rebuild's sample size.
    pub fn samples(&self) -> &[SampleRow] {
        &self.samples
    }
}

/// Which existing rows would violate the target table's constraints.
///
/// Returned by [`TableRebuild::validate`](crate::TableRebuild::validate) and carried by
/// [`Error::Violations`](crate::Error::Violations). `Display` lists each violated constraint
/// by name with its exact count and sample rows:
///
/// ```
/// use sqlite_rebuild::{rusqlite::Connection, TableRebuild};
///
/// let conn = Connection::open_in_memory()?;
/// conn.execute_batch(
///     "CREATE TABLE item (id INTEGER PRIMARY KEY, qty INTEGER);
///      INSERT INTO item VALUES (1, 5), (2, -1), (3, 0);",
/// )?;
/// let report = TableRebuild::new("item")
///     .create_sql("CREATE TABLE item (id INTEGER PRIMARY KEY,
///                                     qty INTEGER CONSTRAINT qty_positive CHECK (qty > 0))")
///     .validate(&conn)?;
/// assert_eq!(
///     report.to_string(),
///     r#"2 of 3 rows of "item" would violate the target's constraints:
///   CHECK qty_positive: 2 rows
///       rowid 2: "id"=2, "qty"=-1
///       rowid 3: "id"=3, "qty"=0
/// Nothing was changed. Remap the offending values (.remap, .remap_null, .remap_with), move them aside (.on_violation(OnViolation::Quarantine)), or change the target."#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationReport {
    table: String,
    rows_checked: u64,
    violation_count: u64,
    constraints: Vec<ConstraintViolations>,
    dropped_columns: Vec<String>,
    defaulted_columns: Vec<String>,
}

impl ValidationReport {
    pub(crate) fn new(
        table: &str,
        rows_checked: u64,
        violation_count: u64,
        constraints: Vec<ConstraintViolations>,
    ) -> Self {
        ValidationReport {
            table: table.to_owned(),
            rows_checked,
            violation_count,
            constraints,
            dropped_columns: Vec::new(),
            defaulted_columns: Vec::new(),
        }
    }

    /// The report, saying which old columns go and which target columns take their DEFAULT.
    pub(crate) fn with_columns(mut self, dropped: &[String], defaulted: &[String]) -> Self {
        self.dropped_columns = dropped.to_vec();
        self.defaulted_columns = defaulted.to_vec();
        self
    }

    /// Old columns the target has no place for: the rebuild would drop their values.
    pub fn dropped_columns(&self) -> &[String] {
        &self.dropped_columns
    }

    /// Target columns with no source, which would take their DEFAULT.
    pub fn defaulted_columns(&self) -> &[String] {
        &self.defaulted_columns
    }

    pub(crate) fn clean(table: &str, rows_checked: u64) -> Self {
        Self::new(table, rows_checked, 0, Vec::new())
    }

    /// The table validated.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Whether every row satisfies the target.
    pub fn is_ok(&self) -> bool {
        self.violation_count == 0
    }

    /// Rows of the old table that were checked.
    pub fn rows_checked(&self) -> u64 {
        self.rows_checked
    }

    /// Rows that would violate at least one constraint of the target, after remapping.
    pub fn violation_count(&self) -> u64 {
        self.violation_count
    }

    /// The violated constraints, each with its exact count and sample rows.
    pub fn constraints(&self) -> &[ConstraintViolations] {
        &self.constraints
    }

    /// The violations of the constraint called `name` (case-insensitive), if any.
    pub fn constraint(&self, name: &str) -> Option<&ConstraintViolations> {
        self.constraints
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            write!(
                f,
                "all {} rows of {} satisfy the target's constraints",
                self.rows_checked,
                ident(&self.table)
            )?;
            if !self.dropped_columns.is_empty() {
                write!(f, "; columns dropped: {}", self.dropped_columns.join(", "))?;
            }
            if !self.defaulted_columns.is_empty() {
                write!(
                    f,
                    "; columns filled with their DEFAULT: {}",
                    self.defaulted_columns.join(", ")
                )?;
            }
            return Ok(());
        }
        writeln!(
            f,
            "{} of {} rows of {} would violate the target's constraints:",
            self.violation_count,
            self.rows_checked,
            ident(&self.table)
        )?;
        for c in &self.constraints {
            let rows = if c.count == 1 { "row" } else { "rows" };
            writeln!(f, "  {}: {} {rows}", c.label(), c.count)?;
            for s in &c.samples {
                writeln!(f, "      {s}")?;
            }
            let more = c.count.saturating_sub(c.samples.len() as u64);
            if more > 0 {
                writeln!(f, "      ... and {more} more")?;
            }
        }
        write!(f, "Nothing was changed. Remap the offending values (.remap, .remap_null, .remap_with), move them aside (.on_violation(OnViolation::Quarantine)), or change the target.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_do_not_repeat_the_kind() {
        let c = |name: &str, kind| ConstraintViolations::new(name.into(), kind, None, 1, vec![]);
        assert_eq!(
            c("NOT NULL(name)", ConstraintKind::NotNull).label(),
            "NOT NULL(name)"
        );
        assert_eq!(
            c("UNIQUE(username)", ConstraintKind::Unique).label(),
            "UNIQUE(username)"
        );
        assert_eq!(
            c("INTEGER PRIMARY KEY(id)", ConstraintKind::PrimaryKey).label(),
            "INTEGER PRIMARY KEY(id)"
        );
        assert_eq!(
            c(
                "FOREIGN KEY(a) REFERENCES p(id)",
                ConstraintKind::ForeignKey
            )
            .label(),
            "FOREIGN KEY(a) REFERENCES p(id)"
        );
        assert_eq!(
            c("ck_phase", ConstraintKind::Check).label(),
            "CHECK ck_phase"
        );
        assert_eq!(
            c("t_email", ConstraintKind::Unique).label(),
            "UNIQUE t_email"
        );
        assert_eq!(
            c("n INTEGER", ConstraintKind::Datatype).label(),
            "STRICT type n INTEGER"
        );
    }
}

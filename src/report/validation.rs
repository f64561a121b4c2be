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
    /// The column that is the rowid (an INTEGER PRIMARY KEY), not shown twice.
    rowid_alias: Option<String>,
    collides_with: Option<i64>,
}

impl SampleRow {
    pub(crate) fn new(rowid: Option<i64>, values: Vec<(String, Value)>) -> Self {
        SampleRow {
            rowid,
            values,
            rowid_alias: None,
            collides_with: None,
        }
    }

    pub(crate) fn with_rowid_alias(mut self, column: Option<&str>) -> Self {
        self.rowid_alias = column.map(str::to_owned);
        self
    }

    pub(crate) fn colliding_with(mut self, rowid: Option<i64>) -> Self {
        self.collides_with = rowid;
        self
    }

    /// For a UNIQUE or PRIMARY KEY violation: the rowid of the row (the first of its key)
    /// that this one collides with.
    pub fn collides_with(&self) -> Option<i64> {
        self.collides_with
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
        // `rowid 10: "id"=10` says it twice: the rowid alias is shown once.
        let shown = self.values.iter().filter(|(name, value)| {
            let is_alias = self
                .rowid_alias
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(name));
            !(is_alias && self.rowid.is_some() && *value == Value::Integer(self.rowid.unwrap_or(0)))
        });
        for (i, (name, value)) in shown.enumerate() {
            write!(
                f,
                "{} {}={}",
                if i == 0 { "" } else { "," },
                ident(name),
                short(value)
            )?;
        }
        if let Some(other) = self.collides_with {
            write!(f, " (the same key as rowid {other})")?;
        }
        Ok(())
    }
}

/// A value as a report shows it: SQL, long ones cut short.
fn short(value: &Value) -> String {
    let text = literal(value);
    if text.chars().count() > 60 {
        text.chars().take(57).collect::<String>() + "..."
    } else {
        text
    }
}

/// A value as Rust source for a `.remap` line, when it can be one.
fn rust_literal(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some("None::<&str>".to_owned()),
        Value::Integer(i) => Some(format!("{i}i64")),
        Value::Real(r) if r.is_finite() => Some(format!("{r:?}")),
        Value::Text(t) => Some(format!("{t:?}")),
        _ => None,
    }
}

/// One distinct combination of offending values and how many rows hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueCount {
    values: Vec<(String, Value)>,
    rows: u64,
}

impl ValueCount {
    pub(crate) fn new(values: Vec<(String, Value)>, rows: u64) -> Self {
        ValueCount { values, rows }
    }

    /// The constraint's columns and their values, as the target would store them.
    pub fn values(&self) -> &[(String, Value)] {
        &self.values
    }

    /// How many violating rows hold exactly these values.
    pub fn rows(&self) -> u64 {
        self.rows
    }
}

impl fmt::Display for ValueCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .values
            .iter()
            .map(|(name, value)| format!("{} = {}", ident(name), short(value)))
            .collect();
        let rows = if self.rows == 1 { "row" } else { "rows" };
        write!(f, "{}: {} {rows}", parts.join(", "), self.rows)
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
    values: Vec<ValueCount>,
    /// For a CHECK of the form `column IN (...)`: the column and the values it admits.
    allowed: Option<(String, Vec<Value>)>,
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
            values: Vec::new(),
            allowed: None,
        }
    }

    pub(crate) fn with_values(
        mut self,
        values: Vec<ValueCount>,
        allowed: Option<(String, Vec<Value>)>,
    ) -> Self {
        self.values = values;
        self.allowed = allowed;
        self
    }

    /// The distinct offending values of the constraint's columns, most frequent first,
    /// with their row counts (at most the rebuild's sample size of them).
    pub fn distinct_values(&self) -> &[ValueCount] {
        &self.values
    }

    /// For a CHECK that admits a list of values (`phase IN ('a', 'b')`): the values it
    /// admits.
    pub fn allowed_values(&self) -> Option<&[Value]> {
        self.allowed.as_ref().map(|(_, v)| v.as_slice())
    }

    /// The rules that would resolve the violations, as Rust lines to paste and complete:
    /// `.remap("phase", "action", ?)` for each offending value of an `IN (...)` CHECK (the
    /// admitted values listed beside it), `.remap_null("col", ?)` for a NOT NULL column.
    pub fn suggested_remaps(&self) -> Vec<String> {
        let mut out = Vec::new();
        match (&self.allowed, self.kind) {
            (Some((column, allowed)), ConstraintKind::Check) => {
                let choices: Vec<String> = allowed.iter().map(literal).collect();
                for v in &self.values {
                    let Some((_, value)) = v
                        .values
                        .iter()
                        .find(|(c, _)| c.eq_ignore_ascii_case(column))
                    else {
                        continue;
                    };
                    if let Some(from) = rust_literal(value) {
                        out.push(format!(
                            ".remap({column:?}, {from}, ?) // one of {}",
                            choices.join(", ")
                        ));
                    }
                }
            }
            (_, ConstraintKind::NotNull) => {
                if let Some((column, _)) = self.values.first().and_then(|v| v.values.first()) {
                    out.push(format!(".remap_null({column:?}, ?)"));
                }
            }
            _ => {}
        }
        out
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
/// by name with its exact count, the distinct offending values with their counts (when they
/// say more than the rows), the `.remap` lines that would resolve a CHECK admitting a list
/// of values, and sample rows; a duplicate names the row it collides with:
///
/// ```
/// use sqlite_rebuild::{rusqlite::Connection, TableRebuild};
///
/// let conn = Connection::open_in_memory()?;
/// conn.execute_batch(
///     "CREATE TABLE task (id INTEGER PRIMARY KEY, state TEXT, email TEXT);
///      INSERT INTO task VALUES (1, 'todo', 'a'), (2, 'wip', 'b'), (3, 'wip', 'a'), (4, 'done', 'c');",
/// )?;
/// let report = TableRebuild::new("task")
///     .add_check("state_known", "state IN ('todo', 'done')")
///     .alter_column("email", "TEXT UNIQUE")
///     .validate(&conn)?;
/// assert_eq!(
///     report.to_string(),
///     r#"2 of 4 rows of "task" would violate the target's constraints:
///   CHECK state_known: 2 rows
///       "state" = 'wip': 2 rows
///       fix: .remap("state", "wip", ?) // one of 'todo', 'done'
///       rowid 2: "state"='wip'
///       rowid 3: "state"='wip'
///   UNIQUE(email): 1 row
///       rowid 3: "email"='a' (the same key as rowid 1)
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
            // The values first when they say more than the rows: fewer of them, or a key.
            if c.values.len() > 1 || c.values.first().is_some_and(|v| v.rows > 1) {
                for v in &c.values {
                    writeln!(f, "      {v}")?;
                }
            }
            for line in c.suggested_remaps() {
                writeln!(f, "      fix: {line}")?;
            }
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

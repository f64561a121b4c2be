//! Validation: which existing rows would violate the target's constraints, counted exactly
//! per constraint, with a bounded sample of each ([`ValidationReport`]).
//!
//! Rows are evaluated as the target would store them: they are copied, through the same
//! column expressions and remapping rules, into a constraint-free TEMP table that declares
//! the target's types, collations, defaults and generated columns. Each constraint is then
//! a predicate over that table, so affinity, collation and the CHECK rule that only a
//! numeric 0 fails come from SQLite itself.

use crate::builder::TableRebuild;
use crate::error::{Error, Result};
use crate::execute::{self, ForeignKeysOff, Savepoint};
use crate::plan::{self, Prepared};
use crate::quote::{ident, literal, qualified};
use crate::schema;
use crate::sql;
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};
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

/// A row shown as an example of a violation.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRow {
    rowid: Option<i64>,
    values: Vec<(String, Value)>,
}

impl SampleRow {
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
}

impl ValidationReport {
    pub(crate) fn clean(table: &str, rows_checked: u64) -> Self {
        ValidationReport {
            table: table.to_owned(),
            rows_checked,
            violation_count: 0,
            constraints: Vec::new(),
        }
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
            return write!(
                f,
                "all {} rows of {} satisfy the target's constraints",
                self.rows_checked,
                ident(&self.table)
            );
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
            writeln!(f, "  {} {}: {} {rows}", c.kind, c.name, c.count)?;
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

/// `TableRebuild::validate`.
pub(crate) fn validate(conn: &Connection, rb: &TableRebuild) -> Result<ValidationReport> {
    let _fk = ForeignKeysOff::engage(conn, &rb.table)?;
    let mut p = plan::prepare(conn, rb)?;
    p.dry_run = true;
    let _functions = execute::RemapFunctions::register(conn, &p)?;
    execute::dry_run(conn, &p, rb.sample_size)
}

/// One constraint as a predicate over the staging table.
pub(crate) struct Probe {
    pub name: String,
    pub kind: ConstraintKind,
    pub expression: Option<String>,
    pub predicate: String,
    pub show: Vec<String>,
}

/// Counts every constraint's violations exactly; changes nothing (its own savepoint).
pub(crate) fn diagnose(
    conn: &Connection,
    p: &Prepared,
    sample_size: usize,
) -> Result<ValidationReport> {
    let sp = Savepoint::begin(conn, "sqlite_rebuild_diagnose")?;
    let report = diagnose_in(conn, p, sample_size);
    drop(sp);
    report
}

/// The constraint-free TEMP table that holds every row as the target would store it.
pub(crate) struct Staging {
    /// `"temp"."<name>"`.
    pub table: String,
    /// Quoted name of its own INTEGER PRIMARY KEY (the copy order).
    pub seq: String,
    /// Quoted name of the column saying where a row comes from: 0 for the old table, 1 for
    /// the quarantine table being restored.
    pub origin: String,
    /// Quoted names of the columns holding the old row's key (its rowid, or its primary
    /// key in a WITHOUT ROWID table); NULL for restored rows.
    pub keys: Vec<String>,
    /// Whether `keys` is a single rowid.
    pub keys_are_rowid: bool,
    pub create: String,
    /// Fill it: from the old table, then from the quarantine table being restored. They
    /// bind the copy's parameters.
    pub inserts: Vec<String>,
    /// Run after the inserts (no parameters): give each NULL INTEGER PRIMARY KEY the rowid
    /// SQLite would assign it in the copy.
    pub assign_rowids: Option<String>,
}

/// The UPDATE that replaces NULLs in the staged INTEGER PRIMARY KEY `ipk` by the rowids
/// SQLite assigns during the copy: one more than the largest key inserted before (1 in an
/// empty table). For a NULL row s, that is c(s) + max(key(j) - c(j)) over the keyed rows j
/// before it, where c counts NULL rows so far (plus 0 when the first row is NULL). A later
/// row with an explicit key can then collide with an assigned one, as it does in SQLite.
fn assign_rowids_sql(stage_q: &str, seq: &str, ipk: &str) -> String {
    // MATERIALIZED: computed once, from the rows as staged, before any is updated.
    format!(
        "WITH counted AS MATERIALIZED (
  SELECT {seq} AS s, {ipk} AS k, sum({ipk} IS NULL) OVER (ORDER BY {seq} ROWS UNBOUNDED PRECEDING) AS c
  FROM {stage_q}),
runs AS MATERIALIZED (
  SELECT s, c, max(CASE WHEN typeof(k) = 'integer' THEN k - c END) OVER (ORDER BY s ROWS UNBOUNDED PRECEDING) AS m
  FROM counted),
first AS (SELECT CASE WHEN k IS NULL THEN 0 END AS z FROM counted ORDER BY s LIMIT 1)
UPDATE {stage_q} SET {ipk} = runs.c + coalesce(max(runs.m, (SELECT z FROM first)), runs.m, (SELECT z FROM first))
FROM runs WHERE runs.s = {stage_q}.{seq} AND {stage_q}.{ipk} IS NULL"
    )
}

impl Staging {
    /// Gives the staged NULL keys their rowids ([`Staging::assign_rowids`]), if needed.
    pub(crate) fn number_null_keys(&self, conn: &Connection) -> rusqlite::Result<()> {
        match &self.assign_rowids {
            Some(sql) => conn.execute_batch(sql),
            None => Ok(()),
        }
    }
}

pub(crate) fn staging(p: &Prepared, name: &str) -> Staging {
    let table = &p.source.name;
    let taken = |n: &str| p.target.column(n).is_some();
    let free = |base: &str| {
        let mut n = base.to_owned();
        while taken(&n) {
            n.push('_');
        }
        ident(&n)
    };
    let seq = free("sqlite_rebuild_seq");
    let origin = free("sqlite_rebuild_origin");
    let row_key = p.source.row_key();
    let keys: Vec<String> = (1..=row_key.len())
        .map(|i| free(&format!("sqlite_rebuild_key{i}")))
        .collect();

    let mut defs = vec![format!("{seq} INTEGER PRIMARY KEY"), origin.clone()];
    defs.extend(keys.iter().cloned());
    for c in &p.target_def.columns {
        let ty = if p.target_def.strict && c.type_text.eq_ignore_ascii_case("ANY") {
            ""
        } else {
            &c.type_text
        };
        let mut def = format!("{} {ty}", ident(&c.name));
        if let Some(coll) = &c.collation {
            def += &format!(" COLLATE {}", ident(coll));
        }
        if let Some(d) = &c.default_clause {
            def += &format!(" {d}");
        }
        if let Some(g) = &c.generated_clause {
            def += &format!(" {g}");
        }
        defs.push(def);
    }
    let stage_q = qualified("temp", name);
    let create = format!("CREATE TABLE {stage_q} ({})", defs.join(", "));
    let (ins, sel): (Vec<&String>, Vec<&String>) = p
        .insert_columns
        .iter()
        .zip(&p.select_exprs)
        .skip(usize::from(p.copies_rowid))
        .unzip();
    let cols: Vec<String> = std::iter::once(origin.clone())
        .chain(keys.iter().cloned())
        .chain(ins.into_iter().cloned())
        .collect();
    let insert = |origin: u8, key_exprs: Vec<String>, from: String| {
        let exprs: Vec<String> = std::iter::once(origin.to_string())
            .chain(key_exprs)
            .chain(sel.iter().map(|s| s.to_string()))
            .collect();
        format!(
            "INSERT INTO {stage_q} ({}) SELECT {} FROM {from}",
            cols.join(", "),
            exprs.join(", ")
        )
    };
    let mut inserts = vec![insert(
        0,
        row_key
            .iter()
            .map(|k| format!("{}.{}", ident(table), ident(k)))
            .collect(),
        p.source.qualified(),
    )];
    if let Some(r) = &p.restore {
        inserts.push(insert(
            1,
            row_key.iter().map(|_| "NULL".to_owned()).collect(),
            format!("{} AS {}", r.table.qualified(), ident(table)),
        ));
    }
    // Only a key that can be NULL needs it: not one copied from the old table's own rowid.
    let assign_rowids = p.target.ipk.as_ref().and_then(|ipk| {
        let copied_rowid = p
            .source
            .ipk
            .as_ref()
            .is_some_and(|old| p.copies_unchanged(ipk, old));
        (!copied_rowid).then(|| assign_rowids_sql(&stage_q, &seq, &ident(ipk)))
    });
    Staging {
        table: stage_q,
        seq,
        origin,
        keys,
        keys_are_rowid: p.source.rowid_name().is_some(),
        create,
        inserts,
        assign_rowids,
    }
}

fn diagnose_in(conn: &Connection, p: &Prepared, sample_size: usize) -> Result<ValidationReport> {
    let table = &p.source.name;
    let fail = |what: &str| Error::sqlite(format!("{what} (validating \"{table}\")"));
    let stage = schema::free_name(conn, "temp", &format!("{table}__rebuild_check"))?;
    let staged = staging(p, &stage);
    let (stage_q, seq) = (staged.table.clone(), staged.seq.clone());
    let src = if staged.keys_are_rowid {
        staged.keys[0].clone()
    } else {
        "NULL".to_owned()
    };
    conn.execute_batch(&staged.create)
        .map_err(fail("creating the staging table"))?;
    let mut rows_checked = 0;
    for insert in &staged.inserts {
        rows_checked += conn
            .prepare(insert)
            .and_then(|mut s| s.execute(params_from_iter(&p.params)))
            .map_err(fail("staging rows"))? as u64;
    }
    staged
        .number_null_keys(conn)
        .map_err(fail("assigning rowids to NULL keys"))?;

    let alias = ident(&p.target_def.name);
    let probes = probes(conn, p, &stage_q, &seq, &alias)?;
    let pk_show: Vec<String> = p
        .target
        .pk_columns()
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let mut constraints = Vec::new();
    let mut usable = Vec::new();
    for probe in probes {
        let count_sql = format!(
            "SELECT count(*) FROM {stage_q} AS {alias} WHERE {}",
            probe.predicate
        );
        let count: u64 = match conn.query_row(&count_sql, [], |r| r.get::<_, i64>(0)) {
            Ok(n) => n as u64,
            Err(e) => {
                // A dependent the target breaks; the rebuild reports it by name.
                log::warn!("cannot evaluate {} {}: {e}", probe.kind, probe.name);
                continue;
            }
        };
        usable.push(format!("({})", probe.predicate));
        if count == 0 {
            continue;
        }
        let mut show: Vec<String> = pk_show.clone();
        for c in &probe.show {
            if !show.iter().any(|s| s.eq_ignore_ascii_case(c)) {
                show.push(c.clone());
            }
        }
        if show.is_empty() {
            show = p.target.columns.iter().map(|c| c.name.clone()).collect();
        }
        let select: Vec<String> = show
            .iter()
            .map(|c| format!("{alias}.{}", ident(c)))
            .collect();
        let sample_sql = format!(
            "SELECT {src}, {} FROM {stage_q} AS {alias} WHERE {} ORDER BY {alias}.{seq} LIMIT ?1",
            select.join(", "),
            probe.predicate
        );
        let samples = conn
            .prepare(&sample_sql)
            .and_then(|mut s| {
                s.query_map([sample_size as i64], |r| {
                    let mut values = Vec::with_capacity(show.len());
                    for (i, name) in show.iter().enumerate() {
                        values.push((name.clone(), r.get::<_, Value>(i + 1)?));
                    }
                    Ok(SampleRow {
                        rowid: r.get(0)?,
                        values,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(fail("sampling violating rows"))?;
        constraints.push(ConstraintViolations {
            name: probe.name,
            kind: probe.kind,
            expression: probe.expression,
            count,
            samples,
        });
    }
    let violation_count = if constraints.is_empty() {
        0
    } else {
        conn.query_row(
            &format!(
                "SELECT count(*) FROM {stage_q} AS {alias} WHERE {}",
                usable.join(" OR ")
            ),
            [],
            |r| r.get::<_, i64>(0).map(|n| n as u64),
        )
        .map_err(fail("counting violating rows"))?
    };
    Ok(ValidationReport {
        table: table.clone(),
        rows_checked,
        violation_count,
        constraints,
    })
}

pub(crate) fn probes(
    conn: &Connection,
    p: &Prepared,
    stage_q: &str,
    seq: &str,
    alias: &str,
) -> Result<Vec<Probe>> {
    let mut out = Vec::new();
    let ipk = p.target.ipk.clone();
    for c in &p.target.columns {
        if c.notnull && ipk.as_deref() != Some(c.name.as_str()) {
            out.push(Probe {
                name: format!("NOT NULL({})", c.name),
                kind: ConstraintKind::NotNull,
                expression: None,
                predicate: format!("{alias}.{} IS NULL", ident(&c.name)),
                show: vec![c.name.clone()],
            });
        }
    }
    if let Some(ipk) = &ipk {
        out.push(Probe {
            name: format!("INTEGER PRIMARY KEY({ipk})"),
            kind: ConstraintKind::PrimaryKey,
            expression: None,
            predicate: format!(
                "{alias}.{0} IS NOT NULL AND typeof({alias}.{0}) <> 'integer'",
                ident(ipk)
            ),
            show: vec![ipk.clone()],
        });
    }
    if p.target_def.strict {
        for c in &p.target.columns {
            let expected = match c.decl_type.to_ascii_uppercase().as_str() {
                "INT" | "INTEGER" => "integer",
                "REAL" => "real",
                "TEXT" => "text",
                "BLOB" => "blob",
                _ => continue,
            };
            out.push(Probe {
                name: format!("{} {}", c.name, c.decl_type),
                kind: ConstraintKind::Datatype,
                expression: None,
                predicate: format!(
                    "{alias}.{0} IS NOT NULL AND typeof({alias}.{0}) <> '{expected}'",
                    ident(&c.name)
                ),
                show: vec![c.name.clone()],
            });
        }
    }
    for check in &p.target_def.checks {
        let show = p
            .target
            .columns
            .iter()
            .filter(|c| sql::mentions_identifier(&check.expr, &c.name))
            .map(|c| c.name.clone())
            .collect();
        out.push(Probe {
            name: check.name.clone().unwrap_or_else(|| check.expr.clone()),
            kind: ConstraintKind::Check,
            expression: Some(check.expr.clone()),
            predicate: format!("NOT ({})", check.expr),
            show,
        });
    }

    // Uniqueness: every row after the first of a group of equal, non-NULL keys violates.
    let mut unique = |name: String,
                      kind: ConstraintKind,
                      terms: Vec<(String, Option<String>)>,
                      filter: Option<String>,
                      show: Vec<String>| {
        let partition: Vec<String> = terms
            .iter()
            .map(|(e, coll)| match coll {
                Some(c) => format!("({e}) COLLATE {}", ident(c)),
                None => format!("({e})"),
            })
            .collect();
        let mut conds: Vec<String> = terms
            .iter()
            .map(|(e, _)| format!("({e}) IS NOT NULL"))
            .collect();
        if let Some(w) = filter {
            conds.push(format!("({w})"));
        }
        let predicate = format!(
            "{alias}.{seq} IN (SELECT s FROM (SELECT {alias}.{seq} AS s, row_number() OVER (PARTITION BY {} ORDER BY {alias}.{seq}) AS n FROM {stage_q} AS {alias} WHERE {}) WHERE n > 1)",
            partition.join(", "),
            conds.join(" AND ")
        );
        out.push(Probe {
            name,
            kind,
            expression: None,
            predicate,
            show,
        });
    };
    if let Some(ipk) = &ipk {
        unique(
            format!("PRIMARY KEY({ipk})"),
            ConstraintKind::PrimaryKey,
            vec![(format!("{alias}.{}", ident(ipk)), None)],
            None,
            vec![ipk.clone()],
        );
    }
    for ix in p
        .target_indexes
        .iter()
        .filter(|ix| ix.unique && ix.origin != "c")
    {
        let names: Vec<String> = ix.keys.iter().filter_map(|(n, _)| n.clone()).collect();
        if names.len() != ix.keys.len() {
            continue;
        }
        let terms = ix
            .keys
            .iter()
            .filter_map(|(n, coll)| {
                Some((
                    format!("{alias}.{}", ident(n.as_ref()?)),
                    Some(coll.clone()),
                ))
            })
            .collect();
        let (label, kind) = if ix.origin == "pk" {
            ("PRIMARY KEY", ConstraintKind::PrimaryKey)
        } else {
            ("UNIQUE", ConstraintKind::Unique)
        };
        unique(
            format!("{label}({})", names.join(", ")),
            kind,
            terms,
            None,
            names,
        );
    }
    for d in p.dependents.iter().filter(|d| d.unique) {
        let Ok(ix) = sql::parse_create_index(&d.sql) else {
            continue;
        };
        let terms = ix
            .terms
            .iter()
            .map(|t| (t.expr.clone(), t.collation.clone()))
            .collect();
        let show = p
            .target
            .columns
            .iter()
            .filter(|c| {
                ix.terms
                    .iter()
                    .any(|t| sql::mentions_identifier(&t.expr, &c.name))
            })
            .map(|c| c.name.clone())
            .collect();
        unique(
            d.name.clone(),
            ConstraintKind::Unique,
            terms,
            ix.where_clause.clone(),
            show,
        );
    }

    for fk in &p.target_fks {
        let self_ref = p.is_self(&fk.parent);
        let parent_cols: Vec<String> = match fk.named_columns() {
            Some(named) => named,
            None if self_ref => schema::primary_key(&p.target.columns),
            None => schema::primary_key(&schema::columns(conn, &p.source.schema, &fk.parent)?),
        };
        let parent_exists = self_ref
            || conn
                .query_row(
                    "SELECT count(*) FROM pragma_table_list WHERE schema = ?1 AND name = ?2 COLLATE NOCASE",
                    [&p.source.schema, &fk.parent],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(Error::sqlite("looking up a foreign key's parent table"))?
                > 0;
        let not_null: Vec<String> = fk
            .from
            .iter()
            .map(|c| format!("{alias}.{} IS NOT NULL", ident(c)))
            .collect();
        let parent_alias = ident("sqlite_rebuild_parent");
        let predicate = if parent_exists && parent_cols.len() == fk.from.len() {
            let parent_table = if self_ref {
                stage_q.to_owned()
            } else {
                qualified(&p.source.schema, &fk.parent)
            };
            let eqs: Vec<String> = parent_cols
                .iter()
                .zip(&fk.from)
                .map(|(to, from)| format!("{parent_alias}.{} = {alias}.{}", ident(to), ident(from)))
                .collect();
            format!(
                "{} AND NOT EXISTS (SELECT 1 FROM {parent_table} AS {parent_alias} WHERE {})",
                not_null.join(" AND "),
                eqs.join(" AND ")
            )
        } else {
            not_null.join(" AND ")
        };
        out.push(Probe {
            name: format!(
                "FOREIGN KEY({}) REFERENCES {}({})",
                fk.from.join(", "),
                fk.parent,
                parent_cols.join(", ")
            ),
            kind: ConstraintKind::ForeignKey,
            expression: None,
            predicate,
            show: fk.from.clone(),
        });
    }
    Ok(out)
}

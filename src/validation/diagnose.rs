//! Diagnosis: every row staged as the target would store it, each constraint counted
//! exactly, a bounded sample of each; inside a savepoint that is always rolled back.

use super::probes::{primary_key, probes};
use super::Staging;
use crate::db::catalog;
use crate::db::guards::{QuotesAsStrings, Savepoint};
use crate::error::{Error, Result};
use crate::introspect::Facts;
use crate::mapping::Mapping;
use crate::report::{ConstraintViolations, SampleRow, ValidationReport};
use crate::sql::{balanced, ident};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params_from_iter, Connection};

/// A value as a sample shows it: text that is not valid UTF-8 (SQLite stores what it is
/// given) is shown with U+FFFD for the bytes that are not, rather than failing the report.
fn sample_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(bytes) => Value::Text(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Blob(bytes) => Value::Blob(bytes.to_vec()),
    }
}

/// Counts every constraint's violations exactly; changes nothing.
pub(crate) fn diagnose(
    conn: &Connection,
    facts: &Facts,
    mapping: &Mapping,
    sample_size: usize,
) -> Result<ValidationReport> {
    // The target's CHECKs are evaluated in queries: read as the schema reads them.
    let _quotes = QuotesAsStrings::dml_like_ddl(conn)?;
    let sp = Savepoint::begin(conn, "sqlite_rebuild_diagnose")?;
    let report = diagnose_in(conn, facts, mapping, sample_size);
    drop(sp);
    report
}

fn diagnose_in(
    conn: &Connection,
    facts: &Facts,
    mapping: &Mapping,
    sample_size: usize,
) -> Result<ValidationReport> {
    let table = &facts.source.name;
    let fail = |what: &str| Error::sqlite(format!("{what} (validating \"{table}\")"));
    let stage = catalog::free_name(conn, "temp", &format!("{table}__rebuild_check"))?;
    let staged = Staging::new(facts, mapping, &stage);
    let (stage_q, seq) = (staged.table.clone(), staged.seq.clone());
    conn.execute_batch(&staged.create)
        .map_err(fail("creating the staging table"))?;
    let mut rows_checked = 0;
    for insert in &staged.inserts {
        rows_checked += conn
            .prepare(insert)
            .and_then(|mut s| s.execute(params_from_iter(&mapping.params)))
            .map_err(fail("staging rows"))? as u64;
    }
    staged
        .number_null_keys(conn)
        .map_err(fail("assigning rowids to NULL keys"))?;

    let alias = ident(&facts.target.def.name);
    let src = staged.old_rowid(&alias);
    let pk_show = primary_key(facts);
    let mut constraints = Vec::new();
    let mut usable = Vec::new();
    for probe in probes(facts, &stage_q, &seq, &alias) {
        let count_sql = format!(
            "SELECT count(*) FROM {stage_q} AS {alias} WHERE {}",
            probe.predicate
        );
        let count: u64 = match conn.query_row(&count_sql, [], |r| r.get::<_, i64>(0)) {
            Ok(n) => n as u64,
            Err(e) => {
                // A dependent the target breaks; the rebuild reports it by name.
                log::warn!("cannot evaluate {}: {e}", probe.label());
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
            show = facts
                .target
                .table
                .columns
                .iter()
                .map(|c| c.name.clone())
                .collect();
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
                        values.push((name.clone(), sample_value(r.get_ref(i + 1)?)));
                    }
                    Ok(SampleRow::new(r.get(0)?, values))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(fail("sampling violating rows"))?;
        constraints.push(ConstraintViolations::new(
            probe.name,
            probe.kind,
            probe.expression,
            count,
            samples,
        ));
    }
    let violation_count = if constraints.is_empty() {
        0
    } else {
        conn.query_row(
            &format!(
                "SELECT count(*) FROM {stage_q} AS {alias} WHERE {}",
                balanced("OR", &usable)
            ),
            [],
            |r| r.get::<_, i64>(0).map(|n| n as u64),
        )
        .map_err(fail("counting violating rows"))?
    };
    Ok(ValidationReport::new(
        table,
        rows_checked,
        violation_count,
        constraints,
    ))
}

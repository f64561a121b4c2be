//! Diagnosis: every row staged as the target would store it, each constraint counted
//! exactly, a bounded sample of each; inside a savepoint that is always rolled back.

use super::probes::{primary_key, probes};
use super::Staging;
use crate::db::catalog;
use crate::db::guards::{QuotesAsStrings, Savepoint};
use crate::error::{Error, Result};
use crate::introspect::Facts;
use crate::mapping::Mapping;
use crate::report::{ConstraintViolations, SampleRow, ValidationReport, ValueCount};
use crate::sql::{self, balanced, ident};
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

/// The old rowid of the first staged row (in the old table's order) holding `key`: the row
/// a duplicate collides with.
fn first_of_key(
    conn: &Connection,
    (stage_q, alias, seq, src): (&str, &str, &str, &str),
    terms: &[String],
    conds: &str,
    key: &[Value],
) -> rusqlite::Result<Option<i64>> {
    let eqs: Vec<String> = terms
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{t} = ?{}", i + 1))
        .collect();
    conn.query_row(
        &format!(
            "SELECT {src} FROM {stage_q} AS {alias} WHERE {conds} AND {} ORDER BY {alias}.{seq} LIMIT 1",
            eqs.join(" AND ")
        ),
        params_from_iter(key),
        |r| r.get::<_, Option<i64>>(0),
    )
}

/// How many rows violate a probe, and the distinct values of its columns among them, most
/// frequent first (then in the old table's order), at most `limit` of them: one scan.
fn count_and_values(
    conn: &Connection,
    (stage_q, alias, seq): (&str, &str, &str),
    probe: &super::probes::Probe,
    limit: usize,
) -> rusqlite::Result<(u64, Vec<ValueCount>)> {
    if probe.show.is_empty() {
        let count = conn.query_row(
            &format!(
                "SELECT count(*) FROM {stage_q} AS {alias} WHERE {}",
                probe.predicate
            ),
            [],
            |r| r.get::<_, i64>(0),
        )?;
        return Ok((count as u64, Vec::new()));
    }
    let columns: Vec<String> = probe
        .show
        .iter()
        .map(|c| format!("{alias}.{}", ident(c)))
        .collect();
    let list = columns.join(", ");
    let names: Vec<String> = (0..columns.len()).map(|i| format!("v{i}")).collect();
    let aliased: Vec<String> = columns
        .iter()
        .zip(&names)
        .map(|(c, n)| format!("{c} AS {n}"))
        .collect();
    let sql = format!(
        "SELECT {}, n, sum(n) OVER () FROM (SELECT {}, count(*) AS n, min({alias}.{seq}) AS first FROM {stage_q} AS {alias} WHERE {} GROUP BY {list}) ORDER BY n DESC, first LIMIT ?1",
        names.join(", "),
        aliased.join(", "),
        probe.predicate
    );
    let mut statement = conn.prepare(&sql)?;
    let mut total = 0u64;
    let rows = statement.query_map([limit.max(1) as i64], |r| {
        let values = probe
            .show
            .iter()
            .enumerate()
            .map(|(i, name)| Ok((name.clone(), sample_value(r.get_ref(i)?))))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let n = probe.show.len();
        Ok((
            ValueCount::new(values, r.get::<_, i64>(n)? as u64),
            r.get::<_, i64>(n + 1)? as u64,
        ))
    })?;
    let mut values = Vec::new();
    for row in rows {
        let (value, all) = row?;
        total = all;
        values.push(value);
    }
    values.truncate(limit);
    Ok((total, values))
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
        // One scan gives the exact count and the distinct offending values.
        let (count, values) =
            match count_and_values(conn, (&stage_q, &alias, &seq), &probe, sample_size) {
                Ok(found) => found,
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
        let mut select: Vec<String> = show
            .iter()
            .map(|c| format!("{alias}.{}", ident(c)))
            .collect();
        let key_terms = probe
            .key
            .as_ref()
            .map_or(&[][..], |(terms, _)| terms.as_slice());
        select.extend(key_terms.iter().cloned());
        let sample_sql = format!(
            "SELECT {src}, {} FROM {stage_q} AS {alias} WHERE {} ORDER BY {alias}.{seq} LIMIT ?1",
            select.join(", "),
            probe.predicate
        );
        let ipk = facts.target.table.ipk.as_deref();
        let rows: Vec<(SampleRow, Vec<Value>)> = conn
            .prepare(&sample_sql)
            .and_then(|mut s| {
                s.query_map([sample_size as i64], |r| {
                    let mut values = Vec::with_capacity(show.len());
                    for (i, name) in show.iter().enumerate() {
                        values.push((name.clone(), sample_value(r.get_ref(i + 1)?)));
                    }
                    let key = (0..key_terms.len())
                        .map(|k| r.get::<_, Value>(1 + show.len() + k))
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    Ok((SampleRow::new(r.get(0)?, values).with_rowid_alias(ipk), key))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(fail("sampling violating rows"))?;
        let mut samples = Vec::with_capacity(rows.len());
        for (sample, key) in rows {
            let first = match &probe.key {
                Some((terms, conds)) => {
                    first_of_key(conn, (&stage_q, &alias, &seq, &src), terms, conds, &key)
                        .map_err(fail("finding the row a duplicate collides with"))?
                }
                None => None,
            };
            samples.push(sample.colliding_with(first));
        }
        let allowed = match (&probe.kind, &probe.expression) {
            (crate::report::ConstraintKind::Check, Some(expr)) => sql::allowed_values(expr)
                .filter(|(column, _)| show.iter().any(|s| s.eq_ignore_ascii_case(column))),
            _ => None,
        };
        constraints.push(
            ConstraintViolations::new(probe.name, probe.kind, probe.expression, count, samples)
                .with_values(values, allowed),
        );
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

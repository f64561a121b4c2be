//! The target statement: checked as one `CREATE TABLE` under the table's own name and
//! schema, rewritten under the scratch name, created (inside the probe's savepoint) so
//! SQLite judges it, and the `.column()` expressions compiled against the old table.

use crate::builder::TableRebuild;
use crate::db::guards::QuotesAsStrings;
use crate::db::{catalog, Table};
use crate::error::{sqlite_message, Error, Result};
use crate::sql::{self, ident, qualified, CreateTable};
use rusqlite::Connection;

/// Parses the target and checks it names the table where it lives.
pub(super) fn parse(source: &Table, create_sql: &str) -> Result<CreateTable> {
    let target_error = |reason: String| Error::TargetSql {
        table: source.name.clone(),
        reason,
    };
    if create_sql.trim().is_empty() {
        return Err(target_error("the statement is empty".into()));
    }
    let def = sql::parse_create_table(create_sql).map_err(|e| target_error(e.to_string()))?;
    if !def.name.eq_ignore_ascii_case(&source.name) {
        return Err(target_error(format!(
            "it creates table \"{}\"; the target must keep the name \"{}\"",
            def.name, source.name
        )));
    }
    let wanted_schema = if def.temp {
        Some("temp")
    } else {
        def.schema.as_deref()
    };
    if let Some(s) = wanted_schema {
        if !s.eq_ignore_ascii_case(&source.schema) {
            return Err(target_error(format!(
                "it creates the table in schema \"{s}\" but \"{}\" lives in \"{}\"; a rebuild cannot move a table",
                source.name, source.schema
            )));
        }
    }
    if def.if_not_exists {
        return Err(target_error(
            "IF NOT EXISTS makes no sense for a rebuild target; remove it".into(),
        ));
    }
    Ok(def)
}

/// The caller's statement under the scratch name in `schema` (qualified: everything before the name,
/// such as TEMP, goes), and as SQLite stores it after renaming the scratch table into place.
/// Under the scratch name, qualifiers naming the table itself (`CHECK (t.v > 0)`) would
/// name no table: they go, and `true` says the stored text must be switched back after the
/// rename.
pub(super) fn statements(
    source: &Table,
    schema: &str,
    scratch: &str,
    create_sql: &str,
    def: &CreateTable,
) -> (String, String, bool) {
    let body = create_sql.get(def.name_span.1..def.end).unwrap_or_default();
    let unqualified = sql::without_self_qualifiers(body, &source.name, &source.schema, false);
    (
        format!(
            "CREATE TABLE {}{}",
            qualified(schema, scratch),
            unqualified.as_deref().unwrap_or(body)
        ),
        format!("CREATE TABLE {}{body}", ident(&source.name)),
        unqualified.is_some(),
    )
}

/// Creates the scratch table; SQLite's refusal is the target's error. The statement is read
/// with double quotes meaning names only: a `"name"` that names no column is refused rather
/// than stored as the string 'name' (SQLite's fallback), unless the current definition
/// already relies on that fallback (an old schema's `CHECK (s IN ("a", "b"))`).
pub(super) fn create(
    conn: &Connection,
    source: &Table,
    source_def: Option<&CreateTable>,
    create_scratch: &str,
    spare_name: &str,
) -> Result<()> {
    let target_sql = |e: rusqlite::Error| match Error::operational("creating the target table", e) {
        Ok(e) => e,
        Err(e) => Error::TargetSql {
            table: source.name.clone(),
            reason: sqlite_message(&e),
        },
    };
    let strict = {
        let _quotes = QuotesAsStrings::in_ddl(conn, false)?;
        run(conn, create_scratch)
    };
    let strict_error = match strict {
        Ok(()) => return Ok(()),
        Err(e) => target_sql(e),
    };
    if !matches!(strict_error, Error::TargetSql { .. }) || !QuotesAsStrings::in_ddl_now(conn)? {
        return Err(strict_error);
    }
    run(conn, create_scratch).map_err(target_sql)?;
    // It compiles only with double-quoted text read as strings.
    if relies_on_quoted_strings(conn, source, source_def, spare_name)? {
        log::warn!(
            "the target of {} reads double-quoted text as strings, as its current definition does ({strict_error})",
            source.qualified()
        );
        return Ok(());
    }
    let Error::TargetSql { table, reason } = strict_error else {
        return Err(strict_error);
    };
    Err(Error::TargetSql {
        table,
        reason: format!(
            "{reason}: SQLite would read the double-quoted text as a string, not a column (double quotes name a column; single quotes make a string)"
        ),
    })
}

/// Whether the caller's text, whose expressions name the table itself, is a definition
/// SQLite takes under the table's own name (a `.` is allowed in a CHECK, not in a generated
/// column): compiled, never run, as a TEMP table of that name with the schema qualifiers
/// dropped. `Ok(false)` when TEMP already has a table of that name, so it cannot be told.
pub(super) fn check_own_name(
    conn: &Connection,
    source: &Table,
    create_sql: &str,
    def: &CreateTable,
) -> Result<bool> {
    if catalog::free_name(conn, "temp", &source.name)? != source.name {
        return Ok(false);
    }
    let body = create_sql.get(def.name_span.1..def.end).unwrap_or_default();
    let body = sql::without_self_qualifiers(body, &source.name, &source.schema, true)
        .unwrap_or_else(|| body.to_owned());
    conn.prepare(&format!("CREATE TEMP TABLE {}{body}", ident(&source.name)))
        .map(|_| true)
        .map_err(|e| Error::TargetSql {
            table: source.name.clone(),
            reason: sqlite_message(&e),
        })
}

fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare(sql).and_then(|mut s| s.execute([])).map(drop)
}

/// Whether the current definition compiles only with double-quoted text read as strings.
fn relies_on_quoted_strings(
    conn: &Connection,
    source: &Table,
    source_def: Option<&CreateTable>,
    spare_name: &str,
) -> Result<bool> {
    let Some(def) = source_def else {
        return Ok(true); // Not ours to judge.
    };
    let body = source.sql.get(def.name_span.1..def.end).unwrap_or_default();
    let statement = format!(
        "CREATE TABLE {}{body}",
        qualified(&source.schema, spare_name)
    );
    let strict = {
        let _quotes = QuotesAsStrings::in_ddl(conn, false)?;
        conn.prepare(&statement).is_ok()
    };
    Ok(!strict && conn.prepare(&statement).is_ok())
}

/// Each `.column()` expression must be one expression that compiles against the old table.
pub(super) fn compile_expressions(
    conn: &Connection,
    rb: &TableRebuild,
    source: &Table,
) -> Result<()> {
    for (column, expr) in &rb.columns {
        let invalid = |reason: String| Error::InvalidExpression {
            table: source.name.clone(),
            column: column.clone(),
            reason,
        };
        sql::single_expression(expr).map_err(|e| invalid(e.to_string()))?;
        let select = format!(
            "SELECT ({expr}) FROM {} AS {}",
            source.qualified(),
            ident(&source.name)
        );
        let strict = {
            let _quotes = QuotesAsStrings::set(conn, false)?;
            conn.prepare(&select).map(drop)
        };
        if let Err(strict) = strict {
            let reason = match conn.prepare(&select) {
                Err(e) => sqlite_message(&e),
                Ok(_) => format!(
                    "{}: SQLite would read the double-quoted text as a string, not a column (double quotes name a column; single quotes make a string)",
                    sqlite_message(&strict)
                ),
            };
            return Err(invalid(reason));
        }
    }
    Ok(())
}

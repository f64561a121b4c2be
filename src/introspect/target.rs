//! The target statement: checked as one `CREATE TABLE` under the table's own name and
//! schema, rewritten under the scratch name, created (inside the probe's savepoint) so
//! SQLite judges it, and the `.column()` expressions compiled against the old table.

use crate::builder::TableRebuild;
use crate::db::Table;
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

/// The caller's statement under the scratch name (qualified: everything before the name,
/// such as TEMP, goes), and as SQLite stores it after renaming the scratch table into place.
pub(super) fn statements(
    source: &Table,
    scratch: &str,
    create_sql: &str,
    def: &CreateTable,
) -> (String, String) {
    let body = create_sql.get(def.name_span.1..def.end).unwrap_or_default();
    (
        format!("CREATE TABLE {}{body}", qualified(&source.schema, scratch)),
        format!("CREATE TABLE {}{body}", ident(&source.name)),
    )
}

/// Creates the scratch table; SQLite's refusal is the target's error.
pub(super) fn create(conn: &Connection, table: &str, create_scratch: &str) -> Result<()> {
    conn.prepare(create_scratch)
        .and_then(|mut s| s.execute([]))
        .map(drop)
        .map_err(
            |e| match Error::operational("creating the target table", e) {
                Ok(e) => e,
                Err(e) => Error::TargetSql {
                    table: table.to_owned(),
                    reason: sqlite_message(&e),
                },
            },
        )
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
        conn.prepare(&format!(
            "SELECT ({expr}) FROM {} AS {}",
            source.qualified(),
            ident(&source.name)
        ))
        .map_err(|e| invalid(sqlite_message(&e)))?;
    }
    Ok(())
}

//! What uses each view and trigger: a SELECT from each view, and the INSERT, UPDATE or
//! DELETE that fires each trigger. Preparing one (never running it) compiles the view or the
//! trigger's program, so SQLite itself says whether it still works: a view over a column
//! that went, a trigger inserting one value too few, `INSERT ... SELECT *` into a table that
//! gained a column. A schema re-parse sees none of these.

use super::guards::{QuotesAsStrings, Savepoint};
use crate::error::{sqlite_message, DependentKind, Error, Result};
use crate::sql::{self, ident, qualified, TriggerEvent};
use rusqlite::Connection;

/// A view or trigger, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Usage {
    pub kind: DependentKind,
    pub name: String,
    /// The schema whose `sqlite_schema` holds it.
    pub owner: String,
    /// For a trigger: the table (or view) it is on, and what fires it.
    on: Option<(String, String, TriggerEvent)>,
    /// For an `UPDATE OF` trigger, the columns it names.
    update_of: Vec<String>,
}

impl Usage {
    /// Whether `other` is the same view or trigger (what it fires on may be renamed).
    pub(crate) fn is(&self, other: &Usage) -> bool {
        self.kind == other.kind
            && self.owner.eq_ignore_ascii_case(&other.owner)
            && self.name.eq_ignore_ascii_case(&other.name)
    }
}

/// Whether each use compiled, with double-quoted text read only as names (`strict`) and as
/// SQLite reads it by default (`loose`): `None` when it compiled, else SQLite's message.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub usage: Usage,
    pub strict: Option<String>,
    pub loose: Option<String>,
}

/// The views and triggers of `schema`, and the TEMP ones (which may use any schema).
pub(crate) fn usages(conn: &Connection, schema: &str) -> Result<Vec<Usage>> {
    let mut out = Vec::new();
    let owners: Vec<&str> = if schema.eq_ignore_ascii_case("temp") {
        vec!["temp"]
    } else {
        vec![schema, "temp"]
    };
    for owner in owners {
        let rows: Vec<(String, String, String, String)> = conn
            .prepare(&format!(
                "SELECT type, name, tbl_name, sql FROM {}.sqlite_schema WHERE type IN ('view', 'trigger') AND sql IS NOT NULL ORDER BY rowid",
                ident(owner)
            ))
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect()
            })
            .map_err(Error::sqlite("listing views and triggers"))?;
        for (kind, name, on, text) in rows {
            if kind == "view" {
                out.push(Usage {
                    kind: DependentKind::View,
                    name,
                    owner: owner.to_owned(),
                    on: None,
                    update_of: Vec::new(),
                });
                continue;
            }
            let Ok(head) = sql::parse_trigger_head(&text) else {
                continue;
            };
            // A TEMP trigger names its table's schema, or finds it as SQLite does.
            let table_schema = match (&head.table_schema, owner) {
                (Some(s), _) => s.clone(),
                (None, "temp") => match super::catalog::first_schema_with(conn, &on)? {
                    Some(s) => s,
                    None => continue,
                },
                (None, _) => owner.to_owned(),
            };
            out.push(Usage {
                kind: DependentKind::Trigger,
                name,
                owner: owner.to_owned(),
                on: Some((table_schema, on, head.event)),
                update_of: head.update_of,
            });
        }
    }
    Ok(out)
}

/// Compiles what uses each of `usages`, both ways of reading double quotes.
pub(crate) fn compile(conn: &Connection, usages: &[Usage]) -> Result<Vec<Compiled>> {
    let strict = compile_with(conn, usages, false)?;
    let loose = compile_with(conn, usages, true)?;
    Ok(usages
        .iter()
        .cloned()
        .zip(strict.into_iter().zip(loose))
        .map(|(usage, (strict, loose))| Compiled {
            usage,
            strict,
            loose,
        })
        .collect())
}

fn compile_with(
    conn: &Connection,
    usages: &[Usage],
    quotes_as_strings: bool,
) -> Result<Vec<Option<String>>> {
    let _quotes = QuotesAsStrings::set(conn, quotes_as_strings)?;
    let mut out = Vec::with_capacity(usages.len());
    for usage in usages {
        let status = match &usage.on {
            None => prepare(
                conn,
                &format!("SELECT * FROM {}", qualified(&usage.owner, &usage.name)),
            ),
            Some((schema, table, event)) => {
                let Some(statement) = firing(conn, schema, table, *event, &usage.update_of)? else {
                    out.push(None);
                    continue;
                };
                match prepare(conn, &statement) {
                    None => None,
                    // The statement fires every trigger of its event on the table: find
                    // whether this one is at fault, with the others set aside.
                    Some(message) => isolated(conn, usages, usage, &statement)?.map(|_| message),
                }
            }
        };
        out.push(status);
    }
    Ok(out)
}

fn prepare(conn: &Connection, sql: &str) -> Option<String> {
    conn.prepare(sql).err().map(|e| sqlite_message(&e))
}

/// The statement that fires the triggers of `event` on `schema.table`: for `UPDATE OF`, one
/// setting the columns it names (which must still exist); `None` when there is none to
/// write (no column an UPDATE may set).
fn firing(
    conn: &Connection,
    schema: &str,
    table: &str,
    event: TriggerEvent,
    update_of: &[String],
) -> Result<Option<String>> {
    let target = qualified(schema, table);
    Ok(Some(match event {
        TriggerEvent::Insert => format!("INSERT INTO {target} DEFAULT VALUES"),
        TriggerEvent::Delete => format!("DELETE FROM {target}"),
        TriggerEvent::Update if !update_of.is_empty() => {
            let sets: Vec<String> = update_of
                .iter()
                .map(|c| format!("{0} = {0}", ident(c)))
                .collect();
            format!("UPDATE {target} SET {}", sets.join(", "))
        }
        TriggerEvent::Update => {
            // Every column an UPDATE may set.
            let columns: Vec<String> = conn
                .prepare(
                    "SELECT name FROM pragma_table_xinfo(?1, ?2) WHERE hidden = 0 ORDER BY cid",
                )
                .and_then(|mut s| s.query_map([table, schema], |r| r.get(0))?.collect())
                .map_err(Error::sqlite("reading the columns a trigger's table has"))?;
            if columns.is_empty() {
                return Ok(None);
            }
            let sets: Vec<String> = columns
                .iter()
                .map(|c| format!("{0} = {0}", ident(c)))
                .collect();
            format!("UPDATE {target} SET {}", sets.join(", "))
        }
    }))
}

/// Whether `usage` alone breaks `statement`: the other triggers of the same table and event
/// are dropped in a savepoint, which is rolled back.
fn isolated(
    conn: &Connection,
    usages: &[Usage],
    usage: &Usage,
    statement: &str,
) -> Result<Option<String>> {
    let others: Vec<&Usage> = usages
        .iter()
        .filter(|u| u.kind == DependentKind::Trigger && u.on == usage.on && u.name != usage.name)
        .collect();
    if others.is_empty() {
        return Ok(prepare(conn, statement));
    }
    let sp = Savepoint::begin(conn, "sqlite_rebuild_isolate")?;
    for other in others {
        conn.execute_batch(&format!(
            "DROP TRIGGER {}",
            qualified(&other.owner, &other.name)
        ))
        .map_err(Error::sqlite("setting a trigger aside"))?;
    }
    let status = prepare(conn, statement);
    drop(sp);
    Ok(status)
}

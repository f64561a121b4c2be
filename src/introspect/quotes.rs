//! Indexes whose double-quoted names must stay names. With SQLite's fallback on, an index
//! on `("name", "age")` over a target without `age` compiles with the string 'age' as its
//! second key. Each index is compiled (prepared, never built) against the target with the
//! fallback off: one that named columns before the rebuild must still name columns after
//! it, and is recreated with the fallback off.

use super::DependentFacts;
use crate::db::guards::QuotesAsStrings;
use crate::db::{catalog, Table};
use crate::error::{sqlite_message, DependentKind, Error, Result};
use crate::sql::qualified;
use rusqlite::Connection;

/// Sets each index's `quotes_are_names`, and `names_become_strings` for one whose
/// double-quoted name would become a string. Runs inside the probe, with the scratch table
/// created and the columns renamed.
pub(super) fn check_indexes(
    (before, spare_name): (&Connection, &str),
    (conn, probe_target): (&Connection, &str),
    source: &Table,
    dependents: &mut [DependentFacts],
) -> Result<()> {
    let strict = |c: &Connection, sql: &str| {
        let _quotes = QuotesAsStrings::in_ddl(c, false)?;
        Ok::<_, Error>(c.prepare(sql).err())
    };
    let spare_temp = catalog::free_name(conn, "temp", &format!("{}__probe", source.name))?;
    for d in dependents.iter_mut() {
        if d.index.is_none() || d.def.temp {
            continue;
        }
        let on = |table: &str, name: String| d.index_as(&name, table).unwrap_or_default();
        let on_target = on(probe_target, qualified("temp", &spare_temp));
        let Some(strict_error) = strict(conn, &on_target)? else {
            d.quotes_are_names = true;
            continue;
        };
        let on_source = on(&source.name, qualified(&source.schema, spare_name));
        let names_before = strict(before, &on_source)?.is_none();
        if conn.prepare(&on_target).is_err() {
            // Broken either way (a column that goes): the recreate step names it.
            d.quotes_are_names = names_before;
            continue;
        }
        if names_before {
            d.names_become_strings = Some(format!(
                "{}: with the target, SQLite would read the double-quoted name as a string",
                sqlite_message(&strict_error)
            ));
        }
        // It relied on the fallback before the rebuild too: recreated as it was.
    }
    Ok(())
}

/// Refuses the rebuild when an index's double-quoted name would become a string.
pub(crate) fn check_quoted_names(facts: &super::Facts) -> Result<()> {
    match facts
        .dependents
        .iter()
        .find_map(|d| Some((d, d.names_become_strings.as_ref()?)))
    {
        Some((d, reason)) => Err(Error::DependentBroken {
            table: facts.source.name.clone(),
            kind: DependentKind::Index,
            name: d.def.name.clone(),
            reason: reason.clone(),
        }),
        None => Ok(()),
    }
}

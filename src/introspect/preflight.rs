//! The one preflight every verb runs before it reads or writes anything: the SQLite
//! library, the builder's own input, the table, the journals of every schema a rebuild
//! writes, write access, and the transaction state.

use crate::builder::TableRebuild;
use crate::db::catalog::{self, lookup_table};
use crate::db::{check_sqlite, connection};
use crate::error::{Error, Result};
use rusqlite::{Connection, TransactionBehavior};

/// The verb being run, for what it may require of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Validate,
    Plan,
    /// `execute`: a transaction of the crate's own.
    Execute,
    /// `execute_in`: inside the caller's transaction.
    ExecuteIn,
}

/// What the preflight established.
#[derive(Clone)]
pub(crate) struct Preflight {
    pub verb: Verb,
    /// The schema that holds the table.
    pub schema: String,
    /// How `execute` begins its transaction: IMMEDIATE, or DEFERRED when a read-only
    /// database is attached (BEGIN IMMEDIATE would fail on it).
    pub behavior: TransactionBehavior,
}

/// Checks, in order: the transaction state (none open for `execute`, the caller's still
/// open for `execute_in`), the SQLite version, the builder's values, the table, the journal
/// of each schema the verb writes (a rebuild writes the table's and `temp`, a dry run only
/// `temp`; each undoes its work by rolling back, which `journal_mode=OFF` cannot), write
/// access to them, and a target statement.
pub(crate) fn preflight(conn: &Connection, rb: &TableRebuild, verb: Verb) -> Result<Preflight> {
    let pre = checks(conn, rb, verb)?;
    // A killed online run's logging triggers would pass for the table's own (and be
    // recreated on the new table); only the online mode itself finishes or removes them.
    if let Some(phase) = catalog::online_phase(conn, &pre.schema, &rb.table)? {
        return Err(Error::OnlineInProgress {
            table: rb.table.clone(),
            phase,
        });
    }
    Ok(pre)
}

/// The preflight of `execute_online`, which finds an earlier online run itself.
pub(crate) fn preflight_online(conn: &Connection, rb: &TableRebuild) -> Result<Preflight> {
    checks(conn, rb, Verb::Execute)
}

fn checks(conn: &Connection, rb: &TableRebuild, verb: Verb) -> Result<Preflight> {
    match verb {
        Verb::Execute if !conn.is_autocommit() => return Err(Error::TransactionOpen),
        Verb::ExecuteIn if conn.is_autocommit() => return Err(Error::TransactionEnded),
        _ => {}
    }
    check_sqlite()?;
    if let Some((column, reason)) = &rb.invalid_value {
        return Err(Error::InvalidValue {
            column: column.clone(),
            reason: reason.clone(),
        });
    }
    lookup_table(conn, &rb.schema, &rb.table)?;
    let schema = rb.schema.clone();
    // A dry run writes only `temp`; a rebuild writes the table's schema too.
    let writes_table = matches!(verb, Verb::Execute | Verb::ExecuteIn);
    let written: &[&str] = if writes_table {
        &[schema.as_str(), "temp"]
    } else {
        &["temp"]
    };
    for involved in written {
        if connection::journal_mode(conn, involved)? == "off" {
            return Err(Error::NoJournal {
                schema: (*involved).to_owned(),
            });
        }
    }
    let mut behavior = TransactionBehavior::Immediate;
    // `query_only` forbids writing `temp` as well.
    if connection::query_only(conn)? {
        return Err(Error::ReadOnly { schema });
    }
    for (name, readonly) in connection::database_list(conn)? {
        if readonly {
            if writes_table && name.eq_ignore_ascii_case(&schema) {
                return Err(Error::ReadOnly { schema: name });
            }
            behavior = TransactionBehavior::Deferred;
        }
    }
    if rb.create_sql.is_none() && !super::described_by_operations(rb) {
        return Err(Error::MissingTargetSql {
            table: rb.table.clone(),
        });
    }
    Ok(Preflight {
        verb,
        schema,
        behavior,
    })
}

//! What the connection is set to: pragmas and `sqlite3_db_config` flags that decide whether
//! and how a rebuild can run. Nothing here writes.

use crate::error::{Error, Result};
use crate::sql::ident;
use rusqlite::config::DbConfig;
use rusqlite::Connection;

fn pragma_flag(conn: &Connection, pragma: &str) -> Result<bool> {
    conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
        .map_err(Error::sqlite(format!("reading PRAGMA {pragma}")))
}

/// `PRAGMA foreign_keys`.
pub(crate) fn foreign_keys(conn: &Connection) -> Result<bool> {
    pragma_flag(conn, "foreign_keys")
}

/// Whether `PRAGMA query_only` forbids every write on the connection.
pub(crate) fn query_only(conn: &Connection) -> Result<bool> {
    pragma_flag(conn, "query_only")
}

/// `PRAGMA legacy_alter_table`.
pub(crate) fn legacy_alter_table(conn: &Connection) -> Result<bool> {
    pragma_flag(conn, "legacy_alter_table")
}

/// `PRAGMA writable_schema`.
pub(crate) fn writable_schema(conn: &Connection) -> Result<bool> {
    pragma_flag(conn, "writable_schema")
}

/// The journal mode of `schema` (`delete`, `wal`, `memory`, `off`, ...), lower case.
pub(crate) fn journal_mode(conn: &Connection, schema: &str) -> Result<String> {
    conn.query_row(&format!("PRAGMA {}.journal_mode", ident(schema)), [], |r| {
        r.get::<_, String>(0)
    })
    .map(|mode| mode.to_ascii_lowercase())
    .map_err(Error::sqlite(format!(
        "reading the journal mode of \"{schema}\""
    )))
}

/// Every database of the connection, and whether it is read-only.
pub(crate) fn database_list(conn: &Connection) -> Result<Vec<(String, bool)>> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM pragma_database_list")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(Error::sqlite("listing the connection's databases"))?;
    names
        .into_iter()
        .map(|name| {
            let readonly = conn
                .is_readonly(name.as_str())
                .map_err(Error::sqlite("checking whether the database is writable"))?;
            Ok((name, readonly))
        })
        .collect()
}

/// `SQLITE_DBCONFIG_DEFENSIVE`, which forbids writing the schema.
pub(crate) fn defensive(conn: &Connection) -> Result<bool> {
    conn.db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE)
        .map_err(Error::sqlite("reading SQLITE_DBCONFIG_DEFENSIVE"))
}

/// `PRAGMA <schema>.schema_version`.
pub(crate) fn schema_version(conn: &Connection, schema: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        &format!("PRAGMA {}.schema_version", ident(schema)),
        [],
        |r| r.get(0),
    )
}

//! RAII guards: each changes one piece of connection or schema state and puts it back when
//! dropped, on every path (early returns, errors, panics in callbacks).

use super::{catalog, connection};
use crate::builder::Dependent;
use crate::error::{Error, Result};
use crate::sql::qualified;
use rusqlite::config::DbConfig;
use rusqlite::Connection;

/// A savepoint that rolls back unless released, so every early return undoes its work.
pub(crate) struct Savepoint<'c> {
    conn: &'c Connection,
    name: &'static str,
    open: bool,
}

impl<'c> Savepoint<'c> {
    pub(crate) fn begin(conn: &'c Connection, name: &'static str) -> Result<Self> {
        conn.execute_batch(&format!("SAVEPOINT {name}"))
            .map_err(Error::sqlite("opening a savepoint"))?;
        Ok(Savepoint {
            conn,
            name,
            open: true,
        })
    }

    /// Keeps what was done under the savepoint.
    pub(crate) fn release(mut self) -> Result<()> {
        self.open = false;
        self.conn
            .execute_batch(&format!("RELEASE {}", self.name))
            .map_err(Error::sqlite("releasing the rebuild's savepoint"))
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if self.open {
            let sql = format!("ROLLBACK TO {0}; RELEASE {0}", self.name);
            if let Err(e) = self.conn.execute_batch(&sql) {
                // SQLite may already have rolled the whole transaction back (e.g. disk full).
                log::warn!("rolling back savepoint {}: {e}", self.name);
            }
        }
    }
}

/// Suspends foreign key enforcement through `SQLITE_DBCONFIG_ENABLE_FKEY`, which, unlike the
/// pragma, also works inside a transaction.
pub(crate) struct ForeignKeysOff<'c> {
    conn: &'c Connection,
    was_on: bool,
}

impl<'c> ForeignKeysOff<'c> {
    pub(crate) fn engage(conn: &'c Connection, table: &str) -> Result<Self> {
        let was_on = conn
            .db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY)
            .map_err(Error::sqlite("reading foreign key enforcement"))?;
        let guard = ForeignKeysOff { conn, was_on };
        if was_on {
            conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY, false)
                .map_err(Error::sqlite("suspending foreign key enforcement"))?;
            if connection::foreign_keys(conn)? {
                return Err(Error::ForeignKeysStillOn {
                    table: table.to_owned(),
                });
            }
            log::debug!("foreign key enforcement suspended");
        }
        Ok(guard)
    }
}

impl Drop for ForeignKeysOff<'_> {
    fn drop(&mut self) {
        if self.was_on {
            match self
                .conn
                .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY, true)
            {
                Ok(_) => log::debug!("foreign key enforcement restored"),
                Err(e) => log::error!("could not restore foreign key enforcement: {e}"),
            }
        }
    }
}

/// `PRAGMA foreign_keys = OFF` before a transaction of the crate's own (step 1 of SQLite's
/// procedure; inside a transaction the pragma does nothing), back ON afterwards.
pub(crate) struct ForeignKeysPragmaOff<'c> {
    conn: &'c Connection,
    was_on: bool,
}

impl<'c> ForeignKeysPragmaOff<'c> {
    pub(crate) fn engage(conn: &'c Connection, table: &str) -> Result<Self> {
        let was_on = connection::foreign_keys(conn)?;
        if was_on {
            conn.execute_batch("PRAGMA foreign_keys = OFF")
                .map_err(Error::sqlite("switching foreign keys off"))?;
            if connection::foreign_keys(conn)? {
                return Err(Error::ForeignKeysStillOn {
                    table: table.to_owned(),
                });
            }
            log::debug!("PRAGMA foreign_keys = OFF for the rebuild's transaction");
        }
        Ok(ForeignKeysPragmaOff { conn, was_on })
    }

    /// Switches enforcement back on, reporting a failure (dropping the guard only logs it).
    pub(crate) fn restore(mut self) -> Result<()> {
        let was_on = std::mem::replace(&mut self.was_on, false);
        if was_on {
            Self::switch_on(self.conn)?;
        }
        Ok(())
    }

    fn switch_on(conn: &Connection) -> Result<()> {
        conn.execute_batch("PRAGMA foreign_keys = ON")
            .map_err(Error::sqlite("restoring PRAGMA foreign_keys"))?;
        log::debug!("PRAGMA foreign_keys = ON restored");
        Ok(())
    }
}

impl Drop for ForeignKeysPragmaOff<'_> {
    fn drop(&mut self) {
        if self.was_on {
            if let Err(e) = Self::switch_on(self.conn) {
                log::error!("could not restore foreign key enforcement: {e}");
            }
        }
    }
}

/// Sets a boolean pragma for a while and puts back what it was.
pub(crate) struct PragmaSet<'c> {
    conn: &'c Connection,
    pragma: &'static str,
    /// The value to put back; `None` when it already had the wanted value.
    restore_to: Option<bool>,
}

impl<'c> PragmaSet<'c> {
    /// `PRAGMA legacy_alter_table`: ON keeps a rename from rewriting views and triggers;
    /// OFF makes it re-parse the whole schema.
    pub(crate) fn legacy_alter_table(conn: &'c Connection, on: bool) -> Result<Self> {
        let was = connection::legacy_alter_table(conn)?;
        Self::set(conn, "legacy_alter_table", was, on)
    }

    /// `PRAGMA writable_schema`: ON allows editing `sqlite_schema` (the in-place switch).
    pub(crate) fn writable_schema(conn: &'c Connection, on: bool) -> Result<Self> {
        let was = connection::writable_schema(conn)?;
        Self::set(conn, "writable_schema", was, on)
    }

    fn set(conn: &'c Connection, pragma: &'static str, was: bool, on: bool) -> Result<Self> {
        let restore_to = (was != on).then_some(was);
        if restore_to.is_some() {
            Self::write(conn, pragma, on)?;
        }
        Ok(PragmaSet {
            conn,
            pragma,
            restore_to,
        })
    }

    fn write(conn: &Connection, pragma: &str, on: bool) -> Result<()> {
        let value = if on { "ON" } else { "OFF" };
        conn.execute_batch(&format!("PRAGMA {pragma} = {value}"))
            .map_err(Error::sqlite(format!("setting PRAGMA {pragma}")))
    }

    /// Puts the pragma back, reporting a failure (dropping the guard only logs it).
    pub(crate) fn restore(mut self) -> Result<()> {
        match self.restore_to.take() {
            Some(was) => Self::write(self.conn, self.pragma, was),
            None => Ok(()),
        }
    }
}

impl Drop for PragmaSet<'_> {
    fn drop(&mut self) {
        if let Some(was) = self.restore_to.take() {
            if let Err(e) = Self::write(self.conn, self.pragma, was) {
                log::error!("could not restore PRAGMA {}: {e}", self.pragma);
            }
        }
    }
}

/// The double-quoted string literal misfeature switched on or off for a while, in DDL
/// (schema statements) and DML, and put back as it was: with it off, `"name"` must name a
/// column.
pub(crate) struct QuotesAsStrings<'c> {
    conn: &'c Connection,
    was: (bool, bool),
}

impl<'c> QuotesAsStrings<'c> {
    /// Both ways of reading statements.
    pub(crate) fn set(conn: &'c Connection, on: bool) -> Result<Self> {
        Self::with(conn, |_| (on, on))
    }

    /// Schema statements only.
    pub(crate) fn in_ddl(conn: &'c Connection, on: bool) -> Result<Self> {
        Self::with(conn, |(_, dml)| (on, dml))
    }

    /// Queries read double quotes as the schema does: a CHECK's expression evaluated in a
    /// SELECT means what it means in the table.
    pub(crate) fn dml_like_ddl(conn: &'c Connection) -> Result<Self> {
        Self::with(conn, |(ddl, _)| (ddl, ddl))
    }

    /// Whether schema statements read `"x"` as a string when no column is named x.
    pub(crate) fn in_ddl_now(conn: &Connection) -> Result<bool> {
        Self::read(conn).map(|(ddl, _)| ddl)
    }

    fn with(conn: &'c Connection, want: impl FnOnce((bool, bool)) -> (bool, bool)) -> Result<Self> {
        let was = Self::read(conn)?;
        let guard = QuotesAsStrings { conn, was };
        let now = want(was);
        if now != was {
            Self::write(conn, now)?;
        }
        Ok(guard)
    }

    fn read(conn: &Connection) -> Result<(bool, bool)> {
        let read = |flag| {
            conn.db_config(flag)
                .map_err(Error::sqlite("reading the double-quoted string setting"))
        };
        Ok((
            read(DbConfig::SQLITE_DBCONFIG_DQS_DDL)?,
            read(DbConfig::SQLITE_DBCONFIG_DQS_DML)?,
        ))
    }

    fn write(conn: &Connection, (ddl, dml): (bool, bool)) -> Result<()> {
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, ddl)
            .and_then(|_| conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, dml))
            .map(drop)
            .map_err(Error::sqlite("setting the double-quoted string setting"))
    }
}

impl Drop for QuotesAsStrings<'_> {
    fn drop(&mut self) {
        if Self::read(self.conn).ok() == Some(self.was) {
            return;
        }
        if let Err(e) = Self::write(self.conn, self.was) {
            log::error!("could not restore the double-quoted string setting: {e}");
        }
    }
}

/// A table's triggers dropped for a while and recreated from their stored SQL: rewriting
/// rows that the application did not change (moves to and from quarantine, keys following
/// a remap) is not an event of the application's.
pub(crate) struct TriggersSuspended<'c> {
    conn: &'c Connection,
    schema: String,
    table: String,
    triggers: Vec<Dependent>,
}

impl<'c> TriggersSuspended<'c> {
    /// Drops the triggers on `table` in `schema` (TEMP ones included), as they are now.
    pub(crate) fn engage(conn: &'c Connection, schema: &str, table: &str) -> Result<Self> {
        let triggers = catalog::triggers(conn, schema, table)?;
        let mut guard = TriggersSuspended {
            conn,
            schema: schema.to_owned(),
            table: table.to_owned(),
            triggers: Vec::new(),
        };
        for t in triggers {
            let drop = format!("DROP TRIGGER {}", qualified(t.owner(schema), &t.name));
            conn.execute_batch(&drop).map_err(Error::sqlite(format!(
                "suspending trigger \"{}\" of \"{table}\"",
                t.name
            )))?;
            guard.triggers.push(t);
        }
        Ok(guard)
    }

    /// Recreates the triggers, reporting a failure.
    pub(crate) fn restore(mut self) -> Result<()> {
        self.recreate()
    }

    fn recreate(&mut self) -> Result<()> {
        for t in std::mem::take(&mut self.triggers) {
            self.conn
                .execute_batch(&t.recreate_sql(&self.schema, None))
                .map_err(Error::sqlite(format!(
                    "recreating trigger \"{}\" of \"{}\"",
                    t.name, self.table
                )))?;
        }
        Ok(())
    }
}

impl Drop for TriggersSuspended<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.recreate() {
            log::error!("{e}");
        }
    }
}

/// An in-memory database attached under a free name for a while, detached when dropped.
/// Attaching is possible only outside a transaction.
pub(crate) struct AttachedMemory<'c> {
    conn: &'c Connection,
    name: String,
}

impl<'c> AttachedMemory<'c> {
    pub(crate) fn attach(conn: &'c Connection, base: &str) -> Result<Self> {
        let taken: Vec<String> = super::connection::database_list(conn)?
            .into_iter()
            .map(|(name, _)| name.to_ascii_lowercase())
            .collect();
        let mut name = base.to_owned();
        while taken.contains(&name.to_ascii_lowercase()) {
            name.push('_');
        }
        conn.execute("ATTACH ':memory:' AS ?1", [&name])
            .map_err(Error::sqlite(
                "attaching an in-memory database for a dry run",
            ))?;
        Ok(AttachedMemory { conn, name })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for AttachedMemory<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.conn.execute("DETACH ?1", [&self.name]) {
            log::error!("could not detach the dry run's database {}: {e}", self.name);
        }
    }
}

/// Edits rows of `schema`'s `sqlite_schema` with `writable_schema` on (as it was again on
/// every path), then bumps `schema_version` so that every connection reloads the schema:
/// SQLite's documented procedure for changes that keep the stored format. `edit` says
/// whether it found every row it meant to change; the version is bumped only then. The
/// outer error is the pragma's; the inner one is SQLite's, for the caller to name.
pub(crate) fn edit_schema(
    conn: &Connection,
    schema: &str,
    edit: impl FnOnce(&Connection) -> rusqlite::Result<bool>,
) -> Result<rusqlite::Result<bool>> {
    let version = match connection::schema_version(conn, schema) {
        Ok(version) => version,
        Err(e) => return Ok(Err(e)),
    };
    let writable = PragmaSet::writable_schema(conn, true)?;
    let edited = edit(conn);
    writable.restore()?;
    Ok(match edited {
        Ok(true) => conn
            .execute_batch(&format!(
                "PRAGMA {}.schema_version = {}",
                crate::sql::ident(schema),
                version + 1
            ))
            .map(|()| true),
        other => other,
    })
}

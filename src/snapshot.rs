//! Snapshots of a table's definition and dependents ([`TableSnapshot`]), to rebuild back to
//! later with [`TableRebuild::from_snapshot`](crate::TableRebuild::from_snapshot).

use crate::error::Result;
use crate::schema::{self, Dependent};
use rusqlite::Connection;

/// A table's definition as it is now: its `CREATE TABLE` statement and the indexes and
/// triggers on it, as SQLite stores them.
///
/// Capture one before an upgrade, and a downgrade (or a test harness) can rebuild the
/// table back to exactly that definition with
/// [`TableRebuild::from_snapshot`](crate::TableRebuild::from_snapshot), recreating the
/// indexes and triggers the upgrade removed.
///
/// ```
/// use sqlite_rebuild::{rusqlite::Connection, TableRebuild, TableSnapshot};
///
/// let mut conn = Connection::open_in_memory()?;
/// conn.execute_batch(
///     "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT);
///      CREATE INDEX t_b ON t (b);
///      INSERT INTO t VALUES (1, 'x', 'y');",
/// )?;
/// let before = TableSnapshot::capture(&conn, "t")?;
///
/// // The upgrade drops column b, and with it the index t_b.
/// conn.execute_batch("DROP INDEX t_b")?;
/// TableRebuild::new("t")
///     .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)")
///     .execute(&mut conn)?;
///
/// // The downgrade rebuilds back to the snapshot: b comes back (NULL), and so does t_b.
/// TableRebuild::from_snapshot(&before).execute(&mut conn)?;
/// let now = TableSnapshot::capture(&conn, "t")?;
/// assert_eq!(now.dependents().collect::<Vec<_>>(), ["t_b"]);
/// // The statement is the snapshot's, with the name as SQLite writes it after a rename.
/// assert_eq!(now.create_sql(), r#"CREATE TABLE "t" (id INTEGER PRIMARY KEY, a TEXT, b TEXT)"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TableSnapshot {
    pub(crate) schema: String,
    pub(crate) table: String,
    pub(crate) create_sql: String,
    pub(crate) dependents: Vec<Dependent>,
}

impl TableSnapshot {
    /// Records the definition of `table` in the `main` schema.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTable`](crate::Error::UnknownTable) or
    /// [`Error::NotRebuildable`](crate::Error::NotRebuildable) when `table` is not an
    /// ordinary table; [`Error::Sqlite`](crate::Error::Sqlite) when the schema cannot be read.
    pub fn capture(conn: &Connection, table: &str) -> Result<Self> {
        Self::capture_in(conn, "main", table)
    }

    /// Records the definition of `table` in `schema` (`main`, `temp` or an attached
    /// database's name).
    ///
    /// # Errors
    ///
    /// As [`capture`](Self::capture).
    pub fn capture_in(conn: &Connection, schema: &str, table: &str) -> Result<Self> {
        crate::compat::check_sqlite()?;
        let t = schema::resolve_table(conn, schema, table)?;
        let dependents = schema::dependents(conn, &t)?;
        Ok(TableSnapshot {
            schema: t.schema,
            table: t.name,
            create_sql: t.sql,
            dependents,
        })
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The schema holding it.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Its `CREATE TABLE` statement, as SQLite stores it.
    pub fn create_sql(&self) -> &str {
        &self.create_sql
    }

    /// The names of its indexes and triggers.
    pub fn dependents(&self) -> impl Iterator<Item = &str> {
        self.dependents.iter().map(|d| d.name.as_str())
    }
}

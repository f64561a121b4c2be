//! Snapshots of a table's definition and dependents ([`TableSnapshot`]), to rebuild back to
//! later with [`TableRebuild::from_snapshot`](crate::TableRebuild::from_snapshot), and
//! [`Dependent`], an index or trigger definition as SQLite stores it. `capture` reads the
//! database, so it lives with the verbs.

use crate::error::DependentKind;
use crate::sql;

/// An index or trigger definition, as `sqlite_schema` stores it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Dependent {
    pub kind: DependentKind,
    pub name: String,
    pub sql: String,
    /// Lives in `temp.sqlite_schema` (a TEMP trigger on a table of another schema).
    pub temp: bool,
}

impl Dependent {
    /// The statement that recreates it where it was, on the table it was on, so that SQLite
    /// stores the same text again. SQLite stores the name without a schema prefix (and
    /// without `IF NOT EXISTS` or `TEMP`): replayed as stored, an index or trigger of an
    /// attached database would land in `main`, and a trigger of `main.t` on a TEMP table
    /// `t`. So the name gets `schema`'s prefix; a TEMP trigger (which may not have one) gets
    /// its `TEMP` back. `index` is the statement, parsed, when it is an index.
    pub(crate) fn recreate_sql(&self, schema: &str, index: Option<&sql::CreateIndex>) -> String {
        if self.temp {
            return sql::with_temp_keyword(&self.sql);
        }
        let name_span = match self.kind {
            DependentKind::Index => index.map(|ix| ix.name_span),
            DependentKind::View => sql::view_name_span(&self.sql),
            _ => sql::parse_trigger_head(&self.sql).ok().map(|h| h.name_span),
        };
        match name_span {
            Some(span) => {
                let name = self.sql.get(span.0..span.1).unwrap_or(&self.name);
                sql::replace_span(&self.sql, span, &format!("{}.{name}", sql::ident(schema)))
            }
            None => self.sql.clone(),
        }
    }

    /// The schema whose `sqlite_schema` holds it, for a dependent of a table in `schema`.
    pub(crate) fn owner<'a>(&self, schema: &'a str) -> &'a str {
        if self.temp {
            "temp"
        } else {
            schema
        }
    }
}

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
///     .drop_column("b")
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

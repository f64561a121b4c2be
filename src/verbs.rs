//! The verbs: what [`TableRebuild`] does with a connection (`validate`, `plan`, `execute`,
//! `execute_in`) and [`TableSnapshot::capture`]. Each is a thin driver over the layers
//! below: one preflight, the catalog read once, a plan, and its execution.

use crate::builder::{OnlineOptions, TableRebuild, TableSnapshot};
use crate::db::guards::ForeignKeysOff;
use crate::db::{catalog, check_sqlite};
use crate::error::Result;
use crate::execute;
use crate::introspect::{introspect, preflight, Verb};
use crate::report::{RebuildReport, ValidationReport};
use crate::strategy::{self, Purpose, RebuildPlan};
use rusqlite::{Connection, Transaction};

impl TableRebuild {
    /// Dry run: checks every existing row against the target, changing nothing.
    ///
    /// An empty report ([`ValidationReport::is_ok`]) means [`execute`](Self::execute)
    /// would copy every row. The rows are copied into a TEMP table of the target's, where
    /// SQLite judges each one as the copy would; the children are checked against them when
    /// parent keys change; the schema steps are rehearsed on a schema-only copy of the
    /// database, where what uses each view and trigger must still compile. Nothing but
    /// `temp` is written and no write lock is taken: it works on a connection opened with
    /// `SQLITE_OPEN_READ_ONLY`, and other connections see no commit.
    ///
    /// # Errors
    ///
    /// Bad input (unknown table, invalid target SQL, rules naming unknown columns, ...) as
    /// the matching [`Error`](crate::Error) variant; a dependent the rebuild would break
    /// ([`Error::DependentBroken`](crate::Error::DependentBroken)) or children it would
    /// orphan ([`Error::CheckFailed`](crate::Error::CheckFailed)), as `execute` refuses
    /// them; violations are not an error here but the report's content.
    pub fn validate(&self, conn: &Connection) -> Result<ValidationReport> {
        execute::validate(conn, self)
    }

    /// Works out the ordered SQL steps without running them.
    ///
    /// ```
    /// use sqlite_rebuild::{rusqlite::Connection, TableRebuild};
    ///
    /// let conn = Connection::open_in_memory()?;
    /// conn.execute_batch("CREATE TABLE t (a INTEGER, b TEXT); CREATE INDEX t_b ON t (b);")?;
    ///
    /// // A new column type: copy and swap.
    /// let plan = TableRebuild::new("t")
    ///     .create_sql("CREATE TABLE t (a REAL NOT NULL, b TEXT)")
    ///     .plan(&conn)?;
    /// let script = plan.to_string();
    /// assert!(script.contains("DROP TABLE \"main\".\"t\""));
    /// assert!(script.contains("CREATE INDEX"));
    ///
    /// // Only a constraint changes: the stored definition is switched in place.
    /// let plan = TableRebuild::new("t")
    ///     .create_sql("CREATE TABLE t (a INTEGER NOT NULL, b TEXT)")
    ///     .plan(&conn)?;
    /// assert_eq!(plan.steps()[0].kind(), sqlite_rebuild::StepKind::SwitchDefinition);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Rows are not checked (that is [`validate`](Self::validate)'s work, and the script's
    /// guards'); the schema steps are rehearsed as `validate` rehearses them, so a dependent
    /// the rebuild would break is refused here too. Read-only, as `validate` is.
    ///
    /// # Errors
    ///
    /// The same input errors as [`validate`](Self::validate), and a dependent the rebuild
    /// would break.
    pub fn plan(&self, conn: &Connection) -> Result<RebuildPlan> {
        let pre = preflight(conn, self, Verb::Plan)?;
        let _foreign_keys = ForeignKeysOff::engage(conn, &self.table)?;
        let facts = introspect(conn, self, &pre)?;
        let plan = strategy::plan(conn, self, facts, Purpose::Execute)?;
        execute::rehearse_schema(conn, self, &plan)?;
        Ok(plan)
    }

    /// Runs the rebuild in its own transaction.
    ///
    /// Foreign key enforcement is switched off before `BEGIN IMMEDIATE` (SQLite ignores
    /// the pragma inside a transaction) and the caller's setting is restored afterwards,
    /// on every path.
    ///
    /// # Errors
    ///
    /// [`Error::Violations`](crate::Error::Violations) when rows would violate the target;
    /// [`Error::TransactionOpen`](crate::Error::TransactionOpen) when called inside a
    /// transaction (use [`execute_in`](Self::execute_in)); any input error of
    /// [`validate`](Self::validate); a failed check before commit. The database is
    /// unchanged whenever an error is returned.
    pub fn execute(&self, conn: &mut Connection) -> Result<RebuildReport> {
        execute::execute(conn, self)
    }

    /// Runs the rebuild inside the caller's open transaction, under a savepoint, as
    /// migration frameworks call it. On error the transaction is as it was before the call.
    ///
    /// With `foreign_keys=ON` (which the pragma cannot change inside a transaction),
    /// enforcement is suspended for the rebuild through `SQLITE_DBCONFIG_ENABLE_FKEY` and
    /// restored afterwards, so dropping the old table cascades to no child row and fires no
    /// child trigger. Foreign keys touching the table are checked before the savepoint is
    /// released.
    ///
    /// # Errors
    ///
    /// As [`execute`](Self::execute), except [`Error::TransactionOpen`](crate::Error::TransactionOpen);
    /// [`Error::TransactionEnded`](crate::Error::TransactionEnded) when `tx` has already
    /// ended.
    pub fn execute_in(&self, tx: &Transaction<'_>) -> Result<RebuildReport> {
        execute::execute_in(tx, self)
    }

    /// Runs the rebuild online, for a connection of its own while the application goes on
    /// writing through others (on a WAL database, readers and writers both go on; in
    /// rollback-journal mode each chunk also blocks the readers while it commits).
    ///
    /// One short transaction creates the copy (with the table's indexes, by default), a
    /// change log and triggers on the old table that log which rows the application
    /// changes. The rows are copied in chunks by rowid, each its own transaction sized to
    /// [`OnlineOptions::chunk_time`], through the one-shot's own copy statement (same rules,
    /// same constraints), with [`OnlineOptions::pause`] left to the writers between them;
    /// the log is applied in chunks until little is left. One cut-over transaction applies
    /// the rest, runs the rest of the one-shot's plan (the old table renamed aside instead
    /// of dropped, the copy renamed in, its indexes renamed in, triggers and statistics
    /// back) and its checks before commit; the old table is then purged in chunks, each
    /// read through the rules first, so the report counts what they changed in the table
    /// the cut-over swapped out. Progress goes to [`on_progress`](Self::on_progress):
    /// [`Phase::Copy`](crate::Phase::Copy), [`Phase::CatchUp`](crate::Phase::CatchUp)
    /// (the log's backlog), [`Phase::CutOver`](crate::Phase::CutOver), and
    /// [`Phase::Purge`](crate::Phase::Purge).
    ///
    /// A run that is killed leaves the application's table whole: the old one until the
    /// cut-over commits (with the logging triggers until a later call), the new one after.
    /// The next `execute_online` of the table removes what was left and starts again (or
    /// finishes the purge) once the killed run's state shows no progress for
    /// [`OnlineOptions::lock_wait`] plus 10 s; [`clean_up_online`](Self::clean_up_online)
    /// does so at once. A change the application makes meanwhile to the schema the rebuild
    /// depends on (the table, its family, views, triggers) refuses the cut-over.
    ///
    /// # Errors
    ///
    /// As [`execute`](Self::execute): violations found in any chunk refuse the whole
    /// rebuild with the one-shot's report, or, with
    /// [`on_violation`](Self::on_violation) set to quarantine, the rows that violate move
    /// with their child rows into quarantine as the one-shot moves them (each such pass is
    /// one transaction that reads the whole table: the writers wait for it), and the copy
    /// goes on. [`Error::OnlineUnsupported`](crate::Error::OnlineUnsupported)
    /// for what only the one-shot rebuild does (WITHOUT ROWID tables, rowids that change,
    /// children's keys that follow a remap, restoring quarantined rows, column renames,
    /// full-text external content, a TEMP table of the same name on this connection, on a
    /// defensive connection a target that is the schema's first AUTOINCREMENT table); [`Error::OnlineRunning`](crate::Error::OnlineRunning) while another run of
    /// the table makes progress; [`Error::Busy`](crate::Error::Busy) when the write lock is
    /// not free within [`OnlineOptions::lock_wait`]. On error, whatever was set up is
    /// removed.
    pub fn execute_online(
        &self,
        conn: &mut Connection,
        options: &OnlineOptions,
    ) -> Result<RebuildReport> {
        execute::execute_online(conn, self, options)
    }

    /// Removes what an online rebuild of this table that was killed left behind: before its
    /// cut-over, the logging triggers, the change log and the scratch copy; after it, the
    /// rest of the old table. Does nothing when nothing was left. Unlike the next
    /// `execute_online`, which refuses with [`Error::OnlineRunning`](crate::Error::OnlineRunning)
    /// while the state shows recent progress, this takes the caller's word that the run is
    /// dead.
    ///
    /// # Errors
    ///
    /// [`Error::Busy`](crate::Error::Busy) when the write lock is not free in time; SQLite's
    /// errors.
    pub fn clean_up_online(&self, conn: &Connection, options: &OnlineOptions) -> Result<()> {
        execute::clean_up_online(conn, &self.schema, &self.table, options, true)
    }
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
        check_sqlite()?;
        let t = catalog::resolve_table(conn, schema, table)?;
        let dependents = catalog::dependents(conn, &t)?;
        Ok(TableSnapshot {
            schema: t.schema,
            table: t.name,
            create_sql: t.sql,
            dependents,
        })
    }
}

//! The crate's error type: every way a rebuild can be refused or fail, each naming the
//! table, column, constraint or row at fault. Depends on the reports only.

use crate::report::ValidationReport;
use std::fmt;

/// What kind of schema object an [`Error::DependentBroken`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DependentKind {
    /// An index (`CREATE INDEX`).
    Index,
    /// A trigger.
    Trigger,
    /// A view.
    View,
    /// A full-text index (FTS4/FTS5) whose external content is the table.
    FullText,
    /// SQLite named no single object: the schema as a whole fails to re-parse.
    Schema,
}

impl DependentKind {
    /// The kind as SQLite's `sqlite_schema.type` and its messages spell it: `index`,
    /// `trigger`, `view` (`full-text index` for [`DependentKind::FullText`], a virtual
    /// table, and `schema` for [`DependentKind::Schema`]).
    pub fn as_str(self) -> &'static str {
        match self {
            DependentKind::Index => "index",
            DependentKind::Trigger => "trigger",
            DependentKind::View => "view",
            DependentKind::FullText => "full-text index",
            DependentKind::Schema => "schema",
        }
    }

    /// The kind of a `sqlite_schema.type` value, for the kinds that depend on a table.
    pub(crate) fn from_schema_type(kind: &str) -> Option<Self> {
        match kind {
            "index" => Some(DependentKind::Index),
            "trigger" => Some(DependentKind::Trigger),
            "view" => Some(DependentKind::View),
            _ => None,
        }
    }
}

impl fmt::Display for DependentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of rule an [`Error::UnknownColumn`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RuleKind {
    /// A [`column`](crate::TableRebuild::column) expression.
    Column,
    /// A [`remap`](crate::TableRebuild::remap), `remap_null` or `remap_with` rule.
    Remap,
    /// A [`drop_column`](crate::TableRebuild::drop_column) naming an old column.
    DropColumn,
}

impl RuleKind {
    /// `column`, `remap` or `drop_column`, as the builder method is called.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Column => "column",
            RuleKind::Remap => "remap",
            RuleKind::DropColumn => "drop_column",
        }
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a rebuild was refused or failed.
///
/// Whatever the variant, the database is as it was before the call: every error is raised
/// either before anything was written or after the rebuild's savepoint was rolled back.
///
/// [`Error::Violations`] is the refusal to expect from data that does not fit yet; the other
/// variants name input to fix (a table, column, rule or dependent) or an SQLite failure.
///
/// ```
/// use sqlite_rebuild::{rusqlite::Connection, Error, TableRebuild};
///
/// let mut conn = Connection::open_in_memory()?;
/// conn.execute_batch("CREATE TABLE t (a TEXT); INSERT INTO t VALUES ('x');")?;
/// let err = TableRebuild::new("t")
///     .create_sql("CREATE TABLE t (a TEXT, b TEXT NOT NULL)")
///     .execute(&mut conn)
///     .unwrap_err();
/// match &err {
///     Error::Violations(report) => eprintln!("data to fix first:\n{report}"),
///     Error::MissingSource { table, column } => assert_eq!((&**table, &**column), ("t", "b")),
///     other => panic!("{other}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Existing rows would violate the target table's constraints. The report says which
    /// constraints, how many rows, and shows a sample of them.
    #[error("{0}")]
    Violations(ValidationReport),

    /// No table of that name exists in the schema.
    #[error("no table \"{table}\" in schema \"{schema}\"")]
    UnknownTable {
        /// Schema searched (`main`, `temp` or an attached database's name).
        schema: String,
        /// The table name asked for.
        table: String,
    },

    /// The name refers to something that cannot be rebuilt by copy and swap.
    #[error("\"{table}\" is a {kind}, not an ordinary table; only ordinary tables can be rebuilt")]
    NotRebuildable {
        /// The name asked for.
        table: String,
        /// What it is: `view`, `virtual table`, `shadow table` or `internal sqlite_ table`.
        kind: String,
    },

    /// The target `CREATE TABLE` statement is unusable.
    #[error("target SQL for \"{table}\" is invalid: {reason}")]
    TargetSql {
        /// The table being rebuilt.
        table: String,
        /// What is wrong, including SQLite's own message for syntax errors.
        reason: String,
    },

    /// No target `CREATE TABLE` statement was given with [`create_sql`](crate::TableRebuild::create_sql).
    #[error(
        "no target schema for \"{table}\": call create_sql() with the new CREATE TABLE statement"
    )]
    MissingTargetSql {
        /// The table being rebuilt.
        table: String,
    },

    /// An operation ([`add_column`](crate::TableRebuild::add_column),
    /// [`rename_column`](crate::TableRebuild::rename_column), ...) cannot apply to the
    /// table's definition: it names a column or constraint the table lacks, contradicts
    /// another operation, or comes with [`create_sql`](crate::TableRebuild::create_sql).
    #[error("{operation} on \"{table}\": {reason}")]
    Operation {
        /// The table being rebuilt.
        table: String,
        /// The operation, as called: `rename_column("a", "b")`.
        operation: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A rule names a column the target table does not have (or cannot be written to).
    #[error("{rule} rule names column \"{column}\" of \"{table}\", which {problem}")]
    UnknownColumn {
        /// The table being rebuilt.
        table: String,
        /// The column named by the rule.
        column: String,
        /// The kind of rule.
        rule: RuleKind,
        /// What is wrong with it, e.g. `does not exist in the target`.
        problem: String,
    },

    /// An old column the target lacks holds values, and the caller did not let it go with
    /// [`drop_column`](crate::TableRebuild::drop_column).
    #[error(
        "column \"{column}\" of \"{table}\" holds {values} values (not NULL) that the target has \
         no column for; let them go with .drop_column(\"{column}\"), or keep them: add the \
         column to the target, or rename it with .column(\"new\", \"{column}\")"
    )]
    ColumnDropped {
        /// The table being rebuilt.
        table: String,
        /// The old column.
        column: String,
        /// How many rows hold a value other than NULL in it.
        values: u64,
    },

    /// A target column is `NOT NULL` without a `DEFAULT`, and nothing provides its value.
    #[error(
        "target column \"{table}\".\"{column}\" is NOT NULL without DEFAULT and has no source: \
         the old table has no column of that name; give one with .column(\"{column}\", expr)"
    )]
    MissingSource {
        /// The table being rebuilt.
        table: String,
        /// The target column without a value.
        column: String,
    },

    /// A `.column()` expression is not a single valid SQL expression over the old row.
    #[error("expression for column \"{column}\" of \"{table}\" is invalid: {reason}")]
    InvalidExpression {
        /// The table being rebuilt.
        table: String,
        /// The target column whose expression is at fault.
        column: String,
        /// What is wrong, including SQLite's message.
        reason: String,
    },

    /// A remap value could not be converted to an SQLite value.
    #[error("remap value for column \"{column}\" is not a valid SQLite value: {reason}")]
    InvalidValue {
        /// The column of the rule.
        column: String,
        /// Why the conversion failed.
        reason: String,
    },

    /// A table declared with [`child`](crate::TableRebuild::child) has no foreign key to the table.
    #[error(
        "\"{child}\" was declared a child of \"{table}\" but has no foreign key referencing it"
    )]
    NotAChild {
        /// The table being rebuilt.
        table: String,
        /// The declared child.
        child: String,
    },

    /// A child's foreign key would no longer find a PRIMARY KEY or UNIQUE key in the target.
    #[error(
        "child \"{child}\" references \"{table}\"({columns}), but the target table has no \
         PRIMARY KEY or UNIQUE constraint on exactly those columns"
    )]
    ChildKeyMissing {
        /// The table being rebuilt.
        table: String,
        /// The child table.
        child: String,
        /// The referenced columns, comma separated.
        columns: String,
    },

    /// A foreign key of the target references a parent with no PRIMARY KEY or UNIQUE
    /// constraint on exactly those columns: SQLite would refuse every write to the table
    /// with "foreign key mismatch".
    #[error(
        "the target of \"{table}\" references \"{parent}\"({columns}), which has no PRIMARY KEY \
         or UNIQUE constraint on exactly those columns: SQLite would refuse every write with \
         \"foreign key mismatch\"; reference a unique key of \"{parent}\", or make one"
    )]
    ParentKeyMissing {
        /// The table being rebuilt.
        table: String,
        /// The referenced table.
        parent: String,
        /// The referenced columns, comma separated.
        columns: String,
    },

    /// An index, trigger or view could not be recreated, or no longer works, after the swap.
    #[error("{kind} \"{name}\" on \"{table}\" would break: {reason}; change the target, or let the rebuild drop it with .drop_dependent(\"{name}\")")]
    DependentBroken {
        /// The table being rebuilt.
        table: String,
        /// What the dependent is.
        kind: DependentKind,
        /// The dependent's name.
        name: String,
        /// SQLite's message.
        reason: String,
    },

    /// [`TableRebuild::drop_dependent`](crate::TableRebuild::drop_dependent) names
    /// something that is neither an index or trigger of the table nor a view or trigger.
    #[error("\"{name}\" is not an index or trigger of \"{table}\", nor a view or trigger in its schema; drop_dependent cannot drop it")]
    UnknownDependent {
        /// The table being rebuilt.
        table: String,
        /// The name given.
        name: String,
    },

    /// The plan cannot be rendered as an SQL script ([`RebuildPlan::to_sql`](crate::RebuildPlan::to_sql)).
    #[error("the rebuild of \"{table}\" cannot run as a plain SQL script: {reason}; run it with execute() or execute_in() instead")]
    NotRenderable {
        /// The table being rebuilt.
        table: String,
        /// What needs Rust at run time, e.g. a closure rule on a column.
        reason: String,
    },

    /// A script that copies the table's family cannot drop the old tables in any order
    /// without a cascade: their foreign keys form a cycle. Render it with
    /// [`ChildTables::Repoint`](crate::ChildTables::Repoint) where `writable_schema` is
    /// allowed, or [`ChildTables::EnforcementOff`](crate::ChildTables::EnforcementOff) (and
    /// switch enforcement off around it), or run the rebuild with execute().
    #[error("the tables referencing \"{table}\" form a cycle of foreign keys ({}): with enforcement on, no order of drops avoids a cascade; render the script with ChildTables::Repoint (where writable_schema is allowed) or ChildTables::EnforcementOff (foreign keys off around it), or use execute()", cycle.join(" -> "))]
    ReferenceCycle {
        /// The table being rebuilt.
        table: String,
        /// The tables in the cycle.
        cycle: Vec<String>,
    },

    /// A quarantine table cannot be created, filled or restored from.
    #[error("quarantine table \"{table}\": {reason}")]
    Quarantine {
        /// The quarantine table.
        table: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The table's implicit rowids cannot be carried over: a copy would renumber its rows.
    /// SQLite reaches a rowid by the names `rowid`, `oid` and `_rowid_`; when columns take
    /// all three (in the old table or in the target), no statement can read or write it.
    #[error(
        "the implicit rowids of \"{table}\" cannot be kept: {reason}; a copy would renumber its \
         rows. Rename one of those columns first (ALTER TABLE ... RENAME COLUMN), or give the \
         target an INTEGER PRIMARY KEY"
    )]
    RowidUnreachable {
        /// The table being rebuilt.
        table: String,
        /// Which table's columns shadow every rowid name.
        reason: String,
    },

    /// A check before commit failed, so the rebuild was rolled back.
    #[error("post-rebuild check on \"{table}\" failed, rolled back: {reason}")]
    CheckFailed {
        /// The table being rebuilt.
        table: String,
        /// Which check and what it found.
        reason: String,
    },

    /// [`execute`](crate::TableRebuild::execute) was called while a transaction is open.
    #[error(
        "a transaction is already open on this connection; call execute_in() with that \
         transaction, or execute() outside it"
    )]
    TransactionOpen,

    /// [`execute_in`](crate::TableRebuild::execute_in) was given a transaction that has
    /// already ended (SQLite rolls a transaction back by itself after some errors, or the
    /// caller ran `ROLLBACK` or `COMMIT` on it): the rebuild would commit on its own.
    #[error(
        "the transaction given to execute_in() has already ended (rolled back or committed); \
         begin a new one, or call execute()"
    )]
    TransactionEnded,

    /// `PRAGMA foreign_keys = OFF` did not take effect, so the rebuild could not run safely.
    #[error("could not switch foreign key enforcement off; refusing to rebuild \"{table}\"")]
    ForeignKeysStillOn {
        /// The table being rebuilt.
        table: String,
    },

    /// The database runs with `journal_mode=OFF`, so a failed rebuild could not be undone.
    #[error("database \"{schema}\" has journal_mode=OFF: a rebuild could not be rolled back; set another journal mode first")]
    NoJournal {
        /// The schema whose journal is off.
        schema: String,
    },

    /// The database file, or the disk holding it (or the journal), is full. The rebuild was
    /// rolled back.
    #[error(
        "{context}: the database or disk is full ({source}); nothing was changed. A rebuild \
         needs room for a second copy of the table: free space (or raise PRAGMA \
         max_page_count) and retry"
    )]
    DiskFull {
        /// The step that ran out of space.
        context: String,
        /// SQLite's error (`SQLITE_FULL`).
        #[source]
        source: rusqlite::Error,
    },

    /// Another connection holds a lock that the rebuild needs, and the connection's busy
    /// timeout ran out. Nothing was changed.
    #[error(
        "{context}: the database is locked by another connection ({source}); nothing was \
         changed. Retry later, or give the connection a longer busy timeout"
    )]
    Busy {
        /// The step that waited.
        context: String,
        /// SQLite's error (`SQLITE_BUSY`).
        #[source]
        source: rusqlite::Error,
    },

    /// A table the rebuild must change is in use on this very connection: a statement of
    /// the caller's is still reading it (or, with a shared cache, another connection of the
    /// same process holds it). Retrying cannot help until that statement is finished or
    /// dropped. Nothing was changed.
    #[error(
        "{context}: a table is locked ({source}): a statement of this connection is still \
         reading it (or a connection sharing its cache holds it); finish or drop that \
         statement, then run the rebuild again. Nothing was changed"
    )]
    Locked {
        /// The step that found the table locked.
        context: String,
        /// SQLite's error (`SQLITE_LOCKED`).
        #[source]
        source: rusqlite::Error,
    },

    /// The rebuild was interrupted (`sqlite3_interrupt`, rusqlite's `InterruptHandle`) and
    /// rolled back.
    #[error("{context}: interrupted ({source}); nothing was changed")]
    Interrupted {
        /// The step that was running.
        context: String,
        /// SQLite's error (`SQLITE_INTERRUPT`).
        #[source]
        source: rusqlite::Error,
    },

    /// The database (or the connection to it) is read-only, or `PRAGMA query_only` is on; a
    /// rebuild must write. Raised before any work.
    #[error(
        "database \"{schema}\" is read-only on this connection (or PRAGMA query_only is on): \
         a rebuild writes; open it read-write"
    )]
    ReadOnly {
        /// The schema that cannot be written.
        schema: String,
    },

    /// Every scratch name the rebuild tried for a temporary table is taken.
    #[error("no free name for a scratch table in schema \"{schema}\": \"{base}\" and its 10000 numbered variants are all taken")]
    NoFreeName {
        /// The schema searched.
        schema: String,
        /// The name tried first.
        base: String,
    },

    /// The rebuild cannot run online (the one-shot `execute` can): `reason` says why.
    #[error("table \"{table}\" cannot be rebuilt online: {reason}; nothing was changed")]
    OnlineUnsupported {
        /// The table.
        table: String,
        /// What the online mode does not do.
        reason: String,
    },

    /// Another online rebuild of the table made progress `seconds_ago` seconds ago: it is
    /// probably still running, and what it set up is left alone. A run that was killed is
    /// taken over once its state is older than the lock wait plus 10 s, or at once by
    /// [`clean_up_online`](crate::TableRebuild::clean_up_online).
    #[error(
        "another online rebuild of \"{table}\" made progress {seconds_ago} s ago and is probably \
         still running; if it was killed, call clean_up_online() or wait; nothing was changed"
    )]
    OnlineRunning {
        /// The table.
        table: String,
        /// Seconds since that run last recorded progress.
        seconds_ago: i64,
    },

    /// An online rebuild of the table is running, or was killed and not yet cleaned up: its
    /// logging triggers are still on the table, so the other verbs leave it alone.
    #[error(
        "an online rebuild of \"{table}\" is running or was killed (phase {phase}); let it \
         finish, or call execute_online() or clean_up_online() to finish or remove it; \
         nothing was changed"
    )]
    OnlineInProgress {
        /// The table.
        table: String,
        /// The phase its state records: `copy` (before the cut-over) or `purge` (after).
        phase: String,
    },

    /// An online rebuild cut over (the table is rebuilt and checked, and committed), then
    /// stopped while deleting the old table, set aside under `"sqlite-rebuild old <table>"`:
    /// the next `execute_online` of the table, or
    /// [`clean_up_online`](crate::TableRebuild::clean_up_online), finishes deleting it.
    #[error(
        "the online rebuild of \"{table}\" is done, but deleting the old table stopped: {source}; \
         the next execute_online() or clean_up_online() finishes it"
    )]
    PurgeUnfinished {
        /// The rebuilt table.
        table: String,
        /// Why the purge stopped.
        source: Box<Error>,
    },

    /// SQLite reported an error; `context` says which step.
    #[error("{context}: {source}")]
    Sqlite {
        /// The step that failed.
        context: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// The SQLite library linked at run time is older than this crate needs (a system SQLite
    /// without the `bundled` feature).
    #[error("SQLite {found} is too old: sqlite-rebuild needs {required} or later")]
    UnsupportedSqlite {
        /// The version in use, e.g. `3.31.1`.
        found: String,
        /// The minimum version, [`MIN_SQLITE_VERSION`](crate::MIN_SQLITE_VERSION).
        required: String,
    },
}

impl Error {
    /// Wraps a rusqlite error with the step that produced it.
    ///
    /// Errors that come from the situation rather than the rebuild (a full disk, a lock held
    /// elsewhere, an interrupt) get variants of their own, so callers can match on them.
    pub(crate) fn sqlite(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Error {
        let context = context.into();
        move |source| match Error::operational(&context, source) {
            Ok(e) => e,
            Err(source) => Error::Sqlite { context, source },
        }
    }

    /// The typed error for a failure caused by the environment, or the error back.
    pub(crate) fn operational(
        context: &str,
        source: rusqlite::Error,
    ) -> std::result::Result<Error, rusqlite::Error> {
        use rusqlite::ErrorCode;
        let context = context.to_owned();
        match source.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => Ok(Error::DiskFull { context, source }),
            Some(ErrorCode::DatabaseBusy) => Ok(Error::Busy { context, source }),
            Some(ErrorCode::DatabaseLocked) => Ok(Error::Locked { context, source }),
            Some(ErrorCode::OperationInterrupted) => Ok(Error::Interrupted { context, source }),
            _ => Err(source),
        }
    }
}

impl Error {
    /// Turns SQLite's "error in view v: no such column: b" into a typed error naming the
    /// view; a message that names no dependent blames the schema as a whole.
    pub(crate) fn dependent_broken(table: &str, message: String) -> Error {
        let parsed = message.strip_prefix("error in ").and_then(|rest| {
            let (kind, rest) = rest.split_once(' ')?;
            let kind = DependentKind::from_schema_type(kind)?;
            let (name, reason) = rest.split_once(": ")?;
            Some((kind, name.to_owned(), reason.to_owned()))
        });
        match parsed {
            Some((kind, name, reason)) => Error::DependentBroken {
                table: table.to_owned(),
                kind,
                name,
                reason,
            },
            None => Error::DependentBroken {
                table: table.to_owned(),
                kind: DependentKind::Schema,
                name: table.to_owned(),
                reason: message,
            },
        }
    }
}

/// SQLite's message without rusqlite's wrapping.
pub(crate) fn sqlite_message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
        other => other.to_string(),
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_dependents_are_named_by_kind() {
        let e = Error::dependent_broken("t", "error in view v: no such column: b".into());
        assert!(
            matches!(&e, Error::DependentBroken { kind: DependentKind::View, name, reason, .. }
            if name == "v" && reason == "no such column: b"),
            "{e:?}"
        );
        let e = Error::dependent_broken("t", "error in trigger t log: no such column: x".into());
        assert!(
            matches!(&e, Error::DependentBroken { kind: DependentKind::Trigger, name, .. } if name == "t log"),
            "{e:?}"
        );
        let e = Error::dependent_broken("t", "error in table t: x".into());
        assert!(
            matches!(&e, Error::DependentBroken { kind: DependentKind::Schema, name, .. } if name == "t"),
            "{e:?}"
        );
        let e = Error::dependent_broken("t", "malformed database schema".into());
        assert!(
            matches!(
                &e,
                Error::DependentBroken {
                    kind: DependentKind::Schema,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}

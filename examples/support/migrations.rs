//! A minimal stand-in for `rusqlite_migration` 2.x, with its API and its order of work.
//!
//! No release of `rusqlite_migration` builds against rusqlite 0.43 (2.6.0, the newest, pins
//! rusqlite 0.40), and two rusqlite versions cannot share a build: both link `sqlite3`. This
//! file reproduces what `Migrations::to_latest` does, so the example and the tests run the
//! hook exactly as the real framework would. With a matching release, delete this module
//! and import `rusqlite_migration::{HookError, HookResult, Migrations, M}` instead.
//!
//! `to_latest` (rusqlite_migration 2.6 `goto_up`): one transaction for every pending
//! migration; for each, its SQL, then `PRAGMA foreign_key_check` when the migration asks for
//! it, then its hook; then `user_version`; then COMMIT. Any error drops the transaction.
#![allow(dead_code)]

use sqlite_rebuild::rusqlite::{self, Connection, Transaction};

/// As `rusqlite_migration::HookError`.
#[derive(Debug)]
#[allow(clippy::enum_variant_names)] // upstream's names
pub enum HookError {
    /// A rusqlite error from the hook.
    RusqliteError(rusqlite::Error),
    /// The hook's own error.
    Hook(String),
}

impl From<rusqlite::Error> for HookError {
    fn from(e: rusqlite::Error) -> Self {
        HookError::RusqliteError(e)
    }
}

/// As `rusqlite_migration::HookResult`.
pub type HookResult<E = HookError> = Result<(), E>;

/// As `rusqlite_migration::Error` (the variants these migrations can produce).
#[derive(Debug)]
#[allow(clippy::enum_variant_names)] // upstream's names
pub enum Error {
    /// SQL of a migration failed.
    RusqliteError { query: String, err: rusqlite::Error },
    /// A hook failed.
    Hook(String),
    /// `PRAGMA foreign_key_check` found rows: (table, rowid, parent, fkid).
    ForeignKeyCheck(Vec<(String, Option<i64>, String, i64)>),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::RusqliteError { query, err } => write!(f, "{err} (in {query:?})"),
            Error::Hook(msg) => write!(f, "hook failed: {msg}"),
            Error::ForeignKeyCheck(rows) => write!(f, "foreign key check failed: {rows:?}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<HookError> for Error {
    fn from(e: HookError) -> Self {
        match e {
            HookError::RusqliteError(err) => Error::RusqliteError {
                query: String::new(),
                err,
            },
            HookError::Hook(msg) => Error::Hook(msg),
        }
    }
}

type Hook = Box<dyn Fn(&Transaction) -> HookResult + Send + Sync>;

/// As `rusqlite_migration::M`.
pub struct M<'u> {
    up: &'u str,
    up_hook: Option<Hook>,
    foreign_key_check: bool,
}

impl<'u> M<'u> {
    /// A migration of plain SQL.
    pub fn up(sql: &'u str) -> Self {
        M {
            up: sql,
            up_hook: None,
            foreign_key_check: false,
        }
    }

    /// SQL, then `hook` on the migration's transaction.
    pub fn up_with_hook(
        sql: &'u str,
        hook: impl Fn(&Transaction) -> HookResult + Clone + Send + Sync + 'static,
    ) -> Self {
        M {
            up_hook: Some(Box::new(hook)),
            ..M::up(sql)
        }
    }

    /// Fail the migration if `PRAGMA foreign_key_check` reports rows after its SQL.
    pub fn foreign_key_check(mut self) -> Self {
        self.foreign_key_check = true;
        self
    }
}

/// As `rusqlite_migration::Migrations`.
pub struct Migrations<'u> {
    ms: Vec<M<'u>>,
}

impl<'u> Migrations<'u> {
    pub fn new(ms: Vec<M<'u>>) -> Self {
        Migrations { ms }
    }

    /// Runs every migration above `PRAGMA user_version`, in one transaction.
    pub fn to_latest(&self, conn: &mut Connection) -> Result<(), Error> {
        let sql_error = |query: &str| {
            let query = query.to_owned();
            move |err| Error::RusqliteError { query, err }
        };
        let current: usize = conn
            .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
            .map_err(sql_error("PRAGMA user_version"))? as usize;
        let tx = conn.transaction().map_err(sql_error("BEGIN"))?;
        for m in self.ms.iter().skip(current) {
            tx.execute_batch(m.up).map_err(sql_error(m.up))?;
            if m.foreign_key_check {
                foreign_key_check(&tx)?;
            }
            if let Some(hook) = &m.up_hook {
                hook(&tx)?;
            }
        }
        tx.pragma_update(None, "user_version", self.ms.len() as i64)
            .map_err(sql_error("PRAGMA user_version"))?;
        tx.commit().map_err(sql_error("COMMIT"))
    }
}

fn foreign_key_check(tx: &Transaction) -> Result<(), Error> {
    const CHECK: &str = "SELECT * FROM pragma_foreign_key_check";
    let sql_error = |err| Error::RusqliteError {
        query: CHECK.to_owned(),
        err,
    };
    let mut stmt = tx.prepare(CHECK).map_err(sql_error)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .map_err(sql_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_error)?;
    if rows.is_empty() {
        Ok(())
    } else {
        Err(Error::ForeignKeyCheck(rows))
    }
}

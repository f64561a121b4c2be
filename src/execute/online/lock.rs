//! The transactions of an online run, which share the write lock with the application:
//! `BEGIN IMMEDIATE` with the run's own polling for the lock, chunk sizes that follow the
//! time each transaction held it, and the pause (with a WAL checkpoint) between chunks.

use crate::builder::OnlineOptions;
use crate::error::{Error, Result};
use crate::sql::ident;
use rusqlite::{Connection, ErrorCode};
use std::time::{Duration, Instant};

/// What a chunk's transaction stopped on: a row SQLite refused, or anything else.
pub(super) enum Chunk {
    Copy(rusqlite::Error),
    Other(Error),
}

impl From<Error> for Chunk {
    fn from(e: Error) -> Self {
        Chunk::Other(e)
    }
}

/// Chunk sizes that keep each transaction near the time budget.
pub(super) struct ChunkSize {
    pub(super) rows: u64,
    pub(super) budget: Duration,
}

impl ChunkSize {
    pub(super) fn new(opts: &OnlineOptions) -> Self {
        ChunkSize {
            rows: opts.first_chunk_rows,
            budget: opts.chunk_time,
        }
    }

    /// Follows the rate just measured, by at most a factor of two either way.
    pub(super) fn measured(&mut self, rows: u64, took: Duration) {
        if rows == 0 {
            return;
        }
        let per_row = took.as_secs_f64() / rows as f64;
        let ideal = (self.budget.as_secs_f64() / per_row.max(1e-9)) as u64;
        self.rows = ideal.clamp((self.rows / 2).max(1), self.rows.saturating_mul(2).max(2));
    }
}

/// The writers' turn between two chunks. On a WAL database the rebuild also checkpoints
/// (PASSIVE: writers go on) what its chunk added to the log, so that the application's
/// next commit does not find the log past its auto-checkpoint size and copy the rebuild's
/// pages while its caller waits.
pub(super) fn pause(conn: &Connection, schema: &str, opts: &OnlineOptions) {
    let started = Instant::now();
    let wal = conn
        .query_row(&format!("PRAGMA {}.journal_mode", ident(schema)), [], |r| {
            r.get::<_, String>(0)
        })
        .is_ok_and(|mode| mode.eq_ignore_ascii_case("wal"));
    if wal {
        let checkpoint = conn.query_row(
            &format!("PRAGMA {}.wal_checkpoint(PASSIVE)", ident(schema)),
            [],
            |_| Ok(()),
        );
        if let Err(e) = checkpoint {
            log::debug!("a checkpoint between chunks failed: {e}");
        }
    }
    if let Some(left) = opts.pause.checked_sub(started.elapsed()) {
        std::thread::sleep(left);
    }
}

pub(super) fn exec(conn: &Connection, sql: &str, what: &str) -> std::result::Result<(), Chunk> {
    conn.execute_batch(sql)
        .map_err(|e| Chunk::Other(Error::sqlite(what.to_owned())(e)))
}

pub(super) fn chunk_error(e: Chunk) -> Error {
    match e {
        Chunk::Copy(e) => Error::sqlite("purging")(e),
        Chunk::Other(e) => e,
    }
}

/// Runs `f` in a `BEGIN IMMEDIATE` transaction, waiting for the write lock up to the
/// options' limit; commits, or rolls back on error.
pub(super) fn write<T, E: From<Error>>(
    conn: &Connection,
    opts: &OnlineOptions,
    what: &str,
    f: impl FnOnce(&Connection) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    retry_busy(conn, opts, what, "BEGIN IMMEDIATE")?;
    let result = f(conn);
    match result {
        Ok(v) => match retry_busy(conn, opts, what, "COMMIT") {
            Ok(()) => Ok(v),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e.into())
            }
        },
        Err(e) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(e)
        }
    }
}

/// [`write`], also returning how long the transaction held the write lock: chunk sizes
/// follow that, not the wait for the lock before it (which would shrink them to nothing
/// under busy writers).
pub(super) fn write_held<T, E: From<Error>>(
    conn: &Connection,
    opts: &OnlineOptions,
    what: &str,
    f: impl FnOnce(&Connection) -> std::result::Result<T, E>,
) -> std::result::Result<(T, Duration), E> {
    let mut began = Instant::now();
    write(conn, opts, what, |conn| {
        began = Instant::now();
        f(conn)
    })
    .map(|v| (v, began.elapsed()))
}

/// Runs `f` in a read transaction, always rolled back.
pub(super) fn read<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("BEGIN")
        .map_err(Error::sqlite("beginning a read transaction"))?;
    let result = f(conn);
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

pub(super) fn retry_busy(
    conn: &Connection,
    opts: &OnlineOptions,
    what: &str,
    sql: &str,
) -> Result<()> {
    let started = Instant::now();
    // Short polls: the application's writers sleep in their busy handlers too, and a
    // rebuild polling as slowly as they do would rarely find the lock free between them.
    let mut wait = Duration::from_micros(100);
    loop {
        match conn.execute_batch(sql) {
            Ok(()) => return Ok(()),
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && started.elapsed() < opts.lock_wait =>
            {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(1));
            }
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                return Err(Error::Busy {
                    context: what.to_owned(),
                    source: e,
                })
            }
            Err(e) => return Err(Error::sqlite(what.to_owned())(e)),
        }
    }
}

//! The caller's settings for an online rebuild ([`OnlineOptions`]): how long each chunk may
//! hold SQLite's write lock, how long writers get between chunks, how long to wait for it.

use std::time::Duration;

/// How an online rebuild ([`TableRebuild::execute_online`](crate::TableRebuild::execute_online))
/// shares the write lock with the application's writers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnlineOptions {
    pub(crate) chunk_time: Duration,
    pub(crate) pause: Duration,
    pub(crate) lock_wait: Duration,
    pub(crate) first_chunk_rows: u64,
    pub(crate) indexes_at_cut_over: bool,
}

impl Default for OnlineOptions {
    fn default() -> Self {
        OnlineOptions {
            chunk_time: Duration::from_millis(30),
            pause: Duration::from_millis(20),
            lock_wait: Duration::from_secs(30),
            first_chunk_rows: 1_000,
            indexes_at_cut_over: false,
        }
    }
}

impl OnlineOptions {
    /// The time each chunk's transaction should hold the write lock (default 30 ms; the idea
    /// of pt-online-schema-change's `--chunk-time`): chunk sizes follow the rate measured
    /// on the previous chunks. With the default pause, a writer in SQLite's default busy
    /// handler (retries after 1, 3, 8, 18, 33, 53 ms) finds the lock free within about
    /// 50 ms; BENCHMARKS.md measures it.
    pub fn chunk_time(mut self, budget: Duration) -> Self {
        self.chunk_time = budget.max(Duration::from_millis(1));
        self
    }

    /// How long the rebuild leaves the lock to the application between chunks (default
    /// 20 ms): without it, a writer sleeping in its busy handler would find every chunk.
    /// Shorter pauses finish sooner, but writers whose retries fall into the chunks wait
    /// several chunks (10 ms: up to 180 ms measured).
    pub fn pause(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }

    /// How long the rebuild waits for the write lock before each of its transactions
    /// (default 30 s) before giving up with [`Error::Busy`](crate::Error::Busy). It polls
    /// the lock itself, every 0.1 to 1 ms; a busy timeout set on the connection also applies
    /// to each attempt, so keep it short (or 0) on the rebuild's connection.
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// Rows in the first chunk, before any rate is measured (default 1000).
    pub fn first_chunk_rows(mut self, rows: u64) -> Self {
        self.first_chunk_rows = rows.max(1);
        self
    }

    /// Where the table's indexes are built (default `false`: on the new table before the
    /// copy, so each chunk maintains them and the cut-over only renames them, through
    /// `writable_schema`). `true` builds them inside the cut-over's transaction, which holds
    /// the write lock for as long as building them over every row takes (BENCHMARKS.md
    /// measures both); a `SQLITE_DBCONFIG_DEFENSIVE` connection, which cannot write the
    /// schema, always does so.
    pub fn indexes_at_cut_over(mut self, at_cut_over: bool) -> Self {
        self.indexes_at_cut_over = at_cut_over;
        self
    }
}

//! What an online run leaves in the database between its transactions: its names, the
//! state row (phase, high-water mark, heartbeat), the change log; and taking it all away
//! again, for a run that stops before its cut-over or a later call after a kill.

use super::lock::*;
use crate::builder::OnlineOptions;
use crate::db::catalog;
use crate::db::guards::ForeignKeysPragmaOff;
use crate::error::{Error, Result};
use crate::sql::{self, ident, qualified};
use rusqlite::{Connection, OptionalExtension};

/// The table recording online runs in progress, one row per table.
pub(super) const STATE: &str = catalog::ONLINE_STATE;

/// The state's clock: seconds, as SQLite reads them.
pub(super) const NOW: &str = "CAST(strftime('%s', 'now') AS INTEGER)";

/// Seconds beyond the lock wait after which a run's state with no progress is a killed run's.
pub(super) const ALIVE_MARGIN_SECS: i64 = 10;

/// The names of what one run sets up beside the table.
pub(super) struct Run {
    pub(super) schema: String,
    pub(super) table: String,
    pub(super) scratch: String,
    pub(super) log: String,
    pub(super) aside: String,
    /// The target is the schema's first AUTOINCREMENT table: the copy is created without
    /// the keyword (which would create `sqlite_sequence`, for good), and the cut-over gives
    /// it back.
    pub(super) autoincrement_later: Option<Autoincrement>,
}

/// Where the `AUTOINCREMENT` keyword goes back into the table's stored statement.
pub(super) struct Autoincrement {
    /// Its span in the copy's `CREATE TABLE` statement.
    pub(super) span: (usize, usize),
    /// Its distance from the end of the table's name (the same in the stored statement,
    /// whose name the renames rewrite).
    pub(super) after_name: usize,
    pub(super) keyword: String,
}

impl Autoincrement {
    /// For the copy's statement `create`, when its AUTOINCREMENT can be found by token.
    pub(super) fn of(create: &str) -> Option<Autoincrement> {
        let span = sql::autoincrement_span(create)?;
        let name_end = sql::parse_create_table(create).ok()?.name_span.1;
        Some(Autoincrement {
            span,
            after_name: span.0.checked_sub(name_end)?,
            keyword: create.get(span.0..span.1)?.to_owned(),
        })
    }
}

impl Run {
    pub(super) fn new(schema: &str, table: &str, scratch: &str) -> Run {
        Run {
            schema: schema.to_owned(),
            table: table.to_owned(),
            scratch: scratch.to_owned(),
            log: format!("sqlite-rebuild log {table}"),
            aside: format!("sqlite-rebuild old {table}"),
            autoincrement_later: None,
        }
    }

    pub(super) fn q(&self, name: &str) -> String {
        qualified(&self.schema, name)
    }

    pub(super) fn triggers(&self) -> [String; 3] {
        ["insert", "update", "delete"].map(|op| format!("{} {op}", self.log))
    }

    pub(super) fn state(&self) -> String {
        self.q(STATE)
    }
}

pub(super) fn schema_changed(source: &crate::db::catalog::Table) -> Error {
    Error::CheckFailed {
        table: source.name.clone(),
        reason: "the schema changed during the online rebuild (the table, a table \
                 referencing it, a view or a trigger); nothing was swapped, run it again"
            .into(),
    }
}

/// The logging triggers and the change log; `if_exists` when a killed run may have left
/// only part of them (the cut-over insists they are all there).
pub(super) fn drop_change_log(
    conn: &Connection,
    run: &Run,
    if_exists: bool,
) -> std::result::Result<(), Chunk> {
    let if_exists = if if_exists { "IF EXISTS " } else { "" };
    for trigger in run.triggers() {
        exec(
            conn,
            &format!("DROP TRIGGER {if_exists}{}", run.q(&trigger)),
            "dropping the change log's trigger",
        )?;
    }
    exec(
        conn,
        &format!("DROP TABLE {if_exists}{}", run.q(&run.log)),
        "dropping the change log",
    )
}

/// Deletes a table's rows in chunks, each its own transaction, then drops it: a DROP of a
/// large table would hold the lock while it frees every page.
pub(super) fn purge_table(
    rt_conn: &Connection,
    run: &Run,
    table: &str,
    opts: &OnlineOptions,
    read_first: Option<(&str, &[rusqlite::types::Value])>,
    progress: &dyn Fn(u64),
) -> Result<()> {
    let schema = run.schema.as_str();
    // A killed run may have dropped it already, and not yet recorded so.
    if !catalog::has_table(rt_conn, schema, table)? {
        return Ok(());
    }
    let q = qualified(schema, table);
    let mut chunk = ChunkSize::new(opts);
    let mut purged = 0u64;
    let failed = |e| Chunk::Other(Error::sqlite(format!("purging {}", ident(table)))(e));
    // Its rowid by a name no column hides (the old table's columns may be named rowid).
    let rowid = match catalog::resolve_table(rt_conn, schema, table)?.rowid_name() {
        Some(name) => ident(name),
        None => {
            return Err(Error::RowidUnreachable {
                table: table.to_owned(),
                reason: "its columns rowid, oid and _rowid_ hide it".into(),
            })
        }
    };
    loop {
        let rows = chunk.rows;
        let n = write_held(rt_conn, opts, "purging the old table", |conn| {
            // A range of rowids from the start (all that is left, at the end).
            let hi: Option<i64> = conn
                .query_row(
                    &format!("SELECT {rowid} FROM {q} ORDER BY {rowid} LIMIT 1 OFFSET ?1"),
                    [rows as i64 - 1],
                    |r| r.get(0),
                )
                .optional()
                .map_err(failed)?;
            let range = hi.map_or(String::new(), |hi| format!(" WHERE {rowid} <= {hi}"));
            if let Some((select, params)) = read_first {
                let mut stmt = conn.prepare(&format!("{select}{range}")).map_err(failed)?;
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(params))
                    .map_err(failed)?;
                while rows.next().map_err(failed)?.is_some() {}
            }
            let n = conn
                .execute(&format!("DELETE FROM {q}{range}"), [])
                .map_err(failed)?;
            beat(conn, run)?;
            Ok((n as u64, hi.is_none()))
        });
        let ((n, last), held) = n.map_err(chunk_error)?;
        purged += n;
        progress(purged);
        if last {
            break;
        }
        chunk.measured(n, held);
        pause(rt_conn, schema, opts);
    }
    write(rt_conn, opts, "dropping the old table", |conn| {
        exec(
            conn,
            &format!("DROP TABLE IF EXISTS {q}"),
            "dropping the purged table",
        )
    })
    .map_err(chunk_error)
}

/// Records that the run is alive (inside one of its transactions).
pub(super) fn beat(conn: &Connection, run: &Run) -> Result<()> {
    conn.execute(
        &format!("UPDATE {} SET beat = {NOW} WHERE tbl = ?1", run.state()),
        [&run.table],
    )
    .map(drop)
    .map_err(Error::sqlite("recording the online rebuild's progress"))
}

/// Removes the run's state row, and the state table once no run is left.
pub(super) fn forget(conn: &Connection, run: &Run, opts: &OnlineOptions) -> Result<()> {
    write(conn, opts, "ending the online rebuild", |conn| {
        conn.execute(
            &format!("DELETE FROM {} WHERE tbl = ?1", run.state()),
            [&run.table],
        )
        .map_err(Error::sqlite("removing the online rebuild's state"))?;
        let left: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {}", run.state()), [], |r| {
                r.get(0)
            })
            .map_err(Error::sqlite("reading the online rebuild's state"))?;
        if left == 0 {
            exec(
                conn,
                &format!("DROP TABLE {}", run.state()),
                "dropping the state table",
            )?;
        }
        Ok(())
    })
    .map_err(chunk_error)
}

/// Before the cut-over: the logging triggers and the log go at once (the application's
/// writes stop paying for them), then the scratch copy in chunks, then the state row.
pub(super) fn abandon(conn: &Connection, run: &Run, opts: &OnlineOptions) -> Result<()> {
    write(conn, opts, "removing the change log", |conn| {
        drop_change_log(conn, run, true)
    })
    .map_err(chunk_error)?;
    if catalog::has_table(conn, &run.schema, &run.scratch)? {
        purge_table(conn, run, &run.scratch, opts, None, &|_| {})?;
    }
    if catalog::has_table(conn, &run.schema, STATE)? {
        forget(conn, run, opts)?;
    }
    log::info!(
        "removed what the online rebuild of {} had set up",
        ident(&run.table)
    );
    Ok(())
}

/// What an earlier run left, found through the state table: set-up that never cut over is
/// removed, a purge that did not finish is finished. A run that recorded progress lately
/// may be alive in another process: it is left alone unless `force`.
pub(crate) fn finish_leftovers(
    conn: &Connection,
    schema: &str,
    table: &str,
    opts: &OnlineOptions,
    force: bool,
) -> Result<()> {
    if !catalog::has_table(conn, schema, STATE)? {
        return Ok(());
    }
    let row: Option<(String, String, i64)> = conn
        .query_row(
            &format!(
                "SELECT phase, scratch, {NOW} - beat FROM {} WHERE tbl = ?1 COLLATE NOCASE",
                qualified(schema, STATE)
            ),
            [table],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(Error::sqlite("reading an earlier online rebuild's state"))?;
    let Some((phase, scratch, seconds_ago)) = row else {
        return Ok(());
    };
    // A live run records progress in each of its transactions, and waits at most
    // `lock_wait` for each.
    let alive_within = opts.lock_wait.as_secs() as i64 + ALIVE_MARGIN_SECS;
    if !force && seconds_ago < alive_within {
        return Err(Error::OnlineRunning {
            table: table.to_owned(),
            seconds_ago,
        });
    }
    let run = Run::new(schema, table, &scratch);
    let _foreign_keys = ForeignKeysPragmaOff::engage(conn, table)?;
    if phase == "purge" {
        log::info!(
            "finishing the purge of an earlier online rebuild of {}",
            ident(table)
        );
        purge_table(conn, &run, &run.aside, opts, None, &|_| {})?;
        forget(conn, &run, opts)
    } else {
        log::info!(
            "an earlier online rebuild of {} stopped before its cut-over: removing what it set up",
            ident(table)
        );
        abandon(conn, &run, opts)
    }
}

//! The cut-over: one transaction that applies the last changes and runs the rest of the
//! one-shot's plan, with the old table renamed aside instead of dropped and the indexes
//! built on the copy renamed in, then the one-shot's checks.

use super::{copy::*, lock::*, state::*};
use crate::builder::OnlineOptions;
use crate::db::catalog;
use crate::db::guards::{edit_schema, PragmaSet};
use crate::error::{DependentKind, Error};
use crate::execute::checks::{self, Baseline};
use crate::execute::runtime::Runtime;
use crate::execute::steps;
use crate::execute::{foreign_key_violation, Stop, Tally};
use crate::introspect::DependentFacts;
use crate::report::Phase;
use crate::sql::{self, ident, qualified};
use crate::strategy::{Payload, PlanContext, RebuildPlan, StepKind};
use rusqlite::Connection;
use std::time::Instant;

/// What the kept statistics' index names start with while the old indexes are dropped.
pub(super) const STAT_LABEL: &str = "sqlite-rebuild kept ";

/// The one transaction that swaps the tables: the last changes, then the plan's own steps
/// from the drop of the old table on (the old table renamed aside instead, the indexes
/// built before the copy renamed in), then the one-shot's checks before commit.
pub(super) fn cut_over(
    rt: &Runtime<'_>,
    plan: &RebuildPlan,
    run: &Run,
    apply: &str,
    opts: &OnlineOptions,
    fingerprint_at_set_up: &str,
) -> std::result::Result<(Vec<String>, Tally), Chunk> {
    let conn = rt.conn;
    let ctx = plan.context();
    let facts = &ctx.facts;
    let source = &facts.source;
    let prebuilt = prebuilt(ctx, opts);
    rt.progress(Phase::CutOver, 0, 1);
    let started = Instant::now();
    let cut = write(conn, opts, "cutting over", |conn| {
        if catalog::fingerprint(conn, &source.schema, &source.name)? != fingerprint_at_set_up {
            return Err(Chunk::Other(schema_changed(source)));
        }
        apply_log(conn, ctx, run, apply, None)?;
        drop_change_log(conn, run, false)?;
        let baseline = Baseline::take(rt, ctx)?;
        let mut tally = Tally {
            old_rows: baseline.old_rows,
            rows_copied: baseline.old_rows,
            ..Tally::default()
        };
        // The counter as the application left it: its inserts since the plan raised it.
        let sequence = match facts.target.autoincrement {
            true => catalog::sequence(conn, &source.schema, &source.name)?,
            false => None,
        };
        for step in plan.steps() {
            let prebuilt_index = match step.payload() {
                Payload::Recreate { name, .. } => prebuilt
                    .iter()
                    .find(|d| d.def.name.eq_ignore_ascii_case(name)),
                _ => None,
            };
            match step.kind() {
                // Done before the cut-over, or below with the counter read above.
                StepKind::CreateTarget | StepKind::Copy | StepKind::RestoreSequence => {}
                StepKind::DropOld => set_aside(conn, ctx, run, &prebuilt)?,
                StepKind::CreateIndex if prebuilt_index.is_some() => {
                    if let Some(d) = prebuilt_index {
                        move_index_in(conn, run, d)?;
                        tally.recreated.push(d.def.name.clone());
                    }
                }
                kind if runs_online(kind) => {
                    steps::run(rt, ctx, step, &mut tally).map_err(|stop| match stop {
                        Stop::Violations(e) => Chunk::Copy(e),
                        Stop::Error(e) => Chunk::Other(e),
                    })?
                }
                other => return Err(Chunk::Other(unsupported_step(source, other))),
            }
        }
        if let Some(later) = &run.autoincrement_later {
            let rowid = facts.target.table.rowid_name().unwrap_or("rowid");
            give_autoincrement(conn, run, source, later, rowid)?;
        }
        if let Some(seq) = sequence {
            let seq_table = run.q("sqlite_sequence");
            conn.execute(
                &format!("UPDATE {seq_table} SET seq = max(seq, ?1) WHERE name = ?2"),
                (seq, &source.name),
            )
            .map_err(Error::sqlite("raising the AUTOINCREMENT counter"))?;
            conn.execute(&format!("INSERT INTO {seq_table} (name, seq) SELECT ?2, ?1 WHERE NOT EXISTS (SELECT 1 FROM {seq_table} WHERE name = ?2)"), (seq, &source.name))
                .map_err(Error::sqlite("recording the AUTOINCREMENT counter"))?;
        }
        // The one-shot proves the target's own foreign keys on the rows before its copy;
        // here the parents may have changed since any chunk: every row, now (the cost of
        // a target with foreign keys: one lookup per row inside the cut-over).
        if !facts.target.foreign_keys.is_empty() {
            let violations: i64 = conn
                .query_row(
                    "SELECT count(*) FROM pragma_foreign_key_check(?1, ?2)",
                    [&source.name, &source.schema],
                    |r| r.get(0),
                )
                .map_err(Error::sqlite("checking the table's foreign keys"))?;
            if violations > 0 {
                return Err(match foreign_key_violation() {
                    Stop::Violations(e) => Chunk::Copy(e),
                    Stop::Error(e) => Chunk::Other(e),
                });
            }
        }
        match checks::before_commit(rt, ctx, &baseline, &mut tally) {
            Ok(()) => {}
            Err(Stop::Violations(e)) => return Err(Chunk::Copy(e)),
            Err(Stop::Error(e)) => return Err(Chunk::Other(e)),
        }
        conn.execute(
            &format!(
                "UPDATE {} SET phase = 'purge', beat = {NOW} WHERE tbl = ?1",
                run.state()
            ),
            [&run.table],
        )
        .map_err(Error::sqlite("recording the cut-over"))?;
        let children: Vec<String> = baseline.children.iter().map(|c| c.name.clone()).collect();
        Ok((children, tally))
    })?;
    log::info!(
        "online rebuild of {}: cut over in {} ms",
        source.qualified(),
        started.elapsed().as_millis()
    );
    rt.progress(Phase::CutOver, 1, 1);
    Ok(cut)
}

/// The plan's steps the online mode runs (the others, it refuses up front).
pub(super) fn runs_online(kind: StepKind) -> bool {
    matches!(
        kind,
        StepKind::CreateTarget
            | StepKind::Copy
            | StepKind::RestoreSequence
            | StepKind::DropOld
            | StepKind::DropDependent
            | StepKind::KeepStatistics
            | StepKind::Rename
            | StepKind::SwitchDefinition
            | StepKind::CreateIndex
            | StepKind::CreateTrigger
            | StepKind::RestoreStatistics
    )
}

pub(super) fn unsupported_step(source: &crate::db::catalog::Table, kind: StepKind) -> Error {
    Error::OnlineUnsupported {
        table: source.name.clone(),
        reason: format!(
            "its rebuild needs a step the online mode does not run ({})",
            kind.describe()
        ),
    }
}

/// The old table out of the way, instead of the one-shot's drop: its triggers dropped (the
/// plan recreates them), the indexes built again at the cut-over dropped (their names are
/// needed), the rest going with it; the statistics `DROP TABLE` would delete deleted; then
/// renamed aside for the purge. Legacy renames touch nothing that names the table:
/// children's REFERENCES, views and triggers go on naming it, and find the new table.
pub(super) fn set_aside(
    conn: &Connection,
    ctx: &PlanContext,
    run: &Run,
    prebuilt: &[&DependentFacts],
) -> std::result::Result<(), Chunk> {
    let facts = &ctx.facts;
    let source = &facts.source;
    let stats: Vec<&String> = facts.statistics.iter().flat_map(|s| &s.tables).collect();
    // DROP INDEX deletes the statistics of its name, wherever the plan set them aside:
    // they are labelled apart around the drops.
    let stash = |from: &str, to: &str| -> std::result::Result<(), Chunk> {
        for stat in &stats {
            conn.execute(
                &format!(
                    "UPDATE {} SET idx = ?2 || substr(idx, length(?1) + 1) WHERE tbl = ?3 COLLATE NOCASE AND substr(idx, 1, length(?1)) = ?1",
                    run.q(stat)
                ),
                (from, to, &facts.scratch),
            )
            .map_err(Error::sqlite("setting the kept statistics apart"))?;
        }
        Ok(())
    };
    stash("", STAT_LABEL)?;
    for d in &facts.dependents {
        let kind = match d.def.kind {
            DependentKind::Index if prebuilt.iter().any(|p| p.def.name == d.def.name) => continue,
            DependentKind::Index => "INDEX",
            _ => "TRIGGER",
        };
        exec(
            conn,
            &format!(
                "DROP {kind} {}",
                qualified(d.def.owner(&source.schema), &d.def.name)
            ),
            "dropping the old table's index or trigger",
        )?;
    }
    stash(STAT_LABEL, "")?;
    for stat in &stats {
        conn.execute(
            &format!("DELETE FROM {} WHERE tbl = ?1 COLLATE NOCASE", run.q(stat)),
            [&source.name],
        )
        .map_err(Error::sqlite("deleting the old table's statistics"))?;
    }
    let _legacy = PragmaSet::legacy_alter_table(conn, true)?;
    exec(
        conn,
        &format!(
            "ALTER TABLE {} RENAME TO {}",
            source.qualified(),
            ident(&run.aside)
        ),
        "renaming the old table aside",
    )
}

/// The AUTOINCREMENT keyword the copy was created without, back into the new table's
/// stored statement where the target has it (`writable_schema`, then a new schema
/// version); `sqlite_sequence` made by an AUTOINCREMENT table created and dropped here,
/// inside the cut-over; the counter where the one-shot's copy leaves it (the largest rowid,
/// or 0 below it).
fn give_autoincrement(
    conn: &Connection,
    run: &Run,
    source: &crate::db::catalog::Table,
    later: &Autoincrement,
    rowid: &str,
) -> std::result::Result<(), Chunk> {
    let fail = |e| Chunk::Other(Error::sqlite("giving the new table its AUTOINCREMENT")(e));
    let maker = run.q("sqlite-rebuild sequence");
    exec(
        conn,
        &format!("CREATE TABLE {maker} (k INTEGER PRIMARY KEY AUTOINCREMENT); DROP TABLE {maker}"),
        "creating sqlite_sequence",
    )?;
    let master = run.q("sqlite_schema");
    let stored: String = conn
        .query_row(
            &format!("SELECT sql FROM {master} WHERE type = 'table' AND name = ?1"),
            [&source.name],
            |r| r.get(0),
        )
        .map_err(fail)?;
    let at = sql::parse_create_table(&stored)
        .ok()
        .map(|t| t.name_span.1 + later.after_name)
        .filter(|at| stored.is_char_boundary(*at));
    let Some(at) = at else {
        return Err(Chunk::Other(Error::CheckFailed {
            table: source.name.clone(),
            reason: "the new table's statement does not take its AUTOINCREMENT back".into(),
        }));
    };
    let with = format!("{}{}{}", &stored[..at], later.keyword, &stored[at..]);
    let switched = edit_schema(conn, &run.schema, |conn| {
        conn.execute(
            &format!("UPDATE {master} SET sql = ?1 WHERE type = 'table' AND name = ?2"),
            (&with, &source.name),
        )
        .map(|n| n == 1)
    })?;
    if !switched.map_err(fail)? {
        return Err(Chunk::Other(Error::CheckFailed {
            table: source.name.clone(),
            reason: "the new table's statement was not found in sqlite_schema".into(),
        }));
    }
    let rowid = ident(rowid);
    conn.execute(
        &format!(
            "INSERT INTO {} (name, seq) SELECT ?1, max(0, coalesce(max({rowid}), 0)) FROM {}",
            run.q("sqlite_sequence"),
            source.qualified()
        ),
        [&source.name],
    )
    .map_err(fail)?;
    Ok(())
}

/// Gives an index built on the new table its name: the old table's index of that name is
/// renamed aside (it goes with the purge), both by editing `sqlite_schema`, and the schema
/// version bumped so that every connection reloads it (SQLite's documented procedure).
/// The moved index's text is the old one's, as the one-shot's `CREATE INDEX` stores it.
pub(super) fn move_index_in(
    conn: &Connection,
    run: &Run,
    d: &DependentFacts,
) -> std::result::Result<(), Chunk> {
    let fail = |e| {
        Chunk::Other(Error::sqlite(format!(
            "moving the index {} in",
            ident(&d.def.name)
        ))(e))
    };
    let master = run.q("sqlite_schema");
    let aside_name = format!("sqlite-rebuild old {}", d.def.name);
    let aside_sql: String = conn
        .query_row(
            &format!("SELECT sql FROM {master} WHERE type = 'index' AND name = ?1 COLLATE NOCASE"),
            [&d.def.name],
            |r| r.get(0),
        )
        .map_err(fail)?;
    let aside_sql = sql::parse_create_index(&aside_sql)
        .map(|ix| sql::replace_span(&aside_sql, ix.name_span, &ident(&aside_name)))
        .map_err(|e| {
            Chunk::Other(Error::CheckFailed {
                table: run.table.clone(),
                reason: format!("the index {} does not parse: {e}", ident(&d.def.name)),
            })
        })?;
    let moved = edit_schema(conn, &run.schema, |conn| {
        let aside = conn.execute(
            &format!("UPDATE {master} SET name = ?1, sql = ?2 WHERE type = 'index' AND name = ?3 COLLATE NOCASE"),
            (&aside_name, &aside_sql, &d.def.name),
        )?;
        let moved_in = conn.execute(
            &format!("UPDATE {master} SET name = ?1, sql = ?2 WHERE type = 'index' AND name = ?3"),
            (&d.def.name, &d.def.sql, prebuilt_name(&d.def.name)),
        )?;
        Ok((aside, moved_in) == (1, 1))
    })?;
    if !moved.map_err(fail)? {
        return Err(Chunk::Other(Error::CheckFailed {
            table: run.table.clone(),
            reason: format!(
                "the index {} or its copy on the new table was not found in sqlite_schema",
                ident(&d.def.name)
            ),
        }));
    }
    Ok(())
}

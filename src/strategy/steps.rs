//! The steps of each strategy, in order, each carrying what it acts on: for a copy,
//! SQLite's generalized procedure (create, copy, drop, rename, recreate); in place, the
//! switch of the stored definition and the rules applied where the rows are; for a dry
//! run, the rows copied into a TEMP table of the target's.

use super::context::Purpose;
use super::plan::{Payload, PlanStep, StepKind};
use crate::builder::quarantine::CHILD_ROWID;
use crate::db::catalog;
use crate::error::{DependentKind, Result};
use crate::introspect::{rename_column_sql, rename_sequence, Facts, Statistics};
use crate::mapping::{self, Mapping};
use crate::sql::{ident, literal, qualified};
use rusqlite::types::Value;
use rusqlite::Connection;

/// The steps that drop the dependents the caller allowed to go; first in every plan.
fn drop_steps(facts: &Facts) -> impl Iterator<Item = PlanStep> + '_ {
    facts
        .dropped
        .iter()
        .filter_map(|d| d.drop_sql.clone())
        .map(|sql| PlanStep::new(StepKind::DropDependent, sql))
}

/// The steps that rewrite children's keys to follow remapped keys.
fn follow_steps<'a>(mapping: &'a Mapping, schema: &'a str) -> impl Iterator<Item = PlanStep> + 'a {
    mapping.follow.iter().map(move |u| {
        PlanStep::new(StepKind::FollowChildKeys, u.sql_in(schema))
            .bind(u.params.clone())
            .on(Payload::Follow {
                child: u.child.clone(),
            })
    })
}

/// The full-text indexes whose external content the rebuild rewrites: the rebuilt table's
/// when the mapping changes values or rowids, and each child's whose keys follow a remap.
/// Rebuilding from the content table makes them whole again.
fn full_text_steps(facts: &Facts, mapping: &Mapping) -> Vec<PlanStep> {
    let mut rewritten: Vec<&str> = mapping.follow.iter().map(|u| u.child.as_str()).collect();
    if mapping.rewrites_values(facts) || mapping.renumbers(facts) {
        rewritten.insert(0, &facts.source.name);
    }
    facts
        .full_text
        .iter()
        .filter(|ix| {
            rewritten
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&ix.content))
                && !facts
                    .dropped
                    .iter()
                    .any(|d| d.name.eq_ignore_ascii_case(&ix.name))
        })
        .map(|ix| {
            let name = ident(&ix.name);
            PlanStep::new(
                StepKind::RebuildFullText,
                format!(
                    "INSERT INTO {}.{name} ({name}) VALUES ('rebuild')",
                    ident(&facts.source.schema)
                ),
            )
            .titled(format!(
                "rebuild full-text index {name} from {}, whose values the rebuild rewrote",
                ident(&ix.content)
            ))
        })
        .collect()
}

/// Stores the target's text as the table's definition: as SQLite stores a statement (up to
/// its last token), with the name as a rename writes it, so both paths store the same text.
fn switch_definition(facts: &Facts) -> PlanStep {
    PlanStep::new(
        StepKind::SwitchDefinition,
        format!(
            "UPDATE {}.sqlite_schema SET sql = ?1 WHERE type = 'table' AND name = ?2",
            ident(&facts.source.schema)
        ),
    )
    .bind(vec![
        Value::Text(facts.target.stored_sql.clone()),
        Value::Text(facts.source.name.clone()),
    ])
}

/// The copy: SQLite's generalized ALTER TABLE procedure, steps 4 to 8 (step 3, remembering
/// the dependents, is introspection's; 9 and 10 are the checks before commit).
pub(crate) fn copy(
    facts: &Facts,
    mapping: &Mapping,
    purpose: Purpose,
) -> (Vec<PlanStep>, Vec<String>) {
    let source = &facts.source;
    let schema = &source.schema;
    let scratch = qualified(schema, &facts.scratch);
    let mut steps: Vec<PlanStep> = drop_steps(facts).collect();
    // 4. Create the new table under a scratch name.
    steps.push(PlanStep::new(
        StepKind::CreateTarget,
        facts.target.create_scratch.clone(),
    ));
    // 5. Transfer the content, rules applied (and restored quarantined rows).
    let counting = purpose == Purpose::Execute && mapping.counts_in_copy();
    let mut copy = PlanStep::new(
        StepKind::Copy,
        mapping.copy_sql(&scratch, &source.qualified(), &source.name, counting),
    )
    .bind(mapping.params.clone());
    if counting {
        copy = copy.titled(format!(
            "{}; {}(k) counts the rows each rule changes",
            StepKind::Copy.describe(),
            mapping::HIT_FUNCTION
        ));
    }
    steps.push(copy);
    if let Some(r) = &facts.restore {
        steps.push(
            PlanStep::new(
                StepKind::RestoreRows,
                mapping::restore_sql(mapping, facts, &r.table, &scratch),
            )
            .bind(mapping.params.clone())
            .on(Payload::RestoreRows {
                from: r.table.name.clone(),
            }),
        );
    }
    // The backup keeps the old table as it is: before its columns are renamed.
    if let Some(kept) = &facts.kept_old {
        steps.push(
            PlanStep::new(StepKind::KeepOld, kept.create.clone()).titled(format!(
                "keep the old table as {}: create it",
                ident(&kept.name)
            )),
        );
        steps.push(
            PlanStep::new(StepKind::KeepOld, kept.fill.clone()).titled(format!(
                "keep the old table as {}: its rows",
                ident(&kept.name)
            )),
        );
    }
    steps.extend(
        rename_sequence(source, &facts.renames)
            .iter()
            .map(|(old, new)| {
                PlanStep::new(StepKind::RenameColumn, rename_column_sql(source, old, new))
            }),
    );
    let (keep_statistics, restore_statistics) = statistics_steps(facts);
    steps.extend(keep_statistics);
    // 6. Drop the old table.
    steps.push(PlanStep::new(
        StepKind::DropOld,
        format!("DROP TABLE {}", source.qualified()),
    ));
    steps.extend(follow_steps(mapping, &source.schema));
    // 7. Rename the new table into place.
    steps.push(PlanStep::new(
        StepKind::Rename,
        format!("ALTER TABLE {scratch} RENAME TO {}", ident(&source.name)),
    ));
    // The caller's own qualifiers (`CHECK (t.v > 0)`) back in the stored text, where a
    // defensive connection allows it and a script can (plain SQL cannot bump the schema
    // version); the meaning is the same either way.
    if facts.target.self_qualified {
        if facts.defensive || purpose == Purpose::Script {
            log::warn!(
                "{} is stored without the qualifiers naming the table in its own expressions (the text cannot be switched on a defensive connection or in a script)",
                source.qualified()
            );
        } else {
            steps.push(switch_definition(facts).titled(
                "store the caller's text, whose expressions name the table itself".to_owned(),
            ));
        }
    }
    // 8. Recreate the indexes and triggers (views are left as they are, and checked).
    for d in &facts.dependents {
        let (kind, what) = match d.def.kind {
            DependentKind::Index => (StepKind::CreateIndex, "index"),
            _ => (StepKind::CreateTrigger, "trigger"),
        };
        // A dry run builds only the unique indexes (they can refuse rows) and the triggers
        // (cheap, and what fires them is compiled before commit); the other indexes are
        // compiled, which finds a column the target lacks.
        let build = purpose != Purpose::DryRun
            || d.is_unique_index()
            || d.def.kind == DependentKind::Trigger;
        steps.push(
            PlanStep::new(kind, d.recreate.clone())
                .titled(format!("recreate {what} {}", ident(&d.def.name)))
                .on(Payload::Recreate {
                    name: d.def.name.clone(),
                    kind: d.def.kind,
                    build,
                    quotes_are_names: d.quotes_are_names,
                }),
        );
    }
    steps.extend(restore_statistics);
    if purpose != Purpose::DryRun {
        steps.extend(full_text_steps(facts, mapping));
    }
    if let Some(seq) = facts.sequence {
        let seq_table = format!("{}.sqlite_sequence", ident(schema));
        let params = vec![Value::Integer(seq), Value::Text(source.name.clone())];
        steps.push(
            PlanStep::new(
                StepKind::RestoreSequence,
                format!("UPDATE {seq_table} SET seq = max(seq, ?1) WHERE name = ?2"),
            )
            .bind(params.clone())
            .titled("raise the AUTOINCREMENT counter back to where it was"),
        );
        steps.push(
            PlanStep::new(
                StepKind::RestoreSequence,
                format!(
                    "INSERT INTO {seq_table} (name, seq) SELECT ?2, ?1 WHERE NOT EXISTS (SELECT 1 FROM {seq_table} WHERE name = ?2)"
                ),
            )
            .bind(params)
            .titled("record the AUTOINCREMENT counter when the copy left none (an empty table)"),
        );
    }
    if let Some(r) = &facts.restore {
        for c in &r.children {
            steps.push(
                PlanStep::new(
                    StepKind::RestoreChildRows,
                    restore_child_sql(
                        &qualified(schema, &c.child),
                        &qualified(schema, &c.quarantine),
                        &c.columns,
                        c.rowid,
                    ),
                )
                .on(Payload::RestoreChild {
                    child: c.child.clone(),
                    quarantine: c.quarantine.clone(),
                }),
            );
        }
        for k in &r.keys {
            let kept = qualified(schema, &k.table);
            let cols: Vec<String> = k.columns.iter().map(|c| ident(c)).collect();
            let from_kept: Vec<String> = cols.iter().map(|c| format!("k.{c}")).collect();
            let child = qualified(schema, &k.child);
            let rowid = ident(CHILD_ROWID);
            steps.push(
                PlanStep::new(
                    StepKind::RestoreChildKeys,
                    format!(
                        "UPDATE {child} SET ({}) = (SELECT {} FROM {kept} AS k WHERE k.{rowid} = {child}.rowid) WHERE rowid IN (SELECT {rowid} FROM {kept})",
                        cols.join(", "),
                        from_kept.join(", ")
                    ),
                )
                .on(Payload::RestoreChild {
                    child: k.child.clone(),
                    quarantine: k.table.clone(),
                }),
            );
            steps.push(PlanStep::new(
                StepKind::DropQuarantine,
                format!("DROP TABLE {kept}"),
            ));
        }
        for c in r.children.iter().rev() {
            steps.push(PlanStep::new(
                StepKind::DropQuarantine,
                format!("DROP TABLE {}", qualified(schema, &c.quarantine)),
            ));
        }
        steps.push(PlanStep::new(
            StepKind::DropQuarantine,
            format!("DROP TABLE {}", r.table.qualified()),
        ));
    }
    let mut checks = vec![format!(
        "row count of {} equals the old table's",
        ident(&source.name)
    )];
    let mut fk_tables: Vec<&str> = facts.children.iter().map(|fk| fk.child.as_str()).collect();
    fk_tables.dedup();
    if !facts.target.foreign_keys.is_empty() {
        fk_tables.insert(0, &source.name);
    }
    if !fk_tables.is_empty() {
        let list: Vec<String> = fk_tables.iter().map(|t| ident(t)).collect();
        checks.push(format!(
            "PRAGMA foreign_key_check finds no new violation in {}",
            list.join(", ")
        ));
    }
    checks.push("every view and trigger in the schema still compiles".to_owned());
    (steps, checks)
}

/// `INSERT` that puts a child's quarantined rows back, rowids included.
pub(crate) fn restore_child_sql(
    into: &str,
    quarantine: &str,
    columns: &[String],
    rowid: bool,
) -> String {
    let mut cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    if rowid {
        cols.insert(0, "rowid".to_owned());
    }
    format!(
        "INSERT OR ABORT INTO {into} ({0}) SELECT {0} FROM {quarantine}",
        cols.join(", "),
    )
}

/// A dry run's steps, which write only `temp`: the target created as a TEMP table, every
/// row copied into it through the same expressions and rules (SQLite judges each as the
/// copy would), the quarantined rows being restored, and the unique indexes recreated on
/// it, since each can refuse rows.
pub(crate) fn rehearsal(
    conn: &Connection,
    facts: &Facts,
    mapping: &Mapping,
) -> Result<Vec<PlanStep>> {
    let source = &facts.source;
    let probe = qualified("temp", &facts.probe_target);
    let mut steps = vec![PlanStep::new(
        StepKind::CreateTarget,
        facts.target.create_probe.clone(),
    )];
    steps.push(
        PlanStep::new(
            StepKind::Copy,
            mapping.copy_sql(&probe, &source.qualified(), &source.name, false),
        )
        .bind(mapping.params.clone()),
    );
    if let Some(r) = &facts.restore {
        steps.push(
            PlanStep::new(
                StepKind::RestoreRows,
                mapping::restore_sql(mapping, facts, &r.table, &probe),
            )
            .bind(mapping.params.clone())
            .on(Payload::RestoreRows {
                from: r.table.name.clone(),
            }),
        );
    }
    for d in facts.dependents.iter().filter(|d| d.is_unique_index()) {
        let name = catalog::free_name(
            conn,
            "temp",
            &format!("{}__{}", facts.probe_target, d.def.name),
        )?;
        let Some(sql) = d.index_as(&qualified("temp", &name), &facts.probe_target) else {
            continue;
        };
        steps.push(
            PlanStep::new(StepKind::CreateIndex, sql).on(Payload::Recreate {
                name: d.def.name.clone(),
                kind: DependentKind::Index,
                build: true,
                quotes_are_names: d.quotes_are_names,
            }),
        );
    }
    Ok(steps)
}

/// The steps of an in-place change: switch the definition, remap in place, children follow.
pub(crate) fn in_place(
    facts: &Facts,
    mapping: &Mapping,
    purpose: Purpose,
) -> (Vec<PlanStep>, Vec<String>) {
    let source = &facts.source;
    let mut steps: Vec<PlanStep> = drop_steps(facts).collect();
    steps.push(switch_definition(facts));
    let table = ident(&source.name);
    let mut sets = Vec::new();
    let mut changed = Vec::new();
    for t in mapping.transfers.iter().filter(|t| t.remapped) {
        let col = ident(&t.target);
        sets.push(format!("{col} = {}", t.expr));
        changed.push(format!("{table}.{col} IS NOT {}", t.expr));
    }
    if !sets.is_empty() {
        steps.push(
            PlanStep::new(
                StepKind::RemapInPlace,
                format!(
                    "UPDATE OR ABORT {} SET {} WHERE {}",
                    source.qualified(),
                    sets.join(", "),
                    changed.join(" OR ")
                ),
            )
            .bind(mapping.params.clone()),
        );
    }
    steps.extend(follow_steps(mapping, &source.schema));
    // A dry run is rolled back: rebuilding an index from content it cannot fail on is waste.
    if purpose != Purpose::DryRun {
        steps.extend(full_text_steps(facts, mapping));
    }
    let checks = vec![
        format!("every row of {table} satisfies the new CHECK and NOT NULL constraints"),
        "PRAGMA foreign_key_check finds no new violation in the tables involved".to_owned(),
        "every view and trigger in the schema still compiles".to_owned(),
    ];
    (steps, checks)
}

/// SQLite's own `ALTER TABLE` statements, which the choice judged on a replica: nothing is
/// copied, and what names a renamed column follows it.
pub(crate) fn alter(
    facts: &Facts,
    statements: &[super::AlterStatement],
) -> (Vec<PlanStep>, Vec<String>) {
    let steps = drop_steps(facts)
        .chain(
            statements
                .iter()
                .map(|s| PlanStep::new(StepKind::AlterTable, s.sql.clone())),
        )
        .collect();
    let checks = vec![
        "PRAGMA foreign_key_check finds no new violation in the tables involved".to_owned(),
        "every view and trigger in the schema still compiles".to_owned(),
    ];
    (steps, checks)
}

/// The steps that carry the kept statistics over the drop: before it they are re-labelled
/// with the scratch table's name (so `DROP TABLE` removes only the stale ones), after the
/// swap they get the table's name back.
fn statistics_steps(facts: &Facts) -> (Vec<PlanStep>, Vec<PlanStep>) {
    let Some(Statistics {
        tables,
        indexes: kept,
    }) = &facts.statistics
    else {
        return (Vec::new(), Vec::new());
    };
    let source = &facts.source;
    let name = |s: &str| literal(&Value::Text(s.to_owned()));
    let indexes: Vec<String> = kept.iter().flatten().map(|i| name(i)).collect();
    let which = if indexes.is_empty() {
        "idx IS NULL".to_owned()
    } else {
        format!("(idx IS NULL OR idx IN ({}))", indexes.join(", "))
    };
    let relabel = |table: &str, from: &str, to: &str, filter: &str| {
        format!(
            "UPDATE {} SET tbl = {} WHERE tbl = {} COLLATE NOCASE{filter}",
            qualified(&source.schema, table),
            name(to),
            name(from)
        )
    };
    let keep = tables
        .iter()
        .map(|t| {
            PlanStep::new(
                StepKind::KeepStatistics,
                relabel(t, &source.name, &facts.scratch, &format!(" AND {which}")),
            )
        })
        .collect();
    let restore = tables
        .iter()
        .map(|t| {
            PlanStep::new(
                StepKind::RestoreStatistics,
                relabel(t, &facts.scratch, &source.name, ""),
            )
        })
        .collect();
    (keep, restore)
}

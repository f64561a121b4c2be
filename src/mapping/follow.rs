//! Children's keys that follow remapped keys: for each child whose foreign key references a
//! column the rules rewrite (copied from the old column of the same name), the UPDATE that
//! applies the same rules to the child's column; and so on down, to grandchildren whose
//! keys reference a followed column. Keys computed by `.column()` expressions cannot be
//! followed; the check of the children's foreign keys before commit refuses those rebuilds.

use super::rules::{first_closure, remap_case, RuleSink};
use super::Mapping;
use crate::builder::TableRebuild;
use crate::db::ForeignKey;
use crate::introspect::Facts;
use crate::sql::{ident, qualified};
use rusqlite::types::Value;
use std::collections::VecDeque;

/// A child table's foreign key columns rewritten by the rules of the keys they reference.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChildUpdate {
    pub child: String,
    /// `SET ... WHERE ...`, over the child aliased by its name.
    set_where: String,
    /// Each rewritten column with its new value's expression (over the same alias).
    pub sets: Vec<(String, String)>,
    pub params: Vec<Value>,
}

impl ChildUpdate {
    /// The UPDATE of the child in `schema` (a dry run rewrites a TEMP copy of it).
    pub(crate) fn sql_in(&self, schema: &str) -> String {
        format!(
            "UPDATE OR ABORT {} AS {} {}",
            qualified(schema, &self.child),
            ident(&self.child),
            self.set_where
        )
    }
}

pub(super) fn children(rb: &TableRebuild, facts: &Facts, mapping: &Mapping) -> Vec<ChildUpdate> {
    let source = &facts.source;
    let target = &facts.target.table;
    // Each foreign key to follow, with the old table's column whose rules each of its
    // columns takes (`None`: not followed).
    let mut queue: VecDeque<(ForeignKey, Vec<Option<String>>)> = facts
        .children
        .iter()
        .filter_map(|fk| {
            let referenced = fk.referenced(&target.columns);
            (referenced.len() == fk.from.len()).then(|| {
                let carried = referenced
                    .iter()
                    .map(|to| {
                        let copied_plain = mapping.transfers.iter().any(|t| {
                            t.target.eq_ignore_ascii_case(to)
                                && matches!(&t.source, super::ValueSource::Column(_))
                        }) && source.column(to).is_some();
                        (copied_plain && !Mapping::rules_of(rb, to).is_empty()).then(|| to.clone())
                    })
                    .collect();
                (fk.clone(), carried)
            })
        })
        .collect();
    let mut followed: Vec<(String, i64)> = Vec::new();
    let mut out = Vec::new();
    while let Some((fk, carried)) = queue.pop_front() {
        let key = (fk.child.to_ascii_lowercase(), fk.id);
        if followed.contains(&key) || fk.child.eq_ignore_ascii_case(&source.name) {
            continue;
        }
        followed.push(key);
        let child_alias = ident(&fk.child);
        let mut sink = RuleSink::default();
        let mut sets = Vec::new();
        let mut pairs = Vec::new();
        let mut changed = Vec::new();
        for (from, source_column) in fk.from.iter().zip(&carried) {
            let Some(to) = source_column else {
                continue;
            };
            let rules = Mapping::rules_of(rb, to);
            let base = format!("{child_alias}.{}", ident(from));
            // A child key finds its parent under the parent column's collation (`COLLATE
            // NOCASE` matches 'a' to 'A'), so it follows the parent's rules under it too.
            let compare = match crate::introspect::declared_collation(facts.source_def.as_ref(), to)
            {
                Some(coll) if !coll.is_empty() => format!(
                    "{base} COLLATE {}",
                    ident(&crate::sql::identifier_value(&coll))
                ),
                _ => base.clone(),
            };
            let split = first_closure(&rules);
            let mut expr = if split == 0 {
                base.clone()
            } else {
                remap_case(&base, &compare, &rules[..split], &mut sink).0
            };
            if split < rules.len() {
                match mapping.chain_of(to) {
                    Some(chain) => expr = format!("{}({expr})", chain.function),
                    None => continue,
                }
            }
            changed.push(format!("{base} IS NOT {expr}"));
            sets.push(format!("{} = {expr}", ident(from)));
            pairs.push((from.clone(), expr));
        }
        if sets.is_empty() {
            continue;
        }
        out.push(ChildUpdate {
            child: fk.child.clone(),
            set_where: format!("SET {} WHERE {}", sets.join(", "), changed.join(" OR ")),
            sets: pairs,
            params: sink.params,
        });
        // Grandchildren whose keys refer to the columns just rewritten follow them.
        let Some(child) = facts.descendant(&fk.child) else {
            continue;
        };
        for grandchild in facts.referencing(&child.table.name) {
            let referenced = grandchild.referenced(&child.table.columns);
            if referenced.len() != grandchild.from.len() {
                continue;
            }
            let carried: Vec<Option<String>> = referenced
                .iter()
                .map(|col| {
                    fk.from
                        .iter()
                        .zip(&carried)
                        .find(|(from, _)| from.eq_ignore_ascii_case(col))
                        .and_then(|(_, source_column)| source_column.clone())
                })
                .collect();
            if carried.iter().any(Option::is_some) {
                queue.push_back((grandchild.clone(), carried));
            }
        }
    }
    out
}

//! The runtime of one rebuild, apart from its plan: the counters the copy fills, the
//! progress callback, and the scalar functions registered with SQLite only while the
//! rebuild runs.

use crate::builder::{ProgressFn, Rule, TableRebuild};
use crate::error::{Error, Result};
use crate::mapping::{sql_is_ref, Chain, HIT_FUNCTION};
use crate::report::{Phase, Progress};
use crate::strategy::RebuildPlan;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value, ValueRef};
use rusqlite::Connection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Shared counters: the registered functions add to them while SQLite runs a statement.
type Counters = Arc<Vec<AtomicU64>>;

fn counters(n: usize) -> Counters {
    Arc::new((0..n).map(|_| AtomicU64::new(0)).collect())
}

fn read(counters: &Counters) -> Vec<u64> {
    counters.iter().map(|n| n.load(Ordering::Relaxed)).collect()
}

/// What the counters held at one moment.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counts {
    /// Rows each rule changed in the copy's CASE, by index in the mapping's rules.
    pub hits: Vec<u64>,
    /// Rows each closure-chain rule changed, per chain and step.
    pub chains: Vec<Vec<u64>>,
}

/// The state of one rebuild while it runs.
pub(crate) struct Runtime<'c> {
    pub conn: &'c Connection,
    progress: Option<ProgressFn>,
    hits: Counters,
    chains: Vec<Counters>,
    /// Rule counts known before the first attempt (the sample that chose the in-place way
    /// covered the whole table); later attempts count again.
    pub known_counts: Option<Vec<u64>>,
    functions: Vec<(String, i32)>,
}

impl<'c> Runtime<'c> {
    /// Registers the plan's functions with SQLite; they go when the runtime is dropped.
    pub(crate) fn new(conn: &'c Connection, rb: &TableRebuild, plan: &RebuildPlan) -> Result<Self> {
        let context = plan.context();
        let mapping = &context.mapping;
        let mut rt = Runtime {
            conn,
            progress: rb.progress.clone(),
            hits: counters(mapping.rules.len()),
            chains: mapping
                .chains
                .iter()
                .map(|c| counters(c.rules.len()))
                .collect(),
            known_counts: match &context.choice {
                crate::strategy::Choice::InPlace { known_counts } => known_counts.clone(),
                _ => None,
            },
            functions: Vec::new(),
        };
        for (i, chain) in mapping.chains.iter().enumerate() {
            let counts = rt.chains[i].clone();
            rt.register_chain(chain, counts)?;
        }
        if !mapping.hits.is_empty() {
            let hits = mapping.hits.clone();
            let counts = rt.hits.clone();
            conn.create_scalar_function(
                HIT_FUNCTION,
                1,
                FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
                move |ctx| {
                    let hit: i64 = ctx.get(0)?;
                    let hit = usize::try_from(hit).unwrap_or(usize::MAX);
                    for slot in hits.get(hit).into_iter().flatten() {
                        if let Some(n) = counts.get(*slot) {
                            n.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(rusqlite::types::Null)
                },
            )
            .map_err(Error::sqlite("registering the rule counter"))?;
            rt.functions.push((HIT_FUNCTION.to_owned(), 1));
        }
        Ok(rt)
    }

    fn register_chain(&mut self, chain: &Chain, counts: Counters) -> Result<()> {
        let rules = chain.rules.clone();
        let column = chain.column.clone();
        self.conn
            .create_scalar_function(
                chain.function.as_str(),
                1,
                FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
                move |ctx| apply_chain(ctx.get_raw(0), &rules, &counts, &column),
            )
            .map_err(Error::sqlite(format!(
                "registering the remap function for column \"{}\"",
                chain.column
            )))?;
        self.functions.push((chain.function.clone(), 1));
        Ok(())
    }

    /// Starts an attempt with every counter at zero.
    pub(crate) fn reset_counts(&self) {
        for n in self
            .hits
            .iter()
            .chain(self.chains.iter().flat_map(|c| c.iter()))
        {
            n.store(0, Ordering::Relaxed);
        }
    }

    /// What the counters hold now.
    pub(crate) fn counts(&self) -> Counts {
        Counts {
            hits: read(&self.hits),
            chains: self.chains.iter().map(read).collect(),
        }
    }

    /// Tells the caller's callback where the rebuild is.
    pub(crate) fn progress(&self, phase: Phase, done: u64, total: u64) {
        ProgressFn::report(&self.progress, Progress::new(phase, done, total));
    }

    /// Whether anyone listens to progress (the copy is then done in chunks).
    pub(crate) fn reports_progress(&self) -> bool {
        self.progress.is_some()
    }
}

impl Drop for Runtime<'_> {
    fn drop(&mut self) {
        for (name, args) in &self.functions {
            if let Err(e) = self.conn.remove_function(name.as_str(), *args) {
                log::warn!("could not remove remap function {name}: {e}");
            }
        }
    }
}

/// One column's rules from its first closure on, applied to one value in order.
fn apply_chain(
    input: ValueRef<'_>,
    rules: &[Rule],
    counts: &[AtomicU64],
    column: &str,
) -> rusqlite::Result<Value> {
    let mut changed: Option<Value> = None;
    for (rule, count) in rules.iter().zip(counts) {
        let current = changed.as_ref().map(ValueRef::from).unwrap_or(input);
        match rule {
            Rule::Value { from, to } => {
                if sql_is_ref(current, from.into()) {
                    count.fetch_add(1, Ordering::Relaxed);
                    changed = Some(to.clone());
                }
            }
            Rule::With(f) => {
                let out = (f.0)(current);
                if ValueRef::from(&out) != current {
                    count.fetch_add(1, Ordering::Relaxed);
                }
                changed = Some(out);
            }
        }
    }
    match changed {
        Some(v) => Ok(v),
        None => match input {
            ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec())
                .map(Value::Text)
                .map_err(|_| {
                    rusqlite::Error::UserFunctionError(
                        format!("column \"{column}\" holds text that is not valid UTF-8; closure rules need UTF-8 text").into(),
                    )
                }),
            other => Value::try_from(other)
                .map_err(|e| rusqlite::Error::UserFunctionError(e.to_string().into())),
        },
    }
}

//! The mapping: one structure that says where each target column's value comes from (an
//! old column, a `.column()` expression, or its DEFAULT), with the rules that rewrite it,
//! in the style of Alembic batch's `column_transfers`; and the children's keys that follow
//! remapped keys. Every SQL expression of the copy is rendered from it once.

mod counts;
mod follow;
mod rules;

pub(crate) use follow::ChildUpdate;
pub(crate) use rules::{sql_is_ref, Chain, Counted, RuleSlot, HIT_FUNCTION};

use crate::builder::{Remap, TableRebuild};
use crate::db::Table;
use crate::error::{Error, Result, RuleKind};
use crate::introspect::Facts;
use crate::sql::ident;
use rules::{first_closure, qualified_column, remap_case, RuleSink};
use rusqlite::types::Value;

/// Where a target column's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ValueSource {
    /// The old table's column of this name.
    Column(String),
    /// A `.column()` expression over the old row.
    Expression(String),
}

/// One target column that the copy writes.
#[derive(Debug, Clone)]
pub(crate) struct Transfer {
    /// The target column's name.
    pub target: String,
    pub source: ValueSource,
    /// Whether remapping rules rewrite the value.
    pub remapped: bool,
    /// The SELECT expression over the old row, rules applied.
    pub expr: String,
    /// The same, with value rules counting their hits through [`HIT_FUNCTION`].
    pub counting_expr: String,
}

/// Where every target column's value comes from, and what the copy binds.
#[derive(Debug)]
pub(crate) struct Mapping {
    /// The old table's implicit rowid is copied explicitly: its name in the old table and
    /// in the target (no INTEGER PRIMARY KEY carries it).
    pub rowid: Option<(&'static str, &'static str)>,
    /// The target columns the copy writes; the others take their DEFAULT (or are
    /// generated).
    pub transfers: Vec<Transfer>,
    /// Values bound to the copy's `?N` placeholders.
    pub params: Vec<Value>,
    /// Each remap rule, and how its changes are counted.
    pub rules: Vec<RuleSlot>,
    /// Columns whose rules include a closure.
    pub chains: Vec<Chain>,
    /// For each hit number of [`HIT_FUNCTION`]: the indexes in `rules` that fire.
    pub hits: Vec<Vec<usize>>,
    /// Children whose foreign key values follow remapped keys.
    pub follow: Vec<ChildUpdate>,
    /// Old columns whose values go: the target lacks them, no rename or `.column`
    /// expression takes them along (generated columns hold nothing of their own).
    pub dropped: Vec<String>,
    /// Target columns with no source, which take their DEFAULT.
    pub defaulted: Vec<String>,
}

impl Mapping {
    /// The copy's insert column list, quoted.
    pub(crate) fn insert_columns(&self) -> Vec<String> {
        self.rowid
            .iter()
            .map(|(_, to)| ident(to))
            .chain(self.transfers.iter().map(|t| ident(&t.target)))
            .collect()
    }

    /// The copy's SELECT list over the old table named `source` (counting rule hits, or not).
    pub(crate) fn select_exprs(&self, source: &str, counting: bool) -> Vec<String> {
        self.rowid
            .iter()
            .map(|(from, _)| qualified_column(source, from))
            .chain(self.transfers.iter().map(|t| {
                if counting {
                    t.counting_expr.clone()
                } else {
                    t.expr.clone()
                }
            }))
            .collect()
    }

    /// `INSERT OR ABORT INTO <into> (...) SELECT ... FROM <from>`: the copy, with the old
    /// table's name available to the expressions as `source`.
    pub(crate) fn copy_sql(&self, into: &str, from: &str, source: &str, counting: bool) -> String {
        format!(
            "INSERT OR ABORT INTO {into} ({}) SELECT {} FROM {from}",
            self.insert_columns().join(", "),
            self.select_exprs(source, counting).join(", "),
        )
    }

    /// Whether the copy takes target column `target` unchanged from old column `source`.
    pub(crate) fn copies_unchanged(&self, target: &str, source: &str) -> bool {
        self.transfers.iter().any(|t| {
            t.target.eq_ignore_ascii_case(target)
                && !t.remapped
                && matches!(&t.source, ValueSource::Column(c) if c.eq_ignore_ascii_case(source))
        })
    }

    /// Why a copy would renumber the old table's implicit rowids, if it would: the old table
    /// has them, the target has no INTEGER PRIMARY KEY to carry them, and columns named
    /// `rowid`, `oid` and `_rowid_` hide them on one side.
    pub(crate) fn rowids_lost(&self, facts: &Facts) -> Option<&'static str> {
        let (source, target) = (&facts.source, &facts.target.table);
        if source.without_rowid
            || target.without_rowid
            || source.ipk.is_some()
            || target.ipk.is_some()
            || self.rowid.is_some()
        {
            return None;
        }
        if source.rowid_name().is_none() {
            Some("its columns rowid, oid and _rowid_ hide them")
        } else if target.rowid_name().is_none() {
            Some("the target's columns rowid, oid and _rowid_ hide them")
        } else {
            None
        }
    }

    /// Whether the copy may store other values than the old table holds: a rule or an
    /// expression computes them, or a column's declared type (its affinity) changes.
    pub(crate) fn rewrites_values(&self, facts: &Facts) -> bool {
        self.transfers.iter().any(|t| {
            t.remapped
                || match &t.source {
                    ValueSource::Expression(_) => true,
                    ValueSource::Column(old) => {
                        facts.source.column(old).map(|c| &c.decl_type)
                            != facts.target.table.column(&t.target).map(|c| &c.decl_type)
                    }
                }
        })
    }

    /// Whether the copy may give rows other rowids than they have: the target's INTEGER
    /// PRIMARY KEY takes its values from anything but the old rowid (an old column that was
    /// no rowid alias, say), or the target has no rowid. What is keyed by rowid (a
    /// full-text index's external content) must then follow.
    pub(crate) fn renumbers(&self, facts: &Facts) -> bool {
        let (source, target) = (&facts.source, &facts.target.table);
        if source.without_rowid {
            return false;
        }
        if target.without_rowid {
            return true;
        }
        match (&target.ipk, &source.ipk) {
            (Some(new), Some(old)) => !self.copies_unchanged(new, old),
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Whether value rules are counted as the copy runs.
    pub(crate) fn counts_in_copy(&self) -> bool {
        !self.hits.is_empty()
    }

    /// The registered function that applies a column's closure rules, if it has any.
    pub(crate) fn chain_of(&self, column: &str) -> Option<&Chain> {
        self.chains
            .iter()
            .find(|c| c.column.eq_ignore_ascii_case(column))
    }

    /// The rules on target column `column`, with their positions among all rules.
    pub(crate) fn rules_of<'r>(rb: &'r TableRebuild, column: &str) -> Vec<(usize, &'r Remap)> {
        rb.remaps
            .iter()
            .enumerate()
            .filter(|(_, r)| r.column.eq_ignore_ascii_case(column))
            .collect()
    }
}

/// Works out where each target column's value comes from, and which children follow.
pub(crate) fn map(rb: &TableRebuild, facts: &Facts) -> Result<Mapping> {
    let source = &facts.source;
    let target = &facts.target.table;
    check_rule_columns(rb, source, target)?;
    let mut sink = RuleSink::default();
    let mut chains: Vec<Chain> = Vec::new();
    // Keep implicit rowids: copy them explicitly unless an INTEGER PRIMARY KEY carries them.
    let rowid = if target.ipk.is_none() {
        source.rowid_name().zip(target.rowid_name())
    } else {
        None
    };
    let mut transfers = Vec::new();
    let mut defaulted = Vec::new();
    for col in target.columns.iter().filter(|c| !c.is_generated()) {
        let explicit = rb
            .columns
            .iter()
            .rev()
            .find(|(c, _)| c.eq_ignore_ascii_case(&col.name));
        // A renamed column's value comes from its old name; a name renamed away is free
        // for a new column (which takes its DEFAULT).
        let renamed_from = facts
            .renames
            .iter()
            .find(|(_, new)| new.eq_ignore_ascii_case(&col.name))
            .map(|(old, _)| old.as_str());
        let renamed_away = facts
            .renames
            .iter()
            .any(|(old, _)| old.eq_ignore_ascii_case(&col.name));
        // Dropped and added again by the operations: a new column, without the old values.
        let readded = facts.target.by_operations
            && rb
                .drop_columns
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&col.name));
        let from = match renamed_from {
            Some(old) => source.column(old),
            None if renamed_away || readded => None,
            None => source.column(&col.name),
        };
        let (value_source, base) = match explicit {
            Some((_, expr)) => (ValueSource::Expression(expr.clone()), format!("({expr})")),
            None => match from {
                Some(src) => (
                    ValueSource::Column(src.name.clone()),
                    qualified_column(&source.name, &src.name),
                ),
                None => {
                    if rb
                        .remaps
                        .iter()
                        .any(|r| r.column.eq_ignore_ascii_case(&col.name))
                    {
                        return Err(unknown(
                            source,
                            RuleKind::Remap,
                            &col.name,
                            "has no source value in the target (it takes its DEFAULT)",
                        ));
                    }
                    if col.notnull
                        && col.default.is_none()
                        && target.ipk.as_deref() != Some(col.name.as_str())
                    {
                        return Err(Error::MissingSource {
                            table: source.name.clone(),
                            column: col.name.clone(),
                        });
                    }
                    defaulted.push(col.name.clone());
                    continue;
                }
            },
        };
        let rules = Mapping::rules_of(rb, &col.name);
        // Value rules up to the first closure compare in SQL, under the old column's
        // affinity and collation; from the first closure on, a registered function applies
        // the rest in order.
        let (leading, chained) = rules.split_at(first_closure(&rules));
        let (mut expr, mut counting_expr) = if leading.is_empty() {
            (base.clone(), base)
        } else {
            remap_case(&base, &base, leading, &mut sink)
        };
        if !chained.is_empty() {
            let chain = chains.len();
            let function = format!("sqlite_rebuild_remap_{}", chain + 1);
            expr = format!("{function}({expr})");
            counting_expr = format!("{function}({counting_expr})");
            for (step, (position, rule)) in chained.iter().enumerate() {
                sink.rules.push(RuleSlot {
                    rule: (*rule).clone(),
                    position: *position,
                    counted: Counted::Chain { chain, step },
                });
            }
            chains.push(Chain {
                function,
                column: col.name.clone(),
                rules: chained.iter().map(|(_, r)| r.rule.clone()).collect(),
            });
        }
        transfers.push(Transfer {
            target: col.name.clone(),
            source: value_source,
            remapped: !rules.is_empty(),
            expr,
            counting_expr,
        });
    }
    let mut mapping = Mapping {
        rowid,
        transfers,
        params: sink.params,
        rules: sink.rules,
        chains,
        hits: sink.hits,
        follow: Vec::new(),
        dropped: dropped_columns(rb, facts)?,
        defaulted,
    };
    mapping.follow = follow::children(rb, facts, &mapping);
    Ok(mapping)
}

fn unknown(source: &Table, rule: RuleKind, column: &str, problem: &str) -> Error {
    Error::UnknownColumn {
        table: source.name.clone(),
        column: column.to_owned(),
        rule,
        problem: problem.to_owned(),
    }
}

/// The old columns whose values go, and a check of the ones the caller named.
fn dropped_columns(rb: &TableRebuild, facts: &Facts) -> Result<Vec<String>> {
    let (source, target) = (&facts.source, &facts.target.table);
    let taken_along = |name: &str| {
        facts
            .renames
            .iter()
            .any(|(old, _)| old.eq_ignore_ascii_case(name))
            || rb
                .columns
                .iter()
                .any(|(_, expr)| crate::sql::mentions_identifier(expr, name))
    };
    for named in &rb.drop_columns {
        let problem = match source.column(named) {
            None => "does not exist in the old table",
            Some(_)
                if target.column(named).is_some()
                    && !facts.target.by_operations
                    && !facts
                        .renames
                        .iter()
                        .any(|(_, new)| new.eq_ignore_ascii_case(named)) =>
            {
                "is still a column of the target"
            }
            Some(_) if taken_along(named) => "is renamed or read by a .column() expression",
            Some(_) => continue,
        };
        return Err(unknown(source, RuleKind::DropColumn, named, problem));
    }
    Ok(source
        .columns
        .iter()
        .filter(|c| {
            let readded = facts.target.by_operations
                && rb
                    .drop_columns
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(&c.name));
            let kept = target.column(&c.name).is_some()
                && !readded
                && !facts
                    .renames
                    .iter()
                    .any(|(_, new)| new.eq_ignore_ascii_case(&c.name));
            !c.is_generated() && !kept && !taken_along(&c.name)
        })
        .map(|c| c.name.clone())
        .collect())
}

/// Every rule must name a target column that can be written.
fn check_rule_columns(rb: &TableRebuild, source: &Table, target: &Table) -> Result<()> {
    let named = rb
        .columns
        .iter()
        .map(|(c, _)| (RuleKind::Column, c))
        .chain(rb.remaps.iter().map(|r| (RuleKind::Remap, &r.column)));
    for (rule, column) in named {
        match target.column(column) {
            None => {
                return Err(unknown(
                    source,
                    rule,
                    column,
                    "does not exist in the target",
                ))
            }
            Some(c) if c.is_generated() => {
                return Err(unknown(
                    source,
                    rule,
                    column,
                    "is a generated column of the target (SQLite computes it)",
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// A quarantine table's rows copied through the same expressions: it stands in for the old
/// table under its name.
pub(crate) fn restore_sql(mapping: &Mapping, facts: &Facts, from: &Table, into: &str) -> String {
    mapping.copy_sql(
        into,
        &format!("{} AS {}", from.qualified(), ident(&facts.source.name)),
        &facts.source.name,
        false,
    )
}

impl Mapping {
    /// Whether a child's foreign key could see different parent key values after the copy,
    /// so its rows must be re-checked. Keys copied unchanged, with the same declared type
    /// and collation, need no scan.
    pub(crate) fn parent_keys_change(&self, facts: &Facts) -> bool {
        let (source, target) = (&facts.source, &facts.target.table);
        facts.children.iter().any(|fk| {
            fk.referenced(&target.columns).iter().any(|col| {
                let copied_as_is = self.copies_unchanged(col, col);
                let same_decl = source.column(col).map(|c| &c.decl_type)
                    == target.column(col).map(|c| &c.decl_type);
                let same_coll = facts.source_def.is_some()
                    && crate::introspect::declared_collation(facts.source_def.as_ref(), col)
                        == crate::introspect::declared_collation(Some(&facts.target.def), col);
                !(copied_as_is && same_decl && same_coll)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::introspect::{introspect, preflight, Verb};
    use rusqlite::Connection;

    fn mapping(setup: &str, rb: &TableRebuild) -> Result<Mapping> {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(setup).unwrap();
        let pre = preflight(&conn, rb, Verb::Plan)?;
        let facts = introspect(&conn, rb, &pre)?;
        map(rb, &facts)
    }

    fn source_of<'m>(m: &'m Mapping, target: &str) -> Option<&'m ValueSource> {
        m.transfers
            .iter()
            .find(|t| t.target == target)
            .map(|t| &t.source)
    }

    const T: &str = "CREATE TABLE t (a TEXT, b INT, old TEXT)";

    #[test]
    fn each_target_column_names_where_its_value_comes_from() {
        let rb = TableRebuild::new("t")
            .create_sql(
                "CREATE TABLE t (a TEXT, b INT, new TEXT, fresh TEXT DEFAULT 'x', g AS (b + 1))",
            )
            .column("new", "old")
            .remap("a", "x", "y");
        let m = mapping(T, &rb).unwrap();
        assert_eq!(source_of(&m, "a"), Some(&ValueSource::Column("a".into())));
        assert_eq!(
            source_of(&m, "new"),
            Some(&ValueSource::Expression("old".into()))
        );
        // A column with no source takes its DEFAULT; a generated one is computed.
        assert_eq!(source_of(&m, "fresh"), None);
        assert_eq!(source_of(&m, "g"), None);
        assert!(m.copies_unchanged("b", "b"));
        assert!(!m.copies_unchanged("a", "a"), "remapped");
        assert!(!m.copies_unchanged("new", "old"), "an expression");
        assert_eq!(
            m.insert_columns(),
            ["\"rowid\"", "\"a\"", "\"b\"", "\"new\""]
        );
        assert_eq!(
            m.select_exprs("t", false),
            [
                "\"t\".\"rowid\"",
                "CASE WHEN \"t\".\"a\" IS ?1 THEN ?2 ELSE \"t\".\"a\" END",
                "\"t\".\"b\"",
                "(old)"
            ]
        );
        assert!(m.select_exprs("t", true)[1].contains(HIT_FUNCTION));
        assert_eq!(m.params, [Value::Text("x".into()), Value::Text("y".into())]);
    }

    #[test]
    fn implicit_rowids_are_copied_by_a_name_no_column_shadows() {
        let same = |sql: &str| TableRebuild::new("t").create_sql(sql);
        let m = mapping(
            "CREATE TABLE t (rowid TEXT, v)",
            &same("CREATE TABLE t (rowid TEXT, v)"),
        )
        .unwrap();
        assert_eq!(m.rowid, Some(("_rowid_", "_rowid_")));
        // An INTEGER PRIMARY KEY carries the rowid itself.
        let m = mapping(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v)",
            &same("CREATE TABLE t (id INTEGER PRIMARY KEY, v)"),
        )
        .unwrap();
        assert_eq!(m.rowid, None);
        let m = mapping(
            "CREATE TABLE t (k TEXT PRIMARY KEY, v) WITHOUT ROWID",
            &same("CREATE TABLE t (k TEXT PRIMARY KEY, v)"),
        )
        .unwrap();
        assert_eq!(m.rowid, None);
    }

    #[test]
    fn rules_must_name_a_writable_target_column() {
        let rb = TableRebuild::new("t").create_sql("CREATE TABLE t (a TEXT, b INT, g AS (b))");
        let err = mapping(T, &rb.clone().remap("nope", 1, 2)).unwrap_err();
        assert!(
            matches!(&err, Error::UnknownColumn { rule: RuleKind::Remap, column, .. } if column == "nope"),
            "{err}"
        );
        let err = mapping(T, &rb.clone().column("g", "1")).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::UnknownColumn {
                    rule: RuleKind::Column,
                    ..
                }
            ),
            "{err}"
        );
        let err = mapping(
            T,
            &TableRebuild::new("t").create_sql("CREATE TABLE t (a, z NOT NULL)"),
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::MissingSource { column, .. } if column == "z"),
            "{err}"
        );
    }
}

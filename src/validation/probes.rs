//! Each constraint of the target as a predicate over the staging table: NOT NULL, the
//! INTEGER PRIMARY KEY's type, STRICT types, CHECKs, uniqueness (PRIMARY KEY, UNIQUE, and
//! the unique indexes recreated after the swap) and the target's foreign keys. A row
//! violates a constraint exactly when its predicate holds.

use crate::db::{catalog, IndexOrigin};
use crate::introspect::Facts;
use crate::report::{self, ConstraintKind};
use crate::sql::{self, ident, qualified};

/// One constraint as a predicate over the staging table.
pub(crate) struct Probe {
    pub name: String,
    pub kind: ConstraintKind,
    pub expression: Option<String>,
    pub predicate: String,
    /// Columns whose values a sample row shows.
    pub show: Vec<String>,
    /// For a uniqueness probe: the key's terms (collation applied) and the condition a row
    /// must meet to hold a key, so a sample can name the row it collides with.
    pub key: Option<(Vec<String>, String)>,
}

impl Probe {
    /// How reports and guards name it: `CHECK ck_phase`, `NOT NULL(name)`.
    pub(crate) fn label(&self) -> String {
        report::label(self.kind, &self.name)
    }
}

/// The expected storage class of a STRICT column's declared type (`None`: ANY).
pub(crate) fn strict_storage_class(decl_type: &str) -> Option<&'static str> {
    match decl_type.to_ascii_uppercase().as_str() {
        "INT" | "INTEGER" => Some("integer"),
        "REAL" => Some("real"),
        "TEXT" => Some("text"),
        "BLOB" => Some("blob"),
        _ => None,
    }
}

/// Every constraint of the target over the staging table `stage_q`, whose rows are
/// aliased `alias` and ordered by `seq`.
impl Probe {
    /// It checks the target's INTEGER PRIMARY KEY (integer, unique) and nothing else.
    pub(crate) fn is_rowid_key(&self, facts: &Facts) -> bool {
        self.kind == ConstraintKind::PrimaryKey
            && facts
                .target
                .table
                .ipk
                .as_ref()
                .is_some_and(|ipk| self.show.len() == 1 && self.show[0].eq_ignore_ascii_case(ipk))
    }
}

pub(crate) fn probes(facts: &Facts, stage_q: &str, seq: &str, alias: &str) -> Vec<Probe> {
    let target = &facts.target.table;
    let mut out = Vec::new();
    let ipk = target.ipk.clone();
    for c in &target.columns {
        if c.notnull && ipk.as_deref() != Some(c.name.as_str()) {
            out.push(Probe {
                name: format!("NOT NULL({})", c.name),
                kind: ConstraintKind::NotNull,
                expression: None,
                predicate: format!("{alias}.{} IS NULL", ident(&c.name)),
                show: vec![c.name.clone()],
                key: None,
            });
        }
    }
    if let Some(ipk) = &ipk {
        out.push(Probe {
            name: format!("INTEGER PRIMARY KEY({ipk})"),
            kind: ConstraintKind::PrimaryKey,
            expression: None,
            predicate: format!(
                "{alias}.{0} IS NOT NULL AND typeof({alias}.{0}) <> 'integer'",
                ident(ipk)
            ),
            show: vec![ipk.clone()],
            key: None,
        });
    }
    if target.strict {
        for c in &target.columns {
            let Some(expected) = strict_storage_class(&c.decl_type) else {
                continue;
            };
            out.push(Probe {
                name: format!("{} {}", c.name, c.decl_type),
                kind: ConstraintKind::Datatype,
                expression: None,
                predicate: format!(
                    "{alias}.{0} IS NOT NULL AND typeof({alias}.{0}) <> '{expected}'",
                    ident(&c.name)
                ),
                show: vec![c.name.clone()],
                key: None,
            });
        }
    }
    for check in &facts.target.def.checks {
        let show = target
            .columns
            .iter()
            .filter(|c| sql::mentions_identifier(&check.expr, &c.name))
            .map(|c| c.name.clone())
            .collect();
        out.push(Probe {
            name: check.name.clone().unwrap_or_else(|| check.expr.clone()),
            kind: ConstraintKind::Check,
            expression: Some(check.expr.clone()),
            // The staging table is not the table: a qualifier naming the table goes.
            predicate: format!(
                "NOT ({})",
                sql::without_self_qualifiers(
                    &check.expr,
                    &facts.source.name,
                    &facts.source.schema,
                    false
                )
                .as_deref()
                .unwrap_or(&check.expr)
            ),
            show,
            key: None,
        });
    }

    // Uniqueness: every row after the first of a group of equal, non-NULL keys violates.
    let mut unique = |name: String,
                      kind: ConstraintKind,
                      terms: Vec<(String, Option<String>)>,
                      filter: Option<String>,
                      show: Vec<String>| {
        let partition: Vec<String> = terms
            .iter()
            .map(|(e, coll)| match coll {
                Some(c) => format!("({e}) COLLATE {}", ident(c)),
                None => format!("({e})"),
            })
            .collect();
        let mut conds: Vec<String> = terms
            .iter()
            .map(|(e, _)| format!("({e}) IS NOT NULL"))
            .collect();
        if let Some(w) = filter {
            conds.push(format!("({w})"));
        }
        let predicate = format!(
            "{alias}.{seq} IN (SELECT s FROM (SELECT {alias}.{seq} AS s, row_number() OVER (PARTITION BY {} ORDER BY {alias}.{seq}) AS n FROM {stage_q} AS {alias} WHERE {}) WHERE n > 1)",
            partition.join(", "),
            conds.join(" AND ")
        );
        out.push(Probe {
            name,
            kind,
            expression: None,
            predicate,
            show,
            key: Some((partition, conds.join(" AND "))),
        });
    };
    if let Some(ipk) = &ipk {
        unique(
            format!("PRIMARY KEY({ipk})"),
            ConstraintKind::PrimaryKey,
            vec![(format!("{alias}.{}", ident(ipk)), None)],
            None,
            vec![ipk.clone()],
        );
    }
    for ix in target
        .indexes
        .iter()
        .filter(|ix| ix.unique && ix.origin != IndexOrigin::Created)
    {
        let names: Vec<String> = ix.keys.iter().filter_map(|(n, _)| n.clone()).collect();
        if names.len() != ix.keys.len() {
            continue;
        }
        let terms = ix
            .keys
            .iter()
            .filter_map(|(n, coll)| {
                Some((
                    format!("{alias}.{}", ident(n.as_ref()?)),
                    Some(coll.clone()),
                ))
            })
            .collect();
        let (label, kind) = if ix.origin == IndexOrigin::PrimaryKey {
            ("PRIMARY KEY", ConstraintKind::PrimaryKey)
        } else {
            ("UNIQUE", ConstraintKind::Unique)
        };
        unique(
            format!("{label}({})", names.join(", ")),
            kind,
            terms,
            None,
            names,
        );
    }
    for d in &facts.dependents {
        let Some(ix) = d.index.as_ref().filter(|ix| ix.unique) else {
            continue;
        };
        let terms = ix
            .terms
            .iter()
            .map(|t| (t.expr.clone(), t.collation.clone()))
            .collect();
        let show = target
            .columns
            .iter()
            .filter(|c| {
                ix.terms
                    .iter()
                    .any(|t| sql::mentions_identifier(&t.expr, &c.name))
            })
            .map(|c| c.name.clone())
            .collect();
        unique(
            d.def.name.clone(),
            ConstraintKind::Unique,
            terms,
            ix.where_clause.clone(),
            show,
        );
    }

    for parent in &facts.target_parents {
        let fk = &parent.fk;
        let not_null: Vec<String> = fk
            .from
            .iter()
            .map(|c| format!("{alias}.{} IS NOT NULL", ident(c)))
            .collect();
        let parent_alias = ident("sqlite_rebuild_parent");
        let predicate = if parent.parent_exists && parent.columns.len() == fk.from.len() {
            let parent_table = if parent.self_reference {
                stage_q.to_owned()
            } else {
                qualified(&facts.source.schema, &fk.parent)
            };
            let parent_columns = match &parent.table {
                Some((t, _)) => &t.columns,
                None => &target.columns,
            };
            // SQLite looks a key up under the parent column's affinity: under TEXT, a
            // number becomes its text ('0' is not 0.0). Comparing with the parent column
            // applies the other affinities as a lookup does.
            let eqs: Vec<String> = parent
                .columns
                .iter()
                .zip(&fk.from)
                .map(|(to, from)| {
                    let child = format!("{alias}.{}", ident(from));
                    let text_parent = parent_columns
                        .iter()
                        .find(|c| c.name.eq_ignore_ascii_case(to))
                        .is_some_and(|c| has_text_affinity(&c.decl_type));
                    let child = if text_parent {
                        format!("CASE WHEN typeof({child}) IN ('integer', 'real') THEN CAST({child} AS TEXT) ELSE {child} END")
                    } else {
                        child
                    };
                    format!("{parent_alias}.{} = {child}", ident(to))
                })
                .collect();
            format!(
                "{} AND NOT EXISTS (SELECT 1 FROM {parent_table} AS {parent_alias} WHERE {})",
                not_null.join(" AND "),
                eqs.join(" AND ")
            )
        } else {
            not_null.join(" AND ")
        };
        out.push(Probe {
            name: format!(
                "FOREIGN KEY({}) REFERENCES {}({})",
                fk.from.join(", "),
                fk.parent,
                parent.columns.join(", ")
            ),
            kind: ConstraintKind::ForeignKey,
            expression: None,
            predicate,
            show: fk.from.clone(),
            key: None,
        });
    }
    out
}

/// Whether a declared type gives a column TEXT affinity (SQLite's rules, in their order).
fn has_text_affinity(decl_type: &str) -> bool {
    let t = decl_type.to_ascii_uppercase();
    !t.contains("INT") && ["CHAR", "CLOB", "TEXT"].iter().any(|k| t.contains(k))
}

/// The target's primary key columns, shown first in every sample.
pub(crate) fn primary_key(facts: &Facts) -> Vec<String> {
    catalog::primary_key(&facts.target.table.columns)
}

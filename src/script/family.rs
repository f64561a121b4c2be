//! The rebuilt table's family in a script: the tables whose foreign keys reference it,
//! directly or through each other. Foreign key enforcement may be on where a script runs
//! (inside a framework's transaction, on Cloudflare D1, on dqlite), and then dropping a
//! referenced table cascades. Two ways around it, neither needing the pragma:
//! - [`Closure`]: every table of the family is copied too, into scratch tables whose keys
//!   reference the scratch parents; the old tables go children first (nothing references a
//!   dropped table, so nothing cascades and no child trigger fires), and the scratch tables
//!   are renamed into place, each rename carrying the references along.
//! - [`Repoint`]: the children's `REFERENCES` are pointed at the scratch table through
//!   `writable_schema` before the drop, and given their own text back after the rename.

use crate::db::Table;
use crate::error::{DependentKind, Error, Result};
use crate::introspect::{DependentFacts, Descendant, Facts};
use crate::mapping::Mapping;
use crate::sql::{self, ident, literal, qualified, with_literals};
use rusqlite::types::Value;

/// The statement that labels a table's rows of statistics table `stat` with another name.
fn relabel(schema: &str, stat: &str, from: &str, to: &str) -> String {
    format!(
        "UPDATE {} SET tbl = {} WHERE tbl = {} COLLATE NOCASE",
        qualified(schema, stat),
        literal(&Value::Text(to.to_owned())),
        literal(&Value::Text(from.to_owned()))
    )
}

/// The target references the table itself.
pub(super) fn self_referencing(facts: &Facts) -> bool {
    facts
        .target
        .foreign_keys
        .iter()
        .any(|fk| fk.parent.eq_ignore_ascii_case(&facts.source.name))
}

/// `sql` with the references to the tables `renames` names pointing at their new names.
fn retarget(sql: &str, renames: &[(&str, String)], table: &str) -> Result<String> {
    sql::retarget_references(sql, |parent, _| {
        renames
            .iter()
            .find(|(from, _)| from.eq_ignore_ascii_case(parent))
            .map(|(_, to)| ident(to))
    })
    .ok_or_else(|| Error::NotRenderable {
        table: table.to_owned(),
        reason: "the statement of a table that references it could not be read".to_owned(),
    })
}

/// The text of a table's statement after its name.
fn body(table: &Table, rebuilt: &str) -> Result<String> {
    let def = sql::parse_create_table(&table.sql).map_err(|e| Error::NotRenderable {
        table: rebuilt.to_owned(),
        reason: format!("the statement of its descendant \"{}\": {e}", table.name),
    })?;
    Ok(table
        .sql
        .get(def.name_span.1..)
        .unwrap_or_default()
        .to_owned())
}

/// The scratch table's statement with its references to the table itself pointing at the
/// scratch table (else dropping the old table would cascade into the copy).
pub(super) fn root_create(facts: &Facts, also: &[(&str, String)]) -> Result<String> {
    let mut renames = vec![(facts.source.name.as_str(), facts.scratch.clone())];
    renames.extend(also.iter().cloned());
    retarget(&facts.target.create_scratch, &renames, &facts.source.name)
}

/// A foreign key needs a unique index on its parent's columns, and a copy is referenced
/// before the real indexes can be recreated on it (their names are taken until the old
/// table goes): the unique indexes of a referenced table are built on its copy under
/// stand-in names, and dropped again after the swap. (create, drop) for each.
fn stand_in_indexes(
    schema: &str,
    scratch: &str,
    indexes: &[DependentFacts],
) -> Vec<(String, String)> {
    indexes
        .iter()
        .filter(|ix| {
            ix.index
                .as_ref()
                .is_some_and(|i| i.unique && i.where_clause.is_none())
        })
        .filter_map(|ix| {
            let name = format!("{scratch} {}", ix.def.name);
            ix.index_as(&qualified(schema, &name), scratch)
                .map(|sql| (sql, format!("DROP INDEX {}", qualified(schema, &name))))
        })
        .collect()
}

/// The copy of the whole family.
pub(super) struct Closure<'a> {
    facts: &'a Facts,
    /// The descendants, each after every table of the family it references.
    members: Vec<&'a Descendant>,
}

impl<'a> Closure<'a> {
    /// The family in an order the copy can follow; a cycle of references among the old
    /// tables cannot be dropped without a cascade, and is refused.
    pub(super) fn new(facts: &'a Facts) -> Result<Self> {
        let source = &facts.source.name;
        let mut left: Vec<&Descendant> = facts.descendants.iter().collect();
        let mut members: Vec<&Descendant> = Vec::new();
        let placed = |name: &str, members: &[&Descendant]| {
            name.eq_ignore_ascii_case(source)
                || members
                    .iter()
                    .any(|m| m.table.name.eq_ignore_ascii_case(name))
        };
        let in_family = |name: &str| {
            name.eq_ignore_ascii_case(source)
                || facts
                    .descendants
                    .iter()
                    .any(|d| d.table.name.eq_ignore_ascii_case(name))
        };
        // The old table may reference a descendant: then no order drops both safely.
        if let Some(fk) = facts.keys.iter().find(|fk| {
            fk.child.eq_ignore_ascii_case(source)
                && !fk.parent.eq_ignore_ascii_case(source)
                && in_family(&fk.parent)
        }) {
            return Err(Error::ReferenceCycle {
                table: source.clone(),
                cycle: vec![source.clone(), fk.parent.clone(), source.clone()],
            });
        }
        while !left.is_empty() {
            let ready = left.iter().position(|d| {
                facts
                    .keys
                    .iter()
                    .filter(|fk| fk.child.eq_ignore_ascii_case(&d.table.name))
                    .filter(|fk| !fk.parent.eq_ignore_ascii_case(&d.table.name))
                    .filter(|fk| in_family(&fk.parent))
                    .all(|fk| placed(&fk.parent, &members))
            });
            match ready {
                Some(i) => members.push(left.remove(i)),
                None => {
                    let mut cycle: Vec<String> =
                        left.iter().map(|d| d.table.name.clone()).collect();
                    cycle.sort_by_key(|n| n.to_ascii_lowercase());
                    return Err(Error::ReferenceCycle {
                        table: source.clone(),
                        cycle,
                    });
                }
            }
        }
        Ok(Closure { facts, members })
    }

    /// Each table of the family with its scratch table's name, quoted.
    pub(super) fn renames(&self) -> Vec<(&'a str, String)> {
        std::iter::once((self.facts.source.name.as_str(), self.facts.scratch.clone()))
            .chain(
                self.members
                    .iter()
                    .map(|d| (d.table.name.as_str(), d.scratch.clone())),
            )
            .collect()
    }

    /// The scratch table of the rebuilt one, its references inside the family retargeted.
    pub(super) fn root_create(&self) -> Result<String> {
        root_create(self.facts, &self.renames())
    }

    fn key_indexes(
        &self,
        table: &str,
        scratch: &str,
        indexes: Vec<DependentFacts>,
    ) -> Vec<(String, String)> {
        let referenced = self.facts.keys.iter().any(|fk| {
            fk.parent.eq_ignore_ascii_case(table)
                && (fk.child.eq_ignore_ascii_case(table)
                    || self
                        .members
                        .iter()
                        .any(|m| m.table.name.eq_ignore_ascii_case(&fk.child)))
        });
        if !referenced {
            return Vec::new();
        }
        stand_in_indexes(&self.facts.source.schema, scratch, &indexes)
    }

    /// The rebuilt table's stand-in key indexes (created right after its copy).
    pub(super) fn root_key_indexes(&self) -> Vec<(String, String)> {
        let f = self.facts;
        self.key_indexes(&f.source.name, &f.scratch, f.dependents.clone())
    }

    /// Every stand-in key index: (create, drop).
    fn all_key_indexes(&self) -> Vec<(String, String)> {
        let schema = &self.facts.source.schema;
        let mut out = self.root_key_indexes();
        for d in &self.members {
            let indexes = d
                .indexes
                .iter()
                .map(|ix| DependentFacts::new(ix.clone(), schema))
                .collect();
            out.extend(self.key_indexes(&d.table.name, &d.scratch, indexes));
        }
        out
    }

    /// The descendants' copies: each scratch table created and filled, rowids kept, with
    /// the children's keys following the rebuilt table's remapped ones.
    pub(super) fn copies(&self, mapping: &Mapping) -> Result<Vec<String>> {
        let renames = self.renames();
        let schema = &self.facts.source.schema;
        let mut out = Vec::new();
        for d in &self.members {
            let t = &d.table;
            let body = retarget(&body(t, &self.facts.source.name)?, &renames, &t.name)?;
            out.push(format!(
                "CREATE TABLE {}{body}",
                qualified(schema, &d.scratch)
            ));
            let alias = ident(&t.name);
            let follow: Vec<_> = mapping
                .follow
                .iter()
                .filter(|u| u.child.eq_ignore_ascii_case(&t.name))
                .collect();
            let mut into = Vec::new();
            let mut from = Vec::new();
            if let (false, Some(rowid)) = (t.ipk.is_some(), t.rowid_name()) {
                into.push("rowid".to_owned());
                from.push(format!("{alias}.{rowid}"));
            }
            for c in t.columns.iter().filter(|c| !c.is_generated()) {
                into.push(ident(&c.name));
                let followed = follow.iter().find_map(|u| {
                    u.sets
                        .iter()
                        .find(|(col, _)| col.eq_ignore_ascii_case(&c.name))
                        .map(|(_, expr)| with_literals(expr, &u.params))
                });
                from.push(followed.unwrap_or_else(|| format!("{alias}.{}", ident(&c.name))));
            }
            out.push(format!(
                "INSERT OR ABORT INTO {} ({}) SELECT {} FROM {} AS {alias}",
                qualified(schema, &d.scratch),
                into.join(", "),
                from.join(", "),
                t.qualified()
            ));
            let indexes = d
                .indexes
                .iter()
                .map(|ix| DependentFacts::new(ix.clone(), schema))
                .collect();
            out.extend(
                self.key_indexes(&t.name, &d.scratch, indexes)
                    .into_iter()
                    .map(|(create, _)| create),
            );
        }
        Ok(out)
    }

    /// For each descendant with foreign keys: how many of its rows find no parent, first
    /// in the old table (what already was) and then in its copy.
    pub(super) fn key_checks(&self) -> Vec<(String, String, String)> {
        let schema = literal(&Value::Text(self.facts.source.schema.clone()));
        let count = |table: &str| {
            format!(
                "(SELECT count(*) FROM pragma_foreign_key_check({}, {schema}))",
                literal(&Value::Text(table.to_owned()))
            )
        };
        self.members
            .iter()
            .filter(|d| {
                self.facts
                    .keys
                    .iter()
                    .any(|fk| fk.child.eq_ignore_ascii_case(&d.table.name))
            })
            .map(|d| {
                (
                    d.table.name.clone(),
                    count(&d.table.name),
                    count(&d.scratch),
                )
            })
            .collect()
    }

    /// Before the old tables go: the views and triggers that name them, the statistics of
    /// the descendants (kept aside), and the old descendants, children first.
    pub(super) fn drops(&self) -> Vec<String> {
        let schema = &self.facts.source.schema;
        let mut out = Vec::new();
        for m in self.facts.mentioning.iter().rev() {
            let kind = match m.kind {
                DependentKind::View => "VIEW",
                _ => "TRIGGER",
            };
            out.push(format!(
                "DROP {kind} IF EXISTS {}",
                qualified(m.owner(schema), &m.name)
            ));
        }
        // As for the rebuilt table: labelled with the copy's name, DROP TABLE keeps them.
        for stat in self.statistics() {
            for d in &self.members {
                out.push(relabel(schema, &stat, &d.table.name, &d.scratch));
            }
        }
        for d in self.members.iter().rev() {
            out.push(format!("DROP TABLE {}", d.table.qualified()));
        }
        out
    }

    /// The statistics tables of the schema, when there are descendants to keep them for.
    fn statistics(&self) -> Vec<String> {
        match &self.facts.statistics {
            Some(s) if !self.members.is_empty() => s.tables.clone(),
            _ => Vec::new(),
        }
    }

    /// The renames that put the copies in place: SQLite's own (not legacy), which carries
    /// every reference to a scratch table over to its new name whether or not foreign key
    /// enforcement is on, and checks that the whole schema still reads.
    /// (SQLite's rename writes every name it rewrites in double quotes, so the family's
    /// statements are stored as `CREATE TABLE "c" (... REFERENCES "p" ...)`.) The stand-in
    /// key indexes go first: the copies are filled, and a rename would re-check them
    /// against a TEMP table that hides the name.
    pub(super) fn swaps(&self) -> Vec<String> {
        let schema = &self.facts.source.schema;
        let stand_ins = self.all_key_indexes().into_iter().map(|(_, drop)| drop);
        stand_ins
            .chain(
                std::iter::once((&self.facts.scratch, &self.facts.source.name))
                    .chain(self.members.iter().map(|d| (&d.scratch, &d.table.name)))
                    .map(|(scratch, name)| {
                        format!(
                            "ALTER TABLE {} RENAME TO {}",
                            qualified(schema, scratch),
                            ident(name)
                        )
                    }),
            )
            .collect()
    }

    /// After the swap: the descendants' indexes, triggers, AUTOINCREMENT counters and
    /// statistics, then the views and triggers that were dropped, in schema order.
    pub(super) fn recreate(&self) -> Vec<String> {
        let schema = &self.facts.source.schema;
        let mut out = Vec::new();
        for d in &self.members {
            for ix in &d.indexes {
                out.push(DependentFacts::new(ix.clone(), schema).recreate);
            }
            for tr in &d.triggers {
                out.push(tr.recreate_sql(schema, None));
            }
            if let Some(seq) = d.sequence {
                let seq_table = format!("{}.sqlite_sequence", ident(schema));
                let name = literal(&Value::Text(d.table.name.clone()));
                out.push(format!(
                    "UPDATE {seq_table} SET seq = max(seq, {seq}) WHERE name = {name}"
                ));
                out.push(format!(
                    "INSERT INTO {seq_table} (name, seq) SELECT {name}, {seq} WHERE NOT EXISTS (SELECT 1 FROM {seq_table} WHERE name = {name})"
                ));
            }
        }
        for stat in self.statistics() {
            for d in &self.members {
                out.push(relabel(schema, &stat, &d.scratch, &d.table.name));
            }
        }
        for m in &self.facts.mentioning {
            out.push(m.recreate_sql(schema, None));
        }
        out
    }
}

/// The children repointed at the scratch table and back.
pub(super) struct Repoint<'a> {
    facts: &'a Facts,
    children: Vec<&'a Descendant>,
}

impl<'a> Repoint<'a> {
    pub(super) fn new(facts: &'a Facts) -> Self {
        let children = facts
            .descendants
            .iter()
            .filter(|d| {
                facts.children.iter().any(|fk| {
                    fk.child.eq_ignore_ascii_case(&d.table.name)
                        && fk.parent.eq_ignore_ascii_case(&facts.source.name)
                })
            })
            .collect();
        Repoint { facts, children }
    }

    fn write(&self, sets: Vec<(String, String)>) -> Vec<String> {
        if sets.is_empty() {
            return Vec::new();
        }
        let schema = ident(&self.facts.source.schema);
        let mut out = vec!["PRAGMA writable_schema = ON".to_owned()];
        for (name, text) in sets {
            out.push(format!(
                "UPDATE {schema}.sqlite_schema SET sql = {} WHERE type = 'table' AND name = {}",
                literal(&Value::Text(text)),
                literal(&Value::Text(name))
            ));
        }
        // RESET also reloads the schema, so this connection sees the new references.
        out.push("PRAGMA writable_schema = RESET".to_owned());
        out
    }

    fn stand_ins(&self) -> Vec<(String, String)> {
        if self.children.is_empty() {
            return Vec::new();
        }
        let f = self.facts;
        stand_in_indexes(&f.source.schema, &f.scratch, &f.dependents)
    }

    /// Before the drop: the children reference the scratch table, which holds every key
    /// (and the unique indexes their keys need).
    pub(super) fn before_drop(&self) -> Result<Vec<String>> {
        let renames = [(self.facts.source.name.as_str(), self.facts.scratch.clone())];
        let mut sets = Vec::new();
        for c in &self.children {
            sets.push((
                c.table.name.clone(),
                retarget(&c.table.sql, &renames, &c.table.name)?,
            ));
        }
        let mut out: Vec<String> = self
            .stand_ins()
            .into_iter()
            .map(|(create, _)| create)
            .collect();
        out.extend(self.write(sets));
        Ok(out)
    }

    /// Before the rename (which would re-check them against a TEMP table that hides the
    /// name), once the children's keys have followed: the stand-in key indexes go.
    pub(super) fn before_rename(&self) -> Vec<String> {
        self.stand_ins().into_iter().map(|(_, drop)| drop).collect()
    }

    /// After the rename: the children's own text back (a legacy rename rewrites their
    /// references only when enforcement is on), and the table's when it references itself.
    pub(super) fn after_rename(&self) -> Vec<String> {
        let mut sets: Vec<(String, String)> = self
            .children
            .iter()
            .map(|c| (c.table.name.clone(), c.table.sql.clone()))
            .collect();
        if self_referencing(self.facts) {
            sets.push((
                self.facts.source.name.clone(),
                self.facts.target.stored_sql.clone(),
            ));
        }
        self.write(sets)
    }
}

//! The quarantine table that `restore_from` names, and its children's: found, checked to be
//! the crate's own, and matched with the tables their rows go back into.

use super::Descendant;
use crate::builder::quarantine::{
    child_quarantine_name, nulled_keys_name, CHILD_ROWID, MAX_DEPTH, QUARANTINED_AT, VIOLATION,
};
use crate::db::catalog;
use crate::db::{ForeignKey, Table};
use crate::error::{Error, Result};
use rusqlite::Connection;

/// A quarantine table to put back ([`TableRebuild::restore_from`](crate::TableRebuild::restore_from)).
#[derive(Debug)]
pub(crate) struct Restore {
    pub table: Table,
    /// Child quarantine tables, parents before their children.
    pub children: Vec<ChildRestore>,
    /// Children's keys that quarantine set to NULL ([`Orphans::SetNull`](crate::Orphans::SetNull)).
    pub keys: Vec<KeysRestore>,
}

/// A table of kept keys and the child whose rows get them back.
#[derive(Debug, Clone)]
pub(crate) struct KeysRestore {
    pub child: String,
    pub table: String,
    /// The key's columns, as the child names them.
    pub columns: Vec<String>,
}

/// A child's quarantine table and the child its rows go back into.
#[derive(Debug, Clone)]
pub(crate) struct ChildRestore {
    pub child: String,
    pub quarantine: String,
    /// The child's columns, which the quarantine table holds too.
    pub columns: Vec<String>,
    /// Whether the quarantine table's rowids are the child's own.
    pub rowid: bool,
}

/// Finds the quarantine table to restore and its children's, and checks they are ours.
pub(super) fn find(
    conn: &Connection,
    source: &Table,
    children: &[ForeignKey],
    keys: &[ForeignKey],
    descendants: &[Descendant],
    name: &str,
) -> Result<Restore> {
    let table = catalog::resolve_table(conn, &source.schema, name)?;
    if table.name.eq_ignore_ascii_case(&source.name) {
        return Err(Error::Quarantine {
            table: table.name,
            reason: "it is the table being rebuilt".into(),
        });
    }
    if table.column(VIOLATION).is_none() {
        return Err(Error::Quarantine {
            table: table.name,
            reason: format!(
                "it is not a quarantine table (it has no \"{VIOLATION}\" column); restore_from \
                 takes a table that OnViolation::Quarantine filled"
            ),
        });
    }
    let mut finder = Finder {
        conn,
        schema: &source.schema,
        keys,
        descendants,
        path: vec![source.name.to_ascii_lowercase()],
        out: Vec::new(),
        kept: Vec::new(),
    };
    finder.collect(&distinct_children(children.iter()), &table.name)?;
    Ok(Restore {
        table,
        children: finder.out,
        keys: finder.kept,
    })
}

fn distinct_children<'a>(fks: impl Iterator<Item = &'a ForeignKey>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for fk in fks {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&fk.child)) {
            names.push(fk.child.clone());
        }
    }
    names
}

struct Finder<'a> {
    conn: &'a Connection,
    schema: &'a str,
    keys: &'a [ForeignKey],
    descendants: &'a [Descendant],
    path: Vec<String>,
    out: Vec<ChildRestore>,
    kept: Vec<KeysRestore>,
}

impl Finder<'_> {
    /// The child's keys that a quarantine into `parent_quarantine` set to NULL, if any.
    fn kept_keys(&mut self, child: &Table, parent_quarantine: &str) -> Result<()> {
        let name = nulled_keys_name(parent_quarantine, &child.name);
        let Ok(kept) = catalog::resolve_table(self.conn, self.schema, &name) else {
            return Ok(());
        };
        let ours = [CHILD_ROWID, VIOLATION, QUARANTINED_AT];
        if ours.iter().any(|c| kept.column(c).is_none()) {
            return Err(Error::Quarantine {
                table: kept.name,
                reason: "it is not a table of kept keys (it lacks the crate's columns)".into(),
            });
        }
        let columns: Vec<String> = kept
            .columns
            .iter()
            .filter(|c| !ours.iter().any(|o| o.eq_ignore_ascii_case(&c.name)))
            .map(|c| c.name.clone())
            .collect();
        if let Some(missing) = columns.iter().find(|c| child.column(c).is_none()) {
            return Err(Error::Quarantine {
                table: kept.name,
                reason: format!(
                    "child \"{}\" has no column \"{missing}\": its keys cannot go back",
                    child.name
                ),
            });
        }
        self.kept.push(KeysRestore {
            child: child.name.clone(),
            table: kept.name,
            columns,
        });
        Ok(())
    }

    fn collect(&mut self, children: &[String], parent_quarantine: &str) -> Result<()> {
        if self.path.len() > MAX_DEPTH {
            return Ok(());
        }
        for child in children {
            if self.path.contains(&child.to_ascii_lowercase()) {
                continue;
            }
            let Some(child_table) = self
                .descendants
                .iter()
                .map(|d| &d.table)
                .find(|t| t.name.eq_ignore_ascii_case(child))
            else {
                continue;
            };
            self.kept_keys(child_table, parent_quarantine)?;
            let quarantine = child_quarantine_name(parent_quarantine, child);
            let Ok(q) = catalog::resolve_table(self.conn, self.schema, &quarantine) else {
                continue;
            };
            let columns: Vec<String> = child_table
                .columns
                .iter()
                .filter(|c| !c.is_generated())
                .map(|c| c.name.clone())
                .collect();
            if let Some(missing) = columns.iter().find(|c| q.column(c).is_none()) {
                return Err(Error::Quarantine {
                    table: q.name,
                    reason: format!(
                        "it has no column \"{missing}\", which child \"{child}\" has: its rows cannot go back"
                    ),
                });
            }
            self.out.push(ChildRestore {
                child: child_table.name.clone(),
                quarantine: q.name.clone(),
                columns,
                rowid: child_table.rowid_name().is_some() && q.rowid_name().is_some(),
            });
            let grandchildren = distinct_children(self.keys.iter().filter(|fk| {
                fk.parent.eq_ignore_ascii_case(&child_table.name)
                    && !fk.child.eq_ignore_ascii_case(&child_table.name)
            }));
            self.path.push(child.to_ascii_lowercase());
            self.collect(&grandchildren, &q.name)?;
            self.path.pop();
        }
        Ok(())
    }
}

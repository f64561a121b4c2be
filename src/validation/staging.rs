//! The staging table: a constraint-free TEMP table that holds every row as the target would
//! store it (the target's types, collations, defaults and generated columns), copied through
//! the same column expressions and rules as the copy. Constraints become predicates over it.

use crate::introspect::Facts;
use crate::mapping::Mapping;
use crate::sql::{ident, qualified};
use rusqlite::Connection;

/// The staging table of a rebuild, as SQL. It holds the target's columns and, beside them,
/// as little as it can (a table holds at most 2000 columns): its own rowid orders the rows
/// as the copy does and, for a rowid table, is the old row's rowid; key columns are added
/// only for a WITHOUT ROWID table, and the origin column only when rows are restored.
pub(crate) struct Staging {
    /// `"temp"."<name>"` (or the schema it was made in).
    pub table: String,
    /// Quoted name that reaches the staging table's rowid: the copy order.
    pub seq: String,
    /// Quoted name of the column saying where a row comes from (0: the old table, 1: the
    /// quarantine table being restored), when rows are restored.
    pub origin: Option<String>,
    /// Quoted names holding the old row's key: its rowid (the staged INTEGER PRIMARY KEY
    /// when the target takes it unchanged, else the staging table's own rowid), or its
    /// primary key in a WITHOUT ROWID table; NULL for restored rows.
    pub keys: Vec<String>,
    /// Whether `keys` is the old table's rowid.
    pub keys_are_rowid: bool,
    /// The target's INTEGER PRIMARY KEY takes the old rowid unchanged and no other row is
    /// staged: it is a unique integer in every row, with nothing to check.
    pub ipk_is_old_rowid: bool,
    pub create: String,
    /// Fill it: from the old table, then from the quarantine table being restored. They
    /// bind the copy's parameters.
    pub inserts: Vec<String>,
    /// Run after the inserts (no parameters): give each NULL INTEGER PRIMARY KEY the rowid
    /// SQLite would assign it in the copy.
    pub assign_rowids: Option<String>,
}

impl Staging {
    /// The staging table called `name` in `temp`.
    pub(crate) fn new(facts: &Facts, mapping: &Mapping, name: &str) -> Staging {
        Self::new_in(facts, mapping, "temp", name)
    }

    /// The staging table called `name` in `schema` (a script for an engine that refuses
    /// TEMP tables stages in the table's own schema).
    pub(crate) fn new_in(facts: &Facts, mapping: &Mapping, schema: &str, name: &str) -> Staging {
        Self::with_columns(facts, mapping, schema, name, |_| true)
    }

    /// [`Staging::new_in`], staging only the target's columns `keep` says (and the INTEGER
    /// PRIMARY KEY, and what a kept generated column reads): a script's guards need only the
    /// columns their predicates name, and a narrower table is cheaper to fill and scan.
    pub(crate) fn with_columns(
        facts: &Facts,
        mapping: &Mapping,
        schema: &str,
        name: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Staging {
        let source = &facts.source;
        let target = &facts.target.table;
        let taken = |n: &str| target.column(n).is_some();
        let free = |base: &str| {
            let mut n = base.to_owned();
            while taken(&n) {
                n.push('_');
            }
            ident(&n)
        };
        let rowid = ["rowid", "_rowid_", "oid"].into_iter().find(|n| !taken(n));
        let mut defs = Vec::new();
        // Without a free rowid name, an INTEGER PRIMARY KEY of its own reaches it.
        let seq = match rowid {
            Some(r) => ident(r),
            None => {
                let seq = free("sqlite_rebuild_seq");
                defs.push(format!("{seq} INTEGER PRIMARY KEY"));
                seq
            }
        };
        let restoring = facts.restore.is_some();
        let origin = restoring.then(|| free("sqlite_rebuild_origin"));
        defs.extend(origin.iter().cloned());
        let source_rowid = source.rowid_name();
        let row_key = source.row_key();
        // An INTEGER PRIMARY KEY the target takes unchanged is the old rowid already.
        let ipk_is_rowid = source_rowid.is_some()
            && source
                .ipk
                .as_ref()
                .zip(target.ipk.as_ref())
                .is_some_and(|(old, new)| mapping.copies_unchanged(new, old));
        let (keys, stage_keys): (Vec<String>, bool) = match (source_rowid, &target.ipk) {
            (Some(_), Some(ipk)) if ipk_is_rowid => (vec![ident(ipk)], false),
            (Some(_), _) => (vec![seq.clone()], true),
            (None, _) => (
                (1..=row_key.len())
                    .map(|i| free(&format!("sqlite_rebuild_key{i}")))
                    .collect(),
                true,
            ),
        };
        if source_rowid.is_none() {
            defs.extend(keys.iter().cloned());
        }
        // The kept columns, and what the kept generated columns read, until nothing is added.
        let columns = &facts.target.def.columns;
        let mut kept: Vec<bool> = columns
            .iter()
            .map(|c| keep(&c.name) || target.ipk.as_deref() == Some(c.name.as_str()))
            .collect();
        // A table needs a column.
        if !kept.iter().any(|k| *k) {
            if let Some(first) = kept.first_mut() {
                *first = true;
            }
        }
        loop {
            let mut grew = false;
            for (i, c) in columns.iter().enumerate() {
                let Some(g) = c.generated_clause.as_ref().filter(|_| kept[i]) else {
                    continue;
                };
                for (j, other) in columns.iter().enumerate() {
                    if !kept[j] && crate::sql::mentions_identifier(g, &other.name) {
                        kept[j] = true;
                        grew = true;
                    }
                }
            }
            if !grew {
                break;
            }
        }
        let is_kept = |name: &str| {
            columns
                .iter()
                .zip(&kept)
                .any(|(c, k)| *k && c.name.eq_ignore_ascii_case(name))
        };
        for c in columns
            .iter()
            .zip(&kept)
            .filter(|(_, k)| **k)
            .map(|(c, _)| c)
        {
            let ty = if target.strict && c.type_text.eq_ignore_ascii_case("ANY") {
                ""
            } else {
                &c.type_text
            };
            let mut def = format!("{} {ty}", ident(&c.name));
            if let Some(coll) = &c.collation {
                def += &format!(" COLLATE {}", ident(coll));
            }
            if let Some(d) = &c.default_clause {
                def += &format!(" {d}");
            }
            if let Some(g) = &c.generated_clause {
                def += &format!(" {g}");
            }
            defs.push(def);
        }
        let stage_q = qualified(schema, name);
        let create = format!("CREATE TABLE {stage_q} ({})", defs.join(", "));
        let sel = mapping.select_exprs(&source.name, false);
        let sel = &sel[usize::from(mapping.rowid.is_some())..];
        let transfers: Vec<(String, String)> = mapping
            .transfers
            .iter()
            .zip(sel.iter().cloned())
            .filter(|(t, _)| is_kept(&t.target))
            .map(|(t, e)| (ident(&t.target), e))
            .collect();
        // (column, expression) pairs of one insert, the target's columns last.
        let insert = |mut pairs: Vec<(String, String)>, from: String| {
            pairs.extend(transfers.iter().cloned());
            let (cols, exprs): (Vec<String>, Vec<String>) = pairs.into_iter().unzip();
            format!(
                "INSERT INTO {stage_q} ({}) SELECT {} FROM {from}",
                cols.join(", "),
                exprs.join(", ")
            )
        };
        let old_key: Vec<String> = row_key
            .iter()
            .map(|k| format!("{}.{}", ident(&source.name), ident(k)))
            .collect();
        let mut first: Vec<(String, String)> = if stage_keys {
            keys.iter().cloned().zip(old_key).collect()
        } else {
            Vec::new()
        };
        if let Some(o) = &origin {
            first.push((o.clone(), "0".to_owned()));
        }
        let mut inserts = vec![insert(first, source.qualified())];
        if let Some(r) = &facts.restore {
            let mut pairs: Vec<(String, String)> = Vec::new();
            if source_rowid.is_none() {
                pairs.extend(keys.iter().map(|k| (k.clone(), "NULL".to_owned())));
            }
            pairs.extend(origin.iter().map(|o| (o.clone(), "1".to_owned())));
            inserts.push(insert(
                pairs,
                format!("{} AS {}", r.table.qualified(), ident(&source.name)),
            ));
        }
        // Only a key that can be NULL needs it: not one copied from the old table's own rowid.
        let assign_rowids = target.ipk.as_ref().and_then(|ipk| {
            let copied_rowid = source
                .ipk
                .as_ref()
                .is_some_and(|old| mapping.copies_unchanged(ipk, old));
            (!copied_rowid).then(|| assign_rowids_sql(&stage_q, &seq, &ident(ipk)))
        });
        Staging {
            table: stage_q,
            seq,
            origin,
            keys,
            keys_are_rowid: source_rowid.is_some(),
            ipk_is_old_rowid: ipk_is_rowid && !restoring,
            create,
            inserts,
            assign_rowids,
        }
    }

    /// The condition, over rows aliased `alias`, that a staged row comes from the old table.
    pub(crate) fn is_old_row(&self, alias: &str) -> String {
        match &self.origin {
            Some(o) => format!("{alias}.{o} = 0"),
            None => "1".to_owned(),
        }
    }

    /// The old row's rowid, over rows aliased `alias` (NULL for restored rows and for
    /// WITHOUT ROWID tables): what a sample shows.
    pub(crate) fn old_rowid(&self, alias: &str) -> String {
        match (&self.origin, self.keys_are_rowid) {
            (_, false) => "NULL".to_owned(),
            (Some(o), true) => format!(
                "CASE WHEN {alias}.{o} = 0 THEN {alias}.{} END",
                self.keys[0]
            ),
            (None, true) => format!("{alias}.{}", self.keys[0]),
        }
    }

    /// Gives the staged NULL keys their rowids ([`Staging::assign_rowids`]), if needed.
    pub(crate) fn number_null_keys(&self, conn: &Connection) -> rusqlite::Result<()> {
        match &self.assign_rowids {
            Some(sql) => conn.execute_batch(sql),
            None => Ok(()),
        }
    }
}

/// The UPDATE that replaces NULLs in the staged INTEGER PRIMARY KEY `ipk` by the rowids
/// SQLite assigns during the copy: one more than the largest key inserted before (1 in an
/// empty table). For a NULL row s, that is c(s) + max(key(j) - c(j)) over the keyed rows j
/// before it, where c counts NULL rows so far (plus 0 when the first row is NULL). A later
/// row with an explicit key can then collide with an assigned one, as it does in SQLite.
fn assign_rowids_sql(stage_q: &str, seq: &str, ipk: &str) -> String {
    // MATERIALIZED: computed once, from the rows as staged, before any is updated.
    format!(
        "WITH counted AS MATERIALIZED (
  SELECT {seq} AS s, {ipk} AS k, sum({ipk} IS NULL) OVER (ORDER BY {seq} ROWS UNBOUNDED PRECEDING) AS c
  FROM {stage_q}),
runs AS MATERIALIZED (
  SELECT s, c, max(CASE WHEN typeof(k) = 'integer' THEN k - c END) OVER (ORDER BY s ROWS UNBOUNDED PRECEDING) AS m
  FROM counted),
first AS (SELECT CASE WHEN k IS NULL THEN 0 END AS z FROM counted ORDER BY s LIMIT 1)
UPDATE {stage_q} SET {ipk} = runs.c + coalesce(max(runs.m, (SELECT z FROM first)), runs.m, (SELECT z FROM first))
FROM runs WHERE runs.s = {stage_q}.{seq} AND {stage_q}.{ipk} IS NULL"
    )
}

//! The staging table: a constraint-free TEMP table that holds every row as the target would
//! store it (the target's types, collations, defaults and generated columns), copied through
//! the same column expressions and rules as the copy. Constraints become predicates over it.

use crate::introspect::Facts;
use crate::mapping::Mapping;
use crate::sql::{ident, qualified};
use rusqlite::Connection;

/// The staging table of a rebuild, as SQL.
pub(crate) struct Staging {
    /// `"temp"."<name>"`.
    pub table: String,
    /// Quoted name of its own INTEGER PRIMARY KEY (the copy order).
    pub seq: String,
    /// Quoted name of the column saying where a row comes from: 0 for the old table, 1 for
    /// the quarantine table being restored.
    pub origin: String,
    /// Quoted names of the columns holding the old row's key (its rowid, or its primary
    /// key in a WITHOUT ROWID table); NULL for restored rows.
    pub keys: Vec<String>,
    /// Whether `keys` is a single rowid.
    pub keys_are_rowid: bool,
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
        let seq = free("sqlite_rebuild_seq");
        let origin = free("sqlite_rebuild_origin");
        let row_key = source.row_key();
        let keys: Vec<String> = (1..=row_key.len())
            .map(|i| free(&format!("sqlite_rebuild_key{i}")))
            .collect();

        let mut defs = vec![format!("{seq} INTEGER PRIMARY KEY"), origin.clone()];
        defs.extend(keys.iter().cloned());
        for c in &facts.target.def.columns {
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
        let stage_q = qualified("temp", name);
        let create = format!("CREATE TABLE {stage_q} ({})", defs.join(", "));
        let sel = mapping.select_exprs(&source.name, false);
        let sel = &sel[usize::from(mapping.rowid.is_some())..];
        let cols: Vec<String> = std::iter::once(origin.clone())
            .chain(keys.iter().cloned())
            .chain(mapping.transfers.iter().map(|t| ident(&t.target)))
            .collect();
        let insert = |origin: u8, key_exprs: Vec<String>, from: String| {
            let exprs: Vec<String> = std::iter::once(origin.to_string())
                .chain(key_exprs)
                .chain(sel.iter().cloned())
                .collect();
            format!(
                "INSERT INTO {stage_q} ({}) SELECT {} FROM {from}",
                cols.join(", "),
                exprs.join(", ")
            )
        };
        let mut inserts = vec![insert(
            0,
            row_key
                .iter()
                .map(|k| format!("{}.{}", ident(&source.name), ident(k)))
                .collect(),
            source.qualified(),
        )];
        if let Some(r) = &facts.restore {
            inserts.push(insert(
                1,
                row_key.iter().map(|_| "NULL".to_owned()).collect(),
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
            keys_are_rowid: source.rowid_name().is_some(),
            create,
            inserts,
            assign_rowids,
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

//! The catalog: what SQLite says about a table and everything that depends on it, read
//! through `pragma_table_list`, `pragma_table_xinfo`, `pragma_index_list`,
//! `pragma_index_xinfo`, `pragma_foreign_key_list` and `sqlite_schema`, as typed values.
//! Nothing here writes.

use crate::builder::Dependent;
use crate::error::{DependentKind, Error, Result};
use crate::sql::{self, ident, qualified};
use rusqlite::{params, Connection, OptionalExtension};

/// A column as `pragma_table_xinfo` reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Column {
    pub name: String,
    pub decl_type: String,
    pub notnull: bool,
    pub default: Option<String>,
    /// 1-based position in the primary key, 0 when not part of it.
    pub pk: u32,
    /// 0 normal, 1 hidden (virtual tables), 2 VIRTUAL generated, 3 STORED generated.
    pub hidden: u32,
}

impl Column {
    pub(crate) fn is_generated(&self) -> bool {
        self.hidden >= 2
    }
}

/// An ordinary table, resolved and described.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub schema: String,
    /// The name as stored in `sqlite_schema` (its own capitalisation).
    pub name: String,
    pub sql: String,
    pub columns: Vec<Column>,
    /// Its indexes, automatic ones included, newest first.
    pub indexes: Vec<Index>,
    pub without_rowid: bool,
    pub strict: bool,
    /// The INTEGER PRIMARY KEY column (a rowid alias), if any.
    pub ipk: Option<String>,
}

impl Table {
    pub(crate) fn qualified(&self) -> String {
        qualified(&self.schema, &self.name)
    }

    pub(crate) fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Primary key columns in key order.
    pub(crate) fn pk_columns(&self) -> Vec<&Column> {
        let mut pk: Vec<&Column> = self.columns.iter().filter(|c| c.pk > 0).collect();
        pk.sort_by_key(|c| c.pk);
        pk
    }

    /// Columns that identify a row: its rowid, else (WITHOUT ROWID) its primary key.
    pub(crate) fn row_key(&self) -> Vec<String> {
        match self.rowid_name() {
            Some(r) => vec![r.to_owned()],
            None => self.pk_columns().iter().map(|c| c.name.clone()).collect(),
        }
    }

    /// A name that reaches the real rowid: `rowid`, `_rowid_` or `oid`, whichever no user
    /// column shadows. `None` for WITHOUT ROWID tables or when all three are taken.
    pub(crate) fn rowid_name(&self) -> Option<&'static str> {
        if self.without_rowid {
            return None;
        }
        ["rowid", "_rowid_", "oid"]
            .into_iter()
            .find(|n| self.column(n).is_none())
    }
}

/// A table as `pragma_table_list` lists it.
pub(crate) struct TableEntry {
    /// The name as stored (its own capitalisation).
    pub name: String,
    pub without_rowid: bool,
    pub strict: bool,
}

/// Looks `name` up in `schema`, refusing anything but an ordinary table.
pub(crate) fn lookup_table(conn: &Connection, schema: &str, name: &str) -> Result<TableEntry> {
    let row: Option<(String, String, bool, bool)> = conn
        .query_row(
            "SELECT name, type, wr, strict FROM pragma_table_list WHERE schema = ?1 AND name = ?2 COLLATE NOCASE",
            params![schema, name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(Error::sqlite(format!("looking up table \"{name}\"")))?;
    let Some((stored_name, kind, without_rowid, strict)) = row else {
        return Err(Error::UnknownTable {
            schema: schema.to_owned(),
            table: name.to_owned(),
        });
    };
    if stored_name.len() >= 7 && stored_name[..7].eq_ignore_ascii_case("sqlite_") {
        return Err(Error::NotRebuildable {
            table: stored_name,
            kind: "internal sqlite_ table".into(),
        });
    }
    if kind != "table" {
        let kind = match kind.as_str() {
            "virtual" => "virtual table (its module, e.g. FTS5 or R*Tree, owns the storage, \
                 so rows cannot be copied and swapped; recreate it with CREATE VIRTUAL TABLE \
                 and repopulate it, e.g. FTS5's 'rebuild' command)"
                .to_owned(),
            "shadow" => "shadow table (the storage of a virtual table, which only its module \
                 may write)"
                .to_owned(),
            other => other.to_owned(),
        };
        return Err(Error::NotRebuildable {
            table: stored_name,
            kind,
        });
    }
    Ok(TableEntry {
        name: stored_name,
        without_rowid,
        strict,
    })
}

/// Looks `name` up in `schema` and describes it, refusing anything but an ordinary table.
pub(crate) fn resolve_table(conn: &Connection, schema: &str, name: &str) -> Result<Table> {
    let TableEntry {
        name: stored_name,
        without_rowid,
        strict,
    } = lookup_table(conn, schema, name)?;
    let sql: String = conn
        .query_row(
            &format!(
                "SELECT sql FROM {}.sqlite_schema WHERE type = 'table' AND name = ?1",
                ident(schema)
            ),
            [&stored_name],
            |r| r.get(0),
        )
        .map_err(Error::sqlite(format!(
            "reading the definition of \"{stored_name}\""
        )))?;
    let columns = columns(conn, schema, &stored_name)?;
    let indexes = indexes(conn, schema, &stored_name)?;
    let pk: Vec<&Column> = columns.iter().filter(|c| c.pk > 0).collect();
    // A rowid table's single-column primary key is a rowid alias exactly when SQLite made
    // no index for it (`INTEGER PRIMARY KEY DESC` and `INT PRIMARY KEY` get one).
    let ipk = (!without_rowid
        && pk.len() == 1
        && !indexes.iter().any(|i| i.origin == IndexOrigin::PrimaryKey))
    .then(|| pk[0].name.clone());
    Ok(Table {
        schema: schema.to_owned(),
        name: stored_name,
        sql,
        columns,
        indexes,
        without_rowid,
        strict,
        ipk,
    })
}

pub(crate) fn columns(conn: &Connection, schema: &str, table: &str) -> Result<Vec<Column>> {
    let mut stmt = conn
        .prepare("SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1, ?2) ORDER BY cid")
        .map_err(Error::sqlite("reading columns"))?;
    let rows = stmt
        .query_map(params![table, schema], |r| {
            Ok(Column {
                name: r.get(0)?,
                decl_type: r.get(1)?,
                notnull: r.get(2)?,
                default: r.get(3)?,
                pk: r.get(4)?,
                hidden: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(Error::sqlite(format!("reading columns of \"{table}\"")))?;
    Ok(rows)
}

/// Where an index comes from, as `pragma_index_list.origin` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexOrigin {
    /// `c`: a `CREATE INDEX` statement.
    Created,
    /// `u`: a UNIQUE constraint (an automatic index).
    Unique,
    /// `pk`: the PRIMARY KEY (an automatic index).
    PrimaryKey,
}

impl IndexOrigin {
    fn parse(origin: &str) -> Self {
        match origin {
            "pk" => IndexOrigin::PrimaryKey,
            "u" => IndexOrigin::Unique,
            _ => IndexOrigin::Created,
        }
    }
}

/// An index as `pragma_index_list` / `pragma_index_xinfo` report it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Index {
    pub name: String,
    pub unique: bool,
    pub origin: IndexOrigin,
    pub partial: bool,
    /// Key columns: `None` name for an expression term.
    pub keys: Vec<(Option<String>, String)>,
    /// Whether each key column sorts descending (part of the stored b-tree's order).
    pub descending: Vec<bool>,
}

pub(crate) fn indexes(conn: &Connection, schema: &str, table: &str) -> Result<Vec<Index>> {
    let ctx = || format!("reading indexes of \"{table}\"");
    let list: Vec<(String, bool, String, bool)> = conn
        .prepare("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1, ?2) ORDER BY seq DESC")
        .and_then(|mut s| {
            s.query_map(params![table, schema], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect()
        })
        .map_err(Error::sqlite(ctx()))?;
    let mut out = Vec::with_capacity(list.len());
    for (name, unique, origin, partial) in list {
        let terms: Vec<((Option<String>, String), bool)> = conn
            .prepare(
                "SELECT name, coll, \"desc\" FROM pragma_index_xinfo(?1, ?2) WHERE key = 1 ORDER BY seqno",
            )
            .and_then(|mut s| {
                s.query_map(params![name, schema], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?
                    .collect()
            })
            .map_err(Error::sqlite(ctx()))?;
        let (keys, descending) = terms.into_iter().unzip();
        out.push(Index {
            name,
            unique,
            origin: IndexOrigin::parse(&origin),
            partial,
            keys,
            descending,
        });
    }
    Ok(out)
}

/// One foreign key of a table (all its columns), as `pragma_foreign_key_list` reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ForeignKey {
    pub id: i64,
    /// The table holding the REFERENCES clause.
    pub child: String,
    /// The referenced table, as written in the clause.
    pub parent: String,
    pub from: Vec<String>,
    /// Referenced columns; `None` means "the parent's primary key".
    pub to: Vec<Option<String>>,
    /// Its `ON DELETE` action as SQLite reports it (`NO ACTION`, `SET NULL`, `CASCADE`, ...).
    pub on_delete: String,
}

impl ForeignKey {
    /// The parent columns the clause names; `None` when it names none and so refers to the
    /// parent's primary key ([`primary_key`]).
    pub(crate) fn named_columns(&self) -> Option<Vec<String>> {
        if self.to.iter().all(Option::is_none) {
            None
        } else {
            Some(self.to.iter().flatten().cloned().collect())
        }
    }

    /// The parent columns it refers to, given the parent's columns.
    pub(crate) fn referenced(&self, parent_columns: &[Column]) -> Vec<String> {
        self.named_columns()
            .unwrap_or_else(|| primary_key(parent_columns))
    }
}

/// The names of a table's primary key columns, in key order.
pub(crate) fn primary_key(columns: &[Column]) -> Vec<String> {
    let mut key: Vec<&Column> = columns.iter().filter(|c| c.pk > 0).collect();
    key.sort_by_key(|c| c.pk);
    key.into_iter().map(|c| c.name.clone()).collect()
}

pub(crate) fn foreign_keys(
    conn: &Connection,
    schema: &str,
    table: &str,
) -> Result<Vec<ForeignKey>> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(i64, String, String, Option<String>, String)> = conn
        .prepare("SELECT id, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list(?1, ?2) ORDER BY id, seq")
        .and_then(|mut s| {
            s.query_map(params![table, schema], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect()
        })
        .map_err(Error::sqlite(format!("reading foreign keys of \"{table}\"")))?;
    let mut out: Vec<ForeignKey> = Vec::new();
    for (id, parent, from, to, on_delete) in rows {
        match out.last_mut() {
            Some(fk) if fk.id == id => {
                fk.from.push(from);
                fk.to.push(to);
            }
            _ => out.push(ForeignKey {
                id,
                child: table.to_owned(),
                parent,
                from: vec![from],
                to: vec![to],
                on_delete,
            }),
        }
    }
    Ok(out)
}

/// Every foreign key of every table in `schema`, in the order the tables were created.
pub(crate) fn all_foreign_keys(conn: &Connection, schema: &str) -> Result<Vec<ForeignKey>> {
    let tables: Vec<String> = conn
        .prepare(&format!(
            "SELECT name FROM {}.sqlite_schema WHERE type = 'table' ORDER BY rowid",
            ident(schema)
        ))
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(Error::sqlite("listing tables"))?;
    let mut out = Vec::new();
    for t in tables {
        // Virtual tables have no foreign keys, and some refuse the pragma.
        out.extend(foreign_keys(conn, schema, &t).unwrap_or_default());
    }
    Ok(out)
}

/// Every foreign key in `schema` whose parent is `table` (children, and the table itself
/// when it references itself).
pub(crate) fn referencing(conn: &Connection, schema: &str, table: &str) -> Result<Vec<ForeignKey>> {
    Ok(all_foreign_keys(conn, schema)?
        .into_iter()
        .filter(|fk| fk.parent.eq_ignore_ascii_case(table))
        .collect())
}

/// Explicit indexes and triggers on the table (DROP TABLE removes them), including TEMP
/// triggers that point at it from the temp schema. Automatic indexes are left out: the
/// target's own constraints recreate them.
pub(crate) fn dependents(conn: &Connection, table: &Table) -> Result<Vec<Dependent>> {
    dependents_of(conn, &table.schema, &table.name)
}

/// [`dependents`] of the table `name` in `schema`.
fn dependents_of(conn: &Connection, schema: &str, name: &str) -> Result<Vec<Dependent>> {
    let read = |in_schema: &str, kinds: &str| -> Result<Vec<(String, String, String)>> {
        let sql = format!(
            "SELECT type, name, sql FROM {}.sqlite_schema WHERE type IN ({kinds}) AND tbl_name = ?1 COLLATE NOCASE AND sql IS NOT NULL ORDER BY rowid",
            ident(in_schema)
        );
        conn.prepare(&sql)
            .and_then(|mut s| {
                s.query_map([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(Error::sqlite(format!(
                "listing indexes and triggers of \"{name}\""
            )))
    };
    let mut out = Vec::new();
    for (kind, dependent, sql) in read(schema, "'index','trigger'")? {
        if let Some(kind) = DependentKind::from_schema_type(&kind) {
            out.push(Dependent {
                kind,
                name: dependent,
                sql,
                temp: false,
            });
        }
    }
    if schema.eq_ignore_ascii_case("temp") {
        return Ok(out);
    }
    // TEMP triggers on this table: those whose ON clause names this schema, and those that
    // name none when this table is the one SQLite finds first (temp, main, then attached).
    let found_first =
        first_schema_with(conn, name)?.is_some_and(|first| first.eq_ignore_ascii_case(schema));
    for (_, dependent, sql) in read("temp", "'trigger'")? {
        let on_this_table = match sql::parse_trigger_head(&sql) {
            Ok(head) => match head.table_schema {
                Some(s) => s.eq_ignore_ascii_case(schema),
                None => found_first,
            },
            Err(_) => found_first,
        };
        if on_this_table {
            out.push(Dependent {
                kind: DependentKind::Trigger,
                name: dependent,
                sql,
                temp: true,
            });
        }
    }
    Ok(out)
}

/// The schema whose table `name` an unqualified name finds: `temp`, then `main`, then the
/// attached databases in the order they were attached.
pub(crate) fn first_schema_with(conn: &Connection, name: &str) -> Result<Option<String>> {
    conn.query_row(
        "SELECT d.name FROM pragma_database_list AS d
         WHERE EXISTS (SELECT 1 FROM pragma_table_list AS t
                       WHERE t.schema = d.name AND t.name = ?1 COLLATE NOCASE)
         ORDER BY CASE d.name WHEN 'temp' THEN 0 WHEN 'main' THEN 1 ELSE 2 END, d.seq LIMIT 1",
        [name],
        |r| r.get(0),
    )
    .optional()
    .map_err(Error::sqlite("finding which schema holds a table"))
}

/// The table in which online rebuilds record where they are, one row per table.
pub(crate) const ONLINE_STATE: &str = "sqlite-rebuild online";

/// The phase of an online rebuild of `table` recorded in `schema` (running, or killed and
/// not yet cleaned up), if there is one.
pub(crate) fn online_phase(conn: &Connection, schema: &str, table: &str) -> Result<Option<String>> {
    if !has_table(conn, schema, ONLINE_STATE)? {
        return Ok(None);
    }
    conn.query_row(
        &format!(
            "SELECT phase FROM {} WHERE tbl = ?1 COLLATE NOCASE",
            qualified(schema, ONLINE_STATE)
        ),
        [table],
        |r| r.get(0),
    )
    .optional()
    .map_err(Error::sqlite("reading the online rebuilds' state"))
}

/// Whether `schema` holds a table named `name` (compared as SQLite compares names).
pub(crate) fn has_table(conn: &Connection, schema: &str, name: &str) -> Result<bool> {
    conn.query_row(
        &format!(
            "SELECT count(*) FROM {}.sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
            ident(schema)
        ),
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .map_err(Error::sqlite(format!("looking for the table {}", ident(name))))
}

/// The triggers on the table `name` in `schema` (TEMP ones included), as they are now.
pub(crate) fn triggers(conn: &Connection, schema: &str, name: &str) -> Result<Vec<Dependent>> {
    Ok(dependents_of(conn, schema, name)?
        .into_iter()
        .filter(|d| d.kind == DependentKind::Trigger)
        .collect())
}

/// The AUTOINCREMENT high-water mark of a table, if `sqlite_sequence` has one.
pub(crate) fn sequence(conn: &Connection, schema: &str, table: &str) -> Result<Option<i64>> {
    let has_seq: bool = conn
        .query_row(
            &format!(
                "SELECT count(*) FROM {}.sqlite_schema WHERE name = 'sqlite_sequence'",
                ident(schema)
            ),
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
        .map_err(Error::sqlite("reading sqlite_sequence"))?;
    if !has_seq {
        return Ok(None);
    }
    conn.query_row(
        &format!(
            "SELECT seq FROM {}.sqlite_sequence WHERE name = ?1",
            ident(schema)
        ),
        [table],
        |r| r.get(0),
    )
    .optional()
    .map_err(Error::sqlite("reading sqlite_sequence"))
}

/// A name for a scratch table in `schema` that collides with nothing (SQLite compares
/// names case-insensitively and reserves `sqlite_`).
pub(crate) fn free_name(conn: &Connection, schema: &str, base: &str) -> Result<String> {
    let sql = format!(
        "SELECT count(*) FROM {}.sqlite_schema WHERE name = ?1 COLLATE NOCASE",
        ident(schema)
    );
    for n in 0..10_000u32 {
        let candidate = if n == 0 {
            base.to_owned()
        } else {
            format!("{base}_{n}")
        };
        let taken: i64 = conn
            .query_row(&sql, [&candidate], |r| r.get(0))
            .map_err(Error::sqlite("choosing a scratch table name"))?;
        if taken == 0 {
            return Ok(candidate);
        }
    }
    Err(Error::NoFreeName {
        schema: schema.to_owned(),
        base: base.to_owned(),
    })
}

/// The name as stored and the statement that drops it, if `name` is an index of `table`,
/// or a view or trigger in the table's schema or in `temp`.
pub(crate) fn droppable(
    conn: &Connection,
    table: &Table,
    name: &str,
) -> Result<Option<(String, String)>> {
    for schema in [table.schema.as_str(), "temp"] {
        let found: Option<(String, String, String)> = conn
            .query_row(
                &format!(
                    "SELECT type, name, tbl_name FROM {}.sqlite_schema WHERE name = ?1 COLLATE NOCASE AND type IN ('index', 'trigger', 'view')",
                    ident(schema)
                ),
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(Error::sqlite(format!("looking up \"{name}\"")))?;
        let Some((kind, stored, on)) = found else {
            continue;
        };
        let Some(kind) = DependentKind::from_schema_type(&kind) else {
            continue;
        };
        if kind == DependentKind::Index && !on.eq_ignore_ascii_case(&table.name) {
            return Ok(None);
        }
        let drop = format!(
            "DROP {} {}",
            kind.as_str().to_ascii_uppercase(),
            qualified(schema, &stored)
        );
        return Ok(Some((stored, drop)));
    }
    // A full-text index over the table's rows (DROP TABLE drops its shadow tables too).
    Ok(full_text_indexes(conn, &table.schema)?
        .into_iter()
        .find(|ix| {
            ix.name.eq_ignore_ascii_case(name) && ix.content.eq_ignore_ascii_case(&table.name)
        })
        .map(|ix| {
            let drop = format!("DROP TABLE {}", qualified(&table.schema, &ix.name));
            (ix.name, drop)
        }))
}

/// A query whose one value describes `table` of `schema` as a rebuild depends on it: the
/// statements of the table and of every table that references it, directly or through
/// others (the family a script may copy), their indexes, every view and trigger of the
/// schema, and TEMP views and triggers (but the script's own guards; Cloudflare D1's `_cf_`
/// tables, whose pragmas it refuses, are no family). A script renders it once and runs it
/// again first: any difference is drift.
pub(crate) fn fingerprint_sql(schema: &str, table: &str) -> String {
    let s = ident(schema);
    let t = sql::literal(&rusqlite::types::Value::Text(table.to_owned()));
    let schema_literal = sql::literal(&rusqlite::types::Value::Text(schema.to_owned()));
    format!(
        "WITH RECURSIVE related(name) AS (SELECT {t} UNION \
SELECT m.name FROM related AS r, {s}.sqlite_schema AS m, pragma_foreign_key_list(m.name, {schema_literal}) AS f \
WHERE m.type = 'table' AND m.sql NOT LIKE 'CREATE VIRTUAL%' AND m.name NOT LIKE '\\_cf\\_%' ESCAPE '\\' \
AND f.\"table\" = r.name COLLATE NOCASE) \
SELECT group_concat(kind || ' ' || name || ' ' || coalesce(sql, ''), char(10)) FROM (\
SELECT type AS kind, name, sql FROM {s}.sqlite_schema \
WHERE (tbl_name COLLATE NOCASE IN (SELECT name FROM related) OR type IN ('view', 'trigger')) \
AND name NOT LIKE 'sqlite-rebuild %' \
UNION ALL SELECT 'temp ' || type, name, sql FROM temp.sqlite_schema \
WHERE type IN ('view', 'trigger') AND name NOT LIKE 'sqlite-rebuild %' \
ORDER BY 1, 2)"
    )
}

/// What [`fingerprint_sql`] finds for `table` of `schema` now.
pub(crate) fn fingerprint(conn: &Connection, schema: &str, table: &str) -> Result<String> {
    conn.query_row(&fingerprint_sql(schema, table), [], |r| {
        r.get::<_, Option<String>>(0)
    })
    .map(Option::unwrap_or_default)
    .map_err(Error::sqlite("reading what the table depends on"))
}

/// The ANALYZE statistics tables (`sqlite_stat1`, `sqlite_stat4`) that `schema` holds.
pub(crate) fn statistics_tables(conn: &Connection, schema: &str) -> Result<Vec<String>> {
    conn.prepare(&format!(
        "SELECT name FROM {}.sqlite_schema WHERE type = 'table' AND name IN ('sqlite_stat1', 'sqlite_stat4') ORDER BY name",
        ident(schema)
    ))
    .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
    .map_err(Error::sqlite("listing statistics tables"))
}

/// An FTS4/FTS5 table whose index describes the rows of an ordinary table by rowid
/// (`content='table'`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FullTextIndex {
    pub name: String,
    /// Its external content table.
    pub content: String,
    /// The content table's columns it reads: its own columns, by name, and the
    /// `content_rowid` option (FTS5; `None`: the rowid).
    pub columns: Vec<String>,
    pub content_rowid: Option<String>,
}

/// Every FTS4/FTS5 table in `schema` with external content.
pub(crate) fn full_text_indexes(conn: &Connection, schema: &str) -> Result<Vec<FullTextIndex>> {
    let virtual_tables: Vec<(String, String)> = conn
        .prepare(&format!(
            "SELECT name, sql FROM {}.sqlite_schema WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'",
            ident(schema)
        ))
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(Error::sqlite("listing virtual tables"))?;
    Ok(virtual_tables
        .into_iter()
        .filter_map(|(name, sql)| {
            let (module, args) = sql::virtual_table_args(&sql)?;
            if !["fts4", "fts5"]
                .iter()
                .any(|m| module.eq_ignore_ascii_case(m))
            {
                return None;
            }
            let option = |wanted: &str| {
                args.iter().find_map(|arg| {
                    let (key, value) = arg.split_once('=')?;
                    key.trim()
                        .eq_ignore_ascii_case(wanted)
                        .then(|| sql::literal_or_name(value))
                })
            };
            let content = option("content")?;
            // Every argument but the `key=value` options is a column, named first.
            let columns = args
                .iter()
                .filter(|arg| !arg.contains('='))
                .filter_map(|arg| sql::first_name(arg))
                .collect();
            (!content.is_empty()).then(|| FullTextIndex {
                name,
                content,
                columns,
                content_rowid: option("content_rowid").filter(|c| !c.is_empty()),
            })
        })
        .collect())
}

/// The FTS4/FTS5 tables in `schema` whose external content is `table`.
pub(crate) fn external_content_indexes(
    conn: &Connection,
    schema: &str,
    table: &str,
) -> Result<Vec<String>> {
    Ok(full_text_indexes(conn, schema)?
        .into_iter()
        .filter(|ix| ix.content.eq_ignore_ascii_case(table))
        .map(|ix| ix.name)
        .collect())
}

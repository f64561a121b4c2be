//! Introspection: after the one [`preflight`], everything the later layers need is read
//! from SQLite once, and each statement is parsed once, into [`Facts`]. The target is
//! judged by SQLite itself: it is created under a scratch name, and the columns it
//! renames are renamed, inside a savepoint that is always rolled back, so the catalog is
//! read as it will be after the rebuild.

mod edit;
mod preflight;
mod quotes;
mod restore;
mod target;

pub(crate) use edit::described_by_operations;
pub(crate) use preflight::{preflight, preflight_online, Preflight, Verb};
pub(crate) use quotes::check_quoted_names;
pub(crate) use restore::Restore;

use crate::builder::{Dependent, TableRebuild};
use crate::db::catalog::{self, all_foreign_keys};
use crate::db::guards::Savepoint;
use crate::db::replica::Replica;
use crate::db::{connection, ForeignKey, FullTextIndex, Index, IndexOrigin, Table};
use crate::error::{sqlite_message, DependentKind, Error, Result};
use crate::sql::{self, ident, CreateIndex, CreateTable};
use rusqlite::Connection;

/// What introspection learned about a rebuild, before anything is written.
#[derive(Debug)]
pub(crate) struct Facts {
    /// The table as it is.
    pub source: Table,
    /// Its `CREATE TABLE`, parsed; `None` when the crate's parser cannot read it (SQLite
    /// could: only the checks that compare definitions are then skipped).
    pub source_def: Option<CreateTable>,
    /// Its INTEGER PRIMARY KEY is AUTOINCREMENT.
    pub source_autoincrement: bool,
    pub target: Target,
    /// The scratch table's name (free in the table's schema).
    pub scratch: String,
    /// A free name for the rename that checks that the schema still compiles.
    pub probe_name: String,
    /// The TEMP table's name in `create_probe` (free in `temp`).
    pub probe_target: String,
    /// A TEMP table of the table's name hides it from unqualified names: SQLite's rename
    /// check then resolves main's triggers against the TEMP table and fails.
    pub temp_shadow: bool,
    /// Columns the target renames: (old name, new name).
    pub renames: Vec<(String, String)>,
    /// Indexes and triggers to recreate after the swap, as they read after the renames.
    pub dependents: Vec<DependentFacts>,
    /// Dependents dropped on request.
    pub dropped: Vec<Dropped>,
    /// A snapshot's dependents differ from the table's own (by name or statement), or
    /// `create_index` adds some.
    pub dependents_replaced: bool,
    /// The old table to keep as a backup (`keep_old_as`).
    pub kept_old: Option<edit::KeptOld>,
    /// Every foreign key of the schema, as after the renames (the scratch table's aside).
    pub keys: Vec<ForeignKey>,
    /// Foreign keys of other tables that reference the rebuilt table.
    pub children: Vec<ForeignKey>,
    /// The tables below the rebuilt one (children, their children, ...), each after the
    /// tables it was found through.
    pub descendants: Vec<Descendant>,
    /// Views and triggers on other tables that name the rebuilt table or a descendant (or
    /// such a view), in schema order: SQLite's rename check fails on them while a table
    /// they name is missing, so a script that copies the descendants drops and recreates
    /// them. For `plan` only (empty otherwise).
    pub mentioning: Vec<Dependent>,
    /// For each foreign key of the target, what its parent is.
    pub target_parents: Vec<ParentKey>,
    /// The ANALYZE statistics to carry over, when the schema has any.
    pub statistics: Option<Statistics>,
    /// The schema's full-text indexes with external content (the rebuilt table's, or a
    /// child's, go stale when a rebuild rewrites the values they index).
    pub full_text: Vec<FullTextIndex>,
    /// The AUTOINCREMENT counter to restore.
    pub sequence: Option<i64>,
    /// The quarantine table being restored, with its children's.
    pub restore: Option<Restore>,
    /// `SQLITE_DBCONFIG_DEFENSIVE` forbids writing the schema (so no in-place switch).
    pub defensive: bool,
    /// For `plan`, what [`catalog::fingerprint_sql`] found: the script's first guard
    /// refuses a database that has drifted from it.
    pub fingerprint: Option<String>,
}

/// The target table, as the caller wrote it and as SQLite describes it.
#[derive(Debug)]
pub(crate) struct Target {
    /// The target `CREATE TABLE`: `create_sql`, or what the operations describe.
    pub sql: String,
    /// It was described by operations, not given whole.
    pub by_operations: bool,
    pub def: CreateTable,
    /// SQLite's description of it, created under the scratch name.
    pub table: Table,
    pub foreign_keys: Vec<ForeignKey>,
    /// Its INTEGER PRIMARY KEY is AUTOINCREMENT.
    pub autoincrement: bool,
    /// The caller's text after the table's name, `(columns ...) options`, as a table of
    /// another name can hold it (see `self_qualified`).
    pub body: String,
    /// `CREATE TABLE "schema"."scratch" ...`: the caller's text under the scratch name.
    pub create_scratch: String,
    /// `CREATE TABLE "temp"."probe" ...`: the same as a TEMP table, which introspection
    /// probed and a dry run fills.
    pub create_probe: String,
    /// The caller's text names the table in its own expressions (`CHECK (t.v > 0)`): the
    /// scratch table holds it without those qualifiers, and the copy switches the stored
    /// text back to the caller's after the rename.
    pub self_qualified: bool,
    /// `CREATE TABLE "name" ...`: the caller's text as SQLite stores it after a rename.
    pub stored_sql: String,
}

/// An index or trigger to recreate.
#[derive(Debug, Clone)]
pub(crate) struct DependentFacts {
    pub def: Dependent,
    /// Its statement, parsed, for an index.
    pub index: Option<CreateIndex>,
    /// The statement that recreates it where it was.
    pub recreate: String,
    /// An index whose double-quoted text names columns only: recreated with SQLite's
    /// double-quoted string fallback off.
    pub quotes_are_names: bool,
    /// Why a double-quoted name of the index would become a string with the target.
    pub names_become_strings: Option<String>,
}

impl DependentFacts {
    pub(crate) fn new(def: Dependent, schema: &str) -> Self {
        let index = (def.kind == DependentKind::Index)
            .then(|| sql::parse_create_index(&def.sql).ok())
            .flatten();
        let recreate = def.recreate_sql(schema, index.as_ref());
        DependentFacts {
            def,
            index,
            recreate,
            quotes_are_names: false,
            names_become_strings: None,
        }
    }

    /// A `CREATE UNIQUE INDEX`.
    pub(crate) fn is_unique_index(&self) -> bool {
        self.index.as_ref().is_some_and(|ix| ix.unique)
    }

    /// The index's statement as `name` (qualified, which says the schema) on `table`.
    pub(crate) fn index_as(&self, name: &str, table: &str) -> Option<String> {
        let index = self.index.as_ref()?;
        // The table's span comes after the name's: replaced first.
        Some(sql::replace_span(
            &sql::replace_span(&self.def.sql, index.table_span, &ident(table)),
            index.name_span,
            name,
        ))
    }
}

/// A dependent the caller allowed to go, with the statement that drops it (none for a
/// snapshot's dependent that the database does not hold).
#[derive(Debug, Clone)]
pub(crate) struct Dropped {
    pub name: String,
    pub drop_sql: Option<String>,
}

/// A table below the rebuilt one, described once.
#[derive(Debug)]
pub(crate) struct Descendant {
    pub table: Table,
    /// Its triggers, as after the renames.
    pub triggers: Vec<Dependent>,
    /// Its explicit indexes, as after the renames.
    pub indexes: Vec<Dependent>,
    /// A free name for its copy in a script that copies the tables below the rebuilt one
    /// (for `plan` only, as `sequence`).
    pub scratch: String,
    /// Its AUTOINCREMENT counter, which dropping the table would lose.
    pub sequence: Option<i64>,
}

/// The parent of one of the target's foreign keys.
#[derive(Debug)]
pub(crate) struct ParentKey {
    pub fk: ForeignKey,
    /// It references the rebuilt table itself.
    pub self_reference: bool,
    /// The parent table and its definition, parsed, when it is another table.
    pub table: Option<(Table, Option<CreateTable>)>,
    /// The columns it references (named, or the parent's primary key).
    pub columns: Vec<String>,
    pub parent_exists: bool,
}

/// ANALYZE statistics that stay valid across the rebuild.
#[derive(Debug)]
pub(crate) struct Statistics {
    /// `sqlite_stat1` and `sqlite_stat4`, where the schema has them.
    pub tables: Vec<String>,
    /// Indexes whose statistics stay valid; `None` is the table's own row.
    pub indexes: Vec<Option<String>>,
}

impl Facts {
    /// The distinct child tables, sorted.
    pub(crate) fn child_tables(&self) -> Vec<&str> {
        let mut children: Vec<&str> = self.children.iter().map(|fk| fk.child.as_str()).collect();
        children.sort_by_key(|c| c.to_ascii_lowercase());
        children.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        children
    }

    /// A table below the rebuilt one, by name.
    pub(crate) fn descendant(&self, name: &str) -> Option<&Descendant> {
        self.descendants
            .iter()
            .find(|d| d.table.name.eq_ignore_ascii_case(name))
    }

    /// Foreign keys whose parent is `table`.
    pub(crate) fn referencing<'a>(
        &'a self,
        table: &'a str,
    ) -> impl Iterator<Item = &'a ForeignKey> + 'a {
        self.keys
            .iter()
            .filter(move |fk| fk.parent.eq_ignore_ascii_case(table))
    }
}

/// Reads what the rebuild described by `rb` needs to know, changing nothing.
pub(crate) fn introspect(conn: &Connection, rb: &TableRebuild, pre: &Preflight) -> Result<Facts> {
    let source = catalog::resolve_table(conn, &pre.schema, &rb.table)?;
    // Only a plan renders a script; read before the probe changes anything.
    let fingerprint = match pre.verb {
        Verb::Plan => Some(catalog::fingerprint(conn, &source.schema, &source.name)?),
        _ => None,
    };
    let source_def = sql::parse_create_table(&source.sql).ok();
    // The operations describe the target on the table's own text; else create_sql gives it.
    let edited = edit::apply(conn, rb, &source)?;
    let (target_sql, explicit_renames) = match edited {
        Some(e) => (e.create_sql, e.renames),
        None => (rb.create_sql.clone().unwrap_or_default(), Vec::new()),
    };
    let create_sql = target_sql.as_str();
    let target_def = target::parse(&source, create_sql)?;
    let scratch = catalog::free_name(conn, &source.schema, &format!("{}__rebuild", source.name))?;
    let probe_name = catalog::free_name(conn, &source.schema, &format!("{}__probe", source.name))?;
    let (create_scratch, stored_sql, self_qualified) =
        target::statements(&source, &source.schema, &scratch, create_sql, &target_def);
    // The target is probed as a TEMP table: the dry runs write nothing else.
    let probe_target = catalog::free_name(conn, "temp", &format!("{}__rebuild", source.name))?;
    let (create_probe, _, _) =
        target::statements(&source, "temp", &probe_target, create_sql, &target_def);

    // Probe the target: SQLite parses it and tells us its columns, keys and indexes; the
    // renames show what depends on the table as it will be.
    let probe = Savepoint::begin(conn, "sqlite_rebuild_probe")?;
    target::create(
        conn,
        &source,
        source_def.as_ref(),
        &create_probe,
        &probe_name,
    )?;
    // Stored as the caller wrote it only where SQLite takes that text under its own name.
    let self_qualified =
        self_qualified && target::check_own_name(conn, &source, create_sql, &target_def)?;
    let target_table = catalog::resolve_table(conn, "temp", &probe_target)?;
    let target_fks = catalog::foreign_keys(conn, "temp", &probe_target)?;
    target::compile_expressions(conn, rb, &source)?;
    let mut renames = explicit_renames;
    for inferred in renamed_columns(rb, &source, &target_table) {
        if !renames
            .iter()
            .any(|(o, _)| o.eq_ignore_ascii_case(&inferred.0))
        {
            renames.push(inferred);
        }
    }
    // The catalog as it reads after the renames: renamed in the probe by a verb that
    // writes anyway, else in a schema-only replica.
    let replica = match (renames.is_empty(), pre.verb) {
        (true, _) | (false, Verb::Execute | Verb::ExecuteIn) => None,
        (false, Verb::Validate | Verb::Plan) => Some(Replica::of(conn)?),
    };
    let renamed = replica.as_ref().map_or(conn, |r| &r.conn);
    for (old, new) in rename_sequence(&source, &renames) {
        renamed
            .execute_batch(&rename_column_sql(&source, &old, &new))
            .map_err(|e| Error::dependent_broken(&source.name, sqlite_message(&e)))?;
    }
    let mut dependents = catalog::dependents(renamed, &source)?;
    edit::check_dropped_indexes(rb, &source, &dependents)?;
    let created = edit::created_indexes(rb, &source, &dependents)?;
    let mut dependents_replaced = false;
    for wanted in &rb.snapshot_dependents {
        match dependents
            .iter_mut()
            .find(|d| d.name.eq_ignore_ascii_case(&wanted.name))
        {
            Some(d) => {
                dependents_replaced |= *d != *wanted;
                *d = wanted.clone();
            }
            None => {
                dependents_replaced = true;
                dependents.push(wanted.clone());
            }
        }
    }
    let dropped = requested_drops(renamed, rb, &source, &mut dependents)?;
    dependents_replaced |= !created.is_empty();
    dependents.extend(created);
    let keys: Vec<ForeignKey> = all_foreign_keys(renamed, &source.schema)?
        .into_iter()
        .filter(|fk| {
            !fk.child.eq_ignore_ascii_case(&scratch)
                && !fk.child.eq_ignore_ascii_case(&probe_target)
        })
        .collect();
    let children: Vec<ForeignKey> = keys
        .iter()
        .filter(|fk| fk.parent.eq_ignore_ascii_case(&source.name))
        .filter(|fk| !fk.child.eq_ignore_ascii_case(&source.name))
        .cloned()
        .collect();
    // What only a script that copies the family reads: for `plan`, whose plan renders it.
    let rendering = matches!(pre.verb, Verb::Plan);
    let mut descendants = descendants(renamed, &source, &keys, rendering)?;
    let mut mentioning = Vec::new();
    if rendering {
        for d in &mut descendants {
            d.sequence = catalog::sequence(conn, &d.table.schema, &d.table.name)?;
        }
        mentioning = self::mentioning(renamed, &source, &descendants)?;
    }
    let target_parents = target_parents(conn, &source, &target_table, &target_fks)?;
    let mut dependents: Vec<DependentFacts> = dependents
        .into_iter()
        .map(|d| DependentFacts::new(d, &source.schema))
        .collect();
    quotes::check_indexes(
        (renamed, &probe_name),
        (conn, &probe_target),
        &source,
        &mut dependents,
    )?;
    drop(probe);

    let statistics = kept_statistics(
        conn,
        &source,
        &probe_target,
        &target_table,
        &renames,
        &dependents,
    )?;
    let target_autoincrement = target_table.ipk.is_some() && target_def.autoincrement;
    let sequence = if target_autoincrement {
        catalog::sequence(conn, &source.schema, &source.name)?
    } else {
        None
    };
    let restore = match &rb.restore_from {
        Some(name) => Some(restore::find(
            conn,
            &source,
            &children,
            &keys,
            &descendants,
            name,
        )?),
        None => None,
    };
    let body = create_sql
        .get(target_def.name_span.1..target_def.end)
        .unwrap_or_default();
    let body = sql::without_self_qualifiers(body, &source.name, &source.schema, false)
        .unwrap_or_else(|| body.to_owned());
    let source_autoincrement = source.ipk.is_some()
        && match &source_def {
            Some(def) => def.autoincrement,
            None => sql::mentions_identifier(&source.sql, "AUTOINCREMENT"),
        };
    let kept_old = edit::kept_old(conn, rb, &source, source_def.as_ref())?;
    let temp_shadow = !source.schema.eq_ignore_ascii_case("temp")
        && catalog::free_name(conn, "temp", &source.name)? != source.name;
    Ok(Facts {
        fingerprint,
        full_text: catalog::full_text_indexes(conn, &source.schema)?,
        defensive: connection::defensive(conn)?,
        source_autoincrement,
        source,
        source_def,
        target: Target {
            by_operations: edit::described_by_operations(rb),
            sql: target_sql.clone(),
            def: target_def,
            table: target_table,
            foreign_keys: target_fks,
            autoincrement: target_autoincrement,
            body,
            create_scratch,
            create_probe,
            self_qualified,
            stored_sql,
        },
        scratch,
        probe_name,
        temp_shadow,
        probe_target,
        renames,
        dependents,
        dropped,
        dependents_replaced,
        kept_old,
        keys,
        children,
        descendants,
        mentioning,
        target_parents,
        statistics,
        sequence,
        restore,
    })
}

/// `ALTER TABLE ... RENAME COLUMN`, which rewrites what names the column.
pub(crate) fn rename_column_sql(table: &Table, old: &str, new: &str) -> String {
    format!(
        "ALTER TABLE {} RENAME COLUMN {} TO {}",
        table.qualified(),
        ident(old),
        ident(new)
    )
}

/// The renames as statements can run them, one column at a time: when a new name is an
/// old column's (a swap, a cycle), every renamed column first moves to a name of its own.
pub(crate) fn rename_sequence(
    source: &Table,
    renames: &[(String, String)],
) -> Vec<(String, String)> {
    let collides = renames.iter().any(|(_, new)| source.column(new).is_some());
    if !collides {
        return renames.to_vec();
    }
    let mut parked = Vec::new();
    let mut n = 0;
    for _ in renames {
        loop {
            n += 1;
            let name = format!("sqlite_rebuild_renaming_{n}");
            if source.column(&name).is_none()
                && renames
                    .iter()
                    .all(|(_, new)| !new.eq_ignore_ascii_case(&name))
            {
                parked.push(name);
                break;
            }
        }
    }
    let away = renames
        .iter()
        .zip(&parked)
        .map(|((old, _), p)| (old.clone(), p.clone()));
    let back = renames
        .iter()
        .zip(&parked)
        .map(|((_, new), p)| (p.clone(), new.clone()));
    away.chain(back).collect()
}

/// The columns the target renames: `.column("new", "old")` whose expression is only the
/// name of an old column that the target lacks, for a new column the old table lacks.
fn renamed_columns(rb: &TableRebuild, source: &Table, target: &Table) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (new, expr) in &rb.columns {
        // The last rule for a column is the one that counts.
        let last = rb
            .columns
            .iter()
            .rev()
            .find(|(c, _)| c.eq_ignore_ascii_case(new));
        if last.map(|(_, e)| e) != Some(expr) {
            continue;
        }
        let Some(named) = sql::column_name(expr) else {
            continue;
        };
        let (Some(old), Some(new)) = (source.column(&named), target.column(new)) else {
            continue;
        };
        if old.is_generated()
            || new.is_generated()
            || source.column(&new.name).is_some()
            || target.column(&old.name).is_some()
            || out.iter().any(|(o, _)| o.eq_ignore_ascii_case(&old.name))
        {
            continue;
        }
        out.push((old.name.clone(), new.name.clone()));
    }
    out
}

/// Resolves the names given to `drop_dependent`: each leaves `dependents` (it is not
/// recreated) and gets its DROP statement (none for a snapshot's dependent that the
/// database does not hold).
fn requested_drops(
    conn: &Connection,
    rb: &TableRebuild,
    source: &Table,
    dependents: &mut Vec<Dependent>,
) -> Result<Vec<Dropped>> {
    let mut out: Vec<Dropped> = Vec::new();
    for wanted in rb.drop_dependents.iter().chain(&rb.drop_indexes) {
        let found = catalog::droppable(conn, source, wanted)?;
        let planned = dependents
            .iter()
            .position(|d| d.name.eq_ignore_ascii_case(wanted))
            .map(|i| dependents.remove(i));
        let dropped = match (found, planned) {
            (Some((name, sql)), _) => Dropped {
                name,
                drop_sql: Some(sql),
            },
            (None, Some(d)) => Dropped {
                name: d.name,
                drop_sql: None,
            },
            (None, None) => {
                return Err(Error::UnknownDependent {
                    table: source.name.clone(),
                    name: wanted.clone(),
                })
            }
        };
        if !out
            .iter()
            .any(|d| d.name.eq_ignore_ascii_case(&dropped.name))
        {
            out.push(dropped);
        }
    }
    Ok(out)
}

/// The tables reachable from the rebuilt one by following references downwards.
/// `scratch`: choose each one's free scratch name (only a script copies them).
fn descendants(
    conn: &Connection,
    source: &Table,
    keys: &[ForeignKey],
    scratch: bool,
) -> Result<Vec<Descendant>> {
    let mut seen = vec![source.name.to_ascii_lowercase()];
    let mut queue = vec![source.name.clone()];
    let mut out = Vec::new();
    while let Some(parent) = queue.pop() {
        for fk in keys
            .iter()
            .filter(|fk| fk.parent.eq_ignore_ascii_case(&parent))
        {
            let lower = fk.child.to_ascii_lowercase();
            if seen.contains(&lower) {
                continue;
            }
            seen.push(lower);
            let table = catalog::resolve_table(conn, &source.schema, &fk.child)?;
            let (indexes, triggers) = catalog::dependents(conn, &table)?
                .into_iter()
                .partition(|d| d.kind == DependentKind::Index);
            let scratch = if scratch {
                catalog::free_name(conn, &table.schema, &format!("{}__rebuild", table.name))?
            } else {
                String::new()
            };
            queue.push(table.name.clone());
            out.push(Descendant {
                table,
                triggers,
                indexes,
                scratch,
                sequence: None,
            });
        }
    }
    Ok(out)
}

/// The views and triggers (of the table's schema and TEMP ones) that name the rebuilt
/// table, a descendant, or a view found so far; triggers on those tables are theirs.
fn mentioning(
    conn: &Connection,
    source: &Table,
    descendants: &[Descendant],
) -> Result<Vec<Dependent>> {
    let mut names: Vec<String> = std::iter::once(&source.name)
        .chain(descendants.iter().map(|d| &d.table.name))
        .map(|n| n.to_ascii_lowercase())
        .collect();
    let on_closure = names.clone();
    let mut entries = Vec::new();
    for (schema, temp) in [(source.schema.as_str(), false), ("temp", true)] {
        if temp && source.schema.eq_ignore_ascii_case("temp") {
            continue;
        }
        let sql = format!(
            "SELECT type, name, tbl_name, sql FROM {}.sqlite_schema WHERE type IN ('view', 'trigger') AND sql IS NOT NULL ORDER BY rowid",
            ident(schema)
        );
        let rows: Vec<(String, String, String, String)> = conn
            .prepare(&sql)
            .and_then(|mut st| {
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect()
            })
            .map_err(Error::sqlite(
                "listing the views and triggers of the schema",
            ))?;
        entries.extend(
            rows.into_iter()
                .map(|(kind, name, on, sql)| (kind, name, on, sql, temp)),
        );
    }
    let mut chosen = vec![false; entries.len()];
    // Views on views: repeat until nothing new is found.
    loop {
        let mut grew = false;
        for (i, (kind, name, on, sql, _)) in entries.iter().enumerate() {
            if chosen[i] || (kind == "trigger" && on_closure.contains(&on.to_ascii_lowercase())) {
                continue;
            }
            let hit = names.iter().any(|n| sql::mentions_identifier(sql, n))
                || (kind == "trigger" && names.contains(&on.to_ascii_lowercase()));
            if hit {
                chosen[i] = true;
                grew = true;
                if kind == "view" {
                    names.push(name.to_ascii_lowercase());
                }
            }
        }
        if !grew {
            break;
        }
    }
    Ok(entries
        .into_iter()
        .zip(chosen)
        .filter(|(_, c)| *c)
        .map(|((kind, name, _, sql, temp), _)| Dependent {
            kind: if kind == "view" {
                DependentKind::View
            } else {
                DependentKind::Trigger
            },
            name,
            sql,
            temp,
        })
        .collect())
}

/// What each foreign key of the target points at.
fn target_parents(
    conn: &Connection,
    source: &Table,
    target: &Table,
    fks: &[ForeignKey],
) -> Result<Vec<ParentKey>> {
    let mut out = Vec::new();
    for fk in fks {
        let self_reference = fk.parent.eq_ignore_ascii_case(&source.name);
        let parent_exists = self_reference
            || conn
                .query_row(
                    "SELECT count(*) FROM pragma_table_list WHERE schema = ?1 AND name = ?2 COLLATE NOCASE",
                    [&source.schema, &fk.parent],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(Error::sqlite("looking up a foreign key's parent table"))?
                > 0;
        let table = if parent_exists && !self_reference {
            let t = catalog::resolve_table(conn, &source.schema, &fk.parent)?;
            let def = sql::parse_create_table(&t.sql).ok();
            Some((t, def))
        } else {
            None
        };
        let columns = match fk.named_columns() {
            Some(named) => named,
            None if self_reference => catalog::primary_key(&target.columns),
            None => table
                .as_ref()
                .map(|(t, _)| catalog::primary_key(&t.columns))
                .unwrap_or_default(),
        };
        out.push(ParentKey {
            fk: fk.clone(),
            self_reference,
            table,
            columns,
            parent_exists,
        });
    }
    Ok(out)
}

/// Which ANALYZE statistics survive the rebuild: the table's own row and those of indexes
/// recreated as they were (explicit ones, and automatic ones with the same keys, compared
/// after the renames). `None` when the schema has no statistics tables.
fn kept_statistics(
    conn: &Connection,
    source: &Table,
    scratch: &str,
    target: &Table,
    renames: &[(String, String)],
    dependents: &[DependentFacts],
) -> Result<Option<Statistics>> {
    let tables = catalog::statistics_tables(conn, &source.schema)?;
    if tables.is_empty() {
        return Ok(None);
    }
    let mut kept: Vec<Option<String>> = vec![None];
    kept.extend(
        dependents
            .iter()
            .filter(|d| d.def.kind == DependentKind::Index && !d.def.temp)
            .map(|d| Some(d.def.name.clone())),
    );
    let renamed = |key: &Option<String>| -> Option<String> {
        key.as_ref().map(|k| {
            renames
                .iter()
                .find(|(old, _)| old.eq_ignore_ascii_case(k))
                .map_or_else(|| k.clone(), |(_, new)| new.clone())
        })
    };
    let old_prefix = format!("sqlite_autoindex_{}_", source.name);
    let new_prefix = format!("sqlite_autoindex_{scratch}_");
    for old in &source.indexes {
        let Some(n) = old.name.strip_prefix(&old_prefix) else {
            continue;
        };
        let old_keys: Vec<(Option<String>, String)> = old
            .keys
            .iter()
            .map(|(k, coll)| (renamed(k), coll.clone()))
            .collect();
        let same = target.indexes.iter().any(|new| {
            new.name.strip_prefix(&new_prefix) == Some(n)
                && (new.unique, new.origin, &new.keys, &new.descending)
                    == (old.unique, old.origin, &old_keys, &old.descending)
        });
        if same {
            kept.push(Some(old.name.clone()));
        }
    }
    Ok(Some(Statistics {
        tables,
        indexes: kept,
    }))
}

/// Every table declared a child must reference the table.
pub(crate) fn check_declared_children(rb: &TableRebuild, facts: &Facts) -> Result<()> {
    for declared in &rb.children {
        if !facts
            .children
            .iter()
            .any(|fk| fk.child.eq_ignore_ascii_case(declared))
        {
            return Err(Error::NotAChild {
                table: facts.source.name.clone(),
                child: declared.clone(),
            });
        }
    }
    Ok(())
}

/// Whether `table` has a PRIMARY KEY or UNIQUE index on exactly `cols`, as a foreign key
/// needs (else SQLite reports "foreign key mismatch" for the whole schema): not partial,
/// and comparing each column under that column's own declared collation. `extra` are
/// unique indexes the table will get (an explicit index recreated after the swap).
fn has_unique_key<'a>(
    table: &Table,
    def: Option<&CreateTable>,
    extra: impl IntoIterator<Item = &'a CreateIndex>,
    cols: &[String],
) -> bool {
    let default_collation = |column: &str| -> String {
        def.and_then(|d| d.column(column))
            .and_then(|c| c.collation.clone())
            .map(|c| sql::identifier_value(&c))
            .unwrap_or_else(|| "BINARY".to_owned())
    };
    let same_collated = |keys: &KeyTerms| {
        !cols.is_empty()
            && keys.len() == cols.len()
            && cols.iter().all(|c| {
                keys.iter().any(|(k, coll)| {
                    k.eq_ignore_ascii_case(c)
                        && coll
                            .as_ref()
                            .is_none_or(|coll| coll.eq_ignore_ascii_case(&default_collation(k)))
                })
            })
    };
    let pk = catalog::primary_key(&table.columns);
    let pk_keys: Vec<(String, Option<String>)> = pk.iter().map(|k| (k.clone(), None)).collect();
    // A rowid alias needs no index; other primary keys are checked through their
    // automatic index, collation included.
    (table.ipk.is_some() && same_collated(&pk_keys))
        || table.indexes.iter().any(|ix| covers(ix, &same_collated))
        || extra.into_iter().any(|ix| {
            ix.unique && ix.where_clause.is_none() && {
                let keys: Vec<(String, Option<String>)> = ix
                    .terms
                    .iter()
                    .map(|t| {
                        (
                            sql::identifier_value(t.expr.trim()),
                            t.collation.as_deref().map(sql::identifier_value),
                        )
                    })
                    .collect();
                same_collated(&keys)
            }
        })
}

/// Every child key must still find a PRIMARY KEY or UNIQUE index in the target: its own
/// constraints' automatic indexes, or an explicit unique index recreated after the swap.
pub(crate) fn check_child_keys(facts: &Facts) -> Result<()> {
    let target = &facts.target.table;
    let recreated = || facts.dependents.iter().filter_map(|d| d.index.as_ref());
    for fk in &facts.children {
        let cols = fk.referenced(&target.columns);
        if !has_unique_key(target, Some(&facts.target.def), recreated(), &cols) {
            return Err(Error::ChildKeyMissing {
                table: facts.source.name.clone(),
                child: fk.child.clone(),
                columns: if cols.is_empty() {
                    "its primary key".into()
                } else {
                    cols.join(", ")
                },
            });
        }
    }
    Ok(())
}

/// Every foreign key of the target must find a PRIMARY KEY or UNIQUE index in its parent
/// (the target itself, for a reference to its own table).
/// A full-text index whose external content is the table reads its columns by name (and
/// its rowid): each must still be there, or the index is refused by its name (it would fail
/// on its next read or rebuild). `drop_dependent` lets it go.
pub(crate) fn check_full_text(facts: &Facts) -> Result<()> {
    let (source, target) = (&facts.source, &facts.target.table);
    for ix in &facts.full_text {
        if !ix.content.eq_ignore_ascii_case(&source.name)
            || facts
                .dropped
                .iter()
                .any(|d| d.name.eq_ignore_ascii_case(&ix.name))
        {
            continue;
        }
        let rowid_reachable = |name: &str| {
            !target.without_rowid
                && ["rowid", "oid", "_rowid_"]
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(name))
        };
        let missing = ix
            .columns
            .iter()
            .find(|c| target.column(c).is_none())
            .map(|c| format!("it reads column \"{c}\", which the target does not have"))
            .or_else(|| match &ix.content_rowid {
                Some(c) if target.column(c).is_none() && !rowid_reachable(c) => Some(format!(
                    "its content_rowid \"{c}\" is not a column of the target"
                )),
                None if target.without_rowid => Some(
                    "it is keyed by the rowid, which the target (WITHOUT ROWID) has not".to_owned(),
                ),
                _ => None,
            });
        if let Some(reason) = missing {
            return Err(Error::DependentBroken {
                table: source.name.clone(),
                kind: DependentKind::FullText,
                name: ix.name.clone(),
                reason,
            });
        }
    }
    Ok(())
}

pub(crate) fn check_parent_keys(facts: &Facts) -> Result<()> {
    for parent in facts.target_parents.iter().filter(|p| p.parent_exists) {
        let found = match &parent.table {
            None => has_unique_key(
                &facts.target.table,
                Some(&facts.target.def),
                facts.dependents.iter().filter_map(|d| d.index.as_ref()),
                &parent.columns,
            ),
            Some((table, def)) => has_unique_key(table, def.as_ref(), [], &parent.columns),
        };
        if !found {
            return Err(Error::ParentKeyMissing {
                table: facts.source.name.clone(),
                parent: parent.fk.parent.clone(),
                columns: if parent.columns.is_empty() {
                    "its primary key".into()
                } else {
                    parent.columns.join(", ")
                },
            });
        }
    }
    Ok(())
}

/// An index's terms: (column, collation; `None` = the column's default).
type KeyTerms = [(String, Option<String>)];

/// Whether a unique, non-partial automatic index of the target has exactly the keys
/// `same_collated` accepts.
fn covers(ix: &Index, same_collated: &dyn Fn(&KeyTerms) -> bool) -> bool {
    ix.unique && !ix.partial && {
        let keys: Option<Vec<(String, Option<String>)>> = ix
            .keys
            .iter()
            .map(|(n, coll)| n.clone().map(|n| (n, Some(coll.clone()))))
            .collect();
        keys.is_some_and(|k| same_collated(&k))
    }
}

/// The automatic indexes of a table, without their names (which carry the table's).
pub(crate) fn automatic_indexes(table: &Table) -> Vec<Index> {
    table
        .indexes
        .iter()
        .filter(|i| i.origin != IndexOrigin::Created)
        .map(|i| Index {
            name: String::new(),
            ..i.clone()
        })
        .collect()
}

/// A column's declared collation as written, upper case; empty for the default.
pub(crate) fn declared_collation(def: Option<&CreateTable>, column: &str) -> Option<String> {
    def.and_then(|d| d.column(column))
        .map(|c| c.collation.clone().unwrap_or_default().to_ascii_uppercase())
}

//! The operations applied to the table's current definition: the target `CREATE TABLE`
//! text they describe, edited by token span wherever the caller's text does not change (as
//! SQLite's `alter.c` edits), with renames left to SQLite itself (`ALTER TABLE ... RENAME
//! COLUMN` on a replica of the table alone, which rewrites every CHECK, generated column and
//! key that names the column). The result is judged like any target: SQLite prepares it.

use crate::builder::{Dependent, Operation, TableRebuild};
use crate::db::replica::Replica;
use crate::db::Table;
use crate::error::{Error, Result};
use crate::sql::{self, ident, layout_create_table, Clause, ClauseKind, ElementKind, TableLayout};

/// What the operations describe.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Edited {
    /// The target `CREATE TABLE` statement.
    pub create_sql: String,
    /// The renames, (old name, new name), applied together.
    pub renames: Vec<(String, String)>,
}

/// The edit of one operation that cannot apply: the error names it as called.
fn refuse(table: &Table, operation: &str, reason: impl Into<String>) -> Error {
    Error::Operation {
        table: table.name.clone(),
        operation: operation.to_owned(),
        reason: reason.into(),
    }
}

/// How an operation reads in an error.
fn called(op: &Operation) -> String {
    let list = |v: &[String]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match op {
        Operation::AddColumn(d) => format!("add_column({d:?})"),
        Operation::RenameColumn { from, to } => format!("rename_column({from:?}, {to:?})"),
        Operation::AlterColumn { name, definition } => {
            format!("alter_column({name:?}, {definition:?})")
        }
        Operation::SetNotNull(n) => format!("set_not_null({n:?})"),
        Operation::DropNotNull(n) => format!("drop_not_null({n:?})"),
        Operation::AddCheck { name, expr } => format!("add_check({name:?}, {expr:?})"),
        Operation::AddUnique { name, columns } => {
            format!("add_unique({name:?}, [{}])", list(columns))
        }
        Operation::DropConstraint(n) => format!("drop_constraint({n:?})"),
        Operation::AddForeignKey(c) => format!("add_foreign_key({c:?})"),
        Operation::DropForeignKey(c) => format!("drop_foreign_key([{}])", list(c)),
        Operation::PrimaryKey(c) => format!("primary_key([{}])", list(c)),
        Operation::ColumnOrder(c) => format!("column_order([{}])", list(c)),
        Operation::Strict(b) => format!("strict({b})"),
        Operation::WithoutRowid(b) => format!("without_rowid({b})"),
    }
}

/// Whether the rebuild is described by operations rather than a whole `create_sql`.
pub(crate) fn described_by_operations(rb: &TableRebuild) -> bool {
    rb.create_sql.is_none()
        && (!rb.operations.is_empty()
            || !rb.drop_columns.is_empty()
            || !rb.create_indexes.is_empty()
            || !rb.drop_indexes.is_empty()
            || rb.keep_old_as.is_some())
}

/// The indexes `create_index` asks for, as dependents to build after the swap: each on
/// this table, under a name no other index takes (unless that one is dropped).
pub(crate) fn created_indexes(
    rb: &TableRebuild,
    source: &Table,
    existing: &[Dependent],
) -> Result<Vec<Dependent>> {
    let mut out: Vec<Dependent> = Vec::new();
    for sql_text in &rb.create_indexes {
        let operation = format!("create_index({sql_text:?})");
        let ix = sql::parse_create_index(sql_text).map_err(|e| refuse(source, &operation, e.0))?;
        if !ix.table.eq_ignore_ascii_case(&source.name) {
            return Err(refuse(
                source,
                &operation,
                format!("the index is on {:?}, not on this table", ix.table),
            ));
        }
        let named = &sql_text[ix.name_span.0..ix.name_span.1];
        let bare = sql::without_schema_prefix(named);
        if let Some(schema) = sql::schema_prefix(named) {
            if !schema.eq_ignore_ascii_case(&source.schema) {
                return Err(refuse(
                    source,
                    &operation,
                    format!(
                        "the index names schema {schema:?}, the table is in {:?}",
                        source.schema
                    ),
                ));
            }
        }
        let dropped = rb
            .drop_indexes
            .iter()
            .chain(&rb.drop_dependents)
            .any(|d| d.eq_ignore_ascii_case(&ix.name));
        let taken = existing
            .iter()
            .any(|d| d.name.eq_ignore_ascii_case(&ix.name))
            || out.iter().any(|d| d.name.eq_ignore_ascii_case(&ix.name));
        if taken && !dropped {
            return Err(refuse(
                source,
                &operation,
                format!(
                    "an index named {:?} exists; drop it first with drop_index",
                    ix.name
                ),
            ));
        }
        out.push(Dependent {
            kind: crate::error::DependentKind::Index,
            name: ix.name.clone(),
            sql: sql::replace_span(
                sql_text.trim_end_matches([';', ' ', '\n']),
                ix.name_span,
                bare,
            ),
            temp: false,
        });
    }
    Ok(out)
}

/// `drop_index`: each names an index of the table (not an automatic one).
pub(crate) fn check_dropped_indexes(
    rb: &TableRebuild,
    source: &Table,
    existing: &[Dependent],
) -> Result<()> {
    for name in &rb.drop_indexes {
        let is_index = existing.iter().any(|d| {
            d.kind == crate::error::DependentKind::Index && d.name.eq_ignore_ascii_case(name)
        });
        if !is_index {
            return Err(refuse(
                source,
                &format!("drop_index({name:?})"),
                "the table has no index of that name (automatic indexes go with their constraint: drop_constraint)",
            ));
        }
    }
    Ok(())
}

/// What `keep_old_as` keeps: the old table under its new name, and the statements that
/// create and fill it (every column SQLite stores, and the rowid where it has one).
pub(crate) fn kept_old(
    conn: &rusqlite::Connection,
    rb: &TableRebuild,
    source: &Table,
    source_def: Option<&sql::CreateTable>,
) -> Result<Option<KeptOld>> {
    let Some(name) = &rb.keep_old_as else {
        return Ok(None);
    };
    let operation = format!("keep_old_as({name:?})");
    if crate::db::catalog::free_name(conn, &source.schema, name)? != *name {
        return Err(refuse(
            source,
            &operation,
            format!("{name:?} is taken in schema {:?}", source.schema),
        ));
    }
    let Some(def) = source_def else {
        return Err(refuse(
            source,
            &operation,
            "the table's definition could not be read",
        ));
    };
    let create = sql::replace_span(
        &source.sql[..def.end],
        def.name_span,
        &sql::qualified(&source.schema, name),
    );
    let mut columns: Vec<String> = source
        .columns
        .iter()
        .filter(|c| !c.is_generated())
        .map(|c| ident(&c.name))
        .collect();
    if source.ipk.is_none() {
        if let Some(rowid) = source.rowid_name() {
            columns.insert(0, rowid.to_owned());
        }
    }
    let list = columns.join(", ");
    let fill = format!(
        "INSERT INTO {} ({list}) SELECT {list} FROM {}",
        sql::qualified(&source.schema, name),
        source.qualified()
    );
    Ok(Some(KeptOld {
        name: name.clone(),
        create,
        fill,
    }))
}

/// The old table kept as a backup.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeptOld {
    pub name: String,
    pub create: String,
    pub fill: String,
}

/// The target the operations describe, or `None` when `create_sql` gives it.
pub(crate) fn apply(
    conn: &rusqlite::Connection,
    rb: &TableRebuild,
    source: &Table,
) -> Result<Option<Edited>> {
    if rb.create_sql.is_some() {
        if let Some(op) = rb.operations.first() {
            return Err(refuse(
                source,
                &called(op),
                "create_sql() gives the whole target already; describe the change with operations or give the whole table, not both",
            ));
        }
        return Ok(None);
    }
    if !described_by_operations(rb) {
        return Ok(None);
    }
    if sql::virtual_table_module(&source.sql).is_some() {
        return Err(refuse(
            source,
            "operations",
            "a virtual table has no column definitions to edit",
        ));
    }
    contradictions(rb, source)?;
    let renames = renames(rb, source)?;
    let mut text = renamed(conn, source, &renames)?;
    let ops = |pick: fn(&Operation) -> bool| rb.operations.iter().filter(move |op| pick(op));
    // Fixed phases, so that the order of calls does not matter: what goes, then what
    // changes, then what comes, then the order and options.
    for op in ops(|op| {
        matches!(
            op,
            Operation::DropConstraint(_) | Operation::DropForeignKey(_) | Operation::PrimaryKey(_)
        )
    }) {
        text = drop_constraints(source, &text, op)?;
    }
    for name in &rb.drop_columns {
        let operation = format!("drop_column({name:?})");
        if renames
            .iter()
            .any(|(old, _)| old.eq_ignore_ascii_case(name))
        {
            return Err(refuse(
                source,
                &operation,
                "the column is also renamed; drop it or rename it",
            ));
        }
        text = drop_column(source, &text, name, &operation)?;
    }
    for op in ops(|op| matches!(op, Operation::AlterColumn { .. })) {
        let Operation::AlterColumn { name, definition } = op else {
            continue;
        };
        text = alter_column(source, &text, name, definition, &called(op))?;
    }
    for op in ops(|op| matches!(op, Operation::SetNotNull(_) | Operation::DropNotNull(_))) {
        text = not_null(source, &text, op)?;
    }
    // Columns before the constraints that may name them.
    for op in ops(|op| matches!(op, Operation::AddColumn(_))) {
        text = add(source, &text, op)?;
    }
    for op in ops(|op| {
        matches!(
            op,
            Operation::AddCheck { .. }
                | Operation::AddUnique { .. }
                | Operation::AddForeignKey(_)
                | Operation::PrimaryKey(_)
        )
    }) {
        text = add(source, &text, op)?;
    }
    for op in ops(|op| matches!(op, Operation::ColumnOrder(_))) {
        let Operation::ColumnOrder(order) = op else {
            continue;
        };
        text = column_order(source, &text, order, &called(op))?;
    }
    let mut strict = None;
    let mut without_rowid = None;
    for op in &rb.operations {
        match op {
            Operation::Strict(b) => strict = Some(*b),
            Operation::WithoutRowid(b) => without_rowid = Some(*b),
            _ => {}
        }
    }
    if strict.is_some() || without_rowid.is_some() {
        text = options(source, &text, strict, without_rowid)?;
    }
    log::debug!("the operations on {} describe: {text}", source.qualified());
    Ok(Some(Edited {
        create_sql: text,
        renames,
    }))
}

/// Operations that ask for opposite things, or twice for one thing, are refused by name.
fn contradictions(rb: &TableRebuild, source: &Table) -> Result<()> {
    let ops = &rb.operations;
    for (i, a) in ops.iter().enumerate() {
        for b in &ops[..i] {
            let clash = match (a, b) {
                (Operation::SetNotNull(x), Operation::DropNotNull(y))
                | (Operation::DropNotNull(x), Operation::SetNotNull(y)) => {
                    x.eq_ignore_ascii_case(y).then(|| "the opposite".to_owned())
                }
                (
                    Operation::AlterColumn { name: x, .. },
                    Operation::AlterColumn { name: y, .. },
                ) => x
                    .eq_ignore_ascii_case(y)
                    .then(|| "one column altered twice".to_owned()),
                (Operation::Strict(x), Operation::Strict(y))
                | (Operation::WithoutRowid(x), Operation::WithoutRowid(y)) => {
                    (x != y).then(|| "the opposite".to_owned())
                }
                (Operation::PrimaryKey(_), Operation::PrimaryKey(_)) => {
                    Some("a second primary key".to_owned())
                }
                (Operation::ColumnOrder(_), Operation::ColumnOrder(_)) => {
                    Some("a second column order".to_owned())
                }
                _ => None,
            };
            if let Some(why) = clash {
                return Err(refuse(
                    source,
                    &called(a),
                    format!("contradicts {} ({why})", called(b)),
                ));
            }
        }
    }
    Ok(())
}

fn layout(source: &Table, text: &str, operation: &str) -> Result<TableLayout> {
    layout_create_table(text).map_err(|e| refuse(source, operation, e.0))
}

/// The renames, checked: each names a current column once, and no two land on one name.
fn renames(rb: &TableRebuild, source: &Table) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for op in &rb.operations {
        let Operation::RenameColumn { from, to } = op else {
            continue;
        };
        let operation = called(op);
        let Some(column) = source.column(from) else {
            return Err(refuse(
                source,
                &operation,
                format!("the table has no column {from:?}"),
            ));
        };
        if out.iter().any(|(old, _)| old.eq_ignore_ascii_case(from)) {
            return Err(refuse(
                source,
                &operation,
                format!("{from:?} is already renamed"),
            ));
        }
        if to.is_empty() {
            return Err(refuse(source, &operation, "the new name is empty"));
        }
        out.push((column.name.clone(), to.clone()));
    }
    // The names after the renames must be distinct.
    for (old, new) in &out {
        let clash = source.columns.iter().any(|c| {
            c.name.eq_ignore_ascii_case(new)
                && !out.iter().any(|(o, _)| o.eq_ignore_ascii_case(&c.name))
        }) || out
            .iter()
            .filter(|(_, n)| n.eq_ignore_ascii_case(new))
            .count()
            > 1;
        if clash {
            return Err(refuse(
                source,
                &format!("rename_column({old:?}, {new:?})"),
                format!("the table would have two columns named {new:?}"),
            ));
        }
    }
    Ok(out.into_iter().filter(|(o, n)| o != n).collect())
}

/// The table's text after the renames, as SQLite writes it: each column renamed through a
/// name of its own first, so that swaps and cycles land where they should.
fn renamed(
    conn: &rusqlite::Connection,
    source: &Table,
    renames: &[(String, String)],
) -> Result<String> {
    if renames.is_empty() {
        return Ok(source.sql.clone());
    }
    let replica = Replica::of_table(conn, &source.sql)?;
    let table = ident(&source.name);
    let parking = |i: usize| format!("sqlite_rebuild_renaming_{i}");
    let mut batch = String::new();
    for (i, (old, _)) in renames.iter().enumerate() {
        batch += &format!(
            "ALTER TABLE {table} RENAME COLUMN {} TO {};\n",
            ident(old),
            ident(&parking(i))
        );
    }
    for (i, (_, new)) in renames.iter().enumerate() {
        batch += &format!(
            "ALTER TABLE {table} RENAME COLUMN {} TO {};\n",
            ident(&parking(i)),
            ident(new)
        );
    }
    replica.conn.execute_batch(&batch).map_err(|e| {
        refuse(
            source,
            "rename_column",
            format!(
                "SQLite cannot rename the columns: {}",
                crate::error::sqlite_message(&e)
            ),
        )
    })?;
    let sql: String = replica
        .conn
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [&source.name],
            |r| r.get(0),
        )
        .map_err(Error::sqlite("reading the renamed definition"))?;
    Ok(sql)
}

/// Removes the element at `index` (a column or table constraint) with its comma.
fn remove_element(text: &str, layout: &TableLayout, index: usize) -> String {
    sql::replace_span(text, layout.removal_span(text, index), "")
}

/// Removes a column constraint, with the space before it.
fn remove_clause(text: &str, clause: &Clause) -> String {
    sql::replace_span(text, sql::clause_removal_span(text, clause), "")
}

fn same_names(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// `drop_constraint`, `drop_foreign_key`, and the removal of the current primary key
/// before `primary_key` adds the new one.
fn drop_constraints(source: &Table, text: &str, op: &Operation) -> Result<String> {
    let operation = called(op);
    let l = layout(source, text, &operation)?;
    // (element index, clause, whether it is a whole table constraint)
    let mut found: Option<(usize, Clause, bool)> = None;
    for (i, e) in l.elements.iter().enumerate() {
        let clauses: Vec<(Clause, bool)> = match &e.kind {
            ElementKind::Constraint(c) => vec![(c.clone(), true)],
            ElementKind::Column {
                name, constraints, ..
            } => constraints
                .iter()
                .map(|c| {
                    let mut c = c.clone();
                    c.columns = vec![name.clone()];
                    (c, false)
                })
                .collect(),
        };
        for (c, whole) in clauses {
            let hit = match op {
                Operation::DropConstraint(n) => {
                    c.name.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(n))
                }
                Operation::DropForeignKey(cols) => {
                    c.kind == ClauseKind::ForeignKey && same_names(&c.columns, cols)
                }
                Operation::PrimaryKey(_) => c.kind == ClauseKind::PrimaryKey,
                _ => false,
            };
            if hit && found.is_none() {
                found = Some((i, c, whole));
            }
        }
    }
    match (found, op) {
        (Some((i, _, true)), _) => Ok(remove_element(text, &l, i)),
        (Some((_, c, false)), _) => Ok(remove_clause(text, &c)),
        (None, Operation::PrimaryKey(_)) => Ok(text.to_owned()),
        (None, Operation::DropConstraint(n)) => Err(refuse(
            source,
            &operation,
            format!("the table has no constraint named {n:?}"),
        )),
        (None, _) => Err(refuse(
            source,
            &operation,
            "the table has no foreign key on exactly these columns",
        )),
    }
}

fn drop_column(source: &Table, text: &str, name: &str, operation: &str) -> Result<String> {
    let l = layout(source, text, operation)?;
    let Some((index, _)) = l.columns().find(|(_, n)| n.eq_ignore_ascii_case(name)) else {
        return Err(refuse(
            source,
            operation,
            format!("the table has no column {name:?}"),
        ));
    };
    if l.columns().count() == 1 {
        return Err(refuse(
            source,
            operation,
            "a table keeps at least one column",
        ));
    }
    for e in &l.elements {
        if let ElementKind::Constraint(c) = &e.kind {
            if c.columns.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                return Err(refuse(
                    source,
                    operation,
                    format!(
                        "the table constraint `{}` names the column; drop it first (drop_constraint, drop_foreign_key or primary_key)",
                        &text[c.span.0..c.span.1]
                    ),
                ));
            }
        }
    }
    Ok(remove_element(text, &l, index))
}

fn alter_column(
    source: &Table,
    text: &str,
    name: &str,
    definition: &str,
    operation: &str,
) -> Result<String> {
    fragment(source, operation, definition)?;
    let l = layout(source, text, operation)?;
    let Some((index, _)) = l.columns().find(|(_, n)| n.eq_ignore_ascii_case(name)) else {
        return Err(refuse(
            source,
            operation,
            format!("the table has no column {name:?}"),
        ));
    };
    let e = &l.elements[index];
    let ElementKind::Column { type_span, .. } = &e.kind else {
        return Err(refuse(source, operation, "not a column"));
    };
    // From the end of the name (where an absent type's span sits) to the definition's end.
    let name_end = if type_span.0 == type_span.1 {
        type_span.0
    } else {
        text[..type_span.0].trim_end().len()
    };
    Ok(sql::replace_span(
        text,
        (name_end, e.span.1),
        &format!(" {}", definition.trim()),
    ))
}

/// `set_not_null` appends ` NOT NULL` where SQLite's `SET NOT NULL` does (nothing when the
/// column has one); `drop_not_null` cuts each NOT NULL as its `DROP NOT NULL` does.
fn not_null(source: &Table, text: &str, op: &Operation) -> Result<String> {
    let operation = called(op);
    let (Operation::SetNotNull(name) | Operation::DropNotNull(name)) = op else {
        return Ok(text.to_owned());
    };
    let find = |text: &str| -> Result<(TableLayout, usize, Option<Clause>)> {
        let l = layout(source, text, &operation)?;
        let Some((index, _)) = l.columns().find(|(_, n)| n.eq_ignore_ascii_case(name)) else {
            return Err(refuse(
                source,
                &operation,
                format!("the table has no column {name:?}"),
            ));
        };
        let clause = match &l.elements[index].kind {
            ElementKind::Column { constraints, .. } => constraints
                .iter()
                .find(|c| c.kind == ClauseKind::NotNull)
                .cloned(),
            ElementKind::Constraint(_) => None,
        };
        Ok((l, index, clause))
    };
    let (l, index, clause) = find(text)?;
    match op {
        Operation::SetNotNull(_) if clause.is_some() => Ok(text.to_owned()),
        Operation::SetNotNull(_) => {
            let at = l.append_point(text, index);
            Ok(sql::replace_span(text, (at, at), " NOT NULL"))
        }
        _ => {
            let mut text = text.to_owned();
            let mut clause = clause;
            while let Some(c) = clause {
                text = remove_clause(&text, &c);
                clause = find(&text)?.2;
            }
            Ok(text)
        }
    }
}

/// A definition, clause or expression given by the caller: one piece, no statement break.
fn fragment(source: &Table, operation: &str, text: &str) -> Result<()> {
    sql::single_expression(text).map_err(|e| refuse(source, operation, e.0))
}

fn add(source: &Table, text: &str, op: &Operation) -> Result<String> {
    let operation = called(op);
    let l = layout(source, text, &operation)?;
    let has_constraint = |n: &str| {
        l.elements.iter().any(|e| match &e.kind {
            ElementKind::Constraint(c) => {
                c.name.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(n))
            }
            ElementKind::Column { constraints, .. } => constraints
                .iter()
                .any(|c| c.name.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(n))),
        })
    };
    // Where SQLite's ADD COLUMN inserts: the end of the column list.
    let last_column_end = l.columns_end(text);
    // A table constraint goes right before the closing parenthesis, where SQLite's own
    // ALTER TABLE ... ADD CONSTRAINT puts it: both paths store the same text.
    let last_end = l.close;
    let (at, piece) = match op {
        Operation::AddColumn(definition) => {
            fragment(source, &operation, definition)?;
            let Some(name) = sql::first_name(definition) else {
                return Err(refuse(
                    source,
                    &operation,
                    "the definition starts with no column name",
                ));
            };
            if l.columns().any(|(_, n)| n.eq_ignore_ascii_case(&name)) {
                return Err(refuse(
                    source,
                    &operation,
                    format!("the table already has a column {name:?}"),
                ));
            }
            (last_column_end, definition.trim().to_owned())
        }
        Operation::AddCheck { name, expr } => {
            fragment(source, &operation, expr)?;
            if has_constraint(name) {
                return Err(refuse(
                    source,
                    &operation,
                    format!("the table already has a constraint named {name:?}"),
                ));
            }
            (
                last_end,
                format!("CONSTRAINT {} CHECK ({})", ident(name), expr.trim()),
            )
        }
        Operation::AddUnique { name, columns } => {
            if has_constraint(name) {
                return Err(refuse(
                    source,
                    &operation,
                    format!("the table already has a constraint named {name:?}"),
                ));
            }
            if columns.is_empty() {
                return Err(refuse(
                    source,
                    &operation,
                    "a UNIQUE constraint needs a column",
                ));
            }
            has_columns(source, &l, columns, &operation)?;
            let list: Vec<String> = columns.iter().map(|c| ident(c)).collect();
            (
                last_end,
                format!("CONSTRAINT {} UNIQUE ({})", ident(name), list.join(", ")),
            )
        }
        Operation::AddForeignKey(clause) => {
            fragment(source, &operation, clause)?;
            (last_end, format!("FOREIGN KEY {}", clause.trim()))
        }
        Operation::PrimaryKey(columns) => {
            // No columns: the key goes (a rowid table, its rowids kept).
            if columns.is_empty() {
                return Ok(text.to_owned());
            }
            has_columns(source, &l, columns, &operation)?;
            let list: Vec<String> = columns.iter().map(|c| ident(c)).collect();
            (last_end, format!("PRIMARY KEY ({})", list.join(", ")))
        }
        _ => return Ok(text.to_owned()),
    };
    Ok(sql::replace_span(text, (at, at), &format!(", {piece}")))
}

/// Every column named is one of the table's (as it reads in `l`).
fn has_columns(source: &Table, l: &TableLayout, columns: &[String], operation: &str) -> Result<()> {
    match columns
        .iter()
        .find(|c| !l.columns().any(|(_, n)| n.eq_ignore_ascii_case(c)))
    {
        Some(c) => Err(refuse(
            source,
            operation,
            format!("the table has no column {c:?}"),
        )),
        None => Ok(()),
    }
}

fn column_order(source: &Table, text: &str, order: &[String], operation: &str) -> Result<String> {
    let l = layout(source, text, operation)?;
    let current: Vec<(usize, &str)> = l.columns().collect();
    let mut wanted: Vec<usize> = Vec::new();
    for name in order {
        let Some((i, _)) = current.iter().find(|(_, n)| n.eq_ignore_ascii_case(name)) else {
            return Err(refuse(
                source,
                operation,
                format!("the table has no column {name:?}"),
            ));
        };
        if wanted.contains(i) {
            return Err(refuse(
                source,
                operation,
                format!("{name:?} is named twice"),
            ));
        }
        wanted.push(*i);
    }
    // The columns not named follow, in their order.
    for (i, _) in &current {
        if !wanted.contains(i) {
            wanted.push(*i);
        }
    }
    // Each column slot, from the last, takes the text of the column the order puts there.
    let mut out = text.to_owned();
    for (slot, from) in current.iter().zip(&wanted).rev() {
        let span = l.elements[slot.0].span;
        let piece = &text[l.elements[*from].span.0..l.elements[*from].span.1];
        out = sql::replace_span(&out, span, piece);
    }
    Ok(out)
}

fn options(
    source: &Table,
    text: &str,
    strict: Option<bool>,
    without_rowid: Option<bool>,
) -> Result<String> {
    let l = layout(source, text, "strict / without_rowid")?;
    let mut kept: Vec<String> = l
        .options
        .iter()
        .filter(|o| {
            let replaced = (strict.is_some() && o.as_str() == "STRICT")
                || (without_rowid.is_some() && o.as_str() == "WITHOUT ROWID");
            !replaced
        })
        .cloned()
        .collect();
    if without_rowid == Some(true) {
        kept.push("WITHOUT ROWID".to_owned());
    }
    if strict == Some(true) {
        kept.push("STRICT".to_owned());
    }
    let head = &text[..=l.close];
    let options = if kept.is_empty() {
        String::new()
    } else {
        format!(" {}", kept.join(", "))
    };
    Ok(format!("{head}{options}{}", &text[l.end..]))
}

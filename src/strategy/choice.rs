//! The first decision of every plan: SQLite's own `ALTER TABLE`, in place, or copy.
//! Operations that `ALTER TABLE ... ADD / RENAME / DROP COLUMN` can do, and nothing else,
//! run as those statements when SQLite takes them on a replica of the schema. A change that
//! keeps the stored format (the same columns, types, collations, defaults, keys and
//! automatic indexes, only CHECK / NOT NULL / FOREIGN KEY clauses differing) can switch the
//! stored definition instead of copying; everything else, and anything SQLite forbids,
//! copies.

use super::context::{AlterStatement, Choice};
use crate::builder::{Operation, TableRebuild};
use crate::db::replica::Replica;
use crate::error::Result;
use crate::introspect::{automatic_indexes, Facts};
use crate::mapping::Mapping;
use crate::sql::{self, ident, ClauseKind, ElementKind};
use rusqlite::Connection;

/// Rows rewritten in place cost several times a copied row (their index entries move one
/// by one, where a copy builds indexes in one sorted pass): past this share of the rows,
/// the copy is faster.
const IN_PLACE_MAX_REMAPPED_SHARE: f64 = 0.2;

/// Rows sampled to estimate the share of rows the rules rewrite.
const REMAP_SAMPLE_ROWS: u64 = 20_000;

/// Why the stored definition cannot simply be switched, if it cannot. DEFAULT changes
/// copy: rows written before an `ADD COLUMN` hold no value for that column and read its
/// DEFAULT, so changing it in place would change their data. `.column` expressions,
/// closure rules (each must run exactly once per row), restores and TEMP tables copy too,
/// and so does a connection in `SQLITE_DBCONFIG_DEFENSIVE` mode (which forbids writing the
/// schema).
pub(crate) fn in_place_blocker(
    rb: &TableRebuild,
    facts: &Facts,
    mapping: &Mapping,
) -> Option<&'static str> {
    let (source, target) = (&facts.source, &facts.target.table);
    if rb.copy_always {
        return Some("force_copy(true) asks for the copy");
    }
    if !rb.columns.is_empty() {
        return Some("column expressions compute values");
    }
    if !mapping.chains.is_empty() {
        return Some("closure rules run once per copied row");
    }
    if facts.restore.is_some() {
        return Some("rows come back from quarantine");
    }
    // The switch keeps the indexes and triggers where they are: new or changed ones are
    // built by the copy's recreate steps.
    if facts.dependents_replaced {
        return Some("indexes or triggers are created or replaced");
    }
    if facts.kept_old.is_some() {
        return Some("keep_old_as keeps the old table's rows as they are");
    }
    if source.schema.eq_ignore_ascii_case("temp") {
        return Some("TEMP tables are copied");
    }
    if facts.defensive {
        return Some("defensive mode forbids writing the schema");
    }
    let Some(old) = &facts.source_def else {
        return Some("the stored definition could not be read");
    };
    let new = &facts.target.def;
    let norm = |s: &Option<String>| {
        s.as_deref().map(|t| {
            t.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase()
        })
    };
    let same_definitions = old.columns.len() == new.columns.len()
        && old.columns.iter().zip(&new.columns).all(|(a, b)| {
            a.name == b.name
                && a.type_text.eq_ignore_ascii_case(&b.type_text)
                && norm(&a.collation) == norm(&b.collation)
                && norm(&a.default_clause) == norm(&b.default_clause)
                && norm(&a.generated_clause) == norm(&b.generated_clause)
        });
    let same_columns = source.columns.len() == target.columns.len()
        && source.columns.iter().zip(&target.columns).all(|(a, b)| {
            a.name == b.name && a.decl_type == b.decl_type && a.pk == b.pk && a.hidden == b.hidden
        });
    if !same_definitions || !same_columns {
        return Some("columns, types, collations, defaults or keys change");
    }
    if source.strict != target.strict
        || source.without_rowid != target.without_rowid
        || source.ipk != target.ipk
        || facts.source_autoincrement != facts.target.autoincrement
    {
        return Some("STRICT, WITHOUT ROWID or the rowid alias changes");
    }
    // Automatic indexes are named after the table and numbered by position; compared
    // without their names, keys and sort order must match.
    if automatic_indexes(source) != automatic_indexes(target) {
        return Some("the automatic indexes of UNIQUE or PRIMARY KEY constraints change");
    }
    // An UPDATE checks a unique key row by row, so a rotation (a -> b, b -> a) collides
    // half-way; the copy checks the rows as the target holds them.
    if remaps_a_unique_key(facts, mapping) {
        return Some("the rules rewrite a column of a unique key");
    }
    None
}

/// Whether nothing is asked: the target is the current definition, token for token, and
/// no rule, expression, drop, restore or new dependent comes with it.
pub(crate) fn unchanged(rb: &TableRebuild, facts: &Facts, mapping: &Mapping) -> bool {
    let Some(old) = &facts.source_def else {
        return false;
    };
    let new = &facts.target.def;
    let old_body = facts
        .source
        .sql
        .get(old.name_span.1..old.end)
        .unwrap_or_default();
    let new_body = facts
        .target
        .sql
        .get(new.name_span.1..new.end)
        .unwrap_or_default();
    rb.columns.is_empty()
        && !rb.copy_always
        && mapping.rules.is_empty()
        && mapping.dropped.is_empty()
        && facts.renames.is_empty()
        && facts.kept_old.is_none()
        && facts.dropped.is_empty()
        && facts.restore.is_none()
        && !facts.dependents_replaced
        && crate::sql::same_tokens(old_body, new_body)
}

/// Whether a rule rewrites a column that a PRIMARY KEY or unique index (the target's own,
/// or an explicit one recreated as it was) has among its keys.
fn remaps_a_unique_key(facts: &Facts, mapping: &Mapping) -> bool {
    let target = &facts.target.table;
    let remapped: Vec<&str> = mapping
        .transfers
        .iter()
        .filter(|t| t.remapped)
        .map(|t| t.target.as_str())
        .collect();
    let keyed = |column: &str| remapped.iter().any(|r| r.eq_ignore_ascii_case(column));
    let in_index = target
        .indexes
        .iter()
        .filter(|ix| ix.unique)
        .any(|ix| ix.keys.iter().flat_map(|(k, _)| k).any(|k| keyed(k)));
    let in_explicit = facts.dependents.iter().any(|d| {
        d.index.as_ref().is_some_and(|ix| {
            ix.unique
                && ix.terms.iter().any(|t| {
                    remapped
                        .iter()
                        .any(|r| crate::sql::mentions_identifier(&t.expr, r))
                })
        })
    });
    in_index || in_explicit || target.ipk.as_deref().is_some_and(keyed)
}

/// In place when nothing blocks it and the rules rewrite few enough rows for it to win,
/// as estimated on the first rows of the table (a full count would cost a scan).
pub(crate) fn choose(
    conn: &Connection,
    rb: &TableRebuild,
    facts: &Facts,
    mapping: &Mapping,
) -> Result<Choice> {
    if unchanged(rb, facts, mapping) {
        log::debug!(
            "the target of {} is its current definition: nothing to do",
            facts.source.qualified()
        );
        return Ok(Choice::Unchanged);
    }
    if let Some((statements, stored_sql)) = alter_statements(conn, rb, facts, mapping)? {
        log::debug!(
            "{} changes with ALTER TABLE alone: {statements:?}",
            facts.source.qualified()
        );
        return Ok(Choice::Alter {
            statements,
            stored_sql,
        });
    }
    if let Some(why) = in_place_blocker(rb, facts, mapping) {
        log::debug!("copying {}: {why}", facts.source.qualified());
        return Ok(Choice::Copy);
    }
    if mapping.rules.is_empty() {
        return Ok(Choice::InPlace { known_counts: None });
    }
    let counts = mapping.count_rule_hits(conn, &facts.source, Some(REMAP_SAMPLE_ROWS))?;
    let sampled: u64 = conn
        .query_row(
            &format!(
                "SELECT count(*) FROM (SELECT 1 FROM {} LIMIT {REMAP_SAMPLE_ROWS})",
                facts.source.qualified()
            ),
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(crate::error::Error::sqlite("counting rows"))? as u64;
    let changed: u64 = counts.iter().sum();
    if !few_enough(changed, sampled) {
        log::debug!(
            "the rules rewrite {changed} values in the first {sampled} rows: copying rather than rewriting in place"
        );
        return Ok(Choice::Copy);
    }
    // When the sample was the whole table, these are the counts.
    let known_counts = (sampled < REMAP_SAMPLE_ROWS).then_some(counts);
    Ok(Choice::InPlace { known_counts })
}

/// The `ALTER TABLE` statements that do what the operations ask, when they are all
/// `add_column`, `rename_column`, `drop_column`, `add_check` and `drop_constraint` (the last
/// two on SQLite 3.53 and later, which checks the rows itself), nothing else is asked (but dependents
/// to drop, which go first), and SQLite takes the statements on a replica of the schema (its own restrictions: a dropped column no
/// index, view, trigger or constraint uses; an added one that needs no row checked). The
/// table's text as SQLite stores it after them comes along.
fn alter_statements(
    conn: &Connection,
    rb: &TableRebuild,
    facts: &Facts,
    mapping: &Mapping,
) -> Result<Option<(Vec<AlterStatement>, String)>> {
    let only_columns = rb.operations.iter().all(|op| {
        matches!(
            op,
            Operation::AddColumn(_)
                | Operation::RenameColumn { .. }
                | Operation::AddCheck { .. }
                | Operation::DropConstraint(_)
                | Operation::SetNotNull(_)
                | Operation::DropNotNull(_)
        )
    });
    if !facts.target.by_operations
        || rb.copy_always
        || !only_columns
        || !rb.columns.is_empty()
        || !mapping.rules.is_empty()
        || !rb.snapshot_dependents.is_empty()
        || !rb.create_indexes.is_empty()
        || rb.keep_old_as.is_some()
        || facts.restore.is_some()
        || facts.temp_shadow
    {
        return Ok(None);
    }
    let source = &facts.source;
    let table = source.qualified();
    // What goes first (constraints, then the columns they may name), then the renames,
    // then what comes (columns, then constraints that may name them). SQLite 3.53 and
    // later add and drop constraints themselves, checking the rows (an older one refuses
    // the syntax on the replica, and the switch or the copy does it).
    let mut statements: Vec<AlterStatement> = rb
        .operations
        .iter()
        .filter_map(|op| match op {
            Operation::DropConstraint(name) => Some(AlterStatement::new(format!(
                "ALTER TABLE {table} DROP CONSTRAINT {}",
                ident(name)
            ))),
            _ => None,
        })
        .collect();
    statements.extend(
        rb.drop_columns
            .iter()
            .map(|c| AlterStatement::new(format!("ALTER TABLE {table} DROP COLUMN {}", ident(c)))),
    );
    statements.extend(
        crate::introspect::rename_sequence(source, &facts.renames)
            .iter()
            .map(|(old, new)| {
                AlterStatement::new(crate::introspect::rename_column_sql(source, old, new))
            }),
    );
    for op in &rb.operations {
        if let Operation::AddColumn(definition) = op {
            if !added_needs_no_check(definition, source.strict) {
                return Ok(None);
            }
            statements.push(AlterStatement::new(format!(
                "ALTER TABLE {table} ADD COLUMN {}",
                definition.trim()
            )));
        }
    }
    for op in &rb.operations {
        match op {
            Operation::SetNotNull(c) => statements.push(AlterStatement {
                sql: format!("ALTER TABLE {table} ALTER COLUMN {} SET NOT NULL", ident(c)),
                row_check: Some((
                    format!("NOT NULL({c})"),
                    format!("EXISTS (SELECT 1 FROM {table} WHERE {} IS NULL)", ident(c)),
                )),
            }),
            Operation::DropNotNull(c) => statements.push(AlterStatement::new(format!(
                "ALTER TABLE {table} ALTER COLUMN {} DROP NOT NULL",
                ident(c)
            ))),
            _ => {}
        }
    }
    for op in &rb.operations {
        if let Operation::AddCheck { name, expr } = op {
            statements.push(AlterStatement {
                sql: format!(
                    "ALTER TABLE {table} ADD CONSTRAINT {} CHECK ({})",
                    ident(name),
                    expr.trim()
                ),
                // Over the rows as stored (their affinity applied): a CHECK fails where its
                // expression is false, and NOT (NULL) flags nothing, as a CHECK passes NULL.
                row_check: Some((
                    format!("CHECK {name}"),
                    format!("EXISTS (SELECT 1 FROM {table} WHERE NOT ({}))", expr.trim()),
                )),
            });
        }
    }
    // SQLite judges them on the schema alone (no row, no lock); where it refuses, the copy
    // does what the operations ask and says what breaks.
    let replica = match Replica::of(conn) {
        Ok(r) => r,
        Err(e) => {
            log::debug!("no replica to judge ALTER TABLE on ({e}): copying");
            return Ok(None);
        }
    };
    let drops = facts.dropped.iter().filter_map(|d| d.drop_sql.as_ref());
    for statement in drops.chain(statements.iter().map(|s| &s.sql)) {
        if let Err(e) = replica.conn.execute_batch(statement) {
            log::debug!("SQLite refuses {statement} ({e}): copying");
            return Ok(None);
        }
    }
    let stored_sql: String = replica
        .conn
        .query_row(
            &format!(
                "SELECT sql FROM {}.sqlite_schema WHERE type = 'table' AND name = ?1",
                ident(&source.schema)
            ),
            [&source.name],
            |r| r.get(0),
        )
        .map_err(crate::error::Error::sqlite(
            "reading the altered definition",
        ))?;
    Ok(Some((statements, stored_sql)))
}

/// Whether a column added by `ALTER TABLE ... ADD COLUMN` leaves nothing to check in the
/// existing rows: they all read its DEFAULT, a literal, and no CHECK, key or generated
/// expression is involved; NOT NULL needs a DEFAULT that is not NULL. (SQLite checks what
/// else ADD COLUMN restricts only when the table has rows, which the replica does not.)
/// On a STRICT table a DEFAULT must also be of the column's type: the copy checks that.
fn added_needs_no_check(definition: &str, strict: bool) -> bool {
    let sql = format!("CREATE TABLE t ({definition})");
    let Ok(layout) = sql::layout_create_table(&sql) else {
        return false;
    };
    let [element] = layout.elements.as_slice() else {
        return false;
    };
    let ElementKind::Column { constraints, .. } = &element.kind else {
        return false;
    };
    let default = constraints
        .iter()
        .find(|c| c.kind == ClauseKind::Default)
        .map(|c| &sql[c.span.0..c.span.1]);
    let literal = default.and_then(sql::default_literal);
    let not_null = constraints.iter().any(|c| c.kind == ClauseKind::NotNull);
    let default_ok = match (default, &literal) {
        (None, _) => !not_null,
        (Some(_), None) => false,
        (Some(_), Some(value)) => {
            let null_into_not_null = not_null && *value == rusqlite::types::Value::Null;
            !strict && !null_into_not_null
        }
    };
    default_ok
        && constraints.iter().all(|c| {
            matches!(
                c.kind,
                ClauseKind::NotNull | ClauseKind::Null | ClauseKind::Collate | ClauseKind::Default
            )
        })
}

/// Whether rewriting `changed` of `sampled` rows in place beats a copy.
fn few_enough(changed: u64, sampled: u64) -> bool {
    (changed as f64) <= IN_PLACE_MAX_REMAPPED_SHARE * sampled as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::introspect::{introspect, preflight, Verb};

    fn blocker(setup: &str, rb: TableRebuild) -> Option<&'static str> {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(setup).unwrap();
        let pre = preflight(&conn, &rb, Verb::Plan).unwrap();
        let facts = introspect(&conn, &rb, &pre).unwrap();
        let mapping = crate::mapping::map(&rb, &facts).unwrap();
        in_place_blocker(&rb, &facts, &mapping)
    }

    const T: &str = "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT UNIQUE, b INT DEFAULT 1)";

    #[test]
    fn only_constraint_changes_go_in_place() {
        let target = |sql: &str| TableRebuild::new("t").create_sql(sql);
        let in_place = [
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT UNIQUE, b INT DEFAULT 1 CHECK (b > 0))",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT UNIQUE NOT NULL, b INT DEFAULT 1)",
        ];
        for sql in in_place {
            assert_eq!(blocker(T, target(sql)), None, "{sql}");
        }
        let copied = [
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT UNIQUE, b REAL DEFAULT 1)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT UNIQUE, b INT DEFAULT 2)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INT DEFAULT 1)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT UNIQUE COLLATE NOCASE, b INT DEFAULT 1)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, b INT DEFAULT 1, a TEXT UNIQUE)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT UNIQUE, b INT DEFAULT 1) STRICT",
            "CREATE TABLE t (id INT PRIMARY KEY, a TEXT UNIQUE, b INT DEFAULT 1)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INT DEFAULT 1, UNIQUE (a DESC))",
        ];
        for sql in copied {
            assert!(blocker(T, target(sql)).is_some(), "{sql}");
        }
    }

    #[test]
    fn rules_that_need_the_copy_block_the_switch() {
        let same = "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT UNIQUE, b INT DEFAULT 1)";
        let rb = TableRebuild::new("t").create_sql(same);
        assert_eq!(blocker(T, rb.clone().remap("b", 1, 2)), None);
        // `a` is UNIQUE: an UPDATE would check it row by row.
        assert!(blocker(T, rb.clone().remap("a", "x", "y")).is_some());
        assert!(blocker(T, rb.clone().column("b", "b + 1")).is_some());
        assert!(blocker(
            T,
            rb.remap_with("a", |v| rusqlite::types::Value::try_from(v).unwrap())
        )
        .is_some());
    }

    #[test]
    fn the_share_of_remapped_rows_decides() {
        assert!(few_enough(0, 0));
        assert!(few_enough(20, 100));
        assert!(!few_enough(21, 100));
    }
}

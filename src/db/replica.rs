//! A schema-only replica of a connection's databases, in memory: every `sqlite_schema` row
//! of `main`, `temp` and each attached database, with no row of any table, and stand-ins for
//! the connection's own functions and collations, and for each virtual table a plain table
//! of its columns (its module needs rows, or may be the connection's own). A dry run rehearses there what would
//! change the schema (renaming columns, the swap, recreating indexes and triggers) and
//! compiles what uses each view and trigger, without writing, or locking, the database.

use super::connection;
use crate::error::{Error, Result};
use crate::sql::{self, ident};
use rusqlite::config::DbConfig;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value;
use rusqlite::Connection;

/// The replica: a connection of its own.
pub(crate) struct Replica {
    pub conn: Connection,
}

/// One `sqlite_schema` row.
struct SchemaRow {
    kind: String,
    name: String,
    table: String,
    rootpage: i64,
    sql: Option<String>,
    /// Its b-tree is an index's (an index, or a WITHOUT ROWID table).
    index_tree: bool,
}

impl Replica {
    /// Replicates the schema of every database of `conn`. Fails when a schema cannot be
    /// replicated: SQLite's error.
    pub(crate) fn of(conn: &Connection) -> Result<Replica> {
        let fail = |e| Error::sqlite("replicating the schema for a dry run")(e);
        let replica = empty_like(conn, "replicating the schema for a dry run")?;
        let mut schemas: Vec<String> = connection::database_list(conn)?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        if !schemas.iter().any(|s| s.eq_ignore_ascii_case("temp")) {
            schemas.push("temp".to_owned());
        }
        for schema in &schemas {
            if !["main", "temp"].contains(&schema.to_ascii_lowercase().as_str()) {
                replica
                    .execute("ATTACH ':memory:' AS ?1", [schema])
                    .map_err(fail)?;
            }
        }
        for schema in &schemas {
            copy_schema(conn, &replica, schema)?;
        }
        Ok(Replica { conn: replica })
    }
}

impl Replica {
    /// A replica of one table alone, from its `CREATE TABLE` text, with the connection's
    /// stand-ins: where the operations have SQLite edit the table's text (renaming columns
    /// as `ALTER TABLE ... RENAME COLUMN` does) without any other object in the way.
    pub(crate) fn of_table(conn: &Connection, create_table: &str) -> Result<Replica> {
        let context = "replicating the table to edit its definition";
        let replica = empty_like(conn, context)?;
        replica
            .execute_batch(create_table)
            .map_err(Error::sqlite(context))?;
        Ok(Replica { conn: replica })
    }
}

/// An empty in-memory connection that reads SQL as `conn` does: foreign keys off, the same
/// double-quote and trusted-schema settings, stand-ins for its functions and collations.
fn empty_like(conn: &Connection, context: &str) -> Result<Connection> {
    let fail = |e| Error::sqlite(context)(e);
    let replica = Connection::open_in_memory().map_err(fail)?;
    replica
        .execute_batch("PRAGMA foreign_keys = OFF")
        .map_err(fail)?;
    for flag in [
        DbConfig::SQLITE_DBCONFIG_DQS_DDL,
        DbConfig::SQLITE_DBCONFIG_DQS_DML,
        DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA,
    ] {
        let on = conn.db_config(flag).map_err(fail)?;
        replica.set_db_config(flag, on).map_err(fail)?;
    }
    stand_ins(conn, &replica)?;
    Ok(replica)
}

/// The connection's own scalar, aggregate and window functions, and its collations, as
/// stand-ins: a function returns NULL, a collation compares bytes. What compiles with the
/// real ones compiles with them (names, argument counts and determinism are the same).
fn stand_ins(conn: &Connection, replica: &Connection) -> Result<()> {
    let fail = |e| Error::sqlite("replicating the connection's functions for a dry run")(e);
    let functions: Vec<(String, i32, i64)> = conn
        .prepare("SELECT DISTINCT name, narg, flags FROM pragma_function_list WHERE builtin = 0")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(fail)?;
    for (name, narg, flags) in functions {
        let mut f = FunctionFlags::SQLITE_UTF8;
        for flag in [
            FunctionFlags::SQLITE_DETERMINISTIC,
            FunctionFlags::SQLITE_DIRECTONLY,
            FunctionFlags::SQLITE_INNOCUOUS,
        ] {
            if flags & i64::from(flag.bits()) != 0 {
                f |= flag;
            }
        }
        replica
            .create_scalar_function(name.as_str(), narg, f, |_| Ok(Value::Null))
            .map_err(fail)?;
    }
    let names = |c: &Connection| -> Result<Vec<String>> {
        c.prepare("SELECT name FROM pragma_collation_list")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(Error::sqlite("listing collations for a dry run"))
    };
    let known = names(replica)?;
    for name in names(conn)? {
        if !known.iter().any(|k| k.eq_ignore_ascii_case(&name)) {
            replica
                .create_collation(name.as_str(), |a: &str, b: &str| a.cmp(b))
                .map_err(Error::sqlite("replicating the connection's collations"))?;
        }
    }
    Ok(())
}

/// Copies `schema`'s rows of `sqlite_schema`, in their order, each table and index with a
/// b-tree of its own kind (empty), and has SQLite load them.
fn copy_schema(conn: &Connection, replica: &Connection, schema: &str) -> Result<()> {
    let context = format!("replicating schema \"{schema}\" for a dry run");
    let fail = |e| Error::sqlite(context.as_str())(e);
    let s = ident(schema);
    let rows: Vec<SchemaRow> = conn
        .prepare(&format!(
            "SELECT m.type, m.name, m.tbl_name, m.rootpage, m.sql,
                    m.type = 'index' OR coalesce((SELECT l.wr FROM pragma_table_list AS l
                        WHERE l.schema = ?1 AND l.name = m.name), 0)
             FROM {s}.sqlite_schema AS m ORDER BY m.rowid"
        ))
        .and_then(|mut st| {
            st.query_map([schema], |r| {
                Ok(SchemaRow {
                    kind: r.get(0)?,
                    name: r.get(1)?,
                    table: r.get(2)?,
                    rootpage: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
                    sql: r.get(4)?,
                    index_tree: r.get(5)?,
                })
            })?
            .collect()
        })
        .map_err(fail)?;
    if rows.is_empty() {
        return Ok(());
    }
    // A virtual table stands in as a plain table of its columns, hidden ones included
    // (`INSERT INTO fts (fts, rank) ...`).
    let rows: Vec<SchemaRow> = rows
        .into_iter()
        .map(|row| {
            let is_virtual = row.kind == "table"
                && row.rootpage == 0
                && row
                    .sql
                    .as_deref()
                    .is_some_and(|s| sql::virtual_table_module(s).is_some());
            if !is_virtual {
                return row;
            }
            let columns: Vec<String> = conn
                .prepare("SELECT name FROM pragma_table_xinfo(?1, ?2)")
                .and_then(|mut st| st.query_map([&row.name, schema], |r| r.get(0))?.collect())
                .unwrap_or_default();
            let columns: Vec<String> = if columns.is_empty() {
                vec!["x".to_owned()]
            } else {
                columns.iter().map(|c| ident(c)).collect()
            };
            SchemaRow {
                sql: Some(format!(
                    "CREATE TABLE {} ({})",
                    ident(&row.name),
                    columns.join(", ")
                )),
                rootpage: 1,
                index_tree: false,
                ..row
            }
        })
        .collect();
    // A b-tree for each table and index: placeholders, whose schema rows then go.
    let mut roots = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        if row.rootpage == 0 {
            roots.push(0);
            continue;
        }
        let placeholder = format!("rebuild_replica_{i}");
        let create = if row.index_tree {
            format!(
                "CREATE TABLE {s}.{} (x PRIMARY KEY) WITHOUT ROWID",
                ident(&placeholder)
            )
        } else {
            format!("CREATE TABLE {s}.{} (x)", ident(&placeholder))
        };
        replica.execute_batch(&create).map_err(fail)?;
        let root: i64 = replica
            .query_row(
                &format!("SELECT rootpage FROM {s}.sqlite_schema WHERE name = ?1"),
                [&placeholder],
                |r| r.get(0),
            )
            .map_err(fail)?;
        roots.push(root);
    }
    let version: i64 = replica
        .query_row(&format!("PRAGMA {s}.schema_version"), [], |r| r.get(0))
        .map_err(fail)?;
    replica
        .execute_batch("PRAGMA writable_schema = ON")
        .map_err(fail)?;
    let written = (|| {
        replica.execute_batch(&format!("DELETE FROM {s}.sqlite_schema"))?;
        let mut insert = replica.prepare(&format!(
            "INSERT INTO {s}.sqlite_schema (type, name, tbl_name, rootpage, sql) VALUES (?1, ?2, ?3, ?4, ?5)"
        ))?;
        for (row, root) in rows.iter().zip(&roots) {
            insert.execute(rusqlite::params![
                row.kind, row.name, row.table, root, row.sql
            ])?;
        }
        drop(insert);
        replica.execute_batch(&format!("PRAGMA {s}.schema_version = {}", version + 1))
    })();
    replica
        .execute_batch("PRAGMA writable_schema = OFF")
        .map_err(fail)?;
    written.map_err(fail)?;
    // SQLite loads the schema now: a statement it cannot parse fails here.
    replica
        .query_row(
            &format!("SELECT count(*) FROM {s}.sqlite_schema"),
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(conn: &Connection, schema: &str) -> Vec<(String, Option<String>)> {
        conn.prepare(&format!(
            "SELECT name, sql FROM {}.sqlite_schema ORDER BY rowid",
            ident(schema)
        ))
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    #[test]
    fn the_schema_without_rows_with_stand_ins_for_functions_and_collations() {
        let conn = Connection::open_in_memory().unwrap();
        conn.create_collation("rev", |a: &str, b: &str| b.cmp(a))
            .unwrap();
        conn.create_scalar_function("f", 1, FunctionFlags::SQLITE_DETERMINISTIC, |c| {
            c.get::<i64>(0)
        })
        .unwrap();
        conn.execute_batch(
            "ATTACH ':memory:' AS aux;
             CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT COLLATE rev UNIQUE CHECK (f(id) > 0), b TEXT);
             CREATE INDEX t_a ON t (a COLLATE rev);
             CREATE INDEX t_f ON t (f(id));
             CREATE VIEW v AS SELECT f(id) AS x, b FROM t;
             CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT f(new.id); END;
             CREATE TABLE w (k TEXT PRIMARY KEY, t_id REFERENCES t (id)) WITHOUT ROWID;
             CREATE TABLE aux.x (y); CREATE INDEX aux.x_y ON x (y);
             CREATE TEMP TRIGGER seen AFTER UPDATE ON main.t BEGIN SELECT 1; END;
             INSERT INTO t VALUES (1, 'a', 'b');",
        )
        .unwrap();
        let replica = Replica::of(&conn).unwrap();
        let rep = &replica.conn;
        for schema in ["main", "aux", "temp"] {
            assert_eq!(names(rep, schema), names(&conn, schema), "{schema}");
        }
        assert_eq!(
            rep.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
                .unwrap(),
            0
        );
        // What uses the views and triggers compiles; the schema can be changed.
        rep.prepare("SELECT * FROM v").unwrap();
        rep.prepare("INSERT INTO t DEFAULT VALUES").unwrap();
        rep.execute_batch("ALTER TABLE t RENAME COLUMN b TO bb")
            .unwrap();
        assert!(names(rep, "main")
            .iter()
            .any(|(n, sql)| n == "v" && sql.as_deref().unwrap().contains("bb")));
        rep.execute_batch("DROP TABLE t; DROP TABLE w; PRAGMA integrity_check;")
            .unwrap();
        // The original is untouched.
        assert!(names(&conn, "main")
            .iter()
            .any(|(n, sql)| n == "v" && !sql.as_deref().unwrap().contains("bb")));
    }
}

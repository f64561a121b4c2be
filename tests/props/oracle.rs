//! The oracle: SQLite's generalized ALTER TABLE procedure, run by hand on a second
//! database from the same setup.

use super::common::*;
use super::gen::*;
use sqlite_rebuild::rusqlite::types::Value;
use sqlite_rebuild::rusqlite::Connection;

// ---------------------------------------------------------------------------------------
// The oracle: SQLite's generalized ALTER TABLE procedure, by hand
// ---------------------------------------------------------------------------------------

/// Where the hand-written procedure stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Stage {
    /// `ALTER TABLE t RENAME COLUMN` failed.
    RenameColumn,
    /// `CREATE TABLE new_t` failed: the target itself is invalid.
    Create,
    /// The copy broke a constraint of the target.
    Copy,
    /// Dropping the old table or renaming the new one failed.
    Swap,
    /// A saved index or trigger could not be recreated.
    Dependent,
    /// A view or trigger of the schema no longer compiles.
    Probe,
    /// `foreign_key_check` failed or found new violations.
    ForeignKey,
}

pub(crate) type Failure = (Stage, String);

/// Whether what uses each view and each table's triggers compiles, reading double quotes
/// only as names: a SELECT from each view, and an INSERT, an UPDATE of every column and a
/// DELETE on each table or view with triggers (prepared, never run: SQLite compiles the
/// triggers they fire). What named a column before the rebuild must name one after it.
pub(crate) fn uses_compile(conn: &Connection) -> Vec<(String, bool)> {
    let set = |on: bool| set_quotes_as_strings(conn, on);
    set(false);
    let mut out = Vec::new();
    for row in query_all(
        conn,
        "SELECT type, name FROM sqlite_schema WHERE type = 'view'
         UNION SELECT 'on', tbl_name FROM sqlite_schema WHERE type = 'trigger'
         UNION SELECT 'on', tbl_name FROM temp.sqlite_schema WHERE type = 'trigger'
         ORDER BY 1, 2",
    ) {
        let (Value::Text(kind), Value::Text(name)) = (&row[0], &row[1]) else {
            continue;
        };
        let statements = if kind == "view" {
            vec![format!("SELECT * FROM main.{}", qq(name))]
        } else {
            let columns: Vec<String> = query_all(
                conn,
                &format!(
                    "SELECT name FROM pragma_table_xinfo('{}', 'main') WHERE hidden = 0",
                    name.replace('\'', "''")
                ),
            )
            .into_iter()
            .filter_map(|r| match &r[0] {
                Value::Text(c) => Some(format!("{0} = {0}", qq(c))),
                _ => None,
            })
            .collect();
            vec![
                format!("INSERT INTO main.{} DEFAULT VALUES", qq(name)),
                format!("UPDATE main.{} SET {}", qq(name), columns.join(", ")),
                format!("DELETE FROM main.{}", qq(name)),
            ]
        };
        for (i, s) in statements.iter().enumerate() {
            out.push((format!("{kind} {name} {i}"), conn.prepare(s).is_ok()));
        }
    }
    // An `UPDATE OF c` trigger fires on an UPDATE setting c (the generated ones name one
    // column, as `UPDATE OF {c} ON`).
    for row in query_all(
        conn,
        "SELECT name, tbl_name, sql FROM sqlite_schema WHERE type = 'trigger'
         UNION ALL SELECT name, tbl_name, sql FROM temp.sqlite_schema WHERE type = 'trigger'",
    ) {
        let (Value::Text(name), Value::Text(table), Value::Text(sql)) = (&row[0], &row[1], &row[2])
        else {
            continue;
        };
        let Some(of) = sql
            .split_once("UPDATE OF ")
            .and_then(|(_, rest)| rest.split_once(" ON "))
            .map(|(c, _)| c.to_owned())
        else {
            continue;
        };
        let statement = format!("UPDATE main.{} SET {of} = {of}", qq(table));
        out.push((
            format!("update-of {name}"),
            conn.prepare(&statement).is_ok(),
        ));
    }
    set(true);
    out
}

/// SQLite's double-quoted string fallback, in DDL and DML.
pub(crate) fn set_quotes_as_strings(conn: &Connection, on: bool) {
    use sqlite_rebuild::rusqlite::config::DbConfig;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, on)
        .unwrap();
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, on)
        .unwrap();
}

pub(crate) fn open(setup: &str) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    // As a bundled connection starts; a system SQLite starts with foreign keys off.
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    conn.execute_batch(setup)
        .unwrap_or_else(|e| panic!("the generated setup must run: {e}\n{setup}"));
    conn
}

pub(crate) fn fk_check(conn: &Connection) -> Result<Vec<Vec<Value>>, String> {
    let mut stmt = conn
        .prepare("PRAGMA foreign_key_check")
        .map_err(|e| e.to_string())?;
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| r.get::<_, Value>(i))
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|e| e.to_string())?;
    rows.collect::<Result<_, _>>().map_err(|e| e.to_string())
}

/// Runs the procedure on `conn`. Stopping at the first failure (`keep_going` false), it
/// commits when nothing failed and rolls back otherwise: the oracle proper. With
/// `keep_going` it runs every step that can still run after a failure and always rolls
/// back, listing every reason the procedure has to fail: the crate checks in another order
/// and may name any of them first. After a failed copy the new table stays empty, so only
/// failures that do not depend on the rows (a dependent that no longer compiles, a foreign
/// key without a parent key) are added.
pub(crate) fn procedure(conn: &Connection, case: &Case, keep_going: bool) -> Vec<Failure> {
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    let fk_before = fk_check(conn).unwrap();
    let sequence: Option<i64> = conn
        .query_row(
            "SELECT seq FROM main.sqlite_sequence WHERE name = 't'",
            [],
            |r| r.get(0),
        )
        .ok();
    let body = case.target.strip_prefix("CREATE TABLE t ").unwrap();
    let mut failures: Vec<Failure> = Vec::new();
    conn.execute_batch("BEGIN").unwrap();
    let uses_before = uses_compile(conn);
    // The rename probe judges only a schema that passed it before (a TEMP table `t` makes
    // SQLite's rename check fail on main's own triggers).
    let probe = |conn: &Connection| {
        conn.execute_batch("SAVEPOINT probe").unwrap();
        let r = conn.execute_batch("ALTER TABLE main.t RENAME TO t_probe");
        conn.execute_batch("ROLLBACK TO probe; RELEASE probe")
            .unwrap();
        r
    };
    let probe_before = probe(conn).is_ok();
    // `false` when the procedure must stop here.
    let step = |stage: Stage, sql: &str, failures: &mut Vec<Failure>| match conn.execute_batch(sql)
    {
        Ok(()) => true,
        Err(e) => {
            let e = e.to_string();
            if keep_going || failures.is_empty() {
                failures.push((stage, e));
            }
            keep_going && !matches!(stage, Stage::RenameColumn | Stage::Create | Stage::Swap)
        }
    };
    // A column the target renames (`.column("new", "\"old\"")`) is renamed in the old table
    // first, as the crate documents: SQLite's own `ALTER TABLE ... RENAME COLUMN` rewrites
    // the indexes, triggers, views and children's foreign keys that name it, which a plain
    // copy would leave pointing at a column that is gone.
    for (old, new) in &case.renames {
        let sql = format!(
            "ALTER TABLE main.t RENAME COLUMN {} TO {}",
            qq(old),
            qq(new)
        );
        if !step(Stage::RenameColumn, &sql, &mut failures) {
            break;
        }
    }
    // Indexes and triggers, TEMP triggers on the table included: `DROP TABLE` drops those
    // too, and SQLite stores them without the TEMP that puts them back where they were.
    // Main's are recreated under main's prefix: with a TEMP table `t`, an unqualified
    // `CREATE INDEX ... ON t` would land on it.
    let saved: Vec<String> = query_all(
        conn,
        "SELECT 'main', type, sql, name FROM main.sqlite_schema
             WHERE tbl_name = 't' AND type IN ('index', 'trigger') AND sql IS NOT NULL
         UNION ALL
         SELECT 'temp', type, sql, name FROM temp.sqlite_schema WHERE tbl_name = 't' AND type = 'trigger'
         ORDER BY 2, 3",
    )
    .into_iter()
    .map(|r| match (&r[0], &r[2], &r[3]) {
        (Value::Text(db), Value::Text(sql), _) if db == "temp" => {
            sql.replacen("CREATE TRIGGER", "CREATE TEMP TRIGGER", 1)
        }
        (_, Value::Text(sql), Value::Text(name)) => {
            sql.replacen(&format!("{name} "), &format!("main.{name} "), 1)
        }
        v => panic!("{v:?}"),
    })
    .collect();
    'procedure: {
        if !failures.is_empty() {
            // A rename that failed: whether the target compiles is a reason of its own.
            if keep_going {
                if let Err(e) = conn.execute_batch(&format!("CREATE TABLE main.new_t {body}")) {
                    failures.push((Stage::Create, e.to_string()));
                }
            }
            break 'procedure;
        }
        if !step(
            Stage::Create,
            &format!("CREATE TABLE main.new_t {body}"),
            &mut failures,
        ) {
            break 'procedure;
        }
        let copy = format!(
            "INSERT OR ABORT INTO main.new_t ({}) SELECT {} FROM main.t AS t",
            case.copy_into.join(", "),
            case.copy_from.join(", ")
        );
        if !step(Stage::Copy, &copy, &mut failures) {
            break 'procedure;
        }
        // A STRICT table's generated columns must compute values of their type. SQLite checks
        // them since 3.51 (VIRTUAL ones since June 2025); an older one (Debian's 3.40) stores
        // or computes them unchecked, so the careful procedure checks them itself, as the
        // crate does on every SQLite.
        if failures.is_empty() {
            let strict: bool = conn
                .query_row(
                    "SELECT strict FROM pragma_table_list WHERE schema = 'main' AND name = 'new_t'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            let generated: Vec<(String, String)> = if strict {
                conn.prepare("SELECT name, upper(type) FROM pragma_table_xinfo('new_t', 'main') WHERE hidden IN (2, 3)")
                    .unwrap()
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect()
            } else {
                Vec::new()
            };
            for (column, ty) in generated {
                let allowed = match ty.as_str() {
                    "INT" | "INTEGER" => "'integer'",
                    "REAL" => "'real', 'integer'",
                    "TEXT" => "'text'",
                    "BLOB" => "'blob'",
                    _ => continue,
                };
                let bad: i64 = conn
                    .query_row(
                        &format!("SELECT count(*) FROM main.new_t WHERE typeof({}) NOT IN ('null', {allowed})", qq(&column)),
                        [],
                        |r| r.get(0),
                    )
                    .unwrap();
                if bad > 0 {
                    failures.push((
                        Stage::Copy,
                        format!("cannot store a value of another type in {ty} column new_t.{column} (STRICT, generated)"),
                    ));
                    if !keep_going {
                        break 'procedure;
                    }
                }
            }
        }
        // After a failed copy the new table is empty: its rows' foreign keys say nothing.
        let copied = failures.is_empty();
        if !step(Stage::Swap, "DROP TABLE main.t", &mut failures)
            || !step(
                Stage::Swap,
                "PRAGMA legacy_alter_table = ON; ALTER TABLE main.new_t RENAME TO t; PRAGMA legacy_alter_table = OFF",
                &mut failures,
            )
        {
            break 'procedure;
        }
        // The copy leaves the AUTOINCREMENT counter at the largest key copied, below where
        // it was if the last rows were deleted (or their inserts ignored): one of the
        // breakages the crate exists to avoid. A careful hand-written procedure puts it back.
        if let (true, Some(seq)) = (case.autoincrement, sequence) {
            let restore = format!(
                "UPDATE main.sqlite_sequence SET seq = max(seq, {seq}) WHERE name = 't';
                 INSERT INTO main.sqlite_sequence (name, seq) SELECT 't', {seq}
                     WHERE NOT EXISTS (SELECT 1 FROM main.sqlite_sequence WHERE name = 't')"
            );
            if !step(Stage::Swap, &restore, &mut failures) {
                break 'procedure;
            }
        }
        // What named a column must still name one: the generated indexes name columns
        // only, so they are recreated with SQLite's double-quoted string fallback off
        // (with it on, an index on a dropped "c" would index the text 'c').
        set_quotes_as_strings(conn, false);
        for sql in &saved {
            if !step(Stage::Dependent, sql, &mut failures) {
                set_quotes_as_strings(conn, true);
                break 'procedure;
            }
        }
        set_quotes_as_strings(conn, true);
        // A careful hand rebuilds a full-text index whose external content was rebuilt.
        if let Some(ft) = &case.full_text {
            if !step(
                Stage::Dependent,
                &format!("INSERT INTO {ft} ({ft}) VALUES ('rebuild')"),
                &mut failures,
            ) {
                break 'procedure;
            }
        }
        // The documented procedure says to recreate the views "affected by the schema
        // change" and leaves finding them to the reader: with legacy_alter_table=ON neither
        // the drop nor the rename re-checks views, and CREATE TRIGGER does not resolve the
        // columns its body uses, so a view or trigger over a dropped or renamed column
        // would survive here and only fail when used. SQLite checks the whole schema on a
        // rename with legacy_alter_table=OFF: done in a savepoint that is rolled back, it
        // tells whether every view and trigger still compiles.
        if probe_before {
            if let Err(e) = probe(conn) {
                failures.push((Stage::Probe, e.to_string()));
                if !keep_going {
                    break 'procedure;
                }
            }
        }
        let uses_after = uses_compile(conn);
        for (what, compiled) in &uses_before {
            let now = uses_after.iter().find(|(w, _)| w == what).map(|(_, c)| *c);
            if *compiled && now == Some(false) {
                failures.push((Stage::Probe, format!("{what} no longer compiles")));
                if !keep_going {
                    break 'procedure;
                }
            }
        }
        match fk_check(conn) {
            Err(e) => failures.push((Stage::ForeignKey, e)),
            Ok(after) => {
                let new: Vec<_> = after.iter().filter(|r| !fk_before.contains(r)).collect();
                if !new.is_empty() && copied {
                    failures.push((Stage::ForeignKey, format!("new violations: {new:?}")));
                }
            }
        }
    }
    if !keep_going {
        failures.truncate(1);
    }
    let end = if failures.is_empty() && !keep_going {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    conn.execute_batch(end).unwrap();
    conn.execute_batch("PRAGMA legacy_alter_table = OFF; PRAGMA foreign_keys = ON")
        .unwrap();
    failures
}

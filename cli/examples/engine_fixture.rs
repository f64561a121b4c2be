//! Writes, as JSON, what the engine harnesses (Cloudflare D1 under miniflare, dqlite) need
//! to run the v3_plans story on an engine that is not this process's SQLite: the setup's
//! statements, the rendered downgrade (with the rules, and without: refused), each as a
//! list of statements, and the database dumped before and after, as SQLite here makes it.
//!
//! `cargo run -p sqlite-rebuild-cli --example engine_fixture -- OUT.json [d1|dqlite] [PLANS]`

use serde_json::{json, Value as Json};
use sqlite_rebuild::rusqlite::types::ValueRef;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{ChildTables, ScriptOptions, TableRebuild};

const V3: &str = include_str!("../../examples/v3_plans.sql");
const V2: &str = include_str!("../../examples/v3_plans_v2.sql");

#[allow(dead_code)] // cli/tests/engines.rs includes this file for `fixture`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .first()
        .ok_or("usage: engine_fixture OUT.json [d1|dqlite] [PLANS]")?;
    let engine = args.get(1).map_or("d1", String::as_str);
    let plans: i64 = args.get(2).map_or(Ok(100), |n| n.parse())?;
    std::fs::write(out, serde_json::to_string_pretty(&fixture(engine, plans)?)?)?;
    Ok(())
}

/// The fixture for `engine` (`d1` or `dqlite`) with `plans` plans.
pub fn fixture(engine: &str, plans: i64) -> Result<Json, Box<dyn std::error::Error>> {
    // D1 refuses SAVEPOINT and TEMP objects and runs a batch atomically; dqlite takes a
    // plain script, and allows writable_schema.
    let options = match engine {
        "d1" => vec![("copy", ScriptOptions::new().without_transaction())],
        _ => vec![
            ("copy", ScriptOptions::new()),
            (
                "repoint",
                ScriptOptions::new().children(ChildTables::Repoint),
            ),
        ],
    };
    let mut setup: Vec<String> = schema_statements(V3);
    for i in 1..=plans {
        let phase = if i % 4 == 0 { "execute" } else { "action" };
        setup.push(format!(
            "INSERT INTO v3_plans (id, name, phase) VALUES ({i}, 'plan {i}', '{phase}')"
        ));
        for (table, col) in [
            ("plan_projects", "project"),
            ("plan_arguments", "argument"),
            ("plan_invariants", "invariant"),
        ] {
            setup.push(format!(
                "INSERT INTO {table} (id, plan_id, {col}) VALUES ({i}, {i}, 'v{i}')"
            ));
        }
    }
    let conn = Connection::open_in_memory()?;
    for st in &setup {
        conn.execute_batch(st)?;
    }
    let before = dump(&conn)?;
    let downgrade = TableRebuild::new("v3_plans").create_sql(V2);
    let with_rules = downgrade.clone().remap("phase", "action", "strategize");
    let mut scripts = serde_json::Map::new();
    for (name, options) in options {
        let rebuild = with_rules.plan(&conn)?.to_sql_statements(&options)?;
        let refused = downgrade.plan(&conn)?.to_sql_statements(&options)?;
        let script = with_rules.plan(&conn)?.to_sql_with(&options)?;
        let after = Connection::open_in_memory()?;
        for st in &setup {
            after.execute_batch(st)?;
        }
        after.execute_batch("PRAGMA foreign_keys = ON; BEGIN")?;
        for st in &rebuild {
            after.execute_batch(st)?;
        }
        after.execute_batch("COMMIT")?;
        scripts.insert(
            name.to_owned(),
            json!({"rebuild": rebuild, "refused": refused, "script": script, "after": dump(&after)?}),
        );
    }
    Ok(json!({"plans": plans, "setup": setup, "before": before, "scripts": scripts}))
}

/// The statements of the story's schema file: each ends a line with `;`, a trigger's with
/// `END;` (the file is ours, so no more is needed; scripts are split by the library).
fn schema_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_trigger = false;
    for line in sql.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("--") || trimmed.is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.starts_with("CREATE TRIGGER") {
            in_trigger = true;
        }
        let ends = if in_trigger {
            trimmed == "END;"
        } else {
            trimmed.ends_with(';')
        };
        if ends {
            out.push(current.trim().trim_end_matches(';').to_owned());
            current.clear();
            in_trigger = false;
        }
    }
    out
}

/// The schema (but the engine's own tables) and every row of every table, rowid first.
fn dump(conn: &Connection) -> Result<Json, Box<dyn std::error::Error>> {
    let schema: Vec<Json> = conn
        .prepare(
            "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY type, name",
        )?
        .query_map([], |r| {
            Ok(json!([
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?
            ]))
        })?
        .collect::<Result<_, _>>()?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut rows = serde_json::Map::new();
    for t in tables {
        let mut stmt = conn.prepare(&format!("SELECT rowid, * FROM \"{t}\" ORDER BY rowid"))?;
        let n = stmt.column_count();
        let all: Vec<Json> = stmt
            .query_map([], |r| {
                Ok(Json::Array(
                    (0..n)
                        .map(|i| match r.get_ref(i) {
                            Ok(ValueRef::Integer(v)) => json!(v),
                            Ok(ValueRef::Real(v)) => json!(v),
                            Ok(ValueRef::Text(v)) => json!(String::from_utf8_lossy(v)),
                            Ok(ValueRef::Blob(v)) => json!(v),
                            _ => Json::Null,
                        })
                        .collect(),
                ))
            })?
            .collect::<Result<_, _>>()?;
        rows.insert(t, Json::Array(all));
    }
    Ok(json!({"schema": schema, "rows": rows}))
}

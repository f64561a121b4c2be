//! The reports as JSON (`--json`): a stable, documented shape built from the library's
//! public accessors. Values are JSON's own where SQLite's map onto them (NULL, integers,
//! reals, text); a blob is `{"blob": "<hex>"}`.

use serde::Serialize;
use serde_json::{json, Map, Value as Json};
use sqlite_rebuild::rusqlite::types::Value;
use sqlite_rebuild::{
    ConstraintViolations, MovedRows, RebuildPlan, RebuildReport, ValidationReport,
};

fn value(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Integer(i) => json!(i),
        Value::Real(r) => json!(r),
        Value::Text(t) => json!(t),
        Value::Blob(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            json!({ "blob": hex })
        }
    }
}

fn values(pairs: &[(String, Value)]) -> Json {
    let mut map = Map::new();
    for (name, v) in pairs {
        map.insert(name.clone(), value(v));
    }
    Json::Object(map)
}

#[derive(Serialize)]
pub struct Validation {
    table: String,
    ok: bool,
    rows_checked: u64,
    violation_count: u64,
    dropped_columns: Vec<String>,
    defaulted_columns: Vec<String>,
    constraints: Vec<Json>,
}

fn constraint(c: &ConstraintViolations) -> Json {
    json!({
        "name": c.name(),
        "kind": c.kind().to_string(),
        "expression": c.expression(),
        "count": c.count(),
        "distinct_values": c.distinct_values().iter().map(|v| json!({
            "values": values(v.values()),
            "rows": v.rows(),
        })).collect::<Vec<_>>(),
        "allowed_values": c.allowed_values().map(|vs| vs.iter().map(value).collect::<Vec<_>>()),
        "suggested_remaps": c.suggested_remaps(),
        "samples": c.samples().iter().map(|s| json!({
            "rowid": s.rowid(),
            "values": values(s.values()),
            "collides_with": s.collides_with(),
        })).collect::<Vec<_>>(),
    })
}

pub fn validation(r: &ValidationReport) -> Validation {
    Validation {
        table: r.table().to_owned(),
        ok: r.is_ok(),
        rows_checked: r.rows_checked(),
        violation_count: r.violation_count(),
        dropped_columns: r.dropped_columns().to_vec(),
        defaulted_columns: r.defaulted_columns().to_vec(),
        constraints: r.constraints().iter().map(constraint).collect(),
    }
}

fn strategy(s: sqlite_rebuild::Strategy) -> String {
    format!("{s:?}").to_ascii_lowercase()
}

pub fn plan(p: &RebuildPlan) -> Json {
    json!({
        "table": p.table(),
        "schema": p.schema(),
        "strategy": strategy(p.strategy()),
        "target_sql": p.target_sql(),
        "steps": p.steps().iter().map(|s| json!({
            "kind": format!("{:?}", s.kind()),
            "title": s.title(),
            "sql": s.sql_with_literals(),
        })).collect::<Vec<_>>(),
        "checks": p.checks(),
        "dropped_columns": p.dropped_columns(),
        "defaulted_columns": p.defaulted_columns(),
    })
}

fn moved(m: &[MovedRows]) -> Json {
    m.iter()
        .map(|m| json!({ "from": m.from_table(), "to": m.to_table(), "rows": m.rows() }))
        .collect()
}

pub fn rebuild(r: &RebuildReport) -> Json {
    json!({
        "table": r.table(),
        "strategy": strategy(r.strategy()),
        "rows_copied": r.rows_copied(),
        "rules": r.rules().iter().map(|rule| json!({
            "column": rule.column(),
            "from": rule.from().map(value),
            "to": rule.to().map(value),
            "rows_changed": rule.rows_changed(),
        })).collect::<Vec<_>>(),
        "dropped": r.dropped(),
        "dropped_columns": r.dropped_columns(),
        "defaulted_columns": r.defaulted_columns(),
        "recreated": r.recreated(),
        "children_checked": r.children_checked(),
        "already_broken": r.already_broken(),
        "keys_followed": r.keys_followed().iter().map(|(t, n)| json!({ "table": t, "rows": n })).collect::<Vec<_>>(),
        "quarantined": moved(r.quarantined()),
        "keys_nulled": moved(r.keys_nulled()),
        "restored": moved(r.restored()),
    })
}

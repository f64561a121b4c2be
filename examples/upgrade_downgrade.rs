//! Upgrade and downgrade of the same table. The upgrade widens `task.state` and adds a
//! column; the downgrade goes back to a snapshot of the old definition. It is refused
//! first (rows hold the new states), then done twice: once with remapping rules, once with
//! the offending rows (and their comments) moved to quarantine, and finally the quarantined
//! rows are put back by upgrading again.
//!
//! Run with `cargo run --example upgrade_downgrade`.

use sqlite_rebuild::rusqlite::{Connection, Result as SqlResult};
use sqlite_rebuild::{Error, OnViolation, TableRebuild, TableSnapshot};

const V1: &str = "
    CREATE TABLE task (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('todo', 'done'))
    );
    CREATE INDEX task_by_state ON task (state);
    CREATE TABLE comment (
        id INTEGER PRIMARY KEY,
        task_id INTEGER NOT NULL REFERENCES task (id) ON DELETE CASCADE,
        body TEXT
    );";

const V2_TASK: &str = "
    CREATE TABLE task (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('todo', 'doing', 'blocked', 'done')),
        priority INTEGER NOT NULL DEFAULT 0
    )";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();

    println!("== upgrade v1 -> v2 ==");
    let (mut conn, v1) = upgraded()?;
    println!("{}", summary(&conn)?);

    // v1 has no `priority`: the downgrade lets that column's values go, by name.
    let downgrade = TableRebuild::from_snapshot(&v1)
        .drop_column("priority")
        .sample_size(2);

    println!("\n== downgrade v2 -> v1, no rules: refused, nothing changes ==");
    match downgrade.execute(&mut conn) {
        Err(Error::Violations(report)) => println!("{report}"),
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }
    println!("{}", summary(&conn)?);

    println!("\n== downgrade with rules: doing -> todo, blocked -> todo ==");
    let report = downgrade
        .clone()
        .remap("state", "doing", "todo")
        .remap("state", "blocked", "todo")
        .execute(&mut conn)?;
    print!("{report}");
    println!("{}", summary(&conn)?);

    println!("\n== (again from v2) downgrade with quarantine ==");
    let (mut conn, v1) = upgraded()?;
    let v2 = TableSnapshot::capture(&conn, "task")?;
    let report = TableRebuild::from_snapshot(&v1)
        .drop_column("priority")
        .on_violation(OnViolation::Quarantine)
        .execute(&mut conn)?;
    print!("{report}");
    println!("{}", summary(&conn)?);
    println!("first quarantined rows:");
    for line in quarantined(&conn)? {
        println!("  {line}");
    }

    println!("\n== upgrade again, restoring the quarantined rows ==");
    let report = TableRebuild::from_snapshot(&v2)
        .restore_from("task__rejected")
        .execute(&mut conn)?;
    print!("{report}");
    println!("{}", summary(&conn)?);
    Ok(())
}

/// A v1 database upgraded to v2 and used: a third of the tasks now hold v2-only states.
/// Returns the connection and the snapshot of v1 taken before the upgrade.
fn upgraded() -> Result<(Connection, TableSnapshot), Box<dyn std::error::Error>> {
    let mut conn = Connection::open_in_memory()?;
    conn.execute_batch(V1)?;
    conn.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
         INSERT INTO task (id, title, state) SELECT i, 'task ' || i, CASE i % 2 WHEN 0 THEN 'done' ELSE 'todo' END FROM n;
         INSERT INTO comment (task_id, body) SELECT id, 'first comment on ' || title FROM task;",
    )?;
    let v1 = TableSnapshot::capture(&conn, "task")?;
    TableRebuild::new("task")
        .create_sql(V2_TASK)
        .column("priority", "id % 3")
        .execute(&mut conn)?;
    conn.execute_batch(
        "UPDATE task SET state = CASE id % 6 WHEN 1 THEN 'doing' ELSE 'blocked' END WHERE id % 3 = 1;",
    )?;
    Ok((conn, v1))
}

fn summary(conn: &Connection) -> SqlResult<String> {
    let states: String = conn.query_row(
        "SELECT group_concat(state || ': ' || n, ', ') FROM
             (SELECT state, count(*) AS n FROM task GROUP BY state ORDER BY state)",
        [],
        |r| r.get(0),
    )?;
    let comments: i64 = conn.query_row("SELECT count(*) FROM comment", [], |r| r.get(0))?;
    let columns: String = conn.query_row(
        "SELECT group_concat(name, ', ') FROM pragma_table_info('task')",
        [],
        |r| r.get(0),
    )?;
    Ok(format!("task ({columns}): {states}; comments: {comments}"))
}

fn quarantined(conn: &Connection) -> SqlResult<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT id, state, sqlite_rebuild_violation FROM task__rejected ORDER BY id LIMIT 3",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(format!(
            "task {} ({}): {}",
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?
        ))
    })?;
    rows.collect()
}

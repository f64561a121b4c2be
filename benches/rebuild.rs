//! The v3_plans downgrade, measured as pairs: `sqlite-rebuild` against the equivalent
//! hand-written SQL, in the same run, on the same kind of database (a file in a temporary
//! directory, default rollback journal, `synchronous=FULL`).
//!
//! Fixture: `examples/v3_plans.sql` with N plans and 3N rows in each of the three child
//! tables; target `examples/v3_plans_v2.sql`. Each fixture is built once per size into a
//! template file; every iteration copies the template to a fresh path and opens a
//! connection in untimed setup, so only the rebuild itself is measured.
//!
//! - `execute/N`: `execute` with the three remap rules vs the hand-written rebuild.
//! - `refusal-30pct/N`: `execute` with no rules on a database where 30% of the plans
//!   violate (returns `Error::Violations` with the full report) vs the hand-written
//!   rebuild of `execute/N` on the clean fixture.
//! - `validate/N`: `validate` with the rules (a dry run) vs the hand-written rebuild.
//! - `constraint-only/N`: a new CHECK that every row satisfies (same columns and types):
//!   `execute` in place, `execute` forced to copy (`SQLITE_DBCONFIG_DEFENSIVE`), and the
//!   hand-written copy and swap for the same change.
//!
//! - `script-closure/N`: the default script (`to_sql`), run with foreign keys on, which
//!   copies v3_plans and its three child tables, vs the hand-written SQL that copies the
//!   same four tables with foreign keys on (no pragma switch, as in a framework's migration).
//! - `script-repoint/N`: the repointing script (`ChildTables::Repoint`), foreign keys on,
//!   vs the enforcement-off script (`ChildTables::EnforcementOff`), foreign keys off.
//!
//! N = 100 000 by default; `SQLITE_REBUILD_BENCH_FULL=1` for N = 1 000 000;
//! `SQLITE_REBUILD_BENCH_SMOKE=1` for a quick check (N = 2 000, short measurement; it wins
//! over FULL). See BENCHMARKS.md for the commands and figures.

mod common;

use common::*;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode};
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{ChildTables, Error, ScriptOptions, TableRebuild};
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

/// The refusal fixture: plans with i % 10 in (0, 1, 2) violate (phase, state, or both, so
/// the report names both constraints); the other 70% are valid v2 rows.
const REFUSAL_PHASE: &str = "CASE WHEN i % 10 IN (0, 2) THEN 'action' \
     WHEN i % 4 = 0 THEN 'strategize' WHEN i % 4 = 1 THEN 'execute' \
     WHEN i % 4 = 2 THEN 'apply' ELSE 'applied' END";
const REFUSAL_STATE: &str = "CASE WHEN i % 10 = 1 THEN 'applied' \
     WHEN i % 10 = 2 THEN 'constrained' \
     WHEN i % 3 = 0 THEN 'queued' WHEN i % 3 = 1 THEN 'processing' ELSE 'complete' END";

struct Mode {
    n: i64,
    sample_size: usize,
    warm_up: Duration,
    measurement: Duration,
}

fn mode() -> Mode {
    let on = |var: &str| std::env::var(var).is_ok_and(|v| !v.is_empty() && v != "0");
    if on("SQLITE_REBUILD_BENCH_SMOKE") {
        Mode {
            n: 2_000,
            sample_size: 10,
            warm_up: Duration::from_millis(200),
            measurement: Duration::from_millis(500),
        }
    } else if on("SQLITE_REBUILD_BENCH_FULL") {
        Mode {
            n: 1_000_000,
            sample_size: 10,
            warm_up: Duration::from_secs(1),
            measurement: Duration::from_secs(45),
        }
    } else {
        Mode {
            n: 100_000,
            sample_size: 20,
            warm_up: Duration::from_secs(1),
            measurement: Duration::from_secs(10),
        }
    }
}

/// The v3 table with one more CHECK, which every fixture row satisfies.
fn v3_with_check() -> String {
    let v3 = V3_SCHEMA.split(';').next().unwrap();
    let with = v3.replace(
        "updated_at TEXT,",
        "updated_at TEXT, CONSTRAINT named CHECK (name <> ''),",
    );
    assert_ne!(with, v3);
    with
}

/// The hand-written copy and swap for the constraint-only change.
fn hand_written_check_sql() -> String {
    let create = v3_with_check().replacen("CREATE TABLE v3_plans", "CREATE TABLE v3_plans__new", 1);
    format!(
        "PRAGMA foreign_keys = OFF;
BEGIN;
{create};
INSERT INTO v3_plans__new (id, name, phase, processing_state, updated_at)
SELECT id, name, phase, processing_state, updated_at FROM v3_plans;
DROP TABLE v3_plans;
PRAGMA legacy_alter_table = ON;
ALTER TABLE v3_plans__new RENAME TO v3_plans;
PRAGMA legacy_alter_table = OFF;
{INDEX_SQL};
{TRIGGER_SQL};
COMMIT;
PRAGMA foreign_keys = ON;"
    )
}

/// A fresh copy of `template`, synced to disk so that the measured commit's fsync does not
/// also write out the copy, and a connection to it.
fn fresh_copy(template: &Path) -> (TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    fs::copy(template, &path).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .sync_all()
        .unwrap();
    let conn = Connection::open(&path).unwrap();
    (dir, conn)
}

fn int(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Untimed, once per size: both sides produce the same database, and the refusal and the
/// dry run report what they should.
fn check_equivalence(clean: &Path, violating: &Path, n: i64) {
    let (_a, mut by_crate) = fresh_copy(clean);
    let (b, hand) = fresh_copy(clean);
    let report = story_rebuild().execute(&mut by_crate).unwrap();
    assert_eq!(report.rows_copied(), n as u64);
    hand.execute_batch(&hand_written_sql()).unwrap();
    drop(hand);
    by_crate
        .execute(
            "ATTACH ?1 AS hand",
            [b.path().join("plans.db").to_str().unwrap()],
        )
        .unwrap();
    for sql in [
        "SELECT count(*) FROM (SELECT * FROM main.v3_plans EXCEPT SELECT * FROM hand.v3_plans)",
        "SELECT count(*) FROM (SELECT * FROM hand.v3_plans EXCEPT SELECT * FROM main.v3_plans)",
        "SELECT count(*) FROM (SELECT type, name, tbl_name FROM main.sqlite_schema
             EXCEPT SELECT type, name, tbl_name FROM hand.sqlite_schema)",
        "SELECT count(*) FROM (SELECT type, name, tbl_name FROM hand.sqlite_schema
             EXCEPT SELECT type, name, tbl_name FROM main.sqlite_schema)",
        "SELECT count(*) FROM (SELECT name, seq FROM main.sqlite_sequence
             EXCEPT SELECT name, seq FROM hand.sqlite_sequence)",
    ] {
        assert_eq!(int(&by_crate, sql), 0, "the two rebuilds differ: {sql}");
    }
    for (table, _) in CHILDREN {
        assert_eq!(
            int(&by_crate, &format!("SELECT count(*) FROM main.{table}")),
            3 * n
        );
        assert_eq!(
            int(&by_crate, &format!("SELECT count(*) FROM hand.{table}")),
            3 * n
        );
    }
    assert_eq!(
        int(&by_crate, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );

    let (_c, conn) = fresh_copy(clean);
    assert!(story_rebuild().validate(&conn).unwrap().is_ok());

    let (_d, mut conn) = fresh_copy(violating);
    let expected = int(
        &conn,
        "SELECT count(*) FROM v3_plans
         WHERE phase = 'action' OR processing_state IN ('applied', 'constrained')",
    );
    // i % 10 in (0, 1, 2) for i in 1..=n: 30% of the plans.
    assert_eq!(expected, n / 10 + (n + 9) / 10 + (n + 8) / 10);
    match TableRebuild::new("v3_plans")
        .create_sql(V2_PLANS)
        .execute(&mut conn)
    {
        Err(Error::Violations(r)) => {
            assert_eq!(r.violation_count(), expected as u64);
            assert_eq!(r.rows_checked(), n as u64);
            assert_eq!(r.constraints().len(), 2);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn hand_written(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    clean: &Path,
) {
    let sql = hand_written_sql();
    c.bench_function("hand-written", |b| {
        b.iter_batched(
            || fresh_copy(clean),
            |(dir, conn)| {
                conn.execute_batch(&sql).unwrap();
                (dir, conn)
            },
            BatchSize::PerIteration,
        )
    });
}

fn benches(c: &mut Criterion) {
    let m = mode();
    let n = m.n;
    let templates = tempfile::tempdir().unwrap();
    let clean: PathBuf = templates.path().join(format!("clean-{n}.db"));
    let violating: PathBuf = templates.path().join(format!("violating-{n}.db"));
    let started = std::time::Instant::now();
    build_template(&clean, n, STORY_PHASE, STORY_STATE);
    build_template(&violating, n, REFUSAL_PHASE, REFUSAL_STATE);
    check_equivalence(&clean, &violating, n);
    eprintln!(
        "fixtures: {n} plans, {} rows in each child table, {} MiB per database; built and checked in {:.1?} (SQLite {})",
        3 * n,
        fs::metadata(&clean).unwrap().len() >> 20,
        started.elapsed(),
        sqlite_rebuild::rusqlite::version()
    );

    let configure = |g: &mut criterion::BenchmarkGroup<'_, _>| {
        g.sample_size(m.sample_size)
            .warm_up_time(m.warm_up)
            .measurement_time(m.measurement)
            .sampling_mode(SamplingMode::Flat);
    };

    let mut g = c.benchmark_group(format!("execute/{n}"));
    configure(&mut g);
    let rebuild = story_rebuild();
    g.bench_function("sqlite-rebuild", |b| {
        b.iter_batched(
            || fresh_copy(&clean),
            |(dir, mut conn)| {
                rebuild.execute(&mut conn).unwrap();
                (dir, conn)
            },
            BatchSize::PerIteration,
        )
    });
    hand_written(&mut g, &clean);
    g.finish();

    let mut g = c.benchmark_group(format!("refusal-30pct/{n}"));
    configure(&mut g);
    let no_rules = TableRebuild::new("v3_plans").create_sql(V2_PLANS);
    g.bench_function("sqlite-rebuild", |b| {
        b.iter_batched(
            || fresh_copy(&violating),
            |(dir, mut conn)| {
                let refused = no_rules.execute(&mut conn);
                assert!(matches!(refused, Err(Error::Violations(_))));
                (dir, conn, refused)
            },
            BatchSize::PerIteration,
        )
    });
    hand_written(&mut g, &clean);
    g.finish();

    let mut g = c.benchmark_group(format!("validate/{n}"));
    configure(&mut g);
    g.bench_function("sqlite-rebuild", |b| {
        b.iter_batched(
            || fresh_copy(&clean),
            |(dir, conn)| {
                let report = rebuild.validate(&conn).unwrap();
                assert!(report.is_ok());
                (dir, conn, report)
            },
            BatchSize::PerIteration,
        )
    });
    hand_written(&mut g, &clean);
    g.finish();

    let mut g = c.benchmark_group(format!("constraint-only/{n}"));
    configure(&mut g);
    let add_check = TableRebuild::new("v3_plans").create_sql(v3_with_check());
    for copy in [false, true] {
        let name = if copy {
            "sqlite-rebuild (copy)"
        } else {
            "sqlite-rebuild (in place)"
        };
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let (dir, conn) = fresh_copy(&clean);
                    conn.set_db_config(
                        sqlite_rebuild::rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE,
                        copy,
                    )
                    .unwrap();
                    (dir, conn)
                },
                |(dir, mut conn)| {
                    let report = add_check.execute(&mut conn).unwrap();
                    assert_eq!(report.in_place(), !copy);
                    (dir, conn)
                },
                BatchSize::PerIteration,
            )
        });
    }
    let sql = hand_written_check_sql();
    g.bench_function("hand-written", |b| {
        b.iter_batched(
            || fresh_copy(&clean),
            |(dir, conn)| {
                conn.execute_batch(&sql).unwrap();
                (dir, conn)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// The fast paths, each paired with the hand-written ALTER TABLE that does the same and
/// with the copy it avoids (`force_copy`): `(group, rebuild, hand-written SQL)`.
fn fast_paths() -> Vec<(&'static str, TableRebuild, &'static str)> {
    let mut paths = vec![
        (
            "alter-add-column",
            TableRebuild::new("v3_plans").add_column("priority INTEGER"),
            "ALTER TABLE v3_plans ADD COLUMN priority INTEGER",
        ),
        (
            "alter-rename-column",
            TableRebuild::new("v3_plans").rename_column("updated_at", "modified_at"),
            "ALTER TABLE v3_plans RENAME COLUMN updated_at TO \"modified_at\"",
        ),
        (
            "alter-drop-column",
            TableRebuild::new("v3_plans").drop_column("updated_at"),
            "ALTER TABLE v3_plans DROP COLUMN updated_at",
        ),
    ];
    // ADD CONSTRAINT is SQLite 3.53's.
    if sqlite_rebuild::rusqlite::version_number() >= 3_053_000 {
        paths.push((
            "alter-add-check",
            TableRebuild::new("v3_plans").add_check("named", "name <> ''"),
            "ALTER TABLE v3_plans ADD CONSTRAINT \"named\" CHECK (name <> '')",
        ));
    }
    paths
}

/// Untimed: the fast path, the forced copy and the hand-written ALTER TABLE leave the same
/// rows and the same table definition (the copy's rename quotes the table's name).
fn check_fast_path(clean: &Path, rebuild: &TableRebuild, hand_sql: &str) {
    let table_sql = |conn: &Connection| -> String {
        conn.query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'v3_plans'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let rows =
        |conn: &Connection| -> i64 { int(conn, "SELECT count(*) FROM (SELECT * FROM v3_plans)") };
    let (_a, mut fast) = fresh_copy(clean);
    let report = rebuild.execute(&mut fast).unwrap();
    assert_eq!(report.strategy(), sqlite_rebuild::Strategy::Alter);
    let (_b, mut copied) = fresh_copy(clean);
    let copy = rebuild
        .clone()
        .force_copy(true)
        .execute(&mut copied)
        .unwrap();
    assert_eq!(copy.strategy(), sqlite_rebuild::Strategy::Copy);
    let (_c, hand) = fresh_copy(clean);
    hand.execute_batch(hand_sql).unwrap();
    assert_eq!(table_sql(&fast), table_sql(&hand));
    assert_eq!(
        table_sql(&copied).replacen("CREATE TABLE \"v3_plans\"", "CREATE TABLE v3_plans", 1),
        table_sql(&hand)
    );
    assert_eq!(rows(&fast), rows(&hand));
    assert_eq!(rows(&copied), rows(&hand));
}

fn fast_path_benches(c: &mut Criterion) {
    let m = mode();
    let n = m.n;
    let templates = tempfile::tempdir().unwrap();
    let clean: PathBuf = templates.path().join(format!("clean-{n}.db"));
    build_template(&clean, n, STORY_PHASE, STORY_STATE);
    for (group, rebuild, hand_sql) in fast_paths() {
        check_fast_path(&clean, &rebuild, hand_sql);
        let mut g = c.benchmark_group(format!("{group}/{n}"));
        // Each iteration copies the template first (untimed): a fast path measured as long
        // as a copy would take thousands of copies of the file.
        g.sample_size(m.sample_size)
            .warm_up_time(m.warm_up.min(Duration::from_millis(300)))
            .measurement_time(m.measurement.min(Duration::from_secs(2)))
            .sampling_mode(SamplingMode::Flat);
        for (name, rb) in [
            ("sqlite-rebuild (ALTER TABLE)", rebuild.clone()),
            ("sqlite-rebuild (copy)", rebuild.clone().force_copy(true)),
        ] {
            g.bench_function(name, |b| {
                b.iter_batched(
                    || fresh_copy(&clean),
                    |(dir, mut conn)| {
                        rb.execute(&mut conn).unwrap();
                        (dir, conn)
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        g.bench_function("hand-written ALTER TABLE", |b| {
            b.iter_batched(
                || fresh_copy(&clean),
                |(dir, conn)| {
                    conn.execute_batch(hand_sql).unwrap();
                    (dir, conn)
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}

/// The family copy written by hand, as a migration that cannot switch foreign keys off
/// would: new parent and children (referencing the new parent), the rows copied with the
/// remaps, the view that names them dropped, the old tables dropped children first, the new
/// ones renamed into place, the index, triggers and view recreated.
fn hand_written_closure_sql() -> String {
    let create = V2_PLANS.replacen("CREATE TABLE v3_plans", "CREATE TABLE v3_plans__new", 1);
    let mut children = String::new();
    for (table, col) in CHILDREN {
        children.push_str(&format!(
            "CREATE TABLE {table}__new (id INTEGER PRIMARY KEY, plan_id INTEGER NOT NULL REFERENCES v3_plans__new (id) ON DELETE CASCADE, {col} TEXT NOT NULL);
INSERT INTO {table}__new (id, plan_id, {col}) SELECT id, plan_id, {col} FROM {table};
"
        ));
    }
    let view = V3_SCHEMA
        .split(';')
        .find(|s| s.contains("CREATE VIEW"))
        .unwrap()
        .trim();
    let project_trigger = V3_SCHEMA
        .split("CREATE TRIGGER")
        .find(|s| s.contains("plan_projects_deleted"))
        .map(|s| format!("CREATE TRIGGER{}", s.split("END;").next().unwrap()))
        .unwrap();
    format!(
        "BEGIN;
{create};
{COPY_PLANS_SQL}
{children}DROP VIEW active_plans;
DROP TABLE plan_projects; DROP TABLE plan_arguments; DROP TABLE plan_invariants;
DROP TABLE v3_plans;
ALTER TABLE v3_plans__new RENAME TO v3_plans;
ALTER TABLE plan_projects__new RENAME TO plan_projects;
ALTER TABLE plan_arguments__new RENAME TO plan_arguments;
ALTER TABLE plan_invariants__new RENAME TO plan_invariants;
{INDEX_SQL};
{TRIGGER_SQL};
{project_trigger}END;
{view};
COMMIT;"
    )
}

/// Untimed, once per size: each script and its counterpart give the same rows.
fn check_scripts(clean: &Path, scripts: &[(&str, &str, bool)], n: i64) {
    let mut dumps = Vec::new();
    for (name, sql, fk) in scripts {
        let (_dir, conn) = fresh_copy(clean);
        conn.execute_batch(if *fk {
            "PRAGMA foreign_keys = ON"
        } else {
            "PRAGMA foreign_keys = OFF"
        })
        .unwrap();
        conn.execute_batch(sql)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for (table, _) in CHILDREN {
            assert_eq!(
                int(&conn, &format!("SELECT count(*) FROM {table}")),
                3 * n,
                "{name}"
            );
        }
        assert_eq!(
            int(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
            0
        );
        assert_eq!(int(&conn, "SELECT count(*) FROM plan_events"), 0, "{name}");
        let digest: Vec<i64> = [
            "SELECT total(id * length(phase || processing_state || name)) FROM v3_plans",
            "SELECT total(id * plan_id) FROM plan_projects",
            "SELECT count(*) FROM active_plans",
            "SELECT count(*) FROM sqlite_schema",
        ]
        .iter()
        .map(|q| conn.query_row(q, [], |r| r.get::<_, f64>(0)).unwrap() as i64)
        .collect();
        dumps.push(digest);
    }
    assert!(dumps.windows(2).all(|w| w[0] == w[1]), "{dumps:?}");
}

fn script_benches(c: &mut Criterion) {
    let m = mode();
    let n = m.n;
    let templates = tempfile::tempdir().unwrap();
    let clean: PathBuf = templates.path().join(format!("clean-{n}.db"));
    build_template(&clean, n, STORY_PHASE, STORY_STATE);
    let (_dir, conn) = fresh_copy(&clean);
    let plan = story_rebuild().plan(&conn).unwrap();
    let closure = plan.to_sql().unwrap();
    let repoint = plan
        .to_sql_with(&ScriptOptions::new().children(ChildTables::Repoint))
        .unwrap();
    let off = plan
        .to_sql_with(&ScriptOptions::new().children(ChildTables::EnforcementOff))
        .unwrap();
    let hand = hand_written_closure_sql();
    check_scripts(
        &clean,
        &[
            ("closure script", &closure, true),
            ("hand-written closure", &hand, true),
            ("repoint script", &repoint, true),
            ("enforcement-off script", &off, false),
        ],
        n,
    );
    let configure = |g: &mut criterion::BenchmarkGroup<'_, _>| {
        g.sample_size(m.sample_size)
            .warm_up_time(m.warm_up)
            .measurement_time(m.measurement)
            .sampling_mode(SamplingMode::Flat);
    };
    let run = |g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
               name: &str,
               sql: &str,
               fk: bool| {
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let (dir, conn) = fresh_copy(&clean);
                    conn.execute_batch(if fk {
                        "PRAGMA foreign_keys = ON"
                    } else {
                        "PRAGMA foreign_keys = OFF"
                    })
                    .unwrap();
                    (dir, conn)
                },
                |(dir, conn)| {
                    conn.execute_batch(sql).unwrap();
                    (dir, conn)
                },
                BatchSize::PerIteration,
            )
        });
    };
    let mut g = c.benchmark_group(format!("script-closure/{n}"));
    configure(&mut g);
    run(
        &mut g,
        "sqlite-rebuild script (copies the family)",
        &closure,
        true,
    );
    run(&mut g, "hand-written (copies the family)", &hand, true);
    g.finish();
    let mut g = c.benchmark_group(format!("script-repoint/{n}"));
    configure(&mut g);
    run(&mut g, "repoint script (foreign keys on)", &repoint, true);
    run(
        &mut g,
        "enforcement-off script (foreign keys off)",
        &off,
        false,
    );
    g.finish();
}

criterion_group!(rebuild, benches, fast_path_benches, script_benches);
criterion_main!(rebuild);

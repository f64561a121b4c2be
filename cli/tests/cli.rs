//! The binary against real database files: every subcommand, each exit code, the JSON read
//! back, a read-only check, and bad input (one line on stderr, exit 2, nothing changed).

use assert_cmd::Command;
use predicates::prelude::*;
use sqlite_rebuild::rusqlite::Connection;
use std::path::{Path, PathBuf};

const V3: &str = include_str!("../../examples/v3_plans.sql");
const V2: &str = "../examples/v3_plans_v2.sql";

/// The story database: 20 plans, 15 in phase 'action', 6 in state 'applied', a child row
/// each.
fn story(dir: &Path) -> PathBuf {
    let path = dir.join("story.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(V3).unwrap();
    for i in 1..=20i64 {
        conn.execute(
            "INSERT INTO v3_plans (id, name, phase, processing_state) VALUES (?1, 'p' || ?1, ?2, ?3)",
            (
                i,
                if i % 4 == 0 { "execute" } else { "action" },
                if i % 3 == 0 { "applied" } else { "queued" },
            ),
        )
        .unwrap();
        conn.execute(
            "INSERT INTO plan_projects (plan_id, project) VALUES (?1, 'x')",
            [i],
        )
        .unwrap();
    }
    path
}

/// Every schema row and every row of every table, to compare before and after.
fn dump(path: &Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut out: Vec<String> = Vec::new();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut s = conn
        .prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY name")
        .unwrap();
    let rows = s
        .query_map([], |r| {
            Ok(format!(
                "{} {} {:?}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?
            ))
        })
        .unwrap();
    out.extend(rows.map(Result::unwrap));
    for t in tables {
        let mut s = conn
            .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY rowid"))
            .unwrap();
        let n = s.column_count();
        let rows = s
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap();
        out.extend(rows.map(|r| format!("{t}: {}", r.unwrap())));
    }
    out
}

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("sqlite-rebuild").unwrap();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

const RULES: [&str; 8] = [
    "--remap",
    "phase",
    "action",
    "strategize",
    "--remap",
    "processing_state",
    "applied",
    "complete",
];

#[test]
fn check_reports_and_exits_1_then_0_with_the_rules_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = story(dir.path());
    let before = dump(&db);
    bin()
        .args(["check", db.to_str().unwrap(), "v3_plans", "--target", V2])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("CHECK ck_v3_plans_phase: 15 rows"))
        .stdout(predicate::str::contains("\"phase\" = 'action': 15 rows"));
    bin()
        .args(["check", db.to_str().unwrap(), "v3_plans", "--target", V2])
        .args(RULES)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("all 20 rows"));
    assert_eq!(dump(&db), before);
}

#[test]
fn check_json_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = story(dir.path());
    let out = bin()
        .args([
            "check",
            db.to_str().unwrap(),
            "v3_plans",
            "--target",
            V2,
            "--json",
        ])
        .args(["--sample-size", "2"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["rows_checked"], 20);
    assert_eq!(report["violation_count"], 16);
    let phase = &report["constraints"][0];
    assert_eq!(phase["name"], "ck_v3_plans_phase");
    assert_eq!(phase["kind"], "CHECK");
    assert_eq!(phase["count"], 15);
    assert_eq!(phase["distinct_values"][0]["values"]["phase"], "action");
    assert_eq!(phase["distinct_values"][0]["rows"], 15);
    assert_eq!(phase["samples"].as_array().unwrap().len(), 2);
    assert_eq!(phase["samples"][0]["rowid"], 1);
    assert_eq!(phase["allowed_values"][0], "strategize");
}

/// A read-only file: check, plan and script open it read-only and work; apply is refused
/// with one line (where the permission holds: not for root).
#[test]
fn the_dry_runs_work_on_a_read_only_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = story(dir.path());
    let before = dump(&db);
    let bytes = std::fs::read(&db).unwrap();
    let mut perms = std::fs::metadata(&db).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&db, perms).unwrap();
    for sub in ["check", "plan", "script"] {
        bin()
            .args([sub, db.to_str().unwrap(), "v3_plans", "--target", V2])
            .args(RULES)
            .assert()
            .code(0);
    }
    // The file's bytes are as they were, and no journal was left beside it.
    assert_eq!(std::fs::read(&db).unwrap(), bytes);
    assert!(!dir.path().join("story.db-journal").exists());
    // Root writes a read-only file anyway: only where the permission holds is apply refused.
    if std::fs::OpenOptions::new().write(true).open(&db).is_err() {
        bin()
            .args(["apply", db.to_str().unwrap(), "v3_plans", "--target", V2])
            .args(RULES)
            .assert()
            .code(2)
            .stderr(predicate::str::starts_with("sqlite-rebuild: "));
    }
    assert_eq!(dump(&db), before);
}

#[test]
fn plan_and_script_show_the_steps() {
    let dir = tempfile::tempdir().unwrap();
    let db = story(dir.path());
    bin()
        .args([
            "plan",
            db.to_str().unwrap(),
            "v3_plans",
            "--add-column",
            "priority INTEGER",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "ALTER TABLE \"main\".\"v3_plans\" ADD COLUMN priority INTEGER",
        ));
    let out = bin()
        .args([
            "plan",
            db.to_str().unwrap(),
            "v3_plans",
            "--target",
            V2,
            "--json",
        ])
        .args(RULES)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let plan: serde_json::Value = serde_json::from_slice(&out).unwrap();
    // Three in four rows rewritten: the copy is faster than rewriting in place.
    assert_eq!(plan["strategy"], "copy");
    assert!(plan["target_sql"]
        .as_str()
        .unwrap()
        .starts_with("CREATE TABLE v3_plans"));
    let script = dir.path().join("down.sql");
    bin()
        .args(["script", db.to_str().unwrap(), "v3_plans", "--target", V2])
        .args(RULES)
        .args(["-o", script.to_str().unwrap()])
        .assert()
        .code(0);
    // The script, run as plain SQL, does the downgrade.
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    conn.execute_batch(&std::fs::read_to_string(&script).unwrap())
        .unwrap();
    let left: i64 = conn
        .query_row(
            "SELECT count(*) FROM v3_plans WHERE phase = 'action'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0);
}

/// `--children` and `--no-transaction` choose the script; each runs where it says.
#[test]
fn script_flags_choose_how_children_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = story(dir.path());
    let render = |extra: &[&str]| {
        let out = bin()
            .args(["script", db.to_str().unwrap(), "v3_plans", "--target", V2])
            .args(RULES)
            .args(extra)
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    };
    let copy = render(&[]);
    let repoint = render(&["--children", "repoint"]);
    let off = render(&["--children", "enforcement-off"]);
    let d1 = render(&["--no-transaction"]);
    assert!(copy.contains("they are copied too"));
    assert!(repoint.contains("writable_schema"));
    assert!(off.contains("run this with foreign key enforcement OFF"));
    let statements: Vec<&str> = d1.lines().filter(|l| !l.starts_with("--")).collect();
    assert!(statements
        .iter()
        .all(|l| !l.starts_with("SAVEPOINT") && !l.starts_with("RELEASE")));
    // With enforcement on, the default and the repointing script keep every child row;
    // the enforcement-off one refuses.
    for (script, works) in [(&copy, true), (&repoint, true), (&off, false)] {
        let copy_db = dir.path().join("run.db");
        std::fs::copy(&db, &copy_db).unwrap();
        let conn = Connection::open(&copy_db).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        assert_eq!(conn.execute_batch(script).is_ok(), works);
        let children: i64 = conn
            .query_row("SELECT count(*) FROM plan_projects", [], |r| r.get(0))
            .unwrap();
        let before: i64 = Connection::open(&db)
            .unwrap()
            .query_row("SELECT count(*) FROM plan_projects", [], |r| r.get(0))
            .unwrap();
        assert_eq!(children, before);
        drop(conn);
        std::fs::remove_file(&copy_db).unwrap();
    }
    bin()
        .args(["script", db.to_str().unwrap(), "v3_plans", "--target", V2])
        .args(["--children", "sideways"])
        .assert()
        .code(2);
}

#[test]
fn apply_refuses_with_1_then_applies_with_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let db = story(dir.path());
    let before = dump(&db);
    bin()
        .args(["apply", db.to_str().unwrap(), "v3_plans", "--target", V2])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("Nothing was changed"));
    assert_eq!(dump(&db), before);
    let out = bin()
        .args([
            "apply",
            db.to_str().unwrap(),
            "v3_plans",
            "--target",
            V2,
            "--json",
        ])
        .args(RULES)
        .assert()
        .code(0)
        // Not a terminal: plain progress lines.
        .stderr(predicate::str::contains("copy: 20/20"))
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["rows_copied"], 20);
    assert_eq!(report["rules"][0]["rows_changed"], 15);
    assert_eq!(report["rules"][1]["rows_changed"], 6);
    let conn = Connection::open(&db).unwrap();
    let children: i64 = conn
        .query_row("SELECT count(*) FROM plan_projects", [], |r| r.get(0))
        .unwrap();
    assert_eq!(children, 20);
}

#[test]
fn apply_quarantines_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = story(dir.path());
    bin()
        .args([
            "apply",
            db.to_str().unwrap(),
            "v3_plans",
            "--target",
            V2,
            "--quarantine",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("quarantined"));
    let conn = Connection::open(&db).unwrap();
    let moved: i64 = conn
        .query_row("SELECT count(*) FROM v3_plans__rejected", [], |r| r.get(0))
        .unwrap();
    assert_eq!(moved, 16);
}

/// Rules on one column compose in the order given, across flags.
#[test]
fn rules_keep_their_order_across_flags() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, NULL), (2, 'a');")
        .unwrap();
    drop(conn);
    // NULL -> 'a', then 'a' -> 'b': both rows end 'b'. The other order would leave one 'a'.
    bin()
        .args(["apply", db.to_str().unwrap(), "t", "--set-not-null", "v"])
        .args(["--remap-null", "v", "a", "--remap", "v", "a", "b"])
        .assert()
        .code(0);
    let conn = Connection::open(&db).unwrap();
    let bs: i64 = conn
        .query_row("SELECT count(*) FROM t WHERE v = 'b'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(bs, 2);
}

#[test]
fn bad_input_is_one_line_exit_2_and_nothing_changed() {
    let dir = tempfile::tempdir().unwrap();
    let db = story(dir.path());
    let before = dump(&db);
    let not_db = dir.path().join("not.db");
    std::fs::write(
        &not_db,
        "this is not a database, just text that is long enough to look like a header",
    )
    .unwrap();
    let bad_target = dir.path().join("bad.sql");
    std::fs::write(
        &bad_target,
        "CREATE TABLE v3_plans (id INTEGER PRIMARY KEY,",
    )
    .unwrap();
    let missing = dir.path().join("missing.db");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["check", missing.to_str().unwrap(), "t", "--target", V2],
            "no database file",
        ),
        (
            vec!["check", not_db.to_str().unwrap(), "t", "--target", V2],
            "not a usable SQLite database",
        ),
        (
            vec!["check", db.to_str().unwrap(), "nope", "--target", V2],
            "no table \"nope\"",
        ),
        (
            vec![
                "check",
                db.to_str().unwrap(),
                "v3_plans",
                "--target",
                bad_target.to_str().unwrap(),
            ],
            "target SQL",
        ),
        (
            vec![
                "apply",
                db.to_str().unwrap(),
                "v3_plans",
                "--target",
                V2,
                "--remap",
                "nope",
                "a",
                "b",
            ],
            "nope",
        ),
        (
            vec![
                "apply",
                db.to_str().unwrap(),
                "v3_plans",
                "--rename-column",
                "nope",
                "x",
            ],
            "no column \"nope\"",
        ),
        (vec!["plan", db.to_str().unwrap(), "v3_plans"], "no target"),
    ];
    for (args, needle) in cases {
        let out = bin().args(&args).assert().code(2).get_output().clone();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(out.stdout.is_empty());
    }
    assert!(!missing.exists(), "no database file is created");
    assert_eq!(dump(&db), before);
}

#[test]
fn the_target_can_come_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let db = story(dir.path());
    bin()
        .args(["check", db.to_str().unwrap(), "v3_plans", "--target", "-"])
        .args(RULES)
        .write_stdin(
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(V2)).unwrap(),
        )
        .assert()
        .code(0);
}

/// `-v` shows the library's log on stderr; `--schema` rebuilds a table of an attached or
/// temp database (here: a table named like one in main, in an attached file).
#[test]
fn verbose_logs_and_schema_selects_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = story(dir.path());
    bin()
        .args([
            "-v",
            "check",
            db.to_str().unwrap(),
            "v3_plans",
            "--target",
            V2,
        ])
        .args(RULES)
        .assert()
        .code(0)
        .stderr(predicate::str::contains("INFO"));
    bin()
        .args([
            "check",
            db.to_str().unwrap(),
            "v3_plans",
            "--target",
            V2,
            "--schema",
            "nope",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nope"));
    // An attached database's table of the same name: only it changes.
    let other = dir.path().join("other.db");
    let conn = Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE v3_plans (id INTEGER PRIMARY KEY, phase TEXT); INSERT INTO v3_plans VALUES (1, 'a');")
        .unwrap();
    drop(conn);
    let before = dump(&db);
    let attach = format!("aux1={}", other.display());
    bin()
        .args([
            "apply",
            db.to_str().unwrap(),
            "v3_plans",
            "--attach",
            &attach,
            "--schema",
            "aux1",
        ])
        .args(["--add-check", "short", "length(phase) < 3"])
        .assert()
        .code(0);
    assert_eq!(dump(&db), before);
    let conn = Connection::open(&other).unwrap();
    let sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'v3_plans'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        sql.contains("CONSTRAINT \"short\" CHECK (length(phase) < 3)"),
        "{sql}"
    );
}

/// A value can become NULL (--remap-to-null), and the rule is counted.
#[test]
fn a_value_can_become_null() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'n/a'), (2, 'x');")
        .unwrap();
    drop(conn);
    let out = bin()
        .args([
            "apply",
            db.to_str().unwrap(),
            "t",
            "--add-check",
            "real",
            "v <> 'n/a'",
        ])
        .args(["--remap-to-null", "v", "n/a", "--json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["rules"][0]["to"], serde_json::Value::Null);
    assert_eq!(report["rules"][0]["rows_changed"], 1);
    let conn = Connection::open(&db).unwrap();
    let nulls: i64 = conn
        .query_row("SELECT count(*) FROM t WHERE v IS NULL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(nulls, 1);
}

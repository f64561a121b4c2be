//! The rendered scripts on engines where foreign keys cannot be switched off: Cloudflare D1
//! (miniflare's workerd, from npm: ecosystem/d1) and a 3-node dqlite cluster (Debian's
//! go-dqlite: ecosystem/dqlite). Each harness gets the story's fixture
//! (examples/engine_fixture.rs) and checks every row, trigger, index and view against what
//! SQLite makes of the same statements. `.ci/run` installs both; where one is missing the
//! test says so and passes.

#[path = "../examples/engine_fixture.rs"]
mod engine_fixture;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn on_path(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Says what was skipped where `cargo test` shows it: libtest captures `eprintln!` of a
/// passing test, not a write to the process's stderr.
fn skipped(why: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

fn write_fixture(dir: &Path, engine: &str) -> PathBuf {
    let path = dir.join(format!("{engine}.json"));
    let fixture = engine_fixture::fixture(engine, 100).unwrap();
    std::fs::write(&path, serde_json::to_string(&fixture).unwrap()).unwrap();
    path
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    eprintln!("{}", text.trim());
}

#[test]
fn cloudflare_d1_under_miniflare() {
    let d1 = repo().join("ecosystem/d1");
    if !on_path("node") || !d1.join("node_modules/miniflare").exists() {
        skipped("Cloudflare D1 needs node and `npm ci` in ecosystem/d1 (miniflare)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fixture = write_fixture(dir.path(), "d1");
    run(Command::new("node").arg(d1.join("run.mjs")).arg(&fixture));
}

#[test]
fn dqlite_three_node_cluster() {
    let missing: Vec<&str> = ["dqlite-demo", "dqlite", "go"]
        .into_iter()
        .filter(|p| !on_path(p))
        .collect();
    if !missing.is_empty()
        || !Path::new("/usr/share/gocode/src/github.com/canonical/go-dqlite").exists()
    {
        skipped(&format!(
            "dqlite needs Debian's go-dqlite, golang-go and golang-github-canonical-go-dqlite-dev (missing: {missing:?})"
        ));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fixture = write_fixture(dir.path(), "dqlite");
    run(Command::new(repo().join("ecosystem/dqlite/run.sh")).arg(&fixture));
}

//! What a rebuild logs through the `log` crate, and under which target: `info` says what
//! happened to the table, `debug` shows every statement and check.

mod common;

use common::*;
use log::{Level, LevelFilter, Log, Metadata, Record};
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::TableRebuild;
use std::sync::Mutex;

struct Capture(Mutex<Vec<(Level, String, String)>>);

impl Log for Capture {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }
    fn log(&self, record: &Record) {
        self.0.lock().unwrap().push((
            record.level(),
            record.target().to_owned(),
            record.args().to_string(),
        ));
    }
    fn flush(&self) {}
}

static LOGGER: Capture = Capture(Mutex::new(Vec::new()));

fn take() -> Vec<(Level, String, String)> {
    std::mem::take(&mut *LOGGER.0.lock().unwrap())
}

fn has(records: &[(Level, String, String)], level: Level, text: &str) -> bool {
    records
        .iter()
        .any(|(l, _, msg)| *l == level && msg.contains(text))
}

// One test in this binary: the logger is process-wide.
#[test]
fn info_tells_the_story_debug_shows_each_statement() {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(LevelFilter::Debug);

    let mut conn = Connection::open_in_memory().unwrap();
    conn.pragma_update(None, "foreign_keys", true).unwrap();
    plans_db(&conn, 40);
    // The copy path, which logs every statement of the copy and swap.
    copy_only(&conn);
    let downgrade = TableRebuild::new("v3_plans").create_sql(V2_PLANS);

    downgrade.validate(&conn).unwrap();
    let records = take();
    assert!(has(
        &records,
        Level::Info,
        "validating \"main\".\"v3_plans\""
    ));
    assert!(
        has(
            &records,
            Level::Info,
            "validated \"main\".\"v3_plans\": 37 of 40 rows violate"
        ),
        "{records:#?}"
    );

    downgrade.execute(&mut conn).unwrap_err();
    let records = take();
    assert!(has(&records, Level::Debug, "PRAGMA foreign_keys = OFF"));
    assert!(
        has(
            &records,
            Level::Info,
            "refused rebuilding \"main\".\"v3_plans\": 37 of 40 rows"
        ),
        "{records:#?}"
    );
    assert!(
        !has(&records, Level::Debug, "DROP TABLE"),
        "nothing destructive ran"
    );

    downgrade
        .remap("phase", "action", "strategize")
        .remap("processing_state", "applied", "complete")
        .remap("processing_state", "constrained", "complete")
        .execute(&mut conn)
        .unwrap();
    let records = take();
    assert!(has(
        &records,
        Level::Info,
        "rebuilding \"main\".\"v3_plans\" (8 steps)"
    ));
    // Statements with the rules' values as literals, as they would be run by hand.
    assert!(
        has(
            &records,
            Level::Debug,
            "IS 'action' THEN coalesce(sqlite_rebuild_hit(0), 'strategize')"
        ),
        "{records:#?}"
    );
    assert!(has(
        &records,
        Level::Debug,
        "DROP TABLE \"main\".\"v3_plans\""
    ));
    assert!(has(&records, Level::Debug, "checks passed: 40 rows"));
    assert!(has(&records, Level::Info, "rebuilt \"main\".\"v3_plans\": 40 rows copied, 2 indexes and triggers recreated, 3 child tables checked"), "{records:#?}");
    assert!(has(
        &records,
        Level::Debug,
        "PRAGMA foreign_keys = ON restored"
    ));
    // A constraint-only change on a connection that allows it is done in place.
    let mut conn = Connection::open_in_memory().unwrap();
    plans_db(&conn, 40);
    TableRebuild::new("v3_plans")
        .create_sql(v3_plans_with_named_check())
        .execute(&mut conn)
        .unwrap();
    let in_place = take();
    assert!(
        has(&in_place, Level::Info, "rebuilt \"main\".\"v3_plans\" in place (only constraints changed): 40 rows checked, 3 child tables checked"),
        "{in_place:#?}"
    );
    assert!(has(
        &in_place,
        Level::Debug,
        "UPDATE \"main\".sqlite_schema SET sql = 'CREATE TABLE \"v3_plans\""
    ));
    assert!(!has(&in_place, Level::Debug, "DROP TABLE"));
    let records: Vec<_> = records.into_iter().chain(in_place).collect();
    // Every record is under the crate's target, so `RUST_LOG=sqlite_rebuild=...` selects them.
    assert!(records
        .iter()
        .all(|(_, target, _)| target.starts_with("sqlite_rebuild")));
    assert!(
        !records.iter().any(|(l, _, _)| *l <= Level::Warn),
        "{records:#?}"
    );
}

//! Faults real deployments see: a full disk, a lock held by another connection, an
//! interrupt, a read-only database. Each gives a typed error and leaves the database exactly
//! as it was (schema text and every row, asserted).

mod common;

use common::*;
use sqlite_rebuild::rusqlite::types::{Value, ValueRef};
use sqlite_rebuild::rusqlite::{Connection, OpenFlags};
use sqlite_rebuild::{Error, TableRebuild};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PLANS: i64 = 3_000;

fn downgrade() -> TableRebuild {
    with_rules(common::downgrade())
}

/// A story database on disk, in the given journal mode.
fn story_file(dir: &Path, journal: &str) -> std::path::PathBuf {
    let path = dir.join(format!("plans-{journal}.db"));
    let conn = Connection::open(&path).unwrap();
    conn.query_row(&format!("PRAGMA journal_mode = {journal}"), [], |_| Ok(()))
        .unwrap();
    plans_db(&conn, PLANS);
    // A second index makes the index step big enough to run out of room on its own.
    conn.execute_batch("CREATE INDEX v3_plans_by_name ON v3_plans (name, updated_at)")
        .unwrap();
    path
}

fn page_count(conn: &Connection) -> i64 {
    int(conn, "PRAGMA page_count")
}

#[test]
fn a_full_disk_is_a_typed_error_at_every_step_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let template = story_file(dir.path(), "delete");
    let pages = page_count(&Connection::open(&template).unwrap());
    let mut contexts = BTreeSet::new();
    // Runs the rebuild with `extra` spare pages: Some(context) when the disk filled up,
    // None when it succeeded. Every failure must leave the database exactly as it was.
    let runs = std::cell::Cell::new(0u32);
    let run = |extra: i64| -> Option<String> {
        runs.set(runs.get() + 1);
        let path = dir.path().join("full.db");
        std::fs::copy(&template, &path).unwrap();
        let mut conn = Connection::open(&path).unwrap();
        // The system SQLite starts with them off; the test checks they are restored.
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        // The copy path: only CHECKs change, which would otherwise be switched in place.
        copy_only(&conn);
        let before = snapshot(&conn);
        conn.query_row(
            &format!("PRAGMA max_page_count = {}", pages + extra),
            [],
            |_| Ok(()),
        )
        .unwrap();
        let outcome = match downgrade().execute(&mut conn) {
            Ok(_) => None,
            Err(Error::DiskFull { context, source }) => {
                assert_eq!(
                    source.sqlite_error_code(),
                    Some(sqlite_rebuild::rusqlite::ErrorCode::DiskFull)
                );
                assert!(conn.is_autocommit());
                assert_eq!(snapshot(&conn), before, "with {extra} spare pages");
                assert!(fk_on(&conn), "foreign_keys restored");
                Some(context)
            }
            Err(other) => panic!("with {extra} spare pages: {other}"),
        };
        drop(conn);
        let reopened = Connection::open(&path).unwrap();
        assert_eq!(
            reopened
                .query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
                .unwrap(),
            "ok"
        );
        outcome
    };
    // Coarse steps from "no room at all" up to the first success, then every page count
    // just below it, where the copy fits but the indexes or the swap do not.
    let step = (pages / 20).max(1);
    let mut first_success = None;
    let mut extra = 0;
    while extra <= 2 * pages {
        match run(extra) {
            Some(context) => {
                contexts.insert(context);
            }
            None => {
                first_success = Some(extra);
                break;
            }
        }
        extra += step;
    }
    let first_success = first_success.expect("a run with room for a second copy succeeds");
    for extra in (first_success - step + 1).max(0)..first_success {
        if let Some(context) = run(extra) {
            contexts.insert(context);
        }
    }
    eprintln!(
        "disk full: {} runs with 0 to {first_success} spare pages over {pages}; full during {contexts:?}",
        runs.get()
    );
    // The peak is the copy (old and new table side by side); the indexes are rebuilt after
    // the old table's pages were freed, so with the same room they always fit.
    assert_eq!(
        contexts,
        BTreeSet::from([
            "creating the target table (rebuilding \"v3_plans\")".to_owned(),
            "copying rows (rebuilding \"v3_plans\")".to_owned()
        ]),
        "the steps where the disk filled up"
    );
    let message = Error::DiskFull {
        context: "copying rows".into(),
        source: sqlite_rebuild::rusqlite::Error::SqliteFailure(
            sqlite_rebuild::rusqlite::ffi::Error::new(13),
            None,
        ),
    }
    .to_string();
    assert!(
        message.contains("the database or disk is full"),
        "{message}"
    );
}

#[test]
fn in_place_needs_no_room_for_a_copy_and_a_full_disk_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let template = story_file(dir.path(), "delete");
    let pages = page_count(&Connection::open(&template).unwrap());
    let mut succeeded_at = None;
    for extra in 0..=pages {
        let path = dir.path().join("full-in-place.db");
        std::fs::copy(&template, &path).unwrap();
        let mut conn = Connection::open(&path).unwrap();
        let before = snapshot(&conn);
        conn.query_row(
            &format!("PRAGMA max_page_count = {}", pages + extra),
            [],
            |_| Ok(()),
        )
        .unwrap();
        let rebuild = TableRebuild::new("v3_plans").create_sql(v3_plans_with_named_check());
        match rebuild.execute(&mut conn) {
            Ok(report) => {
                assert!(report.in_place());
                succeeded_at = Some(extra);
                break;
            }
            Err(Error::DiskFull { .. }) => assert_eq!(snapshot(&conn), before),
            Err(other) => panic!("with {extra} spare pages: {other}"),
        }
    }
    // A copy needs room for a second table; in place, a page for the schema change.
    let needed = succeeded_at.expect("the in-place change fits");
    assert!(needed <= 2, "{needed} spare pages of {pages}");
}

#[test]
fn the_callers_busy_timeout_is_respected() {
    let dir = tempfile::tempdir().unwrap();
    let path = story_file(dir.path(), "delete");
    let mut conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "busy_timeout", 5_000).unwrap();
    let holder = Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    // The lock is released while the rebuild waits within its timeout: it succeeds.
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        holder.execute_batch("COMMIT").unwrap();
    });
    downgrade().execute(&mut conn).unwrap();
    release.join().unwrap();
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM v3_plans WHERE phase = 'action'"
        ),
        0
    );
}

#[test]
fn a_lock_held_past_the_timeout_is_busy_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = story_file(dir.path(), "wal");
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "busy_timeout", 50).unwrap();
    let before = snapshot(&conn);
    let holder = Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    // Inside the caller's own (deferred) transaction the lock is first needed mid-way.
    let mut conn = conn;
    let tx = conn.transaction().unwrap();
    let err = downgrade().execute_in(&tx).unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err}");
    drop(tx);
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(snapshot(&conn), before);
}

#[test]
fn a_wal_reader_sees_the_old_table_until_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = story_file(dir.path(), "wal");
    let mut writer = Connection::open(&path).unwrap();
    let reader = Connection::open(&path).unwrap();
    let old_sql: String = reader
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'v3_plans'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let actions = |c: &Connection| int(c, "SELECT count(*) FROM v3_plans WHERE phase = 'action'");
    let before = actions(&reader);
    assert!(before > 0);

    downgrade().execute(&mut writer).unwrap();

    // Still inside its read transaction: the old schema and the old rows, consistently.
    let sql: String = reader
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'v3_plans'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sql, old_sql);
    assert_eq!(actions(&reader), before);
    assert_eq!(count(&reader, "plan_projects"), PLANS);
    reader.execute_batch("COMMIT").unwrap();
    // After it, the rebuilt table.
    assert_eq!(actions(&reader), 0);
    assert!(reader
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'v3_plans'",
            [],
            |r| r.get::<_, String>(0)
        )
        .unwrap()
        .contains("'applied')"));
}

#[test]
fn an_interrupt_during_the_copy_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = story_file(dir.path(), "delete");
    let mut conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "foreign_keys", true).unwrap();
    let before = snapshot(&conn);
    let handle = Arc::new(conn.get_interrupt_handle());
    let seen = Arc::new(AtomicU64::new(0));
    let (h, s) = (handle.clone(), seen.clone());
    // A closure rule runs once per copied row: half-way through the copy, interrupt.
    let err = downgrade()
        .remap_with("name", move |v: ValueRef<'_>| {
            if s.fetch_add(1, Ordering::Relaxed) == PLANS as u64 / 2 {
                h.interrupt();
            }
            Value::try_from(v).unwrap()
        })
        .execute(&mut conn)
        .unwrap_err();
    assert!(matches!(err, Error::Interrupted { .. }), "{err}");
    assert!(seen.load(Ordering::Relaxed) > PLANS as u64 / 2);
    assert!(conn.is_autocommit());
    assert_eq!(snapshot(&conn), before);
    assert!(fk_on(&conn));
    // The connection is usable again, and the rebuild goes through.
    downgrade().execute(&mut conn).unwrap();
}

#[test]
fn read_only_databases_and_connections_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = story_file(dir.path(), "delete");

    // A rebuild is refused; the dry runs work (tests/fidelity/read_only.rs).
    let mut ro = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let before = snapshot(&ro);
    let err = downgrade().execute(&mut ro).unwrap_err();
    assert!(
        matches!(&err, Error::ReadOnly { schema } if schema == "main"),
        "{err}"
    );
    assert_eq!(snapshot(&ro), before);

    // `query_only` forbids writing `temp` too, where a dry run works: every verb refuses.
    let mut query_only = Connection::open(&path).unwrap();
    query_only.pragma_update(None, "query_only", true).unwrap();
    for err in [
        downgrade().execute(&mut query_only).unwrap_err(),
        downgrade().validate(&query_only).map(drop).unwrap_err(),
        downgrade().plan(&query_only).map(drop).unwrap_err(),
    ] {
        assert!(matches!(err, Error::ReadOnly { .. }), "{err}");
    }

    // A read-only attached database.
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute(
        "ATTACH ?1 AS aux",
        [format!("file:{}?mode=ro", path.display())],
    )
    .unwrap();
    let err = downgrade().schema("aux").execute(&mut conn).unwrap_err();
    assert!(
        matches!(&err, Error::ReadOnly { schema } if schema == "aux"),
        "{err}"
    );
    assert_eq!(snapshot(&Connection::open(&path).unwrap()), before);
}

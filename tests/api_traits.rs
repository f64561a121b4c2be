//! The public types behave like well-kept Rust types: thread-safe, comparable, cloneable,
//! printable, and errors that chain to their causes.

use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{
    ConstraintKind, ConstraintViolations, Error, MovedRows, OnViolation, PlanStep, RebuildPlan,
    RebuildReport, RuleReport, SampleRow, StepKind, TableRebuild, TableSnapshot, ValidationReport,
};
use std::error::Error as _;
use std::fmt::{Debug, Display};
use std::hash::Hash;

fn send_sync<T: Send + Sync + 'static>() {}
fn value_type<T: Debug + Clone + PartialEq>() {}
fn key_type<T: Debug + Copy + Eq + Hash + Display>() {}

#[test]
fn builder_reports_and_errors_are_send_and_sync() {
    send_sync::<TableRebuild>();
    send_sync::<RebuildPlan>();
    send_sync::<PlanStep>();
    send_sync::<StepKind>();
    send_sync::<RebuildReport>();
    send_sync::<RuleReport>();
    send_sync::<ValidationReport>();
    send_sync::<ConstraintViolations>();
    send_sync::<SampleRow>();
    send_sync::<ConstraintKind>();
    send_sync::<OnViolation>();
    send_sync::<MovedRows>();
    send_sync::<TableSnapshot>();
    send_sync::<Error>();
    // A builder holding a closure rule is still Send + Sync.
    fn is_send_sync<T: Send + Sync>(_: &T) {}
    is_send_sync(
        &TableRebuild::new("t").remap_with("a", |_| sqlite_rebuild::rusqlite::types::Value::Null),
    );
}

#[test]
fn common_traits_are_derived() {
    value_type::<TableRebuild>();
    value_type::<RebuildPlan>();
    value_type::<PlanStep>();
    value_type::<RebuildReport>();
    value_type::<RuleReport>();
    value_type::<ValidationReport>();
    value_type::<ConstraintViolations>();
    value_type::<SampleRow>();
    key_type::<ConstraintKind>();
    value_type::<OnViolation>();
    value_type::<MovedRows>();
    value_type::<TableSnapshot>();
    fn step_kind<T: Debug + Copy + Eq + Hash>() {}
    step_kind::<StepKind>();
    fn error_type<T: std::error::Error + Send + Sync + 'static>() {}
    error_type::<Error>();
}

#[test]
fn a_busy_error_is_typed_and_exposes_rusqlite_as_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let mut conn = Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);")
        .unwrap();
    // The pragma rather than `Connection::busy_timeout`, which needs SQLite 3.44 to link.
    conn.pragma_update(None, "busy_timeout", 0).unwrap();
    // Another connection holds the write lock, so the rebuild cannot begin its transaction.
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = TableRebuild::new("t")
        .create_sql("CREATE TABLE t (a INTEGER NOT NULL)")
        .execute(&mut conn)
        .unwrap_err();
    let Error::Busy { context, source } = &err else {
        panic!("expected Error::Busy, got {err:?}");
    };
    assert_eq!(context, "beginning the rebuild's transaction");
    let chained = err.source().expect("Error::Busy has a source");
    let rusqlite_error = chained
        .downcast_ref::<sqlite_rebuild::rusqlite::Error>()
        .expect("the source is the rusqlite::Error");
    assert_eq!(rusqlite_error, source);
    assert_eq!(
        rusqlite_error.sqlite_error_code(),
        Some(sqlite_rebuild::rusqlite::ErrorCode::DatabaseBusy)
    );
    assert!(err.to_string().starts_with(context.as_str()), "{err}");
    // Nothing happened: the lock holder sees the old table.
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(
        conn.query_row("SELECT sql FROM sqlite_schema WHERE name = 't'", [], |r| {
            r.get::<_, String>(0)
        })
        .unwrap(),
        "CREATE TABLE t (a INTEGER)"
    );
}

#[test]
fn errors_without_a_cause_have_no_source() {
    let conn = Connection::open_in_memory().unwrap();
    let err = TableRebuild::new("nope")
        .create_sql("CREATE TABLE nope (a)")
        .validate(&conn)
        .unwrap_err();
    assert!(matches!(err, Error::UnknownTable { .. }), "{err:?}");
    assert!(err.source().is_none());
}

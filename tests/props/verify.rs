//! The crate on every path (execute, the forced copy, execute_in), compared with the
//! oracle: the same database, or a fitting refusal that changed nothing.

use super::common::*;
use super::gen::*;
use super::oracle::*;
use proptest::prelude::*;
use sqlite_rebuild::rusqlite::types::Value;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{
    ChildTables, Error, OnlineOptions, RebuildReport, ScriptOptions, TableRebuild,
};

// ---------------------------------------------------------------------------------------
// The crate, and the property
// ---------------------------------------------------------------------------------------

pub(crate) fn kind(e: &Error) -> &'static str {
    match e {
        Error::Violations(_) => "Violations",
        Error::TargetSql { .. } => "TargetSql",
        Error::MissingSource { .. } => "MissingSource",
        Error::ChildKeyMissing { .. } => "ChildKeyMissing",
        Error::DependentBroken { .. } => "DependentBroken",
        Error::CheckFailed { .. } => "CheckFailed",
        Error::Sqlite { .. } => "Sqlite",
        Error::RowidUnreachable { .. } => "RowidUnreachable",
        _ => "other",
    }
}

/// The crate errors that fit a failure of the hand-written procedure.
pub(crate) fn fitting(f: &Failure) -> &'static [&'static str] {
    match f.0 {
        Stage::RenameColumn => &["DependentBroken"],
        Stage::Create => &["TargetSql"],
        // SQLite refuses every write under a non-deterministic CHECK: the target is wrong.
        Stage::Copy if f.1.contains("non-deterministic") => &["TargetSql"],
        Stage::Copy => &["Violations"],
        Stage::Swap => &[],
        Stage::Dependent if f.1.contains("UNIQUE constraint failed") => &["Violations"],
        Stage::Dependent | Stage::Probe => &["DependentBroken"],
        Stage::ForeignKey if f.1.contains("foreign key mismatch") => &["ChildKeyMissing"],
        // The target's own foreign keys are validated with its other constraints; the
        // children's are checked before commit.
        Stage::ForeignKey => &["Violations", "CheckFailed"],
    }
}

/// How the crate is called.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Path {
    /// `execute`, free to switch a constraint-only change in place.
    Default,
    /// `execute` on a connection in `SQLITE_DBCONFIG_DEFENSIVE` mode: always a copy.
    Copy,
    /// `execute_in` the caller's transaction (with `foreign_keys=ON`, which the pragma
    /// cannot change there), committed on success and rolled back on error, as a migration
    /// framework runs it.
    Transaction,
}

pub(crate) struct Run {
    pub(crate) path: Path,
    pub(crate) conn: Connection,
    pub(crate) before: Snapshot,
    /// On the transaction path: the database inside the transaction, after an error.
    pub(crate) inside: Option<Snapshot>,
    pub(crate) fk_before: Vec<Vec<Value>>,
    pub(crate) outcome: Result<RebuildReport, Error>,
}

/// The builder a case calls.
pub(crate) fn rebuild(case: &Case) -> TableRebuild {
    let mut rb = TableRebuild::new("t").create_sql(case.target.clone());
    for (c, e) in &case.columns {
        rb = rb.column(c.clone(), e.clone());
    }
    for c in &case.drops {
        rb = rb.drop_column(c.clone());
    }
    rb
}

pub(crate) fn run_crate(case: &Case, path: Path) -> Run {
    let mut conn = open(&case.setup);
    if path == Path::Copy {
        copy_only(&conn);
    }
    let before = snapshot(&conn);
    let fk_before = fk_check(&conn).unwrap();
    let rb = rebuild(case);
    let mut inside = None;
    let outcome = if path == Path::Transaction {
        let tx = conn.transaction().unwrap();
        let outcome = rb.execute_in(&tx);
        if outcome.is_ok() {
            tx.commit().unwrap();
        } else {
            inside = Some(snapshot(&tx));
            tx.rollback().unwrap();
        }
        outcome
    } else {
        rb.execute(&mut conn)
    };
    Run {
        path,
        conn,
        before,
        inside,
        fk_before,
        outcome,
    }
}

pub(crate) fn stored_sql(s: &Snapshot, kind: &str, name: &str) -> Option<String> {
    s.schema
        .iter()
        .find(|r| r.0 == kind && r.1 == name)
        .and_then(|r| r.3.clone())
}

pub(crate) fn verify(case: &Case, run: &Run, oracle: &Oracle) -> Result<(), TestCaseError> {
    let path = format!("{:?} path", run.path);
    let after = snapshot(&run.conn);
    prop_assert!(
        run.conn.is_autocommit(),
        "{path}: a transaction was left open"
    );
    prop_assert!(fk_on(&run.conn), "{path}: foreign_keys not restored");
    // MissingSource comes once the target and the renames are known good.
    let created = !matches!(
        oracle.failed.first(),
        Some((Stage::RenameColumn | Stage::Create, _))
    );
    // Every name of the old rowid is a column: a copy cannot keep the rowids (the
    // procedure renumbers the rows), so the crate refuses it, or changes only constraints
    // in place, where the rows stay as they are.
    let rows_before = run.before.rows.get("main.t").map_or(0, Vec::len);
    if case.rowids_unreachable && rows_before > 0 {
        let before = sorted(snapshot_of(&run.before));
        match &run.outcome {
            Err(Error::RowidUnreachable { .. }) => {
                assert_same(&sorted(after), &before);
                return Ok(());
            }
            Ok(report) => {
                prop_assert!(
                    matches!(
                        report.strategy(),
                        sqlite_rebuild::Strategy::InPlace | sqlite_rebuild::Strategy::Unchanged
                    ),
                    "{path}: the rows were renumbered ({:?})",
                    report.strategy()
                );
                prop_assert!(
                    oracle.failed.is_empty(),
                    "{path}: rebuilt what the procedure refuses: {:?}",
                    oracle.failed
                );
                let mut after = sorted(after);
                let mut before = before;
                for s in [&mut after, &mut before] {
                    s.schema.retain(|r| !(r.0 == "main.table" && r.1 == "t"));
                }
                assert_same(&after, &before);
                return Ok(());
            }
            Err(_) => {} // judged below, with the procedure's other reasons to fail
        }
    }
    match &run.outcome {
        Err(e) => {
            let before = sorted(snapshot_of(&run.before));
            assert_same(&sorted(after), &before);
            if let Some(inside) = &run.inside {
                assert_same(&sorted(snapshot_of(inside)), &before);
            }
            if created && !case.missing.is_empty() {
                prop_assert!(
                    matches!(e, Error::MissingSource { column, .. } if case.missing.contains(column)),
                    "{path}: expected MissingSource for {:?}, got {e:?}",
                    case.missing
                );
                return Ok(());
            }
            prop_assert!(
                !oracle.failed.is_empty(),
                "{path}: the crate refused what SQLite's procedure does cleanly: {e}"
            );
            prop_assert!(
                oracle.reasons.iter().any(|f| fitting(f).contains(&kind(e)))
                    || (case.rowids_unreachable && kind(e) == "RowidUnreachable"),
                "{path}: the procedure fails with {:?}; the crate's error fits none: {e:?}",
                oracle.reasons
            );
        }
        Ok(report) => {
            prop_assert!(
                case.missing.is_empty() || !created,
                "{path}: succeeded though {:?} has no source ({report:?})",
                case.missing
            );
            prop_assert!(
                oracle.failed.is_empty(),
                "{path}: the crate rebuilt ({report:?}) what SQLite's procedure refuses: {:?}",
                oracle.failed
            );
            let integrity: String = run
                .conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            prop_assert_eq!(integrity, "ok", "{}: integrity_check", path);
            if let Some(ft) = &case.full_text {
                run.conn
                    .execute(
                        &format!("INSERT INTO {ft} ({ft}, rank) VALUES ('integrity-check', 1)"),
                        [],
                    )
                    .map_err(|e| {
                        TestCaseError::fail(format!("{path}: {ft} integrity-check: {e}"))
                    })?;
            }
            let fk_after = fk_check(&run.conn).map_err(TestCaseError::fail)?;
            let new: Vec<_> = fk_after
                .iter()
                .filter(|r| !run.fk_before.contains(r))
                .collect();
            prop_assert!(new.is_empty(), "{path}: new foreign key violations {new:?}");
            let (mut after, before) = (canonical(after), canonical(snapshot_of(&run.before)));
            // A full-text index's shadow tables hold the same index in other segments when
            // it was rebuilt (its integrity check above compared it with its content).
            let mut expected = snapshot_of(&oracle.db);
            if let Some(ft) = &case.full_text {
                for s in [&mut after, &mut expected] {
                    s.rows
                        .retain(|name, _| !name.starts_with(&format!("main.{ft}_")));
                }
            }
            prop_assert_eq!(
                stored_sql(&after, "main.table", "t"),
                Some(case.target.clone()),
                "{}: stored statement",
                path
            );
            // Every other schema row (the automatic indexes aside, which follow the
            // target's UNIQUE constraints) is unchanged, renamed columns aside (the
            // comparison with the oracle covers those).
            for row in &before.schema {
                let rebuilt = row.1 == "t"
                    || row.1.starts_with("sqlite_autoindex_t_")
                    || !case.renames.is_empty();
                prop_assert!(
                    rebuilt || after.schema.contains(row),
                    "{path}: schema row {row:?} changed"
                );
            }
            assert_same(&after, &expected);
        }
    }
    Ok(())
}

/// The snapshot with every table's rows sorted. `snapshot` reads a WITHOUT ROWID table
/// with a bare `SELECT *`, whose order is that of whichever covering index the planner
/// picks, which can depend on the order the indexes were created (or the schema reloaded)
/// in; rows of rowid tables carry their rowids, so sorting loses nothing.
pub(crate) fn sorted(mut s: Snapshot) -> Snapshot {
    for rows in s.rows.values_mut() {
        rows.sort_by_cached_key(|r| format!("{r:?}"));
    }
    s
}

/// `normalized` and `sorted`, without AUTOINCREMENT counters of 0: an `INSERT ... SELECT` of
/// no rows writes one where the table had none (the procedure's copy and the crate's do; its
/// in-place path, which copies nothing, does not), and it means the same as none.
pub(crate) fn canonical(s: Snapshot) -> Snapshot {
    let mut s = normalized(s);
    if let Some(rows) = s.rows.get_mut("main.sqlite_sequence") {
        rows.retain(|r| r.get(1) != Some(&Value::Integer(0)));
    }
    sorted(s)
}

/// What SQLite's procedure does with a case.
pub(crate) struct Oracle {
    /// Where it stopped (empty when it committed).
    pub(crate) failed: Vec<Failure>,
    /// Every reason it has to fail (empty when it committed).
    pub(crate) reasons: Vec<Failure>,
    /// The database after it, `canonical`.
    pub(crate) db: Snapshot,
}

pub(crate) fn oracle(case: &Case) -> Oracle {
    let conn = open(&case.setup);
    let failed = procedure(&conn, case, false);
    let reasons = if failed.is_empty() {
        vec![]
    } else {
        procedure(&open(&case.setup), case, true)
    };
    Oracle {
        failed,
        reasons,
        db: canonical(snapshot(&conn)),
    }
}

/// A snapshot is not `Clone`; `normalized` and `sorted` take one by value.
pub(crate) fn snapshot_of(s: &Snapshot) -> Snapshot {
    Snapshot {
        schema: s.schema.clone(),
        rows: s.rows.clone(),
    }
}

/// `validate` and `plan` on the case's database change nothing and say what `execute` finds;
/// the plan's script, run as plain SQL with foreign key enforcement off, does what the
/// procedure does, or refuses and changes nothing.
fn check_dry_runs(case: &Case, default: &Run, oracle: &Oracle) -> Result<(), TestCaseError> {
    let conn = open(&case.setup);
    let before = snapshot(&conn);
    let rb = rebuild(case);
    let validated = rb.validate(&conn);
    let planned = rb.plan(&conn);
    assert_same(&snapshot(&conn), &before);
    match (&validated, &default.outcome) {
        (Ok(report), Ok(_)) => prop_assert!(
            report.is_ok(),
            "validate found {report} where execute rebuilt"
        ),
        (Ok(report), Err(Error::Violations(found))) => prop_assert_eq!(report, found),
        (Err(e), Err(found)) => prop_assert_eq!(
            kind(e),
            kind(found),
            "validate: {} vs execute: {}",
            e,
            found
        ),
        (v, x) => prop_assert!(false, "validate {v:?}, execute {x:?}"),
    }
    let plan = match planned {
        Ok(plan) => plan,
        Err(e) => {
            // Rows and children are checked by execute (first), not by plan.
            prop_assert!(
                matches!(&default.outcome, Err(found) if kind(found) == kind(&e) || ["Violations", "CheckFailed"].contains(&kind(found))),
                "plan refused ({e}) where execute gave {:?}",
                default.outcome
            );
            return Ok(());
        }
    };
    // Every form of script, with enforcement as the places that run it have it: off for
    // the one that needs it off, on (and off) for the ones that must not care.
    for (options, fk) in [
        (
            ScriptOptions::new().children(ChildTables::EnforcementOff),
            false,
        ),
        (ScriptOptions::new(), true),
        (ScriptOptions::new(), false),
        (ScriptOptions::new().children(ChildTables::Repoint), true),
    ] {
        let script = match plan.to_sql_with(&options) {
            Ok(script) => script,
            Err(Error::NotRenderable { .. }) => return Ok(()),
            Err(Error::ReferenceCycle { .. }) => continue,
            Err(e) => {
                prop_assert!(false, "{options:?}: {e}");
                unreachable!()
            }
        };
        let conn = open(&case.setup);
        conn.execute_batch(if fk {
            "PRAGMA foreign_keys = ON"
        } else {
            "PRAGMA foreign_keys = OFF"
        })
        .unwrap();
        let ran = conn.execute_batch(&script);
        if ran.is_err() && !conn.is_autocommit() {
            conn.execute_batch("ROLLBACK").unwrap();
        }
        let after = snapshot(&conn);
        match ran {
            Err(e) => {
                prop_assert!(
                    !oracle.failed.is_empty() || case.rowids_unreachable,
                    "the script ({options:?}, foreign keys {fk}) failed ({e}) where the procedure succeeds"
                );
                assert_same(&sorted(after), &sorted(snapshot_of(&before)));
            }
            Ok(()) => {
                prop_assert!(
                    oracle.failed.is_empty(),
                    "the script ({options:?}, foreign keys {fk}) rebuilt what the procedure refuses: {:?}",
                    oracle.failed
                );
                // A script that copies the children stores their statements as a rename
                // writes them (names quoted).
                let (mut after, mut expected) =
                    if options.child_tables() == ChildTables::CopyClosure {
                        (unquote(canonical(after)), unquote(snapshot_of(&oracle.db)))
                    } else {
                        (canonical(after), snapshot_of(&oracle.db))
                    };
                if let Some(ft) = &case.full_text {
                    for s in [&mut after, &mut expected] {
                        s.rows
                            .retain(|name, _| !name.starts_with(&format!("main.{ft}_")));
                    }
                }
                assert_same(&after, &expected);
            }
        }
    }
    Ok(())
}

/// The snapshot with double quotes taken out of the tables' statements.
fn unquote(mut s: Snapshot) -> Snapshot {
    for (kind, _, _, sql) in &mut s.schema {
        if kind.ends_with(".table") {
            if let Some(text) = sql {
                *text = text.replace('"', "");
            }
        }
    }
    s
}

pub(crate) fn check(case: &Case) -> Result<(), TestCaseError> {
    let oracle = oracle(case);
    let default = run_crate(case, Path::Default);
    let runs = [
        default,
        run_crate(case, Path::Copy),
        run_crate(case, Path::Transaction),
    ];
    let default = &runs[0];
    for run in &runs {
        verify(case, run, &oracle)?;
    }
    // The paths agree with each other too (on the kind of refusal as well).
    for other in &runs[1..] {
        match (&default.outcome, &other.outcome) {
            (Ok(_), Ok(_)) => assert_same(
                &canonical(snapshot(&other.conn)),
                &canonical(snapshot(&default.conn)),
            ),
            // Where the copy cannot keep the rowids, the default path may still refuse the
            // rows in place: both are right.
            (a, b)
                if case.rowids_unreachable
                    && [a, b]
                        .iter()
                        .any(|o| matches!(o, Err(Error::RowidUnreachable { .. }))) => {}
            (Err(a), Err(b)) => {
                prop_assert_eq!(kind(a), kind(b), "{:?} path: {} vs {}", other.path, b, a)
            }
            (a, b) => prop_assert!(false, "{:?} path disagrees: {b:?} vs {a:?}", other.path),
        }
    }
    check_online(case, default)?;
    check_dry_runs(case, default, &oracle)
}

/// `execute_online` on the same case, in chunks of a few rows: the default path's database,
/// or the same kind of refusal, or `OnlineUnsupported` for what only the one-shot does; a
/// refusal changes nothing.
fn check_online(case: &Case, default: &Run) -> Result<(), TestCaseError> {
    let mut conn = open(&case.setup);
    let before = snapshot(&conn);
    let options = OnlineOptions::default()
        .first_chunk_rows(3)
        .chunk_time(std::time::Duration::from_micros(1))
        .pause(std::time::Duration::ZERO);
    let outcome = rebuild(case).execute_online(&mut conn, &options);
    match (&default.outcome, &outcome) {
        (Ok(_), Ok(_)) => {
            assert_same(
                &canonical(snapshot(&conn)),
                &canonical(snapshot(&default.conn)),
            );
            return Ok(());
        }
        (_, Err(Error::OnlineUnsupported { .. })) => {}
        // The online mode copies, and a copy cannot keep rowids that columns hide.
        (_, Err(Error::RowidUnreachable { .. })) if case.rowids_unreachable => {}
        // The online run rehearses the schema before it copies, the one-shot copies and
        // checks first: a case with a broken dependent and another fault is refused for
        // either.
        (Err(_), Err(Error::DependentBroken { .. })) => {}
        (Err(a), Err(b)) => {
            prop_assert_eq!(kind(a), kind(b), "online: {} vs {}", b, a)
        }
        (a, b) => prop_assert!(false, "the online run disagrees: {b:?} vs {a:?}"),
    }
    assert_same(&snapshot(&conn), &before);
    Ok(())
}

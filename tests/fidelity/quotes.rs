//! Identifiers SQLite silently turns into strings: with its double-quoted string fallback,
//! `"age"` naming no column compiles as the text 'age'. What named a column before the
//! rebuild must name a column after it, or the rebuild is refused by the dependent's name.
//! sqlite-utils and Django quote every identifier, so their databases are the example.

use super::*;
use sqlite_rebuild::rusqlite::config::DbConfig;
use sqlite_rebuild::DependentKind;

/// A sqlite-utils style table: every identifier double-quoted.
fn dogs(extra: &str) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!(
        r#"CREATE TABLE "dogs" ("id" INTEGER PRIMARY KEY, "name" TEXT, "age" INTEGER);
           CREATE TABLE "log" ("x");
           INSERT INTO "dogs" VALUES (1, 'Cleo', 5), (2, 'Pancakes', 4);
           {extra}"#
    ))
    .unwrap();
    conn
}

const WITHOUT_AGE: &str = r#"CREATE TABLE "dogs" ("id" INTEGER PRIMARY KEY, "name" TEXT)"#;

fn drop_age() -> TableRebuild {
    TableRebuild::new("dogs")
        .create_sql(WITHOUT_AGE)
        .drop_column("age")
}

fn is_broken(err: &Error, kind: DependentKind, name: &str) -> bool {
    matches!(err, Error::DependentBroken { kind: k, name: n, reason, .. }
        if *k == kind && n == name && reason.contains("age"))
}

/// Refused by validate, execute and execute_in (and by plan when `plan_sees` it), the
/// database exactly as it was; then allowed to go with drop_dependent, and only it and the
/// table change.
fn refused_then_dropped(mut conn: Connection, kind: DependentKind, name: &str, plan_sees: bool) {
    let before = snapshot(&conn);
    let rb = drop_age();
    let validate = rb.validate(&conn).unwrap_err();
    assert!(is_broken(&validate, kind, name), "validate: {validate:?}");
    if plan_sees {
        let plan = rb.plan(&conn).unwrap_err();
        assert!(is_broken(&plan, kind, name), "plan: {plan:?}");
    }
    {
        let tx = conn.transaction().unwrap();
        let e = rb.execute_in(&tx).unwrap_err();
        assert!(is_broken(&e, kind, name), "execute_in: {e:?}");
        tx.rollback().unwrap();
    }
    let err = refused(&mut conn, rb.clone());
    assert!(is_broken(&err, kind, name), "execute: {err:?}");
    assert!(err.to_string().contains("drop_dependent"), "{err}");
    assert_same(&snapshot(&conn), &before);

    let before = normalized(snapshot(&conn));
    let report = rb.drop_dependent(name).execute(&mut conn).unwrap();
    assert_eq!(report.dropped(), [name]);
    let mut expected = without(before, "main", "dogs");
    expected.schema.retain(|(_, n, _, _)| n != name);
    assert_same(
        &without(normalized(snapshot(&conn)), "main", "dogs"),
        &expected,
    );
}

#[test]
fn an_index_naming_a_dropped_column_in_double_quotes() {
    let conn = dogs(r#"CREATE INDEX "idx" ON "dogs" ("name", "age");"#);
    refused_then_dropped(conn, DependentKind::Index, "idx", true);
}

#[test]
fn a_partial_index_whose_where_names_a_dropped_column() {
    let conn = dogs(r#"CREATE INDEX "idx_old" ON "dogs" ("name") WHERE "age" > 3;"#);
    refused_then_dropped(conn, DependentKind::Index, "idx_old", true);
}

#[test]
fn a_view_selecting_a_dropped_column_in_double_quotes() {
    let conn = dogs(r#"CREATE VIEW "ages" AS SELECT "name", "age" FROM "dogs";"#);
    refused_then_dropped(conn, DependentKind::View, "ages", false);
}

#[test]
fn a_trigger_reading_a_dropped_column_in_double_quotes() {
    let conn = dogs(
        r#"CREATE TRIGGER "dogs_log" AFTER UPDATE ON "dogs" BEGIN
             INSERT INTO "log" SELECT "age" FROM "dogs" WHERE "id" = new."id";
           END;"#,
    );
    refused_then_dropped(conn, DependentKind::Trigger, "dogs_log", false);
}

#[test]
fn indexes_that_keep_their_columns_are_recreated_with_names_that_stay_names() {
    let mut conn = dogs(
        r#"CREATE INDEX "idx" ON "dogs" ("name" COLLATE NOCASE, "id" DESC) WHERE "name" <> '';
           CREATE VIEW "names" AS SELECT "name" FROM "dogs";"#,
    );
    // SQLite stores the renamed table's name unquoted; the helper compares so.
    let stored = WITHOUT_AGE.replacen(r#""dogs""#, "dogs", 1);
    let report = rebuild_changing_only(&mut conn, drop_age(), "main", "dogs", &stored);
    assert_eq!(report.recreated(), ["idx"]);
    // The index's keys are columns, not constants (index_xinfo's cid -2 is an expression).
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM pragma_index_xinfo('idx') WHERE key AND cid < 0"
        ),
        0
    );
}

#[test]
fn a_target_check_naming_no_column_in_double_quotes_is_refused() {
    let mut conn = dogs("");
    let err = refused_by_every_verb(
        &mut conn,
        TableRebuild::new("dogs")
            .create_sql(
                r#"CREATE TABLE "dogs" ("id" INTEGER PRIMARY KEY, "name" TEXT CHECK ("nme" <> ''), "age" INTEGER)"#,
            ),
    );
    assert!(
        matches!(&err, Error::TargetSql { table, reason } if table == "dogs" && reason.contains("nme") && reason.contains("single quotes")),
        "{err:?}"
    );
}

#[test]
fn a_column_expression_naming_no_column_in_double_quotes_is_refused() {
    let mut conn = dogs("");
    let err = refused_by_every_verb(
        &mut conn,
        TableRebuild::new("dogs")
            .create_sql(
                r#"CREATE TABLE "dogs" ("id" INTEGER PRIMARY KEY, "name" TEXT, "years" INTEGER)"#,
            )
            .column("years", r#""ag""#)
            .drop_column("age"),
    );
    assert!(
        matches!(&err, Error::InvalidExpression { column, reason, .. } if column == "years" && reason.contains("ag")),
        "{err:?}"
    );
}

/// An old schema's `CHECK (s IN ("a", "b"))` relies on the fallback: a target that keeps it
/// is built as SQLite builds it, on both paths, with DQS off for queries.
#[test]
fn a_definition_that_already_relies_on_the_fallback_keeps_it_on_both_paths() {
    let legacy =
        r#"CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT CHECK (s IN ("a", "b")), n INTEGER)"#;
    let target = r#"CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT CHECK (s IN ("a", "b")), n INTEGER NOT NULL)"#;
    for (copy, dml_quotes) in [(false, true), (false, false), (true, true), (true, false)] {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(legacy).unwrap();
        conn.execute_batch("INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2)")
            .unwrap();
        if copy {
            copy_only(&conn);
        }
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, dml_quotes)
            .unwrap();
        rebuild_main(&mut conn, "t", target);
        // Still a string: 'c' is refused, 'a' is not.
        assert!(conn
            .execute("INSERT INTO t VALUES (3, 'c', 3)", [])
            .is_err());
        conn.execute("INSERT INTO t VALUES (3, 'a', 3)", [])
            .unwrap();

        // A row the narrowed target refuses is reported the same way on both paths.
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(legacy).unwrap();
        conn.execute_batch("INSERT INTO t VALUES (1, 'a', NULL)")
            .unwrap();
        if copy {
            copy_only(&conn);
        }
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, dml_quotes)
            .unwrap();
        let err = refused(&mut conn, TableRebuild::new("t").create_sql(target));
        let Error::Violations(report) = &err else {
            panic!("copy {copy}, dml {dml_quotes}: {err:?}")
        };
        assert_eq!(report.violation_count(), 1, "{report}");
    }
}

/// A target that brings in the fallback where the current definition has none is refused.
#[test]
fn a_target_bringing_in_the_fallback_is_refused() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT); INSERT INTO t VALUES (1, 'a');",
    )
    .unwrap();
    let err = refused_by_every_verb(
        &mut conn,
        TableRebuild::new("t").create_sql(
            r#"CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT CHECK (s IN ("a", "b")))"#,
        ),
    );
    assert!(
        matches!(&err, Error::TargetSql { reason, .. } if reason.contains("\"a\"")),
        "{err:?}"
    );
}

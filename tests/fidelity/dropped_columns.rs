//! A column with data never disappears silently: an old column the target lacks goes only
//! when named with `drop_column`, or when it holds nothing but NULLs; reports, plans and
//! dry runs list what goes and what takes its DEFAULT.

use super::*;
use sqlite_rebuild::RuleKind;

fn users() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, nick TEXT, gone TEXT);
         INSERT INTO users VALUES (1, 'a@x', 'a', NULL), (2, 'b@x', NULL, NULL), (3, NULL, 'c', NULL);",
    )
    .unwrap();
    conn
}

/// The target misspells `email`: without a check, every email would be lost.
const TYPO: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY, emial TEXT, nick TEXT)";

#[test]
fn a_typo_in_the_target_loses_nothing() {
    let mut conn = users();
    let rb = TableRebuild::new("users").create_sql(TYPO);
    let err = refused_by_every_verb(&mut conn, rb);
    assert!(
        matches!(&err, Error::ColumnDropped { table, column, values: 2 } if table == "users" && column == "email"),
        "{err:?}"
    );
    assert!(err.to_string().contains(".drop_column(\"email\")"), "{err}");
}

#[test]
fn named_it_goes_and_every_report_says_so() {
    let mut conn = users();
    let rb = TableRebuild::new("users")
        .create_sql(TYPO)
        .drop_column("email");
    let plan = rb.plan(&conn).unwrap();
    // `gone` holds only NULLs: it goes without being named, and is listed all the same.
    assert_eq!(plan.dropped_columns(), ["email", "gone"]);
    assert_eq!(plan.defaulted_columns(), ["emial"]);
    assert!(
        plan.to_string()
            .contains("columns dropped with their values: email, gone"),
        "{plan}"
    );
    let report = rb.validate(&conn).unwrap();
    assert!(report.is_ok());
    assert_eq!(report.dropped_columns(), ["email", "gone"]);
    assert!(
        report.to_string().contains("columns dropped: email, gone"),
        "{report}"
    );
    let done = rb.execute(&mut conn).unwrap();
    assert_eq!(done.dropped_columns(), ["email", "gone"]);
    assert_eq!(done.defaulted_columns(), ["emial"]);
    assert!(
        done.to_string()
            .contains("columns filled with their DEFAULT: emial"),
        "{done}"
    );
}

#[test]
fn renamed_or_read_by_an_expression_is_not_dropped() {
    let mut conn = users();
    let report = TableRebuild::new("users")
        .create_sql("CREATE TABLE users (id INTEGER PRIMARY KEY, mail TEXT, handle TEXT)")
        .column("mail", "email")
        .column("handle", "coalesce(nick, 'anonymous')")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(report.dropped_columns(), ["gone"]);
    assert_eq!(
        query_all(&conn, "SELECT mail, handle FROM users ORDER BY id"),
        vec![
            vec![text("a@x"), text("a")],
            vec![text("b@x"), text("anonymous")],
            vec![Value::Null, text("c")]
        ]
    );
}

#[test]
fn naming_a_column_that_is_not_dropped_is_refused() {
    for (name, problem) in [
        ("nope", "does not exist in the old table"),
        ("nick", "is still a column of the target"),
    ] {
        let mut conn = users();
        let err = refused(
            &mut conn,
            TableRebuild::new("users")
                .create_sql(TYPO)
                .drop_column(name),
        );
        let Error::UnknownColumn { column, rule, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!((column.as_str(), *rule), (name, RuleKind::DropColumn));
        assert!(err.to_string().contains(problem), "{err}");
    }
}

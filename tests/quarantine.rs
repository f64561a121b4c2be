//! OnViolation::Quarantine and restore_from: rows that would violate move, whole, into
//! quarantine tables with their child rows; nothing is lost, and a second rebuild puts
//! them back exactly.

mod common;

use common::*;
use sqlite_rebuild::rusqlite::types::Value;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{Error, OnViolation, TableRebuild, TableSnapshot};
use std::collections::BTreeSet;

const PLANS: i64 = 200;

fn story_db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    plans_db(&conn, PLANS);
    conn
}

fn downgrade() -> TableRebuild {
    common::downgrade().on_violation(OnViolation::Quarantine)
}

fn ids(conn: &Connection, sql: &str) -> BTreeSet<i64> {
    query_all(conn, sql)
        .into_iter()
        .map(|r| match r[0] {
            Value::Integer(i) => i,
            ref other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn quarantine_moves_violating_rows_and_their_children_whole() {
    let mut conn = story_db();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    let original_plans = rows_with_rowid(&conn, "v3_plans");
    let original_children: Vec<_> = CHILDREN.iter().map(|c| rows_with_rowid(&conn, c)).collect();

    let report = downgrade()
        .remap("phase", "action", "strategize")
        .execute(&mut conn)
        .unwrap();

    // With the phase rule, only the v3-only states violate: i % 3 != 0.
    let bad: BTreeSet<i64> = (1..=PLANS)
        .filter(|i| matches!(state(*i), "applied" | "constrained"))
        .collect();
    let kept: BTreeSet<i64> = (1..=PLANS).filter(|i| !bad.contains(i)).collect();
    assert_eq!(ids(&conn, "SELECT id FROM v3_plans"), kept);
    assert_eq!(ids(&conn, "SELECT id FROM v3_plans__rejected"), bad);
    assert_eq!(report.rows_copied(), kept.len() as u64);

    // Whole and unchanged: the quarantined rows are the original rows (phase not remapped).
    let quarantined = query_all(
        &conn,
        "SELECT rowid, id, name, phase, processing_state, updated_at FROM v3_plans__rejected ORDER BY rowid",
    );
    let expected: Vec<_> = original_plans
        .iter()
        .filter(|r| matches!(r[0], Value::Integer(i) if bad.contains(&i)))
        .cloned()
        .collect();
    assert_eq!(quarantined, expected);
    let reasons = query_all(
        &conn,
        "SELECT DISTINCT sqlite_rebuild_violation FROM v3_plans__rejected",
    );
    assert_eq!(reasons, vec![vec![text("CHECK ck_v3_plans_state")]]);
    assert_eq!(
        int(&conn, "SELECT count(*) FROM v3_plans__rejected WHERE sqlite_rebuild_quarantined_at LIKE '20__-__-__T__:__:__.___Z'"),
        bad.len() as i64
    );

    // Child rows of quarantined plans moved too; nothing dangles, nothing was deleted.
    for (child, original) in CHILDREN.iter().zip(&original_children) {
        let q = format!("v3_plans__rejected__{child}");
        assert_eq!(ids(&conn, &format!("SELECT plan_id FROM {q}")), bad);
        assert_eq!(ids(&conn, &format!("SELECT plan_id FROM {child}")), kept);
        let mut together = rows_with_rowid(&conn, child);
        together.extend(query_all(
            &conn,
            &format!(
                "SELECT rowid, id, plan_id, {} FROM {q}",
                &child[5..child.len() - 1]
            ),
        ));
        together.sort_by_key(|r| match r[0] {
            Value::Integer(i) => i,
            _ => 0,
        });
        assert_eq!(
            &together, original,
            "{child}: quarantine plus table is the original"
        );
    }
    assert_eq!(
        int(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    assert_eq!(count(&conn, "plan_events"), 0, "no trigger fired");
    assert!(fk_on(&conn));

    // The report says what went where, and why.
    let moved: Vec<(String, String, u64)> = report
        .quarantined()
        .iter()
        .map(|m| (m.from_table().to_owned(), m.to_table().to_owned(), m.rows()))
        .collect();
    assert_eq!(moved.len(), 4);
    assert!(moved.contains(&(
        "v3_plans".into(),
        "v3_plans__rejected".into(),
        bad.len() as u64
    )));
    assert!(moved.contains(&(
        "plan_projects".into(),
        "v3_plans__rejected__plan_projects".into(),
        bad.len() as u64
    )));
    let why = &report.quarantine_reports()[0];
    assert_eq!(
        why.constraint("ck_v3_plans_state").unwrap().count(),
        bad.len() as u64
    );
    assert!(
        why.constraint("ck_v3_plans_phase").is_none(),
        "the rule fixed phase"
    );
    assert!(report.to_string().contains(&format!(
        "quarantined: {} rows from \"v3_plans\" to \"v3_plans__rejected\"",
        bad.len()
    )));
}

#[test]
fn quarantine_then_restore_equals_the_original() {
    let mut conn = story_db();
    let original = snapshot(&conn);
    let v3 = TableSnapshot::capture(&conn, "v3_plans").unwrap();

    let down = downgrade().execute(&mut conn).unwrap();
    assert!(down.rows_copied() < PLANS as u64);
    assert_eq!(
        count(&conn, "v3_plans") + count(&conn, "v3_plans__rejected"),
        PLANS
    );

    let up = TableRebuild::from_snapshot(&v3)
        .restore_from("v3_plans__rejected")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(up.rows_copied(), PLANS as u64);
    let restored: Vec<(String, String, u64)> = up
        .restored()
        .iter()
        .map(|m| (m.from_table().to_owned(), m.to_table().to_owned(), m.rows()))
        .collect();
    assert_eq!(restored.len(), 4, "{restored:?}");
    assert_eq!(restored[0].1, "v3_plans");
    assert_same(&normalized(snapshot(&conn)), &normalized(original));
}

#[test]
fn quarantine_into_a_named_table_and_an_unusable_one() {
    let mut conn = story_db();
    conn.execute_batch("CREATE TABLE parked (x TEXT)").unwrap();
    let before = snapshot(&conn);
    let err = downgrade()
        .on_violation(OnViolation::QuarantineInto("parked".into()))
        .execute(&mut conn)
        .unwrap_err();
    match &err {
        Error::Quarantine { table, reason } => {
            assert_eq!(table, "parked");
            assert!(reason.contains("without a column \"id\""), "{reason}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(snapshot(&conn), before);

    let report = downgrade()
        .on_violation(OnViolation::QuarantineInto("old plans".into()))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(report.quarantined()[0].to_table(), "old plans");
    assert_eq!(
        count(&conn, "v3_plans") + count(&conn, "\"old plans\""),
        PLANS
    );
    assert_eq!(
        count(&conn, "\"old plans__plan_projects\""),
        count(&conn, "\"old plans\"")
    );
}

#[test]
fn validate_and_abort_ignore_nothing() {
    // validate() with the quarantine policy reports; it moves nothing.
    let conn = story_db();
    let before = snapshot(&conn);
    let report = downgrade().validate(&conn).unwrap();
    assert!(!report.is_ok());
    assert_eq!(snapshot(&conn), before);
}

#[test]
fn duplicates_keep_the_first_row() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE user (id INTEGER PRIMARY KEY, email TEXT);
         INSERT INTO user VALUES (1, 'a@x'), (2, 'A@x'), (3, 'b@x'), (4, 'a@x');",
    )
    .unwrap();
    let report = TableRebuild::new("user")
        .create_sql("CREATE TABLE user (id INTEGER PRIMARY KEY, email TEXT UNIQUE COLLATE NOCASE)")
        .on_violation(OnViolation::Quarantine)
        .execute(&mut conn)
        .unwrap();
    assert_eq!(ids(&conn, "SELECT id FROM user"), BTreeSet::from([1, 3]));
    assert_eq!(
        ids(&conn, "SELECT id FROM user__rejected"),
        BTreeSet::from([2, 4])
    );
    assert_eq!(report.rows_copied(), 2);
}

#[test]
fn self_references_and_grandchildren_stay_consistent() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE node (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES node (id), kind TEXT);
         CREATE TABLE leaf (id INTEGER PRIMARY KEY, node INTEGER REFERENCES node (id));
         CREATE TABLE note (id INTEGER PRIMARY KEY, leaf INTEGER REFERENCES leaf (id), body TEXT);
         CREATE TRIGGER leaf_gone AFTER DELETE ON leaf BEGIN INSERT INTO note (body) VALUES ('gone'); END;
         INSERT INTO node VALUES (1, NULL, 'ok'), (2, 1, 'bad'), (3, 2, 'ok'), (4, 3, 'ok'), (5, 1, 'ok');
         INSERT INTO leaf VALUES (10, 2), (11, 4), (12, 5);
         INSERT INTO note VALUES (100, 10, 'x'), (101, 11, 'y'), (102, 12, 'z');",
    )
    .unwrap();
    let original = snapshot(&conn);
    let before = TableSnapshot::capture(&conn, "node").unwrap();
    let report = TableRebuild::new("node")
        .create_sql(
            "CREATE TABLE node (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES node (id), kind TEXT CHECK (kind = 'ok'))",
        )
        .on_violation(OnViolation::Quarantine)
        .execute(&mut conn)
        .unwrap();
    // Node 2 breaks the CHECK; 3 and 4 hang below it and would dangle, so they follow.
    assert_eq!(ids(&conn, "SELECT id FROM node"), BTreeSet::from([1, 5]));
    assert_eq!(
        ids(&conn, "SELECT id FROM node__rejected"),
        BTreeSet::from([2, 3, 4])
    );
    assert_eq!(ids(&conn, "SELECT id FROM leaf"), BTreeSet::from([12]));
    assert_eq!(
        ids(&conn, "SELECT id FROM node__rejected__leaf"),
        BTreeSet::from([10, 11])
    );
    assert_eq!(ids(&conn, "SELECT id FROM note"), BTreeSet::from([102]));
    assert_eq!(
        ids(&conn, "SELECT id FROM node__rejected__leaf__note"),
        BTreeSet::from([100, 101])
    );
    assert_eq!(
        int(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    assert!(
        report.quarantine_reports().len() >= 2,
        "a second pass took the descendants"
    );

    // And back, with the old definition: exactly the original database.
    TableRebuild::from_snapshot(&before)
        .restore_from("node__rejected")
        .execute(&mut conn)
        .unwrap();
    assert_same(&normalized(snapshot(&conn)), &normalized(original));
}

#[test]
fn without_rowid_tables_quarantine_by_primary_key() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID;
         INSERT INTO kv VALUES ('a', 1), ('b', -2), ('c', 3), ('d', -4);",
    )
    .unwrap();
    let original = query_all(&conn, "SELECT k, v FROM kv ORDER BY k");
    TableRebuild::new("kv")
        .create_sql("CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER CHECK (v > 0)) WITHOUT ROWID")
        .on_violation(OnViolation::Quarantine)
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        query_all(&conn, "SELECT k FROM kv ORDER BY k"),
        vec![vec![text("a")], vec![text("c")]]
    );
    let mut together = query_all(&conn, "SELECT k, v FROM kv");
    together.extend(query_all(&conn, "SELECT k, v FROM kv__rejected"));
    together.sort_by_key(|r| format!("{:?}", r[0]));
    assert_eq!(together, original);
}

#[test]
fn restore_refuses_what_it_cannot_put_back() {
    let mut conn = story_db();
    let v3 = TableSnapshot::capture(&conn, "v3_plans").unwrap();
    downgrade().execute(&mut conn).unwrap();
    let before = snapshot(&conn);

    // Not a quarantine table.
    let err = TableRebuild::from_snapshot(&v3)
        .restore_from("plan_events")
        .execute(&mut conn)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Quarantine { table, .. } if table == "plan_events"),
        "{err}"
    );
    // Restored rows are validated: back into the narrow v2 schema they violate.
    let err = TableRebuild::new("v3_plans")
        .create_sql(V2_PLANS)
        .restore_from("v3_plans__rejected")
        .execute(&mut conn)
        .unwrap_err();
    let Error::Violations(report) = err else {
        panic!("{err}")
    };
    assert!(report.violation_count() > 0);
    assert!(report.constraint("ck_v3_plans_phase").is_some());
    assert_eq!(snapshot(&conn), before);
    // Unknown quarantine table.
    let err = TableRebuild::from_snapshot(&v3)
        .restore_from("nope")
        .execute(&mut conn)
        .unwrap_err();
    assert!(matches!(err, Error::UnknownTable { .. }), "{err}");
}

#[test]
fn replies_to_quarantined_child_rows_go_with_them() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         CREATE TABLE post (id INTEGER PRIMARY KEY, kind TEXT);
         CREATE TABLE comment (id INTEGER PRIMARY KEY, post INTEGER REFERENCES post (id),
             reply_to INTEGER REFERENCES comment (id));
         INSERT INTO post VALUES (1, 'ok'), (2, 'bad');
         -- 11 is on the bad post; 12 and 13 reply to it (a chain), though 13 sits on post 1.
         INSERT INTO comment VALUES (10, 1, NULL), (11, 2, NULL), (12, 2, 11), (13, 1, 12), (14, 1, 10);",
    )
    .unwrap();
    let original = snapshot(&conn);
    let before = TableSnapshot::capture(&conn, "post").unwrap();
    TableRebuild::new("post")
        .create_sql("CREATE TABLE post (id INTEGER PRIMARY KEY, kind TEXT CHECK (kind = 'ok'))")
        .on_violation(OnViolation::Quarantine)
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        ids(&conn, "SELECT id FROM comment"),
        BTreeSet::from([10, 14])
    );
    assert_eq!(
        ids(&conn, "SELECT id FROM post__rejected__comment"),
        BTreeSet::from([11, 12, 13])
    );
    assert_eq!(
        int(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0,
        "no reply is left pointing at a moved comment"
    );

    TableRebuild::from_snapshot(&before)
        .restore_from("post__rejected")
        .execute(&mut conn)
        .unwrap();
    assert_same(&normalized(snapshot(&conn)), &normalized(original));
}

/// `Orphans::SetNull` keeps a child row whose key is nullable, with the key set to NULL
/// (kept beside the quarantine), and moves the others; `Orphans::OnDelete` follows each
/// child's own ON DELETE; a restore puts every row and every key back: the database is the
/// original again.
#[test]
fn orphans_can_keep_their_rows_with_a_null_key_and_get_it_back() {
    let setup = "CREATE TABLE team (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE player (id INTEGER PRIMARY KEY, team_id REFERENCES team (id));
        CREATE TABLE badge (id INTEGER PRIMARY KEY, team_id NOT NULL REFERENCES team (id));
        CREATE TABLE coach (id INTEGER PRIMARY KEY, team_id REFERENCES team (id) ON DELETE SET NULL);
        CREATE TABLE kit (id INTEGER PRIMARY KEY, team_id REFERENCES team (id) ON DELETE CASCADE);
        CREATE TRIGGER player_log AFTER UPDATE ON player BEGIN SELECT RAISE(ABORT, 'fired'); END;
        INSERT INTO team VALUES (1, 'ok'), (2, ''), (3, '');
        INSERT INTO player VALUES (10, 1), (20, 2), (30, 3), (40, NULL);
        INSERT INTO badge VALUES (1, 2), (2, 1);
        INSERT INTO coach VALUES (1, 2), (2, 1);
        INSERT INTO kit VALUES (1, 3), (2, 1);";
    for (policy, nulled, moved) in [
        (
            sqlite_rebuild::Orphans::SetNull,
            vec!["player", "coach", "kit"],
            vec!["badge"],
        ),
        (
            sqlite_rebuild::Orphans::OnDelete,
            vec!["coach"],
            vec!["player", "badge", "kit"],
        ),
    ] {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(setup).unwrap();
        let original = snapshot(&conn);
        let team = TableSnapshot::capture(&conn, "team").unwrap();
        let report = TableRebuild::new("team")
            .add_check("named", "name <> ''")
            .on_violation(OnViolation::Quarantine)
            .orphans(policy)
            .execute(&mut conn)
            .unwrap();
        let mut got: Vec<&str> = report
            .keys_nulled()
            .iter()
            .map(|m| m.from_table())
            .collect();
        got.sort();
        let mut want = nulled.clone();
        want.sort();
        assert_eq!(got, want, "{policy:?}");
        for child in &nulled {
            // The rows stayed; the keys that pointed at moved teams are NULL and kept.
            assert_eq!(
                int(
                    &conn,
                    &format!("SELECT count(*) FROM {child} WHERE team_id IN (2, 3)")
                ),
                0
            );
            let kept = format!("team__rejected__{child}__keys");
            assert_eq!(
                int(&conn, &format!("SELECT count(*) FROM {kept}")),
                original.rows[&format!("main.{child}")]
                    .iter()
                    .filter(|r| matches!(r[2], Value::Integer(2 | 3)))
                    .count() as i64
            );
        }
        for child in &moved {
            assert_eq!(
                int(
                    &conn,
                    &format!("SELECT count(*) FROM {child} WHERE team_id IN (2, 3)")
                ),
                0
            );
            assert!(
                int(
                    &conn,
                    &format!("SELECT count(*) FROM team__rejected__{child}")
                ) > 0
            );
        }
        assert_eq!(
            int(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
            0
        );
        // Back: every row and every key, as it was.
        let back = TableRebuild::from_snapshot(&team)
            .restore_from("team__rejected")
            .execute(&mut conn)
            .unwrap();
        assert!(back
            .restored()
            .iter()
            .any(|m| m.from_table().ends_with("__keys")));
        assert_same(&normalized(snapshot(&conn)), &normalized(original));
    }
}

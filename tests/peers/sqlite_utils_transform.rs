//! sqlite-utils' `tests/test_transform.py` (simonw/sqlite-utils), ported. `Table.transform`
//! regenerates the whole `CREATE TABLE` from its introspection; the crate edits the table's
//! own text, so where a test compares schema text the expected text is the crate's (the
//! caller's text kept, renamed columns quoted as SQLite's `RENAME COLUMN` writes them) and
//! the comment says what sqlite-utils writes.

use super::common::*;
use super::{foreign_keys, rebuild, schema_of};
use sqlite_rebuild::rusqlite::types::Value;
use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{ConstraintKind, DependentKind, Error, Strategy, TableRebuild};

/// `dogs` as `dogs.insert({"id": 1, "name": "Cleo", "age": "5"}, pk="id")` creates it.
const DOGS_PK: &str =
    "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT,\n   \"age\" TEXT\n)";
/// The same without `pk=`: a rowid table.
const DOGS_ROWID: &str =
    "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER,\n   \"name\" TEXT,\n   \"age\" TEXT\n)";

fn dogs(create: &str, fk_pragma: bool) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = {};
         {create};
         INSERT INTO dogs VALUES (1, 'Cleo', '5');",
        if fk_pragma { "ON" } else { "OFF" }
    ))
    .unwrap();
    conn
}

fn dogs_rows(conn: &Connection) -> Vec<Vec<Value>> {
    query_all(conn, "SELECT rowid, * FROM dogs ORDER BY rowid")
}

/// `test_transform_sql_table_with_primary_key`: each parameter set, with and without
/// `PRAGMA foreign_keys=ON` (which the crate restores as sqlite-utils does).
#[test]
fn test_transform_sql_table_with_primary_key() {
    let cases: Vec<(TableRebuild, &str)> = vec![
        // types={"age": int}
        (
            TableRebuild::new("dogs").alter_column("age", "INTEGER"),
            "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT,\n   \"age\" INTEGER\n)",
        ),
        // rename={"age": "dog_age"}
        (
            TableRebuild::new("dogs").rename_column("age", "dog_age"),
            "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT,\n   \"dog_age\" TEXT\n)",
        ),
        // drop=["age"]: SQLite's own ALTER TABLE DROP COLUMN, which cuts the text up to
        // the closing parenthesis.
        (
            TableRebuild::new("dogs").drop_column("age"),
            "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT)",
        ),
        // types={"age": int}, rename={"age": "dog_age"}
        (
            TableRebuild::new("dogs")
                .rename_column("age", "dog_age")
                .alter_column("dog_age", "INTEGER"),
            "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT,\n   \"dog_age\" INTEGER\n)",
        ),
        // pk="age": sqlite-utils writes `"age" TEXT PRIMARY KEY` on the column; the crate
        // adds a table constraint, which SQLite reads as the same key.
        (
            TableRebuild::new("dogs").primary_key(["age"]),
            "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER,\n   \"name\" TEXT,\n   \"age\" TEXT\n, PRIMARY KEY (\"age\"))",
        ),
        // pk=("age", "name")
        (
            TableRebuild::new("dogs").primary_key(["age", "name"]),
            "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER,\n   \"name\" TEXT,\n   \"age\" TEXT\n, PRIMARY KEY (\"age\", \"name\"))",
        ),
        // pk=None: a rowid table
        (
            TableRebuild::new("dogs").primary_key(Vec::<String>::new()),
            "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER,\n   \"name\" TEXT,\n   \"age\" TEXT\n)",
        ),
    ];
    for fk_pragma in [false, true] {
        for (rb, expected) in &cases {
            let mut conn = dogs(DOGS_PK, fk_pragma);
            let before = dogs_rows(&conn);
            rebuild(&mut conn, rb.clone());
            assert_eq!(schema_of(&conn, "dogs"), *expected, "{rb:?}");
            // The rows, rowids included, survive every parameter set.
            let after = dogs_rows(&conn);
            assert_eq!(after.len(), before.len());
            assert_eq!(after[0][0], before[0][0]);
            assert_eq!(fk_on(&conn), fk_pragma);
        }
    }
    // Identity transform: sqlite-utils copies anyway; the crate does nothing (the target is
    // the table's current definition), which leaves the same database.
    let mut conn = dogs(DOGS_PK, false);
    let report = rebuild(&mut conn, TableRebuild::new("dogs").create_sql(DOGS_PK));
    assert_eq!(report.strategy(), Strategy::Unchanged);
    // keep_table="kept_table" with drop=["age"]
    let mut conn = dogs(DOGS_PK, true);
    rebuild(
        &mut conn,
        TableRebuild::new("dogs")
            .drop_column("age")
            .keep_old_as("kept_table"),
    );
    // Copied (the old table is kept), with the text SQLite's DROP COLUMN would leave.
    assert_eq!(
        schema_of(&conn, "dogs"),
        "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT)"
    );
    assert_eq!(
        query_all(&conn, "SELECT * FROM kept_table"),
        [vec![Value::Integer(1), text("Cleo"), text("5")]]
    );
}

/// `test_transform_sql_table_with_no_primary_key`.
#[test]
fn test_transform_sql_table_with_no_primary_key() {
    let cases: Vec<(TableRebuild, &str)> = vec![
        (
            TableRebuild::new("dogs").alter_column("age", "INTEGER"),
            "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER,\n   \"name\" TEXT,\n   \"age\" INTEGER\n)",
        ),
        (
            TableRebuild::new("dogs").rename_column("age", "dog_age"),
            "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER,\n   \"name\" TEXT,\n   \"dog_age\" TEXT\n)",
        ),
        (
            TableRebuild::new("dogs").primary_key(["id"]),
            "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER,\n   \"name\" TEXT,\n   \"age\" TEXT\n, PRIMARY KEY (\"id\"))",
        ),
    ];
    for fk_pragma in [false, true] {
        for (rb, expected) in &cases {
            let mut conn = dogs(DOGS_ROWID, fk_pragma);
            // sqlite-utils copies `rowid` explicitly; so does the crate.
            let before = dogs_rows(&conn);
            rebuild(&mut conn, rb.clone());
            assert_eq!(schema_of(&conn, "dogs"), *expected);
            assert_eq!(dogs_rows(&conn)[0][0], before[0][0]);
        }
    }
}

/// `test_transform_sql_with_no_primary_key_to_primary_key_of_id`: `id` becomes the rowid
/// alias (a table `PRIMARY KEY ("id")` on an INTEGER column is one, as SQLite reports).
#[test]
fn test_transform_sql_with_no_primary_key_to_primary_key_of_id() {
    let mut conn = dogs(DOGS_ROWID, false);
    rebuild(&mut conn, TableRebuild::new("dogs").primary_key(["id"]));
    assert_eq!(
        int(
            &conn,
            "SELECT pk FROM pragma_table_info('dogs') WHERE name = 'id'"
        ),
        1
    );
    assert_eq!(int(&conn, "SELECT rowid FROM dogs WHERE id = 1"), 1);
}

/// `test_transform_rename_pk`.
#[test]
fn test_transform_rename_pk() {
    let mut conn = dogs(DOGS_PK, false);
    rebuild(
        &mut conn,
        TableRebuild::new("dogs").rename_column("id", "pk"),
    );
    assert_eq!(
        schema_of(&conn, "dogs"),
        "CREATE TABLE \"dogs\" (\n   \"pk\" INTEGER PRIMARY KEY,\n   \"name\" TEXT,\n   \"age\" TEXT\n)"
    );
}

/// `test_transform_preserves_keyword_literal_defaults`: the caller's DEFAULT text is kept
/// as written, so TRUE stays the integer 1.
#[test]
fn test_transform_preserves_keyword_literal_defaults() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t ( id INTEGER PRIMARY KEY, is_active INTEGER DEFAULT TRUE, flag INTEGER DEFAULT FALSE, note TEXT DEFAULT NULL);
         INSERT INTO t (id) VALUES (1);",
    )
    .unwrap();
    assert_eq!(
        query_all(&conn, "SELECT is_active, flag, note FROM t"),
        [vec![Value::Integer(1), Value::Integer(0), Value::Null]]
    );
    rebuild(
        &mut conn,
        TableRebuild::new("t").rename_column("note", "note2"),
    );
    let schema = schema_of(&conn, "t");
    for kept in ["DEFAULT TRUE", "DEFAULT FALSE", "DEFAULT NULL"] {
        assert!(schema.contains(kept), "{schema}");
    }
    assert!(!schema.contains("'TRUE'"));
    conn.execute_batch("INSERT INTO t (id) VALUES (2)").unwrap();
    assert_eq!(
        query_all(&conn, "SELECT is_active, flag, note2 FROM t WHERE id = 2"),
        [vec![Value::Integer(1), Value::Integer(0), Value::Null]]
    );
}

/// `test_transform_not_null`, `test_transform_remove_a_not_null`,
/// `test_transform_add_not_null_with_rename`.
#[test]
fn test_transform_not_null() {
    let mut conn = dogs(DOGS_PK, false);
    rebuild(
        &mut conn,
        TableRebuild::new("dogs").alter_column("name", "TEXT NOT NULL"),
    );
    assert_eq!(
        schema_of(&conn, "dogs"),
        "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT NOT NULL,\n   \"age\" TEXT\n)"
    );
    // remove a NOT NULL while adding another
    let mut conn = dogs(
        "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT,\n   \"age\" TEXT NOT NULL\n)",
        false,
    );
    rebuild(
        &mut conn,
        TableRebuild::new("dogs")
            .alter_column("name", "TEXT NOT NULL")
            .alter_column("age", "TEXT"),
    );
    assert_eq!(
        schema_of(&conn, "dogs"),
        "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT NOT NULL,\n   \"age\" TEXT\n)"
    );
    // add a NOT NULL with a rename
    let mut conn = dogs(DOGS_PK, false);
    rebuild(
        &mut conn,
        TableRebuild::new("dogs")
            .rename_column("age", "dog_age")
            .alter_column("dog_age", "TEXT NOT NULL"),
    );
    assert_eq!(
        schema_of(&conn, "dogs"),
        "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT,\n   \"dog_age\" TEXT NOT NULL\n)"
    );
}

/// `test_transform_defaults`, `test_transform_defaults_and_rename_column`,
/// `test_remove_defaults`.
#[test]
fn test_transform_defaults() {
    let int_dogs = "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT,\n   \"age\" INTEGER\n)";
    let mut conn = dogs(int_dogs, false);
    rebuild(
        &mut conn,
        TableRebuild::new("dogs").alter_column("age", "INTEGER DEFAULT 1"),
    );
    assert_eq!(
        schema_of(&conn, "dogs"),
        "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT,\n   \"age\" INTEGER DEFAULT 1\n)"
    );
    let mut conn = dogs(int_dogs, false);
    rebuild(
        &mut conn,
        TableRebuild::new("dogs")
            .rename_column("age", "dog_age")
            .alter_column("dog_age", "INTEGER DEFAULT 1"),
    );
    assert_eq!(
        schema_of(&conn, "dogs"),
        "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT,\n   \"dog_age\" INTEGER DEFAULT 1\n)"
    );
    let mut conn = dogs(
        "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT,\n   \"age\" INTEGER DEFAULT 1\n)",
        false,
    );
    rebuild(
        &mut conn,
        TableRebuild::new("dogs").alter_column("age", "INTEGER"),
    );
    assert_eq!(schema_of(&conn, "dogs"), int_dogs);
}

/// The `authors_db` fixture: books.author_id references authors.id.
fn authors_db(fk_pragma: bool) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = {};
         CREATE TABLE \"authors\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT\n);
         CREATE TABLE \"books\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"title\" TEXT,\n   \"author_id\" INTEGER REFERENCES \"authors\"(\"id\")\n);
         INSERT INTO authors VALUES (5, 'Jane McGonical');
         INSERT INTO books VALUES (2, 'Reality is Broken', 5);",
        if fk_pragma { "ON" } else { "OFF" }
    ))
    .unwrap();
    conn
}

fn fk(from: &str, table: &str, to: &str) -> (String, String, String) {
    (from.to_owned(), table.to_owned(), to.to_owned())
}

/// `test_transform_foreign_keys_persist`, `test_transform_foreign_keys_survive_renamed_column`.
#[test]
fn test_transform_foreign_keys_persist() {
    let mut conn = authors_db(false);
    assert_eq!(
        foreign_keys(&conn, "books"),
        [fk("author_id", "authors", "id")]
    );
    rebuild(
        &mut conn,
        TableRebuild::new("books").rename_column("title", "book_title"),
    );
    assert_eq!(
        foreign_keys(&conn, "books"),
        [fk("author_id", "authors", "id")]
    );
    for fk_pragma in [false, true] {
        let mut conn = authors_db(fk_pragma);
        rebuild(
            &mut conn,
            TableRebuild::new("books").rename_column("author_id", "author_id_2"),
        );
        assert_eq!(
            foreign_keys(&conn, "books"),
            [fk("author_id_2", "authors", "id")]
        );
    }
}

/// `test_transform_verify_foreign_keys`: renaming `authors.id` breaks `books`' key in
/// sqlite-utils ("foreign key mismatch", rolled back). The crate renames the way ALTER
/// TABLE RENAME COLUMN does, so the child's key follows the new name and nothing breaks.
#[test]
fn test_transform_verify_foreign_keys() {
    let mut conn = authors_db(true);
    conn.execute_batch("DELETE FROM books; DELETE FROM authors; INSERT INTO authors VALUES (3, 'Tina'); INSERT INTO books VALUES (1, 'Book', 3);").unwrap();
    rebuild(
        &mut conn,
        TableRebuild::new("authors").rename_column("id", "id2"),
    );
    assert_eq!(
        foreign_keys(&conn, "books"),
        [fk("author_id", "authors", "id2")]
    );
    assert!(fk_on(&conn));
    assert_eq!(
        int(
            &conn,
            "SELECT count(*) FROM books JOIN authors ON author_id = id2"
        ),
        1
    );
}

/// `test_transform_on_delete_cascade_does_not_delete_records`.
#[test]
fn test_transform_on_delete_cascade_does_not_delete_records() {
    for fk_pragma in [false, true] {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!(
            "PRAGMA foreign_keys = {};
             CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT);
             CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT, author_id INTEGER REFERENCES authors(id) ON DELETE CASCADE);
             INSERT INTO authors VALUES (1, 'Ursula K. Le Guin');
             INSERT INTO books VALUES (1, 'The Dispossessed', 1);",
            if fk_pragma { "ON" } else { "OFF" }
        ))
        .unwrap();
        // Forced to copy: ALTER TABLE alone would never drop the table, which is the point.
        rebuild(
            &mut conn,
            TableRebuild::new("authors")
                .rename_column("name", "author_name")
                .force_copy(true),
        );
        assert_eq!(
            query_all(&conn, "SELECT id, author_name FROM authors"),
            [vec![Value::Integer(1), text("Ursula K. Le Guin")]]
        );
        assert_eq!(
            query_all(&conn, "SELECT * FROM books"),
            [vec![
                Value::Integer(1),
                text("The Dispossessed"),
                Value::Integer(1)
            ]]
        );
        rebuild(
            &mut conn,
            TableRebuild::new("books")
                .rename_column("title", "book_title")
                .force_copy(true),
        );
        assert_eq!(
            query_all(&conn, "SELECT id, book_title, author_id FROM books"),
            [vec![
                Value::Integer(1),
                text("The Dispossessed"),
                Value::Integer(1)
            ]]
        );
        assert_eq!(fk_on(&conn), fk_pragma);
    }
}

/// `_add_country_city_continent` and `places` with `_CAVEAU`; `foreign_keys` names the
/// columns that get sqlite-utils' column-level `REFERENCES "x"("id")`.
fn places(references: &[&str]) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    let column = |name: &str| {
        if references.contains(&name) {
            format!("   \"{name}\" INTEGER REFERENCES \"{name}\"(\"id\")")
        } else {
            format!("   \"{name}\" INTEGER")
        }
    };
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = OFF;
         CREATE TABLE country (id INTEGER PRIMARY KEY, name TEXT);
         CREATE TABLE continent (id INTEGER PRIMARY KEY, name TEXT);
         CREATE TABLE city (id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO country VALUES (1, 'France');
         INSERT INTO continent VALUES (2, 'Europe');
         INSERT INTO city VALUES (24, 'Paris');
         CREATE TABLE \"places\" (\n   \"id\" INTEGER,\n   \"name\" TEXT,\n{},\n{},\n{}\n);
         INSERT INTO places VALUES (32, 'Caveau de la Huchette', 1, 2, 24);",
        column("country"),
        column("continent"),
        column("city")
    ))
    .unwrap();
    conn
}

/// `test_transform_drop_foreign_keys`.
#[test]
fn test_transform_drop_foreign_keys() {
    for fk_pragma in [false, true] {
        let mut conn = places(&["country", "continent", "city"]);
        if fk_pragma {
            conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        }
        assert_eq!(
            foreign_keys(&conn, "places"),
            [
                fk("city", "city", "id"),
                fk("continent", "continent", "id"),
                fk("country", "country", "id")
            ]
        );
        rebuild(
            &mut conn,
            TableRebuild::new("places")
                .drop_foreign_key(["country"])
                .drop_foreign_key(["continent"]),
        );
        assert_eq!(foreign_keys(&conn, "places"), [fk("city", "city", "id")]);
        assert_eq!(fk_on(&conn), fk_pragma);
    }
}

/// `test_transform_add_foreign_keys_from_scratch`, `test_transform_add_foreign_keys_from_partial`.
#[test]
fn test_transform_add_foreign_keys() {
    let all = [
        fk("city", "city", "id"),
        fk("continent", "continent", "id"),
        fk("country", "country", "id"),
    ];
    let mut conn = places(&[]);
    assert!(foreign_keys(&conn, "places").is_empty());
    let mut rb = TableRebuild::new("places");
    for c in ["country", "continent", "city"] {
        rb = rb.add_foreign_key(format!("({c}) REFERENCES {c}(id)"));
    }
    rebuild(&mut conn, rb);
    assert_eq!(foreign_keys(&conn, "places"), all);
    // sqlite-utils writes each as a column REFERENCES; the crate adds table constraints.
    assert!(schema_of(&conn, "places").ends_with(
        "\"city\" INTEGER\n, FOREIGN KEY (country) REFERENCES country(id), FOREIGN KEY (continent) REFERENCES continent(id), FOREIGN KEY (city) REFERENCES city(id))"
    ));
    let mut conn = places(&["city"]);
    assert_eq!(foreign_keys(&conn, "places"), [fk("city", "city", "id")]);
    rebuild(
        &mut conn,
        TableRebuild::new("places")
            .add_foreign_key("(country) REFERENCES country(id)")
            .add_foreign_key("(continent) REFERENCES continent(id)"),
    );
    assert_eq!(foreign_keys(&conn, "places"), all);
}

/// `test_transform_replace_foreign_keys`: the city key goes, two others come.
#[test]
fn test_transform_replace_foreign_keys() {
    let mut conn = places(&["city"]);
    assert_eq!(foreign_keys(&conn, "places").len(), 1);
    rebuild(
        &mut conn,
        TableRebuild::new("places")
            .drop_foreign_key(["city"])
            .add_foreign_key("(country) REFERENCES country(id)")
            .add_foreign_key("(continent) REFERENCES continent(id)"),
    );
    assert_eq!(
        schema_of(&conn, "places"),
        "CREATE TABLE \"places\" (\n   \"id\" INTEGER,\n   \"name\" TEXT,\n   \"country\" INTEGER,\n   \"continent\" INTEGER,\n   \"city\" INTEGER, FOREIGN KEY (country) REFERENCES country(id), FOREIGN KEY (continent) REFERENCES continent(id))"
    );
}

/// `test_transform_preserves_rowids`, for each table type.
#[test]
fn test_transform_preserves_rowids() {
    for pk in ["PRIMARY KEY", "", "compound"] {
        let (id, key) = match pk {
            "PRIMARY KEY" => ("\"id\" TEXT PRIMARY KEY", ""),
            "compound" => ("\"id\" TEXT", ", PRIMARY KEY (\"id\", \"name\")"),
            _ => ("\"id\" TEXT", ""),
        };
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE places ({id}, \"name\" TEXT, \"country\" TEXT{key});
             INSERT INTO places VALUES ('1', 'Paris', 'France'), ('2', 'London', 'UK'), ('3', 'New York', 'USA');
             DELETE FROM places WHERE id = '2';
             INSERT INTO places VALUES ('4', 'London', 'UK');"
        ))
        .unwrap();
        let previous = query_all(&conn, "SELECT rowid, id, name FROM places");
        rebuild(
            &mut conn,
            TableRebuild::new("places").column_order(["country", "name"]),
        );
        assert_eq!(
            query_all(&conn, "SELECT rowid, id, name FROM places"),
            previous,
            "{pk}"
        );
        assert_eq!(
            query_all(&conn, "SELECT name FROM pragma_table_info('places')"),
            [vec![text("country")], vec![text("name")], vec![text("id")]]
        );
    }
}

/// `test_transform_strict` (each combination), `test_transform_to_strict_with_invalid_data`.
#[test]
fn test_transform_strict() {
    for (initial, transform, expected) in [
        (false, None, false),
        (true, None, true),
        (false, Some(true), true),
        (true, Some(false), false),
    ] {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE dogs (id INTEGER, name TEXT){};
             INSERT INTO dogs VALUES (1, 'Cleo');",
            if initial { " STRICT" } else { "" }
        ))
        .unwrap();
        let rb = match transform {
            Some(strict) => TableRebuild::new("dogs").strict(strict),
            // strict=None changes nothing: a rebuild with another change keeps it.
            None => TableRebuild::new("dogs").rename_column("name", "name2"),
        };
        rebuild(&mut conn, rb);
        assert_eq!(
            int(
                &conn,
                "SELECT strict FROM pragma_table_list WHERE name = 'dogs'"
            ),
            expected as i64
        );
    }
    // A value STRICT would refuse: a typed report naming it, and nothing changed.
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE dogs (id INTEGER); INSERT INTO dogs VALUES ('not-an-integer');",
    )
    .unwrap();
    let err =
        refused_by_every_verb_allowing_reports(&mut conn, TableRebuild::new("dogs").strict(true));
    let Error::Violations(report) = err else {
        panic!("{err}")
    };
    assert_eq!(report.constraints()[0].kind(), ConstraintKind::Datatype);
    assert_eq!(
        int(
            &conn,
            "SELECT strict FROM pragma_table_list WHERE name = 'dogs'"
        ),
        0
    );
    assert_eq!(
        query_all(&conn, "SELECT * FROM dogs"),
        [vec![text("not-an-integer")]]
    );
}

/// As `refused`, with `validate` reporting the same violations.
fn refused_by_every_verb_allowing_reports(conn: &mut Connection, rb: TableRebuild) -> Error {
    let report = rb.validate(conn).unwrap();
    assert!(!report.is_ok());
    let err = refused(conn, rb);
    assert_eq!(err.to_string(), Error::Violations(report).to_string());
    err
}

/// `test_transform_indexes` (each index set, with and without `keep_table`),
/// `test_transform_retains_indexes_with_foreign_keys`.
#[test]
fn test_transform_indexes() {
    let index_sets: [&[&str]; 3] = [&["name"], &["name", "age,breed"], &[]];
    for keep in [false, true] {
        for set in index_sets {
            let mut conn = Connection::open_in_memory().unwrap();
            conn.execute_batch(
                "CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, breed TEXT);
                 INSERT INTO dogs VALUES (1, 'Cleo', 5, 'Labrador');",
            )
            .unwrap();
            for columns in set {
                let name = format!("idx_dogs_{}", columns.replace(',', "_"));
                conn.execute_batch(&format!("CREATE INDEX {name} ON dogs ({columns})"))
                    .unwrap();
            }
            let indexes = "SELECT name, sql FROM sqlite_schema WHERE type = 'index' ORDER BY name";
            let before = query_all(&conn, indexes);
            let mut rb = TableRebuild::new("dogs").alter_column("age", "TEXT");
            if keep {
                rb = rb.keep_old_as("old_dogs");
            }
            rebuild(&mut conn, rb);
            assert_eq!(query_all(&conn, indexes), before);
            if keep {
                assert_eq!(
                    int(
                        &conn,
                        "SELECT count(*) FROM pragma_index_list('old_dogs') WHERE origin <> 'pk'"
                    ),
                    0
                );
            }
        }
    }
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT, owner_id INTEGER);
         CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO dogs VALUES (1, 'Cleo', 1); INSERT INTO owners VALUES (1, 'Alice');
         CREATE INDEX idx_dogs_name ON dogs (name);",
    )
    .unwrap();
    rebuild(
        &mut conn,
        TableRebuild::new("dogs").add_foreign_key("(owner_id) REFERENCES owners(id)"),
    );
    assert_eq!(
        schema_of(&conn, "idx_dogs_name"),
        "CREATE INDEX idx_dogs_name ON dogs (name)"
    );
    assert_eq!(
        foreign_keys(&conn, "dogs"),
        [fk("owner_id", "owners", "id")]
    );
}

/// `test_transform_with_indexes_errors`: a compound (name, age) index when age is renamed
/// or dropped. sqlite-utils refuses both; the crate's rename takes the index along (as ALTER
/// TABLE RENAME COLUMN does), and a drop is refused by the index's name until it may go.
#[test]
fn test_transform_with_indexes_errors() {
    let setup = "CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT, age INTEGER);
                 INSERT INTO dogs VALUES (1, 'Cleo', 5);
                 CREATE INDEX idx_dogs_name_age ON dogs (name, age);";
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(setup).unwrap();
    rebuild(
        &mut conn,
        TableRebuild::new("dogs").rename_column("age", "dog_age"),
    );
    assert_eq!(
        schema_of(&conn, "idx_dogs_name_age"),
        "CREATE INDEX idx_dogs_name_age ON dogs (name, \"dog_age\")"
    );
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(setup).unwrap();
    let err = refused_by_every_verb(&mut conn, TableRebuild::new("dogs").drop_column("age"));
    assert!(
        matches!(err, Error::DependentBroken { kind: DependentKind::Index, ref name, .. } if name == "idx_dogs_name_age"),
        "{err}"
    );
    rebuild(
        &mut conn,
        TableRebuild::new("dogs")
            .drop_column("age")
            .drop_index("idx_dogs_name_age"),
    );
}

/// `test_transform_preserves_autoincrement`, `test_transform_without_autoincrement_not_affected`.
#[test]
fn test_transform_preserves_autoincrement() {
    for auto in [true, false] {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE t (id INTEGER PRIMARY KEY{}, val TEXT);
             INSERT INTO t (val) VALUES ('one'), ('two');",
            if auto { " AUTOINCREMENT" } else { "" }
        ))
        .unwrap();
        rebuild(
            &mut conn,
            TableRebuild::new("t").rename_column("val", "value"),
        );
        assert_eq!(schema_of(&conn, "t").contains("AUTOINCREMENT"), auto);
        assert_eq!(
            int(
                &conn,
                "SELECT pk FROM pragma_table_info('t') WHERE name = 'id'"
            ),
            1
        );
    }
}

/// `test_transform_with_unique_constraint_implicit_index`: sqlite-utils refuses a table
/// whose UNIQUE constraint has an automatic index. The crate keeps the constraint (and so
/// its index), which the target text still declares.
#[test]
fn test_transform_with_unique_constraint_implicit_index() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT UNIQUE, age INTEGER);
         INSERT INTO dogs VALUES (1, 'Cleo', 5);",
    )
    .unwrap();
    rebuild(
        &mut conn,
        TableRebuild::new("dogs").alter_column("age", "TEXT"),
    );
    assert_eq!(
        query_all(&conn, "SELECT name, origin FROM pragma_index_list('dogs')"),
        [vec![text("sqlite_autoindex_dogs_1"), text("u")]]
    );
    assert_eq!(
        query_all(&conn, "SELECT typeof(age) FROM dogs"),
        [vec![text("text")]]
    );
}

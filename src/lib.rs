//! Safe SQLite table rebuilds: change what `ALTER TABLE` cannot, with every existing row
//! validated first and the copy-and-swap done atomically.
//!
//! The sections below go in the order you meet the problem: why hand-written rebuilds
//! break, a first rebuild, reading a refusal, remapping values, child tables, moving rows
//! aside, running inside a migration framework, and plans as SQL scripts. Every example
//! runs as a doc test, except the one that needs `rusqlite_migration` (its runnable twin is
//! `ecosystem/examples/rusqlite_migration.rs`).
//!
//! # Why rebuilds break
//!
//! SQLite's `ALTER TABLE` cannot change a CHECK constraint, a column's type, a foreign key
//! or a primary key. The documented way out, the ["generalized ALTER TABLE
//! procedure"](https://www.sqlite.org/lang_altertable.html#otheralter), is to create a new
//! table, copy the rows, drop the old table and rename the new one. Written by hand it breaks
//! in well-known ways:
//!
//! - the copy fails with `CHECK constraint failed` halfway through a migration, after child
//!   tables were already dropped, leaving the database half-migrated;
//! - `DROP TABLE` on a parent with `foreign_keys=ON` runs `ON DELETE CASCADE` and silently
//!   empties the child tables, and `PRAGMA foreign_keys = OFF` does nothing inside a
//!   transaction;
//! - indexes and triggers vanish with the old table, views make the rename fail, implicit
//!   rowids are renumbered and AUTOINCREMENT counters go back.
//!
//! [`TableRebuild`] describes the target and does the procedure safely: every existing row
//! is validated against the new constraints before anything destructive happens; a refusal
//! reports every violation (which constraint, how many rows exactly, a sample of them); and
//! the copy and swap run atomically, with indexes, triggers, views, rowids, AUTOINCREMENT
//! counters and child rows preserved and checked before commit. Either the whole rebuild
//! happens, or the database is exactly as it was.
//!
//! # A first rebuild
//!
//! Narrow a CHECK constraint while some rows still hold a value it rejects:
//!
//! ```
//! use sqlite_rebuild::{rusqlite::Connection, Error, TableRebuild};
//!
//! let mut conn = Connection::open_in_memory()?;
//! conn.execute_batch(
//!     "CREATE TABLE plans (id INTEGER PRIMARY KEY, phase TEXT NOT NULL);
//!      INSERT INTO plans (phase) VALUES ('execute'), ('action'), ('action');",
//! )?;
//!
//! let rebuild = TableRebuild::new("plans").create_sql(
//!     "CREATE TABLE plans (
//!         id INTEGER PRIMARY KEY,
//!         phase TEXT NOT NULL,
//!         CONSTRAINT ck_phase CHECK (phase IN ('strategize', 'execute', 'apply', 'applied'))
//!     )",
//! );
//!
//! // Refused: nothing changes, and the report says exactly what is wrong.
//! let Err(Error::Violations(report)) = rebuild.execute(&mut conn) else { panic!() };
//! assert_eq!(report.violation_count(), 2);
//! assert_eq!(report.constraint("ck_phase").unwrap().count(), 2);
//!
//! // With a remapping rule, it succeeds.
//! let done = rebuild.remap("phase", "action", "strategize").execute(&mut conn)?;
//! assert_eq!(done.rows_copied(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`TableRebuild::execute`] runs in its own transaction; the builder is a plain value
//! (`Clone`, `Send`, `Sync`), so one description can be validated, planned and executed.
//!
//! # Reading a refusal
//!
//! [`Error::Violations`] carries a [`ValidationReport`]; [`TableRebuild::validate`] returns
//! the same report as a dry run that changes nothing. Its `Display` lists each violated
//! constraint by name (its expression when unnamed) with the exact number of rows, then up
//! to [`TableRebuild::sample_size`] sample rows with their rowid and the values that matter,
//! as the target would store them. The same facts are there as data:
//!
//! ```
//! use sqlite_rebuild::{rusqlite::Connection, ConstraintKind, TableRebuild};
//!
//! let conn = Connection::open_in_memory()?;
//! conn.execute_batch(
//!     "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, age INTEGER);
//!      INSERT INTO users (email, age) VALUES
//!          ('a@example.com', 30), ('a@example.com', 41), (NULL, -1);",
//! )?;
//!
//! let report = TableRebuild::new("users")
//!     .create_sql(
//!         "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE,
//!                              age INTEGER CHECK (age >= 0))",
//!     )
//!     .validate(&conn)?;
//!
//! assert!(!report.is_ok());
//! assert_eq!(report.rows_checked(), 3);
//! assert_eq!(report.violation_count(), 2); // rows 2 and 3
//! for c in report.constraints() {
//!     match c.kind() {
//!         ConstraintKind::NotNull | ConstraintKind::Check => {
//!             assert_eq!(c.samples()[0].rowid(), Some(3))
//!         }
//!         // Every row after the first of a duplicate group.
//!         ConstraintKind::Unique => assert_eq!(c.samples()[0].rowid(), Some(2)),
//!         other => panic!("unexpected {other}"),
//!     }
//! }
//! println!("{report}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Bad input (an unknown table or column, target SQL that does not parse, a rule naming a
//! column the target lacks) is a different [`Error`] variant naming what is wrong, raised
//! before anything is written.
//!
//! # Remapping
//!
//! [`TableRebuild::remap`] rewrites one value of a column while copying; values are bound as
//! parameters and compared with `IS` under the column's affinity and collation, so NULL can
//! be matched or produced too. Several rules on one column compose in the order given.
//! [`TableRebuild::column`] gives a target column an SQL expression over the old row (a
//! rename, a computed or constant value). The [`RebuildReport`] says how many rows each rule
//! changed: zero usually means a typo in `from`.
//!
//! ```
//! use sqlite_rebuild::{rusqlite::Connection, TableRebuild};
//!
//! let mut conn = Connection::open_in_memory()?;
//! conn.execute_batch(
//!     "CREATE TABLE task (id INTEGER PRIMARY KEY, state TEXT, title TEXT);
//!      INSERT INTO task (state, title) VALUES ('wip', 'a'), (NULL, 'b'), ('done', 'c');",
//! )?;
//!
//! let report = TableRebuild::new("task")
//!     .create_sql(
//!         "CREATE TABLE task (id INTEGER PRIMARY KEY,
//!                             status TEXT NOT NULL CHECK (status IN ('todo', 'doing', 'done')),
//!                             title TEXT NOT NULL)",
//!     )
//!     .column("status", "state") // the column is renamed
//!     .remap("status", "wip", "doing")
//!     .remap("status", None::<&str>, "todo")
//!     .execute(&mut conn)?;
//!
//! let changed: Vec<u64> = report.rules().iter().map(|r| r.rows_changed()).collect();
//! assert_eq!(changed, [1, 1]);
//! let status: String = conn.query_row("SELECT status FROM task WHERE id = 2", [], |r| r.get(0))?;
//! assert_eq!(status, "todo");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Two more rule kinds cover what value-to-value cannot: [`TableRebuild::remap_null`] fills
//! the NULLs of a column that becomes `NOT NULL`, and [`TableRebuild::remap_with`] runs a
//! Rust closure over each value (registered with SQLite only while the rebuild runs). All
//! rules compose in the order given, and a rule that changes no row is reported, not an
//! error.
//!
//! # Children
//!
//! Tables whose foreign keys reference the rebuilt table keep every row, even with
//! `foreign_keys=ON` and `ON DELETE CASCADE`: the rebuild runs with foreign key enforcement
//! suspended (so no cascade runs and no child trigger fires), checks the children's keys
//! before commit, and restores the caller's setting on every path. A rebuild that would leave
//! a child row without its parent, or a child key without a PRIMARY KEY or UNIQUE constraint
//! to point at, is refused. [`TableRebuild::child`] declares a child explicitly. When rules
//! remap the values of a key that children reference, the children's foreign key values
//! follow (like `ON UPDATE CASCADE`, without firing their triggers); a key changed by a
//! [`column`](TableRebuild::column) expression cannot be followed and is refused instead.
//!
//! ```
//! use sqlite_rebuild::{rusqlite::Connection, TableRebuild};
//!
//! let mut conn = Connection::open_in_memory()?;
//! conn.execute_batch(
//!     "PRAGMA foreign_keys = ON;
//!      CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT);
//!      CREATE TABLE book (id INTEGER PRIMARY KEY,
//!                         author_id INTEGER REFERENCES author (id) ON DELETE CASCADE);
//!      INSERT INTO author VALUES (1, 'Le Guin'), (2, 'Lem');
//!      INSERT INTO book VALUES (10, 1), (11, 1), (12, 2);",
//! )?;
//!
//! let report = TableRebuild::new("author")
//!     .create_sql("CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
//!     .child("book")
//!     .execute(&mut conn)?;
//!
//! assert_eq!(report.children_checked(), ["book"]);
//! let books: i64 = conn.query_row("SELECT count(*) FROM book", [], |r| r.get(0))?;
//! assert_eq!(books, 3); // a hand-written DROP TABLE author would have cascaded to 0
//! let fk: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
//! assert!(fk);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Moving rows aside instead
//!
//! When rows cannot be fixed by a rule, [`OnViolation::Quarantine`] moves each row that
//! would still violate, whole and unchanged, into a quarantine table (`<table>__rejected`,
//! with the constraints it broke and when), and the child rows that reference it into
//! quarantine tables of their own, so no foreign key dangles. Nothing is deleted: the
//! quarantine plus the rebuilt table hold every original row, and
//! [`TableRebuild::restore_from`] puts them back in a later rebuild.
//!
//! ```
//! use sqlite_rebuild::{rusqlite::Connection, OnViolation, TableRebuild, TableSnapshot};
//!
//! let mut conn = Connection::open_in_memory()?;
//! conn.execute_batch(
//!     "CREATE TABLE task (id INTEGER PRIMARY KEY, state TEXT);
//!      CREATE TABLE note (id INTEGER PRIMARY KEY, task_id INTEGER REFERENCES task (id));
//!      INSERT INTO task VALUES (1, 'todo'), (2, 'blocked'), (3, 'done');
//!      INSERT INTO note VALUES (10, 2), (11, 3);",
//! )?;
//! let before = TableSnapshot::capture(&conn, "task")?;
//!
//! let report = TableRebuild::new("task")
//!     .create_sql("CREATE TABLE task (id INTEGER PRIMARY KEY,
//!                                     state TEXT CHECK (state IN ('todo', 'done')))")
//!     .on_violation(OnViolation::Quarantine)
//!     .execute(&mut conn)?;
//! assert_eq!(report.rows_copied(), 2);
//! let parked: (i64, String) = conn.query_row(
//!     "SELECT id, sqlite_rebuild_violation FROM task__rejected", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
//! assert_eq!(parked, (2, "CHECK state IN ('todo', 'done')".to_owned()));
//! let note: i64 = conn.query_row("SELECT id FROM task__rejected__note", [], |r| r.get(0))?;
//! assert_eq!(note, 10);
//!
//! // Going back: the old definition, with the quarantined rows restored.
//! TableRebuild::from_snapshot(&before).restore_from("task__rejected").execute(&mut conn)?;
//! let tasks: i64 = conn.query_row("SELECT count(*) FROM task", [], |r| r.get(0))?;
//! assert_eq!(tasks, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`TableSnapshot`] records a table's definition and its indexes and triggers, so a
//! downgrade (or a test harness) can rebuild back to it with
//! [`TableRebuild::from_snapshot`].
//!
//! # Inside a migration framework
//!
//! Migration frameworks run each migration in a transaction they opened, where
//! `PRAGMA foreign_keys = OFF` has no effect. [`TableRebuild::execute_in`] takes that
//! transaction: the rebuild runs under a savepoint, suspends foreign key enforcement through
//! `SQLITE_DBCONFIG_ENABLE_FKEY` (which works inside a transaction), and on any error leaves
//! the transaction as it was, so the framework can roll the whole migration back.
//!
//! ```
//! use sqlite_rebuild::{rusqlite::Connection, TableRebuild};
//!
//! let mut conn = Connection::open_in_memory()?;
//! conn.execute_batch(
//!     "PRAGMA foreign_keys = ON;
//!      CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT);
//!      CREATE TABLE book (id INTEGER PRIMARY KEY, author_id REFERENCES author ON DELETE CASCADE);
//!      INSERT INTO author VALUES (1, 'Le Guin');
//!      INSERT INTO book VALUES (10, 1);",
//! )?;
//!
//! // What a framework does around one migration.
//! let tx = conn.transaction()?;
//! tx.execute_batch("ALTER TABLE book ADD COLUMN title TEXT")?; // the migration's own SQL
//! TableRebuild::new("author")
//!     .create_sql("CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
//!     .execute_in(&tx)?;
//! let orphans: i64 = tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
//! assert_eq!(orphans, 0);
//! tx.pragma_update(None, "user_version", 2)?;
//! tx.commit()?;
//!
//! let books: i64 = conn.query_row("SELECT count(*) FROM book", [], |r| r.get(0))?;
//! assert_eq!(books, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With `rusqlite_migration`, the rebuild goes in a hook, which receives the migration's
//! transaction. One program links one rusqlite, and this crate accepts rusqlite 0.40 to 0.43
//! (its [`rusqlite`] re-export is whichever the build chose), so it builds beside
//! `rusqlite_migration` 2.6, which uses 0.40:
//!
//! ```ignore
//! use rusqlite_migration::{HookError, Migrations, M};
//!
//! let migrations = Migrations::new(vec![
//!     M::up(V1_SCHEMA),
//!     M::up_with_hook("", |tx: &rusqlite::Transaction| {
//!         TableRebuild::new("v3_plans")
//!             .create_sql(V2_PLANS)
//!             .remap("phase", "action", "strategize")
//!             .execute_in(tx)
//!             .map_err(|e| HookError::Hook(e.to_string()))?;
//!         Ok(())
//!     }),
//!     // rusqlite_migration checks foreign keys after a migration's SQL and before its hook:
//!     // the check that sees the rebuilt table is the next migration's.
//!     M::up("CREATE INDEX book_by_author ON book (author_id)").foreign_key_check(),
//! ]);
//! migrations.to_latest(&mut conn)?;
//! ```
//!
//! `ecosystem/examples/rusqlite_migration.rs` runs this with the real framework, and
//! `ecosystem/tests/` checks that every child row survives, that the framework's foreign key
//! check passes afterwards, and that a refusal rolls the whole migration back.
//!
//! # What survives, and what may go
//!
//! Everything the target does not change comes back as it was: explicit indexes and
//! triggers (recreated from their stored SQL), the automatic indexes of the target's
//! UNIQUE and PRIMARY KEY constraints, TEMP triggers and views, triggers on other tables
//! and views that read the table (checked to still compile), implicit rowids (so FTS5
//! external-content indexes stay valid; when rows move to or from quarantine, such indexes
//! are rebuilt from their content table), the AUTOINCREMENT counter, and the `ANALYZE`
//! statistics of indexes that come back unchanged. A column the target renames
//! ([`TableRebuild::column`]`("new", "old")`) takes along everything that names it, as
//! `ALTER TABLE ... RENAME COLUMN` would: indexes, triggers, views and children's foreign
//! keys. STRICT and WITHOUT ROWID can be added or
//! removed; generated columns are recomputed by SQLite, never copied. Tables in attached
//! databases and in `temp` are rebuilt with [`TableRebuild::schema`]. Virtual tables (FTS5,
//! R*Tree) and their shadow tables cannot be rebuilt by copy-and-swap and are refused.
//!
//! A target that breaks a dependent (an index on a column it drops, a view or trigger that
//! reads that column) is refused with [`Error::DependentBroken`] naming it. When it is
//! meant to go, say so with [`TableRebuild::drop_dependent`]; the rebuild then drops it in
//! the same transaction and lists it in [`RebuildReport::dropped`].
//!
//! # When only constraints change
//!
//! A target with the same columns, types, collations, defaults and keys, differing only in
//! CHECK, NOT NULL or FOREIGN KEY clauses, needs no copy: the rebuild switches the stored
//! definition in place (SQLite's documented procedure for such changes), applies the rules
//! to the rows where they are without firing the table's triggers, and checks every row
//! against the new constraints, in the same transaction and with the same refusals as a
//! copy. [`RebuildReport::in_place`] says which way a rebuild went. Connections in
//! `SQLITE_DBCONFIG_DEFENSIVE` mode (which forbids writing the schema), and rules that
//! rewrite more than a fifth of the rows (a copy is faster then), take the copy.
//!
//! # Seeing the plan, and running it as SQL text
//!
//! [`TableRebuild::plan`] returns the ordered SQL steps ([`RebuildPlan`]) without running
//! them: exactly the statements [`TableRebuild::execute`] would run. Its `Display` is a
//! commented script, for review or for a migration log.
//!
//! Frameworks that only take SQL text (refinery, diesel, sqlx, plain `.sql` files) get the
//! same safety from [`RebuildPlan::to_sql`]: a self-contained script, rules included, whose
//! guards validate every row before anything is written and roll the transaction back with a
//! message naming the problem when one would not fit. `examples/sql_migration.rs` renders one
//! into a migration file and runs it as such a framework does.
//!
//! # Logging
//!
//! Everything goes through the [`log`](https://docs.rs/log) crate, under targets that start
//! with `sqlite_rebuild` (the module paths, such as `sqlite_rebuild::execute`), so
//! `RUST_LOG=sqlite_rebuild=debug` selects all of it with `env_logger`.
//!
//! - `info`: one line when a rebuild or a dry run starts, and one for its outcome: rebuilt
//!   (rows copied, dependents recreated, children checked), refused (rows in violation,
//!   nothing changed) or rolled back (the error).
//! - `debug`: foreign key enforcement switched off and back on, every SQL statement as run
//!   (remap values written as literals), and the checks that passed before commit.
//! - `warn`: something could not be verified (a schema whose views or triggers already fail
//!   to compile, a constraint that cannot be evaluated) or a savepoint could not be rolled
//!   back because SQLite had already rolled the transaction back.
//! - `error`: foreign key enforcement could not be restored after a rebuild.
//!
//! # Features and SQLite versions
//!
//! - `bundled` (default): SQLite is compiled in through rusqlite's `bundled` feature; nothing
//!   to install. That build starts connections with `foreign_keys=ON`.
//! - Without it (`default-features = false`), the system's SQLite is linked; connections
//!   start with `foreign_keys=OFF` unless the application turns it on. The crate needs SQLite
//!   [`MIN_SQLITE_VERSION`] (3.37.0) or later and returns [`Error::UnsupportedSqlite`] on an
//!   older one; rusqlite 0.43 itself asks for 3.45.3 but links older libraries, and this
//!   crate's tests pass against Debian 12's 3.40.1.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

// The layers, in the order data flows: each module uses only those declared above it
// (ARCHITECTURE.md is the map; tests/layers.rs fails on any use of a later one).
//
// Text: the lexer, the statements and fragments the crate reads, quoting.
mod sql;
// Reports: what validation found and what a rebuild did, plain data.
mod report;
// Errors, which carry reports.
mod error;
// The builder's data: the target, rules, policies (its verbs are in `verbs`).
mod builder;
// The database: catalog, connection settings, RAII guards.
mod db;
// One preflight for every verb, then the catalog read once.
mod introspect;
// Where each target column's value comes from.
mod mapping;
// Constraints as predicates over the rows as the target would store them.
mod validation;
// In place or copy, and the steps of each.
mod strategy;
// The SQL script, rendered only when asked for.
mod script;
// Running the steps, the checks before commit, quarantine.
mod execute;
// What `TableRebuild` does with a connection.
mod verbs;

pub use builder::{
    OnViolation, OnlineOptions, Orphans, TableRebuild, TableSnapshot, DEFAULT_SAMPLE_SIZE,
};
pub use db::MIN_SQLITE_VERSION;
pub use error::{DependentKind, Error, Result, RuleKind};
pub use report::{
    ConstraintKind, ConstraintViolations, MovedRows, Phase, Progress, RebuildReport, RuleReport,
    SampleRow, Strategy, ValidationReport, ValueCount,
};
pub use script::{ChildTables, ScriptOptions};
pub use strategy::{PlanStep, RebuildPlan, StepKind};

/// The rusqlite this crate was built with; use it to get matching `Connection` types.
pub use rusqlite;

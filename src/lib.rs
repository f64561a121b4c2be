//! Safe SQLite table rebuilds.
//!
//! SQLite's `ALTER TABLE` cannot change a CHECK constraint, a column's type, a foreign key
//! or a primary key. The documented way out, the "generalized ALTER TABLE procedure", is to
//! create a new table, copy the rows, drop the old table and rename the new one. Written by
//! hand it breaks in well-known ways:
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
//! let Err(Error::Violations(report)) = rebuild.clone().execute(&mut conn) else { panic!() };
//! assert_eq!(report.violation_count(), 2);
//! assert_eq!(report.constraint("ck_phase").unwrap().count(), 2);
//!
//! // With a remapping rule, it succeeds.
//! let done = rebuild.remap("phase", "action", "strategize").execute(&mut conn)?;
//! assert_eq!(done.rows_copied(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Reading a refusal
//!
//! [`Error::Violations`] carries a [`ValidationReport`]. Its `Display` lists each violated
//! constraint by name (its expression when unnamed) with the exact number of rows, then up
//! to [`TableRebuild::sample_size`] sample rows with their rowid and the values that matter.
//! [`TableRebuild::validate`] produces the same report as a dry run.
//!
//! # Children, inside migration frameworks
//!
//! Tables whose foreign keys reference the rebuilt table keep every row: the rebuild runs
//! with foreign key enforcement suspended and checks those keys before commit.
//! [`TableRebuild::execute`] manages its own transaction; [`TableRebuild::execute_in`] runs
//! inside a transaction the caller (or a migration framework) already opened.
//!
//! # Logging
//!
//! Steps are logged through the [`log`] crate under targets starting with `sqlite_rebuild`:
//! `info` for each rebuild, `debug` for every statement.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod builder;
mod compat;
mod error;
mod execute;
mod plan;
mod quote;
mod schema;
mod sql;
mod validate;

pub use builder::{TableRebuild, DEFAULT_SAMPLE_SIZE};
pub use compat::MIN_SQLITE_VERSION;
pub use error::{Error, Result};
pub use execute::{RebuildReport, RuleReport};
pub use plan::{PlanStep, RebuildPlan, StepKind};
pub use validate::{ConstraintKind, ConstraintViolations, SampleRow, ValidationReport};

/// The rusqlite this crate was built with; use it to get matching `Connection` types.
pub use rusqlite;

//! Fidelity against SQLite itself: for random source tables and random target changes, a
//! rebuild either produces exactly what SQLite's hand-written "generalized ALTER TABLE
//! procedure" produces, or refuses and leaves the database exactly as it was; it never
//! panics, and it never refuses what the procedure does cleanly, so "always refuse" fails.
//!
//! Each case builds a table `t`: column types INTEGER/integer/INT/TEXT/REAL/BLOB/NUMERIC/none;
//! NOT NULL with and without DEFAULT, CHECKs, UNIQUE, COLLATE NOCASE, DEFAULT expressions;
//! column names that need quoting; an implicit rowid, an INTEGER PRIMARY KEY (sometimes
//! AUTOINCREMENT, sometimes DESC, which is no rowid alias), a composite PRIMARY KEY or
//! WITHOUT ROWID; sometimes STRICT; sometimes a generated column, or a column referencing the
//! table's own key. Around it: random explicit indexes (plain, unique, partial, expression,
//! DESC, COLLATE), a trigger (sometimes TEMP) writing into a `log` table, a trigger on `log`
//! that reads `t`, sometimes a view, sometimes a child table whose `ON DELETE CASCADE`
//! foreign key references the table's key (some of its keys match the parent's only under
//! the parent's affinity or collation), and 0-30 random rows, inserted with
//! `INSERT OR IGNORE` so that rows breaking the source's constraints are skipped. And what
//! framework-made and adversarial schemas add: `ON CONFLICT` clauses on every UNIQUE and NOT
//! NULL, every identifier double-quoted, a TEMP table and an attached table named `t`, a
//! trigger on another table inserting into `t` positionally, a trigger copying `SELECT *`
//! into a history table, a view with a column list over `SELECT *`, an FTS5 index whose
//! external content is `t`, columns named `rowid`, `oid` and `_rowid_`.
//!
//! The target makes one to three changes: add a column (nullable, with DEFAULT, NOT NULL with
//! DEFAULT, NOT NULL without), drop one (perhaps one an index, trigger or view uses), rename
//! one (mapped with `.column("new", "\"old\"")`), retype one, tighten or loosen a CHECK, NOT
//! NULL, UNIQUE, a collation, a DEFAULT, a table CHECK (sometimes a non-deterministic one,
//! which SQLite refuses to write under), a foreign key to a table `r`, STRICT,
//! AUTOINCREMENT or the key's DESC.
//!
//! The oracle is SQLite: a second database from the same setup runs the documented procedure
//! by hand (`foreign_keys=OFF`; `BEGIN`; create `new_t`; copy, rowids included; drop; rename
//! with `legacy_alter_table=ON`; recreate the saved indexes and triggers; `foreign_key_check`;
//! `COMMIT`, else `ROLLBACK`), every statement qualified with `main`, with the additions the
//! crate documents and a careful hand would make: renamed columns are first renamed in the
//! old table with SQLite's own `ALTER TABLE ... RENAME COLUMN` (so what names them follows),
//! the copy overrides conflict clauses (`INSERT OR ABORT`), indexes are recreated with the
//! double-quoted string fallback off (what named a column must name one), the
//! AUTOINCREMENT counter is put back, the full-text index is rebuilt, and what uses each
//! view and trigger (a SELECT, the statements that fire them) must compile as before, as
//! must the schema on a rename probe (when it did before). When columns hide every name of
//! the rowid the procedure cannot keep the rowids: the crate must refuse the copy
//! (`RowidUnreachable`) or leave the rows in place.
//!
//! - The oracle succeeds: the crate must succeed, through `execute` (which may switch a
//!   constraint-only change in place), through `execute` on a connection in
//!   `SQLITE_DBCONFIG_DEFENSIVE` mode (always a copy) and through `execute_in` the caller's
//!   transaction; each resulting database must equal the oracle's: every table's rows
//!   (rowids included) and every `sqlite_schema` row, the rebuilt table's statement being
//!   the target's, every other one unchanged. `integrity_check` must be ok and
//!   `foreign_key_check` find nothing new.
//! - The oracle fails (a constraint, an index, trigger or view that no longer compiles, a
//!   foreign key): the crate must return an `Err` of the kind that fits one of the
//!   procedure's reasons to fail (a `Violations` report for rows that do not fit, not a bare
//!   SQLite error), and the database must be exactly as it was.
//! - A target column that is `NOT NULL` without `DEFAULT` and has no source is refused with
//!   `Error::MissingSource`, even when the table is empty (where the procedure would pass).
//! - The three paths agree, down to the kind of refusal; nothing panics.
//! - `validate` and `plan` change nothing and say what `execute` finds (`validate`'s report
//!   is `execute`'s refusal; `plan` refuses only what `execute` refuses), and the plan's
//!   script, run as plain SQL with foreign keys off, produces the procedure's database or
//!   refuses and changes nothing.
//!
//! 256 cases by default (a few seconds); set `PROPTEST_CASES` for more, e.g.
//! `PROPTEST_CASES=5000 cargo test --test props`. A failure prints the shrunk case
//!
//! `gen` builds the cases, `oracle` runs SQLite's procedure on them, `verify` runs the crate
//! on every path and compares.

#[path = "../common/mod.rs"]
mod common;
mod gen;
mod oracle;
mod verify;

use gen::{build, gen};
use proptest::prelude::*;
use proptest::test_runner::Config;
use verify::check;

proptest! {
    // No regression file: failures print the shrunk case instead.
    #![proptest_config(Config { failure_persistence: None, ..Config::default() })]

    #[test]
    fn a_rebuild_matches_sqlites_procedure_or_changes_nothing(case in gen().prop_map(|g| build(&g))) {
        check(&case)?;
    }
}

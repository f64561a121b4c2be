//! The builder's data: [`TableRebuild`] and what its methods record (the target, where
//! columns come from, rules, policies, the dependents to drop or recreate). Its verbs
//! (`validate`, `plan`, `execute`, `execute_in`) live in `verbs.rs`, above every layer they
//! drive; nothing here reads a database.

mod online;
mod operations;
pub(crate) mod quarantine;
mod rules;
mod snapshot;

pub use online::OnlineOptions;
pub(crate) use operations::Operation;
pub(crate) use rules::{Remap, RemapFn, Rule};
pub(crate) use snapshot::Dependent;
pub use snapshot::TableSnapshot;

use crate::report::Progress;
use rusqlite::types::{Null, ToSql, Value, ValueRef};
use std::fmt;
use std::sync::Arc;

/// Number of sample rows a [`ValidationReport`](crate::ValidationReport) keeps per constraint unless told otherwise.
pub const DEFAULT_SAMPLE_SIZE: usize = 20;

/// What the rebuild does with rows that would still violate the target after remapping.
///
/// ```
/// use sqlite_rebuild::{rusqlite::Connection, OnViolation, TableRebuild};
///
/// let mut conn = Connection::open_in_memory()?;
/// conn.execute_batch(
///     "CREATE TABLE item (id INTEGER PRIMARY KEY, qty INTEGER);
///      INSERT INTO item VALUES (1, 5), (2, -1), (3, 7);",
/// )?;
/// let report = TableRebuild::new("item")
///     .create_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, qty INTEGER CHECK (qty >= 0))")
///     .on_violation(OnViolation::Quarantine)
///     .execute(&mut conn)?;
/// assert_eq!(report.rows_copied(), 2);
/// assert_eq!(report.quarantined()[0].to_table(), "item__rejected");
/// let kept: i64 = conn.query_row("SELECT count(*) FROM item__rejected", [], |r| r.get(0))?;
/// assert_eq!(kept, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OnViolation {
    /// Refuse the rebuild with [`Error::Violations`](crate::Error::Violations) and change
    /// nothing (the default).
    #[default]
    Abort,
    /// Move every row that would still violate, whole and unchanged, into the quarantine
    /// table `<table>__rejected`, and the child rows that reference them into quarantine
    /// tables of their own (`<table>__rejected__<child>`), then rebuild with the rest.
    /// Whatever would be left pointing at a moved row moves too: grandchildren, rows of the
    /// table that reference moved rows, and rows of a child that reference its moved rows
    /// (a reply to a moved comment). Moves fire no triggers; full-text indexes whose
    /// external content is a table rows left are rebuilt. Nothing is deleted: the
    /// quarantine plus the rebuilt table hold every original row, and
    /// [`TableRebuild::restore_from`] puts them back.
    Quarantine,
    /// As [`Quarantine`](Self::Quarantine), into the quarantine table of the given name.
    QuarantineInto(String),
}

/// What [`OnViolation::Quarantine`] does with the child rows that reference a row it moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Orphans {
    /// Move them into quarantine tables of their own, with the rows they reference (the
    /// default).
    #[default]
    Move,
    /// Keep each child row where it is with its foreign key set to NULL, when the key's
    /// columns are nullable (and the child has rowids); move the others. The keys are kept
    /// in `<quarantine>__<child>__keys`, and
    /// [`restore_from`](TableRebuild::restore_from) sets them back.
    SetNull,
    /// Do what each child's own foreign key says on delete: `ON DELETE SET NULL` sets the
    /// key to NULL as [`SetNull`](Self::SetNull) does; anything else moves the row.
    OnDelete,
}

/// Describes a table rebuild: SQLite's "generalized ALTER TABLE procedure", done safely.
///
/// Build it by value, then call [`validate`](Self::validate) for a dry run,
/// [`plan`](Self::plan) to see the SQL, or [`execute`](Self::execute) /
/// [`execute_in`](Self::execute_in) to run it. Every existing row is checked against the
/// target's constraints before anything destructive happens; on any error the database is
/// left exactly as it was.
///
/// ```
/// use sqlite_rebuild::{rusqlite::Connection, TableRebuild};
///
/// let mut conn = Connection::open_in_memory()?;
/// conn.execute_batch(
///     "CREATE TABLE task (id INTEGER PRIMARY KEY, state TEXT);
///      INSERT INTO task (state) VALUES ('todo'), ('doing'), ('wip');",
/// )?;
///
/// let report = TableRebuild::new("task")
///     .create_sql(
///         "CREATE TABLE task (id INTEGER PRIMARY KEY,
///                             state TEXT NOT NULL CHECK (state IN ('todo', 'doing', 'done')))",
///     )
///     .remap("state", "wip", "doing")
///     .execute(&mut conn)?;
///
/// assert_eq!(report.rows_copied(), 3);
/// assert_eq!(report.rules()[0].rows_changed(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a TableRebuild does nothing until validate, plan or execute is called"]
pub struct TableRebuild {
    pub(crate) schema: String,
    pub(crate) table: String,
    pub(crate) create_sql: Option<String>,
    pub(crate) columns: Vec<(String, String)>,
    pub(crate) remaps: Vec<Remap>,
    pub(crate) children: Vec<String>,
    pub(crate) sample_size: usize,
    pub(crate) on_violation: OnViolation,
    pub(crate) restore_from: Option<String>,
    pub(crate) progress: Option<ProgressFn>,
    /// Indexes and triggers to recreate besides (or instead of, by name) the current ones.
    pub(crate) snapshot_dependents: Vec<Dependent>,
    /// A remap value that could not be converted, reported when the rebuild is run.
    pub(crate) invalid_value: Option<(String, String)>,
    /// Indexes, triggers and views the caller allows the rebuild to drop.
    pub(crate) drop_dependents: Vec<String>,
    /// Old columns the caller lets go with their data.
    pub(crate) drop_columns: Vec<String>,
    /// The change, described operation by operation (instead of `create_sql`).
    pub(crate) operations: Vec<Operation>,
    /// Copy the rows even where `ALTER TABLE` or the in-place switch would do.
    pub(crate) copy_always: bool,
    /// `CREATE INDEX` statements for the rebuilt table.
    pub(crate) create_indexes: Vec<String>,
    /// Indexes of the table to drop.
    pub(crate) drop_indexes: Vec<String>,
    /// Keep the old table, with its rows, under this name.
    pub(crate) keep_old_as: Option<String>,
    /// What quarantine does with the child rows of the rows it moves.
    pub(crate) orphans: Orphans,
}

impl TableRebuild {
    /// Starts describing a rebuild of `table` (in the `main` schema).
    pub fn new(table: impl Into<String>) -> Self {
        TableRebuild {
            schema: "main".to_owned(),
            table: table.into(),
            create_sql: None,
            columns: Vec::new(),
            remaps: Vec::new(),
            children: Vec::new(),
            sample_size: DEFAULT_SAMPLE_SIZE,
            on_violation: OnViolation::Abort,
            restore_from: None,
            snapshot_dependents: Vec::new(),
            progress: None,
            invalid_value: None,
            drop_dependents: Vec::new(),
            drop_columns: Vec::new(),
            operations: Vec::new(),
            copy_always: false,
            create_indexes: Vec::new(),
            drop_indexes: Vec::new(),
            keep_old_as: None,
            orphans: Orphans::Move,
        }
    }

    /// Starts a rebuild back to a [`TableSnapshot`](crate::TableSnapshot): its table, schema and `CREATE TABLE`
    /// statement become the target, and its indexes and triggers are recreated after the
    /// swap (where the current table has one of the same name, the snapshot's definition
    /// wins; the current table's others are kept). Add rules for the way back as usual:
    /// [`column`](Self::column) for values the snapshot's columns need, and
    /// [`remap`](Self::remap) for values its constraints reject.
    pub fn from_snapshot(snapshot: &crate::TableSnapshot) -> Self {
        let mut rb = TableRebuild::new(snapshot.table.clone())
            .schema(snapshot.schema.clone())
            .create_sql(snapshot.create_sql.clone());
        rb.snapshot_dependents = snapshot.dependents.clone();
        rb
    }

    /// The schema that holds the table: `main` (the default), `temp`, or an attached
    /// database's name.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The complete target `CREATE TABLE` statement, under the table's own name.
    ///
    /// It must be exactly one statement; anything else is refused with
    /// [`Error::TargetSql`](crate::Error::TargetSql) when the rebuild runs.
    pub fn create_sql(mut self, sql: impl Into<String>) -> Self {
        self.create_sql = Some(sql.into());
        self
    }

    /// Where the target column `target`'s value comes from: an SQL expression over the old
    /// row (a renamed column, a computed value, a constant).
    ///
    /// Without a rule, a target column takes the old column of the same name, or its
    /// `DEFAULT` when the old table has no such column. The expression is SQL by design:
    /// pass only trusted text. Values from users belong in [`remap`](Self::remap), which
    /// binds them as parameters.
    ///
    /// An expression that is only the name of an old column the target lacks, for a target
    /// column the old table lacks (`.column("key", "code")`), is a rename: it is done the
    /// way `ALTER TABLE ... RENAME COLUMN` does it, so indexes, triggers, views and the
    /// foreign keys of child tables that name the column follow the new name.
    pub fn column(mut self, target: impl Into<String>, sql_expr: impl Into<String>) -> Self {
        self.columns.push((target.into(), sql_expr.into()));
        self
    }

    /// While copying, target column `column`'s value `from` becomes `to`.
    ///
    /// `from` and `to` accept anything rusqlite can bind: string and integer literals,
    /// floats, blobs, and `None::<&str>` or [`rusqlite::types::Null`] for NULL. Values are
    /// bound as parameters, never spliced into SQL. The old value is compared with `IS`,
    /// under the column's affinity and collation. Several rules on one column compose in
    /// the order given.
    pub fn remap<F: ToSql, T: ToSql>(mut self, column: impl Into<String>, from: F, to: T) -> Self {
        let column = column.into();
        match (rules::owned_value(&from), rules::owned_value(&to)) {
            (Ok(from), Ok(to)) => self.remaps.push(Remap {
                column,
                rule: Rule::Value { from, to },
            }),
            (Err(e), _) | (_, Err(e)) => {
                self.invalid_value.get_or_insert((column, e));
            }
        }
        self
    }

    /// While copying, NULLs in target column `column` become `value`: the rule to give a
    /// column that becomes `NOT NULL`. The same as `.remap(column, Null, value)`.
    ///
    /// ```
    /// use sqlite_rebuild::{rusqlite::Connection, TableRebuild};
    ///
    /// let mut conn = Connection::open_in_memory()?;
    /// conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT);
    ///                     INSERT INTO t VALUES (1, 'kept'), (2, NULL);")?;
    /// TableRebuild::new("t")
    ///     .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT NOT NULL)")
    ///     .remap_null("note", "")
    ///     .execute(&mut conn)?;
    /// let empty: i64 = conn.query_row("SELECT count(*) FROM t WHERE note = ''", [], |r| r.get(0))?;
    /// assert_eq!(empty, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remap_null<T: ToSql>(self, column: impl Into<String>, value: T) -> Self {
        self.remap(column, Null, value)
    }

    /// While copying, target column `column`'s value becomes `f(value)`: for rules that SQL
    /// cannot express comfortably.
    ///
    /// `f` sees the value after the rules given before it and its result passes through the
    /// rules given after it. It is registered with SQLite as a scalar function only while
    /// the rebuild runs (and removed afterwards, also on error), and runs once per row. A
    /// plan with a closure rule cannot be rendered as SQL text:
    /// [`RebuildPlan::to_sql`] refuses it with [`Error::NotRenderable`](crate::Error::NotRenderable).
    ///
    /// ```
    /// use sqlite_rebuild::rusqlite::types::{Value, ValueRef};
    /// use sqlite_rebuild::{rusqlite::Connection, TableRebuild};
    ///
    /// let mut conn = Connection::open_in_memory()?;
    /// conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, tag TEXT);
    ///                     INSERT INTO t VALUES (1, ' Rust '), (2, 'sql');")?;
    /// let report = TableRebuild::new("t")
    ///     .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY,
    ///                                  tag TEXT CHECK (tag = lower(trim(tag))))")
    ///     .remap_with("tag", |v: ValueRef<'_>| match v {
    ///         ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).trim().to_lowercase()),
    ///         other => Value::try_from(other).expect("only text can fail to convert"),
    ///     })
    ///     .execute(&mut conn)?;
    /// assert_eq!(report.rules()[0].rows_changed(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`RebuildPlan::to_sql`]: crate::RebuildPlan::to_sql
    pub fn remap_with<F>(mut self, column: impl Into<String>, f: F) -> Self
    where
        F: Fn(ValueRef<'_>) -> Value + Send + Sync + 'static,
    {
        self.remaps.push(Remap {
            column: column.into(),
            rule: Rule::With(RemapFn(Arc::new(f))),
        });
        self
    }

    /// What to do with rows that would still violate the target after remapping: refuse
    /// ([`OnViolation::Abort`], the default) or move them aside
    /// ([`OnViolation::Quarantine`]).
    pub fn on_violation(mut self, policy: OnViolation) -> Self {
        self.on_violation = policy;
        self
    }

    /// What [`OnViolation::Quarantine`] does with the child rows that reference a row it
    /// moves: move them too ([`Orphans::Move`], the default), or keep them with their key set
    /// to NULL ([`Orphans::SetNull`], [`Orphans::OnDelete`]). Either way nothing is lost: the
    /// keys set to NULL are kept beside the quarantine, and listed by
    /// [`RebuildReport::keys_nulled`](crate::RebuildReport::keys_nulled).
    ///
    /// ```
    /// use sqlite_rebuild::{rusqlite::Connection, OnViolation, Orphans, TableRebuild};
    ///
    /// let mut conn = Connection::open_in_memory()?;
    /// conn.execute_batch(
    ///     "CREATE TABLE team (id INTEGER PRIMARY KEY, name TEXT);
    ///      CREATE TABLE player (id INTEGER PRIMARY KEY, team_id REFERENCES team (id));
    ///      INSERT INTO team VALUES (1, 'ok'), (2, '');
    ///      INSERT INTO player VALUES (10, 1), (20, 2);",
    /// )?;
    /// let report = TableRebuild::new("team")
    ///     .add_check("named", "name <> ''")
    ///     .on_violation(OnViolation::Quarantine)
    ///     .orphans(Orphans::SetNull)
    ///     .execute(&mut conn)?;
    /// assert_eq!(report.keys_nulled()[0].rows(), 1);
    /// let kept: i64 = conn.query_row("SELECT count(*) FROM player WHERE team_id IS NULL", [], |r| r.get(0))?;
    /// assert_eq!(kept, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn orphans(mut self, policy: Orphans) -> Self {
        self.orphans = policy;
        self
    }

    /// Puts rows back from a quarantine table that an earlier rebuild of this table filled
    /// (see [`OnViolation::Quarantine`]): its rows are copied into the new table through the
    /// same column expressions and rules as the table's own rows, its children's quarantine
    /// tables go back into the children, and the emptied quarantine tables are dropped. The
    /// restored rows are validated like every other row.
    pub fn restore_from(mut self, quarantine_table: impl Into<String>) -> Self {
        self.restore_from = Some(quarantine_table.into());
        self
    }

    /// Calls `f` with the rebuild's [`Progress`](crate::Progress) as it runs: the phase
    /// (validate, copy, indexes, checks) and how much of it is done, at least every 100,000
    /// rows during the copy. `f` runs on the calling thread between SQL statements; keep it
    /// quick (update a progress bar, log a line).
    ///
    /// ```
    /// use sqlite_rebuild::{rusqlite::Connection, Phase, TableRebuild};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let mut conn = Connection::open_in_memory()?;
    /// conn.execute_batch(
    ///     "CREATE TABLE t (a INTEGER);
    ///      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250000)
    ///      INSERT INTO t SELECT i FROM n;",
    /// )?;
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// TableRebuild::new("t")
    ///     .create_sql("CREATE TABLE t (a REAL NOT NULL)") // a new type: copied
    ///     .on_progress(move |p| log.lock().unwrap().push((p.phase(), p.done(), p.total())))
    ///     .execute(&mut conn)?;
    /// let copy: Vec<u64> = seen.lock().unwrap().iter()
    ///     .filter(|(phase, _, _)| *phase == Phase::Copy)
    ///     .map(|(_, done, _)| *done)
    ///     .collect();
    /// assert_eq!(copy, [0, 100_000, 200_000, 250_000]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_progress<F>(mut self, f: F) -> Self
    where
        F: Fn(&Progress) + Send + Sync + 'static,
    {
        self.progress = Some(ProgressFn(Arc::new(f)));
        self
    }

    /// Declares a dependent table whose rows must survive the rebuild.
    ///
    /// Tables whose foreign keys reference the table are protected whether declared or
    /// not; declaring one makes the intent explicit, and declaring a table that does not
    /// reference the table is refused with [`Error::NotAChild`](crate::Error::NotAChild).
    pub fn child(mut self, table: impl Into<String>) -> Self {
        self.children.push(table.into());
        self
    }

    /// Lets the old column `name`, which the target does not have, go with its data.
    ///
    /// A column the target lacks is never dropped silently: when it holds any value other
    /// than NULL, the rebuild is refused with
    /// [`Error::ColumnDropped`](crate::Error::ColumnDropped), naming it and counting the
    /// values it would lose (a typo in the target, `emial` for `email`, would otherwise lose
    /// every email). A column a [`column`](Self::column) expression reads is not dropped.
    /// Naming a column the old table lacks, or one the target keeps, is refused with
    /// [`Error::UnknownColumn`](crate::Error::UnknownColumn). Dropped columns are listed
    /// by [`RebuildReport::dropped_columns`](crate::RebuildReport::dropped_columns) and the
    /// plan.
    ///
    /// ```
    /// use sqlite_rebuild::{rusqlite::Connection, Error, TableRebuild};
    ///
    /// let mut conn = Connection::open_in_memory()?;
    /// conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT, legacy TEXT);
    ///                     INSERT INTO t VALUES (1, 'a@example.com', 'x');")?;
    /// let target = "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT NOT NULL)";
    /// let err = TableRebuild::new("t").create_sql(target).execute(&mut conn).unwrap_err();
    /// assert!(matches!(err, Error::ColumnDropped { ref column, values: 1, .. } if column == "legacy"));
    ///
    /// let report = TableRebuild::new("t")
    ///     .create_sql(target)
    ///     .drop_column("legacy")
    ///     .execute(&mut conn)?;
    /// assert_eq!(report.dropped_columns(), ["legacy"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drop_column(mut self, name: impl Into<String>) -> Self {
        self.drop_columns.push(name.into());
        self
    }

    /// Drops an index, trigger or view as part of the rebuild, instead of recreating it.
    ///
    /// A dependent the target breaks (an index on a dropped column, a view or trigger that
    /// reads it) makes the rebuild fail with
    /// [`Error::DependentBroken`](crate::Error::DependentBroken) rather than lose it
    /// silently; naming it here says it may go. `name` is an index or trigger of the
    /// table, or a view or trigger anywhere in its schema (or in `temp`). It is dropped in
    /// the rebuild's transaction, listed in the plan
    /// ([`StepKind::DropDependent`](crate::StepKind::DropDependent)) and in
    /// [`RebuildReport::dropped`](crate::RebuildReport::dropped). A view built on a dropped
    /// view breaks too, and must be named as well.
    ///
    /// ```
    /// use sqlite_rebuild::{rusqlite::Connection, TableRebuild};
    ///
    /// let mut conn = Connection::open_in_memory()?;
    /// conn.execute_batch(
    ///     "CREATE TABLE t (id INTEGER PRIMARY KEY, legacy TEXT);
    ///      CREATE INDEX t_legacy ON t (legacy);",
    /// )?;
    /// let report = TableRebuild::new("t")
    ///     .create_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    ///     .drop_dependent("t_legacy")
    ///     .execute(&mut conn)?;
    /// assert_eq!(report.dropped(), ["t_legacy"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drop_dependent(mut self, name: impl Into<String>) -> Self {
        self.drop_dependents.push(name.into());
        self
    }

    /// Rebuild by copying the rows ([`Strategy::Copy`](crate::Strategy::Copy)) even where
    /// SQLite's `ALTER TABLE` or the in-place switch of the definition would do: every row
    /// and index is written anew (the table's pages end up together, as after `VACUUM`).
    pub fn force_copy(mut self, copy: bool) -> Self {
        self.copy_always = copy;
        self
    }

    /// How many offending rows a [`ValidationReport`](crate::ValidationReport) shows per constraint (default
    /// [`DEFAULT_SAMPLE_SIZE`]). Counts are always exact whatever the sample size.
    pub fn sample_size(mut self, rows: usize) -> Self {
        self.sample_size = rows;
        self
    }
}

/// A progress callback; compared by identity.
#[derive(Clone)]
pub(crate) struct ProgressFn(pub Arc<dyn Fn(&Progress) + Send + Sync>);

impl ProgressFn {
    pub(crate) fn report(this: &Option<ProgressFn>, progress: Progress) {
        if let Some(f) = this {
            (f.0)(&progress);
        }
    }
}

impl fmt::Debug for ProgressFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressFn(<closure>)")
    }
}

impl PartialEq for ProgressFn {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_is_send_sync_and_collects_rules() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<TableRebuild>();
        let rb = TableRebuild::new("t")
            .remap("a", "x", 1)
            .remap("a", 2i64, None::<&str>)
            .remap("b", rusqlite::types::Null, 2.5);
        assert_eq!(rb.remaps.len(), 3);
        let values: Vec<(Value, Value)> = rb
            .remaps
            .iter()
            .filter_map(|r| match &r.rule {
                Rule::Value { from, to } => Some((from.clone(), to.clone())),
                Rule::With(_) => None,
            })
            .collect();
        assert_eq!(values[0].0, Value::Text("x".into()));
        assert_eq!(values[1].1, Value::Null);
        assert_eq!(values[2].1, Value::Real(2.5));
        assert!(rb.invalid_value.is_none());
    }
}

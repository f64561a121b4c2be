//! Describing the change instead of the whole table: the operations (`.add_column`,
//! `.rename_column`, `.add_check`, ...) a [`TableRebuild`] records. Introspection applies
//! them to the table's current definition text (`introspect::edit`); nothing here reads a
//! database.

use super::TableRebuild;

/// One recorded operation, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Operation {
    AddColumn(String),
    RenameColumn { from: String, to: String },
    AlterColumn { name: String, definition: String },
    SetNotNull(String),
    DropNotNull(String),
    AddCheck { name: String, expr: String },
    AddUnique { name: String, columns: Vec<String> },
    DropConstraint(String),
    AddForeignKey(String),
    DropForeignKey(Vec<String>),
    PrimaryKey(Vec<String>),
    ColumnOrder(Vec<String>),
    Strict(bool),
    WithoutRowid(bool),
}

fn names<I, S>(columns: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    columns.into_iter().map(Into::into).collect()
}

/// The operations: each edits the table's current `CREATE TABLE` text, keeping the
/// caller's text wherever it does not change; [`plan`](TableRebuild::plan) shows the result
/// ([`RebuildPlan::target_sql`](crate::RebuildPlan::target_sql)). They are an alternative to
/// [`create_sql`](TableRebuild::create_sql): giving both is refused with
/// [`Error::Operation`](crate::Error::Operation), as is an operation naming a column or
/// constraint the table lacks, or contradicting another.
///
/// Columns are named as they are after the renames, except by
/// [`drop_column`](TableRebuild::drop_column) and [`rename_column`](TableRebuild::rename_column)'s
/// `from`, which name the table's current columns.
///
/// ```
/// use sqlite_rebuild::{rusqlite::Connection, Strategy, TableRebuild};
///
/// let mut conn = Connection::open_in_memory()?;
/// conn.execute_batch(
///     "CREATE TABLE item (id INTEGER PRIMARY KEY, qty TEXT, note TEXT);
///      CREATE INDEX item_qty ON item (qty);
///      INSERT INTO item VALUES (1, '5', 'a'), (2, '7', NULL);",
/// )?;
/// let report = TableRebuild::new("item")
///     .alter_column("qty", "INTEGER NOT NULL CHECK (qty >= 0)")
///     .rename_column("note", "remark")
///     .add_column("priority INTEGER NOT NULL DEFAULT 0")
///     .execute(&mut conn)?;
/// assert_eq!(report.strategy(), Strategy::Copy);
/// let sql: String = conn.query_row("SELECT sql FROM sqlite_schema WHERE name = 'item'", [], |r| r.get(0))?;
/// assert_eq!(
///     sql,
///     "CREATE TABLE \"item\" (id INTEGER PRIMARY KEY, qty INTEGER NOT NULL CHECK (qty >= 0), \"remark\" TEXT, priority INTEGER NOT NULL DEFAULT 0)"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl TableRebuild {
    /// Adds a column at the end of the column list: `definition` is its name, type and
    /// constraints, as in `CREATE TABLE` (`"priority INTEGER NOT NULL DEFAULT 0"`). Existing
    /// rows take its `DEFAULT`. Where SQLite's `ALTER TABLE ... ADD COLUMN` allows it and
    /// nothing else changes, that is what runs: no row is copied.
    pub fn add_column(mut self, definition: impl Into<String>) -> Self {
        self.operations
            .push(Operation::AddColumn(definition.into()));
        self
    }

    /// Renames the table's column `from` to `to`. The renames given to one rebuild apply
    /// together, so swaps and cycles (`a -> b`, `b -> a`) work; the data, and the indexes,
    /// views, triggers and child keys that name a column, follow it (as `ALTER TABLE ...
    /// RENAME COLUMN` does; that is what runs when nothing else changes).
    pub fn rename_column(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.operations.push(Operation::RenameColumn {
            from: from.into(),
            to: to.into(),
        });
        self
    }

    /// Gives column `name` a new type and column constraints: `definition` is everything
    /// after the name (`"INTEGER NOT NULL CHECK (qty >= 0)"`). Values are copied under the
    /// new type's affinity and checked against the new constraints first.
    pub fn alter_column(mut self, name: impl Into<String>, definition: impl Into<String>) -> Self {
        self.operations.push(Operation::AlterColumn {
            name: name.into(),
            definition: definition.into(),
        });
        self
    }

    /// Makes column `name` NOT NULL (its other constraints kept). Existing NULLs are
    /// refused with the full report, or remapped with [`remap_null`](TableRebuild::remap_null).
    /// On SQLite 3.53+ this is `ALTER TABLE ... ALTER COLUMN ... SET NOT NULL`; on older
    /// ones the definition is switched in place.
    pub fn set_not_null(mut self, name: impl Into<String>) -> Self {
        self.operations.push(Operation::SetNotNull(name.into()));
        self
    }

    /// Lets column `name` hold NULL: its NOT NULL constraint goes (`ALTER COLUMN ... DROP NOT
    /// NULL` on SQLite 3.53+).
    pub fn drop_not_null(mut self, name: impl Into<String>) -> Self {
        self.operations.push(Operation::DropNotNull(name.into()));
        self
    }

    /// Adds the table constraint `CONSTRAINT name CHECK (expr)`.
    pub fn add_check(mut self, name: impl Into<String>, expr: impl Into<String>) -> Self {
        self.operations.push(Operation::AddCheck {
            name: name.into(),
            expr: expr.into(),
        });
        self
    }

    /// Adds the table constraint `CONSTRAINT name UNIQUE (columns)`; existing rows are
    /// checked for duplicates first.
    pub fn add_unique<I, S>(mut self, name: impl Into<String>, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.operations.push(Operation::AddUnique {
            name: name.into(),
            columns: names(columns),
        });
        self
    }

    /// Drops the constraint named `name` (`CONSTRAINT name ...`): a CHECK, UNIQUE, PRIMARY
    /// KEY, FOREIGN KEY or NOT NULL, of a column or of the table.
    pub fn drop_constraint(mut self, name: impl Into<String>) -> Self {
        self.operations.push(Operation::DropConstraint(name.into()));
        self
    }

    /// Adds a table foreign key: `clause` is what follows `FOREIGN KEY`
    /// (`"(owner_id) REFERENCES users(id) ON DELETE CASCADE"`). Existing rows are checked
    /// against the parent first.
    pub fn add_foreign_key(mut self, clause: impl Into<String>) -> Self {
        self.operations
            .push(Operation::AddForeignKey(clause.into()));
        self
    }

    /// Drops the foreign key on exactly these columns (a table `FOREIGN KEY (...)` or a
    /// column's `REFERENCES`).
    pub fn drop_foreign_key<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.operations
            .push(Operation::DropForeignKey(names(columns)));
        self
    }

    /// Makes these columns the primary key, in place of the current one (a column's
    /// `PRIMARY KEY` or the table's). No columns removes the key: the table keeps its
    /// rowids as an ordinary rowid table.
    pub fn primary_key<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.operations.push(Operation::PrimaryKey(names(columns)));
        self
    }

    /// Puts these columns first, in this order; the others follow in their current order.
    pub fn column_order<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.operations.push(Operation::ColumnOrder(names(columns)));
        self
    }

    /// Makes the table `STRICT`, or not.
    pub fn strict(mut self, strict: bool) -> Self {
        self.operations.push(Operation::Strict(strict));
        self
    }

    /// Creates an index on the rebuilt table: `sql` is a `CREATE INDEX` (or `CREATE UNIQUE
    /// INDEX`) statement on this table. A unique one is checked against the rows before
    /// anything is written, like the target's own keys. To change an index, drop it with
    /// [`drop_index`](TableRebuild::drop_index) and create it again under its name.
    pub fn create_index(mut self, sql: impl Into<String>) -> Self {
        self.create_indexes.push(sql.into());
        self
    }

    /// Drops the table's index `name` (one created by `CREATE INDEX`; the automatic
    /// indexes of UNIQUE and PRIMARY KEY constraints go with
    /// [`drop_constraint`](TableRebuild::drop_constraint)).
    pub fn drop_index(mut self, name: impl Into<String>) -> Self {
        self.drop_indexes.push(name.into());
        self
    }

    /// Keeps the old table, with its definition and every row (rowids included), under the
    /// name `name` in the same schema, as a backup. Its indexes and triggers do not come
    /// along (the rebuilt table has them), and child tables keep referencing the rebuilt
    /// table. The name must be free.
    pub fn keep_old_as(mut self, name: impl Into<String>) -> Self {
        self.keep_old_as = Some(name.into());
        self
    }

    /// Makes the table `WITHOUT ROWID`, or not.
    pub fn without_rowid(mut self, without_rowid: bool) -> Self {
        self.operations.push(Operation::WithoutRowid(without_rowid));
        self
    }
}

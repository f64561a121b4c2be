//! The command line: the subcommands, the arguments every one takes, and the rules and
//! operations, read back in the order they were given (rules on one column compose in
//! order, as the library's do).

use clap::{ArgAction, Args, Parser, Subcommand};
use sqlite_rebuild::TableRebuild;
use std::path::PathBuf;

/// Safe SQLite table rebuilds: validate every row against the new definition, then copy and
/// swap atomically, or refuse and change nothing.
#[derive(Parser, Debug)]
#[command(name = "sqlite-rebuild", version, about, long_about = None)]
pub struct Cli {
    /// Show the library's log (-v info, -vv debug); RUST_LOG works too.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate every row against the target; read-only. Exit 0 when every row fits, 1 when
    /// rows would violate it (the report on stdout).
    Check {
        #[command(flatten)]
        common: Common,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the plan: the strategy and the SQL steps; read-only.
    Plan {
        #[command(flatten)]
        common: Common,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Render the rebuild as a guarded SQL script, for frameworks that take SQL text;
    /// read-only.
    Script {
        #[command(flatten)]
        common: Common,
        /// Write the script to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// How the tables that reference the table are kept whole: `copy` them too (runs
        /// with foreign keys on or off: framework transactions, Cloudflare D1, dqlite),
        /// `repoint` their REFERENCES through writable_schema (dqlite, sqld, plain SQLite),
        /// or `enforcement-off` (PRAGMA foreign_keys = OFF needed around the script).
        #[arg(long, value_enum, default_value_t = Children::Copy)]
        children: Children,
        /// No SAVEPOINT or RELEASE in the script: for engines that refuse transaction
        /// statements and apply a migration file atomically (Cloudflare D1).
        #[arg(long)]
        no_transaction: bool,
    },
    /// Execute the rebuild. Exit 0 when done, 1 when rows would violate the target
    /// (nothing changed; the report on stdout).
    Apply {
        #[command(flatten)]
        common: Common,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Move the rows that would still violate into a quarantine table
        /// (`<table>__rejected`, or NAME) instead of refusing.
        #[arg(long, value_name = "NAME", num_args = 0..=1)]
        quarantine: Option<Option<String>>,
    },
}

/// What every subcommand takes: the database, the table, the target and the rules.
#[derive(Args, Debug)]
pub struct Common {
    /// The database file (never created).
    pub db: PathBuf,
    /// The table to rebuild.
    pub table: String,
    /// A file holding the target CREATE TABLE statement (`-`: stdin). Without it, the
    /// operations (--add-column, --rename-column, ...) describe the change.
    #[arg(long, value_name = "FILE")]
    pub target: Option<PathBuf>,
    /// The schema holding the table: main (the default), or a database attached with
    /// --attach.
    #[arg(long, value_name = "NAME")]
    pub schema: Option<String>,
    /// Attach another database file as NAME (NAME=FILE; repeatable), as the migration's
    /// connection would.
    #[arg(long, value_name = "NAME=FILE", action = ArgAction::Append)]
    pub attach: Vec<String>,
    /// Rows shown per violated constraint (counts are always exact).
    #[arg(long, value_name = "N", default_value_t = sqlite_rebuild::DEFAULT_SAMPLE_SIZE)]
    pub sample_size: usize,
    /// Copy the rows even where ALTER TABLE or the in-place switch would do.
    #[arg(long)]
    pub force_copy: bool,

    /// While copying, COLUMN's value FROM becomes TO (compared under the column's affinity).
    #[arg(long, num_args = 3, value_names = ["COLUMN", "FROM", "TO"], action = ArgAction::Append)]
    pub remap: Vec<String>,
    /// While copying, NULLs in COLUMN become VALUE.
    #[arg(long, num_args = 2, value_names = ["COLUMN", "VALUE"], action = ArgAction::Append)]
    pub remap_null: Vec<String>,
    /// While copying, COLUMN's value FROM becomes NULL.
    #[arg(long, num_args = 2, value_names = ["COLUMN", "FROM"], action = ArgAction::Append)]
    pub remap_to_null: Vec<String>,
    /// Target column TARGET's value is the SQL expression EXPR over the old row.
    #[arg(long, num_args = 2, value_names = ["TARGET", "EXPR"], action = ArgAction::Append)]
    pub column: Vec<String>,
    /// Let the old column NAME go with its data.
    #[arg(long, value_name = "NAME", action = ArgAction::Append)]
    pub drop_column: Vec<String>,
    /// Let the index, trigger or view NAME go.
    #[arg(long, value_name = "NAME", action = ArgAction::Append)]
    pub drop_dependent: Vec<String>,

    /// Add a column: its definition, as in CREATE TABLE.
    #[arg(long, value_name = "DEFINITION", action = ArgAction::Append)]
    pub add_column: Vec<String>,
    /// Rename column FROM to TO (renames apply together: swaps work).
    #[arg(long, num_args = 2, value_names = ["FROM", "TO"], action = ArgAction::Append)]
    pub rename_column: Vec<String>,
    /// Give column NAME a new type and column constraints.
    #[arg(long, num_args = 2, value_names = ["NAME", "DEFINITION"], action = ArgAction::Append)]
    pub alter_column: Vec<String>,
    /// Make column NAME NOT NULL.
    #[arg(long, value_name = "NAME", action = ArgAction::Append)]
    pub set_not_null: Vec<String>,
    /// Let column NAME hold NULL.
    #[arg(long, value_name = "NAME", action = ArgAction::Append)]
    pub drop_not_null: Vec<String>,
    /// Add CONSTRAINT NAME CHECK (EXPR).
    #[arg(long, num_args = 2, value_names = ["NAME", "EXPR"], action = ArgAction::Append)]
    pub add_check: Vec<String>,
    /// Add CONSTRAINT NAME UNIQUE (COLUMNS), COLUMNS comma-separated.
    #[arg(long, num_args = 2, value_names = ["NAME", "COLUMNS"], action = ArgAction::Append)]
    pub add_unique: Vec<String>,
    /// Drop the constraint called NAME.
    #[arg(long, value_name = "NAME", action = ArgAction::Append)]
    pub drop_constraint: Vec<String>,
    /// Add a table foreign key: what follows FOREIGN KEY, e.g. "(owner) REFERENCES users(id)".
    #[arg(long, value_name = "CLAUSE", action = ArgAction::Append)]
    pub add_foreign_key: Vec<String>,
    /// Drop the foreign key on these columns (comma-separated).
    #[arg(long, value_name = "COLUMNS", action = ArgAction::Append)]
    pub drop_foreign_key: Vec<String>,
    /// Make these columns (comma-separated; empty: none) the primary key.
    #[arg(long, value_name = "COLUMNS", action = ArgAction::Append)]
    pub primary_key: Vec<String>,
    /// Put these columns (comma-separated) first.
    #[arg(long, value_name = "COLUMNS", action = ArgAction::Append)]
    pub column_order: Vec<String>,
    /// Make the table STRICT (true) or not (false).
    #[arg(long, value_name = "BOOL", action = ArgAction::Append)]
    pub strict: Vec<bool>,
    /// Make the table WITHOUT ROWID (true) or not (false).
    #[arg(long, value_name = "BOOL", action = ArgAction::Append)]
    pub without_rowid: Vec<bool>,
    /// Create an index on the rebuilt table: a CREATE INDEX statement.
    #[arg(long, value_name = "SQL", action = ArgAction::Append)]
    pub create_index: Vec<String>,
    /// Drop the table's index NAME.
    #[arg(long, value_name = "NAME", action = ArgAction::Append)]
    pub drop_index: Vec<String>,
    /// Keep the old table, with its rows, under NAME.
    #[arg(long, value_name = "NAME")]
    pub keep_old_as: Option<String>,
}

/// One rule or operation as given.
pub enum Given {
    Remap(String, String, String),
    RemapNull(String, String),
    RemapToNull(String, String),
    Column(String, String),
    DropColumn(String),
    DropDependent(String),
    AddColumn(String),
    RenameColumn(String, String),
    AlterColumn(String, String),
    SetNotNull(String),
    DropNotNull(String),
    AddCheck(String, String),
    AddUnique(String, String),
    DropConstraint(String),
    AddForeignKey(String),
    DropForeignKey(String),
    PrimaryKey(String),
    ColumnOrder(String),
    Strict(bool),
    WithoutRowid(bool),
    CreateIndex(String),
    DropIndex(String),
    KeepOldAs(String),
}

fn list(columns: &str) -> Vec<String> {
    columns
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Given {
    pub fn apply(self, rb: TableRebuild) -> TableRebuild {
        match self {
            Given::Remap(c, from, to) => rb.remap(c, from, to),
            Given::RemapNull(c, v) => rb.remap_null(c, v),
            Given::RemapToNull(c, from) => rb.remap(c, from, None::<&str>),
            Given::Column(t, e) => rb.column(t, e),
            Given::DropColumn(c) => rb.drop_column(c),
            Given::DropDependent(n) => rb.drop_dependent(n),
            Given::AddColumn(d) => rb.add_column(d),
            Given::RenameColumn(f, t) => rb.rename_column(f, t),
            Given::AlterColumn(n, d) => rb.alter_column(n, d),
            Given::SetNotNull(c) => rb.set_not_null(c),
            Given::DropNotNull(c) => rb.drop_not_null(c),
            Given::AddCheck(n, e) => rb.add_check(n, e),
            Given::AddUnique(n, cols) => rb.add_unique(n, list(&cols)),
            Given::DropConstraint(n) => rb.drop_constraint(n),
            Given::AddForeignKey(c) => rb.add_foreign_key(c),
            Given::DropForeignKey(cols) => rb.drop_foreign_key(list(&cols)),
            Given::PrimaryKey(cols) => rb.primary_key(list(&cols)),
            Given::ColumnOrder(cols) => rb.column_order(list(&cols)),
            Given::Strict(b) => rb.strict(b),
            Given::WithoutRowid(b) => rb.without_rowid(b),
            Given::CreateIndex(sql) => rb.create_index(sql),
            Given::DropIndex(n) => rb.drop_index(n),
            Given::KeepOldAs(n) => rb.keep_old_as(n),
        }
    }
}

/// Every occurrence of `id`, `arity` values each, with the index it was given at.
fn occurrences<T: Clone + Send + Sync + 'static>(
    matches: &clap::ArgMatches,
    id: &str,
    arity: usize,
) -> Vec<(usize, Vec<T>)> {
    let (Some(values), Some(indices)) = (matches.get_many::<T>(id), matches.indices_of(id)) else {
        return Vec::new();
    };
    let values: Vec<T> = values.cloned().collect();
    let indices: Vec<usize> = indices.collect();
    values
        .chunks(arity)
        .zip(indices.chunks(arity))
        .map(|(v, i)| (i[0], v.to_vec()))
        .collect()
}

/// The rules and operations, in the order given.
pub fn in_order(matches: &clap::ArgMatches) -> Vec<(usize, Given)> {
    let mut out: Vec<(usize, Given)> = Vec::new();
    let strings = |id: &str, arity: usize| occurrences::<String>(matches, id, arity);
    macro_rules! one {
        ($id:literal, $variant:ident) => {
            for (i, v) in strings($id, 1) {
                out.push((i, Given::$variant(v[0].clone())));
            }
        };
    }
    macro_rules! two {
        ($id:literal, $variant:ident) => {
            for (i, v) in strings($id, 2) {
                out.push((i, Given::$variant(v[0].clone(), v[1].clone())));
            }
        };
    }
    for (i, v) in strings("remap", 3) {
        out.push((i, Given::Remap(v[0].clone(), v[1].clone(), v[2].clone())));
    }
    two!("remap_null", RemapNull);
    two!("remap_to_null", RemapToNull);
    two!("column", Column);
    one!("drop_column", DropColumn);
    one!("drop_dependent", DropDependent);
    one!("add_column", AddColumn);
    two!("rename_column", RenameColumn);
    two!("alter_column", AlterColumn);
    one!("set_not_null", SetNotNull);
    one!("drop_not_null", DropNotNull);
    two!("add_check", AddCheck);
    two!("add_unique", AddUnique);
    one!("drop_constraint", DropConstraint);
    one!("add_foreign_key", AddForeignKey);
    one!("drop_foreign_key", DropForeignKey);
    one!("primary_key", PrimaryKey);
    one!("column_order", ColumnOrder);
    one!("create_index", CreateIndex);
    one!("drop_index", DropIndex);
    one!("keep_old_as", KeepOldAs);
    for (i, v) in occurrences::<bool>(matches, "strict", 1) {
        out.push((i, Given::Strict(v[0])));
    }
    for (i, v) in occurrences::<bool>(matches, "without_rowid", 1) {
        out.push((i, Given::WithoutRowid(v[0])));
    }
    out.sort_by_key(|(i, _)| *i);
    out
}

/// `script --children`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Children {
    /// Copy every table that references the table, too.
    Copy,
    /// Point the children's REFERENCES at the copy through writable_schema.
    Repoint,
    /// Leave them; foreign key enforcement must be off.
    EnforcementOff,
}

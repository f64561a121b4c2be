//! Execution: transactions and savepoints, foreign key enforcement, running the plan's
//! steps, and the checks before commit. Any failure rolls the savepoint back, so the
//! database is exactly as it was.

use crate::builder::{OnViolation, Rule, TableRebuild};
use crate::error::{Error, Result};
use crate::plan::{self, sqlite_message, Counted, PlanStep, Prepared, StepKind};
use crate::progress::{Phase, ProgressFn, CHUNK_ROWS};
use crate::quarantine::{self, MovedRows};
use crate::quote::{ident, literal};
use crate::schema;
use crate::validate;
use rusqlite::config::DbConfig;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params_from_iter, Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a successful rebuild did: rows copied, rows each remapping rule changed, dependents
/// recreated and children checked.
///
/// ```
/// use sqlite_rebuild::{rusqlite::Connection, TableRebuild};
///
/// let mut conn = Connection::open_in_memory()?;
/// conn.execute_batch(
///     "CREATE TABLE item (id INTEGER PRIMARY KEY, qty TEXT);
///      CREATE INDEX item_qty ON item (qty);
///      INSERT INTO item VALUES (1, '5'), (2, '-1'), (3, '0');",
/// )?;
/// // qty becomes an INTEGER: the table is copied.
/// let report = TableRebuild::new("item")
///     .create_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, qty INTEGER CHECK (qty >= 0))")
///     .remap("qty", "-1", 0)
///     .remap("qty", "7", 0) // matches nothing: the report says so
///     .execute(&mut conn)?;
/// assert_eq!(
///     report.to_string(),
///     r#"rebuilt "item": 3 rows copied
///   remap "qty": '-1' -> 0: 1 row
///   remap "qty": '7' -> 0: 0 rows (no row matched: check the value)
///   recreated: item_qty
/// "#
/// );
///
/// // Only a constraint changes: done in place, nothing copied.
/// let report = TableRebuild::new("item")
///     .create_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, qty INTEGER CHECK (qty < 10))")
///     .execute(&mut conn)?;
/// assert!(report.in_place());
/// assert_eq!(
///     report.to_string(),
///     "rebuilt \"item\" in place (only constraints changed, nothing copied): 3 rows checked\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RebuildReport {
    table: String,
    rows_copied: u64,
    rules: Vec<RuleReport>,
    recreated: Vec<String>,
    dropped: Vec<String>,
    children_checked: Vec<String>,
    quarantined: Vec<MovedRows>,
    quarantine_reports: Vec<validate::ValidationReport>,
    restored: Vec<MovedRows>,
    keys_followed: Vec<(String, u64)>,
    in_place: bool,
}

impl RebuildReport {
    /// The rebuilt table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Rows in the rebuilt table: all of the old table's rows (plus any restored), copied,
    /// or kept where they were when the change was done [in place](Self::in_place).
    pub fn rows_copied(&self) -> u64 {
        self.rows_copied
    }

    /// Whether only constraints changed, so the stored definition was switched in place and
    /// no row was copied (indexes and triggers stayed as they were). A connection in
    /// `SQLITE_DBCONFIG_DEFENSIVE` mode always copies.
    pub fn in_place(&self) -> bool {
        self.in_place
    }

    /// Each remapping rule, in the order given, with the rows it changed.
    pub fn rules(&self) -> &[RuleReport] {
        &self.rules
    }

    /// The indexes, triggers and views dropped on request
    /// ([`TableRebuild::drop_dependent`](crate::TableRebuild::drop_dependent)).
    pub fn dropped(&self) -> &[String] {
        &self.dropped
    }

    /// Indexes and triggers recreated after the swap, by name.
    pub fn recreated(&self) -> &[String] {
        &self.recreated
    }

    /// Child tables whose foreign keys were checked before commit.
    pub fn children_checked(&self) -> &[String] {
        &self.children_checked
    }

    /// Rows moved into quarantine tables under [`OnViolation::Quarantine`]: the table's
    /// own rows first, then the child rows that referenced them. Empty otherwise.
    pub fn quarantined(&self) -> &[MovedRows] {
        &self.quarantined
    }

    /// Why rows were quarantined: the violations found, one report per pass (a second pass
    /// happens only when moving rows made others violate, e.g. a self-referencing key).
    pub fn quarantine_reports(&self) -> &[validate::ValidationReport] {
        &self.quarantine_reports
    }

    /// Child tables (and their children, where a followed column is their key) whose
    /// foreign key values were rewritten to follow remapped keys of the rebuilt table, with
    /// the number of row updates in each (a row whose several keys follow counts once per
    /// key).
    pub fn keys_followed(&self) -> &[(String, u64)] {
        &self.keys_followed
    }

    /// Rows put back from quarantine tables by
    /// [`TableRebuild::restore_from`](crate::TableRebuild::restore_from).
    pub fn restored(&self) -> &[MovedRows] {
        &self.restored
    }
}

impl fmt::Display for RebuildReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.in_place {
            writeln!(
                f,
                "rebuilt {} in place (only constraints changed, nothing copied): {} {} checked",
                ident(&self.table),
                self.rows_copied,
                rows(self.rows_copied)
            )?;
        } else {
            writeln!(
                f,
                "rebuilt {}: {} {} copied",
                ident(&self.table),
                self.rows_copied,
                rows(self.rows_copied)
            )?;
        }
        for r in &self.rules {
            writeln!(f, "  {r}")?;
        }
        if !self.recreated.is_empty() {
            writeln!(f, "  recreated: {}", self.recreated.join(", "))?;
        }
        if !self.dropped.is_empty() {
            writeln!(f, "  dropped on request: {}", self.dropped.join(", "))?;
        }
        if !self.children_checked.is_empty() {
            writeln!(
                f,
                "  children intact and checked: {}",
                self.children_checked.join(", ")
            )?;
        }
        for (child, n) in &self.keys_followed {
            writeln!(
                f,
                "  foreign keys of {} followed the remapped keys: {n} {}",
                ident(child),
                rows(*n)
            )?;
        }
        for m in &self.quarantined {
            writeln!(f, "  quarantined: {m}")?;
        }
        for m in &self.restored {
            writeln!(f, "  restored: {m}")?;
        }
        Ok(())
    }
}

/// One remapping rule and the rows it changed.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleReport {
    column: String,
    /// `None` for a closure rule.
    values: Option<(Value, Value)>,
    rows_changed: u64,
}

impl RuleReport {
    /// The target column of the rule.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The value replaced (`None` for a [`remap_with`](crate::TableRebuild::remap_with)
    /// closure rule).
    pub fn from(&self) -> Option<&Value> {
        self.values.as_ref().map(|(from, _)| from)
    }

    /// The value written instead (`None` for a closure rule).
    pub fn to(&self) -> Option<&Value> {
        self.values.as_ref().map(|(_, to)| to)
    }

    /// Rows whose value this rule changed (a value rule: rows whose value matched `from`; a
    /// closure rule: rows whose value it returned different). Zero often means a typo in
    /// `from`; it is reported, not an error.
    pub fn rows_changed(&self) -> u64 {
        self.rows_changed
    }
}

impl fmt::Display for RuleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.values {
            Some((from, to)) => write!(
                f,
                "remap {}: {} -> {}",
                ident(&self.column),
                literal(from),
                literal(to)
            )?,
            None => write!(f, "remap {} with a closure", ident(&self.column))?,
        }
        write!(f, ": {} {}", self.rows_changed, rows(self.rows_changed))?;
        if self.rows_changed == 0 {
            match self.values {
                Some(_) => write!(f, " (no row matched: check the value)")?,
                None => write!(f, " (it changed no value)")?,
            }
        }
        Ok(())
    }
}

/// The closure rules' functions, registered with SQLite while a rebuild runs and removed
/// when dropped, on every path.
pub(crate) struct RemapFunctions<'c> {
    conn: &'c Connection,
    /// Name and number of arguments of each function registered.
    names: Vec<(String, i32)>,
}

impl<'c> RemapFunctions<'c> {
    pub(crate) fn register(conn: &'c Connection, p: &Prepared) -> Result<Self> {
        let mut guard = RemapFunctions {
            conn,
            names: Vec::new(),
        };
        for chain in &p.chains {
            let rules = chain.rules.clone();
            let counts = chain.counts.clone();
            let column = chain.column.clone();
            conn.create_scalar_function(
                chain.function.as_str(),
                1,
                FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
                move |ctx| apply_chain(ctx.get_raw(0), &rules, &counts, &column),
            )
            .map_err(Error::sqlite(format!(
                "registering the remap function for column \"{}\"",
                chain.column
            )))?;
            guard.names.push((chain.function.clone(), 1));
        }
        if !p.hits.is_empty() {
            let hits = p.hits.clone();
            let counts = p.hit_counts.clone();
            conn.create_scalar_function(
                plan::HIT_FUNCTION,
                1,
                FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
                move |ctx| {
                    let hit: i64 = ctx.get(0)?;
                    let hit = usize::try_from(hit).unwrap_or(usize::MAX);
                    for slot in hits.get(hit).into_iter().flatten() {
                        if let Some(n) = counts.get(*slot) {
                            n.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(rusqlite::types::Null)
                },
            )
            .map_err(Error::sqlite("registering the rule counter"))?;
            guard.names.push((plan::HIT_FUNCTION.to_owned(), 1));
        }
        Ok(guard)
    }
}

impl Drop for RemapFunctions<'_> {
    fn drop(&mut self) {
        for (name, args) in &self.names {
            if let Err(e) = self.conn.remove_function(name.as_str(), *args) {
                log::warn!("could not remove remap function {name}: {e}");
            }
        }
    }
}

/// One column's rules from its first closure on, applied to one value in order.
fn apply_chain(
    input: ValueRef<'_>,
    rules: &[Rule],
    counts: &[AtomicU64],
    column: &str,
) -> rusqlite::Result<Value> {
    let mut changed: Option<Value> = None;
    for (rule, count) in rules.iter().zip(counts) {
        let current = changed.as_ref().map(ValueRef::from).unwrap_or(input);
        match rule {
            Rule::Value { from, to } => {
                if plan::sql_is_ref(current, from.into()) {
                    count.fetch_add(1, Ordering::Relaxed);
                    changed = Some(to.clone());
                }
            }
            Rule::With(f) => {
                let out = (f.0)(current);
                if ValueRef::from(&out) != current {
                    count.fetch_add(1, Ordering::Relaxed);
                }
                changed = Some(out);
            }
        }
    }
    match changed {
        Some(v) => Ok(v),
        None => match input {
            ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec())
                .map(Value::Text)
                .map_err(|_| {
                    rusqlite::Error::UserFunctionError(
                        format!("column \"{column}\" holds text that is not valid UTF-8; closure rules need UTF-8 text").into(),
                    )
                }),
            other => Value::try_from(other)
                .map_err(|e| rusqlite::Error::UserFunctionError(e.to_string().into())),
        },
    }
}

fn rows(n: u64) -> &'static str {
    if n == 1 {
        "row"
    } else {
        "rows"
    }
}

/// A savepoint that rolls back unless released, so every early return undoes its work.
pub(crate) struct Savepoint<'c> {
    conn: &'c Connection,
    name: &'static str,
    open: bool,
}

impl<'c> Savepoint<'c> {
    pub(crate) fn begin(conn: &'c Connection, name: &'static str) -> Result<Self> {
        conn.execute_batch(&format!("SAVEPOINT {name}"))
            .map_err(Error::sqlite("opening a savepoint"))?;
        Ok(Savepoint {
            conn,
            name,
            open: true,
        })
    }

    pub(crate) fn release(mut self) -> Result<()> {
        self.open = false;
        self.conn
            .execute_batch(&format!("RELEASE {}", self.name))
            .map_err(Error::sqlite("releasing the rebuild's savepoint"))
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if self.open {
            let sql = format!("ROLLBACK TO {0}; RELEASE {0}", self.name);
            if let Err(e) = self.conn.execute_batch(&sql) {
                // SQLite may already have rolled the whole transaction back (e.g. disk full).
                log::warn!("rolling back savepoint {}: {e}", self.name);
            }
        }
    }
}

/// Suspends foreign key enforcement through `SQLITE_DBCONFIG_ENABLE_FKEY`, which, unlike the
/// pragma, also works inside a transaction, and restores it when dropped.
pub(crate) struct ForeignKeysOff<'c> {
    conn: &'c Connection,
    was_on: bool,
}

impl<'c> ForeignKeysOff<'c> {
    pub(crate) fn engage(conn: &'c Connection, table: &str) -> Result<Self> {
        let was_on = conn
            .db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY)
            .map_err(Error::sqlite("reading foreign key enforcement"))?;
        let guard = ForeignKeysOff { conn, was_on };
        if was_on {
            conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY, false)
                .map_err(Error::sqlite("suspending foreign key enforcement"))?;
            if foreign_keys_pragma(conn)? {
                return Err(Error::ForeignKeysStillOn {
                    table: table.to_owned(),
                });
            }
            log::debug!("foreign key enforcement suspended");
        }
        Ok(guard)
    }
}

impl Drop for ForeignKeysOff<'_> {
    fn drop(&mut self) {
        if self.was_on {
            match self
                .conn
                .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY, true)
            {
                Ok(_) => log::debug!("foreign key enforcement restored"),
                Err(e) => log::error!("could not restore foreign key enforcement: {e}"),
            }
        }
    }
}

fn foreign_keys_pragma(conn: &Connection) -> Result<bool> {
    conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .map_err(Error::sqlite("reading PRAGMA foreign_keys"))
}

/// `execute`: the caller's connection in autocommit mode; our own transaction.
pub(crate) fn execute(conn: &mut Connection, rb: &TableRebuild) -> Result<RebuildReport> {
    if !conn.is_autocommit() {
        return Err(Error::TransactionOpen);
    }
    crate::compat::check_sqlite()?;
    // The schema as SQLite names it; an unknown schema or table is refused here.
    let schema_name = schema::resolve_table(conn, &rb.schema, &rb.table)?.schema;
    let journal: String = conn
        .query_row(
            &format!("PRAGMA {}.journal_mode", ident(&schema_name)),
            [],
            |r| r.get(0),
        )
        .map_err(Error::sqlite(format!(
            "reading the journal mode of \"{schema_name}\""
        )))?;
    if journal.eq_ignore_ascii_case("off") {
        return Err(Error::NoJournal {
            schema: schema_name,
        });
    }
    // Read-only databases are refused before any work; a read-only database attached
    // beside the table's makes BEGIN IMMEDIATE fail, so the write lock is then taken by the
    // rebuild's first write instead.
    if query_only(conn)? {
        return Err(Error::ReadOnly {
            schema: schema_name,
        });
    }
    let mut behavior = TransactionBehavior::Immediate;
    for (name, readonly) in database_list(conn)? {
        if readonly {
            if name.eq_ignore_ascii_case(&schema_name) {
                return Err(Error::ReadOnly { schema: name });
            }
            behavior = TransactionBehavior::Deferred;
        }
    }
    let fk_was_on = foreign_keys_pragma(conn)?;
    if fk_was_on {
        conn.execute_batch("PRAGMA foreign_keys = OFF")
            .map_err(Error::sqlite("switching foreign keys off"))?;
        if foreign_keys_pragma(conn)? {
            return Err(Error::ForeignKeysStillOn {
                table: rb.table.clone(),
            });
        }
        log::debug!("PRAGMA foreign_keys = OFF for the rebuild's transaction");
    }
    let result = (|| {
        let tx = conn
            .transaction_with_behavior(behavior)
            .map_err(Error::sqlite("beginning the rebuild's transaction"))?;
        let report = run(&tx, rb, true)?;
        tx.commit()
            .map_err(Error::sqlite("committing the rebuild"))?;
        Ok(report)
    })();
    if fk_was_on {
        let restored = conn
            .execute_batch("PRAGMA foreign_keys = ON")
            .map_err(Error::sqlite("restoring PRAGMA foreign_keys"));
        if restored.is_ok() {
            log::debug!("PRAGMA foreign_keys = ON restored");
        }
        if let (Ok(_), Err(e)) = (&result, restored) {
            return Err(e);
        }
    }
    result
}

/// Rows break a foreign key of the target: SQLite's own error for it, so the violations
/// are diagnosed like any other constraint's.
fn foreign_key_violation() -> Stop {
    constraint_stop(
        rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY,
        "FOREIGN KEY constraint failed".into(),
    )
}

/// Whether `PRAGMA query_only` forbids every write on the connection.
pub(crate) fn query_only(conn: &Connection) -> Result<bool> {
    conn.query_row("PRAGMA query_only", [], |r| r.get(0))
        .map_err(Error::sqlite("reading PRAGMA query_only"))
}

/// Every database of the connection, and whether it is read-only.
fn database_list(conn: &Connection) -> Result<Vec<(String, bool)>> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM pragma_database_list")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(Error::sqlite("listing the connection's databases"))?;
    names
        .into_iter()
        .map(|name| {
            let readonly = conn
                .is_readonly(name.as_str())
                .map_err(Error::sqlite("checking whether the database is writable"))?;
            Ok((name, readonly))
        })
        .collect()
}

/// Why an attempt stopped: rows violate the target (diagnose them), or anything else.
enum Stop {
    Violations(rusqlite::Error),
    Error(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Error(e)
    }
}

/// The rebuild inside a transaction: `execute`'s own (`own_transaction`), or the caller's,
/// with a savepoint around everything.
pub(crate) fn run(
    conn: &Connection,
    rb: &TableRebuild,
    own_transaction: bool,
) -> Result<RebuildReport> {
    let _fk = ForeignKeysOff::engage(conn, &rb.table)?;
    let p = plan::prepare(conn, rb)?;
    let _functions = RemapFunctions::register(conn, &p)?;
    log::info!(
        "rebuilding {} ({} steps)",
        p.source.qualified(),
        p.plan.steps().len()
    );
    let quarantine = match &rb.on_violation {
        OnViolation::Abort => None,
        OnViolation::Quarantine => Some(format!("{}__rejected", p.source.name)),
        OnViolation::QuarantineInto(name) => Some(name.clone()),
    };
    // In a transaction of its own, a rebuild that stops rolls the whole transaction back.
    // Savepoints there would only cost: SQLite copies every page written under a savepoint
    // into a sub-journal as well (about 5% of a large rebuild). Quarantine retries need them.
    let nested = !own_transaction || quarantine.is_some();
    let sp = if nested {
        Some(Savepoint::begin(conn, "sqlite_rebuild")?)
    } else {
        None
    };
    let mut quarantined = Vec::new();
    let mut quarantine_reports = Vec::new();
    let outcome = loop {
        let attempt_sp = if nested {
            Some(Savepoint::begin(conn, "sqlite_rebuild_attempt")?)
        } else {
            None
        };
        match attempt(conn, &p) {
            Ok(report) => {
                if let Some(attempt_sp) = attempt_sp {
                    attempt_sp.release()?;
                }
                break Ok(report);
            }
            Err(Stop::Violations(e)) if quarantine.is_some() => {
                drop(attempt_sp);
                let into = quarantine.as_deref().unwrap_or_default();
                match quarantine::move_violations(conn, &p, into, rb.sample_size)? {
                    Some((report, moved)) => {
                        quarantine_reports.push(report);
                        for m in moved {
                            quarantine::merge(&mut quarantined, m);
                        }
                    }
                    None => break Err(Stop::Violations(e)),
                }
            }
            Err(stop) => break Err(stop),
        }
    };
    match outcome {
        Ok(mut report) => {
            let moved = quarantined.iter().map(|m| m.from_table());
            reindex_external_content(
                conn,
                &p,
                moved.chain(report.restored.iter().map(|m| m.to_table())),
            )?;
            if let Some(sp) = sp {
                sp.release()?;
            }
            report.quarantined = quarantined;
            report.quarantine_reports = quarantine_reports;
            if report.in_place {
                log::info!(
                    "rebuilt {} in place (only constraints changed): {} rows checked, {} child tables checked",
                    p.source.qualified(),
                    report.rows_copied,
                    report.children_checked.len()
                );
            } else {
                log::info!(
                    "rebuilt {}: {} rows copied, {} indexes and triggers recreated, {} child tables checked",
                    p.source.qualified(),
                    report.rows_copied,
                    report.recreated.len(),
                    report.children_checked.len()
                );
            }
            for m in &report.quarantined {
                log::info!("quarantined {m}");
            }
            Ok(report)
        }
        Err(stop) => {
            match sp {
                Some(sp) => drop(sp),
                None => {
                    // Undo everything, then explain in a fresh transaction that `execute`
                    // rolls back too. (SQLite may have rolled back already, e.g. disk full.)
                    if !conn.is_autocommit() {
                        conn.execute_batch("ROLLBACK")
                            .map_err(Error::sqlite("rolling the rebuild back"))?;
                    }
                    conn.execute_batch("BEGIN")
                        .map_err(Error::sqlite("beginning a transaction to explain"))?;
                }
            }
            let e = explain(conn, &p, rb.sample_size, stop);
            match &e {
                Error::Violations(r) => log::info!(
                    "refused rebuilding {}: {} of {} rows violate the target; nothing changed",
                    p.source.qualified(),
                    r.violation_count(),
                    r.rows_checked()
                ),
                e => log::info!("rebuild of {} rolled back: {e}", p.source.qualified()),
            }
            Err(e)
        }
    }
}

/// Rows moved to or from quarantine left or entered their tables without triggers, so
/// full-text indexes whose external content is one of those tables are rebuilt from it.
fn reindex_external_content<'t>(
    conn: &Connection,
    p: &Prepared,
    tables: impl Iterator<Item = &'t str>,
) -> Result<()> {
    let mut tables: Vec<&str> = tables.collect();
    tables.sort_by_key(|t| t.to_ascii_lowercase());
    tables.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    for table in tables {
        for fts in schema::external_content_indexes(conn, &p.source.schema, table)? {
            let fts_q = ident(&fts);
            log::debug!(
                "rebuilding full-text index {fts_q}: rows of {} moved",
                ident(table)
            );
            conn.execute_batch(&format!(
                "INSERT INTO {}.{fts_q} ({fts_q}) VALUES ('rebuild')",
                ident(&p.source.schema)
            ))
            .map_err(Error::sqlite(format!(
                "rebuilding the full-text index \"{fts}\" of \"{table}\" after moving rows"
            )))?;
        }
    }
    Ok(())
}

/// Runs the whole rebuild in a savepoint that is always rolled back: `validate`'s dry run,
/// as faithful as a real rebuild because it is one.
pub(crate) fn dry_run(
    conn: &Connection,
    p: &Prepared,
    sample_size: usize,
) -> Result<validate::ValidationReport> {
    log::info!("validating {} (dry run, rolled back)", p.source.qualified());
    let sp = Savepoint::begin(conn, "sqlite_rebuild_dry_run")?;
    let outcome = attempt(conn, p);
    drop(sp);
    let report = match outcome {
        Ok(report) => validate::ValidationReport::clean(&p.source.name, report.rows_copied),
        Err(stop) => match explain(conn, p, sample_size, stop) {
            Error::Violations(report) => report,
            e => return Err(e),
        },
    };
    log::info!(
        "validated {}: {} of {} rows violate the target",
        p.source.qualified(),
        report.violation_count(),
        report.rows_checked()
    );
    Ok(report)
}

const VIOLATION_CONTEXT: &str = "copying rows into the target table";

/// Turns a stop into the caller's error; violations get their full report.
fn explain(conn: &Connection, p: &Prepared, sample_size: usize, stop: Stop) -> Error {
    match stop {
        Stop::Error(e) => e,
        Stop::Violations(engine_error) => match validate::diagnose(conn, p, sample_size) {
            Ok(report) if !report.is_ok() => Error::Violations(report),
            // SQLite refused a row that the report cannot explain (e.g. a non-deterministic
            // CHECK): say what SQLite said.
            Ok(_) => Error::Sqlite {
                context: VIOLATION_CONTEXT.to_owned(),
                source: engine_error,
            },
            Err(e) => e,
        },
    }
}

pub(crate) fn is_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::ConstraintViolation) | Some(ErrorCode::TypeMismatch)
    )
}

fn exec(conn: &Connection, step: &PlanStep) -> rusqlite::Result<usize> {
    log::debug!("{}", step.sql_with_literals().trim_end());
    conn.prepare(step.sql())?
        .execute(params_from_iter(step.params()))
}

/// Replaces the table's stored `CREATE TABLE` statement and bumps `schema_version`, so
/// SQLite reloads the schema (SQLite's documented procedure for changes that keep the
/// stored format). `writable_schema` is off again on every path.
fn switch_definition(conn: &Connection, p: &Prepared, step: &PlanStep) -> rusqlite::Result<()> {
    let version_pragma = format!("PRAGMA {}.schema_version", ident(&p.source.schema));
    let version: i64 = conn.query_row(&version_pragma, [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA writable_schema = ON")?;
    let switched = exec(conn, step);
    conn.execute_batch("PRAGMA writable_schema = OFF")?;
    if switched? != 1 {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            Some(format!(
                "the definition of \"{}\" was not found in sqlite_schema",
                p.source.name
            )),
        ));
    }
    conn.execute_batch(&format!("{version_pragma} = {}", version + 1))
}

/// After an in-place switch: every row must satisfy the new CHECK and NOT NULL
/// constraints, evaluated over the rows as stored (the same declared types keep them
/// exactly as a copy would store them), and the new foreign keys must find their parents.
/// This is the check SQLite's procedure asks for, limited to what the switch can break:
/// `PRAGMA quick_check` would also verify the file's structure, which the switch does not
/// touch, at several times the cost of a copy.
fn check_in_place(conn: &Connection, p: &Prepared) -> std::result::Result<(), Stop> {
    let table = &p.source.name;
    let fail = |what: &str| Error::sqlite(format!("{what} (rebuilding \"{table}\")"));
    let mut conditions: Vec<String> = p
        .target_def
        .checks
        .iter()
        .map(|c| format!("NOT ({})", c.expr))
        .collect();
    for c in p.target.columns.iter().filter(|c| c.notnull) {
        if p.target.ipk.as_deref() != Some(c.name.as_str()) {
            // Not `IS NULL`: the planner folds that to false on a column the (new)
            // definition declares NOT NULL.
            conditions.push(format!("typeof({}) = 'null'", ident(&c.name)));
        }
    }
    let bad = rows_where_any(conn, p, &conditions)
        .map_err(fail("checking the rows against the new constraints"))?;
    if bad > 0 {
        return Err(constraint_stop(
            rusqlite::ffi::SQLITE_CONSTRAINT_CHECK,
            format!("{bad} rows violate the new constraints"),
        ));
    }
    if !p.target_fks.is_empty() {
        let orphans: i64 = conn
            .query_row(
                "SELECT count(*) FROM pragma_foreign_key_check(?1, ?2)",
                [table, &p.source.schema],
                |r| r.get(0),
            )
            .map_err(fail("checking the table's foreign keys"))?;
        if orphans > 0 {
            return Err(foreign_key_violation());
        }
    }
    Ok(())
}

/// Rows of the rebuilt table matching any of `conditions` (0 when there are none).
fn rows_where_any(conn: &Connection, p: &Prepared, conditions: &[String]) -> rusqlite::Result<i64> {
    if conditions.is_empty() {
        return Ok(0);
    }
    conn.query_row(
        &format!(
            "SELECT count(*) FROM {} WHERE {}",
            p.source.qualified(),
            conditions.join(" OR ")
        ),
        [],
        |r| r.get(0),
    )
}

/// A check's finding, as the constraint error SQLite would raise: the caller diagnoses it.
fn constraint_stop(code: std::ffi::c_int, message: String) -> Stop {
    Stop::Violations(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(code),
        Some(message),
    ))
}

/// Generated columns of a STRICT target must compute values of their declared type. New
/// SQLite checks that as rows are written; 3.40 only shows it in `integrity_check`
/// ("non-REAL value in t.g"), so a rebuild that old SQLite accepts is checked here.
fn check_strict_generated(conn: &Connection, p: &Prepared) -> std::result::Result<(), Stop> {
    if !p.target_def.strict {
        return Ok(());
    }
    let conditions: Vec<String> = p
        .target
        .columns
        .iter()
        .filter(|c| c.is_generated())
        .filter_map(|c| {
            let allowed = match c.decl_type.to_ascii_uppercase().as_str() {
                "INT" | "INTEGER" => "'integer'",
                "REAL" => "'real', 'integer'",
                "TEXT" => "'text'",
                "BLOB" => "'blob'",
                _ => return None,
            };
            Some(format!(
                "typeof({}) NOT IN ('null', {allowed})",
                ident(&c.name)
            ))
        })
        .collect();
    let bad = rows_where_any(conn, p, &conditions)
        .map_err(Error::sqlite("checking the generated columns' types"))?;
    if bad > 0 {
        // SQLITE_CONSTRAINT_DATATYPE, as SQLite itself reports a STRICT type error.
        return Err(constraint_stop(
            rusqlite::ffi::SQLITE_CONSTRAINT | (12 << 8),
            format!("{bad} rows compute generated values of the wrong type"),
        ));
    }
    Ok(())
}

/// The copy, in chunks of [`CHUNK_ROWS`] rows in rowid order, reporting progress after
/// each. Tables without rowid are copied in one statement.
fn copy_in_chunks(
    conn: &Connection,
    p: &Prepared,
    step: &PlanStep,
    total: u64,
) -> rusqlite::Result<usize> {
    ProgressFn::report(&p.progress, Phase::Copy, 0, total);
    let Some(rowid) = p.source.rowid_name() else {
        let n = exec(conn, step)?;
        ProgressFn::report(&p.progress, Phase::Copy, n as u64, total);
        return Ok(n);
    };
    let r = format!("{}.{}", ident(&p.source.name), ident(rowid));
    let boundary = format!(
        "SELECT {r} FROM {} WHERE ?1 IS NULL OR {r} > ?1 ORDER BY {r} LIMIT 1 OFFSET {}",
        p.source.qualified(),
        CHUNK_ROWS - 1
    );
    let (lo, hi) = (step.params().len() + 1, step.params().len() + 2);
    let chunk_sql = format!(
        "{} WHERE (?{lo} IS NULL OR {r} > ?{lo}) AND (?{hi} IS NULL OR {r} <= ?{hi})",
        step.sql()
    );
    let mut chunk = conn.prepare(&chunk_sql)?;
    let mut next = conn.prepare(&boundary)?;
    let mut from: Option<i64> = None;
    let mut done = 0usize;
    loop {
        let to: Option<i64> = next.query_row([from], |row| row.get(0)).optional()?;
        let params = step
            .params()
            .iter()
            .cloned()
            .chain([Value::from(from), Value::from(to)]);
        log::debug!(
            "{} (rows after {from:?} up to {to:?})",
            step.sql_with_literals()
        );
        done += chunk.execute(params_from_iter(params))?;
        ProgressFn::report(&p.progress, Phase::Copy, done as u64, total);
        match to {
            Some(t) => from = Some(t),
            None => return Ok(done),
        }
    }
}

fn count(conn: &Connection, table_sql: &str) -> Result<u64> {
    conn.query_row(&format!("SELECT count(*) FROM {table_sql}"), [], |r| {
        r.get::<_, i64>(0).map(|n| n as u64)
    })
    .map_err(Error::sqlite(format!("counting rows of {table_sql}")))
}

/// `(child, fkid) -> violations` of foreign keys pointing at `parent`, from
/// `pragma_foreign_key_check` on `child`.
fn fk_violations(
    conn: &Connection,
    schema: &str,
    child: &str,
    parent: &str,
) -> rusqlite::Result<BTreeMap<i64, u64>> {
    let mut stmt = conn.prepare("SELECT fkid, count(*) FROM pragma_foreign_key_check(?1, ?2) WHERE parent = ?3 COLLATE NOCASE GROUP BY fkid")?;
    let rows = stmt.query_map([child, schema, parent], |r| {
        Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
    })?;
    rows.collect()
}

/// Checks that every view and trigger in the schema still compiles, by renaming the table
/// inside a savepoint that is rolled back: SQLite re-parses the whole schema on rename.
fn schema_probe(conn: &Connection, p: &Prepared) -> Result<std::result::Result<(), String>> {
    let legacy: bool = conn
        .query_row("PRAGMA legacy_alter_table", [], |r| r.get(0))
        .map_err(Error::sqlite("reading legacy_alter_table"))?;
    if legacy {
        conn.execute_batch("PRAGMA legacy_alter_table = OFF")
            .map_err(Error::sqlite("setting legacy_alter_table"))?;
    }
    let probe_name =
        schema::free_name(conn, &p.source.schema, &format!("{}__probe", p.source.name))?;
    let sp = Savepoint::begin(conn, "sqlite_rebuild_schema_probe")?;
    let outcome = conn
        .execute_batch(&format!(
            "ALTER TABLE {} RENAME TO {}",
            p.source.qualified(),
            ident(&probe_name)
        ))
        .map_err(|e| sqlite_message(&e));
    drop(sp);
    if legacy {
        conn.execute_batch("PRAGMA legacy_alter_table = ON")
            .map_err(Error::sqlite("restoring legacy_alter_table"))?;
    }
    Ok(outcome)
}

/// Turns "error in view v: no such column: b" into a typed error.
pub(crate) fn dependent_broken(table: &str, message: String) -> Error {
    let parsed = message.strip_prefix("error in ").and_then(|rest| {
        let (kind, rest) = rest.split_once(' ')?;
        let (name, reason) = rest.split_once(": ")?;
        Some((kind.to_owned(), name.to_owned(), reason.to_owned()))
    });
    match parsed {
        Some((kind, name, reason)) => Error::DependentBroken {
            table: table.to_owned(),
            kind,
            name,
            reason,
        },
        None => Error::DependentBroken {
            table: table.to_owned(),
            kind: "schema".into(),
            name: table.to_owned(),
            reason: message,
        },
    }
}

/// Whether a child's foreign key could see different parent key values after the copy, so
/// its rows must be re-checked. Keys copied unchanged, with the same declared type and
/// collation, need no scan.
pub(crate) fn children_need_check(p: &Prepared) -> bool {
    let source_def = crate::sql::parse_create_table(&p.source.sql).ok();
    let target_cols = &p.target_def.columns;
    p.children.iter().any(|fk| {
        referenced_columns(p, fk).iter().any(|col| {
            let copied_as_is = p.copies_unchanged(col, col);
            let same_decl = p.source.column(col).map(|c| &c.decl_type)
                == p.target.column(col).map(|c| &c.decl_type);
            let coll = |cols: Option<&Vec<crate::sql::ColumnDef>>| {
                cols.and_then(|cs| cs.iter().find(|c| c.name.eq_ignore_ascii_case(col)))
                    .map(|c| c.collation.clone().unwrap_or_default().to_ascii_uppercase())
            };
            let same_coll = source_def.is_some()
                && coll(source_def.as_ref().map(|d| &d.columns)) == coll(Some(target_cols));
            !(copied_as_is && same_decl && same_coll)
        })
    })
}

/// The parent columns a foreign key points at (the target's primary key when unnamed).
pub(crate) fn referenced_columns(p: &Prepared, fk: &schema::ForeignKey) -> Vec<String> {
    fk.referenced(&p.target.columns)
}

/// Every child key must still find a PRIMARY KEY or UNIQUE index, or SQLite reports
/// "foreign key mismatch" for the whole schema. As SQLite requires, the index must not be
/// partial, and must compare each column under that column's own (default) collation.
pub(crate) fn check_child_keys(p: &Prepared) -> Result<()> {
    // The collation a target column compares with by default.
    let default_collation = |column: &str| -> String {
        p.target_def
            .columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(column))
            .and_then(|c| c.collation.clone())
            .map(|c| crate::sql::identifier_value(&c))
            .unwrap_or_else(|| "BINARY".to_owned())
    };
    for fk in &p.children {
        let cols = referenced_columns(p, fk);
        // Index terms as (column, collation; `None` = the column's default).
        let same_collated = |keys: &[(String, Option<String>)]| {
            keys.len() == cols.len()
                && cols.iter().all(|c| {
                    keys.iter().any(|(k, coll)| {
                        k.eq_ignore_ascii_case(c)
                            && coll
                                .as_ref()
                                .is_none_or(|coll| coll.eq_ignore_ascii_case(&default_collation(k)))
                    })
                })
        };
        let same = |keys: &[String]| {
            let keys: Vec<(String, Option<String>)> =
                keys.iter().map(|k| (k.clone(), None)).collect();
            same_collated(&keys)
        };
        let pk: Vec<String> = p
            .target
            .pk_columns()
            .iter()
            .map(|c| c.name.clone())
            .collect();
        // A rowid alias needs no index; other primary keys are checked through their
        // automatic index below, collation included.
        let covered = (p.target.ipk.is_some() && same(&pk))
            || p.target_indexes.iter().any(|ix| {
                ix.unique && !ix.partial && {
                    let keys: Option<Vec<(String, Option<String>)>> = ix
                        .keys
                        .iter()
                        .map(|(n, coll)| n.clone().map(|n| (n, Some(coll.clone()))))
                        .collect();
                    keys.is_some_and(|k| same_collated(&k))
                }
            })
            // An explicit unique index of the old table, recreated after the swap.
            || p.dependents.iter().filter(|d| d.unique).any(|d| {
                crate::sql::parse_create_index(&d.sql).is_ok_and(|ix| {
                    ix.where_clause.is_none() && {
                        let keys: Vec<(String, Option<String>)> = ix
                            .terms
                            .iter()
                            .map(|t| {
                                (
                                    crate::sql::identifier_value(t.expr.trim()),
                                    t.collation.as_deref().map(crate::sql::identifier_value),
                                )
                            })
                            .collect();
                        same_collated(&keys)
                    }
                })
            });
        if !covered {
            return Err(Error::ChildKeyMissing {
                table: p.source.name.clone(),
                child: fk.child.clone(),
                columns: if cols.is_empty() {
                    "its primary key".into()
                } else {
                    cols.join(", ")
                },
            });
        }
    }
    Ok(())
}

/// Rows each value rule compared in SQL changes, in one scan of the old table (in the
/// order of `p.rules`, 0 for closure-chain rules, which count themselves as they run).
pub(crate) fn rule_counts(conn: &Connection, p: &Prepared) -> Result<Vec<u64>> {
    rule_counts_in(conn, p, None)
}

/// [`rule_counts`] over the first `limit` rows only, when given.
pub(crate) fn rule_counts_in(
    conn: &Connection,
    p: &Prepared,
    limit: Option<u64>,
) -> Result<Vec<u64>> {
    let sql_rules: Vec<(&str, &[usize])> = p
        .rules
        .iter()
        .filter_map(|slot| match &slot.counted {
            Counted::Sql {
                first_match_expr,
                fires_when_first,
            } => Some((first_match_expr.as_str(), fires_when_first.as_slice())),
            Counted::Chain { .. } => None,
        })
        .collect();
    if sql_rules.is_empty() {
        return Ok(vec![0; p.rules.len()]);
    }
    // Per column: which rule matched first. Rules of one column share the expression.
    let mut exprs: Vec<&str> = Vec::new();
    for (expr, _) in &sql_rules {
        if !exprs.contains(expr) {
            exprs.push(expr);
        }
    }
    let mut sums = Vec::new();
    for (expr, fires_when_first) in &sql_rules {
        let e = exprs.iter().position(|x| x == expr).unwrap_or(0);
        let firsts: Vec<String> = fires_when_first.iter().map(|m| m.to_string()).collect();
        sums.push(format!("coalesce(sum(m{e} IN ({})), 0)", firsts.join(", ")));
    }
    let inner: Vec<String> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{e} AS m{i}"))
        .collect();
    let sql = format!(
        "SELECT {} FROM (SELECT {} FROM {} AS {}{})",
        sums.join(", "),
        inner.join(", "),
        p.source.qualified(),
        ident(&p.source.name),
        limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default()
    );
    let n = sql_rules.len();
    let counted = (|| {
        let mut stmt = conn.prepare(&sql)?;
        // The counts use only the rules' `from` values: bind as many as the query holds.
        let used = stmt.parameter_count();
        let mut rows = stmt.query(params_from_iter(p.params.iter().take(used)))?;
        match rows.next()? {
            Some(r) => (0..n)
                .map(|i| r.get::<_, i64>(i).map(|v| v as u64))
                .collect(),
            None => Ok(vec![0; n]),
        }
    })();
    let mut counted = counted
        .map_err(Error::sqlite("counting the rows each remap rule changes"))?
        .into_iter();
    Ok(p.rules
        .iter()
        .map(|slot| match slot.counted {
            Counted::Sql { .. } => counted.next().unwrap_or(0),
            Counted::Chain { .. } => 0,
        })
        .collect())
}

/// Create, copy, swap, recreate, check. Runs inside the caller's savepoint.
fn attempt(conn: &Connection, p: &Prepared) -> std::result::Result<RebuildReport, Stop> {
    let table = p.source.name.clone();
    let fail = |context: &str| Error::sqlite(format!("{context} (rebuilding \"{table}\")"));
    let schema_ok_before = match schema_probe(conn, p)? {
        Ok(()) => true,
        Err(msg) => {
            log::warn!("the schema already fails to re-parse ({msg}); views and triggers cannot be verified");
            false
        }
    };
    let mut old_rows = count(conn, &p.source.qualified())?;
    if let Some(r) = &p.restore {
        old_rows += count(conn, &r.table.qualified())?;
    }
    ProgressFn::report(&p.progress, Phase::Validate, 0, old_rows);
    // The copy counts the value rules' hits itself; the in-place path scans for them.
    let count_in_copy = !p.hits.is_empty() && !p.in_place && !p.dry_run;
    for n in p.hit_counts.iter() {
        n.store(0, Ordering::Relaxed);
    }
    let counted = p.counted_rules.borrow_mut().take();
    let rule_counts = match counted {
        Some(counts) => counts,
        // A dry run reports violations, not rule counts.
        None if p.dry_run || count_in_copy => vec![0; p.rules.len()],
        None => rule_counts(conn, p)?,
    };
    let counting_copy = count_in_copy.then(|| PlanStep::counting_copy(p));
    for chain in &p.chains {
        for count in chain.counts.iter() {
            count.store(0, Ordering::Relaxed);
        }
    }
    let check_children = children_need_check(p) || p.restore.is_some();
    let mut children: Vec<&str> = p.children.iter().map(|fk| fk.child.as_str()).collect();
    children.sort_by_key(|c| c.to_ascii_lowercase());
    children.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    let mut child_before = Vec::new();
    for child in &children {
        let qualified = crate::quote::qualified(&p.source.schema, child);
        let violations = if check_children {
            fk_violations(conn, &p.source.schema, child, &p.source.name)
                .map_err(fail("checking child foreign keys"))?
        } else {
            BTreeMap::new()
        };
        // Counting a child's rows reads the whole table: only when rows go back into it.
        // That nothing else removes child rows, the drop's change count shows.
        let rows = if p.restore.is_some() {
            Some(count(conn, &qualified)?)
        } else {
            None
        };
        child_before.push((rows, violations));
    }

    ProgressFn::report(&p.progress, Phase::Validate, old_rows, old_rows);
    let dependents_total = p.dependents.len() as u64;
    let steps = p.plan.steps();
    let mut rows_copied = 0u64;
    let mut restored = Vec::new();
    let mut restored_into: BTreeMap<String, u64> = BTreeMap::new();
    let mut child_restores = p.restore.iter().flat_map(|r| r.children.iter());
    let mut child_updates = p.child_updates.iter();
    let mut keys_followed = Vec::new();
    let mut copy_counts: Vec<Vec<u64>> = Vec::new();
    let mut copy_hits: Vec<u64> = Vec::new();
    let mut recreated = Vec::new();
    let dependents = p.dependents.iter();
    let mut dependents = dependents.peekable();
    for step in steps {
        match step.kind() {
            StepKind::Copy | StepKind::RestoreRows => {
                let step = match (step.kind(), &counting_copy) {
                    (StepKind::Copy, Some(counting)) => counting,
                    _ => step,
                };
                let copied = if step.kind() == StepKind::Copy && p.progress.is_some() {
                    copy_in_chunks(conn, p, step, old_rows)
                } else {
                    exec(conn, step)
                };
                let n = match copied {
                    Ok(n) => n as u64,
                    Err(e) if is_violation(&e) => return Err(Stop::Violations(e)),
                    Err(e) => return Err(fail("copying rows")(e).into()),
                };
                rows_copied += n;
                if let (StepKind::RestoreRows, Some(r)) = (step.kind(), &p.restore) {
                    restored.push(quarantine::moved(&r.table.name, &table, n));
                    ProgressFn::report(&p.progress, Phase::Copy, rows_copied, old_rows);
                }
            }
            StepKind::DropOld => {
                // The target's own foreign keys to other tables; self references are
                // checked after the rename, when they point at the new rows.
                let scratch_violations: i64 = conn
                    .query_row(
                        "SELECT count(*) FROM pragma_foreign_key_check(?1, ?2) WHERE parent <> ?3 COLLATE NOCASE",
                        [&p.scratch, &p.source.schema, &p.source.name],
                        |r| r.get(0),
                    )
                    .map_err(fail("checking the target's foreign keys"))?;
                if scratch_violations > 0 {
                    return Err(foreign_key_violation());
                }
                // Rule counts are the copy's: a child's rewrite may call the same functions.
                copy_hits = p
                    .hit_counts
                    .iter()
                    .map(|n| n.load(Ordering::Relaxed))
                    .collect();
                copy_counts = p
                    .chains
                    .iter()
                    .map(|c| c.counts.iter().map(|n| n.load(Ordering::Relaxed)).collect())
                    .collect();
                let changes = conn.total_changes();
                exec(conn, step).map_err(fail("dropping the old table"))?;
                // With foreign key enforcement off, DROP TABLE deletes no row of any table;
                // a cascade (or an implicit DELETE) would show here.
                let deleted = conn.total_changes() - changes;
                if deleted != 0 {
                    return Err(Error::CheckFailed {
                        table,
                        reason: format!(
                            "dropping the old table changed {deleted} rows: foreign key enforcement was not off"
                        ),
                    }
                    .into());
                }
            }
            StepKind::RenameColumn => {
                exec(conn, step).map_err(|e| dependent_broken(&table, sqlite_message(&e)))?;
            }
            StepKind::SwitchDefinition => {
                switch_definition(conn, p, step)
                    .map_err(fail("switching the stored definition"))?;
            }
            StepKind::RemapInPlace => {
                let updated = quarantine::without_triggers(conn, &p.source, || {
                    let mut stmt = conn.prepare(step.sql())?;
                    let used = stmt.parameter_count();
                    log::debug!("{}", step.sql_with_literals());
                    stmt.execute(params_from_iter(step.params().iter().take(used)))
                })?;
                match updated {
                    Ok(_) => {}
                    Err(e) if is_violation(&e) => return Err(Stop::Violations(e)),
                    Err(e) => return Err(fail("remapping rows in place")(e).into()),
                }
            }
            StepKind::FollowChildKeys => {
                let Some(u) = child_updates.next() else {
                    continue;
                };
                let child = schema::resolve_table(conn, &p.source.schema, &u.child)?;
                let n = quarantine::without_triggers(conn, &child, || exec(conn, step))?;
                let n = match n {
                    Ok(n) => n as u64,
                    Err(e) if is_violation(&e) => {
                        return Err(Error::CheckFailed {
                            table: table.clone(),
                            reason: format!(
                                "rewriting the foreign keys of child \"{}\" to follow the remapped keys breaks one of its constraints: {}",
                                u.child,
                                sqlite_message(&e)
                            ),
                        }
                        .into())
                    }
                    Err(e) => return Err(fail(&format!("rewriting the keys of \"{}\"", u.child))(e).into()),
                };
                // A table followed through several of its keys is one entry.
                match keys_followed.iter_mut().find(|(t, _)| *t == child.name) {
                    Some((_, total)) => *total += n,
                    None => keys_followed.push((child.name.clone(), n)),
                }
            }
            StepKind::RestoreChildRows => {
                let Some(c) = child_restores.next() else {
                    continue;
                };
                let child = schema::resolve_table(conn, &p.source.schema, &c.child)?;
                let n = quarantine::without_triggers(conn, &child, || exec(conn, step))?
                    .map_err(fail(&format!("restoring the rows of \"{}\"", c.child)))?
                    as u64;
                *restored_into
                    .entry(c.child.to_ascii_lowercase())
                    .or_insert(0) += n;
                restored.push(quarantine::moved(&c.quarantine, &c.child, n));
            }
            StepKind::Rename => {
                let legacy: bool = conn
                    .query_row("PRAGMA legacy_alter_table", [], |r| r.get(0))
                    .map_err(fail("reading legacy_alter_table"))?;
                conn.execute_batch("PRAGMA legacy_alter_table = ON")
                    .map_err(fail("setting legacy_alter_table"))?;
                let renamed = exec(conn, step);
                if !legacy {
                    conn.execute_batch("PRAGMA legacy_alter_table = OFF")
                        .map_err(fail("restoring legacy_alter_table"))?;
                }
                renamed.map_err(fail("renaming the new table into place"))?;
            }
            StepKind::CreateIndex | StepKind::CreateTrigger => {
                let dep = dependents.next();
                let name = dep.map(|d| d.name.clone()).unwrap_or_default();
                let kind = dep.map(|d| d.kind.clone()).unwrap_or_default();
                if recreated.is_empty() {
                    ProgressFn::report(&p.progress, Phase::Indexes, 0, dependents_total);
                }
                // A dry run builds only the unique indexes (they can refuse rows); the
                // others are compiled, which finds a column the target lacks.
                let build = !p.dry_run || dep.is_some_and(|d| d.unique);
                let done = if build {
                    exec(conn, step).map(drop)
                } else {
                    conn.prepare(step.sql()).map(drop)
                };
                match done {
                    Ok(_) => {
                        recreated.push(name);
                        ProgressFn::report(
                            &p.progress,
                            Phase::Indexes,
                            recreated.len() as u64,
                            dependents_total,
                        );
                    }
                    Err(e) if is_violation(&e) => return Err(Stop::Violations(e)),
                    Err(e) => {
                        return Err(Error::DependentBroken {
                            table: table.clone(),
                            kind,
                            name,
                            reason: sqlite_message(&e),
                        }
                        .into())
                    }
                }
            }
            _ => {
                exec(conn, step).map_err(fail(&format!("step {:?}", step.kind())))?;
            }
        }
    }

    if p.in_place {
        rows_copied = old_rows;
        check_in_place(conn, p)?;
    } else {
        check_strict_generated(conn, p)?;
    }
    // Checks before commit: the row count, each child, the schema.
    let checks_total = children.len() as u64 + 2;
    ProgressFn::report(&p.progress, Phase::Checks, 0, checks_total);
    let new_rows = count(conn, &p.source.qualified())?;
    if new_rows != old_rows || rows_copied != old_rows {
        return Err(Error::CheckFailed {
            table,
            reason: format!("the old table had {old_rows} rows, {rows_copied} were copied and the new table has {new_rows}"),
        }
        .into());
    }
    if !p.target_fks.is_empty() {
        let own = fk_violations(conn, &p.source.schema, &p.source.name, &p.source.name)
            .map_err(fail("checking the table's foreign keys"))?;
        if own.values().any(|n| *n > 0) {
            return Err(foreign_key_violation());
        }
    }
    for (i, (child, (rows_before, violations_before))) in
        children.iter().zip(&child_before).enumerate()
    {
        ProgressFn::report(&p.progress, Phase::Checks, 1 + i as u64, checks_total);
        let qualified = crate::quote::qualified(&p.source.schema, child);
        if let Some(rows_before) = rows_before {
            let rows_after = count(conn, &qualified)?;
            let rows_before =
                rows_before + restored_into.get(&child.to_ascii_lowercase()).unwrap_or(&0);
            if rows_after != rows_before {
                return Err(Error::CheckFailed {
                    table,
                    reason: format!(
                        "child \"{child}\" had {rows_before} rows and now has {rows_after}"
                    ),
                }
                .into());
            }
        }
        if check_children {
            let after = fk_violations(conn, &p.source.schema, child, &p.source.name)
                .map_err(fail("checking child foreign keys"))?;
            let new: u64 = after
                .iter()
                .map(|(id, n)| n.saturating_sub(*violations_before.get(id).unwrap_or(&0)))
                .sum();
            if new > 0 {
                return Err(Error::CheckFailed {
                    table,
                    reason: format!(
                        "{new} rows of child \"{child}\" would no longer find their parent row"
                    ),
                }
                .into());
            }
        }
    }
    ProgressFn::report(&p.progress, Phase::Checks, checks_total - 1, checks_total);
    if schema_ok_before {
        if let Err(msg) = schema_probe(conn, p)? {
            return Err(dependent_broken(&table, msg).into());
        }
    }
    ProgressFn::report(&p.progress, Phase::Checks, checks_total, checks_total);
    log::debug!(
        "checks passed: {new_rows} rows in {table:?} as before; child tables intact: {children:?}; \
         views and triggers compile"
    );
    let mut rules: Vec<(usize, RuleReport)> = p
        .rules
        .iter()
        .zip(rule_counts)
        .enumerate()
        .map(|(i, (slot, n))| {
            let rows_changed = match slot.counted {
                Counted::Sql { .. } if count_in_copy => copy_hits.get(i).copied().unwrap_or(0),
                Counted::Sql { .. } => n,
                Counted::Chain { chain, step } => copy_counts
                    .get(chain)
                    .and_then(|c| c.get(step))
                    .copied()
                    .unwrap_or(0),
            };
            let values = match &slot.rule.rule {
                Rule::Value { from, to } => Some((from.clone(), to.clone())),
                Rule::With(_) => None,
            };
            (
                slot.position,
                RuleReport {
                    column: slot.rule.column.clone(),
                    values,
                    rows_changed,
                },
            )
        })
        .collect();
    rules.sort_by_key(|(position, _)| *position);
    let rules = rules.into_iter().map(|(_, r)| r).collect();
    Ok(RebuildReport {
        table: p.source.name.clone(),
        rows_copied,
        rules,
        recreated,
        dropped: p.dropped.iter().map(|(name, _)| name.clone()).collect(),
        children_checked: children.iter().map(|c| c.to_string()).collect(),
        quarantined: Vec::new(),
        quarantine_reports: Vec::new(),
        restored,
        keys_followed,
        in_place: p.in_place,
    })
}

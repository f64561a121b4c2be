//! The generated cases: a source table with its dependents and rows, and one to three
//! target changes, rendered as a setup script, a target statement, builder calls and the
//! oracle's copy.

use proptest::prelude::*;
use proptest::sample::{select, Index};
use std::fmt;

// ---------------------------------------------------------------------------------------
// The generated schema
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Integer,
    /// `integer`: a rowid alias too, when it is the PRIMARY KEY.
    IntegerLower,
    /// `INT`: INTEGER affinity, but never a rowid alias.
    Int,
    Text,
    Real,
    Blob,
    Numeric,
    Untyped,
    Any,
}

impl Ty {
    fn sql(self) -> &'static str {
        match self {
            Ty::Integer => "INTEGER",
            Ty::IntegerLower => "integer",
            Ty::Int => "INT",
            Ty::Text => "TEXT",
            Ty::Real => "REAL",
            Ty::Blob => "BLOB",
            Ty::Numeric => "NUMERIC",
            Ty::Untyped => "",
            Ty::Any => "ANY",
        }
    }

    /// The nearest type a STRICT table accepts.
    fn for_strict(self) -> Ty {
        match self {
            Ty::Numeric => Ty::Real,
            Ty::Untyped => Ty::Any,
            t => t,
        }
    }

    fn is_integer(self) -> bool {
        matches!(self, Ty::Integer | Ty::IntegerLower)
    }
}

pub(crate) fn ty() -> impl Strategy<Value = Ty> {
    prop_oneof![
        3 => Just(Ty::Integer),
        1 => Just(Ty::IntegerLower),
        1 => Just(Ty::Int),
        3 => Just(Ty::Text),
        2 => Just(Ty::Real),
        2 => Just(Ty::Blob),
        2 => Just(Ty::Numeric),
        2 => Just(Ty::Untyped),
    ]
}

/// Column CHECKs, `{c}` standing for the column's name.
pub(crate) const CHECKS: &[&str] = &[
    "{c} IS NOT 3",
    "{c} >= 0",
    "{c} <> ''",
    "length({c}) <= 2",
    "typeof({c}) <> 'blob'",
    "{c} IN (0, 1, 2, 'a', 'b')",
];

/// CHECKs only a target gets: SQLite refuses to write any row under them.
pub(crate) const NONDETERMINISTIC_CHECKS: &[&str] =
    &["{c} IS NOT random()", "julianday('now') > 0"];

/// The conflict clauses a table's UNIQUE and NOT NULL constraints may carry: statements that
/// do not override them would let them delete, skip or default rows.
pub(crate) const CONFLICTS: &[&str] = &["REPLACE", "IGNORE", "FAIL", "ROLLBACK", "ABORT"];

/// Table CHECKs over two columns `{a}` and `{b}`.
pub(crate) const TABLE_CHECKS: &[&str] =
    &["{a} IS NOT {b}", "coalesce({a}, 0) <= coalesce({b}, 9)"];

pub(crate) const DEFAULTS: &[&str] = &[
    "0",
    "-1",
    "2.5",
    "'x'",
    "NULL",
    "X'00'",
    "(1 + 1)",
    "(lower('AB'))",
];

pub(crate) const TEXTS: &[&str] = &["a", "A", "b", "1", "2.0", "", " x", "it's"];
pub(crate) const BLOBS: &[&[u8]] = &[b"\x00", b"ab"];

thread_local! {
    /// Every identifier double-quoted, as sqlite-utils and Django write them (set while a
    /// case is built).
    static QUOTE_ALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// An identifier as SQL: bare when it can be, quoted otherwise (or always, in a case that
/// quotes every identifier).
pub(crate) fn q(name: &str) -> String {
    let bare = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphabetic());
    if bare && !QUOTE_ALL.with(|q| q.get()) {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// An identifier, always quoted. SQLite writes a renamed column into the statements it
/// rewrites as the rename spelled it, and the crate spells it quoted.
pub(crate) fn qq(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[derive(Clone, Debug)]
pub(crate) struct Col {
    /// Stable identity, so table constraints follow renames and drops.
    pub(crate) id: usize,
    pub(crate) name: String,
    /// The source column it is copied from (`None` for an added column).
    pub(crate) origin: Option<String>,
    pub(crate) ty: Ty,
    /// `PRIMARY KEY` in the column definition (the INTEGER PRIMARY KEY form).
    pub(crate) pk_inline: bool,
    pub(crate) pk_desc: bool,
    pub(crate) autoincrement: bool,
    pub(crate) not_null: bool,
    pub(crate) default: Option<&'static str>,
    pub(crate) check: Option<&'static str>,
    pub(crate) unique: bool,
    pub(crate) nocase: bool,
    /// `REFERENCES t (<that column>)`: a self reference, by column id.
    pub(crate) references: Option<usize>,
    /// `GENERATED ALWAYS AS (<that column> || '')`, STORED or VIRTUAL.
    pub(crate) generated: Option<(usize, bool)>,
    /// `REFERENCES r (k)` (a target change only).
    pub(crate) foreign: bool,
}

impl Col {
    fn plain(id: usize, name: String, ty: Ty) -> Col {
        Col {
            id,
            origin: Some(name.clone()),
            name,
            ty,
            pk_inline: false,
            pk_desc: false,
            autoincrement: false,
            not_null: false,
            default: None,
            check: None,
            unique: false,
            nocase: false,
            references: None,
            generated: None,
            foreign: false,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub(crate) cols: Vec<Col>,
    /// Table-level PRIMARY KEY, by column id.
    pub(crate) pk: Vec<usize>,
    /// Table-level CHECKs: template and the ids of its two columns.
    pub(crate) checks: Vec<(&'static str, usize, usize)>,
    pub(crate) strict: bool,
    pub(crate) without_rowid: bool,
    /// `ON CONFLICT <clause>` on every UNIQUE and NOT NULL constraint.
    pub(crate) conflict: Option<&'static str>,
}

impl Table {
    fn name_of(&self, id: usize) -> &str {
        &self.cols.iter().find(|c| c.id == id).unwrap().name
    }

    /// Whether the table has a rowid alias (an INTEGER PRIMARY KEY column, not DESC).
    fn ipk(&self) -> bool {
        !self.without_rowid
            && self
                .cols
                .iter()
                .any(|c| c.pk_inline && c.ty.is_integer() && !c.pk_desc)
    }

    fn autoincrement(&self) -> bool {
        self.cols.iter().any(|c| c.autoincrement)
    }

    fn def(&self, c: &Col) -> String {
        let mut s = q(&c.name);
        if !c.ty.sql().is_empty() {
            s += " ";
            s += c.ty.sql();
        }
        if c.pk_inline {
            s += " PRIMARY KEY";
            if c.pk_desc {
                s += " DESC";
            }
            if c.autoincrement {
                s += " AUTOINCREMENT";
            }
        }
        let on_conflict = self
            .conflict
            .map(|c| format!(" ON CONFLICT {c}"))
            .unwrap_or_default();
        if c.not_null {
            s += " NOT NULL";
            s += &on_conflict;
        }
        if let Some(d) = c.default {
            s += " DEFAULT ";
            s += d;
        }
        if let Some((from, stored)) = c.generated {
            let kind = if stored { "STORED" } else { "VIRTUAL" };
            s += &format!(" AS ({} || '') {kind}", q(self.name_of(from)));
        }
        if c.unique {
            s += " UNIQUE";
            s += &on_conflict;
        }
        if c.nocase {
            s += " COLLATE NOCASE";
        }
        if let Some(k) = c.check {
            s += &format!(" CHECK ({})", k.replace("{c}", &q(&c.name)));
        }
        if let Some(r) = c.references {
            s += &format!(" REFERENCES t ({})", q(self.name_of(r)));
        }
        if c.foreign {
            s += " REFERENCES r (k)";
        }
        s
    }

    fn create_sql(&self) -> String {
        let mut parts: Vec<String> = self.cols.iter().map(|c| self.def(c)).collect();
        if !self.pk.is_empty() {
            let names: Vec<String> = self.pk.iter().map(|&id| q(self.name_of(id))).collect();
            parts.push(format!("PRIMARY KEY ({})", names.join(", ")));
        }
        for (tpl, a, b) in &self.checks {
            parts.push(format!(
                "CHECK ({})",
                tpl.replace("{a}", &q(self.name_of(*a)))
                    .replace("{b}", &q(self.name_of(*b)))
            ));
        }
        let mut options = Vec::new();
        if self.without_rowid {
            options.push("WITHOUT ROWID");
        }
        if self.strict {
            options.push("STRICT");
        }
        let options = if options.is_empty() {
            String::new()
        } else {
            format!(" {}", options.join(", "))
        };
        format!("CREATE TABLE t ({}){options}", parts.join(", "))
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(&'static str),
    Blob(&'static [u8]),
}

impl Val {
    fn sql(self) -> String {
        match self {
            Val::Null => "NULL".into(),
            Val::Int(i) => i.to_string(),
            Val::Real(f) => format!("{f:?}"),
            Val::Text(s) => format!("'{}'", s.replace('\'', "''")),
            Val::Blob(b) => format!(
                "X'{}'",
                b.iter().map(|x| format!("{x:02X}")).collect::<String>()
            ),
        }
    }

    /// A value a STRICT column of type `ty` (or an INTEGER PRIMARY KEY) stores without a
    /// datatype error, which `INSERT OR IGNORE` does not skip.
    fn fit(self, ty: Ty) -> Val {
        let n = |v: Val| match v {
            Val::Text(s) => s.len(),
            Val::Blob(b) => b.len(),
            _ => 1,
        };
        match (ty, self) {
            (_, Val::Null) | (Ty::Any | Ty::Numeric | Ty::Untyped, _) => self,
            (Ty::Integer | Ty::IntegerLower | Ty::Int, Val::Int(_)) => self,
            (Ty::Integer | Ty::IntegerLower | Ty::Int, Val::Real(f)) => Val::Int(f.round() as i64),
            (Ty::Integer | Ty::IntegerLower | Ty::Int, v) => Val::Int(n(v) as i64),
            (Ty::Real, Val::Int(_) | Val::Real(_)) => self,
            (Ty::Real, v) => Val::Real(n(v) as f64 + 0.5),
            (Ty::Text, Val::Text(_)) => self,
            (Ty::Text, v) => Val::Text(TEXTS[n(v) % TEXTS.len()]),
            (Ty::Blob, Val::Blob(_)) => self,
            (Ty::Blob, v) => Val::Blob(BLOBS[n(v) % BLOBS.len()]),
        }
    }
}

pub(crate) fn val() -> impl Strategy<Value = Val> {
    prop_oneof![
        2 => Just(Val::Null),
        3 => (-2i64..5).prop_map(Val::Int),
        1 => select(vec![0.5, 2.0, -1.5]).prop_map(Val::Real),
        3 => select(TEXTS.to_vec()).prop_map(Val::Text),
        1 => select(BLOBS.to_vec()).prop_map(Val::Blob),
    ]
}

/// A generated source column: name style, type, NOT NULL, DEFAULT, CHECK, UNIQUE, NOCASE.
pub(crate) type ColGen = (
    u8,
    Ty,
    bool,
    Option<&'static str>,
    Option<&'static str>,
    bool,
    bool,
);

pub(crate) fn col_gen() -> impl Strategy<Value = ColGen> {
    (
        prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
        ty(),
        prop::bool::weighted(0.25),
        proptest::option::weighted(0.3, select(DEFAULTS.to_vec())),
        proptest::option::weighted(0.3, select(CHECKS.to_vec())),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.15),
    )
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum KeyForm {
    Rowid,
    /// `id INTEGER PRIMARY KEY`, with DESC (no rowid alias) and AUTOINCREMENT flags.
    IntegerPk {
        desc: bool,
        autoincrement: bool,
    },
    CompositePk,
    WithoutRowid1,
    WithoutRowid2,
}

pub(crate) fn key_form() -> impl Strategy<Value = KeyForm> {
    prop_oneof![
        2 => Just(KeyForm::Rowid),
        3 => (prop::bool::weighted(0.15), prop::bool::weighted(0.3))
            .prop_map(|(desc, autoincrement)| KeyForm::IntegerPk { desc, autoincrement: autoincrement && !desc }),
        2 => Just(KeyForm::CompositePk),
        2 => Just(KeyForm::WithoutRowid1),
        1 => Just(KeyForm::WithoutRowid2),
    ]
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Added {
    Nullable,
    Default(&'static str),
    NotNullDefault(&'static str),
    NotNullNoDefault,
}

#[derive(Clone, Debug)]
pub(crate) enum Change {
    Add(Added, Ty),
    Drop(Index),
    Rename(Index),
    Retype(Index, Ty),
    SetCheck(Index, Option<&'static str>),
    SetNotNull(Index, bool),
    SetDefault(Index, Option<&'static str>),
    ToggleUnique(Index),
    ToggleNocase(Index),
    /// A foreign key to the table `r` (whose keys are 0, 1, 2, 'a' and 'b').
    ToggleForeign(Index),
    /// `None` drops every table CHECK; `Some` adds one over two columns.
    TableCheck(Option<(&'static str, Index, Index)>),
    ToggleStrict,
    /// On the INTEGER PRIMARY KEY column, if any.
    ToggleAutoincrement,
    ToggleDesc,
}

pub(crate) fn change() -> impl Strategy<Value = Change> {
    let default = || select(DEFAULTS.to_vec());
    let added = prop_oneof![
        Just(Added::Nullable),
        default().prop_map(Added::Default),
        default().prop_map(Added::NotNullDefault),
        Just(Added::NotNullNoDefault),
    ];
    prop_oneof![
        4 => (added, ty()).prop_map(|(a, t)| Change::Add(a, t)),
        3 => any::<Index>().prop_map(Change::Drop),
        3 => any::<Index>().prop_map(Change::Rename),
        3 => (any::<Index>(), ty()).prop_map(|(i, t)| Change::Retype(i, t)),
        3 => (any::<Index>(), proptest::option::of(select(CHECKS.to_vec())))
            .prop_map(|(i, c)| Change::SetCheck(i, c)),
        1 => (any::<Index>(), select(NONDETERMINISTIC_CHECKS.to_vec()))
            .prop_map(|(i, c)| Change::SetCheck(i, Some(c))),
        2 => (any::<Index>(), any::<bool>()).prop_map(|(i, b)| Change::SetNotNull(i, b)),
        1 => (any::<Index>(), proptest::option::of(default()))
            .prop_map(|(i, d)| Change::SetDefault(i, d)),
        1 => any::<Index>().prop_map(Change::ToggleUnique),
        1 => any::<Index>().prop_map(Change::ToggleNocase),
        1 => any::<Index>().prop_map(Change::ToggleForeign),
        1 => proptest::option::of((select(TABLE_CHECKS.to_vec()), any::<Index>(), any::<Index>()))
            .prop_map(Change::TableCheck),
        1 => Just(Change::ToggleStrict),
        1 => Just(Change::ToggleAutoincrement),
        1 => Just(Change::ToggleDesc),
    ]
}

/// The child table: whether it names the parent columns, whether its key columns are
/// TEXT, and one key transform per batch of rows (see [`CHILD_KEYS`]).
pub(crate) type ChildGen = (bool, bool, Vec<u8>);

/// How a batch of child rows derives its keys from the parent's, `{k}` standing for a key
/// column: the keys that do not match the parent's under its affinity and collation are
/// deleted again, so the child starts without violations.
pub(crate) const CHILD_KEYS: &[&str] = &["{k}", "upper({k})", "{k} || ''", "{k} + 0", "lower({k})"];

/// Everything a case is generated from; [`build`] turns it into a [`Case`].
#[derive(Clone, Debug)]
pub(crate) struct Gen {
    pub(crate) cols: Vec<ColGen>,
    pub(crate) key: KeyForm,
    pub(crate) strict: bool,
    /// A column referencing the table's own single-column key, set on this many rows.
    pub(crate) self_ref: Option<u8>,
    /// A generated column over another column: STORED or VIRTUAL.
    pub(crate) generated: Option<(bool, Index)>,
    /// Kind, and the columns it uses.
    pub(crate) indexes: Vec<(u8, Index, Index)>,
    /// Kind, column, and whether it is a TEMP trigger.
    pub(crate) trigger: Option<(u8, Index, bool)>,
    /// A trigger on `log` whose WHEN clause reads a column of `t`.
    pub(crate) log_trigger: Option<Index>,
    pub(crate) view: Option<(u8, Index)>,
    pub(crate) child: Option<ChildGen>,
    /// Cells per row, by column position; `None` leaves the column to its DEFAULT.
    pub(crate) rows: Vec<Vec<Option<Val>>>,
    /// Rowid tables get explicit, gapped rowids.
    pub(crate) gaps: bool,
    pub(crate) changes: Vec<Change>,
    pub(crate) extras: Extras,
}

/// What adversarial and framework-made schemas add around the table.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extras {
    /// Every identifier double-quoted.
    pub(crate) quote_all: bool,
    /// An `ON CONFLICT` clause (index into [`CONFLICTS`]) on the UNIQUE and NOT NULL
    /// constraints of the table and the target.
    pub(crate) conflict: Option<u8>,
    /// A TEMP table named `t`, and an attached database's `aux.t`.
    pub(crate) temp_t: bool,
    pub(crate) aux_t: bool,
    /// A trigger on `r` inserting into `t` positionally (`VALUES` with one value per column).
    pub(crate) positional: bool,
    /// A trigger on `t` copying `SELECT * FROM t` into a history table of its columns.
    pub(crate) history: bool,
    /// A view with a column list over `SELECT * FROM t`.
    pub(crate) view_columns: bool,
    /// An FTS5 index whose external content is `t`, over one of its columns.
    pub(crate) full_text: Option<Index>,
    /// Columns named `rowid`, `oid`, `_rowid_` (this many of them) in a rowid table.
    pub(crate) rowid_names: u8,
}

pub(crate) fn extras() -> impl Strategy<Value = Extras> {
    (
        prop::bool::weighted(0.25),
        proptest::option::weighted(0.2, 0u8..CONFLICTS.len() as u8),
        (prop::bool::weighted(0.15), prop::bool::weighted(0.1)),
        (
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.15),
        ),
        proptest::option::weighted(0.15, any::<Index>()),
        prop_oneof![8 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)],
    )
        .prop_map(
            |(
                quote_all,
                conflict,
                (temp_t, aux_t),
                (positional, history, view_columns),
                full_text,
                rowid_names,
            )| Extras {
                quote_all,
                conflict,
                temp_t,
                aux_t,
                positional,
                history,
                view_columns,
                full_text,
                rowid_names,
            },
        )
}

pub(crate) fn gen() -> impl Strategy<Value = Gen> {
    let schema = (
        prop::collection::vec(col_gen(), 2..=4),
        key_form(),
        prop::bool::weighted(0.25),
        (
            proptest::option::weighted(0.2, 0u8..4),
            proptest::option::weighted(0.15, (any::<bool>(), any::<Index>())),
        ),
        prop::collection::vec((0u8..9, any::<Index>(), any::<Index>()), 0..=3),
        proptest::option::weighted(0.7, (0u8..5, any::<Index>(), prop::bool::weighted(0.2))),
        proptest::option::weighted(0.15, any::<Index>()),
        proptest::option::weighted(0.4, (0u8..4, any::<Index>())),
        proptest::option::weighted(
            0.5,
            (
                any::<bool>(),
                prop::bool::weighted(0.3),
                prop::collection::vec(
                    prop_oneof![3 => Just(0u8), 1 => 1u8..CHILD_KEYS.len() as u8],
                    0..4,
                ),
            ),
        ),
    );
    let data = (
        prop::collection::vec(
            prop::collection::vec(proptest::option::weighted(0.85, val()), 9),
            0..=30,
        ),
        any::<bool>(),
        prop::collection::vec(change(), 1..=3),
        extras(),
    );
    (schema, data).prop_map(
        |(
            (cols, key, strict, (self_ref, generated), indexes, trigger, log_trigger, view, child),
            (rows, gaps, changes, extras),
        )| Gen {
            cols,
            key,
            strict,
            self_ref,
            generated,
            indexes,
            trigger,
            log_trigger,
            view,
            child,
            rows,
            gaps,
            changes,
            extras,
        },
    )
}

// ---------------------------------------------------------------------------------------
// The case: setup script, target, builder calls, and the oracle's copy
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
pub(crate) struct Case {
    pub(crate) setup: String,
    pub(crate) target: String,
    /// `.column(target, expr)` calls: one per renamed column.
    pub(crate) columns: Vec<(String, String)>,
    /// Renamed columns, old name and new: the oracle renames them in `t` first.
    pub(crate) renames: Vec<(String, String)>,
    /// The oracle's `INSERT INTO new_t (copy_into) SELECT copy_from FROM t` (after the
    /// renames).
    pub(crate) copy_into: Vec<String>,
    pub(crate) copy_from: Vec<String>,
    /// The target has AUTOINCREMENT: the oracle keeps the counter, as the crate does.
    pub(crate) autoincrement: bool,
    /// Target columns that are NOT NULL without DEFAULT and have no source.
    pub(crate) missing: Vec<String>,
    /// Old columns the target drops: `.drop_column(name)` lets their values go.
    pub(crate) drops: Vec<String>,
    /// Columns hide every name of the old rowid: the procedure's copy renumbers the rows.
    pub(crate) rowids_unreachable: bool,
    /// An FTS5 index whose external content is `t`: a careful hand rebuilds it after the
    /// swap, and its integrity check must pass.
    pub(crate) full_text: Option<String>,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Case {{\n-- setup (a fresh connection with foreign_keys=ON)"
        )?;
        writeln!(f, "{}", self.setup)?;
        writeln!(f, "-- target\n{};", self.target)?;
        write!(f, "-- crate\nTableRebuild::new(\"t\").create_sql(TARGET)")?;
        for (c, e) in &self.columns {
            write!(f, ".column({c:?}, {e:?})")?;
        }
        for c in &self.drops {
            write!(f, ".drop_column({c:?})")?;
        }
        writeln!(f, ".execute(&mut conn)")?;
        writeln!(f, "-- oracle")?;
        for (old, new) in &self.renames {
            writeln!(f, "ALTER TABLE t RENAME COLUMN {} TO {};", qq(old), qq(new))?;
        }
        writeln!(
            f,
            "INSERT INTO new_t ({}) SELECT {} FROM t;",
            self.copy_into.join(", "),
            self.copy_from.join(", ")
        )?;
        if !self.missing.is_empty() {
            writeln!(f, "-- no source for NOT NULL column(s) {:?}", self.missing)?;
        }
        write!(f, "}}")
    }
}

pub(crate) fn pick<'a>(
    cols: &'a mut [Col],
    i: &Index,
    ok: impl Fn(&Col) -> bool,
) -> Option<&'a mut Col> {
    let n = cols.iter().filter(|c| ok(c)).count();
    if n == 0 {
        return None;
    }
    let k = i.index(n);
    cols.iter_mut().filter(|c| ok(c)).nth(k)
}

pub(crate) fn source_table(g: &Gen) -> Table {
    let mut cols = Vec::new();
    if let KeyForm::IntegerPk {
        desc,
        autoincrement,
    } = g.key
    {
        let mut id = Col::plain(0, "id".into(), Ty::Integer);
        id.pk_inline = true;
        id.pk_desc = desc;
        id.autoincrement = autoincrement;
        cols.push(id);
    }
    for (i, &(style, ty, not_null, default, check, unique, nocase)) in g.cols.iter().enumerate() {
        let name = match style {
            0 => format!("c{i}"),
            1 => format!("C {i}"),
            _ => format!("c\"{i}"),
        };
        let ty = if g.strict { ty.for_strict() } else { ty };
        cols.push(Col {
            not_null,
            default,
            check,
            unique,
            nocase,
            ..Col::plain(cols.len(), name, ty)
        });
    }
    let first = cols.iter().find(|c| !c.pk_inline).unwrap().id;
    let (pk, without_rowid) = match g.key {
        KeyForm::Rowid | KeyForm::IntegerPk { .. } => (vec![], false),
        KeyForm::CompositePk => (vec![first, first + 1], false),
        KeyForm::WithoutRowid1 => (vec![first], true),
        KeyForm::WithoutRowid2 => (vec![first, first + 1], true),
    };
    // A self reference needs a single-column key.
    let single_key = match g.key {
        KeyForm::IntegerPk { .. } => Some(0),
        KeyForm::WithoutRowid1 => Some(first),
        _ => None,
    };
    if let (Some(_), Some(key)) = (g.self_ref, single_key) {
        let ty = match (g.strict, cols[key].ty) {
            (true, t) => t,
            (false, _) => Ty::Untyped,
        };
        let mut p = Col::plain(cols.len(), "p".into(), ty);
        p.references = Some(key);
        cols.push(p);
    }
    if let Some((stored, from)) = &g.generated {
        let from = cols[from.index(cols.len())].id;
        let ty = if g.strict { Ty::Any } else { Ty::Untyped };
        let mut gen = Col::plain(cols.len(), "g".into(), ty);
        gen.generated = Some((from, *stored));
        cols.push(gen);
    }
    // Columns that hide the implicit rowid's names, in a table that has one.
    if matches!(g.key, KeyForm::Rowid | KeyForm::CompositePk) {
        for name in ["rowid", "oid", "_rowid_"]
            .iter()
            .take(g.extras.rowid_names as usize)
        {
            let ty = if g.strict { Ty::Any } else { Ty::Untyped };
            cols.push(Col::plain(cols.len(), (*name).to_owned(), ty));
        }
    }
    Table {
        cols,
        pk,
        checks: vec![],
        strict: g.strict,
        without_rowid,
        conflict: g.extras.conflict.map(|i| CONFLICTS[i as usize]),
    }
}

/// The first of the implicit rowid's names that no column of `t` hides.
pub(crate) fn rowid_alias(t: &Table) -> Option<&'static str> {
    ["rowid", "_rowid_", "oid"]
        .into_iter()
        .find(|n| !t.cols.iter().any(|c| c.name.eq_ignore_ascii_case(n)))
}

pub(crate) fn build(g: &Gen) -> Case {
    QUOTE_ALL.with(|q| q.set(g.extras.quote_all));
    let case = build_quoted(g);
    QUOTE_ALL.with(|q| q.set(false));
    case
}

fn build_quoted(g: &Gen) -> Case {
    let source = source_table(g);
    let name = |i: &Index| q(&source.cols[i.index(source.cols.len())].name);

    let mut setup = vec![
        source.create_sql(),
        "CREATE TABLE log (x)".to_owned(),
        "CREATE TABLE r (k PRIMARY KEY)".to_owned(),
        "INSERT INTO r VALUES (0), (1), (2), ('a'), ('b')".to_owned(),
    ];
    // Indexes before the rows: a unique one then skips duplicates instead of failing.
    for (n, (kind, a, b)) in g.indexes.iter().enumerate() {
        let (a, b) = (name(a), name(b));
        let on = match kind {
            0 => format!("INDEX t_ix{n} ON t ({a})"),
            1 => format!("UNIQUE INDEX t_ix{n} ON t ({a})"),
            2 => format!("INDEX t_ix{n} ON t ({a}) WHERE {b} IS NOT NULL"),
            3 => format!("UNIQUE INDEX t_ix{n} ON t ({a}) WHERE {a} > 0"),
            4 => format!("INDEX t_ix{n} ON t (lower({a}))"),
            5 => format!("INDEX t_ix{n} ON t ({a} DESC, {b})"),
            6 => format!("UNIQUE INDEX t_ix{n} ON t ({a} COLLATE NOCASE)"),
            _ if a != b => format!("UNIQUE INDEX t_ix{n} ON t ({a}, {b})"),
            _ => format!("UNIQUE INDEX t_ix{n} ON t (length({a}))"),
        };
        setup.push(format!("CREATE {on}"));
    }
    if let Some((kind, c, temp)) = &g.trigger {
        let c = name(c);
        let create = if *temp {
            "CREATE TEMP TRIGGER"
        } else {
            "CREATE TRIGGER"
        };
        // A TEMP trigger's unqualified table is looked up in temp first: with a TEMP table
        // `t` (created last), SQLite would move it there on the next schema load.
        let on = if *temp && g.extras.temp_t {
            "main.t"
        } else {
            "t"
        };
        setup.push(match kind {
            0 => format!("{create} t_tr AFTER INSERT ON {on} BEGIN INSERT INTO log (x) VALUES (new.{c}); END"),
            1 => format!("{create} t_tr AFTER UPDATE OF {c} ON {on} BEGIN INSERT INTO log (x) VALUES (old.{c}); END"),
            2 => format!("{create} t_tr AFTER INSERT ON {on} WHEN new.{c} IS NOT NULL BEGIN INSERT INTO log (x) VALUES ('w'); END"),
            3 => format!("{create} t_tr AFTER INSERT ON {on} BEGIN INSERT INTO log (x) VALUES ('i'); END"),
            _ => format!("{create} t_tr BEFORE DELETE ON {on} BEGIN INSERT INTO log (x) VALUES (old.{c}); END"),
        });
    }
    if let Some(c) = &g.log_trigger {
        setup.push(format!(
            "CREATE TRIGGER log_tr AFTER INSERT ON log WHEN (SELECT count(*) FROM t WHERE {} IS NULL) >= 0 BEGIN SELECT 1; END",
            name(c)
        ));
    }
    if let Some((kind, c)) = &g.view {
        let c = name(c);
        setup.push(match kind {
            0 => format!("CREATE VIEW v AS SELECT {c} FROM t"),
            1 => "CREATE VIEW v AS SELECT * FROM t".to_owned(),
            2 => "CREATE VIEW v AS SELECT count(*) AS n FROM t".to_owned(),
            _ => format!("CREATE VIEW v AS SELECT {c} AS x FROM t WHERE {c} IS NOT NULL"),
        });
    }
    // What SELECT * reads: every column but the hidden ones (generated columns are read).
    let star: Vec<&Col> = source.cols.iter().collect();
    let written: Vec<&Col> = source
        .cols
        .iter()
        .filter(|c| c.generated.is_none())
        .collect();
    if g.extras.history {
        setup.push("CREATE TABLE hist AS SELECT * FROM t WHERE 0".to_owned());
        setup.push(
            "CREATE TRIGGER t_hist AFTER DELETE ON t BEGIN INSERT INTO hist SELECT * FROM t WHERE 0; END"
                .to_owned(),
        );
    }
    if g.extras.positional {
        let nulls = vec!["NULL"; written.len()].join(", ");
        setup.push(format!(
            "CREATE TRIGGER r_ins AFTER INSERT ON r BEGIN INSERT INTO t VALUES ({nulls}); END"
        ));
    }
    if g.extras.view_columns {
        let names: Vec<String> = (0..star.len()).map(|i| format!("x{i}")).collect();
        setup.push(format!(
            "CREATE VIEW v_cols ({}) AS SELECT * FROM t",
            names.join(", ")
        ));
    }
    let rowid_form = matches!(g.key, KeyForm::Rowid | KeyForm::CompositePk);
    for (i, row) in g.rows.iter().enumerate() {
        let mut names = Vec::new();
        let mut values = Vec::new();
        if let (true, true, Some(alias)) = (rowid_form, g.gaps, rowid_alias(&source)) {
            names.push(alias.to_owned());
            values.push((3 * i + 2).to_string());
        }
        for (col, cell) in source.cols.iter().zip(row) {
            if col.references.is_some() || col.generated.is_some() {
                // `p` is set below, once the rows it points at exist; `g` is computed.
                continue;
            }
            // STRICT columns and the INTEGER PRIMARY KEY get values they can store; STRICT
            // columns no omitted ones (a DEFAULT may not fit the type).
            let cell = match (cell, source.strict) {
                (None, true) => Some(Val::Null),
                (c, _) => *c,
            };
            let fit = if col.pk_inline {
                Some(Ty::Integer)
            } else if source.strict {
                Some(col.ty)
            } else {
                None
            };
            if let Some(v) = cell {
                names.push(q(&col.name));
                values.push(fit.map_or(v, |t| v.fit(t)).sql());
            }
        }
        setup.push(if names.is_empty() {
            "INSERT OR IGNORE INTO t DEFAULT VALUES".to_owned()
        } else {
            format!(
                "INSERT OR IGNORE INTO t ({}) VALUES ({})",
                names.join(", "),
                values.join(", ")
            )
        });
    }
    if let (Some(n), Some(p)) = (
        g.self_ref,
        source.cols.iter().find(|c| c.references.is_some()),
    ) {
        let key = q(source.name_of(p.references.unwrap()));
        setup.push(format!(
            "UPDATE OR IGNORE t SET p = (SELECT min({key}) FROM t) WHERE {key} IN (SELECT {key} FROM t ORDER BY {key} DESC LIMIT {n})"
        ));
    }
    // A child referencing the table's key (or a UNIQUE column of a table without one).
    if let Some((named, typed, batches)) = &g.child {
        let key: Vec<String> = match g.key {
            KeyForm::IntegerPk { .. } => vec!["id".into()],
            KeyForm::Rowid => source
                .cols
                .iter()
                .find(|c| c.unique)
                .map(|c| vec![q(&c.name)])
                .unwrap_or_default(),
            _ => source.pk.iter().map(|&id| q(source.name_of(id))).collect(),
        };
        if !key.is_empty() {
            let refs: Vec<String> = (0..key.len()).map(|i| format!("k{i}")).collect();
            let parent = if *named || matches!(g.key, KeyForm::Rowid) {
                format!("t ({})", key.join(", "))
            } else {
                "t".to_owned()
            };
            let decl = if *typed { " TEXT" } else { "" };
            let defs: Vec<String> = refs.iter().map(|r| format!("{r}{decl}")).collect();
            setup.push(format!(
                "CREATE TABLE child (cid INTEGER PRIMARY KEY, {}, FOREIGN KEY ({}) REFERENCES {parent} ON DELETE CASCADE)",
                defs.join(", "),
                refs.join(", ")
            ));
            if !batches.is_empty() {
                setup.push("PRAGMA foreign_keys = OFF".into());
                for (j, &f) in batches.iter().enumerate() {
                    let keys: Vec<String> = key
                        .iter()
                        .map(|k| CHILD_KEYS[f as usize].replace("{k}", k))
                        .collect();
                    setup.push(format!(
                        "INSERT INTO child ({}) SELECT {} FROM t LIMIT 3 OFFSET {}",
                        refs.join(", "),
                        keys.join(", "),
                        2 * j
                    ));
                }
                setup.push(
                    "DELETE FROM child WHERE cid IN (SELECT rowid FROM pragma_foreign_key_check('child'))"
                        .into(),
                );
                setup.push("PRAGMA foreign_keys = ON".into());
            }
        }
    }

    let target = target_table(&source, &g.changes);
    let mut copy_into = Vec::new();
    let mut copy_from = Vec::new();
    let mut rowids_unreachable = false;
    if !target.without_rowid && !target.ipk() {
        match (rowid_alias(&source), rowid_alias(&target)) {
            (Some(from), Some(into)) if !source.without_rowid => {
                copy_into.push(into.to_owned());
                copy_from.push(format!("t.{from}"));
            }
            // Every name of the old rowid is a column: the procedure renumbers the rows.
            _ => rowids_unreachable = !source.without_rowid,
        }
    }
    let mut columns = Vec::new();
    let mut renames = Vec::new();
    let mut missing = Vec::new();
    for c in &target.cols {
        match &c.origin {
            // SQLite computes a generated column; renamed, it is a new one.
            _ if c.generated.is_some() => {}
            Some(o) => {
                copy_into.push(q(&c.name));
                copy_from.push(format!("t.{}", q(&c.name)));
                if *o != c.name {
                    // Always quoted, even where it need not be.
                    columns.push((c.name.clone(), format!("\"{}\"", o.replace('"', "\"\""))));
                    renames.push((o.clone(), c.name.clone()));
                }
            }
            None if c.not_null && c.default.is_none() => missing.push(c.name.clone()),
            None => {}
        }
    }
    let drops = source
        .cols
        .iter()
        .filter(|s| s.generated.is_none())
        .filter(|s| {
            !target
                .cols
                .iter()
                .any(|c| c.origin.as_ref() == Some(&s.name))
        })
        .map(|s| s.name.clone())
        .collect();
    // An FTS5 index over a column the target keeps by name, its content the table's rows.
    let mut full_text = None;
    if let Some(i) = &g.extras.full_text {
        let candidates: Vec<&Col> = source
            .cols
            .iter()
            .filter(|c| c.generated.is_none() && c.references.is_none() && !c.pk_inline)
            .filter(|c| c.name.chars().all(|ch| ch.is_ascii_alphanumeric()))
            .filter(|c| {
                target
                    .cols
                    .iter()
                    .any(|t| t.name == c.name && t.origin.as_ref() == Some(&c.name))
            })
            .collect();
        if !source.without_rowid
            && !target.without_rowid
            && g.extras.rowid_names == 0
            && !candidates.is_empty()
        {
            let c = &candidates[i.index(candidates.len())].name;
            setup.push(format!(
                "CREATE VIRTUAL TABLE ft USING fts5({c}, content='t', content_rowid='rowid')"
            ));
            setup.push("INSERT INTO ft (ft) VALUES ('rebuild')".to_owned());
            full_text = Some("ft".to_owned());
        }
    }
    // Tables of the same name elsewhere, last: unqualified, `t` now means the TEMP one.
    if g.extras.aux_t {
        setup.push("ATTACH ':memory:' AS aux".to_owned());
        setup.push("CREATE TABLE aux.t (x, y)".to_owned());
        setup.push("INSERT INTO aux.t VALUES (1, 'aux')".to_owned());
    }
    if g.extras.temp_t {
        setup.push("CREATE TEMP TABLE t (x, y)".to_owned());
        setup.push("INSERT INTO temp.t VALUES (2, 'temp')".to_owned());
    }
    let mut setup: String = setup.iter().map(|s| format!("{s};\n")).collect();
    setup.pop();
    Case {
        setup,
        target: target.create_sql(),
        columns,
        renames,
        copy_into,
        copy_from,
        autoincrement: target.autoincrement(),
        missing,
        drops,
        rowids_unreachable,
        full_text,
    }
}

pub(crate) fn target_table(source: &Table, changes: &[Change]) -> Table {
    let mut t = source.clone();
    let mut next_id = t.cols.len();
    for ch in changes {
        match ch {
            Change::Add(kind, ty) => {
                let (not_null, default) = match *kind {
                    Added::Nullable => (false, None),
                    Added::Default(d) => (false, Some(d)),
                    Added::NotNullDefault(d) => (true, Some(d)),
                    Added::NotNullNoDefault => (true, None),
                };
                let ty = if t.strict { ty.for_strict() } else { *ty };
                t.cols.push(Col {
                    origin: None,
                    not_null,
                    default,
                    ..Col::plain(next_id, format!("n{next_id}"), ty)
                });
                next_id += 1;
            }
            Change::Drop(i) => {
                let pk = t.pk.clone();
                let used: Vec<usize> = t
                    .cols
                    .iter()
                    .filter_map(|c| c.generated)
                    .map(|g| g.0)
                    .collect();
                let id = pick(&mut t.cols, i, |c| {
                    !c.pk_inline && !pk.contains(&c.id) && !used.contains(&c.id)
                })
                .map(|c| c.id);
                if let Some(id) = id {
                    t.cols.retain(|c| c.id != id);
                    // A realistic target drops the table CHECKs over the column too.
                    t.checks.retain(|&(_, a, b)| a != id && b != id);
                }
            }
            Change::Rename(i) => {
                if let Some(c) = pick(&mut t.cols, i, |_| true) {
                    c.name = format!("{}_r", c.name);
                }
            }
            Change::Retype(i, ty) => {
                let strict = t.strict;
                if let Some(c) = pick(&mut t.cols, i, |_| true) {
                    c.ty = if strict { ty.for_strict() } else { *ty };
                }
            }
            Change::SetCheck(i, check) => {
                if let Some(c) = pick(&mut t.cols, i, |_| true) {
                    c.check = *check;
                }
            }
            Change::SetNotNull(i, b) => {
                if let Some(c) = pick(&mut t.cols, i, |_| true) {
                    c.not_null = *b;
                }
            }
            Change::SetDefault(i, d) => {
                if let Some(c) = pick(&mut t.cols, i, |c| !c.pk_inline) {
                    c.default = *d;
                }
            }
            Change::ToggleUnique(i) => {
                if let Some(c) = pick(&mut t.cols, i, |_| true) {
                    c.unique = !c.unique;
                }
            }
            Change::ToggleNocase(i) => {
                if let Some(c) = pick(&mut t.cols, i, |_| true) {
                    c.nocase = !c.nocase;
                }
            }
            Change::ToggleForeign(i) => {
                if let Some(c) = pick(&mut t.cols, i, |_| true) {
                    c.foreign = !c.foreign;
                }
            }
            Change::TableCheck(None) => t.checks.clear(),
            Change::TableCheck(Some((tpl, a, b))) => {
                let n = t.cols.len();
                if n > 0 {
                    let (a, b) = (t.cols[a.index(n)].id, t.cols[b.index(n)].id);
                    t.checks.push((tpl, a, b));
                }
            }
            // Turned on over NUMERIC or untyped columns, the target does not compile.
            Change::ToggleStrict => t.strict = !t.strict,
            // AUTOINCREMENT on a column that is no rowid alias does not compile either.
            Change::ToggleAutoincrement => {
                if let Some(c) = t.cols.iter_mut().find(|c| c.pk_inline) {
                    c.autoincrement = !c.autoincrement;
                }
            }
            Change::ToggleDesc => {
                if let Some(c) = t.cols.iter_mut().find(|c| c.pk_inline) {
                    c.pk_desc = !c.pk_desc;
                }
            }
        }
    }
    t
}

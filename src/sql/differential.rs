//! Differential tests: the hand-written lexer and statement parsers against
//! `sqlite3-parser`, a port of SQLite's own tokenizer (`tokenize.c`) and grammar
//! (`parse.y`), on generated input. Token by token, the two must split text the same way;
//! statement by statement, they must find the same names, types, collations, defaults,
//! generated expressions, CHECKs and index terms (expressions compared as SQLite's grammar
//! reads them: each side's text parsed and rendered by the port).

use super::lex::{identifier_value, significant, tokenize, TokenKind};
use super::{parse_create_index, parse_create_table};
use proptest::prelude::*;
use proptest::test_runner::Config;
use sqlite3_parser::ast::{
    Cmd, ColumnConstraint, CreateTableBody, Expr, OneSelect, ResultColumn, SortOrder, Stmt,
    TableConstraint, TypeSize,
};
use sqlite3_parser::dialect::TokenType;
use sqlite3_parser::lexer::sql::{Parser, Tokenizer};
use sqlite3_parser::lexer::Scanner;
use sqlite3_parser::{Bump, FallibleIterator};

// ---------------------------------------------------------------------------------------
// Tokens

/// The port's significant tokens: (start, end, kind as the crate's lexer names it).
fn their_tokens(sql: &str) -> Result<Vec<(usize, usize, TokenKind)>, String> {
    let mut scanner = Scanner::new(Tokenizer::new());
    let mut out = Vec::new();
    loop {
        match scanner.scan(sql.as_bytes()) {
            Ok((start, Some((_, ty)), end)) => {
                out.push((start, end, kind_of(ty, &sql[start..end])))
            }
            Ok((_, None, _)) => return Ok(out),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn kind_of(ty: TokenType, text: &str) -> TokenKind {
    use TokenType::*;
    match ty {
        TK_STRING => TokenKind::String,
        TK_BLOB => TokenKind::Blob,
        TK_INTEGER | TK_FLOAT => TokenKind::Number,
        TK_VARIABLE => TokenKind::Variable,
        TK_LP => TokenKind::LParen,
        TK_RP => TokenKind::RParen,
        TK_COMMA => TokenKind::Comma,
        TK_SEMI => TokenKind::Semicolon,
        TK_DOT => TokenKind::Dot,
        _ if text.starts_with(['"', '`', '[']) => TokenKind::QuotedIdent,
        _ if text.starts_with(|c: char| c.is_alphabetic() || c == '_' || !c.is_ascii()) => {
            TokenKind::Word
        }
        _ => TokenKind::Operator,
    }
}

fn our_tokens(sql: &str) -> Result<Vec<(usize, usize, TokenKind)>, String> {
    let tokens = tokenize(sql).map_err(|e| e.to_string())?;
    Ok(significant(&tokens)
        .into_iter()
        .map(|t| (t.start, t.end, t.kind))
        .collect())
}

const WORDS: &[&str] = &[
    "a",
    "b1",
    "Col_x",
    "x$y",
    "_u",
    "é",
    "a\u{a0}b",
    "\u{a0}lead",
    "Ärger",
    "名前",
    "NULL",
    "CURRENT_TIMESTAMP",
    "select",
    "check",
];
const QUOTED: &[&str] = &[
    "\"a\"\"b\"",
    "\"sp ace\"",
    "`bq``x`",
    "[br acket]",
    "\"é\u{a0}\"",
    "\"\"",
    "[]",
    "\"--\"",
];
const STRINGS: &[&str] = &["'it''s'", "''", "'a;b--c/*'", "'\"'", "'é\u{a0}'", "'x\ny'"];
const NUMBERS: &[&str] = &[
    "0", "42", "3.14", ".5", "1e5", "2.5E-3", "0x1F", "1.5e+2", "7.",
];
const BLOBS: &[&str] = &["x'ab'", "X''", "x'00FF'"];
const VARIABLES: &[&str] = &["?", "?12", ":name", "@v", "$x", "#t", ":a$b"];
const PUNCTUATION: &[&str] = &[
    "(", ")", ",", ";", ".", "||", "->", "->>", "<>", "!=", "==", "=", "<=", ">=", "<<", ">>", "<",
    ">", "+", "-", "*", "/", "%", "&", "|", "~",
];
const SEPARATORS: &[&str] = &[
    " ",
    "\t",
    "\n",
    "\r\n",
    "\u{c}",
    "  ",
    "/* c */",
    "/**/",
    "-- c\n",
    "/* ) , ' \" */",
];

fn token() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        3 => proptest::sample::select(WORDS),
        2 => proptest::sample::select(QUOTED),
        2 => proptest::sample::select(STRINGS),
        2 => proptest::sample::select(NUMBERS),
        1 => proptest::sample::select(BLOBS),
        1 => proptest::sample::select(VARIABLES),
        3 => proptest::sample::select(PUNCTUATION),
    ]
}

/// Tokens joined by separators; brackets and commas may touch their neighbours.
fn token_soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (token(), proptest::sample::select(SEPARATORS), any::<bool>()),
        0..24,
    )
    .prop_map(|parts| {
        let mut out = String::new();
        let mut last = "";
        for (token, separator, touch) in parts {
            let loose = ["(", ")", ","];
            let may_touch = loose.contains(&token) || loose.contains(&last);
            let joined = touch && may_touch;
            if !out.is_empty() && !joined {
                out.push_str(separator);
            }
            out.push_str(token);
            last = token;
        }
        out
    })
}

// ---------------------------------------------------------------------------------------
// Statements

/// An identifier and how it is written.
#[derive(Debug, Clone)]
struct Ident {
    name: String,
    quote: u8,
}

impl Ident {
    fn sql(&self) -> String {
        match self.quote {
            0 => self.name.clone(),
            1 => format!("\"{}\"", self.name.replace('"', "\"\"")),
            2 => format!("`{}`", self.name.replace('`', "``")),
            _ => format!("[{}]", self.name),
        }
    }
}

/// Names that need no quotes (not keywords), and names that do.
const BARE_NAMES: &[&str] = &["id", "qty", "Name_2", "é", "a\u{a0}b", "名前", "x$"];
const QUOTED_NAMES: &[&str] = &[
    "select", "order", "sp ace", "it's", "a\"b", "(x)", "-- no", "ü ö",
];

fn ident() -> impl Strategy<Value = Ident> {
    prop_oneof![
        (proptest::sample::select(BARE_NAMES), 0..4u8).prop_map(|(n, q)| Ident {
            name: n.to_owned(),
            quote: q,
        }),
        (proptest::sample::select(QUOTED_NAMES), 1..4u8).prop_map(|(n, q)| Ident {
            name: n.to_owned(),
            // Brackets cannot hold `]`; backticks and double quotes double theirs.
            quote: q,
        }),
    ]
}

const TYPES: &[&str] = &[
    "",
    "INTEGER",
    "int",
    "TEXT",
    "REAL",
    "BLOB",
    "NUMERIC",
    "VARCHAR(10)",
    "DOUBLE PRECISION",
    "DECIMAL(10, 2)",
    "unsigned big int",
    "ANY",
];
/// Expressions, `{c}` standing for a column reference.
const EXPRS: &[&str] = &[
    "{c} > 0",
    "{c} IN ('a', 'b''c')",
    "length({c}) < 5",
    "{c} IS NOT NULL AND {c} <> ''",
    "CASE WHEN {c} THEN 1 ELSE -2.5 END",
    "({c} + 1) * 2 = 4",
    "{c} ->> '$.a' = 1",
    "coalesce({c}, x'00') != 0x1F",
    "{c} BETWEEN 1 AND 9",
    "{c} LIKE 'a%' ESCAPE '\\'",
    "typeof({c}) = 'text' COLLATE NOCASE",
];
const DEFAULTS: &[&str] = &[
    "0",
    "-1.5",
    "'x''y'",
    "NULL",
    "CURRENT_TIMESTAMP",
    "(1 + 2)",
    "x'ab'",
    "+3",
    "TRUE",
];

#[derive(Debug, Clone)]
enum Constraint {
    NotNull,
    Unique,
    Check(Option<Ident>, &'static str),
    Default(&'static str),
    Collate(Ident),
    References(Ident),
    Generated(&'static str, bool),
}

fn constraint() -> impl Strategy<Value = Constraint> {
    prop_oneof![
        Just(Constraint::NotNull),
        Just(Constraint::Unique),
        (
            proptest::option::of(ident()),
            proptest::sample::select(EXPRS)
        )
            .prop_map(|(n, e)| Constraint::Check(n, e)),
        proptest::sample::select(DEFAULTS).prop_map(Constraint::Default),
        ident().prop_map(Constraint::Collate),
        ident().prop_map(Constraint::References),
        (proptest::sample::select(EXPRS), any::<bool>())
            .prop_map(|(e, s)| Constraint::Generated(e, s)),
    ]
}

#[derive(Debug, Clone)]
struct Column {
    name: Ident,
    ty: &'static str,
    constraints: Vec<Constraint>,
}

#[derive(Debug, Clone)]
struct Table {
    temp: bool,
    schema: Option<Ident>,
    name: Ident,
    columns: Vec<Column>,
    checks: Vec<(Option<Ident>, &'static str)>,
    options: &'static str,
}

fn table() -> impl Strategy<Value = Table> {
    let column = (
        ident(),
        proptest::sample::select(TYPES),
        proptest::collection::vec(constraint(), 0..4),
    )
        .prop_map(|(name, ty, constraints)| Column {
            name,
            ty,
            constraints,
        });
    (
        any::<bool>(),
        proptest::option::of(ident()),
        ident(),
        proptest::collection::vec(column, 1..5),
        proptest::collection::vec(
            (
                proptest::option::of(ident()),
                proptest::sample::select(EXPRS),
            ),
            0..3,
        ),
        proptest::sample::select(&["", " STRICT", " WITHOUT ROWID", " STRICT, WITHOUT ROWID"][..]),
    )
        .prop_map(|(temp, schema, name, mut columns, checks, options)| {
            // Column names must differ (SQLite refuses duplicates; so does the port).
            let mut seen = Vec::new();
            for (i, c) in columns.iter_mut().enumerate() {
                if seen.contains(&c.name.name.to_lowercase()) {
                    c.name = Ident {
                        name: format!("c{i}"),
                        quote: 0,
                    };
                }
                seen.push(c.name.name.to_lowercase());
            }
            // A generated column cannot have a DEFAULT: keep the first of the two.
            for c in &mut columns {
                let mut kinds = Vec::new();
                c.constraints.retain(|k| {
                    let kind = match k {
                        Constraint::Default(_) | Constraint::Generated(..) => "value",
                        Constraint::Collate(_) => "collate",
                        _ => return true,
                    };
                    let first = !kinds.contains(&kind);
                    kinds.push(kind);
                    first
                });
            }
            Table {
                temp,
                schema,
                name,
                columns,
                checks,
                options,
            }
        })
}

/// Writes `parts` with random-looking but deterministic whitespace and comments.
fn spaced(parts: &[String], seed: usize) -> String {
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(SEPARATORS[(seed + i * 7) % SEPARATORS.len()]);
        }
        out.push_str(p);
    }
    out
}

fn expr(template: &str, column: &Ident) -> String {
    template.replace("{c}", &column.sql())
}

impl Table {
    fn sql(&self, seed: usize) -> String {
        let mut defs = Vec::new();
        for c in &self.columns {
            let mut parts = vec![c.name.sql()];
            if !c.ty.is_empty() {
                parts.push(c.ty.to_owned());
            }
            for k in &c.constraints {
                parts.push(match k {
                    Constraint::NotNull => "NOT NULL".to_owned(),
                    Constraint::Unique => "UNIQUE".to_owned(),
                    Constraint::Check(None, e) => format!("CHECK ({})", expr(e, &c.name)),
                    Constraint::Check(Some(n), e) => {
                        format!("CONSTRAINT {} CHECK ({})", n.sql(), expr(e, &c.name))
                    }
                    Constraint::Default(d) => format!("DEFAULT {d}"),
                    Constraint::Collate(n) => format!("COLLATE {}", n.sql()),
                    Constraint::References(t) => {
                        format!("REFERENCES {} ON DELETE SET NULL NOT DEFERRABLE", t.sql())
                    }
                    Constraint::Generated(e, stored) => format!(
                        "GENERATED ALWAYS AS ({}){}",
                        expr(e, &self.columns[0].name),
                        if *stored { " STORED" } else { "" }
                    ),
                });
            }
            defs.push(spaced(&parts, seed));
        }
        for (name, e) in &self.checks {
            let check = format!("CHECK ({})", expr(e, &self.columns[0].name));
            defs.push(match name {
                Some(n) => format!("CONSTRAINT {} {check}", n.sql()),
                None => check,
            });
        }
        let name = match &self.schema {
            Some(s) if !self.temp => format!("{}.{}", s.sql(), self.name.sql()),
            _ => self.name.sql(),
        };
        let head = if self.temp {
            "CREATE TEMP TABLE"
        } else {
            "CREATE TABLE"
        };
        format!("{head} {name} ({}){}", defs.join(", "), self.options)
    }
}

/// Parses `SELECT <expr>` with the port and renders the expression as it reads it.
fn rendered(expr_sql: &str) -> String {
    let bump = Bump::new();
    let sql = format!("SELECT {expr_sql}");
    let mut parser = Parser::new(&bump, sql.as_bytes());
    let text = match parser.next() {
        Ok(Some(Cmd::Stmt(Stmt::Select(select)))) => match &select.body.select {
            OneSelect::Select { columns, .. } => match columns {
                [ResultColumn::Expr(e, _)] => e.to_string(),
                other => format!("not one expression: {other:?}"),
            },
            other => format!("not a select: {other:?}"),
        },
        other => format!("does not parse: {other:?}"),
    };
    text
}

fn unquoted(raw: &str) -> String {
    identifier_value(raw)
}

/// A column as both sides report it: name, type, collation, DEFAULT expression, generated
/// expression.
type FoundColumn = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// What the port finds in a `CREATE TABLE`, in the crate's terms.
#[derive(Debug, PartialEq)]
struct Found {
    temp: bool,
    schema: Option<String>,
    name: String,
    columns: Vec<FoundColumn>,
    /// (constraint name, expression, column)
    checks: Vec<(Option<String>, String, Option<String>)>,
}

fn theirs(sql: &str) -> Result<Found, String> {
    let bump = Bump::new();
    let mut parser = Parser::new(&bump, sql.as_bytes());
    let cmd = parser.next().map_err(|e| e.to_string())?;
    let Some(Cmd::Stmt(Stmt::CreateTable {
        temporary,
        tbl_name,
        body,
        ..
    })) = cmd
    else {
        return Err(format!("not a CREATE TABLE: {cmd:?}"));
    };
    let CreateTableBody::ColumnsAndConstraints {
        columns,
        constraints,
        ..
    } = body
    else {
        return Err("AS SELECT".into());
    };
    let mut found = Found {
        temp: temporary,
        schema: tbl_name.db_name.as_ref().map(|n| unquoted(n.0)),
        name: unquoted(tbl_name.name.0),
        columns: Vec::new(),
        checks: Vec::new(),
    };
    let expr_text = |e: &Expr| e.to_string();
    for c in columns.iter() {
        let name = unquoted(c.col_name.0);
        let ty = match &c.col_type {
            None => String::new(),
            Some(t) => match &t.size {
                None => t.name.to_owned(),
                Some(TypeSize::MaxSize(a)) => format!("{}({a})", t.name),
                Some(TypeSize::TypeSize(a, b)) => format!("{}({a}, {b})", t.name),
            },
        };
        let (mut collation, mut default, mut generated) = (None, None, None);
        for k in c.constraints {
            match &k.constraint {
                ColumnConstraint::Collate { collation_name } => {
                    collation = Some(unquoted(collation_name.0))
                }
                ColumnConstraint::Default(e) => default = Some(expr_text(e)),
                ColumnConstraint::Generated { expr, .. } => generated = Some(expr_text(expr)),
                ColumnConstraint::Check(e) => found.checks.push((
                    k.name.as_ref().map(|n| unquoted(n.0)),
                    expr_text(e),
                    Some(name.clone()),
                )),
                _ => {}
            }
        }
        found
            .columns
            .push((name, ty, collation, default, generated));
    }
    for k in constraints.into_iter().flatten() {
        if let TableConstraint::Check(e, _) = &k.constraint {
            found
                .checks
                .push((k.name.as_ref().map(|n| unquoted(n.0)), expr_text(e), None));
        }
    }
    Ok(found)
}

/// What the crate's parser finds, with every expression rendered by the port.
fn ours(sql: &str) -> Result<Found, String> {
    let t = parse_create_table(sql).map_err(|e| e.to_string())?;
    // DEFAULT text keeps its keyword; a generated column's, `GENERATED ALWAYS AS (...)`.
    let default_expr = |d: &str| rendered(d.trim_start_matches(|c: char| c.is_alphabetic()).trim());
    let generated_expr = |g: &str| {
        let open = g.find('(').unwrap_or(0);
        let close = g.rfind(')').unwrap_or(g.len());
        rendered(&g[open..=close.min(g.len() - 1)])
    };
    let mut checks: Vec<(Option<String>, String, Option<String>)> = t
        .checks
        .iter()
        .map(|c| (c.name.clone(), rendered(&c.expr), c.column.clone()))
        .collect();
    // The port lists column checks column by column, then the table's.
    checks.sort_by_key(|c| c.2.is_none());
    Ok(Found {
        temp: t.temp,
        schema: t.schema,
        name: t.name,
        columns: t
            .columns
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    c.type_text.split_whitespace().collect::<Vec<_>>().join(" "),
                    c.collation.clone(),
                    c.default_clause.as_deref().map(default_expr),
                    c.generated_clause.as_deref().map(generated_expr),
                )
            })
            .collect(),
        checks,
    })
}

/// Strips the parentheses the port keeps around a parenthesized expression.
fn normalize(mut found: Found) -> Found {
    let bare = |s: &mut String| {
        while s.starts_with('(')
            && s.ends_with(')')
            && rendered(&s[1..s.len() - 1]) == s[1..s.len() - 1]
        {
            *s = s[1..s.len() - 1].to_owned();
        }
    };
    for c in &mut found.columns {
        if let Some(d) = &mut c.3 {
            bare(d);
        }
        if let Some(g) = &mut c.4 {
            bare(g);
        }
    }
    found
}

proptest! {
    #![proptest_config(Config { failure_persistence: None, ..Config::default() })]

    #[test]
    fn tokens_split_as_sqlite_splits_them(sql in token_soup()) {
        let theirs = their_tokens(&sql);
        let ours = our_tokens(&sql);
        match (ours, theirs) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{:?}", sql),
            (Err(_), Err(_)) => {}
            (a, b) => prop_assert!(false, "{:?}: ours {:?}, SQLite's {:?}", sql, a, b),
        }
    }

    #[test]
    fn create_table_reads_as_sqlites_grammar_reads_it(t in table(), seed in 0..64usize) {
        let sql = t.sql(seed);
        let theirs = theirs(&sql).map(normalize);
        let ours = ours(&sql).map(normalize);
        prop_assert!(theirs.is_ok(), "the port refuses {:?}: {:?}", sql, theirs);
        prop_assert_eq!(ours, theirs, "{:?}", sql);
    }

    #[test]
    fn create_index_reads_as_sqlites_grammar_reads_it(
        unique in any::<bool>(),
        name in ident(),
        table in ident(),
        terms in proptest::collection::vec(
            (prop_oneof![ident().prop_map(|i| i.sql()), proptest::sample::select(EXPRS).prop_map(|e| format!("({})", e.replace("{c}", "x")))],
             proptest::option::of(ident()), 0..3u8),
            1..4),
        filter in proptest::option::of(proptest::sample::select(EXPRS)),
        seed in 0..64usize,
    ) {
        let term_sql: Vec<String> = terms
            .iter()
            .map(|(e, coll, order)| {
                let mut parts = vec![e.clone()];
                if let Some(c) = coll {
                    parts.push(format!("COLLATE {}", c.sql()));
                }
                parts.extend(["", "ASC", "DESC"][*order as usize..=*order as usize].iter().filter(|s| !s.is_empty()).map(|s| s.to_string()));
                spaced(&parts, seed)
            })
            .collect();
        let sql = format!(
            "CREATE {}INDEX {} ON {} ({}){}",
            if unique { "UNIQUE " } else { "" },
            name.sql(),
            table.sql(),
            term_sql.join(", "),
            filter.map(|f| format!(" WHERE {}", f.replace("{c}", "x"))).unwrap_or_default()
        );
        let bump = Bump::new();
        let mut parser = Parser::new(&bump, sql.as_bytes());
        let cmd = parser.next();
        let Ok(Some(Cmd::Stmt(Stmt::CreateIndex { unique: u, idx_name, tbl_name, columns, where_clause, .. }))) = cmd else {
            return Err(TestCaseError::fail(format!("the port refuses {sql:?}: {cmd:?}")));
        };
        let ix = parse_create_index(&sql).map_err(|e| TestCaseError::fail(format!("{sql:?}: {e}")))?;
        prop_assert_eq!(ix.unique, u);
        prop_assert_eq!(&ix.name, &unquoted(idx_name.name.0));
        prop_assert_eq!(&ix.table, &unquoted(tbl_name.0));
        prop_assert_eq!(ix.terms.len(), columns.len(), "{:?}", sql);
        for (ours, theirs) in ix.terms.iter().zip(columns.iter()) {
            // The port reads a term's COLLATE as part of its expression.
            let (theirs_expr, theirs_collation) = match &theirs.expr {
                Expr::Collate(inner, name) => (inner.to_string(), Some(unquoted(name))),
                other => (other.to_string(), None),
            };
            prop_assert_eq!(rendered(&ours.expr), rendered(&theirs_expr), "{:?}", sql);
            prop_assert_eq!(&ours.collation, &theirs_collation, "{:?}", sql);
            prop_assert_eq!(ours.descending, theirs.order == Some(SortOrder::Desc), "{:?}", sql);
        }
        prop_assert_eq!(
            ix.where_clause.as_deref().map(rendered),
            where_clause.map(|w| rendered(&w.to_string())),
            "{:?}", sql
        );
    }
}

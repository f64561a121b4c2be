//! Lexing of SQL text: statement boundaries, names, and the clauses SQLite exposes through
//! no PRAGMA (CHECK constraints, per-column COLLATE / DEFAULT / GENERATED, index terms).
//! Nothing here evaluates SQL, and nothing panics on any input.

use std::fmt;

/// Kinds of token, following SQLite's tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Space,
    Comment,
    Word,
    QuotedIdent,
    String,
    Blob,
    Number,
    Variable,
    Semicolon,
    LParen,
    RParen,
    Comma,
    Dot,
    Operator,
}

/// A token: its kind and byte range in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
}

/// SQL text this module cannot understand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqlError(pub String);

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, SqlError> {
    Err(SqlError(msg.into()))
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || !c.is_ascii()
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()
}

/// Splits `sql` into tokens.
pub(crate) fn tokenize(sql: &str) -> Result<Vec<Token>, SqlError> {
    let chars: Vec<(usize, char)> = sql.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|c| c.1);
    let pos = |i: usize| chars.get(i).map_or(sql.len(), |c| c.0);
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        let start = i;
        let kind = if c.is_whitespace() {
            while at(i).is_some_and(char::is_whitespace) {
                i += 1;
            }
            TokenKind::Space
        } else if c == '-' && at(i + 1) == Some('-') {
            while at(i).is_some_and(|c| c != '\n') {
                i += 1;
            }
            TokenKind::Comment
        } else if c == '/' && at(i + 1) == Some('*') {
            i += 2;
            while at(i).is_some() && !(at(i) == Some('*') && at(i + 1) == Some('/')) {
                i += 1;
            }
            i = (i + 2).min(chars.len());
            TokenKind::Comment
        } else if (c == 'x' || c == 'X') && at(i + 1) == Some('\'') {
            i += 2;
            while at(i).is_some_and(|c| c != '\'') {
                i += 1;
            }
            if at(i).is_none() {
                return err(format!(
                    "unterminated blob literal starting at byte {}",
                    pos(start)
                ));
            }
            i += 1;
            TokenKind::Blob
        } else if is_word_start(c) {
            while at(i).is_some_and(is_word_char) {
                i += 1;
            }
            TokenKind::Word
        } else if c == '\'' || c == '"' || c == '`' || c == '[' {
            let close = if c == '[' { ']' } else { c };
            i += 1;
            loop {
                match at(i) {
                    None => {
                        return err(format!(
                            "unterminated quoted text starting at byte {}",
                            pos(start)
                        ))
                    }
                    Some(x) if x == close => {
                        if close != ']' && at(i + 1) == Some(close) {
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(_) => i += 1,
                }
            }
            if c == '\'' {
                TokenKind::String
            } else {
                TokenKind::QuotedIdent
            }
        } else if c.is_ascii_digit() || (c == '.' && at(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            i += 1;
            while let Some(d) = at(i) {
                let exp_sign = (d == '+' || d == '-') && matches!(at(i - 1), Some('e' | 'E'));
                if d.is_ascii_alphanumeric() || d == '.' || d == '_' || exp_sign {
                    i += 1;
                } else {
                    break;
                }
            }
            TokenKind::Number
        } else if c == '?' || c == ':' || c == '@' || c == '$' {
            i += 1;
            while at(i).is_some_and(is_word_char) {
                i += 1;
            }
            TokenKind::Variable
        } else {
            i += 1;
            match c {
                ';' => TokenKind::Semicolon,
                '(' => TokenKind::LParen,
                ')' => TokenKind::RParen,
                ',' => TokenKind::Comma,
                '.' => TokenKind::Dot,
                '|' | '<' | '>' | '=' | '!' | '+' | '-' | '*' | '/' | '%' | '&' | '~' => {
                    if matches!(
                        (c, at(i)),
                        ('|', Some('|'))
                            | ('<', Some('>' | '=' | '<'))
                            | ('>', Some('=' | '>'))
                            | ('=', Some('='))
                            | ('!', Some('='))
                    ) {
                        i += 1;
                    }
                    TokenKind::Operator
                }
                other => {
                    return err(format!(
                        "unexpected character {other:?} at byte {}",
                        pos(start)
                    ))
                }
            }
        };
        out.push(Token {
            kind,
            start: pos(start),
            end: pos(i),
        });
    }
    Ok(out)
}

/// The name an identifier token denotes, without quotes.
pub(crate) fn identifier_value(text: &str) -> String {
    let mut cs = text.chars();
    match (cs.next(), text.chars().last()) {
        (Some('"'), Some('"')) if text.len() >= 2 => text[1..text.len() - 1].replace("\"\"", "\""),
        (Some('`'), Some('`')) if text.len() >= 2 => text[1..text.len() - 1].replace("``", "`"),
        (Some('\''), Some('\'')) if text.len() >= 2 => text[1..text.len() - 1].replace("''", "'"),
        (Some('['), Some(']')) if text.len() >= 2 => text[1..text.len() - 1].to_owned(),
        _ => text.to_owned(),
    }
}

fn significant(tokens: &[Token]) -> Vec<Token> {
    tokens
        .iter()
        .copied()
        .filter(|t| !matches!(t.kind, TokenKind::Space | TokenKind::Comment))
        .collect()
}

/// Ok when `sql` holds exactly one statement (an optional final `;` and comments allowed).
/// The column an expression names when it is nothing but a (possibly quoted) name: `code`,
/// `"code"`, `[code]`. Literal keywords (`NULL`, `TRUE`, `CURRENT_TIME`, ...) are not names.
pub(crate) fn column_name(expr: &str) -> Option<String> {
    let tokens = tokenize(expr).ok()?;
    let [token] = significant(&tokens)[..] else {
        return None;
    };
    let text = expr.get(token.start..token.end)?;
    match token.kind {
        TokenKind::QuotedIdent => Some(identifier_value(text)),
        TokenKind::Word => {
            const LITERALS: [&str; 6] = [
                "NULL",
                "TRUE",
                "FALSE",
                "CURRENT_TIME",
                "CURRENT_DATE",
                "CURRENT_TIMESTAMP",
            ];
            (!LITERALS.iter().any(|l| l.eq_ignore_ascii_case(text))).then(|| text.to_owned())
        }
        _ => None,
    }
}

/// The module name and the top-level arguments (as written) of a `CREATE VIRTUAL TABLE`.
pub(crate) fn virtual_table_args(sql: &str) -> Option<(String, Vec<String>)> {
    let tokens = tokenize(sql).ok()?;
    let toks = significant(&tokens);
    let using = toks.iter().position(|t| {
        t.kind == TokenKind::Word && sql[t.start..t.end].eq_ignore_ascii_case("USING")
    })?;
    let module = toks.get(using + 1)?;
    let module = identifier_value(&sql[module.start..module.end]);
    let open = toks
        .get(using + 2)
        .filter(|t| t.kind == TokenKind::LParen)?;
    let (mut depth, mut start, mut args) = (0usize, open.end, Vec::new());
    for t in &toks[using + 3..] {
        match t.kind {
            TokenKind::LParen => depth += 1,
            TokenKind::RParen if depth == 0 => {
                args.push(sql[start..t.start].trim().to_owned());
                return Some((module, args));
            }
            TokenKind::RParen => depth -= 1,
            TokenKind::Comma if depth == 0 => {
                args.push(sql[start..t.start].trim().to_owned());
                start = t.end;
            }
            _ => {}
        }
    }
    None
}

/// The value of a `'text'` literal, or of a possibly quoted name.
pub(crate) fn literal_or_name(text: &str) -> String {
    let text = text.trim();
    match text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        Some(inner) => inner.replace("''", "'"),
        None => identifier_value(text),
    }
}

pub(crate) fn single_statement(sql: &str) -> Result<(), SqlError> {
    let toks = significant(&tokenize(sql)?);
    if toks.is_empty() {
        return err("the statement is empty");
    }
    for (i, t) in toks.iter().enumerate() {
        if t.kind == TokenKind::Semicolon && i + 1 < toks.len() {
            return err(format!(
                "more than one statement (the second starts at byte {})",
                toks[i + 1].start
            ));
        }
    }
    if toks.len() == 1 && toks[0].kind == TokenKind::Semicolon {
        return err("the statement is empty");
    }
    Ok(())
}

/// Ok when `expr` is one expression that can be spliced into a SELECT list.
pub(crate) fn single_expression(expr: &str) -> Result<(), SqlError> {
    let toks = significant(&tokenize(expr)?);
    if toks.is_empty() {
        return err("the expression is empty");
    }
    let mut depth = 0i32;
    for t in &toks {
        match t.kind {
            TokenKind::Semicolon => {
                return err(format!(
                    "';' at byte {}: only one expression is allowed",
                    t.start
                ))
            }
            TokenKind::LParen => depth += 1,
            TokenKind::RParen => {
                depth -= 1;
                if depth < 0 {
                    return err(format!("unbalanced ')' at byte {}", t.start));
                }
            }
            TokenKind::Comma if depth == 0 => {
                return err(format!(
                    "',' at byte {}: only one expression is allowed",
                    t.start
                ))
            }
            _ => {}
        }
    }
    if depth != 0 {
        return err("unbalanced '('");
    }
    // A trailing `-- comment` would swallow what the caller appends after the expression.
    if tokenize(expr)?
        .iter()
        .any(|t| t.kind == TokenKind::Comment && expr[t.start..t.end].starts_with("--"))
    {
        return err("'--' comments are not allowed in an expression");
    }
    Ok(())
}

/// Whether any identifier in `sql` denotes `name` (ASCII case-insensitive).
pub(crate) fn mentions_identifier(sql: &str, name: &str) -> bool {
    match tokenize(sql) {
        Ok(toks) => toks.iter().any(|t| {
            matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent)
                && identifier_value(&sql[t.start..t.end]).eq_ignore_ascii_case(name)
        }),
        Err(_) => true,
    }
}

/// Replaces the byte range `span` of `sql` with `replacement`.
pub(crate) fn replace_span(sql: &str, span: (usize, usize), replacement: &str) -> String {
    match (sql.get(..span.0), sql.get(span.1..)) {
        (Some(a), Some(b)) => format!("{a}{replacement}{b}"),
        _ => sql.to_owned(),
    }
}

/// A parsed `CREATE TABLE` statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CreateTable {
    pub temp: bool,
    pub if_not_exists: bool,
    pub schema: Option<String>,
    pub name: String,
    pub name_span: (usize, usize),
    pub columns: Vec<ColumnDef>,
    pub checks: Vec<CheckDef>,
    pub strict: bool,
    pub without_rowid: bool,
}

/// One column definition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ColumnDef {
    pub name: String,
    pub type_text: String,
    pub collation: Option<String>,
    pub default_clause: Option<String>,
    pub generated_clause: Option<String>,
}

/// A CHECK constraint.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CheckDef {
    pub name: Option<String>,
    pub expr: String,
    pub column: Option<String>,
}

struct Cursor<'a> {
    sql: &'a str,
    toks: Vec<Token>,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn text(&self, t: Token) -> &'a str {
        &self.sql[t.start..t.end]
    }
    fn peek(&self) -> Option<Token> {
        self.toks.get(self.i).copied()
    }
    fn is_kw(&self, t: Option<Token>, kw: &str) -> bool {
        t.is_some_and(|t| t.kind == TokenKind::Word && self.text(t).eq_ignore_ascii_case(kw))
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(self.peek(), kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect_kw(&mut self, kw: &str, what: &str) -> Result<(), SqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            err(format!("not a {what} statement (expected {kw})"))
        }
    }
    fn name(&mut self) -> Result<Token, SqlError> {
        match self.peek() {
            Some(t)
                if matches!(
                    t.kind,
                    TokenKind::Word | TokenKind::QuotedIdent | TokenKind::String
                ) =>
            {
                self.i += 1;
                Ok(t)
            }
            _ => err("expected a name"),
        }
    }
    /// `[schema.]name`: (schema, name, span).
    #[allow(clippy::type_complexity)]
    fn qualified_name(&mut self) -> Result<(Option<String>, String, (usize, usize)), SqlError> {
        let first = self.name()?;
        if self.peek().is_some_and(|t| t.kind == TokenKind::Dot) {
            self.i += 1;
            let second = self.name()?;
            Ok((
                Some(identifier_value(self.text(first))),
                identifier_value(self.text(second)),
                (first.start, second.end),
            ))
        } else {
            Ok((
                None,
                identifier_value(self.text(first)),
                (first.start, first.end),
            ))
        }
    }
    /// Index of the matching `)` for the `(` at `open`.
    fn matching(&self, open: usize) -> Result<usize, SqlError> {
        let mut depth = 0;
        for (j, t) in self.toks.iter().enumerate().skip(open) {
            match t.kind {
                TokenKind::LParen => depth += 1,
                TokenKind::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(j);
                    }
                }
                _ => {}
            }
        }
        err("unbalanced parentheses")
    }
    fn slice(&self, from: usize, to_exclusive: usize) -> String {
        match (
            self.toks.get(from),
            to_exclusive.checked_sub(1).and_then(|k| self.toks.get(k)),
        ) {
            (Some(a), Some(b)) if to_exclusive > from => self.sql[a.start..b.end].trim().to_owned(),
            _ => String::new(),
        }
    }
}

/// Splits token range `[from, to)` at depth-0 commas.
fn split_commas(c: &Cursor<'_>, from: usize, to: usize) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, from);
    for j in from..to {
        match c.toks[j].kind {
            TokenKind::LParen => depth += 1,
            TokenKind::RParen => depth -= 1,
            TokenKind::Comma if depth == 0 => {
                parts.push((start, j));
                start = j + 1;
            }
            _ => {}
        }
    }
    parts.push((start, to));
    parts
}

const COLUMN_CONSTRAINT_WORDS: [&str; 11] = [
    "CONSTRAINT",
    "PRIMARY",
    "NOT",
    "NULL",
    "UNIQUE",
    "CHECK",
    "DEFAULT",
    "COLLATE",
    "REFERENCES",
    "GENERATED",
    "AS",
];

/// Parses a `CREATE TABLE` statement.
pub(crate) fn parse_create_table(sql: &str) -> Result<CreateTable, SqlError> {
    let mut c = Cursor {
        sql,
        toks: significant(&tokenize(sql)?),
        i: 0,
    };
    c.expect_kw("CREATE", "CREATE TABLE")?;
    let temp = c.eat_kw("TEMP") || c.eat_kw("TEMPORARY");
    c.expect_kw("TABLE", "CREATE TABLE")?;
    let mut if_not_exists = false;
    if c.is_kw(c.peek(), "IF") {
        c.i += 1;
        c.expect_kw("NOT", "CREATE TABLE")?;
        c.expect_kw("EXISTS", "CREATE TABLE")?;
        if_not_exists = true;
    }
    let (schema, name, name_span) = c.qualified_name()?;
    if c.is_kw(c.peek(), "AS") {
        return err("CREATE TABLE ... AS SELECT declares no constraints; write the columns out");
    }
    if c.peek().map(|t| t.kind) != Some(TokenKind::LParen) {
        return err("expected '(' after the table name");
    }
    let open = c.i;
    let close = c.matching(open)?;
    let mut table = CreateTable {
        temp,
        if_not_exists,
        schema,
        name,
        name_span,
        columns: Vec::new(),
        checks: Vec::new(),
        strict: false,
        without_rowid: false,
    };
    for (from, to) in split_commas(&c, open + 1, close) {
        if from >= to {
            return err("empty definition in the column list");
        }
        let mut j = from;
        let mut cname = None;
        if c.is_kw(c.toks.get(j).copied(), "CONSTRAINT") {
            cname = c.toks.get(j + 1).map(|t| identifier_value(c.text(*t)));
            j += 2;
        }
        let head = c.toks.get(j).copied();
        if ["PRIMARY", "UNIQUE", "FOREIGN"]
            .iter()
            .any(|k| c.is_kw(head, k))
            || (cname.is_some() && j >= to)
        {
            continue;
        }
        if c.is_kw(head, "CHECK") {
            let open = j + 1;
            let close = c.matching(open)?;
            table.checks.push(CheckDef {
                name: cname,
                expr: c.slice(open + 1, close),
                column: None,
            });
            continue;
        }
        parse_column(&c, from, to, &mut table)?;
    }
    let mut k = close + 1;
    while let Some(t) = c.toks.get(k).copied() {
        if c.is_kw(Some(t), "STRICT") {
            table.strict = true;
        } else if c.is_kw(Some(t), "WITHOUT") && c.is_kw(c.toks.get(k + 1).copied(), "ROWID") {
            table.without_rowid = true;
            k += 1;
        } else if !matches!(t.kind, TokenKind::Comma | TokenKind::Semicolon) {
            return err(format!(
                "unexpected text after the column list at byte {}",
                t.start
            ));
        }
        k += 1;
    }
    Ok(table)
}

fn parse_column(
    c: &Cursor<'_>,
    from: usize,
    to: usize,
    table: &mut CreateTable,
) -> Result<(), SqlError> {
    let name_tok = c.toks[from];
    if !matches!(
        name_tok.kind,
        TokenKind::Word | TokenKind::QuotedIdent | TokenKind::String
    ) {
        return err(format!("expected a column name at byte {}", name_tok.start));
    }
    let name = identifier_value(c.text(name_tok));
    let is_constraint_word = |j: usize| {
        let t = c.toks[j];
        t.kind == TokenKind::Word
            && COLUMN_CONSTRAINT_WORDS
                .iter()
                .any(|w| c.text(t).eq_ignore_ascii_case(w))
    };
    // Type name: up to the first constraint word at depth 0.
    let mut j = from + 1;
    let mut depth = 0;
    while j < to {
        match c.toks[j].kind {
            TokenKind::LParen => depth += 1,
            TokenKind::RParen => depth -= 1,
            _ if depth == 0 && is_constraint_word(j) => break,
            _ => {}
        }
        j += 1;
    }
    let mut col = ColumnDef {
        name: name.clone(),
        type_text: c.slice(from + 1, j),
        collation: None,
        default_clause: None,
        generated_clause: None,
    };
    // Constraints: each runs to the next constraint word at depth 0, except words that
    // belong to a REFERENCES clause (SET NULL, SET DEFAULT, NOT DEFERRABLE).
    let mut cname: Option<String> = None;
    while j < to {
        let start = j;
        let kw = c.text(c.toks[j]).to_ascii_uppercase();
        if kw == "CONSTRAINT" {
            cname = c.toks.get(j + 1).map(|t| identifier_value(c.text(*t)));
            j += 2;
            continue;
        }
        j += 1;
        if kw == "NOT" {
            j += 1; // NULL
        }
        let mut depth = 0;
        while j < to {
            let t = c.toks[j];
            match t.kind {
                TokenKind::LParen => depth += 1,
                TokenKind::RParen => depth -= 1,
                _ => {}
            }
            if depth == 0 && t.kind == TokenKind::Word && is_constraint_word(j) {
                let prev = c.text(c.toks[j - 1]);
                let word = c.text(t);
                let in_references = kw == "REFERENCES"
                    && (prev.eq_ignore_ascii_case("SET")
                        || (word.eq_ignore_ascii_case("NOT")
                            && c.is_kw(c.toks.get(j + 1).copied(), "DEFERRABLE")));
                let generated_as = kw == "GENERATED" && word.eq_ignore_ascii_case("AS");
                let default_value = kw == "DEFAULT" && j == start + 1;
                if !in_references && !generated_as && !default_value {
                    break;
                }
            }
            j += 1;
        }
        let text = c.slice(start, j);
        match kw.as_str() {
            "CHECK" => {
                let open = start + 1;
                let close = c.matching(open)?;
                table.checks.push(CheckDef {
                    name: cname.take(),
                    expr: c.slice(open + 1, close),
                    column: Some(name.clone()),
                });
            }
            "COLLATE" => {
                col.collation = c.toks.get(start + 1).map(|t| identifier_value(c.text(*t)))
            }
            "DEFAULT" => col.default_clause = Some(text),
            "GENERATED" | "AS" => col.generated_clause = Some(text),
            _ => {}
        }
        cname = None;
    }
    table.columns.push(col);
    Ok(())
}

/// A parsed `CREATE INDEX` statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CreateIndex {
    pub unique: bool,
    pub name: String,
    pub name_span: (usize, usize),
    pub table: String,
    pub table_span: (usize, usize),
    pub terms: Vec<IndexTerm>,
    pub where_clause: Option<String>,
}

/// One indexed term.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IndexTerm {
    pub expr: String,
    pub collation: Option<String>,
    pub descending: bool,
}

/// Parses a `CREATE INDEX` statement.
pub(crate) fn parse_create_index(sql: &str) -> Result<CreateIndex, SqlError> {
    let mut c = Cursor {
        sql,
        toks: significant(&tokenize(sql)?),
        i: 0,
    };
    c.expect_kw("CREATE", "CREATE INDEX")?;
    let unique = c.eat_kw("UNIQUE");
    c.expect_kw("INDEX", "CREATE INDEX")?;
    if c.eat_kw("IF") {
        c.expect_kw("NOT", "CREATE INDEX")?;
        c.expect_kw("EXISTS", "CREATE INDEX")?;
    }
    let (_, name, name_span) = c.qualified_name()?;
    c.expect_kw("ON", "CREATE INDEX")?;
    let (_, table, table_span) = c.qualified_name()?;
    let open = c.i;
    if c.peek().map(|t| t.kind) != Some(TokenKind::LParen) {
        return err("expected '(' after the table name");
    }
    let close = c.matching(open)?;
    let mut terms = Vec::new();
    for (from, to) in split_commas(&c, open + 1, close) {
        let mut end = to;
        let mut descending = false;
        let mut collation = None;
        if end > from
            && (c.is_kw(c.toks.get(end - 1).copied(), "DESC")
                || c.is_kw(c.toks.get(end - 1).copied(), "ASC"))
        {
            descending = c.is_kw(c.toks.get(end - 1).copied(), "DESC");
            end -= 1;
        }
        if end >= from + 2 && c.is_kw(c.toks.get(end - 2).copied(), "COLLATE") {
            collation = c.toks.get(end - 1).map(|t| identifier_value(c.text(*t)));
            end -= 2;
        }
        terms.push(IndexTerm {
            expr: c.slice(from, end),
            collation,
            descending,
        });
    }
    c.i = close + 1;
    let where_clause = if c.eat_kw("WHERE") {
        let mut end = c.toks.len();
        if c.toks
            .last()
            .is_some_and(|t| t.kind == TokenKind::Semicolon)
        {
            end -= 1;
        }
        Some(c.slice(c.i, end))
    } else {
        None
    };
    Ok(CreateIndex {
        unique,
        name,
        name_span,
        table,
        table_span,
        terms,
        where_clause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_and_expressions() {
        assert!(single_statement("CREATE TABLE t(a); -- x").is_ok());
        assert!(single_statement("CREATE TABLE t(a) /* ; */").is_ok());
        assert!(single_statement("CREATE TABLE t(a); DROP TABLE x").is_err());
        assert!(single_statement(" -- only").is_err());
        assert!(single_expression("coalesce(a, b)").is_ok());
        assert!(single_expression("CASE WHEN a IS 1 THEN 'x;y' END").is_ok());
        assert!(single_expression("1); DROP TABLE t; --").is_err());
        assert!(single_expression("a, b").is_err());
        assert!(single_expression("(a").is_err());
        assert!(tokenize("'open").is_err());
        assert!(mentions_identifier("\"Phase\" IN ('x')", "phase"));
        assert!(!mentions_identifier("x IN ('phase')", "phase"));
    }

    #[test]
    fn create_table_parts() {
        let sql = r#"CREATE TEMP TABLE IF NOT EXISTS "main"."my ""odd"" table" ("select" INT CHECK ("select" > 0) CONSTRAINT nn NOT NULL, [col with space] TEXT COLLATE NOCASE UNIQUE ON CONFLICT IGNORE, `order` REFERENCES p(id) ON DELETE SET NULL NOT DEFERRABLE DEFAULT 0 CHECK(`order` <> 1), g AS (upper("col with space")) STORED, d DOUBLE PRECISION DEFAULT -1.5, n DECIMAL(10, 2) NOT NULL, CONSTRAINT big CHECK (length([col with space]) < 5), PRIMARY KEY ("select", n)) STRICT, WITHOUT ROWID;"#;
        let t = parse_create_table(sql).unwrap();
        assert!(t.temp && t.if_not_exists && t.strict && t.without_rowid);
        assert_eq!(t.schema.as_deref(), Some("main"));
        assert_eq!(t.name, "my \"odd\" table");
        let types: Vec<&str> = t.columns.iter().map(|c| c.type_text.as_str()).collect();
        assert_eq!(
            types,
            ["INT", "TEXT", "", "", "DOUBLE PRECISION", "DECIMAL(10, 2)"]
        );
        assert_eq!(t.columns[1].collation.as_deref(), Some("NOCASE"));
        assert_eq!(t.columns[2].default_clause.as_deref(), Some("DEFAULT 0"));
        assert_eq!(
            t.columns[3].generated_clause.as_deref(),
            Some("AS (upper(\"col with space\")) STORED")
        );
        assert_eq!(t.columns[4].default_clause.as_deref(), Some("DEFAULT -1.5"));
        let checks: Vec<(Option<&str>, &str)> = t
            .checks
            .iter()
            .map(|c| (c.name.as_deref(), c.expr.as_str()))
            .collect();
        assert_eq!(
            checks,
            [
                (None, "\"select\" > 0"),
                (None, "`order` <> 1"),
                (Some("big"), "length([col with space]) < 5")
            ]
        );
        assert!(replace_span(sql, t.name_span, "x").contains("TABLE IF NOT EXISTS x ("));
        assert!(parse_create_table("CREATE TABLE t AS SELECT 1").is_err());
        assert!(parse_create_table("CREATE VIEW v AS SELECT 1").is_err());
    }

    #[test]
    fn create_index_parts() {
        let ix = parse_create_index(
            r#"CREATE UNIQUE INDEX IF NOT EXISTS main.ix ON "t" (lower(email) COLLATE NOCASE DESC, b, coalesce(c, 0)) WHERE b > 0"#,
        )
        .unwrap();
        assert!(ix.unique);
        assert_eq!((ix.name.as_str(), ix.table.as_str()), ("ix", "t"));
        assert_eq!(
            ix.terms[0],
            IndexTerm {
                expr: "lower(email)".into(),
                collation: Some("NOCASE".into()),
                descending: true
            }
        );
        assert_eq!(ix.terms[2].expr, "coalesce(c, 0)");
        assert_eq!(ix.where_clause.as_deref(), Some("b > 0"));
    }

    #[test]
    fn virtual_table_arguments_and_names() {
        let (module, args) = virtual_table_args(
            "CREATE VIRTUAL TABLE f USING fts5(title, body, content = 'do''cs', content_rowid=\"id\", tokenize = 'porter unicode61', prefix='2 3')",
        )
        .unwrap();
        assert_eq!(module, "fts5");
        assert_eq!(args.len(), 6);
        assert_eq!(args[2], "content = 'do''cs'");
        assert_eq!(literal_or_name(args[2].split_once('=').unwrap().1), "do'cs");
        assert_eq!(literal_or_name(" \"id\" "), "id");
        assert_eq!(literal_or_name("[x y]"), "x y");
        let (module, args) =
            virtual_table_args("CREATE VIRTUAL TABLE r USING rtree(id, a, b)").unwrap();
        assert_eq!((module.as_str(), args.len()), ("rtree", 3));
        assert!(virtual_table_args("CREATE TABLE t (a)").is_none());
        assert!(virtual_table_args("CREATE VIRTUAL TABLE f USING fts5(a").is_none());
    }

    #[test]
    fn never_panics_on_prefixes() {
        let sql =
            r#"CREATE TABLE "a""b" (x CHECK (x > ')'), [y] DEFAULT (1), `z` AS (x)) STRICT; /* c"#;
        for (i, _) in sql.char_indices() {
            let s = &sql[..i];
            let _ = parse_create_table(s);
            let _ = parse_create_index(s);
            let _ = single_statement(s);
            let _ = single_expression(s);
            let _ = mentions_identifier(s, "x");
        }
        let sql = "CREATE VIRTUAL TABLE f USING fts5(a, content = 'd''x', b=(1, 2)) -- '";
        for (i, _) in sql.char_indices() {
            let s = &sql[..i];
            let _ = virtual_table_args(s);
            let _ = literal_or_name(s);
            let _ = column_name(s);
        }
    }
}

//! Where each part of a `CREATE TABLE` statement lies: every column definition and table
//! constraint, each column's constraints, and the table options, as byte spans, so that an
//! operation (`.add_column`, `.drop_constraint`, ...) edits the caller's own text only where
//! it changes, as SQLite's `alter.c` does.

use super::lex::{err, identifier_value, significant, tokenize, Cursor, SqlError, TokenKind};

/// The parts of a `CREATE TABLE` statement, by byte span.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TableLayout {
    /// Byte offsets of the `(` and `)` around the definitions.
    pub open: usize,
    pub close: usize,
    /// Where the statement ends (after its last token).
    pub end: usize,
    pub elements: Vec<Element>,
    /// The table options after `)`, upper-cased: `STRICT`, `WITHOUT ROWID`.
    pub options: Vec<String>,
}

/// A column definition or a table constraint.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Element {
    pub span: (usize, usize),
    pub kind: ElementKind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ElementKind {
    Column {
        name: String,
        /// The type name's span: empty (at the name's end) when there is none.
        type_span: (usize, usize),
        constraints: Vec<Clause>,
    },
    Constraint(Clause),
}

/// One constraint: a column's (`NOT NULL`, `CHECK (...)`, `REFERENCES p`) or the table's
/// (`PRIMARY KEY (a, b)`), with its `CONSTRAINT name` when it has one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Clause {
    pub name: Option<String>,
    pub kind: ClauseKind,
    /// From `CONSTRAINT` (or the constraint's first word) to its last token.
    pub span: (usize, usize),
    /// The columns of a table PRIMARY KEY, UNIQUE or FOREIGN KEY, as written (unquoted).
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClauseKind {
    PrimaryKey,
    Unique,
    Check,
    ForeignKey,
    NotNull,
    Null,
    Default,
    Collate,
    Generated,
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

impl TableLayout {
    /// The column definitions, in order: (index into `elements`, name).
    pub(crate) fn columns(&self) -> impl Iterator<Item = (usize, &str)> {
        self.elements
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match &e.kind {
                ElementKind::Column { name, .. } => Some((i, name.as_str())),
                ElementKind::Constraint(_) => None,
            })
    }
}

/// The first significant token at or after byte `from`: its kind and where it starts.
fn next_token(text: &str, from: usize) -> Option<(TokenKind, usize)> {
    let tokens = tokenize(text.get(from..)?).ok()?;
    significant(&tokens)
        .first()
        .map(|t| (t.kind, from + t.start))
}

/// Where the last significant token before byte `at` ends (comments and space skipped).
fn previous_token_end(text: &str, at: usize) -> usize {
    text.get(..at)
        .and_then(|head| tokenize(head).ok())
        .and_then(|tokens| significant(&tokens).last().map(|t| t.end))
        .unwrap_or(at)
}

/// Where the comma between bytes `from` and `to` starts (the lexer's, not a comment's).
fn comma_between(text: &str, from: usize, to: usize) -> Option<usize> {
    let tokens = tokenize(text.get(from..to)?).ok()?;
    tokens
        .iter()
        .find(|t| t.kind == TokenKind::Comma)
        .map(|t| from + t.start)
}

impl TableLayout {
    /// Where the column list ends, as SQLite's `addColOffset`: the comma that starts the
    /// table constraints, or the closing parenthesis. `ADD COLUMN` inserts there.
    pub(crate) fn columns_end(&self, text: &str) -> usize {
        let els = &self.elements;
        match els
            .iter()
            .position(|e| matches!(e.kind, ElementKind::Constraint(_)))
        {
            Some(i) if i > 0 => {
                comma_between(text, els[i - 1].span.1, els[i].span.0).unwrap_or(els[i].span.0)
            }
            _ => self.close,
        }
    }

    /// The bytes to cut to remove element `index` with its comma, as SQLite's own `ALTER
    /// TABLE ... DROP COLUMN / DROP CONSTRAINT` cut them, so that both paths store the same
    /// text: a column from its start to the next column's, the last column from its comma
    /// to the end of the column list; a table constraint from its comma to the next comma
    /// (the last one: to the closing parenthesis).
    pub(crate) fn removal_span(&self, text: &str, index: usize) -> (usize, usize) {
        let els = &self.elements;
        let el = &els[index];
        let comma_before = |i: usize| {
            comma_between(text, els[i - 1].span.1, els[i].span.0).unwrap_or(els[i - 1].span.1)
        };
        let next = els.get(index + 1);
        match (&el.kind, next) {
            (ElementKind::Column { .. }, Some(next))
                if matches!(next.kind, ElementKind::Column { .. }) =>
            {
                (el.span.0, next.span.0)
            }
            _ if index == 0 => (el.span.0, next.map_or(el.span.1, |n| n.span.0)),
            (ElementKind::Column { .. }, _) => (comma_before(index), self.columns_end(text)),
            (ElementKind::Constraint(_), Some(next)) => (
                comma_before(index),
                comma_between(text, el.span.1, next.span.0).unwrap_or(el.span.1),
            ),
            (ElementKind::Constraint(_), None) => (comma_before(index), self.close),
        }
    }
}

impl TableLayout {
    /// Where SQLite's `SET NOT NULL` appends to element `index`: before the comma or the
    /// closing parenthesis that follows it.
    pub(crate) fn append_point(&self, text: &str, index: usize) -> usize {
        let end = self.elements[index].span.1;
        match next_token(text, end) {
            Some((TokenKind::Comma | TokenKind::RParen, at)) => at,
            _ => end,
        }
    }
}

/// The bytes to cut to remove a column's constraint, as SQLite's `DROP CONSTRAINT` does:
/// with the space before it when a comma or the closing parenthesis follows, else with the
/// space after it.
pub(crate) fn clause_removal_span(text: &str, clause: &Clause) -> (usize, usize) {
    match next_token(text, clause.span.1) {
        Some((TokenKind::Comma | TokenKind::RParen, at)) => {
            (previous_token_end(text, clause.span.0), at)
        }
        Some((_, at)) => (clause.span.0, at),
        None => clause.span,
    }
}

/// Lays out a `CREATE TABLE` statement (which [`parse_create_table`](super::parse_create_table)
/// has accepted).
pub(crate) fn layout_create_table(sql: &str) -> Result<TableLayout, SqlError> {
    let c = Cursor::new(sql)?;
    let Some(open) = c.toks.iter().position(|t| t.kind == TokenKind::LParen) else {
        return err("expected '(' after the table name");
    };
    let close = c.matching(open)?;
    let mut elements = Vec::new();
    for (from, to) in c.split_commas(open + 1, close) {
        if from >= to {
            return err("empty definition in the column list");
        }
        let span = (c.toks[from].start, c.toks[to - 1].end);
        let mut j = from;
        if c.is_kw(c.at(j), "CONSTRAINT") {
            j += 2;
        }
        let head = c.at(j);
        let kind = if ["PRIMARY", "UNIQUE", "FOREIGN", "CHECK"]
            .iter()
            .any(|k| c.is_kw(head, k))
            || j >= to
        {
            ElementKind::Constraint(table_constraint(&c, from, to)?)
        } else {
            column(&c, from, to)?
        };
        elements.push(Element { span, kind });
    }
    let rest = &c.toks[close + 1..];
    let end_at = rest
        .iter()
        .position(|t| t.kind == TokenKind::Semicolon)
        .unwrap_or(rest.len());
    let mut options = Vec::new();
    for (from, to) in c.split_commas(close + 1, close + 1 + end_at) {
        if from < to {
            let words: Vec<String> = (from..to)
                .map(|k| c.text(c.toks[k]).to_ascii_uppercase())
                .collect();
            options.push(words.join(" "));
        }
    }
    let end = match end_at {
        0 => c.toks[close].end,
        n => rest[n - 1].end,
    };
    Ok(TableLayout {
        open: c.toks[open].start,
        close: c.toks[close].start,
        end,
        elements,
        options,
    })
}

/// A name list `( a, b COLLATE x DESC )` starting at token `open`: the names and the index
/// of the `)`.
fn name_list(c: &Cursor<'_>, open: usize) -> Result<(Vec<String>, usize), SqlError> {
    if c.at(open).map(|t| t.kind) != Some(TokenKind::LParen) {
        return err("expected a column list");
    }
    let close = c.matching(open)?;
    let names = c
        .split_commas(open + 1, close)
        .into_iter()
        .filter(|(a, b)| a < b)
        .map(|(a, _)| identifier_value(c.text(c.toks[a])))
        .collect();
    Ok((names, close))
}

fn table_constraint(c: &Cursor<'_>, from: usize, to: usize) -> Result<Clause, SqlError> {
    let mut j = from;
    let mut name = None;
    if c.is_kw(c.at(j), "CONSTRAINT") {
        name = c.at(j + 1).map(|t| identifier_value(c.text(t)));
        j += 2;
    }
    let head = c.at(j);
    let (kind, columns) = if c.is_kw(head, "PRIMARY") {
        (ClauseKind::PrimaryKey, name_list(c, j + 2)?.0)
    } else if c.is_kw(head, "UNIQUE") {
        (ClauseKind::Unique, name_list(c, j + 1)?.0)
    } else if c.is_kw(head, "FOREIGN") {
        (ClauseKind::ForeignKey, name_list(c, j + 2)?.0)
    } else if c.is_kw(head, "CHECK") {
        (ClauseKind::Check, Vec::new())
    } else {
        return err("a CONSTRAINT name with no constraint");
    };
    Ok(Clause {
        name,
        kind,
        span: (c.toks[from].start, c.toks[to - 1].end),
        columns,
    })
}

/// A column definition by token index: its name, where its type ends, its constraints.
pub(super) struct ColumnTokens {
    pub name: String,
    /// The token after the type name (`from + 1` when there is none).
    pub type_end: usize,
    pub clauses: Vec<ClauseTokens>,
}

/// One column constraint by token index.
pub(super) struct ClauseTokens {
    pub name: Option<String>,
    pub kind: ClauseKind,
    /// Its first token (`CONSTRAINT` when named), its keyword, and the token after it.
    pub first: usize,
    pub start: usize,
    pub end: usize,
}

/// Splits the column definition in tokens `[from, to)`: the type runs to the first
/// constraint word at depth 0, and each constraint to the next one, except the words that
/// belong to a REFERENCES clause (SET NULL, SET DEFAULT, NOT DEFERRABLE), to GENERATED
/// ALWAYS AS, or are a DEFAULT's value.
pub(super) fn column_tokens(
    c: &Cursor<'_>,
    from: usize,
    to: usize,
) -> Result<ColumnTokens, SqlError> {
    let name_tok = c.toks[from];
    if !matches!(
        name_tok.kind,
        TokenKind::Word | TokenKind::QuotedIdent | TokenKind::String
    ) {
        return err(format!("expected a column name at byte {}", name_tok.start));
    }
    let is_constraint_word = |j: usize| {
        let t = c.toks[j];
        t.kind == TokenKind::Word
            && COLUMN_CONSTRAINT_WORDS
                .iter()
                .any(|w| c.text(t).eq_ignore_ascii_case(w))
    };
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
    let type_end = j;
    let mut clauses = Vec::new();
    let mut named: Option<(String, usize)> = None;
    while j < to {
        let start = j;
        let kw = c.text(c.toks[j]).to_ascii_uppercase();
        if kw == "CONSTRAINT" {
            named = c.at(j + 1).map(|t| (identifier_value(c.text(t)), start));
            j += 2;
            continue;
        }
        j += 1;
        if kw == "NOT" {
            j += 1;
        }
        let mut depth = 0;
        while j < to {
            let t = c.toks[j];
            match t.kind {
                TokenKind::LParen => depth += 1,
                TokenKind::RParen => depth -= 1,
                _ => {}
            }
            if depth == 0 && is_constraint_word(j) {
                let prev = c.text(c.toks[j - 1]);
                let word = c.text(t);
                let in_references = kw == "REFERENCES"
                    && (prev.eq_ignore_ascii_case("SET")
                        || (word.eq_ignore_ascii_case("NOT")
                            && c.is_kw(c.at(j + 1), "DEFERRABLE")));
                let generated_as = kw == "GENERATED" && word.eq_ignore_ascii_case("AS");
                let default_value = kw == "DEFAULT" && j == start + 1;
                if !in_references && !generated_as && !default_value {
                    break;
                }
            }
            j += 1;
        }
        let kind = match kw.as_str() {
            "PRIMARY" => ClauseKind::PrimaryKey,
            "UNIQUE" => ClauseKind::Unique,
            "CHECK" => ClauseKind::Check,
            "REFERENCES" => ClauseKind::ForeignKey,
            "NOT" => ClauseKind::NotNull,
            "NULL" => ClauseKind::Null,
            "DEFAULT" => ClauseKind::Default,
            "COLLATE" => ClauseKind::Collate,
            _ => ClauseKind::Generated,
        };
        let (name, first) = match named.take() {
            Some((n, at)) => (Some(n), at),
            None => (None, start),
        };
        clauses.push(ClauseTokens {
            name,
            kind,
            first,
            start,
            end: j,
        });
    }
    Ok(ColumnTokens {
        name: identifier_value(c.text(name_tok)),
        type_end,
        clauses,
    })
}

fn column(c: &Cursor<'_>, from: usize, to: usize) -> Result<ElementKind, SqlError> {
    let tokens = column_tokens(c, from, to)?;
    let name_tok = c.toks[from];
    let type_span = if tokens.type_end > from + 1 {
        (c.toks[from + 1].start, c.toks[tokens.type_end - 1].end)
    } else {
        (name_tok.end, name_tok.end)
    };
    let constraints = tokens
        .clauses
        .into_iter()
        .map(|k| Clause {
            name: k.name,
            kind: k.kind,
            span: (c.toks[k.first].start, c.toks[k.end - 1].end),
            columns: Vec::new(),
        })
        .collect();
    Ok(ElementKind::Column {
        name: tokens.name,
        type_span,
        constraints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_by_span() {
        let sql = r#"CREATE TABLE "t" (id INTEGER CONSTRAINT pk PRIMARY KEY AUTOINCREMENT, "a b" DECIMAL(10, 2) NOT NULL DEFAULT (1) CHECK ("a b" > 0), c REFERENCES p(id) ON DELETE SET NULL NOT DEFERRABLE, d, CONSTRAINT u UNIQUE (c, "a b"), CHECK (d <> 1), FOREIGN KEY (d) REFERENCES q) STRICT, WITHOUT ROWID;"#;
        let l = layout_create_table(sql).unwrap();
        let text = |s: (usize, usize)| &sql[s.0..s.1];
        assert_eq!(&sql[l.open..=l.open], "(");
        assert_eq!(&sql[l.close..=l.close], ")");
        assert_eq!(l.options, ["STRICT", "WITHOUT ROWID"]);
        assert_eq!(&sql[..l.end], sql.trim_end_matches(';'));
        let names: Vec<&str> = l.columns().map(|(_, n)| n).collect();
        assert_eq!(names, ["id", "a b", "c", "d"]);
        let ElementKind::Column {
            type_span,
            constraints,
            ..
        } = &l.elements[1].kind
        else {
            panic!("a column")
        };
        assert_eq!(text(*type_span), "DECIMAL(10, 2)");
        let parts: Vec<(ClauseKind, &str)> =
            constraints.iter().map(|k| (k.kind, text(k.span))).collect();
        assert_eq!(
            parts,
            [
                (ClauseKind::NotNull, "NOT NULL"),
                (ClauseKind::Default, "DEFAULT (1)"),
                (ClauseKind::Check, "CHECK (\"a b\" > 0)")
            ]
        );
        let ElementKind::Column { constraints, .. } = &l.elements[0].kind else {
            panic!("a column")
        };
        assert_eq!(constraints[0].name.as_deref(), Some("pk"));
        assert_eq!(
            text(constraints[0].span),
            "CONSTRAINT pk PRIMARY KEY AUTOINCREMENT"
        );
        let ElementKind::Column {
            constraints,
            type_span,
            ..
        } = &l.elements[2].kind
        else {
            panic!("a column")
        };
        assert_eq!(type_span.0, type_span.1);
        assert_eq!(
            text(constraints[0].span),
            "REFERENCES p(id) ON DELETE SET NULL NOT DEFERRABLE"
        );
        let ElementKind::Constraint(u) = &l.elements[4].kind else {
            panic!("a constraint")
        };
        assert_eq!((u.kind, u.name.as_deref()), (ClauseKind::Unique, Some("u")));
        assert_eq!(u.columns, ["c", "a b"]);
        let ElementKind::Constraint(fk) = &l.elements[6].kind else {
            panic!("a constraint")
        };
        assert_eq!(
            (fk.kind, fk.columns.as_slice()),
            (ClauseKind::ForeignKey, &["d".to_owned()][..])
        );
    }

    #[test]
    fn never_panics_on_prefixes() {
        let sql = r#"CREATE TABLE "a""b" (x CHECK (x > ')'), [y] DEFAULT (1), `z` AS (x), CONSTRAINT k PRIMARY KEY (x)) STRICT; /* c"#;
        for (i, _) in sql.char_indices() {
            let _ = layout_create_table(&sql[..i]);
        }
    }
}

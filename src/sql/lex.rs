//! SQLite's tokens: the byte spans of a statement, split as SQLite's own tokenizer
//! (`tokenize.c`) splits them, and a cursor over the significant ones for the parsers.

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

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, SqlError> {
    Err(SqlError(msg.into()))
}

/// SQLite's whitespace: space, tab, newline, form feed, carriage return. Not vertical tab,
/// and not Unicode spaces such as U+00A0, which are identifier characters to SQLite.
fn is_space(c: char) -> bool {
    c.is_ascii_whitespace()
}

/// Every non-ASCII character may start or continue an identifier, as in SQLite.
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
        let kind = if is_space(c) {
            while at(i).is_some_and(is_space) {
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
        } else if matches!(c, '?' | ':' | '@' | '$' | '#') {
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
                            | ('-', Some('>'))
                    ) {
                        i += 1;
                        // `->>`, the JSON operator
                        if c == '-' && at(i) == Some('>') {
                            i += 1;
                        }
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

/// The tokens that carry meaning: no whitespace, no comments.
pub(crate) fn significant(tokens: &[Token]) -> Vec<Token> {
    tokens
        .iter()
        .copied()
        .filter(|t| !matches!(t.kind, TokenKind::Space | TokenKind::Comment))
        .collect()
}

/// A position in the significant tokens of one statement, for the statement parsers.
pub(crate) struct Cursor<'a> {
    pub sql: &'a str,
    pub toks: Vec<Token>,
    pub i: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(sql: &'a str) -> Result<Self, SqlError> {
        Ok(Cursor {
            sql,
            toks: significant(&tokenize(sql)?),
            i: 0,
        })
    }
    pub fn text(&self, t: Token) -> &'a str {
        &self.sql[t.start..t.end]
    }
    pub fn peek(&self) -> Option<Token> {
        self.toks.get(self.i).copied()
    }
    pub fn at(&self, j: usize) -> Option<Token> {
        self.toks.get(j).copied()
    }
    pub fn is_kw(&self, t: Option<Token>, kw: &str) -> bool {
        t.is_some_and(|t| t.kind == TokenKind::Word && self.text(t).eq_ignore_ascii_case(kw))
    }
    pub fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(self.peek(), kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    pub fn expect_kw(&mut self, kw: &str, what: &str) -> Result<(), SqlError> {
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
    /// `[schema.]name`: (schema, name, byte span of the whole).
    #[allow(clippy::type_complexity)]
    pub fn qualified_name(&mut self) -> Result<(Option<String>, String, (usize, usize)), SqlError> {
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
    pub fn matching(&self, open: usize) -> Result<usize, SqlError> {
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
    /// The source text of tokens `[from, to)`, trimmed.
    pub fn slice(&self, from: usize, to_exclusive: usize) -> String {
        match (
            self.toks.get(from),
            to_exclusive.checked_sub(1).and_then(|k| self.toks.get(k)),
        ) {
            (Some(a), Some(b)) if to_exclusive > from => self.sql[a.start..b.end].trim().to_owned(),
            _ => String::new(),
        }
    }
    /// Splits token range `[from, to)` at depth-0 commas.
    pub fn split_commas(&self, from: usize, to: usize) -> Vec<(usize, usize)> {
        let mut parts = Vec::new();
        let (mut depth, mut start) = (0, from);
        for j in from..to {
            match self.toks[j].kind {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<(TokenKind, &str)> {
        tokenize(sql)
            .unwrap()
            .into_iter()
            .map(|t| (t.kind, &sql[t.start..t.end]))
            .collect()
    }

    #[test]
    fn non_ascii_characters_are_identifier_characters() {
        // U+00A0 is whitespace to Rust, an identifier character to SQLite.
        assert_eq!(kinds("a\u{a0}b"), [(TokenKind::Word, "a\u{a0}b")]);
        assert_eq!(kinds("\u{a0}x"), [(TokenKind::Word, "\u{a0}x")]);
        assert_eq!(
            kinds("Ärger <> é"),
            [
                (TokenKind::Word, "Ärger"),
                (TokenKind::Space, " "),
                (TokenKind::Operator, "<>"),
                (TokenKind::Space, " "),
                (TokenKind::Word, "é")
            ]
        );
        // Vertical tab is not SQLite whitespace.
        assert!(tokenize("a\u{b}b").is_err());
    }

    #[test]
    fn operators_and_variables() {
        assert_eq!(
            kinds("j->>'a'"),
            [
                (TokenKind::Word, "j"),
                (TokenKind::Operator, "->>"),
                (TokenKind::String, "'a'")
            ]
        );
        assert_eq!(kinds("#x"), [(TokenKind::Variable, "#x")]);
    }
}

//! `CREATE INDEX` statements: uniqueness, name and table spans, each term's expression,
//! collation and order, and the WHERE of a partial index.

use super::lex::{err, Cursor, SqlError, TokenKind};

/// A parsed `CREATE INDEX` statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CreateIndex {
    pub unique: bool,
    pub name: String,
    /// Byte span of `[schema.]name`.
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
    let mut c = Cursor::new(sql)?;
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
    for (from, to) in c.split_commas(open + 1, close) {
        let mut end = to;
        let mut descending = false;
        let mut collation = None;
        if end > from && (c.is_kw(c.at(end - 1), "DESC") || c.is_kw(c.at(end - 1), "ASC")) {
            descending = c.is_kw(c.at(end - 1), "DESC");
            end -= 1;
        }
        if end >= from + 2 && c.is_kw(c.at(end - 2), "COLLATE") {
            collation = c
                .at(end - 1)
                .map(|t| super::lex::identifier_value(c.text(t)));
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
    fn never_panics_on_prefixes() {
        let sql = r#"CREATE UNIQUE INDEX "i" ON t (a COLLATE "x" DESC, (b)) WHERE a > ')'"#;
        for (i, _) in sql.char_indices() {
            let _ = parse_create_index(&sql[..i]);
        }
    }
}

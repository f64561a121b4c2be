//! `CREATE TABLE` statements: the parts SQLite exposes through no PRAGMA (CHECK
//! constraints, and each column's declared type, COLLATE, DEFAULT and GENERATED text), with
//! the byte span of the name. Everything else (STRICT, WITHOUT ROWID, keys, columns'
//! flags) comes from SQLite's own pragmas.

use super::lex::{err, identifier_value, Cursor, SqlError, TokenKind};
use super::table_layout::{column_tokens, ClauseKind};

/// A parsed `CREATE TABLE` statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CreateTable {
    pub temp: bool,
    pub if_not_exists: bool,
    pub schema: Option<String>,
    pub name: String,
    /// Byte span of `[schema.]name`.
    pub name_span: (usize, usize),
    pub columns: Vec<ColumnDef>,
    pub checks: Vec<CheckDef>,
    /// A column or the primary key is declared `AUTOINCREMENT`.
    pub autoincrement: bool,
    /// The byte offset where the statement ends: after its last token, before any `;`,
    /// trailing space or comment (SQLite stores a statement up to there).
    pub end: usize,
}

impl CreateTable {
    /// The definition of column `name` (ASCII case-insensitive).
    pub(crate) fn column(&self, name: &str) -> Option<&ColumnDef> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
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
    /// The column it is declared on, for column constraints.
    pub column: Option<String>,
}

/// Parses a `CREATE TABLE` statement.
pub(crate) fn parse_create_table(sql: &str) -> Result<CreateTable, SqlError> {
    let mut c = Cursor::new(sql)?;
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
        autoincrement: c.toks[open..close]
            .iter()
            .any(|t| c.is_kw(Some(*t), "AUTOINCREMENT")),
        end: 0,
    };
    for (from, to) in c.split_commas(open + 1, close) {
        if from >= to {
            return err("empty definition in the column list");
        }
        let mut j = from;
        let mut cname = None;
        if c.is_kw(c.at(j), "CONSTRAINT") {
            cname = c.at(j + 1).map(|t| identifier_value(c.text(t)));
            j += 2;
        }
        let head = c.at(j);
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
    // Table options (STRICT, WITHOUT ROWID) may follow, which SQLite reports in
    // pragma_table_list; then nothing but a final `;`.
    let rest = &c.toks[close..];
    match rest.iter().position(|t| t.kind == TokenKind::Semicolon) {
        Some(semi) => {
            if let Some(second) = rest.get(semi + 1) {
                return err(format!(
                    "more than one statement (the second starts at byte {})",
                    second.start
                ));
            }
            table.end = rest[semi - 1].end;
        }
        None => table.end = rest.last().map_or(sql.len(), |t| t.end),
    }
    Ok(table)
}

fn parse_column(
    c: &Cursor<'_>,
    from: usize,
    to: usize,
    table: &mut CreateTable,
) -> Result<(), SqlError> {
    let tokens = column_tokens(c, from, to)?;
    let mut col = ColumnDef {
        name: tokens.name.clone(),
        type_text: c.slice(from + 1, tokens.type_end),
        collation: None,
        default_clause: None,
        generated_clause: None,
    };
    for k in &tokens.clauses {
        match k.kind {
            ClauseKind::Check => {
                let open = k.start + 1;
                let close = c.matching(open)?;
                table.checks.push(CheckDef {
                    name: k.name.clone(),
                    expr: c.slice(open + 1, close),
                    column: Some(tokens.name.clone()),
                });
            }
            ClauseKind::Collate => {
                col.collation = c.at(k.start + 1).map(|t| identifier_value(c.text(t)))
            }
            ClauseKind::Default => col.default_clause = Some(c.slice(k.start, k.end)),
            ClauseKind::Generated => col.generated_clause = Some(c.slice(k.start, k.end)),
            _ => {}
        }
    }
    table.columns.push(col);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::replace_span;

    #[test]
    fn create_table_parts() {
        let sql = r#"CREATE TEMP TABLE IF NOT EXISTS "main"."my ""odd"" table" ("select" INT CHECK ("select" > 0) CONSTRAINT nn NOT NULL, [col with space] TEXT COLLATE NOCASE UNIQUE ON CONFLICT IGNORE, `order` REFERENCES p(id) ON DELETE SET NULL NOT DEFERRABLE DEFAULT 0 CHECK(`order` <> 1), g AS (upper("col with space")) STORED, d DOUBLE PRECISION DEFAULT -1.5, n DECIMAL(10, 2) NOT NULL, CONSTRAINT big CHECK (length([col with space]) < 5), PRIMARY KEY ("select", n)) STRICT, WITHOUT ROWID;"#;
        let t = parse_create_table(sql).unwrap();
        assert!(t.temp && t.if_not_exists);
        assert_eq!(t.schema.as_deref(), Some("main"));
        assert_eq!(t.name, "my \"odd\" table");
        let types: Vec<&str> = t.columns.iter().map(|c| c.type_text.as_str()).collect();
        assert_eq!(
            types,
            ["INT", "TEXT", "", "", "DOUBLE PRECISION", "DECIMAL(10, 2)"]
        );
        assert_eq!(t.columns[1].collation.as_deref(), Some("NOCASE"));
        assert_eq!(
            t.column("ORDER").unwrap().default_clause.as_deref(),
            Some("DEFAULT 0")
        );
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
        assert!(!t.autoincrement);
        assert_eq!(&sql[..t.end], sql.trim_end_matches(';'));
        assert!(parse_create_table("CREATE TABLE t AS SELECT 1").is_err());
        assert!(parse_create_table("CREATE VIEW v AS SELECT 1").is_err());
    }

    #[test]
    fn one_statement_and_where_it_ends() {
        let t =
            parse_create_table("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT) ; -- v2\n")
                .unwrap();
        assert!(t.autoincrement);
        assert_eq!(
            t.end,
            "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)".len()
        );
        let quoted = parse_create_table("CREATE TABLE t (\"autoincrement\" INT) /* c */").unwrap();
        assert!(!quoted.autoincrement);
        assert_eq!(quoted.end, "CREATE TABLE t (\"autoincrement\" INT)".len());
        for two in [
            "CREATE TABLE t (a); DROP TABLE x",
            "CREATE TABLE t (a);;",
            "CREATE TABLE t (a) /* ; */ ; DELETE FROM x",
        ] {
            let e = parse_create_table(two).unwrap_err();
            assert!(
                e.to_string().contains("more than one statement"),
                "{two}: {e}"
            );
        }
    }

    #[test]
    fn never_panics_on_prefixes() {
        let sql =
            r#"CREATE TABLE "a""b" (x CHECK (x > ')'), [y] DEFAULT (1), `z` AS (x)) STRICT; /* c"#;
        for (i, _) in sql.char_indices() {
            let _ = parse_create_table(&sql[..i]);
        }
    }
}

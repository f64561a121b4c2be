//! Pieces of SQL text the crate checks or edits: one expression, a bare column name, the
//! names an expression mentions, byte-span edits, and the arguments of a virtual table.

use super::lex::{err, identifier_value, significant, tokenize, SqlError, Token, TokenKind};
use rusqlite::types::Value;

/// Ok when `expr` is one expression that can be spliced into a SELECT list.
pub(crate) fn single_expression(expr: &str) -> Result<(), SqlError> {
    let tokens = tokenize(expr)?;
    let toks = significant(&tokens);
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
    if tokens
        .iter()
        .any(|t| t.kind == TokenKind::Comment && expr[t.start..t.end].starts_with("--"))
    {
        return err("'--' comments are not allowed in an expression");
    }
    Ok(())
}

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

/// Whether any identifier in `sql` denotes `name` (ASCII case-insensitive). Text that does
/// not tokenize may mention anything.
pub(crate) fn mentions_identifier(sql: &str, name: &str) -> bool {
    match tokenize(sql) {
        Ok(toks) => toks.iter().any(|t| {
            matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent)
                && identifier_value(&sql[t.start..t.end]).eq_ignore_ascii_case(name)
        }),
        Err(_) => true,
    }
}

/// A parent a `REFERENCES` clause names: the name's byte span, its value, and whether it
/// is written bare (not quoted).
type ReferencedName = ((usize, usize), String, bool);

/// The parents `REFERENCES` clauses name in `sql`. `None` when the text does not tokenize.
fn referenced_names(sql: &str) -> Option<Vec<ReferencedName>> {
    let tokens = tokenize(sql).ok()?;
    let toks = significant(&tokens);
    Some(
        toks.windows(2)
            .filter(|pair| {
                pair[0].kind == TokenKind::Word
                    && sql[pair[0].start..pair[0].end].eq_ignore_ascii_case("REFERENCES")
                    && matches!(
                        pair[1].kind,
                        TokenKind::Word | TokenKind::QuotedIdent | TokenKind::String
                    )
            })
            .map(|pair| {
                let name = pair[1];
                let text = &sql[name.start..name.end];
                (
                    (name.start, name.end),
                    identifier_value(text),
                    name.kind == TokenKind::Word,
                )
            })
            .collect(),
    )
}

/// `sql` with the parent named by each `REFERENCES` clause replaced where `rename` gives
/// it a new name (called with the name and whether it is written bare). The rest of the
/// text is kept byte for byte. `None` when the text does not tokenize.
pub(crate) fn retarget_references(
    sql: &str,
    rename: impl Fn(&str, bool) -> Option<String>,
) -> Option<String> {
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for (span, name, bare) in referenced_names(sql)? {
        if let Some(new) = rename(&name, bare) {
            out.push_str(&sql[at..span.0]);
            out.push_str(&new);
            at = span.1;
        }
    }
    out.push_str(&sql[at..]);
    Some(out)
}

/// The byte span of the name in `CREATE [TEMP] VIEW [IF NOT EXISTS] [schema.]name`.
pub(crate) fn view_name_span(sql: &str) -> Option<(usize, usize)> {
    let mut c = super::lex::Cursor::new(sql).ok()?;
    c.expect_kw("CREATE", "CREATE VIEW").ok()?;
    let _ = c.eat_kw("TEMP") || c.eat_kw("TEMPORARY");
    c.expect_kw("VIEW", "CREATE VIEW").ok()?;
    if c.eat_kw("IF") {
        c.expect_kw("NOT", "CREATE VIEW").ok()?;
        c.expect_kw("EXISTS", "CREATE VIEW").ok()?;
    }
    c.qualified_name().ok().map(|(_, _, span)| span)
}

/// Whether two pieces of SQL are the same tokens, written the same way (whitespace and
/// comments aside). Text that does not tokenize is the same only as itself.
pub(crate) fn same_tokens(a: &str, b: &str) -> bool {
    match (tokenize(a), tokenize(b)) {
        (Ok(x), Ok(y)) => {
            let (x, y) = (significant(&x), significant(&y));
            x.len() == y.len()
                && x.iter()
                    .zip(&y)
                    .all(|(s, t)| a[s.start..s.end] == b[t.start..t.end])
        }
        _ => a == b,
    }
}

/// `terms` joined by the binary operator `op` as a balanced tree, `((a OP b) OP (c OP d))`:
/// its depth grows with the logarithm of their number, so two thousand conditions stay far
/// below SQLite's limit on expression depth (1000), which a flat chain would pass. Each
/// term is parenthesized; no terms give `NULL`.
pub(crate) fn balanced(op: &str, terms: &[String]) -> String {
    match terms {
        [] => "NULL".to_owned(),
        [one] => format!("({one})"),
        _ => {
            let (left, right) = terms.split_at(terms.len() / 2);
            format!("({} {op} {})", balanced(op, left), balanced(op, right))
        }
    }
}

/// `body` (a table's definition after its name) without the qualifiers that name the
/// table itself in its expressions, or `None` when none goes: with `keep_table`, only
/// their schema goes (`main.t.v` becomes `t.v`), else all (`t.v` becomes `v`).
/// Inside a table's CHECK the table is the only one in scope, so the meaning is the same;
/// the text is what a table of another name (or schema) can hold.
pub(crate) fn without_self_qualifiers(
    body: &str,
    table: &str,
    schema: &str,
    keep_table: bool,
) -> Option<String> {
    let tokens = tokenize(body).ok()?;
    let toks = significant(&tokens);
    let names = |t: &super::lex::Token, name: &str| {
        matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent)
            && identifier_value(&body[t.start..t.end]).eq_ignore_ascii_case(name)
    };
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    for i in 0..toks.len() {
        // `table .` followed by a name, not itself after a `.` (then it is a column).
        let (Some(dot), Some(column)) = (toks.get(i + 1), toks.get(i + 2)) else {
            break;
        };
        if !names(&toks[i], table)
            || dot.kind != TokenKind::Dot
            || !matches!(column.kind, TokenKind::Word | TokenKind::QuotedIdent)
        {
            continue;
        }
        let schema_start = if i >= 1 && toks[i - 1].kind == TokenKind::Dot {
            match i.checked_sub(2).map(|j| &toks[j]) {
                Some(s) if names(s, schema) => Some(s.start),
                _ => continue, // `x.t.v`: another schema's table, SQLite's to judge.
            }
        } else {
            None
        };
        match (keep_table, schema_start) {
            (false, start) => cuts.push((start.unwrap_or(toks[i].start), column.start)),
            (true, Some(start)) => cuts.push((start, toks[i].start)),
            (true, None) => {}
        }
    }
    if cuts.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(body.len());
    let mut at = 0;
    for (start, end) in cuts {
        out.push_str(&body[at..start]);
        at = end;
    }
    out.push_str(&body[at..]);
    Some(out)
}

/// The byte span of the `AUTOINCREMENT` keyword of a `CREATE TABLE` statement: the word
/// that follows `PRIMARY KEY`, its order or its conflict clause (a column may be named
/// autoincrement too).
pub(crate) fn autoincrement_span(sql: &str) -> Option<(usize, usize)> {
    let tokens = significant(&tokenize(sql).ok()?);
    let word = |t: &Token, w: &str| {
        t.kind == TokenKind::Word && sql[t.start..t.end].eq_ignore_ascii_case(w)
    };
    tokens.windows(2).find_map(|pair| {
        let after = [
            "KEY", "ASC", "DESC", "ROLLBACK", "ABORT", "FAIL", "IGNORE", "REPLACE",
        ]
        .iter()
        .any(|w| word(&pair[0], w));
        (after && word(&pair[1], "AUTOINCREMENT")).then_some((pair[1].start, pair[1].end))
    })
}

/// Replaces the byte range `span` of `sql` with `replacement`.
pub(crate) fn replace_span(sql: &str, span: (usize, usize), replacement: &str) -> String {
    match (sql.get(..span.0), sql.get(span.1..)) {
        (Some(a), Some(b)) => format!("{a}{replacement}{b}"),
        _ => sql.to_owned(),
    }
}

/// The statements of a script, each without its `;`, comments and surrounding space: split
/// at the semicolons that end a statement, as SQLite's `sqlite3_complete` would, so a
/// trigger's body (`BEGIN ... END`, with `CASE ... END` inside) stays whole. `None` when
/// the text does not tokenize.
pub(crate) fn split_statements(sql: &str) -> Option<Vec<String>> {
    let tokens = tokenize(sql).ok()?;
    let word = |t: &super::lex::Token, w: &str| {
        t.kind == TokenKind::Word && sql[t.start..t.end].eq_ignore_ascii_case(w)
    };
    let mut out = Vec::new();
    // The significant tokens of the statement so far.
    let mut current: Vec<super::lex::Token> = Vec::new();
    let mut end_statement = |current: &mut Vec<super::lex::Token>| {
        if let (Some(first), Some(last)) = (current.first(), current.last()) {
            out.push(sql[first.start..last.end].to_owned());
        }
        current.clear();
    };
    // Inside a CREATE TRIGGER: how deep in BEGIN / CASE ... END.
    let mut depth = 0usize;
    for t in significant(&tokens) {
        if t.kind == TokenKind::Semicolon && depth == 0 {
            end_statement(&mut current);
            continue;
        }
        // `CREATE [TEMP] TRIGGER`: the trigger word is the second or third.
        let in_trigger = current.first().is_some_and(|c| word(c, "CREATE"))
            && current.iter().skip(1).take(2).any(|w| word(w, "TRIGGER"));
        if in_trigger {
            if word(&t, "BEGIN") || (depth > 0 && word(&t, "CASE")) {
                depth += 1;
            } else if depth > 0 && word(&t, "END") {
                depth -= 1;
            }
        }
        current.push(t);
    }
    end_statement(&mut current);
    Some(out)
}

/// `CREATE ...` with `TEMP` after `CREATE`, unless it is there already: SQLite stores a
/// TEMP trigger's text without the keyword, and replaying it without would land in `main`.
pub(crate) fn with_temp_keyword(sql: &str) -> String {
    if let Ok(tokens) = tokenize(sql) {
        let mut words = tokens.iter().filter(|t| t.kind == TokenKind::Word);
        if let (Some(create), Some(next)) = (words.next(), words.next()) {
            let next_text = &sql[next.start..next.end];
            if !next_text.eq_ignore_ascii_case("TEMP")
                && !next_text.eq_ignore_ascii_case("TEMPORARY")
            {
                return format!("{} TEMP{}", &sql[..create.end], &sql[create.end..]);
            }
        }
    }
    sql.to_owned()
}

/// The first name in `text` (a virtual table's column definition: `body UNINDEXED`).
pub(crate) fn first_name(text: &str) -> Option<String> {
    let tokens = tokenize(text).ok()?;
    let first = *significant(&tokens).first()?;
    matches!(
        first.kind,
        TokenKind::Word | TokenKind::QuotedIdent | TokenKind::String
    )
    .then(|| identifier_value(&text[first.start..first.end]))
}

/// For a CHECK that is, or has as one of its top-level `AND` terms, `column IN (literal,
/// ...)`: the column and the literals' values.
pub(crate) fn allowed_values(expr: &str) -> Option<(String, Vec<Value>)> {
    let tokens = tokenize(expr).ok()?;
    let toks = significant(&tokens);
    let text = |t: &super::lex::Token| &expr[t.start..t.end];
    let is_and =
        |t: &super::lex::Token| t.kind == TokenKind::Word && text(t).eq_ignore_ascii_case("AND");
    // Top-level AND terms.
    let mut terms: Vec<&[super::lex::Token]> = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            TokenKind::LParen => depth += 1,
            TokenKind::RParen => depth -= 1,
            _ if depth == 0 && is_and(t) => {
                terms.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&toks[start..]);
    terms.into_iter().find_map(|term| {
        let [name, kw, open, rest @ ..] = term else {
            return None;
        };
        let (close, items) = rest.split_last()?;
        let ok = matches!(name.kind, TokenKind::Word | TokenKind::QuotedIdent)
            && kw.kind == TokenKind::Word
            && text(kw).eq_ignore_ascii_case("IN")
            && open.kind == TokenKind::LParen
            && close.kind == TokenKind::RParen;
        if !ok || items.is_empty() {
            return None;
        }
        let mut values = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if i % 2 == 1 {
                if item.kind != TokenKind::Comma {
                    return None;
                }
                continue;
            }
            let t = text(item);
            values.push(match item.kind {
                TokenKind::String => Value::Text(identifier_value(t)),
                TokenKind::Number => match t.parse::<i64>() {
                    Ok(i) => Value::Integer(i),
                    Err(_) => Value::Real(t.parse::<f64>().ok()?),
                },
                _ => return None,
            });
        }
        Some((identifier_value(text(name)), values))
    })
}

/// The value of a `DEFAULT` clause that is a literal: a number (signed or not), a string, a
/// blob (its bytes not kept), NULL, TRUE or FALSE, in parentheses or not. `None` for
/// anything else (an expression, CURRENT_TIMESTAMP), whose value depends on when it is read.
pub(crate) fn default_literal(clause: &str) -> Option<Value> {
    let tokens = tokenize(clause).ok()?;
    let toks = significant(&tokens);
    let text = |t: &super::lex::Token| &clause[t.start..t.end];
    let [kw, rest @ ..] = toks.as_slice() else {
        return None;
    };
    if !text(kw).eq_ignore_ascii_case("DEFAULT") {
        return None;
    }
    let mut inner = rest;
    while let [open, middle @ .., close] = inner {
        if open.kind == TokenKind::LParen && close.kind == TokenKind::RParen {
            inner = middle;
        } else {
            break;
        }
    }
    let number = |t: &str, negative: bool| -> Option<Value> {
        let written = if negative {
            format!("-{t}")
        } else {
            t.to_owned()
        };
        match written.parse::<i64>() {
            Ok(i) => Some(Value::Integer(i)),
            Err(_) => written.parse::<f64>().ok().map(Value::Real),
        }
    };
    match inner {
        [t] => match t.kind {
            TokenKind::Number => number(text(t), false),
            TokenKind::String => Some(Value::Text(identifier_value(text(t)))),
            TokenKind::Blob => Some(Value::Blob(Vec::new())),
            TokenKind::Word => match text(t).to_ascii_uppercase().as_str() {
                "NULL" => Some(Value::Null),
                "TRUE" => Some(Value::Integer(1)),
                "FALSE" => Some(Value::Integer(0)),
                _ => None,
            },
            _ => None,
        },
        [sign, t] if sign.kind == TokenKind::Operator && t.kind == TokenKind::Number => {
            match text(sign) {
                "-" => number(text(t), true),
                "+" => number(text(t), false),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The schema of a `schema.name` text (unquoted), if it names one.
pub(crate) fn schema_prefix(text: &str) -> Option<String> {
    let tokens = tokenize(text).ok()?;
    match significant(&tokens).as_slice() {
        [first, dot, _] if dot.kind == TokenKind::Dot => {
            Some(identifier_value(&text[first.start..first.end]))
        }
        _ => None,
    }
}

/// The name of a `[schema.]name` text as written, without the schema.
pub(crate) fn without_schema_prefix(text: &str) -> &str {
    let Ok(tokens) = tokenize(text) else {
        return text;
    };
    match significant(&tokens).as_slice() {
        [_, dot, name] if dot.kind == TokenKind::Dot => &text[name.start..name.end],
        _ => text,
    }
}

/// The module a `CREATE VIRTUAL TABLE` uses.
pub(crate) fn virtual_table_module(sql: &str) -> Option<String> {
    let tokens = tokenize(sql).ok()?;
    let toks = significant(&tokens);
    let using = toks.iter().position(|t| {
        t.kind == TokenKind::Word && sql[t.start..t.end].eq_ignore_ascii_case("USING")
    })?;
    let module = toks.get(using + 1)?;
    Some(identifier_value(&sql[module.start..module.end]))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifiers_naming_the_table_itself() {
        let strip = |body: &str, keep_table| without_self_qualifiers(body, "t", "main", keep_table);
        assert_eq!(
            strip(
                r#"(v CHECK (t.v > 0 AND "T" . v < 9 AND main.t.v <> 3))"#,
                false
            )
            .as_deref(),
            Some("(v CHECK (v > 0 AND v < 9 AND v <> 3))")
        );
        assert_eq!(
            strip("(v CHECK (main.t.v > 0 AND t.v < 9))", true).as_deref(),
            Some("(v CHECK (t.v > 0 AND t.v < 9))")
        );
        // Another schema's table, a column named t, strings and comments are not ours.
        for body in [
            "(v CHECK (aux.t.v > 0))",
            "(t, v CHECK (x.t > 0))",
            "(v CHECK (v <> 't.v')) -- t.v",
            "(v REFERENCES t (v))",
        ] {
            assert_eq!(strip(body, false), None, "{body}");
        }
        assert_eq!(strip("(v CHECK (t.v > 0))", true), None);
    }

    #[test]
    fn expressions_and_names() {
        assert!(single_expression("coalesce(a, b)").is_ok());
        assert!(single_expression("CASE WHEN a IS 1 THEN 'x;y' END").is_ok());
        assert!(single_expression("1); DROP TABLE t; --").is_err());
        assert!(single_expression("a, b").is_err());
        assert!(single_expression("(a").is_err());
        assert!(tokenize("'open").is_err());
        assert!(mentions_identifier("\"Phase\" IN ('x')", "phase"));
        assert!(!mentions_identifier("x IN ('phase')", "phase"));
        assert_eq!(column_name(" \"co de\" "), Some("co de".to_owned()));
        assert_eq!(column_name("NULL"), None);
        assert_eq!(column_name("a + 1"), None);
    }

    #[test]
    fn same_tokens_ignore_space_and_comments_only() {
        assert!(same_tokens("(a INT,  b)", "( a INT , -- x\n b )"));
        assert!(!same_tokens("(a INT)", "(a int)"));
        assert!(!same_tokens("(a INT)", "(a INT, b)"));
    }

    #[test]
    fn balanced_trees_stay_shallow() {
        let terms: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
        assert_eq!(
            balanced("OR", &terms),
            "(((c0) OR (c1)) OR ((c2) OR ((c3) OR (c4))))"
        );
        assert_eq!(balanced("||", &[]), "NULL");
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let many: Vec<String> = (0..5000).map(|i| format!("{i} = -1")).collect();
        let any: bool = conn
            .query_row(&format!("SELECT {}", balanced("OR", &many)), [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(!any);
    }

    #[test]
    fn temp_keyword_is_added_once() {
        assert_eq!(
            with_temp_keyword("CREATE TRIGGER x AFTER INSERT ON t BEGIN SELECT 1; END"),
            "CREATE TEMP TRIGGER x AFTER INSERT ON t BEGIN SELECT 1; END"
        );
        let already = "create temporary trigger x after insert on t begin select 1; end";
        assert_eq!(with_temp_keyword(already), already);
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
        let sql = "CREATE VIRTUAL TABLE f USING fts5(a, content = 'd''x', b=(1, 2)) -- '";
        for (i, _) in sql.char_indices() {
            let s = &sql[..i];
            let _ = virtual_table_args(s);
            let _ = literal_or_name(s);
            let _ = column_name(s);
            let _ = single_expression(s);
            let _ = mentions_identifier(s, "x");
            let _ = with_temp_keyword(s);
        }
    }

    #[test]
    fn literal_defaults_and_admitted_values() {
        use rusqlite::types::Value as V;
        for (clause, value) in [
            ("DEFAULT 0", Some(V::Integer(0))),
            ("DEFAULT -1.5", Some(V::Real(-1.5))),
            ("DEFAULT ('hi')", Some(V::Text("hi".into()))),
            ("DEFAULT NULL", Some(V::Null)),
            ("DEFAULT TRUE", Some(V::Integer(1))),
            ("DEFAULT CURRENT_TIMESTAMP", None),
            ("DEFAULT (datetime('now'))", None),
            ("DEFAULT (1 + 1)", None),
        ] {
            assert_eq!(default_literal(clause), value, "{clause}");
        }
        assert_eq!(
            allowed_values("state IN ('a', 'b''c', 3) AND length(state) < 9"),
            Some((
                "state".into(),
                vec![V::Text("a".into()), V::Text("b'c".into()), V::Integer(3)]
            ))
        );
        assert_eq!(allowed_values("state NOT IN ('a')"), None);
        assert_eq!(allowed_values("(state IN ('a')) OR state IS NULL"), None);
        assert_eq!(
            allowed_values("\"st\" IN (1)").map(|(c, _)| c),
            Some("st".into())
        );
    }

    #[test]
    fn references_are_retargeted_and_nothing_else() {
        let sql = r#"CREATE TABLE c (a REFERENCES "P" (id), b INT CHECK (b <> 'references p'), "p" INT, FOREIGN KEY (b) REFERENCES [q] ON DELETE CASCADE, z REFERENCES other)"#;
        let out = retarget_references(sql, |n, _| match n.to_ascii_lowercase().as_str() {
            "p" => Some("\"p__rebuild\"".to_owned()),
            "q" => Some("q2".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            out,
            r#"CREATE TABLE c (a REFERENCES "p__rebuild" (id), b INT CHECK (b <> 'references p'), "p" INT, FOREIGN KEY (b) REFERENCES q2 ON DELETE CASCADE, z REFERENCES other)"#
        );
    }

    #[test]
    fn view_names_are_found() {
        let sql = "CREATE TEMP VIEW IF NOT EXISTS \"main\".v AS SELECT 1";
        assert_eq!(
            view_name_span(sql).map(|(a, b)| &sql[a..b]),
            Some("\"main\".v")
        );
        assert_eq!(
            view_name_span("CREATE VIEW [my v](a) AS SELECT 1").map(|s| s.0),
            Some(12)
        );
        assert_eq!(view_name_span("CREATE TABLE t (a)"), None);
    }

    #[test]
    fn statements_split_where_they_end() {
        let script = "-- a comment; with a semicolon\nCREATE TABLE t (a TEXT DEFAULT ';');\n\
            CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  SELECT CASE WHEN new.a = 'x' THEN 1 END;\n  INSERT INTO t VALUES (';');\nEND;\n\
            /* c */ INSERT INTO t VALUES ('begin'); SELECT 1";
        assert_eq!(
            split_statements(script).unwrap(),
            vec![
                "CREATE TABLE t (a TEXT DEFAULT ';')".to_owned(),
                "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  SELECT CASE WHEN new.a = 'x' THEN 1 END;\n  INSERT INTO t VALUES (';');\nEND".to_owned(),
                "INSERT INTO t VALUES ('begin')".to_owned(),
                "SELECT 1".to_owned(),
            ]
        );
    }
}

//! Identifier quoting and SQL literal rendering: the only places where names and values
//! become SQL text.

use super::lex::{tokenize, TokenKind};
use rusqlite::types::Value;
use std::fmt::Write as _;

/// Quotes an identifier as `"name"`, doubling inner double quotes. Always double quotes:
/// single-quoted names and bare words have quirks (keywords, DQS) that double quotes avoid.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."name"`.
pub(crate) fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

/// Renders a value as an SQL literal, for scripts meant to be read or run as text.
/// Execution binds values as parameters instead.
pub(crate) fn literal(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) if f.is_nan() => "NULL".to_owned(),
        Value::Real(f) if f.is_infinite() => if *f > 0.0 { "9e999" } else { "-9e999" }.to_owned(),
        // `{:?}` keeps a decimal point or exponent, so SQLite reads it back as REAL.
        Value::Real(f) => format!("{f:?}"),
        Value::Text(s) if s.contains('\0') => {
            format!("CAST({} AS TEXT)", blob_literal(s.as_bytes()))
        }
        Value::Text(s) => format!("'{}'", s.replace('\'', "''")),
        Value::Blob(b) => blob_literal(b),
    }
}

/// `sql` with its `?N` placeholders replaced by `params[N - 1]` written as literals: the
/// statement as a person would type it. Text that does not tokenize is returned as is.
pub(crate) fn with_literals(sql: &str, params: &[Value]) -> String {
    if params.is_empty() {
        return sql.to_owned();
    }
    let Ok(tokens) = tokenize(sql) else {
        return sql.to_owned();
    };
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    for t in tokens.iter().filter(|t| t.kind == TokenKind::Variable) {
        let text = &sql[t.start..t.end];
        let value = text
            .strip_prefix('?')
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| params.get(n.wrapping_sub(1)));
        if let Some(v) = value {
            out.push_str(&sql[last..t.start]);
            out.push_str(&literal(v));
            last = t.end;
        }
    }
    out.push_str(&sql[last..]);
    out
}

fn blob_literal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2 + 3);
    out.push_str("X'");
    for b in bytes {
        let _ = write!(out, "{b:02X}");
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn identifiers_round_trip_through_sqlite() {
        let conn = Connection::open_in_memory().unwrap();
        for name in [
            "plain",
            "my \"odd\" table",
            "select",
            "col with space",
            "Ärger",
            "a'b",
        ] {
            let sql = format!("CREATE TABLE {}({} INT)", ident(name), ident(name));
            conn.execute_batch(&sql).unwrap();
            let stored: String = conn
                .query_row(
                    "SELECT name FROM sqlite_schema WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(stored, name);
            conn.execute_batch(&format!("DROP TABLE {}", ident(name)))
                .unwrap();
        }
        assert_eq!(qualified("main", "t"), "\"main\".\"t\"");
    }

    #[test]
    fn placeholders_become_literals() {
        let params = [Value::Text("a'b".into()), Value::Integer(7)];
        assert_eq!(
            with_literals("x IS ?1 THEN ?2 -- ?3 stays", &params),
            "x IS 'a''b' THEN 7 -- ?3 stays"
        );
        assert_eq!(with_literals("'?1' ?9", &params), "'?1' ?9");
    }

    #[test]
    fn literals_read_back_as_the_same_value() {
        let conn = Connection::open_in_memory().unwrap();
        let values = [
            Value::Null,
            Value::Integer(i64::MIN),
            Value::Integer(42),
            Value::Real(1.0),
            Value::Real(-2.5e-300),
            Value::Text("it's; --not a comment".into()),
            Value::Text("nul\0inside".into()),
            Value::Blob(vec![0, 1, 0xAB, 0xFF]),
        ];
        for v in values {
            let back: Value = conn
                .query_row(&format!("SELECT {}", literal(&v)), [], |r| r.get(0))
                .unwrap();
            assert_eq!(back, v, "literal {}", literal(&v));
        }
    }
}

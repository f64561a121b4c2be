//! The head of a `CREATE TRIGGER` statement: where its name is, and the table it is on as
//! written (with the schema, when the statement names one).

use super::lex::{err, Cursor, SqlError};

/// What fires a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TriggerEvent {
    Insert,
    Update,
    Delete,
}

/// The parts of `CREATE [TEMP] TRIGGER [IF NOT EXISTS] [schema.]name ... ON [schema.]table`
/// the crate needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TriggerHead {
    /// Byte span of `[schema.]name`.
    pub name_span: (usize, usize),
    pub event: TriggerEvent,
    /// The columns of `UPDATE OF a, b`, if it names any.
    pub update_of: Vec<String>,
    /// The schema the `ON` clause names, if it names one.
    pub table_schema: Option<String>,
    pub table: String,
}

/// Parses the head of a `CREATE TRIGGER` statement.
pub(crate) fn parse_trigger_head(sql: &str) -> Result<TriggerHead, SqlError> {
    let mut c = Cursor::new(sql)?;
    c.expect_kw("CREATE", "CREATE TRIGGER")?;
    let _ = c.eat_kw("TEMP") || c.eat_kw("TEMPORARY");
    c.expect_kw("TRIGGER", "CREATE TRIGGER")?;
    if c.eat_kw("IF") {
        c.expect_kw("NOT", "CREATE TRIGGER")?;
        c.expect_kw("EXISTS", "CREATE TRIGGER")?;
    }
    let (_, _, name_span) = c.qualified_name()?;
    // The event (BEFORE UPDATE OF a, b ...) runs to the first ON.
    let mut event = None;
    let mut update_of = Vec::new();
    let mut in_of = false;
    while c.peek().is_some() && !c.is_kw(c.peek(), "ON") {
        for (word, e) in [
            ("INSERT", TriggerEvent::Insert),
            ("UPDATE", TriggerEvent::Update),
            ("DELETE", TriggerEvent::Delete),
        ] {
            if event.is_none() && c.is_kw(c.peek(), word) {
                event = Some(e);
            }
        }
        if let Some(t) = c.peek() {
            if in_of
                && matches!(
                    t.kind,
                    super::lex::TokenKind::Word | super::lex::TokenKind::QuotedIdent
                )
            {
                update_of.push(super::lex::identifier_value(c.text(t)));
            }
            if event == Some(TriggerEvent::Update) && c.is_kw(Some(t), "OF") {
                in_of = true;
            }
        }
        c.i += 1;
    }
    let Some(event) = event else {
        return err("expected INSERT, UPDATE or DELETE in CREATE TRIGGER");
    };
    if !c.eat_kw("ON") {
        return err("expected ON in CREATE TRIGGER");
    }
    let (table_schema, table, _) = c.qualified_name()?;
    Ok(TriggerHead {
        name_span,
        event,
        update_of,
        table_schema,
        table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tables() {
        let sql = r#"CREATE TEMP TRIGGER IF NOT EXISTS "x y" AFTER UPDATE OF a, "on" ON main."t t" BEGIN SELECT 1; END"#;
        let head = parse_trigger_head(sql).unwrap();
        assert_eq!(&sql[head.name_span.0..head.name_span.1], "\"x y\"");
        assert_eq!(head.table_schema.as_deref(), Some("main"));
        assert_eq!(head.table, "t t");
        assert_eq!(head.event, TriggerEvent::Update);
        assert_eq!(head.update_of, ["a", "on"]);
        let head =
            parse_trigger_head("CREATE TRIGGER aux.tr BEFORE DELETE ON t BEGIN SELECT 1; END")
                .unwrap();
        assert_eq!(head.name_span, (15, 21));
        assert_eq!((head.table_schema, head.table.as_str()), (None, "t"));
        assert_eq!(head.event, TriggerEvent::Delete);
        assert!(parse_trigger_head("CREATE TRIGGER tr").is_err());
    }

    #[test]
    fn never_panics_on_prefixes() {
        let sql = "CREATE TEMP TRIGGER IF NOT EXISTS s.x INSTEAD OF INSERT ON \"v\" BEGIN SELECT ';'; END";
        for (i, _) in sql.char_indices() {
            let _ = parse_trigger_head(&sql[..i]);
        }
    }
}

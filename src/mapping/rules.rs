//! How a column's remapping rules compose, and how their hits are counted: value rules
//! before the column's first closure become one flat SQL `CASE` (their composition worked
//! out here, since it compares literals); from the first closure on, a registered function
//! applies the rest in order.

use crate::builder::{Remap, Rule};
use crate::sql::ident;
use rusqlite::types::{Value, ValueRef};

/// The function that counts rule hits during the copy.
pub(crate) const HIT_FUNCTION: &str = "sqlite_rebuild_hit";

/// Where one remap rule sits in the copy, and how its changes are counted.
#[derive(Debug, Clone)]
pub(crate) struct RuleSlot {
    pub rule: Remap,
    /// Position among the builder's rules, so the report keeps the order given.
    pub position: usize,
    pub counted: Counted,
}

/// How a rule's changes are counted.
#[derive(Debug, Clone)]
pub(crate) enum Counted {
    /// A value rule in the copy's CASE expression.
    Sql {
        /// The CASE expression over the old row that says which rule matched first
        /// (1-based, 0 when none) for this rule's column.
        first_match_expr: String,
        /// Rules of the same column (1-based positions) whose first match makes this one
        /// fire.
        fires_when_first: Vec<usize>,
    },
    /// A rule applied by a column's registered function, counted as it runs.
    Chain { chain: usize, step: usize },
}

/// The rules of one column from its first closure rule on: applied in Rust by a scalar
/// function registered for the rebuild's duration.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub function: String,
    pub column: String,
    pub rules: Vec<Rule>,
}

/// A value rule composed with the rules after it: a value equal to `from` ends as `to`,
/// having fired the rules at `fired` (0-based positions among the column's value rules).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Composed {
    pub from: Value,
    pub to: Value,
    pub fired: Vec<usize>,
}

/// Composes value rules in the order given: the first rule matching a value fires, and its
/// output passes through the later rules (`a -> b`, `b -> c` sends `a` to `c`).
pub(crate) fn compose(pairs: &[(&Value, &Value)]) -> Vec<Composed> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, (from, to))| {
            let mut value = (*to).clone();
            let mut fired = vec![i];
            for (j, (later_from, later_to)) in pairs.iter().enumerate().skip(i + 1) {
                if sql_is(&value, later_from) {
                    value = (*later_to).clone();
                    fired.push(j);
                }
            }
            Composed {
                from: (*from).clone(),
                to: value,
                fired,
            }
        })
        .collect()
}

/// Where a column's rules switch from SQL to Rust: the position of its first closure rule.
/// Value rules before it compare in SQL, under the column's affinity and collation.
pub(crate) fn first_closure(rules: &[(usize, &Remap)]) -> usize {
    rules
        .iter()
        .position(|(_, r)| matches!(r.rule, Rule::With(_)))
        .unwrap_or(rules.len())
}

/// Bound values and rule bookkeeping, filled as expressions are built.
#[derive(Debug, Default)]
pub(crate) struct RuleSink {
    /// Values bound to `?N`, in order.
    pub params: Vec<Value>,
    pub rules: Vec<RuleSlot>,
    /// For each hit number of [`HIT_FUNCTION`]: the indexes in `rules` that fire.
    pub hits: Vec<Vec<usize>>,
}

/// One flat CASE that applies a column's value rules as their composition, and the same
/// CASE counting its hits: each THEN first calls `sqlite_rebuild_hit(k)`, which counts the
/// rules that fire and returns NULL, so `coalesce` goes on to the value; the copy counts
/// them in the pass it makes anyway. `base` is the value, `compare` what is compared with
/// each rule's `from` (`base` itself, or `base` under another collation).
pub(crate) fn remap_case(
    base: &str,
    compare: &str,
    rules: &[(usize, &Remap)],
    sink: &mut RuleSink,
) -> (String, String) {
    let pairs: Vec<(&Value, &Value)> = rules
        .iter()
        .filter_map(|(_, r)| match &r.rule {
            Rule::Value { from, to } => Some((from, to)),
            Rule::With(_) => None,
        })
        .collect();
    let mut case = String::from("CASE");
    let mut counting = String::from("CASE");
    let first_slot = sink.rules.len();
    let mut from_slots = Vec::new();
    let composed = compose(&pairs);
    for c in &composed {
        sink.params.push(c.from.clone());
        let from_slot = sink.params.len();
        from_slots.push(from_slot);
        let hit = sink.hits.len();
        sink.hits
            .push(c.fired.iter().map(|pos| first_slot + pos).collect());
        sink.params.push(c.to.clone());
        let to_slot = sink.params.len();
        case.push_str(&format!(" WHEN {compare} IS ?{from_slot} THEN ?{to_slot}"));
        counting.push_str(&format!(
            " WHEN {compare} IS ?{from_slot} THEN coalesce({HIT_FUNCTION}({hit}), ?{to_slot})"
        ));
    }
    case.push_str(&format!(" ELSE {base} END"));
    counting.push_str(&format!(" ELSE {base} END"));
    let mut first = String::from("CASE");
    for (i, slot) in from_slots.iter().enumerate() {
        first.push_str(&format!(" WHEN {compare} IS ?{slot} THEN {}", i + 1));
    }
    first.push_str(" ELSE 0 END");
    for (i, (position, rule)) in rules.iter().enumerate() {
        let fires_when_first = composed
            .iter()
            .enumerate()
            .filter(|(_, c)| c.fired.contains(&i))
            .map(|(m, _)| m + 1)
            .collect();
        sink.rules.push(RuleSlot {
            rule: (*rule).clone(),
            position: *position,
            counted: Counted::Sql {
                first_match_expr: first.clone(),
                fires_when_first,
            },
        });
    }
    (case, counting)
}

/// `table.column`, quoted.
pub(crate) fn qualified_column(table: &str, column: &str) -> String {
    format!("{}.{}", ident(table), ident(column))
}

/// SQLite's `IS` between two values that carry no affinity, under BINARY collation.
pub(crate) fn sql_is(a: &Value, b: &Value) -> bool {
    sql_is_ref(a.into(), b.into())
}

/// [`sql_is`] over borrowed values.
pub(crate) fn sql_is_ref(a: ValueRef<'_>, b: ValueRef<'_>) -> bool {
    match (a, b) {
        (ValueRef::Null, ValueRef::Null) => true,
        (ValueRef::Integer(x), ValueRef::Integer(y)) => x == y,
        (ValueRef::Real(x), ValueRef::Real(y)) => x == y,
        (ValueRef::Integer(i), ValueRef::Real(r)) | (ValueRef::Real(r), ValueRef::Integer(i)) => {
            r.fract() == 0.0 && r >= -(i64::MAX as f64) && r < i64::MAX as f64 && (r as i64) == i
        }
        (ValueRef::Text(x), ValueRef::Text(y)) => x == y,
        (ValueRef::Blob(x), ValueRef::Blob(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    #[test]
    fn sql_is_agrees_with_sqlite() {
        let conn = Connection::open_in_memory().unwrap();
        let values = [
            Value::Null,
            Value::Integer(1),
            Value::Real(1.0),
            Value::Real(1.5),
            Value::Text("1".into()),
            Value::Text("a".into()),
            Value::Text("A".into()),
            Value::Blob(b"a".to_vec()),
            Value::Integer(i64::MAX),
            Value::Real(i64::MAX as f64),
        ];
        for a in &values {
            for b in &values {
                let expected: bool = conn
                    .query_row("SELECT ?1 IS ?2", [a, b], |r| r.get(0))
                    .unwrap();
                assert_eq!(sql_is(a, b), expected, "{a:?} IS {b:?}");
            }
        }
    }

    #[test]
    fn rules_compose_in_the_order_given() {
        let (a, b, c, d) = (text("a"), text("b"), text("c"), text("d"));
        // a -> b, b -> c: a ends as c, firing both; b ends as c.
        let composed = compose(&[(&a, &b), (&b, &c)]);
        assert_eq!(
            composed,
            [
                Composed {
                    from: a.clone(),
                    to: c.clone(),
                    fired: vec![0, 1]
                },
                Composed {
                    from: b.clone(),
                    to: c.clone(),
                    fired: vec![1]
                },
            ]
        );
        // A swap: a -> b then b -> a sends a back to a, and b to a.
        let swap = compose(&[(&a, &b), (&b, &a)]);
        assert_eq!(swap[0].to, a);
        assert_eq!(swap[0].fired, [0, 1]);
        assert_eq!(swap[1].to, a);
        // Later rules see the composed value, not the original: c -> d, a -> c leaves a at c.
        let later = compose(&[(&c, &d), (&a, &c)]);
        assert_eq!(later[1].to, c);
        assert_eq!(later[1].fired, [1]);
        // NULL is a value like any other.
        let null = compose(&[(&Value::Null, &a), (&a, &Value::Integer(1))]);
        assert_eq!(null[0].to, Value::Integer(1));
    }

    #[test]
    fn the_case_binds_values_and_counts_hits() {
        let rules = [
            Remap {
                column: "x".into(),
                rule: Rule::Value {
                    from: text("a"),
                    to: text("b"),
                },
            },
            Remap {
                column: "x".into(),
                rule: Rule::Value {
                    from: text("b"),
                    to: text("c"),
                },
            },
        ];
        let indexed: Vec<(usize, &Remap)> = rules.iter().enumerate().collect();
        let mut sink = RuleSink::default();
        let (case, counting) = remap_case("\"t\".\"x\"", "\"t\".\"x\"", &indexed, &mut sink);
        assert_eq!(
            case,
            "CASE WHEN \"t\".\"x\" IS ?1 THEN ?2 WHEN \"t\".\"x\" IS ?3 THEN ?4 ELSE \"t\".\"x\" END"
        );
        assert!(
            counting.contains("coalesce(sqlite_rebuild_hit(0), ?2)"),
            "{counting}"
        );
        assert_eq!(sink.params, [text("a"), text("c"), text("b"), text("c")]);
        // Hit 0 (the value was a) fires both rules; hit 1 (b) the second.
        assert_eq!(sink.hits, [vec![0, 1], vec![1]]);
        let conn = Connection::open_in_memory().unwrap();
        for (input, expected) in [("a", "c"), ("b", "c"), ("z", "z")] {
            let sql = format!("SELECT {case} FROM (SELECT ?5 AS x) AS t");
            let mut params = sink.params.clone();
            params.push(text(input));
            let out: String = conn
                .query_row(&sql, rusqlite::params_from_iter(&params), |r| r.get(0))
                .unwrap();
            assert_eq!(out, expected, "{input}");
        }
    }
}

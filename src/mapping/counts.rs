//! Counting, without changing anything, how many rows each value rule compared in SQL
//! changes: one scan of the old table (or of its first rows, for an estimate).

use super::{Counted, Mapping};
use crate::db::Table;
use crate::error::{Error, Result};
use crate::sql::ident;
use rusqlite::{params_from_iter, Connection};

impl Mapping {
    /// Rows each rule changes, in the order of `rules` (0 for closure-chain rules, which
    /// count themselves as they run), over the first `limit` rows when given.
    pub(crate) fn count_rule_hits(
        &self,
        conn: &Connection,
        source: &Table,
        limit: Option<u64>,
    ) -> Result<Vec<u64>> {
        let sql_rules: Vec<(&str, &[usize])> = self
            .rules
            .iter()
            .filter_map(|slot| match &slot.counted {
                Counted::Sql {
                    first_match_expr,
                    fires_when_first,
                } => Some((first_match_expr.as_str(), fires_when_first.as_slice())),
                Counted::Chain { .. } => None,
            })
            .collect();
        if sql_rules.is_empty() {
            return Ok(vec![0; self.rules.len()]);
        }
        // Per column: which rule matched first. Rules of one column share the expression.
        let mut exprs: Vec<&str> = Vec::new();
        for (expr, _) in &sql_rules {
            if !exprs.contains(expr) {
                exprs.push(expr);
            }
        }
        let mut sums = Vec::new();
        for (expr, fires_when_first) in &sql_rules {
            let e = exprs.iter().position(|x| x == expr).unwrap_or(0);
            let firsts: Vec<String> = fires_when_first.iter().map(|m| m.to_string()).collect();
            sums.push(format!("coalesce(sum(m{e} IN ({})), 0)", firsts.join(", ")));
        }
        let inner: Vec<String> = exprs
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{e} AS m{i}"))
            .collect();
        let sql = format!(
            "SELECT {} FROM (SELECT {} FROM {} AS {}{})",
            sums.join(", "),
            inner.join(", "),
            source.qualified(),
            ident(&source.name),
            limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default()
        );
        let n = sql_rules.len();
        let counted = (|| {
            let mut stmt = conn.prepare(&sql)?;
            // The counts use only the rules' `from` values: bind as many as the query holds.
            let used = stmt.parameter_count();
            let mut rows = stmt.query(params_from_iter(self.params.iter().take(used)))?;
            match rows.next()? {
                Some(r) => (0..n)
                    .map(|i| r.get::<_, i64>(i).map(|v| v as u64))
                    .collect(),
                None => Ok(vec![0; n]),
            }
        })();
        let mut counted = counted
            .map_err(Error::sqlite("counting the rows each remap rule changes"))?
            .into_iter();
        Ok(self
            .rules
            .iter()
            .map(|slot| match slot.counted {
                Counted::Sql { .. } => counted.next().unwrap_or(0),
                Counted::Chain { .. } => 0,
            })
            .collect())
    }
}

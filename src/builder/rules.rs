//! Remapping rules as the builder records them: a value-to-value rule or a Rust closure, on
//! one target column, in the order given.

use rusqlite::types::{ToSql, ToSqlOutput, Value, ValueRef};
use std::fmt;
use std::sync::Arc;

/// A remapping rule on one target column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Remap {
    pub column: String,
    pub rule: Rule,
}

/// What a remapping rule does to a value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rule {
    /// `from` becomes `to` (compared with SQL `IS`).
    Value { from: Value, to: Value },
    /// A Rust function computes the new value.
    With(RemapFn),
}

impl Rule {
    /// `(from, to)` of a value rule; `None` for a closure.
    pub(crate) fn values(&self) -> Option<(Value, Value)> {
        match self {
            Rule::Value { from, to } => Some((from.clone(), to.clone())),
            Rule::With(_) => None,
        }
    }
}

/// A closure rule; compared by identity, since closures cannot be compared.
#[derive(Clone)]
pub(crate) struct RemapFn(pub Arc<dyn Fn(ValueRef<'_>) -> Value + Send + Sync>);

impl fmt::Debug for RemapFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RemapFn(<closure>)")
    }
}

impl PartialEq for RemapFn {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The value behind anything rusqlite can bind, or why it is not a plain value.
pub(crate) fn owned_value(v: &dyn ToSql) -> Result<Value, String> {
    match v.to_sql() {
        Ok(ToSqlOutput::Owned(v)) => Ok(v),
        Ok(ToSqlOutput::Borrowed(v)) => Value::try_from(v).map_err(|e| e.to_string()),
        Ok(_) => {
            Err("only plain values (NULL, integer, real, text, blob) can be remapped".to_owned())
        }
        Err(e) => Err(e.to_string()),
    }
}

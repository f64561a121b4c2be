//! Row validation: which existing rows would violate the target's constraints, counted
//! exactly per constraint, with a bounded sample of each.
//!
//! Rows are evaluated as the target would store them: they are copied, through the same
//! column expressions and remapping rules, into a constraint-free TEMP table that declares
//! the target's types, collations, defaults and generated columns ([`Staging`]). Each
//! constraint is then a predicate over that table ([`probes`]), so affinity, collation and
//! the CHECK rule that only a numeric 0 fails come from SQLite itself. The script's guards
//! and the quarantine use the same predicates.

mod diagnose;
mod probes;
mod staging;

pub(crate) use diagnose::diagnose;
pub(crate) use probes::{probes, strict_storage_class, Probe};
pub(crate) use staging::Staging;

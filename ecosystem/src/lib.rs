//! Fixtures shared by the examples and tests of sqlite-rebuild inside migration frameworks:
//! the v3_plans story's schema (release 1) and its v2 downgrade target.
//!
//! `sqlite_rebuild::rusqlite` is the rusqlite the framework uses too (0.40 in this package's
//! lock), so connections and transactions pass between them.

/// The v3 schema: plans and their three child tables, an index, triggers and a view.
pub const V3_SCHEMA: &str = include_str!("../../examples/v3_plans.sql");

/// The v2 `CREATE TABLE v3_plans`, whose CHECK constraints reject v3-only values.
pub const V2_PLANS: &str = include_str!("../../examples/v3_plans_v2.sql");

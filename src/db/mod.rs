//! The database layer: the catalog read as typed values (`catalog`), the connection's
//! settings (`connection`), the SQLite version (`compat`), RAII guards that change
//! connection or schema state and always put it back (`guards`), a schema-only replica
//! of the connection's databases for dry runs (`replica`), and the statements that use
//! each view and trigger, compiled to see whether they still work (`usage`).

pub(crate) mod catalog;
mod compat;
pub(crate) mod connection;
pub(crate) mod guards;
pub(crate) mod replica;
pub(crate) mod usage;

pub(crate) use catalog::{ForeignKey, FullTextIndex, Index, IndexOrigin, Table};
pub(crate) use compat::check_sqlite;
pub use compat::MIN_SQLITE_VERSION;

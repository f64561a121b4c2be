//! The database layer: the catalog read as typed values (`catalog`), the connection's
//! settings (`connection`), the SQLite version (`compat`), and RAII guards that change
//! connection or schema state and always put it back (`guards`).

pub(crate) mod catalog;
mod compat;
pub(crate) mod connection;
pub(crate) mod guards;

pub(crate) use catalog::{ForeignKey, FullTextIndex, Index, IndexOrigin, Table};
pub(crate) use compat::check_sqlite;
pub use compat::MIN_SQLITE_VERSION;

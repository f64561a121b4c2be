//! The oldest SQLite the crate runs on, checked at run time: without the `bundled` feature the
//! library is whatever the system links.

use crate::error::{Error, Result};

/// The oldest SQLite this crate works with: 3.37.0, the first with `PRAGMA table_list` and
/// `STRICT` tables, which introspection relies on.
///
/// The `bundled` feature always satisfies it. With a system SQLite, an older library makes
/// every call return [`Error::UnsupportedSqlite`] before touching the database.
pub const MIN_SQLITE_VERSION: &str = "3.37.0";
const MIN_SQLITE_VERSION_NUMBER: i32 = 3_037_000;

/// Refuses to run on a linked SQLite older than [`MIN_SQLITE_VERSION`].
pub(crate) fn check_sqlite() -> Result<()> {
    check_version(rusqlite::version_number())
}

fn check_version(number: i32) -> Result<()> {
    if number >= MIN_SQLITE_VERSION_NUMBER {
        return Ok(());
    }
    Err(Error::UnsupportedSqlite {
        found: format!(
            "{}.{}.{}",
            number / 1_000_000,
            number / 1_000 % 1_000,
            number % 1_000
        ),
        required: MIN_SQLITE_VERSION.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_sqlite_is_refused_with_its_version() {
        let err = check_version(3_031_001).unwrap_err();
        assert!(
            matches!(&err, Error::UnsupportedSqlite { found, required }
                if found == "3.31.1" && required == "3.37.0"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "SQLite 3.31.1 is too old: sqlite-rebuild needs 3.37.0 or later"
        );
        assert!(check_version(3_037_000).is_ok());
        // The SQLite this test binary links (bundled, or the system's in CI) is supported.
        assert!(check_sqlite().is_ok(), "{}", rusqlite::version());
    }
}

//! The shape of quarantine tables, which `OnViolation::Quarantine` fills and
//! `restore_from` reads back: their extra columns and how children's are named.

/// Column of a quarantine table saying which constraints the row broke (or which parent
/// row took it along).
pub(crate) const VIOLATION: &str = "sqlite_rebuild_violation";
/// Column of a quarantine table saying when the row was moved (UTC, ISO 8601).
pub(crate) const QUARANTINED_AT: &str = "sqlite_rebuild_quarantined_at";

/// How deep child tables are followed (a cycle of foreign keys stops earlier).
pub(crate) const MAX_DEPTH: usize = 16;

/// The quarantine table of a child: named after its parent's quarantine table.
pub(crate) fn child_quarantine_name(parent_quarantine: &str, child: &str) -> String {
    format!("{parent_quarantine}__{child}")
}

/// The table that keeps a child's foreign keys set to NULL ([`Orphans::SetNull`](crate::Orphans::SetNull)).
pub(crate) fn nulled_keys_name(parent_quarantine: &str, child: &str) -> String {
    format!("{parent_quarantine}__{child}__keys")
}

/// Column of a kept-keys table: the child row's rowid.
pub(crate) const CHILD_ROWID: &str = "sqlite_rebuild_child_rowid";

/// The default quarantine table of `table`.
pub(crate) fn default_quarantine_name(table: &str) -> String {
    format!("{table}__rejected")
}

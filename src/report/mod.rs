//! Reports: what validation found and what a rebuild did, as plain data with `Display`.
//! Nothing here reads a database; the layers above fill these in.

mod progress;
mod rebuild;
mod validation;

pub use progress::{Phase, Progress};
pub use rebuild::{MovedRows, RebuildReport, RuleReport, Strategy};
pub(crate) use validation::label;
pub use validation::{
    ConstraintKind, ConstraintViolations, SampleRow, ValidationReport, ValueCount,
};

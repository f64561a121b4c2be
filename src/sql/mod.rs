//! The text layer: SQLite's tokens, the statements the crate reads (`CREATE TABLE`,
//! `CREATE INDEX`, the head of `CREATE TRIGGER`), fragments it checks or edits by byte span, and quoting. Nothing here
//! touches a database, and nothing panics on any input.
//!
//! The lexer is hand-written because the crate edits the user's own text by token spans,
//! which no SQL parser crate keeps; its `differential` tests compare it, on generated
//! statements, with `sqlite3-parser`, a port of SQLite's own tokenizer and grammar.

mod create_index;
mod create_table;
mod create_trigger;
mod fragment;
mod lex;
mod quote;
mod table_layout;

pub(crate) use create_index::{parse_create_index, CreateIndex};
pub(crate) use create_table::{parse_create_table, CreateTable};
pub(crate) use create_trigger::{parse_trigger_head, TriggerEvent};
pub(crate) use fragment::{
    allowed_values, autoincrement_span, balanced, column_name, default_literal, first_name,
    literal_or_name, mentions_identifier, replace_span, retarget_references, same_tokens,
    schema_prefix, single_expression, split_statements, view_name_span, virtual_table_args,
    virtual_table_module, with_temp_keyword, without_schema_prefix, without_self_qualifiers,
};
pub(crate) use lex::identifier_value;
pub(crate) use quote::{ident, literal, qualified, with_literals};
pub(crate) use table_layout::{
    clause_removal_span, layout_create_table, Clause, ClauseKind, ElementKind, TableLayout,
};
#[cfg(test)]
mod differential;

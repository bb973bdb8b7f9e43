//! The operations: one module per thing a user, an object event or the schedule does, named
//! after it. Each takes what was decoded (the caller, the parsed input, the invocation), applies
//! the domain's rules (`domain`) through the adapters (`table`, `storage`), and answers a typed
//! outcome; the entry points (`entry`) decode before and encode after, and map outcomes and
//! [`OperationError`] to HTTP or to the event's result.
//!
//! Arrows point one way: entry -> operations -> domain, adapters; adapters -> domain. No
//! operation knows HTTP, no adapter knows an operation, the domain knows neither.

pub mod classify;
pub mod cleanup;
pub mod confirm;
pub mod delete;
pub mod documents;
pub mod file;
pub mod object_arrived;
pub(crate) mod objects;
pub mod parts;
pub mod topics;
pub mod upload_url;

use crate::domain::InputError;
use crate::storage::StorageError;
use crate::table::TableError;

/// Why an operation could not finish: a backend failure (the event or request is retried or
/// answered 500), input refused where only the operation can tell (a 4xx), or a race it kept
/// losing until the deadline.
#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Input(#[from] InputError),
    /// The document parser's process could not be started: a fault of the function, not of
    /// the file.
    #[error("text extraction could not start: {0}")]
    Extraction(String),
    /// Other requests kept winning the same write until the deadline.
    #[error("{0}")]
    KeptLosing(&'static str),
    /// A step (named) would have run past the invocation's deadline: it was stopped, or not
    /// started, and nothing was written by it (see `domain::step_time`).
    #[error("out of time {0}")]
    OutOfTime(&'static str),
    /// The backend answered something the operation cannot accept (a bug or a misconfiguration).
    #[error("{0}")]
    Unexpected(String),
}

pub type Result<T> = std::result::Result<T, OperationError>;

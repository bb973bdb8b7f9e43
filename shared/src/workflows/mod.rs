//! The operations on documents, outside the HTTP layer: each takes parsed input, applies the
//! domain rules through the adapters and answers a typed outcome, which the handler maps to
//! HTTP. One module per operation, named like its route's handler.

mod confirm;
mod delete;
mod parts;
mod upload_url;

pub use confirm::{confirm, ConfirmOutcome};
pub use delete::{delete, DeleteOutcome};
pub use parts::{sign_parts, stored_parts, PartsOutcome, SignedPart};
pub use upload_url::{upload_url, UploadTicket, UploadUrlOutcome, UploadWay};

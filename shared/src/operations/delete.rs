//! delete: remove the document, give back what it held and remove its object.
//!
//! The row goes first, in one transaction conditional on the document as it was read, with its
//! refund and a removal record for its object; then the object. If the object's removal fails,
//! the record makes clean-up finish it: an object never outlives its last owner row.

use super::objects::remove_object;
use super::{OperationError, Result};
use crate::domain::{DocumentId, QuotaDelta, UserId};
use crate::invocation::Invocation;
use crate::metrics::Unit;
use crate::retry::RetryPolicy;
use crate::table::Write;
use crate::App;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    NotFound,
    /// Other requests changed the document on every attempt.
    KeptChanging,
}

pub async fn delete(app: &App, invocation: &Invocation, user: &UserId, id: DocumentId) -> Result<DeleteOutcome> {
    // The transaction is conditional on the state read; if a confirm changed it in between,
    // read again (bounded: each retry means another request made progress).
    let mut attempts = RetryPolicy::RACES.at_most(3).attempts(invocation);
    while attempts.next().await {
        let Some(document) = app.table.get_document(user, id).await? else {
            return Ok(DeleteOutcome::NotFound);
        };
        match app.table.delete_document(invocation, &document).await? {
            Write::Done => {
                let refunded = -QuotaDelta::removed(&document).used;
                app.metrics.emit("delete", &[], &[("BytesRefunded", Unit::Bytes, refunded as f64)]);
                // The removal record written with the deletion makes clean-up retry this.
                if let Err(error) = remove_object(&app.storage, &document).await {
                    tracing::warn!(%error, id = %document.id, "object removal failed; clean-up will retry");
                }
                return Ok(DeleteOutcome::Deleted);
            }
            Write::DocumentChanged(_) => continue,
            Write::Refused(refusal) => {
                return Err(OperationError::Unexpected(format!("deleting a document: {refusal:?}")))
            }
        }
    }
    Ok(DeleteOutcome::KeptChanging)
}

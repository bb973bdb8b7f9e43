//! delete: remove the document, give back what it held and remove its object.

use crate::error::ApiError;
use crate::invocation::Invocation;
use crate::metrics::Unit;
use crate::model::{DocumentId, UserId};
use crate::table::QuotaDelta;
use crate::App;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    NotFound,
    /// Other requests changed the document on every attempt.
    KeptChanging,
}

pub async fn delete(
    app: &App,
    invocation: &Invocation,
    user: &UserId,
    id: DocumentId,
) -> Result<DeleteOutcome, ApiError> {
    // The transaction is conditional on the state read; if a confirm changed it in between,
    // read again (bounded: each retry means another request made progress).
    for _ in 0..3 {
        let Some(document) = app.table.get_document(user, id).await? else {
            return Ok(DeleteOutcome::NotFound);
        };
        if app.table.delete_document(invocation, &document).await? {
            let refunded = -QuotaDelta::removed(&document).used;
            app.metrics.emit("delete", &[], &[("BytesRefunded", Unit::Bytes, refunded as f64)]);
            let key = document.object_key();
            app.storage.abort_unfinished(&document).await;
            // The removal record written with the deletion makes clean-up retry this if it fails.
            if let Err(error) = app.storage.delete_object(&key).await {
                tracing::warn!(%error, key, "object removal failed; clean-up will retry");
            }
            return Ok(DeleteOutcome::Deleted);
        }
    }
    Ok(DeleteOutcome::KeptChanging)
}

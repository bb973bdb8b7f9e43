//! An object arrived in storage (an S3 `ObjectCreated` event): screen it, then classify it.
//!
//! Every row is written before its upload URL is handed out, so an object under `users/`
//! without a document is an orphan: its document was deleted or cleaned up while a URL was still
//! valid, and the object is removed. A pending upload without a declared size whose object does
//! not fit what is left of the quota is rejected and its object removed at once, rather than at
//! confirm or clean-up. Everything else is classified (`classify`).

use super::classify::{classify_document, ClassifyOutcome};
use super::objects::remove_object;
use super::{OperationError, Result};
use crate::classifier::Classifier;
use crate::domain::{object_key, Document, DocumentId, DocumentStatus, UserId};
use crate::invocation::Invocation;
use crate::table::Write;
use crate::App;

/// What an arriving object led to.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrival {
    /// No document owns the object: it was removed.
    OrphanRemoved,
    /// An undeclared upload that does not fit the quota: rejected, its object removed.
    RejectedOverQuota,
    /// Classified (or skipped, and why).
    Classified(ClassifyOutcome),
}

pub async fn object_arrived(
    app: &App,
    classifier: &dyn Classifier,
    invocation: &Invocation,
    user: &UserId,
    id: DocumentId,
) -> Result<Arrival> {
    match screen(app, invocation, user, id).await? {
        Screening::Orphan => Ok(Arrival::OrphanRemoved),
        Screening::OverQuota => Ok(Arrival::RejectedOverQuota),
        Screening::Classify(document) => {
            Ok(Arrival::Classified(classify_document(app, classifier, invocation, *document).await?))
        }
    }
}

/// What the arriving object is, before any classification.
#[derive(Debug)]
enum Screening {
    Orphan,
    OverQuota,
    Classify(Box<Document>),
}

async fn screen(app: &App, invocation: &Invocation, user: &UserId, id: DocumentId) -> Result<Screening> {
    let key = object_key(user, id);
    let Some(document) = app.table.get_document(user, id).await? else {
        app.storage.delete_object(&key).await?;
        return Ok(Screening::Orphan);
    };
    if !needs_room_check(&document) {
        return Ok(Screening::Classify(Box::new(document)));
    }
    let (size, counters) = tokio::try_join!(
        async { app.storage.object_size(invocation, &key).await.map_err(OperationError::from) },
        async { app.table.get_quota_counters(user).await.map_err(OperationError::from) },
    )?;
    let Some(size) = size else { return Ok(Screening::Classify(Box::new(document))) };
    if counters.fits(app.table.policy(), size) {
        return Ok(Screening::Classify(Box::new(document)));
    }
    match app.table.reject_upload(invocation, &document, size, None).await? {
        Write::Done => {
            remove_object(&app.storage, &document).await?;
            tracing::info!(user = user.as_str(), %id, size, "an undeclared upload does not fit the quota; rejected");
            return Ok(Screening::OverQuota);
        }
        Write::DocumentChanged(_) => {}
        Write::Refused(refusal) => {
            return Err(OperationError::Unexpected(format!("rejecting an undeclared upload: {refusal:?}")))
        }
    }
    // Confirmed (or settled) meanwhile: classify what is there now.
    Ok(match app.table.get_document(user, id).await? {
        Some(document) => Screening::Classify(Box::new(document)),
        None => Screening::Orphan,
    })
}

/// Only a pending upload without a declared size can bring bytes nobody reserved: a declared
/// size is signed into the PUT and already reserved, and a settled document was charged or
/// refused at confirm.
fn needs_room_check(document: &Document) -> bool {
    document.status == DocumentStatus::Pending && document.declared_size_bytes.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_undeclared_pending_uploads_are_checked_against_the_quota() {
        let user = UserId::parse("u").unwrap();
        let undeclared = Document::pending(user.clone(), "a.txt".into(), "text/plain".into(), None, 0);
        assert!(needs_room_check(&undeclared));
        let declared = Document::pending(user, "a.txt".into(), "text/plain".into(), Some(3), 0);
        assert!(!needs_room_check(&declared));
        let confirmed = Document { status: DocumentStatus::Uploaded, ..undeclared };
        assert!(!needs_room_check(&confirmed));
    }
}

//! An object arrived in storage (an S3 `ObjectCreated` event): screen it, then classify it.
//!
//! Every row is written before its upload URL is handed out, so an object under `users/`
//! without a document is an orphan: its document was deleted or cleaned up while a URL was still
//! valid, and the object is removed. So is an object whose document was rejected: its URL may
//! still work after the rejection removed the first object, and nothing would ever pay for a
//! second one. A pending upload without a declared size reserves its object's size now, in one
//! conditional write (`Transition::reserve_arrival`), as a declared size is reserved at
//! upload-url; if it does not fit, the upload is rejected and its object removed at once, rather
//! than at confirm or clean-up. Everything else is classified (`classify`).
//!
//! A pending single upload whose client asked for it at upload-url (`confirm_on_arrival`, the
//! web page does) is confirmed here, before it is classified: its object is read once, as
//! classification reads it, and confirm's checks and charge (`confirm::confirm_stored`, the
//! same as for `POST .../confirm`) take the size and first bytes from that read. A confirm
//! request for it later, or at the same time, answers as this one decided.

use super::classify::{classify_document, classify_read, read_for_classifying, ClassifyOutcome, SkipReason};
use super::confirm::{confirm_stored, ConfirmOutcome, Settling};
use super::objects::remove_object;
use super::{OperationError, Result};
use crate::auth::now_unix;
use crate::classifier::Classifier;
use crate::domain::{object_key, Document, DocumentId, DocumentStatus, PendingCharge, QuotaRefusal, UserId};
use crate::invocation::Invocation;
use crate::sniff;
use crate::storage::ObjectRead;
use crate::table::{Overwrite, Write};
use crate::App;

/// What an arriving object led to.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrival {
    /// No document owns the object: it was removed.
    OrphanRemoved,
    /// Its document was rejected earlier (a URL used again): the object was removed.
    RejectedObjectRemoved,
    /// An undeclared upload that does not fit the quota: rejected, its object removed.
    RejectedOverQuota,
    /// Confirmed on arrival and refused (413 or 415, as confirm answers): rejected, its object
    /// removed.
    Refused(ConfirmOutcome),
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
        Screening::Rejected => Ok(Arrival::RejectedObjectRemoved),
        Screening::OverQuota => Ok(Arrival::RejectedOverQuota),
        Screening::Confirm(document) => confirm_then_classify(app, classifier, invocation, *document).await,
        Screening::Classify(document) => Ok(Arrival::Classified(
            classify_document(app, classifier, invocation, *document, Overwrite::KeepUsersChoice).await?,
        )),
    }
}

/// What the arriving object is, before any classification.
#[derive(Debug)]
enum Screening {
    Orphan,
    Rejected,
    OverQuota,
    Confirm(Box<Document>),
    Classify(Box<Document>),
}

async fn screen(app: &App, invocation: &Invocation, user: &UserId, id: DocumentId) -> Result<Screening> {
    let key = object_key(user, id);
    let Some(document) = app.table.get_document(user, id).await? else {
        app.storage.delete_object(&key).await?;
        return Ok(Screening::Orphan);
    };
    if document.status == DocumentStatus::Rejected {
        remove_object(&app.storage, &document).await?;
        tracing::info!(user = user.as_str(), %id, "an object arrived for a rejected upload; removed");
        return Ok(Screening::Rejected);
    }
    if document.confirms_on_arrival() {
        return Ok(Screening::Confirm(Box::new(document)));
    }
    if !needs_reservation(&document) {
        return Ok(Screening::Classify(Box::new(document)));
    }
    let Some(size) = app.storage.object_size(invocation, &key).await? else {
        return Ok(Screening::Classify(Box::new(document)));
    };
    match app.table.reserve_arrival(invocation, &document, size).await? {
        None | Some(Write::Done) => {
            let reserved = Document { arrival_bytes: Some(size), ..document };
            return Ok(Screening::Classify(Box::new(reserved)));
        }
        // Reserved by a duplicate event, confirmed, or removed meanwhile: look again.
        Some(Write::DocumentChanged(_)) => return reread(app, user, id).await,
        Some(Write::Refused(QuotaRefusal::OverQuota(_))) => {}
        Some(Write::Refused(refusal)) => {
            return Err(OperationError::Unexpected(format!("reserving an arrival: {refusal:?}")))
        }
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
    reread(app, user, id).await
}

/// The document as it is now, after another writer changed it: classified if it is still
/// there (a rejected one is skipped by classification), an orphan otherwise.
async fn reread(app: &App, user: &UserId, id: DocumentId) -> Result<Screening> {
    Ok(match app.table.get_document(user, id).await? {
        Some(document) => Screening::Classify(Box::new(document)),
        None => Screening::Orphan,
    })
}

/// Confirms `document` from its object, read once, and classifies it if it was charged.
async fn confirm_then_classify(
    app: &App,
    classifier: &dyn Classifier,
    invocation: &Invocation,
    document: Document,
) -> Result<Arrival> {
    let read = read_for_classifying(app, invocation, &document).await?;
    let start = match read.object() {
        Some(ObjectRead::Missing) => None,
        object => match object.and_then(|object| object.start(sniff::HEAD_BYTES)) {
            Some(start) => Some(start),
            // Not read, or not enough of it: a type no extractor reads, a document larger than
            // classification reads whole, a text prefix shorter than the check needs.
            None => app.storage.peek(invocation, &document.object_key(), sniff::HEAD_BYTES).await?,
        },
    };
    let Some(start) = start else {
        // Removed since its event was sent (deleted, or cleaned up): nothing to confirm.
        return Ok(Arrival::Classified(ClassifyOutcome::Skipped(SkipReason::NoObject)));
    };
    let whole = read.object().and_then(ObjectRead::whole);
    let (document, settling) = match confirm_stored(app, invocation, document.clone(), start, whole, Settling::ByCaller)
        .await?
    {
        // Charged; in two steps (`PendingCharge::confirming` says whether), the second, which
        // moves the document to uploaded, is the classification's own write.
        ConfirmOutcome::Uploaded { size_bytes, .. } => {
            let settling = PendingCharge::confirming(&document, size_bytes, now_unix());
            (Document { status: DocumentStatus::Uploaded, size_bytes: Some(size_bytes), ..document }, settling)
        }
        // Left pending by a concurrent request after all: classified as it is, as any arrival.
        ConfirmOutcome::StillPending => (document, None),
        refused @ (ConfirmOutcome::OverQuota(_) | ConfirmOutcome::WrongContent(_)) => {
            tracing::info!(user = document.owner.as_str(), id = %document.id, ?refused, "refused on arrival");
            return Ok(Arrival::Refused(refused));
        }
        // Deleted or cleaned up meanwhile (confirm removed the object it found without a row).
        ConfirmOutcome::NotFound => return Ok(Arrival::OrphanRemoved),
        ConfirmOutcome::NotInStorage => return Ok(Arrival::Classified(ClassifyOutcome::Skipped(SkipReason::NoObject))),
        ConfirmOutcome::MissingParts(parts) => {
            return Err(OperationError::Unexpected(format!(
                "a single upload confirmed on arrival lacks parts {parts:?}"
            )))
        }
    };
    let owner = document.owner.clone();
    let overwrite = Overwrite::KeepUsersChoice;
    let classified = classify_read(app, classifier, invocation, document, read, overwrite, settling.as_ref()).await?;
    if let (Some(charge), false) = (&settling, matches!(classified, ClassifyOutcome::Recorded(_))) {
        // Nothing recorded (filed by hand meanwhile, or gone): the charge is settled alone.
        app.table.settle(invocation, &owner, charge).await?;
    }
    Ok(Arrival::Classified(classified))
}

/// Only a pending upload without a reservation can bring bytes nobody reserved: a declared size
/// is signed into the PUT and reserved at upload-url, an arrival reserves once, and a settled
/// document was charged or refused at confirm.
fn needs_reservation(document: &Document) -> bool {
    document.status == DocumentStatus::Pending && document.reserved_bytes().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_undeclared_pending_uploads_reserve_on_arrival() {
        let user = UserId::parse("u").unwrap();
        let undeclared = Document::pending(user.clone(), "a.txt".into(), "text/plain".into(), None, 0);
        assert!(needs_reservation(&undeclared));
        let declared = Document::pending(user, "a.txt".into(), "text/plain".into(), Some(3), 0);
        assert!(!needs_reservation(&declared));
        let arrived = Document { arrival_bytes: Some(3), ..undeclared.clone() };
        assert!(!needs_reservation(&arrived), "a duplicate event reserves nothing more");
        let confirmed = Document { status: DocumentStatus::Uploaded, ..undeclared };
        assert!(!needs_reservation(&confirmed));
    }
}

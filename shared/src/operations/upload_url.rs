//! upload-url: create the pending document (counted against the user's open uploads, its
//! declared size reserved) and sign the PUT that stores its object, or start the multipart
//! upload that stores it in parts.

use super::{OperationError, Result};
use crate::auth::now_unix;
use crate::domain::{
    Document, DocumentId, MultipartPlan, MultipartUpload, NewUpload, QuotaExceeded, QuotaRefusal, UserId,
};
use crate::invocation::Invocation;
use crate::metrics::Unit;
use crate::storage::PresignedUpload;
use crate::table::Write;
use crate::App;

/// What the client needs to store the file.
#[derive(Debug, Clone)]
pub struct UploadTicket {
    pub document_id: DocumentId,
    /// Unix seconds after which no URL for this upload works.
    pub expires_at: i64,
    pub how: UploadWay,
    /// Confirmed when its object arrives (`Document::confirm_on_arrival`).
    pub confirm_on_arrival: bool,
}

#[derive(Debug, Clone)]
pub enum UploadWay {
    /// One PUT to this URL with exactly its signed headers.
    SinglePut(PresignedUpload),
    /// Parts, each PUT to a URL from the parts route.
    Multipart(MultipartPlan),
}

#[derive(Debug, Clone)]
pub enum UploadUrlOutcome {
    Created(UploadTicket),
    /// The declared size does not fit what is left; nothing written.
    OverQuota(QuotaExceeded),
    /// The user has `open` pending uploads, the most allowed; nothing written.
    TooManyPending {
        open: u64,
        max: u64,
    },
}

pub async fn upload_url(
    app: &App,
    invocation: &Invocation,
    user: UserId,
    upload: NewUpload,
) -> Result<UploadUrlOutcome> {
    let now = now_unix();
    let multipart = upload.multipart;
    let mut document = Document {
        checksum_sha256: upload.checksum_sha256,
        confirm_on_arrival: upload.confirm_on_arrival,
        ..Document::pending(user, upload.filename, upload.content_type, upload.size_bytes, now)
    };
    let expiry = app.config.upload_url_expiry;
    let how = match multipart {
        // Signing is local, so the table write is this request's only round trip.
        false => UploadWay::SinglePut(app.storage.presign_upload(&document, expiry).await?),
        true => {
            let part_size = app.config.multipart_part_size;
            let plan = MultipartPlan::new(document.declared_size_bytes.unwrap_or_default(), part_size)?;
            // Started first, so the row that is written names it; dropped again if refused.
            let (key, algorithm) = (document.object_key(), upload.checksum_algorithm);
            let upload_id = app.storage.start_multipart(&key, &document.content_type, algorithm).await?;
            document.multipart = Some(MultipartUpload { upload_id, part_size, checksum_algorithm: algorithm });
            UploadWay::Multipart(plan)
        }
    };
    let refusal = match app.table.create_document(invocation, &document).await? {
        Write::Done | Write::DocumentChanged(_) => {
            let ticket = UploadTicket {
                document_id: document.id,
                expires_at: now + expiry.as_secs() as i64,
                how,
                confirm_on_arrival: document.confirm_on_arrival,
            };
            return Ok(UploadUrlOutcome::Created(ticket));
        }
        Write::Refused(refusal) => refusal,
    };
    if let Some(multipart) = &document.multipart {
        // The bucket's lifecycle rule aborts it later if this fails.
        if let Err(error) = app.storage.abort_multipart(&document.object_key(), &multipart.upload_id).await {
            tracing::warn!(%error, "could not abort the multipart upload of a refused document");
        }
    }
    let outcome = refused(app.table.policy(), &document, refusal)?;
    if matches!(outcome, UploadUrlOutcome::OverQuota(_)) {
        app.metrics.emit("upload-url", &[], &[("QuotaRefusals", Unit::Count, 1.0)]);
    }
    Ok(outcome)
}

/// What a refusal of the new document's write means for the client.
fn refused(
    policy: &crate::domain::QuotaPolicy,
    document: &Document,
    refusal: QuotaRefusal,
) -> Result<UploadUrlOutcome> {
    match refusal {
        QuotaRefusal::TooManyPending { open, max } => Ok(UploadUrlOutcome::TooManyPending { open, max }),
        QuotaRefusal::OverQuota(before) => {
            Ok(UploadUrlOutcome::OverQuota(before.exceeded_by(policy, document.declared_size_bytes.unwrap_or(0))))
        }
        other => Err(OperationError::Unexpected(format!("creating a document: {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{QuotaCounters, QuotaPolicy};

    #[test]
    fn a_refused_start_is_a_413_with_the_declared_size_or_a_429() {
        let policy = QuotaPolicy { default_limit_bytes: 100, max_pending_uploads: 2, max_topics: 5 };
        let user = UserId::parse("u").unwrap();
        let document = Document::pending(user, "a.txt".into(), "text/plain".into(), Some(70), 0);
        let before = QuotaCounters { used_bytes: 50, ..QuotaCounters::default() };
        let expected = QuotaExceeded { used_bytes: 50, limit_bytes: 100, rejected_bytes: 70 };
        assert!(matches!(
            refused(&policy, &document, QuotaRefusal::OverQuota(before)),
            Ok(UploadUrlOutcome::OverQuota(body)) if body == expected
        ));
        assert!(matches!(
            refused(&policy, &document, QuotaRefusal::TooManyPending { open: 2, max: 2 }),
            Ok(UploadUrlOutcome::TooManyPending { open: 2, max: 2 })
        ));
        assert!(refused(&policy, &document, QuotaRefusal::UsageMoved(before)).is_err());
    }
}

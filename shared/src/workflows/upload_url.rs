//! upload-url: create the pending document (counted against the user's open uploads, its
//! declared size reserved) and sign the PUT that stores its object, or start the multipart
//! upload that stores it in parts.

use crate::auth::now_unix;
use crate::error::{ApiError, QuotaExceeded};
use crate::invocation::Invocation;
use crate::metrics::Unit;
use crate::model::{Document, DocumentId, MultipartPlan, MultipartUpload, NewUpload, UserId};
use crate::storage::PresignedUpload;
use crate::table::NewDocumentRefusal;
use crate::App;

/// What the client needs to store the file.
#[derive(Debug, Clone)]
pub struct UploadTicket {
    pub document_id: DocumentId,
    /// Unix seconds after which no URL for this upload works.
    pub expires_at: i64,
    pub how: UploadWay,
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
) -> Result<UploadUrlOutcome, ApiError> {
    let now = now_unix();
    let multipart = upload.multipart;
    let mut document = Document {
        checksum_sha256: upload.checksum_sha256,
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
        Ok(()) => {
            let ticket = UploadTicket { document_id: document.id, expires_at: now + expiry.as_secs() as i64, how };
            return Ok(UploadUrlOutcome::Created(ticket));
        }
        Err(refusal) => refusal,
    };
    if let Some(multipart) = &document.multipart {
        // The bucket's lifecycle rule aborts it later if this fails.
        if let Err(error) = app.storage.abort_multipart(&document.object_key(), &multipart.upload_id).await {
            tracing::warn!(%error, "could not abort the multipart upload of a refused document");
        }
    }
    Ok(match refusal {
        NewDocumentRefusal::OverQuota(exceeded) => {
            app.metrics.emit("upload-url", &[], &[("QuotaRefusals", Unit::Count, 1.0)]);
            UploadUrlOutcome::OverQuota(exceeded)
        }
        NewDocumentRefusal::TooManyPending { open, max } => UploadUrlOutcome::TooManyPending { open, max },
    })
}

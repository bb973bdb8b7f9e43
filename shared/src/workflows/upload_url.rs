//! upload-url: create the pending document (counted against the user's open uploads, its
//! declared size reserved) and sign the PUT that stores its object.

use std::collections::BTreeMap;

use crate::auth::now_unix;
use crate::error::{ApiError, QuotaExceeded};
use crate::invocation::Invocation;
use crate::metrics::Unit;
use crate::model::{Document, DocumentId, NewUpload, UserId};
use crate::table::NewDocumentRefusal;
use crate::App;

/// What the client needs to store the file.
#[derive(Debug, Clone)]
pub struct UploadTicket {
    pub document_id: DocumentId,
    pub upload_url: String,
    /// Send exactly these headers with the PUT: they are part of the signature.
    pub headers: BTreeMap<String, String>,
    /// Unix seconds after which the URL no longer works.
    pub expires_at: i64,
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
    let document = Document {
        checksum_sha256: upload.checksum_sha256,
        ..Document::pending(user, upload.filename, upload.content_type, upload.size_bytes, now)
    };
    let expiry = app.config.upload_url_expiry;
    // Signing is local, so the table write is this request's only round trip.
    let presigned = app.storage.presign_upload(&document, expiry).await?;
    Ok(match app.table.create_document(invocation, &document).await? {
        Ok(()) => UploadUrlOutcome::Created(UploadTicket {
            document_id: document.id,
            upload_url: presigned.url,
            headers: presigned.headers,
            expires_at: now + expiry.as_secs() as i64,
        }),
        Err(NewDocumentRefusal::OverQuota(exceeded)) => {
            app.metrics.emit("upload-url", &[], &[("QuotaRefusals", Unit::Count, 1.0)]);
            UploadUrlOutcome::OverQuota(exceeded)
        }
        Err(NewDocumentRefusal::TooManyPending { open, max }) => UploadUrlOutcome::TooManyPending { open, max },
    })
}

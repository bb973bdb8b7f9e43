//! The HTTP operations, one public function per Lambda function. Each checks the method,
//! identifies the caller, validates input, then applies the domain rules through the adapters.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde::Serialize;
use serde_json::json;

use crate::auth::{caller, now_unix};
use crate::classify::{classify_document, Classifier, ClassifyOutcome, SkipReason};
use crate::error::{ApiError, QuotaExceeded};
use crate::http::{
    empty_response, json_body, json_response, path_document_id, path_topic_id, query_param, require_method,
    required_document_id, respond, rfc3339,
};
use crate::model::{
    object_key, Classification, Document, DocumentId, DocumentStatus, NewTopicRequest, UploadUrlRequest, UserId,
};
use crate::table::ConfirmOutcome;
use crate::App;

const DEFAULT_PAGE_SIZE: u32 = 20;
const MAX_PAGE_SIZE: u32 = 100;

/// POST /api/documents/upload-url
pub async fn upload_url(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(create_upload(app, &request).await))
}

/// POST /api/documents/{id}/confirm
pub async fn confirm(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(confirm_upload(app, &request).await))
}

/// GET /api/auth/me/quota
pub async fn quota(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(read_quota(app, &request).await))
}

/// DELETE /api/documents/{id}
pub async fn delete(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(delete_document(app, &request).await))
}

/// GET /api/documents and GET /api/documents/{id}
pub async fn documents(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(read_documents(app, &request).await))
}

/// POST /api/documents/{id}/classify
pub async fn reclassify(app: &App, classifier: &dyn Classifier, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(classify_now(app, classifier, &request).await))
}

/// GET /api/topics, POST /api/topics, DELETE /api/topics/{id}
pub async fn topics(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(manage_topics(app, &request).await))
}

fn identify(app: &App, request: &Request) -> Result<UserId, ApiError> {
    caller(request, app.config.local_jwt_secret.as_deref())
}

#[derive(Serialize)]
struct UploadUrlResponse {
    upload_url: String,
    document_id: DocumentId,
    expires_at: String,
    /// Send exactly these headers with the PUT: they are part of the signature.
    headers: std::collections::BTreeMap<String, String>,
}

async fn create_upload(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::POST)?;
    let user = identify(app, request)?;
    let upload = json_body::<UploadUrlRequest>(request)?.validate(&app.config.allowed_content_types)?;
    let now = now_unix();
    let document = Document::pending(user, upload.filename, upload.content_type, upload.size_bytes, now);
    let expiry = app.config.upload_url_expiry;
    // Signing is local, so the table write is this request's only round trip.
    let presigned = app
        .storage
        .presign_upload(&document.object_key(), &document.content_type, document.declared_size_bytes, expiry)
        .await?;
    app.table.create_document(&document).await?;
    Ok(json_response(
        StatusCode::OK,
        &UploadUrlResponse {
            upload_url: presigned.url,
            document_id: document.id,
            expires_at: rfc3339(now + expiry.as_secs() as i64),
            headers: presigned.headers,
        },
    ))
}

async fn confirm_upload(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::POST)?;
    let user = identify(app, request)?;
    let id = required_document_id(request)?;
    let key = object_key(&user, id);
    // The size comes from storage, never from the client.
    let Some(size) = app.storage.object_size(&key).await? else {
        return match app.table.get_document(&user, id).await? {
            None => Err(ApiError::NotFound("Document")),
            Some(document) if document.status == DocumentStatus::Pending => Err(ApiError::invalid(
                "Upload not found in storage: PUT the file to upload_url before confirming (the URL may have expired)",
            )),
            Some(document) => settled_answer(app, &document).await,
        };
    };
    match app.table.confirm_upload(&user, id, size, now_unix()).await? {
        ConfirmOutcome::Confirmed => confirmed(app, &user, id, size).await,
        ConfirmOutcome::AlreadyUploaded { size_bytes } => confirmed(app, &user, id, size_bytes).await,
        ConfirmOutcome::AlreadyRejected { rejected_bytes } => rejected(app, &user, rejected_bytes).await,
        ConfirmOutcome::NotFound => {
            // An object under our key with no row is an orphan (its upload was cleaned up or
            // deleted before the PUT landed); ids are never reused, so nothing can claim it.
            if let Err(error) = app.storage.delete_object(&key).await {
                tracing::warn!(%error, key, "could not remove orphan object");
            }
            Err(ApiError::NotFound("Document"))
        }
        ConfirmOutcome::OverQuota(exceeded) => {
            if app.table.reject_upload(&user, id, size).await? {
                // If this fails the rejected row stays in the pending index and clean-up removes it.
                if let Err(error) = app.storage.delete_object(&key).await {
                    tracing::warn!(%error, key, "could not remove rejected object; clean-up will");
                }
                return Err(ApiError::QuotaExceeded(exceeded));
            }
            // A concurrent request settled the document first: answer with its state.
            match app.table.get_document(&user, id).await? {
                Some(document) => settled_answer(app, &document).await,
                None => Err(ApiError::NotFound("Document")),
            }
        }
    }
}

/// The answer for a document that confirm already decided on.
async fn settled_answer(app: &App, document: &Document) -> Result<Response<Body>, ApiError> {
    let size = document.size_bytes.unwrap_or_default();
    match document.status {
        DocumentStatus::Uploaded => confirmed(app, &document.owner, document.id, size).await,
        DocumentStatus::Rejected => rejected(app, &document.owner, size).await,
        DocumentStatus::Pending => Err(ApiError::Conflict("the document is still pending".into())),
    }
}

async fn confirmed(app: &App, user: &UserId, id: DocumentId, size: u64) -> Result<Response<Body>, ApiError> {
    // TransactWriteItems returns no values, so the exact usage after the charge is read back.
    let quota = app.table.get_quota(user).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "id": id, "size_bytes": size, "used_bytes": quota.used_bytes, "status": DocumentStatus::Uploaded }),
    ))
}

async fn rejected(app: &App, user: &UserId, rejected_bytes: u64) -> Result<Response<Body>, ApiError> {
    let quota = app.table.get_quota(user).await?;
    Err(ApiError::QuotaExceeded(QuotaExceeded {
        used_bytes: quota.used_bytes,
        limit_bytes: quota.limit_bytes,
        rejected_bytes,
    }))
}

async fn read_quota(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::GET)?;
    let user = identify(app, request)?;
    Ok(json_response(StatusCode::OK, &app.table.get_quota(&user).await?))
}

async fn delete_document(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::DELETE)?;
    let user = identify(app, request)?;
    let id = required_document_id(request)?;
    // The transaction is conditional on the state read; if a confirm changed it in between,
    // read again (bounded: each retry means another request made progress).
    for _ in 0..3 {
        let Some(document) = app.table.get_document(&user, id).await? else {
            return Err(ApiError::NotFound("Document"));
        };
        if app.table.delete_document(&document).await? {
            let key = document.object_key();
            // The removal row written with the deletion makes clean-up retry this if it fails.
            if let Err(error) = app.storage.delete_object(&key).await {
                tracing::warn!(%error, key, "object removal failed; clean-up will retry");
            }
            return Ok(empty_response(StatusCode::NO_CONTENT));
        }
    }
    Err(ApiError::Conflict("the document changed repeatedly while deleting; try again".into()))
}

#[derive(Serialize)]
struct DocumentView {
    id: DocumentId,
    filename: String,
    content_type: String,
    status: DocumentStatus,
    size_bytes: Option<u64>,
    created_at: String,
    uploaded_at: Option<String>,
    #[serde(flatten)]
    classification: Classification,
    #[serde(skip_serializing_if = "Option::is_none")]
    download_url: Option<String>,
}

impl DocumentView {
    fn new(document: Document, download_url: Option<String>) -> Self {
        Self {
            id: document.id,
            filename: document.filename,
            content_type: document.content_type,
            status: document.status,
            size_bytes: document.size_bytes,
            created_at: rfc3339(document.created_at),
            uploaded_at: document.uploaded_at.map(rfc3339),
            classification: document.classification,
            download_url,
        }
    }
}

async fn read_documents(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::GET)?;
    let user = identify(app, request)?;
    match path_document_id(request)? {
        Some(id) => get_document(app, &user, id).await,
        None => list_documents(app, request, &user).await,
    }
}

async fn get_document(app: &App, user: &UserId, id: DocumentId) -> Result<Response<Body>, ApiError> {
    let document = app.table.get_document(user, id).await?.ok_or(ApiError::NotFound("Document"))?;
    let download_url = match document.status {
        DocumentStatus::Uploaded => Some(
            app.storage
                .presign_download(&document.object_key(), &document.filename, app.config.download_url_expiry)
                .await?,
        ),
        _ => None,
    };
    Ok(json_response(StatusCode::OK, &DocumentView::new(document, download_url)))
}

async fn list_documents(app: &App, request: &Request, user: &UserId) -> Result<Response<Body>, ApiError> {
    let limit = match query_param(request, "limit") {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_PAGE_SIZE).contains(l))
            .ok_or_else(|| ApiError::invalid(format!("limit must be an integer from 1 to {MAX_PAGE_SIZE}")))?,
    };
    let cursor = query_param(request, "cursor")
        .filter(|c| !c.is_empty())
        .map(|c| DocumentId::parse(&c).map_err(|_| ApiError::invalid("cursor is not one this API returned")))
        .transpose()?;
    let page = app.table.list_documents(user, limit, cursor).await?;
    let items: Vec<DocumentView> = page.documents.into_iter().map(|d| DocumentView::new(d, None)).collect();
    Ok(json_response(StatusCode::OK, &json!({ "items": items, "next_cursor": page.next })))
}

async fn classify_now(app: &App, classifier: &dyn Classifier, request: &Request) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::POST)?;
    let user = identify(app, request)?;
    let id = required_document_id(request)?;
    let document = app.table.get_document(&user, id).await?.ok_or(ApiError::NotFound("Document"))?;
    match classify_document(app, classifier, &user, id).await? {
        ClassifyOutcome::Recorded(classification) => {
            Ok(json_response(StatusCode::OK, &DocumentView::new(Document { classification, ..document }, None)))
        }
        ClassifyOutcome::Skipped(SkipReason::NoObject) => {
            Err(ApiError::invalid("Upload not found in storage: PUT the file to upload_url first"))
        }
        ClassifyOutcome::Skipped(SkipReason::Rejected) => {
            Err(ApiError::Conflict("the document was rejected for exceeding the quota".into()))
        }
        ClassifyOutcome::Skipped(SkipReason::NoDocument) => Err(ApiError::NotFound("Document")),
    }
}

async fn manage_topics(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let user = identify(app, request)?;
    let id = path_topic_id(request)?;
    match (request.method(), id) {
        (&Method::GET, None) => Ok(json_response(StatusCode::OK, &app.table.list_topics(&user).await?)),
        (&Method::POST, None) => {
            let (name, description) = json_body::<NewTopicRequest>(request)?.validate()?;
            let topic = app.table.create_topic(&user, &name, &description, now_unix()).await?;
            Ok(json_response(StatusCode::CREATED, &topic))
        }
        (&Method::DELETE, Some(id)) => match app.table.delete_topic(&user, id).await? {
            true => Ok(empty_response(StatusCode::NO_CONTENT)),
            false => Err(ApiError::NotFound("Topic")),
        },
        _ => Err(ApiError::MethodNotAllowed),
    }
}

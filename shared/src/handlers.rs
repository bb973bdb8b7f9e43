//! The HTTP operations, one public function per route group. Each checks the method, identifies
//! the caller, parses the input, calls one workflow step and maps its typed outcome to HTTP;
//! errors become `{"detail": ...}` in one place (`http::respond`).

use std::time::{Duration, Instant};

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::json;
use tracing::Instrument;

use crate::auth::{caller, now_unix};
use crate::classify::{self, Classifier, ClassifyOutcome, SkipReason};
use crate::error::ApiError;
use crate::http::{
    empty_response, json_body, json_response, path_document_id, path_topic_id, query_param, require_method,
    required_document_id, respond, rfc3339,
};
use crate::invocation::Invocation;
use crate::model::{
    Classification, Document, DocumentId, DocumentStatus, MultipartPlan, NewTopicRequest, PartsRequest, TopicId,
    UploadUrlRequest, UserId,
};
use crate::workflows::{self, ConfirmOutcome, DeleteOutcome, PartsOutcome, UploadUrlOutcome, UploadWay};
use crate::{xray, App};

const DEFAULT_PAGE_SIZE: u32 = 20;
const MAX_PAGE_SIZE: u32 = 100;

/// POST /api/documents/upload-url
pub async fn upload_url(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(answer(app, "upload-url", &request, handle_upload_url(app, &request)).await)
}

/// POST /api/documents/{id}/confirm
pub async fn confirm(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(answer(app, "confirm", &request, handle_confirm(app, &request)).await)
}

/// POST /api/documents/{id}/parts, GET /api/documents/{id}/parts
pub async fn parts(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(answer(app, "parts", &request, handle_parts(app, &request)).await)
}

/// GET /api/auth/me/quota
pub async fn quota(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(answer(app, "quota", &request, handle_quota(app, &request)).await)
}

/// DELETE /api/documents/{id}
pub async fn delete(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(answer(app, "delete", &request, handle_delete(app, &request)).await)
}

/// GET /api/documents and GET /api/documents/{id}
pub async fn documents(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(answer(app, "documents", &request, handle_documents(app, &request)).await)
}

/// POST /api/documents/{id}/classify
pub async fn reclassify(app: &App, classifier: &dyn Classifier, request: Request) -> Result<Response<Body>, Error> {
    Ok(answer(app, "reclassify", &request, handle_reclassify(app, classifier, &request)).await)
}

/// GET /api/topics, POST /api/topics, DELETE /api/topics/{id}
pub async fn topics(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(answer(app, "topics", &request, handle_topics(app, &request)).await)
}

/// Runs one request's work in a span naming its operation (every log line of it carries the
/// operation, beside the runtime's request id) and under the invocation's X-Ray trace, maps its
/// result to HTTP and records its metrics.
async fn answer(
    app: &App,
    operation: &'static str,
    request: &Request,
    work: impl std::future::Future<Output = Result<Response<Body>, ApiError>>,
) -> Response<Body> {
    let started = Instant::now();
    let trace = request.lambda_context_ref().and_then(|context| context.xray_trace_id.as_deref());
    // Boxed: the handlers' futures are large, and this one is awaited inside every function's.
    let work = Box::pin(work.instrument(tracing::info_span!("request", operation)));
    let response = respond(xray::traced(trace, work).await);
    app.metrics.request(operation, response.status().as_u16(), started.elapsed());
    response
}

fn identify(app: &App, request: &Request) -> Result<UserId, ApiError> {
    caller(request, app.config.local_jwt_secret.as_deref())
}

/// This request's invocation: its Lambda request id and deadline when it has them.
fn invocation(request: &Request) -> Invocation {
    match request.lambda_context_ref() {
        Some(context) => Invocation::from_context(context),
        None => Invocation::standalone(Duration::from_secs(10)),
    }
}

#[derive(Serialize)]
struct UploadUrlResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    upload_url: Option<String>,
    document_id: DocumentId,
    expires_at: String,
    /// Send exactly these headers with the PUT: they are part of the signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<std::collections::BTreeMap<String, String>>,
    /// Instead of the two above for a multipart upload: how it is cut into parts.
    #[serde(skip_serializing_if = "Option::is_none")]
    multipart: Option<MultipartPlan>,
}

async fn handle_upload_url(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::POST)?;
    let user = identify(app, request)?;
    let upload = json_body::<UploadUrlRequest>(request)?.validate(&app.config.allowed_content_types)?;
    match workflows::upload_url(app, &invocation(request), user, upload).await? {
        UploadUrlOutcome::Created(ticket) => {
            let (upload_url, headers, multipart) = match ticket.how {
                UploadWay::SinglePut(put) => (Some(put.url), Some(put.headers), None),
                UploadWay::Multipart(plan) => (None, None, Some(plan)),
            };
            let expires_at = rfc3339(ticket.expires_at);
            let answer =
                UploadUrlResponse { upload_url, document_id: ticket.document_id, expires_at, headers, multipart };
            Ok(json_response(StatusCode::OK, &answer))
        }
        UploadUrlOutcome::OverQuota(exceeded) => Err(ApiError::QuotaExceeded(exceeded)),
        UploadUrlOutcome::TooManyPending { open, max } => Err(ApiError::TooManyRequests(format!(
            "{open} uploads are already waiting for their file and confirmation (at most {max}): \
             confirm or delete some, or wait until unfinished ones are cleaned up"
        ))),
    }
}

async fn handle_confirm(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::POST)?;
    let user = identify(app, request)?;
    let id = required_document_id(request)?;
    match workflows::confirm(app, &invocation(request), &user, id).await? {
        ConfirmOutcome::Uploaded { id, size_bytes, used_bytes } => Ok(json_response(
            StatusCode::OK,
            &json!({ "id": id, "size_bytes": size_bytes, "used_bytes": used_bytes, "status": DocumentStatus::Uploaded }),
        )),
        ConfirmOutcome::OverQuota(exceeded) => Err(ApiError::QuotaExceeded(exceeded)),
        ConfirmOutcome::WrongContent(detail) => Err(ApiError::UnsupportedMediaType(detail)),
        ConfirmOutcome::NotFound => Err(ApiError::NotFound("Document")),
        ConfirmOutcome::NotInStorage => Err(ApiError::invalid(
            "Upload not found in storage: PUT the file to upload_url before confirming (the URL may have expired)",
        )),
        ConfirmOutcome::StillPending => Err(ApiError::Conflict("the document is still pending".into())),
        ConfirmOutcome::MissingParts(missing) => {
            let numbers: Vec<String> = missing.iter().map(u32::to_string).collect();
            Err(ApiError::invalid(format!(
                "parts {} are not in storage (or not with their full length): send them before confirming",
                numbers.join(", ")
            )))
        }
    }
}

async fn handle_parts(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    if request.method() != Method::POST && request.method() != Method::GET {
        return Err(ApiError::MethodNotAllowed);
    }
    let user = identify(app, request)?;
    let id = required_document_id(request)?;
    let outcome = if request.method() == Method::POST {
        let parts = json_body::<PartsRequest>(request)?.validate()?;
        let signed = workflows::sign_parts(app, &user, id, &parts).await?;
        signed.map_answer(|parts| {
            let parts: Vec<_> = parts
                .into_iter()
                .map(|p| json!({ "part_number": p.part_number, "upload_url": p.url.url, "headers": p.url.headers }))
                .collect();
            json!({ "parts": parts })
        })
    } else {
        let stored = workflows::stored_parts(app, &user, id).await?;
        stored.map_answer(|parts| {
            let parts: Vec<_> =
                parts.into_iter().map(|(n, size)| json!({ "part_number": n, "size_bytes": size })).collect();
            json!({ "parts": parts })
        })
    };
    match outcome {
        PartsOutcome::Answer(body) => Ok(json_response(StatusCode::OK, &body)),
        PartsOutcome::NotFound => Err(ApiError::NotFound("Document")),
        PartsOutcome::NotApplicable(detail) => Err(ApiError::Conflict(detail)),
        PartsOutcome::Invalid(detail) => Err(ApiError::Invalid(detail)),
    }
}

async fn handle_quota(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::GET)?;
    let user = identify(app, request)?;
    Ok(json_response(StatusCode::OK, &app.table.get_quota(&user).await?))
}

async fn handle_delete(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::DELETE)?;
    let user = identify(app, request)?;
    let id = required_document_id(request)?;
    match workflows::delete(app, &invocation(request), &user, id).await? {
        DeleteOutcome::Deleted => Ok(empty_response(StatusCode::NO_CONTENT)),
        DeleteOutcome::NotFound => Err(ApiError::NotFound("Document")),
        DeleteOutcome::KeptChanging => {
            Err(ApiError::Conflict("the document changed repeatedly while deleting; try again".into()))
        }
    }
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
    checksum_sha256: Option<String>,
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
            checksum_sha256: document.checksum_sha256,
            classification: document.classification,
            download_url,
        }
    }
}

async fn handle_documents(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
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
    let topic = query_param(request, "topic_id").map(|t| TopicId::parse(&t)).transpose()?;
    let (documents, next) = match topic {
        Some(topic) => {
            let page = app.table.list_documents_of_topic(user, topic, limit, cursor).await?;
            (page.documents, page.next)
        }
        None => {
            let page = app.table.list_documents(user, limit, cursor).await?;
            (page.documents, page.next)
        }
    };
    let items: Vec<DocumentView> = documents.into_iter().map(|d| DocumentView::new(d, None)).collect();
    Ok(json_response(StatusCode::OK, &json!({ "items": items, "next_cursor": next })))
}

async fn handle_reclassify(
    app: &App,
    classifier: &dyn Classifier,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::POST)?;
    let user = identify(app, request)?;
    let id = required_document_id(request)?;
    match classify::reclassify(app, classifier, &invocation(request), &user, id).await? {
        ClassifyOutcome::Recorded(document) => Ok(json_response(StatusCode::OK, &DocumentView::new(*document, None))),
        ClassifyOutcome::Skipped(SkipReason::NoObject) => {
            Err(ApiError::invalid("Upload not found in storage: PUT the file to upload_url first"))
        }
        ClassifyOutcome::Skipped(SkipReason::Rejected) => {
            Err(ApiError::Conflict("the document was rejected for exceeding the quota".into()))
        }
        ClassifyOutcome::Skipped(SkipReason::NoDocument) => Err(ApiError::NotFound("Document")),
    }
}

async fn handle_topics(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let user = identify(app, request)?;
    let id = path_topic_id(request)?;
    match (request.method(), id) {
        (&Method::GET, None) => Ok(json_response(StatusCode::OK, &app.table.list_topics(&user).await?)),
        (&Method::POST, None) => {
            let (name, description) = json_body::<NewTopicRequest>(request)?.validate()?;
            match app.table.create_topic(&invocation(request), &user, &name, &description, now_unix()).await? {
                Some(topic) => Ok(json_response(StatusCode::CREATED, &topic)),
                None => Err(ApiError::Conflict(format!("a topic named {name:?} already exists"))),
            }
        }
        (&Method::DELETE, Some(id)) => match app.table.delete_topic(&invocation(request), &user, id).await? {
            true => Ok(empty_response(StatusCode::NO_CONTENT)),
            false => Err(ApiError::NotFound("Topic")),
        },
        _ => Err(ApiError::MethodNotAllowed),
    }
}

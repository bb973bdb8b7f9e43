//! The document routes: read one or a page, delete, classify again, and the quota.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::json;

use super::codec::{
    empty_response, json_response, page_limit, path_document_id, query_param, require_method, required_document_id,
    rfc3339, MAX_PAGE_SIZE,
};
use super::{identify, invocation};
use crate::classifier::Classifier;
use crate::domain::{Classification, Document, DocumentId, DocumentStatus, TopicId, UserId};
use crate::error::ApiError;
use crate::operations::classify::{reclassify as classify_again, ClassifyOutcome, SkipReason};
use crate::operations::delete::{delete as delete_document, DeleteOutcome};
use crate::operations::documents::{get_document, list_documents, quota as read_quota};
use crate::App;

const DEFAULT_PAGE_SIZE: u32 = 20;

#[derive(Serialize)]
pub(super) struct DocumentView {
    id: DocumentId,
    filename: String,
    content_type: String,
    status: DocumentStatus,
    size_bytes: Option<u64>,
    created_at: String,
    uploaded_at: Option<String>,
    checksum_sha256: Option<String>,
    /// Why a rejected document was refused (its content, or the quota).
    #[serde(skip_serializing_if = "Option::is_none")]
    rejection_reason: Option<String>,
    #[serde(flatten)]
    classification: Classification,
    #[serde(skip_serializing_if = "Option::is_none")]
    download_url: Option<String>,
}

impl DocumentView {
    pub(super) fn new(document: Document, download_url: Option<String>) -> Self {
        let rejection_reason = document.rejection();
        Self {
            id: document.id,
            filename: document.filename,
            content_type: document.content_type,
            status: document.status,
            size_bytes: document.size_bytes,
            created_at: rfc3339(document.created_at),
            uploaded_at: document.uploaded_at.map(rfc3339),
            checksum_sha256: document.checksum_sha256,
            rejection_reason,
            classification: document.classification,
            download_url,
        }
    }
}

pub(super) async fn quota(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::GET)?;
    let user = identify(app, request)?;
    Ok(json_response(StatusCode::OK, &read_quota(app, &user).await?))
}

pub(super) async fn delete(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::DELETE)?;
    let user = identify(app, request)?;
    let id = required_document_id(request)?;
    match delete_document(app, &invocation(request), &user, id).await? {
        DeleteOutcome::Deleted => Ok(empty_response(StatusCode::NO_CONTENT)),
        DeleteOutcome::NotFound => Err(ApiError::NotFound("Document")),
        DeleteOutcome::KeptChanging => {
            Err(ApiError::Conflict("the document changed repeatedly while deleting; try again".into()))
        }
    }
}

pub(super) async fn documents(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::GET)?;
    let user = identify(app, request)?;
    match path_document_id(request)? {
        Some(id) => match get_document(app, &user, id).await? {
            Some((document, download_url)) => {
                Ok(json_response(StatusCode::OK, &DocumentView::new(document, download_url)))
            }
            None => Err(ApiError::NotFound("Document")),
        },
        None => list(app, request, &user).await,
    }
}

async fn list(app: &App, request: &Request, user: &UserId) -> Result<Response<Body>, ApiError> {
    let limit = match query_param(request, "limit") {
        None => DEFAULT_PAGE_SIZE,
        Some(_) => page_limit(request, MAX_PAGE_SIZE)?,
    };
    let cursor = query_param(request, "cursor")
        .filter(|c| !c.is_empty())
        .map(|c| DocumentId::parse(&c).map_err(|_| ApiError::invalid("cursor is not one this API returned")))
        .transpose()?;
    let topic = query_param(request, "topic_id").map(|t| TopicId::parse(&t)).transpose()?;
    let page = list_documents(app, user, topic, limit, cursor).await?;
    let items: Vec<DocumentView> = page.items.into_iter().map(|d| DocumentView::new(d, None)).collect();
    Ok(json_response(StatusCode::OK, &json!({ "items": items, "next_cursor": page.next })))
}

pub(super) async fn reclassify(
    app: &App,
    classifier: &dyn Classifier,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::POST)?;
    let user = identify(app, request)?;
    let id = required_document_id(request)?;
    let replace_manual = match query_param(request, "replace_manual").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid("replace_manual must be true or false")),
    };
    match classify_again(app, classifier, &invocation(request), &user, id, replace_manual).await? {
        ClassifyOutcome::Recorded(document) => Ok(json_response(StatusCode::OK, &DocumentView::new(*document, None))),
        ClassifyOutcome::Skipped(SkipReason::NoObject) => {
            Err(ApiError::invalid("Upload not found in storage: PUT the file to upload_url first"))
        }
        ClassifyOutcome::Skipped(SkipReason::Rejected) => {
            Err(ApiError::Conflict("the document was rejected for exceeding the quota".into()))
        }
        ClassifyOutcome::Skipped(SkipReason::NoDocument) => Err(ApiError::NotFound("Document")),
        ClassifyOutcome::Skipped(SkipReason::FiledByUser) => Err(ApiError::Conflict(
            "the document was filed by hand; classify with ?replace_manual=true to replace that choice".into(),
        )),
        ClassifyOutcome::Skipped(SkipReason::TopicsKeptChanging) => {
            Err(ApiError::Conflict("topics kept changing while classifying; try again".into()))
        }
    }
}

//! The upload routes: upload-url, the parts of a multipart upload, confirm.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::json;

use super::codec::{json_body, json_response, require_method, required_document_id, rfc3339};
use super::{identify, invocation};
use crate::domain::{DocumentId, DocumentStatus, MultipartPlan, PartsRequest, UploadUrlRequest};
use crate::error::ApiError;
use crate::operations::confirm::{confirm as confirm_upload, ConfirmOutcome};
use crate::operations::parts::{sign_parts, stored_parts, PartsOutcome};
use crate::operations::upload_url::{upload_url as start_upload, UploadUrlOutcome, UploadWay};
use crate::App;

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
    /// Present (true) when the upload is confirmed by its object's arrival: no confirm request
    /// is needed, the document's status shows the outcome.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    confirm_on_arrival: bool,
}

pub(super) async fn upload_url(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::POST)?;
    let user = identify(app, request)?;
    let upload = json_body::<UploadUrlRequest>(request)?.validate(&app.config.allowed_content_types)?;
    match start_upload(app, &invocation(request), user, upload).await? {
        UploadUrlOutcome::Created(ticket) => {
            let (upload_url, headers, multipart) = match ticket.how {
                UploadWay::SinglePut(put) => (Some(put.url), Some(put.headers), None),
                UploadWay::Multipart(plan) => (None, None, Some(plan)),
            };
            let expires_at = rfc3339(ticket.expires_at);
            let answer = UploadUrlResponse {
                upload_url,
                document_id: ticket.document_id,
                expires_at,
                headers,
                multipart,
                confirm_on_arrival: ticket.confirm_on_arrival,
            };
            Ok(json_response(StatusCode::OK, &answer))
        }
        UploadUrlOutcome::OverQuota(exceeded) => Err(ApiError::QuotaExceeded(exceeded)),
        UploadUrlOutcome::TooManyPending { open, max } => Err(ApiError::TooManyRequests(format!(
            "{open} uploads are already waiting for their file and confirmation (at most {max}): \
             confirm or delete some, or wait until unfinished ones are cleaned up"
        ))),
    }
}

pub(super) async fn confirm(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::POST)?;
    let user = identify(app, request)?;
    let id = required_document_id(request)?;
    match confirm_upload(app, &invocation(request), &user, id).await? {
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

pub(super) async fn parts(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    if request.method() != Method::POST && request.method() != Method::GET {
        return Err(ApiError::MethodNotAllowed);
    }
    let user = identify(app, request)?;
    let id = required_document_id(request)?;
    let outcome = if request.method() == Method::POST {
        let parts = json_body::<PartsRequest>(request)?.validate()?;
        let signed = sign_parts(app, &user, id, &parts).await?;
        signed.map_answer(|parts| {
            let parts: Vec<_> = parts
                .into_iter()
                .map(|p| json!({ "part_number": p.part_number, "upload_url": p.url.url, "headers": p.url.headers }))
                .collect();
            json!({ "parts": parts })
        })
    } else {
        let stored = stored_parts(app, &user, id).await?;
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

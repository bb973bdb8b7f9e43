//! Decoding API Gateway HTTP requests and encoding responses, shared by the routes.

use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::domain::{DocumentId, TopicId};
use crate::error::ApiError;

pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(body).expect("response bodies are plain data");
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(body))
        .expect("static status and header are valid")
}

pub fn empty_response(status: StatusCode) -> Response<Body> {
    Response::builder().status(status).body(Body::Empty).expect("static status is valid")
}

/// Turns a handler's result into the HTTP response: errors become `{"detail": ...}` with their
/// status. Server-side failures are logged with their context here, once.
pub fn respond(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    match result {
        Ok(response) => response,
        Err(error) => {
            if error.status().is_server_error() {
                tracing::error!(error = %error, "request failed");
            } else {
                tracing::info!(status = error.status().as_u16(), error = %error, "request refused");
            }
            json_response(error.status(), &error.body())
        }
    }
}

pub fn require_method(request: &Request, allowed: &Method) -> Result<(), ApiError> {
    if request.method() == allowed {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed)
    }
}

/// Parses a JSON request body into `T`, with a 422 naming what is wrong.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let bytes: &[u8] = match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid("a JSON request body is required"));
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::invalid(format!("invalid request body: {e}")),
        _ => ApiError::invalid(format!("request body is not valid JSON: {e}")),
    })
}

/// The `{id}` of `/api/<collection>/{id}[/...]`: the path parameter API Gateway provides, else
/// the segment after `<collection>` in the raw path (function URLs carry no path parameters).
fn path_id(request: &Request, collection: &str) -> Option<String> {
    let from_params = request.path_parameters_ref().and_then(|p| p.first("id")).map(str::to_owned);
    from_params.or_else(|| {
        let path = request.uri().path();
        let mut segments = path.split('/').skip_while(|s| *s != collection).skip(1);
        segments.next().filter(|s| !s.is_empty()).map(str::to_owned)
    })
}

pub fn path_document_id(request: &Request) -> Result<Option<DocumentId>, ApiError> {
    Ok(path_id(request, "documents").map(|id| DocumentId::parse(&id)).transpose()?)
}

pub fn path_topic_id(request: &Request) -> Result<Option<TopicId>, ApiError> {
    Ok(path_id(request, "topics").map(|id| TopicId::parse(&id)).transpose()?)
}

pub fn required_document_id(request: &Request) -> Result<DocumentId, ApiError> {
    path_document_id(request)?.ok_or_else(|| ApiError::invalid("the path must name a document id"))
}

/// The `limit` query parameter: 1 to `max`, `max` when absent (and at most 100).
pub fn page_limit(request: &Request, max: u32) -> Result<u32, ApiError> {
    let max = max.clamp(1, MAX_PAGE_SIZE);
    match query_param(request, "limit") {
        None => Ok(max),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=max).contains(l))
            .ok_or_else(|| ApiError::invalid(format!("limit must be an integer from 1 to {max}"))),
    }
}

/// The largest page any list answers.
pub const MAX_PAGE_SIZE: u32 = 100;

pub fn query_param(request: &Request, name: &str) -> Option<String> {
    request.query_string_parameters_ref().and_then(|q| q.first(name)).map(str::to_owned)
}

/// Unix seconds as RFC 3339 (`2026-11-28T05:22:00Z`).
pub fn rfc3339(unix_seconds: i64) -> String {
    aws_smithy_types::DateTime::from_secs(unix_seconds)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

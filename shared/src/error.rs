//! The one error type of the HTTP API and its single mapping to an HTTP response.

use lambda_http::http::StatusCode;
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} has an invalid value {value:?}")]
    Invalid { name: &'static str, value: String },
}

/// The body of a 413: how much is used, the limit, and what did not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct QuotaExceeded {
    pub used_bytes: u64,
    pub limit_bytes: u64,
    pub rejected_bytes: u64,
}

/// Every failure a handler can answer with. Each variant is one status code; the body is
/// always `{"detail": ...}` as in the service we replace.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("quota exceeded: {0:?}")]
    QuotaExceeded(QuotaExceeded),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A backend failure; the context is logged, the client sees a generic message.
    #[error("{context}: {source}")]
    Internal {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ApiError {
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::Invalid(detail.into())
    }

    /// Wraps a backend error with what we were doing when it happened.
    pub fn internal(context: &'static str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal { context, source: source.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::QuotaExceeded(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> Value {
        let detail = match self {
            Self::Unauthorized(reason) => json!(format!("Not authenticated: {reason}")),
            Self::NotFound(what) => json!(format!("{what} not found")),
            Self::MethodNotAllowed => json!("Method Not Allowed"),
            Self::Conflict(detail) | Self::UnsupportedMediaType(detail) | Self::Invalid(detail) => json!(detail),
            Self::QuotaExceeded(body) => json!(body),
            Self::Internal { .. } => json!("Internal server error"),
        };
        json!({ "detail": detail })
    }
}

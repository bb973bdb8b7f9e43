//! The one error type of the HTTP API and its single mapping to an HTTP response; operations'
//! and adapters' errors become it here, at the edge.

use lambda_http::http::StatusCode;
use serde_json::{json, Value};

use crate::domain::{InputError, QuotaExceeded};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} has an invalid value {value:?}")]
    Invalid { name: &'static str, value: String },
    #[error("inconsistent configuration: {0}")]
    Inconsistent(String),
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
    #[error("too many requests: {0}")]
    TooManyRequests(String),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// The request ran out of its time before it could finish; nothing was changed, and the
    /// same request may succeed later (503).
    #[error("unavailable: {0}")]
    Unavailable(String),
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
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> Value {
        let detail = match self {
            Self::Unauthorized(reason) => json!(format!("Not authenticated: {reason}")),
            Self::NotFound(what) => json!(format!("{what} not found")),
            Self::MethodNotAllowed => json!("Method Not Allowed"),
            Self::Conflict(detail)
            | Self::UnsupportedMediaType(detail)
            | Self::Invalid(detail)
            | Self::TooManyRequests(detail)
            | Self::Unavailable(detail) => json!(detail),
            Self::QuotaExceeded(body) => json!(body),
            Self::Internal { .. } => json!("Internal server error"),
        };
        json!({ "detail": detail })
    }
}

/// An operation's failure: refused input as its status, anything else a 500 whose cause is
/// logged (never answered).
impl From<crate::operations::OperationError> for ApiError {
    fn from(error: crate::operations::OperationError) -> Self {
        use crate::operations::OperationError;
        match error {
            OperationError::Input(input) => input.into(),
            OperationError::OutOfTime(step) => Self::Unavailable(format!(
                "{step} did not finish within the time this request may take; nothing was changed: try again"
            )),
            other => Self::internal("an operation failed", other),
        }
    }
}

/// Refused client input: 422, or 415 for a content type, or 401 for a token subject.
impl From<InputError> for ApiError {
    fn from(error: InputError) -> Self {
        match error {
            InputError::Invalid(detail) => Self::Invalid(detail),
            InputError::UnsupportedMediaType(detail) => Self::UnsupportedMediaType(detail),
            InputError::InvalidSubject => Self::Unauthorized(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_and_a_detail() {
        let quota = QuotaExceeded { used_bytes: 1, limit_bytes: 2, rejected_bytes: 3 };
        for (error, status, detail) in [
            (ApiError::Unauthorized("expired".into()), 401, json!("Not authenticated: expired")),
            (ApiError::NotFound("Document"), 404, json!("Document not found")),
            (ApiError::MethodNotAllowed, 405, json!("Method Not Allowed")),
            (ApiError::Conflict("busy".into()), 409, json!("busy")),
            (ApiError::QuotaExceeded(quota), 413, json!({ "used_bytes": 1, "limit_bytes": 2, "rejected_bytes": 3 })),
            (ApiError::UnsupportedMediaType("no".into()), 415, json!("no")),
            (ApiError::invalid("bad"), 422, json!("bad")),
            (ApiError::TooManyRequests("slow down".into()), 429, json!("slow down")),
            (ApiError::Unavailable("later".into()), 503, json!("later")),
            (ApiError::internal("reading", "secret backend detail"), 500, json!("Internal server error")),
        ] {
            assert_eq!(error.status().as_u16(), status, "{error}");
            assert_eq!(error.body(), json!({ "detail": detail }), "{error}");
        }
    }

    #[test]
    fn model_errors_map_to_client_errors() {
        assert_eq!(ApiError::from(InputError::Invalid("x".into())).status().as_u16(), 422);
        assert_eq!(ApiError::from(InputError::UnsupportedMediaType("x".into())).status().as_u16(), 415);
        assert_eq!(ApiError::from(InputError::InvalidSubject).status().as_u16(), 401);
        let late = ApiError::from(crate::operations::OperationError::OutOfTime("reading the document's text"));
        assert_eq!(late.status().as_u16(), 503);
        assert_eq!(
            late.body()["detail"],
            "reading the document's text did not finish within the time this request may take; \
             nothing was changed: try again"
        );
    }
}

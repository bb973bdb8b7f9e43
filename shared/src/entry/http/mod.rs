//! The HTTP routes. Each public function is one Lambda function's handler: it checks the
//! method, identifies the caller, parses the input, calls one operation and maps its typed
//! outcome to HTTP; errors become `{"detail": ...}` in one place (`codec::respond`).

use std::time::{Duration, Instant};

use lambda_http::{Body, Error, Request, RequestExt, Response};
use tracing::Instrument;

use crate::auth::caller;
use crate::classifier::Classifier;
use crate::domain::UserId;
use crate::error::ApiError;
use crate::invocation::Invocation;
use crate::{xray, App};

pub mod codec;
mod documents;
mod topics;
mod uploads;

/// POST /api/documents/upload-url
pub async fn upload_url(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(answer(app, "upload-url", &request, uploads::upload_url(app, &request)).await)
}

/// POST /api/documents/{id}/confirm
pub async fn confirm(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(answer(app, "confirm", &request, uploads::confirm(app, &request)).await)
}

/// POST /api/documents/{id}/parts, GET /api/documents/{id}/parts
pub async fn parts(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(answer(app, "parts", &request, uploads::parts(app, &request)).await)
}

/// GET /api/auth/me/quota
pub async fn quota(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(answer(app, "quota", &request, documents::quota(app, &request)).await)
}

/// DELETE /api/documents/{id}
pub async fn delete(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(answer(app, "delete", &request, documents::delete(app, &request)).await)
}

/// GET /api/documents and GET /api/documents/{id}
pub async fn documents(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(answer(app, "documents", &request, documents::documents(app, &request)).await)
}

/// POST /api/documents/{id}/classify
pub async fn reclassify(app: &App, classifier: &dyn Classifier, request: Request) -> Result<Response<Body>, Error> {
    Ok(answer(app, "reclassify", &request, documents::reclassify(app, classifier, &request)).await)
}

/// GET /api/topics, POST /api/topics, DELETE /api/topics/{id}, and filing a document by hand:
/// PUT /api/documents/{id}/topic
pub async fn topics(app: &App, request: Request) -> Result<Response<Body>, Error> {
    if topics::is_filing(&request) {
        return Ok(answer(app, "file", &request, topics::file(app, &request)).await);
    }
    Ok(answer(app, "topics", &request, topics::topics(app, &request)).await)
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
    let response = codec::respond(xray::traced(trace, work).await);
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

//! What the proxy keeps of an S3 request for the contract check: its line, headers, body size,
//! and the XML of multipart creation and completion (never object bytes).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::request::Parts;
use hyper::Response;

use crate::contract::RecordedRequest;

/// The request as received; its answer is filled in by [`answer`].
pub(crate) fn request(parts: &Parts, operation: &str, body: &Bytes) -> RecordedRequest {
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (name.as_str().to_ascii_lowercase(), String::from_utf8_lossy(value.as_bytes()).into_owned())
        })
        .collect();
    let body_text = match operation {
        "S3.CompleteMultipartUpload" => String::from_utf8_lossy(body).into_owned(),
        _ => String::new(),
    };
    RecordedRequest {
        operation: operation.to_owned(),
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers,
        body_length: body.len() as u64,
        body_text,
        status: None,
        answer_text: String::new(),
    }
}

/// Notes the answer's status (and, for `CreateMultipartUpload`, its XML naming the upload id),
/// and hands the answer back unchanged.
pub(crate) async fn answer(record: &mut RecordedRequest, answer: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    record.status = Some(answer.status().as_u16());
    if record.operation != "S3.CreateMultipartUpload" {
        return answer;
    }
    let (parts, body) = answer.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    record.answer_text = String::from_utf8_lossy(&bytes).into_owned();
    Response::from_parts(parts, Full::new(bytes))
}

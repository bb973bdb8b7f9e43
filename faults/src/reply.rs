//! The answers the proxy gives: whole bodies, since it reads every upstream answer before passing it on.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::Response;

use crate::rules::mix;

pub(crate) type Reply = Response<Full<Bytes>>;

/// An answer made by the proxy itself.
pub(crate) fn reply(status: u16, headers: &[(&str, String)], body: Bytes) -> Reply {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, value);
    }
    response.header(CONTENT_LENGTH, body.len()).body(Full::new(body)).expect("a valid status and headers")
}

/// Replaces the body of an upstream answer, keeping its length header right.
pub(crate) fn replace_body(response: &mut Response<Bytes>, body: Bytes) {
    response.headers_mut().remove(TRANSFER_ENCODING);
    response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    *response.body_mut() = body;
}

/// A request id of `length` characters from `alphabet`, derived from the proxy's answer count
/// rather than its random numbers, so that ids do not shift the fault draws.
pub(crate) fn request_id(sequence: u64, length: u64, alphabet: &[u8]) -> String {
    let pick = |position: u64| alphabet[(mix(sequence << 8 | position) % alphabet.len() as u64) as usize] as char;
    (0..length).map(pick).collect()
}

//! S3's REST protocol: the XML errors AWS sends.

use bytes::Bytes;

use crate::reply::{reply, request_id, Reply};

/// An S3 error answer. Answers to HEAD carry no body, in S3 as in HTTP, so an SDK only sees the
/// status there.
pub(crate) fn error(status: u16, code: &str, message: &str, head: bool, sequence: u64) -> Reply {
    let request = request_id(sequence, 16, b"0123456789ABCDEF");
    let host = request_id(sequence, 76, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    let body = match head {
        true => Bytes::new(),
        false => Bytes::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>\
             <RequestId>{request}</RequestId><HostId>{host}</HostId></Error>"
        )),
    };
    let headers =
        [("content-type", "application/xml".to_string()), ("x-amz-request-id", request), ("x-amz-id-2", host)];
    reply(status, &headers, body)
}

/// 503 `SlowDown`, S3's throttling.
pub(crate) fn slow_down(head: bool, sequence: u64) -> Reply {
    error(503, "SlowDown", "Please reduce your request rate.", head, sequence)
}

/// 500 `InternalError`, or 503 `SlowDown`, which is what S3 answers 503 with.
pub(crate) fn server_error(status: u16, head: bool, sequence: u64) -> Reply {
    match status {
        503 => slow_down(head, sequence),
        _ => error(500, "InternalError", "We encountered an internal error. Please try again.", head, sequence),
    }
}

/// 403 `AccessDenied`: what S3 answers for a missing key to a caller without `s3:ListBucket`.
pub(crate) fn access_denied(head: bool, sequence: u64) -> Reply {
    error(403, "AccessDenied", "Access Denied", head, sequence)
}

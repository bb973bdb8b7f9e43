//! The operation a request performs, the name rules match and counters use.

use hyper::http::request::Parts;
use hyper::Method;

/// `DynamoDB.<Operation>` from the `x-amz-target` header of the JSON protocol, else an S3 name
/// from the method and query (see the crate documentation).
pub(crate) fn operation(request: &Parts) -> String {
    match request.headers.get("x-amz-target").and_then(|target| target.to_str().ok()) {
        Some(target) => json_operation(target),
        None => s3_operation(&request.method, request.uri.query().unwrap_or("")),
    }
}

/// Whether the request uses the JSON protocol (DynamoDB), rather than S3's REST protocol.
pub(crate) fn is_json_protocol(operation: &str) -> bool {
    !operation.starts_with("S3.")
}

/// `DynamoDB_20120810.PutItem` → `DynamoDB.PutItem`: the service without its API version.
fn json_operation(target: &str) -> String {
    let (service, action) = target.rsplit_once('.').unwrap_or(("DynamoDB", target));
    let service = service.split('_').next().unwrap_or(service);
    format!("{service}.{action}")
}

/// The multipart upload calls by their S3 names; other calls by method.
fn s3_operation(method: &Method, query: &str) -> String {
    let has = |parameter: &str| query.split('&').any(|pair| pair.split('=').next() == Some(parameter));
    let multipart = match *method {
        Method::POST if has("uploads") => Some("CreateMultipartUpload"),
        Method::POST if has("uploadId") => Some("CompleteMultipartUpload"),
        Method::PUT if has("uploadId") && has("partNumber") => Some("UploadPart"),
        Method::GET if has("uploadId") => Some("ListParts"),
        Method::DELETE if has("uploadId") => Some("AbortMultipartUpload"),
        _ => None,
    };
    match multipart {
        Some(name) => format!("S3.{name}"),
        None => format!("S3.{method}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_json_protocol_operations() {
        assert_eq!(json_operation("DynamoDB_20120810.TransactWriteItems"), "DynamoDB.TransactWriteItems");
        assert_eq!(json_operation("DynamoDBStreams_20120810.GetRecords"), "DynamoDBStreams.GetRecords");
    }

    #[test]
    fn names_s3_operations() {
        assert_eq!(s3_operation(&Method::PUT, ""), "S3.PUT");
        assert_eq!(s3_operation(&Method::PUT, "x-id=PutObject"), "S3.PUT");
        assert_eq!(s3_operation(&Method::POST, "uploads"), "S3.CreateMultipartUpload");
        assert_eq!(s3_operation(&Method::PUT, "partNumber=1&uploadId=abc"), "S3.UploadPart");
        assert_eq!(s3_operation(&Method::POST, "uploadId=abc"), "S3.CompleteMultipartUpload");
        assert_eq!(s3_operation(&Method::GET, "uploadId=abc"), "S3.ListParts");
        assert_eq!(s3_operation(&Method::DELETE, "uploadId=abc"), "S3.AbortMultipartUpload");
        assert_eq!(s3_operation(&Method::HEAD, ""), "S3.HEAD");
        assert_eq!(s3_operation(&Method::GET, "list-type=2&prefix=uploads"), "S3.GET");
    }
}

//! S3's documented rules that no local peer enforces (LocalStack and SeaweedFS accept what AWS
//! refuses), checked over the S3 requests a test recorded ([`crate::FaultProxy::recorded`]).
//! Pure: a list of requests in, a list of [`Violation`]s out, each naming its [`Rule`], the rule's
//! source and the request.
//!
//! A multipart upload is followed from its `CreateMultipartUpload` (whose answer names the upload
//! id) through its `UploadPart`s to its `CompleteMultipartUpload`; requests of an upload whose
//! creation was not recorded are not judged on what depends on it.

use std::collections::HashMap;

/// One S3 request as the proxy received it (answered upstream or by a fault).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The proxy's operation name, e.g. `S3.UploadPart` (see the crate documentation).
    pub operation: String,
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body_length: u64,
    /// The body as text for `CompleteMultipartUpload` (its XML part list); empty otherwise.
    pub body_text: String,
    /// The status answered (by the upstream or a fault); `None` when the connection was dropped.
    pub status: Option<u16>,
    /// The answer as text for `CreateMultipartUpload` (it names the upload id); empty otherwise.
    pub answer_text: String,
}

/// A documented S3 rule, and where it is documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub statement: &'static str,
    pub source: &'static str,
}

const LIMITS: &str = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html";
const INTEGRITY: &str = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity-upload.html";

pub const SINGLE_PUT_SIZE: Rule = Rule {
    id: "single-put-size",
    statement: "one PUT stores at most 5 GiB; larger objects go in parts",
    source: "https://docs.aws.amazon.com/AmazonS3/latest/userguide/upload-objects.html",
};
pub const PART_SIZE: Rule = Rule {
    id: "part-size",
    statement: "a part holds at most 5 GiB, and every part but the last at least 5 MiB",
    source: LIMITS,
};
pub const PART_COUNT: Rule =
    Rule { id: "part-count", statement: "part numbers are 1 to 10,000, at most 10,000 parts", source: LIMITS };
pub const CHECKSUM_DECLARED_AT_CREATE: Rule = Rule {
    id: "checksum-declared-at-create",
    statement: "a part carries a checksum only of the algorithm its upload was created with \
                (S3 refuses it otherwise: 400 InvalidRequest, checksum type mismatch)",
    source: "https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html",
};
pub const CHECKSUM_ON_EVERY_PART: Rule = Rule {
    id: "checksum-on-every-part",
    statement: "every part of an upload created with a checksum algorithm carries its checksum of that \
                algorithm, so completion can list each (this service's rule: AWS does not document a \
                refusal of a part without one)",
    source: INTEGRITY,
};
pub const COMPLETION_LISTS_CHECKSUMS: Rule = Rule {
    id: "completion-lists-checksums",
    statement: "CompleteMultipartUpload lists every part's checksum for an upload created with an \
                algorithm, and none for one created without",
    source: "https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompletedPart.html",
};
pub const PRESIGNED_SIGNS_HEADERS: Rule = Rule {
    id: "presigned-signs-headers",
    statement: "a presigned request signs the host header and every x-amz-* header it sends",
    source: "https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html",
};

pub const SESSION_TOKEN_SIGNED: Rule = Rule {
    id: "session-token-signed",
    statement: "a request signed with temporary credentials (a Lambda role's always are) carries their \
                session token: X-Amz-Security-Token in a presigned URL's query, which the signature covers, \
                or the x-amz-security-token header, signed",
    source: "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html",
};

/// Every rule [`check`] applies.
pub const RULES: [Rule; 7] = [
    SINGLE_PUT_SIZE,
    PART_SIZE,
    PART_COUNT,
    CHECKSUM_DECLARED_AT_CREATE,
    CHECKSUM_ON_EVERY_PART,
    COMPLETION_LISTS_CHECKSUMS,
    PRESIGNED_SIGNS_HEADERS,
];

const MIB: u64 = 1024 * 1024;
const MIN_PART_BYTES: u64 = 5 * MIB;
const MAX_PART_BYTES: u64 = 5 * 1024 * MIB;
const MAX_PUT_BYTES: u64 = 5 * 1024 * MIB;
const MAX_PARTS: u64 = 10_000;

/// A request that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: Rule,
    /// What was wrong with it.
    pub detail: String,
    /// The request: operation, method, path and query (signatures and credentials left out).
    pub request: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}] {}: {} ({}; {})",
            self.rule.id, self.rule.statement, self.detail, self.rule.source, self.request
        )
    }
}

/// The violations of [`RULES`] among `requests`, in request order.
pub fn check(requests: &[RecordedRequest]) -> Vec<Violation> {
    let mut violations = Vec::new();
    // Upload id -> the checksum algorithm its creation named (`None`: none).
    let mut uploads: HashMap<String, Option<String>> = HashMap::new();
    // (upload id, part number) -> the size of the part last stored.
    let mut part_sizes: HashMap<(String, u64), u64> = HashMap::new();
    for request in requests {
        let mut broke = |rule: Rule, detail: String| {
            violations.push(Violation { rule, detail, request: describe(request) });
        };
        signed_headers(request, &mut broke);
        match request.operation.as_str() {
            "S3.PUT" if request.body_length > MAX_PUT_BYTES => {
                broke(SINGLE_PUT_SIZE, format!("a PUT of {} bytes", request.body_length))
            }
            "S3.CreateMultipartUpload" => {
                if let Some(id) = xml_values(&request.answer_text, "UploadId").into_iter().next() {
                    uploads.insert(id, header(request, "x-amz-checksum-algorithm").map(str::to_ascii_uppercase));
                }
            }
            "S3.UploadPart" => {
                let (upload, number) = (query_value(request, "uploadId"), query_value(request, "partNumber"));
                let number = number.and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
                if !(1..=MAX_PARTS).contains(&number) {
                    broke(PART_COUNT, format!("part number {number}"));
                }
                if request.body_length > MAX_PART_BYTES {
                    broke(PART_SIZE, format!("part {number} of {} bytes", request.body_length));
                }
                let Some(upload) = upload else { continue };
                if request.status.is_some_and(|status| (200..300).contains(&status)) {
                    part_sizes.insert((upload.clone(), number), request.body_length);
                }
                let Some(declared) = uploads.get(&upload) else { continue };
                let carried = part_checksums(request);
                for algorithm in carried.iter().filter(|a| Some(*a) != declared.as_ref()) {
                    let created = declared.as_deref().unwrap_or("no algorithm");
                    broke(
                        CHECKSUM_DECLARED_AT_CREATE,
                        format!("part {number} carries {algorithm}; created with {created}"),
                    );
                }
                if let Some(algorithm) = declared.as_ref().filter(|a| !carried.contains(a)) {
                    broke(CHECKSUM_ON_EVERY_PART, format!("part {number} carries no {algorithm} checksum"));
                }
            }
            "S3.CompleteMultipartUpload" => {
                let Some(upload) = query_value(request, "uploadId") else { continue };
                completion(request, &upload, uploads.get(&upload), &part_sizes, &mut broke);
            }
            _ => {}
        }
    }
    violations
}

/// The rules a `CompleteMultipartUpload` of `upload` (created with `declared`) must keep.
fn completion(
    request: &RecordedRequest,
    upload: &str,
    declared: Option<&Option<String>>,
    part_sizes: &HashMap<(String, u64), u64>,
    broke: &mut impl FnMut(Rule, String),
) {
    let parts: Vec<&str> = request.body_text.split("<Part>").skip(1).collect();
    if parts.len() as u64 > MAX_PARTS {
        broke(PART_COUNT, format!("{} parts", parts.len()));
    }
    let numbers: Vec<u64> =
        parts.iter().map(|p| xml_values(p, "PartNumber").first().and_then(|n| n.parse().ok()).unwrap_or(0)).collect();
    let last = numbers.iter().copied().max().unwrap_or(0);
    for (part, number) in parts.iter().zip(&numbers) {
        let size = part_sizes.get(&(upload.to_owned(), *number));
        if let Some(size) = size.filter(|size| **size < MIN_PART_BYTES && *number != last) {
            broke(PART_SIZE, format!("part {number} of {size} bytes is not the last"));
        }
        let listed: Vec<String> = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]
            .into_iter()
            .filter(|algorithm| !xml_values(part, &format!("Checksum{algorithm}")).is_empty())
            .map(str::to_owned)
            .collect();
        match declared {
            None => {}
            Some(None) if !listed.is_empty() => broke(
                COMPLETION_LISTS_CHECKSUMS,
                format!("part {number} lists {} for an upload created without an algorithm", listed.join(", ")),
            ),
            Some(None) => {}
            Some(Some(algorithm)) if listed != [algorithm.clone()] => broke(
                COMPLETION_LISTS_CHECKSUMS,
                format!("part {number} lists [{}] for an upload created with {algorithm}", listed.join(", ")),
            ),
            Some(Some(_)) => {}
        }
    }
}

/// A presigned request (its query carries `X-Amz-Signature`) must sign `host` and every
/// `x-amz-*` header it sends.
fn signed_headers(request: &RecordedRequest, broke: &mut impl FnMut(Rule, String)) {
    if query_value(request, "X-Amz-Signature").is_none() {
        return;
    }
    let signed = query_value(request, "X-Amz-SignedHeaders").unwrap_or_default();
    let signed: Vec<&str> = signed.split(';').collect();
    if !signed.contains(&"host") {
        broke(PRESIGNED_SIGNS_HEADERS, "host is not signed".into());
    }
    for (name, _) in request.headers.iter().filter(|(name, _)| name.starts_with("x-amz-")) {
        if !signed.contains(&name.as_str()) {
            broke(PRESIGNED_SIGNS_HEADERS, format!("{name} is sent but not signed"));
        }
    }
}

/// The violations of [`SESSION_TOKEN_SIGNED`] among `requests` signed by a signer holding a
/// session token (the caller knows; a request cannot tell): every signed request must carry it.
pub fn check_session_token(requests: &[RecordedRequest]) -> Vec<Violation> {
    let mut violations = Vec::new();
    for request in requests {
        let mut broke = |detail: String| {
            violations.push(Violation { rule: SESSION_TOKEN_SIGNED, detail, request: describe(request) })
        };
        if query_value(request, "X-Amz-Signature").is_some() {
            let signed = query_value(request, "X-Amz-SignedHeaders").unwrap_or_default();
            if query_value(request, "X-Amz-Security-Token").is_none_or(|t| t.is_empty())
                && !signed.split(';').any(|h| h == "x-amz-security-token")
            {
                broke("a presigned request without X-Amz-Security-Token".into());
            }
        } else if let Some(authorization) = header(request, "authorization") {
            let signed = authorization.split("SignedHeaders=").nth(1).unwrap_or_default();
            let signed = signed.split(',').next().unwrap_or_default();
            if !signed.split(';').any(|h| h == "x-amz-security-token") {
                broke("an Authorization-signed request that does not sign x-amz-security-token".into());
            }
        }
    }
    violations
}

/// The checksum algorithms an UploadPart carries (`x-amz-checksum-<algorithm>` as a header or
/// a query parameter), upper case.
fn part_checksums(request: &RecordedRequest) -> Vec<String> {
    let headers = request.headers.iter().map(|(name, _)| name.clone());
    let query = query_pairs(&request.query).map(|(name, _)| name.to_ascii_lowercase());
    let mut algorithms: Vec<String> = headers
        .chain(query)
        .filter_map(|name| name.strip_prefix("x-amz-checksum-").map(str::to_ascii_uppercase))
        .filter(|algorithm| !["ALGORITHM", "TYPE", "MODE"].contains(&algorithm.as_str()))
        .collect();
    algorithms.sort();
    algorithms.dedup();
    algorithms
}

fn header<'a>(request: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    request.headers.iter().find(|(n, _)| n == name).map(|(_, value)| value.as_str())
}

fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query.split('&').filter(|pair| !pair.is_empty()).map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// A query parameter's value, percent-decoded.
fn query_value(request: &RecordedRequest, name: &str) -> Option<String> {
    query_pairs(&request.query).find(|(n, _)| *n == name).map(|(_, value)| percent_decode(value))
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The texts of every `<tag>...</tag>` in `xml`.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open).skip(1).filter_map(|rest| rest.split_once(&close).map(|(value, _)| value.to_owned())).collect()
}

/// Operation, method, path and query, without the signature and credentials.
fn describe(request: &RecordedRequest) -> String {
    let secret = ["X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token"];
    let query: Vec<String> = query_pairs(&request.query)
        .map(|(name, value)| match secret.contains(&name) {
            true => format!("{name}=..."),
            false => format!("{name}={value}"),
        })
        .collect();
    format!("{} {} {}?{}", request.operation, request.method, request.path, query.join("&"))
}

#[cfg(test)]
#[path = "contract_tests.rs"]
mod tests;

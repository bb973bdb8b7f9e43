//! The S3 adapter: object reads, removal, presigned URLs, and multipart uploads (`multipart`).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::Client;

use crate::error::ApiError;
use crate::model::Document;

mod multipart;

pub use multipart::{Completion, StoredPart};

/// A presigned PUT and the exact headers the client must send with it.
#[derive(Debug, Clone)]
pub struct PresignedUpload {
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

/// The start of a stored object, and its whole size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectStart {
    pub size: u64,
    pub head: Vec<u8>,
}

/// Reads of one object's body before giving up.
const BODY_ATTEMPTS: u32 = 3;

/// What one GET found.
enum Fetched {
    Missing,
    Empty,
    TooLarge { size: u64 },
    Bytes { total: u64, bytes: Vec<u8> },
}

/// Why a read found no bytes although the request was fine.
enum Absence {
    Missing,
    /// The object exists and is empty: it cannot satisfy a range.
    Empty,
}

fn missing_or_empty(error: &SdkError<GetObjectError>) -> Option<Absence> {
    let SdkError::ServiceError(service) = error else { return None };
    match service.raw().status().as_u16() {
        _ if matches!(service.err(), GetObjectError::NoSuchKey(_)) => Some(Absence::Missing),
        404 => Some(Absence::Missing),
        403 => {
            tracing::warn!("storage answered 403 for an object read; treated as missing (grant s3:ListBucket for 404)");
            Some(Absence::Missing)
        }
        416 => Some(Absence::Empty),
        _ => None,
    }
}

/// The outcome of reading an object for extraction.
#[derive(Debug)]
pub enum ObjectRead {
    Missing,
    /// Larger than the limit and only readable whole.
    TooLarge {
        size: u64,
    },
    Bytes(Vec<u8>),
}

#[derive(Clone, Debug)]
pub struct ObjectStorage {
    /// Reaches storage from inside the deployment (HeadObject, DeleteObject, GetObject).
    internal: Client,
    /// Built for the browser-visible endpoint: used only to sign URLs, never to call.
    public: Client,
    bucket: String,
}

impl ObjectStorage {
    pub fn new(internal: Client, public: Client, bucket: impl Into<String>) -> Self {
        Self { internal, public, bucket: bucket.into() }
    }

    /// The same storage, calling it through `internal` (e.g. a proxy in tests); URLs are still
    /// signed for the public endpoint.
    pub fn with_internal_client(&self, internal: Client) -> Self {
        Self { internal, ..self.clone() }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &Client {
        &self.internal
    }

    /// The first `length` bytes of `key` and its total size, from one ranged GET (its
    /// `Content-Range` carries the total), or `None` when no object is there.
    ///
    /// A 403 counts as "no object": S3 answers 403 instead of 404 for a missing key to callers
    /// without `s3:ListBucket` (template.yaml grants it; a deployment without it would otherwise
    /// turn every early confirm into a 500). A real permission problem then shows as "not found"
    /// in every answer and as this warning in the log.
    pub async fn peek(&self, key: &str, length: u64) -> Result<Option<ObjectStart>, ApiError> {
        let range = format!("bytes=0-{}", length.max(1) - 1);
        Ok(match self.fetch(key, Some(range), None).await? {
            Fetched::Missing => None,
            Fetched::Empty => Some(ObjectStart { size: 0, head: Vec::new() }),
            Fetched::TooLarge { .. } => unreachable!("no size limit was given"),
            Fetched::Bytes { total, mut bytes } => {
                bytes.truncate(length as usize);
                Some(ObjectStart { size: total, head: bytes })
            }
        })
    }

    /// The stored size of `key`, or `None` when no object is there.
    pub async fn object_size(&self, key: &str) -> Result<Option<u64>, ApiError> {
        Ok(self.peek(key, 1).await?.map(|start| start.size))
    }

    /// Reads at most `limit` bytes of `key`: a prefix when `prefix_ok`, otherwise the whole
    /// object or, when it is larger, nothing (`TooLarge`).
    pub async fn read_object(&self, key: &str, limit: u64, prefix_ok: bool) -> Result<ObjectRead, ApiError> {
        let (range, max_body) = match prefix_ok {
            true => (Some(format!("bytes=0-{}", limit.saturating_sub(1))), None),
            false => (None, Some(limit)),
        };
        Ok(match self.fetch(key, range, max_body).await? {
            Fetched::Missing => ObjectRead::Missing,
            Fetched::Empty => ObjectRead::Bytes(Vec::new()),
            Fetched::TooLarge { size } => ObjectRead::TooLarge { size },
            Fetched::Bytes { mut bytes, .. } => {
                bytes.truncate(limit as usize);
                ObjectRead::Bytes(bytes)
            }
        })
    }

    /// One GET of `key` (or of `range` of it), its body read whole unless it is larger than
    /// `max_body`. The SDK retries a request that fails, but not a body that breaks off after
    /// the answer began (a connection reset mid-body; LocalStack when the object is deleted
    /// meanwhile): that is retried here, a few times.
    async fn fetch(&self, key: &str, range: Option<String>, max_body: Option<u64>) -> Result<Fetched, ApiError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let get = self.internal.get_object().bucket(&self.bucket).key(key).set_range(range.clone());
            let output = match get.send().await {
                Ok(output) => output,
                Err(error) => {
                    return match missing_or_empty(&error) {
                        Some(Absence::Missing) => Ok(Fetched::Missing),
                        Some(Absence::Empty) => Ok(Fetched::Empty),
                        None => Err(ApiError::internal("reading an object", error)),
                    }
                }
            };
            let length = output.content_length().unwrap_or_default().max(0) as u64;
            // A range answer names the whole size after the slash: `bytes 0-1023/52000`.
            let total = output.content_range().and_then(|r| r.rsplit('/').next()?.parse().ok()).unwrap_or(length);
            if max_body.is_some_and(|max| length > max) {
                return Ok(Fetched::TooLarge { size: total });
            }
            match output.body.collect().await {
                Ok(body) => return Ok(Fetched::Bytes { total, bytes: body.to_vec() }),
                Err(error) if attempt < BODY_ATTEMPTS => {
                    tracing::warn!(%error, key, attempt, "an object's body broke off; reading it again");
                }
                Err(error) => return Err(ApiError::internal("reading an object's body", error)),
            }
        }
    }

    /// Removes `key`; removing an absent object succeeds (S3 semantics), so retries are safe.
    pub async fn delete_object(&self, key: &str) -> Result<(), ApiError> {
        self.internal
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(drop)
            .map_err(|e| ApiError::internal("removing an object", e))
    }

    /// Signs the PUT of `document`'s object. The content type is always signed; the length and
    /// the SHA-256 checksum when declared (storage then refuses other bytes: `BadDigest`).
    /// `If-None-Match: *` is signed too, so the URL can create the object once and never
    /// overwrite it after confirm charged its size.
    pub async fn presign_upload(&self, document: &Document, expires_in: Duration) -> Result<PresignedUpload, ApiError> {
        let presigning =
            PresigningConfig::expires_in(expires_in).map_err(|e| ApiError::internal("presigning a PUT", e))?;
        let put = self
            .public
            .put_object()
            .bucket(&self.bucket)
            .key(document.object_key())
            .content_type(&document.content_type)
            .if_none_match("*")
            .set_content_length(document.declared_size_bytes.map(|length| length as i64))
            .set_checksum_sha256(document.checksum_sha256.clone());
        let request = put.presigned(presigning).await.map_err(|e| ApiError::internal("presigning a PUT", e))?;
        Ok(PresignedUpload::from(request))
    }

    /// Signs a GET of `key` that downloads under `filename`.
    pub async fn presign_download(&self, key: &str, filename: &str, expires_in: Duration) -> Result<String, ApiError> {
        let presigning =
            PresigningConfig::expires_in(expires_in).map_err(|e| ApiError::internal("presigning a GET", e))?;
        let request = self
            .public
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(content_disposition(filename))
            .presigned(presigning)
            .await
            .map_err(|e| ApiError::internal("presigning a GET", e))?;
        Ok(request.uri().to_owned())
    }
}

impl From<PresignedRequest> for PresignedUpload {
    /// The URL and the headers the client must send: only the signed ones are its business (the
    /// SDK may add others, such as a trace id, that are not part of the signature).
    fn from(request: PresignedRequest) -> Self {
        let signed = signed_header_names(request.uri());
        let headers = request
            .headers()
            .filter(|(name, _)| signed.iter().any(|s| s.eq_ignore_ascii_case(name)))
            .map(|(name, value)| (canonical_header_name(name), value.to_owned()))
            .collect();
        Self { url: request.uri().to_owned(), headers }
    }
}

/// The `X-Amz-SignedHeaders` of a presigned URL, less `host` (the client sends it anyway).
fn signed_header_names(url: &str) -> Vec<String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let list = query.split('&').find_map(|pair| pair.strip_prefix("X-Amz-SignedHeaders=")).unwrap_or_default();
    list.split("%3B").filter(|name| !name.is_empty() && *name != "host").map(str::to_owned).collect()
}

/// `content-type` -> `Content-Type`, as clients usually write headers.
fn canonical_header_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| first.to_ascii_uppercase().to_string() + chars.as_str())
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// An attachment disposition that survives any filename: an ASCII fallback plus the
/// RFC 5987 UTF-8 form.
fn content_disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let encoded: String = filename
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_headers_are_read_from_the_url() {
        let url = "http://h/b/k?x-id=PutObject&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bif-none-match&X-Amz-Signature=ab";
        assert_eq!(signed_header_names(url), ["content-length", "content-type", "if-none-match"]);
    }

    #[test]
    fn header_names_are_capitalised_per_word() {
        assert_eq!(canonical_header_name("content-type"), "Content-Type");
        assert_eq!(canonical_header_name("if-none-match"), "If-None-Match");
    }

    #[test]
    fn disposition_escapes_quotes_and_non_ascii() {
        assert_eq!(
            content_disposition("Résumé \"v2\".pdf"),
            "attachment; filename=\"R_sum_ _v2_.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%22v2%22.pdf"
        );
    }
}

//! Presigned URLs: the browser stores and fetches objects itself, with URLs signed by the
//! public client (built for the browser's view of storage; the signature covers the host).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};

use super::{ObjectStorage, StorageError};
use crate::domain::Document;

/// A presigned PUT and the exact headers the client must send with it.
#[derive(Debug, Clone)]
pub struct PresignedUpload {
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

impl ObjectStorage {
    /// Signs the PUT of `document`'s object. The content type is always signed; the length and
    /// the SHA-256 checksum when declared (storage then refuses other bytes: `BadDigest`).
    /// `If-None-Match: *` is signed too, so the URL can create the object once and never
    /// overwrite it after confirm charged its size.
    pub async fn presign_upload(
        &self,
        document: &Document,
        expires_in: Duration,
    ) -> Result<PresignedUpload, StorageError> {
        let presigning =
            PresigningConfig::expires_in(expires_in).map_err(|e| StorageError::new("presigning a PUT", e))?;
        let put = self
            .public
            .put_object()
            .bucket(&self.bucket)
            .key(document.object_key())
            .content_type(&document.content_type)
            .if_none_match("*")
            .set_content_length(document.declared_size_bytes.map(|length| length as i64))
            .set_checksum_sha256(document.checksum_sha256.clone());
        let request = put.presigned(presigning).await.map_err(|e| StorageError::new("presigning a PUT", e))?;
        Ok(PresignedUpload::from(request))
    }

    /// Signs a GET of `key` that downloads under `filename`.
    pub async fn presign_download(
        &self,
        key: &str,
        filename: &str,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        let presigning =
            PresigningConfig::expires_in(expires_in).map_err(|e| StorageError::new("presigning a GET", e))?;
        let request = self
            .public
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(content_disposition(filename))
            .presigned(presigning)
            .await
            .map_err(|e| StorageError::new("presigning a GET", e))?;
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

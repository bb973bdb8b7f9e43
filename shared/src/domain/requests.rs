//! What clients send, and the rules it must pass before anything is written.

use serde::Deserialize;

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::multipart::ChecksumAlgorithm;
use super::{truncate, InputError, MAX_CONTENT_TYPE_CHARS, MAX_FILENAME_CHARS};

/// The largest object S3 stores in parts (5 TiB). Sizes are also counted in signed 64-bit
/// deltas, which this keeps far from overflowing.
pub const MAX_OBJECT_BYTES: u64 = 5 << 40;

/// The largest object one PUT stores (5 GiB); larger ones go in parts
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/upload-objects.html>).
pub const MAX_SINGLE_PUT_BYTES: u64 = 5 << 30;

pub const MAX_TOPIC_NAME_CHARS: usize = 100;
pub const MAX_TOPIC_DESCRIPTION_CHARS: usize = 2000;

/// The body of POST /api/topics.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTopicRequest {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

impl NewTopicRequest {
    pub fn validate(self) -> Result<(String, String), InputError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(InputError::Invalid("name must not be empty".into()));
        }
        if name.chars().count() > MAX_TOPIC_NAME_CHARS {
            return Err(InputError::Invalid(format!("name must be at most {MAX_TOPIC_NAME_CHARS} characters")));
        }
        let description = self.description.trim();
        if description.chars().count() > MAX_TOPIC_DESCRIPTION_CHARS {
            return Err(InputError::Invalid(format!(
                "description must be at most {MAX_TOPIC_DESCRIPTION_CHARS} characters"
            )));
        }
        if name.chars().chain(description.chars()).any(|c| c.is_control() && c != '\n') {
            return Err(InputError::Invalid("name and description must not contain control characters".into()));
        }
        Ok((name.to_owned(), description.to_owned()))
    }
}

/// The body of PUT /api/documents/{id}/topic: a topic id, or `null` for none. The field is
/// required (`{}` is refused rather than read as "none").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRequest {
    #[serde(default, deserialize_with = "present")]
    pub topic_id: Option<Option<String>>,
}

/// A field that is there, `null` or not.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

impl FileRequest {
    pub fn validate(self) -> Result<Option<super::TopicId>, InputError> {
        let Some(topic) = self.topic_id else {
            return Err(InputError::Invalid("topic_id is required: a topic id, or null to unfile".into()));
        };
        topic.map(|id| super::TopicId::parse(id.trim())).transpose()
    }
}

/// The body of POST /api/documents/upload-url.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadUrlRequest {
    pub filename: String,
    pub content_type: String,
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// Base64 SHA-256 of the file: signed into the PUT, so storage refuses other bytes.
    #[serde(default)]
    pub checksum_sha256: Option<String>,
    /// Send the file in parts (needs `size_bytes`).
    #[serde(default)]
    pub multipart: bool,
    /// `"SHA256"`: the multipart upload is created with this algorithm, and every part then
    /// carries its checksum (multipart only).
    #[serde(default)]
    pub checksum_algorithm: Option<String>,
    /// Confirm when the object arrives (its S3 event), with no `POST .../confirm` from the
    /// client: the outcome shows on the document (single uploads only).
    #[serde(default)]
    pub confirm_on_arrival: bool,
}

/// An upload request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpload {
    pub filename: String,
    /// As the client sent it (trimmed); it is signed and must be sent back verbatim.
    pub content_type: String,
    pub size_bytes: Option<u64>,
    pub checksum_sha256: Option<String>,
    pub multipart: bool,
    /// The parts' checksum algorithm, for a multipart upload that declared one.
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// Confirmed by its object's arrival rather than by a request (`Document::confirm_on_arrival`).
    pub confirm_on_arrival: bool,
}

impl UploadUrlRequest {
    pub fn validate(self, allowed_content_types: &[String]) -> Result<NewUpload, InputError> {
        let filename = self.filename.trim();
        if filename.is_empty() {
            return Err(InputError::Invalid("filename must not be empty".into()));
        }
        let chars = filename.chars().count();
        if chars > MAX_FILENAME_CHARS {
            return Err(InputError::Invalid(format!(
                "filename is {chars} characters long; at most {MAX_FILENAME_CHARS} are allowed"
            )));
        }
        if filename.chars().any(char::is_control) {
            return Err(InputError::Invalid("filename must not contain control characters".into()));
        }
        let content_type = self.content_type.trim();
        if content_type.is_empty() {
            return Err(InputError::Invalid("content_type must not be empty".into()));
        }
        if content_type.len() > MAX_CONTENT_TYPE_CHARS
            || !content_type.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        {
            return Err(InputError::Invalid("content_type must be a printable ASCII media type".into()));
        }
        let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if !allowed_content_types.contains(&essence) {
            return Err(InputError::UnsupportedMediaType(format!(
                "content type {essence:?} is not accepted; allowed types: {}",
                allowed_content_types.join(", ")
            )));
        }
        if let Some(size) = self.size_bytes.filter(|size| *size > MAX_OBJECT_BYTES) {
            return Err(InputError::Invalid(format!(
                "size_bytes is {size}; an object holds at most {MAX_OBJECT_BYTES} bytes (5 TiB)"
            )));
        }
        let checksum_sha256 = self.checksum_sha256.map(|c| c.trim().to_owned());
        if checksum_sha256.as_deref().is_some_and(|c| !is_sha256_base64(c)) {
            return Err(InputError::Invalid(
                "checksum_sha256 must be the base64 SHA-256 of the file (32 bytes, 44 characters)".into(),
            ));
        }
        if self.multipart && self.size_bytes.is_none() {
            return Err(InputError::Invalid("a multipart upload needs size_bytes".into()));
        }
        if let Some(size) = self.size_bytes.filter(|size| !self.multipart && *size > MAX_SINGLE_PUT_BYTES) {
            return Err(InputError::Invalid(format!(
                "size_bytes is {size}; one PUT stores at most {MAX_SINGLE_PUT_BYTES} bytes (5 GiB): \
                 send the file in parts with \"multipart\": true"
            )));
        }
        let checksum_algorithm = match self.checksum_algorithm.as_deref().map(str::trim) {
            None => None,
            Some(_) if !self.multipart => {
                return Err(InputError::Invalid(
                    "checksum_algorithm applies to multipart uploads; a single upload gives checksum_sha256".into(),
                ))
            }
            Some(raw) => Some(ChecksumAlgorithm::parse(raw).ok_or_else(|| {
                InputError::Invalid(format!(
                    "checksum_algorithm {:?} is not supported: use \"SHA256\"",
                    truncate(raw, 32)
                ))
            })?),
        };
        if self.multipart && checksum_sha256.is_some() {
            // S3 checks a multipart upload per part, not as one digest of the whole file.
            return Err(InputError::Invalid(
                "checksum_sha256 applies to single uploads; give each part's checksum when asking for its URL".into(),
            ));
        }
        if self.multipart && self.confirm_on_arrival {
            return Err(InputError::Invalid(
                "confirm_on_arrival applies to single uploads; a multipart upload is confirmed with \
                 POST /api/documents/{id}/confirm once its parts are stored"
                    .into(),
            ));
        }
        Ok(NewUpload {
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            size_bytes: self.size_bytes,
            checksum_sha256,
            multipart: self.multipart,
            checksum_algorithm,
            confirm_on_arrival: self.confirm_on_arrival,
        })
    }
}

/// Part URLs one request may ask for.
pub const MAX_PARTS_PER_REQUEST: usize = 100;

/// The body of POST /api/documents/{id}/parts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartsRequest {
    pub part_numbers: Vec<u32>,
    /// Base64 SHA-256 of some of those parts, by part number: each is signed into its part's URL,
    /// so storage refuses other bytes for that part.
    #[serde(default)]
    pub checksums_sha256: BTreeMap<u32, String>,
}

/// Parts to sign: their numbers, sorted and unique, and the checksums declared for some.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartsToSign {
    pub numbers: Vec<u32>,
    pub checksums: BTreeMap<u32, String>,
}

impl PartsRequest {
    /// 1 to 100 part numbers, deduplicated and sorted; checksums only for those, each a digest.
    pub fn validate(self) -> Result<PartsToSign, InputError> {
        let mut numbers = self.part_numbers;
        numbers.sort_unstable();
        numbers.dedup();
        if numbers.is_empty() || numbers.len() > MAX_PARTS_PER_REQUEST {
            return Err(InputError::Invalid(format!("part_numbers must list 1 to {MAX_PARTS_PER_REQUEST} parts")));
        }
        let mut checksums = BTreeMap::new();
        for (number, checksum) in self.checksums_sha256 {
            if numbers.binary_search(&number).is_err() {
                return Err(InputError::Invalid(format!(
                    "checksums_sha256 names part {number}, which is not asked for"
                )));
            }
            let checksum = checksum.trim().to_owned();
            if !is_sha256_base64(&checksum) {
                return Err(InputError::Invalid(format!(
                    "the checksum of part {number} must be its base64 SHA-256 (32 bytes, 44 characters)"
                )));
            }
            checksums.insert(number, checksum);
        }
        Ok(PartsToSign { numbers, checksums })
    }
}

/// A SHA-256 digest in standard base64 with padding, as S3's `x-amz-checksum-sha256` takes it.
fn is_sha256_base64(value: &str) -> bool {
    value.len() == 44 && STANDARD.decode(value).is_ok_and(|digest| digest.len() == 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_ALLOWED_CONTENT_TYPES;

    fn allowed() -> Vec<String> {
        DEFAULT_ALLOWED_CONTENT_TYPES.iter().map(|s| s.to_string()).collect()
    }

    fn request(filename: &str, content_type: &str) -> UploadUrlRequest {
        UploadUrlRequest {
            filename: filename.into(),
            content_type: content_type.into(),
            size_bytes: None,
            checksum_sha256: None,
            multipart: false,
            checksum_algorithm: None,
            confirm_on_arrival: false,
        }
    }

    #[test]
    fn filing_needs_a_topic_id_or_null() {
        let parse = |body: &str| {
            serde_json::from_str::<FileRequest>(body).map_err(|_| ()).and_then(|r| r.validate().map_err(|_| ()))
        };
        let id = "0193a5a0-1f2e-7a3b-8c4d-5e6f7a8b9c0d";
        assert_eq!(parse(&format!(r#"{{"topic_id": "{id}"}}"#)).unwrap().unwrap().to_string(), id);
        assert_eq!(parse(r#"{"topic_id": null}"#), Ok(None));
        for bad in ["{}", r#"{"topic_id": "nope"}"#, r#"{"topic_id": 3}"#, r#"{"topic_id": null, "x": 1}"#] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accepts_allowed_types_with_parameters_and_keeps_them_for_signing() {
        let upload = request(" notes.md ", "text/markdown; charset=utf-8").validate(&allowed()).unwrap();
        assert_eq!(upload.filename, "notes.md");
        assert_eq!(upload.content_type, "text/markdown; charset=utf-8");
    }

    #[test]
    fn a_declared_size_beyond_what_storage_holds_is_refused() {
        let sized =
            |size| UploadUrlRequest { size_bytes: Some(size), multipart: true, ..request("a.txt", "text/plain") };
        assert!(sized(MAX_OBJECT_BYTES).validate(&allowed()).is_ok(), "in parts");
        for size in [MAX_OBJECT_BYTES + 1, 1 << 63, u64::MAX] {
            let err = sized(size).validate(&allowed()).unwrap_err();
            assert!(matches!(err, InputError::Invalid(_)), "{size}");
        }
    }

    #[test]
    fn a_single_put_beyond_5_gib_is_told_to_use_parts() {
        let sized =
            |size, multipart| UploadUrlRequest { size_bytes: Some(size), multipart, ..request("a.txt", "text/plain") };
        assert!(sized(MAX_SINGLE_PUT_BYTES, false).validate(&allowed()).is_ok());
        let refused = sized(MAX_SINGLE_PUT_BYTES + 1, false).validate(&allowed()).unwrap_err();
        assert!(refused.to_string().contains("\"multipart\": true"), "{refused}");
        assert_eq!(crate::ApiError::from(refused).status().as_u16(), 422);
        assert!(sized(MAX_SINGLE_PUT_BYTES + 1, true).validate(&allowed()).is_ok());
    }

    #[test]
    fn a_checksum_algorithm_is_declared_for_multipart_uploads_only_and_is_sha256() {
        let with = |algorithm: &str, multipart| UploadUrlRequest {
            size_bytes: Some(100),
            multipart,
            checksum_algorithm: Some(algorithm.into()),
            ..request("a.txt", "text/plain")
        };
        let upload = with("SHA256", true).validate(&allowed()).unwrap();
        assert_eq!(upload.checksum_algorithm, Some(ChecksumAlgorithm::Sha256));
        for (algorithm, multipart) in [("SHA256", false), ("CRC32", true), ("sha256", true), ("", true)] {
            let err = with(algorithm, multipart).validate(&allowed()).unwrap_err();
            assert_eq!(crate::ApiError::from(err).status().as_u16(), 422, "{algorithm:?} {multipart}");
        }
        let plain = UploadUrlRequest { size_bytes: Some(100), multipart: true, ..request("a.txt", "text/plain") };
        assert_eq!(plain.validate(&allowed()).unwrap().checksum_algorithm, None, "optional: old clients keep working");
    }

    #[test]
    fn confirm_on_arrival_is_for_single_uploads() {
        let asked = |multipart| UploadUrlRequest {
            size_bytes: Some(100),
            multipart,
            confirm_on_arrival: true,
            ..request("a.txt", "text/plain")
        };
        assert!(asked(false).validate(&allowed()).unwrap().confirm_on_arrival);
        let err = asked(true).validate(&allowed()).unwrap_err();
        assert_eq!(crate::ApiError::from(err).status().as_u16(), 422);
        let body: UploadUrlRequest =
            serde_json::from_str(r#"{"filename": "a.txt", "content_type": "text/plain"}"#).unwrap();
        assert!(!body.confirm_on_arrival, "off unless asked: the seed's clients confirm");
    }

    #[test]
    fn checksums_are_base64_sha256_digests() {
        let with = |c: &str| UploadUrlRequest { checksum_sha256: Some(c.into()), ..request("a.txt", "text/plain") };
        let digest = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="; // SHA-256 of "hello"
        assert_eq!(with(digest).validate(&allowed()).unwrap().checksum_sha256.as_deref(), Some(digest));
        for bad in ["", "abc", "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ", "aGVsbG8=", "!!!!"] {
            assert!(with(bad).validate(&allowed()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rejects_bad_filenames_and_types() {
        let long = "a".repeat(1000);
        for (name, ct, unsupported_type) in [
            ("", "text/plain", false),
            ("   ", "text/plain", false),
            (long.as_str(), "text/plain", false),
            ("a\u{0}b", "text/plain", false),
            ("line\nbreak", "text/plain", false),
            ("ok.txt", "", false),
            ("ok.txt", "text/plain\r\nx-evil: 1", false),
            ("ok.exe", "application/x-msdownload", true),
        ] {
            let err = request(name, ct).validate(&allowed()).unwrap_err();
            assert_eq!(matches!(err, InputError::UnsupportedMediaType(_)), unsupported_type, "{name:?} {ct:?}");
            assert_eq!(matches!(err, InputError::Invalid(_)), !unsupported_type, "{name:?} {ct:?}");
        }
    }
}

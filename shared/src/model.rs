//! Domain types and the validation rules for what clients send.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;

pub const MAX_FILENAME_CHARS: usize = 255;
const MAX_CONTENT_TYPE_CHARS: usize = 255;
const MAX_SUBJECT_CHARS: usize = 128;

/// The caller: the `sub` claim of a verified JWT. It becomes part of object keys, so it is
/// restricted to characters that are safe there and cannot form a path segment of its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn parse(sub: &str) -> Result<Self, ApiError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:@|+=".contains(c);
        if sub.is_empty() || sub.len() > MAX_SUBJECT_CHARS || !sub.chars().all(allowed) {
            return Err(ApiError::Unauthorized("the token subject is empty or has unsupported characters".into()));
        }
        Ok(Self(sub.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A UUID v7 identifier type: time-ordered, so sorting by id sorts by creation time (which the
/// newest-first document list relies on), and parsed with a 422 naming what it identifies.
macro_rules! uuid_id {
    ($name:ident, $what:literal) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn parse(raw: &str) -> Result<Self, ApiError> {
                Uuid::try_parse(raw).map(Self).map_err(|_| {
                    ApiError::invalid(format!(concat!($what, " id {:?} is not a valid UUID"), truncate(raw, 64)))
                })
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(DocumentId, "document");
uuid_id!(TopicId, "topic");

/// The object key of a document: built on the server only, never from client text.
pub fn object_key(user: &UserId, id: DocumentId) -> String {
    format!("users/{}/{}", user.as_str(), id)
}

/// Splits `users/<sub>/<uuid>` back into its owner and document; `None` for any other key.
pub fn parse_object_key(key: &str) -> Option<(UserId, DocumentId)> {
    let rest = key.strip_prefix("users/")?;
    let (sub, id) = rest.split_once('/')?;
    let user = UserId::parse(sub).ok()?;
    let id = Uuid::try_parse(id).ok()?;
    // Only the canonical spelling round-trips; anything else is not a key we made.
    (object_key(&user, DocumentId(id)) == key).then_some((user, DocumentId(id)))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentStatus {
    /// upload-url handed out a URL; nothing charged yet.
    Pending,
    /// confirm charged the quota; the object is the document.
    Uploaded,
    /// The object did not fit the quota at confirm; never charged, never confirmable.
    Rejected,
}

impl DocumentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Uploaded => "uploaded",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "uploaded" => Some(Self::Uploaded),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// A user's topic: documents are filed under the one their text matches best.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Topic {
    pub id: TopicId,
    pub name: String,
    pub description: String,
    #[serde(skip)]
    pub created_at: i64,
}

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
    pub fn validate(self) -> Result<(String, String), ApiError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(ApiError::invalid("name must not be empty"));
        }
        if name.chars().count() > MAX_TOPIC_NAME_CHARS {
            return Err(ApiError::invalid(format!("name must be at most {MAX_TOPIC_NAME_CHARS} characters")));
        }
        let description = self.description.trim();
        if description.chars().count() > MAX_TOPIC_DESCRIPTION_CHARS {
            return Err(ApiError::invalid(format!(
                "description must be at most {MAX_TOPIC_DESCRIPTION_CHARS} characters"
            )));
        }
        if name.chars().chain(description.chars()).any(|c| c.is_control() && c != '\n') {
            return Err(ApiError::invalid("name and description must not contain control characters"));
        }
        Ok((name.to_owned(), description.to_owned()))
    }
}

/// Where classification of a document stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassificationStatus {
    Pending,
    Classified,
    Unclassified,
    Failed,
}

impl ClassificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Classified => "classified",
            Self::Unclassified => "unclassified",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "classified" => Some(Self::Classified),
            "unclassified" => Some(Self::Unclassified),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// The result of classifying a document, as stored on it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Classification {
    #[serde(rename = "classification_status")]
    pub status: ClassificationStatus,
    pub topic_id: Option<TopicId>,
    /// Score of the chosen (or best) topic, 0 to 1.
    pub confidence: Option<f64>,
    /// The start of the extracted text.
    pub excerpt: Option<String>,
    /// Why classification failed.
    #[serde(rename = "classification_reason")]
    pub reason: Option<String>,
}

impl Classification {
    pub fn pending() -> Self {
        Self { status: ClassificationStatus::Pending, topic_id: None, confidence: None, excerpt: None, reason: None }
    }

    pub fn failed(reason: impl Into<String>) -> Self {
        Self { status: ClassificationStatus::Failed, reason: Some(reason.into()), ..Self::pending() }
    }
}

/// A document as stored in the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub id: DocumentId,
    pub owner: UserId,
    pub filename: String,
    pub content_type: String,
    pub status: DocumentStatus,
    /// Size announced at upload-url (signed into the PUT), if any.
    pub declared_size_bytes: Option<u64>,
    /// Size read from storage at confirm; set for uploaded and rejected documents.
    pub size_bytes: Option<u64>,
    /// Unix seconds.
    pub created_at: i64,
    pub uploaded_at: Option<i64>,
    pub classification: Classification,
}

impl Document {
    /// A new pending document of `owner`, created `now` (upload-url's starting point).
    pub fn pending(
        owner: UserId,
        filename: String,
        content_type: String,
        declared_size_bytes: Option<u64>,
        now: i64,
    ) -> Self {
        Self {
            id: DocumentId::new(),
            owner,
            filename,
            content_type,
            status: DocumentStatus::Pending,
            declared_size_bytes,
            size_bytes: None,
            created_at: now,
            uploaded_at: None,
            classification: Classification::pending(),
        }
    }

    pub fn object_key(&self) -> String {
        object_key(&self.owner, self.id)
    }
}

/// Usage and limit of one user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Quota {
    pub used_bytes: u64,
    pub limit_bytes: u64,
}

/// The body of POST /api/documents/upload-url.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadUrlRequest {
    pub filename: String,
    pub content_type: String,
    #[serde(default)]
    pub size_bytes: Option<u64>,
}

/// An upload request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpload {
    pub filename: String,
    /// As the client sent it (trimmed); it is signed and must be sent back verbatim.
    pub content_type: String,
    pub size_bytes: Option<u64>,
}

impl UploadUrlRequest {
    pub fn validate(self, allowed_content_types: &[String]) -> Result<NewUpload, ApiError> {
        let filename = self.filename.trim();
        if filename.is_empty() {
            return Err(ApiError::invalid("filename must not be empty"));
        }
        let chars = filename.chars().count();
        if chars > MAX_FILENAME_CHARS {
            return Err(ApiError::invalid(format!(
                "filename is {chars} characters long; at most {MAX_FILENAME_CHARS} are allowed"
            )));
        }
        if filename.chars().any(char::is_control) {
            return Err(ApiError::invalid("filename must not contain control characters"));
        }
        let content_type = self.content_type.trim();
        if content_type.is_empty() {
            return Err(ApiError::invalid("content_type must not be empty"));
        }
        if content_type.len() > MAX_CONTENT_TYPE_CHARS
            || !content_type.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        {
            return Err(ApiError::invalid("content_type must be a printable ASCII media type"));
        }
        let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if !allowed_content_types.contains(&essence) {
            return Err(ApiError::UnsupportedMediaType(format!(
                "content type {essence:?} is not accepted; allowed types: {}",
                allowed_content_types.join(", ")
            )));
        }
        Ok(NewUpload {
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            size_bytes: self.size_bytes,
        })
    }
}

fn truncate(s: &str, max_chars: usize) -> &str {
    s.char_indices().nth(max_chars).map_or(s, |(i, _)| &s[..i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_ALLOWED_CONTENT_TYPES;

    fn allowed() -> Vec<String> {
        DEFAULT_ALLOWED_CONTENT_TYPES.iter().map(|s| s.to_string()).collect()
    }

    fn request(filename: &str, content_type: &str) -> UploadUrlRequest {
        UploadUrlRequest { filename: filename.into(), content_type: content_type.into(), size_bytes: None }
    }

    #[test]
    fn accepts_allowed_types_with_parameters_and_keeps_them_for_signing() {
        let upload = request(" notes.md ", "text/markdown; charset=utf-8").validate(&allowed()).unwrap();
        assert_eq!(upload.filename, "notes.md");
        assert_eq!(upload.content_type, "text/markdown; charset=utf-8");
    }

    #[test]
    fn rejects_bad_filenames_and_types() {
        let long = "a".repeat(1000);
        for (name, ct, status) in [
            ("", "text/plain", 422),
            ("   ", "text/plain", 422),
            (long.as_str(), "text/plain", 422),
            ("a\u{0}b", "text/plain", 422),
            ("line\nbreak", "text/plain", 422),
            ("ok.txt", "", 422),
            ("ok.txt", "text/plain\r\nx-evil: 1", 422),
            ("ok.exe", "application/x-msdownload", 415),
        ] {
            let err = request(name, ct).validate(&allowed()).unwrap_err();
            assert_eq!(err.status().as_u16(), status, "{name:?} {ct:?}");
        }
    }

    #[test]
    fn object_keys_round_trip_and_reject_foreign_shapes() {
        let user = UserId::parse("alice").unwrap();
        let id = DocumentId::new();
        let key = object_key(&user, id);
        assert_eq!(parse_object_key(&key), Some((user, id)));
        for foreign in [
            "users/alice",
            "users/alice/not-a-uuid",
            "other/alice/x",
            "users//x",
            "users/a/b/c",
            &format!("users/alice/{}", id.0.simple()),
        ] {
            assert_eq!(parse_object_key(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn subjects_that_could_break_keys_are_refused() {
        assert!(UserId::parse("auth0|123").is_ok());
        assert!(UserId::parse("a4f1c2d3-0000-4000-8000-000000000000").is_ok());
        for bad in ["", "a/b", "a b", "é", &"x".repeat(129)] {
            assert!(UserId::parse(bad).is_err(), "{bad}");
        }
    }
}

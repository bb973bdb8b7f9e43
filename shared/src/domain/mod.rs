//! The domain: what is stored (documents, topics, a user's quota), the rules that decide (the
//! quota's arithmetic, the document's states and transitions, topic names), and the validation
//! of what clients send. No AWS types and no I/O here: the adapters (`table`, `storage`) map
//! these to items and requests, and the operations (`operations`) combine both.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod charge;
mod document;
pub mod examples;
mod multipart;
mod quota;
mod requests;
mod time_budget;
pub mod topics;
mod transition;

pub use charge::PendingCharge;
pub use document::{Classification, ClassificationStatus, Document, MultipartUpload, Quota, Topic, FILED_BY_USER};
pub use multipart::{
    check_part_checksums, checksums_signed_otherwise, completion_checksums, ChecksumAlgorithm, MultipartPlan,
    MAX_PARTS, MAX_PART_BYTES, MIN_PART_BYTES,
};
pub use quota::{QuotaCounters, QuotaDelta, QuotaExceeded, QuotaPolicy, QuotaRefusal};
pub use requests::{
    FileRequest, NewTopicRequest, NewUpload, PartsRequest, PartsToSign, UploadUrlRequest, MAX_OBJECT_BYTES,
    MAX_PARTS_PER_REQUEST, MAX_SINGLE_PUT_BYTES, MAX_TOPIC_DESCRIPTION_CHARS, MAX_TOPIC_NAME_CHARS,
};
pub use time_budget::{step_time, Overrun, StepTime};
pub use topics::TopicState;
pub use transition::{Transition, CLASSIFIABLE};

/// Why client input was refused. The HTTP layer chooses the status (`crate::error`); tools and
/// the S3 event handler read it as they need.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the token subject is empty or has unsupported characters")]
    InvalidSubject,
}

pub const MAX_FILENAME_CHARS: usize = 255;
pub(crate) const MAX_CONTENT_TYPE_CHARS: usize = 255;
const MAX_SUBJECT_CHARS: usize = 128;

/// The caller: the `sub` claim of a verified JWT. It becomes part of object keys, so it is
/// restricted to characters that are safe there and cannot form a path segment of its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn parse(sub: &str) -> Result<Self, InputError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:@|+=".contains(c);
        if sub.is_empty() || sub.len() > MAX_SUBJECT_CHARS || !sub.chars().all(allowed) {
            return Err(InputError::InvalidSubject);
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

            pub fn parse(raw: &str) -> Result<Self, InputError> {
                Uuid::try_parse(raw).map(Self).map_err(|_| {
                    InputError::Invalid(format!(concat!($what, " id {:?} is not a valid UUID"), truncate(raw, 64)))
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

pub(crate) fn truncate(s: &str, max_chars: usize) -> &str {
    s.char_indices().nth(max_chars).map_or(s, |(i, _)| &s[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

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

//! What is stored: documents with their classification, topics, a user's quota.

use serde::{Deserialize, Serialize};

use super::{object_key, ChecksumAlgorithm, DocumentId, DocumentStatus, TopicId, UserId};

/// A user's topic: documents are filed under the one their text matches best.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Topic {
    pub id: TopicId,
    pub name: String,
    pub description: String,
    #[serde(skip)]
    pub created_at: i64,
}

/// Where classification of a document stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassificationStatus {
    Pending,
    /// Filed under a topic.
    Classified,
    /// The text was read and no topic scored high enough (the best score is kept).
    Unclassified,
    /// The file could not be read (corrupt, encrypted, over a limit); the reason says why.
    Failed,
    /// The file was read but holds no text (a scan without a text layer, an empty file).
    NoText,
}

impl ClassificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Classified => "classified",
            Self::Unclassified => "unclassified",
            Self::Failed => "failed",
            Self::NoText => "no_text",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "classified" => Some(Self::Classified),
            "unclassified" => Some(Self::Unclassified),
            "failed" => Some(Self::Failed),
            "no_text" => Some(Self::NoText),
            _ => None,
        }
    }
}

/// What `classified_by` says when the user filed (or unfiled) the document by hand.
pub const FILED_BY_USER: &str = "user";

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
    /// Why classification failed or found no text.
    #[serde(rename = "classification_reason")]
    pub reason: Option<String>,
    /// The classifier that chose: `term-match`, or `bedrock:<model id>` (see `classifier`).
    pub classified_by: Option<String>,
    /// The document's features (`classifier::DocumentFeatures::to_bytes`), stored with an
    /// automatic result so that the document can become an example of the topic the user files
    /// it under (`domain::examples`). Never sent to clients.
    #[serde(skip)]
    pub features: Option<Vec<u8>>,
}

impl Classification {
    pub fn pending() -> Self {
        Self {
            status: ClassificationStatus::Pending,
            topic_id: None,
            confidence: None,
            excerpt: None,
            reason: None,
            classified_by: None,
            features: None,
        }
    }

    pub fn failed(reason: impl Into<String>) -> Self {
        Self { status: ClassificationStatus::Failed, reason: Some(reason.into()), ..Self::pending() }
    }

    /// The user's own choice: filed under `topic`, or with `None` taken out of every topic.
    pub fn by_user(topic: Option<TopicId>, excerpt: Option<String>) -> Self {
        Self {
            status: match topic {
                Some(_) => ClassificationStatus::Classified,
                None => ClassificationStatus::Unclassified,
            },
            topic_id: topic,
            excerpt,
            classified_by: Some(FILED_BY_USER.to_owned()),
            ..Self::pending()
        }
    }

    /// Whether the user filed (or unfiled) the document by hand.
    pub fn is_by_user(&self) -> bool {
        self.classified_by.as_deref() == Some(FILED_BY_USER)
    }

    /// The topic the user filed the document under by hand: the only topic that may hold it as
    /// an example (`domain::examples`).
    pub fn filed_by_user_under(&self) -> Option<TopicId> {
        self.topic_id.filter(|_| self.is_by_user())
    }

    pub fn no_text() -> Self {
        Self {
            status: ClassificationStatus::NoText,
            reason: Some("no text could be read: the document is empty, or an image without a text layer".into()),
            ..Self::pending()
        }
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
    /// For an upload without a declared size: the size its object had when it arrived, reserved
    /// then (`Transition::reserve_arrival`) as a declared size is at upload-url.
    pub arrival_bytes: Option<u64>,
    /// Size read from storage at confirm; set for uploaded and rejected documents.
    pub size_bytes: Option<u64>,
    /// Unix seconds.
    pub created_at: i64,
    pub uploaded_at: Option<i64>,
    pub classification: Classification,
    /// Base64 SHA-256 of the file, when the client declared one (storage verified it); for a
    /// multipart upload with a checksum algorithm, the object's composite checksum as S3 reports
    /// it at completion (`<base64 SHA-256 of the parts' digests>-<part count>`).
    pub checksum_sha256: Option<String>,
    /// Why a rejected document's content was refused; `None` when it did not fit the quota.
    pub rejection_reason: Option<String>,
    /// The S3 multipart upload of a document sent in parts, and its part size.
    pub multipart: Option<MultipartUpload>,
    /// Whether its owner's counters list it while it is pending and uncharged (every document
    /// created since confirm charges in two steps, `domain::charge`).
    pub listed: bool,
    /// Confirmed when its object arrives (the S3 event), not by a request: a single upload whose
    /// client asked for it at upload-url (the web page does). Clean-up confirms such an upload
    /// whose object is stored but whose event never got through, rather than removing it.
    pub confirm_on_arrival: bool,
}

/// A document's S3 multipart upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultipartUpload {
    pub upload_id: String,
    pub part_size: u64,
    /// The algorithm the upload was created with: every part then carries its checksum.
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
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
            arrival_bytes: None,
            size_bytes: None,
            created_at: now,
            uploaded_at: None,
            classification: Classification::pending(),
            checksum_sha256: None,
            rejection_reason: None,
            multipart: None,
            listed: true,
            confirm_on_arrival: false,
        }
    }

    pub fn object_key(&self) -> String {
        object_key(&self.owner, self.id)
    }

    /// What a pending document holds reserved in its owner's quota: its declared size, or the
    /// size its undeclared object was reserved with when it arrived.
    pub fn reserved_bytes(&self) -> Option<u64> {
        self.declared_size_bytes.or(self.arrival_bytes)
    }

    /// Why it was rejected, in words, for a rejected document (confirm's 413 and 415 say the same
    /// with figures, to the request that was refused).
    pub fn rejection(&self) -> Option<String> {
        if self.status != DocumentStatus::Rejected {
            return None;
        }
        Some(match (&self.rejection_reason, self.size_bytes) {
            (Some(reason), _) => reason.clone(),
            (None, Some(size)) => format!("the file ({size} bytes) does not fit the storage quota"),
            (None, None) => "the file does not fit the storage quota".to_owned(),
        })
    }

    /// Whether its object's arrival confirms it: a pending single upload that asked for it (a
    /// multipart upload's parts raise no event; its object appears when confirm completes it).
    pub fn confirms_on_arrival(&self) -> bool {
        self.status == DocumentStatus::Pending && self.confirm_on_arrival && self.multipart.is_none()
    }
}

/// Usage and limit of one user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Quota {
    pub used_bytes: u64,
    pub limit_bytes: u64,
    /// Declared sizes of uploads still pending: promised, not yet charged.
    pub reserved_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pending_single_uploads_that_asked_are_confirmed_on_arrival() {
        let user = UserId::parse("u").unwrap();
        let asked = Document {
            confirm_on_arrival: true,
            ..Document::pending(user, "a.txt".into(), "text/plain".into(), Some(3), 0)
        };
        assert!(asked.confirms_on_arrival());
        assert!(!Document { confirm_on_arrival: false, ..asked.clone() }.confirms_on_arrival());
        assert!(!Document { status: DocumentStatus::Uploaded, ..asked.clone() }.confirms_on_arrival());
        assert!(!Document { status: DocumentStatus::Rejected, ..asked.clone() }.confirms_on_arrival());
        let multipart = MultipartUpload { upload_id: "x".into(), part_size: 5, checksum_algorithm: None };
        assert!(!Document { multipart: Some(multipart), ..asked }.confirms_on_arrival());
    }

    #[test]
    fn a_rejected_document_says_why() {
        let user = UserId::parse("u").unwrap();
        let pending = Document::pending(user, "a.pdf".into(), "application/pdf".into(), Some(3), 0);
        assert_eq!(pending.rejection(), None);
        let over = Document { status: DocumentStatus::Rejected, size_bytes: Some(3), ..pending.clone() };
        assert_eq!(over.rejection().as_deref(), Some("the file (3 bytes) does not fit the storage quota"));
        let wrong = Document { rejection_reason: Some("declared PDF, found text".into()), ..over };
        assert_eq!(wrong.rejection().as_deref(), Some("declared PDF, found text"));
    }
}

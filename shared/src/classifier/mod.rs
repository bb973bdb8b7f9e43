//! The classifiers: text and a user's topics in, the best topic and its score out, with the
//! name of the classifier that decided (stored on the document as `classified_by`).
//!
//! - `term_match`: offline and deterministic, on the words topics and text share.
//! - `semantic`: offline and deterministic, on meaning: a static sentence embedding
//!   (`embedding`, distilled from all-MiniLM-L6-v2) plus the term score, and what kind of
//!   document the text is (`document_types`, learnt from a bank of examples). The default when
//!   the table is there (`CLASSIFIER_MODEL_PATH`, with `CLASSIFIER_DOCUMENT_TYPES_PATH`).
//! - `bedrock`: an Amazon Bedrock model chooses (when `BEDROCK_MODEL_ID` is set), falling back
//!   to the offline classifier whenever Bedrock fails, throttles or answers something unusable.

mod bedrock;
pub mod document_types;
pub mod embedding;
mod semantic;
mod term_match;

use std::future::Future;
use std::pin::Pin;

pub use bedrock::{BedrockClassifier, DEFAULT_BEDROCK_PROMPT};
pub use semantic::{SemanticClassifier, SEMANTIC};
pub use term_match::{TermMatchClassifier, TERM_MATCH};

use crate::domain::{Topic, TopicId};

/// A classifier's decision.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The best topic and its score in 0..=1 (stored as the confidence); `None` when there are
    /// no topics.
    pub best: Option<(TopicId, f64)>,
    /// Whether the document is filed under `best`, or left unclassified with its score recorded.
    pub filed: bool,
    /// Which classifier decided: `term-match`, `minilm-static`, or `bedrock:<model id>`.
    pub classified_by: String,
    /// Why the configured classifier did not decide, when a fallback did.
    pub fallback: Option<String>,
}

pub type VerdictFuture<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// Scores text against topics. A classifier always decides: one that depends on a service falls
/// back to an offline one rather than fail the document.
pub trait Classifier: Send + Sync + std::fmt::Debug {
    fn classify<'a>(&'a self, text: &'a str, topics: &'a [Topic]) -> VerdictFuture<'a>;
}

impl Verdict {
    /// The topic to file under, if any.
    pub fn filed_under(&self) -> Option<TopicId> {
        self.best.filter(|_| self.filed).map(|(topic, _)| topic)
    }
}

/// The highest-scoring topic; on a tie the older one (smaller v7 id) wins, deterministically.
fn highest(topics: &[Topic], scores: Vec<f64>) -> Option<(TopicId, f64)> {
    topics.iter().map(|t| t.id).zip(scores).max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
}

/// The texts a topic is compared by: its name, its description, and both together.
fn topic_texts(topic: &Topic) -> Vec<String> {
    if topic.description.trim().is_empty() {
        return vec![topic.name.clone()];
    }
    vec![topic.name.clone(), topic.description.clone(), format!("{}: {}", topic.name, topic.description)]
}

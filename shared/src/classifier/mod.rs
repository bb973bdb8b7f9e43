//! The classifiers: text and a user's topics in, the best topic and its score out, with the
//! name of the classifier that decided (stored on the document as `classified_by`).
//!
//! - `term_match`: offline and deterministic, on the words topics and text share.
//! - `semantic`: offline and deterministic, on meaning: a static sentence embedding
//!   (`embedding`, distilled from all-MiniLM-L6-v2) plus the term score. The default when the
//!   table is there (`CLASSIFIER_MODEL_PATH`).
//! - `bedrock`: an Amazon Bedrock model chooses (when `BEDROCK_MODEL_ID` is set), falling back
//!   to the offline classifier whenever Bedrock fails, throttles or answers something unusable.

mod bedrock;
pub mod embedding;
mod semantic;
mod term_match;

use std::future::Future;
use std::pin::Pin;

pub use bedrock::{BedrockClassifier, DEFAULT_BEDROCK_PROMPT};
pub use semantic::{SemanticClassifier, SEMANTIC};
pub use term_match::{TermMatchClassifier, TERM_MATCH};

use crate::model::{Topic, TopicId};

/// A classifier's decision.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The best topic and its score in 0..=1; `None` when there are no topics or none fits.
    pub best: Option<(TopicId, f64)>,
    /// The score from which this classifier files a document under its best topic.
    pub filed_at: f64,
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
    /// The topic to file under: the best, when its score reaches `filed_at`.
    pub fn filed_under(&self) -> Option<TopicId> {
        self.best.filter(|(_, score)| *score >= self.filed_at).map(|(topic, _)| topic)
    }
}

/// The highest-scoring topic; on a tie the older one (smaller v7 id) wins, deterministically.
fn highest(topics: &[Topic], scores: Vec<f64>) -> Option<(TopicId, f64)> {
    topics.iter().map(|t| t.id).zip(scores).max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
}

//! The classifiers: text and a user's topics in, the best topic and its score out, with the
//! name of the classifier that decided (stored on the document as `classified_by`).
//!
//! - `term_match`: the default, offline and deterministic.
//! - `bedrock`: an Amazon Bedrock model chooses (when `BEDROCK_MODEL_ID` is set), falling back
//!   to term matching whenever Bedrock fails, throttles or answers something unusable.

mod bedrock;
mod term_match;

use std::future::Future;
use std::pin::Pin;

pub use bedrock::{BedrockClassifier, DEFAULT_BEDROCK_PROMPT};
pub use term_match::{TermMatchClassifier, TERM_MATCH};

use crate::model::{Topic, TopicId};

/// A classifier's decision.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The best topic and its score in 0..=1; `None` when there are no topics or none fits.
    pub best: Option<(TopicId, f64)>,
    /// Which classifier decided: `term-match`, or `bedrock:<model id>`.
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

//! The classifiers: text and a user's topics in, the best topic and its score out, with the
//! name of the classifier that decided (stored on the document as `classified_by`).
//!
//! - `term_match`: offline and deterministic, on the words topics and text share.
//! - `semantic`: offline and deterministic, on meaning: a static sentence embedding
//!   (`embedding`, distilled from all-MiniLM-L6-v2) plus the term score, and what kind of
//!   document the text is (`document_types`, learnt from a bank of examples). The default when
//!   the table is there (`CLASSIFIER_MODEL_PATH`, with `CLASSIFIER_DOCUMENT_TYPES_PATH`).
//! - Every classifier takes the user's examples (`Example`: a topic and the stored
//!   `DocumentFeatures` of a document filed under it; `examples` documents the cap per topic,
//!   how they combine and what happens without any). Every verdict of the semantic classifier
//!   (and Bedrock's, from its fallback) carries the document's features for the service to
//!   store; `Classifier::features` computes them from a text.
//! - `bedrock`: an Amazon Bedrock model chooses (when `BEDROCK_MODEL_ID` is set), falling back
//!   to the offline classifier whenever Bedrock fails, throttles or answers something unusable.

mod bedrock;
pub mod document_types;
pub mod embedding;
pub mod examples;
pub mod features;
mod semantic;
mod term_match;
mod wordpiece;

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

pub use bedrock::{BedrockClassifier, DEFAULT_BEDROCK_PROMPT};
pub use examples::{Combine, Learning, EXAMPLES_PER_TOPIC};
pub use features::{DocumentFeatures, Example};
pub use semantic::{SemanticClassifier, ZeroShot, SEMANTIC};
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
    /// The document's features, to store on it: once the user files it (or lets it stand), it
    /// becomes an example of its topic. `None` from a classifier without features (term
    /// matching).
    pub features: Option<DocumentFeatures>,
}

pub type VerdictFuture<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// Scores text against topics. A classifier always decides: one that depends on a service falls
/// back to an offline one rather than fail the document.
pub trait Classifier: Send + Sync + std::fmt::Debug {
    /// The verdict on `text` among the user's `topics`, given `examples`: documents of this
    /// user already filed under some of those topics (most recent first; see `examples` for
    /// how they count). Examples of other topics, or of another model, are ignored.
    fn classify<'a>(&'a self, text: &'a str, topics: &'a [Topic], examples: &'a [Example]) -> VerdictFuture<'a>;

    /// [`Self::classify`], done by `deadline`: a classifier that calls a service clips the call
    /// to it and falls back in time; an offline one takes milliseconds and ignores it.
    fn classify_by<'a>(
        &'a self,
        text: &'a str,
        topics: &'a [Topic],
        examples: &'a [Example],
        _deadline: Instant,
    ) -> VerdictFuture<'a> {
        self.classify(text, topics, examples)
    }

    /// The features of `text` that its verdict carries (`Verdict::features`); `None` from a
    /// classifier that has none.
    fn features(&self, _text: &str) -> Option<DocumentFeatures> {
        None
    }
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

/// The phrases of a description written as a list ("vet visits, vaccinations, pet food", "tax
/// returns and letters from the tax office"), each one a text of its own beside `topic_texts`;
/// none when the description is one phrase.
fn description_phrases(description: &str) -> Vec<String> {
    let phrases: Vec<String> = description
        .split([',', ';', '/', '\n', '|'])
        .flat_map(|part| part.split(" and ").flat_map(|p| p.split(" or ")).flat_map(|p| p.split(" & ")))
        .map(|p| p.trim().trim_matches(['.', '-', '*']).trim().to_owned())
        .filter(|p| p.chars().any(char::is_alphanumeric))
        .collect();
    if phrases.len() < 2 {
        return Vec::new();
    }
    phrases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_written_as_lists_are_split_into_their_phrases() {
        assert_eq!(
            description_phrases("vet visits, vaccinations, pet food"),
            ["vet visits", "vaccinations", "pet food"]
        );
        assert_eq!(
            description_phrases("tax returns and letters from the tax office"),
            ["tax returns", "letters from the tax office"]
        );
        assert_eq!(description_phrases("- plumber\n- roof;"), ["plumber", "roof"]);
        assert!(description_phrases("Car stuff").is_empty());
        assert!(description_phrases("").is_empty());
    }
}

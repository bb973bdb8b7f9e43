//! The offline classifier: stemmed term overlap between the text and each topic.

use std::collections::HashMap;

use rust_stemmers::{Algorithm, Stemmer};

use super::{highest, Classifier, Verdict, VerdictFuture};
use crate::domain::{Topic, TopicId};

/// The default classifier: offline and deterministic. Each topic's name (counted twice) and
/// description are stemmed terms; a topic scores the BM25-saturated frequency of its terms in
/// the text, weighted by how specific each term is among the user's topics (IDF), normalised by
/// the topic's best possible score.
#[derive(Debug, Clone, Copy)]
pub struct TermMatchClassifier {
    /// The lowest score at which a document is filed.
    pub min_score: f64,
}

impl Default for TermMatchClassifier {
    fn default() -> Self {
        Self { min_score: DEFAULT_MIN_SCORE }
    }
}

const K1: f64 = 1.2;
/// Below this, term overlap is mostly words that topics share with any text.
pub const DEFAULT_MIN_SCORE: f64 = 0.15;

/// What `classified_by` says when this classifier decided.
pub const TERM_MATCH: &str = "term-match";

impl Classifier for TermMatchClassifier {
    fn classify<'a>(&'a self, text: &'a str, topics: &'a [Topic]) -> VerdictFuture<'a> {
        let best = self.best_topic(text, topics);
        let verdict = Verdict {
            filed: best.is_some_and(|(_, score)| score >= self.min_score),
            best,
            classified_by: TERM_MATCH.to_owned(),
            fallback: None,
        };
        Box::pin(std::future::ready(verdict))
    }
}

impl TermMatchClassifier {
    /// The best topic and its score in 0..=1, or `None` when there are no topics.
    pub fn best_topic(&self, text: &str, topics: &[Topic]) -> Option<(TopicId, f64)> {
        highest(topics, scores(text, topics))
    }
}

/// Every topic's score in 0..=1, in the order of `topics`.
pub fn scores(text: &str, topics: &[Topic]) -> Vec<f64> {
    scores_of(&frequencies(text), topics)
}

/// How often each stemmed term occurs in `text`.
pub(super) fn frequencies(text: &str) -> HashMap<String, f64> {
    let stemmer = Stemmer::create(Algorithm::English);
    let mut frequency: HashMap<String, f64> = HashMap::new();
    for term in terms(&stemmer, text) {
        *frequency.entry(term).or_default() += 1.0;
    }
    frequency
}

/// `scores` of a text's term `frequency`.
pub(super) fn scores_of(frequency: &HashMap<String, f64>, topics: &[Topic]) -> Vec<f64> {
    {
        let stemmer = Stemmer::create(Algorithm::English);
        let profiles: Vec<(TopicId, HashMap<String, f64>)> = topics
            .iter()
            .map(|topic| {
                let mut weights: HashMap<String, f64> = HashMap::new();
                for term in terms(&stemmer, &topic.name) {
                    *weights.entry(term).or_default() += 2.0;
                }
                for term in terms(&stemmer, &topic.description) {
                    *weights.entry(term).or_default() += 1.0;
                }
                (topic.id, weights)
            })
            .collect();
        let mut document_frequency: HashMap<&str, f64> = HashMap::new();
        for (_, weights) in &profiles {
            for term in weights.keys() {
                *document_frequency.entry(term).or_default() += 1.0;
            }
        }
        let topic_count = profiles.len() as f64;
        let idf = |term: &str| {
            let df = document_frequency.get(term).copied().unwrap_or_default();
            (1.0 + (topic_count - df + 0.5) / (df + 0.5)).ln()
        };
        profiles
            .iter()
            .map(|(_, weights)| {
                let (mut score, mut best_possible) = (0.0, 0.0);
                for (term, weight) in weights {
                    let importance = weight * idf(term);
                    let tf = frequency.get(term).copied().unwrap_or_default();
                    score += importance * tf * (K1 + 1.0) / (tf + K1);
                    best_possible += importance * (K1 + 1.0);
                }
                if best_possible > 0.0 {
                    score / best_possible
                } else {
                    0.0
                }
            })
            .collect()
    }
}

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it", "its", "of", "on",
    "or", "that", "the", "this", "to", "was", "were", "will", "with", "all", "any", "about", "into", "our", "your",
];

/// The stemmed terms of `text`, as topics and texts are compared.
pub(super) fn terms<'a>(stemmer: &'a Stemmer, text: &'a str) -> impl Iterator<Item = String> + 'a {
    words(text).map(move |word| stemmer.stem(&word).into_owned())
}

/// The words that are terms before stemming: lowercase, longer than one character, no stop word.
pub(super) fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| word.chars().count() > 1)
        .map(str::to_lowercase)
        .filter(|word| !STOP_WORDS.contains(&word.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, description: &str) -> Topic {
        Topic { id: TopicId::new(), name: name.into(), description: description.into(), created_at: 0 }
    }

    #[test]
    fn picks_the_topic_whose_terms_the_text_uses() {
        let topics = [
            topic("Invoices", "billing invoice payment amount due vendor"),
            topic("Recipes", "cooking ingredients oven bake flour sugar"),
            topic("Contracts", "agreement parties terms signature obligations"),
        ];
        let (id, score) = TermMatchClassifier::default()
            .best_topic("Preheat the oven. Mix the flour and sugar, then bake for 20 minutes.", &topics)
            .unwrap();
        assert_eq!(id, topics[1].id);
        assert!(score > 0.15, "{score}");
        let (id, _) =
            TermMatchClassifier::default().best_topic("Invoice #42: payment due to the vendor", &topics).unwrap();
        assert_eq!(id, topics[0].id);
    }

    #[test]
    fn unrelated_text_scores_low_and_no_topics_gives_none() {
        let topics = [topic("Invoices", "billing payment")];
        let (_, score) =
            TermMatchClassifier::default().best_topic("The weather was pleasant on the hike.", &topics).unwrap();
        assert!(score < 0.15, "{score}");
        assert!(TermMatchClassifier::default().best_topic("anything", &[]).is_none());
    }

    #[test]
    fn stemming_matches_word_forms() {
        let topics = [topic("Travel", "flights hotels booking")];
        let (_, score) = TermMatchClassifier::default().best_topic("I booked a flight and a hotel.", &topics).unwrap();
        assert!(score > 0.15, "{score}");
    }
}

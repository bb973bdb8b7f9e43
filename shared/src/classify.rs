//! Classification: extract a document's text and file it under the best-matching topic of its
//! owner. Started by S3 `ObjectCreated` events (the `classify` function) or on demand
//! (`POST /api/documents/{id}/classify`, the `reclassify` function); both do the same work here.
//!
//! Events arrive at least once and out of order. The result is a pure function of the object
//! (which never changes: uploads cannot overwrite) and the topics, and is written only while the
//! document is pending or uploaded, so a duplicate rewrites the same values and an event for a
//! deleted or rejected document writes nothing. Nothing here touches the quota.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;

use aws_lambda_events::s3::S3Event;
use rust_stemmers::{Algorithm, Stemmer};
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::{extract_text, Format};
use crate::model::{
    object_key, parse_object_key, Classification, ClassificationStatus, DocumentId, DocumentStatus, Topic, TopicId,
    UserId,
};
use crate::storage::ObjectRead;
use crate::table::RecordOutcome;
use crate::App;

const EXCERPT_CHARS: usize = 300;

/// Scores text against topics. Implementations are deterministic for the same input.
pub trait Classifier: Send + Sync {
    /// The best topic and its score in 0..=1, or `None` when there are no topics.
    fn best_topic(&self, text: &str, topics: &[Topic]) -> Option<(TopicId, f64)>;
}

/// The default classifier: offline and deterministic. Each topic's name (counted twice) and
/// description are stemmed terms; a topic scores the BM25-saturated frequency of its terms in
/// the text, weighted by how specific each term is among the user's topics (IDF), normalised by
/// the topic's best possible score.
#[derive(Debug, Clone, Copy, Default)]
pub struct TermMatchClassifier;

const K1: f64 = 1.2;

impl Classifier for TermMatchClassifier {
    fn best_topic(&self, text: &str, topics: &[Topic]) -> Option<(TopicId, f64)> {
        let stemmer = Stemmer::create(Algorithm::English);
        let mut frequency: HashMap<String, f64> = HashMap::new();
        for term in terms(&stemmer, text) {
            *frequency.entry(term).or_default() += 1.0;
        }
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
            .map(|(id, weights)| {
                let (mut score, mut best_possible) = (0.0, 0.0);
                for (term, weight) in weights {
                    let importance = weight * idf(term);
                    let tf = frequency.get(term).copied().unwrap_or_default();
                    score += importance * tf * (K1 + 1.0) / (tf + K1);
                    best_possible += importance * (K1 + 1.0);
                }
                let normalised = if best_possible > 0.0 { score / best_possible } else { 0.0 };
                (*id, normalised)
            })
            // Highest score; on a tie the older topic (smaller v7 id) wins, deterministically.
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
    }
}

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it", "its", "of", "on",
    "or", "that", "the", "this", "to", "was", "were", "will", "with", "all", "any", "about", "into", "our", "your",
];

fn terms<'a>(stemmer: &'a Stemmer, text: &'a str) -> impl Iterator<Item = String> + 'a {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| word.chars().count() > 1)
        .map(str::to_lowercase)
        .filter(|word| !STOP_WORDS.contains(&word.as_str()))
        .map(move |word| stemmer.stem(&word).into_owned())
}

/// What classifying one document did.
#[derive(Debug, Clone, PartialEq)]
pub enum ClassifyOutcome {
    Recorded(Classification),
    /// Nothing written, and why.
    Skipped(SkipReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Deleted, cleaned up, or never created: no row is resurrected.
    NoDocument,
    Rejected,
    /// No object in storage (yet, or any more).
    NoObject,
}

/// Classifies `id` of `user` and stores the result on the document.
pub async fn classify_document(
    app: &App,
    classifier: &dyn Classifier,
    user: &UserId,
    id: DocumentId,
) -> Result<ClassifyOutcome, ApiError> {
    let Some(document) = app.table.get_document(user, id).await? else {
        return Ok(ClassifyOutcome::Skipped(SkipReason::NoDocument));
    };
    if document.status == DocumentStatus::Rejected {
        return Ok(ClassifyOutcome::Skipped(SkipReason::Rejected));
    }
    let classification = match Format::of(&document.content_type) {
        None => Classification::failed(format!("unsupported content type {:?}", document.content_type)),
        Some(format) => {
            let config = &app.config;
            let (limit, prefix_ok) = match format.needs_whole_object() {
                true => (config.classify_max_object_bytes, false),
                false => (config.classify_text_prefix_bytes, true),
            };
            match app.storage.read_object(&object_key(user, id), limit, prefix_ok).await? {
                ObjectRead::Missing => return Ok(ClassifyOutcome::Skipped(SkipReason::NoObject)),
                ObjectRead::TooLarge { size } => Classification::failed(format!(
                    "the document is {size} bytes; text is extracted from documents of at most {limit} bytes"
                )),
                ObjectRead::Bytes(bytes) => {
                    // Parsing untrusted files: off the async runtime, panics contained, time bounded.
                    let work = tokio::task::spawn_blocking(move || {
                        std::panic::catch_unwind(AssertUnwindSafe(|| extract_text(format, &bytes)))
                    });
                    match tokio::time::timeout(config.classify_timeout, work).await {
                        Err(_) => Classification::failed("text extraction took too long"),
                        Ok(Err(join)) => Classification::failed(format!("text extraction stopped: {join}")),
                        Ok(Ok(Err(_panic))) => Classification::failed("the document could not be parsed"),
                        Ok(Ok(Ok(Err(error)))) => Classification::failed(error.to_string()),
                        Ok(Ok(Ok(Ok(text)))) => {
                            return record(app, classifier, user, id, &text).await;
                        }
                    }
                }
            }
        }
    };
    store(app, user, id, classification).await
}

/// Scores `text` against the user's current topics and stores the verdict; if the chosen topic
/// is deleted in between, scores again against what is left.
async fn record(
    app: &App,
    classifier: &dyn Classifier,
    user: &UserId,
    id: DocumentId,
    text: &str,
) -> Result<ClassifyOutcome, ApiError> {
    let excerpt = excerpt(text);
    for _ in 0..3 {
        let topics = app.table.list_topics(user).await?;
        let best = classifier.best_topic(text, &topics);
        let classification = match best {
            Some((topic, score)) if score >= app.config.classify_min_score => Classification {
                status: ClassificationStatus::Classified,
                topic_id: Some(topic),
                confidence: Some(round(score)),
                excerpt: Some(excerpt.clone()),
                reason: None,
            },
            _ => Classification {
                status: ClassificationStatus::Unclassified,
                topic_id: None,
                confidence: best.map(|(_, score)| round(score)),
                excerpt: Some(excerpt.clone()),
                reason: None,
            },
        };
        match app.table.record_classification(user, id, &classification).await? {
            RecordOutcome::Recorded => return Ok(ClassifyOutcome::Recorded(classification)),
            RecordOutcome::DocumentGone => return Ok(ClassifyOutcome::Skipped(SkipReason::NoDocument)),
            RecordOutcome::TopicGone => continue,
        }
    }
    Err(ApiError::Conflict("topics kept changing while classifying; try again".into()))
}

async fn store(
    app: &App,
    user: &UserId,
    id: DocumentId,
    classification: Classification,
) -> Result<ClassifyOutcome, ApiError> {
    Ok(match app.table.record_classification(user, id, &classification).await? {
        RecordOutcome::Recorded => ClassifyOutcome::Recorded(classification),
        _ => ClassifyOutcome::Skipped(SkipReason::NoDocument),
    })
}

fn round(score: f64) -> f64 {
    (score * 10_000.0).round() / 10_000.0
}

fn excerpt(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = words.join(" ");
    match joined.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

/// Decodes an S3 event key: `+` is a space (AWS), `%XX` an escaped byte (both AWS and LocalStack).
pub fn decode_event_key(raw: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&raw.replace('+', " ")).decode_utf8().ok().map(|k| k.into_owned())
}

/// The classify function's summary of one event.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct EventSummary {
    pub records: u64,
    pub classified: u64,
    pub skipped: u64,
    /// Records whose backend calls failed; the event is failed so Lambda retries it (the records
    /// already done are simply done again, with the same result).
    pub errors: u64,
}

/// Handles an S3 notification. Any other payload (such as the `s3:TestEvent` S3 sends when a
/// notification is configured) is logged and ignored.
pub async fn handle_s3_event(
    app: &App,
    classifier: &dyn Classifier,
    event: lambda_http::LambdaEvent<serde_json::Value>,
) -> Result<EventSummary, lambda_http::Error> {
    if event.payload.get("Records").is_none() {
        tracing::info!(payload = %event.payload, "not an S3 event notification; ignored");
        return Ok(EventSummary::default());
    }
    let event: S3Event = serde_json::from_value(event.payload)?;
    let mut summary = EventSummary::default();
    for record in event.records {
        summary.records += 1;
        let raw_key = record.s3.object.key.unwrap_or_default();
        if record.s3.bucket.name.as_deref() != Some(app.config.bucket_name.as_str()) {
            tracing::warn!(bucket = ?record.s3.bucket.name, raw_key, "event for another bucket; skipped");
            summary.skipped += 1;
            continue;
        }
        let Some((user, id)) = decode_event_key(&raw_key).as_deref().and_then(parse_object_key) else {
            tracing::warn!(raw_key, "key is not users/<sub>/<uuid>; skipped");
            summary.skipped += 1;
            continue;
        };
        match classify_document(app, classifier, &user, id).await {
            Ok(ClassifyOutcome::Recorded(result)) => {
                tracing::info!(user = user.as_str(), %id, status = result.status.as_str(), topic = ?result.topic_id, "classified");
                summary.classified += 1;
            }
            Ok(ClassifyOutcome::Skipped(why)) => {
                tracing::info!(user = user.as_str(), %id, ?why, "skipped");
                summary.skipped += 1;
            }
            Err(error) => {
                tracing::error!(user = user.as_str(), %id, %error, "classification failed");
                summary.errors += 1;
            }
        }
    }
    if summary.errors > 0 {
        return Err(format!("{} of {} records failed: {summary:?}", summary.errors, summary.records).into());
    }
    Ok(summary)
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
        let (id, score) = TermMatchClassifier
            .best_topic("Preheat the oven. Mix the flour and sugar, then bake for 20 minutes.", &topics)
            .unwrap();
        assert_eq!(id, topics[1].id);
        assert!(score > 0.15, "{score}");
        let (id, _) = TermMatchClassifier.best_topic("Invoice #42: payment due to the vendor", &topics).unwrap();
        assert_eq!(id, topics[0].id);
    }

    #[test]
    fn unrelated_text_scores_low_and_no_topics_gives_none() {
        let topics = [topic("Invoices", "billing payment")];
        let (_, score) = TermMatchClassifier.best_topic("The weather was pleasant on the hike.", &topics).unwrap();
        assert!(score < 0.15, "{score}");
        assert!(TermMatchClassifier.best_topic("anything", &[]).is_none());
    }

    #[test]
    fn stemming_matches_word_forms() {
        let topics = [topic("Travel", "flights hotels booking")];
        let (_, score) = TermMatchClassifier.best_topic("I booked a flight and a hotel.", &topics).unwrap();
        assert!(score > 0.15, "{score}");
    }

    #[test]
    fn event_keys_decode_both_spellings_of_a_space() {
        assert_eq!(decode_event_key("users/a%40b/x+y%20z").unwrap(), "users/a@b/x y z");
        assert_eq!(decode_event_key("users/caf%C3%A9").unwrap(), "users/café");
        assert_eq!(decode_event_key("bad%FF"), None);
    }

    #[test]
    fn excerpts_collapse_whitespace_and_stop_at_a_character_boundary() {
        assert_eq!(excerpt("a\n\n b\t c"), "a b c");
        let long = "é".repeat(400);
        assert_eq!(excerpt(&long).chars().count(), EXCERPT_CHARS + 1);
    }
}

//! Classification: extract a document's text and file it under the best-matching topic of its
//! owner. Started by S3 `ObjectCreated` events (the `classify` function) or on demand
//! (`POST /api/documents/{id}/classify`, the `reclassify` function); both do the same work here.
//!
//! Events arrive at least once and out of order. The result is a pure function of the object
//! (which never changes: uploads cannot overwrite) and the topics, and is written only while the
//! document is pending or uploaded, so a duplicate rewrites the same values and an event for a
//! deleted or rejected document writes nothing. Classification never touches the quota; the
//! event's screening does, for objects that must not stay (see [`screen`]).

use std::time::Instant;

use aws_lambda_events::s3::S3Event;
use serde::Serialize;

pub use crate::classifier::{Classifier, TermMatchClassifier};

use crate::error::ApiError;
use crate::extract::{extract_bounded, ExtractError, Format};
use crate::invocation::Invocation;
use crate::metrics::{milliseconds, Unit};
use crate::model::{
    object_key, parse_object_key, Classification, ClassificationStatus, Document, DocumentId, DocumentStatus, UserId,
};
use crate::storage::ObjectRead;
use crate::table::RecordOutcome;
use crate::{xray, App};

const EXCERPT_CHARS: usize = 300;
/// The metrics' operation for classification, by event or on demand.
const OPERATION: &str = "classify";

/// What classifying one document did.
#[derive(Debug, Clone, PartialEq)]
pub enum ClassifyOutcome {
    /// The document with the classification now stored on it.
    Recorded(Box<Document>),
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

/// POST /api/documents/{id}/classify: classifies `id` of `user` again now, against the
/// current topics, and stores the result.
pub async fn reclassify(
    app: &App,
    classifier: &dyn Classifier,
    invocation: &Invocation,
    user: &UserId,
    id: DocumentId,
) -> Result<ClassifyOutcome, ApiError> {
    match app.table.get_document(user, id).await? {
        Some(document) => classify_document(app, classifier, invocation, document).await,
        None => Ok(ClassifyOutcome::Skipped(SkipReason::NoDocument)),
    }
}

/// Extracts the text of `document`'s object, scores it and stores the verdict.
async fn classify_document(
    app: &App,
    classifier: &dyn Classifier,
    invocation: &Invocation,
    document: Document,
) -> Result<ClassifyOutcome, ApiError> {
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
            match app.storage.read_object(&document.object_key(), limit, prefix_ok).await? {
                ObjectRead::Missing => return Ok(ClassifyOutcome::Skipped(SkipReason::NoObject)),
                ObjectRead::TooLarge { size } => Classification::failed(format!(
                    "the document is {size} bytes; text is extracted from documents of at most {limit} bytes"
                )),
                ObjectRead::Bytes(bytes) => {
                    match extract_timed(app, format, &bytes).await {
                        // Never a bare `unclassified`, which would read as "no topic matched".
                        Ok(text) if text.trim().is_empty() => Classification::no_text(),
                        Ok(text) => return record(app, classifier, invocation, document, &text).await,
                        // Not the file's fault: fail the event so that it is retried.
                        Err(ExtractError::Sandbox(error)) => {
                            return Err(ApiError::internal("starting text extraction", error))
                        }
                        Err(error) => Classification::failed(error.to_string()),
                    }
                }
            }
        }
    };
    store(app, invocation, document, classification).await
}

/// The text of `bytes`, bounded (see `extract`); how long that took is a metric.
async fn extract_timed(app: &App, format: Format, bytes: &[u8]) -> Result<String, ExtractError> {
    let started = Instant::now();
    let text = extract_bounded(&app.sandbox, format, bytes, &app.config.extraction_limits()).await;
    app.metrics.emit(OPERATION, &[], &[("ExtractionTime", Unit::Milliseconds, milliseconds(started.elapsed()))]);
    text
}

/// Every stored verdict is counted by its status.
fn count_outcome(app: &App, status: ClassificationStatus) {
    app.metrics.emit(OPERATION, &[("Status", status.as_str())], &[("ClassificationOutcomes", Unit::Count, 1.0)]);
}

/// Scores `text` against the user's current topics and stores the verdict; if the chosen topic
/// is deleted in between, scores again against what is left.
async fn record(
    app: &App,
    classifier: &dyn Classifier,
    invocation: &Invocation,
    document: Document,
    text: &str,
) -> Result<ClassifyOutcome, ApiError> {
    let excerpt = excerpt(text);
    for _ in 0..3 {
        let topics = app.table.list_topics(&document.owner).await?;
        let verdict = classifier.classify(text, &topics).await;
        if let Some(reason) = &verdict.fallback {
            tracing::warn!(user = document.owner.as_str(), id = %document.id, reason, "classifier fell back");
            app.metrics.emit(OPERATION, &[], &[("ClassifierFallbacks", Unit::Count, 1.0)]);
        }
        let confidence = verdict.best.map(|(_, score)| round(score));
        let classification = match verdict.filed_under() {
            Some(topic) => Classification {
                status: ClassificationStatus::Classified,
                topic_id: Some(topic),
                confidence,
                excerpt: Some(excerpt.clone()),
                reason: None,
                classified_by: Some(verdict.classified_by),
            },
            None => Classification {
                status: ClassificationStatus::Unclassified,
                topic_id: None,
                confidence,
                excerpt: Some(excerpt.clone()),
                reason: None,
                classified_by: Some(verdict.classified_by),
            },
        };
        match app.table.record_classification(invocation, &document.owner, document.id, &classification).await? {
            RecordOutcome::Recorded => {
                count_outcome(app, classification.status);
                return Ok(ClassifyOutcome::Recorded(Box::new(Document { classification, ..document })));
            }
            RecordOutcome::DocumentGone => return Ok(ClassifyOutcome::Skipped(SkipReason::NoDocument)),
            RecordOutcome::TopicGone => continue,
        }
    }
    Err(ApiError::Conflict("topics kept changing while classifying; try again".into()))
}

async fn store(
    app: &App,
    invocation: &Invocation,
    document: Document,
    classification: Classification,
) -> Result<ClassifyOutcome, ApiError> {
    Ok(match app.table.record_classification(invocation, &document.owner, document.id, &classification).await? {
        RecordOutcome::Recorded => {
            count_outcome(app, classification.status);
            ClassifyOutcome::Recorded(Box::new(Document { classification, ..document }))
        }
        _ => ClassifyOutcome::Skipped(SkipReason::NoDocument),
    })
}

/// What an `ObjectCreated` event found before any classification.
#[derive(Debug)]
enum Screening {
    /// No document owns the object: it was removed.
    Orphan,
    /// A pending upload without a declared size whose object does not fit what is left of the
    /// quota: rejected and its object removed now, rather than at confirm or clean-up.
    OverQuota,
    Classify(Box<Document>),
}

/// Every row is written before its upload URL is handed out, so an object under `users/` without
/// a document is an orphan: its document was deleted or cleaned up while a URL was still valid.
async fn screen(app: &App, invocation: &Invocation, user: &UserId, id: DocumentId) -> Result<Screening, ApiError> {
    let key = object_key(user, id);
    let Some(document) = app.table.get_document(user, id).await? else {
        app.storage.delete_object(&key).await?;
        return Ok(Screening::Orphan);
    };
    if document.status != DocumentStatus::Pending || document.declared_size_bytes.is_some() {
        // A declared size is signed into the PUT and already reserved.
        return Ok(Screening::Classify(Box::new(document)));
    }
    let (size, counters) = tokio::try_join!(app.storage.object_size(&key), app.table.get_quota_counters(user))?;
    let Some(size) = size else { return Ok(Screening::Classify(Box::new(document))) };
    if size <= counters.room(app.table.policy()) {
        return Ok(Screening::Classify(Box::new(document)));
    }
    if app.table.reject_upload(invocation, &document, size, None).await? {
        app.storage.delete_object(&key).await?;
        tracing::info!(user = user.as_str(), %id, size, "an undeclared upload does not fit the quota; rejected");
        return Ok(Screening::OverQuota);
    }
    // Confirmed (or settled) meanwhile: classify what is there now.
    Ok(match app.table.get_document(user, id).await? {
        Some(document) => Screening::Classify(Box::new(document)),
        None => Screening::Orphan,
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
    /// Records with nothing to classify (including orphans and rejections, counted below too).
    pub skipped: u64,
    /// Objects without a document, removed.
    pub orphans_removed: u64,
    /// Undeclared uploads over the quota, rejected.
    pub rejected: u64,
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
    let invocation = Invocation::from_context(&event.context);
    let trace = event.context.xray_trace_id.clone();
    let event: S3Event = serde_json::from_value(event.payload)?;
    xray::traced(trace.as_deref(), handle_records(app, classifier, &invocation, event)).await
}

async fn handle_records(
    app: &App,
    classifier: &dyn Classifier,
    invocation: &Invocation,
    event: S3Event,
) -> Result<EventSummary, lambda_http::Error> {
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
        let outcome = match screen(app, invocation, &user, id).await {
            Ok(Screening::Classify(document)) => classify_document(app, classifier, invocation, *document).await,
            Ok(Screening::Orphan) => {
                tracing::info!(user = user.as_str(), %id, "object without a document removed");
                summary.orphans_removed += 1;
                app.metrics.emit(OPERATION, &[], &[("OrphansRemoved", Unit::Count, 1.0)]);
                Ok(ClassifyOutcome::Skipped(SkipReason::NoDocument))
            }
            Ok(Screening::OverQuota) => {
                summary.rejected += 1;
                app.metrics.emit(OPERATION, &[], &[("QuotaRefusals", Unit::Count, 1.0)]);
                Ok(ClassifyOutcome::Skipped(SkipReason::Rejected))
            }
            Err(error) => Err(error),
        };
        match outcome {
            Ok(ClassifyOutcome::Recorded(document)) => {
                let result = &document.classification;
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

//! Classification: extract a document's text and file it under the best-matching topic of its
//! owner. Started when its object arrives (`object_arrived`, from the S3 event) or on demand
//! (`POST /api/documents/{id}/classify`, [`reclassify`]); both do the same work here.
//!
//! Events arrive at least once and out of order. The result is a pure function of the object
//! (which never changes: uploads cannot overwrite) and the topics, and is written only while the
//! document is classifiable (`domain::CLASSIFIABLE`), so a duplicate rewrites the same values and
//! an event for a deleted or rejected document writes nothing. Classification never touches the
//! quota.
//!
//! Every step runs within the invocation's deadline (`domain::step_time`): reads and the text
//! extraction keep back [`FOR_CLASSIFYING`], the classifier (which clips its own calls, falling
//! back to the offline classifier) [`FOR_RECORDING`], and the one transaction that records the
//! verdict retries only until shortly before the deadline. A step that runs out of the request's
//! time writes nothing and fails with [`OperationError::OutOfTime`]: reclassify answers 503, an
//! S3 event fails and Lambda retries it. Only an extraction stopped at its own limit
//! (`CLASSIFY_TIMEOUT_SECONDS`) marks the document failed: that is the file's fault.
//!
//! The user's examples (`domain::examples`: documents they filed by hand, kept on their topics'
//! items) are read with the topics and count in the verdict; the document's features are stored
//! with the verdict, so that it can become an example once the user files it.

use std::time::{Duration, Instant};

use super::file::learn_late;
use super::{OperationError, Result};
use crate::classifier::{Classifier, DocumentFeatures, Example};
use crate::domain::examples::{most_recent_first, TopicExample};
use crate::domain::{
    Classification, ClassificationStatus, Document, DocumentId, DocumentStatus, Overrun, PendingCharge, StepTime,
    UserId,
};
use crate::extract::{extract_bounded, ExtractError, Format};
use crate::invocation::{Invocation, OutOfTime};
use crate::metrics::{milliseconds, Unit};
use crate::retry::RetryPolicy;
use crate::storage::ObjectRead;
use crate::table::{Overwrite, RecordOutcome};
use crate::App;

const EXCERPT_CHARS: usize = 300;
/// The metrics' operation for classification, by event or on demand.
const OPERATION: &str = "classify";

/// Kept back, beside the invocation's answer margin, for recording the verdict: the topics read
/// again and one transaction (a few of them when a chosen topic is deleted meanwhile).
pub const FOR_RECORDING: Duration = Duration::from_secs(1);
/// Kept back by the reads and the extraction: the offline classifier's time, then recording.
pub const FOR_CLASSIFYING: Duration = Duration::from_millis(1500);
/// An extraction given less than this is not started: starting the child alone takes tens of ms.
const MIN_EXTRACTION: Duration = Duration::from_millis(250);

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
    /// The chosen topics kept being deleted while classifying; try again.
    TopicsKeptChanging,
    /// The user filed the document by hand; an automatic result does not replace that.
    FiledByUser,
}

/// POST /api/documents/{id}/classify: classifies `id` of `user` again now, against the
/// current topics, and stores the result.
/// A document the user filed by hand is classified again only with `replace_manual`.
pub async fn reclassify(
    app: &App,
    classifier: &dyn Classifier,
    invocation: &Invocation,
    user: &UserId,
    id: DocumentId,
    replace_manual: bool,
) -> Result<ClassifyOutcome> {
    let read = invocation.bounded(FOR_CLASSIFYING, app.table.get_document(user, id)).await;
    let Some(document) = read.map_err(|OutOfTime| OperationError::OutOfTime("reading the document"))?? else {
        return Ok(ClassifyOutcome::Skipped(SkipReason::NoDocument));
    };
    let filed = document.classification.filed_by_user_under();
    let overwrite = match replace_manual {
        true => {
            // The user's choice is being replaced: the document stops being an example of it
            // first (were the classification to fail now, it would be filed by hand and no
            // example, never an example of a topic it is not filed under).
            if let Some(topic) = filed {
                app.table.forget_example(user, topic, id).await?;
            }
            // Written only over the filing as read: a filing by hand meanwhile wins (409).
            Overwrite::UsersChoiceAsRead(filed)
        }
        false if document.classification.is_by_user() => return Ok(ClassifyOutcome::Skipped(SkipReason::FiledByUser)),
        false => Overwrite::KeepUsersChoice,
    };
    let outcome = classify_document(app, classifier, invocation, document, overwrite).await?;
    if let (ClassifyOutcome::Recorded(_), true, Some(topic)) = (&outcome, replace_manual, filed) {
        // Filed under the same topic again by hand (and made its example again) between the
        // removal above and the result: the result replaced that filing, so its example goes too.
        app.table.forget_example(user, topic, id).await?;
    }
    Ok(outcome)
}

/// Extracts the text of `document`'s object, scores it and stores the verdict.
pub(crate) async fn classify_document(
    app: &App,
    classifier: &dyn Classifier,
    invocation: &Invocation,
    document: Document,
    overwrite: Overwrite,
) -> Result<ClassifyOutcome> {
    if document.status == DocumentStatus::Rejected {
        return Ok(ClassifyOutcome::Skipped(SkipReason::Rejected));
    }
    let read = read_for_classifying(app, invocation, &document).await?;
    classify_read(app, classifier, invocation, document, read, overwrite, None).await
}

/// A document's object as classification reads it: a prefix of text, a whole PDF or DOCX up to
/// `CLASSIFY_MAX_OBJECT_BYTES`; nothing for a type no extractor reads.
pub(crate) enum ReadForClassifying {
    Unsupported,
    Read(Format, ObjectRead),
}

impl ReadForClassifying {
    /// What was read of the object, if it was read.
    pub(crate) fn object(&self) -> Option<&ObjectRead> {
        match self {
            Self::Read(_, object) => Some(object),
            Self::Unsupported => None,
        }
    }
}

/// Reads what classification of `document` needs, within the time kept back for classifying.
pub(crate) async fn read_for_classifying(
    app: &App,
    invocation: &Invocation,
    document: &Document,
) -> Result<ReadForClassifying> {
    let Some(format) = Format::of(&document.content_type) else { return Ok(ReadForClassifying::Unsupported) };
    let config = &app.config;
    let (limit, prefix_ok) = match format.needs_whole_object() {
        true => (config.classify_max_object_bytes, false),
        false => (config.classify_text_prefix_bytes, true),
    };
    let key = document.object_key();
    let read = app.storage.read_object(invocation, &key, limit, prefix_ok);
    let read = invocation.bounded(FOR_CLASSIFYING, read).await;
    let object = read.map_err(|OutOfTime| OperationError::OutOfTime("reading the document's object"))??;
    Ok(ReadForClassifying::Read(format, object))
}

/// Extracts the text of what was read of `document`'s object, scores it and stores the verdict;
/// with `settling`, the charge of an upload confirmed on arrival is settled by the same write
/// (`table::DocumentTable::record_classification`).
pub(crate) async fn classify_read(
    app: &App,
    classifier: &dyn Classifier,
    invocation: &Invocation,
    document: Document,
    read: ReadForClassifying,
    overwrite: Overwrite,
    settling: Option<&PendingCharge>,
) -> Result<ClassifyOutcome> {
    let config = &app.config;
    let classification = match read {
        ReadForClassifying::Unsupported => {
            Classification::failed(format!("unsupported content type {:?}", document.content_type))
        }
        ReadForClassifying::Read(_, ObjectRead::Missing) => return Ok(ClassifyOutcome::Skipped(SkipReason::NoObject)),
        ReadForClassifying::Read(_, ObjectRead::TooLarge { size }) => Classification::failed(format!(
            "the document is {size} bytes; text is extracted from documents of at most {} bytes",
            config.classify_max_object_bytes
        )),
        ReadForClassifying::Read(format, ObjectRead::Bytes { bytes, .. }) => {
            let time = match format.needs_whole_object() {
                // Plain text is read in this process, at once.
                false => StepTime { allowed: config.classify_timeout, clipped: false },
                true => invocation
                    .step_time(config.classify_timeout, FOR_CLASSIFYING, MIN_EXTRACTION)
                    .ok_or(OperationError::OutOfTime("reading the document's text"))?,
            };
            match extract_timed(app, format, &bytes, time).await {
                // Never a bare `unclassified`, which would read as "no topic matched".
                Ok(text) if text.trim().is_empty() => Classification::no_text(),
                Ok(text) => return record(app, classifier, invocation, document, &text, overwrite, settling).await,
                Err(error) => extraction_failed(error, time)?,
            }
        }
    };
    store(app, document, classification, overwrite, settling).await
}

/// The text of `bytes`, bounded (see `extract`) and within `time`, the wait for a free child
/// included; how long that took is a metric.
async fn extract_timed(
    app: &App,
    format: Format,
    bytes: &[u8],
    time: StepTime,
) -> std::result::Result<String, ExtractError> {
    let started = Instant::now();
    let limits = app.config.extraction_limits_within(time);
    let text = match tokio::time::timeout(time.allowed, extract_bounded(&app.sandbox, format, bytes, &limits)).await {
        Ok(text) => text,
        Err(_) => Err(ExtractError::TooSlow(time.allowed)),
    };
    app.metrics.emit(OPERATION, &[], &[("ExtractionTime", Unit::Milliseconds, milliseconds(started.elapsed()))]);
    text
}

/// What a failed extraction that had `time` means: the document's failure, with the reason
/// stored on it, or a failure of this request that leaves the document as it was.
fn extraction_failed(error: ExtractError, time: StepTime) -> Result<Classification> {
    match error {
        // Not the file's fault: fail the event so that it is retried.
        ExtractError::Sandbox(error) => Err(OperationError::Extraction(error)),
        // Stopped at the request's deadline, not at the extraction's own limit.
        ExtractError::TooSlow(_) if time.overrun() == Overrun::Deadline => {
            Err(OperationError::OutOfTime("reading the document's text"))
        }
        error => Ok(Classification::failed(error.to_string())),
    }
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
    overwrite: Overwrite,
    mut settling: Option<&PendingCharge>,
) -> Result<ClassifyOutcome> {
    let excerpt = excerpt(text);
    let mut attempts = RetryPolicy::RACES.at_most(3).attempts(invocation);
    while attempts.next().await {
        let read = invocation.bounded(FOR_RECORDING, app.table.list_topics_with_examples(&document.owner)).await;
        let (topics, stored) = read.map_err(|OutOfTime| OperationError::OutOfTime("reading the topics"))??;
        let examples = examples_for_classifier(stored);
        // The classifier clips its own calls.
        let deadline = invocation.deadline_before(FOR_RECORDING);
        let verdict = classifier.classify_by(text, &topics, &examples, deadline).await;
        if let Some(reason) = &verdict.fallback {
            tracing::warn!(user = document.owner.as_str(), id = %document.id, reason, "classifier fell back");
            app.metrics.emit(OPERATION, &[], &[("ClassifierFallbacks", Unit::Count, 1.0)]);
        }
        let classification = classification_of(verdict, &excerpt);
        let recorded =
            app.table.record_classification(&document.owner, document.id, &classification, overwrite, settling);
        match recorded.await? {
            RecordOutcome::Recorded => {
                count_outcome(app, classification.status);
                return Ok(ClassifyOutcome::Recorded(Box::new(Document { classification, ..document })));
            }
            RecordOutcome::DocumentGone => return Ok(ClassifyOutcome::Skipped(SkipReason::NoDocument)),
            RecordOutcome::FiledByUser => {
                // Filed by hand before its text was read: it becomes an example now.
                if let Some(features) = &classification.features {
                    learn_late(app, invocation, &document.owner, document.id, features).await?;
                }
                return Ok(ClassifyOutcome::Skipped(SkipReason::FiledByUser));
            }
            // Written (settled, if it was to be), then taken back: classified again.
            RecordOutcome::TopicGone => settling = None,
        }
    }
    Ok(ClassifyOutcome::Skipped(SkipReason::TopicsKeptChanging))
}

/// The user's stored examples as the classifier takes them: most recent first, at most the cap
/// per topic; features that no longer read (another format) are left out.
fn examples_for_classifier(stored: Vec<TopicExample>) -> Vec<Example> {
    most_recent_first(stored)
        .into_iter()
        .filter_map(|e| Some(Example { topic: e.topic, features: DocumentFeatures::from_bytes(&e.features)? }))
        .collect()
}

/// What is stored for a classifier's verdict: filed under its topic, or unclassified with the
/// best score kept as the confidence.
fn classification_of(verdict: crate::classifier::Verdict, excerpt: &str) -> Classification {
    let filed_under = verdict.filed_under();
    Classification {
        status: match filed_under {
            Some(_) => ClassificationStatus::Classified,
            None => ClassificationStatus::Unclassified,
        },
        topic_id: filed_under,
        confidence: verdict.best.map(|(_, score)| round(score)),
        excerpt: Some(excerpt.to_owned()),
        reason: None,
        features: verdict.features.as_ref().map(DocumentFeatures::to_bytes),
        classified_by: Some(verdict.classified_by),
    }
}

async fn store(
    app: &App,
    document: Document,
    classification: Classification,
    overwrite: Overwrite,
    settling: Option<&PendingCharge>,
) -> Result<ClassifyOutcome> {
    let recorded = app.table.record_classification(&document.owner, document.id, &classification, overwrite, settling);
    Ok(match recorded.await? {
        RecordOutcome::Recorded => {
            count_outcome(app, classification.status);
            ClassifyOutcome::Recorded(Box::new(Document { classification, ..document }))
        }
        RecordOutcome::FiledByUser => ClassifyOutcome::Skipped(SkipReason::FiledByUser),
        RecordOutcome::DocumentGone | RecordOutcome::TopicGone => ClassifyOutcome::Skipped(SkipReason::NoDocument),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::Verdict;
    use crate::domain::TopicId;

    #[test]
    fn excerpts_collapse_whitespace_and_stop_at_a_character_boundary() {
        assert_eq!(excerpt("a\n\n b\t c"), "a b c");
        let long = "é".repeat(400);
        assert_eq!(excerpt(&long).chars().count(), EXCERPT_CHARS + 1);
    }

    #[test]
    fn only_an_extraction_stopped_at_its_own_limit_fails_the_document() {
        let own = StepTime { allowed: Duration::from_secs(20), clipped: false };
        let clipped = StepTime { allowed: Duration::from_secs(3), clipped: true };
        let failed = extraction_failed(ExtractError::TooSlow(own.allowed), own).unwrap();
        assert_eq!(failed.status, ClassificationStatus::Failed);
        assert_eq!(
            failed.reason.as_deref(),
            Some("text extraction stopped: reading the document took longer than 20 s")
        );
        assert!(matches!(
            extraction_failed(ExtractError::TooSlow(clipped.allowed), clipped),
            Err(OperationError::OutOfTime(_))
        ));
        // What the file is at fault for fails it however much time it had.
        let unreadable = extraction_failed(ExtractError::Pdf("bad xref".into()), clipped).unwrap();
        assert_eq!(unreadable.status, ClassificationStatus::Failed);
        assert!(matches!(
            extraction_failed(ExtractError::Sandbox("fork".into()), own),
            Err(OperationError::Extraction(_))
        ));
    }

    #[test]
    fn a_verdict_files_or_keeps_its_best_score_as_the_confidence() {
        let topic = TopicId::new();
        let verdict = |filed| Verdict {
            best: Some((topic, 0.123456)),
            filed,
            classified_by: "minilm-static".into(),
            fallback: None,
            features: None,
        };
        let filed = classification_of(verdict(true), "text");
        assert_eq!(
            (filed.status, filed.topic_id, filed.confidence),
            (ClassificationStatus::Classified, Some(topic), Some(0.1235))
        );
        let kept = classification_of(verdict(false), "text");
        assert_eq!(
            (kept.status, kept.topic_id, kept.confidence),
            (ClassificationStatus::Unclassified, None, Some(0.1235))
        );
        assert_eq!(kept.classified_by.as_deref(), Some("minilm-static"));
    }
}

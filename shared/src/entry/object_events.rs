//! S3 `ObjectCreated` notifications (the classify function): each record names an object; its
//! key is decoded (`+` or `%20` for a space) into its owner and document, and
//! `operations::object_arrived` screens and classifies it. Records for another bucket or keys
//! that are not `users/<sub>/<uuid>` are logged and skipped.

use aws_lambda_events::s3::S3Event;
use serde::Serialize;

use crate::classifier::Classifier;
use crate::domain::parse_object_key;
use crate::invocation::Invocation;
use crate::metrics::Unit;
use crate::operations::classify::{ClassifyOutcome, SkipReason};
use crate::operations::object_arrived::{object_arrived, Arrival};
use crate::{xray, App};

/// The metrics' operation for classification, by event or on demand.
const OPERATION: &str = "classify";

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
    /// Objects stored again through the URL of a rejected upload, removed.
    pub rejected_objects_removed: u64,
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
        match object_arrived(app, classifier, invocation, &user, id).await {
            Ok(Arrival::OrphanRemoved) => {
                tracing::info!(user = user.as_str(), %id, "object without a document removed");
                summary.orphans_removed += 1;
                summary.skipped += 1;
                app.metrics.emit(OPERATION, &[], &[("OrphansRemoved", Unit::Count, 1.0)]);
            }
            Ok(Arrival::RejectedObjectRemoved) => {
                summary.rejected_objects_removed += 1;
                summary.skipped += 1;
            }
            Ok(Arrival::RejectedOverQuota) => {
                summary.rejected += 1;
                summary.skipped += 1;
                app.metrics.emit(OPERATION, &[], &[("QuotaRefusals", Unit::Count, 1.0)]);
            }
            Ok(Arrival::Refused(_)) => {
                summary.rejected += 1;
                summary.skipped += 1;
            }
            Ok(Arrival::Classified(ClassifyOutcome::Recorded(document))) => {
                let result = &document.classification;
                tracing::info!(user = user.as_str(), %id, status = result.status.as_str(), topic = ?result.topic_id, "classified");
                summary.classified += 1;
            }
            Ok(Arrival::Classified(ClassifyOutcome::Skipped(SkipReason::TopicsKeptChanging))) => {
                tracing::error!(user = user.as_str(), %id, "topics kept changing while classifying");
                summary.errors += 1;
            }
            Ok(Arrival::Classified(ClassifyOutcome::Skipped(why))) => {
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
}

//! Clean-up of abandoned uploads, run on a schedule.
//!
//! Walks the sparse `PendingByAge` index (never a Scan), shard by shard, oldest first, within a
//! page budget and the invocation's deadline; what is left is picked up by the next run, since
//! everything settled here leaves the index. For each entry:
//!
//! * an abandoned document (pending past the cut-off, or rejected): its row is settled first, in
//!   one transaction that removes it only if its status is still the one read, releases what a
//!   pending upload held (its reservation and its place among the user's open uploads) and
//!   records its object for removal. A confirm that won keeps its document; if clean-up won,
//!   confirm finds no document and charges nothing. Pending and rejected uploads were never
//!   charged, so `used_bytes` never changes here.
//! * a recorded object removal (from the step above, a user's delete, or an earlier run that
//!   failed half-way): the object is removed, then the record. Removing an absent object
//!   succeeds, and only the run whose conditional delete of the record succeeds reports it, so
//!   overlapping or retried runs remove and report each thing once.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::auth::now_unix;
use crate::error::ApiError;
use crate::invocation::Invocation;
use crate::metrics::Unit;
use crate::model::{object_key, DocumentStatus};
use crate::table::{all_pending_shards, PendingEntry};
use crate::{xray, App};

/// What one run did; logged and returned as the function's result.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CleanupSummary {
    /// Index entries looked at.
    pub found: u64,
    /// Abandoned documents removed with their objects.
    pub removed: u64,
    /// Object removals finished that an earlier delete or run had recorded.
    pub removals_finished: u64,
    /// Entries another actor settled first (a confirm that won, an overlapping run).
    pub skipped: u64,
    /// Entries that failed; they stay in the index for the next run.
    pub failed: u64,
    pub pages: u64,
    /// False when the page budget or the deadline stopped the run before the index was empty.
    pub complete: bool,
}

/// Limits of one run.
#[derive(Debug, Clone, Copy)]
pub struct CleanupLimits {
    pub page_size: i32,
    pub page_budget: u64,
    /// Stop starting new pages after this instant.
    pub stop_at: Instant,
}

/// Time after a run's last page for finishing its entries (their retries stop within it).
const RUN_MARGIN: Duration = Duration::from_secs(5);

enum Settled {
    Removed,
    Skipped,
}

pub async fn run(app: &App, limits: CleanupLimits) -> CleanupSummary {
    let cutoff = now_unix() - app.config.pending_upload_max_age.as_secs() as i64;
    let invocation = Invocation::standalone(limits.stop_at.saturating_duration_since(Instant::now()) + RUN_MARGIN);
    let mut summary = CleanupSummary::default();
    // One page per shard per round, so a deep shard cannot use up the budget of the others.
    let mut shards: Vec<(String, Option<_>, bool)> = all_pending_shards().map(|shard| (shard, None, false)).collect();
    while shards.iter().any(|(_, _, done)| !*done) {
        for (shard, start, done) in shards.iter_mut().filter(|(_, _, done)| !*done) {
            if summary.pages >= limits.page_budget || Instant::now() >= limits.stop_at {
                tracing::info!(?summary, "clean-up stopped early; the next run continues");
                record(app, &summary);
                return summary;
            }
            summary.pages += 1;
            let page = match app.table.pending_page(shard, cutoff, limits.page_size, start.take()).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(%error, shard, "reading the pending index failed");
                    summary.failed += 1;
                    *done = true;
                    continue;
                }
            };
            for entry in page.entries {
                summary.found += 1;
                let outcome = match &entry {
                    PendingEntry::Document { .. } => settle_document(app, &invocation, &entry).await,
                    PendingEntry::Removal { .. } => finish_removal(app, &entry).await,
                };
                match (outcome, &entry) {
                    (Ok(Settled::Removed), PendingEntry::Document { .. }) => summary.removed += 1,
                    (Ok(Settled::Removed), PendingEntry::Removal { .. }) => summary.removals_finished += 1,
                    (Ok(Settled::Skipped), _) => summary.skipped += 1,
                    (Err(error), _) => {
                        tracing::warn!(%error, ?entry, "clean-up of an entry failed; the next run retries it");
                        summary.failed += 1;
                    }
                }
            }
            *start = page.next;
            *done = start.is_none();
        }
    }
    summary.complete = summary.failed == 0;
    tracing::info!(?summary, "clean-up finished");
    record(app, &summary);
    summary
}

/// `CleanupIncomplete` is 1 when a run stopped before the index was empty: a backlog if it
/// lasts (`template.yaml` alarms on it).
fn record(app: &App, summary: &CleanupSummary) {
    let removals = (summary.removed + summary.removals_finished) as f64;
    let incomplete = if summary.complete { 0.0 } else { 1.0 };
    app.metrics.emit(
        "cleanup",
        &[],
        &[("CleanupRemovals", Unit::Count, removals), ("CleanupIncomplete", Unit::Count, incomplete)],
    );
}

async fn settle_document(app: &App, invocation: &Invocation, entry: &PendingEntry) -> Result<Settled, ApiError> {
    let PendingEntry::Document { owner, id } = entry else { unreachable!("called for documents only") };
    // Only pending uploads past the cut-off (the index holds nothing newer) and rejected ones
    // are abandoned; the removal is conditional on the status read, so a confirm that wins
    // meanwhile keeps its document.
    let Some(document) = app.table.get_document(owner, *id).await? else { return Ok(Settled::Skipped) };
    if document.status == DocumentStatus::Uploaded || !app.table.delete_document(invocation, &document).await? {
        return Ok(Settled::Skipped);
    }
    // The row is settled; the object (or the parts) go now, or with the removal record later.
    app.storage.abort_unfinished(&document).await;
    app.storage.delete_object(&object_key(owner, *id)).await?;
    app.table.finish_removal(owner, *id).await?;
    Ok(Settled::Removed)
}

async fn finish_removal(app: &App, entry: &PendingEntry) -> Result<Settled, ApiError> {
    let PendingEntry::Removal { owner, id } = entry else { unreachable!("called for removals only") };
    app.storage.delete_object(&object_key(owner, *id)).await?;
    Ok(if app.table.finish_removal(owner, *id).await? { Settled::Removed } else { Settled::Skipped })
}

/// Limits for an invocation whose deadline is `deadline_ms` (Unix milliseconds): stop starting
/// pages a safety margin (a fifth of the time, at most 5 s) before the Lambda timeout.
pub fn limits_for_deadline(app: &App, deadline_ms: u64) -> CleanupLimits {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let time_left = if deadline_ms > now_ms {
        Duration::from_millis(deadline_ms - now_ms)
    } else {
        // `cargo lambda watch` sends the timeout itself rather than a point in time.
        tracing::warn!(deadline_ms, "the invocation deadline is not in the future; allowing 60 s");
        Duration::from_secs(60)
    };
    let remaining = time_left - (time_left / 5).min(Duration::from_secs(5));
    CleanupLimits {
        page_size: app.config.cleanup_page_size,
        page_budget: app.config.cleanup_page_budget,
        stop_at: Instant::now() + remaining,
    }
}

/// The scheduled function's handler. The event (an EventBridge `Scheduled Event`, or `{}` from a
/// manual run) carries nothing the run needs.
pub async fn handle(
    app: &App,
    event: lambda_http::LambdaEvent<serde_json::Value>,
) -> Result<CleanupSummary, lambda_http::Error> {
    tracing::info!(detail_type = ?event.payload.get("detail-type"), deadline_ms = event.context.deadline, "clean-up started");
    let limits = limits_for_deadline(app, event.context.deadline);
    Ok(xray::traced(event.context.xray_trace_id.as_deref(), run(app, limits)).await)
}

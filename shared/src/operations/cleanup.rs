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
//!   charged, so `used_bytes` never changes here. An upload that asked to be confirmed on arrival
//!   and whose object is stored lost its event (or failed it every time): it is confirmed here,
//!   as the event would have done, and only one whose object never came is abandoned.
//! * a recorded object removal (from the step above, a user's delete, or an earlier run that
//!   failed half-way): the object is removed, then the record. Removing an absent object
//!   succeeds, and only the run whose conditional delete of the record succeeds reports it, so
//!   overlapping or retried runs remove and report each thing once.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::confirm::{confirm, ConfirmOutcome};
use super::objects::remove_object;
use super::{OperationError, Result};
use crate::auth::now_unix;
use crate::domain::{object_key, DocumentStatus};
use crate::invocation::Invocation;
use crate::metrics::Unit;
use crate::table::{all_pending_shards, PendingEntry, Write};
use crate::App;

/// What one run did; logged and returned as the function's result.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CleanupSummary {
    /// Index entries looked at.
    pub found: u64,
    /// Abandoned documents removed with their objects.
    pub removed: u64,
    /// Object removals finished that an earlier delete or run had recorded.
    pub removals_finished: u64,
    /// Uploads to be confirmed on arrival whose object was stored but never confirmed by its
    /// event: confirmed here instead (charged, or refused and marked rejected).
    pub confirmed: u64,
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
    Confirmed,
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
            for entry in page.items {
                summary.found += 1;
                let outcome = match &entry {
                    PendingEntry::Document { .. } => settle_document(app, &invocation, &entry).await,
                    PendingEntry::Removal { .. } => finish_removal(app, &entry).await,
                };
                match (outcome, &entry) {
                    (Ok(Settled::Removed), PendingEntry::Document { .. }) => summary.removed += 1,
                    (Ok(Settled::Removed), PendingEntry::Removal { .. }) => summary.removals_finished += 1,
                    (Ok(Settled::Confirmed), _) => summary.confirmed += 1,
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

async fn settle_document(app: &App, invocation: &Invocation, entry: &PendingEntry) -> Result<Settled> {
    let PendingEntry::Document { owner, id } = entry else { unreachable!("called for documents only") };
    // Only pending uploads past the cut-off (the index holds nothing newer) and rejected ones
    // are abandoned; the removal is conditional on the status read, so a confirm that wins
    // meanwhile keeps its document.
    let Some(document) = app.table.get_document(owner, *id).await? else { return Ok(Settled::Skipped) };
    if !is_abandoned(document.status) {
        return Ok(Settled::Skipped);
    }
    if document.confirms_on_arrival() {
        match confirm(app, invocation, owner, *id).await? {
            // A read answers 403 for a missing key and for a read denied alike: the object's
            // absence is proven by a listing before the upload is removed as abandoned.
            ConfirmOutcome::NotInStorage if app.storage.is_listed(&document.object_key()).await? => {
                return Err(OperationError::Unexpected(format!(
                    "the object of upload {id} is stored but could not be read (check the function's \
                     s3:GetObject, and s3:ListBucket); left for the next run"
                )))
            }
            ConfirmOutcome::NotInStorage => {}
            ConfirmOutcome::NotFound | ConfirmOutcome::StillPending => return Ok(Settled::Skipped),
            outcome => {
                tracing::warn!(user = owner.as_str(), %id, ?outcome, "confirmed by clean-up: its object's event never did");
                return Ok(Settled::Confirmed);
            }
        }
    }
    match app.table.delete_document(invocation, &document).await? {
        Write::Done => {}
        Write::DocumentChanged(_) => return Ok(Settled::Skipped),
        Write::Refused(refusal) => {
            return Err(OperationError::Unexpected(format!("removing an abandoned upload: {refusal:?}")))
        }
    }
    // The row is settled; the object (or the parts) go now, or with the removal record later.
    remove_object(&app.storage, &document).await?;
    app.table.finish_removal(owner, *id).await?;
    Ok(Settled::Removed)
}

/// Whether a document found in the pending index is abandoned: everything there but an upload
/// a confirm settled meanwhile (the index holds no pending upload newer than the cut-off).
fn is_abandoned(status: DocumentStatus) -> bool {
    status != DocumentStatus::Uploaded
}

async fn finish_removal(app: &App, entry: &PendingEntry) -> Result<Settled> {
    let PendingEntry::Removal { owner, id } = entry else { unreachable!("called for removals only") };
    app.storage.delete_object(&object_key(owner, *id)).await?;
    Ok(if app.table.finish_removal(owner, *id).await? { Settled::Removed } else { Settled::Skipped })
}

/// Limits for a run of `invocation`: stop starting pages a safety margin (a fifth of the time
/// left, at most 5 s) before its deadline.
pub fn limits_for(app: &App, invocation: &Invocation) -> CleanupLimits {
    let time_left = invocation.time_left();
    let remaining = time_left - (time_left / 5).min(Duration::from_secs(5));
    CleanupLimits {
        page_size: app.config.cleanup_page_size,
        page_budget: app.config.cleanup_page_budget,
        stop_at: Instant::now() + remaining,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_in_the_pending_index_but_a_confirmed_upload_is_abandoned() {
        assert!(is_abandoned(DocumentStatus::Pending));
        assert!(is_abandoned(DocumentStatus::Rejected));
        assert!(!is_abandoned(DocumentStatus::Uploaded));
    }
}

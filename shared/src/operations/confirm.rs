//! confirm: charge the stored object's size to the quota and mark the document uploaded, or
//! refuse it; answer the same again for a retry.
//!
//! The document and the object's start (its `Content-Range` gives the size, never taken from
//! the client) are read concurrently. A document whose reservation is fixed (declared, or
//! recorded when its object arrived) is then charged in two steps (`domain::charge`): one write
//! of the counters alone, which answers the usage right after it, so concurrent confirms of one
//! user never race for a value they read; then the document is settled. An undeclared upload
//! whose object has not arrived yet is confirmed by one transaction of both items, on the
//! condition that `used_bytes` is still what was read (a concurrent charge hands back the
//! counters as they are now, and the transaction is sent again with them).
//!
//! The object's bytes must be what its declared type says (`sniff`): a `.pdf` holding text is
//! refused with a 415 before anything is charged. The first KiB settles text and PDF; a DOCX
//! whose main part is not among its first entries takes a third read, of the end of the file
//! (the ZIP's central directory lists every entry).
//!
//! A multipart upload is completed here; one created with a checksum algorithm keeps the
//! object's composite checksum, as storage reports it, on the document.

use super::objects::remove_object;
use super::{OperationError, Result};
use crate::auth::now_unix;
use crate::domain::{
    completion_checksums, object_key, Document, DocumentId, DocumentStatus, MultipartPlan, MultipartUpload,
    PendingCharge, QuotaCounters, QuotaExceeded, QuotaPolicy, QuotaRefusal, UserId,
};
use crate::invocation::Invocation;
use crate::metrics::Unit;
use crate::retry::RetryPolicy;
use crate::sniff::{self, Verdict};
use crate::storage::{Completion, ObjectStart, StoredPart};
use crate::table::{Charge, Write};
use crate::App;

const OPERATION: &str = "confirm";

/// Bytes read from the start of the object (its type is checked from them).
const HEAD_BYTES: u64 = sniff::HEAD_BYTES;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// Charged (now, or by an earlier confirm): the size and the usage after the charge.
    Uploaded {
        id: DocumentId,
        size_bytes: u64,
        used_bytes: u64,
    },
    /// Did not fit (now, or when an earlier confirm rejected it): nothing charged, ever.
    OverQuota(QuotaExceeded),
    /// Its content is not the declared type (now, or earlier): the detail names both.
    WrongContent(String),
    NotFound,
    /// Nothing in storage yet (or the URL expired unused).
    NotInStorage,
    /// A multipart upload still lacks these parts (or holds them with another length).
    MissingParts(Vec<u32>),
    /// A concurrent request left the document pending after all.
    StillPending,
}

pub async fn confirm(app: &App, invocation: &Invocation, user: &UserId, id: DocumentId) -> Result<ConfirmOutcome> {
    let key = object_key(user, id);
    let read_document = async { app.table.get_document(user, id).await.map_err(OperationError::from) };
    let read_start = async { app.storage.peek(invocation, &key, HEAD_BYTES).await.map_err(OperationError::from) };
    let (document, object) = tokio::try_join!(read_document, read_start)?;
    let Some(mut document) = document else {
        if object.is_some() {
            remove_orphan(app, &key).await;
        }
        return Ok(ConfirmOutcome::NotFound);
    };
    if document.status != DocumentStatus::Pending {
        // The three reads are not one snapshot: counters read before a concurrent confirm
        // committed would not include its charge. Read them again, after the settled document.
        let counters = app.table.get_quota_counters(user).await?;
        return Ok(settled(app.table.policy(), &document, &counters));
    }
    let (object, composite) = match (object, &document.multipart) {
        (None, Some(multipart)) => match complete_parts(app, invocation, &document, multipart).await? {
            Ok(assembled) => assembled,
            Err(missing) => return Ok(ConfirmOutcome::MissingParts(missing)),
        },
        (object, _) => (object, None),
    };
    let Some(object) = object else {
        // A concurrent confirm may have rejected the upload and removed its object since the
        // document was read: then this one answers as that one did.
        return match answer_as_now(app, user, id).await? {
            ConfirmOutcome::StillPending => Ok(ConfirmOutcome::NotInStorage),
            settled => Ok(settled),
        };
    };
    if document.multipart.as_ref().is_some_and(|m| m.checksum_algorithm.is_some()) {
        document.checksum_sha256 = match composite {
            Some(checksum) => Some(checksum),
            // Assembled by an earlier attempt or a concurrent confirm: storage still reports it.
            None => app.storage.stored_checksum_sha256(&key).await?,
        };
    }
    confirm_stored(app, invocation, document, object, None, Settling::Now).await
}

/// Who settles a charge made in two steps (`domain::charge`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settling {
    /// Confirm, right after the charge.
    Now,
    /// The caller's next write of the document: the classification of an upload confirmed on
    /// arrival settles it in the same write (`PendingCharge::confirming` tells the caller the
    /// charge). Until then it is a charge left unsettled, which whoever touches the document
    /// next settles first, so a caller that stops before its write leaves nothing wrong.
    ByCaller,
}

/// Charges the stored `object`'s size for the pending `document`, or refuses it (its content,
/// or the quota); `whole` is all of the object when the caller read it whole (a DOCX's
/// directory is then checked in it rather than fetched). Confirm by request and confirm on
/// arrival (`object_arrived`) both end here.
pub(crate) async fn confirm_stored(
    app: &App,
    invocation: &Invocation,
    mut document: Document,
    object: ObjectStart,
    whole: Option<&[u8]>,
    settling: Settling,
) -> Result<ConfirmOutcome> {
    let (user, id, key) = (&document.owner.clone(), document.id, document.object_key());
    let size = object.size;
    let mismatch = match sniff::check_head(&document.content_type, &object.head, size) {
        Verdict::Fits => None,
        Verdict::Mismatch(mismatch) => Some(mismatch),
        Verdict::NeedTail(tail) => match whole {
            Some(whole) => tail.check(whole).err(),
            None => match app.storage.read_range(invocation, &key, tail.range()).await? {
                None => return Ok(ConfirmOutcome::NotInStorage),
                Some(end) => tail.check(&end).err(),
            },
        },
    };
    if let Some(mismatch) = mismatch {
        return reject(app, invocation, &document, size, Refusal::Content(mismatch.detail())).await;
    }
    if let Some(charge) = PendingCharge::confirming(&document, size, now_unix()) {
        match app.table.charge(invocation, user, &charge).await? {
            Charge::Charged { used_bytes } => {
                if settling == Settling::ByCaller || app.table.settle(invocation, user, &charge).await? {
                    return Ok(charged(app, &document, size, used_bytes).await);
                }
                // A concurrent confirm, delete or clean-up found it charged and settled it first
                // (and may have removed it since): answered as it is now.
                return answer_as_now(app, user, id).await;
            }
            Charge::Refused(QuotaRefusal::OverQuota(before)) => {
                return reject(app, invocation, &document, size, Refusal::Quota(before)).await
            }
            // Charged (by an earlier attempt or a concurrent confirm), rejected or removed since
            // it was read, or a counter below what it holds (drift): the transaction below
            // decides from the document as it is (settling an unsettled charge first).
            Charge::NotListed | Charge::Refused(_) => {}
        }
    }
    let mut counters = app.table.get_quota_counters(user).await?;
    let mut attempts = RetryPolicy::RACES.attempts(invocation);
    while attempts.next().await {
        let used_before = counters.used_bytes;
        match app.table.confirm_upload(invocation, &document, size, used_before, now_unix()).await? {
            Write::Done => return Ok(charged(app, &document, size, used_before + size).await),
            Write::Refused(QuotaRefusal::UsageMoved(now)) => counters = now,
            Write::Refused(QuotaRefusal::OverQuota(before)) => {
                return reject(app, invocation, &document, size, Refusal::Quota(before)).await
            }
            Write::Refused(other) => {
                return Err(OperationError::Unexpected(format!("confirming an upload: {other:?}")))
            }
            Write::DocumentChanged(None) => {
                // An object under our key with no row is an orphan (its upload was cleaned up or
                // deleted before the PUT landed); ids are never reused, so nothing can claim it.
                remove_orphan(app, &key).await;
                return Ok(ConfirmOutcome::NotFound);
            }
            // Still pending, but its object's arrival reserved its size meanwhile: the charge
            // is computed again from the document as it is now.
            Write::DocumentChanged(Some(now)) if now.status == DocumentStatus::Pending => document = *now,
            Write::DocumentChanged(Some(now)) => {
                // A concurrent confirm (or rejection) settled it first: answer as it did.
                let counters = app.table.get_quota_counters(user).await?;
                return Ok(settled(app.table.policy(), &now, &counters));
            }
        }
    }
    Err(OperationError::KeptLosing("confirming an upload: the usage kept changing until the deadline"))
}

/// The answer for `size` bytes charged for `document`, `used_bytes` the usage right after.
async fn charged(app: &App, document: &Document, size: u64, used_bytes: u64) -> ConfirmOutcome {
    forget_part_checksums(app, document).await;
    let charged = [("DocumentsConfirmed", Unit::Count, 1.0), ("BytesCharged", Unit::Bytes, size as f64)];
    app.metrics.emit(OPERATION, &[], &charged);
    ConfirmOutcome::Uploaded { id: document.id, size_bytes: size, used_bytes }
}

/// The answer for a document another request decided on (or removed) meanwhile.
async fn answer_as_now(app: &App, user: &UserId, id: DocumentId) -> Result<ConfirmOutcome> {
    let (now, counters) = tokio::try_join!(app.table.get_document(user, id), app.table.get_quota_counters(user))?;
    Ok(match now {
        Some(now) => settled(app.table.policy(), &now, &counters),
        None => ConfirmOutcome::NotFound,
    })
}

/// The object of a multipart upload and, when this call assembled it, its composite checksum.
type Assembled = (Option<ObjectStart>, Option<String>);

/// Assembles a multipart upload whose parts are all stored with their planned lengths (and, for
/// an upload with a checksum algorithm, their checksums); then the object exists and confirm goes
/// on as for a single PUT. `Err` names the parts still missing.
async fn complete_parts(
    app: &App,
    invocation: &Invocation,
    document: &Document,
    multipart: &MultipartUpload,
) -> Result<std::result::Result<Assembled, Vec<u32>>> {
    let key = document.object_key();
    let mut composite = None;
    if let Some(parts) = app.storage.list_parts(&key, &multipart.upload_id).await? {
        let plan = MultipartPlan::new(document.declared_size_bytes.unwrap_or_default(), multipart.part_size)?;
        let missing = plan.missing(parts.iter().map(|p| (p.part_number, p.size_bytes)));
        if !missing.is_empty() {
            return Ok(Err(missing));
        }
        // S3's ListParts reports each part's checksum (AWS, LocalStack); SeaweedFS's reports none,
        // so the ones the parts route kept fill in.
        let listed = || parts.iter().map(|p| (p.part_number, p.checksum_sha256.as_deref()));
        let needs_kept = multipart.checksum_algorithm.is_some() && listed().any(|(_, c)| c.is_none());
        let kept = match needs_kept {
            true => app.table.part_checksums(&document.owner, document.id).await?,
            false => Default::default(),
        };
        let checksums = completion_checksums(multipart.checksum_algorithm, listed(), &kept).map_err(|unknown| {
            OperationError::Unexpected(format!(
                "completing a multipart upload: neither storage nor the table has the checksums of parts {unknown:?}"
            ))
        })?;
        let parts: Vec<StoredPart> = parts
            .iter()
            .zip(checksums)
            .map(|(part, (_, checksum_sha256))| StoredPart { checksum_sha256, ..part.clone() })
            .collect();
        // Gone when a concurrent confirm completed it first: the object is there either way.
        if let Completion::Assembled { checksum_sha256 } =
            app.storage.complete_multipart(&key, &multipart.upload_id, &parts).await?
        {
            composite = checksum_sha256;
        }
    }
    Ok(Ok((app.storage.peek(invocation, &key, HEAD_BYTES).await?, composite)))
}

/// Why confirm refuses an object.
enum Refusal {
    /// It does not fit: the counters that refused it.
    Quota(QuotaCounters),
    /// Its bytes are not what was declared: the 415's detail.
    Content(String),
}

/// Marks the document rejected and removes its object, charging nothing; answers 413 with the
/// figures that refused it, or 415 naming the declared and the detected types. If a concurrent
/// request settled the document first, answers as that one did.
async fn reject(
    app: &App,
    invocation: &Invocation,
    document: &Document,
    size: u64,
    refusal: Refusal,
) -> Result<ConfirmOutcome> {
    let reason = match &refusal {
        Refusal::Quota(_) => None,
        Refusal::Content(detail) => Some(detail.as_str()),
    };
    match app.table.reject_upload(invocation, document, size, reason).await? {
        Write::Done => {
            // If this fails the rejected row stays in the pending index and clean-up removes it.
            if let Err(error) = remove_object(&app.storage, document).await {
                tracing::warn!(%error, id = %document.id, "could not remove rejected object; clean-up will");
            }
            return Ok(match refusal {
                Refusal::Content(detail) => ConfirmOutcome::WrongContent(detail),
                Refusal::Quota(before) => {
                    app.metrics.emit(OPERATION, &[], &[("QuotaRefusals", Unit::Count, 1.0)]);
                    ConfirmOutcome::OverQuota(before.exceeded_by(app.table.policy(), size))
                }
            });
        }
        Write::DocumentChanged(_) => {}
        Write::Refused(refusal) => return Err(OperationError::Unexpected(format!("rejecting an upload: {refusal:?}"))),
    }
    answer_as_now(app, &document.owner, document.id).await
}

/// The answer for a document that confirm already decided on.
fn settled(policy: &QuotaPolicy, document: &Document, counters: &QuotaCounters) -> ConfirmOutcome {
    let size = document.size_bytes.unwrap_or_default();
    match document.status {
        DocumentStatus::Uploaded => {
            ConfirmOutcome::Uploaded { id: document.id, size_bytes: size, used_bytes: counters.used_bytes }
        }
        DocumentStatus::Rejected => match &document.rejection_reason {
            Some(reason) => ConfirmOutcome::WrongContent(reason.clone()),
            None => ConfirmOutcome::OverQuota(counters.exceeded_by(policy, size)),
        },
        DocumentStatus::Pending => ConfirmOutcome::StillPending,
    }
}

/// Drops the part checksums kept for a confirmed multipart upload (a failure is logged: the
/// table's TTL removes them).
async fn forget_part_checksums(app: &App, document: &Document) {
    let Some(multipart) = document.multipart.as_ref().filter(|m| m.checksum_algorithm.is_some()) else { return };
    let part_count = document.declared_size_bytes.unwrap_or_default().div_ceil(multipart.part_size.max(1)) as u32;
    if let Err(error) = app.table.forget_part_checksums(&document.owner, document.id, part_count).await {
        tracing::warn!(%error, id = %document.id, "could not remove kept part checksums; the TTL will");
    }
}

async fn remove_orphan(app: &App, key: &str) {
    match app.storage.delete_object(key).await {
        Ok(()) => app.metrics.emit(OPERATION, &[], &[("OrphansRemoved", Unit::Count, 1.0)]),
        Err(error) => tracing::warn!(%error, key, "could not remove orphan object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: QuotaPolicy = QuotaPolicy { default_limit_bytes: 100, max_pending_uploads: 10, max_topics: 5 };

    fn decided(status: DocumentStatus, size: u64, reason: Option<&str>) -> Document {
        let user = UserId::parse("u").unwrap();
        let mut document = Document::pending(user, "a.txt".into(), "text/plain".into(), None, 0);
        document.status = status;
        document.size_bytes = Some(size);
        document.rejection_reason = reason.map(str::to_owned);
        document
    }

    #[test]
    fn a_retry_answers_as_the_confirm_that_decided() {
        let counters = QuotaCounters { used_bytes: 40, ..QuotaCounters::default() };
        let uploaded = decided(DocumentStatus::Uploaded, 12, None);
        assert_eq!(
            settled(&POLICY, &uploaded, &counters),
            ConfirmOutcome::Uploaded { id: uploaded.id, size_bytes: 12, used_bytes: 40 }
        );
        let over = decided(DocumentStatus::Rejected, 90, None);
        assert_eq!(
            settled(&POLICY, &over, &counters),
            ConfirmOutcome::OverQuota(QuotaExceeded { used_bytes: 40, limit_bytes: 100, rejected_bytes: 90 })
        );
        let wrong = decided(DocumentStatus::Rejected, 5, Some("declared as PDF but text"));
        assert_eq!(
            settled(&POLICY, &wrong, &counters),
            ConfirmOutcome::WrongContent("declared as PDF but text".into())
        );
        assert_eq!(
            settled(&POLICY, &decided(DocumentStatus::Pending, 0, None), &counters),
            ConfirmOutcome::StillPending
        );
    }
}

//! Confirm's charge in two steps, for a document whose charge is known from the document alone:
//!
//! 1. **charge**: one conditional write of the owner's counters moves the document's reservation
//!    into usage and delists it from the pending documents the counters list. It answers the
//!    usage right after it, so the confirm's answer is exact without racing other confirms of
//!    the same user for a value it read (what made one user's burst slow: every concurrent
//!    charge failed the others' "usage is still what I read" condition). It happens only while
//!    the document is listed, so at most once per document.
//! 2. **settle**: the document moves from pending to uploaded: by confirm right after the charge,
//!    or, for an upload confirmed on its object's arrival, by the same write that records its
//!    classification (one write unit saved; `operations::confirm::Settling`).
//!
//! Every transition that moves a listed document out of pending delists it in the same write,
//! so "pending, listed by the document, not listed by the counters" means exactly "charged, not
//! settled": a confirm that stopped between the two steps. Whoever comes next to the document
//! (a confirm again, a delete, clean-up) finds it so and settles it first, with what the
//! document says ([`PendingCharge::of_unsettled`]).
//!
//! Until then the counters count that document as uploaded while it still reads `pending`: the
//! quota's invariant (used = the sizes of uploaded documents, reserved = the reservations of
//! pending ones, `pending_uploads` = their number) holds with "pending, listed by itself, not by
//! the counters" counted as uploaded, and the cap on pending uploads can be passed by one per such
//! document.
//!
//! That is why the charge must be known from the document: its object's size is what it holds
//! reserved (a declared size is signed into the PUT and S3 enforces it; an undeclared upload's
//! is recorded when its object arrives), and it keeps no composite checksum to learn at
//! completion. Any other document (an undeclared upload whose object has not arrived, a size
//! that differs, a multipart upload with a checksum algorithm, one created before the list
//! existed) is confirmed by one transaction of both items (`Transition::confirm`).

use super::{Document, DocumentId, DocumentStatus, QuotaDelta};

/// A charge made, or to make, by confirm in two steps: what it charges and what settling writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingCharge {
    pub document: DocumentId,
    /// What the document holds reserved: its object's size, charged.
    pub size_bytes: u64,
    pub uploaded_at: i64,
}

impl PendingCharge {
    /// The charge confirming `document`, whose object holds `size` bytes, at `now`; `None` when
    /// it must be confirmed by one transaction instead (see the module's documentation).
    pub fn confirming(document: &Document, size: u64, now: i64) -> Option<Self> {
        let learns_checksum = document.multipart.as_ref().is_some_and(|m| m.checksum_algorithm.is_some());
        let known = document.status == DocumentStatus::Pending
            && document.listed
            && document.reserved_bytes() == Some(size)
            && !learns_checksum;
        known.then_some(Self { document: document.id, size_bytes: size, uploaded_at: now })
    }

    /// The charge a confirm made and did not settle, read from its `document` (found pending,
    /// listed by itself and not by the counters), settled at `now`.
    pub fn of_unsettled(document: &Document, now: i64) -> Option<Self> {
        let size = document.reserved_bytes()?;
        (document.status == DocumentStatus::Pending && document.listed).then_some(Self {
            document: document.id,
            size_bytes: size,
            uploaded_at: now,
        })
    }

    /// What the charge does to the counters (the same as `Transition::confirm`'s): the
    /// reservation becomes usage, nothing new to fit.
    pub fn delta(&self) -> QuotaDelta {
        QuotaDelta::confirmed(Some(self.size_bytes), self.size_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChecksumAlgorithm, MultipartUpload, UserId};

    fn pending(declared: Option<u64>) -> Document {
        Document::pending(UserId::parse("u").unwrap(), "a.txt".into(), "text/plain".into(), declared, 0)
    }

    #[test]
    fn only_a_charge_known_from_the_document_is_made_in_two_steps() {
        let charge = PendingCharge::confirming(&pending(Some(10)), 10, 5).unwrap();
        assert_eq!((charge.size_bytes, charge.uploaded_at), (10, 5));
        assert_eq!(charge.delta(), QuotaDelta { used: 10, reserved: -10, pending: -1 });
        assert_eq!(charge.delta().committed(), 0, "nothing new to fit");
        let arrived = Document { arrival_bytes: Some(7), ..pending(None) };
        assert!(PendingCharge::confirming(&arrived, 7, 5).is_some(), "an arrival recorded its size");
        assert_eq!(PendingCharge::confirming(&pending(None), 7, 5), None, "its reservation may still change");
        assert_eq!(PendingCharge::confirming(&pending(Some(10)), 12, 5), None, "not the size it reserved");
        let legacy = Document { listed: false, ..pending(Some(10)) };
        assert_eq!(PendingCharge::confirming(&legacy, 10, 5), None, "the counters never listed it");
        let uploaded = Document { status: DocumentStatus::Uploaded, ..pending(Some(10)) };
        assert_eq!(PendingCharge::confirming(&uploaded, 10, 5), None);
        let algorithm = Some(ChecksumAlgorithm::Sha256);
        let parts = MultipartUpload { upload_id: "u".into(), part_size: 5, checksum_algorithm: algorithm };
        let composite = Document { multipart: Some(parts.clone()), ..pending(Some(10)) };
        assert_eq!(PendingCharge::confirming(&composite, 10, 5), None, "its checksum is learnt at completion");
        let plain = Document { multipart: Some(MultipartUpload { checksum_algorithm: None, ..parts }), ..composite };
        assert!(PendingCharge::confirming(&plain, 10, 5).is_some());
    }

    #[test]
    fn an_unsettled_charge_is_read_from_its_document() {
        let charge = PendingCharge::of_unsettled(&pending(Some(10)), 9).unwrap();
        assert_eq!((charge.size_bytes, charge.uploaded_at), (10, 9));
        assert_eq!(PendingCharge::of_unsettled(&pending(None), 9), None, "it held nothing: it was never charged");
    }
}

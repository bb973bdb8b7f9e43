//! Confirm's charge in two steps, for a document whose reservation can no longer change:
//!
//! 1. **charge**: one conditional write of the owner's counters alone moves the reservation into
//!    usage and records a [`PendingCharge`] beside them. The write answers the usage after it, so
//!    the confirm's answer is exact without racing other confirms of the same user for a value
//!    it read (what made one user's burst slow: every concurrent charge failed the others'
//!    "usage is still what I read" condition). It is refused when a charge of this document is
//!    recorded already (a retry, or a concurrent confirm of it).
//! 2. **settle**: the document moves from pending to uploaded, naming the charge; then the record
//!    is dropped.
//!
//! Between the two, the record is what says the document is charged: every other transition
//! from pending (reject, delete, clean-up) requires that no charge of its document is recorded,
//! and whoever finds one settles it first. A confirm that crashed between the steps is settled
//! by the next confirm, delete or clean-up of its document. A charge made on a document that
//! another request settled, deleted or rejected meanwhile is taken back ([`ChargeFate::Undo`]),
//! decided from the document alone: it names the charge that settled it.
//!
//! A document without a reservation yet (an undeclared upload whose object has not arrived) is
//! confirmed by one transaction of both items instead (`Transition::confirm`): its reservation
//! may still change under a concurrent arrival, which the document's condition guards.

use super::{Document, DocumentId, DocumentStatus, QuotaDelta};

/// A charge recorded on the counters whose document is not settled yet: what settling it writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingCharge {
    pub document: DocumentId,
    /// Unique per charge: the settled document names it, so a second charge of the same document
    /// is recognised and taken back.
    pub charge_id: String,
    pub size_bytes: u64,
    /// What the document held reserved (released by the charge).
    pub reserved_bytes: u64,
    pub uploaded_at: i64,
    pub checksum_sha256: Option<String>,
}

/// What becomes of a recorded charge, given its document as the settling write found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChargeFate {
    /// The document is pending: settle it with this charge.
    Settle,
    /// The document was settled with this very charge (by a concurrent settle): drop the record.
    Settled,
    /// The document is gone, rejected, or settled by another charge: this charge must be given
    /// back, and its record dropped.
    Undo,
}

impl PendingCharge {
    /// The charge of `size` bytes confirming `document` at `now`, or `None` when the document
    /// must be confirmed by one transaction (not pending, or no reservation yet).
    pub fn confirming(document: &Document, size: u64, now: i64, charge_id: String) -> Option<Self> {
        let reserved_bytes = document.reserved_bytes()?;
        (document.status == DocumentStatus::Pending).then(|| Self {
            document: document.id,
            charge_id,
            size_bytes: size,
            reserved_bytes,
            uploaded_at: now,
            checksum_sha256: document.checksum_sha256.clone(),
        })
    }

    /// What the charge does to the counters (the same as `Transition::confirm`).
    pub fn delta(&self) -> QuotaDelta {
        QuotaDelta::confirmed(Some(self.reserved_bytes), self.size_bytes)
    }

    /// What giving the charge back does to the counters.
    pub fn undo_delta(&self) -> QuotaDelta {
        let delta = self.delta();
        QuotaDelta { used: -delta.used, reserved: -delta.reserved, pending: -delta.pending }
    }

    /// The fate of this charge, given its document's status and the charge it was settled with
    /// (`None` for `found` when the document is gone).
    pub fn fate(&self, found: Option<(DocumentStatus, Option<&str>)>) -> ChargeFate {
        match found {
            Some((DocumentStatus::Pending, _)) => ChargeFate::Settle,
            Some((DocumentStatus::Uploaded, Some(id))) if id == self.charge_id => ChargeFate::Settled,
            _ => ChargeFate::Undo,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn pending(declared: Option<u64>) -> Document {
        Document::pending(UserId::parse("u").unwrap(), "a.txt".into(), "text/plain".into(), declared, 0)
    }

    #[test]
    fn only_a_pending_document_with_a_fixed_reservation_is_charged_first() {
        let charge = PendingCharge::confirming(&pending(Some(10)), 10, 5, "c1".into()).unwrap();
        assert_eq!((charge.size_bytes, charge.reserved_bytes, charge.uploaded_at), (10, 10, 5));
        assert_eq!(charge.delta().committed(), 0, "a declared size turns into usage: nothing new to fit");
        let arrived = Document { arrival_bytes: Some(7), ..pending(None) };
        assert_eq!(PendingCharge::confirming(&arrived, 7, 5, "c".into()).unwrap().reserved_bytes, 7);
        assert_eq!(PendingCharge::confirming(&pending(None), 7, 5, "c".into()), None, "its reservation may change");
        let uploaded = Document { status: DocumentStatus::Uploaded, ..pending(Some(10)) };
        assert_eq!(PendingCharge::confirming(&uploaded, 10, 5, "c".into()), None);
    }

    #[test]
    fn undoing_a_charge_gives_back_exactly_what_it_took() {
        let charge = PendingCharge::confirming(&pending(Some(10)), 12, 5, "c1".into()).unwrap();
        assert_eq!(charge.delta(), QuotaDelta { used: 12, reserved: -10, pending: -1 });
        assert_eq!(charge.undo_delta(), QuotaDelta { used: -12, reserved: 10, pending: 1 });
    }

    #[test]
    fn a_charge_is_kept_only_by_the_document_it_settled() {
        let charge = PendingCharge::confirming(&pending(Some(10)), 10, 5, "c1".into()).unwrap();
        assert_eq!(charge.fate(Some((DocumentStatus::Pending, None))), ChargeFate::Settle);
        assert_eq!(charge.fate(Some((DocumentStatus::Uploaded, Some("c1")))), ChargeFate::Settled);
        // Settled by another charge (a slower confirm of the same document), or by the
        // one-transaction confirm, which names none: this one is a second charge.
        assert_eq!(charge.fate(Some((DocumentStatus::Uploaded, Some("c0")))), ChargeFate::Undo);
        assert_eq!(charge.fate(Some((DocumentStatus::Uploaded, None))), ChargeFate::Undo);
        // Deleted or rejected before the charge landed: what it released was released already.
        assert_eq!(charge.fate(Some((DocumentStatus::Rejected, None))), ChargeFate::Undo);
        assert_eq!(charge.fate(None), ChargeFate::Undo);
    }
}

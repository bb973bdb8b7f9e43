//! The quota rules, written once and free of storage types:
//!
//! * `used_bytes`: bytes of uploaded (confirmed) documents;
//! * `reserved_bytes`: sizes declared at upload-url by documents still pending;
//! * `pending_uploads`: how many documents are pending (capped per user);
//! * a user's own `limit_bytes`, when set (else the deployment default applies).
//!
//! Every state change of a document moves its owner's counters by one [`QuotaDelta`]; growth
//! must fit the limit (`used + reserved + growth <= limit`), decreases never take a counter below
//! zero. When a guarded write of the counters is refused, [`QuotaPolicy::diagnose`] names which
//! part of the rule failed, from the counters as they were. The 413 body is built in one place:
//! [`QuotaCounters::exceeded_by`].

use serde::Serialize;

use super::{Document, DocumentStatus, Quota};

/// The deployment's quota rules for every user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaPolicy {
    /// The limit of users without their own `limit_bytes`.
    pub default_limit_bytes: u64,
    /// At most this many pending uploads per user.
    pub max_pending_uploads: u64,
    /// At most this many topics per user.
    pub max_topics: u64,
}

/// A user's counters as stored; absent attributes are zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaCounters {
    pub used_bytes: u64,
    pub reserved_bytes: u64,
    pub pending_uploads: u64,
    pub own_limit_bytes: Option<u64>,
}

/// The body of a 413: how much is used, the limit, and what did not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct QuotaExceeded {
    pub used_bytes: u64,
    pub limit_bytes: u64,
    pub rejected_bytes: u64,
}

impl QuotaCounters {
    pub fn limit(&self, policy: &QuotaPolicy) -> u64 {
        self.own_limit_bytes.unwrap_or(policy.default_limit_bytes)
    }

    /// Bytes that still fit: the limit less what is used and reserved.
    pub fn room(&self, policy: &QuotaPolicy) -> u64 {
        self.limit(policy).saturating_sub(self.used_bytes + self.reserved_bytes)
    }

    pub fn view(&self, policy: &QuotaPolicy) -> Quota {
        Quota { used_bytes: self.used_bytes, limit_bytes: self.limit(policy), reserved_bytes: self.reserved_bytes }
    }

    /// Whether `size` more bytes fit what is neither used nor reserved.
    pub fn fits(&self, policy: &QuotaPolicy, size: u64) -> bool {
        size <= self.room(policy)
    }

    /// The 413 for `rejected_bytes` that did not fit these counters.
    pub fn exceeded_by(&self, policy: &QuotaPolicy, rejected_bytes: u64) -> QuotaExceeded {
        QuotaExceeded { used_bytes: self.used_bytes, limit_bytes: self.limit(policy), rejected_bytes }
    }
}

/// How one state change of a document moves its owner's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaDelta {
    pub used: i64,
    pub reserved: i64,
    pub pending: i64,
}

impl QuotaDelta {
    /// upload-url: one more pending upload, its declared size reserved.
    pub fn upload_started(declared: Option<u64>) -> Self {
        Self { used: 0, reserved: declared.unwrap_or(0) as i64, pending: 1 }
    }

    /// The object of an upload without a declared size arrived: its size is reserved now, as
    /// a declared one is at upload-url.
    pub fn arrived(size: u64) -> Self {
        Self { used: 0, reserved: size as i64, pending: 0 }
    }

    /// confirm: the stored size is charged and the reservation becomes usage.
    pub fn confirmed(reserved: Option<u64>, size: u64) -> Self {
        Self { used: size as i64, reserved: -(reserved.unwrap_or(0) as i64), pending: -1 }
    }

    /// A pending upload refused (over quota, or not the declared type): its reservation is
    /// released, nothing charged.
    pub fn rejected(reserved: Option<u64>) -> Self {
        Self { used: 0, reserved: -(reserved.unwrap_or(0) as i64), pending: -1 }
    }

    /// A document removed (deleted or cleaned up): what it holds is given back.
    pub fn removed(document: &Document) -> Self {
        match document.status {
            DocumentStatus::Uploaded => Self { used: -(document.size_bytes.unwrap_or(0) as i64), ..Self::default() },
            DocumentStatus::Pending => Self::rejected(document.reserved_bytes()),
            DocumentStatus::Rejected => Self::default(),
        }
    }

    /// Change of `used + reserved`: growth must fit the limit, shrinking always does.
    pub fn committed(&self) -> i64 {
        self.used + self.reserved
    }

    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }

    /// The same delta, with each decrease limited to what `before` holds: used when a counter
    /// drifted below what a document accounts for (only manual edits can do that), so that
    /// removing the document still succeeds and no counter goes negative.
    pub fn clamped(&self, before: &QuotaCounters) -> Self {
        let clamp = |delta: i64, current: u64| if delta < 0 { delta.max(-(current as i64)) } else { delta };
        Self {
            used: clamp(self.used, before.used_bytes),
            reserved: clamp(self.reserved, before.reserved_bytes),
            pending: clamp(self.pending, before.pending_uploads),
        }
    }
}

/// Why a guarded write of the counters was refused, decided from the counters as they were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaRefusal {
    /// The caller's view of `used_bytes` is out of date (a concurrent charge or refund).
    UsageMoved(QuotaCounters),
    TooManyPending {
        open: u64,
        max: u64,
    },
    /// A decrease found less than it takes away.
    Drift(QuotaCounters),
    /// The growth does not fit the limit.
    OverQuota(QuotaCounters),
}

impl QuotaPolicy {
    /// Which part of the guarded write's condition failed (`delta`, and with `expected_used`
    /// the usage the write assumed), given the counters as they were. The cheap checks are
    /// decided here; what remains can only be the "fits" rule.
    pub fn diagnose(&self, before: &QuotaCounters, delta: &QuotaDelta, expected_used: Option<u64>) -> QuotaRefusal {
        if expected_used.is_some_and(|expected| expected != before.used_bytes) {
            return QuotaRefusal::UsageMoved(*before);
        }
        if delta.pending > 0 && before.pending_uploads >= self.max_pending_uploads {
            return QuotaRefusal::TooManyPending { open: before.pending_uploads, max: self.max_pending_uploads };
        }
        if delta.clamped(before) != *delta {
            return QuotaRefusal::Drift(*before);
        }
        QuotaRefusal::OverQuota(*before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    const POLICY: QuotaPolicy = QuotaPolicy { default_limit_bytes: 100, max_pending_uploads: 3, max_topics: 5 };

    #[test]
    fn room_is_what_neither_usage_nor_reservations_hold() {
        let counters = QuotaCounters { used_bytes: 60, reserved_bytes: 30, pending_uploads: 1, own_limit_bytes: None };
        assert_eq!(counters.room(&POLICY), 10);
        assert_eq!(QuotaCounters { own_limit_bytes: Some(50), ..counters }.room(&POLICY), 0, "never negative");
        assert!(counters.fits(&POLICY, 10) && !counters.fits(&POLICY, 11));
    }

    #[test]
    fn the_413_names_usage_the_limit_that_applies_and_what_was_refused() {
        let counters = QuotaCounters { used_bytes: 60, reserved_bytes: 30, pending_uploads: 1, own_limit_bytes: None };
        let body = QuotaExceeded { used_bytes: 60, limit_bytes: 100, rejected_bytes: 41 };
        assert_eq!(counters.exceeded_by(&POLICY, 41), body);
        let own = QuotaCounters { own_limit_bytes: Some(500), ..counters };
        assert_eq!(own.exceeded_by(&POLICY, 7).limit_bytes, 500);
    }

    #[test]
    fn deltas_of_each_state_change() {
        assert_eq!(QuotaDelta::upload_started(Some(40)), QuotaDelta { used: 0, reserved: 40, pending: 1 });
        assert_eq!(QuotaDelta::upload_started(None), QuotaDelta { used: 0, reserved: 0, pending: 1 });
        // A declared size turns from reservation into usage: nothing new to fit.
        assert_eq!(QuotaDelta::confirmed(Some(40), 40).committed(), 0);
        assert_eq!(QuotaDelta::confirmed(None, 40), QuotaDelta { used: 40, reserved: 0, pending: -1 });
        assert_eq!(QuotaDelta::rejected(Some(7)), QuotaDelta { used: 0, reserved: -7, pending: -1 });
        // An undeclared object reserves its size when it arrives; confirm then charges nothing new.
        assert_eq!(QuotaDelta::arrived(40), QuotaDelta { used: 0, reserved: 40, pending: 0 });
        assert_eq!(QuotaDelta::arrived(40).committed() + QuotaDelta::confirmed(Some(40), 40).committed(), 40);
    }

    fn document(status: DocumentStatus, declared: Option<u64>, size: Option<u64>) -> Document {
        let mut document =
            Document::pending(UserId::parse("u").unwrap(), "f.txt".into(), "text/plain".into(), declared, 0);
        document.status = status;
        document.size_bytes = size;
        document
    }

    #[test]
    fn removing_a_document_gives_back_what_it_holds() {
        let uploaded = document(DocumentStatus::Uploaded, Some(5), Some(5));
        assert_eq!(QuotaDelta::removed(&uploaded), QuotaDelta { used: -5, reserved: 0, pending: 0 });
        let pending = document(DocumentStatus::Pending, Some(9), None);
        assert_eq!(QuotaDelta::removed(&pending), QuotaDelta { used: 0, reserved: -9, pending: -1 });
        let arrived = Document { arrival_bytes: Some(4), ..document(DocumentStatus::Pending, None, None) };
        assert_eq!(QuotaDelta::removed(&arrived), QuotaDelta { used: 0, reserved: -4, pending: -1 });
        let rejected = document(DocumentStatus::Rejected, None, Some(500));
        assert!(QuotaDelta::removed(&rejected).is_zero(), "a rejected upload was never charged");
    }

    #[test]
    fn clamping_never_takes_a_counter_below_zero() {
        let before = QuotaCounters { used_bytes: 3, reserved_bytes: 0, pending_uploads: 1, own_limit_bytes: None };
        let delta = QuotaDelta { used: -10, reserved: -4, pending: -1 };
        assert_eq!(delta.clamped(&before), QuotaDelta { used: -3, reserved: 0, pending: -1 });
        let growth = QuotaDelta { used: 10, reserved: 0, pending: 1 };
        assert_eq!(growth.clamped(&before), growth, "increases are never clamped");
    }

    #[test]
    fn the_failed_part_of_a_quota_condition_is_named() {
        let before = QuotaCounters { used_bytes: 60, reserved_bytes: 20, pending_uploads: 3, own_limit_bytes: None };
        let start = QuotaDelta::upload_started(Some(10));
        assert_eq!(POLICY.diagnose(&before, &start, None), QuotaRefusal::TooManyPending { open: 3, max: 3 });
        let confirm = QuotaDelta::confirmed(None, 30);
        assert_eq!(POLICY.diagnose(&before, &confirm, Some(50)), QuotaRefusal::UsageMoved(before));
        assert_eq!(POLICY.diagnose(&before, &confirm, Some(60)), QuotaRefusal::OverQuota(before));
        let refund = QuotaDelta { used: -70, reserved: 0, pending: 0 };
        assert_eq!(POLICY.diagnose(&before, &refund, None), QuotaRefusal::Drift(before));
    }
}

//! The `QUOTA` item of a user and the quota rules, written once:
//!
//! * `used_bytes`: bytes of uploaded (confirmed) documents;
//! * `reserved_bytes`: sizes declared at upload-url by documents still pending;
//! * `pending_uploads`: how many documents are pending (capped per user);
//! * `limit_bytes`: the user's own limit, when set (else the deployment default applies);
//! * `committed_bytes` (= used + reserved) and `committed_minus_limit` (= committed - limit):
//!   derived counters kept in step by every write, because condition expressions cannot add two
//!   attributes or do arithmetic. "Does `growth` more fit" compares them with constants computed
//!   here: `committed_bytes <= default - growth` for users on the default,
//!   `committed_minus_limit <= -growth` for users with their own limit.
//!
//! Every change to the counters is a [`QuotaDelta`] applied in the same transaction as the
//! document's state change that causes it; deltas never take a counter below zero.

use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use super::expression::WithExpr;
use super::{get_n, key, n, user_pk, DocumentTable, Expr, Item, QUOTA_SK};
use crate::error::ApiError;
use crate::model::{Document, DocumentStatus, Quota, UserId};

/// The deployment's quota rules for every user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaPolicy {
    /// The limit of users without their own `limit_bytes`.
    pub default_limit_bytes: u64,
    /// At most this many pending uploads per user.
    pub max_pending_uploads: u64,
}

/// A user's counters as stored; absent attributes are zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaCounters {
    pub used_bytes: u64,
    pub reserved_bytes: u64,
    pub pending_uploads: u64,
    pub own_limit_bytes: Option<u64>,
}

impl QuotaCounters {
    pub(crate) fn from_item(item: Option<&Item>) -> Self {
        let number = |name| item.and_then(|i| get_n::<u64>(i, name));
        Self {
            used_bytes: number("used_bytes").unwrap_or(0),
            reserved_bytes: number("reserved_bytes").unwrap_or(0),
            pending_uploads: number("pending_uploads").unwrap_or(0),
            own_limit_bytes: number("limit_bytes"),
        }
    }

    /// Bytes that still fit: the limit less what is used and reserved.
    pub fn room(&self, policy: &QuotaPolicy) -> u64 {
        let limit = self.own_limit_bytes.unwrap_or(policy.default_limit_bytes);
        limit.saturating_sub(self.used_bytes + self.reserved_bytes)
    }

    pub fn view(&self, policy: &QuotaPolicy) -> Quota {
        Quota {
            used_bytes: self.used_bytes,
            limit_bytes: self.own_limit_bytes.unwrap_or(policy.default_limit_bytes),
            reserved_bytes: self.reserved_bytes,
        }
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

    /// confirm: the stored size is charged and the reservation becomes usage.
    pub fn confirmed(declared: Option<u64>, size: u64) -> Self {
        Self { used: size as i64, reserved: -(declared.unwrap_or(0) as i64), pending: -1 }
    }

    /// A pending upload refused (over quota): its reservation is released, nothing charged.
    pub fn rejected(declared: Option<u64>) -> Self {
        Self { used: 0, reserved: -(declared.unwrap_or(0) as i64), pending: -1 }
    }

    /// A document removed (deleted or cleaned up): what it holds is given back.
    pub fn removed(document: &Document) -> Self {
        match document.status {
            DocumentStatus::Uploaded => Self { used: -(document.size_bytes.unwrap_or(0) as i64), ..Self::default() },
            DocumentStatus::Pending => Self::rejected(document.declared_size_bytes),
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

/// Why the condition on the `QUOTA` item failed, decided from the item as it was.
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
    /// The condition "`growth` more committed bytes fit the user's limit".
    pub(crate) fn fits(&self, growth: u64) -> Expr {
        let own_limit = "attribute_exists(limit_bytes) AND committed_minus_limit <= :neg_growth";
        let expr = match self.default_limit_bytes.checked_sub(growth) {
            Some(max_committed) => Expr::condition(format!(
                "(attribute_not_exists(limit_bytes) AND (attribute_not_exists(committed_bytes) \
                 OR committed_bytes <= :max_committed)) OR ({own_limit})"
            ))
            .value(":max_committed", n(max_committed)),
            // Larger than the default limit: only a user's own limit could admit it.
            None => Expr::condition(own_limit),
        };
        expr.value(":neg_growth", n(-(growth as i128)))
    }

    /// The guarded update applying `delta`: growth must fit, a new pending upload must stay
    /// under the cap, decreases must not go below zero, and with `expected_used` the write
    /// happens only if `used_bytes` is still that value (so the caller knows the usage after it).
    pub(crate) fn guarded_update(&self, delta: &QuotaDelta, expected_used: Option<u64>) -> Expr {
        let mut expr = Expr::default();
        let mut set = Vec::new();
        for (attribute, placeholder, change) in [
            ("used_bytes", ":d_used", delta.used),
            ("reserved_bytes", ":d_reserved", delta.reserved),
            ("pending_uploads", ":d_pending", delta.pending),
            ("committed_bytes", ":d_committed", delta.committed()),
            ("committed_minus_limit", ":d_committed", delta.committed()),
        ] {
            if change == 0 {
                continue;
            }
            set.push(format!("{attribute} = if_not_exists({attribute}, :zero) + {placeholder}"));
            expr = expr.value(placeholder, n(change));
            if change < 0 && attribute != "committed_bytes" && attribute != "committed_minus_limit" {
                let floor = format!(":floor_{attribute}");
                expr = expr.and(Expr::condition(format!("{attribute} >= {floor}")).value(floor, n(-change)));
            }
        }
        if !set.is_empty() {
            expr = expr.and(Expr::update(format!("SET {}", set.join(", ")))).value(":zero", n(0));
        }
        if delta.committed() > 0 {
            expr = expr.and(self.fits(delta.committed() as u64));
        }
        if delta.pending > 0 {
            expr = expr.and(
                Expr::condition("attribute_not_exists(pending_uploads) OR pending_uploads < :max_pending")
                    .value(":max_pending", n(self.max_pending_uploads)),
            );
        }
        if let Some(expected) = expected_used {
            let condition = match expected {
                0 => "attribute_not_exists(used_bytes) OR used_bytes = :expected_used",
                _ => "used_bytes = :expected_used",
            };
            expr = expr.and(Expr::condition(condition).value(":expected_used", n(expected)));
        }
        expr
    }

    /// Which part of [`Self::guarded_update`]'s condition failed, given the item as it was. The
    /// cheap checks are decided here; what remains can only be the "fits" rule.
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

impl DocumentTable {
    /// The transaction item applying `delta` to `user`'s counters (see
    /// [`QuotaPolicy::guarded_update`]); on failure it returns the item as it was.
    pub(crate) fn quota_write(
        &self,
        user: &UserId,
        delta: &QuotaDelta,
        expected_used: Option<u64>,
    ) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), QUOTA_SK.to_owned())))
            .with(self.policy.guarded_update(delta, expected_used))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| ApiError::internal("building the quota update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub async fn get_quota_counters(&self, user: &UserId) -> Result<QuotaCounters, ApiError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), QUOTA_SK.to_owned())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| ApiError::internal("reading the quota", e))?;
        Ok(QuotaCounters::from_item(output.item()))
    }

    pub async fn get_quota(&self, user: &UserId) -> Result<Quota, ApiError> {
        Ok(self.get_quota_counters(user).await?.view(&self.policy))
    }

    /// Sets (or with `None` clears) a per-user limit, keeping `committed_minus_limit` in step.
    pub async fn set_user_limit(&self, user: &UserId, limit: Option<u64>) -> Result<(), ApiError> {
        let expr = match limit {
            Some(limit) => Expr::update(
                "SET limit_bytes = :limit, committed_minus_limit = if_not_exists(committed_bytes, :zero) - :limit",
            )
            .value(":limit", n(limit)),
            None => {
                Expr::update("SET committed_minus_limit = if_not_exists(committed_bytes, :zero) REMOVE limit_bytes")
            }
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), QUOTA_SK.to_owned())))
            .with(expr.value(":zero", n(0)))
            .send()
            .await
            .map(drop)
            .map_err(|e| ApiError::internal("setting the user's limit", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    const POLICY: QuotaPolicy = QuotaPolicy { default_limit_bytes: 100, max_pending_uploads: 3 };

    fn number(expr: &Expr, placeholder: &str) -> Option<String> {
        expr.value_of(placeholder).and_then(|v| v.as_n().ok().cloned())
    }

    #[test]
    fn fits_under_the_default_compares_both_limits() {
        let fits = POLICY.fits(30);
        let text = fits.condition_text().unwrap();
        assert!(
            text.contains("committed_bytes <= :max_committed") && text.contains("committed_minus_limit <= :neg_growth")
        );
        assert_eq!(number(&fits, ":max_committed").as_deref(), Some("70"));
        assert_eq!(number(&fits, ":neg_growth").as_deref(), Some("-30"));
    }

    #[test]
    fn fits_above_the_default_only_under_an_own_limit() {
        let fits = POLICY.fits(101);
        assert_eq!(
            fits.condition_text(),
            Some("attribute_exists(limit_bytes) AND committed_minus_limit <= :neg_growth")
        );
        assert_eq!(number(&fits, ":max_committed"), None);
        // Exactly the default still fits an empty quota.
        assert_eq!(number(&POLICY.fits(100), ":max_committed").as_deref(), Some("0"));
    }

    #[test]
    fn room_is_what_neither_usage_nor_reservations_hold() {
        let counters = QuotaCounters { used_bytes: 60, reserved_bytes: 30, pending_uploads: 1, own_limit_bytes: None };
        assert_eq!(counters.room(&POLICY), 10);
        assert_eq!(QuotaCounters { own_limit_bytes: Some(50), ..counters }.room(&POLICY), 0, "never negative");
    }

    #[test]
    fn deltas_of_each_state_change() {
        assert_eq!(QuotaDelta::upload_started(Some(40)), QuotaDelta { used: 0, reserved: 40, pending: 1 });
        assert_eq!(QuotaDelta::upload_started(None), QuotaDelta { used: 0, reserved: 0, pending: 1 });
        // A declared size turns from reservation into usage: nothing new to fit.
        assert_eq!(QuotaDelta::confirmed(Some(40), 40).committed(), 0);
        assert_eq!(QuotaDelta::confirmed(None, 40), QuotaDelta { used: 40, reserved: 0, pending: -1 });
        assert_eq!(QuotaDelta::rejected(Some(7)), QuotaDelta { used: 0, reserved: -7, pending: -1 });
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

    #[test]
    fn guarded_updates_move_the_derived_counters_with_the_others() {
        let expr = POLICY.guarded_update(&QuotaDelta::confirmed(Some(10), 25), Some(0));
        let update = expr.update_text().unwrap();
        for attribute in ["used_bytes", "reserved_bytes", "pending_uploads", "committed_bytes", "committed_minus_limit"]
        {
            assert!(update.contains(&format!("{attribute} = if_not_exists({attribute}, :zero)")), "{update}");
        }
        assert_eq!(number(&expr, ":d_committed").as_deref(), Some("15"));
        let condition = expr.condition_text().unwrap();
        assert!(condition.contains("reserved_bytes >= :floor_reserved_bytes"), "{condition}");
        assert!(condition.contains("pending_uploads >= :floor_pending_uploads"), "{condition}");
        assert!(condition.contains("committed_bytes <= :max_committed"), "growth of 15 must fit: {condition}");
        assert!(condition.contains("attribute_not_exists(used_bytes) OR used_bytes = :expected_used"), "{condition}");
        assert_eq!(expr.value_of(":zero"), Some(&AttributeValue::N("0".into())));
        // Turning a reservation into usage needs no room.
        let exact = POLICY.guarded_update(&QuotaDelta::confirmed(Some(10), 10), None);
        assert!(!exact.condition_text().unwrap().contains("max_committed"));
    }
}

//! The `QUOTA` item of a user: the domain's counters (`domain::quota`) as attributes, and the
//! guarded update that applies a [`QuotaDelta`] in the same transaction as the document's state
//! change that causes it (or, for confirm's charge, alone: `charges`).
//!
//! Condition expressions cannot add two attributes or do arithmetic, so the item also keeps
//! derived counters in step with every write: `committed_bytes` (= used + reserved) and
//! `committed_minus_limit` (= committed - limit). "Does `growth` more fit" compares them with
//! constants computed here: `committed_bytes <= default - growth` for users on the default,
//! `committed_minus_limit <= -growth` for users with their own limit.

use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use super::charges::{listing_change, Listing};
use super::expression::WithExpr;
use super::{get_n, key, n, user_pk, DocumentTable, Expr, Item, TableError, QUOTA_SK};
use crate::domain::{Quota, QuotaCounters, QuotaDelta, QuotaPolicy, UserId};

/// The counters of a `QUOTA` item (absent item or attributes: zero).
pub(super) fn counters_from_item(item: Option<&Item>) -> QuotaCounters {
    let number = |name| item.and_then(|i| get_n::<u64>(i, name));
    QuotaCounters {
        used_bytes: number("used_bytes").unwrap_or(0),
        reserved_bytes: number("reserved_bytes").unwrap_or(0),
        pending_uploads: number("pending_uploads").unwrap_or(0),
        own_limit_bytes: number("limit_bytes"),
    }
}

/// The condition "`growth` more committed bytes fit the user's limit" under `policy`.
fn fits(policy: &QuotaPolicy, growth: u64) -> Expr {
    let own_limit = "attribute_exists(limit_bytes) AND committed_minus_limit <= :neg_growth";
    let expr = match policy.default_limit_bytes.checked_sub(growth) {
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

/// The guarded update applying `delta` (with `extra_set`, more `SET` clauses of the same write):
/// growth must fit, a new pending upload must stay under the cap, decreases must not go below
/// zero, and with `expected_used` the write happens only if `used_bytes` is still that value (so
/// the caller knows the usage after it). When it fails, `QuotaPolicy::diagnose` names the part
/// that did, from the item as it was.
pub(super) fn guarded_update(
    policy: &QuotaPolicy,
    delta: &QuotaDelta,
    expected_used: Option<u64>,
    extra_set: &[&str],
) -> Expr {
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
    set.extend(extra_set.iter().map(|clause| clause.to_string()));
    if !set.is_empty() {
        expr = expr.and(Expr::update(format!("SET {}", set.join(", ")))).value(":zero", n(0));
    }
    if delta.committed() > 0 {
        expr = expr.and(fits(policy, delta.committed() as u64));
    }
    if delta.pending > 0 {
        expr = expr.and(
            Expr::condition("attribute_not_exists(pending_uploads) OR pending_uploads < :max_pending")
                .value(":max_pending", n(policy.max_pending_uploads)),
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

impl DocumentTable {
    /// The transaction item applying `delta` to `user`'s counters (see [`guarded_update`]) and
    /// `listing` to the list of pending documents (`charges`). On failure it returns the item as
    /// it was.
    pub(super) fn quota_write(
        &self,
        user: &UserId,
        delta: &QuotaDelta,
        expected_used: Option<u64>,
        listing: Option<Listing>,
    ) -> Result<TransactWriteItem, TableError> {
        let mut expr = guarded_update(&self.policy, delta, expected_used, &[]);
        if let Some(listing) = listing {
            expr = expr.and(listing_change(listing));
        }
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), QUOTA_SK.to_owned())))
            .with(expr)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| TableError::new("building the quota update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub async fn get_quota_counters(&self, user: &UserId) -> Result<QuotaCounters, TableError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), QUOTA_SK.to_owned())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| TableError::new("reading the quota", e))?;
        Ok(counters_from_item(output.item()))
    }

    pub async fn get_quota(&self, user: &UserId) -> Result<Quota, TableError> {
        Ok(self.get_quota_counters(user).await?.view(&self.policy))
    }

    /// Sets (or with `None` clears) a per-user limit, keeping `committed_minus_limit` in step.
    pub async fn set_user_limit(&self, user: &UserId, limit: Option<u64>) -> Result<(), TableError> {
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
            .map_err(|e| TableError::new("setting the user's limit", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    const POLICY: QuotaPolicy = QuotaPolicy { default_limit_bytes: 100, max_pending_uploads: 3, max_topics: 5 };

    fn number(expr: &Expr, placeholder: &str) -> Option<String> {
        expr.value_of(placeholder).and_then(|v| v.as_n().ok().cloned())
    }

    #[test]
    fn fits_under_the_default_compares_both_limits() {
        let condition = fits(&POLICY, 30);
        let text = condition.condition_text().unwrap();
        assert!(
            text.contains("committed_bytes <= :max_committed") && text.contains("committed_minus_limit <= :neg_growth")
        );
        assert_eq!(number(&condition, ":max_committed").as_deref(), Some("70"));
        assert_eq!(number(&condition, ":neg_growth").as_deref(), Some("-30"));
    }

    #[test]
    fn fits_above_the_default_only_under_an_own_limit() {
        let condition = fits(&POLICY, 101);
        assert_eq!(
            condition.condition_text(),
            Some("attribute_exists(limit_bytes) AND committed_minus_limit <= :neg_growth")
        );
        assert_eq!(number(&condition, ":max_committed"), None);
        // Exactly the default still fits an empty quota.
        assert_eq!(number(&fits(&POLICY, 100), ":max_committed").as_deref(), Some("0"));
    }

    #[test]
    fn guarded_updates_move_the_derived_counters_with_the_others() {
        let expr = guarded_update(&POLICY, &QuotaDelta::confirmed(Some(10), 25), Some(0), &[]);
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
        let exact = guarded_update(&POLICY, &QuotaDelta::confirmed(Some(10), 10), None, &[]);
        assert!(!exact.condition_text().unwrap().contains("max_committed"));
    }
}

//! Confirm's charge in two steps (`domain::charge`), as items.
//!
//! The owner's `QUOTA` item lists the documents it counts as pending and uncharged
//! (`pending_ids`, a binary set of 16-byte ids, at most `MAX_PENDING_UPLOADS` of them; the
//! document says `listed`): upload-url's transaction adds the new document's id, and every
//! transition that moves a document out of pending deletes it in the same transaction, on the
//! condition that it is still there. The charge is one `UpdateItem` of the `QUOTA` item on that
//! same condition: it moves the counters and deletes the id. So a document is charged at most
//! once, however often it is confirmed; and a transition from pending whose condition finds a
//! listed document delisted has found a charge to settle first.
//!
//! Write units: the charge and the document's update are one each while the items stay under
//! 1 KB (a user with about 50 pending uploads or more pays 2 per write of the `QUOTA` item), and
//! the settle removes the document's entry from the pending index (one more): 3, against 5 for
//! the transaction of both items (transactions bill each item twice), as `make bench` measures.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::documents::uploaded;
use super::expression::WithExpr;
use super::quota::{counters_from_item, guarded_update};
use super::{doc_sk, get_n, key, n, status_in, user_pk, DocumentTable, Expr, Item, TableError, QUOTA_SK};
use crate::domain::{DocumentId, DocumentStatus, PendingCharge, QuotaRefusal, UserId};
use crate::invocation::Invocation;

/// What a charge found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charge {
    /// Charged (now, or by a resend of this charge whose reply was lost): the usage right after
    /// it. Settle it next.
    Charged { used_bytes: u64 },
    /// The counters do not list the document as pending: it was charged (settled or not),
    /// rejected or removed since it was read. Nothing written.
    NotListed,
    /// The counters refused it (as `QuotaPolicy::diagnose` names it). Nothing written.
    Refused(QuotaRefusal),
}

/// How a write of the `QUOTA` item changes the list of pending documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Listing {
    /// A new pending document (upload-url).
    Add(DocumentId),
    /// The document leaves pending: delisted, on the condition that it is listed (else a
    /// confirm charged it and did not settle it).
    Remove(DocumentId),
}

const PENDING_IDS: &str = "pending_ids";

fn id_bytes(document: DocumentId) -> Blob {
    Blob::new(document.0.as_bytes().to_vec())
}

/// The update and condition of `listing`, joined to a `QUOTA` item's write.
pub(super) fn listing_change(listing: Listing) -> Expr {
    match listing {
        Listing::Add(document) => Expr::update(format!("ADD {PENDING_IDS} :listed_ids"))
            .value(":listed_ids", AttributeValue::Bs(vec![id_bytes(document)])),
        Listing::Remove(document) => Expr::update(format!("DELETE {PENDING_IDS} :listed_ids"))
            .value(":listed_ids", AttributeValue::Bs(vec![id_bytes(document)]))
            .and(is_listed_condition(document)),
    }
}

fn is_listed_condition(document: DocumentId) -> Expr {
    Expr::condition(format!("contains({PENDING_IDS}, :listed_id)"))
        .value(":listed_id", AttributeValue::B(id_bytes(document)))
}

/// Whether a `QUOTA` item lists `document` as pending.
pub(super) fn is_listed(quota: Option<&Item>, document: DocumentId) -> bool {
    let id = id_bytes(document);
    quota.and_then(|q| q.get(PENDING_IDS)).and_then(|ids| ids.as_bs().ok()).is_some_and(|ids| ids.contains(&id))
}

impl DocumentTable {
    /// Step 1: moves `owner`'s counters by the charge's delta (no counter below zero) and
    /// delists the document, if it is listed.
    pub async fn charge(
        &self,
        invocation: &Invocation,
        owner: &UserId,
        charge: &PendingCharge,
    ) -> Result<Charge, TableError> {
        let delta = charge.delta();
        // The last charge and the usage right after it, so that a resend of a charge whose reply
        // was lost (it finds the document delisted) still answers that usage exactly, unless
        // another charge of the user came in between.
        let last = ["last_charge = :last_charge", "last_charge_used = if_not_exists(used_bytes, :zero) + :charged"];
        let expr = guarded_update(&self.policy, &delta, None, &last)
            .and(listing_change(Listing::Remove(charge.document)))
            .value(":last_charge", AttributeValue::B(id_bytes(charge.document)))
            .value(":charged", n(delta.used))
            .value(":zero", n(0));
        let written = self
            .write_single(invocation, "charging a confirmed upload", || {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(user_pk(owner), QUOTA_SK.to_owned())))
                    .with(expr.clone())
                    .return_values(ReturnValue::AllNew)
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                    .send()
            })
            .await?;
        match written {
            Ok(output) => Ok(Charge::Charged { used_bytes: counters_from_item(output.attributes()).used_bytes }),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let before = failed.item();
                    let last_charge = before.and_then(|item| item.get("last_charge")).and_then(|v| v.as_b().ok());
                    Ok(match is_listed(before, charge.document) {
                        false if last_charge == Some(&id_bytes(charge.document)) => Charge::Charged {
                            used_bytes: before.and_then(|item| get_n(item, "last_charge_used")).unwrap_or_default(),
                        },
                        false => Charge::NotListed,
                        true => Charge::Refused(self.policy.diagnose(&counters_from_item(before), &delta, None)),
                    })
                }
                other => Err(TableError::new("charging a confirmed upload", other)),
            },
        }
    }

    /// Step 2: moves the charged document from pending to uploaded. `false` when it was not
    /// pending any more (a concurrent settle of the same charge did it). Safe to run more than
    /// once, and by anyone who finds the charge unsettled.
    pub async fn settle(
        &self,
        invocation: &Invocation,
        owner: &UserId,
        charge: &PendingCharge,
    ) -> Result<bool, TableError> {
        // The document's own checksum stays: documents whose checksum only storage knows are
        // never charged in two steps (`PendingCharge::confirming`).
        let expr = status_in(&[DocumentStatus::Pending]).and(uploaded(charge.size_bytes, charge.uploaded_at, None));
        let written = self
            .write_single(invocation, "settling a confirmed upload", || {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(user_pk(owner), doc_sk(charge.document))))
                    .with(expr.clone())
                    .send()
            })
            .await?;
        match written {
            Ok(_) => Ok(true),
            Err(error)
                if error.as_service_error().is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
            {
                Ok(false)
            }
            Err(error) => Err(TableError::new("settling a confirmed upload", error)),
        }
    }
}

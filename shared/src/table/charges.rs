//! Confirm's charge in two steps (`domain::charge`), as items.
//!
//! The owner's `QUOTA` item lists the documents it counts as pending and uncharged
//! (`pending_ids`, a binary set of 16-byte ids, at most `MAX_PENDING_UPLOADS` of them):
//! upload-url's transaction adds the new document's id, and every transition that moves a
//! document out of pending deletes it in the same transaction. The charge is one `UpdateItem` of
//! the `QUOTA` item on the condition that the id is still there; it moves the counters, deletes
//! the id and records the charge in an attribute of its own (`charge_<document id>`, a map of
//! what settling writes). So a document is charged at most once, whoever confirms it how often,
//! and the record is there exactly while the charge is unsettled. The document, once settled,
//! names the charge (`charge_id`).
//!
//! Write units: the charge, the document's update and the record's removal are one each while
//! the items stay under 1 KB (a user with about 50 pending uploads or more pays 2 per write of
//! the `QUOTA` item): 3, against 5 for the transaction of both items (transactions bill each
//! item twice).

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::expression::WithExpr;
use super::quota::{counter_changes, counters_from_item, guarded_update};
use super::{doc_sk, get_n, get_s, key, n, s, user_pk, DocumentTable, Expr, Item, TableError, QUOTA_SK};
use crate::domain::{ChargeFate, DocumentId, DocumentStatus, PendingCharge, QuotaRefusal, UserId};

/// What a charge found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charge {
    /// Charged and recorded: the usage right after it. Settle it next.
    Charged { used_bytes: u64 },
    /// A charge of this document is recorded already (an earlier attempt, or a concurrent
    /// confirm): nothing written. Settle that one.
    Recorded(PendingCharge),
    /// The counters do not list the document as pending: it was charged and settled, rejected
    /// or removed since it was read, or it was created before the list existed. Nothing written;
    /// the one-transaction confirm decides from the document as it is.
    NotListed,
    /// The counters refused it (as `QuotaPolicy::diagnose` names it). Nothing written.
    Refused(QuotaRefusal),
}

/// How a write of the `QUOTA` item changes the list of pending documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Listing {
    /// A new pending document (upload-url).
    Add(DocumentId),
    /// The document leaves pending: delisted, and only while no charge of it is recorded (one
    /// that is must be settled first).
    Remove(DocumentId),
}

const PENDING_IDS: &str = "pending_ids";

fn id_bytes(document: DocumentId) -> Blob {
    Blob::new(document.0.as_bytes().to_vec())
}

/// The update (and condition) of `listing`, joined to a `QUOTA` item's write.
pub(super) fn listing_change(listing: Listing) -> Expr {
    match listing {
        Listing::Add(document) => Expr::update(format!("ADD {PENDING_IDS} :listed"))
            .value(":listed", AttributeValue::Bs(vec![id_bytes(document)])),
        Listing::Remove(document) => Expr::update(format!("DELETE {PENDING_IDS} :listed"))
            .value(":listed", AttributeValue::Bs(vec![id_bytes(document)]))
            .and(no_charge_recorded(document)),
    }
}

fn is_listed(quota: &Item, document: DocumentId) -> bool {
    let id = id_bytes(document);
    quota.get(PENDING_IDS).and_then(|ids| ids.as_bs().ok()).is_some_and(|ids| ids.contains(&id))
}

fn record_name(document: DocumentId) -> String {
    format!("charge_{document}")
}

/// The condition "no charge of `document` is recorded" on the `QUOTA` item.
fn no_charge_recorded(document: DocumentId) -> Expr {
    Expr::condition("attribute_not_exists(#unsettled)").name("#unsettled", &record_name(document))
}

fn record_value(charge: &PendingCharge) -> AttributeValue {
    let mut fields = std::collections::HashMap::from([
        ("id".to_owned(), s(&charge.charge_id)),
        ("size".to_owned(), n(charge.size_bytes)),
        ("reserved".to_owned(), n(charge.reserved_bytes)),
        ("at".to_owned(), n(charge.uploaded_at)),
    ]);
    if let Some(checksum) = &charge.checksum_sha256 {
        fields.insert("checksum".to_owned(), s(checksum));
    }
    AttributeValue::M(fields)
}

/// The charge of `document` recorded on a `QUOTA` item, if any.
pub(super) fn recorded_charge(quota: &Item, document: DocumentId) -> Option<PendingCharge> {
    let fields = quota.get(&record_name(document))?.as_m().ok()?;
    Some(PendingCharge {
        document,
        charge_id: get_s(fields, "id")?.to_owned(),
        size_bytes: get_n(fields, "size")?,
        reserved_bytes: get_n(fields, "reserved")?,
        uploaded_at: get_n(fields, "at")?,
        checksum_sha256: get_s(fields, "checksum").map(str::to_owned),
    })
}

impl DocumentTable {
    /// Step 1: moves `owner`'s counters by the charge's delta (it must fit, no counter below
    /// zero), delists the document and records the charge, if the document is listed as pending.
    pub async fn charge(&self, owner: &UserId, charge: &PendingCharge) -> Result<Charge, TableError> {
        let delta = charge.delta();
        let expr = guarded_update(&self.policy, &delta, None, &["#record = :record"])
            .and(
                Expr::condition(format!("contains({PENDING_IDS}, :id)"))
                    .value(":id", AttributeValue::B(id_bytes(charge.document))),
            )
            .and(Expr::update(format!("DELETE {PENDING_IDS} :ids")))
            .value(":ids", AttributeValue::Bs(vec![id_bytes(charge.document)]))
            .name("#record", &record_name(charge.document))
            .value(":record", record_value(charge));
        let written = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(owner), QUOTA_SK.to_owned())))
            .with(expr)
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match written {
            Ok(output) => Ok(Charge::Charged { used_bytes: counters_from_item(output.attributes()).used_bytes }),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let before = failed.item();
                    Ok(match before.and_then(|item| recorded_charge(item, charge.document)) {
                        Some(recorded) => Charge::Recorded(recorded),
                        None if !before.is_some_and(|item| is_listed(item, charge.document)) => Charge::NotListed,
                        None => Charge::Refused(self.policy.diagnose(&counters_from_item(before), &delta, None)),
                    })
                }
                other => Err(TableError::new("charging a confirmed upload", other)),
            },
        }
    }

    /// Step 2: moves the document from pending to uploaded with `charge` (or, if another request
    /// settled, deleted or rejected it meanwhile, gives the charge back), then drops the record.
    /// Safe to run more than once, and by anyone who finds the record.
    pub async fn settle(&self, owner: &UserId, charge: &PendingCharge) -> Result<ChargeFate, TableError> {
        let (set_checksum, checksum) = match &charge.checksum_sha256 {
            Some(checksum) => (", checksum_sha256 = :checksum", Expr::default().value(":checksum", s(checksum))),
            None => ("", Expr::default()),
        };
        let expr = Expr::condition("#status = :pending")
            .name("#status", "status")
            .value(":pending", s(DocumentStatus::Pending.as_str()))
            .and(checksum)
            .and(
                Expr::update(format!(
                    "SET #status = :uploaded, size_bytes = :size, uploaded_at = :at, charge_id = :charge{set_checksum} \
                     REMOVE pending_shard, pending_since"
                ))
                .value(":uploaded", s(DocumentStatus::Uploaded.as_str()))
                .value(":size", n(charge.size_bytes))
                .value(":at", n(charge.uploaded_at))
                .value(":charge", s(&charge.charge_id)),
            );
        let written = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(owner), doc_sk(charge.document))))
            .with(expr)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let fate = match written {
            Ok(_) => ChargeFate::Settle,
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let found = failed.item().map(|item| {
                        let status = get_s(item, "status").and_then(DocumentStatus::parse);
                        (status.unwrap_or(DocumentStatus::Rejected), get_s(item, "charge_id"))
                    });
                    charge.fate(found)
                }
                other => return Err(TableError::new("settling a confirmed upload", other)),
            },
        };
        // Dropping the record (and with `Undo`, giving the charge back) happens once: only while
        // this very charge is recorded.
        let (mut set, mut expr) = match fate {
            ChargeFate::Undo => counter_changes(&charge.undo_delta()),
            ChargeFate::Settle | ChargeFate::Settled => (Vec::new(), Expr::default()),
        };
        if fate == ChargeFate::Undo {
            tracing::warn!(user = owner.as_str(), document = %charge.document, "a charge of a document settled otherwise is given back");
        }
        let mut update = String::new();
        if !set.is_empty() {
            update = format!("SET {} ", std::mem::take(&mut set).join(", "));
        }
        update.push_str("REMOVE #record");
        expr = expr
            .and(Expr::condition("#record.id = :charge_id").value(":charge_id", s(&charge.charge_id)))
            .and(Expr::update(update))
            .name("#record", &record_name(charge.document));
        let dropped = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(owner), QUOTA_SK.to_owned())))
            .with(expr)
            .send()
            .await;
        match dropped {
            Ok(_) => Ok(fate),
            // Dropped already, by a concurrent settle of the same record.
            Err(error)
                if error.as_service_error().is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
            {
                Ok(fate)
            }
            Err(error) => Err(TableError::new("dropping a settled charge", error)),
        }
    }
}

//! The DynamoDB adapter. One table holds, per user (partition `USER#<sub>`):
//!
//! * `QUOTA`: `used_bytes`, an optional per-user `limit_bytes`, and `used_minus_limit`
//!   (`used_bytes - limit_bytes`, kept in step by every write). Condition expressions cannot do
//!   arithmetic, so the "does it fit" check compares stored values against constants computed
//!   here: `used_bytes <= default_limit - size` without an override, `used_minus_limit <= -size`
//!   with one. Every charge and refund adds the same delta to both counters in one write.
//! * `DOC#<uuid v7>`: one document. The id is time-ordered, so a reverse Query lists newest first.
//! * `REMOVAL#<uuid>`: an object that must be removed (the document is gone). Written in the
//!   same transaction that removes the document, so an object never loses its last owner row.
//!
//! Pending and rejected documents and removals carry `pending_shard`/`pending_since`, the keys of
//! the sparse `PendingByAge` index that clean-up queries. Spreading them over
//! [`PENDING_SHARDS`] partitions keeps the index free of one hot partition at scale.

use std::collections::HashMap;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;

use crate::error::{ApiError, QuotaExceeded};
use crate::model::{
    Classification, ClassificationStatus, Document, DocumentId, DocumentStatus, Quota, TopicId, UserId,
};

mod topics;
pub use topics::RecordOutcome;

pub const PENDING_INDEX: &str = "PendingByAge";
pub const PENDING_SHARDS: u8 = 16;
const QUOTA_SK: &str = "QUOTA";
const DOC_PREFIX: &str = "DOC#";
const REMOVAL_PREFIX: &str = "REMOVAL#";

pub type Item = HashMap<String, AttributeValue>;

/// What confirm's single write decided.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// Charged now.
    Confirmed,
    /// Charged by an earlier confirm (a retry): nothing charged now.
    AlreadyUploaded { size_bytes: u64 },
    /// Rejected earlier for not fitting; it can never be confirmed.
    AlreadyRejected { rejected_bytes: u64 },
    /// No such document for this user (never existed, deleted, or cleaned up).
    NotFound,
    /// Did not fit; nothing charged.
    OverQuota(QuotaExceeded),
}

/// A page of a user's documents, newest first.
#[derive(Debug)]
pub struct DocumentPage {
    pub documents: Vec<Document>,
    /// The id of the last document returned when more may follow.
    pub next: Option<DocumentId>,
}

/// One entry of the pending index: a document or a removal to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingEntry {
    Document { owner: UserId, id: DocumentId },
    Removal { owner: UserId, id: DocumentId },
}

/// A page of the pending index in one shard.
#[derive(Debug)]
pub struct PendingPage {
    pub entries: Vec<PendingEntry>,
    /// Where the next page starts; `None` at the end of the shard.
    pub next: Option<Item>,
}

#[derive(Clone, Debug)]
pub struct DocumentTable {
    client: Client,
    table: String,
    default_quota_bytes: u64,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn user_pk(user: &UserId) -> String {
    format!("USER#{}", user.as_str())
}

pub(crate) fn doc_sk(id: DocumentId) -> String {
    format!("{DOC_PREFIX}{id}")
}

fn removal_sk(id: DocumentId) -> String {
    format!("{REMOVAL_PREFIX}{id}")
}

/// The index partition of a document: its last (random) byte picks the shard.
pub fn pending_shard(id: DocumentId) -> String {
    format!("PENDING#{:02}", id.0.as_bytes()[15] % PENDING_SHARDS)
}

pub fn all_pending_shards() -> impl Iterator<Item = String> {
    (0..PENDING_SHARDS).map(|shard| format!("PENDING#{shard:02}"))
}

fn key(pk: String, sk: String) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn parse_document(item: &Item) -> Option<Document> {
    let owner = UserId::parse(get_s(item, "pk")?.strip_prefix("USER#")?).ok()?;
    let id = DocumentId::parse(get_s(item, "sk")?.strip_prefix(DOC_PREFIX)?).ok()?;
    Some(Document {
        id,
        owner,
        filename: get_s(item, "filename")?.to_owned(),
        content_type: get_s(item, "content_type")?.to_owned(),
        status: DocumentStatus::parse(get_s(item, "status")?)?,
        declared_size_bytes: get_n(item, "declared_size_bytes"),
        size_bytes: get_n(item, "size_bytes"),
        created_at: get_n(item, "created_at")?,
        uploaded_at: get_n(item, "uploaded_at"),
        classification: Classification {
            status: get_s(item, "classification_status")
                .and_then(ClassificationStatus::parse)
                .unwrap_or(ClassificationStatus::Pending),
            topic_id: get_s(item, "topic_id").and_then(|t| TopicId::parse(t).ok()),
            confidence: get_n(item, "confidence"),
            excerpt: get_s(item, "excerpt").map(str::to_owned),
            reason: get_s(item, "classification_reason").map(str::to_owned),
        },
    })
}

fn parse_pending_key(item: &Item) -> Option<PendingEntry> {
    let owner = UserId::parse(get_s(item, "pk")?.strip_prefix("USER#")?).ok()?;
    let sk = get_s(item, "sk")?;
    if let Some(id) = sk.strip_prefix(DOC_PREFIX) {
        Some(PendingEntry::Document { owner, id: DocumentId::parse(id).ok()? })
    } else {
        let id = sk.strip_prefix(REMOVAL_PREFIX)?;
        Some(PendingEntry::Removal { owner, id: DocumentId::parse(id).ok()? })
    }
}

/// The reasons of a cancelled transaction, or the error itself when it is something else.
#[allow(clippy::result_large_err)] // the error is the SDK's own, handed straight back
fn cancellation_reasons(
    error: SdkError<TransactWriteItemsError>,
) -> Result<Vec<CancellationReason>, SdkError<TransactWriteItemsError>> {
    match error {
        SdkError::ServiceError(service) => match service.err() {
            TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                Ok(cancelled.cancellation_reasons().to_vec())
            }
            _ => Err(SdkError::ServiceError(service)),
        },
        other => Err(other),
    }
}

/// `Some(output)` when a conditional write happened, `None` when its condition failed; any other
/// error is a backend failure described by `context`.
fn unless_condition_failed<T, E>(
    result: Result<T, SdkError<E, HttpResponse>>,
    context: &'static str,
) -> Result<Option<T>, ApiError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(None),
        Err(e) => Err(ApiError::internal(context, e)),
    }
}

fn failed_condition(reason: Option<&CancellationReason>) -> bool {
    reason.and_then(CancellationReason::code) == Some("ConditionalCheckFailed")
}

/// The quota expression pieces for "`size` more bytes fit".
struct FitsCondition {
    expression: String,
    values: Vec<(&'static str, AttributeValue)>,
}

impl DocumentTable {
    pub fn new(client: Client, table: impl Into<String>, default_quota_bytes: u64) -> Self {
        Self { client, table: table.into(), default_quota_bytes }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A cheap call whose only purpose is to open a connection (see `App::warm_connections`).
    pub(crate) async fn warm_up(&self) {
        let _ = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key("WARM-UP".into(), "WARM-UP".into())))
            .send()
            .await;
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    fn quota_from_item(&self, item: Option<&Item>) -> Quota {
        Quota {
            used_bytes: item.and_then(|i| get_n(i, "used_bytes")).unwrap_or(0),
            limit_bytes: item.and_then(|i| get_n(i, "limit_bytes")).unwrap_or(self.default_quota_bytes),
        }
    }

    /// The 413 body from the quota item a failed "fits" condition returned.
    fn exceeded(&self, reason: &CancellationReason, size: u64) -> QuotaExceeded {
        let quota = self.quota_from_item(reason.item());
        QuotaExceeded { used_bytes: quota.used_bytes, limit_bytes: quota.limit_bytes, rejected_bytes: size }
    }

    fn fits(&self, size: u64) -> FitsCondition {
        let with_override = "(attribute_exists(limit_bytes) AND used_minus_limit <= :neg_size)";
        let mut values = vec![(":neg_size", n(-(size as i128)))];
        let expression = match self.default_quota_bytes.checked_sub(size) {
            Some(max_used) => {
                values.push((":max_used_default", n(max_used)));
                format!(
                    "(attribute_not_exists(limit_bytes) AND (attribute_not_exists(used_bytes) OR used_bytes <= :max_used_default)) OR {with_override}"
                )
            }
            // Larger than the default limit: only a per-user limit could admit it.
            None => with_override.to_owned(),
        };
        FitsCondition { expression, values }
    }

    /// Creates a pending document. With a declared size, the same transaction checks that it
    /// fits the remaining quota (without charging it), answering 413 at once if not.
    pub async fn create_document(&self, document: &Document) -> Result<(), ApiError> {
        let mut item = key(user_pk(&document.owner), doc_sk(document.id));
        item.extend([
            ("id".to_owned(), s(document.id.to_string())),
            ("filename".to_owned(), s(&document.filename)),
            ("content_type".to_owned(), s(&document.content_type)),
            ("status".to_owned(), s(DocumentStatus::Pending.as_str())),
            ("classification_status".to_owned(), s(ClassificationStatus::Pending.as_str())),
            ("created_at".to_owned(), n(document.created_at)),
            ("pending_shard".to_owned(), s(pending_shard(document.id))),
            ("pending_since".to_owned(), n(document.created_at)),
        ]);
        if let Some(size) = document.declared_size_bytes {
            item.insert("declared_size_bytes".to_owned(), n(size));
        }
        let Some(size) = document.declared_size_bytes else {
            return self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
                .map(drop)
                .map_err(|e| ApiError::internal("PutItem document failed", e));
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)");
        let fits = self.fits(size);
        let mut check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(&document.owner), QUOTA_SK.to_owned())))
            .condition_expression(fits.expression)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in fits.values {
            check = check.expression_attribute_values(name, value);
        }
        let result = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .put(put.build().map_err(|e| ApiError::internal("building Put", e))?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(check.build().map_err(|e| ApiError::internal("building ConditionCheck", e))?)
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => {
                let reasons =
                    cancellation_reasons(error).map_err(|e| ApiError::internal("creating document failed", e))?;
                if failed_condition(reasons.get(1)) {
                    return Err(ApiError::QuotaExceeded(self.exceeded(&reasons[1], size)));
                }
                Err(ApiError::internal("creating document was cancelled", format!("{reasons:?}")))
            }
        }
    }

    /// The single atomic write of confirm: moves the document from pending to uploaded and
    /// charges `size` to the quota, or changes nothing.
    pub async fn confirm_upload(
        &self,
        user: &UserId,
        id: DocumentId,
        size: u64,
        now: i64,
    ) -> Result<ConfirmOutcome, ApiError> {
        let mark_uploaded = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), doc_sk(id))))
            .condition_expression("#status = :pending")
            .update_expression(
                "SET #status = :uploaded, size_bytes = :size, uploaded_at = :now REMOVE pending_shard, pending_since",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(DocumentStatus::Pending.as_str()))
            .expression_attribute_values(":uploaded", s(DocumentStatus::Uploaded.as_str()))
            .expression_attribute_values(":size", n(size))
            .expression_attribute_values(":now", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| ApiError::internal("building Update", e))?;
        let fits = self.fits(size);
        let mut charge = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), QUOTA_SK.to_owned())))
            .condition_expression(fits.expression)
            .update_expression(
                "SET used_bytes = if_not_exists(used_bytes, :zero) + :size, \
                 used_minus_limit = if_not_exists(used_minus_limit, :zero) + :size",
            )
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":size", n(size))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in fits.values {
            charge = charge.expression_attribute_values(name, value);
        }
        let charge = charge.build().map_err(|e| ApiError::internal("building Update", e))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(mark_uploaded).build())
            .transact_items(TransactWriteItem::builder().update(charge).build())
            .send()
            .await;
        let reasons = match result {
            Ok(_) => return Ok(ConfirmOutcome::Confirmed),
            Err(error) => {
                cancellation_reasons(error).map_err(|e| ApiError::internal("confirm transaction failed", e))?
            }
        };
        // The document's state decides first: a retry of a finished confirm must not be
        // reported as over quota just because the quota filled up since.
        if failed_condition(reasons.first()) {
            let Some(document) = reasons[0].item().and_then(parse_document) else {
                return Ok(ConfirmOutcome::NotFound);
            };
            return Ok(match document.status {
                DocumentStatus::Uploaded => {
                    ConfirmOutcome::AlreadyUploaded { size_bytes: document.size_bytes.unwrap_or_default() }
                }
                DocumentStatus::Rejected => {
                    ConfirmOutcome::AlreadyRejected { rejected_bytes: document.size_bytes.unwrap_or_default() }
                }
                DocumentStatus::Pending => {
                    return Err(ApiError::internal(
                        "confirm condition failed on a pending document",
                        format!("{reasons:?}"),
                    ))
                }
            });
        }
        if failed_condition(reasons.get(1)) {
            return Ok(ConfirmOutcome::OverQuota(self.exceeded(&reasons[1], size)));
        }
        // Any other cancellation (e.g. a transaction conflict) is retryable by the client.
        Err(ApiError::internal("confirm transaction was cancelled", format!("{reasons:?}")))
    }

    /// Marks a pending document rejected (it did not fit). Stays in the pending index so that
    /// clean-up removes it, and its object if removing that failed here.
    /// Returns false when the document was no longer pending.
    pub async fn reject_upload(&self, user: &UserId, id: DocumentId, size: u64) -> Result<bool, ApiError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), doc_sk(id))))
            .condition_expression("#status = :pending")
            .update_expression("SET #status = :rejected, size_bytes = :size")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(DocumentStatus::Pending.as_str()))
            .expression_attribute_values(":rejected", s(DocumentStatus::Rejected.as_str()))
            .expression_attribute_values(":size", n(size))
            .send()
            .await;
        Ok(unless_condition_failed(result, "rejecting document failed")?.is_some())
    }

    pub async fn get_document(&self, user: &UserId, id: DocumentId) -> Result<Option<Document>, ApiError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), doc_sk(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| ApiError::internal("GetItem document failed", e))?;
        Ok(output.item().and_then(parse_document))
    }

    /// The user's documents, newest first, `limit` at most, after `after` (exclusive).
    pub async fn list_documents(
        &self,
        user: &UserId,
        limit: u32,
        after: Option<DocumentId>,
    ) -> Result<DocumentPage, ApiError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :doc)")
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":doc", s(DOC_PREFIX))
            .scan_index_forward(false)
            .limit(limit as i32);
        if let Some(after) = after {
            query = query.set_exclusive_start_key(Some(key(user_pk(user), doc_sk(after))));
        }
        let output = query.send().await.map_err(|e| ApiError::internal("Query documents failed", e))?;
        let documents: Vec<Document> = output.items().iter().filter_map(parse_document).collect();
        let next = output
            .last_evaluated_key()
            .and_then(|k| get_s(k, "sk")?.strip_prefix(DOC_PREFIX).map(DocumentId::parse))
            .and_then(Result::ok);
        Ok(DocumentPage { documents, next })
    }

    pub async fn get_quota(&self, user: &UserId) -> Result<Quota, ApiError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), QUOTA_SK.to_owned())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| ApiError::internal("GetItem quota failed", e))?;
        Ok(self.quota_from_item(output.item()))
    }

    /// Sets (or with `None` clears) a per-user limit, keeping `used_minus_limit` in step.
    pub async fn set_user_limit(&self, user: &UserId, limit: Option<u64>) -> Result<(), ApiError> {
        let update =
            self.client.update_item().table_name(&self.table).set_key(Some(key(user_pk(user), QUOTA_SK.to_owned())));
        let update = match limit {
            Some(limit) => update
                .update_expression(
                    "SET limit_bytes = :limit, used_minus_limit = if_not_exists(used_bytes, :zero) - :limit",
                )
                .expression_attribute_values(":limit", n(limit))
                .expression_attribute_values(":zero", n(0)),
            None => update
                .update_expression("SET used_minus_limit = if_not_exists(used_bytes, :zero) REMOVE limit_bytes")
                .expression_attribute_values(":zero", n(0)),
        };
        update.send().await.map(drop).map_err(|e| ApiError::internal("setting user limit failed", e))
    }

    /// Removes `document` as it was read, gives its bytes back if it was charged, and records
    /// its object for removal, all in one transaction. Returns false when the document changed
    /// or vanished since it was read (the caller re-reads).
    pub async fn delete_document(&self, document: &Document) -> Result<bool, ApiError> {
        let refund = match (document.status, document.size_bytes) {
            (DocumentStatus::Uploaded, Some(size)) => Some(size),
            _ => None,
        };
        let result = self.delete_transaction(document, refund, false).await?;
        let Some(reasons) = result else { return Ok(true) };
        if failed_condition(reasons.first()) {
            return Ok(false);
        }
        if failed_condition(reasons.get(1)) {
            // used_bytes is below the document's size: it drifted (only manual edits can do
            // that). Give back what is there, never going below zero.
            tracing::error!(user = document.owner.as_str(), id = %document.id, "quota below a document's size; clamping to zero");
            return Ok(self.delete_transaction(document, refund, true).await?.is_none());
        }
        Err(ApiError::internal("delete transaction was cancelled", format!("{reasons:?}")))
    }

    async fn delete_transaction(
        &self,
        document: &Document,
        refund: Option<u64>,
        clamp_to_zero: bool,
    ) -> Result<Option<Vec<CancellationReason>>, ApiError> {
        let pk = user_pk(&document.owner);
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), doc_sk(document.id))))
            .condition_expression("#status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(document.status.as_str()))
            .build()
            .map_err(|e| ApiError::internal("building Delete", e))?;
        let removal = self.removal_record(&pk, document.id)?;
        let mut transaction =
            self.client.transact_write_items().transact_items(TransactWriteItem::builder().delete(delete).build());
        if let Some(size) = refund {
            let update = Update::builder().table_name(&self.table).set_key(Some(key(pk, QUOTA_SK.to_owned())));
            let update = if clamp_to_zero {
                update
                    .condition_expression("used_bytes < :size")
                    .update_expression("SET used_minus_limit = used_minus_limit - used_bytes, used_bytes = :zero")
                    .expression_attribute_values(":zero", n(0))
            } else {
                update.condition_expression("used_bytes >= :size").update_expression(
                    "SET used_bytes = used_bytes - :size, used_minus_limit = used_minus_limit - :size",
                )
            }
            .expression_attribute_values(":size", n(size))
            .build()
            .map_err(|e| ApiError::internal("building Update", e))?;
            transaction = transaction.transact_items(TransactWriteItem::builder().update(update).build());
        }
        transaction = transaction.transact_items(TransactWriteItem::builder().put(removal).build());
        match transaction.send().await {
            Ok(_) => Ok(None),
            Err(error) => {
                cancellation_reasons(error).map(Some).map_err(|e| ApiError::internal("delete transaction failed", e))
            }
        }
    }

    /// The record that the object of `id` must be removed, written in the same transaction that
    /// removes the document's row. `pending_since` is zero: clean-up takes it at once, whatever
    /// the cut-off.
    fn removal_record(&self, pk: &str, id: DocumentId) -> Result<Put, ApiError> {
        let mut record = key(pk.to_owned(), removal_sk(id));
        record.extend([("pending_shard".to_owned(), s(pending_shard(id))), ("pending_since".to_owned(), n(0))]);
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(record))
            .build()
            .map_err(|e| ApiError::internal("building Put", e))
    }

    /// Settles an abandoned document (still pending, or rejected): removes its row and records
    /// its object for removal in one transaction. Returns false when the document is no longer
    /// abandoned (a confirm won) or already gone.
    pub async fn settle_abandoned(&self, user: &UserId, id: DocumentId) -> Result<bool, ApiError> {
        let pk = user_pk(user);
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), doc_sk(id))))
            .condition_expression("#status IN (:pending, :rejected)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(DocumentStatus::Pending.as_str()))
            .expression_attribute_values(":rejected", s(DocumentStatus::Rejected.as_str()))
            .build()
            .map_err(|e| ApiError::internal("building Delete", e))?;
        let removal = self.removal_record(&pk, id)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .transact_items(TransactWriteItem::builder().put(removal).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => {
                let reasons = cancellation_reasons(error)
                    .map_err(|e| ApiError::internal("settling abandoned upload failed", e))?;
                if failed_condition(reasons.first()) {
                    return Ok(false);
                }
                Err(ApiError::internal("settling abandoned upload was cancelled", format!("{reasons:?}")))
            }
        }
    }

    /// Forgets a removal once its object is gone. Returns false when another run already did,
    /// so each removal is reported once.
    pub async fn finish_removal(&self, user: &UserId, id: DocumentId) -> Result<bool, ApiError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), removal_sk(id))))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        Ok(unless_condition_failed(result, "DeleteItem removal failed")?.is_some())
    }

    /// One page of the pending index in `shard`: entries last touched before `before` (unix s).
    pub async fn pending_page(
        &self,
        shard: &str,
        before: i64,
        limit: i32,
        start: Option<Item>,
    ) -> Result<PendingPage, ApiError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(PENDING_INDEX)
            .key_condition_expression("pending_shard = :shard AND pending_since < :before")
            .expression_attribute_values(":shard", s(shard))
            .expression_attribute_values(":before", n(before))
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| ApiError::internal("Query pending index failed", e))?;
        Ok(PendingPage {
            entries: output.items().iter().filter_map(parse_pending_key).collect(),
            next: output.last_evaluated_key().cloned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_document_and_stay_in_range() {
        let all: Vec<String> = all_pending_shards().collect();
        assert_eq!(all.len(), PENDING_SHARDS as usize);
        for _ in 0..200 {
            assert!(all.contains(&pending_shard(DocumentId::new())));
        }
    }
}

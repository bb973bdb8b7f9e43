//! `DOC#<uuid v7>` items and the document state machine: `pending` (upload-url) → `uploaded`
//! (confirm) or `rejected` (did not fit); any of them → removed (delete, clean-up). Every
//! transition is one transaction with its [`QuotaDelta`] on the owner's `QUOTA` item, guarded by
//! the status it starts from, so a transition happens once and the counters follow it exactly.
//!
//! Pending and rejected documents carry `pending_shard`/`pending_since`, the keys of the sparse
//! index that clean-up walks; confirm removes them.

use aws_sdk_dynamodb::types::{Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use super::expression::WithExpr;
use super::quota::{QuotaCounters, QuotaDelta, QuotaRefusal};
use super::removals::pending_shard;
use super::{doc_sk, get_n, get_s, key, n, owner_of, s, status_in, user_pk, DocumentTable, Expr, Item, DOC_PREFIX};
use crate::error::{ApiError, QuotaExceeded};
use crate::invocation::Invocation;
use crate::model::{
    ChecksumAlgorithm, Classification, ClassificationStatus, Document, DocumentId, DocumentStatus, MultipartUpload,
    TopicId, UserId,
};

/// A page of a user's documents, newest first.
#[derive(Debug)]
pub struct DocumentPage {
    pub documents: Vec<Document>,
    /// The id of the last document returned when more may follow.
    pub next: Option<DocumentId>,
}

/// Why upload-url could not create a document; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewDocumentRefusal {
    OverQuota(QuotaExceeded),
    TooManyPending { open: u64, max: u64 },
}

/// What confirm's write found.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfirmWrite {
    /// Charged now; `used_bytes` is the usage right after this charge.
    Confirmed { used_bytes: u64 },
    /// The document was not pending (any more): as it is now, or `None` when gone.
    NotPending(Option<Box<Document>>),
    /// The quota refused; nothing written.
    Refused(QuotaRefusal),
}

/// The outcome of a transition: done, or why not.
enum Transition {
    Done,
    DocumentChanged(Option<Item>),
    Quota(QuotaRefusal),
}

pub(crate) fn parse_document(item: &Item) -> Option<Document> {
    Some(Document {
        id: DocumentId::parse(get_s(item, "sk")?.strip_prefix(DOC_PREFIX)?).ok()?,
        owner: owner_of(item)?,
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
            classified_by: get_s(item, "classified_by").map(str::to_owned),
        },
        checksum_sha256: get_s(item, "checksum_sha256").map(str::to_owned),
        rejection_reason: get_s(item, "rejection_reason").map(str::to_owned),
        multipart: get_s(item, "upload_id").zip(get_n(item, "part_size_bytes")).map(|(upload_id, part_size)| {
            let checksum_algorithm = get_s(item, "checksum_algorithm").and_then(ChecksumAlgorithm::parse);
            MultipartUpload { upload_id: upload_id.to_owned(), part_size, checksum_algorithm }
        }),
    })
}

impl DocumentTable {
    /// Creates a pending document, counting it against the user's cap on pending uploads and,
    /// with a declared size, reserving that size (it must fit the limit together with what is
    /// used and reserved already). All or nothing.
    pub async fn create_document(
        &self,
        invocation: &Invocation,
        document: &Document,
    ) -> Result<Result<(), NewDocumentRefusal>, ApiError> {
        let mut item = key(user_pk(&document.owner), doc_sk(document.id));
        item.extend([
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
        if let Some(checksum) = &document.checksum_sha256 {
            item.insert("checksum_sha256".to_owned(), s(checksum));
        }
        if let Some(multipart) = &document.multipart {
            item.insert("upload_id".to_owned(), s(&multipart.upload_id));
            item.insert("part_size_bytes".to_owned(), n(multipart.part_size));
            if let Some(algorithm) = multipart.checksum_algorithm {
                item.insert("checksum_algorithm".to_owned(), s(algorithm.as_str()));
            }
        }
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .with(Expr::condition("attribute_not_exists(pk)"))
            .build()
            .map_err(|e| ApiError::internal("building the document put", e))?;
        let delta = QuotaDelta::upload_started(document.declared_size_bytes);
        let purpose = format!("create {} {}", document.owner.as_str(), document.id);
        let doc = TransactWriteItem::builder().put(put).build();
        match self.transition(invocation, &purpose, &document.owner, doc, vec![], delta, None).await? {
            // The id is new: an existing row is this very write, committed by an earlier attempt.
            Transition::Done | Transition::DocumentChanged(_) => Ok(Ok(())),
            Transition::Quota(QuotaRefusal::TooManyPending { open, max }) => {
                Ok(Err(NewDocumentRefusal::TooManyPending { open, max }))
            }
            Transition::Quota(QuotaRefusal::OverQuota(before)) => {
                let quota = before.view(&self.policy);
                Ok(Err(NewDocumentRefusal::OverQuota(QuotaExceeded {
                    used_bytes: quota.used_bytes,
                    limit_bytes: quota.limit_bytes,
                    rejected_bytes: document.declared_size_bytes.unwrap_or(0),
                })))
            }
            Transition::Quota(other) => Err(ApiError::internal("creating a document", format!("{other:?}"))),
        }
    }

    /// Confirm's single write: moves `document` from pending to uploaded and charges `size`
    /// (its reservation, if any, becomes usage), provided `used_bytes` is still `counters`'.
    /// `document.checksum_sha256` is written too (a multipart upload's composite checksum is only
    /// known once storage assembled it).
    pub async fn confirm_upload(
        &self,
        invocation: &Invocation,
        document: &Document,
        size: u64,
        counters: &QuotaCounters,
        now: i64,
    ) -> Result<ConfirmWrite, ApiError> {
        let (set_checksum, checksum) = match &document.checksum_sha256 {
            Some(checksum) => (", checksum_sha256 = :checksum", Expr::default().value(":checksum", s(checksum))),
            None => ("", Expr::default()),
        };
        let expr = status_in(&[DocumentStatus::Pending]).and(checksum).and(
            Expr::update(format!(
                "SET #status = :uploaded, size_bytes = :size, uploaded_at = :now{set_checksum} \
                 REMOVE pending_shard, pending_since"
            ))
            .value(":uploaded", s(DocumentStatus::Uploaded.as_str()))
            .value(":size", n(size))
            .value(":now", n(now)),
        );
        let doc = self.document_update(document, expr)?;
        let delta = QuotaDelta::confirmed(document.declared_size_bytes, size);
        let purpose = format!("confirm {} {} {size}", document.owner.as_str(), document.id);
        let expected = Some(counters.used_bytes);
        Ok(match self.transition(invocation, &purpose, &document.owner, doc, vec![], delta, expected).await? {
            Transition::Done => ConfirmWrite::Confirmed { used_bytes: counters.used_bytes + size },
            Transition::DocumentChanged(item) => {
                ConfirmWrite::NotPending(item.as_ref().and_then(parse_document).map(Box::new))
            }
            Transition::Quota(refusal) => ConfirmWrite::Refused(refusal),
        })
    }

    /// Marks a pending document rejected (it did not fit, or with `reason`, its content is not
    /// what was declared) and releases what it held. It stays in the pending index, so clean-up
    /// removes it (and its object, if removing that fails now). Returns false when the document
    /// was no longer pending.
    pub async fn reject_upload(
        &self,
        invocation: &Invocation,
        document: &Document,
        size: u64,
        reason: Option<&str>,
    ) -> Result<bool, ApiError> {
        let mut set = "SET #status = :rejected, size_bytes = :size".to_owned();
        let mut values =
            Expr::default().value(":rejected", s(DocumentStatus::Rejected.as_str())).value(":size", n(size));
        if let Some(reason) = reason {
            set.push_str(", rejection_reason = :reason");
            values = values.value(":reason", s(reason));
        }
        let expr = status_in(&[DocumentStatus::Pending]).and(values).and(Expr::update(set));
        let doc = self.document_update(document, expr)?;
        let delta = QuotaDelta::rejected(document.declared_size_bytes);
        let purpose = format!("reject {} {}", document.owner.as_str(), document.id);
        match self.transition(invocation, &purpose, &document.owner, doc, vec![], delta, None).await? {
            Transition::Done => Ok(true),
            Transition::DocumentChanged(_) => Ok(false),
            Transition::Quota(refusal) => Err(ApiError::internal("rejecting an upload", format!("{refusal:?}"))),
        }
    }

    /// Removes `document` as it was read, gives back what it held and records its object for
    /// removal, in one transaction. Returns false when the document changed or vanished since it
    /// was read (the caller reads again).
    pub async fn delete_document(&self, invocation: &Invocation, document: &Document) -> Result<bool, ApiError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(&document.owner), doc_sk(document.id))))
            .with(status_in(&[document.status]))
            .build()
            .map_err(|e| ApiError::internal("building the document delete", e))?;
        let removal = self.removal_record(document)?;
        let purpose = format!("delete {} {} {}", document.owner.as_str(), document.id, document.status.as_str());
        let doc = TransactWriteItem::builder().delete(delete).build();
        let delta = QuotaDelta::removed(document);
        match self.transition(invocation, &purpose, &document.owner, doc, vec![removal], delta, None).await? {
            Transition::Done => Ok(true),
            Transition::DocumentChanged(_) => Ok(false),
            Transition::Quota(refusal) => Err(ApiError::internal("deleting a document", format!("{refusal:?}"))),
        }
    }

    fn document_update(&self, document: &Document, expr: Expr) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(&document.owner), doc_sk(document.id))))
            .with(expr)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| ApiError::internal("building the document update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// One state change of a document (`doc`, the transaction's first item, guarded by the
    /// status it starts from) with `extra` items and its `delta` on the owner's counters. A
    /// counter that drifted below what the delta takes away is logged and clamped at zero, so
    /// removing a document always succeeds and no counter goes negative.
    #[allow(clippy::too_many_arguments)]
    async fn transition(
        &self,
        invocation: &Invocation,
        purpose: &str,
        owner: &UserId,
        doc: TransactWriteItem,
        extra: Vec<TransactWriteItem>,
        mut delta: QuotaDelta,
        expected_used: Option<u64>,
    ) -> Result<Transition, ApiError> {
        for _ in 0..3 {
            let mut items = vec![doc.clone()];
            let quota_index = (!delta.is_zero()).then_some(1);
            if quota_index.is_some() {
                items.push(self.quota_write(owner, &delta, expected_used)?);
            }
            items.extend(extra.iter().cloned());
            let purpose = format!("{purpose} {delta:?} {expected_used:?}");
            let Some(failed) = self.transact(invocation, &purpose, items).await? else {
                return Ok(Transition::Done);
            };
            // The document's state decides first: a retry of a finished transition must not be
            // reported as a quota problem just because the quota changed since.
            if failed.failed(0) {
                return Ok(Transition::DocumentChanged(failed.item(0).cloned()));
            }
            let Some(index) = quota_index.filter(|&i| failed.failed(i)) else {
                return Err(ApiError::internal(
                    "changing a document's state",
                    format!("{purpose}: refused by {failed:?}"),
                ));
            };
            let before = QuotaCounters::from_item(failed.item(index));
            match self.policy.diagnose(&before, &delta, expected_used) {
                QuotaRefusal::Drift(before) => {
                    tracing::error!(
                        user = owner.as_str(),
                        ?before,
                        ?delta,
                        "quota counters below a document's share; clamping at zero"
                    );
                    delta = delta.clamped(&before);
                }
                refusal => return Ok(Transition::Quota(refusal)),
            }
        }
        Err(ApiError::internal("changing a document's state", format!("{purpose}: the counters kept drifting")))
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
            .map_err(|e| ApiError::internal("reading a document", e))?;
        Ok(output.item().and_then(parse_document))
    }

    /// The user's documents, newest first, `limit` at most, after `after` (exclusive).
    pub async fn list_documents(
        &self,
        user: &UserId,
        limit: u32,
        after: Option<DocumentId>,
    ) -> Result<DocumentPage, ApiError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :doc)")
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":doc", s(DOC_PREFIX))
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(after.map(|after| key(user_pk(user), doc_sk(after))))
            .send()
            .await
            .map_err(|e| ApiError::internal("listing documents", e))?;
        let documents: Vec<Document> = output.items().iter().filter_map(parse_document).collect();
        let next = output
            .last_evaluated_key()
            .and_then(|k| get_s(k, "sk")?.strip_prefix(DOC_PREFIX).map(DocumentId::parse))
            .and_then(Result::ok);
        Ok(DocumentPage { documents, next })
    }
}

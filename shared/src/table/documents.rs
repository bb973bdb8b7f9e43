//! `DOC#<uuid v7>` items, and the domain's transitions (`domain::Transition`) as conditional
//! writes: each is one transaction of the document's item, guarded by the status it starts
//! from, and its `QuotaDelta` on the owner's `QUOTA` item. The adapter reports what the write
//! found ([`Write`]); what that means is the operation's to decide.
//!
//! A listed document (`charges`) leaving pending is delisted in the same transaction, on the
//! condition that it is listed: one that is not was charged by a confirm that did not settle it
//! (`domain::charge`), and is settled here first; the caller then decides again.
//!
//! Pending and rejected documents carry `pending_shard`/`pending_since`, the keys of the sparse
//! index that clean-up walks; confirm removes them.

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::charges::{is_listed, Listing};
use super::expression::WithExpr;
use super::paging::{query_page, Page};
use super::quota::counters_from_item;
use super::removals::pending_shard;
use super::{
    doc_sk, get_b, get_n, get_s, key, n, owner_of, s, status_in, user_pk, DocumentTable, Expr, Item, TableError,
    DOC_PREFIX,
};
use crate::domain::{
    ChecksumAlgorithm, Classification, ClassificationStatus, Document, DocumentId, DocumentStatus, MultipartUpload,
    PendingCharge, QuotaDelta, QuotaRefusal, TopicId, Transition, UserId,
};
use crate::invocation::Invocation;
use crate::retry::RetryPolicy;

/// What a transition's write found.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Written, with the counters moved.
    Done,
    /// The document was not in the status the transition starts from: as it is now, or `None`
    /// when it is gone. Nothing written.
    DocumentChanged(Option<Box<Document>>),
    /// The counters refused the delta (as `QuotaPolicy::diagnose` names it). Nothing written.
    Refused(QuotaRefusal),
}

pub(crate) fn parse_document(item: &Item) -> Option<Document> {
    Some(Document {
        id: DocumentId::parse(get_s(item, "sk")?.strip_prefix(DOC_PREFIX)?).ok()?,
        owner: owner_of(item)?,
        filename: get_s(item, "filename")?.to_owned(),
        content_type: get_s(item, "content_type")?.to_owned(),
        status: DocumentStatus::parse(get_s(item, "status")?)?,
        declared_size_bytes: get_n(item, "declared_size_bytes"),
        arrival_bytes: get_n(item, "arrival_bytes"),
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
            features: get_b(item, "features").map(<[u8]>::to_vec),
        },
        checksum_sha256: get_s(item, "checksum_sha256").map(str::to_owned),
        rejection_reason: get_s(item, "rejection_reason").map(str::to_owned),
        multipart: get_s(item, "upload_id").zip(get_n(item, "part_size_bytes")).map(|(upload_id, part_size)| {
            let checksum_algorithm = get_s(item, "checksum_algorithm").and_then(ChecksumAlgorithm::parse);
            MultipartUpload { upload_id: upload_id.to_owned(), part_size, checksum_algorithm }
        }),
        listed: item.get("listed").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        confirm_on_arrival: item.get("confirm_on_arrival").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
    })
}

impl DocumentTable {
    /// Creates a pending document, counting it against the user's cap on pending uploads and,
    /// with a declared size, reserving that size (it must fit the limit together with what is
    /// used and reserved already). All or nothing.
    pub async fn create_document(&self, invocation: &Invocation, document: &Document) -> Result<Write, TableError> {
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
        if document.listed {
            item.insert("listed".to_owned(), AttributeValue::Bool(true));
        }
        if document.confirm_on_arrival {
            item.insert("confirm_on_arrival".to_owned(), AttributeValue::Bool(true));
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
            .map_err(|e| TableError::new("building the document put", e))?;
        let purpose = format!("create {} {}", document.owner.as_str(), document.id);
        let doc = TransactWriteItem::builder().put(put).build();
        match self.transition(invocation, &purpose, document, doc, vec![], Transition::start(document), None).await? {
            // The id is new: an existing row is this very write, committed by an earlier attempt.
            Write::DocumentChanged(_) => Ok(Write::Done),
            write => Ok(write),
        }
    }

    /// Confirm's single write: moves `document` from pending to uploaded and charges `size`
    /// (its reservation, if any, becomes usage), provided `used_bytes` is still `used_before`.
    /// `document.checksum_sha256` is written too (a multipart upload's composite checksum is only
    /// known once storage assembled it).
    pub async fn confirm_upload(
        &self,
        invocation: &Invocation,
        document: &Document,
        size: u64,
        used_before: u64,
        now: i64,
    ) -> Result<Write, TableError> {
        let transition = Transition::confirm(document, size);
        let expr = guard(document, &transition).and(uploaded(size, now, document.checksum_sha256.as_deref()));
        let doc = self.document_update(document, expr)?;
        let purpose = format!("confirm {} {} {size}", document.owner.as_str(), document.id);
        self.transition(invocation, &purpose, document, doc, vec![], transition, Some(used_before)).await
    }

    /// Marks a pending document rejected (it did not fit, or with `reason`, its content is not
    /// what was declared) and releases what it held. It stays in the pending index, so clean-up
    /// removes it (and its object, if removing that fails now).
    pub async fn reject_upload(
        &self,
        invocation: &Invocation,
        document: &Document,
        size: u64,
        reason: Option<&str>,
    ) -> Result<Write, TableError> {
        let transition = Transition::reject(document);
        // A rejected upload is no document: it is no example either. Not conditional on the
        // filing as read (a concurrent filing must not turn a rejection into a retry): one
        // filed elsewhere meanwhile loses its example when clean-up deletes the document.
        let (_, example_removal) = self.without_example(document)?;
        let mut set = "SET #status = :rejected, size_bytes = :size".to_owned();
        let mut values =
            Expr::default().value(":rejected", s(DocumentStatus::Rejected.as_str())).value(":size", n(size));
        if let Some(reason) = reason {
            set.push_str(", rejection_reason = :reason");
            values = values.value(":reason", s(reason));
        }
        let expr = guard(document, &transition).and(values).and(Expr::update(set));
        let doc = self.document_update(document, expr)?;
        let purpose = format!("reject {} {}", document.owner.as_str(), document.id);
        let extra = example_removal.into_iter().collect();
        self.transition(invocation, &purpose, document, doc, extra, transition, None).await
    }

    /// Removes `document` as it was read, gives back what it held, records its object for
    /// removal and removes its example (if filed by hand: `examples`), in one transaction.
    pub async fn delete_document(&self, invocation: &Invocation, document: &Document) -> Result<Write, TableError> {
        let transition = Transition::remove(document);
        let (filed_as_read, example_removal) = self.without_example(document)?;
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(&document.owner), doc_sk(document.id))))
            .with(guard(document, &transition).and(filed_as_read))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| TableError::new("building the document delete", e))?;
        let removal = self.removal_record(document)?;
        let purpose = format!("delete {} {} {}", document.owner.as_str(), document.id, document.status.as_str());
        let doc = TransactWriteItem::builder().delete(delete).build();
        let extra = std::iter::once(removal).chain(example_removal).collect();
        self.transition(invocation, &purpose, document, doc, extra, transition, None).await
    }

    /// Reserves `size` bytes for the object of an upload without a declared size, which just
    /// arrived (`Transition::reserve_arrival`): they must fit what is neither used nor reserved.
    /// `None` when the document already holds a reservation (a duplicate event).
    pub async fn reserve_arrival(
        &self,
        invocation: &Invocation,
        document: &Document,
        size: u64,
    ) -> Result<Option<Write>, TableError> {
        let Some(transition) = Transition::reserve_arrival(document, size) else { return Ok(None) };
        let expr = guard(document, &transition)
            .and(Expr::condition("attribute_not_exists(declared_size_bytes)"))
            .and(Expr::update("SET arrival_bytes = :arrival").value(":arrival", n(size)));
        let doc = self.document_update(document, expr)?;
        let purpose = format!("reserve {} {} {size}", document.owner.as_str(), document.id);
        self.transition(invocation, &purpose, document, doc, vec![], transition, None).await.map(Some)
    }

    fn document_update(&self, document: &Document, expr: Expr) -> Result<TransactWriteItem, TableError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(&document.owner), doc_sk(document.id))))
            .with(expr)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| TableError::new("building the document update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// One transition of `document` (`doc`, the transaction's first item, guarded by the status
    /// it starts from) with `extra` items and its delta on the owner's counters. The document's
    /// state decides first: a retry of a finished transition must not be reported as a quota
    /// problem just because the quota changed since. A counter that drifted below what the
    /// delta takes away is logged and clamped at zero, so removing a document always succeeds
    /// and no counter goes negative.
    #[allow(clippy::too_many_arguments)]
    async fn transition(
        &self,
        invocation: &Invocation,
        purpose: &str,
        document: &Document,
        doc: TransactWriteItem,
        extra: Vec<TransactWriteItem>,
        transition: Transition,
        expected_used: Option<u64>,
    ) -> Result<Write, TableError> {
        let owner = &document.owner;
        let mut delta: QuotaDelta = transition.delta;
        // A new document is listed as pending on the counters; one leaving pending is delisted.
        let listing = match (transition.from, transition.to) {
            _ if !document.listed => None,
            (_, Some(DocumentStatus::Pending)) if transition.delta.pending > 0 => Some(Listing::Add(document.id)),
            (DocumentStatus::Pending, to) if to != Some(DocumentStatus::Pending) => Some(Listing::Remove(document.id)),
            _ => None,
        };
        let mut attempts = RetryPolicy::RACES.at_most(3).attempts(invocation);
        while attempts.next().await {
            let mut items = vec![doc.clone()];
            // The listing changes even when a clamped delta moves no counter.
            let quota_index = (!delta.is_zero() || listing.is_some()).then_some(1);
            if quota_index.is_some() {
                items.push(self.quota_write(owner, &delta, expected_used, listing)?);
            }
            items.extend(extra.iter().cloned());
            let purpose = format!("{purpose} {delta:?} {expected_used:?}");
            let Some(failed) = self.transact(invocation, &purpose, items).await? else {
                return Ok(Write::Done);
            };
            if failed.failed(0) {
                return Ok(Write::DocumentChanged(failed.item(0).and_then(parse_document).map(Box::new)));
            }
            let Some(index) = quota_index.filter(|&i| failed.failed(i)) else {
                return Err(TableError::new(
                    "changing a document's state",
                    format!("{purpose}: refused by {failed:?}"),
                ));
            };
            if matches!(listing, Some(Listing::Remove(_))) && !is_listed(failed.item(index), document.id) {
                // Still pending as read, but charged: settled first, then decided again.
                let charge = PendingCharge::of_unsettled(document, crate::auth::now_unix()).ok_or_else(|| {
                    TableError::new("changing a document's state", format!("{purpose}: delisted without a reservation"))
                })?;
                self.settle(invocation, owner, &charge).await?;
                let now = self.get_document(owner, document.id).await?;
                return Ok(Write::DocumentChanged(now.map(Box::new)));
            }
            let before = counters_from_item(failed.item(index));
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
                refusal => return Ok(Write::Refused(refusal)),
            }
        }
        Err(TableError::new("changing a document's state", format!("{purpose}: the counters kept drifting")))
    }

    pub async fn get_document(&self, user: &UserId, id: DocumentId) -> Result<Option<Document>, TableError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), doc_sk(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| TableError::new("reading a document", e))?;
        Ok(output.item().and_then(parse_document))
    }

    /// The user's documents, newest first, `limit` at most, after `after` (exclusive).
    pub async fn list_documents(
        &self,
        user: &UserId,
        limit: u32,
        after: Option<DocumentId>,
    ) -> Result<Page<Document>, TableError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :doc)")
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":doc", s(DOC_PREFIX))
            .scan_index_forward(false)
            .limit(limit as i32);
        let start = after.map(|after| key(user_pk(user), doc_sk(after)));
        Ok(documents_page(query_page(query, start, "listing documents").await?))
    }
}

/// What a document confirmed with `size` bytes at `at` becomes: uploaded (with `checksum`, when
/// only storage knew it), out of the pending index.
pub(super) fn uploaded(size: u64, at: i64, checksum: Option<&str>) -> Expr {
    let becomes = Uploaded::new(size, at, checksum);
    becomes.values.and(Expr::update(format!("SET {} REMOVE {}", becomes.set.join(", "), becomes.remove.join(", "))))
}

/// The clauses of [`uploaded`], for an update that writes more besides (a classification
/// recorded together with the settle of its document's charge: one SET and one REMOVE each).
pub(super) struct Uploaded {
    pub set: Vec<&'static str>,
    pub remove: Vec<&'static str>,
    /// Their names and values.
    pub values: Expr,
}

impl Uploaded {
    pub(super) fn new(size: u64, at: i64, checksum: Option<&str>) -> Self {
        let mut set = vec!["#status = :uploaded", "size_bytes = :size", "uploaded_at = :at"];
        let mut values = Expr::default()
            .name("#status", "status")
            .value(":uploaded", s(DocumentStatus::Uploaded.as_str()))
            .value(":size", n(size))
            .value(":at", n(at));
        if let Some(checksum) = checksum {
            set.push("checksum_sha256 = :checksum");
            values = values.value(":checksum", s(checksum));
        }
        Self { set, remove: vec!["pending_shard", "pending_since"], values }
    }
}

/// The condition of `transition`'s write on `document`: it is still in the status the
/// transition starts from and, when pending, still holds the reservation it was read with (a
/// concurrent arrival may have reserved its object's size meanwhile; the delta would then be
/// wrong).
fn guard(document: &Document, transition: &Transition) -> Expr {
    let status = status_in(&[transition.from]);
    if transition.from != DocumentStatus::Pending {
        return status;
    }
    status.and(match document.arrival_bytes {
        None => Expr::condition("attribute_not_exists(arrival_bytes)"),
        Some(bytes) => Expr::condition("arrival_bytes = :arrival_read").value(":arrival_read", n(bytes)),
    })
}

/// A page of document items as documents, with the id the next page starts after.
pub(super) fn documents_page(page: Page<Item, Item>) -> Page<Document> {
    let next =
        page.next.and_then(|k| get_s(&k, "sk")?.strip_prefix(DOC_PREFIX).map(DocumentId::parse)).and_then(Result::ok);
    Page { items: page.items.iter().filter_map(parse_document).collect(), next }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_document_is_written_only_with_the_reservation_it_was_read_with() {
        let user = UserId::parse("u").unwrap();
        let undeclared = Document::pending(user, "a.txt".into(), "text/plain".into(), None, 0);
        let condition = guard(&undeclared, &Transition::confirm(&undeclared, 5));
        assert!(condition.condition_text().unwrap().contains("attribute_not_exists(arrival_bytes)"));
        let arrived = Document { arrival_bytes: Some(5), ..undeclared.clone() };
        let condition = guard(&arrived, &Transition::reject(&arrived));
        assert!(condition.condition_text().unwrap().contains("arrival_bytes = :arrival_read"));
        let uploaded = Document { status: DocumentStatus::Uploaded, ..undeclared };
        let condition = guard(&uploaded, &Transition::remove(&uploaded));
        assert_eq!(condition.condition_text(), Some("#status IN (:status_uploaded)"));
    }
}

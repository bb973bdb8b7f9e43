//! `REMOVAL#<uuid>` items and the sparse `PendingByAge` index that clean-up walks.
//!
//! A removal record says "the object of this document must go": it is written in the same
//! transaction that removes the document's row, so an object never loses its last owner row
//! before it is gone. Pending and rejected documents and removal records carry the index keys
//! `pending_shard`/`pending_since`; spreading them over [`PENDING_SHARDS`] partitions keeps the
//! index free of one hot partition at scale.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use super::paging::{query_page, Page};
use super::{
    get_s, key, n, owner_of, s, unless_condition_failed, user_pk, DocumentTable, Item, TableError, DOC_PREFIX,
};
use crate::domain::{Document, DocumentId, UserId};

pub const PENDING_INDEX: &str = "PendingByAge";
pub const PENDING_SHARDS: u8 = 16;
const REMOVAL_PREFIX: &str = "REMOVAL#";

/// One entry of the pending index: a document or a removal to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingEntry {
    Document { owner: UserId, id: DocumentId },
    Removal { owner: UserId, id: DocumentId },
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

fn parse_pending_key(item: &Item) -> Option<PendingEntry> {
    let owner = owner_of(item)?;
    let sk = get_s(item, "sk")?;
    if let Some(id) = sk.strip_prefix(DOC_PREFIX) {
        Some(PendingEntry::Document { owner, id: DocumentId::parse(id).ok()? })
    } else {
        let id = sk.strip_prefix(REMOVAL_PREFIX)?;
        Some(PendingEntry::Removal { owner, id: DocumentId::parse(id).ok()? })
    }
}

impl DocumentTable {
    /// The transaction item recording that the object of `document` must be removed.
    /// `pending_since` is zero: clean-up takes it at once, whatever the cut-off. (An upload URL
    /// still valid after the row is gone can create the object again; its `ObjectCreated` event
    /// then finds no document and removes it: see `operations::object_arrived`.)
    pub(crate) fn removal_record(&self, document: &Document) -> Result<TransactWriteItem, TableError> {
        let mut record = key(user_pk(&document.owner), removal_sk(document.id));
        record
            .extend([("pending_shard".to_owned(), s(pending_shard(document.id))), ("pending_since".to_owned(), n(0))]);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record))
            .build()
            .map_err(|e| TableError::new("building the removal record", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Forgets a removal once its object is gone. Returns false when another run already did,
    /// so each removal is reported once.
    pub async fn finish_removal(&self, user: &UserId, id: DocumentId) -> Result<bool, TableError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), removal_sk(id))))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        Ok(unless_condition_failed(result, "forgetting a removal")?.is_some())
    }

    /// One page of the pending index in `shard`: entries last touched before `before` (unix s).
    pub async fn pending_page(
        &self,
        shard: &str,
        before: i64,
        limit: i32,
        start: Option<Item>,
    ) -> Result<Page<PendingEntry, Item>, TableError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(PENDING_INDEX)
            .key_condition_expression("pending_shard = :shard AND pending_since < :before")
            .expression_attribute_values(":shard", s(shard))
            .expression_attribute_values(":before", n(before))
            .limit(limit);
        let page = query_page(query, start, "reading the pending index").await?;
        Ok(Page { items: page.items.iter().filter_map(parse_pending_key).collect(), next: page.next })
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

//! `PARTS#<document id>#<chunk>`: the SHA-256 the parts route signed into each part's URL, for a
//! multipart upload created with a checksum algorithm. Completion lists every part's checksum;
//! S3's ListParts reports them (AWS, LocalStack) but SeaweedFS's does not, so they are kept here.
//!
//! Bounded: a chunk item holds the checksums of [`PARTS_PER_ITEM`] consecutive parts as
//! attributes `p<number>` (1,000 x ~50 B: ~50 KB, far below DynamoDB's 400 KB item limit), so the
//! 10,000 parts S3 allows take at most 10 items. Each write holds at most [`PARTS_PER_WRITE`]
//! parts, so its condition (~57 characters a part) stays under the 4 KB expression limit
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html>).
//!
//! Invariant: a part's checksum never changes once written (each write is conditional on every
//! part being absent or the same), so all the URLs of one part take the same bytes. The items
//! carry `expires_at` (the table's TTL attribute) after the pending document's clean-up, and
//! confirm removes them once the upload is assembled.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};

use super::expression::WithExpr;
use super::paging::query_all;
use super::{key, n, s, unless_condition_failed, user_pk, DocumentTable, Expr, Item, TableError};
use crate::domain::{DocumentId, UserId, MAX_PARTS};

const PARTS_PREFIX: &str = "PARTS#";
pub(crate) const PARTS_PER_ITEM: u32 = 1_000;
pub(crate) const PARTS_PER_WRITE: usize = 50;

fn parts_sk(id: DocumentId, chunk: u32) -> String {
    format!("{PARTS_PREFIX}{id}#{chunk:02}")
}

fn chunk_of(part_number: u32) -> u32 {
    part_number.saturating_sub(1) / PARTS_PER_ITEM
}

/// The write of one batch of parts of one chunk: each part absent or already the same.
fn record_batch(batch: &[(&u32, &String)], expires_at: i64) -> Expr {
    let mut condition = Vec::with_capacity(batch.len());
    let mut update = vec!["#expires_at = :expires_at".to_owned()];
    let mut expr = Expr::default();
    for (number, checksum) in batch {
        condition.push(format!("(attribute_not_exists(#p{number}) OR #p{number} = :c{number})"));
        update.push(format!("#p{number} = :c{number}"));
        expr = expr.name(&format!("#p{number}"), &format!("p{number}")).value(format!(":c{number}"), s(*checksum));
    }
    let text = Expr::condition(condition.join(" AND ")).and(Expr::update(format!("SET {}", update.join(", "))));
    expr.and(text).name("#expires_at", "expires_at").value(":expires_at", n(expires_at))
}

/// The checksums a chunk item holds.
fn parse_parts(item: &Item, into: &mut BTreeMap<u32, String>) {
    for (name, value) in item {
        let Some(number) = name.strip_prefix('p').and_then(|n| n.parse::<u32>().ok()) else { continue };
        if let Ok(checksum) = value.as_s() {
            into.insert(number, checksum.clone());
        }
    }
}

impl DocumentTable {
    /// Keeps the checksums signed for some parts of `id`'s upload, until `expires_at` (unix
    /// seconds). `Ok(Err(before))`: a part was signed with another checksum before; `before` holds
    /// the checksums kept for the parts of the refused write (parts of other writes may be kept).
    pub async fn record_part_checksums(
        &self,
        user: &UserId,
        id: DocumentId,
        checksums: &BTreeMap<u32, String>,
        expires_at: i64,
    ) -> Result<Result<(), BTreeMap<u32, String>>, TableError> {
        let parts: Vec<(&u32, &String)> =
            checksums.iter().filter(|(n, _)| (1..=MAX_PARTS as u32).contains(n)).collect();
        for in_chunk in parts.chunk_by(|a, b| chunk_of(*a.0) == chunk_of(*b.0)) {
            let item_key = key(user_pk(user), parts_sk(id, chunk_of(*in_chunk[0].0)));
            for batch in in_chunk.chunks(PARTS_PER_WRITE) {
                let request = self.client.update_item().table_name(&self.table).set_key(Some(item_key.clone()));
                let written = request.with(record_batch(batch, expires_at)).send().await;
                if unless_condition_failed(written, "keeping part checksums")?.is_none() {
                    let read =
                        self.client.get_item().table_name(&self.table).set_key(Some(item_key)).consistent_read(true);
                    let output = read.send().await.map_err(|e| TableError::new("reading part checksums", e))?;
                    let mut before = BTreeMap::new();
                    parse_parts(output.item().unwrap_or(&Item::new()), &mut before);
                    return Ok(Err(before));
                }
            }
        }
        Ok(Ok(()))
    }

    /// The checksums kept for `id`'s parts, by part number.
    pub async fn part_checksums(&self, user: &UserId, id: DocumentId) -> Result<BTreeMap<u32, String>, TableError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :parts)")
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":parts", s(format!("{PARTS_PREFIX}{id}#")))
            .consistent_read(true);
        let mut checksums = BTreeMap::new();
        for item in query_all(query, "reading part checksums").await? {
            parse_parts(&item, &mut checksums);
        }
        Ok(checksums)
    }

    /// Removes the checksums kept for an upload of `part_count` parts (those never kept are fine).
    pub async fn forget_part_checksums(
        &self,
        user: &UserId,
        id: DocumentId,
        part_count: u32,
    ) -> Result<(), TableError> {
        let deletes: Vec<WriteRequest> = (0..=chunk_of(part_count.max(1)))
            .map(|chunk| {
                let delete = DeleteRequest::builder().set_key(Some(key(user_pk(user), parts_sk(id, chunk)))).build();
                delete.map(|d| WriteRequest::builder().delete_request(d).build())
            })
            .collect::<Result<_, _>>()
            .map_err(|e| TableError::new("forgetting part checksums", e))?;
        // At most 10 chunks: one BatchWriteItem (25 at most); what it leaves unprocessed, the TTL removes.
        let output = self
            .client
            .batch_write_item()
            .request_items(&self.table, deletes)
            .send()
            .await
            .map_err(|e| TableError::new("forgetting part checksums", e))?;
        if output.unprocessed_items().is_some_and(|u| !u.is_empty()) {
            tracing::warn!(%id, "some part checksum items were left for the TTL to remove");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_write_stays_under_the_expression_limit() {
        let checksum = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=".to_owned();
        let numbers: Vec<u32> = (9_951..=10_000).collect();
        let batch: Vec<(&u32, &String)> = numbers.iter().map(|n| (n, &checksum)).collect();
        assert_eq!(batch.len(), PARTS_PER_WRITE);
        let expr = record_batch(&batch, 1);
        assert!(expr.condition_text().unwrap().len() < 4096, "{}", expr.condition_text().unwrap().len());
        assert!(expr.update_text().unwrap().len() < 4096);
        // The largest item: 1,000 parts of `p10000` + a 44-character checksum, with its keys.
        assert!(PARTS_PER_ITEM as usize * (6 + 44) + 200 < 400 * 1024);
        assert_eq!((chunk_of(1), chunk_of(1_000), chunk_of(1_001), chunk_of(10_000)), (0, 0, 1, 9));
    }
}

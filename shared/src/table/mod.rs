//! The DynamoDB adapter: it maps the domain's documents, topics and counters to items and its
//! transitions to conditional writes, and nothing else (the rules are the domain's, the
//! sequences the operations'). One table holds, per user (partition `USER#<sub>`), one kind of
//! item per module here:
//!
//! * `QUOTA` ([`quota`]): the user's counters and optional own limit, and the list of its
//!   pending documents ([`charges`]);
//! * `DOC#<uuid v7>` ([`documents`]): one document; the id is time-ordered, so a reverse Query
//!   lists newest first;
//! * `REMOVAL#<uuid>` ([`removals`]): an object that must be removed (its document is gone),
//!   written in the same transaction that removes the document;
//! * `PARTS#<uuid>#<chunk>` ([`parts`]): the checksums signed for a multipart upload's parts;
//! * `TOPIC#<uuid>` and `TOPICNAME#<name>` ([`topics`]); a classification result lives on its
//!   document ([`classification`]), with the document's features; the user's examples of a
//!   topic live on the topic's item ([`examples`]).
//!
//! This file holds what they share: the key layout, the attribute helpers and the adapter's
//! error; `transact` runs every transaction, `paging` every Query.

use std::collections::HashMap;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use crate::domain::{DocumentId, DocumentStatus, QuotaPolicy, UserId};

mod charges;
mod classification;
mod documents;
mod examples;
mod expression;
mod paging;
mod parts;
mod quota;
mod removals;
mod topics;
mod transact;

pub use charges::Charge;
pub use classification::{Overwrite, RecordOutcome};
pub use documents::Write;
pub use examples::Filing;
pub(crate) use expression::Expr;
pub use paging::Page;
pub use removals::{all_pending_shards, pending_shard, PendingEntry, PENDING_INDEX, PENDING_SHARDS};
pub use topics::NewTopic;

const QUOTA_SK: &str = "QUOTA";
const DOC_PREFIX: &str = "DOC#";

pub type Item = HashMap<String, AttributeValue>;

/// A DynamoDB call failed (after the SDK's and the transaction runner's retries), or answered
/// something this adapter cannot read.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct TableError {
    context: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl TableError {
    pub(crate) fn new(context: &'static str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { context, source: source.into() }
    }
}

#[derive(Clone, Debug)]
pub struct DocumentTable {
    client: Client,
    table: String,
    policy: QuotaPolicy,
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn b(bytes: impl Into<Vec<u8>>) -> AttributeValue {
    AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(bytes))
}

fn user_pk(user: &UserId) -> String {
    format!("USER#{}", user.as_str())
}

fn doc_sk(id: DocumentId) -> String {
    format!("{DOC_PREFIX}{id}")
}

fn key(pk: String, sk: String) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn get_b<'a>(item: &'a Item, name: &str) -> Option<&'a [u8]> {
    item.get(name)?.as_b().ok().map(|blob| blob.as_ref())
}

fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// The owner of an item, from its partition key.
fn owner_of(item: &Item) -> Option<UserId> {
    UserId::parse(get_s(item, "pk")?.strip_prefix("USER#")?).ok()
}

/// A document's status is one of `statuses` (the guard of every transition).
fn status_in(statuses: &[DocumentStatus]) -> Expr {
    let placeholders: Vec<String> = statuses.iter().map(|s| format!(":status_{}", s.as_str())).collect();
    let mut expr = Expr::condition(format!("#status IN ({})", placeholders.join(", "))).name("#status", "status");
    for (placeholder, status) in placeholders.into_iter().zip(statuses) {
        expr = expr.value(placeholder, s(status.as_str()));
    }
    expr
}

/// `Some(output)` when a single conditional write happened, `None` when its condition failed;
/// any other error is a backend failure described by `context`.
fn unless_condition_failed<T, E>(
    result: Result<T, SdkError<E, HttpResponse>>,
    context: &'static str,
) -> Result<Option<T>, TableError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(None),
        Err(e) => Err(TableError::new(context, e)),
    }
}

impl DocumentTable {
    pub fn new(client: Client, table: impl Into<String>, policy: QuotaPolicy) -> Self {
        Self { client, table: table.into(), policy }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn policy(&self) -> &QuotaPolicy {
        &self.policy
    }

    /// A cheap call whose only purpose is to open a connection (see `App::warm_connections`).
    pub(crate) async fn warm_up(&self) {
        let request =
            self.client.get_item().table_name(&self.table).set_key(Some(key("WARM-UP".into(), "WARM-UP".into())));
        let _ = request.send().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_guards_name_every_allowed_status() {
        let expr = status_in(&[DocumentStatus::Pending, DocumentStatus::Rejected]);
        assert_eq!(expr.condition_text(), Some("#status IN (:status_pending, :status_rejected)"));
    }
}

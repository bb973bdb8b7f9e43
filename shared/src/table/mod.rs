//! The DynamoDB adapter. One table holds, per user (partition `USER#<sub>`), one kind of item per
//! module here:
//!
//! * `QUOTA` ([`quota`]): the user's counters and optional own limit;
//! * `DOC#<uuid v7>` ([`documents`]): one document; the id is time-ordered, so a reverse Query
//!   lists newest first;
//! * `REMOVAL#<uuid>` ([`removals`]): an object that must be removed (its document is gone),
//!   written in the same transaction that removes the document;
//! * `TOPIC#<uuid>` and `TOPICNAME#<name>` ([`topics`]).
//!
//! This file holds what they share: the key layout, the expression builder, and the one place
//! that runs a transaction (with its idempotency token and its retries).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, TransactWriteItem};
use aws_sdk_dynamodb::Client;

use crate::error::ApiError;
use crate::invocation::Invocation;
use crate::model::{DocumentId, DocumentStatus, UserId};

mod documents;
mod expression;
mod quota;
mod removals;
mod topics;

pub use documents::{ConfirmWrite, DocumentPage, NewDocumentRefusal};
pub(crate) use expression::Expr;
pub use quota::{QuotaCounters, QuotaDelta, QuotaPolicy, QuotaRefusal};
pub use removals::{all_pending_shards, pending_shard, PendingEntry, PendingPage, PENDING_INDEX, PENDING_SHARDS};
pub use topics::RecordOutcome;

const QUOTA_SK: &str = "QUOTA";
const DOC_PREFIX: &str = "DOC#";

pub type Item = HashMap<String, AttributeValue>;

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

fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// The owner of an item, from its partition key.
fn owner_of(item: &Item) -> Option<UserId> {
    UserId::parse(get_s(item, "pk")?.strip_prefix("USER#")?).ok()
}

/// A document's status is one of `statuses` (the state machine's guard on every transition).
fn status_in(statuses: &[DocumentStatus]) -> Expr {
    let placeholders: Vec<String> = statuses.iter().map(|s| format!(":status_{}", s.as_str())).collect();
    let mut expr = Expr::condition(format!("#status IN ({})", placeholders.join(", "))).name("#status", "status");
    for (placeholder, status) in placeholders.into_iter().zip(statuses) {
        expr = expr.value(placeholder, s(status.as_str()));
    }
    expr
}

/// The conditions that failed in a cancelled transaction, with each item as it was (every
/// transaction item asks for `ALL_OLD` on failure where the caller needs it).
#[derive(Debug)]
pub(crate) struct FailedConditions(Vec<CancellationReason>);

impl FailedConditions {
    /// Whether the condition of the transaction's `index`-th item failed.
    pub fn failed(&self, index: usize) -> bool {
        self.0.get(index).and_then(CancellationReason::code) == Some("ConditionalCheckFailed")
    }

    /// The `index`-th item as it was when its condition failed (absent when it did not exist).
    pub fn item(&self, index: usize) -> Option<&Item> {
        self.0.get(index).and_then(CancellationReason::item)
    }
}

/// What to do about a cancelled transaction, from its reasons alone.
#[derive(Debug, PartialEq, Eq)]
enum Cancellation {
    /// A condition failed: the caller decides what that means.
    ConditionsFailed,
    /// Only transient reasons (another transaction on one of the items, throttling): the same
    /// transaction may be sent again.
    Transient,
    /// Anything else (validation errors, sizes...): a bug or a backend failure.
    Other,
}

fn classify_cancellation(codes: &[Option<&str>]) -> Cancellation {
    if codes.contains(&Some("ConditionalCheckFailed")) {
        return Cancellation::ConditionsFailed;
    }
    let transient = |code: &Option<&str>| {
        matches!(
            code,
            None | Some("None" | "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")
        )
    };
    if codes.iter().all(transient) {
        Cancellation::Transient
    } else {
        Cancellation::Other
    }
}

/// Error codes of a whole request that mean "send the same request again later". The SDK
/// already retries most of them a few times; these retries continue within the deadline. The
/// request's idempotency token makes a resend of a committed transaction harmless.
fn is_transient_error<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            matches!(
                service.err().code(),
                Some(
                    "ThrottlingException"
                        | "ProvisionedThroughputExceededException"
                        | "RequestLimitExceeded"
                        | "TransactionInProgressException"
                        | "InternalServerError"
                        | "ServiceUnavailable"
                )
            ) || service.raw().status().is_server_error()
        }
        _ => false,
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

    /// Runs `items` as one transaction. `Ok(None)`: committed. `Ok(Some(failed))`: a condition
    /// failed and nothing was written. Cancellations for transient reasons (`TransactionConflict`
    /// when another transaction touches one of the items, throttling) and transient request
    /// errors are retried with jittered exponential backoff until shortly before the
    /// invocation's deadline. Every attempt carries the same `ClientRequestToken`, derived from
    /// the invocation and `purpose`, so a resend of a transaction whose reply was lost is
    /// recognised by DynamoDB as the same one (for 10 minutes) and answered as committed.
    pub(crate) async fn transact(
        &self,
        invocation: &Invocation,
        purpose: &str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<FailedConditions>, ApiError> {
        let token = invocation.idempotency_token(purpose);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(&token)
                .send()
                .await;
            let retry_reason = match result {
                Ok(_) => return Ok(None),
                Err(error) => match cancellation_reasons(error) {
                    Ok(reasons) => {
                        let codes: Vec<Option<&str>> = reasons.iter().map(CancellationReason::code).collect();
                        match classify_cancellation(&codes) {
                            Cancellation::ConditionsFailed => return Ok(Some(FailedConditions(reasons))),
                            Cancellation::Transient => format!("cancelled: {codes:?}"),
                            Cancellation::Other => {
                                return Err(ApiError::internal(
                                    "running a transaction",
                                    format!("{purpose}: reasons {reasons:?}"),
                                ))
                            }
                        }
                    }
                    Err(error) if is_transient_error(&error) => format!("{error}"),
                    Err(error) => return Err(ApiError::internal("running a transaction", error)),
                },
            };
            let pause = backoff(attempt);
            if !invocation.has_time_for(pause) {
                return Err(ApiError::internal(
                    "running a transaction",
                    format!("{purpose}: {attempt} attempts, last: {retry_reason}"),
                ));
            }
            tracing::warn!(purpose, attempt, reason = retry_reason, "transaction retried");
            tokio::time::sleep(pause).await;
        }
    }
}

/// Full-jitter exponential backoff: a random pause up to 25 ms x 2^attempt, at most 1 s.
fn backoff(attempt: u32) -> Duration {
    let ceiling_ms = (25u64 << attempt.min(10)).min(1000);
    let random = uuid::Uuid::now_v7().as_u128() as u64; // v7's low bits are random
    Duration::from_millis(random % (ceiling_ms + 1))
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

/// `Some(output)` when a single conditional write happened, `None` when its condition failed;
/// any other error is a backend failure described by `context`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_condition_decides_even_beside_a_conflict() {
        let decide = classify_cancellation;
        assert_eq!(decide(&[Some("ConditionalCheckFailed"), Some("None")]), Cancellation::ConditionsFailed);
        assert_eq!(
            decide(&[Some("TransactionConflict"), Some("ConditionalCheckFailed")]),
            Cancellation::ConditionsFailed
        );
        assert_eq!(decide(&[Some("None"), Some("TransactionConflict")]), Cancellation::Transient);
        assert_eq!(decide(&[Some("ThrottlingError"), None]), Cancellation::Transient);
        assert_eq!(decide(&[Some("ValidationError"), Some("None")]), Cancellation::Other);
        assert_eq!(decide(&[Some("ItemCollectionSizeLimitExceeded")]), Cancellation::Other);
    }

    #[test]
    fn status_guards_name_every_allowed_status() {
        let expr = status_in(&[DocumentStatus::Pending, DocumentStatus::Rejected]);
        assert_eq!(expr.condition_text(), Some("#status IN (:status_pending, :status_rejected)"));
    }

    #[test]
    fn backoff_grows_but_stays_bounded() {
        for attempt in 1..40 {
            assert!(backoff(attempt) <= Duration::from_secs(1));
        }
    }
}

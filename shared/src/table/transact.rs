//! The one place that runs a transaction: its idempotency token, its retries, and what a
//! cancellation means. Every attempt, and every pause before one, ends before the invocation's
//! answer margin (`Invocation::bounded`, `RetryPolicy::TRANSACTIONS`).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{CancellationReason, TransactWriteItem};

use super::{DocumentTable, Item, TableError};
use crate::invocation::Invocation;
use crate::retry::RetryPolicy;

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
    /// Runs `items` as one transaction. `Ok(None)`: committed. `Ok(Some(failed))`: a condition
    /// failed and nothing was written. Cancellations for transient reasons (`TransactionConflict`
    /// when another transaction touches one of the items, throttling) and transient request
    /// errors are retried under [`RetryPolicy::TRANSACTIONS`]. Every attempt carries the same
    /// `ClientRequestToken`, derived from the invocation and `purpose`, so a resend of a
    /// transaction whose reply was lost is recognised by DynamoDB as the same one (for 10
    /// minutes) and answered as committed.
    pub(crate) async fn transact(
        &self,
        invocation: &Invocation,
        purpose: &str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<FailedConditions>, TableError> {
        let written = written_values(&items);
        let mut token = invocation.idempotency_token(&format!("{purpose} {written}"));
        let mut attempts = RetryPolicy::TRANSACTIONS.attempts(invocation);
        let mut last_reason = String::new();
        while attempts.next().await {
            if attempts.made() > 1 {
                tracing::warn!(purpose, attempt = attempts.made(), reason = last_reason, "transaction retried");
            }
            let send =
                self.client.transact_write_items().set_transact_items(Some(items.clone())).client_request_token(&token);
            // Each attempt (the SDK's own retries included) ends before the answer margin. One
            // that gets no answer in time may have committed: the same token makes a resend safe.
            let Ok(result) = invocation.bounded(Duration::ZERO, send.send()).await else {
                last_reason = "no answer before the invocation's deadline".to_owned();
                continue;
            };
            last_reason = match result {
                Ok(_) => return Ok(None),
                Err(error) => match cancellation_reasons(error) {
                    Ok(reasons) => {
                        let codes: Vec<Option<&str>> = reasons.iter().map(CancellationReason::code).collect();
                        match classify_cancellation(&codes) {
                            Cancellation::ConditionsFailed => return Ok(Some(FailedConditions(reasons))),
                            Cancellation::Transient => format!("cancelled: {codes:?}"),
                            Cancellation::Other => {
                                return Err(TableError::new(
                                    "running a transaction",
                                    format!("{purpose}: reasons {reasons:?}"),
                                ))
                            }
                        }
                    }
                    Err(error) if is_transient_error(&error) => format!("{error}"),
                    // The token was used in the last 10 minutes for other values: cannot happen
                    // while it is derived from them, but if it does, the transaction is sent
                    // again under a new token and its conditions decide (one that committed
                    // under the old token fails its document's condition, and the caller
                    // answers from the document as it is).
                    Err(error) if error.code() == Some("IdempotentParameterMismatchException") => {
                        tracing::warn!(
                            purpose,
                            "idempotency token already used for other values; sent again under a new one"
                        );
                        token = invocation.idempotency_token(&format!("{purpose} {written} again {}", attempts.made()));
                        format!("{error}")
                    }
                    Err(error) => return Err(TableError::new("running a transaction", error)),
                },
            };
        }
        Err(TableError::new(
            "running a transaction",
            format!("{purpose}: {} attempts, last: {last_reason}", attempts.made()),
        ))
    }
}

impl DocumentTable {
    /// Sends a single-item write (`send` builds and sends it) again while DynamoDB refuses it
    /// because a transaction is writing the same item (`TransactionConflictException`, "Transaction
    /// conflict handling", DynamoDB Developer Guide; the SDK's standard retry mode does not retry
    /// it) or for a transient reason `transact` also retries, under [`RetryPolicy::TRANSACTIONS`]
    /// within the invocation's deadline. Answers the first other result, for the caller to read:
    /// its conditions make a resend of a write that did commit harmless.
    pub(crate) async fn write_single<T, E, F, Fut>(
        &self,
        invocation: &Invocation,
        purpose: &'static str,
        mut send: F,
    ) -> Result<Result<T, SdkError<E, HttpResponse>>, TableError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata,
    {
        let mut attempts = RetryPolicy::TRANSACTIONS.attempts(invocation);
        let mut last_reason = String::new();
        while attempts.next().await {
            if attempts.made() > 1 {
                tracing::warn!(purpose, attempt = attempts.made(), reason = last_reason, "write retried");
            }
            let Ok(result) = invocation.bounded(Duration::ZERO, send()).await else {
                last_reason = "no answer before the invocation's deadline".to_owned();
                continue;
            };
            match result {
                Err(error) if error.code() == Some("TransactionConflictException") || is_transient_error(&error) => {
                    last_reason = error.code().unwrap_or("transient").to_owned();
                }
                result => return Ok(result),
            }
        }
        Err(TableError::new(purpose, format!("{} attempts, last: {last_reason}", attempts.made())))
    }
}

/// Every value a transaction writes and checks, in one canonical order (the SDK keeps them in
/// hash maps, whose order differs between processes): its idempotency token is derived from
/// them, so a retried event that would write other values (a verdict that changed) never
/// reuses the token of what an earlier attempt committed.
fn written_values(items: &[TransactWriteItem]) -> String {
    fn sorted<V: std::fmt::Debug>(map: Option<&HashMap<String, V>>) -> String {
        let mut entries: Vec<String> = map.into_iter().flatten().map(|(k, v)| format!("{k}={v:?}")).collect();
        entries.sort();
        entries.join(",")
    }
    let one = |item: &TransactWriteItem| {
        let (kind, table, key, change, condition, names, values) = if let Some(put) = item.put() {
            let (names, values) = (put.expression_attribute_names(), put.expression_attribute_values());
            ("put", put.table_name(), put.item(), None, put.condition_expression(), names, values)
        } else if let Some(update) = item.update() {
            let (names, values) = (update.expression_attribute_names(), update.expression_attribute_values());
            let change = Some(update.update_expression());
            ("update", update.table_name(), update.key(), change, update.condition_expression(), names, values)
        } else if let Some(delete) = item.delete() {
            let (names, values) = (delete.expression_attribute_names(), delete.expression_attribute_values());
            ("delete", delete.table_name(), delete.key(), None, delete.condition_expression(), names, values)
        } else if let Some(check) = item.condition_check() {
            let (names, values) = (check.expression_attribute_names(), check.expression_attribute_values());
            ("check", check.table_name(), check.key(), None, Some(check.condition_expression()), names, values)
        } else {
            return String::new();
        };
        let (key, names, values) = (sorted(Some(key)), sorted(names), sorted(values));
        format!("{kind} {table} [{key}] {change:?} {condition:?} [{names}] [{values}]")
    };
    items.iter().map(one).collect::<Vec<_>>().join("; ")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_follows_every_written_value_in_any_map_order() {
        use aws_sdk_dynamodb::types::{AttributeValue, Put};
        let put = |pairs: &[(&str, &str)]| {
            let mut item = HashMap::new();
            for (k, v) in pairs {
                item.insert(k.to_string(), AttributeValue::S(v.to_string()));
            }
            let put = Put::builder().table_name("t").set_item(Some(item)).build().unwrap();
            vec![TransactWriteItem::builder().put(put).build()]
        };
        let many: Vec<(String, String)> = (0..40).map(|i| (format!("a{i}"), format!("v{i}"))).collect();
        let pairs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let reversed: Vec<(&str, &str)> = pairs.iter().rev().copied().collect();
        assert_eq!(written_values(&put(&pairs)), written_values(&put(&reversed)));
        let mut changed = pairs.clone();
        changed[7].1 = "other";
        assert_ne!(written_values(&put(&pairs)), written_values(&put(&changed)));
    }

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
}

//! DynamoDB's JSON protocol: the error answers AWS sends, and what the proxy reads from bodies.

use bytes::Bytes;
use serde_json::Value;

use crate::reply::{reply, request_id, Reply};

const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const DYNAMODB_NAMESPACE: &str = "com.amazonaws.dynamodb.v20120810";

/// The reason DynamoDB gives for the item that cancelled a transaction.
#[derive(Clone, Copy)]
pub(crate) enum CancellationReason {
    TransactionConflict,
    ThrottlingError,
}

impl CancellationReason {
    fn code(self) -> &'static str {
        match self {
            CancellationReason::TransactionConflict => "TransactionConflict",
            CancellationReason::ThrottlingError => "ThrottlingError",
        }
    }

    fn message(self) -> &'static str {
        match self {
            CancellationReason::TransactionConflict => "Transaction is ongoing for the item",
            CancellationReason::ThrottlingError => {
                "Throughput exceeds the current capacity for one or more global secondary indexes. \
                 DynamoDB is automatically scaling your index so please be patient"
            }
        }
    }
}

/// 400 `TransactionCanceledException` with one cancellation reason per transaction item: `reason`
/// for the item at `culprit`, `None` for the others. Note the capitalised `Message` of this error.
pub(crate) fn transaction_canceled(items: usize, culprit: usize, reason: CancellationReason, sequence: u64) -> Reply {
    let is_culprit = |item: usize| item == culprit;
    let codes: Vec<&str> = (0..items).map(|item| if is_culprit(item) { reason.code() } else { "None" }).collect();
    let reasons: Vec<String> = (0..items)
        .map(|item| match is_culprit(item) {
            true => format!(r#"{{"Code":"{}","Message":"{}"}}"#, reason.code(), reason.message()),
            false => r#"{"Code":"None"}"#.to_string(),
        })
        .collect();
    let (error_type, reasons) = (format!("{DYNAMODB_NAMESPACE}#TransactionCanceledException"), reasons.join(","));
    let message =
        format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", "));
    let body = format!(r#"{{"__type":"{error_type}","CancellationReasons":[{reasons}],"Message":"{message}"}}"#);
    json_reply(400, body, sequence)
}

/// 400 `ThrottlingException`, which DynamoDB sends from its shared availability layer, hence the
/// namespace.
pub(crate) fn throttling(sequence: u64) -> Reply {
    error(
        400,
        "com.amazon.coral.availability#ThrottlingException",
        "Rate of requests exceeds the allowed throughput.",
        sequence,
    )
}

/// A single-item write (PutItem, UpdateItem, DeleteItem) of an item a transaction is writing:
/// "Transaction conflict handling in DynamoDB", Developer Guide,
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-conflict-handling>.
pub(crate) fn transaction_conflict(sequence: u64) -> Reply {
    error(
        400,
        "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
        "Operation was rejected because there is an ongoing transaction for the item.",
        sequence,
    )
}

pub(crate) fn provisioned_throughput_exceeded(sequence: u64) -> Reply {
    let message = "The level of configured provisioned throughput for the table was exceeded. \
                   Consider increasing your provisioning level with the UpdateTable API.";
    error(400, &format!("{DYNAMODB_NAMESPACE}#ProvisionedThroughputExceededException"), message, sequence)
}

/// 500 `InternalServerError` or 503 `ServiceUnavailable`.
pub(crate) fn server_error(status: u16, sequence: u64) -> Reply {
    match status {
        503 => error(
            503,
            &format!("{DYNAMODB_NAMESPACE}#ServiceUnavailable"),
            "DynamoDB is currently unavailable. (This should be a temporary state.)",
            sequence,
        ),
        _ => error(500, &format!("{DYNAMODB_NAMESPACE}#InternalServerError"), "Internal server error", sequence),
    }
}

fn error(status: u16, error_type: &str, message: &str, sequence: u64) -> Reply {
    json_reply(status, format!(r#"{{"__type":"{error_type}","message":"{message}"}}"#), sequence)
}

/// A JSON answer with the headers DynamoDB always sends: a request id and the body's CRC32, which
/// some SDKs (botocore) verify.
fn json_reply(status: u16, body: String, sequence: u64) -> Reply {
    let body = Bytes::from(body);
    let headers = [
        ("content-type", JSON_CONTENT_TYPE.to_string()),
        ("x-amzn-requestid", request_id(sequence, 52, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")),
        ("x-amz-crc32", crc32(&body).to_string()),
    ];
    reply(status, &headers, body)
}

/// The number of entries in a `TransactWriteItems` body's `TransactItems`; 0 if unreadable.
pub(crate) fn transact_item_count(body: &Value) -> usize {
    body.get("TransactItems").and_then(Value::as_array).map_or(0, Vec::len)
}

/// Whether a read asks for `"ConsistentRead": true`.
pub(crate) fn is_consistent_read(body: &Value) -> bool {
    body.get("ConsistentRead").and_then(Value::as_bool) == Some(true)
}

/// CRC32 (IEEE, as in `x-amz-crc32`), bit by bit: answers are small and a table is not worth it.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}

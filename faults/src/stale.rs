//! Eventual consistency: the proxy remembers when each item was last written, so that reads which
//! are not strongly consistent can miss recent writes, as they may on a DynamoDB replica.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::Response;
use serde_json::{Map, Value};

use crate::dynamodb::crc32;
use crate::reply::replace_body;

/// When each item was last written, by table and key.
pub(crate) struct WriteLog {
    /// The attributes that make up item keys, in every table.
    key_attributes: Vec<String>,
    written: HashMap<String, Instant>,
}

impl WriteLog {
    pub fn new() -> WriteLog {
        WriteLog { key_attributes: vec!["pk".into(), "sk".into()], written: HashMap::new() }
    }

    pub fn set_key_attributes(&mut self, names: Vec<String>) {
        self.key_attributes = names;
    }

    /// Records the items a write request the upstream accepted has written.
    pub fn record(&mut self, operation: &str, request: &Value, now: Instant) {
        let mut written = Vec::new();
        match operation {
            "DynamoDB.PutItem" => written.extend(self.item_key(request, "Item")),
            "DynamoDB.UpdateItem" | "DynamoDB.DeleteItem" => written.extend(self.item_key(request, "Key")),
            "DynamoDB.TransactWriteItems" => {
                for entry in array(request, "TransactItems") {
                    written.extend(self.item_key(&entry["Put"], "Item"));
                    written.extend(self.item_key(&entry["Update"], "Key"));
                    written.extend(self.item_key(&entry["Delete"], "Key"));
                }
            }
            "DynamoDB.BatchWriteItem" => {
                let tables = request.get("RequestItems").and_then(Value::as_object).into_iter().flatten();
                for (table, entries) in tables {
                    for entry in entries.as_array().into_iter().flatten() {
                        let put = entry["PutRequest"]["Item"].as_object();
                        let delete = entry["DeleteRequest"]["Key"].as_object();
                        written.extend(put.or(delete).and_then(|key| self.key(table, key)));
                    }
                }
            }
            _ => {}
        }
        for key in written {
            self.written.insert(key, now);
        }
    }

    /// Removes from the answer to an eventually consistent GetItem, Query or Scan the items written
    /// less than `lag` ago. Returns whether it removed any.
    pub fn hide_recent(&self, request: &Value, answer: &mut Response<Bytes>, lag: Duration, now: Instant) -> bool {
        let Some(table) = request.get("TableName").and_then(Value::as_str) else { return false };
        let Ok(mut body) = serde_json::from_slice::<Value>(answer.body()) else { return false };
        let Some(fields) = body.as_object_mut() else { return false };
        let is_recent = |item: &Value| {
            let key = item.as_object().and_then(|item| self.key(table, item));
            key.and_then(|key| self.written.get(&key)).is_some_and(|&at| now.duration_since(at) < lag)
        };
        let hidden = if fields.get("Item").is_some_and(is_recent) {
            fields.remove("Item");
            1
        } else if let Some(Value::Array(items)) = fields.get_mut("Items") {
            let before = items.len();
            items.retain(|item| !is_recent(item));
            let hidden = before - items.len();
            // The replica has not seen the items, so it neither scanned nor returned them.
            for counter in ["Count", "ScannedCount"] {
                if let Some(count) = fields.get(counter).and_then(Value::as_u64) {
                    fields.insert(counter.into(), Value::from(count.saturating_sub(hidden as u64)));
                }
            }
            hidden
        } else {
            0
        };
        if hidden == 0 {
            return false;
        }
        let body = Bytes::from(body.to_string());
        // The checksum covers the body, so it has to follow the change.
        if answer.headers().contains_key("x-amz-crc32") {
            answer.headers_mut().insert("x-amz-crc32", HeaderValue::from(crc32(&body)));
        }
        replace_body(answer, body);
        true
    }

    /// The key of the item in `field` (`Item` or `Key`) of a single-item request or transaction entry.
    fn item_key(&self, request: &Value, field: &str) -> Option<String> {
        let table = request.get("TableName")?.as_str()?;
        self.key(table, request.get(field)?.as_object()?)
    }

    /// The table and the key attributes of an item or key, e.g. `items pk={"S":"a"} sk={"S":"b"}`;
    /// `None` if the item has none of the key attributes.
    fn key(&self, table: &str, item: &Map<String, Value>) -> Option<String> {
        let mut key = table.to_string();
        for name in &self.key_attributes {
            if let Some(value) = item.get(name) {
                key.push_str(&format!(" {name}={value}"));
            }
        }
        (key.len() > table.len()).then_some(key)
    }
}

fn array<'a>(value: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    value.get(field).and_then(Value::as_array).into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn answer(body: Value) -> Response<Bytes> {
        Response::new(Bytes::from(body.to_string()))
    }

    #[test]
    fn records_every_kind_of_write() {
        let mut log = WriteLog::new();
        let now = Instant::now();
        let item = |pk: &str| json!({"pk": {"S": pk}, "sk": {"S": "s"}, "data": {"S": "x"}});
        log.record("DynamoDB.PutItem", &json!({"TableName": "t", "Item": item("put")}), now);
        log.record("DynamoDB.UpdateItem", &json!({"TableName": "t", "Key": {"pk": {"S": "update"}}}), now);
        let transaction = json!({"TransactItems": [
            {"Put": {"TableName": "t", "Item": item("tput")}},
            {"Delete": {"TableName": "t", "Key": {"pk": {"S": "tdelete"}, "sk": {"S": "s"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "check"}, "sk": {"S": "s"}}}},
        ]});
        log.record("DynamoDB.TransactWriteItems", &transaction, now);
        let batch = json!({"RequestItems": {"t": [{"PutRequest": {"Item": item("bput")}}]}});
        log.record("DynamoDB.BatchWriteItem", &batch, now);
        let mut keys: Vec<&str> = log.written.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                r#"t pk={"S":"bput"} sk={"S":"s"}"#,
                r#"t pk={"S":"put"} sk={"S":"s"}"#,
                r#"t pk={"S":"tdelete"} sk={"S":"s"}"#,
                r#"t pk={"S":"tput"} sk={"S":"s"}"#,
                r#"t pk={"S":"update"}"#,
            ]
        );
    }

    #[test]
    fn hides_recent_items_from_queries_and_fixes_the_count() {
        let mut log = WriteLog::new();
        let written = Instant::now();
        let item = |pk: &str| json!({"pk": {"S": pk}, "sk": {"S": "s"}});
        log.record("DynamoDB.PutItem", &json!({"TableName": "t", "Item": item("new")}), written);
        let query = json!({"TableName": "t"});
        let mut response = answer(json!({"Items": [item("old"), item("new")], "Count": 2, "ScannedCount": 2}));
        assert!(log.hide_recent(&query, &mut response, Duration::from_secs(1), written));
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body, json!({"Items": [item("old")], "Count": 1, "ScannedCount": 1}));

        let mut response = answer(json!({"Items": [item("new")], "Count": 1}));
        let later = written + Duration::from_secs(2);
        assert!(!log.hide_recent(&query, &mut response, Duration::from_secs(1), later));
    }
}

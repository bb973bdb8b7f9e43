//! DynamoDB faults: the exact answers, and stale reads.

use std::time::Duration;

use crate::common::{crc32, dynamodb, header, send, text, Client, Upstream};
use bytes::Bytes;
use faults::{Fault, FaultProxy, Match, Rule};
use hyper::Response;
use serde_json::{json, Value};

fn transact(items: usize) -> hyper::Request<String> {
    let item = |index: usize| json!({"Put": {"TableName": "t", "Item": {"pk": {"S": format!("item{index}")}}}});
    dynamodb("TransactWriteItems", json!({"TransactItems": (0..items).map(item).collect::<Vec<_>>()}))
}

/// Checks the headers DynamoDB sends with every JSON answer.
fn assert_dynamodb_headers(response: &Response<Bytes>) {
    assert_eq!(header(response, "content-type"), "application/x-amz-json-1.0");
    assert_eq!(header(response, "x-amz-crc32"), crc32(response.body()).to_string());
    assert_eq!(header(response, "content-length"), response.body().len().to_string());
    let request_id = header(response, "x-amzn-requestid");
    assert_eq!(request_id.len(), 52);
    assert!(request_id.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()), "{request_id}");
}

#[tokio::test]
async fn transaction_conflict_cancels_with_one_reason_per_item() {
    let upstream = Upstream::empty_json().await;
    let proxy = FaultProxy::start(&upstream.url, 3).await;
    proxy.set_rules(vec![Rule::new(Match::Any, Fault::TransactionConflict)]);

    let response = send(&proxy.url(), transact(1)).await;
    assert_eq!(response.status(), 400);
    assert_dynamodb_headers(&response);
    assert_eq!(
        text(&response),
        concat!(
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","#,
            r#""CancellationReasons":[{"Code":"TransactionConflict","#,
            r#""Message":"Transaction is ongoing for the item"}],"#,
            r#""Message":"Transaction cancelled, please refer cancellation reasons for specific reasons "#,
            r#"[TransactionConflict]"}"#
        )
    );

    for items in [2, 5, 25] {
        let response = send(&proxy.url(), transact(items)).await;
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        let reasons = body["CancellationReasons"].as_array().unwrap();
        assert_eq!(reasons.len(), items);
        let conflict = json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"});
        assert_eq!(reasons.iter().filter(|reason| **reason == conflict).count(), 1);
        assert_eq!(reasons.iter().filter(|reason| **reason == json!({"Code": "None"})).count(), items - 1);
        let codes: Vec<&str> = reasons.iter().map(|reason| reason["Code"].as_str().unwrap()).collect();
        let message = format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        );
        assert_eq!(body["Message"], message);
    }
    assert!(upstream.seen().is_empty());
    assert_eq!(proxy.injected(), [("TransactionConflict".to_string(), 4)].into());
}

#[tokio::test]
async fn transaction_throttled_names_the_throttled_item() {
    let upstream = Upstream::empty_json().await;
    let proxy = FaultProxy::start(&upstream.url, 3).await;
    proxy.set_rules(vec![Rule::new(Match::Any, Fault::TransactionThrottled)]);

    let response = send(&proxy.url(), transact(1)).await;

    assert_eq!(response.status(), 400);
    assert_dynamodb_headers(&response);
    assert_eq!(
        text(&response),
        concat!(
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","#,
            r#""CancellationReasons":[{"Code":"ThrottlingError","Message":"Throughput exceeds the current "#,
            r#"capacity for one or more global secondary indexes. DynamoDB is automatically scaling your index "#,
            r#"so please be patient"}],"#,
            r#""Message":"Transaction cancelled, please refer cancellation reasons for specific reasons "#,
            r#"[ThrottlingError]"}"#
        )
    );
}

#[tokio::test]
async fn transaction_faults_leave_other_operations_alone() {
    let upstream = Upstream::empty_json().await;
    let proxy = FaultProxy::start(&upstream.url, 3).await;
    proxy.set_rules(vec![Rule::new(Match::Any, Fault::TransactionConflict)]);

    let response = send(&proxy.url(), dynamodb("PutItem", json!({}))).await;

    assert_eq!(response.status(), 200);
    assert_eq!(upstream.seen().len(), 1);
    assert!(proxy.injected().is_empty());
}

#[tokio::test]
async fn error_answers_are_the_ones_dynamodb_sends() {
    let cases = [
        (
            Fault::Throttling,
            400,
            concat!(
                r#"{"__type":"com.amazon.coral.availability#ThrottlingException","#,
                r#""message":"Rate of requests exceeds the allowed throughput."}"#
            ),
        ),
        (
            Fault::ProvisionedThroughputExceeded,
            400,
            concat!(
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","#,
                r#""message":"The level of configured provisioned throughput for the table was exceeded. "#,
                r#"Consider increasing your provisioning level with the UpdateTable API."}"#
            ),
        ),
        (
            Fault::ServerError(500),
            500,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#,
        ),
        (
            Fault::ServerError(503),
            503,
            concat!(
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ServiceUnavailable","#,
                r#""message":"DynamoDB is currently unavailable. (This should be a temporary state.)"}"#
            ),
        ),
    ];
    let upstream = Upstream::empty_json().await;
    let proxy = FaultProxy::start(&upstream.url, 3).await;
    for (fault, status, body) in cases {
        proxy.set_rules(vec![Rule::new(Match::Prefix("DynamoDB.".into()), fault)]);
        let response = send(&proxy.url(), dynamodb("GetItem", json!({}))).await;
        assert_eq!(response.status(), status);
        assert_dynamodb_headers(&response);
        assert_eq!(text(&response), body);
    }
    assert!(upstream.seen().is_empty());
    let injected = [("ProvisionedThroughputExceeded", 1), ("ServerError", 2), ("Throttling", 1)];
    assert_eq!(proxy.injected(), injected.iter().map(|(name, count)| (name.to_string(), *count)).collect());
}

#[tokio::test]
async fn respond_answers_anything() {
    let upstream = Upstream::empty_json().await;
    let proxy = FaultProxy::start(&upstream.url, 3).await;
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#RequestLimitExceeded","message":"Too many"}"#;
    let fault = Fault::Respond { status: 400, content_type: "application/x-amz-json-1.0".into(), body: body.into() };
    proxy.set_rules(vec![Rule::new(Match::Any, fault)]);

    let response = send(&proxy.url(), dynamodb("PutItem", json!({}))).await;

    assert_eq!(response.status(), 400);
    assert_eq!(header(&response, "content-type"), "application/x-amz-json-1.0");
    assert_eq!(text(&response), body);
    assert!(upstream.seen().is_empty());
}

/// An upstream that always has items `a` and `b` of table `t`.
async fn table_upstream() -> Upstream {
    Upstream::start(|seen| {
        let item = |pk: &str| json!({"pk": {"S": pk}, "sk": {"S": "s"}, "data": {"N": "1"}});
        let body = match seen.header("x-amz-target").unwrap_or_default() {
            "DynamoDB_20120810.GetItem" => json!({"Item": item(seen.json()["Key"]["pk"]["S"].as_str().unwrap())}),
            "DynamoDB_20120810.Query" => json!({"Items": [item("a"), item("b")], "Count": 2, "ScannedCount": 2}),
            _ => json!({}),
        }
        .to_string();
        Response::builder()
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-crc32", crc32(body.as_bytes()).to_string())
            .body(body)
            .unwrap()
    })
    .await
}

fn key(pk: &str) -> Value {
    json!({"pk": {"S": pk}, "sk": {"S": "s"}})
}

#[tokio::test]
async fn stale_reads_miss_recent_writes_unless_consistent() {
    let upstream = table_upstream().await;
    let proxy = FaultProxy::start(&upstream.url, 3).await;
    let mut client = Client::connect(&proxy.url()).await;
    // Writes are recorded before any rule is set.
    let put = json!({"TableName": "t", "Item": {"pk": {"S": "a"}, "sk": {"S": "s"}, "data": {"N": "1"}}});
    client.send(dynamodb("PutItem", put)).await.unwrap();
    proxy.set_rules(vec![Rule::new(Match::Prefix("DynamoDB.".into()), Fault::StaleReads(Duration::from_millis(500)))]);

    let query = client.send(dynamodb("Query", json!({"TableName": "t"}))).await.unwrap();
    let body: Value = serde_json::from_slice(query.body()).unwrap();
    assert_eq!(body["Items"], json!([{"pk": {"S": "b"}, "sk": {"S": "s"}, "data": {"N": "1"}}]));
    assert_eq!((body["Count"].as_u64(), body["ScannedCount"].as_u64()), (Some(1), Some(1)));
    assert_eq!(header(&query, "x-amz-crc32"), crc32(query.body()).to_string());
    assert_eq!(header(&query, "content-length"), query.body().len().to_string());

    let get = client.send(dynamodb("GetItem", json!({"TableName": "t", "Key": key("a")}))).await.unwrap();
    assert_eq!(text(&get), "{}");
    let other = client.send(dynamodb("GetItem", json!({"TableName": "t", "Key": key("b")}))).await.unwrap();
    assert!(text(&other).contains("Item"));
    let other_table = client.send(dynamodb("GetItem", json!({"TableName": "u", "Key": key("a")}))).await.unwrap();
    assert!(text(&other_table).contains("Item"));

    let consistent = json!({"TableName": "t", "ConsistentRead": true});
    let query = client.send(dynamodb("Query", consistent)).await.unwrap();
    assert_eq!(serde_json::from_slice::<Value>(query.body()).unwrap()["Count"], 2);
    let consistent = json!({"TableName": "t", "Key": key("a"), "ConsistentRead": true});
    assert!(text(&client.send(dynamodb("GetItem", consistent)).await.unwrap()).contains("Item"));

    tokio::time::sleep(Duration::from_millis(550)).await;
    let query = client.send(dynamodb("Query", json!({"TableName": "t"}))).await.unwrap();
    assert_eq!(serde_json::from_slice::<Value>(query.body()).unwrap()["Count"], 2);
    assert_eq!(proxy.injected(), [("StaleReads".to_string(), 2)].into());
}

#[tokio::test]
async fn stale_reads_follow_transactions_and_configured_keys() {
    let upstream = table_upstream().await;
    let proxy = FaultProxy::start(&upstream.url, 3).await;
    proxy.set_key_attributes(&["pk"]);
    proxy.set_rules(vec![Rule::new(Match::Any, Fault::StaleReads(Duration::from_secs(5))).at_most(1)]);
    let mut client = Client::connect(&proxy.url()).await;
    let update = json!({"Update": {"TableName": "t", "Key": {"pk": {"S": "b"}}}});
    client.send(dynamodb("TransactWriteItems", json!({"TransactItems": [update]}))).await.unwrap();

    let query = client.send(dynamodb("Query", json!({"TableName": "t"}))).await.unwrap();
    assert_eq!(serde_json::from_slice::<Value>(query.body()).unwrap()["Items"][0]["pk"]["S"], "a");
    // The rule is used up.
    let query = client.send(dynamodb("Query", json!({"TableName": "t"}))).await.unwrap();
    assert_eq!(serde_json::from_slice::<Value>(query.body()).unwrap()["Count"], 2);
}

//! Faults that act on the connection: resets, lost replies, latency.

use std::error::Error;
use std::time::{Duration, Instant};

use crate::common::{dynamodb, raw_dynamodb, raw_exchange, text, Client, Ending, Upstream};
use faults::{Fault, FaultProxy, Match, Rule};
use serde_json::json;

#[tokio::test]
async fn connection_reset_closes_without_an_answer_or_forwarding() {
    let upstream = Upstream::empty_json().await;
    let proxy = FaultProxy::start(&upstream.url, 1).await;
    proxy.set_rules(vec![Rule::new(Match::Any, Fault::ConnectionReset)]);

    let (received, ending) = raw_exchange(&proxy.url(), &raw_dynamodb("PutItem", "{}")).await;

    assert!(received.is_empty(), "{}", String::from_utf8_lossy(&received));
    assert_eq!(ending, Ending::Reset);
    assert!(upstream.seen().is_empty());
    assert_eq!(proxy.injected(), [("ConnectionReset".to_string(), 1)].into());
}

#[tokio::test]
async fn an_http_client_sees_an_error_for_a_reset() {
    let upstream = Upstream::empty_json().await;
    let proxy = FaultProxy::start(&upstream.url, 1).await;
    proxy.set_rules(vec![Rule::new(Match::Any, Fault::ConnectionReset).at_most(1)]);
    let mut client = Client::connect(&proxy.url()).await;

    let error = client.send(dynamodb("PutItem", json!({}))).await.unwrap_err();

    assert!(is_reset(&error), "{error:?}");
    // A new connection works again once the rule is used up.
    let response = Client::connect(&proxy.url()).await.send(dynamodb("PutItem", json!({}))).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.seen().len(), 1);
}

#[tokio::test]
async fn commit_then_drop_reply_forwards_once_and_closes_without_an_answer() {
    let upstream = Upstream::empty_json().await;
    let proxy = FaultProxy::start(&upstream.url, 1).await;
    proxy.set_rules(vec![Rule::new(Match::Operation("DynamoDB.PutItem".into()), Fault::CommitThenDropReply)]);
    let body = r#"{"TableName":"t","Item":{"pk":{"S":"a"}}}"#;

    let (received, ending) = raw_exchange(&proxy.url(), &raw_dynamodb("PutItem", body)).await;

    assert!(received.is_empty(), "{}", String::from_utf8_lossy(&received));
    assert_eq!(ending, Ending::Reset);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, body);
    assert_eq!(proxy.injected(), [("CommitThenDropReply".to_string(), 1)].into());
}

#[tokio::test]
async fn an_http_client_sees_an_error_for_a_dropped_reply() {
    let upstream = Upstream::empty_json().await;
    let proxy = FaultProxy::start(&upstream.url, 1).await;
    proxy.set_rules(vec![Rule::new(Match::Any, Fault::CommitThenDropReply)]);
    let mut client = Client::connect(&proxy.url()).await;

    let error = client.send(dynamodb("PutItem", json!({}))).await.unwrap_err();

    assert!(is_reset(&error), "{error:?}");
    assert_eq!(upstream.seen().len(), 1);
}

#[tokio::test]
async fn latency_delays_then_forwards() {
    let upstream = Upstream::empty_json().await;
    let proxy = FaultProxy::start(&upstream.url, 1).await;
    proxy.set_rules(vec![Rule::new(Match::Prefix("DynamoDB.".into()), Fault::Latency(Duration::from_millis(200)))]);
    let mut client = Client::connect(&proxy.url()).await;

    let started = Instant::now();
    let response = client.send(dynamodb("GetItem", json!({}))).await.unwrap();

    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(response.status(), 200);
    assert_eq!(text(&response), "{}");
    assert_eq!(upstream.seen().len(), 1);
    assert_eq!(proxy.injected(), [("Latency".to_string(), 1)].into());
}

/// Whether the client failed because the connection was reset (rather than closed).
fn is_reset(error: &hyper::Error) -> bool {
    let io = error.source().and_then(|source| source.downcast_ref::<std::io::Error>());
    io.is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionReset)
}

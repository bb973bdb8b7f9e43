//! How rules choose requests: probability, limits, seeds, order.

use crate::common::{dynamodb, s3, Client, Upstream};
use faults::{Fault, FaultProxy, Match, Rule};
use serde_json::json;

/// The statuses of `count` GetItem calls in a row.
async fn statuses(proxy: &FaultProxy, count: usize) -> Vec<u16> {
    let mut client = Client::connect(&proxy.url()).await;
    let mut statuses = Vec::new();
    for _ in 0..count {
        statuses.push(client.send(dynamodb("GetItem", json!({}))).await.unwrap().status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn probability_zero_never_fires_and_one_always_does() {
    let upstream = Upstream::empty_json().await;
    let proxy = FaultProxy::start(&upstream.url, 1).await;
    proxy.set_rules(vec![Rule::new(Match::Any, Fault::Throttling).with_probability(0.0)]);
    assert_eq!(statuses(&proxy, 20).await, vec![200; 20]);
    proxy.set_rules(vec![Rule::new(Match::Any, Fault::Throttling).with_probability(1.0)]);
    assert_eq!(statuses(&proxy, 20).await, vec![400; 20]);
    proxy.clear_rules();
    assert_eq!(statuses(&proxy, 3).await, vec![200; 3]);
    assert_eq!(upstream.seen().len(), 23);
    assert_eq!(proxy.injected(), [("Throttling".to_string(), 20)].into());
}

#[tokio::test]
async fn max_times_limits_injections_and_later_rules_take_over() {
    let upstream = Upstream::empty_json().await;
    let proxy = FaultProxy::start(&upstream.url, 1).await;
    proxy.set_rules(vec![
        Rule::new(Match::Operation("DynamoDB.GetItem".into()), Fault::Throttling).at_most(2),
        Rule::new(Match::Prefix("DynamoDB.".into()), Fault::ServerError(500)).at_most(1),
    ]);
    assert_eq!(statuses(&proxy, 5).await, [400, 400, 500, 200, 200]);
    let injected = [("ServerError", 1), ("Throttling", 2)];
    assert_eq!(proxy.injected(), injected.iter().map(|(name, count)| (name.to_string(), *count)).collect());
}

#[tokio::test]
async fn rules_match_by_operation_and_prefix() {
    let upstream = Upstream::empty_json().await;
    let proxy = FaultProxy::start(&upstream.url, 1).await;
    proxy.set_rules(vec![
        Rule::new(Match::Operation("DynamoDB.PutItem".into()), Fault::ServerError(500)),
        Rule::new(Match::Prefix("S3.".into()), Fault::ServerError(503)),
    ]);
    let mut client = Client::connect(&proxy.url()).await;
    assert_eq!(client.send(dynamodb("PutItem", json!({}))).await.unwrap().status(), 500);
    assert_eq!(client.send(dynamodb("GetItem", json!({}))).await.unwrap().status(), 200);
    assert_eq!(client.send(s3("GET", "/bucket/key")).await.unwrap().status(), 503);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults() {
    let upstream = Upstream::empty_json().await;
    let mut runs = Vec::new();
    for seed in [7, 7, 8] {
        let proxy = FaultProxy::start(&upstream.url, seed).await;
        proxy.set_rules(vec![Rule::new(Match::Any, Fault::Throttling).with_probability(0.5)]);
        runs.push(statuses(&proxy, 40).await);
    }
    assert_eq!(runs[0], runs[1]);
    assert_ne!(runs[0], runs[2]);
    let faulted = runs[0].iter().filter(|&&status| status == 400).count();
    assert!((8..=32).contains(&faulted), "{faulted} of 40 faulted at probability 0.5");
}

#[tokio::test]
async fn the_same_seed_picks_the_same_conflicting_items() {
    let upstream = Upstream::empty_json().await;
    let items: Vec<_> = (0..10).map(|_| json!({"Put": {"TableName": "t", "Item": {}}})).collect();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let proxy = FaultProxy::start(&upstream.url, 11).await;
        proxy.set_rules(vec![Rule::new(Match::Any, Fault::TransactionConflict)]);
        let mut client = Client::connect(&proxy.url()).await;
        let mut bodies = Vec::new();
        for _ in 0..10 {
            let response = client.send(dynamodb("TransactWriteItems", json!({"TransactItems": items}))).await.unwrap();
            let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
            bodies.push(body["CancellationReasons"].clone());
        }
        runs.push(bodies);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].iter().any(|reasons| *reasons != runs[0][0]), "the conflicting item varies");
}

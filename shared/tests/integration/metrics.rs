//! The metrics the functions emit, read back from their lines and held to the CloudWatch
//! Embedded Metric Format (the `_aws` metadata, namespaces, dimension sets, metric definitions
//! and the values they name, as the format's specification requires).

use std::collections::BTreeSet;

use serde_json::Value;
use shared::classifier::TermMatchClassifier;
use shared::domain::{object_key, DocumentId, UserId};
use shared::entry::http as handlers;
use shared::entry::object_events::handle_s3_event;
use shared::metrics::Metrics;
use shared::App;

use crate::common::{self, app, event_request, new_user, put_object_directly, reply_of, upload_url_request, Api};

/// The units EMF accepts.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks one line against the format; returns it parsed.
fn conforming(line: &str) -> Value {
    let root: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
    let aws = &root["_aws"];
    assert!(aws["Timestamp"].as_u64().is_some_and(|t| t > 1_600_000_000_000), "Timestamp in ms: {line}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics is an array");
    assert!(!directives.is_empty());
    for directive in directives {
        let namespace = directive["Namespace"].as_str().expect("a Namespace");
        assert!((1..=255).contains(&namespace.len()));
        for set in directive["Dimensions"].as_array().expect("Dimensions is an array") {
            let set = set.as_array().expect("a dimension set is an array");
            assert!(!set.is_empty() && set.len() <= 30, "{line}");
            for dimension in set {
                let name = dimension.as_str().expect("dimension names are strings");
                assert!(root[name].is_string(), "dimension {name} has a string value at the root: {line}");
            }
        }
        let metrics = directive["Metrics"].as_array().expect("Metrics is an array");
        assert!(!metrics.is_empty() && metrics.len() <= 100);
        for metric in metrics {
            let name = metric["Name"].as_str().expect("a metric Name");
            assert!((1..=255).contains(&name.len()));
            assert!(UNITS.contains(&metric["Unit"].as_str().expect("a Unit")), "{line}");
            assert!(root[name].is_number(), "metric {name} has a number at the root: {line}");
        }
    }
    root
}

#[tokio::test]
async fn every_operation_emits_conforming_metrics() {
    let (metrics, lines) = Metrics::captured("DocumentUploadsTest");
    let app = App { metrics, ..app().await };
    let (api, user) = (Api::new(), new_user());

    let upload = reply_of(handlers::upload_url(&app, upload_url_request(&user, "notes.txt", Some(23))).await.unwrap());
    let id = upload.body["document_id"].as_str().unwrap().to_owned();
    assert_eq!(api.put_object(&upload.body, b"Invoice: payment is due".to_vec()).await, 200);
    let confirm = reply_of(handlers::confirm(&app, event_request("confirm.json", &user, Some(&id))).await.unwrap());
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let over = reply_of(handlers::upload_url(&app, upload_url_request(&user, "big.txt", Some(1 << 30))).await.unwrap());
    assert_eq!(over.status, 413);
    reply_of(handlers::quota(&app, event_request("quota.json", &user, None)).await.unwrap());

    // An object event: one classification, and one object without a document.
    let owner = UserId::parse(&user).unwrap();
    let orphan = DocumentId::new();
    put_object_directly(&app, &user, &orphan.to_string(), b"nobody's".to_vec()).await;
    let mut event = common::event_json("s3-put.json");
    let record = event["Records"][0].clone();
    event["Records"] = serde_json::json!([record.clone(), record]);
    for (i, doc) in [DocumentId::parse(&id).unwrap(), orphan].iter().enumerate() {
        event["Records"][i]["s3"]["bucket"]["name"] = app.config.bucket_name.clone().into();
        event["Records"][i]["s3"]["object"]["key"] = object_key(&owner, *doc).into();
    }
    let summary = handle_s3_event(
        &app,
        &TermMatchClassifier::default(),
        lambda_runtime::LambdaEvent::new(event, Default::default()),
    )
    .await
    .unwrap();
    assert_eq!((summary.classified, summary.orphans_removed), (1, 1));
    let delete = handlers::delete(&app, event_request("delete.json", &user, Some(&id))).await.unwrap();
    assert_eq!(delete.status(), 204);

    let lines = lines.lock().unwrap().clone();
    let parsed: Vec<Value> = lines.iter().map(|line| conforming(line)).collect();
    let value_of = |operation: &str, metric: &str| -> Vec<f64> {
        parsed
            .iter()
            .filter(|line| line["Operation"] == operation && line[metric].is_number())
            .map(|line| line[metric].as_f64().unwrap())
            .collect()
    };
    let requests: BTreeSet<(String, String)> = parsed
        .iter()
        .filter(|line| line["Requests"].is_number())
        .map(|line| (line["Operation"].as_str().unwrap().to_owned(), line["StatusClass"].as_str().unwrap().to_owned()))
        .collect();
    for expected in
        [("upload-url", "2xx"), ("upload-url", "4xx"), ("confirm", "2xx"), ("quota", "2xx"), ("delete", "2xx")]
    {
        assert!(requests.contains(&(expected.0.into(), expected.1.into())), "{expected:?} in {requests:?}");
    }
    assert_eq!(value_of("confirm", "DocumentsConfirmed"), [1.0]);
    assert_eq!(value_of("confirm", "BytesCharged"), [23.0]);
    assert_eq!(value_of("delete", "BytesRefunded"), [23.0]);
    assert_eq!(value_of("upload-url", "QuotaRefusals"), [1.0]);
    assert_eq!(value_of("classify", "OrphansRemoved"), [1.0]);
    assert_eq!(value_of("classify", "ClassificationOutcomes"), [1.0]);
    assert_eq!(value_of("classify", "ExtractionTime").len(), 1);
    assert!(value_of("confirm", "Latency").iter().all(|ms| *ms > 0.0));
    println!("{} metric lines, all conforming; e.g. {}", lines.len(), lines[0]);
}

//! Without faults the proxy is transparent, and it counts requests by operation.

use std::time::Duration;

use crate::common::{dynamodb, header, raw_upstream, s3, send, text, Client, Upstream};
use faults::FaultProxy;
use hyper::{Request, Response};
use serde_json::json;

#[tokio::test]
async fn forwards_requests_and_answers_unchanged() {
    let upstream = Upstream::start(|_| {
        Response::builder()
            .status(201)
            .header("x-upstream", "yes")
            .header("etag", "\"abc\"")
            .body("made".to_string())
            .unwrap()
    })
    .await;
    let proxy = FaultProxy::start(&upstream.url, 1).await;
    let request = Request::put("/bucket/some%20key?x-id=PutObject&tagging")
        .header("host", "bucket.localhost:4566")
        .header("authorization", "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/s3/aws4_request, Signature=ab")
        .header("x-amz-date", "20240101T000000Z")
        .header("x-amz-meta-Mixed", "Value With Spaces")
        .header("x-amz-meta-mixed", "second value")
        .body("the body \u{1F600}".to_string())
        .unwrap();

    let response = send(&proxy.url(), request).await;

    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "PUT");
    assert_eq!(seen[0].uri, "/bucket/some%20key?x-id=PutObject&tagging");
    assert_eq!(seen[0].body, "the body \u{1F600}");
    let expected_headers = [
        ("host", "bucket.localhost:4566"),
        ("authorization", "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/s3/aws4_request, Signature=ab"),
        ("x-amz-date", "20240101T000000Z"),
        ("x-amz-meta-mixed", "Value With Spaces"),
        ("x-amz-meta-mixed", "second value"),
        ("content-length", "13"),
    ];
    let expected_headers: Vec<(String, String)> =
        expected_headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    assert_eq!(seen[0].headers, expected_headers);
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "x-upstream"), "yes");
    assert_eq!(header(&response, "etag"), "\"abc\"");
    assert_eq!(text(&response), "made");
}

#[tokio::test]
async fn serves_many_requests_on_one_connection_with_one_upstream_connection() {
    let upstream = Upstream::start(|seen| Response::new(format!("echo {}", seen.uri))).await;
    let proxy = FaultProxy::start(&upstream.url, 1).await;
    let mut client = Client::connect(&proxy.url()).await;
    for index in 0..5 {
        let response = client.send(s3("GET", &format!("/bucket/{index}"))).await.unwrap();
        assert_eq!(text(&response), format!("echo /bucket/{index}"));
    }
    assert_eq!(upstream.seen().len(), 5);
    assert_eq!(upstream.connections(), 1);
}

#[tokio::test]
async fn answers_502_when_the_upstream_is_unreachable() {
    let unused = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = unused.local_addr().unwrap();
    drop(unused);
    let proxy = FaultProxy::start(&format!("http://{address}"), 1).await;
    let response = send(&proxy.url(), s3("GET", "/bucket/key")).await;
    assert_eq!(response.status(), 502);
    assert!(text(&response).contains(&address.to_string()), "{}", text(&response));
}

#[tokio::test]
async fn counts_requests_by_operation() {
    let upstream = Upstream::empty_json().await;
    let proxy = FaultProxy::start(&upstream.url, 1).await;
    let mut client = Client::connect(&proxy.url()).await;
    for request in [
        dynamodb("PutItem", json!({})),
        dynamodb("PutItem", json!({})),
        dynamodb("TransactWriteItems", json!({})),
        s3("PUT", "/bucket/key"),
        s3("GET", "/bucket/key"),
        s3("HEAD", "/bucket/key"),
        s3("DELETE", "/bucket/key"),
        s3("POST", "/bucket/key?uploads"),
        s3("PUT", "/bucket/key?partNumber=1&uploadId=u"),
        s3("POST", "/bucket/key?uploadId=u"),
    ] {
        client.send(request).await.unwrap();
    }
    let expected = [
        ("DynamoDB.PutItem", 2),
        ("DynamoDB.TransactWriteItems", 1),
        ("S3.CompleteMultipartUpload", 1),
        ("S3.CreateMultipartUpload", 1),
        ("S3.DELETE", 1),
        ("S3.GET", 1),
        ("S3.HEAD", 1),
        ("S3.PUT", 1),
        ("S3.UploadPart", 1),
    ];
    let expected = expected.iter().map(|(name, count)| (name.to_string(), *count)).collect();
    assert_eq!(proxy.requests(), expected);
    assert_eq!(proxy.take_requests(), expected);
    assert!(proxy.requests().is_empty());
    assert!(proxy.injected().is_empty());
}

#[tokio::test]
async fn reconnects_when_the_upstream_closes_an_idle_connection() {
    let upstream = raw_upstream(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", true).await;
    let proxy = FaultProxy::start(&upstream, 1).await;
    let mut client = Client::connect(&proxy.url()).await;
    for _ in 0..3 {
        let response = client.send(s3("GET", "/bucket/key")).await.unwrap();
        assert_eq!((response.status().as_u16(), text(&response)), (200, "ok"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn keeps_the_length_of_head_answers() {
    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\netag: \"abc\"\r\n\r\n";
    let proxy = FaultProxy::start(&raw_upstream(answer, false).await, 1).await;
    let mut client = Client::connect(&proxy.url()).await;
    for _ in 0..2 {
        let response = client.send(s3("HEAD", "/bucket/key")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "content-length"), "1234");
        assert_eq!(header(&response, "etag"), "\"abc\"");
        assert!(response.body().is_empty());
    }
}

//! S3 faults: XML errors, and 403 for missing keys.

use crate::common::{header, s3, send, text, Client, Upstream};
use faults::{Fault, FaultProxy, Match, Rule};
use hyper::Response;

fn s3_error(code: &str, message: &str, request_id: &str, host_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>\
         <RequestId>{request_id}</RequestId><HostId>{host_id}</HostId></Error>"
    )
}

#[tokio::test]
async fn throttling_and_server_errors_are_s3_xml_errors() {
    let cases = [
        (Fault::Throttling, 503, "SlowDown", "Please reduce your request rate."),
        (Fault::ProvisionedThroughputExceeded, 503, "SlowDown", "Please reduce your request rate."),
        (Fault::ServerError(503), 503, "SlowDown", "Please reduce your request rate."),
        (Fault::ServerError(500), 500, "InternalError", "We encountered an internal error. Please try again."),
    ];
    let upstream = Upstream::empty_json().await;
    let proxy = FaultProxy::start(&upstream.url, 1).await;
    for (fault, status, code, message) in cases {
        proxy.set_rules(vec![Rule::new(Match::Prefix("S3.".into()), fault)]);
        let response = send(&proxy.url(), s3("PUT", "/bucket/key")).await;
        assert_eq!(response.status(), status);
        assert_eq!(header(&response, "content-type"), "application/xml");
        let request_id = header(&response, "x-amz-request-id");
        assert_eq!(request_id.len(), 16);
        let host_id = header(&response, "x-amz-id-2");
        assert_eq!(text(&response), s3_error(code, message, request_id, host_id));

        let head = send(&proxy.url(), s3("HEAD", "/bucket/key")).await;
        assert_eq!(head.status(), status);
        assert!(head.body().is_empty());
    }
    assert!(upstream.seen().is_empty());
}

#[tokio::test]
async fn missing_key_forbidden_turns_404_into_403_for_head_and_get_only() {
    let upstream = Upstream::start(|seen| {
        let status = if seen.uri.contains("missing") { 404 } else { 200 };
        let body = if seen.method == "HEAD" { String::new() } else { format!("{status} from upstream") };
        Response::builder().status(status).body(body).unwrap()
    })
    .await;
    let proxy = FaultProxy::start(&upstream.url, 1).await;
    proxy.set_rules(vec![Rule::new(Match::Prefix("S3.".into()), Fault::MissingKeyForbidden)]);
    let mut client = Client::connect(&proxy.url()).await;

    let head = client.send(s3("HEAD", "/bucket/missing")).await.unwrap();
    assert_eq!(head.status(), 403);
    assert!(head.body().is_empty());

    let get = client.send(s3("GET", "/bucket/missing")).await.unwrap();
    assert_eq!(get.status(), 403);
    let (request_id, host_id) = (header(&get, "x-amz-request-id"), header(&get, "x-amz-id-2"));
    assert_eq!(text(&get), s3_error("AccessDenied", "Access Denied", request_id, host_id));

    for (method, path, status) in
        [("GET", "/bucket/present", 200), ("PUT", "/bucket/missing", 404), ("DELETE", "/bucket/missing", 404)]
    {
        let response = client.send(s3(method, path)).await.unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
        if method != "HEAD" {
            assert_eq!(text(&response), format!("{status} from upstream"));
        }
    }
    assert_eq!(upstream.seen().len(), 5);
    assert_eq!(proxy.injected(), [("MissingKeyForbidden".to_string(), 2)].into());
}

//! X-Ray: every AWS call of a sampled invocation reaches the daemon as a subsegment of the
//! function's segment; an unsampled invocation sends nothing. The daemon here is a UDP socket of
//! the test's own, standing where Lambda's daemon listens (`AWS_XRAY_DAEMON_ADDRESS`).

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::time::Duration;

use lambda_http::RequestExt;
use serde_json::{json, Value};
use shared::classifier::TermMatchClassifier;
use shared::domain::{object_key, DocumentId, UserId};
use shared::entry::http as handlers;
use shared::entry::object_events::handle_s3_event;
use shared::App;

use crate::common::{self, event_request, new_user, put_object_directly, reply_of, upload_url_request, Api};

const DAEMON_HEADER: &str = "{\"format\": \"json\", \"version\": 1}";

struct Daemon {
    socket: UdpSocket,
}

impl Daemon {
    fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        Self { socket }
    }

    /// The subsegments received until none came for a while, each checked to be one datagram
    /// in the daemon's format: the header line, then one JSON document.
    fn received(&self) -> Vec<Value> {
        let mut documents = Vec::new();
        let mut buffer = vec![0; 65_536];
        while let Ok(len) = self.socket.recv(&mut buffer) {
            let datagram = std::str::from_utf8(&buffer[..len]).expect("UTF-8");
            let (header, body) = datagram.split_once('\n').expect("a header line");
            assert_eq!(header, DAEMON_HEADER);
            documents.push(serde_json::from_str(body).expect("one JSON document"));
        }
        documents
    }
}

/// The app the functions build, with the daemon's address as Lambda gives it.
async fn traced_app(daemon: &Daemon) -> App {
    let mut config = shared::Config::from_env().unwrap();
    config.xray_daemon = Some(daemon.socket.local_addr().unwrap());
    common::with_extraction_worker(App::from_config(config).await.unwrap())
}

fn trace_header(root: &str, parent: &str, sampled: bool) -> String {
    format!("Root={root};Parent={parent};Sampled={}", u8::from(sampled))
}

fn with_trace(request: lambda_http::Request, header: &str) -> lambda_http::Request {
    let mut context = lambda_http::Context::default();
    context.request_id = uuid::Uuid::now_v7().to_string();
    context.xray_trace_id = Some(header.to_owned());
    request.with_lambda_context(context)
}

fn new_root() -> String {
    let hex = uuid::Uuid::now_v7().simple().to_string();
    format!("1-{}-{}", &hex[..8], &hex[8..32])
}

/// Asserts the fields every subsegment has; returns "Service.Operation".
fn checked(subsegment: &Value, root: &str, parent: &str) -> String {
    assert_eq!(subsegment["type"], "subsegment", "{subsegment}");
    assert_eq!(subsegment["trace_id"], root, "{subsegment}");
    assert_eq!(subsegment["parent_id"], parent, "{subsegment}");
    assert_eq!(subsegment["namespace"], "aws");
    let id = subsegment["id"].as_str().unwrap();
    assert!(id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()), "{subsegment}");
    let (start, end) = (subsegment["start_time"].as_f64().unwrap(), subsegment["end_time"].as_f64().unwrap());
    assert!(start > 1.6e9 && start <= end && end - start < 10.0, "{subsegment}");
    assert!(subsegment["aws"]["retries"].is_u64());
    format!("{}.{}", subsegment["name"].as_str().unwrap(), subsegment["aws"]["operation"].as_str().unwrap())
}

#[tokio::test]
async fn every_aws_call_of_a_sampled_request_is_a_subsegment_of_its_function() {
    let daemon = Daemon::start();
    let app = traced_app(&daemon).await;
    let (api, user) = (Api::new(), new_user());
    let (root, parent) = (new_root(), "53995c3f42cd8ad8");
    let sampled = trace_header(&root, parent, true);

    let upload = reply_of(
        handlers::upload_url(&app, with_trace(upload_url_request(&user, "notes.txt", Some(11)), &sampled))
            .await
            .unwrap(),
    );
    assert_eq!(upload.status, 200, "{}", upload.body);
    let upload_calls = daemon.received();
    let names: Vec<String> = upload_calls.iter().map(|s| checked(s, &root, parent)).collect();
    assert_eq!(names, ["DynamoDB.TransactWriteItems"]);
    assert_eq!(upload_calls[0]["http"]["response"]["status"], 200);
    assert!(upload_calls[0].get("error").is_none() && upload_calls[0].get("fault").is_none());

    let id = upload.body["document_id"].as_str().unwrap().to_owned();
    assert_eq!(api.put_object(&upload.body, b"hello world".to_vec()).await, 200);
    let confirm = reply_of(
        handlers::confirm(&app, with_trace(event_request("confirm.json", &user, Some(&id)), &sampled)).await.unwrap(),
    );
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let confirm_calls = daemon.received();
    let names: Vec<String> = confirm_calls.iter().map(|s| checked(s, &root, parent)).collect();
    // The document and the object's start, then the charge and the settle (`domain::charge`).
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["DynamoDB.GetItem", "DynamoDB.UpdateItem", "DynamoDB.UpdateItem", "S3.GetObject"]);
    let ids: BTreeSet<&str> = confirm_calls.iter().chain(&upload_calls).map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), confirm_calls.len() + upload_calls.len(), "subsegment ids are distinct");
    let s3 = confirm_calls.iter().find(|s| s["name"] == "S3").unwrap();
    assert!(s3["aws"]["request_id"].is_string(), "S3's request id is recorded: {s3}");

    // A call that AWS refuses is flagged as X-Ray does: a 4xx is an error.
    let missing = DocumentId::new().to_string();
    let refused = handlers::confirm(&app, with_trace(event_request("confirm.json", &user, Some(&missing)), &sampled))
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
    let names: Vec<String> = daemon.received().iter().map(|s| checked(s, &root, parent)).collect();
    assert!(names.iter().all(|n| n.starts_with("DynamoDB.") || n.starts_with("S3.")), "{names:?}");

    let head = app.storage.client().get_object().bucket(app.storage.bucket()).key("users/x/none");
    let traced_failure = shared::xray::traced(Some(&sampled), head.send()).await;
    assert!(traced_failure.is_err());
    let failed = daemon.received();
    assert_eq!(failed.len(), 1);
    assert_eq!(checked(&failed[0], &root, parent), "S3.GetObject");
    assert!(failed[0]["http"]["response"]["status"].as_u64().is_some_and(|s| (400..500).contains(&s)));
    assert_eq!(failed[0]["error"], true, "{}", failed[0]);

    // Not sampled: the same requests record nothing.
    let unsampled = trace_header(&new_root(), parent, false);
    let quota = handlers::quota(&app, with_trace(event_request("quota.json", &user, None), &unsampled)).await.unwrap();
    assert_eq!(quota.status(), 200);
    let untraced = handlers::quota(&app, event_request("quota.json", &user, None)).await.unwrap();
    assert_eq!(untraced.status(), 200);
    assert_eq!(daemon.received(), Vec::<Value>::new());
}

#[tokio::test]
async fn concurrent_invocations_keep_their_own_traces() {
    let daemon = Daemon::start();
    let app = traced_app(&daemon).await;
    let users: Vec<String> = (0..4).map(|_| new_user()).collect();
    let roots: Vec<String> = users.iter().map(|_| new_root()).collect();
    let quota = |i: usize| {
        let header = trace_header(&roots[i], "0000000000000001", true);
        handlers::quota(&app, with_trace(event_request("quota.json", &users[i], None), &header))
    };
    // Polled together in one task, as concurrent invocations of one process would be.
    let answers = tokio::join!(quota(0), quota(1), quota(2), quota(3));
    for answer in [answers.0, answers.1, answers.2, answers.3] {
        assert_eq!(answer.unwrap().status(), 200);
    }
    let received = daemon.received();
    let traces: Vec<&str> = received.iter().map(|s| s["trace_id"].as_str().unwrap()).collect();
    for root in &roots {
        assert_eq!(traces.iter().filter(|t| *t == root).count(), 1, "one GetItem per invocation: {traces:?}");
    }
}

#[tokio::test]
async fn an_object_event_traces_its_calls_too() {
    let daemon = Daemon::start();
    let app = traced_app(&daemon).await;
    let user = new_user();
    let orphan = DocumentId::new();
    put_object_directly(&app, &user, &orphan.to_string(), b"nobody's".to_vec()).await;
    let mut event = common::event_json("s3-put.json");
    event["Records"][0]["s3"]["bucket"]["name"] = json!(app.config.bucket_name);
    event["Records"][0]["s3"]["object"]["key"] = json!(object_key(&UserId::parse(&user).unwrap(), orphan));
    let (root, parent) = (new_root(), "1111111111111111");
    let mut context = lambda_runtime::Context::default();
    context.xray_trace_id = Some(trace_header(&root, parent, true));
    let summary =
        handle_s3_event(&app, &TermMatchClassifier::default(), lambda_runtime::LambdaEvent::new(event, context))
            .await
            .unwrap();
    assert_eq!(summary.orphans_removed, 1);
    let names: BTreeSet<String> = daemon.received().iter().map(|s| checked(s, &root, parent)).collect();
    assert!(names.contains("DynamoDB.GetItem") && names.contains("S3.DeleteObject"), "{names:?}");
}

//! Every fixture in `events/` fed to its handler, as `sam local invoke -e` or
//! `cargo lambda invoke --data-file` would, against the local stack. The fixtures' user and
//! document id are the ones in the files.

use crate::common;
use crate::common::{app, event_json, reply_of};
use lambda_http::Request;
use shared::classifier::TermMatchClassifier;
use shared::domain::{Document, DocumentId, UserId};
use shared::entry::http as handlers;

fn fixture(name: &str) -> Request {
    lambda_http::request::from_str(&event_json(name).to_string()).expect("a valid API Gateway event")
}

#[tokio::test]
async fn each_fixture_drives_its_handler_through_the_whole_lifecycle() {
    let app = app().await;
    let confirm_event = event_json("confirm.json");
    let sub = confirm_event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"].as_str().unwrap();
    let owner = UserId::parse(sub).unwrap();
    let id = DocumentId::parse(confirm_event["pathParameters"]["id"].as_str().unwrap()).unwrap();
    // The fixture's document: pending, with its object uploaded (as after upload-url and PUT).
    // Runs on a fresh stack; if one was left from an earlier run, start over.
    if let Some(old) = app.table.get_document(&owner, id).await.unwrap() {
        app.table.delete_document(&common::invocation(), &old).await.unwrap();
    }
    let mut document = Document::pending(
        owner.clone(),
        "Quarterly report.pdf".into(),
        "application/pdf".into(),
        None,
        shared::auth::now_unix(),
    );
    document.id = id;
    assert_eq!(app.table.create_document(&common::invocation(), &document).await.unwrap(), shared::table::Write::Done);
    app.storage
        .client()
        .put_object()
        .bucket(app.storage.bucket())
        .key(document.object_key())
        .body(b"%PDF-1.4 fixture".to_vec().into())
        .send()
        .await
        .unwrap();

    // The fixture's topic; a leftover of an earlier run on the same stack is removed first.
    for topic in app.table.list_topics(&owner).await.unwrap() {
        shared::operations::topics::delete_topic(&app, &common::invocation(), &owner, topic.id).await.unwrap();
    }
    let topic = reply_of(handlers::topics(&app, fixture("topics.json")).await.unwrap());
    assert_eq!(topic.status, 201, "{}", topic.body);
    assert_eq!(topic.body["name"], "Reports");

    let upload = reply_of(handlers::upload_url(&app, fixture("upload-url.json")).await.unwrap());
    assert_eq!(upload.status, 200, "{}", upload.body);
    assert_eq!(upload.body["headers"]["Content-Length"], "2048");

    let confirm = reply_of(handlers::confirm(&app, fixture("confirm.json")).await.unwrap());
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert_eq!(confirm.body["id"], id.to_string());
    assert_eq!(confirm.body["size_bytes"], 16);

    let quota = reply_of(handlers::quota(&app, fixture("quota.json")).await.unwrap());
    assert_eq!(quota.status, 200);
    assert_eq!(quota.body["used_bytes"], 16);

    let list = reply_of(handlers::documents(&app, fixture("documents-list.json")).await.unwrap());
    assert_eq!(list.status, 200);
    let items = list.body["items"].as_array().unwrap();
    assert!(items.iter().any(|d| d["id"] == id.to_string() && d["status"] == "uploaded"));

    let classified = reply_of(
        handlers::reclassify(&app, &TermMatchClassifier::default(), fixture("reclassify.json")).await.unwrap(),
    );
    assert_eq!(classified.status, 200, "{}", classified.body);
    assert_ne!(classified.body["classification_status"], "pending");

    let get = reply_of(handlers::documents(&app, fixture("documents-get.json")).await.unwrap());
    assert_eq!(get.status, 200);
    assert!(get.body["download_url"].as_str().is_some());

    let delete = handlers::delete(&app, fixture("delete.json")).await.unwrap();
    assert_eq!(delete.status(), 204);
    let quota = reply_of(handlers::quota(&app, fixture("quota.json")).await.unwrap());
    assert_eq!(quota.body["used_bytes"], 0);
}

/// The real tooling: `cargo lambda invoke --data-file` against the functions under
/// `cargo lambda watch`, through the Lambda invoke API.
#[test]
fn cargo_lambda_invoke_runs_a_fixture_against_the_running_function() {
    let api = url_port(&common::env("API_URL"));
    let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/quota.json");
    let output = std::process::Command::new("cargo")
        .args(["lambda", "invoke", "quota", "--invoke-address", "127.0.0.1", "--invoke-port", &api, "--data-file"])
        .arg(&events)
        .output()
        .expect("cargo lambda is installed by `make tools`");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let response: serde_json::Value = serde_json::from_slice(&output.stdout).expect("an API Gateway response");
    assert_eq!(response["statusCode"], 200);
    let body: serde_json::Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert!(body["used_bytes"].is_u64() && body["limit_bytes"].is_u64(), "{body}");
}

fn url_port(url: &str) -> String {
    url.rsplit(':').next().unwrap().trim_end_matches('/').to_owned()
}

/// `events/cleanup.json` (an EventBridge Scheduled Event) through the scheduled handler.
#[tokio::test]
async fn the_scheduled_event_fixture_runs_a_clean_up() {
    let app = app().await;
    let mut context = lambda_runtime::Context::default();
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    context.deadline = now_ms + 30_000;
    let event = lambda_runtime::LambdaEvent::new(event_json("cleanup.json"), context);
    let summary = shared::entry::schedule::handle(&app, event).await.unwrap();
    assert_eq!(summary.failed, 0, "{summary:?}");
    assert!(summary.pages >= 16, "every shard of the pending index was read: {summary:?}");
}

/// A body that is not UTF-8, as API Gateway passes it (base64), is refused with a 422 and writes
/// nothing. (Through `cargo lambda watch` such a request never reaches the function.)
#[tokio::test]
async fn a_body_that_is_not_utf8_is_refused_with_a_detail() {
    use base64::Engine;
    let app = app().await;
    let user = crate::common::new_user();
    for path in ["upload-url.json", "topics.json"] {
        let mut event = event_json(path);
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = serde_json::json!(user);
        event["body"] = serde_json::json!(base64::engine::general_purpose::STANDARD.encode(b"\x8bK\xff{"));
        event["isBase64Encoded"] = serde_json::json!(true);
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        let reply = if path == "topics.json" {
            reply_of(handlers::topics(&app, request).await.unwrap())
        } else {
            reply_of(handlers::upload_url(&app, request).await.unwrap())
        };
        crate::common::assert_detail(&reply, 422);
    }
    let owner = UserId::parse(&user).unwrap();
    assert!(app.table.list_documents(&owner, 10, None).await.unwrap().items.is_empty());
    assert!(app.table.list_topics(&owner).await.unwrap().is_empty());
}

//! Every fixture in `events/` fed to its handler, as `sam local invoke -e` or
//! `cargo lambda invoke --data-file` would, against the local stack, decoded as the functions
//! decode them (`shared::entry::http::runtime`). The fixtures' user and document id are the ones
//! in the files; `claims-non-string.json` is fed to every route.

use crate::common;
use crate::common::{app, event_json, reply_of, request_of};
use lambda_http::Request;
use serde_json::{json, Value};
use shared::classifier::TermMatchClassifier;
use shared::domain::{Document, DocumentId, UserId};
use shared::entry::http as handlers;

fn fixture(name: &str) -> Request {
    request_of(event_json(name))
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
/// `cargo lambda watch`, through the Lambda invoke API, so through the function's own runtime
/// (`shared::entry::http::run`); the fixture with numeric and boolean claims too.
#[test]
fn cargo_lambda_invoke_runs_a_fixture_against_the_running_function() {
    let api = url_port(&common::env("API_URL"));
    for fixture in ["quota.json", "claims-non-string.json"] {
        let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events").join(fixture);
        let output = std::process::Command::new("cargo")
            .args(["lambda", "invoke", "quota", "--invoke-address", "127.0.0.1", "--invoke-port", &api, "--data-file"])
            .arg(&events)
            .output()
            .expect("cargo lambda is installed by `make tools`");
        assert!(output.status.success(), "{fixture}: {}", String::from_utf8_lossy(&output.stderr));
        let response: Value = serde_json::from_slice(&output.stdout).expect("an API Gateway response");
        assert_eq!(response["statusCode"], 200, "{fixture}: {response}");
        let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        assert!(body["used_bytes"].is_u64() && body["limit_bytes"].is_u64(), "{fixture}: {body}");
    }
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
        let request = request_of(event);
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

/// `events/claims-non-string.json` (numbers and booleans among the JWT claims, as API Gateway has
/// sent them) turned into `method path` for the caller `sub`, a number: each route's event.
fn non_string_claims(sub: u64, method: &str, path: &str, id: Option<&str>, body: Option<Value>) -> Value {
    let mut event = event_json("claims-non-string.json");
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(sub);
    let route = id.map_or_else(|| path.to_owned(), |id| path.replace(id, "{id}"));
    event["routeKey"] = json!(format!("{method} {route}"));
    event["requestContext"]["routeKey"] = event["routeKey"].clone();
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["requestContext"]["http"]["method"] = json!(method);
    if let Some(id) = id {
        event["pathParameters"] = json!({ "id": id });
    }
    if let Some(body) = body {
        event["headers"]["content-type"] = json!("application/json");
        event["body"] = json!(body.to_string());
    }
    event
}

/// The event through `shared::entry::http::invoke`, as the function's runtime hands it over, and
/// the API Gateway response it answers (`statusCode`, and the body as JSON).
async fn invoked<F, R>(handler: F, event: Value) -> (u64, Value)
where
    F: FnMut(lambda_http::Request) -> R,
    R: std::future::Future<Output = Result<lambda_http::Response<lambda_http::Body>, lambda_http::Error>> + Send,
{
    let mut context = lambda_runtime::Context::default();
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    context.deadline = now_ms + 30_000;
    let answer = handlers::invoke(handler, lambda_runtime::LambdaEvent::new(event, context))
        .await
        .unwrap_or_else(|error| panic!("the event decodes and the handler answers: {error}"));
    let answer = serde_json::to_value(answer).unwrap();
    let body = answer["body"].as_str().map(|b| serde_json::from_str(b).unwrap_or(json!(b))).unwrap_or_default();
    (answer["statusCode"].as_u64().unwrap(), body)
}

/// Numeric and boolean claims (and a numeric `sub`) reach every route, which answers as usual.
#[tokio::test]
async fn every_route_answers_an_event_with_numeric_and_boolean_claims() {
    let app = app().await;
    let classifier = TermMatchClassifier::default();
    let sub = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let owner = UserId::parse(&sub.to_string()).unwrap();
    let event = |method: &str, path: &str, id: Option<&str>, body: Option<Value>| {
        non_string_claims(sub, method, path, id, body)
    };
    let expect = |route: &str, (status, body): (u64, Value), wanted: u64| {
        assert_eq!(status, wanted, "{route}: {body}");
        body
    };

    let topic = json!({ "name": "Invoices", "description": "invoice amount due payment" });
    let reply = invoked(|r| handlers::topics(&app, r), event("POST", "/api/topics", None, Some(topic))).await;
    let topic = expect("POST /api/topics", reply, 201)["id"].as_str().unwrap().to_owned();
    let reply = invoked(|r| handlers::topics(&app, r), event("GET", "/api/topics", None, None)).await;
    assert_eq!(expect("GET /api/topics", reply, 200)["items"].as_array().unwrap().len(), 1);

    let body = json!({ "filename": "invoice.pdf", "content_type": "application/pdf" });
    let upload = event("POST", "/api/documents/upload-url", None, Some(body));
    let reply = invoked(|r| handlers::upload_url(&app, r), upload).await;
    let id = expect("upload-url", reply, 200)["document_id"].as_str().unwrap().to_owned();
    let document = app.table.get_document(&owner, DocumentId::parse(&id).unwrap()).await.unwrap().unwrap();
    let storage = app.storage.client().put_object().bucket(app.storage.bucket()).key(document.object_key());
    storage.body(b"%PDF-1.4 invoice amount due".to_vec().into()).send().await.unwrap();

    let size = app.config.multipart_part_size + 1;
    let body = json!({ "filename": "big.txt", "content_type": "text/plain", "size_bytes": size, "multipart": true });
    let upload = event("POST", "/api/documents/upload-url", None, Some(body));
    let reply = invoked(|r| handlers::upload_url(&app, r), upload).await;
    let big = expect("upload-url (multipart)", reply, 200)["document_id"].as_str().unwrap().to_owned();
    let parts = format!("/api/documents/{big}/parts");
    let sign = event("POST", &parts, Some(&big), Some(json!({ "part_numbers": [1] })));
    expect("POST parts", invoked(|r| handlers::parts(&app, r), sign).await, 200);
    expect("GET parts", invoked(|r| handlers::parts(&app, r), event("GET", &parts, Some(&big), None)).await, 200);

    let confirm = event("POST", &format!("/api/documents/{id}/confirm"), Some(&id), None);
    expect("confirm", invoked(|r| handlers::confirm(&app, r), confirm).await, 200);
    let reply = invoked(|r| handlers::quota(&app, r), event("GET", "/api/auth/me/quota", None, None)).await;
    assert!(expect("quota", reply, 200)["used_bytes"].as_u64().unwrap() > 0);
    let reply = invoked(|r| handlers::documents(&app, r), event("GET", "/api/documents", None, None)).await;
    assert_eq!(expect("GET /api/documents", reply, 200)["items"].as_array().unwrap().len(), 2);
    let get = event("GET", &format!("/api/documents/{id}"), Some(&id), None);
    expect("GET /api/documents/{id}", invoked(|r| handlers::documents(&app, r), get).await, 200);
    let classify = event("POST", &format!("/api/documents/{id}/classify"), Some(&id), None);
    expect("classify", invoked(|r| handlers::reclassify(&app, &classifier, r), classify).await, 200);
    let file = event("PUT", &format!("/api/documents/{id}/topic"), Some(&id), Some(json!({ "topic_id": topic })));
    let reply = invoked(|r| handlers::topics(&app, r), file).await;
    assert_eq!(expect("PUT topic", reply, 200)["classified_by"], "user");

    for document in [&id, &big] {
        let delete = event("DELETE", &format!("/api/documents/{document}"), Some(document), None);
        expect("DELETE /api/documents/{id}", invoked(|r| handlers::delete(&app, r), delete).await, 204);
    }
    let delete = event("DELETE", &format!("/api/topics/{topic}"), Some(&topic), None);
    expect("DELETE /api/topics/{id}", invoked(|r| handlers::topics(&app, r), delete).await, 204);
}

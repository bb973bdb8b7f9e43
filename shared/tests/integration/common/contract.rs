//! S3's contract in the integration tests: a storage test runs the functions' handlers on an
//! `App` whose S3 calls *and* signed URLs go through a recording proxy (`faults`), so the
//! browser-side PUTs are recorded too, and ends with [`assert_s3_contract`]: no recorded request
//! may break a documented S3 rule the local stack does not enforce (`faults::contract::RULES`).
//!
//! URLs are signed for the proxy's address; the proxy forwards every header unchanged, Host
//! included, and LocalStack checks the signature against the Host it receives, so a URL verifies
//! exactly as signed (a tampered one still fails).

use aws_sdk_s3::config::RequestChecksumCalculation;
use reqwest::Method;
use serde_json::{json, Value};
use shared::App;

use super::{env, event_json, reply_of, Reply};

/// An `App` whose storage traffic a proxy records.
pub struct Recorded {
    pub app: App,
    pub s3: faults::FaultProxy,
}

pub async fn through_recording_proxy(app: &App) -> Recorded {
    let s3 = faults::FaultProxy::start(&env("AWS_ENDPOINT_URL_S3"), 0).await;
    let sdk = shared::clients::sdk_config().await;
    let client = |checksums| {
        let config = aws_sdk_s3::config::Builder::from(&sdk).endpoint_url(s3.url()).force_path_style(true);
        aws_sdk_s3::Client::from_conf(config.request_checksum_calculation(checksums).build())
    };
    // As `clients::object_storage` builds them: the signing client adds no default checksum.
    let internal = client(RequestChecksumCalculation::WhenSupported);
    let public = client(RequestChecksumCalculation::WhenRequired);
    let storage = shared::storage::ObjectStorage::new(internal, public, app.storage.bucket());
    Recorded { app: App { storage, ..app.clone() }, s3 }
}

/// The recorded requests that break an S3 rule; when the stack signs with a session token (as a
/// Lambda role does; `devstack.py` gives one), every signed request must carry it too.
pub fn s3_contract_violations(proxy: &faults::FaultProxy) -> Vec<faults::contract::Violation> {
    let recorded = proxy.recorded();
    let mut violations = faults::contract::check(&recorded);
    if std::env::var("AWS_SESSION_TOKEN").is_ok_and(|token| !token.is_empty()) {
        violations.extend(faults::contract::check_session_token(&recorded));
    }
    violations
}

/// Fails the test, naming each rule broken, its source and the request.
pub fn assert_s3_contract(proxy: &faults::FaultProxy) {
    let violations = s3_contract_violations(proxy);
    let listed: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert!(violations.is_empty(), "S3 requests that AWS would refuse:\n{}", listed.join("\n"));
}

/// Calls the route's handler in-process, as API Gateway would with `user`'s verified token.
pub async fn route(app: &App, method: Method, path: &str, user: &str, body: Option<Value>) -> Reply {
    let mut event = event_json("upload-url.json");
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(user);
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["requestContext"]["http"]["method"] = json!(method.as_str());
    event["routeKey"] = json!(format!("{method} {path}"));
    event["requestContext"]["routeKey"] = event["routeKey"].clone();
    event["body"] = body.map_or(Value::Null, |b| json!(b.to_string()));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let ["api", "documents", id, ..] = segments[..] {
        if id != "upload-url" {
            event["pathParameters"] = json!({ "id": id });
        }
    }
    let request = lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event");
    let response = match segments[..] {
        ["api", "documents", "upload-url"] => shared::entry::http::upload_url(app, request).await,
        ["api", "documents", _, "parts"] => shared::entry::http::parts(app, request).await,
        ["api", "documents", _, "confirm"] => shared::entry::http::confirm(app, request).await,
        ["api", "documents", _] if method == Method::DELETE => shared::entry::http::delete(app, request).await,
        ["api", "documents", _] => shared::entry::http::documents(app, request).await,
        _ => panic!("no route for {method} {path}"),
    };
    reply_of(response.expect("the handler answers"))
}

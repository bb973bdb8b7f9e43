//! Helpers of the integration tests. They run against the local stack that `make test` starts
//! (Dynoxide, LocalStack with signature checks on, and the functions under `cargo lambda watch`).
#![allow(dead_code)]

pub mod contract;

use reqwest::Method;
use serde_json::{json, Value};
use shared::App;

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the integration tests with `make test`"))
}

/// A user no other test uses, so tests can run in parallel on one stack.
pub fn new_user() -> String {
    format!("it-{}", uuid::Uuid::now_v7().simple())
}

pub fn token(user: &str) -> String {
    shared::auth::mint_local_token(user, &env("LOCAL_JWT_SECRET"), 3600)
}

/// An invocation of its own, for calling the adapters directly as a function would.
pub fn invocation() -> shared::Invocation {
    shared::Invocation::standalone(std::time::Duration::from_secs(10))
}

/// The same adapters the functions use, for arranging and inspecting state directly.
pub async fn app() -> App {
    log_to_test_output();
    with_extraction_worker(App::from_env().await.expect("configuration from the test environment"))
}

/// The functions' logs (a 500's cause is logged, not answered), shown with a failing test.
fn log_to_test_output() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(shared::init_tracing);
}

/// Document parsers run in a child process; the functions re-execute themselves for it, but this
/// harness's binary cannot serve the task, so the children are shared's `extract-worker`.
pub fn with_extraction_worker(app: App) -> App {
    App { sandbox: app.sandbox.clone().with_executable(env!("CARGO_BIN_EXE_extract-worker")), ..app }
}

pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Api {
    pub fn new() -> Self {
        Self { http: reqwest::Client::new(), base: env("API_URL") }
    }

    /// Sends `body` as raw text (so malformed JSON can be sent too).
    pub async fn raw(&self, method: Method, path: &str, user: Option<&str>, body: Option<&str>) -> Reply {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(user) = user {
            request = request.bearer_auth(token(user));
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_owned());
        }
        let response = request.send().await.expect("the local API answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a readable body");
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Reply { status, body }
    }

    pub async fn call(&self, method: Method, path: &str, user: &str, body: Option<Value>) -> Reply {
        let body = body.map(|b| b.to_string());
        self.raw(method, path, Some(user), body.as_deref()).await
    }

    pub async fn upload_url(&self, user: &str, filename: &str, content_type: &str, size: Option<u64>) -> Reply {
        let mut body = json!({ "filename": filename, "content_type": content_type });
        if let Some(size) = size {
            body["size_bytes"] = json!(size);
        }
        self.call(Method::POST, "/api/documents/upload-url", user, Some(body)).await
    }

    /// PUTs `bytes` to the presigned URL of an upload-url answer with exactly its headers.
    pub async fn put_object(&self, upload: &Value, bytes: Vec<u8>) -> u16 {
        self.put_object_with(upload, bytes, |_, _| None).await
    }

    /// Like `put_object`, with `replace(name, value)` able to change a header's value.
    pub async fn put_object_with(
        &self,
        upload: &Value,
        bytes: Vec<u8>,
        replace: impl Fn(&str, &str) -> Option<String>,
    ) -> u16 {
        let mut request = self.http.put(upload["upload_url"].as_str().expect("upload_url"));
        for (name, value) in upload["headers"].as_object().expect("headers") {
            let value = value.as_str().unwrap();
            // reqwest sets Content-Length from the body itself, except for an empty one.
            if name.eq_ignore_ascii_case("content-length") && !bytes.is_empty() {
                continue;
            }
            request = request.header(name, replace(name, value).unwrap_or_else(|| value.to_owned()));
        }
        request.body(bytes).send().await.expect("storage answers").status().as_u16()
    }

    pub async fn confirm(&self, user: &str, id: &str) -> Reply {
        self.call(Method::POST, &format!("/api/documents/{id}/confirm"), user, None).await
    }

    pub async fn quota(&self, user: &str) -> Reply {
        self.call(Method::GET, "/api/auth/me/quota", user, None).await
    }

    pub async fn used_bytes(&self, user: &str) -> u64 {
        let reply = self.quota(user).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["used_bytes"].as_u64().unwrap()
    }

    pub async fn get(&self, user: &str, id: &str) -> Reply {
        self.call(Method::GET, &format!("/api/documents/{id}"), user, None).await
    }

    pub async fn delete(&self, user: &str, id: &str) -> Reply {
        self.call(Method::DELETE, &format!("/api/documents/{id}"), user, None).await
    }

    pub async fn list(&self, user: &str, query: &str) -> Reply {
        self.call(Method::GET, &format!("/api/documents{query}"), user, None).await
    }

    /// upload-url, PUT and confirm; returns the document id and confirm's reply.
    pub async fn upload(&self, user: &str, filename: &str, bytes: Vec<u8>) -> (String, Reply) {
        let upload = self.upload_url(user, filename, "text/plain", Some(bytes.len() as u64)).await;
        assert_eq!(upload.status, 200, "upload-url: {}", upload.body);
        assert_eq!(self.put_object(&upload.body, bytes).await, 200, "PUT to the presigned URL");
        let id = upload.body["document_id"].as_str().unwrap().to_owned();
        let confirm = self.confirm(user, &id).await;
        (id, confirm)
    }
}

/// Asserts an error reply: the status and a `detail`.
pub fn assert_detail(reply: &Reply, status: u16) {
    assert_eq!(reply.status, status, "unexpected reply: {}", reply.body);
    assert!(!reply.body["detail"].is_null(), "an error body carries `detail`: {}", reply.body);
}

/// Reads `events/<name>` (a real API Gateway HTTP API v2 event).
pub fn event_json(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .expect("event fixtures are JSON")
}

/// An API Gateway event as the functions decode it (`shared::entry::http::runtime::decode`).
pub fn request_of(event: Value) -> lambda_http::Request {
    shared::entry::http::runtime::decode(event).expect("a valid API Gateway event").into()
}

/// The event `name` as sent for `user` (its JWT `sub`) and, where the route has one, document `id`.
pub fn event_request(name: &str, user: &str, id: Option<&str>) -> lambda_http::Request {
    let mut event = event_json(name);
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(user);
    if let Some(id) = id {
        let fixture_id = event["pathParameters"]["id"].as_str().expect("the event has an id").to_owned();
        for pointer in ["/rawPath", "/requestContext/http/path"] {
            let path = event.pointer(pointer).unwrap().as_str().unwrap().replace(&fixture_id, id);
            *event.pointer_mut(pointer).unwrap() = json!(path);
        }
        event["pathParameters"]["id"] = json!(id);
    }
    request_of(event)
}

/// The upload-url event of `user` for `filename` (text/plain) with an optional declared size.
pub fn upload_url_request(user: &str, filename: &str, size: Option<u64>) -> lambda_http::Request {
    upload_url_request_with(user, filename, size, false)
}

/// Like `upload_url_request`, asking to be confirmed on arrival when `on_arrival`.
pub fn upload_url_request_with(
    user: &str,
    filename: &str,
    size: Option<u64>,
    on_arrival: bool,
) -> lambda_http::Request {
    let mut event = event_json("upload-url.json");
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(user);
    let mut body = json!({ "filename": filename, "content_type": "text/plain" });
    if let Some(size) = size {
        body["size_bytes"] = json!(size);
    }
    if on_arrival {
        body["confirm_on_arrival"] = json!(true);
    }
    event["body"] = json!(body.to_string());
    request_of(event)
}

/// Status and JSON body of a handler's response.
pub fn reply_of(response: lambda_http::Response<lambda_http::Body>) -> Reply {
    let status = response.status().as_u16();
    let body = match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::String(text.clone())),
        lambda_http::Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    Reply { status, body }
}

/// An `App` on a table of its own (same schema as the stack's table, which bootstrap made from
/// template.yaml), for tests whose clean-up runs must not see other tests' documents.
pub async fn isolated_app(pending_max_age_seconds: u64) -> App {
    let mut config = shared::Config::from_env().unwrap();
    let base = app().await;
    let client = base.table.client();
    let schema = client.describe_table().table_name(&config.table_name).send().await.unwrap();
    let schema = schema.table().unwrap();
    let name = format!("isolated-{}", uuid::Uuid::now_v7().simple());
    let mut create = client
        .create_table()
        .table_name(&name)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(schema.attribute_definitions().to_vec()))
        .set_key_schema(Some(schema.key_schema().to_vec()));
    for index in schema.global_secondary_indexes() {
        create = create.global_secondary_indexes(
            aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
                .index_name(index.index_name().unwrap())
                .set_key_schema(Some(index.key_schema().to_vec()))
                .set_projection(index.projection().cloned())
                .build()
                .unwrap(),
        );
    }
    create.send().await.unwrap();
    // A bucket of its own too: the stack's bucket notifies the classify function, which checks
    // objects against the stack's table and would remove these as objects without a document.
    base.storage.client().create_bucket().bucket(&name).send().await.unwrap();
    config.bucket_name = name.clone();
    config.table_name = name;
    config.pending_upload_max_age = std::time::Duration::from_secs(pending_max_age_seconds);
    with_extraction_worker(App::from_config(config).await.unwrap())
}

/// An `App` like `app`, whose DynamoDB and S3 calls pass through fault-injecting proxies (seeded
/// with `seed`), so a test can make the backends answer as AWS does under stress.
pub struct Faulty {
    pub app: App,
    pub dynamodb: faults::FaultProxy,
    pub s3: faults::FaultProxy,
}

pub async fn through_fault_proxies(app: &App, seed: u64) -> Faulty {
    let dynamodb = faults::FaultProxy::start(&env("AWS_ENDPOINT_URL_DYNAMODB"), seed).await;
    let s3 = faults::FaultProxy::start(&env("AWS_ENDPOINT_URL_S3"), seed.wrapping_add(1)).await;
    let sdk = shared::clients::sdk_config().await;
    let table_client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk).endpoint_url(dynamodb.url()).build(),
    );
    let s3_client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk).endpoint_url(s3.url()).force_path_style(true).build(),
    );
    let config = &app.config;
    let faulty = App {
        table: shared::table::DocumentTable::new(table_client, &config.table_name, config.quota_policy()),
        // Presigned URLs are still signed for the browser's view of storage, not the proxy.
        storage: app.storage.with_internal_client(s3_client),
        ..app.clone()
    };
    Faulty { app: faulty, dynamodb, s3 }
}

/// Stores `bytes` as the object of `user`'s document `id` (as a browser PUT would).
pub async fn put_object_directly(app: &App, user: &str, id: &str, bytes: Vec<u8>) {
    let key = shared::domain::object_key(
        &shared::domain::UserId::parse(user).unwrap(),
        shared::domain::DocumentId::parse(id).unwrap(),
    );
    app.storage.client().put_object().bucket(app.storage.bucket()).key(key).body(bytes.into()).send().await.unwrap();
}

impl Api {
    /// upload-url with `content_type`, PUT and confirm; returns the document id.
    pub async fn upload_as(&self, user: &str, filename: &str, content_type: &str, bytes: Vec<u8>) -> String {
        let upload = self.upload_url(user, filename, content_type, Some(bytes.len() as u64)).await;
        assert_eq!(upload.status, 200, "upload-url: {}", upload.body);
        assert_eq!(self.put_object(&upload.body, bytes).await, 200, "PUT to the presigned URL");
        let id = upload.body["document_id"].as_str().unwrap().to_owned();
        let confirm = self.confirm(user, &id).await;
        assert_eq!(confirm.status, 200, "confirm: {}", confirm.body);
        id
    }

    pub async fn create_topic(&self, user: &str, name: &str, description: &str) -> String {
        let reply = self
            .call(Method::POST, "/api/topics", user, Some(json!({ "name": name, "description": description })))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["id"].as_str().unwrap().to_owned()
    }

    /// Polls a document until its classification is no longer pending (at most 90 s: the
    /// local stack delivers S3 events one after another, and other tests upload meanwhile).
    pub async fn classified(&self, user: &str, id: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        loop {
            let reply = self.get(user, id).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            if reply.body["classification_status"] != "pending" {
                return reply.body;
            }
            assert!(std::time::Instant::now() < deadline, "{id} still pending after 90 s: {}", reply.body);
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

/// Sample documents made here, in the formats users upload.
pub mod samples {
    use std::io::Write;

    pub const PDF: &str = "application/pdf";
    pub const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

    /// A one-page PDF whose text is `lines`, written with lopdf (Helvetica, WinAnsi).
    pub fn pdf(lines: &[&str]) -> Vec<u8> {
        use lopdf::content::{Content, Operation};
        use lopdf::{dictionary, Document, Object, Stream};
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font_id = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding",
        });
        let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
        let mut operations = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("TL", vec![16.into()]),
            Operation::new("Td", vec![72.into(), 720.into()]),
        ];
        for line in lines {
            operations.push(Operation::new("Tj", vec![Object::string_literal(*line)]));
            operations.push(Operation::new("T*", vec![]));
        }
        operations.push(Operation::new("ET", vec![]));
        let content = Content { operations };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id, "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            }),
        );
        let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog_id);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        bytes
    }

    /// A minimal DOCX (WordprocessingML in a zip) with one paragraph per entry of `paragraphs`.
    pub fn docx(paragraphs: &[&str]) -> Vec<u8> {
        let body: String = paragraphs
            .iter()
            .map(|p| {
                format!(
                    "<w:p><w:r><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
                    p.replace('&', "&amp;").replace('<', "&lt;")
                )
            })
            .collect();
        let parts = [
            ("[Content_Types].xml", r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#.to_owned()),
            ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#.to_owned()),
            ("word/document.xml", format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#)),
        ];
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, content) in parts {
            zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
            zip.write_all(content.as_bytes()).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }
}

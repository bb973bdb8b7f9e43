//! Deadlines: reclassify (29 s in Lambda, under API Gateway's 30 s cap) answers before its
//! invocation's deadline whatever is slow, with a result or a 503 and `detail`, never by running
//! past it; and an S3 event that runs out of time fails (Lambda retries it) without writing.
//! Each test gives the handler a Lambda context whose deadline is a few seconds away, against the
//! local stack's DynamoDB and S3: a Bedrock peer that answers after 20 s (the stub of
//! `bedrock.rs`), and a PDF that takes seconds to read.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_http::RequestExt;
use serde_json::{json, Value};
use shared::classifier::TermMatchClassifier;
use shared::domain::{Classification, ClassificationStatus, Document, DocumentId, UserId};
use shared::entry::http as handlers;
use shared::entry::object_events::handle_s3_event;

use crate::bedrock::{Canned, StubBedrock};
use crate::common::{self, app, event_request, isolated_app, new_user, reply_of, Api};

/// A Lambda context whose deadline is `left` from now, as Lambda sets it (Unix milliseconds).
fn context(left: Duration) -> lambda_runtime::Context {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut context = lambda_runtime::Context::default();
    context.request_id = uuid::Uuid::now_v7().to_string();
    context.deadline = now_ms + left.as_millis() as u64;
    context
}

fn reclassify_request(user: &str, id: &str, left: Duration) -> lambda_http::Request {
    event_request("reclassify.json", user, Some(id)).with_lambda_context(context(left))
}

/// What a document's classification is, as stored.
fn stored_classification(document: &Value) -> Value {
    json!([
        document["classification_status"],
        document["topic_id"],
        document["classified_by"],
        document["classification_reason"]
    ])
}

#[tokio::test]
async fn a_slow_model_costs_reclassify_its_verdict_not_its_deadline() {
    let (api, app, user) = (Api::new(), app().await, new_user());
    api.create_topic(&user, "Invoices", "Bills and invoices to pay or already paid").await;
    let recipes = api.create_topic(&user, "Recipes", "Cooking and baking recipes I want to keep").await;
    let soup = "Red lentil soup recipe\n\nSoften an onion in olive oil, stir in cumin, add 200 g of red \
                lentils and a litre of stock, simmer 20 minutes and blend. Cooking for four.";
    let id = api.upload_as(&user, "soup.txt", "text/plain", soup.as_bytes().to_vec()).await;
    api.classified(&user, &id).await;
    // The model answers after 20 s; its own timeout is the template's default, 10 s.
    let stub = StubBedrock::start().await;
    let bedrock = stub.classifier(Duration::from_secs(10)).await;

    // 3 s left: the model is asked for what is left less recording and the fallback, then term
    // matching decides, and the verdict is recorded, all before the deadline.
    stub.answer_with(&[Canned::Slow(Duration::from_secs(20))]);
    let started = Instant::now();
    let reply = reply_of(handlers::reclassify(&app, &bedrock, reclassify_request(&user, &id, secs(3))).await.unwrap());
    let took = started.elapsed();
    assert!(took < secs(3), "answered after {took:?}, past the 3 s deadline");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        (reply.body["classified_by"].clone(), reply.body["topic_id"].clone()),
        (json!("term-match"), json!(recipes))
    );
    assert_eq!(stub.received(), 1, "the model was asked once");
    assert_eq!(stored_classification(&api.get(&user, &id).await.body), stored_classification(&reply.body));
    println!("     3 s left, a model answering after 20 s: 200 from term matching after {} ms", took.as_millis());

    // 2.25 s left: the reads fit (they keep 2 s back), but what is left for the model beside
    // recording and the fallback is less than a call's minimum: it is not asked at all.
    stub.answer_with(&[Canned::Slow(Duration::from_secs(20))]);
    let started = Instant::now();
    let request = reclassify_request(&user, &id, Duration::from_millis(2250));
    let reply = reply_of(handlers::reclassify(&app, &bedrock, request).await.unwrap());
    assert!(started.elapsed() < Duration::from_millis(2250), "answered after {:?}", started.elapsed());
    assert_eq!((reply.status, reply.body["classified_by"].clone()), (200, json!("term-match")), "{}", reply.body);
    assert_eq!(stub.received(), 0, "no call was started that could not finish");

    // 1 s left: the document cannot even be read and still leave time to record a verdict:
    // 503 with a detail the client can act on, and nothing written.
    let before = stored_classification(&api.get(&user, &id).await.body);
    let started = Instant::now();
    let reply = reply_of(handlers::reclassify(&app, &bedrock, reclassify_request(&user, &id, secs(1))).await.unwrap());
    assert!(started.elapsed() < secs(1), "answered after {:?}", started.elapsed());
    common::assert_detail(&reply, 503);
    assert!(reply.body["detail"].as_str().unwrap().contains("nothing was changed: try again"), "{}", reply.body);
    assert_eq!(stored_classification(&api.get(&user, &id).await.body), before);
    assert_eq!(stub.received(), 0);
}

/// A PDF that takes seconds to read and holds no text: `pages` pages that each draw the same
/// 66 KB of path operators (one compressed stream of about 1 KB, read once per page).
fn slow_pdf(pages: usize) -> Vec<u8> {
    use lopdf::{dictionary, Document, Object, Stream};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let mut drawing = Stream::new(dictionary! {}, "q 1 0 0 1 0 0 cm 0 0 m 1 1 l S Q\n".repeat(2000).into_bytes());
    drawing.compress().unwrap();
    let content_id = doc.add_object(drawing);
    let kids: Vec<Object> = (0..pages)
        .map(|_| {
            doc.add_object(dictionary! {
                "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
                "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
            })
            .into()
        })
        .collect();
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => pages as i64 }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

fn s3_event(bucket: &str, key: &str, left: Duration) -> lambda_runtime::LambdaEvent<Value> {
    let mut event = common::event_json("s3-put.json");
    event["Records"][0]["s3"]["bucket"]["name"] = json!(bucket);
    event["Records"][0]["s3"]["object"]["key"] = json!(key);
    lambda_runtime::LambdaEvent::new(event, context(left))
}

#[tokio::test]
async fn a_slow_document_costs_reclassify_a_503_and_its_event_a_retry_and_neither_writes() {
    // A table and bucket of their own: the stack's classify function never sees this object.
    let app = isolated_app(3600).await;
    let owner = UserId::parse(&new_user()).unwrap();
    let pdf = slow_pdf(900);
    // Declared, so its arrival reserves nothing: classification is all the event does.
    let size = Some(pdf.len() as u64);
    let mut document = Document::pending(
        owner.clone(),
        "drawing.pdf".into(),
        "application/pdf".into(),
        size,
        shared::auth::now_unix(),
    );
    document.id = DocumentId::new();
    let id = document.id.to_string();
    app.table.create_document(&common::invocation(), &document).await.unwrap();
    common::put_object_directly(&app, owner.as_str(), &id, pdf).await;
    let stored = async || app.table.get_document(&owner, document.id).await.unwrap().unwrap().classification;

    // 2.8 s left: the extraction gets what is left less classifying and recording, is stopped
    // there, and reclassify answers 503 before the deadline; the document is as it was.
    let started = Instant::now();
    let classifier = TermMatchClassifier::default();
    let request = reclassify_request(owner.as_str(), &id, Duration::from_millis(2800));
    let reply = reply_of(handlers::reclassify(&app, &classifier, request).await.unwrap());
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2800), "answered after {took:?}");
    common::assert_detail(&reply, 503);
    assert_eq!(
        reply.body["detail"],
        "reading the document's text did not finish within the time this request may take; nothing was changed: \
         try again"
    );
    assert_eq!(stored().await, Classification::pending(), "nothing written");
    println!("     2.8 s left, a slow PDF: 503 after {} ms", took.as_millis());

    // The S3 event with as little time: it fails, so Lambda retries it, and writes nothing.
    let key = document.object_key();
    let started = Instant::now();
    let handled = handle_s3_event(&app, &classifier, s3_event(app.storage.bucket(), &key, Duration::from_millis(2800)));
    let error = handled.await.expect_err("an event out of time fails, to be retried");
    assert!(started.elapsed() < Duration::from_millis(2800), "failed after {:?}", started.elapsed());
    assert!(error.to_string().contains("1 of 1 records failed"), "{error}");
    assert_eq!(stored().await, Classification::pending(), "nothing written");

    // With time to spare, the extraction's own limit (here 1 s) stops it: that is the file's
    // fault, and the document is marked failed with the reason.
    let mut config = app.config.clone();
    config.classify_timeout = secs(1);
    let strict = shared::App { config, ..app.clone() };
    let summary = handle_s3_event(&strict, &classifier, s3_event(app.storage.bucket(), &key, secs(10))).await.unwrap();
    assert_eq!(summary.classified, 1, "{summary:?}");
    let failed = stored().await;
    assert_eq!(failed.status, ClassificationStatus::Failed);
    assert_eq!(failed.reason.as_deref(), Some("text extraction stopped: reading the document took longer than 1 s"));
}

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

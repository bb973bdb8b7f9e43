//! Classification end to end: real PDF, DOCX and text files uploaded through presigned URLs,
//! LocalStack's S3 notification into the queue, the dispatcher, and the classify function under
//! `cargo lambda watch`; plus duplicate, out-of-order and malformed events fed to the handler.

use crate::common;
use crate::common::samples::{docx, pdf, DOCX, PDF};
use crate::common::{app, assert_detail, new_user, Api};
use reqwest::Method;
use serde_json::{json, Value};
use shared::classifier::TermMatchClassifier;
use shared::entry::object_events::handle_s3_event;

async fn topics(api: &Api, user: &str) -> (String, String, String) {
    (
        api.create_topic(user, "Invoices", "billing invoice payment amount due vendor tax").await,
        api.create_topic(user, "Recipes", "cooking ingredients oven bake flour sugar butter").await,
        api.create_topic(user, "Travel", "flight hotel booking itinerary airport passport").await,
    )
}

#[tokio::test]
async fn uploads_are_classified_through_the_s3_notification() {
    let api = Api::new();
    let user = new_user();
    let (invoices, recipes, travel) = topics(&api, &user).await;
    let cases = [
        (
            api.upload_as(
                &user,
                "scones.pdf",
                PDF,
                pdf(&[
                    "Scones",
                    "Preheat the oven. Rub the butter into the flour,",
                    "add sugar and bake for 12 minutes.",
                ]),
            )
            .await,
            Some(recipes.clone()),
        ),
        (
            api.upload_as(
                &user,
                "invoice.docx",
                DOCX,
                docx(&["Invoice 2026-114", "Amount due: 420 EUR. Payment to the vendor within 30 days, tax included."]),
            )
            .await,
            Some(invoices.clone()),
        ),
        (
            api.upload_as(
                &user,
                "trip.md",
                "text/markdown",
                "# Lisbon trip\nFlight TP 1234 from the airport at 7:00, hotel booking confirmed, passport needed."
                    .as_bytes()
                    .to_vec(),
            )
            .await,
            Some(travel.clone()),
        ),
        (
            api.upload_as(
                &user,
                "haiku.txt",
                "text/plain",
                "An old silent pond, a frog jumps in: the sound of water.".as_bytes().to_vec(),
            )
            .await,
            None,
        ),
    ];
    let mut correct = 0;
    for (id, expected) in &cases {
        let document = api.classified(&user, id).await;
        let actual = document["topic_id"].as_str().map(str::to_owned);
        if &actual == expected {
            correct += 1;
        }
        assert_eq!(&actual, expected, "{document}");
        let status = if expected.is_some() { "classified" } else { "unclassified" };
        assert_eq!(document["classification_status"], status, "{document}");
        assert!(document["excerpt"].as_str().is_some_and(|e| !e.is_empty()), "{document}");
        assert!(document["confidence"].is_number());
    }
    println!("classifier accuracy on the fixtures: {correct}/{}", cases.len());
    // The list shows the same fields; classification never touches the quota.
    let list = api.list(&user, "").await;
    assert!(list.body["items"].as_array().unwrap().iter().all(|d| d["classification_status"] != "pending"));
    let sizes: u64 = list.body["items"].as_array().unwrap().iter().map(|d| d["size_bytes"].as_u64().unwrap()).sum();
    assert_eq!(api.used_bytes(&user).await, sizes);
}

#[tokio::test]
async fn corrupt_and_odd_files_fail_or_degrade_per_document() {
    let api = Api::new();
    let user = new_user();
    topics(&api, &user).await;
    let corrupt_pdf =
        api.upload_as(&user, "broken.pdf", PDF, b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage".to_vec()).await;
    // A ZIP that lists its document part (so confirm takes it as a DOCX) whose part is damaged.
    let mut broken = docx(&["Knead the flour, bake in a hot oven"]);
    let part = broken.windows(17).position(|w| w == b"word/document.xml").unwrap() + 17;
    broken[part..part + 24].iter_mut().for_each(|b| *b ^= 0x5a);
    let corrupt_docx = api.upload_as(&user, "broken.docx", DOCX, broken).await;
    let latin1 = api
        .upload_as(&user, "latin1.txt", "text/plain", b"Cr\xe8me br\xfbl\xe9e: bake the sugar in the oven".to_vec())
        .await;
    let empty = api.upload_as(&user, "empty.txt", "text/plain", Vec::new()).await;

    for id in [&corrupt_pdf, &corrupt_docx] {
        let document = api.classified(&user, id).await;
        assert_eq!(document["classification_status"], "failed", "{document}");
        assert!(document["classification_reason"].as_str().is_some_and(|r| !r.is_empty()), "{document}");
        assert!(document["topic_id"].is_null());
    }
    let document = api.classified(&user, &latin1).await;
    assert_eq!(document["classification_status"], "classified", "invalid UTF-8 is replaced, not fatal: {document}");
    let document = api.classified(&user, &empty).await;
    assert_eq!(document["classification_status"], "no_text", "{document}");
    assert!(document["classification_reason"].as_str().is_some_and(|r| r.contains("no text")), "{document}");
}

fn s3_event(bucket: &str, keys: &[&str]) -> lambda_runtime::LambdaEvent<Value> {
    let mut event = common::event_json("s3-put.json");
    let record = event["Records"][0].clone();
    event["Records"] = keys
        .iter()
        .map(|key| {
            let mut record = record.clone();
            record["s3"]["bucket"]["name"] = json!(bucket);
            record["s3"]["object"]["key"] = json!(key);
            record
        })
        .collect();
    lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default())
}

#[tokio::test]
async fn duplicate_early_late_and_foreign_events_are_harmless() {
    let api = Api::new();
    let app = app().await;
    // An '@' in the subject arrives percent-encoded in the event key.
    let user = format!("{}@example.com", new_user());
    let encoded_user = user.replace('@', "%40");
    let recipes = api.create_topic(&user, "Recipes", "cooking oven bake flour sugar").await;

    // Before confirm: classified anyway, still pending, nothing charged.
    let upload = api.upload_url(&user, "cake.txt", "text/plain", None).await;
    let early = upload.body["document_id"].as_str().unwrap().to_owned();
    assert_eq!(api.put_object(&upload.body, b"Bake the flour and sugar in the oven".to_vec()).await, 200);
    // The stack's own classify function gets the bucket's event too: let it finish first, so
    // that the events fed below are the only writers of what is compared.
    api.classified(&user, &early).await;
    let key = format!("users/{encoded_user}/{early}");
    let bucket = app.config.bucket_name.clone();
    let summary =
        handle_s3_event(&app, &TermMatchClassifier::default(), s3_event(&bucket, &[&key, &key])).await.unwrap();
    assert_eq!((summary.records, summary.classified, summary.errors), (2, 2, 0));
    let document = api.get(&user, &early).await.body;
    assert_eq!(document["status"], "pending");
    assert_eq!(document["topic_id"], recipes.as_str());
    assert_eq!(api.used_bytes(&user).await, 0);
    // Confirm afterwards keeps the result; a late duplicate rewrites the same values.
    assert_eq!(api.confirm(&user, &early).await.status, 200);
    handle_s3_event(&app, &TermMatchClassifier::default(), s3_event(&bucket, &[&key])).await.unwrap();
    let again = api.get(&user, &early).await.body;
    assert_eq!(
        (&again["topic_id"], &again["confidence"], &again["status"]),
        (&document["topic_id"], &document["confidence"], &json!("uploaded"))
    );

    // An event for a deleted document resurrects nothing.
    assert_eq!(api.delete(&user, &early).await.status, 204);
    let summary = handle_s3_event(&app, &TermMatchClassifier::default(), s3_event(&bucket, &[&key])).await.unwrap();
    assert_eq!((summary.skipped, summary.errors), (1, 0));
    assert_detail(&api.get(&user, &early).await, 404);

    // Keys that are not ours (spaces, non-ASCII, other shapes, other buckets) are skipped.
    let summary = handle_s3_event(
        &app,
        &TermMatchClassifier::default(),
        s3_event(&bucket, &["users/some+user/caf%C3%A9+menu.pdf", "users/a%20b/not-a-uuid", "uploads/x", "bad%FF"]),
    )
    .await
    .unwrap();
    assert_eq!((summary.records, summary.skipped, summary.errors), (4, 4, 0));
    let other =
        handle_s3_event(&app, &TermMatchClassifier::default(), s3_event("another-bucket", &[&key])).await.unwrap();
    assert_eq!(other.skipped, 1);
    // S3's test event on configuring a notification is ignored.
    let test_event = lambda_runtime::LambdaEvent::new(
        json!({ "Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": bucket }),
        lambda_runtime::Context::default(),
    );
    assert_eq!(handle_s3_event(&app, &TermMatchClassifier::default(), test_event).await.unwrap().records, 0);
}

#[tokio::test]
async fn topics_are_listed_in_pages_and_capped_per_user() {
    let api = Api::new();
    let user = new_user();
    let mut created = Vec::new();
    for name in ["Alpha", "Beta", "Gamma"] {
        created.push(api.create_topic(&user, name, "").await);
    }
    let first = api.call(Method::GET, "/api/topics?limit=2", &user, None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let names: Vec<&str> =
        first.body["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Alpha", "Beta"], "oldest first");
    let cursor = first.body["next_cursor"].as_str().expect("more follow");
    let second = api.call(Method::GET, &format!("/api/topics?limit=2&cursor={cursor}"), &user, None).await;
    assert_eq!(second.body["items"][0]["name"], "Gamma");
    assert!(second.body["next_cursor"].is_null() || second.body["items"].as_array().unwrap().len() == 1);
    for query in ["?limit=0", "?limit=101", "?cursor=bogus"] {
        assert_detail(&api.call(Method::GET, &format!("/api/topics{query}"), &user, None).await, 422);
    }

    // A deployment that allows three topics refuses a fourth (429, nothing written) until one goes.
    let mut config = shared::Config::from_env().unwrap();
    config.max_topics = 3;
    let app = common::with_extraction_worker(shared::App::from_config(config).await.unwrap());
    let owner = shared::domain::UserId::parse(&user).unwrap();
    let invocation = common::invocation();
    let fourth = shared::operations::topics::create_topic(&app, &invocation, &owner, "Delta", "").await.unwrap();
    assert_eq!(fourth, shared::table::NewTopic::TooMany { max: 3 });
    assert_eq!(api.call(Method::GET, "/api/topics", &user, None).await.body["items"].as_array().unwrap().len(), 3);
    let gone = shared::domain::TopicId::parse(&created[0]).unwrap();
    assert!(shared::operations::topics::delete_topic(&app, &invocation, &owner, gone).await.unwrap());
    let again = shared::operations::topics::create_topic(&app, &invocation, &owner, "Delta", "").await.unwrap();
    assert!(again.created().is_some(), "a deleted topic frees its place");
}

#[tokio::test]
async fn topics_are_per_user_and_deleting_one_keeps_its_documents() {
    let api = Api::new();
    let (user, other) = (new_user(), new_user());
    let recipes = api.create_topic(&user, "Recipes", "cooking oven bake flour sugar").await;
    let duplicate =
        api.call(Method::POST, "/api/topics", &user, Some(json!({ "name": "  RECIPES ", "description": "" }))).await;
    assert_detail(&duplicate, 409);
    for bad in [
        json!({ "name": "" }),
        json!({ "description": "x" }),
        json!({ "name": "x".repeat(101) }),
        json!({ "name": "a\u{1}b" }),
    ] {
        assert_detail(&api.call(Method::POST, "/api/topics", &user, Some(bad)).await, 422);
    }
    let listed = api.call(Method::GET, "/api/topics", &user, None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["name"], "Recipes");
    assert_eq!(
        api.call(Method::GET, "/api/topics", &other, None).await.body,
        json!({ "items": [], "next_cursor": null })
    );
    assert_detail(&api.call(Method::DELETE, &format!("/api/topics/{recipes}"), &other, None).await, 404);

    let id = api.upload_as(&user, "bread.txt", "text/plain", b"Knead the flour, bake in a hot oven".to_vec()).await;
    assert_eq!(api.classified(&user, &id).await["topic_id"], recipes.as_str());
    assert_eq!(api.call(Method::DELETE, &format!("/api/topics/{recipes}"), &user, None).await.status, 204);
    let document = api.get(&user, &id).await.body;
    assert_eq!(document["status"], "uploaded", "the document is kept");
    assert_eq!(document["classification_status"], "unclassified");
    assert!(document["topic_id"].is_null());
    assert_detail(&api.call(Method::DELETE, &format!("/api/topics/{recipes}"), &user, None).await, 404);
    // The name is free again.
    api.create_topic(&user, "recipes", "").await;
}

#[tokio::test]
async fn manual_reclassification_uses_the_current_topics() {
    let api = Api::new();
    let user = new_user();
    let id = api
        .upload_as(
            &user,
            "flight.txt",
            "text/plain",
            b"Boarding pass: flight to Oslo, gate 12, airport shuttle".to_vec(),
        )
        .await;
    assert_eq!(api.classified(&user, &id).await["classification_status"], "unclassified");
    let travel = api.create_topic(&user, "Travel", "flight airport hotel").await;
    let reply = api.call(Method::POST, &format!("/api/documents/{id}/classify"), &user, None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["classification_status"], "classified");
    assert_eq!(reply.body["topic_id"], travel.as_str());
    assert_eq!(api.get(&user, &id).await.body["topic_id"], travel.as_str());
    // Another user's document, and documents without an object, are refused like elsewhere.
    assert_detail(&api.call(Method::POST, &format!("/api/documents/{id}/classify"), &new_user(), None).await, 404);
    let pending = api.upload_url(&user, "later.txt", "text/plain", None).await;
    let pending_id = pending.body["document_id"].as_str().unwrap();
    assert_detail(&api.call(Method::POST, &format!("/api/documents/{pending_id}/classify"), &user, None).await, 422);
}

#[tokio::test]
async fn documents_can_be_listed_by_topic_and_only_by_their_owner() {
    let api = Api::new();
    let (user, other) = (new_user(), new_user());
    let (invoices, recipes, _) = topics(&api, &user).await;
    let cake = api.upload_as(&user, "cake.txt", "text/plain", b"Bake the flour and sugar in the oven".to_vec()).await;
    let bill = api.upload_as(&user, "bill.txt", "text/plain", b"Invoice: payment due to the vendor".to_vec()).await;
    assert_eq!(api.classified(&user, &cake).await["topic_id"], recipes.as_str());
    assert_eq!(api.classified(&user, &bill).await["topic_id"], invoices.as_str());
    let listed = api.list(&user, &format!("?topic_id={recipes}")).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let ids: Vec<&str> = listed.body["items"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [cake.as_str()]);
    assert!(listed.body["next_cursor"].is_null());
    // Another user asking for this topic sees nothing of it; a malformed id is a 422.
    assert_eq!(api.list(&other, &format!("?topic_id={recipes}")).await.body["items"], json!([]));
    assert_detail(&api.list(&user, "?topic_id=not-a-uuid").await, 422);
}

#[tokio::test]
async fn a_document_filed_by_hand_stays_where_its_owner_put_it() {
    let api = Api::new();
    let (user, other) = (new_user(), new_user());
    let recipes = api.create_topic(&user, "Recipes", "cooking oven bake flour sugar").await;
    let travel = api.create_topic(&user, "Travel", "flights hotels trains").await;
    let theirs = api.create_topic(&other, "Travel", "flights hotels trains").await;
    let id = api.upload_as(&user, "bread.txt", "text/plain", b"Knead the flour, bake in a hot oven".to_vec()).await;
    assert_eq!(api.classified(&user, &id).await["topic_id"], recipes.as_str());
    let path = format!("/api/documents/{id}/topic");

    let filed = api.call(Method::PUT, &path, &user, Some(json!({ "topic_id": travel }))).await;
    assert_eq!(filed.status, 200, "{}", filed.body);
    assert_eq!(filed.body["topic_id"], travel.as_str());
    assert_eq!(filed.body["classification_status"], "classified");
    assert_eq!(filed.body["classified_by"], "user");
    assert!(filed.body["confidence"].is_null());
    let listed = api.list(&user, &format!("?topic_id={travel}")).await;
    let eventually_listed = listed.body["items"].as_array().unwrap().iter().any(|d| d["id"] == id.as_str());
    assert!(eventually_listed || api.get(&user, &id).await.body["topic_id"] == travel.as_str());

    // Isolation and bad input: another user's document or topic is unknown; nothing changes.
    assert_detail(&api.call(Method::PUT, &path, &other, Some(json!({ "topic_id": theirs }))).await, 404);
    let foreign_topic = api.call(Method::PUT, &path, &user, Some(json!({ "topic_id": theirs }))).await;
    assert_detail(&foreign_topic, 404);
    assert_eq!(foreign_topic.body["detail"], "Topic not found");
    for bad in [json!({ "topic_id": "nope" }), json!({}), json!({ "topic_id": recipes, "x": 1 })] {
        assert_detail(&api.call(Method::PUT, &path, &user, Some(bad)).await, 422);
    }
    assert_detail(
        &api.call(Method::PUT, "/api/documents/not-a-uuid/topic", &user, Some(json!({ "topic_id": null }))).await,
        422,
    );
    assert_eq!(api.get(&user, &id).await.body["topic_id"], travel.as_str(), "refused requests change nothing");

    // No automatic classification replaces the user's choice, unless asked to.
    let again = api.call(Method::POST, &format!("/api/documents/{id}/classify"), &user, None).await;
    assert_detail(&again, 409);
    assert!(again.body["detail"].as_str().unwrap().contains("replace_manual"));
    let replaced =
        api.call(Method::POST, &format!("/api/documents/{id}/classify?replace_manual=true"), &user, None).await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(replaced.body["topic_id"], recipes.as_str());
    assert_ne!(replaced.body["classified_by"], "user");

    // Unfiling by hand keeps the document out of every topic.
    let unfiled = api.call(Method::PUT, &path, &user, Some(json!({ "topic_id": null }))).await;
    assert_eq!(unfiled.status, 200, "{}", unfiled.body);
    assert_eq!(unfiled.body["classification_status"], "unclassified");
    assert!(unfiled.body["topic_id"].is_null());
    assert_eq!(unfiled.body["classified_by"], "user");
}

/// The classification write is one `UpdateItem` and the topic is read after it: a result naming
/// a topic whose deletion started in between is taken back, so the deletion (which has looked
/// for its documents already, or is about to) never leaves a document filed under it.
#[tokio::test]
async fn a_result_naming_a_topic_being_deleted_is_taken_back() {
    use shared::domain::{Classification, ClassificationStatus, DocumentId, TopicId, UserId};
    use shared::table::{Overwrite, RecordOutcome};
    let (api, app) = (Api::new(), app().await);
    let user = new_user();
    let (invoices, recipes, _) = topics(&api, &user).await;
    let id = api.upload_as(&user, "bill.txt", "text/plain", b"Invoice: payment due to the vendor".to_vec()).await;
    assert_eq!(api.classified(&user, &id).await["topic_id"], invoices.as_str());
    let (owner, doc) = (UserId::parse(&user).unwrap(), DocumentId::parse(&id).unwrap());
    let going = TopicId::parse(&recipes).unwrap();
    // The deletion has marked the topic (and will look for its documents, or just did).
    app.table.mark_topic_deleting(&owner, going).await.unwrap().unwrap();
    let result = Classification {
        status: ClassificationStatus::Classified,
        topic_id: Some(going),
        confidence: Some(0.9),
        excerpt: Some("Invoice".into()),
        reason: None,
        classified_by: Some("test".into()),
        features: None,
    };
    let outcome =
        app.table.record_classification(&owner, doc, &result, Overwrite::KeepUsersChoice, None).await.unwrap();
    assert_eq!(outcome, RecordOutcome::TopicGone);
    let document = api.get(&user, &id).await.body;
    assert!(document["topic_id"].is_null(), "not filed under a topic being deleted: {document}");
    assert_eq!(document["classification_status"], "unclassified");
    // Filing by hand under it is refused before anything is written.
    let filed =
        api.call(Method::PUT, &format!("/api/documents/{id}/topic"), &user, Some(json!({ "topic_id": recipes }))).await;
    assert_detail(&filed, 404);
}

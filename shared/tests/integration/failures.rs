//! What real AWS does that the emulators never do, and what the code does about it. Faults come
//! from proxies between the functions' clients and the local stack (`faults`), which answer as
//! DynamoDB and S3 do under stress; the rest goes through the real stack end to end.

use std::time::{Duration, Instant};

use faults::{Fault, Match, Rule};
use lambda_http::Request;
use serde_json::json;
use shared::domain::{object_key, DocumentId, DocumentStatus, UserId};
use shared::entry::http as handlers;
use shared::App;

use crate::common::{
    self, app, assert_detail, event_request, new_user, reply_of, through_fault_proxies, upload_url_request, Api, Reply,
};

const TRANSACT: &str = "DynamoDB.TransactWriteItems";
const UPDATE: &str = "DynamoDB.UpdateItem";

fn operation(name: &str) -> Match {
    Match::Operation(name.to_owned())
}

async fn call(
    handler: impl std::future::Future<Output = Result<lambda_http::Response<lambda_http::Body>, lambda_http::Error>>,
) -> Reply {
    reply_of(handler.await.expect("handlers answer every request"))
}

async fn upload_url(app: &App, user: &str, size: Option<u64>) -> Reply {
    call(handlers::upload_url(app, upload_url_request(user, "f.txt", size))).await
}

fn confirm_request(user: &str, id: &str) -> Request {
    event_request("confirm.json", user, Some(id))
}

async fn object_exists(app: &App, user: &str, id: &str) -> bool {
    let key = object_key(&UserId::parse(user).unwrap(), DocumentId::parse(id).unwrap());
    app.storage.object_size(&common::invocation(), &key).await.unwrap().is_some()
}

/// Waits up to 30 s for `condition` (work the S3 notification starts in the background).
async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition().await {
        assert!(Instant::now() < deadline, "{what} did not happen within 30 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn conflicts_throttling_and_server_errors_are_retried_not_answered() {
    let base = app().await;
    let faulty = through_fault_proxies(&base, 11).await;
    faulty.dynamodb.set_rules(vec![
        Rule::new(operation(TRANSACT), Fault::TransactionConflict).at_most(4),
        Rule::new(operation(TRANSACT), Fault::TransactionThrottled).at_most(2),
        Rule::new(Match::Prefix("DynamoDB.".into()), Fault::Throttling).with_probability(0.3).at_most(4),
        Rule::new(Match::Prefix("DynamoDB.".into()), Fault::ProvisionedThroughputExceeded)
            .with_probability(0.3)
            .at_most(2),
        Rule::new(Match::Prefix("DynamoDB.".into()), Fault::ServerError(500)).with_probability(0.3).at_most(3),
    ]);
    faulty.s3.set_rules(vec![
        Rule::new(Match::Prefix("S3.".into()), Fault::ServerError(503)).at_most(2),
        Rule::new(Match::Prefix("S3.".into()), Fault::ConnectionReset).at_most(2),
    ]);
    let (api, user) = (Api::new(), new_user());

    let upload = upload_url(&faulty.app, &user, Some(5)).await;
    assert_eq!(upload.status, 200, "{}", upload.body);
    let id = upload.body["document_id"].as_str().unwrap().to_owned();
    assert_eq!(api.put_object(&upload.body, b"hello".to_vec()).await, 200);
    let confirm = call(handlers::confirm(&faulty.app, confirm_request(&user, &id))).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert_eq!(confirm.body["used_bytes"], 5);
    let delete = call(handlers::delete(&faulty.app, event_request("delete.json", &user, Some(&id)))).await;
    assert_eq!(delete.status, 204, "{}", delete.body);
    assert_eq!(api.used_bytes(&user).await, 0);

    let injected = faulty.dynamodb.injected();
    println!("injected: DynamoDB {injected:?}, S3 {:?}", faulty.s3.injected());
    assert_eq!(injected.get("TransactionConflict"), Some(&4));
    assert_eq!(injected.get("TransactionThrottled"), Some(&2));
    assert_eq!(faulty.s3.injected().values().sum::<u64>(), 4);
}

#[tokio::test]
async fn a_reply_lost_after_the_commit_is_answered_as_the_commit_would_have_been() {
    let base = app().await;
    let faulty = through_fault_proxies(&base, 12).await;
    let lose_next =
        |name: &str| faulty.dynamodb.set_rules(vec![Rule::new(operation(name), Fault::CommitThenDropReply).at_most(1)]);
    let lose_next_commit = || lose_next(TRANSACT);
    let (api, user) = (Api::new(), new_user());
    let owner = UserId::parse(&user).unwrap();

    lose_next_commit();
    let upload = upload_url(&faulty.app, &user, Some(5)).await;
    assert_eq!(upload.status, 200, "upload-url after a lost reply: {}", upload.body);
    let id = upload.body["document_id"].as_str().unwrap().to_owned();
    assert_eq!(api.list(&user, "").await.body["items"].as_array().unwrap().len(), 1, "one document, not two");
    assert_eq!(base.table.get_quota_counters(&owner).await.unwrap().pending_uploads, 1, "counted once");

    assert_eq!(api.put_object(&upload.body, b"hello".to_vec()).await, 200);
    // Confirm charges the counters with one UpdateItem and settles the document with a second
    // (`domain::charge`): the charge's reply is lost.
    lose_next(UPDATE);
    let confirm = call(handlers::confirm(&faulty.app, confirm_request(&user, &id))).await;
    assert_eq!(confirm.status, 200, "confirm after a lost reply: {}", confirm.body);
    assert_eq!(confirm.body["used_bytes"], 5);
    assert_eq!(api.used_bytes(&user).await, 5, "charged once");
    let counters = base.table.get_quota_counters(&owner).await.unwrap();
    assert_eq!((counters.reserved_bytes, counters.pending_uploads), (0, 0), "{counters:?}");

    lose_next_commit();
    let delete = call(handlers::delete(&faulty.app, event_request("delete.json", &user, Some(&id)))).await;
    assert_eq!(delete.status, 204, "delete after a lost reply: {}", delete.body);
    assert_eq!(api.used_bytes(&user).await, 0, "refunded once");
    assert_eq!(faulty.dynamodb.injected().get("CommitThenDropReply"), Some(&3));
}

/// DynamoDB answers `IdempotentParameterMismatchException` when a token it saw in the last 10
/// minutes comes with other values (TransactWriteItems, API reference). Tokens are derived from
/// the values written, so this should not happen; if it does, the write is decided again by its
/// conditions: a commit that already happened is recognised, and nothing is charged twice.
#[tokio::test]
async fn an_idempotency_mismatch_is_decided_by_the_conditions_not_answered() {
    let base = app().await;
    let faulty = through_fault_proxies(&base, 16).await;
    let mismatch = Fault::Respond {
        status: 400,
        content_type: "application/x-amz-json-1.0".into(),
        body: json!({
            "__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
            "message": "The request uses the same client token as a previous, but non-identical request."
        })
        .to_string(),
    };
    let (api, user) = (Api::new(), new_user());
    let upload = upload_url(&base, &user, Some(5)).await;
    let id = upload.body["document_id"].as_str().unwrap().to_owned();
    assert_eq!(api.put_object(&upload.body, b"hello".to_vec()).await, 200);
    let confirm = call(handlers::confirm(&faulty.app, confirm_request(&user, &id))).await;
    assert_eq!((confirm.status, &confirm.body["used_bytes"]), (200, &json!(5)), "{}", confirm.body);
    // (A declared upload's confirm is no transaction: `domain::charge`.)
    // A commit whose reply was lost, then a mismatch on its resend: sent again under a new
    // token, it fails the document's condition, and the delete answers from the document as it
    // is now (gone: 404, as for any delete that finds no document), refunded once.
    faulty.dynamodb.set_rules(vec![
        Rule::new(operation(TRANSACT), Fault::CommitThenDropReply).at_most(1),
        Rule::new(operation(TRANSACT), mismatch.clone()).at_most(1),
    ]);
    let delete = call(handlers::delete(&faulty.app, event_request("delete.json", &user, Some(&id)))).await;
    assert_eq!(delete.status, 404, "{}", delete.body);
    assert_eq!(api.used_bytes(&user).await, 0, "refunded once");
    assert_eq!(api.get(&user, &id).await.status, 404, "deleted");
    faulty.dynamodb.set_rules(vec![Rule::new(operation(TRANSACT), mismatch).at_most(1)]);
    let again = upload_url(&faulty.app, &user, Some(7)).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let owner = UserId::parse(&user).unwrap();
    assert_eq!(base.table.get_quota_counters(&owner).await.unwrap().pending_uploads, 1, "counted once");
    assert_eq!(faulty.dynamodb.injected().values().sum::<u64>(), 3);
}

#[tokio::test]
async fn a_missing_object_answered_403_reads_as_missing() {
    // What S3 answers in AWS to a caller without s3:ListBucket.
    let base = app().await;
    let faulty = through_fault_proxies(&base, 13).await;
    faulty.s3.set_rules(vec![Rule::new(Match::Prefix("S3.".into()), Fault::MissingKeyForbidden)]);
    let user = new_user();
    let upload = upload_url(&faulty.app, &user, None).await;
    let id = upload.body["document_id"].as_str().unwrap().to_owned();

    assert_detail(&call(handlers::confirm(&faulty.app, confirm_request(&user, &id))).await, 422);
    let unknown = DocumentId::new().to_string();
    assert_detail(&call(handlers::confirm(&faulty.app, confirm_request(&user, &unknown))).await, 404);
    let term_match = shared::classifier::TermMatchClassifier::default();
    let reclassify = handlers::reclassify(&faulty.app, &term_match, event_request("reclassify.json", &user, Some(&id)));
    assert_detail(&call(reclassify).await, 422);
    assert!(faulty.s3.injected().get("MissingKeyForbidden").is_some_and(|n| *n >= 2));
}

#[tokio::test]
async fn a_put_after_delete_leaves_no_object_behind() {
    // The URL outlives the document: the object it creates has no owner, and its ObjectCreated
    // event (the real notification, dispatcher and classify function) removes it.
    let (api, base, user) = (Api::new(), app().await, new_user());
    let upload = api.upload_url(&user, "late.txt", "text/plain", None).await;
    let id = upload.body["document_id"].as_str().unwrap().to_owned();
    assert_eq!(api.delete(&user, &id).await.status, 204);
    assert_eq!(api.put_object(&upload.body, b"too late".to_vec()).await, 200, "the URL still works");
    eventually("removal of the orphan object", async || !object_exists(&base, &user, &id).await).await;
    assert_eq!(api.used_bytes(&user).await, 0);
}

#[tokio::test]
async fn a_url_used_again_after_its_upload_was_rejected_stores_nothing_that_stays() {
    // confirm refuses a `.pdf` holding text (415) and removes its object; the URL still works
    // for its lifetime, and `If-None-Match: *` only guards an object that exists.
    let (api, base, user) = (Api::new(), app().await, new_user());
    let text = b"Meeting notes, not a PDF at all".to_vec();
    let upload = api.upload_url(&user, "notes.pdf", "application/pdf", Some(text.len() as u64)).await;
    let id = upload.body["document_id"].as_str().unwrap().to_owned();
    assert_eq!(api.put_object(&upload.body, text.clone()).await, 200);
    assert_detail(&api.confirm(&user, &id).await, 415);
    assert!(!object_exists(&base, &user, &id).await, "the refused object is removed");
    assert_eq!(api.put_object(&upload.body, text).await, 200, "the URL works again once its object is gone");
    eventually("removal of the object stored after the rejection", async || !object_exists(&base, &user, &id).await)
        .await;
    let counters = base.table.get_quota_counters(&UserId::parse(&user).unwrap()).await.unwrap();
    assert_eq!((counters.used_bytes, counters.reserved_bytes, counters.pending_uploads), (0, 0, 0));
    assert_eq!(api.get(&user, &id).await.body["status"], "rejected");
}

#[tokio::test]
async fn undeclared_uploads_together_never_store_more_than_the_quota() {
    // Three undeclared uploads of 40 kB against a limit of 100 kB: each reserves its size as it
    // arrives, so the third does not fit and is rejected with its object removed.
    let (api, base, user) = (Api::new(), app().await, new_user());
    let owner = UserId::parse(&user).unwrap();
    base.table.set_user_limit(&owner, Some(100_000)).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..3 {
        let upload = api.upload_url(&user, &format!("part-{n}.txt"), "text/plain", None).await;
        assert_eq!(api.put_object(&upload.body, vec![b'a' + n; 40_000]).await, 200);
        ids.push(upload.body["document_id"].as_str().unwrap().to_owned());
    }
    let settled = async || {
        let mut reserved = 0;
        for id in &ids {
            let document = api.get(&user, id).await.body;
            let stored = object_exists(&base, &user, id).await;
            if document["status"] == "rejected" && !stored {
                continue;
            }
            if !stored {
                return false;
            }
            reserved += 40_000;
        }
        let counters = base.table.get_quota_counters(&owner).await.unwrap();
        reserved == 80_000 && counters.reserved_bytes == 80_000
    };
    eventually("the arrivals reserved, the third one rejected", settled).await;
    let counters = base.table.get_quota_counters(&owner).await.unwrap();
    assert_eq!((counters.used_bytes, counters.reserved_bytes, counters.pending_uploads), (0, 80_000, 2));
    let mut answers = Vec::new();
    for id in &ids {
        answers.push(api.confirm(&user, id).await);
    }
    let confirmed: Vec<u64> =
        answers.iter().filter(|a| a.status == 200).map(|a| a.body["used_bytes"].as_u64().unwrap()).collect();
    assert_eq!(confirmed.len(), 2, "{:?}", answers.iter().map(|a| &a.body).collect::<Vec<_>>());
    assert_eq!(*confirmed.iter().max().unwrap(), 80_000);
    assert_eq!(answers.iter().filter(|a| a.status == 413).count(), 1);
    let counters = base.table.get_quota_counters(&owner).await.unwrap();
    assert_eq!((counters.used_bytes, counters.reserved_bytes, counters.pending_uploads), (80_000, 0, 0));
}

#[tokio::test]
async fn an_undeclared_upload_over_the_quota_is_rejected_when_it_arrives() {
    let (api, base, user) = (Api::new(), app().await, new_user());
    let owner = UserId::parse(&user).unwrap();
    base.table.set_user_limit(&owner, Some(100)).await.unwrap();
    let upload = api.upload_url(&user, "big.txt", "text/plain", None).await;
    let id = upload.body["document_id"].as_str().unwrap().to_owned();
    assert_eq!(api.put_object(&upload.body, vec![b'x'; 300]).await, 200);
    eventually("rejection on arrival", async || api.get(&user, &id).await.body["status"] == "rejected").await;
    eventually("removal of the rejected object", async || !object_exists(&base, &user, &id).await).await;
    let confirm = api.confirm(&user, &id).await;
    assert_detail(&confirm, 413);
    assert_eq!(confirm.body["detail"], json!({ "used_bytes": 0, "limit_bytes": 100, "rejected_bytes": 300 }));
    let counters = base.table.get_quota_counters(&owner).await.unwrap();
    assert_eq!((counters.used_bytes, counters.pending_uploads), (0, 0));
}

#[tokio::test]
async fn open_uploads_are_capped_per_user_and_freed_by_confirm_and_delete() {
    let mut config = shared::Config::from_env().unwrap();
    config.max_pending_uploads = 3;
    let app = common::with_extraction_worker(App::from_config(config).await.unwrap());
    let (api, user) = (Api::new(), new_user());
    let mut uploads = Vec::new();
    for _ in 0..3 {
        let reply = upload_url(&app, &user, Some(4)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        uploads.push(reply.body);
    }
    let refused = upload_url(&app, &user, Some(4)).await;
    assert_detail(&refused, 429);
    assert!(refused.body["detail"].as_str().unwrap().contains("at most 3"), "{}", refused.body);
    assert_eq!(api.list(&user, "").await.body["items"].as_array().unwrap().len(), 3, "nothing written");

    let first = uploads[0]["document_id"].as_str().unwrap();
    assert_eq!(api.put_object(&uploads[0], b"data".to_vec()).await, 200);
    assert_eq!(call(handlers::confirm(&app, confirm_request(&user, first))).await.status, 200);
    assert_eq!(upload_url(&app, &user, Some(4)).await.status, 200, "a confirm frees a place");
    let second = uploads[1]["document_id"].as_str().unwrap();
    assert_eq!(call(handlers::delete(&app, event_request("delete.json", &user, Some(second)))).await.status, 204);
    assert_eq!(upload_url(&app, &user, Some(4)).await.status, 200, "a delete frees a place");
    assert_detail(&upload_url(&app, &user, Some(4)).await, 429);
}

#[tokio::test]
async fn declared_sizes_are_reserved_until_confirmed_or_released() {
    let (api, base, user) = (Api::new(), app().await, new_user());
    base.table.set_user_limit(&UserId::parse(&user).unwrap(), Some(100)).await.unwrap();
    let first = api.upload_url(&user, "a.txt", "text/plain", Some(60)).await;
    assert_eq!(first.status, 200);
    assert_eq!(api.quota(&user).await.body, json!({ "used_bytes": 0, "limit_bytes": 100, "reserved_bytes": 60 }));
    // Two tabs cannot both promise the same room.
    let second = api.upload_url(&user, "b.txt", "text/plain", Some(60)).await;
    assert_detail(&second, 413);
    assert_eq!(second.body["detail"]["rejected_bytes"], 60);
    let id = first.body["document_id"].as_str().unwrap().to_owned();
    assert_eq!(api.delete(&user, &id).await.status, 204);
    assert_eq!(api.quota(&user).await.body["reserved_bytes"], 0);
    let third = api.upload_url(&user, "c.txt", "text/plain", Some(60)).await;
    assert_eq!(third.status, 200);
    assert_eq!(api.put_object(&third.body, vec![b'c'; 60]).await, 200);
    let confirm = api.confirm(&user, third.body["document_id"].as_str().unwrap()).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert_eq!(api.quota(&user).await.body, json!({ "used_bytes": 60, "limit_bytes": 100, "reserved_bytes": 0 }));
}

#[tokio::test]
async fn decompression_bombs_fail_their_document_and_the_function_keeps_serving() {
    let (api, user) = (Api::new(), new_user());
    api.create_topic(&user, "Recipes", "cooking oven bake flour sugar").await;
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/data");
    let pdf =
        api.upload_as(&user, "bomb.pdf", common::samples::PDF, std::fs::read(data.join("bomb.pdf")).unwrap()).await;
    let docx =
        api.upload_as(&user, "bomb.docx", common::samples::DOCX, std::fs::read(data.join("bomb.docx")).unwrap()).await;
    let started = Instant::now();
    let pdf = api.classified(&user, &pdf).await;
    assert_eq!(pdf["classification_status"], "failed", "{pdf}");
    assert!(pdf["classification_reason"].as_str().is_some_and(|r| !r.is_empty()), "{pdf}");
    // The DOCX's text is read up to the configured caps: whatever the verdict, it settles.
    let docx = api.classified(&user, &docx).await;
    assert_ne!(docx["classification_status"], "pending", "{docx}");
    println!(
        "bombs settled in {:?}: pdf {}, docx {}",
        started.elapsed(),
        pdf["classification_reason"],
        docx["classification_status"]
    );
    // The same function still serves the next document.
    let cake = api.upload_as(&user, "cake.txt", "text/plain", b"Bake the flour and sugar in the oven".to_vec()).await;
    assert_eq!(api.classified(&user, &cake).await["classification_status"], "classified");
}

#[tokio::test]
async fn a_late_duplicate_topic_delete_leaves_a_newer_topic_of_that_name_alone() {
    let base = app().await;
    let slow = through_fault_proxies(&base, 14).await;
    // The slow delete's search for the topic's documents takes a while...
    slow.dynamodb.set_rules(vec![Rule::new(operation("DynamoDB.Query"), Fault::Latency(Duration::from_millis(1500)))]);
    let user = UserId::parse(&new_user()).unwrap();
    let invocation = common::invocation();
    let old = base.table.create_topic(&invocation, &user, "Receipts", "", 0).await.unwrap().created().unwrap();
    let late = {
        let (app, user) = (slow.app.clone(), user.clone());
        tokio::spawn(async move {
            shared::operations::topics::delete_topic(&app, &common::invocation(), &user, old.id).await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...meanwhile the first delete finishes and the name is taken again.
    assert!(shared::operations::topics::delete_topic(&base, &invocation, &user, old.id).await.unwrap());
    let newer = base
        .table
        .create_topic(&invocation, &user, "Receipts", "", 0)
        .await
        .unwrap()
        .created()
        .expect("the name is free");
    assert!(late.await.unwrap().unwrap());
    assert!(
        base.table.create_topic(&invocation, &user, "receipts", "", 0).await.unwrap()
            == shared::table::NewTopic::NameTaken,
        "still taken"
    );
    let topics = base.table.list_topics(&user).await.unwrap();
    assert_eq!(topics.iter().map(|t| t.id).collect::<Vec<_>>(), [newer.id]);
}

#[tokio::test]
async fn deleting_a_topic_sees_a_classification_committed_just_before() {
    // Under eventual consistency a search can miss a write of a moment ago; the proxy hides such
    // writes from reads that do not ask for consistency.
    let base = app().await;
    let faulty = through_fault_proxies(&base, 15).await;
    faulty
        .dynamodb
        .set_rules(vec![Rule::new(Match::Prefix("DynamoDB.".into()), Fault::StaleReads(Duration::from_secs(30)))]);
    let (api, user) = (Api::new(), new_user());
    let id = api.upload_as(&user, "bread.txt", "text/plain", b"Knead the flour, bake in a hot oven".to_vec()).await;
    api.classified(&user, &id).await;
    let owner = UserId::parse(&user).unwrap();
    let invocation = common::invocation();
    let topic = faulty
        .app
        .table
        .create_topic(&invocation, &owner, "Recipes", "bake flour oven", 0)
        .await
        .unwrap()
        .created()
        .unwrap();
    let reply = call(handlers::reclassify(
        &faulty.app,
        &shared::classifier::TermMatchClassifier::default(),
        event_request("reclassify.json", &user, Some(&id)),
    ))
    .await;
    assert_eq!(reply.body["topic_id"], topic.id.to_string(), "{}", reply.body);
    assert!(shared::operations::topics::delete_topic(&faulty.app, &invocation, &owner, topic.id).await.unwrap());
    let document = base.table.get_document(&owner, DocumentId::parse(&id).unwrap()).await.unwrap().unwrap();
    assert_eq!(document.status, DocumentStatus::Uploaded);
    assert!(document.classification.topic_id.is_none(), "still filed under the deleted topic: {document:?}");
    assert_eq!(document.classification.status, shared::domain::ClassificationStatus::Unclassified);
}

/// Confirm charges the counters first and settles the document second (`domain::charge`). A
/// confirm that stops between the two (a crash, a timeout) leaves the document pending but
/// charged: whoever comes next to it settles it: a confirm again (answered as charged, once), a
/// delete (refunded once), or clean-up (the document is kept, uploaded).
#[tokio::test]
async fn a_confirm_that_stopped_after_its_charge_is_settled_by_whoever_comes_next() {
    use shared::domain::PendingCharge;
    use shared::operations::cleanup::{self, CleanupLimits};
    use shared::table::Charge;

    let app = common::isolated_app(1).await;
    let (api, user) = (Api::new(), new_user());
    let owner = UserId::parse(&user).unwrap();
    let mut stopped = Vec::new();
    for size in [5_u64, 7, 11] {
        let upload = upload_url(&app, &user, Some(size)).await;
        let id = upload.body["document_id"].as_str().unwrap().to_owned();
        assert_eq!(api.put_object(&upload.body, vec![b'a'; size as usize]).await, 200);
        // What confirm does up to its charge, and no further.
        let document = app.table.get_document(&owner, DocumentId::parse(&id).unwrap()).await.unwrap().unwrap();
        let charge = PendingCharge::confirming(&document, size, 1).unwrap();
        let first = app.table.charge(&common::invocation(), &owner, &charge).await.unwrap();
        assert!(matches!(first, Charge::Charged { .. }), "{first:?}");
        // Sent again (a reply lost): answered as the first, charged once.
        assert_eq!(app.table.charge(&common::invocation(), &owner, &charge).await.unwrap(), first);
        stopped.push((id, charge));
    }
    // Charging the first again after others: the counters no longer list it.
    let again = app.table.charge(&common::invocation(), &owner, &stopped[0].1).await.unwrap();
    assert_eq!(again, Charge::NotListed);
    let stopped: Vec<String> = stopped.into_iter().map(|(id, _)| id).collect();
    let counters = app.table.get_quota_counters(&owner).await.unwrap();
    assert_eq!((counters.used_bytes, counters.reserved_bytes, counters.pending_uploads), (23, 0, 0));
    let status = async |id: &str| {
        let document = app.table.get_document(&owner, DocumentId::parse(id).unwrap()).await.unwrap();
        document.map(|d| d.status)
    };
    assert_eq!(status(&stopped[0]).await, Some(DocumentStatus::Pending), "not settled yet");

    let confirm = call(handlers::confirm(&app, confirm_request(&user, &stopped[0]))).await;
    assert_eq!((confirm.status, &confirm.body["size_bytes"]), (200, &json!(5)), "{}", confirm.body);
    assert_eq!(confirm.body["used_bytes"], 23, "charged once: {}", confirm.body);
    assert_eq!(status(&stopped[0]).await, Some(DocumentStatus::Uploaded));

    let delete = call(handlers::delete(&app, event_request("delete.json", &user, Some(&stopped[1])))).await;
    assert_eq!(delete.status, 204, "{}", delete.body);
    assert_eq!(app.table.get_quota_counters(&owner).await.unwrap().used_bytes, 16, "refunded once");

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let limits = CleanupLimits { page_size: 25, page_budget: 100, stop_at: Instant::now() + Duration::from_secs(30) };
    let summary = cleanup::run(&app, limits).await;
    assert!(summary.complete, "{summary:?}");
    assert_eq!(status(&stopped[1]).await, None, "deleted");
    assert_eq!(status(&stopped[2]).await, Some(DocumentStatus::Uploaded), "settled, not cleaned up");
    assert!(object_exists(&app, &user, &stopped[2]).await);
    let counters = app.table.get_quota_counters(&owner).await.unwrap();
    assert_eq!((counters.used_bytes, counters.reserved_bytes, counters.pending_uploads), (16, 0, 0));
}

/// A single-item write of an item a transaction is writing is refused with
/// `TransactionConflictException` ("Transaction conflict handling", DynamoDB Developer Guide),
/// which the SDK does not retry: confirm's charge and settle (two `UpdateItem`s) send it again.
#[tokio::test]
async fn a_write_refused_for_a_transaction_on_its_item_is_sent_again() {
    let base = app().await;
    let faulty = through_fault_proxies(&base, 17).await;
    let (api, user) = (Api::new(), new_user());
    let upload = upload_url(&base, &user, Some(5)).await;
    let id = upload.body["document_id"].as_str().unwrap().to_owned();
    assert_eq!(api.put_object(&upload.body, b"hello".to_vec()).await, 200);
    faulty.dynamodb.set_rules(vec![Rule::new(operation(UPDATE), Fault::WriteConflict).at_most(3)]);
    let confirm = call(handlers::confirm(&faulty.app, confirm_request(&user, &id))).await;
    assert_eq!((confirm.status, &confirm.body["used_bytes"]), (200, &json!(5)), "{}", confirm.body);
    assert_eq!(faulty.dynamodb.injected().get("WriteConflict"), Some(&3));
    assert_eq!(api.get(&user, &id).await.body["status"], "uploaded");
    let counters = base.table.get_quota_counters(&UserId::parse(&user).unwrap()).await.unwrap();
    assert_eq!((counters.used_bytes, counters.reserved_bytes, counters.pending_uploads), (5, 0, 0));
}

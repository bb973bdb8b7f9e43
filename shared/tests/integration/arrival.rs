//! Uploads confirmed by their object's arrival (`"confirm_on_arrival": true` at upload-url, as
//! the web page asks): the S3 notification confirms and classifies them, with no confirm request;
//! a confirm request afterwards answers as the arrival decided, and clean-up confirms one whose
//! event never came instead of removing it.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{
    self, app, assert_detail, isolated_app, new_user, put_object_directly, reply_of, samples, through_fault_proxies,
    Api,
};
use faults::{Fault, Match, Rule};
use shared::domain::{object_key, DocumentId, DocumentStatus, UserId};
use shared::entry::http as handlers;
use shared::operations::cleanup::{self, CleanupLimits};

/// upload-url asking to be confirmed on arrival, through the local API.
async fn upload_url(api: &Api, user: &str, filename: &str, content_type: &str, size: Option<u64>) -> Value {
    let mut body = json!({ "filename": filename, "content_type": content_type, "confirm_on_arrival": true });
    if let Some(size) = size {
        body["size_bytes"] = json!(size);
    }
    let reply = api.call(Method::POST, "/api/documents/upload-url", user, Some(body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["confirm_on_arrival"], true, "the answer says no confirm request is needed");
    reply.body
}

/// Polls the document until its arrival was handled: confirmed and classified, or rejected (at
/// most 90 s: the local stack delivers S3 events one after another while other tests upload).
async fn settled(api: &Api, user: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let reply = api.get(user, id).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let body = reply.body;
        if body["status"] == "rejected" || (body["status"] == "uploaded" && body["classification_status"] != "pending")
        {
            return body;
        }
        assert!(Instant::now() < deadline, "{id} not settled after 90 s: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn object_exists(app: &shared::App, user: &str, id: &str) -> bool {
    let key = object_key(&UserId::parse(user).unwrap(), DocumentId::parse(id).unwrap());
    app.storage.object_size(&common::invocation(), &key).await.unwrap().is_some()
}

#[tokio::test]
async fn an_upload_that_asks_is_confirmed_and_classified_when_its_object_arrives() {
    let (api, user) = (Api::new(), new_user());
    let topic = api.create_topic(&user, "Invoices", "bills and invoices to pay").await;
    let text = b"INVOICE 2024-117\nAmount due: 120.00 EUR\nPayment due within 30 days.\n".to_vec();
    let size = text.len() as u64;
    let upload = upload_url(&api, &user, "invoice.txt", "text/plain", Some(size)).await;
    let id = upload["document_id"].as_str().unwrap().to_owned();
    assert_eq!(api.quota(&user).await.body["reserved_bytes"], size);
    assert_eq!(api.put_object(&upload, text).await, 200);

    let document = settled(&api, &user, &id).await;
    assert_eq!(document["status"], "uploaded", "{document}");
    assert_eq!(document["size_bytes"], size);
    assert_eq!(document["topic_id"], topic, "{document}");
    assert_eq!(api.quota(&user).await.body["used_bytes"], size);
    assert_eq!(api.quota(&user).await.body["reserved_bytes"], 0);

    // A client that confirms anyway is answered as the arrival decided, and charged once.
    let confirm = api.confirm(&user, &id).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert_eq!(confirm.body, json!({ "id": id, "size_bytes": size, "used_bytes": size, "status": "uploaded" }));
    assert_eq!(api.used_bytes(&user).await, size);
}

#[tokio::test]
async fn a_docx_read_whole_for_classifying_is_checked_from_that_read() {
    // python-docx puts the main part after others: its central directory decides, read here
    // from the bytes classification read rather than fetched again.
    let (api, user) = (Api::new(), new_user());
    let bytes = samples::docx(&["Minutes of the residents' meeting", "Present: five members"]);
    let size = bytes.len() as u64;
    let upload = upload_url(&api, &user, "minutes.docx", samples::DOCX, Some(size)).await;
    let id = upload["document_id"].as_str().unwrap().to_owned();
    assert_eq!(api.put_object(&upload, bytes).await, 200);
    let document = settled(&api, &user, &id).await;
    assert_eq!(document["status"], "uploaded", "{document}");
    assert_ne!(document["classification_status"], "failed", "{document}");
    assert_eq!(api.used_bytes(&user).await, size);
}

#[tokio::test]
async fn an_upload_confirmed_on_arrival_is_refused_as_a_confirm_would_be() {
    let (api, base, user) = (Api::new(), app().await, new_user());
    let owner = UserId::parse(&user).unwrap();
    base.table.set_user_limit(&owner, Some(100)).await.unwrap();

    // Not the declared type: rejected with the reason on the document, nothing charged.
    let text = b"just some text, not a PDF".to_vec();
    let pdf = upload_url(&api, &user, "fake.pdf", samples::PDF, Some(text.len() as u64)).await;
    let pdf_id = pdf["document_id"].as_str().unwrap().to_owned();
    assert_eq!(api.put_object(&pdf, text).await, 200);
    let document = settled(&api, &user, &pdf_id).await;
    assert_eq!(document["status"], "rejected", "{document}");
    assert!(document["rejection_reason"].as_str().unwrap().contains("declared as application/pdf"), "{document}");
    assert!(!object_exists(&base, &user, &pdf_id).await);
    assert_detail(&api.confirm(&user, &pdf_id).await, 415);

    // Undeclared and larger than what is left: rejected on arrival, its object removed.
    let big = upload_url(&api, &user, "big.txt", "text/plain", None).await;
    let big_id = big["document_id"].as_str().unwrap().to_owned();
    assert_eq!(api.put_object(&big, vec![b'x'; 300]).await, 200);
    let document = settled(&api, &user, &big_id).await;
    assert_eq!(document["status"], "rejected", "{document}");
    assert_eq!(document["rejection_reason"], "the file (300 bytes) does not fit the storage quota");
    assert!(!object_exists(&base, &user, &big_id).await);
    let confirm = api.confirm(&user, &big_id).await;
    assert_detail(&confirm, 413);
    assert_eq!(confirm.body["detail"], json!({ "used_bytes": 0, "limit_bytes": 100, "rejected_bytes": 300 }));
    let counters = base.table.get_quota_counters(&owner).await.unwrap();
    assert_eq!((counters.used_bytes, counters.reserved_bytes, counters.pending_uploads), (0, 0, 0));
}

#[tokio::test]
async fn a_multipart_upload_cannot_ask_to_be_confirmed_on_arrival() {
    let (api, user) = (Api::new(), new_user());
    let body = json!({ "filename": "big.pdf", "content_type": "application/pdf", "size_bytes": 20_000_000,
                       "multipart": true, "confirm_on_arrival": true });
    let reply = api.call(Method::POST, "/api/documents/upload-url", &user, Some(body)).await;
    assert_detail(&reply, 422);
    assert!(reply.body["detail"].as_str().unwrap().contains("confirm_on_arrival"), "{}", reply.body);
    assert_eq!(api.list(&user, "").await.body["items"], json!([]), "nothing written");
}

#[tokio::test]
async fn clean_up_confirms_an_upload_whose_arrival_was_never_handled() {
    // The isolated app's bucket sends no notifications: every arrival here is a lost event.
    let app = isolated_app(2).await;
    let user = new_user();
    let start = |name: &'static str| {
        let mut event = common::event_json("upload-url.json");
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(user);
        let body =
            json!({ "filename": name, "content_type": "text/plain", "size_bytes": 5, "confirm_on_arrival": true });
        event["body"] = json!(body.to_string());
        common::request_of(event)
    };
    let stored = reply_of(handlers::upload_url(&app, start("stored.txt")).await.unwrap());
    let stored = stored.body["document_id"].as_str().unwrap().to_owned();
    put_object_directly(&app, &user, &stored, b"kept!".to_vec()).await;
    let never_sent = reply_of(handlers::upload_url(&app, start("never-sent.txt")).await.unwrap());
    let never_sent = never_sent.body["document_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let limits =
        CleanupLimits { page_size: 100, page_budget: 10_000, stop_at: Instant::now() + Duration::from_secs(60) };
    let summary = cleanup::run(&app, limits).await;
    assert_eq!((summary.found, summary.confirmed, summary.removed, summary.failed), (2, 1, 1, 0), "{summary:?}");
    let owner = UserId::parse(&user).unwrap();
    let kept = app.table.get_document(&owner, DocumentId::parse(&stored).unwrap()).await.unwrap().unwrap();
    assert_eq!((kept.status, kept.size_bytes), (DocumentStatus::Uploaded, Some(5)));
    assert!(object_exists(&app, &user, &stored).await);
    assert!(app.table.get_document(&owner, DocumentId::parse(&never_sent).unwrap()).await.unwrap().is_none());
    let counters = app.table.get_quota_counters(&owner).await.unwrap();
    assert_eq!((counters.used_bytes, counters.reserved_bytes, counters.pending_uploads), (5, 0, 0));
    // The next run finds nothing: the confirmed upload left the pending index.
    assert_eq!(cleanup::run(&app, limits).await.found, 0);
}

#[tokio::test]
async fn clean_up_never_removes_a_stored_upload_it_may_not_read() {
    // A read denied answers 403, as a missing key does to a caller without s3:ListBucket: the
    // upload is kept (and the run reports a failure) until its object can be read.
    let app = isolated_app(2).await;
    let faulty = through_fault_proxies(&app, 7).await;
    let denied = Fault::Respond {
        status: 403,
        content_type: "application/xml".into(),
        body: "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>".into(),
    };
    faulty.s3.set_rules(vec![Rule::new(Match::Operation("S3.GET".into()), denied)]);
    let user = new_user();
    let mut event = common::event_json("upload-url.json");
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(user);
    let body =
        json!({ "filename": "kept.txt", "content_type": "text/plain", "size_bytes": 5, "confirm_on_arrival": true });
    event["body"] = json!(body.to_string());
    let id = reply_of(handlers::upload_url(&app, common::request_of(event)).await.unwrap());
    let id = id.body["document_id"].as_str().unwrap().to_owned();
    put_object_directly(&app, &user, &id, b"kept!".to_vec()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let limits =
        CleanupLimits { page_size: 100, page_budget: 10_000, stop_at: Instant::now() + Duration::from_secs(60) };

    let summary = cleanup::run(&faulty.app, limits).await;
    assert_eq!((summary.found, summary.removed, summary.failed, summary.complete), (1, 0, 1, false), "{summary:?}");
    let owner = UserId::parse(&user).unwrap();
    let document = app.table.get_document(&owner, DocumentId::parse(&id).unwrap()).await.unwrap().unwrap();
    assert_eq!(document.status, DocumentStatus::Pending);
    assert!(object_exists(&app, &user, &id).await);

    faulty.s3.clear_rules();
    let summary = cleanup::run(&faulty.app, limits).await;
    assert_eq!((summary.found, summary.confirmed, summary.failed), (1, 1, 0), "{summary:?}");
    assert_eq!(app.table.get_quota_counters(&owner).await.unwrap().used_bytes, 5);
}

#[tokio::test]
async fn the_classification_of_an_arrival_settles_its_charge_in_the_same_write() {
    use shared::domain::{Classification, Document, PendingCharge};
    use shared::table::{Charge, Overwrite, RecordOutcome, Write};
    let (app, user) = (app().await, new_user());
    let owner = UserId::parse(&user).unwrap();
    let invocation = common::invocation();
    let verdict = Classification::failed("test verdict");
    let charged = |document: &Document| PendingCharge::confirming(document, 5, shared::auth::now_unix()).unwrap();
    let mut documents = Vec::new();
    for name in ["alone.txt", "settled-meanwhile.txt", "filed-by-hand.txt"] {
        let document = Document::pending(owner.clone(), name.into(), "text/plain".into(), Some(5), 0);
        assert_eq!(app.table.create_document(&invocation, &document).await.unwrap(), Write::Done);
        let charge = charged(&document);
        assert!(matches!(app.table.charge(&invocation, &owner, &charge).await.unwrap(), Charge::Charged { .. }));
        documents.push((document, charge));
    }
    let status = |id| {
        let (app, owner) = (&app, &owner);
        async move { app.table.get_document(owner, id).await.unwrap().unwrap() }
    };

    // Charged and unsettled: the classification's write settles it.
    let (alone, charge) = &documents[0];
    let recorded =
        app.table.record_classification(&owner, alone.id, &verdict, Overwrite::KeepUsersChoice, Some(charge));
    assert_eq!(recorded.await.unwrap(), RecordOutcome::Recorded);
    let now = status(alone.id).await;
    assert_eq!(
        (now.status, now.size_bytes, now.classification.status),
        (DocumentStatus::Uploaded, Some(5), verdict.status)
    );

    // Settled by someone else first (a confirm request): written again without the settle.
    let (settled, charge) = &documents[1];
    assert!(app.table.settle(&invocation, &owner, charge).await.unwrap());
    let recorded =
        app.table.record_classification(&owner, settled.id, &verdict, Overwrite::KeepUsersChoice, Some(charge));
    assert_eq!(recorded.await.unwrap(), RecordOutcome::Recorded);
    assert_eq!(status(settled.id).await.classification.status, verdict.status);

    // Filed by hand meanwhile: nothing written, and the caller settles it alone.
    let (filed, charge) = &documents[2];
    let hand = Classification {
        classified_by: Some(shared::domain::FILED_BY_USER.into()),
        ..Classification::failed("by hand")
    };
    let by_hand = app.table.record_classification(&owner, filed.id, &hand, Overwrite::KeepUsersChoice, None);
    assert_eq!(by_hand.await.unwrap(), RecordOutcome::Recorded);
    let recorded =
        app.table.record_classification(&owner, filed.id, &verdict, Overwrite::KeepUsersChoice, Some(charge));
    assert_eq!(recorded.await.unwrap(), RecordOutcome::FiledByUser);
    assert_eq!(status(filed.id).await.status, DocumentStatus::Pending);
    assert!(app.table.settle(&invocation, &owner, charge).await.unwrap());

    let counters = app.table.get_quota_counters(&owner).await.unwrap();
    assert_eq!((counters.used_bytes, counters.reserved_bytes, counters.pending_uploads), (15, 0, 0));
    for (document, _) in &documents {
        assert_eq!(status(document.id).await.status, DocumentStatus::Uploaded);
    }
}

//! Multipart uploads end to end: part URLs signed by the parts route, parts PUT to LocalStack,
//! resumed from what storage holds, completed and charged by confirm, aborted by delete.

use reqwest::Method;
use serde_json::{json, Value};

use sha2::Digest;
use shared::domain::{DocumentId, UserId};

use crate::common::contract::{assert_s3_contract, route, s3_contract_violations, through_recording_proxy};
use crate::common::{app, assert_detail, new_user, Api};

const PART_SIZE: usize = 8 * 1024 * 1024;

async fn start(api: &Api, user: &str, size: usize) -> (String, Value) {
    let body = json!({ "filename": "big.txt", "content_type": "text/plain", "size_bytes": size, "multipart": true });
    let reply = api.call(Method::POST, "/api/documents/upload-url", user, Some(body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    (reply.body["document_id"].as_str().unwrap().to_owned(), reply.body)
}

async fn sign(api: &Api, user: &str, id: &str, parts: &[u32]) -> Vec<Value> {
    let reply = api
        .call(Method::POST, &format!("/api/documents/{id}/parts"), user, Some(json!({ "part_numbers": parts })))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["parts"].as_array().unwrap().clone()
}

async fn stored(api: &Api, user: &str, id: &str) -> Value {
    let reply = api.call(Method::GET, &format!("/api/documents/{id}/parts"), user, None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["parts"].clone()
}

/// The file: every byte says which part it belongs to.
fn file(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i / PART_SIZE) as u8).collect()
}

fn part(file: &[u8], number: usize) -> Vec<u8> {
    file[(number - 1) * PART_SIZE..(number * PART_SIZE).min(file.len())].to_vec()
}

#[tokio::test]
async fn a_file_in_parts_is_resumed_completed_and_charged_once() {
    let (api, user) = (Api::new(), new_user());
    let size = 2 * PART_SIZE + 1000;
    let content = file(size);
    let (id, answer) = start(&api, &user, size).await;
    assert_eq!(answer["multipart"], json!({ "part_size": PART_SIZE, "part_count": 3 }));
    assert!(answer.get("upload_url").is_none() && answer.get("headers").is_none(), "{answer}");
    assert_eq!(api.quota(&user).await.body["reserved_bytes"], size);

    let urls = sign(&api, &user, &id, &[3, 1, 2, 2]).await;
    let numbers: Vec<u64> = urls.iter().map(|u| u["part_number"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3], "sorted, once each");
    assert_eq!(urls[2]["headers"]["Content-Length"], "1000", "the last part takes the rest");
    // Part 2 arrives; part 3 with a different length is refused by its signature.
    assert_eq!(api.put_object(&urls[1], part(&content, 2)).await, 200);
    assert_eq!(api.put_object(&urls[2], part(&content, 3)[..999].to_vec()).await, 403);
    let early = api.confirm(&user, &id).await;
    assert_detail(&early, 422);
    assert!(early.body["detail"].as_str().unwrap().contains("parts 1, 3"), "{}", early.body);

    // After a reload the client asks what is there and sends only the rest.
    let held = stored(&api, &user, &id).await;
    assert_eq!(held, json!([{ "part_number": 2, "size_bytes": PART_SIZE }]));
    let missing: Vec<u32> = (1..=3).filter(|n| !stored_has(&held, *n)).collect();
    assert_eq!(missing, [1, 3]);
    for url in sign(&api, &user, &id, &missing).await {
        let number = url["part_number"].as_u64().unwrap() as usize;
        assert_eq!(api.put_object(&url, part(&content, number)).await, 200);
    }
    let confirm = api.confirm(&user, &id).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert_eq!(confirm.body["size_bytes"], size);
    assert_eq!(confirm.body["used_bytes"], size);
    assert_eq!(api.confirm(&user, &id).await.body, confirm.body, "a second confirm answers the same");
    assert_eq!(
        api.quota(&user).await.body,
        json!({ "used_bytes": size, "limit_bytes": 104857600, "reserved_bytes": 0 })
    );
    let document = api.get(&user, &id).await.body;
    let download = reqwest::get(document["download_url"].as_str().unwrap()).await.unwrap();
    assert_eq!(download.bytes().await.unwrap().to_vec(), content, "the parts, in order");
    // Completing the upload is an ObjectCreated event too: classification runs on it.
    assert_ne!(api.classified(&user, &id).await["classification_status"], "pending");
    // Once uploaded there are no parts to sign any more.
    let after = api
        .call(Method::POST, &format!("/api/documents/{id}/parts"), &user, Some(json!({ "part_numbers": [1] })))
        .await;
    assert_detail(&after, 409);
}

/// Multipart uploads storage still holds open for `user`.
async fn open_uploads(app: &shared::App, user: &str) -> usize {
    let listed =
        app.storage.client().list_multipart_uploads().bucket(app.storage.bucket()).prefix(format!("users/{user}/"));
    listed.send().await.unwrap().uploads().len()
}

fn stored_has(parts: &Value, number: u32) -> bool {
    parts.as_array().is_some_and(|parts| parts.iter().any(|p| p["part_number"] == number))
}

#[tokio::test]
async fn deleting_an_unfinished_multipart_upload_aborts_it() {
    let (api, user) = (Api::new(), new_user());
    let (id, _) = start(&api, &user, PART_SIZE + 10).await;
    let urls = sign(&api, &user, &id, &[1]).await;
    assert_eq!(api.put_object(&urls[0], vec![b'p'; PART_SIZE]).await, 200);
    assert_eq!(api.delete(&user, &id).await.status, 204);
    assert_eq!(open_uploads(&app().await, &user).await, 0, "no parts left billing storage");
    assert_eq!(api.quota(&user).await.body["reserved_bytes"], 0);
}

#[tokio::test]
async fn multipart_requests_that_cannot_work_are_refused_with_a_detail() {
    let (api, user) = (Api::new(), new_user());
    let no_size = json!({ "filename": "a.txt", "content_type": "text/plain", "multipart": true });
    assert_detail(&api.call(Method::POST, "/api/documents/upload-url", &user, Some(no_size)).await, 422);
    let (id, _) = start(&api, &user, 100).await;
    for bad in [json!({ "part_numbers": [2] }), json!({ "part_numbers": [] }), json!({ "parts": [1] })] {
        assert_detail(&api.call(Method::POST, &format!("/api/documents/{id}/parts"), &user, Some(bad)).await, 422);
    }
    let single = api.upload_url(&user, "b.txt", "text/plain", Some(5)).await;
    let single_id = single.body["document_id"].as_str().unwrap();
    assert_detail(&api.call(Method::GET, &format!("/api/documents/{single_id}/parts"), &user, None).await, 409);
    assert_detail(&api.call(Method::GET, &format!("/api/documents/{id}/parts"), &new_user(), None).await, 404);
    assert_detail(&api.call(Method::DELETE, &format!("/api/documents/{id}/parts"), &user, None).await, 405);
}

fn sha256_base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

async fn start_checksummed(api: &Api, user: &str, size: usize) -> String {
    let body = json!({ "filename": "big.txt", "content_type": "text/plain", "size_bytes": size, "multipart": true,
                       "checksum_algorithm": "SHA256" });
    let reply = api.call(Method::POST, "/api/documents/upload-url", user, Some(body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["document_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_part_with_a_declared_checksum_is_verified_by_storage() {
    let (api, user) = (Api::new(), new_user());
    let id = start_checksummed(&api, &user, PART_SIZE + 10).await;
    let (first, last) = (vec![b'c'; PART_SIZE], vec![b'e'; 10]);
    let digests = json!({ "1": sha256_base64(&first), "2": sha256_base64(&last) });
    let body = json!({ "part_numbers": [1, 2], "checksums_sha256": digests });
    let reply = api.call(Method::POST, &format!("/api/documents/{id}/parts"), &user, Some(body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let urls = reply.body["parts"].as_array().unwrap();
    assert_eq!(urls[0]["headers"]["X-Amz-Checksum-Sha256"], digests["1"]);
    let mut other = first.clone();
    other[0] = b'd';
    assert_eq!(api.put_object(&urls[0], other).await, 400, "storage checks the part's digest");
    assert_eq!(api.put_object(&urls[0], first).await, 200);
    assert_eq!(api.put_object(&urls[1], last).await, 200);
    assert_eq!(api.confirm(&user, &id).await.status, 200);
    let composite = api.get(&user, &id).await.body["checksum_sha256"].clone();
    assert!(composite.as_str().is_some_and(|c| c.ends_with("-2")), "the composite checksum: {composite}");
    let (plain, _) = start(&api, &user, 100).await;
    let checksummed = start_checksummed(&api, &user, 100).await;
    for (upload, bad) in [
        (&plain, json!({ "part_numbers": [1], "checksums_sha256": { "1": digests["1"] } })),
        (&checksummed, json!({ "part_numbers": [1] })),
        (&checksummed, json!({ "part_numbers": [1], "checksums_sha256": { "2": digests["1"] } })),
        (&checksummed, json!({ "part_numbers": [1], "checksums_sha256": { "1": "abc" } })),
    ] {
        let refused = api.call(Method::POST, &format!("/api/documents/{upload}/parts"), &user, Some(bad)).await;
        assert_detail(&refused, 422);
    }
}

#[tokio::test]
async fn a_part_keeps_its_first_signed_checksum_and_completion_lists_the_kept_ones() {
    let (api, user) = (Api::new(), new_user());
    let id = start_checksummed(&api, &user, PART_SIZE + 10).await;
    let (first, last) = (vec![b'k'; PART_SIZE], vec![b'l'; 10]);
    let digests = json!({ "1": sha256_base64(&first), "2": sha256_base64(&last) });
    let path = format!("/api/documents/{id}/parts");
    let sign = |body: Value| api.call(Method::POST, &path, &user, Some(body));
    let reply = sign(json!({ "part_numbers": [1, 2], "checksums_sha256": digests })).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Signing part 1 again with the same checksum is how a client refreshes an expired URL.
    let again = sign(json!({ "part_numbers": [1], "checksums_sha256": { "1": digests["1"] } })).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let other = sign(json!({ "part_numbers": [1], "checksums_sha256": { "1": digests["2"] } })).await;
    assert_detail(&other, 422);
    assert!(other.body["detail"].as_str().unwrap().contains("[1]"), "{}", other.body);
    let urls = again.body["parts"].as_array().unwrap();
    assert!(urls[0]["upload_url"].as_str().unwrap().contains("X-Amz-Security-Token="), "signed with the token");
    assert_eq!(api.put_object(&urls[0], first).await, 200);
    assert_eq!(api.put_object(&reply.body["parts"][1], last).await, 200);
    // Completion lists each part's checksum, from storage or (SeaweedFS lists none) as kept.
    assert_eq!(api.confirm(&user, &id).await.status, 200);
    let composite = api.get(&user, &id).await.body["checksum_sha256"].clone();
    assert!(composite.as_str().is_some_and(|c| c.ends_with("-2")), "the composite checksum: {composite}");
}

#[tokio::test]
async fn a_browser_upload_in_parts_keeps_s3_s_contract_and_its_composite_checksum() {
    let recorded = through_recording_proxy(&app().await).await;
    let (app, user) = (&recorded.app, new_user());
    let size = 2 * PART_SIZE + 1000;
    let content = file(size);
    let body = json!({ "filename": "big.txt", "content_type": "text/plain", "size_bytes": size, "multipart": true,
                       "checksum_algorithm": "SHA256" });
    let started = route(app, Method::POST, "/api/documents/upload-url", &user, Some(body)).await;
    assert_eq!(started.status, 200, "{}", started.body);
    let id = started.body["document_id"].as_str().unwrap();
    let digests: Vec<[u8; 32]> = (1..=3).map(|n| sha2::Sha256::digest(part(&content, n)).into()).collect();
    let checksums: serde_json::Map<String, Value> =
        (1..=3).map(|n| (n.to_string(), json!(sha256_base64(&part(&content, n))))).collect();
    let body = json!({ "part_numbers": [1, 2, 3], "checksums_sha256": checksums });
    let signed = route(app, Method::POST, &format!("/api/documents/{id}/parts"), &user, Some(body)).await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    let api = Api::new();
    for url in signed.body["parts"].as_array().unwrap() {
        let number = url["part_number"].as_u64().unwrap() as usize;
        assert!(url["upload_url"].as_str().unwrap().starts_with(&recorded.s3.url()), "through the recorder");
        assert_eq!(api.put_object(url, part(&content, number)).await, 200);
    }
    let confirmed = route(app, Method::POST, &format!("/api/documents/{id}/confirm"), &user, None).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    // S3's composite checksum: the SHA-256 of the parts' digests, then the part count.
    let expected = format!("{}-3", sha256_base64(&digests.concat()));
    let document = route(app, Method::GET, &format!("/api/documents/{id}"), &user, None).await;
    assert_eq!(document.body["checksum_sha256"], expected.as_str(), "{}", document.body);
    let operations = recorded.s3.requests();
    assert_eq!(operations.get("S3.UploadPart"), Some(&3), "{operations:?}");
    assert_eq!(operations.get("S3.CompleteMultipartUpload"), Some(&1), "{operations:?}");
    assert_s3_contract(&recorded.s3);
}

#[tokio::test]
async fn a_confirm_after_an_earlier_attempt_completed_the_upload_reads_its_composite_checksum() {
    let recorded = through_recording_proxy(&app().await).await;
    let (app, user) = (&recorded.app, new_user());
    let (first, last) = (vec![b'f'; PART_SIZE], vec![b'l'; 10]);
    let body = json!({ "filename": "big.txt", "content_type": "text/plain", "size_bytes": PART_SIZE + 10,
                       "multipart": true, "checksum_algorithm": "SHA256" });
    let started = route(app, Method::POST, "/api/documents/upload-url", &user, Some(body)).await;
    let id = started.body["document_id"].as_str().unwrap();
    let checksums = json!({ "1": sha256_base64(&first), "2": sha256_base64(&last) });
    let body = json!({ "part_numbers": [1, 2], "checksums_sha256": checksums });
    let signed = route(app, Method::POST, &format!("/api/documents/{id}/parts"), &user, Some(body)).await;
    let api = Api::new();
    assert_eq!(api.put_object(&signed.body["parts"][0], first.clone()).await, 200);
    assert_eq!(api.put_object(&signed.body["parts"][1], last.clone()).await, 200);
    // An earlier confirm completed the upload and failed before its transaction.
    let (owner, document_id) = (UserId::parse(&user).unwrap(), DocumentId::parse(id).unwrap());
    let key = shared::domain::object_key(&owner, document_id);
    let pending = app.table.get_document(&owner, document_id).await.unwrap().unwrap();
    let upload_id = pending.multipart.unwrap().upload_id;
    // As confirm completes it: S3's listed checksums, or (SeaweedFS lists none) the kept ones.
    let kept = app.table.part_checksums(&owner, document_id).await.unwrap();
    let mut parts = app.storage.list_parts(&key, &upload_id).await.unwrap().unwrap();
    for part in &mut parts {
        part.checksum_sha256 = part.checksum_sha256.take().or_else(|| kept.get(&part.part_number).cloned());
    }
    app.storage.complete_multipart(&key, &upload_id, &parts).await.unwrap();
    let confirmed = route(app, Method::POST, &format!("/api/documents/{id}/confirm"), &user, None).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    let digests = [sha2::Sha256::digest(&first), sha2::Sha256::digest(&last)].concat();
    let document = route(app, Method::GET, &format!("/api/documents/{id}"), &user, None).await;
    assert_eq!(document.body["checksum_sha256"], format!("{}-2", sha256_base64(&digests)), "from HeadObject");
    assert_s3_contract(&recorded.s3);
}

/// The requests the code sent before checksums were declared at creation: LocalStack takes them
/// all, AWS refuses every part. The contract check names each.
#[tokio::test]
async fn the_contract_check_fails_a_part_checksum_on_an_upload_created_without_its_algorithm() {
    let recorded = through_recording_proxy(&app().await).await;
    let storage = &recorded.app.storage;
    let key = shared::domain::object_key(&UserId::parse(&new_user()).unwrap(), DocumentId::new());
    let upload = storage.start_multipart(&key, "text/plain", None).await.unwrap();
    let bytes = vec![b'o'; 10];
    let lifetime = std::time::Duration::from_secs(60);
    let checksum = sha256_base64(&bytes);
    let url = storage.presign_part(&key, &upload, 1, 10, Some(&checksum), lifetime).await.unwrap();
    let url = json!({ "upload_url": url.url, "headers": url.headers });
    assert_eq!(Api::new().put_object(&url, bytes).await, 200, "LocalStack takes it");
    let parts = storage.list_parts(&key, &upload).await.unwrap().unwrap();
    storage.complete_multipart(&key, &upload, &parts).await.unwrap();
    let violations = s3_contract_violations(&recorded.s3);
    let rules: Vec<&str> = violations.iter().map(|v| v.rule.id).collect();
    assert_eq!(rules, ["checksum-declared-at-create"], "{violations:#?}");
    eprintln!("the old requests: {}", violations[0]);
    storage.delete_object(&key).await.unwrap();
}

#[tokio::test]
async fn clean_up_aborts_an_abandoned_multipart_upload() {
    // A part URL never outlives the document's clean-up: long enough for the one PUT below.
    let app = crate::common::isolated_app(3).await;
    let (api, user) = (Api::new(), new_user());
    let body =
        json!({ "filename": "left.txt", "content_type": "text/plain", "size_bytes": PART_SIZE + 1, "multipart": true });
    let mut event = crate::common::event_json("upload-url.json");
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(user);
    event["body"] = json!(body.to_string());
    let request = crate::common::request_of(event);
    let started = crate::common::reply_of(shared::entry::http::upload_url(&app, request).await.unwrap());
    assert_eq!(started.status, 200, "{}", started.body);
    let id = started.body["document_id"].as_str().unwrap();
    let mut parts = crate::common::event_json("confirm.json");
    parts["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(user);
    parts["rawPath"] = json!(format!("/api/documents/{id}/parts"));
    parts["requestContext"]["http"]["path"] = json!(format!("/api/documents/{id}/parts"));
    parts["pathParameters"]["id"] = json!(id);
    parts["body"] = json!(json!({ "part_numbers": [1] }).to_string());
    let request = crate::common::request_of(parts);
    let signed = crate::common::reply_of(shared::entry::http::parts(&app, request).await.unwrap());
    assert_eq!(signed.status, 200, "{}", signed.body);
    assert_eq!(api.put_object(&signed.body["parts"][0], vec![b'l'; PART_SIZE]).await, 200);
    // Ages are whole seconds: 3 s after a start at x.9 s is not yet "older than 3 s" at x+3;
    // 4.1 s is, from any fraction.
    tokio::time::sleep(std::time::Duration::from_millis(4100)).await;
    let limits = shared::operations::cleanup::CleanupLimits {
        page_size: 100,
        page_budget: 1000,
        stop_at: std::time::Instant::now() + std::time::Duration::from_secs(60),
    };
    let summary = shared::operations::cleanup::run(&app, limits).await;
    assert_eq!((summary.removed, summary.failed), (1, 0), "{summary:?}");
    assert_eq!(open_uploads(&app, &user).await, 0, "the abandoned parts are gone");
}

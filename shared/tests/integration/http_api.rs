//! The HTTP API end to end: real HTTP through `cargo lambda watch` and its router, real
//! presigned PUTs accepted or refused by LocalStack (signature checks on), real DynamoDB
//! semantics from Dynoxide.

use crate::common;
use crate::common::{app, assert_detail, new_user, Api};
use reqwest::Method;
use serde_json::json;
use shared::domain::{object_key, DocumentId, UserId};

#[tokio::test]
async fn upload_confirm_read_download_and_delete() {
    let api = Api::new();
    let user = new_user();
    let content = b"hello world".to_vec();

    let upload = api.upload_url(&user, "Quarterly report.txt", "text/plain", Some(11)).await;
    assert_eq!(upload.status, 200, "{}", upload.body);
    let id = upload.body["document_id"].as_str().unwrap().to_owned();
    DocumentId::parse(&id).expect("document_id is a UUID");
    assert!(upload.body["expires_at"].as_str().unwrap().ends_with('Z'));
    let headers = &upload.body["headers"];
    assert_eq!(headers["Content-Type"], "text/plain");
    assert_eq!(headers["Content-Length"], "11");
    assert_eq!(headers["If-None-Match"], "*");
    // The key is built by the server: no client text in it.
    let url = upload.body["upload_url"].as_str().unwrap();
    assert!(url.contains(&format!("/users/{user}/{id}?")), "{url}");

    let pending = api.get(&user, &id).await;
    assert_eq!(pending.status, 200);
    assert_eq!(pending.body["status"], "pending");
    assert!(pending.body.get("download_url").is_none());

    assert_eq!(api.put_object(&upload.body, content.clone()).await, 200);
    let confirm = api.confirm(&user, &id).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert_eq!(confirm.body, json!({ "id": id, "size_bytes": 11, "used_bytes": 11, "status": "uploaded" }));
    assert_eq!(api.quota(&user).await.body, json!({ "used_bytes": 11, "limit_bytes": 104857600, "reserved_bytes": 0 }));

    let document = api.get(&user, &id).await;
    assert_eq!(document.status, 200);
    assert_eq!(document.body["filename"], "Quarterly report.txt");
    assert_eq!(document.body["status"], "uploaded");
    assert_eq!(document.body["size_bytes"], 11);
    let download = reqwest::get(document.body["download_url"].as_str().unwrap()).await.unwrap();
    assert_eq!(download.status(), 200);
    assert!(download.headers()["content-disposition"].to_str().unwrap().contains("Quarterly report.txt"));
    assert_eq!(download.bytes().await.unwrap().to_vec(), content);

    let list = api.list(&user, "").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["items"][0]["id"], id.as_str());
    assert!(list.body["next_cursor"].is_null());

    let delete = api.delete(&user, &id).await;
    assert_eq!(delete.status, 204, "{}", delete.body);
    assert_eq!(api.used_bytes(&user).await, 0);
    assert_detail(&api.get(&user, &id).await, 404);
    let app = app().await;
    let owner = UserId::parse(&user).unwrap();
    assert_eq!(
        app.storage
            .object_size(&common::invocation(), &object_key(&owner, DocumentId::parse(&id).unwrap()))
            .await
            .unwrap(),
        None
    );

    // A second delete gives nothing back; confirming a deleted document is 404.
    assert_detail(&api.delete(&user, &id).await, 404);
    assert_detail(&api.confirm(&user, &id).await, 404);
    assert_eq!(api.used_bytes(&user).await, 0);
}

#[tokio::test]
async fn confirming_twice_answers_the_same_and_charges_once() {
    let api = Api::new();
    let user = new_user();
    let (id, first) = api.upload(&user, "a.txt", vec![b'a'; 100]).await;
    assert_eq!(first.status, 200);
    let second = api.confirm(&user, &id).await;
    assert_eq!(second.status, 200);
    assert_eq!(first.body, second.body);
    assert_eq!(api.used_bytes(&user).await, 100);
}

#[tokio::test]
async fn every_route_needs_a_valid_token() {
    let api = Api::new();
    let id = DocumentId::new().to_string();
    let routes = [
        (Method::POST, "/api/documents/upload-url".to_owned()),
        (Method::POST, format!("/api/documents/{id}/confirm")),
        (Method::GET, "/api/auth/me/quota".to_owned()),
        (Method::DELETE, format!("/api/documents/{id}")),
        (Method::GET, "/api/documents".to_owned()),
        (Method::GET, format!("/api/documents/{id}")),
    ];
    let expired = shared::auth::mint_local_token("alice", &common::env("LOCAL_JWT_SECRET"), -10);
    let forged = shared::auth::mint_local_token("alice", "not-the-secret", 3600);
    for (method, path) in routes {
        let none = api.raw(method.clone(), &path, None, Some("{}")).await;
        assert_detail(&none, 401);
        for bad in [&expired, &forged, &"not.a.jwt".to_owned()] {
            let reply = api
                .http
                .request(method.clone(), format!("{}{}", api.base, path))
                .bearer_auth(bad)
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 401, "{method} {path}");
        }
    }
}

#[tokio::test]
async fn another_users_document_is_not_found_on_every_route() {
    let api = Api::new();
    let (alice, bob) = (new_user(), new_user());
    let (id, confirm) = api.upload(&alice, "private.txt", b"secret".to_vec()).await;
    assert_eq!(confirm.status, 200);
    let pending = api.upload_url(&alice, "pending.txt", "text/plain", None).await;
    let pending_id = pending.body["document_id"].as_str().unwrap().to_owned();

    for target in [&id, &pending_id] {
        assert_detail(&api.get(&bob, target).await, 404);
        assert_detail(&api.confirm(&bob, target).await, 404);
        assert_detail(&api.delete(&bob, target).await, 404);
    }
    assert_eq!(api.list(&bob, "").await.body["items"], json!([]));
    assert_eq!(api.used_bytes(&bob).await, 0);
    // Alice's documents are untouched.
    assert_eq!(api.get(&alice, &id).await.body["status"], "uploaded");
    assert_eq!(api.get(&alice, &pending_id).await.body["status"], "pending");
    assert_eq!(api.used_bytes(&alice).await, 6);
}

#[tokio::test]
async fn upload_url_refuses_a_declared_size_that_cannot_fit() {
    let api = Api::new();
    let user = new_user();
    let too_big = api.upload_url(&user, "big.pdf", "application/pdf", Some(104_857_601)).await;
    assert_detail(&too_big, 413);
    assert_eq!(
        too_big.body["detail"],
        json!({ "used_bytes": 0, "limit_bytes": 104857600, "rejected_bytes": 104857601 })
    );

    let (_, confirm) = api.upload(&user, "a.txt", vec![b'x'; 10]).await;
    assert_eq!(confirm.status, 200);
    let over = api.upload_url(&user, "b.pdf", "application/pdf", Some(104_857_600 - 9)).await;
    assert_detail(&over, 413);
    assert_eq!(over.body["detail"]["used_bytes"], 10);
    let fits = api.upload_url(&user, "c.pdf", "application/pdf", Some(104_857_600 - 10)).await;
    assert_eq!(fits.status, 200, "exactly the remaining quota fits");
    // Nothing was written for the refused ones.
    assert_eq!(api.list(&user, "").await.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(api.used_bytes(&user).await, 10);
}

#[tokio::test]
async fn confirm_over_quota_rejects_removes_the_object_and_charges_nothing() {
    let api = Api::new();
    let user = new_user();
    let app = app().await;
    let owner = UserId::parse(&user).unwrap();
    app.table.set_user_limit(&owner, Some(100)).await.unwrap();
    assert_eq!(api.quota(&user).await.body, json!({ "used_bytes": 0, "limit_bytes": 100, "reserved_bytes": 0 }));

    let (_, first) = api.upload(&user, "first.txt", vec![b'1'; 60]).await;
    assert_eq!(first.status, 200);
    // Declared sizes are optional; without one the overflow shows at confirm.
    let upload = api.upload_url(&user, "second.txt", "text/plain", None).await;
    let id = upload.body["document_id"].as_str().unwrap().to_owned();
    assert_eq!(api.put_object(&upload.body, vec![b'2'; 60]).await, 200);
    let over = api.confirm(&user, &id).await;
    assert_detail(&over, 413);
    assert_eq!(over.body["detail"], json!({ "used_bytes": 60, "limit_bytes": 100, "rejected_bytes": 60 }));
    assert_eq!(api.used_bytes(&user).await, 60);
    let key = object_key(&owner, DocumentId::parse(&id).unwrap());
    assert_eq!(
        app.storage.object_size(&common::invocation(), &key).await.unwrap(),
        None,
        "the rejected object is removed"
    );
    assert_eq!(api.get(&user, &id).await.body["status"], "rejected");
    // A rejected document can never be confirmed later, even once space is free.
    let again = api.confirm(&user, &id).await;
    assert_detail(&again, 413);
    assert_eq!(again.body["detail"]["rejected_bytes"], 60);
    assert_eq!(api.used_bytes(&user).await, 60);

    // Clearing the per-user limit falls back to the deployment default.
    app.table.set_user_limit(&owner, None).await.unwrap();
    assert_eq!(api.quota(&user).await.body, json!({ "used_bytes": 60, "limit_bytes": 104857600, "reserved_bytes": 0 }));
}

#[tokio::test]
async fn unsupported_content_type_is_415_and_writes_nothing() {
    let api = Api::new();
    let user = new_user();
    let reply = api.upload_url(&user, "tool.exe", "application/x-msdownload", None).await;
    assert_detail(&reply, 415);
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(detail.contains("application/pdf") && detail.contains("text/markdown"), "{detail}");
    assert_eq!(api.list(&user, "").await.body["items"], json!([]));
}

#[tokio::test]
async fn confirm_before_the_put_is_422() {
    let api = Api::new();
    let user = new_user();
    let upload = api.upload_url(&user, "later.txt", "text/plain", None).await;
    let reply = api.confirm(&user, upload.body["document_id"].as_str().unwrap()).await;
    assert_detail(&reply, 422);
    assert_eq!(api.used_bytes(&user).await, 0);
}

#[tokio::test]
async fn storage_enforces_what_was_signed() {
    let api = Api::new();
    let user = new_user();
    let upload = api.upload_url(&user, "a.txt", "text/plain", Some(5)).await;
    // Another content type than the one signed.
    let wrong_type = api
        .put_object_with(&upload.body, b"hello".to_vec(), |name, _| {
            (name == "Content-Type").then(|| "application/pdf".into())
        })
        .await;
    assert_eq!(wrong_type, 403);
    // Another size than the one signed.
    assert_eq!(api.put_object(&upload.body, b"hello!".to_vec()).await, 403);
    // A tampered signature.
    let mut tampered = upload.body.clone();
    tampered["upload_url"] =
        json!(upload.body["upload_url"].as_str().unwrap().replace("X-Amz-Signature=", "X-Amz-Signature=0"));
    assert_eq!(api.put_object(&tampered, b"hello".to_vec()).await, 403);
    // Nothing was stored, so confirm has nothing to charge.
    assert_detail(&api.confirm(&user, upload.body["document_id"].as_str().unwrap()).await, 422);
    // The exact request works, once: the URL cannot overwrite the object later.
    assert_eq!(api.put_object(&upload.body, b"hello".to_vec()).await, 200);
    assert_eq!(api.put_object(&upload.body, b"hello".to_vec()).await, 412);
}

#[tokio::test]
async fn bad_input_is_a_4xx_with_detail_and_writes_nothing() {
    let api = Api::new();
    let user = new_user();
    let path = "/api/documents/upload-url";
    let long = "x".repeat(1000);
    let bodies = [
        "{not json".to_owned(),
        "[]".to_owned(),
        json!({ "content_type": "text/plain" }).to_string(),
        json!({ "filename": "a.txt" }).to_string(),
        json!({ "filename": "", "content_type": "text/plain" }).to_string(),
        json!({ "filename": "   ", "content_type": "text/plain" }).to_string(),
        json!({ "filename": long, "content_type": "text/plain" }).to_string(),
        json!({ "filename": "a\u{0007}b.txt", "content_type": "text/plain" }).to_string(),
        json!({ "filename": "a\nb.txt", "content_type": "text/plain" }).to_string(),
        json!({ "filename": "a.txt", "content_type": "text/plain", "size_bytes": -1 }).to_string(),
        json!({ "filename": "a.txt", "content_type": "text/plain", "size_bytes": "10" }).to_string(),
        json!({ "filename": "a.txt", "content_type": "text/plain", "owner": "someone-else" }).to_string(),
        json!({ "filename": 5, "content_type": "text/plain" }).to_string(),
    ];
    for body in &bodies {
        assert_detail(&api.raw(Method::POST, path, Some(&user), Some(body)).await, 422);
    }
    assert_detail(&api.raw(Method::POST, path, Some(&user), None).await, 422);
    assert_detail(&api.upload_url(&user, "a.bin", "application/octet-stream", None).await, 415);

    for bad_id in ["not-a-uuid", "1234", "0000000000000000000000000000000000000000"] {
        assert_detail(&api.get(&user, bad_id).await, 422);
        assert_detail(&api.confirm(&user, bad_id).await, 422);
        assert_detail(&api.delete(&user, bad_id).await, 422);
    }
    for query in ["?limit=0", "?limit=101", "?limit=ten", "?cursor=bogus"] {
        assert_detail(&api.list(&user, query).await, 422);
    }
    // Wrong methods reach the function, which names the problem.
    assert_detail(&api.call(Method::GET, path, &user, None).await, 405);
    assert_detail(&api.call(Method::POST, "/api/auth/me/quota", &user, None).await, 405);
    assert_detail(&api.call(Method::PUT, &format!("/api/documents/{}", DocumentId::new()), &user, None).await, 405);
    assert_detail(
        &api.call(Method::GET, &format!("/api/documents/{}/confirm", DocumentId::new()), &user, None).await,
        405,
    );

    assert_eq!(api.list(&user, "").await.body["items"], json!([]));
    assert_eq!(api.used_bytes(&user).await, 0);
}

#[tokio::test]
async fn list_pages_newest_first_without_gaps_or_repeats() {
    let api = Api::new();
    let user = new_user();
    let mut created = Vec::new();
    for i in 0..5 {
        let reply = api.upload_url(&user, &format!("doc-{i}.md"), "text/markdown", None).await;
        created.push(reply.body["document_id"].as_str().unwrap().to_owned());
    }
    created.reverse();
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = api.list(&user, &query).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|d| d["id"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, created);
}

#[tokio::test]
async fn a_declared_checksum_is_signed_and_storage_refuses_other_bytes() {
    use base64::Engine;
    use sha2::Digest;
    let api = Api::new();
    let user = new_user();
    let digest = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b"hello"));
    let body = json!({ "filename": "h.txt", "content_type": "text/plain", "size_bytes": 5, "checksum_sha256": digest });
    let upload = api.call(Method::POST, "/api/documents/upload-url", &user, Some(body)).await;
    assert_eq!(upload.status, 200, "{}", upload.body);
    assert_eq!(upload.body["headers"]["X-Amz-Checksum-Sha256"], digest.as_str());
    // Other bytes of the same length: storage checks the digest.
    assert_eq!(api.put_object(&upload.body, b"jello".to_vec()).await, 400);
    // Leaving the signed header out breaks the signature.
    let mut request = api.http.put(upload.body["upload_url"].as_str().unwrap());
    for (name, value) in upload.body["headers"].as_object().unwrap() {
        if !name.eq_ignore_ascii_case("x-amz-checksum-sha256") && !name.eq_ignore_ascii_case("content-length") {
            request = request.header(name, value.as_str().unwrap());
        }
    }
    assert_eq!(request.body(b"hello".to_vec()).send().await.unwrap().status(), 403);
    assert_eq!(api.put_object(&upload.body, b"hello".to_vec()).await, 200);
    let id = upload.body["document_id"].as_str().unwrap();
    assert_eq!(api.confirm(&user, id).await.status, 200);
    assert_eq!(api.get(&user, id).await.body["checksum_sha256"], digest.as_str());
    let bad = json!({ "filename": "h.txt", "content_type": "text/plain", "checksum_sha256": "aGVsbG8=" });
    assert_detail(&api.call(Method::POST, "/api/documents/upload-url", &user, Some(bad)).await, 422);
}

#[tokio::test]
async fn content_that_is_not_the_declared_type_is_refused_at_confirm_and_charges_nothing() {
    let api = Api::new();
    let user = new_user();
    let text = b"Minutes of the meeting: nothing to report.".to_vec();
    let upload = api.upload_url(&user, "report.pdf", "application/pdf", Some(text.len() as u64)).await;
    assert_eq!(api.put_object(&upload.body, text).await, 200);
    let id = upload.body["document_id"].as_str().unwrap().to_owned();
    let refused = api.confirm(&user, &id).await;
    assert_detail(&refused, 415);
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(detail.contains("application/pdf") && detail.contains("text"), "{detail}");
    assert_eq!(api.quota(&user).await.body, json!({ "used_bytes": 0, "limit_bytes": 104857600, "reserved_bytes": 0 }));
    assert_eq!(api.get(&user, &id).await.body["status"], "rejected");
    let key = object_key(&UserId::parse(&user).unwrap(), DocumentId::parse(&id).unwrap());
    assert_eq!(
        app().await.storage.object_size(&common::invocation(), &key).await.unwrap(),
        None,
        "the object is removed"
    );
    // Confirming again answers the same.
    assert_eq!(api.confirm(&user, &id).await.body, refused.body);
}

#[tokio::test]
async fn content_is_checked_against_what_the_declared_type_requires() {
    // A note that mentions `%PDF-` in its first lines is text; a ZIP of a program and a readme is
    // not a Word document, however its first entries look; real DOCX files from python-docx and
    // LibreOffice keep their document part beyond the first KiB and are still accepted.
    let (api, user) = (Api::new(), new_user());
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sniff/");
    const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    for (file, content_type, status) in [
        ("pdf-mention.md", "text/markdown", 200),
        ("setup-and-readme.zip", DOCX, 415),
        ("python-docx.docx", DOCX, 200),
        ("libreoffice.docx", DOCX, 200),
    ] {
        let bytes = std::fs::read(format!("{fixtures}{file}")).unwrap();
        let upload = api.upload_url(&user, file, content_type, Some(bytes.len() as u64)).await;
        assert_eq!(api.put_object(&upload.body, bytes).await, 200, "{file}");
        let id = upload.body["document_id"].as_str().unwrap();
        let reply = api.confirm(&user, id).await;
        assert_eq!(reply.status, status, "{file}: {}", reply.body);
        if status == 415 {
            let detail = reply.body["detail"].as_str().unwrap();
            assert!(detail.contains("without a Word document part"), "{detail}");
        }
    }
}

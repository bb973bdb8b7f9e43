//! The quota under concurrency: many confirms (and deletes) of one user racing at DynamoDB
//! (Dynoxide). The handlers run in-process on a multi-threaded runtime, fed real API Gateway
//! events, so every request really races the others at the store.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::common;
use crate::common::{app, event_request, new_user, reply_of, Api};
use shared::domain::{object_key, DocumentId, UserId};
use shared::entry::http as handlers;
use shared::App;

const DOCUMENTS: usize = 50;
const LIMIT: u64 = 1000;

/// Sizes of 20 to 120 `unit`s: fifty of them add up to about 3,500 units.
fn size_of(i: usize, unit: u64) -> u64 {
    (20 + (i as u64 * 37) % 101) * unit
}

/// Creates `DOCUMENTS` pending uploads without a declared size whose objects are in storage;
/// returns (id, size). Their arrival events (through the stack's own classify function) may
/// reserve their sizes before or while the confirms race: both sides share the limit.
async fn staged_uploads(api: &Api, user: &str, unit: u64) -> Vec<(String, u64)> {
    let mut staged = Vec::new();
    for i in 0..DOCUMENTS {
        let size = size_of(i, unit);
        let upload = api.upload_url(user, &format!("part-{i}.txt"), "text/plain", None).await;
        assert_eq!(upload.status, 200, "{}", upload.body);
        assert_eq!(api.put_object(&upload.body, vec![b'x'; size as usize]).await, 200);
        staged.push((upload.body["document_id"].as_str().unwrap().to_owned(), size));
    }
    staged
}

/// Confirms every staged upload twice, all at once; checks the rules and prints the figures.
async fn race_confirms(app: Arc<App>, user: &str, staged: &[(String, u64)]) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (id, _) in staged.iter().chain(staged.iter()) {
        let (app, user, id) = (app.clone(), user.to_owned(), id.clone());
        tasks.push(tokio::spawn(async move {
            let response = handlers::confirm(&app, event_request("confirm.json", &user, Some(&id))).await.unwrap();
            (id, reply_of(response))
        }));
    }
    let mut answers: HashMap<String, Vec<common::Reply>> = HashMap::new();
    for task in tasks {
        let (id, reply) = task.await.unwrap();
        answers.entry(id).or_default().push(reply);
    }
    let elapsed = started.elapsed();

    let owner = UserId::parse(user).unwrap();
    let (mut accepted, mut accepted_bytes, mut rejected) = (0, 0, 0);
    for (id, size) in staged {
        let replies = &answers[id];
        // A retried confirm answers exactly like the first one.
        assert_eq!(replies[0].status, replies[1].status, "{id}: {} vs {}", replies[0].body, replies[1].body);
        let key = object_key(&owner, DocumentId::parse(id).unwrap());
        match replies[0].status {
            200 => {
                accepted += 1;
                accepted_bytes += size;
                assert_eq!(replies[0].body["size_bytes"], *size);
                assert_eq!(app.storage.object_size(&common::invocation(), &key).await.unwrap(), Some(*size));
            }
            413 => {
                rejected += 1;
                assert_eq!(replies[0].body["detail"]["rejected_bytes"], *size);
                assert_eq!(
                    app.storage.object_size(&common::invocation(), &key).await.unwrap(),
                    None,
                    "rejected objects are removed"
                );
            }
            other => panic!("unexpected {other}: {}", replies[0].body),
        }
    }
    // Each answer's used_bytes is a value the usage really passed through: taking for every
    // accepted document its smallest answer (its charge; a retry reads the usage later, and it
    // only grows here), those values in order are the running sums of the charges, one by one.
    let mut charges: Vec<(u64, u64)> = staged
        .iter()
        .filter(|(id, _)| answers[id][0].status == 200)
        .map(|(id, size)| (answers[id].iter().map(|r| r.body["used_bytes"].as_u64().unwrap()).min().unwrap(), *size))
        .collect();
    charges.sort();
    let mut running = 0;
    for (used, size) in &charges {
        running += size;
        assert_eq!(*used, running, "a confirm answered a usage the quota never had: {charges:?}");
    }
    let quota = app.table.get_quota(&owner).await.unwrap();
    println!(
        "quota race: {} confirms ({DOCUMENTS} documents x2) in {elapsed:?}; accepted {accepted} ({accepted_bytes} bytes), \
         rejected {rejected}; used_bytes {} of limit {}",
        staged.len() * 2,
        quota.used_bytes,
        quota.limit_bytes
    );
    assert_eq!(quota.used_bytes, accepted_bytes, "used_bytes is exactly the sum of the accepted sizes");
    assert!(quota.used_bytes <= quota.limit_bytes, "never above the limit");
    assert!(accepted > 0 && rejected > 0, "the limit let some in and kept some out");
    // Nothing is refunded here, so the room only shrank: no rejected document would fit now.
    let smallest_rejected =
        staged.iter().filter(|(id, _)| answers[id][0].status == 413).map(|(_, s)| *s).min().unwrap();
    assert!(quota.limit_bytes - quota.used_bytes < smallest_rejected, "a document was rejected that fitted");

    // The table agrees: the uploaded documents add up to used_bytes.
    let page = app.table.list_documents(&owner, 100, None).await.unwrap();
    let listed: u64 = page
        .items
        .iter()
        .filter(|d| d.status == shared::domain::DocumentStatus::Uploaded)
        .map(|d| d.size_bytes.unwrap())
        .sum();
    assert_eq!(listed, quota.used_bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn fifty_confirms_race_for_the_default_limit() {
    // The deployment default decides here (no per-user limit stored): the stack's, which its
    // functions apply to the arrivals too. Fifty objects of about 2.8 MiB on average exceed it.
    let app = Arc::new(app().await);
    let unit = app.config.default_quota_bytes / 2_500;
    let (api, user) = (Api::new(), new_user());
    let staged = staged_uploads(&api, &user, unit).await;
    // The arrivals decide what fits first (each reserves its object's size, or is rejected);
    // then every confirm races to turn a reservation into usage on the same counters.
    arrivals_settled(&app, &user, &staged).await;
    race_confirms(app, &user, &staged).await;
}

/// Waits until each staged upload's arrival was screened: its size reserved, or it rejected.
async fn arrivals_settled(app: &App, user: &str, staged: &[(String, u64)]) {
    let owner = UserId::parse(user).unwrap();
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    for (id, _) in staged {
        let id = DocumentId::parse(id).unwrap();
        loop {
            let document = app.table.get_document(&owner, id).await.unwrap().expect("the document exists");
            if document.arrival_bytes.is_some() || document.status != shared::domain::DocumentStatus::Pending {
                break;
            }
            assert!(Instant::now() < deadline, "{id}: its arrival was not screened within 60 s");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn fifty_confirms_race_for_a_per_user_limit() {
    let api = Api::new();
    let user = new_user();
    let app = Arc::new(app().await);
    app.table.set_user_limit(&UserId::parse(&user).unwrap(), Some(LIMIT)).await.unwrap();
    let staged = staged_uploads(&api, &user, 1).await;
    race_confirms(app, &user, &staged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn racing_deletes_give_the_bytes_back_once() {
    let api = Api::new();
    let user = new_user();
    let app = Arc::new(app().await);
    let (keep, _) = api.upload(&user, "keep.txt", vec![b'k'; 7]).await;
    let (id, confirm) = api.upload(&user, "gone.txt", vec![b'g'; 300]).await;
    assert_eq!(confirm.status, 200);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (app, user, id) = (app.clone(), user.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            reply_of(handlers::delete(&app, event_request("delete.json", &user, Some(&id))).await.unwrap()).status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [204, 404, 404, 404, 404, 404, 404, 404, 404, 404]);
    assert_eq!(api.used_bytes(&user).await, 7);
    assert_eq!(api.get(&user, &keep).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn confirm_racing_delete_never_leaves_a_charge_without_a_document() {
    let api = Api::new();
    let app = Arc::new(app().await);
    for round in 0..15 {
        let user = new_user();
        let upload = api.upload_url(&user, "r.txt", "text/plain", None).await;
        let id = upload.body["document_id"].as_str().unwrap().to_owned();
        assert_eq!(api.put_object(&upload.body, vec![b'r'; 50]).await, 200);
        let confirm = {
            let (app, user, id) = (app.clone(), user.clone(), id.clone());
            tokio::spawn(async move { handlers::confirm(&app, event_request("confirm.json", &user, Some(&id))).await })
        };
        let delete = {
            let (app, user, id) = (app.clone(), user.clone(), id.clone());
            tokio::spawn(async move { handlers::delete(&app, event_request("delete.json", &user, Some(&id))).await })
        };
        let confirm = reply_of(confirm.await.unwrap().unwrap()).status;
        let delete = reply_of(delete.await.unwrap().unwrap()).status;
        assert_eq!(delete, 204, "round {round}: the document existed, so delete removes it");
        assert!(matches!(confirm, 200 | 404 | 422), "round {round}: confirm answered {confirm}");
        // Whichever order they ran in, the document is gone and nothing stays charged.
        assert_eq!(api.used_bytes(&user).await, 0, "round {round}");
        assert_eq!(api.get(&user, &id).await.status, 404);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn fifty_reservations_race_and_never_promise_more_than_the_limit() {
    let api = Arc::new(Api::new());
    let user = new_user();
    let app = Arc::new(app().await);
    let owner = UserId::parse(&user).unwrap();
    app.table.set_user_limit(&owner, Some(LIMIT)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..DOCUMENTS {
        let (app, api, user) = (app.clone(), api.clone(), user.clone());
        tasks.push(tokio::spawn(async move {
            let size = size_of(i, 1);
            let request = crate::common::upload_url_request(&user, "r.txt", Some(size));
            let upload = reply_of(handlers::upload_url(&app, request).await.unwrap());
            if upload.status != 200 {
                assert_eq!(upload.status, 413, "{}", upload.body);
                return (size, false);
            }
            assert_eq!(api.put_object(&upload.body, vec![b'r'; size as usize]).await, 200);
            let id = upload.body["document_id"].as_str().unwrap().to_owned();
            let confirm =
                reply_of(handlers::confirm(&app, event_request("confirm.json", &user, Some(&id))).await.unwrap());
            assert_eq!(confirm.status, 200, "a reserved upload always fits at confirm: {}", confirm.body);
            (size, true)
        }));
    }
    let (mut accepted, mut accepted_bytes, mut refused) = (0, 0, 0);
    for task in tasks {
        match task.await.unwrap() {
            (size, true) => {
                accepted += 1;
                accepted_bytes += size;
            }
            (_, false) => refused += 1,
        }
    }
    let counters = app.table.get_quota_counters(&owner).await.unwrap();
    println!(
        "reservation race: {DOCUMENTS} upload-url + confirm; accepted {accepted} ({accepted_bytes} bytes), refused \
         {refused}; used {} reserved {} of limit {LIMIT}",
        counters.used_bytes, counters.reserved_bytes
    );
    assert!(accepted_bytes <= LIMIT, "promised more than the limit");
    assert!(accepted > 0 && refused > 0, "the limit let some in and kept some out");
    assert_eq!(counters.used_bytes, accepted_bytes);
    assert_eq!((counters.reserved_bytes, counters.pending_uploads), (0, 0), "everything settled");
}

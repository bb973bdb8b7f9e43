//! The chaos run: several users upload, confirm, delete and reclassify in parallel (three
//! workers per user, as a browser confirming files side by side; half the uploads ask to be
//! confirmed on arrival, as the web page does, and are confirmed by their event, by a confirm
//! call, or by both, whichever comes first) while DynamoDB and S3 fail as
//! AWS does at random points: conflicts, throttling, 5xx, resets, latency, and commits whose reply
//! is lost. Each stored object's `ObjectCreated` event is delivered at least once, as S3 does.
//! Then one clean-up pass, and the invariants are checked against the store itself.
//!
//! Seeded (`CHAOS_SEED`, default below): the operations each worker picks and the faults each
//! proxy injects follow the seed; the interleaving is the scheduler's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faults::{Fault, Match, Rule};
use serde_json::Value;
use shared::classifier::TermMatchClassifier;
use shared::domain::{object_key, DocumentStatus, UserId};
use shared::entry::http as handlers;
use shared::entry::object_events::handle_s3_event;
use shared::operations::cleanup::{self, CleanupLimits};
use shared::App;

use crate::common::{
    self, event_request, isolated_app, new_user, reply_of, through_fault_proxies, upload_url_request_with, Api,
};

const DEFAULT_SEED: u64 = 20_261_128;
const USERS: usize = 6;
const WORKERS_PER_USER: usize = 3;
const OPERATIONS_PER_WORKER: usize = 40;
const LIMIT_BYTES: u64 = 3_000;
/// Lambda's asynchronous invocation: the first attempt and two retries.
const EVENT_ATTEMPTS: usize = 3;

/// splitmix64: small, seedable, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// An upload a worker started: its upload-url answer and what happened to it since.
#[derive(Clone)]
struct Upload {
    id: String,
    ticket: Value,
    size: usize,
    stored: bool,
}

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<String, u64>,
    server_errors: Vec<String>,
    confirms_over_limit: Vec<String>,
    events_delivered: u64,
    events_failed: u64,
}

impl Tally {
    fn record(&mut self, operation: &str, status: u16, body: &Value) {
        *self.statuses.entry(format!("{operation} {status}")).or_default() += 1;
        if status >= 500 {
            self.server_errors.push(format!("{operation} {status}: {body}"));
        }
    }
}

fn faults_of_dynamodb() -> Vec<Rule> {
    let any = || Match::Prefix("DynamoDB.".into());
    let transactions = || Match::Operation("DynamoDB.TransactWriteItems".into());
    vec![
        Rule::new(transactions(), Fault::TransactionConflict).with_probability(0.08),
        Rule::new(transactions(), Fault::TransactionThrottled).with_probability(0.02),
        Rule::new(any(), Fault::Throttling).with_probability(0.03),
        Rule::new(any(), Fault::ServerError(500)).with_probability(0.02),
        Rule::new(any(), Fault::ConnectionReset).with_probability(0.02),
        Rule::new(any(), Fault::CommitThenDropReply).with_probability(0.03),
        Rule::new(any(), Fault::Latency(Duration::from_millis(30))).with_probability(0.05),
    ]
}

fn faults_of_s3() -> Vec<Rule> {
    let any = || Match::Prefix("S3.".into());
    vec![
        Rule::new(any(), Fault::ServerError(503)).with_probability(0.03),
        Rule::new(any(), Fault::ConnectionReset).with_probability(0.02),
        Rule::new(any(), Fault::CommitThenDropReply).with_probability(0.03),
        // As in AWS for a caller without s3:ListBucket: a missing key answers 403.
        Rule::new(any(), Fault::MissingKeyForbidden),
    ]
}

/// Delivers the `ObjectCreated` event of `key` to the classify handler, retried as Lambda
/// retries an asynchronous invocation, and sometimes twice (S3 delivers at least once).
async fn deliver_event(app: &App, key: &str, duplicate: bool, tally: &Mutex<Tally>) {
    let mut event = common::event_json("s3-put.json");
    event["Records"][0]["s3"]["bucket"]["name"] = app.config.bucket_name.clone().into();
    event["Records"][0]["s3"]["object"]["key"] = key.into();
    for _ in 0..if duplicate { 2 } else { 1 } {
        let mut delivered = false;
        for _ in 0..EVENT_ATTEMPTS {
            let invocation = lambda_runtime::LambdaEvent::new(event.clone(), lambda_runtime::Context::default());
            if handle_s3_event(app, &TermMatchClassifier::default(), invocation).await.is_ok() {
                delivered = true;
                break;
            }
        }
        let mut tally = tally.lock().unwrap();
        if delivered {
            tally.events_delivered += 1;
        } else {
            tally.events_failed += 1;
        }
    }
}

async fn worker(
    app: App,
    api: Arc<Api>,
    user: String,
    uploads: Arc<Mutex<Vec<Upload>>>,
    tally: Arc<Mutex<Tally>>,
    seed: u64,
) {
    let mut rng = Rng(seed);
    for _ in 0..OPERATIONS_PER_WORKER {
        let pick = |rng: &mut Rng, only_stored: Option<bool>| {
            let uploads = uploads.lock().unwrap();
            let candidates: Vec<&Upload> =
                uploads.iter().filter(|u| only_stored.is_none_or(|stored| u.stored == stored)).collect();
            (!candidates.is_empty()).then(|| candidates[rng.below(candidates.len() as u64) as usize].clone())
        };
        match rng.below(100) {
            0..=29 => {
                let size = 20 + rng.below(400) as usize;
                let declared = rng.chance(70).then_some(size as u64);
                let request = upload_url_request_with(&user, "c.txt", declared, rng.chance(50));
                let reply = reply_of(handlers::upload_url(&app, request).await.unwrap());
                tally.lock().unwrap().record("upload-url", reply.status, &reply.body);
                if reply.status == 200 {
                    let id = reply.body["document_id"].as_str().unwrap().to_owned();
                    uploads.lock().unwrap().push(Upload { id, ticket: reply.body, size, stored: false });
                }
            }
            30..=54 => {
                let Some(upload) = pick(&mut rng, Some(false)) else { continue };
                // The browser talks to storage directly, not through the functions' proxies.
                let status = api.put_object(&upload.ticket, vec![b'c'; upload.size]).await;
                tally.lock().unwrap().record("PUT", status, &Value::Null);
                if status == 200 {
                    if let Some(u) = uploads.lock().unwrap().iter_mut().find(|u| u.id == upload.id) {
                        u.stored = true;
                    }
                    let key = object_key(
                        &UserId::parse(&user).unwrap(),
                        shared::domain::DocumentId::parse(&upload.id).unwrap(),
                    );
                    deliver_event(&app, &key, rng.chance(20), &tally).await;
                }
            }
            55..=79 => {
                let Some(upload) = pick(&mut rng, None) else { continue };
                let reply = reply_of(
                    handlers::confirm(&app, event_request("confirm.json", &user, Some(&upload.id))).await.unwrap(),
                );
                let mut tally = tally.lock().unwrap();
                tally.record("confirm", reply.status, &reply.body);
                if reply.status == 200 && reply.body["used_bytes"].as_u64().unwrap() > LIMIT_BYTES {
                    tally.confirms_over_limit.push(reply.body.to_string());
                }
            }
            80..=92 => {
                let Some(upload) = pick(&mut rng, None) else { continue };
                let reply = reply_of(
                    handlers::delete(&app, event_request("delete.json", &user, Some(&upload.id))).await.unwrap(),
                );
                tally.lock().unwrap().record("delete", reply.status, &reply.body);
            }
            _ => {
                let Some(upload) = pick(&mut rng, Some(true)) else { continue };
                let request = event_request("reclassify.json", &user, Some(&upload.id));
                let reply =
                    reply_of(handlers::reclassify(&app, &TermMatchClassifier::default(), request).await.unwrap());
                tally.lock().unwrap().record("reclassify", reply.status, &reply.body);
            }
        }
    }
}

/// Every user's documents, objects and counters agree.
async fn check_invariants(app: &App, user: &str) -> u64 {
    let owner = UserId::parse(user).unwrap();
    let mut documents = Vec::new();
    let mut after = None;
    loop {
        let page = app.table.list_documents(&owner, 100, after).await.unwrap();
        documents.extend(page.items);
        after = page.next;
        if after.is_none() {
            break;
        }
    }
    let counters = app.table.get_quota_counters(&owner).await.unwrap();
    let uploaded: Vec<_> = documents.iter().filter(|d| d.status == DocumentStatus::Uploaded).collect();
    let pending: Vec<_> = documents.iter().filter(|d| d.status == DocumentStatus::Pending).collect();
    let used: u64 = uploaded.iter().map(|d| d.size_bytes.unwrap()).sum();
    assert_eq!(counters.used_bytes, used, "{user}: used_bytes is the sum of the uploaded sizes");
    assert!(counters.used_bytes <= LIMIT_BYTES, "{user}: over the limit");
    let reserved: u64 = pending.iter().filter_map(|d| d.declared_size_bytes).sum();
    assert_eq!(counters.reserved_bytes, reserved, "{user}: reserved_bytes is the sum of pending declared sizes");
    assert_eq!(counters.pending_uploads, pending.len() as u64, "{user}: pending_uploads counts the pending");

    let listed = app
        .storage
        .client()
        .list_objects_v2()
        .bucket(app.storage.bucket())
        .prefix(format!("users/{user}/"))
        .send()
        .await
        .unwrap();
    let objects: BTreeMap<String, u64> =
        listed.contents().iter().map(|o| (o.key().unwrap().to_owned(), o.size().unwrap_or_default() as u64)).collect();
    for (key, size) in &objects {
        let owner_document = documents.iter().find(|d| &d.object_key() == key);
        assert!(owner_document.is_some(), "{user}: object {key} ({size} B) has no document");
    }
    for document in &uploaded {
        let size = objects.get(&document.object_key());
        assert_eq!(size, document.size_bytes.as_ref(), "{user}: uploaded {} without its object", document.id);
    }
    // Clean-up took every pending and rejected upload (all older than its cut-off).
    assert!(documents.iter().all(|d| d.status == DocumentStatus::Uploaded), "{user}: {documents:?}");
    objects.len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_run_keeps_every_invariant() {
    let seed = std::env::var("CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SEED);
    let base = isolated_app(1).await;
    let faulty = through_fault_proxies(&base, seed).await;
    faulty.dynamodb.set_rules(faults_of_dynamodb());
    faulty.s3.set_rules(faults_of_s3());
    let api = Arc::new(Api::new());
    let tally = Arc::new(Mutex::new(Tally::default()));
    let users: Vec<String> = (0..USERS).map(|_| new_user()).collect();
    let started = Instant::now();
    let mut workers = Vec::new();
    for (u, user) in users.iter().enumerate() {
        base.table.set_user_limit(&UserId::parse(user).unwrap(), Some(LIMIT_BYTES)).await.unwrap();
        let uploads = Arc::new(Mutex::new(Vec::new()));
        for w in 0..WORKERS_PER_USER {
            let worker_seed = seed ^ ((u * WORKERS_PER_USER + w) as u64 + 1).wrapping_mul(0x1000_0000_01B3);
            let task =
                worker(faulty.app.clone(), api.clone(), user.clone(), uploads.clone(), tally.clone(), worker_seed);
            workers.push(tokio::spawn(task));
        }
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let elapsed = started.elapsed();

    // One clean-up pass, itself under the same faults, once every pending upload is past its
    // cut-off (one second, compared in whole seconds).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let limits =
        CleanupLimits { page_size: 25, page_budget: 10_000, stop_at: Instant::now() + Duration::from_secs(60) };
    let mut summary = cleanup::run(&faulty.app, limits).await;
    if !summary.complete {
        // What failed stays in the index for the next scheduled run: run it, as the schedule would.
        summary = cleanup::run(&faulty.app, limits).await;
    }
    faulty.dynamodb.clear_rules();
    faulty.s3.clear_rules();

    let mut objects = 0;
    for user in &users {
        objects += check_invariants(&base, user).await;
    }
    let tally = tally.lock().unwrap();
    let operations: u64 = tally.statuses.values().sum();
    println!(
        "chaos run (seed {seed}): {operations} operations by {USERS} users x {WORKERS_PER_USER} workers in {elapsed:?}; \
         answers {:?}; S3 events delivered {} (failed {}); faults injected: DynamoDB {:?} of {} requests, S3 {:?} of {} \
         requests; clean-up {summary:?}; invariants checked for {USERS} users and {objects} objects",
        tally.statuses,
        tally.events_delivered,
        tally.events_failed,
        faulty.dynamodb.injected(),
        faulty.dynamodb.requests().values().sum::<u64>(),
        faulty.s3.injected(),
        faulty.s3.requests().values().sum::<u64>(),
    );
    assert!(
        tally.server_errors.is_empty(),
        "a client saw a 5xx for a fault AWS would retry: {:?}",
        tally.server_errors
    );
    assert!(tally.confirms_over_limit.is_empty(), "{:?}", tally.confirms_over_limit);
    assert_eq!(tally.events_failed, 0, "an S3 event failed every attempt (it would go to the dead-letter queue)");
    assert!(faulty.dynamodb.injected().values().sum::<u64>() > 0 && faulty.s3.injected().values().sum::<u64>() > 0);
}

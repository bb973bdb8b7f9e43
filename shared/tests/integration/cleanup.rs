//! Clean-up of abandoned uploads against the local stack, with a cut-off of seconds. Each test
//! has a table of its own, since a clean-up run looks at every user's pending uploads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::{event_request, isolated_app, new_user, put_object_directly, reply_of};
use shared::domain::{object_key, DocumentId, DocumentStatus, UserId};
use shared::entry::http as handlers;
use shared::operations::cleanup::{self, CleanupLimits, CleanupSummary};
use shared::App;

fn limits(page_size: i32) -> CleanupLimits {
    CleanupLimits { page_size, page_budget: 10_000, stop_at: Instant::now() + Duration::from_secs(60) }
}

/// upload-url through the handler, as the function would run it; returns the document id.
async fn start_upload(app: &App, user: &str, name: &str) -> String {
    let reply = reply_of(handlers::upload_url(app, common::upload_url_request(user, name, None)).await.unwrap());
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["document_id"].as_str().unwrap().to_owned()
}

async fn confirm(app: &App, user: &str, id: &str) -> common::Reply {
    reply_of(handlers::confirm(app, event_request("confirm.json", user, Some(id))).await.unwrap())
}

async fn object_exists(app: &App, user: &str, id: &str) -> bool {
    let key = object_key(&UserId::parse(user).unwrap(), DocumentId::parse(id).unwrap());
    app.storage.object_size(&common::invocation(), &key).await.unwrap().is_some()
}

async fn status(app: &App, user: &str, id: &str) -> Option<DocumentStatus> {
    let document = app.table.get_document(&UserId::parse(user).unwrap(), DocumentId::parse(id).unwrap()).await.unwrap();
    document.map(|d| d.status)
}

#[tokio::test]
async fn abandoned_uploads_go_and_everything_else_stays() {
    let app = isolated_app(2).await;
    let user = new_user();
    let without_object = start_upload(&app, &user, "never-sent.txt").await;
    let with_object = start_upload(&app, &user, "sent-not-confirmed.txt").await;
    put_object_directly(&app, &user, &with_object, b"abandoned".to_vec()).await;
    let confirmed_early = start_upload(&app, &user, "kept.txt").await;
    put_object_directly(&app, &user, &confirmed_early, b"kept".to_vec()).await;
    assert_eq!(confirm(&app, &user, &confirmed_early).await.status, 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let fresh = start_upload(&app, &user, "fresh.txt").await;
    put_object_directly(&app, &user, &fresh, b"fresh".to_vec()).await;

    let summary = cleanup::run(&app, limits(100)).await;
    assert_eq!(
        summary,
        CleanupSummary {
            found: 2,
            removed: 2,
            removals_finished: 0,
            confirmed: 0,
            skipped: 0,
            failed: 0,
            pages: 16,
            complete: true
        }
    );
    for gone in [&without_object, &with_object] {
        assert_eq!(status(&app, &user, gone).await, None);
        assert!(!object_exists(&app, &user, gone).await);
    }
    assert_eq!(status(&app, &user, &confirmed_early).await, Some(DocumentStatus::Uploaded));
    assert!(object_exists(&app, &user, &confirmed_early).await);
    assert_eq!(status(&app, &user, &fresh).await, Some(DocumentStatus::Pending));
    assert!(object_exists(&app, &user, &fresh).await);
    let quota = app.table.get_quota(&UserId::parse(&user).unwrap()).await.unwrap();
    assert_eq!(quota.used_bytes, 4, "clean-up never changes usage");

    // Nothing is left to do: a second run finds nothing.
    let again = cleanup::run(&app, limits(100)).await;
    assert_eq!((again.found, again.removed), (0, 0));
}

#[tokio::test]
async fn rejected_uploads_and_deleted_documents_are_finished() {
    let app = isolated_app(2).await;
    let user = new_user();
    let owner = UserId::parse(&user).unwrap();
    app.table.set_user_limit(&owner, Some(5)).await.unwrap();
    let rejected = start_upload(&app, &user, "too-big.txt").await;
    put_object_directly(&app, &user, &rejected, b"more than five".to_vec()).await;
    assert_eq!(confirm(&app, &user, &rejected).await.status, 413);
    // As if removing the rejected object had failed: put it back.
    put_object_directly(&app, &user, &rejected, b"more than five".to_vec()).await;
    // A delete whose object removal failed leaves its removal record: simulate by deleting the
    // row only (the same transaction delete uses) and keeping the object.
    let deleted = start_upload(&app, &user, "deleted.txt").await;
    put_object_directly(&app, &user, &deleted, b"bye".to_vec()).await;
    let document = app.table.get_document(&owner, DocumentId::parse(&deleted).unwrap()).await.unwrap().unwrap();
    assert_eq!(app.table.delete_document(&common::invocation(), &document).await.unwrap(), shared::table::Write::Done);

    tokio::time::sleep(Duration::from_secs(3)).await;
    let summary = cleanup::run(&app, limits(100)).await;
    assert_eq!((summary.removed, summary.removals_finished, summary.failed), (1, 1, 0), "{summary:?}");
    assert!(!object_exists(&app, &user, &rejected).await);
    assert!(!object_exists(&app, &user, &deleted).await);
    assert_eq!(status(&app, &user, &rejected).await, None);
}

#[tokio::test]
async fn a_failed_object_removal_is_repaired_by_the_next_run() {
    let app = isolated_app(1).await;
    let user = new_user();
    let id = start_upload(&app, &user, "stuck.txt").await;
    put_object_directly(&app, &user, &id, b"stuck".to_vec()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // A run whose storage calls fail (nothing listens on port 9): the row is settled, the
    // object stays, the removal record is kept.
    let broken = {
        let sdk = shared::clients::sdk_config().await;
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .endpoint_url("http://127.0.0.1:9")
            .force_path_style(true)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build();
        let client = aws_sdk_s3::Client::from_conf(s3);
        App {
            storage: shared::storage::ObjectStorage::new(client.clone(), client, app.storage.bucket()),
            ..app.clone()
        }
    };
    let failed = cleanup::run(&broken, limits(100)).await;
    assert_eq!((failed.found, failed.removed, failed.failed, failed.complete), (1, 0, 1, false), "{failed:?}");
    assert_eq!(status(&app, &user, &id).await, None, "the row was settled first");
    assert!(object_exists(&app, &user, &id).await);

    let repaired = cleanup::run(&app, limits(100)).await;
    assert_eq!((repaired.removals_finished, repaired.failed), (1, 0), "{repaired:?}");
    assert!(!object_exists(&app, &user, &id).await);
}

#[tokio::test]
async fn pages_through_more_pending_uploads_than_one_page_within_a_budget() {
    let app = isolated_app(1).await;
    let user = new_user();
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(start_upload(&app, &user, &format!("bulk-{i}.txt")).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // A budget too small for the whole index stops early; the next run continues. Pages of one
    // entry make the counts certain whatever shards the random ids fall into: 20 pages remove at
    // most 20 uploads, and the 20 or more left over 16 shards put two in at least one of them.
    let first = cleanup::run(&app, CleanupLimits { page_budget: 20, ..limits(1) }).await;
    assert!(!first.complete && first.pages == 20 && first.removed > 0 && first.removed <= 20, "{first:?}");
    let rest = cleanup::run(&app, limits(1)).await;
    assert!(rest.complete, "{rest:?}");
    assert_eq!(first.removed + rest.removed, 40);
    assert!(rest.pages > 16, "more than one page per shard was needed: {rest:?}");
    for id in &ids {
        assert_eq!(status(&app, &user, id).await, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_runs_remove_and_report_each_upload_once() {
    let app = Arc::new(isolated_app(1).await);
    let user = new_user();
    for i in 0..30 {
        let id = start_upload(&app, &user, &format!("twice-{i}.txt")).await;
        put_object_directly(&app, &user, &id, vec![b'x'; 10]).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { cleanup::run(&app, limits(3)).await })
        })
        .collect();
    let mut removed = 0;
    let mut finished = 0;
    for run in runs {
        let summary = run.await.unwrap();
        assert_eq!(summary.failed, 0, "{summary:?}");
        removed += summary.removed;
        finished += summary.removals_finished;
    }
    // Each upload is reported exactly once, as removed by whichever run settled it, or as a
    // removal another run finished after it was settled.
    assert_eq!(removed, 30);
    assert!(finished <= 30);
    let left = cleanup::run(&app, limits(100)).await;
    assert_eq!(left.found, 0, "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn confirm_racing_clean_up_is_all_or_nothing() {
    let app = Arc::new(isolated_app(1).await);
    let (mut confirmed, mut cleaned) = (0, 0);
    for round in 0..25u64 {
        let user = new_user();
        let id = start_upload(&app, &user, "race.txt").await;
        put_object_directly(&app, &user, &id, vec![b'r'; 42]).await;
        // Past the cut-off: clean-up may take it while confirm is running.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // Staggered starts, so that each side wins some rounds.
        let delay = Duration::from_millis(round * 5);
        let confirm_task = {
            let (app, user, id) = (app.clone(), user.clone(), id.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                confirm(&app, &user, &id).await
            })
        };
        let cleanup_task = {
            let app = app.clone();
            tokio::spawn(async move { cleanup::run(&app, limits(100)).await })
        };
        let reply = confirm_task.await.unwrap();
        let summary = cleanup_task.await.unwrap();
        assert_eq!(summary.failed, 0, "round {round}: {summary:?}");
        let used = app.table.get_quota(&UserId::parse(&user).unwrap()).await.unwrap().used_bytes;
        match reply.status {
            200 => {
                confirmed += 1;
                assert_eq!(status(&app, &user, &id).await, Some(DocumentStatus::Uploaded), "round {round}");
                assert!(object_exists(&app, &user, &id).await, "round {round}: a confirmed object was lost");
                assert_eq!(used, 42, "round {round}");
            }
            404 | 422 => {
                cleaned += 1;
                assert_eq!(status(&app, &user, &id).await, None, "round {round}");
                assert_eq!(used, 0, "round {round}: charged for a removed upload");
                // The object goes with this run, or with the next one at the latest.
                cleanup::run(&app, limits(100)).await;
                assert!(!object_exists(&app, &user, &id).await, "round {round}: object survived two runs");
            }
            other => panic!("round {round}: confirm answered {other}: {}", reply.body),
        }
    }
    println!("confirm vs clean-up: {confirmed} confirms won, {cleaned} clean-ups won");
}

/// The whole scheduled path: the EventBridge rule (rate(1 minute) in `make test`) really fires
/// into its queue, the dispatcher hands the `Scheduled Event` to the cleanup function under
/// `cargo lambda watch`, and the function finishes a pending object removal in the stack's table.
#[tokio::test]
async fn the_schedule_fires_and_the_cleanup_function_runs() {
    let app = common::app().await;
    let user = new_user();
    let id = start_upload(&app, &user, "deleted-while-storage-was-down.txt").await;
    put_object_directly(&app, &user, &id, b"left behind".to_vec()).await;
    let owner = UserId::parse(&user).unwrap();
    let document = app.table.get_document(&owner, DocumentId::parse(&id).unwrap()).await.unwrap().unwrap();
    // The row goes and a removal is recorded, as when a delete could not reach storage.
    assert_eq!(app.table.delete_document(&common::invocation(), &document).await.unwrap(), shared::table::Write::Done);
    let deadline = Instant::now() + Duration::from_secs(150);
    while object_exists(&app, &user, &id).await {
        assert!(Instant::now() < deadline, "no scheduled clean-up removed the object within 150 s");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

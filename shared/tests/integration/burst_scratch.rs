//! SCRATCH (not committed): one user's 32 concurrent confirms.
use std::sync::Arc;
use std::time::Instant;
use crate::common::{app, event_request, new_user, put_object_directly, reply_of, upload_url_request};
use shared::entry::http as handlers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_scratch() {
    let app = Arc::new(app().await);
    for one_user in [true, false] {
        let mut elapsed = 0.0;
        for _round in 0..4 {
        let shared_user = new_user();
        let mut staged = Vec::new();
        for i in 0..96 {
            let user = if one_user { shared_user.clone() } else { new_user() };
            let r = reply_of(handlers::upload_url(&app, upload_url_request(&user, &format!("b{i}.txt"), Some(10))).await.unwrap());
            let id = r.body["document_id"].as_str().unwrap().to_owned();
            put_object_directly(&app, &user, &id, vec![b'x'; 10]).await;
            staged.push((user, id));
        }
        let queue = Arc::new(tokio::sync::Mutex::new(staged));
        let started = Instant::now();
        let workers: Vec<_> = (0..32).map(|_| { let (app, queue) = (app.clone(), queue.clone()); tokio::spawn(async move {
            loop {
                let Some((user, id)) = queue.lock().await.pop() else { return };
                let r = reply_of(handlers::confirm(&app, event_request("confirm.json", &user, Some(&id))).await.unwrap());
                assert_eq!(r.status, 200, "{}", r.body);
            }
        })}).collect();
        for w in workers { w.await.unwrap(); }
        elapsed += started.elapsed().as_secs_f64();
        }
        println!("BURST one_user={one_user}: {:.0}/s", 384.0 / elapsed);
    }
}

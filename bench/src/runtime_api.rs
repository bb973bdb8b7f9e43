//! A minimal Lambda Runtime API (the protocol a function's runtime client polls): enough to
//! start a real function binary, time its start, hand it events and collect its answers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

pub struct Answer {
    pub body: serde_json::Value,
    pub error: bool,
    /// From handing out the event to receiving the answer.
    pub latency: Duration,
}

struct Shared {
    events: tokio::sync::Mutex<mpsc::Receiver<(String, Bytes, oneshot::Sender<Answer>)>>,
    waiting: Mutex<HashMap<String, (Instant, oneshot::Sender<Answer>)>>,
    first_poll: Mutex<Option<Instant>>,
    first_poll_signal: tokio::sync::Notify,
    /// Whether invocations are handed out as sampled by X-Ray (Lambda's `Tracing=Active`).
    sampled: bool,
}

pub struct RuntimeApi {
    pub address: SocketAddr,
    events: mpsc::Sender<(String, Bytes, oneshot::Sender<Answer>)>,
    shared: Arc<Shared>,
}

impl RuntimeApi {
    pub async fn start(sampled: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the runtime API");
        let address = listener.local_addr().unwrap();
        let (events, receiver) = mpsc::channel(16);
        let shared = Arc::new(Shared {
            events: tokio::sync::Mutex::new(receiver),
            waiting: Mutex::new(HashMap::new()),
            first_poll: Mutex::new(None),
            first_poll_signal: tokio::sync::Notify::new(),
            sampled,
        });
        let state = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| route(state.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { address, events, shared }
    }

    /// When the function first asked for an event (the end of its cold start).
    pub async fn first_poll(&self) -> Instant {
        loop {
            let notified = self.shared.first_poll_signal.notified();
            if let Some(at) = *self.shared.first_poll.lock().unwrap() {
                return at;
            }
            notified.await;
        }
    }

    pub async fn invoke(&self, event: &serde_json::Value) -> Answer {
        let (answer, receive) = oneshot::channel();
        let id = uuid::Uuid::now_v7().to_string();
        self.events.send((id, Bytes::from(event.to_string()), answer)).await.expect("runtime API running");
        tokio::time::timeout(Duration::from_secs(60), receive).await.expect("the function answers").expect("answered")
    }
}

fn reply(status: u16, headers: &[(&str, String)], body: Bytes) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder.body(Full::new(body)).unwrap()
}

async fn route(state: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    if path.ends_with("/runtime/invocation/next") {
        {
            let mut first = state.first_poll.lock().unwrap();
            if first.is_none() {
                *first = Some(Instant::now());
                state.first_poll_signal.notify_waiters();
            }
        }
        let Some((id, event, answer)) = state.events.lock().await.recv().await else {
            return Ok(reply(500, &[], Bytes::new()));
        };
        state.waiting.lock().unwrap().insert(id.clone(), (Instant::now(), answer));
        let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() + 30_000;
        return Ok(reply(
            200,
            &[
                ("lambda-runtime-aws-request-id", id),
                ("lambda-runtime-deadline-ms", deadline.to_string()),
                ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:bench".into()),
                ("lambda-runtime-trace-id", trace_header(state.sampled)),
                ("content-type", "application/json".into()),
            ],
            event,
        ));
    }
    let error = path.ends_with("/error");
    if path.contains("/runtime/invocation/") && (path.ends_with("/response") || error) {
        let id = path.split('/').rev().nth(1).unwrap_or_default().to_owned();
        let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        if let Some((started, answer)) = state.waiting.lock().unwrap().remove(&id) {
            let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            let _ = answer.send(Answer { body, error, latency: started.elapsed() });
        }
        return Ok(reply(202, &[], Bytes::new()));
    }
    if path.ends_with("/runtime/init/error") {
        let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        eprintln!("function init error: {}", String::from_utf8_lossy(&body));
        return Ok(reply(202, &[], Bytes::new()));
    }
    Ok(reply(404, &[], Bytes::new()))
}

/// A new trace per invocation, as Lambda starts one; `Parent` is the function's segment.
fn trace_header(sampled: bool) -> String {
    let hex = uuid::Uuid::now_v7().simple().to_string();
    format!("Root=1-{}-{};Parent={};Sampled={}", &hex[..8], &hex[8..], &hex[16..], u8::from(sampled))
}

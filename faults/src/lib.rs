//! An HTTP/1.1 proxy between AWS SDK clients and local emulators (Dynoxide for DynamoDB,
//! LocalStack for S3) that makes them answer the way real AWS does under stress: conflicts,
//! throttling, server errors, dropped connections, lost replies, stale reads. It also counts
//! requests by operation.
//!
//! Each test starts its own proxy, points an SDK client's endpoint at [`FaultProxy::url`] and sets
//! the [`Rule`]s it wants. Requests are forwarded unchanged (method, path, query, every header
//! including Host, body), so SigV4 signatures still verify upstream, and so are the answers.
//!
//! # Operation names
//!
//! Rules match, and [`FaultProxy::requests`] counts, by operation:
//! - a request with `x-amz-target: DynamoDB_20120810.<Operation>` is `DynamoDB.<Operation>`,
//!   e.g. `DynamoDB.TransactWriteItems` (other JSON-protocol services likewise, e.g.
//!   `DynamoDBStreams.GetRecords`);
//! - any other request is S3: `S3.CreateMultipartUpload` (POST `?uploads`), `S3.UploadPart` (PUT
//!   with `uploadId` and `partNumber`), `S3.CompleteMultipartUpload` (POST with `uploadId`),
//!   `S3.ListParts` (GET with `uploadId`), `S3.AbortMultipartUpload` (DELETE with `uploadId`),
//!   else `S3.<METHOD>`: `S3.PUT`, `S3.GET`, `S3.HEAD`, `S3.DELETE`, `S3.POST`.
//!
//! # Faults on the wire
//!
//! Made-up answers carry what AWS sends, so SDKs parse them into the right typed errors. DynamoDB
//! ones are JSON (`content-type: application/x-amz-json-1.0`, with `x-amzn-requestid` and
//! `x-amz-crc32`); S3 ones are XML (`application/xml`, `x-amz-request-id`, `x-amz-id-2`), without
//! a body when answering HEAD.
//! - [`Fault::TransactionConflict`], [`Fault::TransactionThrottled`]: `DynamoDB.TransactWriteItems`
//!   only, not forwarded. 400 `TransactionCanceledException` with one `CancellationReasons` entry per
//!   transaction item, a random one `TransactionConflict` (or `ThrottlingError`), the others `None`.
//! - [`Fault::WriteConflict`]: `DynamoDB.PutItem`, `UpdateItem` and `DeleteItem` only, not
//!   forwarded. 400 `TransactionConflictException`, what DynamoDB answers a single-item write of an
//!   item that a transaction is writing ("Transaction conflict handling", Developer Guide).
//! - [`Fault::Throttling`]: DynamoDB 400 `ThrottlingException`; S3 503 `SlowDown`. Not forwarded.
//! - [`Fault::ProvisionedThroughputExceeded`]: DynamoDB 400 `ProvisionedThroughputExceededException`;
//!   S3 503 `SlowDown`. Not forwarded.
//! - [`Fault::ServerError`]: 500 `InternalServerError` or 503 `ServiceUnavailable` (DynamoDB), 500
//!   `InternalError` or 503 `SlowDown` (S3). Not forwarded.
//! - [`Fault::ConnectionReset`]: not forwarded; the client connection is reset (TCP RST) without
//!   an answer, so a client sees "connection reset" (or an unexpected end of the connection).
//! - [`Fault::Latency`]: waits, then forwards.
//! - [`Fault::CommitThenDropReply`]: forwards, reads the whole upstream answer (the write is
//!   committed), then resets the client connection without an answer, like `ConnectionReset`.
//! - [`Fault::MissingKeyForbidden`]: `S3.GET` and `S3.HEAD` only: forwards, and turns an upstream
//!   404 into 403 `AccessDenied`, as S3 answers a caller without `s3:ListBucket`.
//! - [`Fault::StaleReads`]: `DynamoDB.GetItem`, `Query` and `Scan` without `"ConsistentRead": true`:
//!   forwards, and removes from the answer the items written through the proxy less than the lag
//!   ago (`Item` of GetItem; entries of `Items`, with `Count` and `ScannedCount`, of Query and Scan).
//!   The proxy records the time of every write it forwards that upstream accepted, whatever the
//!   rules; items are told apart by table and key attributes ([`FaultProxy::set_key_attributes`]).
//! - [`Fault::Respond`]: answers the given status, content type and body, not forwarded.
//!
//! `MissingKeyForbidden` and `StaleReads` count as injected, and towards `max_times`, only when
//! they changed an answer; the other faults whenever their rule fires.
//!
//! # S3's contract
//!
//! The proxy records every S3 request it receives ([`FaultProxy::recorded`]: headers, sizes, the
//! XML of multipart creation and completion, never object bytes); [`contract::check`] holds them
//! to the S3 rules the emulators do not enforce.

pub mod contract;
mod dynamodb;
mod operation;
mod proxy;
mod recording;
mod reply;
mod rules;
mod s3;
mod stale;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;

pub use rules::{Fault, Match, Rule};

use rules::{Fired, RequestFacts, RuleBook};
use stale::WriteLog;

/// A running proxy. Clones share it; it runs until the tokio runtime that started it stops.
#[derive(Clone)]
pub struct FaultProxy {
    url: String,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) to `upstream`, e.g. `http://127.0.0.1:18000`.
    /// The seed makes the random choices reproducible, given the same order of requests.
    pub async fn start(upstream: &str, seed: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the faults proxy");
        let url = format!("http://{}", listener.local_addr().expect("the proxy's address"));
        let shared = Arc::new(Shared {
            upstream: upstream_address(upstream),
            rules: Mutex::new(RuleBook::new(seed)),
            writes: Mutex::new(WriteLog::new()),
            requests: Mutex::default(),
            injected: Mutex::default(),
            recorded: Mutex::default(),
            answers: AtomicU64::new(0),
        });
        tokio::spawn(proxy::accept(listener, shared.clone()));
        FaultProxy { url, shared }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Replaces the rules, from the next request on. Panics on a probability outside 0..=1, a
    /// `ServerError` other than 500 or 503, or a `Respond` with an invalid status or content type.
    pub fn set_rules(&self, rules: Vec<Rule>) {
        self.shared.rules.lock().unwrap().set(rules);
    }

    pub fn clear_rules(&self) {
        self.set_rules(Vec::new());
    }

    /// The attributes that make up item keys, for stale reads; `["pk", "sk"]` unless set. Set them
    /// before the writes they should apply to.
    pub fn set_key_attributes(&self, names: &[&str]) {
        self.shared.writes.lock().unwrap().set_key_attributes(names.iter().map(|name| name.to_string()).collect());
    }

    /// Requests received, by operation, faulted ones included.
    pub fn requests(&self) -> BTreeMap<String, u64> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Faults injected, by [`Fault::name`].
    pub fn injected(&self) -> BTreeMap<String, u64> {
        self.shared.injected.lock().unwrap().clone()
    }

    /// The S3 requests received so far, in order, for [`contract::check`].
    pub fn recorded(&self) -> Vec<contract::RecordedRequest> {
        self.shared.recorded.lock().unwrap().clone()
    }

    /// Requests received since the last call, by operation.
    pub fn take_requests(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.shared.requests.lock().unwrap())
    }
}

/// What the proxy's connections share.
struct Shared {
    /// `host:port`.
    upstream: String,
    rules: Mutex<RuleBook>,
    writes: Mutex<WriteLog>,
    requests: Mutex<BTreeMap<String, u64>>,
    injected: Mutex<BTreeMap<String, u64>>,
    /// S3 requests as received, with their answers' status.
    recorded: Mutex<Vec<contract::RecordedRequest>>,
    /// Answers the proxy made up, to derive request ids from.
    answers: AtomicU64,
}

impl Shared {
    /// Counts a request and decides its fault, if any.
    fn arrive(&self, request: &RequestFacts) -> Option<Fired> {
        *self.requests.lock().unwrap().entry(request.operation.to_string()).or_default() += 1;
        self.rules.lock().unwrap().decide(request)
    }

    fn count_injected(&self, fault: &Fault) {
        *self.injected.lock().unwrap().entry(fault.name().to_string()).or_default() += 1;
    }

    /// Counts a fault that depends on the upstream answer, once it changed one.
    fn count_conditional_injection(&self, fired: &Fired) {
        fired.count_use();
        self.count_injected(&fired.fault);
    }

    fn next_answer(&self) -> u64 {
        self.answers.fetch_add(1, Ordering::Relaxed)
    }
}

/// `http://host:port/` → `host:port`, with port 80 if none is given.
fn upstream_address(upstream: &str) -> String {
    let authority = upstream.trim_start_matches("http://").split('/').next().unwrap_or_default();
    match authority.contains(':') {
        true => authority.to_string(),
        false => format!("{authority}:80"),
    }
}

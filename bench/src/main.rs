//! `make bench`: runs the release build of every function against a minimal Lambda Runtime API
//! and the local stack (through counting proxies), each under the CPU share and memory of a
//! Lambda `MemorySize` (`lambda_share`), and writes BENCHMARKS.md: per function at its configured
//! size (template.yaml) cold start, memory, package size, backend calls, CPU and warm latency;
//! the same at 128 to 1024 MB with the cost of each (`power`); text extraction per document at
//! each size (`extraction`); the cost per million uploads; confirm throughput.
//! Figures, never assertions: the targets are in the table's header.
//!
//! `bench extract ...` is the extraction sub-command `extraction` runs inside a share.

mod cost;
mod extraction;
mod lambda_share;
mod power;
mod proxy;
mod runtime_api;
mod template;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::domain::{Document, DocumentId, UserId};
use shared::App;

const COLD_RUNS: usize = 7;
const WARM_REQUESTS: usize = 200;
/// The `MemorySize`s every function is measured at (besides its configured one).
const SWEEP_MB: [u32; 4] = [128, 256, 512, 1024];

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the bench with `make bench`"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("events").join(name)).unwrap()).unwrap()
}

/// An API Gateway event from `events/` for `user` and, where the route has one, document `id`.
fn http_event(name: &str, user: &str, id: Option<DocumentId>) -> Value {
    let mut event = fixture(name);
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(user);
    if let Some(id) = id {
        let fixture_id = event["pathParameters"]["id"].as_str().unwrap().to_owned();
        for pointer in ["/rawPath", "/requestContext/http/path"] {
            let path = event.pointer(pointer).unwrap().as_str().unwrap().replace(&fixture_id, &id.to_string());
            *event.pointer_mut(pointer).unwrap() = json!(path);
        }
        event["pathParameters"]["id"] = json!(id.to_string());
    }
    event
}

fn invocation() -> shared::Invocation {
    shared::Invocation::standalone(Duration::from_secs(30))
}

/// How a staged document is left.
#[derive(Clone, Copy, PartialEq)]
enum Staged {
    /// Pending with its object stored, waiting for a confirm request.
    Pending,
    /// Confirmed (charged) by a confirm request.
    Confirmed,
    /// Pending with its object stored, confirmed when its arrival is handled (the web page's
    /// uploads: `confirm_on_arrival`).
    ConfirmsOnArrival,
}

/// Stages a document of `user` with its object in storage, its size declared as the web page
/// declares it.
async fn staged_document(app: &App, user: &str, staged: Staged) -> DocumentId {
    let owner = UserId::parse(user).unwrap();
    let body = b"Invoice: payment due to the vendor within 30 days.".to_vec();
    let size = body.len() as u64;
    let document = Document {
        confirm_on_arrival: staged == Staged::ConfirmsOnArrival,
        ..Document::pending(
            owner.clone(),
            "bench.txt".into(),
            "text/plain".into(),
            Some(size),
            shared::auth::now_unix(),
        )
    };
    assert_eq!(app.table.create_document(&invocation(), &document).await.unwrap(), shared::table::Write::Done);
    app.storage
        .client()
        .put_object()
        .bucket(app.storage.bucket())
        .key(document.object_key())
        .body(body.into())
        .send()
        .await
        .unwrap();
    if staged == Staged::Confirmed {
        let outcome = shared::operations::confirm::confirm(app, &invocation(), &owner, document.id).await.unwrap();
        assert!(
            matches!(outcome, shared::operations::confirm::ConfirmOutcome::Uploaded { size_bytes, .. } if size_bytes == size)
        );
    }
    document.id
}

/// The S3 event of `id`'s object arriving.
fn s3_event(app: &App, owner: &UserId, id: DocumentId) -> Value {
    let mut s3 = fixture("s3-put.json");
    s3["Records"][0]["s3"]["bucket"]["name"] = json!(app.config.bucket_name);
    s3["Records"][0]["s3"]["object"]["key"] = json!(shared::domain::object_key(owner, id));
    s3
}

/// The events one function is measured with: `cold` for each cold start, `warm` one per request.
struct Workload {
    function: &'static str,
    events: Vec<Value>,
    /// Run with X-Ray on, as `Tracing=Active` does it in Lambda: every invocation sampled, the
    /// daemon's address set (a UDP socket of the bench's own, counting the subsegments).
    traced: bool,
    /// A second workload of the same function, measured at its configured size only.
    variant: Option<&'static str>,
}

impl Workload {
    fn new(function: &'static str, events: Vec<Value>) -> Self {
        Self { function, events, traced: false, variant: None }
    }

    fn label(&self) -> String {
        match (self.traced, self.variant) {
            (true, _) => format!("{} (X-Ray, sampled)", self.function),
            (false, Some(variant)) => format!("{} ({variant})", self.function),
            (false, None) => self.function.to_owned(),
        }
    }
}

/// The label of classify confirming nothing: the document was confirmed by a request.
const CLASSIFY_CONFIRMED: &str = "classify (confirmed by request)";

/// The workloads, each with its own staged documents; the X-Ray one only when `traced`.
async fn workloads(app: &App, traced: bool) -> Vec<Workload> {
    let user = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let n = COLD_RUNS + WARM_REQUESTS;
    let mut confirm = Vec::new();
    let mut delete = Vec::new();
    let mut classify = Vec::new();
    // Each upload of its own user, as most are: one user's pending uploads are listed on its
    // `QUOTA` item, whose size (and write units) grows with them.
    let own_user = || format!("bench-{}", uuid::Uuid::now_v7().simple());
    let mut upload_url = Vec::new();
    let mut classify_confirmed = Vec::new();
    for _ in 0..n {
        let staged = own_user();
        confirm.push(http_event("confirm.json", &staged, Some(staged_document(app, &staged, Staged::Pending).await)));
        if traced {
            let staged = own_user();
            confirm.push(http_event(
                "confirm.json",
                &staged,
                Some(staged_document(app, &staged, Staged::Pending).await),
            ));
        }
        let staged = own_user();
        delete.push(http_event("delete.json", &staged, Some(staged_document(app, &staged, Staged::Confirmed).await)));
        // The web page's upload-url: a single PUT, confirmed on arrival.
        let mut start = http_event("upload-url.json", &own_user(), None);
        let mut body: Value = serde_json::from_str(start["body"].as_str().unwrap()).unwrap();
        body["confirm_on_arrival"] = json!(true);
        start["body"] = json!(body.to_string());
        upload_url.push(start);
        // Its arrival: confirmed and classified, for a user with a topic.
        let staged = own_user();
        let owner = UserId::parse(&staged).unwrap();
        app.table.create_topic(&invocation(), &owner, "Invoices", "invoice payment vendor", 0).await.unwrap();
        let arriving = staged_document(app, &staged, Staged::ConfirmsOnArrival).await;
        classify.push(s3_event(app, &owner, arriving));
    }
    let owner = UserId::parse(&user).unwrap();
    app.table.create_topic(&invocation(), &owner, "Invoices", "invoice payment vendor", 0).await.unwrap();
    // An API client's upload, confirmed by its request: the arrival classifies it (again, here).
    let confirmed = staged_document(app, &user, Staged::Confirmed).await;
    classify_confirmed.resize(n, s3_event(app, &owner, confirmed));
    let get = http_event("documents-get.json", &user, Some(staged_document(app, &user, Staged::Confirmed).await));
    let confirm_traced = confirm.split_off(n);
    let mut workloads = vec![
        Workload::new("upload-url", upload_url),
        Workload::new("confirm", confirm),
        Workload::new("quota", vec![http_event("quota.json", &user, None); n]),
        Workload::new("delete", delete),
        Workload::new("documents", vec![get; n]),
        Workload::new("classify", classify),
        Workload { variant: Some("confirmed by request"), ..Workload::new("classify", classify_confirmed) },
        Workload::new("cleanup", vec![fixture("cleanup.json"); n]),
    ];
    if traced {
        workloads.insert(2, Workload { traced: true, ..Workload::new("confirm", confirm_traced) });
    }
    workloads
}

struct Measured {
    function: &'static str,
    label: String,
    /// The `MemorySize` whose share it ran under (or its configured one, without a share).
    memory_mb: u32,
    at_share: bool,
    /// Mean of the warm requests' durations, each rounded up to the millisecond (Lambda's bill).
    billed_ms: f64,
    /// Scheduler periods the share ran out of quota in, of those it ran in (warm requests).
    throttled: (u64, u64),
    /// X-Ray subsegments the daemon received per warm request (traced workloads).
    subsegments_per_request: Option<f64>,
    /// DynamoDB request units per warm request, as Dynoxide sizes them.
    capacity: proxy::Capacity,
    /// Bytes the function wrote to stdout (its JSON log lines and metrics) per warm request:
    /// what CloudWatch Logs ingests, before Lambda's own platform lines.
    log_bytes_per_request: f64,
    cold_starts: Vec<Duration>,
    rss_kib: Vec<u64>,
    warm: Vec<Duration>,
    cpu_per_request: Duration,
    calls: BTreeMap<String, u64>,
    errors: usize,
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_default()
}

/// CPU time of all the process's threads, in nanoseconds.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Measures `workload` as a function of `memory_mb`: under its share when `at_share`.
async fn measure(
    workload: &Workload,
    memory_mb: u32,
    at_share: bool,
    binaries: &Path,
    dynamodb: &str,
    s3: &str,
) -> Measured {
    let dynamodb_tally = proxy::Tally::default();
    let s3_tally = proxy::Tally::default();
    let dynamodb_proxy = proxy::start(dynamodb.to_owned(), dynamodb_tally.clone()).await;
    let s3_proxy = proxy::start(s3.to_owned(), s3_tally.clone()).await;
    let binary = binaries.join(workload.function).join("bootstrap");
    let mut events = workload.events.iter();
    let share = at_share.then(|| {
        let label = workload.label().replace([' ', '(', ')', ','], "");
        lambda_share::Share::create(&format!("{label}-{memory_mb}"), memory_mb).expect("a cgroup for the share")
    });
    let mut measured = Measured {
        function: workload.function,
        label: workload.label(),
        memory_mb,
        at_share,
        billed_ms: 0.0,
        throttled: (0, 0),
        subsegments_per_request: None,
        capacity: proxy::Capacity::default(),
        log_bytes_per_request: 0.0,
        cold_starts: Vec::new(),
        rss_kib: Vec::new(),
        warm: Vec::new(),
        cpu_per_request: Duration::ZERO,
        calls: BTreeMap::new(),
        errors: 0,
    };
    let daemon = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let subsegments = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let received = subsegments.clone();
    let daemon_address = daemon.local_addr().unwrap().to_string();
    let counting = tokio::spawn(async move {
        let mut buffer = vec![0; 65_536];
        while daemon.recv(&mut buffer).await.is_ok() {
            received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    for run in 0..COLD_RUNS {
        let api = runtime_api::RuntimeApi::start(workload.traced).await;
        let started = Instant::now();
        let mut command = tokio::process::Command::new(&binary);
        if let Some(share) = &share {
            share.enter(&mut command);
        }
        if workload.traced {
            command.env("AWS_XRAY_DAEMON_ADDRESS", &daemon_address);
        }
        let mut child = command
            .env("AWS_LAMBDA_RUNTIME_API", api.address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", workload.function)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string())
            .env("AWS_ENDPOINT_URL_DYNAMODB", &dynamodb_proxy)
            .env("AWS_ENDPOINT_URL_S3", &s3_proxy)
            .env("PENDING_UPLOAD_MAX_AGE_SECONDS", "3600")
            // As template.yaml runs them: JSON logs at INFO.
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("LOG_LEVEL", "INFO")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (build with `make bench`)", binary.display()));
        let pid = child.id().unwrap();
        let log_bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut stdout = child.stdout.take().unwrap();
        let counted = log_bytes.clone();
        tokio::spawn(async move {
            let mut buffer = vec![0; 16_384];
            while let Ok(n @ 1..) = tokio::io::AsyncReadExt::read(&mut stdout, &mut buffer).await {
                counted.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            }
        });
        measured.cold_starts.push(api.first_poll().await - started);
        let answer = api.invoke(events.next().unwrap()).await;
        measured.errors += answer.error as usize;
        measured.rss_kib.push(rss_kib(pid));
        dynamodb_tally.take();
        dynamodb_tally.take_capacity();
        s3_tally.take();
        if run + 1 == COLD_RUNS {
            let cpu_before = share.as_ref().map_or(cpu_ns(pid), |s| s.cpu_used().as_nanos() as u64);
            let throttled_before = share.as_ref().map(|s| s.throttled_periods()).unwrap_or_default();
            let subsegments_before = subsegments.load(std::sync::atomic::Ordering::Relaxed);
            let log_bytes_before = log_bytes.load(std::sync::atomic::Ordering::Relaxed);
            for event in events.by_ref() {
                let answer = api.invoke(event).await;
                measured.errors += answer.error as usize;
                if answer.body.get("statusCode").and_then(Value::as_u64).is_some_and(|s| s >= 400) {
                    measured.errors += 1;
                }
                measured.warm.push(answer.latency);
            }
            let cpu = share.as_ref().map_or(cpu_ns(pid), |s| s.cpu_used().as_nanos() as u64) - cpu_before;
            measured.cpu_per_request = Duration::from_nanos(cpu / measured.warm.len() as u64);
            if let Some(share) = &share {
                let (throttled, periods) = share.throttled_periods();
                measured.throttled = (throttled - throttled_before.0, periods - throttled_before.1);
            }
            let billed: f64 = measured.warm.iter().map(|d| (d.as_secs_f64() * 1000.0).ceil()).sum();
            measured.billed_ms = billed / measured.warm.len() as f64;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let logged = log_bytes.load(std::sync::atomic::Ordering::Relaxed) - log_bytes_before;
            measured.log_bytes_per_request = logged as f64 / measured.warm.len() as f64;
            let capacity = dynamodb_tally.take_capacity();
            measured.capacity = proxy::Capacity {
                read_units: capacity.read_units / measured.warm.len() as f64,
                write_units: capacity.write_units / measured.warm.len() as f64,
            };
            if workload.traced {
                let sent = subsegments.load(std::sync::atomic::Ordering::Relaxed) - subsegments_before;
                measured.subsegments_per_request = Some(sent as f64 / measured.warm.len() as f64);
            }
            for (operation, count) in dynamodb_tally.take().into_iter().chain(s3_tally.take()) {
                measured.calls.insert(operation, count);
            }
        }
        child.kill().await.ok();
    }
    counting.abort();
    // The share's groups are removed when it drops, once its processes are gone.
    drop(share);
    measured
}

#[derive(Clone, Copy, Debug)]
enum Handler {
    UploadUrl,
    Confirm,
    Quota,
}

/// CPU time of the calling thread in nanoseconds; it does not advance while waiting on I/O.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_default()
}

/// The handler alone: events parsed into requests beforehand, then handled one after another on
/// a current-thread runtime of its own thread, whose CPU time is divided by the requests.
/// Includes the SDK's work (signing, serialising, parsing answers); excludes the runtime client.
fn handler_cpu(handler: Handler, events: Vec<Value>) -> Duration {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let app = App::from_env().await.unwrap();
            let requests: Vec<_> =
                events.iter().map(|e| lambda_http::request::from_str(&e.to_string()).unwrap()).collect();
            let count = requests.len() as u64;
            let before = thread_cpu_ns();
            for request in requests {
                let response = match handler {
                    Handler::UploadUrl => shared::entry::http::upload_url(&app, request).await,
                    Handler::Confirm => shared::entry::http::confirm(&app, request).await,
                    Handler::Quota => shared::entry::http::quota(&app, request).await,
                };
                assert!(response.unwrap().status().is_success(), "{handler:?}");
            }
            Duration::from_nanos((thread_cpu_ns() - before) / count)
        })
    })
    .join()
    .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// `clients` tasks confirm `total` staged uploads, of one user or each of its own user: confirms
/// per second, and how many did not answer 200 (reported, not fatal: a figure, not a test).
async fn confirm_throughput(app: Arc<App>, clients: usize, total: usize, one_user: bool) -> (f64, usize) {
    let shared_user = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let mut events = Vec::new();
    for _ in 0..total {
        let user = if one_user { shared_user.clone() } else { format!("bench-{}", uuid::Uuid::now_v7().simple()) };
        let id = staged_document(&app, &user, Staged::Pending).await;
        events.push(http_event("confirm.json", &user, Some(id)));
    }
    let queue = Arc::new(tokio::sync::Mutex::new(events));
    let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (app, queue, failed) = (app.clone(), queue.clone(), failed.clone());
            tokio::spawn(async move {
                loop {
                    let Some(event) = queue.lock().await.pop() else { return };
                    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
                    let response = shared::entry::http::confirm(&app, request).await.unwrap();
                    if response.status() != 200 {
                        failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    (total as f64 / started.elapsed().as_secs_f64(), failed.load(std::sync::atomic::Ordering::Relaxed))
}

fn package_sizes(dir: &Path, functions: &[&str]) -> BTreeMap<String, u64> {
    functions
        .iter()
        .filter_map(|f| Some((f.to_string(), std::fs::metadata(dir.join(f).join("bootstrap.zip")).ok()?.len())))
        .collect()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{cores} cores, {cpu}")
}

fn failures(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} confirms answered an error, 5xx at their deadline)")
    }
}

fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The section of the previous BENCHMARKS.md between `<!-- begin NAME -->` and
/// `<!-- end NAME -->` (markers included), kept by a run that does not measure it.
fn kept_section(previous: &str, name: &str) -> Option<String> {
    let (begin, end) = (format!("<!-- begin {name} -->"), format!("<!-- end {name} -->"));
    let start = previous.find(&begin)?;
    let stop = previous[start..].find(&end)? + start + end.len();
    Some(previous[start..stop].to_owned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("extract") {
        extraction::run_subcommand(&args[2..]);
        return;
    }
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(run());
}

async fn run() {
    if std::env::var("BENCH_ONLY").as_deref() == Ok("confirm-throughput") {
        // The one figure of issue 24's burst, without the rest of the bench (`make bench-burst`).
        let app = Arc::new(App::from_env().await.unwrap());
        let load_before = load_average();
        let one_user = confirm_throughput(app.clone(), 32, 640, true).await;
        let many_users = confirm_throughput(app.clone(), 32, 640, false).await;
        let storage = std::env::var("STORAGE").unwrap_or_else(|_| "localstack".into());
        let line = format!(
            "- S3 served by {storage}, {} UTC (load average before {load_before}, after {}): one user {:.0}/s{}, \
             one user each {:.0}/s{}.",
            shared::entry::http::codec::rfc3339(shared::auth::now_unix()),
            load_average(),
            one_user.0,
            failures(one_user.1),
            many_users.0,
            failures(many_users.1)
        );
        println!("{line}");
        let path = root().join("BENCHMARKS.md");
        let previous = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(section) = kept_section(&previous, "burst") {
            let prefix = format!("- S3 served by {storage},");
            let mut lines: Vec<&str> = section.lines().filter(|l| !l.starts_with(&prefix)).collect();
            lines.insert(lines.len() - 1, &line);
            std::fs::write(&path, previous.replace(&section, &lines.join("\n"))).unwrap();
        }
        return;
    }
    let binaries = PathBuf::from(std::env::var("BENCH_BINARIES").unwrap_or_else(|_| "target/lambda".into()));
    let packages = PathBuf::from(std::env::var("BENCH_PACKAGES").unwrap_or_else(|_| "target/lambda-arm64".into()));
    let dynamodb = env("AWS_ENDPOINT_URL_DYNAMODB").trim_start_matches("http://").to_owned();
    let s3 = env("AWS_ENDPOINT_URL_S3").trim_start_matches("http://").to_owned();
    let app = Arc::new(App::from_env().await.unwrap());
    let load_before = load_average();
    let configured = template::memory_sizes(&std::fs::read_to_string(root().join("template.yaml")).unwrap());
    let configured_mb = |function: &str| {
        *configured.get(function).unwrap_or_else(|| panic!("{function} has no MemorySize in template.yaml"))
    };
    // Without a writable cgroup hierarchy, every function is measured once, with the whole machine.
    let share_error = if std::env::var("BENCH_LAMBDA_SHARE").as_deref() == Ok("off") {
        Some("BENCH_LAMBDA_SHARE=off".to_owned())
    } else {
        lambda_share::Share::create("probe", SWEEP_MB[0]).err()
    };
    let at_share = share_error.is_none();
    if let Some(why) = &share_error {
        eprintln!("bench: NOT measuring at Lambda's CPU share and memory: {why}");
    }
    let mut rounds: Vec<u32> = SWEEP_MB.to_vec();
    rounds.extend(configured.values());
    rounds.sort();
    rounds.dedup();
    if !at_share {
        rounds = vec![0];
    }
    let mut results = Vec::new();
    for round in rounds {
        eprintln!("bench: staging documents{}", if at_share { format!(" for {round} MB") } else { String::new() });
        let traced = !at_share || round == configured_mb("confirm");
        for workload in &workloads(&app, traced).await {
            let memory_mb = if at_share { round } else { configured_mb(workload.function) };
            let configured_here = memory_mb == configured_mb(workload.function);
            let swept = !workload.traced && workload.variant.is_none();
            if at_share && !(configured_here || (swept && SWEEP_MB.contains(&memory_mb))) {
                continue;
            }
            eprintln!("bench: {} at {memory_mb} MB", workload.label());
            results.push(measure(workload, memory_mb, at_share, &binaries, &dynamodb, &s3).await);
        }
    }
    // The main table: each function at its configured size.
    let main: Vec<&Measured> = results.iter().filter(|r| r.memory_mb == configured_mb(r.function)).collect();
    let functions: Vec<&str> = main.iter().map(|r| r.function).collect();
    let sizes = package_sizes(
        &packages,
        &["upload-url", "confirm", "quota", "delete", "documents", "topics", "reclassify", "classify", "cleanup"],
    );
    let extraction_section = if at_share {
        let pdf_corpus =
            std::env::var("PDF_CORPUS_DIR").map(PathBuf::from).unwrap_or_else(|_| root().join("target/pdf-corpus"));
        let household = root().join("eval/classification/household");
        let any = |_: shared::extract::Format| true;
        let corpora = [
            extraction::Corpus {
                name: "PDF corpus, `target/pdf-corpus`".into(),
                files: extraction::files(&pdf_corpus, |f| f == shared::extract::Format::Pdf),
            },
            extraction::Corpus {
                name: "damaged PDFs, `target/pdf-corpus/adversarial`".into(),
                files: extraction::files(&pdf_corpus.join("adversarial"), any),
            },
            extraction::Corpus {
                name: "household PDF".into(),
                files: extraction::files(&household, |f| f == shared::extract::Format::Pdf),
            },
            extraction::Corpus {
                name: "household DOCX".into(),
                files: extraction::files(&household, |f| f == shared::extract::Format::Docx),
            },
            extraction::Corpus {
                name: "household text and Markdown".into(),
                files: extraction::files(&household, |f| f == shared::extract::Format::Text),
            },
            extraction::Corpus {
                name: "bombs, `shared/tests/integration/data`".into(),
                files: extraction::files(&root().join("shared/tests/integration/data"), |f| {
                    f != shared::extract::Format::Text
                }),
            },
        ];
        extraction::measure(&binaries.join("classify").join("bootstrap"), &corpora, &SWEEP_MB).await
    } else {
        format!("Not measured: {}.\n", share_error.as_deref().unwrap_or_default())
    };
    eprintln!("bench: handler CPU");
    let user = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let mut confirms = Vec::new();
    for _ in 0..WARM_REQUESTS {
        confirms.push(http_event("confirm.json", &user, Some(staged_document(&app, &user, Staged::Pending).await)));
    }
    let handler_cpus = [
        (
            "upload-url",
            handler_cpu(Handler::UploadUrl, vec![http_event("upload-url.json", &user, None); WARM_REQUESTS]),
        ),
        ("confirm", handler_cpu(Handler::Confirm, confirms)),
        ("quota", handler_cpu(Handler::Quota, vec![http_event("quota.json", &user, None); WARM_REQUESTS])),
    ];
    eprintln!("bench: confirm throughput");
    let one_user = confirm_throughput(app.clone(), 32, 640, true).await;
    let many_users = confirm_throughput(app.clone(), 32, 640, false).await;
    let load_after = load_average();

    let mut table = String::new();
    writeln!(table, "| function | MemorySize MB (vCPU share) | cold start ms, median (min-max) of {COLD_RUNS} | RSS after 1st request MiB | package (arm64 zip) MiB | backend calls per request | DynamoDB read / write units per request | log bytes per request | CPU per request us | warm p50 ms | warm p99 ms |").unwrap();
    writeln!(table, "|---|---|---|---|---|---|---|---|---|---|---|").unwrap();
    for r in &main {
        let mut cold = r.cold_starts.clone();
        cold.sort();
        let mut warm = r.warm.clone();
        warm.sort();
        let rss = r.rss_kib.iter().max().copied().unwrap_or_default() as f64 / 1024.0;
        let per_request: Vec<String> =
            r.calls.iter().map(|(op, count)| format!("{op} x{}", *count as f64 / r.warm.len() as f64)).collect();
        writeln!(
            table,
            "| {} | {} | {} ({}-{}) | {:.1} | {} | {} | {:.1} / {:.1} | {:.0} | {} | {} | {} |{}",
            r.label,
            if r.at_share {
                format!("{} ({:.3})", r.memory_mb, lambda_share::vcpus(r.memory_mb))
            } else {
                format!("{} (not applied)", r.memory_mb)
            },
            ms(percentile(&cold, 0.5)),
            ms(cold[0]),
            ms(*cold.last().unwrap()),
            rss,
            sizes.get(r.function).map_or("n/a".into(), |b| format!("{:.2}", *b as f64 / 1048576.0)),
            per_request
                .into_iter()
                .chain(r.subsegments_per_request.map(|n| format!("X-Ray subsegments x{n}")))
                .collect::<Vec<_>>()
                .join(", "),
            r.capacity.read_units,
            r.capacity.write_units,
            r.log_bytes_per_request,
            r.cpu_per_request.as_micros(),
            ms(percentile(&warm, 0.5)),
            ms(percentile(&warm, 0.99)),
            if r.errors > 0 { format!(" {} errors", r.errors) } else { String::new() },
        )
        .unwrap();
    }
    let other: Vec<String> = sizes
        .iter()
        .filter(|(f, _)| !functions.contains(&f.as_str()))
        .map(|(f, b)| format!("{f} {:.2} MiB", *b as f64 / 1048576.0))
        .collect();
    if !other.is_empty() {
        writeln!(table, "\nOther packages (arm64 zip): {}.", other.join(", ")).unwrap();
    }
    let figures = |label: &str| {
        let r = main.iter().find(|r| r.label == label).unwrap();
        let mut cold = r.cold_starts.clone();
        cold.sort();
        let per_request =
            |operation: &str| r.calls.get(operation).copied().unwrap_or_default() as f64 / r.warm.len() as f64;
        cost::FunctionFigures {
            function: r.function,
            memory_mb: f64::from(r.memory_mb),
            billed_ms: r.billed_ms,
            cold_start_ms: percentile(&cold, 0.5).as_secs_f64() * 1000.0,
            read_units: r.capacity.read_units,
            write_units: r.capacity.write_units,
            s3_gets: per_request("S3.GET"),
            log_bytes: r.log_bytes_per_request,
        }
    };
    // The web page's single uploads: upload-url, the PUT, and the arrival that confirms and
    // classifies. An API client's: upload-url, the PUT, confirm, and the arrival that classifies.
    let page = [figures("upload-url"), figures("classify")];
    let cost_table = cost::table(&page, &figures("cleanup"), 1_000_000.0);
    let by_request = [figures("upload-url"), figures("confirm"), figures(CLASSIFY_CONFIRMED)];
    let by_request_usd = cost::total(&by_request, &figures("cleanup"), 1_000_000.0);
    let cost_table = format!(
        "{cost_table}\nAn API client that confirms by request instead (the seed's flow: upload-url, the PUT, \
         `POST /api/documents/{{id}}/confirm`, and classify of the confirmed upload, measured as `{CLASSIFY_CONFIRMED}`): \
         **{by_request_usd:.2}** USD per million uploads. Uploads in parts are always confirmed by request.\n"
    );
    let power_section = if at_share {
        let mut by_function: BTreeMap<&'static str, Vec<power::AtSize>> = BTreeMap::new();
        for r in results.iter().filter(|r| r.label == r.function) {
            let mut cold = r.cold_starts.clone();
            cold.sort();
            let mut warm = r.warm.clone();
            warm.sort();
            by_function.entry(r.function).or_default().push(power::AtSize {
                memory_mb: r.memory_mb,
                cold_start_ms: percentile(&cold, 0.5).as_secs_f64() * 1000.0,
                warm_p50_ms: percentile(&warm, 0.5).as_secs_f64() * 1000.0,
                warm_p99_ms: percentile(&warm, 0.99).as_secs_f64() * 1000.0,
                cpu_per_request_us: r.cpu_per_request.as_secs_f64() * 1e6,
                billed_ms: r.billed_ms,
                throttled: r.throttled,
                rss_mib: r.rss_kib.iter().max().copied().unwrap_or_default() as f64 / 1024.0,
            });
        }
        power::table(&by_function, &configured)
    } else {
        format!("Not measured: {}.\n", share_error.as_deref().unwrap_or_default())
    };
    let handler_cpus: Vec<String> = handler_cpus.iter().map(|(f, d)| format!("{f} {} us", d.as_micros())).collect();
    writeln!(
        table,
        "\nHandler CPU per request, in-process (no runtime client, whole machine): {}.",
        handler_cpus.join(", ")
    )
    .unwrap();
    writeln!(
        table,
        "\nConfirm throughput, 32 concurrent clients, 640 confirms, handlers in-process against the local stack \
         (whole machine, no share): one user {:.0}/s{}, one user each {:.0}/s{}.",
        one_user.0,
        failures(one_user.1),
        many_users.0,
        failures(many_users.1),
    )
    .unwrap();
    println!("{table}");
    let share_line = match &share_error {
        None => format!(
            "Each function process (and every process it starts) runs in a cgroup limited to the CPU share and \
             memory of a Lambda `MemorySize` (`bench/src/lambda_share.rs`: M/1769 of a CPU, AWS's one vCPU at 1,769 MB; \
             M MiB of memory; {} us scheduler period): the table below at each function's `MemorySize` in template.yaml, \
             the power-tuning table at 128, 256, 512 and 1024 MB.",
            std::env::var("BENCH_CFS_PERIOD_US").unwrap_or_else(|_| "100000".into())
        ),
        Some(why) => format!(
            "**Not at Lambda's share**: {why}. Every function ran with the whole machine; durations are lower bounds."
        ),
    };
    let previous = std::fs::read_to_string(root().join("BENCHMARKS.md")).unwrap_or_default();
    let filed = kept_section(&previous, "time-to-filed").unwrap_or_else(|| {
        "<!-- begin time-to-filed -->\nNot measured yet: `make bench-filed`.\n<!-- end time-to-filed -->".into()
    });
    let burst = kept_section(&previous, "burst").unwrap_or_else(|| "<!-- begin burst -->\n<!-- end burst -->".into());
    let report = format!(
        "# Benchmarks\n\nLatest `make bench` on this project's machine ({}), {} UTC. Load average (1, 5, 15 min) \
         {load_before} at the start, {load_after} at the end: the machine is shared, so wall times carry other work's \
         noise; CPU per request does not.\n\n\
         Reproduce: `make bench` (after `make test` installed the tools). It builds the functions with \
         `cargo lambda build --release` (x86-64, to run here) and `--arm64 --output-format zip` (package sizes), \
         starts the local stack, and runs each release binary against a minimal Lambda Runtime API \
         (`bench/src/runtime_api.rs`), with DynamoDB and S3 reached through counting proxies (`bench/src/proxy.rs`). \
         {share_line}\n\n\
         - cold start: process start to its first `GET /runtime/invocation/next`, clients built ({COLD_RUNS} starts); target <= 15 ms\n\
         - RSS: after the first request (largest of the starts); target <= 20 MiB\n\
         - package: zipped arm64 `bootstrap`; target <= 4 MiB\n\
         - backend calls: per warm request, counted at the proxies; targets confirm 2, upload-url 1, quota 1, delete <= 3\n\
         - CPU per request: all processes of the function's cgroup (all threads of the function process without one) over {WARM_REQUESTS} warm requests, divided by the requests (includes the runtime client and the event's JSON); \
         the handler alone is measured in-process below the table; target <= 100 us for upload-url, confirm, quota\n\
         - DynamoDB units: read and write request units per warm request, as Dynoxide sizes the items and bills transactions (asked for by the counting proxy)\n\
         - log bytes: what the function wrote to stdout per warm request with JSON logs at INFO (its log lines and metric lines)\n\
         - warm latency: event handed out to answer received, through the local stack ({WARM_REQUESTS} requests, one after another)\n\n{}\n\
         ## Cost per one million uploads\n\n\
         The web page's upload of one file in one PUT: upload-url (asking `confirm_on_arrival`), the browser's PUT, and \
         classify, which confirms it when its object arrives and then classifies it; and the clean-up's share; from the figures above \
         (billed duration: the mean of the warm requests' durations, each rounded up to the millisecond, measured at the share of \
         each function's `MemorySize` against the local stack: in AWS each backend call takes longer, so duration is a lower \
         bound) and list prices (`bench/src/cost.rs` says where each comes from).\n\n{}\n\
         ## Power tuning: each function at 128 to 1024 MB\n\n\
         Made by `make bench` (`bench/src/power.rs`): each function as in the first table, under the share of each \
         `MemorySize`. Cost per million invocations: the request plus the mean billed duration at that size (arm64 price), \
         1% cold starts billed with their init. In AWS the backend calls take longer than on loopback: that adds the \
         same wait at every size, which makes small sizes cheaper still, never dearer. Periods throttled: scheduler periods \
         in which the function used up its quota and waited, of those it ran in.\n\n{}\n\
         ## Text extraction per document at each share\n\n\
         Made by `make bench` (`bench/src/extraction.rs`): every document extracted as classify does (PDF and DOCX in a \
         sandboxed child, which is classify's release binary, under classify's default limits), {} passes, median per \
         document; the process and its children in a cgroup of each size. Wall time per document at each size, and the \
         CPU (the process's and its children's) per document.\n\n{}\n\
         ## One user's burst\n\n\
         `make bench-burst` (and `STORAGE=seaweedfs make bench-burst`): the confirm throughput above alone, 32 concurrent \
         clients, 640 confirms, handlers in-process (release) against the local stack, S3 served by LocalStack or by \
         SeaweedFS; each run replaces its storage's line.\n\n{}\n\n\
         ## Time to filed\n\n{}\n",
        machine(),
        shared::entry::http::codec::rfc3339(shared::auth::now_unix()),
        table,
        cost_table,
        power_section,
        extraction::PASSES,
        extraction_section,
        burst,
        filed,
    );
    std::fs::write(root().join("BENCHMARKS.md"), report).unwrap();
}

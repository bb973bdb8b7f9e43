//! `make bench`: runs the release build of every function against a minimal Lambda Runtime API
//! and the local stack (through counting proxies), and prints one table: cold start, memory,
//! package size, backend calls, CPU and warm latency per function, plus confirm throughput.
//! Figures, never assertions: the targets are in the table's header.

mod cost;
mod proxy;
mod runtime_api;

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

/// Stages a document of `user` with its object in storage; confirmed (charged) when `confirm`.
async fn staged_document(app: &App, user: &str, confirm: bool) -> DocumentId {
    let owner = UserId::parse(user).unwrap();
    let document =
        Document::pending(owner.clone(), "bench.txt".into(), "text/plain".into(), None, shared::auth::now_unix());
    assert_eq!(app.table.create_document(&invocation(), &document).await.unwrap(), shared::table::Write::Done);
    let body = b"Invoice: payment due to the vendor within 30 days.".to_vec();
    let size = body.len() as u64;
    app.storage
        .client()
        .put_object()
        .bucket(app.storage.bucket())
        .key(document.object_key())
        .body(body.into())
        .send()
        .await
        .unwrap();
    if confirm {
        let outcome = shared::operations::confirm::confirm(app, &invocation(), &owner, document.id).await.unwrap();
        assert!(
            matches!(outcome, shared::operations::confirm::ConfirmOutcome::Uploaded { size_bytes, .. } if size_bytes == size)
        );
    }
    document.id
}

/// The events one function is measured with: `cold` for each cold start, `warm` one per request.
struct Workload {
    function: &'static str,
    events: Vec<Value>,
    /// Run with X-Ray on, as `Tracing=Active` does it in Lambda: every invocation sampled, the
    /// daemon's address set (a UDP socket of the bench's own, counting the subsegments).
    traced: bool,
}

impl Workload {
    fn new(function: &'static str, events: Vec<Value>) -> Self {
        Self { function, events, traced: false }
    }

    fn label(&self) -> String {
        if self.traced {
            format!("{} (X-Ray, sampled)", self.function)
        } else {
            self.function.to_owned()
        }
    }
}

async fn workloads(app: &App) -> Vec<Workload> {
    let user = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let n = COLD_RUNS + WARM_REQUESTS;
    let mut confirm = Vec::new();
    let mut delete = Vec::new();
    let mut classify = Vec::new();
    for _ in 0..n {
        confirm.push(http_event("confirm.json", &user, Some(staged_document(app, &user, false).await)));
        confirm.push(http_event("confirm.json", &user, Some(staged_document(app, &user, false).await)));
        delete.push(http_event("delete.json", &user, Some(staged_document(app, &user, true).await)));
    }
    let owner = UserId::parse(&user).unwrap();
    app.table.create_topic(&invocation(), &owner, "Invoices", "invoice payment vendor", 0).await.unwrap();
    let to_classify = staged_document(app, &user, true).await;
    let mut s3 = fixture("s3-put.json");
    s3["Records"][0]["s3"]["bucket"]["name"] = json!(app.config.bucket_name);
    s3["Records"][0]["s3"]["object"]["key"] = json!(shared::domain::object_key(&owner, to_classify));
    classify.resize(n, s3);
    let get = http_event("documents-get.json", &user, Some(staged_document(app, &user, true).await));
    let confirm_traced = confirm.split_off(n);
    vec![
        Workload::new("upload-url", vec![http_event("upload-url.json", &user, None); n]),
        Workload::new("confirm", confirm),
        Workload { traced: true, ..Workload::new("confirm", confirm_traced) },
        Workload::new("quota", vec![http_event("quota.json", &user, None); n]),
        Workload::new("delete", delete),
        Workload::new("documents", vec![get; n]),
        Workload::new("classify", classify),
        Workload::new("cleanup", vec![fixture("cleanup.json"); n]),
    ]
}

struct Measured {
    function: &'static str,
    label: String,
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

async fn measure(workload: &Workload, binaries: &Path, dynamodb: &str, s3: &str) -> Measured {
    let dynamodb_tally = proxy::Tally::default();
    let s3_tally = proxy::Tally::default();
    let dynamodb_proxy = proxy::start(dynamodb.to_owned(), dynamodb_tally.clone()).await;
    let s3_proxy = proxy::start(s3.to_owned(), s3_tally.clone()).await;
    let binary = binaries.join(workload.function).join("bootstrap");
    let mut events = workload.events.iter();
    let mut measured = Measured {
        function: workload.function,
        label: workload.label(),
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
        if workload.traced {
            command.env("AWS_XRAY_DAEMON_ADDRESS", &daemon_address);
        }
        let mut child = command
            .env("AWS_LAMBDA_RUNTIME_API", api.address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", workload.function)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
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
            let cpu_before = cpu_ns(pid);
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
            let cpu = cpu_ns(pid) - cpu_before;
            measured.cpu_per_request = Duration::from_nanos(cpu / measured.warm.len() as u64);
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

/// `clients` tasks confirm `total` staged uploads, of one user or each of its own user.
async fn confirm_throughput(app: Arc<App>, clients: usize, total: usize, one_user: bool) -> f64 {
    let shared_user = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let mut events = Vec::new();
    for _ in 0..total {
        let user = if one_user { shared_user.clone() } else { format!("bench-{}", uuid::Uuid::now_v7().simple()) };
        let id = staged_document(&app, &user, false).await;
        events.push(http_event("confirm.json", &user, Some(id)));
    }
    let queue = Arc::new(tokio::sync::Mutex::new(events));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (app, queue) = (app.clone(), queue.clone());
            tokio::spawn(async move {
                loop {
                    let Some(event) = queue.lock().await.pop() else { return };
                    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
                    let response = shared::entry::http::confirm(&app, request).await.unwrap();
                    assert_eq!(response.status(), 200);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let binaries = PathBuf::from(std::env::var("BENCH_BINARIES").unwrap_or_else(|_| "target/lambda".into()));
    let packages = PathBuf::from(std::env::var("BENCH_PACKAGES").unwrap_or_else(|_| "target/lambda-arm64".into()));
    let dynamodb = env("AWS_ENDPOINT_URL_DYNAMODB").trim_start_matches("http://").to_owned();
    let s3 = env("AWS_ENDPOINT_URL_S3").trim_start_matches("http://").to_owned();
    let app = Arc::new(App::from_env().await.unwrap());

    eprintln!("bench: staging documents");
    let workloads = workloads(&app).await;
    let mut results = Vec::new();
    for workload in &workloads {
        eprintln!("bench: {}", workload.function);
        results.push(measure(workload, &binaries, &dynamodb, &s3).await);
    }
    let functions: Vec<&str> = results.iter().map(|r| r.function).collect();
    let sizes = package_sizes(
        &packages,
        &["upload-url", "confirm", "quota", "delete", "documents", "topics", "reclassify", "classify", "cleanup"],
    );
    eprintln!("bench: handler CPU");
    let user = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let mut confirms = Vec::new();
    for _ in 0..WARM_REQUESTS {
        confirms.push(http_event("confirm.json", &user, Some(staged_document(&app, &user, false).await)));
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

    let mut table = String::new();
    writeln!(table, "| function | cold start ms, median (min-max) of {COLD_RUNS} | RSS after 1st request MiB | package (arm64 zip) MiB | backend calls per request | DynamoDB read / write units per request | log bytes per request | CPU per request us | warm p50 ms | warm p99 ms |").unwrap();
    writeln!(table, "|---|---|---|---|---|---|---|---|---|---|").unwrap();
    for r in &results {
        let mut cold = r.cold_starts.clone();
        cold.sort();
        let mut warm = r.warm.clone();
        warm.sort();
        let rss = r.rss_kib.iter().max().copied().unwrap_or_default() as f64 / 1024.0;
        let per_request: Vec<String> =
            r.calls.iter().map(|(op, count)| format!("{op} x{}", *count as f64 / r.warm.len() as f64)).collect();
        writeln!(
            table,
            "| {} | {} ({}-{}) | {:.1} | {} | {} | {:.1} / {:.1} | {:.0} | {} | {} | {} |{}",
            r.label,
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
    let figures = |function: &'static str, memory_mb: f64| {
        let r = results.iter().find(|r| r.function == function && r.subsegments_per_request.is_none()).unwrap();
        let mut cold = r.cold_starts.clone();
        cold.sort();
        let mut warm = r.warm.clone();
        warm.sort();
        let per_request =
            |operation: &str| r.calls.get(operation).copied().unwrap_or_default() as f64 / r.warm.len() as f64;
        cost::FunctionFigures {
            function,
            memory_mb,
            warm_ms: percentile(&warm, 0.5).as_secs_f64() * 1000.0,
            cold_start_ms: percentile(&cold, 0.5).as_secs_f64() * 1000.0,
            read_units: r.capacity.read_units,
            write_units: r.capacity.write_units,
            s3_gets: per_request("S3.GET"),
            log_bytes: r.log_bytes_per_request,
        }
    };
    // MemorySize of each function in template.yaml.
    let per_upload = [figures("upload-url", 256.0), figures("confirm", 256.0), figures("classify", 512.0)];
    let cost_table = cost::table(&per_upload, &figures("cleanup", 256.0), 1_000_000.0);
    let handler_cpus: Vec<String> = handler_cpus.iter().map(|(f, d)| format!("{f} {} us", d.as_micros())).collect();
    writeln!(table, "\nHandler CPU per request, in-process (no runtime client): {}.", handler_cpus.join(", ")).unwrap();
    writeln!(
        table,
        "\nConfirm throughput, 32 concurrent clients, 640 confirms, handlers in-process against the local stack: \
         one user {one_user:.0}/s, one user each {many_users:.0}/s."
    )
    .unwrap();
    println!("{table}");
    let report = format!(
        "# Benchmarks\n\nLatest `make bench` on this project's machine ({}), {} UTC.\n\n\
         Reproduce: `make bench` (after `make test` installed the tools). It builds the functions with \
         `cargo lambda build --release` (x86-64, to run here) and `--arm64 --output-format zip` (package sizes), \
         starts the local stack, and runs each release binary against a minimal Lambda Runtime API \
         (`bench/src/runtime_api.rs`), with DynamoDB and S3 reached through counting proxies (`bench/src/proxy.rs`).\n\n\
         - cold start: process start to its first `GET /runtime/invocation/next`, clients built ({COLD_RUNS} starts); target <= 15 ms\n\
         - RSS: after the first request (largest of the starts); target <= 20 MiB\n\
         - package: zipped arm64 `bootstrap`; target <= 4 MiB\n\
         - backend calls: per warm request, counted at the proxies; targets confirm 2, upload-url 1, quota 1, delete <= 3\n\
         - CPU per request: all threads of the function process over {WARM_REQUESTS} warm requests, divided by the requests (includes the runtime client and the event's JSON); \
         the handler alone is measured in-process below the table; target <= 100 us for upload-url, confirm, quota\n\
         - DynamoDB units: read and write request units per warm request, as Dynoxide sizes the items and bills transactions (asked for by the counting proxy)\n\
         - log bytes: what the function wrote to stdout per warm request with JSON logs at INFO (its log lines and metric lines)\n\
         - warm latency: event handed out to answer received, through the local stack ({WARM_REQUESTS} requests)\n\n{}\n\
         ## Cost per one million uploads\n\n\
         upload-url, the browser's PUT, confirm and classify of a one-part upload, and the clean-up's share, from the figures above \
         (billed duration from the warm p50 measured here against the local stack: in AWS each backend call takes longer, so \
         duration is a lower bound) and list prices (`bench/src/cost.rs` says where each comes from).\n\n{}",
        machine(),
        shared::entry::http::codec::rfc3339(shared::auth::now_unix()),
        table,
        cost_table
    );
    std::fs::write(root().join("BENCHMARKS.md"), report).unwrap();
}

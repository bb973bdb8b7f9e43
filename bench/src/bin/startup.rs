//! `cargo run --release -p bench --bin startup -- BOOTSTRAP... [--runs N]`: the cold start of
//! function binaries alone, without the local stack: process start to the first
//! `GET /runtime/invocation/next`, median (min-max) of N starts (default 15) each, and the CPU
//! time the process used until then (all its threads; less sensitive than the wall clock to
//! other work on the machine).
//!
//! The functions contact no backend before their first poll (unless `WARM_CONNECTIONS` is set,
//! which this leaves unset), so the endpoints point at a closed local port and the credentials
//! are dummies, as with the local stack. Starts alternate between the binaries so that a burst
//! of load on the machine does not favour one of them.
//!
//! With `--requests N --event FILE`, each binary's last start then answers one event from FILE
//! (not measured) and N more, and the CPU its process used for those N is printed per request:
//! the bench's method, without the local stack when the event's backend calls go to
//! `STARTUP_DYNAMODB_URL` (for example a stub that answers `{}`, an empty GetItem).
//!
//! With `STARTUP_SAMPLED` set, every invocation is handed out as sampled by X-Ray; with
//! `AWS_XRAY_DAEMON_ADDRESS` in the environment too, the functions send their subsegments there
//! (tracing's cost per request).
//!
//! `STARTUP_TRACE_EPOCH_NS` is passed to each child (the wall clock at spawn, in ns since the
//! epoch), so a binary built with temporary timestamps can tell how far into its start each step
//! ends: it writes `STARTUP_MARK <label> <ns since spawn>` lines to stderr, and the harness prints
//! the median of each label (in the order they first appear) under the binary's figure.

#[path = "../runtime_api.rs"]
#[allow(dead_code)]
mod runtime_api;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut runs = 15;
    let mut requests = 0;
    let mut event = None;
    let mut binaries = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--runs" {
            runs = args.next().and_then(|n| n.parse().ok()).expect("--runs N");
        } else if arg == "--requests" {
            requests = args.next().and_then(|n| n.parse().ok()).expect("--requests N");
        } else if arg == "--event" {
            let path = args.next().expect("--event FILE");
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            event = Some(serde_json::from_str::<serde_json::Value>(&text).expect("a JSON event"));
        } else {
            binaries.push(PathBuf::from(arg));
        }
    }
    assert!(!binaries.is_empty(), "usage: startup BOOTSTRAP... [--runs N]");
    let mut starts = vec![Vec::new(); binaries.len()];
    let mut cpu = vec![Vec::new(); binaries.len()];
    let mut marks = vec![Marks::default(); binaries.len()];
    let mut per_request = vec![None; binaries.len()];
    for run in 0..runs {
        for (i, binary) in binaries.iter().enumerate() {
            let warm = (run + 1 == runs && requests > 0).then(|| (event.as_ref().expect("--event FILE"), requests));
            let (wall, cpu_used, request_cpu) = start_once(binary, &mut marks[i], warm).await;
            per_request[i] = per_request[i].or(request_cpu);
            starts[i].push(wall);
            cpu[i].push(cpu_used);
        }
    }
    for ((((binary, mut starts), mut cpu), marks), per_request) in
        binaries.iter().zip(starts).zip(cpu).zip(marks).zip(per_request)
    {
        starts.sort();
        cpu.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{}: {:.2} ms median ({:.2}-{:.2}) of {}, CPU {:.2} ms median ({:.2}-{:.2})",
            binary.display(),
            ms(starts[starts.len() / 2]),
            ms(starts[0]),
            ms(starts[starts.len() - 1]),
            starts.len(),
            ms(cpu[cpu.len() / 2]),
            ms(cpu[0]),
            ms(cpu[cpu.len() - 1]),
        );
        if let Some((cpu, errors)) = per_request {
            println!(
                "  CPU per request: {} us over {requests} requests ({errors} answered with an error)",
                cpu.as_micros()
            );
        }
        let mut labels: Vec<_> = marks.by_label.into_iter().collect();
        labels.sort_by_key(|(label, _)| marks.order.iter().position(|l| l == label));
        for (label, mut ns) in labels {
            ns.sort();
            println!("  {label}: {:.2} ms median", ns[ns.len() / 2] as f64 / 1e6);
        }
    }
}

/// The `STARTUP_MARK` lines of every start of one binary.
#[derive(Clone, Default)]
struct Marks {
    order: Vec<String>,
    by_label: BTreeMap<String, Vec<u64>>,
}

impl Marks {
    fn read(&mut self, stderr: &str) {
        for line in stderr.lines() {
            let mut fields = line.split_whitespace();
            if fields.next() != Some("STARTUP_MARK") {
                continue;
            }
            let (Some(label), Some(Ok(ns))) = (fields.next(), fields.next().map(str::parse)) else { continue };
            if !self.order.iter().any(|l| l == label) {
                self.order.push(label.to_owned());
            }
            self.by_label.entry(label.to_owned()).or_default().push(ns);
        }
    }
}

/// CPU time of all the process's threads so far.
fn cpu_time(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Duration::ZERO };
    let ns = tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ns)
}

async fn start_once(
    binary: &PathBuf,
    marks: &mut Marks,
    warm: Option<(&serde_json::Value, usize)>,
) -> (Duration, Duration, Option<(Duration, usize)>) {
    let api = runtime_api::RuntimeApi::start(std::env::var_os("STARTUP_SAMPLED").is_some()).await;
    let epoch_ns = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let started = Instant::now();
    let mut command = tokio::process::Command::new(binary);
    command.env_clear();
    // Passed through when set: the classifier's table and bank, and X-Ray's daemon (tracing's cost).
    for name in ["CLASSIFIER_MODEL_PATH", "CLASSIFIER_DOCUMENT_TYPES_PATH", "AWS_XRAY_DAEMON_ADDRESS"] {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    let mut child = command
        .env("PATH", "/usr/bin:/bin")
        // As in the bench (the child inherits HOME there), so that shared config and
        // credentials files would be looked up where they are.
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("STARTUP_TRACE_EPOCH_NS", epoch_ns.to_string())
        .env("AWS_LAMBDA_RUNTIME_API", api.address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "startup")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_SESSION_TOKEN", "test")
        .env(
            "AWS_ENDPOINT_URL_DYNAMODB",
            std::env::var("STARTUP_DYNAMODB_URL").unwrap_or_else(|_| "http://127.0.0.1:9".into()),
        )
        .env("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
        .env("TABLE_NAME", "documents")
        .env("BUCKET_NAME", "documents")
        .env("PENDING_UPLOAD_MAX_AGE_SECONDS", "3600")
        .env("CLEANUP_SCHEDULE", "rate(1 hour)")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let pid = child.id().expect("the child's pid");
    let first_poll = tokio::time::timeout(Duration::from_secs(10), api.first_poll())
        .await
        .unwrap_or_else(|_| panic!("{} did not poll within 10 s", binary.display()));
    // The function now waits for its event, using no CPU.
    let cpu = cpu_time(pid);
    let mut request_cpu = None;
    if let Some((event, n)) = warm {
        api.invoke(event).await;
        let before = cpu_time(pid);
        let mut errors = 0;
        for _ in 0..n {
            let answer = api.invoke(event).await;
            let status = answer.body.get("statusCode").and_then(serde_json::Value::as_u64);
            errors += usize::from(answer.error || status.is_some_and(|s| s >= 400));
        }
        request_cpu = Some(((cpu_time(pid) - before) / n as u32, errors));
    }
    child.kill().await.ok();
    let output = child.wait_with_output().await.expect("the child's stderr");
    marks.read(&String::from_utf8_lossy(&output.stderr));
    (first_poll - started, cpu, request_cpu)
}

//! Integration test with its own `main` (`harness = false`): this binary is also the sandbox
//! child, so `main` must call `run_child_if_requested` before anything else, exactly like a
//! Lambda function's `bootstrap`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sandbox::{run_child_if_requested, Limits, Sandbox, SandboxError, Task};

#[path = "sandbox/isolation.rs"]
mod isolation;

const MIB: usize = 1024 * 1024;

/// A secret the parent holds; no child may see it.
const SECRET_VARIABLE: &str = "AWS_SECRET_ACCESS_KEY";

const TASKS: &[(&str, Task)] = &[
    ("echo", echo),
    ("upper", upper),
    ("environment", environment),
    ("allocate_2_gb", allocate_2_gb),
    ("spin_forever", spin_forever),
    ("sleep_forever", sleep_forever),
    ("nap", nap),
    ("panic", panic),
    ("fail", fail),
    ("print_10_mb", print_10_mb),
    ("write_file", write_file),
    ("report_limits", report_limits),
];

fn echo(input: &[u8]) -> Result<Vec<u8>, String> {
    Ok(input.to_vec())
}

fn upper(input: &[u8]) -> Result<Vec<u8>, String> {
    Ok(input.to_ascii_uppercase())
}

/// The child's whole environment, one `NAME=value` a line.
fn environment(_: &[u8]) -> Result<Vec<u8>, String> {
    Ok(std::env::vars_os().map(|(name, value)| format!("{name:?}={value:?}\n")).collect::<String>().into_bytes())
}

/// Grows by 1 MiB chunks, each written (so resident, not just reserved), like an inflating
/// stream that never ends.
fn allocate_2_gb(_: &[u8]) -> Result<Vec<u8>, String> {
    let chunks: Vec<Vec<u8>> = (0..2048).map(|_| vec![1u8; MIB]).collect();
    Ok(vec![chunks.len() as u8])
}

fn spin_forever(_: &[u8]) -> Result<Vec<u8>, String> {
    let mut counter = 0u64;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

fn sleep_forever(_: &[u8]) -> Result<Vec<u8>, String> {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn nap(input: &[u8]) -> Result<Vec<u8>, String> {
    std::thread::sleep(Duration::from_millis(100));
    Ok(input.to_vec())
}

fn panic(_: &[u8]) -> Result<Vec<u8>, String> {
    panic!("the parser found a cycle");
}

fn fail(_: &[u8]) -> Result<Vec<u8>, String> {
    Err("not a PDF".to_owned())
}

fn print_10_mb(_: &[u8]) -> Result<Vec<u8>, String> {
    Ok(vec![b'x'; 10 * MIB])
}

fn write_file(_: &[u8]) -> Result<Vec<u8>, String> {
    std::fs::write(std::env::temp_dir().join("sandbox-test-write"), b"data").map_err(|e| e.to_string())?;
    Ok(Vec::new())
}

/// The child's own soft and hard limits, as "resource soft hard" lines.
fn report_limits(_: &[u8]) -> Result<Vec<u8>, String> {
    let resources = [
        ("as", libc::RLIMIT_AS),
        ("cpu", libc::RLIMIT_CPU),
        ("fsize", libc::RLIMIT_FSIZE),
        ("nofile", libc::RLIMIT_NOFILE),
        ("core", libc::RLIMIT_CORE),
    ];
    let mut report = String::new();
    for (name, resource) in resources {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit only writes into `limit`.
        if unsafe { libc::getrlimit(resource, &mut limit) } != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        report += &format!("{name} {} {}\n", limit.rlim_cur, limit.rlim_max);
    }
    Ok(report.into_bytes())
}

fn limits() -> Limits {
    Limits {
        memory_bytes: 256 * MIB as u64,
        cpu_seconds: 5,
        wall_time: Duration::from_secs(10),
        max_output_bytes: 16 * MIB,
    }
}

/// The one test this binary reports to a runner: cargo-nextest lists tests with
/// `--list --format terse` (and `--ignored`) and then runs each by name.
const TEST_NAME: &str = "sandbox_checks";

fn main() {
    run_child_if_requested(&[TASKS, isolation::TASKS].concat());
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("{TEST_NAME}: test");
        }
        return;
    }

    // Before any thread exists, so changing the environment is sound.
    std::env::set_var(SECRET_VARIABLE, "do-not-leak");
    // Orphans of a killed child become this process's children, so that `children` sees
    // anything a child left behind.
    // SAFETY: a plain prctl flag.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong) }, 0);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let sandbox = Sandbox::new(4);
        check("echo and uppercase", echo_and_uppercase(&sandbox)).await;
        check("5 MB input echoed intact", large_echo(&sandbox)).await;
        check("environment is empty", empty_environment(&sandbox)).await;
        check("limits in force in the child", limits_in_force(&sandbox)).await;
        check("task error", task_error(&sandbox)).await;
        check("task panic", task_panic(&sandbox)).await;
        check("unknown task", unknown_task(&sandbox)).await;
        check("file writes refused", file_write(&sandbox)).await;
        check("output limit", output_limit(&sandbox)).await;
        check("memory limit", memory_limit(&sandbox)).await;
        check("CPU limit", cpu_limit(&sandbox)).await;
        check("spinner stopped by the wall clock", spinner_timeout(&sandbox)).await;
        check("sleeper stopped by the wall clock", sleeper_timeout(&sandbox)).await;
        check("dropped run kills its child", cancelled_run(&sandbox)).await;
        check("at most 2 of 8 children at once", bounded_concurrency()).await;
        check("overhead of a trivial run", overhead(&sandbox)).await;
        check("parent not dumpable", isolation::parent_not_dumpable()).await;
        check("parent's environment unreadable", isolation::parent_environment_unreadable(&sandbox)).await;
        check("parent's memory unreadable", isolation::parent_memory_unreadable(&sandbox)).await;
        check("no sockets", isolation::no_sockets(&sandbox)).await;
        check("no programs or processes", isolation::no_programs_or_processes(&sandbox)).await;
        check("nothing outlives the deadline", isolation::nothing_outlives_the_deadline(&sandbox)).await;
        check("real PDF extraction under the filter", isolation::real_pdf_extraction(&sandbox)).await;
        check("no child process left", no_children_left()).await;
    });
    println!("all sandbox checks passed");
}

/// Runs `body` unless `SANDBOX_CHECK` is set to something its name does not contain.
async fn check(name: &str, body: impl std::future::Future<Output = ()>) {
    if std::env::var("SANDBOX_CHECK").is_ok_and(|only| !name.contains(&only)) {
        return;
    }
    let started = Instant::now();
    body.await;
    println!("ok   {name} ({} ms)", started.elapsed().as_millis());
}

async fn echo_and_uppercase(sandbox: &Sandbox) {
    assert_eq!(sandbox.run("echo", b"hello", &limits()).await, Ok(b"hello".to_vec()));
    assert_eq!(sandbox.run("upper", b"hello", &limits()).await, Ok(b"HELLO".to_vec()));
    assert_eq!(sandbox.run("echo", b"", &limits()).await, Ok(Vec::new()));
}

async fn large_echo(sandbox: &Sandbox) {
    let input: Vec<u8> = (0..5 * MIB).map(|i| (i * 31 % 251) as u8).collect();
    let output = sandbox.run("echo", &input, &limits()).await.expect("echo");
    assert!(output == input, "5 MB came back altered ({} bytes)", output.len());
}

async fn empty_environment(sandbox: &Sandbox) {
    assert!(std::env::var_os(SECRET_VARIABLE).is_some());
    let output = sandbox.run("environment", b"", &limits()).await.expect("environment");
    assert_eq!(String::from_utf8_lossy(&output), "", "the child inherited variables");
    assert!(std::env::var_os("SANDBOX_TASK").is_none(), "the parent's environment was changed");
}

async fn limits_in_force(sandbox: &Sandbox) {
    let limits = Limits { memory_bytes: 200 * MIB as u64, cpu_seconds: 7, ..limits() };
    let output = sandbox.run("report_limits", b"", &limits).await.expect("report_limits");
    let expected = format!("as {0} {0}\ncpu 7 8\nfsize 0 0\nnofile 16 16\ncore 0 0\n", 200 * MIB);
    assert_eq!(String::from_utf8_lossy(&output), expected);
}

async fn task_error(sandbox: &Sandbox) {
    assert_eq!(sandbox.run("fail", b"", &limits()).await, Err(SandboxError::Failed("not a PDF".to_owned())));
}

async fn task_panic(sandbox: &Sandbox) {
    let error = failure(sandbox.run("panic", b"", &limits()).await);
    assert!(error.contains("panicked") && error.contains("the parser found a cycle"), "{error}");
}

async fn unknown_task(sandbox: &Sandbox) {
    let error = failure(sandbox.run("no_such_task", b"", &limits()).await);
    assert!(error.contains("unknown sandbox task"), "{error}");
}

/// Refused twice over: the system-call filter refuses the `openat` (EPERM, the task's error);
/// were it let through, `RLIMIT_FSIZE` 0 (`limits_in_force`) would stop the write with SIGXFSZ.
async fn file_write(sandbox: &Sandbox) {
    let error = failure(sandbox.run("write_file", b"", &limits()).await);
    assert!(error.contains("Operation not permitted") || error.contains("file"), "{error}");
}

async fn output_limit(sandbox: &Sandbox) {
    let limits = Limits { max_output_bytes: MIB, ..limits() };
    assert_eq!(sandbox.run("print_10_mb", b"", &limits).await, Err(SandboxError::OutputTooLarge));
    let exact = Limits { max_output_bytes: 10 * MIB, ..limits };
    assert_eq!(sandbox.run("print_10_mb", b"", &exact).await.map(|output| output.len()), Ok(10 * MIB));
}

async fn memory_limit(sandbox: &Sandbox) {
    let limits = limits();
    assert_eq!(sandbox.run("allocate_2_gb", b"", &limits).await, Err(SandboxError::MemoryExceeded));
    // The largest resident set of any reaped child: the hog was stopped near its limit, not
    // after taking the machine's memory, and not early either.
    let peak = peak_child_resident_bytes();
    let limit = limits.memory_bytes;
    assert!(peak <= limit && peak >= limit / 10 * 7, "peak {} MiB for a {} MiB limit", peak >> 20, limit >> 20);
    println!("     memory hog peak resident {} MiB under a {} MiB address-space limit", peak >> 20, limit >> 20);
}

async fn cpu_limit(sandbox: &Sandbox) {
    let limits = Limits { cpu_seconds: 1, ..limits() };
    let started = Instant::now();
    assert_eq!(sandbox.run("spin_forever", b"", &limits).await, Err(SandboxError::CpuExceeded));
    let elapsed = started.elapsed();
    // Stopped by the CPU limit, not the wall clock (which a busy machine may stretch well past 1 s).
    assert!(elapsed >= Duration::from_secs(1) && elapsed < limits.wall_time, "{elapsed:?}");
}

async fn spinner_timeout(sandbox: &Sandbox) {
    let limits = Limits { wall_time: Duration::from_millis(300), ..limits() };
    assert_eq!(sandbox.run("spin_forever", b"", &limits).await, Err(SandboxError::TimedOut));
}

async fn sleeper_timeout(sandbox: &Sandbox) {
    let wall_time = Duration::from_millis(300);
    let started = Instant::now();
    let result = sandbox.run("sleep_forever", b"", &Limits { wall_time, ..limits() }).await;
    let elapsed = started.elapsed();
    assert_eq!(result, Err(SandboxError::TimedOut));
    assert!(elapsed >= wall_time && elapsed < wall_time + Duration::from_millis(100), "{elapsed:?}");
    println!("     sleeper answered after {} ms for a {} ms wall time", elapsed.as_millis(), wall_time.as_millis());
}

async fn cancelled_run(sandbox: &Sandbox) {
    let limits = limits();
    let run = sandbox.run("sleep_forever", b"", &limits);
    assert!(tokio::time::timeout(Duration::from_millis(200), run).await.is_err());
    // kill_on_drop sent SIGKILL; tokio reaps the orphan in the background.
    let deadline = Instant::now() + Duration::from_secs(2);
    while !children().is_empty() {
        assert!(Instant::now() < deadline, "children left: {:?}", children());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn bounded_concurrency() {
    let sandbox = Sandbox::new(2);
    let most_children = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let monitor = tokio::spawn({
        let (most_children, done) = (most_children.clone(), done.clone());
        async move {
            while !done.load(Ordering::Relaxed) {
                most_children.fetch_max(children().len(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    let mut runs = tokio::task::JoinSet::new();
    for i in 0..8u8 {
        let sandbox = sandbox.clone();
        runs.spawn(async move { sandbox.run("nap", &[i], &limits()).await });
    }
    let mut outputs: Vec<Vec<u8>> = runs.join_all().await.into_iter().map(|r| r.expect("nap")).collect();
    done.store(true, Ordering::Relaxed);
    monitor.await.expect("monitor");
    outputs.sort();
    assert_eq!(outputs, (0..8u8).map(|i| vec![i]).collect::<Vec<_>>());
    assert_eq!(most_children.load(Ordering::Relaxed), 2, "most children seen at once");
}

/// Spawn + exec + exit of a trivial task, with a small parent and with a parent holding 100 MB
/// (the spawn does not copy the parent's memory, as a `fork` would). Reported, not asserted:
/// timings depend on the machine's load, and targets belong to benchmarks.
async fn overhead(sandbox: &Sandbox) {
    let small_parent = median_trivial_run(sandbox).await;
    let ballast = std::hint::black_box(vec![1u8; 100 * MIB]);
    let big_parent = median_trivial_run(sandbox).await;
    drop(ballast);
    println!(
        "     one run of a trivial task, median of 50: {:.2} ms; with 100 MB more in the parent: {:.2} ms",
        small_parent.as_secs_f64() * 1e3,
        big_parent.as_secs_f64() * 1e3
    );
}

async fn median_trivial_run(sandbox: &Sandbox) -> Duration {
    let mut durations = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        sandbox.run("echo", b"x", &limits()).await.expect("echo");
        durations.push(started.elapsed());
    }
    durations.sort();
    durations[durations.len() / 2]
}

async fn no_children_left() {
    assert_eq!(children(), Vec::<String>::new());
}

fn failure(result: Result<Vec<u8>, SandboxError>) -> String {
    match result {
        Err(SandboxError::Failed(message)) => message,
        other => panic!("expected Failed, got {other:?}"),
    }
}

/// Processes (zombies included) whose parent is this process, as "pid state".
fn children() -> Vec<String> {
    let own_pid = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter_map(|stat| {
            // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
            let (pid, rest) = stat.split_once(" (")?;
            let mut fields = rest.rsplit_once(") ")?.1.split(' ');
            let state = fields.next()?;
            (fields.next()? == own_pid).then(|| format!("{pid} {state}"))
        })
        .collect()
}

fn peak_child_resident_bytes() -> u64 {
    // SAFETY: getrusage only writes into the zeroed struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage
    };
    usage.ru_maxrss as u64 * 1024
}

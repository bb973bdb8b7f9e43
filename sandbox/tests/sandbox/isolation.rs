//! Isolation: whatever its task tries, a child cannot read the parent's environment or memory,
//! open a socket, start a program or a process, or leave a process behind at the deadline; and a
//! real parser (PDF, `pdf_text`) still works under the system-call filter.
//!
//! The tests run as root, for whom `/proc` permissions and non-dumpable processes stop nothing
//! (`CAP_SYS_PTRACE`): what they prove is the child's own filter.

use std::time::{Duration, Instant};

use sandbox::{Limits, Sandbox, SandboxError, Task};

use super::{children, limits, SECRET_VARIABLE};

pub const TASKS: &[(&str, Task)] = &[
    ("read_parent_environment", read_parent_environment),
    ("read_parent_memory", read_parent_memory),
    ("connect", connect),
    ("run_program", run_program),
    ("fork", fork),
    ("fork_sleeper_and_hang", fork_sleeper_and_hang),
    ("extract_pdf", extract_pdf),
];

/// A secret in the parent's memory, at an address the parent tells the child.
static SECRET_IN_MEMORY: [u8; 20] = *b"parent-memory-secret";

fn text(input: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(input).map_err(|e| e.to_string())
}

fn last_os_error() -> String {
    std::io::Error::last_os_error().to_string()
}

/// Input: the parent's pid.
fn read_parent_environment(input: &[u8]) -> Result<Vec<u8>, String> {
    std::fs::read(format!("/proc/{}/environ", text(input)?)).map_err(|e| e.to_string())
}

/// Input: "pid address length".
fn read_parent_memory(input: &[u8]) -> Result<Vec<u8>, String> {
    let fields: Vec<usize> =
        text(input)?.split(' ').map(|f| f.parse().map_err(|_| "bad input")).collect::<Result<_, _>>()?;
    let [pid, address, length] = fields[..] else { return Err("bad input".into()) };
    let mut buffer = vec![0u8; length];
    let local = libc::iovec { iov_base: buffer.as_mut_ptr().cast(), iov_len: length };
    let remote = libc::iovec { iov_base: address as *mut libc::c_void, iov_len: length };
    // SAFETY: the kernel writes at most `length` bytes into `buffer` and checks the remote range.
    let read = unsafe { libc::process_vm_readv(pid as libc::pid_t, &local, 1, &remote, 1, 0) };
    if read < 0 {
        return Err(last_os_error());
    }
    buffer.truncate(read as usize);
    Ok(buffer)
}

/// Input: a socket address.
fn connect(input: &[u8]) -> Result<Vec<u8>, String> {
    std::net::TcpStream::connect(text(input)?).map(|_| b"connected".to_vec()).map_err(|e| e.to_string())
}

fn run_program(_: &[u8]) -> Result<Vec<u8>, String> {
    let status = std::process::Command::new("/bin/true").status().map_err(|e| e.to_string())?;
    Ok(format!("ran /bin/true: {status}").into_bytes())
}

fn fork(_: &[u8]) -> Result<Vec<u8>, String> {
    // SAFETY: the child is single-threaded; the forked process only calls `_exit`.
    match unsafe { libc::fork() } {
        -1 => Err(last_os_error()),
        0 => unsafe { libc::_exit(0) },
        pid => {
            // SAFETY: waits for the process just forked; the status is not wanted.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            Ok(b"forked".to_vec())
        }
    }
}

/// Forks a sleeper (if it can) and sleeps too: only the deadline ends it.
fn fork_sleeper_and_hang(_: &[u8]) -> Result<Vec<u8>, String> {
    // SAFETY: the child is single-threaded; both processes only sleep.
    let _ = unsafe { libc::fork() };
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn extract_pdf(input: &[u8]) -> Result<Vec<u8>, String> {
    pdf_text::extract_text(input, &pdf_text::Limits::default()).map(String::into_bytes).map_err(|e| e.to_string())
}

/// The task's attempt was refused with EPERM (the filter), not merely failed.
fn assert_refused(what: &str, result: Result<Vec<u8>, SandboxError>) {
    match result {
        Err(SandboxError::Failed(message)) if message.contains("Operation not permitted") => {}
        Ok(output) => panic!("{what}: allowed, output {:?}", String::from_utf8_lossy(&output)),
        Err(other) => panic!("{what}: expected EPERM, got {other:?}"),
    }
}

pub async fn parent_not_dumpable() {
    // SAFETY: reads a flag.
    assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE) }, 0, "Sandbox::new makes the parent non-dumpable");
}

/// `/proc/<pid>/environ` is the environment the process started with: in Lambda, where the
/// runtime puts the function's AWS credentials. Readable before the filter (as root, and by the
/// same user when the parent is dumpable).
pub async fn parent_environment_unreadable(sandbox: &Sandbox) {
    assert!(std::env::var_os(SECRET_VARIABLE).is_some());
    let pid = std::process::id().to_string();
    assert_refused("/proc/<parent>/environ", sandbox.run("read_parent_environment", pid.as_bytes(), &limits()).await);
}

pub async fn parent_memory_unreadable(sandbox: &Sandbox) {
    let input = format!("{} {} {}", std::process::id(), SECRET_IN_MEMORY.as_ptr() as usize, SECRET_IN_MEMORY.len());
    assert_refused("process_vm_readv", sandbox.run("read_parent_memory", input.as_bytes(), &limits()).await);
}

pub async fn no_sockets(sandbox: &Sandbox) {
    // Listening, so that a connection would succeed were sockets allowed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    assert_refused("TCP to 127.0.0.1", sandbox.run("connect", address.as_bytes(), &limits()).await);
}

pub async fn no_programs_or_processes(sandbox: &Sandbox) {
    assert_refused("running /bin/true", sandbox.run("run_program", b"", &limits()).await);
    assert_refused("fork", sandbox.run("fork", b"", &limits()).await);
}

/// This process is a child subreaper (see `main`): a process the child started and that outlived
/// it becomes a child of this one, where `children` sees it.
pub async fn nothing_outlives_the_deadline(sandbox: &Sandbox) {
    let limits = Limits { wall_time: Duration::from_millis(300), ..limits() };
    assert_eq!(sandbox.run("fork_sleeper_and_hang", b"", &limits).await, Err(SandboxError::TimedOut));
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let mut alive = Vec::new();
        for child in children() {
            let (pid, state) = child.split_once(' ').expect("pid state");
            let pid: libc::pid_t = pid.parse().expect("pid");
            // SAFETY: reaps (or kills) a process that is not tokio's: no sandbox run is in flight.
            unsafe {
                if state == "Z" {
                    libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
                } else if Instant::now() >= deadline {
                    libc::kill(pid, libc::SIGKILL); // no leftover, even when this check fails
                }
            }
            if state != "Z" {
                alive.push(child);
            }
        }
        if alive.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "still running a second after the deadline: {alive:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn real_pdf_extraction(sandbox: &Sandbox) {
    let fixture = |name: &str| {
        let path = format!("{}/../pdf_text/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let text = sandbox.run("extract_pdf", &fixture("hw_objstm.pdf"), &limits()).await.expect("extract_pdf");
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("Müller & Söhne GmbH"), "{text}");
    // 1 GiB of Flate: pdf_text's own limit stops it (growing buffers with mremap on the way).
    match sandbox.run("extract_pdf", &fixture("flate_bomb_1gib.pdf"), &limits()).await {
        Err(SandboxError::Failed(message)) => assert!(message.contains("limits"), "{message}"),
        other => panic!("flate bomb: {other:?}"),
    }
}

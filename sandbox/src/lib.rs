//! Runs an untrusted-input task (a document parser) in a child process under resource limits.
//!
//! A thread cannot be stopped from outside and shares the process's memory: a parser that
//! inflates a 3 KB PDF to 1.5 GB, or loops forever, takes the whole Lambda function down with it.
//! A child process can be bounded by the kernel (`setrlimit`) and killed at a deadline, and its
//! death costs one document, not the invocation.
//!
//! The child is the same binary re-executed (`/proc/self/exe`): a Lambda package has a single
//! executable. `main` must therefore call [`run_child_if_requested`] first thing, with the table
//! of tasks a child may run; in the parent it returns at once.
//!
//! ```no_run
//! fn upper(input: &[u8]) -> Result<Vec<u8>, String> {
//!     Ok(input.to_ascii_uppercase())
//! }
//!
//! fn main() {
//!     sandbox::run_child_if_requested(&[("upper", upper)]);
//!     // ... build the tokio runtime (with IO enabled) and call `Sandbox::run("upper", ..)`.
//! }
//! ```
//!
//! Protocol: the input goes to the child's stdin, the output comes from its stdout; a task's
//! `Err` message (or a panic or crash report) comes from its stderr, bounded; the exit status
//! says which. Linux only (`/proc`, `prctl`, seccomp, `RLIMIT_*` semantics), x86-64 and aarch64.
//!
//! Isolation, for the day a parser is wrong (they are pure Rust, so this is defence in depth):
//! - the child starts with an empty environment and installs a system-call filter on itself
//!   before it reads its input (`syscall_filter`): it cannot open files (`/proc/<parent>/environ`
//!   or `/mem` included), make sockets, execute programs, create processes or threads, or read
//!   or signal another process;
//! - the parent makes itself non-dumpable ([`Sandbox::new`]), so that even without the filter a
//!   process of the same (non-root) user cannot read its `/proc/<pid>/environ` or memory;
//! - the child leads its own process group, which is killed at the deadline, on oversized
//!   output and on cancellation; it dies with its parent (`PR_SET_PDEATHSIG`).

mod child;
mod command;
mod outcome;
mod syscall_filter;

use std::io;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

pub use child::run_child_if_requested;

/// A task a child can run: input bytes in, output bytes or an error message out.
pub type Task = fn(&[u8]) -> Result<Vec<u8>, String>;

/// Bytes of the child's stderr kept for the error message; the rest is read and discarded so a
/// chatty child never blocks on a full pipe.
const STDERR_KEPT_BYTES: u64 = 4096;

/// Resource limits for one child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Address space (`RLIMIT_AS`): virtual memory, including the binary and its libraries, so
    /// leave ~20 MB above what the task itself needs.
    pub memory_bytes: u64,
    /// CPU time (`RLIMIT_CPU`), whole seconds (the kernel's granularity); at least 1.
    pub cpu_seconds: u64,
    /// Wall-clock time from spawn until the child is killed.
    pub wall_time: Duration,
    /// Largest output accepted; beyond it the child is killed.
    pub max_output_bytes: usize,
}

/// Why a sandboxed run produced no output.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SandboxError {
    #[error("the task exceeded its wall-clock time and was killed")]
    TimedOut,
    #[error("the task exceeded its memory limit")]
    MemoryExceeded,
    #[error("the task exceeded its CPU time limit")]
    CpuExceeded,
    #[error("the task's output exceeded the limit; it was killed")]
    OutputTooLarge,
    /// The task's `Err` message, or a description of a panic or crash.
    #[error("the task failed: {0}")]
    Failed(String),
    #[error("could not start the sandbox child: {0}")]
    Spawn(String),
}

/// Starts children and bounds how many run at once. Cheap to clone: clones share the bound.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// One permit per child that may exist at a time in this process.
    permits: Arc<Semaphore>,
    executable: Arc<PathBuf>,
}

impl Sandbox {
    /// A sandbox allowing at most `max_concurrent_children` (at least 1) children at once.
    ///
    /// Makes this whole process non-dumpable (`PR_SET_DUMPABLE` 0): its `/proc/<pid>/environ`,
    /// `mem` and `maps` then need `CAP_SYS_PTRACE` to read, and no process of the same user can
    /// attach to it. The cost is nothing a Lambda function uses: no core dumps, no debugger
    /// attaching, no `/proc/<pid>/io` or `fd` for another non-root process (an extension); the
    /// process itself still reads its own `/proc/self`.
    pub fn new(max_concurrent_children: usize) -> Self {
        // SAFETY: a plain prctl flag. It cannot fail for these arguments; were it to, the child's
        // filter still keeps it out of /proc.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong, 0, 0, 0) };
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent_children.max(1))),
            executable: Arc::new(command::own_executable()),
        }
    }

    /// The same sandbox, starting `executable` instead of this binary: for a host whose own
    /// `main` cannot serve tasks (a test harness), a small binary that only calls
    /// [`run_child_if_requested`].
    pub fn with_executable(mut self, executable: impl Into<PathBuf>) -> Self {
        self.executable = Arc::new(executable.into());
        self
    }

    /// Runs `task` (a name given to [`run_child_if_requested`]) on `input` in a fresh child under
    /// `limits`. Waits for a free slot first; the wall clock starts when the child is spawned.
    ///
    /// Needs a tokio runtime with IO enabled (`enable_all`). Cancellation-safe: dropping the
    /// future kills the child (`kill_on_drop`) and tokio reaps it in the background.
    pub async fn run(&self, task: &str, input: &[u8], limits: &Limits) -> Result<Vec<u8>, SandboxError> {
        // Held until the child has been reaped, so "at most n children" counts zombies too.
        let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
        let mut guarded = GroupKilledOnDrop(
            command::build(&self.executable, task)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| SandboxError::Spawn(e.to_string()))?,
        );
        let child = &mut guarded.0;
        // Before any input is written: the child cannot start its task until stdin reaches EOF.
        let limited = child.id().ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH));
        if let Err(e) = limited.and_then(|pid| command::limit_child(pid, limits)) {
            let _ = child.kill().await; // kills and reaps
            return Err(SandboxError::Spawn(format!("limiting the child: {e}")));
        }
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            unreachable!("all three streams were requested as pipes");
        };

        // Feed stdin while reading stdout and stderr: with sequential I/O a large input and a
        // large output would each fill a 64 KB pipe buffer and both processes would wait forever.
        let feed_input = async {
            // A write error means the child stopped reading (it exited or crashed): its exit
            // status tells why, so the error itself carries no information.
            let _ = stdin.write_all(input).await;
            drop(stdin); // EOF for the child
            Ok(())
        };
        let exchange = async {
            let (_, output, error_text) =
                tokio::try_join!(feed_input, read_output(stdout, limits.max_output_bytes), read_error_text(stderr))?;
            let status = child.wait().await.map_err(|e| SandboxError::Spawn(format!("waiting for the child: {e}")))?;
            outcome::interpret(status, output, &error_text)
        };
        let result = match tokio::time::timeout(limits.wall_time, exchange).await {
            Ok(result) => result,
            Err(_elapsed) => Err(SandboxError::TimedOut),
        };
        if result.is_err() {
            // Timed out or output too large: the child may still be running. Kill its group and
            // reap it now (no zombie, and the permit frees a slot only once the process is gone).
            // All harmless when the child has already exited and been reaped.
            kill_group(child);
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        result
    }
}

/// A child whose process group is killed when it is dropped unreaped: `run` cancelled
/// (`kill_on_drop` then kills the child itself and tokio reaps it in the background).
struct GroupKilledOnDrop(tokio::process::Child);

impl Drop for GroupKilledOnDrop {
    fn drop(&mut self) {
        kill_group(&self.0);
    }
}

/// SIGKILL to the group the child leads, while the child is unreaped: its pid, and so its group
/// id, cannot have been reused then (`id()` is `None` once tokio has reaped it).
fn kill_group(child: &tokio::process::Child) {
    if let Some(group) = child.id().and_then(|pid| libc::pid_t::try_from(pid).ok()) {
        // SAFETY: kill takes plain integers; a negative pid names the process group.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
}

/// Reads stdout up to `limit` bytes; one byte more means the output is too large.
async fn read_output(stdout: impl AsyncRead + Unpin, limit: usize) -> Result<Vec<u8>, SandboxError> {
    let mut output = Vec::new();
    stdout.take(limit as u64 + 1).read_to_end(&mut output).await.map_err(|e| SandboxError::Failed(e.to_string()))?;
    if output.len() > limit {
        return Err(SandboxError::OutputTooLarge);
    }
    Ok(output)
}

/// Reads the first `STDERR_KEPT_BYTES` of stderr and discards the rest until EOF.
async fn read_error_text(stderr: impl AsyncRead + Unpin) -> Result<String, SandboxError> {
    let mut kept = Vec::new();
    let mut stderr = stderr.take(STDERR_KEPT_BYTES);
    // Read errors only lose diagnostics; the exit status still decides the outcome.
    let _ = stderr.read_to_end(&mut kept).await;
    let _ = tokio::io::copy(&mut stderr.into_inner(), &mut tokio::io::sink()).await;
    Ok(String::from_utf8_lossy(&kept).trim().to_owned())
}

//! The child side: runs one task on stdin and exits.

use std::io::{Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::process;

use crate::{syscall_filter, Task};

/// Environment variable naming the task; set only in the child's (otherwise empty) environment.
pub(crate) const TASK_ENV: &str = "SANDBOX_TASK";
/// Environment variable with the parent's pid, to detect a parent that died before the child
/// armed its parent-death signal.
pub(crate) const PARENT_PID_ENV: &str = "SANDBOX_PARENT_PID";

/// Exit codes from the child to the parent. 0 is success; 1 (generic failure) and 101 (Rust's
/// uncaught panic) are left alone so they cannot be confused with the sandbox's own codes.
pub(crate) const EXIT_TASK_FAILED: i32 = 3;
pub(crate) const EXIT_TASK_PANICKED: i32 = 4;
pub(crate) const EXIT_PROTOCOL_ERROR: i32 = 5;

/// Call first thing in `main`, before any runtime or thread is started: when this process was
/// started as a sandbox child, runs the named task on stdin and exits; otherwise returns.
///
/// Synchronous and runtime-free, so the child starts fast: it arms its parent-death signal,
/// installs its system-call filter (after which it can open no file or socket, start no program,
/// process or thread, and signal or read no other process), reads all of stdin, runs the task,
/// writes the output to stdout and exits 0; an `Err` goes to stderr with exit code 3, a panic
/// with exit code 4 (the default panic hook has already written the message to stderr).
pub fn run_child_if_requested(tasks: &[(&str, Task)]) {
    let Some(name) = std::env::var_os(TASK_ENV) else {
        return;
    };
    let parent_pid = std::env::var(PARENT_PID_ENV).ok().and_then(|pid| pid.parse::<libc::pid_t>().ok());
    // Not visible to the task (or anything it might start). Single-threaded here, so safe.
    std::env::remove_var(TASK_ENV);
    std::env::remove_var(PARENT_PID_ENV);
    die_with_parent(parent_pid);
    // Before a byte of input is read: from here on the child can compute, read stdin, write
    // stdout and stderr, and exit; nothing else (see `syscall_filter`).
    if let Err(e) = syscall_filter::install() {
        fail(EXIT_PROTOCOL_ERROR, &format!("installing the system-call filter: {e}"));
    }

    // All of stdin first, and only then the task lookup: EOF arrives after the parent has set
    // this process's limits (see `command`), and an early exit would race with that.
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut input) {
        fail(EXIT_PROTOCOL_ERROR, &format!("reading the input: {e}"));
    }
    let Some(&(_, task)) = tasks.iter().find(|(known, _)| name == *known) else {
        fail(EXIT_PROTOCOL_ERROR, &format!("unknown sandbox task {name:?}"));
    };
    // With `panic = "abort"` this never returns Err: the process aborts after the panic hook has
    // written its message, and the parent recognises "panicked" in stderr.
    match panic::catch_unwind(AssertUnwindSafe(|| task(&input))) {
        Ok(Ok(output)) => {
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout.write_all(&output).and_then(|()| stdout.flush()) {
                fail(EXIT_PROTOCOL_ERROR, &format!("writing the output: {e}"));
            }
            process::exit(0);
        }
        Ok(Err(message)) => fail(EXIT_TASK_FAILED, &message),
        Err(_payload) => process::exit(EXIT_TASK_PANICKED),
    }
}

/// The child must never outlive the parent: if the Lambda process dies, a runaway parser would
/// otherwise keep burning CPU until its limit. Caveat: the kernel sends the signal when the
/// parent *thread* that spawned the child exits; tokio's worker threads live as long as the
/// runtime, so in practice that is runtime shutdown (avoid `block_in_place` around `run`).
fn die_with_parent(parent_pid: Option<libc::pid_t>) {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a plain signal number; getppid cannot fail.
    let armed = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) } == 0;
    // The parent may have died before the prctl, in which case no signal will ever come.
    if !armed || parent_pid != Some(unsafe { libc::getppid() }) {
        fail(EXIT_PROTOCOL_ERROR, "the parent is gone or unknown");
    }
}

fn fail(code: i32, message: &str) -> ! {
    // Nothing sensible is left to do if stderr is gone; the exit code still tells the parent.
    let _ = std::io::stderr().write_all(message.as_bytes());
    process::exit(code);
}

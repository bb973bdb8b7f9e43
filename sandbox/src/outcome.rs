//! Turns the child's exit status and stderr into the caller's result.
//!
//! Observed on Linux (see the integration test):
//! - memory: an allocation beyond `RLIMIT_AS` makes `mmap` fail; Rust's default alloc error
//!   handler writes "memory allocation of N bytes failed" and aborts (SIGABRT);
//! - CPU: SIGXCPU at the soft `RLIMIT_CPU` (SIGKILL at the hard limit if it were ignored);
//! - a SIGKILL the parent did not send: the kernel's OOM killer (the function's cgroup ran out of
//!   memory and the child was the biggest process), so also a memory problem.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use crate::child::{EXIT_PROTOCOL_ERROR, EXIT_TASK_FAILED, EXIT_TASK_PANICKED};
use crate::SandboxError;

/// What std's alloc error handler writes before aborting.
const ALLOCATION_FAILED: &str = "memory allocation of";

/// The result of a child that exited by itself (timeouts and oversized output are decided by
/// the parent before this).
pub(crate) fn interpret(status: ExitStatus, output: Vec<u8>, error_text: &str) -> Result<Vec<u8>, SandboxError> {
    if let Some(code) = status.code() {
        return match code {
            0 => Ok(output),
            EXIT_TASK_FAILED => Err(SandboxError::Failed(error_text.to_owned())),
            EXIT_TASK_PANICKED => Err(SandboxError::Failed(format!("task panicked: {error_text}"))),
            EXIT_PROTOCOL_ERROR => Err(SandboxError::Failed(format!("sandbox child error: {error_text}"))),
            other => Err(SandboxError::Failed(describe(&format!("exited with code {other}"), error_text))),
        };
    }
    let signal = status.signal().unwrap_or_default();
    Err(match signal {
        libc::SIGABRT if error_text.contains(ALLOCATION_FAILED) => SandboxError::MemoryExceeded,
        libc::SIGXCPU => SandboxError::CpuExceeded,
        libc::SIGKILL => SandboxError::MemoryExceeded,
        // A binary built with `panic = "abort"`: the panic hook wrote the message, then abort.
        libc::SIGABRT if error_text.contains("panicked") => {
            SandboxError::Failed(format!("task panicked: {error_text}"))
        }
        libc::SIGXFSZ => SandboxError::Failed("the task tried to write a file".to_owned()),
        other => SandboxError::Failed(describe(&format!("killed by signal {}", signal_name(other)), error_text)),
    })
}

fn describe(what: &str, error_text: &str) -> String {
    if error_text.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {error_text}")
    }
}

fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGABRT => "SIGABRT".to_owned(),
        libc::SIGSEGV => "SIGSEGV".to_owned(),
        libc::SIGBUS => "SIGBUS".to_owned(),
        libc::SIGILL => "SIGILL".to_owned(),
        libc::SIGFPE => "SIGFPE".to_owned(),
        libc::SIGTERM => "SIGTERM".to_owned(),
        // The system-call filter's answer to a call through a foreign ABI.
        libc::SIGSYS => "SIGSYS".to_owned(),
        other => other.to_string(),
    }
}

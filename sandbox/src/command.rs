//! The child's command line, environment and kernel limits.
//!
//! Where the limits are applied, and why not in `pre_exec`: limits set in a `pre_exec` closure
//! hold from the child's first instruction, but any `pre_exec` closure makes std `fork` the parent
//! instead of using `posix_spawn` (a `vfork`-style clone that copies nothing). A fork copies the
//! parent's page tables and marks its memory copy-on-write, so its cost grows with the parent's
//! resident memory: measured here, a trivial run took 1.4 ms with a small parent, 5 ms with 30 MB
//! of touched heap, 25 ms with 100 MB and 32 ms with 300 MB; with `posix_spawn` it stays at 1.0-1.1
//! ms. A Lambda parent holding a downloaded document pays the difference on every call.
//!
//! So the parent sets the limits with `prlimit` right after the spawn, before it writes a single
//! byte of input. The child reads its whole stdin before looking at its task, and that read only
//! ends at EOF, which the parent sends after the limits are in place: no task code and no input
//! processing ever runs unlimited. What does run unlimited is the dynamic loader and std's startup
//! in our own binary, which see no untrusted data.

use std::io;
use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::child::{PARENT_PID_ENV, TASK_ENV};
use crate::Limits;

/// File descriptors the child may have open. `RLIMIT_NOFILE` caps the highest fd number + 1, not
/// a count: stdio takes 0-2 and std's panic and crash reporting may need a few more. A parser
/// needs no other file.
const MAX_OPEN_FILES: u64 = 16;

/// The type `prlimit` takes for a resource: glibc uses an enum, musl a plain int.
#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

/// The running binary. `/proc/self/exe` keeps working even if the file on disk was replaced
/// (a redeploy, `cargo` rebuilding a test); `current_exe` is the fallback without procfs.
pub(crate) fn own_executable() -> PathBuf {
    let proc_self = Path::new("/proc/self/exe");
    if proc_self.exists() {
        return proc_self.to_owned();
    }
    std::env::current_exe().unwrap_or_else(|_| proc_self.to_owned())
}

/// A command re-executing `executable` as a child running `task`.
pub(crate) fn build(executable: &Path, task: &str) -> Command {
    let mut command = Command::new(executable);
    // Nothing inherited: the parent's environment holds AWS credentials, which a parser fed
    // hostile input has no business seeing. The task name (and the parent's pid, for the
    // parent-death check) go to the child only; the parent's own environment is never modified.
    command.env_clear().env(TASK_ENV, task).env(PARENT_PID_ENV, std::process::id().to_string());
    // Its own process group (posix_spawn sets it, so no fork of the parent): killing the group
    // at the deadline kills anything the child started, were its filter ever to let it.
    command.process_group(0);
    command
}

/// Lowers the limits of the running child `pid`. Soft and hard limits are lowered together, so
/// the child cannot raise them back.
pub(crate) fn limit_child(pid: u32, limits: &Limits) -> io::Result<()> {
    let cpu_seconds = limits.cpu_seconds.max(1);
    let rlimits: [(Resource, u64, u64); 5] = [
        (libc::RLIMIT_AS, limits.memory_bytes, limits.memory_bytes),
        // At the soft limit the kernel sends SIGXCPU (which kills: the child installs no handler),
        // reported as `CpuExceeded`; the hard limit one second later is SIGKILL, a backstop.
        (libc::RLIMIT_CPU, cpu_seconds, cpu_seconds + 1),
        // No file writes at all (pipes are not files: stdout and stderr still work). A write
        // raises SIGXFSZ.
        (libc::RLIMIT_FSIZE, 0, 0),
        (libc::RLIMIT_NOFILE, MAX_OPEN_FILES, MAX_OPEN_FILES),
        // A crash must not dump hundreds of MB of core into /tmp.
        (libc::RLIMIT_CORE, 0, 0),
    ];
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    for (resource, soft, hard) in rlimits {
        let limit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
        // SAFETY: `limit` is a valid rlimit and the old value is not requested (null).
        if unsafe { libc::prlimit(pid, resource, &limit, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

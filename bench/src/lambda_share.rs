//! Lambda's resource model on this machine: the CPU share and the memory a function gets from its
//! configured `MemorySize`, enforced with a cgroup (v1) per measured process.
//!
//! AWS: "Lambda allocates CPU power in proportion to the amount of memory configured. [...] At
//! 1,769 MB, a function has the equivalent of one vCPU (one vCPU-second of credits per second)",
//! and the memory is "the amount of memory available to your Lambda function at runtime" (AWS
//! Lambda Developer Guide, "Configure Lambda function memory",
//! <https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html>). So `MemorySize` M
//! becomes, for the process and every child it starts (the extraction children included):
//! - `cpu.cfs_quota_us` = `cpu.cfs_period_us` x M / 1769: M/1769 of one CPU, over any of the
//!   machine's cores (Lambda exposes two or more vCPUs at every size; the share is the limit);
//! - `memory.limit_in_bytes` = M MiB (Lambda's sizes are MiB: 10,240 MB is its 10 GiB maximum);
//!   beyond it the kernel's OOM killer stops a process of the group, as Lambda stops the
//!   environment. This machine has no swap, so no `memsw` limit is needed.
//!
//! What is not Lambda's: AWS does not publish the scheduler period. The kernel's default 100 ms
//! period is used (`BENCH_CFS_PERIOD_US` changes it): a process may run unthrottled for
//! M/1769 x 100 ms, then waits for the next period. Averages (CPU per request, mean duration) do
//! not depend on the period; tails (p99) do. The host's cores are faster or slower than
//! Graviton's, and other work on the machine can take CPU the quota allows: CPU time per request
//! (read from `cpuacct.usage`, all the group's processes) is the load-independent figure.
//!
//! Groups are made under the cgroup this process is in for each controller (nested, so limits
//! above still apply), named `lambda-share-<pid>-<label>`, and removed on drop. Where the
//! hierarchy is not there or not writable (cgroup v2 only, no root, a read-only /sys),
//! [`Share::create`] says which and why; the bench then reports that it measured without the
//! share instead of pretending.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `MemorySize` at which a function gets one vCPU (AWS, see the module's doc).
pub const MB_PER_VCPU: f64 = 1769.0;
const DEFAULT_PERIOD_US: u64 = 100_000;
const ROOT: &str = "/sys/fs/cgroup";

/// The fraction of one CPU a function of `memory_mb` gets.
pub fn vcpus(memory_mb: u32) -> f64 {
    f64::from(memory_mb) / MB_PER_VCPU
}

/// One cgroup per controller (cpu, cpuacct, memory) holding one measured process and its
/// children.
pub struct Share {
    cpu: PathBuf,
    cpuacct: PathBuf,
    memory: PathBuf,
    /// `cgroup.procs` of each group, for the child to join between fork and exec.
    procs: Vec<CString>,
}

impl Share {
    /// Groups limited to what `MemorySize` `memory_mb` gets; `label` names them.
    pub fn create(label: &str, memory_mb: u32) -> Result<Self, String> {
        let period =
            std::env::var("BENCH_CFS_PERIOD_US").ok().and_then(|p| p.parse().ok()).unwrap_or(DEFAULT_PERIOD_US);
        let name = format!("lambda-share-{}-{label}", std::process::id());
        let cpu = group("cpu", &name)?;
        let cpuacct = group("cpuacct", &name)?;
        let memory = group("memory", &name)?;
        let quota = (period as f64 * vcpus(memory_mb)).round() as u64;
        write(&cpu.join("cpu.cfs_period_us"), &period.to_string())?;
        write(&cpu.join("cpu.cfs_quota_us"), &quota.max(1000).to_string())?;
        write(&memory.join("memory.limit_in_bytes"), &(u64::from(memory_mb) << 20).to_string())?;
        let procs = [&cpu, &cpuacct, &memory]
            .iter()
            .map(|g| CString::new(g.join("cgroup.procs").into_os_string().into_encoded_bytes()).unwrap())
            .collect();
        Ok(Self { cpu, cpuacct, memory, procs })
    }

    /// Makes the process `command` starts join the groups before it executes its program, so its
    /// start-up is measured under the share too.
    pub fn enter(&self, command: &mut tokio::process::Command) {
        let procs = self.procs.clone();
        // SAFETY: between fork and exec only async-signal-safe calls (open, write, close) on
        // memory allocated before the fork.
        unsafe {
            command.pre_exec(move || {
                for path in &procs {
                    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    // "0" moves the writing process (cgroup v1 and v2 alike).
                    if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::close(fd);
                }
                Ok(())
            });
        }
    }

    /// CPU time used by every process that was in the group (`cpuacct.usage`).
    pub fn cpu_used(&self) -> Duration {
        Duration::from_nanos(read_number(&self.cpuacct.join("cpuacct.usage")))
    }

    /// Scheduler periods in which the group ran out of quota, of all periods it ran in.
    pub fn throttled_periods(&self) -> (u64, u64) {
        let stat = std::fs::read_to_string(self.cpu.join("cpu.stat")).unwrap_or_default();
        let field =
            |name: &str| stat.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or_default();
        (field("nr_throttled "), field("nr_periods "))
    }

    /// The group's peak memory (`memory.max_usage_in_bytes`: resident pages and page cache).
    pub fn peak_memory_bytes(&self) -> u64 {
        read_number(&self.memory.join("memory.max_usage_in_bytes"))
    }

    /// Processes of the group the OOM killer stopped (`oom_kill` of `memory.oom_control`).
    pub fn oom_kills(&self) -> u64 {
        std::fs::read_to_string(self.memory.join("memory.oom_control"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
            .unwrap_or_default()
    }
}

impl Drop for Share {
    /// The measured processes have been killed by then; a group still holding a process (an
    /// exiting one) is retried briefly, then left (and named by the error).
    fn drop(&mut self) {
        for dir in [&self.cpu, &self.cpuacct, &self.memory] {
            for attempt in 0.. {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if attempt == 50 => {
                        eprintln!("bench: could not remove {}: {e}", dir.display());
                        break;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }
}

/// Makes `name` under this process's own group of `controller` (v1 hierarchy).
fn group(controller: &str, name: &str) -> Result<PathBuf, String> {
    let mount = Path::new(ROOT).join(controller);
    if !mount.join("cgroup.procs").exists() {
        return Err(format!(
            "no cgroup v1 `{controller}` hierarchy at {} (cgroup v2 only, or not mounted)",
            mount.display()
        ));
    }
    // Lines of /proc/self/cgroup: "<id>:<controllers>:<path>"; controllers may be joined ("cpu,cpuacct").
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let mut fields = l.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            controllers.split(',').any(|c| c == controller).then(|| path.trim_start_matches('/').to_owned())
        })
        .unwrap_or_default();
    let dir = mount.join(own).join(name);
    match std::fs::create_dir(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(dir),
        Err(e) => Err(format!(
            "cannot create the cgroup {} ({e}): run as root with a writable cgroup v1 hierarchy",
            dir.display()
        )),
    }
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("cannot write {value} to {} ({e})", path.display()))
}

fn read_number(path: &Path) -> u64 {
    std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_vcpu_at_1769_mb() {
        assert!((vcpus(1769) - 1.0).abs() < 1e-9);
        assert!((vcpus(128) - 0.0724).abs() < 1e-3);
    }
}

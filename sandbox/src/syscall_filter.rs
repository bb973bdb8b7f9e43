//! The child's system-call filter: a seccomp-BPF allow-list the child installs on itself, after
//! arming its parent-death signal and before it reads a byte of input.
//!
//! Why: the limits bound how much a parser can use, not what it can do. A parser that is wrong
//! (the day a bug gives input control of it) could otherwise open `/proc/<parent>/environ` or
//! `/proc/<parent>/mem` (the function's AWS credentials), read the parent's memory with
//! `process_vm_readv`, open sockets, or start programs and processes that outlive it. Lambda
//! allows no new namespaces, but it allows seccomp after `PR_SET_NO_NEW_PRIVS`, and both hold
//! as root too (the tests run as root, for whom `/proc` permissions stop nothing).
//!
//! Invariants:
//! - Everything not listed in [`allowed`] fails with `EPERM`: no file is opened (`open`,
//!   `openat`, `openat2`), no socket made, no program executed, no process or thread created
//!   (`clone`, `clone3`, `fork`, `vfork`), no other process signalled, traced or read.
//! - `read` only from fd 0 and `write`/`writev` only to fds 1 and 2; signals only to the child
//!   itself (its `abort` at the memory limit is a self-sent SIGABRT); resource limits only read.
//! - A call through another ABI than the binary's own (x32 on x86-64 has the same architecture
//!   token but its numbers have bit 30 set, so no rule matches it; a 32-bit ABI has another
//!   token) is refused or kills the process: numbers are only compared for the native ABI.
//! - Installed in a single-threaded process (before any thread exists), so it covers the whole
//!   child; it is inherited by nothing (the child can create nothing) and cannot be removed.
//!
//! What the real tasks use after they start reading (PDF and DOCX over the fixtures, traced
//! with `strace -f`, the 1 GiB Flate bomb and the DOCX bomb included): `read`, `write`, `brk`,
//! `mmap`, `mremap`, `munmap`, `getrandom`, `sigaltstack`, `exit_group`. The rest of the list
//! is what std and glibc need on their other paths: a panic message, `abort`, sleeping, locks.

use std::io;

/// `AUDIT_ARCH_*` of the binary's own ABI (`<linux/audit.h>`: the ELF machine, 64-bit,
/// little-endian). Lambda runs x86-64 and arm64.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 62 | 0x8000_0000 | 0x4000_0000;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 183 | 0x8000_0000 | 0x4000_0000;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("the sandbox's system-call filter knows x86-64 and aarch64 only");

/// Offsets in `struct seccomp_data`: `int nr; u32 arch; u64 instruction_pointer; u64 args[6]`.
const NR_AT: u32 = 0;
const ARCH_AT: u32 = 4;
const ARGS_AT: u32 = 16;

/// The 32-bit word of a call that a condition compares.
#[derive(Debug, Clone, Copy)]
enum Word {
    /// The low half of argument `n`: all of an `int` (an fd, a pid), which is all the kernel
    /// reads of one.
    Low(u32),
    /// The high half of argument `n`, for pointers.
    High(u32),
}

impl Word {
    /// Its offset in `seccomp_data` (both architectures are little-endian).
    fn offset(self) -> u32 {
        match self {
            Self::Low(n) => ARGS_AT + 8 * n,
            Self::High(n) => ARGS_AT + 8 * n + 4,
        }
    }
}

/// A system call the child may make: when every condition holds (`word` is one of `values`).
#[derive(Debug)]
struct Rule {
    number: libc::c_long,
    conditions: Vec<(Word, Vec<u32>)>,
}

fn always(number: libc::c_long) -> Rule {
    Rule { number, conditions: Vec::new() }
}

/// The allow-list, for a child whose pid is `own_pid`.
fn allowed(own_pid: u32) -> Vec<Rule> {
    let only = |number, conditions: &[(Word, &[u32])]| Rule {
        number,
        conditions: conditions.iter().map(|(word, values)| (*word, values.to_vec())).collect(),
    };
    let own: &[u32] = &[own_pid];
    vec![
        // The protocol: input on stdin, output on stdout, errors, panic and allocation-failure
        // messages on stderr.
        only(libc::SYS_read, &[(Word::Low(0), &[0])]),
        only(libc::SYS_write, &[(Word::Low(0), &[1, 2])]),
        only(libc::SYS_writev, &[(Word::Low(0), &[1, 2])]),
        always(libc::SYS_exit_group),
        always(libc::SYS_exit),
        // Memory: glibc's malloc (`brk`, `mmap`; large buffers grow with `mremap`, and are given
        // back with `munmap` and `madvise`), std's stack guard (`mprotect`).
        always(libc::SYS_brk),
        always(libc::SYS_mmap),
        always(libc::SYS_munmap),
        always(libc::SYS_mremap),
        always(libc::SYS_madvise),
        always(libc::SYS_mprotect),
        // std: locks (`futex`), HashMap keys (`getrandom`), the stack-overflow handler and its
        // teardown at exit (`sigaltstack`), signal masks and handlers around `abort` and
        // `rt_sigreturn` after a handler.
        always(libc::SYS_futex),
        always(libc::SYS_getrandom),
        always(libc::SYS_sigaltstack),
        always(libc::SYS_rt_sigaction),
        always(libc::SYS_rt_sigprocmask),
        always(libc::SYS_rt_sigreturn),
        always(libc::SYS_sched_yield),
        // `abort` (an allocation beyond RLIMIT_AS, a panic with `panic = "abort"`): glibc's
        // `raise` is `tgkill(getpid(), gettid(), SIGABRT)`. Only to itself: the child is its
        // only thread, so its tid is its pid.
        always(libc::SYS_getpid),
        always(libc::SYS_gettid),
        only(libc::SYS_tgkill, &[(Word::Low(0), own)]),
        only(libc::SYS_tkill, &[(Word::Low(0), own)]),
        only(libc::SYS_kill, &[(Word::Low(0), own)]),
        // Time (usually the vDSO, which makes no call) and sleeping.
        always(libc::SYS_clock_gettime),
        always(libc::SYS_clock_getres),
        always(libc::SYS_gettimeofday),
        always(libc::SYS_clock_nanosleep),
        always(libc::SYS_nanosleep),
        always(libc::SYS_restart_syscall),
        // Reading its own limits (`getrlimit` is `prlimit64(0, resource, NULL, old)`): pid 0 and
        // no new limit, so not even lowering them, and no other process's.
        only(libc::SYS_prlimit64, &[(Word::Low(0), &[0]), (Word::Low(2), &[0]), (Word::High(2), &[0])]),
    ]
}

fn statement(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter { code: code as u16, jt: 0, jf: 0, k }
}

fn jump_if_equal(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16, jt, jf, k }
}

fn load_word(offset: u32) -> libc::sock_filter {
    statement(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset)
}

fn jump_offset(distance: usize) -> u8 {
    u8::try_from(distance).expect("a rule's conditions fit in a BPF jump")
}

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const DENY: u32 = libc::SECCOMP_RET_ERRNO | (libc::EPERM as u32 & libc::SECCOMP_RET_DATA);

/// The BPF program for `rules`: check the architecture, then each rule in turn on the call's
/// number; a rule's conditions load argument words and end in allow or deny, so a rule that
/// does not match leaves the number in the accumulator for the next. No match: deny.
fn program(rules: &[Rule]) -> Vec<libc::sock_filter> {
    let mut program = vec![
        load_word(ARCH_AT),
        jump_if_equal(AUDIT_ARCH, 1, 0),
        statement(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_KILL_PROCESS),
        load_word(NR_AT),
    ];
    for rule in rules {
        let (mut body, mut jumps_to_deny) = (Vec::new(), Vec::new());
        for (word, values) in &rule.conditions {
            body.push(load_word(word.offset()));
            for (i, value) in values.iter().enumerate() {
                // Equal: skip the other values and the jump to deny, to the next condition.
                body.push(jump_if_equal(*value, jump_offset(values.len() - i), 0));
            }
            // None equal: to this rule's deny, at the end of its body (offset set below).
            jumps_to_deny.push(body.len());
            body.push(statement(libc::BPF_JMP | libc::BPF_JA, 0));
        }
        body.push(statement(libc::BPF_RET | libc::BPF_K, ALLOW));
        if !rule.conditions.is_empty() {
            body.push(statement(libc::BPF_RET | libc::BPF_K, DENY));
        }
        let deny_at = body.len() - 1;
        for at in jumps_to_deny {
            body[at].k = (deny_at - at - 1) as u32;
        }
        let number = u32::try_from(rule.number).expect("system call numbers are small");
        program.push(jump_if_equal(number, 0, jump_offset(body.len())));
        program.extend(body);
    }
    program.push(statement(libc::BPF_RET | libc::BPF_K, DENY));
    program
}

/// Installs the filter on the calling process, which must be single-threaded (the filter
/// covers the calling thread only). Irreversible.
pub(crate) fn install() -> io::Result<()> {
    let mut program = program(&allowed(std::process::id()));
    let length = u16::try_from(program.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let filter = libc::sock_fprog { len: length, filter: program.as_mut_ptr() };
    // SAFETY: plain prctl flags; `filter` points at `program`, which outlives the call (the kernel
    // copies the program).
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER as libc::c_ulong, &filter) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_jump_lands_inside_the_program_and_it_ends_denying() {
        let program = program(&allowed(1234));
        assert!(program.len() < 200, "{} instructions", program.len());
        for (at, instruction) in program.iter().enumerate() {
            let target = |offset: usize| at + 1 + offset;
            if instruction.code == (libc::BPF_JMP | libc::BPF_JA) as u16 {
                assert!(target(instruction.k as usize) < program.len(), "{at}");
                let landing = &program[target(instruction.k as usize)];
                assert_eq!((landing.code, landing.k), ((libc::BPF_RET | libc::BPF_K) as u16, DENY), "{at}");
            } else if instruction.code == (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16 {
                assert!(target(usize::from(instruction.jt.max(instruction.jf))) < program.len(), "{at}");
            }
        }
        let last = program.last().unwrap();
        assert_eq!((last.code, last.k), ((libc::BPF_RET | libc::BPF_K) as u16, DENY));
    }
}

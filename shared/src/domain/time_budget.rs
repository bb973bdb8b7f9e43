//! How much of an invocation's time one step of a request may take, and what running out means.
//!
//! Every step (a read, a text extraction, a model call, a transaction) has a limit of its own
//! (configured, such as `CLASSIFY_TIMEOUT_SECONDS`, or the step's), and runs in what is left of
//! the invocation less what the steps after it need (`kept_back`, which includes the margin for
//! answering). Invariants:
//!
//! * a step never gets more than what is left less `kept_back`, so the steps after it, and the
//!   answer, still fit before the deadline;
//! * a step that would get less than its `minimum` is not started: the request is out of time;
//! * a step stopped at a limit that was *clipped* by the deadline ran out of the request's time,
//!   which says nothing about its input (a document is not marked failed for it; the request is
//!   answered or retried as out of time); stopped at its own limit, it is its input's fault.
//!
//! Pure: the caller passes the time left (see `invocation::Invocation::step_time`).

use std::time::Duration;

/// The time one step may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepTime {
    pub allowed: Duration,
    /// Whether the deadline, not the step's own limit, set `allowed`.
    pub clipped: bool,
}

/// Why a step that overran its time stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overrun {
    /// At its own limit: the input takes too long (e.g. a document too slow to read).
    OwnLimit,
    /// At the request's deadline: the request is out of time; its input is not at fault.
    Deadline,
}

/// The time of a step whose own limit is `own_limit`, with `left` until the deadline and
/// `kept_back` needed after it; `None` when less than `minimum` would be left for it.
pub fn step_time(own_limit: Duration, left: Duration, kept_back: Duration, minimum: Duration) -> Option<StepTime> {
    let available = left.saturating_sub(kept_back);
    if available < minimum || available.is_zero() {
        return None;
    }
    Some(match available < own_limit {
        true => StepTime { allowed: available, clipped: true },
        false => StepTime { allowed: own_limit, clipped: false },
    })
}

impl StepTime {
    /// Why the step stopped when it used up `allowed`.
    pub fn overrun(self) -> Overrun {
        match self.clipped {
            true => Overrun::Deadline,
            false => Overrun::OwnLimit,
        }
    }

    /// `allowed` in whole seconds, rounded up, at least one: for limits the kernel counts in
    /// seconds (a child's CPU time), never below the wall time.
    pub fn whole_seconds(self) -> u64 {
        let seconds = self.allowed.as_secs() + u64::from(self.allowed.subsec_nanos() > 0);
        seconds.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;
    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn a_step_gets_its_own_limit_while_the_deadline_is_far() {
        let time = step_time(S(20), S(29), S(2), MS(100)).unwrap();
        assert_eq!(time, StepTime { allowed: S(20), clipped: false });
        assert_eq!(time.overrun(), Overrun::OwnLimit);
    }

    #[test]
    fn near_the_deadline_a_step_gets_what_is_left_less_what_comes_after() {
        // Reclassify's 29 s after 12 s of reading: extraction gets 15 s, not its 20 s.
        let time = step_time(S(20), S(17), S(2), MS(100)).unwrap();
        assert_eq!(time, StepTime { allowed: S(15), clipped: true });
        assert_eq!(time.overrun(), Overrun::Deadline, "running out then is not the document's fault");
    }

    #[test]
    fn a_step_that_would_get_less_than_its_minimum_is_not_started() {
        assert_eq!(step_time(S(20), MS(2050), S(2), MS(100)), None);
        assert_eq!(step_time(S(20), S(1), S(2), MS(100)), None, "the deadline is behind what comes after");
        assert_eq!(step_time(S(20), S(0), S(0), S(0)), None, "no time is no time, whatever the minimum");
        assert!(step_time(S(20), MS(2100), S(2), MS(100)).is_some());
    }

    #[test]
    fn kernel_seconds_round_up_and_are_never_zero() {
        let time = |allowed| StepTime { allowed, clipped: true };
        assert_eq!(time(MS(300)).whole_seconds(), 1);
        assert_eq!(time(MS(2300)).whole_seconds(), 3);
        assert_eq!(time(S(20)).whole_seconds(), 20);
    }
}

//! The retry policies, each bounded by a number of attempts and by the invocation's deadline:
//!
//! * [`RetryPolicy::TRANSACTIONS`]: a DynamoDB write sent again after a transient failure (a
//!   `TransactionConflict`, throttling, a lost connection), with full-jitter exponential
//!   backoff, until shortly before the deadline;
//! * [`RetryPolicy::RACES`]: a write decided again after losing a race to a concurrent writer
//!   (a concurrent charge moved the usage, the document changed since it was read, the chosen
//!   topic went): the loser already holds the new state, so the pauses are short (a few
//!   milliseconds, jittered, so that many racers for one item spread out instead of colliding
//!   again), until shortly before the deadline (callers that must not loop cap the count);
//! * [`RetryPolicy::OBJECT_IO`]: an object's body read again when it broke off mid-read.
//!
//! Every loop that tries again takes its attempts from one of these (`attempts`), so no retry
//! outlives the invocation and each budget is stated once.

use std::time::Duration;

use crate::invocation::Invocation;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    /// The ceiling of the first pause; each later one doubles it, up to `max_pause`.
    first_pause: Duration,
    max_pause: Duration,
}

impl RetryPolicy {
    pub const TRANSACTIONS: Self =
        Self { max_attempts: u32::MAX, first_pause: Duration::from_millis(50), max_pause: Duration::from_secs(1) };
    pub const RACES: Self =
        Self { max_attempts: u32::MAX, first_pause: Duration::from_millis(5), max_pause: Duration::from_millis(40) };
    pub const OBJECT_IO: Self = Self { max_attempts: 3, first_pause: Duration::ZERO, max_pause: Duration::ZERO };

    /// The same policy with at most `attempts` attempts.
    pub const fn at_most(self, attempts: u32) -> Self {
        Self { max_attempts: attempts, ..self }
    }

    /// The attempts this policy allows within `invocation`'s deadline.
    pub fn attempts(self, invocation: &Invocation) -> Attempts<'_> {
        Attempts { policy: self, invocation, made: 0 }
    }

    /// Full jitter: a random pause up to `first_pause` x 2^(retry - 1), at most `max_pause`.
    fn pause_before(&self, retry: u32) -> Duration {
        let ceiling = self.first_pause.saturating_mul(1 << (retry - 1).min(16)).min(self.max_pause);
        let ceiling_ms = ceiling.as_millis() as u64;
        if ceiling_ms == 0 {
            return Duration::ZERO;
        }
        let random = uuid::Uuid::now_v7().as_u128() as u64; // v7's low bits are random
        Duration::from_millis(random % (ceiling_ms + 1))
    }
}

/// The attempts of one retry loop: `while attempts.next().await { ... }`.
#[derive(Debug)]
pub struct Attempts<'a> {
    policy: RetryPolicy,
    invocation: &'a Invocation,
    made: u32,
}

impl Attempts<'_> {
    /// Whether another attempt may be made, after waiting the pause before it. The first
    /// attempt is always made; a later one only while the policy allows it and the pause
    /// still leaves time to try and answer before the deadline.
    pub async fn next(&mut self) -> bool {
        if self.made > 0 {
            if self.made >= self.policy.max_attempts {
                return false;
            }
            let pause = self.policy.pause_before(self.made);
            if !self.invocation.has_time_for(pause) {
                return false;
            }
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
        self.made += 1;
        true
    }

    /// Attempts made so far.
    pub fn made(&self) -> u32 {
        self.made
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn attempts_stop_at_the_policy_s_count() {
        let invocation = Invocation::standalone(Duration::from_secs(10));
        let mut attempts = RetryPolicy::OBJECT_IO.attempts(&invocation);
        let mut made = 0;
        while attempts.next().await {
            made += 1;
        }
        assert_eq!((made, attempts.made()), (3, 3));
    }

    #[tokio::test]
    async fn attempts_stop_before_the_deadline() {
        let invocation = Invocation::standalone(Duration::from_millis(100));
        let mut attempts = RetryPolicy::TRANSACTIONS.attempts(&invocation);
        assert!(attempts.next().await, "the first attempt is always made");
        let mut made = 1;
        while attempts.next().await {
            made += 1;
        }
        assert!(made < 20, "{made} attempts in 100 ms with backoff");
    }

    #[test]
    fn pauses_grow_but_stay_bounded() {
        for retry in 1..40 {
            assert!(RetryPolicy::TRANSACTIONS.pause_before(retry) <= Duration::from_secs(1));
        }
        assert_eq!(RetryPolicy::OBJECT_IO.pause_before(2), Duration::ZERO);
        assert_eq!(RetryPolicy::TRANSACTIONS.at_most(3).max_attempts, 3);
    }
}

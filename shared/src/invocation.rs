//! One invocation of a function: its identity, from which every transaction derives its
//! idempotency token, and its deadline, before which retries stop and within which every step
//! runs: [`Invocation::step_time`] (how long a step may take, `domain::step_time`) and
//! [`Invocation::bounded`] (a step stopped when its time is up) always keep [`ANSWER_MARGIN`]
//! back, so the function answers before Lambda's timeout.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::domain::{step_time, StepTime};

/// Time kept back from the deadline for answering (and logging) after the last step or retry.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(500);

/// A step did not finish before the time it had (see [`Invocation::bounded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the invocation ran out of time")]
pub struct OutOfTime;
/// The budget when the runtime gives no usable deadline (`cargo lambda watch` passes the
/// timeout itself rather than a point in time; tests and tools have none).
const DEFAULT_BUDGET: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct Invocation {
    id: String,
    deadline: Instant,
}

impl Invocation {
    /// From the Lambda context: its request id (the same for every retry of an asynchronous
    /// event) and deadline (Unix milliseconds).
    pub fn from_context(context: &lambda_http::Context) -> Self {
        Self::from_context_or(context, DEFAULT_BUDGET)
    }

    /// As [`Self::from_context`], with `budget` when the context has no usable deadline. This is
    /// the one place that turns Lambda's deadline into time left.
    pub fn from_context_or(context: &lambda_http::Context, budget: Duration) -> Self {
        let id = if context.request_id.is_empty() { random_id() } else { context.request_id.clone() };
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default();
        let budget = match context.deadline.checked_sub(now_ms) {
            Some(left) if left > 0 && left < 16 * 60 * 1000 => Duration::from_millis(left),
            _ => {
                tracing::debug!(deadline_ms = context.deadline, "no usable deadline; allowing {budget:?}");
                budget
            }
        };
        Self { id, deadline: Instant::now() + budget }
    }

    /// An invocation of its own (tests, tools), with `budget` to finish.
    pub fn standalone(budget: Duration) -> Self {
        Self { id: random_id(), deadline: Instant::now() + budget }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The time left until the deadline.
    pub fn time_left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// How long a step whose own limit is `own_limit` may take now, keeping back `after` (what
    /// the steps after it need) and the answer margin; `None` when less than `minimum` is left.
    pub fn step_time(&self, own_limit: Duration, after: Duration, minimum: Duration) -> Option<StepTime> {
        step_time(own_limit, self.time_left(), after + ANSWER_MARGIN, minimum)
    }

    /// The point by which a step that clips itself (the classifier) must be done, keeping back
    /// `after` and the answer margin.
    pub fn deadline_before(&self, after: Duration) -> Instant {
        self.deadline.checked_sub(after + ANSWER_MARGIN).unwrap_or_else(Instant::now)
    }

    /// `work`, stopped (dropped) if it has not finished while `after` and the answer margin are
    /// still left. Only for steps that write nothing, or whose write is one atomic request.
    pub async fn bounded<T>(&self, after: Duration, work: impl Future<Output = T>) -> Result<T, OutOfTime> {
        tokio::time::timeout_at(self.deadline_before(after).into(), work).await.map_err(|_| OutOfTime)
    }

    /// Whether waiting `pause` still leaves time to try once more and answer.
    pub fn has_time_for(&self, pause: Duration) -> bool {
        Instant::now() + pause + ANSWER_MARGIN < self.deadline
    }

    /// The `ClientRequestToken` of the transaction this invocation makes for `purpose`: the same
    /// on every resend of it, different for anything else (at most 36 characters).
    pub fn idempotency_token(&self, purpose: &str) -> String {
        let digest = Sha256::new().chain_update(self.id.as_bytes()).chain_update([0]).chain_update(purpose).finalize();
        digest.iter().take(18).map(|b| format!("{b:02x}")).collect()
    }
}

fn random_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_per_purpose_and_distinct_otherwise() {
        let invocation = Invocation::standalone(Duration::from_secs(5));
        let token = invocation.idempotency_token("confirm a b 10");
        assert_eq!(token.len(), 36);
        assert_eq!(token, invocation.idempotency_token("confirm a b 10"));
        assert_ne!(token, invocation.idempotency_token("confirm a b 11"));
        assert_ne!(token, Invocation::standalone(Duration::from_secs(5)).idempotency_token("confirm a b 10"));
    }

    #[test]
    fn deadlines_come_from_the_context_or_a_default() {
        let mut context = lambda_http::Context::default();
        context.request_id = "req-1".into();
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        context.deadline = now_ms + 3_000;
        let invocation = Invocation::from_context(&context);
        assert!(invocation.deadline() <= Instant::now() + Duration::from_secs(3));
        assert!(invocation.has_time_for(Duration::from_millis(100)));
        assert!(!invocation.has_time_for(Duration::from_secs(3)));
        // `cargo lambda watch` passes the timeout (a small number), not a point in time.
        context.deadline = 30_000;
        assert!(Invocation::from_context(&context).deadline() > Instant::now() + Duration::from_secs(9));
        // A retried asynchronous event keeps its request id, and so its tokens.
        assert_eq!(
            Invocation::from_context(&context).idempotency_token("x"),
            Invocation::from_context(&context).idempotency_token("x")
        );
    }

    #[tokio::test]
    async fn steps_keep_the_answer_margin_and_what_comes_after() {
        let invocation = Invocation::standalone(Duration::from_secs(3));
        let time = invocation.step_time(Duration::from_secs(20), Duration::from_secs(1), Duration::ZERO).unwrap();
        assert!(time.clipped && time.allowed <= Duration::from_millis(1500), "{time:?}");
        assert_eq!(invocation.step_time(Duration::from_secs(20), Duration::from_secs(3), Duration::ZERO), None);
        assert!(invocation.deadline_before(Duration::from_secs(1)) <= Instant::now() + Duration::from_millis(1500));

        let short = Invocation::standalone(Duration::from_millis(700));
        let started = Instant::now();
        let slow = short.bounded(Duration::ZERO, tokio::time::sleep(Duration::from_secs(5))).await;
        assert_eq!(slow, Err(OutOfTime));
        assert!(
            started.elapsed() < Duration::from_millis(400),
            "stopped with the margin left: {:?}",
            started.elapsed()
        );
        assert_eq!(short.bounded(Duration::ZERO, async { 7 }).await, Ok(7));
    }
}

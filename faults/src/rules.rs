//! Which fault a request gets: the rules a test sets, and the seeded random draws that decide them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::header::HeaderValue;
use hyper::StatusCode;

/// One fault, applied to the requests it matches with some probability, at most some number of times.
#[derive(Clone, Debug)]
pub struct Rule {
    pub operation: Match,
    pub fault: Fault,
    /// Chance, between 0 and 1, that a matching request gets the fault.
    pub probability: f64,
    /// Stop injecting after this many faults; `None` for no limit.
    pub max_times: Option<u64>,
}

impl Rule {
    /// A rule that fires on every matching request, without limit.
    pub fn new(operation: Match, fault: Fault) -> Rule {
        Rule { operation, fault, probability: 1.0, max_times: None }
    }

    pub fn with_probability(self, probability: f64) -> Rule {
        Rule { probability, ..self }
    }

    pub fn at_most(self, times: u64) -> Rule {
        Rule { max_times: Some(times), ..self }
    }
}

/// Which requests a rule is about, by operation name (see the crate documentation for the names).
#[derive(Clone, Debug)]
pub enum Match {
    Any,
    /// The exact operation name, e.g. `DynamoDB.TransactWriteItems` or `S3.PUT`.
    Operation(String),
    /// The start of the operation name, e.g. `DynamoDB.` or `S3.`.
    Prefix(String),
}

impl Match {
    fn matches(&self, operation: &str) -> bool {
        match self {
            Match::Any => true,
            Match::Operation(name) => operation == name,
            Match::Prefix(prefix) => operation.starts_with(prefix.as_str()),
        }
    }
}

/// What the proxy does instead of, or on top of, forwarding a request. The crate documentation
/// describes what each fault looks like on the wire.
#[derive(Clone, Debug)]
pub enum Fault {
    TransactionConflict,
    /// A single-item write (`PutItem`, `UpdateItem`, `DeleteItem`) refused because a transaction
    /// is writing the same item.
    WriteConflict,
    TransactionThrottled,
    Throttling,
    ProvisionedThroughputExceeded,
    /// 500 or 503.
    ServerError(u16),
    ConnectionReset,
    Latency(Duration),
    CommitThenDropReply,
    MissingKeyForbidden,
    /// Reads that are not strongly consistent miss items written less than this long ago.
    StaleReads(Duration),
    /// Answers this instead of forwarding.
    Respond {
        status: u16,
        content_type: String,
        body: String,
    },
}

impl Fault {
    /// The name faults are counted under in [`crate::FaultProxy::injected`].
    pub fn name(&self) -> &'static str {
        match self {
            Fault::TransactionConflict => "TransactionConflict",
            Fault::WriteConflict => "WriteConflict",
            Fault::TransactionThrottled => "TransactionThrottled",
            Fault::Throttling => "Throttling",
            Fault::ProvisionedThroughputExceeded => "ProvisionedThroughputExceeded",
            Fault::ServerError(_) => "ServerError",
            Fault::ConnectionReset => "ConnectionReset",
            Fault::Latency(_) => "Latency",
            Fault::CommitThenDropReply => "CommitThenDropReply",
            Fault::MissingKeyForbidden => "MissingKeyForbidden",
            Fault::StaleReads(_) => "StaleReads",
            Fault::Respond { .. } => "Respond",
        }
    }

    /// Whether the fault can do anything to this request. A rule whose fault cannot is skipped
    /// without a draw, so that e.g. a `DynamoDB.` rule with stale reads leaves writes alone.
    fn applies_to(&self, request: &RequestFacts) -> bool {
        match self {
            Fault::TransactionConflict | Fault::TransactionThrottled => {
                request.operation == "DynamoDB.TransactWriteItems" && request.transact_items > 0
            }
            Fault::WriteConflict => {
                matches!(request.operation, "DynamoDB.PutItem" | "DynamoDB.UpdateItem" | "DynamoDB.DeleteItem")
            }
            Fault::MissingKeyForbidden => matches!(request.operation, "S3.GET" | "S3.HEAD"),
            Fault::StaleReads(_) => {
                matches!(request.operation, "DynamoDB.GetItem" | "DynamoDB.Query" | "DynamoDB.Scan")
                    && !request.consistent_read
            }
            _ => true,
        }
    }

    /// Faults that only count once the upstream answer shows they changed something.
    pub(crate) fn depends_on_answer(&self) -> bool {
        matches!(self, Fault::MissingKeyForbidden | Fault::StaleReads(_))
    }

    fn validate(&self) {
        match self {
            Fault::ServerError(status) => {
                assert!(matches!(status, 500 | 503), "Fault::ServerError takes 500 or 503, not {status}")
            }
            Fault::Respond { status, content_type, .. } => {
                assert!(StatusCode::from_u16(*status).is_ok(), "Fault::Respond has an invalid status {status}");
                assert!(HeaderValue::from_str(content_type).is_ok(), "Fault::Respond has an invalid content type");
            }
            _ => {}
        }
    }
}

/// What the rules need to know about a request.
pub(crate) struct RequestFacts<'a> {
    pub operation: &'a str,
    /// Entries of `TransactItems` in a `TransactWriteItems` body, else 0.
    pub transact_items: usize,
    /// `"ConsistentRead": true` in a DynamoDB body.
    pub consistent_read: bool,
}

/// A rule that fired for a request.
pub(crate) struct Fired {
    pub fault: Fault,
    /// A random number drawn when the rule fired, for faults that make a random choice.
    pub draw: u64,
    uses: Arc<AtomicU64>,
}

impl Fired {
    /// Counts one use of the rule against its `max_times`, for faults that count only when they
    /// changed the answer (the others are counted when they fire).
    pub fn count_use(&self) {
        self.uses.fetch_add(1, Ordering::Relaxed);
    }
}

/// The rules in force and the proxy's random numbers.
pub(crate) struct RuleBook {
    rules: Vec<(Rule, Arc<AtomicU64>)>,
    random: SplitMix64,
}

impl RuleBook {
    pub fn new(seed: u64) -> RuleBook {
        RuleBook { rules: Vec::new(), random: SplitMix64(seed) }
    }

    /// Replaces the rules; their use counts start again from zero. Panics on a rule a test got
    /// wrong (a probability outside 0..=1, a server error other than 500 or 503, an invalid status
    /// or content type to respond with).
    pub fn set(&mut self, rules: Vec<Rule>) {
        for rule in &rules {
            assert!((0.0..=1.0).contains(&rule.probability), "probability {} is not within 0..=1", rule.probability);
            rule.fault.validate();
        }
        self.rules = rules.into_iter().map(|rule| (rule, Arc::default())).collect();
    }

    /// The first rule that matches, applies, has uses left and wins its draw. Called once per
    /// request in arrival order, so the draws are reproducible from the seed.
    pub fn decide(&mut self, request: &RequestFacts) -> Option<Fired> {
        for (rule, uses) in &self.rules {
            let used_up = rule.max_times.is_some_and(|max| uses.load(Ordering::Relaxed) >= max);
            if used_up || !rule.operation.matches(request.operation) || !rule.fault.applies_to(request) {
                continue;
            }
            if self.random.next_f64() >= rule.probability {
                continue;
            }
            let fired = Fired { fault: rule.fault.clone(), draw: self.random.next(), uses: uses.clone() };
            if !fired.fault.depends_on_answer() {
                fired.count_use();
            }
            return Some(fired);
        }
        None
    }
}

/// The splitmix64 generator: tiny, fast and good enough to pick faults.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in [0, 1): the top 53 bits, as many as an f64 holds exactly.
    fn next_f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The splitmix64 output function: scrambles a counter into a well-spread number.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(operation: &str) -> RequestFacts<'_> {
        RequestFacts { operation, transact_items: 2, consistent_read: false }
    }

    #[test]
    fn first_applicable_rule_fires_until_used_up() {
        let mut book = RuleBook::new(1);
        book.set(vec![
            Rule::new(Match::Prefix("DynamoDB.".into()), Fault::TransactionConflict),
            Rule::new(Match::Any, Fault::Throttling).at_most(1),
        ]);
        let fired = book.decide(&facts("DynamoDB.TransactWriteItems")).unwrap();
        assert_eq!(fired.fault.name(), "TransactionConflict");
        // TransactionConflict does not apply to PutItem, so the second rule fires, once.
        assert_eq!(book.decide(&facts("DynamoDB.PutItem")).unwrap().fault.name(), "Throttling");
        assert!(book.decide(&facts("DynamoDB.PutItem")).is_none());
    }

    #[test]
    fn answer_dependent_faults_count_only_when_told() {
        let mut book = RuleBook::new(1);
        book.set(vec![Rule::new(Match::Any, Fault::MissingKeyForbidden).at_most(1)]);
        assert!(book.decide(&facts("S3.GET")).is_some());
        let fired = book.decide(&facts("S3.HEAD")).unwrap();
        fired.count_use();
        assert!(book.decide(&facts("S3.GET")).is_none());
    }

    #[test]
    fn splitmix_is_uniform_enough() {
        let mut random = SplitMix64(42);
        let below_half = (0..10_000).filter(|_| random.next_f64() < 0.5).count();
        assert!((4_800..5_200).contains(&below_half), "{below_half}");
    }

    #[test]
    #[should_panic(expected = "500 or 503")]
    fn rejects_other_server_errors() {
        RuleBook::new(0).set(vec![Rule::new(Match::Any, Fault::ServerError(502))]);
    }
}

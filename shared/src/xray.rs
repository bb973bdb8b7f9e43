//! X-Ray subsegments for the functions' AWS calls, without an X-Ray SDK (there is no official
//! one for Rust) and without OpenTelemetry (its Lambda layer runs a collector extension beside
//! every function, which costs far more at start-up than this: see the README's figures).
//!
//! With active tracing, Lambda samples an invocation and hands the function a trace header
//! (`Root=…;Parent=…;Sampled=1`) whose `Parent` is the function's own segment. Each DynamoDB
//! and S3 call made while handling that invocation becomes one subsegment of it (all of the
//! call's attempts together, their count in `aws.retries`), sent as one UDP datagram to the
//! X-Ray daemon that Lambda runs at `AWS_XRAY_DAEMON_ADDRESS`. Sending never blocks and never
//! fails a call: a datagram that cannot be sent is dropped.
//!
//! The header reaches the SDK's interceptor through a task-local set around each invocation's
//! work (`traced`), so it is right even when one process serves invocations concurrently.

use std::fmt::Write as _;
use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, Region, RuntimeComponents, SharedInterceptor};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use serde_json::{json, Value};

/// The first line of every datagram the daemon accepts.
const DAEMON_HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";

tokio::task_local! {
    /// The sampled trace of the invocation being handled, if any.
    static CURRENT: Option<TraceHeader>;
}

/// The sampled part of a Lambda trace header: the trace, and the segment calls belong under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceHeader {
    pub root: String,
    pub parent: String,
}

impl TraceHeader {
    /// `Root=1-…;Parent=…;Sampled=1` as Lambda passes it. `None` unless the invocation is
    /// sampled and names both its trace and its segment (an unsampled one records nothing).
    pub fn sampled(header: &str) -> Option<Self> {
        let (mut root, mut parent, mut sampled) = (None, None, false);
        for field in header.split(';') {
            match field.trim().split_once('=') {
                Some(("Root", value)) if !value.is_empty() => root = Some(value),
                Some(("Parent", value)) if !value.is_empty() => parent = Some(value),
                Some(("Sampled", value)) => sampled = value == "1",
                _ => {}
            }
        }
        match (root, parent, sampled) {
            (Some(root), Some(parent), true) => Some(Self { root: root.to_owned(), parent: parent.to_owned() }),
            _ => None,
        }
    }
}

/// One invocation's `work` with its trace header (from the Lambda context), so that the AWS
/// calls it makes become subsegments when the invocation is sampled. (One wrapper either way,
/// not an `async fn`: that would hold `work` twice in its state.)
pub fn traced<F: Future>(header: Option<&str>, work: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(header.and_then(TraceHeader::sampled), work)
}

/// The sampled trace of the invocation this task is handling.
fn current() -> Option<TraceHeader> {
    CURRENT.try_with(Option::clone).ok().flatten()
}

/// Whether this task handles a sampled invocation (without copying its trace).
fn sampled() -> bool {
    CURRENT.try_with(Option::is_some).unwrap_or(false)
}

/// The daemon's UDP address from `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or the
/// `tcp:host:port udp:host:port` form (segments go over UDP).
pub fn daemon_address(value: &str) -> Option<SocketAddr> {
    let udp = value.split_whitespace().find_map(|part| part.strip_prefix("udp:")).unwrap_or(value.trim());
    udp.parse().ok()
}

/// The interceptor to add to every client whose calls should be traced.
pub fn interceptor(daemon: SocketAddr) -> SharedInterceptor {
    SharedInterceptor::new(Subsegments { daemon: Arc::new(Daemon { address: daemon, socket: OnceLock::new() }) })
}

#[derive(Debug)]
struct Daemon {
    address: SocketAddr,
    /// Bound on the first sampled call, so an unsampled process never opens it.
    socket: OnceLock<Option<UdpSocket>>,
}

impl Daemon {
    fn send(&self, document: &Value) {
        let socket = self.socket.get_or_init(|| {
            let any: SocketAddr =
                if self.address.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { "[::]:0".parse().ok()? };
            let socket = UdpSocket::bind(any).ok()?;
            socket.set_nonblocking(true).ok()?;
            Some(socket)
        });
        let datagram = format!("{DAEMON_HEADER}{document}");
        if let Some(Err(error)) = socket.as_ref().map(|s| s.send_to(datagram.as_bytes(), self.address)) {
            tracing::debug!(%error, "an X-Ray subsegment was not sent");
        }
    }
}

#[derive(Debug)]
struct Subsegments {
    daemon: Arc<Daemon>,
}

/// When the call started, kept in the call's config bag between the two hooks.
#[derive(Clone, Copy, Debug)]
struct Started(f64);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl Intercept for Subsegments {
    fn name(&self) -> &'static str {
        "XRaySubsegments"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if sampled() {
            cfg.interceptor_state().store_put(Started(epoch_seconds()));
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Started(start)) = cfg.load::<Started>().copied() else { return Ok(()) };
        let Some(trace) = current() else { return Ok(()) };
        let call = Call {
            service: cfg.load::<Metadata>().map_or("AWS", |m| m.service()).to_owned(),
            operation: cfg.load::<Metadata>().map_or("Unknown", |m| m.name()).to_owned(),
            region: cfg.load::<Region>().map(|r| r.to_string()),
            attempts: cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts()),
            status: context.response().map(|r| r.status().as_u16()),
            request_id: context.response().and_then(|r| {
                ["x-amzn-requestid", "x-amz-request-id"]
                    .iter()
                    .find_map(|name| r.headers().get(*name))
                    .map(str::to_owned)
            }),
            failed: matches!(context.output_or_error(), Some(Err(_)) | None),
            start,
            end: epoch_seconds(),
        };
        self.daemon.send(&call.subsegment(&trace, &random_segment_id()));
        Ok(())
    }
}

/// What one AWS call did, as a subsegment records it.
#[derive(Debug)]
struct Call {
    service: String,
    operation: String,
    region: Option<String>,
    attempts: u32,
    status: Option<u16>,
    request_id: Option<String>,
    /// It answered an error, or no answer came at all.
    failed: bool,
    start: f64,
    end: f64,
}

impl Call {
    /// The subsegment document, in the shape the AWS SDKs' X-Ray instrumentation records: the
    /// service's name, namespace `aws`, the operation under `aws`, the status under `http`, and
    /// X-Ray's three failure flags (4xx error, 429 throttle, 5xx or no answer fault).
    fn subsegment(&self, trace: &TraceHeader, id: &str) -> Value {
        let mut aws = json!({ "operation": self.operation, "retries": self.attempts.saturating_sub(1) });
        if let Some(region) = &self.region {
            aws["region"] = json!(region);
        }
        if let Some(request_id) = &self.request_id {
            aws["request_id"] = json!(request_id);
        }
        let mut document = json!({
            "name": self.service,
            "id": id,
            "trace_id": trace.root,
            "parent_id": trace.parent,
            "type": "subsegment",
            "namespace": "aws",
            "start_time": self.start,
            "end_time": self.end.max(self.start),
            "aws": aws,
        });
        match self.status {
            Some(status) => {
                document["http"] = json!({ "response": { "status": status } });
                match status {
                    429 => {
                        document["error"] = json!(true);
                        document["throttle"] = json!(true);
                    }
                    400..=499 => document["error"] = json!(true),
                    500..=599 => document["fault"] = json!(true),
                    _ if self.failed => document["fault"] = json!(true),
                    _ => {}
                }
            }
            None => document["fault"] = json!(true),
        }
        document
    }
}

fn epoch_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// 16 hex digits, as X-Ray segment ids are: the random half of a UUIDv7.
fn random_segment_id() -> String {
    let bytes = uuid::Uuid::now_v7().into_bytes();
    bytes[8..].iter().fold(String::with_capacity(16), |mut id, b| {
        let _ = write!(id, "{b:02x}");
        id
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLED: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    #[test]
    fn only_sampled_headers_with_a_root_and_parent_are_traced() {
        let trace = TraceHeader::sampled(SAMPLED).unwrap();
        assert_eq!(trace.root, "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(trace.parent, "53995c3f42cd8ad8");
        assert_eq!(TraceHeader::sampled(&SAMPLED.replace("Sampled=1", "Sampled=0")), None);
        assert_eq!(TraceHeader::sampled("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"), None);
        assert_eq!(TraceHeader::sampled("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=;Sampled=1"), None);
        assert_eq!(TraceHeader::sampled(""), None);
        // Lambda may add fields (Lineage); their order does not matter.
        let reordered = "Sampled=1;Lineage=a87bd80c:1;Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793";
        assert_eq!(TraceHeader::sampled(reordered), Some(trace));
    }

    #[test]
    fn daemon_addresses_in_both_forms() {
        assert_eq!(daemon_address("169.254.79.129:2000"), Some("169.254.79.129:2000".parse().unwrap()));
        assert_eq!(daemon_address("tcp:127.0.0.1:2000 udp:127.0.0.2:2001"), Some("127.0.0.2:2001".parse().unwrap()));
        assert_eq!(daemon_address("localhost"), None);
    }

    fn call(status: Option<u16>, failed: bool) -> Call {
        Call {
            service: "DynamoDB".into(),
            operation: "TransactWriteItems".into(),
            region: Some("eu-west-1".into()),
            attempts: 3,
            status,
            request_id: Some("R1".into()),
            failed,
            start: 100.0,
            end: 100.25,
        }
    }

    #[test]
    fn subsegments_name_the_call_and_flag_failures_as_x_ray_does() {
        let trace = TraceHeader::sampled(SAMPLED).unwrap();
        let ok = call(Some(200), false).subsegment(&trace, "0123456789abcdef");
        assert_eq!(ok["type"], "subsegment");
        assert_eq!(ok["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(ok["parent_id"], "53995c3f42cd8ad8");
        assert_eq!(ok["name"], "DynamoDB");
        assert_eq!(ok["namespace"], "aws");
        assert_eq!(
            ok["aws"],
            json!({"operation": "TransactWriteItems", "retries": 2, "region": "eu-west-1", "request_id": "R1"})
        );
        assert_eq!(ok["http"]["response"]["status"], 200);
        assert!(ok.get("error").is_none() && ok.get("fault").is_none() && ok.get("throttle").is_none());

        let refused = call(Some(400), true).subsegment(&trace, "0123456789abcdef");
        assert_eq!((refused["error"].clone(), refused.get("fault")), (json!(true), None));
        let throttled = call(Some(429), true).subsegment(&trace, "0123456789abcdef");
        assert_eq!((throttled["error"].clone(), throttled["throttle"].clone()), (json!(true), json!(true)));
        assert_eq!(call(Some(503), true).subsegment(&trace, "x")["fault"], true);
        let lost = call(None, true).subsegment(&trace, "x");
        assert_eq!((lost["fault"].clone(), lost.get("http")), (json!(true), None));
    }

    #[test]
    fn segment_ids_are_16_hex_digits_and_distinct() {
        let (a, b) = (random_segment_id(), random_segment_id());
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}

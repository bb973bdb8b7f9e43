//! Metrics in CloudWatch Embedded Metric Format: each is one JSON line on stdout, which Lambda
//! sends to CloudWatch Logs and CloudWatch turns into metrics. No API call, no added latency.
//!
//! Every metric has the dimension `Operation` (the route's function, or `classify`, `cleanup`);
//! request counts also have `StatusClass` (2xx, 4xx, 5xx), classification outcomes `Status`.
//! `template.yaml`'s dashboard and alarms read them under `METRICS_NAMESPACE`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};

pub const DEFAULT_NAMESPACE: &str = "DocumentUploads";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Bytes,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::Bytes => "Bytes",
        }
    }
}

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Where metric lines go: stdout in Lambda, a buffer in tests. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    namespace: String,
    sink: Sink,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("namespace", &self.namespace).finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn stdout(namespace: impl Into<String>) -> Self {
        Self { namespace: namespace.into(), sink: Arc::new(|line| println!("{line}")) }
    }

    /// Metrics that are kept in memory, for tests that read what was emitted.
    pub fn captured(namespace: impl Into<String>) -> (Self, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = lines.clone();
        let sink: Sink = Arc::new(move |line| kept.lock().expect("never poisoned").push(line.to_owned()));
        (Self { namespace: namespace.into(), sink }, lines)
    }

    /// One request answered by `operation`: its count and latency, by status class.
    pub fn request(&self, operation: &str, status: u16, elapsed: Duration) {
        let class = format!("{}xx", status / 100);
        self.emit(
            operation,
            &[("StatusClass", &class)],
            &[("Requests", Unit::Count, 1.0), ("Latency", Unit::Milliseconds, milliseconds(elapsed))],
        );
    }

    /// `values` of `operation`, each a metric; with `dimensions`, each value is recorded both by
    /// `Operation` alone and by `Operation` and those dimensions.
    pub fn emit(&self, operation: &str, dimensions: &[(&str, &str)], values: &[(&str, Unit, f64)]) {
        let mut sets = vec![json!(["Operation"])];
        if !dimensions.is_empty() {
            let mut names = vec!["Operation"];
            names.extend(dimensions.iter().map(|(name, _)| *name));
            sets.push(json!(names));
        }
        let definitions: Vec<Value> =
            values.iter().map(|(name, unit, _)| json!({ "Name": name, "Unit": unit.as_str() })).collect();
        let mut line = Map::new();
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        line.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{ "Namespace": self.namespace, "Dimensions": sets, "Metrics": definitions }],
            }),
        );
        line.insert("Operation".into(), json!(operation));
        for (name, value) in dimensions {
            line.insert((*name).into(), json!(value));
        }
        for (name, _, value) in values {
            line.insert((*name).into(), json!(value));
        }
        (self.sink)(&Value::Object(line).to_string());
    }
}

pub fn milliseconds(elapsed: Duration) -> f64 {
    (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_one_line_with_both_dimension_sets() {
        let (metrics, lines) = Metrics::captured("Test");
        metrics.request("confirm", 413, Duration::from_micros(2500));
        let lines = lines.lock().unwrap();
        let line: Value = serde_json::from_str(&lines[0]).unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Test");
        assert_eq!(directive["Dimensions"], json!([["Operation"], ["Operation", "StatusClass"]]));
        assert_eq!(directive["Metrics"][1], json!({ "Name": "Latency", "Unit": "Milliseconds" }));
        assert_eq!(
            (&line["Operation"], &line["StatusClass"], &line["Requests"]),
            (&json!("confirm"), &json!("4xx"), &json!(1.0))
        );
        assert_eq!(line["Latency"], 2.5);
    }
}

//! What one million uploads cost (the functions each upload invokes, the browser's PUT, and the
//! clean-up's share), from the figures `make bench` measured and public list prices.
//!
//! Prices: us-east-1 list prices, on-demand, without free tiers, as AWS published them in 2025
//! (DynamoDB after its November 2024 on-demand cut). They were not re-read from the price
//! pages on the day of the run (no access to them from here); check them before relying on it.

use std::fmt::Write as _;

/// One priced unit.
struct Price {
    unit: &'static str,
    usd: f64,
    source: &'static str,
}

const API_REQUEST: Price =
    Price { unit: "HTTP API request", usd: 1.00e-6, source: "API Gateway HTTP API, first 300M/month, 2025" };
const LAMBDA_REQUEST: Price = Price { unit: "Lambda request", usd: 0.20e-6, source: "Lambda requests, 2025" };
const LAMBDA_GB_SECOND: Price = Price {
    unit: "GB-second (arm64)",
    usd: 0.000_013_333_4,
    source: "Lambda arm64 duration, first 7.5B GB-s/month, 2025",
};
const WRITE_UNIT: Price =
    Price { unit: "write request unit", usd: 0.625e-6, source: "DynamoDB on-demand, since 2024-11-01" };
const READ_UNIT: Price =
    Price { unit: "read request unit", usd: 0.125e-6, source: "DynamoDB on-demand, since 2024-11-01" };
const S3_PUT: Price = Price { unit: "S3 PUT", usd: 0.005e-3, source: "S3 Standard PUT/COPY/POST/LIST, 2025" };
const S3_GET: Price = Price { unit: "S3 GET", usd: 0.0004e-3, source: "S3 Standard GET/SELECT, 2025" };
const LOG_GB: Price =
    Price { unit: "GB of logs ingested", usd: 0.50, source: "CloudWatch Logs standard ingestion, 2025" };

/// Lambda's own lines per invocation: none at the template's `SystemLogLevel: WARN` (its
/// `PlatformLogLevel` default) for an invocation that succeeds; at INFO, `platform.start` and
/// `platform.report` add about 250 and 450 bytes (not measurable here).
const PLATFORM_LOG_BYTES: f64 = 0.0;
/// Share of invocations that start a new execution environment (stated, not measured).
pub const COLD_START_RATE: f64 = 0.01;
/// The template's clean-up schedule (`CleanupSchedule`, rate(30 minutes)): runs per month.
const CLEANUP_RUNS_PER_MONTH: f64 = 2.0 * 24.0 * 30.0;
const UPLOADS: f64 = 1_000_000.0;

/// What `make bench` measured of one function, as the cost needs it.
pub struct FunctionFigures {
    pub function: &'static str,
    /// `MemorySize` in template.yaml.
    pub memory_mb: f64,
    /// Mean billed duration of a warm invocation (each rounded up to the millisecond), measured
    /// under the CPU share of `memory_mb`.
    pub billed_ms: f64,
    pub cold_start_ms: f64,
    pub read_units: f64,
    pub write_units: f64,
    pub s3_gets: f64,
    pub log_bytes: f64,
}

impl FunctionFigures {
    /// Lambda bills each invocation's duration rounded up to the millisecond; a cold one also
    /// bills its init (custom runtimes always did; every runtime since August 2025).
    fn gb_seconds(&self) -> f64 {
        gb_seconds(self.memory_mb, self.billed_ms, self.cold_start_ms)
    }
}

/// Billed GB-seconds of one invocation of `memory_mb` whose warm invocations bill `billed_ms` on
/// average, a share `COLD_START_RATE` of them after a start of `cold_start_ms`.
fn gb_seconds(memory_mb: f64, billed_ms: f64, cold_start_ms: f64) -> f64 {
    let gb = memory_mb / 1024.0;
    let warm = billed_ms / 1000.0;
    let cold = (cold_start_ms + billed_ms).ceil() / 1000.0;
    gb * ((1.0 - COLD_START_RATE) * warm + COLD_START_RATE * cold)
}

/// What one invocation costs: its request and its billed duration (arm64).
pub fn invocation_usd(memory_mb: f64, billed_ms: f64, cold_start_ms: f64) -> f64 {
    LAMBDA_REQUEST.usd + gb_seconds(memory_mb, billed_ms, cold_start_ms) * LAMBDA_GB_SECOND.usd
}

struct Line {
    what: String,
    quantity: f64,
    price: Price,
}

impl Line {
    fn usd(&self) -> f64 {
        self.quantity * self.price.usd
    }
}

/// The cost of one million uploads, each invoking `per_upload` once (classify is invoked by the
/// S3 event, the others by API requests), with `cleanup` the figures of one clean-up run.
pub fn total(per_upload: &[FunctionFigures], cleanup: &FunctionFigures, uploads_per_month: f64) -> f64 {
    lines(per_upload, cleanup, uploads_per_month).iter().map(Line::usd).sum()
}

/// One line per priced unit, per million uploads.
fn lines(per_upload: &[FunctionFigures], cleanup: &FunctionFigures, uploads_per_month: f64) -> [Line; 8] {
    let cleanup_share = CLEANUP_RUNS_PER_MONTH / uploads_per_month * UPLOADS;
    let sum = |f: &dyn Fn(&FunctionFigures) -> f64| per_upload.iter().map(f).sum::<f64>() * UPLOADS;
    let names: Vec<&str> = per_upload.iter().map(|f| f.function).collect();
    let http = per_upload.iter().filter(|f| f.function != "classify").count() as f64;
    [
        Line {
            what: format!(
                "API requests ({})",
                names.iter().filter(|n| **n != "classify").copied().collect::<Vec<_>>().join(", ")
            ),
            quantity: http * UPLOADS,
            price: API_REQUEST,
        },
        Line {
            what: format!("Lambda invocations ({}, and clean-up runs)", names.join(", ")),
            quantity: per_upload.len() as f64 * UPLOADS + cleanup_share,
            price: LAMBDA_REQUEST,
        },
        Line {
            what: format!(
                "Lambda duration (mean billed ms at the CPU share of each MemorySize; {:.0}% cold with init)",
                COLD_START_RATE * 100.0
            ),
            quantity: sum(&|f| f.gb_seconds()) + cleanup.gb_seconds() * cleanup_share,
            price: LAMBDA_GB_SECOND,
        },
        Line {
            what: "DynamoDB writes (transactional items count twice)".into(),
            quantity: sum(&|f| f.write_units) + cleanup.write_units * cleanup_share,
            price: WRITE_UNIT,
        },
        Line {
            what: "DynamoDB reads".into(),
            quantity: sum(&|f| f.read_units) + cleanup.read_units * cleanup_share,
            price: READ_UNIT,
        },
        Line { what: "S3 PUT (the browser's upload, one part)".into(), quantity: UPLOADS, price: S3_PUT },
        Line {
            what: "S3 GET (the object read once, at its arrival)".into(),
            quantity: sum(&|f| f.s3_gets),
            price: S3_GET,
        },
        Line {
            what: format!("CloudWatch Logs (measured lines + {PLATFORM_LOG_BYTES:.0} B of Lambda's per invocation)"),
            quantity: (sum(&|f| f.log_bytes + PLATFORM_LOG_BYTES)
                + (cleanup.log_bytes + PLATFORM_LOG_BYTES) * cleanup_share)
                / 1e9,
            price: LOG_GB,
        },
    ]
}

/// The table: one line per priced unit, per million uploads, each invoking `per_upload` once;
/// `cleanup` one clean-up run.
pub fn table(per_upload: &[FunctionFigures], cleanup: &FunctionFigures, uploads_per_month: f64) -> String {
    let lines = lines(per_upload, cleanup, uploads_per_month);
    let total: f64 = lines.iter().map(Line::usd).sum();
    let mut out = String::new();
    writeln!(out, "| per 1M uploads | quantity | unit price (USD) | cost (USD) | share | price source |").unwrap();
    writeln!(out, "|---|---|---|---|---|---|").unwrap();
    for line in &lines {
        writeln!(
            out,
            "| {} | {} {} | {:.3e} | {:.2} | {:.0}% | {} |",
            line.what,
            quantity(line.quantity),
            line.price.unit,
            line.price.usd,
            line.usd(),
            100.0 * line.usd() / total,
            line.price.source
        )
        .unwrap();
    }
    writeln!(out, "| **total** | | | **{total:.2}** | | |").unwrap();
    let dominant = lines.iter().max_by(|a, b| a.usd().total_cmp(&b.usd())).unwrap();
    writeln!(
        out,
        "\nLargest line: {} ({:.0}%). Clean-up's share assumes {} uploads a month and {CLEANUP_RUNS_PER_MONTH:.0} runs \
         (every 30 minutes). Not included: S3 storage and transfer (they depend on the files), the dashboard and alarms \
         (fixed per month).",
        dominant.what,
        100.0 * dominant.usd() / total,
        quantity(uploads_per_month)
    )
    .unwrap();
    out
}

fn quantity(q: f64) -> String {
    if q >= 1e6 {
        format!("{:.2}M", q / 1e6)
    } else if q >= 1e3 {
        format!("{:.1}k", q / 1e3)
    } else {
        format!("{q:.2}")
    }
}

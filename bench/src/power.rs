//! The power-tuning table: each function measured at Lambda's share of several `MemorySize`s
//! (what AWS Lambda Power Tuning does in an account, here offline against the local stack), its
//! cost per million invocations at each, and the cheapest size for its work.
//!
//! Choice: the lowest cost per invocation (request price plus billed duration, cold starts at
//! `cost::COLD_START_RATE`); sizes within `TIE` of it count as equally cheap and the one with the
//! lowest warm p99 is taken (the same money buys the faster one). A size below a function's
//! memory floor is never chosen: classify and reclassify start an extraction child allowed
//! `CLASSIFY_MEMORY_BYTES` (256 MiB) of address space, so below about 320 MB a large or hostile
//! document would make Lambda stop the whole environment instead of failing that one document.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::cost;
use crate::lambda_share;

/// Costs this close to the cheapest are a tie.
const TIE: f64 = 0.05;

/// One function measured at one memory size.
pub struct AtSize {
    pub memory_mb: u32,
    pub cold_start_ms: f64,
    pub warm_p50_ms: f64,
    pub warm_p99_ms: f64,
    pub cpu_per_request_us: f64,
    /// Mean of each warm request's duration rounded up to the millisecond (what Lambda bills).
    pub billed_ms: f64,
    /// Periods in which the function ran out of quota, of the periods it ran in.
    pub throttled: (u64, u64),
    pub rss_mib: f64,
}

impl AtSize {
    pub fn usd_per_million(&self) -> f64 {
        cost::invocation_usd(f64::from(self.memory_mb), self.billed_ms, self.cold_start_ms) * 1e6
    }
}

/// The smallest `MemorySize` a function may have whatever its speed, and why.
pub fn floor(function: &str) -> Option<(u32, &'static str)> {
    matches!(function, "classify" | "reclassify")
        .then_some((320, "its extraction child may use 256 MiB (`CLASSIFY_MEMORY_BYTES`) besides the function's own"))
}

/// The chosen size of one function's measurements.
pub fn cheapest(function: &str, sizes: &[AtSize]) -> Option<u32> {
    let min = floor(function).map_or(0, |(mb, _)| mb);
    let allowed: Vec<&AtSize> = sizes.iter().filter(|s| s.memory_mb >= min).collect();
    let lowest = allowed.iter().map(|s| s.usd_per_million()).min_by(f64::total_cmp)?;
    allowed
        .iter()
        .filter(|s| s.usd_per_million() <= lowest * (1.0 + TIE))
        .min_by(|a, b| a.warm_p99_ms.total_cmp(&b.warm_p99_ms))
        .map(|s| s.memory_mb)
}

pub fn table(measured: &BTreeMap<&'static str, Vec<AtSize>>, configured: &BTreeMap<String, u32>) -> String {
    let mut out = String::new();
    writeln!(out, "| function | MemorySize MB | vCPU share | cold start ms (median) | warm p50 ms | warm p99 ms | CPU per request us | periods throttled | RSS after 1st request MiB | billed ms per request (mean) | USD per 1M invocations | |").unwrap();
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|").unwrap();
    let mut picks = Vec::new();
    for (function, sizes) in measured {
        let pick = cheapest(function, sizes);
        let current = configured.get(*function).copied();
        for s in sizes {
            let mut marks = Vec::new();
            if Some(s.memory_mb) == pick {
                marks.push("**cheapest**");
            }
            if Some(s.memory_mb) == current {
                marks.push("template");
            }
            if floor(function).is_some_and(|(mb, _)| s.memory_mb < mb) {
                marks.push("below floor");
            }
            writeln!(
                out,
                "| {function} | {} | {:.3} | {:.1} | {:.1} | {:.1} | {:.0} | {}/{} | {:.1} | {:.2} | {:.3} | {} |",
                s.memory_mb,
                lambda_share::vcpus(s.memory_mb),
                s.cold_start_ms,
                s.warm_p50_ms,
                s.warm_p99_ms,
                s.cpu_per_request_us,
                s.throttled.0,
                s.throttled.1,
                s.rss_mib,
                s.billed_ms,
                s.usd_per_million(),
                marks.join(", ")
            )
            .unwrap();
        }
        if let Some(pick) = pick {
            picks.push(format!(
                "{function} {pick} MB (template: {})",
                current.map_or("n/a".into(), |c| format!("{c} MB"))
            ));
        }
    }
    writeln!(out, "\nCheapest `MemorySize` for its work: {}.", picks.join(", ")).unwrap();
    for function in measured.keys() {
        if let Some((mb, why)) = floor(function) {
            writeln!(out, "{function}'s floor is {mb} MB: {why}.").unwrap();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(memory_mb: u32, billed_ms: f64, warm_p99_ms: f64) -> AtSize {
        AtSize {
            memory_mb,
            cold_start_ms: 5.0,
            warm_p50_ms: billed_ms,
            warm_p99_ms,
            cpu_per_request_us: 0.0,
            billed_ms,
            throttled: (0, 0),
            rss_mib: 10.0,
        }
    }

    #[test]
    fn the_cheapest_size_and_ties_go_to_the_faster() {
        // Doubling memory at the same billed time doubles the duration cost.
        let sizes = [at(128, 10.0, 40.0), at(256, 9.0, 20.0), at(512, 8.0, 10.0)];
        assert_eq!(cheapest("quota", &sizes), Some(128));
        // 256 MB at half the time costs the same as 128: the faster one is taken.
        let sizes = [at(128, 20.0, 60.0), at(256, 10.0, 20.0), at(512, 9.0, 15.0)];
        assert_eq!(cheapest("quota", &sizes), Some(256));
    }

    #[test]
    fn never_below_the_floor() {
        let sizes = [at(128, 10.0, 40.0), at(256, 9.0, 20.0), at(512, 8.0, 10.0)];
        assert_eq!(cheapest("classify", &sizes), Some(512));
    }
}

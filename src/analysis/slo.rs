//! Service-level objectives (SLOs), goodput and attainment: the spec `--slo` names
//! (`ttft=500ms,tpot=50ms,e2e=20s`, each optionally at a percentile, `ttft:p95=500ms`), the
//! judgement of every request against it, and the mergeable tally a step's outcome comes from.
//!
//! # Definitions
//! - An objective **without a percentile** is judged per request: a request meets it when its
//!   value is at most the limit. TTFT and e2e are the request's own; TPOT is its
//!   `(e2e - TTFT) / (tokens - 1)`; ITL is its *largest* gap between tokens (every gap within
//!   the limit). A request without a TPOT or ITL (fewer than two tokens) cannot exceed one; a
//!   successful request without a TTFT (no content at all) misses a TTFT objective.
//! - A **failed** request misses every objective.
//! - An objective **with a percentile** (`:p95`) is judged on the step's distribution: met when
//!   that percentile of the metric (ITL: of every gap) is at most the limit. Requests above its
//!   limit are still counted, so that it can be the one "missed most".
//! - **Goodput**: requests per second that met every per-request objective (vLLM's and
//!   DistServe's definition); **attainment**: their share of all requests, in percent.
//! - **Missed most**: the objective the most requests missed.
//!
//! Tallies add up ([`SloTally::merge`]), so steps, runs and shards combine exactly. Nothing here
//! does I/O; the outcome is written as [`crate::results::load::SloOutcome`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::metrics::LatencyHistogram;
use crate::results::load::{ObjectiveOutcome, SloOutcome};

/// A latency metric an objective can bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Time to first token.
    Ttft,
    /// Time per output token.
    Tpot,
    /// Inter-token latency.
    Itl,
    /// End to end.
    E2e,
}

impl Metric {
    /// Every metric, in the order they are written.
    pub const ALL: [Metric; 4] = [Metric::Ttft, Metric::Tpot, Metric::Itl, Metric::E2e];

    /// The spelling in `--slo` and in result files.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Ttft => "ttft",
            Metric::Tpot => "tpot",
            Metric::Itl => "itl",
            Metric::E2e => "e2e",
        }
    }

    fn parse(raw: &str) -> Option<Metric> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(raw.trim()))
    }
}

/// One objective: a metric at most `limit`, per request or at a percentile of the step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective {
    pub metric: Metric,
    /// `Some(95.0)` for `:p95`; `None` judges every request.
    pub percentile: Option<f64>,
    pub limit: Duration,
}

impl fmt::Display for Objective {
    /// The `--slo` spelling: `ttft=500ms`, `ttft:p95=500ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.metric.name())?;
        if let Some(p) = self.percentile {
            write!(f, ":p{p}")?;
        }
        write!(f, "={}", format_limit(self.limit))
    }
}

/// A set of objectives, as `--slo` gives them; at most one per metric and percentile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Slo {
    pub objectives: Vec<Objective>,
}

/// Why an `--slo` spec was refused, with what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SloError {
    #[error("--slo is empty: give objectives such as ttft=500ms,tpot=50ms,e2e=20s")]
    Empty,
    #[error("'{0}' is not an objective: write METRIC=LIMIT or METRIC:pNN=LIMIT, e.g. ttft=500ms or ttft:p95=500ms")]
    Shape(String),
    #[error("unknown metric '{0}': use ttft, tpot, itl or e2e")]
    Metric(String),
    #[error("'{0}' is not a percentile: write p50, p90, p95, p99 or p99.9 (above 0, at most 100)")]
    Percentile(String),
    #[error("'{0}' is not a latency limit: write a positive number with its unit, e.g. 500ms, 1.5s or 2m")]
    Limit(String),
    #[error("'{0}' is given twice: keep one limit per metric and percentile")]
    Duplicate(String),
}

impl FromStr for Slo {
    type Err = SloError;

    /// Parses `ttft=500ms,tpot=50ms,e2e=20s` and `ttft:p95=500ms` (metric names and units in
    /// any letter case, spaces allowed around the parts).
    fn from_str(raw: &str) -> Result<Slo, SloError> {
        let mut objectives: Vec<Objective> = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (left, limit) = part
                .split_once('=')
                .ok_or_else(|| SloError::Shape(part.to_string()))?;
            let (metric, percentile) = match left.split_once(':') {
                Some((metric, percentile)) => (metric, Some(parse_percentile(percentile)?)),
                None => (left, None),
            };
            let metric =
                Metric::parse(metric).ok_or_else(|| SloError::Metric(metric.trim().to_string()))?;
            let limit = parse_limit(limit).ok_or_else(|| SloError::Limit(limit.trim().into()))?;
            let objective = Objective {
                metric,
                percentile,
                limit,
            };
            if objectives
                .iter()
                .any(|o| o.metric == metric && o.percentile == percentile)
            {
                return Err(SloError::Duplicate(part.to_string()));
            }
            objectives.push(objective);
        }
        if objectives.is_empty() {
            return Err(SloError::Empty);
        }
        Ok(Slo { objectives })
    }
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.objectives.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

fn parse_percentile(raw: &str) -> Result<f64, SloError> {
    let trimmed = raw.trim();
    let number = trimmed
        .strip_prefix(['p', 'P'])
        .ok_or_else(|| SloError::Percentile(trimmed.to_string()))?;
    match number.parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 100.0 => Ok(p),
        _ => Err(SloError::Percentile(trimmed.to_string())),
    }
}

/// A limit with its unit: `500ms`, `1.5s`, `2m`, `20us`. A bare number is refused: whether
/// `500` means milliseconds or seconds is exactly the mistake an SLO must not hide.
fn parse_limit(raw: &str) -> Option<Duration> {
    let raw = raw.trim().to_ascii_lowercase();
    let split = raw.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = raw.split_at(split);
    let value: f64 = number.trim().parse().ok()?;
    let seconds = match unit.trim() {
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" | "min" => value * 60.0,
        _ => return None,
    };
    (seconds.is_finite() && seconds > 0.0)
        .then(|| Duration::try_from_secs_f64(seconds).ok())
        .flatten()
}

/// `500ms`, `1.5s`, `2m`: the shortest unit-bearing form that reads back to the same limit.
fn format_limit(limit: Duration) -> String {
    let micros = limit.as_micros();
    if micros.is_multiple_of(1_000_000) {
        format!("{}s", micros / 1_000_000)
    } else if micros >= 1_000_000 {
        format!("{}s", limit.as_secs_f64())
    } else if micros.is_multiple_of(1000) {
        format!("{}ms", micros / 1000)
    } else {
        format!("{}ms", micros as f64 / 1000.0)
    }
}

/// What one successful request measured, as the objectives judge it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestValues {
    pub ttft: Option<Duration>,
    pub tpot: Option<Duration>,
    /// The largest gap between two tokens.
    pub max_itl: Option<Duration>,
    pub e2e: Duration,
}

impl RequestValues {
    /// Whether the request meets `objective` (percentiles aside: every objective is judged on
    /// the request's own value here).
    fn meets(&self, objective: &Objective) -> bool {
        let within = |value: Option<Duration>| value.is_none_or(|v| v <= objective.limit);
        match objective.metric {
            Metric::Ttft => self.ttft.is_some_and(|v| v <= objective.limit),
            Metric::Tpot => within(self.tpot),
            Metric::Itl => within(self.max_itl),
            Metric::E2e => self.e2e <= objective.limit,
        }
    }
}

/// Requests judged against an [`Slo`]: how many, how many met every per-request objective,
/// and how many missed each objective. Tallies of the same SLO add up exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SloTally {
    pub requests: u64,
    /// Requests that met every objective without a percentile.
    pub met_all: u64,
    /// Requests that missed each objective, in the SLO's order.
    pub missed: Vec<u64>,
}

impl SloTally {
    /// An empty tally for `slo`.
    pub fn new(slo: &Slo) -> Self {
        SloTally {
            requests: 0,
            met_all: 0,
            missed: vec![0; slo.objectives.len()],
        }
    }

    /// Judges one request: `None` when it failed (it misses everything).
    pub fn record(&mut self, slo: &Slo, request: Option<&RequestValues>) {
        self.missed.resize(slo.objectives.len(), 0);
        self.requests += 1;
        let mut met_all = true;
        for (index, objective) in slo.objectives.iter().enumerate() {
            let met = request.is_some_and(|r| r.meets(objective));
            if !met {
                self.missed[index] += 1;
                if objective.percentile.is_none() {
                    met_all = false;
                }
            }
        }
        if met_all && request.is_some() {
            self.met_all += 1;
        }
    }

    /// Adds `other`, a tally of the same SLO.
    pub fn merge(&mut self, other: &SloTally) {
        if self.missed.len() < other.missed.len() {
            self.missed.resize(other.missed.len(), 0);
        }
        self.requests += other.requests;
        self.met_all += other.met_all;
        for (mine, theirs) in self.missed.iter_mut().zip(&other.missed) {
            *mine += theirs;
        }
    }

    /// The outcome of a step that ran for `wall` (goodput is per second of it), judging
    /// percentile objectives on `distribution(metric)`.
    pub fn outcome<'a>(
        &self,
        slo: &Slo,
        wall: Duration,
        distribution: impl Fn(Metric) -> &'a LatencyHistogram,
    ) -> SloOutcome {
        let objectives: Vec<ObjectiveOutcome> = slo
            .objectives
            .iter()
            .enumerate()
            .map(|(index, objective)| {
                let value = objective
                    .percentile
                    .and_then(|p| distribution(objective.metric).percentile(p));
                ObjectiveOutcome {
                    objective: objective.to_string(),
                    metric: objective.metric.name().to_string(),
                    percentile: objective.percentile,
                    limit_ms: objective.limit.as_secs_f64() * 1e3,
                    missed: self.missed.get(index).copied().unwrap_or(0),
                    percentile_ms: value.map(|v| v.as_secs_f64() * 1e3),
                    // A percentile of nothing is no evidence the objective holds.
                    met: objective
                        .percentile
                        .map(|_| value.is_some_and(|v| v <= objective.limit)),
                }
            })
            .collect();
        let seconds = wall.as_secs_f64();
        let missed_most = objectives
            .iter()
            .filter(|o| o.missed > 0)
            .max_by_key(|o| o.missed)
            .map(|o| o.objective.clone());
        SloOutcome {
            slo: slo.to_string(),
            requests: self.requests,
            met_all: self.met_all,
            goodput_requests_per_second: (seconds > 0.0).then(|| self.met_all as f64 / seconds),
            attainment_percent: (self.requests > 0)
                .then(|| 100.0 * self.met_all as f64 / self.requests as f64),
            percentiles_met: objectives.iter().all(|o| o.met != Some(false)),
            missed_most,
            objectives,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn values(ttft: u64, tpot: u64, itl: u64, e2e: u64) -> RequestValues {
        RequestValues {
            ttft: Some(ms(ttft)),
            tpot: Some(ms(tpot)),
            max_itl: Some(ms(itl)),
            e2e: ms(e2e),
        }
    }

    #[test]
    fn specs_parse_with_units_percentiles_and_any_subset() {
        let slo: Slo = "ttft=500ms, TPOT=50ms,e2e=1.5s,itl:p99=0.2s,ttft:p95=2m"
            .parse()
            .unwrap();
        assert_eq!(slo.objectives.len(), 5);
        assert_eq!(slo.objectives[0].metric, Metric::Ttft);
        assert_eq!(slo.objectives[0].limit, ms(500));
        assert_eq!(slo.objectives[0].percentile, None);
        assert_eq!(slo.objectives[2].limit, ms(1500));
        assert_eq!(slo.objectives[3].percentile, Some(99.0));
        assert_eq!(slo.objectives[3].limit, ms(200));
        assert_eq!(slo.objectives[4].limit, Duration::from_secs(120));
        assert_eq!(
            slo.to_string(),
            "ttft=500ms,tpot=50ms,e2e=1.5s,itl:p99=200ms,ttft:p95=120s"
        );
        // What is written reads back the same.
        assert_eq!(slo.to_string().parse::<Slo>().unwrap(), slo);
        let one: Slo = "e2e:p99.9=20s".parse().unwrap();
        assert_eq!(one.objectives[0].percentile, Some(99.9));
    }

    #[test]
    fn bad_specs_say_what_to_write() {
        let error = |raw: &str| raw.parse::<Slo>().unwrap_err().to_string();
        assert!(error("").contains("--slo is empty"));
        assert!(error(" , ").contains("--slo is empty"));
        assert!(error("ttft").contains("METRIC=LIMIT"), "{}", error("ttft"));
        assert!(error("latency=5s").contains("unknown metric 'latency'"));
        assert!(error("ttft=500").contains("with its unit"), "a bare number");
        assert!(error("ttft=5 parsecs").contains("'5 parsecs'"));
        assert!(error("ttft=-5ms").contains("positive"));
        assert!(error("ttft=0ms").contains("positive"));
        assert!(error("ttft:95=1s").contains("not a percentile"));
        assert!(error("ttft:p0=1s").contains("not a percentile"));
        assert!(error("ttft:p101=1s").contains("not a percentile"));
        assert!(error("ttft=1s,ttft=2s").contains("given twice"));
        // The same metric at another percentile is another objective.
        assert!("ttft=1s,ttft:p99=2s".parse::<Slo>().is_ok());
    }

    #[test]
    fn requests_meet_at_the_limit_and_failed_ones_miss_everything() {
        let slo: Slo = "ttft=500ms,tpot=50ms,itl=100ms,e2e=2s".parse().unwrap();
        let mut tally = SloTally::new(&slo);
        tally.record(&slo, Some(&values(500, 50, 100, 2000))); // exactly at every limit
        tally.record(&slo, Some(&values(501, 10, 10, 100))); // TTFT over
        tally.record(&slo, Some(&values(100, 60, 150, 100))); // TPOT and ITL over
        tally.record(&slo, None); // failed
        assert_eq!(tally.requests, 4);
        assert_eq!(tally.met_all, 1);
        assert_eq!(tally.missed, [2, 2, 2, 1]);
        // Fewer than two tokens: no TPOT or ITL to exceed; no content at all misses TTFT.
        let mut short = SloTally::new(&slo);
        let single = RequestValues {
            ttft: Some(ms(10)),
            e2e: ms(10),
            ..RequestValues::default()
        };
        short.record(&slo, Some(&single));
        short.record(&slo, Some(&RequestValues::default()));
        assert_eq!((short.met_all, short.missed.clone()), (1, vec![1, 0, 0, 0]));
    }

    #[test]
    fn goodput_attainment_and_missed_most() {
        let slo: Slo = "ttft=500ms,e2e=2s".parse().unwrap();
        let mut tally = SloTally::new(&slo);
        for _ in 0..6 {
            tally.record(&slo, Some(&values(100, 1, 1, 1000)));
        }
        tally.record(&slo, Some(&values(900, 1, 1, 1000)));
        tally.record(&slo, Some(&values(900, 1, 1, 3000)));
        tally.record(&slo, Some(&values(900, 1, 1, 1000)));
        tally.record(&slo, None);
        let empty = LatencyHistogram::new();
        let outcome = tally.outcome(&slo, Duration::from_secs(2), |_| &empty);
        assert_eq!(outcome.requests, 10);
        assert_eq!(outcome.met_all, 6);
        assert_eq!(outcome.goodput_requests_per_second, Some(3.0));
        assert_eq!(outcome.attainment_percent, Some(60.0));
        assert_eq!(outcome.missed_most.as_deref(), Some("ttft=500ms"));
        assert_eq!(outcome.objectives[0].missed, 4);
        assert_eq!(outcome.objectives[1].missed, 2);
        assert!(outcome.percentiles_met, "no percentile objective");
        assert_eq!(outcome.objectives[0].met, None);
    }

    #[test]
    fn percentile_objectives_are_judged_on_the_distribution() {
        let slo: Slo = "ttft:p90=500ms,e2e=2s".parse().unwrap();
        let mut tally = SloTally::new(&slo);
        let mut ttft = LatencyHistogram::new();
        for i in 0..10u64 {
            // One request in ten above the TTFT limit: p90 still meets it.
            let value = if i == 9 { 800 } else { 100 + i };
            ttft.record(ms(value));
            tally.record(&slo, Some(&values(value, 1, 1, 1000)));
        }
        let outcome = tally.outcome(&slo, Duration::from_secs(1), |_| &ttft);
        // The per-request count still shows the one above the limit ...
        assert_eq!(outcome.objectives[0].missed, 1);
        // ... but it does not cost goodput, and p90 holds.
        assert_eq!(outcome.met_all, 10);
        assert_eq!(outcome.objectives[0].met, Some(true));
        assert!(outcome.percentiles_met);
        let strict: Slo = "ttft:p95=500ms".parse().unwrap();
        let outcome = SloTally::new(&strict).outcome(&strict, Duration::from_secs(1), |_| &ttft);
        assert_eq!(outcome.objectives[0].met, Some(false));
        assert!(!outcome.percentiles_met);
        assert_eq!(outcome.objectives[0].percentile_ms, Some(800.0));
        // Nothing measured is no evidence.
        let empty = LatencyHistogram::new();
        let outcome = SloTally::new(&strict).outcome(&strict, Duration::ZERO, |_| &empty);
        assert_eq!(outcome.objectives[0].met, Some(false));
        assert_eq!(outcome.goodput_requests_per_second, None);
        assert_eq!(outcome.attainment_percent, None);
    }

    #[test]
    fn tallies_merge_exactly() {
        let slo: Slo = "ttft=500ms,e2e=2s".parse().unwrap();
        let requests = [
            Some(values(100, 1, 1, 100)),
            Some(values(900, 1, 1, 100)),
            None,
            Some(values(100, 1, 1, 3000)),
        ];
        let mut whole = SloTally::new(&slo);
        let mut a = SloTally::new(&slo);
        let mut b = SloTally::new(&slo);
        for (i, request) in requests.iter().enumerate() {
            whole.record(&slo, request.as_ref());
            let part = if i % 2 == 0 { &mut a } else { &mut b };
            part.record(&slo, request.as_ref());
        }
        a.merge(&b);
        assert_eq!(a, whole);
    }
}

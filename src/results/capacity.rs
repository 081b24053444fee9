//! The capacity result file (`ollabench capacity`): the load every probe sends (a `load`
//! configuration), the search's settings, its answer (the capacity, the bracket, how many
//! probes it took and why it stopped) and every probe with its load step's full result.

use serde::{Deserialize, Serialize};

use super::load::{LoadConfiguration, StepResult};
use super::{ErrorRecord, Provenance, RunStatus};

/// A capacity result file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CapacityResult {
    pub timestamp: String,
    /// What each probe sends and how long it runs (its shape is the search's).
    pub configuration: LoadConfiguration,
    pub search: CapacitySearch,
    /// The answer.
    pub capacity: CapacityAnswer,
    /// Every probe, in the order run (a repeated level appears again).
    pub probes: Vec<CapacityProbe>,
    pub status: RunStatus,
    pub errors: Vec<ErrorRecord>,
    pub provenance: Provenance,
}

/// How the search ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CapacitySearch {
    pub by: CapacityBy,
    /// The SLO, normalised (`ttft:p95=500ms`), and in words (`p95 TTFT <= 500 ms`).
    pub slo: String,
    pub slo_description: String,
    /// The share of requests that must meet every per-request objective, in percent.
    pub attainment_percent: f64,
    /// The bracket's width the search stops at, relative to its lower bound, in percent.
    pub precision_percent: f64,
    pub start: f64,
    pub max_probes: u32,
}

/// One probe: a level, its verdict and the load step that measured it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CapacityProbe {
    /// The request rate or concurrency probed.
    pub level: f64,
    /// Whether it met the SLO at the required attainment.
    pub passed: bool,
    /// Within noise of a threshold: the search probes the level again before trusting it.
    pub marginal: bool,
    pub step: StepResult,
}

impl CapacityResult {
    /// The answer in one line, as the command prints it.
    pub fn line(&self) -> String {
        self.capacity
            .line(self.search.by, &self.search.slo_description)
    }

    /// The last probe that passed at the capacity: the step the answer stands on.
    pub fn probe_at_capacity(&self) -> Option<&CapacityProbe> {
        let capacity = self.capacity.capacity?;
        self.probes
            .iter()
            .rev()
            .find(|p| p.passed && (p.level - capacity).abs() <= 1e-9 * capacity.max(1.0))
    }
}

/// What a capacity is counted in: a request rate (open loop) or a concurrency (closed loop).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CapacityBy {
    /// Requests per second sent on a schedule.
    #[default]
    Rate,
    /// Requests kept in flight.
    Concurrency,
}

impl CapacityBy {
    /// The unit a level is written in.
    pub fn unit(&self) -> &'static str {
        match self {
            CapacityBy::Rate => "req/s",
            CapacityBy::Concurrency => "concurrent requests",
        }
    }

    /// A level as written in output: concurrencies are whole numbers.
    pub fn format_level(&self, level: f64) -> String {
        match self {
            CapacityBy::Concurrency => format!("{}", level.round() as u64),
            CapacityBy::Rate if level >= 100.0 => format!("{level:.0}"),
            CapacityBy::Rate if level >= 10.0 => format!("{level:.1}"),
            CapacityBy::Rate => {
                // Two significant digits keep small rates (0.05 req/s) readable.
                let digits = (1 - level.abs().max(1e-9).log10().floor() as i32).clamp(1, 6);
                format!("{level:.*}", digits as usize)
            }
        }
    }
}

/// How the search ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SearchEnd {
    /// A passing and a failing level bracket the capacity within the precision.
    #[default]
    Bracketed,
    /// Even the lowest level probed failed: the capacity is below it.
    BelowLowest,
    /// No level failed before the probe bound: the capacity is at least the highest level.
    NoFailure,
    /// The probe bound stopped the bisection before the bracket was within the precision.
    ProbeBound,
    /// Ctrl-C stopped the search; the answer is what the probes so far say.
    Interrupted,
    /// A probe could not run (its error is in `Errors`); the answer is what the probes
    /// before it say.
    StepFailed,
}

/// The answer of a capacity search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CapacityAnswer {
    /// The highest level that met the SLOs; none when no level did.
    pub capacity: Option<f64>,
    /// The bracket: the highest passing level and the lowest failing level above it.
    pub bracket_pass: Option<f64>,
    pub bracket_fail: Option<f64>,
    /// Probes run, repeats included.
    pub probes: u32,
    pub end: SearchEnd,
}

impl CapacityAnswer {
    /// The answer in one line: `capacity: 3.2 req/s at p95 TTFT <= 500 ms (bracket 3.0-3.4,
    /// 6 probes)`, or what is known when no bracket was found.
    pub fn line(&self, by: CapacityBy, slo: &str) -> String {
        let level = |value: f64| format!("{} {}", by.format_level(value), by.unit());
        let probes = match self.probes {
            1 => "1 probe".to_string(),
            n => format!("{n} probes"),
        };
        let bracket = match (self.bracket_pass, self.bracket_fail) {
            (Some(pass), Some(fail)) => format!(
                "bracket {}-{}, {probes}",
                by.format_level(pass),
                by.format_level(fail)
            ),
            _ => probes.clone(),
        };
        let interrupted = match self.end {
            SearchEnd::Interrupted => " (interrupted)",
            SearchEnd::StepFailed => " (stopped by an error)",
            _ => "",
        };
        match (self.capacity, self.bracket_fail, self.end) {
            (Some(capacity), None, _) => format!(
                "capacity{interrupted}: at least {} at {slo}, no failing level found in {probes}",
                level(capacity)
            ),
            (None, Some(fail), end) => format!(
                "capacity{interrupted}: below {} at {slo}: no level passed ({probes}{})",
                level(fail),
                if end == SearchEnd::ProbeBound {
                    ", stopped by --max-probes"
                } else {
                    ""
                }
            ),
            (None, None, _) => {
                format!("capacity{interrupted}: unknown at {slo}: no probe finished")
            }
            (Some(capacity), Some(_), SearchEnd::ProbeBound) => format!(
                "capacity: {} at {slo} ({bracket}; stopped by --max-probes before the bracket \
                 was within the precision)",
                level(capacity)
            ),
            (Some(capacity), Some(_), _) => {
                format!(
                    "capacity{interrupted}: {} at {slo} ({bracket})",
                    level(capacity)
                )
            }
        }
    }

    /// Whether the probe bound, rather than the precision, ended the search.
    pub fn stopped_by_bound(&self) -> bool {
        matches!(self.end, SearchEnd::ProbeBound | SearchEnd::NoFailure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(pass: Option<f64>, fail: Option<f64>, probes: u32, end: SearchEnd) -> CapacityAnswer {
        CapacityAnswer {
            capacity: pass,
            bracket_pass: pass,
            bracket_fail: fail,
            probes,
            end,
        }
    }

    #[test]
    fn the_answer_reads_as_one_line() {
        let slo = "p95 TTFT <= 500 ms";
        let rate = CapacityBy::Rate;
        assert_eq!(
            answer(Some(3.2), Some(3.4), 6, SearchEnd::Bracketed).line(rate, slo),
            "capacity: 3.2 req/s at p95 TTFT <= 500 ms (bracket 3.2-3.4, 6 probes)"
        );
        assert_eq!(
            answer(None, Some(0.0126), 8, SearchEnd::BelowLowest).line(rate, slo),
            "capacity: below 0.013 req/s at p95 TTFT <= 500 ms: no level passed (8 probes)"
        );
        assert_eq!(
            answer(Some(2048.0), None, 12, SearchEnd::NoFailure).line(rate, slo),
            "capacity: at least 2048 req/s at p95 TTFT <= 500 ms, no failing level found in 12 probes"
        );
        assert!(answer(Some(3.0), Some(3.5), 5, SearchEnd::ProbeBound)
            .line(rate, slo)
            .contains("(bracket 3.0-3.5, 5 probes; stopped by --max-probes"));
        assert_eq!(
            answer(Some(4.0), Some(5.0), 4, SearchEnd::Bracketed)
                .line(CapacityBy::Concurrency, slo),
            "capacity: 4 concurrent requests at p95 TTFT <= 500 ms (bracket 4-5, 4 probes)"
        );
        assert!(answer(Some(1.0), Some(2.0), 2, SearchEnd::Interrupted)
            .line(rate, slo)
            .starts_with("capacity (interrupted): 1.0 req/s"));
        assert_eq!(
            answer(None, None, 0, SearchEnd::StepFailed).line(rate, slo),
            "capacity (stopped by an error): unknown at p95 TTFT <= 500 ms: no probe finished"
        );
    }
}

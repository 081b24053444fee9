//! The capacity result file (`ollabench capacity`): the search's settings, its answer (the
//! capacity, the bracket, how many probes it took and why it stopped) and every probe with
//! its load step's full result.

use serde::{Deserialize, Serialize};

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
    /// Whether the probe bound, rather than the precision, ended the search.
    pub fn stopped_by_bound(&self) -> bool {
        matches!(self.end, SearchEnd::ProbeBound | SearchEnd::NoFailure)
    }
}

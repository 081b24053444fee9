//! `load`'s options, validated: the model and prompt, the load shape (closed-loop
//! concurrencies, open-loop request rates or `--sweep auto`), arrivals, the in-flight cap, each
//! step's length and warmup, the SLO and where results go. [`LoadStep`] is one step of it, the
//! unit that `scenario::load::measure_step` measures (and that `capacity` probes).

use std::path::PathBuf;
use std::time::Duration;

use crate::analysis::slo::Slo;
use crate::backend::Route;
use crate::config::TargetOptions;
use crate::engine::{PlanError, Schedule};
use crate::prompts::Prompt;

/// The most requests a closed loop may keep in flight, and the largest `--max-concurrency`.
pub const MAX_CONCURRENCY: u32 = 100_000;
/// The most requests per step: enough for any soak, small enough that counts never overflow.
pub const MAX_REQUESTS: usize = 100_000_000;
/// `--sweep auto`'s closed loop that measures the saturated throughput keeps this many in
/// flight, unless `--max-concurrency` says less.
pub const SATURATION_CONCURRENCY: u32 = 64;
/// `--sweep-steps`' default: open-loop rates between single-stream and saturated throughput.
pub const SWEEP_STEPS: usize = 5;
/// Each step's length when neither `--requests` nor `--duration` is given.
pub const DEFAULT_REQUESTS: usize = 100;

/// Validated options of a `load` run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub target: TargetOptions,
    pub model: String,
    pub prompt: Prompt,
    /// Tokens to generate per request (`num_predict` / `max_tokens`).
    pub max_tokens: u32,
    pub route: Route,
    pub shape: LoadShape,
    /// How open-loop sends are spaced.
    pub arrival: ArrivalKind,
    /// Seeds every random schedule, so that a run can be repeated exactly.
    pub seed: u64,
    /// The most requests in flight at once; an open-loop send that finds the cap full waits
    /// for a slot and is counted.
    pub max_concurrency: Option<u32>,
    /// Each step's measured length.
    pub length: RunLength,
    /// Each step's warmup, run with the step's own load and not measured.
    pub warmup: Option<RunLength>,
    pub slo: Option<Slo>,
    /// Streams one JSON line per measured request.
    pub samples_file: Option<PathBuf>,
    pub output: PathBuf,
    /// `--input-tokens`, `--output-tokens`, prefixes and Ollama's context, shared with
    /// tokens-per-second.
    pub workload: crate::workload::WorkloadOptions,
    /// The model's calibration, once measured (sized prompts only).
    pub calibrated: Option<crate::workload::Calibrated>,
    /// Numbers every request of the run (its tag).
    pub numbers: crate::workload::RequestNumbers,
}

/// The steps asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadShape {
    /// Closed loops, one step per concurrency.
    Concurrency(Vec<u32>),
    /// Open loops, one step per rate (requests per second).
    Rates(Vec<f64>),
    /// Single-stream and saturated throughput first, then `steps` rates between them.
    Auto { steps: usize },
}

impl LoadShape {
    /// The name written in result files: `closed`, `open` or `auto`.
    pub fn name(&self) -> &'static str {
        match self {
            LoadShape::Concurrency(_) => "closed",
            LoadShape::Rates(_) => "open",
            LoadShape::Auto { .. } => "auto",
        }
    }
}

/// The gaps between open-loop sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArrivalKind {
    /// Every gap is `1 / rate`.
    Constant,
    /// Exponential gaps (a Poisson process): the default, as in vLLM's benchmark.
    Poisson,
    /// Gamma gaps with this shape: below 1 burstier than Poisson, above 1 more even.
    Gamma { burstiness: f64 },
}

impl ArrivalKind {
    /// `constant`, `poisson` or `gamma`.
    pub fn name(&self) -> &'static str {
        match self {
            ArrivalKind::Constant => "constant",
            ArrivalKind::Poisson => "poisson",
            ArrivalKind::Gamma { .. } => "gamma",
        }
    }

    /// The schedule of `rate` sends a second, drawn from `seed`.
    pub fn schedule(&self, rate: f64, seed: u64) -> Result<Schedule, PlanError> {
        match *self {
            ArrivalKind::Constant => Schedule::constant(rate),
            ArrivalKind::Poisson => Schedule::poisson(rate, seed),
            ArrivalKind::Gamma { burstiness } => Schedule::gamma(rate, burstiness, seed),
        }
    }
}

/// How long a step (or its warmup) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunLength {
    /// This many requests.
    Requests(usize),
    /// Requests are started during this long; those in flight then finish.
    Duration(Duration),
}

/// How one step loads the server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepLoad {
    /// A closed loop keeping this many requests in flight.
    Closed { concurrency: u32 },
    /// An open loop sending this many requests a second, spaced by the run's arrival kind.
    Open { rate: f64 },
}

/// Why a step was measured (written as its `Role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepRole {
    /// A step the user asked for (or a rate of `--sweep auto`).
    Sweep,
    /// `--sweep auto`'s single-stream throughput: a closed loop of one.
    SingleStream,
    /// `--sweep auto`'s saturated throughput: a closed loop at high concurrency.
    Saturation,
}

impl StepRole {
    pub fn name(self) -> &'static str {
        match self {
            StepRole::Sweep => "sweep",
            StepRole::SingleStream => "single-stream",
            StepRole::Saturation => "saturation",
        }
    }
}

/// One step: a load, how long it runs and its warmup. Build one with [`LoadStep::closed`] or
/// [`LoadStep::open`], which take the run's length and warmup from the options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadStep {
    pub load: StepLoad,
    pub length: RunLength,
    pub warmup: Option<RunLength>,
    pub role: StepRole,
}

impl LoadStep {
    /// A closed loop of `concurrency`, with the options' length and warmup.
    pub fn closed(options: &LoadOptions, concurrency: u32) -> Self {
        LoadStep {
            load: StepLoad::Closed {
                concurrency: concurrency.max(1),
            },
            length: options.length,
            warmup: options.warmup,
            role: StepRole::Sweep,
        }
    }

    /// An open loop at `rate` requests per second, with the options' length and warmup.
    pub fn open(options: &LoadOptions, rate: f64) -> Self {
        LoadStep {
            load: StepLoad::Open { rate },
            length: options.length,
            warmup: options.warmup,
            role: StepRole::Sweep,
        }
    }

    /// The same step with another role.
    pub fn with_role(self, role: StepRole) -> Self {
        LoadStep { role, ..self }
    }
}

impl LoadOptions {
    /// The steps of the shape given (for `--sweep auto`, the two probes only: the rates
    /// follow from what they measure).
    pub fn planned_steps(&self) -> Vec<LoadStep> {
        match &self.shape {
            LoadShape::Concurrency(levels) => levels
                .iter()
                .map(|&level| LoadStep::closed(self, level))
                .collect(),
            LoadShape::Rates(rates) => rates.iter().map(|&r| LoadStep::open(self, r)).collect(),
            LoadShape::Auto { .. } => vec![
                LoadStep::closed(self, 1).with_role(StepRole::SingleStream),
                LoadStep::closed(self, self.saturation_concurrency())
                    .with_role(StepRole::Saturation),
            ],
        }
    }

    /// The concurrency of `--sweep auto`'s saturation probe.
    pub fn saturation_concurrency(&self) -> u32 {
        self.max_concurrency
            .unwrap_or(SATURATION_CONCURRENCY)
            .clamp(1, SATURATION_CONCURRENCY)
    }
}

/// `steps` rates spread evenly above `single` up to `saturated` (requests per second), as
/// guidellm's sweep does: the last is the saturated throughput itself, where the queue starts
/// to build. A server that does not scale (Ollama with one slot: saturated about equal to
/// single) would give the same rate `steps` times; its rates are spread from
/// `saturated / steps` instead, so the sweep still shows latency from light load to the knee.
/// Empty when either is not a positive number.
pub fn sweep_rates(single: f64, saturated: f64, steps: usize) -> Vec<f64> {
    if !(single.is_finite() && saturated.is_finite() && single > 0.0 && saturated > 0.0) {
        return Vec::new();
    }
    let high = single.max(saturated);
    let low = if high < NO_SCALING * single {
        high / steps as f64
    } else {
        single.min(saturated)
    };
    let gaps = if low < single.min(saturated) {
        // From `low` itself: it is not a rate measured already.
        steps.saturating_sub(1).max(1)
    } else {
        steps
    };
    let first = usize::from(gaps == steps);
    (first..first + steps)
        .map(|i| low + (high - low) * i as f64 / gaps as f64)
        .collect()
}

/// Saturated throughput below this multiple of the single stream's counts as no scaling.
const NO_SCALING: f64 = 1.1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_rates_spread_up_to_the_saturated_rate() {
        assert_eq!(sweep_rates(1.0, 5.0, 4), [2.0, 3.0, 4.0, 5.0]);
        // No scaling: from light load up to the saturated rate.
        assert_eq!(sweep_rates(2.0, 2.0, 4), [0.5, 1.0, 1.5, 2.0]);
        assert_eq!(sweep_rates(2.0, 2.1, 1), [2.1]);
        assert!(sweep_rates(0.0, 5.0, 3).is_empty());
        assert!(sweep_rates(1.0, f64::NAN, 3).is_empty());
        // A saturated rate below the single stream's (a server that gets slower with load).
        assert_eq!(sweep_rates(4.0, 2.0, 2), [3.0, 4.0]);
    }
}

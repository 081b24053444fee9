//! The `load` result file: the load shape, the SLO and one [`StepResult`] per step (a
//! closed-loop concurrency or an open-loop request rate). Every distribution is written both as
//! a summary in milliseconds and as a mergeable histogram, so that steps, runs and shards can be
//! combined exactly later; no per-request data is kept (`--samples-file` streams it instead).
//! The metrics are defined in the README ("Load metrics").

use serde::{Deserialize, Serialize};

use super::tokens_per_second::RequestCounts;
use super::{ErrorRecord, Provenance, RunStatus};
use crate::metrics::{LatencyHistogram, RequestLatencies};

/// A `load` result file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LoadResult {
    pub timestamp: String,
    pub configuration: LoadConfiguration,
    /// Every step measured, in the order it ran.
    pub steps: Vec<StepResult>,
    pub status: RunStatus,
    pub errors: Vec<ErrorRecord>,
    pub provenance: Provenance,
}

/// What was asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LoadConfiguration {
    pub model: String,
    /// The prompt's name (`Short`, ..., or `Custom` for a literal prompt).
    pub prompt: String,
    pub prompt_characters: usize,
    /// Tokens asked for per request (`num_predict` / `max_tokens`).
    pub max_tokens: u32,
    /// `generate` or `chat` (Ollama), `completions` or `chat` (OpenAI).
    pub route: String,
    /// `closed` (`--concurrency`), `open` (`--request-rate`) or `auto` (`--sweep auto`).
    pub load_shape: String,
    pub concurrency_levels: Vec<u32>,
    pub request_rates: Vec<f64>,
    /// `--sweep auto`: open-loop rates measured between the single-stream and saturated
    /// throughput.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep_steps: Option<usize>,
    /// Open loop: `constant`, `poisson` or `gamma`.
    pub arrival: String,
    /// Gamma arrivals' shape parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burstiness: Option<f64>,
    pub seed: u64,
    /// The most requests in flight at once (`--max-concurrency`).
    pub max_concurrency: Option<usize>,
    /// Each step's length: a count of requests ...
    pub requests_per_step: Option<usize>,
    /// ... or a time during which requests are started.
    pub duration_seconds: Option<f64>,
    /// Each step's warmup, not measured: a count of requests or a time.
    pub warmup_requests: Option<usize>,
    pub warmup_seconds: Option<f64>,
    /// The `--slo` spec, normalised (`ttft=500ms,e2e:p99=20s`).
    pub slo: Option<String>,
    /// `--input-tokens`: how the prompt was sized in the model's tokens (the server's own
    /// counts), as tokens-per-second records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<super::tokens_per_second::Calibration>,
}

/// One step: one concurrency or one request rate, and what it measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StepResult {
    /// `closed` or `open`.
    pub mode: String,
    /// Closed loop: requests kept in flight.
    pub concurrency: Option<u32>,
    /// Open loop: the scheduled request rate (requests per second).
    pub request_rate: Option<f64>,
    /// What the step was for: `sweep` (a step the user asked for), `single-stream` or
    /// `saturation` (the probes of `--sweep auto`).
    pub role: String,
    /// Ctrl-C stopped the step: it covers what finished until then.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// The measured window: from the first measured send to the last finish.
    pub wall_seconds: f64,
    pub requests: RequestCounts,
    /// Requests whose send time came while `--max-concurrency` were in flight, so that they
    /// were sent late (open loop).
    pub waited_for_cap: usize,
    pub peak_in_flight: usize,
    pub throughput: Throughput,
    /// Latencies from the actual send time.
    pub latency: Latencies,
    /// TTFT and e2e from the scheduled send time (TPOT and ITL are differences between token
    /// arrivals, the same from either start).
    pub latency_from_scheduled: ScheduledLatencies,
    /// Actual send time - scheduled send time.
    pub schedule_lag_ms: Option<MsSummary>,
    /// The step judged against `--slo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloOutcome>,
    pub histograms: StepHistograms,
}

/// Requests and tokens per second of the measured window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Throughput {
    /// Successful requests / wall.
    pub requests_per_second: Option<f64>,
    /// Output tokens of successful requests / wall.
    pub output_tokens_per_second: Option<f64>,
    /// Prompt tokens of successful requests (as the server counts them) / wall.
    pub input_tokens_per_second: Option<f64>,
    /// Input + output.
    pub total_tokens_per_second: Option<f64>,
    pub output_tokens: u64,
    pub input_tokens: u64,
}

/// TTFT, TPOT, ITL and e2e of successful requests, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Latencies {
    pub time_to_first_token_ms: Option<MsSummary>,
    pub time_per_output_token_ms: Option<MsSummary>,
    pub inter_token_latency_ms: Option<MsSummary>,
    pub end_to_end_ms: Option<MsSummary>,
}

/// TTFT and e2e measured from the scheduled send time, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ScheduledLatencies {
    pub time_to_first_token_ms: Option<MsSummary>,
    pub end_to_end_ms: Option<MsSummary>,
}

/// A distribution's summary in milliseconds (from a [`LatencyHistogram`]: the mean, min and max
/// are exact, percentiles nearest-rank within 0.1%).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MsSummary {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl MsSummary {
    /// The summary of a histogram; `None` when it is empty.
    pub fn of(histogram: &LatencyHistogram) -> Option<MsSummary> {
        let s = histogram.summary()?;
        let ms = |seconds: f64| (seconds * 1e6).round() / 1e3;
        Some(MsSummary {
            count: s.count,
            mean: ms(s.mean),
            p50: ms(s.p50),
            p90: ms(s.p90),
            p95: ms(s.p95),
            p99: ms(s.p99),
            max: ms(s.max),
        })
    }
}

/// The whole distributions, mergeable (µs, 3 significant digits; see [`LatencyHistogram`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StepHistograms {
    /// From the actual send time.
    pub sent: RequestLatencies,
    /// TTFT from the scheduled send time.
    pub scheduled_time_to_first_token: LatencyHistogram,
    /// e2e from the scheduled send time.
    pub scheduled_end_to_end: LatencyHistogram,
    pub schedule_lag: LatencyHistogram,
}

/// A step judged against the SLO (see `analysis::slo` for the definitions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SloOutcome {
    /// The spec, normalised.
    pub slo: String,
    /// Requests judged (failed ones included: they miss everything).
    pub requests: u64,
    /// Requests that met every objective without a percentile.
    pub met_all: u64,
    /// `MetAll` per second of the step's wall time.
    pub goodput_requests_per_second: Option<f64>,
    /// `MetAll / Requests`, in percent.
    pub attainment_percent: Option<f64>,
    /// Every percentile objective held (true when there is none).
    pub percentiles_met: bool,
    /// The objective the most requests missed; `None` when none was missed.
    pub missed_most: Option<String>,
    pub objectives: Vec<ObjectiveOutcome>,
}

/// One objective of the SLO in one step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ObjectiveOutcome {
    /// As written in `--slo` (`ttft:p95=500ms`).
    pub objective: String,
    /// `ttft`, `tpot`, `itl` or `e2e`.
    pub metric: String,
    pub percentile: Option<f64>,
    pub limit_ms: f64,
    /// Requests above the limit (or failed).
    pub missed: u64,
    /// A percentile objective: the step's value of that percentile.
    pub percentile_ms: Option<f64>,
    /// A percentile objective: whether it held; `None` for per-request objectives.
    pub met: Option<bool>,
}

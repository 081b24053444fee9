//! The tokens-per-second result file: the reference's Benchmark 2 schema (`Timestamp`,
//! `Configuration`, `Summary`, `ModelResults[].PromptResults[].Statistics`) with ollabench's
//! added latency metrics, failures, per-request samples, the prompt-length impact, the
//! concurrency scaling curve, status and provenance.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ErrorRecord, Provenance, RunStatus};
use crate::stats::{Stability, Summary};

/// A tokens-per-second result file. Every part defaults when absent (the PowerShell suite
/// writes no concurrency, status, errors or provenance, and no per-request detail); the
/// reader requires an overall or a per-cell average.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TpsResult {
    pub timestamp: String,
    pub configuration: TpsConfiguration,
    pub summary: TpsSummary,
    pub model_results: Vec<ModelResult>,
    /// Every concurrency level measured, with its efficiency against a single stream.
    pub concurrency: Vec<ConcurrencyResult>,
    pub status: RunStatus,
    pub errors: Vec<ErrorRecord>,
    pub provenance: Provenance,
    /// Per model, how prompts sized in tokens (`--input-tokens`) were fitted to the server's
    /// own count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calibrations: Vec<Calibration>,
    /// Dataset lines skipped as malformed (`--dataset-skip-bad`), by line number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_dataset_lines: Vec<String>,
}

/// How one model's prompt sizes were fitted without a tokenizer: two probes of filler text
/// give the server's tokens per word and the fixed overhead (template, request tag); each
/// size is then built, counted by the server and corrected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Calibration {
    pub model: String,
    /// `prompt_eval_count` (Ollama) or `usage.prompt_tokens` (OpenAI servers).
    pub source: String,
    pub tokens_per_word: f64,
    pub overhead_tokens: f64,
    /// Every probe sent: filler words and the server's prompt token count.
    pub probes: Vec<CalibrationProbe>,
    pub sizes: Vec<SizeFit>,
    /// Why sizes could not be hit, when they could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One probe of a calibration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CalibrationProbe {
    pub words: usize,
    pub prompt_tokens: u64,
}

/// One requested size and what the server counted for the prompt built for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SizeFit {
    pub requested_tokens: u64,
    pub words: usize,
    /// The server's count of the last prompt built (`None`: not counted).
    pub prompt_tokens: Option<u64>,
    pub error_percent: Option<f64>,
    /// Within 2% of the requested size.
    pub within_tolerance: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `Configuration`: the reference's fields first. Zero and empty mean not recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TpsConfiguration {
    pub generation_tokens: u32,
    pub warmup_runs: u32,
    pub measurement_runs: u32,
    /// The first (primary) concurrency level; `PromptResults` are measured at it.
    pub concurrent_requests: u32,
    pub concurrency_levels: Vec<u32>,
    pub models: Vec<String>,
    pub prompt_lengths: Vec<String>,
    /// `generate` or `chat` (Ollama), `completions` or `chat` (OpenAI).
    pub route: String,
    /// Where the tok/s in `Statistics` comes from: `server` (eval_count / eval_duration, or
    /// llama.cpp timings) or `client` (from the stream's arrival times).
    pub tokens_per_second_source: String,
    /// `--think`: `on` or `off`; absent when the server's default was left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think: Option<String>,
    /// `--input-tokens`: prompt sizes in the model's tokens (empty: the prompts named above).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_tokens: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens_stddev: Option<f64>,
    /// `--output-tokens`: every generation was asked to run to `GenerationTokens`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub output_forced: bool,
    /// `unique` (a distinct opening per request), `shared:N` (the first N tokens shared) or
    /// `none`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// Ollama's `num_ctx` sent with every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_ctx: Option<u64>,
    /// The dataset file the prompts came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

impl Sample {
    /// The server counted the prompt more than 2% short of the size it was built for: it
    /// truncated it.
    pub fn truncated(&self) -> bool {
        match (self.prompt_tokens, self.requested_prompt_tokens) {
            (Some(counted), Some(requested)) => (counted as f64) < requested as f64 * 0.98,
            _ => false,
        }
    }
}

/// `Summary`: the reference's fields first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TpsSummary {
    pub overall_average_tokens_per_second: Option<f64>,
    pub overall_min_tokens_per_second: Option<f64>,
    pub overall_max_tokens_per_second: Option<f64>,
    /// Model x prompt-length cells measured.
    pub total_tests: usize,
    /// Successful measured requests.
    pub total_samples: usize,
    pub total_requests: usize,
    pub failed_requests: usize,
    /// Successful / attempted measured requests, in percent.
    pub success_rate: f64,
    pub overall_median_time_to_first_token_seconds: Option<f64>,
}

/// `ModelResults[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ModelResult {
    pub model: String,
    pub prompt_results: Vec<PromptResult>,
    /// Each prompt length's tok/s against the shortest one's.
    pub prompt_length_impact: Vec<PromptLengthImpact>,
    /// The load-only request made before measuring, so that no sample contains a load.
    pub preload_seconds: Option<f64>,
    /// The reference's categories measured, with their size in this model's tokens (the
    /// server's count): the same text is a different number of tokens on every model.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub category_tokens: BTreeMap<String, u64>,
}

/// `PromptResults[]`: one model, one prompt, one concurrency level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PromptResult {
    pub prompt_length: String,
    /// Ctrl-C stopped this cell before all its requests ran: its statistics cover only what
    /// finished, and it gets no stability verdict.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// The whole distributions of TTFT, TPOT, ITL and e2e as mergeable histograms (µs, 3
    /// significant digits), so that runs and shards can be combined exactly later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histograms: Option<crate::metrics::RequestLatencies>,
    pub prompt_characters: usize,
    pub statistics: Statistics,
    pub concurrent_requests: u32,
    /// The prompt's token count as the server reports it (`prompt_eval_count`).
    pub prompt_tokens: Option<u64>,
    pub metrics: LatencyMetrics,
    /// Total output tokens / wall time of the measured batch.
    pub aggregate_tokens_per_second: Option<f64>,
    pub wall_seconds: f64,
    pub requests: RequestCounts,
    /// Client-side vs server-side tok/s (mean), in percent of the server's.
    pub client_server_difference_percent: Option<f64>,
    /// Set when the two disagree by more than 5%.
    pub client_server_disagreement: bool,
    /// Measured requests that returned fewer tokens than asked (`done_reason` stop).
    pub stopped_early: usize,
    /// The size asked for (`--input-tokens`), when the prompts were sized in tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_input_tokens: Option<u64>,
    /// Measured requests whose prompt the server counted more than 2% short of the size
    /// asked for: it truncated them (a context too small).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub truncated_requests: usize,
    /// Of the measured requests' output tokens, those that were thinking (a thinking
    /// model's reasoning, counted in every rate); absent when none were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_tokens: Option<u64>,
    /// Samples whose `load_duration` shows the model was reloaded mid-measurement.
    pub reloads_flagged: usize,
    /// Indices (into `Samples`) of tok/s outliers (> 3 sd or MAD rule); kept, not dropped.
    pub outliers: Vec<usize>,
    pub samples: Vec<Sample>,
    /// Warmup requests: recorded, kept out of every statistic.
    pub warmup: Vec<Sample>,
}

/// `Statistics`: the reference's fields first, then ollabench's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Statistics {
    pub average_tokens_per_second: Option<f64>,
    pub min_tokens_per_second: Option<f64>,
    pub max_tokens_per_second: Option<f64>,
    pub std_dev_tokens_per_second: Option<f64>,
    pub average_duration_seconds: Option<f64>,
    pub sample_size: usize,
    pub median_tokens_per_second: Option<f64>,
    pub p90_tokens_per_second: Option<f64>,
    pub p95_tokens_per_second: Option<f64>,
    pub p99_tokens_per_second: Option<f64>,
    /// Standard deviation / mean, in percent.
    pub coefficient_of_variation_percent: Option<f64>,
    pub stability: Option<Stability>,
}

/// Distributions of every per-request metric (seconds, tokens per second).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LatencyMetrics {
    /// Server side: eval_count / eval_duration.
    pub server_tokens_per_second: Option<Summary>,
    /// Client side: output tokens after the first / (last - first token time).
    pub client_tokens_per_second: Option<Summary>,
    pub time_to_first_token_seconds: Option<Summary>,
    pub time_per_output_token_seconds: Option<Summary>,
    /// Every gap between content chunks of every measured request.
    pub inter_token_latency_seconds: Option<Summary>,
    pub end_to_end_seconds: Option<Summary>,
    pub prompt_eval_tokens_per_second: Option<Summary>,
}

/// Attempted, succeeded and failed measured requests, failures by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RequestCounts {
    pub attempted: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub success_rate: f64,
    pub failures_by_kind: BTreeMap<String, usize>,
    /// The first failure of each kind, with its message and hint.
    pub failure_examples: Vec<ErrorRecord>,
}

/// One request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Sample {
    pub run: usize,
    pub succeeded: bool,
    pub tokens_per_second: Option<f64>,
    pub server_tokens_per_second: Option<f64>,
    pub client_tokens_per_second: Option<f64>,
    pub time_to_first_token_seconds: Option<f64>,
    pub time_per_output_token_seconds: Option<f64>,
    pub end_to_end_seconds: Option<f64>,
    pub duration_seconds: Option<f64>,
    pub prompt_eval_tokens_per_second: Option<f64>,
    pub output_tokens: Option<u64>,
    /// Of the output tokens, those that were thinking; absent when none were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_tokens: Option<u64>,
    pub prompt_tokens: Option<u64>,
    /// The prompt size this request was built for (`--input-tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_prompt_tokens: Option<u64>,
    /// `server` or `content-chunks` (no count from the server: one token per chunk).
    pub token_count_source: Option<String>,
    pub done_reason: Option<String>,
    pub stopped_early: bool,
    pub load_duration_seconds: Option<f64>,
    pub reload_suspected: bool,
    pub error: Option<ErrorRecord>,
}

/// A prompt length's tok/s against the shortest prompt's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PromptLengthImpact {
    pub prompt_length: String,
    pub average_tokens_per_second: Option<f64>,
    /// Change from the first (shortest) prompt length, in percent (negative = slower).
    pub change_percent: Option<f64>,
    /// The reference: "Longer prompts typically show 10-20% lower throughput ... expected".
    pub assessment: String,
}

/// One concurrency level of one model and prompt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConcurrencyResult {
    pub model: String,
    pub prompt_length: String,
    pub concurrent_requests: u32,
    /// Total output tokens / wall time of the batch.
    pub aggregate_tokens_per_second: Option<f64>,
    /// Mean of the requests' own tok/s.
    pub per_request_tokens_per_second: Option<f64>,
    /// Mean tok/s of one request alone (concurrency 1) for the same model and prompt.
    pub single_stream_tokens_per_second: Option<f64>,
    /// Aggregate / (N x single stream), in percent (the reference: 45 -> 135 tok/s = 100%).
    pub efficiency_percent: Option<f64>,
    pub assessment: String,
    pub success_rate: f64,
    pub time_to_first_token_seconds: Option<Summary>,
}

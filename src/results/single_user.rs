//! The single-user result file: the reference's Benchmark 1 schema (`Timestamp`, `Model`,
//! `OllamaEndpoint`, `Measurements{...}`) with ollabench's added measurements, status, errors
//! and provenance.

use serde::{Deserialize, Serialize};

use super::{ErrorRecord, Provenance, RunStatus};

/// `DownloadStatus` / `LoadStatus` values.
pub mod status {
    /// Measured and succeeded.
    pub const SUCCESS: &str = "Success";
    /// The model was already on the server: the pull verified it, nothing was downloaded.
    pub const ALREADY_PRESENT: &str = "AlreadyPresent";
    /// Tried and failed (see `Errors`).
    pub const FAILED: &str = "Failed";
    /// Not reached (an earlier step failed, or the run was interrupted).
    pub const NOT_RUN: &str = "NotRun";
    /// Ctrl-C stopped it while it ran.
    pub const INTERRUPTED: &str = "Interrupted";
    /// The API cannot do it (OpenAI-compatible servers have no pull).
    pub const NOT_AVAILABLE: &str = "NotAvailable";
    /// Not attempted on purpose (`--skip-download`); the reason is recorded beside it.
    pub const SKIPPED: &str = "Skipped";
}

/// A single-user result file. `Measurements` is required; what the PowerShell suite does not
/// write (status, errors, provenance) defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SingleUserResult {
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub ollama_endpoint: String,
    pub measurements: SingleUserMeasurements,
    #[serde(default)]
    pub status: RunStatus,
    #[serde(default)]
    pub errors: Vec<ErrorRecord>,
    /// Doubts about a measurement that did not fail (a "cold" load that was not cold).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(default)]
    pub provenance: Provenance,
}

/// `Measurements`: the reference's fields first, then ollabench's. Durations are seconds;
/// `None` (null) means not measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SingleUserMeasurements {
    pub download_time_seconds: Option<f64>,
    pub download_status: String,
    pub load_time_cold_seconds: Option<f64>,
    pub load_time_warm_seconds: Option<f64>,
    pub load_status: String,
    /// Download + cold load, as the reference adds them (45.67 + 18.32 = 63.99).
    pub total_time_seconds: Option<f64>,
    /// Server-side decode speed of the first generation (`eval_count / eval_duration`).
    pub tokens_per_second: Option<f64>,

    /// Why `DownloadStatus` is what it is, when the status alone does not say (skipped, a
    /// failed pull of a model that was present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_status_reason: Option<String>,
    pub download_bytes: Option<u64>,
    pub download_megabytes_per_second: Option<f64>,
    pub load_megabytes_per_second_cold: Option<f64>,
    pub load_megabytes_per_second_warm: Option<f64>,
    /// The server's own `load_duration` of the first generation after the warm load (a few ms
    /// when the model is resident; large if the server reloaded it).
    pub server_load_duration_seconds: Option<f64>,
    /// Time the cold load's unload took to show in `/api/ps`.
    pub unload_wait_seconds: Option<f64>,
    pub time_to_first_token_seconds: Option<f64>,
    pub client_tokens_per_second: Option<f64>,
    pub prompt_eval_tokens_per_second: Option<f64>,
    pub output_tokens: Option<u64>,
    /// Of the output tokens, those that were thinking; absent when none were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_tokens: Option<u64>,
    pub done_reason: Option<String>,
    /// Whether `--drop-caches-cmd` ran before the cold load.
    pub caches_dropped: bool,
    /// The "cold" load took about as long as the warm one: the model file most likely came
    /// from the page cache, so the cold load was not cold.
    #[serde(default)]
    pub cold_load_suspect: bool,
}

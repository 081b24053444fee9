//! The multi-user result file: the reference's Benchmark 3 schema (`Summary`,
//! `IndividualResults[].Measurements`) with ollabench's timeline offsets, per-user errors, the
//! scaling analysis, status and provenance.

use serde::{Deserialize, Serialize};

use super::{ErrorRecord, Provenance, RunStatus};

/// A multi-user result file. `Summary` is required; what the PowerShell suite does not write
/// (scaling, status, errors, provenance) defaults, and 0 users means not recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiUserResult {
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub ollama_endpoint: String,
    #[serde(default)]
    pub concurrent_users: u32,
    #[serde(default)]
    pub models: Vec<String>,
    pub summary: MultiUserSummary,
    #[serde(default)]
    pub individual_results: Vec<UserResult>,
    #[serde(default)]
    pub scaling: Scaling,
    #[serde(default)]
    pub status: RunStatus,
    #[serde(default)]
    pub errors: Vec<ErrorRecord>,
    #[serde(default)]
    pub provenance: Provenance,
}

#[cfg(test)]
impl MultiUserResult {
    /// A simulated run (profile t4, time scale 0.05) of three users on phi3.5 that all
    /// succeeded in 125 s, and nothing else recorded: what tests of the readers start from.
    pub(crate) fn simulated_example() -> MultiUserResult {
        let mut provenance = Provenance::default();
        provenance.set_simulator("t4", 0.05);
        MultiUserResult {
            timestamp: "2025-10-31 15:00:00".into(),
            ollama_endpoint: "http://127.0.0.1:1".into(),
            concurrent_users: 3,
            models: vec!["phi3.5".into()],
            summary: MultiUserSummary {
                overall_duration_seconds: 125.0,
                total_users: 3,
                success_rate: 100.0,
                ..MultiUserSummary::default()
            },
            individual_results: vec![],
            scaling: Scaling::default(),
            status: RunStatus::Success,
            errors: vec![],
            provenance,
        }
    }
}

/// `Summary`: exactly the reference's fields. Times are seconds; `None` when no user got there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MultiUserSummary {
    pub overall_duration_seconds: f64,
    pub total_users: u32,
    pub successful_downloads: u32,
    pub successful_loads: u32,
    /// Users whose download and load both succeeded, in percent.
    pub success_rate: f64,
    pub average_download_time_seconds: Option<f64>,
    pub min_download_time_seconds: Option<f64>,
    pub max_download_time_seconds: Option<f64>,
    pub average_load_time_seconds: Option<f64>,
    pub min_load_time_seconds: Option<f64>,
    pub max_load_time_seconds: Option<f64>,
    pub average_throughput_tokens_per_second: Option<f64>,
}

/// `IndividualResults[]`. A user id of 0 means not recorded (ids start at 1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UserResult {
    pub user_id: u32,
    pub model: String,
    pub measurements: UserMeasurements,
    pub errors: Vec<ErrorRecord>,
}

/// A user's `Measurements`: the reference's fields first, then the timeline (offsets from the
/// moment all users started).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UserMeasurements {
    pub download_time_seconds: Option<f64>,
    pub download_status: String,
    pub load_time_seconds: Option<f64>,
    pub load_status: String,
    /// Download + load, as the reference adds them.
    pub total_time_seconds: Option<f64>,
    pub tokens_per_second: Option<f64>,

    pub download_start_seconds: Option<f64>,
    pub load_start_seconds: Option<f64>,
    pub generate_start_seconds: Option<f64>,
    pub generate_time_seconds: Option<f64>,
    pub generate_status: String,
    pub time_to_first_token_seconds: Option<f64>,
    /// Of the generation's output tokens, those that were thinking; absent when none were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_tokens: Option<u64>,
    pub download_bytes: Option<u64>,
    /// Why `DownloadStatus` is what it is, when the status alone does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_status_reason: Option<String>,
    /// The user's whole work: start to the end of its generation (or its failure).
    pub finished_seconds: Option<f64>,
}

/// The reference's scaling analysis of one multi-user run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Scaling {
    /// One user's time (download + cold load) that the efficiency compares against.
    pub single_user_time_seconds: Option<f64>,
    /// Where that time comes from: a baseline file, a user measured alone first, or this run.
    pub baseline_source: String,
    /// Users x single-user time: the time if users ran one after another.
    pub serial_estimate_seconds: Option<f64>,
    pub overall_duration_seconds: f64,
    pub time_saved_seconds: Option<f64>,
    pub time_saved_percent: Option<f64>,
    /// Serial estimate / overall duration.
    pub speedup: Option<f64>,
    /// Single-user time / overall duration, in percent (the reference: 63 s vs 125 s = 50%).
    pub efficiency_percent: Option<f64>,
    /// >70% excellent, 50-70% good, 30-50% acceptable, <30% poor (the reference's words).
    pub assessment: String,
    /// Max download time over average, in percent above the average.
    pub download_contention_percent: Option<f64>,
    pub contention_assessment: String,
}

//! Result files: serde models of the reference's JSON schemas (PascalCase, the reference's
//! nesting) plus ollabench's added fields, the provenance every file carries, the one reader
//! of every file (ours, older ones and the PowerShell suite's: [`read`]), and atomic writes
//! (temp file + rename) so that a file on disk is always complete.
//!
//! Fields the PowerShell suite's files lack are `#[serde(default)]`: such a file reads into
//! the same types, and [`read::Recorded`] says where a default stands for "not recorded".

pub mod capacity;
pub mod comparison;
pub mod load;
pub mod load_runs;
pub mod multi_user;
pub mod read;
pub mod runs;
pub mod single_user;
pub mod tokens_per_second;
pub mod write;

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The reference's Timestamp format (`2025-10-31 14:30:00`, local time).
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Now, in the reference's Timestamp format.
pub fn timestamp_now() -> String {
    chrono::Local::now().format(TIMESTAMP_FORMAT).to_string()
}

/// How a run ended, written as `Status` in every file. A file without one (the PowerShell
/// suite's) reads as `Success`; [`read::ResultFile::recorded`] keeps what it said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStatus {
    /// Everything measured succeeded.
    #[default]
    Success,
    /// The run finished, but some measurement failed (see `Errors`).
    Failed,
    /// Ctrl-C stopped the run; the file holds what was measured until then.
    Interrupted,
}

/// One failure, recorded in the file beside what was measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ErrorRecord {
    /// What was being done: download, load-cold, generate, ...
    pub phase: String,
    /// The error kind (a stable name, e.g. `connection-refused`, `http-404`).
    pub kind: String,
    pub message: String,
    pub hint: String,
}

/// What a model is, as the server describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ModelProvenance {
    pub name: String,
    pub digest: Option<String>,
    pub family: Option<String>,
    pub parameter_size: Option<String>,
    pub quantization: Option<String>,
    /// Bytes on disk (`/api/tags`).
    pub size_bytes: Option<u64>,
    /// Bytes in memory and in GPU memory once loaded (`/api/ps`).
    pub loaded_size_bytes: Option<u64>,
    pub size_vram_bytes: Option<u64>,
    /// Whether the whole model sat in GPU memory (`size_vram == size`).
    pub fully_in_gpu: Option<bool>,
}

/// How a result file was made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Provenance {
    pub ollabench_version: String,
    /// `/api/version`, or what the OpenAI server says about itself.
    pub server_version: Option<String>,
    /// `ollama` or `openai`.
    pub api: String,
    pub endpoint: String,
    /// How the endpoint was found: endpoint, port-forward, load-balancer, default, simulator.
    pub endpoint_resolved_by: String,
    /// Whether the target was ollabench's built-in simulator.
    pub simulated: bool,
    pub simulator_profile: Option<String>,
    /// The simulator's time scale: every simulated delay was multiplied by it.
    pub simulator_time_scale: Option<f64>,
    pub command_line: Vec<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub models: Vec<ModelProvenance>,
    /// The sampling settings sent with every request (`--temperature`, `--seed`, `--top-p`);
    /// absent when the server's defaults were used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<Sampling>,
}

/// Sampling settings passed through to the server unchanged; `None` keeps its default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Sampling {
    pub temperature: Option<f64>,
    pub seed: Option<i64>,
    pub top_p: Option<f64>,
}

impl Sampling {
    /// Whether anything is set.
    pub fn is_set(&self) -> bool {
        self.temperature.is_some() || self.seed.is_some() || self.top_p.is_some()
    }
}

impl Provenance {
    /// The provenance of a run starting now.
    pub fn start(api: &str, endpoint: &str, resolved_by: &str) -> Self {
        Provenance {
            ollabench_version: env!("CARGO_PKG_VERSION").to_string(),
            api: api.to_string(),
            endpoint: endpoint.to_string(),
            endpoint_resolved_by: resolved_by.to_string(),
            command_line: redacted_command_line(std::env::args()),
            started_at: chrono::Local::now().to_rfc3339(),
            ..Provenance::default()
        }
    }

    /// Records the simulator, from this process or from the simulator's header
    /// (`profile=t4 time-scale=0.05`).
    pub fn set_simulator(&mut self, profile: &str, time_scale: f64) {
        self.simulated = true;
        self.simulator_profile = Some(profile.to_string());
        self.simulator_time_scale = Some(time_scale);
    }

    /// Parses the simulator header and records it.
    pub fn set_simulator_from_header(&mut self, header: &str) {
        let mut profile = "unknown".to_string();
        let mut time_scale = 1.0;
        for part in header.split_whitespace() {
            if let Some(value) = part.strip_prefix("profile=") {
                profile = value.to_string();
            } else if let Some(value) = part.strip_prefix("time-scale=") {
                time_scale = value.parse().unwrap_or(1.0);
            }
        }
        self.set_simulator(&profile, time_scale);
    }

    /// A one-line note for terminals and summaries when the target was simulated.
    pub fn simulated_note(&self) -> Option<String> {
        self.simulated.then(|| {
            format!(
                "SIMULATED: numbers from ollabench's built-in simulator (profile {}, time scale {}),\n  not from real hardware",
                self.simulator_profile.as_deref().unwrap_or("unknown"),
                self.simulator_time_scale.unwrap_or(1.0)
            )
        })
    }

    /// The model's entry, created when missing.
    pub fn model_mut(&mut self, name: &str) -> &mut ModelProvenance {
        if let Some(index) = self.models.iter().position(|m| m.name == name) {
            return &mut self.models[index];
        }
        self.models.push(ModelProvenance {
            name: name.to_string(),
            ..ModelProvenance::default()
        });
        let last = self.models.len() - 1;
        &mut self.models[last]
    }
}

/// The command line with the value of `--api-key` hidden: secrets never reach a file.
pub fn redacted_command_line(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut redact_next = false;
    args.into_iter()
        .map(|arg| {
            if redact_next {
                redact_next = false;
                return "***".to_string();
            }
            if arg == "--api-key" {
                redact_next = true;
                return arg;
            }
            if arg.starts_with("--api-key=") {
                return "--api-key=***".to_string();
            }
            arg
        })
        .collect()
}

/// Writes `value` as pretty JSON to `path` atomically (see [`write::write_atomic`]).
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut bytes = serde_json::to_vec_pretty(value).context("cannot serialize the results")?;
    bytes.push(b'\n');
    write::write_atomic(path, &bytes)
}

/// Rounds to two decimals, as the reference's files show numbers.
pub fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_never_reach_the_command_line_record() {
        let args = [
            "ollabench",
            "tps",
            "--api-key",
            "sk-secret",
            "--api-key=sk-2",
            "--models",
            "m",
        ]
        .map(String::from);
        let redacted = redacted_command_line(args);
        assert!(!redacted.iter().any(|a| a.contains("sk-")), "{redacted:?}");
        assert_eq!(redacted[3], "***");
    }

    #[test]
    fn atomic_writes_leave_a_complete_file_and_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("x.json");
        write_json_atomic(&path, &serde_json::json!({"A": 1})).unwrap();
        write_json_atomic(&path, &serde_json::json!({"A": 2})).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap()["A"],
            2
        );
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn the_simulator_header_is_parsed() {
        let mut provenance = Provenance::default();
        provenance.set_simulator_from_header("profile=a100 time-scale=0.05");
        assert!(provenance.simulated);
        assert_eq!(provenance.simulator_profile.as_deref(), Some("a100"));
        assert_eq!(provenance.simulator_time_scale, Some(0.05));
        assert!(provenance
            .simulated_note()
            .unwrap()
            .contains("time scale 0.05"));
    }
}

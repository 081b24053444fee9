//! The normalised form of one result file (a [`Run`]): its kind, when it ran, what it tested and
//! the metrics it carries, whatever the file's spelling (ollabench's or the PowerShell suite's).
//! Everything downstream (tables, trends, the gate, verdicts) works on this form only.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// What a result file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// Benchmark 1: download, cold load, warm load, first generation (`single-user`).
    SingleUser,
    /// Benchmark 2: steady-state throughput by model and prompt length (`tokens-per-second`).
    TokensPerSecond,
    /// Benchmark 3: concurrent users (`multi-user`).
    MultiUser,
    /// A report written by `ollabench compare --output` (`"ReportType": "ComparisonReport"`).
    ComparisonReport,
}

impl Kind {
    /// The name used in output: the command's name.
    pub fn label(&self) -> &'static str {
        match self {
            Kind::SingleUser => "single-user",
            Kind::TokensPerSecond => "tokens-per-second",
            Kind::MultiUser => "multi-user",
            Kind::ComparisonReport => "comparison report",
        }
    }
}

/// Which direction of a metric is an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Better {
    /// Durations: lower is better.
    Lower,
    /// Throughput, success rate: higher is better.
    Higher,
}

/// The unit of a metric's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    Seconds,
    TokensPerSecond,
    Percent,
}

impl Unit {
    /// The suffix shown after a value.
    pub fn suffix(&self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::TokensPerSecond => "tok/s",
            Unit::Percent => "%",
        }
    }
}

/// One number of a run. `Name` is the reference's field name (`LoadTimeColdSeconds`,
/// `AverageTokensPerSecond`, `OverallDurationSeconds`, ...); `Subject` says what it is about
/// when a file holds several (`llama3.1:8b/Short` for a tokens-per-second cell).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metric {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub value: f64,
    pub unit: Unit,
    pub better: Better,
    /// The spread of the samples behind `value` (sample standard deviation), when the file
    /// records one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std_dev: Option<f64>,
    /// How many samples `value` and `std_dev` come from, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_size: Option<usize>,
}

impl Metric {
    /// A metric without spread.
    pub fn new(name: &str, value: f64, unit: Unit, better: Better) -> Self {
        Metric {
            name: name.to_string(),
            subject: None,
            value,
            unit,
            better,
            std_dev: None,
            sample_size: None,
        }
    }

    /// The metric's identity within its kind: `Name` or `Name[Subject]`.
    pub fn key(&self) -> String {
        match &self.subject {
            Some(subject) => format!("{}[{}]", self.name, subject),
            None => self.name.clone(),
        }
    }
}

/// One run: one result file (or one element of a file holding an array of results).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Run {
    /// The file it came from, as given on the command line or found in a folder.
    pub source: String,
    /// A short unique name for tables: the file name without `.json`, with its folder when
    /// two files share a name.
    #[serde(default)]
    pub label: String,
    pub kind: Kind,
    /// The file's Timestamp, normalised to `yyyy-MM-dd HH:mm:ss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The model(s) the run tested.
    #[serde(default)]
    pub models: Vec<String>,
    /// Multi-user: how many users ran at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_users: Option<u32>,
    /// Tokens-per-second: concurrent requests of the measured cells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_requests: Option<u32>,
    /// Multi-user: the single-user time the file itself records (`Scaling.SingleUserTimeSeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_user_time_seconds: Option<f64>,
    /// Parameter size per model when the file records it (`Provenance.Models[].ParameterSize`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameter_sizes: Vec<(String, String)>,
    /// Whether ollabench's simulator produced it (`Provenance.Simulated`).
    #[serde(default)]
    pub simulated: bool,
    /// The simulator's time scale (`Provenance.SimulatorTimeScale`): its durations were
    /// multiplied by it, its rates divided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulator_time_scale: Option<f64>,
    /// Whether it came from `--baseline`.
    #[serde(default)]
    pub baseline: bool,
    /// The file's `Status` (Success, Failed, Interrupted), when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Things worth knowing about the file (a step not measured, an interrupted run, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub metrics: Vec<Metric>,
}

impl Run {
    /// The metric with this key (see [`Metric::key`]).
    pub fn metric(&self, key: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.key() == key)
    }

    /// The value of the unqualified metric `name`.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.name == name && m.subject.is_none())
            .map(|m| m.value)
    }

    /// The parsed Timestamp.
    pub fn time(&self) -> Option<NaiveDateTime> {
        self.timestamp
            .as_deref()
            .and_then(|t| NaiveDateTime::parse_from_str(t, super::read::TIMESTAMP_FORMAT).ok())
    }

    /// The runs compared with one another as a trend: same kind and same configuration
    /// (single-user: the model; tokens-per-second: the models and concurrency; multi-user: the
    /// number of users). Like is compared with like, as the reference asks.
    pub fn group_key(&self) -> String {
        match self.kind {
            Kind::SingleUser => format!("model {}", self.models_text()),
            Kind::TokensPerSecond => {
                let mut text = format!("models {}", self.models_text());
                if let Some(requests) = self.concurrent_requests.filter(|r| *r > 1) {
                    text.push_str(&format!(", {requests} concurrent requests"));
                }
                text
            }
            Kind::MultiUser => match self.concurrent_users {
                Some(1) => "1 user".to_string(),
                Some(users) => format!("{users} users"),
                None => "users unknown".to_string(),
            },
            Kind::ComparisonReport => "report".to_string(),
        }
    }

    /// The models as one comma-separated text.
    pub fn models_text(&self) -> String {
        if self.models.is_empty() {
            "(not recorded)".to_string()
        } else {
            self.models.join(", ")
        }
    }
}

//! The comparison report's model of a result file: a [`Run`] is one result file (or one
//! element of a file holding an array) in the flat form `compare` works on (its kind, when it
//! ran, what it tested, the metrics it carries, whatever the file's spelling), and the form a
//! comparison report stores (`Runs[]`). [`ComparisonFile`] is what a comparison report holds
//! that a reader of it uses again: its runs, groups and verdicts.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

pub use super::read::Kind;

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
    /// Requests a second (load and capacity).
    RequestsPerSecond,
    /// Requests in flight (a capacity searched by concurrency).
    Concurrency,
}

impl Unit {
    /// The suffix shown after a value.
    pub fn suffix(&self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::TokensPerSecond => "tok/s",
            Unit::Percent => "%",
            Unit::RequestsPerSecond => "req/s",
            Unit::Concurrency => "in flight",
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
    /// An extreme of single samples (a min or a max): shown and trended, but never gated,
    /// since one slow sample on a busy machine moves it while every cell's mean holds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub extreme: bool,
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
            extreme: false,
        }
    }

    /// A throughput in tokens per second (higher is better), without spread.
    pub fn tokens_per_second(name: &str, value: f64) -> Self {
        Metric::new(name, value, Unit::TokensPerSecond, Better::Higher)
    }

    /// The metric with the standard deviation and number of the samples behind it.
    pub fn with_spread(self, std_dev: Option<f64>, sample_size: Option<usize>) -> Self {
        Metric {
            std_dev,
            sample_size,
            ..self
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
    /// A run of `kind` read from `source`, with nothing yet known of it.
    pub fn new(kind: Kind, source: impl Into<String>) -> Run {
        Run {
            source: source.into(),
            label: String::new(),
            kind,
            timestamp: None,
            models: Vec::new(),
            concurrent_users: None,
            concurrent_requests: None,
            single_user_time_seconds: None,
            parameter_sizes: Vec::new(),
            simulated: false,
            simulator_time_scale: None,
            baseline: false,
            status: None,
            notes: Vec::new(),
            metrics: Vec::new(),
        }
    }

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
            .and_then(|t| NaiveDateTime::parse_from_str(t, super::TIMESTAMP_FORMAT).ok())
    }

    /// The runs compared with one another as a trend: same kind and same configuration
    /// (single-user: the model; tokens-per-second: the models and concurrency; multi-user: the
    /// number of users), and the same kind of target: a simulated run is never compared with
    /// a real one. Like is compared with like, as the reference asks. `compare` groups by it,
    /// and so do the report's trends.
    pub fn group_key(&self) -> String {
        let mut key = match self.kind {
            Kind::SingleUser => format!("model {}", self.models_text()),
            Kind::TokensPerSecond => {
                let mut models = self.models.clone();
                models.sort();
                models.dedup();
                let mut text = if models.is_empty() {
                    "models (not recorded)".to_string()
                } else {
                    format!("models {}", models.join(", "))
                };
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
            Kind::Load => format!("model {}, load steps", self.models_text()),
            Kind::ComparisonReport => "report".to_string(),
            Kind::Capacity => format!("model {}, capacity search", self.models_text()),
        };
        if self.simulated {
            key.push_str(" (simulated)");
        }
        key
    }

    /// The group's name in headings: `single-user, model llama3.1:8b`.
    pub fn group_name(&self) -> String {
        format!("{}, {}", self.kind.label(), self.group_key())
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

/// What a comparison report holds besides its runs' metrics, as far as a reader of it uses it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ComparisonFile {
    /// The runs it compared (the reader requires the member: a report without it is unusable).
    pub runs: Vec<Run>,
    /// The groups it formed; empty in older or hand-written reports.
    pub groups: Vec<RecordedGroup>,
    /// The verdicts it gave, by run.
    pub verdicts: Vec<RecordedRunVerdicts>,
    /// The hardware and model size the verdicts assume.
    pub targets: Option<String>,
    /// The run it compared against, named at its top level (hand-written reports).
    pub baseline: Option<RecordedBaseline>,
}

/// A group of runs the comparison compared as a trend (`Groups[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RecordedGroup {
    pub kind: Option<Kind>,
    /// What the runs share (`model llama3.1:8b`).
    pub key: Option<String>,
    /// Labels of its runs, in Timestamp order.
    pub runs: Vec<String>,
    /// The baseline's label (a run, or a mean of several `--baseline` runs).
    pub baseline: Option<String>,
}

/// The run a report names as its baseline: a label, or the run itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RecordedBaseline {
    Label(String),
    #[serde(rename_all = "PascalCase")]
    Run {
        label: Option<String>,
        source: Option<String>,
    },
}

impl RecordedBaseline {
    /// The label, or else the source, it names.
    pub fn name(&self) -> Option<&str> {
        match self {
            RecordedBaseline::Label(label) => Some(label),
            RecordedBaseline::Run { label, source } => label.as_deref().or(source.as_deref()),
        }
    }
}

/// The verdicts of one run (`Verdicts[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RecordedRunVerdicts {
    pub run: String,
    pub verdicts: Vec<RecordedVerdict>,
}

/// One verdict as the report wrote it; names and levels are kept as text, so that a report
/// written by another version still reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RecordedVerdict {
    pub metric: String,
    pub subject: Option<String>,
    pub value: Option<f64>,
    pub unit: String,
    pub level: String,
    pub thresholds: Option<String>,
    pub advice: Option<String>,
    pub caveat: Option<String>,
}

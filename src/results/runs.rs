//! `compare`'s side of reading result files: every file goes through the one reader in
//! [`crate::results::read`] (decoding, PowerShell's spellings, kind detection, typed errors),
//! and each [`ResultFile`] it gives becomes a [`Run`]: the metrics `compare` tracks, with
//! notes on what was not measured. Run labels are given here too.
//!
//! The functions a caller outside `compare` may use keep their names here ([`load_file`],
//! [`parse_json`], [`runs_from_value`]); they are thin wrappers of the reader.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::results::comparison::{Better, Metric, Run, Unit};
use crate::results::load::LoadResult;
use crate::results::read::{self, Body, ReadError, ResultFile};
use crate::results::{comparison::ComparisonFile, tokens_per_second::TpsResult};
use crate::results::{multi_user::MultiUserResult, single_user::SingleUserResult};
use crate::stats;

pub use crate::results::read::REPORT_TYPE;

/// The reference's Timestamp format, which every [`Run::timestamp`] is normalised to.
pub const TIMESTAMP_FORMAT: &str = crate::results::TIMESTAMP_FORMAT;

/// Why a file could not be used, as the comparison report records it (`Errors[]`): the
/// reader's [`ReadError`] in a serialisable form that prints the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FileError {
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(
                f,
                "{}: line {line}, column {column}: {}",
                self.file, self.message
            ),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl From<&ReadError> for FileError {
    fn from(err: &ReadError) -> Self {
        FileError {
            file: err.path().to_string(),
            line: err.line(),
            column: err.column(),
            message: err.message(),
        }
    }
}

/// What reading a set of paths gave: every run read, in the order found (files in argument
/// order, folders sorted by path), and the files that gave none.
pub type Loaded = read::Loaded<Run, FileError>;

/// Reads every path: a file, or a folder meaning every `*.json` below it (hidden folders
/// skipped). Bad files become errors; nothing here fails as a whole.
pub fn load_paths(paths: &[PathBuf]) -> Loaded {
    let mut loaded = read::read_paths(paths).map(runs_of, |err| FileError::from(err));
    deduplicate(&mut loaded.results);
    assign_labels(&mut loaded.results);
    loaded
}

/// Why [`load_file`] gave nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// Valid JSON, but no kind of result file ollabench knows.
    NotAResultFile(FileError),
    /// Unreadable, empty, malformed, or a known kind with fields missing.
    Unusable(FileError),
}

impl LoadError {
    /// The error, whichever it is.
    pub fn error(&self) -> &FileError {
        match self {
            LoadError::NotAResultFile(err) | LoadError::Unusable(err) => err,
        }
    }
}

impl From<ReadError> for LoadError {
    fn from(err: ReadError) -> Self {
        if err.is_unknown_kind() {
            LoadError::NotAResultFile(FileError::from(&err))
        } else {
            LoadError::Unusable(FileError::from(&err))
        }
    }
}

/// Reads one file into its run(s): one, or one per element when the file holds an array.
pub fn load_file(path: &Path) -> Result<Vec<Run>, LoadError> {
    let files = read::read_file(path)?;
    Ok(files.iter().flat_map(runs_of).collect())
}

/// Decodes (UTF-8 or UTF-16, byte-order mark removed) and parses JSON. The error's `file` is
/// left empty for the caller.
pub fn parse_json(bytes: &[u8]) -> Result<Value, FileError> {
    read::parse_json(bytes, "").map_err(|err| FileError::from(&err))
}

/// Turns a parsed file into runs. `source` names the file in runs and errors.
pub fn runs_from_value(value: &Value, source: &str) -> Result<Vec<Run>, LoadError> {
    let files = read::from_value(value, source)?;
    Ok(files.iter().flat_map(runs_of).collect())
}

/// The runs of one result: itself, or the runs a comparison report holds.
pub fn runs_of(file: &ResultFile) -> Vec<Run> {
    let mut run = Run {
        timestamp: file.timestamp_text(),
        simulated: file.simulated(),
        status: file.recorded.status.clone(),
        notes: file.notes.clone(),
        ..Run::new(file.kind, file.source.clone())
    };
    if let Some(provenance) = file.provenance() {
        run.simulator_time_scale = provenance.simulator_time_scale.filter(|s| *s > 0.0);
        run.parameter_sizes = provenance
            .models
            .iter()
            .filter(|m| !m.name.is_empty())
            .filter_map(|m| Some((m.name.clone(), m.parameter_size.clone()?)))
            .collect();
    }
    match run.status.as_deref() {
        Some(status) if status.eq_ignore_ascii_case("interrupted") => run
            .notes
            .push("interrupted run: the file holds what was measured until Ctrl-C".to_string()),
        Some(status) if status.eq_ignore_ascii_case("failed") => run
            .notes
            .push("the run recorded failures (see its Errors)".to_string()),
        _ => {}
    }
    match &file.body {
        Body::SingleUser(result) => single_user(result, &mut run),
        Body::TokensPerSecond(result) => tokens_per_second(result, file, &mut run),
        Body::MultiUser(result) => multi_user(result, file, &mut run),
        Body::Load(result) => load(result, &mut run),
        Body::Comparison(report) => return report_runs(report),
        Body::Capacity(result) => super::load_runs::capacity(result, &mut run),
    }
    vec![run]
}

fn report_runs(report: &ComparisonFile) -> Vec<Run> {
    report
        .runs
        .iter()
        .cloned()
        .map(|mut run| {
            run.label = String::new();
            run.baseline = false;
            run
        })
        .collect()
}

/// Text the file recorded; empty means not recorded.
fn recorded(text: &str) -> Option<&str> {
    let text = text.trim();
    (!text.is_empty()).then_some(text)
}

/// A count the file recorded; 0 means not recorded.
fn count<T: Copy + Default + PartialEq>(value: T) -> Option<T> {
    (value != T::default()).then_some(value)
}

/// A load file's steps, each its own subject (`c=4`, `2 req/s`): output throughput, TTFT and
/// e2e p99 from the scheduled send time, success rate and SLO attainment.
fn load(result: &LoadResult, run: &mut Run) {
    if let Some(model) = recorded(&result.configuration.model) {
        run.models.push(model.to_string());
    }
    for step in &result.steps {
        let subject = match (step.concurrency, step.request_rate) {
            (Some(c), _) => format!("c={c}"),
            (None, Some(rate)) => format!("{rate} req/s"),
            (None, None) => continue,
        };
        let scheduled = &step.latency_from_scheduled;
        let seconds = |ms: Option<f64>| ms.map(|ms| ms / 1000.0);
        for (name, value, unit, better) in [
            (
                "OutputTokensPerSecond",
                step.throughput.output_tokens_per_second,
                Unit::TokensPerSecond,
                Better::Higher,
            ),
            (
                "TtftP99Seconds",
                seconds(scheduled.time_to_first_token_ms.map(|s| s.p99)),
                Unit::Seconds,
                Better::Lower,
            ),
            (
                "EndToEndP99Seconds",
                seconds(scheduled.end_to_end_ms.map(|s| s.p99)),
                Unit::Seconds,
                Better::Lower,
            ),
            (
                "SuccessRate",
                Some(step.requests.success_rate),
                Unit::Percent,
                Better::Higher,
            ),
            (
                "SloAttainmentPercent",
                step.slo.as_ref().and_then(|s| s.attainment_percent),
                Unit::Percent,
                Better::Higher,
            ),
        ] {
            if let Some(value) = value {
                let mut metric = Metric::new(name, value, unit, better);
                metric.subject = Some(subject.clone());
                run.metrics.push(metric);
            }
        }
    }
}

fn single_user(result: &SingleUserResult, run: &mut Run) {
    if let Some(model) = recorded(&result.model) {
        run.models.push(model.to_string());
    }
    let m = &result.measurements;
    let download_measured = step_measured("download", recorded(&m.download_status), run);
    let load_measured = step_measured("load", recorded(&m.load_status), run);
    for (field, value, unit, better, measured) in [
        (
            "DownloadTimeSeconds",
            m.download_time_seconds,
            Unit::Seconds,
            Better::Lower,
            download_measured,
        ),
        (
            "LoadTimeColdSeconds",
            m.load_time_cold_seconds,
            Unit::Seconds,
            Better::Lower,
            load_measured,
        ),
        (
            "LoadTimeWarmSeconds",
            m.load_time_warm_seconds,
            Unit::Seconds,
            Better::Lower,
            load_measured,
        ),
        (
            "TotalTimeSeconds",
            m.total_time_seconds,
            Unit::Seconds,
            Better::Lower,
            download_measured && load_measured,
        ),
        (
            "TokensPerSecond",
            m.tokens_per_second,
            Unit::TokensPerSecond,
            Better::Higher,
            true,
        ),
    ] {
        if let Some(value) = value.filter(|v| v.is_finite() && measured) {
            run.metrics.push(Metric::new(field, value, unit, better));
        }
    }
    if run.metrics.is_empty() {
        run.notes
            .push("nothing was measured in this run".to_string());
    }
}

/// Whether a step's time is a measurement, from its status; a note says why when it is not.
fn step_measured(step: &str, status: Option<&str>, run: &mut Run) -> bool {
    let Some(status) = status else {
        return true;
    };
    if ["success", "succeeded", "completed", "ok"]
        .iter()
        .any(|ok| status.eq_ignore_ascii_case(ok))
    {
        return true;
    }
    let why = if status.eq_ignore_ascii_case("AlreadyPresent") {
        "the model was already on the server, so no download was timed".to_string()
    } else {
        format!("status {status}")
    };
    run.notes.push(format!("{step} time not compared: {why}"));
    false
}

fn tokens_per_second(result: &TpsResult, file: &ResultFile, run: &mut Run) {
    run.concurrent_requests = count(result.configuration.concurrent_requests);
    let summary = &result.summary;

    struct Cell {
        model: String,
        prompt_length: String,
        average: f64,
        min: Option<f64>,
        max: Option<f64>,
        std_dev: Option<f64>,
        sample_size: Option<usize>,
    }
    let mut cells = Vec::new();
    for (model_index, model_result) in result.model_results.iter().enumerate() {
        let model = recorded(&model_result.model)
            .map(String::from)
            .unwrap_or_else(|| format!("model {}", model_index + 1));
        if !run.models.contains(&model) {
            run.models.push(model.clone());
        }
        for (prompt_index, prompt_result) in model_result.prompt_results.iter().enumerate() {
            let statistics = &prompt_result.statistics;
            let Some(average) = statistics.average_tokens_per_second else {
                continue;
            };
            let mut prompt_length = recorded(&prompt_result.prompt_length)
                .map(String::from)
                .unwrap_or_else(|| format!("prompt {}", prompt_index + 1));
            let cell_requests = count(prompt_result.concurrent_requests);
            if let Some(requests) = cell_requests.filter(|r| Some(*r) != run.concurrent_requests) {
                prompt_length = format!("{prompt_length} x{requests}");
            }
            cells.push(Cell {
                model: model.clone(),
                prompt_length,
                average,
                min: statistics.min_tokens_per_second,
                max: statistics.max_tokens_per_second,
                std_dev: statistics.std_dev_tokens_per_second,
                sample_size: count(statistics.sample_size),
            });
        }
    }
    if run.models.is_empty() {
        run.models = result
            .configuration
            .models
            .iter()
            .filter_map(|m| recorded(m).map(String::from))
            .collect();
    }

    // The overall average's noise: the within-cell spread, pooled. Differences between cells
    // (models, prompt lengths) are the configuration, not noise.
    let pooled_std_dev = {
        let with_sd: Vec<&Cell> = cells.iter().filter(|c| c.std_dev.is_some()).collect();
        if with_sd.is_empty() {
            None
        } else if with_sd
            .iter()
            .all(|c| c.sample_size.is_some_and(|n| n >= 2))
        {
            let (squares, freedom) = with_sd.iter().fold((0.0, 0.0), |(s, f), c| {
                let n = c.sample_size.unwrap_or(2) as f64;
                let sd = c.std_dev.unwrap_or(0.0);
                (s + (n - 1.0) * sd * sd, f + (n - 1.0))
            });
            Some((squares / freedom).sqrt())
        } else {
            let squares: Vec<f64> = with_sd
                .iter()
                .map(|c| c.std_dev.unwrap_or(0.0).powi(2))
                .collect();
            stats::mean(&squares).map(f64::sqrt)
        }
    };
    let cell_samples: Option<usize> = cells.iter().map(|c| c.sample_size).sum();
    let total_samples = count(summary.total_samples)
        .or(cell_samples)
        .filter(|n| *n > 0);

    let mut overall_average = summary.overall_average_tokens_per_second;
    let mut overall_min = summary.overall_min_tokens_per_second;
    let mut overall_max = summary.overall_max_tokens_per_second;
    if overall_average.is_none() && !cells.is_empty() {
        let weights: Vec<f64> = cells
            .iter()
            .map(|c| c.sample_size.unwrap_or(1).max(1) as f64)
            .collect();
        let weighted: f64 = cells.iter().zip(&weights).map(|(c, w)| c.average * w).sum();
        overall_average = Some(weighted / weights.iter().sum::<f64>());
        overall_min = overall_min.or_else(|| cells.iter().filter_map(|c| c.min).reduce(f64::min));
        overall_max = overall_max.or_else(|| cells.iter().filter_map(|c| c.max).reduce(f64::max));
        run.notes.push(
            "Summary.OverallAverageTokensPerSecond missing: computed from the prompt results"
                .to_string(),
        );
    }
    // The reader has checked that one of the two is there.
    if let Some(overall_average) = overall_average {
        run.metrics.push(
            Metric::tokens_per_second("OverallAverageTokensPerSecond", overall_average)
                .with_spread(pooled_std_dev, total_samples),
        );
    }
    for (field, value) in [
        ("OverallMinTokensPerSecond", overall_min),
        ("OverallMaxTokensPerSecond", overall_max),
    ] {
        if let Some(value) = value {
            // Extremes of single samples: their noise is a sample's spread, not a mean's.
            run.metrics.push(Metric {
                extreme: true,
                ..Metric::tokens_per_second(field, value).with_spread(pooled_std_dev, None)
            });
        }
    }
    if file.recorded.success_rate && summary.success_rate.is_finite() {
        run.metrics.push(Metric::new(
            "SuccessRate",
            summary.success_rate,
            Unit::Percent,
            Better::Higher,
        ));
    }
    for cell in cells {
        run.metrics.push(Metric {
            subject: Some(format!("{}/{}", cell.model, cell.prompt_length)),
            ..Metric::tokens_per_second("AverageTokensPerSecond", cell.average)
                .with_spread(cell.std_dev, cell.sample_size)
        });
    }
}

fn multi_user(result: &MultiUserResult, file: &ResultFile, run: &mut Run) {
    let summary = &result.summary;
    run.concurrent_users = read::users(result);
    run.models = result
        .models
        .iter()
        .filter_map(|m| recorded(m).map(String::from))
        .collect();
    if run.models.is_empty() {
        for user in &result.individual_results {
            if let Some(model) = recorded(&user.model) {
                if !run.models.iter().any(|m| m == model) {
                    run.models.push(model.to_string());
                }
            }
        }
    }
    let success_rate = Some(summary.success_rate).filter(|_| file.recorded.success_rate);
    // The duration first: it is what scaling is about.
    for (field, value, unit, better) in [
        (
            "OverallDurationSeconds",
            Some(summary.overall_duration_seconds),
            Unit::Seconds,
            Better::Lower,
        ),
        (
            "AverageThroughputTokensPerSecond",
            summary.average_throughput_tokens_per_second,
            Unit::TokensPerSecond,
            Better::Higher,
        ),
        (
            "MaxLoadTimeSeconds",
            summary.max_load_time_seconds,
            Unit::Seconds,
            Better::Lower,
        ),
        (
            "MinLoadTimeSeconds",
            summary.min_load_time_seconds,
            Unit::Seconds,
            Better::Lower,
        ),
        (
            "AverageLoadTimeSeconds",
            summary.average_load_time_seconds,
            Unit::Seconds,
            Better::Lower,
        ),
        (
            "MaxDownloadTimeSeconds",
            summary.max_download_time_seconds,
            Unit::Seconds,
            Better::Lower,
        ),
        (
            "MinDownloadTimeSeconds",
            summary.min_download_time_seconds,
            Unit::Seconds,
            Better::Lower,
        ),
        (
            "AverageDownloadTimeSeconds",
            summary.average_download_time_seconds,
            Unit::Seconds,
            Better::Lower,
        ),
        ("SuccessRate", success_rate, Unit::Percent, Better::Higher),
    ] {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            run.metrics.push(Metric::new(field, value, unit, better));
        }
    }
    run.single_user_time_seconds = result
        .scaling
        .single_user_time_seconds
        .filter(|t| t.is_finite());
}

/// Identical runs read twice (a file and a report that holds it) count once. A simulated run
/// is never the same as a real one, whatever its numbers.
pub(crate) fn deduplicate(runs: &mut Vec<Run>) {
    let mut seen = HashSet::new();
    runs.retain(|run| {
        let identity = serde_json::to_string(&(
            run.kind,
            &run.timestamp,
            &run.models,
            run.concurrent_users,
            run.simulated,
            &run.metrics,
        ))
        .unwrap_or_default();
        seen.insert(identity)
    });
}

/// Gives every run a short unique label: the file name without `.json` (and `#N` for an
/// element of an array file); with its folder when names repeat; the whole path otherwise.
pub fn assign_labels(runs: &mut [Run]) {
    fn short(source: &str, with_folder: bool) -> String {
        let (path, element) = match source.rsplit_once('#') {
            Some((path, n)) if n.chars().all(|c| c.is_ascii_digit()) => (path, Some(n)),
            _ => (source, None),
        };
        let path = Path::new(path);
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| source.to_string());
        let mut label = match (with_folder, path.parent().and_then(|p| p.file_name())) {
            (true, Some(folder)) => format!("{}/{stem}", folder.to_string_lossy()),
            _ => stem,
        };
        if let Some(n) = element {
            label.push('#');
            label.push_str(n);
        }
        label
    }
    // Shortest first: the file name, then with its folder, then the whole path.
    let candidate = |run: &Run, level: usize| match level {
        0 => short(&run.source, false),
        1 => short(&run.source, true),
        _ => run.source.clone(),
    };
    let mut labels: Vec<String> = runs.iter().map(|r| candidate(r, 0)).collect();
    for level in 1..3 {
        let duplicated: Vec<bool> = labels
            .iter()
            .map(|l| labels.iter().filter(|o| *o == l).count() > 1)
            .collect();
        if !duplicated.iter().any(|d| *d) {
            break;
        }
        for (index, run) in runs.iter().enumerate() {
            if duplicated[index] {
                labels[index] = candidate(run, level);
            }
        }
    }
    // Still equal (the same file read twice with different content): number them.
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for (run, label) in runs.iter_mut().zip(labels) {
        let count = counts.entry(label.clone()).or_insert(0);
        *count += 1;
        run.label = if *count > 1 {
            format!("{label} ({count})")
        } else {
            label
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::comparison::Kind;
    use serde_json::json;

    fn runs(value: Value) -> Vec<Run> {
        runs_from_value(&value, "f.json").unwrap()
    }

    #[test]
    fn steps_not_measured_are_left_out_with_a_note() {
        let run = &runs(json!({
            "Model": "phi3.5",
            "Status": "Interrupted",
            "Measurements": {"DownloadTimeSeconds": 1.5, "DownloadStatus": "AlreadyPresent",
                             "LoadTimeColdSeconds": 9, "LoadStatus": "Success",
                             "TotalTimeSeconds": 10.5, "TokensPerSecond": 40}
        }))[0];
        assert_eq!(run.value("DownloadTimeSeconds"), None);
        assert_eq!(run.value("TotalTimeSeconds"), None);
        assert_eq!(run.value("LoadTimeColdSeconds"), Some(9.0));
        assert!(run.notes.iter().any(|n| n.contains("interrupted run")));
        assert!(run
            .notes
            .iter()
            .any(|n| n.contains("already on the server")));
    }

    #[test]
    fn a_file_in_another_spelling_gives_the_same_run() {
        let canonical = runs(json!({
            "Timestamp": "2025-11-05 10:00:00",
            "Configuration": {"ConcurrentRequests": 1},
            "Summary": {"OverallAverageTokensPerSecond": 42.1, "TotalSamples": 5},
            "ModelResults": [{"Model": "m", "PromptResults": [{"PromptLength": "Short",
                "Statistics": {"AverageTokensPerSecond": 42.1, "StdDevTokensPerSecond": 1.9,
                               "SampleSize": 5}}]}]
        }));
        let powershell = runs(json!({
            "timestamp": "2025-11-05T10:00:00+01:00",
            "configuration": {"concurrentRequests": "1"},
            "SUMMARY": {"overallAverageTokensPerSecond": "42.1", "totalSamples": "5"},
            "modelResults": {"model": "m", "promptResults": {"promptLength": "Short",
                "statistics": {"averageTokensPerSecond": "42.1", "stdDevTokensPerSecond": "1.9",
                               "sampleSize": "5"}}}
        }));
        assert_eq!(canonical, powershell);
        // The suite records no request counts: no success rate is invented.
        assert_eq!(canonical[0].value("SuccessRate"), None);
    }

    #[test]
    fn a_simulated_run_is_never_grouped_or_deduplicated_with_a_real_one() {
        let file = |simulated: bool| {
            json!({"Timestamp": "2025-11-05 10:00:00", "Model": "m",
                   "Measurements": {"TokensPerSecond": 40},
                   "Provenance": {"Simulated": simulated}})
        };
        let real = runs(file(false)).remove(0);
        let simulated = runs(file(true)).remove(0);
        assert!(simulated.simulated && !real.simulated);
        assert_ne!(real.group_key(), simulated.group_key());
        assert_eq!(simulated.group_name(), "single-user, model m (simulated)");
        let mut both = vec![real, simulated];
        deduplicate(&mut both);
        assert_eq!(both.len(), 2);
    }

    /// ollabench's own result structs, serialised, read back: the contract between the
    /// writers in `results` and this reader.
    #[test]
    fn ollabench_result_files_are_read() {
        use crate::results::multi_user::{MultiUserResult, MultiUserSummary, Scaling};
        use crate::results::tokens_per_second::{
            LatencyMetrics, ModelResult, PromptResult, RequestCounts, Statistics, TpsConfiguration,
            TpsResult, TpsSummary,
        };
        use crate::results::RunStatus;

        let example = MultiUserResult::simulated_example();
        let provenance = example.provenance.clone();
        let multi = MultiUserResult {
            models: vec!["phi3.5".into(), "llama3.1:8b".into()],
            summary: MultiUserSummary {
                average_download_time_seconds: Some(38.21),
                max_download_time_seconds: Some(52.1),
                ..example.summary.clone()
            },
            scaling: Scaling {
                single_user_time_seconds: Some(63.0),
                ..Scaling::default()
            },
            ..example
        };
        let value = serde_json::to_value(&multi).unwrap();
        let run = &runs_from_value(&value, "multi.json").unwrap()[0];
        assert_eq!(run.kind, Kind::MultiUser);
        assert_eq!(run.concurrent_users, Some(3));
        assert_eq!(run.single_user_time_seconds, Some(63.0));
        assert_eq!(run.value("OverallDurationSeconds"), Some(125.0));
        assert_eq!(run.value("AverageLoadTimeSeconds"), None);
        assert!(run.simulated);

        let prompt = PromptResult {
            prompt_length: "Short".into(),
            partial: false,
            histograms: None,
            prompt_characters: 55,
            statistics: Statistics {
                average_tokens_per_second: Some(43.2),
                std_dev_tokens_per_second: Some(1.8),
                sample_size: 5,
                ..Statistics::default()
            },
            concurrent_requests: 1,
            prompt_tokens: None,
            metrics: LatencyMetrics::default(),
            aggregate_tokens_per_second: None,
            wall_seconds: 1.0,
            requests: RequestCounts::default(),
            client_server_difference_percent: None,
            client_server_disagreement: false,
            stopped_early: 0,
            thinking_tokens: None,
            reloads_flagged: 0,
            outliers: vec![],
            samples: vec![],
            warmup: vec![],
            ..PromptResult::default()
        };
        let tps = TpsResult {
            timestamp: "2025-10-31 16:00:00".into(),
            configuration: TpsConfiguration {
                generation_tokens: 100,
                warmup_runs: 2,
                measurement_runs: 5,
                concurrent_requests: 1,
                concurrency_levels: vec![1],
                models: vec!["llama3.1:8b".into()],
                prompt_lengths: vec!["short".into()],
                route: "generate".into(),
                tokens_per_second_source: "server".into(),
                think: None,
                ..TpsConfiguration::default()
            },
            summary: TpsSummary {
                overall_average_tokens_per_second: Some(43.2),
                total_samples: 5,
                success_rate: 100.0,
                ..TpsSummary::default()
            },
            model_results: vec![ModelResult {
                model: "llama3.1:8b".into(),
                prompt_results: vec![prompt],
                prompt_length_impact: vec![],
                preload_seconds: None,
                ..ModelResult::default()
            }],
            concurrency: vec![],
            status: RunStatus::Success,
            errors: vec![],
            provenance,
            ..TpsResult::default()
        };
        let value = serde_json::to_value(&tps).unwrap();
        let run = &runs_from_value(&value, "tps.json").unwrap()[0];
        assert_eq!(run.kind, Kind::TokensPerSecond);
        let cell = run
            .metric("AverageTokensPerSecond[llama3.1:8b/Short]")
            .unwrap();
        assert_eq!(
            (cell.value, cell.std_dev, cell.sample_size),
            (43.2, Some(1.8), Some(5))
        );
        assert_eq!(run.value("SuccessRate"), Some(100.0));
        assert_eq!(
            run.metric("OverallAverageTokensPerSecond")
                .unwrap()
                .sample_size,
            Some(5)
        );
    }

    #[test]
    fn labels_are_unique_and_short() {
        let run = |source: &str| Run::new(Kind::SingleUser, source);
        let mut runs = vec![
            run("results-1/tokens-per-second.json"),
            run("results-2/tokens-per-second.json"),
            run("nvme.json"),
            run("many.json#2"),
        ];
        assign_labels(&mut runs);
        let labels: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "results-1/tokens-per-second",
                "results-2/tokens-per-second",
                "nvme",
                "many#2"
            ]
        );
    }
}

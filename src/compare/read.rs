//! Reading result files written by ollabench or by the PowerShell suite, into [`Run`]s.
//!
//! PowerShell's `ConvertTo-Json` output differs from ollabench's in ways this reader accepts:
//! - UTF-8 with a byte-order mark, or UTF-16 with one (Windows PowerShell's `Out-File`);
//!   Windows line endings;
//! - keys in any letter case (`timestamp`, `TIMESTAMP`);
//! - numbers written as strings (`"42.5"`; the decimal separator must be `.`), and `"NaN"` or
//!   `"Infinity"` for a value that was not measured;
//! - an array of one element collapsed into the element itself (`"ModelResults": {...}`,
//!   `"Models": "phi3.5"`);
//! - Timestamps as `yyyy-MM-dd HH:mm:ss` (the reference's), ISO 8601 / RFC 3339 (PowerShell 7's
//!   `DateTime`), `/Date(ms)/` (Windows PowerShell's), or the `{"value": ..., "DateTime": ...}`
//!   object Windows PowerShell writes for a `DateTime`;
//! - objects that `ConvertTo-Json`'s default `-Depth 2` turned into text (`"@{PromptLength=..."`):
//!   the rest of the file is still read, and a note says how to write complete files.
//!
//! A file that cannot be used gets a [`FileError`] naming the file and the problem (with line
//! and column for malformed JSON); the other files are still read.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{Better, Kind, Metric, Run, Unit};
use crate::stats;

/// The reference's Timestamp format, which every [`Run::timestamp`] is normalised to.
pub const TIMESTAMP_FORMAT: &str = crate::results::TIMESTAMP_FORMAT;

/// The marker a comparison report carries: `"ReportType": "ComparisonReport"`.
pub const REPORT_TYPE: &str = "ComparisonReport";

/// Why a file could not be used.
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

impl FileError {
    fn new(file: &str, message: impl Into<String>) -> Self {
        FileError {
            file: file.to_string(),
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

/// What reading a set of paths gave.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every run read, in the order found (files in argument order, folders sorted by path).
    pub runs: Vec<Run>,
    /// Files named on the command line, or found in a folder, that could not be used.
    pub errors: Vec<FileError>,
    /// JSON files found in folders that are not result files (skipped with a warning).
    pub skipped: Vec<FileError>,
    /// How many files were read (including the bad ones).
    pub files_read: usize,
}

/// Reads every path: a file, or a folder meaning every `*.json` below it (hidden folders
/// skipped). Bad files become errors; nothing here fails as a whole.
pub fn load_paths(paths: &[PathBuf]) -> Loaded {
    let mut loaded = Loaded::default();
    for path in paths {
        if path.is_dir() {
            let mut files = Vec::new();
            if let Err(err) = json_files_below(path, &mut files, 0) {
                loaded
                    .errors
                    .push(FileError::new(&path.display().to_string(), err));
            }
            if files.is_empty() {
                loaded.errors.push(FileError::new(
                    &path.display().to_string(),
                    "the folder holds no .json file",
                ));
            }
            for file in files {
                loaded.files_read += 1;
                match load_file(&file) {
                    Ok(runs) => loaded.runs.extend(runs),
                    Err(LoadError::NotAResultFile(err)) => loaded.skipped.push(err),
                    Err(LoadError::Unusable(err)) => loaded.errors.push(err),
                }
            }
        } else {
            loaded.files_read += 1;
            match load_file(path) {
                Ok(runs) => loaded.runs.extend(runs),
                Err(LoadError::NotAResultFile(err) | LoadError::Unusable(err)) => {
                    loaded.errors.push(err)
                }
            }
        }
    }
    deduplicate(&mut loaded.runs);
    assign_labels(&mut loaded.runs);
    loaded
}

/// Collects every `*.json` below `folder`, sorted, hidden entries (and so temporary files)
/// left out. Shared with the report, so that both read a folder the same way.
pub fn json_files_below(
    folder: &Path,
    files: &mut Vec<PathBuf>,
    depth: usize,
) -> Result<(), String> {
    if depth > 32 {
        return Err("folders nested more than 32 deep; not followed further".to_string());
    }
    let entries = std::fs::read_dir(folder)
        .map_err(|err| format!("cannot read the folder {}: {err}", folder.display()))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            json_files_below(&path, files, depth + 1)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            files.push(path);
        }
    }
    Ok(())
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

/// Reads one file into its run(s): one, or one per element when the file holds an array.
pub fn load_file(path: &Path) -> Result<Vec<Run>, LoadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|err| LoadError::Unusable(FileError::new(&name, format!("cannot read: {err}"))))?;
    let value = parse_json(&bytes).map_err(|mut err| {
        err.file = name.clone();
        LoadError::Unusable(err)
    })?;
    runs_from_value(&value, &name)
}

/// Decodes (UTF-8 or UTF-16, byte-order mark removed) and parses JSON. The error's `file` is
/// left empty for the caller.
pub fn parse_json(bytes: &[u8]) -> Result<Value, FileError> {
    let text = decode(bytes)?;
    if text.trim().is_empty() {
        return Err(FileError::new(
            "",
            "the file is empty (an interrupted or failed run?)",
        ));
    }
    serde_json::from_str(&text).map_err(|err| {
        let message = err.to_string();
        // serde_json appends " at line L column C"; the position is reported separately.
        let message = match message.rfind(" at line ") {
            Some(at) if err.line() > 0 => message[..at].to_string(),
            _ => message,
        };
        FileError {
            file: String::new(),
            line: (err.line() > 0).then_some(err.line()),
            column: (err.line() > 0).then_some(err.column()),
            message: format!("malformed JSON: {message}"),
        }
    })
}

fn decode(bytes: &[u8]) -> Result<String, FileError> {
    let utf16 = |bytes: &[u8], little_endian: bool| {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|pair| {
                if little_endian {
                    u16::from_le_bytes([pair[0], pair[1]])
                } else {
                    u16::from_be_bytes([pair[0], pair[1]])
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| {
            FileError::new(
                "",
                "invalid UTF-16 text (the file starts with a UTF-16 byte-order mark)",
            )
        })
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => utf8(rest),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        _ => utf8(bytes),
    }
}

fn utf8(bytes: &[u8]) -> Result<String, FileError> {
    String::from_utf8(bytes.to_vec()).map_err(|err| {
        let offset = err.utf8_error().valid_up_to();
        let before = &bytes[..offset];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let column = offset
            - before
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |p| p + 1)
            + 1;
        FileError {
            file: String::new(),
            line: Some(line),
            column: Some(column),
            message: "not UTF-8 text (save the file as UTF-8)".to_string(),
        }
    })
}

/// Turns a parsed file into runs. `source` names the file in runs and errors.
pub fn runs_from_value(value: &Value, source: &str) -> Result<Vec<Run>, LoadError> {
    match value {
        Value::Array(items) if items.is_empty() => Err(LoadError::Unusable(FileError::new(
            source,
            "the file holds an empty array: no result in it",
        ))),
        Value::Array(items) => {
            let mut runs = Vec::new();
            for (index, item) in items.iter().enumerate() {
                let element_source = format!("{source}#{}", index + 1);
                runs.extend(runs_from_value(item, &element_source)?);
            }
            Ok(runs)
        }
        Value::Object(_) => {
            let root = Node::root(value);
            let kind = detect_kind(&root).ok_or_else(|| {
                LoadError::NotAResultFile(FileError::new(
                    source,
                    "unknown kind of file: not a result file ollabench knows. Expected a \
                     single-user result (Measurements), a tokens-per-second result \
                     (ModelResults, Summary.OverallAverageTokensPerSecond), a multi-user result \
                     (ConcurrentUsers, Summary.OverallDurationSeconds) or a comparison report \
                     (\"ReportType\": \"ComparisonReport\")",
                ))
            })?;
            let unusable = |message: String| LoadError::Unusable(FileError::new(source, message));
            match kind {
                Kind::ComparisonReport => report_runs(&root).map_err(unusable),
                _ => read_run(&root, kind, source)
                    .map(|run| vec![run])
                    .map_err(|message| unusable(format!("{} result: {message}", kind.label()))),
            }
        }
        other => Err(LoadError::NotAResultFile(FileError::new(
            source,
            format!(
                "unknown kind of file: expected a JSON object, found {}",
                describe(other)
            ),
        ))),
    }
}

fn detect_kind(root: &Node) -> Option<Kind> {
    let has = |key: &str| root.get(key).is_some();
    let summary_has = |key: &str| root.get("Summary").and_then(|s| s.get(key)).is_some();
    if root
        .get("ReportType")
        .and_then(|n| n.text())
        .is_some_and(|t| t.eq_ignore_ascii_case(REPORT_TYPE))
    {
        Some(Kind::ComparisonReport)
    } else if has("ConcurrentUsers")
        || has("IndividualResults")
        || summary_has("OverallDurationSeconds")
    {
        Some(Kind::MultiUser)
    } else if has("ModelResults") || summary_has("OverallAverageTokensPerSecond") {
        Some(Kind::TokensPerSecond)
    } else if has("Measurements") {
        Some(Kind::SingleUser)
    } else {
        None
    }
}

fn report_runs(root: &Node) -> Result<Vec<Run>, String> {
    let runs = root
        .get("Runs")
        .ok_or("comparison report: missing Runs (the runs it compared)")?;
    let runs: Vec<Run> = serde_json::from_value(runs.value.clone())
        .map_err(|err| format!("comparison report: Runs: {err}"))?;
    Ok(runs
        .into_iter()
        .map(|mut run| {
            run.label = String::new();
            run.baseline = false;
            run
        })
        .collect())
}

fn read_run(root: &Node, kind: Kind, source: &str) -> Result<Run, String> {
    let mut run = Run {
        source: source.to_string(),
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
        status: root.get("Status").and_then(|s| s.text()),
        notes: Vec::new(),
        metrics: Vec::new(),
    };
    if let Some(timestamp) = root.get("Timestamp") {
        match parse_timestamp(&timestamp) {
            Some(time) => run.timestamp = Some(time.format(TIMESTAMP_FORMAT).to_string()),
            None if timestamp.value.is_null() => {}
            None => run.notes.push(format!(
                "Timestamp {} not understood (expected yyyy-MM-dd HH:mm:ss or ISO 8601); ordered by file order",
                timestamp.value
            )),
        }
    }
    read_provenance(root, &mut run);
    match run.status.as_deref() {
        Some(status) if status.eq_ignore_ascii_case("interrupted") => run
            .notes
            .push("interrupted run: the file holds what was measured until Ctrl-C".to_string()),
        Some(status) if status.eq_ignore_ascii_case("failed") => run
            .notes
            .push("the run recorded failures (see its Errors)".to_string()),
        _ => {}
    }
    match kind {
        Kind::SingleUser => read_single_user(root, &mut run)?,
        Kind::TokensPerSecond => read_tokens_per_second(root, &mut run)?,
        Kind::MultiUser => read_multi_user(root, &mut run)?,
        Kind::ComparisonReport => {}
    }
    Ok(run)
}

fn read_provenance(root: &Node, run: &mut Run) {
    let Some(provenance) = root.get("Provenance") else {
        return;
    };
    run.simulated = provenance
        .get("Simulated")
        .is_some_and(|s| s.boolean() == Some(true));
    run.simulator_time_scale = provenance
        .number("SimulatorTimeScale")
        .ok()
        .flatten()
        .filter(|scale| *scale > 0.0);
    for model in provenance
        .get("Models")
        .map(|m| m.items())
        .unwrap_or_default()
    {
        if let (Some(name), Some(size)) = (
            model.get("Name").and_then(|n| n.text()),
            model.get("ParameterSize").and_then(|n| n.text()),
        ) {
            run.parameter_sizes.push((name, size));
        }
    }
}

const SINGLE_USER_FIELDS: [&str; 5] = [
    "DownloadTimeSeconds",
    "LoadTimeColdSeconds",
    "LoadTimeWarmSeconds",
    "TotalTimeSeconds",
    "TokensPerSecond",
];

fn read_single_user(root: &Node, run: &mut Run) -> Result<(), String> {
    if let Some(model) = root.get("Model").and_then(|m| m.text()) {
        run.models.push(model);
    }
    let measurements = root.get("Measurements").ok_or("missing Measurements")?;
    measurements.object()?;
    if !SINGLE_USER_FIELDS
        .iter()
        .any(|field| measurements.get(field).is_some())
    {
        return Err(format!(
            "missing fields: Measurements has none of {}",
            SINGLE_USER_FIELDS.join(", ")
        ));
    }
    let download_status = measurements.get("DownloadStatus").and_then(|s| s.text());
    let load_status = measurements.get("LoadStatus").and_then(|s| s.text());
    let download_measured = step_measured("download", download_status.as_deref(), run);
    let load_measured = step_measured("load", load_status.as_deref(), run);
    for (field, unit, better, measured) in [
        (
            "DownloadTimeSeconds",
            Unit::Seconds,
            Better::Lower,
            download_measured,
        ),
        (
            "LoadTimeColdSeconds",
            Unit::Seconds,
            Better::Lower,
            load_measured,
        ),
        (
            "LoadTimeWarmSeconds",
            Unit::Seconds,
            Better::Lower,
            load_measured,
        ),
        (
            "TotalTimeSeconds",
            Unit::Seconds,
            Better::Lower,
            download_measured && load_measured,
        ),
        (
            "TokensPerSecond",
            Unit::TokensPerSecond,
            Better::Higher,
            true,
        ),
    ] {
        if let Some(value) = measurements.number(field)? {
            if measured {
                run.metrics.push(Metric::new(field, value, unit, better));
            }
        }
    }
    if run.metrics.is_empty() {
        run.notes
            .push("nothing was measured in this run".to_string());
    }
    Ok(())
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

fn read_tokens_per_second(root: &Node, run: &mut Run) -> Result<(), String> {
    let configuration = root.get("Configuration");
    run.concurrent_requests = match configuration.as_ref() {
        Some(c) => c.count("ConcurrentRequests")?,
        None => None,
    };
    let summary = root.get("Summary");
    if let Some(summary) = &summary {
        summary.object()?;
    }

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
    let mut depth_cut = false;
    for (model_index, model_result) in root
        .get("ModelResults")
        .map(|m| m.items())
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        if model_result.is_depth_cut() {
            depth_cut = true;
            continue;
        }
        model_result.object()?;
        let model = model_result
            .get("Model")
            .and_then(|m| m.text())
            .unwrap_or_else(|| format!("model {}", model_index + 1));
        if !run.models.contains(&model) {
            run.models.push(model.clone());
        }
        for (prompt_index, prompt_result) in model_result
            .get("PromptResults")
            .map(|p| p.items())
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            if prompt_result.is_depth_cut() {
                depth_cut = true;
                continue;
            }
            prompt_result.object()?;
            let mut prompt_length = prompt_result
                .get("PromptLength")
                .and_then(|p| p.text())
                .unwrap_or_else(|| format!("prompt {}", prompt_index + 1));
            let Some(statistics) = prompt_result.get("Statistics") else {
                continue;
            };
            if statistics.is_depth_cut() {
                depth_cut = true;
                continue;
            }
            statistics.object()?;
            let Some(average) = statistics.number("AverageTokensPerSecond")? else {
                continue;
            };
            let cell_requests = prompt_result.count("ConcurrentRequests")?;
            if let Some(requests) = cell_requests.filter(|r| Some(*r) != run.concurrent_requests) {
                prompt_length = format!("{prompt_length} x{requests}");
            }
            cells.push(Cell {
                model: model.clone(),
                prompt_length,
                average,
                min: statistics.number("MinTokensPerSecond")?,
                max: statistics.number("MaxTokensPerSecond")?,
                std_dev: statistics.number("StdDevTokensPerSecond")?,
                sample_size: statistics.count("SampleSize")?.map(|n| n as usize),
            });
        }
    }
    if depth_cut {
        run.notes.push(
            "PowerShell wrote nested results as text (\"@{...}\"): ConvertTo-Json's default \
             -Depth 2 cut the file, so only its Summary was read. Write result files with \
             ConvertTo-Json -Depth 10."
                .to_string(),
        );
    }
    if run.models.is_empty() {
        if let Some(models) = configuration.as_ref().and_then(|c| c.get("Models")) {
            run.models = models.items().iter().filter_map(|m| m.text()).collect();
        }
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
    let total_samples = match &summary {
        Some(s) => s.count("TotalSamples")?.map(|n| n as usize),
        None => None,
    }
    .or(cell_samples)
    .filter(|n| *n > 0);

    let summary_number = |field: &str| -> Result<Option<f64>, String> {
        match &summary {
            Some(s) => s.number(field),
            None => Ok(None),
        }
    };
    let mut overall_average = summary_number("OverallAverageTokensPerSecond")?;
    let mut overall_min = summary_number("OverallMinTokensPerSecond")?;
    let mut overall_max = summary_number("OverallMaxTokensPerSecond")?;
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
    let Some(overall_average) = overall_average else {
        return Err(
            "missing fields: neither Summary.OverallAverageTokensPerSecond nor any \
             ModelResults[].PromptResults[].Statistics.AverageTokensPerSecond"
                .to_string(),
        );
    };
    let mut overall = Metric::new(
        "OverallAverageTokensPerSecond",
        overall_average,
        Unit::TokensPerSecond,
        Better::Higher,
    );
    overall.std_dev = pooled_std_dev;
    overall.sample_size = total_samples;
    run.metrics.push(overall);
    for (field, value) in [
        ("OverallMinTokensPerSecond", overall_min),
        ("OverallMaxTokensPerSecond", overall_max),
    ] {
        if let Some(value) = value {
            let mut metric = Metric::new(field, value, Unit::TokensPerSecond, Better::Higher);
            // Extremes of single samples: their noise is a sample's spread, not a mean's.
            metric.std_dev = pooled_std_dev;
            run.metrics.push(metric);
        }
    }
    if let Some(success_rate) = summary_number("SuccessRate")? {
        run.metrics.push(Metric::new(
            "SuccessRate",
            success_rate,
            Unit::Percent,
            Better::Higher,
        ));
    }
    for cell in cells {
        let mut metric = Metric::new(
            "AverageTokensPerSecond",
            cell.average,
            Unit::TokensPerSecond,
            Better::Higher,
        );
        metric.subject = Some(format!("{}/{}", cell.model, cell.prompt_length));
        metric.std_dev = cell.std_dev;
        metric.sample_size = cell.sample_size;
        run.metrics.push(metric);
    }
    Ok(())
}

const MULTI_USER_FIELDS: [(&str, Unit, Better); 9] = [
    ("SuccessRate", Unit::Percent, Better::Higher),
    ("AverageDownloadTimeSeconds", Unit::Seconds, Better::Lower),
    ("MinDownloadTimeSeconds", Unit::Seconds, Better::Lower),
    ("MaxDownloadTimeSeconds", Unit::Seconds, Better::Lower),
    ("AverageLoadTimeSeconds", Unit::Seconds, Better::Lower),
    ("MinLoadTimeSeconds", Unit::Seconds, Better::Lower),
    ("MaxLoadTimeSeconds", Unit::Seconds, Better::Lower),
    (
        "AverageThroughputTokensPerSecond",
        Unit::TokensPerSecond,
        Better::Higher,
    ),
    ("OverallDurationSeconds", Unit::Seconds, Better::Lower),
];

fn read_multi_user(root: &Node, run: &mut Run) -> Result<(), String> {
    let summary = root
        .get("Summary")
        .ok_or("missing fields: Summary (with OverallDurationSeconds)")?;
    summary.object()?;
    let individual = root
        .get("IndividualResults")
        .map(|i| i.items())
        .unwrap_or_default();
    run.concurrent_users = match root.count("ConcurrentUsers")? {
        Some(users) => Some(users),
        None => match summary.count("TotalUsers")? {
            Some(users) => Some(users),
            None if !individual.is_empty() => u32::try_from(individual.len()).ok(),
            None => None,
        },
    };
    if run.concurrent_users.is_none() {
        return Err("missing fields: ConcurrentUsers (nor Summary.TotalUsers)".to_string());
    }
    if summary.number("OverallDurationSeconds")?.is_none() {
        return Err("missing fields: Summary.OverallDurationSeconds".to_string());
    }
    if let Some(models) = root.get("Models") {
        run.models = models.items().iter().filter_map(|m| m.text()).collect();
    }
    if run.models.is_empty() {
        for user in &individual {
            if let Some(model) = user.get("Model").and_then(|m| m.text()) {
                if !run.models.contains(&model) {
                    run.models.push(model);
                }
            }
        }
    }
    // The duration first: it is what scaling is about.
    for (field, unit, better) in MULTI_USER_FIELDS.iter().rev() {
        if let Some(value) = summary.number(field)? {
            run.metrics.push(Metric::new(field, value, *unit, *better));
        }
    }
    if let Some(scaling) = root.get("Scaling") {
        run.single_user_time_seconds = scaling.number("SingleUserTimeSeconds")?;
    }
    Ok(())
}

/// Parses a Timestamp in any of the forms the module docs list.
pub fn parse_timestamp(node: &Node) -> Option<NaiveDateTime> {
    if node.value.is_object() {
        // Windows PowerShell's DateTime: {"value": "/Date(ms)/", "DateTime": "..."}.
        return node.get("value").and_then(|v| parse_timestamp(&v));
    }
    let text = node.text()?;
    parse_timestamp_text(text.trim())
}

/// Parses a Timestamp text: `yyyy-MM-dd HH:mm:ss[.fff]`, ISO 8601 with or without an offset
/// (the local time as written is kept), or `/Date(milliseconds)/`.
pub fn parse_timestamp_text(text: &str) -> Option<NaiveDateTime> {
    if let Some(millis) = text
        .strip_prefix("/Date(")
        .and_then(|t| t.strip_suffix(")/"))
    {
        // `/Date(1730385000000)/`, possibly with an offset suffix such as `+0100`.
        let digits_end = millis
            .char_indices()
            .skip(1)
            .find(|(_, c)| *c == '+' || *c == '-')
            .map_or(millis.len(), |(i, _)| i);
        let millis: i64 = millis[..digits_end].parse().ok()?;
        return DateTime::from_timestamp_millis(millis).map(|t| t.naive_utc());
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.naive_local());
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Some(time);
        }
    }
    if let Ok(time) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f %z") {
        return Some(time.naive_local());
    }
    None
}

/// Identical runs read twice (a file and a report that holds it) count once.
pub(crate) fn deduplicate(runs: &mut Vec<Run>) {
    let mut seen = HashSet::new();
    runs.retain(|run| {
        let identity = serde_json::to_string(&(
            run.kind,
            &run.timestamp,
            &run.models,
            run.concurrent_users,
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

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => {
            let shown: String = s.chars().take(40).collect();
            format!("the text \"{shown}\"")
        }
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

/// A place in a parsed file, read leniently (see the module docs), that knows its path
/// (`ModelResults[0].PromptResults[1].Statistics`) for error messages.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    pub value: &'a Value,
    pub path: String,
}

impl<'a> Node<'a> {
    /// The top of a file.
    pub fn root(value: &'a Value) -> Self {
        Node {
            value,
            path: String::new(),
        }
    }

    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The member `key`, matched exactly first, then ignoring letter case.
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        let object = self.value.as_object()?;
        let value = object.get(key).or_else(|| {
            object
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })?;
        Some(Node {
            value,
            path: self.child_path(key),
        })
    }

    /// The elements of an array; a single value stands for an array of one (PowerShell
    /// collapses those); null for none.
    pub fn items(&self) -> Vec<Node<'a>> {
        match self.value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, value)| Node {
                    value,
                    path: format!("{}[{i}]", self.path),
                })
                .collect(),
            Value::Null => Vec::new(),
            _ => vec![self.clone()],
        }
    }

    /// Text: a string, or a number or boolean written as text.
    pub fn text(&self) -> Option<String> {
        match self.value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A boolean, from `true` or the text `"True"` / `"false"`.
    pub fn boolean(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// Whether PowerShell wrote this object as text because of `ConvertTo-Json`'s depth limit.
    pub fn is_depth_cut(&self) -> bool {
        matches!(self.value, Value::String(s) if s.starts_with("@{") || s.starts_with("System.Collections"))
    }

    /// An error unless this is an object.
    pub fn object(&self) -> Result<(), String> {
        if self.value.is_object() {
            Ok(())
        } else if self.is_depth_cut() {
            Err(format!(
                "{}: PowerShell wrote this object as text (ConvertTo-Json's default -Depth 2 \
                 cut the file); write result files with ConvertTo-Json -Depth 10",
                self.path
            ))
        } else {
            Err(format!(
                "{}: expected an object, found {}",
                self.path,
                describe(self.value)
            ))
        }
    }

    /// The member `key` as a number: absent, null, `"NaN"` or `"Infinity"` give `None`;
    /// anything else that is not a number is an error naming the field.
    pub fn number(&self, key: &str) -> Result<Option<f64>, String> {
        match self.get(key) {
            Some(node) => node.as_number(),
            None => Ok(None),
        }
    }

    /// This value as a number (see [`Node::number`]).
    pub fn as_number(&self) -> Result<Option<f64>, String> {
        let bad = || {
            format!(
                "{}: expected a number, found {}",
                self.path,
                describe(self.value)
            )
        };
        let number = match self.value {
            Value::Null => return Ok(None),
            Value::Number(n) => n.as_f64().ok_or_else(bad)?,
            Value::String(s) => {
                let s = s.trim();
                if s.is_empty() {
                    return Ok(None);
                }
                // Only `.` is a decimal separator: "42,5" could be 42.5 or 425.
                if !s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
                    && !["nan", "infinity", "-infinity", "+infinity", "inf", "-inf"]
                        .contains(&s.to_ascii_lowercase().as_str())
                {
                    return Err(format!("{} (write decimals with '.')", bad()));
                }
                s.parse::<f64>().map_err(|_| bad())?
            }
            Value::Array(items) if items.len() == 1 => {
                let only = Node {
                    value: &items[0],
                    path: format!("{}[0]", self.path),
                };
                return only.as_number();
            }
            _ => return Err(bad()),
        };
        Ok(number.is_finite().then_some(number))
    }

    /// The member `key` as a count (a whole number >= 0).
    pub fn count(&self, key: &str) -> Result<Option<u32>, String> {
        let Some(number) = self.number(key)? else {
            return Ok(None);
        };
        if number < 0.0 || number.fract() != 0.0 || number > f64::from(u32::MAX) {
            return Err(format!(
                "{}: expected a whole number, found {number}",
                self.child_path(key)
            ));
        }
        Ok(Some(number as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Value {
        parse_json(text.as_bytes()).unwrap()
    }

    #[test]
    fn keys_ignore_case_and_numbers_come_from_strings() {
        let value =
            parse(r#"{"measurements": {"tokenspersecond": "42.5", "X": "4e1", "N": "NaN"}}"#);
        let root = Node::root(&value);
        let m = root.get("Measurements").unwrap();
        assert_eq!(m.number("TokensPerSecond").unwrap(), Some(42.5));
        assert_eq!(m.number("X").unwrap(), Some(40.0));
        assert_eq!(m.number("N").unwrap(), None);
        assert_eq!(m.number("Missing").unwrap(), None);
    }

    #[test]
    fn a_comma_decimal_or_a_word_is_an_error_naming_the_field() {
        let value = parse(r#"{"M": {"T": "42,5", "U": true}}"#);
        let m = Node::root(&value).get("M").unwrap();
        let err = m.number("T").unwrap_err();
        assert!(err.contains("M.T") && err.contains("'.'"), "{err}");
        assert!(m.number("U").unwrap_err().contains("boolean"));
    }

    #[test]
    fn a_single_object_stands_for_an_array_of_one() {
        let value = parse(r#"{"A": {"Model": "x"}, "B": [1, 2], "C": null}"#);
        let root = Node::root(&value);
        assert_eq!(root.get("A").unwrap().items().len(), 1);
        assert_eq!(root.get("B").unwrap().items()[1].path, "B[1]");
        assert!(root.get("C").unwrap().items().is_empty());
    }

    #[test]
    fn bom_crlf_and_utf16_decode() {
        let text = "{\r\n  \"Timestamp\": \"2025-10-31 14:30:00\"\r\n}\r\n";
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend_from_slice(text.as_bytes());
        assert!(parse_json(&bytes).is_ok());
        let mut utf16 = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(parse_json(&utf16).unwrap(), parse_json(&bytes).unwrap());
    }

    #[test]
    fn malformed_json_has_line_and_column() {
        let err = parse_json(b"{\n  \"A\": 1,\n  \"B\": ]\n}").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert_eq!(err.column, Some(8));
        assert!(err.message.starts_with("malformed JSON"));
        assert!(!err.message.contains("at line"));
        let empty = parse_json(b" \r\n").unwrap_err();
        assert!(empty.message.contains("empty"));
    }

    #[test]
    fn timestamps_in_every_form() {
        let expected =
            NaiveDateTime::parse_from_str("2025-10-31 14:30:00", TIMESTAMP_FORMAT).unwrap();
        for text in [
            "2025-10-31 14:30:00",
            "2025-10-31T14:30:00",
            "2025-10-31T14:30:00.0000000+01:00",
            "2025-10-31T14:30:00Z",
        ] {
            assert_eq!(parse_timestamp_text(text), Some(expected), "{text}");
        }
        assert_eq!(
            parse_timestamp_text("/Date(1761921000000)/"),
            Some(expected)
        );
        let object = parse(r#"{"value": "/Date(1761921000000)/", "DateTime": "Friday"}"#);
        assert_eq!(parse_timestamp(&Node::root(&object)), Some(expected));
        assert_eq!(parse_timestamp_text("last tuesday"), None);
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
        use crate::results::{Provenance, RunStatus};

        let mut provenance = Provenance::default();
        provenance.set_simulator("t4", 0.05);
        let multi = MultiUserResult {
            timestamp: "2025-10-31 15:00:00".into(),
            ollama_endpoint: "http://127.0.0.1:1".into(),
            concurrent_users: 3,
            models: vec!["phi3.5".into(), "llama3.1:8b".into()],
            summary: MultiUserSummary {
                overall_duration_seconds: 125.0,
                total_users: 3,
                success_rate: 100.0,
                average_download_time_seconds: Some(38.21),
                max_download_time_seconds: Some(52.1),
                ..MultiUserSummary::default()
            },
            individual_results: vec![],
            scaling: Scaling {
                single_user_time_seconds: Some(63.0),
                ..Scaling::default()
            },
            status: RunStatus::Success,
            errors: vec![],
            provenance: provenance.clone(),
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
            reloads_flagged: 0,
            outliers: vec![],
            samples: vec![],
            warmup: vec![],
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
            }],
            concurrency: vec![],
            status: RunStatus::Success,
            errors: vec![],
            provenance,
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
        let run = |source: &str| Run {
            source: source.to_string(),
            label: String::new(),
            kind: Kind::SingleUser,
            timestamp: None,
            models: vec![],
            concurrent_users: None,
            concurrent_requests: None,
            single_user_time_seconds: None,
            parameter_sizes: vec![],
            simulated: false,
            simulator_time_scale: None,
            baseline: false,
            status: None,
            notes: vec![],
            metrics: vec![],
        };
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

//! The one reader of result files, for `compare`, `report` and every other command that reads
//! one: files written by ollabench (today's and older ones) and by the PowerShell suite, each
//! decoded ([`decode`]), told apart by kind ([`detect`]), and deserialized into the `results`
//! types while PowerShell's spellings are normalised ([`legacy`]). Whoever reads a file gets the
//! same [`ResultFile`], or the same [`ReadError`], for the same bytes.
//!
//! A file may hold one result or a JSON array of them (`file.json#2` is the second). A folder
//! means every `*.json` below it, sorted, hidden entries (and so temporary files) left out;
//! JSON found there that is no result file is skipped rather than an error.

mod decode;
mod detect;
mod legacy;

use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

use super::comparison::ComparisonFile;
use super::load::LoadResult;
use super::multi_user::MultiUserResult;
use super::single_user::SingleUserResult;
use super::tokens_per_second::TpsResult;
use super::{ErrorRecord, Provenance, TIMESTAMP_FORMAT};
use decode::DecodeError;
pub use detect::{Kind, REPORT_TYPE};
pub use legacy::{parse_timestamp, parse_timestamp_text, FieldError};

/// Why a file (or a folder given as input) gave no result. Every variant names the path; the
/// ones about the text also carry the line and column (1-based) of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("{path}: cannot read: {message}")]
    Unreadable { path: String, message: String },
    /// A folder given as input that could not be searched, or that holds no `.json` file.
    #[error("{path}: {message}")]
    Folder { path: String, message: String },
    #[error("{path}: the file is empty (an interrupted or failed run?)")]
    Empty { path: String },
    #[error("{path}: line {line}, column {column}: not UTF-8 text (save the file as UTF-8)")]
    NotUtf8 {
        path: String,
        line: usize,
        column: usize,
    },
    #[error("{path}: invalid UTF-16 text (the file starts with a UTF-16 byte-order mark)")]
    NotUtf16 { path: String },
    #[error(
        "{path}: line {line}, column {column}: malformed JSON: {message} (was the file cut \
         short or edited by hand?)"
    )]
    Malformed {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: malformed JSON: {message}")]
    Unparsable { path: String, message: String },
    #[error("{path}: the file holds an empty array: no result in it")]
    EmptyArray { path: String },
    /// Valid JSON, but no kind of result file ollabench knows.
    #[error("{path}: unknown kind of file: {message}")]
    UnknownKind { path: String, message: String },
    /// A known kind with fields missing or of the wrong type.
    #[error("{path}: {}: {message}", .kind.subject())]
    Invalid {
        path: String,
        kind: Kind,
        message: String,
    },
}

impl ReadError {
    /// The file (or folder) it is about, as given or found (`#N` for an array's element).
    pub fn path(&self) -> &str {
        match self {
            ReadError::Unreadable { path, .. }
            | ReadError::Folder { path, .. }
            | ReadError::Empty { path }
            | ReadError::NotUtf8 { path, .. }
            | ReadError::NotUtf16 { path }
            | ReadError::Malformed { path, .. }
            | ReadError::Unparsable { path, .. }
            | ReadError::EmptyArray { path }
            | ReadError::UnknownKind { path, .. }
            | ReadError::Invalid { path, .. } => path,
        }
    }

    /// The line of the problem, for errors about the text.
    pub fn line(&self) -> Option<usize> {
        match self {
            ReadError::NotUtf8 { line, .. } | ReadError::Malformed { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The column of the problem, for errors about the text.
    pub fn column(&self) -> Option<usize> {
        match self {
            ReadError::NotUtf8 { column, .. } | ReadError::Malformed { column, .. } => {
                Some(*column)
            }
            _ => None,
        }
    }

    /// The message without the path and position: what the `Display` form says after them.
    pub fn message(&self) -> String {
        let text = self.to_string();
        let rest = text
            .strip_prefix(self.path())
            .and_then(|t| t.strip_prefix(": "))
            .unwrap_or(&text);
        match (self.line(), self.column()) {
            (Some(line), Some(column)) => rest
                .strip_prefix(&format!("line {line}, column {column}: "))
                .unwrap_or(rest)
                .to_string(),
            _ => rest.to_string(),
        }
    }

    /// Whether the file is JSON of no kind ollabench knows (skipped when found in a folder).
    pub fn is_unknown_kind(&self) -> bool {
        matches!(self, ReadError::UnknownKind { .. })
    }

    fn from_decode(path: &str, err: DecodeError) -> Self {
        let path = path.to_string();
        match err {
            DecodeError::Empty => ReadError::Empty { path },
            DecodeError::NotUtf8 { line, column } => ReadError::NotUtf8 { path, line, column },
            DecodeError::NotUtf16 => ReadError::NotUtf16 { path },
            DecodeError::Malformed {
                line,
                column,
                message,
            } => ReadError::Malformed {
                path,
                line,
                column,
                message,
            },
            DecodeError::Unparsable { message } => ReadError::Unparsable { path, message },
        }
    }
}

/// What a file measured, in the `results` types.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    SingleUser(Box<SingleUserResult>),
    TokensPerSecond(Box<TpsResult>),
    MultiUser(Box<MultiUserResult>),
    Load(Box<LoadResult>),
    Comparison(Box<ComparisonFile>),
    Capacity(Box<crate::results::capacity::CapacityResult>),
}

/// Which of the fields that a default would misrepresent the file holds: a PowerShell file
/// has no `Status`, no `Provenance`, and a tokens-per-second file of the suite no request
/// counts, and none of them is a measured "Success", "not simulated" or "0% succeeded".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// `Status` as written.
    pub status: Option<String>,
    /// Whether the file has `Provenance` (ollabench's files do, the PowerShell suite's not).
    pub provenance: bool,
    /// Whether the file has `Summary.SuccessRate`.
    pub success_rate: bool,
    /// Whether the file has `Summary.FailedRequests` (tokens-per-second).
    pub failed_requests: bool,
}

/// One result, as every command sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultFile {
    /// The file as given or found, with `#N` for the Nth element of a file holding an array.
    pub source: String,
    /// The file on disk.
    pub path: PathBuf,
    pub kind: Kind,
    /// The Timestamp, whatever form the file wrote it in; `None` when absent or not
    /// understood (a note then says so). The body's `timestamp` holds it in the reference's
    /// format.
    pub timestamp: Option<NaiveDateTime>,
    pub recorded: Recorded,
    /// What a reader should know about how the file was read (a Timestamp not understood,
    /// objects PowerShell cut to text).
    pub notes: Vec<String>,
    pub body: Body,
}

impl ResultFile {
    /// How the file was made, when it says.
    pub fn provenance(&self) -> Option<&Provenance> {
        if !self.recorded.provenance {
            return None;
        }
        match &self.body {
            Body::SingleUser(r) => Some(&r.provenance),
            Body::TokensPerSecond(r) => Some(&r.provenance),
            Body::MultiUser(r) => Some(&r.provenance),
            Body::Load(r) => Some(&r.provenance),
            Body::Capacity(r) => Some(&r.provenance),
            Body::Comparison(_) => None,
        }
    }

    /// Whether ollabench's simulator made it.
    pub fn simulated(&self) -> bool {
        self.provenance().is_some_and(|p| p.simulated)
    }

    /// The Timestamp in the reference's format.
    pub fn timestamp_text(&self) -> Option<String> {
        self.timestamp
            .map(|time| time.format(TIMESTAMP_FORMAT).to_string())
    }

    /// The failures the file records.
    pub fn errors(&self) -> &[ErrorRecord] {
        match &self.body {
            Body::SingleUser(r) => &r.errors,
            Body::TokensPerSecond(r) => &r.errors,
            Body::MultiUser(r) => &r.errors,
            Body::Load(r) => &r.errors,
            Body::Capacity(r) => &r.errors,
            Body::Comparison(_) => &[],
        }
    }
}

/// How many users a multi-user file ran: `ConcurrentUsers`, else `Summary.TotalUsers`, else
/// the users it lists; 0 counts as not recorded.
pub fn users(result: &MultiUserResult) -> Option<u32> {
    [result.concurrent_users, result.summary.total_users]
        .into_iter()
        .find(|users| *users > 0)
        .or_else(|| u32::try_from(result.individual_results.len()).ok())
        .filter(|users| *users > 0)
}

/// What reading a set of paths gave: the results (`T`, a [`ResultFile`] here and a run in
/// `results::runs`) and the files that gave none (`E`).
#[derive(Debug)]
pub struct Loaded<T = ResultFile, E = ReadError> {
    /// Every result read, in the order found (files in argument order, folders sorted).
    pub results: Vec<T>,
    /// Files named, or found in a folder, that could not be used.
    pub errors: Vec<E>,
    /// JSON files found in folders that are no result files.
    pub skipped: Vec<E>,
    /// How many files were read, the bad ones included.
    pub files_read: usize,
}

impl<T, E> Default for Loaded<T, E> {
    fn default() -> Self {
        Loaded {
            results: Vec::new(),
            errors: Vec::new(),
            skipped: Vec::new(),
            files_read: 0,
        }
    }
}

impl<T, E> Loaded<T, E> {
    /// The same reading with each result turned into any number of others and each problem
    /// into another form.
    pub fn map<U, F>(
        &self,
        results: impl FnMut(&T) -> Vec<U>,
        problem: impl Fn(&E) -> F,
    ) -> Loaded<U, F> {
        Loaded {
            results: self.results.iter().flat_map(results).collect(),
            errors: self.errors.iter().map(&problem).collect(),
            skipped: self.skipped.iter().map(&problem).collect(),
            files_read: self.files_read,
        }
    }
}

/// Reads every path: a file, or a folder meaning every `*.json` below it. Bad files become
/// errors; nothing here fails as a whole.
pub fn read_paths(paths: &[PathBuf]) -> Loaded {
    let mut loaded = Loaded::default();
    for path in paths {
        if path.is_dir() {
            let folder = path.display().to_string();
            let mut files = Vec::new();
            if let Err(message) = json_files_below(path, &mut files, 0) {
                loaded.errors.push(ReadError::Folder {
                    path: folder.clone(),
                    message,
                });
            }
            if files.is_empty() {
                loaded.errors.push(ReadError::Folder {
                    path: folder,
                    message: "the folder holds no .json file".to_string(),
                });
            }
            for file in files {
                loaded.files_read += 1;
                match read_file(&file) {
                    Ok(results) => loaded.results.extend(results),
                    Err(err) if err.is_unknown_kind() => loaded.skipped.push(err),
                    Err(err) => loaded.errors.push(err),
                }
            }
        } else {
            loaded.files_read += 1;
            match read_file(path) {
                Ok(results) => loaded.results.extend(results),
                Err(err) => loaded.errors.push(err),
            }
        }
    }
    loaded
}

/// Collects every `*.json` below `folder`, sorted, hidden entries (and so temporary files)
/// left out.
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

/// Reads one file into its result(s).
pub fn read_file(path: &Path) -> Result<Vec<ResultFile>, ReadError> {
    let source = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|err| ReadError::Unreadable {
        path: source.clone(),
        message: err.to_string(),
    })?;
    let mut files = from_bytes(&bytes, &source)?;
    for file in &mut files {
        file.path = path.to_path_buf();
    }
    Ok(files)
}

/// Reads a file's bytes; `source` names it in results and errors.
pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Vec<ResultFile>, ReadError> {
    from_value(&parse_json(bytes, source)?, source)
}

/// Decodes (UTF-8 or UTF-16, byte-order mark removed) and parses JSON, as [`from_bytes`] does;
/// `source` names the file in the error.
pub fn parse_json(bytes: &[u8], source: &str) -> Result<Value, ReadError> {
    decode::parse(bytes).map_err(|err| ReadError::from_decode(source, err))
}

/// Reads a parsed file: one result, or one per element when it holds an array.
pub fn from_value(value: &Value, source: &str) -> Result<Vec<ResultFile>, ReadError> {
    match value {
        Value::Array(items) if items.is_empty() => Err(ReadError::EmptyArray {
            path: source.to_string(),
        }),
        Value::Array(items) => {
            let mut files = Vec::new();
            for (index, item) in items.iter().enumerate() {
                files.extend(from_value(item, &format!("{source}#{}", index + 1))?);
            }
            Ok(files)
        }
        Value::Object(_) => one(value, source).map(|file| vec![file]),
        other => Err(ReadError::UnknownKind {
            path: source.to_string(),
            message: format!("expected a JSON object, found {}", legacy::describe(other)),
        }),
    }
}

/// The fields whose absence matters, read with the same normalisation as the body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Presence {
    provenance: Option<IgnoredAny>,
    summary: Option<SummaryPresence>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct SummaryPresence {
    success_rate: Option<IgnoredAny>,
    failed_requests: Option<IgnoredAny>,
    overall_duration_seconds: Option<f64>,
}

fn one(root: &Value, source: &str) -> Result<ResultFile, ReadError> {
    let kind = detect::detect(root).ok_or_else(|| ReadError::UnknownKind {
        path: source.to_string(),
        message: detect::UNKNOWN_KIND.to_string(),
    })?;
    let invalid = |message: String| ReadError::Invalid {
        path: source.to_string(),
        kind,
        message,
    };
    detect::check_present(kind, root).map_err(invalid)?;
    let mut notes = Vec::new();
    let (root, timestamp, status) = prepare(root, &mut notes);
    let mut log = legacy::Log::default();
    let typed = |log: &mut legacy::Log| -> Result<Body, FieldError> {
        Ok(match kind {
            Kind::SingleUser => Body::SingleUser(Box::new(legacy::from_value(&root, log)?)),
            Kind::TokensPerSecond => {
                Body::TokensPerSecond(Box::new(legacy::from_value(&root, log)?))
            }
            Kind::MultiUser => Body::MultiUser(Box::new(legacy::from_value(&root, log)?)),
            Kind::Load => Body::Load(Box::new(legacy::from_value(&root, log)?)),
            Kind::ComparisonReport => Body::Comparison(Box::new(legacy::from_value(&root, log)?)),
            Kind::Capacity => Body::Capacity(Box::new(legacy::from_value(&root, log)?)),
        })
    };
    let body = typed(&mut log).map_err(|err| invalid(err.to_string()))?;
    // Errors here were already reported by the body, which reads the same fields.
    let presence: Presence =
        legacy::from_value(&root, &mut legacy::Log::default()).unwrap_or_default();
    let summary = presence.summary.unwrap_or_default();
    check_measured(&body, summary.overall_duration_seconds.is_some()).map_err(invalid)?;
    if !log.depth_cut.is_empty() {
        log.depth_cut.dedup();
        notes.push(format!(
            "PowerShell wrote nested results as text (\"@{{...}}\" at {}): ConvertTo-Json's \
             default -Depth 2 cut the file, so what they held was not read. Write result files \
             with ConvertTo-Json -Depth 10.",
            log.depth_cut.join(", ")
        ));
    }
    Ok(ResultFile {
        source: source.to_string(),
        path: PathBuf::from(source),
        kind,
        timestamp,
        recorded: Recorded {
            status,
            provenance: presence.provenance.is_some(),
            success_rate: summary.success_rate.is_some(),
            failed_requests: summary.failed_requests.is_some(),
        },
        notes,
        body,
    })
}

/// A copy of the file to deserialize, with the Timestamp parsed and written back in the
/// reference's format, and a `Status` the `results` types do not know left out; the parsed
/// Timestamp and the Status as written.
fn prepare(
    root: &Value,
    notes: &mut Vec<String>,
) -> (Value, Option<NaiveDateTime>, Option<String>) {
    let mut root = root.clone();
    let Some(object) = root.as_object_mut() else {
        return (root, None, None);
    };
    let mut timestamp = None;
    if let Some(written) = take_member(object, "Timestamp") {
        timestamp = parse_timestamp(&written);
        match timestamp {
            Some(time) => {
                object.insert(
                    "Timestamp".to_string(),
                    Value::String(time.format(TIMESTAMP_FORMAT).to_string()),
                );
            }
            None if written.is_null() => {}
            None => notes.push(format!(
                "Timestamp {written} not understood (expected yyyy-MM-dd HH:mm:ss or ISO \
                 8601); ordered by file order"
            )),
        }
    }
    let mut status_text = None;
    if let Some(status) = take_member(object, "Status") {
        status_text = match &status {
            Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
            Value::Number(_) | Value::Bool(_) => Some(status.to_string()),
            _ => None,
        };
        let known = status_text.as_deref().is_some_and(|text| {
            ["Success", "Failed", "Interrupted"]
                .iter()
                .any(|known| known.eq_ignore_ascii_case(text))
        });
        if known {
            object.insert("Status".to_string(), status);
        }
    }
    (root, timestamp, status_text)
}

/// Removes `key` in any letter case, giving back its value (the exact spelling first).
fn take_member(object: &mut serde_json::Map<String, Value>, key: &str) -> Option<Value> {
    let mut taken = object.remove(key);
    let others: Vec<String> = object
        .keys()
        .filter(|k| k.eq_ignore_ascii_case(key))
        .cloned()
        .collect();
    for other in others {
        let value = object.remove(&other);
        taken = taken.or(value);
    }
    taken
}

/// The checks that need the typed body: something measured that the kind is about.
fn check_measured(body: &Body, duration_recorded: bool) -> Result<(), String> {
    match body {
        Body::TokensPerSecond(result) => {
            let any_cell = result
                .model_results
                .iter()
                .flat_map(|m| &m.prompt_results)
                .any(|p| p.statistics.average_tokens_per_second.is_some());
            if result.summary.overall_average_tokens_per_second.is_none() && !any_cell {
                return Err(
                    "missing fields: neither Summary.OverallAverageTokensPerSecond nor \
                     any ModelResults[].PromptResults[].Statistics.AverageTokensPerSecond"
                        .to_string(),
                );
            }
        }
        Body::MultiUser(result) => {
            if users(result).is_none() {
                return Err("missing fields: ConcurrentUsers (nor Summary.TotalUsers)".to_string());
            }
            if !duration_recorded || !result.summary.overall_duration_seconds.is_finite() {
                return Err("missing fields: Summary.OverallDurationSeconds".to_string());
            }
        }
        Body::SingleUser(_) | Body::Comparison(_) | Body::Load(_) | Body::Capacity(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(value: Value) -> Result<ResultFile, ReadError> {
        from_value(&value, "f.json").map(|mut files| files.remove(0))
    }

    #[test]
    fn errors_carry_path_line_and_column_and_say_the_same_thing_twice() {
        let err = from_bytes(b"{\n  \"A\": 1,\n}", "x/bad.json").unwrap_err();
        assert_eq!(err.path(), "x/bad.json");
        assert_eq!((err.line(), err.column()), (Some(3), Some(1)));
        assert!(err.message().starts_with("malformed JSON: trailing comma"));
        assert_eq!(
            err.to_string(),
            format!("x/bad.json: line 3, column 1: {}", err.message())
        );
        let err = from_bytes(b"", "e.json").unwrap_err();
        assert_eq!(
            err,
            ReadError::Empty {
                path: "e.json".into()
            }
        );
        assert_eq!(
            err.message(),
            "the file is empty (an interrupted or failed run?)"
        );
        let err = read(json!({"Name": 1})).unwrap_err();
        assert!(err.is_unknown_kind());
        let err = from_value(&json!([]), "a.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.json: the file holds an empty array: no result in it"
        );
    }

    #[test]
    fn missing_and_malformed_fields_name_the_kind_and_the_field() {
        let err = read(json!({"ConcurrentUsers": 3, "Summary": {"TotalUsers": 3}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.json: multi-user result: missing fields: Summary.OverallDurationSeconds"
        );
        let err = read(json!({"Summary": {"OverallDurationSeconds": 5}})).unwrap_err();
        assert!(err.message().contains("ConcurrentUsers"), "{err}");
        let err = read(json!({"Measurements": {"TokensPerSecond": "42,5"}})).unwrap_err();
        assert_eq!(
            err.message(),
            "single-user result: Measurements.TokensPerSecond: expected a number, found the \
             text \"42,5\" (write decimals with '.')"
        );
        let err = read(json!({"ModelResults": []})).unwrap_err();
        assert!(err
            .message()
            .contains("neither Summary.OverallAverageTokensPerSecond"));
        let err =
            read(json!({"ReportType": "ComparisonReport", "Runs": [{"Kind": "X"}]})).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("f.json: comparison report: Runs[0]"),
            "{err}"
        );
    }

    #[test]
    fn a_powershell_file_reads_into_the_results_types() {
        let file = read(json!({
            "timestamp": {"value": "/Date(1761921000000)/", "DateTime": "Friday"},
            "MODEL": "llama3.1:8b",
            "measurements": {"downloadTimeSeconds": "44.8", "DownloadStatus": "Success",
                             "TokensPerSecond": "NaN"},
            "Status": "completed"
        }))
        .unwrap();
        assert_eq!(
            file.timestamp_text().as_deref(),
            Some("2025-10-31 14:30:00")
        );
        assert_eq!(file.recorded.status.as_deref(), Some("completed"));
        assert!(!file.recorded.provenance && file.provenance().is_none());
        let Body::SingleUser(result) = &file.body else {
            panic!("{:?}", file.body)
        };
        assert_eq!(result.model, "llama3.1:8b");
        assert_eq!(result.timestamp, "2025-10-31 14:30:00");
        assert_eq!(result.measurements.download_time_seconds, Some(44.8));
        assert_eq!(result.measurements.tokens_per_second, None);
        assert!(file.notes.is_empty());
    }

    #[test]
    fn odd_timestamps_and_cut_objects_become_notes() {
        let file = read(json!({
            "Timestamp": "last tuesday",
            "Summary": {"OverallAverageTokensPerSecond": 42},
            "ModelResults": {"Model": "m", "PromptResults": ["@{PromptLength=Short; Statistics=}"]}
        }))
        .unwrap();
        assert_eq!(file.timestamp, None);
        assert!(file.notes[0].contains("\"last tuesday\" not understood"));
        assert!(file.notes[1].contains("ModelResults[0].PromptResults[0]"));
        assert!(file.notes[1].contains("-Depth 10"));
    }

    #[test]
    fn arrays_hold_several_results() {
        let files = from_value(
            &json!([{"Measurements": {"TokensPerSecond": 1}},
                    {"Measurements": {"TokensPerSecond": 2}, "Provenance": {"Simulated": true}}]),
            "many.json",
        )
        .unwrap();
        let sources: Vec<&str> = files.iter().map(|f| f.source.as_str()).collect();
        assert_eq!(sources, ["many.json#1", "many.json#2"]);
        assert!(!files[0].simulated() && files[1].simulated());
    }

    #[test]
    fn users_fall_back_to_the_total_and_the_list() {
        let mut result: MultiUserResult = serde_json::from_value(json!({"Summary": {}})).unwrap();
        assert_eq!(users(&result), None);
        result.summary.total_users = 3;
        assert_eq!(users(&result), Some(3));
        result.concurrent_users = 5;
        assert_eq!(users(&result), Some(5));
    }

    #[test]
    fn folders_are_walked_and_bad_files_named() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("results-1");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(
            sub.join("single-user.json"),
            "\u{feff}{\"Measurements\": {\"TokensPerSecond\": 42}}",
        )
        .unwrap();
        std::fs::write(dir.path().join("broken.json"), "{\"Measurements\": ").unwrap();
        std::fs::write(dir.path().join("other.json"), "{\"name\": 1}").unwrap();
        std::fs::write(dir.path().join(".tmp123.json"), "{").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
        let loaded = read_paths(&[dir.path().to_path_buf()]);
        assert_eq!(loaded.results.len(), 1);
        assert_eq!(loaded.results[0].path, sub.join("single-user.json"));
        assert_eq!(loaded.files_read, 3);
        assert_eq!(loaded.errors.len(), 1);
        assert!(loaded.errors[0].path().ends_with("broken.json"));
        assert_eq!(loaded.skipped.len(), 1);

        let direct = read_paths(&[
            dir.path().join("other.json"),
            dir.path().join("missing.json"),
        ]);
        assert!(direct.results.is_empty() && direct.skipped.is_empty());
        assert!(direct.errors[0].is_unknown_kind());
        assert!(direct.errors[1].to_string().contains("cannot read"));
        let empty = tempfile::tempdir().unwrap();
        let none = read_paths(&[empty.path().to_path_buf()]);
        assert!(none.errors[0].to_string().contains("holds no .json file"));
    }

    /// Files ollabench wrote (the report's fixtures are real runs) read into exactly what a
    /// plain deserialization of them gives: normalisation never changes a file of ours.
    #[test]
    fn files_written_by_ollabench_read_as_written() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report");
        let mut files = Vec::new();
        json_files_below(&dir, &mut files, 0).unwrap();
        let mut compared = 0;
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let value: Value = serde_json::from_str(&text).unwrap();
            if detect::member(&value, "Provenance").is_none() {
                continue;
            }
            let file = read_file(&path).unwrap().remove(0);
            let expected = match file.kind {
                Kind::SingleUser => Body::SingleUser(serde_json::from_value(value).unwrap()),
                Kind::TokensPerSecond => {
                    Body::TokensPerSecond(serde_json::from_value(value).unwrap())
                }
                Kind::MultiUser => Body::MultiUser(serde_json::from_value(value).unwrap()),
                Kind::Load => Body::Load(serde_json::from_value(value).unwrap()),
                Kind::Capacity => Body::Capacity(serde_json::from_value(value).unwrap()),
                Kind::ComparisonReport => continue,
            };
            assert_eq!(file.body, expected, "{}", path.display());
            assert!(file.notes.is_empty() && file.recorded.provenance);
            compared += 1;
        }
        assert!(compared >= 6, "{compared}");
    }

    /// ollabench's own result structs, written and read back: the contract between the
    /// writers in `results` and this reader.
    #[test]
    fn result_files_written_today_read_back_unchanged() {
        use crate::results::RunStatus;
        let multi = MultiUserResult {
            status: RunStatus::Interrupted,
            ..MultiUserResult::simulated_example()
        };
        let bytes = serde_json::to_vec_pretty(&multi).unwrap();
        let file = from_bytes(&bytes, "m.json").unwrap().remove(0);
        assert_eq!(file.body, Body::MultiUser(Box::new(multi)));
        assert!(file.simulated());
        assert_eq!(file.recorded.status.as_deref(), Some("Interrupted"));
        assert!(file.recorded.success_rate && !file.recorded.failed_requests);
    }
}

//! Housekeeping of a benchmarks folder, the reference's "Output File Management": timestamped
//! `results-*` runs and loose result files at the top, reference copies in `baseline/` (each
//! with a small JSON manifest naming it), comparison reports in `comparisons/`. It lists the
//! runs, sets baselines, and plans and carries out the pruning of old runs.
//!
//! Every result file is read through the one reader, [`crate::results::read`]. Pruning never
//! touches `baseline/` or `comparisons/`, and keeps every run a baseline was copied from or a
//! comparison refers to.

use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::results::read::{self, Body, Kind, ResultFile};
use crate::results::RunStatus;

/// Where reference results go.
pub const BASELINE_DIR: &str = "baseline";
/// Where comparison reports go.
pub const COMPARISONS_DIR: &str = "comparisons";
/// A baseline's manifest is `baseline/NAME.baseline.json`, beside the copy.
pub const MANIFEST_SUFFIX: &str = ".baseline.json";
/// The prefix of the folders `ollabench run` creates.
pub const RUN_FOLDER_PREFIX: &str = "results-";

/// Why housekeeping could not do what was asked. Each message says what to do instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HousekeepingError {
    #[error(
        "{0}: no such folder; give the benchmarks folder with --root (default: the current folder)"
    )]
    NoRoot(PathBuf),
    #[error("{0}: no such file or folder; give a result file or a results folder")]
    NoSource(PathBuf),
    #[error("{path}: holds no result file ollabench can read ({reason}); a baseline must be one")]
    NotAResult { path: PathBuf, reason: String },
    #[error("baseline name '{0}' is not usable: use letters, digits, '.', '-' and '_' only, not starting with '.'")]
    BadName(String),
    #[error("a baseline named '{0}' already exists in {BASELINE_DIR}/: choose another --name")]
    BaselineExists(String),
    #[error("'{0}' is not an age: write e.g. 30d, 2w or 12h")]
    BadAge(String),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
}

fn io_error(path: &Path, err: std::io::Error) -> HousekeepingError {
    HousekeepingError::Io {
        path: path.to_path_buf(),
        message: err.to_string(),
    }
}

/// Where a run's date came from, most trustworthy first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DateSource {
    /// The Timestamp its result file(s) record (the earliest, for a folder).
    File,
    /// The `results-YYYYMMDD-HHMMSS` folder name.
    FolderName,
    /// The file system's modification time.
    Modified,
}

impl DateSource {
    pub fn label(&self) -> &'static str {
        match self {
            DateSource::File => "file",
            DateSource::FolderName => "folder name",
            DateSource::Modified => "modified time",
        }
    }
}

/// How a run ended, across its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RunState {
    /// Every file ran to its end (some measurements may have failed).
    Complete,
    /// Ctrl-C stopped at least one of its files.
    Interrupted,
    /// No result could be read from it.
    Unreadable,
}

impl RunState {
    pub fn label(&self) -> &'static str {
        match self {
            RunState::Complete => "complete",
            RunState::Interrupted => "interrupted",
            RunState::Unreadable => "unreadable",
        }
    }
}

/// One run: a `results-*` folder or a loose result file at the top of the root.
#[derive(Debug, Clone)]
pub struct RunEntry {
    pub path: PathBuf,
    /// The folder's or file's name.
    pub name: String,
    pub folder: bool,
    pub date: Option<NaiveDateTime>,
    pub date_source: Option<DateSource>,
    pub kinds: Vec<Kind>,
    /// Endpoints the files name (the provenance's, else the reference's `OllamaEndpoint`).
    pub targets: Vec<String>,
    pub simulated: bool,
    pub state: RunState,
    /// Names of the baselines copied from it.
    pub baselines: Vec<String>,
}

/// What a baseline's manifest records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Manifest {
    pub name: String,
    #[serde(default)]
    pub note: String,
    /// The file or folder it was copied from, absolute.
    pub source: PathBuf,
    /// The copy, relative to `baseline/`.
    pub copy: PathBuf,
    pub created_at: String,
}

/// The runs and the baselines of a root.
#[derive(Debug, Clone)]
pub struct Listing {
    pub runs: Vec<RunEntry>,
    pub baselines: Vec<Manifest>,
    /// Manifests that could not be read.
    pub problems: Vec<String>,
}

/// Checks that `root` is a folder.
fn check_root(root: &Path) -> Result<(), HousekeepingError> {
    if root.is_dir() {
        Ok(())
    } else {
        Err(HousekeepingError::NoRoot(root.to_path_buf()))
    }
}

/// Lists the runs at the top of `root` (oldest first, undated last) and its baselines.
pub fn list(root: &Path) -> Result<Listing, HousekeepingError> {
    check_root(root)?;
    let (baselines, problems) = read_manifests(root);
    let mut runs = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|err| io_error(root, err))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let name = file_name(&path);
        let run = if path.is_dir() && name.starts_with(RUN_FOLDER_PREFIX) {
            let mut files = Vec::new();
            // A folder that cannot be searched is still a run; it reads as unreadable.
            let _ = read::json_files_below(&path, &mut files, 0);
            let results: Vec<ResultFile> = files
                .iter()
                .filter_map(|file| read::read_file(file).ok())
                .flatten()
                .collect();
            describe(&path, true, &results)
        } else if path.is_file() && is_json(&path) && !name.starts_with('.') {
            match read::read_file(&path) {
                Ok(results) if !is_comparison(&results) => describe(&path, false, &results),
                // Loose JSON that is no result (or is a comparison) is no run.
                _ => continue,
            }
        } else {
            continue;
        };
        runs.push(run);
    }
    for run in &mut runs {
        let source = absolute(&run.path);
        run.baselines = baselines
            .iter()
            .filter(|b| b.source == source)
            .map(|b| b.name.clone())
            .collect();
    }
    runs.sort_by_key(|run| (run.date.is_none(), run.date, run.name.clone()));
    Ok(Listing {
        runs,
        baselines,
        problems,
    })
}

fn is_comparison(results: &[ResultFile]) -> bool {
    results
        .iter()
        .any(|r| matches!(r.body, Body::Comparison(_)))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn is_json(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A run from what its files say, dated by the first of: the files' Timestamp, the folder
/// name, the modification time.
fn describe(path: &Path, folder: bool, results: &[ResultFile]) -> RunEntry {
    let name = file_name(path);
    let mut kinds: Vec<Kind> = results.iter().map(|r| r.kind).collect();
    kinds.sort();
    kinds.dedup();
    let mut targets: Vec<String> = results.iter().filter_map(target).collect();
    targets.sort();
    targets.dedup();
    let state = if results.is_empty() {
        RunState::Unreadable
    } else if results
        .iter()
        .any(|r| status(r) == Some(RunStatus::Interrupted))
    {
        RunState::Interrupted
    } else {
        RunState::Complete
    };
    let (date, date_source) = match results.iter().filter_map(|r| r.timestamp).min() {
        Some(time) => (Some(time), Some(DateSource::File)),
        None => match folder_name_time(&name).filter(|_| folder) {
            Some(time) => (Some(time), Some(DateSource::FolderName)),
            None => match modified_time(path) {
                Some(time) => (Some(time), Some(DateSource::Modified)),
                None => (None, None),
            },
        },
    };
    RunEntry {
        path: path.to_path_buf(),
        name,
        folder,
        date,
        date_source,
        kinds,
        targets,
        simulated: results.iter().any(ResultFile::simulated),
        state,
        baselines: Vec::new(),
    }
}

fn status(result: &ResultFile) -> Option<RunStatus> {
    match &result.body {
        Body::SingleUser(r) => Some(r.status),
        Body::TokensPerSecond(r) => Some(r.status),
        Body::MultiUser(r) => Some(r.status),
        Body::Load(r) => Some(r.status),
        Body::Capacity(r) => Some(r.status),
        Body::Comparison(_) => None,
    }
}

fn target(result: &ResultFile) -> Option<String> {
    let recorded = result.provenance().map(|p| p.endpoint.clone());
    let reference = match &result.body {
        Body::SingleUser(r) => Some(r.ollama_endpoint.clone()),
        Body::MultiUser(r) => Some(r.ollama_endpoint.clone()),
        _ => None,
    };
    recorded
        .filter(|e| !e.is_empty())
        .or(reference)
        .filter(|e| !e.is_empty())
}

/// The time in a `results-YYYYMMDD-HHMMSS[-N]` name.
pub fn folder_name_time(name: &str) -> Option<NaiveDateTime> {
    let stamp = name.strip_prefix(RUN_FOLDER_PREFIX)?.get(..15)?;
    NaiveDateTime::parse_from_str(stamp, "%Y%m%d-%H%M%S").ok()
}

fn modified_time(path: &Path) -> Option<NaiveDateTime> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(chrono::DateTime::<chrono::Local>::from(modified).naive_local())
}

/// Every manifest in `root/baseline/`, by name; unreadable ones become problems.
fn read_manifests(root: &Path) -> (Vec<Manifest>, Vec<String>) {
    let dir = root.join(BASELINE_DIR);
    let mut manifests = Vec::new();
    let mut problems = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return (manifests, problems);
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if !file_name(&path).ends_with(MANIFEST_SUFFIX) {
            continue;
        }
        let parsed = std::fs::read_to_string(&path)
            .map_err(|err| err.to_string())
            .and_then(|text| serde_json::from_str::<Manifest>(&text).map_err(|e| e.to_string()));
        match parsed {
            Ok(manifest) => manifests.push(manifest),
            Err(err) => problems.push(format!(
                "{}: not a baseline manifest: {err}",
                path.display()
            )),
        }
    }
    (manifests, problems)
}

/// Whether `name` is safe as a file name in `baseline/`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// Copies `source` (a result file or a folder of them) into `root/baseline/` as `NAME.json` or
/// `NAME/`, and writes `NAME.baseline.json` beside it. The name defaults to the source's name
/// (without `.json`).
pub fn set_baseline(
    root: &Path,
    source: &Path,
    name: Option<&str>,
    note: Option<&str>,
) -> Result<Manifest, HousekeepingError> {
    check_root(root)?;
    if !source.exists() {
        return Err(HousekeepingError::NoSource(source.to_path_buf()));
    }
    let loaded = read::read_paths(&[source.to_path_buf()]);
    if loaded.results.is_empty() {
        let reason = loaded
            .errors
            .first()
            .or(loaded.skipped.first())
            .map(|e| e.message())
            .unwrap_or_else(|| "no result found".into());
        return Err(HousekeepingError::NotAResult {
            path: source.to_path_buf(),
            reason,
        });
    }
    let folder = source.is_dir();
    let default_name = file_name(source);
    let default_name = default_name
        .strip_suffix(".json")
        .unwrap_or(&default_name)
        .to_string();
    let name = name.map(str::to_string).unwrap_or(default_name);
    if !valid_name(&name) {
        return Err(HousekeepingError::BadName(name));
    }
    let dir = root.join(BASELINE_DIR);
    std::fs::create_dir_all(&dir).map_err(|err| io_error(&dir, err))?;
    let copy = if folder {
        PathBuf::from(&name)
    } else {
        PathBuf::from(format!("{name}.json"))
    };
    let manifest_path = dir.join(format!("{name}{MANIFEST_SUFFIX}"));
    if dir.join(&copy).exists() || manifest_path.exists() {
        return Err(HousekeepingError::BaselineExists(name));
    }
    if folder {
        copy_folder(source, &dir.join(&copy))?;
    } else {
        std::fs::copy(source, dir.join(&copy)).map_err(|err| io_error(source, err))?;
    }
    let manifest = Manifest {
        name,
        note: note.unwrap_or_default().to_string(),
        source: absolute(source),
        copy,
        created_at: crate::results::timestamp_now(),
    };
    crate::results::write_json_atomic(&manifest_path, &manifest).map_err(|err| {
        HousekeepingError::Io {
            path: manifest_path.clone(),
            message: format!("{err:#}"),
        }
    })?;
    Ok(manifest)
}

fn copy_folder(from: &Path, to: &Path) -> Result<(), HousekeepingError> {
    std::fs::create_dir_all(to).map_err(|err| io_error(to, err))?;
    for entry in std::fs::read_dir(from).map_err(|err| io_error(from, err))? {
        let path = entry.map_err(|err| io_error(from, err))?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_folder(&path, &target)?;
        } else {
            std::fs::copy(&path, &target).map_err(|err| io_error(&path, err))?;
        }
    }
    Ok(())
}

/// Parses an age: `30d`, `2w`, `12h` (a bare number means days).
pub fn parse_age(text: &str) -> Result<Duration, HousekeepingError> {
    let bad = || HousekeepingError::BadAge(text.to_string());
    let trimmed = text.trim();
    let (number, unit) = match trimmed.find(|c: char| c.is_ascii_alphabetic()) {
        Some(index) => trimmed.split_at(index),
        None => (trimmed, "d"),
    };
    let value: i64 = number.trim().parse().map_err(|_| bad())?;
    if value < 0 {
        return Err(bad());
    }
    match unit {
        "h" => Ok(Duration::hours(value)),
        "d" => Ok(Duration::days(value)),
        "w" => Ok(Duration::weeks(value)),
        _ => Err(bad()),
    }
}

/// Why a run old enough to prune is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// A baseline was copied from it.
    Baseline(String),
    /// A comparison report refers to it.
    Comparison(String),
    /// Its date is unknown.
    Undated,
}

impl std::fmt::Display for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kept::Baseline(name) => write!(f, "baseline '{name}' was copied from it"),
            Kept::Comparison(file) => write!(f, "{file} refers to it"),
            Kept::Undated => write!(f, "its date is unknown"),
        }
    }
}

/// What a prune would do.
#[derive(Debug, Clone)]
pub struct PrunePlan {
    /// Runs older than the age that nothing keeps.
    pub delete: Vec<RunEntry>,
    /// Runs older than the age kept, and why.
    pub kept: Vec<(RunEntry, Kept)>,
    /// How the comparisons were read (e.g. one read as plain text).
    pub notes: Vec<String>,
}

/// What each file in `comparisons/` refers to: the sources of its runs, or, for a file the
/// reader does not know as a comparison, its whole text (any run named in it is kept).
fn comparison_references(root: &Path) -> (Vec<(String, String)>, Vec<String>) {
    let dir = root.join(COMPARISONS_DIR);
    let mut references = Vec::new();
    let mut notes = Vec::new();
    let mut files = Vec::new();
    if !dir.is_dir() {
        return (references, notes);
    }
    if let Err(message) = read::json_files_below(&dir, &mut files, 0) {
        notes.push(format!("{}: {message}", dir.display()));
    }
    for file in files {
        let label = format!("{COMPARISONS_DIR}/{}", file_name(&file));
        let runs: Vec<String> = match read::read_file(&file) {
            Ok(results) => results
                .iter()
                .filter_map(|r| match &r.body {
                    Body::Comparison(c) => Some(c.runs.iter().map(|run| run.source.clone())),
                    _ => None,
                })
                .flatten()
                .collect(),
            Err(_) => Vec::new(),
        };
        if runs.is_empty() {
            // Not a comparison ollabench reads (e.g. compare-results.ps1's): keep every run
            // its text names rather than guess.
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            notes.push(format!(
                "{label}: no comparison report ollabench reads; kept every run its text names"
            ));
            references.push((label, text));
        } else {
            references.extend(runs.into_iter().map(|source| (label.clone(), source)));
        }
    }
    (references, notes)
}

/// Whether a comparison's reference (a run's source, or a file's text) names `run`: the
/// folder's or file's name as a whole path component. Sources were relative to wherever
/// `compare` ran, so names, not full paths, are matched: a shared name keeps a run.
fn refers_to(reference: &str, run: &RunEntry) -> bool {
    let reference = reference.replace('\\', "/");
    reference.match_indices(&run.name).any(|(at, _)| {
        let before = reference[..at].chars().next_back();
        let after = reference[at + run.name.len()..].chars().next();
        let boundary = |c: Option<char>| {
            c.is_none_or(|c| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '.'))
        };
        boundary(before) && boundary(after)
    })
}

/// Which runs at the top of `root` are older than `age` at `now`, and which of those are kept.
pub fn plan_prune(
    root: &Path,
    age: Duration,
    now: NaiveDateTime,
) -> Result<PrunePlan, HousekeepingError> {
    let listing = list(root)?;
    let (references, mut notes) = comparison_references(root);
    notes.extend(listing.problems);
    let cutoff = now - age;
    let mut plan = PrunePlan {
        delete: Vec::new(),
        kept: Vec::new(),
        notes,
    };
    for run in listing.runs {
        let Some(date) = run.date else {
            plan.kept.push((run, Kept::Undated));
            continue;
        };
        if date >= cutoff {
            continue;
        }
        if let Some(name) = run.baselines.first() {
            let name = name.clone();
            plan.kept.push((run, Kept::Baseline(name)));
        } else if let Some((file, _)) = references.iter().find(|(_, r)| refers_to(r, &run)) {
            let file = file.clone();
            plan.kept.push((run, Kept::Comparison(file)));
        } else {
            plan.delete.push(run);
        }
    }
    Ok(plan)
}

/// Deletes the plan's runs; returns the paths deleted and the failures.
pub fn prune(plan: &PrunePlan) -> (Vec<PathBuf>, Vec<HousekeepingError>) {
    let mut deleted = Vec::new();
    let mut failed = Vec::new();
    for run in &plan.delete {
        let result = if run.folder {
            std::fs::remove_dir_all(&run.path)
        } else {
            std::fs::remove_file(&run.path)
        };
        match result {
            Ok(()) => deleted.push(run.path.clone()),
            Err(err) => failed.push(io_error(&run.path, err)),
        }
    }
    (deleted, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse_in_hours_days_and_weeks() {
        assert_eq!(parse_age("30d").unwrap(), Duration::days(30));
        assert_eq!(parse_age("2w").unwrap(), Duration::days(14));
        assert_eq!(parse_age("12h").unwrap(), Duration::hours(12));
        assert_eq!(parse_age("7").unwrap(), Duration::days(7));
        for bad in ["", "x", "30y", "-3d", "1.5d"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn folder_names_carry_their_time() {
        let time = folder_name_time("results-20251031-140000-2").unwrap();
        assert_eq!(time.to_string(), "2025-10-31 14:00:00");
        assert!(folder_name_time("results-latest").is_none());
        assert!(folder_name_time("baseline").is_none());
    }

    #[test]
    fn references_match_whole_names_only() {
        let run = RunEntry {
            path: PathBuf::from("x/results-20251031-140000"),
            name: "results-20251031-140000".into(),
            folder: true,
            date: None,
            date_source: None,
            kinds: Vec::new(),
            targets: Vec::new(),
            simulated: false,
            state: RunState::Complete,
            baselines: Vec::new(),
        };
        assert!(refers_to(
            "../results-20251031-140000/single-user.json",
            &run
        ));
        assert!(refers_to(r"C:\b\results-20251031-140000\tps.json", &run));
        assert!(!refers_to(
            "results-20251031-140000-2/single-user.json",
            &run
        ));
        assert!(!refers_to("old-results-20251031-140000/x.json", &run));
        assert!(valid_name("azure-files_1.0"));
        assert!(!valid_name("../x") && !valid_name(".hidden") && !valid_name(""));
    }
}

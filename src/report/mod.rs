//! Reports: the terminal summary, Markdown (`summary.md`) and the self-contained HTML report
//! (`report.html`).
//!
//! [`write_report`] reads result files (or folders of them), builds one [`document::Document`]
//! and writes it twice: as HTML with inline SVG charts and as Markdown tables. `ollabench
//! report` calls it, and so do `run` (at the end of a suite) and `compare --report`.

pub mod capacity;
pub mod document;
pub mod html;
pub mod load;
pub mod markdown;
pub mod model;
pub mod svg;
pub mod trend;
pub mod verdicts;

use std::path::{Path, PathBuf};

use crate::exit::ConfigError;
pub use load::FileProblem;

/// The HTML report's file name.
pub const HTML_FILE: &str = "report.html";
/// The Markdown summary's file name.
pub const MARKDOWN_FILE: &str = "summary.md";

/// Choices beyond the inputs.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// The result file that trends compare against (default: the earliest run of each trend).
    pub baseline: Option<PathBuf>,
}

/// What [`write_report`] wrote and what it could not use.
#[derive(Debug, Clone)]
pub struct ReportPaths {
    pub html: PathBuf,
    pub markdown: PathBuf,
    /// Result files rendered.
    pub files: Vec<PathBuf>,
    /// Files given or found that could not be used (each named, with the reason).
    pub problems: Vec<FileProblem>,
    /// JSON files found in folders that are not result files.
    pub skipped: Vec<PathBuf>,
}

/// Writes `report.html` and `summary.md` for `inputs` (result files, or folders searched for
/// `*.json`) into `out_dir`. Bad files are listed in the report and in
/// [`ReportPaths::problems`]; the others still render. No usable file is a usage error.
pub fn write_report(inputs: &[PathBuf], out_dir: &Path) -> anyhow::Result<ReportPaths> {
    write_report_with(inputs, out_dir, &ReportOptions::default())
}

/// [`write_report`] with options.
pub fn write_report_with(
    inputs: &[PathBuf],
    out_dir: &Path,
    options: &ReportOptions,
) -> anyhow::Result<ReportPaths> {
    let loaded = load::load(inputs);
    if loaded.files.is_empty() {
        return Err(ConfigError::NoUsableInput {
            inputs: inputs.to_vec(),
            problems: loaded.problems.iter().map(|p| p.to_string()).collect(),
        }
        .into());
    }
    let doc = document::build(&loaded.files, &loaded.problems, options.baseline.as_deref());
    let generated = chrono::Local::now()
        .format(crate::results::TIMESTAMP_FORMAT)
        .to_string();
    let html_path = out_dir.join(HTML_FILE);
    let markdown_path = out_dir.join(MARKDOWN_FILE);
    write_text_atomic(&html_path, &html::render(&doc, &generated))?;
    write_text_atomic(&markdown_path, &markdown::render(&doc))?;
    Ok(ReportPaths {
        html: html_path,
        markdown: markdown_path,
        files: {
            // The elements of a file holding an array are one file.
            let mut files: Vec<PathBuf> =
                loaded.files.iter().map(|f| f.file.path.clone()).collect();
            files.dedup();
            files
        },
        problems: loaded.problems,
        skipped: loaded.skipped,
    })
}

/// Where a report goes when no folder is named: the folder given, else the folder of the
/// first file given.
pub fn default_output_dir(inputs: &[PathBuf]) -> PathBuf {
    match inputs.first() {
        Some(first) if first.is_dir() => first.clone(),
        Some(first) => match first.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        },
        None => PathBuf::from("."),
    }
}

/// Writes text through a temp file and a rename, so that a reader never sees half a report.
fn write_text_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    crate::results::write::write_atomic(path, text.as_bytes())
}

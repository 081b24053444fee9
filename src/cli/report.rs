//! `ollabench report`: writes report.html and summary.md for result files or folders.

use std::path::PathBuf;

use clap::Args;

use crate::exit::{ConfigError, Ctx, Outcome};
use crate::report::{self, ReportOptions};

/// Flags of `ollabench report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Result files, or folders searched for every result JSON below them.
    #[arg(value_name = "DIR|FILES", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Where report.html and summary.md go (default: the folder given, or the first file's
    /// folder).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// The result file that trends across runs compare against (default: the earliest run).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
}

impl ReportArgs {
    pub async fn execute(self, _ctx: &Ctx) -> anyhow::Result<Outcome> {
        if let Some(baseline) = &self.baseline {
            if !baseline.is_file() {
                return Err(ConfigError::MissingFile {
                    flag: "--baseline",
                    path: baseline.clone(),
                    advice: "name one of the result files given",
                }
                .into());
            }
        }
        // Several inputs make a report of their own: it never replaces the report of the
        // first folder unasked, so without --output-dir it goes into the working folder.
        let several = self.inputs.len() > 1;
        let out_dir = match &self.output_dir {
            Some(dir) => dir.clone(),
            None if several => PathBuf::from("."),
            None => report::default_output_dir(&self.inputs),
        };
        crate::results::write::check_folder_writable(&out_dir, "the report in", &out_dir)?;
        if several && self.output_dir.is_none() {
            crate::errln!(
                "note: {} inputs: the report goes into the current folder ({}); name another \
                 with --output-dir",
                self.inputs.len(),
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|_| ".".into())
            );
        }
        let options = ReportOptions {
            baseline: self.baseline.clone(),
        };
        let inputs = self.inputs;
        // Reading and drawing is blocking file work; keep it off the async workers.
        let written = tokio::task::spawn_blocking(move || {
            report::write_report_with(&inputs, &out_dir, &options)
        })
        .await??;
        for problem in &written.problems {
            crate::errln!("error: {problem}");
        }
        crate::outln!(
            "Report of {} result file{}: {} and {}",
            written.files.len(),
            if written.files.len() == 1 { "" } else { "s" },
            written.html.display(),
            written.markdown.display()
        );
        Ok(if written.problems.is_empty() {
            Outcome::Success
        } else {
            Outcome::Failed
        })
    }
}

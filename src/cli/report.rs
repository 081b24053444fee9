//! `ollabench report`: writes report.html and summary.md for result files or folders.

use std::path::PathBuf;

use clap::Args;

use crate::exit::{Ctx, Outcome, UsageError};
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
                return Err(UsageError::err(format!(
                    "--baseline {}: no such file; name one of the result files given",
                    baseline.display()
                )));
            }
        }
        let out_dir = self
            .output_dir
            .clone()
            .unwrap_or_else(|| report::default_output_dir(&self.inputs));
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
            eprintln!("error: {problem}");
        }
        println!(
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

//! `ollabench compare`: flags of the comparison and the regression gate, and how its outcome
//! maps to exit codes.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::compare::{self, render, CompareOptions};
use crate::exit::{ConfigError, Ctx, Outcome};

const COMPARE_HELP: &str = "\
Exit codes:
  0    compared (and, with --fail-on-regression, nothing regressed)
  1    --fail-on-regression: a metric of a later run is worse than the baseline by more than
       PCT and beyond noise (each such metric is named on stderr)
  2    unusable input: no usable result file, an unusable --baseline, or a gate with nothing
       to compare (one run and no --baseline)

Bad files (malformed JSON, empty, unknown kind, missing fields) are reported as
`error: FILE: line L, column C: ...` and the other files are still compared.

Trends: runs of one kind and configuration (single-user: the model; tokens-per-second: the
models and concurrency; multi-user: the number of users) are ordered by Timestamp and each
metric is compared with the baseline: the --baseline runs of that group, else its first run.

Noise: a change counts only when it exceeds the runs' own noise. For metrics with a recorded
spread (tokens-per-second cells: StdDevTokensPerSecond, SampleSize) the threshold is the larger
of the larger standard deviation and twice the combined standard error 2*sqrt(s1^2/n1 +
s2^2/n2). With several --baseline runs, their standard deviation across runs is the spread.
Without any spread the noise is unknown (one run against one): changes under 5% are shown as
negligible, larger ones as better or worse with `noise unknown (1 run)`, never as beyond noise;
the gate judges them by PCT alone.

Output: a short verdict per metric of each later run against its baseline, the scaling, the
Performance Targets verdicts and the gate; --verbose adds the tables of runs, the values per
cell, the statistics across runs and every change.

Verdicts use the reference's Performance Targets for Azure AKS with an NVIDIA T4 GPU and Azure
Files Premium; download, cold load and tok/s targets assume a 7-8GB model.

Examples:
  ollabench compare azure-files-baseline.json nvme-baseline.json
  ollabench compare scale-1.json scale-3.json scale-5.json scale-10.json
  ollabench compare --baseline tracking/baseline tracking/ --fail-on-regression 10
  ollabench compare results-*/ --format markdown --output comparison-report.json";

/// How `compare` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Tables for the terminal.
    Table,
    /// Markdown (for pull requests and wikis).
    Markdown,
    /// The comparison report, as `--output` writes it.
    Json,
    /// One row per run per metric.
    Csv,
}

impl From<OutputFormat> for render::Format {
    fn from(format: OutputFormat) -> Self {
        match format {
            OutputFormat::Table => render::Format::Table,
            OutputFormat::Markdown => render::Format::Markdown,
            OutputFormat::Json => render::Format::Json,
            OutputFormat::Csv => render::Format::Csv,
        }
    }
}

/// Flags of `ollabench compare`.
#[derive(Debug, Args)]
#[command(after_help = COMPARE_HELP)]
pub struct CompareArgs {
    /// Result files, or folders meaning every *.json below them: single-user,
    /// tokens-per-second and multi-user results (ollabench's or the PowerShell suite's) and
    /// comparison reports.
    #[arg(required = true, value_name = "FILES_OR_DIRS")]
    pub inputs: Vec<PathBuf>,

    /// The run(s) later runs are compared with: a file or a folder; repeatable. Without it,
    /// the first run (by Timestamp) of each kind and configuration.
    #[arg(long, value_name = "FILE")]
    pub baseline: Vec<PathBuf>,

    /// Exit 1 when any metric of a later run is worse than the baseline by more than PCT
    /// percent and beyond noise.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub fail_on_regression: Option<f64>,

    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,

    /// Also write the comparison report (JSON, readable by `compare` again) to FILE.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Also write report.html (charts: a trend line per metric, baseline marked) and
    /// summary.md into DIR.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,

    /// Table and Markdown: add the details (tables of runs, values per cell, statistics across
    /// runs, every change) to the short verdict per metric.
    #[arg(long)]
    pub verbose: bool,
}

fn parse_percent(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("expected a percentage such as 10 or 2.5, got {text:?}"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("expected a percentage of 0 or more, got {text:?}"));
    }
    Ok(value)
}

impl CompareArgs {
    /// Runs the comparison; see the exit codes in `COMPARE_HELP`.
    pub async fn execute(self, _ctx: &Ctx) -> anyhow::Result<Outcome> {
        if let Some(path) = &self.output {
            crate::results::write::check_writable(path, "--output")?;
        }
        if let Some(dir) = &self.report {
            crate::results::write::check_folder_writable(dir, "--report", dir)?;
        }
        let options = CompareOptions {
            inputs: self.inputs.clone(),
            baselines: self.baseline.clone(),
            fail_on_regression: self.fail_on_regression,
        };
        let comparison = tokio::task::spawn_blocking(move || compare::compare(&options))
            .await
            .map_err(|err| anyhow::anyhow!("the comparison stopped unexpectedly: {err}"))?;

        for error in &comparison.errors {
            crate::errln!("error: {error}");
        }
        for skipped in &comparison.skipped {
            crate::errln!("warning: skipped {skipped}");
        }
        if comparison.baseline_unusable {
            return Err(ConfigError::NoUsableBaseline.into());
        }
        if !comparison.has_runs() {
            return Err(ConfigError::NoUsableRuns.into());
        }

        if let Some(path) = &self.output {
            crate::results::write_json_atomic(path, &comparison).map_err(|err| {
                ConfigError::WriteFailed {
                    flag: "--output",
                    path: path.clone(),
                    reason: format!("{err:#}"),
                }
            })?;
        }

        if let Some(dir) = &self.report {
            let mut inputs = self.inputs.clone();
            inputs.extend(self.output.iter().cloned());
            let options = crate::report::ReportOptions {
                baseline: self.baseline.first().cloned(),
            };
            let dir = dir.clone();
            let written = tokio::task::spawn_blocking(move || {
                crate::report::write_report_with(&inputs, &dir, &options)
            })
            .await
            .map_err(|err| anyhow::anyhow!("the report stopped unexpectedly: {err}"))??;
            crate::errln!(
                "report: {} and {}",
                written.html.display(),
                written.markdown.display()
            );
        }

        let text = render::render(&comparison, self.format.into(), self.verbose);
        let mut stdout = std::io::stdout().lock();
        if let Err(err) = stdout
            .write_all(text.as_bytes())
            .and_then(|_| stdout.flush())
        {
            // A closed pipe (`| head`) is not a failure of the comparison.
            if err.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(anyhow::anyhow!("cannot write to stdout: {err}"));
            }
        }

        let Some(gate) = &comparison.gate else {
            return Ok(Outcome::Success);
        };
        if gate.compared == 0 {
            return Err(ConfigError::NothingToCompare.into());
        }
        if gate.passed {
            return Ok(Outcome::Success);
        }
        for change in &gate.regressions {
            let noise = change
                .noise
                .map(|n| format!("noise ±{n:.2} {}", change.unit.suffix()))
                .unwrap_or_else(|| "no noise estimate".to_string());
            crate::errln!(
                "regression: {}: {} {:.2} -> {:.2} {} ({:+.1}%, {noise}): worse than baseline {} by more than {}%",
                change.run,
                change.metric,
                change.baseline_value,
                change.value,
                change.unit.suffix(),
                change.change_percent.unwrap_or(0.0),
                change.baseline,
                gate.threshold_percent
            );
        }
        Ok(Outcome::Failed)
    }
}

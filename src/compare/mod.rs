//! `ollabench compare`: reads result files (ollabench's and the PowerShell suite's), and
//! compares runs: tables, statistics, scaling, trends, verdicts and the regression gate.
//!
//! The pipeline: [`read`] turns files, read by the one reader of result files
//! ([`crate::results::read`], which `report` uses too), into normalised [`model::Run`]s (bad
//! files become [`read::FileError`]s, the rest go on); [`analyse`] groups runs of one kind and
//! one configuration ([`model::Run::group_key`]: a simulated run never with a real one), orders
//! each group by Timestamp, picks its baseline (the `--baseline` runs of the group, else its
//! first run) and computes [`trend`]s, statistics across runs, the
//! multi-user [`scaling`] series, [`crate::analysis::verdict`]s and the gate; [`render`] prints the
//! resulting [`Comparison`] as a table, Markdown, JSON or CSV. The JSON form is the comparison
//! report (`--output`), marked `"ReportType": "ComparisonReport"` and carrying its runs, so
//! that `compare` reads a report back as input.

pub mod load;
pub mod model;
pub mod render;

use std::path::PathBuf;

use serde::Serialize;

use crate::analysis::verdict::{self, Verdict};
use crate::analysis::{scaling, trend};
use crate::results::runs as read;
use model::{Kind, Run};
use read::FileError;
use scaling::ScalingAnalysis;
use trend::{Baseline, Change, Direction, MetricStatistics};

/// Version of the comparison report's layout.
pub const REPORT_VERSION: u32 = 1;

/// What to compare.
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    /// Result files and folders (a folder means every `*.json` below it).
    pub inputs: Vec<PathBuf>,
    /// `--baseline` files or folders: the runs every later run is compared with.
    pub baselines: Vec<PathBuf>,
    /// `--fail-on-regression PCT`.
    pub fail_on_regression: Option<f64>,
}

/// The runs of one kind and one configuration, compared as a trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Group {
    pub kind: Kind,
    /// What the runs share: `model llama3.1:8b`, `3 users`, ...
    pub key: String,
    /// The runs' labels in Timestamp order.
    pub runs: Vec<String>,
    /// The baseline's label: a run, or the mean of several `--baseline` runs.
    pub baseline: String,
    /// Whether the baseline came from `--baseline` (else: the group's first run).
    pub baseline_from_option: bool,
    pub statistics: Vec<MetricStatistics>,
    /// Every metric of every later run against the baseline.
    pub changes: Vec<Change>,
    /// Metrics that moved the same way at every step (three runs or more).
    pub directions: Vec<Direction>,
}

/// The verdicts of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunVerdicts {
    pub run: String,
    pub verdicts: Vec<Verdict>,
}

/// The regression gate's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Gate {
    pub threshold_percent: f64,
    /// How many metric changes were judged.
    pub compared: usize,
    pub regressions: Vec<Change>,
    pub passed: bool,
}

/// Everything `compare` found; its JSON form is the comparison report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Comparison {
    /// Always `ComparisonReport`: how `compare` recognises the file as input.
    pub report_type: &'static str,
    pub report_version: u32,
    pub generated_at: String,
    pub ollabench_version: &'static str,
    /// The hardware and model size the verdicts assume.
    pub targets: String,
    /// How noise is told from change.
    pub noise_rule: &'static str,
    pub errors: Vec<FileError>,
    /// JSON files in folders that are not result files.
    pub skipped: Vec<FileError>,
    /// Every run, by kind, then Timestamp.
    pub runs: Vec<Run>,
    pub groups: Vec<Group>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling: Option<ScalingAnalysis>,
    pub verdicts: Vec<RunVerdicts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<Gate>,
    /// Whether `--baseline` was given but gave no usable run.
    #[serde(skip)]
    pub baseline_unusable: bool,
}

/// Reads the inputs and baselines and compares them.
pub fn compare(options: &CompareOptions) -> Comparison {
    let baseline = read::load_paths(&options.baselines);
    let inputs = read::load_paths(&options.inputs);
    let baseline_unusable = !options.baselines.is_empty() && baseline.results.is_empty();
    let mut runs: Vec<Run> = baseline
        .results
        .into_iter()
        .map(|mut run| {
            run.baseline = true;
            run
        })
        .collect();
    runs.extend(inputs.results);
    // A baseline file also found among the inputs counts once, as the baseline.
    read::deduplicate(&mut runs);
    read::assign_labels(&mut runs);
    let mut errors = baseline.errors;
    errors.extend(inputs.errors);
    let mut skipped = baseline.skipped;
    skipped.extend(inputs.skipped);
    let mut comparison = analyse(runs, options.fail_on_regression);
    comparison.errors = errors;
    comparison.skipped = skipped;
    comparison.baseline_unusable = baseline_unusable;
    comparison
}

/// Compares runs already read (labels assigned; `baseline` set on `--baseline` runs).
pub fn analyse(mut runs: Vec<Run>, fail_on_regression: Option<f64>) -> Comparison {
    // By kind, then Timestamp; runs without one keep their order after those with one.
    runs.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then_with(|| match (a.time(), b.time()) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
    });

    let mut group_keys: Vec<(Kind, String)> = Vec::new();
    for run in &runs {
        let key = (run.kind, run.group_key());
        if !group_keys.contains(&key) {
            group_keys.push(key);
        }
    }
    let groups: Vec<Group> = group_keys
        .into_iter()
        .map(|(kind, key)| {
            let members: Vec<&Run> = runs
                .iter()
                .filter(|r| r.kind == kind && r.group_key() == key)
                .collect();
            build_group(kind, key, &members)
        })
        .collect();

    let scaling = scaling::analyse(&runs);
    let verdicts = runs
        .iter()
        .map(|run| {
            let efficiency = scaling.as_ref().and_then(|s| s.efficiency_of(&run.label));
            RunVerdicts {
                run: run.label.clone(),
                verdicts: verdict::assess_run(run, efficiency),
            }
        })
        .filter(|v| !v.verdicts.is_empty())
        .collect();

    let gate = fail_on_regression.map(|threshold_percent| {
        let changes: Vec<&Change> = groups.iter().flat_map(|g| &g.changes).collect();
        let regressions: Vec<Change> = changes
            .iter()
            .filter(|c| c.is_regression(threshold_percent))
            .map(|c| (*c).clone())
            .collect();
        Gate {
            threshold_percent,
            compared: changes.len(),
            passed: regressions.is_empty(),
            regressions,
        }
    });

    Comparison {
        report_type: read::REPORT_TYPE,
        report_version: REPORT_VERSION,
        generated_at: chrono::Local::now()
            .format(read::TIMESTAMP_FORMAT)
            .to_string(),
        ollabench_version: env!("CARGO_PKG_VERSION"),
        targets: verdict::targets_note(),
        noise_rule: trend::NOISE_RULE,
        errors: Vec::new(),
        skipped: Vec::new(),
        runs,
        groups,
        scaling,
        verdicts,
        gate,
        baseline_unusable: false,
    }
}

fn build_group(kind: Kind, key: String, members: &[&Run]) -> Group {
    let from_option: Vec<&Run> = members.iter().copied().filter(|r| r.baseline).collect();
    let (baseline_runs, later): (Vec<&Run>, Vec<&Run>) = if from_option.is_empty() {
        let (first, rest) = members.split_at(1.min(members.len()));
        (first.to_vec(), rest.to_vec())
    } else {
        (
            from_option,
            members.iter().copied().filter(|r| !r.baseline).collect(),
        )
    };
    let baseline = Baseline::of(&baseline_runs);
    let changes = later
        .iter()
        .flat_map(|run| {
            let baseline = &baseline;
            run.metrics.iter().filter_map(move |metric| {
                baseline
                    .metric(&metric.key())
                    .map(|base| trend::change(&baseline.label, base, run, metric))
            })
        })
        .collect();
    // Statistics and directions describe the runs in time order, baseline included.
    Group {
        kind,
        key,
        runs: members.iter().map(|r| r.label.clone()).collect(),
        baseline_from_option: baseline_runs.iter().any(|r| r.baseline),
        baseline: baseline.label,
        statistics: if members.len() > 1 {
            trend::statistics(members)
        } else {
            Vec::new()
        },
        changes,
        // A direction over time needs the time: runs without a Timestamp are left out.
        directions: trend::directions(
            &members
                .iter()
                .copied()
                .filter(|r| r.time().is_some())
                .collect::<Vec<_>>(),
        ),
    }
}

impl Comparison {
    /// Whether any run was read.
    pub fn has_runs(&self) -> bool {
        !self.runs.is_empty()
    }

    /// The runs of one kind, in Timestamp order.
    pub fn runs_of(&self, kind: Kind) -> Vec<&Run> {
        self.runs.iter().filter(|r| r.kind == kind).collect()
    }
}

//! Trends across runs: runs of the same kind and configuration, grouped as `compare` groups
//! them ([`Run::group_key`]: like with like, as the reference asks, and never a simulated run
//! with a real one), ordered by the Timestamp the reader parsed, with one series per metric
//! and a baseline (the first run unless one is named). A group of one run draws no trend.

use std::path::Path;

use chrono::NaiveDateTime;

use super::load::LoadedFile;
use super::model;
use crate::results::comparison::ComparisonFile;
use crate::results::comparison::{Kind, Run};
use crate::results::read::{parse_timestamp_text, Body, ResultFile};

/// One number of a run: (metric, unit, subject, value).
type MetricValue = (String, String, String, f64);
/// A run in a group: the run, its numbers, and whether it was named the baseline.
type Member = (TrendRun, Vec<MetricValue>, bool);

/// Most lines one trend chart draws, so that a legend stays readable.
const MAX_LINES: usize = 8;

/// One run of a trend.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendRun {
    pub label: String,
    /// The Timestamp as shown.
    pub timestamp: Option<String>,
    /// The Timestamp as the reader parsed it: the order of the runs.
    pub time: Option<NaiveDateTime>,
}

impl TrendRun {
    /// A short x-axis label: the timestamp without seconds, else the label.
    pub fn axis_label(&self) -> String {
        match (&self.time, &self.timestamp) {
            (Some(time), _) => time.format("%Y-%m-%d %H:%M").to_string(),
            (None, Some(text)) => text.clone(),
            (None, None) => self.label.clone(),
        }
    }
}

/// One series of a trend chart: one value (or a gap) per run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendLine {
    pub subject: String,
    pub values: Vec<Option<f64>>,
}

impl TrendLine {
    /// The last run against the baseline, in percent: `+4.2%`, or `-` when either is missing.
    pub fn change_text(&self, baseline: usize) -> String {
        let base = self.values.get(baseline).copied().flatten();
        let last = self.values.iter().rev().flatten().next().copied();
        match (base, last) {
            (Some(base), Some(last)) if base != 0.0 => {
                let change = (last - base) / base.abs() * 100.0;
                format!("{change:+.2}%")
            }
            _ => "-".to_string(),
        }
    }
}

/// One metric across the runs of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendChart {
    pub metric: String,
    pub unit: String,
    pub lines: Vec<TrendLine>,
}

/// Runs compared with one another.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendGroup {
    pub name: String,
    pub runs: Vec<TrendRun>,
    /// Index into `runs`.
    pub baseline: usize,
    pub charts: Vec<TrendChart>,
}

/// A file's metrics as (metric, unit, subject, value).
fn file_metrics(file: &ResultFile) -> Vec<MetricValue> {
    let mut out = Vec::new();
    let mut push = |metric: &str, unit: &str, subject: &str, value: Option<f64>| {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            out.push((
                metric.to_string(),
                unit.to_string(),
                subject.to_string(),
                value,
            ));
        }
    };
    match &file.body {
        Body::SingleUser(r) => {
            let m = &r.measurements;
            push("Download time", "s", "download", m.download_time_seconds);
            push("Cold load time", "s", "cold load", m.load_time_cold_seconds);
            push("Warm load time", "s", "warm load", m.load_time_warm_seconds);
            push(
                "Tokens/second",
                "tok/s",
                "tokens/second",
                m.tokens_per_second,
            );
        }
        Body::TokensPerSecond(r) => {
            let cells = model::cells(r);
            push(
                "Average tokens/second",
                "tok/s",
                "overall",
                r.summary.overall_average_tokens_per_second,
            );
            for cell in &cells {
                push(
                    "Average tokens/second",
                    "tok/s",
                    &cell.name(),
                    cell.result.statistics.average_tokens_per_second,
                );
            }
            // Latencies are in milliseconds everywhere a person reads them.
            push(
                "Median time to first token",
                "ms",
                "overall",
                r.summary
                    .overall_median_time_to_first_token_seconds
                    .map(|s| s * 1000.0),
            );
            for cell in &cells {
                push(
                    "Median time to first token",
                    "ms",
                    &cell.name(),
                    cell.result
                        .metrics
                        .time_to_first_token_seconds
                        .map(|s| s.median * 1000.0),
                );
            }
        }
        Body::MultiUser(r) => {
            let s = &r.summary;
            push(
                "Overall duration",
                "s",
                "overall",
                Some(s.overall_duration_seconds),
            );
            push(
                "Average download time",
                "s",
                "download",
                s.average_download_time_seconds,
            );
            push(
                "Average load time",
                "s",
                "load",
                s.average_load_time_seconds,
            );
            push(
                "Average throughput",
                "tok/s",
                "throughput",
                s.average_throughput_tokens_per_second,
            );
            if file.recorded.success_rate {
                push("Success rate", "%", "success rate", Some(s.success_rate));
            }
        }
        Body::Comparison(_) | Body::Load(_) | Body::Capacity(_) => {}
    }
    out
}

/// Builds a group from runs with their metrics, ordered by Timestamp (runs without one keep
/// their order, after the others).
fn build_group(name: String, mut runs: Vec<Member>) -> TrendGroup {
    runs.sort_by_key(|(run, _, _)| (run.time.is_none(), run.time));
    let baseline = runs
        .iter()
        .position(|(_, _, is_base)| *is_base)
        .unwrap_or(0);
    let mut charts: Vec<TrendChart> = Vec::new();
    for (index, (_, metrics, _)) in runs.iter().enumerate() {
        for (metric, unit, subject, value) in metrics {
            let chart_index = match charts
                .iter()
                .position(|c| &c.metric == metric && &c.unit == unit)
            {
                Some(i) => i,
                None => {
                    charts.push(TrendChart {
                        metric: metric.clone(),
                        unit: unit.clone(),
                        lines: Vec::new(),
                    });
                    charts.len() - 1
                }
            };
            let chart = &mut charts[chart_index];
            let line_index = match chart.lines.iter().position(|l| &l.subject == subject) {
                Some(i) => i,
                None if chart.lines.len() < MAX_LINES => {
                    chart.lines.push(TrendLine {
                        subject: subject.clone(),
                        values: vec![None; runs.len()],
                    });
                    chart.lines.len() - 1
                }
                None => continue,
            };
            chart.lines[line_index].values[index] = Some(*value);
        }
    }
    TrendGroup {
        name,
        runs: runs.into_iter().map(|(run, _, _)| run).collect(),
        baseline,
        charts,
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Trends across the result files given: one group per kind and configuration with at least
/// two runs. `baseline` names the file to compare against (else the earliest run).
pub fn groups(files: &[LoadedFile], baseline: Option<&Path>) -> Vec<TrendGroup> {
    let mut keyed: Vec<((Kind, String), String, Vec<&LoadedFile>)> = Vec::new();
    for loaded in files {
        // A comparison report draws the trends it holds (see `comparison_groups`).
        let [run] = loaded.runs.as_slice() else {
            continue;
        };
        if run.kind == Kind::ComparisonReport {
            continue;
        }
        let key = (run.kind, run.group_key());
        match keyed.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, members)) => members.push(loaded),
            None => keyed.push((key, run.group_name(), vec![loaded])),
        }
    }
    keyed
        .into_iter()
        .filter(|(_, _, members)| members.len() > 1)
        .map(|(_, name, members)| {
            let runs = members
                .into_iter()
                .map(|loaded| {
                    (
                        TrendRun {
                            label: loaded.label.clone(),
                            timestamp: loaded.file.timestamp_text(),
                            time: loaded.file.timestamp,
                        },
                        file_metrics(&loaded.file),
                        baseline.is_some_and(|b| same_file(b, &loaded.file.path)),
                    )
                })
                .collect();
            build_group(name, runs)
        })
        .filter(|g| !g.charts.is_empty())
        .collect()
}

/// The trends inside a comparison report: its own groups when it records them (with their
/// baselines), else one group per kind and configuration. A recorded group that mixes
/// simulated and real runs (written before `compare` kept them apart) is drawn as two.
pub fn comparison_groups(report: &ComparisonFile) -> Vec<TrendGroup> {
    let label = |index: usize, run: &Run| -> String {
        [&run.label, &run.source]
            .into_iter()
            .find(|l| !l.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| format!("run {}", index + 1))
    };
    let labelled: Vec<(String, &Run)> = report
        .runs
        .iter()
        .enumerate()
        .map(|(i, run)| (label(i, run), run))
        .collect();
    let member = |label: &str, run: &Run, is_base: bool| -> Member {
        (
            TrendRun {
                label: label.to_string(),
                timestamp: run.timestamp.clone(),
                time: run.timestamp.as_deref().and_then(parse_timestamp_text),
            },
            run.metrics
                .iter()
                .map(|metric| {
                    (
                        metric.name.clone(),
                        metric.unit.suffix().to_string(),
                        metric.subject.clone().unwrap_or_else(|| "value".into()),
                        metric.value,
                    )
                })
                .collect(),
            is_base,
        )
    };
    let mut keyed: Vec<(String, Vec<Member>)> = Vec::new();
    if !report.groups.is_empty() {
        for group in &report.groups {
            let kind = group
                .kind
                .map(|k| format!("{k:?}"))
                .unwrap_or_else(|| "runs".into());
            let name = match &group.key {
                Some(key) => format!("{kind}: {key}"),
                None => kind,
            };
            let runs: Vec<&(String, &Run)> = group
                .runs
                .iter()
                .filter_map(|label| labelled.iter().find(|(l, _)| l == label))
                .collect();
            for simulated in [false, true] {
                let part: Vec<&(String, &Run)> = runs
                    .iter()
                    .copied()
                    .filter(|(_, run)| run.simulated == simulated)
                    .collect();
                if part.is_empty() {
                    continue;
                }
                let named = |label: &str| group.baseline.as_deref() == Some(label);
                // A baseline averaged from several --baseline runs has no run of its own: mark
                // the first of them.
                let base_index = part
                    .iter()
                    .position(|(l, _)| named(l))
                    .or_else(|| part.iter().position(|(_, r)| r.baseline));
                let members = part
                    .iter()
                    .enumerate()
                    .map(|(i, (l, run))| member(l, run, Some(i) == base_index))
                    .collect();
                let mixed = part.len() < runs.len();
                let name = if simulated && mixed && !name.ends_with("(simulated)") {
                    format!("{name} (simulated)")
                } else {
                    name.clone()
                };
                keyed.push((name, members));
            }
        }
    } else {
        let baseline = report.baseline.as_ref().and_then(|b| b.name());
        for (label, run) in &labelled {
            let key = run.group_name();
            let is_base =
                run.baseline || baseline.is_some_and(|b| b == label || b == run.source.as_str());
            match keyed.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(member(label, run, is_base)),
                None => keyed.push((key, vec![member(label, run, is_base)])),
            }
        }
    }
    keyed
        .into_iter()
        .map(|(key, members)| build_group(key, members))
        .filter(|g| !g.charts.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(label: &str, timestamp: Option<&str>, value: f64) -> Member {
        (
            TrendRun {
                label: label.into(),
                timestamp: timestamp.map(String::from),
                time: timestamp.and_then(parse_timestamp_text),
            },
            vec![("Tokens/second".into(), "tok/s".into(), "v".into(), value)],
            false,
        )
    }

    #[test]
    fn runs_are_ordered_by_timestamp_and_the_first_is_the_baseline() {
        let group = build_group(
            "g".into(),
            vec![
                run("c", None, 3.0),
                run("b", Some("2025-11-01 10:00:00"), 2.0),
                run("a", Some("2025-10-31T09:00:00+01:00"), 1.0),
            ],
        );
        let labels: Vec<&str> = group.runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["a", "b", "c"]);
        assert_eq!(group.baseline, 0);
        assert_eq!(
            group.charts[0].lines[0].values,
            vec![Some(1.0), Some(2.0), Some(3.0)]
        );
        assert_eq!(group.charts[0].lines[0].change_text(0), "+200.00%");
        assert_eq!(group.runs[1].axis_label(), "2025-11-01 10:00");
    }

    #[test]
    fn a_named_baseline_wins() {
        let mut runs = vec![
            run("a", Some("2025-10-31 09:00:00"), 1.0),
            run("b", Some("2025-10-31 10:00:00"), 2.0),
        ];
        runs[1].2 = true;
        let group = build_group("g".into(), runs);
        assert_eq!(group.baseline, 1);
        assert_eq!(group.charts[0].lines[0].change_text(1), "+0.00%");
    }

    #[test]
    fn changes_against_a_zero_or_missing_baseline_are_not_invented() {
        let line = TrendLine {
            subject: "x".into(),
            values: vec![Some(0.0), Some(3.0)],
        };
        assert_eq!(line.change_text(0), "-");
        let gap = TrendLine {
            subject: "x".into(),
            values: vec![None, Some(3.0)],
        };
        assert_eq!(gap.change_text(0), "-");
    }

    #[test]
    fn a_recorded_group_of_simulated_and_real_runs_is_drawn_as_two() {
        let run = |label: &str, day: u32, simulated: bool| {
            serde_json::json!({
                "Source": format!("{label}.json"), "Label": label, "Kind": "SingleUser",
                "Timestamp": format!("2025-11-0{day} 09:00:00"), "Simulated": simulated,
                "Metrics": [{"Name": "TokensPerSecond", "Value": 40.0 + f64::from(day),
                             "Unit": "TokensPerSecond", "Better": "Higher"}]
            })
        };
        let report: ComparisonFile = serde_json::from_value(serde_json::json!({
            "Runs": [run("a", 1, false), run("b", 2, true), run("c", 3, false), run("d", 4, true)],
            "Groups": [{"Kind": "SingleUser", "Key": "model m", "Runs": ["a", "b", "c", "d"],
                        "Baseline": "a"}]
        }))
        .unwrap();
        let groups = comparison_groups(&report);
        let drawn: Vec<(&str, Vec<&str>, usize)> = groups
            .iter()
            .map(|g| {
                (
                    g.name.as_str(),
                    g.runs.iter().map(|r| r.label.as_str()).collect(),
                    g.baseline,
                )
            })
            .collect();
        assert_eq!(
            drawn,
            [
                ("SingleUser: model m", vec!["a", "c"], 0),
                ("SingleUser: model m (simulated)", vec!["b", "d"], 0),
            ]
        );
        assert_eq!(groups[1].charts[0].unit, "tok/s");
    }
}

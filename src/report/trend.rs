//! Trends across runs: runs of the same kind and configuration (like with like, as the
//! reference asks), ordered by Timestamp, with one series per metric and a baseline (the first
//! run unless one is named). A group of one run draws no trend.

use std::path::Path;

use chrono::NaiveDateTime;

use super::model::{Body, ComparedRun, ComparisonView, MetricPoint, RunView};

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
    pub timestamp: Option<String>,
}

impl TrendRun {
    /// A short x-axis label: the timestamp without seconds, else the label.
    pub fn axis_label(&self) -> String {
        match &self.timestamp {
            Some(t) if t.len() >= 16 && parse_timestamp(t).is_some() => t[..16].replace('T', " "),
            Some(t) => t.clone(),
            None => self.label.clone(),
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

/// Parses the reference's `yyyy-MM-dd HH:mm:ss` or ISO 8601 / RFC 3339.
pub fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok())
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.naive_local())
        })
}

/// A run's metrics as (metric, unit, subject, value).
fn run_metrics(run: &RunView) -> Vec<MetricValue> {
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
    match &run.body {
        Body::SingleUser(v) => {
            push("Download time", "s", "download", v.download_seconds);
            push("Cold load time", "s", "cold load", v.load_cold_seconds);
            push("Warm load time", "s", "warm load", v.load_warm_seconds);
            push(
                "Tokens/second",
                "tok/s",
                "tokens/second",
                v.tokens_per_second,
            );
        }
        Body::TokensPerSecond(v) => {
            push(
                "Average tokens/second",
                "tok/s",
                "overall",
                v.overall_average,
            );
            for cell in &v.cells {
                push(
                    "Average tokens/second",
                    "tok/s",
                    &cell.name(),
                    cell.average_tokens_per_second,
                );
            }
            push(
                "Median time to first token",
                "s",
                "overall",
                v.median_time_to_first_token_seconds,
            );
            for cell in &v.cells {
                push(
                    "Median time to first token",
                    "s",
                    &cell.name(),
                    cell.time_to_first_token.and_then(|s| s.median),
                );
            }
        }
        Body::MultiUser(v) => {
            push(
                "Overall duration",
                "s",
                "overall",
                v.overall_duration_seconds,
            );
            push(
                "Average download time",
                "s",
                "download",
                v.average_download_seconds,
            );
            push("Average load time", "s", "load", v.average_load_seconds);
            push(
                "Average throughput",
                "tok/s",
                "throughput",
                v.average_throughput,
            );
            push("Success rate", "%", "success rate", v.success_rate);
        }
        Body::Comparison(_) => {}
    }
    out
}

/// Like-with-like key of a result file. Simulated runs never share a trend with real ones.
fn group_key(run: &RunView) -> Option<String> {
    let key = kind_key(run)?;
    Some(if run.provenance.simulated {
        format!("{key} (simulated)")
    } else {
        key
    })
}

fn kind_key(run: &RunView) -> Option<String> {
    match &run.body {
        Body::SingleUser(v) => Some(format!(
            "single-user, model {}",
            v.model.as_deref().unwrap_or("(not recorded)")
        )),
        Body::TokensPerSecond(v) => {
            let mut models: Vec<&str> = v.cells.iter().map(|c| c.model.as_str()).collect();
            models.sort_unstable();
            models.dedup();
            Some(format!("tokens-per-second, models {}", models.join(", ")))
        }
        Body::MultiUser(v) => Some(format!(
            "multi-user, {} users",
            v.concurrent_users
                .or(v.total_users)
                .map(|u| u.to_string())
                .unwrap_or_else(|| "?".into())
        )),
        Body::Comparison(_) => None,
    }
}

/// Builds a group from runs with their metrics, ordered by Timestamp (runs without one keep
/// their order, after the others).
fn build_group(name: String, mut runs: Vec<Member>) -> TrendGroup {
    runs.sort_by_key(|(run, _, _)| {
        let time = run.timestamp.as_deref().and_then(parse_timestamp);
        (time.is_none(), time)
    });
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
pub fn groups(runs: &[RunView], baseline: Option<&Path>) -> Vec<TrendGroup> {
    let mut keyed: Vec<(String, Vec<&RunView>)> = Vec::new();
    for run in runs {
        let Some(key) = group_key(run) else { continue };
        match keyed.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(run),
            None => keyed.push((key, vec![run])),
        }
    }
    keyed
        .into_iter()
        .filter(|(_, members)| members.len() > 1)
        .map(|(key, members)| {
            let runs = members
                .into_iter()
                .map(|run| {
                    (
                        TrendRun {
                            label: run.label.clone(),
                            timestamp: run.timestamp.clone(),
                        },
                        run_metrics(run),
                        baseline.is_some_and(|b| same_file(b, &run.path)),
                    )
                })
                .collect();
            build_group(key, runs)
        })
        .filter(|g| !g.charts.is_empty())
        .collect()
}

/// The trends inside a comparison report: its own groups when it records them (with their
/// baselines), else one group per kind and configuration.
pub fn comparison_groups(view: &ComparisonView) -> Vec<TrendGroup> {
    let member = |run: &ComparedRun, is_base: bool| -> Member {
        (
            TrendRun {
                label: run.label.clone(),
                timestamp: run.timestamp.clone(),
            },
            run.metrics.iter().map(metric_tuple).collect(),
            is_base,
        )
    };
    let mut keyed: Vec<(String, Vec<Member>)> = Vec::new();
    if !view.groups.is_empty() {
        for group in &view.groups {
            let runs: Vec<&ComparedRun> = group
                .runs
                .iter()
                .filter_map(|label| view.runs.iter().find(|r| &r.label == label))
                .collect();
            let named = |run: &ComparedRun| group.baseline.as_deref() == Some(run.label.as_str());
            // A baseline averaged from several --baseline runs has no run of its own: mark
            // the first of them.
            let base_index = runs
                .iter()
                .position(|r| named(r))
                .or_else(|| runs.iter().position(|r| r.is_baseline));
            let members = runs
                .iter()
                .enumerate()
                .map(|(i, run)| member(run, Some(i) == base_index))
                .collect();
            keyed.push((group.name.clone(), members));
        }
    } else {
        for run in &view.runs {
            let key = run.group.clone().unwrap_or_else(|| run.kind.clone());
            let is_base = run.is_baseline
                || view
                    .baseline
                    .as_deref()
                    .is_some_and(|b| b == run.label || Some(b) == run.source.as_deref());
            match keyed.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(member(run, is_base)),
                None => keyed.push((key, vec![member(run, is_base)])),
            }
        }
    }
    keyed
        .into_iter()
        .map(|(key, members)| build_group(key, members))
        .filter(|g| !g.charts.is_empty())
        .collect()
}

fn metric_tuple(metric: &MetricPoint) -> MetricValue {
    (
        metric.name.clone(),
        metric.unit.clone(),
        metric.subject.clone().unwrap_or_else(|| "value".into()),
        metric.value,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(label: &str, timestamp: Option<&str>, value: f64) -> Member {
        (
            TrendRun {
                label: label.into(),
                timestamp: timestamp.map(String::from),
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
}

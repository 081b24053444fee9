//! `compare`'s tables of load and capacity runs, side by side: one column per run, one row
//! per capacity (and the goodput at it) or per step and number, so that two searches or two
//! sweeps read across. The runs' numbers come from [`crate::results::runs`]; changes
//! against the baseline and the gate treat them as every other metric.

use super::model::{Kind, Run};
use super::Comparison;
use crate::results::comparison::Metric;

/// A table `render` prints like its own sections.
#[derive(Debug, Default)]
pub struct SideBySide {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub lines: Vec<String>,
}

/// The tables of the load and capacity runs compared, when there are any.
pub fn sections(comparison: &Comparison) -> Vec<SideBySide> {
    let mut sections = Vec::new();
    let capacity = comparison.runs_of(Kind::Capacity);
    if !capacity.is_empty() {
        sections.push(side_by_side(
            "Capacity and goodput (at the SLO)",
            "Metric [SLO]",
            &capacity,
            &[
                ("Capacity", "capacity"),
                ("GoodputAtCapacity", "goodput at capacity"),
            ],
        ));
    }
    let load = comparison.runs_of(Kind::Load);
    if !load.is_empty() {
        sections.push(side_by_side(
            "Load steps side by side",
            "Step",
            &load,
            &[
                ("OutputTokensPerSecond", "output"),
                ("SloAttainmentPercent", "SLO attainment"),
                ("TtftP99Seconds", "p99 TTFT from schedule"),
                ("EndToEndP99Seconds", "p99 e2e from schedule"),
            ],
        ));
    }
    sections
}

/// One row per subject and metric name in `names`, one column per run.
fn side_by_side(title: &str, first: &str, runs: &[&Run], names: &[(&str, &str)]) -> SideBySide {
    let mut subjects: Vec<Option<String>> = Vec::new();
    for run in runs {
        for metric in &run.metrics {
            if names.iter().any(|(n, _)| *n == metric.name) && !subjects.contains(&metric.subject) {
                subjects.push(metric.subject.clone());
            }
        }
    }
    let mut headers = vec![first.to_string()];
    headers.extend(runs.iter().map(|run| {
        if run.simulated {
            format!("{} [simulated]", run.label)
        } else {
            run.label.clone()
        }
    }));
    let mut rows = Vec::new();
    for subject in &subjects {
        for (name, label) in names {
            let cells: Vec<String> = runs
                .iter()
                .map(|run| {
                    run.metrics
                        .iter()
                        .find(|m| m.name == *name && m.subject == *subject)
                        .map(cell)
                        .unwrap_or_else(|| "-".to_string())
                })
                .collect();
            if cells.iter().all(|c| c == "-") {
                continue;
            }
            let mut row = vec![match subject {
                Some(subject) => format!("{label} [{subject}]"),
                None => label.to_string(),
            }];
            row.extend(cells);
            rows.push(row);
        }
    }
    let lines = runs
        .iter()
        .flat_map(|run| run.notes.iter().map(move |n| format!("{}: {n}", run.label)))
        .collect();
    SideBySide {
        title: title.to_string(),
        headers,
        rows,
        lines,
    }
}

fn cell(metric: &Metric) -> String {
    let unit = metric.unit.suffix();
    match unit {
        "%" => format!("{:.1}%", metric.value),
        "s" => format!("{:.1} ms", metric.value * 1000.0),
        _ => format!("{:.2} {unit}", metric.value),
    }
}

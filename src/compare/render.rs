//! Printing a [`Comparison`]: a terminal table (comfy-table), Markdown, JSON (the comparison
//! report) or CSV (one row per run per metric). Table and Markdown share one list of sections,
//! so they always say the same things.
//!
//! Table and Markdown lead with a short verdict per metric of every later run against its
//! baseline (a tokens-per-second file's cells folded into one row), the scaling and the
//! Performance Targets verdicts, and the gate; the tables of runs, per-cell values, statistics
//! across runs and the full trend are details, shown with `--verbose`. Terminal tables fit
//! [`crate::output::WIDTH`] columns, wrapping inside cells.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use comfy_table::{presets, ContentArrangement, Table};

use super::model::{Kind, Run, Unit};
use super::Comparison;
use crate::analysis::trend::{self, Assessment, Change};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Markdown,
    Json,
    Csv,
}

/// The comparison in `format`; `verbose` adds the details to Table and Markdown.
pub fn render(comparison: &Comparison, format: Format, verbose: bool) -> String {
    match format {
        Format::Table => to_text(&sections(comparison, verbose)),
        Format::Markdown => to_markdown(&sections(comparison, verbose)),
        Format::Json => to_json(comparison),
        Format::Csv => to_csv(comparison),
    }
}

/// The comparison report: pretty JSON.
pub fn to_json(comparison: &Comparison) -> String {
    let mut text = serde_json::to_string_pretty(comparison)
        .unwrap_or_else(|err| format!("{{\"Error\": \"cannot serialize the report: {err}\"}}"));
    text.push('\n');
    text
}

/// A titled part of the output: an optional table and lines of text under it.
#[derive(Debug, Default)]
struct Section {
    title: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    lines: Vec<String>,
}

impl Section {
    fn new(title: impl Into<String>) -> Self {
        Section {
            title: title.into(),
            ..Section::default()
        }
    }

    fn headers(mut self, headers: &[&str]) -> Self {
        self.headers = headers.iter().map(|h| h.to_string()).collect();
        self
    }
}

fn number(value: f64) -> String {
    format!("{value:.2}")
}

fn optional(value: Option<f64>) -> String {
    value.map(number).unwrap_or_else(|| "-".to_string())
}

fn with_unit(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Percent => format!("{value:.1}%"),
        _ => format!("{value:.2} {}", unit.suffix()),
    }
}

fn percent(value: Option<f64>) -> String {
    match value {
        Some(p) => format!("{p:+.1}%"),
        None => "-".to_string(),
    }
}

fn sections(comparison: &Comparison, verbose: bool) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut head = Section::new("ollabench compare");
    let kinds: Vec<String> = [
        Kind::SingleUser,
        Kind::TokensPerSecond,
        Kind::MultiUser,
        Kind::Load,
        Kind::Capacity,
    ]
    .iter()
    .map(|kind| (kind, comparison.runs_of(*kind).len()))
    .filter(|(_, n)| *n > 0)
    .map(|(kind, n)| format!("{n} {}", kind.label()))
    .collect();
    head.lines.push(format!(
        "{} compared ({}); {} not usable.",
        plural(comparison.runs.len(), "run"),
        if kinds.is_empty() {
            "none".to_string()
        } else {
            kinds.join(", ")
        },
        plural(comparison.errors.len(), "file")
    ));
    let simulated: Vec<&str> = comparison
        .runs
        .iter()
        .filter(|r| r.simulated)
        .map(|r| r.label.as_str())
        .collect();
    if !simulated.is_empty() {
        let which = if simulated.len() == comparison.runs.len() && simulated.len() > 1 {
            format!("all {} runs", simulated.len())
        } else {
            simulated.join(", ")
        };
        head.lines.push(format!(
            "SIMULATED: {which} came from ollabench's built-in simulator, not from real hardware."
        ));
    }
    head.lines.push(
        "Runs of one kind and configuration are ordered by Timestamp and compared with the \
         baseline (--baseline, else the first run); a change counts only beyond the runs' own \
         noise (see `ollabench compare --help`)."
            .to_string(),
    );
    if !verbose {
        head.lines.push(
            "--verbose adds the tables of runs, the values per cell, the statistics across \
             runs and every change."
                .to_string(),
        );
    }
    sections.push(head);
    sections.extend(
        comparison
            .groups
            .iter()
            .filter(|g| !g.changes.is_empty())
            .map(summary_section),
    );

    let baseline_labels: Vec<&str> = comparison
        .groups
        .iter()
        .filter(|g| g.runs.len() > 1)
        .flat_map(|g| {
            comparison
                .runs
                .iter()
                .filter(|r| r.kind == g.kind && (r.baseline || r.label == g.baseline))
                .map(|r| r.label.as_str())
        })
        .collect();
    let run_cell = |run: &Run| {
        let mut cell = run.label.clone();
        if baseline_labels.contains(&run.label.as_str()) {
            cell.push_str(" (baseline)");
        }
        if run.simulated {
            cell.push_str(" [simulated]");
        }
        cell
    };
    let timestamp = |run: &Run| run.timestamp.clone().unwrap_or_else(|| "-".to_string());

    let runs_section = |title: &str, runs: &[&Run], columns: &[RunColumn]| {
        let mut headers = vec!["Run", "Timestamp"];
        headers.extend(columns.iter().map(|(header, _)| *header));
        let mut section = Section::new(title).headers(&headers);
        for run in runs {
            let mut row = vec![run_cell(run), timestamp(run)];
            row.extend(columns.iter().map(|(_, cell)| cell.text(run)));
            section.rows.push(row);
        }
        section.lines = run_notes(runs);
        section
    };

    let single = comparison.runs_of(Kind::SingleUser);
    if verbose && !single.is_empty() {
        sections.push(runs_section(
            "Single-user runs",
            &single,
            &SINGLE_USER_COLUMNS,
        ));
    }

    let tps = comparison.runs_of(Kind::TokensPerSecond);
    if verbose && !tps.is_empty() {
        sections.push(runs_section(
            "Tokens-per-second runs",
            &tps,
            &TOKENS_PER_SECOND_COLUMNS,
        ));

        // Like with like: each model and prompt length across runs.
        let mut cells: Vec<String> = Vec::new();
        for run in &tps {
            for metric in run.metrics.iter().filter(|m| m.subject.is_some()) {
                let subject = metric.subject.clone().unwrap_or_default();
                if !cells.contains(&subject) {
                    cells.push(subject);
                }
            }
        }
        if !cells.is_empty() {
            let mut headers = vec!["Model/prompt".to_string()];
            headers.extend(tps.iter().map(|r| r.label.clone()));
            let mut section = Section::new(
                "Tokens per second by model and prompt length (average ± std dev, n samples)",
            );
            section.headers = headers;
            for cell in cells {
                let key = format!("AverageTokensPerSecond[{cell}]");
                let mut row = vec![cell];
                for run in &tps {
                    row.push(match run.metric(&key) {
                        Some(m) => {
                            let mut text = number(m.value);
                            if let Some(sd) = m.std_dev {
                                text.push_str(&format!(" ± {sd:.2}"));
                            }
                            if let Some(n) = m.sample_size {
                                text.push_str(&format!(" (n={n})"));
                            }
                            text
                        }
                        None => "-".to_string(),
                    });
                }
                section.rows.push(row);
            }
            sections.push(section);
        }
    }

    sections.extend(
        super::load::sections(comparison)
            .into_iter()
            .map(|s| Section {
                title: s.title,
                headers: s.headers,
                rows: s.rows,
                lines: s.lines,
            }),
    );

    let multi = comparison.runs_of(Kind::MultiUser);
    if verbose && !multi.is_empty() {
        sections.push(runs_section("Multi-user runs", &multi, &MULTI_USER_COLUMNS));
    }

    for group in comparison
        .groups
        .iter()
        .filter(|g| verbose && g.runs.len() > 1)
    {
        let name = format!("{}, {}", group.kind.label(), group.key);
        let mut statistics = Section::new(format!(
            "Statistics across {} runs: {name}",
            group.runs.len()
        ))
        .headers(&["Metric", "Runs", "Average", "Min", "Max", "Std dev", "CV"]);
        for s in &group.statistics {
            statistics.rows.push(vec![
                s.metric.clone(),
                s.runs.to_string(),
                with_unit(s.average, s.unit),
                with_unit(s.min, s.unit),
                with_unit(s.max, s.unit),
                with_unit(s.std_dev, s.unit),
                format!("{:.1}%", s.coefficient_of_variation_percent),
            ]);
        }
        sections.push(statistics);

        if group.changes.is_empty() {
            continue;
        }
        let mut trend = Section::new(format!(
            "Trend: {name} (baseline {}{})",
            group.baseline,
            if group.baseline_from_option {
                ", from --baseline"
            } else {
                ", the first run"
            }
        ))
        .headers(&[
            "Run",
            "Timestamp",
            "Metric",
            "Baseline",
            "Value",
            "Change",
            "Noise ±",
            "Assessment",
        ]);
        for change in &group.changes {
            let mut row = vec![
                change.run.clone(),
                change.timestamp.clone().unwrap_or_else(|| "-".to_string()),
                change.metric.clone(),
            ];
            row.extend(change_cells(change));
            row.push(change.verdict());
            trend.rows.push(row);
        }
        trend.lines = findings(&group.changes);
        sections.push(trend);
    }

    if let Some(scaling) = &comparison.scaling {
        let mut section = Section::new("Scaling efficiency (multi-user)").headers(&[
            "Run",
            "Users",
            "Overall s",
            "Single-user s",
            "Efficiency",
            "Speedup",
            "Assessment",
            "Max vs avg download",
        ]);
        if !verbose {
            section.headers.pop();
        }
        for row in &scaling.rows {
            let mut cells = vec![
                row.run.clone(),
                row.users.to_string(),
                number(row.overall_duration_seconds),
                optional(row.single_user_time_seconds),
                row.efficiency_percent
                    .map(|e| format!("{e:.0}%"))
                    .unwrap_or_else(|| "-".to_string()),
                row.speedup
                    .map(|s| format!("{s:.2}x"))
                    .unwrap_or_else(|| "-".to_string()),
                row.assessment.clone().unwrap_or_else(|| "-".to_string()),
                row.download_contention
                    .as_ref()
                    .map(|c| format!("{:+.0}% ({})", c.max_above_average_percent, c.assessment))
                    .unwrap_or_else(|| "-".to_string()),
            ];
            cells.truncate(section.headers.len());
            section.rows.push(cells);
            if let (Some(single), Some(serial), Some(saved), Some(efficiency), Some(speedup)) = (
                row.single_user_time_seconds,
                row.serial_estimate_seconds,
                row.saved_seconds,
                row.efficiency_percent,
                row.speedup,
            ) {
                if verbose && row.users > 1 {
                    section.lines.push(format!(
                        "{}: expected if serial {} x {}s = {}s; actual {}s; saved {}s ({:.0}%); \
                         {:.2}x speedup ({efficiency:.0}% efficiency); single-user time from {}.",
                        row.run,
                        row.users,
                        number(single),
                        number(serial),
                        number(row.overall_duration_seconds),
                        number(saved),
                        if serial > 0.0 {
                            saved / serial * 100.0
                        } else {
                            0.0
                        },
                        speedup,
                        row.single_user_time_source.as_deref().unwrap_or("-"),
                    ));
                }
            }
            if let Some(load) = row.load_contention.as_ref().filter(|_| verbose) {
                section.lines.push(format!(
                    "{}: max load time {:+.0}% vs average ({}).",
                    row.run, load.max_above_average_percent, load.assessment
                ));
            }
        }
        section.lines.push(
            "Efficiency = single-user time / overall duration; >70% excellent, 50-70% good, \
             30-50% acceptable, <30% poor (a bottleneck). Speedup = serial estimate / overall \
             duration."
                .to_string(),
        );
        section.lines.extend(scaling.notes.iter().cloned());
        sections.push(section);
    }

    if !comparison.verdicts.is_empty() {
        let mut section = Section::new("Verdicts against the Performance Targets");
        section.headers = if verbose {
            vec!["Run", "Metric", "Value", "Verdict"]
        } else {
            vec!["Metric", "Verdict"]
        }
        .into_iter()
        .map(String::from)
        .collect();
        // Without --verbose: one row per metric, its levels across the runs.
        let mut by_metric: Vec<(String, Vec<(&str, &crate::analysis::verdict::Verdict)>)> =
            Vec::new();
        section.lines.push(comparison.targets.clone());
        // Each metric's thresholds once, not on every row.
        let mut thresholds: Vec<String> = Vec::new();
        let mut advice: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
        let mut caveats: Vec<String> = Vec::new();
        for run in &comparison.verdicts {
            for verdict in &run.verdicts {
                let metric = match &verdict.subject {
                    Some(subject) => format!("{} ({subject})", verdict.metric.label()),
                    None => verdict.metric.label().to_string(),
                };
                if verbose {
                    section.rows.push(vec![
                        run.run.clone(),
                        metric.clone(),
                        verdict.value_text(),
                        format!("{} {}", verdict.symbol, verdict.level.label()),
                    ]);
                }
                match by_metric.iter_mut().find(|(m, _)| *m == metric) {
                    Some((_, runs)) => runs.push((run.run.as_str(), verdict)),
                    None => by_metric.push((metric, vec![(run.run.as_str(), verdict)])),
                }
                let line = format!("{}: {}.", verdict.metric.label(), verdict.thresholds);
                if !thresholds.contains(&line) {
                    thresholds.push(line);
                }
                if let Some(text) = verdict.advice {
                    advice
                        .entry((verdict.metric.label(), text))
                        .or_default()
                        .push(format!("{} {}", run.run, verdict.level.label()));
                }
                if let Some(caveat) = &verdict.caveat {
                    let line = format!("Note: {caveat}.");
                    if !caveats.contains(&line) {
                        caveats.push(line);
                    }
                }
            }
        }
        if !verbose {
            for (metric, runs) in by_metric {
                section.rows.push(vec![metric, levels_across_runs(&runs)]);
            }
        }
        section.lines.extend(thresholds);
        section.lines.extend(caveats);
        let all: Vec<_> = comparison
            .verdicts
            .iter()
            .flat_map(|run| run.verdicts.iter().cloned())
            .collect();
        section
            .lines
            .extend(crate::analysis::verdict::simulated_note(&all));
        for ((metric, text), runs) in advice {
            section.lines.push(format!(
                "{metric} falls short in {}: {text}",
                runs.join(", ")
            ));
        }
        sections.push(section);
    }

    if let Some(gate) = &comparison.gate {
        let mut section = Section::new(format!(
            "Regression gate: worse than the baseline by more than {}% and beyond noise",
            gate.threshold_percent
        ));
        if gate.passed {
            section.lines.push(format!(
                "passed: no metric regressed ({} changes judged).",
                gate.compared
            ));
        } else {
            section.headers = ["Run", "Metric", "Baseline", "Value", "Change", "Noise ±"]
                .iter()
                .map(|h| h.to_string())
                .collect();
            for change in &gate.regressions {
                let mut row = vec![change.run.clone(), change.metric.clone()];
                row.extend(change_cells(change));
                section.rows.push(row);
            }
            section.lines.push(format!(
                "FAILED: {} regression(s) among {} changes judged.",
                gate.regressions.len(),
                gate.compared
            ));
        }
        sections.push(section);
    }

    if !comparison.errors.is_empty() || !comparison.skipped.is_empty() {
        let mut section = Section::new("Files not compared");
        section
            .lines
            .extend(comparison.errors.iter().map(|e| format!("error: {e}")));
        section
            .lines
            .extend(comparison.skipped.iter().map(|e| format!("skipped: {e}")));
        sections.push(section);
    }
    sections
}

/// The short verdict per metric of a group: one row per later run and metric, a
/// tokens-per-second file's cells folded into one row that names the cells that moved, and a
/// line for each metric that moved the same way at every step.
fn summary_section(group: &super::Group) -> Section {
    let mut section = Section::new(format!(
        "Changes: {}, {} (baseline {}{})",
        group.kind.label(),
        group.key,
        group.baseline,
        if group.baseline_from_option {
            ", from --baseline"
        } else {
            ", the first run"
        }
    ))
    .headers(&["Run", "Metric", "Change", "Verdict"]);
    // (run, metric name) in first-seen order, with their changes.
    let mut rows: Vec<((&str, &str), Vec<&Change>)> = Vec::new();
    for change in &group.changes {
        let name = change.metric.split('[').next().unwrap_or(&change.metric);
        let key = (change.run.as_str(), name);
        match rows.iter_mut().find(|(k, _)| *k == key) {
            Some((_, changes)) => changes.push(change),
            None => rows.push((key, vec![change])),
        }
    }
    // Per run: a row for each metric that moved, then one for all that did not.
    let mut unchanged: Vec<(&str, Vec<&Change>)> = Vec::new();
    let flush = |unchanged: &mut Vec<(&str, Vec<&Change>)>, rows: &mut Vec<Vec<String>>| {
        for (run, changes) in unchanged.drain(..) {
            rows.push(vec![
                run.to_string(),
                if changes.len() == group.changes.iter().filter(|c| c.run == run).count() {
                    format!("all {}", plural(changes.len(), "metric"))
                } else {
                    format!(
                        "{} other {}",
                        changes.len(),
                        if changes.len() == 1 {
                            "metric"
                        } else {
                            "metrics"
                        }
                    )
                },
                "-".to_string(),
                format!("no real change ({})", cells_verdict(&changes, false)),
            ]);
        }
    };
    for ((run, name), changes) in rows {
        if unchanged.first().is_some_and(|(r, _)| *r != run) {
            flush(&mut unchanged, &mut section.rows);
        }
        if changes.iter().all(|c| !c.assessment.is_change()) {
            match unchanged.first_mut() {
                Some((_, list)) => list.extend(changes),
                None => unchanged.push((run, changes)),
            }
            continue;
        }
        let (metric, change, verdict) = match changes.as_slice() {
            [only] if !only.metric.contains('[') => (
                name.to_string(),
                format!(
                    "{} -> {} ({})",
                    match only.unit {
                        Unit::Percent => with_unit(only.baseline_value, only.unit),
                        _ => number(only.baseline_value),
                    },
                    with_unit(only.value, only.unit),
                    percent(only.change_percent)
                ),
                only.verdict(),
            ),
            cells => (
                format!("{name} ({})", plural(cells.len(), "cell")),
                {
                    let percents: Vec<f64> =
                        cells.iter().filter_map(|c| c.change_percent).collect();
                    let low = percents.iter().copied().reduce(f64::min);
                    let high = percents.iter().copied().reduce(f64::max);
                    match (low, high) {
                        (Some(l), Some(h)) if (h - l).abs() < 0.05 => percent(Some(l)),
                        (Some(l), Some(h)) => {
                            format!("{} to {}", percent(Some(l)), percent(Some(h)))
                        }
                        _ => "-".to_string(),
                    }
                },
                cells_verdict(cells, true),
            ),
        };
        section
            .rows
            .push(vec![run.to_string(), metric, change, verdict]);
    }
    flush(&mut unchanged, &mut section.rows);
    for direction in &group.directions {
        let (words, advice) = match direction.direction {
            Assessment::Worse => (
                "got worse at every step",
                " Declining performance over time: the reference names thermal throttling \
                 (check kubectl exec -n ollama ollama-0 -- nvidia-smi).",
            ),
            _ => ("got better at every step", ""),
        };
        section.lines.push(format!(
            "{} {words} over {} runs ({} -> {}).{advice}",
            direction.metric,
            direction.runs,
            number(direction.first),
            number(direction.last)
        ));
    }
    section
}

/// One metric's verdicts across runs: `✅ Target in 2 runs (0.82-0.83 s)`, or per level with
/// the runs named when the levels differ: `⚠️ Warning in drop (34.00 tok/s); ✅ Target in 3 runs
/// (41.23-42.50 tok/s)`.
fn levels_across_runs(runs: &[(&str, &crate::analysis::verdict::Verdict)]) -> String {
    let mut levels: Vec<_> = runs.iter().map(|(_, v)| v.level).collect();
    levels.sort();
    levels.dedup();
    levels
        .iter()
        .rev()
        .map(|level| {
            let of_level: Vec<_> = runs.iter().filter(|(_, v)| v.level == *level).collect();
            let (_, first) = of_level[0];
            let values: Vec<f64> = of_level.iter().map(|(_, v)| v.value).collect();
            let low = values.iter().copied().fold(f64::INFINITY, f64::min);
            let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let text = |value: f64| {
                let mut v = (*first).clone();
                v.value = value;
                v.value_text()
            };
            let range = if (high - low).abs() < 1e-9 {
                text(low)
            } else {
                let low = text(low);
                let high = text(high);
                // `0.82 s-0.83 s` reads better as `0.82-0.83 s`.
                match (low.split_once(' '), high.split_once(' ')) {
                    (Some((l, unit)), Some((h, _))) => format!("{l}-{h} {unit}"),
                    _ => format!("{low}-{high}"),
                }
            };
            let who = if levels.len() > 1 && of_level.len() <= 3 {
                of_level
                    .iter()
                    .map(|(run, _)| *run)
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                plural(of_level.len(), "run")
            };
            format!("{} {} in {who} ({range})", level.symbol(), level.label())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The verdicts of several changes in one phrase: `3 within noise`, `2 within noise; 1 worse
/// (llama3.1:8b/Short)`; with `by_cell`, the cells of every verdict but the most common are
/// named, otherwise only counted.
fn cells_verdict(cells: &[&Change], by_cell: bool) -> String {
    let mut verdicts: Vec<(String, Vec<&str>)> = Vec::new();
    for cell in cells {
        let subject = if by_cell {
            cell.metric
                .split_once('[')
                .map_or("", |(_, s)| s.trim_end_matches(']'))
        } else {
            cell.metric.split('[').next().unwrap_or(&cell.metric)
        };
        let verdict = cell.verdict();
        match verdicts.iter_mut().find(|(v, _)| *v == verdict) {
            Some((_, subjects)) => subjects.push(subject),
            None => verdicts.push((verdict, vec![subject])),
        }
    }
    let most = verdicts.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
    let mut named_one = false;
    verdicts
        .iter()
        .map(|(verdict, subjects)| {
            let count = subjects.len();
            // The largest class of cells is counted; the others, fewer, are named.
            if !by_cell || (subjects.len() == most && !named_one) {
                named_one = true;
                format!("{count} {verdict}")
            } else {
                format!("{count} {verdict} ({})", subjects.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A column of a table of runs after its Run and Timestamp: the header and what its cells say.
type RunColumn = (&'static str, RunCell);

/// What a cell of a table of runs says.
#[derive(Clone, Copy)]
enum RunCell {
    /// The run's value of this metric.
    Value(&'static str),
    /// The number of samples behind this metric.
    SampleSize(&'static str),
    Models,
    Users,
}

impl RunCell {
    fn text(self, run: &Run) -> String {
        match self {
            RunCell::Value(key) => optional(run.value(key)),
            RunCell::SampleSize(key) => count(run.metric(key).and_then(|m| m.sample_size)),
            RunCell::Models => run.models_text(),
            RunCell::Users => count(run.concurrent_users),
        }
    }
}

fn count(value: Option<impl ToString>) -> String {
    value
        .map(|n| n.to_string())
        .unwrap_or_else(|| "-".to_string())
}

const SINGLE_USER_COLUMNS: [RunColumn; 6] = [
    ("Model", RunCell::Models),
    ("Download s", RunCell::Value("DownloadTimeSeconds")),
    ("Cold load s", RunCell::Value("LoadTimeColdSeconds")),
    ("Warm load s", RunCell::Value("LoadTimeWarmSeconds")),
    ("Total s", RunCell::Value("TotalTimeSeconds")),
    ("tok/s", RunCell::Value("TokensPerSecond")),
];

const TOKENS_PER_SECOND_COLUMNS: [RunColumn; 6] = [
    ("Models", RunCell::Models),
    ("Avg tok/s", RunCell::Value("OverallAverageTokensPerSecond")),
    ("Min tok/s", RunCell::Value("OverallMinTokensPerSecond")),
    ("Max tok/s", RunCell::Value("OverallMaxTokensPerSecond")),
    (
        "Samples",
        RunCell::SampleSize("OverallAverageTokensPerSecond"),
    ),
    ("Success %", RunCell::Value("SuccessRate")),
];

const MULTI_USER_COLUMNS: [RunColumn; 9] = [
    ("Users", RunCell::Users),
    ("Models", RunCell::Models),
    ("Overall s", RunCell::Value("OverallDurationSeconds")),
    ("Success %", RunCell::Value("SuccessRate")),
    (
        "Avg download s",
        RunCell::Value("AverageDownloadTimeSeconds"),
    ),
    ("Max download s", RunCell::Value("MaxDownloadTimeSeconds")),
    ("Avg load s", RunCell::Value("AverageLoadTimeSeconds")),
    ("Max load s", RunCell::Value("MaxLoadTimeSeconds")),
    (
        "Avg tok/s",
        RunCell::Value("AverageThroughputTokensPerSecond"),
    ),
];

/// A change's baseline, value, change and noise, as the trend and the gate show them.
fn change_cells(change: &Change) -> [String; 4] {
    [
        with_unit(change.baseline_value, change.unit),
        with_unit(change.value, change.unit),
        percent(change.change_percent),
        change
            .noise
            .map(|n| with_unit(n, change.unit))
            .unwrap_or_else(|| "unknown".to_string()),
    ]
}

fn run_notes(runs: &[&Run]) -> Vec<String> {
    runs.iter()
        .flat_map(|run| {
            run.notes
                .iter()
                .map(move |note| format!("{}: {note}", run.label))
        })
        .collect()
}

/// One line per later run: what changed beyond noise, and what did not.
pub fn findings(changes: &[Change]) -> Vec<String> {
    let mut runs: Vec<&str> = Vec::new();
    for change in changes {
        if !runs.contains(&change.run.as_str()) {
            runs.push(&change.run);
        }
    }
    runs.into_iter()
        .map(|run| {
            let of_run: Vec<&Change> = changes.iter().filter(|c| c.run == run).collect();
            let describe = |c: &&Change| {
                format!(
                    "{} {} {}",
                    c.metric,
                    percent(c.change_percent),
                    c.assessment.label()
                )
            };
            let list = |filter: &dyn Fn(&Change) -> bool| -> String {
                let found: Vec<String> =
                    of_run.iter().filter(|c| filter(c)).map(describe).collect();
                if found.is_empty() {
                    "nothing".to_string()
                } else {
                    found.join(", ")
                }
            };
            let changed = list(&|c| c.beyond_noise());
            let unknown = list(&|c| c.assessment.is_change() && c.noise.is_none());
            let unchanged = list(&|c| !c.assessment.is_change());
            let baseline = of_run.first().map(|c| c.baseline.as_str()).unwrap_or("-");
            let mut line = format!("{run} vs {baseline}: changed beyond noise: {changed}; ");
            if unknown != "nothing" {
                line.push_str(&format!("changed, {}: {unknown}; ", trend::NOISE_UNKNOWN));
            }
            line.push_str(&format!("no real change: {unchanged}."));
            line
        })
        .collect()
}

fn to_text(sections: &[Section]) -> String {
    let mut out = String::new();
    for section in sections {
        let title = crate::output::wrap("", &section.title, "");
        let width = title.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        let _ = writeln!(out, "{title}");
        let _ = writeln!(out, "{}", "=".repeat(width));
        if !section.headers.is_empty() {
            let mut table = Table::new();
            table
                .load_preset(presets::UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(crate::output::WIDTH as u16)
                .set_header(section.headers.clone());
            for row in &section.rows {
                table.add_row(row.clone());
            }
            let _ = writeln!(out, "{table}");
        }
        for line in &section.lines {
            let _ = writeln!(out, "{}", crate::output::wrap("", line, "  "));
        }
        out.push('\n');
    }
    out
}

fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn to_markdown(sections: &[Section]) -> String {
    let mut out = String::new();
    for (index, section) in sections.iter().enumerate() {
        let level = if index == 0 { "#" } else { "##" };
        let _ = writeln!(out, "{level} {}\n", section.title);
        if !section.headers.is_empty() {
            let header: Vec<String> = section.headers.iter().map(|h| markdown_cell(h)).collect();
            let _ = writeln!(out, "| {} |", header.join(" | "));
            let _ = writeln!(out, "|{}", "---|".repeat(section.headers.len()));
            for row in &section.rows {
                let cells: Vec<String> = row.iter().map(|c| markdown_cell(c)).collect();
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
            out.push('\n');
        }
        for line in &section.lines {
            let _ = writeln!(out, "- {line}");
        }
        if !section.lines.is_empty() {
            out.push('\n');
        }
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// One row per run per metric, with the change against the baseline where there is one.
pub fn to_csv(comparison: &Comparison) -> String {
    let mut out = String::from(
        "Kind,Group,Run,Source,Timestamp,Baseline,Metric,Value,Unit,StdDev,SampleSize,\
         BaselineValue,ChangePercent,Noise,Assessment\n",
    );
    let changes: BTreeMap<(String, String), &Change> = comparison
        .groups
        .iter()
        .flat_map(|g| &g.changes)
        .map(|c| ((c.run.clone(), c.metric.clone()), c))
        .collect();
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for run in &comparison.runs {
        let group = run.group_key();
        let is_baseline = comparison.groups.iter().any(|g| {
            g.kind == run.kind && g.key == group && (run.baseline || g.baseline == run.label)
        });
        for metric in &run.metrics {
            let key = metric.key();
            let change = changes.get(&(run.label.clone(), key.clone()));
            let fields = [
                run.kind.label().to_string(),
                group.clone(),
                run.label.clone(),
                run.source.clone(),
                run.timestamp.clone().unwrap_or_default(),
                is_baseline.to_string(),
                key,
                metric.value.to_string(),
                metric.unit.suffix().to_string(),
                opt(metric.std_dev),
                metric
                    .sample_size
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                opt(change.map(|c| c.baseline_value)),
                opt(change.and_then(|c| c.change_percent)),
                opt(change.and_then(|c| c.noise)),
                change
                    .map(|c| c.assessment.label().to_string())
                    .unwrap_or_default(),
            ];
            let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            let _ = writeln!(out, "{}", row.join(","));
        }
    }
    out
}

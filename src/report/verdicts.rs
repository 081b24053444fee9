//! The verdict rows a report shows: one metric, its value, its level against the reference's
//! Performance Targets, and what to do when it falls short. The levels, thresholds and advice
//! come from [`crate::analysis::verdict`]; this module only shapes them for the report.

use super::load::LoadedFile;
pub use crate::analysis::verdict::Level;
use crate::results::comparison::ComparisonFile;
use crate::results::read::Body;

/// The level's symbol for HTML: text glyphs that every common font has (the emoji of
/// [`Level::symbol`] need an emoji font, which servers and CI browsers often lack).
pub fn html_symbol(level: Level) -> &'static str {
    match level {
        Level::Target | Level::Good => "✓",
        Level::Warning => "⚠",
        Level::Critical => "✗",
    }
}

/// The CSS class of a level (colours in `html.rs`; the symbol and word are shown too).
pub fn css_class(level: Level) -> &'static str {
    match level {
        Level::Target => "level-target",
        Level::Good => "level-good",
        Level::Warning => "level-warning",
        Level::Critical => "level-critical",
    }
}

/// One verdict as a report shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictRow {
    /// The metric (`Tokens/second`), with its subject when a file holds several
    /// (`Tokens/second (llama3.1:8b)`).
    pub metric: String,
    /// The value with its unit (`42.50 tok/s`).
    pub value: String,
    pub level: Level,
    /// The reference's thresholds for this metric (`Target 40-50, Good > 35, ...`).
    pub thresholds: String,
    /// What to check when it falls short, and any caveat (another model size, a simulated
    /// target).
    pub advice: String,
}

/// The verdicts for one result file, and the line saying what they are measured against. A
/// comparison report shows the verdicts it recorded; any other file is judged from the runs
/// `compare` makes of it, as `compare` judges it.
pub fn for_file(loaded: &LoadedFile) -> (Vec<VerdictRow>, Option<String>) {
    if let Body::Comparison(report) = &loaded.file.body {
        return (from_comparison(report), report.targets.clone());
    }
    let verdicts: Vec<crate::analysis::verdict::Verdict> = loaded
        .runs
        .iter()
        .flat_map(|run| {
            // A multi-user file judges its scaling against the single-user time it records.
            let efficiency = run.single_user_time_seconds.and_then(|single| {
                let overall = run.value("OverallDurationSeconds")?;
                (overall > 0.0).then(|| single / overall * 100.0)
            });
            crate::analysis::verdict::assess_run(run, efficiency)
        })
        .collect();
    if verdicts.is_empty() {
        return (Vec::new(), None);
    }
    let rows = verdicts
        .iter()
        .map(|v| {
            let mut advice: Vec<String> = Vec::new();
            if let Some(text) = v.advice {
                advice.push(text.to_string());
            }
            if let Some(caveat) = &v.caveat {
                advice.push(format!("Note: {caveat}"));
            }
            VerdictRow {
                metric: match &v.subject {
                    Some(subject) => format!("{} ({subject})", v.metric.label()),
                    None => v.metric.label().to_string(),
                },
                value: v.value_text(),
                level: v.level,
                thresholds: v.thresholds.to_string(),
                advice: if advice.is_empty() {
                    "-".to_string()
                } else {
                    advice.join(" ")
                },
            }
        })
        .collect();
    let mut note = crate::analysis::verdict::targets_note();
    if let Some(simulated) = crate::analysis::verdict::simulated_note(&verdicts) {
        note.push(' ');
        note.push_str(&simulated);
    }
    (rows, Some(note))
}

/// The verdicts a comparison report recorded (`Verdicts[]{Run, Verdicts[]}`), one row per run
/// and metric; names and levels are matched against [`crate::analysis::verdict`]'s own, so that an
/// unknown name is shown as written rather than guessed.
pub fn from_comparison(report: &ComparisonFile) -> Vec<VerdictRow> {
    use crate::analysis::verdict::Metric;
    const METRICS: [Metric; 7] = [
        Metric::DownloadTime,
        Metric::ColdLoadTime,
        Metric::WarmLoadTime,
        Metric::TokensPerSecond,
        Metric::Variance,
        Metric::ConcurrentScaling,
        Metric::SuccessRate,
    ];
    const LEVELS: [Level; 4] = [Level::Target, Level::Good, Level::Warning, Level::Critical];
    // The names the verdicts are written with (their serde names).
    fn written<T: serde::Serialize>(value: T) -> String {
        serde_json::to_value(value)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }
    let mut rows = Vec::new();
    for run in &report.verdicts {
        let label = match run.run.trim() {
            "" => "run",
            label => label,
        };
        for verdict in &run.verdicts {
            if verdict.metric.trim().is_empty() {
                continue;
            }
            let Some(level) = LEVELS
                .into_iter()
                .find(|l| written(l) == verdict.level.trim())
            else {
                continue;
            };
            let metric = METRICS
                .into_iter()
                .find(|m| written(m) == verdict.metric.trim())
                .map(|m| m.label().to_string())
                .unwrap_or_else(|| verdict.metric.clone());
            let unit = verdict.unit.as_str();
            let value_text = match verdict.value.filter(|v| v.is_finite()) {
                Some(v) if unit == "%" => format!("{v:.1}%"),
                Some(v) => format!("{v:.2} {unit}"),
                None => "-".into(),
            };
            let advice: Vec<String> = [
                verdict.advice.clone(),
                verdict.caveat.as_ref().map(|c| format!("Note: {c}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            rows.push(VerdictRow {
                metric: match &verdict.subject {
                    Some(subject) => format!("{label}: {metric} ({subject})"),
                    None => format!("{label}: {metric}"),
                },
                value: value_text.trim_end().to_string(),
                level,
                thresholds: verdict.thresholds.clone().unwrap_or_else(|| "-".into()),
                advice: if advice.is_empty() {
                    "-".into()
                } else {
                    advice.join(" ")
                },
            });
        }
    }
    rows
}

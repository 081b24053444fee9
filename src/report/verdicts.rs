//! The verdict rows a report shows: one metric, its value, its level against the reference's
//! Performance Targets, and what to do when it falls short. The levels, thresholds and advice
//! come from [`crate::verdict`]; this module only shapes them for the report.

use super::load::{InputKind, LoadedFile};
pub use crate::verdict::Level;

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
/// comparison report shows the verdicts it recorded.
pub fn for_file(file: &LoadedFile) -> (Vec<VerdictRow>, Option<String>) {
    if file.kind == InputKind::Comparison {
        let rows = from_comparison(&file.value);
        let note = file
            .value
            .get("Targets")
            .and_then(serde_json::Value::as_str)
            .map(String::from);
        return (rows, note);
    }
    match crate::verdict::assess_result_json(&file.value) {
        Ok(verdicts) if !verdicts.is_empty() => {
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
            (rows, Some(crate::verdict::targets_note()))
        }
        Ok(_) => (Vec::new(), None),
        Err(err) => (
            Vec::new(),
            Some(format!(
                "No verdicts: the targets could not read this file ({err})."
            )),
        ),
    }
}

/// The verdicts a comparison report recorded (`Verdicts[]{Run, Verdicts[]}`), one row per run
/// and metric; names and levels are matched against [`crate::verdict`]'s own, so that an
/// unknown name is shown as written rather than guessed.
pub fn from_comparison(value: &serde_json::Value) -> Vec<VerdictRow> {
    use crate::verdict::Metric;
    use serde_json::Value;
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
    let same = |json: Option<&Value>, name: &Value| json.is_some_and(|j| j == name);
    let mut rows = Vec::new();
    let Some(runs) = value.get("Verdicts").and_then(Value::as_array) else {
        return rows;
    };
    for run in runs {
        let label = run.get("Run").and_then(Value::as_str).unwrap_or("run");
        let Some(verdicts) = run.get("Verdicts").and_then(Value::as_array) else {
            continue;
        };
        for verdict in verdicts {
            let Some(name) = verdict.get("Metric") else {
                continue;
            };
            let Some(level) = LEVELS
                .into_iter()
                .find(|l| same(verdict.get("Level"), &serde_json::json!(l)))
            else {
                continue;
            };
            let metric = METRICS
                .into_iter()
                .find(|m| same(Some(name), &serde_json::json!(m)))
                .map(|m| m.label().to_string())
                .or_else(|| name.as_str().map(String::from))
                .unwrap_or_else(|| "metric".into());
            let subject = verdict.get("Subject").and_then(Value::as_str);
            let unit = verdict.get("Unit").and_then(Value::as_str).unwrap_or("");
            let value_text = match verdict.get("Value").and_then(Value::as_f64) {
                Some(v) if unit == "%" => format!("{v:.1}%"),
                Some(v) => format!("{v:.2} {unit}"),
                None => "-".into(),
            };
            let text = |key: &str| verdict.get(key).and_then(Value::as_str).map(String::from);
            let advice: Vec<String> =
                [text("Advice"), text("Caveat").map(|c| format!("Note: {c}"))]
                    .into_iter()
                    .flatten()
                    .collect();
            rows.push(VerdictRow {
                metric: match subject {
                    Some(subject) => format!("{label}: {metric} ({subject})"),
                    None => format!("{label}: {metric}"),
                },
                value: value_text.trim_end().to_string(),
                level,
                thresholds: text("Thresholds").unwrap_or_else(|| "-".into()),
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

//! Verdicts against the reference's Performance Targets table (benchmark-suite.md,
//! "Performance Targets: Azure AKS with T4 GPU + Azure Files Premium"), with the reference's
//! diagnostic advice for whatever falls short.
//!
//! | Metric | Target | Good | Warning | Critical |
//! |---|---|---|---|---|
//! | Download time (7-8GB model) | 35-50 s | < 60 s | 60-90 s | > 90 s |
//! | Cold load time (7-8GB model) | 16-20 s | < 25 s | 25-35 s | > 35 s |
//! | Warm load time | 2-4 s | < 5 s | 5-10 s | > 10 s |
//! | Tokens/second (7-8GB model) | 40-50 | > 35 | 25-35 | < 25 |
//! | Variance (tok/s std dev / mean) | < 5% | < 8% | 8-15% | > 15% |
//! | Concurrent scaling (3 users) | > 50% | > 40% | 30-40% | < 30% |
//! | Success rate | 100% | > 95% | 90-95% | < 90% |
//!
//! Better than the Target range is Target (a 30 s download, 60 tok/s). Boundaries belong to
//! the worse level where the table's ranges touch (60 s download is Warning, 35 tok/s is
//! Warning, 50% scaling is Good). Target and Good show ✅, Warning ⚠️, Critical ❌.
//!
//! The download, cold load and tokens/second targets assume a 7-8GB model (the reference's
//! llama3.1:8b class, 7-9 billion parameters); a verdict on another model carries a caveat
//! saying so rather than pretending. Every verdict is about [`HARDWARE`]; other hardware
//! should expect other numbers.
//!
//! A simulated run is judged at the numbers it measured, like any other: at time scale `s`
//! the simulator's durations are `s` times those of the hardware it models and its rates
//! `1/s` times, so the duration and rate thresholds are scaled by the same factor
//! ([`Verdict::thresholds`] says so) rather than the values scaled back. Every number a verdict
//! shows is then the number the console, the result file and the report show; the one line
//! saying so is [`simulated_note`].
//!
//! This module does not depend on the command line: [`assess`] judges one number,
//! [`assess_run`] a normalised run from [`crate::compare`], and [`assess_result`] /
//! [`assess_result_json`] a whole result file (any kind), for `run`'s summary and reports.

use serde::Serialize;

use crate::results::comparison::{Kind, Run};
use crate::results::runs;
use crate::stats::coefficient_of_variation;

/// The hardware the targets assume, to be stated wherever verdicts show.
pub const HARDWARE: &str =
    "Azure AKS with an NVIDIA T4 GPU (16 GB) and Azure Files Premium storage";

/// One line saying what the verdicts are measured against.
pub fn targets_note() -> String {
    format!(
        "Verdicts use the reference's Performance Targets for {HARDWARE}; download, cold load \
         and tokens/second targets assume a 7-8GB model (llama3.1:8b class)."
    )
}

/// A row of the Performance Targets table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Metric {
    /// Single-user download time, seconds.
    DownloadTime,
    /// Single-user cold load time, seconds.
    ColdLoadTime,
    /// Single-user warm load time, seconds.
    WarmLoadTime,
    /// Generation speed, tokens per second.
    TokensPerSecond,
    /// Coefficient of variation of tok/s, percent.
    Variance,
    /// Multi-user scaling efficiency with 3 users, percent.
    ConcurrentScaling,
    /// Successful operations, percent.
    SuccessRate,
}

impl Metric {
    /// The table's name for it.
    pub fn label(&self) -> &'static str {
        match self {
            Metric::DownloadTime => "Download time",
            Metric::ColdLoadTime => "Cold load time",
            Metric::WarmLoadTime => "Warm load time",
            Metric::TokensPerSecond => "Tokens/second",
            Metric::Variance => "Variance (tok/s)",
            Metric::ConcurrentScaling => "Concurrent scaling (3 users)",
            Metric::SuccessRate => "Success rate",
        }
    }

    /// The unit its values are in.
    pub fn unit(&self) -> &'static str {
        match self {
            Metric::DownloadTime | Metric::ColdLoadTime | Metric::WarmLoadTime => "s",
            Metric::TokensPerSecond => "tok/s",
            Metric::Variance | Metric::ConcurrentScaling | Metric::SuccessRate => "%",
        }
    }

    /// The table's row: Target, Good, Warning, Critical.
    pub fn thresholds_text(&self) -> &'static str {
        match self {
            Metric::DownloadTime => "Target 35-50 s, Good < 60 s, Warning 60-90 s, Critical > 90 s",
            Metric::ColdLoadTime => "Target 16-20 s, Good < 25 s, Warning 25-35 s, Critical > 35 s",
            Metric::WarmLoadTime => "Target 2-4 s, Good < 5 s, Warning 5-10 s, Critical > 10 s",
            Metric::TokensPerSecond => "Target 40-50, Good > 35, Warning 25-35, Critical < 25",
            Metric::Variance => "Target < 5%, Good < 8%, Warning 8-15%, Critical > 15%",
            Metric::ConcurrentScaling => "Target > 50%, Good > 40%, Warning 30-40%, Critical < 30%",
            Metric::SuccessRate => "Target 100%, Good > 95%, Warning 90-95%, Critical < 90%",
        }
    }

    /// Whether the target assumes a 7-8GB model.
    pub fn assumes_model_size(&self) -> bool {
        matches!(
            self,
            Metric::DownloadTime | Metric::ColdLoadTime | Metric::TokensPerSecond
        )
    }

    fn level(&self, value: f64) -> Level {
        use Level::*;
        if !value.is_finite() {
            return Critical;
        }
        match self {
            Metric::DownloadTime => lower_better(value, 50.0, 60.0, 90.0),
            Metric::ColdLoadTime => lower_better(value, 20.0, 25.0, 35.0),
            Metric::WarmLoadTime => lower_better(value, 4.0, 5.0, 10.0),
            Metric::Variance => {
                if value < 5.0 {
                    Target
                } else if value < 8.0 {
                    Good
                } else if value <= 15.0 {
                    Warning
                } else {
                    Critical
                }
            }
            Metric::TokensPerSecond => higher_better(value, 40.0, 35.0, 25.0, true),
            Metric::ConcurrentScaling => higher_better(value, 50.0, 40.0, 30.0, false),
            Metric::SuccessRate => {
                if value >= 100.0 {
                    Target
                } else if value > 95.0 {
                    Good
                } else if value >= 90.0 {
                    Warning
                } else {
                    Critical
                }
            }
        }
    }

    /// The reference's diagnostic advice when this metric falls short (Diagnostic Guide,
    /// Interpreting Results and Troubleshooting sections).
    pub fn advice(&self, level: Level) -> Option<&'static str> {
        if !level.falls_short() {
            return None;
        }
        Some(match self {
            Metric::DownloadTime => {
                "Slow download: limited by network bandwidth from the registry (100-200 Mbps \
                 typical) and storage write speed. Check bandwidth to the pod (kubectl exec -n \
                 ollama ollama-0 -- sh -c \"time curl -o /dev/null https://registry.ollama.ai/v2/\"), \
                 verify there is no rate limiting, check Azure Files Premium throughput (should \
                 be ~400 MB/s), and consider pre-loading models (kubectl exec -n ollama ollama-0 \
                 -- ollama pull MODEL)."
            }
            Metric::ColdLoadTime => {
                "Slow cold load: storage read performance (first load), GPU memory allocation \
                 and model initialization. Check storage throughput (Azure Files Premium: \
                 1-10 ms latency, ~400 MB/s; local NVMe loads about 3x faster), and if results \
                 are significantly worse, investigate GPU allocation or node issues \
                 (kubectl describe node)."
            }
            Metric::WarmLoadTime => {
                "Slow warm load: a cached model should need minimal storage I/O (GPU-only \
                 initialization). Check that the model stays cached in system memory (node \
                 memory pressure) and verify GPU allocation with kubectl describe node."
            }
            Metric::TokensPerSecond => {
                "Low tokens/second: verify GPU allocation with kubectl describe node (is the \
                 model fully in GPU memory?), check for thermal throttling (kubectl exec -n \
                 ollama ollama-0 -- nvidia-smi) and other GPU workloads (kubectl get pods -A -o \
                 wide | grep gpu)."
            }
            Metric::Variance => match level {
                Level::Critical => {
                    "High variance: unstable environment, thermal throttling likely. Check GPU \
                     temperature (kubectl exec -n ollama ollama-0 -- nvidia-smi), other GPU \
                     workloads (kubectl get pods -A -o wide | grep gpu) and spot VM evictions \
                     (kubectl describe node <node-name>); rerun with --warmup-runs 5 \
                     --measurement-runs 20."
                }
                _ => {
                    "Variable results: check for resource contention or thermal issues \
                     (kubectl exec -n ollama ollama-0 -- nvidia-smi; kubectl get pods -A -o wide \
                     | grep gpu); increase --warmup-runs and --measurement-runs."
                }
            },
            Metric::ConcurrentScaling => {
                "Poor concurrent scaling: a GPU or memory bottleneck, or a single GPU queue with \
                 no parallelism. Compare max and average per-user times (more than 50% apart \
                 means resource contention or a sequential bottleneck) and check Ollama's \
                 parallel settings and the GPU's memory."
            }
            Metric::SuccessRate => {
                "Failures under load: investigate resource limits or timeouts. Reduce the \
                 concurrent users, and allow longer timeouts for very large models (>10GB)."
            }
        })
    }
}

fn lower_better(value: f64, target: f64, good_below: f64, warning_up_to: f64) -> Level {
    if value <= target {
        Level::Target
    } else if value < good_below {
        Level::Good
    } else if value <= warning_up_to {
        Level::Warning
    } else {
        Level::Critical
    }
}

fn higher_better(
    value: f64,
    target: f64,
    good_above: f64,
    warning_from: f64,
    target_inclusive: bool,
) -> Level {
    let meets_target = if target_inclusive {
        value >= target
    } else {
        value > target
    };
    if meets_target {
        Level::Target
    } else if value > good_above {
        Level::Good
    } else if value >= warning_from {
        Level::Warning
    } else {
        Level::Critical
    }
}

/// Where a value falls in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Level {
    Target,
    Good,
    Warning,
    Critical,
}

impl Level {
    /// ✅ for Target and Good, ⚠️ for Warning, ❌ for Critical.
    pub fn symbol(&self) -> &'static str {
        match self {
            Level::Target | Level::Good => "✅",
            Level::Warning => "⚠️",
            Level::Critical => "❌",
        }
    }

    /// The table's word.
    pub fn label(&self) -> &'static str {
        match self {
            Level::Target => "Target",
            Level::Good => "Good",
            Level::Warning => "Warning",
            Level::Critical => "Critical",
        }
    }

    /// Warning or Critical.
    pub fn falls_short(&self) -> bool {
        matches!(self, Level::Warning | Level::Critical)
    }
}

/// One number judged against the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Verdict {
    pub metric: Metric,
    /// What was judged when a run holds several (a model, `model/prompt`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub value: f64,
    pub unit: &'static str,
    pub level: Level,
    pub symbol: &'static str,
    /// The table's row for this metric, scaled to the simulator's time scale for a simulated
    /// run (`Target 3.5-5 s, ... (at time scale 0.1)`).
    pub thresholds: String,
    /// The reference's advice, for Warning and Critical.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<&'static str>,
    /// Why the verdict is only indicative (another model size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caveat: Option<String>,
    /// The simulator's time scale when the run was simulated (1 when it ran at real speed);
    /// [`simulated_note`] says once what it means for the verdicts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulator_time_scale: Option<f64>,
}

impl Verdict {
    /// `✅ Cold load time 18.32 s: Target`, without the thresholds or the caveat (for a list
    /// that states each metric's thresholds once).
    pub fn short_line(&self) -> String {
        let subject = self
            .subject
            .as_ref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        format!(
            "{} {}{subject}: {} -> {}",
            self.symbol,
            self.metric.label(),
            self.value_text(),
            self.level.label()
        )
    }

    /// The value with its unit: `18.32 s`, `42.50 tok/s`, `4.2%`.
    pub fn value_text(&self) -> String {
        match self.unit {
            "%" => format!("{:.1}%", self.value),
            unit => format!("{:.2} {unit}", self.value),
        }
    }
}

/// Judges one value of `metric` (units as [`Metric::unit`] says: seconds, tok/s, percent).
/// A non-finite value is Critical.
pub fn assess(metric: Metric, value: f64) -> Verdict {
    assess_at(metric, value, None)
}

/// Judges a value measured on the simulator at `time_scale` (`None`: real hardware, or a
/// simulator at real speed) against the table's thresholds scaled the same way.
pub fn assess_at(metric: Metric, value: f64, time_scale: Option<f64>) -> Verdict {
    let factor = time_scale.and_then(|s| metric.time_factor(s));
    let level = metric.level(match factor {
        Some(f) => value / f,
        None => value,
    });
    let thresholds = match (factor, time_scale) {
        (Some(f), Some(s)) => format!(
            "{} (at time scale {s})",
            scale_numbers(metric.thresholds_text(), f)
        ),
        _ => metric.thresholds_text().to_string(),
    };
    Verdict {
        metric,
        subject: None,
        value,
        unit: metric.unit(),
        level,
        symbol: level.symbol(),
        thresholds,
        advice: metric.advice(level),
        caveat: None,
        simulator_time_scale: None,
    }
}

impl Metric {
    /// What a simulator at `time_scale` multiplies this metric by: durations by the scale,
    /// rates by its inverse, percentages not at all (`None`). A scale of 1 changes nothing.
    fn time_factor(&self, time_scale: f64) -> Option<f64> {
        if !(time_scale.is_finite() && time_scale > 0.0) || (time_scale - 1.0).abs() < 1e-12 {
            return None;
        }
        match self {
            Metric::DownloadTime | Metric::ColdLoadTime | Metric::WarmLoadTime => Some(time_scale),
            Metric::TokensPerSecond => Some(1.0 / time_scale),
            Metric::Variance | Metric::ConcurrentScaling | Metric::SuccessRate => None,
        }
    }
}

/// Every number in `text` multiplied by `factor`, written without trailing zeros
/// (`Target 35-50 s` by 0.1 is `Target 3.5-5 s`).
fn scale_numbers(text: &str, factor: f64) -> String {
    let mut out = String::new();
    let mut number = String::new();
    let flush = |number: &mut String, out: &mut String| {
        if let Ok(value) = number.parse::<f64>() {
            let scaled = format!("{:.3}", value * factor);
            out.push_str(scaled.trim_end_matches('0').trim_end_matches('.'));
        } else {
            out.push_str(number);
        }
        number.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || (c == '.' && !number.is_empty()) {
            number.push(c);
        } else {
            flush(&mut number, &mut out);
            out.push(c);
        }
    }
    flush(&mut number, &mut out);
    out
}

/// The one line to print beside verdicts that include simulated runs: what they judge, and
/// how the thresholds were scaled. `None` when no verdict is about a simulated run.
pub fn simulated_note(verdicts: &[Verdict]) -> Option<String> {
    let mut scales: Vec<f64> = Vec::new();
    for scale in verdicts.iter().filter_map(|v| v.simulator_time_scale) {
        if !scales.contains(&scale) {
            scales.push(scale);
        }
    }
    if scales.is_empty() {
        return None;
    }
    let scaled: Vec<String> = scales
        .iter()
        .filter(|s| (**s - 1.0).abs() > 1e-12)
        .map(|s| s.to_string())
        .collect();
    let mut note = "Simulated runs are judged on the simulator's model of the hardware".to_string();
    if !scaled.is_empty() {
        note.push_str(&format!(
            "; they ran at time scale {}, so their values are shown as measured and the \
             duration and tok/s thresholds are scaled by the same factor (durations times the \
             scale, tok/s divided by it)",
            scaled.join(", ")
        ));
    }
    note.push('.');
    Some(note)
}

/// The size class of a model relative to the 7-8GB (7-9 billion parameter) target model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelClass {
    /// 7-9 billion parameters: what the targets assume.
    Target,
    Smaller,
    Larger,
    Unknown,
}

/// Billions of parameters, from a parameter size (`8.0B`, `135M`) or a model tag
/// (`llama3.1:8b`, `qwen2.5:0.5b-instruct`), or a few of the reference's untagged names.
pub fn parameter_billions(model: &str, parameter_size: Option<&str>) -> Option<f64> {
    fn leading_size(text: &str) -> Option<f64> {
        let text = text.trim().to_ascii_lowercase();
        let digits: String = text
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let number: f64 = digits.parse().ok()?;
        match text[digits.len()..].chars().next() {
            Some('b') => Some(number),
            Some('m') => Some(number / 1000.0),
            Some('t') => Some(number * 1000.0),
            _ => None,
        }
    }
    if let Some(size) = parameter_size.and_then(leading_size) {
        return Some(size);
    }
    let (name, tag) = model.split_once(':').unwrap_or((model, ""));
    if let Some(size) = leading_size(tag) {
        return Some(size);
    }
    let name = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    match name.as_str() {
        "phi3.5" | "phi3" => Some(3.8),
        "llama3.1" | "llama3" | "deepseek-r1" => Some(8.0),
        "mistral" => Some(7.0),
        "gemma2" => Some(9.0),
        _ => None,
    }
}

/// How `model` compares with the model the targets assume.
pub fn model_class(model: &str, parameter_size: Option<&str>) -> ModelClass {
    match parameter_billions(model, parameter_size) {
        Some(b) if b < 6.5 => ModelClass::Smaller,
        Some(b) if b > 9.5 => ModelClass::Larger,
        Some(_) => ModelClass::Target,
        None => ModelClass::Unknown,
    }
}

/// The caveat for a size-dependent verdict on `model`, `None` when it is the target's class.
pub fn model_size_caveat(model: &str, parameter_size: Option<&str>) -> Option<String> {
    let billions = parameter_billions(model, parameter_size);
    let size = billions
        .map(|b| format!(" ({b}B parameters)"))
        .unwrap_or_default();
    match model_class(model, parameter_size) {
        ModelClass::Target => None,
        ModelClass::Smaller => Some(format!(
            "the target assumes a 7-8GB model; {model}{size} is smaller, so it should do better \
             than this verdict suggests"
        )),
        ModelClass::Larger => Some(format!(
            "the target assumes a 7-8GB model; {model}{size} is larger, so expect it to fall \
             short of the target"
        )),
        ModelClass::Unknown => Some(format!(
            "the target assumes a 7-8GB model; the size of {model} is not known here"
        )),
    }
}

/// The verdicts for one run: single-user (download, cold and warm load, tok/s), tokens per
/// second (per model: average tok/s and the largest cell variance; success rate), multi-user
/// (success rate; concurrent scaling when `scaling_efficiency_percent` is given for 3 users).
pub fn assess_run(run: &Run, scaling_efficiency_percent: Option<f64>) -> Vec<Verdict> {
    let parameter_size = |model: &str| {
        run.parameter_sizes
            .iter()
            .find(|(name, _)| name == model)
            .map(|(_, size)| size.as_str())
    };
    let sized = |mut verdict: Verdict, model: Option<&str>| {
        if verdict.metric.assumes_model_size() {
            verdict.caveat = match model {
                Some(model) => model_size_caveat(model, parameter_size(model)),
                None => Some("the target assumes a 7-8GB model; the model is not recorded".into()),
            };
        }
        verdict
    };
    // A simulator run is judged at the numbers it measured, against thresholds at its scale.
    let scale = run
        .simulated
        .then(|| run.simulator_time_scale.unwrap_or(1.0));
    let assess = |metric: Metric, value: f64| {
        let mut verdict = assess_at(metric, value, scale);
        verdict.simulator_time_scale = scale;
        verdict
    };
    let mut verdicts = Vec::new();
    match run.kind {
        Kind::SingleUser => {
            let model = run.models.first().map(String::as_str);
            for (field, metric) in [
                ("DownloadTimeSeconds", Metric::DownloadTime),
                ("LoadTimeColdSeconds", Metric::ColdLoadTime),
                ("LoadTimeWarmSeconds", Metric::WarmLoadTime),
                ("TokensPerSecond", Metric::TokensPerSecond),
            ] {
                if let Some(value) = run.value(field) {
                    verdicts.push(sized(assess(metric, value), model));
                }
            }
        }
        Kind::TokensPerSecond => {
            for model in &run.models {
                let prefix = format!("{model}/");
                let cells: Vec<_> = run
                    .metrics
                    .iter()
                    .filter(|m| {
                        m.name == "AverageTokensPerSecond"
                            && m.subject.as_ref().is_some_and(|s| s.starts_with(&prefix))
                    })
                    .collect();
                let averages: Vec<f64> = cells.iter().map(|m| m.value).collect();
                if let Some(average) = crate::stats::mean(&averages) {
                    let mut verdict = sized(assess(Metric::TokensPerSecond, average), Some(model));
                    verdict.subject = Some(model.clone());
                    verdicts.push(verdict);
                }
                let worst = cells
                    .iter()
                    .filter_map(|m| {
                        m.std_dev
                            .map(|sd| (coefficient_of_variation(sd, m.value) * 100.0, m))
                    })
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                if let Some((cv_percent, cell)) = worst {
                    let mut verdict = assess(Metric::Variance, cv_percent);
                    verdict.subject = cell.subject.clone();
                    verdicts.push(verdict);
                }
            }
            if run.models.is_empty() {
                if let Some(value) = run.value("OverallAverageTokensPerSecond") {
                    verdicts.push(sized(assess(Metric::TokensPerSecond, value), None));
                }
            }
            if let Some(rate) = run.value("SuccessRate") {
                verdicts.push(assess(Metric::SuccessRate, rate));
            }
        }
        Kind::MultiUser => {
            if let Some(rate) = run.value("SuccessRate") {
                verdicts.push(assess(Metric::SuccessRate, rate));
            }
            if let (Some(3), Some(efficiency)) = (run.concurrent_users, scaling_efficiency_percent)
            {
                verdicts.push(assess(Metric::ConcurrentScaling, efficiency));
            }
        }
        Kind::ComparisonReport | Kind::Load | Kind::Capacity => {}
    }
    verdicts
}

/// The verdicts for a whole result file of any kind, parsed as JSON (ollabench's or the
/// PowerShell suite's). A multi-user file's scaling is judged when it records
/// `Scaling.SingleUserTimeSeconds`.
pub fn assess_result_json(value: &serde_json::Value) -> Result<Vec<Verdict>, String> {
    let runs = runs::runs_from_value(value, "result").map_err(|err| err.error().message.clone())?;
    Ok(runs
        .iter()
        .flat_map(|run| {
            let efficiency = run.single_user_time_seconds.and_then(|single| {
                let overall = run.value("OverallDurationSeconds")?;
                (overall > 0.0).then(|| single / overall * 100.0)
            });
            assess_run(run, efficiency)
        })
        .collect())
}

/// The verdicts for a result struct (e.g. `results::single_user::SingleUserResult`), through
/// its JSON form.
pub fn assess_result<T: Serialize>(result: &T) -> Result<Vec<Verdict>, String> {
    let value = serde_json::to_value(result).map_err(|err| err.to_string())?;
    assess_result_json(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_runs_show_what_they_measured_against_scaled_thresholds() {
        let file = |download: f64, tps: f64| {
            serde_json::json!({
                "Timestamp": "2026-11-28 01:00:00",
                "Model": "llama3.1:8b",
                "Measurements": {"DownloadTimeSeconds": download, "TokensPerSecond": tps},
                "Provenance": {"Simulated": true, "SimulatorTimeScale": 0.1}
            })
        };
        let verdicts = assess_result_json(&file(4.2, 450.0)).unwrap();
        assert_eq!(verdicts.len(), 2);
        // The value is the one measured, the same the console and the file show.
        assert_eq!(verdicts[0].value_text(), "4.20 s");
        assert_eq!(verdicts[0].level, Level::Target, "42 s modelled");
        assert_eq!(
            verdicts[0].thresholds,
            "Target 3.5-5 s, Good < 6 s, Warning 6-9 s, Critical > 9 s (at time scale 0.1)"
        );
        assert_eq!(verdicts[1].value_text(), "450.00 tok/s");
        assert_eq!(verdicts[1].level, Level::Target, "45 tok/s modelled");
        assert!(verdicts[1]
            .thresholds
            .starts_with("Target 400-500, Good > 350"));
        // Nothing repeated per verdict: the note is said once.
        assert!(verdicts.iter().all(|v| v.caveat.is_none()));
        let note = simulated_note(&verdicts).unwrap();
        assert!(note.contains("time scale 0.1"), "{note}");
        let slow = assess_result_json(&file(10.0, 200.0)).unwrap();
        assert_eq!(slow[0].level, Level::Critical, "100 s modelled download");
        assert_eq!(slow[1].level, Level::Critical, "20 tok/s modelled");
        // A boundary holds at scale too: 6 s at 0.1 is the table's 60 s, a Warning.
        assert_eq!(
            assess_at(Metric::DownloadTime, 6.0, Some(0.1)).level,
            Level::Warning
        );
        assert_eq!(
            assess_at(Metric::SuccessRate, 95.0, Some(0.1)).thresholds,
            Metric::SuccessRate.thresholds_text()
        );
        assert!(simulated_note(
            &assess_result_json(&serde_json::json!({
                "Model": "llama3.1:8b", "Measurements": {"TokensPerSecond": 42.0}
            }))
            .unwrap()
        )
        .is_none());
    }

    #[test]
    fn levels_follow_the_table_and_its_boundaries() {
        let level = |metric, value| assess(metric, value).level;
        assert_eq!(level(Metric::DownloadTime, 30.0), Level::Target);
        assert_eq!(level(Metric::DownloadTime, 45.67), Level::Target);
        assert_eq!(level(Metric::DownloadTime, 55.0), Level::Good);
        assert_eq!(level(Metric::DownloadTime, 60.0), Level::Warning);
        assert_eq!(level(Metric::DownloadTime, 90.0), Level::Warning);
        assert_eq!(level(Metric::DownloadTime, 90.1), Level::Critical);
        assert_eq!(level(Metric::ColdLoadTime, 18.32), Level::Target);
        assert_eq!(level(Metric::ColdLoadTime, 24.9), Level::Good);
        assert_eq!(level(Metric::ColdLoadTime, 36.0), Level::Critical);
        assert_eq!(level(Metric::WarmLoadTime, 2.14), Level::Target);
        assert_eq!(level(Metric::WarmLoadTime, 7.0), Level::Warning);
        assert_eq!(level(Metric::TokensPerSecond, 60.0), Level::Target);
        assert_eq!(level(Metric::TokensPerSecond, 42.5), Level::Target);
        assert_eq!(level(Metric::TokensPerSecond, 36.0), Level::Good);
        assert_eq!(level(Metric::TokensPerSecond, 35.0), Level::Warning);
        assert_eq!(level(Metric::TokensPerSecond, 24.9), Level::Critical);
        assert_eq!(level(Metric::Variance, 4.2), Level::Target);
        assert_eq!(level(Metric::Variance, 7.9), Level::Good);
        assert_eq!(level(Metric::Variance, 15.0), Level::Warning);
        assert_eq!(level(Metric::Variance, 15.1), Level::Critical);
        assert_eq!(level(Metric::ConcurrentScaling, 50.4), Level::Target);
        assert_eq!(level(Metric::ConcurrentScaling, 50.0), Level::Good);
        assert_eq!(level(Metric::ConcurrentScaling, 35.0), Level::Warning);
        assert_eq!(level(Metric::ConcurrentScaling, 29.0), Level::Critical);
        assert_eq!(level(Metric::SuccessRate, 100.0), Level::Target);
        assert_eq!(level(Metric::SuccessRate, 96.0), Level::Good);
        assert_eq!(level(Metric::SuccessRate, 95.0), Level::Warning);
        assert_eq!(level(Metric::SuccessRate, 89.0), Level::Critical);
        assert_eq!(level(Metric::ColdLoadTime, f64::NAN), Level::Critical);
    }

    #[test]
    fn symbols_and_advice_only_for_shortfalls() {
        let good = assess(Metric::ColdLoadTime, 22.0);
        assert_eq!(good.symbol, "✅");
        assert!(good.advice.is_none());
        let warning = assess(Metric::ColdLoadTime, 30.0);
        assert_eq!(warning.symbol, "⚠️");
        assert!(warning.advice.unwrap().contains("storage"));
        let critical = assess(Metric::Variance, 25.0);
        assert_eq!(critical.symbol, "❌");
        assert!(critical.advice.unwrap().contains("thermal throttling"));
        assert!(critical.short_line().contains("-> Critical"));
    }

    #[test]
    fn model_size_is_stated_not_pretended() {
        assert_eq!(model_class("llama3.1:8b", None), ModelClass::Target);
        assert_eq!(model_class("mistral:7b", None), ModelClass::Target);
        assert_eq!(model_class("phi3.5", None), ModelClass::Smaller);
        assert_eq!(model_class("gemma2:2b", None), ModelClass::Smaller);
        assert_eq!(model_class("smollm2", Some("135M")), ModelClass::Smaller);
        assert_eq!(model_class("llama3.1:70b", None), ModelClass::Larger);
        assert_eq!(model_class("custom-model", None), ModelClass::Unknown);
        assert!(model_size_caveat("llama3.1:8b", None).is_none());
        assert!(model_size_caveat("phi3.5", None).unwrap().contains("7-8GB"));
    }

    #[test]
    fn a_whole_single_user_file_is_assessed() {
        let file = serde_json::json!({
            "Timestamp": "2025-10-31 14:30:00",
            "Model": "llama3.1:8b",
            "Measurements": {
                "DownloadTimeSeconds": 45.67, "LoadTimeColdSeconds": 38.0,
                "LoadTimeWarmSeconds": 2.14, "TotalTimeSeconds": 83.67, "TokensPerSecond": 42.5,
                "DownloadStatus": "Success", "LoadStatus": "Success"
            }
        });
        let verdicts = assess_result_json(&file).unwrap();
        let levels: Vec<(Metric, Level)> = verdicts.iter().map(|v| (v.metric, v.level)).collect();
        assert_eq!(
            levels,
            [
                (Metric::DownloadTime, Level::Target),
                (Metric::ColdLoadTime, Level::Critical),
                (Metric::WarmLoadTime, Level::Target),
                (Metric::TokensPerSecond, Level::Target),
            ]
        );
        assert!(verdicts.iter().all(|v| v.caveat.is_none()));
    }

    #[test]
    fn ollabench_single_user_results_are_assessed_through_their_json_form() {
        use crate::results::single_user::{SingleUserMeasurements, SingleUserResult};
        use crate::results::{Provenance, RunStatus};
        let mut provenance = Provenance::default();
        provenance.set_simulator("t4", 1.0);
        let result = SingleUserResult {
            timestamp: "2025-10-31 14:30:00".to_string(),
            model: "llama3.1:8b".to_string(),
            ollama_endpoint: "http://127.0.0.1:11434".to_string(),
            measurements: SingleUserMeasurements {
                download_time_seconds: Some(1.0),
                download_status: "AlreadyPresent".to_string(),
                load_time_cold_seconds: Some(18.3),
                load_time_warm_seconds: Some(6.0),
                load_status: "Success".to_string(),
                tokens_per_second: Some(42.0),
                ..SingleUserMeasurements::default()
            },
            status: RunStatus::Success,
            errors: vec![],
            warnings: vec![],
            provenance,
        };
        let verdicts = assess_result(&result).unwrap();
        let metrics: Vec<Metric> = verdicts.iter().map(|v| v.metric).collect();
        // An already-present model was not downloaded: no download verdict.
        assert_eq!(
            metrics,
            [
                Metric::ColdLoadTime,
                Metric::WarmLoadTime,
                Metric::TokensPerSecond
            ]
        );
        assert_eq!(verdicts[1].level, Level::Warning);
        assert_eq!(verdicts[0].simulator_time_scale, Some(1.0));
        assert!(simulated_note(&verdicts)
            .unwrap()
            .contains("simulator's model"));
    }

    #[test]
    fn a_tokens_per_second_file_gets_variance_and_a_size_caveat() {
        let file = serde_json::json!({
            "Summary": {"OverallAverageTokensPerSecond": 60.0},
            "ModelResults": [{"Model": "phi3.5", "PromptResults": [
                {"PromptLength": "Short", "Statistics": {"AverageTokensPerSecond": 60.0, "StdDevTokensPerSecond": 12.0}}
            ]}]
        });
        let verdicts = assess_result_json(&file).unwrap();
        assert_eq!(verdicts[0].metric, Metric::TokensPerSecond);
        assert!(verdicts[0].caveat.as_ref().unwrap().contains("smaller"));
        assert_eq!(verdicts[1].metric, Metric::Variance);
        assert_eq!(verdicts[1].level, Level::Critical);
        assert_eq!(verdicts[1].subject.as_deref(), Some("phi3.5/Short"));
    }

    #[test]
    fn multi_user_scaling_from_the_files_own_single_user_time() {
        let file = serde_json::json!({
            "ConcurrentUsers": 3,
            "Summary": {"OverallDurationSeconds": 125.45, "SuccessRate": 100},
            "Scaling": {"SingleUserTimeSeconds": 63.0}
        });
        let verdicts = assess_result_json(&file).unwrap();
        assert_eq!(verdicts[0].metric, Metric::SuccessRate);
        assert_eq!(verdicts[1].metric, Metric::ConcurrentScaling);
        // 63 / 125.45 = 50.2%: above the table's "> 50%".
        assert_eq!(verdicts[1].level, Level::Target);
        assert!((verdicts[1].value - 50.22).abs() < 0.01);
    }
}

//! Trends: runs of one group ordered by Timestamp, each metric's change against the baseline
//! in percent, whether that change exceeds the runs' own noise, statistics across runs, and
//! the regression gate's rule.
//!
//! # The noise rule
//! A change from baseline value `b` to value `v` is *beyond noise* when `|v - b|` exceeds the
//! noise threshold:
//! - when the metric records its spread (tokens-per-second cells: `StdDevTokensPerSecond`,
//!   `SampleSize`), the threshold is the larger of (a) the larger of the two standard
//!   deviations and (b) twice the combined standard error `2 * sqrt(s_b²/n_b + s_v²/n_v)`
//!   (about a 95% interval for the difference of two means; used only when both sample sizes
//!   are known). So a change smaller than one run's own standard deviation is never called
//!   real, and with few samples the interval widens further;
//! - when the baseline is several runs (`--baseline` with several files of the group), the
//!   baseline value is their mean and their standard deviation across runs is the spread;
//! - when nothing records a spread (one single-user file against another), the noise is
//!   unknown: the change is shown as *negligible* under 5% (the reference: "don't
//!   over-interpret small differences (<5%)"), a larger one as better or worse with "noise
//!   unknown (1 run)", never as beyond noise; the gate judges it by its percentage alone.
//!
//! A metric *regresses* when it is worse than the baseline (in the metric's own direction:
//! times up, throughput and success rate down), by more than the gate's percentage, and not
//! within the noise threshold.

use serde::Serialize;

use crate::results::comparison::{Better, Metric, Run, Unit};
use crate::stats;

/// What a change is called when neither side records a spread: one run against one.
pub const NOISE_UNKNOWN: &str = "noise unknown (1 run)";

/// Under this change in percent, with no noise estimate, a change is negligible.
pub const NEGLIGIBLE_PERCENT: f64 = 5.0;

/// The noise rule in one paragraph, for `--help`, the report and documentation.
pub const NOISE_RULE: &str = "A change counts only when it exceeds the runs' own noise: for \
    metrics with a recorded spread (tok/s cells' StdDevTokensPerSecond and SampleSize) the \
    larger of the two standard deviations and twice the combined standard error \
    2*sqrt(s1^2/n1 + s2^2/n2); with several --baseline runs, their standard deviation across \
    runs. Without any spread the noise is unknown (1 run against 1): changes under 5% are \
    called negligible, larger ones are shown with \"noise unknown (1 run)\" and never as beyond \
    noise, and the gate uses the percentage alone.";

/// How a metric moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Assessment {
    /// Better than the baseline, beyond noise.
    Better,
    /// Worse than the baseline, beyond noise.
    Worse,
    /// The change is within the runs' own noise.
    WithinNoise,
    /// No noise estimate, and the change is under 5%.
    Negligible,
}

impl Assessment {
    /// The words shown in tables.
    pub fn label(&self) -> &'static str {
        match self {
            Assessment::Better => "better",
            Assessment::Worse => "worse",
            Assessment::WithinNoise => "within noise",
            Assessment::Negligible => "negligible (<5%)",
        }
    }

    /// Whether the change is a real one.
    pub fn is_change(&self) -> bool {
        matches!(self, Assessment::Better | Assessment::Worse)
    }
}

/// One metric of one run against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Change {
    pub run: String,
    pub timestamp: Option<String>,
    pub baseline: String,
    /// The metric's key (`LoadTimeColdSeconds`, `AverageTokensPerSecond[llama3.1:8b/Short]`).
    pub metric: String,
    pub unit: Unit,
    pub better: Better,
    pub baseline_value: f64,
    pub value: f64,
    /// `(value - baseline) / baseline * 100`; absent when the baseline is 0.
    pub change_percent: Option<f64>,
    /// The noise threshold in the metric's unit; absent when unknown.
    pub noise: Option<f64>,
    pub assessment: Assessment,
    /// An extreme of single samples: never a regression (see `Metric::extreme`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub extreme: bool,
}

impl Change {
    /// Whether the change exceeds a known noise threshold. A change whose noise is unknown (one
    /// run against one, neither recording a spread) is never said to be beyond noise.
    pub fn beyond_noise(&self) -> bool {
        self.assessment.is_change() && self.noise.is_some()
    }

    /// The verdict in words: `worse`, `within noise`, `better, noise unknown (1 run)`, and
    /// for an extreme of single samples that it is not judged.
    pub fn verdict(&self) -> String {
        let words = match (self.assessment, self.noise) {
            (Assessment::Better | Assessment::Worse, None) => {
                format!("{}, {NOISE_UNKNOWN}", self.assessment.label())
            }
            (Assessment::Negligible, _) => format!("under 5%, {NOISE_UNKNOWN}"),
            (assessment, _) => assessment.label().to_string(),
        };
        if self.extreme && self.assessment.is_change() {
            format!("{words}; one sample's extreme, not gated")
        } else {
            words
        }
    }

    /// Whether the gate at `threshold_percent` counts this change as a regression.
    pub fn is_regression(&self, threshold_percent: f64) -> bool {
        let Some(percent) = self.change_percent else {
            return false;
        };
        if self.extreme {
            return false;
        }
        let worse = match self.better {
            Better::Lower => percent > 0.0,
            Better::Higher => percent < 0.0,
        };
        let beyond_noise = self
            .noise
            .is_none_or(|noise| (self.value - self.baseline_value).abs() > noise);
        worse && beyond_noise && percent.abs() > threshold_percent
    }
}

/// The noise threshold between two measurements of a metric (see the module docs); `None`
/// when neither records a spread.
pub fn noise_threshold(baseline: &Metric, run: &Metric) -> Option<f64> {
    let largest_sd = match (baseline.std_dev, run.std_dev) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }?;
    let interval = match (
        baseline.std_dev,
        baseline.sample_size,
        run.std_dev,
        run.sample_size,
    ) {
        (Some(sb), Some(nb), Some(sv), Some(nv)) if nb > 0 && nv > 0 => {
            2.0 * (sb * sb / nb as f64 + sv * sv / nv as f64).sqrt()
        }
        _ => 0.0,
    };
    Some(largest_sd.max(interval))
}

/// Compares one metric of a run with the baseline's.
pub fn change(baseline_label: &str, baseline: &Metric, run: &Run, metric: &Metric) -> Change {
    let difference = metric.value - baseline.value;
    let change_percent = (baseline.value != 0.0).then(|| difference / baseline.value.abs() * 100.0);
    let noise = noise_threshold(baseline, metric);
    let improved = match metric.better {
        Better::Lower => difference < 0.0,
        Better::Higher => difference > 0.0,
    };
    let assessment = match noise {
        Some(noise) if difference.abs() <= noise => Assessment::WithinNoise,
        None if difference == 0.0
            || change_percent.is_some_and(|p| p.abs() < NEGLIGIBLE_PERCENT) =>
        {
            Assessment::Negligible
        }
        _ if improved => Assessment::Better,
        _ => Assessment::Worse,
    };
    Change {
        run: run.label.clone(),
        timestamp: run.timestamp.clone(),
        baseline: baseline_label.to_string(),
        metric: metric.key(),
        unit: metric.unit,
        better: metric.better,
        baseline_value: baseline.value,
        value: metric.value,
        change_percent,
        noise,
        assessment,
        extreme: metric.extreme,
    }
}

/// The baseline of a group: one run, or the mean of several with their spread.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// The run's label, or "mean of N baseline runs (a, b)".
    pub label: String,
    pub metrics: Vec<Metric>,
}

impl Baseline {
    /// The baseline made of `runs` (at least one).
    pub fn of(runs: &[&Run]) -> Self {
        if let [only] = runs {
            return Baseline {
                label: only.label.clone(),
                metrics: only.metrics.clone(),
            };
        }
        let labels: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
        let mut metrics: Vec<Metric> = Vec::new();
        for key in metric_keys(runs) {
            let found: Vec<&Metric> = runs.iter().filter_map(|r| r.metric(&key)).collect();
            let Some(first) = found.first() else {
                continue;
            };
            let values: Vec<f64> = found.iter().map(|m| m.value).collect();
            let Some(mean) = stats::mean(&values) else {
                continue;
            };
            let across_runs = if found.len() > 1 {
                stats::sample_std_dev(&values)
            } else {
                None
            };
            let own = found.iter().filter_map(|m| m.std_dev).reduce(f64::max);
            let mut metric = (*first).clone();
            metric.value = mean;
            metric.std_dev = match (across_runs, own) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            metric.sample_size = None;
            metrics.push(metric);
        }
        Baseline {
            label: format!(
                "mean of {} baseline runs ({})",
                runs.len(),
                labels.join(", ")
            ),
            metrics,
        }
    }

    /// The baseline's metric with this key.
    pub fn metric(&self, key: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.key() == key)
    }
}

/// Every metric key of the runs, in first-seen order.
pub fn metric_keys(runs: &[&Run]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for run in runs {
        for metric in &run.metrics {
            let key = metric.key();
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// A metric's statistics across the runs of a group.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricStatistics {
    pub metric: String,
    pub unit: Unit,
    pub runs: usize,
    pub average: f64,
    pub min: f64,
    pub max: f64,
    /// Sample standard deviation across runs (n - 1).
    pub std_dev: f64,
    /// Standard deviation / average, percent.
    pub coefficient_of_variation_percent: f64,
}

/// Average, min, max and sample standard deviation of each metric across `runs`.
pub fn statistics(runs: &[&Run]) -> Vec<MetricStatistics> {
    metric_keys(runs)
        .into_iter()
        .filter_map(|key| {
            let found: Vec<&Metric> = runs.iter().filter_map(|r| r.metric(&key)).collect();
            let values: Vec<f64> = found.iter().map(|m| m.value).collect();
            let summary = stats::summarize(&values)?;
            Some(MetricStatistics {
                metric: key,
                unit: found[0].unit,
                runs: summary.n,
                average: summary.mean,
                min: summary.min,
                max: summary.max,
                std_dev: summary.std_dev,
                coefficient_of_variation_percent: summary.cv * 100.0,
            })
        })
        .collect()
}

/// A metric that moved the same way at every step over three runs or more.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Direction {
    pub metric: String,
    pub runs: usize,
    /// `SteadilyBetter` or `SteadilyWorse`.
    pub direction: Assessment,
    /// First and last value.
    pub first: f64,
    pub last: f64,
}

/// Metrics that got better, or worse, at every step across three or more runs (in Timestamp
/// order). "Declining performance over time" is, per the reference, a sign of thermal
/// throttling.
pub fn directions(runs: &[&Run]) -> Vec<Direction> {
    metric_keys(runs)
        .into_iter()
        .filter_map(|key| {
            let series: Vec<&Metric> = runs.iter().filter_map(|r| r.metric(&key)).collect();
            if series.len() < 3 {
                return None;
            }
            let steps: Vec<f64> = series.windows(2).map(|w| w[1].value - w[0].value).collect();
            let better = series[0].better;
            let improving = |d: f64| match better {
                Better::Lower => d < 0.0,
                Better::Higher => d > 0.0,
            };
            let direction = if steps.iter().all(|d| improving(*d)) {
                Assessment::Better
            } else if steps.iter().all(|d| *d != 0.0 && !improving(*d)) {
                Assessment::Worse
            } else {
                return None;
            };
            Some(Direction {
                metric: key,
                runs: series.len(),
                direction,
                first: series[0].value,
                last: series[series.len() - 1].value,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::comparison::Kind;

    fn tps(value: f64, sd: Option<f64>, n: Option<usize>) -> Metric {
        Metric::tokens_per_second("AverageTokensPerSecond", value).with_spread(sd, n)
    }

    fn run_with(metrics: Vec<Metric>) -> Run {
        Run {
            label: "x".into(),
            metrics,
            ..Run::new(Kind::TokensPerSecond, "x.json")
        }
    }

    #[test]
    fn noise_is_the_larger_sd_or_twice_the_combined_standard_error() {
        // sd 2 and 2, n 5 and 5: 2 * sqrt(4/5 + 4/5) = 2.53 > 2
        let t = noise_threshold(
            &tps(43.0, Some(2.0), Some(5)),
            &tps(41.7, Some(2.0), Some(5)),
        )
        .unwrap();
        assert!((t - 2.0 * 1.6f64.sqrt()).abs() < 1e-9);
        // many samples: the interval shrinks, the sd remains
        let t = noise_threshold(
            &tps(43.0, Some(2.0), Some(1000)),
            &tps(41.7, Some(1.0), Some(1000)),
        )
        .unwrap();
        assert_eq!(t, 2.0);
        assert_eq!(
            noise_threshold(&tps(43.0, None, None), &tps(41.7, None, None)),
            None
        );
    }

    #[test]
    fn a_three_percent_wobble_within_sd_is_noise_and_a_twenty_percent_drop_is_not() {
        let base = tps(43.0, Some(2.0), Some(5));
        let wobble = tps(43.0 * 0.97, Some(2.1), Some(5));
        let change_3 = change("base", &base, &run_with(vec![]), &wobble);
        assert_eq!(change_3.assessment, Assessment::WithinNoise);
        assert!(!change_3.is_regression(2.0));
        let drop = tps(43.0 * 0.8, Some(2.0), Some(5));
        let change_20 = change("base", &base, &run_with(vec![]), &drop);
        assert_eq!(change_20.assessment, Assessment::Worse);
        assert!(change_20.beyond_noise());
        assert_eq!(change_20.verdict(), "worse");
        assert!(change_20.is_regression(2.0));
        assert!(!change_20.is_regression(25.0));
    }

    #[test]
    fn without_noise_small_changes_are_negligible_and_direction_matters() {
        let load = |v| Metric::new("LoadTimeColdSeconds", v, Unit::Seconds, Better::Lower);
        let faster = change("b", &load(18.0), &run_with(vec![]), &load(6.0));
        assert_eq!(faster.assessment, Assessment::Better);
        assert!((faster.change_percent.unwrap() + 66.666).abs() < 0.01);
        assert!(!faster.is_regression(2.0));
        let slower = change("b", &load(6.0), &run_with(vec![]), &load(18.0));
        assert_eq!(slower.assessment, Assessment::Worse);
        assert!(slower.is_regression(10.0));
        // A third faster is better, but with one run each it is not called beyond noise.
        assert!(!faster.beyond_noise());
        assert_eq!(faster.verdict(), "better, noise unknown (1 run)");
        let tiny = change("b", &load(18.0), &run_with(vec![]), &load(18.3));
        assert_eq!(tiny.assessment, Assessment::Negligible);
        assert_eq!(tiny.verdict(), "under 5%, noise unknown (1 run)");
        // The gate's percentage still applies when nothing tells the noise.
        assert!(tiny.is_regression(1.0));
        assert!(!tiny.is_regression(2.0));
    }

    #[test]
    fn an_extreme_of_single_samples_is_never_gated() {
        let tps = |v| Metric::tokens_per_second("OverallMinTokensPerSecond", v);
        let mut slow = tps(245.53);
        slow.extreme = true;
        let min = change("b", &tps(428.64), &run_with(vec![]), &slow);
        assert_eq!(min.assessment, Assessment::Worse, "still shown as worse");
        assert!(min.verdict().contains("not gated"), "{}", min.verdict());
        assert!(
            !min.is_regression(10.0),
            "but one slow sample trips no gate"
        );
    }

    #[test]
    fn several_baseline_runs_give_a_mean_and_a_spread() {
        let load = |v| Metric::new("LoadTimeColdSeconds", v, Unit::Seconds, Better::Lower);
        let a = run_with(vec![load(17.0)]);
        let b = run_with(vec![load(19.0)]);
        let baseline = Baseline::of(&[&a, &b]);
        let metric = baseline.metric("LoadTimeColdSeconds").unwrap();
        assert_eq!(metric.value, 18.0);
        assert!((metric.std_dev.unwrap() - 2.0f64.sqrt()).abs() < 1e-9);
        let later = change(&baseline.label, metric, &a, &load(19.2));
        assert_eq!(later.assessment, Assessment::WithinNoise);
    }

    #[test]
    fn statistics_and_steady_directions() {
        let runs: Vec<Run> = [45.0, 43.0, 40.0]
            .iter()
            .map(|v| run_with(vec![tps(*v, None, None)]))
            .collect();
        let refs: Vec<&Run> = runs.iter().collect();
        let stats = statistics(&refs);
        assert_eq!(stats[0].runs, 3);
        assert!((stats[0].average - 42.666_666).abs() < 1e-3);
        assert_eq!(stats[0].min, 40.0);
        assert_eq!(stats[0].max, 45.0);
        // deviations 2.33, 0.33, -2.67: sum of squares 12.667 / 2
        assert!((stats[0].std_dev - (12.666_666_f64 / 2.0).sqrt()).abs() < 1e-3);
        let directions = directions(&refs);
        assert_eq!(directions[0].direction, Assessment::Worse);
    }
}

//! What a report derives from the shared results model for display: a tokens-per-second
//! cell with its model, the words for a simulated target and for GPU residency, a CDF through
//! recorded percentiles, and a user's phases on the multi-user timeline. The data itself is
//! the `results` types as [`crate::results::read`] gives them; an empty text or a zero count
//! there means "not recorded" and is shown as such.

use crate::results::multi_user::{UserMeasurements, UserResult};
use crate::results::tokens_per_second::{PromptResult, TpsResult};
use crate::results::{ModelProvenance, Provenance};
use crate::stats::{Stability, Summary};

/// Text a file recorded; `None` for an empty one.
pub fn recorded(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// One model x prompt length cell of a tokens-per-second file.
#[derive(Debug, Clone, Copy)]
pub struct Cell<'a> {
    pub model: &'a str,
    pub result: &'a PromptResult,
}

impl Cell<'_> {
    /// The prompt length, or `prompt` when the file does not name it.
    pub fn prompt_length(&self) -> &str {
        match self.result.prompt_length.trim() {
            "" => "prompt",
            text => text,
        }
    }

    /// `model / prompt` for legends and tables.
    pub fn name(&self) -> String {
        format!("{} / {}", self.model, self.prompt_length())
    }

    /// The cell's whole recorded distribution of `latency` as a cumulative one, in
    /// (milliseconds, percent at or below): the per-request samples when the file kept them
    /// (`--keep-samples`, TTFT only), else every bucket of the cell's histogram. Empty when the
    /// file holds neither (older files, the PowerShell suite's).
    pub fn latency_cdf(&self, latency: Latency) -> Vec<(f64, f64)> {
        if latency == Latency::TimeToFirstToken {
            let kept: Vec<f64> = self
                .result
                .samples
                .iter()
                .filter(|s| s.succeeded)
                .filter_map(|s| s.time_to_first_token_seconds)
                .collect();
            if !kept.is_empty() {
                return empirical_cdf(&kept);
            }
        }
        let Some(histograms) = &self.result.histograms else {
            return Vec::new();
        };
        let histogram = match latency {
            Latency::TimeToFirstToken => &histograms.time_to_first_token,
            Latency::InterTokenLatency => &histograms.inter_token_latency,
        };
        let buckets = histogram.cumulative();
        let mut points: Vec<(f64, f64)> = Vec::with_capacity(buckets.len() + 1);
        // The curve starts at the exact smallest value, at 0%.
        if let Some(min) = histogram.min() {
            points.push((min.as_secs_f64() * 1000.0, 0.0));
        }
        points.extend(
            buckets
                .iter()
                .map(|(value, share)| (value.as_secs_f64() * 1000.0, share * 100.0)),
        );
        thin(points, MAX_CDF_POINTS)
    }
}

/// A latency a report draws as a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    TimeToFirstToken,
    InterTokenLatency,
}

/// At most this many points per drawn distribution: more are not visible at chart size.
const MAX_CDF_POINTS: usize = 400;

/// Keeps at most about `max` points of a cumulative distribution, always the first and the
/// last: a point is kept once the curve has moved a `1/max` share of its range since the last
/// kept one, in value or in percent, so that no visible step is lost.
fn thin(points: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max {
        return points;
    }
    let (Some(&first), Some(&last)) = (points.first(), points.last()) else {
        return points;
    };
    let x_step = (last.0 - first.0).abs() / max as f64;
    let y_step = 100.0 / max as f64;
    let mut kept = vec![first];
    for &point in &points[1..points.len() - 1] {
        let previous = kept[kept.len() - 1];
        if (point.0 - previous.0).abs() >= x_step || (point.1 - previous.1).abs() >= y_step {
            kept.push(point);
        }
    }
    kept.push(last);
    kept
}

/// An empirical CDF (step) of samples in seconds, in milliseconds and percent.
pub fn empirical_cdf(samples: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let mut points = Vec::with_capacity(sorted.len() + 1);
    if let Some(first) = sorted.first() {
        points.push((first * 1000.0, 0.0));
    }
    for (i, value) in sorted.iter().enumerate() {
        points.push((value * 1000.0, (i + 1) as f64 / n * 100.0));
    }
    points
}

/// Every cell of a tokens-per-second file, model by model.
pub fn cells(result: &TpsResult) -> Vec<Cell<'_>> {
    result
        .model_results
        .iter()
        .flat_map(|model| {
            let name = match model.model.trim() {
                "" => "model",
                text => text,
            };
            model.prompt_results.iter().map(move |prompt| Cell {
                model: name,
                result: prompt,
            })
        })
        .collect()
}

/// The word a file writes for a stability verdict.
pub fn stability_word(stability: Stability) -> &'static str {
    match stability {
        Stability::Stable => "Stable",
        Stability::Variable => "Variable",
        Stability::Investigate => "Investigate",
        Stability::Problem => "Problem",
    }
}

/// The banner text for a simulated run.
pub fn simulated_note(provenance: &Provenance) -> Option<String> {
    provenance.simulated.then(|| {
        format!(
            "SIMULATED: measured against ollabench's built-in simulator (profile {}, time scale {}), not real hardware",
            provenance.simulator_profile.as_deref().unwrap_or("unknown"),
            provenance
                .simulator_time_scale
                .map(|s| s.to_string())
                .unwrap_or_else(|| "1".into())
        )
    })
}

/// GPU residency in words: `100% in GPU`, `62% in GPU (partly on CPU)`, `not recorded`.
pub fn residency(model: &ModelProvenance) -> String {
    match (
        model.size_vram_bytes,
        model.loaded_size_bytes,
        model.fully_in_gpu,
    ) {
        (Some(vram), Some(size), _) if size > 0 => {
            let share = (vram as f64 / size as f64 * 100.0).min(100.0);
            if vram >= size {
                "100% in GPU".to_string()
            } else if vram == 0 {
                "on CPU only (0% in GPU)".to_string()
            } else {
                format!("{share:.0}% in GPU (partly on CPU)")
            }
        }
        (_, _, Some(true)) => "fully in GPU".to_string(),
        (_, _, Some(false)) => "not fully in GPU".to_string(),
        _ => "not recorded".to_string(),
    }
}

/// The recorded quantiles as (value, cumulative share in percent), ascending: a CDF drawn
/// through the known points only.
pub fn quantile_points(summary: &Summary) -> Vec<(f64, f64)> {
    let known = [
        (summary.min, 0.0),
        (summary.median, 50.0),
        (summary.p90, 90.0),
        (summary.p95, 95.0),
        (summary.p99, 99.0),
        (summary.max, 100.0),
    ];
    let mut points: Vec<(f64, f64)> = known
        .into_iter()
        .filter(|(value, _)| value.is_finite())
        .collect();
    // Quantiles never decrease; keep the curve monotone even if a file rounds oddly.
    let mut highest = f64::NEG_INFINITY;
    for point in points.iter_mut() {
        highest = highest.max(point.0);
        point.0 = highest;
    }
    points
}

/// A user's id for tables: as recorded, else its place in the file (ids start at 1).
pub fn user_id(user: &UserResult, index: usize) -> String {
    if user.user_id > 0 {
        user.user_id.to_string()
    } else {
        (index + 1).to_string()
    }
}

/// A user's phases as (phase index, start, end) in seconds from the common start:
/// 0 download, 1 load, 2 generate. Recorded offsets are used when present; otherwise the
/// phases are laid end to end from 0 (the reference's files record durations only). The
/// flag says whether offsets were recorded.
pub fn phases(m: &UserMeasurements) -> (Vec<(usize, f64, f64)>, bool) {
    let durations = [
        m.download_time_seconds,
        m.load_time_seconds,
        m.generate_time_seconds,
    ];
    let starts = [
        m.download_start_seconds,
        m.load_start_seconds,
        m.generate_start_seconds,
    ];
    let measured = starts
        .iter()
        .zip(&durations)
        .any(|(s, d)| s.is_some() && d.is_some());
    let mut phases = Vec::new();
    let mut cursor = 0.0;
    for (index, (start, duration)) in starts.iter().zip(&durations).enumerate() {
        let Some(duration) = duration.filter(|d| *d >= 0.0) else {
            continue;
        };
        let begin = if measured {
            match start {
                Some(s) => *s,
                None => continue,
            }
        } else {
            cursor
        };
        phases.push((index, begin, begin + duration));
        cursor = begin + duration;
    }
    (phases, measured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_points_are_monotone_and_ordered() {
        let summary = Summary {
            n: 5,
            mean: 0.02,
            min: 0.01,
            max: 0.06,
            std_dev: 0.01,
            median: 0.02,
            p90: 0.019,
            p95: f64::NAN,
            p99: 0.05,
            cv: 0.5,
        };
        let points = quantile_points(&summary);
        assert_eq!(points.len(), 5);
        assert!(points
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1));
    }

    #[test]
    fn phases_use_offsets_when_recorded_and_durations_otherwise() {
        let recorded = UserMeasurements {
            download_time_seconds: Some(10.0),
            load_time_seconds: Some(3.0),
            generate_time_seconds: Some(2.0),
            download_start_seconds: Some(0.5),
            load_start_seconds: Some(12.0),
            generate_start_seconds: Some(15.0),
            ..UserMeasurements::default()
        };
        assert_eq!(
            phases(&recorded),
            (vec![(0, 0.5, 10.5), (1, 12.0, 15.0), (2, 15.0, 17.0)], true)
        );
        let reference = UserMeasurements {
            download_time_seconds: Some(10.0),
            load_time_seconds: Some(3.0),
            ..UserMeasurements::default()
        };
        assert_eq!(
            phases(&reference),
            (vec![(0, 0.0, 10.0), (1, 10.0, 13.0)], false)
        );
        assert!(phases(&UserMeasurements::default()).0.is_empty());
    }

    #[test]
    fn residency_is_said_in_words() {
        let mut model = ModelProvenance {
            loaded_size_bytes: Some(100),
            size_vram_bytes: Some(100),
            ..ModelProvenance::default()
        };
        assert_eq!(residency(&model), "100% in GPU");
        model.size_vram_bytes = Some(62);
        assert_eq!(residency(&model), "62% in GPU (partly on CPU)");
        model.size_vram_bytes = Some(0);
        assert!(residency(&model).contains("CPU only"));
        assert_eq!(residency(&ModelProvenance::default()), "not recorded");
    }

    #[test]
    fn latency_distributions_come_from_the_whole_histogram() {
        use std::time::Duration;
        let mut latencies = crate::metrics::RequestLatencies::new();
        // 2,000 gaps from 20 to 60 ms: far more buckets than a chart draws.
        let gaps: Vec<Duration> = (0..2000u64)
            .map(|i| Duration::from_micros(20_000 + i * 20))
            .collect();
        latencies.record_request(
            Some(Duration::from_millis(250)),
            None,
            gaps,
            Duration::from_secs(2),
        );
        let result = PromptResult {
            histograms: Some(latencies),
            ..PromptResult::default()
        };
        let cell = Cell {
            model: "m",
            result: &result,
        };
        let itl = cell.latency_cdf(Latency::InterTokenLatency);
        assert!(
            itl.len() > 100 && itl.len() <= MAX_CDF_POINTS + 1,
            "{}",
            itl.len()
        );
        assert_eq!(itl.first(), Some(&(20.0, 0.0)));
        let (last_ms, last_share) = itl[itl.len() - 1];
        assert!(
            (last_ms - 59.98).abs() < 0.05 && last_share == 100.0,
            "{last_ms}"
        );
        assert!(itl.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        // The median of the drawn curve is the distribution's: about 40 ms.
        let half = itl.iter().find(|(_, share)| *share >= 50.0).unwrap();
        assert!((half.0 - 40.0).abs() < 0.5, "{half:?}");
        assert_eq!(
            cell.latency_cdf(Latency::TimeToFirstToken),
            vec![(250.0, 0.0), (250.0, 100.0)]
        );
        let bare = PromptResult::default();
        let cell = Cell {
            model: "m",
            result: &bare,
        };
        assert!(cell.latency_cdf(Latency::InterTokenLatency).is_empty());
    }

    #[test]
    fn unnamed_cells_and_users_get_a_name() {
        let result: TpsResult = serde_json::from_value(serde_json::json!({
            "ModelResults": [{"PromptResults": [{"PromptLength": " "}]}]
        }))
        .unwrap();
        assert_eq!(cells(&result)[0].name(), "model / prompt");
        assert_eq!(user_id(&UserResult::default(), 2), "3");
    }
}

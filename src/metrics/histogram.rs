//! [`LatencyHistogram`]: one latency metric's distribution, recorded in microseconds, mergeable
//! and serialisable without loss.
//!
//! # What is exact and what is approximate
//! - **count**, **min**, **max** and **mean** (from the exact sum) are exact over the recorded
//!   microsecond values.
//! - **percentiles** come from the HdrHistogram with [`SIGNIFICANT_DIGITS`] = 3: a value is
//!   kept in a bucket no wider than 1/1024 of it (values under 2,048 µs exactly). Percentile
//!   `p` is the *nearest rank* (the `ceil(p/100 * n)`-th smallest value, the classic
//!   HdrHistogram definition), reported as the highest value of its bucket and clamped to the
//!   exact min and max; so it is never below the true nearest-rank value and at most one
//!   bucket width (< 0.1%) above it. This differs from [`crate::stats`], which interpolates
//!   (type 7) between exact samples; a histogram keeps no samples to interpolate between.
//! - **std_dev** is the sample standard deviation (n - 1) of the bucket midpoints around the
//!   exact mean: within histogram precision of the exact value.
//!
//! Nothing is rounded before these are computed; rounding is for display only.
//!
//! # Range
//! 0 to [`MAX_MICROS`] (one hour, the default total request timeout). A larger value is
//! recorded as [`MAX_MICROS`] and counted in [`LatencyHistogram::saturated`], never a panic.
//!
//! # Serialised form
//! A JSON object (PascalCase, like the result files), for example:
//! ```json
//! {"SignificantDigits":3,"MaxTrackableMicros":3600000000,"Count":3,"SumMicros":5003,
//!  "MinMicros":1000,"MaxMicros":3001,"Buckets":[[1000,1],[1002,1],[3001,1]]}
//! ```
//! `Buckets` lists every non-empty bucket as `[value_micros, count]`, where the value is the
//! highest value the bucket holds; recording it again lands in the same bucket, so reading
//! the object back gives an equal histogram. `MinMicros`/`MaxMicros` are absent when the
//! histogram is empty and `Saturated` when nothing was clamped. About 11 bytes per non-empty
//! bucket: 1,000 latencies of 20 ms to 2 s take about 8 kB, and however many are recorded
//! there are at most 1,024 buckets per doubling of their range (a million such values: about
//! 7,400 buckets, 81 kB). A plain bucket list rather than HdrHistogram's V2
//! binary encoding keeps the files readable (`jq` can sum the counts) and spares the build
//! the deflate and parser crates that encoding needs.

use std::ops::AddAssign;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Significant decimal digits every latency histogram keeps.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// The largest value recorded as itself: one hour in microseconds, the default total request
/// timeout. Larger values are recorded as this and counted as saturated.
pub const MAX_MICROS: u64 = 3_600_000_000;

/// The distribution of one latency metric; see the module docs for what is exact.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    histogram: Histogram<u64>,
    /// Exact sum of every recorded (clamped) value, for an exact mean.
    sum_micros: u64,
    /// Exact smallest recorded value; `u64::MAX` while empty.
    min_micros: u64,
    /// Exact largest recorded value; 0 while empty.
    max_micros: u64,
    /// Values above [`MAX_MICROS`], recorded as [`MAX_MICROS`].
    saturated: u64,
}

/// A histogram's summary, in seconds (the unit of the result files); see the module docs
/// for each definition.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LatencySummary {
    pub count: u64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// Sample standard deviation (n - 1); 0 with one value.
    pub std_dev: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    /// Percentile 99.9.
    pub p999: f64,
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        LatencyHistogram {
            // Constant, valid bounds (1 <= low, high >= 2 * low, digits <= 5): this cannot
            // fail, and `new_is_empty` exercises it.
            histogram: Histogram::new_with_bounds(1, MAX_MICROS, SIGNIFICANT_DIGITS)
                .expect("constant histogram bounds are valid"),
            sum_micros: 0,
            min_micros: u64::MAX,
            max_micros: 0,
            saturated: 0,
        }
    }

    /// Records a duration, rounded to the nearest microsecond.
    pub fn record(&mut self, value: Duration) {
        let micros = value.as_nanos().saturating_add(500) / 1000;
        self.record_micros(u64::try_from(micros).unwrap_or(u64::MAX));
    }

    /// Records a value in microseconds; above [`MAX_MICROS`] it saturates.
    pub fn record_micros(&mut self, micros: u64) {
        self.record_n_micros(micros, 1);
    }

    fn record_n_micros(&mut self, micros: u64, count: u64) {
        if count == 0 {
            return;
        }
        let value = if micros > MAX_MICROS {
            self.saturated = self.saturated.saturating_add(count);
            MAX_MICROS
        } else {
            micros
        };
        self.histogram.saturating_record_n(value, count);
        self.sum_micros = self.sum_micros.saturating_add(value.saturating_mul(count));
        self.min_micros = self.min_micros.min(value);
        self.max_micros = self.max_micros.max(value);
    }

    /// Adds every value of `other` to this histogram.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        if self.histogram.add(&other.histogram).is_err() {
            // Only a histogram of another shape can refuse to add, and every one here has the
            // same; should that ever change, fold its buckets in one by one.
            for bucket in other.histogram.iter_recorded() {
                self.histogram
                    .saturating_record_n(bucket.value_iterated_to(), bucket.count_at_value());
            }
        }
        self.sum_micros = self.sum_micros.saturating_add(other.sum_micros);
        self.min_micros = self.min_micros.min(other.min_micros);
        self.max_micros = self.max_micros.max(other.max_micros);
        self.saturated = self.saturated.saturating_add(other.saturated);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Nothing recorded yet.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Values above [`MAX_MICROS`] that were recorded as [`MAX_MICROS`].
    pub fn saturated(&self) -> u64 {
        self.saturated
    }

    /// The exact smallest value.
    pub fn min(&self) -> Option<Duration> {
        (!self.is_empty()).then(|| Duration::from_micros(self.min_micros))
    }

    /// The exact largest value.
    pub fn max(&self) -> Option<Duration> {
        (!self.is_empty()).then(|| Duration::from_micros(self.max_micros))
    }

    /// The exact mean.
    pub fn mean(&self) -> Option<Duration> {
        self.mean_micros().map(from_micros_f64)
    }

    /// The sample standard deviation (n - 1), within histogram precision.
    pub fn std_dev(&self) -> Option<Duration> {
        self.std_dev_micros().map(from_micros_f64)
    }

    /// The nearest-rank percentile `p` (0..=100), within histogram precision; `None` when
    /// empty or `p` is out of range.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        self.percentile_micros(p).map(Duration::from_micros)
    }

    /// Count, mean, min, max, standard deviation and p50/p90/p95/p99/p99.9, in seconds;
    /// `None` when empty.
    pub fn summary(&self) -> Option<LatencySummary> {
        let seconds = |micros: u64| micros as f64 / 1e6;
        let percentile = |p: f64| self.percentile_micros(p).map_or(0.0, seconds);
        Some(LatencySummary {
            count: self.count(),
            mean: self.mean_micros()? / 1e6,
            min: seconds(self.min_micros),
            max: seconds(self.max_micros),
            std_dev: self.std_dev_micros()? / 1e6,
            p50: percentile(50.0),
            p90: percentile(90.0),
            p95: percentile(95.0),
            p99: percentile(99.0),
            p999: percentile(99.9),
        })
    }

    /// The whole distribution as a cumulative one: each non-empty bucket's highest value
    /// (clamped to the exact min and max) with the share of values at or below it, 0 to 1,
    /// in increasing order. Empty when nothing was recorded.
    pub fn cumulative(&self) -> Vec<(Duration, f64)> {
        let total = self.count();
        if total == 0 {
            return Vec::new();
        }
        let mut seen = 0u64;
        self.histogram
            .iter_recorded()
            .map(|bucket| {
                seen += bucket.count_at_value();
                let value = bucket
                    .value_iterated_to()
                    .max(self.min_micros)
                    .min(self.max_micros);
                (Duration::from_micros(value), seen as f64 / total as f64)
            })
            .collect()
    }

    fn mean_micros(&self) -> Option<f64> {
        let count = self.count();
        (count > 0).then(|| self.sum_micros as f64 / count as f64)
    }

    fn std_dev_micros(&self) -> Option<f64> {
        let mean = self.mean_micros()?;
        let count = self.count();
        if count < 2 {
            return Some(0.0);
        }
        let squares: f64 = self
            .histogram
            .iter_recorded()
            .map(|bucket| {
                let middle = self.histogram.median_equivalent(bucket.value_iterated_to());
                let deviation = middle as f64 - mean;
                deviation * deviation * bucket.count_at_value() as f64
            })
            .sum();
        Some((squares / (count - 1) as f64).sqrt())
    }

    fn percentile_micros(&self, p: f64) -> Option<u64> {
        if self.is_empty() || !(0.0..=100.0).contains(&p) {
            return None;
        }
        let value = self.histogram.value_at_quantile(p / 100.0);
        Some(value.max(self.min_micros).min(self.max_micros))
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram::new()
    }
}

impl PartialEq for LatencyHistogram {
    fn eq(&self, other: &Self) -> bool {
        self.histogram == other.histogram
            && self.sum_micros == other.sum_micros
            && self.min_micros == other.min_micros
            && self.max_micros == other.max_micros
            && self.saturated == other.saturated
    }
}

impl AddAssign<&LatencyHistogram> for LatencyHistogram {
    fn add_assign(&mut self, other: &LatencyHistogram) {
        self.merge(other);
    }
}

impl AddAssign for LatencyHistogram {
    fn add_assign(&mut self, other: LatencyHistogram) {
        self.merge(&other);
    }
}

fn from_micros_f64(micros: f64) -> Duration {
    // `as` saturates (and maps NaN to 0), so no value can panic here.
    Duration::from_nanos((micros * 1000.0).round() as u64)
}

/// The serialised form; see the module docs.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Encoded {
    significant_digits: u8,
    max_trackable_micros: u64,
    count: u64,
    sum_micros: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_micros: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_micros: Option<u64>,
    #[serde(default, skip_serializing_if = "is_zero")]
    saturated: u64,
    buckets: Vec<(u64, u64)>,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl From<&LatencyHistogram> for Encoded {
    fn from(latency: &LatencyHistogram) -> Self {
        Encoded {
            significant_digits: SIGNIFICANT_DIGITS,
            max_trackable_micros: MAX_MICROS,
            count: latency.count(),
            sum_micros: latency.sum_micros,
            min_micros: latency.min().map(|_| latency.min_micros),
            max_micros: latency.max().map(|_| latency.max_micros),
            saturated: latency.saturated,
            buckets: latency
                .histogram
                .iter_recorded()
                .map(|bucket| (bucket.value_iterated_to(), bucket.count_at_value()))
                .collect(),
        }
    }
}

impl TryFrom<Encoded> for LatencyHistogram {
    type Error = String;

    fn try_from(encoded: Encoded) -> Result<Self, String> {
        if encoded.significant_digits != SIGNIFICANT_DIGITS {
            return Err(format!(
                "a latency histogram with {} significant digits cannot be read losslessly \
                 (this version keeps {SIGNIFICANT_DIGITS})",
                encoded.significant_digits
            ));
        }
        let mut latency = LatencyHistogram::new();
        for (value, count) in encoded.buckets {
            latency
                .histogram
                .saturating_record_n(value.min(MAX_MICROS), count);
        }
        if latency.count() != encoded.count {
            return Err(format!(
                "a latency histogram says Count {} but its buckets hold {}",
                encoded.count,
                latency.count()
            ));
        }
        // The exact values are kept as written, within the range; bucket values stand in for
        // them only where a file left them out.
        latency.sum_micros = encoded.sum_micros;
        latency.saturated = encoded.saturated;
        if !latency.is_empty() {
            latency.min_micros = encoded
                .min_micros
                .unwrap_or_else(|| latency.histogram.min())
                .min(MAX_MICROS);
            latency.max_micros = encoded
                .max_micros
                .unwrap_or_else(|| latency.histogram.max())
                .min(MAX_MICROS);
        }
        Ok(latency)
    }
}

impl Serialize for LatencyHistogram {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Encoded::from(self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for LatencyHistogram {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let encoded = Encoded::deserialize(deserializer)?;
        LatencyHistogram::try_from(encoded).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Latency-like values in µs: mostly 20-80 ms with a tail to 2 s, plus a few exact ones.
    fn values(seed: u64, n: usize) -> Vec<u64> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|i| match i % 50 {
                0 => rng.gen_range(200_000..2_000_000),
                1 => rng.gen_range(0..2_048),
                _ => rng.gen_range(20_000..80_000),
            })
            .collect()
    }

    fn histogram_of(values: &[u64]) -> LatencyHistogram {
        let mut h = LatencyHistogram::new();
        for &v in values {
            h.record_micros(v);
        }
        h
    }

    /// The nearest-rank percentile of raw values.
    fn nearest_rank(sorted: &[u64], p: f64) -> u64 {
        let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
        sorted[rank.min(sorted.len()) - 1]
    }

    /// Checks every statistic of `h` against the raw values, within histogram precision.
    fn assert_matches_raw(h: &LatencyHistogram, raw: &[u64]) {
        let mut sorted = raw.to_vec();
        sorted.sort_unstable();
        let n = sorted.len() as f64;
        assert_eq!(h.count(), raw.len() as u64);
        assert_eq!(h.min(), Some(Duration::from_micros(sorted[0])));
        assert_eq!(
            h.max(),
            Some(Duration::from_micros(sorted[sorted.len() - 1]))
        );
        let mean = raw.iter().map(|&v| v as f64).sum::<f64>() / n;
        let h_mean = h.mean_micros().unwrap();
        assert!((h_mean - mean).abs() < 1e-6 * mean, "{h_mean} vs {mean}");
        let var = raw.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let sd = h.std_dev_micros().unwrap();
        assert!(
            (sd - var.sqrt()).abs() <= 1e-3 * var.sqrt() + 1.0,
            "{sd} vs {}",
            var.sqrt()
        );
        for p in [0.0, 1.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0] {
            let exact = nearest_rank(&sorted, p);
            let got = h.percentile_micros(p).unwrap();
            // Never below the true value, at most one bucket (< 1/1024 of it) above.
            assert!(
                got >= exact && got - exact <= exact / 1024,
                "p{p}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn new_is_empty() {
        let h = LatencyHistogram::new();
        assert!(h.is_empty());
        assert_eq!(h.count(), 0);
        assert_eq!(h.mean(), None);
        assert_eq!(h.min(), None);
        assert_eq!(h.std_dev(), None);
        assert_eq!(h.percentile(50.0), None);
        assert_eq!(h.summary(), None);
        assert_eq!(h, LatencyHistogram::default());
    }

    #[test]
    fn statistics_of_hand_computed_values() {
        // Values under 2,048 µs are kept exactly.
        let h = histogram_of(&[100, 200, 300, 400, 1000]);
        let s = h.summary().unwrap();
        assert_eq!(s.count, 5);
        assert!((s.mean - 0.0004).abs() < 1e-12);
        assert_eq!(s.min, 0.0001);
        assert_eq!(s.max, 0.001);
        // Mean 400; squared deviations 90,000 + 40,000 + 10,000 + 0 + 360,000, over n - 1 = 4.
        let sd = ((90_000.0 + 40_000.0 + 10_000.0 + 0.0 + 360_000.0) / 4.0f64).sqrt() / 1e6;
        assert!((s.std_dev - sd).abs() < 1e-12, "{} vs {sd}", s.std_dev);
        // Nearest rank: ceil(0.5 * 5) = 3rd, ceil(0.9 * 5) = 5th.
        assert_eq!(s.p50, 0.0003);
        assert_eq!(s.p90, 0.001);
        assert_eq!(s.p999, 0.001);
        assert_eq!(h.percentile(0.0), Some(Duration::from_micros(100)));
    }

    #[test]
    fn one_value_has_no_spread() {
        let h = histogram_of(&[42_000]);
        let s = h.summary().unwrap();
        assert_eq!(s.std_dev, 0.0);
        assert_eq!(s.p50, 0.042);
        assert_eq!(s.p999, 0.042);
        assert_eq!(h.mean(), Some(Duration::from_millis(42)));
    }

    #[test]
    fn statistics_within_histogram_precision() {
        let raw = values(1, 10_000);
        assert_matches_raw(&histogram_of(&raw), &raw);
    }

    #[test]
    fn durations_round_to_the_nearest_microsecond() {
        let mut h = LatencyHistogram::new();
        h.record(Duration::from_nanos(1_499));
        h.record(Duration::from_nanos(1_500));
        assert_eq!(h.min(), Some(Duration::from_micros(1)));
        assert_eq!(h.max(), Some(Duration::from_micros(2)));
        h.record(Duration::ZERO);
        assert_eq!(h.min(), Some(Duration::ZERO));
    }

    #[test]
    fn out_of_range_values_saturate() {
        let mut h = LatencyHistogram::new();
        h.record(Duration::MAX);
        h.record_micros(u64::MAX);
        h.record_micros(MAX_MICROS);
        h.record(Duration::from_secs(1));
        assert_eq!(h.count(), 4);
        assert_eq!(h.saturated(), 2);
        assert_eq!(h.max(), Some(Duration::from_micros(MAX_MICROS)));
        assert_eq!(h.percentile(100.0), Some(Duration::from_micros(MAX_MICROS)));
        let s = h.summary().unwrap();
        assert!(s.mean.is_finite() && s.std_dev.is_finite());
    }

    #[test]
    fn percentiles_out_of_range_are_none() {
        let h = histogram_of(&[1, 2, 3]);
        assert_eq!(h.percentile(-0.1), None);
        assert_eq!(h.percentile(100.1), None);
        assert_eq!(h.percentile(f64::NAN), None);
    }

    #[test]
    fn merge_of_disjoint_data_equals_the_histogram_of_all() {
        let a: Vec<u64> = values(2, 3_000).iter().map(|v| v % 40_000).collect();
        let b: Vec<u64> = values(3, 5_000).iter().map(|v| 100_000 + v).collect();
        let mut merged = histogram_of(&a);
        merged += histogram_of(&b);
        let all: Vec<u64> = a.iter().chain(&b).copied().collect();
        assert_eq!(merged, histogram_of(&all));
        assert_matches_raw(&merged, &all);
    }

    #[test]
    fn merge_of_overlapping_data_equals_the_histogram_of_all() {
        let a = values(4, 4_000);
        let b = values(5, 6_000);
        let mut merged = histogram_of(&a);
        merged.merge(&histogram_of(&b));
        let all: Vec<u64> = a.iter().chain(&b).copied().collect();
        assert_eq!(merged, histogram_of(&all));
        assert_matches_raw(&merged, &all);
    }

    #[test]
    fn merge_with_empty_changes_nothing() {
        let h = histogram_of(&values(6, 100));
        let mut merged = LatencyHistogram::new();
        merged += &h;
        assert_eq!(merged, h);
        merged += &LatencyHistogram::new();
        assert_eq!(merged, h);
    }

    #[test]
    fn serde_round_trip_is_lossless() {
        for raw in [vec![], vec![7], values(7, 1_000), vec![u64::MAX, 5, 0]] {
            let h = histogram_of(&raw);
            let json = serde_json::to_string(&h).unwrap();
            let back: LatencyHistogram = serde_json::from_str(&json).unwrap();
            assert_eq!(back, h);
            assert_eq!(back.summary(), h.summary());
            assert_eq!(serde_json::to_string(&back).unwrap(), json);
        }
    }

    #[test]
    fn merge_of_deserialised_histograms_equals_the_histogram_of_all() {
        let a = values(8, 2_000);
        let b = values(9, 3_000);
        let read = |raw: &[u64]| -> LatencyHistogram {
            let json = serde_json::to_string(&histogram_of(raw)).unwrap();
            serde_json::from_str(&json).unwrap()
        };
        let mut merged = read(&a);
        merged += read(&b);
        let all: Vec<u64> = a.iter().chain(&b).copied().collect();
        assert_eq!(merged, histogram_of(&all));
    }

    #[test]
    fn serialised_form_is_small_and_readable() {
        let h = histogram_of(&[1000, 1002, 3001]);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(
            json,
            r#"{"SignificantDigits":3,"MaxTrackableMicros":3600000000,"Count":3,"SumMicros":5003,"MinMicros":1000,"MaxMicros":3001,"Buckets":[[1000,1],[1002,1],[3001,1]]}"#
        );
        // 1,000 latency-like values: about 11 bytes per bucket, about 8 kB.
        let json = serde_json::to_string(&histogram_of(&values(10, 1_000))).unwrap();
        assert!(json.len() < 10_000, "{} bytes", json.len());
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let cases = [
            r#"{"SignificantDigits":2,"MaxTrackableMicros":1,"Count":0,"SumMicros":0,"Buckets":[]}"#,
            r#"{"SignificantDigits":3,"MaxTrackableMicros":1,"Count":5,"SumMicros":0,"Buckets":[[1,1]]}"#,
            r#"{"SignificantDigits":3,"Count":0}"#,
            r#"{"SignificantDigits":3,"MaxTrackableMicros":1,"Count":1,"SumMicros":0,"Buckets":[[-1,1]]}"#,
            r#"[]"#,
        ];
        for case in cases {
            assert!(
                serde_json::from_str::<LatencyHistogram>(case).is_err(),
                "{case}"
            );
        }
        // Values beyond the range are clamped, not refused.
        let big = r#"{"SignificantDigits":3,"MaxTrackableMicros":1,"Count":2,"SumMicros":9,"Buckets":[[18446744073709551615,2]]}"#;
        let h: LatencyHistogram = serde_json::from_str(big).unwrap();
        assert_eq!(h.count(), 2);
        assert_eq!(h.max(), Some(Duration::from_micros(MAX_MICROS)));
    }

    #[test]
    fn the_cumulative_distribution_covers_every_value() {
        let mut h = LatencyHistogram::new();
        for micros in [1000, 1000, 3001, 20_000, 20_011] {
            h.record_micros(micros);
        }
        let cdf = h.cumulative();
        assert_eq!(cdf.first(), Some(&(Duration::from_micros(1000), 0.4)));
        assert_eq!(cdf.last().map(|p| p.1), Some(1.0));
        assert_eq!(cdf.last().map(|p| p.0), h.max());
        assert!(cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
        assert!(LatencyHistogram::new().cumulative().is_empty());
    }
}

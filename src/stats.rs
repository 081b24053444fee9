//! Pure statistics over samples: summaries, percentiles, stability verdicts and outliers.
//!
//! Nothing here does I/O or knows what a sample measures; every function takes `&[f64]`.
//!
//! # Definitions
//! Let `x_1 .. x_n` be the *finite* samples (NaN and ±infinity are ignored everywhere, so a
//! failed measurement recorded as NaN never poisons a summary), sorted ascending as
//! `x_(1) <= .. <= x_(n)` where order matters.
//! - **mean** = `(x_1 + .. + x_n) / n`.
//! - **min**, **max**: the smallest and largest sample.
//! - **sample standard deviation** (`std_dev`) = `sqrt(sum((x_i - mean)^2) / (n - 1))`, the
//!   Bessel-corrected estimate (what PowerShell's `Measure-Object -StandardDeviation`, Excel's
//!   `STDEV.S` and numpy's `std(ddof=1)` compute). With one sample it is defined here as `0`.
//! - **percentile** `p` (0..=100), the *linear interpolation between closest ranks* method:
//!   Hyndman & Fan type 7, the default of numpy (`percentile(..., method="linear")`), R
//!   (`quantile(type = 7)`) and Excel's `PERCENTILE.INC`. With `h = (n - 1) * p / 100` and
//!   `k = floor(h)` (0-based), the value is `x_(k) + (h - k) * (x_(k+1) - x_(k))`. So `p = 0`
//!   is the minimum, `p = 100` the maximum, and `p = 50` the median.
//! - **median** = percentile 50; **p90**, **p95**, **p99** = percentiles 90, 95, 99.
//! - **coefficient of variation** (`cv`) = `std_dev / mean`, a *fraction* (0.05 is 5%); `0`
//!   when the mean is `0` (it would be undefined).
//! - **stability** ([`Stability::from_cv`]), the reference's thresholds for the standard
//!   deviation as a share of the average (benchmark-suite.md, "Standard Deviation"):
//!   `cv < 5%` Stable; `5% <= cv <= 10%` Variable (acceptable); `10% < cv <= 20%` Investigate;
//!   `cv > 20%` Problem.
//! - **outliers** ([`outliers`]): a sample is an outlier when either rule flags it:
//!   1. it lies more than 3 sample standard deviations from the mean, `|x - mean| > 3 sd`;
//!   2. its *modified z-score* exceeds 3.5 (Iglewicz & Hoaglin, 1993):
//!      `M = 0.6745 * (x - median) / MAD`, where `MAD = median(|x_i - median|)` is the median
//!      absolute deviation. When `MAD == 0` (more than half the samples are equal) the
//!      modified z-score is undefined; then `M = (x - median) / (1.253314 * MeanAD)` with
//!      `MeanAD = mean(|x_i - median|)` is used instead (the usual fallback, which scales the
//!      mean absolute deviation to the same consistency as `MAD / 0.6745`). When that is `0`
//!      too, all samples are equal and none is an outlier.
//!
//!   Rule 1 alone can never fire with fewer than 11 samples (the largest possible
//!   `|x - mean| / sd` is `(n - 1) / sqrt(n)`), which is why rule 2 exists: benchmarks usually
//!   take 5 to 20 samples. Outliers are reported, never dropped: summaries include them
//!   (an [`OutlierPolicy`] of `drop-3sd` leaves them out explicitly, and lists them).
//! - **95% confidence interval** of the mean ([`confidence_interval_95`]):
//!   `mean ± t(0.975, n - 1) * sd / sqrt(n)`, Student's t ([`t_975`]).

use serde::{Deserialize, Serialize};

/// A summary of a set of samples; see the module docs for every definition.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Summary {
    /// Number of finite samples summarised.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Sample standard deviation (n - 1); 0 when n == 1.
    pub std_dev: f64,
    /// Percentile 50 (type 7).
    pub median: f64,
    /// Percentile 90 (type 7).
    pub p90: f64,
    /// Percentile 95 (type 7).
    pub p95: f64,
    /// Percentile 99 (type 7).
    pub p99: f64,
    /// Coefficient of variation, `std_dev / mean` as a fraction; 0 when the mean is 0.
    pub cv: f64,
}

/// The finite samples, in their original order.
fn finite(samples: &[f64]) -> Vec<f64> {
    samples.iter().copied().filter(|x| x.is_finite()).collect()
}

/// The finite samples, sorted ascending.
fn sorted_finite(samples: &[f64]) -> Vec<f64> {
    let mut values = finite(samples);
    values.sort_by(f64::total_cmp);
    values
}

fn mean_of_finite(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    // Summing deviations from the first value keeps precision when samples are large and close
    // together (e.g. Unix timestamps), where a plain sum would lose the low digits.
    let shift = values[0];
    let deviation_sum: f64 = values.iter().map(|x| x - shift).sum();
    Some(shift + deviation_sum / values.len() as f64)
}

fn std_dev_of_finite(values: &[f64], mean: f64) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let squares: f64 = values.iter().map(|x| (x - mean) * (x - mean)).sum();
    (squares / (values.len() - 1) as f64).sqrt()
}

/// Summarises the finite samples; `None` when there is none (empty, or all NaN/infinite).
pub fn summarize(samples: &[f64]) -> Option<Summary> {
    let sorted = sorted_finite(samples);
    let mean = mean_of_finite(&sorted)?;
    let std_dev = std_dev_of_finite(&sorted, mean);
    Some(Summary {
        n: sorted.len(),
        mean,
        min: sorted[0],
        max: sorted[sorted.len() - 1],
        std_dev,
        median: percentile(&sorted, 50.0)?,
        p90: percentile(&sorted, 90.0)?,
        p95: percentile(&sorted, 95.0)?,
        p99: percentile(&sorted, 99.0)?,
        cv: coefficient_of_variation(std_dev, mean),
    })
}

/// `std_dev / mean`, or 0 when the mean is 0 (undefined there).
pub fn coefficient_of_variation(std_dev: f64, mean: f64) -> f64 {
    if mean == 0.0 {
        0.0
    } else {
        (std_dev / mean).abs()
    }
}

/// Arithmetic mean of the finite samples; `None` when there is none.
pub fn mean(samples: &[f64]) -> Option<f64> {
    mean_of_finite(&finite(samples))
}

/// Sample standard deviation (n - 1) of the finite samples; `Some(0.0)` for one sample, `None`
/// when there is none.
pub fn sample_std_dev(samples: &[f64]) -> Option<f64> {
    let values = finite(samples);
    let mean = mean_of_finite(&values)?;
    Some(std_dev_of_finite(&values, mean))
}

/// Percentile `p` (0..=100) of samples already sorted ascending, by linear interpolation
/// between closest ranks (Hyndman & Fan type 7, numpy's default; see the module docs).
///
/// `None` when `sorted` is empty or `p` is outside 0..=100 (or NaN). The caller sorts and
/// removes non-finite values ([`summarize`] does both).
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * p / 100.0;
    let lower = h.floor() as usize;
    let upper = (lower + 1).min(sorted.len() - 1);
    let fraction = h - lower as f64;
    Some(sorted[lower] + fraction * (sorted[upper] - sorted[lower]))
}

/// How steady a series is, from its coefficient of variation (benchmark-suite.md, "Standard
/// Deviation": <5% of the average is stable, >10% investigate, >20% a problem).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stability {
    /// cv < 5%.
    Stable,
    /// 5% <= cv <= 10%: some variation, still acceptable.
    Variable,
    /// 10% < cv <= 20%: variable, investigate.
    Investigate,
    /// cv > 20%: a problem (thermal throttling, resource contention).
    Problem,
}

impl Stability {
    /// The verdict for a coefficient of variation given as a fraction (0.05 = 5%). A NaN cv
    /// (no usable spread) counts as [`Stability::Problem`]: it cannot be called stable.
    pub fn from_cv(cv: f64) -> Self {
        let cv = cv.abs();
        if cv.is_nan() || cv > 0.20 {
            Stability::Problem
        } else if cv > 0.10 {
            Stability::Investigate
        } else if cv >= 0.05 {
            Stability::Variable
        } else {
            Stability::Stable
        }
    }

    /// A short label, in the reference's words.
    pub fn label(&self) -> &'static str {
        match self {
            Stability::Stable => "Stable",
            Stability::Variable => "Variable (ok)",
            Stability::Investigate => "Variable, investigate",
            Stability::Problem => "Problem",
        }
    }

    /// What it means and what to do, from the reference ("Standard Deviation" and
    /// "Inconsistent Results").
    pub fn advice(&self) -> &'static str {
        match self {
            Stability::Stable => "Stable, good: standard deviation under 5% of the average.",
            Stability::Variable => {
                "Some variation (5-10% of the average); acceptable, no action needed."
            }
            Stability::Investigate => {
                "Variable, investigate: standard deviation over 10% of the average. \
                 Possible causes: thermal throttling (check GPU temperature: \
                 kubectl exec -n ollama ollama-0 -- nvidia-smi), resource contention (other GPU \
                 workloads: kubectl get pods -A -o wide | grep gpu), spot VM evictions \
                 (kubectl describe node <node-name>). Increase warmup and measurement runs \
                 (--warmup-runs 5 --measurement-runs 20)."
            }
            Stability::Problem => {
                "Problem (thermal throttling, resource contention): standard deviation over 20% \
                 of the average. Check GPU temperature (kubectl exec -n ollama ollama-0 -- \
                 nvidia-smi), other GPU workloads (kubectl get pods -A -o wide | grep gpu) and \
                 spot VM evictions (kubectl describe node <node-name>); then rerun with \
                 --warmup-runs 5 --measurement-runs 20."
            }
        }
    }
}

/// Indices (into `samples`) of the outliers: more than 3 standard deviations from the mean, or
/// a modified z-score (MAD based) above 3.5; see the module docs for the exact rule and the
/// MAD == 0 fallback. Non-finite samples are ignored and never reported. Ascending order.
pub fn outliers(samples: &[f64]) -> Vec<usize> {
    let values = finite(samples);
    if values.len() < 3 {
        // With one or two samples there is no majority to stand out from.
        return Vec::new();
    }
    let Some(mean) = mean_of_finite(&values) else {
        return Vec::new();
    };
    let sd = std_dev_of_finite(&values, mean);

    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let Some(median) = percentile(&sorted, 50.0) else {
        return Vec::new();
    };
    let mut deviations: Vec<f64> = values.iter().map(|x| (x - median).abs()).collect();
    deviations.sort_by(f64::total_cmp);
    let mad = percentile(&deviations, 50.0).unwrap_or(0.0);
    let mean_ad = mean_of_finite(&deviations).unwrap_or(0.0);
    // Divisor that turns |x - median| into the modified z-score.
    let robust_scale = if mad > 0.0 {
        mad / 0.6745
    } else {
        1.253314 * mean_ad
    };

    samples
        .iter()
        .enumerate()
        .filter(|(_, x)| x.is_finite())
        .filter(|(_, &x)| {
            let beyond_sd = sd > 0.0 && (x - mean).abs() > 3.0 * sd;
            let beyond_mad = robust_scale > 0.0 && (x - median).abs() / robust_scale > 3.5;
            beyond_sd || beyond_mad
        })
        .map(|(index, _)| index)
        .collect()
}

/// Two-sided 97.5% quantiles of Student's t for 1 to 30 degrees of freedom (the 95% interval),
/// to four decimals, as printed in every statistics table (e.g. NIST/SEMATECH e-Handbook,
/// 1.3.6.7.2).
const T_975: [f64; 30] = [
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
    2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687,
    2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
];

/// The 97.5% quantile of Student's t with `df` degrees of freedom: the table up to 30, above
/// it the Cornish-Fisher expansion around the normal quantile 1.959964 (within 1e-4 of the
/// exact value from 30 on, e.g. 2.0211 at 40 and 1.9799 at 120). `None` for 0.
pub fn t_975(df: usize) -> Option<f64> {
    if df == 0 {
        return None;
    }
    if let Some(t) = T_975.get(df - 1) {
        return Some(*t);
    }
    let z: f64 = 1.959_964;
    let n = df as f64;
    let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
    Some(
        z + (z3 + z) / (4.0 * n)
            + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * n * n)
            + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * n * n * n),
    )
}

/// The 95% confidence interval of a mean: `mean ± t(0.975, n - 1) * sd / sqrt(n)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfidenceInterval {
    pub n: usize,
    pub mean: f64,
    /// `t * sd / sqrt(n)`: the interval is `mean ± half_width`.
    pub half_width: f64,
    pub low: f64,
    pub high: f64,
}

/// The 95% confidence interval of the mean of the finite samples, with Student's t (right for
/// the small samples benchmarks take); `None` with fewer than two samples.
pub fn confidence_interval_95(samples: &[f64]) -> Option<ConfidenceInterval> {
    let values = finite(samples);
    let mean = mean_of_finite(&values)?;
    let n = values.len();
    let t = t_975(n - 1)?;
    let half_width = t * std_dev_of_finite(&values, mean) / (n as f64).sqrt();
    Some(ConfidenceInterval {
        n,
        mean,
        half_width,
        low: mean - half_width,
        high: mean + half_width,
    })
}

/// What to do with the samples [`outliers`] flags (the reference: "discard outliers (>3
/// standard deviations) if justified"). With the few samples benchmarks take the 3-sd rule
/// alone cannot fire, so `drop-3sd` drops what [`outliers`] flags, its modified z-score rule
/// included. Dropped samples are listed, never silently removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutlierPolicy {
    /// Every sample counts; none is looked at.
    Keep,
    /// Every sample counts; outliers are listed.
    #[default]
    Flag,
    /// Outliers are left out of the statistics and listed.
    #[serde(rename = "drop-3sd")]
    Drop3Sd,
}

impl OutlierPolicy {
    /// The name on the command line and in files.
    pub fn label(&self) -> &'static str {
        match self {
            OutlierPolicy::Keep => "keep",
            OutlierPolicy::Flag => "flag",
            OutlierPolicy::Drop3Sd => "drop-3sd",
        }
    }
}

impl std::str::FromStr for OutlierPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        [
            OutlierPolicy::Keep,
            OutlierPolicy::Flag,
            OutlierPolicy::Drop3Sd,
        ]
        .into_iter()
        .find(|policy| policy.label() == text)
        .ok_or_else(|| format!("unknown outlier policy '{text}': use keep, flag or drop-3sd"))
    }
}

/// The samples split by an [`OutlierPolicy`]: what the statistics use, and the outliers, each
/// with its index in the samples given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutlierSplit {
    /// The samples the statistics use, in their order.
    pub kept: Vec<f64>,
    /// Outliers kept in `kept` and listed (`flag`).
    pub flagged: Vec<(usize, f64)>,
    /// Outliers left out of `kept` (`drop-3sd`).
    pub dropped: Vec<(usize, f64)>,
}

/// Applies `policy` to `samples`.
pub fn apply_outlier_policy(samples: &[f64], policy: OutlierPolicy) -> OutlierSplit {
    let found: Vec<(usize, f64)> = match policy {
        OutlierPolicy::Keep => Vec::new(),
        _ => outliers(samples)
            .into_iter()
            .map(|i| (i, samples[i]))
            .collect(),
    };
    match policy {
        OutlierPolicy::Drop3Sd => OutlierSplit {
            kept: samples
                .iter()
                .enumerate()
                .filter(|(i, _)| !found.iter().any(|(o, _)| o == i))
                .map(|(_, x)| *x)
                .collect(),
            flagged: Vec::new(),
            dropped: found,
        },
        _ => OutlierSplit {
            kept: samples.to_vec(),
            flagged: found,
            dropped: Vec::new(),
        },
    }
}

#[cfg(test)]
mod interval_tests {
    use super::*;

    #[test]
    fn confidence_interval_by_hand() {
        // 40, 42, 44, 46, 48: mean 44, sd = sqrt(40 / 4) = 3.16228, sd / sqrt(5) = 1.41421,
        // t(0.975, 4) = 2.7764: half width 3.92642, interval 40.0736 .. 47.9264.
        let ci = confidence_interval_95(&[40.0, 42.0, 44.0, 46.0, 48.0]).unwrap();
        assert_eq!(ci.n, 5);
        assert!((ci.mean - 44.0).abs() < 1e-12);
        assert!((ci.half_width - 3.92642).abs() < 1e-4, "{ci:?}");
        assert!((ci.low - 40.07358).abs() < 1e-4 && (ci.high - 47.92642).abs() < 1e-4);
        // Two samples, 10 and 12: mean 11, sd sqrt(2), sem 1, t(1) = 12.7062.
        let ci = confidence_interval_95(&[10.0, f64::NAN, 12.0]).unwrap();
        assert!((ci.half_width - 12.7062).abs() < 1e-9);
        assert!(confidence_interval_95(&[5.0]).is_none());
        assert!(confidence_interval_95(&[]).is_none());
    }

    #[test]
    fn t_quantiles_match_the_tables_beyond_30() {
        for (df, exact) in [
            (30, 2.0423),
            (31, 2.0395),
            (40, 2.0211),
            (60, 2.0003),
            (120, 1.9799),
        ] {
            let t = t_975(df).unwrap();
            assert!((t - exact).abs() < 1e-4, "df {df}: {t} vs {exact}");
        }
        assert!(t_975(0).is_none());
        // Far out, t tends to the normal quantile.
        assert!((t_975(100_000).unwrap() - 1.959964).abs() < 1e-4);
    }

    #[test]
    fn outlier_policies_keep_flag_or_drop_and_list() {
        let samples = [42.0, 41.5, 42.3, 41.8, 42.1, 12.0];
        let keep = apply_outlier_policy(&samples, OutlierPolicy::Keep);
        assert_eq!(keep.kept, samples);
        assert!(keep.flagged.is_empty() && keep.dropped.is_empty());
        let flag = apply_outlier_policy(&samples, OutlierPolicy::Flag);
        assert_eq!(flag.kept, samples);
        assert_eq!(flag.flagged, [(5, 12.0)]);
        let drop = apply_outlier_policy(&samples, OutlierPolicy::Drop3Sd);
        assert_eq!(drop.kept, [42.0, 41.5, 42.3, 41.8, 42.1]);
        assert_eq!(drop.dropped, [(5, 12.0)]);
        assert!(drop.flagged.is_empty());
        // Nothing stands out: nothing is dropped.
        let steady = apply_outlier_policy(&[1.0, 2.0, 3.0], OutlierPolicy::Drop3Sd);
        assert_eq!(steady.kept, [1.0, 2.0, 3.0]);
        assert_eq!("drop-3sd".parse(), Ok(OutlierPolicy::Drop3Sd));
        assert_eq!(OutlierPolicy::default(), OutlierPolicy::Flag);
        assert!("drop"
            .parse::<OutlierPolicy>()
            .unwrap_err()
            .contains("keep, flag or drop-3sd"));
        assert_eq!(
            serde_json::to_string(&OutlierPolicy::Drop3Sd).unwrap(),
            "\"drop-3sd\""
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn summary_of_hand_computed_samples() {
        // mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32; 32/7 = 4.571428..
        let s = summarize(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(s.n, 8);
        assert!(close(s.mean, 5.0));
        assert!(close(s.min, 2.0));
        assert!(close(s.max, 9.0));
        assert!(close(s.std_dev, (32.0f64 / 7.0).sqrt()));
        // h = 7 * 0.5 = 3.5 -> 4 + 0.5 * (5 - 4)
        assert!(close(s.median, 4.5));
        // h = 6.3 -> 7 + 0.3 * 2
        assert!(close(s.p90, 7.6));
        // h = 6.65 -> 7 + 0.65 * 2
        assert!(close(s.p95, 8.3));
        // h = 6.93 -> 7 + 0.93 * 2
        assert!(close(s.p99, 8.86));
        assert!(close(s.cv, (32.0f64 / 7.0).sqrt() / 5.0));
    }

    #[test]
    fn order_of_input_does_not_matter() {
        let a = summarize(&[9.0, 2.0, 5.0, 4.0, 7.0, 4.0, 5.0, 4.0]).unwrap();
        let b = summarize(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn one_sample() {
        let s = summarize(&[42.5]).unwrap();
        assert_eq!(s.n, 1);
        assert_eq!(s.mean, 42.5);
        assert_eq!(s.min, 42.5);
        assert_eq!(s.max, 42.5);
        assert_eq!(s.std_dev, 0.0);
        assert_eq!(s.median, 42.5);
        assert_eq!(s.p99, 42.5);
        assert_eq!(s.cv, 0.0);
        assert_eq!(sample_std_dev(&[42.5]), Some(0.0));
    }

    #[test]
    fn two_samples() {
        let s = summarize(&[40.0, 44.0]).unwrap();
        assert!(close(s.mean, 42.0));
        // sqrt((4 + 4) / 1)
        assert!(close(s.std_dev, 8.0f64.sqrt()));
        assert!(close(s.median, 42.0));
        // h = 0.9 -> 40 + 0.9 * 4
        assert!(close(s.p90, 43.6));
    }

    #[test]
    fn all_equal() {
        let s = summarize(&[7.0; 6]).unwrap();
        assert_eq!(s.std_dev, 0.0);
        assert_eq!(s.cv, 0.0);
        assert_eq!(s.median, 7.0);
        assert_eq!(Stability::from_cv(s.cv), Stability::Stable);
        assert!(outliers(&[7.0; 6]).is_empty());
    }

    #[test]
    fn empty_and_non_finite_only() {
        assert_eq!(summarize(&[]), None);
        assert_eq!(mean(&[]), None);
        assert_eq!(sample_std_dev(&[]), None);
        assert_eq!(
            summarize(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
            None
        );
        assert_eq!(mean(&[f64::NAN]), None);
        assert!(outliers(&[]).is_empty());
    }

    #[test]
    fn nan_in_input_is_ignored() {
        let s = summarize(&[1.0, f64::NAN, 3.0, f64::INFINITY]).unwrap();
        assert_eq!(s.n, 2);
        assert!(close(s.mean, 2.0));
        assert!(close(s.std_dev, 2.0f64.sqrt()));
        assert_eq!(mean(&[1.0, f64::NAN, 3.0]), Some(2.0));
        assert_eq!(sample_std_dev(&[f64::NAN, 5.0]), Some(0.0));
    }

    #[test]
    fn zero_mean_has_zero_cv() {
        let s = summarize(&[-1.0, 1.0]).unwrap();
        assert_eq!(s.mean, 0.0);
        assert_eq!(s.cv, 0.0);
    }

    #[test]
    fn precision_with_large_close_values() {
        let base = 1.0e9;
        let s = summarize(&[base + 1.0, base + 2.0, base + 3.0]).unwrap();
        assert!(close(s.mean, base + 2.0));
        assert!(close(s.std_dev, 1.0));
    }

    #[test]
    fn percentile_ends_and_bounds() {
        let sorted = [10.0, 20.0, 30.0, 40.0];
        assert_eq!(percentile(&sorted, 0.0), Some(10.0));
        assert_eq!(percentile(&sorted, 100.0), Some(40.0));
        // h = 3 * 0.25 = 0.75 -> 10 + 0.75 * 10 (numpy: 17.5)
        assert_eq!(percentile(&sorted, 25.0), Some(17.5));
        assert_eq!(percentile(&sorted, 50.0), Some(25.0));
        assert_eq!(percentile(&[5.0], 0.0), Some(5.0));
        assert_eq!(percentile(&[5.0], 100.0), Some(5.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&sorted, -1.0), None);
        assert_eq!(percentile(&sorted, 100.5), None);
        assert_eq!(percentile(&sorted, f64::NAN), None);
    }

    #[test]
    fn stability_thresholds() {
        assert_eq!(Stability::from_cv(0.0), Stability::Stable);
        assert_eq!(Stability::from_cv(0.0499), Stability::Stable);
        assert_eq!(Stability::from_cv(0.05), Stability::Variable);
        assert_eq!(Stability::from_cv(0.10), Stability::Variable);
        assert_eq!(Stability::from_cv(0.1001), Stability::Investigate);
        assert_eq!(Stability::from_cv(0.20), Stability::Investigate);
        assert_eq!(Stability::from_cv(0.2001), Stability::Problem);
        assert_eq!(Stability::from_cv(f64::NAN), Stability::Problem);
        assert!(Stability::Problem.advice().contains("thermal throttling"));
        assert!(Stability::Investigate.advice().contains("nvidia-smi"));
        assert_eq!(Stability::Stable.label(), "Stable");
    }

    #[test]
    fn outlier_by_mad_in_a_small_sample() {
        // median 42.4, |dev| = 0.4 0.2 0 0.2 22.4 -> MAD 0.2; M(20) = 0.6745 * 22.4 / 0.2 = 75.5
        let samples = [42.0, 42.2, 42.4, 42.6, 20.0];
        assert_eq!(outliers(&samples), vec![4]);
    }

    #[test]
    fn outlier_when_mad_is_zero() {
        // MAD = 0; MeanAD = 40 / 5 = 8; M(50) = 40 / (1.253314 * 8) = 3.99 > 3.5
        assert_eq!(outliers(&[10.0, 10.0, 10.0, 10.0, 50.0]), vec![4]);
        // M(13) = 3 / (1.253314 * 0.6) = 3.99 too: the fallback is scale-free
        assert_eq!(outliers(&[10.0, 10.0, 10.0, 10.0, 13.0]), vec![4]);
    }

    #[test]
    fn outlier_by_three_sd_in_a_large_sample() {
        let mut samples: Vec<f64> = (0..30).map(|i| 100.0 + (i % 5) as f64).collect();
        samples.push(200.0);
        assert_eq!(outliers(&samples), vec![30]);
    }

    #[test]
    fn no_outliers_in_ordinary_spread() {
        assert!(outliers(&[41.0, 42.0, 43.0, 44.0, 45.0]).is_empty());
        assert!(outliers(&[1.0, 100.0]).is_empty());
    }

    #[test]
    fn outlier_indices_skip_non_finite_but_keep_positions() {
        let samples = [42.0, f64::NAN, 42.2, 42.4, 42.6, 20.0];
        assert_eq!(outliers(&samples), vec![5]);
    }

    #[test]
    fn summary_serializes_pascal_case() {
        let json = serde_json::to_value(summarize(&[1.0, 2.0]).unwrap()).unwrap();
        assert!(json.get("StdDev").is_some());
        assert!(json.get("P95").is_some());
        assert!(json.get("N").is_some());
    }
}

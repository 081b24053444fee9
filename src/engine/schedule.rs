//! Send times of an open-loop [`Schedule`]: an endless, reproducible sequence of offsets from
//! the start, generated lazily so a long run at a high rate needs no memory for its schedule.
//!
//! Gaps are drawn from a `StdRng` seeded with the schedule's seed, so one seed always gives
//! the same schedule with the same build of ollabench. Exponential gaps are `-ln(U) / rate`;
//! gamma gaps use Marsaglia and Tsang's method ("A simple method for generating gamma
//! variables", ACM TOMS 26(3), 2000), with `Gamma(k) = Gamma(k + 1) * U^(1/k)` for shapes
//! below 1, and are scaled to mean `1 / rate`. Written here rather than taken from
//! `rand_distr` to keep the dependency tree lean; the tests check each distribution's mean
//! and coefficient of variation.

use std::f64::consts::TAU;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::plan::{Schedule, Shape};

/// Rejection rounds before a gamma draw gives up and returns its mean. Marsaglia and Tsang
/// accept over 95% of candidates, so this bound only keeps the loop finite in principle.
const MAX_GAMMA_TRIES: usize = 1_000;

/// The send times of a [`Schedule`], as offsets from the start (the first is 0). Ends only
/// when an offset no longer fits in a [`Duration`].
#[derive(Debug, Clone)]
pub struct SendTimes {
    schedule: Schedule,
    rng: StdRng,
    /// Sends generated so far.
    sent: u64,
    /// The next random send time, in seconds from the start.
    next_seconds: f64,
}

impl SendTimes {
    pub(super) fn new(schedule: Schedule) -> Self {
        SendTimes {
            schedule,
            rng: StdRng::seed_from_u64(schedule.seed),
            sent: 0,
            next_seconds: 0.0,
        }
    }

    /// One gap between sends, in seconds.
    fn gap(&mut self) -> f64 {
        let mean = 1.0 / self.schedule.per_second;
        match self.schedule.shape {
            Shape::Constant => mean,
            Shape::Poisson => mean * standard_exponential(&mut self.rng),
            Shape::Gamma(shape) => mean / shape * standard_gamma(shape, &mut self.rng),
        }
    }
}

impl Iterator for SendTimes {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let seconds = match self.schedule.shape {
            // From the index, not a running sum, so a constant rate never drifts.
            Shape::Constant => self.sent as f64 / self.schedule.per_second,
            Shape::Poisson | Shape::Gamma(_) => {
                let at = self.next_seconds;
                self.next_seconds += self.gap();
                at
            }
        };
        self.sent = self.sent.saturating_add(1);
        Duration::try_from_secs_f64(seconds).ok()
    }
}

/// A uniform draw in (0, 1]: never 0, so its logarithm is finite.
fn open_unit(rng: &mut StdRng) -> f64 {
    1.0 - rng.gen::<f64>()
}

/// Exponential with mean 1.
fn standard_exponential(rng: &mut StdRng) -> f64 {
    -open_unit(rng).ln()
}

/// Standard normal, by Box-Muller.
fn standard_normal(rng: &mut StdRng) -> f64 {
    let radius = (-2.0 * open_unit(rng).ln()).sqrt();
    radius * (TAU * rng.gen::<f64>()).cos()
}

/// Gamma with shape `shape` (> 0) and scale 1, so mean `shape`.
fn standard_gamma(shape: f64, rng: &mut StdRng) -> f64 {
    if shape < 1.0 {
        let boost = open_unit(rng).powf(1.0 / shape);
        return marsaglia_tsang(shape + 1.0, rng) * boost;
    }
    marsaglia_tsang(shape, rng)
}

/// Marsaglia and Tsang's rejection method, for `shape >= 1`.
fn marsaglia_tsang(shape: f64, rng: &mut StdRng) -> f64 {
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    for _ in 0..MAX_GAMMA_TRIES {
        let x = standard_normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = rng.gen::<f64>();
        let x2 = x * x;
        if u < 1.0 - 0.0331 * x2 * x2 || u.ln() < 0.5 * x2 + d * (1.0 - v + v.ln()) {
            return d * v;
        }
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gaps between the first `n + 1` send times, in seconds.
    fn gaps(schedule: Schedule, n: usize) -> Vec<f64> {
        let times: Vec<f64> = schedule
            .send_times()
            .take(n + 1)
            .map(|t| t.as_secs_f64())
            .collect();
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// Mean and coefficient of variation.
    fn mean_cv(values: &[f64]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var.sqrt() / mean)
    }

    #[test]
    fn constant_rate_sends_evenly_from_zero() {
        let schedule = Schedule::constant(4.0).unwrap();
        let times: Vec<Duration> = schedule.send_times().take(4).collect();
        assert_eq!(
            times,
            [0, 250, 500, 750].map(Duration::from_millis).to_vec()
        );
        let (mean, cv) = mean_cv(&gaps(schedule, 10_000));
        assert!((mean - 0.25).abs() < 1e-9);
        assert!(cv < 1e-6, "cv {cv}");
    }

    #[test]
    fn poisson_gaps_have_the_rate_and_cv_near_one() {
        let (mean, cv) = mean_cv(&gaps(Schedule::poisson(10.0, 42).unwrap(), 50_000));
        assert!((mean - 0.1).abs() < 0.003, "mean {mean}");
        assert!((cv - 1.0).abs() < 0.03, "cv {cv}");
    }

    #[test]
    fn gamma_gaps_have_the_rate_and_cv_of_their_burstiness() {
        for (burstiness, expected_cv) in [(0.25, 2.0), (1.0, 1.0), (4.0, 0.5), (16.0, 0.25)] {
            let schedule = Schedule::gamma(5.0, burstiness, 7).unwrap();
            let (mean, cv) = mean_cv(&gaps(schedule, 40_000));
            assert!(
                (mean - 0.2).abs() < 0.2 * 0.04,
                "k {burstiness}: mean {mean}"
            );
            assert!(
                (cv - expected_cv).abs() < expected_cv * 0.05,
                "k {burstiness}: cv {cv}"
            );
        }
    }

    #[test]
    fn one_seed_gives_one_schedule() {
        let take = |s: Schedule| s.send_times().take(100).collect::<Vec<_>>();
        let poisson = Schedule::poisson(3.0, 99).unwrap();
        assert_eq!(take(poisson), take(poisson));
        assert_ne!(take(poisson), take(Schedule::poisson(3.0, 100).unwrap()));
        let gamma = Schedule::gamma(3.0, 0.5, 99).unwrap();
        assert_eq!(take(gamma), take(gamma));
        assert_eq!(take(poisson)[0], Duration::ZERO);
        assert_eq!(take(gamma)[0], Duration::ZERO);
    }

    #[test]
    fn send_times_never_go_backwards() {
        for schedule in [
            Schedule::poisson(1e6, 1).unwrap(),
            Schedule::gamma(1e-6, 0.01, 1).unwrap(),
            Schedule::constant(f64::MIN_POSITIVE).unwrap(),
        ] {
            let times: Vec<Duration> = schedule.send_times().take(1_000).collect();
            assert!(times.windows(2).all(|w| w[0] <= w[1]));
        }
    }
}

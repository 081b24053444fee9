//! The simulator's time scale: every modelled delay is in simulated seconds, multiplied by the
//! scale to get real time. Durations the server reports are measured real time, so at scale 0.05
//! everything takes 20x less and rates come out 20x higher.

use std::time::Duration;

use tokio::time::Instant;

/// A century: the cap on any modelled delay, so that "forever" never overflows an `Instant`.
const MAX_REAL_SECONDS: f64 = 100.0 * 365.0 * 86_400.0;

/// Converts simulated seconds to real durations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Clock {
    scale: f64,
}

impl Clock {
    /// `scale` must be positive and finite (checked when the config is validated).
    pub(crate) fn new(scale: f64) -> Self {
        Clock { scale }
    }

    /// The real duration of `seconds` simulated seconds.
    pub(crate) fn real(&self, seconds: f64) -> Duration {
        let real = seconds * self.scale;
        if real.is_nan() || real <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(real.min(MAX_REAL_SECONDS))
        }
    }

    /// Simulated seconds in a real duration.
    pub(crate) fn simulated_seconds(&self, real: Duration) -> f64 {
        real.as_secs_f64() / self.scale
    }

    /// `from` plus `seconds` simulated seconds, saturating far in the future.
    pub(crate) fn deadline_after(&self, from: Instant, seconds: f64) -> Instant {
        add(from, self.real(seconds))
    }
}

/// `from + by`, saturating a century ahead instead of panicking.
pub(crate) fn add(from: Instant, by: Duration) -> Instant {
    from.checked_add(by)
        .or_else(|| from.checked_add(Duration::from_secs_f64(MAX_REAL_SECONDS)))
        .unwrap_or(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_both_ways_and_never_panics() {
        let clock = Clock::new(0.05);
        assert_eq!(clock.real(2.0), Duration::from_millis(100));
        assert!((clock.simulated_seconds(Duration::from_millis(100)) - 2.0).abs() < 1e-9);
        assert_eq!(clock.real(-1.0), Duration::ZERO);
        assert_eq!(clock.real(f64::NAN), Duration::ZERO);
        let now = Instant::now();
        assert!(clock.deadline_after(now, f64::INFINITY) > now);
        assert!(add(now, Duration::MAX) > now);
    }
}

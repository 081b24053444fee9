//! What a load plan is: how operations arrive (a closed loop or a schedule of send times),
//! when the run stops (a count or a duration) and how many may be in flight at once. Plans
//! are plain data, validated where they are built, so one engine runs every load shape.

use std::time::Duration;

use super::schedule::SendTimes;

/// A load plan: arrival, stop condition and in-flight cap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// How operations are started.
    pub arrival: Arrival,
    /// When no further operation is started.
    pub stop: Stop,
    /// The most operations in flight at once (`None`: no cap beyond the arrival's own). In
    /// an open loop an operation whose send time comes while the cap is full waits for a slot
    /// and is counted ([`super::Report::waited_for_cap`]); in a closed loop the smaller of
    /// this and the concurrency applies. 0 counts as 1.
    pub max_in_flight: Option<usize>,
}

/// How operations are started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    /// Keep `concurrency` operations in flight: a new one starts as soon as one finishes
    /// (0 counts as 1). Each operation's scheduled start is the instant it started.
    Closed { concurrency: usize },
    /// Send at the schedule's instants, whether or not earlier operations have finished.
    Open(Schedule),
}

/// When the run stops starting operations. Operations already in flight then finish; the
/// cancellation token is what drops them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this many operations have been started.
    Count(usize),
    /// No operation is started at or after this long from the start.
    Duration(Duration),
}

/// A reproducible schedule of send times: a rate and the shape of the gaps between sends.
/// Build one with [`Schedule::constant`], [`Schedule::poisson`] or [`Schedule::gamma`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub(super) per_second: f64,
    pub(super) shape: Shape,
    pub(super) seed: u64,
}

/// The distribution of the gaps between sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Shape {
    /// Every gap is `1 / rate`.
    Constant,
    /// Exponential gaps: a Poisson process.
    Poisson,
    /// Gamma gaps with this shape parameter (the burstiness).
    Gamma(f64),
}

/// A plan that cannot run, with what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("the request rate must be a positive number of requests per second (got {0})")]
    Rate(f64),
    #[error(
        "the burstiness must be a positive number (got {0}); 1 is a Poisson process, \
         below 1 burstier, above 1 more even"
    )]
    Burstiness(f64),
}

impl Plan {
    /// `total` operations in a closed loop, `concurrency` at a time (at least one).
    pub fn new(total: usize, concurrency: usize) -> Self {
        Plan::closed(concurrency, Stop::Count(total))
    }

    /// Every operation at once, as when users start together.
    pub fn all_at_once(total: usize) -> Self {
        Plan::new(total, total)
    }

    /// A closed loop of `concurrency` operations in flight until `stop`.
    pub fn closed(concurrency: usize, stop: Stop) -> Self {
        Plan {
            arrival: Arrival::Closed {
                concurrency: concurrency.max(1),
            },
            stop,
            max_in_flight: None,
        }
    }

    /// An open loop sending at `schedule`'s instants until `stop`, with no in-flight cap.
    pub fn open(schedule: Schedule, stop: Stop) -> Self {
        Plan {
            arrival: Arrival::Open(schedule),
            stop,
            max_in_flight: None,
        }
    }

    /// The same plan with at most `max_in_flight` operations in flight (at least one).
    pub fn with_max_in_flight(self, max_in_flight: usize) -> Self {
        Plan {
            max_in_flight: Some(max_in_flight.max(1)),
            ..self
        }
    }

    /// The in-flight limit the engine enforces.
    pub(super) fn cap(&self) -> usize {
        let cap = self.max_in_flight.unwrap_or(usize::MAX);
        match self.arrival {
            Arrival::Closed { concurrency } => concurrency.min(cap),
            Arrival::Open(_) => cap,
        }
        .max(1)
    }
}

impl Schedule {
    /// One send every `1 / per_second` seconds.
    pub fn constant(per_second: f64) -> Result<Self, PlanError> {
        Schedule::build(per_second, Shape::Constant, 0)
    }

    /// A Poisson process of `per_second` sends a second on average (exponential gaps, whose
    /// coefficient of variation is 1), drawn from `seed`.
    pub fn poisson(per_second: f64, seed: u64) -> Result<Self, PlanError> {
        Schedule::build(per_second, Shape::Poisson, seed)
    }

    /// Gamma-distributed gaps with mean `1 / per_second` and shape `burstiness`, drawn from
    /// `seed`: the gaps' coefficient of variation is `1 / sqrt(burstiness)`, so 1 is a
    /// Poisson process, below 1 sends come in bursts and above 1 they are more even (the
    /// `--burstiness` of vLLM's benchmark).
    pub fn gamma(per_second: f64, burstiness: f64, seed: u64) -> Result<Self, PlanError> {
        if !(burstiness.is_finite() && burstiness > 0.0) {
            return Err(PlanError::Burstiness(burstiness));
        }
        Schedule::build(per_second, Shape::Gamma(burstiness), seed)
    }

    fn build(per_second: f64, shape: Shape, seed: u64) -> Result<Self, PlanError> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return Err(PlanError::Rate(per_second));
        }
        Ok(Schedule {
            per_second,
            shape,
            seed,
        })
    }

    /// Sends per second, on average.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// The send times, as offsets from the start: the first is 0, and the same schedule
    /// always gives the same sequence.
    pub fn send_times(&self) -> SendTimes {
        SendTimes::new(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_burstiness_are_validated() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(Schedule::constant(bad), Err(PlanError::Rate(_))));
            assert!(Schedule::poisson(bad, 1).is_err());
            assert!(Schedule::gamma(1.0, bad, 1).is_err());
        }
        assert!(Schedule::gamma(2.0, 0.5, 1).is_ok());
        let message = Schedule::gamma(1.0, 0.0, 1).unwrap_err().to_string();
        assert!(message.contains("burstiness"), "{message}");
    }

    #[test]
    fn caps() {
        assert_eq!(Plan::new(10, 0).cap(), 1);
        assert_eq!(Plan::new(10, 4).cap(), 4);
        assert_eq!(Plan::new(10, 4).with_max_in_flight(2).cap(), 2);
        assert_eq!(Plan::new(10, 4).with_max_in_flight(0).cap(), 1);
        let open = Plan::open(Schedule::constant(1.0).unwrap(), Stop::Count(3));
        assert_eq!(open.cap(), usize::MAX);
        assert_eq!(open.with_max_in_flight(8).cap(), 8);
        assert_eq!(Plan::all_at_once(5).cap(), 5);
    }
}

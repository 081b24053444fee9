//! Running a [`Plan`]: the one loop that starts operations when the plan says, keeps at most
//! the cap in flight, folds every output into the caller's sink as it finishes and stops at
//! once when the cancellation token fires.
//!
//! Everything runs on the calling task: operations are futures polled together (no task per
//! request, no lock, no channel on the hot path). Time is `tokio::time::Instant`, so tests
//! drive the loop on a paused clock.

use std::future::Future;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::plan::{Arrival, Plan, Stop};
use super::schedule::SendTimes;
use crate::metrics::LatencyHistogram;

/// Outputs a [`collect`] reserves room for up front; beyond this the Vec grows as it fills, so
/// a plan of `usize::MAX` operations cannot ask for the memory at once.
const PREALLOCATE_AT_MOST: usize = 4096;

/// What an operation is told about itself, and what the sink is told with its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// 0, 1, 2, ... in start order.
    pub index: usize,
    /// When the plan meant it to start: its send time in an open loop, the instant it started
    /// in a closed loop. Latencies measured from here include time spent waiting to be sent,
    /// so a client that falls behind cannot hide it (no coordinated omission).
    pub scheduled: Instant,
    /// When the engine actually started it.
    pub started: Instant,
    /// Open loop: its send time came while the in-flight cap was full, so it waited for a
    /// slot (counted in [`Report::waited_for_cap`]).
    pub waited_for_cap: bool,
}

impl Ticket {
    /// How late it started: `started - scheduled` (0 in a closed loop).
    pub fn lag(&self) -> Duration {
        self.started.saturating_duration_since(self.scheduled)
    }
}

/// How a run went, apart from the outputs.
#[derive(Debug, Clone)]
pub struct Report {
    /// From the start to the last finish, or to the interruption.
    pub wall: Duration,
    /// The token was cancelled: operations still in flight were dropped.
    pub interrupted: bool,
    /// Operations started.
    pub started: usize,
    /// Operations that finished and reached the sink.
    pub finished: usize,
    /// Open loop: operations whose send time came while the cap was full, so that they
    /// started late.
    pub waited_for_cap: usize,
    /// The most operations in flight at once.
    pub peak_in_flight: usize,
    /// Every started operation's [`Ticket::lag`]: how far the client fell behind its
    /// schedule, waiting for the cap or for a busy runtime.
    pub schedule_lag: LatencyHistogram,
}

/// The outputs of a [`collect`]ed run, with its report.
#[derive(Debug)]
pub struct Batch<T> {
    /// `(index, output)` of every operation that finished, sorted by index.
    pub outputs: Vec<(usize, T)>,
    pub report: Report,
}

/// Runs `plan`, building each operation with `operation(ticket)` and handing each output to
/// `sink(ticket, output)` as it finishes; see the module docs.
pub async fn run<F, Fut, T>(
    plan: Plan,
    cancel: &CancellationToken,
    mut operation: F,
    mut sink: impl FnMut(Ticket, T),
) -> Report
where
    F: FnMut(Ticket) -> Fut,
    Fut: Future<Output = T>,
{
    let start = Instant::now();
    let mut report = Report {
        wall: Duration::ZERO,
        interrupted: cancel.is_cancelled(),
        started: 0,
        finished: 0,
        waited_for_cap: 0,
        peak_in_flight: 0,
        schedule_lag: LatencyHistogram::new(),
    };
    let cap = plan.cap();
    let mut arrivals = Arrivals::new(plan, start);
    let mut in_flight = FuturesUnordered::new();
    // The next send time has already been counted as waiting for the cap.
    let mut counted_wait = false;

    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    let timer = tokio::time::sleep_until(arrivals.due().unwrap_or(start));
    tokio::pin!(timer);

    while !report.interrupted {
        // Checked before starting anything: a sink may have cancelled the token just now.
        if cancel.is_cancelled() {
            report.interrupted = true;
            break;
        }
        loop {
            let now = Instant::now();
            let Some(scheduled) = arrivals.ready(now) else {
                break;
            };
            if in_flight.len() >= cap {
                if arrivals.is_open() && !counted_wait {
                    report.waited_for_cap += 1;
                    counted_wait = true;
                }
                break;
            }
            let ticket = Ticket {
                index: report.started,
                scheduled,
                started: now,
                waited_for_cap: counted_wait,
            };
            counted_wait = false;
            report.schedule_lag.record(ticket.lag());
            in_flight.push(tagged(ticket, operation(ticket)));
            report.started += 1;
            report.peak_in_flight = report.peak_in_flight.max(in_flight.len());
            if let Some(due) = arrivals.advance(report.started) {
                timer.as_mut().reset(due);
            }
        }
        // Nothing in flight and nothing that will ever be ready: the plan is done.
        if in_flight.is_empty() && !arrivals.has_pending_send() {
            break;
        }
        // Wake at the next send time when there is room for it, and also when there is none
        // yet, so that a send held back by the cap is counted when it falls due; once counted,
        // only a finish can let it go.
        let wait_for_send = arrivals.has_pending_send() && (in_flight.len() < cap || !counted_wait);
        tokio::select! {
            biased;
            _ = &mut cancelled => report.interrupted = true,
            Some((ticket, output)) = in_flight.next(), if !in_flight.is_empty() => {
                report.finished += 1;
                sink(ticket, output);
            }
            _ = &mut timer, if wait_for_send => {}
        }
    }
    report.wall = start.elapsed();
    report
}

/// Runs `plan` like [`run`] and keeps every output, sorted by index; `on_finish` sees each
/// one as it arrives (for live progress). For callers that want the outputs together.
pub async fn collect<F, Fut, T>(
    plan: Plan,
    cancel: &CancellationToken,
    operation: F,
    mut on_finish: impl FnMut(Ticket, &T),
) -> Batch<T>
where
    F: FnMut(Ticket) -> Fut,
    Fut: Future<Output = T>,
{
    let expected = match plan.stop {
        Stop::Count(total) => total.min(PREALLOCATE_AT_MOST),
        Stop::Duration(_) => 0,
    };
    let mut outputs = Vec::with_capacity(expected);
    let report = run(plan, cancel, operation, |ticket, output| {
        on_finish(ticket, &output);
        outputs.push((ticket.index, output));
    })
    .await;
    outputs.sort_by_key(|(index, _)| *index);
    Batch { outputs, report }
}

/// Pairs an operation's output with its ticket; one function so every pushed future has the
/// same type.
async fn tagged<T>(ticket: Ticket, future: impl Future<Output = T>) -> (Ticket, T) {
    (ticket, future.await)
}

/// When the next operation may start, for either kind of arrival.
enum Arrivals {
    Closed {
        /// Operations to start in all (`usize::MAX` for a duration).
        total: usize,
        deadline: Option<Instant>,
        started: usize,
    },
    Open {
        /// Boxed: the random generator is large, and only open loops have one.
        times: Box<SendTimes>,
        total: usize,
        start: Instant,
        deadline: Option<Instant>,
        /// The next send time; `None` once the schedule is over.
        due: Option<Instant>,
    },
}

impl Arrivals {
    fn new(plan: Plan, start: Instant) -> Self {
        let (total, deadline) = match plan.stop {
            Stop::Count(total) => (total, None),
            // A deadline beyond what an Instant can hold never comes.
            Stop::Duration(duration) => (usize::MAX, start.checked_add(duration)),
        };
        match plan.arrival {
            Arrival::Closed { .. } => Arrivals::Closed {
                total,
                deadline,
                started: 0,
            },
            Arrival::Open(schedule) => {
                let mut arrivals = Arrivals::Open {
                    times: Box::new(schedule.send_times()),
                    total,
                    start,
                    deadline,
                    due: None,
                };
                arrivals.advance(0);
                arrivals
            }
        }
    }

    fn is_open(&self) -> bool {
        matches!(self, Arrivals::Open { .. })
    }

    /// The next send time of an open loop.
    fn due(&self) -> Option<Instant> {
        match self {
            Arrivals::Closed { .. } => None,
            Arrivals::Open { due, .. } => *due,
        }
    }

    /// The scheduled start of the next operation if it may start at `now`.
    fn ready(&self, now: Instant) -> Option<Instant> {
        match self {
            Arrivals::Closed {
                total,
                deadline,
                started,
            } => {
                let past_deadline = deadline.is_some_and(|deadline| now >= deadline);
                (started < total && !past_deadline).then_some(now)
            }
            Arrivals::Open { due, .. } => due.filter(|&due| due <= now),
        }
    }

    /// An open loop still has a send to make (due now or later).
    fn has_pending_send(&self) -> bool {
        self.due().is_some()
    }

    /// Notes that `started` operations have now started; returns the next send time of an
    /// open loop.
    fn advance(&mut self, started: usize) -> Option<Instant> {
        match self {
            Arrivals::Closed { started: count, .. } => {
                *count = started;
                None
            }
            Arrivals::Open {
                times,
                total,
                start,
                deadline,
                due,
            } => {
                *due = (started < *total)
                    .then(|| times.next())
                    .flatten()
                    .and_then(|offset| start.checked_add(offset))
                    .filter(|&at| deadline.is_none_or(|deadline| at < deadline));
                *due
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! On Tokio's paused clock: time advances only when every task waits, straight to the
    //! next timer, so the instants below are exact and the tests take no real time.

    use std::cell::{Cell, RefCell};

    use super::*;
    use crate::engine::plan::Schedule;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Offsets from `start`, in whole milliseconds.
    fn offsets(start: Instant, instants: &[Instant]) -> Vec<u128> {
        instants.iter().map(|i| (*i - start).as_millis()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn constant_rate_sends_at_the_scheduled_instants() {
        let start = Instant::now();
        let plan = Plan::open(Schedule::constant(10.0).unwrap(), Stop::Count(5));
        let tickets = RefCell::new(Vec::new());
        let mut sum = 0;
        let report = run(
            plan,
            &CancellationToken::new(),
            |ticket| {
                tickets.borrow_mut().push(ticket);
                async move {
                    tokio::time::sleep(ms(250)).await;
                    ticket.index
                }
            },
            // A sink that folds instead of keeping outputs.
            |_, index| sum += index,
        )
        .await;
        let tickets = tickets.into_inner();
        let scheduled: Vec<Instant> = tickets.iter().map(|t| t.scheduled).collect();
        let started: Vec<Instant> = tickets.iter().map(|t| t.started).collect();
        assert_eq!(offsets(start, &scheduled), [0, 100, 200, 300, 400]);
        assert_eq!(started, scheduled);
        assert_eq!(sum, 1 + 2 + 3 + 4);
        assert_eq!((report.started, report.finished), (5, 5));
        assert_eq!(report.waited_for_cap, 0);
        // Sends do not wait for earlier requests: three overlap at 200 ms.
        assert_eq!(report.peak_in_flight, 3);
        assert_eq!(report.schedule_lag.max(), Some(Duration::ZERO));
        assert_eq!(report.schedule_lag.count(), 5);
        assert_eq!(report.wall, ms(650));
        assert!(!report.interrupted);
    }

    #[tokio::test(start_paused = true)]
    async fn closed_loop_keeps_exactly_n_in_flight() {
        let start = Instant::now();
        let in_flight = Cell::new(0usize);
        let seen_at_start = RefCell::new(Vec::new());
        let starts = RefCell::new(Vec::new());
        let finishes = RefCell::new(Vec::new());
        let batch = collect(
            Plan::new(12, 3),
            &CancellationToken::new(),
            |ticket| {
                // What the engine has in flight when it starts this one.
                seen_at_start.borrow_mut().push(in_flight.get());
                in_flight.set(in_flight.get() + 1);
                starts.borrow_mut().push(ticket.started);
                assert_eq!(ticket.scheduled, ticket.started);
                async move {
                    tokio::time::sleep(ms(10 * (ticket.index as u64 % 4 + 1))).await;
                    ticket.index * 2
                }
            },
            |_, _| {
                in_flight.set(in_flight.get() - 1);
                finishes.borrow_mut().push(Instant::now());
            },
        )
        .await;
        let seen = seen_at_start.into_inner();
        assert_eq!(seen[..3], [0, 1, 2]);
        // Every later start refills the loop to exactly three.
        assert!(seen[3..].iter().all(|&n| n == 2), "{seen:?}");
        // ... at the very instant an operation finished.
        let starts = offsets(start, &starts.into_inner());
        let finishes = offsets(start, &finishes.into_inner());
        assert_eq!(starts[3..], finishes[..9]);
        assert_eq!(batch.report.peak_in_flight, 3);
        assert_eq!(batch.report.schedule_lag.max(), Some(Duration::ZERO));
        assert_eq!(batch.outputs.len(), 12);
        assert!(batch.outputs.iter().all(|(i, out)| *out == i * 2));
        assert!(batch.outputs.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_cap_is_honoured_and_waits_are_counted() {
        let start = Instant::now();
        // A send every 100 ms, each taking 250 ms, at most two in flight.
        let plan =
            Plan::open(Schedule::constant(10.0).unwrap(), Stop::Count(6)).with_max_in_flight(2);
        let batch = collect(
            plan,
            &CancellationToken::new(),
            |ticket| async move {
                tokio::time::sleep(ms(250)).await;
                ticket
            },
            |_, _| {},
        )
        .await;
        let tickets: Vec<Ticket> = batch.outputs.iter().map(|(_, t)| *t).collect();
        let scheduled: Vec<Instant> = tickets.iter().map(|t| t.scheduled).collect();
        let started: Vec<Instant> = tickets.iter().map(|t| t.started).collect();
        assert_eq!(offsets(start, &scheduled), [0, 100, 200, 300, 400, 500]);
        assert_eq!(offsets(start, &started), [0, 100, 250, 350, 500, 600]);
        let lags: Vec<u128> = tickets.iter().map(|t| t.lag().as_millis()).collect();
        assert_eq!(lags, [0, 0, 50, 50, 100, 100]);
        let waited: Vec<bool> = tickets.iter().map(|t| t.waited_for_cap).collect();
        assert_eq!(waited, [false, false, true, true, true, true]);
        let report = &batch.report;
        assert_eq!(report.waited_for_cap, 4);
        assert_eq!(report.peak_in_flight, 2);
        assert_eq!(report.schedule_lag.max(), Some(ms(100)));
        assert_eq!(report.schedule_lag.mean(), Some(ms(50)));
        assert_eq!(report.wall, ms(850));
    }

    #[tokio::test(start_paused = true)]
    async fn a_duration_stops_starting_and_lets_the_last_finish() {
        // Closed loop, two at a time, 300 ms each: starts at 0, 300, 600 and 900 ms.
        let closed = collect(
            Plan::closed(2, Stop::Duration(ms(1000))),
            &CancellationToken::new(),
            |_| tokio::time::sleep(ms(300)),
            |_, _| {},
        )
        .await;
        assert_eq!(closed.report.started, 8);
        assert_eq!(closed.report.finished, 8);
        assert_eq!(closed.report.wall, ms(1200));

        // Open loop at 10/s: sends at 0, 100, .., 900 ms, none at 1000.
        let open = collect(
            Plan::open(Schedule::constant(10.0).unwrap(), Stop::Duration(ms(1000))),
            &CancellationToken::new(),
            |_| tokio::time::sleep(ms(50)),
            |_, _| {},
        )
        .await;
        assert_eq!(open.report.started, 10);
        assert_eq!(open.report.wall, ms(950));

        let nothing = collect(
            Plan::closed(4, Stop::Duration(Duration::ZERO)),
            &CancellationToken::new(),
            |_| async {},
            |_, _| {},
        )
        .await;
        assert_eq!(nothing.report.started, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_stops_at_once_and_keeps_what_finished() {
        let cancel = CancellationToken::new();
        let batch = collect(
            Plan::new(10, 2),
            &cancel,
            |ticket| async move {
                if ticket.index == 3 {
                    // Never finishes: only cancellation can end the run now.
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(ms(100)).await;
            },
            |ticket, _| {
                if ticket.index == 2 {
                    cancel.cancel();
                }
            },
        )
        .await;
        let report = &batch.report;
        assert!(report.interrupted);
        // Operation 2 finished at 200 ms; nothing started after it, 3 was dropped.
        assert_eq!(report.wall, ms(200));
        assert_eq!((report.started, report.finished), (4, 3));
        let indices: Vec<usize> = batch.outputs.iter().map(|(i, _)| *i).collect();
        assert_eq!(indices, [0, 1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_interrupts_a_wait_for_the_next_send() {
        let cancel = CancellationToken::new();
        let report = run(
            Plan::open(Schedule::constant(0.001).unwrap(), Stop::Count(5)),
            &cancel,
            |_| {
                cancel.cancel();
                async {}
            },
            |_, _: ()| {},
        )
        .await;
        assert!(report.interrupted);
        assert_eq!(report.started, 1);
        assert_eq!(report.wall, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_token_starts_nothing() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let batch = collect(Plan::new(5, 5), &cancel, |_| async {}, |_, _| {}).await;
        assert!(batch.report.interrupted);
        assert_eq!(batch.report.started, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_plan_finishes_at_once() {
        let batch = collect(
            Plan::new(0, 4),
            &CancellationToken::new(),
            |t| async move { t.index },
            |_, _| {},
        )
        .await;
        assert!(batch.outputs.is_empty());
        assert!(!batch.report.interrupted);
        assert_eq!(batch.report.wall, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_poisson_plan_is_reproducible() {
        let sends = |seed| async move {
            let start = Instant::now();
            let batch = collect(
                Plan::open(Schedule::poisson(50.0, seed).unwrap(), Stop::Count(20)),
                &CancellationToken::new(),
                |ticket| async move { ticket.scheduled },
                |_, _| {},
            )
            .await;
            let at: Vec<Instant> = batch.outputs.iter().map(|(_, at)| *at).collect();
            offsets(start, &at)
        };
        let first = sends(5).await;
        assert_eq!(first, sends(5).await);
        assert_ne!(first, sends(6).await);
    }
}

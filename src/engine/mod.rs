//! The engine: the one concurrent request loop of ollabench. A [`Plan`] says how many
//! operations to run and how many to keep in flight; [`run`] drives them on the current task
//! (no task per request, no lock on the hot path), stops at once when the cancellation token
//! fires, and hands back every finished operation's output in index order together with the
//! batch's wall time. Scenarios describe their work as operations; none has its own loop.

use std::future::Future;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How much work to run and how much at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Operations in all.
    pub total: usize,
    /// Operations kept in flight (closed loop: a new one starts when one finishes).
    pub concurrency: usize,
}

impl Plan {
    /// `total` operations, `concurrency` at a time (at least one).
    pub fn new(total: usize, concurrency: usize) -> Self {
        Plan {
            total,
            concurrency: concurrency.max(1),
        }
    }

    /// Every operation at once, as when users start together.
    pub fn all_at_once(total: usize) -> Self {
        Plan::new(total, total)
    }
}

/// What a batch gave back.
#[derive(Debug)]
pub struct Batch<T> {
    /// `(index, output)` of every operation that finished, sorted by index.
    pub outputs: Vec<(usize, T)>,
    /// From the first start to the last finish (or to the interruption).
    pub wall: Duration,
    /// The token was cancelled: operations still running were dropped.
    pub interrupted: bool,
}

/// Runs `plan.total` operations built by `operation(index)`, keeping `plan.concurrency` in
/// flight, and calls `on_finish` as each one completes (for live progress).
pub async fn run<F, Fut, T>(
    plan: Plan,
    cancel: &CancellationToken,
    mut operation: F,
    mut on_finish: impl FnMut(usize, &T),
) -> Batch<T>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = T>,
{
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let mut next = 0;
    let mut outputs = Vec::with_capacity(plan.total);
    let mut interrupted = cancel.is_cancelled();
    while !interrupted && next < plan.total.min(plan.concurrency) {
        let index = next;
        let future = operation(index);
        in_flight.push(tagged(index, future));
        next += 1;
    }
    while !interrupted && !in_flight.is_empty() {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => interrupted = true,
            Some((index, output)) = in_flight.next() => {
                on_finish(index, &output);
                outputs.push((index, output));
                if next < plan.total && !cancel.is_cancelled() {
                    let index = next;
                    let future = operation(index);
                    in_flight.push(tagged(index, future));
                    next += 1;
                }
            }
        }
    }
    let wall = started.elapsed();
    drop(in_flight);
    outputs.sort_by_key(|(index, _)| *index);
    Batch {
        outputs,
        wall,
        interrupted,
    }
}

/// Pairs an operation's output with its index; one function so every pushed future has the
/// same type.
async fn tagged<T>(index: usize, future: impl Future<Output = T>) -> (usize, T) {
    (index, future.await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn keeps_at_most_the_planned_number_in_flight() {
        let active = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let cancel = CancellationToken::new();
        let batch = run(
            Plan::new(20, 3),
            &cancel,
            |index| {
                let active = active.clone();
                let peak = peak.clone();
                async move {
                    let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    tokio::task::yield_now().await;
                    active.fetch_sub(1, Ordering::SeqCst);
                    index * 2
                }
            },
            |_, _| {},
        )
        .await;
        assert!(!batch.interrupted);
        assert_eq!(batch.outputs.len(), 20);
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        assert!(batch.outputs.iter().all(|(i, out)| *out == i * 2));
    }

    #[tokio::test]
    async fn cancellation_stops_the_batch_and_keeps_what_finished() {
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        let batch = run(
            Plan::new(10, 2),
            &cancel,
            |index| {
                let trigger = trigger.clone();
                async move {
                    if index == 3 {
                        trigger.cancel();
                        // Never finishes: only cancellation can end the batch now.
                        std::future::pending::<()>().await;
                    }
                    index
                }
            },
            |_, _| {},
        )
        .await;
        assert!(batch.interrupted);
        assert!(batch.outputs.len() < 10);
        assert!(batch.outputs.iter().all(|(i, _)| *i != 3));
    }

    #[tokio::test]
    async fn an_empty_plan_finishes_at_once() {
        let batch = run(
            Plan::new(0, 4),
            &CancellationToken::new(),
            |i| async move { i },
            |_, _| {},
        )
        .await;
        assert!(batch.outputs.is_empty());
        assert!(!batch.interrupted);
    }
}

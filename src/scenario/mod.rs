//! Scenarios: each is a plan for the engine plus the bookkeeping of one reference benchmark.
//! [`target`] resolves and connects to the server every scenario runs against.

pub mod multi_user;
pub mod single_user;
pub mod suite;
pub mod target;
pub mod test_connection;
pub mod tokens_per_second;

use std::future::Future;

use crate::exit::Ctx;

/// Runs `future` unless Ctrl-C comes first (`None`).
pub async fn cancellable<T>(ctx: &Ctx, future: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        biased;
        _ = ctx.cancel.cancelled() => None,
        value = future => Some(value),
    }
}

//! The engine: runs a load plan, and is the only concurrent request loop of ollabench.
//! Scenarios describe their work as operations and a [`Plan`]; none has its own loop.
//!
//! A plan is an arrival ([`Arrival::Closed`]: N in flight; [`Arrival::Open`]: a reproducible
//! [`Schedule`] of send times at a constant rate, Poisson, or gamma with a burstiness), a
//! [`Stop`] (a count or a duration) and an optional in-flight cap. [`run`] gives each
//! operation a [`Ticket`] (its index and scheduled start) and folds outputs into the caller's
//! sink as they finish, so memory stays flat however long the run; [`collect`] keeps them in
//! a Vec for callers that want them together. Cancellation stops a run at once. The
//! [`Report`] says how far the client fell behind its schedule and how often the cap held a
//! send back.
//!
//! - `plan`: what a plan is, and its validation.
//! - `schedule`: send times of open-loop schedules.
//! - `run`: the loop itself.

mod plan;
mod run;
mod schedule;

pub use plan::{Arrival, Plan, PlanError, Schedule, Stop};
pub use run::{collect, run, Batch, Report, Ticket};
pub use schedule::SendTimes;

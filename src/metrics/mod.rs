//! Mergeable metrics: latency histograms that many tasks, runs or machines can record
//! separately and add together afterwards without losing anything a summary needs.
//!
//! A [`LatencyHistogram`] records durations in microseconds with 3 significant digits (an
//! HdrHistogram), plus the exact count, sum, minimum and maximum. Two histograms merge with
//! `+=` into exactly the histogram of all their values, which is what averaging per-run
//! percentiles can never give. [`RequestLatencies`] holds one histogram per streamed-request
//! metric (TTFT, TPOT, ITL, e2e; DESIGN.md, "What is measured").
//!
//! Both serialise to a small JSON object for result files (see [`LatencyHistogram`] for the
//! form); reading one back gives the same histogram, so files from several runs or pods can
//! be merged later.

mod histogram;
mod request;

pub use histogram::{LatencyHistogram, LatencySummary, MAX_MICROS, SIGNIFICANT_DIGITS};
pub use request::RequestLatencies;

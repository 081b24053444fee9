//! The normalised form `compare` works on: a [`Run`] per result file, whatever the file's
//! spelling (ollabench's or the PowerShell suite's). Everything downstream (tables, trends, the
//! gate, verdicts) works on this form only. It is the comparison report's own schema, so it
//! lives with the other file models in [`crate::results::comparison`].

pub use crate::results::comparison::{Better, Kind, Metric, Run, Unit};

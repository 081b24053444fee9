//! Reports: the terminal summary, Markdown (`summary.md`) and the self-contained HTML report.

pub mod progress;

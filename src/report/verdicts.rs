//! The verdict rows a report shows: one metric, its value, its level against the reference's
//! Performance Targets, and what to do when it falls short. The levels and the advice come from
//! [`crate::verdict`]; this module only shapes them for the report.

use super::load::LoadedFile;

/// The reference's levels, with the symbol and word a report shows beside the colour (so that
/// the level never depends on colour alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictLevel {
    Target,
    Good,
    Warning,
    Critical,
}

impl VerdictLevel {
    pub fn symbol(&self) -> &'static str {
        match self {
            VerdictLevel::Target | VerdictLevel::Good => "✅",
            VerdictLevel::Warning => "⚠️",
            VerdictLevel::Critical => "❌",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            VerdictLevel::Target => "Target",
            VerdictLevel::Good => "Good",
            VerdictLevel::Warning => "Warning",
            VerdictLevel::Critical => "Critical",
        }
    }

    /// The CSS class of the level (colours in `html.rs`).
    pub fn css_class(&self) -> &'static str {
        match self {
            VerdictLevel::Target => "level-target",
            VerdictLevel::Good => "level-good",
            VerdictLevel::Warning => "level-warning",
            VerdictLevel::Critical => "level-critical",
        }
    }
}

/// One verdict as a report shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictRow {
    /// The metric (`Tokens/second`), with its subject when a file holds several
    /// (`Tokens/second (llama3.1:8b / short)`).
    pub metric: String,
    /// The value with its unit (`42.5 tok/s`).
    pub value: String,
    pub level: VerdictLevel,
    /// The reference's thresholds for this metric (`Target 40-50, Good > 35, ...`).
    pub thresholds: String,
    /// What to check when it falls short, and any caveat (another model size, ...).
    pub advice: String,
}

/// The verdicts for one file, and the line saying what they are measured against; empty
/// when the file holds nothing the targets judge.
pub fn for_file(_file: &LoadedFile) -> (Vec<VerdictRow>, Option<String>) {
    // The Performance Targets live in `crate::verdict` (being written on the compare branch);
    // until it lands the report shows no verdict rows rather than a second copy of the table.
    (Vec::new(), None)
}

//! `run`'s options, validated: which of the reference's scenarios to run (its names or
//! kebab-case), where the results folder goes, and each scenario's models.

use std::path::PathBuf;

use crate::config::{DownloadPolicy, TargetOptions};
use crate::exit::ConfigError;

/// One scenario of the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    SingleUser,
    TokensPerSecond,
    MultiUser(u32),
}

impl Scenario {
    /// The reference's result file name.
    pub fn file_name(self) -> String {
        match self {
            Scenario::SingleUser => "single-user.json".into(),
            Scenario::TokensPerSecond => "tokens-per-second.json".into(),
            Scenario::MultiUser(users) => format!("multi-user-{users}.json"),
        }
    }

    /// The reference's name (SingleUser, TokensPerSecond, MultiUser3, ...).
    pub fn name(self) -> String {
        match self {
            Scenario::SingleUser => "SingleUser".into(),
            Scenario::TokensPerSecond => "TokensPerSecond".into(),
            Scenario::MultiUser(users) => format!("MultiUser{users}"),
        }
    }
}

/// Parses scenario names in the reference's spelling or kebab-case; `AllScenarios` expands.
pub fn parse_scenarios(names: &[String]) -> Result<Vec<Scenario>, ConfigError> {
    let mut named = Vec::new();
    for raw in names.iter().filter(|n| !n.trim().is_empty()) {
        let key: String = raw
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let parsed: Vec<Scenario> = match key.as_str() {
            "singleuser" => vec![Scenario::SingleUser],
            "tokenspersecond" | "tps" => vec![Scenario::TokensPerSecond],
            "allscenarios" | "all" => vec![
                Scenario::SingleUser,
                Scenario::TokensPerSecond,
                Scenario::MultiUser(3),
                Scenario::MultiUser(5),
            ],
            other => match other.strip_prefix("multiuser").map(str::parse::<u32>) {
                Some(Ok(users)) if users > 0 => vec![Scenario::MultiUser(users)],
                _ => {
                    return Err(ConfigError::Unknown {
                        what: "scenario",
                        value: raw.to_string(),
                        expected: "SingleUser, TokensPerSecond, MultiUser3, MultiUser5 or \
                                   AllScenarios (or single-user, tokens-per-second, \
                                   multi-user-3, multi-user-5, all-scenarios)"
                            .into(),
                    })
                }
            },
        };
        named.extend(parsed);
    }
    let scenarios = super::first_of_each(named);
    if scenarios.is_empty() {
        return Err(ConfigError::Empty {
            flag: "--scenario",
            advice: "use e.g. all-scenarios",
        });
    }
    Ok(scenarios)
}

/// Validated options of a suite run.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    pub target: TargetOptions,
    pub scenarios: Vec<Scenario>,
    pub results_dir: PathBuf,
    /// single-user's model.
    pub model: String,
    /// tokens-per-second's models.
    pub tps_models: Vec<String>,
    /// multi-user's models.
    pub multi_user_models: Vec<String>,
    pub download: DownloadPolicy,
}

//! Flags of `ollabench multi-user` and `ollabench run`.

use std::path::PathBuf;

use clap::Args;

use crate::cli::bench::EndpointArgs;
use crate::exit::{Ctx, Outcome};

/// Flags of `ollabench multi-user`.
#[derive(Debug, Args)]
pub struct MultiUserArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// Users that pull, load and generate at the same time.
    #[arg(long, default_value_t = 3)]
    pub concurrent_users: u32,
    /// Models, assigned to users round-robin (comma list or repeated).
    #[arg(long, value_delimiter = ',', default_values_t = ["phi3.5".to_string(), "gemma2:2b".to_string(), "mistral:7b".to_string(), "llama3.1:8b".to_string()])]
    pub models: Vec<String>,
    /// Where to write the JSON result.
    #[arg(
        long,
        visible_alias = "output-file",
        default_value = "multi-user-results.json"
    )]
    pub output: PathBuf,
    /// A single-user result file whose total time is the efficiency baseline.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Tokens each user generates.
    #[arg(long, default_value_t = 100)]
    pub generation_tokens: u32,
}

impl MultiUserArgs {
    pub async fn execute(self, _ctx: &Ctx) -> anyhow::Result<Outcome> {
        anyhow::bail!("multi-user: not implemented yet")
    }
}

/// Flags of `ollabench run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// Scenarios: SingleUser, TokensPerSecond, MultiUser3, MultiUser5, AllScenarios (or
    /// kebab-case: single-user, tokens-per-second, multi-user-3, multi-user-5, all-scenarios).
    #[arg(long, value_delimiter = ',', default_value = "all-scenarios")]
    pub scenario: Vec<String>,
    /// The folder in which results-YYYYMMDD-HHMMSS/ is created.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub results_dir: PathBuf,
}

impl RunArgs {
    pub async fn execute(self, _ctx: &Ctx) -> anyhow::Result<Outcome> {
        anyhow::bail!("run: not implemented yet")
    }
}

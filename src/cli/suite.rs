//! Flags of `ollabench multi-user` and `ollabench run`.

use std::path::PathBuf;

use clap::Args;

use crate::cli::bench::{
    ConsoleArgs, DownloadArgs, EndpointArgs, MultiUserFile, OutputArgs, ThinkArgs,
};
use crate::config::defaults;
use crate::exit::{Ctx, Outcome};
use crate::scenario::{multi_user, suite};

/// Flags of `ollabench multi-user`.
#[derive(Debug, Args)]
pub struct MultiUserArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// Users that pull, load and generate at the same time.
    #[arg(long, default_value_t = defaults::CONCURRENT_USERS, allow_negative_numbers = true)]
    pub concurrent_users: u32,
    /// Models, assigned to users round-robin (comma list or repeated).
    #[arg(long, value_delimiter = ',', default_values_t = defaults::MULTI_USER_MODELS.map(String::from))]
    pub models: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs<MultiUserFile>,
    /// A single-user result file whose total time is the efficiency baseline.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Tokens each user generates.
    #[arg(long, default_value_t = defaults::GENERATION_TOKENS, allow_negative_numbers = true)]
    pub generation_tokens: u32,
    #[command(flatten)]
    pub download: DownloadArgs,
    #[command(flatten)]
    pub console: ConsoleArgs,
    #[command(flatten)]
    pub think: ThinkArgs,
}

impl MultiUserArgs {
    pub async fn execute(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let options = multi_user::MultiUserOptions::validate(
            self.endpoint.to_options()?,
            self.concurrent_users,
            &self.models,
            self.output.output,
            self.baseline.as_deref(),
            self.generation_tokens,
            self.download.policy()?,
        )
        .map(|options| multi_user::MultiUserOptions {
            think: self.think.requested(),
            ..options
        })?;
        multi_user::run(options, ctx, self.console.options()).await
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
    /// single-user's model.
    #[arg(long, default_value = defaults::MODEL)]
    pub model: String,
    /// tokens-per-second's models (comma list or repeated).
    #[arg(long, value_delimiter = ',', default_values_t = defaults::TPS_MODELS.map(String::from))]
    pub tps_models: Vec<String>,
    /// multi-user's models, assigned round-robin (comma list or repeated).
    #[arg(long, value_delimiter = ',', default_values_t = defaults::MULTI_USER_MODELS.map(String::from))]
    pub multi_user_models: Vec<String>,
    // --redownload is not needed with --simulate, whose nodes start empty.
    #[command(flatten)]
    pub download: DownloadArgs,
}

impl RunArgs {
    pub async fn execute(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let options = suite::SuiteOptions {
            target: self.endpoint.to_options()?,
            scenarios: suite::parse_scenarios(&self.scenario)?,
            results_dir: self.results_dir,
            model: self.model,
            tps_models: self.tps_models,
            multi_user_models: self.multi_user_models,
            download: self.download.policy()?,
        };
        let mut folder = None;
        let outcome = suite::run(options, ctx, &mut folder).await;
        if let Some(folder) = folder {
            write_suite_report(&folder).await;
        }
        outcome
    }
}

/// report.html and summary.md in the results folder; a failure here never hides the results.
async fn write_suite_report(folder: &std::path::Path) {
    let inputs = vec![folder.to_path_buf()];
    let out_dir = folder.to_path_buf();
    let written =
        tokio::task::spawn_blocking(move || crate::report::write_report(&inputs, &out_dir)).await;
    match written {
        Ok(Ok(paths)) => crate::outln!(
            "Report: {} and {}",
            paths.html.display(),
            paths.markdown.display()
        ),
        Ok(Err(err)) => crate::errln!("warning: no report: {err:#}"),
        Err(err) => crate::errln!("warning: no report: {err}"),
    }
}

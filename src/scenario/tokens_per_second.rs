//! `ollabench tokens-per-second` (the reference's Benchmark 2).

use std::path::{Path, PathBuf};

use crate::exit::{Ctx, Outcome};
use crate::scenario::target::TargetOptions;

/// Validated options of a tokens-per-second run.
#[derive(Debug, Clone)]
pub struct TpsOptions {
    pub target: TargetOptions,
    pub output: PathBuf,
}

impl TpsOptions {
    #[allow(clippy::too_many_arguments)]
    pub fn validate(
        target: TargetOptions,
        _models: &[String],
        _prompt_lengths: &[String],
        _prompts_file: Option<&Path>,
        _generation_tokens: u32,
        _warmup_runs: u32,
        _measurement_runs: u32,
        _concurrent_requests: &[u32],
        output: PathBuf,
        _alternate_route: bool,
    ) -> anyhow::Result<Self> {
        Ok(TpsOptions { target, output })
    }
}

pub async fn run(_options: TpsOptions, _ctx: &Ctx) -> anyhow::Result<Outcome> {
    anyhow::bail!("tokens-per-second: not implemented yet")
}

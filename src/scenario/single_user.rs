//! `ollabench single-user` (the reference's Benchmark 1): download, cold load, warm load and
//! the first generation's speed of one model.

use std::path::PathBuf;

use crate::exit::{Ctx, Outcome};
use crate::scenario::target::TargetOptions;

/// Validated options of a single-user run.
#[derive(Debug, Clone)]
pub struct SingleUserOptions {
    pub target: TargetOptions,
    pub model: String,
    pub output: PathBuf,
    pub redownload: bool,
    pub drop_caches_cmd: Option<String>,
    pub generation_tokens: u32,
}

pub async fn run(_options: SingleUserOptions, _ctx: &Ctx) -> anyhow::Result<Outcome> {
    anyhow::bail!("single-user: not implemented yet")
}

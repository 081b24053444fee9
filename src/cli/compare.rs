//! `ollabench compare`: flags of the comparison and the regression gate.

use clap::Args;

use crate::exit::{Ctx, Outcome};

/// Flags of `ollabench compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {}

impl CompareArgs {
    pub async fn execute(self, _ctx: &Ctx) -> anyhow::Result<Outcome> {
        anyhow::bail!("compare: not implemented yet")
    }
}

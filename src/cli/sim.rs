//! `ollabench sim`: flags of the built-in simulator.

use clap::Args;

use crate::exit::{Ctx, Outcome};

/// Flags of `ollabench sim`.
#[derive(Debug, Args)]
pub struct SimArgs {}

impl SimArgs {
    pub async fn execute(self, _ctx: &Ctx) -> anyhow::Result<Outcome> {
        anyhow::bail!("sim: not implemented yet")
    }
}

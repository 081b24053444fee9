//! `ollabench report`: flags of the HTML and Markdown report.

use clap::Args;

use crate::exit::{Ctx, Outcome};

/// Flags of `ollabench report`.
#[derive(Debug, Args)]
pub struct ReportArgs {}

impl ReportArgs {
    pub async fn execute(self, _ctx: &Ctx) -> anyhow::Result<Outcome> {
        anyhow::bail!("report: not implemented yet")
    }
}

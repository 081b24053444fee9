//! `ollabench test-connection`: is the server reachable, what is it, which models it has and
//! which are loaded, round-trip latency; troubleshooting advice fitted to the failure.

use crate::exit::{Ctx, Outcome};
use crate::scenario::target::TargetOptions;

pub async fn run(_options: TargetOptions, _ctx: &Ctx) -> anyhow::Result<Outcome> {
    anyhow::bail!("test-connection: not implemented yet")
}

//! The one scenario runner. Every benchmark command goes through it the same way: check the
//! output path, connect (with the reachability probe), probe the provenance, let the scenario
//! measure (it writes snapshots as steps finish, so that nothing measured is lost), write the
//! final file (falling back to another path rather than dropping it), close the target, and
//! print. Scenarios only describe their work ([`Scenario`]) and emit [`Event`]s on the way;
//! the console subscribes to those.

use std::future::Future;
use std::path::Path;

use serde::Serialize;

use crate::backend::Backend;
use crate::config::TargetOptions;
use crate::exit::{Ctx, Outcome};
use crate::output::events::Events;
use crate::output::export::{ConsoleOptions, Format, Rows};
use crate::results::write::{check_writable, write_json_or_fallback, written_path};
use crate::results::{Provenance, RunStatus};
use crate::scenario::target::Target;
use crate::scenario::{cancellable, record_openai_server};

/// A benchmark, as the runner sees it.
pub trait Scenario {
    /// The result file's model.
    type Output: Serialize;

    /// Where the result file goes.
    fn output(&self) -> &Path;

    /// The server to run against.
    fn target(&self) -> &TargetOptions;

    /// Measures on a connected target. `session.provenance` is already probed; the scenario
    /// writes snapshots of its result as steps finish, and returns the finished result (with
    /// its status set, `Interrupted` when Ctrl-C stopped it).
    fn measure(&self, session: Session<'_>) -> impl Future<Output = anyhow::Result<Self::Output>>;

    /// How the run ended.
    fn status(output: &Self::Output) -> RunStatus;

    /// Prints the final summary; `written` is where the file really is.
    fn print(&self, output: &Self::Output, written: &Path);

    /// The result as rows (one per cell, user or model) for `--format csv|markdown`.
    fn rows(&self, output: &Self::Output) -> Rows;
}

/// What a scenario gets to measure with.
pub struct Session<'a> {
    pub target: &'a Target,
    pub ctx: &'a Ctx,
    /// Who measured what: versions, simulator, command line. The scenario adds models.
    pub provenance: Provenance,
    pub events: &'a Events,
}

/// Runs a scenario from start to end: check, connect, measure, write, close, print.
pub async fn run<S: Scenario>(
    scenario: &S,
    ctx: &Ctx,
    console: ConsoleOptions,
) -> anyhow::Result<Outcome> {
    check_writable(scenario.output(), "--output")?;
    let target = Target::connect(scenario.target(), ctx).await?;
    let events = Events::console(ctx.interactive, console);
    let measured = measure_on(scenario, &target, ctx, &events).await;
    events.finish();
    target.close().await;
    let output = measured?;
    let written = written_path(scenario.output());
    match console.format {
        Format::Table if console.quiet => {}
        Format::Table => scenario.print(&output, &written),
        Format::Json => crate::outln!("{}", serde_json::to_string_pretty(&output)?),
        Format::Csv => crate::output::write_stdout_raw(&scenario.rows(&output).to_csv()),
        Format::Markdown => crate::output::write_stdout_raw(&scenario.rows(&output).to_markdown()),
    }
    if console.format != Format::Table && !console.quiet {
        crate::errln!("Results written to {}", written.display());
    }
    Ok(S::status(&output).into())
}

/// Measures on a target someone else connected (the suite shares one), and writes the final
/// file. Returns the result and where it was written.
pub async fn measure_on<S: Scenario>(
    scenario: &S,
    target: &Target,
    ctx: &Ctx,
    events: &Events,
) -> anyhow::Result<S::Output> {
    let provenance = cancellable(ctx, probe_provenance(target))
        .await
        .unwrap_or_else(|| Provenance::start(api_name(target), &target.url, target.resolved_by));
    let output = scenario
        .measure(Session {
            target,
            ctx,
            provenance,
            events,
        })
        .await?;
    write_json_or_fallback(scenario.output(), &output)?;
    Ok(output)
}

fn api_name(target: &Target) -> &'static str {
    match target.backend {
        Backend::Ollama(_) => "ollama",
        Backend::OpenAi(_) => "openai",
    }
}

/// What the server says about itself, and whether it is the simulator (through any API).
pub async fn probe_provenance(target: &Target) -> Provenance {
    let mut provenance = Provenance::start(api_name(target), &target.url, target.resolved_by);
    if let Some(sim) = &target.simulated {
        provenance.set_simulator(&sim.profile, sim.time_scale);
    }
    match &target.backend {
        Backend::Ollama(client) => {
            if let Ok(info) = client.server_info().await {
                provenance.server_version = Some(info.version);
                if let Some(header) = info.simulator {
                    provenance.set_simulator_from_header(&header);
                }
            }
        }
        Backend::OpenAi(client) => {
            if let Ok(kind) = client.server_kind().await {
                record_openai_server(&mut provenance, &kind);
            }
        }
    }
    provenance
}

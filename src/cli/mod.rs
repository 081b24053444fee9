//! The command line: clap definitions, one file per group of commands, each turned into
//! validated options and handed to the code that runs it.

pub mod bench;
pub mod capacity;
pub mod compare;
pub mod diagnose;
pub mod load;
pub mod report;
pub mod results;
pub mod sim;
pub mod suite;

use clap::{Parser, Subcommand};

use crate::exit::{Ctx, Outcome};

const EXIT_CODES: &str = "\
Exit codes:
  0    done
  1    ran, but something failed or regressed
  2    unusable input or configuration
  130  interrupted by Ctrl-C (results so far are on disk, marked interrupted)";

/// Benchmarks LLM inference servers: Ollama, and any OpenAI-compatible server.
#[derive(Debug, Parser)]
#[command(name = "ollabench", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Is the server reachable, what is it, which models does it have (test-connection.ps1).
    #[command(after_help = EXIT_CODES)]
    TestConnection(bench::TestConnectionArgs),
    /// Download, cold load, warm load and first-generation speed of one model (Benchmark 1).
    #[command(after_help = EXIT_CODES)]
    SingleUser(bench::SingleUserArgs),
    /// Steady-state throughput and latency by model and prompt length (Benchmark 2).
    #[command(visible_alias = "tps", after_help = EXIT_CODES)]
    TokensPerSecond(bench::TokensPerSecondArgs),
    /// Closed-loop concurrencies or open-loop request rates against one model, step by step:
    /// throughput, latency from the send and the scheduled time, schedule lag, SLO goodput.
    #[command(after_help = EXIT_CODES)]
    Load(load::LoadArgs),
    /// The highest request rate (or concurrency) that meets the SLO, by a bracketing search.
    #[command(after_help = EXIT_CODES)]
    Capacity(capacity::CapacityArgs),
    /// Concurrent users pulling, loading and generating at once (Benchmark 3).
    #[command(after_help = EXIT_CODES)]
    MultiUser(suite::MultiUserArgs),
    /// Runs scenarios into a timestamped results folder (run-benchmarks.ps1).
    #[command(after_help = EXIT_CODES)]
    Run(suite::RunArgs),
    /// Compares result files: tables, statistics, trends, a regression gate and verdicts.
    Compare(compare::CompareArgs),
    /// Writes report.html and summary.md for a results folder or files.
    #[command(after_help = EXIT_CODES)]
    Report(report::ReportArgs),
    /// Serves the built-in Ollama simulator.
    Sim(sim::SimArgs),
    /// Lists runs, sets baselines and prunes old runs of a benchmarks folder.
    Results(results::ResultsArgs),
    /// Gathers the Troubleshooting checks: pods, node GPUs, events, nvidia-smi, /api/ps.
    Diagnose(diagnose::DiagnoseArgs),
}

impl Command {
    /// Runs the command.
    pub async fn execute(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        match self {
            Command::TestConnection(args) => args.execute(ctx).await,
            Command::SingleUser(args) => args.execute(ctx).await,
            Command::TokensPerSecond(args) => args.execute(ctx).await,
            Command::MultiUser(args) => args.execute(ctx).await,
            Command::Load(args) => args.execute(ctx).await,
            Command::Capacity(args) => args.execute(ctx).await,
            Command::Run(args) => args.execute(ctx).await,
            Command::Compare(args) => args.execute(ctx).await,
            Command::Report(args) => args.execute(ctx).await,
            Command::Sim(args) => args.execute(ctx).await,
            Command::Results(args) => args.execute(ctx).await,
            Command::Diagnose(args) => args.execute(ctx).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }
}

//! ollabench: benchmarks LLM inference servers (Ollama and OpenAI-compatible servers).
//!
//! # Layout
//! Modules depend one way, top to bottom, with no cycles (a test checks it):
//! - [`cli`]: clap's flags, turned into validated options; only `main` and `lib` use it.
//! - [`config`]: the validated, typed options, the reference's defaults and the shared enums.
//! - [`scenario`]: each benchmark describes its work to the one [`scenario::runner`], which
//!   connects, probes provenance, measures, writes, closes and prints; scenarios emit
//!   [`output::events`] that the console subscribes to.
//! - [`engine`]: runs a load plan (closed loop or a schedule of send times, a count or a
//!   duration, an in-flight cap), folding outputs into a sink.
//! - [`workload`]: what each request of a run sends: prompts sized in the model's tokens by
//!   calibrating against the server's own count (no tokenizer), prefixes, datasets, forced
//!   output lengths and sampling; it uses `backend` to probe, `prompts` for the texts.
//! - [`backend`]: the only code that speaks HTTP to a server (Ollama's API, the OpenAI API).
//! - [`prompts`]: the reference's prompt categories, filler text and dataset files (no I/O
//!   beyond reading them).
//! - [`metrics`]: mergeable latency histograms; [`stats`]: summaries of samples.
//! - [`analysis`]: pure scaling, trends, verdicts and SLO judgement, used by scenarios, `compare`
//!   and `report`.
//! - [`results`]: the one model of the files, the one reader ([`results::read`]), the
//!   normalised runs ([`results::runs`]) and atomic writes.
//!
//! Beside the scenarios, [`compare`] and [`report`] use `analysis` and `results`, and
//! [`output`] owns the console. [`sim`] is the built-in Ollama simulator and depends on nothing
//! above it; [`kube`] finds endpoints and owns the `kubectl port-forward` child; [`exit`] holds
//! the exit codes, the typed configuration error and the one table from error types to exit
//! codes, and depends only on `results` (whose reading and writing errors it maps).
//! [`housekeeping`] lists, baselines and prunes the runs of a benchmarks folder through
//! `results`; [`diagnose`] gathers the Troubleshooting checks through `kube` and `backend`.

pub mod analysis;
pub mod backend;
pub mod cli;
pub mod compare;
pub mod config;
pub mod diagnose;
pub mod engine;
pub mod exit;
pub mod housekeeping;
pub mod kube;
pub mod metrics;
pub mod output;
pub mod prompts;
pub mod report;
pub mod results;
pub mod scenario;
pub mod sim;
pub mod stats;
pub mod workload;

pub use exit::{Ctx, Outcome};

/// How long a command may take to wind up after Ctrl-C before the process ends regardless.
const INTERRUPT_GRACE: std::time::Duration = std::time::Duration::from_millis(800);

/// Runs a parsed command line on a new Tokio runtime and returns the process exit code.
pub fn run(cli: cli::Cli) -> u8 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            crate::errln!("error: cannot start the async runtime: {err}");
            return exit::FAILURE;
        }
    };
    runtime.block_on(async {
        let ctx = Ctx::from_environment();
        let cancel = ctx.cancel.clone();
        // Ctrl-C (and SIGTERM, as sent by `kill` or a CI runner) cancels the token; every
        // command checks it, writes what it measured and stops its child processes.
        tokio::spawn(async move {
            wait_for_interrupt().await;
            cancel.cancel();
        });
        let cancelled = ctx.cancel.clone();
        // Every command stops at Ctrl-C and writes what it measured; should one still be
        // waiting on something that ignores the token, the process ends anyway within a
        // second. Results are written after every step, so the last finished step is on disk.
        tokio::select! {
            code = run_async(cli, ctx) => code,
            _ = async {
                cancelled.cancelled().await;
                tokio::time::sleep(INTERRUPT_GRACE).await;
            } => {
                crate::errln!("Interrupted: stopped without waiting for the server; results written so far are on disk");
                exit::INTERRUPTED
            }
        }
    })
}

async fn wait_for_interrupt() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs a parsed command line inside an existing runtime; tests call this in-process.
pub async fn run_async(cli: cli::Cli, ctx: Ctx) -> u8 {
    let outcome = cli.command.execute(&ctx).await;
    // An error caused by Ctrl-C (e.g. while a port-forward was starting) is an interruption.
    if ctx.cancel.is_cancelled() {
        match &outcome {
            Err(err) => crate::errln!("Interrupted: {err:#}"),
            Ok(Outcome::Interrupted) => {}
            Ok(_) => crate::errln!("Interrupted."),
        }
        return exit::INTERRUPTED;
    }
    exit::report(outcome)
}

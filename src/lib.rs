//! ollabench: benchmarks LLM inference servers (Ollama and OpenAI-compatible servers).
//!
//! # Layout
//! Modules depend one way: [`cli`] (clap definitions, validated into options) ->
//! [`scenario`] (single-user, tokens-per-second, multi-user, the suite) -> [`engine`] (the one
//! concurrent request loop) -> [`backend`] (the only code that speaks HTTP to a server) ->
//! [`stats`] (pure statistics) -> [`results`] (serde models of the reference files) ->
//! [`compare`] and [`report`]. [`sim`] is the built-in Ollama simulator and depends on nothing
//! above it; [`kube`] finds endpoints and owns the `kubectl port-forward` child.

pub mod backend;
pub mod cli;
pub mod compare;
pub mod engine;
pub mod exit;
pub mod kube;
pub mod prompts;
pub mod report;
pub mod results;
pub mod scenario;
pub mod sim;
pub mod stats;
pub mod verdict;

pub use exit::{Ctx, Outcome};

/// Runs a parsed command line on a new Tokio runtime and returns the process exit code.
pub fn run(cli: cli::Cli) -> u8 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return exit::FAILURE;
        }
    };
    runtime.block_on(async {
        let ctx = Ctx::from_environment();
        let cancel = ctx.cancel.clone();
        // Ctrl-C cancels the token; every command checks it and writes what it measured.
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        });
        run_async(cli, ctx).await
    })
}

/// Runs a parsed command line inside an existing runtime; tests call this in-process.
pub async fn run_async(cli: cli::Cli, ctx: Ctx) -> u8 {
    let outcome = cli.command.execute(&ctx).await;
    exit::report(outcome)
}

//! The `ollabench` binary: parse the command line, run it, and map the outcome to an exit code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = ollabench::cli::Cli::parse();
    std::process::ExitCode::from(ollabench::run(cli))
}

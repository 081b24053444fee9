//! Flags of `ollabench capacity`: every flag of `load` (the target, model, prompt, arrivals,
//! each probe's length and warmup, `--slo`, where results go), flattened from
//! [`LoadArgs`] so that both commands read them the same way, plus the search's own. The load
//! shape flags of `load` are refused: the search picks each probe's load.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::load::LoadArgs;
use crate::config::capacity::{
    search_options, CapacityOptions, DEFAULT_ATTAINMENT, DEFAULT_MAX_PROBES, DEFAULT_PRECISION,
};
use crate::config::load::LoadOptions;
use crate::exit::{Ctx, Outcome, UsageError};
use crate::results::capacity::CapacityBy;
use crate::scenario::capacity;

/// `--by`: what the capacity is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    /// Open-loop request rate (req/s), spaced by --arrival.
    Rate,
    /// Closed-loop concurrency (requests in flight).
    Concurrency,
}

/// Flags of `ollabench capacity`.
#[derive(Debug, Args)]
pub struct CapacityArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Search over request rates or over concurrencies.
    #[arg(long, value_enum, default_value_t = By::Rate)]
    pub by: By,
    /// The share of requests that must meet every per-request objective of --slo.
    #[arg(long, value_name = "PERCENT", default_value = DEFAULT_ATTAINMENT)]
    pub attainment: String,
    /// Stop when the bracket (highest passing, lowest failing level) is this close,
    /// relative to its lower bound.
    #[arg(long, value_name = "PERCENT", default_value = DEFAULT_PRECISION)]
    pub precision: String,
    /// The first level probed (req/s, or a concurrency with --by concurrency) [default: 1].
    #[arg(long, value_name = "LEVEL", allow_negative_numbers = true)]
    pub start: Option<f64>,
    /// The most probes (repeats of a probe within noise included).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PROBES)]
    pub max_probes: u32,
}

impl CapacityArgs {
    pub async fn execute(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let console = self.load.console.options();
        let options = CapacityOptions::try_from(self)?;
        capacity::run(options, ctx, console).await
    }
}

impl TryFrom<CapacityArgs> for CapacityOptions {
    type Error = anyhow::Error;

    fn try_from(args: CapacityArgs) -> anyhow::Result<CapacityOptions> {
        let by = match args.by {
            By::Rate => CapacityBy::Rate,
            By::Concurrency => CapacityBy::Concurrency,
        };
        let search = search_options(
            by,
            &args.attainment,
            &args.precision,
            args.start,
            args.max_probes,
        )?;
        let mut load = args.load;
        if !load.concurrency.is_empty() || !load.request_rate.is_empty() || load.sweep.is_some() {
            return Err(UsageError::err(
                "capacity picks each probe's load itself: drop --concurrency, --request-rate \
                 and --sweep (use --by, --start and --max-probes)",
            ));
        }
        if load.slo.is_none() {
            return Err(UsageError::err(
                "capacity needs --slo, the objectives a level must meet: e.g. \
                 --slo ttft:p95=500ms or --slo ttft=500ms,e2e=20s",
            ));
        }
        if by == CapacityBy::Concurrency && (load.arrival.is_some() || load.burstiness.is_some()) {
            return Err(UsageError::err(
                "--arrival and --burstiness space open-loop sends: use them with --by rate",
            ));
        }
        if load.samples_file.is_some() {
            return Err(UsageError::err(
                "--samples-file is not supported by capacity: run `ollabench load` at the \
                 capacity found to stream its requests",
            ));
        }
        // `load` validates the shared flags; the level stands in for the shape, which the
        // search replaces probe by probe.
        match by {
            CapacityBy::Rate => load.request_rate = vec![search.start],
            CapacityBy::Concurrency => load.concurrency = vec![search.start as u32],
        }
        let output = load.output.take().unwrap_or_else(|| {
            PathBuf::from(format!(
                "capacity-{}.json",
                chrono::Local::now().format("%Y%m%d-%H%M%S")
            ))
        });
        let load = LoadOptions {
            output,
            ..LoadOptions::try_from(load)?
        };
        Ok(CapacityOptions { load, search })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn options(args: &[&str]) -> anyhow::Result<CapacityOptions> {
        let cli = crate::cli::Cli::try_parse_from(
            ["ollabench", "capacity", "--endpoint", "http://127.0.0.1:1"]
                .iter()
                .chain(args),
        )?;
        match cli.command {
            crate::cli::Command::Capacity(args) => CapacityOptions::try_from(args),
            _ => unreachable!("the command line names capacity"),
        }
    }

    fn error(args: &[&str]) -> String {
        format!("{:#}", options(args).unwrap_err())
    }

    #[test]
    fn defaults_search_rates_at_95_percent_to_10_percent() {
        let o = options(&["--slo", "ttft:p95=500ms"]).unwrap();
        assert_eq!(o.search.by, CapacityBy::Rate);
        assert_eq!((o.search.attainment, o.search.precision), (0.95, 0.10));
        assert_eq!((o.search.start, o.search.max_probes), (1.0, 12));
        assert!(o.load.output.to_string_lossy().starts_with("capacity-"));
        let o = options(&[
            "--slo",
            "e2e=2s",
            "--by",
            "concurrency",
            "--start",
            "4",
            "--attainment",
            "99%",
            "--precision",
            "5%",
            "--max-probes",
            "6",
            "--requests",
            "20",
        ])
        .unwrap();
        assert_eq!(o.search.by, CapacityBy::Concurrency);
        assert_eq!(
            (o.search.start, o.search.attainment, o.search.max_probes),
            (4.0, 0.99, 6)
        );
    }

    #[test]
    fn bad_flags_say_what_to_do() {
        assert!(error(&[]).contains("capacity needs --slo"));
        assert!(error(&["--slo", "ttft=1s", "--attainment", "0.95"]).contains("such as 95%"));
        assert!(error(&["--slo", "ttft=1s", "--precision", "0%"]).contains("above 0%"));
        assert!(error(&["--slo", "ttft=1s", "--request-rate", "2"]).contains("drop --concurrency"));
        assert!(error(&[
            "--slo",
            "ttft=1s",
            "--by",
            "concurrency",
            "--arrival",
            "constant"
        ])
        .contains("--by rate"));
        assert!(error(&["--slo", "ttft=500"]).contains("--slo 'ttft=500'"));
        assert!(error(&["--slo", "ttft=1s", "--requests", "0"]).contains("at least 1"));
    }
}

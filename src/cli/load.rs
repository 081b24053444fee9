//! Flags of `ollabench load`, and their validation into [`LoadOptions`]: the target flags every
//! command shares, the model and prompt, the load shape (closed-loop `--concurrency`, open-loop
//! `--request-rate` or `--sweep auto`), arrivals, the in-flight cap, each step's length and
//! warmup, the SLO and where results go.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::bench::{ConsoleArgs, EndpointArgs, WorkloadArgs};
use crate::analysis::slo::Slo;
use crate::backend::Route;
use crate::config::defaults;
use crate::config::load::{
    ArrivalKind, LoadOptions, LoadShape, RunLength, DEFAULT_REQUESTS, MAX_CONCURRENCY,
    MAX_REQUESTS, SWEEP_STEPS,
};
use crate::config::parse_duration;
use crate::exit::{Ctx, Outcome, UsageError};
use crate::prompts::{Prompt, PromptLength};
use crate::scenario::load;

/// `--arrival`: the gaps between open-loop sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Arrival {
    /// Every gap is 1 / rate.
    Constant,
    /// Exponential gaps: a Poisson process (the default).
    Poisson,
    /// Gamma gaps; --burstiness sets their shape.
    Gamma,
}

/// `--sweep`: steps chosen by ollabench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sweep {
    /// Single-stream and saturated throughput first, then --sweep-steps rates between them.
    Auto,
}

/// Flags of `ollabench load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// Model to load.
    #[arg(long, default_value = defaults::MODEL)]
    pub model: String,
    /// Built-in prompt: short, medium, long or very-long.
    #[arg(long, default_value = "short", conflicts_with = "prompt")]
    pub prompt_length: String,
    /// A literal prompt instead of a built-in one.
    #[arg(long, value_name = "TEXT")]
    pub prompt: Option<String>,
    /// Tokens to generate per request (num_predict / max_tokens).
    #[arg(long, default_value_t = defaults::GENERATION_TOKENS, allow_negative_numbers = true)]
    pub max_tokens: u32,
    /// Use /api/chat instead of /api/generate (Ollama), or /v1/completions instead of
    /// /v1/chat/completions (OpenAI).
    #[arg(long)]
    pub alternate_route: bool,
    /// Closed loop: requests kept in flight; a list (1,2,4) measures one step each.
    /// The default when no load shape is given: 1.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true,
          conflicts_with_all = ["request_rate", "sweep"])]
    pub concurrency: Vec<u32>,
    /// Open loop: requests sent per second, whether or not earlier ones have finished; a list
    /// (0.5,1,2) measures one step each.
    #[arg(
        long,
        value_delimiter = ',',
        allow_negative_numbers = true,
        conflicts_with = "sweep"
    )]
    pub request_rate: Vec<f64>,
    /// `auto`: measure single-stream (concurrency 1) and saturated (a closed loop at high
    /// concurrency) throughput, then --sweep-steps open-loop rates between them.
    #[arg(long, value_enum)]
    pub sweep: Option<Sweep>,
    /// Open-loop rates of --sweep auto.
    #[arg(long, default_value_t = SWEEP_STEPS, requires = "sweep")]
    pub sweep_steps: usize,
    /// Open loop: how sends are spaced [default: poisson].
    #[arg(long, value_enum)]
    pub arrival: Option<Arrival>,
    /// Gamma arrivals' shape: 1 is Poisson, below 1 burstier, above 1 more even.
    #[arg(long, allow_negative_numbers = true)]
    pub burstiness: Option<f64>,
    /// Seed of the random arrivals: one seed, one schedule.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The most requests in flight at once. An open-loop send that finds it full waits for a
    /// slot; such requests are counted, and their wait shows in the schedule lag.
    #[arg(long, allow_negative_numbers = true)]
    pub max_concurrency: Option<u32>,
    /// Requests per step [default: 100 unless --duration].
    #[arg(long, conflicts_with = "duration", allow_negative_numbers = true)]
    pub requests: Option<usize>,
    /// Time per step during which requests are started (e.g. 60s, 5m); those in flight then
    /// finish.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Warmup of each step, not measured: a count of requests with --requests (10), a time
    /// with --duration (10s).
    #[arg(long, value_name = "N|DURATION")]
    pub warmup: Option<String>,
    /// Service-level objectives, any subset: ttft=500ms,tpot=50ms,itl=100ms,e2e=20s; a
    /// percentile judges the step's distribution instead of each request (ttft:p95=500ms).
    #[arg(long, value_name = "SPEC")]
    pub slo: Option<String>,
    /// Stream one JSON line per measured request (scheduled and actual send offsets, TTFT,
    /// e2e, token counts, outcome) to this file.
    #[arg(long, value_name = "FILE")]
    pub samples_file: Option<PathBuf>,
    /// Where to write the JSON result [default: load-YYYYMMDD-HHMMSS.json].
    #[arg(long, visible_alias = "output-file")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub console: ConsoleArgs,
    #[command(flatten)]
    pub workload: WorkloadArgs,
}

impl LoadArgs {
    pub async fn execute(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let console = self.console.options();
        let options = LoadOptions::try_from(self)?;
        load::run(options, ctx, console).await
    }
}

impl TryFrom<LoadArgs> for LoadOptions {
    type Error = anyhow::Error;

    fn try_from(args: LoadArgs) -> anyhow::Result<LoadOptions> {
        let model = args.model.trim().to_string();
        if model.is_empty() {
            return Err(UsageError::err(
                "--model is empty: name a model, e.g. --model llama3.1:8b",
            ));
        }
        // A simulated node already has the model a load test assumes is there.
        let target = args
            .endpoint
            .to_options()?
            .with_preloaded(std::slice::from_ref(&model));
        let prompt = match &args.prompt {
            Some(text) if text.trim().is_empty() => {
                return Err(UsageError::err("--prompt is empty: give the prompt's text"))
            }
            Some(text) => Prompt {
                name: "Custom".into(),
                text: text.clone(),
                kind: crate::prompts::PromptKind::Text,
            },
            None => Prompt::builtin(PromptLength::parse(&args.prompt_length).ok_or_else(|| {
                UsageError::err(format!(
                    "unknown prompt length '{}': use short, medium, long or very-long",
                    args.prompt_length
                ))
            })?),
        };
        if args.max_tokens == 0 {
            return Err(UsageError::err("--max-tokens must be at least 1"));
        }
        let shape = shape(&args)?;
        let open = !matches!(shape, LoadShape::Concurrency(_));
        let arrival = arrival(&args, open)?;
        if args.max_concurrency == Some(0) || args.max_concurrency > Some(MAX_CONCURRENCY) {
            return Err(UsageError::err(format!(
                "--max-concurrency must be 1 to {MAX_CONCURRENCY}"
            )));
        }
        let length = match (args.requests, args.duration) {
            (Some(0), _) => return Err(UsageError::err("--requests must be at least 1")),
            (Some(n), _) if n > MAX_REQUESTS => {
                return Err(UsageError::err(format!(
                    "--requests goes up to {MAX_REQUESTS}; for longer runs use --duration"
                )))
            }
            (Some(n), _) => RunLength::Requests(n),
            (None, Some(d)) => RunLength::Duration(d),
            (None, None) => RunLength::Requests(DEFAULT_REQUESTS),
        };
        let warmup = args
            .warmup
            .as_deref()
            .map(|raw| warmup(raw, length))
            .transpose()?
            .flatten();
        let slo = args
            .slo
            .as_deref()
            .map(|raw| {
                raw.parse::<Slo>()
                    .map_err(|err| UsageError::err(format!("--slo '{raw}': {err}")))
            })
            .transpose()?;
        let output = args.output.unwrap_or_else(|| {
            PathBuf::from(format!(
                "load-{}.json",
                chrono::Local::now().format("%Y%m%d-%H%M%S")
            ))
        });
        if args.samples_file.as_ref() == Some(&output) {
            return Err(UsageError::err(
                "--samples-file and --output name the same file: give each its own",
            ));
        }
        let (mut prompts, workload) =
            args.workload
                .apply(vec![prompt], crate::results::Sampling::default(), None)?;
        if prompts.len() != 1 {
            return Err(UsageError::err(
                "--input-tokens takes one size here: a load run sends one kind of prompt",
            ));
        }
        Ok(LoadOptions {
            target,
            model,
            prompt: prompts.remove(0),
            max_tokens: args.workload.generation_tokens(args.max_tokens),
            workload,
            calibrated: None,
            numbers: Default::default(),
            route: if args.alternate_route {
                Route::Chat
            } else {
                Route::Generate
            },
            shape,
            arrival,
            seed: args.seed,
            max_concurrency: args.max_concurrency,
            length,
            warmup,
            slo,
            samples_file: args.samples_file,
            output,
        })
    }
}

/// The steps asked for: concurrencies, rates or the automatic sweep (clap has already refused
/// two of them together).
fn shape(args: &LoadArgs) -> anyhow::Result<LoadShape> {
    if args.sweep.is_some() {
        if args.sweep_steps == 0 || args.sweep_steps > 100 {
            return Err(UsageError::err("--sweep-steps must be 1 to 100"));
        }
        return Ok(LoadShape::Auto {
            steps: args.sweep_steps,
        });
    }
    if !args.request_rate.is_empty() {
        let mut rates: Vec<f64> = Vec::new();
        for &rate in &args.request_rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(UsageError::err(format!(
                    "--request-rate {rate} is not a rate: give positive requests per second, \
                     e.g. --request-rate 0.5,1,2"
                )));
            }
            if !rates.contains(&rate) {
                rates.push(rate);
            }
        }
        return Ok(LoadShape::Rates(rates));
    }
    let mut levels: Vec<u32> = Vec::new();
    for &level in &args.concurrency {
        if level == 0 || level > MAX_CONCURRENCY {
            return Err(UsageError::err(format!(
                "--concurrency {level} is out of range: use 1 to {MAX_CONCURRENCY}"
            )));
        }
        if !levels.contains(&level) {
            levels.push(level);
        }
    }
    if levels.is_empty() {
        levels.push(1);
    }
    Ok(LoadShape::Concurrency(levels))
}

fn arrival(args: &LoadArgs, open: bool) -> anyhow::Result<ArrivalKind> {
    if !open && (args.arrival.is_some() || args.burstiness.is_some()) {
        return Err(UsageError::err(
            "--arrival and --burstiness shape open loops: use them with --request-rate or \
             --sweep auto, not with --concurrency",
        ));
    }
    match (args.arrival.unwrap_or(Arrival::Poisson), args.burstiness) {
        (Arrival::Gamma, Some(burstiness)) if burstiness.is_finite() && burstiness > 0.0 => {
            Ok(ArrivalKind::Gamma { burstiness })
        }
        (Arrival::Gamma, Some(burstiness)) => Err(UsageError::err(format!(
            "--burstiness must be a positive number (got {burstiness}); 1 is a Poisson \
             process, below 1 burstier, above 1 more even"
        ))),
        (Arrival::Gamma, None) => Err(UsageError::err(
            "--arrival gamma needs --burstiness (e.g. 0.5 for bursts, 1 for Poisson, 4 for \
             more even sends)",
        )),
        (_, Some(_)) => Err(UsageError::err(
            "--burstiness only applies to --arrival gamma",
        )),
        (Arrival::Constant, None) => Ok(ArrivalKind::Constant),
        (Arrival::Poisson, None) => Ok(ArrivalKind::Poisson),
    }
}

/// `--warmup`: a count (`10`) with `--requests`, a time (`10s`) with `--duration`; `0` or
/// `0s` means none.
fn warmup(raw: &str, length: RunLength) -> anyhow::Result<Option<RunLength>> {
    let raw = raw.trim();
    let warmup = if raw.chars().all(|c| c.is_ascii_digit()) && !raw.is_empty() {
        let count: usize = raw
            .parse()
            .map_err(|_| UsageError::err(format!("--warmup {raw} is too large")))?;
        if count == 0 {
            return Ok(None);
        }
        RunLength::Requests(count)
    } else if raw.chars().any(|c| c.is_ascii_alphabetic()) {
        if raw
            .trim_end_matches(|c: char| c.is_ascii_alphabetic())
            .trim()
            == "0"
        {
            return Ok(None);
        }
        RunLength::Duration(
            parse_duration(raw).map_err(|err| UsageError::err(format!("--warmup: {err}")))?,
        )
    } else {
        return Err(UsageError::err(format!(
            "--warmup '{raw}': give a count of requests (10) or a time with its unit (10s)"
        )));
    };
    match (warmup, length) {
        (RunLength::Requests(_), RunLength::Requests(_))
        | (RunLength::Duration(_), RunLength::Duration(_)) => Ok(Some(warmup)),
        _ => Err(UsageError::err(load::WARMUP_KIND)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn options(args: &[&str]) -> anyhow::Result<LoadOptions> {
        let cli = crate::cli::Cli::try_parse_from(
            ["ollabench", "load", "--endpoint", "http://127.0.0.1:1"]
                .iter()
                .chain(args),
        )?;
        match cli.command {
            crate::cli::Command::Load(args) => LoadOptions::try_from(args),
            _ => unreachable!("the command line names load"),
        }
    }

    fn error(args: &[&str]) -> String {
        format!("{:#}", options(args).unwrap_err())
    }

    #[test]
    fn defaults_are_one_closed_stream_of_a_hundred_requests() {
        let o = options(&[]).unwrap();
        assert_eq!(o.shape, LoadShape::Concurrency(vec![1]));
        assert_eq!(o.length, RunLength::Requests(DEFAULT_REQUESTS));
        assert_eq!(o.arrival, ArrivalKind::Poisson);
        assert_eq!(o.warmup, None);
        assert!(o.output.to_string_lossy().starts_with("load-"));
        assert_eq!(o.prompt.name, "Short");
    }

    #[test]
    fn shapes_lengths_and_warmups_are_typed() {
        let o = options(&[
            "--request-rate",
            "0.5,2,2",
            "--arrival",
            "gamma",
            "--burstiness",
            "0.5",
            "--duration",
            "30s",
            "--warmup",
            "5s",
            "--slo",
            "ttft:p95=500ms,e2e=20s",
            "--max-concurrency",
            "8",
        ])
        .unwrap();
        assert_eq!(o.shape, LoadShape::Rates(vec![0.5, 2.0]));
        assert_eq!(o.arrival, ArrivalKind::Gamma { burstiness: 0.5 });
        assert_eq!(o.length, RunLength::Duration(Duration::from_secs(30)));
        assert_eq!(o.warmup, Some(RunLength::Duration(Duration::from_secs(5))));
        assert_eq!(o.slo.unwrap().objectives.len(), 2);
        assert_eq!(o.max_concurrency, Some(8));
        let o = options(&["--concurrency", "1,4", "--requests", "20", "--warmup", "3"]).unwrap();
        assert_eq!(o.shape, LoadShape::Concurrency(vec![1, 4]));
        assert_eq!(o.warmup, Some(RunLength::Requests(3)));
        let o = options(&["--sweep", "auto", "--sweep-steps", "3"]).unwrap();
        assert_eq!(o.shape, LoadShape::Auto { steps: 3 });
    }

    #[test]
    fn bad_combinations_say_what_to_do() {
        assert!(error(&["--burstiness", "2", "--request-rate", "1"]).contains("--arrival gamma"));
        assert!(
            error(&["--arrival", "gamma", "--request-rate", "1"]).contains("needs --burstiness")
        );
        assert!(error(&["--arrival", "constant"]).contains("open loops"));
        assert!(error(&["--request-rate", "0"]).contains("positive requests per second"));
        assert!(error(&["--concurrency", "0"]).contains("1 to"));
        assert!(error(&["--warmup", "10s"]).contains("same kind"));
        assert!(error(&["--duration", "1m", "--warmup", "10"]).contains("same kind"));
        assert!(error(&["--warmup", "1.5"]).contains("with its unit"));
        assert!(error(&["--slo", "ttft=500"]).contains("--slo 'ttft=500'"));
        assert!(error(&["--slo", "speed=1s"]).contains("unknown metric"));
        assert!(error(&["--requests", "0"]).contains("at least 1"));
        assert!(error(&["--max-concurrency", "0"]).contains("--max-concurrency"));
        assert!(error(&["--prompt-length", "huge"]).contains("unknown prompt length"));
        assert!(error(&["--concurrency", "2", "--request-rate", "1"]).contains("cannot be used"));
        assert!(error(&["--output", "x.json", "--samples-file", "x.json"]).contains("same file"));
    }
}

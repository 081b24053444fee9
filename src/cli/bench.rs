//! Flags shared by every command that talks to a server (endpoint, API, timeouts, Kubernetes,
//! the in-process simulator), and the flags of test-connection, single-user and
//! tokens-per-second.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::config::defaults;
use crate::config::simulator_setting;
pub use crate::config::{normalize_endpoint, parse_duration, ApiKind};
use crate::config::{TargetOptions, TargetSpec, Think};
use crate::exit::{ConfigError, Ctx, Outcome};
use crate::output::export::{ConsoleOptions, Format};
use crate::scenario::{single_user, test_connection, tokens_per_second};

/// Where the server is and how to reach it.
#[derive(Debug, Clone, Args)]
pub struct EndpointArgs {
    /// Server URL; `host:port` without a scheme is accepted, as Ollama does.
    /// Default: $OLLAMA_HOST, else http://localhost:11434.
    #[arg(long, visible_alias = "ollama-endpoint", env = "OLLAMA_HOST")]
    pub endpoint: Option<String>,
    /// Which API to speak.
    #[arg(long, value_enum, default_value_t = ApiKind::Ollama)]
    pub api: ApiKind,
    /// API key for OpenAI-compatible servers (never written to a file or a log).
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Start the built-in simulator in-process on a free port and run against it
    /// (profile: t4, a100, h100, cpu).
    #[arg(long, value_name = "PROFILE", num_args = 0..=1, default_missing_value = "t4")]
    pub simulate: Option<String>,
    /// With --simulate: multiply every simulated delay by this factor (default 0.1 for every
    /// command, so that the whole suite takes about a minute).
    #[arg(
        long,
        value_name = "FACTOR",
        requires = "simulate",
        allow_negative_numbers = true
    )]
    pub time_scale: Option<f64>,
    /// Reach the service through `kubectl port-forward`, managed by ollabench.
    #[arg(long)]
    pub use_port_forward: bool,
    /// Kubernetes namespace of the Ollama service.
    #[arg(long, default_value = defaults::NAMESPACE)]
    pub namespace: String,
    /// Kubernetes service name.
    #[arg(long, default_value = defaults::SERVICE)]
    pub service: String,
    /// Local port for the port-forward (0 picks a free one).
    #[arg(long, default_value_t = defaults::OLLAMA_PORT, allow_negative_numbers = true)]
    pub local_port: u16,
    /// The service's port.
    #[arg(long, default_value_t = defaults::OLLAMA_PORT, allow_negative_numbers = true)]
    pub remote_port: u16,
    /// The kubectl binary.
    #[arg(long, value_name = "PATH", default_value = "kubectl")]
    pub kubectl: PathBuf,
    /// How long to wait for a TCP connection (e.g. 10s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// How long to wait for the first byte of a response.
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = parse_duration)]
    pub first_byte_timeout: Duration,
    /// How long a whole request may take (downloads of large models need long).
    #[arg(long, value_name = "DURATION", default_value = "3600s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Show kubectl's own output when finding the endpoint fails (a plain line otherwise).
    #[arg(long)]
    pub verbose: bool,
}

impl EndpointArgs {
    /// The validated target options.
    pub fn to_options(&self) -> Result<TargetOptions, ConfigError> {
        let spec = if let Some(profile) = &self.simulate {
            if self.use_port_forward {
                return Err(ConfigError::Conflict {
                    first: "--simulate",
                    second: "--use-port-forward",
                    advice: "pick one",
                });
            }
            crate::sim::SimConfig::with_profile(profile).map_err(simulator_setting)?;
            // One default for every command: `run --simulate` and `tps --simulate` of the same
            // node give the same numbers.
            let time_scale = self.time_scale.unwrap_or(defaults::SIMULATOR_TIME_SCALE);
            if !(time_scale.is_finite() && time_scale > 0.0) {
                return Err(ConfigError::NotPositive {
                    flag: "--time-scale",
                    value: time_scale,
                });
            }
            TargetSpec::Simulate {
                profile: profile.clone(),
                time_scale,
                preload: Vec::new(),
            }
        } else if self.use_port_forward {
            TargetSpec::PortForward(crate::kube::PortForwardOptions {
                kubectl: self.kubectl.clone(),
                namespace: self.namespace.clone(),
                service: self.service.clone(),
                local_port: self.local_port,
                remote_port: self.remote_port,
            })
        } else if let Some(endpoint) = &self.endpoint {
            TargetSpec::Endpoint(normalize_endpoint(endpoint)?)
        } else {
            TargetSpec::Default
        };
        Ok(TargetOptions {
            spec,
            api: self.api,
            api_key: self.api_key.clone(),
            kubectl: self.kubectl.clone(),
            namespace: self.namespace.clone(),
            service: self.service.clone(),
            timeouts: crate::backend::Timeouts {
                connect: self.connect_timeout,
                first_byte: self.first_byte_timeout,
                total: self.request_timeout,
            },
            verbose: self.verbose,
        })
    }
}

/// How single-user, multi-user and run get models onto an Ollama server.
#[derive(Debug, Clone, Args)]
pub struct DownloadArgs {
    /// Delete the model first so that the download is measured (destructive).
    #[arg(long, conflicts_with = "skip_download")]
    pub redownload: bool,
    /// Never pull: measure load and generation of the models the server already has (for
    /// servers that cannot reach a registry). The download is recorded as Skipped.
    #[arg(long)]
    pub skip_download: bool,
    /// Let the server pull over plain HTTP (`"insecure": true`), for a private registry such
    /// as `--model 10.0.0.5:5000/library/smollm2:135m`.
    #[arg(long)]
    pub insecure: bool,
}

impl DownloadArgs {
    /// The validated policy.
    pub fn policy(&self) -> Result<crate::scenario::download::DownloadPolicy, ConfigError> {
        if self.skip_download && self.insecure {
            return Err(ConfigError::Conflict {
                first: "--insecure",
                second: "--skip-download",
                advice: "--insecure only matters for pulls, and --skip-download never pulls; \
                         drop one",
            });
        }
        Ok(crate::scenario::download::DownloadPolicy {
            redownload: self.redownload,
            skip_download: self.skip_download,
            insecure: self.insecure,
        })
    }
}

/// `--output`, the result file of a scenario; `F` names its default.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs<F: ResultFileName> {
    /// Where to write the JSON result.
    #[arg(long, visible_alias = "output-file", default_value = F::DEFAULT)]
    pub output: PathBuf,
    #[arg(skip)]
    file: PhantomData<F>,
}

/// The file a scenario writes its result to when `--output` is not given.
pub trait ResultFileName: Clone + Send + Sync + 'static {
    const DEFAULT: &'static str;
}

macro_rules! result_file_names {
    ($($name:ident = $file:literal),* $(,)?) => {$(
        #[doc = concat!("`", $file, "`")]
        #[derive(Debug, Clone)]
        pub struct $name;

        impl ResultFileName for $name {
            const DEFAULT: &'static str = $file;
        }
    )*};
}

result_file_names! {
    SingleUserFile = "single-user-results.json",
    TokensPerSecondFile = "tokens-per-second-results.json",
    MultiUserFile = "multi-user-results.json",
}

/// What a benchmark command prints at its end, and how much it says on the way.
#[derive(Debug, Clone, Args)]
pub struct ConsoleArgs {
    /// What to print on stdout at the end: human tables, or the result as JSON (the same
    /// document as the file), CSV or Markdown rows. Progress and logs then go to stderr.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print nothing but errors and the --format output.
    #[arg(long, short)]
    pub quiet: bool,
}

impl ConsoleArgs {
    pub fn options(&self) -> ConsoleOptions {
        ConsoleOptions {
            format: self.format,
            quiet: self.quiet,
        }
    }
}

/// Flags of `ollabench test-connection`.
#[derive(Debug, Args)]
pub struct TestConnectionArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
}

impl TestConnectionArgs {
    pub async fn execute(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        test_connection::run(self.endpoint.to_options()?, ctx).await
    }
}

/// Flags of `ollabench single-user`.
#[derive(Debug, Args)]
pub struct SingleUserArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// Model to benchmark.
    #[arg(long, default_value = defaults::MODEL)]
    pub model: String,
    #[command(flatten)]
    pub output: OutputArgs<SingleUserFile>,
    #[command(flatten)]
    pub download: DownloadArgs,
    #[command(flatten)]
    pub console: ConsoleArgs,
    /// A command run (through `sh -c`) before the cold load, e.g. one that drops the node's
    /// page cache with `kubectl exec`.
    #[arg(long, value_name = "CMD")]
    pub drop_caches_cmd: Option<String>,
    /// Tokens to generate for the throughput check.
    #[arg(long, default_value_t = defaults::GENERATION_TOKENS, allow_negative_numbers = true)]
    pub generation_tokens: u32,
    #[command(flatten)]
    pub think: ThinkArgs,
}

/// `--think`, shared by the commands that generate.
#[derive(Debug, Clone, Args)]
pub struct ThinkArgs {
    /// Whether a thinking model (deepseek-r1, qwen3) thinks: Ollama's `think`; on OpenAI
    /// chat, `chat_template_kwargs.enable_thinking` (vLLM, SGLang, llama.cpp) and Ollama's
    /// `reasoning.effort: none` for off. Default: not sent, the server decides.
    #[arg(long, value_enum, value_name = "on|off")]
    pub think: Option<Think>,
}

impl ThinkArgs {
    /// The request's `think`.
    pub fn requested(&self) -> Option<bool> {
        Think::requested(self.think)
    }
}

impl SingleUserArgs {
    pub async fn execute(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let options = single_user::SingleUserOptions {
            target: self.endpoint.to_options()?,
            model: self.model,
            output: self.output.output,
            download: self.download.policy()?,
            drop_caches_cmd: self.drop_caches_cmd,
            generation_tokens: self.generation_tokens,
            think: self.think.requested(),
        };
        single_user::run(options, ctx, self.console.options()).await
    }
}

/// What each request sends, shared by every command that measures generations: prompt sizes
/// in the model's tokens, forced output lengths, prefix caching, Ollama's context, sampling
/// and datasets.
#[derive(Debug, Clone, Args)]
pub struct WorkloadArgs {
    /// Prompt sizes in the target model's tokens instead of the categories, calibrated
    /// against the server's own count (no tokenizer); a list sweeps context depth:
    /// 128,1k,4k,16k.
    #[arg(long, value_delimiter = ',', value_name = "TOKENS")]
    pub input_tokens: Vec<String>,
    /// Draw each request's size from a normal distribution around each --input-tokens size
    /// with this standard deviation (tokens).
    #[arg(long, value_name = "TOKENS", requires = "input_tokens")]
    pub input_tokens_stddev: Option<f64>,
    /// Generate exactly N tokens per request: sets the token limit (and wins over the
    /// command's own limit flag), and the generation does not stop early where the server
    /// allows it (Ollama: stop sequences cleared; vLLM: ignore_eos, min_tokens; llama.cpp:
    /// n_predict, ignore_eos).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub output_tokens: Option<u32>,
    /// A distinct opening per request, so that no prefix cache serves it (the default for
    /// --input-tokens).
    #[arg(long, conflicts_with = "shared_prefix")]
    pub unique_prefix: bool,
    /// The first N tokens of every request are the same (to measure prefix-cache hits);
    /// with --input-tokens.
    #[arg(long, value_name = "TOKENS")]
    pub shared_prefix: Option<String>,
    /// Ollama's context length for every request (default with --input-tokens: the largest
    /// size plus the output, rounded up to 1,024).
    #[arg(long, value_name = "TOKENS")]
    pub num_ctx: Option<String>,
}

/// Sampling flags passed through to every API and recorded in the provenance.
#[derive(Debug, Clone, Args)]
pub struct SamplingArgs {
    /// Sampling temperature, passed through (default: the server's).
    #[arg(long, allow_negative_numbers = true)]
    pub temperature: Option<f64>,
    /// Sampling seed, passed through.
    #[arg(long, allow_negative_numbers = true)]
    pub seed: Option<i64>,
    /// Nucleus sampling, passed through (0 < p <= 1).
    #[arg(long, allow_negative_numbers = true)]
    pub top_p: Option<f64>,
}

impl SamplingArgs {
    /// The validated settings.
    pub fn sampling(&self) -> Result<crate::results::Sampling, ConfigError> {
        if self
            .temperature
            .is_some_and(|t| !(t.is_finite() && t >= 0.0))
        {
            return Err(ConfigError::OutOfRange {
                flag: "--temperature",
                value: format!("{}", self.temperature.unwrap_or_default()),
                expected: "a number of 0 or more".into(),
            });
        }
        if self.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            return Err(ConfigError::OutOfRange {
                flag: "--top-p",
                value: format!("{}", self.top_p.unwrap_or_default()),
                expected: "a number above 0 and at most 1".into(),
            });
        }
        Ok(crate::results::Sampling {
            temperature: self.temperature,
            seed: self.seed,
            top_p: self.top_p,
        })
    }
}

/// `--dataset`: the user's own prompts.
#[derive(Debug, Clone, Args)]
pub struct DatasetArgs {
    /// Prompts from a JSONL file: `{"prompt": ..., "output_tokens": N}` or ShareGPT's
    /// `{"conversations": [...]}` a line; malformed lines are refused by number.
    #[arg(long, value_name = "FILE")]
    pub dataset: Option<PathBuf>,
    /// Skip a dataset's malformed lines (listed in the result) instead of refusing the file.
    #[arg(long, requires = "dataset")]
    pub dataset_skip_bad: bool,
}

/// `--flag` holds a token count (`128`, `1k`).
fn token_count(flag: &'static str, raw: &str) -> Result<u64, ConfigError> {
    crate::workload::parse_token_count(raw).map_err(|reason| ConfigError::Rejected { flag, reason })
}

impl WorkloadArgs {
    /// The generation tokens (`--output-tokens` wins over `default`).
    pub fn generation_tokens(&self, default: u32) -> u32 {
        self.output_tokens.unwrap_or(default)
    }

    /// The prompts (`--input-tokens` and `--dataset` replace `prompts`) and the validated
    /// options.
    pub fn apply(
        &self,
        prompts: Vec<crate::prompts::Prompt>,
        sampling: crate::results::Sampling,
        dataset: Option<&DatasetArgs>,
    ) -> Result<
        (
            Vec<crate::prompts::Prompt>,
            crate::workload::WorkloadOptions,
        ),
        ConfigError,
    > {
        use crate::workload::{Prefix, WorkloadOptions};
        let sizes = self
            .input_tokens
            .iter()
            .filter(|raw| !raw.trim().is_empty())
            .map(|raw| token_count("--input-tokens", raw))
            .collect::<Result<Vec<_>, _>>()?;
        let sizes = sizes.into_iter().fold(Vec::new(), |mut unique, size| {
            if !unique.contains(&size) {
                unique.push(size);
            }
            unique
        });
        let prefix = match (&self.shared_prefix, self.unique_prefix) {
            (Some(raw), _) => Prefix::Shared(token_count("--shared-prefix", raw)?),
            (None, true) => Prefix::Unique,
            (None, false) => Prefix::Default,
        };
        let mut options = WorkloadOptions {
            input_tokens_stddev: self.input_tokens_stddev,
            force_output: self.output_tokens.is_some(),
            prefix,
            num_ctx: self
                .num_ctx
                .as_deref()
                .map(|raw| token_count("--num-ctx", raw))
                .transpose()?,
            sampling,
            skipped_dataset_lines: Vec::new(),
            dataset_path: None,
        };
        let dataset_path =
            dataset.and_then(|d| d.dataset.as_ref().map(|p| (p, d.dataset_skip_bad)));
        if dataset_path.is_some() && !sizes.is_empty() {
            return Err(ConfigError::Conflict {
                first: "--dataset",
                second: "--input-tokens",
                advice: "a dataset brings its own prompts; pick one",
            });
        }
        let prompts = if let Some((path, skip_bad)) = dataset_path {
            let dataset = crate::prompts::dataset::read_dataset(path, skip_bad)?;
            for bad in &dataset.skipped {
                crate::errln!("warning: --dataset {}: skipped {bad}", path.display());
            }
            options.skipped_dataset_lines =
                dataset.skipped.iter().map(ToString::to_string).collect();
            options.dataset_path = Some(path.display().to_string());
            vec![crate::workload::dataset_prompt(&dataset)]
        } else if !sizes.is_empty() {
            sizes
                .into_iter()
                .map(crate::prompts::Prompt::sized)
                .collect()
        } else {
            prompts
        };
        options.check(&prompts)?;
        Ok((prompts, options))
    }
}

/// Flags of `ollabench tokens-per-second`.
#[derive(Debug, Args)]
pub struct TokensPerSecondArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// Models to test (comma list or repeated).
    #[arg(long, value_delimiter = ',', default_values_t = defaults::TPS_MODELS.map(String::from))]
    pub models: Vec<String>,
    /// Prompt length categories: short, medium, long, very-long.
    #[arg(long, value_delimiter = ',', default_values_t = defaults::PROMPT_LENGTHS.map(String::from))]
    pub prompt_lengths: Vec<String>,
    /// Prompts from a file instead of the built-in texts: one prompt per line, or
    /// `NAME<TAB>TEXT` lines to name them.
    #[arg(long, value_name = "FILE")]
    pub prompts_file: Option<PathBuf>,
    /// Tokens to generate per request (num_predict / max_tokens).
    #[arg(long, default_value_t = defaults::GENERATION_TOKENS, allow_negative_numbers = true)]
    pub generation_tokens: u32,
    /// Warmup requests per model and prompt length, recorded but kept out of the statistics.
    #[arg(long, default_value_t = defaults::WARMUP_RUNS, allow_negative_numbers = true)]
    pub warmup_runs: u32,
    /// Measured runs per model and prompt length.
    #[arg(long, default_value_t = defaults::MEASUREMENT_RUNS, allow_negative_numbers = true)]
    pub measurement_runs: u32,
    /// Requests kept in flight; a list (1,2,4,8) sweeps them in one run.
    #[arg(long, value_delimiter = ',', default_values_t = [defaults::CONCURRENT_REQUESTS], allow_negative_numbers = true)]
    pub concurrent_requests: Vec<u32>,
    #[command(flatten)]
    pub output: OutputArgs<TokensPerSecondFile>,
    /// Use /api/chat instead of /api/generate (Ollama), or /v1/completions instead of
    /// /v1/chat/completions (OpenAI).
    #[arg(long)]
    pub alternate_route: bool,
    /// Keep every request's sample (timings, token counts, outcome) in the result file.
    /// Without it, cells carry summaries and mergeable histograms only.
    #[arg(long)]
    pub keep_samples: bool,
    #[command(flatten)]
    pub console: ConsoleArgs,
    #[command(flatten)]
    pub workload: WorkloadArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub dataset: DatasetArgs,
    #[command(flatten)]
    pub think: ThinkArgs,
}

impl TokensPerSecondArgs {
    pub fn to_options(
        &self,
        target: TargetOptions,
    ) -> Result<tokens_per_second::TpsOptions, ConfigError> {
        tokens_per_second::TpsOptions::validate(
            target,
            &self.models,
            &self.prompt_lengths,
            self.prompts_file.as_deref(),
            self.workload.generation_tokens(self.generation_tokens),
            self.warmup_runs,
            self.measurement_runs,
            &self.concurrent_requests,
            self.output.output.clone(),
            self.alternate_route,
        )
        .and_then(|options| {
            if self.prompts_file.is_some()
                && (self.dataset.dataset.is_some() || !self.workload.input_tokens.is_empty())
            {
                return Err(ConfigError::Conflict {
                    first: "--prompts-file",
                    second: "--input-tokens or --dataset",
                    advice: "each brings its own prompts; pick one",
                });
            }
            let (prompts, workload) = self.workload.apply(
                options.prompts.clone(),
                self.sampling.sampling()?,
                Some(&self.dataset),
            )?;
            Ok(tokens_per_second::TpsOptions {
                keep_samples: self.keep_samples,
                think: self.think.requested(),
                prompts,
                workload,
                ..options
            })
        })
    }

    pub async fn execute(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        // A simulated node already has the models a throughput test assumes are there.
        let target = self.endpoint.to_options()?.with_preloaded(&self.models);
        let options = self.to_options(target)?;
        tokens_per_second::run(options, ctx, self.console.options()).await
    }
}

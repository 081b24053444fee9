//! tokens-per-second's options, validated: models, prompts, runs, concurrency levels and the
//! route. The command line's strings are checked here once; the suite builds the same options
//! from typed values, without a round trip through strings.

use std::path::{Path, PathBuf};

use crate::backend::Route;
use crate::config::TargetOptions;
use crate::exit::ConfigError;
use crate::prompts::{read_prompts_file, Prompt, PromptLength};
use crate::workload::WorkloadOptions;

/// The most requests one batch may keep in flight.
const MAX_CONCURRENCY: u32 = 100_000;
/// The most warmup or measured runs per cell: enough for any soak, small enough that the
/// request count of a cell never overflows.
const MAX_RUNS: u32 = 1_000_000;

/// Validated options of a tokens-per-second run.
#[derive(Debug, Clone)]
pub struct TpsOptions {
    pub target: TargetOptions,
    pub models: Vec<String>,
    pub prompts: Vec<Prompt>,
    pub generation_tokens: u32,
    pub warmup_runs: u32,
    pub measurement_runs: u32,
    pub concurrency_levels: Vec<u32>,
    pub output: PathBuf,
    pub route: Route,
    /// Keep every request's sample in the file (`--keep-samples`); otherwise the cells carry
    /// their summaries and histograms only, so a file's size does not grow with the run.
    pub keep_samples: bool,
    /// Sizes in tokens, prefixes, forced output, sampling, Ollama's context.
    pub workload: WorkloadOptions,
    /// `--think`: `None` leaves the server's default.
    pub think: Option<bool>,
}

impl TpsOptions {
    /// Checks and normalizes the command line's values.
    #[allow(clippy::too_many_arguments)]
    pub fn validate(
        target: TargetOptions,
        models: &[String],
        prompt_lengths: &[String],
        prompts_file: Option<&Path>,
        generation_tokens: u32,
        warmup_runs: u32,
        measurement_runs: u32,
        concurrent_requests: &[u32],
        output: PathBuf,
        alternate_route: bool,
    ) -> Result<Self, ConfigError> {
        let unique_models = unique_models(models)?;
        let prompts = match prompts_file {
            Some(path) => read_prompts_file(path)?,
            None => {
                let lengths = prompt_lengths
                    .iter()
                    .filter(|p| !p.trim().is_empty())
                    .map(|raw| {
                        PromptLength::parse(raw).ok_or_else(|| ConfigError::Unknown {
                            what: "prompt length",
                            value: raw.to_string(),
                            expected: "short, medium, long or very-long".into(),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let lengths = super::first_of_each(lengths);
                if lengths.is_empty() {
                    return Err(ConfigError::Empty {
                        flag: "--prompt-lengths",
                        advice: "use e.g. short,medium,long",
                    });
                }
                lengths.into_iter().map(Prompt::builtin).collect()
            }
        };
        if generation_tokens < 2 {
            return Err(ConfigError::TooSmall {
                flag: "--generation-tokens",
                minimum: 2,
                reason: Some("tok/s needs tokens after the first"),
            });
        }
        if measurement_runs > MAX_RUNS || warmup_runs > MAX_RUNS {
            return Err(ConfigError::TooLarge {
                flags: "--measurement-runs and --warmup-runs",
                limit: MAX_RUNS.into(),
                advice: "for longer runs use several runs and `ollabench compare`",
            });
        }
        if measurement_runs == 0 {
            return Err(ConfigError::TooSmall {
                flag: "--measurement-runs",
                minimum: 1,
                reason: None,
            });
        }
        if let Some(level) = concurrent_requests
            .iter()
            .find(|&&level| level == 0 || level > MAX_CONCURRENCY)
        {
            return Err(ConfigError::OutOfRange {
                flag: "--concurrent-requests",
                value: level.to_string(),
                expected: format!("1 to {MAX_CONCURRENCY}"),
            });
        }
        let mut levels = super::first_of_each(concurrent_requests.iter().copied());
        if levels.is_empty() {
            levels.push(1);
        }
        Ok(TpsOptions {
            target,
            models: unique_models,
            prompts,
            generation_tokens,
            warmup_runs,
            measurement_runs,
            concurrency_levels: levels,
            output,
            keep_samples: false,
            workload: WorkloadOptions::default(),
            think: None,
            route: if alternate_route {
                Route::Chat
            } else {
                Route::Generate
            },
        })
    }

    /// The sizes asked for with `--input-tokens`, in order.
    pub fn input_tokens(&self) -> Vec<u64> {
        self.prompts
            .iter()
            .filter_map(Prompt::input_tokens)
            .collect()
    }

    /// Ollama's `num_ctx` for every request: `--num-ctx`, else set from the sizes asked for.
    pub fn num_ctx(&self) -> Option<u64> {
        let largest = self.input_tokens().into_iter().max();
        let largest = largest.map(|size| {
            // A drawn size may exceed the mean by four standard deviations.
            let spread = self.workload.input_tokens_stddev.unwrap_or(0.0) * 4.0;
            size + spread.ceil() as u64
        });
        self.workload.num_ctx_for(largest, self.generation_tokens)
    }

    /// Every request the run will send, warmups included.
    pub fn planned_requests(&self) -> u64 {
        let per_level: u64 = self
            .levels_to_measure()
            .iter()
            .map(|&level| u64::from(level) * u64::from(self.warmup_runs + self.measurement_runs))
            .sum();
        per_level * self.models.len() as u64 * self.prompts.len() as u64
    }

    /// The levels measured: the user's, plus a single-stream baseline when a level above 1
    /// needs one for its efficiency.
    pub fn levels_to_measure(&self) -> Vec<u32> {
        let mut levels = self.concurrency_levels.clone();
        if !levels.contains(&1) && levels.iter().any(|&l| l > 1) {
            levels.push(1);
        }
        levels
    }
}

impl TpsOptions {
    /// The reference's defaults for `run`'s throughput scenario: the built-in prompts of the
    /// default lengths, built from typed values.
    pub fn defaults(
        target: TargetOptions,
        models: &[String],
        output: PathBuf,
    ) -> Result<Self, ConfigError> {
        use crate::config::defaults;
        Ok(TpsOptions {
            target,
            models: unique_models(models)?,
            prompts: defaults::PROMPT_LENGTH_CATEGORIES
                .into_iter()
                .map(Prompt::builtin)
                .collect(),
            generation_tokens: defaults::GENERATION_TOKENS,
            warmup_runs: defaults::WARMUP_RUNS,
            measurement_runs: defaults::MEASUREMENT_RUNS,
            concurrency_levels: vec![defaults::CONCURRENT_REQUESTS],
            output,
            route: Route::Generate,
            keep_samples: false,
            workload: WorkloadOptions::default(),
            think: None,
        })
    }
}

/// The models named, trimmed, each once, in order; none is an error.
fn unique_models(models: &[String]) -> Result<Vec<String>, ConfigError> {
    let unique = super::first_of_each(
        models
            .iter()
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty()),
    );
    if unique.is_empty() {
        return Err(ConfigError::Empty {
            flag: "--models",
            advice: "name at least one model, e.g. --models llama3.1:8b",
        });
    }
    Ok(unique)
}

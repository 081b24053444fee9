//! What a measuring command sends, request by request: prompts sized in the target model's
//! tokens without a tokenizer ([`calibrate`]), a distinct or a shared prefix per request,
//! datasets, forced output lengths, sampling and Ollama's context length. Throughput, load and
//! capacity runs describe their work with [`WorkloadOptions`] and get each request from a
//! [`CellRequests`].

pub mod calibrate;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::backend::{GenerationRequest, Route};
use crate::exit::ConfigError;
use crate::prompts::dataset::Dataset;
use crate::prompts::filler::{filler_range, request_tag};
use crate::prompts::{Prompt, PromptKind};
use crate::results::Sampling;

pub use calibrate::{calibrate, Calibrated, TOLERANCE};

/// How requests open, which decides what a server's prefix cache can reuse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Prefix {
    /// Not chosen: sized prompts get a distinct opening, fixed texts and datasets are sent
    /// as they are.
    #[default]
    Default,
    /// `--unique-prefix`: every request opens differently, so nothing is served from a
    /// prefix cache.
    Unique,
    /// `--shared-prefix N`: the first N tokens are the same in every request (cache hits),
    /// the rest distinct.
    Shared(u64),
}

impl Prefix {
    /// The name in the result file.
    pub fn name(self, sized: bool) -> String {
        match self {
            Prefix::Default if sized => "unique".into(),
            Prefix::Default => "none".into(),
            Prefix::Unique => "unique".into(),
            Prefix::Shared(tokens) => format!("shared:{tokens}"),
        }
    }
}

/// The request-shaping options every measuring command shares.
#[derive(Debug, Clone, Default)]
pub struct WorkloadOptions {
    /// `--input-tokens-stddev`: sizes drawn around each requested size.
    pub input_tokens_stddev: Option<f64>,
    /// `--output-tokens`: generate exactly the requested tokens where the server allows.
    pub force_output: bool,
    pub prefix: Prefix,
    /// `--num-ctx`; `None` sets it from the sizes asked for (Ollama, sized prompts only).
    pub num_ctx: Option<u64>,
    pub sampling: Sampling,
    /// Lines `--dataset-skip-bad` skipped, for the result file.
    pub skipped_dataset_lines: Vec<String>,
    /// The dataset's path, for the result file.
    pub dataset_path: Option<String>,
}

/// Context tokens given beyond the largest prompt and output, so that a template or a few
/// calibration words more never truncate.
const CONTEXT_MARGIN: u64 = 256;

impl WorkloadOptions {
    /// Ollama's `num_ctx` for prompts up to `largest_input` tokens and `output` tokens out:
    /// `--num-ctx`, else the smallest multiple of 1,024 that holds both with a margin. `None`
    /// without sized prompts: the categories keep the server's default, as runs before did.
    pub fn num_ctx_for(&self, largest_input: Option<u64>, output: u32) -> Option<u64> {
        self.num_ctx.or_else(|| {
            let input = largest_input?;
            let needed = input + u64::from(output) + CONTEXT_MARGIN;
            Some(needed.div_ceil(1024) * 1024)
        })
    }

    /// Checks the prefix against the prompts: a shared prefix needs sized prompts longer
    /// than it.
    pub fn check(&self, prompts: &[Prompt]) -> Result<(), ConfigError> {
        if let Prefix::Shared(shared) = self.prefix {
            let smallest = prompts.iter().filter_map(Prompt::input_tokens).min();
            match smallest {
                None => {
                    return Err(ConfigError::Rejected {
                        flag: "--shared-prefix",
                        reason: "a shared prefix is counted in tokens: use it with \
                                 --input-tokens"
                            .into(),
                    })
                }
                Some(smallest) if shared >= smallest => {
                    return Err(ConfigError::Rejected {
                        flag: "--shared-prefix",
                        reason: format!(
                            "{shared} tokens is not less than the smallest --input-tokens \
                             ({smallest}): the prompts would have nothing of their own"
                        ),
                    })
                }
                Some(_) => {}
            }
        }
        if let Some(sd) = self.input_tokens_stddev {
            if !(sd.is_finite() && sd >= 0.0) {
                return Err(ConfigError::NotPositive {
                    flag: "--input-tokens-stddev",
                    value: sd,
                });
            }
        }
        Ok(())
    }
}

/// Parses a token count: `128`, `1k` or `1K` (1,024), `16k`.
pub fn parse_token_count(raw: &str) -> Result<u64, String> {
    let text = raw.trim();
    let (digits, factor) = match text.strip_suffix(['k', 'K']) {
        Some(digits) => (digits, 1024),
        None => (text, 1),
    };
    let value: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("'{raw}' is not a token count: use e.g. 128, 1k or 16k"))?;
    let tokens = value
        .checked_mul(factor)
        .filter(|&t| t > 0 && t <= 10_000_000)
        .ok_or_else(|| format!("'{raw}' is out of range: use 1 to 10,000,000 tokens"))?;
    Ok(tokens)
}

/// Prompts built from a dataset, one cell named `dataset`.
pub fn dataset_prompt(dataset: &Dataset) -> Prompt {
    Prompt {
        name: "dataset".into(),
        text: String::new(),
        kind: PromptKind::Dataset(Arc::new(dataset.entries.clone())),
    }
}

/// Numbers every request of a run, so that no two share a request tag (and so a cached
/// prefix), across cells and concurrency levels.
#[derive(Debug, Default, Clone)]
pub struct RequestNumbers(Arc<AtomicU64>);

impl RequestNumbers {
    /// Reserves `count` consecutive numbers and returns the first.
    pub fn reserve(&self, count: u64) -> u64 {
        self.0.fetch_add(count, Ordering::Relaxed)
    }
}

/// The requests of one cell: a model, a prompt, the run's options.
#[derive(Debug, Clone)]
pub struct CellRequests {
    base: GenerationRequest,
    body: Body,
    unique: bool,
    stddev: Option<f64>,
}

#[derive(Debug, Clone)]
enum Body {
    Text(String),
    Sized {
        requested: u64,
        words: usize,
        shared_words: usize,
        tokens_per_word: f64,
    },
    Dataset(Arc<Vec<crate::prompts::dataset::DatasetEntry>>),
}

impl CellRequests {
    /// The requests of `prompt` to `model`. Sized prompts need the model's calibration.
    pub fn new(
        model: &str,
        prompt: &Prompt,
        max_tokens: u32,
        route: Route,
        options: &WorkloadOptions,
        calibrated: Option<&Calibrated>,
        num_ctx: Option<u64>,
    ) -> Self {
        let mut base = GenerationRequest::new(model, prompt.text.clone(), max_tokens);
        base.route = route;
        base.temperature = options.sampling.temperature;
        base.seed = options.sampling.seed;
        base.top_p = options.sampling.top_p;
        base.force_output = options.force_output;
        base.num_ctx = num_ctx;
        let shared_words = match options.prefix {
            Prefix::Shared(tokens) => calibrated.map_or_else(
                || calibrate::estimated_words(tokens),
                |c| c.words_for_span(tokens),
            ),
            _ => 0,
        };
        let body = match &prompt.kind {
            PromptKind::Tokens(requested) => Body::Sized {
                requested: *requested,
                words: calibrated.map_or_else(
                    || calibrate::estimated_words(*requested),
                    |c| c.words_for(*requested),
                ),
                shared_words,
                tokens_per_word: calibrated.map_or(
                    calibrate::ESTIMATED_TOKENS_PER_WORD,
                    Calibrated::tokens_per_word,
                ),
            },
            PromptKind::Dataset(entries) => Body::Dataset(Arc::clone(entries)),
            PromptKind::Text => Body::Text(prompt.text.clone()),
        };
        let unique = match options.prefix {
            Prefix::Default => matches!(body, Body::Sized { .. }),
            Prefix::Unique | Prefix::Shared(_) => true,
        };
        CellRequests {
            base,
            body,
            unique,
            stddev: options.input_tokens_stddev.filter(|&sd| sd > 0.0),
        }
    }

    /// With `--think`: the thinking switch sent with every request.
    pub fn with_think(mut self, think: Option<bool>) -> Self {
        self.base.think = think;
        self
    }

    /// The size in tokens request `number` was built for, when prompts are sized.
    pub fn expected_prompt_tokens(&self, number: u64) -> Option<u64> {
        match &self.body {
            Body::Sized { requested, .. } => Some(self.drawn_size(*requested, number)),
            _ => None,
        }
    }

    /// The output tokens request `number` asks for.
    pub fn max_tokens(&self, number: u64) -> u32 {
        match &self.body {
            Body::Dataset(entries) if !entries.is_empty() => entries
                [(number % entries.len() as u64) as usize]
                .output_tokens
                .unwrap_or(self.base.max_tokens),
            _ => self.base.max_tokens,
        }
    }

    /// A size drawn around `requested` (`--input-tokens-stddev`), the same for the same
    /// request number.
    fn drawn_size(&self, requested: u64, number: u64) -> u64 {
        let Some(sd) = self.stddev else {
            return requested;
        };
        let drawn = requested as f64 + sd * standard_normal(number);
        drawn.round().max(1.0) as u64
    }

    /// Request `number` of the run.
    pub fn request(&self, number: u64) -> GenerationRequest {
        let mut request = self.base.clone();
        request.max_tokens = self.max_tokens(number);
        let tag = || request_tag(number);
        request.prompt = match &self.body {
            Body::Text(text) if self.unique => format!("{} {text}", tag()),
            Body::Text(text) => text.clone(),
            Body::Dataset(entries) => {
                let entry = &entries[(number % entries.len().max(1) as u64) as usize];
                if self.unique {
                    format!("{} {}", tag(), entry.prompt)
                } else {
                    entry.prompt.clone()
                }
            }
            Body::Sized {
                requested,
                words,
                shared_words,
                tokens_per_word,
            } => {
                let size = self.drawn_size(*requested, number);
                let extra = (size as f64 - *requested as f64) / tokens_per_word;
                let words = (*words as f64 + extra).round().max(1.0) as usize;
                let shared = (*shared_words).min(words);
                let opening = if self.unique {
                    format!("{} ", tag())
                } else {
                    String::new()
                };
                if shared > 0 {
                    format!(
                        "{} {opening}{}",
                        filler_range(0, shared),
                        filler_range(shared, words)
                    )
                } else {
                    format!("{opening}{}", filler_range(0, words))
                }
            }
        };
        request
    }
}

/// A standard normal draw fixed by `number` (Box-Muller on two hashed uniforms), so that a
/// run's sizes do not depend on the order requests start in.
fn standard_normal(number: u64) -> f64 {
    let uniform = |salt: u64| {
        let mut x = number.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
        x ^= x >> 30;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 27;
        x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let (u1, u2) = (uniform(1), uniform(2));
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_counts_read_plain_and_k() {
        assert_eq!(parse_token_count("128"), Ok(128));
        assert_eq!(parse_token_count("1k"), Ok(1024));
        assert_eq!(parse_token_count(" 16K "), Ok(16384));
        assert!(parse_token_count("0").is_err());
        assert!(parse_token_count("lots").is_err());
        assert!(parse_token_count("99999999999999999999k").is_err());
    }

    #[test]
    fn num_ctx_holds_the_largest_prompt_and_the_output() {
        let options = WorkloadOptions::default();
        assert_eq!(options.num_ctx_for(None, 100), None);
        assert_eq!(options.num_ctx_for(Some(4096), 100), Some(5120));
        assert_eq!(options.num_ctx_for(Some(128), 100), Some(1024));
        let fixed = WorkloadOptions {
            num_ctx: Some(2048),
            ..WorkloadOptions::default()
        };
        assert_eq!(fixed.num_ctx_for(Some(16384), 100), Some(2048));
    }

    fn requests_of(prefix: Prefix, stddev: Option<f64>) -> CellRequests {
        let options = WorkloadOptions {
            prefix,
            input_tokens_stddev: stddev,
            force_output: true,
            ..WorkloadOptions::default()
        };
        CellRequests::new(
            "m",
            &Prompt::sized(256),
            16,
            Route::Chat,
            &options,
            None,
            None,
        )
    }

    #[test]
    fn unique_prefixes_differ_at_once_and_shared_ones_share_their_words() {
        let unique = requests_of(Prefix::Default, None);
        let (a, b) = (unique.request(1), unique.request(2));
        assert_ne!(a.prompt[..20], b.prompt[..20], "distinct openings");
        assert_eq!(a.prompt.len(), b.prompt.len(), "one size for every request");
        assert!(a.force_output && a.route == Route::Chat && a.max_tokens == 16);

        let shared = requests_of(Prefix::Shared(64), None);
        let (a, b) = (shared.request(1), shared.request(2));
        let common = a
            .prompt
            .chars()
            .zip(b.prompt.chars())
            .take_while(|(x, y)| x == y)
            .count();
        let shared_words = calibrate::estimated_words(64);
        assert!(
            a.prompt[..common].split(' ').count() >= shared_words,
            "{common} characters shared"
        );
        assert_eq!(a.prompt.len(), b.prompt.len());

        // The categories are sent as they are unless a unique prefix is asked for.
        let text = Prompt::builtin(crate::prompts::PromptLength::Short);
        let plain = CellRequests::new(
            "m",
            &text,
            8,
            Route::Generate,
            &WorkloadOptions::default(),
            None,
            None,
        );
        assert_eq!(plain.request(3).prompt, text.text);
        let tagged = WorkloadOptions {
            prefix: Prefix::Unique,
            ..WorkloadOptions::default()
        };
        let tagged = CellRequests::new("m", &text, 8, Route::Generate, &tagged, None, None);
        assert!(tagged.request(3).prompt.ends_with(&text.text));
        assert_ne!(tagged.request(3).prompt, tagged.request(4).prompt);
    }

    #[test]
    fn drawn_sizes_spread_around_the_size_asked_for() {
        let requests = requests_of(Prefix::Default, Some(32.0));
        let sizes: Vec<u64> = (0..400)
            .map(|n| requests.expected_prompt_tokens(n).unwrap())
            .collect();
        let mean = sizes.iter().sum::<u64>() as f64 / sizes.len() as f64;
        assert!((mean - 256.0).abs() < 8.0, "{mean}");
        assert!(sizes.iter().any(|&s| s > 290) && sizes.iter().any(|&s| s < 220));
        let (short, long) = (requests.request(0), requests.request(1));
        let words = |r: &GenerationRequest| r.prompt.split(' ').count() as i64;
        let size_gap = requests.expected_prompt_tokens(1).unwrap() as i64
            - requests.expected_prompt_tokens(0).unwrap() as i64;
        assert_eq!(words(&long) > words(&short), size_gap > 0);
    }

    #[test]
    fn normal_draws_are_fixed_by_number_and_centred() {
        assert_eq!(standard_normal(7), standard_normal(7));
        let draws: Vec<f64> = (0..4000).map(standard_normal).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!(mean.abs() < 0.1, "{mean}");
        assert!((var.sqrt() - 1.0).abs() < 0.1, "{var}");
    }
}

//! Prompt sizes in the target model's tokens with no tokenizer: the server counts. Two probes
//! of filler text (32 and 256 words) give its tokens per word and the fixed overhead (the
//! chat template, the request tag); each requested size is then built, counted by the
//! server (Ollama `prompt_eval_count`, OpenAI `usage.prompt_tokens`) and corrected until the
//! count is within [`TOLERANCE`], at most [`MAX_TRIES`] times. The filler is one fixed word
//! sequence, so what was counted is exactly what is sent. A server that gives no counts or
//! truncates is recorded with the reason, never hidden.

use std::collections::BTreeMap;

use crate::backend::{Backend, GenerationRequest, RequestError, Route};
use crate::prompts::filler::{filler, request_tag};
use crate::results::tokens_per_second::{Calibration, CalibrationProbe, SizeFit};

use super::RequestNumbers;

/// How far the server's count may be from the size asked for (a fraction).
pub const TOLERANCE: f64 = 0.02;
/// Builds counted per size, the first included.
const MAX_TRIES: usize = 4;
/// A count this close needs no correction (a fraction): each try of a long prompt is a
/// whole prefill.
const GOOD_ENOUGH: f64 = 0.005;
/// The two probes' filler words.
const PROBE_WORDS: (usize, usize) = (32, 256);
/// Tokens per filler word when the server gives no count: the filler's common words are
/// one or two tokens each.
pub const ESTIMATED_TOKENS_PER_WORD: f64 = 1.3;

/// Filler words for about `tokens` tokens with no calibration.
pub fn estimated_words(tokens: u64) -> usize {
    ((tokens as f64 / ESTIMATED_TOKENS_PER_WORD).round() as usize).max(1)
}

/// A model's calibration: the record for the result file and the words each size needs.
#[derive(Debug, Clone)]
pub struct Calibrated {
    pub record: Calibration,
    words: BTreeMap<u64, usize>,
}

impl Calibrated {
    /// Filler words for a prompt of `tokens` tokens (overhead included).
    pub fn words_for(&self, tokens: u64) -> usize {
        if let Some(&words) = self.words.get(&tokens) {
            return words;
        }
        let net = tokens as f64 - self.record.overhead_tokens;
        ((net / self.tokens_per_word()).round() as usize).max(1)
    }

    /// Filler words that make `tokens` tokens inside a prompt (no overhead).
    pub fn words_for_span(&self, tokens: u64) -> usize {
        ((tokens as f64 / self.tokens_per_word()).round() as usize).max(1)
    }

    pub fn tokens_per_word(&self) -> f64 {
        if self.record.tokens_per_word > 0.0 {
            self.record.tokens_per_word
        } else {
            ESTIMATED_TOKENS_PER_WORD
        }
    }

    /// Without counts from the server: the estimate, and why.
    fn estimated(model: &str, sizes: &[u64], note: String) -> Calibrated {
        Calibrated {
            record: Calibration {
                model: model.to_string(),
                source: "estimate".into(),
                tokens_per_word: ESTIMATED_TOKENS_PER_WORD,
                overhead_tokens: 0.0,
                probes: Vec::new(),
                sizes: sizes
                    .iter()
                    .map(|&requested| SizeFit {
                        requested_tokens: requested,
                        words: estimated_words(requested),
                        ..SizeFit::default()
                    })
                    .collect(),
                note: Some(note),
            },
            words: sizes.iter().map(|&s| (s, estimated_words(s))).collect(),
        }
    }
}

/// Sends calibration probes of `model` the way the run's requests will be sent.
struct Prober<'a> {
    backend: &'a Backend,
    model: &'a str,
    route: Route,
    num_ctx: Option<u64>,
    numbers: &'a RequestNumbers,
    probes: Vec<CalibrationProbe>,
}

impl Prober<'_> {
    /// The server's count of a prompt of `words` filler words; `Ok(None)`: it gave none.
    async fn count(&mut self, words: usize) -> Result<Option<u64>, RequestError> {
        let number = self.numbers.reserve(1);
        let prompt = format!("{} {}", request_tag(number), filler(words));
        let mut request = GenerationRequest::new(self.model, prompt, 1);
        request.route = self.route;
        request.num_ctx = self.num_ctx;
        let record = self.backend.generate(&request).await?;
        let count = record.prompt_tokens.or(record.server.prompt_eval_count);
        if let Some(prompt_tokens) = count {
            self.probes.push(CalibrationProbe {
                words,
                prompt_tokens,
            });
        }
        Ok(count)
    }
}

fn error_of(count: u64, requested: u64) -> f64 {
    (count as f64 - requested as f64) / requested as f64
}

/// Calibrates `model` for `sizes` tokens. An error of the first probe is returned (the
/// model cannot be reached); later failures and missing counts are recorded as notes.
pub async fn calibrate(
    backend: &Backend,
    model: &str,
    route: Route,
    sizes: &[u64],
    num_ctx: Option<u64>,
    numbers: &RequestNumbers,
) -> Result<Calibrated, RequestError> {
    let source = match backend {
        Backend::Ollama(_) => "prompt_eval_count",
        Backend::OpenAi(_) => "usage.prompt_tokens",
    };
    let mut prober = Prober {
        backend,
        model,
        route,
        num_ctx,
        numbers,
        probes: Vec::new(),
    };
    let (small_words, large_words) = PROBE_WORDS;
    let Some(small) = prober.count(small_words).await? else {
        return Ok(Calibrated::estimated(
            model,
            sizes,
            format!(
                "the server gives no prompt token count ({source}): sizes are estimates of \
                 {ESTIMATED_TOKENS_PER_WORD} tokens a word, not checked"
            ),
        ));
    };
    let large = match prober.count(large_words).await {
        Ok(Some(large)) => large,
        Ok(None) | Err(_) => small,
    };
    let tokens_per_word = (large as f64 - small as f64) / (large_words - small_words) as f64;
    if tokens_per_word <= 0.0 {
        return Ok(Calibrated::estimated(
            model,
            sizes,
            format!(
                "the server counted {small} tokens for {small_words} words and {large} for \
                 {large_words}: its count does not grow with the prompt (a context of fewer \
                 than {large} tokens truncates it?); sizes are estimates"
            ),
        ));
    }
    let overhead = small as f64 - tokens_per_word * small_words as f64;
    let mut fits = Vec::new();
    let mut words_by_size = BTreeMap::new();
    for &requested in sizes {
        let net = requested as f64 - overhead;
        let mut words = ((net / tokens_per_word).round() as i64).max(1) as usize;
        // The closest count so far: (|error|, words, count).
        let mut best: Option<(f64, usize, u64)> = None;
        let mut failure: Option<String> = None;
        for _ in 0..MAX_TRIES {
            let count = match prober.count(words).await {
                Ok(Some(count)) => count,
                Ok(None) => {
                    failure = Some(format!("the server gave no count ({source})"));
                    break;
                }
                Err(err) => {
                    failure = Some(format!("the server refused the prompt: {err}"));
                    break;
                }
            };
            let error = error_of(count, requested);
            if best.is_none_or(|(e, _, _)| error.abs() < e) {
                best = Some((error.abs(), words, count));
            }
            if error.abs() <= GOOD_ENOUGH {
                break;
            }
            let step = ((requested as f64 - count as f64) / tokens_per_word).round() as i64;
            let step = if step == 0 {
                if count < requested {
                    1
                } else {
                    -1
                }
            } else {
                step
            };
            words = (words as i64 + step).max(1) as usize;
        }
        let fit = match best {
            Some((_, words, count)) => {
                let error = error_of(count, requested);
                let within = error.abs() <= TOLERANCE;
                let note = if within {
                    None
                } else if count < requested {
                    Some(format!(
                        "the server counted {count} of {requested} tokens: its context is too \
                         small for this size (raise --num-ctx, or llama.cpp's -c per slot)"
                    ))
                } else {
                    Some(format!(
                        "the smallest prompt the server counts is {count} tokens (template and \
                         request tag included)"
                    ))
                };
                words_by_size.insert(requested, words);
                SizeFit {
                    requested_tokens: requested,
                    words,
                    prompt_tokens: Some(count),
                    error_percent: Some((error * 10_000.0).round() / 100.0),
                    within_tolerance: within,
                    note: note.or(failure),
                }
            }
            None => SizeFit {
                requested_tokens: requested,
                words,
                note: failure,
                ..SizeFit::default()
            },
        };
        fits.push(fit);
    }
    let missed: Vec<String> = fits
        .iter()
        .filter(|f| !f.within_tolerance)
        .map(|f| f.requested_tokens.to_string())
        .collect();
    Ok(Calibrated {
        record: Calibration {
            model: model.to_string(),
            source: source.into(),
            tokens_per_word: (tokens_per_word * 10_000.0).round() / 10_000.0,
            overhead_tokens: (overhead * 100.0).round() / 100.0,
            probes: prober.probes,
            sizes: fits,
            note: (!missed.is_empty()).then(|| {
                format!(
                    "not within {}% for {} tokens (see each size's note)",
                    TOLERANCE * 100.0,
                    missed.join(", ")
                )
            }),
        },
        words: words_by_size,
    })
}

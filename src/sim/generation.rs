//! The performance model of one generation, shared by the native and the `/v1` routes so that a
//! request gives the same speed through both APIs.
//!
//! - Prompt tokens are about characters / 4 plus the template's tokens; prompt evaluation runs
//!   at about 27x the decode rate (about 1,200 tok/s for an 8B model on a T4).
//! - Decode runs at the model's rate for the profile, with a seeded per-request jitter of about
//!   1% and a per-token jitter that does not accumulate: tokens are sent on an absolute schedule
//!   (`sleep_until`), so the client's rate and the server's `eval_count / eval_duration` agree.
//! - A longer context lowers the rate: `1 / (1 + context_tokens / 4400)` (a 2,500-character
//!   prompt is about 12% slower than a 55-character one).
//! - `k` streams decoding on one runner each run at `1 / (1 + 0.1 (k - 1))` of the single
//!   stream rate: batching raises the aggregate.
//! - With `num_predict` set, exactly that many tokens are generated (`done_reason: "length"`) so
//!   runs are comparable; without it the model stops after a seeded 80 to 320 tokens (`"stop"`).
//! - A request that thinks (a thinking model, unless `think: false`) sends its thinking first,
//!   at the same pace: half of `num_predict` (rounded up), or a seeded 60 to 200 tokens before
//!   the answer when it stops by itself. `eval_count` counts both, as Ollama's does.
//! - `prompt_eval_duration` and `eval_duration` are the modelled times (what the simulated GPU
//!   took, on the schedule the tokens are sent on), so a busy host does not change them;
//!   `load_duration` and `total_duration` are measured, since they include real waiting (the
//!   queue, a load, a slot).
//! - The plain functions here ([`decode_rate`], [`token_seconds`], [`prompt_seconds`],
//!   [`batch_factor`]) are the model; `run` paces the tokens with them, and
//!   [`crate::sim::model`] computes the expected rates with them.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::catalogue::CatalogueModel;
use super::keep_alive::KeepAlive;
use super::profile::Profile;
use super::scheduler::SchedError;
use super::Sim;

/// Tokens the prompt template adds to every request.
pub(crate) const TEMPLATE_TOKENS: u64 = 9;
/// Tokens each chat message's role markers add.
pub(crate) const MESSAGE_TOKENS: u64 = 4;
/// Context tokens that halve the decode rate.
const CONTEXT_HALVING_TOKENS: f64 = 4400.0;
/// Slowdown per extra stream decoding on the same runner.
const BATCH_SLOWDOWN: f64 = 0.1;
/// Prompt evaluation rate as a multiple of the decode rate.
const PROMPT_RATE_FACTOR: f64 = 27.0;
/// Fixed prompt-processing overhead, simulated seconds.
const PROMPT_OVERHEAD_SECONDS: f64 = 0.012;
/// Handler work before scheduling (manifest lookup, template): Ollama's few-ms load_duration.
const REQUEST_OVERHEAD_SECONDS: f64 = 0.003;
/// Prompt evaluation time is scaled by one draw from this range.
const PROMPT_NOISE: (f64, f64) = (0.95, 1.05);
/// Thinking tokens of a request that thinks and stops by itself.
const THINKING_TOKENS: std::ops::RangeInclusive<u64> = 60..=200;
/// Standard deviation of a request's decode speed around the model's rate.
pub(crate) const REQUEST_SPREAD: f64 = 0.012;
/// A request's speed draw is clamped to this many standard deviations.
pub(crate) const REQUEST_SPREAD_LIMIT: f64 = 3.0;
/// Each token's interval varies by up to this fraction either way (uniform, mean zero), on an
/// absolute schedule, so it does not accumulate.
pub(crate) const TOKEN_JITTER: f64 = 0.15;

/// Decode speed of one stream with a short prompt on `profile` (tokens per simulated second).
pub(crate) fn decode_rate(profile: &Profile, model: &CatalogueModel) -> f64 {
    model.t4_tokens_per_second * profile.decode_speedup
}

/// Each stream's slowdown when `streams` decode on one runner: batching raises the aggregate.
pub(crate) fn batch_factor(streams: usize) -> f64 {
    1.0 + BATCH_SLOWDOWN * streams.saturating_sub(1) as f64
}

/// A request's decode-time factor from a standard normal draw (clamped).
pub(crate) fn request_factor(normal: f64) -> f64 {
    1.0 + REQUEST_SPREAD * normal.clamp(-REQUEST_SPREAD_LIMIT, REQUEST_SPREAD_LIMIT)
}

/// Simulated seconds of prompt evaluation with `streams` decoding on the runner and a `noise`
/// draw from `PROMPT_NOISE`.
pub(crate) fn prompt_seconds(
    profile: &Profile,
    model: &CatalogueModel,
    prompt_tokens: u64,
    streams: usize,
    noise: f64,
) -> f64 {
    let prompt_rate =
        decode_rate(profile, model).max(1e-6) * PROMPT_RATE_FACTOR * profile.prompt_speedup
            / profile.decode_speedup;
    (PROMPT_OVERHEAD_SECONDS + prompt_tokens as f64 / prompt_rate) * batch_factor(streams) * noise
}

/// The mean interval between tokens of one stream decoding alone (simulated seconds), before
/// the per-token jitter: the model's rate, slowed by the context (`1 + tokens / 4400`), by
/// layers offloaded to the CPU and by the request's own speed draw.
pub(crate) fn token_seconds(
    profile: &Profile,
    model: &CatalogueModel,
    prompt_tokens: u64,
    offload_slowdown: f64,
    request_factor: f64,
) -> f64 {
    let context_factor = 1.0 + prompt_tokens as f64 / CONTEXT_HALVING_TOKENS;
    request_factor * context_factor * offload_slowdown / decode_rate(profile, model).max(1e-6)
}

/// Prompt tokens of a text: about four characters a token.
pub(crate) fn text_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// One generation to run.
#[derive(Debug, Clone)]
pub(crate) struct GenerationJob {
    /// Normalized model name (the scheduler's key).
    pub name: String,
    pub model: &'static CatalogueModel,
    pub prompt_tokens: u64,
    /// `None`: stop naturally.
    pub num_predict: Option<u64>,
    pub keep_alive: KeepAlive,
    pub num_ctx: Option<u64>,
    /// `options.seed`: the same seed gives the same text.
    pub seed: Option<i64>,
    /// Think before answering: the thinking tokens come first, as `thinking` text.
    pub think: bool,
    /// When the handler got the request (total_duration starts here).
    pub entry: Instant,
}

/// What a finished generation measured.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    pub total_duration: Duration,
    pub load_duration: Duration,
    pub prompt_eval_count: u64,
    pub prompt_eval_duration: Duration,
    pub eval_count: u64,
    pub eval_duration: Duration,
    /// `stop` or `length`.
    pub done_reason: &'static str,
    /// Prompt and generated token ids (`context` of generate).
    pub context: Vec<u32>,
}

/// Why a generation failed.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub status: u16,
    pub message: String,
}

impl Failure {
    pub(crate) fn from_sched(error: SchedError, model: &str) -> Failure {
        match error {
            SchedError::NotFound => Failure {
                status: 404,
                message: format!("model '{model}' not found"),
            },
            SchedError::QueueFull => Failure {
                status: 503,
                message: "server busy, please try again.  maximum pending requests exceeded".into(),
            },
            SchedError::Failed(why) => Failure {
                status: 500,
                message: why,
            },
        }
    }
}

/// What the producer sends.
#[derive(Debug)]
pub(crate) enum GenEvent {
    Token(&'static str),
    /// A token of thinking text, before the answer's.
    Thinking(&'static str),
    Done(Box<Metrics>),
    Failed(Failure),
}

/// Starts a generation in its own task; events arrive at the rate the model produces them.
/// Dropping the receiver stops it (the client went away) and frees its slot.
pub(crate) fn spawn(
    sim: Arc<Sim>,
    job: GenerationJob,
    model_label: String,
) -> mpsc::Receiver<GenEvent> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let outcome = tokio::select! {
            outcome = run(&sim, job, &tx) => outcome,
            _ = tx.closed() => return,
            _ = sim.cancel.cancelled() => Err(Failure {
                status: 500,
                message: "server is shutting down".into(),
            }),
        };
        let event = match outcome {
            Ok(metrics) => GenEvent::Done(Box::new(metrics)),
            Err(failure) => {
                let failure = if failure.status == 404 {
                    Failure {
                        message: format!("model '{model_label}' not found"),
                        ..failure
                    }
                } else {
                    failure
                };
                GenEvent::Failed(failure)
            }
        };
        let _ = tx.send(event).await;
    });
    rx
}

async fn run(
    sim: &Sim,
    job: GenerationJob,
    tx: &mpsc::Sender<GenEvent>,
) -> Result<Metrics, Failure> {
    // Ollama truncates a prompt longer than the context it asked for to fit; the count then
    // says so.
    let mut job = job;
    if let Some(num_ctx) = job.num_ctx {
        job.prompt_tokens = job.prompt_tokens.min(num_ctx);
    }
    let clock = sim.clock;
    let mut rng = sim.request_rng();
    let overhead = clock.real(REQUEST_OVERHEAD_SECONDS * rng.gen_range(0.7..1.3));
    if overhead >= Duration::from_millis(1) {
        tokio::time::sleep_until(job.entry + overhead).await;
    }
    let mut lease = sim
        .scheduler
        .acquire(&job.name, job.model, job.keep_alive, job.num_ctx)
        .await
        .map_err(|e| Failure::from_sched(e, &job.name))?;
    lease
        .ready()
        .await
        .map_err(|e| Failure::from_sched(e, &job.name))?;
    let load_duration = job.entry.elapsed();
    let permit = lease
        .slot()
        .await
        .map_err(|e| Failure::from_sched(e, &job.name))?;
    let stream = lease.stream();

    let profile = sim.profile;
    let prompt_seconds = prompt_seconds(
        profile,
        job.model,
        job.prompt_tokens,
        lease.streams_now(),
        rng.gen_range(PROMPT_NOISE.0..PROMPT_NOISE.1),
    );
    let prompt_start = Instant::now();
    let mut cursor = clock.deadline_after(prompt_start, prompt_seconds);
    tokio::time::sleep_until(cursor).await;
    let decode_start = cursor;
    // The reported durations are the modelled ones (what the simulated GPU took), not how
    // late this machine woke up: a busy host must not change the server's own timings.
    let prompt_eval_duration = decode_start - prompt_start;

    let thinking = match (job.think, job.num_predict) {
        (false, _) => 0,
        (true, Some(n)) => n.div_ceil(2),
        (true, None) => rng.gen_range(THINKING_TOKENS),
    };
    let (count, done_reason) = match job.num_predict {
        Some(n) => (n, "length"),
        None => (thinking + rng.gen_range(80..=320), "stop"),
    };
    let request_factor = request_factor(standard_normal(&mut rng));
    let base_interval = token_seconds(
        profile,
        job.model,
        job.prompt_tokens,
        lease.offload_slowdown,
        request_factor,
    );
    let mut text_rng = match job.seed {
        Some(seed) => StdRng::seed_from_u64(seed as u64 ^ job.prompt_tokens),
        None => StdRng::seed_from_u64(rng.gen()),
    };
    let mut context: Vec<u32> = (0..job.prompt_tokens)
        .map(|_| text_rng.gen_range(1..50_000))
        .collect();
    for index in 0..count {
        let jitter = rng.gen_range(-TOKEN_JITTER..TOKEN_JITTER);
        let interval = base_interval * batch_factor(lease.streams_now()) * (1.0 + jitter);
        cursor = clock.deadline_after(cursor, interval);
        tokio::time::sleep_until(cursor).await;
        let event = if index < thinking {
            GenEvent::Thinking(next_piece(&mut text_rng, index))
        } else {
            GenEvent::Token(next_piece(&mut text_rng, index - thinking))
        };
        context.push(text_rng.gen_range(1..50_000));
        if tx.send(event).await.is_err() {
            return Err(Failure {
                status: 499,
                message: "request canceled".into(),
            });
        }
    }
    let eval_duration = cursor - decode_start;
    // The slot and the runner are free before the final chunk, so /api/ps is already true
    // when the client reads it.
    drop(stream);
    drop(permit);
    drop(lease);
    Ok(Metrics {
        total_duration: job.entry.elapsed(),
        load_duration,
        prompt_eval_count: job.prompt_tokens,
        prompt_eval_duration,
        eval_count: count,
        eval_duration,
        done_reason,
        context,
    })
}

/// A standard normal draw (Box-Muller), so jitter has a bell shape without another crate.
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

const WORDS: &[&str] = &[
    " the",
    " model",
    " runs",
    " on",
    " a",
    " GPU",
    " and",
    " each",
    " token",
    " is",
    " sent",
    " as",
    " soon",
    " it",
    " ready",
    " of",
    " to",
    " in",
    " that",
    " with",
    " for",
    " this",
    " light",
    " sky",
    " blue",
    " because",
    " molecules",
    " scatter",
    " shorter",
    " wavelengths",
    " more",
    " than",
    " longer",
    " ones",
    " which",
    " we",
    " see",
    " during",
    " day",
    " when",
    " sun",
    " high",
    " data",
    " memory",
    " bandwidth",
    " limits",
    " how",
    " fast",
    " weights",
    " can",
    " be",
    " read",
    " from",
    " every",
    " step",
    " so",
    " smaller",
    " models",
    " decode",
    " quickly",
    " while",
    " larger",
    " need",
    " time",
    " per",
    " request",
    " under",
    " load",
    " latency",
    " grows",
    " throughput",
    " rises",
    " batching",
    " helps",
    " server",
    " queue",
    " answer",
    " question",
    " simple",
    " clear",
    " example",
    " result",
    " value",
    " system",
    "ing",
    "ed",
    "s",
    "ly",
];
const OPENERS: &[&str] = &["The", "In", "A", "This", "When", "Each", "Sure", "Yes"];
const PUNCTUATION: &[&str] = &[",", ".", ".", ";", ":"];

fn next_piece(rng: &mut StdRng, index: u64) -> &'static str {
    if index == 0 {
        return OPENERS[rng.gen_range(0..OPENERS.len())];
    }
    let roll: u32 = rng.gen_range(0..100);
    if roll < 9 {
        PUNCTUATION[rng.gen_range(0..PUNCTUATION.len())]
    } else if roll < 10 {
        "\n\n"
    } else {
        WORDS[rng.gen_range(0..WORDS.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_tokens_follow_characters() {
        assert_eq!(text_tokens(""), 0);
        assert_eq!(text_tokens("Hello"), 2);
        // Transcript 06: a 44-character prompt gave 20 prompt tokens.
        assert_eq!(
            text_tokens("Why is the sky blue? Answer in one sentence.") + TEMPLATE_TOKENS,
            20
        );
    }

    #[test]
    fn text_is_seeded() {
        let text = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..50).map(|i| next_piece(&mut rng, i)).collect::<String>()
        };
        assert_eq!(text(3), text(3));
        assert_ne!(text(3), text(4));
        assert!(text(3).len() > 100);
    }

    #[test]
    fn normal_draws_have_unit_spread() {
        let mut rng = StdRng::seed_from_u64(1);
        let draws: Vec<f64> = (0..20_000).map(|_| standard_normal(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}

//! The performance model as plain functions: what the simulator does for one user on an
//! otherwise idle machine, in simulated seconds (multiply by the time scale for real time). No
//! clock and no sockets: the same code the server paces itself with (the fluid model of
//! `transfers`, the download's tick rounding, the load plan, the decode rates of
//! `generation`), run offline. Tests check the reference's calibration here, and paused-clock
//! tests check that the server takes exactly these times.
//!
//! Every seeded random draw has a range; a [`Span`] gives the value with every draw at the
//! low end of its range, at its middle (nominal), and at the high end.

use super::catalogue::CatalogueModel;
use super::generation::{self, REQUEST_SPREAD_LIMIT, TOKEN_JITTER};
use super::profile::Profile;
use super::pull::{self, SIZE_NOISE};
use super::scheduler::{self, LoadDraws};
use super::transfers::Offline;

/// Where in its range each random draw is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The low end of every range.
    Low,
    /// The middle (every range is centred on 1).
    Nominal,
    /// The high end of every range.
    High,
}

impl End {
    /// Every end, low first.
    pub const ALL: [End; 3] = [End::Low, End::Nominal, End::High];

    /// This end of `(low, high)`.
    pub(crate) fn pick(self, (low, high): (f64, f64)) -> f64 {
        match self {
            End::Low => low,
            End::Nominal => (low + high) / 2.0,
            End::High => high,
        }
    }
}

/// A modelled quantity: its nominal value and the range the seeded random draws keep it in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub low: f64,
    pub nominal: f64,
    pub high: f64,
}

impl Span {
    /// The span of three values computed at each [`End`] (in any order).
    fn of(values: [f64; 3]) -> Span {
        Span {
            low: values.iter().copied().fold(f64::INFINITY, f64::min),
            nominal: values[1],
            high: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }

    /// Whether `value` lies in the span, `tolerance` (a fraction) either side.
    pub fn contains(&self, value: f64, tolerance: f64) -> bool {
        value >= self.low * (1.0 - tolerance) && value <= self.high * (1.0 + tolerance)
    }

    /// Whether the whole span lies inside `(low, high)`.
    pub fn inside(&self, (low, high): (f64, f64)) -> bool {
        self.low >= low && self.high <= high
    }

    /// Every value multiplied by `factor` (a time scale, or its inverse for rates).
    pub fn scaled(&self, factor: f64) -> Span {
        Span {
            low: self.low * factor,
            nominal: self.nominal * factor,
            high: self.high * factor,
        }
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2} ({:.2}-{:.2})", self.nominal, self.low, self.high)
    }
}

/// The reference's Benchmark 1 for one model, as the model has it: the pull on a fresh
/// machine, the cold load right after it, the warm load, and the first generation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SingleUser {
    /// `POST /api/pull` to `success`.
    pub download_seconds: Span,
    /// A load-only request of the model that is on disk but not in the page cache.
    pub cold_load_seconds: Span,
    /// The same once the model is in the page cache.
    pub warm_load_seconds: Span,
    /// The server's `eval_count / eval_duration` of a generation.
    pub tokens_per_second: Span,
}

/// Prompt tokens of a plain `/api/generate` prompt: the text's tokens and the template's.
pub fn prompt_tokens(prompt: &str) -> u64 {
    generation::text_tokens(prompt) + generation::TEMPLATE_TOKENS
}

/// The single-user run of `model` on `profile`: `prompt_tokens` and `tokens` generated
/// describe the generation (single-user sends the short prompt and 100 tokens).
pub fn single_user(
    profile: &'static Profile,
    model: &CatalogueModel,
    prompt_tokens: u64,
    tokens: u64,
) -> SingleUser {
    let mut download = [0.0; 3];
    let mut cold = [0.0; 3];
    let mut warm = [0.0; 3];
    for (index, end) in End::ALL.into_iter().enumerate() {
        let mut machine = Offline::new(profile);
        download[index] = pull::download_seconds(&mut machine, model, end.pick(SIZE_NOISE));
        let draws = LoadDraws::at(end);
        cold[index] = scheduler::load_seconds(
            &mut machine,
            &scheduler::load_plan(profile, model, true, draws),
        );
        machine.idle(scheduler::UNLOAD_SECONDS);
        warm[index] = scheduler::load_seconds(
            &mut machine,
            &scheduler::load_plan(profile, model, false, draws),
        );
    }
    SingleUser {
        download_seconds: Span::of(download),
        cold_load_seconds: Span::of(cold),
        warm_load_seconds: Span::of(warm),
        tokens_per_second: tokens_per_second(profile, model, prompt_tokens, tokens),
    }
}

/// The modelled download of `model` alone on a fresh machine.
pub fn download_seconds(profile: &'static Profile, model: &CatalogueModel) -> Span {
    Span::of(
        End::ALL.map(|end| {
            pull::download_seconds(&mut Offline::new(profile), model, end.pick(SIZE_NOISE))
        }),
    )
}

/// A load of `model` (cold: from storage; warm: from the page cache) on an idle machine.
pub fn load_seconds(profile: &'static Profile, model: &CatalogueModel, cold: bool) -> Span {
    Span::of(End::ALL.map(|end| {
        let plan = scheduler::load_plan(profile, model, cold, LoadDraws::at(end));
        scheduler::load_seconds(&mut Offline::new(profile), &plan)
    }))
}

/// The server-side decode speed (`eval_count / eval_duration`, tokens per simulated second) of
/// one stream alone on a runner with the default context, generating `tokens` tokens after a
/// prompt of `prompt_tokens`. The per-token jitter has mean zero; the span allows three
/// standard deviations of its average over `tokens` tokens.
pub fn tokens_per_second(
    profile: &'static Profile,
    model: &CatalogueModel,
    prompt_tokens: u64,
    tokens: u64,
) -> Span {
    let needed = model.loaded_bytes(
        super::SimConfig::default()
            .num_ctx
            .min(model.context_length),
        1,
        profile.has_gpu(),
    );
    let (_, offload_slowdown) = scheduler::placement(profile, needed);
    let jitter = 3.0 * TOKEN_JITTER / 3f64.sqrt() / (tokens.max(1) as f64).sqrt();
    let rate = |normal: f64, jitter: f64| {
        let factor = generation::request_factor(normal);
        let interval =
            generation::token_seconds(profile, model, prompt_tokens, offload_slowdown, factor);
        1.0 / (interval * (1.0 + jitter))
    };
    Span {
        low: rate(REQUEST_SPREAD_LIMIT, jitter),
        nominal: rate(0.0, 0.0),
        high: rate(-REQUEST_SPREAD_LIMIT, -jitter),
    }
}

/// How long one request holds a slot (simulated seconds, nominal draws) while `streams`
/// requests decode on the runner: its prompt evaluation and `tokens` decoded tokens, each
/// slowed by batching. With `num_parallel` slots always busy, a runner serves
/// `num_parallel / service_seconds(.., num_parallel)` requests a second: the analytical
/// capacity a load test should find its knee at.
pub fn service_seconds(
    profile: &'static Profile,
    model: &CatalogueModel,
    prompt_tokens: u64,
    tokens: u64,
    streams: usize,
) -> f64 {
    let interval = 1.0 / tokens_per_second(profile, model, prompt_tokens, tokens).nominal;
    generation::prompt_seconds(profile, model, prompt_tokens, streams, 1.0)
        + tokens as f64 * interval * generation::batch_factor(streams)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{find_model, find_profile};

    #[test]
    fn spans_order_their_ends() {
        let t4 = find_profile("t4").unwrap();
        let model = find_model("llama3.1:8b").unwrap();
        let run = single_user(t4, model, prompt_tokens("Hello"), 100);
        for span in [
            run.download_seconds,
            run.cold_load_seconds,
            run.warm_load_seconds,
            run.tokens_per_second,
        ] {
            // Whole ticks can make two ends of a download equal.
            assert!(
                span.low <= span.nominal && span.nominal <= span.high,
                "{span}"
            );
            assert!(span.low < span.high, "{span}");
            assert!(
                span.high / span.low < 1.15,
                "the draws move it a little: {span}"
            );
        }
        assert!(run.cold_load_seconds.low > 3.0 * run.warm_load_seconds.high);
    }

    #[test]
    fn a_download_is_network_then_storage_bound_and_ends_on_ticks() {
        let t4 = find_profile("t4").unwrap();
        let model = find_model("mistral:7b").unwrap();
        let weights = model.weights_bytes() as f64;
        let span = download_seconds(t4, model);
        // The buffer fills at network minus storage speed, then storage limits the rest.
        let fill = t4.write_back_buffer_bytes
            / (t4.network_bytes_per_second - t4.storage_write_bytes_per_second);
        let flow = fill
            + (weights - fill * t4.network_bytes_per_second) / t4.storage_write_bytes_per_second;
        let small_layers = (model.layers.len() - 1) as f64;
        let expected = 0.06 + flow.ceil() + small_layers + 0.06;
        assert!(
            (span.nominal - expected).abs() < 1e-6,
            "{span} vs {expected}"
        );
    }

    #[test]
    fn a_cold_load_is_latency_read_and_init() {
        let t4 = find_profile("t4").unwrap();
        let model = find_model("phi3.5").unwrap();
        let bytes = model.weights_bytes() as f64;
        let cold = load_seconds(t4, model, true).nominal;
        let expected = t4.storage_latency_seconds
            + bytes / t4.storage_read_bytes_per_second
            + t4.gpu_init_seconds;
        assert!((cold - expected).abs() < 1e-6, "{cold} vs {expected}");
        let warm = load_seconds(t4, model, false).nominal;
        let expected = bytes / t4.page_cache_bytes_per_second + t4.gpu_init_seconds;
        assert!((warm - expected).abs() < 1e-6, "{warm} vs {expected}");
    }

    #[test]
    fn decode_speed_is_the_catalogues_rate_less_the_context() {
        let t4 = find_profile("t4").unwrap();
        let model = find_model("gemma2:2b").unwrap();
        let tps = tokens_per_second(t4, model, 0, 100).nominal;
        assert!((tps - model.t4_tokens_per_second).abs() < 1e-9, "{tps}");
        let long = tokens_per_second(t4, model, 4400, 100).nominal;
        assert!(
            (long - model.t4_tokens_per_second / 2.0).abs() < 1e-9,
            "{long}"
        );
        let a100 = find_profile("a100").unwrap();
        assert!(tokens_per_second(a100, model, 0, 100).nominal > 2.0 * tps);
    }
}

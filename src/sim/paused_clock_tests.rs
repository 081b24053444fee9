//! The simulator's timing on Tokio's paused clock: its route handlers are called directly (no
//! socket) at time scale 1, and time only moves when every task waits for a timer, so each
//! duration measured here is the modelled one, to the timer's millisecond, however busy the
//! machine is. The durations are checked against [`super::model`], whose numbers the
//! integration tests compare with the reference's table, and the scheduler's behaviour
//! (slots, batching, keep-alive, shared downloads, multi-user scaling) is checked exactly.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::model::{self, Span};
use super::routes::call;
use super::{find_model, find_profile, KeepAlive, Sim, SimConfig};

/// The reference's four models of "Expected Results (T4 GPU)".
const REFERENCE_MODELS: [&str; 4] = ["phi3.5", "gemma2:2b", "llama3.1:8b", "mistral:7b"];

/// The single-user scenario's short prompt.
const PROMPT: &str = "Explain why the sky is blue in a few sentences, please.";

/// Timer resolution allowance: every sleep ends on a millisecond tick, and a measured
/// duration spans a few of them.
const SLACK: f64 = 0.01;

fn start(edit: impl FnOnce(&mut SimConfig)) -> Arc<Sim> {
    let mut config = SimConfig::default();
    edit(&mut config);
    Sim::start(config).expect("the simulator starts")
}

fn seconds(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

fn assert_in(what: &str, span: Span, value: f64) {
    assert!(
        value >= span.low - SLACK && value <= span.high + SLACK,
        "{what}: {value:.4} outside the model's {span}"
    );
}

/// One line (NDJSON) or event (SSE) of a body, and when it arrived.
struct Piece {
    at: Instant,
    text: String,
}

/// Reads a body to its end, split on `separator`.
async fn read(response: Response, separator: &str) -> (u16, Vec<Piece>) {
    let status = response.status().as_u16();
    let mut body = response.into_body().into_data_stream();
    let mut buffer = String::new();
    let mut pieces = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("the body does not break");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find(separator) {
            pieces.push(Piece {
                at: Instant::now(),
                text: buffer[..end].to_string(),
            });
            buffer.drain(..end + separator.len());
        }
    }
    if !buffer.is_empty() {
        pieces.push(Piece {
            at: Instant::now(),
            text: buffer,
        });
    }
    (status, pieces)
}

fn json_of(piece: &Piece) -> Value {
    serde_json::from_str(&piece.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", piece.text))
}

/// Pulls `model`; returns the seconds to `success` and the lines.
async fn pull(sim: &Arc<Sim>, model: &str) -> (f64, Vec<Value>) {
    let started = Instant::now();
    let (status, pieces) = read(
        call(sim, "/api/pull", json!({ "model": model })).await,
        "\n",
    )
    .await;
    let took = seconds(started);
    assert_eq!(status, 200, "pull {model}");
    let lines: Vec<Value> = pieces.iter().map(json_of).collect();
    assert_eq!(
        lines.last(),
        Some(&json!({ "status": "success" })),
        "pull {model}"
    );
    (took, lines)
}

/// A load-only request; returns its seconds.
async fn load(sim: &Arc<Sim>, model: &str, keep_alive: Option<&str>) -> f64 {
    let started = Instant::now();
    let mut body = json!({ "model": model });
    if let Some(keep_alive) = keep_alive {
        body["keep_alive"] = json!(keep_alive);
    }
    let (status, pieces) = read(call(sim, "/api/generate", body).await, "\n").await;
    assert_eq!(status, 200, "load {model}");
    assert_eq!(json_of(&pieces[0])["done_reason"], "load");
    seconds(started)
}

async fn ps_names(sim: &Arc<Sim>) -> Vec<String> {
    let (_, pieces) = read(call(sim, "/api/ps", Value::Null).await, "\n").await;
    json_of(&pieces[0])["models"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["name"].as_str().map(str::to_string))
        .collect()
}

/// Polls `/api/ps` every millisecond until nothing is loaded; returns the seconds it took.
async fn wait_until_nothing_loaded(sim: &Arc<Sim>) -> f64 {
    let started = Instant::now();
    while !ps_names(sim).await.is_empty() {
        assert!(seconds(started) < 600.0, "still loaded after ten minutes");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    seconds(started)
}

/// Asks for an unload; returns once the reply came (the runner still lingers).
async fn request_unload(sim: &Arc<Sim>, model: &str) {
    let body = json!({ "model": model, "keep_alive": 0 });
    let (_, pieces) = read(call(sim, "/api/generate", body).await, "\n").await;
    assert_eq!(json_of(&pieces[0])["done_reason"], "unload");
}

/// A streamed generation as the client sees it.
struct Generated {
    /// Arrival of each token chunk.
    tokens: Vec<Instant>,
    last: Value,
}

impl Generated {
    fn server_tps(&self) -> f64 {
        let count = self.last["eval_count"].as_f64().expect("eval_count");
        let ns = self.last["eval_duration"].as_f64().expect("eval_duration");
        count / ns * 1e9
    }

    /// Tokens after the first over the time from the first to the last.
    fn client_tps(&self) -> f64 {
        let span = *self.tokens.last().unwrap() - self.tokens[0];
        (self.tokens.len() - 1) as f64 / span.as_secs_f64()
    }
}

async fn generate(sim: &Arc<Sim>, model: &str, prompt: &str, tokens: u64) -> Generated {
    let body = json!({ "model": model, "prompt": prompt, "options": { "num_predict": tokens } });
    let (status, mut pieces) = read(call(sim, "/api/generate", body).await, "\n").await;
    assert_eq!(status, 200);
    let last = json_of(&pieces.pop().expect("a final chunk"));
    assert_eq!(last["done"], true, "{last}");
    assert_eq!(last["eval_count"], tokens);
    Generated {
        tokens: pieces.iter().map(|p| p.at).collect(),
        last,
    }
}

#[tokio::test(start_paused = true)]
async fn single_user_takes_the_modelled_times() {
    let t4 = find_profile("t4").unwrap();
    let prompt_tokens = model::prompt_tokens(PROMPT);
    for name in REFERENCE_MODELS {
        let catalogue = find_model(name).unwrap();
        let expected = model::single_user(t4, catalogue, prompt_tokens, 100);
        let sim = start(|_| {});
        let (download, _) = pull(&sim, name).await;
        let cold = load(&sim, name, None).await;
        request_unload(&sim, name).await;
        wait_until_nothing_loaded(&sim).await;
        let warm = load(&sim, name, None).await;
        let run = generate(&sim, name, PROMPT, 100).await;
        eprintln!(
            "{name:12} download {download:6.2}s cold {cold:6.2}s warm {warm:5.2}s {:5.1} tok/s \
             (client {:5.1}); the model: {} / {} / {} / {}",
            run.server_tps(),
            run.client_tps(),
            expected.download_seconds,
            expected.cold_load_seconds,
            expected.warm_load_seconds,
            expected.tokens_per_second
        );
        assert_in(
            &format!("{name} download"),
            expected.download_seconds,
            download,
        );
        assert_in(
            &format!("{name} cold load"),
            expected.cold_load_seconds,
            cold,
        );
        assert_in(
            &format!("{name} warm load"),
            expected.warm_load_seconds,
            warm,
        );
        let tps = expected.tokens_per_second;
        let server = run.server_tps();
        assert!(
            (tps.low..=tps.high).contains(&server),
            "{name} server tok/s {server} outside {tps}"
        );
        // The client sees the tokens on the schedule the server reports.
        let client = run.client_tps();
        assert!(
            (client / server - 1.0).abs() < 0.01,
            "{name}: client {client} vs server {server}"
        );
        sim.cancel.cancel();
    }
}

#[tokio::test(start_paused = true)]
async fn a_pull_has_transcript_44s_cadence_and_a_present_model_is_not_downloaded() {
    let sim = start(|_| {});
    let smollm2 = find_model("smollm2:135m").unwrap();
    let expected = model::download_seconds(find_profile("t4").unwrap(), smollm2);
    let (took, lines) = pull(&sim, "smollm2:135m").await;
    assert_in("smollm2 download", expected, took);
    // Transcript 44: about 4.1 s in all.
    assert!((3.5..=5.0).contains(&took), "{took}");
    // A small layer repeats its line every 60 ms for its one-second tick, and once more
    // when the next layer starts.
    let template_lines = lines
        .iter()
        .filter(|l| l["digest"] == smollm2.layers[1].digest.as_str())
        .count();
    assert!((16..=18).contains(&template_lines), "{template_lines}");
    // Present: every layer at once, after the manifest lookup (10 ms).
    let (again, lines) = pull(&sim, "smollm2:135m").await;
    assert!((0.01..0.01 + SLACK).contains(&again), "{again}");
    assert_eq!(lines.len(), 1 + smollm2.layers.len() + 3);
    sim.cancel.cancel();
}

#[tokio::test(start_paused = true)]
async fn concurrent_pulls_of_one_model_share_its_download() {
    let sim = start(|_| {});
    let alone = model::download_seconds(find_profile("t4").unwrap(), find_model("phi3.5").unwrap());
    let ((a, _), (b, _)) = tokio::join!(pull(&sim, "phi3.5"), pull(&sim, "phi3.5:latest"));
    assert_in("first pull", alone, a);
    assert_in("second pull", alone, b);
    let (_, pieces) = read(call(&sim, "/api/tags", Value::Null).await, "\n").await;
    // Both names are one model.
    let tags = json_of(&pieces[0]);
    assert_eq!(tags["models"].as_array().unwrap().len(), 1, "{tags}");
    assert_eq!(tags["models"][0]["name"], "phi3.5:latest");
    sim.cancel.cancel();
}

#[tokio::test(start_paused = true)]
async fn slots_queue_one_at_a_time_or_batch_together() {
    let tokens = 150;
    for num_parallel in [1, 4] {
        let sim = start(|c| {
            c.num_parallel = num_parallel;
            c.preload = vec!["llama3.1:8b".into()];
        });
        load(&sim, "llama3.1:8b", None).await;
        let started = Instant::now();
        generate(&sim, "llama3.1:8b", PROMPT, tokens).await;
        let one = seconds(started);
        let started = Instant::now();
        let runs = futures_util::future::join_all(
            (0..3).map(|_| generate(&sim, "llama3.1:8b", PROMPT, tokens)),
        )
        .await;
        let three = seconds(started);
        let ratio = three / one;
        eprintln!("num_parallel {num_parallel}: one {one:.3}s, three at once {three:.3}s");
        if num_parallel == 1 {
            // One slot: they run one after another; the waiting shows in total_duration only.
            assert!((2.9..=3.1).contains(&ratio), "{ratio}");
            let waited = runs
                .iter()
                .map(|r| r.last["total_duration"].as_f64().unwrap())
                .fold(0.0, f64::max);
            let busy = runs[0].last["eval_duration"].as_f64().unwrap();
            assert!(waited > 2.0 * busy, "the last one queued behind two others");
            for run in &runs {
                let tps = run.server_tps();
                assert!((tps / runs[0].server_tps() - 1.0).abs() < 0.05, "{tps}");
            }
        } else {
            // Four slots: all three decode together, each 1.2x slower (batching).
            let batch = super::generation::batch_factor(3);
            assert!((ratio / batch - 1.0).abs() < 0.05, "{ratio} vs {batch}");
        }
        sim.cancel.cancel();
    }
}

#[tokio::test(start_paused = true)]
async fn keep_alive_expires_and_an_unload_lingers_forty_milliseconds() {
    let sim = start(|c| {
        c.keep_alive = KeepAlive::parse("20s").unwrap();
        c.preload = vec!["smollm2:135m".into()];
    });
    load(&sim, "smollm2:135m", Some("10s")).await;
    let gone = wait_until_nothing_loaded(&sim).await;
    let expected = 10.0 + super::scheduler::UNLOAD_SECONDS;
    assert!((gone - expected).abs() < SLACK, "{gone} vs {expected}");
    load(&sim, "smollm2:135m", None).await;
    let gone = wait_until_nothing_loaded(&sim).await;
    let expected = 20.0 + super::scheduler::UNLOAD_SECONDS;
    assert!((gone - expected).abs() < SLACK, "{gone} vs {expected}");
    load(&sim, "smollm2:135m", None).await;
    request_unload(&sim, "smollm2:135m").await;
    assert_eq!(
        ps_names(&sim).await,
        ["smollm2:135m"],
        "listed while unloading"
    );
    let gone = wait_until_nothing_loaded(&sim).await;
    let expected = super::scheduler::UNLOAD_SECONDS;
    assert!((gone - expected).abs() < 0.002, "{gone} vs {expected}");
    sim.cancel.cancel();
}

#[tokio::test(start_paused = true)]
async fn the_native_and_openai_routes_decode_at_the_modelled_speed() {
    let sim = start(|c| c.preload = vec!["llama3.1:8b".into()]);
    load(&sim, "llama3.1:8b", None).await;
    let t4 = find_profile("t4").unwrap();
    let llama = find_model("llama3.1:8b").unwrap();
    let native = generate(&sim, "llama3.1:8b", PROMPT, 150).await;
    let expected = model::tokens_per_second(t4, llama, model::prompt_tokens(PROMPT), 150);
    assert!(expected.contains(native.client_tps(), 0.01), "{expected}");
    let body =
        json!({ "model": "llama3.1:8b", "prompt": PROMPT, "max_tokens": 150, "stream": true });
    let (status, events) = read(call(&sim, "/v1/completions", body).await, "\n\n").await;
    assert_eq!(status, 200);
    let tokens: Vec<Instant> = events
        .iter()
        .filter(|e| e.text.contains("\"finish_reason\":null"))
        .map(|e| e.at)
        .collect();
    assert_eq!(tokens.len(), 150);
    let openai = 149.0 / (tokens[149] - tokens[0]).as_secs_f64();
    assert!(
        expected.contains(openai, 0.01),
        "{openai} outside {expected}"
    );
    sim.cancel.cancel();
}

/// The reference's multi-user run: every user pulls, loads and generates 100 tokens with a
/// model (round-robin; one user: llama3.1:8b), all at once. Returns the overall seconds.
async fn multi_user(users: usize) -> f64 {
    let models = ["phi3.5", "gemma2:2b", "mistral:7b", "llama3.1:8b"];
    let sim = start(|_| {});
    let started = Instant::now();
    let runs = (0..users).map(|user| {
        let sim = Arc::clone(&sim);
        let model = if users == 1 {
            "llama3.1:8b"
        } else {
            models[user % models.len()]
        };
        async move {
            pull(&sim, model).await;
            load(&sim, model, None).await;
            generate(&sim, model, "Write a haiku about GPUs.", 100).await;
        }
    });
    futures_util::future::join_all(runs).await;
    let overall = seconds(started);
    sim.cancel.cancel();
    overall
}

#[tokio::test(start_paused = true)]
async fn multi_user_scaling_follows_the_reference() {
    let single = multi_user(1).await;
    let three = multi_user(3).await;
    let five = multi_user(5).await;
    let (e3, e5) = (single / three, single / five);
    eprintln!(
        "multi-user: 1 user {single:.1}s, 3 users {three:.1}s ({:.0}%), 5 users {five:.1}s \
         ({:.0}%) [reference 63s, 125s (50%), 180s (35%)]",
        e3 * 100.0,
        e5 * 100.0
    );
    assert!((55.0..=70.0).contains(&single), "single user {single}");
    assert!((e3 - 0.50).abs() <= 0.10, "3 users: {e3}");
    assert!((e5 - 0.35).abs() <= 0.10, "5 users: {e5}");
}

//! The built-in simulator against Ollama's contract (server-apis.md part A and the recorded
//! transcripts), driven by a raw HTTP client: protocol details, the scheduler, faults, the
//! `/v1` routes, and the calibration of the performance model.
//!
//! Timings over real sockets are checked loosely (a busy machine delays every wake-up): lower
//! bounds from the performance model, which the server never beats, and generous upper ones.
//! The exact timing of the model is tested on Tokio's paused clock in `src/sim`, and its
//! calibration against the reference's table here, on the model's plain functions.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use ollabench::prompts::PromptLength;
use ollabench::sim::model::{self, Span};
use ollabench::sim::{self, FaultRule, Faults, SimConfig, SimHandle, SIM_HEADER};
use serde_json::{json, Value};
use support::assert_modelled;
use tokio::time::Instant;

async fn start(edit: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut config = SimConfig::default();
    edit(&mut config);
    sim::spawn(config, "127.0.0.1:0")
        .await
        .expect("simulator starts")
}

fn t4() -> &'static sim::Profile {
    sim::find_profile("t4").expect("the t4 profile")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// One line (NDJSON) or event (SSE) and when it arrived.
#[derive(Debug, Clone)]
struct Piece {
    at: Instant,
    text: String,
}

/// Reads a streamed body into pieces split on `separator`; the error, if the body broke.
async fn read_pieces(response: reqwest::Response, separator: &str) -> (Vec<Piece>, Option<String>) {
    let mut pieces = Vec::new();
    let mut buffer = String::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => {
                buffer.push_str(&String::from_utf8_lossy(&bytes));
                while let Some(end) = buffer.find(separator) {
                    let text = buffer[..end].to_string();
                    buffer.drain(..end + separator.len());
                    pieces.push(Piece {
                        at: Instant::now(),
                        text,
                    });
                }
            }
            Err(error) => return (pieces, Some(error.to_string())),
        }
    }
    (pieces, None)
}

fn json_of(piece: &Piece) -> Value {
    serde_json::from_str(&piece.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", piece.text))
}

async fn post(url: impl reqwest::IntoUrl, body: Value) -> reqwest::Response {
    client()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("request")
}

/// Five small catalogue models, for tests that load several.
const SMALL_MODELS: [&str; 5] = [
    "smollm2:135m",
    "qwen2.5:0.5b",
    "llama3.2:1b",
    "llama3.2:3b",
    "gemma2:2b",
];

/// A GET whose reply must be JSON.
async fn get_json(url: impl reqwest::IntoUrl) -> Value {
    let response = client().get(url).send().await.expect("a reply");
    response.json().await.expect("a JSON reply")
}

/// The keys of a JSON object, in the order the server wrote them.
fn keys_of(object: &Value) -> Vec<&str> {
    object
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// Polls `/api/ps` until `check` holds, or panics at the deadline.
async fn wait_for_ps(base: &str, what: &str, within: Duration, check: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + within;
    loop {
        let ps: Value = get_json(format!("{base}/api/ps")).await;
        let models = ps["models"].as_array().cloned().unwrap_or_default();
        if check(&models) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {ps}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn ps_names(models: &[Value]) -> Vec<String> {
    models
        .iter()
        .filter_map(|m| m["name"].as_str().map(str::to_string))
        .collect()
}

/// A load-only request; returns its reply.
async fn load(base: &str, model: &str) -> Value {
    let response = post(&format!("{base}/api/generate"), json!({ "model": model })).await;
    assert_eq!(response.status(), 200, "load {model}");
    response.json().await.expect("load json")
}

/// Unloads and waits until `/api/ps` no longer lists the model.
async fn unload(base: &str, model: &str) {
    let response = post(
        &format!("{base}/api/generate"),
        json!({ "model": model, "keep_alive": 0 }),
    )
    .await;
    let reply: Value = response.json().await.expect("unload json");
    assert_eq!(reply["done_reason"], "unload");
    let full = sim::normalize_name(model).unwrap();
    wait_for_ps(base, "the unload", Duration::from_secs(10), |models| {
        !ps_names(models).contains(&full)
    })
    .await;
}

/// A streamed generation: content pieces and the final chunk.
struct Streamed {
    chunks: Vec<Piece>,
    last: Value,
}

impl Streamed {
    /// Client-side rate: tokens after the first over the time from first to last.
    fn client_tps(&self) -> f64 {
        let first = self.chunks.first().expect("a token").at;
        let last = self.chunks.last().expect("a token").at;
        (self.chunks.len() - 1) as f64 / (last - first).as_secs_f64()
    }

    fn server_tps(&self) -> f64 {
        self.last["eval_count"].as_f64().unwrap() / self.last["eval_duration"].as_f64().unwrap()
            * 1e9
    }
}

async fn generate_stream(base: &str, model: &str, prompt: &str, num_predict: u64) -> Streamed {
    let response = post(
        &format!("{base}/api/generate"),
        json!({ "model": model, "prompt": prompt, "options": { "num_predict": num_predict } }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let (mut pieces, error) = read_pieces(response, "\n").await;
    assert!(error.is_none(), "{error:?}");
    let last = json_of(&pieces.pop().expect("final chunk"));
    assert_eq!(last["done"], true);
    Streamed {
        chunks: pieces,
        last,
    }
}

// ---------------------------------------------------------------------------------------
// Protocol
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_matches_the_transcripts() {
    let sim = start(|c| {
        c.time_scale = 0.01;
        c.preload = vec!["smollm2:135m".into()];
    })
    .await;
    let base = sim.url();
    // method, path, body, status, content type, check of the body
    type Check = fn(&str);
    type Case = (
        &'static str,
        &'static str,
        Option<&'static str>,
        u16,
        &'static str,
        Check,
    );
    let cases: Vec<Case> = vec![
        ("GET", "/", None, 200, "text/plain; charset=utf-8", |b| {
            assert_eq!(b, "Ollama is running")
        }),
        ("HEAD", "/", None, 200, "text/plain; charset=utf-8", |b| {
            assert_eq!(b, "")
        }),
        (
            "GET",
            "/api/version",
            None,
            200,
            "application/json; charset=utf-8",
            |b| assert_eq!(b, r#"{"version":"0.24.0"}"#),
        ),
        (
            "GET",
            "/api/ps",
            None,
            200,
            "application/json; charset=utf-8",
            |b| assert_eq!(b, r#"{"models":[]}"#),
        ),
        (
            "GET",
            "/api/tags",
            None,
            200,
            "application/json; charset=utf-8",
            |b| {
                let v: Value = serde_json::from_str(b).unwrap();
                let m = &v["models"][0];
                assert_eq!(m["name"], "smollm2:135m");
                assert_eq!(m["model"], "smollm2:135m");
                assert_eq!(m["size"], 98_363_007);
                assert_eq!(
                    m["digest"],
                    "2c8852285167da567992397a490ca2dc798a35fd42942bfd32ffe1d5db4c433e"
                );
                assert_eq!(
                    m["details"],
                    json!({"parent_model":"","format":"gguf","family":"llama","families":["llama"],
                       "parameter_size":"134.52M","quantization_level":"Q4_1"})
                );
                assert!(m["modified_at"].as_str().unwrap().ends_with('Z'));
            },
        ),
        ("GET", "/api/nope", None, 404, "text/plain", |b| {
            assert_eq!(b, "404 page not found")
        }),
        ("GET", "/api/generate", None, 405, "text/plain", |b| {
            assert_eq!(b, "405 method not allowed")
        }),
        ("GET", "/api/chat", None, 405, "text/plain", |b| {
            assert_eq!(b, "405 method not allowed")
        }),
        ("POST", "/api/tags", Some("{}"), 405, "text/plain", |b| {
            assert_eq!(b, "405 method not allowed")
        }),
        (
            "GET",
            "/v1/chat/completions",
            None,
            405,
            "text/plain",
            |b| assert_eq!(b, "405 method not allowed"),
        ),
        (
            "POST",
            "/api/chat",
            Some(r#"{"messages":[{"role":"user","content":"hi"}]}"#),
            400,
            "application/json; charset=utf-8",
            |b| assert_eq!(b, r#"{"error":"model is required"}"#),
        ),
        (
            "POST",
            "/api/chat",
            Some(r#"{"model":"","messages":[],"stream":false}"#),
            400,
            "application/json; charset=utf-8",
            |b| assert_eq!(b, r#"{"error":"model is required"}"#),
        ),
        (
            "POST",
            "/api/generate",
            Some(r#"{"model":"nonexistent-model:latest","prompt":"Hello","stream":false}"#),
            404,
            "application/json; charset=utf-8",
            |b| {
                assert_eq!(
                    b,
                    r#"{"error":"model 'nonexistent-model:latest' not found"}"#
                )
            },
        ),
        (
            "POST",
            "/api/generate",
            Some(r#"{"model":"nonexistent-model:latest","prompt":"Hello"}"#),
            404,
            "application/json; charset=utf-8",
            |b| {
                assert_eq!(
                    b,
                    r#"{"error":"model 'nonexistent-model:latest' not found"}"#
                )
            },
        ),
        (
            "POST",
            "/api/chat",
            Some(
                r#"{"model":"nonexistent-model:latest","messages":[{"role":"user","content":"hi"}]}"#,
            ),
            404,
            "application/json; charset=utf-8",
            |b| {
                assert_eq!(
                    b,
                    r#"{"error":"model 'nonexistent-model:latest' not found"}"#
                )
            },
        ),
        (
            "POST",
            "/api/generate",
            Some(r#"{"model":"#),
            400,
            "application/json; charset=utf-8",
            |b| assert_eq!(b, r#"{"error":"unexpected EOF"}"#),
        ),
        (
            "POST",
            "/api/generate",
            Some(r#"{"prompt":"hi"}"#),
            404,
            "application/json; charset=utf-8",
            |b| assert_eq!(b, r#"{"error":"model '' not found"}"#),
        ),
        (
            "POST",
            "/api/generate",
            Some(r#"{"model":"smollm2:135m","prompt":"hi","keep_alive":"300"}"#),
            400,
            "application/json; charset=utf-8",
            |b| assert_eq!(b, r#"{"error":"time: missing unit in duration \"300\""}"#),
        ),
        (
            "POST",
            "/api/generate",
            Some(r#"{"model":"smollm2:135m","prompt":"hi","raw":true,"system":"x"}"#),
            400,
            "application/json; charset=utf-8",
            |b| {
                assert_eq!(
                    b,
                    r#"{"error":"raw mode does not support template, system, or context"}"#
                )
            },
        ),
        (
            "POST",
            "/api/show",
            Some(r#"{"model":"nonexistent-model:latest"}"#),
            404,
            "application/json; charset=utf-8",
            |b| {
                assert_eq!(
                    b,
                    r#"{"error":"model 'nonexistent-model:latest' not found"}"#
                )
            },
        ),
        (
            "POST",
            "/api/show",
            Some(r#"{}"#),
            400,
            "application/json; charset=utf-8",
            |b| assert_eq!(b, r#"{"error":"model is required"}"#),
        ),
        (
            "DELETE",
            "/api/delete",
            Some(r#"{"model":"nonexistent-model:latest"}"#),
            404,
            "application/json; charset=utf-8",
            |b| {
                assert_eq!(
                    b,
                    r#"{"error":"model 'nonexistent-model:latest' not found"}"#
                )
            },
        ),
        (
            "POST",
            "/api/pull",
            Some(r#"{"model":"does-not-exist:latest"}"#),
            200,
            "application/x-ndjson",
            |b| {
                assert_eq!(
                    b,
                    "{\"status\":\"pulling manifest\"}\n{\"error\":\"pull model manifest: file does not exist\"}\n"
                )
            },
        ),
        (
            "POST",
            "/api/pull",
            Some(r#"{"model":"does-not-exist:latest","stream":false}"#),
            500,
            "application/json",
            |b| assert_eq!(b, r#"{"error":"pull model manifest: file does not exist"}"#),
        ),
        (
            "POST",
            "/api/pull",
            Some(r#"{"model":"bad name!"}"#),
            400,
            "application/json; charset=utf-8",
            |b| assert_eq!(b, r#"{"error":"invalid model name"}"#),
        ),
        ("GET", "/v1/models", None, 200, "application/json", |b| {
            let v: Value = serde_json::from_str(b).unwrap();
            assert_eq!(v["object"], "list");
            let m = &v["data"][0];
            assert_eq!(m["id"], "smollm2:135m");
            assert_eq!(m["object"], "model");
            assert_eq!(m["owned_by"], "library");
            assert!(m["created"].as_i64().unwrap() > 1_700_000_000);
        }),
        (
            "GET",
            "/v1/models/smollm2:135m",
            None,
            200,
            "application/json",
            |b| {
                let v: Value = serde_json::from_str(b).unwrap();
                assert_eq!(v["id"], "smollm2:135m");
            },
        ),
        (
            "GET",
            "/v1/models/nope",
            None,
            404,
            "application/json",
            |b| {
                assert_eq!(
                    b,
                    r#"{"error":{"message":"model 'nope' not found","type":"not_found_error","param":null,"code":null}}"#
                )
            },
        ),
        (
            "POST",
            "/v1/chat/completions",
            Some("{"),
            400,
            "application/json",
            |b| {
                let v: Value = serde_json::from_str(b).unwrap();
                assert_eq!(v["error"]["type"], "invalid_request_error");
                assert_eq!(v["error"]["param"], Value::Null);
                assert_eq!(v["error"]["code"], Value::Null);
            },
        ),
        (
            "POST",
            "/v1/chat/completions",
            Some(r#"{"model":"nope","messages":[{"role":"user","content":"hi"}]}"#),
            404,
            "application/json",
            |b| {
                let v: Value = serde_json::from_str(b).unwrap();
                assert_eq!(v["error"]["type"], "not_found_error");
                assert_eq!(v["error"]["message"], "model 'nope' not found");
            },
        ),
    ];
    let client = client();
    for (method, path, body, status, content_type, check) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = client.request(method.clone(), format!("{base}{path}"));
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let what = format!("{method} {path} {body:?}");
        assert_eq!(response.status().as_u16(), status, "{what}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], content_type, "{what}");
        assert_eq!(
            headers[SIM_HEADER], "profile=t4 time-scale=0.01",
            "{what}: every response names the simulator"
        );
        let text = response.text().await.unwrap();
        check(&text);
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_names_the_simulator_through_any_api() {
    let sim = start(|c| {
        c.time_scale = 0.01;
        c.preload = vec!["smollm2:135m".into()];
    })
    .await;
    let base = sim.url();
    let expected = "profile=t4 time-scale=0.01";
    let chat = json!({ "model": "smollm2:135m", "messages": [{ "role": "user", "content": "hi" }],
                       "max_tokens": 2 });
    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    let client = client();
    let requests = [
        (
            "POST /v1/chat/completions",
            client
                .post(format!("{base}/v1/chat/completions"))
                .json(&chat),
            200,
        ),
        (
            "POST /v1/chat/completions streamed",
            client
                .post(format!("{base}/v1/chat/completions"))
                .json(&streamed),
            200,
        ),
        (
            "GET /v1/models",
            client.get(format!("{base}/v1/models")),
            200,
        ),
        (
            "POST /v1/chat/completions, unknown model",
            client.post(format!("{base}/v1/chat/completions")).json(
                &json!({ "model": "nope", "messages": [{ "role": "user", "content": "hi" }] }),
            ),
            404,
        ),
        (
            "POST /v1/completions, bad JSON",
            client.post(format!("{base}/v1/completions")).body("{"),
            400,
        ),
        (
            "POST /api/chat without a model",
            client
                .post(format!("{base}/api/chat"))
                .json(&json!({ "messages": [] })),
            400,
        ),
        (
            "GET /api/generate",
            client.get(format!("{base}/api/generate")),
            405,
        ),
        ("GET /nope", client.get(format!("{base}/nope")), 404),
        (
            "POST /api/pull streamed error",
            client
                .post(format!("{base}/api/pull"))
                .json(&json!({ "model": "nope:latest" })),
            200,
        ),
    ];
    for (what, request, status) in requests {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{what}");
        assert_eq!(
            response
                .headers()
                .get(SIM_HEADER)
                .map(|v| v.to_str().unwrap()),
            Some(expected),
            "{what}"
        );
        if status == 405 {
            assert_eq!(response.headers()["allow"], "POST", "{what}");
        }
        response.bytes().await.unwrap();
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_and_chat_stream_with_ollamas_fields() {
    let scale = 0.05;
    let sim = start(|c| {
        c.time_scale = scale;
        c.preload = vec!["smollm2:135m".into()];
    })
    .await;
    let smollm2 = sim::find_model("smollm2:135m").unwrap();
    let base = sim.url();
    let prompt = "Why is the sky blue? Answer in one sentence.";
    let response = post(
        &format!("{base}/api/generate"),
        json!({ "model": "smollm2:135m", "prompt": prompt, "options": { "num_predict": 12, "seed": 7 } }),
    )
    .await;
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let (pieces, error) = read_pieces(response, "\n").await;
    assert!(error.is_none());
    assert_eq!(pieces.len(), 13, "12 tokens and the final chunk");
    let mut streamed_text = String::new();
    for piece in &pieces[..12] {
        let chunk = json_of(piece);
        let keys: Vec<&str> = keys_of(&chunk);
        assert_eq!(keys, ["model", "created_at", "response", "done"]);
        assert_eq!(chunk["model"], "smollm2:135m");
        assert_eq!(chunk["done"], false);
        streamed_text.push_str(chunk["response"].as_str().unwrap());
    }
    let last = json_of(&pieces[12]);
    let keys: Vec<&str> = keys_of(&last);
    assert_eq!(
        keys,
        [
            "model",
            "created_at",
            "response",
            "done",
            "done_reason",
            "context",
            "total_duration",
            "load_duration",
            "prompt_eval_count",
            "prompt_eval_duration",
            "eval_count",
            "eval_duration"
        ]
    );
    assert_eq!(last["done_reason"], "length");
    assert_eq!(last["response"], "");
    assert_eq!(last["eval_count"], 12);
    assert_eq!(
        last["prompt_eval_count"], 20,
        "as transcript 06 for this prompt"
    );
    assert_eq!(last["context"].as_array().unwrap().len(), 32);
    let ns = |key: &str| {
        last[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} is integer ns"))
    };
    // The first request had to load from disk: load_duration covers it.
    let cold = model::load_seconds(t4(), smollm2, true);
    assert!(
        ns("load_duration") as f64 >= cold.low * scale * 1e9,
        "{last}"
    );
    assert!(
        ns("total_duration")
            >= ns("load_duration") + ns("prompt_eval_duration") + ns("eval_duration")
    );
    // The server reports the modelled decode time, whatever this machine's load.
    let tps = 12.0 / ns("eval_duration") as f64 * 1e9 * scale;
    let expected = model::tokens_per_second(t4(), smollm2, 20, 12);
    assert!(expected.contains(tps, 1e-6), "{tps} outside {expected}");

    // The same seed gives the same text without streaming; an already loaded model loads fast.
    let response = post(
        &format!("{base}/api/generate"),
        json!({ "model": "smollm2:135m", "prompt": prompt, "stream": false, "options": { "num_predict": 12, "seed": 7 } }),
    )
    .await;
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let whole: Value = response.json().await.unwrap();
    assert_eq!(whole["response"].as_str().unwrap(), streamed_text);
    assert_eq!(whole["done"], true);
    let reload = model::load_seconds(t4(), smollm2, false).low * scale * 1e9;
    assert!(
        (whole["load_duration"].as_u64().unwrap() as f64) < reload,
        "no reload: {whole}"
    );

    // Without num_predict the model stops by itself.
    let natural: Value = post(
        &format!("{base}/api/generate"),
        json!({ "model": "smollm2:135m", "prompt": "Hello", "stream": false }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(natural["done_reason"], "stop");
    let count = natural["eval_count"].as_u64().unwrap();
    assert!((80..=320).contains(&count), "{count}");
    assert_eq!(natural["prompt_eval_count"], 11);

    // Chat: message objects, no context.
    let response = post(
        &format!("{base}/api/chat"),
        json!({ "model": "smollm2:135m", "messages": [{ "role": "user", "content": "Name three colors." }], "options": { "num_predict": 5 } }),
    )
    .await;
    let (pieces, _) = read_pieces(response, "\n").await;
    assert_eq!(pieces.len(), 6);
    let first = json_of(&pieces[0]);
    assert_eq!(first["message"]["role"], "assistant");
    assert!(first["message"]["content"].is_string());
    assert!(first.get("response").is_none());
    let last = json_of(&pieces[5]);
    assert_eq!(
        last["message"],
        json!({ "role": "assistant", "content": "" })
    );
    assert!(last.get("context").is_none());
    assert_eq!(last["eval_count"], 5);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_only_unload_and_ps_tell_the_truth() {
    let sim = start(|c| {
        c.time_scale = 0.01;
        c.preload = vec!["smollm2:135m".into(), "qwen2.5:0.5b".into()];
    })
    .await;
    let base = sim.url();
    // Load-only answers JSON with done_reason "load", whatever stream says, without metrics.
    let response = post(
        &format!("{base}/api/generate"),
        json!({ "model": "smollm2:135m", "stream": true }),
    )
    .await;
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let reply: Value = response.json().await.unwrap();
    let keys: Vec<&str> = keys_of(&reply);
    assert_eq!(
        keys,
        ["model", "created_at", "response", "done", "done_reason"]
    );
    assert_eq!(reply["done_reason"], "load");

    let ps: Value = get_json(format!("{base}/api/ps")).await;
    let entry = &ps["models"][0];
    let keys: Vec<&str> = keys_of(entry);
    assert_eq!(
        keys,
        [
            "name",
            "model",
            "size",
            "digest",
            "details",
            "expires_at",
            "size_vram",
            "context_length"
        ]
    );
    assert_eq!(entry["name"], "smollm2:135m");
    assert_eq!(entry["size_vram"], entry["size"], "fits in the T4's memory");
    assert_eq!(entry["context_length"], 4096);
    let expires =
        chrono::DateTime::parse_from_rfc3339(entry["expires_at"].as_str().unwrap()).unwrap();
    let left = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds();
    // Five minutes at time scale 0.01 is three seconds, counted from the load a moment ago.
    assert!((1_500..=3_100).contains(&left), "{left} ms");

    // A second model with a shorter keep-alive sorts after the first (latest expiry first).
    let reply: Value = post(
        &format!("{base}/api/chat"),
        json!({ "model": "qwen2.5:0.5b", "messages": [], "keep_alive": "10s" }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(reply["done_reason"], "load");
    assert_eq!(
        reply["message"],
        json!({ "role": "assistant", "content": "" })
    );
    wait_for_ps(&base, "two models", Duration::from_secs(5), |m| {
        m.len() == 2
    })
    .await;
    let ps: Value = get_json(format!("{base}/api/ps")).await;
    assert_eq!(
        ps_names(ps["models"].as_array().unwrap()),
        ["smollm2:135m", "qwen2.5:0.5b"]
    );

    // Unload: immediate reply, and /api/ps no longer lists it.
    let response = post(
        &format!("{base}/api/generate"),
        json!({ "model": "smollm2:135m", "keep_alive": 0 }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["done_reason"], "unload");
    assert_eq!(reply["response"], "");
    wait_for_ps(&base, "the unload", Duration::from_secs(5), |m| {
        ps_names(m) == ["qwen2.5:0.5b"]
    })
    .await;
    // Unloading a model that is not loaded still answers; a missing model is a 404.
    let reply: Value = post(
        &format!("{base}/api/generate"),
        json!({ "model": "smollm2:135m", "keep_alive": 0 }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(reply["done_reason"], "unload");
    let response = post(
        &format!("{base}/api/generate"),
        json!({ "model": "llama3.1:8b", "keep_alive": 0 }),
    )
    .await;
    assert_eq!(response.status(), 404);

    // keep_alive -1 keeps it forever (Go's maximum duration: about 292 years).
    post(
        &format!("{base}/api/generate"),
        json!({ "model": "smollm2:135m", "keep_alive": -1 }),
    )
    .await;
    let ps: Value = get_json(format!("{base}/api/ps")).await;
    let forever = ps["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "smollm2:135m")
        .unwrap();
    assert!(
        forever["expires_at"].as_str().unwrap().starts_with("23"),
        "{forever}"
    );
    sim.shutdown().await;

    // On the CPU profile nothing sits in GPU memory.
    let cpu = start(|c| {
        c.profile = "cpu".into();
        c.time_scale = 0.01;
        c.preload = vec!["smollm2:135m".into()];
    })
    .await;
    load(&cpu.url(), "smollm2:135m").await;
    let ps: Value = get_json(format!("{}/api/ps", cpu.url())).await;
    assert_eq!(ps["models"][0]["size_vram"], 0);
    let size = ps["models"][0]["size"].as_f64().unwrap();
    assert!(
        (size / 190_948_608.0 - 1.0).abs() < 0.02,
        "transcript 10's CPU size: {size}"
    );
    cpu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_delete_and_pull_like_ollama() {
    let scale = 0.05;
    let sim = start(|c| c.time_scale = scale).await;
    let base = sim.url();
    // A fresh pull of smollm2: the transcript's layers and statuses (its exact cadence and
    // duration are tested on the paused clock).
    let started = Instant::now();
    let response = post(
        &format!("{base}/api/pull"),
        json!({ "model": "smollm2:135m" }),
    )
    .await;
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let (pieces, error) = read_pieces(response, "\n").await;
    assert!(error.is_none());
    let took = started.elapsed().as_secs_f64();
    let lines: Vec<Value> = pieces.iter().map(json_of).collect();
    assert_eq!(lines[0], json!({ "status": "pulling manifest" }));
    let n = lines.len();
    assert_eq!(lines[n - 3], json!({ "status": "verifying sha256 digest" }));
    assert_eq!(lines[n - 2], json!({ "status": "writing manifest" }));
    assert_eq!(lines[n - 1], json!({ "status": "success" }));
    let model = sim::find_model("smollm2:135m").unwrap();
    let mut seen = Vec::new();
    for line in &lines[1..n - 3] {
        let digest = line["digest"].as_str().unwrap();
        let layer = model.layers.iter().find(|l| l.digest == digest).unwrap();
        assert_eq!(line["status"], format!("pulling {}", &digest[7..19]));
        assert_eq!(line["total"], layer.size);
        assert_ne!(
            line.get("completed"),
            Some(&json!(0)),
            "completed is omitted while 0"
        );
        if seen.last() != Some(&digest.to_string()) {
            seen.push(digest.to_string());
        }
    }
    let expected: Vec<String> = model.layers.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(seen, expected, "every layer, in order");
    let template_lines = lines
        .iter()
        .filter(|l| l["digest"] == model.layers[1].digest.as_str())
        .count();
    // Transcript 44: a small layer repeats for about a second at 60 ms (about 16 lines); a
    // busy machine skips the ticks it missed, so fewer may come, never more.
    assert!((1..=18).contains(&template_lines), "{template_lines}");
    // Transcript 44: the whole pull took about 4.1 s.
    let smollm2 = sim::find_model("smollm2:135m").unwrap();
    assert_modelled(
        "the pull",
        took,
        model::download_seconds(t4(), smollm2),
        scale,
    );

    // The model is installed; a second pull walks every layer at once.
    let tags: Value = get_json(format!("{base}/api/tags")).await;
    assert_eq!(tags["models"][0]["name"], "smollm2:135m");
    let started = Instant::now();
    let (pieces, _) = read_pieces(
        post(
            &format!("{base}/api/pull"),
            json!({ "name": "smollm2:135m" }),
        )
        .await,
        "\n",
    )
    .await;
    let again = started.elapsed().as_secs_f64();
    assert!(again < took / 2.0, "no download: {again} s vs {took} s");
    let lines: Vec<Value> = pieces.iter().map(json_of).collect();
    assert_eq!(lines.len(), 1 + model.layers.len() + 3);
    for (line, layer) in lines[1..].iter().zip(&model.layers) {
        assert_eq!(line["completed"], layer.size);
    }
    let response = post(
        &format!("{base}/api/pull"),
        json!({ "model": "smollm2:135m", "stream": false }),
    )
    .await;
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.text().await.unwrap(), r#"{"status":"success"}"#);

    // Show.
    let show: Value = post(
        &format!("{base}/api/show"),
        json!({ "model": "smollm2:135m" }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(show["details"]["parameter_size"], "134.52M");
    assert_eq!(show["model_info"]["general.parameter_count"], 134_515_008);
    assert_eq!(show["model_info"]["general.architecture"], "llama");
    assert_eq!(show["model_info"]["llama.context_length"], 8192);
    assert_eq!(show["capabilities"], json!(["completion"]));
    assert!(show["modelfile"].as_str().unwrap().contains("FROM "));
    assert!(show["template"].as_str().unwrap().contains("<|im_start|>"));
    assert!(show["parameters"].as_str().unwrap().contains("stop"));
    assert!(show["modified_at"].is_string());

    // Delete: 200 with an empty body; then it is gone.
    let response = client()
        .delete(format!("{base}/api/delete"))
        .json(&json!({ "model": "smollm2:135m" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("content-type").is_none());
    assert_eq!(response.text().await.unwrap(), "");
    let tags: Value = get_json(format!("{base}/api/tags")).await;
    assert_eq!(tags, json!({ "models": [] }));
    let response = post(
        &format!("{base}/api/generate"),
        json!({ "model": "smollm2:135m", "prompt": "hi" }),
    )
    .await;
    assert_eq!(response.status(), 404);
    let models: Value = get_json(format!("{base}/v1/models")).await;
    assert_eq!(models, json!({ "object": "list", "data": null }));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pulls_of_one_model_share_the_download() {
    let scale = 0.05;
    let sim = start(|c| c.time_scale = scale).await;
    let base = sim.url();
    let pull = |name: &'static str| {
        let base = base.clone();
        async move {
            let started = Instant::now();
            let (pieces, _) = read_pieces(
                post(&format!("{base}/api/pull"), json!({ "model": name })).await,
                "\n",
            )
            .await;
            assert_eq!(json_of(pieces.last().unwrap())["status"], "success");
            started.elapsed().as_secs_f64()
        }
    };
    let alone = pull("gemma2:2b").await;
    let (a, b) = tokio::join!(pull("phi3.5"), pull("phi3.5:latest"));
    let phi = model::download_seconds(t4(), sim::find_model("phi3.5").unwrap());
    eprintln!("gemma alone {alone:.3}s, two phi3.5 pulls {a:.3}s/{b:.3}s (one: {phi} s simulated)");
    // Two downloads side by side would each take about 2.3 times one alone (they share the
    // network and the disk): both pulls taking about one download's time means they shared it.
    assert_modelled("the first phi3.5 pull", a, phi, scale);
    assert_modelled("the second phi3.5 pull", b, phi, scale);
    assert_modelled(
        "the gemma2 pull",
        alone,
        model::download_seconds(t4(), sim::find_model("gemma2:2b").unwrap()),
        scale,
    );
    let tags: Value = get_json(format!("{base}/api/tags")).await;
    assert_eq!(tags["models"].as_array().unwrap().len(), 2, "{tags}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_routes_frame_sse_and_count_usage() {
    let sim = start(|c| {
        c.time_scale = 0.01;
        c.preload = vec!["smollm2:135m".into()];
    })
    .await;
    let base = sim.url();
    let response = post(
        &format!("{base}/v1/chat/completions"),
        json!({ "model": "smollm2:135m", "messages": [{ "role": "user", "content": "Say hello." }],
                "max_tokens": 10, "stream": true, "stream_options": { "include_usage": true } }),
    )
    .await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let (events, error) = read_pieces(response, "\n\n").await;
    assert!(error.is_none());
    assert_eq!(events.len(), 10 + 3, "tokens, finish, usage, [DONE]");
    let data = |piece: &Piece| -> Value {
        let payload = piece.text.strip_prefix("data: ").expect("data: framing");
        serde_json::from_str(payload).unwrap()
    };
    let first = data(&events[0]);
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["system_fingerprint"], "fp_ollama");
    assert!(first["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(first["choices"][0]["finish_reason"], Value::Null);
    let finish = data(&events[10]);
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
    assert_eq!(finish["choices"][0]["delta"]["content"], "");
    let usage = data(&events[11]);
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 10);
    let prompt_tokens = usage["usage"]["prompt_tokens"].as_u64().unwrap();
    assert_eq!(usage["usage"]["total_tokens"], prompt_tokens + 10);
    assert_eq!(events[12].text, "data: [DONE]");

    // Without include_usage there is no usage chunk.
    let (events, _) = read_pieces(
        post(
            &format!("{base}/v1/chat/completions"),
            json!({ "model": "smollm2:135m", "messages": [{ "role": "user", "content": "hi" }],
                    "max_tokens": 3, "stream": true }),
        )
        .await,
        "\n\n",
    )
    .await;
    assert_eq!(events.len(), 3 + 2);
    assert!(events.iter().all(|e| !e.text.contains("\"usage\"")));

    // Non-streamed chat completion.
    let response = post(
        &format!("{base}/v1/chat/completions"),
        json!({ "model": "smollm2:135m", "messages": [{ "role": "user", "content": "Say hello." }], "max_tokens": 20 }),
    )
    .await;
    assert_eq!(response.headers()["content-type"], "application/json");
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["object"], "chat.completion");
    assert_eq!(reply["choices"][0]["message"]["role"], "assistant");
    assert_eq!(reply["choices"][0]["finish_reason"], "length");
    assert_eq!(reply["usage"]["completion_tokens"], 20);

    // Completions: every chunk carries a zeroed usage, then the real usage.
    let (events, _) = read_pieces(
        post(
            &format!("{base}/v1/completions"),
            json!({ "model": "smollm2:135m", "prompt": "Once upon a time", "max_tokens": 4,
                    "stream": true, "stream_options": { "include_usage": true } }),
        )
        .await,
        "\n\n",
    )
    .await;
    assert_eq!(events.len(), 4 + 3);
    let chunk = data(&events[0]);
    assert_eq!(chunk["object"], "text_completion");
    assert!(chunk["choices"][0]["text"].is_string());
    assert_eq!(chunk["usage"]["total_tokens"], 0);
    assert_eq!(data(&events[4])["choices"][0]["finish_reason"], "length");
    assert_eq!(data(&events[5])["usage"]["completion_tokens"], 4);
    assert_eq!(events[6].text, "data: [DONE]");
    let reply: Value = post(
        &format!("{base}/v1/completions"),
        json!({ "model": "smollm2:135m", "prompt": "Once", "max_tokens": 2 }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(reply["object"], "text_completion");
    assert!(reply["id"].as_str().unwrap().starts_with("cmpl-"));
    assert_eq!(reply["usage"]["completion_tokens"], 2);
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Registries and air-gapped mode (transcripts 15-16, 43b-53b)
// ---------------------------------------------------------------------------------------

/// A pull's status, content type and body.
async fn pull_raw(base: &str, body: Value) -> (u16, String, String) {
    let response = post(&format!("{base}/api/pull"), body).await;
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    (status, content_type, response.text().await.unwrap())
}

/// Asserts that a pull fails with `error` both ways: inside a 200 stream after
/// `pulling manifest` (47, 53a), and as a 500 when not streaming (48, 49, 53b).
async fn assert_pull_fails(base: &str, model: &str, insecure: bool, error: &str) {
    let streamed = pull_raw(base, json!({ "model": model, "insecure": insecure })).await;
    assert_eq!(
        streamed,
        (
            200,
            "application/x-ndjson".to_string(),
            format!("{{\"status\":\"pulling manifest\"}}\n{error}\n")
        ),
        "streamed pull of {model}"
    );
    let collected = pull_raw(
        base,
        json!({ "model": model, "insecure": insecure, "stream": false }),
    )
    .await;
    assert_eq!(
        collected,
        (500, "application/json".to_string(), error.to_string()),
        "non-streamed pull of {model}"
    );
}

async fn tag_names(base: &str) -> Vec<String> {
    let tags: Value = get_json(format!("{base}/api/tags")).await;
    tags["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["name"], m["model"], "{m}");
            m["name"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_registry_pulls_need_insecure_and_then_work_everywhere() {
    // Scale 0.05, as the public pull's test: finer, and skipped 60 ms ticks blur the cadence.
    let sim = start(|c| {
        c.time_scale = 0.05;
        c.registries = vec![
            sim::Registry::parse("127.0.0.1:5000").unwrap(),
            sim::Registry::parse("https://models.example:8443").unwrap(),
        ];
    })
    .await;
    let base = sim.url();
    let name = "127.0.0.1:5000/library/smollm2:135m";

    for (model, insecure, error) in [
        // Transcript 49, and its streamed form.
        (
            name,
            false,
            r#"{"error":"pull model manifest: Get \"https://127.0.0.1:5000/v2/library/smollm2/manifests/135m\": http: server gave HTTP response to HTTPS client"}"#,
        ),
        // Transcripts 47 and 48: the registry answers, but has no such model.
        (
            "127.0.0.1:5000/library/does-not-exist:latest",
            true,
            r#"{"error":"pull model manifest: file does not exist"}"#,
        ),
        // A host nobody declared does not resolve (53a's wording); an IP refuses the connection.
        (
            "registry.internal:5000/library/smollm2:135m",
            false,
            r#"{"error":"pull model manifest: Get \"https://registry.internal:5000/v2/library/smollm2/manifests/135m\": dial tcp: lookup registry.internal on 10.255.255.53:53: no such host"}"#,
        ),
        (
            "127.0.0.1:6000/library/smollm2:135m",
            true,
            r#"{"error":"pull model manifest: Get \"http://127.0.0.1:6000/v2/library/smollm2/manifests/135m\": dial tcp 127.0.0.1:6000: connect: connection refused"}"#,
        ),
    ] {
        assert_pull_fails(&base, model, insecure, error).await;
    }
    assert!(
        tag_names(&base).await.is_empty(),
        "failed pulls install nothing"
    );

    // With insecure: the transcript's layers, cadence and statuses (43b, 44).
    let response = post(
        &format!("{base}/api/pull"),
        json!({ "model": name, "insecure": true }),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let (pieces, error) = read_pieces(response, "\n").await;
    assert!(error.is_none(), "{error:?}");
    let lines: Vec<Value> = pieces.iter().map(json_of).collect();
    let n = lines.len();
    assert_eq!(lines[0], json!({ "status": "pulling manifest" }));
    assert_eq!(
        lines[n - 3..],
        [
            json!({ "status": "verifying sha256 digest" }),
            json!({ "status": "writing manifest" }),
            json!({ "status": "success" }),
        ]
    );
    let model = sim::find_model("smollm2:135m").unwrap();
    let mut seen: Vec<&str> = Vec::new();
    for line in &lines[1..n - 3] {
        let digest = line["digest"].as_str().unwrap();
        assert_eq!(line["status"], format!("pulling {}", &digest[7..19]));
        if seen.last() != Some(&digest) {
            seen.push(digest);
        }
    }
    let layers: Vec<&str> = model.layers.iter().map(|l| l.digest.as_str()).collect();
    assert_eq!(seen, layers, "every layer, in order");
    let config_lines = lines
        .iter()
        .filter(|l| l["digest"] == model.layers[3].digest.as_str())
        .count();
    // About 16 (the cadence is tested on the paused clock); a busy machine skips ticks.
    assert!((1..=18).contains(&config_lines), "{config_lines}");

    // Listed under its full name (51), with the digest of the same manifest.
    let tags: Value = get_json(format!("{base}/api/tags")).await;
    assert_eq!(tags["models"][0]["name"], name);
    assert_eq!(tags["models"][0]["model"], name);
    assert_eq!(tags["models"][0]["size"], 98_363_007);
    assert_eq!(tags["models"][0]["digest"], model.digest.as_str());
    // Already present: success at once (45).
    let again = pull_raw(
        &base,
        json!({ "model": name, "insecure": true, "stream": false }),
    )
    .await;
    assert_eq!(
        again,
        (
            200,
            "application/json".to_string(),
            r#"{"status":"success"}"#.to_string()
        )
    );

    // Show, generate, chat, ps and the /v1 routes take the full name.
    let response = post(&format!("{base}/api/show"), json!({ "model": name })).await;
    assert_eq!(response.status(), 200);
    let show: Value = response.json().await.unwrap();
    assert_eq!(show["details"]["parameter_size"], "134.52M");
    let reply: Value = post(
        &format!("{base}/api/generate"),
        json!({ "model": name, "prompt": "hi", "stream": false, "options": { "num_predict": 3 } }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(reply["model"], name);
    assert_eq!(reply["eval_count"], 3);
    let reply: Value = post(
        &format!("{base}/api/chat"),
        json!({ "model": name, "messages": [{ "role": "user", "content": "hi" }],
                "stream": false, "options": { "num_predict": 2 } }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(reply["model"], name);
    assert_eq!(reply["message"]["role"], "assistant");
    wait_for_ps(&base, "the registry model", Duration::from_secs(5), |m| {
        ps_names(m) == [name]
    })
    .await;
    let reply: Value = post(
        &format!("{base}/v1/chat/completions"),
        json!({ "model": name, "messages": [{ "role": "user", "content": "hi" }], "max_tokens": 2 }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(reply["model"], name);
    assert_eq!(reply["usage"]["completion_tokens"], 2);
    let models: Value = get_json(format!("{base}/v1/models")).await;
    assert_eq!(models["data"][0]["id"], name);
    let response = client()
        .get(format!("{base}/v1/models/{name}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // A registry that speaks HTTPS needs no insecure; with it, Ollama talks plain HTTP to TLS.
    let tls_name = "models.example:8443/team/qwen2.5:0.5b";
    let done = pull_raw(&base, json!({ "model": tls_name, "stream": false })).await;
    assert_eq!(done.0, 200, "{done:?}");
    assert_eq!(tag_names(&base).await, [tls_name, name]);
    assert_pull_fails(
        &base,
        tls_name,
        true,
        r#"{"error":"pull model manifest: 400: Client sent an HTTP request to an HTTPS server.\n"}"#,
    )
    .await;

    // Delete by the full name (39).
    let response = client()
        .delete(format!("{base}/api/delete"))
        .json(&json!({ "model": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "");
    assert_eq!(tag_names(&base).await, [tls_name]);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn air_gapped_pulls_fail_but_present_models_still_load() {
    let sim = start(|c| {
        c.time_scale = 0.01;
        c.air_gapped = true;
        c.registries = vec![sim::Registry::parse("http://127.0.0.1:5000").unwrap()];
        c.preload = vec!["smollm2:135m".into()];
    })
    .await;
    let base = sim.url();
    for (model, insecure, error) in [
        // Transcripts 53a and 53b: the model is present, the pull fails all the same.
        (
            "smollm2:135m",
            false,
            r#"{"error":"pull model manifest: Get \"https://registry.ollama.ai/v2/library/smollm2/manifests/135m\": dial tcp: lookup registry.ollama.ai on 10.255.255.53:53: no such host"}"#,
        ),
        // Transcripts 15 and 16: a missing model fails the same way.
        (
            "this-model-does-not-exist-xyz:latest",
            false,
            r#"{"error":"pull model manifest: Get \"https://registry.ollama.ai/v2/library/this-model-does-not-exist-xyz/manifests/latest\": dial tcp: lookup registry.ollama.ai on 10.255.255.53:53: no such host"}"#,
        ),
    ] {
        assert_pull_fails(&base, model, insecure, error).await;
    }
    // The present model is untouched and loads.
    assert_eq!(tag_names(&base).await, ["smollm2:135m"]);
    let response = post(
        &format!("{base}/api/generate"),
        json!({ "model": "smollm2:135m", "prompt": "hi", "stream": false, "options": { "num_predict": 2 } }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["done_reason"], "length");
    // The private registry is still reachable.
    let name = "127.0.0.1:5000/library/smollm2:135m";
    let done = pull_raw(
        &base,
        json!({ "model": name, "insecure": true, "stream": false }),
    )
    .await;
    assert_eq!(done.0, 200, "{done:?}");
    assert_eq!(done.2, r#"{"status":"success"}"#);
    let mut names = tag_names(&base).await;
    names.sort();
    assert_eq!(names, [name, "smollm2:135m"]);
    sim.shutdown().await;

    // A preloaded registry name is present without any pull.
    let sim = start(|c| {
        c.time_scale = 0.01;
        c.air_gapped = true;
        c.preload = vec![name.into()];
    })
    .await;
    assert_eq!(tag_names(&sim.url()).await, [name]);
    load(&sim.url(), name).await;
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Scheduler
// ---------------------------------------------------------------------------------------

/// Runs `n` streamed generations at once; returns each result and the wall time.
async fn concurrent(base: &str, model: &str, n: usize, tokens: u64) -> (Vec<Streamed>, f64) {
    let started = Instant::now();
    let runs = futures_util::future::join_all(
        (0..n).map(|_| generate_stream(base, model, "Tell me about GPUs.", tokens)),
    )
    .await;
    (runs, started.elapsed().as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn num_parallel_slots_queue_and_batch() {
    // The exact queueing and batching times are tested on the paused clock; over sockets the
    // shape: one slot serialises, four slots overlap, and the server's own numbers say why.
    let scale = 0.05;
    let llama = sim::find_model("llama3.1:8b").unwrap();
    // A request that reloaded the model would report at least a warm load.
    let reload = model::load_seconds(t4(), llama, false).low * scale * 1e9;
    let mut aggregate = Vec::new();
    for num_parallel in [1, 4] {
        let sim = start(|c| {
            c.time_scale = scale;
            c.num_parallel = num_parallel;
            c.preload = vec!["llama3.1:8b".into()];
        })
        .await;
        let base = sim.url();
        load(&base, "llama3.1:8b").await;
        let (single, single_wall) = concurrent(&base, "llama3.1:8b", 1, 150).await;
        let (runs, wall) = concurrent(&base, "llama3.1:8b", 3, 150).await;
        let efficiency = single_wall / wall;
        eprintln!(
            "num_parallel {num_parallel}: single {:.1} tok/s (server {:.1}), 3 at once: wall {wall:.3}s, efficiency {:.0}%",
            single[0].client_tps() * scale,
            single[0].server_tps() * scale,
            efficiency * 100.0
        );
        for run in &runs {
            assert!(
                run.last["load_duration"].as_f64().unwrap() < reload,
                "a loaded model is not loaded again: {}",
                run.last
            );
        }
        let alone = single[0].server_tps();
        if num_parallel == 1 {
            // One slot: the three wait for each other (about 33%), and the decode speed is
            // that of a stream alone. That the waiting shows in total_duration only is
            // checked on the paused clock (src/sim/paused_clock_tests.rs).
            assert!(efficiency < 0.6, "{efficiency}");
            for run in &runs {
                let tps = run.server_tps();
                assert!((tps / alone - 1.0).abs() < 0.1, "{tps} vs {alone}");
            }
        } else {
            // Four slots: they decode together (about 83%), each a little slower.
            assert!(efficiency > 0.55, "{efficiency}");
            let each = runs.iter().map(Streamed::server_tps).sum::<f64>() / 3.0;
            assert!(
                each < 0.95 * alone,
                "batching slows each stream: {each} vs {alone}"
            );
        }
        aggregate.push(3.0 * 150.0 / wall);
        sim.shutdown().await;
    }
    assert!(aggregate[1] > 1.5 * aggregate[0], "{aggregate:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_loaded_models_and_memory_evict_the_least_recently_used() {
    let sim = start(|c| {
        c.time_scale = 0.005;
        c.max_loaded_models = 2;
        c.preload = vec![
            "smollm2:135m".into(),
            "qwen2.5:0.5b".into(),
            "llama3.2:1b".into(),
        ];
    })
    .await;
    let base = sim.url();
    load(&base, "smollm2:135m").await;
    load(&base, "qwen2.5:0.5b").await;
    // Touch smollm2 so that qwen is the least recently used.
    generate_stream(&base, "smollm2:135m", "hi", 2).await;
    load(&base, "llama3.2:1b").await;
    wait_for_ps(&base, "qwen's eviction", Duration::from_secs(5), |m| {
        let mut names = ps_names(m);
        names.sort();
        names == ["llama3.2:1b", "smollm2:135m"]
    })
    .await;
    sim.shutdown().await;

    // Memory: three 8B-class models do not fit a T4 together; the oldest idle one goes.
    let sim = start(|c| {
        c.time_scale = 0.005;
        c.preload = vec!["llama3.1:8b".into(), "deepseek-r1".into(), "mistral".into()];
    })
    .await;
    let base = sim.url();
    load(&base, "llama3.1:8b").await;
    load(&base, "deepseek-r1").await;
    wait_for_ps(&base, "two loaded", Duration::from_secs(5), |m| {
        m.len() == 2
    })
    .await;
    load(&base, "mistral").await;
    wait_for_ps(&base, "llama's eviction", Duration::from_secs(5), |m| {
        let mut names = ps_names(m);
        names.sort();
        names == ["deepseek-r1:latest", "mistral:latest"]
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_expiry_unloads_idle_models() {
    let sim = start(|c| {
        c.time_scale = 0.01;
        c.keep_alive = sim::KeepAlive::parse("20s").unwrap();
        c.preload = vec!["smollm2:135m".into(), "qwen2.5:0.5b".into()];
    })
    .await;
    let base = sim.url();
    // 10 s at scale 0.01 is 100 ms; the default (20 s) is 200 ms.
    let loaded = Instant::now();
    post(
        &format!("{base}/api/generate"),
        json!({ "model": "smollm2:135m", "keep_alive": "10s" }),
    )
    .await;
    load(&base, "qwen2.5:0.5b").await;
    wait_for_ps(&base, "smollm2 to expire", Duration::from_secs(5), |m| {
        ps_names(m) == ["qwen2.5:0.5b"]
    })
    .await;
    let first = loaded.elapsed();
    wait_for_ps(&base, "qwen to expire", Duration::from_secs(5), |m| {
        m.is_empty()
    })
    .await;
    let second = loaded.elapsed();
    assert!(first >= Duration::from_millis(90), "{first:?}");
    assert!(second >= Duration::from_millis(190), "{second:?}");
    // A request with keep_alive 0 unloads once it completes.
    let response = post(
        &format!("{base}/api/generate"),
        json!({ "model": "smollm2:135m", "prompt": "hi", "keep_alive": 0, "stream": false, "options": { "num_predict": 3 } }),
    )
    .await;
    assert_eq!(response.status(), 200);
    wait_for_ps(
        &base,
        "the keep_alive 0 unload",
        Duration::from_secs(5),
        |m| m.is_empty(),
    )
    .await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unloaded_model_lingers_in_ps_for_tens_of_milliseconds() {
    // The linger is 40 ms simulated: at scale 4, 160 ms, long enough for the next request to
    // see it on a busy machine; loads of smollm2 on the cpu profile take about 4 s here. Its
    // exact length is tested on the paused clock.
    let scale = 4.0;
    let sim = start(|c| {
        c.profile = "cpu".into();
        c.time_scale = scale;
        c.preload = vec!["smollm2:135m".into()];
    })
    .await;
    let base = sim.url();
    // Transcript 17 (generate) and 23 (chat): the unload is answered at once.
    let requests = [
        (
            "/api/generate",
            json!({ "model": "smollm2:135m", "keep_alive": 0 }),
        ),
        (
            "/api/chat",
            json!({ "model": "smollm2:135m", "messages": [], "keep_alive": 0 }),
        ),
    ];
    for (path, body) in requests {
        load(&base, "smollm2:135m").await;
        let asked = Instant::now();
        let reply: Value = post(&format!("{base}{path}"), body)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(reply["done_reason"], "unload", "{path}");
        let ps: Value = get_json(format!("{base}/api/ps")).await;
        assert_eq!(
            ps_names(ps["models"].as_array().unwrap()),
            ["smollm2:135m"],
            "{path}: still listed right after the unload reply"
        );
        wait_for_ps(
            &base,
            "the unload to finish",
            Duration::from_secs(10),
            |m| m.is_empty(),
        )
        .await;
        // The server began the unload after the request was sent, so it cannot be gone sooner
        // than the linger after that; the upper bound is generous.
        let gone = asked.elapsed().as_secs_f64();
        let linger = 0.04 * scale;
        assert!(
            gone >= linger && gone < linger + 5.0,
            "{path}: gone after {gone} s"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_load_queue_answers_503() {
    let sim = start(|c| {
        c.time_scale = 0.01;
        c.max_loaded_models = 1;
        c.max_queue = 2;
        c.preload = SMALL_MODELS.map(String::from).to_vec();
    })
    .await;
    let base = sim.url();
    // A long generation keeps smollm2 busy, so loading anything else must wait for it.
    let busy = post(
        &format!("{base}/api/generate"),
        json!({ "model": "smollm2:135m", "prompt": "hi", "options": { "num_predict": 100000 } }),
    )
    .await;
    let mut busy_body = busy.bytes_stream();
    assert!(busy_body.next().await.is_some(), "the busy stream runs");
    let waiting: Vec<_> = ["qwen2.5:0.5b", "llama3.2:1b", "llama3.2:3b", "gemma2:2b"]
        .into_iter()
        .map(|model| {
            let base = base.clone();
            tokio::spawn(async move {
                let response =
                    post(&format!("{base}/api/generate"), json!({ "model": model })).await;
                let status = response.status().as_u16();
                (status, response.text().await.unwrap())
            })
        })
        .collect();
    // The queue holds two (one more is being placed); the rest are refused at once.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !waiting.iter().any(|handle| handle.is_finished()) {
        assert!(Instant::now() < deadline, "no request was refused");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut refused = Vec::new();
    drop(busy_body);
    let mut ok = 0;
    for handle in waiting {
        let (status, body) = handle.await.unwrap();
        match status {
            200 => ok += 1,
            503 => refused.push(body),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(!refused.is_empty(), "a request beyond the queue is refused");
    assert!(ok >= 1, "queued requests load once the busy model is free");
    for body in refused {
        assert_eq!(
            body,
            r#"{"error":"server busy, please try again.  maximum pending requests exceeded"}"#
        );
    }
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_is_seen_by_a_raw_client() {
    let rule = |kind: &str, spec: &str| FaultRule::parse(kind, spec).unwrap();
    let sim = start(|c| {
        c.time_scale = 0.005;
        c.num_parallel = 2;
        c.max_loaded_models = 5;
        c.preload = SMALL_MODELS.map(String::from).to_vec();
        c.faults = Faults {
            rules: vec![
                rule("status", "503@model:smollm2:135m"),
                rule("error-line", "2@model:qwen2.5:0.5b"),
                rule("cut", "2@model:llama3.2:1b"),
                rule("stall", "300ms@model:llama3.2:3b"),
                rule("malformed", "2@model:gemma2:2b"),
            ],
        };
    })
    .await;
    let base = sim.url();
    let stream = |model: &str| {
        post(
            format!("{base}/api/generate"),
            json!({ "model": model, "prompt": "hi", "options": { "num_predict": 6 } }),
        )
    };
    // Error status before anything is streamed.
    let response = stream("smollm2:135m").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("simulated fault"));
    // Load-only and unload requests are never faulted.
    assert_eq!(load(&base, "smollm2:135m").await["done_reason"], "load");

    // Error line after two chunks, in a 200 stream, with no final chunk.
    let response = stream("qwen2.5:0.5b").await;
    assert_eq!(response.status(), 200);
    let (pieces, error) = read_pieces(response, "\n").await;
    assert!(error.is_none());
    assert_eq!(pieces.len(), 3);
    assert!(json_of(&pieces[2])["error"].is_string());
    assert!(pieces.iter().all(|p| !p.text.contains("\"done\":true")));

    // Cut after two chunks: the body breaks.
    let (pieces, error) = read_pieces(stream("llama3.2:1b").await, "\n").await;
    assert_eq!(pieces.len(), 2);
    assert!(error.is_some(), "the connection was cut");

    // Stall after the first chunk, then the stream goes on to its end.
    let (pieces, error) = read_pieces(stream("llama3.2:3b").await, "\n").await;
    assert!(error.is_none());
    assert_eq!(pieces.len(), 7);
    let gap = pieces[1].at - pieces[0].at;
    assert!(gap >= Duration::from_millis(290), "{gap:?}");
    assert_eq!(json_of(&pieces[6])["done"], true);

    // A malformed line after two chunks; the stream still ends normally.
    let (pieces, _) = read_pieces(stream("gemma2:2b").await, "\n").await;
    assert_eq!(pieces.len(), 8);
    assert!(
        serde_json::from_str::<Value>(&pieces[2].text).is_err(),
        "{}",
        pieces[2].text
    );
    assert_eq!(json_of(&pieces[7])["done"], true);

    // The /v1 routes: an error event and no [DONE].
    let (events, _) = read_pieces(
        post(
            &format!("{base}/v1/chat/completions"),
            json!({ "model": "qwen2.5:0.5b", "messages": [{ "role": "user", "content": "hi" }],
                    "max_tokens": 6, "stream": true }),
        )
        .await,
        "\n\n",
    )
    .await;
    assert_eq!(events.len(), 3);
    assert!(
        events[2].text.starts_with("data: {\"error\":{"),
        "{}",
        events[2].text
    );
    assert!(events.iter().all(|e| e.text != "data: [DONE]"));
    sim.shutdown().await;

    // Pull: a cut after two lines, every second pull.
    let sim = start(|c| {
        c.time_scale = 0.005;
        c.faults = Faults {
            rules: vec![rule("cut", "2@every:2")],
        };
    })
    .await;
    let base = sim.url();
    let (pieces, error) = read_pieces(
        post(
            &format!("{base}/api/pull"),
            json!({ "model": "smollm2:135m" }),
        )
        .await,
        "\n",
    )
    .await;
    assert!(error.is_none());
    assert_eq!(json_of(pieces.last().unwrap())["status"], "success");
    let (pieces, error) = read_pieces(
        post(
            &format!("{base}/api/pull"),
            json!({ "model": "smollm2:135m" }),
        )
        .await,
        "\n",
    )
    .await;
    assert_eq!(pieces.len(), 2);
    assert!(error.is_some());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_streams_and_frees_the_port() {
    let sim = start(|c| {
        c.time_scale = 0.01;
        c.preload = vec!["smollm2:135m".into()];
    })
    .await;
    let base = sim.url();
    let addr = sim.addr();
    let response = post(
        &format!("{base}/api/generate"),
        json!({ "model": "smollm2:135m", "prompt": "hi", "options": { "num_predict": 1000000 } }),
    )
    .await;
    let mut body = response.bytes_stream();
    assert!(body.next().await.is_some());
    tokio::time::timeout(Duration::from_secs(5), sim.shutdown())
        .await
        .expect("shutdown does not wait for endless streams");
    assert!(
        client().get(&base).send().await.is_err(),
        "nothing listens any more"
    );
    // Dropping a handle stops its server too.
    let sim = sim::spawn(SimConfig::default(), &addr.to_string())
        .await
        .unwrap();
    drop(sim);
    let deadline = Instant::now() + Duration::from_secs(5);
    while client().get(&base).send().await.is_ok() {
        assert!(Instant::now() < deadline, "the dropped handle still serves");
        tokio::task::yield_now().await;
    }
}

// ---------------------------------------------------------------------------------------
// Calibration
// ---------------------------------------------------------------------------------------

async fn timed_pull(base: &str, model: &str) -> f64 {
    let started = Instant::now();
    let (pieces, error) = read_pieces(
        post(&format!("{base}/api/pull"), json!({ "model": model })).await,
        "\n",
    )
    .await;
    assert!(error.is_none());
    assert_eq!(
        json_of(pieces.last().unwrap())["status"],
        "success",
        "{model}"
    );
    started.elapsed().as_secs_f64()
}

async fn timed_load(base: &str, model: &str) -> f64 {
    let started = Instant::now();
    assert_eq!(load(base, model).await["done_reason"], "load");
    started.elapsed().as_secs_f64()
}

/// The reference's "Expected Results (T4 GPU)" against the performance model's own numbers:
/// plain functions, no clock, no sockets, so it holds however busy the machine is. The
/// paused-clock tests in `src/sim` check that the server takes exactly these times, and
/// `cargo bench --bench sim_calibration` measures them in real time.
#[test]
fn calibration_of_the_performance_model_matches_the_reference_t4_table() {
    use support::Range;
    let inside = |what: &str, span: Span, (low, high): Range| {
        assert!(
            span.inside((low, high)),
            "{what}: the model's {span} is not inside the reference's {low}-{high}"
        );
    };
    // What single-user sends: the short prompt and 100 tokens.
    let prompt_tokens = model::prompt_tokens(PromptLength::Short.text());
    for (name, download, cold, warm, tps) in support::EXPECTED_T4 {
        let catalogue = sim::find_model(name).unwrap();
        let run = model::single_user(t4(), catalogue, prompt_tokens, 100);
        eprintln!(
            "{name:12} download {}  cold {}  warm {}  {} tok/s",
            run.download_seconds,
            run.cold_load_seconds,
            run.warm_load_seconds,
            run.tokens_per_second
        );
        inside(&format!("{name} download"), run.download_seconds, download);
        inside(&format!("{name} cold load"), run.cold_load_seconds, cold);
        inside(&format!("{name} warm load"), run.warm_load_seconds, warm);
        inside(&format!("{name} tokens/s"), run.tokens_per_second, tps);
    }

    // deepseek-r1: only its speed is in the table.
    let deepseek = sim::find_model("deepseek-r1").unwrap();
    let tps = model::tokens_per_second(t4(), deepseek, prompt_tokens, 100);
    inside("deepseek-r1 tokens/s", tps, (25.0, 35.0));

    // A 2,500-character prompt decodes 10-15% slower than a 55-character one.
    let llama = sim::find_model("llama3.1:8b").unwrap();
    let rate = |chars: usize| {
        model::tokens_per_second(t4(), llama, model::prompt_tokens(&"x".repeat(chars)), 150).nominal
    };
    let slowdown = 1.0 - rate(2500) / rate(55);
    assert!((0.10..=0.15).contains(&slowdown), "{slowdown}");
}

/// Single-user's steps over HTTP at a compressed time scale: each takes the modelled time
/// (loosely: a busy machine wakes late), the server reports exactly the modelled decode speed,
/// and the client's rate agrees with it roughly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_loads_and_generations_over_http_take_the_modelled_times() {
    let scale = 0.05;
    let sim = start(|c| c.time_scale = scale).await;
    let base = sim.url();
    let prompt = PromptLength::Short.text();
    for name in ["gemma2:2b", "phi3.5"] {
        let catalogue = sim::find_model(name).unwrap();
        let expected = model::single_user(t4(), catalogue, model::prompt_tokens(prompt), 100);
        let download = timed_pull(&base, name).await;
        let cold = timed_load(&base, name).await;
        unload(&base, name).await;
        let warm = timed_load(&base, name).await;
        let run = generate_stream(&base, name, prompt, 100).await;
        let (server, client) = (run.server_tps() * scale, run.client_tps() * scale);
        eprintln!(
            "{name:12} download {:5.2}s  cold {:5.2}s  warm {:4.2}s  {server:5.1} tok/s \
             (client {client:5.1}), simulated",
            download / scale,
            cold / scale,
            warm / scale
        );
        assert_modelled(
            &format!("{name} download"),
            download,
            expected.download_seconds,
            scale,
        );
        assert_modelled(
            &format!("{name} cold load"),
            cold,
            expected.cold_load_seconds,
            scale,
        );
        assert_modelled(
            &format!("{name} warm load"),
            warm,
            expected.warm_load_seconds,
            scale,
        );
        assert!(
            expected.tokens_per_second.contains(server, 1e-6),
            "{name}: the server's {server} tok/s is not the model's {}",
            expected.tokens_per_second
        );
        assert!(
            (client / server - 1.0).abs() < 0.25,
            "{name}: client {client} vs server {server} tok/s"
        );
        unload(&base, name).await;
    }
    sim.shutdown().await;
}

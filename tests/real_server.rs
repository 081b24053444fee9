//! Real inference: the OpenAI-compatible client and the commands against llama.cpp's
//! llama-server running SmolLM2-135M on this machine's CPU.
//!
//! `scripts/install-llama-server.sh` installs both into `.venv` and writes their paths to
//! `.venv/ollabench-llama.env`; `LLAMA_SERVER` and `SMOLLM2_GGUF` in the environment win over
//! that file. Without them the tests fail when `CI` is set (CI must never skip them), and
//! otherwise print a loud note and pass.
//!
//! Each test starts its own llama-server on a free loopback port and always stops it (the
//! [`LlamaServer`] guard); the tests run one at a time so that throughput is not shared.

mod support;

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ollabench::backend::openai::{OpenAiClient, ServerKind};
use ollabench::backend::{GenerationRecord, GenerationRequest, Route, Timeouts, TokenCountSource};

/// One llama-server at a time: the machine has two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long llama-server may take to load the model and answer `/health`.
const START_DEADLINE: Duration = Duration::from_secs(120);
/// How long it may take to stop after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(10);

struct Installed {
    server: PathBuf,
    gguf: PathBuf,
}

fn env_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/ollabench-llama.env")
}

/// The paths from the environment, else from the install script's env file.
fn installed() -> Result<Installed, String> {
    let mut server = std::env::var_os("LLAMA_SERVER").map(PathBuf::from);
    let mut gguf = std::env::var_os("SMOLLM2_GGUF").map(PathBuf::from);
    if server.is_none() || gguf.is_none() {
        if let Ok(text) = std::fs::read_to_string(env_file()) {
            for line in text.lines() {
                match line.split_once('=') {
                    Some(("LLAMA_SERVER", path)) if server.is_none() => {
                        server = Some(PathBuf::from(path.trim()))
                    }
                    Some(("SMOLLM2_GGUF", path)) if gguf.is_none() => {
                        gguf = Some(PathBuf::from(path.trim()))
                    }
                    _ => {}
                }
            }
        }
    }
    match (server, gguf) {
        (Some(server), Some(gguf)) if server.is_file() && gguf.is_file() => {
            Ok(Installed { server, gguf })
        }
        (server, gguf) => Err(format!(
            "llama-server ({}) or the SmolLM2 gguf ({}) is missing; neither LLAMA_SERVER / \
             SMOLLM2_GGUF nor {} name existing files. Run scripts/install-llama-server.sh",
            server.map_or("not set".into(), |p| p.display().to_string()),
            gguf.map_or("not set".into(), |p| p.display().to_string()),
            env_file().display()
        )),
    }
}

/// The installation, held for this test alone (the tests share two cores), or `None` (with a
/// loud note) outside CI; in CI a missing install fails.
async fn require_installed() -> Option<(tokio::sync::MutexGuard<'static, ()>, Installed)> {
    let serial = SERIAL.lock().await;
    match installed() {
        Ok(found) => Some((serial, found)),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("CI must run the real-server tests, but {why}")
        }
        Err(why) => {
            eprintln!(
                "\n************************************************************\n\
                 NOTE: the real-server test did NOT run: {why}\n\
                 ************************************************************\n"
            );
            None
        }
    }
}

/// A running llama-server, stopped (with everything it started) when dropped.
struct LlamaServer {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl LlamaServer {
    /// Starts llama-server serving the SmolLM2 gguf with two slots of 1024 tokens each, and
    /// `args` after.
    async fn serving_smollm2(installed: &Installed, args: &[&str]) -> LlamaServer {
        let gguf = installed.gguf.to_string_lossy();
        let model = ["-m", &gguf, "-np", "2", "-c", "2048"];
        LlamaServer::start(installed, &[&model[..], args].concat()).await
    }

    /// Starts llama-server with `args` on a free port and waits for `/health` to answer
    /// 200. A start that fails (e.g. another process took the port) is retried on a new one.
    async fn start(installed: &Installed, args: &[&str]) -> LlamaServer {
        let mut failures = Vec::new();
        for _attempt in 0..3 {
            let port = free_port();
            let dir = tempfile::tempdir().expect("a temporary folder");
            let log = dir.path().join("llama-server.log");
            let out = File::create(&log).expect("the log file");
            let err = out.try_clone().expect("the log file");
            let child = Command::new(&installed.server)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(args)
                // llama.cpp's OpenMP threads spin between operations by default; on a
                // machine whose two cores are also busy with other work that makes its speed
                // swing tenfold. Sleeping threads keep it steady (and slower).
                .env("OMP_WAIT_POLICY", "PASSIVE")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                // Its own process group, so that stopping it also stops a router's children.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", installed.server.display()));
            let mut server = LlamaServer {
                child,
                url: format!("http://127.0.0.1:{port}"),
                log,
                _dir: dir,
            };
            match server.wait_healthy().await {
                Ok(()) => return server,
                Err(why) => failures.push(format!("{why}\n{}", server.log_tail())),
            }
        }
        panic!("llama-server did not start:\n{}", failures.join("\n---\n"));
    }

    async fn wait_healthy(&mut self) -> Result<(), String> {
        let http = reqwest::Client::new();
        let health = format!("{}/health", self.url);
        let deadline = Instant::now() + START_DEADLINE;
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            poll.tick().await;
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("llama-server exited during start: {status}"));
            }
            let answer = http
                .get(&health)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no 200 from {health} within {} s",
                    START_DEADLINE.as_secs()
                ));
            }
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("llama-server's log ends with:\n{}", self.log_tail());
        }
        let group = format!("-{}", self.child.id());
        let signal = |name: &str| {
            let _ = Command::new("kill")
                .args([name, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        signal("-TERM");
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    // A synchronous Drop can only poll for the exit.
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        // Anything of the group still alive (a router's child that ignored SIGTERM).
        signal("-KILL");
    }
}

/// A port that was free a moment ago (llama-server binds it itself; a lost race is retried).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        first_byte: Duration::from_secs(120),
        total: Duration::from_secs(600),
    }
}

const STORY: &str = "Write a long story about a dragon who learns to bake bread. \
                     Describe every step in detail.";

fn request(model: &str, route: Route, prompt: &str, max_tokens: u32) -> GenerationRequest {
    let mut request = GenerationRequest::new(model, prompt, max_tokens);
    request.route = route;
    request.temperature = Some(0.0);
    request.seed = Some(7);
    request
}

/// What every record from llama-server must satisfy.
fn check_record(what: &str, record: &GenerationRecord, max_tokens: u32) {
    let summary = format!(
        "{what}: {} tokens, {} chunks, counts {:?}, server {:?}, done {:?}, ttft {:?}, e2e {:?}",
        record.output_tokens,
        record.chunk_offsets.len(),
        record.chunk_token_counts,
        record.server,
        record.done_reason,
        record.ttft(),
        record.e2e()
    );
    eprintln!("{summary}");
    assert_eq!(
        record.token_count_source,
        Some(TokenCountSource::Server),
        "{summary}"
    );
    assert!(record.output_tokens > 0, "{summary}");
    assert!(record.output_tokens <= u64::from(max_tokens), "{summary}");
    // usage.completion_tokens and timings.predicted_n agree: llama.cpp decodes every token
    // but the first (which comes out of the prompt batch) within predicted_ms.
    assert_eq!(
        record.server.eval_count,
        Some(record.output_tokens - 1),
        "{summary}"
    );
    assert!(record.prompt_tokens.is_some_and(|n| n > 0), "{summary}");
    assert!(
        matches!(record.done_reason.as_deref(), Some("stop" | "length")),
        "{summary}"
    );
    // The tokens the client saw arrive add up to the server's count (the end-of-sequence
    // token, when the model stopped, has no text).
    let seen: u64 = if record.chunk_token_counts.is_empty() {
        record.chunk_offsets.len() as u64
    } else {
        assert_eq!(
            record.chunk_token_counts.len(),
            record.chunk_offsets.len(),
            "{summary}"
        );
        record
            .chunk_token_counts
            .iter()
            .map(|&n| u64::from(n))
            .sum()
    };
    let eos = u64::from(record.done_reason.as_deref() == Some("stop"));
    assert!(
        seen == record.output_tokens || seen + eos == record.output_tokens,
        "{summary}"
    );
    let ttft = record.ttft().expect("content arrived");
    assert!(ttft > Duration::ZERO && ttft < record.e2e(), "{summary}");
    assert!(record.e2e() <= record.total, "{summary}");
}

/// The client's decode rate is within 10% of llama.cpp's own (`predicted_per_second`).
fn check_rate(what: &str, record: &GenerationRecord) {
    let client = record
        .client_tokens_per_second()
        .unwrap_or_else(|| panic!("{what}: no client rate"));
    let server = record
        .server_tokens_per_second()
        .unwrap_or_else(|| panic!("{what}: no server rate"));
    let off = (client - server).abs() / server;
    eprintln!(
        "{what}: client {client:.1} tok/s, llama.cpp {server:.1} tok/s ({:.1}% apart)",
        off * 100.0
    );
    assert!(
        off < 0.10,
        "{what}: client {client:.1} vs server {server:.1} tok/s"
    );
}

/// Aggregate tok/s of `requests` run `concurrency` at a time: total output tokens / wall.
async fn aggregate_rate(
    client: &OpenAiClient,
    requests: &[GenerationRequest],
    concurrency: usize,
) -> f64 {
    let started = Instant::now();
    let mut tokens = 0;
    for batch in requests.chunks(concurrency) {
        let records =
            futures_util::future::join_all(batch.iter().map(|r| client.generate(r))).await;
        for record in records {
            tokens += record.expect("a generation under load").output_tokens;
        }
    }
    tokens as f64 / started.elapsed().as_secs_f64()
}

#[tokio::test]
async fn the_client_measures_a_real_llama_server() {
    let Some((_serial, installed)) = require_installed().await else {
        return;
    };
    // Two threads, one per core. (With one thread this CPU gains nothing from batching two
    // streams; with two, a batch of two amortizes the threads' per-operation hand-offs.)
    let server = LlamaServer::serving_smollm2(&installed, &["-t", "2"]).await;
    let client = OpenAiClient::new(&server.url, timeouts(), None).unwrap();

    let kind = client.server_kind().await.unwrap();
    assert!(matches!(kind, ServerKind::LlamaCpp { .. }), "{kind:?}");
    let models = client.models().await.unwrap();
    assert_eq!(models.len(), 1, "{models:?}");
    let model = &models[0];
    // A single-model server has no router mode: loads cannot be timed.
    assert_eq!(client.load_model_timed(model).await.unwrap(), None);

    // Warm up (first use of the weights and the slots).
    client
        .generate(&request(model, Route::Chat, "Hello", 4))
        .await
        .unwrap();

    let max_tokens = 96;
    let chat = client
        .generate(&request(model, Route::Chat, STORY, max_tokens))
        .await
        .unwrap();
    check_record("chat", &chat, max_tokens);
    let completion = client
        .generate(&request(model, Route::Generate, STORY, max_tokens))
        .await
        .unwrap();
    check_record("completions", &completion, max_tokens);
    // Rates are compared on generations that ran to the token limit: after a model's
    // end-of-sequence token llama.cpp's clock runs one more decode step that no content
    // chunk marks, and a stall of the machine during it skews a short generation's rate.
    let mut compared = 0;
    for (what, record) in [("chat", &chat), ("completions", &completion)] {
        if record.done_reason.as_deref() == Some("length") && record.output_tokens >= 16 {
            check_rate(what, record);
            compared += 1;
        } else {
            eprintln!(
                "{what}: {} tokens, done {:?}; rate not compared",
                record.output_tokens, record.done_reason
            );
        }
    }
    assert!(
        compared > 0,
        "the model stopped early on both routes: no rate to compare"
    );

    // -np 2: two streams in flight decode in one batch, so the aggregate rate rises.
    let batch: Vec<GenerationRequest> = (0..4)
        .map(|i| request(model, Route::Generate, &format!("{STORY} Part {i}."), 64))
        .collect();
    // Other work on the machine can still stall llama.cpp for a while: rounds alternate the
    // two levels so that such a stall hits both, and the best round of each is compared.
    let (mut single, mut double) = (0.0_f64, 0.0_f64);
    for round in 1..=3 {
        let one = aggregate_rate(&client, &batch, 1).await;
        let two = aggregate_rate(&client, &batch, 2).await;
        eprintln!(
            "aggregate, round {round}: concurrency 1 {one:.1} tok/s, concurrency 2 {two:.1} tok/s"
        );
        single = single.max(one);
        double = double.max(two);
    }
    assert!(
        double > single,
        "concurrency 2 ({double:.1} tok/s) should beat concurrency 1 ({single:.1} tok/s)"
    );
}

#[tokio::test]
async fn router_mode_model_loads_are_timed() {
    let Some((_serial, installed)) = require_installed().await else {
        return;
    };
    let models_dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        &installed.gguf,
        models_dir.path().join("SmolLM2-135M-Instruct.Q4_1.gguf"),
    )
    .unwrap();
    let dir = models_dir.path().to_string_lossy().into_owned();
    let server = LlamaServer::start(
        &installed,
        &["--models-dir", &dir, "--no-models-autoload", "-c", "2048"],
    )
    .await;
    let client = OpenAiClient::new(&server.url, timeouts(), None).unwrap();
    let models = client.models().await.unwrap();
    assert_eq!(models.len(), 1, "{models:?}");
    let model = &models[0];

    let load = client
        .load_model_timed(model)
        .await
        .unwrap()
        .expect("a router-mode server times loads");
    eprintln!("router load of {model}: {:?}", load.elapsed);
    assert!(!load.already_loaded);
    assert!(load.elapsed > Duration::ZERO);
    let again = client.load_model_timed(model).await.unwrap().unwrap();
    assert!(again.already_loaded, "{again:?}");

    let record = client
        .generate(&request(model, Route::Chat, "Say hello.", 8))
        .await
        .unwrap();
    check_record("router chat", &record, 8);
}

#[tokio::test]
async fn the_commands_run_against_a_real_llama_server() {
    let Some((_serial, installed)) = require_installed().await else {
        return;
    };
    let key = "ollabench-test-key-8d1f";
    let server =
        LlamaServer::serving_smollm2(&installed, &["--alias", "smollm2", "--api-key", key]).await;

    let test_connection = [
        "test-connection",
        "--api",
        "openai",
        "--endpoint",
        &server.url,
    ];
    let (code, stdout, stderr) = support::ollabench_binary(&test_connection).await;
    assert_eq!(code, 1, "no key, yet:\n{stdout}\n{stderr}");
    assert!(stdout.contains("HTTP 401"), "{stdout}");
    assert!(stdout.contains("--api-key"), "{stdout}");

    let with_key = [&test_connection[..], &["--api-key", key]].concat();
    let (code, stdout, stderr) = support::ollabench_binary(&with_key).await;
    assert_eq!(code, 0, "test-connection failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("Server: llama.cpp"), "{stdout}");
    assert!(stdout.contains("smollm2"), "{stdout}");
    assert!(
        !stdout.contains(key) && !stderr.contains(key),
        "{stdout}\n{stderr}"
    );

    let out = tempfile::tempdir().unwrap();
    let output = out.path().join("tps.json");
    let code = support::ollabench(&[
        "tokens-per-second",
        "--api",
        "openai",
        "--endpoint",
        &server.url,
        "--models",
        "smollm2",
        "--prompt-lengths",
        "short",
        "--generation-tokens",
        "32",
        "--warmup-runs",
        "1",
        "--measurement-runs",
        "2",
        "--keep-samples",
        "--concurrent-requests",
        "1,2",
        // Chat: as a bare completion, the short prompt (a whole sentence) often makes the
        // model end at once.
        "--alternate-route",
        "--api-key",
        key,
        "--output",
        output.to_str().unwrap(),
    ])
    .await;
    let json = support::read_json(&output);
    assert_eq!(code, 0, "tokens-per-second failed: {json:#}");
    check_tps_json(&json);
    let written = std::fs::read_to_string(&output).unwrap();
    assert!(
        !written.contains(key),
        "the API key reached the result file"
    );
}

/// The tokens-per-second file written against llama-server.
fn check_tps_json(json: &serde_json::Value) {
    let pretty = format!("{json:#}");
    assert_eq!(json["Status"], "Success", "{pretty}");
    assert_eq!(json["Provenance"]["Api"], "openai", "{pretty}");
    assert_eq!(json["Provenance"]["Simulated"], false, "{pretty}");
    assert_eq!(json["Configuration"]["Models"][0], "smollm2", "{pretty}");
    assert_eq!(json["Configuration"]["Route"], "chat", "{pretty}");
    // "mixed" when the model sampled an end-of-sequence first: a sample without a rate.
    let source = json["Configuration"]["TokensPerSecondSource"].as_str();
    assert!(matches!(source, Some("server" | "mixed")), "{pretty}");
    let model = &json["ModelResults"][0];
    assert_eq!(model["Model"], "smollm2", "{pretty}");
    let cells = model["PromptResults"].as_array().expect("prompt results");
    assert!(!cells.is_empty(), "{pretty}");
    let mut rated = 0;
    for cell in cells {
        let tps = cell["Statistics"]["AverageTokensPerSecond"]
            .as_f64()
            .unwrap_or_else(|| panic!("no average tok/s in {cell:#}"));
        // A 135M model on two CPU cores: tens to a few hundred tok/s, never thousands.
        assert!(tps > 0.0 && tps < 5000.0, "{cell:#}");
        for sample in cell["Samples"].as_array().expect("samples") {
            assert_eq!(sample["Succeeded"], true, "{sample:#}");
            assert_eq!(sample["TokenCountSource"], "server", "{sample:#}");
            let tokens = sample["OutputTokens"].as_u64().expect("output tokens");
            assert!(tokens > 0 && tokens <= 32, "{sample:#}");
            let rates = (
                sample["ServerTokensPerSecond"].as_f64(),
                sample["ClientTokensPerSecond"].as_f64(),
            );
            // As in the client test: only runs to the token limit (no trailing
            // end-of-sequence step) are compared.
            let full_length = sample["DoneReason"] == "length";
            if let (Some(server), Some(client), true) = (rates.0, rates.1, full_length) {
                rated += 1;
                assert!(
                    (client - server).abs() / server < 0.10,
                    "client and llama.cpp rates disagree: {sample:#}"
                );
            }
        }
    }
    assert!(rated > 0, "no sample has both rates: {pretty}");
    let levels: Vec<u64> = json["Concurrency"]
        .as_array()
        .expect("concurrency results")
        .iter()
        .map(|level| {
            assert!(
                level["AggregateTokensPerSecond"].as_f64().unwrap_or(0.0) > 0.0,
                "{level:#}"
            );
            level["ConcurrentRequests"].as_u64().expect("a level")
        })
        .collect();
    assert_eq!(levels, vec![1, 2], "{pretty}");
    let overall = json["Summary"]["OverallAverageTokensPerSecond"]
        .as_f64()
        .expect("an overall average");
    assert!(overall > 0.0, "{pretty}");
}

/// A tokens-per-second run against llama-server; returns the result file.
async fn tps_against(server: &LlamaServer, extra: &[&str]) -> serde_json::Value {
    let out = tempfile::tempdir().unwrap();
    let output = out.path().join("tps.json");
    let args = [
        &[
            "tokens-per-second",
            "--api",
            "openai",
            "--endpoint",
            &server.url,
            "--models",
            "smollm2",
            "--warmup-runs",
            "0",
            "--measurement-runs",
            "1",
            "--keep-samples",
            "--output",
            output.to_str().unwrap(),
        ][..],
        extra,
    ]
    .concat();
    let code = support::ollabench(&args).await;
    let json = support::read_json(&output);
    assert_eq!(code, 0, "tokens-per-second failed: {json:#}");
    json
}

#[tokio::test]
async fn sized_prompts_and_forced_output_on_a_real_llama_server() {
    let Some((_serial, installed)) = require_installed().await else {
        return;
    };
    // One slot of 2,048 tokens: room for the 1,024-token prompt and its output.
    let gguf = installed.gguf.to_string_lossy().to_string();
    let server = LlamaServer::start(
        &installed,
        &["-m", &gguf, "-np", "1", "-c", "2048", "--alias", "smollm2"],
    )
    .await;

    // Sized in SmolLM2's own tokens by llama-server's count, with no tokenizer here.
    let json = tps_against(
        &server,
        &["--input-tokens", "64,256,1k", "--output-tokens", "16"],
    )
    .await;
    let pretty = format!("{json:#}");
    let calibration = &json["Calibrations"][0];
    assert_eq!(calibration["Source"], "usage.prompt_tokens", "{pretty}");
    let cells = json["ModelResults"][0]["PromptResults"]
        .as_array()
        .expect("prompt results");
    assert_eq!(cells.len(), 3, "{pretty}");
    for (cell, asked) in cells.iter().zip([64u64, 256, 1024]) {
        for sample in cell["Samples"].as_array().expect("samples") {
            let counted = sample["PromptTokens"].as_u64().expect("llama.cpp's count");
            let error = (counted as f64 - asked as f64).abs() / asked as f64;
            eprintln!("{asked} tokens asked: llama-server counted {counted}");
            assert!(error <= 0.02, "{asked} asked, {counted} counted: {pretty}");
            assert_eq!(sample["OutputTokens"], 16, "{sample:#}");
        }
    }

    // The short category as a bare completion makes SmolLM2 end within a few tokens;
    // forced, it runs to the length asked for.
    let json = tps_against(
        &server,
        &["--prompt-lengths", "short", "--output-tokens", "64"],
    )
    .await;
    let cell = &json["ModelResults"][0]["PromptResults"][0];
    assert_eq!(cell["StoppedEarly"], 0, "{cell:#}");
    for sample in cell["Samples"].as_array().expect("samples") {
        assert_eq!(sample["OutputTokens"], 64, "{sample:#}");
        assert_eq!(sample["DoneReason"], "length", "{sample:#}");
    }
}

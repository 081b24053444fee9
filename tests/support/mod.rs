//! Helpers shared by the integration tests: the in-process simulator, running ollabench
//! in-process or as a binary, and JSON key-set comparison.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;

use clap::Parser;
use ollabench::sim::model::Span;
use ollabench::sim::{self, SimConfig, SimHandle};

/// A (low, high) range of the reference's tables.
pub type Range = (f64, f64);

/// The reference's "Expected Results (T4 GPU)": model, download, cold load, warm load (s) and
/// tok/s ranges.
pub const EXPECTED_T4: [(&str, Range, Range, Range, Range); 4] = [
    (
        "phi3.5",
        (15.0, 20.0),
        (8.0, 12.0),
        (1.0, 3.0),
        (55.0, 65.0),
    ),
    (
        "gemma2:2b",
        (10.0, 15.0),
        (6.0, 10.0),
        (1.0, 3.0),
        (60.0, 70.0),
    ),
    (
        "llama3.1:8b",
        (35.0, 50.0),
        (16.0, 20.0),
        (2.0, 4.0),
        (40.0, 50.0),
    ),
    (
        "mistral:7b",
        (30.0, 45.0),
        (14.0, 18.0),
        (2.0, 4.0),
        (42.0, 52.0),
    ),
];

/// Asserts that `real` seconds, measured over HTTP against a simulator at `scale`, are what
/// the performance model says (`span`, simulated seconds): never less than its shortest time
/// (the server sleeps at least that long; 6 ms allow for results rounded to 10 ms), and at most
/// 1.5 times its longest plus a quarter of a second (a busy machine wakes late, it does not
/// double a duration). The exact times are tested on the paused clock in `src/sim`.
pub fn assert_modelled(what: &str, real: f64, span: Span, scale: f64) {
    let (low, high) = (span.low * scale - 0.006, span.high * scale * 1.5 + 0.25);
    assert!(
        (low..=high).contains(&real),
        "{what}: {real:.3} s outside {low:.3}-{high:.3} s (the model: {span} simulated s)"
    );
}

/// Starts the simulator on a free loopback port.
pub async fn start_sim(config: SimConfig) -> SimHandle {
    sim::spawn(config, "127.0.0.1:0")
        .await
        .expect("the simulator starts")
}

/// A simulator config at a time scale, with some models already downloaded.
pub fn sim_config(time_scale: f64, preload: &[&str]) -> SimConfig {
    SimConfig {
        time_scale,
        preload: preload.iter().map(|m| m.to_string()).collect(),
        ..SimConfig::default()
    }
}

/// Runs an ollabench command line in-process and returns its exit code.
pub async fn ollabench(args: &[&str]) -> u8 {
    let argv = std::iter::once("ollabench").chain(args.iter().copied());
    let cli = ollabench::cli::Cli::try_parse_from(argv).expect("the command line parses");
    ollabench::run_async(cli, ollabench::Ctx::quiet()).await
}

/// Runs the ollabench binary; returns (exit code, stdout, stderr).
pub async fn ollabench_binary(args: &[&str]) -> (i32, String, String) {
    finish(ollabench_command(args)).await
}

/// The ollabench binary with `args`, `OLLAMA_HOST` unset so that no test reaches a real server.
pub fn ollabench_command(args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ollabench"));
    command.args(args).env_remove("OLLAMA_HOST");
    command
}

/// Runs a command to its end; returns (exit code, stdout, stderr).
pub async fn finish(mut command: tokio::process::Command) -> (i32, String, String) {
    let output = command.output().await.expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Polls `condition` until it holds; fails the test with `what` after `limit`. For what
/// another process does (a child started or exited), which no in-process signal announces.
pub async fn wait_for(what: &str, limit: std::time::Duration, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The state letter from `/proc/PID/stat` (R, S, Z, ...), or None once the pid is gone.
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in parentheses may contain spaces; the state follows the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.trim_start().chars().next()
}

/// Whether a process is alive: neither gone nor a zombie.
pub fn is_running(pid: u32) -> bool {
    matches!(process_state(pid), Some(state) if state != 'Z' && state != 'X')
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display()))
}

/// Every key path of a JSON value (`Measurements.DownloadTimeSeconds`,
/// `ModelResults[].PromptResults[].Statistics.SampleSize`).
pub fn key_paths(value: &serde_json::Value) -> BTreeSet<String> {
    fn walk(value: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    out.insert(path.clone());
                    walk(child, &path, out);
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    walk(item, &format!("{prefix}[]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(value, "", &mut out);
    out
}

/// Asserts that `actual` carries every key path of `reference`.
pub fn assert_has_reference_keys(reference: &str, actual: &serde_json::Value) {
    let reference: serde_json::Value = serde_json::from_str(reference).expect("reference JSON");
    let expected = key_paths(&reference);
    let actual = key_paths(actual);
    let missing: Vec<&String> = expected.difference(&actual).collect();
    assert!(missing.is_empty(), "missing reference keys: {missing:?}");
}

/// A loopback port where nothing listens.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

/// An HTTP server that is not Ollama: 404 for every path, like a misrouted ingress.
pub async fn not_ollama_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::NOT_FOUND,
            "<html>default backend - 404</html>",
        )
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

// fault-matrix helpers
//
// Used by tests/fault_matrix.rs: the binary run with a time limit or kept running for a
// signal, a server that accepts and never answers, and a counting (and holding) HTTP proxy
// in front of the simulator.

#[allow(unused_imports)]
pub use fault_matrix_helpers::*;

mod fault_matrix_helpers {
    use std::net::SocketAddr;
    use std::process::Stdio;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use tokio::io::AsyncReadExt;

    /// How a bounded run of the binary ended.
    #[derive(Debug)]
    pub struct Finished {
        /// The exit code; `None` when killed by a signal or by the time limit.
        pub code: Option<i32>,
        pub stdout: String,
        pub stderr: String,
        pub elapsed: Duration,
        /// The run went past its limit and was killed.
        pub timed_out: bool,
    }

    impl Finished {
        /// stdout and stderr together: "the console".
        pub fn console(&self) -> String {
            format!("{}\n{}", self.stdout, self.stderr)
        }
    }

    /// Runs the ollabench binary with a time limit (killed past it); `OLLAMA_HOST` and
    /// `OPENAI_API_KEY` removed, `envs` added.
    pub async fn run_bounded(args: &[&str], envs: &[(&str, &str)], limit: Duration) -> Finished {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ollabench"));
        command.args(args);
        run_command_bounded(command, envs, limit).await
    }

    /// Runs a prepared command with a time limit; see [`run_bounded`].
    pub async fn run_command_bounded(
        mut command: tokio::process::Command,
        envs: &[(&str, &str)],
        limit: Duration,
    ) -> Finished {
        command
            .env_remove("OLLAMA_HOST")
            .env_remove("OPENAI_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in envs {
            command.env(key, value);
        }
        let started = Instant::now();
        let mut child = command.spawn().expect("the binary starts");
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let (code, timed_out) = match tokio::time::timeout(limit, child.wait()).await {
            Ok(status) => (status.expect("wait for the binary").code(), false),
            Err(_) => {
                let _ = child.kill().await;
                (None, true)
            }
        };
        let elapsed = started.elapsed();
        Finished {
            code,
            stdout: collect(stdout).await,
            stderr: collect(stderr).await,
            elapsed,
            timed_out,
        }
    }

    /// Reads a pipe to its end in the background.
    pub fn drain<R>(pipe: Option<R>) -> tokio::task::JoinHandle<String>
    where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
    {
        tokio::spawn(async move {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes).await;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    }

    /// What a drained pipe held; waits at most 5 s (a grandchild may hold the pipe open).
    pub async fn collect(handle: tokio::task::JoinHandle<String>) -> String {
        match tokio::time::timeout(Duration::from_secs(5), handle).await {
            Ok(Ok(text)) => text,
            Ok(Err(err)) => format!("<reader failed: {err}>"),
            Err(_) => "<pipe still open 5 s after exit>".to_string(),
        }
    }

    /// Polls `condition` every 20 ms; panics naming `what` after `limit`.
    pub async fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a signal (`INT`, `TERM`) to a process with kill(1).
    pub fn send_signal(pid: u32, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// Whether the tests run as root (permissions then do not stop writes).
    pub fn running_as_root() -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
            .unwrap_or(false)
    }

    /// A TCP server that accepts connections, holds them open and never sends a byte.
    pub struct SilentServer {
        pub addr: SocketAddr,
        accepted: Arc<AtomicUsize>,
        task: tokio::task::JoinHandle<()>,
    }

    impl SilentServer {
        /// Connections accepted so far.
        pub fn accepted(&self) -> usize {
            self.accepted.load(Ordering::SeqCst)
        }

        /// `http://127.0.0.1:PORT`.
        pub fn url(&self) -> String {
            format!("http://{}", self.addr)
        }
    }

    impl Drop for SilentServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    /// Starts a [`SilentServer`] on a free loopback port.
    pub async fn silent_server() -> SilentServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        SilentServer {
            addr,
            accepted,
            task,
        }
    }

    /// One request a [`CountingProxy`] saw.
    #[derive(Debug, Clone, Default)]
    pub struct SeenRequest {
        pub method: String,
        pub path: String,
        /// The body's `model` (or `name`) field.
        pub model: Option<String>,
        /// A generation: generate/chat/completions with a prompt or messages (a load-only or
        /// unload request has neither).
        pub generation: bool,
        /// Held: never forwarded, never answered.
        pub held: bool,
        /// The upstream status, once it answered.
        pub status: Option<u16>,
        /// Body chunks forwarded to the client so far.
        pub chunks: usize,
        /// The response body ended (cleanly or not).
        pub finished: bool,
    }

    /// Which requests a proxy holds forever instead of forwarding.
    pub type HoldRule = fn(&SeenRequest) -> bool;

    /// Holds nothing.
    pub fn hold_nothing(_: &SeenRequest) -> bool {
        false
    }

    /// Holds every generation (requests with a prompt), so the client waits for the first
    /// byte; loads, pulls and probes pass.
    pub fn hold_generations(request: &SeenRequest) -> bool {
        request.generation
    }

    /// An HTTP proxy in front of a server (the simulator): records every request and streams
    /// every response through chunk by chunk; a [`HoldRule`] makes it hold some requests.
    pub struct CountingProxy {
        pub addr: SocketAddr,
        seen: Arc<Mutex<Vec<SeenRequest>>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for CountingProxy {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl CountingProxy {
        /// `http://127.0.0.1:PORT`.
        pub fn url(&self) -> String {
            format!("http://{}", self.addr)
        }

        /// Every request seen so far, in arrival order.
        pub fn requests(&self) -> Vec<SeenRequest> {
            self.seen.lock().unwrap().clone()
        }

        /// How many seen requests match.
        pub fn count(&self, filter: impl Fn(&SeenRequest) -> bool) -> usize {
            self.seen
                .lock()
                .unwrap()
                .iter()
                .filter(|r| filter(r))
                .count()
        }

        /// A one-line-per-request listing for assert messages.
        pub fn listing(&self) -> String {
            self.requests()
                .iter()
                .map(|r| {
                    format!(
                        "{} {} model={:?} gen={} held={} status={:?} chunks={} finished={}",
                        r.method,
                        r.path,
                        r.model,
                        r.generation,
                        r.held,
                        r.status,
                        r.chunks,
                        r.finished
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
    }

    struct ProxyState {
        upstream: String,
        client: reqwest::Client,
        seen: Arc<Mutex<Vec<SeenRequest>>>,
        hold: HoldRule,
    }

    /// Starts a [`CountingProxy`] to `upstream` (`http://host:port`) on a free port.
    pub async fn counting_proxy(upstream: &str, hold: HoldRule) -> CountingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::builder()
                .http1_only()
                .build()
                .expect("a client"),
            seen: Arc::clone(&seen),
            hold,
        });
        let app = axum::Router::new()
            .fallback(proxy_handler)
            .with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        CountingProxy { addr, seen, task }
    }

    fn update(seen: &Mutex<Vec<SeenRequest>>, index: usize, edit: impl FnOnce(&mut SeenRequest)) {
        if let Some(entry) = seen.lock().unwrap().get_mut(index) {
            edit(entry);
        }
    }

    async fn proxy_handler(
        axum::extract::State(state): axum::extract::State<Arc<ProxyState>>,
        request: axum::extract::Request,
    ) -> axum::response::Response {
        use futures_util::StreamExt;

        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let field = |name: &str| {
            json.as_ref()
                .and_then(|j| j.get(name))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let path = parts.uri.path().to_string();
        let has_prompt = json.as_ref().is_some_and(|j| {
            j.get("prompt")
                .and_then(|p| p.as_str())
                .is_some_and(|p| !p.is_empty())
                || j.get("messages")
                    .and_then(|m| m.as_array())
                    .is_some_and(|m| !m.is_empty())
        });
        let mut entry = SeenRequest {
            method: parts.method.to_string(),
            path: path.clone(),
            model: field("model").or_else(|| field("name")),
            generation: has_prompt
                && [
                    "/api/generate",
                    "/api/chat",
                    "/v1/chat/completions",
                    "/v1/completions",
                ]
                .contains(&path.as_str()),
            ..SeenRequest::default()
        };
        entry.held = (state.hold)(&entry);
        let held = entry.held;
        let index = {
            let mut seen = state.seen.lock().unwrap();
            seen.push(entry);
            seen.len() - 1
        };
        if held {
            // Never answered; the handler is dropped when the client goes away.
            std::future::pending::<()>().await;
        }
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or(path);
        let url = format!("{}{}", state.upstream, path_and_query);
        let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())
            .unwrap_or(reqwest::Method::GET);
        let mut forward = state.client.request(method, &url).body(body.to_vec());
        for (name, value) in parts.headers.iter() {
            if matches!(
                name.as_str(),
                "host" | "content-length" | "connection" | "transfer-encoding"
            ) {
                continue;
            }
            forward = forward.header(name.as_str(), value.as_bytes());
        }
        let upstream = match forward.send().await {
            Ok(response) => response,
            Err(err) => {
                update(&state.seen, index, |e| e.finished = true);
                return axum::response::Response::builder()
                    .status(502)
                    .body(axum::body::Body::from(format!("proxy: {err}")))
                    .unwrap();
            }
        };
        let status = upstream.status().as_u16();
        update(&state.seen, index, |e| e.status = Some(status));
        let mut builder = axum::response::Response::builder().status(status);
        for (name, value) in upstream.headers().iter() {
            if matches!(
                name.as_str(),
                "content-length" | "connection" | "transfer-encoding"
            ) {
                continue;
            }
            builder = builder.header(name.as_str(), value.as_bytes());
        }
        let seen = Arc::clone(&state.seen);
        let stream = upstream.bytes_stream().map(move |item| {
            match &item {
                Ok(_) => update(&seen, index, |e| e.chunks += 1),
                Err(_) => update(&seen, index, |e| e.finished = true),
            }
            item
        });
        let seen_end = Arc::clone(&state.seen);
        let ended = futures_util::stream::once(async move {
            update(&seen_end, index, |e| e.finished = true);
            Ok::<bytes::Bytes, reqwest::Error>(bytes::Bytes::new())
        });
        let body = axum::body::Body::from_stream(stream.chain(ended));
        builder.body(body).unwrap()
    }
}

// shared test helpers (dedup)

/// A simulator config at a time scale, with some models already downloaded and one fault
/// rule (`kind`, `spec`, as `ollabench sim --fault-KIND SPEC` takes them).
pub fn faulty_sim(time_scale: f64, preload: &[&str], kind: &str, spec: &str) -> SimConfig {
    SimConfig {
        faults: sim::Faults {
            rules: vec![sim::FaultRule::parse(kind, spec).expect("a valid fault rule")],
        },
        ..sim_config(time_scale, preload)
    }
}

/// The command line of a single-user run of `model` against `endpoint`, the result written to
/// `output`; `extra` flags follow.
pub fn single_user_args(endpoint: &str, model: &str, output: &Path, extra: &[&str]) -> Vec<String> {
    command_line(
        &["single-user", "--endpoint", endpoint, "--model", model],
        output,
        extra,
    )
}

/// `words`, then `--output OUTPUT`, then `extra`.
pub fn command_line(words: &[&str], output: &Path, extra: &[&str]) -> Vec<String> {
    let output = ["--output", output.to_str().unwrap()];
    [words, &output[..], extra]
        .concat()
        .into_iter()
        .map(String::from)
        .collect()
}

/// The command line of a small tokens-per-second run against `endpoint`: `models` by
/// `prompt_lengths`, no warmup, `measurement_runs` measured requests a cell, the result
/// written to `output`; `extra` flags follow.
pub fn tps_args(
    endpoint: &str,
    models: &str,
    prompt_lengths: &str,
    measurement_runs: &str,
    output: &Path,
    extra: &[&str],
) -> Vec<String> {
    command_line(
        &[
            "tps",
            "--endpoint",
            endpoint,
            "--models",
            models,
            "--prompt-lengths",
            prompt_lengths,
            "--warmup-runs",
            "0",
            "--measurement-runs",
            measurement_runs,
        ],
        output,
        extra,
    )
}

/// Borrows a command line built as strings, for [`ollabench`] and [`ollabench_binary`].
pub fn arg_refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

//! Client cost of streaming: CPU time per streamed token and peak memory with many concurrent
//! streams, measured against the simulator running in a separate process (so its own work is
//! not counted). Run with `cargo bench --bench client_overhead`; it prints the numbers.
//!
//! DESIGN.md's budget: at most 1 µs of client CPU per streamed token, under 200 MB with
//! 10,000 streams open.

use std::time::{Duration, Instant};

use ollabench::backend::ollama::OllamaClient;
use ollabench::backend::{GenerationRequest, Timeouts};
use ollabench::engine::{self, Plan};
use tokio_util::sync::CancellationToken;

/// CPU seconds (user, system) this process has used, from /proc/self/stat (USER_HZ = 100).
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of the stat line; index 11 and 12 after the name and state.
    (ticks(11) / 100.0, ticks(12) / 100.0)
}

/// Peak resident memory (VmHWM) in MB.
fn peak_memory_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

struct SimProcess(std::process::Child);

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(client: &OllamaClient) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.version().await.is_err() {
        assert!(Instant::now() < deadline, "the simulator did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stream_batch(
    client: &OllamaClient,
    streams: usize,
    tokens: u32,
) -> (u64, usize, Duration) {
    let request = GenerationRequest::new("gemma2:2b", "Explain the sky.", tokens);
    let started = Instant::now();
    let batch = engine::collect(
        Plan::new(streams, streams),
        &CancellationToken::new(),
        |_| client.generate(&request),
        |_, _| {},
    )
    .await;
    let elapsed = started.elapsed();
    let mut tokens_seen = 0;
    let mut failures = 0;
    for (_, outcome) in &batch.outputs {
        match outcome {
            Ok(record) => tokens_seen += record.chunk_offsets.len() as u64,
            Err(_) => failures += 1,
        }
    }
    (tokens_seen, failures, elapsed)
}

fn main() {
    let port = free_port();
    let sim = std::process::Command::new(env!("CARGO_BIN_EXE_ollabench"))
        .args([
            "sim",
            "--port",
            &port.to_string(),
            "--time-scale",
            "0.002",
            "--num-parallel",
            "20000",
            "--preload",
            "gemma2:2b",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the simulator starts");
    let _sim = SimProcess(sim);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let timeouts = Timeouts {
            connect: Duration::from_secs(30),
            first_byte: Duration::from_secs(120),
            total: Duration::from_secs(600),
        };
        let client = OllamaClient::new(&format!("http://127.0.0.1:{port}"), timeouts).expect("client");
        wait_ready(&client).await;
        let _ = client.load("gemma2:2b", None).await;
        let memory_before = peak_memory_mb();

        // CPU per token: enough streams to keep the simulator's token rate high.
        let (user_before, system_before) = cpu_seconds();
        let (tokens, failures, elapsed) = stream_batch(&client, 50, 4000).await;
        let (user_after, system_after) = cpu_seconds();
        let (user, system) = (user_after - user_before, system_after - system_before);
        let per_token = |seconds: f64| seconds * 1e6 / tokens.max(1) as f64;
        println!(
            "cpu per token: {:.3} µs ({:.3} µs user, {:.3} µs system/kernel; {tokens} tokens in {:.2} s wall, {failures} failed requests; one client thread)",
            per_token(user + system),
            per_token(user),
            per_token(system),
            elapsed.as_secs_f64(),
        );

        for streams in [1000usize, 10_000] {
            let (tokens, failures, elapsed) = stream_batch(&client, streams, 100).await;
            println!(
                "{streams} concurrent streams: peak memory {:.1} MB (before: {memory_before:.1} MB), {tokens} tokens in {:.2} s, {failures} failed",
                peak_memory_mb(),
                elapsed.as_secs_f64()
            );
        }
    });
}

//! Helpers shared by the integration tests: the in-process simulator, running ollabench
//! in-process or as a binary, and JSON key-set comparison.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;

use clap::Parser;
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
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ollabench"))
        .args(args)
        .env_remove("OLLAMA_HOST")
        .output()
        .await
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
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

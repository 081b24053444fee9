//! End-to-end tests of what real deployments do that a fresh simulator does not: a server
//! that cannot reach its public registry (air-gapped), a private registry over plain HTTP,
//! `--skip-download`, multi-user restoring the server between its phases, "already present"
//! decided from `/api/tags`, and the simulator recognised through the OpenAI API.

mod support;

use std::path::Path;

use ollabench::sim::{Registry, SimConfig, SimHandle};
use support::*;

const SCALE: f64 = 0.02;
const SMOL: &str = "smollm2:135m";
const PRIVATE: &str = "127.0.0.1:5000";

fn air_gapped(preload: &[&str]) -> SimConfig {
    SimConfig {
        air_gapped: true,
        ..sim_config(SCALE, preload)
    }
}

fn with_private_registry(preload: &[&str]) -> SimConfig {
    SimConfig {
        registries: vec![Registry {
            host: PRIVATE.into(),
            tls: false,
        }],
        ..air_gapped(preload)
    }
}

/// A folder for results, and a simulator that reaches only the private registry and holds no
/// model yet; with the name of SmolLM2 there.
async fn empty_private_registry() -> (tempfile::TempDir, SimHandle, String) {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(with_private_registry(&[])).await;
    (dir, sim, format!("{PRIVATE}/library/{SMOL}"))
}

/// Runs `command` (its name and own flags) with 20 generation tokens into `output`, then
/// `extra`.
async fn small_run(command: &[&str], output: &Path, extra: &[&str]) -> u8 {
    let mut args = command.to_vec();
    args.extend([
        "--generation-tokens",
        "20",
        "--output",
        output.to_str().unwrap(),
    ]);
    args.extend_from_slice(extra);
    ollabench(&args).await
}

async fn single_user(url: &str, model: &str, output: &Path, extra: &[&str]) -> u8 {
    let command = ["single-user", "--endpoint", url, "--model", model];
    small_run(&command, output, extra).await
}

/// Runs single-user on [`SMOL`] once against a fresh simulator; the exit code and the result.
async fn single_user_once(config: SimConfig, extra: &[&str]) -> (u8, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(config).await;
    let output = dir.path().join("single-user.json");
    let code = single_user(&sim.url(), SMOL, &output, extra).await;
    sim.shutdown().await;
    (code, read_json(&output))
}

/// What the server lists in `/api/tags`.
async fn tags(url: &str) -> serde_json::Value {
    reqwest::get(format!("{url}/api/tags"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn measurements(result: &serde_json::Value) -> &serde_json::Value {
    &result["Measurements"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_download_measures_the_loads_of_a_present_model_on_an_air_gapped_server() {
    let (code, result) = single_user_once(air_gapped(&[SMOL]), &["--skip-download"]).await;
    assert_eq!(code, 0, "{result:#}");
    let m = measurements(&result);
    assert_eq!(m["DownloadStatus"], "Skipped", "{result:#}");
    assert!(m["DownloadStatusReason"]
        .as_str()
        .unwrap()
        .contains("--skip-download"));
    assert_eq!(m["DownloadMegabytesPerSecond"], serde_json::Value::Null);
    assert_eq!(m["LoadStatus"], "Success");
    assert!(m["LoadTimeColdSeconds"].as_f64().unwrap() > 0.0);
    assert!(m["LoadTimeWarmSeconds"].as_f64().unwrap() > 0.0);
    assert!(m["TokensPerSecond"].as_f64().unwrap() > 0.0);
    assert_eq!(result["Status"], "Success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_pull_of_a_present_model_still_measures_loads_and_generation() {
    let (code, result) = single_user_once(air_gapped(&[SMOL]), &[]).await;
    assert_eq!(code, 1, "a failed pull is a failure: {result:#}");
    let m = measurements(&result);
    assert_eq!(m["DownloadStatus"], "Failed");
    assert_eq!(m["LoadStatus"], "Success", "{result:#}");
    assert!(m["LoadTimeColdSeconds"].as_f64().unwrap() > 0.0);
    assert!(m["TokensPerSecond"].as_f64().unwrap() > 0.0);
    let error = &result["Errors"][0];
    assert_eq!(error["Phase"], "download");
    let message = error["Message"].as_str().unwrap();
    assert!(
        message.contains("pull model manifest")
            && message.contains("registry.ollama.ai")
            && message.contains("no such host"),
        "the server's own message is kept: {message}"
    );
    let hint = error["Hint"].as_str().unwrap();
    assert!(hint.contains("cannot reach its model registry"), "{hint}");
    assert!(hint.contains("--skip-download") && hint.contains("--insecure"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_model_that_cannot_be_pulled_stops_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(air_gapped(&[])).await;
    let output = dir.path().join("absent.json");
    let code = single_user(&sim.url(), SMOL, &output, &[]).await;
    let skip_output = dir.path().join("absent-skip.json");
    let skip_code = single_user(&sim.url(), SMOL, &skip_output, &["--skip-download"]).await;
    sim.shutdown().await;

    let result = read_json(&output);
    assert_eq!(code, 1, "{result:#}");
    let m = measurements(&result);
    assert_eq!(m["DownloadStatus"], "Failed");
    assert_eq!(m["LoadStatus"], "NotRun");
    assert!(result["Errors"][0]["Hint"]
        .as_str()
        .unwrap()
        .contains("--skip-download"));

    let skipped = read_json(&skip_output);
    assert_eq!(skip_code, 1, "{skipped:#}");
    assert_eq!(measurements(&skipped)["LoadStatus"], "NotRun");
    let error = &skipped["Errors"][0];
    assert_eq!(error["Kind"], "model-absent");
    assert!(error["Message"]
        .as_str()
        .unwrap()
        .contains("not on the server"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_http_registry_needs_insecure_and_then_measures_a_real_download() {
    let (dir, sim, model) = empty_private_registry().await;
    let refused = dir.path().join("no-insecure.json");
    let refused_code = single_user(&sim.url(), &model, &refused, &[]).await;
    let pulled = dir.path().join("insecure.json");
    let pulled_code = single_user(&sim.url(), &model, &pulled, &["--insecure"]).await;
    let tags = tags(&sim.url()).await;
    sim.shutdown().await;

    let refused = read_json(&refused);
    assert_eq!(refused_code, 1, "{refused:#}");
    let error = &refused["Errors"][0];
    assert!(error["Message"]
        .as_str()
        .unwrap()
        .contains("http: server gave HTTP response to HTTPS client"));
    assert!(error["Hint"].as_str().unwrap().contains("--insecure"));

    let pulled = read_json(&pulled);
    assert_eq!(pulled_code, 0, "{pulled:#}");
    assert_eq!(pulled["Model"], model.as_str());
    let m = measurements(&pulled);
    assert_eq!(m["DownloadStatus"], "Success");
    assert!(m["DownloadBytes"].as_u64().unwrap() > 90_000_000);
    assert!(m["DownloadMegabytesPerSecond"].as_f64().unwrap() > 0.0);
    assert_eq!(m["LoadStatus"], "Success");
    assert_eq!(pulled["Provenance"]["Models"][0]["Name"], model.as_str());
    assert!(
        tags["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == model.as_str()),
        "{tags:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_a_present_model_says_already_present_without_a_rate() {
    let (code, result) = single_user_once(sim_config(SCALE, &[SMOL]), &[]).await;
    assert_eq!(code, 0, "{result:#}");
    let m = measurements(&result);
    assert_eq!(m["DownloadStatus"], "AlreadyPresent");
    assert_eq!(m["DownloadMegabytesPerSecond"], serde_json::Value::Null);
    assert!(m["DownloadStatusReason"]
        .as_str()
        .unwrap()
        .contains("before the pull"));
}

async fn multi_user(url: &str, users: &str, models: &str, output: &Path, extra: &[&str]) -> u8 {
    let command = [
        "multi-user",
        "--endpoint",
        url,
        "--concurrent-users",
        users,
        "--models",
        models,
    ];
    small_run(&command, output, extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_user_restores_the_server_between_its_phases_run_after_run() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config(SCALE, &[])).await;
    let mut efficiencies = Vec::new();
    for run in 1..=2 {
        let output = dir.path().join(format!("run-{run}.json"));
        let code = multi_user(
            &sim.url(),
            "2",
            "gemma2:2b,phi3.5",
            &output,
            &["--redownload"],
        )
        .await;
        let result = read_json(&output);
        assert_eq!(code, 0, "run {run}: {result:#}");
        for user in result["IndividualResults"].as_array().unwrap() {
            let m = &user["Measurements"];
            assert_eq!(
                m["DownloadStatus"], "Success",
                "run {run}: every concurrent user measures a real download: {user:#}"
            );
            assert!(m["LoadTimeSeconds"].as_f64().unwrap() > 0.0);
        }
        assert!(result["Scaling"]["BaselineSource"]
            .as_str()
            .unwrap()
            .contains("alone"));
        efficiencies.push(result["Scaling"]["EfficiencyPercent"].as_f64().unwrap());
    }
    sim.shutdown().await;
    for efficiency in &efficiencies {
        assert!(
            (20.0..=110.0).contains(efficiency),
            "a real efficiency each run, not 0%: {efficiencies:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_user_refuses_rather_than_report_a_spoiled_efficiency() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config(SCALE, &[])).await;
    let output = dir.path().join("spoiled.json");
    let code = multi_user(&sim.url(), "2", "gemma2:2b,phi3.5", &output, &[]).await;
    let tags = tags(&sim.url()).await;
    sim.shutdown().await;
    let result = read_json(&output);
    assert_eq!(code, 1, "{result:#}");
    assert_eq!(result["Errors"][0]["Kind"], "spoiled-state");
    assert!(result["Errors"][0]["Hint"]
        .as_str()
        .unwrap()
        .contains("--redownload"));
    assert_eq!(result["IndividualResults"].as_array().unwrap().len(), 0);
    assert_eq!(
        result["Scaling"]["EfficiencyPercent"],
        serde_json::Value::Null
    );
    assert!(
        tags["models"].as_array().unwrap().is_empty(),
        "nothing was pulled: {tags:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_user_skip_download_measures_loads_on_an_air_gapped_server() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(air_gapped(&["gemma2:2b", "phi3.5"])).await;
    let output = dir.path().join("skip.json");
    let code = multi_user(
        &sim.url(),
        "2",
        "gemma2:2b,phi3.5",
        &output,
        &["--skip-download"],
    )
    .await;
    sim.shutdown().await;
    let result = read_json(&output);
    assert_eq!(code, 0, "{result:#}");
    for user in result["IndividualResults"].as_array().unwrap() {
        let m = &user["Measurements"];
        assert_eq!(m["DownloadStatus"], "Skipped", "{user:#}");
        assert_eq!(m["LoadStatus"], "Success");
        assert!(m["LoadTimeSeconds"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(result["Summary"]["SuccessRate"], 100.0);
    assert!(result["Scaling"]["EfficiencyPercent"].as_f64().unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_user_on_a_private_registry_measures_every_download() {
    let (dir, sim, model) = empty_private_registry().await;
    let output = dir.path().join("private.json");
    let code = multi_user(
        &sim.url(),
        "2",
        &model,
        &output,
        &["--insecure", "--redownload"],
    )
    .await;
    sim.shutdown().await;
    let result = read_json(&output);
    assert_eq!(code, 0, "{result:#}");
    assert_eq!(result["Summary"]["SuccessfulDownloads"], 2);
    assert_eq!(result["Summary"]["SuccessfulLoads"], 2);
    for user in result["IndividualResults"].as_array().unwrap() {
        assert_eq!(user["Model"], model.as_str());
        assert!(user["Measurements"]["DownloadBytes"].as_u64().unwrap() > 90_000_000);
    }
}

/// A pull against a fast registry can report every layer complete on its first progress
/// line; only what `/api/tags` listed before the pull says whether the model was there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn already_present_is_decided_by_the_tags_before_the_pull() {
    use axum::routing::{get, post};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let pulled = Arc::new(AtomicBool::new(false));
    let tags_state = pulled.clone();
    let pull_state = pulled.clone();
    let app = axum::Router::new()
        .route(
            "/api/tags",
            get(move || {
                let pulled = tags_state.load(Ordering::SeqCst);
                async move {
                    let models = if pulled {
                        serde_json::json!([{"name": "fast:1b", "model": "fast:1b", "size": 1000, "digest": "abc"}])
                    } else {
                        serde_json::json!([])
                    };
                    axum::Json(serde_json::json!({ "models": models }))
                }
            }),
        )
        .route(
            "/api/pull",
            post(move || {
                pull_state.store(true, Ordering::SeqCst);
                async {
                    "{\"status\":\"pulling manifest\"}\n\
                     {\"status\":\"pulling abc\",\"digest\":\"sha256:abc\",\"total\":1000,\"completed\":1000}\n\
                     {\"status\":\"success\"}\n"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let client = ollabench::backend::ollama::OllamaClient::new(
        &url,
        ollabench::backend::Timeouts {
            connect: std::time::Duration::from_secs(5),
            first_byte: std::time::Duration::from_secs(5),
            total: std::time::Duration::from_secs(10),
        },
    )
    .unwrap();
    use ollabench::scenario::download::{self, DownloadPolicy};
    // As single-user does it: list the models, then pull.
    let list_and_pull = || async {
        let before = download::models_on_server(&client).await.unwrap();
        download::download(
            &client,
            "fast:1b",
            DownloadPolicy::default(),
            download::find(&before, "fast:1b"),
            |_| {},
        )
        .await
    };
    let first = list_and_pull().await;
    assert_eq!(
        first.status, "Success",
        "complete on its first line, but it was not there before"
    );
    assert!(first.pull.as_ref().unwrap().already_present);

    let second = list_and_pull().await;
    assert_eq!(second.status, "AlreadyPresent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_is_recognised_through_the_openai_api() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config(SCALE, &["phi3.5"])).await;
    let output = dir.path().join("tps-openai.json");
    let args = tps_args(
        &sim.url(),
        "phi3.5",
        "short",
        "2",
        &output,
        &["--api", "openai", "--generation-tokens", "10"],
    );
    let (code, stdout, stderr) = ollabench_binary(&arg_refs(&args)).await;
    let (tc_code, tc_stdout, _) = ollabench_binary(&[
        "test-connection",
        "--api",
        "openai",
        "--endpoint",
        &sim.url(),
    ])
    .await;
    sim.shutdown().await;
    let result = read_json(&output);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(result["Provenance"]["Simulated"], true, "{result:#}");
    assert_eq!(result["Provenance"]["Api"], "openai");
    assert!(
        stdout.to_ascii_lowercase().contains("simulat"),
        "the console says so: {stdout}"
    );
    assert_eq!(tc_code, 0, "{tc_stdout}");
    assert!(tc_stdout.contains("simulator"), "{tc_stdout}");
    assert!(!tc_stdout.contains("Server: ollama"), "{tc_stdout}");
}

//! End-to-end tests of multi-user and `run`: scaling against the simulator, queue failures,
//! the results folder of `run --simulate`, and Ctrl-C through a managed port-forward.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ollabench::prompts::PromptLength;
use ollabench::sim::model;
use support::*;

fn number(value: &serde_json::Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

const SCALING_MODELS: &str = "llama3.1:8b,phi3.5,gemma2:2b,mistral:7b";

async fn multi_user(
    sim_url: &str,
    users: u32,
    models: &str,
    output: &Path,
    baseline: Option<&Path>,
) -> u8 {
    let users = users.to_string();
    let mut args = vec![
        "multi-user",
        "--endpoint",
        sim_url,
        "--concurrent-users",
        &users,
        "--models",
        models,
        "--output",
        output.to_str().unwrap(),
    ];
    if let Some(baseline) = baseline {
        args.extend(["--baseline", baseline.to_str().unwrap()]);
    }
    ollabench(&args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_user_scaling_has_the_reference_shape() {
    let dir = tempfile::tempdir().unwrap();
    let scale = 0.02;
    let mut results = Vec::new();
    let baseline = dir.path().join("scale-1.json");
    for users in [1u32, 3, 5] {
        let sim = start_sim(sim_config(scale, &[])).await;
        let output = dir.path().join(format!("scale-{users}.json"));
        let code = multi_user(
            &sim.url(),
            users,
            SCALING_MODELS,
            &output,
            (users > 1).then_some(baseline.as_path()),
        )
        .await;
        sim.shutdown().await;
        let result = read_json(&output);
        assert_eq!(code, 0, "{result:#}");
        assert_eq!(result["Summary"]["SuccessRate"], 100.0);
        assert_eq!(result["Summary"]["TotalUsers"], users);
        assert_eq!(
            result["IndividualResults"].as_array().unwrap().len(),
            users as usize
        );
        results.push(result);
    }
    let overall: Vec<f64> = results
        .iter()
        .map(|r| number(&r["Summary"]["OverallDurationSeconds"]))
        .collect();
    let efficiency: Vec<f64> = results
        .iter()
        .map(|r| number(&r["Scaling"]["EfficiencyPercent"]))
        .collect();
    // More users take longer, and each is less efficient. The model gives 53% and 31% (the
    // reference: 50% and 35%), tested exactly on the paused clock; wall-clock time on a busy
    // machine blurs them here.
    assert!(
        overall[0] < overall[1] && overall[1] < overall[2],
        "{overall:?}"
    );
    assert!((efficiency[0] - 100.0).abs() < 0.01, "{efficiency:?}");
    assert!(
        (25.0..=75.0).contains(&efficiency[1]),
        "3 users about 50%: {efficiency:?}"
    );
    assert!(
        (15.0..=55.0).contains(&efficiency[2]) && efficiency[2] < efficiency[1],
        "5 users about 35%: {efficiency:?}"
    );
    // Each user decodes alone on its model's runner: the server reports the model's speed.
    let prompt_tokens = model::prompt_tokens(PromptLength::Short.text());
    for result in &results {
        for user in result["IndividualResults"].as_array().unwrap() {
            let name = user["Model"].as_str().unwrap();
            let catalogue = ollabench::sim::find_model(name).unwrap();
            let t4 = ollabench::sim::find_profile("t4").unwrap();
            let expected = model::tokens_per_second(t4, catalogue, prompt_tokens, 100);
            let tps = number(&user["Measurements"]["TokensPerSecond"]) * scale;
            assert!(
                expected.contains(tps, 1e-3),
                "user {} ({name}): {tps} tok/s is not the model's {expected}",
                user["UserId"]
            );
        }
    }
    let three = &results[1];
    assert_eq!(three["IndividualResults"][1]["Model"], "phi3.5");
    assert!(number(&three["Scaling"]["Speedup"]) > 1.0);
    assert!(three["IndividualResults"][0]["Measurements"]["LoadStartSeconds"].is_number());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_makes_users_fail_with_their_cause_recorded() {
    let dir = tempfile::tempdir().unwrap();
    // Every model is on disk and only one fits at a time, so all five users ask for a load at
    // once: one loads, the next waits for it to finish (blocking Ollama's pending queue), one
    // more fits in the queue, the rest are turned away with 503.
    let mut config = sim_config(0.05, &["llama3.1:8b", "phi3.5", "gemma2:2b", "mistral:7b"]);
    config.max_queue = 1;
    config.max_loaded_models = 1;
    let sim = start_sim(config).await;
    let output = dir.path().join("mu.json");
    let baseline = dir.path().join("single-user.json");
    std::fs::write(&baseline, r#"{"Measurements": {"TotalTimeSeconds": 1.0}}"#).unwrap();
    let code = multi_user(&sim.url(), 5, SCALING_MODELS, &output, Some(&baseline)).await;
    let result = read_json(&output);
    assert_eq!(code, 1, "{result:#}");
    assert_eq!(result["Status"], "Failed");
    assert!(
        number(&result["Summary"]["SuccessRate"]) < 100.0,
        "{result:#}"
    );
    let causes: Vec<&serde_json::Value> = result["IndividualResults"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|u| u["Errors"].as_array().unwrap())
        .collect();
    assert!(!causes.is_empty());
    assert!(causes.iter().all(|e| e["Kind"] == "http-503"), "{causes:?}");
    assert!(causes[0]["Message"]
        .as_str()
        .unwrap()
        .contains("maximum pending requests exceeded"));
}

fn results_folder(parent: &Path) -> PathBuf {
    let folders: Vec<PathBuf> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("results-")
        })
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    folders[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_simulate_writes_the_four_reference_files() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = ollabench_binary(&[
        "run",
        "--simulate",
        "--time-scale",
        "0.02",
        "--results-dir",
        dir.path().to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("SIMULATED"), "{stdout}");
    let folder = results_folder(dir.path());
    for name in [
        "single-user.json",
        "tokens-per-second.json",
        "multi-user-3.json",
        "multi-user-5.json",
    ] {
        let result = read_json(&folder.join(name));
        assert_eq!(result["Status"], "Success", "{name}: {result:#}");
        assert_eq!(result["Provenance"]["Simulated"], true, "{name}");
        assert_eq!(result["Provenance"]["SimulatorTimeScale"], 0.02, "{name}");
        assert!(result["Timestamp"].is_string());
    }
    let html = std::fs::read_to_string(folder.join("report.html")).expect("run writes report.html");
    assert!(html.contains("<svg"), "the report has charts");
    assert!(folder.join("summary.md").exists());
    assert!(stdout.contains("Verdicts"), "{stdout}");

    let comparison = dir.path().join("comparison");
    let (code, stdout, stderr) = ollabench_binary(&[
        "compare",
        folder.to_str().unwrap(),
        "--report",
        comparison.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(comparison.join("report.html").exists());
    assert!(comparison.join("summary.md").exists());

    let three = read_json(&folder.join("multi-user-3.json"));
    assert!(
        three["Scaling"]["SingleUserTimeSeconds"].is_number(),
        "the single-user run is the baseline"
    );
    assert_eq!(three["ConcurrentUsers"], 3);
}

/// One scale for simulated numbers: the console's headline, the result file, the verdicts and
/// the report all show the download time and tok/s as measured at the time scale, and the
/// note on what a simulated verdict judges is said once, not per verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_run_shows_one_value_per_quantity_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = ollabench_binary(&[
        "run",
        "--simulate",
        "--time-scale",
        "0.05",
        "--scenario",
        "SingleUser",
        "--results-dir",
        dir.path().to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let folder = results_folder(dir.path());
    let result = read_json(&folder.join("single-user.json"));
    let download = format!(
        "{:.2} s",
        number(&result["Measurements"]["DownloadTimeSeconds"])
    );
    let tps = format!(
        "{:.2} tok/s",
        number(&result["Measurements"]["TokensPerSecond"])
    );
    assert!(
        stdout.contains(&format!("download {download}")),
        "console headline: {download}\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("Download time: {download} -> ")),
        "verdict: {download}\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("Tokens/second: {tps} -> ")),
        "{stdout}"
    );
    // Each metric's thresholds once, at the simulator's scale (wrapped lines joined).
    let unwrapped = stdout.replace("\n      ", " ");
    assert_eq!(
        unwrapped.matches("Download time: Target").count(),
        1,
        "{stdout}"
    );
    assert!(
        unwrapped.contains("Download time: Target 1.75-2.5 s, Good < 3 s, Warning 3-4.5 s, Critical > 4.5 s (at time scale 0.05)"),
        "{stdout}"
    );
    // Every line fits 100 columns, but for those naming a path as long as the temporary one.
    let folder_text = dir.path().to_str().unwrap();
    for line in stdout.lines().filter(|l| !l.contains(folder_text)) {
        assert!(
            line.chars().count() <= 100,
            "wider than 100 columns: {line}"
        );
    }
    assert_eq!(
        stdout.matches("simulator's model of the hardware").count(),
        1,
        "said once: {stdout}"
    );
    let summary = std::fs::read_to_string(folder.join("summary.md")).unwrap();
    assert!(
        summary.contains(&format!("| Download time | {download} |")),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("| Tokens/second | {tps} |")),
        "{summary}"
    );
    // No value scaled back to the modelled hardware anywhere: 20 times the download is not shown.
    let modelled = format!(
        "{:.2} s",
        number(&result["Measurements"]["DownloadTimeSeconds"]) / 0.05
    );
    assert!(
        !stdout.contains(&modelled) && !summary.contains(&modelled),
        "{modelled}"
    );
}

#[tokio::test]
async fn unknown_scenarios_are_usage_errors() {
    let (code, _, stderr) =
        ollabench_binary(&["run", "--simulate", "--scenario", "Everything"]).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("MultiUser3"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_run_keeps_results_and_leaves_no_kubectl_behind() {
    let dir = tempfile::tempdir().unwrap();
    // The whole run would take about a minute at this scale; Ctrl-C comes seconds in.
    let sim = start_sim(sim_config(0.1, &[])).await;
    let pids = dir.path().join("kubectl.pids");
    let log = dir.path().join("kubectl.log");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ollabench"))
        .args([
            "run",
            "--use-port-forward",
            "--local-port",
            "0",
            "--scenario",
            "single-user,multi-user-3",
            "--model",
            "phi3.5",
            "--kubectl",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/fake-kubectl"),
            "--results-dir",
            dir.path().to_str().unwrap(),
        ])
        .env("FAKE_KUBECTL_TARGET", sim.addr().to_string())
        .env("FAKE_KUBECTL_PIDS", &pids)
        .env("FAKE_KUBECTL_LOG", &log)
        .env_remove("OLLAMA_HOST")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The single-user file appears after the first step (the download) has been measured.
    wait_for("the first measurement", Duration::from_secs(120), || {
        std::fs::read_dir(dir.path())
            .map(|entries| {
                entries
                    .flatten()
                    .any(|e| e.path().join("single-user.json").exists())
            })
            .unwrap_or(false)
    })
    .await;
    let kubectl_pids: Vec<u32> = std::fs::read_to_string(&pids)
        .unwrap()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert!(!kubectl_pids.is_empty());
    let pid = child.id().unwrap().to_string();
    let sent = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("the run stops soon after Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(130));
    wait_for("kubectl to exit", Duration::from_secs(5), || {
        kubectl_pids.iter().all(|&pid| !is_running(pid))
    })
    .await;
    let folder = results_folder(dir.path());
    let result = read_json(&folder.join("single-user.json"));
    assert_eq!(result["Status"], "Interrupted", "{result:#}");
    assert!(
        result["Measurements"]["DownloadTimeSeconds"].is_number(),
        "{result:#}"
    );
}

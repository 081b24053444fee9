//! End-to-end tests of test-connection, single-user and tokens-per-second against the
//! in-process simulator: real commands, real HTTP, assertions on the files they write.

mod support;

use ollabench::prompts::PromptLength;
use ollabench::sim::model;
use support::*;

const SINGLE_USER_REFERENCE: &str = r#"{
  "Timestamp": "2025-10-31 14:30:00",
  "Model": "llama3.1:8b",
  "OllamaEndpoint": "http://localhost:11434",
  "Measurements": {
    "DownloadTimeSeconds": 45.67, "DownloadStatus": "Success",
    "LoadTimeColdSeconds": 18.32, "LoadTimeWarmSeconds": 2.14, "LoadStatus": "Success",
    "TotalTimeSeconds": 63.99, "TokensPerSecond": 42.5
  }
}"#;

const TPS_REFERENCE: &str = r#"{
  "Timestamp": "2025-10-31 16:00:00",
  "Configuration": {"GenerationTokens": 100, "WarmupRuns": 2, "MeasurementRuns": 5, "ConcurrentRequests": 1},
  "Summary": {"OverallAverageTokensPerSecond": 42.5, "OverallMinTokensPerSecond": 38.2,
              "OverallMaxTokensPerSecond": 47.8, "TotalTests": 9, "TotalSamples": 45},
  "ModelResults": [{"Model": "llama3.1:8b", "PromptResults": [{"PromptLength": "Short", "PromptCharacters": 55,
     "Statistics": {"AverageTokensPerSecond": 43.2, "MinTokensPerSecond": 41.1, "MaxTokensPerSecond": 45.8,
                    "StdDevTokensPerSecond": 1.8, "AverageDurationSeconds": 2.31, "SampleSize": 5}}]}]
}"#;

const SCALE: f64 = 0.05;

fn t4() -> &'static ollabench::sim::Profile {
    ollabench::sim::find_profile("t4").expect("the t4 profile")
}

fn catalogue(model: &str) -> &'static ollabench::sim::CatalogueModel {
    ollabench::sim::find_model(model).expect("a catalogue model")
}

/// Prompt tokens of a prompt length's text, as the simulator counts them.
fn prompt_tokens(length: PromptLength) -> u64 {
    model::prompt_tokens(length.text())
}

fn f(value: &serde_json::Value, path: &[&str]) -> f64 {
    let mut current = value;
    for key in path {
        current = &current[*key];
    }
    current
        .as_f64()
        .unwrap_or_else(|| panic!("{path:?} is not a number in {value:#}"))
}

fn assert_in(label: &str, value: f64, (low, high): Range) {
    assert!(
        (low..=high).contains(&value),
        "{label}: {value:.2} is outside the reference range {low}-{high}"
    );
}

/// Single-user of the reference's four models: the file, its statuses and provenance, and
/// measurements that follow the performance model (whose calibration against the reference's
/// table is tested on its own): wall-clock durations loosely, the server's decode speed
/// exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_user_measures_what_the_simulator_models() {
    let dir = tempfile::tempdir().unwrap();
    for (model, _, _, _, tps) in EXPECTED_T4 {
        let sim = start_sim(sim_config(SCALE, &[])).await;
        let output = dir.path().join(format!("{}.json", model.replace(':', "-")));
        let code = ollabench(&arg_refs(&single_user_args(
            &sim.url(),
            model,
            &output,
            &[],
        )))
        .await;
        sim.shutdown().await;
        let result = read_json(&output);
        assert_eq!(code, 0, "{model}: {result:#}");
        assert_has_reference_keys(SINGLE_USER_REFERENCE, &result);
        let m = &result["Measurements"];
        assert_eq!(m["DownloadStatus"], "Success");
        assert_eq!(m["LoadStatus"], "Success");
        assert_eq!(result["Status"], "Success");
        let expected = model::single_user(
            t4(),
            catalogue(model),
            prompt_tokens(PromptLength::Short),
            100,
        );
        assert_modelled(
            &format!("{model} download"),
            f(m, &["DownloadTimeSeconds"]),
            expected.download_seconds,
            SCALE,
        );
        assert_modelled(
            &format!("{model} cold load"),
            f(m, &["LoadTimeColdSeconds"]),
            expected.cold_load_seconds,
            SCALE,
        );
        assert_modelled(
            &format!("{model} warm load"),
            f(m, &["LoadTimeWarmSeconds"]),
            expected.warm_load_seconds,
            SCALE,
        );
        // The server's eval_count / eval_duration is the model's, whatever the machine's load,
        // and so inside the reference's range.
        let server = f(m, &["TokensPerSecond"]) * SCALE;
        assert!(
            expected.tokens_per_second.contains(server, 1e-3),
            "{model}: {server} tok/s is not the model's {}",
            expected.tokens_per_second
        );
        assert_in(&format!("{model} tok/s"), server, tps);
        let client = f(m, &["ClientTokensPerSecond"]) * SCALE;
        assert!(
            (client / server - 1.0).abs() < 0.25,
            "{model}: client {client} vs server {server} tok/s"
        );
        assert_eq!(m["OutputTokens"], 100);
        let total = f(m, &["TotalTimeSeconds"]);
        let sum = f(m, &["DownloadTimeSeconds"]) + f(m, &["LoadTimeColdSeconds"]);
        assert!(
            (total - sum).abs() < 0.02,
            "total {total} vs download + cold {sum}"
        );
        assert!(f(m, &["DownloadMegabytesPerSecond"]) > 0.0);
        assert!(f(m, &["TimeToFirstTokenSeconds"]) > 0.0);
        assert_eq!(m["ColdLoadSuspect"], false, "{m:#}");
        let provenance = &result["Provenance"];
        assert_eq!(provenance["Simulated"], true, "{provenance:#}");
        assert_eq!(provenance["SimulatorTimeScale"], SCALE);
        assert!(provenance["ServerVersion"].is_string());
        let model_info = &provenance["Models"][0];
        assert!(
            model_info["Digest"].as_str().is_some_and(|d| d.len() == 64),
            "{model_info:#}"
        );
        assert!(model_info["Quantization"].is_string());
        assert!(model_info["ParameterSize"].is_string());
        assert_eq!(model_info["FullyInGpu"], true);
    }
}

#[tokio::test]
async fn a_second_pull_says_the_model_was_already_present() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config(0.01, &["gemma2:2b"])).await;
    let output = dir.path().join("su.json");
    // A pull of a present model, then a forced one.
    for (extra, status) in [
        (&[][..], "AlreadyPresent"),
        (&["--redownload"][..], "Success"),
    ] {
        let args = single_user_args(&sim.url(), "gemma2:2b", &output, extra);
        assert_eq!(ollabench(&arg_refs(&args)).await, 0, "{extra:?}");
        assert_eq!(read_json(&output)["Measurements"]["DownloadStatus"], status);
    }
}

#[tokio::test]
async fn single_user_against_an_unreachable_endpoint_is_refused_before_measuring() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("su.json");
    let port = closed_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let args = single_user_args(&endpoint, "phi3.5", &output, &[]);
    let (code, stdout, stderr) = ollabench_binary(&arg_refs(&args)).await;
    assert_eq!(code, 2, "nothing measured: {stdout}{stderr}");
    assert!(
        stderr.contains(&format!("nothing listens on 127.0.0.1:{port}")),
        "the advice names the real address: {stderr}"
    );
    assert!(
        stderr.contains("`ollabench test-connection` with the same flags says more"),
        "other commands point to test-connection: {stderr}"
    );
    assert!(
        !stderr.contains("kubectl"),
        "no Kubernetes in play: {stderr}"
    );
    assert!(
        !output.exists(),
        "no result file for a run that measured nothing"
    );
}

#[tokio::test]
async fn single_user_of_a_model_missing_from_the_registry_records_the_pull_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("su.json");
    let sim = start_sim(sim_config(0.01, &[])).await;
    let args = single_user_args(&sim.url(), "no-such-model:1b", &output, &[]);
    let (code, stdout, _) = ollabench_binary(&arg_refs(&args)).await;
    assert_eq!(code, 1, "{stdout}");
    let result = read_json(&output);
    assert_eq!(result["Status"], "Failed");
    assert_eq!(result["Errors"][0]["Kind"], "stream-error");
    assert!(result["Errors"][0]["Message"]
        .as_str()
        .unwrap()
        .contains("file does not exist"));
}

#[tokio::test]
async fn single_user_against_something_that_is_not_ollama_fails_with_a_404() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("su.json");
    let endpoint = not_ollama_server().await;
    let (code, _, _) = ollabench_binary(&[
        "single-user",
        "--endpoint",
        &endpoint,
        "--output",
        output.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 1);
    let result = read_json(&output);
    assert_eq!(result["Errors"][0]["Kind"], "http-404");
}

#[tokio::test]
async fn test_connection_reports_version_models_and_latency() {
    let sim = start_sim(sim_config(0.01, &["phi3.5", "mistral:7b"])).await;
    let (code, stdout, stderr) =
        ollabench_binary(&["test-connection", "--endpoint", &sim.url()]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("Ollama version 0.24.0"), "{stdout}");
    assert!(stdout.contains("phi3.5"), "{stdout}");
    assert!(stdout.contains("mistral:7b"), "{stdout}");
    assert!(stdout.contains("Round trip"), "{stdout}");
    assert!(stdout.contains("simulator"), "{stdout}");
}

#[tokio::test]
async fn test_connection_advice_fits_the_failure() {
    let refused = format!("http://127.0.0.1:{}", closed_port());
    let (code, stdout, stderr) =
        ollabench_binary(&["test-connection", "--endpoint", &refused]).await;
    assert_eq!(code, 2, "{stdout}");
    assert!(stdout.contains("nothing listens on 127.0.0.1:"), "{stdout}");
    assert!(
        !format!("{stdout}{stderr}").contains("test-connection` with the same flags"),
        "test-connection does not point to itself: {stdout}{stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "the details are said once: {stderr}"
    );
    assert!(
        !stdout.contains("kubectl"),
        "no Kubernetes in play: {stdout}"
    );

    let other = not_ollama_server().await;
    let (code, stdout, _) = ollabench_binary(&["test-connection", "--endpoint", &other]).await;
    assert_eq!(code, 1);
    assert!(stdout.contains("other than Ollama"), "{stdout}");

    // A listener that never answers stands in for a black-holed LoadBalancer.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let (code, stdout, _) = ollabench_binary(&[
        "test-connection",
        "--endpoint",
        &silent_url,
        "--first-byte-timeout",
        "300ms",
    ])
    .await;
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stdout.contains("accepted the connection but sent nothing"),
        "{stdout}"
    );
    assert!(stdout.contains("after 0.3 s"), "the real wait: {stdout}");
    drop(silent);

    let (code, stdout, _) =
        ollabench_binary(&["test-connection", "--endpoint", "bad endpoint with spaces"]).await;
    assert_eq!(code, 2, "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_per_second_writes_the_reference_format_with_truthful_rates() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("tps.json");
    let sim = start_sim(sim_config(SCALE, &["phi3.5", "llama3.1:8b"])).await;
    let code = ollabench(&[
        "tokens-per-second",
        "--endpoint",
        &sim.url(),
        "--models",
        "phi3.5,llama3.1:8b",
        "--prompt-lengths",
        "short,very-long",
        "--warmup-runs",
        "1",
        "--measurement-runs",
        "3",
        "--keep-samples",
        "--output",
        output.to_str().unwrap(),
    ])
    .await;
    let result = read_json(&output);
    assert_eq!(code, 0, "{result:#}");
    assert_has_reference_keys(TPS_REFERENCE, &result);
    assert_eq!(result["Summary"]["TotalTests"], 4);
    assert_eq!(result["Summary"]["TotalSamples"], 12);
    assert_eq!(result["Summary"]["SuccessRate"], 100.0);
    assert_eq!(result["Configuration"]["TokensPerSecondSource"], "server");
    for (index, (model, range)) in [("phi3.5", (55.0, 65.0)), ("llama3.1:8b", (40.0, 50.0))]
        .into_iter()
        .enumerate()
    {
        let model_result = &result["ModelResults"][index];
        assert_eq!(model_result["Model"], model);
        let short = &model_result["PromptResults"][0];
        let very_long = &model_result["PromptResults"][1];
        assert_eq!(short["PromptLength"], "Short");
        assert_eq!(very_long["PromptLength"], "VeryLong");
        // Server-side rates: the model's, whatever the machine's load.
        let short_tps = f(short, &["Statistics", "AverageTokensPerSecond"]);
        assert_in(&format!("{model} tok/s"), short_tps * SCALE, range);
        for (cell, length) in [
            (short, PromptLength::Short),
            (very_long, PromptLength::VeryLong),
        ] {
            let expected =
                model::tokens_per_second(t4(), catalogue(model), prompt_tokens(length), 100);
            let average = f(cell, &["Statistics", "AverageTokensPerSecond"]) * SCALE;
            assert!(
                expected.contains(average, 1e-3),
                "{model} {length:?}: {average} tok/s is not the model's {expected}"
            );
        }
        assert!(
            f(very_long, &["Statistics", "AverageTokensPerSecond"]) < short_tps,
            "VeryLong prompts are slower"
        );
        for cell in [short, very_long] {
            // The client's clock agrees roughly (a busy machine delays what it sees).
            let difference = f(cell, &["ClientServerDifferencePercent"]);
            assert!(
                difference.abs() < 25.0,
                "client vs server {difference}% in {cell:#}"
            );
            assert_eq!(cell["Warmup"].as_array().unwrap().len(), 1);
            assert_eq!(cell["Samples"].as_array().unwrap().len(), 3);
            assert!(f(cell, &["Metrics", "TimeToFirstTokenSeconds", "Median"]) > 0.0);
            assert!(f(cell, &["PromptTokens"]) > 0.0);
            assert_eq!(cell["ReloadsFlagged"], 0);
        }
        assert!(f(very_long, &["PromptTokens"]) > f(short, &["PromptTokens"]));
        assert!(f(&model_result["PromptLengthImpact"][1], &["ChangePercent"]) < 0.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_raises_the_aggregate_only_when_the_server_has_slots() {
    let dir = tempfile::tempdir().unwrap();
    let mut efficiencies = Vec::new();
    for num_parallel in [4, 1] {
        let output = dir.path().join(format!("tps-{num_parallel}.json"));
        let mut config = sim_config(0.2, &["gemma2:2b"]);
        config.num_parallel = num_parallel;
        let sim = start_sim(config).await;
        let flags = ["--concurrent-requests", "1,3"];
        let args = tps_args(&sim.url(), "gemma2:2b", "short", "3", &output, &flags);
        let code = ollabench(&arg_refs(&args)).await;
        let result = read_json(&output);
        assert_eq!(code, 0, "{result:#}");
        let levels = result["Concurrency"].as_array().unwrap();
        assert_eq!(levels.len(), 2, "{result:#}");
        let one = f(&levels[0], &["AggregateTokensPerSecond"]);
        let three = f(&levels[1], &["AggregateTokensPerSecond"]);
        let efficiency = f(&levels[1], &["EfficiencyPercent"]);
        if num_parallel == 4 {
            assert!(three > 1.5 * one, "aggregate {one} -> {three}");
        }
        efficiencies.push(efficiency);
    }
    // Four slots: about 83% (each of three streams 1.2x slower); one slot: about 33%. The exact
    // figures are tested on the paused clock; a busy machine blurs them here.
    assert!(efficiencies[0] > 55.0, "{efficiencies:?}");
    assert!(
        (20.0..=50.0).contains(&efficiencies[1]),
        "num_parallel 1 gives about 1/3: {efficiencies:?}"
    );
}

#[tokio::test]
async fn bad_options_are_usage_errors() {
    for args in [
        &[
            "tps",
            "--prompt-lengths",
            "huge",
            "--endpoint",
            "http://127.0.0.1:9",
        ][..],
        &[
            "tps",
            "--generation-tokens",
            "1",
            "--endpoint",
            "http://127.0.0.1:9",
        ][..],
        &[
            "tps",
            "--concurrent-requests",
            "0",
            "--endpoint",
            "http://127.0.0.1:9",
        ][..],
        &["tps", "--simulate", "tpu"][..],
    ] {
        let (code, _, stderr) = ollabench_binary(args).await;
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_routes_and_the_native_api_give_the_same_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config(0.1, &["mistral:7b"])).await;
    let mut rates = Vec::new();
    for api in ["ollama", "openai"] {
        let output = dir.path().join(format!("tps-{api}.json"));
        let code = ollabench(&[
            "tps",
            "--api",
            api,
            "--endpoint",
            &sim.url(),
            "--models",
            "mistral:7b",
            "--prompt-lengths",
            "short",
            "--warmup-runs",
            "1",
            "--measurement-runs",
            "3",
            "--output",
            output.to_str().unwrap(),
        ])
        .await;
        let result = read_json(&output);
        assert_eq!(code, 0, "{api}: {result:#}");
        assert_eq!(result["Provenance"]["Api"], api);
        let cell = &result["ModelResults"][0]["PromptResults"][0];
        // The client-side rate exists for both APIs; the server's own timing only for Ollama's.
        rates.push(f(cell, &["Metrics", "ClientTokensPerSecond", "Mean"]));
    }
    // Both routes pace tokens with the same model (tested exactly on the paused clock); the
    // client's clock agrees roughly on a busy machine.
    let difference = (rates[1] - rates[0]).abs() / rates[0] * 100.0;
    assert!(
        difference < 20.0,
        "native {:.1} vs /v1 {:.1} tok/s: {difference:.1}%",
        rates[0],
        rates[1]
    );
}

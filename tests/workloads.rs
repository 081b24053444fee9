//! Workloads against the in-process simulator: prompts sized in the model's tokens arrive
//! within 2% of the size by the server's own count on both APIs, output forced to N gives N,
//! a context too small is reported as truncation, sampling reaches the provenance, and a
//! dataset run reads both fixture formats and names malformed lines by number.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{
    arg_refs, command_line, ollabench, ollabench_binary, read_json, sim_config, start_sim,
};

const MODEL: &str = "smollm2:135m";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/datasets")
        .join(name)
}

/// A tokens-per-second run of `MODEL` against `url`, samples kept; `extra` flags follow.
fn tps(url: &str, output: &Path, extra: &[&str]) -> Vec<String> {
    command_line(
        &[
            "tps",
            "--endpoint",
            url,
            "--models",
            MODEL,
            "--warmup-runs",
            "1",
            "--measurement-runs",
            "2",
            "--keep-samples",
        ],
        output,
        extra,
    )
}

fn cells(json: &Value) -> Vec<&Value> {
    json["ModelResults"][0]["PromptResults"]
        .as_array()
        .expect("prompt results")
        .iter()
        .collect()
}

fn samples(cell: &Value) -> Vec<&Value> {
    cell["Samples"]
        .as_array()
        .expect("samples")
        .iter()
        .collect()
}

#[tokio::test]
async fn sized_prompts_arrive_within_two_percent_on_both_apis_and_output_is_forced() {
    let sim = start_sim(sim_config(0.01, &[MODEL])).await;
    for api in ["ollama", "openai"] {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("tps.json");
        let args = tps(
            &sim.url(),
            &output,
            &[
                "--api",
                api,
                "--input-tokens",
                "64,256,1k",
                "--output-tokens",
                "24",
            ],
        );
        let code = ollabench(&arg_refs(&args)).await;
        let json = read_json(&output);
        assert_eq!(code, 0, "{api}: {json:#}");
        let configuration = &json["Configuration"];
        assert_eq!(
            configuration["InputTokens"],
            serde_json::json!([64, 256, 1024])
        );
        assert_eq!(configuration["OutputForced"], true);
        assert_eq!(configuration["Prefix"], "unique");
        let calibration = &json["Calibrations"][0];
        assert_eq!(calibration["Model"], MODEL, "{api}: {json:#}");
        assert!(calibration["TokensPerWord"].as_f64().unwrap() > 0.5);
        let cells = cells(&json);
        assert_eq!(cells.len(), 3);
        for (cell, asked) in cells.iter().zip([64u64, 256, 1024]) {
            assert_eq!(cell["RequestedInputTokens"], asked);
            assert_eq!(cell["TruncatedRequests"].as_u64().unwrap_or(0), 0);
            let all: Vec<&Value> = samples(cell)
                .into_iter()
                .chain(cell["Warmup"].as_array().unwrap())
                .collect();
            assert_eq!(all.len(), 3);
            for sample in all {
                let counted = sample["PromptTokens"].as_u64().expect("a server count");
                let error = (counted as f64 - asked as f64).abs() / asked as f64;
                assert!(
                    error <= 0.02,
                    "{api}: {asked} asked, {counted} counted by the simulator"
                );
                assert_eq!(sample["OutputTokens"], 24, "{api}: {sample}");
                assert_eq!(sample["StoppedEarly"], false);
            }
        }
        // The depth sweep's prefill rate is per cell (Ollama reports prompt-eval time).
        assert!(
            api != "ollama"
                || cells[2]["Metrics"]["PromptEvalTokensPerSecond"]["Mean"]
                    .as_f64()
                    .is_some_and(|rate| rate > 0.0)
        );
    }
}

#[tokio::test]
async fn a_context_too_small_is_reported_as_truncation() {
    let sim = start_sim(sim_config(0.01, &[MODEL])).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("tps.json");
    let args = tps(
        &sim.url(),
        &output,
        &[
            "--input-tokens",
            "1k",
            "--num-ctx",
            "512",
            "--generation-tokens",
            "8",
        ],
    );
    let code = ollabench(&arg_refs(&args)).await;
    let json = read_json(&output);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["Configuration"]["NumCtx"], 512);
    let fit = &json["Calibrations"][0]["Sizes"][0];
    assert_eq!(fit["WithinTolerance"], false, "{fit}");
    assert_eq!(fit["PromptTokens"], 512, "{fit}");
    assert!(
        fit["Note"]
            .as_str()
            .unwrap()
            .contains("context is too small"),
        "{fit}"
    );
    let cell = cells(&json)[0];
    assert_eq!(cell["TruncatedRequests"], 2, "{cell:#}");
}

#[tokio::test]
async fn sampling_is_recorded_and_categories_get_their_token_size() {
    let sim = start_sim(sim_config(0.01, &[MODEL])).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("tps.json");
    let args = tps(
        &sim.url(),
        &output,
        &[
            "--prompt-lengths",
            "short,long",
            "--temperature",
            "0",
            "--seed",
            "7",
            "--top-p",
            "0.9",
            "--generation-tokens",
            "8",
        ],
    );
    let code = ollabench(&arg_refs(&args)).await;
    let json = read_json(&output);
    assert_eq!(code, 0, "{json:#}");
    let sampling = &json["Provenance"]["Sampling"];
    assert_eq!(sampling["Temperature"], 0.0);
    assert_eq!(sampling["Seed"], 7);
    assert_eq!(sampling["TopP"], 0.9);
    // The categories stay the prompts, now with their size in this model's tokens.
    let sizes = &json["ModelResults"][0]["CategoryTokens"];
    let short = sizes["Short"].as_u64().expect("Short counted");
    let long = sizes["Long"].as_u64().expect("Long counted");
    assert!(short > 5 && long > 4 * short, "{sizes}");
    assert!(
        json.get("Calibrations").is_none(),
        "no calibration without --input-tokens"
    );

    let bad = ["tps", "--simulate", "--models", MODEL, "--top-p", "1.5"];
    let (code, stdout, stderr) = ollabench_binary(&bad).await;
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("--top-p"), "{stderr}");
}

#[tokio::test]
async fn datasets_of_both_formats_are_read() {
    let sim = start_sim(sim_config(0.01, &[MODEL])).await;
    for (file, lines) in [("prompts.jsonl", 3usize), ("sharegpt.jsonl", 2)] {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("tps.json");
        let path = fixture(file);
        let args = tps(
            &sim.url(),
            &output,
            &[
                "--dataset",
                path.to_str().unwrap(),
                "--generation-tokens",
                "12",
            ],
        );
        let code = ollabench(&arg_refs(&args)).await;
        let json = read_json(&output);
        assert_eq!(code, 0, "{file}: {json:#}");
        assert_eq!(json["Configuration"]["Dataset"], path.to_str().unwrap());
        let cell = cells(&json)[0];
        assert_eq!(cell["PromptLength"], "dataset");
        // Requests take the lines in turn, each with its own output length.
        let outputs: Vec<u64> = samples(cell)
            .iter()
            .map(|s| s["OutputTokens"].as_u64().unwrap())
            .collect();
        let expected: Vec<u64> = match file {
            // Warmup took line 1; measured requests are lines 2 and 3.
            "prompts.jsonl" => vec![12, 40],
            // The first reply's length: about four characters a token.
            _ => vec![22, 41],
        };
        assert_eq!(outputs, expected, "{file} ({lines} lines)");
    }
}

#[tokio::test]
async fn malformed_dataset_lines_are_refused_or_skipped_by_number() {
    let path = fixture("malformed.jsonl");
    let refused = [
        "tps",
        "--simulate",
        "--models",
        MODEL,
        "--dataset",
        path.to_str().unwrap(),
    ];
    let (code, stdout, stderr) = ollabench_binary(&refused).await;
    assert_eq!(code, 2, "{stdout}{stderr}");
    for line in ["line 2:", "line 3:", "line 6:"] {
        assert!(stderr.contains(line), "{line} not named: {stderr}");
    }
    assert!(
        !stderr.contains("line 4:"),
        "a blank line is no error: {stderr}"
    );
    assert!(stderr.contains("--dataset-skip-bad"), "{stderr}");

    let sim = start_sim(sim_config(0.01, &[MODEL])).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("tps.json");
    let args = tps(
        &sim.url(),
        &output,
        &[
            "--dataset",
            path.to_str().unwrap(),
            "--dataset-skip-bad",
            "--generation-tokens",
            "8",
        ],
    );
    let code = ollabench(&arg_refs(&args)).await;
    let json = read_json(&output);
    assert_eq!(code, 0, "{json:#}");
    let skipped: Vec<&str> = json["SkippedDatasetLines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(skipped[0].starts_with("line 2:"), "{skipped:?}");
    assert!(skipped[1].starts_with("line 3:"), "{skipped:?}");
    assert!(skipped[2].starts_with("line 6:"), "{skipped:?}");
}

/// `load` and `capacity` take the same flags through the same code: every request carries a
/// prompt of the size asked for and exactly the output asked for.
#[tokio::test]
async fn load_and_capacity_send_sized_prompts_and_forced_outputs() {
    let sim = start_sim(sim_config(0.01, &[MODEL])).await;
    let url = sim.url();
    let dir = tempfile::tempdir().unwrap();
    let load = dir.path().join("load.json");
    let code = ollabench(&[
        "load",
        "--endpoint",
        &url,
        "--model",
        MODEL,
        "--input-tokens",
        "300",
        "--output-tokens",
        "12",
        "--concurrency",
        "2",
        "--requests",
        "6",
        "--output",
        load.to_str().unwrap(),
    ])
    .await;
    let json = read_json(&load);
    assert_eq!(code, 0, "{json:#}");
    let throughput = &json["Steps"][0]["Throughput"];
    assert_eq!(throughput["OutputTokens"], 6 * 12, "{throughput}");
    let input = throughput["InputTokens"].as_u64().unwrap() as f64 / 6.0;
    assert!((input - 300.0).abs() <= 6.0, "{input} tokens a prompt");
    let fit = &json["Configuration"]["Calibration"]["Sizes"][0];
    assert_eq!(
        fit["RequestedTokens"], 300,
        "the calibration is in the file: {json:#}"
    );
    assert_eq!(fit["WithinTolerance"], true, "{fit}");

    let capacity = dir.path().join("capacity.json");
    let code = ollabench(&[
        "capacity",
        "--endpoint",
        &url,
        "--model",
        MODEL,
        "--input-tokens",
        "200",
        "--output-tokens",
        "10",
        "--by",
        "concurrency",
        "--requests",
        "4",
        "--max-probes",
        "1",
        "--slo",
        "e2e=60s",
        "--output",
        capacity.to_str().unwrap(),
    ])
    .await;
    let json = read_json(&capacity);
    assert!(code == 0 || code == 1, "{json:#}");
    let probes = json["Probes"].as_array().expect("probes");
    let throughput = &probes[0]["Step"]["Throughput"];
    let requests = throughput["OutputTokens"].as_u64().unwrap() / 10;
    assert_eq!(throughput["OutputTokens"].as_u64().unwrap(), requests * 10);
    let input = throughput["InputTokens"].as_u64().unwrap() as f64 / requests as f64;
    assert!(
        (input - 200.0).abs() <= 4.0,
        "{input} tokens a prompt: {json:#}"
    );
    let fit = &json["Configuration"]["Calibration"]["Sizes"][0];
    assert_eq!(
        fit["RequestedTokens"], 200,
        "the calibration is in the file: {json:#}"
    );
}

//! `ollabench compare` end to end: files shaped like the reference's examples and like
//! PowerShell's ConvertTo-Json output, the reference's Workflows 2 and 3, the regression gate's
//! exit codes both ways, noise that is not a regression, and bad files named while the others
//! are still compared.

use std::path::Path;
use std::process::Command;

use clap::Parser;
use serde_json::Value;

fn fixture(path: &str) -> String {
    format!(
        "{}/tests/fixtures/compare/{path}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Files both `compare` and `report` read in tests of their agreement (see tests/report.rs).
fn parity(path: &str) -> String {
    format!(
        "{}/tests/fixtures/parity/{path}",
        env!("CARGO_MANIFEST_DIR")
    )
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ollabench(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_ollabench"))
        .args(args)
        .output()
        .expect("run ollabench");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `compare` of the gate's baseline and `later` (a fixture) with `--fail-on-regression PCT`.
fn gate_against_baseline(later: &str, pct: &str) -> Output {
    ollabench(&[
        "compare",
        &fixture("gate/baseline.json"),
        &fixture(later),
        "--fail-on-regression",
        pct,
    ])
}

/// `compare ARGS --format json`, with the parsed report.
fn compare_json(args: &[&str]) -> (Output, Value) {
    let mut all = vec!["compare"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let output = ollabench(&all);
    let report: Value = serde_json::from_str(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not JSON ({err}); code {}; stderr: {}",
            output.code, output.stderr
        )
    });
    (output, report)
}

/// [`compare_json`] of files that all read: exit 0 and no errors.
fn compare_clean(args: &[&str]) -> Value {
    let (output, report) = compare_json(args);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        report["Errors"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    report
}

/// The metric of `run` for one cell (`llama3.1:8b/Short`).
fn cell<'a>(run: &'a Value, subject: &str) -> &'a Value {
    element(&run["Metrics"], "Subject", subject)
}

/// The element of a JSON array whose `key` is `value`.
fn element<'a>(array: &'a Value, key: &str, value: &str) -> &'a Value {
    array
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e[key] == value)
        .unwrap_or_else(|| panic!("no {key} {value} in {array:#}"))
}

fn changes(report: &Value) -> Vec<&Value> {
    report["Groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["Changes"].as_array().unwrap())
        .collect()
}

fn change<'a>(report: &'a Value, run: &str, metric: &str) -> &'a Value {
    changes(report)
        .into_iter()
        .find(|c| c["Run"] == run && c["Metric"] == metric)
        .unwrap_or_else(|| panic!("no change for {run} {metric}"))
}

fn run<'a>(report: &'a Value, label: &str) -> &'a Value {
    element(&report["Runs"], "Label", label)
}

fn metric(run: &Value, key: &str) -> f64 {
    run["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            let full = match m.get("Subject").and_then(Value::as_str) {
                Some(subject) => format!("{}[{subject}]", m["Name"].as_str().unwrap()),
                None => m["Name"].as_str().unwrap().to_string(),
            };
            full == key
        })
        .unwrap_or_else(|| panic!("no metric {key} in {run}"))["Value"]
        .as_f64()
        .unwrap()
}

#[test]
fn workflow_2_storage_changes_load_time_not_throughput() {
    let baseline = fixture("workflow2/azure-files-baseline.json");
    let nvme = fixture("workflow2/nvme-baseline.json");
    let (output, report) = compare_json(&[&nvme, &baseline]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    // Ordered by Timestamp, so the Azure Files run is the baseline whatever the argument order.
    let load = change(&report, "nvme-baseline", "LoadTimeColdSeconds");
    assert_eq!(load["Baseline"], "azure-files-baseline");
    assert_eq!(load["BaselineValue"], 18.0);
    assert_eq!(load["Value"], 6.0);
    assert!((load["ChangePercent"].as_f64().unwrap() + 66.667).abs() < 0.01);
    assert_eq!(load["Assessment"], "Better");
    let throughput = change(&report, "nvme-baseline", "TokensPerSecond");
    assert!((throughput["ChangePercent"].as_f64().unwrap() + 0.4706).abs() < 0.01);
    assert_eq!(throughput["Assessment"], "Negligible");

    // One run against one: the noise is unknown, so even a third faster is said as such and
    // never as "beyond noise"; the details name it apart from the real changes.
    let table = ollabench(&["compare", &baseline, &nvme, "--format", "markdown"]);
    assert_eq!(table.code, 0);
    assert!(
        table.stdout.contains(
            "| nvme-baseline | LoadTimeColdSeconds | 18.00 -> 6.00 s (-66.7%) | better, noise unknown (1 run) |"
        ),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains("| nvme-baseline | 2 other metrics | - | no real change (2 under 5%, noise unknown (1 run)) |"),
        "{}",
        table.stdout
    );
    let verbose = ollabench(&[
        "compare",
        &baseline,
        &nvme,
        "--verbose",
        "--format",
        "markdown",
    ]);
    assert!(
        verbose.stdout.contains(
            "nvme-baseline vs azure-files-baseline: changed beyond noise: nothing; changed, noise unknown (1 run): LoadTimeColdSeconds -66.7% better"
        ),
        "{}",
        verbose.stdout
    );
    assert!(verbose.stdout.contains("TokensPerSecond -0.5% negligible"));

    // The throughput files: 42.5 vs 42.3 tok/s is within the runs' own standard deviations.
    let (output, report) = compare_json(&[
        &fixture("workflow2/azure-files-throughput.json"),
        &fixture("workflow2/nvme-throughput.json"),
    ]);
    assert_eq!(output.code, 0);
    let overall = change(&report, "nvme-throughput", "OverallAverageTokensPerSecond");
    assert_eq!(overall["Assessment"], "WithinNoise");
    assert!(overall["Noise"].as_f64().unwrap() >= 1.9);
    for cell in ["Short", "Medium", "Long"] {
        let key = format!("AverageTokensPerSecond[llama3.1:8b/{cell}]");
        assert_eq!(
            change(&report, "nvme-throughput", &key)["Assessment"],
            "WithinNoise"
        );
    }
}

#[test]
fn workflow_3_scaling_efficiency_and_the_reference_words() {
    // Arguments out of order; the series is ordered by users.
    let (output, report) = compare_json(&[
        &fixture("workflow3/scale-10.json"),
        &fixture("workflow3/scale-3.json"),
        &fixture("workflow3/scale-1.json"),
        &fixture("workflow3/scale-5.json"),
    ]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let rows = report["Scaling"]["Rows"].as_array().unwrap();
    let users: Vec<u64> = rows.iter().map(|r| r["Users"].as_u64().unwrap()).collect();
    assert_eq!(users, [1, 3, 5, 10]);
    let efficiency: Vec<i64> = rows
        .iter()
        .map(|r| r["EfficiencyPercent"].as_f64().unwrap().round() as i64)
        .collect();
    assert_eq!(efficiency, [100, 50, 35, 16]);
    let words: Vec<&str> = rows
        .iter()
        .map(|r| r["Assessment"].as_str().unwrap())
        .collect();
    assert_eq!(
        words,
        [
            "baseline",
            "Good parallelism",
            "Moderate contention (acceptable)",
            "Heavy contention (poor scaling, bottleneck present)"
        ]
    );
    // The reference's example analysis: 3 x 63 s = 189 s serial, 1.51x speedup.
    assert_eq!(rows[1]["SerialEstimateSeconds"], 189.0);
    assert!((rows[1]["Speedup"].as_f64().unwrap() - 1.512).abs() < 0.001);
    assert_eq!(rows[1]["SingleUserTimeSource"], "1-user run scale-1");
    // Max vs average download: 52.10 vs 38.21 is 36% above.
    assert_eq!(
        rows[1]["DownloadContention"]["Assessment"],
        "some contention"
    );

    // A folder means every result file below it; the tables say the same (Markdown, whose
    // cells do not wrap), the serial estimate among the details.
    let table = ollabench(&[
        "compare",
        &fixture("workflow3"),
        "--format",
        "markdown",
        "--verbose",
    ]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    for expected in [
        "Good parallelism",
        "Moderate contention (acceptable)",
        "Heavy contention",
        "expected if serial 3 x 63.00s = 189.00s",
        "Concurrent scaling (3 users)",
    ] {
        assert!(table.stdout.contains(expected), "missing {expected:?}");
    }
}

#[test]
fn powershell_convert_to_json_files_compare() {
    // BOM + CRLF + numbers as strings (Windows PowerShell), UTF-16 with a BOM, PowerShell 7's
    // ISO timestamp and lower-case keys, collapsed arrays, and a file cut by -Depth 2.
    let report = compare_clean(&[
        &fixture("powershell/single-user-utf16.json"),
        &fixture("powershell/single-user-ps51.json"),
        &fixture("powershell/tokens-per-second-ps7.json"),
        &fixture("powershell/tokens-per-second-depth2.json"),
        &fixture("powershell/multi-user-1-ps.json"),
        &fixture("workflow3/scale-5.json"),
    ]);

    let ps51 = run(&report, "single-user-ps51");
    assert_eq!(ps51["Timestamp"], "2025-11-05 09:00:00");
    assert_eq!(metric(ps51, "DownloadTimeSeconds"), 44.8);
    assert_eq!(metric(ps51, "TokensPerSecond"), 42.6);
    let utf16 = run(&report, "single-user-utf16");
    assert_eq!(metric(utf16, "TokensPerSecond"), 41.9);
    // By Timestamp: the ps51 run (Nov 5) is the baseline of the later UTF-16 one (Nov 6).
    assert_eq!(
        change(&report, "single-user-utf16", "TokensPerSecond")["Baseline"],
        "single-user-ps51"
    );

    let ps7 = run(&report, "tokens-per-second-ps7");
    assert_eq!(ps7["Timestamp"], "2025-11-05 10:00:00");
    assert_eq!(ps7["Models"], serde_json::json!(["llama3.1:8b"]));
    let cell = cell(ps7, "llama3.1:8b/Short");
    assert_eq!(cell["Value"], 42.1);
    assert_eq!(cell["StdDev"], 1.9);
    assert_eq!(cell["SampleSize"], 5);

    let cut = run(&report, "tokens-per-second-depth2");
    assert_eq!(metric(cut, "OverallAverageTokensPerSecond"), 42.0);
    assert!(cut["Notes"][0].as_str().unwrap().contains("-Depth 10"));

    let one_user = run(&report, "multi-user-1-ps");
    assert_eq!(one_user["ConcurrentUsers"], 1);
    assert_eq!(one_user["Models"], serde_json::json!(["llama3.1:8b"]));
    let five = run(&report, "scale-5");
    assert_eq!(metric(five, "OverallDurationSeconds"), 180.0);
    assert_eq!(metric(five, "MaxDownloadTimeSeconds"), 95.0);
    // The 5-user run's efficiency comes from the 1-user PowerShell run: 64.2 / 180.
    let rows = report["Scaling"]["Rows"].as_array().unwrap();
    assert!((rows[1]["EfficiencyPercent"].as_f64().unwrap() - 35.67).abs() < 0.01);
}

#[test]
fn keys_in_another_case_and_a_powershell_5_1_file_compare() {
    // Keys in other letter cases; UTF-16 LE with a byte-order mark, CRLF, one-element arrays
    // collapsed, numbers as text and a DateTime object (Windows PowerShell 5.1's Out-File).
    let report = compare_clean(&[
        &parity("other-case-single-user.json"),
        &parity("ps51-tokens-per-second.json"),
    ]);
    let case = run(&report, "other-case-single-user");
    assert_eq!(case["Timestamp"], "2025-11-06 09:00:00");
    assert_eq!(case["Models"], serde_json::json!(["llama3.1:8b"]));
    assert_eq!(metric(case, "DownloadTimeSeconds"), 44.1);
    assert_eq!(metric(case, "LoadTimeColdSeconds"), 17.5);
    assert_eq!(metric(case, "TokensPerSecond"), 42.2);
    assert!(case.get("Notes").is_none(), "{case}");

    let ps51 = run(&report, "ps51-tokens-per-second");
    assert_eq!(ps51["Timestamp"], "2025-11-05 09:00:00");
    assert_eq!(ps51["ConcurrentRequests"], 1);
    assert_eq!(metric(ps51, "OverallAverageTokensPerSecond"), 41.7);
    let cell = cell(ps51, "llama3.1:8b/Short");
    assert_eq!(
        (&cell["Value"], &cell["StdDev"], &cell["SampleSize"]),
        (
            &serde_json::json!(41.7),
            &serde_json::json!(1.7),
            &serde_json::json!(5)
        )
    );
    // The suite records no request counts: no success rate is invented.
    assert!(ps51["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["Name"] != "SuccessRate"));
}

#[test]
fn a_simulated_and_a_real_run_are_never_one_trend_nor_gated() {
    // Real runs at 42 tok/s, simulated ones at 30: compared with each other, the gate would
    // see a 28% drop.
    let (output, report) = compare_json(&[&parity("sim-vs-real"), "--fail-on-regression", "5"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let groups: Vec<(&str, Vec<&str>, &str)> = report["Groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["Key"].as_str().unwrap(),
                g["Runs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap())
                    .collect(),
                g["Baseline"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("model llama3.1:8b", vec!["real-1", "real-2"], "real-1"),
            (
                "model llama3.1:8b (simulated)",
                vec!["simulated-1", "simulated-2"],
                "simulated-1"
            ),
        ]
    );
    for change in changes(&report) {
        let real = |label: &Value| label.as_str().unwrap().starts_with("real");
        assert_eq!(real(&change["Run"]), real(&change["Baseline"]), "{change}");
    }
    let gate = &report["Gate"];
    assert_eq!(gate["Passed"], true, "{gate}");
    assert_eq!(gate["Compared"], 10);
    let table = ollabench(&["compare", &parity("sim-vs-real")]);
    assert!(
        table
            .stdout
            .contains("single-user, model llama3.1:8b (simulated)"),
        "{}",
        table.stdout
    );
}

#[test]
fn the_reference_appendix_examples_compare_with_verdicts() {
    let (output, report) = compare_json(&[&fixture("appendix")]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert_eq!(report["Runs"].as_array().unwrap().len(), 3);
    let verdicts: Vec<&Value> = report["Verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["Verdicts"].as_array().unwrap())
        .collect();
    // Example 1: "All metrics within expected range"; Example 2: 4.2% variance, stable.
    assert!(
        verdicts.iter().all(|v| v["Level"] == "Target"),
        "{verdicts:?}"
    );
    let variance = verdicts.iter().find(|v| v["Metric"] == "Variance").unwrap();
    assert!((variance["Value"].as_f64().unwrap() - 4.1667).abs() < 0.001);
    // The single-user example in the same folder gives the 3-user run its single-user time.
    let row = &report["Scaling"]["Rows"][0];
    assert_eq!(
        row["SingleUserTimeSource"],
        "single-user run example-1-single-user TotalTimeSeconds"
    );
    // Example 3 alone has no single-user time: said, not invented.
    let (_, alone) = compare_json(&[&fixture("appendix/example-3-multi-user.json")]);
    let notes = alone["Scaling"]["Notes"][0].as_str().unwrap();
    assert!(notes.contains("no single-user time for example-3-multi-user"));
    assert!(alone["Scaling"]["Rows"][0]["EfficiencyPercent"].is_null());
    assert!(report["Targets"]
        .as_str()
        .unwrap()
        .contains("T4 GPU (16 GB) and Azure Files Premium"));

    // With the single-user example as --baseline, the 3-user run gets its efficiency.
    let (_, report) = compare_json(&[
        "--baseline",
        &fixture("appendix/example-1-single-user.json"),
        &fixture("appendix/example-3-multi-user.json"),
    ]);
    let row = &report["Scaling"]["Rows"][0];
    assert!((row["EfficiencyPercent"].as_f64().unwrap() - 63.99 / 125.45 * 100.0).abs() < 1e-6);
    assert!(row["SingleUserTimeSource"]
        .as_str()
        .unwrap()
        .starts_with("--baseline"));
}

#[test]
fn shortfalls_get_the_reference_advice_and_other_model_sizes_a_caveat() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow-phi.json");
    std::fs::write(
        &path,
        r#"{"Timestamp": "2025-11-01 10:00:00", "Model": "phi3.5",
            "Measurements": {"DownloadTimeSeconds": 95, "LoadTimeColdSeconds": 30,
            "LoadTimeWarmSeconds": 3, "TokensPerSecond": 22, "DownloadStatus": "Success",
            "LoadStatus": "Success"}}"#,
    )
    .unwrap();
    let output = ollabench(&["compare", path.to_str().unwrap(), "--format", "markdown"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    // A short verdict per metric first, each metric's thresholds once.
    assert!(
        output
            .stdout
            .contains("| Download time | ❌ Critical in 1 run (95.00 s) |"),
        "{}",
        output.stdout
    );
    assert!(output
        .stdout
        .contains("Download time: Target 35-50 s, Good < 60 s, Warning 60-90 s, Critical > 90 s."));
    let output = ollabench(&[
        "compare",
        path.to_str().unwrap(),
        "--format",
        "markdown",
        "--verbose",
    ]);
    let text = output.stdout;
    assert!(
        text.contains("| slow-phi | Download time | 95.00 s | ❌ Critical |"),
        "{text}"
    );
    assert!(text.contains("| slow-phi | Cold load time | 30.00 s | ⚠️ Warning |"));
    assert!(text.contains("| slow-phi | Warm load time | 3.00 s | ✅ Target |"));
    assert!(text.contains("Slow download"));
    assert!(text.contains("Slow cold load"));
    assert!(text.contains("verify GPU allocation with kubectl describe node"));
    assert!(text.contains("the target assumes a 7-8GB model; phi3.5 (3.8B parameters) is smaller"));
}

#[test]
fn the_gate_fails_on_a_real_drop_and_names_each_metric() {
    let output = ollabench(&[
        "compare",
        "--baseline",
        &fixture("gate/baseline.json"),
        &fixture("gate/wobble-3-percent.json"),
        &fixture("gate/drop-20-percent.json"),
        "--fail-on-regression",
        "2",
    ]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    for cell in ["Short", "Medium", "Long"] {
        let line =
            format!("regression: drop-20-percent: AverageTokensPerSecond[llama3.1:8b/{cell}]");
        assert!(output.stderr.contains(&line), "{}", output.stderr);
    }
    assert!(output
        .stderr
        .contains("OverallAverageTokensPerSecond 42.50 -> 34.00 tok/s (-20.0%"));
    // The 3% wobble is within its noise: never named.
    assert!(!output.stderr.contains("wobble"), "{}", output.stderr);
    // The per-cell and overall means regress; the overall min and max are extremes of single
    // samples, shown but never gated.
    assert!(
        output.stdout.contains("FAILED: 4 regression(s)"),
        "{}",
        output.stdout
    );
}

#[test]
fn one_slow_sample_trips_no_gate() {
    // The overall minimum drops 43% (one sample slowed by a busy machine) while every cell's
    // mean stays within its noise.
    let output = gate_against_baseline("gate/one-slow-sample.json", "10");
    assert_eq!(output.code, 0, "{}\n{}", output.stdout, output.stderr);
    assert!(!output.stderr.contains("regression:"), "{}", output.stderr);
}

#[test]
fn noise_is_not_a_regression() {
    // 3% lower, but the standard deviations (2.0 and 2.2 tok/s, ~5%) are larger.
    let output = gate_against_baseline("gate/wobble-3-percent.json", "2");
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(output
        .stdout
        .contains("passed: no metric regressed (6 changes judged)"));
    assert!(!output.stderr.contains("regression"));
    // A 20% drop is beyond noise but not beyond a 25% threshold.
    let output = gate_against_baseline("gate/drop-20-percent.json", "25");
    assert_eq!(output.code, 0, "{}", output.stderr);
}

#[tokio::test]
async fn gate_exit_codes_in_process() {
    let code = |args: Vec<String>| async move {
        let cli = ollabench::cli::Cli::parse_from(args);
        ollabench::run_async(cli, ollabench::Ctx::quiet()).await
    };
    let args = |later: &str, pct: &str| -> Vec<String> {
        [
            "ollabench",
            "compare",
            "--format",
            "csv",
            "--baseline",
            &fixture("gate/baseline.json"),
            &fixture(later),
            "--fail-on-regression",
            pct,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    assert_eq!(code(args("gate/drop-20-percent.json", "10")).await, 1);
    assert_eq!(code(args("gate/wobble-3-percent.json", "2")).await, 0);
    assert_eq!(code(args("bad/empty.json", "2")).await, 2);
}

#[test]
fn a_gate_with_nothing_to_compare_is_unusable_input() {
    let output = ollabench(&[
        "compare",
        &fixture("gate/baseline.json"),
        "--fail-on-regression",
        "5",
    ]);
    assert_eq!(output.code, 2);
    assert!(output
        .stderr
        .contains("--fail-on-regression needs something to compare"));
    let output = ollabench(&[
        "compare",
        "--baseline",
        &fixture("bad/malformed.json"),
        &fixture("gate/baseline.json"),
    ]);
    assert_eq!(output.code, 2);
    assert!(output.stderr.contains("--baseline: no usable result file"));
}

#[test]
fn bad_files_are_named_and_the_others_still_compare() {
    let output = ollabench(&[
        "compare",
        &fixture("bad/malformed.json"),
        &fixture("bad/empty.json"),
        &fixture("bad/unknown-kind.json"),
        &fixture("bad/missing-fields.json"),
        &fixture("workflow2/azure-files-baseline.json"),
        &fixture("workflow2/nvme-baseline.json"),
    ]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let expect = |file: &str, message: &str| {
        let line = format!("error: {}: {message}", fixture(file));
        assert!(
            output.stderr.contains(&line),
            "missing {line:?} in {}",
            output.stderr
        );
    };
    expect(
        "bad/malformed.json",
        "line 6, column 3: malformed JSON: trailing comma",
    );
    expect("bad/empty.json", "the file is empty");
    expect("bad/unknown-kind.json", "unknown kind of file");
    expect(
        "bad/missing-fields.json",
        "multi-user result: missing fields: Summary.OverallDurationSeconds",
    );
    assert!(output
        .stdout
        .contains("2 runs compared (2 single-user); 4 files not usable."));
    assert!(
        output.stdout.contains("-66.7%") && output.stdout.contains("better, noise unknown (1 run)"),
        "{}",
        output.stdout
    );

    // Nothing usable at all: exit 2.
    let output = ollabench(&["compare", &fixture("bad")]);
    assert_eq!(output.code, 2);
    assert!(output.stderr.contains("no usable result file to compare"));
    // Unknown JSON found in a folder is skipped with a warning naming it.
    assert!(output.stderr.contains(&format!(
        "warning: skipped {}",
        fixture("bad/unknown-kind.json")
    )));
}

#[test]
fn the_report_is_written_and_read_back_as_a_comparison_report() {
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("reports").join("comparison-report.json");
    let output = ollabench(&[
        "compare",
        &fixture("workflow3"),
        "--output",
        report_path.to_str().unwrap(),
    ]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(written["ReportType"], "ComparisonReport");
    assert_eq!(written["Runs"].as_array().unwrap().len(), 4);

    // The report is an input like any result file; runs read twice count once.
    let (output, again) = compare_json(&[
        report_path.to_str().unwrap(),
        &fixture("workflow3/scale-1.json"),
    ]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert_eq!(again["Runs"].as_array().unwrap().len(), 4);
    assert_eq!(again["Scaling"]["Rows"], written["Scaling"]["Rows"]);
}

#[test]
fn csv_has_one_row_per_run_per_metric_and_markdown_has_tables() {
    let files = [
        fixture("workflow2/azure-files-baseline.json"),
        fixture("workflow2/nvme-baseline.json"),
    ];
    let csv = ollabench(&["compare", &files[0], &files[1], "--format", "csv"]);
    assert_eq!(csv.code, 0);
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert!(lines[0].starts_with("Kind,Group,Run,Source,Timestamp,Baseline,Metric,Value"));
    assert_eq!(lines.len(), 1 + 2 * 5);
    let nvme_load = lines
        .iter()
        .find(|l| l.contains("nvme-baseline") && l.contains("LoadTimeColdSeconds"))
        .unwrap();
    assert!(nvme_load.ends_with(",better"), "{nvme_load}");
    assert!(nvme_load.contains(",18,"));

    let markdown = ollabench(&["compare", &files[0], &files[1], "--format", "markdown"]);
    assert!(markdown.stdout.starts_with("# ollabench compare"));
    assert!(markdown.stdout.contains("## Changes: single-user"));
    assert!(!markdown.stdout.contains("## Single-user runs"));
    let markdown = ollabench(&[
        "compare",
        &files[0],
        &files[1],
        "--format",
        "markdown",
        "--verbose",
    ]);
    assert!(markdown.stdout.contains("## Single-user runs"));
    assert!(markdown
        .stdout
        .contains("| Run | Timestamp | Model | Download s |"));
}

#[test]
fn help_documents_the_exit_codes_and_the_noise_rule() {
    let output = ollabench(&["compare", "--help"]);
    assert_eq!(output.code, 0);
    for expected in [
        "Exit codes:",
        "0    compared",
        "1    --fail-on-regression",
        "2    unusable input",
        "Noise: a change counts only when it exceeds the runs' own noise",
        "--fail-on-regression <PCT>",
        "--baseline <FILE>",
    ] {
        assert!(output.stdout.contains(expected), "missing {expected:?}");
    }
    assert!(Path::new(&fixture("gate")).is_dir());
}

#[test]
fn the_output_leads_with_a_short_verdict_per_metric_and_details_need_verbose() {
    let inputs = [fixture("gate"), fixture("workflow2"), fixture("workflow3")];
    let mut args = vec!["compare"];
    args.extend(inputs.iter().map(String::as_str));
    let short = ollabench(&args);
    assert_eq!(short.code, 0, "{}", short.stderr);
    args.push("--verbose");
    let verbose = ollabench(&args);
    assert_eq!(verbose.code, 0, "{}", verbose.stderr);
    for output in [&short.stdout, &verbose.stdout] {
        for line in output.lines() {
            assert!(
                line.chars().count() <= 100,
                "wider than 100 columns:\n{line}"
            );
        }
    }
    let (short_lines, verbose_lines) =
        (short.stdout.lines().count(), verbose.stdout.lines().count());
    assert!(
        short_lines * 2 < verbose_lines,
        "{short_lines} lines without --verbose, {verbose_lines} with"
    );
    // The first section after the heading is a verdict per metric.
    let first = short
        .stdout
        .split("\n\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(first.starts_with("Changes: "), "{first}");
    // The 20% drop in every cell folds into one row that says so; the wobble's six metrics
    // are one row of noise.
    let mut markdown_args = args.clone();
    markdown_args.pop();
    markdown_args.extend(["--format", "markdown"]);
    let markdown = ollabench(&markdown_args).stdout;
    assert!(
        markdown
            .contains("| drop-20-percent | AverageTokensPerSecond (3 cells) | -20.0% | 3 worse |"),
        "{markdown}"
    );
    assert!(
        markdown
            .contains("| wobble-3-percent | all 6 metrics | - | no real change (6 within noise) |"),
        "{markdown}"
    );
    for detail in ["Statistics across", "Tokens-per-second runs", "Trend: "] {
        assert!(!short.stdout.contains(detail), "{detail} without --verbose");
        assert!(verbose.stdout.contains(detail), "{detail} with --verbose");
    }
}

#[test]
fn a_change_with_unknown_noise_is_never_beyond_noise() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, day: u32, tps: f64| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                r#"{{"Timestamp": "2025-11-0{day} 10:00:00", "Model": "llama3.1:8b",
                    "Measurements": {{"TokensPerSecond": {tps}}}}}"#
            ),
        )
        .unwrap();
        path.to_str().unwrap().to_string()
    };
    let a = write("a.json", 1, 40.0);
    let b = write("b.json", 2, 42.52);
    let (output, report) = compare_json(&[&a, &b]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let tps = change(&report, "b", "TokensPerSecond");
    assert!(tps["Noise"].is_null());
    let markdown = ollabench(&["compare", &a, &b, "--format", "markdown", "--verbose"]);
    assert!(
        markdown
            .stdout
            .contains("| b | TokensPerSecond | 40.00 -> 42.52 tok/s (+6.3%) | better, noise unknown (1 run) |"),
        "{}",
        markdown.stdout
    );
    assert!(
        markdown.stdout.contains(
            "b vs a: changed beyond noise: nothing; changed, noise unknown (1 run): TokensPerSecond +6.3% better"
        ),
        "{}",
        markdown.stdout
    );
}

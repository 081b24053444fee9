//! Failures as data: the simulator's fault injection makes requests fail mid-stream, and every
//! command must exit non-zero with a one-line cause and a hint, never panic, and still write
//! what it measured, with its failed status and the failures counted by kind.

mod support;

use support::*;

/// Runs single-user against a simulator whose generations fail in one way; returns the exit
/// code, stdout and the written file.
async fn single_user_with_fault(
    kind: &str,
    spec: &str,
    extra: &[&str],
) -> (i32, String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("su.json");
    // Pulls meet faults too: `after:1` spares the pull (the first request) and strikes the
    // generation (load-only and unload requests are never faulted).
    let sim = start_sim(faulty_sim(0.01, &["gemma2:2b"], kind, spec)).await;
    let url = sim.url();
    let args = single_user_args(&url, "gemma2:2b", &output, extra);
    let (code, stdout, stderr) = ollabench_binary(&arg_refs(&args)).await;
    assert!(!stderr.contains("panicked"), "{stderr}");
    (code, stdout, read_json(&output))
}

fn assert_failed_generation(code: i32, stdout: &str, result: &serde_json::Value, kind: &str) {
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(result["Status"], "Failed", "{result:#}");
    let errors = result["Errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{result:#}");
    assert_eq!(errors[0]["Phase"], "generate");
    assert_eq!(errors[0]["Kind"], kind, "{result:#}");
    assert!(!errors[0]["Hint"].as_str().unwrap().is_empty());
    // What was measured before the failure is kept.
    assert!(
        result["Measurements"]["LoadTimeColdSeconds"].is_number(),
        "{result:#}"
    );
    assert!(
        result["Measurements"]["LoadTimeWarmSeconds"].is_number(),
        "{result:#}"
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("❌"))
        .expect("a one-line cause");
    assert!(line.contains("generate"), "{line}");
}

/// One test per fault that strikes single-user's generation: the fault rule (kind, spec),
/// extra flags, and the kind of failure the result must record.
macro_rules! generation_fault_tests {
    ($($name:ident: ($fault:literal, $spec:literal), $extra:expr => $recorded:literal;)*) => {$(
        #[tokio::test]
        async fn $name() {
            let (code, stdout, result) = single_user_with_fault($fault, $spec, $extra).await;
            assert_failed_generation(code, &stdout, &result, $recorded);
        }
    )*};
}

generation_fault_tests! {
    a_connection_cut_mid_stream_is_recorded: ("cut", "after:1"), &[] => "connection-cut";
    a_malformed_line_is_recorded: ("malformed", "after:1"), &[] => "malformed-response";
    an_error_line_inside_a_200_stream_is_recorded: ("error-line", "after:1"), &[] => "stream-error";
    a_stall_past_the_timeout_is_recorded:
        ("stall", "5s@after:1"), &["--first-byte-timeout", "300ms"] => "first-byte-timeout";
}

#[tokio::test]
async fn an_unknown_model_stops_its_requests_at_the_first_404() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("tps.json");
    let sim = start_sim(sim_config(0.01, &[])).await;
    let args = tps_args(&sim.url(), "not-pulled:7b", "short", "2", &output, &[]);
    let (code, _, stderr) = ollabench_binary(&arg_refs(&args)).await;
    assert_eq!(code, 1, "{stderr}");
    let result = read_json(&output);
    assert_eq!(result["Status"], "Failed");
    // A 404 for the model is fatal for that model: no further request is sent for it.
    let error = &result["Errors"][0];
    assert_eq!(error["Kind"], "http-404", "{result:#}");
    assert!(error["Message"].as_str().unwrap().contains("not found"));
    assert_eq!(
        result["ModelResults"][0]["PromptResults"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "{result:#}"
    );
    assert_eq!(result["Summary"]["TotalSamples"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tps_counts_failures_per_cell_with_their_causes() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("tps.json");
    // Every 2nd generation of phi3.5 is cut; mistral is untouched.
    let sim = start_sim(faulty_sim(
        0.02,
        &["phi3.5", "mistral:7b"],
        "cut",
        "every:2",
    ))
    .await;
    let args = tps_args(&sim.url(), "phi3.5", "short,medium", "4", &output, &[]);
    let (code, _, stderr) = ollabench_binary(&arg_refs(&args)).await;
    assert_eq!(code, 1, "{stderr}");
    let result = read_json(&output);
    assert_eq!(result["Status"], "Failed");
    for cell in result["ModelResults"][0]["PromptResults"]
        .as_array()
        .unwrap()
    {
        let requests = &cell["Requests"];
        assert_eq!(requests["Attempted"], 4, "{cell:#}");
        assert_eq!(requests["Failed"], 2, "{cell:#}");
        assert_eq!(requests["FailuresByKind"]["connection-cut"], 2);
        assert_eq!(requests["SuccessRate"], 50.0);
        assert_eq!(
            cell["Statistics"]["SampleSize"], 2,
            "failures stay out of tok/s"
        );
        assert_eq!(requests["FailureExamples"][0]["Kind"], "connection-cut");
    }
    assert_eq!(result["Summary"]["SuccessRate"], 50.0);
    assert_eq!(result["Summary"]["FailedRequests"], 4);
}

//! What the console says at the end of a run: every cell that was measured, the efficiency of
//! every concurrency level, the baseline level ollabench added, failures by kind with their
//! first message, all in tables that fit 100 columns.

mod support;

use ollabench::sim::{FaultRule, Faults};
use support::*;

fn assert_fits(stdout: &str) {
    for line in stdout.lines() {
        assert!(
            line.chars().count() <= 100,
            "a line wider than 100 columns ({}):\n{line}",
            line.chars().count()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_level_tps_run_shows_every_level_with_its_efficiency() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config(0.02, &["phi3.5"])).await;
    let output = dir.path().join("tps.json");
    let (code, stdout, stderr) = ollabench_binary(&[
        "tps",
        "--endpoint",
        &sim.url(),
        "--models",
        "phi3.5",
        "--prompt-lengths",
        "short",
        "--warmup-runs",
        "0",
        "--measurement-runs",
        "2",
        "--generation-tokens",
        "10",
        "--concurrent-requests",
        "2,4",
        "--output",
        output.to_str().unwrap(),
    ])
    .await;
    sim.shutdown().await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_fits(&stdout);
    assert!(
        stdout.contains("Concurrency 1 was measured too"),
        "the added baseline is said: {stdout}"
    );
    assert!(stdout.contains("Efficiency %"), "{stdout}");
    let result = read_json(&output);
    let levels: Vec<u64> = result["Concurrency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ConcurrentRequests"].as_u64().unwrap())
        .collect();
    for level in [1, 2, 4] {
        assert!(levels.contains(&level), "{levels:?}");
    }
    // Every level has a row in the concurrency table, with its efficiency from the file.
    for c in result["Concurrency"].as_array().unwrap() {
        let level = c["ConcurrentRequests"].as_u64().unwrap();
        if let Some(efficiency) = c["EfficiencyPercent"].as_f64() {
            let row = format!("{efficiency:.0}");
            assert!(
                stdout.lines().any(|l| l.contains("phi3.5")
                    && l.contains(&format!(" {level} "))
                    && l.contains(&row)),
                "no row for c={level} with {row}%: {stdout}"
            );
        }
    }
    assert!(stdout.contains("2 measured runs"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_reach_the_console_with_their_kind_and_first_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sim_config(0.02, &["phi3.5"]);
    config.faults = Faults {
        rules: vec![FaultRule::parse("status", "503@every:2").expect("a valid fault rule")],
    };
    let sim = start_sim(config).await;
    let output = dir.path().join("tps.json");
    let (code, stdout, stderr) = ollabench_binary(&[
        "tps",
        "--endpoint",
        &sim.url(),
        "--models",
        "phi3.5",
        "--prompt-lengths",
        "short",
        "--warmup-runs",
        "0",
        "--measurement-runs",
        "4",
        "--generation-tokens",
        "10",
        "--output",
        output.to_str().unwrap(),
    ])
    .await;
    sim.shutdown().await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("failed (") && stdout.contains("http-503"),
        "{stdout}"
    );
    assert!(stdout.contains("first http-503:"), "{stdout}");
    assert_fits(&stdout);
}

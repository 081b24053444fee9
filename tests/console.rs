//! What the console says at the end of a run: every cell that was measured, the efficiency of
//! every concurrency level, the baseline level ollabench added, failures by kind with their
//! first message, all in tables that fit 100 columns.

mod support;

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
    let args = tps_args(
        &sim.url(),
        "phi3.5",
        "short",
        "2",
        &output,
        &["--generation-tokens", "10", "--concurrent-requests", "2,4"],
    );
    let (code, stdout, stderr) = ollabench_binary(&arg_refs(&args)).await;
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
    let sim = start_sim(faulty_sim(0.02, &["phi3.5"], "status", "503@every:2")).await;
    let output = dir.path().join("tps.json");
    let args = tps_args(
        &sim.url(),
        "phi3.5",
        "short",
        "4",
        &output,
        &["--generation-tokens", "10"],
    );
    let (code, stdout, stderr) = ollabench_binary(&arg_refs(&args)).await;
    sim.shutdown().await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("failed (") && stdout.contains("http-503"),
        "{stdout}"
    );
    assert!(stdout.contains("first http-503:"), "{stdout}");
    assert_fits(&stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_readable_formats_and_quiet_leave_stdout_to_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config(0.02, &["phi3.5"])).await;
    let run = |format: &'static str, name: &'static str| {
        let output = dir.path().join(name);
        let url = sim.url();
        async move {
            let mut args = vec![
                "tps".to_string(),
                "--endpoint".into(),
                url,
                "--models".into(),
                "phi3.5".into(),
                "--prompt-lengths".into(),
                "short,long".into(),
                "--warmup-runs".into(),
                "0".into(),
                "--measurement-runs".into(),
                "2".into(),
                "--generation-tokens".into(),
                "8".into(),
                "--output".into(),
                output.to_str().unwrap().into(),
            ];
            args.extend(format.split_whitespace().map(String::from));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, stdout, stderr) = ollabench_binary(&args).await;
            assert_eq!(code, 0, "{format}: {stdout}\n{stderr}");
            (stdout, stderr, read_json(&output))
        }
    };
    let (stdout, stderr, file) = run("--format json", "json.json").await;
    let printed: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    assert_eq!(printed, file, "stdout is the same document as the file");
    assert!(stderr.contains("Results written to"), "{stderr}");

    let (stdout, _, _) = run("--format csv", "csv.json").await;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "a header and one row per cell: {stdout}");
    assert!(lines[0].starts_with("Model,Prompt,Concurrency,TokensPerSecond"));
    assert!(lines[1].starts_with("phi3.5,Short,1,"), "{stdout}");

    let (stdout, _, _) = run("--format markdown", "md.json").await;
    assert!(stdout.starts_with("| Model | Prompt |"), "{stdout}");

    let (stdout, stderr, _) = run("--quiet", "quiet.json").await;
    assert_eq!(stdout, "", "--quiet prints nothing on stdout");
    assert!(!stderr.contains("Results written"), "{stderr}");
    sim.shutdown().await;
}

/// A model's size says which size it is: `/api/tags` gives the size on disk, `/api/ps` the
/// size in memory once loaded, both in GB (10^9 bytes), and the two differ for one model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_sizes_say_on_disk_or_in_memory() {
    let sim = start_sim(sim_config(0.05, &["phi3.5"])).await;
    // Load it for good (keep_alive -1), so that /api/ps lists it when test-connection asks.
    let loaded = reqwest::Client::new()
        .post(format!("{}/api/generate", sim.url()))
        .json(&serde_json::json!({"model": "phi3.5", "keep_alive": -1}))
        .send()
        .await
        .unwrap();
    assert!(loaded.status().is_success());
    let (code, stdout, stderr) =
        ollabench_binary(&["test-connection", "--endpoint", &sim.url()]).await;
    sim.shutdown().await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let size_of = |suffix: &str| -> f64 {
        let line = stdout
            .lines()
            .find(|l| l.contains("phi3.5") && l.contains(suffix))
            .unwrap_or_else(|| panic!("no phi3.5 line with {suffix}: {stdout}"));
        let before = line.split(suffix).next().unwrap();
        before.split_whitespace().last().unwrap().parse().unwrap()
    };
    let on_disk = size_of(" GB on disk");
    let in_memory = size_of(" GB in memory");
    let catalogue = ollabench::sim::find_model("phi3.5").unwrap();
    assert!(
        (on_disk - catalogue.size as f64 / 1e9).abs() < 0.01,
        "{on_disk}"
    );
    assert!(in_memory > on_disk, "{in_memory} vs {on_disk}");
    assert!(!stdout.contains("GiB"), "{stdout}");
}

/// https against the simulator's plain-HTTP port: a plain message that says what to use, not
/// rustls's "corrupt message of type InvalidContentType" (kept for --verbose).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_against_plain_http_is_said_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config(0.05, &["phi3.5"])).await;
    let https = format!("https://{}", sim.addr());
    let output = dir.path().join("tps.json");
    let args = tps_args(&https, "phi3.5", "short", "1", &output, &[]);
    let (code, stdout, stderr) = ollabench_binary(&arg_refs(&args)).await;
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("it answers plain HTTP, not https (TLS)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("use http://{}", sim.addr())),
        "{stderr}"
    );
    assert!(!stderr.contains("InvalidContentType"), "{stderr}");
    let mut verbose = arg_refs(&args);
    verbose.push("--verbose");
    let (code, _, stderr) = ollabench_binary(&verbose).await;
    sim.shutdown().await;
    assert_eq!(code, 2);
    assert!(stderr.contains("InvalidContentType"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_user_run_fits_100_columns() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config(0.02, &["phi3.5", "llama3.2:1b"])).await;
    let url = sim.url();
    let multi_user = |models: &str, output: &str, extra: &[&str]| {
        command_line(
            &[
                "multi-user",
                "--endpoint",
                &url,
                "--concurrent-users",
                "3",
                "--models",
                models,
            ],
            &dir.path().join(output),
            extra,
        )
    };
    let args = multi_user("phi3.5,llama3.2:1b", "mu.json", &["--skip-download"]);
    let (code, stdout, stderr) = ollabench_binary(&arg_refs(&args)).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("Scaling: single user"), "{stdout}");
    assert!(stdout.contains("Contention:"), "{stdout}");
    assert_fits(&stdout);

    // Models not on the server and no way to measure one user alone: the run stops before any
    // user starts, and the console says why instead of printing empty lines.
    let args = multi_user("gemma2:2b", "spoiled.json", &[]);
    let (code, stdout, stderr) = ollabench_binary(&arg_refs(&args)).await;
    sim.shutdown().await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("❌ prepare: gemma2:2b is not on the server"),
        "{stdout}"
    );
    assert!(
        stdout.contains("--redownload"),
        "the hint is shown: {stdout}"
    );
    assert!(!stdout.contains("Scaling: \n"), "{stdout}");
    assert_fits(&stdout);
}

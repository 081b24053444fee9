//! End-to-end tests of `ollabench load` against the in-process simulator: closed and open
//! loops send the requests asked for, schedules are reproducible, the simulator's knee shows
//! (queueing above it, flat below), a stalling server behind an in-flight cap shows in the
//! scheduled-time tails and the schedule lag, SLOs judge requests, the samples file holds one
//! line per request, and `--format json` prints the file. The schedules' statistics (Poisson
//! CV near 1, constant near 0, one seed one schedule) are unit-tested in `engine::schedule`;
//! here they are checked as they reach the server.

mod support;

use std::path::Path;

use serde_json::Value;
use support::*;

const MODEL: &str = "llama3.1:8b";

/// Runs `load` against `url` with `args`, writing `output`; returns the exit code and the file.
async fn load(url: &str, output: &Path, args: &[&str]) -> (u8, Value) {
    let mut all = vec![
        "load",
        "--endpoint",
        url,
        "--model",
        MODEL,
        "--quiet",
        "--output",
        output.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let code = ollabench(&all).await;
    let result = if output.exists() {
        read_json(output)
    } else {
        Value::Null
    };
    (code, result)
}

fn num(value: &Value, path: &[&str]) -> f64 {
    let mut v = value;
    for key in path {
        v = &v[*key];
    }
    v.as_f64()
        .unwrap_or_else(|| panic!("{path:?} is not a number: {v}"))
}

fn steps(result: &Value) -> &Vec<Value> {
    result["Steps"].as_array().expect("Steps")
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_and_open_loops_send_the_requests_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config(0.02, &[MODEL])).await;
    let output = dir.path().join("closed.json");
    let samples = dir.path().join("closed.jsonl");
    let (code, result) = load(
        &sim.url(),
        &output,
        &[
            "--concurrency",
            "1,3",
            "--requests",
            "6",
            "--warmup",
            "2",
            "--max-tokens",
            "20",
            "--samples-file",
            samples.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, 0, "{result:#}");
    assert_eq!(result["Configuration"]["LoadShape"], "closed");
    let steps_run = steps(&result);
    assert_eq!(steps_run.len(), 2);
    for (step, concurrency) in steps_run.iter().zip([1, 3]) {
        assert_eq!(step["Mode"], "closed");
        assert_eq!(step["Concurrency"], concurrency);
        // The warmup's two requests are not measured.
        assert_eq!(step["Requests"]["Attempted"], 6, "{step:#}");
        assert_eq!(step["Requests"]["Succeeded"], 6);
        assert_eq!(step["Histograms"]["Sent"]["EndToEnd"]["Count"], 6);
        assert_eq!(step["Throughput"]["OutputTokens"], 6 * 20);
        assert!(num(step, &["Throughput", "RequestsPerSecond"]) > 0.0);
        assert!(num(step, &["Throughput", "InputTokensPerSecond"]) > 0.0);
        let total = num(step, &["Throughput", "TotalTokensPerSecond"]);
        let parts = num(step, &["Throughput", "OutputTokensPerSecond"])
            + num(step, &["Throughput", "InputTokensPerSecond"]);
        assert!((total - parts).abs() < 0.02, "{total} vs {parts}");
        // A closed loop sends when it means to: from the schedule, latencies are the same.
        assert_eq!(step["WaitedForCap"], 0);
        assert!(step["PeakInFlight"].as_u64().unwrap() <= concurrency);
        for field in [
            "TimeToFirstTokenMs",
            "TimePerOutputTokenMs",
            "InterTokenLatencyMs",
        ] {
            assert!(step["Latency"][field]["P99"].is_number(), "{field}");
        }
    }
    // One line per measured request, warmups left out, with the step it belongs to.
    let samples = lines(&samples);
    assert_eq!(samples.len(), 12);
    assert_eq!(samples.iter().filter(|s| s["Step"] == 1).count(), 6);
    assert!(samples.iter().all(|s| s["Outcome"] == "ok"));
    assert!(samples.iter().all(|s| s["Index"].as_u64().unwrap() >= 2));
    assert!(samples.iter().all(|s| s["OutputTokens"] == 20));

    // An open loop: a count, or a duration at a constant rate (sends at 0, 50, ..., 450 ms).
    let output = dir.path().join("open.json");
    let (code, result) = load(
        &sim.url(),
        &output,
        &[
            "--request-rate",
            "20",
            "--requests",
            "7",
            "--max-tokens",
            "10",
        ],
    )
    .await;
    assert_eq!(code, 0, "{result:#}");
    assert_eq!(steps(&result)[0]["Requests"]["Attempted"], 7);
    assert_eq!(steps(&result)[0]["RequestRate"], 20.0);
    let output = dir.path().join("open-duration.json");
    let (code, result) = load(
        &sim.url(),
        &output,
        &[
            "--request-rate",
            "20",
            "--arrival",
            "constant",
            "--duration",
            "500ms",
            "--max-tokens",
            "10",
        ],
    )
    .await;
    assert_eq!(code, 0, "{result:#}");
    assert_eq!(steps(&result)[0]["Requests"]["Attempted"], 10);
    assert_eq!(result["Configuration"]["DurationSeconds"], 0.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_reach_the_server_as_drawn_and_one_seed_repeats_one() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config(0.02, &[MODEL])).await;
    // Gaps between scheduled sends, in ms, as the samples file records them.
    let gaps = |path: &Path| -> Vec<f64> {
        let mut scheduled: Vec<(u64, f64)> = lines(path)
            .iter()
            .map(|s| (s["Index"].as_u64().unwrap(), num(s, &["ScheduledMs"])))
            .collect();
        scheduled.sort_by_key(|(index, _)| *index);
        scheduled.windows(2).map(|w| w[1].1 - w[0].1).collect()
    };
    let mut runs = Vec::new();
    for (name, arrival, seed) in [
        ("constant", "constant", "1"),
        ("poisson-a", "poisson", "7"),
        ("poisson-b", "poisson", "7"),
        ("poisson-c", "poisson", "8"),
    ] {
        let samples = dir.path().join(format!("{name}.jsonl"));
        let mut args = vec![
            "--request-rate",
            "40",
            "--requests",
            "12",
            "--max-tokens",
            "5",
            "--seed",
            seed,
            "--samples-file",
            samples.to_str().unwrap(),
        ];
        if arrival == "constant" {
            args.extend(["--arrival", "constant"]);
        }
        let output = dir.path().join(format!("{name}.json"));
        let (code, result) = load(&sim.url(), &output, &args).await;
        assert_eq!(code, 0, "{result:#}");
        assert_eq!(result["Configuration"]["Arrival"], arrival);
        runs.push(gaps(&samples));
    }
    // Constant: every gap 25 ms (to the microsecond the file rounds to).
    assert!(
        runs[0].iter().all(|g| (g - 25.0).abs() <= 0.002),
        "{:?}",
        runs[0]
    );
    // Poisson: one seed, one schedule; another seed, another.
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 0.002);
    assert!(close(&runs[1], &runs[2]), "{:?} vs {:?}", runs[1], runs[2]);
    assert!(!close(&runs[1], &runs[3]));
    assert!(
        runs[1].iter().any(|g| (g - 25.0).abs() > 1.0),
        "{:?}",
        runs[1]
    );
}

/// Mean e2e (ms, from the scheduled send) of an open loop at `rate` for `requests`.
async fn mean_e2e(url: &str, dir: &Path, rate: &str, requests: &str) -> f64 {
    let output = dir.join(format!("knee-{rate}-{requests}.json"));
    let (code, result) = load(
        url,
        &output,
        &[
            "--request-rate",
            rate,
            "--arrival",
            "constant",
            "--requests",
            requests,
        ],
    )
    .await;
    assert_eq!(code, 0, "{result:#}");
    num(
        &steps(&result)[0],
        &["LatencyFromScheduled", "EndToEndMs", "Mean"],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_knee_latency_grows_with_the_run_and_below_it_stays_flat() {
    // Two slots and a service time S of about 0.23 s at time scale 0.1 (100 tokens of
    // llama3.1:8b on the T4, each of two streams 1.1x slower): the knee is at about
    // 2 / (1.1 S) = 8 req/s, here 16 req/s at time scale 0.05.
    let dir = tempfile::tempdir().unwrap();
    let mut config = sim_config(0.05, &[MODEL]);
    config.num_parallel = 2;
    let sim = start_sim(config).await;
    let closed = dir.path().join("saturated.json");
    let (code, result) = load(
        &sim.url(),
        &closed,
        &["--concurrency", "6", "--requests", "18"],
    )
    .await;
    assert_eq!(code, 0, "{result:#}");
    let saturated = num(&steps(&result)[0], &["Throughput", "RequestsPerSecond"]);
    // The analytical knee is an upper bound: a busy machine only slows the simulator.
    assert!(
        (5.0..=19.0).contains(&saturated),
        "saturated throughput {saturated} req/s, the model says about 16"
    );

    // Three times the knee: the queue grows by about (1/16 - 1/48) s a request, so the mean
    // wait of 30 requests is about three times that of 10. Half that ratio leaves room for
    // a busy machine, which slows both runs alike.
    let short = mean_e2e(&sim.url(), dir.path(), "48", "10").await;
    let long = mean_e2e(&sim.url(), dir.path(), "48", "30").await;
    assert!(
        long > 1.5 * short,
        "above the knee: {short:.0} ms -> {long:.0} ms"
    );

    // A third of the knee at constant gaps: a request finds a free slot, so there is no queue
    // whatever the run's length (the service time itself is the only latency).
    let short = mean_e2e(&sim.url(), dir.path(), "5", "6").await;
    let long = mean_e2e(&sim.url(), dir.path(), "5", "18").await;
    assert!(
        long < 1.3 * short + 30.0,
        "below the knee: {short:.0} ms -> {long:.0} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalling_server_behind_the_cap_shows_in_scheduled_tails_and_schedule_lag() {
    // Every fourth request stalls 400 ms (wall clock) after its first token; with at most two
    // in flight the sends behind it wait for a slot, late against their schedule.
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(faulty_sim(0.02, &[MODEL], "stall", "400ms@every:4")).await;
    let output = dir.path().join("stall.json");
    let (code, result) = load(
        &sim.url(),
        &output,
        &[
            "--request-rate",
            "25",
            "--arrival",
            "constant",
            "--requests",
            "16",
            "--max-tokens",
            "10",
            "--max-concurrency",
            "2",
        ],
    )
    .await;
    assert_eq!(code, 0, "{result:#}");
    let step = &steps(&result)[0];
    assert_eq!(step["Requests"]["Succeeded"], 16);
    let waited = step["WaitedForCap"].as_u64().unwrap();
    assert!(waited > 0, "{step:#}");
    assert!(step["PeakInFlight"].as_u64().unwrap() <= 2);
    let lag_p99 = num(step, &["ScheduleLagMs", "P99"]);
    assert!(lag_p99 > 100.0, "schedule lag p99 {lag_p99} ms");
    assert_eq!(step["ScheduleLagMs"]["Count"], 16);
    let sent_ttft = num(step, &["Latency", "TimeToFirstTokenMs", "P99"]);
    let scheduled_ttft = num(step, &["LatencyFromScheduled", "TimeToFirstTokenMs", "P99"]);
    assert!(
        scheduled_ttft > sent_ttft + 100.0,
        "TTFT p99 from the schedule {scheduled_ttft} ms, from the send {sent_ttft} ms"
    );
    let sent_e2e = num(step, &["Latency", "EndToEndMs", "P99"]);
    let scheduled_e2e = num(step, &["LatencyFromScheduled", "EndToEndMs", "P99"]);
    assert!(scheduled_e2e > sent_e2e, "{scheduled_e2e} vs {sent_e2e}");
    assert!(sent_e2e >= 400.0, "the stall is in the e2e: {sent_e2e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slos_judge_every_request_and_name_the_objective_missed_most() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config(0.02, &[MODEL])).await;
    let output = dir.path().join("slo.json");
    // Nothing generates 20 tokens in a microsecond; everything starts within a minute.
    let (code, result) = load(
        &sim.url(),
        &output,
        &[
            "--concurrency",
            "2",
            "--requests",
            "5",
            "--max-tokens",
            "20",
            "--slo",
            "ttft=1m,e2e=1us,tpot:p90=1m",
        ],
    )
    .await;
    assert_eq!(code, 0, "{result:#}");
    assert_eq!(
        result["Configuration"]["Slo"],
        "ttft=60s,e2e=0.001ms,tpot:p90=60s"
    );
    let slo = &steps(&result)[0]["Slo"];
    assert_eq!(slo["Requests"], 5);
    assert_eq!(slo["MetAll"], 0);
    assert_eq!(slo["AttainmentPercent"], 0.0);
    assert_eq!(slo["GoodputRequestsPerSecond"], 0.0);
    assert_eq!(slo["MissedMost"], "e2e=0.001ms");
    assert_eq!(slo["PercentilesMet"], true);
    assert_eq!(slo["Objectives"][2]["Met"], true);

    let (code, result) = load(
        &sim.url(),
        &output,
        &[
            "--requests",
            "4",
            "--max-tokens",
            "5",
            "--slo",
            "ttft=1m,e2e=1m",
        ],
    )
    .await;
    assert_eq!(code, 0, "{result:#}");
    let slo = &steps(&result)[0]["Slo"];
    assert_eq!(slo["AttainmentPercent"], 100.0);
    assert_eq!(slo["MissedMost"], Value::Null);
    let goodput = num(slo, &["GoodputRequestsPerSecond"]);
    let throughput = num(&steps(&result)[0], &["Throughput", "RequestsPerSecond"]);
    assert!(
        (goodput - throughput).abs() < 0.02,
        "{goodput} vs {throughput}"
    );
}

#[tokio::test]
async fn bad_load_options_are_usage_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("never.json");
    for bad in [
        &["--slo", "ttft=500"][..],
        &["--slo", "latency=1s"],
        &["--slo", "ttft:p200=1s"],
        &["--request-rate", "-1"],
        &["--burstiness", "0.5", "--request-rate", "1"],
        &["--duration", "10s", "--warmup", "5"],
    ] {
        let (code, _) = load("http://127.0.0.1:9", &output, bad).await;
        assert_eq!(code, 2, "{bad:?}");
        assert!(!output.exists(), "{bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_api_is_loaded_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config(0.02, &[MODEL])).await;
    let output = dir.path().join("openai.json");
    let (code, result) = load(
        &sim.url(),
        &output,
        &[
            "--api",
            "openai",
            "--request-rate",
            "30",
            "--requests",
            "5",
            "--max-tokens",
            "12",
        ],
    )
    .await;
    assert_eq!(code, 0, "{result:#}");
    assert_eq!(result["Provenance"]["Api"], "openai");
    assert_eq!(result["Configuration"]["Route"], "completions");
    let step = &steps(&result)[0];
    assert_eq!(step["Requests"]["Succeeded"], 5);
    assert_eq!(step["Throughput"]["OutputTokens"], 5 * 12);
    assert!(step["Latency"]["TimeToFirstTokenMs"]["P50"].is_number());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_is_the_file_and_compare_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config(0.02, &[MODEL])).await;
    let output = dir.path().join("load.json");
    let url = sim.url();
    let (code, stdout, stderr) = ollabench_binary(&[
        "load",
        "--endpoint",
        &url,
        "--model",
        MODEL,
        "--request-rate",
        "30,60",
        "--requests",
        "4",
        "--max-tokens",
        "5",
        "--format",
        "json",
        "--output",
        output.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 0, "{stderr}");
    let printed: Value = serde_json::from_str(&stdout).expect("stdout is the JSON document");
    assert_eq!(printed, read_json(&output));
    assert_eq!(steps(&printed).len(), 2);
    let files = ollabench::results::read::read_file(&output).expect("the reader knows it");
    assert_eq!(files[0].kind, ollabench::results::read::Kind::Load);
    let (code, stdout, _) = ollabench_binary(&["compare", output.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("0 files not usable"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_keeps_the_finished_steps_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config(0.02, &[MODEL])).await;
    let output = dir.path().join("interrupted.json");
    let url = sim.url();
    // The second step (a request every 10 s) is the one Ctrl-C stops.
    let args = [
        "load",
        "--endpoint",
        &url,
        "--model",
        MODEL,
        "--quiet",
        "--request-rate",
        "50,0.1",
        "--requests",
        "5",
        "--max-tokens",
        "5",
        "--output",
        output.to_str().unwrap(),
    ];
    let cli = <ollabench::cli::Cli as clap::Parser>::try_parse_from(
        std::iter::once("ollabench").chain(args.iter().copied()),
    )
    .unwrap();
    let ctx = ollabench::Ctx::quiet();
    let cancel = ctx.cancel.clone();
    let watched = output.clone();
    let interrupt = tokio::spawn(async move {
        // The first step's snapshot is written when it finishes.
        wait_until("the first step", std::time::Duration::from_secs(60), || {
            watched.exists()
        })
        .await;
        cancel.cancel();
    });
    let code = ollabench::run_async(cli, ctx).await;
    interrupt.await.unwrap();
    assert_eq!(code, 130);
    let result = read_json(&output);
    assert_eq!(result["Status"], "Interrupted");
    let done = steps(&result);
    assert_eq!(done[0]["Requests"]["Attempted"], 5);
    assert!(done.len() <= 2, "{result:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_auto_spreads_rates_up_to_the_saturated_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sim_config(0.02, &[MODEL]);
    config.num_parallel = 4;
    let sim = start_sim(config).await;
    let output = dir.path().join("sweep.json");
    let (code, result) = load(
        &sim.url(),
        &output,
        &[
            "--sweep",
            "auto",
            "--sweep-steps",
            "2",
            "--max-concurrency",
            "4",
            "--requests",
            "8",
            "--max-tokens",
            "10",
        ],
    )
    .await;
    assert_eq!(code, 0, "{result:#}");
    let done = steps(&result);
    let roles: Vec<&str> = done.iter().map(|s| s["Role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["single-stream", "saturation", "sweep", "sweep"]);
    assert_eq!(done[0]["Concurrency"], 1);
    assert_eq!(done[1]["Concurrency"], 4);
    let saturated = num(&done[1], &["Throughput", "RequestsPerSecond"]);
    let rates: Vec<f64> = done[2..].iter().map(|s| num(s, &["RequestRate"])).collect();
    assert!(rates[0] < rates[1], "{rates:?}");
    assert!(
        (rates[1] - saturated).abs() < 0.01,
        "{rates:?} vs {saturated}"
    );
    assert_eq!(
        result["Configuration"]["RequestRates"],
        serde_json::json!(rates)
    );
}

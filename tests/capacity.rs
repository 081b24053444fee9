//! `ollabench capacity` end to end against the in-process simulator: the capacity it finds
//! against the analytical one, the one-line answer, every probe in the file, JSON output equal
//! to the file, bad flags refused with exit 2; and `report` and `compare` reading load and
//! capacity files.

mod support;

use ollabench::prompts::PromptLength;
use ollabench::sim::{self, model};
use support::*;

const MODEL: &str = "llama3.2:1b";
const TOKENS: u64 = 20;
const NUM_PARALLEL: usize = 2;
/// The real time one request holds a slot with both slots busy; the time scale is chosen to
/// give it, so that a scheduling hiccup of the test machine is small against it.
const SERVICE_SECONDS: f64 = 0.09;

/// The simulated slot time of one request with `streams` decoding beside it.
fn service_seconds(streams: usize) -> f64 {
    let t4 = sim::find_profile("t4").expect("the t4 profile");
    let model = sim::find_model(MODEL).expect("a catalogue model");
    let prompt_tokens = model::prompt_tokens(PromptLength::Short.text());
    model::service_seconds(t4, model, prompt_tokens, TOKENS, streams)
}

/// The simulator's time scale that makes the busy service time [`SERVICE_SECONDS`].
fn time_scale() -> f64 {
    SERVICE_SECONDS / service_seconds(NUM_PARALLEL)
}

/// `num_parallel` slots, each busy for the service time: requests a second the runner serves
/// once requests queue.
fn analytical_capacity() -> f64 {
    NUM_PARALLEL as f64 / (service_seconds(NUM_PARALLEL) * time_scale())
}

/// One search at a time: the tests of this file measure real latencies, and each one's
/// simulator and client would otherwise take the other's CPU (the margins below assume a
/// machine that is busy, not one running six searches at once).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The simulator every search runs against, with this file's lock held while it lives.
async fn capacity_sim() -> (tokio::sync::MutexGuard<'static, ()>, sim::SimHandle) {
    let serial = ONE_AT_A_TIME.lock().await;
    let sim = start_sim(sim::SimConfig {
        num_parallel: NUM_PARALLEL,
        ..sim_config(time_scale(), &[MODEL])
    })
    .await;
    (serial, sim)
}

/// The flags of a capacity search on the simulator at `url`, writing `output`.
fn capacity_args(url: &str, output: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "capacity",
        "--endpoint",
        url,
        "--model",
        MODEL,
        "--max-tokens",
        &TOKENS.to_string(),
        "--arrival",
        "constant",
        "--requests",
        "30",
        "--slo",
        &format!("ttft={}ms", (SERVICE_SECONDS * 1000.0).round()),
        "--attainment",
        "80%",
        "--output",
        output.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The capacity found lies within 20% of the analytical one.
///
/// Why the margin holds on a busy machine: a request meets the SLO when its TTFT (from its
/// scheduled send) is within one service time (90 ms), and a level passes when 80% of its 30
/// requests do. With constant arrivals below capacity no request waits for a slot, so TTFT is
/// the prompt time (about a tenth of the limit). Above capacity by a share e, request n waits
/// about n e / (1 + e) half service times (two slots), so every request after the 20th misses
/// at 10% over (a third of them: the level fails) whatever the machine does, since a slow
/// machine only adds waiting. A level at 80% of capacity fails only if the machine stalls
/// the client or the simulator long enough (a few hundred ms) to push 7 of its 30 requests
/// over the limit; the tests of this file run one at a time so that they do not stall each
/// other. The bracket is within 10%, so the capacity found (its lower end) lies between 0.8
/// and about 1.1 times the analytical one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_is_found_within_20_percent_of_the_analytical_one() {
    let (_serial, sim) = capacity_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("capacity.json");
    let expected = analytical_capacity();
    let start = format!("{:.1}", expected / 3.0);
    let args = capacity_args(&sim.url(), &output, &["--start", &start]);
    let code = ollabench(&arg_refs(&args)).await;
    sim.shutdown().await;
    let file = read_json(&output);
    assert_eq!(code, 0, "{file:#}");
    let answer = &file["Capacity"];
    let found = answer["Capacity"].as_f64().expect("a capacity");
    assert!(
        (found - expected).abs() / expected <= 0.20,
        "capacity {found:.2} req/s against the analytical {expected:.2} req/s: {answer}"
    );
    let (pass, fail) = (
        answer["BracketPass"].as_f64().unwrap(),
        answer["BracketFail"].as_f64().unwrap(),
    );
    assert_eq!(answer["End"], "Bracketed");
    assert!((fail - pass) / pass <= 0.10 + 1e-9, "{answer}");
    let probes = file["Probes"].as_array().unwrap();
    assert_eq!(probes.len() as u64, answer["Probes"].as_u64().unwrap());
    for probe in probes {
        let step = &probe["Step"];
        assert_eq!(step["Requests"]["Attempted"], 30, "{step:#}");
        assert!(step["Slo"]["AttainmentPercent"].is_number(), "{step:#}");
    }
    // The levels below the bracket passed, the failing one failed, and it is in the file.
    assert!(probes
        .iter()
        .any(|p| p["Level"].as_f64() == Some(fail) && p["Passed"] == false));
    assert_eq!(file["Search"]["By"], "rate");
    assert_eq!(file["Status"], "Success");
}

/// `--format json` prints the very document the file holds; a search stopped by its bound
/// before any level passed says the capacity is below the lowest level probed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_is_the_file_and_a_bounded_search_says_what_it_knows() {
    let (_serial, sim) = capacity_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let low = dir.path().join("low.json");
    let start = format!("{:.1}", analytical_capacity() / 4.0);
    let args = capacity_args(
        &sim.url(),
        &low,
        &["--start", &start, "--max-probes", "2", "--format", "json"],
    );
    let (code, stdout, stderr) = ollabench_binary(&arg_refs(&args)).await;
    assert_eq!(code, 0, "{stderr}");
    let printed: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(printed, read_json(&low));
    assert_eq!(printed["Probes"].as_array().unwrap().len(), 2);
    assert_eq!(printed["Capacity"]["Probes"], 2);

    let high = dir.path().join("high.json");
    let start = format!("{:.1}", analytical_capacity() * 4.0);
    let args = capacity_args(&sim.url(), &high, &["--start", &start, "--max-probes", "1"]);
    let (code, stdout, stderr) = ollabench_binary(&arg_refs(&args)).await;
    sim.shutdown().await;
    assert_eq!(code, 0, "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("capacity"))
        .unwrap_or_else(|| panic!("no answer line in {stdout}"));
    assert!(
        line.starts_with(&format!(
            "capacity: below {start} req/s at TTFT <= 90 ms for 80% of requests"
        )),
        "{line}"
    );
    assert!(
        line.contains("no level passed (1 probe, stopped by --max-probes)"),
        "{line}"
    );
    assert_eq!(
        read_json(&high)["Capacity"]["BracketFail"].as_f64(),
        start.parse().ok()
    );
}

/// Flags that cannot be searched with are refused before anything runs, with exit 2 and what
/// to write instead.
#[tokio::test]
async fn bad_search_flags_exit_2_with_a_clear_error() {
    for (flag, value, expected) in [
        (
            "--attainment",
            "0.95",
            "--attainment takes a percentage with its sign, such as 95%",
        ),
        (
            "--attainment",
            "120%",
            "--attainment must be above 0% and at most 100%",
        ),
        (
            "--precision",
            "100%",
            "--precision must be above 0% and below 100%",
        ),
        (
            "--precision",
            "ten",
            "--precision takes a percentage with its sign, such as 10%",
        ),
        ("--max-probes", "0", "--max-probes must be between 1 and"),
    ] {
        let (code, _, stderr) = ollabench_binary(&[
            "capacity",
            "--endpoint",
            &format!("http://127.0.0.1:{}", closed_port()),
            "--slo",
            "ttft:p95=500ms",
            flag,
            value,
        ])
        .await;
        assert_eq!(code, 2, "{flag} {value}: {stderr}");
        assert!(stderr.contains(expected), "{flag} {value}: {stderr}");
    }
    let (code, _, stderr) =
        ollabench_binary(&["capacity", "--endpoint", "http://127.0.0.1:1"]).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("capacity needs --slo"), "{stderr}");
}

/// `report` draws a load and a capacity file as throughput-latency curves with the SLO line
/// and the capacity point, and `compare` shows two capacity runs side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_and_compare_read_load_and_capacity_files() {
    let (_serial, sim) = capacity_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let start = format!("{:.1}", analytical_capacity() / 4.0);
    let mut files = Vec::new();
    for name in ["first", "second"] {
        let output = dir.path().join(format!("capacity-{name}.json"));
        let args = capacity_args(
            &sim.url(),
            &output,
            &["--start", &start, "--max-probes", "2"],
        );
        assert_eq!(ollabench(&arg_refs(&args)).await, 0);
        files.push(output);
    }
    let load = dir.path().join("load.json");
    let rates = format!("{start},{:.1}", analytical_capacity() * 1.5);
    let code = ollabench(&[
        "load",
        "--endpoint",
        &sim.url(),
        "--model",
        MODEL,
        "--max-tokens",
        &TOKENS.to_string(),
        "--requests",
        "10",
        "--request-rate",
        &rates,
        "--slo",
        "ttft:p95=90ms",
        "--output",
        load.to_str().unwrap(),
    ])
    .await;
    sim.shutdown().await;
    assert_eq!(code, 0);

    let out = dir.path().join("report");
    let paths = ollabench::report::write_report(&[files[0].clone(), load.clone()], &out).unwrap();
    assert!(paths.problems.is_empty(), "{:?}", paths.problems);
    let html = std::fs::read_to_string(&paths.html).unwrap();
    let curves = html.matches("data-chart=\"throughput-latency\"").count();
    assert_eq!(curves, 2, "one curve per file");
    assert!(html.contains("SLO limit (90 ms)"), "the SLO line is drawn");
    assert!(html.contains(">capacity<"), "the capacity point is marked");
    let markdown = std::fs::read_to_string(&paths.markdown).unwrap();
    let first: ollabench::results::capacity::CapacityResult =
        serde_json::from_value(read_json(&files[0])).unwrap();
    let line = first.line();
    assert!(
        line.starts_with("capacity: at least") && line.contains("TTFT <= 90 ms for 80%"),
        "two levels far below capacity pass: {line}"
    );
    assert!(
        markdown.contains(&line),
        "the answer is in the summary: {markdown}"
    );
    let capacity = first.capacity.capacity.unwrap();

    // The per-run values are details: compare shows them with --verbose.
    let (code, stdout, stderr) = ollabench_binary(&[
        "compare",
        "--verbose",
        files[0].to_str().unwrap(),
        files[1].to_str().unwrap(),
        load.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("3 runs compared (1 load, 2 capacity)"),
        "{stdout}"
    );
    let row = stdout
        .lines()
        // Tables fit 100 columns, so the label may wrap: its first line holds the values.
        .find(|l| l.contains("│ capacity [TTFT <= 90 ms"))
        .unwrap_or_else(|| panic!("no capacity row in {stdout}"));
    let second = read_json(&files[1])["Capacity"]["Capacity"]
        .as_f64()
        .unwrap();
    for value in [capacity, second] {
        assert!(row.contains(&format!("{value:.2} req/s")), "{row}");
    }
    assert!(
        stdout.contains("│ goodput at capacity [TTFT <= 90 ms"),
        "{stdout}"
    );
    assert!(
        stdout.contains("SLO attainment ["),
        "load steps side by side: {stdout}"
    );
}

/// By concurrency, the capacity is the number of slots: at `num_parallel` in flight no
/// request waits, one more and a third of them wait a whole service time (twice the TTFT
/// limit), so only 67% meet it against the 80% asked, whatever the machine's speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_by_concurrency_is_the_number_of_slots() {
    let (_serial, sim) = capacity_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("by-concurrency.json");
    let mut args = capacity_args(&sim.url(), &output, &["--by", "concurrency"]);
    // Closed loops have no arrivals to space.
    let arrival = args.iter().position(|a| a == "--arrival").unwrap();
    args.drain(arrival..arrival + 2);
    let ttft = args.iter().position(|a| a == "--slo").unwrap() + 1;
    args[ttft] = format!("ttft={}ms", (SERVICE_SECONDS * 500.0).round());
    let code = ollabench(&arg_refs(&args)).await;
    sim.shutdown().await;
    let file = read_json(&output);
    assert_eq!(code, 0, "{file:#}");
    let answer = &file["Capacity"];
    assert_eq!(
        answer["Capacity"].as_f64(),
        Some(NUM_PARALLEL as f64),
        "{answer}"
    );
    assert_eq!(
        answer["BracketFail"].as_f64(),
        Some(NUM_PARALLEL as f64 + 1.0)
    );
    assert_eq!(answer["End"], "Bracketed");
    assert_eq!(file["Search"]["By"], "concurrency");
    assert!(file["Probes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["Step"]["Mode"] == "closed"));
}

/// Ctrl-C during a probe: exit 130, the file marked interrupted, with the probes that finished
/// and the answer they give.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_keeps_the_finished_probes_and_exits_130() {
    let (_serial, sim) = capacity_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("interrupted.json");
    let start = format!("{:.1}", analytical_capacity() / 2.0);
    let args = capacity_args(&sim.url(), &output, &["--start", &start, "--quiet"]);
    let cli = <ollabench::cli::Cli as clap::Parser>::try_parse_from(
        std::iter::once("ollabench").chain(arg_refs(&args)),
    )
    .unwrap();
    let ctx = ollabench::Ctx::quiet();
    let cancel = ctx.cancel.clone();
    let watched = output.clone();
    let interrupt = tokio::spawn(async move {
        // The first probe's snapshot is written when it finishes.
        wait_until(
            "the first probe",
            std::time::Duration::from_secs(60),
            || watched.exists(),
        )
        .await;
        cancel.cancel();
    });
    let code = ollabench::run_async(cli, ctx).await;
    interrupt.await.unwrap();
    sim.shutdown().await;
    assert_eq!(code, 130);
    let file = read_json(&output);
    assert_eq!(file["Status"], "Interrupted");
    let probes = file["Probes"].as_array().unwrap();
    assert!(!probes.is_empty() && probes.len() <= 2, "{file:#}");
    assert_eq!(probes[0]["Step"]["Requests"]["Attempted"], 30);
    let answer = &file["Capacity"];
    assert_eq!(answer["End"], "Interrupted", "{answer}");
    if probes[0]["Passed"] == true {
        assert_eq!(answer["Capacity"], probes[0]["Level"]);
    }
}

/// A model the server does not have: the search stops before its first probe, with the error in
/// the file, and the run exits 1 (something failed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_that_cannot_run_stops_the_search_with_the_error() {
    let (_serial, sim) = capacity_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("missing.json");
    let mut args = capacity_args(&sim.url(), &output, &[]);
    let model = args.iter().position(|a| a == MODEL).unwrap();
    args[model] = "qwen2.5:0.5b".to_string();
    let code = ollabench(&arg_refs(&args)).await;
    sim.shutdown().await;
    let file = read_json(&output);
    assert_eq!(code, 1, "{file:#}");
    assert_eq!(file["Status"], "Failed");
    assert_eq!(file["Capacity"]["End"], "StepFailed");
    assert_eq!(file["Capacity"]["Capacity"], serde_json::Value::Null);
    assert_eq!(file["Probes"].as_array().unwrap().len(), 0, "no probe ran");
    let errors = file["Errors"].as_array().unwrap();
    assert!(
        errors.iter().any(
            |e| e["Kind"] == "http-404" && e["Message"].as_str().unwrap().contains("not found")
        ),
        "{errors:#?}"
    );
}

//! The simulator's calibration in real time: the `ollabench single-user` binary for the
//! reference's four models against the simulator (in this process), with real sockets and the
//! wall clock, printed next to the performance model's numbers and the reference's "Expected
//! Results (T4 GPU)".
//!
//! `cargo bench --bench sim_calibration` runs at time scale 0.25 (about a minute);
//! `SIM_CALIBRATION_SCALE=1 cargo bench --bench sim_calibration` at real speed (about four
//! minutes). Durations are printed in simulated seconds (measured / scale). The tests check
//! the same calibration on the model's plain functions and on Tokio's paused clock, where a
//! busy machine cannot move the numbers; this measures what a user would see.

#[path = "../tests/support/mod.rs"]
mod support;

use ollabench::prompts::PromptLength;
use ollabench::sim::model::{self, Span};
use support::{ollabench_binary, read_json, sim_config, start_sim, Range, EXPECTED_T4};

const DEFAULT_SCALE: f64 = 0.25;

fn cell(measured: f64, span: Span, (low, high): Range) -> (String, bool) {
    let inside = (low..=high).contains(&measured);
    let text = format!(
        "{measured:6.2} [{:6.2}] {low:>3}-{high:<3}{}",
        span.nominal,
        if inside { "  " } else { " !" }
    );
    (text, inside)
}

fn main() {
    let scale = std::env::var("SIM_CALIBRATION_SCALE")
        .ok()
        .and_then(|value| value.parse::<f64>().ok())
        .filter(|scale| *scale > 0.0)
        .unwrap_or(DEFAULT_SCALE);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let t4 = ollabench::sim::find_profile("t4").expect("the t4 profile");
    let prompt_tokens = model::prompt_tokens(PromptLength::Short.text());
    println!(
        "single-user against the simulator (t4, time scale {scale}), in simulated seconds: \
         measured [model] reference range ('!' outside it)"
    );
    println!(
        "{:12} {:>25} {:>25} {:>25} {:>25} {:>8}",
        "model", "download (s)", "cold load (s)", "warm load (s)", "tok/s (server)", "client"
    );
    let mut outside = 0;
    for (name, download, cold, warm, tps) in EXPECTED_T4 {
        let catalogue = ollabench::sim::find_model(name).expect("a catalogue model");
        let expected = model::single_user(t4, catalogue, prompt_tokens, 100);
        let output = dir.path().join(format!("{}.json", name.replace(':', "-")));
        let (code, result, stderr) = runtime.block_on(async {
            let sim = start_sim(sim_config(scale, &[])).await;
            let (code, _, stderr) = ollabench_binary(&[
                "single-user",
                "--endpoint",
                &sim.url(),
                "--model",
                name,
                "--output",
                output.to_str().expect("a UTF-8 path"),
            ])
            .await;
            sim.shutdown().await;
            let result = output.exists().then(|| read_json(&output));
            (code, result, stderr)
        });
        let Some(result) = result.filter(|_| code == 0) else {
            println!("{name:12} single-user failed (exit {code}): {stderr}");
            outside += 1;
            continue;
        };
        let m = &result["Measurements"];
        let seconds = |key: &str| m[key].as_f64().unwrap_or(f64::NAN) / scale;
        let rate = |key: &str| m[key].as_f64().unwrap_or(f64::NAN) * scale;
        let cells = [
            cell(
                seconds("DownloadTimeSeconds"),
                expected.download_seconds,
                download,
            ),
            cell(
                seconds("LoadTimeColdSeconds"),
                expected.cold_load_seconds,
                cold,
            ),
            cell(
                seconds("LoadTimeWarmSeconds"),
                expected.warm_load_seconds,
                warm,
            ),
            cell(rate("TokensPerSecond"), expected.tokens_per_second, tps),
        ];
        outside += cells.iter().filter(|(_, inside)| !inside).count();
        println!(
            "{name:12} {:>25} {:>25} {:>25} {:>25} {:8.2}",
            cells[0].0,
            cells[1].0,
            cells[2].0,
            cells[3].0,
            rate("ClientTokensPerSecond")
        );
    }
    if outside == 0 {
        println!("every measurement is inside the reference's range");
    } else {
        println!("{outside} measurement(s) outside the reference's range");
    }
}

//! The latency histograms in tokens-per-second result files: written for every cell, read
//! back losslessly, in agreement with the summary fields beside them, and mergeable across
//! cells and runs into exactly the histogram of all their requests.

mod support;

use ollabench::metrics::RequestLatencies;
use support::*;

async fn tps_file(sim_url: &str, dir: &std::path::Path, name: &str) -> serde_json::Value {
    let output = dir.join(name);
    let args = tps_args(
        sim_url,
        "phi3.5",
        "short,medium",
        "4",
        &output,
        &["--generation-tokens", "12"],
    );
    let code = ollabench(&arg_refs(&args)).await;
    let result = read_json(&output);
    assert_eq!(code, 0, "{result:#}");
    result
}

fn histograms(cell: &serde_json::Value) -> RequestLatencies {
    serde_json::from_value(cell["Histograms"].clone())
        .unwrap_or_else(|err| panic!("Histograms do not read back: {err}\n{cell:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cell_carries_mergeable_latency_histograms() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config(0.02, &["phi3.5"])).await;
    let first = tps_file(&sim.url(), dir.path(), "first.json").await;
    let second = tps_file(&sim.url(), dir.path(), "second.json").await;
    sim.shutdown().await;

    let mut all = RequestLatencies::new();
    let mut requests = 0;
    let mut gaps = 0;
    for result in [&first, &second] {
        for cell in result["ModelResults"][0]["PromptResults"]
            .as_array()
            .unwrap()
        {
            let h = histograms(cell);
            let n = cell["Statistics"]["SampleSize"].as_u64().unwrap();
            assert_eq!(h.end_to_end.count(), n, "one e2e per request: {cell:#}");
            assert_eq!(h.time_to_first_token.count(), n);
            assert_eq!(h.time_per_output_token.count(), n);
            // 12 tokens, so 11 gaps per request (chunks may carry several tokens: at most).
            assert!(h.inter_token_latency.count() <= 11 * n);
            assert!(h.inter_token_latency.count() >= n);
            // The summary beside it says the same, within histogram precision.
            let ttft = h.time_to_first_token.summary().unwrap();
            let max = cell["Metrics"]["TimeToFirstTokenSeconds"]["Max"]
                .as_f64()
                .unwrap();
            assert!(
                (ttft.max - max).abs() <= max * 0.001 + 1e-6,
                "histogram max {} vs summary max {max}",
                ttft.max
            );
            requests += n;
            gaps += h.inter_token_latency.count();
            all += &h;
        }
    }
    assert_eq!(
        all.end_to_end.count(),
        requests,
        "merging adds every request"
    );
    assert_eq!(all.inter_token_latency.count(), gaps);
}

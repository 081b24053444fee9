//! What a report shows of each result file, read leniently from its JSON: every field is
//! optional, so a file from the PowerShell suite (the reference's fields only) renders what it
//! has. The HTML and Markdown writers work on these views only.

use std::path::PathBuf;

use super::load::{InputKind, LoadedFile, Node};

/// One result file as the report sees it.
#[derive(Debug, Clone)]
pub struct RunView {
    pub path: PathBuf,
    pub label: String,
    pub kind: InputKind,
    pub timestamp: Option<String>,
    /// `Status`: Success, Failed, Interrupted (ollabench files only).
    pub status: Option<String>,
    pub errors: Vec<ErrorView>,
    pub provenance: ProvenanceView,
    pub body: Body,
}

/// What the file measured.
#[derive(Debug, Clone)]
pub enum Body {
    SingleUser(SingleUserView),
    TokensPerSecond(TpsView),
    MultiUser(MultiUserView),
    Comparison(ComparisonView),
}

/// One recorded failure.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorView {
    pub phase: String,
    pub kind: String,
    pub message: String,
    pub hint: String,
}

/// How the file was made (`Provenance`); `recorded` is false for the PowerShell suite's files.
#[derive(Debug, Clone, Default)]
pub struct ProvenanceView {
    pub recorded: bool,
    pub ollabench_version: Option<String>,
    pub server_version: Option<String>,
    pub api: Option<String>,
    pub endpoint: Option<String>,
    pub endpoint_resolved_by: Option<String>,
    pub simulated: bool,
    pub simulator_profile: Option<String>,
    pub simulator_time_scale: Option<f64>,
    pub command_line: Vec<String>,
    pub models: Vec<ModelView>,
}

impl ProvenanceView {
    /// The banner text for a simulated run.
    pub fn simulated_note(&self) -> Option<String> {
        self.simulated.then(|| {
            format!(
                "SIMULATED: measured against ollabench's built-in simulator (profile {}, time scale {}), not real hardware",
                self.simulator_profile.as_deref().unwrap_or("unknown"),
                self.simulator_time_scale
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "1".into())
            )
        })
    }
}

/// A model as the server described it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelView {
    pub name: String,
    pub digest: Option<String>,
    pub parameter_size: Option<String>,
    pub quantization: Option<String>,
    pub size_bytes: Option<u64>,
    pub loaded_size_bytes: Option<u64>,
    pub size_vram_bytes: Option<u64>,
    pub fully_in_gpu: Option<bool>,
}

impl ModelView {
    /// GPU residency in words: `100% in GPU`, `62% in GPU (partly on CPU)`, `not recorded`.
    pub fn residency(&self) -> String {
        match (
            self.size_vram_bytes,
            self.loaded_size_bytes,
            self.fully_in_gpu,
        ) {
            (Some(vram), Some(size), _) if size > 0 => {
                let share = (vram as f64 / size as f64 * 100.0).min(100.0);
                if vram >= size {
                    "100% in GPU".to_string()
                } else if vram == 0 {
                    "on CPU only (0% in GPU)".to_string()
                } else {
                    format!("{share:.0}% in GPU (partly on CPU)")
                }
            }
            (_, _, Some(true)) => "fully in GPU".to_string(),
            (_, _, Some(false)) => "not fully in GPU".to_string(),
            _ => "not recorded".to_string(),
        }
    }
}

/// A single-user file (Benchmark 1).
#[derive(Debug, Clone, Default)]
pub struct SingleUserView {
    pub model: Option<String>,
    pub endpoint: Option<String>,
    pub download_seconds: Option<f64>,
    pub download_status: Option<String>,
    pub load_cold_seconds: Option<f64>,
    pub load_warm_seconds: Option<f64>,
    pub load_status: Option<String>,
    pub total_seconds: Option<f64>,
    pub tokens_per_second: Option<f64>,
    pub time_to_first_token_seconds: Option<f64>,
    pub client_tokens_per_second: Option<f64>,
    pub download_megabytes_per_second: Option<f64>,
    pub load_megabytes_per_second_cold: Option<f64>,
}

/// A summary of a distribution as recorded (`N`, `Mean`, `Min`, ... `P99`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SummaryView {
    pub n: Option<u64>,
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub std_dev: Option<f64>,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

impl SummaryView {
    fn read(node: Node) -> Option<SummaryView> {
        let view = SummaryView {
            n: node.get("N").u64(),
            mean: node.get("Mean").f64(),
            min: node.get("Min").f64(),
            max: node.get("Max").f64(),
            std_dev: node.get("StdDev").f64(),
            median: node.get("Median").f64(),
            p90: node.get("P90").f64(),
            p95: node.get("P95").f64(),
            p99: node.get("P99").f64(),
        };
        view.mean.or(view.median).map(|_| view)
    }

    /// The recorded quantiles as (value, cumulative share in percent), ascending: a CDF drawn
    /// through the known points only.
    pub fn quantile_points(&self) -> Vec<(f64, f64)> {
        let known = [
            (self.min, 0.0),
            (self.median, 50.0),
            (self.p90, 90.0),
            (self.p95, 95.0),
            (self.p99, 99.0),
            (self.max, 100.0),
        ];
        let mut points: Vec<(f64, f64)> = known
            .iter()
            .filter_map(|(value, share)| value.map(|v| (v, *share)))
            .collect();
        points.sort_by(|a, b| a.1.total_cmp(&b.1));
        // Quantiles never decrease; keep the curve monotone even if a file rounds oddly.
        let mut highest = f64::NEG_INFINITY;
        for point in points.iter_mut() {
            highest = highest.max(point.0);
            point.0 = highest;
        }
        points
    }
}

/// One model x prompt length cell of a tokens-per-second file.
#[derive(Debug, Clone, Default)]
pub struct CellView {
    pub model: String,
    pub prompt_length: String,
    pub concurrent_requests: Option<u64>,
    pub average_tokens_per_second: Option<f64>,
    pub min_tokens_per_second: Option<f64>,
    pub max_tokens_per_second: Option<f64>,
    pub std_dev_tokens_per_second: Option<f64>,
    pub sample_size: Option<u64>,
    pub median_tokens_per_second: Option<f64>,
    pub coefficient_of_variation_percent: Option<f64>,
    pub stability: Option<String>,
    pub average_duration_seconds: Option<f64>,
    pub time_to_first_token: Option<SummaryView>,
    pub inter_token_latency: Option<SummaryView>,
    pub time_per_output_token: Option<SummaryView>,
    pub end_to_end: Option<SummaryView>,
    /// Per-request TTFT of the successful measured requests, seconds.
    pub time_to_first_token_samples: Vec<f64>,
    pub attempted: Option<u64>,
    pub failed: Option<u64>,
}

impl CellView {
    /// `model / prompt` for legends and tables.
    pub fn name(&self) -> String {
        format!("{} / {}", self.model, self.prompt_length)
    }
}

/// One concurrency level.
#[derive(Debug, Clone, Default)]
pub struct ConcurrencyView {
    pub model: String,
    pub prompt_length: String,
    pub concurrent_requests: u64,
    pub aggregate_tokens_per_second: Option<f64>,
    pub per_request_tokens_per_second: Option<f64>,
    pub single_stream_tokens_per_second: Option<f64>,
    pub efficiency_percent: Option<f64>,
    pub assessment: Option<String>,
    pub success_rate: Option<f64>,
}

/// A tokens-per-second file (Benchmark 2).
#[derive(Debug, Clone, Default)]
pub struct TpsView {
    pub generation_tokens: Option<u64>,
    pub warmup_runs: Option<u64>,
    pub measurement_runs: Option<u64>,
    pub concurrency_levels: Vec<u64>,
    pub tokens_per_second_source: Option<String>,
    pub overall_average: Option<f64>,
    pub overall_min: Option<f64>,
    pub overall_max: Option<f64>,
    pub total_tests: Option<u64>,
    pub total_samples: Option<u64>,
    pub failed_requests: Option<u64>,
    pub success_rate: Option<f64>,
    pub median_time_to_first_token_seconds: Option<f64>,
    pub cells: Vec<CellView>,
    pub concurrency: Vec<ConcurrencyView>,
}

/// One user of a multi-user file. Offsets are seconds from the common start.
#[derive(Debug, Clone, Default)]
pub struct UserView {
    pub user_id: String,
    pub model: Option<String>,
    pub download_seconds: Option<f64>,
    pub download_status: Option<String>,
    pub load_seconds: Option<f64>,
    pub load_status: Option<String>,
    pub total_seconds: Option<f64>,
    pub tokens_per_second: Option<f64>,
    pub download_start_seconds: Option<f64>,
    pub load_start_seconds: Option<f64>,
    pub generate_start_seconds: Option<f64>,
    pub generate_seconds: Option<f64>,
    pub generate_status: Option<String>,
}

impl UserView {
    /// The user's phases as (phase index, start, end) in seconds from the common start:
    /// 0 download, 1 load, 2 generate. Recorded offsets are used when present; otherwise the
    /// phases are laid end to end from 0 (the reference's files record durations only).
    pub fn phases(&self) -> (Vec<(usize, f64, f64)>, bool) {
        let durations = [
            self.download_seconds,
            self.load_seconds,
            self.generate_seconds,
        ];
        let starts = [
            self.download_start_seconds,
            self.load_start_seconds,
            self.generate_start_seconds,
        ];
        let measured = starts
            .iter()
            .zip(&durations)
            .any(|(s, d)| s.is_some() && d.is_some());
        let mut phases = Vec::new();
        let mut cursor = 0.0;
        for (index, (start, duration)) in starts.iter().zip(&durations).enumerate() {
            let Some(duration) = duration.filter(|d| *d >= 0.0) else {
                continue;
            };
            let begin = if measured {
                match start {
                    Some(s) => *s,
                    None => continue,
                }
            } else {
                cursor
            };
            phases.push((index, begin, begin + duration));
            cursor = begin + duration;
        }
        (phases, measured)
    }
}

/// A multi-user file (Benchmark 3).
#[derive(Debug, Clone, Default)]
pub struct MultiUserView {
    pub endpoint: Option<String>,
    pub concurrent_users: Option<u64>,
    pub models: Vec<String>,
    pub overall_duration_seconds: Option<f64>,
    pub total_users: Option<u64>,
    pub successful_downloads: Option<u64>,
    pub successful_loads: Option<u64>,
    pub success_rate: Option<f64>,
    pub average_download_seconds: Option<f64>,
    pub min_download_seconds: Option<f64>,
    pub max_download_seconds: Option<f64>,
    pub average_load_seconds: Option<f64>,
    pub min_load_seconds: Option<f64>,
    pub max_load_seconds: Option<f64>,
    pub average_throughput: Option<f64>,
    pub efficiency_percent: Option<f64>,
    pub speedup: Option<f64>,
    /// One user's time the efficiency compares against, and where it came from.
    pub single_user_time_seconds: Option<f64>,
    pub baseline_source: Option<String>,
    /// The reference's words for the efficiency and for the download contention.
    pub scaling_assessment: Option<String>,
    pub contention_assessment: Option<String>,
    pub users: Vec<UserView>,
}

/// One metric of one run inside a comparison report (`Runs[].Metrics[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    pub name: String,
    pub subject: Option<String>,
    pub value: f64,
    /// `s`, `tok/s`, `%`.
    pub unit: String,
}

/// One run as a comparison report records it.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparedRun {
    pub label: String,
    /// Whether the comparison used it as (part of) a baseline (`Runs[].Baseline`).
    pub is_baseline: bool,
    /// The file it came from, as the comparison report recorded it.
    pub source: Option<String>,
    pub kind: String,
    pub group: Option<String>,
    pub timestamp: Option<String>,
    pub metrics: Vec<MetricPoint>,
}

/// A group of runs the comparison compared as a trend (`Groups[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ComparedGroup {
    /// `SingleUser: model llama3.1:8b`.
    pub name: String,
    /// Labels of its runs, in Timestamp order.
    pub runs: Vec<String>,
    /// The baseline's label (a run, or a mean of several `--baseline` runs).
    pub baseline: Option<String>,
}

/// A comparison report written by `ollabench compare --output`.
#[derive(Debug, Clone, Default)]
pub struct ComparisonView {
    pub runs: Vec<ComparedRun>,
    /// The groups as the comparison formed them; empty in older or hand-written reports.
    pub groups: Vec<ComparedGroup>,
    /// The run the report compared against (`Baseline`), by label or source, when the report
    /// names one at its top level.
    pub baseline: Option<String>,
}

/// Reads one file into its view.
pub fn view(file: &LoadedFile) -> RunView {
    let root = Node::new(&file.value);
    let body = match file.kind {
        InputKind::SingleUser => Body::SingleUser(single_user(root)),
        InputKind::TokensPerSecond => Body::TokensPerSecond(tokens_per_second(root)),
        InputKind::MultiUser => Body::MultiUser(multi_user(root)),
        InputKind::Comparison => Body::Comparison(comparison(root)),
    };
    RunView {
        path: file.path.clone(),
        label: file.label.clone(),
        kind: file.kind,
        timestamp: root.get("Timestamp").text(),
        status: root.get("Status").text(),
        errors: root
            .get("Errors")
            .items()
            .into_iter()
            .map(|e| ErrorView {
                phase: e.get("Phase").text().unwrap_or_default(),
                kind: e.get("Kind").text().unwrap_or_default(),
                message: e.get("Message").text().unwrap_or_default(),
                hint: e.get("Hint").text().unwrap_or_default(),
            })
            .collect(),
        provenance: provenance(root.get("Provenance")),
        body,
    }
}

fn provenance(node: Node) -> ProvenanceView {
    ProvenanceView {
        recorded: node.exists(),
        ollabench_version: node.get("OllabenchVersion").text(),
        server_version: node.get("ServerVersion").text(),
        api: node.get("Api").text(),
        endpoint: node.get("Endpoint").text(),
        endpoint_resolved_by: node.get("EndpointResolvedBy").text(),
        simulated: node.get("Simulated").bool().unwrap_or(false),
        simulator_profile: node.get("SimulatorProfile").text(),
        simulator_time_scale: node.get("SimulatorTimeScale").f64(),
        command_line: node.get("CommandLine").texts(),
        models: node
            .get("Models")
            .items()
            .into_iter()
            .map(|m| ModelView {
                name: m.get("Name").text().unwrap_or_default(),
                digest: m.get("Digest").text(),
                parameter_size: m.get("ParameterSize").text(),
                quantization: m.get("Quantization").text(),
                size_bytes: m.get("SizeBytes").u64(),
                loaded_size_bytes: m.get("LoadedSizeBytes").u64(),
                size_vram_bytes: m.get("SizeVramBytes").u64(),
                fully_in_gpu: m.get("FullyInGpu").bool(),
            })
            .collect(),
    }
}

fn single_user(root: Node) -> SingleUserView {
    let m = root.get("Measurements");
    SingleUserView {
        model: root.get("Model").text(),
        endpoint: root.get("OllamaEndpoint").text(),
        download_seconds: m.get("DownloadTimeSeconds").f64(),
        download_status: m.get("DownloadStatus").text(),
        load_cold_seconds: m.get("LoadTimeColdSeconds").f64(),
        load_warm_seconds: m.get("LoadTimeWarmSeconds").f64(),
        load_status: m.get("LoadStatus").text(),
        total_seconds: m.get("TotalTimeSeconds").f64(),
        tokens_per_second: m.get("TokensPerSecond").f64(),
        time_to_first_token_seconds: m.get("TimeToFirstTokenSeconds").f64(),
        client_tokens_per_second: m.get("ClientTokensPerSecond").f64(),
        download_megabytes_per_second: m.get("DownloadMegabytesPerSecond").f64(),
        load_megabytes_per_second_cold: m.get("LoadMegabytesPerSecondCold").f64(),
    }
}

fn tokens_per_second(root: Node) -> TpsView {
    let config = root.get("Configuration");
    let summary = root.get("Summary");
    let mut cells = Vec::new();
    for model in root.get("ModelResults").items() {
        let model_name = model.get("Model").text().unwrap_or_else(|| "model".into());
        for prompt in model.get("PromptResults").items() {
            let stats = prompt.get("Statistics");
            let metrics = prompt.get("Metrics");
            let requests = prompt.get("Requests");
            let samples = prompt.get("Samples").items();
            cells.push(CellView {
                model: model_name.clone(),
                prompt_length: prompt
                    .get("PromptLength")
                    .text()
                    .unwrap_or_else(|| "prompt".into()),
                concurrent_requests: prompt.get("ConcurrentRequests").u64(),
                average_tokens_per_second: stats.get("AverageTokensPerSecond").f64(),
                min_tokens_per_second: stats.get("MinTokensPerSecond").f64(),
                max_tokens_per_second: stats.get("MaxTokensPerSecond").f64(),
                std_dev_tokens_per_second: stats.get("StdDevTokensPerSecond").f64(),
                sample_size: stats.get("SampleSize").u64(),
                median_tokens_per_second: stats.get("MedianTokensPerSecond").f64(),
                coefficient_of_variation_percent: stats.get("CoefficientOfVariationPercent").f64(),
                stability: stats.get("Stability").text(),
                average_duration_seconds: stats.get("AverageDurationSeconds").f64(),
                time_to_first_token: SummaryView::read(metrics.get("TimeToFirstTokenSeconds")),
                inter_token_latency: SummaryView::read(metrics.get("InterTokenLatencySeconds")),
                time_per_output_token: SummaryView::read(metrics.get("TimePerOutputTokenSeconds")),
                end_to_end: SummaryView::read(metrics.get("EndToEndSeconds")),
                time_to_first_token_samples: samples
                    .iter()
                    .filter(|s| s.get("Succeeded").bool().unwrap_or(true))
                    .filter_map(|s| s.get("TimeToFirstTokenSeconds").f64())
                    .collect(),
                attempted: requests.get("Attempted").u64(),
                failed: requests.get("Failed").u64(),
            });
        }
    }
    let concurrency = root
        .get("Concurrency")
        .items()
        .into_iter()
        .filter_map(|c| {
            Some(ConcurrencyView {
                model: c.get("Model").text().unwrap_or_default(),
                prompt_length: c.get("PromptLength").text().unwrap_or_default(),
                concurrent_requests: c.get("ConcurrentRequests").u64()?,
                aggregate_tokens_per_second: c.get("AggregateTokensPerSecond").f64(),
                per_request_tokens_per_second: c.get("PerRequestTokensPerSecond").f64(),
                single_stream_tokens_per_second: c.get("SingleStreamTokensPerSecond").f64(),
                efficiency_percent: c.get("EfficiencyPercent").f64(),
                assessment: c.get("Assessment").text(),
                success_rate: c.get("SuccessRate").f64(),
            })
        })
        .collect();
    TpsView {
        generation_tokens: config.get("GenerationTokens").u64(),
        warmup_runs: config.get("WarmupRuns").u64(),
        measurement_runs: config.get("MeasurementRuns").u64(),
        concurrency_levels: config
            .get("ConcurrencyLevels")
            .items()
            .into_iter()
            .filter_map(Node::u64)
            .collect(),
        tokens_per_second_source: config.get("TokensPerSecondSource").text(),
        overall_average: summary.get("OverallAverageTokensPerSecond").f64(),
        overall_min: summary.get("OverallMinTokensPerSecond").f64(),
        overall_max: summary.get("OverallMaxTokensPerSecond").f64(),
        total_tests: summary.get("TotalTests").u64(),
        total_samples: summary.get("TotalSamples").u64(),
        failed_requests: summary.get("FailedRequests").u64(),
        success_rate: summary.get("SuccessRate").f64(),
        median_time_to_first_token_seconds: summary
            .get("OverallMedianTimeToFirstTokenSeconds")
            .f64(),
        cells,
        concurrency,
    }
}

fn multi_user(root: Node) -> MultiUserView {
    let summary = root.get("Summary");
    let scaling = root.get("Scaling");
    let users = root
        .get("IndividualResults")
        .items()
        .into_iter()
        .enumerate()
        .map(|(index, user)| {
            let m = user.get("Measurements");
            UserView {
                user_id: user
                    .get("UserId")
                    .text()
                    .unwrap_or_else(|| (index + 1).to_string()),
                model: user.get("Model").text(),
                download_seconds: m.get("DownloadTimeSeconds").f64(),
                download_status: m.get("DownloadStatus").text(),
                load_seconds: m.get("LoadTimeSeconds").f64(),
                load_status: m.get("LoadStatus").text(),
                total_seconds: m.get("TotalTimeSeconds").f64(),
                tokens_per_second: m.get("TokensPerSecond").f64(),
                download_start_seconds: m.get("DownloadStartSeconds").f64(),
                load_start_seconds: m.get("LoadStartSeconds").f64(),
                generate_start_seconds: m.get("GenerateStartSeconds").f64(),
                generate_seconds: m.get("GenerateTimeSeconds").f64(),
                generate_status: m.get("GenerateStatus").text(),
            }
        })
        .collect();
    MultiUserView {
        endpoint: root.get("OllamaEndpoint").text(),
        concurrent_users: root.get("ConcurrentUsers").u64(),
        models: root.get("Models").texts(),
        overall_duration_seconds: summary.get("OverallDurationSeconds").f64(),
        total_users: summary.get("TotalUsers").u64(),
        successful_downloads: summary.get("SuccessfulDownloads").u64(),
        successful_loads: summary.get("SuccessfulLoads").u64(),
        success_rate: summary.get("SuccessRate").f64(),
        average_download_seconds: summary.get("AverageDownloadTimeSeconds").f64(),
        min_download_seconds: summary.get("MinDownloadTimeSeconds").f64(),
        max_download_seconds: summary.get("MaxDownloadTimeSeconds").f64(),
        average_load_seconds: summary.get("AverageLoadTimeSeconds").f64(),
        min_load_seconds: summary.get("MinLoadTimeSeconds").f64(),
        max_load_seconds: summary.get("MaxLoadTimeSeconds").f64(),
        average_throughput: summary.get("AverageThroughputTokensPerSecond").f64(),
        efficiency_percent: scaling
            .get("EfficiencyPercent")
            .f64()
            .or(summary.get("EfficiencyPercent").f64()),
        speedup: scaling
            .get("Speedup")
            .f64()
            .or(summary.get("Speedup").f64()),
        single_user_time_seconds: scaling.get("SingleUserTimeSeconds").f64(),
        baseline_source: scaling.get("BaselineSource").text(),
        scaling_assessment: scaling.get("Assessment").text().filter(|a| !a.is_empty()),
        contention_assessment: scaling
            .get("ContentionAssessment")
            .text()
            .filter(|a| !a.is_empty()),
        users,
    }
}

/// Like is compared with like: the same kind, models and number of users.
fn compared_group(run: Node) -> String {
    let mut group = run.get("Kind").text().unwrap_or_else(|| "runs".into());
    let models = run.get("Models").texts();
    if !models.is_empty() {
        group.push_str(&format!(", models {}", models.join(", ")));
    }
    if let Some(users) = run.get("ConcurrentUsers").u64() {
        group.push_str(&format!(", {users} users"));
    }
    if let Some(requests) = run.get("ConcurrentRequests").u64().filter(|r| *r > 1) {
        group.push_str(&format!(", {requests} concurrent requests"));
    }
    group
}

fn comparison(root: Node) -> ComparisonView {
    let runs = root
        .get("Runs")
        .items()
        .into_iter()
        .enumerate()
        .map(|(index, run)| ComparedRun {
            label: run
                .get("Label")
                .text()
                .filter(|l| !l.is_empty())
                .or(run.get("Source").text())
                .unwrap_or_else(|| format!("run {}", index + 1)),
            is_baseline: run.get("Baseline").bool().unwrap_or(false),
            kind: run.get("Kind").text().unwrap_or_default(),
            group: Some(compared_group(run)),
            source: run.get("Source").text(),
            timestamp: run.get("Timestamp").text(),
            metrics: run
                .get("Metrics")
                .items()
                .into_iter()
                .filter_map(|m| {
                    Some(MetricPoint {
                        name: m.get("Name").text()?,
                        subject: m.get("Subject").text(),
                        value: m.get("Value").f64()?,
                        unit: match m.get("Unit").text().as_deref() {
                            Some("Seconds") => "s".into(),
                            Some("TokensPerSecond") => "tok/s".into(),
                            Some("Percent") => "%".into(),
                            Some(other) => other.to_string(),
                            None => String::new(),
                        },
                    })
                })
                .collect(),
        })
        .collect();
    let groups = root
        .get("Groups")
        .items()
        .into_iter()
        .map(|group| {
            let kind = group.get("Kind").text().unwrap_or_else(|| "runs".into());
            ComparedGroup {
                name: match group.get("Key").text() {
                    Some(key) => format!("{kind}: {key}"),
                    None => kind,
                },
                runs: group.get("Runs").texts(),
                baseline: group.get("Baseline").text(),
            }
        })
        .collect();
    let baseline = root
        .get("Baseline")
        .text()
        .or(root.get("Baseline").get("Label").text())
        .or(root.get("Baseline").get("Source").text());
    ComparisonView {
        runs,
        groups,
        baseline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_points_are_monotone_and_ordered() {
        let summary = SummaryView {
            min: Some(0.01),
            median: Some(0.02),
            p90: Some(0.019),
            p95: None,
            p99: Some(0.05),
            max: Some(0.06),
            ..SummaryView::default()
        };
        let points = summary.quantile_points();
        assert_eq!(points.len(), 5);
        assert!(points
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1));
    }

    #[test]
    fn phases_use_offsets_when_recorded_and_durations_otherwise() {
        let recorded = UserView {
            download_seconds: Some(10.0),
            load_seconds: Some(3.0),
            generate_seconds: Some(2.0),
            download_start_seconds: Some(0.5),
            load_start_seconds: Some(12.0),
            generate_start_seconds: Some(15.0),
            ..UserView::default()
        };
        assert_eq!(
            recorded.phases(),
            (vec![(0, 0.5, 10.5), (1, 12.0, 15.0), (2, 15.0, 17.0)], true)
        );
        let reference = UserView {
            download_seconds: Some(10.0),
            load_seconds: Some(3.0),
            ..UserView::default()
        };
        assert_eq!(
            reference.phases(),
            (vec![(0, 0.0, 10.0), (1, 10.0, 13.0)], false)
        );
        assert!(UserView::default().phases().0.is_empty());
    }

    #[test]
    fn residency_is_said_in_words() {
        let mut model = ModelView {
            loaded_size_bytes: Some(100),
            size_vram_bytes: Some(100),
            ..ModelView::default()
        };
        assert_eq!(model.residency(), "100% in GPU");
        model.size_vram_bytes = Some(62);
        assert_eq!(model.residency(), "62% in GPU (partly on CPU)");
        model.size_vram_bytes = Some(0);
        assert!(model.residency().contains("CPU only"));
        assert_eq!(ModelView::default().residency(), "not recorded");
    }
}

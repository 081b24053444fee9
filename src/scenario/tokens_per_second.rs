//! `ollabench tokens-per-second` (the reference's Benchmark 2): steady-state throughput and
//! latency by model, prompt length and concurrency. Each model is loaded before measuring so
//! no sample contains a load; warmup requests are recorded but kept out of the statistics;
//! failed requests are counted per cell with their cause and kept out of tok/s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use indicatif::{ProgressBar, ProgressStyle};

use crate::backend::{Backend, GenerationRecord, GenerationRequest, RequestError, Route};
use crate::engine::{self, Plan};
use crate::exit::{Ctx, Outcome, UsageError};
use crate::prompts::{read_prompts_file, Prompt, PromptLength};
use crate::results::tokens_per_second::{
    ConcurrencyResult, LatencyMetrics, ModelResult, PromptLengthImpact, PromptResult,
    RequestCounts, Sample, Statistics, TpsConfiguration, TpsResult, TpsSummary,
};
use crate::results::{
    round2, timestamp_now, write_json_atomic, ErrorRecord, Provenance, RunStatus,
};
use crate::scenario::target::{Target, TargetOptions};
use crate::stats::{self, Stability, Summary};

/// Client and server tok/s further apart than this (percent) are flagged.
const DISAGREEMENT_PERCENT: f64 = 5.0;
/// A sample whose server `load_duration` exceeds this (times the simulator's time scale)
/// suggests the model was reloaded mid-measurement.
const RELOAD_THRESHOLD: Duration = Duration::from_millis(250);
/// The most requests one batch may keep in flight.
const MAX_CONCURRENCY: u32 = 100_000;
/// The most warmup or measured runs per cell: enough for any soak, small enough that the
/// request count of a cell never overflows.
const MAX_RUNS: u32 = 1_000_000;

/// Validated options of a tokens-per-second run.
#[derive(Debug, Clone)]
pub struct TpsOptions {
    pub target: TargetOptions,
    pub models: Vec<String>,
    pub prompts: Vec<Prompt>,
    pub generation_tokens: u32,
    pub warmup_runs: u32,
    pub measurement_runs: u32,
    pub concurrency_levels: Vec<u32>,
    pub output: PathBuf,
    pub route: Route,
}

impl TpsOptions {
    /// Checks and normalizes the command line's values.
    #[allow(clippy::too_many_arguments)]
    pub fn validate(
        target: TargetOptions,
        models: &[String],
        prompt_lengths: &[String],
        prompts_file: Option<&Path>,
        generation_tokens: u32,
        warmup_runs: u32,
        measurement_runs: u32,
        concurrent_requests: &[u32],
        output: PathBuf,
        alternate_route: bool,
    ) -> anyhow::Result<Self> {
        let mut unique_models: Vec<String> = Vec::new();
        for model in models.iter().map(|m| m.trim()).filter(|m| !m.is_empty()) {
            if !unique_models.iter().any(|known| known == model) {
                unique_models.push(model.to_string());
            }
        }
        if unique_models.is_empty() {
            return Err(UsageError::err(
                "--models is empty: name at least one model, e.g. --models llama3.1:8b",
            ));
        }
        let prompts = match prompts_file {
            Some(path) => read_prompts_file(path)?,
            None => {
                let mut lengths = Vec::new();
                for raw in prompt_lengths.iter().filter(|p| !p.trim().is_empty()) {
                    let length = PromptLength::parse(raw).ok_or_else(|| {
                        UsageError::err(format!(
                            "unknown prompt length '{raw}': use short, medium, long or very-long"
                        ))
                    })?;
                    if !lengths.contains(&length) {
                        lengths.push(length);
                    }
                }
                if lengths.is_empty() {
                    return Err(UsageError::err(
                        "--prompt-lengths is empty: use e.g. short,medium,long",
                    ));
                }
                lengths.into_iter().map(Prompt::builtin).collect()
            }
        };
        if generation_tokens < 2 {
            return Err(UsageError::err(
                "--generation-tokens must be at least 2: tok/s needs tokens after the first",
            ));
        }
        if measurement_runs > MAX_RUNS || warmup_runs > MAX_RUNS {
            return Err(UsageError::err(format!(
                "--measurement-runs and --warmup-runs go up to {MAX_RUNS}; for longer runs use \
                 several runs and `ollabench compare`"
            )));
        }
        if measurement_runs == 0 {
            return Err(UsageError::err("--measurement-runs must be at least 1"));
        }
        let mut levels = Vec::new();
        for &level in concurrent_requests {
            if level == 0 || level > MAX_CONCURRENCY {
                return Err(UsageError::err(format!(
                    "--concurrent-requests {level} is out of range: use 1 to {MAX_CONCURRENCY}"
                )));
            }
            if !levels.contains(&level) {
                levels.push(level);
            }
        }
        if levels.is_empty() {
            levels.push(1);
        }
        Ok(TpsOptions {
            target,
            models: unique_models,
            prompts,
            generation_tokens,
            warmup_runs,
            measurement_runs,
            concurrency_levels: levels,
            output,
            route: if alternate_route {
                Route::Chat
            } else {
                Route::Generate
            },
        })
    }

    fn planned_requests(&self) -> u64 {
        let per_level: u64 = self
            .levels_to_measure()
            .iter()
            .map(|&level| u64::from(level) * u64::from(self.warmup_runs + self.measurement_runs))
            .sum();
        per_level * self.models.len() as u64 * self.prompts.len() as u64
    }

    /// The levels measured: the user's, plus a single-stream baseline when a level above 1
    /// needs one for its efficiency.
    fn levels_to_measure(&self) -> Vec<u32> {
        let mut levels = self.concurrency_levels.clone();
        if !levels.contains(&1) && levels.iter().any(|&l| l > 1) {
            levels.push(1);
        }
        levels
    }
}

/// Connects, measures, writes the result file and prints the summary table.
pub async fn run(options: TpsOptions, ctx: &Ctx) -> anyhow::Result<Outcome> {
    crate::results::write::check_writable(&options.output, "--output")?;
    let target = Target::connect(&options.target, ctx).await?;
    let measured = run_on(&target, &options, ctx).await;
    target.close().await;
    let result = measured?;
    print_summary(&result, &options);
    Ok(result.status.into())
}

/// Measures on a connected target, writing the file after every cell.
pub async fn run_on(target: &Target, options: &TpsOptions, ctx: &Ctx) -> anyhow::Result<TpsResult> {
    let api = match target.backend {
        Backend::Ollama(_) => "ollama",
        Backend::OpenAi(_) => "openai",
    };
    let mut provenance = Provenance::start(api, &target.url, target.resolved_by);
    if let Some(sim) = &target.simulated {
        provenance.set_simulator(&sim.profile, sim.time_scale);
    }
    match &target.backend {
        Backend::Ollama(client) => {
            if let Ok(info) = client.server_info().await {
                provenance.server_version = Some(info.version);
                if let Some(header) = info.simulator {
                    provenance.set_simulator_from_header(&header);
                }
            }
        }
        Backend::OpenAi(client) => {
            if let Ok(kind) = client.server_kind().await {
                crate::scenario::record_openai_server(&mut provenance, &kind);
            }
        }
    }
    let time_scale = provenance.simulator_time_scale.unwrap_or(1.0);
    let mut result = TpsResult {
        timestamp: timestamp_now(),
        configuration: TpsConfiguration {
            generation_tokens: options.generation_tokens,
            warmup_runs: options.warmup_runs,
            measurement_runs: options.measurement_runs,
            concurrent_requests: options.concurrency_levels[0],
            concurrency_levels: options.concurrency_levels.clone(),
            models: options.models.clone(),
            prompt_lengths: options.prompts.iter().map(|p| p.name.clone()).collect(),
            route: route_name(options.route, api).into(),
            tokens_per_second_source: "server".into(),
        },
        summary: TpsSummary::default(),
        model_results: Vec::new(),
        concurrency: Vec::new(),
        status: RunStatus::Success,
        errors: Vec::new(),
        provenance,
    };
    let progress = Progress::new(ctx.interactive, options.planned_requests());
    let mut interrupted = false;
    let mut all_cells: Vec<(String, PromptResult)> = Vec::new();
    let mut snapshot_failed = false;
    'models: for model in &options.models {
        progress.set_context(&format!("{model}: loading"));
        let Some(preload) =
            crate::scenario::cancellable(ctx, preload(&target.backend, model, options.route)).await
        else {
            interrupted = true;
            break 'models;
        };
        let preload_seconds = match &preload {
            Ok(elapsed) => elapsed.map(|d| round2(d.as_secs_f64())),
            Err(err) => {
                result
                    .errors
                    .push(ErrorRecord::from_request(&format!("preload {model}"), err));
                if is_fatal_for_model(err) {
                    say_model_skipped(model, err);
                    result.model_results.push(ModelResult {
                        model: model.clone(),
                        prompt_results: Vec::new(),
                        prompt_length_impact: Vec::new(),
                        preload_seconds: None,
                    });
                    continue 'models;
                }
                None
            }
        };
        if let Some(client) = target.backend.as_ollama() {
            crate::scenario::record_model_provenance(client, &mut result.provenance, model).await;
        }
        let mut model_result = ModelResult {
            model: model.clone(),
            prompt_results: Vec::new(),
            prompt_length_impact: Vec::new(),
            preload_seconds,
        };
        let mut cells: Vec<PromptResult> = Vec::new();
        'cells: for &level in &options.levels_to_measure() {
            for prompt in &options.prompts {
                let (cell, cell_interrupted, fatal) = measure_cell(
                    target, options, ctx, &progress, model, prompt, level, time_scale,
                )
                .await;
                interrupted = cell_interrupted;
                all_cells.push((model.clone(), cell.clone()));
                cells.push(cell);
                finish_model(&mut model_result, &cells, options);
                let mut snapshot = result.clone();
                snapshot.model_results.push(model_result.clone());
                fill_concurrency(&mut snapshot, &all_cells, options);
                fill_summary(&mut snapshot);
                snapshot.status = RunStatus::Interrupted;
                if interrupted {
                    crate::results::write::write_json_or_fallback(&options.output, &snapshot)?;
                    result = snapshot;
                    break 'models;
                }
                // A failed snapshot is no reason to stop measuring: the final write falls
                // back to another file if the path still fails then.
                if let Err(err) = write_json_atomic(&options.output, &snapshot) {
                    if !snapshot_failed {
                        crate::errln!("warning: {err:#}");
                        snapshot_failed = true;
                    }
                }
                if let Some(err) = fatal {
                    say_model_skipped(model, &err);
                    result.errors.push(ErrorRecord::from_request(
                        &format!("generate {model}"),
                        &err,
                    ));
                    break 'cells;
                }
            }
        }
        result.model_results.push(model_result);
        fill_concurrency(&mut result, &all_cells, options);
    }
    progress.finish();
    fill_summary(&mut result);
    result.status = if interrupted {
        RunStatus::Interrupted
    } else if result.summary.failed_requests > 0 || !result.errors.is_empty() {
        RunStatus::Failed
    } else {
        RunStatus::Success
    };
    let sources: Vec<bool> = result
        .model_results
        .iter()
        .flat_map(|m| &m.prompt_results)
        .flat_map(|c| &c.samples)
        .filter(|s| s.succeeded)
        .map(|s| s.server_tokens_per_second.is_some())
        .collect();
    result.configuration.tokens_per_second_source = if sources.iter().all(|&s| s) {
        "server"
    } else if sources.iter().any(|&s| s) {
        "mixed"
    } else {
        "client"
    }
    .into();
    result.provenance.finished_at = Some(chrono::Local::now().to_rfc3339());
    crate::results::write::write_json_or_fallback(&options.output, &result)?;
    Ok(result)
}

fn route_name(route: Route, api: &str) -> &'static str {
    match (route, api) {
        (Route::Chat, _) => "chat",
        (Route::Generate, "openai") => "completions",
        (Route::Generate, _) => "generate",
    }
}

/// Loads the model before measuring (Ollama: a load-only request; OpenAI servers load on
/// their own and have no load request). `Ok(None)` when the API has no load request.
async fn preload(
    backend: &Backend,
    model: &str,
    route: Route,
) -> Result<Option<Duration>, RequestError> {
    match backend {
        Backend::Ollama(client) => {
            let reply = client.load(model, None).await?;
            Ok(Some(reply.elapsed))
        }
        Backend::OpenAi(_) => {
            let mut request = GenerationRequest::new(model, "Hello", 2);
            request.route = route;
            backend.generate(&request).await.map(|_| None)
        }
    }
}

/// Warmup then measurement of one model, prompt and concurrency level. The flag is true when
/// Ctrl-C interrupted it.
#[allow(clippy::too_many_arguments)]
async fn measure_cell(
    target: &Target,
    options: &TpsOptions,
    ctx: &Ctx,
    progress: &Progress,
    model: &str,
    prompt: &Prompt,
    level: u32,
    time_scale: f64,
) -> (PromptResult, bool, Option<RequestError>) {
    let mut request = GenerationRequest::new(model, prompt.text.clone(), options.generation_tokens);
    request.route = options.route;
    let reload_threshold = RELOAD_THRESHOLD.mul_f64(time_scale);
    let requested = options.generation_tokens;
    let label = format!("{model} {} c={level}", prompt.name);

    // An error that every further request of this model would repeat (model not found, not
    // authorised) stops the model's requests at once.
    let stop = ctx.cancel.child_token();
    let mut fatal: Option<RequestError> = None;
    let mut watch = |outcome: &Result<GenerationRecord, RequestError>| {
        progress.observe(outcome);
        if let Err(err) = outcome {
            if fatal.is_none() && is_fatal_for_model(err) {
                fatal = Some(err.clone());
                stop.cancel();
            }
        }
    };
    progress.set_context(&format!("{label} warmup"));
    let warmup = engine::collect(
        Plan::new(
            options.warmup_runs as usize * level as usize,
            level as usize,
        ),
        &stop,
        |_| target.backend.generate(&request),
        |_, outcome| watch(outcome),
    )
    .await;
    let warmup_samples: Vec<Sample> = warmup
        .outputs
        .iter()
        .map(|(index, outcome)| to_sample(*index, outcome, requested, reload_threshold))
        .collect();

    let mut cell = PromptResult {
        prompt_length: prompt.name.clone(),
        partial: false,
        prompt_characters: prompt.text.chars().count(),
        statistics: Statistics::default(),
        concurrent_requests: level,
        prompt_tokens: None,
        metrics: LatencyMetrics::default(),
        aggregate_tokens_per_second: None,
        wall_seconds: 0.0,
        requests: RequestCounts::default(),
        client_server_difference_percent: None,
        client_server_disagreement: false,
        stopped_early: 0,
        reloads_flagged: 0,
        outliers: Vec::new(),
        samples: Vec::new(),
        warmup: warmup_samples,
    };
    if warmup.report.interrupted {
        cell.partial = ctx.cancel.is_cancelled();
        return (cell, ctx.cancel.is_cancelled(), fatal);
    }

    progress.set_context(&label);
    let batch = engine::collect(
        Plan::new(
            options.measurement_runs as usize * level as usize,
            level as usize,
        ),
        &stop,
        |_| target.backend.generate(&request),
        |_, outcome| watch(outcome),
    )
    .await;
    let samples: Vec<Sample> = batch
        .outputs
        .iter()
        .map(|(index, outcome)| to_sample(*index, outcome, requested, reload_threshold))
        .collect();
    let records: Vec<&GenerationRecord> = batch
        .outputs
        .iter()
        .filter_map(|(_, outcome)| outcome.as_ref().ok())
        .collect();
    let errors: Vec<&RequestError> = batch
        .outputs
        .iter()
        .filter_map(|(_, outcome)| outcome.as_ref().err())
        .collect();
    summarize_cell(&mut cell, samples, &records, &errors, batch.report.wall);
    if ctx.cancel.is_cancelled() {
        cell.partial = true;
        cell.statistics.stability = None;
    }
    progress.cell_done(&cell, &label);
    (cell, ctx.cancel.is_cancelled(), fatal)
}

/// Errors that every further request for the model would repeat.
fn is_fatal_for_model(err: &RequestError) -> bool {
    matches!(
        err,
        RequestError::Status {
            status: 401 | 403 | 404,
            ..
        }
    )
}

fn say_model_skipped(model: &str, err: &RequestError) {
    crate::outln!(
        "❌ {model}: {err} ({}); its remaining requests were not sent",
        err.hint()
    );
}

fn to_sample(
    index: usize,
    outcome: &Result<GenerationRecord, RequestError>,
    requested: u32,
    reload_threshold: Duration,
) -> Sample {
    match outcome {
        Ok(record) => {
            let server = record.server_tokens_per_second();
            let client = record.client_tokens_per_second();
            let load = record.server.load_duration_ns.map(Duration::from_nanos);
            Sample {
                run: index + 1,
                succeeded: true,
                tokens_per_second: server.or(client).map(round2),
                server_tokens_per_second: server.map(round2),
                client_tokens_per_second: client.map(round2),
                time_to_first_token_seconds: record.ttft().map(|d| round6(d.as_secs_f64())),
                time_per_output_token_seconds: record.tpot().map(|d| round6(d.as_secs_f64())),
                end_to_end_seconds: Some(round6(record.e2e().as_secs_f64())),
                duration_seconds: Some(round6(record.total.as_secs_f64())),
                prompt_eval_tokens_per_second: record.prompt_eval_tokens_per_second().map(round2),
                output_tokens: Some(record.output_tokens),
                prompt_tokens: record.prompt_tokens,
                token_count_source: record.token_count_source.map(|source| {
                    match source {
                        crate::backend::TokenCountSource::Server => "server",
                        crate::backend::TokenCountSource::ContentChunks => "content-chunks",
                    }
                    .to_string()
                }),
                done_reason: record.done_reason.clone(),
                stopped_early: record.stopped_early(requested),
                load_duration_seconds: load.map(|d| round6(d.as_secs_f64())),
                reload_suspected: load.is_some_and(|d| d > reload_threshold),
                error: None,
            }
        }
        Err(err) => Sample {
            run: index + 1,
            error: Some(ErrorRecord::from_request("generate", err)),
            ..Sample::default()
        },
    }
}

fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

fn summary_of(values: impl IntoIterator<Item = f64>) -> Option<Summary> {
    let values: Vec<f64> = values.into_iter().collect();
    stats::summarize(&values)
}

fn summarize_cell(
    cell: &mut PromptResult,
    samples: Vec<Sample>,
    records: &[&GenerationRecord],
    errors: &[&RequestError],
    wall: Duration,
) {
    let tps: Vec<f64> = samples.iter().filter_map(|s| s.tokens_per_second).collect();
    let durations: Vec<f64> = samples.iter().filter_map(|s| s.duration_seconds).collect();
    let summary = stats::summarize(&tps);
    cell.statistics = Statistics {
        average_tokens_per_second: summary.map(|s| round2(s.mean)),
        min_tokens_per_second: summary.map(|s| round2(s.min)),
        max_tokens_per_second: summary.map(|s| round2(s.max)),
        std_dev_tokens_per_second: summary.map(|s| round2(s.std_dev)),
        average_duration_seconds: stats::mean(&durations).map(round2),
        sample_size: tps.len(),
        median_tokens_per_second: summary.map(|s| round2(s.median)),
        p90_tokens_per_second: summary.map(|s| round2(s.p90)),
        p95_tokens_per_second: summary.map(|s| round2(s.p95)),
        p99_tokens_per_second: summary.map(|s| round2(s.p99)),
        coefficient_of_variation_percent: summary.map(|s| round2(s.cv * 100.0)),
        stability: summary.map(|s| Stability::from_cv(s.cv)),
    };
    cell.metrics = LatencyMetrics {
        server_tokens_per_second: summary_of(
            samples.iter().filter_map(|s| s.server_tokens_per_second),
        ),
        client_tokens_per_second: summary_of(
            samples.iter().filter_map(|s| s.client_tokens_per_second),
        ),
        time_to_first_token_seconds: summary_of(
            records
                .iter()
                .filter_map(|r| r.ttft())
                .map(|d| d.as_secs_f64()),
        ),
        time_per_output_token_seconds: summary_of(
            records
                .iter()
                .filter_map(|r| r.tpot())
                .map(|d| d.as_secs_f64()),
        ),
        inter_token_latency_seconds: summary_of(
            records
                .iter()
                .flat_map(|r| r.itls())
                .map(|d| d.as_secs_f64()),
        ),
        end_to_end_seconds: summary_of(records.iter().map(|r| r.e2e().as_secs_f64())),
        prompt_eval_tokens_per_second: summary_of(
            records
                .iter()
                .filter_map(|r| r.prompt_eval_tokens_per_second()),
        ),
    };
    let mut prompt_tokens: Vec<u64> = records.iter().filter_map(|r| r.prompt_tokens).collect();
    prompt_tokens.sort_unstable();
    cell.prompt_tokens = prompt_tokens.get(prompt_tokens.len() / 2).copied();
    let output_tokens: u64 = records.iter().map(|r| r.output_tokens).sum();
    let wall_seconds = wall.as_secs_f64();
    cell.wall_seconds = round6(wall_seconds);
    cell.aggregate_tokens_per_second = (wall_seconds > 0.0 && output_tokens > 0)
        .then(|| round2(output_tokens as f64 / wall_seconds));
    if let (Some(server), Some(client)) = (
        &cell.metrics.server_tokens_per_second,
        &cell.metrics.client_tokens_per_second,
    ) {
        if server.mean > 0.0 {
            let difference = (client.mean - server.mean) / server.mean * 100.0;
            cell.client_server_difference_percent = Some(round2(difference));
            cell.client_server_disagreement = difference.abs() > DISAGREEMENT_PERCENT;
        }
    }
    let mut failures_by_kind = BTreeMap::new();
    let mut failure_examples: Vec<ErrorRecord> = Vec::new();
    for err in errors {
        *failures_by_kind.entry(err.kind().to_string()).or_insert(0) += 1;
        if !failure_examples.iter().any(|e| e.kind == err.kind()) {
            failure_examples.push(ErrorRecord::from_request("generate", err));
        }
    }
    let attempted = samples.len();
    cell.requests = RequestCounts {
        attempted,
        succeeded: records.len(),
        failed: errors.len(),
        success_rate: success_rate(records.len(), attempted),
        failures_by_kind,
        failure_examples,
    };
    cell.stopped_early = samples.iter().filter(|s| s.stopped_early).count();
    cell.reloads_flagged = samples.iter().filter(|s| s.reload_suspected).count();
    let indexed: Vec<(usize, f64)> = samples
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.tokens_per_second.map(|v| (i, v)))
        .collect();
    let values: Vec<f64> = indexed.iter().map(|(_, v)| *v).collect();
    cell.outliers = stats::outliers(&values)
        .into_iter()
        .map(|i| indexed[i].0)
        .collect();
    cell.samples = samples;
}

fn success_rate(succeeded: usize, attempted: usize) -> f64 {
    if attempted == 0 {
        100.0
    } else {
        round2(100.0 * succeeded as f64 / attempted as f64)
    }
}

/// The model's primary-level cells become its PromptResults, with the prompt-length impact.
fn finish_model(model_result: &mut ModelResult, cells: &[PromptResult], options: &TpsOptions) {
    let primary = options.concurrency_levels[0];
    model_result.prompt_results = cells
        .iter()
        .filter(|c| c.concurrent_requests == primary)
        .cloned()
        .collect();
    let base = model_result
        .prompt_results
        .first()
        .and_then(|c| c.statistics.average_tokens_per_second);
    model_result.prompt_length_impact = model_result
        .prompt_results
        .iter()
        .enumerate()
        .map(|(index, cell)| {
            let average = cell.statistics.average_tokens_per_second;
            let change = match (base, average) {
                (Some(base), Some(value)) if base > 0.0 && index > 0 => {
                    Some(round2((value - base) / base * 100.0))
                }
                _ => None,
            };
            PromptLengthImpact {
                prompt_length: cell.prompt_length.clone(),
                average_tokens_per_second: average,
                change_percent: change,
                assessment: impact_assessment(index, change),
            }
        })
        .collect();
}

fn impact_assessment(index: usize, change: Option<f64>) -> String {
    match (index, change) {
        (0, _) => "baseline".into(),
        (_, None) => "not measured".into(),
        (_, Some(c)) if c > -10.0 => "minimal impact (under 10%)".into(),
        (_, Some(c)) if c >= -20.0 => {
            "10-20% lower: expected for longer context, not a problem".into()
        }
        (_, Some(_)) => "more than 20% lower: beyond the 10-20% the reference expects".into(),
    }
}

/// Rebuilds the concurrency section from every cell measured so far. The single-stream
/// throughput is the aggregate of the same model and prompt at concurrency 1, so that both
/// sides of the efficiency count prompt processing and gaps the same way.
fn fill_concurrency(
    result: &mut TpsResult,
    cells: &[(String, PromptResult)],
    options: &TpsOptions,
) {
    let measured_levels = options.levels_to_measure();
    let only_single = measured_levels.len() == 1 && measured_levels[0] == 1;
    if only_single {
        result.concurrency.clear();
        return;
    }
    result.concurrency = cells
        .iter()
        .map(|(model, cell)| {
            let single = cells
                .iter()
                .find(|(m, c)| {
                    m == model
                        && c.prompt_length == cell.prompt_length
                        && c.concurrent_requests == 1
                })
                .and_then(|(_, c)| c.aggregate_tokens_per_second);
            let efficiency = match (cell.aggregate_tokens_per_second, single) {
                (Some(aggregate), Some(single)) if single > 0.0 => Some(round2(
                    100.0 * aggregate / (f64::from(cell.concurrent_requests) * single),
                )),
                _ => None,
            };
            ConcurrencyResult {
                model: model.clone(),
                prompt_length: cell.prompt_length.clone(),
                concurrent_requests: cell.concurrent_requests,
                aggregate_tokens_per_second: cell.aggregate_tokens_per_second,
                per_request_tokens_per_second: cell.statistics.average_tokens_per_second,
                single_stream_tokens_per_second: single,
                efficiency_percent: efficiency,
                assessment: concurrency_assessment(cell.concurrent_requests, efficiency),
                success_rate: cell.requests.success_rate,
                time_to_first_token_seconds: cell.metrics.time_to_first_token_seconds,
            }
        })
        .collect();
    result.concurrency.sort_by(|a, b| {
        (&a.model, &a.prompt_length, a.concurrent_requests).cmp(&(
            &b.model,
            &b.prompt_length,
            b.concurrent_requests,
        ))
    });
}

/// The reference's reading of concurrent scaling.
fn concurrency_assessment(level: u32, efficiency: Option<f64>) -> String {
    let Some(efficiency) = efficiency else {
        return "not measured".into();
    };
    if level == 1 {
        return "single stream (baseline)".into();
    }
    let no_benefit = 100.0 / f64::from(level) * 1.2;
    if efficiency >= 90.0 {
        "linear scaling: good".into()
    } else if efficiency >= 60.0 {
        "saturating: partial concurrent benefit".into()
    } else if efficiency <= no_benefit {
        "zero concurrent benefit: single GPU queue, no parallelism (check OLLAMA_NUM_PARALLEL)"
            .into()
    } else {
        "poor concurrent scaling (<60% efficiency): GPU or memory bottleneck".into()
    }
}

fn fill_summary(result: &mut TpsResult) {
    let cells: Vec<&PromptResult> = result
        .model_results
        .iter()
        .flat_map(|m| &m.prompt_results)
        .collect();
    let tps: Vec<f64> = cells
        .iter()
        .flat_map(|c| &c.samples)
        .filter_map(|s| s.tokens_per_second)
        .collect();
    let summary = stats::summarize(&tps);
    let attempted: usize = cells.iter().map(|c| c.requests.attempted).sum();
    let succeeded: usize = cells.iter().map(|c| c.requests.succeeded).sum();
    let ttfts: Vec<f64> = cells
        .iter()
        .flat_map(|c| &c.samples)
        .filter_map(|s| s.time_to_first_token_seconds)
        .collect();
    result.summary = TpsSummary {
        overall_average_tokens_per_second: summary.map(|s| round2(s.mean)),
        overall_min_tokens_per_second: summary.map(|s| round2(s.min)),
        overall_max_tokens_per_second: summary.map(|s| round2(s.max)),
        total_tests: cells.len(),
        total_samples: tps.len(),
        total_requests: attempted,
        failed_requests: attempted - succeeded,
        success_rate: success_rate(succeeded, attempted),
        overall_median_time_to_first_token_seconds: stats::summarize(&ttfts)
            .map(|s| round6(s.median)),
    };
}

/// Live progress on a terminal; one plain line per cell otherwise.
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(interactive: bool, planned: u64) -> Self {
        let bar = interactive.then(|| {
            let bar = ProgressBar::new(planned);
            bar.set_style(
                ProgressStyle::with_template("{bar:25} {pos}/{len} requests  {prefix}  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { bar }
    }

    fn set_context(&self, context: &str) {
        if let Some(bar) = &self.bar {
            bar.set_prefix(context.to_string());
        }
    }

    fn observe(&self, outcome: &Result<GenerationRecord, RequestError>) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            match outcome {
                Ok(record) => {
                    if let Some(tps) = record
                        .server_tokens_per_second()
                        .or_else(|| record.client_tokens_per_second())
                    {
                        bar.set_message(format!("{tps:.1} tok/s"));
                    }
                }
                Err(err) => bar.set_message(format!("failed: {}", err.kind())),
            }
        }
    }

    fn cell_done(&self, cell: &PromptResult, label: &str) {
        let line = format!(
            "{label}: {} tok/s (sd {}, n={}), TTFT p50 {}, success {}%",
            fmt_opt(cell.statistics.average_tokens_per_second, 1),
            fmt_opt(cell.statistics.std_dev_tokens_per_second, 2),
            cell.statistics.sample_size,
            cell.metrics
                .time_to_first_token_seconds
                .map_or("-".into(), |s| format!("{:.0} ms", s.median * 1000.0)),
            cell.requests.success_rate
        );
        match &self.bar {
            Some(bar) => bar.println(line),
            None => crate::outln!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn fmt_opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".into(), |v| format!("{v:.decimals$}"))
}

fn print_summary(result: &TpsResult, options: &TpsOptions) {
    crate::outln!();
    crate::outln!(
        "Tokens per second ({} generation tokens, {} measured runs):",
        options.generation_tokens,
        options.measurement_runs
    );
    if let Some(note) = result.provenance.simulated_note() {
        crate::outln!("{note}");
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "Model",
        "Prompt",
        "Conc.",
        "tok/s",
        "StdDev",
        "CV %",
        "Stability",
        "TTFT p50 ms",
        "TPOT ms",
        "ITL p99 ms",
        "Success %",
    ]);
    for model in &result.model_results {
        for cell in &model.prompt_results {
            table.add_row(vec![
                model.model.clone(),
                cell.prompt_length.clone(),
                cell.concurrent_requests.to_string(),
                fmt_opt(cell.statistics.average_tokens_per_second, 1),
                fmt_opt(cell.statistics.std_dev_tokens_per_second, 2),
                fmt_opt(cell.statistics.coefficient_of_variation_percent, 1),
                cell.statistics
                    .stability
                    .map_or("-".into(), |s| s.label().to_string()),
                fmt_opt(
                    cell.metrics
                        .time_to_first_token_seconds
                        .map(|s| s.median * 1000.0),
                    0,
                ),
                fmt_opt(
                    cell.metrics
                        .time_per_output_token_seconds
                        .map(|s| s.mean * 1000.0),
                    1,
                ),
                fmt_opt(
                    cell.metrics
                        .inter_token_latency_seconds
                        .map(|s| s.p99 * 1000.0),
                    1,
                ),
                format!("{:.0}", cell.requests.success_rate),
            ]);
        }
    }
    crate::outln!("{table}");
    let s = &result.summary;
    crate::outln!(
        "Overall: {} tok/s average (min {}, max {}), {} tests, {} samples, success rate {}%",
        fmt_opt(s.overall_average_tokens_per_second, 1),
        fmt_opt(s.overall_min_tokens_per_second, 1),
        fmt_opt(s.overall_max_tokens_per_second, 1),
        s.total_tests,
        s.total_samples,
        s.success_rate
    );
    for model in &result.model_results {
        for impact in model.prompt_length_impact.iter().skip(1) {
            crate::outln!(
                "  {} {}: {}% vs {} ({})",
                model.model,
                impact.prompt_length,
                fmt_opt(impact.change_percent, 1),
                model.prompt_length_impact[0].prompt_length,
                impact.assessment
            );
        }
    }
    let written = crate::results::write::written_path(&options.output);
    if result.status == RunStatus::Interrupted {
        crate::outln!(
            "Interrupted: partial results written to {}",
            written.display()
        );
    } else {
        crate::outln!("Results written to {}", written.display());
    }
}

//! `ollabench tokens-per-second` (the reference's Benchmark 2): steady-state throughput and
//! latency by model, prompt length and concurrency. Each model is loaded before measuring so
//! no sample contains a load; warmup requests are recorded but kept out of the statistics;
//! failed requests are counted per cell with their cause and kept out of tok/s.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use crate::backend::{Backend, GenerationRecord, GenerationRequest, RequestError, Route};
use crate::engine::{self, Plan};
use crate::exit::{Ctx, Outcome};
use crate::metrics::RequestLatencies;
use crate::output::events::{Event, Events};
use crate::output::export::{number, ConsoleOptions, Rows};
use crate::prompts::Prompt;
use crate::results::tokens_per_second::{
    ConcurrencyResult, LatencyMetrics, ModelResult, PromptLengthImpact, PromptResult,
    RequestCounts, Sample, Statistics, TpsConfiguration, TpsResult, TpsSummary,
};
use crate::results::{round2, timestamp_now, write_json_atomic, ErrorRecord, RunStatus};
use crate::scenario::runner::{self, Scenario, Session};
use crate::scenario::target::{Target, TargetOptions};
use crate::scenario::{request_event, route_name};
use crate::workload::{calibrate, CellRequests, RequestNumbers};

pub use crate::config::TpsOptions;
use crate::stats::{self, Stability, Summary};

/// Client and server tok/s further apart than this (percent) are flagged.
const DISAGREEMENT_PERCENT: f64 = 5.0;
/// A sample whose server `load_duration` exceeds this (times the simulator's time scale)
/// suggests the model was reloaded mid-measurement.
const RELOAD_THRESHOLD: Duration = Duration::from_millis(250);
/// Connects, measures, writes the result file and prints the summary table.
pub async fn run(
    options: TpsOptions,
    ctx: &Ctx,
    console: ConsoleOptions,
) -> anyhow::Result<Outcome> {
    runner::run(&options, ctx, console).await
}

impl Scenario for TpsOptions {
    type Output = TpsResult;

    fn output(&self) -> &Path {
        &self.output
    }

    fn target(&self) -> &TargetOptions {
        &self.target
    }

    async fn measure(&self, session: Session<'_>) -> anyhow::Result<TpsResult> {
        measure(session, self).await
    }

    fn status(output: &TpsResult) -> RunStatus {
        output.status
    }

    fn print(&self, output: &TpsResult, written: &Path) {
        print_summary(output, self, written);
    }

    fn rows(&self, output: &TpsResult) -> Rows {
        let mut rows = Vec::new();
        for model in &output.model_results {
            for cell in &model.prompt_results {
                let m = &cell.metrics;
                rows.push(vec![
                    model.model.clone(),
                    cell.prompt_length.clone(),
                    cell.concurrent_requests.to_string(),
                    number(cell.statistics.average_tokens_per_second, 2),
                    number(cell.statistics.std_dev_tokens_per_second, 2),
                    cell.statistics.sample_size.to_string(),
                    number(m.time_to_first_token_seconds.map(|s| s.median * 1000.0), 1),
                    number(m.time_per_output_token_seconds.map(|s| s.mean * 1000.0), 2),
                    number(m.inter_token_latency_seconds.map(|s| s.p99 * 1000.0), 2),
                    number(m.end_to_end_seconds.map(|s| s.mean * 1000.0), 1),
                    format!("{:.1}", cell.requests.success_rate),
                ]);
            }
        }
        Rows {
            headers: vec![
                "Model",
                "Prompt",
                "Concurrency",
                "TokensPerSecond",
                "StdDev",
                "Samples",
                "TtftP50Ms",
                "TpotMs",
                "ItlP99Ms",
                "E2eMeanMs",
                "SuccessRate",
            ],
            rows,
        }
    }
}

/// Measures on a connected target, writing the file after every cell.
async fn measure(session: Session<'_>, options: &TpsOptions) -> anyhow::Result<TpsResult> {
    let Session {
        target,
        ctx,
        provenance,
        events,
    } = session;
    let api = provenance.api.clone();
    let num_ctx = options.num_ctx();
    let sizes = options.input_tokens();
    let numbers = RequestNumbers::default();
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
            route: route_name(options.route, &api).into(),
            tokens_per_second_source: "server".into(),
            input_tokens: options.input_tokens(),
            input_tokens_stddev: options.workload.input_tokens_stddev,
            output_forced: options.workload.force_output,
            prefix: options
                .workload
                .prefix
                .name(!options.input_tokens().is_empty()),
            num_ctx: num_ctx.filter(|_| api == "ollama"),
            dataset: options.workload.dataset_path.clone(),
            think: options
                .think
                .map(|think| crate::config::Think::name(think).into()),
        },
        summary: TpsSummary::default(),
        model_results: Vec::new(),
        concurrency: Vec::new(),
        status: RunStatus::Success,
        errors: Vec::new(),
        provenance,
        calibrations: Vec::new(),
        skipped_dataset_lines: options.workload.skipped_dataset_lines.clone(),
    };
    if options.workload.sampling.is_set() {
        result.provenance.sampling = Some(options.workload.sampling);
    }
    events.emit(&Event::Planned(options.planned_requests()));
    let mut interrupted = false;
    let mut all_cells: Vec<(String, PromptResult)> = Vec::new();
    let mut snapshot_failed = false;
    'models: for model in &options.models {
        events.emit(&Event::Phase(&format!("{model}: loading")));
        let Some(preload) = crate::scenario::cancellable(
            ctx,
            preload(&target.backend, model, options.route, num_ctx),
        )
        .await
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
                if err.is_fatal_for_model() {
                    say_model_skipped(model, err);
                    result.model_results.push(ModelResult {
                        model: model.clone(),
                        ..ModelResult::default()
                    });
                    continue 'models;
                }
                None
            }
        };
        if let Some(client) = target.backend.as_ollama() {
            crate::scenario::record_model_provenance(client, &mut result.provenance, model).await;
        }
        let calibrated = if sizes.is_empty() {
            None
        } else {
            events.emit(&Event::Phase(&format!("{model}: calibrating prompt sizes")));
            let calibration = calibrate(
                &target.backend,
                model,
                options.route,
                &sizes,
                num_ctx.filter(|_| target.backend.as_ollama().is_some()),
                &numbers,
            );
            match crate::scenario::cancellable(ctx, calibration).await {
                None => {
                    interrupted = true;
                    break 'models;
                }
                Some(Ok(calibrated)) => {
                    say_calibration(&calibrated.record);
                    result.calibrations.push(calibrated.record.clone());
                    Some(calibrated)
                }
                Some(Err(err)) => {
                    // The sizes stay estimates; the cells say how far off they came out.
                    result.errors.push(ErrorRecord::from_request(
                        &format!("calibrate {model}"),
                        &err,
                    ));
                    None
                }
            }
        };
        let mut model_result = ModelResult {
            model: model.clone(),
            preload_seconds,
            ..ModelResult::default()
        };
        let mut cells: Vec<PromptResult> = Vec::new();
        'cells: for &level in &options.levels_to_measure() {
            for prompt in &options.prompts {
                let requests = CellRequests::new(
                    model,
                    prompt,
                    options.generation_tokens,
                    options.route,
                    &options.workload,
                    calibrated.as_ref(),
                    num_ctx.filter(|_| target.backend.as_ollama().is_some()),
                )
                .with_think(options.think);
                let (cell, cell_interrupted, fatal) = measure_cell(
                    target,
                    options,
                    ctx,
                    events,
                    (model, prompt, &requests, &numbers),
                    level,
                    time_scale,
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
    if !options.keep_samples {
        // Everything above needed them; the file keeps summaries and histograms.
        for cell in result
            .model_results
            .iter_mut()
            .flat_map(|m| &mut m.prompt_results)
        {
            cell.samples.clear();
            cell.warmup.clear();
        }
    }
    Ok(result)
}

/// Loads the model before measuring (Ollama: a load-only request; OpenAI servers load on
/// their own and have no load request). `Ok(None)` when the API has no load request.
async fn preload(
    backend: &Backend,
    model: &str,
    route: Route,
    num_ctx: Option<u64>,
) -> Result<Option<Duration>, RequestError> {
    match backend {
        Backend::Ollama(client) => {
            let reply = client.load_with_context(model, None, num_ctx).await?;
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
async fn measure_cell(
    target: &Target,
    options: &TpsOptions,
    ctx: &Ctx,
    events: &Events,
    (model, prompt, requests, numbers): (&str, &Prompt, &CellRequests, &RequestNumbers),
    level: u32,
    time_scale: f64,
) -> (PromptResult, bool, Option<RequestError>) {
    let reload_threshold = RELOAD_THRESHOLD.mul_f64(time_scale);
    let label = format!("{model} {} c={level}", prompt.name);

    // An error that every further request of this model would repeat (model not found, not
    // authorised) stops the model's requests at once.
    let stop = ctx.cancel.child_token();
    let mut fatal: Option<RequestError> = None;
    let mut watch = |outcome: &Result<GenerationRecord, RequestError>| {
        events.emit(&request_event(outcome));
        if let Err(err) = outcome {
            if fatal.is_none() && err.is_fatal_for_model() {
                fatal = Some(err.clone());
                stop.cancel();
            }
        }
    };
    // Warmup and measurement are the same batch of `runs` rounds at `level` in flight. Every
    // request has its own number in the run (its tag, its size, its dataset line).
    let samples_of = |first: u64, outputs: &[(usize, Result<GenerationRecord, RequestError>)]| {
        outputs
            .iter()
            .map(|(index, outcome)| {
                let number = first + *index as u64;
                let mut sample = to_sample(
                    *index,
                    outcome,
                    requests.max_tokens(number),
                    reload_threshold,
                );
                sample.requested_prompt_tokens = requests.expected_prompt_tokens(number);
                sample
            })
            .collect::<Vec<Sample>>()
    };
    let batch_size = |runs: u32| runs as usize * level as usize;
    let plan = |runs: u32| Plan::new(batch_size(runs), level as usize);
    let send = |first: u64| {
        move |ticket: engine::Ticket| {
            let request = requests.request(first + ticket.index as u64);
            async move { target.backend.generate(&request).await }
        }
    };
    events.emit(&Event::Phase(&format!("{label} warmup")));
    let first = numbers.reserve(batch_size(options.warmup_runs) as u64);
    let warmup = engine::collect(
        plan(options.warmup_runs),
        &stop,
        send(first),
        |_, outcome| watch(outcome),
    )
    .await;
    let warmup_samples = samples_of(first, &warmup.outputs);

    let mut cell = PromptResult {
        prompt_length: prompt.name.clone(),
        partial: false,
        histograms: None,
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
        requested_input_tokens: prompt.input_tokens(),
        truncated_requests: 0,
        thinking_tokens: None,
        reloads_flagged: 0,
        outliers: Vec::new(),
        samples: Vec::new(),
        warmup: warmup_samples,
    };
    if warmup.report.interrupted {
        cell.partial = ctx.cancel.is_cancelled();
        return (cell, ctx.cancel.is_cancelled(), fatal);
    }

    events.emit(&Event::Phase(&label));
    let first = numbers.reserve(batch_size(options.measurement_runs) as u64);
    let batch = engine::collect(
        plan(options.measurement_runs),
        &stop,
        send(first),
        |_, outcome| watch(outcome),
    )
    .await;
    let samples = samples_of(first, &batch.outputs);
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
    events.emit(&Event::CellFinished {
        line: &cell_line(&cell, &label),
    });
    (cell, ctx.cancel.is_cancelled(), fatal)
}

/// One line per size: what the server counted for the prompt built for it.
pub(crate) fn say_calibration(calibration: &crate::results::tokens_per_second::Calibration) {
    crate::outln!(
        "  {}: {:.3} tokens a word, {:.1} tokens of overhead ({})",
        calibration.model,
        calibration.tokens_per_word,
        calibration.overhead_tokens,
        calibration.source
    );
    for fit in &calibration.sizes {
        let counted = fit
            .prompt_tokens
            .map_or("not counted".to_string(), |c| format!("{c} counted"));
        let error = fit
            .error_percent
            .map_or(String::new(), |e| format!(" ({e:+.2}%)"));
        let mark = if fit.within_tolerance { "✓" } else { "⚠" };
        crate::outln!(
            "    {mark} {} tokens asked: {counted}{error}{}",
            fit.requested_tokens,
            fit.note
                .as_deref()
                .map_or(String::new(), |n| format!(": {n}"))
        );
    }
    if let Some(note) = &calibration.note {
        crate::outln!("    ⚠ {note}");
    }
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
                thinking_tokens: record.thinking(),
                prompt_tokens: record.prompt_tokens,
                requested_prompt_tokens: None,
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
    let mut histograms = RequestLatencies::new();
    for record in records {
        histograms.record_request(record.ttft(), record.tpot(), record.itls(), record.e2e());
    }
    cell.histograms = (!records.is_empty()).then_some(histograms);
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
    cell.truncated_requests = samples.iter().filter(|s| s.truncated()).count();
    let thinking: u64 = records.iter().map(|r| r.thinking_tokens).sum();
    cell.thinking_tokens = (thinking > 0).then_some(thinking);
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
    model_result.category_tokens = cells
        .iter()
        .filter(|c| crate::prompts::PromptLength::parse(&c.prompt_length).is_some())
        .filter_map(|c| Some((c.prompt_length.clone(), c.prompt_tokens?)))
        .collect();
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

/// The reference's reading of a longer prompt's tok/s against the shortest (10-20% lower is
/// expected), with the thresholds stated in the words. A change is "minimal" only when it is
/// within 10% either way.
fn impact_assessment(index: usize, change: Option<f64>) -> String {
    match (index, change) {
        (0, _) => "baseline".into(),
        (_, None) => "not measured".into(),
        (_, Some(c)) if c.abs() < 10.0 => "minimal impact (within 10%)".into(),
        (_, Some(c)) if c >= 10.0 => {
            "10% or more faster than the shorter prompt: unusual, check for prompt caching or \
             noise"
                .into()
        }
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

/// One line per finished cell.
fn cell_line(cell: &PromptResult, label: &str) -> String {
    let thinking = cell
        .thinking_tokens
        .map_or(String::new(), |n| format!(", {n} thinking tokens"));
    format!(
        "{label}: {} tok/s (sd {}, n={}){thinking}, TTFT p50 {}, success {}%",
        fmt_opt(cell.statistics.average_tokens_per_second, 1),
        fmt_opt(cell.statistics.std_dev_tokens_per_second, 2),
        cell.statistics.sample_size,
        cell.metrics
            .time_to_first_token_seconds
            .map_or("-".into(), |s| format!("{:.0} ms", s.median * 1000.0)),
        cell.requests.success_rate
    )
}

fn fmt_opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".into(), |v| format!("{v:.decimals$}"))
}

fn print_summary(result: &TpsResult, options: &TpsOptions, written: &Path) {
    crate::outln!();
    crate::outln!(
        "Tokens per second ({} generation tokens, {}):",
        options.generation_tokens,
        plural(
            options.measurement_runs as usize,
            "measured run",
            "measured runs"
        )
    );
    if let Some(note) = result.provenance.simulated_note() {
        crate::outln!("{note}");
    }
    let mut table = console_table();
    table.set_header(vec![
        "Model",
        "Prompt",
        "Conc.",
        "tok/s",
        "CV %",
        "Stability",
        "Prompt eval tok/s",
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
                fmt_opt(cell.statistics.coefficient_of_variation_percent, 1),
                match (cell.partial, cell.statistics.stability) {
                    (true, _) => "partial".into(),
                    (false, Some(s)) => s.label().to_string(),
                    (false, None) => "-".into(),
                },
                fmt_opt(
                    cell.metrics.prompt_eval_tokens_per_second.map(|s| s.mean),
                    0,
                ),
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
    print_depth(result);
    print_concurrency(result, options);
    let s = &result.summary;
    crate::outln!(
        "Overall: {} tok/s average (min {}, max {}), {}, {}, success rate {}%",
        fmt_opt(s.overall_average_tokens_per_second, 1),
        fmt_opt(s.overall_min_tokens_per_second, 1),
        fmt_opt(s.overall_max_tokens_per_second, 1),
        plural(s.total_tests, "test", "tests"),
        plural(s.total_samples, "sample", "samples"),
        s.success_rate
    );
    for model in &result.model_results {
        if let Some(load) = model.preload_seconds {
            crate::outln!("  {}: loaded in {load:.2} s before measuring", model.model);
        }
        for impact in model.prompt_length_impact.iter().skip(1) {
            if let Some(change) = impact.change_percent {
                crate::outln!(
                    "  {} {}: {change:+.1}% tok/s vs {} ({})",
                    model.model,
                    impact.prompt_length,
                    model.prompt_length_impact[0].prompt_length,
                    impact.assessment
                );
            }
        }
    }
    print_failures(result);
    if result.status == RunStatus::Interrupted {
        crate::outln!(
            "Interrupted: partial results written to {}",
            written.display()
        );
    } else {
        crate::outln!("Results written to {}", written.display());
    }
}

/// The context-depth sweep: prefill rate (prompt tokens / prompt-eval time) and TTFT by
/// prompt size, and every truncation or early stop the server did.
fn print_depth(result: &TpsResult) {
    let sized: Vec<(&str, &PromptResult)> = result
        .model_results
        .iter()
        .flat_map(|m| m.prompt_results.iter().map(|c| (m.model.as_str(), c)))
        .filter(|(_, c)| c.requested_input_tokens.is_some())
        .collect();
    if sized.len() > 1 {
        crate::outln!("Prefill by context depth:");
        let mut table = console_table();
        table.set_header(vec![
            "Model",
            "Asked",
            "Counted",
            "Prefill tok/s",
            "TTFT p50 ms",
            "Truncated",
        ]);
        for (model, cell) in &sized {
            table.add_row(vec![
                model.to_string(),
                cell.requested_input_tokens
                    .map_or("-".into(), |t| t.to_string()),
                cell.prompt_tokens.map_or("-".into(), |t| t.to_string()),
                fmt_opt(
                    cell.metrics.prompt_eval_tokens_per_second.map(|s| s.mean),
                    0,
                ),
                fmt_opt(
                    cell.metrics
                        .time_to_first_token_seconds
                        .map(|s| s.median * 1000.0),
                    0,
                ),
                cell.truncated_requests.to_string(),
            ]);
        }
        crate::outln!("{table}");
    }
    for model in &result.model_results {
        for cell in &model.prompt_results {
            if cell.truncated_requests > 0 {
                crate::outln!(
                    "  ⚠ {} {}: the server truncated {} of {} prompts (counted {} tokens):                      raise --num-ctx or the server's context",
                    model.model,
                    cell.prompt_length,
                    cell.truncated_requests,
                    cell.requests.attempted,
                    cell.prompt_tokens.map_or("-".into(), |t| t.to_string())
                );
            }
            if cell.stopped_early > 0 && result.configuration.output_forced {
                crate::outln!(
                    "  ⚠ {} {}: {} requests stopped before {} tokens: the server would not                      force the length",
                    model.model,
                    cell.prompt_length,
                    cell.stopped_early,
                    result.configuration.generation_tokens
                );
            }
        }
    }
}

/// A table that fits 100 columns: cells wrap instead of widening it.
fn console_table() -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_width(crate::output::WIDTH as u16);
    table
}

/// Every concurrency level with its efficiency and diagnosis, and whether the single-stream
/// baseline was added by ollabench.
fn print_concurrency(result: &TpsResult, options: &TpsOptions) {
    if result
        .concurrency
        .iter()
        .all(|c| c.concurrent_requests == 1)
    {
        return;
    }
    if !options.concurrency_levels.contains(&1) {
        crate::outln!(
            "Concurrency 1 was measured too: the single-stream baseline that efficiency needs."
        );
    }
    let mut table = console_table();
    table.set_header(vec![
        "Model",
        "Prompt",
        "Conc.",
        "Aggregate tok/s",
        "Per request tok/s",
        "Efficiency %",
        "Assessment",
    ]);
    for c in &result.concurrency {
        table.add_row(vec![
            c.model.clone(),
            c.prompt_length.clone(),
            c.concurrent_requests.to_string(),
            fmt_opt(c.aggregate_tokens_per_second, 1),
            fmt_opt(c.per_request_tokens_per_second, 1),
            fmt_opt(c.efficiency_percent, 0),
            c.assessment.clone(),
        ]);
    }
    crate::outln!("{table}");
}

/// The count and kinds of failures of every cell, with the first message of each kind.
fn print_failures(result: &TpsResult) {
    for model in &result.model_results {
        for cell in &model.prompt_results {
            if cell.requests.failed == 0 {
                continue;
            }
            let kinds: Vec<String> = cell
                .requests
                .failures_by_kind
                .iter()
                .map(|(kind, count)| format!("{count} {kind}"))
                .collect();
            crate::outln!(
                "  ❌ {} {} c={}: {} of {} failed ({})",
                model.model,
                cell.prompt_length,
                cell.concurrent_requests,
                cell.requests.failed,
                cell.requests.attempted,
                kinds.join(", ")
            );
            for example in &cell.requests.failure_examples {
                let first = format!("     first {}: ", example.kind);
                crate::outln!(
                    "{}",
                    crate::output::wrap(&first, &example.message, "       ")
                );
            }
        }
    }
}

/// `1 test`, `3 tests`.
fn plural(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_length_label_follows_its_number_at_every_boundary() {
        let label = |c: f64| impact_assessment(1, Some(c));
        assert_eq!(impact_assessment(0, Some(-50.0)), "baseline");
        assert_eq!(impact_assessment(1, None), "not measured");
        assert!(label(0.0).starts_with("minimal"));
        assert!(label(9.99).starts_with("minimal"));
        assert!(label(-9.99).starts_with("minimal"));
        assert!(label(10.0).contains("faster"), "+10% is no minimal impact");
        assert!(label(30.8).contains("faster"), "the mislabel of the issue");
        assert!(label(-10.0).starts_with("10-20% lower"));
        assert!(label(-20.0).starts_with("10-20% lower"));
        assert!(label(-20.01).starts_with("more than 20% lower"));
    }

    #[test]
    fn counts_are_worded_in_the_singular_and_the_plural() {
        assert_eq!(plural(1, "test", "tests"), "1 test");
        assert_eq!(plural(0, "test", "tests"), "0 tests");
        assert_eq!(
            plural(3, "measured run", "measured runs"),
            "3 measured runs"
        );
    }
}

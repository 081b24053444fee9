//! `ollabench load`: closed-loop concurrencies or open-loop request rates against one model,
//! step by step, with honest tails. Every latency is measured from the request's actual send
//! time and from its scheduled send time, and the schedule lag (actual - scheduled) is a
//! distribution of its own, so a client that falls behind its schedule cannot hide it.
//! Each request is folded into mergeable histograms as it finishes and then dropped: memory
//! stays flat however long a step runs (`--samples-file` streams the requests to disk).
//!
//! [`measure_step`] is the unit every load command builds on: one [`LoadStep`] (a closed-loop
//! concurrency or an open-loop rate, its length and warmup) in, one [`StepResult`] out, with
//! its SLO outcome. `load` measures the steps the user listed (or `--sweep auto`'s); `capacity`
//! searches over them.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use comfy_table::{presets::UTF8_HORIZONTAL_ONLY, Table};
use serde::Serialize;
use tokio::time::Instant;

use crate::analysis::slo::{Metric, RequestValues, SloTally};
use crate::backend::{Backend, GenerationRecord, RequestError};
use crate::engine::{self, Plan, Stop, Ticket};
use crate::exit::{Ctx, Outcome, UsageError};
use crate::metrics::{LatencyHistogram, RequestLatencies};
use crate::output::events::{Event, Events};
use crate::output::export::{number, ConsoleOptions, Rows};
use crate::results::load::{
    Latencies, LoadConfiguration, LoadResult, MsSummary, ScheduledLatencies, StepHistograms,
    StepResult, Throughput,
};
use crate::results::tokens_per_second::RequestCounts;
use crate::results::{round2, timestamp_now, ErrorRecord, RunStatus};
use crate::scenario::runner::{self, Scenario, Session};
use crate::scenario::target::{Target, TargetOptions};
use crate::scenario::{request_event, route_name};
use crate::workload::CellRequests;

pub use crate::config::load::{
    sweep_rates, ArrivalKind, LoadOptions, LoadShape, LoadStep, RunLength, StepLoad, StepRole,
};

/// Connects, measures every step, writes the result file and prints one row per step.
pub async fn run(
    options: LoadOptions,
    ctx: &Ctx,
    console: ConsoleOptions,
) -> anyhow::Result<Outcome> {
    runner::run(&options, ctx, console).await
}

impl Scenario for LoadOptions {
    type Output = LoadResult;

    fn output(&self) -> &Path {
        &self.output
    }

    fn target(&self) -> &TargetOptions {
        &self.target
    }

    async fn measure(&self, session: Session<'_>) -> anyhow::Result<LoadResult> {
        measure(session, self).await
    }

    fn status(output: &LoadResult) -> RunStatus {
        output.status
    }

    fn print(&self, output: &LoadResult, written: &Path) {
        print_summary(output, written);
    }

    fn rows(&self, output: &LoadResult) -> Rows {
        rows(output)
    }
}

/// Measures one step on a connected target: its warmup (not measured), then its requests,
/// each folded into the step's histograms as it finishes. Returns the step's throughput,
/// latencies from the actual and the scheduled send time, schedule lag, failures by kind and,
/// with `options.slo`, its SLO outcome.
///
/// The step's load is `step.load` (a closed loop of N in flight, or an open loop at a rate
/// spaced by `options.arrival` and drawn from `options.seed`), capped by
/// `options.max_concurrency`; it runs for `step.length` after `step.warmup`. Ctrl-C
/// (`ctx.cancel`) ends it at once with what finished (`partial` set). An error that every
/// further request would repeat (the model is missing, the key is refused) ends it too and is
/// returned as the error, as is a step that cannot run (a rate that is not positive, a warmup
/// given as a time with a length given as a count, or the other way round).
pub async fn measure_step(
    target: &Target,
    options: &LoadOptions,
    step: LoadStep,
    ctx: &Ctx,
    events: &Events,
) -> anyhow::Result<StepResult> {
    measure_step_with(target, options, step, ctx, events, None).await
}

/// [`measure_step`], streaming every measured request to `samples` as well.
pub async fn measure_step_with(
    target: &Target,
    options: &LoadOptions,
    step: LoadStep,
    ctx: &Ctx,
    events: &Events,
    mut samples: Option<&mut SamplesFile>,
) -> anyhow::Result<StepResult> {
    let plan = step_plan(options, &step)?;
    let requests = cell_requests(options);
    let label = step_label(&step);
    events.emit(&Event::Phase(&label));
    // An error every further request would repeat ends the step at once.
    let stop = ctx.cancel.child_token();
    let mut fatal: Option<RequestError> = None;
    let mut fold = StepFold::new(options);
    let measured_from: Cell<Option<Instant>> = Cell::new(None);
    let start = Instant::now();
    let warmup = step.warmup;
    let is_warmup = move |ticket: &Ticket| match warmup {
        None => false,
        Some(RunLength::Requests(n)) => ticket.index < n,
        Some(RunLength::Duration(d)) => ticket.scheduled.saturating_duration_since(start) < d,
    };
    let backend = &target.backend;
    let report = engine::run(
        plan,
        &stop,
        |ticket| {
            if !is_warmup(&ticket) && measured_from.get().is_none() {
                measured_from.set(Some(ticket.scheduled));
            }
            let request = requests.request(options.numbers.reserve(1));
            async move {
                let request = &request;
                let sent = Instant::now();
                (sent, backend.generate(request).await)
            }
        },
        |ticket, (sent, outcome): (Instant, Result<GenerationRecord, RequestError>)| {
            events.emit(&request_event(&outcome));
            if let Err(err) = &outcome {
                if fatal.is_none() && err.is_fatal_for_model() {
                    fatal = Some(err.clone());
                    stop.cancel();
                }
            }
            if is_warmup(&ticket) {
                return;
            }
            let measured = Measured::new(&ticket, sent);
            fold.record(&measured, &outcome);
            if let Some(samples) = samples.as_deref_mut() {
                samples.write(&measured, &outcome, start);
            }
        },
    )
    .await;
    let end = start + report.wall;
    let wall = end.saturating_duration_since(measured_from.get().unwrap_or(end));
    let mut result = fold.finish(&step, wall);
    result.peak_in_flight = report.peak_in_flight;
    result.partial = ctx.cancel.is_cancelled();
    events.emit(&Event::CellFinished {
        line: &step_line(&result, &label),
    });
    if let Some(err) = fatal {
        return Err(anyhow::anyhow!("{label}: {err} ({})", err.hint()));
    }
    Ok(result)
}

/// The engine's plan for a step, its warmup included.
fn step_plan(options: &LoadOptions, step: &LoadStep) -> anyhow::Result<Plan> {
    let stop = match (step.warmup, step.length) {
        (None, RunLength::Requests(n)) => Stop::Count(n),
        (None, RunLength::Duration(d)) => Stop::Duration(d),
        (Some(RunLength::Requests(w)), RunLength::Requests(n)) => Stop::Count(w + n),
        (Some(RunLength::Duration(w)), RunLength::Duration(d)) => Stop::Duration(w + d),
        _ => return Err(UsageError::err(WARMUP_KIND)),
    };
    let plan = match step.load {
        StepLoad::Closed { concurrency } => Plan::closed(concurrency as usize, stop),
        StepLoad::Open { rate } => {
            let schedule = options
                .arrival
                .schedule(rate, options.seed)
                .map_err(|err| UsageError::err(err.to_string()))?;
            Plan::open(schedule, stop)
        }
    };
    Ok(match options.max_concurrency {
        Some(cap) => plan.with_max_in_flight(cap as usize),
        None => plan,
    })
}

/// Why a warmup and a step length of different kinds are refused.
pub const WARMUP_KIND: &str = "--warmup must be of the same kind as the step's length: a count \
    with --requests (e.g. --warmup 10), a time with --duration (e.g. --warmup 10s)";

/// Every request of a step: the prompt (sized in tokens with `--input-tokens`), the output
/// limit (forced with `--output-tokens`), the prefix and Ollama's context.
fn cell_requests(options: &LoadOptions) -> CellRequests {
    CellRequests::new(
        &options.model,
        &options.prompt,
        options.max_tokens,
        options.route,
        &options.workload,
        options.calibrated.as_ref(),
        num_ctx(options),
    )
}

/// Ollama's `num_ctx`: `--num-ctx`, else set from `--input-tokens` (OpenAI servers ignore it).
pub fn num_ctx(options: &LoadOptions) -> Option<u64> {
    let largest = options.prompt.input_tokens().map(|size| {
        let spread = options.workload.input_tokens_stddev.unwrap_or(0.0) * 4.0;
        size + spread.ceil() as u64
    });
    options.workload.num_ctx_for(largest, options.max_tokens)
}

/// With a prompt sized in tokens, the options with the model's calibration, measured now
/// against the server and printed; the options unchanged otherwise. A failed calibration
/// is recorded in `errors` and the size stays an estimate. `None`: Ctrl-C stopped it.
/// The calibration [`calibrated`] made, as the result file records it.
pub fn recorded_calibration(
    options: &LoadOptions,
) -> Option<crate::results::tokens_per_second::Calibration> {
    options.calibrated.as_ref().map(|c| c.record.clone())
}

pub async fn calibrated(
    target: &Target,
    options: &LoadOptions,
    ctx: &Ctx,
    errors: &mut Vec<ErrorRecord>,
) -> Option<LoadOptions> {
    let mut options = options.clone();
    let Some(size) = options.prompt.input_tokens() else {
        return Some(options);
    };
    let sizes = [size];
    let calibration = crate::workload::calibrate(
        &target.backend,
        &options.model,
        options.route,
        &sizes,
        num_ctx(&options),
        &options.numbers,
    );
    match super::cancellable(ctx, calibration).await? {
        Ok(calibrated) => {
            super::tokens_per_second::say_calibration(&calibrated.record);
            options.calibrated = Some(calibrated);
        }
        Err(err) => errors.push(ErrorRecord::from_request(
            &format!("calibrate {}", options.model),
            &err,
        )),
    }
    Some(options)
}

/// `c=4` or `2.5 req/s`, with the probe of `--sweep auto` named.
pub fn step_label(step: &LoadStep) -> String {
    let load = match step.load {
        StepLoad::Closed { concurrency } => format!("c={concurrency}"),
        StepLoad::Open { rate } => format!("{} req/s", format_rate(rate)),
    };
    match step.role {
        StepRole::Sweep => load,
        role => format!("{load} ({})", role.name()),
    }
}

/// A rate with as many decimals as it needs, at most three.
fn format_rate(rate: f64) -> String {
    let text = format!("{rate:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One measured request's times: from its actual send and from its scheduled send.
struct Measured {
    index: usize,
    scheduled: Instant,
    sent: Instant,
    /// `sent - scheduled`.
    lag: Duration,
    waited_for_cap: bool,
}

impl Measured {
    fn new(ticket: &Ticket, sent: Instant) -> Self {
        Measured {
            index: ticket.index,
            scheduled: ticket.scheduled,
            sent,
            lag: sent.saturating_duration_since(ticket.scheduled),
            waited_for_cap: ticket.waited_for_cap,
        }
    }
}

/// Everything a step keeps: histograms and counts, never a request.
struct StepFold {
    slo: Option<crate::analysis::slo::Slo>,
    sent: RequestLatencies,
    scheduled_ttft: LatencyHistogram,
    scheduled_e2e: LatencyHistogram,
    lag: LatencyHistogram,
    attempted: usize,
    succeeded: usize,
    waited_for_cap: usize,
    failures_by_kind: BTreeMap<String, usize>,
    failure_examples: Vec<ErrorRecord>,
    output_tokens: u64,
    input_tokens: u64,
    tally: Option<SloTally>,
}

impl StepFold {
    fn new(options: &LoadOptions) -> Self {
        StepFold {
            slo: options.slo.clone(),
            sent: RequestLatencies::new(),
            scheduled_ttft: LatencyHistogram::new(),
            scheduled_e2e: LatencyHistogram::new(),
            lag: LatencyHistogram::new(),
            attempted: 0,
            succeeded: 0,
            waited_for_cap: 0,
            failures_by_kind: BTreeMap::new(),
            failure_examples: Vec::new(),
            output_tokens: 0,
            input_tokens: 0,
            tally: options.slo.as_ref().map(SloTally::new),
        }
    }

    fn record(&mut self, measured: &Measured, outcome: &Result<GenerationRecord, RequestError>) {
        self.attempted += 1;
        self.lag.record(measured.lag);
        if measured.waited_for_cap {
            self.waited_for_cap += 1;
        }
        let values = match outcome {
            Ok(record) => {
                self.succeeded += 1;
                self.output_tokens += record.output_tokens;
                self.input_tokens += record.prompt_tokens.unwrap_or(0);
                let ttft = record.ttft();
                let e2e = record.e2e();
                self.sent
                    .record_request(ttft, record.tpot(), record.itls(), e2e);
                let scheduled_ttft = ttft.map(|t| t + measured.lag);
                if let Some(t) = scheduled_ttft {
                    self.scheduled_ttft.record(t);
                }
                self.scheduled_e2e.record(e2e + measured.lag);
                // SLOs are judged as users see latency: from the scheduled send time.
                Some(RequestValues {
                    ttft: scheduled_ttft,
                    tpot: record.tpot(),
                    max_itl: record.itls().max(),
                    e2e: e2e + measured.lag,
                })
            }
            Err(err) => {
                *self
                    .failures_by_kind
                    .entry(err.kind().to_string())
                    .or_insert(0) += 1;
                if !self.failure_examples.iter().any(|e| e.kind == err.kind()) {
                    self.failure_examples
                        .push(ErrorRecord::from_request("generate", err));
                }
                None
            }
        };
        if let (Some(slo), Some(tally)) = (&self.slo, &mut self.tally) {
            tally.record(slo, values.as_ref());
        }
    }

    fn finish(self, step: &LoadStep, wall: Duration) -> StepResult {
        let seconds = wall.as_secs_f64();
        let per_second = |count: f64| (seconds > 0.0).then(|| round2(count / seconds));
        let failed = self.attempted - self.succeeded;
        let (mode, concurrency, request_rate) = match step.load {
            StepLoad::Closed { concurrency } => ("closed", Some(concurrency), None),
            StepLoad::Open { rate } => ("open", None, Some(rate)),
        };
        let slo = match (&self.slo, &self.tally) {
            (Some(slo), Some(tally)) => Some(tally.outcome(slo, wall, |metric| match metric {
                Metric::Ttft => &self.scheduled_ttft,
                Metric::Tpot => &self.sent.time_per_output_token,
                Metric::Itl => &self.sent.inter_token_latency,
                Metric::E2e => &self.scheduled_e2e,
            })),
            _ => None,
        };
        StepResult {
            mode: mode.into(),
            concurrency,
            request_rate,
            role: step.role.name().into(),
            partial: false,
            wall_seconds: (seconds * 1e6).round() / 1e6,
            requests: RequestCounts {
                attempted: self.attempted,
                succeeded: self.succeeded,
                failed,
                success_rate: if self.attempted == 0 {
                    100.0
                } else {
                    round2(100.0 * self.succeeded as f64 / self.attempted as f64)
                },
                failures_by_kind: self.failures_by_kind,
                failure_examples: self.failure_examples,
            },
            waited_for_cap: self.waited_for_cap,
            peak_in_flight: 0,
            throughput: Throughput {
                requests_per_second: per_second(self.succeeded as f64),
                output_tokens_per_second: per_second(self.output_tokens as f64),
                input_tokens_per_second: per_second(self.input_tokens as f64),
                total_tokens_per_second: per_second(
                    (self.output_tokens + self.input_tokens) as f64,
                ),
                output_tokens: self.output_tokens,
                input_tokens: self.input_tokens,
            },
            latency: Latencies {
                time_to_first_token_ms: MsSummary::of(&self.sent.time_to_first_token),
                time_per_output_token_ms: MsSummary::of(&self.sent.time_per_output_token),
                inter_token_latency_ms: MsSummary::of(&self.sent.inter_token_latency),
                end_to_end_ms: MsSummary::of(&self.sent.end_to_end),
            },
            latency_from_scheduled: ScheduledLatencies {
                time_to_first_token_ms: MsSummary::of(&self.scheduled_ttft),
                end_to_end_ms: MsSummary::of(&self.scheduled_e2e),
            },
            schedule_lag_ms: MsSummary::of(&self.lag),
            slo,
            histograms: StepHistograms {
                sent: self.sent,
                scheduled_time_to_first_token: self.scheduled_ttft,
                scheduled_end_to_end: self.scheduled_e2e,
                schedule_lag: self.lag,
            },
        }
    }
}

/// `--samples-file`: one JSON line per measured request, through a buffer, so that nothing
/// per request stays in memory. A write that fails stops the stream (the error is kept and
/// reported) without stopping the measurement.
pub struct SamplesFile {
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    /// The step the next lines belong to.
    step: usize,
    lines: u64,
    error: Option<String>,
}

/// One line of the samples file.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SampleLine<'a> {
    step: usize,
    index: usize,
    /// Offsets from the step's start, in milliseconds.
    scheduled_ms: f64,
    sent_ms: f64,
    /// From the actual send time.
    ttft_ms: Option<f64>,
    e2e_ms: Option<f64>,
    output_tokens: Option<u64>,
    input_tokens: Option<u64>,
    waited_for_cap: bool,
    /// `ok`, or the failure's kind.
    outcome: &'a str,
}

impl SamplesFile {
    /// Creates (truncates) the file.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the folder of {}", path.display()))?;
        }
        let file = File::create(path).map_err(|err| {
            UsageError::err(format!(
                "--samples-file {}: cannot create it: {err}",
                path.display()
            ))
        })?;
        Ok(SamplesFile {
            path: path.to_path_buf(),
            writer: Some(BufWriter::new(file)),
            step: 0,
            lines: 0,
            error: None,
        })
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The lines that follow belong to step `step` (0-based).
    pub fn set_step(&mut self, step: usize) {
        self.step = step;
    }

    fn write(
        &mut self,
        measured: &Measured,
        outcome: &Result<GenerationRecord, RequestError>,
        start: Instant,
    ) {
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        let record = outcome.as_ref().ok();
        let line = SampleLine {
            step: self.step,
            index: measured.index,
            scheduled_ms: ms(measured.scheduled.saturating_duration_since(start)),
            sent_ms: ms(measured.sent.saturating_duration_since(start)),
            ttft_ms: record.and_then(|r| r.ttft()).map(ms),
            e2e_ms: record.map(|r| ms(r.e2e())),
            output_tokens: record.map(|r| r.output_tokens),
            input_tokens: record.and_then(|r| r.prompt_tokens),
            waited_for_cap: measured.waited_for_cap,
            outcome: match outcome {
                Ok(_) => "ok",
                Err(err) => err.kind(),
            },
        };
        let written = serde_json::to_writer(&mut *writer, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| writer.write_all(b"\n"));
        match written {
            Ok(()) => self.lines += 1,
            Err(err) => self.fail(err),
        }
    }

    fn fail(&mut self, err: std::io::Error) {
        self.error = Some(format!(
            "--samples-file {}: writing failed ({err}); the lines before it are in the file",
            self.path.display()
        ));
        self.writer = None;
    }

    /// Flushes the buffer; the first error of the whole stream, if any.
    pub fn finish(&mut self) -> Result<(), String> {
        if let Some(mut writer) = self.writer.take() {
            if let Err(err) = writer.flush() {
                self.fail(err);
            }
        }
        match &self.error {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }
}

/// Loads the model before the first step, so that no step measures a load (Ollama: a
/// load-only request; OpenAI servers load on their own, and the warmup covers them). Call it
/// once before [`measure_step`]s; an error that [`RequestError::is_fatal_for_model`] means no step can succeed.
pub async fn preload(
    backend: &Backend,
    model: &str,
    num_ctx: Option<u64>,
) -> Result<(), RequestError> {
    match backend {
        Backend::Ollama(client) => client
            .load_with_context(model, None, num_ctx)
            .await
            .map(|_| ()),
        Backend::OpenAi(_) => Ok(()),
    }
}

/// Measures every step on a connected target, writing the file after each.
async fn measure(session: Session<'_>, options: &LoadOptions) -> anyhow::Result<LoadResult> {
    let Session {
        target,
        ctx,
        provenance,
        events,
    } = session;
    let api = provenance.api.clone();
    let mut result = LoadResult {
        timestamp: timestamp_now(),
        configuration: configuration(options, &api),
        steps: Vec::new(),
        status: RunStatus::Success,
        errors: Vec::new(),
        provenance,
    };
    let mut samples = match &options.samples_file {
        Some(path) => Some(SamplesFile::create(path)?),
        None => None,
    };
    if let RunLength::Requests(n) = options.length {
        let warmup = match options.warmup {
            Some(RunLength::Requests(w)) => w,
            _ => 0,
        };
        let steps = match &options.shape {
            LoadShape::Concurrency(levels) => levels.len(),
            LoadShape::Rates(rates) => rates.len(),
            LoadShape::Auto { steps } => steps + 2,
        };
        events.emit(&Event::Planned(((n + warmup) * steps) as u64));
    }
    events.emit(&Event::Phase(&format!("{}: loading", options.model)));
    let preloading = preload(&target.backend, &options.model, num_ctx(options));
    match super::cancellable(ctx, preloading).await {
        None => {}
        Some(Ok(())) => {}
        Some(Err(err)) => {
            result.errors.push(ErrorRecord::from_request(
                &format!("preload {}", options.model),
                &err,
            ));
            if err.is_fatal_for_model() {
                result.status = RunStatus::Failed;
                crate::outln!(
                    "❌ {}: {err} ({}); no step was measured",
                    options.model,
                    err.hint()
                );
                return Ok(finished(result));
            }
        }
    }
    if let Some(client) = target.backend.as_ollama() {
        super::record_model_provenance(client, &mut result.provenance, &options.model).await;
    }
    let Some(options) = &calibrated(target, options, ctx, &mut result.errors).await else {
        return Ok(finished(result));
    };
    result.configuration.calibration = recorded_calibration(options);
    let mut queue: std::collections::VecDeque<LoadStep> = options.planned_steps().into();
    let mut index = 0;
    while let Some(step) = queue.pop_front() {
        if ctx.cancel.is_cancelled() {
            break;
        }
        if let Some(samples) = samples.as_mut() {
            samples.set_step(index);
        }
        let measured =
            measure_step_with(target, options, step, ctx, events, samples.as_mut()).await;
        index += 1;
        let step_result = match measured {
            Ok(step_result) => step_result,
            Err(err) => {
                result.errors.push(ErrorRecord {
                    phase: step_label(&step),
                    kind: "step-failed".into(),
                    message: format!("{err:#}"),
                    hint: "the remaining steps were not run".into(),
                });
                result.status = RunStatus::Failed;
                break;
            }
        };
        let saturation = step.role == StepRole::Saturation;
        result.steps.push(step_result);
        if saturation {
            if let LoadShape::Auto { steps } = options.shape {
                queue.extend(
                    auto_rates(&result.steps, steps)
                        .into_iter()
                        .map(|rate| LoadStep::open(options, rate)),
                );
                result.configuration.request_rates = queue
                    .iter()
                    .filter_map(|s| match s.load {
                        StepLoad::Open { rate } => Some(rate),
                        StepLoad::Closed { .. } => None,
                    })
                    .collect();
            }
        }
        // The snapshot is the result marked interrupted until the run ends (not a copy: the
        // histograms of every step need not sit in memory twice). A failed snapshot is no
        // reason to stop: the final write falls back to another path.
        let status = std::mem::replace(&mut result.status, RunStatus::Interrupted);
        let _ = crate::results::write_json_atomic(&options.output, &result);
        result.status = status;
    }
    if let Some(samples) = samples.as_mut() {
        if let Err(message) = samples.finish() {
            events.emit(&Event::Warning(&message));
            result.errors.push(ErrorRecord {
                phase: "samples-file".into(),
                kind: "write-failed".into(),
                message,
                hint: "check the disk space and the path".into(),
            });
        }
    }
    if ctx.cancel.is_cancelled() {
        result.status = RunStatus::Interrupted;
    } else if result.status == RunStatus::Success
        && result.steps.iter().any(|s| s.requests.failed > 0)
    {
        result.status = RunStatus::Failed;
    }
    Ok(finished(result))
}

fn finished(mut result: LoadResult) -> LoadResult {
    result.provenance.finished_at = Some(chrono::Local::now().to_rfc3339());
    result
}

/// `--sweep auto`'s rates, from the single-stream and saturation probes' request throughput.
fn auto_rates(steps: &[StepResult], count: usize) -> Vec<f64> {
    let rate_of = |role: StepRole| {
        steps
            .iter()
            .find(|s| s.role == role.name())
            .and_then(|s| s.throughput.requests_per_second)
    };
    match (
        rate_of(StepRole::SingleStream),
        rate_of(StepRole::Saturation),
    ) {
        (Some(single), Some(saturated)) => sweep_rates(single, saturated, count)
            .into_iter()
            .map(|r| (r * 1000.0).round() / 1000.0)
            .filter(|&r| r > 0.0)
            .collect(),
        _ => Vec::new(),
    }
}

/// What was asked for, as the result file records it.
pub(crate) fn configuration(options: &LoadOptions, api: &str) -> LoadConfiguration {
    let (concurrency_levels, request_rates, sweep_steps) = match &options.shape {
        LoadShape::Concurrency(levels) => (levels.clone(), Vec::new(), None),
        LoadShape::Rates(rates) => (Vec::new(), rates.clone(), None),
        LoadShape::Auto { steps } => (
            vec![1, options.saturation_concurrency()],
            Vec::new(),
            Some(*steps),
        ),
    };
    let (requests_per_step, duration_seconds) = match options.length {
        RunLength::Requests(n) => (Some(n), None),
        RunLength::Duration(d) => (None, Some(d.as_secs_f64())),
    };
    let (warmup_requests, warmup_seconds) = match options.warmup {
        None => (None, None),
        Some(RunLength::Requests(n)) => (Some(n), None),
        Some(RunLength::Duration(d)) => (None, Some(d.as_secs_f64())),
    };
    LoadConfiguration {
        model: options.model.clone(),
        prompt: options.prompt.name.clone(),
        prompt_characters: options.prompt.text.chars().count(),
        max_tokens: options.max_tokens,
        route: route_name(options.route, api).into(),
        load_shape: options.shape.name().into(),
        concurrency_levels,
        request_rates,
        sweep_steps,
        arrival: options.arrival.name().into(),
        burstiness: match options.arrival {
            ArrivalKind::Gamma { burstiness } => Some(burstiness),
            _ => None,
        },
        seed: options.seed,
        max_concurrency: options.max_concurrency.map(|c| c as usize),
        requests_per_step,
        duration_seconds,
        warmup_requests,
        warmup_seconds,
        slo: options.slo.as_ref().map(ToString::to_string),
        // Known once the run has calibrated (see `recorded_calibration`).
        calibration: None,
    }
}

/// The step's load as the table shows it.
fn load_cell(step: &StepResult) -> String {
    let load = match (step.concurrency, step.request_rate) {
        (Some(c), _) => format!("c={c}"),
        (None, Some(rate)) => format!("{} r/s", format_rate(rate)),
        (None, None) => "-".into(),
    };
    match step.role.as_str() {
        "single-stream" => format!("{load} single"),
        "saturation" => format!("{load} sat."),
        _ => load,
    }
}

fn ms_cell(
    summary: Option<crate::results::load::MsSummary>,
    pick: fn(&MsSummary) -> f64,
) -> String {
    number(summary.as_ref().map(pick), 0)
}

/// One line per finished step.
fn step_line(step: &StepResult, label: &str) -> String {
    let mut line = format!(
        "{label}: {} req/s, {} out tok/s, TTFT p50 {} ms (p99 {} ms from schedule), {} of {} ok",
        number(step.throughput.requests_per_second, 2),
        number(step.throughput.output_tokens_per_second, 1),
        ms_cell(step.latency.time_to_first_token_ms, |s| s.p50),
        ms_cell(step.latency_from_scheduled.time_to_first_token_ms, |s| s
            .p99),
        step.requests.succeeded,
        step.requests.attempted,
    );
    if let Some(slo) = &step.slo {
        line.push_str(&format!(
            ", goodput {} req/s ({}%)",
            number(slo.goodput_requests_per_second, 2),
            number(slo.attainment_percent, 0)
        ));
    }
    line
}

fn print_summary(result: &LoadResult, written: &Path) {
    let c = &result.configuration;
    crate::outln!();
    crate::outln!(
        "Load: {} ({} prompt, {} tokens){}",
        c.model,
        c.prompt,
        c.max_tokens,
        match c.load_shape.as_str() {
            "closed" => String::new(),
            _ => format!(", {} arrivals, seed {}", c.arrival, c.seed),
        }
    );
    if let Some(note) = result.provenance.simulated_note() {
        crate::outln!("{note}");
    }
    // No vertical rules and two-line headers: thirteen columns fit 100.
    let mut table = Table::new();
    table
        .load_preset(UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled);
    let with_slo = result.steps.iter().any(|s| s.slo.is_some());
    let mut header = vec![
        "Load",
        "req/s",
        "out\ntok/s",
        "TTFT\np50",
        "TTFT\np99",
        "TPOT\np50",
        "ITL\np99",
        "e2e\np99",
        "TTFT\np99\nsched.",
        "lag\np99",
        "cap\nwaits",
        "fail",
    ];
    if with_slo {
        header.extend(["good\nreq/s", "met\n%"]);
    }
    table.set_header(header);
    for step in &result.steps {
        let mut row = vec![
            load_cell(step),
            number(step.throughput.requests_per_second, 2),
            number(step.throughput.output_tokens_per_second, 0),
            ms_cell(step.latency.time_to_first_token_ms, |s| s.p50),
            ms_cell(step.latency.time_to_first_token_ms, |s| s.p99),
            number(step.latency.time_per_output_token_ms.map(|s| s.p50), 1),
            ms_cell(step.latency.inter_token_latency_ms, |s| s.p99),
            ms_cell(step.latency.end_to_end_ms, |s| s.p99),
            ms_cell(step.latency_from_scheduled.time_to_first_token_ms, |s| {
                s.p99
            }),
            ms_cell(step.schedule_lag_ms, |s| s.p99),
            step.waited_for_cap.to_string(),
            step.requests.failed.to_string(),
        ];
        if let Some(slo) = &step.slo {
            row.push(number(slo.goodput_requests_per_second, 2));
            row.push(number(slo.attainment_percent, 0));
        }
        table.add_row(row);
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 1));
    }
    crate::outln!("{table}");
    crate::outln!(
        "Latencies in ms; sched. = from the scheduled send time; lag = sent - scheduled;\n\
         cap waits = requests held back by --max-concurrency; good = goodput, met = attainment."
    );
    for step in &result.steps {
        if let Some(slo) = &step.slo {
            if let Some(missed) = &slo.missed_most {
                crate::outln!("  {}: missed most: {missed}", load_cell(step));
            }
        }
        if step.requests.failed > 0 {
            let kinds: Vec<String> = step
                .requests
                .failures_by_kind
                .iter()
                .map(|(kind, count)| format!("{count} {kind}"))
                .collect();
            crate::outln!(
                "  ❌ {}: {} of {} failed ({})",
                load_cell(step),
                step.requests.failed,
                step.requests.attempted,
                kinds.join(", ")
            );
        }
    }
    for error in &result.errors {
        crate::outln!("  ❌ {}: {}", error.phase, error.message);
    }
    if result.status == RunStatus::Interrupted {
        crate::outln!(
            "Interrupted: partial results written to {}",
            written.display()
        );
    } else {
        crate::outln!("Results written to {}", written.display());
    }
}

fn rows(result: &LoadResult) -> Rows {
    let ms = |summary: Option<MsSummary>, pick: fn(&MsSummary) -> f64| {
        number(summary.as_ref().map(pick), 3)
    };
    let rows = result
        .steps
        .iter()
        .map(|step| {
            let l = &step.latency;
            let slo = step.slo.as_ref();
            vec![
                step.mode.clone(),
                step.concurrency.map_or(String::new(), |c| c.to_string()),
                number(step.request_rate, 3),
                step.role.clone(),
                number(step.throughput.requests_per_second, 2),
                number(step.throughput.output_tokens_per_second, 2),
                number(step.throughput.total_tokens_per_second, 2),
                ms(l.time_to_first_token_ms, |s| s.p50),
                ms(l.time_to_first_token_ms, |s| s.p99),
                ms(l.time_per_output_token_ms, |s| s.p50),
                ms(l.inter_token_latency_ms, |s| s.p99),
                ms(l.end_to_end_ms, |s| s.p99),
                ms(step.latency_from_scheduled.time_to_first_token_ms, |s| {
                    s.p99
                }),
                ms(step.latency_from_scheduled.end_to_end_ms, |s| s.p99),
                ms(step.schedule_lag_ms, |s| s.p99),
                step.waited_for_cap.to_string(),
                step.requests.attempted.to_string(),
                step.requests.failed.to_string(),
                number(slo.and_then(|s| s.goodput_requests_per_second), 3),
                number(slo.and_then(|s| s.attainment_percent), 2),
            ]
        })
        .collect();
    Rows {
        headers: vec![
            "Mode",
            "Concurrency",
            "RequestRate",
            "Role",
            "RequestsPerSecond",
            "OutputTokensPerSecond",
            "TotalTokensPerSecond",
            "TtftP50Ms",
            "TtftP99Ms",
            "TpotP50Ms",
            "ItlP99Ms",
            "E2eP99Ms",
            "ScheduledTtftP99Ms",
            "ScheduledE2eP99Ms",
            "ScheduleLagP99Ms",
            "WaitedForCap",
            "Attempted",
            "Failed",
            "GoodputRequestsPerSecond",
            "AttainmentPercent",
        ],
        rows,
    }
}

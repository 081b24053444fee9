//! `ollabench capacity`: the highest request rate (or concurrency) at which the deployment
//! meets the SLO, found by the bracketing search of [`crate::analysis::capacity`]. Each probe
//! is one `load` step ([`measure_step`]), judged against the SLO at the required attainment;
//! the file holds every probe's full step result and is rewritten after each, so that Ctrl-C
//! loses nothing measured.

use std::path::Path;

use crate::analysis::capacity::{self, next_step, within_noise, Next, ProbeOutcome};
use crate::analysis::slo::Slo;
use crate::config::capacity::CapacityOptions;
use crate::config::load::{LoadOptions, LoadStep};
use crate::config::TargetOptions;
use crate::exit::{Ctx, Outcome};
use crate::output::events::Event;
use crate::output::export::{ConsoleOptions, Rows};
use crate::results::capacity::{
    CapacityBy, CapacityProbe, CapacityResult, CapacitySearch, SearchEnd,
};
use crate::results::load::{LoadConfiguration, SloOutcome, StepResult};
use crate::results::load_runs::short_number;
use crate::results::{timestamp_now, write_json_atomic, ErrorRecord, RunStatus};
use crate::scenario::load::{self, calibrated, measure_step, num_ctx as load_num_ctx, preload};
use crate::scenario::runner::{self, Scenario, Session};

/// Connects, searches, writes the result file and prints the answer in one line.
pub async fn run(
    options: CapacityOptions,
    ctx: &Ctx,
    console: ConsoleOptions,
) -> anyhow::Result<Outcome> {
    runner::run(&options, ctx, console).await
}

impl Scenario for CapacityOptions {
    type Output = CapacityResult;

    fn output(&self) -> &Path {
        &self.load.output
    }

    fn target(&self) -> &TargetOptions {
        &self.load.target
    }

    async fn measure(&self, session: Session<'_>) -> anyhow::Result<CapacityResult> {
        measure(session, self).await
    }

    fn status(output: &CapacityResult) -> RunStatus {
        output.status
    }

    fn print(&self, output: &CapacityResult, written: &Path) {
        crate::outln!();
        if let Some(note) = output.provenance.simulated_note() {
            crate::outln!("{note}");
        }
        for error in &output.errors {
            crate::outln!("  ❌ {}: {}", error.phase, error.message);
        }
        crate::outln!("{}", output.line());
        crate::outln!("Results written to {}", written.display());
    }

    fn rows(&self, output: &CapacityResult) -> Rows {
        rows(output)
    }
}

/// Probes until the search is done, the probe bound is reached, a step cannot run, or Ctrl-C.
async fn measure(
    session: Session<'_>,
    options: &CapacityOptions,
) -> anyhow::Result<CapacityResult> {
    let Session {
        target,
        ctx,
        provenance,
        events,
    } = session;
    let load = &options.load;
    let search = &options.search;
    let slo = load
        .slo
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("capacity needs an SLO"))?;
    let mut result = CapacityResult {
        timestamp: timestamp_now(),
        configuration: configuration(load, &provenance.api, search.by),
        search: CapacitySearch {
            by: search.by,
            slo: slo.to_string(),
            slo_description: describe(slo, search.attainment),
            attainment_percent: search.attainment * 100.0,
            precision_percent: search.precision * 100.0,
            start: search.start,
            max_probes: search.max_probes,
        },
        status: RunStatus::Success,
        provenance,
        ..CapacityResult::default()
    };
    events.emit(&Event::Phase(&format!("{}: loading", load.model)));
    let mut end = None;
    let preloading = preload(&target.backend, &load.model, load_num_ctx(load));
    if let Some(Err(err)) = super::cancellable(ctx, preloading).await {
        result.errors.push(ErrorRecord::from_request(
            &format!("preload {}", load.model),
            &err,
        ));
        if err.is_fatal_for_model() {
            // Every probe would fail the same way (the model is missing, the key refused).
            end = Some(SearchEnd::StepFailed);
        }
    }
    if let Some(client) = target.backend.as_ollama() {
        super::record_model_provenance(client, &mut result.provenance, &load.model).await;
    }
    let calibrated = calibrated(target, load, ctx, &mut result.errors).await;
    let load = calibrated.as_ref().unwrap_or(load);
    result.configuration.calibration = load::recorded_calibration(load);
    let mut outcomes: Vec<ProbeOutcome> = Vec::new();
    while end.is_none() {
        let level = match next_step(search, &outcomes) {
            Next::Done(answer) => {
                result.capacity = answer;
                break;
            }
            Next::Probe(level) => level,
        };
        if ctx.cancel.is_cancelled() {
            end = Some(SearchEnd::Interrupted);
            break;
        }
        let step = match search.by {
            CapacityBy::Rate => LoadStep::open(load, level),
            CapacityBy::Concurrency => LoadStep::closed(load, level.round() as u32),
        };
        events.emit(&Event::Phase(&format!(
            "probe {}: {} {}",
            outcomes.len() + 1,
            search.by.format_level(level),
            search.by.unit()
        )));
        match measure_step(target, load, step, ctx, events).await {
            Ok(step) if step.partial || ctx.cancel.is_cancelled() => {
                // An interrupted step is not evidence either way: kept, but not judged.
                result.probes.push(CapacityProbe {
                    level,
                    passed: false,
                    marginal: false,
                    step,
                });
                end = Some(SearchEnd::Interrupted);
            }
            Ok(step) => {
                let outcome = judge(level, &step, search.attainment);
                let probe = CapacityProbe {
                    level,
                    passed: outcome.passed,
                    marginal: outcome.marginal,
                    step,
                };
                events.emit(&Event::CellFinished {
                    line: &probe_line(search.by, &probe),
                });
                outcomes.push(outcome);
                result.probes.push(probe);
            }
            Err(err) => {
                result.errors.push(ErrorRecord {
                    phase: format!(
                        "probe {} {}",
                        search.by.format_level(level),
                        search.by.unit()
                    ),
                    kind: "step-failed".into(),
                    message: format!("{err:#}"),
                    hint: "the search stopped; the answer is what the probes before it found"
                        .into(),
                });
                end = Some(SearchEnd::StepFailed);
            }
        }
        if end.is_none() {
            let mut snapshot = result.clone();
            snapshot.capacity = capacity::answer_so_far(search, &outcomes, SearchEnd::Interrupted);
            snapshot.status = RunStatus::Interrupted;
            // A failed snapshot is no reason to stop: the final write falls back to another path.
            let _ = write_json_atomic(&load.output, &snapshot);
        }
    }
    if let Some(end) = end {
        result.capacity = capacity::answer_so_far(search, &outcomes, end);
    }
    result.status = if ctx.cancel.is_cancelled() || end == Some(SearchEnd::Interrupted) {
        RunStatus::Interrupted
    } else if !result.errors.is_empty() {
        RunStatus::Failed
    } else {
        RunStatus::Success
    };
    result.provenance.finished_at = Some(chrono::Local::now().to_rfc3339());
    Ok(result)
}

/// A step's verdict: it passes when the share of requests meeting every per-request
/// objective reaches the attainment target and every percentile objective holds. It is
/// marginal when that share, or the share of requests under a percentile objective's limit,
/// lies within a binomial standard error of its threshold.
pub fn judge(level: f64, step: &StepResult, attainment: f64) -> ProbeOutcome {
    let Some(slo) = &step.slo else {
        return ProbeOutcome {
            level,
            passed: false,
            attainment: None,
            marginal: false,
        };
    };
    let share = slo.attainment_percent.map(|p| p / 100.0);
    ProbeOutcome {
        level,
        passed: share.is_some_and(|s| s >= attainment) && slo.percentiles_met,
        attainment: share,
        marginal: marginal(slo, attainment),
    }
}

fn marginal(slo: &SloOutcome, attainment: f64) -> bool {
    let judged = slo.requests;
    let share_marginal = slo
        .attainment_percent
        .is_some_and(|p| within_noise(p / 100.0, attainment, judged));
    let percentile_marginal = slo.objectives.iter().any(|objective| {
        objective.percentile.is_some_and(|p| {
            let under = 1.0 - objective.missed as f64 / judged.max(1) as f64;
            within_noise(under, p / 100.0, judged)
        })
    });
    share_marginal || percentile_marginal
}

/// The SLO in words: `p95 TTFT <= 500 ms`, `e2e <= 20 s for 95% of requests`.
pub fn describe(slo: &Slo, attainment: f64) -> String {
    let parts: Vec<String> = slo
        .objectives
        .iter()
        .map(|o| {
            let metric = o.metric.name().to_uppercase().replace("E2E", "e2e");
            let limit = o.limit.as_secs_f64();
            let limit = if limit < 1.0 {
                format!("{} ms", short_number(limit * 1e3))
            } else {
                format!("{} s", short_number(limit))
            };
            match o.percentile {
                Some(p) => format!("p{} {metric} <= {limit}", short_number(p)),
                None => format!("{metric} <= {limit}"),
            }
        })
        .collect();
    let mut text = parts.join(", ");
    if slo.objectives.iter().any(|o| o.percentile.is_none()) {
        text.push_str(&format!(
            " for {}% of requests",
            short_number(attainment * 100.0)
        ));
    }
    text
}

/// One line per probe: the level, the verdict, and what decided it.
fn probe_line(by: CapacityBy, probe: &CapacityProbe) -> String {
    let verdict = match (probe.passed, probe.marginal) {
        (true, false) => "pass",
        (false, false) => "fail",
        (true, true) => "pass (within noise)",
        (false, true) => "fail (within noise)",
    };
    let slo = probe.step.slo.as_ref();
    format!(
        "{} {}: {verdict}, {} req/s achieved, attainment {}%{}",
        by.format_level(probe.level),
        by.unit(),
        number(probe.step.throughput.requests_per_second, 2),
        number(slo.and_then(|s| s.attainment_percent), 1),
        slo.and_then(|s| s.missed_most.as_ref())
            .map(|m| format!(", missed most: {m}"))
            .unwrap_or_default()
    )
}

fn number(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".to_string(), |v| format!("{v:.decimals$}"))
}

fn rows(output: &CapacityResult) -> Rows {
    let rows = output
        .probes
        .iter()
        .enumerate()
        .map(|(index, probe)| {
            let slo = probe.step.slo.as_ref();
            let p95 = |summary: Option<crate::results::load::MsSummary>| {
                number(summary.map(|s| s.p95), 3)
            };
            vec![
                (index + 1).to_string(),
                output.search.by.format_level(probe.level),
                probe.passed.to_string(),
                probe.marginal.to_string(),
                number(probe.step.throughput.requests_per_second, 3),
                p95(probe.step.latency.time_to_first_token_ms),
                p95(probe.step.latency.end_to_end_ms),
                p95(probe.step.latency_from_scheduled.time_to_first_token_ms),
                number(slo.and_then(|s| s.goodput_requests_per_second), 3),
                number(slo.and_then(|s| s.attainment_percent), 2),
                probe.step.requests.failed.to_string(),
            ]
        })
        .collect();
    Rows {
        headers: vec![
            "Probe",
            "Level",
            "Passed",
            "Marginal",
            "RequestsPerSecond",
            "TtftP95Ms",
            "E2eP95Ms",
            "ScheduledTtftP95Ms",
            "GoodputRequestsPerSecond",
            "AttainmentPercent",
            "Failed",
        ],
        rows,
    }
}

/// What each probe sends, in `load`'s configuration; the load shape is the search's.
fn configuration(options: &LoadOptions, api: &str, by: CapacityBy) -> LoadConfiguration {
    LoadConfiguration {
        load_shape: match by {
            CapacityBy::Rate => "open",
            CapacityBy::Concurrency => "closed",
        }
        .into(),
        concurrency_levels: Vec::new(),
        request_rates: Vec::new(),
        sweep_steps: None,
        ..load::configuration(options, api)
    }
}

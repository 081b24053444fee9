//! `compare`'s runs of load and capacity files: each step's request throughput, goodput,
//! attainment and p95 TTFT and e2e (the step's load as the subject, `2 req/s` or `c=4`), and a
//! capacity search's answer with the goodput of the probe that passed at it (the SLO as the
//! subject, so that searches against different SLOs are never compared as one metric).

use super::capacity::{CapacityBy, CapacityResult};
use super::comparison::{Better, Metric, Run, Unit};
use super::load::{LoadResult, StepResult};

/// What runs of a load or capacity file share: the model (each metric names its step's load
/// or the SLO, so unlike steps never meet in one row).
pub fn group_key(run: &Run) -> String {
    format!("model {}", run.models_text())
}

/// The step's load, as a subject: `c=4` or `2.5 req/s` (with the role of `--sweep auto`'s
/// probes).
pub fn step_subject(step: &StepResult) -> String {
    let load = match (step.concurrency, step.request_rate) {
        (_, Some(rate)) => format!("{} req/s", short_number(rate)),
        (Some(concurrency), None) => format!("c={concurrency}"),
        (None, None) => "step".to_string(),
    };
    match step.role.as_str() {
        "" | "sweep" => load,
        role => format!("{load} ({role})"),
    }
}

/// A number with at most three decimals and no trailing zeros: `2.5`, `95`, `0.125`.
pub fn short_number(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The numbers of one step, named for its load.
fn step_metrics(step: &StepResult, subject: &str, metrics: &mut Vec<Metric>) {
    let slo = step.slo.as_ref();
    let seconds = |ms: Option<f64>| ms.map(|v| v / 1000.0);
    for (name, value, unit, better) in [
        (
            "RequestsPerSecond",
            step.throughput.requests_per_second,
            Unit::RequestsPerSecond,
            Better::Higher,
        ),
        (
            "OutputTokensPerSecond",
            step.throughput.output_tokens_per_second,
            Unit::TokensPerSecond,
            Better::Higher,
        ),
        (
            "GoodputRequestsPerSecond",
            slo.and_then(|s| s.goodput_requests_per_second),
            Unit::RequestsPerSecond,
            Better::Higher,
        ),
        (
            "AttainmentPercent",
            slo.and_then(|s| s.attainment_percent),
            Unit::Percent,
            Better::Higher,
        ),
        (
            "TimeToFirstTokenP95Seconds",
            seconds(step.latency.time_to_first_token_ms.map(|s| s.p95)),
            Unit::Seconds,
            Better::Lower,
        ),
        (
            "EndToEndP95Seconds",
            seconds(step.latency.end_to_end_ms.map(|s| s.p95)),
            Unit::Seconds,
            Better::Lower,
        ),
    ] {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            metrics.push(Metric {
                subject: Some(subject.to_string()),
                ..Metric::new(name, value, unit, better)
            });
        }
    }
}

/// A load file's run: every finished step's numbers.
pub fn load(result: &LoadResult, run: &mut Run) {
    if !result.configuration.model.is_empty() {
        run.models.push(result.configuration.model.clone());
    }
    for step in result.steps.iter().filter(|s| !s.partial) {
        step_metrics(step, &step_subject(step), &mut run.metrics);
    }
    if run.metrics.is_empty() {
        run.notes.push("no step finished in this run".to_string());
    }
}

/// A capacity file's run: the capacity, and the goodput and attainment of the probe that
/// passed at it.
pub fn capacity(result: &CapacityResult, run: &mut Run) {
    if !result.configuration.model.is_empty() {
        run.models.push(result.configuration.model.clone());
    }
    let subject = Some(result.search.slo_description.clone()).filter(|s| !s.is_empty());
    let answer = &result.capacity;
    let Some(capacity) = answer.capacity else {
        run.notes
            .push(format!("no level passed: {}", result.line()));
        return;
    };
    let unit = match result.search.by {
        CapacityBy::Rate => Unit::RequestsPerSecond,
        CapacityBy::Concurrency => Unit::Concurrency,
    };
    run.metrics.push(Metric {
        subject: subject.clone(),
        ..Metric::new("Capacity", capacity, unit, Better::Higher)
    });
    if let Some(slo) = result.probe_at_capacity().and_then(|p| p.step.slo.as_ref()) {
        if let Some(goodput) = slo.goodput_requests_per_second {
            run.metrics.push(Metric {
                subject: subject.clone(),
                ..Metric::new(
                    "GoodputAtCapacity",
                    goodput,
                    Unit::RequestsPerSecond,
                    Better::Higher,
                )
            });
        }
    }
    if answer.stopped_by_bound() {
        run.notes.push(result.line());
    }
}

//! `compare`'s runs of capacity files (load files' are in [`super::runs`]): the search's answer
//! and the goodput of the probe that passed at it, with the SLO as the subject, so that
//! searches against different SLOs are never compared as one metric; and the name of a
//! step's load that report and compare show.

use super::capacity::{CapacityBy, CapacityResult};
use super::comparison::{Better, Metric, Run, Unit};
use super::load::StepResult;

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

//! The report's sections for load and capacity files: the headline (the capacity answer, or
//! the best goodput), and the throughput-latency curve of their steps: achieved requests per
//! second on x, the p95 of the latency the SLO bounds (TTFT, else e2e, from the scheduled
//! send time as the SLO judges it) on y, the SLO's limit
//! as a horizontal line and the capacity point marked, with the table of every step behind
//! it. Charts come from [`super::svg`].

use super::document::{Block, Table};
use super::svg::{self, fmt_num, ChartMeta, LineSeries, XAxis};
use crate::results::capacity::CapacityResult;
use crate::results::load::{LoadResult, MsSummary, StepResult};
use crate::results::load_runs::{short_number, step_subject};

/// The latency a curve plots: the one the SLO bounds first (TTFT or e2e), else TTFT.
struct Curve {
    metric: &'static str,
    /// The SLO's limit on it, in milliseconds.
    limit_ms: Option<f64>,
    percentile: f64,
}

impl Curve {
    fn of(step: Option<&StepResult>) -> Curve {
        let objective = step.and_then(|s| s.slo.as_ref()).and_then(|slo| {
            slo.objectives
                .iter()
                .find(|o| o.metric == "ttft" || o.metric == "e2e")
        });
        match objective {
            Some(o) => Curve {
                metric: if o.metric == "e2e" { "e2e" } else { "ttft" },
                limit_ms: Some(o.limit_ms),
                percentile: o.percentile.unwrap_or(95.0),
            },
            None => Curve {
                metric: "ttft",
                limit_ms: None,
                percentile: 95.0,
            },
        }
    }

    fn label(&self) -> String {
        let metric = if self.metric == "e2e" { "e2e" } else { "TTFT" };
        format!("p{} {metric}", short_number(self.percentile))
    }

    /// The step's value, from the scheduled send time as the SLO judges it: the percentile
    /// the summary has nearest to the SLO's.
    fn value(&self, step: &StepResult) -> Option<f64> {
        let scheduled = &step.latency_from_scheduled;
        let summary: Option<MsSummary> = if self.metric == "e2e" {
            scheduled.end_to_end_ms
        } else {
            scheduled.time_to_first_token_ms
        };
        summary.map(|s| match self.percentile {
            p if p <= 50.0 => s.p50,
            p if p <= 90.0 => s.p90,
            p if p <= 95.0 => s.p95,
            _ => s.p99,
        })
    }
}

/// A load file's blocks.
pub fn load_blocks(id: &str, result: &LoadResult, blocks: &mut Vec<Block>) {
    let steps: Vec<&StepResult> = result.steps.iter().collect();
    let best = steps
        .iter()
        .filter_map(|s| s.slo.as_ref()?.goodput_requests_per_second)
        .fold(None, |best: Option<f64>, g| {
            Some(best.map_or(g, |b| b.max(g)))
        });
    let mut headline = vec![
        ("Model".to_string(), result.configuration.model.clone()),
        ("Steps".to_string(), steps.len().to_string()),
    ];
    if let Some(slo) = &result.configuration.slo {
        headline.push(("SLO".to_string(), slo.clone()));
    }
    if let Some(best) = best {
        headline.push((
            "Best goodput".to_string(),
            format!("{} req/s", fmt_num(best)),
        ));
    }
    blocks.push(Block::Headline(headline));
    curve(id, &steps, None, blocks);
}

/// A capacity file's blocks: the answer, and the curve of every probe.
pub fn capacity_blocks(id: &str, result: &CapacityResult, blocks: &mut Vec<Block>) {
    blocks.push(Block::Headline(vec![
        ("Model".to_string(), result.configuration.model.clone()),
        ("SLO".to_string(), result.search.slo_description.clone()),
        ("Probes".to_string(), result.capacity.probes.to_string()),
    ]));
    blocks.push(Block::Note(result.line()));
    let steps: Vec<&StepResult> = result.probes.iter().map(|p| &p.step).collect();
    let capacity_step = result.probe_at_capacity().map(|p| &p.step);
    curve(id, &steps, capacity_step, blocks);
}

/// The throughput-latency curve and its table.
fn curve(id: &str, steps: &[&StepResult], capacity: Option<&StepResult>, blocks: &mut Vec<Block>) {
    let curve = Curve::of(steps.iter().copied().find(|s| s.slo.is_some()));
    let mut points: Vec<(f64, f64)> = steps
        .iter()
        .filter(|s| !s.partial)
        .filter_map(|s| Some((s.throughput.requests_per_second?, curve.value(s)?)))
        .collect();
    if points.is_empty() {
        blocks.push(Block::Note(
            "No step finished with a latency: nothing to draw.".to_string(),
        ));
        return;
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let x_high = points.iter().map(|p| p.0).fold(0.0, f64::max);
    let mut series = vec![LineSeries::line(curve.label(), points)];
    if let Some(limit) = curve.limit_ms {
        series.push(LineSeries::reference(
            format!("SLO limit ({} ms)", short_number(limit)),
            vec![(0.0, limit), (x_high, limit)],
        ));
    }
    if let Some(point) =
        capacity.and_then(|s| Some((s.throughput.requests_per_second?, curve.value(s)?)))
    {
        series.push(LineSeries::line("capacity", vec![point]));
    }
    let svg = svg::line_chart(
        &ChartMeta {
            id: format!("{id}-throughput-latency"),
            kind: "throughput-latency",
            title: format!("{} against achieved request throughput", curve.label()),
            x_label: "Achieved throughput (req/s)".into(),
            y_label: format!("{} from the scheduled send (ms)", curve.label()),
        },
        &series,
        &XAxis::Linear {
            from_zero: true,
            integer: false,
        },
        true,
        None,
    );
    let number = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "-".to_string());
    let table = Table {
        caption: "Every step: its load, what it achieved and how it met the SLO".into(),
        headers: [
            "Load",
            "Achieved (req/s)",
            &format!("{} (ms)", curve.label()),
            "Goodput (req/s)",
            "Attainment (%)",
            "Failed",
        ]
        .map(String::from)
        .to_vec(),
        rows: steps
            .iter()
            .map(|s| {
                let slo = s.slo.as_ref();
                vec![
                    step_subject(s),
                    number(s.throughput.requests_per_second),
                    number(curve.value(s)),
                    number(slo.and_then(|o| o.goodput_requests_per_second)),
                    number(slo.and_then(|o| o.attainment_percent)),
                    s.requests.failed.to_string(),
                ]
            })
            .collect(),
    };
    blocks.push(Block::Chart { svg, table });
}

//! The content of a report, independent of its format: sections of headline numbers,
//! verdicts, charts with the table behind each one, provenance and errors. `html.rs` draws it
//! with inline SVG, `markdown.rs` writes its tables; both show the same numbers because both
//! read this one structure.

use super::load::{FileProblem, LoadedFile};
use super::model::{self, recorded, Cell};
use super::svg::{self, fmt_num, BarSeries, BarValue, ChartMeta, LineSeries, XAxis};
use super::trend::{self, TrendGroup};
use super::verdicts::VerdictRow;
use crate::results::comparison::ComparisonFile;
use crate::results::multi_user::{MultiUserResult, UserResult};
use crate::results::read::{self, Body, Kind, Recorded, ResultFile};
use crate::results::single_user::SingleUserResult;
use crate::results::tokens_per_second::{ConcurrencyResult, TpsResult};
use crate::stats::Summary;

/// A whole report.
#[derive(Debug, Clone)]
pub struct Document {
    pub title: String,
    /// One line per simulated file (profile and time scale).
    pub simulated: Vec<String>,
    /// Files that could not be used.
    pub problems: Vec<String>,
    /// The files rendered, in order.
    pub files: Vec<(String, Kind)>,
    pub sections: Vec<Section>,
}

/// One file, or one trend across files.
#[derive(Debug, Clone)]
pub struct Section {
    /// Anchor id (letters, digits, dashes).
    pub id: String,
    pub heading: String,
    /// Timestamp, status and the like.
    pub subtitle: Vec<String>,
    pub blocks: Vec<Block>,
}

/// A piece of a section.
#[derive(Debug, Clone)]
pub enum Block {
    /// The file's key numbers: (label, value with unit).
    Headline(Vec<(String, String)>),
    /// A remark the reader should see (a degraded chart, a simulated target).
    Note(String),
    /// Verdicts against the Performance Targets, with what they assume.
    Verdicts {
        note: Option<String>,
        rows: Vec<VerdictRow>,
    },
    /// A chart and the table of its data.
    Chart {
        svg: String,
        table: Table,
    },
    Table(Table),
}

/// A table with a caption; every cell already formatted with its unit in the header.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub caption: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Builds the report of `files`; `baseline` names the file trends compare against.
pub fn build(
    files: &[LoadedFile],
    problems: &[FileProblem],
    baseline: Option<&std::path::Path>,
) -> Document {
    let mut sections = Vec::new();
    for (index, file) in files.iter().enumerate() {
        sections.push(run_section(index, file));
    }
    for (index, group) in trend::groups(files, baseline).iter().enumerate() {
        sections.push(trend_section(&format!("trend-{}", index + 1), group));
    }
    // One line per distinct simulator setting, naming its files: a suite run of three
    // scenarios shows one line, not three copies.
    let mut notes: Vec<(String, Vec<String>)> = Vec::new();
    for loaded in files {
        if let Some(note) = loaded.file.provenance().and_then(model::simulated_note) {
            match notes.iter_mut().find(|(n, _)| *n == note) {
                Some((_, labels)) => labels.push(loaded.label.clone()),
                None => notes.push((note, vec![loaded.label.clone()])),
            }
        }
    }
    let simulated = notes
        .into_iter()
        .map(|(note, labels)| format!("{note} ({})", labels.join(", ")))
        .collect();
    Document {
        title: "ollabench report".to_string(),
        simulated,
        problems: problems.iter().map(|p| p.to_string()).collect(),
        files: files
            .iter()
            .map(|f| (f.label.clone(), f.file.kind))
            .collect(),
        sections,
    }
}

/// Letters and digits of `text`, the rest as dashes: a safe HTML id.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// `12.3 s`, or `-` when not recorded.
fn with_unit(value: Option<f64>, unit: &str) -> String {
    match value {
        Some(v) if v.is_finite() => {
            if unit == "%" {
                format!("{}%", fmt_num(v))
            } else {
                format!("{} {unit}", fmt_num(v))
            }
        }
        _ => "-".to_string(),
    }
}

/// The headline's success rate: `-` where the file did not record one.
fn success_rate(recorded_fields: &Recorded, rate: f64) -> (String, String) {
    (
        "Success rate".into(),
        with_unit(recorded_fields.success_rate.then_some(rate), "%"),
    )
}

fn num(value: Option<f64>) -> String {
    value.map(fmt_num).unwrap_or_else(|| "-".to_string())
}

fn ms(value: Option<f64>) -> String {
    value
        .map(|v| fmt_num(v * 1000.0))
        .unwrap_or_else(|| "-".to_string())
}

/// Bytes in GB (10^9 bytes), two decimals.
fn gigabytes(bytes: Option<u64>) -> String {
    bytes
        .map(|b| format!("{:.2}", b as f64 / 1e9))
        .unwrap_or_else(|| "-".into())
}

fn count(value: Option<impl ToString>) -> String {
    value
        .map(|v| v.to_string())
        .unwrap_or_else(|| "-".to_string())
}

fn text(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".to_string())
}

fn run_section(index: usize, loaded: &LoadedFile) -> Section {
    let file = &loaded.file;
    let id = format!("file-{}-{}", index + 1, slug(&loaded.label));
    let mut subtitle = vec![format!("{} result", file.kind.label())];
    if let Some(timestamp) = file.timestamp_text() {
        subtitle.push(format!("Timestamp {timestamp}"));
    }
    if let Some(status) = &file.recorded.status {
        subtitle.push(format!("Status {status}"));
    }
    let mut blocks = Vec::new();
    if let Some(note) = file.provenance().and_then(model::simulated_note) {
        blocks.push(Block::Note(note));
    }
    let mut body = Vec::new();
    match &file.body {
        Body::SingleUser(result) => single_user_blocks(&id, result, &mut body),
        Body::TokensPerSecond(result) => tps_blocks(&id, result, &file.recorded, &mut body),
        Body::MultiUser(result) => multi_user_blocks(&id, result, &file.recorded, &mut body),
        Body::Comparison(report) => comparison_blocks(&id, report, &mut body),
        Body::Load(result) => super::capacity::load_blocks(&id, result, &mut body),
        Body::Capacity(result) => super::capacity::capacity_blocks(&id, result, &mut body),
    }
    // Headline numbers first, then their verdicts, then the detail.
    let headline = usize::from(matches!(body.first(), Some(Block::Headline(_))));
    let (rows, note) = super::verdicts::for_file(loaded);
    let verdicts = if !rows.is_empty() {
        Some(Block::Verdicts { note, rows })
    } else {
        note.map(Block::Note)
    };
    if let Some(verdicts) = verdicts {
        body.insert(headline, verdicts);
    }
    blocks.extend(body);
    // What the reader had to say about the file (a Timestamp it did not understand, objects
    // PowerShell cut to text).
    blocks.extend(file.notes.iter().cloned().map(Block::Note));
    let errors = file.errors();
    if !errors.is_empty() {
        blocks.push(Block::Table(Table {
            caption: format!("Errors ({})", errors.len()),
            headers: vec![
                "Phase".into(),
                "Kind".into(),
                "Message".into(),
                "What to try".into(),
            ],
            rows: errors
                .iter()
                .map(|e| {
                    vec![
                        e.phase.clone(),
                        e.kind.clone(),
                        e.message.clone(),
                        e.hint.clone(),
                    ]
                })
                .collect(),
        }));
    }
    provenance_blocks(file, &mut blocks);
    Section {
        id,
        heading: loaded.label.clone(),
        subtitle,
        blocks,
    }
}

fn single_user_blocks(id: &str, result: &SingleUserResult, blocks: &mut Vec<Block>) {
    let m = &result.measurements;
    blocks.push(Block::Headline(vec![
        ("Model".into(), text(&recorded(&result.model))),
        ("Download".into(), with_unit(m.download_time_seconds, "s")),
        ("Cold load".into(), with_unit(m.load_time_cold_seconds, "s")),
        ("Warm load".into(), with_unit(m.load_time_warm_seconds, "s")),
        (
            "Tokens/second".into(),
            with_unit(m.tokens_per_second, "tok/s"),
        ),
        (
            "Time to first token".into(),
            with_unit(m.time_to_first_token_seconds.map(|s| s * 1000.0), "ms"),
        ),
    ]));
    let download_status = recorded(&m.download_status);
    let load_status = recorded(&m.load_status);
    let phases = [
        (
            "Download",
            m.download_time_seconds,
            &download_status,
            m.download_megabytes_per_second,
        ),
        (
            "Cold load",
            m.load_time_cold_seconds,
            &load_status,
            m.load_megabytes_per_second_cold,
        ),
        ("Warm load", m.load_time_warm_seconds, &load_status, None),
    ];
    let table = Table {
        caption: "Download and load times".into(),
        headers: vec![
            "Phase".into(),
            "Time (s)".into(),
            "Status".into(),
            "Rate (MB/s)".into(),
        ],
        rows: phases
            .iter()
            .map(|(name, seconds, status, rate)| {
                vec![name.to_string(), num(*seconds), text(status), num(*rate)]
            })
            .chain(std::iter::once(vec![
                "Total (download + cold load)".into(),
                num(m.total_time_seconds),
                "-".into(),
                "-".into(),
            ]))
            .collect(),
    };
    let measured: Vec<(String, f64)> = phases
        .iter()
        .filter_map(|(name, seconds, _, _)| seconds.map(|s| (name.to_string(), s)))
        .collect();
    if measured.is_empty() {
        blocks.push(Block::Note(
            "No download or load time was recorded in this file.".into(),
        ));
        blocks.push(Block::Table(table));
        return;
    }
    let svg = svg::bar_chart(
        &ChartMeta {
            id: format!("{id}-phases"),
            kind: "bars",
            title: "Download and load times".into(),
            x_label: "Phase".into(),
            y_label: "Time (s)".into(),
        },
        &measured.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        &[BarSeries {
            name: "time".into(),
            values: measured
                .iter()
                .map(|(_, s)| {
                    Some(BarValue {
                        value: *s,
                        min: None,
                        max: None,
                        std_dev: None,
                    })
                })
                .collect(),
        }],
        "s",
    );
    blocks.push(Block::Chart { svg, table });
}

/// Distinct values in first-seen order.
fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.iter().any(|o| o == item) {
            out.push(item.to_string());
        }
    }
    out
}

fn tps_blocks(id: &str, result: &TpsResult, recorded_fields: &Recorded, blocks: &mut Vec<Block>) {
    let summary = &result.summary;
    let range = match (
        summary.overall_min_tokens_per_second,
        summary.overall_max_tokens_per_second,
    ) {
        (Some(min), Some(max)) => format!(" (min {}, max {})", fmt_num(min), fmt_num(max)),
        _ => String::new(),
    };
    blocks.push(Block::Headline(vec![
        (
            "Average tokens/second".into(),
            format!(
                "{}{range}",
                with_unit(summary.overall_average_tokens_per_second, "tok/s")
            ),
        ),
        (
            "Tests (model x prompt)".into(),
            count(Some(summary.total_tests)),
        ),
        ("Samples".into(), count(Some(summary.total_samples))),
        (
            "Failed requests".into(),
            count(
                recorded_fields
                    .failed_requests
                    .then_some(summary.failed_requests),
            ),
        ),
        success_rate(recorded_fields, summary.success_rate),
        (
            "Median time to first token".into(),
            with_unit(
                summary
                    .overall_median_time_to_first_token_seconds
                    .map(|s| s * 1000.0),
                "ms",
            ),
        ),
    ]));
    let config = &result.configuration;
    let mut settings = Vec::new();
    // A configuration is recorded when it says how many tokens or runs; then its zeros are
    // zeros (no warmup), not gaps.
    if config.generation_tokens > 0 || config.measurement_runs > 0 {
        settings.push(format!("{} generation tokens", config.generation_tokens));
        settings.push(format!("{} warmup runs", config.warmup_runs));
        settings.push(format!("{} measurement runs", config.measurement_runs));
    }
    if !config.concurrency_levels.is_empty() {
        let levels: Vec<String> = config
            .concurrency_levels
            .iter()
            .map(|l| l.to_string())
            .collect();
        settings.push(format!("concurrency levels {}", levels.join(", ")));
    }
    if let Some(source) = recorded(&config.tokens_per_second_source) {
        settings.push(format!("tok/s measured {source}-side"));
    }
    if !settings.is_empty() {
        blocks.push(Block::Note(format!(
            "Configuration: {}.",
            settings.join(", ")
        )));
    }
    let cells = model::cells(result);
    if cells.is_empty() {
        blocks.push(Block::Note(
            "This file records no per-model results (ModelResults is empty or missing).".into(),
        ));
        return;
    }
    throughput_chart(id, &cells, blocks);
    latency_cdf_chart(&TTFT_CDF, id, &cells, blocks);
    latency_cdf_chart(&ITL_CDF, id, &cells, blocks);
    scaling_charts(id, result, blocks);
}

fn throughput_chart(id: &str, cells: &[Cell], blocks: &mut Vec<Block>) {
    let models = distinct(cells.iter().map(|c| c.model));
    let prompts = distinct(cells.iter().map(|c| c.prompt_length()));
    let series: Vec<BarSeries> = prompts
        .iter()
        .map(|prompt| BarSeries {
            name: prompt.clone(),
            values: models
                .iter()
                .map(|model| {
                    cells
                        .iter()
                        .find(|c| c.model == model && c.prompt_length() == prompt)
                        .and_then(|c| {
                            let s = &c.result.statistics;
                            Some(BarValue {
                                value: s.average_tokens_per_second?,
                                min: s.min_tokens_per_second,
                                max: s.max_tokens_per_second,
                                std_dev: s.std_dev_tokens_per_second,
                            })
                        })
                })
                .collect(),
        })
        .collect();
    let table = Table {
        caption: "Tokens per second by model and prompt length".into(),
        headers: [
            "Model",
            "Prompt",
            "Mean (tok/s)",
            "Min (tok/s)",
            "Max (tok/s)",
            "Std dev (tok/s)",
            "CV (%)",
            "Stability",
            "Samples",
        ]
        .map(String::from)
        .to_vec(),
        rows: cells
            .iter()
            .map(|c| {
                let s = &c.result.statistics;
                vec![
                    c.model.to_string(),
                    c.prompt_length().to_string(),
                    num(s.average_tokens_per_second),
                    num(s.min_tokens_per_second),
                    num(s.max_tokens_per_second),
                    num(s.std_dev_tokens_per_second),
                    num(s.coefficient_of_variation_percent),
                    text(&s.stability.map(|w| model::stability_word(w).to_string())),
                    count(Some(s.sample_size)),
                ]
            })
            .collect(),
    };
    if series.iter().all(|s| s.values.iter().all(Option::is_none)) {
        blocks.push(Block::Note(
            "No successful tokens-per-second sample was recorded.".into(),
        ));
        blocks.push(Block::Table(table));
        return;
    }
    let empty: Vec<String> = cells
        .iter()
        .filter(|c| c.result.statistics.average_tokens_per_second.is_none())
        .map(|c| match &c.result.requests {
            requests if requests.attempted > 0 => format!(
                "{} ({} of {} requests failed)",
                c.name(),
                requests.failed,
                requests.attempted
            ),
            _ => c.name(),
        })
        .collect();
    if !empty.is_empty() {
        blocks.push(Block::Note(format!(
            "No successful sample, so no bar, for: {}. See Errors below.",
            empty.join("; ")
        )));
    }
    let svg = svg::bar_chart(
        &ChartMeta {
            id: format!("{id}-throughput"),
            kind: "bars",
            title: "Tokens per second by model and prompt length".into(),
            x_label: "Model".into(),
            y_label: "Tokens per second (tok/s, mean)".into(),
        },
        &models,
        &series,
        "tok/s",
    );
    blocks.push(Block::Chart { svg, table });
}

fn distribution_row(name: String, summary: Option<&Summary>) -> Vec<String> {
    let Some(s) = summary else {
        let mut row = vec![name];
        row.extend(std::iter::repeat_n("-".to_string(), 8));
        return row;
    };
    let finite = |v: f64| Some(v).filter(|v| v.is_finite());
    vec![
        name,
        count(Some(s.n)),
        ms(finite(s.mean)),
        ms(finite(s.min)),
        ms(finite(s.median)),
        ms(finite(s.p90)),
        ms(finite(s.p95)),
        ms(finite(s.p99)),
        ms(finite(s.max)),
    ]
}

fn distribution_headers(first: &str) -> Vec<String> {
    [
        first,
        "N",
        "Mean (ms)",
        "Min (ms)",
        "Median (ms)",
        "P90 (ms)",
        "P95 (ms)",
        "P99 (ms)",
        "Max (ms)",
    ]
    .map(String::from)
    .to_vec()
}

/// One latency of the cells drawn as a cumulative distribution, with the table of its
/// percentiles: TTFT and ITL differ only in these words and in where the numbers come from.
struct LatencyCdf {
    /// The chart id's suffix.
    id: &'static str,
    caption: &'static str,
    title: &'static str,
    x_label: &'static str,
    y_label: &'static str,
    /// The cell's recorded percentiles, in seconds.
    summary: for<'c> fn(&'c Cell<'c>) -> Option<&'c Summary>,
    /// Which distribution [`Cell::latency_cdf`] draws.
    latency: model::Latency,
    /// The note shown when some curve falls back to the recorded percentiles (a file
    /// without histograms or samples).
    fallback_note: &'static str,
}

const TTFT_CDF: LatencyCdf = LatencyCdf {
    id: "ttft",
    caption: "Time to first token (TTFT)",
    title: "Time to first token: cumulative distribution",
    x_label: "Time to first token (ms)",
    y_label: "Requests at or below (%)",
    summary: |c| c.result.metrics.time_to_first_token_seconds.as_ref(),
    latency: model::Latency::TimeToFirstToken,
    fallback_note: "Some TTFT curves are drawn through the recorded percentiles (min, median, p90, p95, p99, max): the file holds no histogram or per-request samples for them.",
};

const ITL_CDF: LatencyCdf = LatencyCdf {
    id: "itl",
    caption: "Inter-token latency (ITL)",
    title: "Inter-token latency: cumulative distribution",
    x_label: "Gap between tokens (ms)",
    y_label: "Gaps at or below (%)",
    summary: |c| c.result.metrics.inter_token_latency_seconds.as_ref(),
    latency: model::Latency::InterTokenLatency,
    fallback_note: "Some ITL curves are drawn through the recorded percentiles (min, median, p90, p95, p99, max): the file holds no histogram for them.",
};

fn latency_cdf_chart(spec: &LatencyCdf, id: &str, cells: &[Cell], blocks: &mut Vec<Block>) {
    let mut from_quantiles = false;
    let mut series: Vec<LineSeries> = cells
        .iter()
        .filter_map(|c| {
            let whole = c.latency_cdf(spec.latency);
            if !whole.is_empty() {
                return Some(LineSeries {
                    step: true,
                    ..LineSeries::line(c.name(), whole)
                });
            }
            let points: Vec<(f64, f64)> = model::quantile_points((spec.summary)(c)?)
                .into_iter()
                .map(|(v, share)| (v * 1000.0, share))
                .collect();
            from_quantiles = true;
            (!points.is_empty()).then(|| LineSeries::line(c.name(), points))
        })
        .collect();
    if series.is_empty() {
        return;
    }
    let tail_note = cut_long_tails(&mut series);
    let table = Table {
        caption: spec.caption.into(),
        headers: distribution_headers("Model / prompt"),
        rows: cells
            .iter()
            .map(|c| distribution_row(c.name(), (spec.summary)(c)))
            .collect(),
    };
    let svg = svg::line_chart(
        &ChartMeta {
            id: format!("{id}-{}", spec.id),
            kind: "cdf",
            title: spec.title.into(),
            x_label: spec.x_label.into(),
            y_label: spec.y_label.into(),
        },
        &series,
        &XAxis::Linear {
            from_zero: false,
            integer: false,
        },
        true,
        Some(100.0),
    );
    if from_quantiles {
        blocks.push(Block::Note(spec.fallback_note.into()));
    }
    blocks.extend(tail_note.map(Block::Note));
    blocks.push(Block::Chart { svg, table });
}

/// Ends the x axis of cumulative distributions at the largest p99 when a rare tail would
/// otherwise squeeze every curve against the left edge (the tail reaching more than twice as
/// far): each curve stops at the cut with the share it reached there. Returns the note that
/// says so; the tail's values stay in the table.
fn cut_long_tails(series: &mut [LineSeries]) -> Option<String> {
    let p99 = |points: &[(f64, f64)]| points.iter().find(|(_, share)| *share >= 99.0).map(|p| p.0);
    let cut = series
        .iter()
        .filter_map(|s| p99(&s.points))
        .fold(f64::NEG_INFINITY, f64::max);
    let end = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(f64::NEG_INFINITY, f64::max);
    if !(cut.is_finite() && cut > 0.0 && end > 2.0 * cut) {
        return None;
    }
    for serie in series.iter_mut() {
        let reached = serie
            .points
            .iter()
            .take_while(|(x, _)| *x <= cut)
            .last()
            .map(|p| p.1);
        let before = serie.points.len();
        serie.points.retain(|(x, _)| *x <= cut);
        // Only a curve that was cut gets a last point at the cut.
        if let Some(share) = reached.filter(|_| serie.points.len() < before) {
            serie.points.push((cut, share));
        }
    }
    Some(format!(
        "The x axis ends at {} ms, the largest p99: a few slower values (up to {} ms) would \
         squeeze every curve against the left edge. They are in the table.",
        fmt_num(cut),
        fmt_num(end)
    ))
}

fn scaling_charts(id: &str, result: &TpsResult, blocks: &mut Vec<Block>) {
    // A level of 0 requests is none the file recorded.
    let concurrency: Vec<&ConcurrencyResult> = result
        .concurrency
        .iter()
        .filter(|c| c.concurrent_requests > 0)
        .collect();
    if concurrency.is_empty() {
        return;
    }
    let keys = distinct_pairs(&concurrency);
    let mut aggregate = Vec::new();
    let mut efficiency = Vec::new();
    for (model, prompt) in &keys {
        let mut levels: Vec<&ConcurrencyResult> = concurrency
            .iter()
            .copied()
            .filter(|c| &c.model == model && &c.prompt_length == prompt)
            .collect();
        levels.sort_by_key(|c| c.concurrent_requests);
        let name = if prompt.is_empty() {
            model.clone()
        } else {
            format!("{model} / {prompt}")
        };
        let curve = |value: fn(&ConcurrencyResult) -> Option<f64>| -> Vec<(f64, f64)> {
            levels
                .iter()
                .filter_map(|c| Some((c.concurrent_requests as f64, value(c)?)))
                .collect()
        };
        aggregate.push(LineSeries::line(
            name.clone(),
            curve(|c| c.aggregate_tokens_per_second),
        ));
        efficiency.push(LineSeries::line(name, curve(|c| c.efficiency_percent)));
    }
    let table = scaling_table("Concurrency scaling", &concurrency, &[0, 1, 2, 3, 4, 5, 6]);
    let max_level = concurrency
        .iter()
        .map(|c| c.concurrent_requests)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    // The ideal: every added request adds a whole single stream (100% efficiency).
    if keys.len() == 1 {
        let single = concurrency
            .iter()
            .find_map(|c| c.single_stream_tokens_per_second);
        if let Some(single) = single {
            aggregate.push(LineSeries::reference(
                "ideal: N x single stream",
                vec![(0.0, 0.0), (max_level, single * max_level)],
            ));
        }
    }
    efficiency.push(LineSeries::reference(
        "100% (linear scaling)",
        vec![(0.0, 100.0), (max_level, 100.0)],
    ));
    let has_aggregate = aggregate
        .iter()
        .any(|s| !s.reference && !s.points.is_empty());
    let has_efficiency = efficiency
        .iter()
        .any(|s| !s.reference && !s.points.is_empty());
    // Both charts put the concurrent requests on x and start y at 0.
    let scaling_chart = |suffix: &str, title: &str, y_label: &str, series: &[LineSeries]| {
        svg::line_chart(
            &ChartMeta {
                id: format!("{id}-scaling-{suffix}"),
                kind: "scaling",
                title: title.into(),
                x_label: "Concurrent requests (N)".into(),
                y_label: y_label.into(),
            },
            series,
            &XAxis::Linear {
                from_zero: true,
                integer: true,
            },
            true,
            None,
        )
    };
    if has_aggregate {
        let svg = scaling_chart(
            "aggregate",
            "Aggregate throughput against concurrent requests",
            "Aggregate throughput (tok/s)",
            &aggregate,
        );
        blocks.push(Block::Chart {
            svg,
            table: table.clone(),
        });
    }
    if has_efficiency {
        let svg = scaling_chart(
            "efficiency",
            "Scaling efficiency against concurrent requests",
            "Efficiency (% of N x single stream)",
            &efficiency,
        );
        let table = scaling_table("Scaling efficiency", &concurrency, &[0, 1, 5, 6]);
        blocks.push(Block::Chart { svg, table });
    }
    if !has_aggregate && !has_efficiency {
        blocks.push(Block::Table(table));
    }
}

/// A column of a table: its header and a row's cell.
type Column<T> = (&'static str, fn(&T) -> String);

/// The columns a scaling table can show, one row per concurrency level.
const SCALING_COLUMNS: [Column<ConcurrencyResult>; 7] = [
    ("Model / prompt", |c| {
        format!("{} / {}", c.model, c.prompt_length)
    }),
    ("Concurrent requests", |c| c.concurrent_requests.to_string()),
    ("Aggregate (tok/s)", |c| num(c.aggregate_tokens_per_second)),
    ("Per request (tok/s)", |c| {
        num(c.per_request_tokens_per_second)
    }),
    ("Single stream (tok/s)", |c| {
        num(c.single_stream_tokens_per_second)
    }),
    ("Efficiency (%)", |c| num(c.efficiency_percent)),
    ("Assessment", |c| text(&recorded(&c.assessment))),
];

/// A table of the [`SCALING_COLUMNS`] numbered in `columns`.
fn scaling_table(caption: &str, concurrency: &[&ConcurrencyResult], columns: &[usize]) -> Table {
    let columns: Vec<_> = columns.iter().map(|&i| SCALING_COLUMNS[i]).collect();
    Table {
        caption: caption.into(),
        headers: columns
            .iter()
            .map(|(header, _)| header.to_string())
            .collect(),
        rows: concurrency
            .iter()
            .map(|c| columns.iter().map(|(_, cell)| cell(c)).collect())
            .collect(),
    }
}

fn distinct_pairs(concurrency: &[&ConcurrencyResult]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for c in concurrency {
        let key = (c.model.clone(), c.prompt_length.clone());
        if !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

const PHASES: [&str; 3] = ["download", "load", "generate"];

fn multi_user_blocks(
    id: &str,
    result: &MultiUserResult,
    recorded_fields: &Recorded,
    blocks: &mut Vec<Block>,
) {
    let summary = &result.summary;
    let scaling = &result.scaling;
    blocks.push(Block::Headline(vec![
        ("Concurrent users".into(), count(read::users(result))),
        (
            "Overall duration".into(),
            with_unit(Some(summary.overall_duration_seconds), "s"),
        ),
        success_rate(recorded_fields, summary.success_rate),
        (
            "Average download".into(),
            with_unit(summary.average_download_time_seconds, "s"),
        ),
        (
            "Average load".into(),
            with_unit(summary.average_load_time_seconds, "s"),
        ),
        (
            "Average throughput".into(),
            with_unit(summary.average_throughput_tokens_per_second, "tok/s"),
        ),
        (
            "Efficiency".into(),
            with_unit(scaling.efficiency_percent, "%"),
        ),
        (
            "Speedup".into(),
            scaling
                .speedup
                .map(|s| format!("{}x", fmt_num(s)))
                .unwrap_or_else(|| "-".into()),
        ),
    ]));
    let mut notes = Vec::new();
    if let Some(single) = scaling.single_user_time_seconds {
        let source = recorded(&scaling.baseline_source)
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        notes.push(format!(
            "Efficiency compares against one user's {} s{source}.",
            fmt_num(single)
        ));
    }
    if let Some(assessment) = recorded(&scaling.assessment) {
        notes.push(format!("Scaling: {assessment}."));
    }
    if let Some(assessment) = recorded(&scaling.contention_assessment) {
        notes.push(format!("Contention: {assessment}."));
    }
    if !notes.is_empty() {
        blocks.push(Block::Note(notes.join(" ")));
    }
    let table = Table {
        caption: "Download and load times across users".into(),
        headers: vec![
            "Phase".into(),
            "Average (s)".into(),
            "Min (s)".into(),
            "Max (s)".into(),
            "Succeeded".into(),
        ],
        rows: vec![
            vec![
                "Download".into(),
                num(summary.average_download_time_seconds),
                num(summary.min_download_time_seconds),
                num(summary.max_download_time_seconds),
                count(Some(summary.successful_downloads)),
            ],
            vec![
                "Load".into(),
                num(summary.average_load_time_seconds),
                num(summary.min_load_time_seconds),
                num(summary.max_load_time_seconds),
                count(Some(summary.successful_loads)),
            ],
        ],
    };
    blocks.push(Block::Table(table));
    let table = Table {
        caption: "Users".into(),
        headers: [
            "User",
            "Model",
            "Download (s)",
            "Load (s)",
            "Generate (s)",
            "Total (s)",
            "Tokens/second (tok/s)",
            "Status",
        ]
        .map(String::from)
        .to_vec(),
        rows: result
            .individual_results
            .iter()
            .enumerate()
            .map(|(index, u)| {
                let m = &u.measurements;
                vec![
                    model::user_id(u, index),
                    text(&recorded(&u.model)),
                    num(m.download_time_seconds),
                    num(m.load_time_seconds),
                    num(m.generate_time_seconds),
                    num(m.total_time_seconds),
                    num(m.tokens_per_second),
                    user_status(u),
                ]
            })
            .collect(),
    };
    let mut any_recorded = false;
    let rows: Vec<svg::TimelineRow> = result
        .individual_results
        .iter()
        .enumerate()
        .map(|(index, u)| {
            let (phases, offsets) = model::phases(&u.measurements);
            any_recorded |= offsets;
            let user = model::user_id(u, index);
            svg::TimelineRow {
                label: match recorded(&u.model) {
                    Some(model) => format!("user {user} ({model})"),
                    None => format!("user {user}"),
                },
                segments: phases
                    .into_iter()
                    .map(|(phase, start, end)| svg::Segment { phase, start, end })
                    .collect(),
            }
        })
        .collect();
    if rows.iter().all(|r| r.segments.is_empty()) {
        if result.individual_results.is_empty() {
            blocks.push(Block::Note("This file records no individual users.".into()));
        } else {
            blocks.push(Block::Table(table));
        }
        return;
    }
    if !any_recorded {
        blocks.push(Block::Note(
            "This file records durations, not start times: each user's phases are drawn end to end from 0 s, so overlaps between users are not shown.".into(),
        ));
    }
    let svg = svg::timeline_chart(
        &ChartMeta {
            id: format!("{id}-timeline"),
            kind: "timeline",
            title: "Multi-user timeline: download, load and generate per user".into(),
            x_label: "Time since the common start (s)".into(),
            y_label: "User".into(),
        },
        &rows,
        &PHASES,
    );
    blocks.push(Block::Chart { svg, table });
}

/// One word when every phase ended the same way, else each phase's status.
fn user_status(user: &UserResult) -> String {
    let m = &user.measurements;
    let phases = [
        ("download", &m.download_status),
        ("load", &m.load_status),
        ("generate", &m.generate_status),
    ];
    let statuses: Vec<(&str, String)> = phases
        .iter()
        .filter_map(|(name, status)| recorded(status).map(|s| (*name, s)))
        .collect();
    match statuses.first() {
        None => "-".to_string(),
        Some((_, first)) if statuses.iter().all(|(_, s)| s == first) => first.to_string(),
        Some(_) => statuses
            .iter()
            .map(|(name, status)| format!("{name} {status}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn comparison_blocks(id: &str, report: &ComparisonFile, blocks: &mut Vec<Block>) {
    let groups = trend::comparison_groups(report);
    blocks.push(Block::Headline(vec![
        ("Runs compared".into(), report.runs.len().to_string()),
        ("Trends".into(), groups.len().to_string()),
    ]));
    if groups.is_empty() {
        blocks.push(Block::Note(
            "This comparison report records no runs with metrics.".into(),
        ));
    }
    for (index, group) in groups.iter().enumerate() {
        let section = trend_section(&format!("{id}-trend-{}", index + 1), group);
        blocks.push(Block::Note(section.heading.clone()));
        blocks.extend(section.blocks);
    }
}

fn trend_section(id: &str, group: &TrendGroup) -> Section {
    let mut blocks = Vec::new();
    let labels: Vec<String> = group.runs.iter().map(|r| r.axis_label()).collect();
    blocks.push(Block::Table(Table {
        caption: "Runs in this trend (ordered by Timestamp)".into(),
        headers: vec!["#".into(), "Run".into(), "Timestamp".into(), "Role".into()],
        rows: group
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                vec![
                    (i + 1).to_string(),
                    r.label.clone(),
                    text(&r.timestamp),
                    if i == group.baseline {
                        "baseline".into()
                    } else {
                        "-".into()
                    },
                ]
            })
            .collect(),
    }));
    for (chart_index, chart) in group.charts.iter().enumerate() {
        // The axis starts at zero, so that a small change looks small, and the change itself
        // is written where the eye goes: in the legend, or the title of a one-line chart.
        let series: Vec<LineSeries> = chart
            .lines
            .iter()
            .map(|line| {
                LineSeries::line(
                    format!(
                        "{} ({} vs baseline)",
                        line.subject,
                        line.change_text(group.baseline)
                    ),
                    line.values
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.map(|v| (i as f64, v)))
                        .collect(),
                )
            })
            .collect();
        let unit_text = if chart.unit.is_empty() {
            String::new()
        } else {
            format!(" ({})", chart.unit)
        };
        let svg = svg::line_chart(
            &ChartMeta {
                id: format!("{id}-{}", chart_index + 1),
                kind: "trend",
                title: match chart.lines.as_slice() {
                    [only] if group.runs.len() > 1 => format!(
                        "{} across runs ({} last vs baseline)",
                        chart.metric,
                        only.change_text(group.baseline)
                    ),
                    _ => format!("{} across runs", chart.metric),
                },
                x_label: "Run (ordered by Timestamp)".into(),
                y_label: format!("{}{unit_text}", chart.metric),
            },
            &series,
            &XAxis::Categories {
                labels: labels.clone(),
                marked: Some(group.baseline),
                mark_label: "baseline".into(),
            },
            true,
            None,
        );
        let mut headers = vec!["Run".to_string()];
        headers.extend(
            chart
                .lines
                .iter()
                .map(|l| format!("{}{unit_text}", l.subject)),
        );
        let mut rows: Vec<Vec<String>> = group
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut row = vec![if i == group.baseline {
                    format!("{} (baseline)", r.label)
                } else {
                    r.label.clone()
                }];
                row.extend(
                    chart
                        .lines
                        .iter()
                        .map(|l| num(l.values.get(i).copied().flatten())),
                );
                row
            })
            .collect();
        if group.runs.len() > 1 {
            let mut change = vec!["Last vs baseline".to_string()];
            change.extend(chart.lines.iter().map(|l| l.change_text(group.baseline)));
            rows.push(change);
        }
        blocks.push(Block::Chart {
            svg,
            table: Table {
                caption: format!("{}{unit_text}", chart.metric),
                headers,
                rows,
            },
        });
    }
    Section {
        id: id.to_string(),
        heading: format!("Trend: {}", group.name),
        subtitle: vec![format!("{} runs", group.runs.len())],
        blocks,
    }
}

fn provenance_blocks(file: &ResultFile, blocks: &mut Vec<Block>) {
    let Some(p) = file.provenance() else {
        blocks.push(Block::Note(
            "Provenance not recorded: this file comes from the PowerShell suite or an older tool (no server version, model digest or GPU residency).".into(),
        ));
        return;
    };
    let simulated = if p.simulated {
        format!(
            "yes (profile {}, time scale {})",
            p.simulator_profile.as_deref().unwrap_or("unknown"),
            p.simulator_time_scale
                .map(|s| s.to_string())
                .unwrap_or_else(|| "1".into())
        )
    } else {
        "no".into()
    };
    let rows = vec![
        vec![
            "ollabench version".into(),
            text(&recorded(&p.ollabench_version)),
        ],
        vec!["Server version".into(), text(&p.server_version)],
        vec!["API".into(), text(&recorded(&p.api))],
        vec!["Endpoint".into(), text(&recorded(&p.endpoint))],
        vec![
            "Endpoint found by".into(),
            text(&recorded(&p.endpoint_resolved_by)),
        ],
        vec!["Simulated".into(), simulated],
        vec![
            "Command line".into(),
            if p.command_line.is_empty() {
                "-".into()
            } else {
                p.command_line.join(" ")
            },
        ],
    ];
    blocks.push(Block::Table(Table {
        caption: "Provenance".into(),
        headers: vec!["Item".into(), "Value".into()],
        rows,
    }));
    if !p.models.is_empty() {
        blocks.push(Block::Table(Table {
            caption: "Models".into(),
            headers: [
                "Model",
                "Digest",
                "Parameters",
                "Quantization",
                "On disk (GB)",
                "In memory (GB)",
                "GPU residency",
            ]
            .map(String::from)
            .to_vec(),
            rows: p
                .models
                .iter()
                .map(|m| {
                    vec![
                        m.name.clone(),
                        m.digest
                            .as_deref()
                            .map(|d| d.trim_start_matches("sha256:").chars().take(12).collect())
                            .unwrap_or_else(|| "-".into()),
                        text(&m.parameter_size),
                        text(&m.quantization),
                        gigabytes(m.size_bytes),
                        gigabytes(m.loaded_size_bytes),
                        model::residency(m),
                    ]
                })
                .collect(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_safe_ids() {
        assert_eq!(
            slug("results-1/single user.json"),
            "results-1-single-user-json"
        );
        assert_eq!(slug("../x"), "x");
    }

    #[test]
    fn a_rare_long_tail_does_not_squeeze_the_curves() {
        let mut points: Vec<(f64, f64)> = (1..=100)
            .map(|i| (10.0 + i as f64 / 10.0, i as f64))
            .collect();
        points.push((600.0, 100.0));
        points[99].1 = 99.5;
        let mut series = vec![
            LineSeries::line("a", points),
            LineSeries::line("b", vec![(5.0, 0.0), (12.0, 100.0)]),
        ];
        let note = cut_long_tails(&mut series).expect("a 600 ms tail past a 19.9 ms p99 is cut");
        assert!(
            note.contains("19.90 ms") && note.contains("600.00 ms"),
            "{note}"
        );
        let last = *series[0].points.last().unwrap();
        assert_eq!(last, (19.9, 99.0));
        assert!(series.iter().flat_map(|s| &s.points).all(|p| p.0 <= 19.9));
        assert_eq!(series[1].points.len(), 2, "a curve inside the cut is whole");
        let mut short = vec![LineSeries::line("c", vec![(5.0, 0.0), (9.0, 100.0)])];
        assert!(cut_long_tails(&mut short).is_none());
    }

    #[test]
    fn empirical_cdfs_end_at_100_percent() {
        assert_eq!(
            model::empirical_cdf(&[0.2]),
            vec![(200.0, 0.0), (200.0, 100.0)]
        );
        let points = model::empirical_cdf(&[0.3, 0.1, f64::NAN]);
        assert_eq!(points, vec![(100.0, 0.0), (100.0, 50.0), (300.0, 100.0)]);
        assert!(model::empirical_cdf(&[]).is_empty());
    }

    #[test]
    fn missing_values_show_as_dashes() {
        assert_eq!(with_unit(None, "s"), "-");
        assert_eq!(with_unit(Some(f64::NAN), "s"), "-");
        assert_eq!(with_unit(Some(99.5), "%"), "99.50%");
        assert_eq!(with_unit(Some(2.0), "s"), "2.00 s");
    }
}

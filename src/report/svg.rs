//! Chart primitives drawn as inline SVG text: bars with whiskers, line charts (trends, CDFs,
//! scaling curves) and a timeline of phases. No JavaScript and no external resources: each
//! function returns one self-contained `<svg>` element.
//!
//! Every chart carries a title, axis labels with units, a legend where there is more than one
//! series, and `class="chart" data-chart=KIND data-points=N` so that a browser test can check
//! that each chart exists and drew data. Colours come from the Okabe-Ito palette, which stays
//! distinguishable under the common colour-vision deficiencies, extended by three of Paul Tol's
//! (wine, indigo, olive) so that eleven series get eleven colours (a tokens-per-second file of
//! three models and three prompt lengths draws nine). Line series also differ by marker shape
//! (five) and dash pattern (four); 11, 5 and 4 share no factor, so no two of the first 220
//! series look alike and colour is never the only cue.
//!
//! Degenerate input draws sensibly: one value gets a padded axis around it, a zero-width range
//! gets a unit range, and non-finite values are skipped (never NaN in the output).

use std::fmt::Write;

/// Okabe-Ito's eight colours, then Paul Tol's wine, indigo and olive, in the order series
/// use them.
pub const PALETTE: [&str; 11] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
    "#882255", "#332288", "#999933",
];

/// Marker shapes: circle, square, triangle, diamond, triangle pointing down.
const MARKERS: usize = 5;

/// The colour of series `index` (cycles through [`PALETTE`]).
pub fn colour(index: usize) -> &'static str {
    PALETTE[index % PALETTE.len()]
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 380.0;
const MARGIN_LEFT: f64 = 72.0;
const MARGIN_RIGHT: f64 = 20.0;
const TITLE_BAND: f64 = 34.0;
const LEGEND_LINE: f64 = 18.0;
const AXIS_TEXT: &str = "#222";
const GRID: &str = "#ddd";

/// What every chart needs: a stable id, a title and axis labels with units.
#[derive(Debug, Clone)]
pub struct ChartMeta {
    /// Unique within the page; becomes `id="chart-{id}"`.
    pub id: String,
    /// What the chart is (`bars`, `cdf`, `scaling`, `timeline`, `trend`): `data-chart`.
    pub kind: &'static str,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
}

/// Escapes text for SVG and HTML.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A number for display: two decimals from 1 up (as the reference's files round), more
/// below 1 so that small latencies keep three significant digits.
pub fn fmt_num(value: f64) -> String {
    if !value.is_finite() {
        return "-".to_string();
    }
    let magnitude = value.abs();
    let text = if magnitude == 0.0 {
        "0".to_string()
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else if magnitude >= 0.1 {
        format!("{value:.3}")
    } else if magnitude >= 0.0001 {
        format!("{value:.4}")
    } else {
        format!("{value:.2e}")
    };
    unsigned_zero(text)
}

/// `-0.00` as `0.00`: a value that rounds to zero has no sign.
fn unsigned_zero(text: String) -> String {
    if text.starts_with('-') && text.trim_start_matches(['-', '0', '.']).is_empty() {
        text[1..].to_string()
    } else {
        text
    }
}

/// A tick label: as many decimals as the tick step needs.
fn fmt_tick(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 || step <= 0.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    let text = format!("{value:.decimals$}");
    unsigned_zero(text)
}

/// An axis range widened to round ticks. A degenerate range (one value, or all equal) is
/// padded so that the value sits inside the axis rather than on a zero-length one.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub min: f64,
    pub max: f64,
    pub ticks: Vec<f64>,
    pub step: f64,
}

impl Axis {
    /// Round ticks covering `low..=high` (about `count` of them). `from_zero` keeps 0 on the
    /// axis, as bars and throughput need.
    pub fn nice(low: f64, high: f64, count: usize, from_zero: bool) -> Axis {
        let (mut low, mut high) = if low.is_finite() && high.is_finite() && low <= high {
            (low, high)
        } else {
            (0.0, 1.0)
        };
        if from_zero {
            low = low.min(0.0);
            high = high.max(0.0);
        }
        if high - low <= f64::EPSILON * high.abs().max(1.0) {
            let pad = if high.abs() > 0.0 {
                high.abs() * 0.1
            } else {
                1.0
            };
            high += pad;
            if !(from_zero && low == 0.0) {
                low -= pad;
            }
        }
        let raw_step = (high - low) / count.max(1) as f64;
        let magnitude = 10f64.powf(raw_step.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0]
            .iter()
            .map(|m| m * magnitude)
            .find(|s| *s >= raw_step)
            .unwrap_or(10.0 * magnitude);
        let min = (low / step).floor() * step;
        let max = (high / step).ceil() * step;
        let mut ticks = Vec::new();
        let mut tick = min;
        while tick <= max + step * 0.5 && ticks.len() < 50 {
            ticks.push(tick);
            tick += step;
        }
        Axis {
            min,
            max,
            ticks,
            step,
        }
    }

    fn span(&self) -> f64 {
        (self.max - self.min).max(f64::MIN_POSITIVE)
    }
}

/// The plot area of a chart and its mapping from data to pixels.
struct Plot {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Plot {
    /// The plot area of a bar or line chart under a legend `legend_height` high, and the
    /// chart's height; `rotated` category labels take more room below.
    fn below_legend(legend_height: f64, rotated: bool) -> (Plot, f64) {
        let height = HEIGHT + if rotated { 40.0 } else { 0.0 };
        let plot = Plot {
            left: MARGIN_LEFT,
            right: WIDTH - MARGIN_RIGHT,
            top: TITLE_BAND + legend_height + 10.0,
            bottom: height - if rotated { 96.0 } else { 56.0 },
        };
        (plot, height)
    }

    fn x(&self, axis: &Axis, value: f64) -> f64 {
        self.left + (value - axis.min) / axis.span() * (self.right - self.left)
    }
    fn y(&self, axis: &Axis, value: f64) -> f64 {
        self.bottom - (value - axis.min) / axis.span() * (self.bottom - self.top)
    }
}

/// One legend entry: its label and how it is drawn.
struct LegendItem {
    label: String,
    swatch: Swatch,
}

enum Swatch {
    Box(&'static str),
    Line {
        colour: &'static str,
        dash: &'static str,
        marker: usize,
    },
    Whisker,
    StdDev,
}

/// Lays the legend out in rows under the title; returns its SVG and its height.
fn legend(items: &[LegendItem]) -> (String, f64) {
    if items.is_empty() {
        return (String::new(), 0.0);
    }
    let mut out = String::from(r#"<g class="legend" font-size="12">"#);
    let mut x = MARGIN_LEFT;
    let mut y = TITLE_BAND + 6.0;
    for item in items {
        let width = 40.0 + 7.2 * item.label.chars().count() as f64;
        if x + width > WIDTH - MARGIN_RIGHT && x > MARGIN_LEFT {
            x = MARGIN_LEFT;
            y += LEGEND_LINE;
        }
        match &item.swatch {
            Swatch::Box(colour) => {
                let _ = write!(
                    out,
                    r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{colour}"/>"#,
                    y - 10.0
                );
            }
            Swatch::Line {
                colour,
                dash,
                marker: shape,
            } => {
                let _ = write!(
                    out,
                    r#"<line x1="{x:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
                    y - 4.0,
                    x + 22.0,
                    y - 4.0
                );
                out.push_str(&marker(*shape, x + 11.0, y - 4.0, colour));
            }
            Swatch::Whisker => {
                let _ = write!(
                    out,
                    r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333" stroke-width="1.2"/>"##,
                    x + 6.0,
                    y - 12.0,
                    x + 6.0,
                    y + 2.0
                );
            }
            Swatch::StdDev => {
                let _ = write!(
                    out,
                    r##"<rect x="{:.1}" y="{:.1}" width="6" height="12" fill="#fff" fill-opacity="0.6" stroke="#333" stroke-width="1.2"/>"##,
                    x + 3.0,
                    y - 10.0
                );
            }
        }
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{y:.1}" fill="{AXIS_TEXT}">{}</text>"#,
            x + 26.0,
            esc(&item.label)
        );
        x += width;
    }
    out.push_str("</g>");
    (out, y - TITLE_BAND + 10.0)
}

/// A marker shape (circle, square, triangle, diamond, triangle down) so that lines differ
/// beyond colour.
fn marker(shape: usize, x: f64, y: f64, colour: &str) -> String {
    match shape % MARKERS {
        0 => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{colour}"/>"#),
        1 => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="7" height="7" fill="{colour}"/>"#,
            x - 3.5,
            y - 3.5
        ),
        2 => format!(
            r#"<path d="M{x:.1},{:.1} L{:.1},{:.1} L{:.1},{:.1} Z" fill="{colour}"/>"#,
            y - 4.5,
            x + 4.5,
            y + 3.5,
            x - 4.5,
            y + 3.5
        ),
        3 => format!(
            r#"<path d="M{x:.1},{:.1} L{:.1},{y:.1} L{x:.1},{:.1} L{:.1},{y:.1} Z" fill="{colour}"/>"#,
            y - 4.5,
            x + 4.5,
            y + 4.5,
            x - 4.5
        ),
        _ => format!(
            r#"<path d="M{x:.1},{:.1} L{:.1},{:.1} L{:.1},{:.1} Z" fill="{colour}"/>"#,
            y + 4.5,
            x + 4.5,
            y - 3.5,
            x - 4.5,
            y - 3.5
        ),
    }
}

const DASHES: [&str; 4] = ["none", "6 3", "2 3", "8 3 2 3"];

/// The opening of a chart: the `<svg>` element, its accessible title and the visible title.
fn open(meta: &ChartMeta, points: usize, height: f64) -> String {
    format!(
        concat!(
            r#"<svg class="chart" id="chart-{id}" data-chart="{kind}" data-points="{points}" "#,
            r#"viewBox="0 0 {w} {h}" width="100%" role="img" aria-labelledby="chart-{id}-title" "#,
            r#"font-family="system-ui, -apple-system, 'Segoe UI', sans-serif">"#,
            r#"<title id="chart-{id}-title">{title}</title>"#,
            r##"<rect x="0" y="0" width="{w}" height="{h}" fill="#fff"/>"##,
            r#"<text x="{tx}" y="22" font-size="15" font-weight="600" fill="{fg}">{title}</text>"#
        ),
        id = esc(&meta.id),
        kind = meta.kind,
        points = points,
        w = WIDTH,
        h = height,
        tx = MARGIN_LEFT,
        fg = AXIS_TEXT,
        title = esc(&meta.title),
    )
}

/// The y axis: grid lines, tick labels and the rotated axis label.
fn y_axis(out: &mut String, plot: &Plot, axis: &Axis, label: &str) {
    for tick in &axis.ticks {
        let y = plot.y(axis, *tick);
        let _ = write!(
            out,
            r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{GRID}"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="{AXIS_TEXT}">{}</text>"#,
            plot.left,
            plot.right,
            plot.left - 6.0,
            y + 4.0,
            fmt_tick(*tick, axis.step)
        );
    }
    let middle = (plot.top + plot.bottom) / 2.0;
    let _ = write!(
        out,
        r#"<text class="axis-label" x="16" y="{middle:.1}" font-size="12" text-anchor="middle" fill="{AXIS_TEXT}" transform="rotate(-90 16 {middle:.1})">{}</text>"#,
        esc(label)
    );
}

/// Numeric ticks of the x axis: a line from `y1` to `y2` (a grid line across the plot, or a
/// tick mark under it) and the tick's label under the plot.
fn x_ticks(out: &mut String, plot: &Plot, axis: &Axis, (y1, y2): (f64, f64), stroke: &str) {
    for tick in &axis.ticks {
        let x = plot.x(axis, *tick);
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" y1="{y1:.1}" x2="{x:.1}" y2="{y2:.1}" stroke="{stroke}"/><text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="{AXIS_TEXT}">{}</text>"#,
            plot.bottom + 16.0,
            fmt_tick(*tick, axis.step)
        );
    }
}

/// The x axis label, centred under the plot.
fn x_label(out: &mut String, plot: &Plot, label: &str, height: f64) {
    let _ = write!(
        out,
        r#"<text class="axis-label" x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="{AXIS_TEXT}">{}</text>"#,
        (plot.left + plot.right) / 2.0,
        height - 8.0,
        esc(label)
    );
}

/// The axis lines of a plot.
fn frame(out: &mut String, plot: &Plot) {
    let _ = write!(
        out,
        r#"<path d="M{l:.1},{t:.1} L{l:.1},{b:.1} L{r:.1},{b:.1}" fill="none" stroke="{AXIS_TEXT}"/>"#,
        l = plot.left,
        t = plot.top,
        b = plot.bottom,
        r = plot.right
    );
}

/// Shortens a category label to fit under a bar group.
fn shorten(label: &str, max_chars: usize) -> String {
    if label.chars().count() <= max_chars {
        label.to_string()
    } else {
        let mut short: String = label.chars().take(max_chars.saturating_sub(1)).collect();
        short.push('…');
        short
    }
}

/// Category labels under the x axis, rotated when they would overlap.
fn category_labels(out: &mut String, plot: &Plot, centres: &[(f64, &str)], slot: f64) {
    let longest = centres
        .iter()
        .map(|(_, l)| l.chars().count())
        .max()
        .unwrap_or(0);
    let rotate = longest as f64 * 6.5 > slot;
    for (x, label) in centres {
        let y = plot.bottom + 16.0;
        if rotate {
            let _ = write!(
                out,
                r#"<text x="{x:.1}" y="{y:.1}" font-size="11" text-anchor="end" fill="{AXIS_TEXT}" transform="rotate(-30 {x:.1} {y:.1})">{}</text>"#,
                esc(&shorten(label, 22))
            );
        } else {
            let _ = write!(
                out,
                r#"<text x="{x:.1}" y="{y:.1}" font-size="11" text-anchor="middle" fill="{AXIS_TEXT}">{}</text>"#,
                esc(label)
            );
        }
    }
}

/// One bar: a mean with optional spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarValue {
    pub value: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub std_dev: Option<f64>,
}

/// A series of bars, one (or none) per category.
#[derive(Debug, Clone)]
pub struct BarSeries {
    pub name: String,
    pub values: Vec<Option<BarValue>>,
}

/// Grouped bars: one group per category, one bar per series, with min-max whiskers and a
/// ±1 standard deviation box where the values carry them. `unit` goes into tooltips.
pub fn bar_chart(
    meta: &ChartMeta,
    categories: &[String],
    series: &[BarSeries],
    unit: &str,
) -> String {
    let finite = |v: &BarValue| v.value.is_finite();
    let bars: Vec<(usize, usize, BarValue)> = series
        .iter()
        .enumerate()
        .flat_map(|(s, serie)| {
            serie
                .values
                .iter()
                .enumerate()
                .filter_map(move |(c, v)| v.filter(finite).map(|v| (s, c, v)))
        })
        .filter(|(_, c, _)| *c < categories.len())
        .collect();
    let has_whiskers = bars
        .iter()
        .any(|(_, _, v)| v.min.is_some() || v.max.is_some());
    let has_sd = bars
        .iter()
        .any(|(_, _, v)| v.std_dev.is_some_and(|sd| sd > 0.0));
    let mut items: Vec<LegendItem> = if series.len() > 1 {
        series
            .iter()
            .enumerate()
            .map(|(i, s)| LegendItem {
                label: s.name.clone(),
                swatch: Swatch::Box(colour(i)),
            })
            .collect()
    } else {
        Vec::new()
    };
    if has_whiskers {
        items.push(LegendItem {
            label: "min-max".into(),
            swatch: Swatch::Whisker,
        });
    }
    if has_sd {
        items.push(LegendItem {
            label: "±1 std dev".into(),
            swatch: Swatch::StdDev,
        });
    }
    let (legend_svg, legend_height) = legend(&items);
    let high = bars
        .iter()
        .map(|(_, _, v)| {
            let sd_top = v.value + v.std_dev.unwrap_or(0.0);
            v.max.unwrap_or(v.value).max(sd_top).max(v.value)
        })
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    let low = bars
        .iter()
        .map(|(_, _, v)| v.min.unwrap_or(v.value).min(v.value))
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    let axis = Axis::nice(low, high, 5, true);
    let rotated = categories.iter().any(|c| c.chars().count() > 12);
    let (plot, height) = Plot::below_legend(legend_height, rotated);
    let mut out = open(meta, bars.len(), height);
    out.push_str(&legend_svg);
    y_axis(&mut out, &plot, &axis, &meta.y_label);
    let slot = (plot.right - plot.left) / categories.len().max(1) as f64;
    let bar_width = (slot * 0.8 / series.len().max(1) as f64).min(56.0);
    let group_width = bar_width * series.len().max(1) as f64;
    for (s, c, v) in &bars {
        let x = plot.left + slot * *c as f64 + (slot - group_width) / 2.0 + bar_width * *s as f64;
        let base = plot.y(&axis, 0.0_f64.max(axis.min));
        let top = plot.y(&axis, v.value);
        let (y, h) = if top <= base {
            (top, base - top)
        } else {
            (base, top - base)
        };
        let mut tooltip = format!(
            "{} {}: {} {unit}",
            categories[*c],
            series[*s].name,
            fmt_num(v.value)
        );
        if let (Some(min), Some(max)) = (v.min, v.max) {
            let _ = write!(tooltip, " (min {}, max {})", fmt_num(min), fmt_num(max));
        }
        if let Some(sd) = v.std_dev {
            let _ = write!(tooltip, " sd {}", fmt_num(sd));
        }
        let _ = write!(
            out,
            r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}</title></rect>"#,
            (bar_width - 2.0).max(1.0),
            h.max(0.5),
            colour(*s),
            esc(&tooltip)
        );
        let centre = x + (bar_width - 2.0).max(1.0) / 2.0;
        if let Some(sd) = v.std_dev.filter(|sd| *sd > 0.0 && sd.is_finite()) {
            let y_high = plot.y(&axis, v.value + sd);
            let y_low = plot.y(&axis, (v.value - sd).max(axis.min));
            let _ = write!(
                out,
                r##"<rect x="{:.1}" y="{y_high:.1}" width="6" height="{:.1}" fill="#fff" fill-opacity="0.6" stroke="#333" stroke-width="1.2"/>"##,
                centre - 3.0,
                (y_low - y_high).max(0.5)
            );
        }
        if let (Some(min), Some(max)) = (v.min, v.max) {
            if min.is_finite() && max.is_finite() {
                let y_min = plot.y(&axis, min);
                let y_max = plot.y(&axis, max);
                let _ = write!(
                    out,
                    r##"<path d="M{:.1},{y_min:.1} H{:.1} M{centre:.1},{y_min:.1} V{y_max:.1} M{:.1},{y_max:.1} H{:.1}" stroke="#333" stroke-width="1.2" fill="none"/>"##,
                    centre - 5.0,
                    centre + 5.0,
                    centre - 5.0,
                    centre + 5.0
                );
            }
        }
    }
    frame(&mut out, &plot);
    let centres: Vec<(f64, &str)> = categories
        .iter()
        .enumerate()
        .map(|(i, c)| (plot.left + slot * (i as f64 + 0.5), c.as_str()))
        .collect();
    category_labels(&mut out, &plot, &centres, slot);
    x_label(&mut out, &plot, &meta.x_label, height);
    out.push_str("</svg>");
    out
}

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct LineSeries {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Draw as a step function (an empirical CDF) rather than straight segments.
    pub step: bool,
    /// Draw as a dashed reference line without markers (an ideal, a target).
    pub reference: bool,
}

impl LineSeries {
    /// Straight segments with markers.
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> LineSeries {
        LineSeries {
            name: name.into(),
            points,
            step: false,
            reference: false,
        }
    }

    /// A dashed reference line without markers.
    pub fn reference(name: impl Into<String>, points: Vec<(f64, f64)>) -> LineSeries {
        LineSeries {
            reference: true,
            ..LineSeries::line(name, points)
        }
    }

    /// The colour of the series drawn `index`th: grey for a reference line.
    fn colour(&self, index: usize) -> &'static str {
        if self.reference {
            "#555"
        } else {
            colour(index)
        }
    }

    /// The dash pattern of the series drawn `index`th.
    fn dash(&self, index: usize) -> &'static str {
        if self.reference {
            "5 4"
        } else {
            DASHES[index % DASHES.len()]
        }
    }
}

/// How the x axis of a line chart reads.
#[derive(Debug, Clone)]
pub enum XAxis {
    /// Numbers (seconds). `integer` keeps ticks on whole numbers and leaves room after the
    /// last value (counts such as concurrent requests).
    Linear { from_zero: bool, integer: bool },
    /// Named positions 0, 1, 2, ... (runs of a trend), with one position marked (a baseline).
    Categories {
        labels: Vec<String>,
        marked: Option<usize>,
        mark_label: String,
    },
}

/// Lines with markers on a numeric or categorical x axis. `y_from_zero` keeps 0 on the y axis;
/// `y_max` caps it (100 for a CDF in percent).
pub fn line_chart(
    meta: &ChartMeta,
    series: &[LineSeries],
    x_axis: &XAxis,
    y_from_zero: bool,
    y_max: Option<f64>,
) -> String {
    let clean: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect()
        })
        .collect();
    let data_points: usize = series
        .iter()
        .zip(&clean)
        .filter(|(s, _)| !s.reference)
        .map(|(_, p)| p.len())
        .sum();
    let all = clean.iter().flatten();
    let (x_low, x_high) = all
        .clone()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |acc, p| {
            (acc.0.min(p.0), acc.1.max(p.0))
        });
    let (y_low, y_high) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |acc, p| {
        (acc.0.min(p.1), acc.1.max(p.1))
    });
    let y_high = match y_max {
        Some(cap) => y_high.max(cap).min(cap),
        None => y_high,
    };
    let y_axis_range = Axis::nice(y_low, y_high, 5, y_from_zero);
    let x_range = match x_axis {
        XAxis::Linear {
            from_zero,
            integer: false,
        } => Axis::nice(x_low, x_high, 6, *from_zero),
        XAxis::Linear {
            from_zero,
            integer: true,
        } => {
            let mut axis = Axis::nice(x_low, x_high + 0.5, 6, *from_zero);
            if axis.step < 1.0 {
                axis = Axis::nice(x_low, (x_high + 1.0).max(x_low + 2.0), 2, *from_zero);
                axis.step = axis.step.max(1.0);
                axis.ticks = (0..)
                    .map(|i| axis.min + i as f64)
                    .take_while(|t| *t <= axis.max)
                    .collect();
            }
            axis
        }
        XAxis::Categories { labels, .. } => {
            let last = labels.len().saturating_sub(1) as f64;
            Axis {
                min: -0.5,
                max: last + 0.5,
                ticks: (0..labels.len()).map(|i| i as f64).collect(),
                step: 1.0,
            }
        }
    };
    let items: Vec<LegendItem> = series
        .iter()
        .enumerate()
        .filter(|_| series.len() > 1)
        .map(|(i, s)| LegendItem {
            label: s.name.clone(),
            swatch: Swatch::Line {
                colour: s.colour(i),
                dash: s.dash(i),
                marker: if s.reference { 99 } else { i },
            },
        })
        .collect();
    let (legend_svg, legend_height) = legend(&items);
    let rotated = matches!(x_axis, XAxis::Categories { labels, .. } if labels.iter().any(|l| l.chars().count() > 8));
    let (plot, height) = Plot::below_legend(legend_height, rotated);
    let mut out = open(meta, data_points, height);
    out.push_str(&legend_svg);
    y_axis(&mut out, &plot, &y_axis_range, &meta.y_label);
    match x_axis {
        XAxis::Linear { .. } => {
            let mark = (plot.bottom, plot.bottom + 4.0);
            x_ticks(&mut out, &plot, &x_range, mark, AXIS_TEXT);
        }
        XAxis::Categories {
            labels,
            marked,
            mark_label,
        } => {
            let slot = (plot.right - plot.left) / labels.len().max(1) as f64;
            let centres: Vec<(f64, &str)> = labels
                .iter()
                .enumerate()
                .map(|(i, l)| (plot.x(&x_range, i as f64), l.as_str()))
                .collect();
            category_labels(&mut out, &plot, &centres, slot);
            if let Some(index) = marked.filter(|i| *i < labels.len()) {
                let x = plot.x(&x_range, index as f64);
                let _ = write!(
                    out,
                    r##"<line class="baseline" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#555" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#333">{}</text>"##,
                    plot.top,
                    plot.bottom,
                    x + 4.0,
                    plot.top + 12.0,
                    esc(mark_label)
                );
            }
        }
    }
    for (i, (serie, points)) in series.iter().zip(&clean).enumerate() {
        if points.is_empty() {
            continue;
        }
        let line_colour = serie.colour(i);
        let dash = serie.dash(i);
        let mut path = String::new();
        let mut previous_y: Option<f64> = None;
        for (k, (x, y)) in points.iter().enumerate() {
            let px = plot.x(&x_range, *x);
            let py = plot.y(&y_axis_range, *y);
            if k == 0 {
                let _ = write!(path, "M{px:.1},{py:.1}");
            } else if serie.step {
                if let Some(prev) = previous_y {
                    let _ = write!(path, " L{px:.1},{prev:.1}");
                }
                let _ = write!(path, " L{px:.1},{py:.1}");
            } else {
                let _ = write!(path, " L{px:.1},{py:.1}");
            }
            previous_y = Some(py);
        }
        let _ = write!(
            out,
            r#"<path class="series" d="{path}" fill="none" stroke="{line_colour}" stroke-width="2" stroke-dasharray="{dash}"/>"#
        );
        if serie.reference {
            continue;
        }
        // A step CDF of many samples would drown in markers; mark only its ends then.
        let dense = serie.step && points.len() > 12;
        for (k, (x, y)) in points.iter().enumerate() {
            if dense && k != 0 && k + 1 != points.len() {
                continue;
            }
            let px = plot.x(&x_range, *x);
            let py = plot.y(&y_axis_range, *y);
            let _ = write!(
                out,
                r#"<g class="point">{}<title>{}: {}, {}</title></g>"#,
                marker(i, px, py, line_colour),
                esc(&serie.name),
                fmt_num(*x),
                fmt_num(*y)
            );
        }
        if let XAxis::Categories {
            marked: Some(index),
            ..
        } = x_axis
        {
            if let Some((x, y)) = points
                .iter()
                .find(|(x, _)| (*x - *index as f64).abs() < 1e-9)
            {
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="7" fill="none" stroke="{line_colour}" stroke-width="2"/>"#,
                    plot.x(&x_range, *x),
                    plot.y(&y_axis_range, *y)
                );
            }
        }
    }
    frame(&mut out, &plot);
    x_label(&mut out, &plot, &meta.x_label, height);
    out.push_str("</svg>");
    out
}

/// One phase of one row of a timeline, in seconds from the common start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Index into the phase names (and colours).
    pub phase: usize,
    pub start: f64,
    pub end: f64,
}

/// One row of a timeline (a user).
#[derive(Debug, Clone)]
pub struct TimelineRow {
    pub label: String,
    pub segments: Vec<Segment>,
}

/// Horizontal bars, one row per user, each phase its own colour (and named in a legend and in
/// each bar's tooltip).
pub fn timeline_chart(meta: &ChartMeta, rows: &[TimelineRow], phases: &[&str]) -> String {
    let segments: Vec<(usize, Segment)> = rows
        .iter()
        .enumerate()
        .flat_map(|(r, row)| row.segments.iter().map(move |s| (r, *s)))
        .filter(|(_, s)| s.start.is_finite() && s.end.is_finite() && s.end >= s.start)
        .collect();
    let items: Vec<LegendItem> = phases
        .iter()
        .enumerate()
        .map(|(i, p)| LegendItem {
            label: p.to_string(),
            swatch: Swatch::Box(colour(i)),
        })
        .collect();
    let (legend_svg, legend_height) = legend(&items);
    let end = segments
        .iter()
        .map(|(_, s)| s.end)
        .fold(f64::NEG_INFINITY, f64::max);
    let x_range = Axis::nice(0.0, end, 6, true);
    let row_height = 28.0;
    let top = TITLE_BAND + legend_height + 10.0;
    let bottom = top + row_height * rows.len().max(1) as f64;
    let height = bottom + 56.0;
    let longest = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0);
    let left = (MARGIN_LEFT).max(16.0 + 6.5 * longest.min(28) as f64);
    let plot = Plot {
        left,
        right: WIDTH - MARGIN_RIGHT,
        top,
        bottom,
    };
    let mut out = open(meta, segments.len(), height);
    out.push_str(&legend_svg);
    // Grid lines across the rows, as the y axis of other charts has.
    x_ticks(&mut out, &plot, &x_range, (plot.top, plot.bottom), GRID);
    for (r, row) in rows.iter().enumerate() {
        let y = plot.top + row_height * r as f64;
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="{AXIS_TEXT}">{}</text>"#,
            plot.left - 6.0,
            y + row_height / 2.0 + 4.0,
            esc(&shorten(&row.label, 28))
        );
    }
    for (r, segment) in &segments {
        let y = plot.top + row_height * *r as f64 + 5.0;
        let x0 = plot.x(&x_range, segment.start);
        let x1 = plot.x(&x_range, segment.end);
        let phase = phases.get(segment.phase).copied().unwrap_or("phase");
        let _ = write!(
            out,
            r##"<rect class="segment" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}" stroke="#fff" stroke-width="0.5"><title>{}: {} {} s to {} s ({} s)</title></rect>"##,
            (x1 - x0).max(1.5),
            row_height - 10.0,
            colour(segment.phase),
            esc(&rows[*r].label),
            esc(phase),
            fmt_num(segment.start),
            fmt_num(segment.end),
            fmt_num(segment.end - segment.start)
        );
    }
    let middle = (plot.top + plot.bottom) / 2.0;
    let _ = write!(
        out,
        r#"<text class="axis-label" x="14" y="{middle:.1}" font-size="12" text-anchor="middle" fill="{AXIS_TEXT}" transform="rotate(-90 14 {middle:.1})">{}</text>"#,
        esc(&meta.y_label)
    );
    frame(&mut out, &plot);
    x_label(&mut out, &plot, &meta.x_label, height);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(kind: &'static str) -> ChartMeta {
        ChartMeta {
            id: "t".into(),
            kind,
            title: "T <1>".into(),
            x_label: "X (s)".into(),
            y_label: "Y (tok/s)".into(),
        }
    }

    #[test]
    fn no_two_series_look_alike() {
        // Eleven series, eleven colours.
        for i in 0..PALETTE.len() {
            for j in 0..i {
                assert_ne!(colour(i), colour(j), "series {i} and {j}");
            }
        }
        // Beyond that, colour, marker and dash together still tell them apart.
        let style = |i: usize| (colour(i), i % MARKERS, DASHES[i % DASHES.len()]);
        for i in 0..220 {
            for j in 0..i {
                assert_ne!(style(i), style(j), "series {i} and {j}");
            }
        }
        // Nine series (three models, three prompts) draw nine colours.
        let series: Vec<LineSeries> = (0..9)
            .map(|i| LineSeries::line(format!("s{i}"), vec![(0.0, i as f64), (1.0, 1.0)]))
            .collect();
        let svg = line_chart(
            &meta("cdf"),
            &series,
            &XAxis::Linear {
                from_zero: false,
                integer: false,
            },
            true,
            None,
        );
        let colours: std::collections::BTreeSet<&str> = PALETTE
            .iter()
            .copied()
            .filter(|c| svg.contains(&format!(r#"stroke="{c}""#)))
            .collect();
        assert_eq!(colours.len(), 9, "{colours:?}");
    }

    #[test]
    fn axes_are_round_and_cover_the_data() {
        let axis = Axis::nice(3.2, 47.8, 5, true);
        assert_eq!(axis.min, 0.0);
        assert!(axis.max >= 47.8);
        assert_eq!(axis.step, 10.0);
        assert_eq!(axis.ticks, vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
    }

    #[test]
    fn a_single_value_gets_a_padded_axis() {
        let axis = Axis::nice(42.0, 42.0, 5, false);
        assert!(axis.min < 42.0 && axis.max > 42.0, "{axis:?}");
        let zero = Axis::nice(0.0, 0.0, 5, true);
        assert_eq!(zero.min, 0.0);
        assert!(zero.max > 0.0);
        let nothing = Axis::nice(f64::INFINITY, f64::NEG_INFINITY, 5, false);
        assert!(nothing.max > nothing.min);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(fmt_num(42.456), "42.46");
        assert_eq!(fmt_num(125.45), "125.45");
        assert_eq!(fmt_num(2.1449), "2.14");
        assert_eq!(fmt_num(0.336), "0.336");
        assert_eq!(fmt_num(0.0123), "0.0123");
        assert_eq!(fmt_num(-0.0001), "-0.0001");
        assert_eq!(fmt_num(-0.00001), "-1.00e-5");
        assert_eq!(fmt_num(f64::NAN), "-");
        assert_eq!(fmt_tick(0.30000000000000004, 0.1), "0.3");
        assert_eq!(fmt_tick(-0.0, 0.5), "0.0");
    }

    #[test]
    fn bars_count_their_points_and_escape_text() {
        let svg = bar_chart(
            &meta("bars"),
            &["m<1>".into(), "m2".into()],
            &[BarSeries {
                name: "Short".into(),
                values: vec![
                    Some(BarValue {
                        value: 40.0,
                        min: Some(38.0),
                        max: Some(45.0),
                        std_dev: Some(1.5),
                    }),
                    None,
                ],
            }],
            "tok/s",
        );
        assert!(svg.contains(r#"data-points="1""#), "{svg}");
        assert!(svg.contains("m&lt;1&gt;"));
        assert!(svg.contains("T &lt;1&gt;"));
        assert!(svg.contains("Y (tok/s)") && svg.contains("X (s)"));
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn one_point_lines_and_nan_points_draw_without_nan() {
        let svg = line_chart(
            &meta("cdf"),
            &[LineSeries {
                name: "a".into(),
                points: vec![(0.5, 100.0), (f64::NAN, 3.0)],
                step: true,
                reference: false,
            }],
            &XAxis::Linear {
                from_zero: false,
                integer: false,
            },
            true,
            Some(100.0),
        );
        assert!(svg.contains(r#"data-points="1""#), "{svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    #[test]
    fn counts_get_whole_ticks_and_room_after_the_last() {
        let svg = line_chart(
            &meta("scaling"),
            &[LineSeries {
                name: "a".into(),
                points: vec![(1.0, 42.0)],
                step: false,
                reference: false,
            }],
            &XAxis::Linear {
                from_zero: true,
                integer: true,
            },
            true,
            None,
        );
        assert!(
            svg.contains(">0</text>") && svg.contains(">1</text>") && svg.contains(">2</text>")
        );
        assert!(!svg.contains(">0.5</text>"), "{svg}");
    }

    #[test]
    fn a_trend_marks_its_baseline() {
        let svg = line_chart(
            &meta("trend"),
            &[LineSeries {
                name: "tok/s".into(),
                points: vec![(0.0, 40.0), (1.0, 42.0)],
                step: false,
                reference: false,
            }],
            &XAxis::Categories {
                labels: vec!["run 1".into(), "run 2".into()],
                marked: Some(0),
                mark_label: "baseline".into(),
            },
            false,
            None,
        );
        assert!(svg.contains(r#"class="baseline""#));
        assert!(svg.contains(">baseline<"));
    }

    #[test]
    fn timelines_draw_one_segment_per_phase() {
        let svg = timeline_chart(
            &meta("timeline"),
            &[TimelineRow {
                label: "user 1".into(),
                segments: vec![
                    Segment {
                        phase: 0,
                        start: 0.0,
                        end: 10.0,
                    },
                    Segment {
                        phase: 1,
                        start: 10.0,
                        end: 12.0,
                    },
                ],
            }],
            &["download", "load", "generate"],
        );
        assert!(svg.contains(r#"data-points="2""#));
        assert_eq!(svg.matches(r#"class="segment""#).count(), 2);
    }
}

//! `report.html`: one self-contained page (inline CSS, inline SVG, no JavaScript, no external
//! resource of any kind) drawn from a [`Document`]. Each chart sits beside the table of its
//! data (above it when the table is wide); verdicts carry a symbol and a word besides their
//! colour. Tables fit the page without horizontal scrolling: cells wrap, and a table of more
//! than [`MAX_COLUMNS`] columns is split into parts that repeat its naming columns.

use std::fmt::Write;

use super::document::{Block, Document, Section, Table};
use super::svg::esc;
use super::verdicts::{css_class, html_symbol};

const STYLE: &str = r#"
:root { --fg: #1d1d1f; --muted: #555; --line: #d8d8d8; --bg: #fafafa;
  --good: #009E73; --good-bg: #dcf1ea; --warn: #B36B00; --warn-bg: #fcecc9;
  --crit: #C04A00; --crit-bg: #f8dccd; }
* { box-sizing: border-box; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); line-height: 1.45; font-size: 15px; }
header, main, footer { max-width: 1240px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 20px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 0 0 2px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
.meta, .subtitle { color: var(--muted); margin: 0 0 10px; }
.banner { border-radius: 6px; padding: 10px 14px; margin: 12px 0; border-left: 6px solid; }
.banner.simulated { background: #e3effa; border-color: #0072B2; }
.banner.problems { background: var(--crit-bg); border-color: var(--crit); }
.banner ul { margin: 4px 0 0 18px; padding: 0; }
nav ul { margin: 6px 0 0; padding-left: 18px; columns: 2; }
nav a { color: #0059a0; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 18px;
  margin: 18px 0; }
.headline { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; padding: 0; }
.headline div { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; min-width: 130px; }
.headline dt { color: var(--muted); font-size: 12px; }
.headline dd { margin: 0; font-size: 18px; font-weight: 600; }
.note { color: #333; background: #f3f3f3; border-radius: 4px; padding: 6px 10px; margin: 10px 0; }
figure.chart-block { display: grid; grid-template-columns: minmax(0, 11fr) minmax(0, 9fr); gap: 16px;
  align-items: start; margin: 16px 0; }
figure.chart-block.wide { grid-template-columns: minmax(0, 1fr); }
figure.chart-block.wide .plot { max-width: 760px; }
@media (max-width: 1000px) { figure.chart-block, figure.chart-block.wide { grid-template-columns: minmax(0, 1fr); } }
.plot svg { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
table { border-collapse: collapse; font-size: 12.5px; margin: 8px 0; min-width: 50%;
  max-width: 100%; }
caption { text-align: left; font-weight: 600; padding: 2px 0 6px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 6px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.level { font-weight: 600; white-space: nowrap; border-left: 5px solid; }
td.level-target, td.level-good { background: var(--good-bg); border-left-color: var(--good); }
td.level-warning { background: var(--warn-bg); border-left-color: var(--warn); }
td.level-critical { background: var(--crit-bg); border-left-color: var(--crit); }
footer { color: var(--muted); font-size: 13px; padding-bottom: 30px; }
"#;

/// The whole page. `generated` labels when it was written.
pub fn render(doc: &Document, generated: &str) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n<h1>{}</h1>\n<p class=\"meta\">Generated {} by ollabench {} from {} result file{}.</p>\n",
        esc(&doc.title),
        esc(&doc.title),
        esc(generated),
        env!("CARGO_PKG_VERSION"),
        doc.files.len(),
        if doc.files.len() == 1 { "" } else { "s" }
    );
    if !doc.simulated.is_empty() {
        out.push_str("<div class=\"banner simulated\" role=\"note\"><strong>Simulated target.</strong> These numbers come from ollabench's built-in simulator, not from real hardware:<ul>");
        for line in &doc.simulated {
            let _ = write!(out, "<li>{}</li>", esc(line));
        }
        out.push_str("</ul></div>\n");
    }
    if !doc.problems.is_empty() {
        out.push_str("<div class=\"banner problems\" role=\"alert\"><strong>Files not used.</strong> Fix or remove them and run the report again:<ul>");
        for line in &doc.problems {
            let _ = write!(out, "<li>{}</li>", esc(line));
        }
        out.push_str("</ul></div>\n");
    }
    out.push_str("<nav><strong>Contents</strong><ul>");
    for section in &doc.sections {
        let _ = write!(
            out,
            "<li><a href=\"#{}\">{}</a></li>",
            esc(&section.id),
            esc(&section.heading)
        );
    }
    out.push_str("</ul></nav>\n</header>\n<main>\n");
    for section in &doc.sections {
        render_section(&mut out, section);
    }
    out.push_str("</main>\n<footer><p>Charts use the Okabe-Ito palette (with three of Paul Tol's colours beyond eight series), readable with the common colour-vision deficiencies; lines also differ by marker and dash, verdicts by symbol and word. Every chart's numbers are in the table beside it. Percentiles: linear interpolation between closest ranks (type 7).</p></footer>\n</body>\n</html>\n");
    out
}

fn render_section(out: &mut String, section: &Section) {
    let _ = write!(
        out,
        "<section id=\"{}\">\n<h2>{}</h2>\n",
        esc(&section.id),
        esc(&section.heading)
    );
    if !section.subtitle.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"subtitle\">{}</p>",
            esc(&section.subtitle.join(" · "))
        );
    }
    for block in &section.blocks {
        match block {
            Block::Headline(items) => {
                out.push_str("<dl class=\"headline\">");
                for (label, value) in items {
                    let _ = write!(
                        out,
                        "<div><dt>{}</dt><dd>{}</dd></div>",
                        esc(label),
                        esc(value)
                    );
                }
                out.push_str("</dl>\n");
            }
            Block::Note(text) => {
                let _ = writeln!(out, "<p class=\"note\">{}</p>", esc(text));
            }
            Block::Verdicts { note, rows } => {
                out.push_str("<h3>Verdicts against the Performance Targets</h3>\n");
                if let Some(note) = note {
                    let _ = writeln!(out, "<p class=\"subtitle\">{}</p>", esc(note));
                }
                out.push_str("<div class=\"table-wrap\"><table class=\"verdicts\"><thead><tr><th>Metric</th><th>Value</th><th>Verdict</th><th>Thresholds</th><th>Advice</th></tr></thead><tbody>");
                for row in rows {
                    let _ = write!(
                        out,
                        "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"level {}\">{} {}</td><td>{}</td><td>{}</td></tr>",
                        esc(&row.metric),
                        esc(&row.value),
                        css_class(row.level),
                        html_symbol(row.level),
                        row.level.label(),
                        esc(&row.thresholds),
                        esc(&row.advice)
                    );
                }
                out.push_str("</tbody></table></div>\n");
            }
            Block::Chart { svg, table } => {
                // A wide table goes below its chart, with the page's whole width.
                let class = if table.headers.len() > 6 {
                    "chart-block wide"
                } else {
                    "chart-block"
                };
                let _ = write!(out, "<figure class=\"{class}\"><div class=\"plot\">");
                out.push_str(svg);
                out.push_str("</div><div class=\"data\">");
                render_table(out, table);
                out.push_str("</div></figure>\n");
            }
            Block::Table(table) => {
                out.push_str("<div class=\"table-wrap\">");
                render_table(out, table);
                out.push_str("</div>\n");
            }
        }
    }
    out.push_str("</section>\n");
}

/// Whether a cell reads as a number (right-aligned): digits, signs, a unit suffix.
fn is_numeric(cell: &str) -> bool {
    let trimmed = cell.trim_end_matches(['%', 'x']);
    !trimmed.is_empty() && (trimmed == "-" || trimmed.parse::<f64>().is_ok())
}

/// The most columns one HTML table shows; a wider one is split.
pub const MAX_COLUMNS: usize = 8;

/// A table, split into parts of at most [`MAX_COLUMNS`] columns that each repeat its naming
/// columns (the leading ones that hold no numbers, one or two: `Model`, `Prompt`), so that no
/// table needs horizontal scrolling.
fn render_table(out: &mut String, table: &Table) {
    let columns = table.headers.len();
    if columns <= MAX_COLUMNS {
        return render_one_table(out, table);
    }
    let names = (0..2)
        .take_while(|&i| {
            table
                .rows
                .iter()
                .all(|row| row.get(i).is_none_or(|cell| !is_numeric(cell)))
        })
        .count()
        .max(1);
    let per_part = MAX_COLUMNS - names;
    let parts = (columns - names).div_ceil(per_part);
    for part in 0..parts {
        let range = names + part * per_part..(names + (part + 1) * per_part).min(columns);
        let pick = |row: &Vec<String>| -> Vec<String> {
            (0..names)
                .chain(range.clone())
                .map(|i| row.get(i).cloned().unwrap_or_default())
                .collect()
        };
        render_one_table(
            out,
            &Table {
                caption: format!("{} ({} of {parts})", table.caption, part + 1),
                headers: pick(&table.headers),
                rows: table.rows.iter().map(pick).collect(),
            },
        );
    }
}

fn render_one_table(out: &mut String, table: &Table) {
    out.push_str("<table>");
    if !table.caption.is_empty() {
        let _ = write!(out, "<caption>{}</caption>", esc(&table.caption));
    }
    out.push_str("<thead><tr>");
    for header in &table.headers {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(header));
    }
    out.push_str("</tr></thead><tbody>");
    for row in &table.rows {
        out.push_str("<tr>");
        for cell in row {
            if is_numeric(cell) {
                let _ = write!(out, "<td class=\"num\">{}</td>", esc(cell));
            } else {
                let _ = write!(out, "<td>{}</td>", esc(cell));
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::verdicts::{Level, VerdictRow};

    #[test]
    fn verdicts_show_symbol_and_word_and_text_is_escaped() {
        let doc = Document {
            title: "t".into(),
            simulated: vec!["a.json: SIMULATED".into()],
            problems: vec!["b.json: not valid JSON <x>".into()],
            files: Vec::new(),
            sections: vec![Section {
                id: "s".into(),
                heading: "h".into(),
                subtitle: vec![],
                blocks: vec![Block::Verdicts {
                    note: None,
                    rows: vec![VerdictRow {
                        metric: "Tokens/second".into(),
                        value: "20 tok/s".into(),
                        level: Level::Critical,
                        thresholds: "Target 40-50".into(),
                        advice: "Check the GPU".into(),
                    }],
                }],
            }],
        };
        let html = render(&doc, "now");
        assert!(html.contains("level-critical\">✗ Critical"));
        assert!(html.contains("not valid JSON &lt;x&gt;"));
        assert!(html.contains("banner simulated"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn wide_tables_are_split_repeating_their_naming_columns() {
        let headers: Vec<String> = (0..12).map(|i| format!("h{i}")).collect();
        // Two naming columns and ten of numbers: parts of 2 + 6 and 2 + 4 columns.
        let row: Vec<String> = (0..12)
            .map(|i| {
                if i < 2 {
                    format!("c{i}")
                } else {
                    i.to_string()
                }
            })
            .collect();
        let mut out = String::new();
        render_table(
            &mut out,
            &Table {
                caption: "Wide".into(),
                headers,
                rows: vec![row],
            },
        );
        assert_eq!(out.matches("<table>").count(), 2, "{out}");
        assert!(out.contains("Wide (1 of 2)") && out.contains("Wide (2 of 2)"));
        for part in out.split("</table>").filter(|p| p.contains("<table>")) {
            assert!(part.matches("<th scope=\"col\">").count() <= MAX_COLUMNS);
            assert!(part.contains("<th scope=\"col\">h0</th><th scope=\"col\">h1</th>"));
            assert!(part.contains("<td>c0</td><td>c1</td>"), "{part}");
        }
        assert!(out.contains(">11</td>") && out.contains(">7</td>"));
        assert!(!STYLE.contains("overflow-x"));
    }

    #[test]
    fn numbers_align_right() {
        assert!(is_numeric("42.5"));
        assert!(is_numeric("-"));
        assert!(is_numeric("99.5%"));
        assert!(!is_numeric("Short"));
    }
}

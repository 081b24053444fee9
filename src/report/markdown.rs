//! `summary.md`: the report as Markdown tables (GitHub-flavoured), drawn from the same
//! [`Document`] as the HTML, so it carries the same numbers; charts become their tables.

use std::fmt::Write;

use super::document::{Block, Document, Table};

/// Escapes a table cell: pipes and line breaks would break the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

fn table(out: &mut String, table: &Table) {
    if !table.caption.is_empty() {
        let _ = writeln!(out, "**{}**\n", table.caption);
    }
    let _ = writeln!(
        out,
        "| {} |",
        table
            .headers
            .iter()
            .map(|h| cell(h))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|{}", "---|".repeat(table.headers.len().max(1)));
    for row in &table.rows {
        let _ = writeln!(
            out,
            "| {} |",
            row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
        );
    }
    out.push('\n');
}

/// The whole summary.
pub fn render(doc: &Document) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", doc.title);
    for line in &doc.simulated {
        let _ = writeln!(out, "> **{}**\n", line.replace('\n', " "));
    }
    if !doc.problems.is_empty() {
        out.push_str("**Files not used:**\n\n");
        for problem in &doc.problems {
            let _ = writeln!(out, "- {problem}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "Result files: {}\n", doc.files.len());
    for (label, kind) in &doc.files {
        let _ = writeln!(out, "- `{label}` ({})", kind.label());
    }
    out.push('\n');
    for section in &doc.sections {
        let _ = writeln!(out, "## {}\n", section.heading);
        if !section.subtitle.is_empty() {
            let _ = writeln!(out, "_{}_\n", section.subtitle.join(" · "));
        }
        for block in &section.blocks {
            match block {
                Block::Headline(items) => {
                    table(
                        &mut out,
                        &Table {
                            caption: String::new(),
                            headers: vec!["Headline".into(), "Value".into()],
                            rows: items
                                .iter()
                                .map(|(l, v)| vec![l.clone(), v.clone()])
                                .collect(),
                        },
                    );
                }
                Block::Note(text) => {
                    let _ = writeln!(out, "> {}\n", text.replace('\n', " "));
                }
                Block::Verdicts { note, rows } => {
                    out.push_str("**Verdicts against the Performance Targets**\n\n");
                    if let Some(note) = note {
                        let _ = writeln!(out, "_{note}_\n");
                    }
                    table(
                        &mut out,
                        &Table {
                            caption: String::new(),
                            headers: ["Metric", "Value", "Verdict", "Thresholds", "Advice"]
                                .map(String::from)
                                .to_vec(),
                            rows: rows
                                .iter()
                                .map(|r| {
                                    vec![
                                        r.metric.clone(),
                                        r.value.clone(),
                                        format!("{} {}", r.level.symbol(), r.level.label()),
                                        r.thresholds.clone(),
                                        r.advice.clone(),
                                    ]
                                })
                                .collect(),
                        },
                    );
                }
                Block::Chart { table: data, .. } => table(&mut out, data),
                Block::Table(data) => table(&mut out, data),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_rows() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        let mut out = String::new();
        table(
            &mut out,
            &Table {
                caption: "C".into(),
                headers: vec!["A".into(), "B".into()],
                rows: vec![vec!["1".into(), "x|y".into()]],
            },
        );
        assert_eq!(out, "**C**\n\n| A | B |\n|---|---|\n| 1 | x\\|y |\n\n");
    }
}

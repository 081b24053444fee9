//! Machine-readable output of a finished run on stdout: `--format json` prints the result
//! document itself (the same as the file), `csv` and `markdown` print the scenario's rows (one
//! per cell, user or model). Progress and logs go to stderr then, so stdout stays parseable.

use clap::ValueEnum;

/// What a benchmark command prints on stdout at its end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable tables and lines (the default).
    #[default]
    Table,
    /// The result document, exactly as written to the file.
    Json,
    /// One row per cell, user or model, with a header line.
    Csv,
    /// The same rows as a Markdown table.
    Markdown,
}

/// How much a benchmark command says and in which form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsoleOptions {
    pub format: Format,
    /// Nothing but errors and the `--format` output.
    pub quiet: bool,
}

impl ConsoleOptions {
    /// Whether progress and per-cell lines may be shown, and where: stdout belongs to the
    /// `--format` output unless it is the human table.
    pub fn lines_to_stderr(&self) -> bool {
        self.format != Format::Table
    }
}

/// A scenario's results as rows, for CSV and Markdown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Rows {
    /// RFC 4180 CSV: fields with a comma, a quote or a line break are quoted.
    pub fn to_csv(&self) -> String {
        let field = |text: &str| {
            if text.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", text.replace('"', "\"\""))
            } else {
                text.to_string()
            }
        };
        let mut out = String::new();
        let headers: Vec<String> = self.headers.iter().map(|h| field(h)).collect();
        out.push_str(&headers.join(","));
        out.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| field(c)).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }

    /// A GitHub-flavoured Markdown table; `|` in a cell is escaped.
    pub fn to_markdown(&self) -> String {
        let cell = |text: &str| text.replace('|', "\\|");
        let mut out = format!("| {} |\n", self.headers.join(" | "));
        out.push_str(&format!("|{}\n", "---|".repeat(self.headers.len())));
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }
}

/// A number with `decimals` places, or empty when not measured.
pub fn number(value: Option<f64>, decimals: usize) -> String {
    value.map_or(String::new(), |v| format!("{v:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting_and_markdown_escapes_pipes() {
        let rows = Rows {
            headers: vec!["Model", "Note"],
            rows: vec![
                vec!["a,b".into(), "say \"hi\"".into()],
                vec!["c".into(), "x|y".into()],
            ],
        };
        assert_eq!(
            rows.to_csv(),
            "Model,Note\n\"a,b\",\"say \"\"hi\"\"\"\nc,x|y\n"
        );
        let md = rows.to_markdown();
        assert!(md.starts_with("| Model | Note |\n|---|---|\n"), "{md}");
        assert!(md.contains("x\\|y"));
        assert_eq!(number(None, 1), "");
        assert_eq!(number(Some(1.234), 1), "1.2");
    }
}

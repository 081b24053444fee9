//! `--dataset FILE`: the user's own traffic, one JSON object a line. Two shapes are read:
//! `{"prompt": "...", "output_tokens": 128}` (the output length optional), and ShareGPT's
//! `{"conversations": [{"from": "human", "value": "..."}, {"from": "gpt", "value": "..."}]}`,
//! whose first human turn is the prompt and whose first reply's length is the output length.
//! A malformed line is reported by its number and either skipped (`--dataset-skip-bad`) or
//! refused; never silently dropped. Nothing is downloaded.

use std::path::Path;

use serde_json::Value;

use crate::exit::ConfigError;

/// One request of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetEntry {
    /// The line it came from (1-based).
    pub line: usize,
    pub prompt: String,
    /// The output length the dataset expects, in tokens; `None` uses `--output-tokens`.
    pub output_tokens: Option<u32>,
}

/// A line that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// A dataset read from a file, with the lines that were skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub entries: Vec<DatasetEntry>,
    pub skipped: Vec<BadLine>,
}

/// A reply's length in tokens without a tokenizer: about four characters a token, the usual
/// English average. Only the requested output length depends on it.
fn estimated_tokens(text: &str) -> u32 {
    let tokens = text.chars().count().div_ceil(4);
    u32::try_from(tokens).unwrap_or(u32::MAX).max(2)
}

fn parse_line(text: &str) -> Result<(String, Option<u32>), String> {
    let value: Value = serde_json::from_str(text).map_err(|err| format!("not JSON ({err})"))?;
    let object = value
        .as_object()
        .ok_or("not a JSON object: expected {\"prompt\": ...} or {\"conversations\": [...]}")?;
    if let Some(prompt) = object.get("prompt") {
        let prompt = prompt
            .as_str()
            .filter(|p| !p.trim().is_empty())
            .ok_or("\"prompt\" is not a non-empty string")?;
        let output = match object.get("output_tokens") {
            None | Some(Value::Null) => None,
            Some(n) => Some(
                n.as_u64()
                    .filter(|&n| n >= 2)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or("\"output_tokens\" is not a whole number of at least 2")?,
            ),
        };
        return Ok((prompt.to_string(), output));
    }
    let turns = object
        .get("conversations")
        .and_then(Value::as_array)
        .ok_or("neither \"prompt\" nor a \"conversations\" array")?;
    let speaker = |turn: &Value| turn.get("from").and_then(Value::as_str).map(str::to_string);
    let value_of = |turn: &Value| {
        turn.get("value")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let first_human = turns
        .iter()
        .position(|t| matches!(speaker(t).as_deref(), Some("human" | "user")))
        .ok_or("the conversation has no human turn")?;
    let prompt = value_of(&turns[first_human])
        .filter(|p| !p.trim().is_empty())
        .ok_or("the first human turn has no text \"value\"")?;
    let reply = turns[first_human + 1..]
        .iter()
        .find(|t| matches!(speaker(t).as_deref(), Some("gpt" | "assistant" | "chatgpt")))
        .and_then(value_of);
    Ok((prompt, reply.as_deref().map(estimated_tokens)))
}

/// Reads a dataset. Malformed lines are refused with every line number named, or skipped
/// and listed when `skip_bad` is set; blank lines are not entries.
pub fn read_dataset(path: &Path, skip_bad: bool) -> Result<Dataset, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Unreadable {
        what: "the dataset",
        path: path.to_path_buf(),
        error,
    })?;
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok((prompt, output_tokens)) => entries.push(DatasetEntry {
                line: index + 1,
                prompt,
                output_tokens,
            }),
            Err(reason) => skipped.push(BadLine {
                line: index + 1,
                reason,
            }),
        }
    }
    if !skipped.is_empty() && !skip_bad {
        let listed: Vec<String> = skipped.iter().take(10).map(ToString::to_string).collect();
        let more = skipped.len().saturating_sub(10);
        return Err(ConfigError::Rejected {
            flag: "--dataset",
            reason: format!(
                "{} has {} malformed line{}: {}{}; fix them, or pass --dataset-skip-bad to \
                 skip them (they are then listed in the result)",
                path.display(),
                skipped.len(),
                if skipped.len() == 1 { "" } else { "s" },
                listed.join("; "),
                if more > 0 {
                    format!("; and {more} more")
                } else {
                    String::new()
                }
            ),
        });
    }
    if entries.is_empty() {
        return Err(ConfigError::Rejected {
            flag: "--dataset",
            reason: format!(
                "{} holds no usable line: write one {{\"prompt\": ...}} or \
                 {{\"conversations\": [...]}} object a line",
                path.display()
            ),
        });
    }
    Ok(Dataset { entries, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn both_shapes_are_read() {
        let (_dir, path) = write(concat!(
            "{\"prompt\": \"Say hi\", \"output_tokens\": 16}\n",
            "\n",
            "{\"prompt\": \"Say more\"}\n",
            "{\"conversations\": [{\"from\": \"system\", \"value\": \"be brief\"}, ",
            "{\"from\": \"human\", \"value\": \"Why?\"}, {\"from\": \"gpt\", \"value\": \"",
            "Because it is twenty chars\"}]}\n",
        ));
        let dataset = read_dataset(&path, false).unwrap();
        let lines: Vec<usize> = dataset.entries.iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 3, 4]);
        assert_eq!(dataset.entries[0].output_tokens, Some(16));
        assert_eq!(dataset.entries[1].output_tokens, None);
        assert_eq!(dataset.entries[2].prompt, "Why?");
        assert_eq!(dataset.entries[2].output_tokens, Some(7));
    }

    #[test]
    fn malformed_lines_are_named_and_refused_or_skipped() {
        let (_dir, path) = write(concat!(
            "{\"prompt\": \"ok\"}\n",
            "not json\n",
            "{\"prompt\": \"\"}\n",
            "{\"conversations\": [{\"from\": \"gpt\", \"value\": \"x\"}]}\n",
            "{\"prompt\": \"ok\", \"output_tokens\": -3}\n",
        ));
        let err = read_dataset(&path, false).unwrap_err().to_string();
        for line in ["line 2:", "line 3:", "line 4:", "line 5:"] {
            assert!(err.contains(line), "{err}");
        }
        assert!(err.contains("--dataset-skip-bad"), "{err}");
        let dataset = read_dataset(&path, true).unwrap();
        assert_eq!(dataset.entries.len(), 1);
        let skipped: Vec<usize> = dataset.skipped.iter().map(|b| b.line).collect();
        assert_eq!(skipped, [2, 3, 4, 5]);
    }
}

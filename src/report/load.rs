//! Reading a report's inputs: finding result files (a folder means every `*.json` below it),
//! parsing them, and telling what each one is. Parsing is lenient: a file only needs the fields
//! it uses, so a file written by the PowerShell suite (no ollabench extras) still renders.
//! A bad file becomes a [`FileProblem`] naming it; the other files still render.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::compare::read::{json_files_below, parse_json};

/// What a result file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InputKind {
    SingleUser,
    TokensPerSecond,
    MultiUser,
    /// Written by `ollabench compare --output` (`"ReportType": "ComparisonReport"`).
    Comparison,
}

impl InputKind {
    /// The command that writes it.
    pub fn label(&self) -> &'static str {
        match self {
            InputKind::SingleUser => "single-user",
            InputKind::TokensPerSecond => "tokens-per-second",
            InputKind::MultiUser => "multi-user",
            InputKind::Comparison => "comparison report",
        }
    }
}

/// A file that could not be used, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct FileProblem {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// One parsed result file.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    pub path: PathBuf,
    /// A short name for headings: the path relative to the folder it was found in, or the
    /// file name when given directly.
    pub label: String,
    pub kind: InputKind,
    pub value: Value,
}

/// Everything read from the inputs.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub files: Vec<LoadedFile>,
    /// Files given or found that could not be used.
    pub problems: Vec<FileProblem>,
    /// JSON files found in a folder that are not result files (left out, not an error).
    pub skipped: Vec<PathBuf>,
}

/// Reads every input: files as given, folders recursively (sorted, hidden entries and
/// temporary files left out).
pub fn load(inputs: &[PathBuf]) -> Inputs {
    let mut loaded = Inputs::default();
    for input in inputs {
        if input.is_dir() {
            let mut found = Vec::new();
            if let Err(err) = json_files_below(input, &mut found, 0) {
                loaded.problems.push(FileProblem {
                    path: input.clone(),
                    message: err,
                });
            }
            for path in found {
                let label = path
                    .strip_prefix(input)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                match load_file(&path, label) {
                    Ok(Some(file)) => loaded.files.push(file),
                    Ok(None) => loaded.skipped.push(path),
                    Err(problem) => loaded.problems.push(problem),
                }
            }
        } else {
            let label = input
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| input.display().to_string());
            match load_file(input, label) {
                Ok(Some(file)) => loaded.files.push(file),
                Ok(None) => loaded.problems.push(FileProblem {
                    path: input.clone(),
                    message: "not an ollabench or benchmark-suite result file (expected single-user, tokens-per-second, multi-user or a comparison report)".into(),
                }),
                Err(problem) => loaded.problems.push(problem),
            }
        }
    }
    disambiguate_labels(&mut loaded.files);
    loaded
}

/// Reads one file: `Ok(None)` when it is JSON but no result file.
fn load_file(path: &Path, label: String) -> Result<Option<LoadedFile>, FileProblem> {
    let problem = |message: String| FileProblem {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|err| problem(format!("cannot read: {err}")))?;
    // The same decoding as `compare`: byte-order marks, UTF-16, empty files, line and column.
    let value: Value = parse_json(&bytes).map_err(|err| {
        let at = match (err.line, err.column) {
            (Some(line), Some(column)) => format!(" at line {line}, column {column}"),
            _ => String::new(),
        };
        problem(format!(
            "not valid JSON{at} ({}); was the file cut short or edited by hand?",
            err.message
        ))
    })?;
    let Some(kind) = classify(&value) else {
        return Ok(None);
    };
    Ok(Some(LoadedFile {
        path: path.to_path_buf(),
        label,
        kind,
        value,
    }))
}

/// What a parsed file is, from the fields only that kind has.
pub fn classify(value: &Value) -> Option<InputKind> {
    let object = value.as_object()?;
    if object.get("ReportType").and_then(Value::as_str) == Some("ComparisonReport") {
        return Some(InputKind::Comparison);
    }
    if object.contains_key("IndividualResults") || object.contains_key("ConcurrentUsers") {
        return Some(InputKind::MultiUser);
    }
    if object.contains_key("ModelResults")
        || object
            .get("Summary")
            .and_then(|s| s.get("OverallAverageTokensPerSecond"))
            .is_some()
    {
        return Some(InputKind::TokensPerSecond);
    }
    if object.contains_key("Measurements") {
        return Some(InputKind::SingleUser);
    }
    None
}

/// Two files with the same label (`a/single-user.json`, `b/single-user.json` given directly)
/// get their parent folder in front.
fn disambiguate_labels(files: &mut [LoadedFile]) {
    let labels: Vec<String> = files.iter().map(|f| f.label.clone()).collect();
    for file in files.iter_mut() {
        if labels.iter().filter(|l| **l == file.label).count() > 1 {
            if let Some(parent) = file.path.parent().and_then(Path::file_name) {
                file.label = format!("{}/{}", parent.to_string_lossy(), file.label);
            }
        }
    }
}

/// Lenient access into a JSON value: a missing key, a null or a wrong type reads as absent.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a>(pub Option<&'a Value>);

impl<'a> Node<'a> {
    pub fn new(value: &'a Value) -> Self {
        Node(Some(value))
    }

    /// The child `key` of an object.
    pub fn get(self, key: &str) -> Node<'a> {
        Node(self.0.and_then(|v| v.get(key)))
    }

    /// A number; numeric strings too (some PowerShell versions quote numbers).
    pub fn f64(self) -> Option<f64> {
        match self.0? {
            Value::Number(n) => n.as_f64().filter(|v| v.is_finite()),
            Value::String(s) => s.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
            _ => None,
        }
    }

    /// A non-negative whole number.
    pub fn u64(self) -> Option<u64> {
        self.f64()
            .filter(|v| *v >= 0.0 && v.fract() == 0.0)
            .map(|v| v as u64)
    }

    /// Text; numbers and booleans are shown as written.
    pub fn text(self) -> Option<String> {
        match self.0? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn bool(self) -> Option<bool> {
        self.0?.as_bool()
    }

    /// The items of an array (a single object counts as one item: PowerShell's ConvertTo-Json
    /// writes a one-element array as the element itself).
    pub fn items(self) -> Vec<Node<'a>> {
        match self.0 {
            Some(Value::Array(items)) => items.iter().map(|v| Node(Some(v))).collect(),
            Some(value @ Value::Object(_)) => vec![Node(Some(value))],
            _ => Vec::new(),
        }
    }

    /// Numbers of an array, non-numbers skipped.
    pub fn numbers(self) -> Vec<f64> {
        self.items().into_iter().filter_map(Node::f64).collect()
    }

    /// Texts of an array (or one text).
    pub fn texts(self) -> Vec<String> {
        match self.0 {
            Some(Value::Array(items)) => {
                items.iter().filter_map(|v| Node(Some(v)).text()).collect()
            }
            Some(value) => Node(Some(value)).text().into_iter().collect(),
            None => Vec::new(),
        }
    }

    pub fn exists(self) -> bool {
        self.0.is_some_and(|v| !v.is_null())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_are_told_apart_by_their_fields() {
        assert_eq!(
            classify(&json!({"Timestamp": "x", "Measurements": {}})),
            Some(InputKind::SingleUser)
        );
        assert_eq!(
            classify(&json!({"Summary": {"OverallAverageTokensPerSecond": 1}})),
            Some(InputKind::TokensPerSecond)
        );
        assert_eq!(
            classify(&json!({"ConcurrentUsers": 3, "Summary": {}})),
            Some(InputKind::MultiUser)
        );
        assert_eq!(
            classify(&json!({"ReportType": "ComparisonReport", "Runs": []})),
            Some(InputKind::Comparison)
        );
        assert_eq!(classify(&json!({"name": "package.json"})), None);
        assert_eq!(classify(&json!([1, 2])), None);
    }

    #[test]
    fn nodes_read_leniently() {
        let value = json!({"A": {"B": "4.5", "C": null, "D": [1, "x", 2]}, "E": {"F": 1}});
        let root = Node::new(&value);
        assert_eq!(root.get("A").get("B").f64(), Some(4.5));
        assert_eq!(root.get("A").get("C").f64(), None);
        assert!(!root.get("A").get("C").exists());
        assert_eq!(root.get("A").get("D").numbers(), vec![1.0, 2.0]);
        assert_eq!(root.get("E").items().len(), 1);
        assert_eq!(root.get("Z").get("Y").text(), None);
    }

    #[test]
    fn folders_are_walked_and_bad_files_named() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("results-1");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(
            sub.join("single-user.json"),
            "\u{feff}{\"Measurements\": {}}",
        )
        .unwrap();
        std::fs::write(dir.path().join("broken.json"), "{\"Measurements\": ").unwrap();
        std::fs::write(dir.path().join("other.json"), "{\"name\": 1}").unwrap();
        std::fs::write(dir.path().join(".tmp123.json"), "{").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
        let inputs = load(&[dir.path().to_path_buf()]);
        assert_eq!(inputs.files.len(), 1);
        assert_eq!(
            inputs.files[0].label,
            format!("results-1{}single-user.json", std::path::MAIN_SEPARATOR)
        );
        assert_eq!(inputs.problems.len(), 1);
        assert!(inputs.problems[0].to_string().contains("broken.json"));
        assert!(inputs.problems[0].message.contains("not valid JSON"));
        assert_eq!(inputs.skipped.len(), 1);

        let direct = load(&[
            dir.path().join("other.json"),
            dir.path().join("missing.json"),
        ]);
        assert!(direct.files.is_empty());
        assert_eq!(direct.problems.len(), 2);
        assert!(direct.problems[0].message.contains("not an ollabench"));
        assert!(direct.problems[1].message.contains("cannot read"));
    }
}

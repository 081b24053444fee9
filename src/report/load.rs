//! A report's inputs, read by the one reader of result files ([`crate::results::read`]): the
//! report renders exactly the files `compare` accepts and lists the ones it rejects with the
//! same message. What is left here is the report's own business: a label for each file's
//! heading, and the runs `compare` makes of it, so that verdicts and trends judge and group a
//! file as `compare` does.

use std::path::{Path, PathBuf};

use crate::results::comparison::Run;
use crate::results::read::{self, ResultFile};

/// A file that could not be used, and why: the reader's error, as `compare` reports it.
pub use crate::results::read::ReadError as FileProblem;

/// One result, read.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    /// A short name for headings: the path relative to the folder it was found in, or the
    /// file name when given directly (`#N` for an element of a file holding an array).
    pub label: String,
    pub file: ResultFile,
    /// What `compare` makes of it: one run, or a comparison report's runs.
    pub runs: Vec<Run>,
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

/// Reads every input: files as given, folders recursively (see [`read::read_paths`]).
pub fn load(inputs: &[PathBuf]) -> Inputs {
    let mut loaded = Inputs::default();
    for input in inputs {
        let read = read::read_paths(std::slice::from_ref(input));
        for file in read.results {
            let shown = if input.is_dir() {
                file.path.strip_prefix(input).unwrap_or(&file.path)
            } else {
                file.path.file_name().map(Path::new).unwrap_or(&file.path)
            };
            // `#N` of an element of an array file.
            let element = file
                .source
                .strip_prefix(&file.path.display().to_string())
                .unwrap_or("");
            let label = format!("{}{element}", shown.display());
            let runs = crate::results::runs::runs_of(&file);
            loaded.files.push(LoadedFile { label, file, runs });
        }
        loaded.problems.extend(read.errors);
        loaded
            .skipped
            .extend(read.skipped.iter().map(|err| PathBuf::from(err.path())));
    }
    disambiguate_labels(&mut loaded.files);
    loaded
}

/// Two files with the same label (`a/single-user.json`, `b/single-user.json` given directly)
/// get their parent folder in front.
fn disambiguate_labels(files: &mut [LoadedFile]) {
    let labels: Vec<String> = files.iter().map(|f| f.label.clone()).collect();
    for loaded in files.iter_mut() {
        if labels.iter().filter(|l| **l == loaded.label).count() > 1 {
            if let Some(parent) = loaded.file.path.parent().and_then(Path::file_name) {
                loaded.label = format!("{}/{}", parent.to_string_lossy(), loaded.label);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_relative_to_the_folder_or_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        for folder in ["a", "b"] {
            let sub = dir.path().join(folder);
            std::fs::create_dir_all(&sub).unwrap();
            std::fs::write(
                sub.join("single-user.json"),
                "[{\"Measurements\": {\"TokensPerSecond\": 1}}, \
                  {\"Measurements\": {\"TokensPerSecond\": 2}}]",
            )
            .unwrap();
        }
        let from_folder = load(&[dir.path().join("a")]);
        let labels: Vec<&str> = from_folder.files.iter().map(|f| f.label.as_str()).collect();
        assert_eq!(labels, ["single-user.json#1", "single-user.json#2"]);
        assert_eq!(
            from_folder.files[1].runs[0].value("TokensPerSecond"),
            Some(2.0)
        );
        let direct = load(&[
            dir.path().join("a/single-user.json"),
            dir.path().join("b/single-user.json"),
        ]);
        assert_eq!(direct.files[0].label, "a/single-user.json#1");
        assert_eq!(direct.files[3].label, "b/single-user.json#2");
    }
}

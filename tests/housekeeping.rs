//! `ollabench results` on a temporary benchmarks folder: list, baseline set, prune in dry-run
//! and real mode (old runs gone, baselines and runs a comparison refers to kept), refusal
//! without --yes when stdin is not a terminal, and clear errors for a missing root.

mod support;

use std::path::{Path, PathBuf};

use ollabench::housekeeping::{self, DateSource, RunState};
use serde_json::json;
use support::ollabench_binary;

/// A single-user result of the reference's shape, at `timestamp` (none: no Timestamp).
fn single_user(timestamp: Option<&str>, status: &str) -> serde_json::Value {
    let mut value = json!({
        "Model": "llama3.1:8b",
        "OllamaEndpoint": "http://10.0.0.5:11434",
        "Status": status,
        "Measurements": {
            "DownloadTimeSeconds": 45.67,
            "DownloadStatus": "Success",
            "LoadTimeColdSeconds": 18.0,
            "LoadTimeWarmSeconds": 2.14,
            "LoadStatus": "Success",
            "TotalTimeSeconds": 63.67,
            "TokensPerSecond": 42.5
        }
    });
    if let Some(timestamp) = timestamp {
        value["Timestamp"] = json!(timestamp);
    }
    value
}

fn write(path: &Path, value: &serde_json::Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

/// The tree every test starts from:
/// - `results-20200101-120000/`: old, deleted by a prune;
/// - `results-20200201-120000/`: old, named by `comparisons/storage.json`;
/// - `results-20200301-000000/`: old, its file has no Timestamp (dated by the folder name);
/// - `results-RECENT/`: today, interrupted;
/// - `old-throughput.json`: old, loose; becomes a baseline in some tests;
/// - `notes.json`: loose JSON that is no result (no run).
struct Tree {
    dir: tempfile::TempDir,
    recent: String,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let now = chrono::Local::now().naive_local();
        let recent = now.format("results-%Y%m%d-%H%M%S").to_string();
        let today = now.format("%Y-%m-%d %H:%M:%S").to_string();
        write(
            &root.join("results-20200101-120000/single-user.json"),
            &single_user(Some("2020-01-01 12:00:00"), "Success"),
        );
        write(
            &root.join("results-20200201-120000/single-user.json"),
            &single_user(Some("2020-02-01 12:00:00"), "Success"),
        );
        write(
            &root.join("results-20200301-000000/single-user.json"),
            &single_user(None, "Success"),
        );
        write(
            &root.join(&recent).join("single-user.json"),
            &single_user(Some(&today), "Interrupted"),
        );
        write(
            &root.join("old-throughput.json"),
            &single_user(Some("2019-06-01 08:00:00"), "Success"),
        );
        write(&root.join("notes.json"), &json!({"hello": "world"}));
        write(
            &root.join("comparisons/storage.json"),
            &json!({
                "ReportType": "ComparisonReport",
                "Runs": [{
                    "Source": "benchmarks/results-20200201-120000/single-user.json",
                    "Kind": "SingleUser",
                    "Metrics": []
                }]
            }),
        );
        Tree { dir, recent }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn root_arg(&self) -> String {
        self.root().display().to_string()
    }

    fn exists(&self, relative: &str) -> bool {
        self.root().join(relative).exists()
    }
}

#[test]
fn list_reads_dates_kinds_targets_and_status() {
    let tree = Tree::new();
    let listing = housekeeping::list(tree.root()).unwrap();
    let names: Vec<&str> = listing.runs.iter().map(|r| r.name.as_str()).collect();
    // Oldest first; notes.json and comparisons/ are no runs.
    assert_eq!(
        names,
        [
            "old-throughput.json",
            "results-20200101-120000",
            "results-20200201-120000",
            "results-20200301-000000",
            tree.recent.as_str()
        ]
    );
    let by_name = |name: &str| listing.runs.iter().find(|r| r.name == name).unwrap();
    let undated = by_name("results-20200301-000000");
    assert_eq!(undated.date_source, Some(DateSource::FolderName));
    assert_eq!(undated.date.unwrap().to_string(), "2020-03-01 00:00:00");
    let old = by_name("results-20200101-120000");
    assert_eq!(old.date_source, Some(DateSource::File));
    assert_eq!(old.targets, ["http://10.0.0.5:11434"]);
    assert_eq!(old.state, RunState::Complete);
    assert_eq!(by_name(&tree.recent).state, RunState::Interrupted);
}

#[tokio::test]
async fn baseline_set_copies_with_a_manifest_and_list_marks_it() {
    let tree = Tree::new();
    let root = tree.root_arg();
    let source = tree.root().join("old-throughput.json");
    let (code, stdout, stderr) = ollabench_binary(&[
        "results",
        "baseline",
        "set",
        source.to_str().unwrap(),
        "--name",
        "azure-files",
        "--note",
        "Azure Files Premium, T4",
        "--root",
        &root,
    ])
    .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("Baseline 'azure-files'"), "{stdout}");
    let copy = tree.root().join("baseline/azure-files.json");
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(&source).unwrap()
    );
    let manifest = support::read_json(&tree.root().join("baseline/azure-files.baseline.json"));
    assert_eq!(manifest["Name"], "azure-files");
    assert_eq!(manifest["Note"], "Azure Files Premium, T4");
    assert_eq!(manifest["Copy"], "azure-files.json");

    // A folder becomes a folder copy, named after it by default.
    let folder = tree.root().join("results-20200101-120000");
    let (code, _, stderr) = ollabench_binary(&[
        "results",
        "baseline",
        "set",
        folder.to_str().unwrap(),
        "--root",
        &root,
    ])
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(tree.exists("baseline/results-20200101-120000/single-user.json"));

    // The same name twice is refused, and so is a file that is no result.
    let (code, _, stderr) = ollabench_binary(&[
        "results",
        "baseline",
        "set",
        source.to_str().unwrap(),
        "--name",
        "azure-files",
        "--root",
        &root,
    ])
    .await;
    assert_eq!(code, 2);
    assert!(stderr.contains("already exists"), "{stderr}");
    let notes = tree.root().join("notes.json");
    let (code, _, stderr) = ollabench_binary(&[
        "results",
        "baseline",
        "set",
        notes.to_str().unwrap(),
        "--root",
        &root,
    ])
    .await;
    assert_eq!(code, 2);
    assert!(stderr.contains("no result file"), "{stderr}");

    let (code, stdout, _) = ollabench_binary(&["results", "list", "--root", &root]).await;
    assert_eq!(code, 0);
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} missing in:\n{stdout}"))
            .to_string()
    };
    assert!(
        line("old-throughput.json").contains("azure-files"),
        "{stdout}"
    );
    assert!(
        line("old-throughput.json").contains("single-user"),
        "{stdout}"
    );
    assert!(line(&tree.recent).contains("interrupted"), "{stdout}");
    assert!(
        line("results-20200301-000000").contains("(folder name)"),
        "{stdout}"
    );
    assert!(stdout.contains("Baselines (2)"), "{stdout}");
    assert!(
        line("Azure Files Premium, T4").contains("baseline/azure-files.json"),
        "{stdout}"
    );
}

#[tokio::test]
async fn prune_dry_run_deletes_nothing_and_real_run_keeps_baselines_and_references() {
    let tree = Tree::new();
    let root = tree.root_arg();
    housekeeping::set_baseline(
        tree.root(),
        &tree.root().join("old-throughput.json"),
        Some("reference"),
        None,
    )
    .unwrap();
    let before: Vec<PathBuf> = std::fs::read_dir(tree.root())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();

    let (code, stdout, stderr) = ollabench_binary(&[
        "results",
        "prune",
        "--older-than",
        "30d",
        "--dry-run",
        "--root",
        &root,
    ])
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Would delete 2 run(s) older than 30d"),
        "{stdout}"
    );
    assert!(stdout.contains("results-20200101-120000"), "{stdout}");
    assert!(stdout.contains("results-20200301-000000"), "{stdout}");
    assert!(
        stdout.contains("results-20200201-120000: comparisons/storage.json refers to it"),
        "{stdout}"
    );
    assert!(
        stdout.contains("old-throughput.json: baseline 'reference' was copied from it"),
        "{stdout}"
    );
    assert!(stdout.contains("Dry run: nothing deleted."), "{stdout}");
    for path in &before {
        assert!(path.exists(), "dry run deleted {}", path.display());
    }

    let (code, stdout, stderr) = ollabench_binary(&[
        "results",
        "prune",
        "--older-than",
        "30d",
        "--yes",
        "--root",
        &root,
    ])
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Deleted 2 run(s)."), "{stdout}");
    assert!(!tree.exists("results-20200101-120000"));
    assert!(!tree.exists("results-20200301-000000"));
    for kept in [
        "results-20200201-120000/single-user.json",
        "old-throughput.json",
        "baseline/reference.json",
        "baseline/reference.baseline.json",
        "comparisons/storage.json",
        "notes.json",
    ] {
        assert!(tree.exists(kept), "{kept} was deleted");
    }
    assert!(tree.exists(&format!("{}/single-user.json", tree.recent)));
}

#[tokio::test]
async fn prune_refuses_without_yes_when_stdin_is_not_a_terminal() {
    let tree = Tree::new();
    let (code, stdout, stderr) = ollabench_binary(&[
        "results",
        "prune",
        "--older-than",
        "30d",
        "--root",
        &tree.root_arg(),
    ])
    .await;
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("pass --yes"), "{stderr}");
    assert!(stdout.contains("To delete 3 run(s)"), "{stdout}");
    assert!(tree.exists("results-20200101-120000/single-user.json"));
    assert!(tree.exists("old-throughput.json"));
}

#[tokio::test]
async fn a_missing_root_or_a_bad_age_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let missing = missing.to_str().unwrap();
    for args in [
        vec!["results", "list", "--root", missing],
        vec![
            "results",
            "prune",
            "--older-than",
            "30d",
            "--dry-run",
            "--root",
            missing,
        ],
        vec!["results", "baseline", "set", missing, "--root", missing],
    ] {
        let (code, _, stderr) = ollabench_binary(&args).await;
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("no such folder"), "{args:?}: {stderr}");
        assert!(stderr.contains("--root"), "{args:?}: {stderr}");
    }
    let root = dir.path().to_str().unwrap();
    let (code, _, stderr) = ollabench_binary(&[
        "results",
        "prune",
        "--older-than",
        "30 days",
        "--root",
        root,
    ])
    .await;
    assert_eq!(code, 2);
    assert!(stderr.contains("not an age: write e.g. 30d"), "{stderr}");
}

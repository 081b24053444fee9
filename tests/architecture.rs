//! The module graph that `src/lib.rs` describes, checked on the sources: `cli` is used only by
//! `main` and `lib`, no scenario reaches `compare` or `report`, `exit` depends only on `results`
//! (the errors it maps to exit codes), `sim` on nothing, and no two top-level modules import
//! each other, directly or not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Top-level module -> the top-level modules its code names as `crate::NAME`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let top_of = |path: &Path| -> String {
        let relative = path.strip_prefix(&src).expect("under src");
        let first = relative.components().next().expect("a component");
        first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string()
    };
    let modules: BTreeSet<String> = files.iter().map(|f| top_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let top = top_of(file);
        let text = std::fs::read_to_string(file).expect("readable");
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for (index, _) in code.match_indices("crate::") {
                let rest = &code[index + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if modules.contains(&name) && name != top {
                    graph.entry(top.clone()).or_default().insert(name);
                }
            }
        }
    }
    graph
}

#[test]
fn cli_is_used_only_by_main_and_lib() {
    for (module, uses) in graph() {
        if !matches!(module.as_str(), "cli" | "main" | "lib") {
            assert!(!uses.contains("cli"), "{module} imports cli");
        }
    }
}

#[test]
fn scenarios_reach_neither_compare_nor_report() {
    let graph = graph();
    let uses = graph.get("scenario").cloned().unwrap_or_default();
    assert!(!uses.contains("compare"), "scenario imports compare");
    assert!(!uses.contains("report"), "scenario imports report");
}

#[test]
fn the_lowest_modules_depend_on_nothing_above_them() {
    let graph = graph();
    let exit = graph.get("exit").cloned().unwrap_or_default();
    assert!(
        exit.iter().all(|used| used == "results"),
        "exit depends on {exit:?}: it may know only results' errors"
    );
    let sim = graph.get("sim").cloned().unwrap_or_default();
    assert!(sim.is_empty(), "sim depends on {sim:?}");
    let results = graph.get("results").cloned().unwrap_or_default();
    for above in [
        "backend", "scenario", "compare", "report", "engine", "config", "exit",
    ] {
        assert!(!results.contains(above), "results imports {above}");
    }
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = graph();
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            panic!("import cycle: {:?} -> {node}", &path[at..]);
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(node.to_string());
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
}

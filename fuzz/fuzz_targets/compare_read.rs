//! The result-file reader of `ollabench compare`: the input is a result file's bytes, read
//! as `compare` reads a file (`load_file` without the disk: decoding with BOM and UTF-16, JSON,
//! the PowerShell leniencies, kind detection; then labels), then compared and printed in every
//! format, and the comparison report read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ollabench::compare::analyse;
use ollabench::results::runs::{assign_labels, parse_json, runs_from_value, LoadError};
use ollabench::compare::render::{render, Format};

fuzz_target!(|bytes: &[u8]| {
    let runs = match parse_json(bytes) {
        Err(err) => {
            let _ = err.to_string();
            return;
        }
        Ok(value) => match runs_from_value(&value, "results/result.json") {
            Ok(runs) => runs,
            Err(LoadError::NotAResultFile(err) | LoadError::Unusable(err)) => {
                assert!(!err.message.is_empty());
                let _ = err.to_string();
                return;
            }
        },
    };
    let mut runs = runs;
    assign_labels(&mut runs);
    let count = runs.len();
    let comparison = analyse(runs, Some(5.0));
    assert_eq!(comparison.runs.len(), count, "a run was lost");
    for format in [Format::Table, Format::Markdown, Format::Csv] {
        for verbose in [false, true] {
            let _ = render(&comparison, format, verbose);
        }
    }
    // The comparison report is JSON that compare reads back.
    let report = render(&comparison, Format::Json, false);
    let value = parse_json(report.as_bytes()).expect("the comparison report is JSON");
    let _ = runs_from_value(&value, "report.json");
});

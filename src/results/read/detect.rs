//! What a parsed file is, from the fields only that kind has, and the fields without which a
//! file of that kind is no result at all (checked before it is deserialized, so that the
//! message names what is missing rather than a default that would stand in for it).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::legacy::{describe, is_depth_cut};

/// The marker a comparison report carries: `"ReportType": "ComparisonReport"`.
pub const REPORT_TYPE: &str = "ComparisonReport";

/// What a result file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// Benchmark 1: download, cold load, warm load, first generation (`single-user`).
    SingleUser,
    /// Benchmark 2: steady-state throughput by model and prompt length (`tokens-per-second`).
    TokensPerSecond,
    /// Benchmark 3: concurrent users (`multi-user`).
    MultiUser,
    /// Steps of closed or open-loop load against one model (`load`).
    Load,
    /// A report written by `ollabench compare --output` (`"ReportType": "ComparisonReport"`).
    ComparisonReport,
    /// A capacity search's probes and answer (`capacity`).
    Capacity,
}

impl Kind {
    /// The name used in output: the command's name.
    pub fn label(&self) -> &'static str {
        match self {
            Kind::SingleUser => "single-user",
            Kind::TokensPerSecond => "tokens-per-second",
            Kind::MultiUser => "multi-user",
            Kind::Load => "load",
            Kind::ComparisonReport => "comparison report",
            Kind::Capacity => "capacity",
        }
    }

    /// What a file of this kind is called in messages: `single-user result`.
    pub fn subject(&self) -> String {
        match self {
            Kind::ComparisonReport => self.label().to_string(),
            _ => format!("{} result", self.label()),
        }
    }
}

/// Why a file is of no kind ollabench knows.
pub const UNKNOWN_KIND: &str = "not a result file ollabench knows. Expected a single-user \
    result (Measurements), a tokens-per-second result (ModelResults, \
    Summary.OverallAverageTokensPerSecond), a multi-user result (ConcurrentUsers, \
    Summary.OverallDurationSeconds), a load result (Steps), a capacity result (Probes) or a \
    comparison report (\"ReportType\": \"ComparisonReport\")";

/// The member `key` of an object, matched exactly first, then ignoring letter case.
pub fn member<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The kind of a parsed file; `None` for JSON that is no result file.
pub fn detect(root: &Value) -> Option<Kind> {
    let has = |key: &str| member(root, key).is_some();
    let summary_has = |key: &str| {
        member(root, "Summary")
            .and_then(|s| member(s, key))
            .is_some()
    };
    let report_type = member(root, "ReportType").and_then(Value::as_str);
    if report_type.is_some_and(|t| t.trim().eq_ignore_ascii_case(REPORT_TYPE)) {
        Some(Kind::ComparisonReport)
    } else if has("Probes") {
        Some(Kind::Capacity)
    } else if has("Steps") {
        Some(Kind::Load)
    } else if has("ConcurrentUsers")
        || has("IndividualResults")
        || summary_has("OverallDurationSeconds")
    {
        Some(Kind::MultiUser)
    } else if has("ModelResults") || summary_has("OverallAverageTokensPerSecond") {
        Some(Kind::TokensPerSecond)
    } else if has("Measurements") {
        Some(Kind::SingleUser)
    } else {
        None
    }
}

/// The measurements a single-user file needs at least one of.
const SINGLE_USER_FIELDS: [&str; 5] = [
    "DownloadTimeSeconds",
    "LoadTimeColdSeconds",
    "LoadTimeWarmSeconds",
    "TotalTimeSeconds",
    "TokensPerSecond",
];

/// Checks that the fields a file of `kind` cannot do without are there.
pub fn check_present(kind: Kind, root: &Value) -> Result<(), String> {
    match kind {
        Kind::SingleUser => {
            let measurements = member(root, "Measurements").ok_or("missing Measurements")?;
            object("Measurements", measurements)?;
            if !SINGLE_USER_FIELDS
                .iter()
                .any(|field| member(measurements, field).is_some())
            {
                return Err(format!(
                    "missing fields: Measurements has none of {}",
                    SINGLE_USER_FIELDS.join(", ")
                ));
            }
        }
        Kind::TokensPerSecond => {
            if let Some(summary) = member(root, "Summary") {
                object("Summary", summary)?;
            }
        }
        Kind::MultiUser => {
            let summary = member(root, "Summary")
                .ok_or("missing fields: Summary (with OverallDurationSeconds)")?;
            object("Summary", summary)?;
        }
        Kind::Load => {
            let steps = member(root, "Steps").ok_or("missing Steps")?;
            if !steps.is_array() {
                return Err(format!(
                    "Steps: expected an array, found {}",
                    describe(steps)
                ));
            }
        }
        Kind::ComparisonReport => {
            member(root, "Runs").ok_or("missing Runs (the runs it compared)")?;
        }
        Kind::Capacity => {
            array_of(root, "Probes")?;
            object(
                "Capacity",
                member(root, "Capacity").ok_or("missing Capacity (the answer)")?,
            )?;
        }
    }
    Ok(())
}

/// An error unless `key` holds an array.
fn array_of(root: &Value, key: &str) -> Result<(), String> {
    match member(root, key) {
        Some(value) if value.is_array() => Ok(()),
        Some(_) => Err(format!("{key} is not a list")),
        None => Err(format!("missing {key}")),
    }
}

/// An error unless `value` is an object.
fn object(path: &str, value: &Value) -> Result<(), String> {
    if value.is_object() {
        Ok(())
    } else if is_depth_cut(value) {
        Err(format!(
            "{path}: PowerShell wrote this object as text (ConvertTo-Json's default -Depth 2 \
             cut the file); write result files with ConvertTo-Json -Depth 10"
        ))
    } else {
        Err(format!(
            "{path}: expected an object, found {}",
            describe(value)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_are_told_apart_by_their_fields_in_any_case() {
        let cases = [
            (
                json!({"Timestamp": "x", "Measurements": {}}),
                Some(Kind::SingleUser),
            ),
            (json!({"measurements": {}}), Some(Kind::SingleUser)),
            (
                json!({"Summary": {"OverallAverageTokensPerSecond": 1}}),
                Some(Kind::TokensPerSecond),
            ),
            (json!({"modelresults": []}), Some(Kind::TokensPerSecond)),
            (
                json!({"ConcurrentUsers": 3, "Summary": {}}),
                Some(Kind::MultiUser),
            ),
            (
                json!({"summary": {"overalldurationseconds": 1}}),
                Some(Kind::MultiUser),
            ),
            (
                json!({"ReportType": "ComparisonReport", "Runs": []}),
                Some(Kind::ComparisonReport),
            ),
            (
                json!({"reporttype": "comparisonreport"}),
                Some(Kind::ComparisonReport),
            ),
            (json!({"name": "package.json"}), None),
            (json!([1, 2]), None),
            (json!("text"), None),
        ];
        for (value, kind) in cases {
            assert_eq!(detect(&value), kind, "{value}");
        }
    }

    #[test]
    fn required_fields_are_named() {
        let check = |kind, value: Value| check_present(kind, &value).unwrap_err();
        assert_eq!(
            check(Kind::SingleUser, json!({"Measurements": {"X": 1}})),
            "missing fields: Measurements has none of DownloadTimeSeconds, LoadTimeColdSeconds, \
             LoadTimeWarmSeconds, TotalTimeSeconds, TokensPerSecond"
        );
        assert!(check(Kind::SingleUser, json!({"Measurements": "@{A=1}"})).contains("-Depth 10"));
        assert_eq!(
            check(Kind::MultiUser, json!({"ConcurrentUsers": 3})),
            "missing fields: Summary (with OverallDurationSeconds)"
        );
        assert_eq!(
            check(Kind::TokensPerSecond, json!({"Summary": null})),
            "Summary: expected an object, found null"
        );
        assert!(check_present(Kind::TokensPerSecond, &json!({"ModelResults": []})).is_ok());
        assert!(check(Kind::ComparisonReport, json!({})).contains("missing Runs"));
    }
}

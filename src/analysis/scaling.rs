//! Scaling-efficiency analysis of a multi-user series (the reference's Workflow 3 and
//! "Scaling Efficiency Analysis").
//!
//! Definitions, as the reference gives them:
//! - efficiency = single-user time / overall duration (the reference writes it
//!   `(Users × SingleUserTime) / (Users × OverallDuration)`): 63 s alone, 125 s for 3 users
//!   -> 50%;
//! - speedup = users × efficiency (3 × 0.504 = 1.51x), against the serial estimate
//!   users × single-user time (189 s; 64 s saved);
//! - assessment: > 70% Excellent scaling; 50-70% Good parallelism; 30-50% Moderate contention
//!   (acceptable); < 30% Heavy contention (poor scaling, a bottleneck is present); the 1-user
//!   run is the baseline;
//! - contention: the max per-user download (and load) time against the average: within 20%
//!   is minimal contention, more than 50% means resource contention or a sequential
//!   bottleneck, in between some contention.
//!
//! The single-user time of a run comes from, in this order: a `--baseline` single-user file's
//! `TotalTimeSeconds`; the series' 1-user run (the one in the same folder, else the latest);
//! the file's own `Scaling.SingleUserTimeSeconds`; a single-user result among the inputs (the
//! one in the same folder, else the only one). Only runs of the same kind of target count: a
//! simulated run never gives a real one its single-user time, nor the reverse.

use std::path::Path;

use serde::Serialize;

use crate::results::comparison::{Kind, Run};
use crate::stats;

/// One multi-user run in the series.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingRow {
    pub run: String,
    pub users: u32,
    pub overall_duration_seconds: f64,
    pub single_user_time_seconds: Option<f64>,
    /// Where the single-user time came from.
    pub single_user_time_source: Option<String>,
    pub efficiency_percent: Option<f64>,
    pub speedup: Option<f64>,
    /// users × single-user time: what the run would take one user after another.
    pub serial_estimate_seconds: Option<f64>,
    pub saved_seconds: Option<f64>,
    pub assessment: Option<String>,
    pub download_contention: Option<Contention>,
    pub load_contention: Option<Contention>,
}

/// How far the slowest user was from the average.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Contention {
    pub average_seconds: f64,
    pub max_seconds: f64,
    /// (max - average) / average, percent.
    pub max_above_average_percent: f64,
    pub assessment: &'static str,
}

/// The series.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingAnalysis {
    /// By users, then Timestamp.
    pub rows: Vec<ScalingRow>,
    pub notes: Vec<String>,
}

impl ScalingAnalysis {
    /// The efficiency computed for the run with this label.
    pub fn efficiency_of(&self, label: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|row| row.run == label)
            .and_then(|row| row.efficiency_percent)
    }
}

/// The thresholds of [`scaling_assessment`], stated once for every output that shows one.
pub const SCALING_THRESHOLDS: &str = "efficiency = single-user time / overall duration: \
    over 70% excellent, 50-70% good, 30-50% moderate contention, under 30% heavy contention; \
    a speedup under 5% of the way from 1x to the number of users is serial";

/// The reference's words for an efficiency (percent) of `users` users, judged first by the
/// speedup those users bought: with 2 users, 50% efficiency is a speedup of 1.0x, which the
/// reference's thresholds alone would call good parallelism although nothing ran in parallel.
pub fn scaling_assessment(efficiency_percent: f64, users: u32) -> &'static str {
    let users_f = f64::from(users.max(1));
    let speedup = efficiency_percent / 100.0 * users_f;
    let parallel_fraction = if users > 1 {
        (speedup - 1.0) / (users_f - 1.0)
    } else {
        1.0
    };
    if users > 1 && parallel_fraction < 0.05 {
        "Serial: no concurrent benefit (the users ran one after another)"
    } else if efficiency_percent > 70.0 {
        "Excellent scaling"
    } else if efficiency_percent >= 50.0 {
        "Good parallelism"
    } else if efficiency_percent >= 30.0 {
        "Moderate contention (acceptable)"
    } else {
        "Heavy contention (poor scaling, bottleneck present)"
    }
}

/// The contention words for max vs average per-user time.
pub fn contention(average: f64, max: f64) -> Option<Contention> {
    if average <= 0.0 || !average.is_finite() || !max.is_finite() {
        return None;
    }
    let above = (max - average) / average * 100.0;
    let assessment = if above <= 20.0 {
        "minimal contention (good parallelism)"
    } else if above > 50.0 {
        "resource contention or a sequential bottleneck"
    } else {
        "some contention"
    };
    Some(Contention {
        average_seconds: average,
        max_seconds: max,
        max_above_average_percent: above,
        assessment,
    })
}

fn folder(run: &Run) -> Option<&Path> {
    let source = run
        .source
        .rsplit_once('#')
        .map_or(run.source.as_str(), |(p, _)| p);
    Path::new(source).parent()
}

/// The candidates of the same kind of target as `run`: simulated, or real.
fn like<'a>(candidates: &[&'a Run], run: &Run) -> Vec<&'a Run> {
    candidates
        .iter()
        .copied()
        .filter(|c| c.simulated == run.simulated)
        .collect()
}

fn latest<'a>(runs: &[&'a Run]) -> Option<&'a Run> {
    // Runs are in Timestamp order; the last one is the latest.
    runs.last().copied()
}

/// The analysis of every multi-user run among `runs` (`None` when there is none).
pub fn analyse(runs: &[Run]) -> Option<ScalingAnalysis> {
    let mut multi: Vec<&Run> = runs.iter().filter(|r| r.kind == Kind::MultiUser).collect();
    if multi.is_empty() {
        return None;
    }
    multi.sort_by_key(|r| r.concurrent_users.unwrap_or(0));
    let one_user: Vec<&Run> = multi
        .iter()
        .copied()
        .filter(|r| r.concurrent_users == Some(1))
        .collect();
    let baseline_single: Vec<&Run> = runs
        .iter()
        .filter(|r| r.kind == Kind::SingleUser && r.baseline)
        .filter(|r| r.value("TotalTimeSeconds").is_some())
        .collect();
    let other_single: Vec<&Run> = runs
        .iter()
        .filter(|r| r.kind == Kind::SingleUser && !r.baseline)
        .filter(|r| r.value("TotalTimeSeconds").is_some())
        .collect();

    let mut notes = Vec::new();
    let mut missing = Vec::new();
    let rows = multi
        .iter()
        .filter_map(|run| {
            let users = run.concurrent_users?;
            let overall = run.value("OverallDurationSeconds")?;
            // A simulated run's times say nothing about real hardware, nor the reverse.
            let (one_user, baseline_single, other_single) = (
                like(&one_user, run),
                like(&baseline_single, run),
                like(&other_single, run),
            );
            let same_folder = |candidates: &[&Run]| -> Option<Run> {
                candidates
                    .iter()
                    .rfind(|c| folder(c) == folder(run))
                    .map(|c| (*c).clone())
            };
            let single: Option<(f64, String)> = if users == 1 {
                Some((overall, "this run (1 user is the baseline)".to_string()))
            } else if !baseline_single.is_empty() {
                let times: Vec<f64> = baseline_single
                    .iter()
                    .filter_map(|r| r.value("TotalTimeSeconds"))
                    .collect();
                let labels: Vec<&str> = baseline_single.iter().map(|r| r.label.as_str()).collect();
                stats::mean(&times).map(|t| {
                    (
                        t,
                        format!("--baseline {} TotalTimeSeconds", labels.join(", ")),
                    )
                })
            } else if let Some(one) = same_folder(&one_user).or_else(|| latest(&one_user).cloned())
            {
                one.value("OverallDurationSeconds")
                    .map(|t| (t, format!("1-user run {}", one.label)))
            } else if let Some(own) = run.single_user_time_seconds {
                Some((own, "the file's Scaling.SingleUserTimeSeconds".to_string()))
            } else {
                let single = same_folder(&other_single).or_else(|| match other_single.as_slice() {
                    [only] => Some((*only).clone()),
                    _ => None,
                });
                single.and_then(|s| {
                    s.value("TotalTimeSeconds")
                        .map(|t| (t, format!("single-user run {} TotalTimeSeconds", s.label)))
                })
            };
            if single.is_none() {
                missing.push(run.label.clone());
            }
            let efficiency = single
                .as_ref()
                .filter(|_| overall > 0.0)
                .map(|(time, _)| time / overall * 100.0);
            let assessment = match (users, efficiency) {
                (1, _) => Some("baseline".to_string()),
                (_, Some(e)) => Some(scaling_assessment(e, users).to_string()),
                _ => None,
            };
            let download = run
                .value("AverageDownloadTimeSeconds")
                .zip(run.value("MaxDownloadTimeSeconds"))
                .and_then(|(avg, max)| contention(avg, max));
            let load = run
                .value("AverageLoadTimeSeconds")
                .zip(run.value("MaxLoadTimeSeconds"))
                .and_then(|(avg, max)| contention(avg, max));
            let serial = single.as_ref().map(|(time, _)| time * f64::from(users));
            Some(ScalingRow {
                run: run.label.clone(),
                users,
                overall_duration_seconds: overall,
                single_user_time_seconds: single.as_ref().map(|(t, _)| *t),
                single_user_time_source: single.map(|(_, source)| source),
                efficiency_percent: efficiency,
                speedup: efficiency.map(|e| e / 100.0 * f64::from(users)),
                serial_estimate_seconds: serial,
                saved_seconds: serial.map(|s| s - overall),
                assessment,
                download_contention: download,
                load_contention: load,
            })
        })
        .collect();
    if !missing.is_empty() {
        notes.push(format!(
            "no single-user time for {}: add a 1-user run (ollabench multi-user \
             --concurrent-users 1), a single-user result, or --baseline single-user.json",
            missing.join(", ")
        ));
    }
    Some(ScalingAnalysis { rows, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_words() {
        assert_eq!(scaling_assessment(75.0, 3), "Excellent scaling");
        assert_eq!(scaling_assessment(50.4, 3), "Good parallelism");
        assert_eq!(
            scaling_assessment(35.0, 5),
            "Moderate contention (acceptable)"
        );
        assert_eq!(
            scaling_assessment(15.75, 10),
            "Heavy contention (poor scaling, bottleneck present)"
        );
    }

    #[test]
    fn a_serial_run_is_called_serial_whatever_its_efficiency() {
        // 2 users, speedup 1.03x: 51.5% efficiency, which the thresholds alone call good.
        assert!(scaling_assessment(51.5, 2).starts_with("Serial"));
        assert!(scaling_assessment(52.4, 2).starts_with("Serial"), "1.048x");
        assert_eq!(scaling_assessment(52.6, 2), "Good parallelism", "1.052x");
        assert!(scaling_assessment(34.0, 3).starts_with("Serial"), "1.02x");
        assert_eq!(scaling_assessment(100.0, 1), "Excellent scaling");
    }

    #[test]
    fn contention_of_the_reference_example() {
        // Example 3: average 38.21 s, max 52.10 s: 36% above average.
        let c = contention(38.21, 52.10).unwrap();
        assert!((c.max_above_average_percent - 36.35).abs() < 0.01);
        assert_eq!(c.assessment, "some contention");
        assert_eq!(
            contention(40.0, 45.0).unwrap().assessment,
            "minimal contention (good parallelism)"
        );
        assert_eq!(
            contention(20.0, 40.0).unwrap().assessment,
            "resource contention or a sequential bottleneck"
        );
        assert!(contention(0.0, 1.0).is_none());
    }
}

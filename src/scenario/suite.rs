//! `ollabench run` (the reference's run-benchmarks.ps1): runs scenarios into a timestamped
//! `results-YYYYMMDD-HHMMSS/` folder with the reference's file names, and prints a summary.
//! With `--simulate`, every scenario runs on a fresh simulated node (the throughput test's
//! models already downloaded, as the reference assumes), so downloads are really measured.

use std::path::{Path, PathBuf};

use crate::exit::{ConfigError, Ctx, Outcome};
use crate::output::events::Events;
use crate::results::RunStatus;
use crate::scenario::multi_user::MultiUserOptions;
use crate::scenario::runner;
use crate::scenario::single_user::SingleUserOptions;
use crate::scenario::target::Target;
use crate::scenario::tokens_per_second::TpsOptions;

pub use crate::config::suite::{parse_scenarios, Scenario, SuiteOptions};

/// What one scenario left behind.
#[derive(Debug, Clone)]
pub struct ScenarioOutcome {
    pub scenario: Scenario,
    pub file: PathBuf,
    pub status: Option<RunStatus>,
    pub headline: String,
}

/// Creates `results-YYYYMMDD-HHMMSS` (with a suffix if it exists) below `parent`.
pub fn create_results_folder(parent: &Path) -> Result<PathBuf, ConfigError> {
    let stamp = chrono::Local::now()
        .format("results-%Y%m%d-%H%M%S")
        .to_string();
    std::fs::create_dir_all(parent).map_err(|error| ConfigError::ResultsFolder {
        path: parent.to_path_buf(),
        error,
    })?;
    for attempt in 1..100 {
        let name = if attempt == 1 {
            stamp.clone()
        } else {
            format!("{stamp}-{attempt}")
        };
        let folder = parent.join(name);
        match std::fs::create_dir(&folder) {
            Ok(()) => return Ok(folder),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => {
                return Err(ConfigError::ResultsFolder {
                    path: folder,
                    error,
                })
            }
        }
    }
    Err(ConfigError::TooManyResultsFolders {
        stamp,
        parent: parent.to_path_buf(),
    })
}

/// Runs the scenarios and prints the summary. `folder_out` receives the results folder once it
/// exists, also when the run then fails, so that the caller can report on what is there.
pub async fn run(
    options: SuiteOptions,
    ctx: &Ctx,
    folder_out: &mut Option<PathBuf>,
) -> anyhow::Result<Outcome> {
    // Everything that can be refused is refused before the folder exists or a request is
    // sent: the scenarios' options, the results folder, and the server's reachability.
    validate_scenarios(&options)?;
    crate::results::write::check_folder_writable(
        &options.results_dir,
        "the results folder in",
        &options.results_dir,
    )?;
    let simulate = options.target.is_in_process_simulator();
    let shared = if simulate {
        None
    } else {
        Some(Target::connect(&options.target, ctx).await?)
    };
    let folder = match create_results_folder(&options.results_dir) {
        Ok(folder) => folder,
        Err(err) => {
            if let Some(target) = shared {
                target.close().await;
            }
            return Err(err.into());
        }
    };
    crate::outln!("Results folder: {}", folder.display());
    let mut outcomes: Vec<ScenarioOutcome> = Vec::new();
    let mut single_user_time: Option<f64> = None;
    let mut interrupted = false;
    let mut suite_error = None;
    for &scenario in &options.scenarios {
        if ctx.cancel.is_cancelled() {
            interrupted = true;
            break;
        }
        crate::outln!("== {} ==", scenario.name());
        let own_target = if simulate {
            let preload = if scenario == Scenario::TokensPerSecond {
                options.tps_models.clone()
            } else {
                Vec::new()
            };
            match Target::connect(&options.target.clone().with_preloaded(&preload), ctx).await {
                Ok(target) => Some(target),
                Err(err) => {
                    suite_error = Some(err);
                    break;
                }
            }
        } else {
            None
        };
        let Some(target) = own_target.as_ref().or(shared.as_ref()) else {
            break;
        };
        let file = folder.join(scenario.file_name());
        let outcome = run_scenario(scenario, target, &options, &file, single_user_time, ctx).await;
        if let Some(target) = own_target {
            target.close().await;
        }
        match outcome {
            Ok((status, headline, total)) => {
                if scenario == Scenario::SingleUser {
                    single_user_time = total;
                }
                crate::outln!("   {headline}");
                interrupted |= status == RunStatus::Interrupted;
                outcomes.push(ScenarioOutcome {
                    scenario,
                    file,
                    status: Some(status),
                    headline,
                });
            }
            Err(err) => {
                crate::outln!("   ❌ {err:#}");
                outcomes.push(ScenarioOutcome {
                    scenario,
                    file,
                    status: None,
                    headline: format!("failed: {err:#}"),
                });
            }
        }
        if interrupted {
            break;
        }
    }
    if let Some(target) = shared {
        target.close().await;
    }
    print_suite_summary(&folder, &outcomes, simulate, &options);
    *folder_out = Some(folder);
    if let Some(err) = suite_error {
        return Err(err);
    }
    Ok(if interrupted {
        Outcome::Interrupted
    } else if outcomes
        .iter()
        .all(|o| o.status == Some(RunStatus::Success))
    {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

/// Builds every scenario's options once, so that a bad value is refused before anything runs.
fn validate_scenarios(options: &SuiteOptions) -> anyhow::Result<()> {
    let scratch = Path::new("validation.json");
    for &scenario in &options.scenarios {
        match scenario {
            Scenario::TokensPerSecond => {
                tps_options(options, scratch)?;
            }
            Scenario::MultiUser(users) => {
                MultiUserOptions::validate(
                    options.target.clone(),
                    users,
                    &options.multi_user_models,
                    scratch.to_path_buf(),
                    None,
                    100,
                    options.download,
                )?;
            }
            Scenario::SingleUser => {
                if options.model.trim().is_empty() {
                    return Err(ConfigError::Empty {
                        flag: "--model",
                        advice: "name the model single-user measures",
                    }
                    .into());
                }
            }
        }
    }
    Ok(())
}

fn tps_options(options: &SuiteOptions, file: &Path) -> anyhow::Result<TpsOptions> {
    Ok(TpsOptions::defaults(
        options.target.clone(),
        &options.tps_models,
        file.to_path_buf(),
    )?)
}

/// Runs one scenario; returns its status, a one-line headline and (single-user) its total time.
async fn run_scenario(
    scenario: Scenario,
    target: &Target,
    options: &SuiteOptions,
    file: &Path,
    single_user_time: Option<f64>,
    ctx: &Ctx,
) -> anyhow::Result<(RunStatus, String, Option<f64>)> {
    // Each scenario draws its own progress; dropping `events` at the end clears it.
    let events = &Events::console(ctx.interactive, Default::default());
    match scenario {
        Scenario::SingleUser => {
            let su = SingleUserOptions {
                target: options.target.clone(),
                model: options.model.clone(),
                output: file.to_path_buf(),
                download: options.download,
                drop_caches_cmd: None,
                generation_tokens: 100,
                think: None,
            };
            let result = runner::measure_on(&su, target, ctx, events).await?;
            let m = &result.measurements;
            let headline = format!(
                "{}: download {} ({}), cold load {}, warm load {}, {} tok/s",
                result.model,
                secs(m.download_time_seconds),
                m.download_status,
                secs(m.load_time_cold_seconds),
                secs(m.load_time_warm_seconds),
                num(m.tokens_per_second)
            );
            Ok((result.status, headline, m.total_time_seconds))
        }
        Scenario::TokensPerSecond => {
            let tps = tps_options(options, file)?;
            let result = runner::measure_on(&tps, target, ctx, events).await?;
            let s = &result.summary;
            let headline = format!(
                "{} tok/s average (min {}, max {}) over {} tests and {} samples, success {}%",
                num(s.overall_average_tokens_per_second),
                num(s.overall_min_tokens_per_second),
                num(s.overall_max_tokens_per_second),
                s.total_tests,
                s.total_samples,
                s.success_rate
            );
            Ok((result.status, headline, None))
        }
        Scenario::MultiUser(users) => {
            let baseline =
                single_user_time.map(|time| (time, "single-user.json of this run".to_string()));
            let mut mu = MultiUserOptions::validate(
                options.target.clone(),
                users,
                &options.multi_user_models,
                file.to_path_buf(),
                None,
                100,
                options.download,
            )?;
            mu.baseline = baseline;
            let result = runner::measure_on(&mu, target, ctx, events).await?;
            let headline = format!(
                "{users} users: overall {:.2} s, success {}%, efficiency {} ({})",
                result.summary.overall_duration_seconds,
                result.summary.success_rate,
                result
                    .scaling
                    .efficiency_percent
                    .map_or("-".into(), |e| format!("{e:.1}%")),
                result.scaling.assessment
            );
            Ok((result.status, headline, None))
        }
    }
}

fn secs(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.2} s"))
}

/// Two decimals, as the result files and the verdicts write tok/s.
fn num(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.2}"))
}

fn print_suite_summary(
    folder: &Path,
    outcomes: &[ScenarioOutcome],
    simulate: bool,
    options: &SuiteOptions,
) {
    crate::outln!();
    crate::outln!("Summary ({}):", folder.display());
    if simulate {
        if let crate::scenario::target::TargetSpec::Simulate {
            profile,
            time_scale,
            ..
        } = &options.target.spec
        {
            let note = format!(
                "every number below comes from ollabench's built-in simulator (profile \
                 {profile}, time scale {time_scale}: durations are {time_scale}x, tok/s {:.0}x \
                 the modelled hardware's)",
                1.0 / time_scale
            );
            crate::outln!("{}", crate::output::wrap("  SIMULATED: ", &note, "    "));
        }
    }
    print_scenario_lines(outcomes);
    print_verdicts(outcomes);
    if outcomes
        .iter()
        .any(|o| o.status == Some(RunStatus::Interrupted))
    {
        crate::outln!(
            "Interrupted: partial results written to {}",
            folder.display()
        );
    }
}

fn print_scenario_lines(outcomes: &[ScenarioOutcome]) {
    for outcome in outcomes {
        let mark = match outcome.status {
            Some(RunStatus::Success) => "✅",
            Some(RunStatus::Interrupted) => "⏹",
            _ => "❌",
        };
        let first = format!("  {mark} {:<24} ", outcome.scenario.file_name());
        crate::outln!(
            "{}",
            crate::output::wrap(&first, &outcome.headline, "       ")
        );
    }
}

/// The Performance Targets verdicts of every file written, with the hardware they assume and,
/// once, what a simulated run's verdicts mean.
fn print_verdicts(outcomes: &[ScenarioOutcome]) {
    let judged: Vec<(&ScenarioOutcome, Vec<crate::analysis::verdict::Verdict>)> = outcomes
        .iter()
        .filter_map(|outcome| {
            let text = std::fs::read_to_string(&outcome.file).ok()?;
            let value = serde_json::from_str::<serde_json::Value>(&text).ok()?;
            let verdicts = crate::analysis::verdict::assess_result_json(&value).ok()?;
            (!verdicts.is_empty()).then_some((outcome, verdicts))
        })
        .collect();
    if judged.is_empty() {
        return;
    }
    crate::outln!();
    crate::outln!(
        "{}",
        crate::output::wrap("", &crate::analysis::verdict::targets_note(), "")
    );
    let all: Vec<_> = judged.iter().flat_map(|(_, v)| v.iter().cloned()).collect();
    if let Some(note) = crate::analysis::verdict::simulated_note(&all) {
        crate::outln!("{}", crate::output::wrap("  ", &note, "  "));
    }
    // Each metric's thresholds once, after the verdicts, rather than on every line.
    let mut thresholds: Vec<String> = Vec::new();
    for (outcome, verdicts) in judged {
        crate::outln!("  {}:", outcome.scenario.file_name());
        for verdict in verdicts {
            crate::outln!("    {}", verdict.short_line());
            for extra in [verdict.caveat.clone(), verdict.advice.map(String::from)]
                .into_iter()
                .flatten()
            {
                crate::outln!(
                    "{}",
                    crate::output::wrap("       -> ", &extra, "          ")
                );
            }
            let line = format!("{}: {}", verdict.metric.label(), verdict.thresholds);
            if !thresholds.contains(&line) {
                thresholds.push(line);
            }
        }
    }
    crate::outln!("  Thresholds:");
    for line in thresholds {
        crate::outln!("{}", crate::output::wrap("    ", &line, "      "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scenarios_parse_in_both_spellings() {
        assert_eq!(
            parse_scenarios(&names(&["AllScenarios"])).unwrap(),
            vec![
                Scenario::SingleUser,
                Scenario::TokensPerSecond,
                Scenario::MultiUser(3),
                Scenario::MultiUser(5)
            ]
        );
        assert_eq!(
            parse_scenarios(&names(&["multi-user-3", "MultiUser3", "single-user"])).unwrap(),
            vec![Scenario::MultiUser(3), Scenario::SingleUser]
        );
        assert_eq!(
            parse_scenarios(&names(&["TokensPerSecond"])).unwrap(),
            vec![Scenario::TokensPerSecond]
        );
        assert!(parse_scenarios(&names(&["everything"])).is_err());
        assert!(parse_scenarios(&names(&["multi-user-0"])).is_err());
        assert!(parse_scenarios(&names(&[])).is_err());
    }

    #[test]
    fn results_folders_are_timestamped_and_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = create_results_folder(dir.path()).unwrap();
        let second = create_results_folder(dir.path()).unwrap();
        assert_ne!(first, second);
        let name = first.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("results-") && name.len() == "results-20251031-140000".len(),
            "{name}"
        );
    }
}

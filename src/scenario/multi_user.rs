//! `ollabench multi-user` (the reference's Benchmark 3): N users start together; each pulls,
//! loads and generates with its model (round-robin over the models). Reports the reference's
//! summary, every user's measurements with a timeline, and the scaling analysis: serial
//! estimate, time saved, speedup, efficiency and contention.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::time::Instant;

use crate::analysis::scaling;
use crate::backend::ollama::{LocalModel, OllamaClient};
use crate::backend::{GenerationRequest, RequestError};
use crate::engine::{self, Plan};
use crate::exit::{ConfigError, Ctx, Outcome};
use crate::output::export::{number, ConsoleOptions, Rows};
use crate::prompts::PromptLength;
use crate::results::multi_user::{
    MultiUserResult, MultiUserSummary, Scaling, UserMeasurements, UserResult,
};
use crate::results::single_user::status;
use crate::results::{round2, timestamp_now, ErrorRecord, RunStatus};
use crate::scenario::download::{self, DownloadPolicy};
use crate::scenario::runner::{self, Scenario, Session};
use crate::scenario::target::TargetOptions;
use crate::scenario::{cancellable, record_model_provenance};
use crate::stats;

/// Validated options of a multi-user run.
#[derive(Debug, Clone)]
pub struct MultiUserOptions {
    pub target: TargetOptions,
    pub concurrent_users: u32,
    pub models: Vec<String>,
    pub output: PathBuf,
    /// Single-user time (seconds) to compute the efficiency against, and where it came from.
    pub baseline: Option<(f64, String)>,
    pub generation_tokens: u32,
    /// Redownload (destructive), skip the download, insecure pulls.
    pub download: DownloadPolicy,
    /// `--think`: `None` leaves the server's default.
    pub think: Option<bool>,
}

impl MultiUserOptions {
    /// Checks the values and reads the baseline file.
    pub fn validate(
        target: TargetOptions,
        concurrent_users: u32,
        models: &[String],
        output: PathBuf,
        baseline_file: Option<&std::path::Path>,
        generation_tokens: u32,
        download: DownloadPolicy,
    ) -> Result<Self, ConfigError> {
        if concurrent_users == 0 || concurrent_users > 1000 {
            return Err(ConfigError::OutOfRange {
                flag: "--concurrent-users",
                value: concurrent_users.to_string(),
                expected: "1 to 1000".into(),
            });
        }
        let models: Vec<String> = models
            .iter()
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect();
        if models.is_empty() {
            return Err(ConfigError::Empty {
                flag: "--models",
                advice: "name at least one model",
            });
        }
        if generation_tokens < 2 {
            return Err(ConfigError::TooSmall {
                flag: "--generation-tokens",
                minimum: 2,
                reason: None,
            });
        }
        let baseline = match baseline_file {
            Some(path) => Some(read_baseline(path)?),
            None => None,
        };
        Ok(MultiUserOptions {
            target,
            concurrent_users,
            models,
            output,
            baseline,
            generation_tokens,
            download,
            think: None,
        })
    }

    fn model_of(&self, user_index: usize) -> &str {
        &self.models[user_index % self.models.len()]
    }
}

/// Reads a single-user time from a single-user file (`Measurements.TotalTimeSeconds`, when
/// its download and load were measured) or a one-user multi-user file
/// (`Summary.OverallDurationSeconds`), through `compare`'s reader of result files, so that
/// files written by the PowerShell suite work too.
pub fn read_baseline(path: &std::path::Path) -> Result<(f64, String), ConfigError> {
    use crate::results::comparison::Kind;
    let runs =
        crate::results::runs::load_file(path).map_err(|err| ConfigError::UnusableBaseline {
            reason: err.error().to_string(),
        })?;
    for run in &runs {
        match run.kind {
            Kind::SingleUser => {
                if let Some(total) = run.value("TotalTimeSeconds") {
                    return Ok((total, format!("single-user file {}", path.display())));
                }
            }
            Kind::MultiUser if run.concurrent_users == Some(1) => {
                if let Some(overall) = run.value("OverallDurationSeconds") {
                    return Ok((
                        overall,
                        format!("one-user multi-user file {}", path.display()),
                    ));
                }
            }
            _ => {}
        }
    }
    Err(ConfigError::BaselineWithoutTime {
        path: path.to_path_buf(),
    })
}

/// Connects, measures, writes the result file and prints a summary.
pub async fn run(
    options: MultiUserOptions,
    ctx: &Ctx,
    console: ConsoleOptions,
) -> anyhow::Result<Outcome> {
    runner::run(&options, ctx, console).await
}

impl Scenario for MultiUserOptions {
    type Output = MultiUserResult;

    fn output(&self) -> &Path {
        &self.output
    }

    fn target(&self) -> &TargetOptions {
        &self.target
    }

    async fn measure(&self, session: Session<'_>) -> anyhow::Result<MultiUserResult> {
        measure(session, self).await
    }

    fn status(output: &MultiUserResult) -> RunStatus {
        output.status
    }

    fn print(&self, output: &MultiUserResult, written: &Path) {
        print_summary(output, written);
    }

    fn rows(&self, output: &MultiUserResult) -> Rows {
        Rows {
            headers: vec![
                "User",
                "Model",
                "DownloadStatus",
                "DownloadSeconds",
                "LoadStatus",
                "LoadSeconds",
                "GenerateStatus",
                "TokensPerSecond",
                "FinishedSeconds",
            ],
            rows: output
                .individual_results
                .iter()
                .map(|u| {
                    let m = &u.measurements;
                    vec![
                        u.user_id.to_string(),
                        u.model.clone(),
                        m.download_status.clone(),
                        number(m.download_time_seconds, 2),
                        m.load_status.clone(),
                        number(m.load_time_seconds, 2),
                        m.generate_status.clone(),
                        number(m.tokens_per_second, 1),
                        number(m.finished_seconds, 2),
                    ]
                })
                .collect(),
        }
    }
}

/// Measures on a connected target; the file is written when users finish and at the end.
async fn measure(
    session: Session<'_>,
    options: &MultiUserOptions,
) -> anyhow::Result<MultiUserResult> {
    let Session {
        target,
        ctx,
        provenance,
        ..
    } = session;
    let client = target.ollama("multi-user")?;
    let users = options.concurrent_users as usize;
    let mut result = MultiUserResult {
        timestamp: timestamp_now(),
        ollama_endpoint: target.url.clone(),
        concurrent_users: options.concurrent_users,
        models: (0..users.min(options.models.len()))
            .map(|i| options.model_of(i).to_string())
            .collect(),
        summary: MultiUserSummary::default(),
        individual_results: Vec::new(),
        scaling: Scaling::default(),
        status: RunStatus::Success,
        errors: Vec::new(),
        provenance,
    };
    // Deleting models is destructive: only with --redownload, or on a simulator this
    // process started (a disposable node).
    let may_delete = options.download.redownload || target.simulated.is_some();
    let policy = DownloadPolicy {
        redownload: may_delete,
        ..options.download
    };

    let mut baseline = options.baseline.clone();
    if baseline.is_none() && users > 1 {
        let model = options.model_of(0);
        // Measuring user 1 alone must leave the server as it found it, or the concurrent
        // phase measures a model that this run downloaded and loaded.
        let Some(prepared) = cancellable(ctx, prepare_phase(client, &[model], policy)).await else {
            return interrupted(result);
        };
        let present = match prepared {
            Ok(present) => present,
            Err(error) => return refuse(result, error),
        };
        if !policy.redownload && !policy.skip_download && download::find(&present, model).is_none()
        {
            return refuse(
                result,
                phase_error(format!(
                    "{model} is not on the server: measuring user 1 alone would download it, \
                     and the concurrent phase would then find it already there"
                )),
            );
        }
        let started = Instant::now();
        let alone = cancellable(
            ctx,
            measure_user(client, options, policy, &present, 0, started, None),
        )
        .await;
        let Some(alone) = alone else {
            return interrupted(result);
        };
        match alone.measurements.total_time_seconds {
            Some(total) if total > 0.0 => {
                baseline = Some((total, format!("user 1 ({model}) measured alone first")));
            }
            Some(_) => result.errors.push(phase_error(format!(
                "user 1 ({model}) alone took no measurable time: there is no baseline for the \
                 efficiency"
            ))),
            None => result.errors.extend(alone.errors),
        }
    }
    let models: Vec<&str> = result.models.iter().map(String::as_str).collect();
    let Some(prepared) = cancellable(ctx, prepare_phase(client, &models, policy)).await else {
        return interrupted(result);
    };
    let present = match prepared {
        Ok(present) => present,
        Err(error) => return refuse(result, error),
    };

    let progress = Progress::new(users);
    let started = Instant::now();
    let batch = engine::collect(
        Plan::all_at_once(users),
        &ctx.cancel,
        |ticket| {
            measure_user(
                client,
                options,
                policy,
                &present,
                ticket.index,
                started,
                Some(&progress),
            )
        },
        |ticket, user| progress.keep(ticket.index, user.clone()),
    )
    .await;
    let overall = batch.report.wall.as_secs_f64();
    result.individual_results = progress.users();
    if batch.report.interrupted {
        result.status = RunStatus::Interrupted;
    }
    fill_summary(&mut result, overall);
    result.scaling = scaling(&result, baseline, overall);
    let user_errors = result
        .individual_results
        .iter()
        .any(|u| !u.errors.is_empty());
    if result.status != RunStatus::Interrupted
        && (result.summary.success_rate < 100.0 || !result.errors.is_empty() || user_errors)
    {
        result.status = RunStatus::Failed;
    }
    for model in &result.models {
        record_model_provenance(client, &mut result.provenance, model).await;
    }
    result.provenance.finished_at = Some(chrono::Local::now().to_rfc3339());
    Ok(result)
}

/// Every user's latest state: finished users and the steps unfinished users completed.
struct Progress {
    users: Mutex<Vec<Option<UserResult>>>,
}

impl Progress {
    fn new(users: usize) -> Self {
        Progress {
            users: Mutex::new(vec![None; users]),
        }
    }

    fn keep(&self, index: usize, user: UserResult) {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = users.get_mut(index) {
            *slot = Some(user);
        }
    }

    fn users(&self) -> Vec<UserResult> {
        let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users.iter().flatten().cloned().collect()
    }
}

/// Puts the server in the state a phase must start from: each model unloaded (so that its
/// load is measured), and deleted when the policy redownloads (so that its download is).
/// Returns what the server then has. An error means the state could not be restored: the
/// phase would measure a spoiled efficiency, so the run refuses instead.
async fn prepare_phase(
    client: &OllamaClient,
    models: &[&str],
    policy: DownloadPolicy,
) -> Result<Vec<LocalModel>, ErrorRecord> {
    for model in models {
        if policy.redownload && !policy.skip_download {
            download::delete_for_redownload(client, model).await?;
        }
        match client.unload(model).await {
            Ok(_) | Err(RequestError::Status { status: 404, .. }) => {}
            Err(err) => return Err(ErrorRecord::from_request("unload", &err)),
        }
        client
            .wait_until_unloaded(model, crate::backend::ollama::UNLOAD_WAIT_LIMIT)
            .await
            .map_err(|err| ErrorRecord::from_request("unload", &err))?;
    }
    download::models_on_server(client)
        .await
        .map_err(|err| ErrorRecord::from_request("prepare", &err))
}

fn phase_error(message: String) -> ErrorRecord {
    ErrorRecord {
        phase: "prepare".into(),
        kind: "spoiled-state".into(),
        message,
        hint: "give --redownload (ollabench deletes and re-pulls the models between phases), \
               --baseline FILE (a single-user result), or --skip-download when every model is \
               already on the server"
            .into(),
    }
}

/// Stops before the concurrent phase: the file says why, and nothing spoiled is reported.
fn refuse(mut result: MultiUserResult, error: ErrorRecord) -> anyhow::Result<MultiUserResult> {
    result.errors.push(error);
    result.status = RunStatus::Failed;
    result.summary.total_users = result.concurrent_users;
    result.provenance.finished_at = Some(chrono::Local::now().to_rfc3339());
    Ok(result)
}

fn interrupted(mut result: MultiUserResult) -> anyhow::Result<MultiUserResult> {
    result.status = RunStatus::Interrupted;
    Ok(result)
}

/// One user's pull, load and generation, with offsets from the common start.
async fn measure_user(
    client: &OllamaClient,
    options: &MultiUserOptions,
    policy: DownloadPolicy,
    present: &[LocalModel],
    index: usize,
    start: Instant,
    progress: Option<&Progress>,
) -> UserResult {
    let model = options.model_of(index).to_string();
    let offset = |at: Instant| round2(at.duration_since(start).as_secs_f64());
    let mut m = UserMeasurements {
        download_status: status::NOT_RUN.into(),
        load_status: status::NOT_RUN.into(),
        generate_status: status::NOT_RUN.into(),
        ..UserMeasurements::default()
    };
    let mut errors = Vec::new();
    let user = |m: UserMeasurements, errors: Vec<ErrorRecord>| UserResult {
        user_id: index as u32 + 1,
        model: model.clone(),
        measurements: m,
        errors,
    };
    // Each finished step is kept aside, so that Ctrl-C mid-user loses nothing measured.
    let keep = |m: &UserMeasurements, errors: &[ErrorRecord]| {
        if let Some(progress) = progress {
            progress.keep(index, user(m.clone(), errors.to_vec()));
        }
    };

    m.download_start_seconds = Some(offset(Instant::now()));
    // The state before the phase, taken once for all users: a user whose model another
    // user is pulling at the same moment still measures a real download.
    let before = download::find(present, &model);
    // Deletion happened in `prepare_phase`; a user never deletes a model another user pulls.
    let user_policy = DownloadPolicy {
        redownload: false,
        ..policy
    };
    let outcome = download::download(client, &model, user_policy, before, |_| {}).await;
    m.download_status = outcome.status.into();
    m.download_status_reason = outcome.reason.clone();
    if let Some(pull) = &outcome.pull {
        m.download_time_seconds = Some(round2(pull.duration.as_secs_f64()));
        m.download_bytes = Some(pull.total_bytes);
    }
    if outcome.status == status::SKIPPED {
        m.download_time_seconds = Some(0.0);
    }
    errors.extend(outcome.error);
    if !outcome.usable {
        m.finished_seconds = Some(offset(Instant::now()));
        return user(m, errors);
    }

    keep(&m, &errors);
    m.load_start_seconds = Some(offset(Instant::now()));
    match client.load(&model, None).await {
        Ok(reply) => {
            m.load_time_seconds = Some(round2(reply.elapsed.as_secs_f64()));
            m.load_status = status::SUCCESS.into();
        }
        Err(err) => {
            m.load_status = status::FAILED.into();
            errors.push(ErrorRecord::from_request("load", &err));
            m.finished_seconds = Some(offset(Instant::now()));
            return user(m, errors);
        }
    }
    m.total_time_seconds = match (m.download_time_seconds, m.load_time_seconds) {
        (Some(download), Some(load)) => Some(round2(download + load)),
        _ => None,
    };

    keep(&m, &errors);
    let generate_start = Instant::now();
    m.generate_start_seconds = Some(offset(generate_start));
    let mut request = GenerationRequest::new(
        &model,
        PromptLength::Short.text(),
        options.generation_tokens,
    );
    request.think = options.think;
    match client.generate(&request).await {
        Ok(record) => {
            m.tokens_per_second = record
                .server_tokens_per_second()
                .or_else(|| record.client_tokens_per_second())
                .map(round2);
            m.time_to_first_token_seconds =
                record.ttft().map(|d| (d.as_secs_f64() * 1e4).round() / 1e4);
            m.thinking_tokens = record.thinking();
            m.generate_status = status::SUCCESS.into();
        }
        Err(err) => {
            m.generate_status = status::FAILED.into();
            errors.push(generate_error(&err));
        }
    }
    m.generate_time_seconds = Some(round2(generate_start.elapsed().as_secs_f64()));
    m.finished_seconds = Some(offset(Instant::now()));
    user(m, errors)
}

fn generate_error(err: &RequestError) -> ErrorRecord {
    ErrorRecord::from_request("generate", err)
}

fn fill_summary(result: &mut MultiUserResult, overall: f64) {
    let users = &result.individual_results;
    let ok = |s: &str| s == status::SUCCESS || s == status::ALREADY_PRESENT;
    let downloads: Vec<f64> = users
        .iter()
        .filter(|u| ok(&u.measurements.download_status))
        .filter_map(|u| u.measurements.download_time_seconds)
        .collect();
    let loads: Vec<f64> = users
        .iter()
        .filter(|u| u.measurements.load_status == status::SUCCESS)
        .filter_map(|u| u.measurements.load_time_seconds)
        .collect();
    let throughput: Vec<f64> = users
        .iter()
        .filter_map(|u| u.measurements.tokens_per_second)
        .collect();
    // A skipped download is no failure: the user's work (load and generation) was complete.
    let complete = users
        .iter()
        .filter(|u| {
            (ok(&u.measurements.download_status)
                || u.measurements.download_status == status::SKIPPED)
                && u.measurements.load_status == status::SUCCESS
                && u.measurements.generate_status != status::FAILED
        })
        .count();
    let total = result.concurrent_users;
    let download = stats::summarize(&downloads);
    let load = stats::summarize(&loads);
    result.summary = MultiUserSummary {
        overall_duration_seconds: round2(overall),
        total_users: total,
        successful_downloads: downloads.len() as u32,
        successful_loads: loads.len() as u32,
        success_rate: if total == 0 {
            0.0
        } else {
            round2(100.0 * complete as f64 / f64::from(total))
        },
        average_download_time_seconds: download.map(|s| round2(s.mean)),
        min_download_time_seconds: download.map(|s| round2(s.min)),
        max_download_time_seconds: download.map(|s| round2(s.max)),
        average_load_time_seconds: load.map(|s| round2(s.mean)),
        min_load_time_seconds: load.map(|s| round2(s.min)),
        max_load_time_seconds: load.map(|s| round2(s.max)),
        average_throughput_tokens_per_second: stats::mean(&throughput).map(round2),
    };
}

/// The reference's scaling analysis: efficiency = single-user time / overall duration.
fn scaling(result: &MultiUserResult, baseline: Option<(f64, String)>, overall: f64) -> Scaling {
    let users = f64::from(result.concurrent_users);
    let (single, source) = match baseline {
        Some((time, source)) => (Some(time), source),
        // One user is its own baseline: its overall duration is the single-user time.
        None if result.concurrent_users == 1 => (Some(overall), "this run (one user)".to_string()),
        None => (None, "none: give --baseline single-user.json".to_string()),
    };
    let serial = single.map(|s| s * users);
    let efficiency = single
        .filter(|_| overall > 0.0)
        .map(|s| 100.0 * s / overall);
    // Contention is about bytes moved at once: only real downloads say anything about it.
    let downloads: Vec<f64> = result
        .individual_results
        .iter()
        .filter(|u| u.measurements.download_status == status::SUCCESS)
        .filter_map(|u| u.measurements.download_time_seconds)
        .collect();
    let contention = stats::summarize(&downloads).and_then(|s| scaling::contention(s.mean, s.max));
    Scaling {
        single_user_time_seconds: single.map(round2),
        baseline_source: source,
        serial_estimate_seconds: serial.map(round2),
        overall_duration_seconds: round2(overall),
        time_saved_seconds: serial.map(|s| round2(s - overall)),
        time_saved_percent: serial
            .filter(|&s| s > 0.0)
            .map(|s| round2(100.0 * (s - overall) / s)),
        speedup: serial
            .filter(|_| overall > 0.0)
            .map(|s| round2(s / overall)),
        efficiency_percent: efficiency.map(round2),
        assessment: efficiency_assessment(efficiency, result.concurrent_users),
        download_contention_percent: contention
            .as_ref()
            .map(|c| round2(c.max_above_average_percent)),
        contention_assessment: contention
            .map_or("not computed".into(), |c| c.assessment.to_string()),
    }
}

fn efficiency_assessment(efficiency: Option<f64>, users: u32) -> String {
    match efficiency {
        None => "not computed (no baseline)".into(),
        Some(_) if users == 1 => "baseline (one user)".into(),
        Some(e) => scaling::scaling_assessment(e, users).into(),
    }
}

fn print_summary(result: &MultiUserResult, written: &Path) {
    let s = &result.summary;
    let seconds = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2} s"));
    crate::outln!(
        "Multi-user benchmark: {} users at {}",
        s.total_users,
        result.ollama_endpoint
    );
    if let Some(note) = result.provenance.simulated_note() {
        crate::outln!("  {note}");
    }
    crate::outln!("  Overall duration: {:.2} s", s.overall_duration_seconds);
    crate::outln!(
        "  Downloads: {}/{} ok, average {} (min {}, max {})",
        s.successful_downloads,
        s.total_users,
        seconds(s.average_download_time_seconds),
        seconds(s.min_download_time_seconds),
        seconds(s.max_download_time_seconds)
    );
    crate::outln!(
        "  Loads: {}/{} ok, average {} (min {}, max {})",
        s.successful_loads,
        s.total_users,
        seconds(s.average_load_time_seconds),
        seconds(s.min_load_time_seconds),
        seconds(s.max_load_time_seconds)
    );
    crate::outln!("  Success rate: {}%", s.success_rate);
    let sc = &result.scaling;
    if let (Some(single), Some(efficiency)) = (sc.single_user_time_seconds, sc.efficiency_percent) {
        let line = format!(
            "single user {single:.2} s, serial estimate {:.2} s, actual {:.2} s, saved {}, \
             speedup {}x, efficiency {efficiency:.0}% ({})",
            sc.serial_estimate_seconds.unwrap_or_default(),
            sc.overall_duration_seconds,
            seconds(sc.time_saved_seconds),
            sc.speedup.unwrap_or_default(),
            sc.assessment
        );
        // Wrapped, like every console line, to fit 100 columns.
        crate::outln!(
            "{}",
            crate::output::wrap("  Scaling: ", &line, "           ")
        );
        let thresholds = format!("({})", scaling::SCALING_THRESHOLDS);
        crate::outln!(
            "{}",
            crate::output::wrap("           ", &thresholds, "           ")
        );
    } else if !sc.baseline_source.is_empty() {
        crate::outln!("  Scaling: {}", sc.baseline_source);
    }
    if !sc.contention_assessment.is_empty() {
        crate::outln!("  Contention: {}", sc.contention_assessment);
    }
    // A run that stopped before any user started has only these to say why.
    for error in &result.errors {
        let hint = if error.hint.is_empty() {
            String::new()
        } else {
            format!(" ({})", error.hint)
        };
        let line = format!("{}: {}{hint}", error.phase, error.message);
        crate::outln!("{}", crate::output::wrap("  ❌ ", &line, "     "));
    }
    for user in &result.individual_results {
        for error in &user.errors {
            crate::outln!(
                "  ❌ user {} ({}): {}: {} ({})",
                user.user_id,
                user.model,
                error.phase,
                error.message,
                error.hint
            );
        }
    }
    if result.status == RunStatus::Interrupted {
        crate::outln!(
            "  Interrupted: partial results written to {}",
            written.display()
        );
    } else {
        crate::outln!("  Results written to {}", written.display());
    }
}

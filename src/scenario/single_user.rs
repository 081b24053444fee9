//! `ollabench single-user` (the reference's Benchmark 1): download, cold load, warm load and
//! the first generation's speed of one model, measured as DESIGN.md defines them:
//! download = `POST /api/pull` until `success`; cold load = unload, wait until `/api/ps` no
//! longer lists the model, (drop caches,) time a load-only request; warm load = the same
//! again; then one streamed generation.

use std::path::Path;
use std::time::Duration;

use crate::backend::ollama::{same_model, OllamaClient};
use crate::backend::openai::OpenAiClient;
use crate::backend::{Backend, GenerationRecord, GenerationRequest, RequestError};
use crate::exit::{Ctx, Outcome};
use crate::output::export::{number, ConsoleOptions, Rows};
use crate::output::progress;
use crate::prompts::PromptLength;
use crate::results::single_user::{status, SingleUserMeasurements, SingleUserResult};
use crate::results::{round2, timestamp_now, write_json_atomic, ErrorRecord, RunStatus};
use crate::scenario::download;
use crate::scenario::runner::{self, Scenario, Session};
use crate::scenario::target::TargetOptions;
use crate::scenario::{cancellable, record_model_provenance};

pub use crate::config::SingleUserOptions;

/// Connects, measures, writes the result file and prints a summary.
pub async fn run(
    options: SingleUserOptions,
    ctx: &Ctx,
    console: ConsoleOptions,
) -> anyhow::Result<Outcome> {
    runner::run(&options, ctx, console).await
}

impl Scenario for SingleUserOptions {
    type Output = SingleUserResult;

    fn output(&self) -> &Path {
        &self.output
    }

    fn target(&self) -> &TargetOptions {
        &self.target
    }

    async fn measure(&self, session: Session<'_>) -> anyhow::Result<SingleUserResult> {
        measure(session, self).await
    }

    fn status(output: &SingleUserResult) -> RunStatus {
        output.status
    }

    fn print(&self, output: &SingleUserResult, written: &Path) {
        print_summary(output, written);
    }

    fn rows(&self, output: &SingleUserResult) -> Rows {
        let m = &output.measurements;
        Rows {
            headers: vec![
                "Model",
                "DownloadStatus",
                "DownloadSeconds",
                "DownloadMBps",
                "LoadStatus",
                "ColdLoadSeconds",
                "WarmLoadSeconds",
                "TotalSeconds",
                "TokensPerSecond",
                "TtftMs",
                "Status",
            ],
            rows: vec![vec![
                output.model.clone(),
                m.download_status.clone(),
                number(m.download_time_seconds, 2),
                number(m.download_megabytes_per_second, 1),
                m.load_status.clone(),
                number(m.load_time_cold_seconds, 2),
                number(m.load_time_warm_seconds, 2),
                number(m.total_time_seconds, 2),
                number(m.tokens_per_second, 1),
                number(m.time_to_first_token_seconds.map(|s| s * 1000.0), 0),
                format!("{:?}", output.status),
            ]],
        }
    }
}

/// Measures on a connected target and writes the file after every step, so that nothing
/// measured is lost.
async fn measure(
    session: Session<'_>,
    options: &SingleUserOptions,
) -> anyhow::Result<SingleUserResult> {
    let Session {
        target,
        ctx,
        provenance,
        ..
    } = session;
    let mut result = SingleUserResult {
        timestamp: timestamp_now(),
        model: options.model.clone(),
        ollama_endpoint: target.url.clone(),
        measurements: SingleUserMeasurements {
            download_status: status::NOT_RUN.into(),
            load_status: status::NOT_RUN.into(),
            ..SingleUserMeasurements::default()
        },
        status: RunStatus::Success,
        errors: Vec::new(),
        warnings: Vec::new(),
        provenance,
    };
    let client = match &target.backend {
        Backend::Ollama(client) => client,
        Backend::OpenAi(client) => {
            let finished = measure_openai(client, options, ctx, &mut result).await;
            finish(&mut result, finished);
            return Ok(result);
        }
    };
    let steps = Steps {
        client,
        options,
        ctx,
    };
    let finished = steps.measure(&mut result).await;
    finish(&mut result, finished);
    Ok(result)
}

fn finish(result: &mut SingleUserResult, finished: bool) {
    if !finished {
        result.status = RunStatus::Interrupted;
    } else if !result.errors.is_empty() {
        result.status = RunStatus::Failed;
    }
    result.provenance.finished_at = Some(chrono::Local::now().to_rfc3339());
}

/// The OpenAI-compatible API has no pull, and loads only through llama.cpp's router mode:
/// what it cannot do is marked `NotAvailable`, and the generation is measured as usual.
/// `false` when interrupted.
async fn measure_openai(
    client: &OpenAiClient,
    options: &SingleUserOptions,
    ctx: &Ctx,
    result: &mut SingleUserResult,
) -> bool {
    let m = &mut result.measurements;
    m.download_status = status::NOT_AVAILABLE.into();
    m.load_status = status::NOT_AVAILABLE.into();
    match cancellable(ctx, client.load_model_timed(&options.model)).await {
        None => return false,
        Some(Ok(Some(load))) if !load.already_loaded => {
            m.load_time_cold_seconds = Some(round2(load.elapsed.as_secs_f64()));
            m.load_status = status::SUCCESS.into();
        }
        Some(Ok(_)) => {}
        Some(Err(err)) => result
            .errors
            .push(ErrorRecord::from_request("load-cold", &err)),
    }
    let mut request = GenerationRequest::new(
        &options.model,
        PromptLength::Short.text(),
        options.generation_tokens,
    );
    request.think = options.think;
    match cancellable(ctx, client.generate(&request)).await {
        None => false,
        Some(Ok(record)) => {
            record_generation(&mut result.measurements, &record);
            true
        }
        Some(Err(err)) => {
            result
                .errors
                .push(ErrorRecord::from_request("generate", &err));
            true
        }
    }
}

struct Steps<'a> {
    client: &'a OllamaClient,
    options: &'a SingleUserOptions,
    ctx: &'a Ctx,
}

impl Steps<'_> {
    /// Runs every step; `false` when Ctrl-C interrupted it.
    async fn measure(&self, result: &mut SingleUserResult) -> bool {
        let model = self.options.model.as_str();

        let Some(usable) = self.download(result).await else {
            return false;
        };
        self.save(result);
        if !usable {
            return true;
        }

        let size = match cancellable(self.ctx, self.client.tags()).await {
            None => return false,
            Some(Ok(models)) => models.into_iter().find(|m| same_model(&m.name, model)),
            Some(Err(_)) => None,
        };
        if let Some(local) = &size {
            let entry = result.provenance.model_mut(model);
            entry.size_bytes = Some(local.size);
            entry.digest = Some(local.digest.clone());
        }
        let size_bytes = size.map(|m| m.size);

        let Some(cold) = self.timed_load(result, "load-cold", true).await else {
            return false;
        };
        let Some(warm) = self.timed_load(result, "load-warm", false).await else {
            return false;
        };
        let m = &mut result.measurements;
        m.load_time_cold_seconds = cold.map(|d| round2(d.as_secs_f64()));
        m.load_time_warm_seconds = warm.map(|d| round2(d.as_secs_f64()));
        m.load_megabytes_per_second_cold = megabytes_per_second(size_bytes, cold);
        m.load_megabytes_per_second_warm = megabytes_per_second(size_bytes, warm);
        m.load_status = if cold.is_some() && warm.is_some() {
            status::SUCCESS
        } else {
            status::FAILED
        }
        .into();
        if let (Some(cold), Some(warm)) = (cold, warm) {
            if cold_load_was_warm(cold, warm) {
                m.cold_load_suspect = true;
                let warning = cold_load_warning(cold, warm, m.caches_dropped);
                result.warnings.push(warning);
            }
        }
        let m = &mut result.measurements;
        m.total_time_seconds = match (m.download_time_seconds, m.load_time_cold_seconds) {
            (Some(download), Some(cold)) => Some(round2(download + cold)),
            _ => None,
        };
        self.save(result);

        let Some(generation) = cancellable(self.ctx, self.generate()).await else {
            return false;
        };
        match generation {
            Ok(record) => record_generation(&mut result.measurements, &record),
            Err(err) => result
                .errors
                .push(ErrorRecord::from_request("generate", &err)),
        }

        record_model_provenance(self.client, &mut result.provenance, model).await;
        true
    }

    fn save(&self, result: &SingleUserResult) {
        if let Err(err) = write_json_atomic(&self.options.output, result) {
            crate::errln!("warning: {err:#}");
        }
    }

    /// Deletes (only with --redownload) and pulls the model, unless --skip-download.
    /// `None` when interrupted; else whether the model is on the server, so that its loads
    /// can be measured (also after a failed pull of a model that was there).
    async fn download(&self, result: &mut SingleUserResult) -> Option<bool> {
        let model = self.options.model.as_str();
        let policy = self.options.download;
        if policy.redownload && !policy.skip_download {
            if let Err(error) = cancellable(
                self.ctx,
                download::delete_for_redownload(self.client, model),
            )
            .await?
            {
                result.errors.push(error);
            }
        }
        let before = match cancellable(self.ctx, download::models_on_server(self.client)).await? {
            Ok(models) => download::find(&models, model).cloned(),
            Err(err) => {
                result
                    .errors
                    .push(ErrorRecord::from_request("download", &err));
                result.measurements.download_status = status::FAILED.into();
                return Some(false);
            }
        };
        let bar = progress::download_bar(self.ctx.interactive, "download");
        let outcome = cancellable(
            self.ctx,
            download::download(self.client, model, policy, before.as_ref(), |line| {
                if let (Some(total), Some(completed)) = (line.total, line.completed) {
                    bar.set_length(total);
                    bar.set_position(completed);
                }
                bar.set_message(line.status.clone());
            }),
        )
        .await;
        bar.finish_and_clear();
        let m = &mut result.measurements;
        let Some(outcome) = outcome else {
            m.download_status = status::INTERRUPTED.into();
            return None;
        };
        m.download_status = outcome.status.into();
        m.download_status_reason = outcome.reason.clone();
        m.download_megabytes_per_second = outcome.megabytes_per_second().map(round2);
        if let Some(pull) = &outcome.pull {
            m.download_time_seconds = Some(round2(pull.duration.as_secs_f64()));
            m.download_bytes = Some(pull.total_bytes);
        }
        if let Some(error) = outcome.error {
            result.errors.push(error);
        }
        Some(outcome.usable)
    }

    /// Unloads, waits until `/api/ps` agrees, optionally drops caches, then times a load-only
    /// request. `None` when interrupted; `Some(None)` when it failed (recorded).
    async fn timed_load(
        &self,
        result: &mut SingleUserResult,
        phase: &str,
        cold: bool,
    ) -> Option<Option<Duration>> {
        let model = self.options.model.as_str();
        let spinner = progress::spinner(self.ctx.interactive, &format!("{phase}: unloading"));
        let unloaded = cancellable(self.ctx, async {
            self.client.unload(model).await?;
            self.client
                .wait_until_unloaded(model, crate::backend::ollama::UNLOAD_WAIT_LIMIT)
                .await
        })
        .await?;
        match unloaded {
            Ok(waited) => {
                if cold {
                    result.measurements.unload_wait_seconds = Some(round2(waited.as_secs_f64()));
                }
            }
            Err(err) => {
                spinner.finish_and_clear();
                result.errors.push(ErrorRecord::from_request(phase, &err));
                return Some(None);
            }
        }
        if cold {
            if let Some(command) = &self.options.drop_caches_cmd {
                spinner.set_message(format!("{phase}: dropping caches"));
                match run_shell(command).await {
                    Ok(()) => result.measurements.caches_dropped = true,
                    Err(message) => result.errors.push(ErrorRecord {
                        phase: "drop-caches".into(),
                        kind: "command-failed".into(),
                        message,
                        hint: "check the --drop-caches-cmd command by running it by hand".into(),
                    }),
                }
            }
        }
        spinner.set_message(format!("{phase}: loading {model}"));
        let loaded = cancellable(self.ctx, self.client.load(model, None)).await?;
        spinner.finish_and_clear();
        match loaded {
            Ok(reply) => Some(Some(reply.elapsed)),
            Err(err) => {
                result.errors.push(ErrorRecord::from_request(phase, &err));
                Some(None)
            }
        }
    }

    async fn generate(&self) -> Result<GenerationRecord, RequestError> {
        let spinner = progress::spinner(self.ctx.interactive, "generating");
        let mut request = GenerationRequest::new(
            &self.options.model,
            PromptLength::Short.text(),
            self.options.generation_tokens,
        );
        request.think = self.options.think;
        let record = self.client.generate(&request).await;
        spinner.finish_and_clear();
        record
    }
}

fn record_generation(m: &mut SingleUserMeasurements, record: &GenerationRecord) {
    m.tokens_per_second = record
        .server_tokens_per_second()
        .or_else(|| record.client_tokens_per_second())
        .map(round2);
    m.client_tokens_per_second = record.client_tokens_per_second().map(round2);
    m.time_to_first_token_seconds = record.ttft().map(|d| round4(d.as_secs_f64()));
    m.prompt_eval_tokens_per_second = record.prompt_eval_tokens_per_second().map(round2);
    m.server_load_duration_seconds = record
        .server
        .load_duration_ns
        .map(|ns| round4(ns as f64 / 1e9));
    m.output_tokens = Some(record.output_tokens);
    m.thinking_tokens = record.thinking();
    m.done_reason = record.done_reason.clone();
}

/// A cold load within this fraction of the warm load was not cold: on real hardware a load
/// from disk is several times slower than one from the page cache (the reference's T4: 18 s
/// against 2 s).
const COLD_LOAD_MARGIN: f64 = 0.25;

/// Whether the "cold" load took about as long as the warm one.
fn cold_load_was_warm(cold: Duration, warm: Duration) -> bool {
    cold.as_secs_f64() <= warm.as_secs_f64() * (1.0 + COLD_LOAD_MARGIN)
}

fn cold_load_warning(cold: Duration, warm: Duration, caches_dropped: bool) -> String {
    let advice = if caches_dropped {
        "--drop-caches-cmd ran but did not seem to empty the cache: check the command"
    } else {
        "to measure a real cold load, give --drop-caches-cmd (e.g. a `kubectl exec` that \
         writes 3 to /proc/sys/vm/drop_caches on the node)"
    };
    format!(
        "the cold load ({:.2} s) was within {:.0}% of the warm load ({:.2} s): the model file \
         most likely came from the page cache, so it was not a cold load; {advice}",
        cold.as_secs_f64(),
        COLD_LOAD_MARGIN * 100.0,
        warm.as_secs_f64()
    )
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

fn megabytes_per_second(size: Option<u64>, time: Option<Duration>) -> Option<f64> {
    let seconds = time?.as_secs_f64();
    let size = size?;
    (seconds > 0.0).then(|| round2(size as f64 / 1e6 / seconds))
}

/// Runs a user command through `sh -c`; the error carries its exit status and stderr.
async fn run_shell(command: &str) -> Result<(), String> {
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|err| format!("cannot run `{command}`: {err}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{command}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn print_summary(result: &SingleUserResult, written: &Path) {
    let m = &result.measurements;
    let seconds = |value: Option<f64>| value.map_or("-".to_string(), |v| format!("{v:.2} s"));
    crate::outln!(
        "Single-user benchmark: {} at {}",
        result.model,
        result.ollama_endpoint
    );
    if let Some(note) = result.provenance.simulated_note() {
        crate::outln!("  {note}");
    }
    crate::outln!(
        "  Download:   {} ({}{})",
        seconds(m.download_time_seconds),
        m.download_status,
        m.download_megabytes_per_second
            .map_or(String::new(), |v| format!(", {v:.1} MB/s"))
    );
    if let Some(reason) = &m.download_status_reason {
        crate::outln!("              {reason}");
    }
    crate::outln!(
        "  Cold load:  {} ({})",
        seconds(m.load_time_cold_seconds),
        m.load_status
    );
    crate::outln!("  Warm load:  {}", seconds(m.load_time_warm_seconds));
    crate::outln!("  Total:      {}", seconds(m.total_time_seconds));
    crate::outln!(
        "  Tokens/s:   {}{}",
        m.tokens_per_second
            .map_or("-".into(), |v| format!("{v:.1}")),
        m.time_to_first_token_seconds
            .map_or(String::new(), |v| format!(" (TTFT {:.0} ms)", v * 1000.0))
    );
    if let Some(thinking) = m.thinking_tokens {
        crate::outln!(
            "  Thinking:   {thinking} of {} output tokens",
            m.output_tokens.unwrap_or(thinking)
        );
    }
    for error in &result.errors {
        crate::outln!("  ❌ {}: {} ({})", error.phase, error.message, error.hint);
    }
    for warning in &result.warnings {
        crate::outln!("  ⚠ {warning}");
    }
    match result.status {
        RunStatus::Interrupted => crate::outln!(
            "  Interrupted: partial results written to {}",
            written.display()
        ),
        _ => crate::outln!("  Results written to {}", written.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cold_load_close_to_the_warm_load_is_flagged() {
        let ms = Duration::from_millis;
        assert!(cold_load_was_warm(ms(150), ms(150)));
        assert!(cold_load_was_warm(ms(125), ms(100)));
        assert!(!cold_load_was_warm(ms(126), ms(100)));
        assert!(!cold_load_was_warm(ms(9_560), ms(2_050)));
        let advice = cold_load_warning(ms(150), ms(150), false);
        assert!(advice.contains("--drop-caches-cmd") && advice.contains("0.15 s"));
        assert!(cold_load_warning(ms(150), ms(150), true).contains("did not seem"));
    }
}

//! The fault matrix (issue 11): every fault a benchmark command can meet, run for real — the
//! ollabench binary, real processes, real sockets — with the exit code, what is on disk and
//! what the console says. `docs/fault-matrix.md` is the same matrix as a table.
//!
//! Exit codes: 0 done; 1 something ran and something failed; 2 nothing was measured because
//! of configuration or reachability; 130 interrupted. One fault gives one code in every
//! benchmark command (test-connection, single-user, tokens-per-second/tps, multi-user, run).
//!
//! Tests are tables: each case runs, its first broken expectation is collected with the
//! case's name, and the test fails at the end listing every broken case. Every wait is
//! bounded; every case has its own simulator, ports and temporary folders, so the tests run
//! in parallel.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ollabench::sim::SimConfig;
use support::*;
use tokio::io::AsyncBufReadExt;

/// Simulator time scale: everything 50x faster than real hardware.
const SCALE: f64 = 0.02;
/// The model the simulator has on disk.
const MODEL: &str = "gemma2:2b";
/// A bound for runs that end on their own.
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// How soon after SIGINT or SIGTERM the process must have exited.
const SIGNAL_LIMIT: Duration = Duration::from_secs(1);
/// The timeouts of the reachability checks.
const TIMEOUT_FLAGS: [&str; 4] = ["--connect-timeout", "2s", "--first-byte-timeout", "2s"];
/// Unreachable targets end within the timeouts: well under twice the 2 s (no silent retry).
const UNREACHABLE_LIMIT: Duration = Duration::from_millis(3500);
/// Timeouts long enough never to race a signal.
const PATIENT_FLAGS: [&str; 4] = ["--connect-timeout", "120s", "--first-byte-timeout", "120s"];

/// One case's verdict: `Err` carries the case's name and the first broken expectation.
type Case = Result<(), String>;

/// Returns `Err(message)` from the enclosing case unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

/// Fails the test listing every broken case.
fn assert_all(cases: Vec<Case>) {
    let total = cases.len();
    let broken: Vec<String> = cases.into_iter().filter_map(Result::err).collect();
    assert!(
        broken.is_empty(),
        "{} of {total} cases broken:\n\n{}",
        broken.len(),
        broken.join("\n\n==========\n\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The commands

/// A benchmark command, run small and fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    TestConnection,
    SingleUser,
    Tps,
    MultiUser,
    Run,
}

use Cmd::*;

/// Every benchmark command.
const ALL: [Cmd; 5] = [TestConnection, SingleUser, Tps, MultiUser, Run];
/// The commands that measure and write a result file.
const MEASURING: [Cmd; 4] = [SingleUser, Tps, MultiUser, Run];

impl Cmd {
    fn name(self) -> &'static str {
        match self {
            TestConnection => "test-connection",
            SingleUser => "single-user",
            Tps => "tokens-per-second",
            MultiUser => "multi-user",
            Run => "run",
        }
    }

    /// Where the command writes: the result file, or run's `--results-dir`.
    fn default_output(self, dir: &Path) -> PathBuf {
        match self {
            Run => dir.join("results"),
            _ => dir.join("out.json"),
        }
    }

    /// The command line: `target` (`--endpoint URL` or `--simulate ...`), one model, small
    /// sizes, and `output` (a result file, or run's `--results-dir`).
    fn args(self, target: &[String], model: &str, output: &Path) -> Vec<String> {
        let output = output.display().to_string();
        let mut args = vec![self.name().to_string()];
        args.extend(target.iter().cloned());
        let rest: Vec<&str> = match self {
            TestConnection => vec![],
            SingleUser => vec![
                "--model",
                model,
                "--generation-tokens",
                "20",
                "--output",
                &output,
            ],
            Tps => vec![
                "--models",
                model,
                "--prompt-lengths",
                "short",
                "--warmup-runs",
                "0",
                "--measurement-runs",
                "2",
                "--generation-tokens",
                "20",
                "--output",
                &output,
            ],
            MultiUser => vec![
                "--concurrent-users",
                "1",
                "--models",
                model,
                "--generation-tokens",
                "20",
                "--output",
                &output,
            ],
            Run => vec![
                "--scenario",
                "single-user",
                "--model",
                model,
                "--results-dir",
                &output,
            ],
        };
        args.extend(rest.into_iter().map(str::to_string));
        args
    }

    /// The command line against `url` with [`MODEL`], writing into `dir`.
    fn against(self, url: &str, dir: &Path) -> Vec<String> {
        self.args(&endpoint(url), MODEL, &self.default_output(dir))
    }

    /// [`Cmd::against`] with `--skip-download` where the command pulls, then `extra`.
    fn measuring(self, url: &str, dir: &Path, extra: &[&str]) -> Vec<String> {
        with(with(self.against(url, dir), self.skip_download()), extra)
    }

    /// `--skip-download` where the command pulls (so that faults strike generations only).
    fn skip_download(self) -> &'static [&'static str] {
        match self {
            SingleUser | MultiUser | Run => &["--skip-download"],
            TestConnection | Tps => &[],
        }
    }

    /// The result file written into `dir` (see [`Cmd::default_output`]), if there is one.
    fn result_file(self, dir: &Path) -> Option<PathBuf> {
        match self {
            TestConnection => None,
            Run => {
                let folders = results_folders(&dir.join("results"));
                folders.first().map(|f| f.join("single-user.json"))
            }
            _ => Some(dir.join("out.json")),
        }
    }

    /// The result file, which must be there.
    fn required_result_file(
        self,
        case: &str,
        dir: &Path,
        console: &str,
    ) -> Result<PathBuf, String> {
        self.result_file(dir)
            .ok_or_else(|| format!("{case}: run created no results folder\n{console}"))
    }

    /// Nothing was written: no result file, no results folder.
    fn nothing_written(self, case: &str, dir: &Path) -> Case {
        match self {
            TestConnection => {}
            Run => {
                let folders = results_folders(&dir.join("results"));
                ensure!(
                    folders.is_empty(),
                    "{case}: run created a results folder: {folders:?}"
                );
            }
            _ => ensure!(
                !dir.join("out.json").exists(),
                "{case}: a result file was written"
            ),
        }
        Ok(())
    }
}

fn endpoint(url: &str) -> Vec<String> {
    vec!["--endpoint".to_string(), url.to_string()]
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn with(mut args: Vec<String>, extra: &[&str]) -> Vec<String> {
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The `results-*` folders below `parent` (none when it does not exist).
fn results_folders(parent: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut folders: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("results-"))
        })
        .collect();
    folders.sort();
    folders
}

/// A simulator config at `scale` with `preload` on disk and at most one fault rule.
fn sim_with(scale: f64, preload: &[&str], fault: Option<(&str, &str)>) -> SimConfig {
    match fault {
        Some((kind, spec)) => faulty_sim(scale, preload, kind, spec),
        None => sim_config(scale, preload),
    }
}

/// Reads a result file that must be there and be complete JSON.
fn complete_json(case: &str, path: &Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("{case}: no result file {}: {err}", path.display()))?;
    serde_json::from_str(&text).map_err(|err| {
        format!(
            "{case}: {} is not complete JSON ({err}):\n{text}",
            path.display()
        )
    })
}

/// Reads a result file that must be there, be complete JSON and say `"Status": status`.
fn result_with_status(case: &str, path: &Path, status: &str) -> Result<serde_json::Value, String> {
    let result = complete_json(case, path)?;
    ensure!(
        result["Status"] == status,
        "{case}: Status is not {status}: {result:#}"
    );
    Ok(result)
}

/// Whether a result counts a failure of one of `kinds`: a `FailuresByKind` entry or an
/// error record's `Kind`, anywhere in it.
fn counts_kind(value: &serde_json::Value, kinds: &[&str]) -> bool {
    match value {
        serde_json::Value::Object(map) => map.iter().any(|(key, child)| {
            (key == "FailuresByKind"
                && child.as_object().is_some_and(|counts| {
                    counts
                        .iter()
                        .any(|(kind, n)| kinds.contains(&kind.as_str()) && n.as_u64() >= Some(1))
                }))
                || (key == "Kind" && child.as_str().is_some_and(|k| kinds.contains(&k)))
                || counts_kind(child, kinds)
        }),
        serde_json::Value::Array(items) => items.iter().any(|item| counts_kind(item, kinds)),
        _ => false,
    }
}

fn no_panic(case: &str, run: &Finished) -> Case {
    ensure!(
        !run.stderr.contains("panicked") && run.code != Some(101),
        "{case}: panicked: {}",
        show(run)
    );
    Ok(())
}

/// No panic, and the exit code `code`.
fn exited(case: &str, run: &Finished, code: i32) -> Case {
    no_panic(case, run)?;
    ensure!(
        run.code == Some(code),
        "{case}: not exit {code}: {}",
        show(run)
    );
    Ok(())
}

fn show(run: &Finished) -> String {
    format!(
        "exit {:?} after {:.2} s{}\n--- stdout\n{}\n--- stderr\n{}",
        run.code,
        run.elapsed.as_secs_f64(),
        if run.timed_out {
            " (TIMED OUT, killed)"
        } else {
            ""
        },
        run.stdout.trim_end(),
        run.stderr.trim_end()
    )
}

// ---------------------------------------------------------------------------------------------
// Reachability: checked once, before anything is measured; exit 2, nothing written.

#[derive(Debug, Clone, Copy)]
enum Unreachable {
    Refused,
    Dns,
    TlsToPlainHttp,
    AcceptsNeverAnswers,
}

async fn unreachable_in_every_command(fault: Unreachable) {
    let mut sim = None;
    let mut silent = None;
    // The endpoint, the host:port the console must name, and what stderr must say.
    let (url, names, says): (String, String, &[&str]) = match fault {
        Unreachable::Refused => {
            let port = closed_port();
            (
                format!("http://127.0.0.1:{port}"),
                format!("127.0.0.1:{port}"),
                &["refused"],
            )
        }
        Unreachable::Dns => (
            "http://no-such-host.invalid:11434".to_string(),
            "no-such-host.invalid".to_string(),
            &["dns", "resolve", "lookup"],
        ),
        Unreachable::TlsToPlainHttp => {
            let handle = start_sim(sim_config(SCALE, &[MODEL])).await;
            let addr = handle.addr();
            sim = Some(handle);
            (format!("https://{addr}"), addr.to_string(), &["tls", "ssl"])
        }
        Unreachable::AcceptsNeverAnswers => {
            let server = silent_server().await;
            let addr = server.addr;
            silent = Some(server);
            // Not the seconds: the message gives the wait really spent, which a busy machine
            // stretches past the 2 s asked for.
            (
                format!("http://{addr}"),
                addr.to_string(),
                &["sent nothing", "timed out"],
            )
        }
    };
    let mut cases: Vec<Case> = Vec::new();
    for cmd in ALL {
        let case = format!("{fault:?} / {}", cmd.name());
        let dir = tempfile::tempdir().unwrap();
        let args = with(cmd.against(&url, dir.path()), &TIMEOUT_FLAGS);
        let accepted_before = silent.as_ref().map_or(0, |s: &SilentServer| s.accepted());
        let run = run_bounded(&arg_refs(&args), &[], Duration::from_secs(20)).await;
        let probes = silent
            .as_ref()
            .map(|s: &SilentServer| s.accepted() - accepted_before);
        cases.push((|| -> Case {
            exited(&case, &run, 2)?;
            ensure!(
                run.elapsed < UNREACHABLE_LIMIT,
                "{case}: took {:.2} s, more than the 2 s timeouts allow: {}",
                run.elapsed.as_secs_f64(),
                show(&run)
            );
            let stderr = run.stderr.to_lowercase();
            ensure!(
                says.iter().any(|word| stderr.contains(word)),
                "{case}: stderr does not say what failed (one of {says:?}): {}",
                show(&run)
            );
            ensure!(
                run.console().contains(&names),
                "{case}: the console does not name {names}: {}",
                show(&run)
            );
            cmd.nothing_written(&case, dir.path())?;
            if let Some(probes) = probes {
                ensure!(
                    probes <= 1,
                    "{case}: {probes} connections: a silent retry: {}",
                    show(&run)
                );
                let lower = run.console().to_lowercase();
                ensure!(
                    !lower.contains("kubectl") && !lower.contains("kubernetes"),
                    "{case}: advice mentions Kubernetes without --use-port-forward: {}",
                    show(&run)
                );
            }
            Ok(())
        })());
    }
    drop(sim);
    assert_all(cases);
}

/// One test per row of a table, each run and failed on its own: `check(row)`.
macro_rules! row_tests {
    ($check:ident: $($name:ident => $row:expr),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $check($row).await;
        }
    )*};
}

row_tests!(unreachable_in_every_command:
    connection_refused_exits_2_in_every_command => Unreachable::Refused,
    dns_failure_exits_2_in_every_command => Unreachable::Dns,
    tls_spoken_to_a_plain_http_port_exits_2_in_every_command => Unreachable::TlsToPlainHttp,
    a_server_that_accepts_and_never_answers_exits_2_in_every_command =>
        Unreachable::AcceptsNeverAnswers,
);

// ---------------------------------------------------------------------------------------------
// Faults mid-run: exit 1, the result file complete with "Status": "Failed", failures by kind.

struct MidRunFault {
    name: &'static str,
    /// The simulator's fault rule (kind, spec).
    fault: (&'static str, &'static str),
    /// The failure kinds the result may count it as.
    kinds: &'static [&'static str],
    extra: &'static [&'static str],
}

const STALL: MidRunFault = MidRunFault {
    name: "stall mid-stream",
    fault: ("stall", "5s@always"),
    kinds: &["first-byte-timeout", "inactivity-timeout"],
    extra: &["--first-byte-timeout", "500ms"],
};
const CUT: MidRunFault = MidRunFault {
    name: "connection cut mid-stream",
    fault: ("cut", "always"),
    kinds: &["connection-cut"],
    extra: &[],
};
const MALFORMED: MidRunFault = MidRunFault {
    name: "malformed line",
    fault: ("malformed", "always"),
    kinds: &["malformed-response"],
    extra: &[],
};
const HTTP_404: MidRunFault = MidRunFault {
    name: "HTTP 404",
    fault: ("status", "404@always"),
    kinds: &["http-404"],
    extra: &[],
};
const HTTP_500: MidRunFault = MidRunFault {
    name: "HTTP 500",
    fault: ("status", "500@always"),
    kinds: &["http-5xx", "http-500"],
    extra: &[],
};
const HTTP_503: MidRunFault = MidRunFault {
    name: "HTTP 503",
    fault: ("status", "503@always"),
    kinds: &["http-503"],
    extra: &[],
};

/// Every generation meets the fault (pulls are skipped; loads are never faulted).
async fn mid_run_fault(row: &MidRunFault) {
    let mut cases: Vec<Case> = Vec::new();
    for cmd in MEASURING {
        let case = format!("{} / {}", row.name, cmd.name());
        let sim = start_sim(sim_with(SCALE, &[MODEL], Some(row.fault))).await;
        let dir = tempfile::tempdir().unwrap();
        let args = cmd.measuring(&sim.url(), dir.path(), row.extra);
        let run = run_bounded(&arg_refs(&args), &[], RUN_LIMIT).await;
        drop(sim);
        cases.push((|| -> Case {
            exited(&case, &run, 1)?;
            let file = cmd.required_result_file(&case, dir.path(), &show(&run))?;
            let result = result_with_status(&case, &file, "Failed")?;
            ensure!(
                counts_kind(&result, row.kinds),
                "{case}: the failure is not counted as one of {:?}: {result:#}",
                row.kinds
            );
            Ok(())
        })());
    }
    assert_all(cases);
}

row_tests!(mid_run_fault:
    a_stall_mid_stream_fails_the_run_with_exit_1 => &STALL,
    a_cut_mid_stream_fails_the_run_with_exit_1 => &CUT,
    a_malformed_line_fails_the_run_with_exit_1 => &MALFORMED,
    http_404_fails_the_run_with_exit_1 => &HTTP_404,
    http_500_fails_the_run_with_exit_1 => &HTTP_500,
    http_503_fails_the_run_with_exit_1 => &HTTP_503,
);

/// tps: a model the server does not have (404 "model not found") is fatal for that model:
/// its requests stop at once, the console says why, the other model is still measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tps_stops_requesting_a_model_the_server_does_not_have() {
    let case = "tps / unknown model";
    let sim = start_sim(sim_config(SCALE, &["phi3.5"])).await;
    let proxy = counting_proxy(&sim.url(), hold_nothing).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("tps.json");
    let run = run_bounded(
        &[
            "tps",
            "--endpoint",
            &proxy.url(),
            "--models",
            "not-pulled:7b,phi3.5",
            "--prompt-lengths",
            "short,medium",
            "--warmup-runs",
            "1",
            "--measurement-runs",
            "4",
            "--generation-tokens",
            "20",
            "--output",
            output.to_str().unwrap(),
        ],
        &[],
        RUN_LIMIT,
    )
    .await;
    let verdict = (|| -> Case {
        exited(case, &run, 1)?;
        let to_unknown = proxy.count(|r| {
            r.model.as_deref() == Some("not-pulled:7b")
                && (r.path.starts_with("/api/generate") || r.path.starts_with("/api/chat"))
        });
        ensure!(
            to_unknown <= 2,
            "{case}: {to_unknown} requests for the missing model reached the server:\n{}",
            proxy.listing()
        );
        let console = run.console().to_lowercase();
        ensure!(
            console.contains("not found") && console.contains("not-pulled:7b"),
            "{case}: the console does not say that the model was not found: {}",
            show(&run)
        );
        let result = result_with_status(case, &output, "Failed")?;
        let models = result["ModelResults"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let unknown = models.iter().find(|m| m["Model"] == "not-pulled:7b");
        let counted_in_model = unknown.is_some_and(|m| counts_kind(m, &["http-404"]));
        let counted_in_errors = result["Errors"].as_array().is_some_and(|errors| {
            errors
                .iter()
                .any(|e| e["Kind"] == "http-404" && e.to_string().contains("not-pulled:7b"))
        });
        ensure!(
            counted_in_model || counted_in_errors,
            "{case}: the 404 of not-pulled:7b is not counted: {result:#}"
        );
        let phi = models.iter().find(|m| m["Model"] == "phi3.5");
        ensure!(phi.is_some(), "{case}: phi3.5 was not measured: {result:#}");
        for cell in phi.unwrap()["PromptResults"].as_array().unwrap() {
            ensure!(
                cell["Statistics"]["SampleSize"] == 4,
                "{case}: phi3.5 is not fully measured: {cell:#}"
            );
        }
        Ok(())
    })();
    assert_all(vec![verdict]);
}

// ---------------------------------------------------------------------------------------------
// SIGINT and SIGTERM: exit 130 within 1 s, "Interrupted", the result file marked so.

/// How a signalled run ended.
struct Signalled {
    code: Option<i32>,
    /// From the signal to the exit.
    after_signal: Duration,
    stdout: String,
    stderr: String,
}

impl Signalled {
    fn show(&self) -> String {
        format!(
            "exit {:?} {:.3} s after the signal\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.after_signal.as_secs_f64(),
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// The binary with `args`, its output piped, no input, no endpoint or key from the
/// environment, killed when dropped.
fn piped_binary(args: &[String]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ollabench"));
    command
        .args(args)
        .env_remove("OLLAMA_HOST")
        .env_remove("OPENAI_API_KEY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Starts the binary, polls `ready` (at most 60 s; an error if the process exits first),
/// sends `signal` (`INT` or `TERM`) and waits for the exit (at most 10 s, then kills it).
async fn signal_when_ready(
    case: &str,
    args: &[String],
    envs: &[(&str, &str)],
    signal: &str,
    what: &str,
    mut ready: impl FnMut() -> bool,
) -> Result<Signalled, String> {
    let mut command = piped_binary(args);
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("the binary starts");
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Err(format!(
                "{case}: exited ({status}) before {what}\n--- stdout\n{}\n--- stderr\n{}",
                collect(stdout).await,
                collect(stderr).await
            ));
        }
        if Instant::now() > deadline {
            let _ = child.kill().await;
            return Err(format!(
                "{case}: timed out waiting for {what}\n--- stdout\n{}\n--- stderr\n{}",
                collect(stdout).await,
                collect(stderr).await
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().expect("the child runs");
    let sent = Instant::now();
    send_signal(pid, signal);
    let code = match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(Ok(status)) => status.code(),
        _ => {
            let _ = child.kill().await;
            None
        }
    };
    let after_signal = sent.elapsed();
    Ok(Signalled {
        code,
        after_signal,
        stdout: collect(stdout).await,
        stderr: collect(stderr).await,
    })
}

/// Exit 130 within 1 s of the signal, no panic, "Interrupted" (any case) on the console.
fn interrupted(case: &str, run: &Signalled) -> Case {
    ensure!(
        !run.stderr.contains("panicked"),
        "{case}: panicked: {}",
        run.show()
    );
    ensure!(
        run.code == Some(130),
        "{case}: not exit 130: {}",
        run.show()
    );
    ensure!(
        run.after_signal <= SIGNAL_LIMIT,
        "{case}: exited {:.3} s after the signal, more than 1 s: {}",
        run.after_signal.as_secs_f64(),
        run.show()
    );
    let console = format!("{}\n{}", run.stdout, run.stderr).to_lowercase();
    ensure!(
        console.contains("interrupted"),
        "{case}: the console does not say Interrupted: {}",
        run.show()
    );
    Ok(())
}

/// The command's result file is on disk, complete JSON, `"Status": "Interrupted"`.
fn interrupted_file(case: &str, cmd: Cmd, dir: &Path, run: &Signalled) -> Case {
    let file = cmd.required_result_file(case, dir, &run.show())?;
    result_with_status(case, &file, "Interrupted").map(drop)
}

/// [`interrupted`], and the result file marked so.
fn interrupted_with_file(case: &str, cmd: Cmd, dir: &Path, run: Result<Signalled, String>) -> Case {
    let run = run?;
    interrupted(case, &run)?;
    interrupted_file(case, cmd, dir, &run)
}

const SIGNALS: [&str; 2] = ["INT", "TERM"];

/// While connecting: the server accepted the connection and never answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_while_connecting_exits_130_in_every_command() {
    let server = silent_server().await;
    let mut cases: Vec<Case> = Vec::new();
    for signal in SIGNALS {
        for cmd in ALL {
            let case = format!("SIG{signal} while connecting / {}", cmd.name());
            let dir = tempfile::tempdir().unwrap();
            let args = with(cmd.against(&server.url(), dir.path()), &PATIENT_FLAGS);
            let before = server.accepted();
            let run = signal_when_ready(&case, &args, &[], signal, "a connection", || {
                server.accepted() > before
            })
            .await;
            cases.push((|| -> Case {
                let run = run?;
                interrupted(&case, &run)?;
                // Nothing was measured; a result file, if written, says Interrupted.
                if cmd.result_file(dir.path()).is_some_and(|f| f.exists()) {
                    interrupted_file(&case, cmd, dir.path(), &run)?;
                }
                Ok(())
            })());
        }
    }
    assert_all(cases);
}

/// While waiting for the first byte of a generation: the proxy holds every generation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_while_waiting_for_the_first_byte_exits_130() {
    let mut cases: Vec<Case> = Vec::new();
    for signal in SIGNALS {
        for cmd in MEASURING {
            let case = format!("SIG{signal} waiting for the first byte / {}", cmd.name());
            let sim = start_sim(sim_config(SCALE, &[MODEL])).await;
            let proxy = counting_proxy(&sim.url(), hold_generations).await;
            let dir = tempfile::tempdir().unwrap();
            let args = cmd.measuring(&proxy.url(), dir.path(), &PATIENT_FLAGS);
            let run = signal_when_ready(&case, &args, &[], signal, "a held generation", || {
                proxy.count(|r| r.held) > 0
            })
            .await;
            cases.push(interrupted_with_file(&case, cmd, dir.path(), run));
        }
    }
    assert_all(cases);
}

/// Mid-stream: the first token arrived, then the simulator stalls for a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_mid_stream_exits_130() {
    let mut cases: Vec<Case> = Vec::new();
    for signal in SIGNALS {
        for cmd in MEASURING {
            let case = format!("SIG{signal} mid-stream / {}", cmd.name());
            let sim = start_sim(sim_with(SCALE, &[MODEL], Some(("stall", "60s@always")))).await;
            let proxy = counting_proxy(&sim.url(), hold_nothing).await;
            let dir = tempfile::tempdir().unwrap();
            let args = cmd.measuring(&proxy.url(), dir.path(), &PATIENT_FLAGS);
            let run = signal_when_ready(&case, &args, &[], signal, "a stalled stream", || {
                proxy.count(|r| r.generation && r.chunks >= 1 && !r.finished) > 0
            })
            .await;
            cases.push(interrupted_with_file(&case, cmd, dir.path(), run));
        }
    }
    assert_all(cases);
}

/// During a pull: the simulator at time scale 1 downloads llama3.1:8b (about 40 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_during_a_pull_exits_130() {
    let mut cases: Vec<Case> = Vec::new();
    for signal in SIGNALS {
        for cmd in [SingleUser, MultiUser, Run] {
            let case = format!("SIG{signal} during a pull / {}", cmd.name());
            let sim = start_sim(sim_config(1.0, &[])).await;
            let proxy = counting_proxy(&sim.url(), hold_nothing).await;
            let dir = tempfile::tempdir().unwrap();
            let args = with(
                cmd.args(
                    &endpoint(&proxy.url()),
                    "llama3.1:8b",
                    &cmd.default_output(dir.path()),
                ),
                &PATIENT_FLAGS,
            );
            let run = signal_when_ready(&case, &args, &[], signal, "pull progress", || {
                proxy.count(|r| r.path == "/api/pull" && r.chunks >= 2 && !r.finished) > 0
            })
            .await;
            cases.push(interrupted_with_file(&case, cmd, dir.path(), run));
        }
    }
    assert_all(cases);
}

/// tps interrupted in the middle of a cell: what was measured is kept, and a cell with fewer
/// samples than asked for is never labelled Stable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_tps_cell_is_never_labelled_stable() {
    let case = "SIGINT mid-cell / tps";
    // Requests 1 and 2 are measured; the 3rd stalls after its first token. At this scale
    // and length two samples vary by about 1%: a complete cell of them would be Stable.
    let sim = start_sim(sim_with(0.1, &["phi3.5"], Some(("stall", "60s@every:3")))).await;
    let proxy = counting_proxy(&sim.url(), hold_nothing).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("tps.json");
    let args = tps_args(
        &proxy.url(),
        "phi3.5",
        "short",
        "5",
        &output,
        &["--generation-tokens", "100"],
    );
    let run = signal_when_ready(case, &args, &[], "INT", "the 3rd request to stall", || {
        proxy.count(|r| r.generation && r.finished) >= 2
            && proxy.count(|r| r.generation && r.chunks >= 1 && !r.finished) > 0
    })
    .await;
    let verdict = (|| -> Case {
        let run = run?;
        interrupted(case, &run)?;
        let result = result_with_status(case, &output, "Interrupted")?;
        for model in result["ModelResults"].as_array().unwrap() {
            for cell in model["PromptResults"].as_array().unwrap() {
                let samples = cell["Statistics"]["SampleSize"].as_u64().unwrap_or(0);
                ensure!(
                    samples >= 5 || cell["Statistics"]["Stability"] != "Stable",
                    "{case}: a cell with {samples} of 5 samples is labelled Stable: {cell:#}"
                );
            }
        }
        // Nor in the console's table: the row of the one (partial) cell.
        let rows: Vec<&str> = run
            .stdout
            .lines()
            .filter(|l| l.contains("phi3.5"))
            .collect();
        ensure!(
            rows.iter().all(|row| !row.contains("Stable")),
            "{case}: the partial cell is labelled Stable on the console: {}",
            run.show()
        );
        Ok(())
    })();
    assert_all(vec![verdict]);
}

/// While `kubectl port-forward` starts (a fake kubectl that never starts forwarding).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_while_the_port_forward_starts_exits_130_and_stops_kubectl() {
    let case = "SIGINT while kubectl port-forward starts / test-connection";
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("kubectl.pids");
    let log = dir.path().join("kubectl.log");
    let kubectl = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/fake-kubectl");
    let args = strings(&[
        "test-connection",
        "--use-port-forward",
        "--local-port",
        "0",
        "--kubectl",
        kubectl,
    ]);
    let (pids_str, log_str) = (pids.display().to_string(), log.display().to_string());
    let envs = [
        ("FAKE_KUBECTL_HANG", "1"),
        ("FAKE_KUBECTL_PIDS", pids_str.as_str()),
        ("FAKE_KUBECTL_LOG", log_str.as_str()),
        ("FAKE_KUBECTL_TARGET", "127.0.0.1:9"),
    ];
    let kubectl_pids = || -> Vec<u32> {
        std::fs::read_to_string(&pids)
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    let run = signal_when_ready(case, &args, &envs, "INT", "kubectl to start", || {
        !kubectl_pids().is_empty()
    })
    .await;
    let run = run.unwrap_or_else(|err| panic!("{err}"));
    assert_all(vec![interrupted(case, &run)]);
    let started = kubectl_pids();
    wait_until("kubectl to be stopped", Duration::from_secs(5), || {
        started.iter().all(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
        })
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Unwritable output: exit 2 before any request reaches the server, naming the path.

/// Folders that cannot hold a new file, with a label: a read-only folder (a path under /proc
/// when running as root, where permissions do not stop writes) and a file where a folder
/// should be.
fn unwritable_folders(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let read_only = if running_as_root() {
        PathBuf::from("/proc/ollabench-test")
    } else {
        use std::os::unix::fs::PermissionsExt;
        let folder = dir.join("read-only");
        std::fs::create_dir(&folder).unwrap();
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).unwrap();
        folder
    };
    let file = dir.join("somefile.txt");
    std::fs::write(&file, "not a folder\n").unwrap();
    vec![
        ("read-only folder", read_only),
        ("a file where the folder should be", file),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_output_exits_2_before_any_request() {
    let sim = start_sim(sim_config(SCALE, &[MODEL])).await;
    let mut cases: Vec<Case> = Vec::new();
    for cmd in MEASURING {
        let dir = tempfile::tempdir().unwrap();
        for (label, folder) in unwritable_folders(dir.path()) {
            let case = format!("{label} / {}", cmd.name());
            let proxy = counting_proxy(&sim.url(), hold_nothing).await;
            let output = match cmd {
                Run => folder.join("results"),
                _ => folder.join("out.json"),
            };
            let args = cmd.args(&endpoint(&proxy.url()), MODEL, &output);
            let run = run_bounded(&arg_refs(&args), &[], RUN_LIMIT).await;
            cases.push((|| -> Case {
                exited(&case, &run, 2)?;
                let seen = proxy.requests();
                ensure!(
                    seen.is_empty(),
                    "{case}: {} requests reached the server before the output was checked:\n{}",
                    seen.len(),
                    proxy.listing()
                );
                ensure!(
                    run.console().contains(&folder.display().to_string()),
                    "{case}: the message does not name {}: {}",
                    folder.display(),
                    show(&run)
                );
                Ok(())
            })());
        }
    }
    assert_all(cases);
}

#[tokio::test]
async fn compare_and_report_to_an_unwritable_output_exit_2() {
    let input = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/report/sim-run");
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<Case> = Vec::new();
    for (label, folder) in unwritable_folders(dir.path()) {
        let compare_out = folder.join("comparison.json");
        let report_out = folder.join("report");
        for (command, args) in [
            (
                "compare --output",
                vec!["compare", input, "--output", compare_out.to_str().unwrap()],
            ),
            (
                "report --output-dir",
                vec![
                    "report",
                    input,
                    "--output-dir",
                    report_out.to_str().unwrap(),
                ],
            ),
        ] {
            let case = format!("{label} / {command}");
            let run = run_bounded(&args, &[], RUN_LIMIT).await;
            cases.push((|| -> Case {
                exited(&case, &run, 2)?;
                ensure!(
                    run.console().contains(&folder.display().to_string()),
                    "{case}: the message does not name {}: {}",
                    folder.display(),
                    show(&run)
                );
                Ok(())
            })());
        }
    }
    assert_all(cases);
}

// ---------------------------------------------------------------------------------------------
// stdout: closed early, or a plain pipe.

/// A reader takes one line of stdout and closes the pipe: no panic, the run's own exit code
/// (0), the result file complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_closed_early_is_not_a_failure() {
    let mut cases: Vec<Case> = Vec::new();
    for cmd in [TestConnection, SingleUser, Tps] {
        let case = format!("stdout closed after one line / {}", cmd.name());
        let sim = start_sim(sim_config(SCALE, &[MODEL])).await;
        let dir = tempfile::tempdir().unwrap();
        let args = cmd.against(&sim.url(), dir.path());
        let mut child = piped_binary(&args).spawn().unwrap();
        let stderr = drain(child.stderr.take());
        let mut reader = tokio::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        let _ = tokio::time::timeout(RUN_LIMIT, reader.read_line(&mut first)).await;
        drop(reader);
        let code = match tokio::time::timeout(RUN_LIMIT, child.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => {
                let _ = child.kill().await;
                None
            }
        };
        let stderr = collect(stderr).await;
        cases.push((|| -> Case {
            ensure!(!stderr.contains("panicked"), "{case}: panicked:\n{stderr}");
            ensure!(
                code == Some(0),
                "{case}: exit {code:?}; first line {first:?}\n--- stderr\n{stderr}"
            );
            if let Some(file) = cmd.result_file(dir.path()) {
                result_with_status(&case, &file, "Success")?;
            }
            Ok(())
        })());
    }
    assert_all(cases);
}

/// Neither stdout nor stderr is a terminal: the run works and prints no escape codes
/// (progress bars, spinners, colours).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_pipe_gets_no_progress_bar_escape_codes() {
    let mut cases: Vec<Case> = Vec::new();
    for cmd in ALL {
        let case = format!("piped / {}", cmd.name());
        let sim = start_sim(sim_config(SCALE, &[MODEL])).await;
        let dir = tempfile::tempdir().unwrap();
        let args = cmd.against(&sim.url(), dir.path());
        let run = run_bounded(&arg_refs(&args), &[], RUN_LIMIT).await;
        cases.push((|| -> Case {
            exited(&case, &run, 0)?;
            ensure!(
                !run.stdout.contains('\x1b') && !run.stderr.contains('\x1b'),
                "{case}: escape codes in a pipe: {:?}",
                run.console()
            );
            Ok(())
        })());
    }
    assert_all(cases);
}

// ---------------------------------------------------------------------------------------------
// File modes follow the umask.

fn mode(path: &Path) -> Result<u32, String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .map_err(|err| format!("{}: {err}", path.display()))
}

/// `sh -c 'umask U; exec ollabench ARGS'`.
fn with_umask(umask: u32, args: &[String]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(format!("umask {umask:03o}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_ollabench"))
        .args(args);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_files_are_created_with_the_process_umask() {
    let sim = start_sim(sim_config(SCALE, &[MODEL])).await;
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/report/sim-run");
    let mut cases: Vec<Case> = Vec::new();
    for umask in [0o022u32, 0o027] {
        let (file_mode, dir_mode) = (0o666 & !umask, 0o777 & !umask);
        for cmd in MEASURING {
            let case = format!("umask {umask:03o} / {}", cmd.name());
            let dir = tempfile::tempdir().unwrap();
            let args = cmd.args(
                &endpoint(&sim.url()),
                MODEL,
                &cmd.default_output(dir.path()),
            );
            let run = run_command_bounded(with_umask(umask, &args), &[], RUN_LIMIT).await;
            cases.push((|| -> Case {
                ensure!(run.code == Some(0), "{case}: not exit 0: {}", show(&run));
                let file = cmd.required_result_file(&case, dir.path(), &show(&run))?;
                let mut paths = vec![(file.clone(), file_mode)];
                if cmd == Run {
                    let folder = file.parent().unwrap().to_path_buf();
                    paths.push((folder.join("report.html"), file_mode));
                    paths.push((folder.join("summary.md"), file_mode));
                    paths.push((folder, dir_mode));
                }
                for (path, expected) in paths {
                    let actual = mode(&path)?;
                    ensure!(
                        actual == expected,
                        "{case}: {} is {actual:03o}, not {expected:03o}",
                        path.display()
                    );
                }
                Ok(())
            })());
        }
        let case = format!("umask {umask:03o} / compare --output");
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("comparison.json");
        let args = strings(&["compare", fixture, "--output", output.to_str().unwrap()]);
        let run = run_command_bounded(with_umask(umask, &args), &[], RUN_LIMIT).await;
        cases.push((|| -> Case {
            ensure!(run.code == Some(0), "{case}: not exit 0: {}", show(&run));
            let actual = mode(&output)?;
            ensure!(
                actual == file_mode,
                "{case}: {} is {actual:03o}, not {file_mode:03o}",
                output.display()
            );
            Ok(())
        })());
    }
    assert_all(cases);
}

// ---------------------------------------------------------------------------------------------
// Bad flag values: exit 2 naming the flag, never a panic, nothing written.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flag_values_exit_2_naming_the_flag() {
    let sim = start_sim(sim_config(SCALE, &[MODEL])).await;
    let url = sim.url();
    // (command, target flags, the bad flag and value, what the message must name)
    let mut table: Vec<(Cmd, Vec<String>, Vec<&str>, &str)> = Vec::new();
    let simulate = |profile: &str| strings(&["--simulate", profile]);
    for cmd in ALL {
        table.push((
            cmd,
            simulate("t4"),
            vec!["--time-scale", "0"],
            "--time-scale",
        ));
        table.push((
            cmd,
            simulate("t4"),
            vec!["--time-scale", "-1"],
            "--time-scale",
        ));
        table.push((
            cmd,
            endpoint(&url),
            vec!["--connect-timeout", "0s"],
            "--connect-timeout",
        ));
        table.push((cmd, simulate("t5"), vec![], "t5"));
    }
    for cmd in [SingleUser, Tps, MultiUser] {
        table.push((
            cmd,
            endpoint(&url),
            vec!["--generation-tokens", "0"],
            "--generation-tokens",
        ));
    }
    for (bad, flag) in [
        (vec!["--measurement-runs", "0"], "--measurement-runs"),
        (vec!["--concurrent-requests", "0"], "--concurrent-requests"),
        (
            vec!["--concurrent-requests", "100000000"],
            "--concurrent-requests",
        ),
        (vec!["--warmup-runs", "99999999999"], "--warmup-runs"),
        (vec!["--prompt-lengths", "huge"], "huge"),
    ] {
        table.push((Tps, endpoint(&url), bad, flag));
    }
    for users in ["0", "-1"] {
        table.push((
            MultiUser,
            endpoint(&url),
            vec!["--concurrent-users", users],
            "--concurrent-users",
        ));
    }
    table.push((Run, endpoint(&url), vec!["--scenario", "bogus"], "bogus"));

    let mut cases: Vec<Case> = Vec::new();
    for (cmd, target, bad, names) in table {
        let case = format!("{} {} {}", cmd.name(), target.join(" "), bad.join(" "));
        let dir = tempfile::tempdir().unwrap();
        // The bad value comes last, so that it overrides the command's own small values.
        let args = with(
            cmd.args(&target, MODEL, &cmd.default_output(dir.path())),
            &bad,
        );
        let run = run_bounded(&arg_refs(&args), &[], Duration::from_secs(30)).await;
        cases.push((|| -> Case {
            exited(&case, &run, 2)?;
            ensure!(
                run.stderr.contains(names),
                "{case}: the message does not name {names}: {}",
                show(&run)
            );
            cmd.nothing_written(&case, dir.path())
        })());
    }
    assert_all(cases);
}

// ---------------------------------------------------------------------------------------------
// report over two results folders never overwrites the first folder's report silently.

#[tokio::test]
async fn report_of_two_folders_never_overwrites_the_first_silently() {
    const SENTINEL: &str = "<!-- the user's own report.html -->\n";
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/trend");
    let dir = tempfile::tempdir().unwrap();
    for (folder, source) in [("a1", "results-1"), ("a2", "results-2")] {
        std::fs::create_dir(dir.path().join(folder)).unwrap();
        std::fs::copy(
            fixtures.join(source).join("single-user.json"),
            dir.path().join(folder).join("single-user.json"),
        )
        .unwrap();
    }
    let first_report = dir.path().join("a1/report.html");
    let mut cases: Vec<Case> = Vec::new();

    // Without --output-dir: a1/report.html is kept, or the console says it was written there.
    let case = "report a1 a2";
    std::fs::write(&first_report, SENTINEL).unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ollabench"));
    command.current_dir(dir.path()).args(["report", "a1", "a2"]);
    let run = run_command_bounded(command, &[], RUN_LIMIT).await;
    cases.push((|| -> Case {
        exited(case, &run, 0)?;
        let console = run.console();
        let written = console
            .split(|c: char| c.is_whitespace() || c == ',' || c == '"' || c == '\'')
            .map(|word| word.trim_end_matches(['.', ':', ';', ')']))
            .filter(|word| word.ends_with("report.html"))
            .any(|word| dir.path().join(word).exists());
        ensure!(
            written,
            "{case}: the console does not say where report.html was written: {}",
            show(&run)
        );
        let first_now = std::fs::read_to_string(&first_report).unwrap_or_default();
        ensure!(
            first_now == SENTINEL || console.contains("a1/report.html"),
            "{case}: a1/report.html was overwritten silently: {}",
            show(&run)
        );
        Ok(())
    })());

    // With --output-dir: written there, a1/report.html untouched.
    let case = "report a1 a2 --output-dir out";
    std::fs::write(&first_report, SENTINEL).unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ollabench"));
    command
        .current_dir(dir.path())
        .args(["report", "a1", "a2", "--output-dir", "out"]);
    let run = run_command_bounded(command, &[], RUN_LIMIT).await;
    cases.push((|| -> Case {
        exited(case, &run, 0)?;
        ensure!(
            dir.path().join("out/report.html").exists(),
            "{case}: no out/report.html: {}",
            show(&run)
        );
        ensure!(
            std::fs::read_to_string(&first_report).unwrap_or_default() == SENTINEL,
            "{case}: a1/report.html was overwritten"
        );
        Ok(())
    })());
    assert_all(cases);
}

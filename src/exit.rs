//! Exit codes, the outcome of a command, the typed errors of configuration, and the context
//! every command runs in.
//!
//! Exit codes (documented in `--help` and the README): 0 done; 1 ran but something failed or
//! regressed; 2 unusable input or configuration; 130 interrupted (results so far are on disk).
//! [`error_code`] is the one table from error types to codes: [`ConfigError`], the reader's
//! `results::read::ReadError`, an unwritable output path (`results::write::Unwritable`) and
//! [`Unreachable`] are 2, anything else 1. That table is why `exit` knows `results` (and only
//! it); `results` in turn never uses `exit`.

use std::io::IsTerminal;
use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use crate::results::read::ReadError;
use crate::results::write::Unwritable;
use crate::results::RunStatus;

/// The command ran and everything it measured succeeded.
pub const SUCCESS: u8 = 0;
/// The command ran, but a measurement failed or a regression gate tripped.
pub const FAILURE: u8 = 1;
/// Unusable input or configuration: nothing was measured.
pub const USAGE: u8 = 2;
/// Interrupted by Ctrl-C; what was measured so far is on disk, marked interrupted.
pub const INTERRUPTED: u8 = 130;

/// How a command that ran to its end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything succeeded.
    Success,
    /// Something failed or regressed; the details were already printed.
    Failed,
    /// Ctrl-C stopped the command; partial results were written.
    Interrupted,
    /// Nothing at all was measured because of the configuration or an unreachable server
    /// (exit 2); the details were already printed.
    NotMeasured,
}

/// What is wrong with the user's input or configuration (exit code 2): nothing was measured.
/// Every message names the flag, file or value at fault and says what to do instead.
/// The I/O errors inside are fields named `error`, not sources: the message already quotes
/// them, and `error: {err:#}` would print a source a second time.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    // A flag's value.
    /// A number outside the range the flag accepts.
    #[error("{flag} {value} is out of range: use {expected}")]
    OutOfRange {
        flag: &'static str,
        value: String,
        expected: String,
    },
    /// A number below the smallest the flag accepts; `reason` says why, when not obvious.
    #[error("{flag} must be at least {minimum}{}", because(*.reason))]
    TooSmall {
        flag: &'static str,
        minimum: u64,
        reason: Option<&'static str>,
    },
    /// Flags whose values together must stay under a limit.
    #[error("{flags} go up to {limit}; {advice}")]
    TooLarge {
        flags: &'static str,
        limit: u64,
        advice: &'static str,
    },
    /// A factor or duration that must be above zero.
    #[error("{flag} must be a positive number, got {value}")]
    NotPositive { flag: &'static str, value: f64 },
    /// A name that is none of the ones known (a scenario, a prompt length, a profile, a model).
    #[error("unknown {what} '{value}': use {expected}")]
    Unknown {
        what: &'static str,
        value: String,
        expected: String,
    },
    /// A flag's value that does not parse; `reason` is the parser's, `expected` shows the form.
    #[error("invalid {flag} '{value}': {reason}; {expected}")]
    Unparsable {
        flag: &'static str,
        value: String,
        reason: String,
        expected: &'static str,
    },
    /// A flag whose value another part of the configuration rejects, in that part's words.
    #[error("{flag}: {reason}")]
    Rejected { flag: &'static str, reason: String },
    /// A `--fault-*` rule of the simulator that does not parse; the message names the flag.
    #[error("{0}")]
    FaultRule(String),
    /// A list flag (`--models`, `--prompt-lengths`, `--scenario`) or a name that is empty.
    #[error("{flag} is empty: {advice}")]
    Empty {
        flag: &'static str,
        advice: &'static str,
    },
    /// Two flags that exclude each other.
    #[error("{first} and {second} exclude each other: {advice}")]
    Conflict {
        first: &'static str,
        second: &'static str,
        advice: &'static str,
    },
    /// A step the chosen API cannot do (`--api openai` has no pull, load or unload).
    #[error(
        "{what} needs Ollama's native API: OpenAI-compatible servers have no pull, load or \
         unload endpoints. Use --api ollama against an Ollama server."
    )]
    NeedsOllamaApi { what: String },

    // The endpoint URL.
    #[error("the endpoint is empty: give a URL such as http://localhost:11434")]
    EmptyEndpoint,
    /// `http//host` and the like; `suggestion` is the URL that was probably meant.
    #[error("the endpoint '{raw}' has a malformed scheme: did you mean {suggestion}?")]
    MalformedEndpoint { raw: String, suggestion: String },
    #[error(
        "the endpoint '{raw}' is not a URL ({reason}): give one such as http://localhost:11434"
    )]
    NotAUrl { raw: String, reason: String },
    #[error("the endpoint '{raw}' uses the scheme '{scheme}': use http or https")]
    UnsupportedScheme { raw: String, scheme: String },

    // Files and folders.
    /// An input file that exists but cannot be read.
    #[error("cannot read {what} {}: {error}", .path.display())]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    /// A file named by a flag that is not there.
    #[error("{flag} {}: no such file; {advice}", .path.display())]
    MissingFile {
        flag: &'static str,
        path: PathBuf,
        advice: &'static str,
    },
    /// A prompts file without a single prompt.
    #[error("the prompts file {} holds no prompt: write one prompt per line", .path.display())]
    NoPrompts { path: PathBuf },
    /// An output path checked before measuring: a folder, under a file, or not writable.
    #[error(transparent)]
    Unwritable(#[from] Unwritable),
    /// An output written after the work was done that could not be written.
    #[error("{flag} {}: cannot write the report: {reason}", .path.display())]
    WriteFailed {
        flag: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// The folder a suite writes its results into cannot be created.
    #[error("cannot create the results folder {}: {error}", .path.display())]
    ResultsFolder {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("too many results folders named {stamp}* in {}", .parent.display())]
    TooManyResultsFolders { stamp: String, parent: PathBuf },

    // Result files given as input (each unusable file's own reason is a `ReadError`).
    /// Nothing usable among the inputs of `report`; each problem is listed.
    #[error(
        "no usable result file in {}{}\nGive result files written by ollabench (or the \
         PowerShell suite), or a folder holding them.",
        shown(.inputs), listed(.problems)
    )]
    NoUsableInput {
        inputs: Vec<PathBuf>,
        problems: Vec<String>,
    },
    /// Nothing usable among the inputs of `compare` (the problems were printed above).
    #[error(
        "no usable result file to compare (see the errors above); give ollabench or \
         PowerShell-suite result files, or folders holding them"
    )]
    NoUsableRuns,
    /// `--baseline` holds no usable result file (the problems were printed above).
    #[error("--baseline: no usable result file in it (see the errors above)")]
    NoUsableBaseline,
    /// A baseline file that cannot be read, in the reader's words.
    #[error("the baseline is unusable: {reason}")]
    UnusableBaseline { reason: String },
    /// A baseline file that holds no single-user time to scale against.
    #[error(
        "the baseline {} has neither a measured Measurements.TotalTimeSeconds (a single-user \
         file whose download and load succeeded) nor a one-user Summary.OverallDurationSeconds",
        .path.display()
    )]
    BaselineWithoutTime { path: PathBuf },
    /// `--fail-on-regression` with nothing to compare.
    #[error(
        "--fail-on-regression needs something to compare: give --baseline FILE, or at least \
         two runs of the same kind and configuration"
    )]
    NothingToCompare,

    // Kubernetes.
    /// The kubectl binary cannot be run.
    #[error(
        "cannot run kubectl `{program}`: {error}\nhint: install kubectl \
         (https://kubernetes.io/docs/tasks/tools/) or name it with --kubectl PATH"
    )]
    KubectlMissing {
        program: String,
        error: std::io::Error,
    },
    /// kubectl ran and refused (a namespace, service or port that does not exist); the
    /// message is kubectl's failure with its command line and a hint.
    #[error("{0}")]
    Kubectl(String),

    /// The catch-all for free-form messages, built by [`UsageError::err`]: code that has a
    /// variant above uses it instead.
    #[error("{0}")]
    Invalid(String),
}

/// `: reason` when there is one.
fn because(reason: Option<&str>) -> String {
    reason.map(|r| format!(": {r}")).unwrap_or_default()
}

fn shown(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

fn listed(problems: &[String]) -> String {
    problems.iter().map(|p| format!("\n  {p}")).collect()
}

/// The name configuration errors had before they were typed. `UsageError::err(message)` stays
/// for free-form messages ([`ConfigError::Invalid`]); a specific variant is better where one fits.
pub type UsageError = ConfigError;

impl ConfigError {
    /// Builds an `anyhow::Error` carrying the catch-all [`ConfigError::Invalid`].
    pub fn err(message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(ConfigError::Invalid(message.into()))
    }
}

/// The server could not be reached before anything was measured (exit 2, as a usage error:
/// the endpoint, the network path or the server is misconfigured).
#[derive(Debug, thiserror::Error)]
#[error("{url} is unreachable: {error}\n  {advice}")]
pub struct Unreachable {
    pub url: String,
    /// What failed, in the request layer's words.
    pub error: String,
    pub advice: String,
}

/// What every command gets besides its arguments.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Cancelled on Ctrl-C.
    pub cancel: CancellationToken,
    /// Whether stderr is a terminal: progress bars and spinners only then.
    pub interactive: bool,
}

impl Ctx {
    /// The context of a real process: stderr decides whether progress shows.
    pub fn from_environment() -> Self {
        Ctx {
            cancel: CancellationToken::new(),
            interactive: std::io::stderr().is_terminal(),
        }
    }

    /// A quiet context for tests and embedding.
    pub fn quiet() -> Self {
        Ctx {
            cancel: CancellationToken::new(),
            interactive: false,
        }
    }
}

/// Prints an error with its cause chain and maps the result to an exit code.
pub fn report(outcome: anyhow::Result<Outcome>) -> u8 {
    match outcome {
        Ok(outcome) => code(outcome),
        Err(err) => {
            crate::errln!("error: {err:#}");
            error_code(&err)
        }
    }
}

/// The exit code of a command that ran to its end.
pub fn code(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Success => SUCCESS,
        Outcome::Failed => FAILURE,
        Outcome::Interrupted => INTERRUPTED,
        Outcome::NotMeasured => USAGE,
    }
}

/// The exit code of an error: the one table of which typed errors mean "unusable input or
/// configuration" (2); everything else is a failure (1).
pub fn error_code(err: &anyhow::Error) -> u8 {
    let usage = err.downcast_ref::<ConfigError>().is_some()
        || err.downcast_ref::<Unwritable>().is_some()
        || err.downcast_ref::<ReadError>().is_some()
        || err.downcast_ref::<Unreachable>().is_some();
    if usage {
        USAGE
    } else {
        FAILURE
    }
}

/// A run's recorded status is the outcome of the command that measured it.
impl From<RunStatus> for Outcome {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Success => Outcome::Success,
            RunStatus::Failed => Outcome::Failed,
            RunStatus::Interrupted => Outcome::Interrupted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_reading_and_reachability_errors_exit_2() {
        let config = anyhow::Error::new(ConfigError::Empty {
            flag: "--models",
            advice: "name at least one model",
        });
        assert_eq!(error_code(&config), USAGE);
        assert_eq!(error_code(&config.context("while starting")), USAGE);
        let read = anyhow::Error::new(ReadError::Empty {
            path: "run.json".into(),
        });
        assert_eq!(error_code(&read), USAGE);
        let unreachable = anyhow::Error::new(Unreachable {
            url: "http://127.0.0.1:9".into(),
            error: "connection refused".into(),
            advice: "start the server".into(),
        });
        assert_eq!(error_code(&unreachable), USAGE);
        assert_eq!(error_code(&UsageError::err("free-form")), USAGE);
    }

    #[test]
    fn the_top_level_message_says_the_cause_once() {
        let err = anyhow::Error::new(ConfigError::Unreadable {
            what: "the prompts file",
            path: PathBuf::from("prompts.txt"),
            error: std::io::Error::other("no such file"),
        });
        assert_eq!(
            format!("{err:#}"),
            "cannot read the prompts file prompts.txt: no such file"
        );
    }

    #[test]
    fn other_errors_exit_1_and_outcomes_keep_their_code() {
        assert_eq!(error_code(&anyhow::anyhow!("the server hung up")), FAILURE);
        let io = std::io::Error::other("disk full");
        assert_eq!(error_code(&anyhow::Error::new(io)), FAILURE);
        assert_eq!(report(Ok(Outcome::Success)), SUCCESS);
        assert_eq!(report(Ok(Outcome::Failed)), FAILURE);
        assert_eq!(report(Ok(Outcome::Interrupted)), INTERRUPTED);
        assert_eq!(report(Ok(Outcome::NotMeasured)), USAGE);
        assert_eq!(report(Err(anyhow::anyhow!("boom"))), FAILURE);
    }

    #[test]
    fn messages_name_what_is_wrong_and_say_what_to_do() {
        let cases: Vec<(ConfigError, &str)> = vec![
            (
                ConfigError::OutOfRange {
                    flag: "--concurrent-users",
                    value: "0".into(),
                    expected: "1 to 1000".into(),
                },
                "--concurrent-users 0 is out of range: use 1 to 1000",
            ),
            (
                ConfigError::TooSmall {
                    flag: "--generation-tokens",
                    minimum: 2,
                    reason: Some("tok/s needs tokens after the first"),
                },
                "--generation-tokens must be at least 2: tok/s needs tokens after the first",
            ),
            (
                ConfigError::TooSmall {
                    flag: "--measurement-runs",
                    minimum: 1,
                    reason: None,
                },
                "--measurement-runs must be at least 1",
            ),
            (
                ConfigError::Conflict {
                    first: "--simulate",
                    second: "--use-port-forward",
                    advice: "pick one",
                },
                "--simulate and --use-port-forward exclude each other: pick one",
            ),
            (
                ConfigError::MalformedEndpoint {
                    raw: "http//h:1".into(),
                    suggestion: "http://h:1".into(),
                },
                "the endpoint 'http//h:1' has a malformed scheme: did you mean http://h:1?",
            ),
            (
                ConfigError::NoUsableInput {
                    inputs: vec![PathBuf::from("a.json"), PathBuf::from("b")],
                    problems: vec!["a.json: the file is empty".into()],
                },
                "no usable result file in a.json, b\n  a.json: the file is empty\nGive result \
                 files written by ollabench (or the PowerShell suite), or a folder holding them.",
            ),
        ];
        for (err, expected) in cases {
            assert_eq!(err.to_string(), expected);
        }
        let unwritable = ConfigError::from(Unwritable::IsAFolder {
            what: "--output".into(),
            path: PathBuf::from("/tmp"),
        });
        assert_eq!(
            unwritable.to_string(),
            "--output /tmp is a folder: give a file name"
        );
        assert_eq!(error_code(&anyhow::Error::new(unwritable)), USAGE);
    }
}

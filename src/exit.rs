//! Exit codes, the outcome of a command, and the context every command runs in.
//!
//! Exit codes (documented in `--help` and the README): 0 done; 1 ran but something failed or
//! regressed; 2 unusable input or configuration; 130 interrupted (results so far are on disk).

use std::io::IsTerminal;

use tokio_util::sync::CancellationToken;

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

/// An error in the user's input or configuration (exit code 2). Wrap it in `anyhow` and the
/// top level maps it to [`USAGE`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl UsageError {
    /// Builds an `anyhow::Error` carrying a usage error.
    pub fn err(message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(UsageError(message.into()))
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
        Ok(Outcome::Success) => SUCCESS,
        Ok(Outcome::Failed) => FAILURE,
        Ok(Outcome::Interrupted) => INTERRUPTED,
        Ok(Outcome::NotMeasured) => USAGE,
        Err(err) => {
            crate::errln!("error: {err:#}");
            if err.downcast_ref::<UsageError>().is_some()
                || err.downcast_ref::<Unreachable>().is_some()
            {
                USAGE
            } else {
                FAILURE
            }
        }
    }
}

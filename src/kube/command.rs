//! One kubectl call that prints something and exits (`get ... -o json`, `exec ... -- CMD`): run
//! with an argument list, a time limit and its child killed when dropped, failures turned into
//! a [`KubectlFailure`] that quotes kubectl and says what to check.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::{command_line, hint_for, last_lines, KubectlFailure};

/// `kubectl ARGS` with `env` added, no stdin, its output captured.
pub(super) fn one_shot(kubectl: &Path, args: &[OsString], env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(kubectl);
    cmd.args(args)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Dropping the output future on timeout must not leave kubectl running.
        .kill_on_drop(true);
    cmd
}

/// Runs `kubectl ARGS` (with `env` added to ollabench's environment) and returns its stdout.
/// `namespace` and `service` shape the hint of a failure.
pub async fn kubectl_output(
    kubectl: &Path,
    args: &[String],
    env: &[(String, String)],
    timeout: Duration,
    namespace: &str,
    service: &str,
) -> Result<String, KubectlFailure> {
    let os_args: Vec<OsString> = args.iter().map(OsString::from).collect();
    let command = command_line(kubectl, &os_args);
    let mut cmd = one_shot(kubectl, &os_args, env);
    let failure = |status: String, stderr: String, hint: String| KubectlFailure {
        command: command.clone(),
        status,
        stderr,
        hint,
    };
    match tokio::time::timeout(timeout, cmd.output()).await {
        Err(_elapsed) => Err(failure(
            format!("no answer within {}s", timeout.as_secs_f64()),
            String::new(),
            hint_for("", namespace, service),
        )),
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::NotFound => Err(failure(
            format!("cannot run {}: {err}", kubectl.display()),
            String::new(),
            "install kubectl, or give its path with --kubectl".to_string(),
        )),
        Ok(Err(err)) => Err(failure(
            format!("cannot run {}: {err}", kubectl.display()),
            String::new(),
            hint_for("", namespace, service),
        )),
        Ok(Ok(output)) if !output.status.success() => {
            let stderr = last_lines(&String::from_utf8_lossy(&output.stderr));
            let hint = hint_for(&stderr, namespace, service);
            Err(failure(output.status.to_string(), stderr, hint))
        }
        Ok(Ok(output)) => Ok(String::from_utf8_lossy(&output.stdout).into_owned()),
    }
}

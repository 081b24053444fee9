//! Kubernetes: how ollabench reaches a server that runs in a cluster. It owns the kubectl
//! calls it makes, `kubectl get svc` to find a LoadBalancer address ([`discover_load_balancer`]),
//! the supervised `kubectl port-forward` child ([`PortForward`]) and the one-shot calls of
//! `diagnose` ([`kubectl_output`]), and turns kubectl's failures into errors that quote
//! kubectl and say what to check.
//!
//! kubectl is always run with an argument list, never through a shell, so namespace and service
//! names reach it unchanged.

mod command;
mod load_balancer;
mod port_forward;

use std::ffi::OsString;
use std::fmt;
use std::path::Path;

pub use command::kubectl_output;
pub use load_balancer::{
    discover_load_balancer, discover_load_balancer_with_env, load_balancer_url, DISCOVERY_TIMEOUT,
};
pub use port_forward::{PortForward, PortForwardOptions, PortForwardSettings};

/// kubectl ran but failed: the command, how it ended, what it printed on stderr, and what the
/// user should check. Its `Display` is the full message shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubectlFailure {
    /// The command line, for the user to run by hand (`kubectl get svc -n ollama ...`).
    pub command: String,
    /// How it ended (`exit status: 1`), or why it never finished.
    pub status: String,
    /// kubectl's own stderr, trimmed (its last lines when it printed many).
    pub stderr: String,
    /// What to check, derived from kubectl's message.
    pub hint: String,
}

impl fmt::Display for KubectlFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` failed ({})", self.command, self.status)?;
        if self.stderr.is_empty() {
            write!(f, " without a message on stderr")?;
        } else {
            write!(f, ":")?;
            for line in self.stderr.lines() {
                write!(f, "\n  {line}")?;
            }
        }
        write!(f, "\nhint: {}", self.hint)
    }
}

impl std::error::Error for KubectlFailure {}

/// The command line as the user would type it, for messages.
fn command_line(program: &Path, args: &[OsString]) -> String {
    let mut line = program.display().to_string();
    for arg in args {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// The advice that goes with kubectl's stderr. Matches the messages of kubectl 1.2x; anything
/// unknown gets the general advice to check the namespace and service by hand.
fn hint_for(stderr: &str, namespace: &str, service: &str) -> String {
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("namespaces \"") && lower.contains("not found") {
        format!(
            "the namespace `{namespace}` does not exist in this cluster: check --namespace \
             (`kubectl get namespaces` lists them)"
        )
    } else if lower.contains("services \"") && lower.contains("not found") {
        format!(
            "there is no service `{service}` in namespace `{namespace}`: check --service and \
             --namespace (`kubectl get svc -n {namespace}` lists the services)"
        )
    } else if lower.contains("connection to the server")
        || lower.contains("unable to connect to the server")
        || lower.contains("no configuration has been provided")
        || lower.contains("couldn't get current server api group list")
    {
        "kubectl cannot reach a cluster: check its context (`kubectl config current-context`, \
         `kubectl cluster-info`) or set KUBECONFIG"
            .to_string()
    } else if lower.contains("forbidden") {
        format!(
            "your Kubernetes user may not do this: ollabench needs `get services` and, for \
             --use-port-forward, `create pods/portforward` in namespace `{namespace}`"
        )
    } else if lower.contains("unable to listen on") || lower.contains("address already in use") {
        "the local port is taken: pass another --local-port, or --local-port 0 for a free one"
            .to_string()
    } else if lower.contains("pod is not running") || lower.contains("pod not found") {
        format!(
            "the service's pod is not running: `kubectl get pods -n {namespace}` shows its state"
        )
    } else {
        format!(
            "check --namespace and --service: `kubectl get svc -n {namespace} {service}` \
             should show the service"
        )
    }
}

/// The last `MAX_STDERR_LINES` non-empty lines of a kubectl's stderr: enough to see the error,
/// not a page of retries.
const MAX_STDERR_LINES: usize = 12;

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty())
        .collect();
    let start = lines.len().saturating_sub(MAX_STDERR_LINES);
    lines[start..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_follow_kubectl_messages() {
        // (kubectl's stderr, namespace, service, what the hint must say)
        let cases: [(&str, &str, &str, &[&str]); 4] = [
            (
                r#"Error from server (NotFound): namespaces "prod" not found"#,
                "prod",
                "ollama",
                &["--namespace", "kubectl get namespaces"],
            ),
            (
                r#"Error from server (NotFound): services "olama" not found"#,
                "ollama",
                "olama",
                &["--service", "kubectl get svc -n ollama"],
            ),
            (
                "The connection to the server localhost:8080 was refused - did you specify the \
                 right host or port?",
                "ollama",
                "ollama",
                &["cannot reach a cluster"],
            ),
            (
                "error: something new",
                "ns",
                "svc",
                &["kubectl get svc -n ns svc"],
            ),
        ];
        for (stderr, namespace, service, expected) in cases {
            let hint = hint_for(stderr, namespace, service);
            for text in expected {
                assert!(hint.contains(text), "{stderr}: {hint}");
            }
        }
    }

    #[test]
    fn failure_message_quotes_kubectl_and_hint() {
        let failure = KubectlFailure {
            command: "kubectl get svc -n ollama ollama -o json".into(),
            status: "exit status: 1".into(),
            stderr: "line one\nline two".into(),
            hint: "check it".into(),
        };
        assert_eq!(
            failure.to_string(),
            "`kubectl get svc -n ollama ollama -o json` failed (exit status: 1):\n  line one\n  \
             line two\nhint: check it"
        );
    }

    #[test]
    fn last_lines_keeps_the_tail_without_blank_lines() {
        let text: String = (0..20).map(|i| format!("line {i}\n\n")).collect();
        let tail = last_lines(&text);
        assert_eq!(tail.lines().count(), MAX_STDERR_LINES);
        assert!(tail.ends_with("line 19"));
        assert!(tail.starts_with("line 8"));
    }
}

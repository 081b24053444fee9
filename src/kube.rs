//! Kubernetes: endpoint discovery (`kubectl get svc` LoadBalancer address) and the
//! `kubectl port-forward` child process, which is restarted if it dies and always stopped.

use std::path::PathBuf;

/// How to start `kubectl port-forward`.
#[derive(Debug, Clone)]
pub struct PortForwardOptions {
    pub kubectl: PathBuf,
    pub namespace: String,
    pub service: String,
    pub local_port: u16,
    pub remote_port: u16,
}

use tokio_util::sync::CancellationToken;

/// A running `kubectl port-forward`, stopped when dropped or closed.
pub struct PortForward {
    local_url: String,
}

impl PortForward {
    /// Starts kubectl and waits until the local port answers.
    pub async fn start(
        _options: PortForwardOptions,
        _cancel: CancellationToken,
    ) -> anyhow::Result<PortForward> {
        anyhow::bail!("port-forward: not implemented yet")
    }

    /// The URL the forwarded service answers at.
    pub fn local_url(&self) -> &str {
        &self.local_url
    }

    /// Stops the child and waits for it.
    pub async fn stop(self) {}
}

/// Asks `kubectl get svc -n NS SVC -o json` for a LoadBalancer IP or host name. `Ok(None)`
/// when kubectl is not installed or the service has no external address.
pub async fn discover_load_balancer(
    _kubectl: &std::path::Path,
    _namespace: &str,
    _service: &str,
) -> anyhow::Result<Option<String>> {
    Ok(None)
}

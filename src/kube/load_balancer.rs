//! LoadBalancer discovery: `kubectl get svc -n NS SVC -o json`, read for the service's
//! external address (`status.loadBalancer.ingress`) and its Ollama port.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use super::command::one_shot;
use super::{command_line, hint_for, last_lines, KubectlFailure};

/// How long `kubectl get svc` may take. kubectl has no request timeout of its own by default,
/// and an unreachable API server must not stall a run that will fall back to the default.
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The port Ollama listens on; a service port with this number (or target) is preferred.
const OLLAMA_PORT: u16 = 11434;

/// Asks `kubectl get svc -n NS SVC -o json` for a LoadBalancer IP or host name and returns
/// `http://ADDRESS:PORT`.
///
/// `Ok(None)` when kubectl is not installed or the service has no external address yet.
/// `Err` (a [`KubectlFailure`] quoting kubectl's stderr, with a hint) when kubectl fails; the
/// caller falls back to the default endpoint and can print the error as a note.
pub async fn discover_load_balancer(
    kubectl: &Path,
    namespace: &str,
    service: &str,
) -> anyhow::Result<Option<String>> {
    discover_load_balancer_with_env(kubectl, namespace, service, &[]).await
}

/// [`discover_load_balancer`] with extra environment variables for kubectl (on top of
/// ollabench's own), e.g. `KUBECONFIG` or a test double's settings.
pub async fn discover_load_balancer_with_env(
    kubectl: &Path,
    namespace: &str,
    service: &str,
    env: &[(String, String)],
) -> anyhow::Result<Option<String>> {
    let args: Vec<OsString> = ["get", "svc", "-n", namespace, service, "-o", "json"]
        .iter()
        .map(OsString::from)
        .collect();
    let command = command_line(kubectl, &args);
    let mut cmd = one_shot(kubectl, &args, env);
    let output = match tokio::time::timeout(DISCOVERY_TIMEOUT, cmd.output()).await {
        Err(_elapsed) => {
            return Err(KubectlFailure {
                command,
                status: format!("no answer within {}s", DISCOVERY_TIMEOUT.as_secs()),
                stderr: String::new(),
                hint: hint_for("", namespace, service),
            }
            .into())
        }
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Ok(Err(err)) => {
            return Err(err).with_context(|| format!("cannot run `{}`", kubectl.display()))
        }
        Ok(Ok(output)) => output,
    };
    if !output.status.success() {
        let stderr = last_lines(&String::from_utf8_lossy(&output.stderr));
        let hint = hint_for(&stderr, namespace, service);
        return Err(KubectlFailure {
            command,
            status: output.status.to_string(),
            stderr,
            hint,
        }
        .into());
    }
    let json = String::from_utf8_lossy(&output.stdout);
    load_balancer_url(&json).with_context(|| format!("cannot read the output of `{command}`"))
}

/// The URL of a Service's LoadBalancer from its JSON (`kubectl get svc -o json`): the first
/// ingress entry's IP (else host name) and the service port numbered 11434 (else the one that
/// targets 11434, else the first). `Ok(None)` when the service has no external address.
pub fn load_balancer_url(service_json: &str) -> anyhow::Result<Option<String>> {
    let service: Service =
        serde_json::from_str(service_json).context("kubectl did not print a Service as JSON")?;
    let Some(host) = service
        .status
        .load_balancer
        .ingress
        .iter()
        .find_map(Ingress::address)
    else {
        return Ok(None);
    };
    let port = service_port(&service.spec.ports);
    Ok(Some(format!("http://{host}:{port}")))
}

fn service_port(ports: &[ServicePort]) -> u16 {
    ports
        .iter()
        .find(|port| port.port == OLLAMA_PORT)
        .or_else(|| ports.iter().find(|port| port.targets_ollama()))
        .or_else(|| ports.first())
        .map_or(OLLAMA_PORT, |port| port.port)
}

/// The parts of a `v1/Service` that discovery reads; everything else is ignored.
#[derive(Debug, Deserialize)]
struct Service {
    #[serde(default)]
    spec: ServiceSpec,
    #[serde(default)]
    status: ServiceStatus,
}

#[derive(Debug, Default, Deserialize)]
struct ServiceSpec {
    #[serde(default)]
    ports: Vec<ServicePort>,
}

#[derive(Debug, Deserialize)]
struct ServicePort {
    port: u16,
    /// A number or the name of a container port.
    #[serde(default, rename = "targetPort")]
    target_port: Option<serde_json::Value>,
}

impl ServicePort {
    fn targets_ollama(&self) -> bool {
        match &self.target_port {
            Some(serde_json::Value::Number(number)) => {
                number.as_u64() == Some(u64::from(OLLAMA_PORT))
            }
            Some(serde_json::Value::String(text)) => text == "11434",
            _ => false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct ServiceStatus {
    #[serde(default, rename = "loadBalancer")]
    load_balancer: LoadBalancerStatus,
}

#[derive(Debug, Default, Deserialize)]
struct LoadBalancerStatus {
    #[serde(default)]
    ingress: Vec<Ingress>,
}

#[derive(Debug, Deserialize)]
struct Ingress {
    #[serde(default)]
    ip: Option<String>,
    #[serde(default)]
    hostname: Option<String>,
}

impl Ingress {
    /// The address as it goes into a URL: IPv6 in brackets, empty values skipped.
    fn address(&self) -> Option<String> {
        if let Some(ip) = self
            .ip
            .as_deref()
            .map(str::trim)
            .filter(|ip| !ip.is_empty())
        {
            return Some(match ip.parse::<IpAddr>() {
                Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
                _ => ip.to_string(),
            });
        }
        self.hostname
            .as_deref()
            .map(str::trim)
            .filter(|name| !name.is_empty() && !name.contains(['/', ' ', '@']))
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from `kubectl get svc -n ollama ollama -o json` on AKS.
    const AKS_SERVICE: &str = r#"{
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "ollama", "namespace": "ollama"},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.0.12.34",
            "ports": [{"name": "http", "nodePort": 31434, "port": 11434,
                       "protocol": "TCP", "targetPort": 11434}],
            "selector": {"app": "ollama"}
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "20.54.123.45", "ipMode": "VIP"}]}}
    }"#;

    fn service(ports: &str, ingress: &str) -> String {
        format!(
            r#"{{"kind":"Service","spec":{{"type":"LoadBalancer","ports":{ports}}},
                "status":{{"loadBalancer":{{"ingress":{ingress}}}}}}}"#
        )
    }

    #[test]
    fn reads_ip_and_ollama_port() {
        assert_eq!(
            load_balancer_url(AKS_SERVICE).unwrap().as_deref(),
            Some("http://20.54.123.45:11434")
        );
    }

    #[test]
    fn reads_host_name_when_there_is_no_ip() {
        let json = service(
            r#"[{"port":11434}]"#,
            r#"[{"hostname":"a1b2.elb.us-east-1.amazonaws.com"}]"#,
        );
        assert_eq!(
            load_balancer_url(&json).unwrap().as_deref(),
            Some("http://a1b2.elb.us-east-1.amazonaws.com:11434")
        );
    }

    #[test]
    fn brackets_ipv6() {
        let json = service(r#"[{"port":80}]"#, r#"[{"ip":"2001:db8::7"}]"#);
        assert_eq!(
            load_balancer_url(&json).unwrap().as_deref(),
            Some("http://[2001:db8::7]:80")
        );
    }

    #[test]
    fn no_ingress_is_none() {
        let pending = service(r#"[{"port":11434}]"#, "[]");
        assert_eq!(load_balancer_url(&pending).unwrap(), None);
        let cluster_ip = r#"{"kind":"Service","spec":{"type":"ClusterIP",
            "ports":[{"port":11434}]},"status":{"loadBalancer":{}}}"#;
        assert_eq!(load_balancer_url(cluster_ip).unwrap(), None);
        let no_status = r#"{"kind":"Service","spec":{"ports":[{"port":11434}]}}"#;
        assert_eq!(load_balancer_url(no_status).unwrap(), None);
        let empty_entry = service(r#"[{"port":11434}]"#, r#"[{"ip":""},{}]"#);
        assert_eq!(load_balancer_url(&empty_entry).unwrap(), None);
    }

    #[test]
    fn skips_entries_without_address() {
        let json = service(
            r#"[{"port":11434}]"#,
            r#"[{"ipMode":"VIP"},{"ip":"1.2.3.4"}]"#,
        );
        assert_eq!(
            load_balancer_url(&json).unwrap().as_deref(),
            Some("http://1.2.3.4:11434")
        );
    }

    #[test]
    fn picks_the_port_numbered_then_targeting_11434_else_the_first() {
        let numbered = service(
            r#"[{"name":"metrics","port":9090},{"name":"api","port":11434}]"#,
            r#"[{"ip":"1.2.3.4"}]"#,
        );
        assert_eq!(
            load_balancer_url(&numbered).unwrap().as_deref(),
            Some("http://1.2.3.4:11434")
        );
        let targeting = service(
            r#"[{"port":9090,"targetPort":"metrics"},{"port":80,"targetPort":11434}]"#,
            r#"[{"ip":"1.2.3.4"}]"#,
        );
        assert_eq!(
            load_balancer_url(&targeting).unwrap().as_deref(),
            Some("http://1.2.3.4:80")
        );
        let first = service(
            r#"[{"port":8080,"targetPort":"http"},{"port":9090}]"#,
            r#"[{"ip":"1.2.3.4"}]"#,
        );
        assert_eq!(
            load_balancer_url(&first).unwrap().as_deref(),
            Some("http://1.2.3.4:8080")
        );
        let none = service("[]", r#"[{"ip":"1.2.3.4"}]"#);
        assert_eq!(
            load_balancer_url(&none).unwrap().as_deref(),
            Some("http://1.2.3.4:11434")
        );
    }

    #[test]
    fn malformed_output_is_an_error_not_a_panic() {
        for bad in ["", "not json", r#"{"spec":{"ports":[{"port":"x"}]}}"#] {
            assert!(load_balancer_url(bad).is_err(), "{bad:?}");
        }
        let huge_port = service(r#"[{"port":70000}]"#, r#"[{"ip":"1.2.3.4"}]"#);
        assert!(load_balancer_url(&huge_port).is_err());
    }
}

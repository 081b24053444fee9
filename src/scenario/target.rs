//! The server a command runs against: endpoint resolution (flag, port-forward, LoadBalancer,
//! default), the in-process simulator for `--simulate`, and the API client.

use crate::backend::ollama::OllamaClient;
use crate::backend::openai::OpenAiClient;
use crate::backend::Backend;
use crate::backend::{RequestError, TimeoutPhase};
use crate::exit::Unreachable;
use crate::exit::{ConfigError, Ctx};
use crate::kube::{self, PortForward};
use crate::scenario::cancellable;
use crate::sim::{self, SimConfig, SimHandle};

pub use crate::config::{ApiKind, TargetOptions, TargetSpec, DEFAULT_ENDPOINT};

/// What is known about a simulated target.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulated {
    pub profile: String,
    pub time_scale: f64,
}

/// A connected server: its client, how it was found, and what keeps it reachable.
pub struct Target {
    pub backend: Backend,
    pub url: String,
    /// How the endpoint was found: endpoint, port-forward, load-balancer, default, simulator.
    pub resolved_by: &'static str,
    /// Set when this process started the simulator.
    pub simulated: Option<Simulated>,
    sim: Option<SimHandle>,
    port_forward: Option<PortForward>,
}

impl Target {
    /// Resolves the endpoint, starts what it needs (simulator, port-forward) and builds the
    /// client. Nothing is requested from the server yet.
    pub async fn connect(options: &TargetOptions, ctx: &Ctx) -> anyhow::Result<Target> {
        let mut sim_handle = None;
        let mut port_forward = None;
        let mut simulated = None;
        let (url, resolved_by) = match &options.spec {
            TargetSpec::Endpoint(url) => (url.clone(), "endpoint"),
            TargetSpec::Simulate {
                profile,
                time_scale,
                preload,
            } => {
                let mut config =
                    SimConfig::with_profile(profile).map_err(crate::config::simulator_setting)?;
                config.time_scale = *time_scale;
                config.preload = preload.clone();
                let handle = sim::spawn(config, "127.0.0.1:0").await?;
                let url = handle.url();
                simulated = Some(Simulated {
                    profile: profile.clone(),
                    time_scale: *time_scale,
                });
                sim_handle = Some(handle);
                (url, "simulator")
            }
            TargetSpec::PortForward(pf) => {
                let forward = PortForward::start(pf.clone(), ctx.cancel.clone()).await?;
                let url = forward.local_url().to_string();
                port_forward = Some(forward);
                (url, "port-forward")
            }
            TargetSpec::Default => {
                match kube::discover_load_balancer(
                    &options.kubectl,
                    &options.namespace,
                    &options.service,
                )
                .await
                {
                    Ok(Some(url)) => (url, "load-balancer"),
                    Ok(None) => (DEFAULT_ENDPOINT.to_string(), "default"),
                    Err(err) => {
                        crate::errln!("{}", load_balancer_note(&err, options));
                        (DEFAULT_ENDPOINT.to_string(), "default")
                    }
                }
            }
        };
        let backend = match options.api {
            ApiKind::Ollama => Backend::Ollama(OllamaClient::new(&url, options.timeouts)?),
            ApiKind::Openai => Backend::OpenAi(OpenAiClient::new(
                &url,
                options.timeouts,
                options.api_key.clone(),
            )?),
            ApiKind::Auto => detect_api(&url, options).await?,
        };
        let target = Target {
            backend,
            url,
            resolved_by,
            simulated,
            sim: sim_handle,
            port_forward,
        };
        // One probe before anything is measured: an unreachable server is a configuration
        // problem (exit 2), not a benchmark that ran and failed.
        let probe = match &target.backend {
            Backend::Ollama(client) => cancellable(ctx, client.version())
                .await
                .map(|r| r.map(drop)),
            Backend::OpenAi(client) => cancellable(ctx, client.models()).await.map(|r| r.map(drop)),
        };
        match probe {
            None => {
                target.close().await;
                Err(anyhow::anyhow!("interrupted while connecting"))
            }
            Some(Err(error)) if error.is_unreachable() => {
                let advice = format!(
                    "{}\n  {TEST_CONNECTION_HINT}",
                    unreachable_advice(&error, &target.url, target.resolved_by, options)
                );
                let url = target.url.clone();
                target.close().await;
                // rustls's words for TLS meeting plain HTTP ("corrupt message of type
                // InvalidContentType") say nothing to a person; they stay for --verbose.
                let error = match (tls_meets_plain_http(&error, &url), options.verbose) {
                    (true, false) => "it answers plain HTTP, not https (TLS)".to_string(),
                    (true, true) => format!("it answers plain HTTP, not https (TLS): {error}"),
                    (false, _) => error.to_string(),
                };
                Err(anyhow::Error::new(Unreachable { url, error, advice }))
            }
            Some(_) => Ok(target),
        }
    }

    /// Stops what `connect` started.
    pub async fn close(mut self) {
        if let Some(forward) = self.port_forward.take() {
            forward.stop().await;
        }
        if let Some(handle) = self.sim.take() {
            handle.shutdown().await;
        }
    }

    /// The Ollama client, or a clear error naming what the OpenAI API cannot do.
    pub fn ollama(&self, what: &str) -> Result<&OllamaClient, ConfigError> {
        self.backend
            .as_ollama()
            .ok_or_else(|| ConfigError::NeedsOllamaApi {
                what: what.to_string(),
            })
    }
}

/// What to say when the LoadBalancer lookup failed and the default endpoint is used: one plain
/// line with kubectl's meaning (its hint), and kubectl's own text (client-go's cache errors,
/// five lines of them when no cluster is configured) only with `--verbose`.
fn load_balancer_note(err: &anyhow::Error, options: &TargetOptions) -> String {
    let why = match err.downcast_ref::<kube::KubectlFailure>() {
        Some(failure) => failure.hint.clone(),
        None => err.to_string().lines().next().unwrap_or("").to_string(),
    };
    let mut note = format!(
        "note: no LoadBalancer address for Kubernetes service `{}` in namespace `{}` ({why}); \
         using {DEFAULT_ENDPOINT}",
        options.service, options.namespace
    );
    if options.verbose {
        note.push_str(&format!("\nkubectl said: {err:#}"));
    } else {
        note.push_str(" (--verbose shows kubectl's output)");
    }
    note
}

/// `--api auto`: Ollama answers `/api/version`; OpenAI-compatible servers answer `/v1/models`.
async fn detect_api(url: &str, options: &TargetOptions) -> anyhow::Result<Backend> {
    let ollama = OllamaClient::new(url, options.timeouts)?;
    if ollama.version().await.is_ok() {
        return Ok(Backend::Ollama(ollama));
    }
    let openai = OpenAiClient::new(url, options.timeouts, options.api_key.clone())?;
    Ok(Backend::OpenAi(openai))
}

/// Whether an https request failed because the port answers plain HTTP.
fn tls_meets_plain_http(error: &RequestError, url: &str) -> bool {
    let text = error.to_string();
    matches!(error, RequestError::Connect { .. })
        && url.starts_with("https://")
        && (text.contains("InvalidContentType") || text.contains("corrupt message"))
}

/// The last line of the advice for an unreachable server: every command but test-connection
/// itself points to it.
pub const TEST_CONNECTION_HINT: &str = "`ollabench test-connection` with the same flags says more";

/// What to try when nothing answers: the real host and port, and Kubernetes only when
/// Kubernetes is how the endpoint was found.
pub fn unreachable_advice(
    error: &RequestError,
    url: &str,
    resolved_by: &str,
    options: &TargetOptions,
) -> String {
    let (ns, svc) = (&options.namespace, &options.service);
    let kubernetes = matches!(resolved_by, "port-forward" | "load-balancer");
    let address = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
        .unwrap_or_else(|| url.to_string());
    let mut lines: Vec<String> = Vec::new();
    match error {
        RequestError::Connect { refused: true, .. } => {
            lines.push(format!(
                "nothing listens on {address}: is the server running there?"
            ));
            if kubernetes {
                lines.push(format!(
                    "check the pods and the service: kubectl get pods,svc -n {ns} ({svc})"
                ));
            }
        }
        RequestError::Connect { .. } if tls_meets_plain_http(error, url) => lines.push(format!(
            "use {} (plain HTTP) instead",
            url.replacen("https://", "http://", 1)
        )),
        RequestError::Connect { .. } => lines.push(format!(
            "check the host name and the scheme of {url} (https against a plain-HTTP port fails \
             like this) and the network path to {address}"
        )),
        RequestError::Timeout {
            phase: TimeoutPhase::Connect,
            ..
        } => {
            lines.push(format!(
                "no TCP answer from {address}: a firewall or a wrong address?"
            ));
            if kubernetes {
                lines.push(format!(
                    "check the LoadBalancer's address (kubectl get svc -n {ns} {svc}) or use \
                     --use-port-forward"
                ));
            }
        }
        _ => lines.push(format!(
            "{address} accepted the connection but sent nothing: the server may be hung or \
             overloaded, or another program holds the port; raise --first-byte-timeout if it is \
             only slow"
        )),
    }
    lines.join("\n  ")
}

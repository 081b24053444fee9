//! `diagnose`: what the reference's Troubleshooting section has the user run by hand when
//! results vary or loads are slow, gathered in one document. Each step runs on its own and may
//! fail on its own (its error is recorded and the others still run):
//!
//! - the Ollama pods and their restarts (`kubectl get pods -n NS -o json`);
//! - the nodes' GPUs, allocatable and allocated (`kubectl get nodes -o json`);
//! - other pods holding GPUs (`kubectl get pods -A -o json`): resource contention;
//! - recent warning events, such as evictions of spot nodes (`kubectl get events -A -o json`);
//! - `nvidia-smi` in the Ollama pod (`kubectl exec`): utilisation, memory, power, temperature;
//! - Ollama's `/api/ps` (how much of each loaded model sits in GPU memory: CPU fallback) and
//!   `/api/version`.
//!
//! Findings turn what was gathered into sentences (a restarted pod, a model partly on the CPU,
//! a hot GPU, a GPU shared with another workload).

pub mod nvidia_smi;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::backend::ollama::OllamaClient;
use crate::backend::Timeouts;
use nvidia_smi::GpuSample;

/// The resource name of NVIDIA GPUs in Kubernetes.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";
/// At or above this temperature (°C) NVIDIA data-centre GPUs start to slow their clocks.
pub const HOT_GPU_CELSIUS: f64 = 83.0;
/// How many recent warning events are kept.
const MAX_EVENTS: usize = 20;

/// What to diagnose and how to reach it.
#[derive(Debug, Clone)]
pub struct DiagnoseOptions {
    pub kubectl: PathBuf,
    /// Extra environment for kubectl (`KUBECONFIG`, a test double's settings).
    pub kubectl_env: Vec<(String, String)>,
    pub namespace: String,
    pub service: String,
    /// The pod to run nvidia-smi in; default: the first running Ollama pod, else the
    /// service (`svc/NAME`, kubectl picks one of its pods).
    pub pod: Option<String>,
    /// Ollama's URL.
    pub endpoint: String,
    /// The limit of each kubectl call.
    pub kubectl_timeout: Duration,
    pub timeouts: Timeouts,
}

/// One step: the command it ran, and what it found or why it failed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Step<T> {
    pub command: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
}

impl<T> Step<T> {
    fn from(command: String, result: Result<T, String>) -> Step<T> {
        match result {
            Ok(data) => Step {
                command,
                ok: true,
                error: None,
                data: Some(data),
            },
            Err(error) => Step {
                command,
                ok: false,
                error: Some(error),
                data: None,
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub phase: String,
    pub ready: bool,
    pub restarts: u64,
    /// Why a container last ended (`OOMKilled`, `Error`), when it restarted.
    pub last_termination: Option<String>,
    pub node: Option<String>,
    /// GPUs its containers ask for.
    pub gpus: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeGpus {
    pub name: String,
    /// `nvidia.com/gpu.product` (GPU feature discovery), when labelled.
    pub product: Option<String>,
    pub capacity: u64,
    pub allocatable: u64,
    pub ready: bool,
    /// Spot (or preemptible) capacity, which the cloud may take back.
    pub spot: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Event {
    pub time: String,
    pub kind: String,
    pub object: String,
    pub reason: String,
    pub message: String,
    pub count: u64,
}

/// One model in `/api/ps`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Residency {
    pub model: String,
    pub size_bytes: u64,
    pub size_vram_bytes: u64,
    /// Part of the model runs on the CPU (`size_vram < size`): decode is much slower.
    pub cpu_fallback: bool,
    /// One stream's decode ceiling on this GPU ([`crate::analysis::headroom`]), when the GPU
    /// is known (from nvidia-smi, else the node's label) and the model is wholly in its memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decode_ceiling_tokens_per_second: Option<f64>,
}

impl Residency {
    pub fn gpu_percent(&self) -> f64 {
        if self.size_bytes == 0 {
            100.0
        } else {
            100.0 * self.size_vram_bytes as f64 / self.size_bytes as f64
        }
    }

    /// `all in GPU memory`, or `CPU fallback: 40% in GPU memory`.
    pub fn placement(&self) -> String {
        if self.cpu_fallback {
            format!(
                "CPU fallback: {:.0}% in GPU memory",
                self.gpu_percent().floor()
            )
        } else {
            "all in GPU memory".to_string()
        }
    }
}

/// Everything `diagnose` gathered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Diagnosis {
    pub taken_at: String,
    pub namespace: String,
    pub endpoint: String,
    pub ollama_pods: Step<Vec<Pod>>,
    pub nodes: Step<Vec<NodeGpus>>,
    pub gpu_pods: Step<Vec<Pod>>,
    pub events: Step<Vec<Event>>,
    pub nvidia_smi: Step<Vec<GpuSample>>,
    pub residency: Step<Vec<Residency>>,
    pub version: Step<String>,
    pub findings: Vec<String>,
}

impl Diagnosis {
    /// Whether every step succeeded.
    pub fn complete(&self) -> bool {
        self.failed_steps().is_empty()
    }

    /// The names of the steps that failed.
    pub fn failed_steps(&self) -> Vec<&'static str> {
        [
            ("Ollama pods", self.ollama_pods.ok),
            ("nodes", self.nodes.ok),
            ("GPU pods", self.gpu_pods.ok),
            ("events", self.events.ok),
            ("nvidia-smi", self.nvidia_smi.ok),
            ("/api/ps", self.residency.ok),
            ("/api/version", self.version.ok),
        ]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| name)
        .collect()
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn command_text(options: &DiagnoseOptions, args: &[String]) -> String {
    format!("{} {}", options.kubectl.display(), args.join(" "))
}

async fn kubectl(options: &DiagnoseOptions, args: &[String]) -> Result<String, String> {
    crate::kube::kubectl_output(
        &options.kubectl,
        args,
        &options.kubectl_env,
        options.kubectl_timeout,
        &options.namespace,
        &options.service,
    )
    .await
    .map_err(|failure| failure.to_string())
}

/// `kubectl ARGS` read as a JSON list (`items`), each item turned by `item`.
async fn kubectl_items<T>(
    options: &DiagnoseOptions,
    args: Vec<String>,
    item: impl Fn(&Value) -> Option<T>,
) -> Step<Vec<T>> {
    let result = async {
        let text = kubectl(options, &args).await?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|err| format!("kubectl did not print JSON: {err}"))?;
        let items = value
            .get("items")
            .and_then(Value::as_array)
            .ok_or_else(|| "kubectl printed no `items` list".to_string())?;
        Ok(items.iter().filter_map(item).collect())
    }
    .await;
    Step::from(command_text(options, &args), result)
}

fn text(value: &Value, path: &[&str]) -> Option<String> {
    let mut at = value;
    for key in path {
        at = at.get(key)?;
    }
    at.as_str().map(str::to_string)
}

/// A Kubernetes quantity of GPUs (`"1"`, or a number).
fn count(value: Option<&Value>) -> u64 {
    match value {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn pod(value: &Value) -> Option<Pod> {
    let containers = value
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let gpus = containers
        .iter()
        .map(|c| {
            let limit = count(c.pointer("/resources/limits/nvidia.com~1gpu"));
            limit.max(count(c.pointer("/resources/requests/nvidia.com~1gpu")))
        })
        .sum();
    let statuses = value
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Some(Pod {
        namespace: text(value, &["metadata", "namespace"]).unwrap_or_default(),
        name: text(value, &["metadata", "name"])?,
        phase: text(value, &["status", "phase"]).unwrap_or_else(|| "Unknown".into()),
        ready: !statuses.is_empty()
            && statuses
                .iter()
                .all(|s| s.get("ready").and_then(Value::as_bool) == Some(true)),
        restarts: statuses
            .iter()
            .map(|s| s.get("restartCount").and_then(Value::as_u64).unwrap_or(0))
            .sum(),
        last_termination: statuses.iter().find_map(|s| {
            s.pointer("/lastState/terminated/reason")
                .and_then(Value::as_str)
                .map(str::to_string)
        }),
        node: text(value, &["spec", "nodeName"]),
        gpus,
    })
}

fn node(value: &Value) -> Option<NodeGpus> {
    let labels = value.pointer("/metadata/labels");
    let label = |key: &str| {
        labels
            .and_then(|l| l.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let spot = label("kubernetes.azure.com/scalesetpriority").as_deref() == Some("spot")
        || label("cloud.google.com/gke-spot").as_deref() == Some("true")
        || label("eks.amazonaws.com/capacityType").as_deref() == Some("SPOT");
    Some(NodeGpus {
        name: text(value, &["metadata", "name"])?,
        product: label("nvidia.com/gpu.product"),
        capacity: count(value.pointer("/status/capacity/nvidia.com~1gpu")),
        allocatable: count(value.pointer("/status/allocatable/nvidia.com~1gpu")),
        ready: value
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|conditions| {
                conditions.iter().any(|c| {
                    c.get("type").and_then(Value::as_str) == Some("Ready")
                        && c.get("status").and_then(Value::as_str) == Some("True")
                })
            }),
        spot,
    })
}

/// Warning events only: the ones the Troubleshooting section looks for (evictions, nodes not
/// ready, OOM kills, back-offs).
fn event(value: &Value) -> Option<Event> {
    if text(value, &["type"]).as_deref() != Some("Warning") {
        return None;
    }
    Some(Event {
        time: text(value, &["lastTimestamp"])
            .or_else(|| text(value, &["eventTime"]))
            .or_else(|| text(value, &["metadata", "creationTimestamp"]))
            .unwrap_or_default(),
        kind: text(value, &["involvedObject", "kind"]).unwrap_or_default(),
        object: text(value, &["involvedObject", "name"]).unwrap_or_default(),
        reason: text(value, &["reason"]).unwrap_or_default(),
        message: text(value, &["message"]).unwrap_or_default(),
        count: value.get("count").and_then(Value::as_u64).unwrap_or(1),
    })
}

/// Gathers everything, each step on its own, all at once.
pub async fn diagnose(options: &DiagnoseOptions) -> Diagnosis {
    let namespace = options.namespace.as_str();
    let pods = kubectl_items(
        options,
        args(&["get", "pods", "-n", namespace, "-o", "json"]),
        pod,
    );
    let nodes = kubectl_items(options, args(&["get", "nodes", "-o", "json"]), node);
    let gpu_pods = kubectl_items(
        options,
        args(&["get", "pods", "-A", "-o", "json"]),
        |value| pod(value).filter(|p| p.gpus > 0),
    );
    let events = async {
        let mut step =
            kubectl_items(options, args(&["get", "events", "-A", "-o", "json"]), event).await;
        if let Some(events) = &mut step.data {
            events.sort_by(|a, b| b.time.cmp(&a.time));
            events.truncate(MAX_EVENTS);
        }
        step
    };
    let client = OllamaClient::new(&options.endpoint, options.timeouts);
    let residency = async {
        let command = format!("GET {}/api/ps", options.endpoint);
        let result = match &client {
            Ok(client) => client.ps().await.map_err(|err| format!("{err}")),
            Err(err) => Err(format!("{err}")),
        };
        let result = result.map(|models| {
            models
                .into_iter()
                .map(|m| Residency {
                    model: m.name,
                    size_bytes: m.size,
                    size_vram_bytes: m.size_vram,
                    cpu_fallback: m.size_vram < m.size,
                    decode_ceiling_tokens_per_second: None,
                })
                .collect()
        });
        Step::from(command, result)
    };
    let version = async {
        let command = format!("GET {}/api/version", options.endpoint);
        let result = match &client {
            Ok(client) => client.version().await.map_err(|err| format!("{err}")),
            Err(err) => Err(format!("{err}")),
        };
        Step::from(command, result)
    };
    let (ollama_pods, nodes, gpu_pods, events, residency, version) =
        tokio::join!(pods, nodes, gpu_pods, events, residency, version);
    // nvidia-smi runs in the pod the pods step found (or through the service when it found
    // none), so it waits for that step but never depends on its success.
    let nvidia_smi = nvidia_smi_step(options, &ollama_pods).await;
    let mut diagnosis = Diagnosis {
        taken_at: chrono::Local::now().to_rfc3339(),
        namespace: options.namespace.clone(),
        endpoint: options.endpoint.clone(),
        ollama_pods,
        nodes,
        gpu_pods,
        events,
        nvidia_smi,
        residency,
        version,
        findings: Vec::new(),
    };
    set_decode_ceilings(&mut diagnosis);
    diagnosis.findings = findings(&diagnosis);
    diagnosis
}

/// The GPU the diagnosis saw: nvidia-smi's name, else the first GPU node's product label.
pub fn gpu_name(diagnosis: &Diagnosis) -> Option<String> {
    let from_smi = diagnosis
        .nvidia_smi
        .data
        .iter()
        .flatten()
        .find_map(|gpu| gpu.name.clone());
    from_smi.or_else(|| {
        diagnosis
            .nodes
            .data
            .iter()
            .flatten()
            .find_map(|node| node.product.clone())
    })
}

fn set_decode_ceilings(diagnosis: &mut Diagnosis) {
    let gpu = gpu_name(diagnosis).and_then(|name| crate::analysis::headroom::find_gpu(&name));
    for model in diagnosis.residency.data.iter_mut().flatten() {
        model.decode_ceiling_tokens_per_second =
            gpu.filter(|_| !model.cpu_fallback).and_then(|gpu| {
                crate::analysis::headroom::ceiling_tokens_per_second(&gpu, model.size_bytes)
            });
    }
}

async fn nvidia_smi_step(options: &DiagnoseOptions, pods: &Step<Vec<Pod>>) -> Step<Vec<GpuSample>> {
    let target = options.pod.clone().unwrap_or_else(|| {
        let found = pods.data.iter().flatten();
        let running: Vec<&Pod> = found.filter(|p| p.phase == "Running").collect();
        running
            .iter()
            .find(|p| p.name.starts_with(&options.service))
            .or(running.first())
            .map(|p| p.name.clone())
            .unwrap_or_else(|| format!("svc/{}", options.service))
    });
    let mut command = args(&["exec", "-n", &options.namespace, &target, "--"]);
    command.extend(nvidia_smi::command());
    let result = match kubectl(options, &command).await {
        Ok(text) => nvidia_smi::parse(&text),
        Err(err) => Err(err),
    };
    Step::from(command_text(options, &command), result)
}

/// What the gathered facts mean, one sentence each.
pub fn findings(diagnosis: &Diagnosis) -> Vec<String> {
    let mut out = Vec::new();
    for pod in diagnosis.ollama_pods.data.iter().flatten() {
        if pod.restarts > 0 {
            out.push(format!(
                "pod {} restarted {} time(s){}: loads and first requests after a restart are cold",
                pod.name,
                pod.restarts,
                pod.last_termination
                    .as_ref()
                    .map(|r| format!(" (last ended: {r})"))
                    .unwrap_or_default()
            ));
        }
        if pod.phase != "Running" || !pod.ready {
            out.push(format!("pod {} is {} and not ready", pod.name, pod.phase));
        }
    }
    for model in diagnosis.residency.data.iter().flatten() {
        if model.cpu_fallback {
            out.push(format!(
                "{}: {} ({} of {} bytes): decode runs partly on the CPU and is much slower; use \
                 a smaller model or quantization, or a GPU with more memory",
                model.model,
                model.placement(),
                model.size_vram_bytes,
                model.size_bytes
            ));
        }
    }
    for gpu in diagnosis.nvidia_smi.data.iter().flatten() {
        if let Some(temperature) = gpu.temperature_c.filter(|t| *t >= HOT_GPU_CELSIUS) {
            out.push(format!(
                "GPU {} at {temperature:.0} °C: thermal throttling is likely (clocks drop)",
                gpu.name.as_deref().unwrap_or("?")
            ));
        }
    }
    let ollama_nodes: Vec<&str> = diagnosis
        .ollama_pods
        .data
        .iter()
        .flatten()
        .filter_map(|p| p.node.as_deref())
        .collect();
    for other in diagnosis.gpu_pods.data.iter().flatten() {
        let shares_node = other
            .node
            .as_deref()
            .is_some_and(|n| ollama_nodes.contains(&n));
        if other.namespace != diagnosis.namespace && shares_node {
            out.push(format!(
                "{}/{} holds {} GPU(s) on node {} too: resource contention",
                other.namespace,
                other.name,
                other.gpus,
                other.node.as_deref().unwrap_or("?")
            ));
        }
    }
    for node in diagnosis.nodes.data.iter().flatten() {
        if node.capacity > 0 && !node.ready {
            out.push(format!("GPU node {} is not ready", node.name));
        }
    }
    for event in diagnosis.events.data.iter().flatten() {
        let reason = event.reason.to_ascii_lowercase();
        if ["evict", "preempt", "notready", "oom"]
            .iter()
            .any(|word| reason.contains(word))
        {
            out.push(format!(
                "{} {} {}: {} ({})",
                event.kind, event.object, event.reason, event.message, event.time
            ));
        }
    }
    out
}

/// GPUs the pods ask for on each node.
pub fn allocated(gpu_pods: &[Pod], node: &str) -> u64 {
    gpu_pods
        .iter()
        .filter(|p| p.node.as_deref() == Some(node) && p.phase == "Running")
        .map(|p| p.gpus)
        .sum()
}

fn section<T>(out: &mut String, title: &str, step: &Step<T>, body: impl FnOnce(&T) -> String) {
    out.push_str(&format!("{title}\n  $ {}\n", step.command));
    match (&step.data, &step.error) {
        (Some(data), _) => {
            let text = body(data);
            out.push_str(if text.is_empty() { "  (none)\n" } else { &text });
        }
        (None, Some(error)) => {
            for (index, line) in error.lines().enumerate() {
                let prefix = if index == 0 { "  FAILED: " } else { "    " };
                out.push_str(&format!("{prefix}{line}\n"));
            }
        }
        (None, None) => out.push_str("  (nothing)\n"),
    }
    out.push('\n');
}

const MIB: f64 = 1024.0 * 1024.0;

/// The console's form: one section a step, then the findings.
pub fn render(diagnosis: &Diagnosis) -> String {
    let mut out = format!(
        "Diagnosis of namespace {} and {} ({})\n\n",
        diagnosis.namespace, diagnosis.endpoint, diagnosis.taken_at
    );
    section(&mut out, "Ollama pods", &diagnosis.ollama_pods, |pods| {
        pods.iter()
            .map(|p| {
                format!(
                    "  {:<24} {:<10} ready={:<5} restarts={}{} node={} gpus={}\n",
                    p.name,
                    p.phase,
                    p.ready,
                    p.restarts,
                    p.last_termination
                        .as_ref()
                        .map(|r| format!(" (last: {r})"))
                        .unwrap_or_default(),
                    p.node.as_deref().unwrap_or("-"),
                    p.gpus
                )
            })
            .collect()
    });
    let gpu_pods = diagnosis.gpu_pods.data.as_deref();
    section(&mut out, "Node GPUs", &diagnosis.nodes, |nodes| {
        nodes
            .iter()
            .filter(|n| n.capacity > 0)
            .map(|n| {
                let used = gpu_pods
                    .map(|pods| allocated(pods, &n.name).to_string())
                    .unwrap_or_else(|| "?".into());
                format!(
                    "  {:<24} {} GPU(s) {}, {} allocatable, {used} allocated{}{}\n",
                    n.name,
                    n.capacity,
                    n.product.as_deref().unwrap_or("(product not labelled)"),
                    n.allocatable,
                    if n.ready { "" } else { ", NOT READY" },
                    if n.spot { ", spot" } else { "" }
                )
            })
            .collect()
    });
    section(&mut out, "Pods holding GPUs", &diagnosis.gpu_pods, |pods| {
        pods.iter()
            .map(|p| {
                format!(
                    "  {}/{} on {}: {} GPU(s), {}\n",
                    p.namespace,
                    p.name,
                    p.node.as_deref().unwrap_or("-"),
                    p.gpus,
                    p.phase
                )
            })
            .collect()
    });
    section(
        &mut out,
        "Recent warning events",
        &diagnosis.events,
        |events| {
            events
                .iter()
                .map(|e| {
                    format!(
                        "  {} {} {} {}: {}\n",
                        e.time, e.kind, e.object, e.reason, e.message
                    )
                })
                .collect()
        },
    );
    section(&mut out, "nvidia-smi", &diagnosis.nvidia_smi, |gpus| {
        let number = |v: Option<f64>, unit: &str| {
            v.map(|v| format!("{v:.0}{unit}"))
                .unwrap_or_else(|| "n/a".into())
        };
        gpus.iter()
            .map(|g| {
                format!(
                    "  {}: {} busy, {} of {} MiB, {}, {}, SM {}\n",
                    g.name.as_deref().unwrap_or("GPU"),
                    number(g.utilization_percent, "%"),
                    number(g.memory_used_mib, ""),
                    number(g.memory_total_mib, ""),
                    number(g.power_watts, " W"),
                    number(g.temperature_c, " °C"),
                    number(g.sm_clock_mhz, " MHz")
                )
            })
            .collect()
    });
    section(
        &mut out,
        "Loaded models (/api/ps)",
        &diagnosis.residency,
        |models| {
            models
                .iter()
                .map(|m| {
                    format!(
                        "  {:<24} {:.0} MiB, {:.0} MiB in GPU memory: {}\n",
                        m.model,
                        m.size_bytes as f64 / MIB,
                        m.size_vram_bytes as f64 / MIB,
                        m.placement()
                    )
                })
                .collect()
        },
    );
    section(&mut out, "Ollama version", &diagnosis.version, |version| {
        format!("  {version}\n")
    });
    out.push_str("Findings\n");
    if diagnosis.findings.is_empty() {
        out.push_str("  nothing unusual in what could be gathered\n");
    }
    for finding in &diagnosis.findings {
        out.push_str(&crate::output::wrap("  - ", finding, "    "));
        out.push('\n');
    }
    let failed = diagnosis.failed_steps();
    if !failed.is_empty() {
        out.push_str(&format!(
            "\n{} step(s) failed: {} (the rest is above)\n",
            failed.len(),
            failed.join(", ")
        ));
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residency_says_cpu_fallback_when_vram_is_short() {
        let partial = Residency {
            model: "llama3.1:70b".into(),
            size_bytes: 1000,
            size_vram_bytes: 399,
            cpu_fallback: true,
            decode_ceiling_tokens_per_second: None,
        };
        assert_eq!(partial.placement(), "CPU fallback: 39% in GPU memory");
        let whole = Residency {
            size_vram_bytes: 1000,
            cpu_fallback: false,
            ..partial
        };
        assert_eq!(whole.placement(), "all in GPU memory");
    }
}

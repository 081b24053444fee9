//! `ollabench test-connection` (the reference's test-connection.ps1): is the server reachable,
//! what is it (Ollama and its version), which models are present and which are loaded, and
//! the round-trip latency. On failure it gives troubleshooting advice fitted to the error.

use std::time::Duration;

use crate::backend::ollama::OllamaClient;
use crate::backend::RequestError;
use crate::exit::{Ctx, Outcome};
use crate::scenario::cancellable;
use crate::scenario::target::{Target, TargetOptions};

/// Latency probes sent to `/api/version`.
const LATENCY_PROBES: usize = 5;

/// Runs the connection test and prints its findings.
pub async fn run(options: TargetOptions, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let target = match Target::connect(&options, ctx).await {
        Ok(target) => target,
        Err(err) => {
            if let Some(unreachable) = err.downcast_ref::<crate::exit::Unreachable>() {
                crate::outln!(
                    "❌ Connection to {} failed: {}",
                    unreachable.url,
                    unreachable.error
                );
                // This is the command the hint points to: it is not repeated here.
                for line in unreachable.advice.lines() {
                    let line = line.trim_start();
                    if line != crate::scenario::target::TEST_CONNECTION_HINT {
                        crate::outln!("  {line}");
                    }
                }
                crate::errln!(
                    "error: {} is unreachable: {}",
                    unreachable.url,
                    unreachable.error
                );
                return Ok(Outcome::NotMeasured);
            }
            return Err(err);
        }
    };
    crate::outln!(
        "Testing connection to {} (endpoint from {})",
        target.url,
        endpoint_source(target.resolved_by)
    );
    let outcome = match target.backend.as_ollama() {
        Some(client) => cancellable(ctx, check_ollama(client, &options)).await,
        None => cancellable(ctx, check_openai(&target)).await,
    };
    target.close().await;
    Ok(outcome.unwrap_or_else(|| {
        crate::errln!("Interrupted.");
        Outcome::Interrupted
    }))
}

/// Where the endpoint came from, in words.
fn endpoint_source(resolved_by: &str) -> &'static str {
    match resolved_by {
        "endpoint" => "--endpoint or $OLLAMA_HOST",
        "port-forward" => "a kubectl port-forward started by ollabench",
        "load-balancer" => "the Kubernetes service's LoadBalancer address",
        "simulator" => "the built-in simulator started by --simulate",
        _ => "the default, http://localhost:11434",
    }
}

async fn check_ollama(client: &OllamaClient, options: &TargetOptions) -> Outcome {
    // The version first: the target's probe already reached it, so a failure here is an
    // answer (e.g. a 404 from something that is not Ollama), never a second long wait.
    let info = match client.server_info().await {
        Ok(info) => info,
        Err(err) => {
            let root = client.root().await;
            print_failure(&err, root.as_ref().ok().map(String::as_str), options);
            return if err.is_unreachable() {
                Outcome::NotMeasured
            } else {
                Outcome::Failed
            };
        }
    };
    let root = client.root().await;
    match &root {
        Ok(text) if text.contains("Ollama is running") => crate::outln!("✅ Reachable: {text}"),
        Ok(text) => {
            crate::outln!("⚠️  Reachable, but `/` says {text:?} instead of \"Ollama is running\"")
        }
        Err(err) => crate::outln!("⚠️  `/` failed: {err}"),
    }
    crate::outln!("✅ Ollama version {}", info.version);
    if let Some(header) = &info.simulator {
        crate::outln!(
            "ℹ️  This is ollabench's built-in simulator ({header}), not a real Ollama server"
        );
    }

    let mut round_trips = vec![info.round_trip];
    for _ in 1..LATENCY_PROBES {
        match client.server_info().await {
            Ok(probe) => round_trips.push(probe.round_trip),
            Err(err) => crate::outln!("⚠️  A latency probe failed: {err}"),
        }
    }
    print_round_trips("GET /api/version", &round_trips);

    let mut healthy = true;
    match client.tags().await {
        Ok(models) if models.is_empty() => {
            crate::outln!("ℹ️  No models present: pull one with `ollama pull llama3.1:8b` or run `ollabench single-user`")
        }
        Ok(models) => {
            crate::outln!("✅ Models present ({}):", models.len());
            for model in models {
                crate::outln!(
                    "     {:<30} {:>8.2} GB on disk  {} {}",
                    model.name,
                    model.size as f64 / 1e9,
                    model.details.parameter_size,
                    model.details.quantization_level
                );
            }
        }
        Err(err) => {
            healthy = false;
            crate::outln!("❌ /api/tags failed: {err}");
        }
    }
    match client.ps().await {
        Ok(loaded) if loaded.is_empty() => crate::outln!("ℹ️  No model is loaded in memory"),
        Ok(loaded) => {
            crate::outln!("✅ Models loaded ({}):", loaded.len());
            for model in loaded {
                let gpu = if model.size > 0 {
                    100.0 * model.size_vram as f64 / model.size as f64
                } else {
                    0.0
                };
                crate::outln!(
                    "     {:<30} {:>8.2} GB in memory  {:.0}% in GPU memory  expires {}",
                    model.name,
                    model.size as f64 / 1e9,
                    gpu,
                    model.expires_at
                );
            }
        }
        Err(err) => {
            healthy = false;
            crate::outln!("❌ /api/ps failed: {err}");
        }
    }
    if healthy {
        crate::outln!("Connection OK: the server answers as Ollama.");
        Outcome::Success
    } else {
        Outcome::Failed
    }
}

/// The OpenAI-compatible API: which server answers, the round trip of `GET /v1/models`, and
/// the models it offers.
pub async fn check_openai(target: &Target) -> Outcome {
    crate::outln!("ℹ️  Speaking the OpenAI-compatible API at {}", target.url);
    let crate::backend::Backend::OpenAi(client) = &target.backend else {
        crate::outln!("❌ The target does not speak the OpenAI-compatible API");
        return Outcome::Failed;
    };
    let mut round_trips = Vec::with_capacity(LATENCY_PROBES);
    let mut models = Vec::new();
    for probe in 0..LATENCY_PROBES {
        let started = std::time::Instant::now();
        match client.models().await {
            Ok(list) => {
                round_trips.push(started.elapsed());
                models = list;
            }
            Err(err) if probe == 0 => {
                crate::outln!("❌ Connection failed (GET /v1/models): {err}");
                match &err {
                    RequestError::Status {
                        status: 401 | 403, ..
                    } => crate::outln!(
                        "  - the server wants an API key: pass --api-key or set OPENAI_API_KEY"
                    ),
                    RequestError::Status { status: 404, .. } => crate::outln!(
                        "  - no OpenAI-compatible API at this path: check the endpoint, or use --api ollama for Ollama's native API"
                    ),
                    other => crate::outln!("  hint: {}", other.hint()),
                }
                return Outcome::Failed;
            }
            Err(err) => crate::outln!("⚠️  A latency probe failed: {err}"),
        }
    }
    match client.server_kind().await {
        Ok(crate::backend::openai::ServerKind::Simulator { header, version }) => crate::outln!(
            "✅ Server: ollabench's built-in simulator ({header}), serving Ollama {}'s API: \
             every number it gives is simulated",
            version.as_deref().unwrap_or("?")
        ),
        Ok(kind) => match kind.version() {
            Some(version) => crate::outln!("✅ Server: {} ({version})", kind.name()),
            None => crate::outln!("✅ Server: {}", kind.name()),
        },
        Err(err) => crate::outln!("⚠️  Could not tell which server this is: {err}"),
    }
    print_round_trips("GET /v1/models", &round_trips);
    if models.is_empty() {
        crate::outln!("⚠️  The server offers no models");
        return Outcome::Failed;
    }
    crate::outln!("✅ Models offered ({}):", models.len());
    for model in &models {
        crate::outln!("     {model}");
    }
    crate::outln!("Connection OK: the server answers the OpenAI-compatible API.");
    Outcome::Success
}

/// Prints the failure and the reference's troubleshooting advice fitted to it.
fn print_failure(err: &RequestError, root: Option<&str>, options: &TargetOptions) {
    crate::outln!("❌ Connection failed: {err}");
    match err {
        RequestError::Connect { .. } | RequestError::Timeout { .. } => {
            let url = options_url_hint(options);
            let resolved_by = match options.spec {
                crate::scenario::target::TargetSpec::PortForward(_) => "port-forward",
                _ => "endpoint",
            };
            crate::outln!(
                "  {}",
                crate::scenario::target::unreachable_advice(err, &url, resolved_by, options)
            );
        }
        RequestError::Status { status: 404, .. } => {
            crate::outln!(
                "Something other than Ollama answers at this path (404 on /api/version)."
            );
            if let Some(text) = root {
                crate::outln!("  `/` answered: {text:?}");
            }
            crate::outln!(
                "  - check the endpoint's host and port; is an ingress or proxy rewriting paths?"
            );
            crate::outln!(
                "  - for vLLM, llama.cpp or another OpenAI-compatible server use --api openai"
            );
        }
        other => {
            crate::outln!("  hint: {}", other.hint());
            crate::outln!(
                "  - test the API by hand: curl {}/api/tags",
                options_url_hint(options)
            );
        }
    }
}

fn options_url_hint(options: &TargetOptions) -> String {
    match &options.spec {
        crate::scenario::target::TargetSpec::Endpoint(url) => url.clone(),
        _ => crate::scenario::target::DEFAULT_ENDPOINT.to_string(),
    }
}

/// The latency line: the fastest and the mean of the probes of `request`.
fn print_round_trips(request: &str, round_trips: &[Duration]) {
    let min = round_trips.iter().min().copied().unwrap_or_default();
    let average = round_trips.iter().sum::<Duration>() / round_trips.len().max(1) as u32;
    crate::outln!(
        "✅ Round trip ({request}, {} probes): min {:.1} ms, average {:.1} ms",
        round_trips.len(),
        min.as_secs_f64() * 1000.0,
        average.as_secs_f64() * 1000.0
    );
}

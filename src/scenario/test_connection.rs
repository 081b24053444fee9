//! `ollabench test-connection` (the reference's test-connection.ps1): is the server reachable,
//! what is it (Ollama and its version), which models are present and which are loaded, and
//! the round-trip latency. On failure it gives troubleshooting advice fitted to the error.

use std::time::Duration;

use crate::backend::ollama::OllamaClient;
use crate::backend::{RequestError, TimeoutPhase};
use crate::exit::{Ctx, Outcome};
use crate::scenario::target::{Target, TargetOptions};

/// Latency probes sent to `/api/version`.
const LATENCY_PROBES: usize = 5;

/// Runs the connection test and prints its findings.
pub async fn run(options: TargetOptions, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let target = Target::connect(&options, ctx).await?;
    println!(
        "Testing connection to {} (endpoint from {})",
        target.url, target.resolved_by
    );
    let outcome = match target.backend.as_ollama() {
        Some(client) => check_ollama(client, &options).await,
        None => crate::scenario::test_connection::check_openai(&target).await,
    };
    target.close().await;
    Ok(outcome)
}

async fn check_ollama(client: &OllamaClient, options: &TargetOptions) -> Outcome {
    let root = client.root().await;
    let info = match client.server_info().await {
        Ok(info) => info,
        Err(err) => {
            print_failure(&err, root.as_ref().ok().map(String::as_str), options);
            return Outcome::Failed;
        }
    };
    match &root {
        Ok(text) if text.contains("Ollama is running") => println!("✅ Reachable: {text}"),
        Ok(text) => {
            println!("⚠️  Reachable, but `/` says {text:?} instead of \"Ollama is running\"")
        }
        Err(err) => println!("⚠️  `/` failed: {err}"),
    }
    println!("✅ Ollama version {}", info.version);
    if let Some(header) = &info.simulator {
        println!("ℹ️  This is ollabench's built-in simulator ({header}), not a real Ollama server");
    }

    let mut round_trips = vec![info.round_trip];
    for _ in 1..LATENCY_PROBES {
        match client.server_info().await {
            Ok(probe) => round_trips.push(probe.round_trip),
            Err(err) => println!("⚠️  A latency probe failed: {err}"),
        }
    }
    let min = round_trips.iter().min().copied().unwrap_or_default();
    let average = round_trips.iter().sum::<Duration>() / round_trips.len().max(1) as u32;
    println!(
        "✅ Round trip (GET /api/version, {} probes): min {:.1} ms, average {:.1} ms",
        round_trips.len(),
        min.as_secs_f64() * 1000.0,
        average.as_secs_f64() * 1000.0
    );

    let mut healthy = true;
    match client.tags().await {
        Ok(models) if models.is_empty() => {
            println!("ℹ️  No models present: pull one with `ollama pull llama3.1:8b` or run `ollabench single-user`")
        }
        Ok(models) => {
            println!("✅ Models present ({}):", models.len());
            for model in models {
                println!(
                    "     {:<30} {:>8.2} GB  {} {}",
                    model.name,
                    model.size as f64 / 1e9,
                    model.details.parameter_size,
                    model.details.quantization_level
                );
            }
        }
        Err(err) => {
            healthy = false;
            println!("❌ /api/tags failed: {err}");
        }
    }
    match client.ps().await {
        Ok(loaded) if loaded.is_empty() => println!("ℹ️  No model is loaded in memory"),
        Ok(loaded) => {
            println!("✅ Models loaded ({}):", loaded.len());
            for model in loaded {
                let gpu = if model.size > 0 {
                    100.0 * model.size_vram as f64 / model.size as f64
                } else {
                    0.0
                };
                println!(
                    "     {:<30} {:>8.2} GB  {:.0}% in GPU memory  expires {}",
                    model.name,
                    model.size as f64 / 1e9,
                    gpu,
                    model.expires_at
                );
            }
        }
        Err(err) => {
            healthy = false;
            println!("❌ /api/ps failed: {err}");
        }
    }
    if healthy {
        println!("Connection OK: the server answers as Ollama.");
        Outcome::Success
    } else {
        Outcome::Failed
    }
}

/// The OpenAI-compatible API: which server answers, the round trip of `GET /v1/models`, and
/// the models it offers.
pub async fn check_openai(target: &Target) -> Outcome {
    println!("ℹ️  Speaking the OpenAI-compatible API at {}", target.url);
    let crate::backend::Backend::OpenAi(client) = &target.backend else {
        println!("❌ The target does not speak the OpenAI-compatible API");
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
                println!("❌ Connection failed (GET /v1/models): {err}");
                match &err {
                    RequestError::Status {
                        status: 401 | 403, ..
                    } => println!(
                        "  - the server wants an API key: pass --api-key or set OPENAI_API_KEY"
                    ),
                    RequestError::Status { status: 404, .. } => println!(
                        "  - no OpenAI-compatible API at this path: check the endpoint, or use --api ollama for Ollama's native API"
                    ),
                    other => println!("  hint: {}", other.hint()),
                }
                return Outcome::Failed;
            }
            Err(err) => println!("⚠️  A latency probe failed: {err}"),
        }
    }
    match client.server_kind().await {
        Ok(kind) => match kind.version() {
            Some(version) => println!("✅ Server: {} ({version})", kind.name()),
            None => println!("✅ Server: {}", kind.name()),
        },
        Err(err) => println!("⚠️  Could not tell which server this is: {err}"),
    }
    let min = round_trips.iter().min().copied().unwrap_or_default();
    let average = round_trips.iter().sum::<Duration>() / round_trips.len().max(1) as u32;
    println!(
        "✅ Round trip (GET /v1/models, {} probes): min {:.1} ms, average {:.1} ms",
        round_trips.len(),
        min.as_secs_f64() * 1000.0,
        average.as_secs_f64() * 1000.0
    );
    if models.is_empty() {
        println!("⚠️  The server offers no models");
        return Outcome::Failed;
    }
    println!("✅ Models offered ({}):", models.len());
    for model in &models {
        println!("     {model}");
    }
    println!("Connection OK: the server answers the OpenAI-compatible API.");
    Outcome::Success
}

/// Prints the failure and the reference's troubleshooting advice fitted to it.
fn print_failure(err: &RequestError, root: Option<&str>, options: &TargetOptions) {
    println!("❌ Connection failed: {err}");
    let ns = &options.namespace;
    let svc = &options.service;
    match err {
        RequestError::Connect { refused: true, .. } => {
            println!("Nothing is listening there. The port-forward or the service is not running:");
            println!(
                "  - start a port-forward: kubectl port-forward -n {ns} service/{svc} 11434:11434"
            );
            println!("    (or let ollabench manage it: --use-port-forward)");
            println!("  - check that the Ollama pods run: kubectl get pods -n {ns}");
            println!("  - check the service: kubectl get svc -n {ns} {svc}");
        }
        RequestError::Timeout {
            phase: TimeoutPhase::Connect,
            ..
        }
        | RequestError::Timeout { .. } => {
            println!("No answer in time. The LoadBalancer or a firewall is likely in the way:");
            println!("  - check the LoadBalancer's external IP: kubectl get svc -n {ns} {svc}");
            println!("  - check firewall rules / network security groups for port 11434");
            println!("  - try a port-forward instead: --use-port-forward");
        }
        RequestError::Status { status: 404, .. } => {
            println!("Something other than Ollama answers at this path (404 on /api/version).");
            if let Some(text) = root {
                println!("  `/` answered: {text:?}");
            }
            println!(
                "  - check the endpoint's host and port; is an ingress or proxy rewriting paths?"
            );
            println!(
                "  - for vLLM, llama.cpp or another OpenAI-compatible server use --api openai"
            );
        }
        other => {
            println!("  hint: {}", other.hint());
            println!(
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

//! `ollabench diagnose`: the reference's Troubleshooting checks in one command (the work is in
//! [`crate::diagnose`]). Exit 0 when every step ran, 1 when some failed (the rest is shown).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::config::{defaults, normalize_endpoint, parse_duration, DEFAULT_ENDPOINT};
use crate::diagnose::{self, DiagnoseOptions};
use crate::exit::{Ctx, Outcome};

/// How the diagnosis is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagnoseFormat {
    /// Readable sections, then the findings.
    Table,
    /// The document `--output` writes.
    Json,
}

/// Flags of `ollabench diagnose`.
#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// Ollama's URL, for /api/ps and /api/version. Default: $OLLAMA_HOST, else
    /// http://localhost:11434.
    #[arg(long, visible_alias = "ollama-endpoint", env = "OLLAMA_HOST")]
    pub endpoint: Option<String>,
    /// Kubernetes namespace of the Ollama pods.
    #[arg(long, default_value = defaults::NAMESPACE)]
    pub namespace: String,
    /// Kubernetes service name (its pods are the Ollama pods).
    #[arg(long, default_value = defaults::SERVICE)]
    pub service: String,
    /// The pod to run nvidia-smi in (default: the first running Ollama pod).
    #[arg(long)]
    pub pod: Option<String>,
    /// The kubectl binary.
    #[arg(long, value_name = "PATH", default_value = "kubectl")]
    pub kubectl: PathBuf,
    /// How long each kubectl call may take.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration)]
    pub kubectl_timeout: Duration,
    #[arg(long, value_enum, default_value_t = DiagnoseFormat::Table)]
    pub format: DiagnoseFormat,
    /// Also write the diagnosis as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl DiagnoseArgs {
    pub async fn execute(self, _ctx: &Ctx) -> anyhow::Result<Outcome> {
        let endpoint = normalize_endpoint(self.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT))?;
        let options = DiagnoseOptions {
            kubectl: self.kubectl,
            kubectl_env: Vec::new(),
            namespace: self.namespace,
            service: self.service,
            pod: self.pod,
            endpoint,
            kubectl_timeout: self.kubectl_timeout,
            timeouts: crate::backend::Timeouts {
                connect: Duration::from_secs(10),
                first_byte: Duration::from_secs(30),
                total: Duration::from_secs(60),
            },
        };
        let diagnosis = diagnose::diagnose(&options).await;
        if let Some(path) = &self.output {
            crate::results::write_json_atomic(path, &diagnosis)?;
        }
        match self.format {
            DiagnoseFormat::Json => crate::outln!("{}", serde_json::to_string_pretty(&diagnosis)?),
            DiagnoseFormat::Table => crate::outln!("{}", diagnose::render(&diagnosis)),
        }
        if let Some(path) = &self.output {
            crate::errln!("Diagnosis written to {}", path.display());
        }
        Ok(if diagnosis.complete() {
            Outcome::Success
        } else {
            Outcome::Failed
        })
    }
}

//! Flags shared by every command that talks to a server (endpoint, API, timeouts, Kubernetes,
//! the in-process simulator), and the flags of test-connection, single-user and
//! tokens-per-second.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::exit::{Ctx, Outcome, UsageError};
use crate::scenario::target::{TargetOptions, TargetSpec};
use crate::scenario::{single_user, test_connection, tokens_per_second};

/// Which HTTP API the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApiKind {
    /// Ollama's native API (`/api/...`).
    Ollama,
    /// The OpenAI-compatible API (`/v1/...`): vLLM, llama.cpp, TGI, SGLang.
    Openai,
    /// Ask the server: Ollama answers `/api/version`, OpenAI servers answer `/v1/models`.
    Auto,
}

/// Where the server is and how to reach it.
#[derive(Debug, Clone, Args)]
pub struct EndpointArgs {
    /// Server URL; `host:port` without a scheme is accepted, as Ollama does.
    /// Default: $OLLAMA_HOST, else http://localhost:11434.
    #[arg(long, visible_alias = "ollama-endpoint", env = "OLLAMA_HOST")]
    pub endpoint: Option<String>,
    /// Which API to speak.
    #[arg(long, value_enum, default_value_t = ApiKind::Ollama)]
    pub api: ApiKind,
    /// API key for OpenAI-compatible servers (never written to a file or a log).
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Start the built-in simulator in-process on a free port and run against it
    /// (profile: t4, a100, h100, cpu).
    #[arg(long, value_name = "PROFILE", num_args = 0..=1, default_missing_value = "t4")]
    pub simulate: Option<String>,
    /// With --simulate: multiply every simulated delay by this factor.
    #[arg(
        long,
        value_name = "FACTOR",
        requires = "simulate",
        allow_negative_numbers = true
    )]
    pub time_scale: Option<f64>,
    /// Reach the service through `kubectl port-forward`, managed by ollabench.
    #[arg(long)]
    pub use_port_forward: bool,
    /// Kubernetes namespace of the Ollama service.
    #[arg(long, default_value = "ollama")]
    pub namespace: String,
    /// Kubernetes service name.
    #[arg(long, default_value = "ollama")]
    pub service: String,
    /// Local port for the port-forward (0 picks a free one).
    #[arg(long, default_value_t = 11434, allow_negative_numbers = true)]
    pub local_port: u16,
    /// The service's port.
    #[arg(long, default_value_t = 11434, allow_negative_numbers = true)]
    pub remote_port: u16,
    /// The kubectl binary.
    #[arg(long, value_name = "PATH", default_value = "kubectl")]
    pub kubectl: PathBuf,
    /// How long to wait for a TCP connection (e.g. 10s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// How long to wait for the first byte of a response.
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = parse_duration)]
    pub first_byte_timeout: Duration,
    /// How long a whole request may take (downloads of large models need long).
    #[arg(long, value_name = "DURATION", default_value = "3600s", value_parser = parse_duration)]
    pub request_timeout: Duration,
}

impl EndpointArgs {
    /// The validated target options.
    pub fn to_options(&self) -> anyhow::Result<TargetOptions> {
        let spec = if let Some(profile) = &self.simulate {
            if self.use_port_forward {
                return Err(UsageError::err(
                    "--simulate and --use-port-forward exclude each other: pick one",
                ));
            }
            crate::sim::SimConfig::with_profile(profile).map_err(UsageError::err)?;
            let time_scale = self.time_scale.unwrap_or(1.0);
            if !(time_scale.is_finite() && time_scale > 0.0) {
                return Err(UsageError::err(format!(
                    "--time-scale must be a positive number, got {time_scale}"
                )));
            }
            TargetSpec::Simulate {
                profile: profile.clone(),
                time_scale,
                preload: Vec::new(),
            }
        } else if self.use_port_forward {
            TargetSpec::PortForward(crate::kube::PortForwardOptions {
                kubectl: self.kubectl.clone(),
                namespace: self.namespace.clone(),
                service: self.service.clone(),
                local_port: self.local_port,
                remote_port: self.remote_port,
            })
        } else if let Some(endpoint) = &self.endpoint {
            TargetSpec::Endpoint(normalize_endpoint(endpoint)?)
        } else {
            TargetSpec::Default
        };
        Ok(TargetOptions {
            spec,
            api: self.api,
            api_key: self.api_key.clone(),
            kubectl: self.kubectl.clone(),
            namespace: self.namespace.clone(),
            service: self.service.clone(),
            timeouts: crate::backend::Timeouts {
                connect: self.connect_timeout,
                first_byte: self.first_byte_timeout,
                total: self.request_timeout,
            },
        })
    }

    /// Like [`EndpointArgs::to_options`] but with a simulator time scale chosen by the caller
    /// when the user gave none (demo runs default to a compressed clock).
    pub fn to_options_with_default_scale(&self, scale: f64) -> anyhow::Result<TargetOptions> {
        let mut options = self.to_options()?;
        if let TargetSpec::Simulate { time_scale, .. } = &mut options.spec {
            if self.time_scale.is_none() {
                *time_scale = scale;
            }
        }
        Ok(options)
    }
}

/// Accepts `http://host:port`, `https://...` and Ollama's `host:port` / `host` forms.
pub fn normalize_endpoint(raw: &str) -> anyhow::Result<String> {
    let trimmed = raw.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(UsageError::err(
            "the endpoint is empty: give a URL such as http://localhost:11434",
        ));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else if trimmed.starts_with(':') {
        format!("http://127.0.0.1{trimmed}")
    } else if trimmed.contains(':') {
        format!("http://{trimmed}")
    } else {
        format!("http://{trimmed}:11434")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|err| {
        UsageError::err(format!(
            "the endpoint '{raw}' is not a URL ({err}): give one such as http://localhost:11434"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UsageError::err(format!(
            "the endpoint '{raw}' uses the scheme '{}': use http or https",
            url.scheme()
        )));
    }
    Ok(with_scheme)
}

/// Parses `250ms`, `10s`, `5m`, `1h`, or a plain number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| c.is_ascii_alphabetic()) {
        Some(index) => raw.split_at(index),
        None => (raw, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("'{raw}' is not a duration: write e.g. 500ms, 30s, 5m or 1h"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "unknown unit '{unit}' in '{raw}': use ms, s, m or h"
            ))
        }
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!("'{raw}' must be a positive duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// How single-user, multi-user and run get models onto an Ollama server.
#[derive(Debug, Clone, Args)]
pub struct DownloadArgs {
    /// Delete the model first so that the download is measured (destructive).
    #[arg(long, conflicts_with = "skip_download")]
    pub redownload: bool,
    /// Never pull: measure load and generation of the models the server already has (for
    /// servers that cannot reach a registry). The download is recorded as Skipped.
    #[arg(long)]
    pub skip_download: bool,
    /// Let the server pull over plain HTTP (`"insecure": true`), for a private registry such
    /// as `--model 10.0.0.5:5000/library/smollm2:135m`.
    #[arg(long)]
    pub insecure: bool,
}

impl DownloadArgs {
    /// The validated policy.
    pub fn policy(&self) -> anyhow::Result<crate::scenario::download::DownloadPolicy> {
        if self.skip_download && self.insecure {
            return Err(UsageError::err(
                "--insecure only matters for pulls, and --skip-download never pulls: drop one",
            ));
        }
        Ok(crate::scenario::download::DownloadPolicy {
            redownload: self.redownload,
            skip_download: self.skip_download,
            insecure: self.insecure,
        })
    }
}

/// Flags of `ollabench test-connection`.
#[derive(Debug, Args)]
pub struct TestConnectionArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
}

impl TestConnectionArgs {
    pub async fn execute(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        test_connection::run(self.endpoint.to_options()?, ctx).await
    }
}

/// Flags of `ollabench single-user`.
#[derive(Debug, Args)]
pub struct SingleUserArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// Model to benchmark.
    #[arg(long, default_value = "llama3.1:8b")]
    pub model: String,
    /// Where to write the JSON result.
    #[arg(
        long,
        visible_alias = "output-file",
        default_value = "single-user-results.json"
    )]
    pub output: PathBuf,
    #[command(flatten)]
    pub download: DownloadArgs,
    /// A command run (through `sh -c`) before the cold load, e.g. one that drops the node's
    /// page cache with `kubectl exec`.
    #[arg(long, value_name = "CMD")]
    pub drop_caches_cmd: Option<String>,
    /// Tokens to generate for the throughput check.
    #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
    pub generation_tokens: u32,
}

impl SingleUserArgs {
    pub async fn execute(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let options = single_user::SingleUserOptions {
            target: self.endpoint.to_options()?,
            model: self.model,
            output: self.output,
            download: self.download.policy()?,
            drop_caches_cmd: self.drop_caches_cmd,
            generation_tokens: self.generation_tokens,
        };
        single_user::run(options, ctx).await
    }
}

/// Flags of `ollabench tokens-per-second`.
#[derive(Debug, Args)]
pub struct TokensPerSecondArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// Models to test (comma list or repeated).
    #[arg(long, value_delimiter = ',', default_values_t = ["phi3.5".to_string(), "gemma2:2b".to_string(), "llama3.1:8b".to_string()])]
    pub models: Vec<String>,
    /// Prompt length categories: short, medium, long, very-long.
    #[arg(long, value_delimiter = ',', default_values_t = ["short".to_string(), "medium".to_string(), "long".to_string()])]
    pub prompt_lengths: Vec<String>,
    /// Prompts from a file instead of the built-in texts: one prompt per line, or
    /// `NAME<TAB>TEXT` lines to name them.
    #[arg(long, value_name = "FILE")]
    pub prompts_file: Option<PathBuf>,
    /// Tokens to generate per request (num_predict / max_tokens).
    #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
    pub generation_tokens: u32,
    /// Warmup requests per model and prompt length, recorded but kept out of the statistics.
    #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
    pub warmup_runs: u32,
    /// Measured runs per model and prompt length.
    #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
    pub measurement_runs: u32,
    /// Requests kept in flight; a list (1,2,4,8) sweeps them in one run.
    #[arg(long, value_delimiter = ',', default_values_t = [1u32], allow_negative_numbers = true)]
    pub concurrent_requests: Vec<u32>,
    /// Where to write the JSON result.
    #[arg(
        long,
        visible_alias = "output-file",
        default_value = "tokens-per-second-results.json"
    )]
    pub output: PathBuf,
    /// Use /api/chat instead of /api/generate (Ollama), or /v1/completions instead of
    /// /v1/chat/completions (OpenAI).
    #[arg(long)]
    pub alternate_route: bool,
}

impl TokensPerSecondArgs {
    pub fn to_options(
        &self,
        target: TargetOptions,
    ) -> anyhow::Result<tokens_per_second::TpsOptions> {
        tokens_per_second::TpsOptions::validate(
            target,
            &self.models,
            &self.prompt_lengths,
            self.prompts_file.as_deref(),
            self.generation_tokens,
            self.warmup_runs,
            self.measurement_runs,
            &self.concurrent_requests,
            self.output.clone(),
            self.alternate_route,
        )
    }

    pub async fn execute(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        // A simulated node already has the models a throughput test assumes are there.
        let target = self.endpoint.to_options()?.with_preloaded(&self.models);
        let options = self.to_options(target)?;
        tokens_per_second::run(options, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_normalized_like_ollama_does() {
        assert_eq!(
            normalize_endpoint("localhost:11434").unwrap(),
            "http://localhost:11434"
        );
        assert_eq!(
            normalize_endpoint("10.0.0.5").unwrap(),
            "http://10.0.0.5:11434"
        );
        assert_eq!(normalize_endpoint("http://h:1/").unwrap(), "http://h:1");
        assert_eq!(
            normalize_endpoint(":8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(normalize_endpoint("ftp://x").is_err());
        assert!(normalize_endpoint("  ").is_err());
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5d").is_err());
    }
}

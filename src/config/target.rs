//! How to reach a server, validated: the endpoint (normalised as Ollama does), the API, the
//! timeouts, Kubernetes and the in-process simulator. Built by `cli` from flags, read by the
//! scenarios' runner.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use crate::backend::Timeouts;
use crate::exit::ConfigError;
use crate::kube::PortForwardOptions;
use crate::sim::{Setting, SettingError};

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

/// The Ollama default when nothing else names a server.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:11434";

/// How the user asked to reach the server.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// `--endpoint` (or `$OLLAMA_HOST`), already normalized.
    Endpoint(String),
    /// `--use-port-forward`.
    PortForward(PortForwardOptions),
    /// `--simulate PROFILE`: the simulator in-process on a free port, a fresh node with
    /// `preload` already downloaded.
    Simulate {
        profile: String,
        time_scale: f64,
        preload: Vec<String>,
    },
    /// Nothing given: a LoadBalancer address from kubectl, else the default endpoint.
    Default,
}

/// Validated options for reaching a server.
#[derive(Debug, Clone)]
pub struct TargetOptions {
    pub spec: TargetSpec,
    pub api: ApiKind,
    pub api_key: Option<String>,
    pub kubectl: PathBuf,
    pub namespace: String,
    pub service: String,
    pub timeouts: Timeouts,
    /// `--verbose`: show the tools' own output (kubectl's stderr) where a plain line suffices.
    pub verbose: bool,
}

impl TargetOptions {
    /// With `--simulate`: the models the fresh simulated node already has downloaded.
    pub fn with_preloaded(mut self, models: &[String]) -> Self {
        if let TargetSpec::Simulate { preload, .. } = &mut self.spec {
            *preload = models.to_vec();
        }
        self
    }

    /// Whether the target is a simulator this process starts (and may treat as disposable).
    pub fn is_in_process_simulator(&self) -> bool {
        matches!(self.spec, TargetSpec::Simulate { .. })
    }

    /// Options for a plain endpoint with default timeouts (tests and embedding).
    pub fn endpoint(url: impl Into<String>) -> Self {
        TargetOptions {
            spec: TargetSpec::Endpoint(url.into()),
            api: ApiKind::Ollama,
            api_key: None,
            kubectl: PathBuf::from("kubectl"),
            namespace: "ollama".into(),
            service: "ollama".into(),
            timeouts: Timeouts::default(),
            verbose: false,
        }
    }
}

/// Accepts `http://host:port`, `https://...` and Ollama's `host:port` / `host` forms.
pub fn normalize_endpoint(raw: &str) -> Result<String, ConfigError> {
    let trimmed = raw.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(ConfigError::EmptyEndpoint);
    }
    let lower = trimmed.to_ascii_lowercase();
    if !trimmed.contains("://") {
        for scheme in ["https", "http"] {
            if let Some(rest) = lower.strip_prefix(scheme) {
                if rest.starts_with(':') && !rest[1..].starts_with(|c: char| c.is_ascii_digit())
                    || rest.starts_with('/')
                {
                    let host = rest.trim_start_matches([':', '/']);
                    return Err(ConfigError::MalformedEndpoint {
                        raw: raw.to_string(),
                        suggestion: format!("{scheme}://{host}"),
                    });
                }
            }
        }
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
    let url = reqwest::Url::parse(&with_scheme).map_err(|err| ConfigError::NotAUrl {
        raw: raw.to_string(),
        reason: err.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::UnsupportedScheme {
            raw: raw.to_string(),
            scheme: url.scheme().to_string(),
        });
    }
    Ok(with_scheme)
}

/// The simulator's refusal of a setting, named by the flag that sets it.
pub fn simulator_setting(err: SettingError) -> ConfigError {
    match err {
        SettingError::UnknownProfile { profile } => ConfigError::Unknown {
            what: "simulator profile",
            value: profile,
            expected: format!("one of {}", crate::sim::PROFILES.join(", ")),
        },
        SettingError::Zero { setting } => ConfigError::TooSmall {
            flag: match setting {
                Setting::NumParallel => "--num-parallel",
                Setting::MaxLoadedModels => "--max-loaded-models",
                Setting::MaxQueue => "--max-queue",
                Setting::NumCtx => "num_ctx",
            },
            minimum: 1,
            reason: None,
        },
        SettingError::TimeScale(_) => ConfigError::Rejected {
            flag: "--time-scale",
            reason: err.to_string(),
        },
        SettingError::UnknownModel { .. } => ConfigError::Rejected {
            flag: "--preload",
            reason: err.to_string(),
        },
    }
}

/// Why a duration flag's value is not a duration (clap names the flag in front of it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("'{0}' is not a duration: write e.g. 500ms, 30s, 5m or 1h")]
    NotANumber(String),
    #[error("unknown unit '{unit}' in '{raw}': use ms, s, m or h")]
    UnknownUnit { unit: String, raw: String },
    #[error("'{0}' must be a positive duration")]
    NotPositive(String),
}

/// Parses `250ms`, `10s`, `5m`, `1h`, or a plain number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, DurationError> {
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| c.is_ascii_alphabetic()) {
        Some(index) => raw.split_at(index),
        None => (raw, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| DurationError::NotANumber(raw.to_string()))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(DurationError::UnknownUnit {
                unit: unit.to_string(),
                raw: raw.to_string(),
            })
        }
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(DurationError::NotPositive(raw.to_string()));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn endpoints_are_normalized_like_ollama_does() {
        for (given, url) in [
            ("localhost:11434", "http://localhost:11434"),
            ("10.0.0.5", "http://10.0.0.5:11434"),
            ("http://h:1/", "http://h:1"),
            (":8080", "http://127.0.0.1:8080"),
            // A host that starts with http is a host.
            ("httpbin:8080", "http://httpbin:8080"),
        ] {
            assert_eq!(normalize_endpoint(given).unwrap(), url, "{given}");
        }
        assert!(normalize_endpoint("ftp://x").is_err());
        let typo = normalize_endpoint("http//localhost:11500").unwrap_err();
        assert!(
            typo.to_string()
                .contains("did you mean http://localhost:11500"),
            "{typo}"
        );
        assert!(normalize_endpoint("https:/h:1").is_err());
        assert!(normalize_endpoint("http:localhost").is_err());
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

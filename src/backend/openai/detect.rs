//! Which server software answers an OpenAI-compatible endpoint, for the provenance of
//! results: the simulator's header, llama.cpp's `/props`, Ollama's `/api/version`, vLLM's
//! `owned_by` in `/v1/models`.

use std::time::Duration;

use super::client::OpenAiClient;
use super::wire::{ModelList, VersionReply};
use crate::backend::{RequestError, TimeoutPhase, SIM_HEADER};

/// The longest a provenance probe waits.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which server software answers, for the provenance of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerKind {
    /// llama.cpp's llama-server (it answers `/props`); `build` is its `build_info`.
    LlamaCpp { build: Option<String> },
    /// vLLM (`owned_by: "vllm"` in `/v1/models`); `version` from its `/version`.
    Vllm { version: Option<String> },
    /// Ollama's `/v1` routes (it answers `/api/version`).
    Ollama { version: String },
    /// ollabench's built-in simulator (its header on every response, e.g.
    /// `profile=t4 time-scale=1`), which serves Ollama's API and its `/v1` routes.
    Simulator {
        header: String,
        version: Option<String>,
    },
    /// Something else that speaks the OpenAI API.
    Unknown,
}

impl ServerKind {
    /// A short stable name: `llama.cpp`, `vllm`, `ollama` or `unknown`.
    pub fn name(&self) -> &'static str {
        match self {
            ServerKind::LlamaCpp { .. } => "llama.cpp",
            ServerKind::Vllm { .. } => "vllm",
            ServerKind::Ollama { .. } => "ollama",
            ServerKind::Simulator { .. } => "ollabench-simulator",
            ServerKind::Unknown => "unknown",
        }
    }

    /// The server's version or build, when it says.
    pub fn version(&self) -> Option<&str> {
        match self {
            ServerKind::LlamaCpp { build } => build.as_deref(),
            ServerKind::Vllm { version } => version.as_deref(),
            ServerKind::Ollama { version } => Some(version),
            ServerKind::Simulator { version, .. } => version.as_deref(),
            ServerKind::Unknown => None,
        }
    }
}

impl OpenAiClient {
    /// Which server software answers: llama.cpp answers `/props`, Ollama `/api/version`,
    /// vLLM names itself as `owned_by` in `/v1/models`. Fails only when the server cannot
    /// be reached at all.
    pub async fn server_kind(&self) -> Result<ServerKind, RequestError> {
        let wait = self.timeouts.first_byte.min(PROBE_TIMEOUT);
        let url = self.url("/v1/models");
        match self
            .send(self.http.get(&url), &url, wait, TimeoutPhase::FirstByte)
            .await
        {
            Ok((response, _)) => {
                let header = response
                    .headers()
                    .get(SIM_HEADER)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_string);
                if let Some(header) = header {
                    let version = self
                        .get_json::<VersionReply>("/api/version", wait)
                        .await
                        .ok()
                        .and_then(|reply| reply.version);
                    return Ok(ServerKind::Simulator { header, version });
                }
            }
            Err(err @ (RequestError::Connect { .. } | RequestError::Timeout { .. })) => {
                return Err(err)
            }
            Err(_) => {}
        }
        match self.get_json::<serde_json::Value>("/props", wait).await {
            Ok(props) if is_llama_cpp_props(&props) => {
                let build = props
                    .get("build_info")
                    .and_then(|b| b.as_str())
                    .map(str::to_string);
                return Ok(ServerKind::LlamaCpp { build });
            }
            Err(err @ (RequestError::Connect { .. } | RequestError::Timeout { .. })) => {
                return Err(err)
            }
            _ => {}
        }
        if let Ok(reply) = self.get_json::<VersionReply>("/api/version", wait).await {
            if let Some(version) = reply.version {
                return Ok(ServerKind::Ollama { version });
            }
        }
        if let Ok(list) = self.get_json::<ModelList>("/v1/models", wait).await {
            let vllm = list
                .data
                .unwrap_or_default()
                .iter()
                .any(|card| card.owned_by.as_deref() == Some("vllm"));
            if vllm {
                let version = self
                    .get_json::<VersionReply>("/version", wait)
                    .await
                    .ok()
                    .and_then(|reply| reply.version);
                return Ok(ServerKind::Vllm { version });
            }
        }
        Ok(ServerKind::Unknown)
    }
}

fn is_llama_cpp_props(props: &serde_json::Value) -> bool {
    ["default_generation_settings", "total_slots", "build_info"]
        .iter()
        .any(|key| props.get(key).is_some())
}

//! Client of the OpenAI-compatible API (vLLM, llama.cpp's llama-server, TGI, SGLang, and
//! Ollama's `/v1` routes): streamed chat and completions over server-sent events.

use super::{GenerationRecord, GenerationRequest, RequestError, Timeouts};

/// A client of one OpenAI-compatible server.
#[derive(Debug, Clone)]
pub struct OpenAiClient {
    base_url: String,
    #[allow(dead_code)]
    timeouts: Timeouts,
}

impl OpenAiClient {
    pub fn new(
        base_url: &str,
        timeouts: Timeouts,
        _api_key: Option<String>,
    ) -> Result<Self, RequestError> {
        Ok(OpenAiClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            timeouts,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub async fn generate(
        &self,
        _request: &GenerationRequest,
    ) -> Result<GenerationRecord, RequestError> {
        Err(RequestError::Other(
            "the OpenAI backend is not implemented yet".into(),
        ))
    }
}

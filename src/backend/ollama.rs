//! Client of Ollama's native API: pull with streamed progress, streamed generate and chat with
//! every timing field of the final chunk, load-only and unload, tags, ps, show, delete,
//! version and `/`.

use super::{GenerationRecord, GenerationRequest, RequestError, Timeouts};

/// A client of one Ollama server.
#[derive(Debug, Clone)]
pub struct OllamaClient {
    base_url: String,
    #[allow(dead_code)]
    timeouts: Timeouts,
}

impl OllamaClient {
    pub fn new(base_url: &str, timeouts: Timeouts) -> Result<Self, RequestError> {
        Ok(OllamaClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            timeouts,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub async fn version(&self) -> Result<String, RequestError> {
        Err(RequestError::Other("not implemented yet".into()))
    }

    pub async fn generate(
        &self,
        _request: &GenerationRequest,
    ) -> Result<GenerationRecord, RequestError> {
        Err(RequestError::Other("not implemented yet".into()))
    }
}

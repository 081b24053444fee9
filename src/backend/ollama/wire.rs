//! The JSON of Ollama's API: the models of tags, ps and show, pull progress, the chunks of a
//! streamed generation and the body that asks for one; and the provenance those replies fill.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::backend::{GenerationRequest, Route};

/// `details` of a model in tags, ps and show.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelDetails {
    pub parent_model: String,
    pub format: String,
    pub family: String,
    pub families: Option<Vec<String>>,
    pub parameter_size: String,
    pub quantization_level: String,
}

/// A model on disk (`/api/tags`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LocalModel {
    pub name: String,
    pub model: String,
    pub modified_at: String,
    pub size: u64,
    pub digest: String,
    pub details: ModelDetails,
}

/// A model in memory (`/api/ps`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadedModel {
    pub name: String,
    pub model: String,
    pub size: u64,
    pub size_vram: u64,
    pub digest: String,
    pub details: ModelDetails,
    pub expires_at: String,
    pub context_length: Option<u64>,
}

/// What `/api/show` says about a model (the fields ollabench uses).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelInfo {
    pub details: ModelDetails,
    pub model_info: Option<serde_json::Value>,
    pub capabilities: Option<Vec<String>>,
    pub modified_at: Option<String>,
}

/// One line of a pull's progress stream.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PullProgress {
    pub status: String,
    pub digest: Option<String>,
    pub total: Option<u64>,
    pub completed: Option<u64>,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct StreamChunk<'a> {
    #[serde(borrow, default)]
    pub(super) response: Option<Cow<'a, str>>,
    /// A thinking model's reasoning text (generate; chat puts it in `message`).
    #[serde(borrow, default)]
    pub(super) thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) message: Option<MessageChunk<'a>>,
    #[serde(default)]
    pub(super) done: bool,
    #[serde(default)]
    pub(super) done_reason: Option<String>,
    #[serde(borrow, default)]
    pub(super) error: Option<Cow<'a, str>>,
    pub(super) total_duration: Option<u64>,
    pub(super) load_duration: Option<u64>,
    pub(super) prompt_eval_count: Option<u64>,
    pub(super) prompt_eval_duration: Option<u64>,
    pub(super) eval_count: Option<u64>,
    pub(super) eval_duration: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct MessageChunk<'a> {
    #[serde(borrow, default)]
    pub(super) content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) thinking: Option<Cow<'a, str>>,
}

/// The route and JSON body of a streamed generation.
pub(super) fn generation_body(request: &GenerationRequest) -> (&'static str, serde_json::Value) {
    let mut options = serde_json::Map::new();
    options.insert("num_predict".into(), json!(request.max_tokens));
    if let Some(temperature) = request.temperature {
        options.insert("temperature".into(), json!(temperature));
    }
    if let Some(seed) = request.seed {
        options.insert("seed".into(), json!(seed));
    }
    if let Some(top_p) = request.top_p {
        options.insert("top_p".into(), json!(top_p));
    }
    if let Some(num_ctx) = request.num_ctx {
        options.insert("num_ctx".into(), json!(num_ctx));
    }
    if request.force_output {
        // Ollama has no `ignore_eos`: clearing the model's stop sequences is what it allows.
        options.insert("stop".into(), json!([]));
    }
    let (path, mut body) = match request.route {
        Route::Generate => (
            "/api/generate",
            json!({ "model": request.model, "prompt": request.prompt, "stream": true }),
        ),
        Route::Chat => (
            "/api/chat",
            json!({
                "model": request.model,
                "messages": [{ "role": "user", "content": request.prompt }],
                "stream": true,
            }),
        ),
    };
    body["options"] = serde_json::Value::Object(options);
    if let Some(keep_alive) = &request.keep_alive {
        body["keep_alive"] = json!(keep_alive);
    }
    if let Some(think) = request.think {
        body["think"] = json!(think);
    }
    (path, body)
}

// Lives here rather than in `results`, which sits below `backend` and knows nothing of it.
impl crate::results::ModelProvenance {
    /// Fills what `/api/show` and `/api/ps` say.
    pub fn fill(&mut self, show: Option<&ModelInfo>, loaded: Option<&LoadedModel>) {
        if let Some(show) = show {
            let details = &show.details;
            self.family = non_empty(&details.family).or(self.family.take());
            self.parameter_size = non_empty(&details.parameter_size).or(self.parameter_size.take());
            self.quantization = non_empty(&details.quantization_level).or(self.quantization.take());
        }
        if let Some(loaded) = loaded {
            self.digest = non_empty(&loaded.digest).or(self.digest.take());
            self.loaded_size_bytes = Some(loaded.size);
            self.size_vram_bytes = Some(loaded.size_vram);
            self.fully_in_gpu = Some(loaded.size > 0 && loaded.size_vram >= loaded.size);
        }
    }
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_bodies_use_ollamas_fields() {
        let mut request = GenerationRequest::new("m", "hi", 7);
        request.seed = Some(3);
        let (path, body) = generation_body(&request);
        assert_eq!(path, "/api/generate");
        assert_eq!(body["options"]["num_predict"], 7);
        assert_eq!(body["options"]["seed"], 3);
        assert_eq!(body["stream"], true);
        assert!(body["options"].get("stop").is_none());
        assert!(body["options"].get("num_ctx").is_none());
        request.route = Route::Chat;
        let (path, body) = generation_body(&request);
        assert_eq!(path, "/api/chat");
        assert_eq!(body["messages"][0]["content"], "hi");
        assert!(body.get("think").is_none(), "the server's default: {body}");
        request.think = Some(false);
        assert_eq!(generation_body(&request).1["think"], false);
    }

    #[test]
    fn forced_output_clears_stops_and_sampling_passes_through() {
        let mut request = GenerationRequest::new("m", "hi", 7);
        request.force_output = true;
        request.num_ctx = Some(8192);
        request.top_p = Some(0.9);
        request.temperature = Some(0.0);
        let (_, body) = generation_body(&request);
        let options = &body["options"];
        assert_eq!(options["stop"], json!([]));
        assert_eq!(options["num_ctx"], 8192);
        assert_eq!(options["top_p"], 0.9);
        assert_eq!(options["temperature"], 0.0);
    }
}

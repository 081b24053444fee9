//! Ollama's OpenAI-compatible routes (server-apis.md A6, transcripts 27-29):
//! `POST /v1/chat/completions`, `POST /v1/completions`, `GET /v1/models` and
//! `GET /v1/models/{model}`. They run the same generation as the native routes (so the same
//! request gives the same speed through both APIs); `max_tokens` becomes `num_predict`.
//!
//! A thinking model thinks unless the chat request says `reasoning_effort: "none"` (or
//! `reasoning: {"effort": "none"}`); its thinking streams first, as the delta's `reasoning`
//! (Ollama's name; vLLM and llama.cpp say `reasoning_content`). `/v1/completions` has no
//! field for it: a thinking token is a chunk with empty `text`, as Ollama sends.
//!
//! Streams are SSE: `data: {json}\n\n` chunks, a finish chunk, a usage chunk when
//! `stream_options.include_usage` is set, then `data: [DONE]\n\n`. Errors before the stream use
//! OpenAI's shape `{"error":{"message","type","param":null,"code":null}}`; an error after the
//! stream started is one `data: {"error":...}` event with no `[DONE]`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::catalogue::normalize_name;
use super::faults::FaultKind;
use super::generation::{self, GenerationJob, Metrics, TEMPLATE_TOKENS};
use super::routes::{chat_prompt_tokens, decode, installed, ChatMessage};
use super::streaming::{bytes_response, collected_reply, stream_reply, Framer};
use super::Sim;

/// OpenAI's error reply.
pub(crate) fn openai_error(status: u16, message: &str) -> Response {
    let kind = match status {
        400 => "invalid_request_error",
        404 => "not_found_error",
        _ => "api_error",
    };
    let body = json!({
        "error": { "message": message, "type": kind, "param": null, "code": null }
    });
    json_status_reply(status, &body)
}

fn json_reply(value: &Value) -> Response {
    json_status_reply(200, value)
}

fn json_status_reply(status: u16, value: &Value) -> Response {
    bytes_response(
        status,
        "application/json",
        Bytes::from(super::streaming::go_json(value)),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OpenAiMessage {
    role: String,
    /// A string, or an array of content parts with `text`.
    content: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChatCompletionRequest {
    model: String,
    messages: Vec<OpenAiMessage>,
    stream: bool,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<i64>,
    max_completion_tokens: Option<i64>,
    /// llama.cpp's name for the limit (sent with `ignore_eos`, which the simulator needs
    /// not: with a limit it always runs to it).
    n_predict: Option<i64>,
    seed: Option<i64>,
    reasoning_effort: Option<String>,
    reasoning: Option<Reasoning>,
}

/// `reasoning: {"effort": ...}`, which Ollama reads before `reasoning_effort`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Reasoning {
    effort: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CompletionRequest {
    model: String,
    prompt: Value,
    suffix: String,
    stream: bool,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<i64>,
    n_predict: Option<i64>,
    seed: Option<i64>,
}

/// What both completion routes read from their request.
trait OpenAiRequest: DeserializeOwned {
    fn model(&self) -> &str;

    /// The completion the request asks for: `prompt_tokens` in, at most `max_tokens` out.
    fn completion(self, kind: Kind, prompt_tokens: u64, max_tokens: Option<i64>) -> Completion;
}

macro_rules! openai_requests {
    ($($request:ty),*) => {$(
        impl OpenAiRequest for $request {
            fn model(&self) -> &str {
                &self.model
            }

            fn completion(
                self,
                kind: Kind,
                prompt_tokens: u64,
                max_tokens: Option<i64>,
            ) -> Completion {
                Completion {
                    kind,
                    include_usage: self
                        .stream_options
                        .as_ref()
                        .is_some_and(|o| o.include_usage),
                    model: self.model,
                    prompt_tokens,
                    max_tokens,
                    seed: self.seed,
                    stream: self.stream,
                    think: None,
                }
            }
        }
    )*};
}

openai_requests!(ChatCompletionRequest, CompletionRequest);

/// Decodes a completion request; a 400 reply for a body that is not one or names no model.
fn decode_request<R: OpenAiRequest>(body: &[u8]) -> Result<R, Box<Response>> {
    let request: R = decode(body).map_err(|message| Box::new(openai_error(400, &message)))?;
    if request.model().is_empty() {
        return Err(Box::new(openai_error(400, "model is required")));
    }
    Ok(request)
}

/// A completion to run, as either route asked for it.
struct Completion {
    kind: Kind,
    model: String,
    prompt_tokens: u64,
    max_tokens: Option<i64>,
    seed: Option<i64>,
    stream: bool,
    include_usage: bool,
    /// What the request asks: `None` leaves the model's default.
    think: Option<bool>,
}

fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// Which OpenAI object a stream is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Chat,
    Completion,
}

/// SSE chunks and JSON bodies of the two completion routes.
struct OpenAiFramer {
    kind: Kind,
    id: String,
    created: i64,
    model: String,
    include_usage: bool,
    /// The first chat chunk carries the role, as Ollama's do (every chunk, in fact).
    prompt_tokens: u64,
}

impl OpenAiFramer {
    fn new(sim: &Sim, kind: Kind, model: &str, include_usage: bool, prompt_tokens: u64) -> Self {
        let n: u32 = sim.request_rng().gen_range(0..999);
        let id = match kind {
            Kind::Chat => format!("chatcmpl-{n}"),
            Kind::Completion => format!("cmpl-{n}"),
        };
        OpenAiFramer {
            kind,
            id,
            created: chrono::Utc::now().timestamp(),
            model: model.to_string(),
            include_usage,
            prompt_tokens,
        }
    }

    fn event(value: &Value) -> Bytes {
        let mut bytes = b"data: ".to_vec();
        bytes.extend(super::streaming::go_json(value));
        bytes.extend_from_slice(b"\n\n");
        Bytes::from(bytes)
    }

    fn chunk(&self, choices: Value, usage: Option<Value>) -> Value {
        let object = match self.kind {
            Kind::Chat => "chat.completion.chunk",
            Kind::Completion => "text_completion",
        };
        self.envelope(object, choices, usage)
    }

    /// What every reply and chunk carries around its choices.
    fn envelope(&self, object: &str, choices: Value, usage: Option<Value>) -> Value {
        let mut value = json!({
            "id": self.id,
            "object": object,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_ollama",
            "choices": choices,
        });
        if let (Some(usage), Some(map)) = (usage, value.as_object_mut()) {
            map.insert("usage".into(), usage);
        }
        value
    }

    fn usage(&self, completion_tokens: u64) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        })
    }

    /// Completions with `include_usage` carry a zeroed usage on every chunk (A6).
    fn running_usage(&self) -> Option<Value> {
        (self.kind == Kind::Completion && self.include_usage)
            .then(|| json!({ "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0 }))
    }

    fn finish_reason(metrics: &Metrics) -> &'static str {
        metrics.done_reason
    }
}

impl Framer for OpenAiFramer {
    fn stream_content_type(&self) -> &'static str {
        "text/event-stream"
    }

    fn token(&mut self, piece: &str) -> Bytes {
        let choices = match self.kind {
            Kind::Chat => json!([{
                "index": 0,
                "delta": { "role": "assistant", "content": piece },
                "finish_reason": null,
            }]),
            Kind::Completion => json!([{ "text": piece, "index": 0, "finish_reason": null }]),
        };
        Self::event(&self.chunk(choices, self.running_usage()))
    }

    fn thinking(&mut self, piece: &str) -> Bytes {
        let choices = match self.kind {
            Kind::Chat => json!([{
                "index": 0,
                "delta": { "role": "assistant", "content": "", "reasoning": piece },
                "finish_reason": null,
            }]),
            Kind::Completion => json!([{ "text": "", "index": 0, "finish_reason": null }]),
        };
        Self::event(&self.chunk(choices, self.running_usage()))
    }

    fn done(&mut self, metrics: &Metrics) -> Vec<Bytes> {
        let reason = Self::finish_reason(metrics);
        let choices = match self.kind {
            Kind::Chat => json!([{
                "index": 0,
                "delta": { "role": "assistant", "content": "" },
                "finish_reason": reason,
            }]),
            Kind::Completion => json!([{ "text": "", "index": 0, "finish_reason": reason }]),
        };
        let mut chunks = vec![Self::event(&self.chunk(choices, self.running_usage()))];
        if self.include_usage {
            let usage = self.usage(metrics.eval_count);
            chunks.push(Self::event(&self.chunk(json!([]), Some(usage))));
        }
        chunks.push(Bytes::from_static(b"data: [DONE]\n\n"));
        chunks
    }

    fn error_line(&self, message: &str) -> Bytes {
        Self::event(&json!({
            "error": { "message": message, "type": "api_error", "param": null, "code": null }
        }))
    }

    fn malformed_line(&self) -> Bytes {
        Bytes::from_static(b"data: {\"id\":<simulated malformed event>\n\n")
    }

    fn error_response(&self, status: u16, message: &str) -> Response {
        openai_error(status, message)
    }

    fn collected(
        &mut self,
        text: &str,
        thinking: &str,
        metrics: &Metrics,
    ) -> (&'static str, Bytes) {
        let reason = Self::finish_reason(metrics);
        let mut message = json!({ "role": "assistant", "content": text });
        if !thinking.is_empty() {
            message["reasoning"] = json!(thinking);
        }
        let (object, choices) = match self.kind {
            Kind::Chat => (
                "chat.completion",
                json!([{
                    "index": 0,
                    "message": message,
                    "finish_reason": reason,
                }]),
            ),
            Kind::Completion => (
                "text_completion",
                json!([{ "text": text, "index": 0, "finish_reason": reason }]),
            ),
        };
        let value = self.envelope(object, choices, Some(self.usage(metrics.eval_count)));
        (
            "application/json",
            Bytes::from(super::streaming::go_json(&value)),
        )
    }
}

/// What both completion routes do once the request is read.
async fn complete(sim: Arc<Sim>, completion: Completion, entry: Instant) -> Response {
    let Completion {
        kind,
        model,
        prompt_tokens,
        max_tokens,
        seed,
        stream,
        include_usage,
        think,
    } = completion;
    let Some((name, catalogue_model)) = installed(&sim, &model) else {
        return openai_error(404, &format!("model '{model}' not found"));
    };
    if think == Some(true) && !catalogue_model.can_think() {
        return openai_error(400, &format!("\"{model}\" does not support thinking"));
    }
    let fault = sim.faults.decide(&name);
    if let Some(FaultKind::Status(code)) = fault {
        return openai_error(code, &format!("simulated fault: injected HTTP {code}"));
    }
    let job = GenerationJob {
        name,
        model: catalogue_model,
        prompt_tokens,
        num_predict: max_tokens.filter(|n| *n >= 0).map(|n| n as u64),
        keep_alive: sim.config.keep_alive,
        num_ctx: None,
        seed,
        think: think.unwrap_or(catalogue_model.can_think()),
        entry,
    };
    let framer = OpenAiFramer::new(&sim, kind, &model, include_usage, prompt_tokens);
    let events = generation::spawn(Arc::clone(&sim), job, model);
    if stream {
        stream_reply(events, framer, fault).await
    } else {
        collected_reply(events, framer, fault).await
    }
}

/// Reads a completion request and runs what it asks for; `read` checks what its route needs.
async fn completion_route<R: OpenAiRequest>(
    sim: Arc<Sim>,
    body: &[u8],
    read: fn(R) -> Result<Completion, Box<Response>>,
) -> Response {
    let entry = Instant::now();
    match decode_request(body).and_then(read) {
        Ok(completion) => complete(sim, completion, entry).await,
        Err(response) => *response,
    }
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat_completions(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    completion_route(sim, &body, ChatCompletionRequest::read).await
}

/// `POST /v1/completions`.
pub(crate) async fn completions(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    completion_route(sim, &body, CompletionRequest::read).await
}

impl ChatCompletionRequest {
    fn read(self) -> Result<Completion, Box<Response>> {
        if self.messages.is_empty() {
            return Err(Box::new(openai_error(400, "[] is too short - 'messages'")));
        }
        let messages: Vec<ChatMessage> = self
            .messages
            .iter()
            .map(|m| ChatMessage {
                role: m.role.clone(),
                content: Some(content_text(&m.content)),
                images: None,
            })
            .collect();
        let max_tokens = self
            .max_tokens
            .or(self.max_completion_tokens)
            .or(self.n_predict);
        let effort = match &self.reasoning {
            Some(reasoning) => reasoning.effort.clone(),
            None => self.reasoning_effort.clone(),
        };
        let think = match effort.as_deref() {
            None | Some("") => None,
            Some("none") => Some(false),
            Some("high" | "medium" | "low") => Some(true),
            Some(other) => {
                return Err(Box::new(openai_error(
                    400,
                    &format!("invalid reasoning value: '{other}' (must be \"high\", \"medium\", \"low\", or \"none\")"),
                )))
            }
        };
        let prompt_tokens = chat_prompt_tokens(&messages);
        Ok(Completion {
            think,
            ..self.completion(Kind::Chat, prompt_tokens, max_tokens)
        })
    }
}

impl CompletionRequest {
    fn read(self) -> Result<Completion, Box<Response>> {
        let prompt = match &self.prompt {
            Value::String(text) => text.clone(),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(""),
            _ => String::new(),
        };
        if prompt.is_empty() {
            return Err(Box::new(openai_error(400, "prompt is required")));
        }
        let prompt_tokens = generation::text_tokens(&prompt)
            + generation::text_tokens(&self.suffix)
            + TEMPLATE_TOKENS;
        let max_tokens = self.max_tokens.or(self.n_predict);
        Ok(self.completion(Kind::Completion, prompt_tokens, max_tokens))
    }
}

fn model_object(name: &str, modified_at: chrono::DateTime<chrono::Utc>) -> Value {
    // The owner is the name's namespace: `library` for the official models.
    let owner = name
        .rsplit_once('/')
        .map(|(path, _)| path.rsplit('/').next().unwrap_or("library"))
        .unwrap_or("library");
    json!({
        "id": name,
        "object": "model",
        "created": modified_at.timestamp(),
        "owned_by": owner,
    })
}

/// `GET /v1/models`. With no model, `data` is `null`, as Ollama's nil slice marshals.
pub(crate) async fn models(State(sim): State<Arc<Sim>>) -> Response {
    let data: Vec<Value> = sim
        .scheduler
        .installed_models()
        .into_iter()
        .map(|(name, installed)| model_object(&name, installed.modified_at))
        .collect();
    let data = if data.is_empty() {
        Value::Null
    } else {
        Value::Array(data)
    };
    json_reply(&json!({ "object": "list", "data": data }))
}

/// `GET /v1/models/{model}`.
pub(crate) async fn model(State(sim): State<Arc<Sim>>, Path(model): Path<String>) -> Response {
    let found = normalize_name(&model).and_then(|name| {
        sim.scheduler
            .installed_models()
            .into_iter()
            .find(|(installed, _)| *installed == name)
    });
    match found {
        Some((name, installed)) => json_reply(&model_object(&name, installed.modified_at)),
        None => openai_error(404, &format!("model '{model}' not found")),
    }
}

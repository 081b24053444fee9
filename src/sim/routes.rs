//! Ollama's native routes: `/`, version, tags, ps, show, delete, generate and chat (pull lives
//! in `pull.rs`, the `/v1` routes in `openai.rs`). Field names, units (nanoseconds), status
//! codes, content types and error texts follow the recorded Ollama 0.24.0 transcripts.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::catalogue::{normalize_name, CatalogueModel};
use super::faults::FaultKind;
use super::generation::{self, GenerationJob, Metrics, MESSAGE_TOKENS, TEMPLATE_TOKENS};
use super::keep_alive::KeepAlive;
use super::streaming::{
    bytes_response, collected_reply, error_json, json_response, now_created_at, stream_reply,
    Framer,
};
use super::{openai, pull, Sim, SIM_HEADER};

/// Every route of the simulator, with the simulator header on every response.
pub(crate) fn router(sim: Arc<Sim>) -> Router {
    let header_value = sim.header_value.clone();
    Router::new()
        .route("/", get(root))
        .route("/api/version", get(version))
        .route("/api/tags", get(tags))
        .route("/api/ps", get(ps))
        .route("/api/show", post(show))
        .route("/api/delete", axum::routing::delete(delete))
        .route("/api/generate", post(generate))
        .route("/api/chat", post(chat))
        .route("/api/pull", post(pull::pull))
        .route("/debug/gpu", get(super::gpu::debug_gpu))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/models", get(openai::models))
        .route("/v1/models/{*model}", get(openai::model))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(sim)
        .layer(axum::middleware::map_response(
            move |mut response: Response| {
                let value = header_value.clone();
                async move {
                    response.headers_mut().insert(SIM_HEADER, value);
                    response
                }
            },
        ))
}

/// Gin's answer to an unknown path.
async fn not_found() -> Response {
    bytes_response(404, "text/plain", Bytes::from_static(b"404 page not found"))
}

/// Gin's answer to a known path with the wrong method (Ollama sets `HandleMethodNotAllowed`);
/// axum adds the `Allow` header, as gin does.
async fn method_not_allowed() -> Response {
    bytes_response(
        405,
        "text/plain",
        Bytes::from_static(b"405 method not allowed"),
    )
}

async fn root() -> Response {
    bytes_response(
        200,
        "text/plain; charset=utf-8",
        Bytes::from_static(b"Ollama is running"),
    )
}

async fn version(State(sim): State<Arc<Sim>>) -> Response {
    json_response(200, &json!({ "version": sim.config.version }))
}

/// `details` of tags, ps and show.
pub(crate) fn details(model: &CatalogueModel) -> Value {
    json!({
        "parent_model": "",
        "format": "gguf",
        "family": model.family,
        "families": model.families,
        "parameter_size": model.parameter_size,
        "quantization_level": model.quantization_level,
    })
}

async fn tags(State(sim): State<Arc<Sim>>) -> Response {
    let models: Vec<Value> = sim
        .scheduler
        .installed_models()
        .into_iter()
        .map(|(name, installed)| {
            json!({
                "name": name,
                "model": name,
                "modified_at": super::streaming::go_time(installed.modified_at),
                "size": installed.model.size,
                "digest": installed.model.digest,
                "details": details(installed.model),
            })
        })
        .collect();
    json_response(200, &json!({ "models": models }))
}

async fn ps(State(sim): State<Arc<Sim>>) -> Response {
    let models: Vec<Value> = sim
        .scheduler
        .running()
        .into_iter()
        .map(|runner| {
            json!({
                "name": runner.name,
                "model": runner.name,
                "size": runner.size,
                "digest": runner.model.digest,
                "details": details(runner.model),
                "expires_at": super::streaming::go_time(runner.expires_at),
                "size_vram": runner.size_vram,
                "context_length": runner.context_length,
            })
        })
        .collect();
    json_response(200, &json!({ "models": models }))
}

/// Reads a JSON body the way Go's decoder reports problems (`unexpected EOF`, ...).
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("missing request body".into());
    }
    serde_json::from_slice(body).map_err(|error| go_json_error(&error, body))
}

fn go_json_error(error: &serde_json::Error, body: &[u8]) -> String {
    use serde_json::error::Category;
    match error.classify() {
        Category::Eof => "unexpected EOF".into(),
        Category::Syntax => {
            let text = String::from_utf8_lossy(body);
            let offending = text
                .lines()
                .nth(error.line().saturating_sub(1))
                .and_then(|line| line.chars().nth(error.column().saturating_sub(1)))
                .unwrap_or('?');
            format!("invalid character '{offending}' looking for beginning of value")
        }
        Category::Data => {
            let message = error.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_string();
            format!("json: cannot unmarshal: {message}")
        }
        Category::Io => error.to_string(),
    }
}

/// `{model | name}` of show, delete and pull.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct NameRequest {
    pub model: String,
    pub name: String,
    pub stream: Option<bool>,
    pub insecure: bool,
    pub verbose: bool,
}

impl NameRequest {
    pub(crate) fn requested(&self) -> &str {
        if self.model.is_empty() {
            &self.name
        } else {
            &self.model
        }
    }
}

/// The model that a show or delete body names; an error reply when it names none.
fn requested_name(body: &[u8]) -> Result<String, Box<Response>> {
    let request: NameRequest =
        decode(body).map_err(|message| Box::new(error_json(400, &message)))?;
    let requested = request.requested().to_string();
    if requested.trim().is_empty() {
        return Err(Box::new(error_json(400, "model is required")));
    }
    Ok(requested)
}

async fn show(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let requested = match requested_name(&body) {
        Ok(requested) => requested,
        Err(response) => return *response,
    };
    let Some((name, model)) = installed(&sim, &requested) else {
        return error_json(404, &format!("model '{requested}' not found"));
    };
    let modified_at = sim
        .scheduler
        .installed_models()
        .into_iter()
        .find(|(installed, _)| *installed == name)
        .map(|(_, installed)| super::streaming::go_time(installed.modified_at))
        .unwrap_or_else(now_created_at);
    let arch = model.architecture;
    let mut model_info = Map::new();
    model_info.insert("general.architecture".into(), json!(arch));
    model_info.insert(
        "general.basename".into(),
        json!(model.name.split(':').next().unwrap_or(model.name)),
    );
    model_info.insert("general.file_type".into(), json!(model.file_type));
    model_info.insert(
        "general.parameter_count".into(),
        json!(model.parameter_count),
    );
    model_info.insert("general.quantization_version".into(), json!(2));
    model_info.insert("general.size_label".into(), json!(model.parameter_size));
    model_info.insert("general.type".into(), json!("model"));
    for (key, value) in [
        ("attention.head_count", model.head_count),
        ("attention.head_count_kv", model.head_count_kv),
        ("block_count", model.block_count),
        ("context_length", model.context_length),
        ("embedding_length", model.embedding_length),
    ] {
        model_info.insert(format!("{arch}.{key}"), json!(value));
    }
    let weights = model
        .layers
        .first()
        .map(|layer| layer.digest.replace(':', "-"))
        .unwrap_or_default();
    let mut modelfile = format!(
        "# Modelfile generated by \"ollama show\"\n# To build a new Modelfile based on this, \
         replace FROM with:\n# FROM {name}\n\nFROM /var/lib/ollama/models/blobs/{weights}\n\
         TEMPLATE \"\"\"{}\"\"\"\n",
        model.template
    );
    for line in model.parameters.lines() {
        let mut parts = line.split_whitespace();
        if let (Some(key), Some(value)) = (parts.next(), parts.next()) {
            modelfile.push_str(&format!("PARAMETER {key} {}\n", value.trim_matches('"')));
        }
    }
    if !model.license.is_empty() {
        modelfile.push_str(&format!("LICENSE \"\"\"{}\"\"\"\n", model.license));
    }
    let mut reply = Map::new();
    if !model.license.is_empty() {
        reply.insert("license".into(), json!(model.license));
    }
    reply.insert("modelfile".into(), json!(modelfile));
    reply.insert("parameters".into(), json!(model.parameters));
    reply.insert("template".into(), json!(model.template));
    reply.insert("details".into(), details(model));
    reply.insert("model_info".into(), Value::Object(model_info));
    reply.insert("capabilities".into(), json!(model.capabilities));
    reply.insert("modified_at".into(), json!(modified_at));
    json_response(200, &Value::Object(reply))
}

async fn delete(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let requested = match requested_name(&body) {
        Ok(requested) => requested,
        Err(response) => return *response,
    };
    let deleted = normalize_name(&requested).is_some_and(|name| sim.scheduler.delete(&name));
    if deleted {
        StatusCode::OK.into_response()
    } else {
        error_json(404, &format!("model '{requested}' not found"))
    }
}

/// The installed model a request names.
pub(crate) fn installed(sim: &Sim, requested: &str) -> Option<(String, &'static CatalogueModel)> {
    let name = normalize_name(requested)?;
    let model = sim.scheduler.installed(&name)?;
    Some((name, model))
}

/// The options generation uses.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct GenOptions {
    pub num_predict: Option<u64>,
    pub num_ctx: Option<u64>,
    pub seed: Option<i64>,
}

impl GenOptions {
    /// Reads `options`; unknown keys and values of the wrong type are ignored, as Ollama logs
    /// and ignores them.
    pub(crate) fn read(options: Option<&Map<String, Value>>) -> GenOptions {
        let Some(options) = options else {
            return GenOptions::default();
        };
        let number = |key: &str| options.get(key).and_then(Value::as_f64);
        GenOptions {
            num_predict: number("num_predict")
                .filter(|n| *n >= 0.0)
                .map(|n| n as u64),
            num_ctx: number("num_ctx").filter(|n| *n > 0.0).map(|n| n as u64),
            seed: number("seed").filter(|n| *n >= 0.0).map(|n| n as i64),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GenerateRequest {
    model: String,
    prompt: String,
    suffix: String,
    system: String,
    template: String,
    context: Option<Vec<i64>>,
    raw: bool,
    stream: Option<bool>,
    keep_alive: Value,
    options: Option<Map<String, Value>>,
    images: Option<Vec<Value>>,
    think: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ChatMessage {
    pub role: String,
    pub content: Option<String>,
    pub images: Option<Vec<Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChatRequest {
    model: String,
    messages: Option<Vec<ChatMessage>>,
    stream: Option<bool>,
    keep_alive: Value,
    options: Option<Map<String, Value>>,
    think: Option<Value>,
}

/// What generate and chat have in common once parsed.
struct Common {
    requested: String,
    keep_alive: Option<KeepAlive>,
    think: Option<Value>,
    stream: bool,
    chat: bool,
}

/// Generate and chat requests, which name their model, keep_alive, think and stream alike.
trait NativeRequest: DeserializeOwned {
    /// What the request says besides its prompt; an error reply for a keep_alive Ollama would
    /// reject.
    fn common(&self) -> Result<Common, Box<Response>>;
}

macro_rules! native_requests {
    ($($request:ty => $chat:literal),*) => {$(
        impl NativeRequest for $request {
            fn common(&self) -> Result<Common, Box<Response>> {
                let keep_alive = KeepAlive::from_json(&self.keep_alive)
                    .map_err(|message| Box::new(error_json(400, &message)))?;
                Ok(Common {
                    requested: self.model.clone(),
                    keep_alive,
                    think: self.think.clone(),
                    stream: self.stream != Some(false),
                    chat: $chat,
                })
            }
        }
    )*};
}

native_requests!(GenerateRequest => false, ChatRequest => true);

/// Decodes a generate or chat body and reads what it shares with the other.
fn decode_native<R: NativeRequest>(body: &[u8]) -> Result<(R, Common), Box<Response>> {
    let request: R = decode(body).map_err(|message| Box::new(error_json(400, &message)))?;
    let common = request.common()?;
    Ok((request, common))
}

/// Checks shared by generate and chat; an error reply, or the model.
fn resolve(sim: &Sim, common: &Common) -> Result<(String, &'static CatalogueModel), Box<Response>> {
    let not_found = || error_json(404, &format!("model '{}' not found", common.requested));
    let (name, model) = installed(sim, &common.requested).ok_or_else(|| Box::new(not_found()))?;
    if asks_to_think(common.think.as_ref()) == Some(true) && !model.can_think() {
        return Err(Box::new(error_json(
            400,
            &format!("\"{}\" does not support thinking", common.requested),
        )));
    }
    Ok((name, model))
}

/// What a request's `think` asks for: `None` (absent or null) leaves the model's default;
/// any value but `false` (`true`, Ollama's levels `"high"`...) asks to think.
pub(crate) fn asks_to_think(think: Option<&Value>) -> Option<bool> {
    match think? {
        Value::Null => None,
        Value::Bool(think) => Some(*think),
        _ => Some(true),
    }
}

/// Load-only (empty prompt) and unload (empty prompt, `keep_alive: 0`) replies.
async fn load_or_unload(
    sim: &Arc<Sim>,
    common: &Common,
    name: &str,
    model: &'static CatalogueModel,
    num_ctx: Option<u64>,
) -> Response {
    let created_at = now_created_at();
    let reply = |reason: &str| {
        if common.chat {
            json!({
                "model": common.requested,
                "created_at": created_at,
                "message": { "role": "assistant", "content": "" },
                "done": true,
                "done_reason": reason,
            })
        } else {
            json!({
                "model": common.requested,
                "created_at": created_at,
                "response": "",
                "done": true,
                "done_reason": reason,
            })
        }
    };
    if common.keep_alive.is_some_and(|k| k.is_zero()) {
        sim.scheduler.request_unload(name);
        return json_response(200, &reply("unload"));
    }
    let keep_alive = common.keep_alive.unwrap_or(sim.config.keep_alive);
    let lease = sim
        .scheduler
        .acquire(name, model, keep_alive, num_ctx)
        .await;
    let outcome = match lease {
        Ok(mut lease) => lease.ready().await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => json_response(200, &reply("load")),
        Err(error) => {
            let failure = generation::Failure::from_sched(error, &common.requested);
            error_json(failure.status, &failure.message)
        }
    }
}

/// Runs a generation of `prompt_tokens` and replies streamed or collected, with faults applied.
async fn generate_reply(
    sim: &Arc<Sim>,
    common: &Common,
    (name, model): (String, &'static CatalogueModel),
    prompt_tokens: u64,
    options: GenOptions,
    entry: Instant,
) -> Response {
    let job = GenerationJob {
        name,
        model,
        prompt_tokens,
        num_predict: options.num_predict,
        keep_alive: common.keep_alive.unwrap_or(sim.config.keep_alive),
        num_ctx: options.num_ctx,
        seed: options.seed,
        // As Ollama 0.24: a thinking model thinks unless told not to.
        think: asks_to_think(common.think.as_ref()).unwrap_or(model.can_think()),
        entry,
    };
    let framer = NativeFramer::new(&common.requested, common.chat);
    let fault = sim.faults.decide(&job.name);
    if let Some(FaultKind::Status(code)) = fault {
        return error_json(code, &format!("simulated fault: injected HTTP {code}"));
    }
    let events = generation::spawn(Arc::clone(sim), job, common.requested.clone());
    if common.stream {
        stream_reply(events, framer, fault).await
    } else {
        collected_reply(events, framer, fault).await
    }
}

async fn generate(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let entry = Instant::now();
    let (request, common) = match decode_native::<GenerateRequest>(&body) {
        Ok(decoded) => decoded,
        Err(response) => return *response,
    };
    let (name, model) = match resolve(&sim, &common) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    if request.raw
        && (!request.template.is_empty()
            || !request.system.is_empty()
            || request.context.as_ref().is_some_and(|c| !c.is_empty()))
    {
        return error_json(
            400,
            "raw mode does not support template, system, or context",
        );
    }
    let options = GenOptions::read(request.options.as_ref());
    let has_images = request.images.as_ref().is_some_and(|i| !i.is_empty());
    if request.prompt.is_empty() && !has_images {
        return load_or_unload(&sim, &common, &name, model, options.num_ctx).await;
    }
    let mut prompt_tokens = generation::text_tokens(&request.prompt)
        + generation::text_tokens(&request.system)
        + generation::text_tokens(&request.suffix)
        + request.context.as_ref().map_or(0, |c| c.len() as u64);
    if !request.raw {
        prompt_tokens += TEMPLATE_TOKENS;
    }
    let tokens = prompt_tokens.max(1);
    generate_reply(&sim, &common, (name, model), tokens, options, entry).await
}

async fn chat(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let entry = Instant::now();
    let (request, common) = match decode_native::<ChatRequest>(&body) {
        Ok(decoded) => decoded,
        Err(response) => return *response,
    };
    // Unlike generate (transcript 34), Ollama's chat handler rejects an invalid name as missing.
    if normalize_name(&request.model).is_none() {
        return error_json(400, "model is required");
    }
    let (name, model) = match resolve(&sim, &common) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let options = GenOptions::read(request.options.as_ref());
    let messages = request.messages.unwrap_or_default();
    if messages.is_empty() {
        return load_or_unload(&sim, &common, &name, model, options.num_ctx).await;
    }
    let tokens = chat_prompt_tokens(&messages);
    generate_reply(&sim, &common, (name, model), tokens, options, entry).await
}

/// Prompt tokens of a conversation: content, role markers and the template.
pub(crate) fn chat_prompt_tokens(messages: &[ChatMessage]) -> u64 {
    TEMPLATE_TOKENS
        + messages
            .iter()
            .map(|m| MESSAGE_TOKENS + generation::text_tokens(m.content.as_deref().unwrap_or("")))
            .sum::<u64>()
}

/// NDJSON chunks of generate and chat.
pub(crate) struct NativeFramer {
    /// The model name as the client wrote it, JSON-encoded once.
    model_json: String,
    chat: bool,
}

impl NativeFramer {
    pub(crate) fn new(model: &str, chat: bool) -> Self {
        NativeFramer {
            model_json: String::from_utf8(super::streaming::go_json(model)).unwrap_or_default(),
            chat,
        }
    }

    fn final_object(&self, text: &str, thinking: &str, metrics: &Metrics) -> Value {
        let model: Value = serde_json::from_str(&self.model_json).unwrap_or(Value::Null);
        let mut object = Map::new();
        object.insert("model".into(), model);
        object.insert("created_at".into(), json!(now_created_at()));
        // `thinking` is `omitempty` in Ollama's types.
        if self.chat {
            let mut message = json!({ "role": "assistant", "content": text });
            if !thinking.is_empty() {
                message["thinking"] = json!(thinking);
            }
            object.insert("message".into(), message);
        } else {
            object.insert("response".into(), json!(text));
            if !thinking.is_empty() {
                object.insert("thinking".into(), json!(thinking));
            }
        }
        object.insert("done".into(), json!(true));
        object.insert("done_reason".into(), json!(metrics.done_reason));
        if !self.chat {
            object.insert("context".into(), json!(metrics.context));
        }
        let nanos = |d: std::time::Duration| json!(d.as_nanos() as u64);
        object.insert("total_duration".into(), nanos(metrics.total_duration));
        object.insert("load_duration".into(), nanos(metrics.load_duration));
        object.insert("prompt_eval_count".into(), json!(metrics.prompt_eval_count));
        object.insert(
            "prompt_eval_duration".into(),
            nanos(metrics.prompt_eval_duration),
        );
        object.insert("eval_count".into(), json!(metrics.eval_count));
        object.insert("eval_duration".into(), nanos(metrics.eval_duration));
        Value::Object(object)
    }
}

impl NativeFramer {
    /// One streamed chunk: answer text, or (with an empty answer) thinking text, which goes
    /// after `response` in generate's chunks and after `content` in chat's message.
    fn chunk(&self, text: &str, thinking: &str) -> Bytes {
        let text = String::from_utf8(super::streaming::go_json(text)).unwrap_or_default();
        let thinking = if thinking.is_empty() {
            String::new()
        } else {
            let json = String::from_utf8(super::streaming::go_json(thinking)).unwrap_or_default();
            format!(",\"thinking\":{json}")
        };
        let created_at = now_created_at();
        let line = if self.chat {
            format!(
                "{{\"model\":{},\"created_at\":\"{created_at}\",\"message\":{{\"role\":\"assistant\",\"content\":{text}{thinking}}},\"done\":false}}\n",
                self.model_json
            )
        } else {
            format!(
                "{{\"model\":{},\"created_at\":\"{created_at}\",\"response\":{text}{thinking},\"done\":false}}\n",
                self.model_json
            )
        };
        Bytes::from(line)
    }
}

fn line(value: &Value) -> Bytes {
    let mut bytes = super::streaming::go_json(value);
    bytes.push(b'\n');
    Bytes::from(bytes)
}

impl Framer for NativeFramer {
    fn stream_content_type(&self) -> &'static str {
        "application/x-ndjson"
    }

    fn token(&mut self, piece: &str) -> Bytes {
        self.chunk(piece, "")
    }

    fn thinking(&mut self, piece: &str) -> Bytes {
        self.chunk("", piece)
    }

    fn done(&mut self, metrics: &Metrics) -> Vec<Bytes> {
        vec![line(&self.final_object("", "", metrics))]
    }

    fn error_line(&self, message: &str) -> Bytes {
        line(&json!({ "error": message }))
    }

    fn malformed_line(&self) -> Bytes {
        Bytes::from(format!(
            "{{\"model\":{},\"created_at\":<simulated malformed line>\n",
            self.model_json
        ))
    }

    fn error_response(&self, status: u16, message: &str) -> Response {
        error_json(status, message)
    }

    fn collected(
        &mut self,
        text: &str,
        thinking: &str,
        metrics: &Metrics,
    ) -> (&'static str, Bytes) {
        let body = super::streaming::go_json(&self.final_object(text, thinking, metrics));
        ("application/json; charset=utf-8", Bytes::from(body))
    }
}

/// A header value that cannot fail: the simulator header is plain ASCII.
pub(crate) fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("simulator"))
}

/// Calls the handler of a route directly, without a socket or the router's middleware: the
/// paused-clock tests drive the server this way.
#[cfg(test)]
pub(crate) async fn call(sim: &Arc<Sim>, path: &str, body: Value) -> Response {
    let state = State(Arc::clone(sim));
    let bytes = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    match path {
        "/api/generate" => generate(state, bytes).await,
        "/api/chat" => chat(state, bytes).await,
        "/api/pull" => pull::pull(state, bytes).await,
        "/api/ps" => ps(state).await,
        "/api/tags" => tags(state).await,
        "/v1/completions" => openai::completions(state, bytes).await,
        "/v1/chat/completions" => openai::chat_completions(state, bytes).await,
        _ => not_found().await,
    }
}

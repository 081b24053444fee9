//! Client of the OpenAI-compatible API (vLLM, llama.cpp's llama-server, TGI, SGLang, and
//! Ollama's `/v1` routes): streamed chat and completions over server-sent events, the model
//! list, which server answers (for provenance), and llama.cpp's router-mode model loads.
//!
//! What the servers send, and how it is read (see `reference/server-apis.md` part B and A6):
//! - Events are `data: {json}` lines; `data: [DONE]` ends the stream. Comment lines (`:`,
//!   llama.cpp's keep-alive pings), blank lines and the other SSE fields are skipped. Each
//!   `data:` line is one event: none of these servers splits JSON over several lines.
//! - Output tokens come from the server's `usage.completion_tokens` (vLLM and Ollama send a
//!   last chunk with `choices: []`; llama.cpp puts usage on its last chunk). Without usage,
//!   every content chunk counts as one token and the record says so
//!   ([`TokenCountSource::ContentChunks`]). Ollama's `/v1/completions` puts a zeroed usage on
//!   every chunk; an all-zero usage is not taken as a count.
//! - Tokens per chunk: the request asks for vLLM's `continuous_usage_stats` and llama.cpp's
//!   `timings_per_token`, which put a running token count on every chunk. When every content
//!   chunk has one, the record keeps the tokens each chunk carried, so rates and ITL are per
//!   token even when a chunk holds several (llama.cpp holds back incomplete UTF-8 and partial
//!   stop words; vLLM batches under load). Servers that do not know these fields ignore them.
//! - llama.cpp's `timings` (last chunk) fill [`ServerTimings`]: `prompt_n` and `prompt_ms`
//!   are the prompt evaluation (cached tokens excluded); `predicted_ms` is `eval_duration`,
//!   and `eval_count` the tokens decoded within it. Current llama.cpp starts that clock after
//!   the first token (which comes out of the prompt batch), so `eval_count` is
//!   `predicted_n - 1` and `eval_count / eval_duration` equals its `predicted_per_second`;
//!   the output token count stays `usage.completion_tokens`. A one-token generation has no
//!   decode time.
//! - Errors before the stream are an HTTP status with a JSON body in one of several shapes
//!   (`{"error":{"message",...}}` from vLLM, llama.cpp, Ollama and OpenAI; vLLM's older flat
//!   `{"object":"error","message"}`; `{"error":"text"}`; FastAPI's `{"detail":...}`). An error
//!   inside a 200 stream is a `data: {"error":...}` event: llama.cpp then closes without
//!   `[DONE]`, vLLM sends `[DONE]` after it; either way the request fails at the error.
//! - A stream that ends without `[DONE]` and without a `finish_reason` was cut.
//!
//! The hot path allocates nothing per token beyond amortized growth of the record's vectors:
//! lines are slices of the line reader's buffer, events borrow from the line, and only the
//! first choice of an event is decoded (content is only checked for being non-empty). The one
//! exception is a content string with JSON escapes (`\n`, `\"`), which serde_json unescapes
//! into a small buffer of its own.
//!
//! llama.cpp's server closes the connection after every streamed reply although it announces
//! keep-alive; a request that went out on such a pooled connection is sent once more on a new
//! one, timed from the new send.
//!
//! The API key travels only in the `Authorization` header, marked sensitive, and never
//! appears in `Debug` output, errors or logs.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{RequestBuilder, Response};
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::stream::{excerpt, LineStream};
use super::{
    error_chain, error_message, error_message_of, send_request, GenerationRecord,
    GenerationRequest, RequestError, Route, ServerTimings, TimeoutPhase, Timeouts,
    TokenCountSource,
};

/// The most of an error body or JSON reply that is read.
const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;
/// Content chunks reserved up front; longer generations grow the vectors as usual.
const RESERVED_CHUNKS: usize = 4096;
/// How long reading the end of a body after `[DONE]` may take. Reading it lets the
/// connection go back to the pool; the measurement is already complete by then.
const DRAIN_AFTER_DONE: Duration = Duration::from_millis(250);
/// How often a router-mode load is polled.
const LOAD_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// The longest a provenance probe waits.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one OpenAI-compatible server.
#[derive(Clone)]
pub struct OpenAiClient {
    base_url: String,
    timeouts: Timeouts,
    http: reqwest::Client,
    /// `Bearer <key>`, marked sensitive so that `http` never prints it.
    authorization: Option<HeaderValue>,
}

impl fmt::Debug for OpenAiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiClient")
            .field("base_url", &self.base_url)
            .field("timeouts", &self.timeouts)
            .field(
                "api_key",
                &if self.authorization.is_some() {
                    "<redacted>"
                } else {
                    "<none>"
                },
            )
            .finish()
    }
}

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

/// A model load timed through llama.cpp's router mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterLoad {
    /// From the load request until `GET /models` said `loaded` (zero when it already was).
    pub elapsed: Duration,
    /// The model was running before the request, so nothing was loaded.
    pub already_loaded: bool,
}

impl OpenAiClient {
    /// A client of the server at `base_url` (`http://host:port`; a trailing `/v1` is
    /// accepted and dropped, since OpenAI clients often name the API root). An empty
    /// `api_key` counts as none.
    pub fn new(
        base_url: &str,
        timeouts: Timeouts,
        api_key: Option<String>,
    ) -> Result<Self, RequestError> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let trimmed = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
        if let Err(err) = reqwest::Url::parse(trimmed) {
            return Err(RequestError::Other(format!(
                "the endpoint `{trimmed}` is not a URL ({err}): give one such as http://localhost:8000"
            )));
        }
        let authorization = match api_key.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(key) => {
                // The key itself is never echoed, not even in this error.
                let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                    RequestError::Other(
                        "the API key contains characters that an HTTP header cannot carry: \
                         check --api-key / OPENAI_API_KEY"
                            .into(),
                    )
                })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .tcp_nodelay(true)
            .build()
            .map_err(|err| {
                RequestError::Other(format!(
                    "cannot build the HTTP client: {}",
                    error_chain(&err)
                ))
            })?;
        Ok(OpenAiClient {
            base_url: trimmed.to_string(),
            timeouts,
            http,
            authorization,
        })
    }

    /// The server's base URL, without a trailing `/` or `/v1`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Runs one streamed generation (`/v1/chat/completions` for [`Route::Chat`],
    /// `/v1/completions` for [`Route::Generate`]) and measures it.
    pub async fn generate(
        &self,
        request: &GenerationRequest,
    ) -> Result<GenerationRecord, RequestError> {
        let chat_message;
        let (path, body) = match request.route {
            Route::Chat => {
                chat_message = [ChatMessage {
                    role: "user",
                    content: &request.prompt,
                }];
                (
                    "/v1/chat/completions",
                    CompletionBody::new(request, Some(&chat_message), None),
                )
            }
            Route::Generate => (
                "/v1/completions",
                CompletionBody::new(request, None, Some(&request.prompt)),
            ),
        };
        let body = serde_json::to_vec(&body)
            .map_err(|err| RequestError::Other(format!("cannot encode the request: {err}")))?;
        let url = self.url(path);

        let (wait, phase) = self.header_wait();
        let (response, start) = self
            .send(
                self.http
                    .post(&url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body),
                &url,
                wait,
                phase,
            )
            .await?;
        let deadline = start + self.timeouts.total;
        if !response.status().is_success() {
            return Err(self.status_error(&url, response).await);
        }
        if let Some(kind) = non_stream_content_type(&response) {
            let reply = read_capped(response, 512, self.timeouts.first_byte).await;
            return Err(RequestError::Malformed {
                detail: format!(
                    "the server answered with {kind}, not a stream of server-sent events"
                ),
                excerpt: excerpt(&reply),
            });
        }

        let mut lines = LineStream::new(
            response,
            self.timeouts.first_byte,
            deadline,
            self.timeouts.total,
        );
        let mut stream = StreamAccumulator::new(request.max_tokens);
        let mut saw_done = false;
        while let Some(line) = lines.next_line().await? {
            if stream.on_line(line, start.elapsed())? {
                saw_done = true;
                break;
            }
        }
        let total = start.elapsed();
        if saw_done {
            // The measurement is complete; reading the body's end keeps the connection.
            let _ = tokio::time::timeout(DRAIN_AFTER_DONE, async {
                while let Ok(Some(_)) = lines.next_line().await {}
            })
            .await;
        } else if stream.done_reason.is_none() {
            return Err(stream.cut());
        }
        Ok(stream.finish(total))
    }

    /// The ids of the models the server offers (`GET /v1/models`).
    pub async fn models(&self) -> Result<Vec<String>, RequestError> {
        let list: ModelList = self
            .get_json("/v1/models", self.timeouts.first_byte)
            .await?;
        Ok(list
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|card| card.id)
            .collect())
    }

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
                    .get(super::SIM_HEADER)
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

    /// Loads `model` through llama.cpp's router mode (`POST /models/load`, then polling
    /// `GET /models` until its status is `loaded`) and times it. `Ok(None)` when the server
    /// has no router mode (a single-model llama-server, vLLM, Ollama): model loads cannot be
    /// timed through the OpenAI API there.
    pub async fn load_model_timed(&self, model: &str) -> Result<Option<RouterLoad>, RequestError> {
        let url = self.url("/models/load");
        let (wait, phase) = self.header_wait();
        let (response, start) = self
            .send(
                self.http
                    .post(&url)
                    .json(&serde_json::json!({ "model": model })),
                &url,
                wait,
                phase,
            )
            .await?;
        let deadline = start + self.timeouts.total;
        if !response.status().is_success() {
            return match self.status_error(&url, response).await {
                // The router knows the route but not the model: that is the user's error.
                RequestError::Status {
                    status: 404,
                    message,
                    ..
                } if message == "model is not found" => Err(RequestError::Status {
                    status: 404,
                    url,
                    message: format!("model '{model}' is not found by the llama.cpp router"),
                }),
                RequestError::Status {
                    status: 404 | 405 | 501,
                    ..
                } => Ok(None),
                RequestError::Status {
                    status: 400,
                    message,
                    ..
                } if message.contains("already running") => Ok(Some(RouterLoad {
                    elapsed: Duration::ZERO,
                    already_loaded: true,
                })),
                other => Err(other),
            };
        }
        let mut poll = tokio::time::interval(LOAD_POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen_loading = false;
        loop {
            poll.tick().await;
            if Instant::now() >= deadline {
                return Err(RequestError::Timeout {
                    phase: TimeoutPhase::Total,
                    after: self.timeouts.total,
                });
            }
            let list: RouterModelList = self.get_json("/models", self.timeouts.first_byte).await?;
            let entry = list
                .data
                .unwrap_or_default()
                .into_iter()
                .find(|entry| entry.id == model || entry.aliases.iter().any(|a| a == model));
            let Some(entry) = entry else {
                return Err(RequestError::Other(format!(
                    "the llama.cpp router accepted the load of '{model}' but does not list it in /models"
                )));
            };
            let status = entry.status.unwrap_or_default();
            if status.failed {
                return Err(RequestError::Other(format!(
                    "llama.cpp failed to load '{model}' (its child exited with code {}): see the server's log",
                    status
                        .exit_code
                        .map_or_else(|| "?".to_string(), |code| code.to_string())
                )));
            }
            match status.value.as_deref() {
                Some("loaded") => {
                    return Ok(Some(RouterLoad {
                        elapsed: start.elapsed(),
                        already_loaded: false,
                    }))
                }
                Some("loading") => seen_loading = true,
                // Back to unloaded without a failure flag: the child stopped during the load.
                Some("unloaded") if seen_loading => {
                    return Err(RequestError::Other(format!(
                        "llama.cpp's load of '{model}' ended without the model loaded: see the server's log"
                    )))
                }
                _ => {}
            }
        }
    }

    fn url(&self, path: &str) -> String {
        let mut url = String::with_capacity(self.base_url.len() + path.len());
        url.push_str(&self.base_url);
        url.push_str(path);
        url
    }

    /// Sends a request with the API key and waits at most `wait` for the response headers;
    /// returns the response and the moment the request was sent.
    ///
    /// A request that fails because the pooled connection it went out on had been closed by
    /// the server is sent once more, on a new connection, with a new start: llama.cpp's
    /// server closes the connection after every streamed reply although it announces
    /// keep-alive, and the next request often leaves before the client has seen the close.
    /// That lost attempt says nothing about the server's latency.
    async fn send(
        &self,
        builder: RequestBuilder,
        url: &str,
        wait: Duration,
        phase: TimeoutPhase,
    ) -> Result<(Response, Instant), RequestError> {
        let builder = match &self.authorization {
            Some(value) => builder.header(AUTHORIZATION, value.clone()),
            None => builder,
        };
        send_request(builder, url, &self.timeouts, wait, phase).await
    }

    /// The wait for response headers of a generation: the first-byte timeout, or the whole
    /// request's when that is shorter.
    fn header_wait(&self) -> (Duration, TimeoutPhase) {
        if self.timeouts.first_byte <= self.timeouts.total {
            (self.timeouts.first_byte, TimeoutPhase::FirstByte)
        } else {
            (self.timeouts.total, TimeoutPhase::Total)
        }
    }

    /// A GET whose JSON reply is decoded whole; `wait` bounds the headers and the body each.
    async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        wait: Duration,
    ) -> Result<T, RequestError> {
        let url = self.url(path);
        let (response, _) = self
            .send(self.http.get(&url), &url, wait, TimeoutPhase::FirstByte)
            .await?;
        if !response.status().is_success() {
            return Err(self.status_error(&url, response).await);
        }
        let body = read_body(response, MAX_REPLY_BYTES, wait).await?;
        serde_json::from_slice(&body).map_err(|err| RequestError::Malformed {
            detail: format!("unexpected reply from {url}: {err}"),
            excerpt: excerpt(&body),
        })
    }

    /// An HTTP error status with the server's message, whatever shape it came in.
    async fn status_error(&self, url: &str, response: Response) -> RequestError {
        let status = response.status();
        let body = read_capped(response, 64 * 1024, self.timeouts.first_byte).await;
        let message = error_message(&body).unwrap_or_else(|| {
            let text = excerpt(&body);
            if text.trim().is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("no message")
                    .to_string()
            } else {
                text
            }
        });
        RequestError::Status {
            status: status.as_u16(),
            url: url.to_string(),
            message,
        }
    }
}

/// `Some(type)` when a 200 reply is plainly not an event stream.
fn non_stream_content_type(response: &Response) -> Option<String> {
    let value = response.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or("").trim();
    let plain_json = essence.eq_ignore_ascii_case("application/json")
        || essence.eq_ignore_ascii_case("application/x-ndjson");
    plain_json.then(|| essence.to_string())
}

/// Reads at most `limit` bytes of a body; whatever arrived when the time or the body ends.
async fn read_capped(mut response: Response, limit: usize, wait: Duration) -> Vec<u8> {
    let mut body = Vec::new();
    let _ = tokio::time::timeout(wait, async {
        while body.len() < limit {
            match response.chunk().await {
                Ok(Some(bytes)) => body.extend_from_slice(&bytes),
                _ => break,
            }
        }
    })
    .await;
    body.truncate(limit);
    body
}

/// Reads a whole body of at most `limit` bytes within `wait`.
async fn read_body(
    mut response: Response,
    limit: usize,
    wait: Duration,
) -> Result<Vec<u8>, RequestError> {
    let read = async {
        let mut body = Vec::new();
        while let Some(bytes) = response.chunk().await.map_err(|err| RequestError::Cut {
            detail: error_chain(&err),
        })? {
            body.extend_from_slice(&bytes);
            if body.len() > limit {
                return Err(RequestError::Malformed {
                    detail: format!("the reply is larger than {limit} bytes"),
                    excerpt: excerpt(&body[..200]),
                });
            }
        }
        Ok(body)
    };
    tokio::time::timeout(wait, read)
        .await
        .unwrap_or(Err(RequestError::Timeout {
            phase: TimeoutPhase::FirstByte,
            after: wait,
        }))
}

/// One line of a server-sent event stream, classified.
enum SseLine<'a> {
    Skip,
    Done,
    Data(&'a [u8]),
}

fn sse_payload(line: &[u8]) -> Result<SseLine<'_>, RequestError> {
    // Blank lines end events; `:` starts a comment (keep-alive pings).
    if line.is_empty() || line[0] == b':' {
        return Ok(SseLine::Skip);
    }
    if let Some(rest) = line.strip_prefix(b"data:") {
        let payload = rest.strip_prefix(b" ").unwrap_or(rest);
        let payload = payload.trim_ascii();
        if payload == b"[DONE]" {
            return Ok(SseLine::Done);
        }
        if payload.is_empty() {
            return Ok(SseLine::Skip);
        }
        return Ok(SseLine::Data(payload));
    }
    // The other fields of the SSE format carry nothing a benchmark needs.
    for field in [&b"event:"[..], b"id:", b"retry:"] {
        if line.starts_with(field) {
            return Ok(SseLine::Skip);
        }
    }
    Err(RequestError::Malformed {
        detail: "a line that is not a server-sent event (expected `data: ...`)".into(),
        excerpt: excerpt(line),
    })
}

/// Reads the lines of a server-sent event stream (each without its `\n`) as
/// [`OpenAiClient::generate`] reads a server's reply, timed from the call: the record, or the
/// error `generate` would give. Needs no server; the fuzz targets use it.
pub fn read_event_lines<'a>(
    lines: impl IntoIterator<Item = &'a [u8]>,
    max_tokens: u32,
) -> Result<GenerationRecord, RequestError> {
    let start = Instant::now();
    let mut stream = StreamAccumulator::new(max_tokens);
    let mut saw_done = false;
    for line in lines {
        if stream.on_line(line, start.elapsed())? {
            saw_done = true;
            break;
        }
    }
    if !saw_done && stream.done_reason.is_none() {
        return Err(stream.cut());
    }
    Ok(stream.finish(start.elapsed()))
}

/// What one generation's events add up to.
struct StreamAccumulator {
    record: GenerationRecord,
    /// Every content chunk so far carried a running token count.
    counts_known: bool,
    /// The running token count at the last content chunk.
    counted: u64,
    /// The last usage that was not all zeros.
    usage: Option<Usage>,
    timings: Option<Timings>,
    done_reason: Option<String>,
}

impl StreamAccumulator {
    fn new(max_tokens: u32) -> Self {
        let reserve = (max_tokens as usize).min(RESERVED_CHUNKS);
        StreamAccumulator {
            record: GenerationRecord {
                chunk_offsets: Vec::with_capacity(reserve),
                chunk_token_counts: Vec::with_capacity(reserve),
                ..GenerationRecord::default()
            },
            counts_known: true,
            counted: 0,
            usage: None,
            timings: None,
            done_reason: None,
        }
    }

    /// Reads one line of the stream, which came `at` after the request was sent: `Ok(true)`
    /// at `data: [DONE]`.
    fn on_line(&mut self, line: &[u8], at: Duration) -> Result<bool, RequestError> {
        match sse_payload(line)? {
            SseLine::Skip => Ok(false),
            SseLine::Done => Ok(true),
            SseLine::Data(payload) => self.on_event(payload, at).map(|()| false),
        }
    }

    fn on_event(&mut self, payload: &[u8], at: Duration) -> Result<(), RequestError> {
        let event: StreamEvent<'_> =
            serde_json::from_slice(payload).map_err(|err| RequestError::Malformed {
                detail: format!("an event that is not the expected JSON: {err}"),
                excerpt: excerpt(payload),
            })?;
        if event.error.is_some() || event.object.as_ref().is_some_and(|o| o.0 == "error") {
            let message = serde_json::from_slice::<serde_json::Value>(payload)
                .ok()
                .and_then(|value| error_message_of(&value))
                .unwrap_or_else(|| excerpt(payload));
            return Err(RequestError::StreamError { message });
        }
        if let Some(usage) = event.usage {
            if usage.prompt_tokens.unwrap_or(0) > 0 || usage.completion_tokens.unwrap_or(0) > 0 {
                self.usage = Some(usage);
            }
        }
        if event.timings.is_some() {
            self.timings = event.timings;
        }
        let Some(choice) = event.choices.0 else {
            return Ok(());
        };
        if self.done_reason.is_none() {
            if let Some(reason) = &choice.finish_reason {
                self.done_reason = Some(reason.0.to_string());
            }
        }
        if !choice.has_content() {
            return Ok(());
        }
        self.record.chunk_offsets.push(at);
        // A running count on this very chunk: vLLM's continuous usage, llama.cpp's
        // per-token timings.
        let running = event
            .usage
            .and_then(|usage| usage.completion_tokens)
            .filter(|&n| n > 0)
            .or_else(|| {
                event
                    .timings
                    .and_then(|t| t.predicted_n)
                    .and_then(|n| u64::try_from(n).ok())
                    .filter(|&n| n > 0)
            });
        match running {
            Some(count) if self.counts_known && count >= self.counted => {
                let carried = u32::try_from(count - self.counted).unwrap_or(u32::MAX);
                self.record.chunk_token_counts.push(carried);
                self.counted = count;
            }
            _ => self.counts_known = false,
        }
        Ok(())
    }

    /// The error of a stream that ended without `data: [DONE]` and without a finish_reason.
    fn cut(&self) -> RequestError {
        RequestError::Cut {
            detail: format!(
                "the stream ended without `data: [DONE]` or a finish_reason after {} content chunks",
                self.record.chunk_offsets.len()
            ),
        }
    }

    fn finish(mut self, total: Duration) -> GenerationRecord {
        let content_chunks = self.record.chunk_offsets.len() as u64;
        let record = &mut self.record;
        record.total = total;
        // A usage that counts no output while content arrived is a running count from
        // before the first token (vLLM's first chunk), not the final count.
        match self.usage.and_then(|usage| usage.completion_tokens) {
            Some(tokens) if tokens > 0 || content_chunks == 0 => {
                record.output_tokens = tokens;
                record.token_count_source = Some(TokenCountSource::Server);
            }
            _ => {
                record.output_tokens = content_chunks;
                record.token_count_source = Some(TokenCountSource::ContentChunks);
            }
        }
        if !self.counts_known || content_chunks == 0 {
            record.chunk_token_counts = Vec::new();
        }
        record.prompt_tokens = self.usage.and_then(|usage| usage.prompt_tokens);
        record.server = server_timings(self.timings, self.usage);
        record.done_reason = self.done_reason;
        self.record
    }
}

/// llama.cpp's timings when sent; otherwise only the server's token counts.
fn server_timings(timings: Option<Timings>, usage: Option<Usage>) -> ServerTimings {
    let ms_to_ns = |ms: f64| (ms.is_finite() && ms >= 0.0).then(|| (ms * 1e6).round() as u64);
    let mut server = ServerTimings {
        prompt_eval_count: usage.and_then(|u| u.prompt_tokens),
        eval_count: usage.and_then(|u| u.completion_tokens),
        ..ServerTimings::default()
    };
    let Some(t) = timings else {
        return server;
    };
    if let Some(n) = t.prompt_n.and_then(|n| u64::try_from(n).ok()) {
        server.prompt_eval_count = Some(n);
        server.prompt_eval_duration_ns = t.prompt_ms.and_then(ms_to_ns);
    }
    if let (Some(n), Some(ms)) = (
        t.predicted_n.and_then(|n| u64::try_from(n).ok()),
        t.predicted_ms,
    ) {
        let steps = decode_steps(n, ms, t.predicted_per_second);
        server.eval_count = Some(steps);
        // A single token has no decode step to time (llama.cpp then says 0.001 ms).
        server.eval_duration_ns = if steps > 0 { ms_to_ns(ms) } else { None };
    }
    server
}

/// How many of `predicted_n` tokens were decoded within `predicted_ms`. Current llama.cpp
/// starts the clock after the first token, which comes out of the prompt batch, and divides
/// by `predicted_n - 1` in its own `predicted_per_second`; the server's own rate tells which
/// count goes with the duration, so `eval_count / eval_duration` is llama.cpp's figure.
fn decode_steps(predicted_n: u64, predicted_ms: f64, per_second: Option<f64>) -> u64 {
    let without_first = predicted_n.saturating_sub(1);
    match per_second {
        Some(rate) if rate > 0.0 && predicted_ms > 0.0 => {
            let rate_of = |count: u64| count as f64 / (predicted_ms / 1000.0);
            if (rate - rate_of(predicted_n)).abs() < (rate - rate_of(without_first)).abs() {
                predicted_n
            } else {
                without_first
            }
        }
        _ => without_first,
    }
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
    /// vLLM: usage on every chunk, so that tokens per chunk are known.
    continuous_usage_stats: bool,
}

#[derive(Serialize)]
struct CompletionBody<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<&'a [ChatMessage<'a>]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a str>,
    max_tokens: u32,
    stream: bool,
    stream_options: StreamOptions,
    /// llama.cpp: timings (with the running token count) on every chunk.
    timings_per_token: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
}

impl<'a> CompletionBody<'a> {
    fn new(
        request: &'a GenerationRequest,
        messages: Option<&'a [ChatMessage<'a>]>,
        prompt: Option<&'a str>,
    ) -> Self {
        CompletionBody {
            model: &request.model,
            messages,
            prompt,
            max_tokens: request.max_tokens,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
                continuous_usage_stats: true,
            },
            timings_per_token: true,
            temperature: request.temperature,
            seed: request.seed,
        }
    }
}

/// One streamed event; only what a benchmark reads, borrowed from the line.
#[derive(Deserialize)]
struct StreamEvent<'a> {
    #[serde(borrow, default)]
    choices: FirstChoice<'a>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    timings: Option<Timings>,
    #[serde(default)]
    error: Option<IgnoredAny>,
    #[serde(borrow, default)]
    object: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default)]
    delta: Option<Delta>,
    /// `/v1/completions`.
    #[serde(default)]
    text: Option<Text>,
    #[serde(borrow, default)]
    finish_reason: Option<Str<'a>>,
}

impl Choice<'_> {
    fn has_content(&self) -> bool {
        let some = |text: &Option<Text>| text.as_ref().is_some_and(|t| t.non_empty);
        some(&self.text)
            || self.delta.as_ref().is_some_and(|delta| {
                some(&delta.content) || some(&delta.reasoning_content) || some(&delta.reasoning)
            })
    }
}

/// A chat delta. Reasoning text (vLLM and llama.cpp `reasoning_content`, newer vLLM
/// `reasoning`) is generated output too, so it counts as content.
#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<Text>,
    #[serde(default)]
    reasoning_content: Option<Text>,
    #[serde(default)]
    reasoning: Option<Text>,
}

/// A string borrowed from the event when it has no escapes. (serde's own `Option<Cow<str>>`
/// always allocates.)
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for StrVisitor<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(value)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(value.to_string())))
            }
        }
        deserializer.deserialize_str(StrVisitor(std::marker::PhantomData))
    }
}

/// A string of which only its being non-empty is kept.
struct Text {
    non_empty: bool,
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Text, E> {
                Ok(Text {
                    non_empty: !value.is_empty(),
                })
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// The first element of `choices` (we always ask for one); the rest is skipped unread.
#[derive(Default)]
struct FirstChoice<'a>(Option<Choice<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstChoice<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FirstVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for FirstVisitor<'a> {
            type Value = FirstChoice<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of choices")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(FirstChoice(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(FirstChoice(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<Choice<'a>>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstChoice(first))
            }
        }
        deserializer.deserialize_any(FirstVisitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize, Clone, Copy)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// llama.cpp's `timings`; `prompt_n` may be -1 (not measured).
#[derive(Deserialize, Clone, Copy)]
struct Timings {
    #[serde(default)]
    prompt_n: Option<i64>,
    #[serde(default)]
    prompt_ms: Option<f64>,
    #[serde(default)]
    predicted_n: Option<i64>,
    #[serde(default)]
    predicted_ms: Option<f64>,
    #[serde(default)]
    predicted_per_second: Option<f64>,
}

#[derive(Deserialize)]
struct ModelList {
    #[serde(default)]
    data: Option<Vec<ModelCard>>,
}

#[derive(Deserialize)]
struct ModelCard {
    id: String,
    #[serde(default)]
    owned_by: Option<String>,
}

#[derive(Deserialize)]
struct VersionReply {
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
struct RouterModelList {
    #[serde(default)]
    data: Option<Vec<RouterModel>>,
}

#[derive(Deserialize)]
struct RouterModel {
    id: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    status: Option<RouterStatus>,
}

#[derive(Deserialize, Default)]
struct RouterStatus {
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    failed: bool,
    #[serde(default)]
    exit_code: Option<i64>,
}

fn is_llama_cpp_props(props: &serde_json::Value) -> bool {
    ["default_generation_settings", "total_slots", "build_info"]
        .iter()
        .any(|key| props.get(key).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> StreamEvent<'_> {
        serde_json::from_str(json).expect("valid event")
    }

    #[test]
    fn only_the_first_choice_is_read_and_content_is_borrowed() {
        let e = event(
            r#"{"choices":[{"index":0,"delta":{"content":"a\nb"},"finish_reason":null},{"index":1,"delta":{"content":"x"}}],"object":"chat.completion.chunk"}"#,
        );
        let choice = e.choices.0.expect("first choice");
        assert!(choice.has_content());
        assert!(matches!(
            e.object,
            Some(Str(Cow::Borrowed("chat.completion.chunk")))
        ));
        assert!(choice.finish_reason.is_none());
        let finish = event(r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#);
        let reason = finish.choices.0.and_then(|c| c.finish_reason);
        assert!(matches!(reason, Some(Str(Cow::Borrowed("stop")))));
    }

    #[test]
    fn empty_null_and_missing_content_are_not_content() {
        for json in [
            r#"{"choices":[{"delta":{"role":"assistant","content":null}}]}"#,
            r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#,
            r#"{"choices":null}"#,
        ] {
            let e = event(json);
            assert!(!e.choices.0.is_some_and(|c| c.has_content()), "{json}");
        }
        let reasoning = event(r#"{"choices":[{"delta":{"reasoning_content":"hmm"}}]}"#);
        assert!(reasoning.choices.0.unwrap().has_content());
        let text = event(r#"{"choices":[{"text":" hi","finish_reason":null}]}"#);
        assert!(text.choices.0.unwrap().has_content());
    }

    #[test]
    fn sse_lines_are_classified() {
        assert!(matches!(sse_payload(b""), Ok(SseLine::Skip)));
        assert!(matches!(sse_payload(b":"), Ok(SseLine::Skip)));
        assert!(matches!(sse_payload(b": ping"), Ok(SseLine::Skip)));
        assert!(matches!(sse_payload(b"event: message"), Ok(SseLine::Skip)));
        assert!(matches!(sse_payload(b"data: [DONE]"), Ok(SseLine::Done)));
        assert!(matches!(sse_payload(b"data:[DONE]"), Ok(SseLine::Done)));
        assert!(matches!(sse_payload(b"data: {}"), Ok(SseLine::Data(b"{}"))));
        assert!(matches!(
            sse_payload(br#"{"response":"ndjson"}"#),
            Err(RequestError::Malformed { .. })
        ));
    }

    #[test]
    fn event_lines_are_read_as_generate_reads_a_stream() {
        let record = read_event_lines(
            [
                &br#"data: {"choices":[{"text":"Hi"}]}"#[..],
                b"",
                br#"data: {"choices":[{"text":"!","finish_reason":"stop"}],"usage":{"completion_tokens":2}}"#,
                b"data: [DONE]",
                b"not read after [DONE]",
            ],
            8,
        )
        .unwrap();
        assert_eq!(record.chunk_offsets.len(), 2);
        assert_eq!(record.output_tokens, 2);
        assert_eq!(record.done_reason.as_deref(), Some("stop"));
        let cut = read_event_lines([&br#"data: {"choices":[{"text":"Hi"}]}"#[..]], 8);
        assert!(matches!(cut, Err(RequestError::Cut { .. })));
    }

    #[test]
    fn error_messages_are_read_from_every_shape() {
        let cases = [
            (
                r#"{"error":{"message":"The model `x` does not exist.","type":"NotFoundError","param":null,"code":404}}"#,
                "The model `x` does not exist.",
            ),
            (
                r#"{"object":"error","message":"flat vllm","type":"BadRequestError","code":400}"#,
                "flat vllm",
            ),
            (
                r#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#,
                "Loading model",
            ),
            (r#"{"error":"model 'x' not found"}"#, "model 'x' not found"),
            (r#"{"detail":"Not Found"}"#, "Not Found"),
        ];
        for (body, want) in cases {
            assert_eq!(error_message(body.as_bytes()).as_deref(), Some(want));
        }
        assert_eq!(error_message(b"404 page not found"), None);
    }

    #[test]
    fn debug_output_never_shows_the_api_key() {
        let client = OpenAiClient::new(
            "http://127.0.0.1:1/v1/",
            Timeouts::default(),
            Some("sk-very-secret".into()),
        )
        .unwrap();
        let debug = format!("{client:?}");
        assert!(!debug.contains("sk-very-secret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert_eq!(client.base_url(), "http://127.0.0.1:1");
        let bad = OpenAiClient::new(
            "http://127.0.0.1:1",
            Timeouts::default(),
            Some("sk-bad\nkey".into()),
        )
        .unwrap_err();
        assert!(!bad.to_string().contains("sk-bad"), "{bad}");
    }

    #[test]
    fn llama_cpp_decode_steps_follow_its_own_rate() {
        // Current llama.cpp: 16 tokens, 15 decode steps in 126.276 ms.
        assert_eq!(decode_steps(16, 126.276, Some(118.787)), 15);
        // A server whose rate counts every token.
        assert_eq!(decode_steps(16, 126.276, Some(126.707)), 16);
        assert_eq!(decode_steps(16, 126.276, None), 15);
        let one = server_timings(
            Some(Timings {
                prompt_n: Some(31),
                prompt_ms: Some(566.69),
                predicted_n: Some(1),
                predicted_ms: Some(0.001),
                predicted_per_second: Some(0.0),
            }),
            None,
        );
        assert_eq!(one.eval_count, Some(0));
        assert_eq!(one.eval_duration_ns, None);
        assert_eq!(one.prompt_eval_duration_ns, Some(566_690_000));
    }

    #[test]
    fn running_counts_become_tokens_per_chunk() {
        let mut acc = StreamAccumulator::new(8);
        let ms = Duration::from_millis;
        for (i, json) in [
            r#"{"choices":[{"delta":{"role":"assistant","content":""}}],"usage":{"prompt_tokens":5,"completion_tokens":0}}"#,
            r#"{"choices":[{"delta":{"content":"a"}}],"usage":{"prompt_tokens":5,"completion_tokens":1}}"#,
            r#"{"choices":[{"delta":{"content":"bcd"}}],"usage":{"prompt_tokens":5,"completion_tokens":4}}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":4}}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":4}}"#,
        ]
        .iter()
        .enumerate()
        {
            acc.on_event(json.as_bytes(), ms(i as u64 * 10)).unwrap();
        }
        let record = acc.finish(ms(50));
        assert_eq!(record.chunk_token_counts, vec![1, 3]);
        assert_eq!(record.output_tokens, 4);
        assert_eq!(record.prompt_tokens, Some(5));
        assert_eq!(record.token_count_source, Some(TokenCountSource::Server));
        assert_eq!(record.done_reason.as_deref(), Some("length"));
    }
}

//! Client of Ollama's native API: pull with streamed progress, streamed generate and chat with
//! every timing field of the final chunk, load-only and unload, tags, ps, show, delete,
//! version and `/`. Every failure comes back as a [`RequestError`].

use std::borrow::Cow;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

use super::stream::{excerpt, LineStream};
use super::{
    GenerationRecord, GenerationRequest, RequestError, Route, ServerTimings, TimeoutPhase,
    Timeouts, TokenCountSource,
};

use super::SIM_HEADER;

/// A client of one Ollama server.
#[derive(Debug, Clone)]
pub struct OllamaClient {
    base_url: String,
    http: reqwest::Client,
    timeouts: Timeouts,
}

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

/// What a finished pull measured.
#[derive(Debug, Clone, PartialEq)]
pub struct PullSummary {
    /// Request sent to the `success` line.
    pub duration: Duration,
    /// Sum of the layers' sizes.
    pub total_bytes: u64,
    /// Number of layers.
    pub layers: usize,
    /// Every layer was complete from its first line. A hint only: against a fast registry a
    /// real download can report a complete layer on its first line, so scenarios decide
    /// "already present" from `/api/tags` before the pull (see `scenario::download`).
    pub already_present: bool,
}

impl PullSummary {
    /// Download speed in MB/s (10^6 bytes).
    pub fn megabytes_per_second(&self) -> Option<f64> {
        let seconds = self.duration.as_secs_f64();
        (seconds > 0.0 && self.total_bytes > 0).then(|| self.total_bytes as f64 / 1e6 / seconds)
    }
}

/// The reply to a load-only or unload request.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReply {
    /// `load` or `unload` as the server said it.
    pub done_reason: Option<String>,
    /// Request sent to the reply.
    pub elapsed: Duration,
}

/// What the server says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    pub version: String,
    /// The simulator's header (`profile=t4 time-scale=1`) when the server is ollabench's
    /// simulator.
    pub simulator: Option<String>,
    /// Round trip of the version request.
    pub round_trip: Duration,
}

#[derive(Deserialize)]
struct StreamChunk<'a> {
    #[serde(borrow, default)]
    response: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<MessageChunk<'a>>,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(borrow, default)]
    error: Option<Cow<'a, str>>,
    total_duration: Option<u64>,
    load_duration: Option<u64>,
    prompt_eval_count: Option<u64>,
    prompt_eval_duration: Option<u64>,
    eval_count: Option<u64>,
    eval_duration: Option<u64>,
}

#[derive(Deserialize)]
struct MessageChunk<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

impl OllamaClient {
    /// A client for `base_url` (e.g. `http://localhost:11434`).
    pub fn new(base_url: &str, timeouts: Timeouts) -> Result<Self, RequestError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .tcp_nodelay(true)
            .pool_max_idle_per_host(usize::MAX)
            .build()
            .map_err(|err| RequestError::Other(format!("cannot build the HTTP client: {err}")))?;
        Ok(OllamaClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
            timeouts,
        })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The timeouts every request uses.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Sends a request (see [`super::send_request`]) and waits for the response headers
    /// within the first-byte timeout, or until `deadline` when that is sooner. Error statuses
    /// become [`RequestError::Status`] with the server's message. Returns the response and
    /// when it was sent.
    async fn send(
        &self,
        builder: reqwest::RequestBuilder,
        url: &str,
        deadline: Instant,
    ) -> Result<(reqwest::Response, Instant), RequestError> {
        let wait = self
            .timeouts
            .first_byte
            .min(deadline.saturating_duration_since(Instant::now()));
        let phase = if wait < self.timeouts.first_byte {
            TimeoutPhase::Total
        } else {
            TimeoutPhase::FirstByte
        };
        let (response, sent) =
            super::send_request(builder, url, &self.timeouts, wait, phase).await?;
        let status = response.status();
        if status.is_success() {
            return Ok((response, sent));
        }
        let body = tokio::time::timeout(self.timeouts.first_byte, response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        Err(RequestError::Status {
            status: status.as_u16(),
            url: url.to_string(),
            message: error_message(&body),
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, RequestError> {
        let url = self.url(path);
        let deadline = Instant::now() + self.timeouts.total;
        let (response, _) = self.send(self.http.get(&url), &url, deadline).await?;
        read_json(response, &self.timeouts).await
    }

    /// `GET /`: Ollama answers `Ollama is running`.
    pub async fn root(&self) -> Result<String, RequestError> {
        let url = self.url("/");
        let deadline = Instant::now() + self.timeouts.total;
        let (response, _) = self.send(self.http.get(&url), &url, deadline).await?;
        let body = read_body(response, &self.timeouts).await?;
        Ok(String::from_utf8_lossy(&body).trim().to_string())
    }

    /// `GET /api/version`.
    pub async fn version(&self) -> Result<String, RequestError> {
        Ok(self.server_info().await?.version)
    }

    /// `GET /api/version`, with the round trip and the simulator's header.
    pub async fn server_info(&self) -> Result<ServerInfo, RequestError> {
        #[derive(Deserialize)]
        struct Version {
            version: String,
        }
        let url = self.url("/api/version");
        let (response, started) = self
            .send(
                self.http.get(&url),
                &url,
                Instant::now() + self.timeouts.total,
            )
            .await?;
        let simulator = response
            .headers()
            .get(SIM_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let version: Version = read_json(response, &self.timeouts).await?;
        Ok(ServerInfo {
            version: version.version,
            simulator,
            round_trip: started.elapsed(),
        })
    }

    /// `GET /api/tags`: models on disk.
    pub async fn tags(&self) -> Result<Vec<LocalModel>, RequestError> {
        #[derive(Deserialize)]
        struct Tags {
            #[serde(default)]
            models: Option<Vec<LocalModel>>,
        }
        let tags: Tags = self.get_json("/api/tags").await?;
        Ok(tags.models.unwrap_or_default())
    }

    /// `GET /api/ps`: models in memory.
    pub async fn ps(&self) -> Result<Vec<LoadedModel>, RequestError> {
        #[derive(Deserialize)]
        struct Ps {
            #[serde(default)]
            models: Option<Vec<LoadedModel>>,
        }
        let ps: Ps = self.get_json("/api/ps").await?;
        Ok(ps.models.unwrap_or_default())
    }

    /// `POST /api/show`.
    pub async fn show(&self, model: &str) -> Result<ModelInfo, RequestError> {
        let url = self.url("/api/show");
        let deadline = Instant::now() + self.timeouts.total;
        let builder = self.http.post(&url).json(&json!({ "model": model }));
        let (response, _) = self.send(builder, &url, deadline).await?;
        read_json(response, &self.timeouts).await
    }

    /// `DELETE /api/delete`. Destructive: callers only use it behind an explicit flag.
    pub async fn delete(&self, model: &str) -> Result<(), RequestError> {
        let url = self.url("/api/delete");
        let deadline = Instant::now() + self.timeouts.total;
        let builder = self.http.delete(&url).json(&json!({ "model": model }));
        let (response, _) = self.send(builder, &url, deadline).await?;
        read_body(response, &self.timeouts).await?;
        Ok(())
    }

    /// `POST /api/pull`, streamed; `on_progress` sees every progress line. Ends at `success`.
    /// `insecure` lets the server pull from a registry over plain HTTP (a private registry),
    /// as `ollama pull --insecure` does.
    pub async fn pull(
        &self,
        model: &str,
        insecure: bool,
        mut on_progress: impl FnMut(&PullProgress),
    ) -> Result<PullSummary, RequestError> {
        let url = self.url("/api/pull");
        let deadline = Instant::now() + self.timeouts.total;
        let mut body = json!({ "model": model, "stream": true });
        if insecure {
            body["insecure"] = json!(true);
        }
        let builder = self.http.post(&url).json(&body);
        let (response, started) = self.send(builder, &url, deadline).await?;
        let mut lines = LineStream::new(
            response,
            self.timeouts.first_byte,
            deadline,
            self.timeouts.total,
        );
        // Layers in order of appearance: (digest, total, complete from the first line).
        let mut layers: Vec<(String, u64, bool)> = Vec::new();
        while let Some(line) = lines.next_line().await? {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let progress: PullProgress =
                serde_json::from_slice(line).map_err(|err| RequestError::Malformed {
                    detail: format!("pull progress is not JSON: {err}"),
                    excerpt: excerpt(line),
                })?;
            if let Some(message) = &progress.error {
                return Err(RequestError::StreamError {
                    message: message.clone(),
                });
            }
            if let (Some(digest), Some(total)) = (&progress.digest, progress.total) {
                if !layers.iter().any(|(known, _, _)| known == digest) {
                    let complete = progress.completed == Some(total);
                    layers.push((digest.clone(), total, complete));
                }
            }
            on_progress(&progress);
            if progress.status == "success" {
                return Ok(PullSummary {
                    duration: started.elapsed(),
                    total_bytes: layers.iter().map(|(_, total, _)| total).sum(),
                    layers: layers.len(),
                    already_present: !layers.is_empty()
                        && layers.iter().all(|(_, _, complete)| *complete),
                });
            }
        }
        Err(RequestError::Cut {
            detail: "the pull stream ended before `success`".into(),
        })
    }

    /// A load-only request (`/api/generate` with no prompt): the reply comes once the model
    /// is in memory. It carries no metrics, so `elapsed` is the client's own timing.
    pub async fn load(
        &self,
        model: &str,
        keep_alive: Option<&str>,
    ) -> Result<LoadReply, RequestError> {
        let mut body = json!({ "model": model });
        if let Some(keep_alive) = keep_alive {
            body["keep_alive"] = json!(keep_alive);
        }
        self.load_only_request(body).await
    }

    /// An unload request (`keep_alive: 0`, no prompt). Ollama answers at once and unloads
    /// when in-flight requests finish; see [`OllamaClient::wait_until_unloaded`].
    pub async fn unload(&self, model: &str) -> Result<LoadReply, RequestError> {
        self.load_only_request(json!({ "model": model, "keep_alive": 0 }))
            .await
    }

    async fn load_only_request(&self, body: serde_json::Value) -> Result<LoadReply, RequestError> {
        #[derive(Deserialize)]
        struct Reply {
            #[serde(default)]
            done_reason: Option<String>,
            #[serde(default)]
            error: Option<String>,
        }
        let url = self.url("/api/generate");
        let deadline = Instant::now() + self.timeouts.total;
        let (response, started) = self
            .send(self.http.post(&url).json(&body), &url, deadline)
            .await?;
        let reply: Reply = read_json(response, &self.timeouts).await?;
        if let Some(message) = reply.error {
            return Err(RequestError::StreamError { message });
        }
        Ok(LoadReply {
            done_reason: reply.done_reason,
            elapsed: started.elapsed(),
        })
    }

    /// Polls `/api/ps` until `model` is no longer listed, or fails after `limit`.
    pub async fn wait_until_unloaded(
        &self,
        model: &str,
        limit: Duration,
    ) -> Result<Duration, RequestError> {
        let started = Instant::now();
        let mut interval = Duration::from_millis(5);
        loop {
            let loaded = self.ps().await?;
            if !loaded.iter().any(|m| same_model(&m.name, model)) {
                return Ok(started.elapsed());
            }
            if started.elapsed() >= limit {
                return Err(RequestError::Timeout {
                    phase: TimeoutPhase::Total,
                    after: limit,
                });
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(Duration::from_millis(250));
        }
    }

    /// One streamed generation (`/api/generate` or `/api/chat`), measured.
    pub async fn generate(
        &self,
        request: &GenerationRequest,
    ) -> Result<GenerationRecord, RequestError> {
        let (path, body) = generation_body(request);
        let url = self.url(path);
        let deadline = Instant::now() + self.timeouts.total;
        let (response, started) = self
            .send(self.http.post(&url).json(&body), &url, deadline)
            .await?;
        let mut lines = LineStream::new(
            response,
            self.timeouts.first_byte,
            deadline,
            self.timeouts.total,
        );
        let mut record = GenerationRecord {
            chunk_offsets: Vec::with_capacity(request.max_tokens as usize + 1),
            ..GenerationRecord::default()
        };
        while let Some(line) = lines.next_line().await? {
            if read_chunk(line, started, &mut record)? {
                return Ok(record);
            }
        }
        Err(cut_before_final(&record))
    }
}

/// Reads the lines of a generation stream (`/api/generate` or `/api/chat`, each without its
/// `\n`) as [`OllamaClient::generate`] reads a server's reply, timed from the call: the
/// record, or the error `generate` would give. Needs no server; the fuzz targets use it.
pub fn read_generation_lines<'a>(
    lines: impl IntoIterator<Item = &'a [u8]>,
) -> Result<GenerationRecord, RequestError> {
    let started = Instant::now();
    let mut record = GenerationRecord::default();
    for line in lines {
        if read_chunk(line, started, &mut record)? {
            return Ok(record);
        }
    }
    Err(cut_before_final(&record))
}

/// Adds one line of a generation stream to `record`: `Ok(true)` at the final chunk, which
/// completes the record.
fn read_chunk(
    line: &[u8],
    started: Instant,
    record: &mut GenerationRecord,
) -> Result<bool, RequestError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(false);
    }
    let arrived = started.elapsed();
    let chunk: StreamChunk<'_> =
        serde_json::from_slice(line).map_err(|err| RequestError::Malformed {
            detail: format!("a stream line is not a JSON chunk: {err}"),
            excerpt: excerpt(line),
        })?;
    if let Some(message) = chunk.error {
        return Err(RequestError::StreamError {
            message: message.into_owned(),
        });
    }
    let content = chunk
        .response
        .as_deref()
        .or_else(|| chunk.message.as_ref().and_then(|m| m.content.as_deref()))
        .unwrap_or("");
    if !content.is_empty() {
        record.chunk_offsets.push(arrived);
    }
    if !chunk.done {
        return Ok(false);
    }
    record.total = started.elapsed();
    record.done_reason = chunk.done_reason;
    record.server = ServerTimings {
        total_duration_ns: chunk.total_duration,
        load_duration_ns: chunk.load_duration,
        prompt_eval_count: chunk.prompt_eval_count,
        prompt_eval_duration_ns: chunk.prompt_eval_duration,
        eval_count: chunk.eval_count,
        eval_duration_ns: chunk.eval_duration,
    };
    record.prompt_tokens = chunk.prompt_eval_count;
    match chunk.eval_count {
        Some(count) => {
            record.output_tokens = count;
            record.token_count_source = Some(TokenCountSource::Server);
        }
        None => {
            record.output_tokens = record.chunk_offsets.len() as u64;
            record.token_count_source = Some(TokenCountSource::ContentChunks);
        }
    }
    Ok(true)
}

/// The error of a generation stream that ended before its final chunk.
fn cut_before_final(record: &GenerationRecord) -> RequestError {
    RequestError::Cut {
        detail: format!(
            "the stream ended after {} chunks without its final message",
            record.chunk_offsets.len()
        ),
    }
}

/// The route and JSON body of a streamed generation.
fn generation_body(request: &GenerationRequest) -> (&'static str, serde_json::Value) {
    let mut options = serde_json::Map::new();
    options.insert("num_predict".into(), json!(request.max_tokens));
    if let Some(temperature) = request.temperature {
        options.insert("temperature".into(), json!(temperature));
    }
    if let Some(seed) = request.seed {
        options.insert("seed".into(), json!(seed));
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
    (path, body)
}

/// Whether two model names mean the same model (`phi3.5` is `phi3.5:latest`).
pub fn same_model(a: &str, b: &str) -> bool {
    fn canonical(name: &str) -> Cow<'_, str> {
        if name
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
        {
            Cow::Borrowed(name)
        } else {
            Cow::Owned(format!("{name}:latest"))
        }
    }
    canonical(a) == canonical(b)
}

/// The message of an error body ([`super::error_message`]), or the text itself.
pub fn error_message(body: &[u8]) -> String {
    if let Some(message) = super::error_message(body) {
        return message;
    }
    let text = excerpt(body);
    if text.trim().is_empty() {
        "(empty body)".into()
    } else {
        text.trim().to_string()
    }
}

async fn read_body(
    response: reqwest::Response,
    timeouts: &Timeouts,
) -> Result<bytes::Bytes, RequestError> {
    match tokio::time::timeout(timeouts.first_byte, response.bytes()).await {
        Err(_) => Err(RequestError::Timeout {
            phase: TimeoutPhase::FirstByte,
            after: timeouts.first_byte,
        }),
        Ok(Err(err)) => Err(RequestError::Cut {
            detail: super::error_chain(&err),
        }),
        Ok(Ok(body)) => Ok(body),
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    timeouts: &Timeouts,
) -> Result<T, RequestError> {
    let body = read_body(response, timeouts).await?;
    serde_json::from_slice(&body).map_err(|err| RequestError::Malformed {
        detail: format!("the reply is not the expected JSON: {err}"),
        excerpt: excerpt(&body),
    })
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
    fn model_names_compare_with_the_implicit_latest_tag() {
        assert!(same_model("phi3.5", "phi3.5:latest"));
        assert!(same_model("llama3.1:8b", "llama3.1:8b"));
        assert!(!same_model("llama3.1:8b", "llama3.1"));
        assert!(same_model(
            "127.0.0.1:5000/library/smollm2",
            "127.0.0.1:5000/library/smollm2:latest"
        ));
    }

    #[test]
    fn error_bodies_of_each_shape_give_their_message() {
        assert_eq!(
            error_message(br#"{"error":"model 'x' not found"}"#),
            "model 'x' not found"
        );
        assert_eq!(
            error_message(br#"{"error":{"message":"bad","type":"x"}}"#),
            "bad"
        );
        assert_eq!(
            error_message(br#"{"object":"error","message":"old"}"#),
            "old"
        );
        assert_eq!(error_message(b"404 page not found"), "404 page not found");
        assert_eq!(error_message(b""), "(empty body)");
    }

    #[test]
    fn generation_lines_are_read_as_generate_reads_a_stream() {
        let record = read_generation_lines([
            &br#"{"response":"Hi","done":false}"#[..],
            b"  ",
            br#"{"response":"","done":true,"done_reason":"stop","eval_count":2}"#,
            b"not read after the final chunk",
        ])
        .unwrap();
        assert_eq!(record.chunk_offsets.len(), 1);
        assert_eq!(record.output_tokens, 2);
        assert_eq!(record.done_reason.as_deref(), Some("stop"));
        let error = read_generation_lines([&br#"{"error":"boom"}"#[..]]);
        assert!(matches!(error, Err(RequestError::StreamError { message }) if message == "boom"));
        let cut = read_generation_lines([&br#"{"response":"Hi"}"#[..]]);
        assert!(matches!(cut, Err(RequestError::Cut { .. })));
    }

    #[test]
    fn generation_bodies_use_ollamas_fields() {
        let mut request = GenerationRequest::new("m", "hi", 7);
        request.seed = Some(3);
        let (path, body) = generation_body(&request);
        assert_eq!(path, "/api/generate");
        assert_eq!(body["options"]["num_predict"], 7);
        assert_eq!(body["options"]["seed"], 3);
        assert_eq!(body["stream"], true);
        request.route = Route::Chat;
        let (path, body) = generation_body(&request);
        assert_eq!(path, "/api/chat");
        assert_eq!(body["messages"][0]["content"], "hi");
    }
}

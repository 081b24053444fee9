//! The HTTP side of the Ollama client: sending requests (error statuses become
//! [`RequestError::Status`] with the server's message), every route, and reading whole
//! replies. A streamed generation's lines are parsed in `ndjson`; a pull's progress lines are
//! read here, inline with the layers they measure.

use std::borrow::Cow;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::ndjson::{cut_before_final, read_chunk};
use super::wire::{generation_body, LoadedModel, LocalModel, ModelInfo, PullProgress};
use crate::backend::stream::{excerpt, LineStream};
use crate::backend::{
    GenerationRecord, GenerationRequest, RequestError, TimeoutPhase, Timeouts, SIM_HEADER,
};

/// A client of one Ollama server.
#[derive(Debug, Clone)]
pub struct OllamaClient {
    base_url: String,
    http: reqwest::Client,
    timeouts: Timeouts,
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

/// How long an unload may take to show in `/api/ps`: Ollama unloads once in-flight requests
/// finish, which for a long generation can take minutes.
pub const UNLOAD_WAIT_LIMIT: Duration = Duration::from_secs(120);

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

    /// Sends a request (see [`crate::backend::send_request`]) and waits for the response headers
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
            crate::backend::send_request(builder, url, &self.timeouts, wait, phase).await?;
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
        self.model_list("/api/tags").await
    }

    /// `GET /api/ps`: models in memory.
    pub async fn ps(&self) -> Result<Vec<LoadedModel>, RequestError> {
        self.model_list("/api/ps").await
    }

    /// The `models` array of `/api/tags` or `/api/ps`; a reply without one lists nothing.
    async fn model_list<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, RequestError> {
        #[derive(Deserialize)]
        #[serde(bound = "T: DeserializeOwned")]
        struct Models<T> {
            #[serde(default)]
            models: Option<Vec<T>>,
        }
        let list: Models<T> = self.get_json(path).await?;
        Ok(list.models.unwrap_or_default())
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
        self.load_with_context(model, keep_alive, None).await
    }

    /// A load with the context length later requests will ask for: Ollama reloads a runner
    /// whose `num_ctx` differs, so a preload without it would not be the one measured.
    pub async fn load_with_context(
        &self,
        model: &str,
        keep_alive: Option<&str>,
        num_ctx: Option<u64>,
    ) -> Result<LoadReply, RequestError> {
        let mut body = json!({ "model": model });
        if let Some(keep_alive) = keep_alive {
            body["keep_alive"] = json!(keep_alive);
        }
        if let Some(num_ctx) = num_ctx {
            body["options"] = json!({ "num_ctx": num_ctx });
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

    /// Polls `/api/ps` until `model` is no longer listed, or fails after `limit` (callers
    /// use [`UNLOAD_WAIT_LIMIT`] unless they know better).
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

/// The message of an error body ([`crate::backend::error_message`]), or the text itself.
pub fn error_message(body: &[u8]) -> String {
    if let Some(message) = crate::backend::error_message(body) {
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
            detail: crate::backend::error_chain(&err),
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
}

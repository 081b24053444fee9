//! The only code that speaks HTTP to an inference server: [`ollama`] for Ollama's native API,
//! [`openai`] for OpenAI-compatible servers. This module holds what both share: the
//! API-neutral generation request, the per-request record with every timing the client saw
//! and the server reported, timeouts, and request errors as data.

/// The header the built-in simulator sets on every response (`profile=t4 time-scale=1`), so
/// that a client can tell it is measuring the simulator through any API (see
/// `sim::SIM_HEADER`, which `sim` keeps separately since it depends on nothing above it).
pub const SIM_HEADER: &str = "x-ollabench-simulator";

pub mod ollama;
pub mod openai;
pub mod stream;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Timeouts of every request, each its own error kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// Establishing the TCP (and TLS) connection.
    pub connect: Duration,
    /// From sending the request to the response headers, and the longest silence allowed
    /// between two pieces of a streamed body (a stalled stream fails with this timeout).
    pub first_byte: Duration,
    /// The whole request, body included.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(300),
            total: Duration::from_secs(3600),
        }
    }
}

/// Which of the server's generation routes a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    /// Ollama `/api/generate`; OpenAI `/v1/completions`.
    Generate,
    /// Ollama `/api/chat`; OpenAI `/v1/chat/completions`.
    Chat,
}

/// One streamed generation, independent of the API that serves it.
#[derive(Debug, Clone)]
pub struct GenerationRequest {
    pub model: String,
    pub prompt: String,
    /// Tokens to generate at most (`num_predict` / `max_tokens`).
    pub max_tokens: u32,
    pub route: Route,
    /// Sampling temperature; `None` leaves the server's default.
    pub temperature: Option<f64>,
    /// Sampling seed; `None` leaves the server's default.
    pub seed: Option<i64>,
    /// Nucleus sampling (`top_p`); `None` leaves the server's default.
    pub top_p: Option<f64>,
    /// Generate exactly `max_tokens`: the end-of-sequence token and stop sequences do not end
    /// the generation where the server allows it (Ollama: stop sequences cleared; vLLM:
    /// `ignore_eos` and `min_tokens`; llama.cpp: `n_predict` and `ignore_eos`).
    pub force_output: bool,
    /// Ollama's context length (`options.num_ctx`); ignored by OpenAI servers.
    pub num_ctx: Option<u64>,
    /// Ollama's `keep_alive` (e.g. "5m", "0"); ignored by OpenAI servers.
    pub keep_alive: Option<String>,
    /// Whether a thinking model thinks (Ollama's `think`; on OpenAI chat, the servers'
    /// equivalents); `None` leaves the server's default.
    pub think: Option<bool>,
}

impl GenerationRequest {
    /// A request with the server's default sampling.
    pub fn new(model: impl Into<String>, prompt: impl Into<String>, max_tokens: u32) -> Self {
        GenerationRequest {
            model: model.into(),
            prompt: prompt.into(),
            max_tokens,
            route: Route::Generate,
            temperature: None,
            seed: None,
            top_p: None,
            force_output: false,
            num_ctx: None,
            keep_alive: None,
            think: None,
        }
    }
}

/// Where a record's output token count comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenCountSource {
    /// The server's own count (Ollama `eval_count`, OpenAI `usage.completion_tokens`).
    Server,
    /// No count from the server: one token per content chunk, an approximation.
    ContentChunks,
}

/// What the server reported about one generation, in nanoseconds where it is a duration.
/// Every field is optional: servers omit what they do not measure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerTimings {
    pub total_duration_ns: Option<u64>,
    pub load_duration_ns: Option<u64>,
    pub prompt_eval_count: Option<u64>,
    pub prompt_eval_duration_ns: Option<u64>,
    pub eval_count: Option<u64>,
    pub eval_duration_ns: Option<u64>,
}

/// Everything measured for one successful streamed generation. Offsets are measured on a
/// monotonic clock from the moment the request was sent.
#[derive(Debug, Clone, Default)]
pub struct GenerationRecord {
    /// Arrival of every chunk with non-empty content, thinking text included.
    pub chunk_offsets: Vec<Duration>,
    /// Tokens carried by each content chunk when the server says so (OpenAI servers that
    /// batch tokens); empty means one token per chunk.
    pub chunk_token_counts: Vec<u32>,
    /// Request sent to the end of the stream.
    pub total: Duration,
    /// Output tokens: the server's count when it gives one, else the content chunks.
    pub output_tokens: u64,
    /// Of the output tokens, those that were thinking (Ollama's `thinking`, the OpenAI
    /// servers' `reasoning_content`): one a chunk, or what each chunk carried when the
    /// server says. Their chunks are output like any other in TTFT, ITL and the rates.
    pub thinking_tokens: u64,
    pub token_count_source: Option<TokenCountSource>,
    /// Prompt tokens as the server counts them.
    pub prompt_tokens: Option<u64>,
    pub server: ServerTimings,
    /// `stop` (the model ended), `length` (the token limit), or what the server said.
    pub done_reason: Option<String>,
}

impl GenerationRecord {
    /// Time to first token: request sent to the first chunk with content.
    pub fn ttft(&self) -> Option<Duration> {
        self.chunk_offsets.first().copied()
    }

    /// End to end: request sent to the last content chunk (the stream end when none came).
    pub fn e2e(&self) -> Duration {
        self.chunk_offsets.last().copied().unwrap_or(self.total)
    }

    /// Inter-token latencies: every gap between consecutive content chunks.
    pub fn itls(&self) -> impl Iterator<Item = Duration> + '_ {
        self.chunk_offsets.windows(2).map(|pair| pair[1] - pair[0])
    }

    /// Tokens in the first content chunk (1 unless the server batched tokens).
    fn first_chunk_tokens(&self) -> u64 {
        self.chunk_token_counts
            .first()
            .map_or(1, |&n| u64::from(n.max(1)))
    }

    /// Output tokens that arrived with content. When the server says how many tokens each
    /// chunk carried, their sum: a token without text (the end-of-sequence token that
    /// llama.cpp counts) arrives in no chunk and so in no time span. Otherwise the output
    /// token count.
    fn streamed_tokens(&self) -> u64 {
        if self.chunk_token_counts.is_empty() {
            self.output_tokens
        } else {
            self.chunk_token_counts.iter().map(|&n| u64::from(n)).sum()
        }
    }

    /// Client-side decode speed: output tokens after the first chunk divided by the time from
    /// the first to the last content chunk.
    pub fn client_tokens_per_second(&self) -> Option<f64> {
        let first = *self.chunk_offsets.first()?;
        let last = *self.chunk_offsets.last()?;
        let span = (last - first).as_secs_f64();
        let tokens = self
            .streamed_tokens()
            .checked_sub(self.first_chunk_tokens())?;
        (span > 0.0 && tokens > 0).then(|| tokens as f64 / span)
    }

    /// Server-side decode speed: `eval_count / eval_duration`.
    pub fn server_tokens_per_second(&self) -> Option<f64> {
        rate(self.server.eval_count?, self.server.eval_duration_ns?)
    }

    /// Prompt processing speed: `prompt_eval_count / prompt_eval_duration`.
    pub fn prompt_eval_tokens_per_second(&self) -> Option<f64> {
        rate(
            self.server.prompt_eval_count?,
            self.server.prompt_eval_duration_ns?,
        )
    }

    /// Time per output token: (e2e - TTFT) / (output tokens - 1), counting the tokens that
    /// arrived with content when the server says per chunk.
    pub fn tpot(&self) -> Option<Duration> {
        let ttft = self.ttft()?;
        let after_first = self.streamed_tokens().checked_sub(1).filter(|&n| n > 0)?;
        Some((self.e2e() - ttft).div_f64(after_first as f64))
    }

    /// The thinking tokens, `None` when there were none (results leave the field out).
    pub fn thinking(&self) -> Option<u64> {
        (self.thinking_tokens > 0).then_some(self.thinking_tokens)
    }

    /// Whether the generation stopped before the requested number of tokens.
    pub fn stopped_early(&self, requested: u32) -> bool {
        self.output_tokens < u64::from(requested)
    }
}

fn rate(count: u64, duration_ns: u64) -> Option<f64> {
    (duration_ns > 0).then(|| count as f64 / (duration_ns as f64 / 1e9))
}

/// The phase of a request that ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    Connect,
    FirstByte,
    Total,
}

impl std::fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connecting",
            TimeoutPhase::FirstByte => "waiting for data",
            TimeoutPhase::Total => "on the whole request",
        })
    }
}

/// A failed request, as data: each kind is counted separately in the results.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// No TCP connection could be made.
    #[error("cannot connect to {url}: {detail}")]
    Connect {
        url: String,
        detail: String,
        refused: bool,
    },
    /// A timeout fired.
    #[error("timed out {phase} after {:.1} s", after.as_secs_f64())]
    Timeout {
        phase: TimeoutPhase,
        after: Duration,
    },
    /// The server answered with an error status (and usually an `{"error": ...}` body).
    #[error("HTTP {status} from {url}: {message}")]
    Status {
        status: u16,
        url: String,
        message: String,
    },
    /// The server wrote an error line inside a 200 stream.
    #[error("the server reported an error mid-stream: {message}")]
    StreamError { message: String },
    /// The connection ended before the stream's final message.
    #[error("the connection was cut mid-stream: {detail}")]
    Cut { detail: String },
    /// A line of the stream was not what the protocol allows.
    #[error("malformed data from the server ({detail}): {excerpt}")]
    Malformed { detail: String, excerpt: String },
    /// Ctrl-C stopped the request.
    #[error("interrupted")]
    Cancelled,
    /// Anything else (e.g. a request that could not be built).
    #[error("{0}")]
    Other(String),
}

impl RequestError {
    /// A short stable name of the error kind, used as a key when failures are counted.
    pub fn kind(&self) -> &'static str {
        match self {
            RequestError::Connect { refused: true, .. } => "connection-refused",
            RequestError::Connect { .. } => "connect-error",
            RequestError::Timeout {
                phase: TimeoutPhase::Connect,
                ..
            } => "connect-timeout",
            RequestError::Timeout {
                phase: TimeoutPhase::FirstByte,
                ..
            } => "first-byte-timeout",
            RequestError::Timeout {
                phase: TimeoutPhase::Total,
                ..
            } => "request-timeout",
            RequestError::Status { status, .. } if *status == 404 => "http-404",
            RequestError::Status { status, .. } if *status == 503 => "http-503",
            RequestError::Status { status, .. } if *status >= 500 => "http-5xx",
            RequestError::Status { .. } => "http-4xx",
            RequestError::StreamError { .. } => "stream-error",
            RequestError::Cut { .. } => "connection-cut",
            RequestError::Malformed { .. } => "malformed-response",
            RequestError::Cancelled => "interrupted",
            RequestError::Other(_) => "other",
        }
    }

    /// Whether the server could not be reached at all (nothing answered in time), as opposed
    /// to a server that answered with an error.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            RequestError::Connect { .. }
                | RequestError::Timeout {
                    phase: TimeoutPhase::Connect | TimeoutPhase::FirstByte,
                    ..
                }
        )
    }

    /// An error every further request for the same model would repeat (model not found, key
    /// refused): a scenario stops that model's requests at once.
    pub fn is_fatal_for_model(&self) -> bool {
        matches!(
            self,
            RequestError::Status {
                status: 401 | 403 | 404,
                ..
            }
        )
    }

    /// What to try, fitted to the error.
    pub fn hint(&self) -> &'static str {
        match self {
            RequestError::Connect { refused: true, .. } => {
                "nothing listens there: is the port-forward or the service running? try `ollabench test-connection`"
            }
            RequestError::Connect { .. } => {
                "check the endpoint's host name and the network path; try `ollabench test-connection`"
            }
            RequestError::Timeout {
                phase: TimeoutPhase::Connect,
                ..
            } => "no answer: check the LoadBalancer IP, firewall rules or network security groups",
            RequestError::Timeout { .. } => {
                "the server went silent: it may be overloaded or stalled; raise --first-byte-timeout or --request-timeout if it is just slow"
            }
            RequestError::Status { status: 404, .. } => {
                "the model is not on the server (pull it first), or something other than Ollama answers at this path"
            }
            RequestError::Status {
                status: 400,
                message,
                ..
            } if message.contains("does not support thinking") => {
                "the model cannot think: run it without --think on (or with --think off)"
            }
            RequestError::Status { status: 503, .. } => {
                "the server's queue is full (OLLAMA_MAX_QUEUE): lower the concurrency or raise the limit"
            }
            RequestError::Status { .. } => "see the server's message; its logs say more",
            RequestError::StreamError { .. } => "see the server's message; its logs say more",
            RequestError::Cut { .. } => {
                "the server or a proxy closed the connection: check the server's logs and restarts (kubectl get pods)"
            }
            RequestError::Malformed { .. } => {
                "the server does not speak the expected API: check --api and the endpoint"
            }
            RequestError::Cancelled => "interrupted by Ctrl-C",
            RequestError::Other(_) => "see the message",
        }
    }

    /// Classifies a reqwest error from sending a request.
    pub fn from_send(url: &str, err: &reqwest::Error, timeouts: &Timeouts) -> Self {
        if err.is_connect() {
            let detail = error_chain(err);
            if detail.to_ascii_lowercase().contains("timed out") || err.is_timeout() {
                return RequestError::Timeout {
                    phase: TimeoutPhase::Connect,
                    after: timeouts.connect,
                };
            }
            let refused = detail.to_ascii_lowercase().contains("refused");
            return RequestError::Connect {
                url: url.to_string(),
                detail,
                refused,
            };
        }
        if err.is_timeout() {
            return RequestError::Timeout {
                phase: TimeoutPhase::FirstByte,
                after: timeouts.first_byte,
            };
        }
        RequestError::Cut {
            detail: error_chain(err),
        }
    }
}

/// Sends a request and waits at most `wait` for its response headers (`phase` and `after`
/// describe that wait in the timeout error). A request that went out on a pooled connection
/// the server had already closed (llama.cpp announces keep-alive but closes after every
/// stream) is sent once more on a new connection. Returns the response and when the attempt
/// that got it was sent: the start of every duration measured on it.
pub(crate) async fn send_request(
    builder: reqwest::RequestBuilder,
    url: &str,
    timeouts: &Timeouts,
    wait: Duration,
    phase: TimeoutPhase,
) -> Result<(reqwest::Response, tokio::time::Instant), RequestError> {
    let retry = builder.try_clone();
    let mut sent = tokio::time::Instant::now();
    let mut outcome = tokio::time::timeout(wait, builder.send()).await;
    if let (Ok(Err(err)), Some(retry)) = (&outcome, retry) {
        if is_stale_connection(err) {
            sent = tokio::time::Instant::now();
            outcome = tokio::time::timeout(wait, retry.send()).await;
        }
    }
    match outcome {
        // The wait really spent, not a configured value: the message must say the truth.
        Err(_) => Err(RequestError::Timeout {
            phase,
            after: sent.elapsed(),
        }),
        Ok(Err(err)) => Err(RequestError::from_send(url, &err, timeouts)),
        Ok(Ok(response)) => Ok((response, sent)),
    }
}

/// The request went out on a pooled connection that the server had already closed.
/// (reqwest does not expose hyper's error kinds, so the texts are matched.)
fn is_stale_connection(err: &reqwest::Error) -> bool {
    if err.is_connect() || err.is_timeout() {
        return false;
    }
    let chain = error_chain(err).to_ascii_lowercase();
    [
        "connection closed before message completed",
        "connection reset",
        "broken pipe",
    ]
    .iter()
    .any(|text| chain.contains(text))
}

/// The message of an error body in any shape the servers use: Ollama's `{"error": "..."}`,
/// OpenAI's `{"error": {"message": ...}}`, older vLLM's and FastAPI's. `None` when the body
/// is not such JSON.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    error_message_of(&value)
}

pub(crate) fn error_message_of(value: &serde_json::Value) -> Option<String> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    match value.get("error") {
        // vLLM, llama.cpp, Ollama's /v1, OpenAI: {"error":{"message","type",...}}.
        Some(serde_json::Value::Object(error)) => {
            return error
                .get("message")
                .and_then(text)
                .or_else(|| Some(serde_json::Value::Object(error.clone()).to_string()));
        }
        // Ollama's native API, TGI: {"error":"text"}.
        Some(serde_json::Value::String(message)) => return Some(message.clone()),
        _ => {}
    }
    // Older vLLM: {"object":"error","message":...}; others: {"message":...}.
    if let Some(message) = value.get("message").and_then(text) {
        return Some(message);
    }
    // FastAPI (vLLM's router): {"detail":"Not Found"} or a list of validation errors.
    match value.get("detail") {
        Some(serde_json::Value::String(detail)) => Some(detail.clone()),
        Some(detail @ serde_json::Value::Array(_)) => Some(detail.to_string()),
        _ => None,
    }
}

/// The error and its sources on one line.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A client of either API.
#[derive(Debug, Clone)]
pub enum Backend {
    Ollama(ollama::OllamaClient),
    OpenAi(openai::OpenAiClient),
}

impl Backend {
    /// Runs one streamed generation and measures it.
    pub async fn generate(
        &self,
        request: &GenerationRequest,
    ) -> Result<GenerationRecord, RequestError> {
        match self {
            Backend::Ollama(client) => client.generate(request).await,
            Backend::OpenAi(client) => client.generate(request).await,
        }
    }

    /// The base URL of the server.
    pub fn base_url(&self) -> &str {
        match self {
            Backend::Ollama(client) => client.base_url(),
            Backend::OpenAi(client) => client.base_url(),
        }
    }

    /// The Ollama client, when the server speaks Ollama's API.
    pub fn as_ollama(&self) -> Option<&ollama::OllamaClient> {
        match self {
            Backend::Ollama(client) => Some(client),
            Backend::OpenAi(_) => None,
        }
    }
}

// Lives here rather than in `results`, which sits below `backend` and knows nothing of it.
impl crate::results::ErrorRecord {
    /// Records a request error that happened during `phase`.
    pub fn from_request(phase: &str, err: &RequestError) -> Self {
        crate::results::ErrorRecord {
            phase: phase.to_string(),
            kind: err.kind().to_string(),
            message: err.to_string(),
            hint: err.hint().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offsets_ms: &[u64], output_tokens: u64) -> GenerationRecord {
        GenerationRecord {
            chunk_offsets: offsets_ms
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect(),
            output_tokens,
            total: Duration::from_millis(offsets_ms.last().copied().unwrap_or(0) + 1),
            ..GenerationRecord::default()
        }
    }

    #[test]
    fn latency_metrics_follow_the_design_definitions() {
        let r = record(&[100, 120, 140, 160, 180], 5);
        assert_eq!(r.ttft(), Some(Duration::from_millis(100)));
        assert_eq!(r.e2e(), Duration::from_millis(180));
        assert_eq!(r.tpot(), Some(Duration::from_millis(20)));
        assert!(r.itls().all(|gap| gap == Duration::from_millis(20)));
        let tps = r.client_tokens_per_second().unwrap();
        assert!((tps - 50.0).abs() < 1e-9, "{tps}");
    }

    #[test]
    fn a_token_without_text_is_outside_the_client_rate() {
        // llama.cpp: 5 tokens counted, the last (end of sequence) arrived in no chunk.
        let mut r = record(&[100, 120, 140, 160], 5);
        r.chunk_token_counts = vec![1, 1, 1, 1];
        let tps = r.client_tokens_per_second().unwrap();
        assert!((tps - 50.0).abs() < 1e-9, "{tps}");
        assert_eq!(r.tpot(), Some(Duration::from_millis(20)));
        // A chunk of three tokens counts three.
        r.chunk_token_counts = vec![1, 3, 1, 1];
        let tps = r.client_tokens_per_second().unwrap();
        assert!((tps - 5.0 / 0.06).abs() < 1e-9, "{tps}");
    }

    #[test]
    fn a_single_chunk_has_no_client_rate() {
        let r = record(&[100], 1);
        assert_eq!(r.client_tokens_per_second(), None);
        assert_eq!(r.tpot(), None);
        assert_eq!(r.itls().count(), 0);
    }

    #[test]
    fn server_rates_use_nanoseconds() {
        let r = GenerationRecord {
            server: ServerTimings {
                eval_count: Some(259),
                eval_duration_ns: Some(4_232_710_000),
                prompt_eval_count: Some(26),
                prompt_eval_duration_ns: Some(130_079_000),
                ..ServerTimings::default()
            },
            ..GenerationRecord::default()
        };
        assert!((r.server_tokens_per_second().unwrap() - 61.19).abs() < 0.01);
        assert!((r.prompt_eval_tokens_per_second().unwrap() - 199.88).abs() < 0.01);
    }
}

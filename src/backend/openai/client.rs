//! The HTTP side of the OpenAI-compatible client: building it (with its API key), sending
//! requests (with the retry on a connection the server had closed), streamed generation,
//! the model list, llama.cpp's router-mode loads, and reading error bodies and JSON replies.
//! Which server answers (`server_kind`) is probed in `detect`.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{RequestBuilder, Response};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::accumulate::StreamAccumulator;
use super::wire::{ChatMessage, CompletionBody, ModelList, RouterModelList};
use crate::backend::stream::{excerpt, LineStream};
use crate::backend::{
    error_chain, error_message, send_request, GenerationRecord, GenerationRequest, RequestError,
    Route, TimeoutPhase, Timeouts,
};

/// The most of an error body or JSON reply that is read.
const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;
/// How long reading the end of a body after `[DONE]` may take. Reading it lets the
/// connection go back to the pool; the measurement is already complete by then.
const DRAIN_AFTER_DONE: Duration = Duration::from_millis(250);
/// How often a router-mode load is polled.
const LOAD_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A client of one OpenAI-compatible server.
#[derive(Clone)]
pub struct OpenAiClient {
    base_url: String,
    // Shared with `detect`, whose probes are requests of this client.
    pub(super) timeouts: Timeouts,
    pub(super) http: reqwest::Client,
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

        let (response, start, deadline) = self
            .post(&url, |post| {
                post.header(CONTENT_TYPE, "application/json").body(body)
            })
            .await?;
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

    /// Loads `model` through llama.cpp's router mode (`POST /models/load`, then polling
    /// `GET /models` until its status is `loaded`) and times it. `Ok(None)` when the server
    /// has no router mode (a single-model llama-server, vLLM, Ollama): model loads cannot be
    /// timed through the OpenAI API there.
    pub async fn load_model_timed(&self, model: &str) -> Result<Option<RouterLoad>, RequestError> {
        let url = self.url("/models/load");
        let (response, start, deadline) = self
            .post(&url, |post| {
                post.json(&serde_json::json!({ "model": model }))
            })
            .await?;
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

    pub(super) fn url(&self, path: &str) -> String {
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
    pub(super) async fn send(
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
    /// A POST (its body set by `body`) up to its headers; returns the response, when it was
    /// sent and by when the whole exchange must end.
    async fn post(
        &self,
        url: &str,
        body: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<(Response, Instant, Instant), RequestError> {
        let (wait, phase) = self.header_wait();
        let (response, start) = self
            .send(body(self.http.post(url)), url, wait, phase)
            .await?;
        Ok((response, start, start + self.timeouts.total))
    }

    fn header_wait(&self) -> (Duration, TimeoutPhase) {
        if self.timeouts.first_byte <= self.timeouts.total {
            (self.timeouts.first_byte, TimeoutPhase::FirstByte)
        } else {
            (self.timeouts.total, TimeoutPhase::Total)
        }
    }

    /// A GET whose JSON reply is decoded whole; `wait` bounds the headers and the body each.
    pub(super) async fn get_json<T: DeserializeOwned>(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

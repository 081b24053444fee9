//! The OpenAI-compatible client against small axum servers that replay what llama.cpp's
//! llama-server, vLLM and Ollama's `/v1` routes send (shapes from
//! `reference/server-apis.md` part B and A6 and the Ollama transcripts 27-29): usage chunks,
//! timings, keep-alive comments, multi-token chunks, errors before and inside the stream, cut
//! and stalled streams, malformed events; plus the model list, the server-kind probe and
//! llama.cpp's router-mode loads.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use ollabench::backend::openai::{OpenAiClient, RouterLoad, ServerKind};
use ollabench::backend::{
    GenerationRecord, GenerationRequest, RequestError, Route, TimeoutPhase, Timeouts,
    TokenCountSource,
};
use serde_json::Value;

/// One piece of a replayed body.
#[derive(Clone)]
enum Step {
    Send(String),
    /// Server-side pacing, so that arrival offsets differ; nothing waits on it.
    Pause(Duration),
    /// Never send anything again (the connection stays open).
    Stall,
    /// Break the connection mid-body.
    Abort,
}

fn send(text: impl Into<String>) -> Step {
    Step::Send(text.into())
}

/// `data: {json}\n\n`.
fn data(json: Value) -> Step {
    Step::Send(format!("data: {json}\n\n"))
}

fn done() -> Step {
    send("data: [DONE]\n\n")
}

#[derive(Clone)]
struct Reply {
    status: u16,
    content_type: &'static str,
    steps: Vec<Step>,
}

fn sse(steps: Vec<Step>) -> Reply {
    Reply {
        status: 200,
        content_type: "text/event-stream",
        steps,
    }
}

fn json_reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        content_type: "application/json",
        steps: vec![send(body.to_string())],
    }
}

/// What the fake server received.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    authorization: Option<String>,
    body: Value,
}

struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn body_of(steps: Vec<Step>) -> Body {
    let stream = futures_util::stream::unfold(steps.into_iter(), |mut steps| async move {
        loop {
            match steps.next()? {
                Step::Send(text) => {
                    return Some((Ok::<_, std::io::Error>(Bytes::from(text)), steps))
                }
                Step::Pause(pause) => tokio::time::sleep(pause).await,
                Step::Stall => std::future::pending::<()>().await,
                Step::Abort => return Some((Err(std::io::Error::other("cut by the test")), steps)),
            }
        }
    });
    Body::from_stream(stream)
}

/// Serves each path with its replies in turn (the last one repeats) on 127.0.0.1:0.
async fn fake(routes: Vec<(&'static str, Vec<Reply>)>) -> Fake {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut router = Router::new();
    for (path, replies) in routes {
        let replies = Arc::new(replies);
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = seen.clone();
        router = router.route(
            path,
            any(move |method: Method, headers: HeaderMap, body: Bytes| {
                let replies = replies.clone();
                let calls = calls.clone();
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(Seen {
                        method,
                        path: path.to_string(),
                        authorization: headers
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_string()),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    });
                    let call = calls.fetch_add(1, Ordering::SeqCst);
                    let reply = replies[call.min(replies.len() - 1)].clone();
                    Ok::<_, Infallible>(
                        Response::builder()
                            .status(StatusCode::from_u16(reply.status).unwrap())
                            .header("content-type", reply.content_type)
                            .body(body_of(reply.steps))
                            .unwrap(),
                    )
                }
            }),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Fake { url, seen }
}

fn timeouts() -> Timeouts {
    timeouts_with(Duration::from_secs(10), Duration::from_secs(30))
}

/// Timeouts with 5 s to connect.
fn timeouts_with(first_byte: Duration, total: Duration) -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        first_byte,
        total,
    }
}

fn client(fake: &Fake) -> OpenAiClient {
    OpenAiClient::new(&fake.url, timeouts(), None).unwrap()
}

/// A generation against the fake that must succeed.
async fn generate(fake: &Fake, request: GenerationRequest) -> GenerationRecord {
    client(fake).generate(&request).await.unwrap()
}

fn chat(model: &str, max_tokens: u32) -> GenerationRequest {
    let mut request = GenerationRequest::new(model, "Say hello.", max_tokens);
    request.route = Route::Chat;
    request
}

fn completion(model: &str, max_tokens: u32) -> GenerationRequest {
    GenerationRequest::new(model, "Once upon a time", max_tokens)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn llama_chunk(delta: Value, finish: Value, timings: Option<Value>) -> Value {
    let mut chunk = serde_json::json!({
        "choices": [{"finish_reason": finish, "index": 0, "delta": delta}],
        "created": 1795823953, "id": "chatcmpl-abc", "model": "smollm2",
        "system_fingerprint": "b1-abc", "object": "chat.completion.chunk"
    });
    if let Some(timings) = timings {
        chunk["timings"] = timings;
    }
    chunk
}

/// A llama.cpp chunk with `text` as its content.
fn llama_content(text: &str, timings: Option<Value>) -> Step {
    data(llama_chunk(
        serde_json::json!({ "content": text }),
        Value::Null,
        timings,
    ))
}

fn llama_timings(predicted_n: u64, predicted_ms: f64) -> Value {
    serde_json::json!({
        "cache_n": 0, "prompt_n": 12, "prompt_ms": 24.5, "prompt_per_token_ms": 2.04,
        "prompt_per_second": 489.8, "predicted_n": predicted_n, "predicted_ms": predicted_ms,
        "predicted_per_token_ms": 10.0, "predicted_per_second": 100.0
    })
}

/// A llama.cpp chat stream with `timings_per_token` and `include_usage`: a role chunk, four
/// content chunks of which one carries two tokens, keep-alive comments, the finish chunk and
/// the usage chunk with the final timings.
fn llama_chat_stream() -> Vec<Step> {
    vec![
        send(":\n\n"),
        data(llama_chunk(
            serde_json::json!({"role": "assistant", "content": null}),
            Value::Null,
            None,
        )),
        llama_content("Hello", Some(llama_timings(1, 0.0))),
        Step::Pause(ms(5)),
        llama_content(" there", Some(llama_timings(2, 10.0))),
        send(": ping\n\n"),
        Step::Pause(ms(5)),
        // Two tokens whose text only became valid UTF-8 together.
        llama_content(" 👋", Some(llama_timings(4, 30.0))),
        Step::Pause(ms(5)),
        llama_content("!\n", Some(llama_timings(5, 40.0))),
        data(llama_chunk(serde_json::json!({}), "stop".into(), None)),
        data(serde_json::json!({
            "choices": [], "created": 1795823953, "id": "chatcmpl-abc", "model": "smollm2",
            "system_fingerprint": "b1-abc", "object": "chat.completion.chunk",
            "usage": {"completion_tokens": 5, "prompt_tokens": 12, "total_tokens": 17},
            "timings": llama_timings(5, 40.0)
        })),
        done(),
    ]
}

#[tokio::test]
async fn llama_cpp_chat_stream_with_timings_per_token() {
    let fake = fake(vec![(
        "/v1/chat/completions",
        vec![sse(llama_chat_stream())],
    )])
    .await;
    let client = OpenAiClient::new(&fake.url, timeouts(), Some("sk-test-key".into())).unwrap();
    let mut request = chat("smollm2", 16);
    request.temperature = Some(0.0);
    request.seed = Some(42);
    let record = client.generate(&request).await.unwrap();

    assert_eq!(record.chunk_offsets.len(), 4);
    assert_eq!(record.chunk_token_counts, vec![1, 1, 2, 1]);
    assert_eq!(record.output_tokens, 5);
    assert_eq!(record.token_count_source, Some(TokenCountSource::Server));
    assert_eq!(record.prompt_tokens, Some(12));
    assert_eq!(record.done_reason.as_deref(), Some("stop"));
    // llama.cpp's rate (100 tok/s) is over the 4 tokens decoded after the first.
    assert_eq!(record.server.eval_count, Some(4));
    assert_eq!(record.server.eval_duration_ns, Some(40_000_000));
    assert_eq!(record.server_tokens_per_second(), Some(100.0));
    assert_eq!(record.server.prompt_eval_count, Some(12));
    assert_eq!(record.server.prompt_eval_duration_ns, Some(24_500_000));
    assert!(record.chunk_offsets.windows(2).all(|w| w[0] <= w[1]));
    assert!(record.ttft().unwrap() <= record.e2e() && record.e2e() <= record.total);
    // The server paced 15 ms between the first and last content chunk.
    assert!(record.e2e() - record.ttft().unwrap() >= ms(15));

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    let sent = &seen[0];
    assert_eq!(sent.method, Method::POST);
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.authorization.as_deref(), Some("Bearer sk-test-key"));
    assert_eq!(sent.body["model"], "smollm2");
    assert_eq!(sent.body["messages"][0]["role"], "user");
    assert_eq!(sent.body["messages"][0]["content"], "Say hello.");
    assert_eq!(sent.body["max_tokens"], 16);
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["stream_options"]["include_usage"], true);
    assert_eq!(sent.body["temperature"], 0.0);
    assert_eq!(sent.body["seed"], 42);
    assert!(sent.body.get("prompt").is_none());
}

#[tokio::test]
async fn llama_cpp_completions_with_timings_only_on_the_last_chunk() {
    let chunk = |text: &str| {
        data(serde_json::json!({
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": null}],
            "created": 1, "model": "smollm2", "system_fingerprint": "b1",
            "object": "text_completion", "id": "cmpl-1"
        }))
    };
    let fake = fake(vec![(
        "/v1/completions",
        vec![sse(vec![
            chunk(" there"),
            chunk(" was"),
            chunk(" a"),
            data(serde_json::json!({
                "choices": [{"text": "", "index": 0, "logprobs": null, "finish_reason": "length"}],
                "created": 1, "model": "smollm2", "system_fingerprint": "b1",
                "object": "text_completion", "id": "cmpl-1",
                "usage": {"completion_tokens": 3, "prompt_tokens": 5, "total_tokens": 8},
                "timings": llama_timings(3, 20.0)
            })),
            done(),
        ])],
    )])
    .await;
    let record = generate(&fake, completion("smollm2", 3)).await;
    assert_eq!(record.chunk_offsets.len(), 3);
    assert!(
        record.chunk_token_counts.is_empty(),
        "no running counts were sent"
    );
    assert_eq!(record.output_tokens, 3);
    assert_eq!(record.token_count_source, Some(TokenCountSource::Server));
    assert_eq!(record.done_reason.as_deref(), Some("length"));
    assert_eq!(record.server.eval_duration_ns, Some(20_000_000));
    assert_eq!(record.server_tokens_per_second(), Some(100.0));

    let seen = fake.seen();
    assert_eq!(seen[0].path, "/v1/completions");
    assert_eq!(seen[0].body["prompt"], "Once upon a time");
    assert!(seen[0].body.get("messages").is_none());
    assert!(seen[0].authorization.is_none());
}

fn vllm_chunk(delta: Value, finish: Value, completion_tokens: u64) -> Value {
    serde_json::json!({
        "id": "chatcmpl-9f", "object": "chat.completion.chunk", "created": 1, "model": "qwen",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        "usage": {"prompt_tokens": 7, "total_tokens": 7 + completion_tokens,
                  "completion_tokens": completion_tokens}
    })
}

#[tokio::test]
async fn vllm_chat_with_continuous_usage_and_a_batched_chunk() {
    let fake = fake(vec![(
        "/v1/chat/completions",
        vec![sse(vec![
            data(vllm_chunk(
                serde_json::json!({"role": "assistant", "content": ""}),
                Value::Null,
                0,
            )),
            data(vllm_chunk(
                serde_json::json!({"content": "The"}),
                Value::Null,
                1,
            )),
            data(vllm_chunk(
                serde_json::json!({"content": " quick brown"}),
                Value::Null,
                3,
            )),
            data(vllm_chunk(
                serde_json::json!({"content": " fox"}),
                Value::Null,
                4,
            )),
            data({
                let mut finish = vllm_chunk(serde_json::json!({"content": ""}), "length".into(), 4);
                finish["choices"][0]["stop_reason"] = Value::Null;
                finish
            }),
            data(serde_json::json!({
                "id": "chatcmpl-9f", "object": "chat.completion.chunk", "created": 1,
                "model": "qwen", "choices": [],
                "usage": {"prompt_tokens": 7, "total_tokens": 11, "completion_tokens": 4,
                          "prompt_tokens_details": null}
            })),
            done(),
        ])],
    )])
    .await;
    let record = generate(&fake, chat("qwen", 4)).await;
    assert_eq!(record.chunk_offsets.len(), 3);
    assert_eq!(record.chunk_token_counts, vec![1, 2, 1]);
    assert_eq!(record.output_tokens, 4);
    assert_eq!(record.prompt_tokens, Some(7));
    assert_eq!(record.done_reason.as_deref(), Some("length"));
    assert_eq!(record.server.eval_count, Some(4));
    assert_eq!(
        record.server.eval_duration_ns, None,
        "vLLM sends no timings"
    );
    // The rate counts the tokens of the chunks after the first: 3 tokens, not 2 chunks.
    if let Some(rate) = record.client_tokens_per_second() {
        let span = (record.e2e() - record.ttft().unwrap()).as_secs_f64();
        assert!((rate - 3.0 / span).abs() < 1e-6 * rate.max(1.0));
    }
}

#[tokio::test]
async fn ollama_v1_completions_zeroed_usage_on_every_chunk() {
    let chunk = |text: &str, finish: Value| {
        data(serde_json::json!({
            "id": "cmpl-7", "object": "text_completion", "created": 1, "model": "smollm2:135m",
            "system_fingerprint": "fp_ollama",
            "choices": [{"text": text, "index": 0, "finish_reason": finish}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        }))
    };
    let fake = fake(vec![(
        "/v1/completions",
        vec![sse(vec![
            chunk("I", Value::Null),
            chunk("'m", Value::Null),
            chunk(" so", Value::Null),
            chunk("", "length".into()),
            data(serde_json::json!({
                "id": "cmpl-7", "object": "text_completion", "created": 1,
                "model": "smollm2:135m", "system_fingerprint": "fp_ollama", "choices": [],
                "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
            })),
            done(),
        ])],
    )])
    .await;
    let record = generate(&fake, completion("smollm2:135m", 3)).await;
    assert_eq!(record.chunk_offsets.len(), 3);
    assert!(record.chunk_token_counts.is_empty());
    assert_eq!(record.output_tokens, 3);
    assert_eq!(record.token_count_source, Some(TokenCountSource::Server));
    assert_eq!(record.prompt_tokens, Some(12));
}

#[tokio::test]
async fn without_usage_content_chunks_are_counted_and_the_record_says_so() {
    let fake = fake(vec![(
        "/v1/chat/completions",
        vec![sse(vec![
            data(vllm_chunk(serde_json::json!({"content": "a"}), Value::Null, 0)),
            data(vllm_chunk(serde_json::json!({"content": "b"}), Value::Null, 0)),
            data(serde_json::json!({"choices": [{"index": 0, "delta": {"content": "c"}}]})),
            data(serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})),
            done(),
        ])],
    )])
    .await;
    let record = generate(&fake, chat("m", 10)).await;
    assert_eq!(record.output_tokens, 3);
    assert_eq!(
        record.token_count_source,
        Some(TokenCountSource::ContentChunks)
    );
    // The running usage (output 0) of the first chunks still gives the prompt's size.
    assert_eq!(record.prompt_tokens, Some(7));
    assert_eq!(record.done_reason.as_deref(), Some("stop"));
}

async fn generate_error(reply: Reply, route: Route) -> RequestError {
    let path = match route {
        Route::Chat => "/v1/chat/completions",
        Route::Generate => "/v1/completions",
    };
    let fake = fake(vec![(path, vec![reply])]).await;
    let mut request = chat("m", 8);
    request.route = route;
    client(&fake).generate(&request).await.unwrap_err()
}

#[tokio::test]
async fn errors_before_the_stream_keep_the_status_and_the_message() {
    let cases = [
        (
            json_reply(
                404,
                serde_json::json!({"error": {"message": "The model `m` does not exist.",
                    "type": "NotFoundError", "param": null, "code": 404}}),
            ),
            404,
            "The model `m` does not exist.",
        ),
        (
            json_reply(
                400,
                serde_json::json!({"object": "error", "message": "max_tokens is too large",
                    "type": "BadRequestError", "param": null, "code": 400}),
            ),
            400,
            "max_tokens is too large",
        ),
        (
            json_reply(
                400,
                serde_json::json!({"error": {"code": 400, "type": "exceed_context_size_error",
                    "message": "the request exceeds the available context size"}}),
            ),
            400,
            "the request exceeds the available context size",
        ),
        (
            json_reply(
                401,
                serde_json::json!({"error": {"code": 401, "message": "Invalid API Key",
                    "type": "authentication_error"}}),
            ),
            401,
            "Invalid API Key",
        ),
        (
            Reply {
                status: 503,
                content_type: "text/plain",
                steps: vec![send("upstream unavailable")],
            },
            503,
            "upstream unavailable",
        ),
    ];
    for (reply, status, message) in cases {
        match generate_error(reply, Route::Chat).await {
            RequestError::Status {
                status: got,
                message: got_message,
                url,
            } => {
                assert_eq!(got, status);
                assert_eq!(got_message, message);
                assert!(url.ends_with("/v1/chat/completions"), "{url}");
            }
            other => panic!("expected a status error, got {other:?}"),
        }
    }
}

/// A llama.cpp content chunk of one token.
fn content() -> Step {
    llama_content("Hi", None)
}

fn error_event() -> Step {
    data(
        serde_json::json!({"error": {"code": 500, "message": "llama_decode failed",
        "type": "server_error"}}),
    )
}

#[tokio::test]
async fn an_error_event_mid_stream_fails_the_request_with_or_without_done() {
    let cases = [
        // llama.cpp: the error, then the connection closes without [DONE].
        (
            vec![content(), error_event()],
            Route::Chat,
            "llama_decode failed",
        ),
        // vLLM: the error, then [DONE].
        (
            vec![
                content(),
                data(serde_json::json!({"error": {"message": "EngineCore died",
                    "type": "InternalServerError", "param": null, "code": 500}})),
                done(),
            ],
            Route::Chat,
            "EngineCore died",
        ),
        // Older vLLM's flat shape, on the completions route.
        (
            vec![
                data(
                    serde_json::json!({"object": "error", "message": "flat failure",
                    "type": "InternalServerError", "code": 500}),
                ),
                done(),
            ],
            Route::Generate,
            "flat failure",
        ),
    ];
    for (steps, route, message) in cases {
        assert_eq!(
            generate_error(sse(steps), route).await,
            RequestError::StreamError {
                message: message.into()
            }
        );
    }
}

#[tokio::test]
async fn a_stream_that_ends_without_done_or_finish_was_cut() {
    let ended = generate_error(sse(vec![content(), content()]), Route::Chat).await;
    assert!(matches!(ended, RequestError::Cut { .. }), "{ended:?}");
    assert_eq!(ended.kind(), "connection-cut");

    let aborted = generate_error(sse(vec![content(), Step::Abort]), Route::Chat).await;
    assert!(matches!(aborted, RequestError::Cut { .. }), "{aborted:?}");

    // A finish without [DONE] is a complete generation.
    let fake = fake(vec![(
        "/v1/chat/completions",
        vec![sse(vec![
            content(),
            data(llama_chunk(serde_json::json!({}), "stop".into(), None)),
        ])],
    )])
    .await;
    let record: GenerationRecord = client(&fake).generate(&chat("m", 8)).await.unwrap();
    assert_eq!(record.done_reason.as_deref(), Some("stop"));
    assert_eq!(record.output_tokens, 1);
}

#[tokio::test]
async fn malformed_events_and_non_stream_replies_are_malformed() {
    let broken = generate_error(
        sse(vec![send("data: {\"choices\": [\n\n"), done()]),
        Route::Chat,
    )
    .await;
    assert!(
        matches!(&broken, RequestError::Malformed { excerpt, .. } if excerpt.contains("choices")),
        "{broken:?}"
    );
    let wrong_type = generate_error(
        sse(vec![
            data(serde_json::json!({"choices": [{"delta": {"content": 5}}]})),
            done(),
        ]),
        Route::Chat,
    )
    .await;
    assert!(
        matches!(wrong_type, RequestError::Malformed { .. }),
        "{wrong_type:?}"
    );
    // Ollama's native NDJSON is not an event stream.
    let ndjson = generate_error(
        sse(vec![send("{\"response\":\"Hi\",\"done\":false}\n")]),
        Route::Generate,
    )
    .await;
    assert!(
        matches!(ndjson, RequestError::Malformed { .. }),
        "{ndjson:?}"
    );
    // A server that ignores `stream: true`.
    let whole = generate_error(
        json_reply(
            200,
            serde_json::json!({"choices": [{"message": {"content": "Hi"}}]}),
        ),
        Route::Chat,
    )
    .await;
    assert!(
        matches!(&whole, RequestError::Malformed { detail, .. } if detail.contains("application/json")),
        "{whole:?}"
    );
}

#[tokio::test]
async fn a_stall_past_the_timeout_fails_with_the_first_byte_timeout() {
    let fake = fake(vec![
        (
            "/v1/chat/completions",
            vec![sse(vec![content(), Step::Stall])],
        ),
        ("/v1/completions", vec![sse(vec![Step::Stall])]),
    ])
    .await;
    let quick = timeouts_with(ms(300), Duration::from_secs(30));
    let client = OpenAiClient::new(&fake.url, quick, None).unwrap();
    let stalled = client.generate(&chat("m", 8)).await.unwrap_err();
    assert_eq!(
        stalled,
        RequestError::Timeout {
            phase: TimeoutPhase::FirstByte,
            after: ms(300)
        }
    );
    let silent = client.generate(&completion("m", 8)).await.unwrap_err();
    assert_eq!(silent.kind(), "first-byte-timeout");

    // The whole-request limit wins when it is the shorter one.
    let short_total = timeouts_with(Duration::from_secs(10), ms(300));
    let client = OpenAiClient::new(&fake.url, short_total, None).unwrap();
    let over = client.generate(&chat("m", 8)).await.unwrap_err();
    assert_eq!(over.kind(), "request-timeout", "{over:?}");
}

#[tokio::test]
async fn connection_refused_is_its_own_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = OpenAiClient::new(&url, timeouts(), None).unwrap();
    let err = client.generate(&chat("m", 8)).await.unwrap_err();
    assert_eq!(err.kind(), "connection-refused", "{err:?}");
}

#[tokio::test]
async fn models_are_listed_from_every_shape() {
    let llama = fake(vec![(
        "/v1/models",
        vec![json_reply(
            200,
            serde_json::json!({
                "models": [{"name": "smollm2", "model": "smollm2"}],
                "object": "list",
                "data": [{"id": "smollm2", "aliases": [], "tags": [], "object": "model",
                          "created": 1, "owned_by": "llamacpp", "meta": {"n_ctx": 2048}}]
            }),
        )],
    )])
    .await;
    assert_eq!(client(&llama).models().await.unwrap(), vec!["smollm2"]);

    let empty_ollama = fake(vec![(
        "/v1/models",
        vec![json_reply(
            200,
            serde_json::json!({"object": "list", "data": null}),
        )],
    )])
    .await;
    assert!(client(&empty_ollama).models().await.unwrap().is_empty());

    // A base URL that already ends in /v1 is accepted.
    let with_v1 = OpenAiClient::new(&format!("{}/v1/", llama.url), timeouts(), None).unwrap();
    assert_eq!(with_v1.models().await.unwrap(), vec!["smollm2"]);

    let not_found = fake(vec![]).await;
    let err = client(&not_found).models().await.unwrap_err();
    assert_eq!(err.kind(), "http-404", "{err:?}");
}

#[tokio::test]
async fn the_server_kind_is_probed_for_provenance() {
    let llama = fake(vec![(
        "/props",
        vec![json_reply(
            200,
            serde_json::json!({"default_generation_settings": {"n_ctx": 2048}, "total_slots": 2,
                               "build_info": "b11434-abcdef"}),
        )],
    )])
    .await;
    let kind = client(&llama).server_kind().await.unwrap();
    assert_eq!(
        kind,
        ServerKind::LlamaCpp {
            build: Some("b11434-abcdef".into())
        }
    );
    assert_eq!(kind.name(), "llama.cpp");

    let vllm = fake(vec![
        (
            "/v1/models",
            vec![json_reply(
                200,
                serde_json::json!({"object": "list", "data": [{"id": "qwen", "object": "model",
                    "created": 1, "owned_by": "vllm", "root": "qwen", "max_model_len": 4096}]}),
            )],
        ),
        (
            "/version",
            vec![json_reply(200, serde_json::json!({"version": "0.11.0"}))],
        ),
    ])
    .await;
    let kind = client(&vllm).server_kind().await.unwrap();
    assert_eq!(
        kind,
        ServerKind::Vllm {
            version: Some("0.11.0".into())
        }
    );

    let ollama = fake(vec![(
        "/api/version",
        vec![json_reply(200, serde_json::json!({"version": "0.24.0"}))],
    )])
    .await;
    let kind = client(&ollama).server_kind().await.unwrap();
    assert_eq!(kind.name(), "ollama");
    assert_eq!(kind.version(), Some("0.24.0"));

    let other = fake(vec![(
        "/v1/models",
        vec![json_reply(
            200,
            serde_json::json!({"object": "list", "data": [{"id": "x", "owned_by": "sglang"}]}),
        )],
    )])
    .await;
    assert_eq!(
        client(&other).server_kind().await.unwrap(),
        ServerKind::Unknown
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = OpenAiClient::new(&gone, timeouts(), None)
        .unwrap()
        .server_kind()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "connection-refused");
}

fn router_models(status: &str) -> Reply {
    json_reply(
        200,
        serde_json::json!({"object": "list", "data": [
            {"id": "other", "aliases": [], "status": {"value": "unloaded", "args": []}},
            {"id": "smollm2", "aliases": ["small"], "object": "model", "owned_by": "llamacpp",
             "status": {"value": status, "args": ["llama-server", "-m", "x.gguf"]}}
        ]}),
    )
}

#[tokio::test]
async fn router_mode_loads_are_timed_by_polling_the_model_list() {
    let fake = fake(vec![
        (
            "/models/load",
            vec![json_reply(200, serde_json::json!({"success": true}))],
        ),
        (
            "/models",
            vec![
                router_models("loading"),
                router_models("loading"),
                router_models("loaded"),
            ],
        ),
    ])
    .await;
    let load = client(&fake).load_model_timed("small").await.unwrap();
    let load: RouterLoad = load.expect("a router answers");
    assert!(!load.already_loaded);
    assert!(load.elapsed > Duration::ZERO);
    let seen = fake.seen();
    assert_eq!(seen[0].path, "/models/load");
    assert_eq!(seen[0].body["model"], "small");
    assert_eq!(seen.iter().filter(|s| s.path == "/models").count(), 3);
}

#[tokio::test]
async fn router_mode_load_answers_for_the_other_cases() {
    // A single-model llama-server: the route does not exist.
    let single = fake(vec![]).await;
    assert_eq!(client(&single).load_model_timed("m").await.unwrap(), None);

    let running = fake(vec![(
        "/models/load",
        vec![json_reply(
            400,
            serde_json::json!({"error": {"code": 400, "message": "model is already running",
                "type": "invalid_request_error"}}),
        )],
    )])
    .await;
    let load = client(&running)
        .load_model_timed("m")
        .await
        .unwrap()
        .unwrap();
    assert!(load.already_loaded);
    assert_eq!(load.elapsed, Duration::ZERO);

    let unknown = fake(vec![(
        "/models/load",
        vec![json_reply(
            404,
            serde_json::json!({"error": {"code": 404, "message": "model is not found",
                "type": "not_found_error"}}),
        )],
    )])
    .await;
    let err = client(&unknown).load_model_timed("nope").await.unwrap_err();
    assert!(
        matches!(&err, RequestError::Status { status: 404, message, .. } if message.contains("nope")),
        "{err:?}"
    );

    let failing = fake(vec![
        (
            "/models/load",
            vec![json_reply(200, serde_json::json!({"success": true}))],
        ),
        (
            "/models",
            vec![json_reply(
                200,
                serde_json::json!({"data": [{"id": "m", "status": {"value": "unloaded",
                    "failed": true, "exit_code": 1}}]}),
            )],
        ),
    ])
    .await;
    let err = client(&failing).load_model_timed("m").await.unwrap_err();
    assert!(err.to_string().contains("exited with code 1"), "{err}");

    let stopped = fake(vec![
        (
            "/models/load",
            vec![json_reply(200, serde_json::json!({"success": true}))],
        ),
        (
            "/models",
            vec![router_models("loading"), router_models("unloaded")],
        ),
    ])
    .await;
    let err = client(&stopped)
        .load_model_timed("smollm2")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ended without"), "{err}");
}

/// Reads one HTTP/1.1 request (headers and a Content-Length body); false at the end.
async fn read_request(socket: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if data.len() >= end + 4 + length {
                return true;
            }
        }
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_request_on_a_connection_the_server_closed_is_sent_again() {
    use tokio::io::AsyncWriteExt;
    // Like llama.cpp's server: it announces keep-alive, serves one stream, and then drops
    // the connection, here only once the next request has arrived on it, so that the
    // client's reuse of the pooled connection fails every time.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if !read_request(&mut socket).await {
                    return;
                }
                let mut reply = String::from(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                     Transfer-Encoding: chunked\r\nKeep-Alive: timeout=5, max=100\r\n\r\n",
                );
                for event in [
                    r#"data: {"choices":[{"index":0,"text":"Hi"}]}"#,
                    r#"data: {"choices":[{"index":0,"text":"!","finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
                    "data: [DONE]",
                ] {
                    let chunk = format!("{event}\n\n");
                    reply.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
                }
                reply.push_str("0\r\n\r\n");
                socket.write_all(reply.as_bytes()).await.unwrap();
                // The next request on this connection is read and left unanswered.
                read_request(&mut socket).await;
            });
        }
    });
    let client = OpenAiClient::new(&url, timeouts(), None).unwrap();
    for round in 1..=3 {
        let record = client
            .generate(&completion("m", 2))
            .await
            .unwrap_or_else(|err| panic!("round {round}: {err:?}"));
        assert_eq!(record.output_tokens, 2);
        assert_eq!(record.done_reason.as_deref(), Some("stop"));
    }
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}

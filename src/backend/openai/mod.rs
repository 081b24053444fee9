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
//!   ([`TokenCountSource::ContentChunks`](super::TokenCountSource::ContentChunks)). Ollama's
//!   `/v1/completions` puts a zeroed usage on every chunk; an all-zero usage is not taken as
//!   a count.
//! - Tokens per chunk: the request asks for vLLM's `continuous_usage_stats` and llama.cpp's
//!   `timings_per_token`, which put a running token count on every chunk. When every content
//!   chunk has one, the record keeps the tokens each chunk carried, so rates and ITL are per
//!   token even when a chunk holds several (llama.cpp holds back incomplete UTF-8 and partial
//!   stop words; vLLM batches under load). Servers that do not know these fields ignore them.
//! - Thinking: reasoning deltas (vLLM's and llama.cpp's `reasoning_content`, newer vLLM's and
//!   Ollama's `reasoning`) are output like content, and the record counts their tokens apart.
//!   `think` is sent on chat only, as `chat_template_kwargs: {"enable_thinking": bool}` (the
//!   chat template's switch in vLLM, SGLang and llama.cpp) and, to turn it off, Ollama's
//!   `reasoning: {"effort": "none"}`; each server ignores the other's field. Ollama's
//!   `reasoning_effort` levels are not sent for on: Ollama refuses a level for models other
//!   than gpt-oss, and its thinking models think by default. `/v1/completions` applies no
//!   template, so nothing is sent there.
//! - llama.cpp's `timings` (last chunk) fill [`ServerTimings`](super::ServerTimings):
//!   `prompt_n` and `prompt_ms` are the prompt evaluation (cached tokens excluded);
//!   `predicted_ms` is `eval_duration`, and `eval_count` the tokens decoded within it.
//!   Current llama.cpp starts that clock after the first token (which comes out of the
//!   prompt batch), so `eval_count` is `predicted_n - 1` and `eval_count / eval_duration`
//!   equals its `predicted_per_second`; the output token count stays
//!   `usage.completion_tokens`. A one-token generation has no decode time.
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
//!
//! One file per job: `client` sends the requests and reads the replies, `sse` frames the
//! event stream into payloads, `accumulate` turns payloads into a record, `wire` holds the
//! JSON the servers exchange, and `detect` tells which server answers.

mod accumulate;
mod client;
mod detect;
mod sse;
mod wire;

pub use client::{OpenAiClient, RouterLoad};
pub use detect::ServerKind;
pub use sse::read_event_lines;

//! What one generation's events add up to: content and reasoning deltas timed as they
//! arrive (reasoning is generated output: it counts for TTFT, ITL and the rates), how many
//! tokens were reasoning, the tokens each chunk carried (from running counts), the server's
//! usage and llama.cpp's timings, the finish reason, and an error event mid-stream; and what
//! a stream that was cut fails with.

use std::time::Duration;

use super::wire::{StreamEvent, Timings, Usage};
use crate::backend::stream::excerpt;
use crate::backend::{
    error_message_of, GenerationRecord, RequestError, ServerTimings, TokenCountSource,
};

/// Content chunks reserved up front; longer generations grow the vectors as usual.
const RESERVED_CHUNKS: usize = 4096;

/// What one generation's events add up to.
pub(super) struct StreamAccumulator {
    record: GenerationRecord,
    /// Every content chunk so far carried a running token count.
    counts_known: bool,
    /// The running token count at the last content chunk.
    counted: u64,
    /// Chunks of reasoning text only, and the tokens they carried by the running counts.
    thinking_chunks: u64,
    thinking_counted: u64,
    /// The last usage that was not all zeros.
    usage: Option<Usage>,
    timings: Option<Timings>,
    /// Read by the stream's readers: a stream without `[DONE]` but with a finish_reason
    /// was not cut.
    pub(super) done_reason: Option<String>,
}

impl StreamAccumulator {
    pub(super) fn new(max_tokens: u32) -> Self {
        let reserve = (max_tokens as usize).min(RESERVED_CHUNKS);
        StreamAccumulator {
            record: GenerationRecord {
                chunk_offsets: Vec::with_capacity(reserve),
                chunk_token_counts: Vec::with_capacity(reserve),
                ..GenerationRecord::default()
            },
            counts_known: true,
            counted: 0,
            thinking_chunks: 0,
            thinking_counted: 0,
            usage: None,
            timings: None,
            done_reason: None,
        }
    }

    pub(super) fn on_event(&mut self, payload: &[u8], at: Duration) -> Result<(), RequestError> {
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
        let thinking = choice.is_thinking();
        self.thinking_chunks += u64::from(thinking);
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
                if thinking {
                    self.thinking_counted += u64::from(carried);
                }
            }
            _ => self.counts_known = false,
        }
        Ok(())
    }

    /// The error of a stream that ended without `data: [DONE]` and without a finish_reason.
    pub(super) fn cut(&self) -> RequestError {
        RequestError::Cut {
            detail: format!(
                "the stream ended without `data: [DONE]` or a finish_reason after {} content chunks",
                self.record.chunk_offsets.len()
            ),
        }
    }

    pub(super) fn finish(mut self, total: Duration) -> GenerationRecord {
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
            record.thinking_tokens = self.thinking_chunks;
        } else {
            record.thinking_tokens = self.thinking_counted;
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(record.thinking_tokens, 0);
    }

    #[test]
    fn reasoning_chunks_are_output_and_counted_apart() {
        let run = |events: &[&str]| {
            let mut acc = StreamAccumulator::new(8);
            for (i, json) in events.iter().enumerate() {
                acc.on_event(json.as_bytes(), Duration::from_millis(10 + i as u64 * 10))
                    .unwrap();
            }
            acc.finish(Duration::from_millis(100))
        };
        // vLLM with running counts: a first reasoning chunk of two tokens, one more, an answer.
        let record = run(&[
            r#"{"choices":[{"delta":{"reasoning_content":"Okay so"}}],"usage":{"completion_tokens":2}}"#,
            r#"{"choices":[{"delta":{"reasoning_content":" then"}}],"usage":{"completion_tokens":3}}"#,
            r#"{"choices":[{"delta":{"content":"Yes"}}],"usage":{"completion_tokens":4}}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}],"usage":{"completion_tokens":4}}"#,
        ]);
        assert_eq!(
            record.ttft(),
            Some(Duration::from_millis(10)),
            "TTFT is the first reasoning chunk"
        );
        assert_eq!(record.chunk_offsets.len(), 3);
        assert_eq!(record.thinking_tokens, 3);
        assert_eq!(record.output_tokens, 4);
        // Without counts (Ollama's `/v1` says `reasoning`): one token a chunk.
        let record = run(&[
            r#"{"choices":[{"delta":{"role":"assistant","content":"","reasoning":"Okay"}}]}"#,
            r#"{"choices":[{"delta":{"role":"assistant","content":"Yes"}}]}"#,
            r#"{"choices":[{"delta":{"content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
        ]);
        assert_eq!(record.thinking_tokens, 1);
        assert_eq!(record.output_tokens, 2);
    }
}

//! Ollama's streamed generation (`/api/generate`, `/api/chat`), one JSON object a line: the
//! content chunks timed as they arrive, an error line, and the final chunk with the
//! server's timings and counts that completes the record. A thinking model's `thinking` text
//! is generated output like `response`: its chunks count for TTFT, ITL and the token counts,
//! and the record says how many tokens were thinking (Ollama's `eval_count` includes them).

use tokio::time::Instant;

use super::wire::StreamChunk;
use crate::backend::stream::excerpt;
use crate::backend::{GenerationRecord, RequestError, ServerTimings, TokenCountSource};

/// Reads the lines of a generation stream (`/api/generate` or `/api/chat`, each without its
/// `\n`) as [`OllamaClient::generate`](super::OllamaClient::generate) reads a server's reply,
/// timed from the call: the record, or the error `generate` would give. Needs no server; the
/// fuzz targets use it.
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
pub(super) fn read_chunk(
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
    let non_empty = |text: Option<&str>| text.is_some_and(|t| !t.is_empty());
    let message = chunk.message.as_ref();
    let content = non_empty(chunk.response.as_deref())
        || non_empty(message.and_then(|m| m.content.as_deref()));
    let thinking = non_empty(chunk.thinking.as_deref())
        || non_empty(message.and_then(|m| m.thinking.as_deref()));
    if content || thinking {
        record.chunk_offsets.push(arrived);
    }
    // A chunk with both is answer text that ends the thinking: counted as the answer.
    if thinking && !content {
        record.thinking_tokens += 1;
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
pub(super) fn cut_before_final(record: &GenerationRecord) -> RequestError {
    RequestError::Cut {
        detail: format!(
            "the stream ended after {} chunks without its final message",
            record.chunk_offsets.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn thinking_chunks_are_output_and_counted_apart() {
        for lines in [
            [
                &br#"{"response":"","thinking":"Okay","done":false}"#[..],
                br#"{"response":"","thinking":" so","done":false}"#,
                br#"{"response":"Yes","done":false}"#,
                br#"{"response":"","done":true,"eval_count":3}"#,
            ],
            [
                &br#"{"message":{"role":"assistant","content":"","thinking":"Okay"},"done":false}"#
                    [..],
                br#"{"message":{"role":"assistant","content":"","thinking":" so"},"done":false}"#,
                br#"{"message":{"role":"assistant","content":"Yes"},"done":false}"#,
                br#"{"message":{"role":"assistant","content":""},"done":true,"eval_count":3}"#,
            ],
        ] {
            let record = read_generation_lines(lines).unwrap();
            assert_eq!(record.chunk_offsets.len(), 3, "thinking chunks are timed");
            assert_eq!(record.thinking_tokens, 2);
            assert_eq!(record.output_tokens, 3);
        }
        // No thinking: nothing counted as thinking, an empty `thinking` is no output.
        let record = read_generation_lines([
            &br#"{"response":"","thinking":"","done":false}"#[..],
            br#"{"response":"Hi","done":false}"#,
            br#"{"response":"","done":true}"#,
        ])
        .unwrap();
        assert_eq!(record.chunk_offsets.len(), 1);
        assert_eq!(record.thinking_tokens, 0);
        assert_eq!(record.output_tokens, 1);
    }
}

//! Server-sent event framing: which lines of a stream carry an event (`data: {json}`), which
//! end it (`data: [DONE]`), which are skipped (comments, keep-alive pings, the other SSE
//! fields), and reading a whole stream of lines without a server, for the fuzz targets.

use std::time::Duration;

use tokio::time::Instant;

use super::accumulate::StreamAccumulator;
use crate::backend::stream::excerpt;
use crate::backend::{GenerationRecord, RequestError};

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

// The accumulator only ever sees event payloads; which lines carry one, and which ends the
// stream, is this module's to decide.
impl StreamAccumulator {
    /// Reads one line of the stream, which came `at` after the request was sent: `Ok(true)`
    /// at `data: [DONE]`.
    pub(super) fn on_line(&mut self, line: &[u8], at: Duration) -> Result<bool, RequestError> {
        match sse_payload(line)? {
            SseLine::Skip => Ok(false),
            SseLine::Done => Ok(true),
            SseLine::Data(payload) => self.on_event(payload, at).map(|()| false),
        }
    }
}

/// Reads the lines of a server-sent event stream (each without its `\n`) as
/// [`OpenAiClient::generate`](super::OpenAiClient::generate) reads a server's reply, timed
/// from the call: the record, or the error `generate` would give. Needs no server; the fuzz
/// targets use it.
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

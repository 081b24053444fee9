//! What the fuzz targets share: the lines a body splits into, and the checks every
//! generation record must pass.

use ollabench::backend::{GenerationRecord, RequestError, TokenCountSource};

/// The lines `LineStream` hands out for `body`: split at `\n`, one `\r` before it removed, a
/// last line without `\n` kept as it is. The `line_stream` target checks that `LineStream`
/// gives exactly these, however the body is cut into chunks.
pub fn lines(body: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut rest = body;
    while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
        let line = &rest[..newline];
        lines.push(line.strip_suffix(b"\r").unwrap_or(line));
        rest = &rest[newline + 1..];
    }
    if !rest.is_empty() {
        lines.push(rest);
    }
    lines
}

/// Checks what a stream parser gave: a record that holds together, or an error that prints.
pub fn check(result: &Result<GenerationRecord, RequestError>) {
    let record = match result {
        Ok(record) => record,
        Err(err) => {
            let _ = (err.to_string(), err.kind(), err.hint());
            return;
        }
    };
    assert!(record.token_count_source.is_some(), "no token count source");
    if record.token_count_source == Some(TokenCountSource::ContentChunks) {
        assert_eq!(record.output_tokens, record.chunk_offsets.len() as u64);
    }
    assert!(
        record.chunk_token_counts.is_empty()
            || record.chunk_token_counts.len() == record.chunk_offsets.len(),
        "tokens per chunk for some chunks only"
    );
    assert!(
        record.chunk_offsets.windows(2).all(|w| w[0] <= w[1]),
        "chunk offsets out of order"
    );
    assert!(record
        .chunk_offsets
        .last()
        .is_none_or(|last| *last <= record.total));
    // Every figure the scenarios take from a record.
    let _ = (
        record.ttft(),
        record.e2e(),
        record.itls().sum::<std::time::Duration>(),
        record.client_tokens_per_second(),
        record.server_tokens_per_second(),
        record.prompt_eval_tokens_per_second(),
        record.tpot(),
        record.stopped_early(u32::MAX),
    );
}

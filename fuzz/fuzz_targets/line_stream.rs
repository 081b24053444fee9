//! The line reader of streamed bodies (`LineStream`), fed a body cut into chunks at
//! input-chosen places: the lines must be the same however the body is cut.
//!
//! Input: the first byte `n` says how many of the following bytes (`n % 16`) are chunk
//! lengths; the rest is the body, cut into chunks of those lengths in turn (a 0 in the first
//! round is an empty chunk; later rounds take at least one byte).
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ollabench::backend::stream::LineStream;
use tokio::runtime::Runtime;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

fn chunks(lengths: &[u8], body: &[u8]) -> Vec<Bytes> {
    let mut chunks = Vec::new();
    let mut rest = body;
    let mut turn = 0;
    while !rest.is_empty() {
        let length = match lengths.get(turn % lengths.len().max(1)) {
            None => rest.len(),
            Some(&0) if turn < lengths.len() => 0,
            Some(&length) => usize::from(length).max(1),
        };
        turn += 1;
        let (chunk, after) = rest.split_at(length.min(rest.len()));
        chunks.push(Bytes::copy_from_slice(chunk));
        rest = after;
    }
    chunks
}

async fn read_lines(chunks: Vec<Bytes>) -> Vec<Vec<u8>> {
    let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
    let response = reqwest::Response::from(http::Response::new(reqwest::Body::wrap_stream(stream)));
    let limit = Duration::from_secs(3600);
    let mut reader = LineStream::new(response, limit, tokio::time::Instant::now() + limit, limit);
    let mut lines = Vec::new();
    loop {
        match reader.next_line().await {
            Ok(Some(line)) => lines.push(line.to_vec()),
            Ok(None) => return lines,
            Err(err) => panic!("a body held in memory failed to read: {err}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(first % 16).min(rest.len());
    let (lengths, body) = rest.split_at(split);
    let chunks = chunks(lengths, body);
    assert_eq!(chunks.concat(), body);
    let lines = runtime().block_on(read_lines(chunks));
    let expected: Vec<Vec<u8>> = ollabench_fuzz::lines(body)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(
        lines, expected,
        "lines differ for chunks cut at {lengths:?}"
    );
});

//! Turning a generation's events into HTTP replies: a streamed body (NDJSON or SSE, chosen by a
//! [`Framer`]) or one collected object, with the mid-stream faults applied on the way. As in
//! Ollama, nothing is sent until the first event: an error before it becomes a proper status.

use std::collections::VecDeque;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{stream, StreamExt};
use tokio::sync::mpsc;

use super::faults::FaultKind;
use super::generation::{GenEvent, Metrics};

/// Text of the error a fault injects.
pub(crate) const FAULT_ERROR: &str =
    "simulated fault: an error was encountered while running the model";

/// The wire format of one API.
pub(crate) trait Framer: Send + Sync + 'static {
    /// Content type of a streamed reply.
    fn stream_content_type(&self) -> &'static str;
    /// The chunk carrying one token.
    fn token(&mut self, piece: &str) -> Bytes;
    /// The chunk carrying one token of thinking text.
    fn thinking(&mut self, piece: &str) -> Bytes;
    /// The chunks that end a successful stream.
    fn done(&mut self, metrics: &Metrics) -> Vec<Bytes>;
    /// The line reporting an error once streaming has started.
    fn error_line(&self, message: &str) -> Bytes;
    /// A line that is not JSON (the malformed-line fault).
    fn malformed_line(&self) -> Bytes;
    /// An error reply before anything was sent.
    fn error_response(&self, status: u16, message: &str) -> Response;
    /// Content type and body of a non-streamed reply: the answer and the thinking text.
    fn collected(&mut self, text: &str, thinking: &str, metrics: &Metrics)
        -> (&'static str, Bytes);
}

/// Go's RFC 3339 with nanoseconds, trailing zeros trimmed (`2026-11-27T23:58:25.94743739Z`).
pub(crate) fn go_time(time: chrono::DateTime<chrono::Utc>) -> String {
    let text = time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    match text.split_once('.') {
        Some((seconds, fraction)) => {
            let digits = fraction.trim_end_matches('Z').trim_end_matches('0');
            if digits.is_empty() {
                format!("{seconds}Z")
            } else {
                format!("{seconds}.{digits}Z")
            }
        }
        None => text,
    }
}

/// `created_at` of now.
pub(crate) fn now_created_at() -> String {
    go_time(chrono::Utc::now())
}

/// Go's `encoding/json` escapes `<`, `>` and `&` in strings (`\u003c`), as the transcripts show.
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> std::io::Result<()>
    where
        W: ?Sized + std::io::Write,
    {
        let mut rest = fragment;
        while let Some(at) = rest.find(['<', '>', '&']) {
            writer.write_all(&rest.as_bytes()[..at])?;
            let escape: &[u8] = match rest.as_bytes()[at] {
                b'<' => b"\\u003c",
                b'>' => b"\\u003e",
                _ => b"\\u0026",
            };
            writer.write_all(escape)?;
            rest = &rest[at + 1..];
        }
        writer.write_all(rest.as_bytes())
    }
}

/// JSON bytes as Go writes them.
pub(crate) fn go_json<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, GoFormatter);
    if value.serialize(&mut serializer).is_err() {
        return b"{}".to_vec();
    }
    bytes
}

/// A JSON reply with Ollama's content type.
pub(crate) fn json_response(status: u16, body: &serde_json::Value) -> Response {
    let bytes = go_json(body);
    bytes_response(
        status,
        "application/json; charset=utf-8",
        Bytes::from(bytes),
    )
}

/// Ollama's error shape `{"error":"..."}`.
pub(crate) fn error_json(status: u16, message: &str) -> Response {
    json_response(status, &serde_json::json!({ "error": message }))
}

/// A reply with a fixed body.
pub(crate) fn bytes_response(status: u16, content_type: &'static str, body: Bytes) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// What a mid-stream fault does before a chunk.
enum Action {
    Send,
    Stall(Duration),
    MalformedThenSend,
    ErrorLine,
    Cut,
}

/// A mid-stream fault waiting for its chunk.
pub(crate) struct MidStream {
    fault: Option<FaultKind>,
}

impl MidStream {
    pub(crate) fn new(fault: Option<FaultKind>) -> Self {
        let fault = fault.filter(|kind| !matches!(kind, FaultKind::Status(_)));
        MidStream { fault }
    }

    /// Before sending a chunk when `sent` chunks went out already. A fault whose chunk count
    /// is never reached strikes before the final chunk, so that it is always observable.
    fn before_chunk(&mut self, sent: usize, final_chunk: bool) -> Action {
        let strikes_at = match &self.fault {
            None | Some(FaultKind::Status(_)) => return Action::Send,
            Some(FaultKind::Stall { .. }) => 1,
            Some(FaultKind::ErrorLine { after_chunks })
            | Some(FaultKind::Cut { after_chunks })
            | Some(FaultKind::Malformed { after_chunks }) => *after_chunks,
        };
        if sent < strikes_at && !final_chunk {
            return Action::Send;
        }
        match self.fault.take() {
            Some(FaultKind::Stall { duration }) => Action::Stall(duration),
            Some(FaultKind::ErrorLine { .. }) => Action::ErrorLine,
            Some(FaultKind::Cut { .. }) => Action::Cut,
            Some(FaultKind::Malformed { .. }) => Action::MalformedThenSend,
            _ => Action::Send,
        }
    }
}

/// How long a cut waits for what was sent before it to reach the socket.
const CUT_FLUSH: Duration = Duration::from_millis(20);

/// What a body sends next.
pub(crate) enum Next {
    Item(std::io::Result<Bytes>),
    End,
    NeedMore,
}

/// Queues chunks for a body, applying a mid-stream fault.
pub(crate) struct Outbox {
    mid: MidStream,
    sent: usize,
    queue: VecDeque<Bytes>,
    /// No more chunks after the queue.
    pub(crate) finished: bool,
    /// Abort the connection after the queue.
    cut: bool,
}

impl Outbox {
    pub(crate) fn new(fault: Option<FaultKind>) -> Self {
        Outbox {
            mid: MidStream::new(fault),
            sent: 0,
            queue: VecDeque::new(),
            finished: false,
            cut: false,
        }
    }

    /// Queues `chunk`, or what the fault puts in its place.
    pub(crate) async fn push(
        &mut self,
        chunk: Bytes,
        final_chunk: bool,
        error_line: impl FnOnce() -> Bytes,
        malformed_line: impl FnOnce() -> Bytes,
    ) {
        match self.mid.before_chunk(self.sent, final_chunk) {
            Action::Send => self.queue.push_back(chunk),
            Action::Stall(duration) => {
                tokio::time::sleep(duration).await;
                self.queue.push_back(chunk);
            }
            Action::MalformedThenSend => {
                self.queue.push_back(malformed_line());
                self.queue.push_back(chunk);
            }
            Action::ErrorLine => {
                self.queue.push_back(error_line());
                self.finished = true;
            }
            Action::Cut => {
                self.cut = true;
                self.finished = true;
            }
        }
        self.sent += 1;
    }

    /// Queues a chunk no fault applies to.
    pub(crate) fn push_plain(&mut self, chunk: Bytes) {
        self.queue.push_back(chunk);
    }

    /// The next item of the body. Before a cut it pauses briefly so that the server flushes
    /// the chunks already queued: a client must see them arrive, then the connection break.
    pub(crate) async fn next(&mut self) -> Next {
        if let Some(chunk) = self.queue.pop_front() {
            return Next::Item(Ok(chunk));
        }
        if self.cut {
            self.cut = false;
            tokio::time::sleep(CUT_FLUSH).await;
            return Next::Item(Err(std::io::Error::other(
                "simulated fault: connection cut",
            )));
        }
        if self.finished {
            return Next::End;
        }
        Next::NeedMore
    }

    /// Aborts the body after what is queued (the producer vanished).
    pub(crate) fn cut_now(&mut self) {
        self.cut = true;
        self.finished = true;
    }
}

/// A streamed reply: waits for the first event so that early failures get a real status.
pub(crate) async fn stream_reply<F: Framer>(
    mut events: mpsc::Receiver<GenEvent>,
    framer: F,
    fault: Option<FaultKind>,
) -> Response {
    let first = match events.recv().await {
        None => return framer.error_response(500, "generation stopped unexpectedly"),
        Some(GenEvent::Failed(failure)) => {
            return framer.error_response(failure.status, &failure.message)
        }
        Some(event) => event,
    };
    let content_type = framer.stream_content_type();
    let state = (events, framer, Outbox::new(fault), Some(first));
    let body = stream::unfold(
        state,
        |(mut events, mut framer, mut outbox, mut first)| async move {
            loop {
                match outbox.next().await {
                    Next::Item(item) => return Some((item, (events, framer, outbox, first))),
                    Next::End => return None,
                    Next::NeedMore => {}
                }
                let event = match first.take() {
                    Some(event) => Some(event),
                    None => events.recv().await,
                };
                let chunk = match event {
                    None => {
                        outbox.cut_now();
                        continue;
                    }
                    Some(GenEvent::Token(piece)) => framer.token(piece),
                    Some(GenEvent::Thinking(piece)) => framer.thinking(piece),
                    Some(GenEvent::Done(metrics)) => {
                        let mut chunks = framer.done(&metrics).into_iter();
                        if let Some(head) = chunks.next() {
                            let error = || framer.error_line(FAULT_ERROR);
                            let malformed = || framer.malformed_line();
                            outbox.push(head, true, error, malformed).await;
                        }
                        if !outbox.finished {
                            for chunk in chunks {
                                outbox.push_plain(chunk);
                            }
                        }
                        outbox.finished = true;
                        continue;
                    }
                    Some(GenEvent::Failed(failure)) => {
                        outbox.push_plain(framer.error_line(&failure.message));
                        outbox.finished = true;
                        continue;
                    }
                };
                let error = || framer.error_line(FAULT_ERROR);
                let malformed = || framer.malformed_line();
                outbox.push(chunk, false, error, malformed).await;
            }
        },
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        Body::from_stream(body),
    )
        .into_response()
}

/// A non-streamed reply: the whole text in one object once the generation is done.
pub(crate) async fn collected_reply<F: Framer>(
    mut events: mpsc::Receiver<GenEvent>,
    mut framer: F,
    fault: Option<FaultKind>,
) -> Response {
    let mut text = String::new();
    let mut thinking = String::new();
    let metrics = loop {
        match events.recv().await {
            Some(GenEvent::Token(piece)) => text.push_str(piece),
            Some(GenEvent::Thinking(piece)) => thinking.push_str(piece),
            Some(GenEvent::Done(metrics)) => break metrics,
            Some(GenEvent::Failed(failure)) => {
                return framer.error_response(failure.status, &failure.message)
            }
            None => return framer.error_response(500, "generation stopped unexpectedly"),
        }
    };
    let (content_type, body) = framer.collected(&text, &thinking, &metrics);
    match fault {
        Some(FaultKind::ErrorLine { .. }) => framer.error_response(500, FAULT_ERROR),
        Some(FaultKind::Stall { duration }) => {
            tokio::time::sleep(duration).await;
            bytes_response(200, content_type, body)
        }
        Some(FaultKind::Malformed { .. }) => {
            bytes_response(200, content_type, framer.malformed_line())
        }
        Some(FaultKind::Cut { .. }) => {
            let half = body.slice(..body.len() / 2);
            let parts = stream::unfold(Some(half), |half| async move {
                match half {
                    Some(half) => Some((Ok(half), None)),
                    None => {
                        tokio::time::sleep(CUT_FLUSH).await;
                        let cut = std::io::Error::other("simulated fault: connection cut");
                        Some((Err(cut), None))
                    }
                }
            })
            .take(2);
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
                Body::from_stream(parts),
            )
                .into_response()
        }
        _ => bytes_response(200, content_type, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_html_like_go() {
        let value = serde_json::json!({ "template": "<|im_start|> & \"x\"" });
        assert_eq!(
            String::from_utf8(go_json(&value)).unwrap(),
            r#"{"template":"\u003c|im_start|\u003e \u0026 \"x\""}"#
        );
    }

    #[test]
    fn go_time_trims_trailing_zeros() {
        use chrono::TimeZone;
        let at = chrono::Utc
            .timestamp_opt(1_795_823_953, 947_437_390)
            .single()
            .unwrap();
        assert!(go_time(at).ends_with(".94743739Z"), "{}", go_time(at));
        let whole = chrono::Utc
            .timestamp_opt(1_795_823_953, 0)
            .single()
            .unwrap();
        assert!(go_time(whole).ends_with(":13Z"), "{}", go_time(whole));
    }

    #[test]
    fn mid_stream_faults_strike_once_at_their_chunk() {
        let mut mid = MidStream::new(Some(FaultKind::Cut { after_chunks: 2 }));
        assert!(matches!(mid.before_chunk(0, false), Action::Send));
        assert!(matches!(mid.before_chunk(1, false), Action::Send));
        assert!(matches!(mid.before_chunk(2, false), Action::Cut));
        assert!(matches!(mid.before_chunk(3, false), Action::Send));
        let mut late = MidStream::new(Some(FaultKind::ErrorLine { after_chunks: 50 }));
        assert!(matches!(late.before_chunk(4, true), Action::ErrorLine));
        let mut status = MidStream::new(Some(FaultKind::Status(500)));
        assert!(matches!(status.before_chunk(0, true), Action::Send));
    }
}

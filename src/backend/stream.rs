//! Line framing of streamed HTTP bodies (Ollama's NDJSON, OpenAI's server-sent events), with
//! the inactivity and whole-request timeouts. Lines are handed out as slices of one reused
//! buffer, so reading a stream allocates nothing per token.

use std::time::Duration;

use tokio::time::Instant;

use super::{error_chain, RequestError, TimeoutPhase};

/// Reads a response body line by line.
pub struct LineStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
    consumed: usize,
    body_ended: bool,
    idle_timeout: Duration,
    deadline: Instant,
    total_timeout: Duration,
}

impl LineStream {
    /// Wraps a response whose headers have arrived. `idle_timeout` is the longest silence
    /// allowed between two pieces of the body; `deadline` ends the whole request.
    pub fn new(
        response: reqwest::Response,
        idle_timeout: Duration,
        deadline: Instant,
        total_timeout: Duration,
    ) -> Self {
        LineStream {
            response,
            buffer: Vec::with_capacity(8 * 1024),
            consumed: 0,
            body_ended: false,
            idle_timeout,
            deadline,
            total_timeout,
        }
    }

    /// The next line without its `\n` (and `\r`), or `None` at the end of the body. A last
    /// line without a newline is still returned.
    pub async fn next_line(&mut self) -> Result<Option<&[u8]>, RequestError> {
        loop {
            let pending = &self.buffer[self.consumed..];
            if let Some(newline) = pending.iter().position(|&b| b == b'\n') {
                let start = self.consumed;
                let mut end = start + newline;
                self.consumed = end + 1;
                if end > start && self.buffer[end - 1] == b'\r' {
                    end -= 1;
                }
                return Ok(Some(&self.buffer[start..end]));
            }
            if self.body_ended {
                if self.consumed < self.buffer.len() {
                    let start = self.consumed;
                    self.consumed = self.buffer.len();
                    return Ok(Some(&self.buffer[start..]));
                }
                return Ok(None);
            }
            if self.consumed > 0 {
                self.buffer.drain(..self.consumed);
                self.consumed = 0;
            }
            self.read_more().await?;
        }
    }

    async fn read_more(&mut self) -> Result<(), RequestError> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(RequestError::Timeout {
                phase: TimeoutPhase::Total,
                after: self.total_timeout,
            });
        }
        let until_deadline = self.deadline - now;
        let (wait, phase, after) = if until_deadline < self.idle_timeout {
            (until_deadline, TimeoutPhase::Total, self.total_timeout)
        } else {
            (
                self.idle_timeout,
                TimeoutPhase::FirstByte,
                self.idle_timeout,
            )
        };
        match tokio::time::timeout(wait, self.response.chunk()).await {
            Err(_) => Err(RequestError::Timeout { phase, after }),
            Ok(Err(err)) => Err(RequestError::Cut {
                detail: error_chain(&err),
            }),
            Ok(Ok(None)) => {
                self.body_ended = true;
                Ok(())
            }
            Ok(Ok(Some(bytes))) => {
                self.buffer.extend_from_slice(&bytes);
                Ok(())
            }
        }
    }
}

/// A short, printable excerpt of a line for error messages.
pub fn excerpt(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let mut short: String = text.chars().take(120).collect();
    if text.chars().count() > 120 {
        short.push('…');
    }
    short
}

//! Line framing of streamed HTTP bodies (Ollama's NDJSON, OpenAI's server-sent events), with
//! the inactivity and whole-request timeouts. Lines are handed out as slices of one reused
//! buffer, and the inactivity timer is re-armed only when it fires (not per chunk), so reading
//! a stream allocates nothing and touches the timer wheel almost never per token.

use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::{error_chain, RequestError, TimeoutPhase};

/// Bytes reserved for a stream's buffer at first; it grows to the longest line it meets.
const INITIAL_BUFFER: usize = 512;

/// Reads a response body line by line.
pub struct LineStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
    consumed: usize,
    body_ended: bool,
    idle_timeout: Duration,
    deadline: Instant,
    total_timeout: Duration,
    /// When the body last delivered data.
    last_data: Instant,
    /// Fires at the earlier of `last_data + idle_timeout` (as of when it was armed) and the
    /// deadline; when it fires early because data came since, it is re-armed.
    timer: Pin<Box<Sleep>>,
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
        let now = Instant::now();
        LineStream {
            response,
            buffer: Vec::with_capacity(INITIAL_BUFFER),
            consumed: 0,
            body_ended: false,
            idle_timeout,
            deadline,
            total_timeout,
            last_data: now,
            timer: Box::pin(tokio::time::sleep_until((now + idle_timeout).min(deadline))),
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
        loop {
            tokio::select! {
                biased;
                chunk = self.response.chunk() => {
                    return match chunk {
                        Err(err) => Err(RequestError::Cut {
                            detail: error_chain(&err),
                        }),
                        Ok(None) => {
                            self.body_ended = true;
                            Ok(())
                        }
                        Ok(Some(bytes)) => {
                            self.last_data = Instant::now();
                            self.buffer.extend_from_slice(&bytes);
                            Ok(())
                        }
                    };
                }
                () = self.timer.as_mut() => {
                    let now = Instant::now();
                    if now >= self.deadline {
                        return Err(RequestError::Timeout {
                            phase: TimeoutPhase::Total,
                            after: self.total_timeout,
                        });
                    }
                    let idle_until = self.last_data + self.idle_timeout;
                    if now >= idle_until {
                        return Err(RequestError::Timeout {
                            phase: TimeoutPhase::FirstByte,
                            after: self.idle_timeout,
                        });
                    }
                    // Data came since the timer was armed: wait for the rest of the silence.
                    self.timer.as_mut().reset(idle_until.min(self.deadline));
                }
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

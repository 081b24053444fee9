//! Client of Ollama's native API: pull with streamed progress, streamed generate and chat with
//! every timing field of the final chunk, load-only and unload, tags, ps, show, delete,
//! version and `/`. Every failure comes back as a [`RequestError`](super::RequestError).
//!
//! One file per job: `client` sends the requests and reads the replies, `ndjson` reads a
//! streamed generation line by line into a record, and `wire` holds the JSON the server
//! exchanges.

mod client;
mod ndjson;
mod wire;

pub use client::{
    error_message, same_model, LoadReply, OllamaClient, PullSummary, ServerInfo, UNLOAD_WAIT_LIMIT,
};
pub use ndjson::read_generation_lines;
pub use wire::{LoadedModel, LocalModel, ModelDetails, ModelInfo, PullProgress};

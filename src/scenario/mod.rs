//! Scenarios: each is a plan for the engine plus the bookkeeping of one reference benchmark.
//! [`target`] resolves and connects to the server every scenario runs against.

pub mod capacity;
pub mod download;
pub mod load;
pub mod multi_user;
pub mod runner;
pub mod single_user;
pub mod suite;
pub mod target;
pub mod test_connection;
pub mod tokens_per_second;

use std::future::Future;

use crate::backend::ollama::{same_model, OllamaClient};
use crate::backend::openai::ServerKind;
use crate::backend::{GenerationRecord, RequestError, Route};
use crate::exit::Ctx;
use crate::output::events::Event;
use crate::results::Provenance;

/// The progress event of one finished generation request: its rate (the server's, else the
/// client's) or its failure kind.
pub(crate) fn request_event(outcome: &Result<GenerationRecord, RequestError>) -> Event<'_> {
    match outcome {
        Ok(record) => Event::RequestFinished {
            tokens_per_second: record
                .server_tokens_per_second()
                .or_else(|| record.client_tokens_per_second()),
            failure: None,
        },
        Err(err) => Event::RequestFinished {
            tokens_per_second: None,
            failure: Some(err.kind()),
        },
    }
}

/// The route as result files name it: `chat`, or `generate` (Ollama) / `completions` (OpenAI).
pub(crate) fn route_name(route: Route, api: &str) -> &'static str {
    match (route, api) {
        (Route::Chat, _) => "chat",
        (Route::Generate, "openai") => "completions",
        (Route::Generate, _) => "generate",
    }
}

/// Runs `future` unless Ctrl-C comes first (`None`).
pub async fn cancellable<T>(ctx: &Ctx, future: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        biased;
        _ = ctx.cancel.cancelled() => None,
        value = future => Some(value),
    }
}

/// Records what `/api/show` and `/api/ps` say about `model` (digest, quantization, parameter
/// size, GPU residency) in the provenance; what the server does not answer stays unknown.
pub async fn record_model_provenance(
    client: &OllamaClient,
    provenance: &mut Provenance,
    model: &str,
) {
    let show = client.show(model).await.ok();
    let loaded = client
        .ps()
        .await
        .ok()
        .and_then(|models| models.into_iter().find(|m| same_model(&m.name, model)));
    provenance
        .model_mut(model)
        .fill(show.as_ref(), loaded.as_ref());
}

/// Records which server answers the OpenAI-compatible API; the simulator is marked as such,
/// so that no simulated number passes for a real one.
pub fn record_openai_server(provenance: &mut Provenance, kind: &ServerKind) {
    provenance.server_version = Some(
        format!("{} {}", kind.name(), kind.version().unwrap_or(""))
            .trim()
            .to_string(),
    );
    if let ServerKind::Simulator { header, .. } = kind {
        provenance.set_simulator_from_header(header);
    }
}

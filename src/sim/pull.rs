//! `/api/pull`: the registry download, streamed as Ollama does it (transcripts 43b, 44-48).
//! Which registry answers, and how an unreachable one fails, is `registry`'s business.
//!
//! `pulling manifest`, then for each layer a progress line every 60 ms (scaled), `completed`
//! left out while 0; a layer ends on Ollama's one-second progress tick, so its last line
//! repeats with `completed == total` for up to a second (a whole second for the small template
//! and params layers). Then `verifying sha256 digest`, `writing manifest`, `success`.
//!
//! The download runs in its own task, shared by concurrent pulls of the same model and finished
//! even if every client leaves (the manifest, and so the install, is written only for clients
//! that stay). A model whose blobs are on disk walks every layer at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use rand::Rng;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::catalogue::{normalize_name, CatalogueModel, Layer};
use super::faults::FaultKind;
use super::routes::{decode, NameRequest};
use super::streaming::{bytes_response, Next, Outbox, FAULT_ERROR};
use super::transfers::{FlowHandle, FlowKind, Offline};
use super::Sim;

/// Progress lines come this often while a layer downloads (simulated seconds).
const LINE_INTERVAL_SECONDS: f64 = 0.06;
/// Fetching the manifest from the registry.
const MANIFEST_SECONDS: f64 = 0.06;
/// Layers below this many bytes arrive at once (template, license, params, config).
const SMALL_LAYER_BYTES: u64 = 1 << 20;
/// Ollama finishes a layer on its progress ticker of this period.
const LAYER_TICK_SECONDS: f64 = 1.0;
/// `verifying sha256 digest` to `writing manifest` (transcript 44: about 60 ms).
const VERIFY_SECONDS: f64 = 0.06;
/// Every download's layer sizes are scaled by one seeded draw from this range.
pub(crate) const SIZE_NOISE: (f64, f64) = (0.98, 1.02);

/// Bytes layer `layer` moves as a flow, with the download's noise; `None` for a small layer,
/// which arrives at once.
fn layer_flow_bytes(layer: &Layer, noise: f64) -> Option<f64> {
    (layer.size >= SMALL_LAYER_BYTES).then_some(layer.size as f64 * noise)
}

/// How long a layer holds the pull when its bytes took `took` simulated seconds: Ollama ends a
/// layer on its progress tick, so a layer takes a whole number of ticks, and at least one.
fn layer_seconds(took: f64) -> f64 {
    ((took - 1e-6) / LAYER_TICK_SECONDS).ceil().max(1.0) * LAYER_TICK_SECONDS
}

/// The modelled download of `model` (simulated seconds from the request to `success`) with
/// the machine to itself: the manifest, every layer's flow rounded up to the tick, the
/// verification. The machine's write-back buffer is left as the download leaves it.
pub(crate) fn download_seconds(machine: &mut Offline, model: &CatalogueModel, noise: f64) -> f64 {
    machine.idle(MANIFEST_SECONDS);
    let mut total = MANIFEST_SECONDS;
    for layer in &model.layers {
        let took = layer_flow_bytes(layer, noise)
            .map_or(0.0, |bytes| machine.transfer(FlowKind::Download, bytes));
        let seconds = layer_seconds(took);
        machine.idle(seconds - took);
        total += seconds;
    }
    machine.idle(VERIFY_SECONDS);
    total + VERIFY_SECONDS
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Manifest,
    Layer { index: usize, done: bool },
    Verifying,
    Writing,
    Success,
}

/// One model's download, shared by every pull of it.
struct Download {
    model: &'static CatalogueModel,
    phase: watch::Sender<Phase>,
    flow: Mutex<Option<Arc<FlowHandle>>>,
}

impl Download {
    /// Bytes of layer `index` downloaded so far.
    fn completed(&self, index: usize) -> u64 {
        let Some(layer) = self.model.layers.get(index) else {
            return 0;
        };
        match &*self.phase.borrow() {
            Phase::Manifest => 0,
            Phase::Layer {
                index: current,
                done,
            } => {
                if index < *current || (index == *current && *done) {
                    layer.size
                } else if index == *current {
                    let flow = self.flow.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    flow.map_or(0, |flow| (flow.progress() * layer.size as f64) as u64)
                } else {
                    0
                }
            }
            _ => layer.size,
        }
    }
}

/// Downloads in progress, by catalogue model.
#[derive(Default)]
pub(crate) struct Pulls {
    active: Mutex<HashMap<&'static str, Arc<Download>>>,
}

impl Pulls {
    /// The running download of `model`, started if there is none.
    fn join(&self, sim: &Arc<Sim>, model: &'static CatalogueModel) -> Arc<Download> {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(download) = active.get(model.name) {
            return Arc::clone(download);
        }
        let (phase, _) = watch::channel(Phase::Manifest);
        let download = Arc::new(Download {
            model,
            phase,
            flow: Mutex::new(None),
        });
        active.insert(model.name, Arc::clone(&download));
        tokio::spawn(run_download(Arc::clone(sim), Arc::clone(&download)));
        download
    }

    fn finish(&self, model: &CatalogueModel) {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(model.name);
    }
}

async fn run_download(sim: Arc<Sim>, download: Arc<Download>) {
    let clock = sim.clock;
    let noise = sim.request_rng().gen_range(SIZE_NOISE.0..SIZE_NOISE.1);
    let work = async {
        // Every step is scheduled from the previous one's exact end, so late wake-ups of a
        // busy machine do not add up.
        let mut cursor = clock.deadline_after(Instant::now(), MANIFEST_SECONDS);
        tokio::time::sleep_until(cursor).await;
        for (index, layer) in download.model.layers.iter().enumerate() {
            download
                .phase
                .send_replace(Phase::Layer { index, done: false });
            let start = cursor;
            let mut finished = start;
            if let Some(bytes) = layer_flow_bytes(layer, noise) {
                let flow = Arc::new(sim.transfers.start(FlowKind::Download, bytes));
                *download.flow.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&flow));
                finished = flow.finished().await.max(start);
            }
            download
                .phase
                .send_replace(Phase::Layer { index, done: true });
            *download.flow.lock().unwrap_or_else(|e| e.into_inner()) = None;
            let took = clock.simulated_seconds(finished - start);
            cursor = clock.deadline_after(start, layer_seconds(took));
            tokio::time::sleep_until(cursor).await;
        }
        download.phase.send_replace(Phase::Verifying);
        cursor = clock.deadline_after(cursor, VERIFY_SECONDS);
        tokio::time::sleep_until(cursor).await;
        download.phase.send_replace(Phase::Writing);
        sim.scheduler.blobs_downloaded(download.model);
        download.phase.send_replace(Phase::Success);
    };
    tokio::select! {
        _ = work => {}
        _ = sim.cancel.cancelled() => {}
    }
    *download.flow.lock().unwrap_or_else(|e| e.into_inner()) = None;
    sim.pulls.finish(download.model);
}

/// One item of a pull reply.
enum PullEvent {
    Line(Bytes),
    Error(String),
}

fn status_line(status: &str) -> Bytes {
    ndjson(&json!({ "status": status }))
}

fn layer_line(layer: &Layer, completed: u64) -> Bytes {
    let status = format!("pulling {}", layer.short_digest());
    let value = if completed == 0 {
        json!({ "status": status, "digest": layer.digest, "total": layer.size })
    } else {
        json!({
            "status": status,
            "digest": layer.digest,
            "total": layer.size,
            "completed": completed,
        })
    };
    ndjson(&value)
}

fn ndjson(value: &serde_json::Value) -> Bytes {
    let mut bytes = super::streaming::go_json(value);
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// Produces the lines of one pull request.
async fn produce(
    sim: Arc<Sim>,
    name: String,
    manifest: Result<&'static CatalogueModel, String>,
    out: mpsc::Sender<PullEvent>,
) {
    let clock = sim.clock;
    let send = |event| out.send(event);
    if send(PullEvent::Line(status_line("pulling manifest")))
        .await
        .is_err()
    {
        return;
    }
    let model = match manifest {
        Ok(model) => model,
        Err(message) => {
            tokio::time::sleep(clock.real(0.01)).await;
            let _ = send(PullEvent::Error(message)).await;
            return;
        }
    };
    if sim.scheduler.blobs_present(model) {
        tokio::time::sleep(clock.real(0.01)).await;
        for layer in &model.layers {
            if send(PullEvent::Line(layer_line(layer, layer.size)))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = send(PullEvent::Line(status_line("verifying sha256 digest"))).await;
        let _ = send(PullEvent::Line(status_line("writing manifest"))).await;
        sim.scheduler.install(&name, model);
        let _ = send(PullEvent::Line(status_line("success"))).await;
        return;
    }
    let download = sim.pulls.join(&sim, model);
    let mut phase = download.phase.subscribe();
    let start = Instant::now();
    let period = clock.real(LINE_INTERVAL_SECONDS);
    let mut tick: u32 = 1;
    // Layers whose lines this client has seen; a late joiner catches up with full lines.
    let mut shown_layers = 0usize;
    let mut verifying_sent = false;
    let mut writing_sent = false;
    loop {
        let next_tick = start + period * tick;
        tokio::select! {
            _ = tokio::time::sleep_until(next_tick) => {
                // Skip ticks the timer missed rather than bursting them out.
                let elapsed = start.elapsed().as_secs_f64();
                tick = ((elapsed / period.as_secs_f64().max(1e-9)).floor() as u32).max(tick) + 1;
                let current = phase.borrow().clone();
                if let Phase::Layer { index, .. } = current {
                    while shown_layers < index {
                        let layer = &model.layers[shown_layers];
                        if send(PullEvent::Line(layer_line(layer, layer.size))).await.is_err() {
                            return;
                        }
                        shown_layers += 1;
                    }
                    let completed = download.completed(index);
                    let line = layer_line(&model.layers[index], completed);
                    if send(PullEvent::Line(line)).await.is_err() {
                        return;
                    }
                    shown_layers = index.max(shown_layers);
                }
            }
            changed = phase.changed() => {
                if changed.is_err() {
                    let _ = send(PullEvent::Error("download stopped: the server is shutting down".into())).await;
                    return;
                }
                let current = phase.borrow_and_update().clone();
                if matches!(current, Phase::Verifying | Phase::Writing | Phase::Success) {
                    while shown_layers < model.layers.len() {
                        let layer = &model.layers[shown_layers];
                        if send(PullEvent::Line(layer_line(layer, layer.size))).await.is_err() {
                            return;
                        }
                        shown_layers += 1;
                    }
                    if !verifying_sent {
                        verifying_sent = true;
                        let _ = send(PullEvent::Line(status_line("verifying sha256 digest"))).await;
                    }
                }
                if matches!(current, Phase::Writing | Phase::Success) && !writing_sent {
                    writing_sent = true;
                    let _ = send(PullEvent::Line(status_line("writing manifest"))).await;
                }
                if current == Phase::Success {
                    sim.scheduler.install(&name, model);
                    let _ = send(PullEvent::Line(status_line("success"))).await;
                    return;
                }
            }
            _ = out.closed() => return,
            _ = sim.cancel.cancelled() => return,
        }
    }
}

/// `POST /api/pull`.
pub(crate) async fn pull(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let request: NameRequest = match decode(&body) {
        Ok(request) => request,
        Err(message) => return super::streaming::error_json(400, &message),
    };
    let Some(name) = normalize_name(request.requested()) else {
        return super::streaming::error_json(400, "invalid model name");
    };
    let manifest = sim.network().manifest(&name, request.insecure);
    let fault = sim.faults.decide(&name);
    let stream_reply = request.stream != Some(false);
    if let Some(FaultKind::Status(code)) = fault {
        let message = format!("simulated fault: injected HTTP {code}");
        return if stream_reply {
            super::streaming::error_json(code, &message)
        } else {
            plain_json(code, &json!({ "error": message }))
        };
    }
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(produce(Arc::clone(&sim), name, manifest, tx));
    if !stream_reply {
        // Ollama's waitForStream: the last status, or a 500 with the error.
        let mut last = json!({ "status": "success" });
        while let Some(event) = rx.recv().await {
            match event {
                PullEvent::Line(line) => {
                    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&line) {
                        last =
                            json!({ "status": value.get("status").cloned().unwrap_or_default() });
                    }
                }
                PullEvent::Error(message) => {
                    return plain_json(500, &json!({ "error": message }));
                }
            }
        }
        return match fault {
            Some(FaultKind::ErrorLine { .. }) => plain_json(500, &json!({ "error": FAULT_ERROR })),
            Some(FaultKind::Stall { duration }) => {
                tokio::time::sleep(duration).await;
                plain_json(200, &last)
            }
            _ => plain_json(200, &last),
        };
    }
    let error_line = |message: &str| ndjson(&json!({ "error": message }));
    let body = stream::unfold(
        (rx, Outbox::new(fault)),
        move |(mut rx, mut outbox)| async move {
            loop {
                match outbox.next().await {
                    Next::Item(item) => return Some((item, (rx, outbox))),
                    Next::End => return None,
                    Next::NeedMore => {}
                }
                match rx.recv().await {
                    None => outbox.finished = true,
                    Some(PullEvent::Line(line)) => {
                        let final_line = line.as_ref() == b"{\"status\":\"success\"}\n";
                        outbox
                            .push(
                                line,
                                final_line,
                                || error_line(FAULT_ERROR),
                                || {
                                    Bytes::from_static(
                                        b"{\"status\":\"pulling <simulated malformed line>\n",
                                    )
                                },
                            )
                            .await;
                    }
                    Some(PullEvent::Error(message)) => {
                        outbox.push_plain(error_line(&message));
                        outbox.finished = true;
                    }
                }
            }
        },
    );
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        )],
        Body::from_stream(body),
    )
        .into_response()
}

/// Non-stream pull replies are `application/json` without a charset (transcripts 45-48).
fn plain_json(status: u16, value: &serde_json::Value) -> Response {
    let body = super::streaming::go_json(value);
    bytes_response(status, "application/json", Bytes::from(body))
}

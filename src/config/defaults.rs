//! The reference suite's defaults, in one place: every flag's default and every scenario of
//! `run` reads them from here (benchmark-suite.md, each script's parameter block).

use crate::prompts::PromptLength;

/// single-user's model (`-Model`).
pub const MODEL: &str = "llama3.1:8b";
/// tokens-per-second's models (`-Models`).
pub const TPS_MODELS: [&str; 3] = ["phi3.5", "gemma2:2b", "llama3.1:8b"];
/// multi-user's models, assigned to users round-robin (`-Models`).
pub const MULTI_USER_MODELS: [&str; 4] = ["phi3.5", "gemma2:2b", "mistral:7b", "llama3.1:8b"];
/// tokens-per-second's prompt lengths (`-PromptLengths`), as the command line writes them
/// and as the suite uses them.
pub const PROMPT_LENGTHS: [&str; 3] = ["short", "medium", "long"];
pub const PROMPT_LENGTH_CATEGORIES: [PromptLength; 3] = [
    PromptLength::Short,
    PromptLength::Medium,
    PromptLength::Long,
];
/// Tokens generated per request (`-GenerationTokens`).
pub const GENERATION_TOKENS: u32 = 100;
/// Warmup requests per cell (`-WarmupRuns`).
pub const WARMUP_RUNS: u32 = 2;
/// Measured requests per cell (`-MeasurementRuns`).
pub const MEASUREMENT_RUNS: u32 = 5;
/// Requests kept in flight (`-ConcurrentRequests`).
pub const CONCURRENT_REQUESTS: u32 = 1;
/// multi-user's users (`-ConcurrentUsers`).
pub const CONCURRENT_USERS: u32 = 3;
/// The Kubernetes namespace and service of Ollama (`-Namespace`, `-ServiceName`).
pub const NAMESPACE: &str = "ollama";
pub const SERVICE: &str = "ollama";
/// Ollama's port, locally and in the service.
pub const OLLAMA_PORT: u16 = 11434;
/// The simulator's time scale when `--simulate` is given without `--time-scale`, for every
/// command: every simulated delay is multiplied by it, so that the whole suite takes about a
/// minute instead of ten.
pub const SIMULATOR_TIME_SCALE: f64 = 0.1;

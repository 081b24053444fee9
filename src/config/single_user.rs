//! single-user's options: the model, where the result goes, how the model gets onto the
//! server, and what runs before the cold load.

use std::path::PathBuf;

use crate::config::{DownloadPolicy, TargetOptions};

/// Validated options of a single-user run.
#[derive(Debug, Clone)]
pub struct SingleUserOptions {
    pub target: TargetOptions,
    pub model: String,
    pub output: PathBuf,
    pub download: DownloadPolicy,
    pub drop_caches_cmd: Option<String>,
    pub generation_tokens: u32,
    /// `--think`: `None` leaves the server's default.
    pub think: Option<bool>,
}

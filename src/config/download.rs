//! How single-user, multi-user and run get models onto an Ollama server: redownload,
//! skip the download, or pull from a plain-HTTP registry.

/// How a scenario gets its models onto the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DownloadPolicy {
    /// Delete the model first so that the download is measured (destructive).
    pub redownload: bool,
    /// Never pull: measure the models the server already has.
    pub skip_download: bool,
    /// Send `"insecure": true` with every pull (a private registry over plain HTTP).
    pub insecure: bool,
}

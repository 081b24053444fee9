//! The download step that single-user and multi-user share: what the server had before the
//! pull, `--skip-download`, `--insecure` for private registries over plain HTTP, and what a
//! failed pull means. A pull that fails for a model the server already has (an air-gapped
//! cluster cannot reach its registry) does not stop the benchmark: load and generation are
//! still measured, and the failure is recorded with its cause and remedies.

use crate::backend::ollama::{same_model, LocalModel, OllamaClient, PullProgress, PullSummary};
use crate::backend::RequestError;
use crate::results::single_user::status;
use crate::results::ErrorRecord;

pub use crate::config::DownloadPolicy;

/// What the download step found and did.
#[derive(Debug, Clone)]
pub struct Download {
    /// `DownloadStatus`: Success, AlreadyPresent, Skipped or Failed.
    pub status: &'static str,
    /// Why the status is what it is, when the status alone does not say (`DownloadStatusReason`).
    pub reason: Option<String>,
    /// The pull's measurements, when it succeeded.
    pub pull: Option<PullSummary>,
    /// Whether the model is on the server now, so that loading it makes sense.
    pub usable: bool,
    pub error: Option<ErrorRecord>,
}

impl Download {
    /// Download speed in MB/s, only for a real download: a verification of a present model
    /// moves no bytes, so a rate computed from it would be meaningless.
    pub fn megabytes_per_second(&self) -> Option<f64> {
        if self.status != status::SUCCESS {
            return None;
        }
        self.pull.as_ref()?.megabytes_per_second()
    }
}

/// The models on the server (`/api/tags`).
pub async fn models_on_server(client: &OllamaClient) -> Result<Vec<LocalModel>, RequestError> {
    client.tags().await
}

/// `model` among `models`, by Ollama's name rules (`phi3.5` is `phi3.5:latest`).
pub fn find<'a>(models: &'a [LocalModel], model: &str) -> Option<&'a LocalModel> {
    models.iter().find(|m| same_model(&m.name, model))
}

/// Deletes `model` for `--redownload`; a model that is not there is fine.
pub async fn delete_for_redownload(client: &OllamaClient, model: &str) -> Result<(), ErrorRecord> {
    match client.delete(model).await {
        Ok(()) | Err(RequestError::Status { status: 404, .. }) => Ok(()),
        Err(err) => Err(ErrorRecord::from_request("delete", &err)),
    }
}

/// Pulls `model` unless the policy says to skip, given what the server had before
/// (`before`, from `/api/tags`). "Already present" is decided from that, not from the
/// progress lines.
pub async fn download(
    client: &OllamaClient,
    model: &str,
    policy: DownloadPolicy,
    before: Option<&LocalModel>,
    on_progress: impl FnMut(&PullProgress),
) -> Download {
    if policy.skip_download {
        return match before {
            Some(_) => Download {
                status: status::SKIPPED,
                reason: Some("--skip-download: the model was already on the server".into()),
                pull: None,
                usable: true,
                error: None,
            },
            None => Download {
                status: status::FAILED,
                reason: Some("--skip-download, and the model is not on the server".into()),
                pull: None,
                usable: false,
                error: Some(ErrorRecord {
                    phase: "download".into(),
                    kind: "model-absent".into(),
                    message: format!(
                        "{model} is not on the server, and --skip-download forbids pulling it"
                    ),
                    hint: format!(
                        "pull it on the server first (ollama pull {model}), or run without \
                         --skip-download"
                    ),
                }),
            },
        };
    }
    match client.pull(model, policy.insecure, on_progress).await {
        Ok(pull) => {
            let already_present = match before {
                None => false,
                // A pull that changed the digest downloaded a new version.
                Some(before) => match client.tags().await {
                    Ok(after) => find(&after, model).is_none_or(|m| m.digest == before.digest),
                    Err(_) => true,
                },
            };
            Download {
                status: if already_present {
                    status::ALREADY_PRESENT
                } else {
                    status::SUCCESS
                },
                reason: already_present.then(|| {
                    "the model was on the server before the pull, which only verified it".into()
                }),
                pull: Some(pull),
                usable: true,
                error: None,
            }
        }
        Err(err) => {
            let mut error = ErrorRecord::from_request("download", &err);
            if let Some(hint) = pull_failure_hint(&error.message) {
                error.hint = hint.to_string();
            }
            let usable = before.is_some();
            Download {
                status: status::FAILED,
                reason: Some(if usable {
                    "the pull failed; the model was already on the server, so load and \
                     generation were still measured"
                        .into()
                } else {
                    "the pull failed and the model is not on the server".into()
                }),
                pull: None,
                usable,
                error: Some(error),
            }
        }
    }
}

/// What to do about a failed pull, read from the server's message (Ollama's wording).
pub fn pull_failure_hint(message: &str) -> Option<&'static str> {
    let text = message.to_ascii_lowercase();
    if text.contains("server gave http response to https client") {
        return Some(
            "the registry speaks plain HTTP: add --insecure to let the server pull from it",
        );
    }
    let unreachable = [
        "no such host",
        "dial tcp",
        "i/o timeout",
        "network is unreachable",
        "connection refused",
        "tls handshake timeout",
    ];
    if unreachable.iter().any(|needle| text.contains(needle)) {
        return Some(
            "the server cannot reach its model registry (an air-gapped cluster?): use \
             --skip-download to measure the models already on the server, or pull from a \
             private registry (HOST:PORT/namespace/model:tag, with --insecure for plain HTTP)",
        );
    }
    if text.contains("file does not exist") || text.contains("manifest unknown") {
        return Some("the registry has no such model: check the model's name and tag");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_cause_of_a_failed_pull() {
        let air_gapped = "pull model manifest: Get \"https://registry.ollama.ai/v2/library/smollm2/manifests/135m\": dial tcp: lookup registry.ollama.ai on 10.255.255.53:53: no such host";
        assert!(pull_failure_hint(air_gapped)
            .unwrap()
            .contains("--skip-download"));
        let http = "pull model manifest: Get \"https://127.0.0.1:5000/v2/library/smollm2/manifests/135m\": http: server gave HTTP response to HTTPS client";
        assert!(pull_failure_hint(http).unwrap().contains("--insecure"));
        assert_eq!(pull_failure_hint("something else"), None);
    }

    #[test]
    fn a_verification_of_a_present_model_has_no_rate() {
        let pull = PullSummary {
            duration: std::time::Duration::from_micros(30),
            total_bytes: 5_000_000_000,
            layers: 3,
            already_present: true,
        };
        let present = Download {
            status: status::ALREADY_PRESENT,
            reason: None,
            pull: Some(pull.clone()),
            usable: true,
            error: None,
        };
        assert_eq!(present.megabytes_per_second(), None);
        let fresh = Download {
            status: status::SUCCESS,
            ..present
        };
        assert!(fresh.megabytes_per_second().is_some());
    }
}

//! Getting results onto disk without losing them: atomic writes that honour the umask, output
//! paths checked before anything is measured, and a fallback file when the real path fails at
//! the end anyway (a full disk), so that a finished measurement is never dropped.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;

/// An output path that cannot take the file, found before anything is measured. Exit code 2
/// (see `exit::error_code`); each message names the flag and the path, and quotes the I/O
/// error itself (a field, not a source, so that `{:#}` does not say it twice).
#[derive(Debug, thiserror::Error)]
pub enum Unwritable {
    #[error("{what} {} is a folder: give a file name", .path.display())]
    IsAFolder { what: String, path: PathBuf },
    /// A file stands where a folder of the path should be.
    #[error("cannot write {what} {}: {} is a file, not a folder", .path.display(), .file.display())]
    UnderAFile {
        what: String,
        path: PathBuf,
        file: PathBuf,
    },
    /// The nearest existing folder refuses new files (permissions, a read-only disk).
    #[error(
        "cannot write {what} {}: {} does not take new files ({error}); choose another path",
        .path.display(), .folder.display()
    )]
    Refused {
        what: String,
        path: PathBuf,
        folder: PathBuf,
        error: std::io::Error,
    },
}

/// Writes `contents` to `path` through a temp file in the same folder and a rename, so that a
/// reader never sees half a file. The file gets the permissions an ordinary `create` would
/// (0666 less the umask: 0644 under 022), not the temp file's private 0600.
pub fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let folder = folder_of(path);
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create the folder {}", folder.display()))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".ollabench-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut file = builder
        .tempfile_in(&folder)
        .with_context(|| format!("cannot create a temporary file in {}", folder.display()))?;
    file.write_all(contents)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.as_file().sync_all().ok();
    file.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Checks, before anything is measured, that a file can be written at `path`: the path is not
/// a folder, and its folder (or the nearest existing folder above it, which will be created
/// under it) takes a new file. The error names `what` (the flag) and the path.
pub fn check_writable(path: &Path, what: &str) -> Result<(), Unwritable> {
    if path.is_dir() {
        return Err(Unwritable::IsAFolder {
            what: what.to_string(),
            path: path.to_path_buf(),
        });
    }
    check_folder_writable(&folder_of(path), what, path)
}

/// Like [`check_writable`], for a folder that files will be written into.
pub fn check_folder_writable(folder: &Path, what: &str, shown: &Path) -> Result<(), Unwritable> {
    let mut existing = folder.to_path_buf();
    loop {
        match std::fs::metadata(&existing) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) => {
                return Err(Unwritable::UnderAFile {
                    what: what.to_string(),
                    path: shown.to_path_buf(),
                    file: existing,
                })
            }
            Err(_) => match existing.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => existing = parent.to_path_buf(),
                _ => {
                    existing = PathBuf::from(".");
                    break;
                }
            },
        }
    }
    tempfile::Builder::new()
        .prefix(".ollabench-check-")
        .tempfile_in(&existing)
        .map(drop)
        .map_err(|error| Unwritable::Refused {
            what: what.to_string(),
            path: shown.to_path_buf(),
            folder: existing,
            error,
        })
}

/// Where results meant for a path were written instead, after that path failed.
static FALLBACKS: Mutex<Option<HashMap<PathBuf, PathBuf>>> = Mutex::new(None);

/// The path a result meant for `path` is really in: `path` itself, or the fallback file
/// [`write_json_or_fallback`] used.
pub fn written_path(path: &Path) -> PathBuf {
    let fallbacks = FALLBACKS.lock().unwrap_or_else(|e| e.into_inner());
    fallbacks
        .as_ref()
        .and_then(|map| map.get(path).cloned())
        .unwrap_or_else(|| path.to_path_buf())
}

/// Writes a finished result to `path`; if that fails, to a fallback file in the system's temp
/// folder, and if that fails too, to stdout. Says on stderr where it went. Only an error of
/// serialization (a bug) is returned: the measurement is never dropped.
pub fn write_json_or_fallback<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let err = match super::write_json_atomic(path, value) {
        Ok(()) => return Ok(()),
        Err(err) => err,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "result.json".into());
    let fallback = std::env::temp_dir().join(format!(
        "ollabench-{}-{}",
        chrono::Local::now().format("%Y%m%d-%H%M%S"),
        name
    ));
    match super::write_json_atomic(&fallback, value) {
        Ok(()) => {
            crate::errln!(
                "warning: {err:#}; the result was written to {} instead",
                fallback.display()
            );
            let mut fallbacks = FALLBACKS.lock().unwrap_or_else(|e| e.into_inner());
            fallbacks
                .get_or_insert_with(HashMap::new)
                .insert(path.to_path_buf(), fallback);
            Ok(())
        }
        Err(second) => {
            crate::errln!(
                "warning: {err:#}, and the fallback {} failed too ({second:#}); the result \
                 follows on stdout",
                fallback.display()
            );
            let text = serde_json::to_string_pretty(value)?;
            crate::outln!("{text}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwritable_paths_are_refused_before_measuring() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain.txt");
        std::fs::write(&file, "x").unwrap();
        let err = check_writable(&file.join("out.json"), "--output").unwrap_err();
        assert!(matches!(err, Unwritable::UnderAFile { .. }), "{err}");
        assert!(err.to_string().contains("is a file"), "{err}");
        assert!(check_writable(dir.path(), "--output").is_err());
        assert!(check_writable(&dir.path().join("new/sub/out.json"), "--output").is_ok());
        assert!(!dir.path().join("new").exists(), "checking creates nothing");
        assert!(check_writable(Path::new("/proc/ollabench/out.json"), "--output").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn files_get_the_umask_permissions_not_private_ones() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_atomic(&path, b"{}").unwrap();
        let probe = dir.path().join("probe");
        std::fs::File::create(&probe).unwrap();
        let expected = std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, expected, "as a plain create under this umask");
    }

    #[test]
    fn a_failed_write_falls_back_and_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain.txt");
        std::fs::write(&file, "x").unwrap();
        let target = file.join("out.json");
        write_json_or_fallback(&target, &serde_json::json!({"Status": "Success"})).unwrap();
        let actual = written_path(&target);
        assert_ne!(actual, target);
        let text = std::fs::read_to_string(&actual).unwrap();
        assert!(text.contains("Success"));
        std::fs::remove_file(actual).unwrap();
    }
}

//! The model cache: where `scripts/setup` put the model files and the ONNX Runtime library, and
//! the SHA-256 check every file passes before it is loaded.
//!
//! Layout (root: `PASSWATCH_CACHE`, default `~/.cache/passwatch`):
//! `models/<file>` for models, `onnxruntime/<file>` for the runtime library.

use crate::manifest::{ModelManifest, RuntimeManifest};
use crate::ModelError;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The model cache on disk.
#[derive(Clone, Debug)]
pub struct ModelCache {
    root: PathBuf,
}

impl ModelCache {
    /// A cache rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ModelCache { root: root.into() }
    }

    /// The cache named by `PASSWATCH_CACHE`, else `~/.cache/passwatch`.
    pub fn from_env() -> Self {
        if let Some(dir) = std::env::var_os("PASSWATCH_CACHE").filter(|d| !d.is_empty()) {
            return ModelCache::new(dir);
        }
        let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
        ModelCache::new(Path::new(&home).join(".cache").join("passwatch"))
    }

    /// The cache's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a model's file lives (whether or not it is there).
    pub fn model_path(&self, manifest: &ModelManifest) -> PathBuf {
        self.root.join("models").join(&manifest.file)
    }

    /// The model's file, after checking it exists and its SHA-256 matches the manifest.
    pub fn verified_model(&self, manifest: &ModelManifest) -> Result<PathBuf, ModelError> {
        let path = self.model_path(manifest);
        verify_file(&path, &manifest.sha256)?;
        Ok(path)
    }

    /// The ONNX Runtime library: `PASSWATCH_ORT_DYLIB` or `ORT_DYLIB_PATH` if set (used as
    /// given — the operator chose it, e.g. a GPU build), else the cache's copy, verified.
    pub fn runtime_library(&self) -> Result<PathBuf, ModelError> {
        for var in ["PASSWATCH_ORT_DYLIB", "ORT_DYLIB_PATH"] {
            if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
                let p = PathBuf::from(p);
                if !p.is_file() {
                    return Err(ModelError::Missing {
                        path: p,
                        hint: format!("{var} names a file that does not exist"),
                    });
                }
                return Ok(p);
            }
        }
        let rt = RuntimeManifest::builtin();
        let path = self.root.join("onnxruntime").join(&rt.file);
        verify_file(&path, &rt.sha256)?;
        Ok(path)
    }
}

/// Checks that `path` exists and hashes to `expected` (lower-case hex). A file is hashed once
/// per process unless its size or modification time changes.
pub fn verify_file(path: &Path, expected: &str) -> Result<(), ModelError> {
    static VERIFIED: Mutex<Option<HashMap<PathBuf, (u64, std::time::SystemTime)>>> =
        Mutex::new(None);
    let meta = std::fs::metadata(path).map_err(|_| ModelError::Missing {
        path: path.to_path_buf(),
        hint: "run scripts/setup to fetch the model pack".into(),
    })?;
    let stamp = (meta.len(), meta.modified().unwrap_or(std::time::UNIX_EPOCH));
    if let Ok(guard) = VERIFIED.lock() {
        if guard.as_ref().and_then(|m| m.get(path)) == Some(&stamp) {
            return Ok(());
        }
    }
    let actual = sha256_file(path)?;
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(ModelError::HashMismatch {
            path: path.to_path_buf(),
            expected: expected.to_ascii_lowercase(),
            actual,
        });
    }
    if let Ok(mut guard) = VERIFIED.lock() {
        guard
            .get_or_insert_with(HashMap::new)
            .insert(path.to_path_buf(), stamp);
    }
    Ok(())
}

/// SHA-256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let io = |e| ModelError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatched_hash_names_path_and_both_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.onnx");
        std::fs::write(&p, b"not the model").unwrap();
        let expected = "0".repeat(64);
        let err = verify_file(&p, &expected).unwrap_err();
        let msg = err.to_string();
        let actual = sha256_file(&p).unwrap();
        assert!(msg.contains(&p.display().to_string()), "{msg}");
        assert!(msg.contains(&expected) && msg.contains(&actual), "{msg}");
        assert!(verify_file(&p, &actual).is_ok());
    }

    #[test]
    fn missing_file_says_how_to_fetch() {
        let err = verify_file(Path::new("/nonexistent/m.onnx"), &"0".repeat(64)).unwrap_err();
        assert!(err.to_string().contains("scripts/setup"), "{err}");
    }
}

//! API keys for the admin API: from `admin.api_keys` and `admin.api_keys_file`.
//!
//! Keys are compared in constant time (per key), so response timing does not reveal how much of
//! a guess was right. The file is read at start-up and again on SIGHUP; it holds one key per
//! line, blank lines and lines starting with `#` are ignored.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::config::{AdminConfig, valid_api_key};

#[derive(Debug, Error)]
pub enum KeysError {
    #[error("cannot read the API key file {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("API key file {path}, line {line}: a key must be visible ASCII without spaces")]
    Invalid { path: PathBuf, line: usize },
}

#[derive(Clone, Default)]
pub struct ApiKeys {
    keys: Vec<String>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.keys.len())
    }
}

impl ApiKeys {
    /// The configured keys, then the file's.
    pub fn load(cfg: &AdminConfig) -> Result<ApiKeys, KeysError> {
        let mut keys = cfg.api_keys.clone();
        if let Some(path) = &cfg.api_keys_file {
            keys.extend(read_file(path)?);
        }
        Ok(ApiKeys { keys })
    }

    pub fn from_keys(keys: Vec<String>) -> ApiKeys {
        ApiKeys { keys }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The first key, for `starling ctl` running next to the broker.
    pub fn first(&self) -> Option<&str> {
        self.keys.first().map(String::as_str)
    }

    pub fn accepts(&self, presented: &str) -> bool {
        // Check every key (no early exit), each in constant time.
        self.keys.iter().fold(false, |ok, k| ok | constant_time_eq(k.as_bytes(), presented.as_bytes()))
    }
}

fn read_file(path: &Path) -> Result<Vec<String>, KeysError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeysError::Read { path: path.into(), source })?;
    warn_if_readable_by_others(path);
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !valid_api_key(line) {
            return Err(KeysError::Invalid { path: path.into(), line: i + 1 });
        }
        keys.push(line.to_string());
    }
    Ok(keys)
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path)
        && m.permissions().mode() & 0o004 != 0
    {
        tracing::warn!(path = %path.display(), "the API key file is readable by every user; chmod o-r it");
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_keys_skip_comments_and_blank_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("keys");
        std::fs::write(&p, "# ops team\nkey-one\n\n  key-two  \n").expect("write");
        let cfg = AdminConfig { api_keys: vec!["inline".into()], api_keys_file: Some(p), ..AdminConfig::default() };
        let k = ApiKeys::load(&cfg).expect("load");
        assert!(k.accepts("inline") && k.accepts("key-one") && k.accepts("key-two"));
        assert!(!k.accepts("key-") && !k.accepts("") && !k.accepts("# ops team"));
        assert_eq!(k.first(), Some("inline"));
    }

    #[test]
    fn bad_file_names_path_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("keys");
        std::fs::write(&p, "good\nhas space\n").expect("write");
        let cfg = AdminConfig { api_keys_file: Some(p.clone()), ..AdminConfig::default() };
        let e = ApiKeys::load(&cfg).expect_err("invalid").to_string();
        assert!(e.contains(&p.display().to_string()) && e.contains("line 2"), "{e}");
        let missing = AdminConfig { api_keys_file: Some(dir.path().join("nope")), ..AdminConfig::default() };
        assert!(ApiKeys::load(&missing).expect_err("missing").to_string().contains("nope"));
    }
}

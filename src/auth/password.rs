//! Password hashes and the password file.
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`,
//! `$pbkdf2-sha256$i=...,l=32$salt$hash`), so a file mixes algorithms and old entries keep
//! working when the default changes. Argon2id (RustCrypto defaults: 19 MiB, 2 passes) is what
//! `starling passwd` and the REST API write; PBKDF2-SHA256 is accepted for hashes made
//! elsewhere (and can be asked for with `auth.hash = "pbkdf2_sha256"`).
//!
//! The file is `user:phc-hash` per line (mosquitto_passwd's shape), `#` comments and blank lines
//! ignored. It is rewritten atomically (temporary file, fsync, rename) with mode 0600.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use pbkdf2::Pbkdf2;

pub use crate::config::HashAlgorithm;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PasswordError {
    #[error("password file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("password file {path}, line {line}: {what}")]
    Syntax { path: PathBuf, line: usize, what: String },
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error(
        "invalid username {0:?}: the password file cannot hold it (a name must be non-empty, must not start \
         with '#' or a blank, and must contain no ':' and no control characters such as line breaks)"
    )]
    BadUsername(String),
}

/// Hash `password` with a fresh random salt, as a PHC string.
pub fn hash(password: &[u8], alg: HashAlgorithm) -> Result<String, PasswordError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let r = match alg {
        HashAlgorithm::Argon2id => Argon2::default().hash_password(password, &salt).map(|h| h.to_string()),
        HashAlgorithm::Pbkdf2Sha256 => Pbkdf2.hash_password(password, &salt).map(|h| h.to_string()),
    };
    r.map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Why a stored hash cannot be used.
#[derive(Debug, Error)]
pub enum PhcError {
    #[error("not a PHC hash string: {0}")]
    Malformed(String),
    #[error("not a complete PHC hash string (expected $alg$params$salt$hash)")]
    Incomplete,
    #[error("unsupported algorithm {0:?} (argon2id or pbkdf2-sha256)")]
    Algorithm(String),
}

/// Why a stored hash cannot be used (checked when the file is loaded, so a typo is reported
/// at start-up instead of as a failed login).
pub fn check_phc(phc: &str) -> Result<(), PhcError> {
    let h = PasswordHash::new(phc).map_err(|e| PhcError::Malformed(e.to_string()))?;
    if h.salt.is_none() || h.hash.is_none() {
        return Err(PhcError::Incomplete);
    }
    match h.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" | "pbkdf2-sha256" => Ok(()),
        other => Err(PhcError::Algorithm(other.to_string())),
    }
}

/// Whether `password` matches the PHC hash. Constant-time comparison is the crates' business.
/// CPU-heavy by design: call it off the async workers.
pub fn verify(password: &[u8], phc: &str) -> bool {
    let Ok(h) = PasswordHash::new(phc) else { return false };
    match h.algorithm.as_str() {
        "pbkdf2-sha256" => Pbkdf2.verify_password(password, &h).is_ok(),
        _ => Argon2::default().verify_password(password, &h).is_ok(),
    }
}

/// A name the password file format can hold: the reader trims each line, takes `#` lines as
/// comments and splits at the first `:`.
pub fn valid_username(u: &str) -> bool {
    let Some(first) = u.chars().next() else { return false };
    first != '#' && !first.is_whitespace() && !u.contains(':') && !u.chars().any(char::is_control)
}

/// Parse a password file. Later lines for the same user replace earlier ones.
pub fn parse(text: &str, path: &Path) -> Result<BTreeMap<String, String>, PasswordError> {
    let mut users = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let syntax = |what: String| PasswordError::Syntax { path: path.into(), line: i + 1, what };
        let Some((user, phc)) = line.split_once(':') else {
            return Err(syntax("expected `user:hash`".into()));
        };
        if !valid_username(user) {
            return Err(syntax(format!("invalid username {user:?}")));
        }
        check_phc(phc).map_err(|e| syntax(format!("user {user:?}: {e}")))?;
        users.insert(user.to_string(), phc.to_string());
    }
    Ok(users)
}

/// Read and parse a password file.
pub fn load(path: &Path) -> Result<BTreeMap<String, String>, PasswordError> {
    let text = std::fs::read_to_string(path).map_err(|source| PasswordError::Io { path: path.into(), source })?;
    parse(&text, path)
}

/// Write the file atomically with mode 0600: readers (and a SIGHUP reload) see the old or the
/// new file, never half of one.
pub fn store(path: &Path, users: &BTreeMap<String, String>) -> Result<(), PasswordError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| PasswordError::Io { path: path.into(), source };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "passwd".into());
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let mut out = String::new();
    for (u, h) in users {
        out.push_str(u);
        out.push(':');
        out.push_str(h);
        out.push('\n');
    }
    let mut f =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io)?;
    let written = f.write_all(out.as_bytes()).and_then(|_| f.sync_all());
    if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

/// `starling passwd FILE USER [--delete]`: add, replace or delete one user. The file is created
/// when missing. Returns what was done, for the message.
pub fn set_user(path: &Path, user: &str, password: Option<&[u8]>, alg: HashAlgorithm) -> Result<String, PasswordError> {
    if !valid_username(user) {
        return Err(PasswordError::BadUsername(user.into()));
    }
    let mut users = match load(path) {
        Ok(u) => u,
        Err(PasswordError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(e),
    };
    let what = match password {
        Some(p) => {
            let existed = users.insert(user.to_string(), hash(p, alg)?).is_some();
            if existed { format!("updated the password of {user}") } else { format!("added {user}") }
        }
        None => {
            if users.remove(user).is_none() {
                return Ok(format!("{user} is not in {}; nothing changed", path.display()));
            }
            format!("deleted {user}")
        }
    };
    store(path, &users)?;
    Ok(what)
}

/// Read a new password for `user`: from standard input when it is not a terminal (the first
/// line, so `echo secret | starling passwd FILE USER` works), else asked for twice on the
/// terminal without echo.
pub fn read_new_password(user: &str) -> Result<String, std::io::Error> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        let p = line.trim_end_matches(['\n', '\r']).to_string();
        if p.is_empty() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty password on standard input"));
        }
        return Ok(p);
    }
    let first = prompt(&format!("Password for {user}: "))?;
    if first.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty password"));
    }
    let second = prompt("Again: ")?;
    if first != second {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "the passwords do not match"));
    }
    Ok(first)
}

/// One line from the terminal with echo off (restored even when reading fails).
fn prompt(text: &str) -> Result<String, std::io::Error> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    use std::io::BufRead;
    let stdin = std::io::stdin();
    eprint!("{text}");
    let saved = tcgetattr(&stdin)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Now, &quiet)?;
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    let restored = tcsetattr(&stdin, OptionalActions::Now, &saved);
    eprintln!();
    r?;
    restored?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name `valid_username` accepts reads back from the file as itself.
    #[test]
    fn valid_usernames_round_trip_through_the_file() {
        let path = Path::new("passwd");
        let h = "$pbkdf2-sha256$i=10000,l=32$c2FsdHNhbHRzYWx0c2FsdA$M5fgfTQFdt/UZ9ItXSpJUbfh+t3SP1e/381emb1bpCs";
        for u in ["alice", "x#y", "trailing ", "ünï cødé", "a b", "#x", " x", "a:b", "a\nb", "\u{85}x", ""] {
            let text = format!("{u}:{h}\n");
            let back = parse(&text, path).ok().filter(|m| m.len() == 1 && m.contains_key(u));
            assert_eq!(valid_username(u), back.is_some(), "{u:?}");
        }
    }

    #[test]
    fn argon2id_hash_verifies() {
        let h = hash(b"s3cret", HashAlgorithm::Argon2id).expect("hash");
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify(b"s3cret", &h));
        assert!(!verify(b"s3cres", &h));
        assert!(!verify(b"", &h));
        // Salted: the same password hashes differently.
        assert_ne!(h, hash(b"s3cret", HashAlgorithm::Argon2id).expect("hash"));
    }

    #[test]
    fn pbkdf2_sha256_hash_verifies() {
        let h = hash(b"s3cret", HashAlgorithm::Pbkdf2Sha256).expect("hash");
        assert!(h.starts_with("$pbkdf2-sha256$"), "{h}");
        assert!(verify(b"s3cret", &h));
        assert!(!verify(b"S3cret", &h));
    }

    /// A hash made by another implementation (Python's hashlib.pbkdf2_hmac, standard base64
    /// without padding as PHC wants): files written by other tools must keep working.
    #[test]
    fn foreign_pbkdf2_hash_verifies() {
        let h = "$pbkdf2-sha256$i=10000,l=32$c2FsdHNhbHRzYWx0c2FsdA$M5fgfTQFdt/UZ9ItXSpJUbfh+t3SP1e/381emb1bpCs";
        assert!(check_phc(h).is_ok());
        assert!(verify(b"correct horse", h));
        assert!(!verify(b"correct horse ", h));
    }

    #[test]
    fn garbage_hash_never_verifies() {
        assert!(!verify(b"x", "not-a-hash"));
        assert!(!verify(b"x", "$md5$abc"));
        assert!(check_phc("$md5$v=1$abc$def").is_err());
        assert!(check_phc("plain").is_err());
        assert!(check_phc("$argon2id$broken").is_err());
    }

    #[test]
    fn file_parse_errors_name_the_line() {
        let p = Path::new("/etc/starling/passwd");
        let h = hash(b"pw", HashAlgorithm::Argon2id).expect("hash");
        let ok = parse(&format!("# comment\n\nalice:{h}\n"), p).expect("parses");
        assert_eq!(ok.len(), 1);
        let err = parse(&format!("alice:{h}\nbob\n"), p).expect_err("no colon").to_string();
        assert!(err.contains("line 2") && err.contains("/etc/starling/passwd"), "{err}");
        let err = parse("carol:$md5$x$y\n", p).expect_err("bad hash").to_string();
        assert!(err.contains("line 1") && err.contains("carol"), "{err}");
    }

    #[test]
    fn set_user_creates_updates_deletes_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("passwd");
        assert_eq!(set_user(&f, "alice", Some(b"one"), HashAlgorithm::Argon2id).expect("add"), "added alice");
        set_user(&f, "bob", Some(b"two"), HashAlgorithm::Argon2id).expect("add");
        let mode = std::fs::metadata(&f).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let users = load(&f).expect("load");
        assert!(verify(b"one", &users["alice"]) && verify(b"two", &users["bob"]));
        set_user(&f, "alice", Some(b"three"), HashAlgorithm::Argon2id).expect("update");
        assert!(verify(b"three", &load(&f).expect("load")["alice"]));
        set_user(&f, "alice", None, HashAlgorithm::Argon2id).expect("delete");
        assert_eq!(load(&f).expect("load").keys().collect::<Vec<_>>(), vec!["bob"]);
        assert!(set_user(&f, "a:b", Some(b"x"), HashAlgorithm::Argon2id).is_err());
    }
}

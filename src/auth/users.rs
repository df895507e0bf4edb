//! User stores: where the password check finds a user's hash.
//!
//! [`UserStore`] is the interface; two sources implement it. [`FileUsers`] is the password file
//! (read-only to the broker, reloaded on SIGHUP, edited with `starling passwd`); [`CatalogUsers`]
//! holds users added through the admin API in the replicated catalog
//! ([`CatalogCmd::SetUser`](crate::catalog::cmd::CatalogCmd), hashes only), so every node of
//! a cluster knows them. The password step of the chain asks the stores in that order.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::auth::password::{self, PasswordError};
use crate::catalog::Catalog;

/// A source of users and their password hashes (PHC strings).
pub trait UserStore: Send + Sync {
    /// `file` or `api`: where a user came from, in listings.
    fn source(&self) -> &'static str;
    /// Whether users can be added and deleted through the admin API.
    fn writable(&self) -> bool;
    fn hash_of(&self, username: &str) -> Option<String>;
    /// Usernames, sorted.
    fn usernames(&self) -> Vec<String>;
    /// Whether this source decides on usernames at all: a configured password file does even
    /// when it is empty, so an unknown username is refused rather than let through.
    fn active(&self) -> bool;
}

/// The password file.
pub struct FileUsers {
    path: Option<PathBuf>,
    users: RwLock<Arc<BTreeMap<String, String>>>,
}

impl FileUsers {
    /// Load the file (if configured); an error names the file and line.
    pub fn open(path: Option<PathBuf>) -> Result<FileUsers, PasswordError> {
        let users = match &path {
            Some(p) => password::load(p)?,
            None => BTreeMap::new(),
        };
        Ok(FileUsers { path, users: RwLock::new(Arc::new(users)) })
    }

    /// Read the file again; on error the users in use stay. Returns the number of users.
    pub fn reload(&self) -> Option<Result<usize, PasswordError>> {
        let path = self.path.as_ref()?;
        Some(password::load(path).map(|u| {
            let n = u.len();
            *self.users.write() = Arc::new(u);
            n
        }))
    }

    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }

    pub fn contains(&self, username: &str) -> bool {
        self.users.read().contains_key(username)
    }
}

impl UserStore for FileUsers {
    fn source(&self) -> &'static str {
        "file"
    }
    fn writable(&self) -> bool {
        false
    }
    fn hash_of(&self, username: &str) -> Option<String> {
        self.users.read().get(username).cloned()
    }
    fn usernames(&self) -> Vec<String> {
        self.users.read().keys().cloned().collect()
    }
    fn active(&self) -> bool {
        self.path.is_some()
    }
}

/// Users in the replicated catalog.
pub struct CatalogUsers {
    catalog: Arc<Catalog>,
}

impl CatalogUsers {
    pub fn new(catalog: Arc<Catalog>) -> CatalogUsers {
        CatalogUsers { catalog }
    }
}

impl UserStore for CatalogUsers {
    fn source(&self) -> &'static str {
        "api"
    }
    fn writable(&self) -> bool {
        true
    }
    fn hash_of(&self, username: &str) -> Option<String> {
        self.catalog.user_hash(username)
    }
    fn usernames(&self) -> Vec<String> {
        self.catalog.usernames()
    }
    fn active(&self) -> bool {
        self.catalog.user_count() > 0
    }
}

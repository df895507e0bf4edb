//! The control socket: the admin API on a Unix socket in the data directory, for `starling ctl`
//! on the node's own host or pod (the Kubernetes preStop hook, an operator's shell).
//!
//! Like `emqx ctl` and `nats-server --signal`, a local operator needs no secret: the socket lives
//! in `<data_dir>/control/` (mode 0700) and is itself mode 0600, so only the broker's user (and
//! root) may connect, and every route is served without an API key. The TCP admin listener
//! keeps asking for one. The socket exists whether or not the TCP admin listener is enabled.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{AdminError, AdminState, ApiKeys, router, serve};
use crate::broker::Broker;
use crate::broker::drain::Evacuation;
use crate::cluster::admin::ClusterAdmin;

/// The directory that holds the socket, under the data directory.
const DIR: &str = "control";
const SOCKET: &str = "ctl.sock";

/// Where the control socket of the node with this data directory is.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DIR).join(SOCKET)
}

/// A serving control socket; [`ControlSocket::stop`] closes it and removes the file.
pub struct ControlSocket {
    path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl ControlSocket {
    /// Bind `<data_dir>/control/ctl.sock` (a file left by a node that did not stop cleanly is
    /// replaced: the caller holds the data directory's lock, so no other node uses it).
    /// A path too long for a Unix socket is logged and skipped (ctl then needs `--url` and a
    /// key); any other failure is an error naming the path.
    pub async fn start(
        data_dir: &Path,
        broker: Arc<Broker>,
        cluster: Arc<dyn ClusterAdmin>,
        ready: Arc<AtomicBool>,
        evacuation: Arc<Evacuation>,
    ) -> Result<Option<ControlSocket>, AdminError> {
        let path = socket_path(data_dir);
        let err = |source| AdminError::Control { path: path.clone(), source };
        let dir = data_dir.join(DIR);
        std::fs::create_dir_all(&dir).map_err(err)?;
        // Set every time: the directory may predate this node or have been created by hand.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        let listener = match tokio::net::UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                tracing::warn!(
                    path = %path.display(),
                    "no control socket: the path is too long for a Unix socket; `starling ctl` needs --url and --api-key"
                );
                return Ok(None);
            }
            Err(e) => return Err(err(e)),
        };
        // The directory already keeps others out; the mode says so on the socket too.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        let state = AdminState {
            broker,
            cluster,
            keys: Arc::new(parking_lot::RwLock::new(Arc::new(ApiKeys::default()))),
            ready,
            evacuation,
            trusted: true,
        };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let stopped = async move {
            let _ = stop_rx.await;
        };
        // Owned by the returned ControlSocket: `stop` ends it and shutdown awaits `task`.
        let task = tokio::spawn(serve(listener, router(state), stopped));
        Ok(Some(ControlSocket { path, stop: Some(stop_tx), task }))
    }

    /// Stop accepting, let requests in progress finish for up to `grace`, remove the file.
    pub async fn stop(mut self, grace: Duration) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if tokio::time::timeout(grace, &mut self.task).await.is_err() {
            self.task.abort();
            let _ = self.task.await;
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

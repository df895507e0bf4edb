//! A background check that runs every `every` until shutdown, off the async workers: how the
//! listeners' and the cluster link's certificate files are watched for changes.

use std::time::Duration;

use tokio::sync::watch;

/// Run `check` on the blocking pool every `every` (the first time after one interval) until
/// `shutdown` flips. `what` names the check in the log line if it panics. The caller runs the
/// returned future as a background task (the node's supervisor does).
pub async fn poll<F>(what: String, every: Duration, mut shutdown: watch::Receiver<bool>, check: F)
where
    F: Fn() + Clone + Send + 'static,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        // File reads and certificate parsing stay off the async workers.
        if let Err(e) = tokio::task::spawn_blocking(check.clone()).await {
            tracing::error!("{what} failed: {e}");
        }
    }
}

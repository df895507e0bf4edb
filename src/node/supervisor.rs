//! The node's background tasks (after Garage's `util/background`): each has a name, is started
//! through [`Supervisor::spawn`], and is stopped at shutdown in the reverse order of its start,
//! so a task never outlives one it was started after. A task that panics is logged with its
//! name and counted in `task_panics{task}`, instead of vanishing with its `JoinHandle`.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

use crate::metrics::Metrics;

struct Task {
    name: &'static str,
    abort: AbortHandle,
    /// Ends when the task has ended, however it ended (the watcher reports a panic first).
    done: JoinHandle<()>,
}

pub struct Supervisor {
    metrics: Arc<Metrics>,
    tasks: Mutex<Vec<Task>>,
}

impl Supervisor {
    pub fn new(metrics: Arc<Metrics>) -> Supervisor {
        Supervisor { metrics, tasks: Mutex::new(Vec::new()) }
    }

    /// Start `task` under `name`.
    pub fn spawn<F>(&self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task);
        let abort = handle.abort_handle();
        let metrics = self.metrics.clone();
        let done = tokio::spawn(async move {
            match handle.await {
                Err(e) if e.is_panic() => {
                    let what = e.into_panic();
                    let msg = what
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| what.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(task = name, "background task panicked: {msg}");
                    metrics.task_panicked(name);
                }
                Err(_) => tracing::debug!(task = name, "background task stopped"),
                Ok(()) => tracing::debug!(task = name, "background task ended"),
            }
        });
        let mut tasks = self.tasks.lock();
        // Tasks that ended already are forgotten, so the list stays as long as what runs.
        tasks.retain(|t| !t.done.is_finished());
        tasks.push(Task { name, abort, done });
    }

    /// Start `task` under `name`, ended as soon as `stop` turns `true`: for tasks that may be
    /// cut off at any await point and do not watch the signal themselves.
    pub fn spawn_until<F>(&self, name: &'static str, mut stop: watch::Receiver<bool>, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawn(name, async move {
            tokio::select! {
                () = task => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        });
    }

    /// Stop every task, the last started first: each gets until `deadline` to end by itself
    /// (they watch the node's shutdown signal), then it is aborted.
    pub async fn stop(&self, deadline: tokio::time::Instant) {
        let tasks = std::mem::take(&mut *self.tasks.lock());
        for mut t in tasks.into_iter().rev() {
            if tokio::time::timeout_at(deadline, &mut t.done).await.is_err() {
                tracing::debug!(task = t.name, "background task did not stop in time; aborting it");
                t.abort.abort();
                let _ = tokio::time::timeout(Duration::from_secs(1), t.done).await;
            }
        }
    }

    /// Names of the tasks that still run, in start order.
    pub fn running(&self) -> Vec<&'static str> {
        self.tasks.lock().iter().filter(|t| !t.done.is_finished()).map(|t| t.name).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records its name when dropped, that is when its task ends or is aborted.
    struct OnDrop(&'static str, Arc<Mutex<Vec<&'static str>>>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.1.lock().push(self.0);
        }
    }

    #[tokio::test]
    async fn a_panicking_task_is_reported_by_name() {
        let metrics = Arc::new(Metrics::new());
        let sup = Supervisor::new(metrics.clone());
        sup.spawn("doomed", async { panic!("boom") });
        sup.spawn("fine", std::future::pending());
        for _ in 0..200 {
            if metrics.task_panics_of("doomed") > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(metrics.task_panics_of("doomed"), 1);
        assert_eq!(metrics.task_panics_of("fine"), 0);
        assert!(metrics.encode().contains("task_panics_total{task=\"doomed\"} 1"));
        assert_eq!(sup.running(), ["fine"]);
        sup.stop(tokio::time::Instant::now()).await;
    }

    #[tokio::test]
    async fn tasks_stop_last_started_first() {
        let sup = Supervisor::new(Arc::new(Metrics::new()));
        let order = Arc::new(Mutex::new(Vec::new()));
        for name in ["first", "second", "third"] {
            let guard = OnDrop(name, order.clone());
            sup.spawn(name, async move {
                let _guard = guard;
                std::future::pending::<()>().await
            });
        }
        sup.stop(tokio::time::Instant::now() + Duration::from_millis(10)).await;
        assert_eq!(*order.lock(), ["third", "second", "first"]);
        assert!(sup.running().is_empty());
    }

    #[tokio::test]
    async fn a_task_that_ends_by_itself_is_not_aborted() {
        let sup = Supervisor::new(Arc::new(Metrics::new()));
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let order = Arc::new(Mutex::new(Vec::new()));
        let guard = OnDrop("watcher", order.clone());
        sup.spawn("watcher", async move {
            let _guard = guard;
            let _ = rx.changed().await;
        });
        sup.spawn_until("interruptible", tx.subscribe(), std::future::pending());
        let _ = tx.send(true);
        let started = tokio::time::Instant::now();
        sup.stop(started + Duration::from_secs(5)).await;
        assert_eq!(*order.lock(), ["watcher"]);
        assert!(started.elapsed() < Duration::from_secs(4), "both ended on the signal, none waited out the deadline");
    }
}

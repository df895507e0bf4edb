//! systemd integration (`Type=notify`, `WatchdogSec=`) through the `sd_notify` protocol.
//!
//! Everything here is a no-op when `NOTIFY_SOCKET` is unset, i.e. when the broker is not run by
//! systemd (or by something speaking the same protocol). Sending is best effort: a failure is
//! logged once at WARN and never stops the broker.
//!
//! * `READY=1` once every listener is bound and storage is open ([`ready`]);
//! * `STATUS=...` at each change of state ([`status`]);
//! * `WATCHDOG=1` every half of `WATCHDOG_USEC` ([`spawn_watchdog`]);
//! * `STOPPING=1` when shutdown begins ([`stopping`]), `STATUS=stopped` at the end ([`stopped`]);
//! * `RELOADING=1` ... `READY=1` around a SIGHUP reload ([`reloading`], [`reloaded`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::task::JoinHandle;

/// Whether a service manager listens (`NOTIFY_SOCKET` is set).
pub fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

fn send(states: &[NotifyState<'_>]) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !enabled() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!("cannot notify systemd (NOTIFY_SOCKET): {e}");
        } else {
            tracing::debug!("cannot notify systemd (NOTIFY_SOCKET): {e}");
        }
    }
}

/// `READY=1` with a status naming how many listeners serve.
pub fn ready(listeners: usize) {
    let status = format!("serving: {listeners} listeners");
    send(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

/// A free-form `STATUS=` line (shown by `systemctl status`).
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// `STOPPING=1`: shutdown has begun (connections are draining).
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("draining")]);
}

/// `RELOADING=1` with the monotonic time systemd wants alongside it (`Type=notify-reload`).
pub fn reloading() {
    match sd_notify::NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now, NotifyState::Status("reloading")]),
        Err(_) => send(&[NotifyState::Reloading, NotifyState::Status("reloading")]),
    }
}

/// `READY=1` after a reload, back to the serving status.
pub fn reloaded(listeners: usize) {
    ready(listeners);
}

/// The watchdog interval asked for by systemd (`WATCHDOG_USEC`, for this process when
/// `WATCHDOG_PID` is set), when notifications are enabled at all.
pub fn watchdog_interval() -> Option<Duration> {
    if !enabled() {
        return None;
    }
    sd_notify::watchdog_enabled().filter(|d| !d.is_zero())
}

/// Send `WATCHDOG=1` every half of `WATCHDOG_USEC` from a tokio task, as long as the runtime
/// schedules it (a wedged runtime then gets the process restarted). `None` when no watchdog
/// is configured.
pub fn spawn_watchdog() -> Option<JoinHandle<()>> {
    let every = watchdog_interval()? / 2;
    tracing::debug!(interval = ?every, "systemd watchdog enabled");
    // Owned by the process (main), which aborts the returned handle after the node stopped:
    // it must outlive the node's supervisor, whose shutdown it watches over.
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            send(&[NotifyState::Watchdog]);
        }
    }))
}

/// `STATUS=stopped`: shutdown is complete, the process is about to exit.
pub fn stopped() {
    send(&[NotifyState::Status("stopped")]);
}

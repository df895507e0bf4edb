//! The end of a connection task, kept out of `connection.rs`: a panic in one connection is
//! caught, logged with its client id, counted (`starling_connection_panics_total`) and answered
//! where the protocol allows; and a connection the server closes is closed gracefully (write
//! side shut down, the client's bytes still in flight read and discarded for a bounded time),
//! so the client reads the DISCONNECT or CONNACK instead of a reset.

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::io::AsyncWriteExt;

use super::connection::MqttIo;
use crate::metrics::Metrics;

/// How long a closing connection keeps reading (and discarding) what the client still sends.
pub const LINGER_TIME: Duration = Duration::from_secs(1);
/// How many bytes a closing connection reads at most before it gives up waiting for the client.
pub const LINGER_BYTES: usize = 256 * 1024;

pub use crate::mqtt::Stage;

/// The bytes that answer a panic at `stage`: 5.0 gets DISCONNECT / CONNACK "implementation
/// specific error" (0x83), 3.1.1 before CONNACK gets "server unavailable" (3); a connected
/// 3.1.1 client has no way to be told and is just closed.
pub fn panic_reply(stage: Stage) -> &'static [u8] {
    match stage {
        Stage::Unknown | Stage::Connected { v5: false } => &[],
        // CONNACK: flags 0, reason 0x83, no properties.
        Stage::Connecting { v5: true } => &[0x20, 0x03, 0x00, 0x83, 0x00],
        // CONNACK: session present 0, return code 3.
        Stage::Connecting { v5: false } => &[0x20, 0x02, 0x00, 0x03],
        // DISCONNECT with reason 0x83 and no properties.
        Stage::Connected { v5: true } => &[0xE0, 0x01, 0x83],
    }
}

/// A panic caught by [`catch`], with its message.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Panicked(pub String);

/// Run `fut`, turning a panic into `Err` with its message.
///
/// `AssertUnwindSafe`: after a panic the caller only reads plain fields of its connection
/// (version, client id) and then drops it; no invariant that the panic could have broken is
/// relied on, and shared state (sessions, routes) is owned by the broker behind its own locks.
///
/// Not an `async fn`: one would hold `fut` twice (as its argument and inside the
/// `CatchUnwind`), and a connection's whole loop is `fut`.
pub fn catch<F: Future>(fut: F) -> impl Future<Output = Result<F::Output, Panicked>> {
    AssertUnwindSafe(fut).catch_unwind().map(|r| r.map_err(|p| Panicked(panic_message(p.as_ref()))))
}

/// The text of a panic payload.
pub fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}

/// A connection task panicked: log it with the client id, count it, answer what the stage
/// allows (best effort, within `write_timeout`) and close gracefully.
pub async fn answer_panic<S: MqttIo>(
    stream: &mut S,
    metrics: &Metrics,
    client_id: Option<&str>,
    peer: SocketAddr,
    stage: Stage,
    what: &str,
    write_timeout: Duration,
) {
    metrics.connection_panics.inc();
    tracing::error!(client = ?client_id, peer = %peer, stage = ?stage, panic = what, "connection task panicked; closing it");
    let reply = panic_reply(stage);
    if !reply.is_empty() {
        let write = async {
            stream.write_all(reply).await?;
            stream.flush().await
        };
        let _ = tokio::time::timeout(write_timeout, write).await;
    }
    linger(stream, LINGER_TIME, LINGER_BYTES).await;
}

/// Close gracefully: shut down the write side (the peer reads everything sent, then EOF), then
/// read and discard until the peer closes, `time` passes or `max_bytes` were read. Closing with
/// unread bytes would make the kernel send a reset, which can destroy the last packet sent.
pub async fn linger<S: MqttIo>(stream: &mut S, time: Duration, max_bytes: usize) {
    let drain = async {
        if stream.shutdown().await.is_err() {
            return;
        }
        let mut read = 0usize;
        let mut buf = Vec::new();
        while read < max_bytes {
            buf.clear();
            match stream.read_some(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => read += n,
            }
        }
    };
    let _ = tokio::time::timeout(time, drain).await;
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::transport::connection::Plain;

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 1883))
    }

    #[tokio::test]
    async fn a_panic_is_caught_with_its_message() {
        let r = catch(async {
            tokio::task::yield_now().await;
            #[allow(clippy::panic)]
            if true {
                panic!("boom in connection");
            }
            1
        })
        .await;
        assert_eq!(r, Err(Panicked("boom in connection".to_string())));
        assert_eq!(catch(async { 7 }).await, Ok(7));
    }

    /// The whole path a connection takes after a panic: counted, answered, closed.
    #[tokio::test]
    async fn a_panicking_connection_is_counted_answered_and_closed() {
        for (stage, want) in [
            (Stage::Connected { v5: true }, vec![0xE0, 0x01, 0x83]),
            (Stage::Connecting { v5: true }, vec![0x20, 0x03, 0x00, 0x83, 0x00]),
            (Stage::Connecting { v5: false }, vec![0x20, 0x02, 0x00, 0x03]),
            (Stage::Connected { v5: false }, vec![]),
            (Stage::Unknown, vec![]),
        ] {
            let metrics = Metrics::new();
            let (server, mut client) = tokio::io::duplex(1024);
            let mut server = Plain(server);
            let what = catch(async {
                #[allow(clippy::panic)]
                if true {
                    panic!("library assertion");
                }
            })
            .await
            .expect_err("panicked");
            // The client keeps sending while the server closes: the server reads it away.
            let client_side = async {
                let _ = client.write_all(&[0xC0, 0x00, 0xC0, 0x00]).await;
                let mut got = Vec::new();
                client.read_to_end(&mut got).await.expect("read");
                drop(client);
                got
            };
            let serve_side =
                answer_panic(&mut server, &metrics, Some("c1"), peer(), stage, &what.0, Duration::from_secs(1));
            let (got, ()) = tokio::join!(client_side, serve_side);
            assert_eq!(got, want, "{stage:?}");
            assert_eq!(metrics.connection_panics.get(), 1);
            assert!(metrics.encode().contains("starling_connection_panics_total 1"));
        }
    }

    #[tokio::test]
    async fn linger_is_bounded_in_time_and_bytes() {
        // A peer that never closes: linger gives up after its time.
        let (server, _client) = tokio::io::duplex(64);
        let mut server = Plain(server);
        let t0 = std::time::Instant::now();
        linger(&mut server, Duration::from_millis(300), 1 << 20).await;
        assert!(t0.elapsed() >= Duration::from_millis(300));
        assert!(t0.elapsed() < Duration::from_secs(2));
        // A peer that keeps writing: linger stops after its byte budget.
        let (server, mut client) = tokio::io::duplex(64);
        let mut server = Plain(server);
        let writer = tokio::spawn(async move {
            let chunk = [0u8; 32];
            while client.write_all(&chunk).await.is_ok() {}
        });
        linger(&mut server, Duration::from_secs(3600), 4096).await;
        drop(server);
        let _ = writer.await;
    }
}

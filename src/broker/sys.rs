//! `$SYS`: this node's statistics, published every interval as retained topics under
//! `$SYS/broker/` (this node only) and `$SYS/brokers/<node>/` (forwarded to every node).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::protocol::{Message, PublishProps};

use super::Broker;

impl Broker {
    // ---------------------------------------------------------------- $SYS

    /// Publish the `$SYS/broker/...` topics every `interval`, until the broker goes away (the
    /// task holds it weakly).
    pub fn sys_task(self: &Arc<Self>, interval: Duration) -> impl Future<Output = ()> + Send + 'static {
        let weak = Arc::downgrade(self);
        async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                let Some(b) = weak.upgrade() else { return };
                b.publish_sys().await;
            }
        }
    }

    pub(super) async fn publish_sys(self: &Arc<Self>) {
        let m = &self.metrics;
        let sum = |c: &[prometheus_client::metrics::counter::Counter; 3]| c.iter().map(|c| c.get()).sum::<u64>();
        let values = [
            ("version", env!("CARGO_PKG_VERSION").to_string()),
            ("uptime", format!("{} seconds", self.uptime().as_secs())),
            ("clients/connected", self.connections.load(Ordering::Relaxed).to_string()),
            ("clients/total", self.session_count().to_string()),
            ("messages/received", sum(&m.messages_received).to_string()),
            ("messages/sent", sum(&m.messages_sent).to_string()),
            ("subscriptions/count", self.subscription_count().to_string()),
            ("retained messages/count", self.catalog.retained_count().to_string()),
        ];
        // `$SYS/broker/...` is this node's view (as mosquitto names it); the same values under
        // `$SYS/brokers/<node>/...` are forwarded, so one subscriber sees every node.
        let node = self.node_name.replace(['+', '#', '/'], "_");
        for (name, value) in values {
            for topic in [format!("$SYS/broker/{name}"), format!("$SYS/brokers/{node}/{name}")] {
                let bytes: Arc<[u8]> = Arc::from(value.clone().into_bytes());
                let len = bytes.len();
                let msg = Arc::new(Message {
                    topic: topic.as_str().into(),
                    payload: mqtt_protocol_core::mqtt::ArcPayload::new(bytes, 0, len),
                    qos: 0,
                    retain: true,
                    props: PublishProps::default(),
                    expires_at_ms: None,
                    origin: "$SYS".into(),
                    wire: Default::default(),
                    id: crate::protocol::message::new_message_id(),
                });
                self.sys_retained.write().insert(topic, msg.clone());
                if let Err(e) = self.publish(msg).await {
                    tracing::debug!("$SYS publish failed: {e}");
                }
            }
        }
    }
}

//! SUBSCRIBE and UNSUBSCRIBE: per filter, validation, ACL, the subscription quota, the broker,
//! and the retained messages a new subscription receives.

use mqtt_protocol_core::mqtt::connection::Event;
use mqtt_protocol_core::mqtt::packet::{Property, RetainHandling, SubOpts, v3_1_1, v5_0};
use mqtt_protocol_core::mqtt::result_code::{
    DisconnectReasonCode, SubackReasonCode, SubackReturnCode, UnsubackReasonCode,
};

use super::Driver;
use super::publish::qos_u8;
use super::reason::{Granted, Reason, suback_v3, suback_v5};
use crate::auth::acl::Action;
use crate::broker::session::Delivery;
use crate::broker::subs::SubOptions;
use crate::protocol::topic;

impl Driver {
    pub(super) async fn on_subscribe_v5(&mut self, s: v5_0::Subscribe) -> Vec<Event> {
        if let Some(why) = bad_subscribe(s.packet_id(), s.entries().iter().map(|e| e.sub_opts().to_buffer()[0]), 0xC0) {
            return self.protocol_violation(DisconnectReasonCode::MalformedPacket, why);
        }
        let sub_id = s.props().iter().find_map(|x| match x {
            Property::SubscriptionIdentifier(v) => Some(v.val()),
            _ => None,
        });
        let entries =
            s.entries().iter().map(|e| (e.topic_filter().to_string(), sub_opts(e.sub_opts(), sub_id))).collect();
        self.on_subscribe(s.packet_id(), entries).await
    }

    pub(super) async fn on_subscribe_v3(&mut self, s: v3_1_1::Subscribe) -> Vec<Event> {
        if let Some(why) = bad_subscribe(s.packet_id(), s.entries().iter().map(|e| e.sub_opts().to_buffer()[0]), 0xFC) {
            return self.protocol_violation(DisconnectReasonCode::MalformedPacket, why);
        }
        // A bridge (the bridge bit at CONNECT) gets what an MQTT 5 bridge asks for, as in
        // Mosquitto: no local, so what it forwarded here is not echoed back over it (no loop),
        // and retain as published. Not on shared subscriptions, where no local is an error.
        let bridge = self.mqtt31.bridge;
        let entries = s
            .entries()
            .iter()
            .map(|e| {
                let mut o = sub_opts(e.sub_opts(), None);
                if bridge && !e.topic_filter().starts_with("$share/") {
                    o.no_local = true;
                    o.retain_as_published = true;
                }
                (e.topic_filter().to_string(), o)
            })
            .collect();
        self.on_subscribe(s.packet_id(), entries).await
    }

    async fn on_subscribe(&mut self, pid: u16, entries: Vec<(String, SubOptions)>) -> Vec<Event> {
        let Some(session) = self.session.clone() else {
            return Vec::new();
        };
        let broker = self.broker.clone();
        let s = broker.settings();
        let mut codes: Vec<Granted> = Vec::with_capacity(entries.len());
        let mut retained: Vec<Delivery> = Vec::new();
        for (full, mut opts) in entries {
            let parsed = match topic::parse_filter(&full, s.topic_limits) {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(client = ?self.client_id, filter = %full, "subscription refused: {e}");
                    broker.metrics().refused("subscribe_filter_invalid");
                    codes.push(Err(Reason::TopicFilterInvalid));
                    continue;
                }
            };
            if let Some(acl) = &mut self.acl
                && !acl.allows(
                    broker.auth(),
                    self.username.as_deref(),
                    self.client_id.as_deref().unwrap_or(""),
                    Action::Subscribe,
                    parsed.filter,
                )
            {
                let client = self.client_id.as_deref().unwrap_or("");
                let user = self.username.as_deref().unwrap_or("");
                broker.auth().refused("acl_subscribe", &format!("{client}|{full}"), || {
                    format!("client {client:?} (username {user:?}) may not subscribe to {full:?}")
                });
                codes.push(Err(Reason::NotAuthorized));
                continue;
            }
            let max = broker.auth().limits.max_subscriptions;
            if session.over_subscription_quota(&full, max) {
                let client = self.client_id.as_deref().unwrap_or("");
                broker.auth().refused("subscription_quota", client, || {
                    format!("client {client:?} has {max} subscriptions (limits.max_subscriptions); {full:?} refused")
                });
                codes.push(Err(Reason::QuotaExceeded));
                continue;
            }
            if parsed.group.is_some() && opts.no_local {
                // MQTT-3.8.3-4
                return self
                    .protocol_violation(DisconnectReasonCode::ProtocolError, "no local on a shared subscription");
            }
            opts.qos = opts.qos.min(s.max_qos);
            let existed = match broker.subscribe(&session, &full, opts).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(client = ?self.client_id, "subscribe failed: {e}");
                    codes.push(Err(Reason::UnspecifiedError));
                    continue;
                }
            };
            codes.push(Ok(opts.qos));
            let send_retained =
                parsed.group.is_none() && (opts.retain_handling == 0 || (opts.retain_handling == 1 && !existed));
            if send_retained {
                for m in broker.retained_for(parsed.filter) {
                    retained.push(Delivery {
                        seq: 0,
                        qos: m.qos.min(opts.qos),
                        msg: m,
                        // Retained messages sent on subscribe always carry RETAIN=1 (MQTT-3.3.1-9).
                        retain: true,
                        sub_ids: opts.sub_id.into_iter().collect(),
                        shared: None,
                        committed: None,
                    });
                }
            }
        }
        let ev = if self.v5() {
            let rcs: Vec<SubackReasonCode> = codes.into_iter().map(suback_v5).collect();
            match v5_0::Suback::builder().packet_id(pid).reason_codes(rcs).build() {
                Ok(p) => self.mqtt.send(p.into()),
                Err(_) => Vec::new(),
            }
        } else {
            let rcs: Vec<SubackReturnCode> = codes.into_iter().map(suback_v3).collect();
            match v3_1_1::Suback::builder().packet_id(pid).return_codes(rcs).build() {
                Ok(p) => self.mqtt.send(p.into()),
                Err(_) => Vec::new(),
            }
        };
        broker.queue_retained(&session, retained);
        ev
    }

    pub(super) async fn on_unsubscribe(&mut self, pid: u16, filters: Vec<String>) -> Vec<Event> {
        if pid == 0 {
            return self.protocol_violation(DisconnectReasonCode::MalformedPacket, "packet identifier 0");
        }
        let Some(session) = self.session.clone() else {
            return Vec::new();
        };
        let mut rcs = Vec::with_capacity(filters.len());
        for f in filters {
            let rc = match self.broker.unsubscribe(&session, &f).await {
                Ok(true) => UnsubackReasonCode::Success,
                Ok(false) => UnsubackReasonCode::NoSubscriptionExisted,
                Err(e) => {
                    tracing::error!(client = ?self.client_id, "unsubscribe failed: {e}");
                    UnsubackReasonCode::UnspecifiedError
                }
            };
            rcs.push(rc);
        }
        if self.v5() {
            match v5_0::Unsuback::builder().packet_id(pid).reason_codes(rcs).build() {
                Ok(p) => self.mqtt.send(p.into()),
                Err(_) => Vec::new(),
            }
        } else {
            match v3_1_1::Unsuback::builder().packet_id(pid).build() {
                Ok(p) => self.mqtt.send(p.into()),
                Err(_) => Vec::new(),
            }
        }
    }
}

/// SUBSCRIBE checks the library leaves to us: a non-zero packet id (MQTT-2.2.1-3), reserved
/// subscription-option bits clear (3.1.1: all but QoS; 5.0: the top two), QoS ≠ 3 and Retain
/// Handling ≠ 3 (MQTT-3.8.3-5).
fn bad_subscribe(pid: u16, options: impl Iterator<Item = u8>, reserved: u8) -> Option<&'static str> {
    if pid == 0 {
        return Some("packet identifier 0");
    }
    for o in options {
        if o & reserved != 0 {
            return Some("reserved subscription option bits set");
        }
        if o & 0x03 == 3 || (o >> 4) & 0x03 == 3 {
            return Some("QoS 3 or Retain Handling 3 in SUBSCRIBE");
        }
    }
    None
}

fn sub_opts(o: &SubOpts, sub_id: Option<u32>) -> SubOptions {
    SubOptions {
        qos: qos_u8(o.qos()),
        no_local: o.nl(),
        retain_as_published: o.rap(),
        retain_handling: match o.rh() {
            RetainHandling::SendRetained => 0,
            RetainHandling::SendRetainedIfNotExists => 1,
            RetainHandling::DoNotSendRetained => 2,
        },
        sub_id,
    }
}

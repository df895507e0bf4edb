//! DISCONNECT both ways, kicks and take-overs, and closing on a protocol violation.

use mqtt_protocol_core::mqtt::connection::Event;
use mqtt_protocol_core::mqtt::packet::{Property, ServerReference, v5_0};
use mqtt_protocol_core::mqtt::result_code::DisconnectReasonCode;

use super::{Driver, End};
use crate::broker::session::Kick;

impl Driver {
    /// DISCONNECT from a 5.0 client: its reason (with or without the will) and a last word on
    /// the session expiry.
    pub(super) fn on_disconnect_v5(&mut self, d: v5_0::Disconnect) -> Vec<Event> {
        let rc = d.reason_code().unwrap_or(DisconnectReasonCode::NormalDisconnection);
        let expiry = d.props().as_ref().and_then(|ps| {
            ps.iter().find_map(|x| match x {
                Property::SessionExpiryInterval(v) => Some(v.val()),
                _ => None,
            })
        });
        if let Some(e) = expiry {
            if self.connect_expiry == 0 && e != 0 {
                // MQTT-3.14.2-2: cannot make a non-persistent session persistent here.
                return self
                    .protocol_violation(DisconnectReasonCode::ProtocolError, "session expiry set at DISCONNECT");
            }
            self.new_expiry = Some(e);
        }
        self.end = Some(if rc == DisconnectReasonCode::DisconnectWithWillMessage {
            End::ClientDisconnectWithWill
        } else {
            End::ClientDisconnect
        });
        Vec::new()
    }

    /// Close with a reason: DISCONNECT for 5.0, a plain close for 3.1.1.
    pub(super) fn protocol_violation(&mut self, reason: DisconnectReasonCode, what: &str) -> Vec<Event> {
        tracing::info!(client = ?self.client_id, peer = %self.peer, reason = ?reason, "closing connection: {what}");
        self.end.get_or_insert(End::ProtocolError);
        if self.v5()
            && let Ok(d) = v5_0::Disconnect::builder().reason_code(reason).build()
        {
            return self.mqtt.send(d.into());
        }
        Vec::new()
    }

    /// DISCONNECT to a connected 5.0 client (3.1.1 has none: the socket just closes).
    pub(super) async fn send_disconnect(&mut self, reason: DisconnectReasonCode) {
        let mut b = v5_0::Disconnect::builder().reason_code(reason);
        if reason == DisconnectReasonCode::UseAnotherServer
            && let Some(r) = &self.broker.settings().server_reference
            && let Ok(p) = ServerReference::new(r.as_str())
        {
            b = b.props(vec![Property::ServerReference(p)]);
        }
        if self.v5()
            && self.session.is_some()
            && let Ok(d) = b.build()
        {
            let ev = self.mqtt.send(d.into());
            self.process(ev).await;
        }
    }

    /// Whether someone else ended this connection: a takeover or a kick. Check after
    /// registering for the session's wake-ups, so none is missed in between.
    pub fn kicked(&self) -> bool {
        self.kick().is_some()
    }

    /// Tell a kicked client why ([`Driver::kicked`]) and end.
    pub async fn leave_kicked(&mut self) {
        if let Some((end, reason)) = self.kick() {
            self.send_disconnect(reason).await;
            self.end = Some(end);
        }
    }

    fn kick(&self) -> Option<(End, DisconnectReasonCode)> {
        let s = self.session.as_ref()?;
        if !s.driven_by(self.conn_id) {
            return Some((End::TakenOver, DisconnectReasonCode::SessionTakenOver));
        }
        match s.pending_kick()? {
            Kick::Administrative => Some((End::Kicked, DisconnectReasonCode::AdministrativeAction)),
            Kick::Shutdown => Some((End::Shutdown, DisconnectReasonCode::ServerShuttingDown)),
            Kick::Drain => Some((End::Shutdown, DisconnectReasonCode::UseAnotherServer)),
        }
    }
}

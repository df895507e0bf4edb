//! CONNECT → CONNACK: identify the client, admit it (bans, credentials, will, ownership of
//! its session, flapping), attach the session and hand the protocol library what it had in
//! flight.

use std::sync::Arc;

use mqtt_protocol_core::mqtt::Version;
use mqtt_protocol_core::mqtt::connection::Event;
use mqtt_protocol_core::mqtt::packet::{
    AssignedClientIdentifier, GenericStorePacket, MaximumQos, Packet, Property, RetainAvailable, ServerKeepAlive,
    SessionExpiryInterval, TopicAliasMaximum, v3_1_1, v5_0,
};
use mqtt_protocol_core::mqtt::result_code::{ConnectReasonCode, ConnectReturnCode};

use super::deliver::{build_v3, build_v5, push_prop};
use super::publish::{publish_props_in, qos_u8};
use super::{Driver, End};
use crate::auth::{AuthOutcome, ConnectBan};
use crate::broker::session::{Phase, Session};
use crate::broker::{BrokerError, Connected, Will};
use crate::catalog::cmd::Identity;
use crate::protocol::message::now_ms;
use crate::protocol::{Message, PublishProps, topic};

impl Driver {
    pub(super) async fn on_connect_v5(&mut self, c: v5_0::Connect) -> Vec<Event> {
        self.version = Version::V5_0;
        let mut req = ConnectRequest {
            client_id: c.client_id().to_string(),
            clean: c.clean_start(),
            keep_alive: c.keep_alive(),
            username: c.user_name().map(str::to_string),
            password: c.password().map(<[u8]>::to_vec),
            expiry: 0,
            enhanced_auth: false,
            will: None,
        };
        for p in c.props() {
            match p {
                Property::SessionExpiryInterval(v) => req.expiry = v.val(),
                Property::ReceiveMaximum(v) => self.window = self.window.min(usize::from(v.val())),
                Property::TopicAliasMaximum(v) => self.aliases_out = v.val() > 0,
                Property::MaximumPacketSize(v) => self.max_out = v.val() as usize,
                Property::AuthenticationMethod(_) => req.enhanced_auth = true,
                _ => {}
            }
        }
        if c.will_flag() {
            let (t, p) = (c.will_topic().unwrap_or(""), c.will_payload().unwrap_or(&[]));
            req.will = Some(WillRequest::new(t, p, qos_u8(c.will_qos()), c.will_retain(), c.will_props()));
        }
        self.on_connect(req).await
    }

    pub(super) async fn on_connect_v3(&mut self, c: v3_1_1::Connect) -> Vec<Event> {
        self.version = Version::V3_1_1;
        if self.mqtt31.empty_client_id {
            return self.refuse(Refusal::ClientIdNotValid, "MQTT 3.1 requires a client id");
        }
        let mut req = ConnectRequest {
            client_id: c.client_id().to_string(),
            clean: c.clean_session(),
            keep_alive: c.keep_alive(),
            username: c.user_name().map(str::to_string),
            password: c.password().map(<[u8]>::to_vec),
            // 3.1.1 has no expiry: a persistent session lasts until `session.max_session_expiry`.
            expiry: if c.clean_session() { 0 } else { u32::MAX },
            enhanced_auth: false,
            will: None,
        };
        if c.will_flag() {
            let (t, p) = (c.will_topic().unwrap_or(""), c.will_payload().unwrap_or(&[]));
            req.will = Some(WillRequest::new(t, p, qos_u8(c.will_qos()), c.will_retain(), &[]));
        }
        self.on_connect(req).await
    }

    /// CONNECT of either version: identify, admit, attach the session, answer with CONNACK.
    async fn on_connect(&mut self, req: ConnectRequest) -> Vec<Event> {
        let broker = self.broker.clone();
        let s = broker.settings();
        if req.enhanced_auth {
            return self.refuse(Refusal::BadAuthenticationMethod, "enhanced authentication is not supported");
        }
        let mut client_id = req.client_id;
        let mut assigned = None;
        if client_id.is_empty() {
            if !self.v5() && !req.clean {
                return self.refuse(Refusal::ClientIdNotValid, "empty client id with clean session 0 (MQTT-3.1.3-8)");
            }
            client_id = generate_client_id();
            assigned = Some(client_id.clone());
        } else if client_id.len() > s.max_client_id_length {
            return self.refuse(Refusal::ClientIdNotValid, "client id too long");
        } else if crate::broker::reserved::is_reserved_client_id(&client_id) {
            return self
                .refuse(Refusal::ClientIdNotValid, "client ids starting with $bridge/ belong to the broker's bridges");
        }
        // Taken: a connection has one CONNECT.
        let cert_user = self.pre.as_mut().and_then(|p| p.cert_user.take());
        let peer_gone = self.pre.as_ref().and_then(|p| p.peer_gone.clone());
        if let Some(user) = &cert_user {
            tracing::debug!(client = %client_id, peer = %self.peer, username = %user, "username from client certificate");
        }
        // Bans first: a banned client costs no password hash.
        let auth = broker.auth();
        let presented = cert_user.as_deref().or(req.username.as_deref());
        if let Err(b) = auth.check_connect(&client_id, presented) {
            let (r, what) = match b {
                ConnectBan::ClientId => (Refusal::BannedClientId, "client id is banned"),
                ConnectBan::Username => (Refusal::BannedUsername, "username is banned"),
                ConnectBan::Flapping => (Refusal::Flapping, "connects too often (flapping); banned for a while"),
            };
            return self.refuse(r, &format!("client {client_id:?}, username {presented:?}: {what}"));
        }
        let anonymous = super::anonymous_for(self.info.allow_anonymous, self.info.anonymous_implicit, self.peer.ip());
        let outcome = auth
            .authenticate(
                req.username.as_deref(),
                req.password.as_deref(),
                cert_user.as_deref(),
                anonymous,
                self.peer.ip(),
                peer_gone,
            )
            .await;
        match outcome {
            AuthOutcome::Accepted { username, method } => {
                tracing::debug!(client = %client_id, peer = %self.peer, username = ?username, method, "authenticated");
                self.username = username.map(String::into_boxed_str);
            }
            AuthOutcome::BadCredentials => {
                broker.metrics().auth_failed("bad_credentials");
                let user = req.username.as_deref().unwrap_or("");
                let why = format!("client {client_id:?}, username {user:?}: bad username or password");
                return self.refuse(Refusal::BadCredentials, &why);
            }
            AuthOutcome::Gone => {
                tracing::debug!(client = %client_id, peer = %self.peer, "closed before its password was checked");
                self.end = Some(End::PeerClosed);
                return Vec::new();
            }
            AuthOutcome::Busy => {
                let why = format!("client {client_id:?}: too many password checks waiting; try again");
                return self.refuse(Refusal::ServerUnavailable, &why);
            }
            AuthOutcome::NotAuthorized => {
                broker.metrics().auth_failed("not_authorized");
                let why = format!("client {client_id:?}: no credentials, and anonymous access is not allowed here");
                return self.refuse(Refusal::NotAuthorized, &why);
            }
        }
        let will = match req.will.map(|w| self.will_from(w, &client_id)).transpose() {
            Ok(w) => w,
            Err(r) => return self.refuse(r, "will message refused"),
        };
        // A will the ACL would not let the client publish is refused now, when the client can
        // still hear about it, rather than dropped silently when it fires.
        if let Some(w) = &will
            && !auth.will_allowed(self.username.as_deref(), &client_id, &w.msg.topic)
        {
            let why = format!("client {client_id:?}: the ACL denies its will topic {:?}", &*w.msg.topic);
            return self.refuse(Refusal::WillNotAuthorized, &why);
        }
        let identity = Identity::of(self.username.as_deref());
        let own = broker.may_use_session(&client_id, &identity).then_some(client_id.as_str());
        if auth.count_connect(own, self.username.as_deref(), self.peer.ip()).is_err() {
            return self.refuse(Refusal::Flapping, &format!("client {client_id:?}: connects too often (flapping)"));
        }
        self.acl = Some(Box::new(auth.conn_acl(self.username.as_deref(), &client_id)));
        let connected = match self.attach(&client_id, req.clean, req.expiry).await {
            Ok(x) => x,
            Err(BrokerError::NotOwner(owner)) => {
                let why = format!("client {client_id:?}: the session belongs to {owner}, not {identity}");
                return self.refuse(Refusal::SessionOwner, &why);
            }
            Err(e) => {
                tracing::error!(client = %client_id, "cannot open session: {e}");
                return self.refuse(Refusal::ServerUnavailable, "storage failure");
            }
        };
        self.will = will;
        let v5 = self.v5();
        self.restore_inflight(&connected.session, v5);
        let built = if v5 {
            let mut props: Vec<Property> = Vec::new();
            if connected.expiry != req.expiry {
                push_prop(
                    &mut props,
                    SessionExpiryInterval::new(connected.expiry).map(Property::SessionExpiryInterval),
                );
            }
            if let Some(id) = assigned {
                push_prop(&mut props, AssignedClientIdentifier::new(id).map(Property::AssignedClientIdentifier));
            }
            if s.max_keep_alive > 0 && (req.keep_alive == 0 || req.keep_alive > s.max_keep_alive) {
                push_prop(&mut props, ServerKeepAlive::new(s.max_keep_alive).map(Property::ServerKeepAlive));
            }
            if s.topic_alias_maximum > 0 {
                push_prop(&mut props, TopicAliasMaximum::new(s.topic_alias_maximum).map(Property::TopicAliasMaximum));
            }
            if s.max_qos < 2 {
                push_prop(&mut props, MaximumQos::new(s.max_qos).map(Property::MaximumQos));
            }
            if !s.retain_available {
                push_prop(&mut props, RetainAvailable::new(0).map(Property::RetainAvailable));
            }
            let mut b =
                v5_0::Connack::builder().session_present(connected.present).reason_code(ConnectReasonCode::Success);
            if !props.is_empty() {
                b = b.props(props);
            }
            b.build().map(Packet::from)
        } else {
            v3_1_1::Connack::builder()
                // Reserved (0) in MQTT 3.1's CONNACK.
                .session_present(connected.present && !self.mqtt31.is31)
                .return_code(ConnectReturnCode::Accepted)
                .build()
                .map(Packet::from)
        };
        let ev = match built {
            Ok(p) => self.mqtt.send(p),
            Err(e) => {
                tracing::error!("cannot build CONNACK: {e:?}");
                self.end = Some(End::ProtocolError);
                return Vec::new();
            }
        };
        broker.client_connected(&connected.session, self.peer);
        tracing::debug!(client = ?self.client_id, peer = %self.peer, version = ?self.version, "client connected");
        self.session = Some(connected.session);
        ev
    }

    async fn attach(&mut self, client_id: &str, clean: bool, expiry: u32) -> Result<Connected, BrokerError> {
        let id: Arc<str> = client_id.into();
        self.client_id = Some(id.clone());
        let identity = Identity::of(self.username.as_deref());
        let r = self.broker.connect(id, clean, expiry, self.conn_id, &identity).await?;
        self.connect_expiry = r.expiry;
        Ok(r)
    }

    /// Refuse a CONNECT with the CONNACK code of the connection's version, then close.
    /// Counted by reason; logged once per reason and source address per period (the message
    /// holds client-chosen strings: neither a log key nor unbounded in a log line).
    fn refuse(&mut self, r: Refusal, why: &str) -> Vec<Event> {
        let peer = self.peer;
        self.broker.auth().refused(r.label(), &peer.ip().to_string(), || {
            format!("CONNECT from {peer} refused ({r:?}): {}", crate::auth::limits::clip(why))
        });
        self.end = Some(End::Refused);
        let p = if self.v5() {
            v5_0::Connack::builder().session_present(false).reason_code(r.v5()).build().map(Packet::from)
        } else {
            v3_1_1::Connack::builder().session_present(false).return_code(r.v3()).build().map(Packet::from)
        };
        p.map(|p| self.mqtt.send(p)).unwrap_or_default()
    }

    fn will_from(&self, w: WillRequest, client_id: &str) -> Result<Will, Refusal> {
        let s = self.broker.settings();
        if topic::validate_topic_name(&w.topic, s.topic_limits).is_err() {
            return Err(Refusal::TopicNameInvalid);
        }
        if w.qos > s.max_qos {
            return Err(Refusal::QosNotSupported);
        }
        if w.retain && !s.retain_available {
            return Err(Refusal::RetainNotSupported);
        }
        let payload: Arc<[u8]> = Arc::from(w.payload);
        let len = payload.len();
        // The expiry of a will counts from when it is published; approximated from now plus
        // the delay (the will is published after `delay` at the latest).
        let expires_at_ms = w.expiry.map(|e| now_ms() + (u64::from(e) + u64::from(w.delay)) * 1000);
        Ok(Will {
            msg: Arc::new(Message {
                topic: w.topic.into(),
                payload: mqtt_protocol_core::mqtt::ArcPayload::new(payload, 0, len),
                qos: w.qos,
                retain: w.retain,
                props: w.props,
                expires_at_ms,
                origin: client_id.into(),
                wire: Default::default(),
                id: crate::protocol::message::new_message_id(),
            }),
            delay: w.delay,
        })
    }

    /// Give the protocol library the session's unacknowledged messages, to be resent with DUP
    /// (PUBLISH) or as PUBREL right after CONNACK (MQTT-4.4.0-1), plus the incoming QoS 2 ids.
    fn restore_inflight(&mut self, session: &Session, v5: bool) {
        type Restored = (Vec<GenericStorePacket<u16>>, mqtt_protocol_core::mqtt::common::HashSet<u16>);
        let (packets, qos2): Restored = session.with_inflight(|inflight, incoming_qos2| {
            let mut packets = Vec::new();
            for (pid, i) in inflight {
                let p = match i.phase {
                    Phase::Published if v5 => build_v5(&i.delivery, Some(*pid), true).and_then(|p| p.try_into().ok()),
                    Phase::Published => build_v3(&i.delivery, Some(*pid), true).and_then(|p| p.try_into().ok()),
                    Phase::Released => {
                        if v5 {
                            v5_0::Pubrel::builder().packet_id(*pid).build().ok().and_then(|p| p.try_into().ok())
                        } else {
                            v3_1_1::Pubrel::builder().packet_id(*pid).build().ok().and_then(|p| p.try_into().ok())
                        }
                    }
                };
                if let Some(p) = p {
                    packets.push(p);
                }
            }
            (packets, incoming_qos2.iter().copied().collect())
        });
        if !packets.is_empty() {
            self.mqtt.restore_packets(packets);
        }
        if !qos2.is_empty() {
            self.mqtt.restore_qos2_publish_handled(qos2);
        }
    }
}

/// What a CONNECT of either protocol version asks for.
struct ConnectRequest {
    client_id: String,
    clean: bool,
    keep_alive: u16,
    username: Option<String>,
    password: Option<Vec<u8>>,
    expiry: u32,
    /// 5.0 Authentication Method present (enhanced authentication, not supported yet).
    enhanced_auth: bool,
    will: Option<WillRequest>,
}

struct WillRequest {
    topic: String,
    payload: Vec<u8>,
    qos: u8,
    retain: bool,
    delay: u32,
    expiry: Option<u32>,
    props: PublishProps,
}

impl WillRequest {
    fn new(topic: &str, payload: &[u8], qos: u8, retain: bool, props: &[Property]) -> WillRequest {
        let mut w = WillRequest {
            topic: topic.into(),
            payload: payload.to_vec(),
            qos,
            retain,
            delay: 0,
            expiry: None,
            props: publish_props_in(props),
        };
        for p in props {
            match p {
                Property::WillDelayInterval(v) => w.delay = v.val(),
                Property::MessageExpiryInterval(v) => w.expiry = Some(v.val()),
                _ => {}
            }
        }
        w
    }
}

/// Why a CONNECT is refused, mapped to each version's code.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    ClientIdNotValid,
    NotAuthorized,
    BadCredentials,
    BannedClientId,
    BannedUsername,
    Flapping,
    WillNotAuthorized,
    BadAuthenticationMethod,
    ServerUnavailable,
    TopicNameInvalid,
    QosNotSupported,
    RetainNotSupported,
    /// The client id's session belongs to another identity.
    SessionOwner,
}

impl Refusal {
    fn v5(self) -> ConnectReasonCode {
        match self {
            Refusal::ClientIdNotValid | Refusal::SessionOwner => ConnectReasonCode::ClientIdentifierNotValid,
            Refusal::NotAuthorized | Refusal::WillNotAuthorized => ConnectReasonCode::NotAuthorized,
            Refusal::BadCredentials => ConnectReasonCode::BadUserNameOrPassword,
            Refusal::BannedClientId | Refusal::BannedUsername | Refusal::Flapping => ConnectReasonCode::Banned,
            Refusal::BadAuthenticationMethod => ConnectReasonCode::BadAuthenticationMethod,
            Refusal::ServerUnavailable => ConnectReasonCode::ServerUnavailable,
            Refusal::TopicNameInvalid => ConnectReasonCode::TopicNameInvalid,
            Refusal::QosNotSupported => ConnectReasonCode::QosNotSupported,
            Refusal::RetainNotSupported => ConnectReasonCode::RetainNotSupported,
        }
    }

    /// 3.1.1 has only a handful of return codes; will problems are "not authorized".
    fn v3(self) -> ConnectReturnCode {
        match self {
            Refusal::ClientIdNotValid | Refusal::SessionOwner => ConnectReturnCode::IdentifierRejected,
            Refusal::ServerUnavailable => ConnectReturnCode::ServerUnavailable,
            Refusal::BadCredentials => ConnectReturnCode::BadUserNameOrPassword,
            _ => ConnectReturnCode::NotAuthorized,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Refusal::ClientIdNotValid => "connect_client_id",
            Refusal::NotAuthorized => "connect_not_authorized",
            Refusal::BadCredentials => "connect_bad_credentials",
            Refusal::BannedClientId => "connect_banned_client_id",
            Refusal::BannedUsername => "connect_banned_username",
            Refusal::Flapping => "connect_flapping",
            Refusal::WillNotAuthorized => "connect_will_not_authorized",
            Refusal::BadAuthenticationMethod => "connect_auth_method",
            Refusal::ServerUnavailable => "connect_server_unavailable",
            Refusal::TopicNameInvalid => "connect_will_topic",
            Refusal::QosNotSupported => "connect_will_qos",
            Refusal::RetainNotSupported => "connect_will_retain",
            Refusal::SessionOwner => "connect_session_owner",
        }
    }
}

fn generate_client_id() -> String {
    format!("starling-{:016x}", rand::random::<u64>())
}

//! The link handshake (see the parent module for the exchange): both halves, the HMAC proofs
//! and the JSON bodies of its frames.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::net::TcpStream;

use super::wire::{read_frame, write_frame};
use super::*;
use crate::cluster::link_tls::server_name;

#[derive(Serialize, Deserialize)]
struct Hello {
    version: u16,
    min_version: u16,
    cluster: String,
    who: Identity,
    nonce: String,
}

#[derive(Serialize, Deserialize)]
struct Challenge {
    version: u16,
    who: Identity,
    nonce: String,
}

#[derive(Serialize, Deserialize)]
struct Proof {
    proof: String,
}

impl Link {
    /// Connect to `addr` and run the dialer's half of the handshake: the stream, the peer and
    /// the link version the pair speaks.
    pub(super) async fn dial(&self, addr: &str) -> Result<(Stream, Identity, u16), LinkError> {
        let fut = async {
            let tcp =
                TcpStream::connect(addr).await.map_err(|source| LinkError::Connect { addr: addr.into(), source })?;
            let _ = tcp.set_nodelay(true);
            let mut s: Stream = match &self.inner.tls {
                None => Box::new(tcp),
                Some(t) => {
                    let name = server_name(addr)?;
                    match t.connector().connect(name, tcp).await {
                        Ok(s) => Box::new(s),
                        Err(e) => {
                            self.inner.stats.refused_peers.fetch_add(1, Ordering::Relaxed);
                            tracing::error!(peer = %addr, "cluster peer refused: TLS handshake failed: {e}");
                            return Err(LinkError::BadPeer { addr: addr.into() });
                        }
                    }
                }
            };
            let nonce = random_nonce();
            let hello = Hello {
                version: VERSION,
                min_version: MIN_VERSION,
                cluster: self.inner.cluster.clone(),
                who: self.inner.me.clone(),
                nonce: hex(&nonce),
            };
            write_frame(&mut s, HELLO, &[&json(&hello)]).await?;
            let (kind, body) = read_frame(&mut s, HANDSHAKE_MAX_FRAME).await?;
            if kind == REFUSED {
                return Err(LinkError::Refused { addr: addr.into(), reason: String::from_utf8_lossy(&body).into() });
            }
            let ch: Challenge = parse(kind, CHALLENGE, &body)?;
            let their = unhex(&ch.nonce)?;
            let proof = Proof { proof: self.prove(b"client", &their, &nonce) };
            write_frame(&mut s, PROOF, &[&json(&proof)]).await?;
            let (kind, body) = read_frame(&mut s, HANDSHAKE_MAX_FRAME).await?;
            if kind == REFUSED {
                return Err(LinkError::Refused { addr: addr.into(), reason: String::from_utf8_lossy(&body).into() });
            }
            let welcome: Proof = parse(kind, WELCOME, &body)?;
            if !self.check(b"server", &nonce, &their, &welcome.proof) {
                self.inner.stats.refused_peers.fetch_add(1, Ordering::Relaxed);
                tracing::error!(peer = %addr, name = %ch.who.name, "cluster peer failed authentication: its proof does not match our cluster secret");
                return Err(LinkError::BadPeer { addr: addr.into() });
            }
            // The listener picks the lower of the two versions; anything else is not ours to speak.
            if !(MIN_VERSION..=VERSION).contains(&ch.version) {
                return Err(LinkError::Protocol(format!("peer chose link version {}", ch.version)));
            }
            Ok((s, ch.who, ch.version))
        };
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, fut).await {
            Ok(r) => r,
            Err(_) => Err(LinkError::Timeout { addr: addr.into(), timeout: HANDSHAKE_TIMEOUT }),
        }
    }

    pub(super) async fn accept_handshake(&self, s: &mut Stream, addr: SocketAddr) -> Result<Identity, LinkError> {
        let (kind, body) = read_frame(s, HANDSHAKE_MAX_FRAME).await?;
        let hello: Hello = parse(kind, HELLO, &body)?;
        if hello.cluster != self.inner.cluster {
            let why = format!(
                "node {} belongs to cluster {:?}, this is cluster {:?}",
                hello.who.name, hello.cluster, self.inner.cluster
            );
            return self.refuse(s, addr, why).await;
        }
        let version = VERSION.min(hello.version);
        if version < MIN_VERSION || version < hello.min_version {
            let why = format!(
                "node {} speaks link versions {}..={}, this node {}..={}",
                hello.who.name, hello.min_version, hello.version, MIN_VERSION, VERSION
            );
            return self.refuse(s, addr, why).await;
        }
        let theirs = unhex(&hello.nonce)?;
        let nonce = random_nonce();
        let ch = Challenge { version, who: self.inner.me.clone(), nonce: hex(&nonce) };
        write_frame(s, CHALLENGE, &[&json(&ch)]).await?;
        let (kind, body) = read_frame(s, HANDSHAKE_MAX_FRAME).await?;
        let proof: Proof = parse(kind, PROOF, &body)?;
        if !self.check(b"client", &nonce, &theirs, &proof.proof) {
            let why = format!("node {} failed authentication: wrong cluster secret", hello.who.name);
            return self.refuse(s, addr, why).await;
        }
        let welcome = Proof { proof: self.prove(b"server", &theirs, &nonce) };
        write_frame(s, WELCOME, &[&json(&welcome)]).await?;
        Ok(hello.who)
    }

    /// Our HMAC proof, or nothing when mutual TLS alone authenticates.
    fn prove(&self, label: &[u8], a: &[u8], b: &[u8]) -> String {
        self.inner.secret.as_ref().map(|k| hex(&mac(k, label, a, b))).unwrap_or_default()
    }

    /// Check a peer's proof (always true without a secret: TLS verified the peer).
    fn check(&self, label: &[u8], a: &[u8], b: &[u8], proof: &str) -> bool {
        self.inner.secret.as_ref().is_none_or(|k| verify(k, label, a, b, proof))
    }

    /// Tell a peer why it is refused, log it once, and end the handshake.
    async fn refuse(&self, s: &mut Stream, addr: SocketAddr, reason: String) -> Result<Identity, LinkError> {
        self.inner.stats.refused_peers.fetch_add(1, Ordering::Relaxed);
        tracing::error!(%addr, "refused cluster peer: {reason}");
        let _ = write_frame(s, REFUSED, &[reason.as_bytes()]).await;
        Err(LinkError::Refused { addr: addr.to_string(), reason })
    }
}

pub(super) fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

pub(super) fn parse<T: for<'de> Deserialize<'de>>(kind: u8, want: u8, body: &[u8]) -> Result<T, LinkError> {
    if kind == REFUSED {
        return Err(LinkError::Protocol(format!("refused: {}", String::from_utf8_lossy(body))));
    }
    if kind != want {
        return Err(LinkError::Protocol(format!("expected frame {want}, got {kind}")));
    }
    serde_json::from_slice(body).map_err(|e| LinkError::Protocol(format!("bad handshake frame: {e}")))
}

pub(super) fn random_nonce() -> [u8; 32] {
    rand::random()
}

pub(super) fn mac(secret: &[u8], label: &[u8], a: &[u8], b: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; this cannot fail.
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret) else { return Vec::new() };
    m.update(b"starling-link ");
    m.update(label);
    m.update(a);
    m.update(b);
    m.finalize().into_bytes().to_vec()
}

/// Constant-time check of a peer's proof.
pub(super) fn verify(secret: &[u8], label: &[u8], a: &[u8], b: &[u8], proof_hex: &str) -> bool {
    let Ok(proof) = unhex(proof_hex) else { return false };
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret) else { return false };
    m.update(b"starling-link ");
    m.update(label);
    m.update(a);
    m.update(b);
    m.verify_slice(&proof).is_ok()
}

pub(super) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(super) fn unhex(s: &str) -> Result<Vec<u8>, LinkError> {
    if !s.len().is_multiple_of(2) || s.len() > 256 {
        return Err(LinkError::Protocol("bad hex".into()));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| LinkError::Protocol("bad hex".into()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_proofs() {
        let n = random_nonce();
        assert_eq!(unhex(&hex(&n)).expect("hex"), n.to_vec());
        assert!(unhex("zz").is_err());
        let p = hex(&mac(b"s", b"client", b"a", b"b"));
        assert!(verify(b"s", b"client", b"a", b"b", &p));
        assert!(!verify(b"s", b"server", b"a", b"b", &p));
        assert!(!verify(b"t", b"client", b"a", b"b", &p));
    }
}

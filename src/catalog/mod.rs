//! The catalog state machine: [`Catalog::apply`] is the one function that changes it, called
//! directly by the standalone cluster and after commit by the Raft state machine, so single-node
//! tests exercise the replicated logic too.
//!
//! Persisted in the `catalog` keyspace under one-byte table prefixes (`r` routes, `c` clients,
//! `t` retained, `s` durable subscriptions, `u` API users, `b` bans, `l` bridge leases, `m`
//! metadata of whoever drives the catalog — the Raft state machine keeps its applied log id and
//! membership there, written in the same atomic batch as the commands, so a crash can never
//! apply an entry twice);
//! read-mostly in-memory indexes mirror it. A snapshot is simply every key of the keyspace
//! ([`Catalog::export`]).

pub mod cmd;
pub mod lease;
pub mod routes;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::catalog::cmd::Identity;
use crate::catalog::cmd::{BanKind, BanRecord};
use crate::catalog::cmd::{CatalogCmd, CatalogResp, NodeId, SubOptionsWire};
use crate::catalog::lease::LeaseRow;
use crate::catalog::routes::RemoteRoutes;
use crate::catalog::routes::{Refs, RouteTable};
use crate::protocol::message::now_ms;
use crate::protocol::{Message, topic};
use crate::storage::{StorageError, Store};

const ROUTES: u8 = b'r';
const CLIENTS: u8 = b'c';
const RETAINED: u8 = b't';
const SUBS: u8 = b's';
const META: u8 = b'm';
const USERS: u8 = b'u';
const BANS: u8 = b'b';
const LEASES: u8 = b'l';

/// Ban keys: the kind as one character, then the value.
fn ban_name(kind: BanKind, value: &str) -> String {
    let k = match kind {
        BanKind::ClientId => 'c',
        BanKind::Username => 'u',
        BanKind::Network => 'n',
    };
    format!("{k}{value}")
}

fn parse_ban_name(name: &str) -> Option<(BanKind, String)> {
    let mut chars = name.chars();
    let kind = match chars.next()? {
        'c' => BanKind::ClientId,
        'u' => BanKind::Username,
        'n' => BanKind::Network,
        _ => return None,
    };
    Some((kind, chars.as_str().to_string()))
}

fn key(table: u8, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + name.len());
    k.push(table);
    k.extend_from_slice(name.as_bytes());
    k
}

#[derive(Default)]
struct Mem {
    /// filter → node → refcount, indexed for matching.
    routes: RouteTable,
    /// client → (node, generation, identity the session belongs to)
    clients: HashMap<String, (NodeId, u64, Option<Identity>)>,
    retained: BTreeMap<String, Arc<Message>>,
    subs: HashMap<String, Vec<(String, SubOptionsWire)>>,
    /// API users: username → PHC hash.
    users: BTreeMap<String, String>,
    bans: BTreeMap<(BanKind, String), BanRecord>,
    /// bridge name → its lease.
    leases: BTreeMap<String, LeaseRow>,
}

/// A snapshot and the metadata values found in it.
pub type Export = (Vec<u8>, Vec<Option<Vec<u8>>>);

/// The replicated catalog on this node.
pub struct Catalog {
    store: Store,
    mem: RwLock<Mem>,
    bans_version: AtomicU64,
}

fn corrupt(reason: impl ToString) -> StorageError {
    StorageError::Corrupt { table: "catalog", reason: reason.to_string() }
}

impl Catalog {
    /// Load the catalog from the store.
    pub fn open(store: Store) -> Result<Catalog, StorageError> {
        let mem = load(&store)?;
        Ok(Catalog { store, mem: RwLock::new(mem), bans_version: AtomicU64::new(0) })
    }

    /// Apply one committed command. Deterministic: the same sequence of commands yields the same
    /// catalog on every node.
    pub fn apply(&self, cmd: &CatalogCmd) -> Result<CatalogResp, StorageError> {
        let mut r = self.apply_batch(std::slice::from_ref(cmd), &[])?;
        Ok(r.pop().unwrap_or(CatalogResp::Ok))
    }

    /// Apply commands in order and write `meta` entries, all in one atomic batch.
    pub fn apply_batch(&self, cmds: &[CatalogCmd], meta: &[(&str, Vec<u8>)]) -> Result<Vec<CatalogResp>, StorageError> {
        let mut mem = self.mem.write();
        let mut batch = self.store.batch();
        let mut out = Vec::with_capacity(cmds.len());
        for cmd in cmds {
            out.push(apply_one(&mut mem, &mut batch, &self.store, &self.bans_version, cmd)?);
        }
        for (name, value) in meta {
            batch.insert(&self.store.catalog, key(META, name), value.clone());
        }
        self.store.commit(batch)?;
        Ok(out)
    }

    /// A metadata value written by [`Catalog::apply_batch`].
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.store.catalog.get(key(META, name)).map_err(StorageError::Read)?.map(|v| v.to_vec()))
    }

    /// Every key and value of the catalog (metadata included): a snapshot, plus the values of
    /// the `meta` names as they are in it.
    pub fn export(&self, meta: &[&str]) -> Result<Export, StorageError> {
        // Hold the read lock so no apply interleaves with the scan.
        let _mem = self.mem.read();
        let mut out = Vec::new();
        let keys: Vec<Vec<u8>> = meta.iter().map(|m| key(META, m)).collect();
        let mut found = vec![None; meta.len()];
        for item in self.store.catalog.iter() {
            let (k, v) = item.into_inner().map_err(StorageError::Read)?;
            if let Some(i) = keys.iter().position(|mk| mk.as_slice() == &*k)
                && let Some(slot) = found.get_mut(i)
            {
                *slot = Some(v.to_vec());
            }
            put_bytes(&mut out, &k);
            put_bytes(&mut out, &v);
        }
        Ok((out, found))
    }

    /// Replace the whole catalog with a snapshot made by [`Catalog::export`].
    pub fn import(&self, snapshot: &[u8]) -> Result<(), StorageError> {
        let mut pairs = Vec::new();
        let mut rest = snapshot;
        while !rest.is_empty() {
            let (k, r) = take_bytes(rest).ok_or_else(|| corrupt("truncated snapshot"))?;
            let (v, r) = take_bytes(r).ok_or_else(|| corrupt("truncated snapshot"))?;
            pairs.push((k, v));
            rest = r;
        }
        let mut mem = self.mem.write();
        let mut batch = self.store.batch();
        for item in self.store.catalog.iter() {
            let k = item.key().map_err(StorageError::Read)?;
            batch.remove(&self.store.catalog, k.to_vec());
        }
        for (k, v) in pairs {
            batch.insert(&self.store.catalog, k.to_vec(), v.to_vec());
        }
        self.store.commit(batch)?;
        *mem = load(&self.store)?;
        self.bans_version.fetch_add(1, Ordering::Release);
        Ok(())
    }
}

fn apply_one(
    mem: &mut Mem,
    batch: &mut crate::storage::Batch,
    store: &Store,
    bans_version: &AtomicU64,
    cmd: &CatalogCmd,
) -> Result<CatalogResp, StorageError> {
    let cat = &store.catalog;
    let json = |v: &dyn erased::Ser| v.to_json();
    let resp = match cmd {
        CatalogCmd::AddRoute { filter, node } => {
            let m = mem.routes.add(filter, *node);
            batch.insert(cat, key(ROUTES, filter), json(m));
            CatalogResp::Ok
        }
        CatalogCmd::RemoveRoute { filter, node } => {
            if mem.routes.get(filter).is_some() {
                match mem.routes.remove(filter, *node) {
                    Some(m) => batch.insert(cat, key(ROUTES, filter), json(m)),
                    None => batch.remove(cat, key(ROUTES, filter)),
                }
            }
            CatalogResp::Ok
        }
        CatalogCmd::ClearNodeRoutes { node } => {
            for (f, after) in mem.routes.clear_node(*node) {
                match after {
                    Some(m) => batch.insert(cat, key(ROUTES, &f), json(&m)),
                    None => batch.remove(cat, key(ROUTES, &f)),
                }
            }
            CatalogResp::Ok
        }
        CatalogCmd::RegisterClient { client, node, owner } => {
            let prev = mem.clients.get(client);
            let generation = prev.map_or(1, |(_, g, _)| g + 1);
            // A takeover by the same identity registers without one: the session keeps its owner.
            let owner = owner.clone().or_else(|| prev.and_then(|(_, _, o)| o.clone()));
            let row = (*node, generation, owner);
            batch.insert(cat, key(CLIENTS, client), json(&row));
            mem.clients.insert(client.clone(), row);
            CatalogResp::Generation(generation)
        }
        CatalogCmd::UnregisterClient { client, node } => {
            if mem.clients.get(client).is_some_and(|(n, _, _)| n == node) {
                mem.clients.remove(client);
                batch.remove(cat, key(CLIENTS, client));
            }
            CatalogResp::Ok
        }
        CatalogCmd::SetRetained { topic, message } => {
            match message {
                Some(enc) => match Message::decode(enc) {
                    Ok(m) => {
                        mem.retained.insert(topic.clone(), Arc::new(m));
                        batch.insert(cat, key(RETAINED, topic), enc.clone());
                    }
                    // A committed command must never stop the state machine: skip it.
                    Err(e) => tracing::warn!(topic, "retained message not applied, undecodable: {e}"),
                },
                None => {
                    mem.retained.remove(topic);
                    batch.remove(cat, key(RETAINED, topic));
                }
            }
            CatalogResp::Ok
        }
        CatalogCmd::SetDurableSubs { client, subs } => {
            if subs.is_empty() {
                mem.subs.remove(client);
                batch.remove(cat, key(SUBS, client));
            } else {
                mem.subs.insert(client.clone(), subs.clone());
                batch.insert(cat, key(SUBS, client), json(subs));
            }
            CatalogResp::Ok
        }
        CatalogCmd::SetUser { username, hash } => {
            match hash {
                Some(h) => {
                    mem.users.insert(username.clone(), h.clone());
                    batch.insert(cat, key(USERS, username), json(h));
                }
                None => {
                    mem.users.remove(username);
                    batch.remove(cat, key(USERS, username));
                }
            }
            CatalogResp::Ok
        }
        CatalogCmd::SetBan { kind, value, ban } => {
            let k = key(BANS, &ban_name(*kind, value));
            match ban {
                Some(r) => {
                    mem.bans.insert((*kind, value.clone()), r.clone());
                    batch.insert(cat, k, json(r));
                }
                None => {
                    mem.bans.remove(&(*kind, value.clone()));
                    batch.remove(cat, k);
                }
            }
            bans_version.fetch_add(1, Ordering::Release);
            CatalogResp::Ok
        }
        CatalogCmd::BridgeLease { bridge, node, action } => {
            let row = lease::apply(mem.leases.get(bridge).copied(), *node, *action);
            batch.insert(cat, key(LEASES, bridge), json(&row));
            mem.leases.insert(bridge.clone(), row);
            CatalogResp::Lease(row)
        }
    };
    Ok(resp)
}

impl Catalog {
    /// The other nodes' plain routes and the shared groups (with the nodes that have members,
    /// this one included) matching `topic_name`: what a publish asks.
    pub fn routes_for(&self, topic_name: &str, except: NodeId) -> RemoteRoutes {
        self.mem.read().routes.matching(topic_name, except)
    }

    pub fn owner_of(&self, client: &str) -> Option<NodeId> {
        self.mem.read().clients.get(client).map(|(n, _, _)| *n)
    }

    /// The identity the client's registered session belongs to, if recorded.
    pub fn client_identity(&self, client: &str) -> Option<Identity> {
        self.mem.read().clients.get(client).and_then(|(_, _, o)| o.clone())
    }

    pub fn retained_matching(&self, filter: &str) -> Vec<Arc<Message>> {
        let now = now_ms();
        let mem = self.mem.read();
        if !topic::has_wildcards(filter) {
            return mem.retained.get(filter).filter(|m| !m.expired(now)).cloned().into_iter().collect();
        }
        mem.retained
            .iter()
            .filter(|(t, m)| topic::matches(filter, t) && !m.expired(now))
            .map(|(_, m)| m.clone())
            .collect()
    }

    pub fn retained_count(&self) -> usize {
        self.mem.read().retained.len()
    }

    pub fn durable_subscriptions(&self, client: &str) -> Vec<(String, SubOptionsWire)> {
        self.mem.read().subs.get(client).cloned().unwrap_or_default()
    }

    pub fn durable_clients(&self) -> Vec<String> {
        self.mem.read().subs.keys().cloned().collect()
    }

    pub fn route_count(&self) -> usize {
        self.mem.read().routes.len()
    }

    pub fn user_hash(&self, username: &str) -> Option<String> {
        self.mem.read().users.get(username).cloned()
    }

    pub fn usernames(&self) -> Vec<String> {
        self.mem.read().users.keys().cloned().collect()
    }

    pub fn user_count(&self) -> usize {
        self.mem.read().users.len()
    }

    pub fn ban(&self, kind: BanKind, value: &str) -> Option<BanRecord> {
        let mem = self.mem.read();
        if mem.bans.is_empty() {
            return None;
        }
        mem.bans.get(&(kind, value.to_string())).cloned()
    }

    pub fn bans(&self) -> Vec<(BanKind, String, BanRecord)> {
        self.mem.read().bans.iter().map(|((k, v), r)| (*k, v.clone(), r.clone())).collect()
    }

    /// The lease of bridge `name` (`None`: never held).
    pub fn bridge_lease(&self, name: &str) -> Option<LeaseRow> {
        self.mem.read().leases.get(name).copied()
    }

    pub fn bans_version(&self) -> u64 {
        self.bans_version.load(Ordering::Acquire)
    }
}

/// Read every table of the catalog keyspace into memory.
fn load(store: &Store) -> Result<Mem, StorageError> {
    let mut mem = Mem::default();
    for item in store.catalog.iter() {
        let (k, v) = item.into_inner().map_err(StorageError::Read)?;
        let Some((&table, name)) = k.split_first() else {
            continue;
        };
        let name = String::from_utf8(name.to_vec()).map_err(corrupt)?;
        match table {
            ROUTES => {
                let m: Refs = serde_json::from_slice(&v).map_err(corrupt)?;
                mem.routes.insert(name, m);
            }
            CLIENTS => {
                let c = match serde_json::from_slice(&v).map_err(corrupt)? {
                    ClientRow::Owned(n, g, o) => (n, g, o),
                    // Written before sessions recorded their identity.
                    ClientRow::Unowned(n, g) => (n, g, None),
                };
                mem.clients.insert(name, c);
            }
            RETAINED => {
                let m = Message::decode(&v).map_err(corrupt)?;
                mem.retained.insert(name, Arc::new(m));
            }
            SUBS => {
                let s: Vec<(String, SubOptionsWire)> = serde_json::from_slice(&v).map_err(corrupt)?;
                mem.subs.insert(name, s);
            }
            USERS => {
                let h: String = serde_json::from_slice(&v).map_err(corrupt)?;
                mem.users.insert(name, h);
            }
            BANS => {
                let r: BanRecord = serde_json::from_slice(&v).map_err(corrupt)?;
                let key = parse_ban_name(&name).ok_or_else(|| corrupt(format!("bad ban key {name:?}")))?;
                mem.bans.insert(key, r);
            }
            LEASES => {
                let r: LeaseRow = serde_json::from_slice(&v).map_err(corrupt)?;
                mem.leases.insert(name, r);
            }
            META => {}
            _ => return Err(corrupt(format!("unknown table byte {table}"))),
        }
    }
    Ok(mem)
}

/// A client registry row as stored, this version's or an older one.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum ClientRow {
    Owned(NodeId, u64, Option<Identity>),
    Unowned(NodeId, u64),
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn take_bytes(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let rest = b.get(4..)?;
    Some((rest.get(..len)?, rest.get(len..)?))
}

/// A tiny indirection so `apply` can serialize several value types with one closure.
mod erased {
    pub trait Ser {
        fn to_json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize + ?Sized> Ser for T {
        fn to_json(&self) -> Vec<u8> {
            // Serializing plain maps/tuples/vecs of numbers and strings cannot fail.
            serde_json::to_vec(self).unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StorageConfig;
    use mqtt_protocol_core::mqtt::ArcPayload;

    fn msg(topic: &str) -> Message {
        let p: Arc<[u8]> = Arc::from(&b"v"[..]);
        Message {
            topic: topic.into(),
            payload: ArcPayload::new(p, 0, 1),
            qos: 0,
            retain: true,
            props: Default::default(),
            expires_at_ms: None,
            origin: "c".into(),
            wire: Default::default(),
            id: 0,
        }
    }

    #[test]
    fn apply_and_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), &StorageConfig::default()).expect("open");
        let cat = Catalog::open(store.clone()).expect("catalog");
        let add = CatalogCmd::AddRoute { filter: "a/+".into(), node: 2 };
        cat.apply(&add).expect("apply");
        cat.apply(&add).expect("apply");
        cat.apply(&CatalogCmd::AddRoute { filter: "a/+".into(), node: 1 }).expect("apply");
        assert_eq!(cat.routes_for("a/b", 1).nodes, vec![2]);
        cat.apply(&CatalogCmd::RemoveRoute { filter: "a/+".into(), node: 2 }).expect("apply");
        assert_eq!(cat.routes_for("a/b", 1).nodes, vec![2], "refcount 2 → 1 keeps the route");
        cat.apply(&CatalogCmd::RemoveRoute { filter: "a/+".into(), node: 2 }).expect("apply");
        assert!(cat.routes_for("a/b", 1).nodes.is_empty());

        assert_eq!(
            cat.apply(&CatalogCmd::RegisterClient { client: "c".into(), node: 1, owner: None }).expect("apply"),
            CatalogResp::Generation(1)
        );
        assert_eq!(
            cat.apply(&CatalogCmd::RegisterClient { client: "c".into(), node: 2, owner: None }).expect("apply"),
            CatalogResp::Generation(2)
        );
        cat.apply(&CatalogCmd::SetRetained { topic: "x/y".into(), message: Some(msg("x/y").encode()) }).expect("apply");
        cat.apply(&CatalogCmd::SetRetained { topic: "x/z".into(), message: Some(msg("x/z").encode()) }).expect("apply");
        cat.apply(&CatalogCmd::SetRetained { topic: "x/z".into(), message: None }).expect("apply");
        let subs = vec![(
            "a/#".to_string(),
            SubOptionsWire { qos: 1, no_local: false, retain_as_published: false, retain_handling: 0, sub_id: None },
        )];
        cat.apply(&CatalogCmd::SetDurableSubs { client: "c".into(), subs }).expect("apply");
        cat.apply(&CatalogCmd::SetUser { username: "u1".into(), hash: Some("$h1".into()) }).expect("apply");
        cat.apply(&CatalogCmd::SetUser { username: "u2".into(), hash: Some("$h2".into()) }).expect("apply");
        cat.apply(&CatalogCmd::SetUser { username: "u2".into(), hash: None }).expect("apply");
        let rec = BanRecord { reason: Some("r".into()), created_ms: 5, until_ms: Some(9) };
        let v0 = cat.bans_version();
        let ban = CatalogCmd::SetBan { kind: BanKind::Network, value: "10.0.0.0/8".into(), ban: Some(rec.clone()) };
        cat.apply(&ban).expect("apply");
        cat.apply(&CatalogCmd::SetBan { kind: BanKind::ClientId, value: "x".into(), ban: Some(rec.clone()) })
            .expect("apply");
        cat.apply(&CatalogCmd::SetBan { kind: BanKind::ClientId, value: "x".into(), ban: None }).expect("apply");
        assert_ne!(cat.bans_version(), v0, "ban changes are visible to caches");
        let acquire = |node| CatalogCmd::BridgeLease {
            bridge: "cloud".into(),
            node,
            action: lease::LeaseAction::Acquire { seen: 0 },
        };
        let won = LeaseRow { holder: Some(3), epoch: 1, version: 1 };
        assert_eq!(cat.apply(&acquire(3)).expect("apply"), CatalogResp::Lease(won));
        assert_eq!(cat.apply(&acquire(4)).expect("apply"), CatalogResp::Lease(won), "held: refused");
        drop(cat);

        let cat = Catalog::open(store).expect("reload");
        assert_eq!(cat.owner_of("c"), Some(2));
        assert_eq!(cat.retained_matching("x/+").len(), 1);
        assert_eq!(cat.retained_matching("x/y").len(), 1);
        assert_eq!(cat.retained_count(), 1);
        assert_eq!(cat.durable_subscriptions("c")[0].1.qos, 1);
        assert_eq!(cat.durable_clients(), vec!["c".to_string()]);
        assert_eq!(cat.usernames(), vec!["u1".to_string()]);
        assert_eq!(cat.user_hash("u1").as_deref(), Some("$h1"));
        assert_eq!(cat.bans(), vec![(BanKind::Network, "10.0.0.0/8".to_string(), rec)]);
        assert!(cat.ban(BanKind::ClientId, "x").is_none());
        assert_eq!(cat.bridge_lease("cloud"), Some(LeaseRow { holder: Some(3), epoch: 1, version: 1 }));
        assert_eq!(cat.bridge_lease("other"), None);
    }
}

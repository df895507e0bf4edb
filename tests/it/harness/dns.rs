//! A real DNS server (hickory-server) for discovery tests, serving one zone from memory on a
//! loopback port; records can be added while nodes are already looking them up, as Kubernetes
//! adds a pod's records only once it is scheduled.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hickory_server::ServerFuture;
use hickory_server::authority::{Catalog, ZoneType};
use hickory_server::proto::rr::rdata::{A, AAAA, SOA, SRV};
use hickory_server::proto::rr::{Name, RData, Record};
use hickory_server::store::in_memory::InMemoryAuthority;

pub struct TestDns {
    pub addr: SocketAddr,
    authority: Arc<InMemoryAuthority>,
    serial: AtomicU32,
    _server: tokio::task::JoinHandle<()>,
}

impl TestDns {
    /// Serve `origin` (e.g. `mqtt.svc.cluster.local.`) on 127.0.0.1, UDP and TCP, same port.
    pub async fn start(origin: &str) -> TestDns {
        let origin = Name::from_str(origin).expect("origin");
        let mut auth = InMemoryAuthority::empty(origin.clone(), ZoneType::Primary, false);
        let soa =
            SOA::new(Name::from_str("ns.").expect("name"), Name::from_str("admin.").expect("name"), 1, 60, 60, 60, 1);
        auth.upsert_mut(Record::from_rdata(origin.clone(), 1, RData::SOA(soa)), 1);
        let authority = Arc::new(auth);
        let mut catalog = Catalog::new();
        catalog.upsert(origin.into(), Box::new(authority.clone()));
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("udp");
        let addr = udp.local_addr().expect("addr");
        let tcp = tokio::net::TcpListener::bind(addr).await.expect("tcp on the same port");
        let mut server = ServerFuture::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5));
        let task = tokio::spawn(async move {
            let _ = server.block_until_done().await;
        });
        TestDns { addr, authority, serial: AtomicU32::new(2), _server: task }
    }

    fn next_serial(&self) -> u32 {
        self.serial.fetch_add(1, Ordering::Relaxed)
    }

    /// An SRV record `name` → `target:port` (TTL 1 s, as the resolver must not cache long).
    pub async fn add_srv(&self, name: &str, port: u16, target: &str) {
        let srv = SRV::new(0, 10, port, Name::from_str(target).expect("target"));
        let r = Record::from_rdata(Name::from_str(name).expect("name"), 1, RData::SRV(srv));
        self.authority.upsert(r, self.next_serial()).await;
    }

    /// An A or AAAA record.
    pub async fn add_addr(&self, name: &str, ip: IpAddr) {
        let rdata = match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        let r = Record::from_rdata(Name::from_str(name).expect("name"), 1, rdata);
        self.authority.upsert(r, self.next_serial()).await;
    }
}

//! Every ```toml example in docs/transport.md is a working configuration: loaded as the binary
//! loads a file, then started (certificate paths pointed at generated files, binds at free
//! loopback ports), with every listener bound as the kind it declares.

use std::time::Duration;

use starling::config::{Config, Overrides};
use starling::node::Node;

use crate::tls_util::{Ca, write};

fn toml_blocks(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in md.lines() {
        match (&mut cur, line.trim_end()) {
            (None, "```toml") => cur = Some(String::new()),
            (Some(_), "```") => out.extend(cur.take()),
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

#[tokio::test]
async fn transport_docs_examples_start_a_broker() {
    let md = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/transport.md")).expect("docs");
    let blocks = toml_blocks(&md);
    assert!(blocks.len() >= 4, "expected the examples in docs/transport.md, found {}", blocks.len());

    let pki = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("Docs server CA");
    let (cert, key) = ca.server("localhost");
    for (name, content) in [("server.pem", &cert), ("tls.crt", &cert), ("server.key", &key), ("tls.key", &key)] {
        write(pki.path(), name, content);
    }
    let clients = Ca::new("Docs clients CA");
    write(pki.path(), "clients-ca.pem", &clients.pem());
    write(pki.path(), "clients.crl.pem", &clients.crl(&[7]));

    for (i, block) in blocks.iter().enumerate() {
        let data = tempfile::tempdir().expect("tempdir");
        let text: String = block
            .replace("/etc/starling/tls/", &format!("{}/", pki.path().display()))
            .lines()
            .map(|l| {
                if l.starts_with("bind = ") {
                    "bind = \"127.0.0.1:0\"".to_string()
                } else if l.starts_with("data_dir = ") {
                    format!("data_dir = {:?}", data.path().display().to_string())
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let file = data.path().join("starling.toml");
        std::fs::write(&file, &text).expect("write");
        let mut cfg = Config::load(Some(&file), &Overrides::default())
            .unwrap_or_else(|e| panic!("example {} does not load: {e}\n{block}", i + 1));
        for (name, l) in &cfg.listeners {
            assert!(l.bind.is_some(), "example {}: give listener {name} a bind (tests need free ports)", i + 1);
        }
        cfg.admin.enabled = false;
        cfg.sys.enabled = false;
        let kinds: Vec<(String, &'static str)> = cfg
            .listeners
            .iter()
            .map(|(n, l)| {
                let k = match l.kind_for(n).as_str() {
                    "tcp" => "mqtt",
                    "tls" => "mqtts",
                    other => other,
                };
                (
                    n.clone(),
                    if k == "ws" {
                        "ws"
                    } else if k == "wss" {
                        "wss"
                    } else {
                        k
                    },
                )
            })
            .collect();
        let node = Node::start(cfg).await.unwrap_or_else(|e| panic!("example {} does not start: {e}\n{block}", i + 1));
        for (name, kind) in kinds {
            let b = node.listeners.iter().find(|l| l.name == name).unwrap_or_else(|| panic!("{name} not bound"));
            assert_eq!(b.kind, kind, "example {}: listener {name}", i + 1);
        }
        node.shutdown(Duration::from_secs(2)).await;
    }
}

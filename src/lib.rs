//! Starling: a clustered MQTT 3.1.1 / 5.0 broker.
//!
//! Crate map, from the leaves up (docs/architecture.md draws the layers and the import table):
//! - [`config`], [`protocol`], [`metrics`], [`poll`]: leaves, importing nothing of the crate.
//! - [`storage`]: fjall keyspaces and key layout.
//! - [`catalog`]: the replicated catalog — its commands, the one `apply`, reads, the route table.
//! - [`auth`]: authentication chain, ACL, bans, rate limits and flapping detection.
//! - [`broker`]: sessions, subscription index, retained, wills, shared groups, `$SYS`, and the
//!   [`broker::port::Cluster`] port the cluster layer implements.
//! - [`mqtt`]: the Sans-I/O MQTT driver: every protocol decision of a client connection, one
//!   file per packet family, driving `mqtt-protocol-core`.
//! - [`transport`]: listeners and the connection task: the socket loop around an [`mqtt::Driver`].
//! - [`bridge`]: bridges to upstream brokers (store-and-forward through a reserved session).
//! - [`cluster`]: the standalone (cluster-of-one) and Raft-replicated implementations of the port.
//! - [`admin`]: the HTTP admin listener (`/metrics`, probes, `/api/v1`), the control socket,
//!   logging setup and systemd notifications.
//! - [`ctl`]: `starling ctl`, the command-line client of the admin API.
//! - [`node`]: wires everything; [`node::Node::start`] is used by the binary and the tests.

pub mod admin;
pub mod auth;
pub mod bridge;
pub mod broker;
pub(crate) mod catalog;
pub mod cluster;
pub mod config;
pub mod ctl;
pub mod metrics;
pub mod mqtt;
pub mod node;
pub(crate) mod poll;
pub mod protocol;
pub(crate) mod storage;
pub mod transport;

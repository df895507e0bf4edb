//! Starling: a clustered MQTT 3.1.1 / 5.0 broker.
//!
//! Crate map, following the data path top-down:
//! - [`config`]: figment layers → validated [`config::Config`].
//! - [`node`]: wires everything; [`node::Node::start`] is used by the binary and the tests.
//! - [`transport`]: listeners and the connection task driving `mqtt-protocol-core`.
//! - [`broker`]: sessions, subscription index, retained, wills, shared groups, `$SYS`, and the
//!   [`broker::cluster::Cluster`] seam the cluster layer implements.
//! - [`cluster`]: the catalog state machine and its standalone (cluster-of-one) implementation.
//! - [`storage`]: fjall keyspaces and key layout.
//! - [`auth`]: authentication chain, ACL, bans, rate limits and flapping detection.
//! - [`protocol`]: topic rules and the message format, no I/O.
//! - [`observe`]: metrics, logging, and the HTTP admin listener (`/metrics`, probes, `/api/v1`).
//! - [`ctl`]: `starling ctl`, the command-line client of the admin API.
//! - [`bench`]: the load generator behind `starling bench`.

pub mod auth;
pub mod bench;
pub mod bridge;
pub mod broker;
pub mod cluster;
pub mod config;
pub mod ctl;
pub mod node;
pub mod observe;
pub mod protocol;
pub mod storage;
pub mod transport;

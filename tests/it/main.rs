//! Behaviour tests through real sockets: one integration binary (faster to build), one
//! behaviour per module. Tests that check a normative statement of the MQTT spec are named
//! after it (`mqtt_3_3_1_4_...`).

mod harness;

mod admin_api;
mod admin_metrics;
mod admin_prometheus;
mod admin_schemathesis;
mod admin_tls;
mod admin_util;
mod auth_acl;
mod auth_api;
mod auth_bans;
mod auth_docs;
mod auth_limits;
mod auth_login;
mod auth_util;
mod basic;
mod cli_config;
mod cli_serve;
mod cli_util;
mod cluster_basic;
mod cluster_discovery;
mod cluster_drain;
mod cluster_failover;
mod cluster_ops;
mod cluster_partition;
mod cluster_tls;
mod cluster_tls_reload;
mod ctl_cli;
mod ctl_local;
mod drain_spread;
mod fuzz_structured;
mod mosquitto_clients;
mod mosquitto_rumqttc;
mod ops_docs;
mod persist_restart;
mod persist_storage;
mod persist_util;
mod proto_alias;
mod proto_conformance;
mod proto_connect;
mod proto_expiry;
mod proto_flow;
mod proto_malformed;
mod proto_props;
mod proto_qos;
mod proto_races;
mod proto_retain;
mod proto_session;
mod proto_shared;
mod proto_subopts;
mod proto_sys;
mod proto_util;
mod proto_will;
mod proxy_protocol;
mod robust_corpus;
mod robust_slow;
mod systemd_notify;
mod tls_listener;
mod tls_reload;
mod tls_util;
mod transport_docs;
mod ws_browser;

mod ws_listener;

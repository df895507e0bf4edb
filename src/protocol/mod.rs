//! Protocol-level pieces with no I/O: topic rules and the broker's message representation.
//! Packet encoding and the per-connection state machine come from `mqtt-protocol-core`; the
//! MQTT driver (`crate::mqtt`) drives it.

pub(crate) mod filter_trie;
pub(crate) mod frame;
pub(crate) mod message;
pub(crate) mod mqtt31;
// Public for the load generator (bench/), which validates and matches topics by the same rules.
pub mod topic;
pub mod wire;

pub use message::{Message, PublishProps};

//! Protocol-level pieces with no I/O: topic rules and the broker's message representation.
//! Packet encoding and the per-connection state machine come from `mqtt-protocol-core`; the
//! connection task in `transport::connection` drives it.

pub mod filter_trie;
pub mod frame;
pub mod message;
pub mod mqtt31;
pub mod topic;
pub mod wire;

pub use message::{Message, PublishProps};

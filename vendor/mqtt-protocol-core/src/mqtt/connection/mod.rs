// MIT License
//
// Copyright (c) 2025 Takatoshi Kondo
//
// Permission is hereby granted, free of charge, to any person obtaining a copy
// of this software and associated documentation files (the "Software"), to deal
// in the Software without restriction, including without limitation the rights
// to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
// copies of the Software, and to permit persons to whom the Software is
// furnished to do so, subject to the following conditions:
//
// The above copyright notice and this permission notice shall be included in all
// copies or substantial portions of the Software.
//
// THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
// IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
// FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
// AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
// LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
// OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
// SOFTWARE.
pub mod role;

mod version;
pub use version::Version;

mod packet_id_manager;
pub use packet_id_manager::PacketIdManager;

pub mod core;
pub use self::core::Connection;
pub use self::core::GenericConnection;

pub mod event;
pub use self::event::Event;
pub use self::event::GenericEvent;
pub use self::event::TimerKind;

mod options;
pub use self::options::{ConnectionOptions, MQTT_PACKET_SIZE_NO_LIMIT};

mod packet_builder;
pub use self::packet_builder::PacketBuildResult;
pub use self::packet_builder::PacketBuilder;
pub use self::packet_builder::PacketData;
pub use self::packet_builder::RawPacket;

mod store;
pub use self::store::GenericStore;
pub use self::store::Store;

pub mod prelude;
mod sendable;
mod sendable_helper;
pub mod sendable_role;
mod sendable_version;

pub use self::sendable::{SendBehavior, Sendable};
pub use self::sendable_role::SendableRole;

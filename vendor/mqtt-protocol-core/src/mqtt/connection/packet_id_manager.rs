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

use crate::mqtt::packet::IsPacketId;
use crate::mqtt::result_code::MqttError;
use crate::mqtt::ValueAllocator;

// STARLING PATCH: the allocator is created on first use and dropped when every id is free
// again. Its B-tree node is a heap allocation per connection, and most connections (idle
// ones, QoS 0 ones) never hold a packet id. Boxed: 40 bytes inline in every connection
// otherwise, for the few that hold ids.
pub struct PacketIdManager<T>
where
    T: IsPacketId,
{
    allocator: Option<Box<ValueAllocator<T>>>,
}

impl<T> PacketIdManager<T>
where
    T: IsPacketId,
{
    /// Create a new packet ID manager with valid IDs in range [1, T::max_value()]
    pub fn new() -> Self {
        Self { allocator: None }
    }

    fn allocator(&mut self) -> &mut ValueAllocator<T> {
        self.allocator
            .get_or_insert_with(|| Box::new(ValueAllocator::new(T::one(), T::max_value())))
    }

    /// Acquire a new unique packet ID.
    /// Returns `Ok(T)` if successful, `Err(MqttError)` if no IDs are available.
    pub fn acquire_unique_id(&mut self) -> Result<T, MqttError> {
        self.allocator()
            .allocate()
            .ok_or(MqttError::PacketIdentifierFullyUsed)
    }

    /// Register a packet ID externally acquired or reused.
    /// Returns `Ok(())` if successful, `Err(MqttError)` if the ID is already in use.
    pub fn register_id(&mut self, packet_id: T) -> Result<(), MqttError> {
        self.allocator()
            .use_value(packet_id)
            .then_some(())
            .ok_or(MqttError::PacketIdentifierConflict)
    }

    /// Check whether a packet ID is in use.
    pub fn is_used_id(&self, packet_id: T) -> bool {
        self.allocator
            .as_ref()
            .is_some_and(|a| a.is_used(packet_id))
    }

    /// Release a previously acquired or registered packet ID.
    pub fn release_id(&mut self, packet_id: T) {
        if let Some(a) = &mut self.allocator {
            a.deallocate(packet_id);
            if a.all_free() {
                self.allocator = None;
            }
        }
    }

    /// Clear all state: all packet IDs become available again.
    pub fn clear(&mut self) {
        self.allocator = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocator_exists_only_while_an_id_is_held() {
        let mut m = PacketIdManager::<u16>::new();
        assert!(m.allocator.is_none());
        assert!(!m.is_used_id(1));
        let a = m.acquire_unique_id().unwrap();
        let b = m.acquire_unique_id().unwrap();
        assert_ne!(a, b);
        assert!(m.is_used_id(a) && m.is_used_id(b));
        assert!(m.register_id(b).is_err());
        m.release_id(a);
        assert!(m.allocator.is_some());
        m.release_id(b);
        assert!(m.allocator.is_none());
        m.register_id(7).unwrap();
        assert!(m.is_used_id(7));
        m.clear();
        assert!(!m.is_used_id(7));
        assert_eq!(m.acquire_unique_id().unwrap(), 1);
    }
}

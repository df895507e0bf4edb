// STARLING PATCH: a hash set that allocates on first insert and frees when cleared.
//
// A connection carries seven packet-id sets; most are empty for the life of most connections
// (a broker's idle clients never subscribe twice at once or send QoS 2). Inline, each
// `HashSet` is 40 bytes of every connection; this is one pointer until it holds something.

use alloc::boxed::Box;

use super::HashSet;

/// A `HashSet` behind an `Option<Box<_>>`: the methods `GenericConnection` uses.
#[derive(Debug)]
pub struct LazySet<T>(Option<Box<HashSet<T>>>);

impl<T> Default for LazySet<T> {
    fn default() -> Self {
        LazySet(None)
    }
}

impl<T: Clone> Clone for LazySet<T> {
    fn clone(&self) -> Self {
        LazySet(self.0.clone())
    }
}

impl<T: core::hash::Hash + Eq> LazySet<T> {
    pub fn insert(&mut self, v: T) -> bool {
        self.0.get_or_insert_with(Box::default).insert(v)
    }

    pub fn remove(&mut self, v: &T) -> bool {
        self.0.as_mut().is_some_and(|s| s.remove(v))
    }

    pub fn contains(&self, v: &T) -> bool {
        self.0.as_ref().is_some_and(|s| s.contains(v))
    }

    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |s| s.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the set and gives its memory back.
    pub fn clear(&mut self) {
        self.0 = None;
    }

    /// Takes every element out, giving the memory back.
    pub fn drain(&mut self) -> impl Iterator<Item = T> {
        self.0.take().into_iter().flat_map(|s| (*s).into_iter())
    }

    /// A copy as a plain `HashSet` (the public API hands those out).
    pub fn to_set(&self) -> HashSet<T>
    where
        T: Clone,
    {
        self.0.as_deref().cloned().unwrap_or_default()
    }
}

impl<T> From<HashSet<T>> for LazySet<T> {
    fn from(s: HashSet<T>) -> Self {
        LazySet(if s.is_empty() { None } else { Some(Box::new(s)) })
    }
}

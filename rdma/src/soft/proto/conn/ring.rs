//! A fixed-capacity FIFO of reusable slots: the storage behind the send, receive,
//! outbound-read, inbound-read, completion and event queues of a connection.
//!
//! Every slot is allocated once, at creation; pushing overwrites a free slot in place
//! (so a slot's own buffers, such as an inline-data area, are reused) and never
//! allocates. It must not grow: a full ring refuses the push.

/// A ring of `capacity` preallocated slots.
#[derive(Debug)]
pub(crate) struct Ring<T> {
    slots: Box<[T]>,
    head: usize,
    len: usize,
}

impl<T> Ring<T> {
    /// A ring whose slots are built by `make` (called `capacity` times, here only).
    pub(crate) fn new(capacity: usize, make: impl FnMut() -> T) -> Ring<T> {
        let mut make = make;
        Ring {
            slots: (0..capacity).map(|_| make()).collect(),
            head: 0,
            len: 0,
        }
    }

    /// Number of occupied slots.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// True when no slot is occupied.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when every slot is occupied.
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.slots.len()
    }

    /// Physical index of the `i`-th occupied slot (0 = oldest).
    fn phys(&self, i: usize) -> usize {
        // `slots.len() > 0` whenever a slot is occupied; `max(1)` keeps an empty ring
        // from dividing by zero.
        (self.head + i) % self.slots.len().max(1)
    }

    /// Occupies the next free slot, letting `fill` overwrite it in place; `false` (and
    /// `fill` not called) when the ring is full.
    pub(crate) fn push_with(&mut self, fill: impl FnOnce(&mut T)) -> bool {
        if self.is_full() {
            return false;
        }
        let at = self.phys(self.len);
        match self.slots.get_mut(at) {
            Some(slot) => {
                fill(slot);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The `i`-th occupied slot (0 = oldest).
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        self.slots.get(self.phys(i))
    }

    /// The `i`-th occupied slot, mutably.
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        if i >= self.len {
            return None;
        }
        let at = self.phys(i);
        self.slots.get_mut(at)
    }

    /// The oldest occupied slot.
    pub(crate) fn front(&self) -> Option<&T> {
        self.get(0)
    }

    /// The oldest occupied slot, mutably.
    pub(crate) fn front_mut(&mut self) -> Option<&mut T> {
        self.get_mut(0)
    }

    /// Frees the oldest slot; returns whether there was one.
    pub(crate) fn pop_front(&mut self) -> bool {
        if self.len == 0 {
            return false;
        }
        self.head = self.phys(1);
        self.len -= 1;
        true
    }
}

impl<T: Copy> Ring<T> {
    /// Pushes a copy of `value`; `false` when full.
    pub(crate) fn push(&mut self, value: T) -> bool {
        self.push_with(|slot| *slot = value)
    }

    /// Removes and returns the oldest value.
    pub(crate) fn pop(&mut self) -> Option<T> {
        let value = self.front().copied()?;
        self.pop_front();
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_wraps_and_refuses_when_full() {
        let mut ring = Ring::new(3, || 0u32);
        assert!(ring.is_empty());
        for round in 0..5u32 {
            assert!(ring.push(round * 10));
            assert!(ring.push(round * 10 + 1));
            assert_eq!(ring.pop(), Some(round * 10));
            assert!(ring.push(round * 10 + 2));
            assert!(ring.push(round * 10 + 3));
            assert!(ring.is_full());
            assert!(!ring.push(99));
            assert_eq!(ring.get(0), Some(&(round * 10 + 1)));
            assert_eq!(ring.get(2), Some(&(round * 10 + 3)));
            assert_eq!(ring.get(3), None);
            assert_eq!(ring.pop(), Some(round * 10 + 1));
            assert_eq!(ring.pop(), Some(round * 10 + 2));
            assert_eq!(ring.pop(), Some(round * 10 + 3));
            assert_eq!(ring.pop(), None);
        }
    }

    #[test]
    fn zero_capacity_ring_is_always_full() {
        let mut ring = Ring::new(0, || 0u8);
        assert!(ring.is_full());
        assert!(!ring.push(1));
        assert_eq!(ring.pop(), None);
        assert!(!ring.pop_front());
    }
}

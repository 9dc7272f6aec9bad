//! The outbound byte queue of a FIX session ([`Connection`](super::Connection), either
//! role): frames are written into it as they are produced, but only the part a store
//! flush has covered is offered to the socket, so no message leaves before the sync that
//! makes it (and its MsgSeqNum) durable.
//!
//! What it must not do: sync, write to a socket, or grow without its owner asking (its
//! owner bounds what it produces per duty cycle).

use crate::fix::store::{SessionStore, StoreError};

/// Outbound bytes: `buf[pos..durable]` may be sent, `buf[durable..]` waits for a flush.
#[derive(Debug)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    pos: usize,
    durable: usize,
}

impl Outbox {
    /// An empty queue with room for `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> Outbox {
        Outbox {
            buf: Vec::with_capacity(capacity),
            pos: 0,
            durable: 0,
        }
    }

    /// The buffer frames are appended to.
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Bytes `range` of the buffer (a frame just written).
    pub(crate) fn frame(&self, range: core::ops::Range<usize>) -> &[u8] {
        self.buf.get(range).unwrap_or_default()
    }

    /// Syncs `store` once and releases everything written so far; if the store fails,
    /// drops what the sync would have covered and returns the error.
    pub(crate) fn flush<S: SessionStore>(&mut self, store: &mut S) -> Result<(), StoreError> {
        match store.flush() {
            Ok(()) => {
                self.durable = self.buf.len();
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(self.durable);
                Err(e)
            }
        }
    }

    /// Whether bytes wait for a flush.
    pub(crate) fn needs_flush(&self) -> bool {
        self.durable < self.buf.len()
    }

    /// The bytes that may be sent.
    pub(crate) fn queue(&self) -> &[u8] {
        self.buf.get(self.pos..self.durable).unwrap_or_default()
    }

    /// Marks `n` bytes of [`Outbox::queue`] as sent.
    pub(crate) fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.durable);
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            self.durable = 0;
        }
    }

    /// Copies sendable bytes into `out` and marks them sent; returns how many.
    pub(crate) fn copy_out(&mut self, out: &mut [u8]) -> usize {
        let pending = self.queue();
        let n = pending.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), pending.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.consume(n);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::store::MemoryStore;

    #[test]
    fn nothing_is_offered_before_a_flush() {
        let mut out = Outbox::with_capacity(16);
        out.buf().extend_from_slice(b"abc");
        assert!(out.queue().is_empty());
        assert!(out.needs_flush());
        out.flush(&mut MemoryStore::new())
            .unwrap_or_else(|e| panic!("{e}"));
        out.buf().extend_from_slice(b"de");
        assert_eq!(out.queue(), b"abc");
        let mut buf = [0u8; 2];
        assert_eq!(out.copy_out(&mut buf), 2);
        assert_eq!(out.queue(), b"c");
        out.consume(1);
        assert!(out.queue().is_empty());
        assert!(out.needs_flush());
    }
}

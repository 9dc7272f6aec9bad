//! Registered memory of the soft backend: backing stores, the STag table and the
//! protection checks of RFC 5040 §6 / RFC 5042 §5 that gate every access.
//!
//! # Concurrency contract
//!
//! A memory region is shared with the remote peer exactly as with an RNIC: placement
//! (remote RDMA WRITE, SEND payload, READ response) may happen on the progress thread
//! while the owner reads or writes the same bytes. Every access goes through atomic
//! 8-byte words ([`AtomicU64`]; on x86-64 these are plain moves), so concurrent access
//! is defined behaviour, but bytes written concurrently by the peer and read by the
//! owner may be *torn* (a mix of old and new). Applications synchronise the way they do
//! with hardware: the writer places the payload first and a sequence word last; the
//! reader [`Buffer::load_u64_acquire`]s that word and only then reads the payload.
//! Placement stores use `Release` and loads use `Acquire`, so a reader that observes a
//! sequence word also observes every byte placed before it. A sequence word is
//! observed atomically when it is 8-aligned and placed by one write (one DDP segment).
//! Sequence words are little-endian in memory on every host.
//!
//! This module must not do I/O, read clocks or allocate on the access paths; it is the
//! only owner of the STag namespace of a device.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use thiserror::Error;

pub(crate) use crate::soft::proto::conn::PdId;
use crate::soft::proto::conn::{
    LocalAccess, LocalFault, MemoryAccess, ProtectionFault, RemoteAccess, Sge,
};

/// Size of one backing word: the unit of atomicity and alignment of a [`Buffer`].
const WORD: usize = 8;

/// Largest STag index: STags are `index << 8 | key` in 32 bits.
const MAX_INDEX: u32 = (1 << 24) - 1;

/// Why a memory access was refused (maps to RFC 5040 §7.2 Terminate error codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum MemError {
    /// The STag names no registered region, or its key does not match (RFC 5040 §7.2: Invalid STag).
    #[error("invalid STag {stag:#010x}")]
    InvalidStag {
        /// The refused STag.
        stag: u32,
    },
    /// The region was invalidated (RFC 5040 §7.2: Invalid STag).
    #[error("STag {stag:#010x} was invalidated")]
    Invalidated {
        /// The refused STag.
        stag: u32,
    },
    /// The region belongs to another protection domain (RFC 5040 §7.2: STag not associated with RDDP stream).
    #[error("STag {stag:#010x} belongs to another protection domain")]
    PdMismatch {
        /// The refused STag.
        stag: u32,
    },
    /// The region does not grant the requested access (RFC 5040 §7.2: Access rights violation).
    #[error("STag {stag:#010x} lacks access rights {need:?}")]
    AccessViolation {
        /// The refused STag.
        stag: u32,
        /// The rights that were needed.
        need: Access,
    },
    /// The access falls outside the region (RFC 5040 §7.2: Base or bounds violation).
    #[error("access [{offset}, +{len}) outside region of {region_len} bytes")]
    OutOfBounds {
        /// First byte accessed (offset from the region base; saturated when it overflows).
        offset: u64,
        /// Number of bytes accessed.
        len: u64,
        /// Size of the region.
        region_len: usize,
    },
    /// A word access at an offset that is not a multiple of 8.
    #[error("offset {offset} is not 8-byte aligned")]
    Misaligned {
        /// The refused offset.
        offset: usize,
    },
    /// Every STag index of the device is in use.
    #[error("STag table full")]
    TableFull,
}

/// Access rights of a memory region, a small bit set (libibverbs `IBV_ACCESS_*`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Access(u8);

impl Access {
    /// No rights beyond local read (always granted to the owner).
    pub const NONE: Access = Access(0);
    /// The local QP may write into the region (receive buffers, READ sinks).
    pub const LOCAL_WRITE: Access = Access(1);
    /// The peer may RDMA WRITE into the region.
    pub const REMOTE_WRITE: Access = Access(1 << 1);
    /// The peer may RDMA READ from the region.
    pub const REMOTE_READ: Access = Access(1 << 2);
    /// Every right.
    pub const ALL: Access = Access(0b111);

    /// True when every right in `other` is also in `self`.
    pub const fn contains(self, other: Access) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two sets.
    pub const fn union(self, other: Access) -> Access {
        Access(self.0 | other.0)
    }

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }
}

impl core::ops::BitOr for Access {
    type Output = Access;
    fn bitor(self, rhs: Access) -> Access {
        self.union(rhs)
    }
}

impl core::ops::BitOrAssign for Access {
    fn bitor_assign(&mut self, rhs: Access) {
        *self = self.union(rhs);
    }
}

impl core::fmt::Debug for Access {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let names = [
            (Access::LOCAL_WRITE, "LOCAL_WRITE"),
            (Access::REMOTE_WRITE, "REMOTE_WRITE"),
            (Access::REMOTE_READ, "REMOTE_READ"),
        ];
        let mut first = true;
        for (bit, name) in names {
            if self.contains(bit) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("NONE")?;
        }
        Ok(())
    }
}

/// A fixed-size, zero-initialised, 8-byte aligned byte store shared with the peer.
///
/// All accesses are bounds-checked and go through atomic words; see the module docs
/// for the concurrency contract.
pub(crate) struct Buffer {
    words: Box<[AtomicU64]>,
    len: usize,
}

impl core::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Buffer")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Buffer {
    /// A zeroed buffer of `len` bytes (allocated once, rounded up to whole words).
    pub(crate) fn zeroed(len: usize) -> Buffer {
        let words = len.div_ceil(WORD);
        Buffer {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            len,
        }
    }

    /// A buffer holding a copy of `bytes` (a one-time copy at registration).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Buffer {
        let buf = Buffer::zeroed(bytes.len());
        for (word, chunk) in buf.words.iter().zip(bytes.chunks(WORD)) {
            word.store(
                word_from(chunk, 0, word.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
        buf
    }

    /// Size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Checks that `[offset, offset + len)` lies inside the buffer.
    pub(crate) fn check_range(&self, offset: u64, len: u64) -> Result<usize, MemError> {
        let out = MemError::OutOfBounds {
            offset,
            len,
            region_len: self.len,
        };
        let end = offset.checked_add(len).ok_or(out)?;
        if end > self.len as u64 {
            return Err(out);
        }
        usize::try_from(offset).map_err(|_| out)
    }

    /// Copies `dst.len()` bytes starting at `offset` into `dst` (`Acquire` word loads).
    ///
    /// An unaligned head and tail are cut from their words; the aligned middle is copied
    /// a whole word at a time (one plain load on x86-64). Measured with
    /// `bench --bin rdma_pingpong --only stream`: a per-byte-offset loop here was about
    /// half of the sending thread's time when streaming 64 KiB WRITEs.
    pub(crate) fn read(&self, offset: usize, dst: &mut [u8]) -> Result<(), MemError> {
        self.check_range(offset as u64, dst.len() as u64)?;
        let within = offset % WORD;
        let head_len = if within == 0 {
            0
        } else {
            (WORD - within).min(dst.len())
        };
        let (head, middle) = dst.split_at_mut(head_len);
        let mut words = self.words.get(offset / WORD..).unwrap_or_default().iter();
        if head_len > 0 {
            let word = words.next().ok_or(self.out_of_bounds(offset, head_len))?;
            let bytes = word.load(Ordering::Acquire).to_ne_bytes();
            head.copy_from_slice(bytes.get(within..within + head_len).unwrap_or_default());
        }
        let mut chunks = middle.chunks_exact_mut(WORD);
        for (chunk, word) in (&mut chunks).zip(&mut words) {
            chunk.copy_from_slice(&word.load(Ordering::Acquire).to_ne_bytes());
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            let word = words.next().ok_or(self.out_of_bounds(offset, tail.len()))?;
            let bytes = word.load(Ordering::Acquire).to_ne_bytes();
            tail.copy_from_slice(bytes.get(..tail.len()).unwrap_or_default());
        }
        Ok(())
    }

    /// Copies `src` into the buffer at `offset` (`Release` word stores; partial words are
    /// merged with compare-and-swap so neighbouring bytes written concurrently survive).
    /// Aligned middle words are stored whole, as in [`Buffer::read`].
    pub(crate) fn write(&self, offset: usize, src: &[u8]) -> Result<(), MemError> {
        self.check_range(offset as u64, src.len() as u64)?;
        let within = offset % WORD;
        let head_len = if within == 0 {
            0
        } else {
            (WORD - within).min(src.len())
        };
        let (head, middle) = src.split_at(head_len);
        let mut words = self.words.get(offset / WORD..).unwrap_or_default().iter();
        if head_len > 0 {
            let word = words.next().ok_or(self.out_of_bounds(offset, head_len))?;
            merge(word, head, within);
        }
        let mut chunks = middle.chunks_exact(WORD);
        for (chunk, word) in (&mut chunks).zip(&mut words) {
            word.store(word_from(chunk, 0, 0), Ordering::Release);
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            let word = words.next().ok_or(self.out_of_bounds(offset, tail.len()))?;
            merge(word, tail, 0);
        }
        Ok(())
    }

    /// The error for a range that checked in bounds but found no word (cannot happen
    /// while `words` covers `len`; kept so no path can panic).
    fn out_of_bounds(&self, offset: usize, len: usize) -> MemError {
        MemError::OutOfBounds {
            offset: offset as u64,
            len: len as u64,
            region_len: self.len,
        }
    }

    /// Writes `len` bytes at `offset` produced by `fill`, which is called with successive
    /// chunks (each at most 8 bytes) of a scratch copy — a copy-free way to build a message.
    pub(crate) fn fill_with(
        &self,
        offset: usize,
        len: usize,
        mut fill: impl FnMut(usize, &mut [u8]),
    ) -> Result<(), MemError> {
        self.check_range(offset as u64, len as u64)?;
        let mut pos = offset;
        let end = offset + len;
        while pos < end {
            let within = pos % WORD;
            let n = (WORD - within).min(end - pos);
            let mut chunk = [0u8; WORD];
            let part = chunk.get_mut(..n).unwrap_or_default();
            fill(pos - offset, part);
            self.write(pos, part)?;
            pos += n;
        }
        Ok(())
    }

    /// Loads the little-endian word at the 8-aligned `offset` with `Acquire` ordering.
    pub(crate) fn load_u64_acquire(&self, offset: usize) -> Result<u64, MemError> {
        Ok(u64::from_le(
            self.aligned_word(offset)?.load(Ordering::Acquire),
        ))
    }

    /// Stores `value` little-endian at the 8-aligned `offset` with `Release` ordering.
    pub(crate) fn store_u64_release(&self, offset: usize, value: u64) -> Result<(), MemError> {
        self.aligned_word(offset)?
            .store(value.to_le(), Ordering::Release);
        Ok(())
    }

    /// The word containing byte `pos` (which the caller has bounds-checked).
    fn word(&self, pos: usize) -> Result<&AtomicU64, MemError> {
        self.words.get(pos / WORD).ok_or(MemError::OutOfBounds {
            offset: pos as u64,
            len: 1,
            region_len: self.len,
        })
    }

    /// The whole word at an 8-aligned offset.
    fn aligned_word(&self, offset: usize) -> Result<&AtomicU64, MemError> {
        if offset % WORD != 0 {
            return Err(MemError::Misaligned { offset });
        }
        self.check_range(offset as u64, WORD as u64)?;
        self.word(offset)
    }
}

/// Merges `bytes` into `word` at byte `within` with compare-and-swap, keeping the
/// word's other bytes (written concurrently by someone else) intact.
fn merge(word: &AtomicU64, bytes: &[u8], within: usize) {
    // A failing closure is impossible: `Some` is always returned.
    let _ = word.fetch_update(Ordering::Release, Ordering::Relaxed, |old| {
        Some(word_from(bytes, within, old))
    });
}

/// `old` with bytes `[within, within + part.len())` replaced by `part` (native byte order,
/// so that the word's bytes in memory are the buffer's bytes).
fn word_from(part: &[u8], within: usize, old: u64) -> u64 {
    let mut bytes = old.to_ne_bytes();
    if let Some(dst) = bytes.get_mut(within..within + part.len()) {
        dst.copy_from_slice(part);
    }
    u64::from_ne_bytes(bytes)
}

/// One registered region as seen by the table.
#[derive(Debug)]
struct Entry {
    key: u8,
    pd: PdId,
    access: Access,
    valid: bool,
    buf: Arc<Buffer>,
}

/// Slots of the table; `last_key` keeps an index's previous key so a reused index never
/// gets the key of a stale STag.
#[derive(Debug, Default)]
struct Slots {
    entries: Vec<Option<Entry>>,
    last_key: Vec<u8>,
    free: Vec<u32>,
}

/// The STag table of one device: read-mostly, shared by every QP and the application.
#[derive(Debug, Default)]
pub(crate) struct MrTable {
    slots: RwLock<Slots>,
}

impl MrTable {
    /// An empty table.
    pub(crate) fn new() -> MrTable {
        MrTable::default()
    }

    /// Registers `buf` in `pd` with `access`; returns its STag (`index << 8 | key`,
    /// RFC 5040 §2: the 8-bit key is random and never 0, so an STag is never 0).
    pub(crate) fn register(
        &self,
        pd: PdId,
        access: Access,
        buf: Arc<Buffer>,
    ) -> Result<u32, MemError> {
        let mut slots = self.write_slots();
        let index = match slots.free.pop() {
            Some(index) => index,
            None => {
                let next = u32::try_from(slots.entries.len()).map_err(|_| MemError::TableFull)?;
                if next > MAX_INDEX {
                    return Err(MemError::TableFull);
                }
                slots.entries.push(None);
                slots.last_key.push(0);
                next
            }
        };
        let previous = slots.last_key.get(index as usize).copied().unwrap_or(0);
        let key = loop {
            let key = rand::random::<u8>();
            if key != 0 && key != previous {
                break key;
            }
        };
        if let Some(last) = slots.last_key.get_mut(index as usize) {
            *last = key;
        }
        match slots.entries.get_mut(index as usize) {
            Some(slot) => {
                *slot = Some(Entry {
                    key,
                    pd,
                    access,
                    valid: true,
                    buf,
                })
            }
            None => return Err(MemError::TableFull),
        }
        Ok(index << 8 | u32::from(key))
    }

    /// Removes a registration; later accesses through `stag` fail with `InvalidStag`.
    pub(crate) fn deregister(&self, stag: u32) -> Result<(), MemError> {
        let mut slots = self.write_slots();
        let index = stag >> 8;
        match slots.entries.get_mut(index as usize) {
            Some(slot @ Some(_)) if slot.as_ref().is_some_and(|e| e.key == stag as u8) => {
                *slot = None;
            }
            _ => return Err(MemError::InvalidStag { stag }),
        }
        slots.free.push(index);
        Ok(())
    }

    /// Invalidates `stag` for remote access on behalf of a QP in `pd`
    /// (RFC 5040 §5.4: Send with Invalidate; the STag must belong to the stream's PD).
    pub(crate) fn invalidate_stag(&self, pd: PdId, stag: u32) -> Result<(), MemError> {
        let mut slots = self.write_slots();
        let entry = entry_mut(&mut slots, stag)?;
        if entry.pd != pd {
            return Err(MemError::PdMismatch { stag });
        }
        entry.valid = false;
        Ok(())
    }

    /// True when `stag` is registered and not invalidated.
    pub(crate) fn is_valid(&self, stag: u32) -> bool {
        let slots = self.read_slots();
        entry(&slots, stag).is_ok_and(|e| e.valid)
    }

    /// Checks that a QP in `pd` may access `len` bytes at offset `to` of `stag` with
    /// rights `need` (RFC 5040 §6.4, RFC 5042 §5: STag, PD, rights, then bounds).
    pub(crate) fn check(
        &self,
        pd: PdId,
        stag: u32,
        to: u64,
        len: u64,
        need: Access,
    ) -> Result<(), MemError> {
        let slots = self.read_slots();
        checked(&slots, pd, stag, to, len, need).map(|_| ())
    }

    fn read_slots(&self) -> RwLockReadGuard<'_, Slots> {
        super::count_lock();
        // A panic while holding the lock cannot leave `Slots` half-updated (every
        // mutation is a single assignment), so a poisoned lock is still consistent.
        self.slots
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_slots(&self) -> RwLockWriteGuard<'_, Slots> {
        super::count_lock();
        self.slots
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The live entry named by `stag` (index and key must both match).
fn entry(slots: &Slots, stag: u32) -> Result<&Entry, MemError> {
    match slots.entries.get((stag >> 8) as usize) {
        Some(Some(e)) if e.key == stag as u8 => Ok(e),
        _ => Err(MemError::InvalidStag { stag }),
    }
}

/// Mutable form of [`entry`].
fn entry_mut(slots: &mut Slots, stag: u32) -> Result<&mut Entry, MemError> {
    match slots.entries.get_mut((stag >> 8) as usize) {
        Some(Some(e)) if e.key == stag as u8 => Ok(e),
        _ => Err(MemError::InvalidStag { stag }),
    }
}

/// The access checks shared by [`MrTable::check`] and [`MrTable::with`].
fn checked(
    slots: &Slots,
    pd: PdId,
    stag: u32,
    to: u64,
    len: u64,
    need: Access,
) -> Result<(&Buffer, usize), MemError> {
    let e = entry(slots, stag)?;
    if !e.valid {
        return Err(MemError::Invalidated { stag });
    }
    if e.pd != pd {
        return Err(MemError::PdMismatch { stag });
    }
    if !e.access.contains(need) {
        return Err(MemError::AccessViolation { stag, need });
    }
    let offset = e.buf.check_range(to, len)?;
    Ok((&e.buf, offset))
}

/// Converts a refused remote access to the RFC 5042 §5 fault the connection reports.
fn remote_fault(e: MemError) -> ProtectionFault {
    match e {
        MemError::InvalidStag { .. } | MemError::TableFull => ProtectionFault::InvalidStag,
        MemError::Invalidated { .. } => ProtectionFault::Invalidated,
        MemError::PdMismatch { .. } => ProtectionFault::PdMismatch,
        MemError::AccessViolation { .. } => ProtectionFault::AccessRights,
        MemError::OutOfBounds { offset, len, .. } if offset.checked_add(len).is_none() => {
            ProtectionFault::ToWrap
        }
        MemError::OutOfBounds { .. } | MemError::Misaligned { .. } => ProtectionFault::BaseOrBounds,
    }
}

/// Converts a refused local access to the fault that completes the work request.
fn local_fault(e: MemError) -> LocalFault {
    match e {
        MemError::InvalidStag { .. } | MemError::Invalidated { .. } | MemError::TableFull => {
            LocalFault::InvalidLkey
        }
        MemError::PdMismatch { .. } => LocalFault::PdMismatch,
        MemError::AccessViolation { .. } => LocalFault::AccessRights,
        MemError::OutOfBounds { .. } | MemError::Misaligned { .. } => LocalFault::OutOfBounds,
    }
}

/// Offset of byte `offset` of `sge` (tagged offsets are zero-based region offsets),
/// after checking that `len` bytes from there stay inside the SGE.
fn sge_at(sge: &Sge, offset: usize, len: usize) -> Result<u64, LocalFault> {
    let end = offset.checked_add(len).ok_or(LocalFault::OutOfBounds)?;
    if end > sge.len as usize {
        return Err(LocalFault::OutOfBounds);
    }
    sge.addr
        .checked_add(offset as u64)
        .ok_or(LocalFault::OutOfBounds)
}

/// The connection's view of the table (RFC 5042 §5 checks before every copy).
/// `write_remote`/`read_remote` re-check the STag and bounds under the lock, because
/// the application may deregister between the check and the copy.
impl MemoryAccess for MrTable {
    fn check_remote(
        &self,
        stag: u32,
        to: u64,
        len: usize,
        access: RemoteAccess,
        pd: PdId,
    ) -> Result<(), ProtectionFault> {
        let need = match access {
            RemoteAccess::Read => Access::REMOTE_READ,
            RemoteAccess::Write => Access::REMOTE_WRITE,
        };
        self.check(pd, stag, to, len as u64, need)
            .map_err(remote_fault)
    }

    fn write_remote(&self, stag: u32, to: u64, data: &[u8]) -> Result<(), ProtectionFault> {
        let slots = self.read_slots();
        let (buf, offset) = located(&slots, stag, to, data.len() as u64).map_err(remote_fault)?;
        buf.write(offset, data).map_err(remote_fault)
    }

    fn read_remote(&self, stag: u32, to: u64, out: &mut [u8]) -> Result<(), ProtectionFault> {
        let slots = self.read_slots();
        let (buf, offset) = located(&slots, stag, to, out.len() as u64).map_err(remote_fault)?;
        buf.read(offset, out).map_err(remote_fault)
    }

    fn check_local(&self, sge: &Sge, access: LocalAccess, pd: PdId) -> Result<(), LocalFault> {
        let need = match access {
            LocalAccess::Read => Access::NONE,
            LocalAccess::Write => Access::LOCAL_WRITE,
        };
        self.check(pd, sge.lkey, sge.addr, u64::from(sge.len), need)
            .map_err(local_fault)
    }

    fn read_local(&self, sge: &Sge, offset: usize, out: &mut [u8]) -> Result<(), LocalFault> {
        let at = sge_at(sge, offset, out.len())?;
        let slots = self.read_slots();
        let (buf, offset) = located(&slots, sge.lkey, at, out.len() as u64).map_err(local_fault)?;
        buf.read(offset, out).map_err(local_fault)
    }

    fn write_local(&self, sge: &Sge, offset: usize, data: &[u8]) -> Result<(), LocalFault> {
        let at = sge_at(sge, offset, data.len())?;
        let slots = self.read_slots();
        let (buf, offset) =
            located(&slots, sge.lkey, at, data.len() as u64).map_err(local_fault)?;
        buf.write(offset, data).map_err(local_fault)
    }

    fn invalidate(&self, stag: u32, pd: PdId) -> Result<(), ProtectionFault> {
        self.invalidate_stag(pd, stag).map_err(remote_fault)
    }
}

/// The region and offset of a live `stag` after the validity and bounds checks only
/// (rights and PD were checked by the matching `check_*` call).
fn located(slots: &Slots, stag: u32, to: u64, len: u64) -> Result<(&Buffer, usize), MemError> {
    let e = entry(slots, stag)?;
    if !e.valid {
        return Err(MemError::Invalidated { stag });
    }
    let offset = e.buf.check_range(to, len)?;
    Ok((&e.buf, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PD: PdId = PdId(1);

    fn table_with(len: usize, access: Access) -> (MrTable, u32) {
        let table = MrTable::new();
        let stag = table
            .register(PD, access, Arc::new(Buffer::zeroed(len)))
            .unwrap();
        (table, stag)
    }

    #[test]
    fn stag_format_and_key_never_zero() {
        let table = MrTable::new();
        let mut stags = Vec::new();
        for i in 0..600u32 {
            let stag = table
                .register(PD, Access::ALL, Arc::new(Buffer::zeroed(8)))
                .unwrap();
            assert_eq!(stag >> 8, i, "indices are handed out densely");
            assert_ne!(stag & 0xff, 0, "key is never 0");
            assert_ne!(stag, 0);
            stags.push(stag);
        }
        // Reusing an index draws a new key, so the stale STag stays invalid.
        for _ in 0..300 {
            let old = stags[7];
            table.deregister(old).unwrap();
            let new = table
                .register(PD, Access::ALL, Arc::new(Buffer::zeroed(8)))
                .unwrap();
            assert_eq!(new >> 8, 7);
            assert_ne!(new, old);
            assert!(!table.is_valid(old));
            assert!(table.is_valid(new));
            stags[7] = new;
        }
    }

    #[test]
    fn bounds_are_checked() {
        let (table, stag) = table_with(100, Access::ALL);
        assert!(table.check(PD, stag, 0, 100, Access::REMOTE_WRITE).is_ok());
        assert!(table.check(PD, stag, 99, 1, Access::REMOTE_WRITE).is_ok());
        assert!(table.check(PD, stag, 100, 0, Access::REMOTE_WRITE).is_ok());
        for (to, len) in [(0, 101), (100, 1), (u64::MAX, 1), (1, u64::MAX)] {
            assert!(matches!(
                table.check(PD, stag, to, len, Access::REMOTE_WRITE),
                Err(MemError::OutOfBounds { .. })
            ));
        }
        assert_eq!(
            table.write_remote(stag, 98, &[1, 2, 3]),
            Err(ProtectionFault::BaseOrBounds)
        );
    }

    #[test]
    fn rights_pd_and_key_are_checked() {
        let (table, stag) = table_with(64, Access::LOCAL_WRITE | Access::REMOTE_READ);
        assert_eq!(
            table.check(PD, stag, 0, 8, Access::REMOTE_WRITE),
            Err(MemError::AccessViolation {
                stag,
                need: Access::REMOTE_WRITE
            })
        );
        assert!(table.check(PD, stag, 0, 8, Access::REMOTE_READ).is_ok());
        assert_eq!(
            table.check(PdId(2), stag, 0, 8, Access::REMOTE_READ),
            Err(MemError::PdMismatch { stag })
        );
        let wrong_key = stag ^ 0x80;
        assert_eq!(
            table.check(PD, wrong_key, 0, 8, Access::REMOTE_READ),
            Err(MemError::InvalidStag { stag: wrong_key })
        );
        assert!(table.check(PD, 0xffff_ff01, 0, 8, Access::NONE).is_err());
    }

    #[test]
    fn invalidation_and_deregistration() {
        let (table, stag) = table_with(64, Access::ALL);
        assert_eq!(
            table.invalidate_stag(PdId(9), stag),
            Err(MemError::PdMismatch { stag })
        );
        table.invalidate_stag(PD, stag).unwrap();
        assert_eq!(
            table.check(PD, stag, 0, 1, Access::NONE),
            Err(MemError::Invalidated { stag })
        );
        table.deregister(stag).unwrap();
        assert_eq!(
            table.check(PD, stag, 0, 1, Access::NONE),
            Err(MemError::InvalidStag { stag })
        );
        assert_eq!(table.deregister(stag), Err(MemError::InvalidStag { stag }));
    }

    #[test]
    fn unaligned_reads_and_writes_round_trip() {
        let buf = Buffer::zeroed(45);
        let data: Vec<u8> = (1..=40).collect();
        for offset in 0..5 {
            buf.write(0, &[0xee; 45]).unwrap();
            buf.write(offset, &data).unwrap();
            let mut out = vec![0u8; 45];
            buf.read(0, &mut out).unwrap();
            assert!(out[..offset].iter().all(|&b| b == 0xee));
            assert_eq!(&out[offset..offset + 40], &data[..]);
            assert!(out[offset + 40..].iter().all(|&b| b == 0xee));
        }
        assert!(buf.write(40, &[0; 6]).is_err());
        assert!(buf.read(44, &mut [0; 2]).is_err());
        assert_eq!(Buffer::from_bytes(&data[..13]).len(), 13);
        let mut out = [0u8; 13];
        Buffer::from_bytes(&data[..13]).read(0, &mut out).unwrap();
        assert_eq!(&out[..], &data[..13]);
    }

    #[test]
    fn sequence_words_are_little_endian_and_aligned() {
        let buf = Buffer::zeroed(24);
        buf.store_u64_release(8, 0x0102_0304_0506_0708).unwrap();
        let mut bytes = [0u8; 8];
        buf.read(8, &mut bytes).unwrap();
        assert_eq!(bytes, 0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(buf.load_u64_acquire(8).unwrap(), 0x0102_0304_0506_0708);
        assert_eq!(
            buf.load_u64_acquire(4),
            Err(MemError::Misaligned { offset: 4 })
        );
        assert!(buf.load_u64_acquire(24).is_err());
        assert!(buf.store_u64_release(20, 1).is_err());
    }

    #[test]
    fn fill_with_sees_message_offsets() {
        let buf = Buffer::zeroed(32);
        buf.fill_with(3, 20, |at, chunk| {
            for (i, b) in chunk.iter_mut().enumerate() {
                *b = (at + i) as u8;
            }
        })
        .unwrap();
        let mut out = [0u8; 20];
        buf.read(3, &mut out).unwrap();
        assert_eq!(out.to_vec(), (0..20).collect::<Vec<u8>>());
    }

    #[test]
    fn memory_access_maps_rfc5042_faults() {
        let (table, stag) = table_with(64, Access::LOCAL_WRITE | Access::REMOTE_WRITE);
        let w = RemoteAccess::Write;
        assert_eq!(table.check_remote(stag, 0, 64, w, PD), Ok(()));
        assert_eq!(
            table.check_remote(stag, 0, 64, RemoteAccess::Read, PD),
            Err(ProtectionFault::AccessRights)
        );
        assert_eq!(
            table.check_remote(stag, 0, 65, w, PD),
            Err(ProtectionFault::BaseOrBounds)
        );
        assert_eq!(
            table.check_remote(stag, u64::MAX, 2, w, PD),
            Err(ProtectionFault::ToWrap)
        );
        assert_eq!(
            table.check_remote(stag, 0, 1, w, PdId(3)),
            Err(ProtectionFault::PdMismatch)
        );
        assert_eq!(
            table.check_remote(stag ^ 1, 0, 1, w, PD),
            Err(ProtectionFault::InvalidStag)
        );
        table.write_remote(stag, 10, b"remote").unwrap();
        let mut out = [0u8; 6];
        table.read_remote(stag, 10, &mut out).unwrap();
        assert_eq!(&out, b"remote");

        let sge = Sge {
            lkey: stag,
            addr: 8,
            len: 16,
        };
        assert_eq!(table.check_local(&sge, LocalAccess::Write, PD), Ok(()));
        assert_eq!(
            table.check_local(&sge, LocalAccess::Write, PdId(3)),
            Err(LocalFault::PdMismatch)
        );
        table.write_local(&sge, 4, b"local").unwrap();
        let mut out = [0u8; 5];
        table.read_local(&sge, 4, &mut out).unwrap();
        assert_eq!(&out, b"local");
        assert_eq!(
            table.write_local(&sge, 12, b"local"),
            Err(LocalFault::OutOfBounds)
        );
        let too_long = Sge {
            lkey: stag,
            addr: 60,
            len: 8,
        };
        assert_eq!(
            table.check_local(&too_long, LocalAccess::Read, PD),
            Err(LocalFault::OutOfBounds)
        );

        let (ro, ro_stag) = table_with(8, Access::REMOTE_READ);
        let sge = Sge {
            lkey: ro_stag,
            addr: 0,
            len: 8,
        };
        assert_eq!(
            ro.check_local(&sge, LocalAccess::Write, PD),
            Err(LocalFault::AccessRights)
        );
        assert_eq!(ro.check_local(&sge, LocalAccess::Read, PD), Ok(()));

        assert_eq!(MemoryAccess::invalidate(&table, stag, PD), Ok(()));
        assert_eq!(
            table.write_remote(stag, 0, b"x"),
            Err(ProtectionFault::Invalidated)
        );
        assert_eq!(
            table.check_local(
                &Sge {
                    lkey: stag,
                    addr: 0,
                    len: 1
                },
                LocalAccess::Read,
                PD
            ),
            Err(LocalFault::InvalidLkey)
        );
    }

    #[test]
    fn a_reader_that_sees_the_sequence_word_sees_the_payload() {
        const ROUNDS: u64 = 2000;
        let buf = Arc::new(Buffer::zeroed(72));
        let writer = {
            let buf = Arc::clone(&buf);
            std::thread::spawn(move || {
                for seq in 1..=ROUNDS {
                    // Payload first (seven unaligned copies of `seq`), sequence word last.
                    let mut payload = [0u8; 56];
                    for copy in payload.chunks_mut(8) {
                        copy.copy_from_slice(&seq.to_le_bytes());
                    }
                    buf.write(3, &payload).unwrap();
                    buf.store_u64_release(64, seq).unwrap();
                }
            })
        };
        let mut last = 0;
        let mut payload = [0u8; 56];
        while last < ROUNDS {
            let seq = buf.load_u64_acquire(64).unwrap();
            if seq == last {
                assert!(
                    !writer.is_finished() || buf.load_u64_acquire(64).unwrap() != last,
                    "writer stopped early"
                );
                std::thread::yield_now();
                continue;
            }
            buf.read(3, &mut payload).unwrap();
            for copy in payload.chunks(8) {
                let seen = u64::from_le_bytes(copy.try_into().unwrap());
                assert!(
                    seen >= seq,
                    "payload {seen} older than its sequence word {seq}"
                );
            }
            last = seq;
        }
        writer.join().unwrap();
    }
}

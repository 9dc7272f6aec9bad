//! The seam between a [`Connection`](super::Connection) and registered memory: the
//! [`MemoryAccess`] trait the STag table implements, the RFC 5042 §5 protection faults it
//! reports, and [`VecMemory`], a small reference implementation for tests and fuzzing.
//!
//! The connection calls a `check_*` method before it moves a single byte, and only
//! then the matching copy. Implementations must not block, do I/O or allocate on these
//! paths; methods take `&self` because the real table is shared (interior mutability).

use core::cell::RefCell;

/// Identifier of a protection domain, as the connection and the STag table agree on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PdId(pub u32);

/// A local scatter/gather element: `len` bytes at address `addr` of the region `lkey`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Sge {
    /// Local key of the memory region.
    pub lkey: u32,
    /// Start address (tagged offset) inside the region.
    pub addr: u64,
    /// Length in bytes.
    pub len: u32,
}

/// The right a remote peer exercises on a tagged buffer (RFC 5040 §5.1, §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RemoteAccess {
    /// RDMA Read source: the region must grant remote read.
    Read,
    /// RDMA Write sink: the region must grant remote write.
    Write,
}

/// The right the local QP exercises on one of its own SGEs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LocalAccess {
    /// Gathering a Send/Write payload (always granted to the owner).
    Read,
    /// Scattering a received Send or a Read Response (needs local write).
    Write,
}

/// Why a remote access was refused: the cases of RFC 5042 §5 (each maps to an RFC 5040
/// §7 / RFC 5041 §7 Terminate code; see `terminate.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ProtectionFault {
    /// No region has this STag.
    #[error("invalid STag")]
    InvalidStag,
    /// The region belongs to another protection domain than the stream's.
    #[error("STag not associated with this stream's protection domain")]
    PdMismatch,
    /// The region does not grant the right the operation needs.
    #[error("access rights violation")]
    AccessRights,
    /// The access starts before or ends after the region.
    #[error("base or bounds violation")]
    BaseOrBounds,
    /// Tagged offset plus length wraps past 2^64.
    #[error("tagged offset wrap")]
    ToWrap,
    /// The STag was invalidated (RFC 5040 §5.4 / local invalidate).
    #[error("STag was invalidated")]
    Invalidated,
}

/// Why a local SGE could not be used (completes the work request with a local
/// protection error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum LocalFault {
    /// The lkey names no (valid) region.
    #[error("invalid lkey")]
    InvalidLkey,
    /// The region belongs to another protection domain.
    #[error("lkey in another protection domain")]
    PdMismatch,
    /// The region does not grant local write.
    #[error("region lacks local write access")]
    AccessRights,
    /// The SGE does not lie inside the region.
    #[error("SGE outside its region")]
    OutOfBounds,
}

/// Registered memory as a connection sees it. Implemented by the soft backend's STag
/// table; every method is non-blocking and allocation-free.
pub trait MemoryAccess {
    /// Checks a remote access of `len` bytes at `to` through `stag` for a stream in `pd`
    /// (RFC 5042 §5: STag valid, same PD, access right, base and bounds, no wrap).
    fn check_remote(
        &self,
        stag: u32,
        to: u64,
        len: usize,
        access: RemoteAccess,
        pd: PdId,
    ) -> Result<(), ProtectionFault>;

    /// Copies `data` into the region of `stag` at `to` (called after `check_remote`).
    fn write_remote(&self, stag: u32, to: u64, data: &[u8]) -> Result<(), ProtectionFault>;

    /// Copies `out.len()` bytes of the region of `stag` at `to` into `out` (called after
    /// `check_remote`).
    fn read_remote(&self, stag: u32, to: u64, out: &mut [u8]) -> Result<(), ProtectionFault>;

    /// Checks that the whole of `sge` may be used by a QP in `pd` with `access`.
    fn check_local(&self, sge: &Sge, access: LocalAccess, pd: PdId) -> Result<(), LocalFault>;

    /// Copies `out.len()` bytes of `sge`, starting `offset` bytes into it, into `out`.
    fn read_local(&self, sge: &Sge, offset: usize, out: &mut [u8]) -> Result<(), LocalFault>;

    /// Copies `data` into `sge`, starting `offset` bytes into it.
    fn write_local(&self, sge: &Sge, offset: usize, data: &[u8]) -> Result<(), LocalFault>;

    /// Invalidates `stag` for remote access on behalf of a stream in `pd`
    /// (RFC 5040 §5.4, Send with Invalidate).
    fn invalidate(&self, stag: u32, pd: PdId) -> Result<(), ProtectionFault>;
}

/// Rights of a [`VecMemory`] region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VecAccess {
    /// Local write (receive buffers, Read sinks).
    pub local_write: bool,
    /// Remote read (RDMA Read source).
    pub remote_read: bool,
    /// Remote write (RDMA Write sink).
    pub remote_write: bool,
}

impl VecAccess {
    /// Every right.
    pub const ALL: VecAccess = VecAccess {
        local_write: true,
        remote_read: true,
        remote_write: true,
    };
}

/// One region of a [`VecMemory`].
#[derive(Debug)]
struct Region {
    key: u32,
    pd: PdId,
    base: u64,
    access: VecAccess,
    valid: bool,
    bytes: Vec<u8>,
}

/// A `Vec`-backed [`MemoryAccess`] for tests and fuzzing: each region has one key used
/// both as lkey and STag. Allocates only in [`VecMemory::register`].
#[derive(Debug, Default)]
pub struct VecMemory {
    regions: RefCell<Vec<Region>>,
}

impl VecMemory {
    /// An empty table.
    pub fn new() -> VecMemory {
        VecMemory::default()
    }

    /// Registers `len` zero bytes at address `base` in `pd`; returns the key
    /// (`0x100 * (index + 1) | 0x5a`, never 0).
    pub fn register(&self, pd: PdId, base: u64, len: usize, access: VecAccess) -> u32 {
        let mut regions = self.regions.borrow_mut();
        let index = u32::try_from(regions.len()).unwrap_or(u32::MAX >> 8);
        let key = (index.wrapping_add(1) << 8) | 0x5a;
        regions.push(Region {
            key,
            pd,
            base,
            access,
            valid: true,
            bytes: vec![0; len],
        });
        key
    }

    /// A copy of a region's bytes (empty for an unknown key).
    pub fn contents(&self, key: u32) -> Vec<u8> {
        self.regions
            .borrow()
            .iter()
            .find(|r| r.key == key)
            .map(|r| r.bytes.clone())
            .unwrap_or_default()
    }

    /// Overwrites a region's bytes from offset 0 (as much of `data` as fits).
    pub fn fill(&self, key: u32, data: &[u8]) {
        if let Some(region) = self.regions.borrow_mut().iter_mut().find(|r| r.key == key) {
            let n = data.len().min(region.bytes.len());
            if let (Some(dst), Some(src)) = (region.bytes.get_mut(..n), data.get(..n)) {
                dst.copy_from_slice(src);
            }
        }
    }

    /// Runs `f` on the region of `key`, if any.
    fn with<R>(&self, key: u32, f: impl FnOnce(&mut Region) -> R) -> Option<R> {
        self.regions
            .borrow_mut()
            .iter_mut()
            .find(|r| r.key == key)
            .map(f)
    }
}

/// Byte range `[start, start + len)` of a region at `base` with `size` bytes, or the
/// fault that forbids it.
fn span(
    base: u64,
    size: usize,
    at: u64,
    len: usize,
) -> Result<core::ops::Range<usize>, ProtectionFault> {
    let end = at.checked_add(len as u64).ok_or(ProtectionFault::ToWrap)?;
    if at < base || end > base.saturating_add(size as u64) {
        return Err(ProtectionFault::BaseOrBounds);
    }
    let start = usize::try_from(at - base).map_err(|_| ProtectionFault::BaseOrBounds)?;
    Ok(start..start + len)
}

/// The byte range of `offset..offset + len` inside `sge`, as region offsets.
fn local_span(
    region: &Region,
    sge: &Sge,
    offset: usize,
    len: usize,
) -> Result<core::ops::Range<usize>, LocalFault> {
    if offset
        .checked_add(len)
        .is_none_or(|end| end > sge.len as usize)
    {
        return Err(LocalFault::OutOfBounds);
    }
    let at = sge
        .addr
        .checked_add(offset as u64)
        .ok_or(LocalFault::OutOfBounds)?;
    span(region.base, region.bytes.len(), at, len).map_err(|_| LocalFault::OutOfBounds)
}

impl MemoryAccess for VecMemory {
    fn check_remote(
        &self,
        stag: u32,
        to: u64,
        len: usize,
        access: RemoteAccess,
        pd: PdId,
    ) -> Result<(), ProtectionFault> {
        self.with(stag, |r| {
            if !r.valid {
                return Err(ProtectionFault::Invalidated);
            }
            if r.pd != pd {
                return Err(ProtectionFault::PdMismatch);
            }
            let allowed = match access {
                RemoteAccess::Read => r.access.remote_read,
                RemoteAccess::Write => r.access.remote_write,
            };
            if !allowed {
                return Err(ProtectionFault::AccessRights);
            }
            span(r.base, r.bytes.len(), to, len).map(|_| ())
        })
        .unwrap_or(Err(ProtectionFault::InvalidStag))
    }

    fn write_remote(&self, stag: u32, to: u64, data: &[u8]) -> Result<(), ProtectionFault> {
        self.with(stag, |r| {
            let range = span(r.base, r.bytes.len(), to, data.len())?;
            let dst = r
                .bytes
                .get_mut(range)
                .ok_or(ProtectionFault::BaseOrBounds)?;
            dst.copy_from_slice(data);
            Ok(())
        })
        .unwrap_or(Err(ProtectionFault::InvalidStag))
    }

    fn read_remote(&self, stag: u32, to: u64, out: &mut [u8]) -> Result<(), ProtectionFault> {
        self.with(stag, |r| {
            let range = span(r.base, r.bytes.len(), to, out.len())?;
            let src = r.bytes.get(range).ok_or(ProtectionFault::BaseOrBounds)?;
            out.copy_from_slice(src);
            Ok(())
        })
        .unwrap_or(Err(ProtectionFault::InvalidStag))
    }

    fn check_local(&self, sge: &Sge, access: LocalAccess, pd: PdId) -> Result<(), LocalFault> {
        self.with(sge.lkey, |r| {
            if !r.valid {
                return Err(LocalFault::InvalidLkey);
            }
            if r.pd != pd {
                return Err(LocalFault::PdMismatch);
            }
            if access == LocalAccess::Write && !r.access.local_write {
                return Err(LocalFault::AccessRights);
            }
            local_span(r, sge, 0, sge.len as usize).map(|_| ())
        })
        .unwrap_or(Err(LocalFault::InvalidLkey))
    }

    fn read_local(&self, sge: &Sge, offset: usize, out: &mut [u8]) -> Result<(), LocalFault> {
        self.with(sge.lkey, |r| {
            let range = local_span(r, sge, offset, out.len())?;
            let src = r.bytes.get(range).ok_or(LocalFault::OutOfBounds)?;
            out.copy_from_slice(src);
            Ok(())
        })
        .unwrap_or(Err(LocalFault::InvalidLkey))
    }

    fn write_local(&self, sge: &Sge, offset: usize, data: &[u8]) -> Result<(), LocalFault> {
        self.with(sge.lkey, |r| {
            let range = local_span(r, sge, offset, data.len())?;
            let dst = r.bytes.get_mut(range).ok_or(LocalFault::OutOfBounds)?;
            dst.copy_from_slice(data);
            Ok(())
        })
        .unwrap_or(Err(LocalFault::InvalidLkey))
    }

    fn invalidate(&self, stag: u32, pd: PdId) -> Result<(), ProtectionFault> {
        self.with(stag, |r| {
            if !r.valid {
                return Err(ProtectionFault::Invalidated);
            }
            if r.pd != pd {
                return Err(ProtectionFault::PdMismatch);
            }
            r.valid = false;
            Ok(())
        })
        .unwrap_or(Err(ProtectionFault::InvalidStag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PD: PdId = PdId(7);

    #[test]
    fn remote_checks_follow_rfc5042_order() {
        let mem = VecMemory::new();
        let rw = mem.register(PD, 0x1000, 64, VecAccess::ALL);
        let ro = mem.register(
            PD,
            0x2000,
            64,
            VecAccess {
                remote_read: true,
                ..VecAccess::default()
            },
        );
        let w = RemoteAccess::Write;
        assert_eq!(mem.check_remote(rw, 0x1000, 64, w, PD), Ok(()));
        assert_eq!(
            mem.check_remote(0xdead, 0x1000, 1, w, PD),
            Err(ProtectionFault::InvalidStag)
        );
        assert_eq!(
            mem.check_remote(rw, 0x1000, 1, w, PdId(8)),
            Err(ProtectionFault::PdMismatch)
        );
        assert_eq!(
            mem.check_remote(ro, 0x2000, 1, w, PD),
            Err(ProtectionFault::AccessRights)
        );
        assert_eq!(
            mem.check_remote(rw, 0x1001, 64, w, PD),
            Err(ProtectionFault::BaseOrBounds)
        );
        assert_eq!(
            mem.check_remote(rw, 0xfff, 1, w, PD),
            Err(ProtectionFault::BaseOrBounds)
        );
        assert_eq!(
            mem.check_remote(rw, u64::MAX, 2, w, PD),
            Err(ProtectionFault::ToWrap)
        );
        assert_eq!(mem.invalidate(rw, PD), Ok(()));
        assert_eq!(
            mem.check_remote(rw, 0x1000, 1, w, PD),
            Err(ProtectionFault::Invalidated)
        );
    }

    #[test]
    fn local_copies_stay_inside_the_sge() {
        let mem = VecMemory::new();
        let key = mem.register(PD, 0x100, 16, VecAccess::ALL);
        let sge = Sge {
            lkey: key,
            addr: 0x104,
            len: 8,
        };
        assert_eq!(mem.write_local(&sge, 2, b"abc"), Ok(()));
        let mut out = [0u8; 3];
        assert_eq!(mem.read_local(&sge, 2, &mut out), Ok(()));
        assert_eq!(&out, b"abc");
        assert_eq!(
            mem.write_local(&sge, 6, b"abc"),
            Err(LocalFault::OutOfBounds)
        );
        assert_eq!(mem.contents(key).get(6..9), Some(&b"abc"[..]));
        let outside = Sge {
            lkey: key,
            addr: 0x10c,
            len: 8,
        };
        assert_eq!(
            mem.check_local(&outside, LocalAccess::Read, PD),
            Err(LocalFault::OutOfBounds)
        );
    }
}

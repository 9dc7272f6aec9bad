//! Protection domains and registered memory.
//!
//! A hardware region is a page-aligned, zeroed allocation this module owns, registered
//! with `ibv_reg_mr` and freed only after `ibv_dereg_mr`. The device reads and writes
//! it by DMA at any time while the QP runs, so local access follows the contract of
//! [`crate::verbs::MemoryRegion`]: byte copies (`ptr::copy_nonoverlapping`) may see
//! concurrently placed bytes torn; 8-aligned words are read and written with atomic
//! `Acquire`/`Release` operations, and a peer that places its payload before an
//! 8-aligned sequence word lets the reader trust the payload once it sees the word.
//!
//! Tagged offsets are virtual addresses here: `ibv_reg_mr` registers the region at its
//! own address (kernel `siw` ignores a requested IOVA), so an SGE or remote address is
//! `base + offset`, computed by [`Mr::tagged`].
//!
//! This module must not hand out references to the region's bytes: the device writes
//! them behind Rust's back.

use std::alloc::{self, Layout};
use std::fmt;
use std::net::SocketAddr;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rdma_sys as ffi;

use super::cm::{self, Listener};
use super::device::Device;
use super::last_errno;
use super::qp::Qp;
use crate::hw::{Prepare, QpConfig};
use crate::verbs::{Access, CmError, ConnectInfo, ConnectParams, MemError, VerbsError};

/// Alignment of every region (one page on every host we support).
const PAGE: usize = 4096;
/// Bytes of a sequence word.
const WORD: usize = 8;

struct PdShared {
    pd: *mut ffi::ibv_pd,
    dev: Device,
}

// SAFETY: an ibv_pd is a device object usable from any thread.
unsafe impl Send for PdShared {}
// SAFETY: the PD is never mutated through this handle.
unsafe impl Sync for PdShared {}

impl Drop for PdShared {
    fn drop(&mut self) {
        // SAFETY: every MR and QP of this PD holds a clone of the Arc, so none is left.
        unsafe { ffi::ibv_dealloc_pd(self.pd) };
    }
}

/// A protection domain.
#[derive(Clone)]
pub struct Pd(Arc<PdShared>);

impl fmt::Debug for Pd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pd")
            .field("device", &self.0.dev.name())
            .finish()
    }
}

impl Pd {
    pub(super) fn new(dev: &Device) -> Result<Pd, VerbsError> {
        // SAFETY: the context is live for as long as `dev`.
        let pd = unsafe { ffi::ibv_alloc_pd(dev.ctx()) };
        if pd.is_null() {
            return Err(VerbsError::Device {
                call: "ibv_alloc_pd",
                errno: last_errno(),
            });
        }
        Ok(Pd(Arc::new(PdShared {
            pd,
            dev: dev.clone(),
        })))
    }

    pub(super) fn raw(&self) -> *mut ffi::ibv_pd {
        self.0.pd
    }

    pub(super) fn device(&self) -> &Device {
        &self.0.dev
    }

    /// Registers `len` zeroed bytes with `access` rights.
    pub fn alloc_mr(&self, len: usize, access: Access) -> Result<Mr, VerbsError> {
        Mr::new(self, len, access)
    }

    /// Registers a copy of `bytes`.
    pub fn register(&self, bytes: &[u8], access: Access) -> Result<Mr, VerbsError> {
        let mr = Mr::new(self, bytes.len(), access)?;
        mr.write(0, bytes)?;
        Ok(mr)
    }

    /// Listens for connection requests on `addr`.
    pub fn listen(&self, addr: SocketAddr) -> Result<Listener, CmError> {
        Listener::bind(self, addr)
    }

    /// Connects an RC QP to a listener at `addr`.
    pub fn connect(
        &self,
        addr: SocketAddr,
        config: &QpConfig,
        params: &ConnectParams,
        prepare: Prepare<'_>,
    ) -> Result<(Qp, ConnectInfo), CmError> {
        cm::connect(self, addr, config, params, prepare)
    }
}

/// A registered memory region over memory it owns.
pub struct Mr {
    mr: *mut ffi::ibv_mr,
    base: NonNull<u8>,
    layout: Layout,
    len: usize,
    access: Access,
    lkey: u32,
    rkey: u32,
    /// Keeps the PD alive until after deregistration.
    _pd: Pd,
}

// SAFETY: the region is plain memory plus a device handle; every access goes through
// bounds-checked copies or atomic words, as the module docs describe.
unsafe impl Send for Mr {}
// SAFETY: shared access is by copies with the documented tearing contract or by atomics.
unsafe impl Sync for Mr {}

impl fmt::Debug for Mr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mr")
            .field("len", &self.len)
            .field("lkey", &self.lkey)
            .field("rkey", &self.rkey)
            .field("access", &self.access)
            .finish()
    }
}

/// libibverbs access flags for our rights (remote write implies local write, as
/// libibverbs requires).
fn ibv_access(access: Access) -> u32 {
    let mut flags = 0;
    if access.contains(Access::LOCAL_WRITE) || access.contains(Access::REMOTE_WRITE) {
        flags |= ffi::ibv_access_flags::IBV_ACCESS_LOCAL_WRITE.0;
    }
    if access.contains(Access::REMOTE_WRITE) {
        flags |= ffi::ibv_access_flags::IBV_ACCESS_REMOTE_WRITE.0;
    }
    if access.contains(Access::REMOTE_READ) {
        flags |= ffi::ibv_access_flags::IBV_ACCESS_REMOTE_READ.0;
    }
    flags
}

impl Mr {
    fn new(pd: &Pd, len: usize, access: Access) -> Result<Mr, VerbsError> {
        if len == 0 {
            return Err(VerbsError::InvalidParameter(
                "a hardware memory region needs at least one byte",
            ));
        }
        let size = len
            .checked_next_multiple_of(PAGE)
            .ok_or(VerbsError::InvalidParameter("memory region too large"))?;
        let layout = Layout::from_size_align(size, PAGE)
            .map_err(|_| VerbsError::InvalidParameter("memory region too large"))?;
        // SAFETY: `layout` has a non-zero size.
        let base = NonNull::new(unsafe { alloc::alloc_zeroed(layout) }).ok_or(
            VerbsError::InvalidParameter("memory region allocation failed"),
        )?;
        let flags = ibv_access(access) as i32;
        // SAFETY: `base` points to `size >= len` bytes owned by this Mr until after
        // deregistration (Drop); the PD is live.
        let mr = unsafe { ffi::ibv_reg_mr(pd.raw(), base.as_ptr().cast(), len, flags) };
        if mr.is_null() {
            let errno = last_errno();
            // SAFETY: allocated above with the same layout, never registered.
            unsafe { alloc::dealloc(base.as_ptr(), layout) };
            return Err(VerbsError::Device {
                call: "ibv_reg_mr",
                errno,
            });
        }
        // SAFETY: ibv_reg_mr returned a valid MR.
        let (lkey, rkey) = unsafe { ((*mr).lkey, (*mr).rkey) };
        Ok(Mr {
            mr,
            base,
            layout,
            len,
            access,
            lkey,
            rkey,
            _pd: pd.clone(),
        })
    }

    /// The local key.
    pub fn lkey(&self) -> u32 {
        self.lkey
    }

    /// The remote key (STag).
    pub fn rkey(&self) -> u32 {
        self.rkey
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-length region (never: hardware regions have at least one byte).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The rights granted at registration.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The tagged address of `offset` (the region's virtual address plus `offset`).
    pub fn tagged(&self, offset: u64) -> u64 {
        (self.base.as_ptr() as u64).wrapping_add(offset)
    }

    fn check(&self, offset: usize, len: usize) -> Result<(), MemError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(MemError::OutOfBounds {
                offset: offset as u64,
                len: len as u64,
                region_len: self.len,
            }),
        }
    }

    fn word(&self, offset: usize) -> Result<&AtomicU64, MemError> {
        self.check(offset, WORD)?;
        if offset % WORD != 0 {
            return Err(MemError::Misaligned { offset });
        }
        // SAFETY: in bounds (checked) and 8-aligned (base is page-aligned, offset a
        // multiple of 8); AtomicU64 has the layout of u64, and the memory lives as long
        // as `self`. The device writes these bytes by DMA, which atomics tolerate.
        Ok(unsafe { &*self.base.as_ptr().add(offset).cast::<AtomicU64>() })
    }

    /// Copies bytes at `offset` into `dst`.
    pub fn read(&self, offset: usize, dst: &mut [u8]) -> Result<(), MemError> {
        self.check(offset, dst.len())?;
        // SAFETY: the source range is in bounds (checked), `dst` is a distinct Rust
        // buffer; concurrent DMA may tear the copy, as the module contract states.
        unsafe {
            ptr::copy_nonoverlapping(self.base.as_ptr().add(offset), dst.as_mut_ptr(), dst.len())
        };
        std::sync::atomic::fence(Ordering::Acquire);
        Ok(())
    }

    /// Copies `src` into the region at `offset`.
    pub fn write(&self, offset: usize, src: &[u8]) -> Result<(), MemError> {
        self.check(offset, src.len())?;
        std::sync::atomic::fence(Ordering::Release);
        // SAFETY: the destination range is in bounds (checked) and owned by the region;
        // `src` is a distinct Rust buffer.
        unsafe {
            ptr::copy_nonoverlapping(src.as_ptr(), self.base.as_ptr().add(offset), src.len())
        };
        Ok(())
    }

    /// Builds `len` bytes at `offset` in place, in chunks of at most 8 bytes.
    pub fn fill_with(
        &self,
        offset: usize,
        len: usize,
        mut fill: impl FnMut(usize, &mut [u8]),
    ) -> Result<(), MemError> {
        self.check(offset, len)?;
        let mut at = 0;
        while at < len {
            let n = (WORD - (offset + at) % WORD).min(len - at);
            let mut chunk = [0u8; WORD];
            let chunk = &mut chunk[..n];
            fill(at, chunk);
            self.write(offset + at, chunk)?;
            at += n;
        }
        Ok(())
    }

    /// Loads the little-endian word at the 8-aligned `offset` (`Acquire`).
    pub fn load_u64_acquire(&self, offset: usize) -> Result<u64, MemError> {
        Ok(u64::from_le(self.word(offset)?.load(Ordering::Acquire)))
    }

    /// Stores a little-endian word at the 8-aligned `offset` (`Release`).
    pub fn store_u64_release(&self, offset: usize, value: u64) -> Result<(), MemError> {
        self.word(offset)?.store(value.to_le(), Ordering::Release);
        Ok(())
    }
}

impl Drop for Mr {
    fn drop(&mut self) {
        // SAFETY: `mr` is registered exactly once and deregistered here.
        let rc = unsafe { ffi::ibv_dereg_mr(self.mr) };
        if rc == 0 {
            // SAFETY: the device no longer maps the memory; it is freed with the layout
            // it was allocated with. (Should deregistration fail, the memory is leaked
            // rather than freed under a device that may still write it.)
            unsafe { alloc::dealloc(self.base.as_ptr(), self.layout) };
        }
    }
}

//! The userspace soft-iWARP backend: MPA (RFC 5044/6581), DDP (RFC 5041) and RDMAP
//! (RFC 5040) over kernel TCP, wire compatible with Linux `siw` and iWARP RNICs.
//!
//! Layers: [`wire`] (byte layout only), [`proto`] (sans-IO state machines), and the
//! backend glue here: the STag table (`mem`), completion queues (`cq`), connection
//! management over a blocking TCP handshake ([`cm`]), the socket driver ([`driver`]) and
//! queue pairs (`qp`). Only `driver` and `cm` touch sockets; nothing here reads a clock
//! except through `tickwarp_runtime::clock`, and nothing spawns threads.
pub mod cm;
pub(crate) mod cq;
pub mod driver;
pub(crate) mod mem;
pub mod proto;
pub(crate) mod qp;
pub mod wire;

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use mem::{Access, Buffer, MemError, MrTable, PdId};

thread_local! {
    /// Locks taken by this thread (see [`lock_count`]).
    static LOCKS: Cell<u64> = const { Cell::new(0) };
}

/// How many locks this thread has taken in the soft backend so far: QP state locks and
/// STag-table reads and writes (a CQ poll takes none of its own). A plain thread-local
/// counter, so tests and benchmarks can show what a poll costs: take the difference
/// around the calls of interest.
pub fn lock_count() -> u64 {
    LOCKS.with(Cell::get)
}

/// Counts one lock for [`lock_count`].
fn count_lock() {
    LOCKS.with(|n| n.set(n.get().wrapping_add(1)));
}

/// The soft device: the STag table shared by every PD and QP, and id counters.
#[derive(Debug)]
pub(crate) struct Device {
    table: Arc<MrTable>,
    next_pd: AtomicU32,
    next_qp: AtomicU32,
}

impl Device {
    /// A device with an empty STag table.
    pub(crate) fn new() -> Device {
        Device {
            table: Arc::new(MrTable::new()),
            next_pd: AtomicU32::new(1),
            next_qp: AtomicU32::new(1),
        }
    }

    /// A fresh QP number.
    pub(crate) fn next_qp_num(&self) -> u32 {
        self.next_qp.fetch_add(1, Ordering::Relaxed)
    }
}

/// A soft protection domain: a device and an id unique within it.
#[derive(Clone, Debug)]
pub(crate) struct Pd {
    dev: Arc<Device>,
    id: PdId,
}

impl Pd {
    /// Allocates a new PD on `dev`.
    pub(crate) fn new(dev: &Arc<Device>) -> Pd {
        Pd {
            dev: Arc::clone(dev),
            id: PdId(dev.next_pd.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// The PD's id.
    pub(crate) fn id(&self) -> PdId {
        self.id
    }

    /// The device the PD belongs to.
    pub(crate) fn device(&self) -> &Arc<Device> {
        &self.dev
    }

    /// The STag table of the PD's device.
    pub(crate) fn table(&self) -> &Arc<MrTable> {
        &self.dev.table
    }

    /// Registers `len` zeroed bytes.
    pub(crate) fn alloc_mr(&self, len: usize, access: Access) -> Result<Mr, MemError> {
        self.register_buffer(Buffer::zeroed(len), access)
    }

    /// Registers a copy of `bytes`.
    pub(crate) fn register(&self, bytes: &[u8], access: Access) -> Result<Mr, MemError> {
        self.register_buffer(Buffer::from_bytes(bytes), access)
    }

    fn register_buffer(&self, buf: Buffer, access: Access) -> Result<Mr, MemError> {
        let buf = Arc::new(buf);
        let stag = self.dev.table.register(self.id, access, Arc::clone(&buf))?;
        Ok(Mr {
            table: Arc::clone(&self.dev.table),
            stag,
            access,
            buf,
        })
    }
}

/// A soft memory region; deregistered (STag invalid) when dropped.
#[derive(Debug)]
pub(crate) struct Mr {
    table: Arc<MrTable>,
    stag: u32,
    access: Access,
    buf: Arc<Buffer>,
}

impl Mr {
    /// The STag (used as lkey and rkey).
    pub(crate) fn stag(&self) -> u32 {
        self.stag
    }

    /// Rights granted at registration.
    pub(crate) fn access(&self) -> Access {
        self.access
    }

    /// The backing store.
    pub(crate) fn buffer(&self) -> &Buffer {
        &self.buf
    }

    /// False once invalidated by the peer.
    pub(crate) fn is_valid(&self) -> bool {
        self.table.is_valid(self.stag)
    }
}

impl Drop for Mr {
    fn drop(&mut self) {
        // The STag was registered by this handle and only this drop removes it.
        let _ = self.table.deregister(self.stag);
    }
}

//! The verbs API: device, protection domain, memory region, completion queue, RC queue
//! pair, work requests, completions and rdma_cm-style connection management.
//!
//! Shaped like libibverbs + librdmacm so that a hardware backend fits under it unchanged.
//! The backend is chosen at run time by [`Backend`] and dispatched through `enum`s (no
//! `dyn` on the hot path). Posting a work request and polling a completion queue never
//! allocate: queues are fixed at creation ([`QpInit`], [`Device::create_cq`]).
//!
//! Progress: the soft backend has no thread of its own. Polling a [`CompletionQueue`]
//! progresses the QPs attached to it (reads and writes their sockets);
//! [`QueuePair::progress`] does it for one QP (a passive RDMA WRITE target that polls
//! memory), and [`ProgressAgent`] does it for a set of QPs on an agent thread.
//!
//! On hardware ([`Backend::Hardware`], cargo feature `hw`) the device progresses QPs
//! itself: polling a CQ only reads completions and [`QueuePair::progress`] is a no-op.
//! Connection setup ([`ProtectionDomain::connect_prepared`],
//! [`ConnectRequest::accept_prepared`]) posts receives before the connection exists,
//! because a hardware peer may send as soon as it is connected.
//!
//! This module holds no protocol logic and does no I/O itself; it must stay a thin,
//! allocation-free dispatch layer over the backends.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use tickwarp_runtime::Nanos;
use tickwarp_runtime::agent::{Agent, AgentError};
use tracing::{info, warn};

use crate::hw;
use crate::soft;
pub use crate::soft::cm::{
    CmError, ConnectInfo, ConnectParams, CrcPolicy, ListenParams, ListenerStats, MarkerPolicy,
    MpaError, MpaRevision,
};
pub use crate::soft::driver::{FrameTap, TapDirection};
pub use crate::soft::mem::{Access, MemError};
/// The local data of a send work request: registered memory or inline bytes.
pub use crate::soft::proto::conn::Payload;
/// A scatter/gather element: `len` bytes at tagged offset `addr` of the region with
/// local key `lkey` (libibverbs `ibv_sge`); build it with [`MemoryRegion::sge`], which
/// knows whether the backend's offsets are zero-based (soft) or addresses (hardware).
pub use crate::soft::proto::conn::Sge;
use crate::stats::TransportStats;

/// Which implementation serves the verbs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// A hardware verbs device when one is available, else the soft stack.
    #[default]
    Auto,
    /// The userspace soft-iWARP stack over kernel TCP.
    Soft,
    /// A hardware RNIC through libibverbs (cargo feature `hw`).
    Hardware,
}

/// Why a verbs resource could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum VerbsError {
    /// The requested backend is not available in this build or on this host.
    #[error("backend unsupported: {0}")]
    Unsupported(&'static str),
    /// Memory registration was refused.
    #[error("memory registration failed: {0}")]
    Mem(#[from] MemError),
    /// A creation parameter is out of range.
    #[error("invalid parameter {0}")]
    InvalidParameter(&'static str),
    /// A libibverbs/librdmacm call of the hardware backend failed.
    #[error("{call} failed: errno {errno}")]
    Device {
        /// The failing call.
        call: &'static str,
        /// Its `errno`.
        errno: i32,
    },
}

/// Why a work request was not posted (nothing was queued).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum PostError {
    /// The send or receive queue is full.
    #[error("queue full")]
    QueueFull,
    /// More SGEs than the QP's `max_sge`.
    #[error("{have} SGEs, at most {max}")]
    TooManySge {
        /// SGEs in the request.
        have: usize,
        /// `QpInit::max_sge`.
        max: usize,
    },
    /// Inline data longer than the QP's `max_inline`.
    #[error("inline data of {len} bytes, at most {max}")]
    InlineTooLong {
        /// Bytes in the request.
        len: usize,
        /// `QpInit::max_inline`.
        max: usize,
    },
    /// A message longer than the QP's `max_message_size`.
    #[error("message of {len} bytes, at most {max}")]
    MessageTooLong {
        /// Bytes in the request.
        len: u64,
        /// `QpInit::max_message_size`.
        max: u64,
    },
    /// The operation is not available on this QP or backend.
    #[error("operation not supported: {0}")]
    Unsupported(&'static str),
    /// The device refused the work request (`ibv_post_send`/`ibv_post_recv` errno).
    #[error("the device refused the work request: errno {errno}")]
    Rejected {
        /// The provider's error number.
        errno: i32,
    },
}

/// State of an RC queue pair as the application sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QpState {
    /// Connected: work requests are processed (ready to send).
    Rts,
    /// Failed or closed: every outstanding work request completes as flushed.
    Error,
}

/// A verbs device (an RNIC, or the soft stack).
#[derive(Clone, Debug)]
pub struct Device {
    inner: DeviceInner,
}

#[derive(Clone, Debug)]
enum DeviceInner {
    Soft(Arc<soft::Device>),
    /// A hardware device and its default PD (what [`Device::alloc_pd`] falls back to).
    Hw(hw::Device, hw::Pd),
}

impl Device {
    /// Opens a device of the given backend. [`Backend::Auto`] takes the first verbs
    /// device with an active port, else the soft stack, and logs which and why.
    pub fn open(backend: Backend) -> Result<Device, VerbsError> {
        match backend {
            Backend::Soft => Ok(Device::soft()),
            Backend::Hardware => Device::hardware(hw::Device::open()),
            Backend::Auto => Ok(Device::auto(Device::hardware(hw::Device::open()), None)),
        }
    }

    /// Opens a device of the given backend for traffic on the local address `local`.
    /// [`Backend::Hardware`] needs a verbs device that rdma_cm binds `local` to;
    /// [`Backend::Auto`] uses that device when there is one, else the soft stack, and
    /// logs which and why.
    pub fn open_for(backend: Backend, local: IpAddr) -> Result<Device, VerbsError> {
        match backend {
            Backend::Soft => Ok(Device::soft()),
            Backend::Hardware => Device::hardware(hw::Device::open_for(local)),
            Backend::Auto => Ok(Device::auto(
                Device::hardware(hw::Device::open_for(local)),
                Some(local),
            )),
        }
    }

    fn auto(hardware: Result<Device, VerbsError>, local: Option<IpAddr>) -> Device {
        match hardware {
            Ok(dev) => {
                info!(device = dev.name(), ?local, "backend auto: verbs device");
                dev
            }
            Err(why) => {
                info!(%why, ?local, "backend auto: soft iWARP stack");
                Device::soft()
            }
        }
    }

    fn soft() -> Device {
        Device {
            inner: DeviceInner::Soft(Arc::new(soft::Device::new())),
        }
    }

    fn hardware(dev: Result<hw::Device, VerbsError>) -> Result<Device, VerbsError> {
        let dev = dev?;
        let pd = dev.alloc_pd()?;
        Ok(Device {
            inner: DeviceInner::Hw(dev, pd),
        })
    }

    /// The backend actually serving this device (never [`Backend::Auto`]).
    pub fn backend(&self) -> Backend {
        match &self.inner {
            DeviceInner::Soft(_) => Backend::Soft,
            DeviceInner::Hw(..) => Backend::Hardware,
        }
    }

    /// The device name: the verbs device (`siw0`, `mlx5_0`) or `soft-iwarp`.
    pub fn name(&self) -> &str {
        match &self.inner {
            DeviceInner::Soft(_) => SOFT_DEVICE_NAME,
            DeviceInner::Hw(dev, _) => dev.name(),
        }
    }

    /// Allocates a protection domain. Should a hardware device refuse another PD, this
    /// logs the error and returns a handle to the device's default PD (opened with the
    /// device); use [`Device::try_alloc_pd`] to see the error instead.
    pub fn alloc_pd(&self) -> ProtectionDomain {
        match &self.inner {
            DeviceInner::Soft(dev) => ProtectionDomain {
                inner: PdInner::Soft(soft::Pd::new(dev)),
            },
            DeviceInner::Hw(_, default) => self.try_alloc_pd().unwrap_or_else(|e| {
                warn!(error = %e, "ibv_alloc_pd refused; sharing the device's default PD");
                ProtectionDomain {
                    inner: PdInner::Hw(default.clone()),
                }
            }),
        }
    }

    /// Allocates a protection domain, reporting a device's refusal.
    pub fn try_alloc_pd(&self) -> Result<ProtectionDomain, VerbsError> {
        match &self.inner {
            DeviceInner::Soft(dev) => Ok(ProtectionDomain {
                inner: PdInner::Soft(soft::Pd::new(dev)),
            }),
            DeviceInner::Hw(dev, _) => Ok(ProtectionDomain {
                inner: PdInner::Hw(dev.alloc_pd()?),
            }),
        }
    }

    /// Creates a completion queue holding up to `depth` completions.
    pub fn create_cq(&self, depth: usize) -> Result<CompletionQueue, VerbsError> {
        if depth == 0 {
            return Err(VerbsError::InvalidParameter("cq depth must be at least 1"));
        }
        match &self.inner {
            DeviceInner::Soft(_) => Ok(CompletionQueue {
                inner: CqInner::Soft(soft::cq::Cq::new(depth)),
            }),
            DeviceInner::Hw(dev, _) => Ok(CompletionQueue {
                inner: CqInner::Hw(dev.create_cq(depth)?),
            }),
        }
    }
}

/// Name [`Device::name`] and [`list_devices`] give the soft stack.
const SOFT_DEVICE_NAME: &str = "soft-iwarp";

/// One port of a verbs device, as `tickwarp devices` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    /// Port number (from 1).
    pub port: u8,
    /// Port state (`PORT_ACTIVE`, `PORT_DOWN`, ...).
    pub state: String,
    /// The non-zero entries of the GID table (at most 8).
    pub gids: Vec<Ipv6Addr>,
}

/// A device `tickwarp devices` lists: a verbs device or the soft stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Device name (`siw0`, `mlx5_0`, `soft-iwarp`).
    pub name: String,
    /// The backend that would serve it.
    pub backend: Backend,
    /// Transport (`iWARP`, `InfiniBand/RoCE`, ...).
    pub transport: String,
    /// Ports with state and GIDs (none for the soft stack).
    pub ports: Vec<PortInfo>,
    /// Local addresses rdma_cm binds to this device (the soft stack serves any).
    pub addresses: Vec<IpAddr>,
}

/// Lists the verbs devices (with the `hw` feature) and the soft stack, which is always
/// last. A failing device enumeration is logged and leaves only the soft stack.
pub fn list_devices() -> Vec<DeviceInfo> {
    let mut out = match hw::list_devices() {
        Ok(devices) => devices,
        Err(e) => {
            info!(reason = %e, "no verbs devices listed");
            Vec::new()
        }
    };
    out.push(DeviceInfo {
        name: String::from(SOFT_DEVICE_NAME),
        backend: Backend::Soft,
        transport: String::from("iWARP (userspace MPA/DDP/RDMAP over kernel TCP)"),
        ports: Vec::new(),
        addresses: Vec::new(),
    });
    out
}

/// A protection domain: memory regions and QPs of one PD may only reach each other.
#[derive(Clone, Debug)]
pub struct ProtectionDomain {
    inner: PdInner,
}

#[derive(Clone, Debug)]
enum PdInner {
    Soft(soft::Pd),
    Hw(hw::Pd),
}

impl ProtectionDomain {
    /// Registers `len` zeroed bytes with `access` rights (hardware: at least one byte).
    pub fn alloc_mr(&self, len: usize, access: Access) -> Result<MemoryRegion, VerbsError> {
        let inner = match &self.inner {
            PdInner::Soft(pd) => MrInner::Soft(pd.alloc_mr(len, access)?),
            PdInner::Hw(pd) => MrInner::Hw(pd.alloc_mr(len, access)?),
        };
        Ok(MemoryRegion { inner })
    }

    /// Registers a copy of `bytes` (a one-time copy into aligned, shareable memory; the
    /// region is independent of `bytes` afterwards).
    pub fn register(&self, bytes: &[u8], access: Access) -> Result<MemoryRegion, VerbsError> {
        let inner = match &self.inner {
            PdInner::Soft(pd) => MrInner::Soft(pd.register(bytes, access)?),
            PdInner::Hw(pd) => MrInner::Hw(pd.register(bytes, access)?),
        };
        Ok(MemoryRegion { inner })
    }

    /// Starts listening for connection requests on `addr` (port 0 picks a free port).
    pub fn listen(&self, addr: SocketAddr) -> Result<Listener, CmError> {
        self.listen_with(addr, ListenParams::default())
    }

    /// Starts listening on `addr` with explicit responder options (CRC, markers). A
    /// hardware device negotiates MPA itself and ignores `params`.
    pub fn listen_with(&self, addr: SocketAddr, params: ListenParams) -> Result<Listener, CmError> {
        let inner = match &self.inner {
            PdInner::Soft(pd) => {
                ListenerInner::Soft(Box::new(soft::qp::Listener::bind(pd, addr, params)?))
            }
            PdInner::Hw(pd) => ListenerInner::Hw(pd.listen(addr)?),
        };
        Ok(Listener { inner })
    }

    /// Connects an RC QP to a listener at `addr` (MPA initiator); returns the connected
    /// QP and what was negotiated, including the peer's private data.
    pub fn connect(
        &self,
        addr: SocketAddr,
        init: &QpInit<'_>,
        params: &ConnectParams,
    ) -> Result<(QueuePair, ConnectInfo), CmError> {
        self.connect_prepared(addr, init, params, |_| Ok(()))
    }

    /// Like [`ProtectionDomain::connect`], but runs `prepare` on the new QP before the
    /// connection is established: post there the receives the peer's first SENDs need
    /// (a hardware peer may send as soon as it is connected). On a hardware device the
    /// MPA options of `params` (CRC, revision, markers, peer-to-peer) are the device's
    /// business and ignored, `settle` and `timeout` apply, and the private data is
    /// limited to 255 bytes (rdma_cm).
    pub fn connect_prepared(
        &self,
        addr: SocketAddr,
        init: &QpInit<'_>,
        params: &ConnectParams,
        mut prepare: impl FnMut(&QueuePair) -> Result<(), PostError>,
    ) -> Result<(QueuePair, ConnectInfo), CmError> {
        match &self.inner {
            PdInner::Soft(pd) => {
                let (qp, info) = soft::qp::connect(pd, addr, &soft_init(init)?, params)?;
                let qp = QueuePair {
                    inner: QpInner::Soft(qp),
                };
                prepare_soft(&qp, &mut prepare)?;
                Ok((qp, info))
            }
            PdInner::Hw(pd) => {
                let mut hw_prepare = |qp: &hw::Qp| {
                    prepare(&QueuePair {
                        inner: QpInner::Hw(qp.clone()),
                    })
                };
                let (qp, info) = pd.connect(addr, &hw_config(init)?, params, &mut hw_prepare)?;
                Ok((
                    QueuePair {
                        inner: QpInner::Hw(qp),
                    },
                    info,
                ))
            }
        }
    }
}

/// Runs `prepare` on a soft QP, which is not progressed before its first poll, so
/// receives posted here precede every SEND from the peer that this side processes.
fn prepare_soft(
    qp: &QueuePair,
    prepare: &mut impl FnMut(&QueuePair) -> Result<(), PostError>,
) -> Result<(), CmError> {
    prepare(qp).map_err(|e| {
        qp.disconnect();
        CmError::Io(std::io::Error::other(format!(
            "posting before the first progress failed: {e}"
        )))
    })
}

/// A registered memory region; dropping it deregisters it and invalidates its STag.
///
/// Concurrency contract: the memory is shared with the peer as with an RNIC. Remote
/// placement (RDMA WRITE, SEND payload, READ response) may happen at any time while the
/// owner reads or writes; word accesses are atomic, but bytes written concurrently may
/// be seen torn. Synchronise as with hardware: the writer places the payload first and
/// an 8-aligned sequence word last (in its own WRITE); the reader
/// [`MemoryRegion::load_u64_acquire`]s that word, and once it sees the new value every
/// byte placed before it is visible. Sequence words are little-endian on every host.
///
/// Addresses: always build SGEs with [`MemoryRegion::sge`] and advertise
/// [`MemoryRegion::remote`]. The soft stack's tagged offsets are zero-based; a hardware
/// region's are virtual addresses (kernel `siw` and most RNICs register at the
/// buffer's address), so `remote(0).offset` is not 0 there.
#[derive(Debug)]
pub struct MemoryRegion {
    inner: MrInner,
}

#[derive(Debug)]
enum MrInner {
    Soft(soft::Mr),
    Hw(hw::Mr),
}

impl MemoryRegion {
    /// The local key, used in [`Sge`]s.
    pub fn lkey(&self) -> u32 {
        match &self.inner {
            MrInner::Soft(mr) => mr.stag(),
            MrInner::Hw(mr) => mr.lkey(),
        }
    }

    /// The remote key (STag) to advertise to the peer.
    pub fn rkey(&self) -> u32 {
        match &self.inner {
            MrInner::Soft(mr) => mr.stag(),
            MrInner::Hw(mr) => mr.rkey(),
        }
    }

    /// The STag (the same value as [`MemoryRegion::rkey`]).
    pub fn stag(&self) -> u32 {
        self.rkey()
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        match &self.inner {
            MrInner::Soft(mr) => mr.buffer().len(),
            MrInner::Hw(mr) => mr.len(),
        }
    }

    /// True for a zero-length region.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rights granted at registration.
    pub fn access(&self) -> Access {
        match &self.inner {
            MrInner::Soft(mr) => mr.access(),
            MrInner::Hw(mr) => mr.access(),
        }
    }

    /// The tagged offset of byte `offset` of this region (zero-based on the soft stack,
    /// a virtual address on hardware).
    fn tagged(&self, offset: u64) -> u64 {
        match &self.inner {
            MrInner::Soft(_) => offset,
            MrInner::Hw(mr) => mr.tagged(offset),
        }
    }

    /// An SGE covering `len` bytes at `offset` of this region.
    pub fn sge(&self, offset: u64, len: u32) -> Sge {
        Sge {
            lkey: self.lkey(),
            addr: self.tagged(offset),
            len,
        }
    }

    /// The remote address of `offset` in this region, to advertise to the peer.
    pub fn remote(&self, offset: u64) -> RemoteAddr {
        RemoteAddr {
            stag: self.rkey(),
            offset: self.tagged(offset),
        }
    }

    /// Copies bytes at `offset` into `dst`.
    pub fn read(&self, offset: usize, dst: &mut [u8]) -> Result<(), MemError> {
        match &self.inner {
            MrInner::Soft(mr) => mr.buffer().read(offset, dst),
            MrInner::Hw(mr) => mr.read(offset, dst),
        }
    }

    /// Copies `src` into the region at `offset`.
    pub fn write(&self, offset: usize, src: &[u8]) -> Result<(), MemError> {
        match &self.inner {
            MrInner::Soft(mr) => mr.buffer().write(offset, src),
            MrInner::Hw(mr) => mr.write(offset, src),
        }
    }

    /// Builds `len` bytes at `offset` in place: `fill(at, chunk)` writes the chunk that
    /// starts `at` bytes into the range (chunks are at most 8 bytes; no allocation).
    pub fn fill_with(
        &self,
        offset: usize,
        len: usize,
        fill: impl FnMut(usize, &mut [u8]),
    ) -> Result<(), MemError> {
        match &self.inner {
            MrInner::Soft(mr) => mr.buffer().fill_with(offset, len, fill),
            MrInner::Hw(mr) => mr.fill_with(offset, len, fill),
        }
    }

    /// Loads the little-endian word at the 8-aligned `offset` (`Acquire`).
    pub fn load_u64_acquire(&self, offset: usize) -> Result<u64, MemError> {
        match &self.inner {
            MrInner::Soft(mr) => mr.buffer().load_u64_acquire(offset),
            MrInner::Hw(mr) => mr.load_u64_acquire(offset),
        }
    }

    /// Stores a little-endian word at the 8-aligned `offset` (`Release`).
    pub fn store_u64_release(&self, offset: usize, value: u64) -> Result<(), MemError> {
        match &self.inner {
            MrInner::Soft(mr) => mr.buffer().store_u64_release(offset, value),
            MrInner::Hw(mr) => mr.store_u64_release(offset, value),
        }
    }

    /// False once the peer invalidated the STag (Send with Invalidate, RFC 5040 §5.4).
    /// A hardware region reports true while registered: the device does not expose
    /// invalidation of a plain MR (the receiver's completion carries the STag).
    pub fn is_valid(&self) -> bool {
        match &self.inner {
            MrInner::Soft(mr) => mr.is_valid(),
            MrInner::Hw(_) => true,
        }
    }
}

/// A remote buffer: STag and tagged offset as advertised by the peer
/// ([`MemoryRegion::remote`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoteAddr {
    /// The peer's STag (rkey).
    pub stag: u32,
    /// Tagged offset in the peer's region: zero-based on a soft peer, a virtual address
    /// on a hardware peer; add offsets to the advertised value.
    pub offset: u64,
}

/// The operation of a send-queue work request (RFC 5040 §4.3 / §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOp {
    /// SEND: consumes a receive posted by the peer.
    Send,
    /// SEND with Invalidate: also invalidates the peer's region `stag` (RFC 5040 §5.4).
    SendWithInvalidate {
        /// The peer's STag to invalidate.
        stag: u32,
    },
    /// RDMA WRITE of the local SGL into the peer's memory.
    RdmaWrite {
        /// Where the data lands.
        remote: RemoteAddr,
    },
    /// RDMA READ of the peer's memory into the local SGL (which needs LOCAL_WRITE).
    RdmaRead {
        /// Where the data comes from.
        remote: RemoteAddr,
    },
}

/// A send-queue work request. Every send work request produces a completion.
#[derive(Clone, Copy, Debug)]
pub struct SendWr<'a> {
    /// Returned in the completion.
    pub wr_id: u64,
    /// What to do.
    pub op: SendOp,
    /// Local data: registered memory (the source, or the sink of a READ), or inline
    /// bytes copied at post time (at most `max_inline`; not for READ).
    pub payload: Payload<'a>,
    /// SEND only: ask for a solicited event at the peer (RFC 5040 §4.3 Send with SE).
    pub solicited: bool,
}

impl<'a> SendWr<'a> {
    /// A SEND of `sgl`.
    pub fn send(wr_id: u64, sgl: &'a [Sge]) -> SendWr<'a> {
        SendWr {
            wr_id,
            op: SendOp::Send,
            payload: Payload::Sgl(sgl),
            solicited: false,
        }
    }

    /// A SEND of `data`, copied at post time.
    pub fn send_inline(wr_id: u64, data: &'a [u8]) -> SendWr<'a> {
        SendWr {
            wr_id,
            op: SendOp::Send,
            payload: Payload::Inline(data),
            solicited: false,
        }
    }

    /// An RDMA WRITE of `sgl` to `remote`.
    pub fn rdma_write(wr_id: u64, sgl: &'a [Sge], remote: RemoteAddr) -> SendWr<'a> {
        SendWr {
            wr_id,
            op: SendOp::RdmaWrite { remote },
            payload: Payload::Sgl(sgl),
            solicited: false,
        }
    }

    /// An RDMA WRITE of `data` (copied at post time) to `remote`.
    pub fn rdma_write_inline(wr_id: u64, data: &'a [u8], remote: RemoteAddr) -> SendWr<'a> {
        SendWr {
            wr_id,
            op: SendOp::RdmaWrite { remote },
            payload: Payload::Inline(data),
            solicited: false,
        }
    }

    /// An RDMA READ of `remote` into `sink` (one SGE with LOCAL_WRITE).
    pub fn rdma_read(wr_id: u64, sink: &'a [Sge], remote: RemoteAddr) -> SendWr<'a> {
        SendWr {
            wr_id,
            op: SendOp::RdmaRead { remote },
            payload: Payload::Sgl(sink),
            solicited: false,
        }
    }

    /// The same request with the solicited-event flag set.
    pub fn solicited(self) -> SendWr<'a> {
        SendWr {
            solicited: true,
            ..self
        }
    }
}

/// A receive-queue work request: where the payload of one incoming SEND lands.
#[derive(Clone, Copy, Debug)]
pub struct RecvWr<'a> {
    /// Returned in the completion.
    pub wr_id: u64,
    /// Local memory with LOCAL_WRITE rights.
    pub sgl: &'a [Sge],
}

/// What a completion reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WcOpcode {
    /// A SEND (or SEND with Invalidate) finished.
    #[default]
    Send,
    /// An RDMA WRITE finished.
    RdmaWrite,
    /// An RDMA READ finished: the data is in the local SGL.
    RdmaRead,
    /// A SEND from the peer landed in a posted receive.
    Recv,
}

/// Outcome of a work request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WcStatus {
    /// Done.
    #[default]
    Success,
    /// The incoming message did not fit the posted receive.
    LocalLengthError,
    /// A local SGE failed the protection check.
    LocalProtectionError,
    /// The peer refused the remote access (bad STag, rights or bounds).
    RemoteAccessError,
    /// The peer failed the operation.
    RemoteOperationError,
    /// A SEND with Invalidate named an STag the peer could not invalidate.
    RemoteInvalidRequest,
    /// The QP was in or entered the Error state (peer closed, I/O error, Terminate)
    /// before this request completed.
    WrFlushError,
}

/// A work completion (libibverbs `ibv_wc`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Completion {
    /// The work request's `wr_id`.
    pub wr_id: u64,
    /// What finished.
    pub opcode: WcOpcode,
    /// How it finished.
    pub status: WcStatus,
    /// Bytes received (Recv) or transferred.
    pub byte_len: u32,
    /// The QP the work request was posted on.
    pub qp_num: u32,
    /// Recv only: the sender set the solicited-event flag.
    pub solicited: bool,
    /// Recv only: the local STag the sender invalidated (SEND with Invalidate).
    pub invalidated_stag: Option<u32>,
}

/// A completion queue; polling it also progresses the soft QPs attached to it.
#[derive(Clone, Debug)]
pub struct CompletionQueue {
    inner: CqInner,
}

#[derive(Clone, Debug)]
enum CqInner {
    Soft(Arc<soft::cq::Cq>),
    Hw(hw::Cq),
}

impl CompletionQueue {
    /// Progresses the attached QPs (soft), then moves up to `out.len()` completions
    /// into `out`; returns how many. Never blocks, never allocates.
    pub fn poll(&self, out: &mut [Completion]) -> usize {
        match &self.inner {
            CqInner::Soft(cq) => cq.poll(out),
            CqInner::Hw(cq) => cq.poll(out),
        }
    }

    /// The number of completions the queue holds at most.
    pub fn depth(&self) -> usize {
        match &self.inner {
            CqInner::Soft(cq) => cq.depth(),
            CqInner::Hw(cq) => cq.depth(),
        }
    }

    /// True once completions were lost because the queue was full (a fatal CQ overrun).
    pub fn overrun(&self) -> bool {
        match &self.inner {
            CqInner::Soft(cq) => cq.overrun(),
            CqInner::Hw(cq) => cq.overrun(),
        }
    }
}
/// Creation parameters of an RC queue pair (fixed for its lifetime).
#[derive(Clone, Copy, Debug)]
pub struct QpInit<'a> {
    /// Where send-queue completions go.
    pub send_cq: &'a CompletionQueue,
    /// Where receive-queue completions go.
    pub recv_cq: &'a CompletionQueue,
    /// Send-queue slots.
    pub sq_depth: usize,
    /// Receive-queue slots.
    pub rq_depth: usize,
    /// SGEs per work request at most.
    pub max_sge: usize,
    /// Inline bytes per send work request at most.
    pub max_inline: usize,
    /// Bytes per message at most (SEND payload, WRITE or READ length).
    pub max_message_size: u64,
    /// Inbound RDMA READs this side serves concurrently (IRD, RFC 6581).
    pub ird: u16,
    /// Outbound RDMA READs this side issues concurrently (ORD, RFC 6581).
    pub ord: u16,
    /// Optional capture tap on the raw byte stream (MPA handshake included).
    pub tap: Option<&'a Arc<dyn FrameTap>>,
    /// `SO_BUSY_POLL` on the QP's socket in microseconds (Linux; 0 = off).
    pub busy_poll_us: u32,
}

impl<'a> QpInit<'a> {
    /// Defaults suitable for tests and small messages: 64-entry queues, 4 SGEs,
    /// 256 inline bytes, 16 MiB messages, IRD = ORD = 16, no tap, no busy polling.
    pub fn new(send_cq: &'a CompletionQueue, recv_cq: &'a CompletionQueue) -> QpInit<'a> {
        QpInit {
            send_cq,
            recv_cq,
            sq_depth: 64,
            rq_depth: 64,
            max_sge: 4,
            max_inline: 256,
            max_message_size: 16 << 20,
            ird: 16,
            ord: 16,
            tap: None,
            busy_poll_us: 0,
        }
    }
}

/// Translates verbs-level creation parameters for the soft backend.
fn soft_init(init: &QpInit<'_>) -> Result<soft::qp::QpConfig, CmError> {
    let (CqInner::Soft(send_cq), CqInner::Soft(recv_cq)) =
        (&init.send_cq.inner, &init.recv_cq.inner)
    else {
        return Err(CmError::InvalidParameter(
            "completion queues of another backend than the PD's",
        ));
    };
    if init.sq_depth == 0 || init.rq_depth == 0 || init.max_sge == 0 {
        return Err(CmError::InvalidParameter(
            "queue depths and max_sge must be at least 1",
        ));
    }
    Ok(soft::qp::QpConfig {
        send_cq: Arc::clone(send_cq),
        recv_cq: Arc::clone(recv_cq),
        sq_depth: init.sq_depth,
        rq_depth: init.rq_depth,
        max_sge: init.max_sge,
        max_inline: init.max_inline,
        max_message_size: init.max_message_size,
        ird: init.ird,
        ord: init.ord,
        tap: init.tap.cloned(),
        busy_poll_us: init.busy_poll_us,
    })
}

/// Translates verbs-level creation parameters for the hardware backend (the tap and
/// busy polling concern the soft stack's socket and are ignored). Without the `hw`
/// feature the hardware CQs are uninhabited and everything after the match is dead.
#[cfg_attr(not(feature = "hw"), allow(unreachable_code, unused_variables))]
fn hw_config(init: &QpInit<'_>) -> Result<hw::QpConfig, CmError> {
    let (CqInner::Hw(send_cq), CqInner::Hw(recv_cq)) = (&init.send_cq.inner, &init.recv_cq.inner)
    else {
        return Err(CmError::InvalidParameter(
            "completion queues of another backend than the PD's",
        ));
    };
    Ok(hw::QpConfig {
        send_cq: send_cq.clone(),
        recv_cq: recv_cq.clone(),
        sq_depth: init.sq_depth,
        rq_depth: init.rq_depth,
        max_sge: init.max_sge,
        max_inline: init.max_inline,
        max_message_size: init.max_message_size,
        ird: init.ird,
        ord: init.ord,
    })
}

/// A listening endpoint (rdma_cm `rdma_listen`).
#[derive(Debug)]
pub struct Listener {
    inner: ListenerInner,
}

#[derive(Debug)]
enum ListenerInner {
    Soft(Box<soft::qp::Listener>),
    Hw(hw::Listener),
}

impl Listener {
    /// Starts listening on `addr` for QPs in `pd` (same as [`ProtectionDomain::listen`]).
    pub fn bind(pd: &ProtectionDomain, addr: SocketAddr) -> Result<Listener, CmError> {
        pd.listen(addr)
    }

    /// Starts listening with explicit responder options ([`ProtectionDomain::listen_with`]).
    pub fn bind_with(
        pd: &ProtectionDomain,
        addr: SocketAddr,
        params: ListenParams,
    ) -> Result<Listener, CmError> {
        pd.listen_with(addr, params)
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        match &self.inner {
            ListenerInner::Soft(l) => l.local_addr(),
            ListenerInner::Hw(l) => l.local_addr(),
        }
    }

    /// Waits up to `timeout` for a peer's connection request (its MPA Request received);
    /// the caller then accepts or rejects it.
    pub fn accept(&self, timeout: Duration) -> Result<ConnectRequest, CmError> {
        let inner = match &self.inner {
            ListenerInner::Soft(l) => RequestInner::Soft(l.accept(timeout)?),
            ListenerInner::Hw(l) => RequestInner::Hw(l.accept(timeout)?),
        };
        Ok(ConnectRequest { inner })
    }

    /// The soft listener's handshake counters (half-open, timed out, evicted, refused);
    /// all zero on a verbs device, whose kernel runs the handshakes.
    pub fn stats(&self) -> ListenerStats {
        match &self.inner {
            ListenerInner::Soft(l) => l.stats(),
            ListenerInner::Hw(_) => ListenerStats::default(),
        }
    }
}

/// A pending connection request (rdma_cm `RDMA_CM_EVENT_CONNECT_REQUEST`).
#[derive(Debug)]
pub struct ConnectRequest {
    inner: RequestInner,
}

#[derive(Debug)]
enum RequestInner {
    Soft(soft::qp::Request),
    Hw(hw::Request),
}

impl ConnectRequest {
    /// The private data the peer sent with its request.
    pub fn private_data(&self) -> &[u8] {
        match &self.inner {
            RequestInner::Soft(r) => r.private_data(),
            RequestInner::Hw(r) => r.private_data(),
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        match &self.inner {
            RequestInner::Soft(r) => r.peer_addr(),
            RequestInner::Hw(r) => r.peer_addr(),
        }
    }

    /// Accepts: creates the QP and answers with `private_data`.
    pub fn accept(
        self,
        init: &QpInit<'_>,
        private_data: &[u8],
    ) -> Result<(QueuePair, ConnectInfo), CmError> {
        self.accept_prepared(init, private_data, |_| Ok(()))
    }

    /// Like [`ConnectRequest::accept`], but runs `prepare` on the new QP before the
    /// connection is established: post there the receives the peer's first SENDs need.
    pub fn accept_prepared(
        self,
        init: &QpInit<'_>,
        private_data: &[u8],
        mut prepare: impl FnMut(&QueuePair) -> Result<(), PostError>,
    ) -> Result<(QueuePair, ConnectInfo), CmError> {
        match self.inner {
            RequestInner::Soft(r) => {
                let (qp, info) = r.accept(&soft_init(init)?, private_data)?;
                let qp = QueuePair {
                    inner: QpInner::Soft(qp),
                };
                prepare_soft(&qp, &mut prepare)?;
                Ok((qp, info))
            }
            RequestInner::Hw(r) => {
                let mut hw_prepare = |qp: &hw::Qp| {
                    prepare(&QueuePair {
                        inner: QpInner::Hw(qp.clone()),
                    })
                };
                let (qp, info) = r.accept(&hw_config(init)?, private_data, &mut hw_prepare)?;
                Ok((
                    QueuePair {
                        inner: QpInner::Hw(qp),
                    },
                    info,
                ))
            }
        }
    }

    /// Rejects with `reason` as the private data of the reject, then closes.
    pub fn reject(self, reason: &[u8]) -> Result<(), CmError> {
        match self.inner {
            RequestInner::Soft(r) => r.reject(reason),
            RequestInner::Hw(r) => r.reject(reason),
        }
    }
}

/// A connected RC queue pair. Cloning gives another handle to the same QP.
#[derive(Clone, Debug)]
pub struct QueuePair {
    inner: QpInner,
}

#[derive(Clone, Debug)]
enum QpInner {
    Soft(soft::qp::Qp),
    Hw(hw::Qp),
}

impl QueuePair {
    /// The QP number (reported in completions).
    pub fn qp_num(&self) -> u32 {
        match &self.inner {
            QpInner::Soft(qp) => qp.qp_num(),
            QpInner::Hw(qp) => qp.qp_num(),
        }
    }

    /// The current state (hardware: handles a pending disconnect event first).
    pub fn state(&self) -> QpState {
        match &self.inner {
            QpInner::Soft(qp) => qp.state(),
            QpInner::Hw(qp) => qp.state(),
        }
    }

    /// Queues a send-queue work request; never allocates.
    pub fn post_send(&self, wr: &SendWr<'_>) -> Result<(), PostError> {
        match &self.inner {
            QpInner::Soft(qp) => qp.post_send(wr),
            QpInner::Hw(qp) => qp.post_send(wr),
        }
    }

    /// Queues a receive buffer; never allocates.
    pub fn post_recv(&self, wr: &RecvWr<'_>) -> Result<(), PostError> {
        match &self.inner {
            QpInner::Soft(qp) => qp.post_recv(wr),
            QpInner::Hw(qp) => qp.post_recv(wr),
        }
    }

    /// Drives I/O once (reads, places, transmits, completes); returns the work done.
    /// A no-op returning 0 on hardware, where the device progresses by itself.
    pub fn progress(&self) -> usize {
        match &self.inner {
            QpInner::Soft(qp) => qp.progress(),
            QpInner::Hw(_) => 0,
        }
    }

    /// Closes the connection: bytes already queued are written if the socket takes them
    /// now, then the stream is shut down and everything outstanding completes flushed.
    pub fn disconnect(&self) {
        match &self.inner {
            QpInner::Soft(qp) => qp.disconnect(),
            QpInner::Hw(qp) => qp.disconnect(),
        }
    }

    /// Bytes moved and Terminates sent and received on this connection so far (see
    /// [`crate::stats`]); copies a few counters under the QP's lock, never allocates.
    /// `None` on hardware: the RNIC counts in its port counters
    /// (`/sys/class/infiniband/DEV/ports/N/{counters,hw_counters}`), not per QP.
    pub fn transport_stats(&self) -> Option<TransportStats> {
        match &self.inner {
            QpInner::Soft(qp) => Some(qp.stats()),
            QpInner::Hw(_) => None,
        }
    }

    /// True when one RDMA WRITE is placed in address order at the target, the property
    /// [`crate::ring::SeqPlacement::InWrite`] needs: always on the soft stack; on
    /// hardware what `ibv_query_qp_data_in_order` reports (kernel `siw` does not
    /// implement the query and answers no, although it places a stream in order).
    pub fn write_placed_in_order(&self) -> bool {
        match &self.inner {
            QpInner::Soft(_) => true,
            QpInner::Hw(qp) => qp.write_placed_in_order(),
        }
    }
}

/// An [`Agent`] that progresses a set of QPs when nobody polls their CQs.
#[derive(Debug)]
pub struct ProgressAgent {
    name: String,
    qps: Vec<QueuePair>,
}

impl ProgressAgent {
    /// An agent named `name` progressing no QP yet.
    pub fn new(name: impl Into<String>) -> ProgressAgent {
        ProgressAgent {
            name: name.into(),
            qps: Vec::new(),
        }
    }

    /// Adds a QP (set-up time only: this may allocate).
    pub fn add(&mut self, qp: QueuePair) {
        self.qps.push(qp);
    }

    /// Removes the QP numbered `qp_num`; true if it was there.
    pub fn remove(&mut self, qp_num: u32) -> bool {
        let before = self.qps.len();
        self.qps.retain(|qp| qp.qp_num() != qp_num);
        self.qps.len() != before
    }
}

impl Agent for ProgressAgent {
    fn role_name(&self) -> &str {
        &self.name
    }

    fn do_work(&mut self, _now: Nanos) -> Result<usize, AgentError> {
        Ok(self.qps.iter().map(QueuePair::progress).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct Config {
        backend: Backend,
    }

    #[test]
    fn backend_names_are_snake_case() {
        for (text, backend) in [
            ("auto", Backend::Auto),
            ("soft", Backend::Soft),
            ("hardware", Backend::Hardware),
        ] {
            let parsed: Config = toml::from_str(&format!("backend = \"{text}\"")).unwrap();
            assert_eq!(parsed.backend, backend);
            assert_eq!(
                toml::to_string(&parsed).unwrap().trim(),
                format!("backend = \"{text}\"")
            );
        }
        assert!(toml::from_str::<Config>("backend = \"Soft\"").is_err());
    }

    #[test]
    fn open_dispatches_on_backend() {
        assert_eq!(
            Device::open(Backend::Soft).unwrap().backend(),
            Backend::Soft
        );
        assert_eq!(
            Device::open(Backend::Auto).unwrap().backend(),
            Backend::Soft
        );
        assert!(matches!(
            Device::open(Backend::Hardware),
            Err(VerbsError::Unsupported(_))
        ));
        let dev = Device::open(Backend::Soft).unwrap();
        assert_eq!(
            dev.create_cq(0).unwrap_err(),
            VerbsError::InvalidParameter("cq depth must be at least 1")
        );
    }

    #[test]
    fn memory_regions_register_and_deregister() {
        let dev = Device::open(Backend::Soft).unwrap();
        let pd = dev.alloc_pd();
        let mr = pd.register(b"abcdefghij", Access::REMOTE_READ).unwrap();
        assert_eq!(mr.len(), 10);
        assert_eq!(mr.lkey(), mr.rkey());
        assert_ne!(mr.rkey() & 0xff, 0);
        assert_eq!(mr.access(), Access::REMOTE_READ);
        let mut out = [0u8; 4];
        mr.read(3, &mut out).unwrap();
        assert_eq!(&out, b"defg");
        mr.fill_with(0, 3, |at, chunk| {
            chunk
                .iter_mut()
                .enumerate()
                .for_each(|(i, b)| *b = b'x' + (at + i) as u8)
        })
        .unwrap();
        mr.read(0, &mut out).unwrap();
        assert_eq!(&out, b"xyzd");
        assert!(mr.is_valid());
        let sge = mr.sge(2, 4);
        assert_eq!((sge.lkey, sge.addr, sge.len), (mr.lkey(), 2, 4));
        let stag = mr.stag();
        let PdInner::Soft(soft_pd) = &pd.inner else {
            panic!("a soft device gives soft PDs");
        };
        drop(mr);
        assert!(!soft_pd.table().is_valid(stag), "drop deregisters");
    }
}

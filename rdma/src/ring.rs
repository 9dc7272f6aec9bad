//! A lossy single-writer ring in the reader's registered memory, filled by RDMA WRITE:
//! the market-data channel ([`RingWriter`] → [`RingReader`]).
//!
//! The reader allocates the ring in its own memory region (`REMOTE_WRITE`) and hands a
//! [`RingDescriptor`] (STag, offset, slot size and count, sequence placement) to the
//! writer, typically as the private data of its connection request
//! ([`RingReader::connect`] / [`RingWriter::accept`]). The writer never waits for the
//! reader: a reader that falls more than one ring behind is lapped, sees a
//! [`RingPoll::Gap`] and resyncs to the newest message. Nothing is ever delivered torn
//! or stale.
//!
//! # Layout
//!
//! `slot_count` slots (a power of two) of `slot_size` bytes (a multiple of 8) start at
//! the descriptor's `offset`; message `seq` lives in slot `seq & (slot_count - 1)`.
//! Sequence numbers start at 1, so a zero word means "never written". Every word is
//! little-endian.
//!
//! ```text
//!  slot k, at offset + k * slot_size
//!  0          8          12         16                          slot_size-8  slot_size
//!  +----------+----------+----------+---------------------------+------------+
//!  | head seq | len (u32)| reserved |  payload (len bytes,      |  tail seq  |
//!  |   u64    |          |  (zero)  |   capacity = size - 24)   |    u64     |
//!  +----------+----------+----------+---------------------------+------------+
//!   written first                                                written last
//! ```
//!
//! The reader's own state (the next expected sequence) is private to the reading
//! thread; the only shared, hot words are the per-slot head and tail, which live in
//! their slot. Choose `slot_size` as a multiple of the cache line (64 bytes) so that
//! the placer writing slot `k + 1` never shares a line with the reader of slot `k`.
//!
//! # Memory ordering
//!
//! The writer stages head, length, payload and tail in its registered staging memory
//! and places them with [`SeqPlacement::InWrite`] (one RDMA WRITE of the whole slot)
//! or [`SeqPlacement::SeparateWrite`] (a WRITE of head, length and payload, then an
//! 8-byte WRITE of the tail). Either way the reader relies on one property: **the
//! bytes of one slot update become visible in address order, the tail last**. The
//! reader then runs a two-counter seqlock:
//!
//! 1. load the tail (`Acquire`); it must equal the expected `seq` (smaller: nothing
//!    new yet; larger: lapped);
//! 2. load the length and copy the payload out (`Acquire` word loads);
//! 3. load the head (`Acquire`); the copy is intact iff it still equals `seq`.
//!
//! Seeing `tail == seq` means every byte of message `seq` is visible (placement stores
//! are `Release`). If any word copied in step 2 came from a later message `seq + jN`
//! overwriting the slot, that message's head was placed before it, so step 3 sees a
//! head other than `seq` and the read is reported as a gap, never delivered.
//! Re-loading the *tail* instead would not do: an overwrite in progress reaches the
//! tail last, so the tail still says `seq` while the payload is already half new (the
//! concurrency test in `tests/ring.rs` catches exactly that). This is also why
//! [`SeqPlacement::InWrite`] writes the whole slot: the head (first) and the tail
//! (last) sit at fixed offsets and one WRITE must cover both. A tail word split across
//! two DDP segments is compared for equality only: its low-addressed (low-order) bytes
//! are placed first, so a partly placed tail never exceeds its final value and equals
//! `seq` only once placement reached it.
//!
//! Who provides the property:
//! - the soft stack (this crate): one placer per QP consumes the TCP stream in order
//!   and places each DDP segment in address order with `Release` word stores, so both
//!   placements hold;
//! - hardware: RDMA does **not** promise placement order. RFC 5040 §5.5 (Ordering and
//!   Completions) orders message *delivery*, and placement only relative to a later
//!   delivered Send; the InfiniBand spec likewise leaves placement within a message
//!   unordered. Most RNICs do place one WRITE in address order; libibverbs reports it
//!   through `ibv_query_qp_data_in_order(qp, IBV_WR_RDMA_WRITE, 0)` (whole message in
//!   order), valid only for memory not registered with relaxed ordering. Use
//!   [`SeqPlacement::InWrite`] only where that query succeeds.
//!   [`SeqPlacement::SeparateWrite`] relies instead on two WRITEs of one QP being
//!   placed in posting order (true of RNICs that write host memory with ordered PCIe
//!   posted writes, again not promised by the specs); it fails on an adapter that
//!   places WRITEs out of order, e.g. an iWARP RNIC placing reordered TCP segments
//!   directly. Where neither holds, use the lossless
//!   [`crate::channel::MessageChannel`], whose SEND/RECV completions are ordered.
//!
//! # What this module must not do
//!
//! It must not block the writer on the reader, allocate after construction, or hand
//! the application a message it has not validated with the seqlock above. It knows
//! nothing of the payload.

use std::net::SocketAddr;

use thiserror::Error;

use crate::verbs::{
    Access, CmError, Completion, CompletionQueue, ConnectParams, ConnectRequest, Device, MemError,
    MemoryRegion, PostError, ProtectionDomain, QpInit, QpState, QueuePair, RemoteAddr, SendWr,
    VerbsError, WcStatus,
};

/// Offset of the head sequence word in a slot.
const HEAD: usize = 0;
/// Offset of the length word in a slot.
const LEN: usize = 8;
/// Offset of the payload in a slot.
const PAYLOAD: usize = 16;
/// Bytes of a slot that are not payload: head, length and tail words.
const OVERHEAD: usize = 24;
/// Smallest slot: the three words plus 8 payload bytes.
const MIN_SLOT_SIZE: u32 = 32;
/// Largest slot (1 MiB): bounds the staging memory a descriptor from a peer can demand.
const MAX_SLOT_SIZE: u32 = 1 << 20;
/// Largest ring in bytes (1 GiB).
const MAX_RING_BYTES: u64 = 1 << 30;
/// Descriptor layout version written by [`RingDescriptor::to_bytes`].
const DESCRIPTOR_VERSION: u8 = 1;
/// Completions reaped per CQ poll.
const REAP_BATCH: usize = 16;

/// How the writer places the tail sequence word (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SeqPlacement {
    /// One RDMA WRITE of the whole slot, tail included: needs in-order placement
    /// within a WRITE (always true of the soft stack).
    #[default]
    InWrite,
    /// A WRITE of head, length and payload, then an 8-byte WRITE of the tail: needs
    /// in-order placement of successive WRITEs of one QP; moves `len + 24` bytes
    /// instead of the whole slot.
    SeparateWrite,
}

impl SeqPlacement {
    fn code(self) -> u8 {
        match self {
            SeqPlacement::InWrite => 0,
            SeqPlacement::SeparateWrite => 1,
        }
    }

    /// Send work requests per published message.
    fn wrs_per_message(self) -> usize {
        match self {
            SeqPlacement::InWrite => 1,
            SeqPlacement::SeparateWrite => 2,
        }
    }
}

/// Why a [`RingDescriptor`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum DescriptorError {
    /// Fewer bytes than a descriptor.
    #[error("ring descriptor truncated: need {need} bytes, have {have}")]
    Truncated {
        /// [`RingDescriptor::LEN`].
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// An unknown layout version.
    #[error("unsupported ring descriptor version {0}")]
    Version(u8),
    /// An unknown [`SeqPlacement`] code.
    #[error("unknown sequence placement code {0}")]
    Placement(u8),
    /// The reserved bytes are not zero.
    #[error("reserved ring descriptor bytes are not zero")]
    Reserved,
    /// The slot size is not a multiple of 8 in `[32, 1 MiB]`.
    #[error("slot size {0} is not a multiple of 8 in [32, 1048576]")]
    SlotSize(u32),
    /// The slot count is not a power of two of at least 2.
    #[error("slot count {0} is not a power of two of at least 2")]
    SlotCount(u32),
    /// The ring offset is not 8-aligned.
    #[error("ring offset {0} is not 8-byte aligned")]
    Misaligned(u64),
    /// The ring is larger than 1 GiB.
    #[error("ring of {0} bytes is larger than 1 GiB")]
    TooLarge(u64),
}

/// Where a ring lives and how it is written: what the reader advertises to the writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RingDescriptor {
    /// STag of the reader's region.
    pub stag: u32,
    /// Offset of slot 0 in that region (8-aligned).
    pub offset: u64,
    /// Bytes per slot (a multiple of 8, at least 32).
    pub slot_size: u32,
    /// Number of slots (a power of two, at least 2).
    pub slot_count: u32,
    /// How the writer must place the tail word.
    pub placement: SeqPlacement,
}

impl RingDescriptor {
    /// Encoded size in bytes.
    ///
    /// ```text
    ///  0        1          2        4      8         16          20           24
    ///  +--------+----------+--------+------+---------+-----------+------------+
    ///  | version| placement| 0 0    | stag | offset  | slot_size | slot_count |
    ///  +--------+----------+--------+------+---------+-----------+------------+
    ///  integers little-endian
    /// ```
    pub const LEN: usize = 24;

    /// Checks the geometry: what [`RingDescriptor::from_bytes`] enforces.
    pub fn validate(&self) -> Result<(), DescriptorError> {
        if self.slot_size % 8 != 0 || !(MIN_SLOT_SIZE..=MAX_SLOT_SIZE).contains(&self.slot_size) {
            return Err(DescriptorError::SlotSize(self.slot_size));
        }
        if self.slot_count < 2 || !self.slot_count.is_power_of_two() {
            return Err(DescriptorError::SlotCount(self.slot_count));
        }
        if self.offset % 8 != 0 {
            return Err(DescriptorError::Misaligned(self.offset));
        }
        let bytes = self.ring_bytes();
        if bytes > MAX_RING_BYTES {
            return Err(DescriptorError::TooLarge(bytes));
        }
        Ok(())
    }

    /// Payload bytes per message at most (`slot_size - 24`).
    pub fn capacity(&self) -> usize {
        (self.slot_size as usize).saturating_sub(OVERHEAD)
    }

    /// Bytes the slots occupy (`slot_size * slot_count`).
    pub fn ring_bytes(&self) -> u64 {
        u64::from(self.slot_size) * u64::from(self.slot_count)
    }

    /// Encodes the descriptor (layout above).
    pub fn to_bytes(&self) -> [u8; RingDescriptor::LEN] {
        let mut out = [0u8; RingDescriptor::LEN];
        out[0] = DESCRIPTOR_VERSION;
        out[1] = self.placement.code();
        out[4..8].copy_from_slice(&self.stag.to_le_bytes());
        out[8..16].copy_from_slice(&self.offset.to_le_bytes());
        out[16..20].copy_from_slice(&self.slot_size.to_le_bytes());
        out[20..24].copy_from_slice(&self.slot_count.to_le_bytes());
        out
    }

    /// Decodes and validates a descriptor from the first [`RingDescriptor::LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<RingDescriptor, DescriptorError> {
        let Some(b) = bytes.first_chunk::<{ RingDescriptor::LEN }>() else {
            return Err(DescriptorError::Truncated {
                need: RingDescriptor::LEN,
                have: bytes.len(),
            });
        };
        if b[0] != DESCRIPTOR_VERSION {
            return Err(DescriptorError::Version(b[0]));
        }
        if b[2] != 0 || b[3] != 0 {
            return Err(DescriptorError::Reserved);
        }
        let placement = match b[1] {
            0 => SeqPlacement::InWrite,
            1 => SeqPlacement::SeparateWrite,
            other => return Err(DescriptorError::Placement(other)),
        };
        let u32_at = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&b[8..16]);
        let desc = RingDescriptor {
            stag: u32_at(4),
            offset: u64::from_le_bytes(offset),
            slot_size: u32_at(16),
            slot_count: u32_at(20),
            placement,
        };
        desc.validate()?;
        Ok(desc)
    }
}

/// Geometry of a ring the reader allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingConfig {
    /// Bytes per slot (a multiple of 8 in `[32, 1 MiB]`; 64-multiples avoid false sharing).
    pub slot_size: u32,
    /// Number of slots (a power of two, at least 2).
    pub slot_count: u32,
    /// How the writer must place the tail word.
    pub placement: SeqPlacement,
}

impl Default for RingConfig {
    /// 1024 slots of 128 bytes (104 payload bytes), tail placed in the same WRITE.
    fn default() -> RingConfig {
        RingConfig {
            slot_size: 128,
            slot_count: 1024,
            placement: SeqPlacement::InWrite,
        }
    }
}

/// Writer-side resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingWriterConfig {
    /// Send-queue depth: WRITEs in flight at most (the staging memory holds as many
    /// messages as fit this depth).
    pub sq_depth: u32,
    /// CQ polls [`RingWriter::publish`] makes waiting for a free send-queue entry before
    /// it gives up with [`PublishError::SendQueueFull`].
    pub full_polls: u32,
}

impl Default for RingWriterConfig {
    /// 64 WRITEs in flight; 100 000 polls of a full send queue.
    fn default() -> RingWriterConfig {
        RingWriterConfig {
            sq_depth: 64,
            full_polls: 100_000,
        }
    }
}

/// Why a ring could not be set up.
#[derive(Debug, Error)]
pub enum RingError {
    /// The geometry or the peer's descriptor is invalid.
    #[error("ring descriptor: {0}")]
    Descriptor(#[from] DescriptorError),
    /// A verbs resource could not be created.
    #[error("verbs: {0}")]
    Verbs(#[from] VerbsError),
    /// Connection setup failed.
    #[error("connection: {0}")]
    Cm(#[from] CmError),
    /// A writer parameter is out of range.
    #[error("invalid writer parameter: {0}")]
    InvalidParameter(&'static str),
}

/// Why [`RingWriter::publish`] did not publish (the sequence number was not used).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum PublishError {
    /// The payload does not fit a slot.
    #[error("message of {len} bytes, slot capacity {max}")]
    TooLarge {
        /// Payload bytes.
        len: usize,
        /// [`RingDescriptor::capacity`].
        max: usize,
    },
    /// The send queue stayed full for `polls` CQ polls: the transport is not draining
    /// (e.g. a soft-stack reader whose QP nobody progresses).
    #[error("send queue still full after {polls} CQ polls")]
    SendQueueFull {
        /// Polls made.
        polls: u32,
    },
    /// The connection is gone (a WRITE was flushed).
    #[error("ring connection closed")]
    Disconnected,
    /// A WRITE failed at the peer or locally.
    #[error("RDMA WRITE failed: {0:?}")]
    WriteFailed(WcStatus),
    /// The WRITE could not be posted.
    #[error("post: {0}")]
    Post(#[from] PostError),
    /// The staging memory refused an access (a bug: offsets are checked at setup).
    #[error("staging memory: {0}")]
    Memory(#[from] MemError),
}

/// Why [`RingReader::poll`] returned no message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum PollError {
    /// `out` is shorter than the next message; nothing was consumed.
    #[error("message of {need} bytes, buffer of {have}")]
    BufferTooSmall {
        /// Payload bytes of the message.
        need: usize,
        /// `out.len()`.
        have: usize,
    },
    /// The writer published a slot with an impossible length; the message was skipped.
    #[error("message {seq} claims {len} bytes, more than the slot holds")]
    Malformed {
        /// Sequence number of the skipped message.
        seq: u64,
        /// The length word found.
        len: u64,
    },
    /// The ring memory refused an access (a bug: offsets are checked at setup).
    #[error("ring memory: {0}")]
    Memory(#[from] MemError),
}

/// What [`RingReader::poll`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum RingPoll {
    /// Nothing new.
    Empty,
    /// Message `seq` of `len` bytes is in `out[..len]`.
    Message {
        /// Its sequence number.
        seq: u64,
        /// Payload bytes.
        len: usize,
    },
    /// The reader was lapped: messages `expected..found` are lost; the next poll
    /// delivers `found` (the newest message at resync time) or reports a further gap.
    Gap {
        /// The sequence number the reader wanted.
        expected: u64,
        /// The sequence number it resynced to.
        found: u64,
    },
}

/// The publishing side of a ring: RDMA WRITEs from local staging memory into the
/// reader's slots. Owns its QP and CQ (the CQ must serve this QP only).
#[derive(Debug)]
pub struct RingWriter {
    qp: QueuePair,
    cq: CompletionQueue,
    staging: MemoryRegion,
    desc: RingDescriptor,
    /// Staged messages: slots of the staging region, reused round-robin.
    staging_slots: u64,
    /// The next sequence number to publish.
    next_seq: u64,
    sq_depth: usize,
    in_flight: usize,
    full_polls: u32,
    failed: Option<PublishError>,
    completions: [Completion; REAP_BATCH],
}

impl RingWriter {
    /// Builds a writer on a connected QP whose send completions go to `cq` (both used by
    /// this writer only; the QP's send queue holds at least `config.sq_depth` entries).
    pub fn new(
        pd: &ProtectionDomain,
        qp: QueuePair,
        cq: CompletionQueue,
        desc: RingDescriptor,
        config: RingWriterConfig,
    ) -> Result<RingWriter, RingError> {
        let staging_slots = staging_slots(&desc, config)?;
        let sq_depth = config.sq_depth as usize;
        let staging = pd.alloc_mr(staging_slots * desc.slot_size as usize, Access::NONE)?;
        Ok(RingWriter {
            qp,
            cq,
            staging,
            desc,
            staging_slots: staging_slots as u64,
            next_seq: 1,
            sq_depth,
            in_flight: 0,
            full_polls: config.full_polls,
            failed: None,
            completions: [Completion::default(); REAP_BATCH],
        })
    }

    /// Accepts a reader's connection request whose private data is its
    /// [`RingDescriptor`] (rejecting it with a reason when it is not); creates the CQ
    /// and QP on `dev`/`pd`.
    pub fn accept(
        dev: &Device,
        pd: &ProtectionDomain,
        request: ConnectRequest,
        config: RingWriterConfig,
    ) -> Result<RingWriter, RingError> {
        let desc = match RingDescriptor::from_bytes(request.private_data()) {
            Ok(desc) => desc,
            Err(e) => {
                request.reject(b"invalid ring descriptor")?;
                return Err(e.into());
            }
        };
        staging_slots(&desc, config)?;
        let sq_depth = config.sq_depth as usize;
        let cq = dev.create_cq(sq_depth)?;
        let init = QpInit {
            sq_depth,
            rq_depth: 1,
            ..QpInit::new(&cq, &cq)
        };
        let (qp, _) = request.accept(&init, &[])?;
        RingWriter::new(pd, qp, cq, desc, config)
    }

    /// The ring this writer fills.
    pub fn descriptor(&self) -> RingDescriptor {
        self.desc
    }

    /// The sequence number the next [`RingWriter::publish`] will use.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// WRITEs posted and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Publishes `payload` as the next message and returns its sequence number. Never
    /// waits for the reader; waits (polling the CQ, at most `full_polls` times) only
    /// for a free send-queue entry. Never allocates.
    pub fn publish(&mut self, payload: &[u8]) -> Result<u64, PublishError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let max = self.desc.capacity();
        if payload.len() > max {
            return Err(PublishError::TooLarge {
                len: payload.len(),
                max,
            });
        }
        let per_msg = self.desc.placement.wrs_per_message();
        let mut polls = 0u32;
        while self.in_flight + per_msg > self.sq_depth {
            if polls == self.full_polls {
                return Err(PublishError::SendQueueFull { polls });
            }
            polls += 1;
            self.reap()?;
        }
        let seq = self.next_seq;
        let slot_size = self.desc.slot_size as usize;
        let stage = (seq % self.staging_slots) as usize * slot_size;
        self.staging.store_u64_release(stage + HEAD, seq)?;
        self.staging
            .store_u64_release(stage + LEN, payload.len() as u64)?;
        self.staging.write(stage + PAYLOAD, payload)?;
        self.staging.store_u64_release(stage + slot_size - 8, seq)?;
        let slot = seq & u64::from(self.desc.slot_count - 1);
        let remote_slot = self.desc.offset + slot * u64::from(self.desc.slot_size);
        let remote = |at: usize| RemoteAddr {
            stag: self.desc.stag,
            offset: remote_slot + at as u64,
        };
        match self.desc.placement {
            SeqPlacement::InWrite => {
                let sgl = [self.staging.sge(stage as u64, self.desc.slot_size)];
                self.qp
                    .post_send(&SendWr::rdma_write(seq, &sgl, remote(0)))?;
            }
            SeqPlacement::SeparateWrite => {
                let body = [self
                    .staging
                    .sge(stage as u64, (PAYLOAD + payload.len()) as u32)];
                let tail = [self.staging.sge((stage + slot_size - 8) as u64, 8)];
                self.qp
                    .post_send(&SendWr::rdma_write(seq, &body, remote(0)))?;
                self.in_flight += 1;
                // Should the tail not follow, the slot keeps its old tail (the reader
                // sees nothing) and the next publish rewrites the slot with this `seq`.
                self.qp
                    .post_send(&SendWr::rdma_write(seq, &tail, remote(slot_size - 8)))?;
            }
        }
        self.in_flight += 1;
        self.next_seq += 1;
        // Transmits (soft backend) and reaps what finished.
        self.reap()?;
        Ok(seq)
    }

    /// Polls the CQ once: progresses the QP and retires finished WRITEs. Returns how
    /// many finished.
    pub fn reap(&mut self) -> Result<usize, PublishError> {
        let n = self.cq.poll(&mut self.completions);
        for c in self.completions.iter().take(n) {
            self.in_flight = self.in_flight.saturating_sub(1);
            if c.status != WcStatus::Success && self.failed.is_none() {
                self.failed = Some(match c.status {
                    WcStatus::WrFlushError => PublishError::Disconnected,
                    other => PublishError::WriteFailed(other),
                });
            }
        }
        match self.failed {
            Some(err) => Err(err),
            None => Ok(n),
        }
    }

    /// Closes the connection; later publishes fail with [`PublishError::Disconnected`].
    pub fn disconnect(&mut self) {
        self.qp.disconnect();
        self.failed.get_or_insert(PublishError::Disconnected);
    }
}

/// Checks a writer configuration against a descriptor; returns the number of staging
/// slots (messages in flight at most).
fn staging_slots(desc: &RingDescriptor, config: RingWriterConfig) -> Result<usize, RingError> {
    desc.validate()?;
    let per_msg = desc.placement.wrs_per_message();
    if (config.sq_depth as usize) < per_msg {
        return Err(RingError::InvalidParameter(
            "sq_depth must hold the WRITEs of one message",
        ));
    }
    if config.full_polls == 0 {
        return Err(RingError::InvalidParameter("full_polls must be at least 1"));
    }
    Ok(config.sq_depth as usize / per_msg)
}

/// The consuming side of a ring: owns the ring memory and busy-polls it.
#[derive(Debug)]
pub struct RingReader {
    mr: MemoryRegion,
    qp: Option<QueuePair>,
    desc: RingDescriptor,
    base: usize,
    slot_size: usize,
    mask: u64,
    /// The sequence number the next poll looks for.
    next: u64,
}

impl RingReader {
    /// Allocates a zeroed ring (`REMOTE_WRITE`) in `pd`; connect it with
    /// [`RingReader::attach`] or use [`RingReader::connect`].
    pub fn new(pd: &ProtectionDomain, config: RingConfig) -> Result<RingReader, RingError> {
        let mut desc = RingDescriptor {
            stag: 0,
            offset: 0,
            slot_size: config.slot_size,
            slot_count: config.slot_count,
            placement: config.placement,
        };
        desc.validate()?;
        let mr = pd.alloc_mr(desc.ring_bytes() as usize, Access::REMOTE_WRITE)?;
        desc.stag = mr.rkey();
        // Zero on the soft stack; the region's address on hardware (tagged offsets are
        // virtual addresses there).
        desc.offset = mr.remote(0).offset;
        Ok(RingReader {
            mr,
            qp: None,
            desc,
            base: 0,
            slot_size: config.slot_size as usize,
            mask: u64::from(config.slot_count - 1),
            next: 1,
        })
    }

    /// Allocates a ring and connects to a writer at `addr`, sending the descriptor as
    /// private data (any private data in `params` is replaced); the reader then drives
    /// the QP's progress itself.
    pub fn connect(
        dev: &Device,
        pd: &ProtectionDomain,
        addr: SocketAddr,
        config: RingConfig,
        params: &ConnectParams,
    ) -> Result<RingReader, RingError> {
        let mut reader = RingReader::new(pd, config)?;
        let cq = dev.create_cq(1)?;
        let init = QpInit {
            sq_depth: 1,
            rq_depth: 1,
            ..QpInit::new(&cq, &cq)
        };
        // Peer-to-peer setup (RFC 6581): the writer, as responder, sends first, which
        // plain RFC 5044 setup forbids until the initiator (this reader, which never
        // sends) has sent an FPDU; the RTR is that FPDU.
        let params = ConnectParams {
            private_data: reader.desc.to_bytes().to_vec(),
            p2p: true,
            ..params.clone()
        };
        let (qp, _) = pd.connect(addr, &init, &params)?;
        reader.attach(qp);
        Ok(reader)
    }

    /// The descriptor to hand to the writer.
    pub fn descriptor(&self) -> RingDescriptor {
        self.desc
    }

    /// Payload bytes per message at most: an `out` buffer this long always suffices.
    pub fn capacity(&self) -> usize {
        self.desc.capacity()
    }

    /// Makes [`RingReader::poll`] progress `qp` when nothing new is visible (soft
    /// backend: a passive WRITE target that nobody else progresses).
    pub fn attach(&mut self, qp: QueuePair) {
        self.qp = Some(qp);
    }

    /// Stops progressing the attached QP and returns it (e.g. to hand it to a
    /// [`crate::verbs::ProgressAgent`] on another thread).
    pub fn detach(&mut self) -> Option<QueuePair> {
        self.qp.take()
    }

    /// The sequence number the next poll looks for.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// False once the attached QP failed or closed (messages already placed can still
    /// be polled); true when no QP is attached.
    pub fn is_connected(&self) -> bool {
        self.qp.as_ref().is_none_or(|qp| qp.state() == QpState::Rts)
    }

    /// The newest sequence number visible in the ring, 0 when none (scans every slot:
    /// for monitoring the reader's lag, not for the hot path).
    pub fn newest_seq(&self) -> Result<u64, PollError> {
        let mut newest = 0;
        for index in 0..=self.mask {
            let tail = self.tail_of(index)?;
            if tail & self.mask == index {
                newest = newest.max(tail);
            }
        }
        Ok(newest)
    }

    /// Looks for the next message; copies it into `out` when it is there. Drives the
    /// attached QP's progress once when nothing new is visible. Never blocks or allocates.
    pub fn poll(&mut self, out: &mut [u8]) -> Result<RingPoll, PollError> {
        match self.read_next(out)? {
            RingPoll::Empty => {}
            found => return Ok(found),
        }
        match &self.qp {
            Some(qp) if qp.progress() > 0 => self.read_next(out),
            _ => Ok(RingPoll::Empty),
        }
    }

    /// The two-counter seqlock read of slot `next` (module docs).
    fn read_next(&mut self, out: &mut [u8]) -> Result<RingPoll, PollError> {
        let seq = self.next;
        let slot = self.slot_offset(seq);
        let tail = self.mr.load_u64_acquire(slot + self.slot_size - 8)?;
        if tail < seq {
            return Ok(RingPoll::Empty);
        }
        if tail > seq {
            return self.resync();
        }
        let len_word = self.mr.load_u64_acquire(slot + LEN)?;
        let len = usize::try_from(len_word)
            .ok()
            .filter(|len| *len <= self.desc.capacity());
        let Some(len) = len else {
            if self.mr.load_u64_acquire(slot + HEAD)? != seq {
                return self.resync();
            }
            self.next += 1;
            return Err(PollError::Malformed { seq, len: len_word });
        };
        let Some(dst) = out.get_mut(..len) else {
            if self.mr.load_u64_acquire(slot + HEAD)? != seq {
                return self.resync();
            }
            return Err(PollError::BufferTooSmall {
                need: len,
                have: out.len(),
            });
        };
        self.mr.read(slot + PAYLOAD, dst)?;
        if self.mr.load_u64_acquire(slot + HEAD)? != seq {
            return self.resync();
        }
        self.next += 1;
        Ok(RingPoll::Message { seq, len })
    }

    /// Lapped: jumps to the newest message in the ring (the largest tail that belongs to
    /// its slot). A slot whose tail does not belong to it (a faulty writer) is skipped.
    fn resync(&mut self) -> Result<RingPoll, PollError> {
        let expected = self.next;
        let newest = self.newest_seq()?;
        let found = if newest > expected {
            newest
        } else {
            expected + 1
        };
        self.next = found;
        Ok(RingPoll::Gap { expected, found })
    }

    /// The tail word of slot `index`.
    fn tail_of(&self, index: u64) -> Result<u64, MemError> {
        self.mr
            .load_u64_acquire(self.base + (index as usize + 1) * self.slot_size - 8)
    }

    /// Offset of the slot of `seq` in the region.
    fn slot_offset(&self, seq: u64) -> usize {
        self.base + (seq & self.mask) as usize * self.slot_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verbs::Backend;
    use proptest::prelude::*;

    fn desc() -> RingDescriptor {
        RingDescriptor {
            stag: 0x1234_5678,
            offset: 64,
            slot_size: 128,
            slot_count: 16,
            placement: SeqPlacement::SeparateWrite,
        }
    }

    #[test]
    fn descriptor_layout_is_fixed() {
        let bytes = desc().to_bytes();
        assert_eq!(
            bytes,
            [
                1, 1, 0, 0, 0x78, 0x56, 0x34, 0x12, 64, 0, 0, 0, 0, 0, 0, 0, 128, 0, 0, 0, 16, 0,
                0, 0
            ]
        );
        assert_eq!(RingDescriptor::from_bytes(&bytes), Ok(desc()));
        assert_eq!(desc().capacity(), 104);
    }

    #[test]
    fn descriptor_refuses_bad_geometry() {
        let bad = |f: fn(&mut RingDescriptor)| {
            let mut d = desc();
            f(&mut d);
            RingDescriptor::from_bytes(&d.to_bytes())
        };
        assert_eq!(
            bad(|d| d.slot_size = 100),
            Err(DescriptorError::SlotSize(100))
        );
        assert_eq!(
            bad(|d| d.slot_size = 24),
            Err(DescriptorError::SlotSize(24))
        );
        assert_eq!(
            bad(|d| d.slot_count = 12),
            Err(DescriptorError::SlotCount(12))
        );
        assert_eq!(
            bad(|d| d.slot_count = 1),
            Err(DescriptorError::SlotCount(1))
        );
        assert_eq!(bad(|d| d.offset = 4), Err(DescriptorError::Misaligned(4)));
        assert_eq!(
            bad(|d| {
                d.slot_size = 1 << 20;
                d.slot_count = 2048;
            }),
            Err(DescriptorError::TooLarge(1 << 31))
        );
        let mut bytes = desc().to_bytes();
        bytes[0] = 2;
        assert_eq!(
            RingDescriptor::from_bytes(&bytes),
            Err(DescriptorError::Version(2))
        );
        bytes[0] = 1;
        bytes[1] = 7;
        assert_eq!(
            RingDescriptor::from_bytes(&bytes),
            Err(DescriptorError::Placement(7))
        );
        assert_eq!(
            RingDescriptor::from_bytes(&bytes[..10]),
            Err(DescriptorError::Truncated { need: 24, have: 10 })
        );
    }

    /// Writes message `seq` into a local reader's ring by hand, as the placer would.
    fn place(reader: &RingReader, seq: u64, payload: &[u8]) {
        let slot = reader.slot_offset(seq);
        let mr = &reader.mr;
        mr.store_u64_release(slot + HEAD, seq).unwrap();
        mr.store_u64_release(slot + LEN, payload.len() as u64)
            .unwrap();
        mr.write(slot + PAYLOAD, payload).unwrap();
        mr.store_u64_release(slot + reader.slot_size - 8, seq)
            .unwrap();
    }

    fn local_reader(slot_count: u32) -> RingReader {
        let dev = Device::open(Backend::Soft).unwrap();
        let pd = dev.alloc_pd();
        RingReader::new(
            &pd,
            RingConfig {
                slot_size: 64,
                slot_count,
                placement: SeqPlacement::InWrite,
            },
        )
        .unwrap()
    }

    #[test]
    fn reader_delivers_in_order_and_reports_laps() {
        let mut reader = local_reader(4);
        let mut out = [0u8; 40];
        assert_eq!(reader.poll(&mut out), Ok(RingPoll::Empty));
        place(&reader, 1, b"one");
        place(&reader, 2, b"two!");
        assert_eq!(
            reader.poll(&mut out),
            Ok(RingPoll::Message { seq: 1, len: 3 })
        );
        assert_eq!(&out[..3], b"one");
        assert_eq!(
            reader.poll(&mut out),
            Ok(RingPoll::Message { seq: 2, len: 4 })
        );
        assert_eq!(reader.poll(&mut out), Ok(RingPoll::Empty));
        for seq in 3..=9 {
            place(&reader, seq, &[seq as u8; 8]);
        }
        // Slot 3 holds 7: lapped; the newest message is 9.
        assert_eq!(
            reader.poll(&mut out),
            Ok(RingPoll::Gap {
                expected: 3,
                found: 9
            })
        );
        assert_eq!(
            reader.poll(&mut out),
            Ok(RingPoll::Message { seq: 9, len: 8 })
        );
        assert_eq!(out[..8], [9; 8]);
    }

    #[test]
    fn an_overwrite_in_progress_is_a_gap_not_a_torn_message() {
        let mut reader = local_reader(4);
        let mut out = [0u8; 40];
        place(&reader, 1, b"original");
        // Message 5 has started to overwrite slot 1: head and part of the payload are
        // placed, the tail still says 1.
        let slot = reader.slot_offset(5);
        reader.mr.store_u64_release(slot + HEAD, 5).unwrap();
        reader.mr.write(slot + PAYLOAD, b"new").unwrap();
        assert_eq!(
            reader.poll(&mut out),
            Ok(RingPoll::Gap {
                expected: 1,
                found: 2
            })
        );
        assert_eq!(reader.poll(&mut out), Ok(RingPoll::Empty));
    }

    #[test]
    fn malformed_and_oversized_messages_are_typed_errors() {
        let mut reader = local_reader(4);
        place(&reader, 1, &[7; 40]);
        let mut small = [0u8; 8];
        assert_eq!(
            reader.poll(&mut small),
            Err(PollError::BufferTooSmall { need: 40, have: 8 })
        );
        let mut out = [0u8; 40];
        assert_eq!(
            reader.poll(&mut out),
            Ok(RingPoll::Message { seq: 1, len: 40 })
        );
        place(&reader, 2, b"x");
        let slot = reader.slot_offset(2);
        reader.mr.store_u64_release(slot + LEN, 1000).unwrap();
        assert_eq!(
            reader.poll(&mut out),
            Err(PollError::Malformed { seq: 2, len: 1000 })
        );
        assert_eq!(reader.next_seq(), 3);
    }

    proptest! {
        #[test]
        fn descriptor_round_trips(
            stag in any::<u32>(),
            offset in (0u64..1 << 40).prop_map(|o| o * 8),
            size_words in 4u32..=(MAX_SLOT_SIZE / 8),
            count_log in 1u32..16,
            separate in any::<bool>(),
        ) {
            let d = RingDescriptor {
                stag,
                offset,
                slot_size: size_words * 8,
                slot_count: 1 << count_log,
                placement: if separate { SeqPlacement::SeparateWrite } else { SeqPlacement::InWrite },
            };
            match d.validate() {
                Ok(()) => prop_assert_eq!(RingDescriptor::from_bytes(&d.to_bytes()), Ok(d)),
                Err(e) => prop_assert_eq!(RingDescriptor::from_bytes(&d.to_bytes()), Err(e)),
            }
        }

        #[test]
        fn descriptor_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(d) = RingDescriptor::from_bytes(&bytes) {
                prop_assert_eq!(&d.to_bytes()[..], &bytes[..RingDescriptor::LEN]);
            }
        }
    }
}

//! The sans-IO RDMAP/DDP data path of one RC queue pair after MPA negotiation
//! (RFC 5040 RDMAP, RFC 5041 DDP, RFC 5044 FPDU framing, RFC 5042 §5 protection).
//!
//! A [`Connection`] turns posted work requests into complete FPDUs
//! ([`Connection::poll_transmit`]), turns a TCP byte stream split anywhere into
//! placements and completions ([`Connection::handle_bytes`]), answers the peer's RDMA
//! Reads, enforces IRD/ORD, checks every remote access against registered memory
//! through [`MemoryAccess`] **before** a byte is placed, and ends a stream that breaks
//! a rule with an RFC 5040 §4.8 Terminate carrying the RFC's error code.
//!
//! It must not do I/O, read clocks or allocate after [`Connection::new`]: every queue is
//! a fixed ring sized by [`ConnConfig`], and output goes only into buffers the caller
//! supplies. The driver owns the socket and the MPA handshake.
//!
//! # Completion rules (software iWARP over TCP)
//!
//! * Send and RDMA Write complete when `poll_transmit` has handed their last byte to
//!   the caller's buffer: TCP then owns delivery, exactly as kernel `siw` does. A later
//!   Terminate is reported through [`ConnEvent`] and fails outstanding work.
//! * RDMA Read completes when the last byte of its Read Response has been placed.
//! * Receive completes when the last segment (`L` set) of a Send has been placed;
//!   `byte_len` is its `MO` + length (RFC 5041 §5.3).
//! * Send-queue completions are reported in posting order: a Send posted after an
//!   outstanding Read completes after that Read.
//! * On any error the QP moves to Error and every outstanding work request completes,
//!   in order, with [`CompletionStatus::WrFlushError`] (the one that failed first carries
//!   the failure). Work posted in Error completes the same way.
//!
//! # Protection and Terminate causes
//!
//! Nothing is placed before the whole FPDU has arrived, its CRC (when negotiated)
//! matched and the access passed [`MemoryAccess::check_remote`]. A refused segment is
//! answered with a Terminate (untagged, QN 2) copying its MPA length and DDP header
//! (`HdrCt` M, D) and, for a Read Request, its RDMA header (R):
//!
//! | what went wrong | Terminate (layer / etype / code) |
//! | --- | --- |
//! | CRC mismatch | LLP/MPA 2/0/0x02 |
//! | Write: bad or invalidated STag, bounds, other PD, TO wrap | DDP tagged 1/1/0x00, 0x01, 0x02, 0x03 |
//! | Write: region lacks remote write (DDP has no code) | RDMAP protection 0/1/0x02 |
//! | Read Request: same checks for remote read | RDMAP protection 0/1/0x00–0x04 |
//! | Send: no posted receive; more Read Requests than IRD | DDP untagged 1/2/0x02 |
//! | wrong MSN / QN / MO, message longer than the receive | DDP untagged 1/2/0x03, 0x01, 0x04, 0x05 |
//! | DDP or RDMAP version, unknown or misplaced opcode | DDP 1/1/0x04 or 1/2/0x06, RDMAP 0/2/0x05, 0x06 |
//! | Send with Invalidate of an STag that cannot be invalidated | RDMAP operation 0/2/0x09 |
//! | Read Response not matching the oldest outstanding Read | DDP tagged 1/1/0x00 or 0x01 |
//!
//! # Ready-to-receive (RFC 6581 §3)
//!
//! [`Connection::send_rtr`] sends a zero-length RDMA Write (STag 1, TO 0, as kernel
//! `siw` does; never STag 0) or a zero-length Read Request whose zero-length response is
//! absorbed without a completion. A zero-length Write or Read places or reads nothing,
//! so no STag is checked for it (no tagged buffer is accessed, RFC 5041 §7.2); the first
//! such FPDU of the stream is reported as [`ConnEvent::RtrReceived`].
//!
//! ORD: a Read waits in the send queue (and so does everything posted after it) while
//! `ord` Reads are outstanding; it is not an error. IRD: a Read Request beyond `ird`
//! outstanding is a protocol violation and terminates the stream.

mod memory;
mod ring;
mod rx;
mod terminate;
mod tx;

#[cfg(test)]
mod pair;
#[cfg(test)]
mod tests;

pub use memory::{
    LocalAccess, LocalFault, MemoryAccess, PdId, ProtectionFault, RemoteAccess, Sge, VecAccess,
    VecMemory,
};
pub use terminate::TermCause;

use crate::soft::wire::mpa;
use crate::soft::wire::rdmap::MpaErrorCode;
use ring::Ring;
use terminate::TermOut;

/// Most scatter/gather elements one work request may carry.
pub const MAX_SGE: usize = 4;

/// Smallest MULPDU a connection accepts: room for a Terminate carrying a full untagged
/// DDP header and an RDMA Read Request header (RFC 5040 §4.8).
pub const MIN_MULPDU: usize = 72;

/// Parameters of one connection, fixed at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnConfig {
    /// CRC32c negotiated by MPA (RFC 5044 §4.4); when off the field is sent as 0 and
    /// not checked.
    pub crc: bool,
    /// Largest ULPDU (DDP header + payload) per FPDU this side sends (RFC 5044 §4.3).
    pub mulpdu: usize,
    /// Send-queue depth: work requests posted and not yet polled as completions.
    pub sq_depth: usize,
    /// Receive-queue depth.
    pub rq_depth: usize,
    /// Inbound RDMA Read Requests the peer may have outstanding (RFC 6581 IRD).
    pub ird: usize,
    /// Outbound RDMA Read Requests this side keeps outstanding (RFC 6581 ORD).
    pub ord: usize,
    /// Largest Send, Write or Read message in bytes.
    pub max_message_size: u32,
    /// Most SGEs per work request (at most [`MAX_SGE`]).
    pub max_sge: usize,
    /// Largest inline payload, copied at post time into a per-slot buffer.
    pub max_inline: usize,
    /// Protection domain of the QP: remote accesses must name regions of this PD.
    pub pd: PdId,
}

impl ConnConfig {
    /// Defaults for one QP in `pd`: no CRC, MULPDU for a 1460-byte MSS, 64-deep queues,
    /// IRD = ORD = 16, 1 MiB messages, 4 SGEs, 128 inline bytes.
    pub fn new(pd: PdId) -> ConnConfig {
        ConnConfig {
            crc: false,
            mulpdu: mpa::mulpdu(1460, false),
            sq_depth: 64,
            rq_depth: 64,
            ird: 16,
            ord: 16,
            max_message_size: 1 << 20,
            max_sge: MAX_SGE,
            max_inline: 128,
            pd,
        }
    }
}

/// Why a [`ConnConfig`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// MULPDU must lie in `MIN_MULPDU..=65535` (the 16-bit MPA length field).
    #[error("MULPDU {0} outside {MIN_MULPDU}..=65535")]
    Mulpdu(usize),
    /// `max_sge` must lie in `1..=MAX_SGE`.
    #[error("max_sge {0} outside 1..={MAX_SGE}")]
    MaxSge(usize),
    /// Queue depths must be at least 1.
    #[error("a send or receive queue depth is 0")]
    ZeroDepth,
}

/// What a send work request does (RFC 5040 §4.3 opcodes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SendOp {
    /// Send.
    Send,
    /// Send with Solicited Event.
    SendSe,
    /// Send with Invalidate of the peer's `inv_stag`.
    SendInv {
        /// STag the peer invalidates on delivery.
        inv_stag: u32,
    },
    /// Send with Solicited Event and Invalidate.
    SendSeInv {
        /// STag the peer invalidates on delivery.
        inv_stag: u32,
    },
    /// RDMA Write of the local payload to `remote_stag` at `remote_to`.
    Write {
        /// Data sink STag.
        remote_stag: u32,
        /// Data sink tagged offset.
        remote_to: u64,
    },
    /// RDMA Read of the peer's `remote_stag` at `remote_to` into the single local SGE.
    Read {
        /// Data source STag.
        remote_stag: u32,
        /// Data source tagged offset.
        remote_to: u64,
    },
}

/// The local data of a send work request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    /// Gathered from registered memory when transmitted (a Read's sink: one SGE or none).
    Sgl(&'a [Sge]),
    /// Copied into the send slot at post time (not for Read).
    Inline(&'a [u8]),
}

/// A send work request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendRequest<'a> {
    /// Caller's identifier, returned in the completion.
    pub wr_id: u64,
    /// The operation.
    pub op: SendOp,
    /// Local data (source, or sink for Read).
    pub payload: Payload<'a>,
}

/// A receive work request: where the next Send is placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvRequest<'a> {
    /// Caller's identifier, returned in the completion.
    pub wr_id: u64,
    /// Buffers filled in order.
    pub sges: &'a [Sge],
}

/// Why a work request was not posted (nothing was queued).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The queue holds `depth` requests whose completions have not been polled.
    #[error("queue full")]
    QueueFull,
    /// More SGEs than `max_sge`.
    #[error("{given} SGEs, at most {max}")]
    TooManySge {
        /// SGEs in the request.
        given: usize,
        /// The configured limit.
        max: usize,
    },
    /// Inline payload longer than `max_inline`.
    #[error("inline payload of {len} bytes, at most {max}")]
    InlineTooLong {
        /// Payload length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// An RDMA Read needs a registered sink, not inline data.
    #[error("RDMA Read with inline payload")]
    InlineRead,
    /// An RDMA Read names at most one sink SGE.
    #[error("RDMA Read with {0} sink SGEs (at most 1)")]
    ReadSinkSge(usize),
    /// Message longer than `max_message_size`.
    #[error("message of {len} bytes, at most {max}")]
    MessageTooLong {
        /// Total length of the SGEs.
        len: u64,
        /// The configured limit.
        max: u32,
    },
}

/// The operation a completion reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WcOpcode {
    /// A Send of any flavour.
    Send,
    /// An RDMA Write.
    Write,
    /// An RDMA Read.
    Read,
    /// A received Send.
    Recv,
    /// A received Send with Invalidate (the STag is in `invalidated_stag`).
    RecvWithInvalidate,
}

/// How a work request ended (libibverbs `ibv_wc_status` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompletionStatus {
    /// Done.
    Success,
    /// A received message did not fit the posted buffers.
    LocalLengthError,
    /// An SGE named memory the QP may not use.
    LocalProtectionError,
    /// The peer refused an access (a Terminate with a protection error).
    RemoteAccessError,
    /// The peer failed the operation (a Terminate with an operation error).
    RemoteOperationError,
    /// A Send with Invalidate named an STag that could not be invalidated.
    RemoteInvalidateError,
    /// The QP was in or moved to Error before the request completed.
    WrFlushError,
}

/// One completed work request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Completion {
    /// The request's identifier.
    pub wr_id: u64,
    /// What it was.
    pub opcode: WcOpcode,
    /// How it ended.
    pub status: CompletionStatus,
    /// Bytes sent, read or received.
    pub byte_len: u32,
    /// A received Send asked for a solicited event.
    pub solicited: bool,
    /// STag invalidated by a received Send with Invalidate.
    pub invalidated_stag: Option<u32>,
}

/// The kind of an RFC 6581 ready-to-receive message: the type MPA setup negotiated (a
/// zero-length RDMA Write — kernel `siw` sends STag 1, TO 0 — or a zero-length RDMA Read
/// Request, answered by a zero-length Read Response).
pub use crate::soft::proto::mpa_setup::RtrType as RtrKind;

/// Something the driver or application should know about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnEvent {
    /// The peer's first FPDU was an RFC 6581 ready-to-receive message.
    RtrReceived(RtrKind),
    /// This side sent a Terminate; the stream should be closed after flushing it.
    TerminateSent(TermCause),
    /// The peer sent a Terminate.
    TerminateReceived(TermCause),
    /// The QP moved to Error (emitted once).
    EnteredError,
}

/// Why `handle_bytes` stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    /// The peer's stream broke a rule; a Terminate with this cause is queued for
    /// `poll_transmit` and the QP is in Error.
    #[error("protocol violation by peer: {0:?}")]
    Violation(TermCause),
    /// The peer sent a Terminate; the QP is in Error.
    #[error("peer terminated: {0:?}")]
    TerminateReceived(TermCause),
    /// The QP is in Error; input is ignored.
    #[error("connection is in the Error state")]
    InError,
}

/// Queue-pair state as far as the data path is concerned (RFC 5040 §6 "Error").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Ready to send and receive.
    Rts,
    /// Terminated or failed; only a queued Terminate is still sent.
    Error,
}

/// Progress of one send-queue slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    /// Not (completely) handed to the transport yet.
    Queued,
    /// A Read Request was sent; waiting for its Read Response.
    AwaitingResponse,
    /// Finished with this status; completes when every older slot has.
    Done(CompletionStatus),
}

/// A send-queue slot; the inline buffer is allocated once and reused.
#[derive(Debug)]
struct SqSlot {
    wr_id: u64,
    op: SendOp,
    sges: [Sge; MAX_SGE],
    nsge: usize,
    inline: Box<[u8]>,
    is_inline: bool,
    len: u32,
    sent: u32,
    checked: bool,
    state: SlotState,
}

/// A receive-queue slot.
#[derive(Clone, Copy, Debug, Default)]
struct RqSlot {
    wr_id: u64,
    sges: [Sge; MAX_SGE],
    nsge: usize,
    len: u64,
}

/// An RDMA Read this side has requested (ORQ entry).
#[derive(Clone, Copy, Debug, Default)]
struct OrqEntry {
    /// Absolute send-queue sequence of the Read; `None` for an RTR.
    sq_seq: Option<u64>,
    sink: Sge,
    received: u32,
}

/// An RDMA Read the peer requested (IRQ entry), answered by Read Response segments.
#[derive(Clone, Copy, Debug, Default)]
struct IrqEntry {
    sink_stag: u32,
    sink_to: u64,
    len: u32,
    src_stag: u32,
    src_to: u64,
    sent: u32,
}

/// The message `poll_transmit` is in the middle of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxCur {
    /// None: the next message is chosen afresh.
    Idle,
    /// The send-queue slot at `sq_tx`.
    Sq,
    /// The Read Response at the head of the IRQ.
    ReadResponse,
}

/// Untagged queue numbers (RFC 5040 §5.1).
const QN_SEND: usize = 0;
const QN_READ_REQUEST: usize = 1;
const QN_TERMINATE: usize = 2;

/// Capacity of the event queue: RTR, Terminate sent/received and EnteredError happen at
/// most once each.
const EVENT_CAPACITY: usize = 8;

/// A sans-IO RDMAP/DDP endpoint for one RC queue pair (see the module docs).
pub struct Connection {
    cfg: ConnConfig,
    state: State,
    sq: Ring<SqSlot>,
    /// Relative index (from the SQ front) of the first slot not fully transmitted.
    sq_tx: usize,
    /// Absolute sequence number of the SQ front slot.
    sq_seq: u64,
    /// Send requests posted whose completions have not been polled.
    sq_unpolled: usize,
    rq: Ring<RqSlot>,
    rq_unpolled: usize,
    orq: Ring<OrqEntry>,
    irq: Ring<IrqEntry>,
    /// Next MSN to send, per untagged queue (RFC 5041 §5.1: starts at 1).
    tx_msn: [u32; 3],
    tx_cur: TxCur,
    rtr_tx: Option<RtrKind>,
    term_tx: Option<TermOut>,
    /// Next expected MSN, per untagged queue.
    rx_msn: [u32; 3],
    /// The head receive has taken the first segment of the current Send.
    rx_send_started: bool,
    /// At least one FPDU was received (RTR detection).
    rx_seen: bool,
    /// Reassembly of one FPDU split across `handle_bytes` calls.
    rx_buf: Box<[u8]>,
    rx_len: usize,
    cq: Ring<Completion>,
    events: Ring<ConnEvent>,
    /// The Terminate this side sent (RFC 5040 §6: at most one, the stream's last).
    term_sent: Option<TermCause>,
    /// The Terminate the peer sent.
    term_received: Option<TermCause>,
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The queues' slots and the 64 KiB reassembly buffer are left out.
        f.debug_struct("Connection")
            .field("state", &self.state)
            .field("sq", &self.sq.len())
            .field("sq_tx", &self.sq_tx)
            .field("rq", &self.rq.len())
            .field("orq", &self.orq.len())
            .field("irq", &self.irq.len())
            .field("tx_msn", &self.tx_msn)
            .field("rx_msn", &self.rx_msn)
            .field("rx_len", &self.rx_len)
            .field("completions", &self.cq.len())
            .finish_non_exhaustive()
    }
}

/// An empty completion, used to preallocate the completion ring.
const NO_COMPLETION: Completion = Completion {
    wr_id: 0,
    opcode: WcOpcode::Send,
    status: CompletionStatus::Success,
    byte_len: 0,
    solicited: false,
    invalidated_stag: None,
};

impl Connection {
    /// A connection in RTS with every queue allocated (the only allocation it does).
    pub fn new(cfg: ConnConfig) -> Result<Connection, ConfigError> {
        if !(MIN_MULPDU..=usize::from(u16::MAX)).contains(&cfg.mulpdu) {
            return Err(ConfigError::Mulpdu(cfg.mulpdu));
        }
        if !(1..=MAX_SGE).contains(&cfg.max_sge) {
            return Err(ConfigError::MaxSge(cfg.max_sge));
        }
        if cfg.sq_depth == 0 || cfg.rq_depth == 0 {
            return Err(ConfigError::ZeroDepth);
        }
        let inline = cfg.max_inline;
        Ok(Connection {
            cfg,
            state: State::Rts,
            sq: Ring::new(cfg.sq_depth, || SqSlot {
                wr_id: 0,
                op: SendOp::Send,
                sges: [Sge::default(); MAX_SGE],
                nsge: 0,
                inline: vec![0; inline].into_boxed_slice(),
                is_inline: false,
                len: 0,
                sent: 0,
                checked: false,
                state: SlotState::Queued,
            }),
            sq_tx: 0,
            sq_seq: 0,
            sq_unpolled: 0,
            rq: Ring::new(cfg.rq_depth, RqSlot::default),
            rq_unpolled: 0,
            // One extra ORQ slot for our own Read RTR.
            orq: Ring::new(cfg.ord + 1, OrqEntry::default),
            irq: Ring::new(cfg.ird, IrqEntry::default),
            tx_msn: [1; 3],
            tx_cur: TxCur::Idle,
            rtr_tx: None,
            term_tx: None,
            rx_msn: [1; 3],
            rx_send_started: false,
            rx_seen: false,
            rx_buf: vec![0; mpa::fpdu_len(usize::from(u16::MAX))].into_boxed_slice(),
            rx_len: 0,
            cq: Ring::new(cfg.sq_depth + cfg.rq_depth, || NO_COMPLETION),
            events: Ring::new(EVENT_CAPACITY, || ConnEvent::EnteredError),
            term_sent: None,
            term_received: None,
        })
    }

    /// The configuration the connection was created with.
    pub fn config(&self) -> &ConnConfig {
        &self.cfg
    }

    /// The Terminate this side sent (written for transmission), if any.
    pub fn terminate_sent(&self) -> Option<TermCause> {
        self.term_sent
    }

    /// The Terminate the peer sent, if any.
    pub fn terminate_received(&self) -> Option<TermCause> {
        self.term_received
    }

    /// True once the QP is in Error (terminated, failed or closed).
    pub fn is_error(&self) -> bool {
        self.state == State::Error
    }

    /// Queues a send work request (RFC 5040 §5). Copies inline data now; never
    /// allocates. In Error the request completes at once with `WrFlushError`.
    pub fn post_send(&mut self, wr: &SendRequest<'_>) -> Result<(), PostError> {
        if self.sq_unpolled >= self.cfg.sq_depth {
            return Err(PostError::QueueFull);
        }
        let (sges, inline): (&[Sge], Option<&[u8]>) = match wr.payload {
            Payload::Sgl(sges) => (sges, None),
            Payload::Inline(data) => (&[], Some(data)),
        };
        if sges.len() > self.cfg.max_sge {
            return Err(PostError::TooManySge {
                given: sges.len(),
                max: self.cfg.max_sge,
            });
        }
        if let SendOp::Read { .. } = wr.op {
            if inline.is_some() {
                return Err(PostError::InlineRead);
            }
            if sges.len() > 1 {
                return Err(PostError::ReadSinkSge(sges.len()));
            }
        }
        let len: u64 = match inline {
            Some(data) if data.len() > self.cfg.max_inline => {
                return Err(PostError::InlineTooLong {
                    len: data.len(),
                    max: self.cfg.max_inline,
                });
            }
            Some(data) => data.len() as u64,
            None => sges.iter().map(|s| u64::from(s.len)).sum(),
        };
        let len = u32::try_from(len)
            .ok()
            .filter(|l| *l <= self.cfg.max_message_size)
            .ok_or(PostError::MessageTooLong {
                len,
                max: self.cfg.max_message_size,
            })?;
        if self.state == State::Error {
            self.sq_unpolled += 1;
            self.cq.push(Completion {
                wr_id: wr.wr_id,
                opcode: op_kind(wr.op),
                status: CompletionStatus::WrFlushError,
                byte_len: 0,
                solicited: false,
                invalidated_stag: None,
            });
            return Ok(());
        }
        let pushed = self.sq.push_with(|slot| {
            slot.wr_id = wr.wr_id;
            slot.op = wr.op;
            slot.nsge = sges.len();
            for (dst, src) in slot.sges.iter_mut().zip(sges) {
                *dst = *src;
            }
            slot.is_inline = inline.is_some();
            if let Some(dst) = inline.and_then(|d| Some((slot.inline.get_mut(..d.len())?, d))) {
                dst.0.copy_from_slice(dst.1);
            }
            slot.len = len;
            slot.sent = 0;
            slot.checked = false;
            slot.state = SlotState::Queued;
        });
        if !pushed {
            return Err(PostError::QueueFull);
        }
        self.sq_unpolled += 1;
        Ok(())
    }

    /// Queues a receive work request for the next untagged Send (RFC 5041 §5.3).
    /// In Error it completes at once with `WrFlushError`.
    pub fn post_recv(&mut self, wr: &RecvRequest<'_>) -> Result<(), PostError> {
        if self.rq_unpolled >= self.cfg.rq_depth {
            return Err(PostError::QueueFull);
        }
        if wr.sges.len() > self.cfg.max_sge {
            return Err(PostError::TooManySge {
                given: wr.sges.len(),
                max: self.cfg.max_sge,
            });
        }
        if self.state == State::Error {
            self.rq_unpolled += 1;
            self.cq.push(flushed_recv(wr.wr_id));
            return Ok(());
        }
        let pushed = self.rq.push_with(|slot| {
            slot.wr_id = wr.wr_id;
            slot.nsge = wr.sges.len();
            for (dst, src) in slot.sges.iter_mut().zip(wr.sges) {
                *dst = *src;
            }
            slot.len = wr.sges.iter().map(|s| u64::from(s.len)).sum();
        });
        if !pushed {
            return Err(PostError::QueueFull);
        }
        self.rq_unpolled += 1;
        Ok(())
    }

    /// Queues an RFC 6581 ready-to-receive message, sent before any other FPDU of the
    /// send queue. A Write RTR uses STag 1 (never 0), TO 0, no payload.
    pub fn send_rtr(&mut self, kind: RtrKind) {
        if self.state == State::Rts {
            self.rtr_tx = Some(kind);
        }
    }

    /// The next completion, oldest first.
    #[must_use]
    pub fn poll_completion(&mut self) -> Option<Completion> {
        let c = self.cq.pop()?;
        match c.opcode {
            WcOpcode::Recv | WcOpcode::RecvWithInvalidate => {
                self.rq_unpolled = self.rq_unpolled.saturating_sub(1);
            }
            WcOpcode::Send | WcOpcode::Write | WcOpcode::Read => {
                self.sq_unpolled = self.sq_unpolled.saturating_sub(1);
            }
        }
        Some(c)
    }

    /// True when [`Connection::poll_completion`] has something to return.
    pub fn has_completion(&self) -> bool {
        !self.cq.is_empty()
    }

    /// The next event, oldest first.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ConnEvent> {
        self.events.pop()
    }

    /// True when `poll_transmit` has something to send.
    pub fn wants_transmit(&self) -> bool {
        if self.term_tx.is_some() {
            return true;
        }
        self.state == State::Rts
            && (self.rtr_tx.is_some()
                || !self.irq.is_empty()
                || self.sq_tx < self.sq.len() && !self.read_blocked_by_ord())
    }

    /// The lower-layer stream closed or failed (no Terminate can be sent): moves to
    /// Error and flushes every outstanding work request.
    pub fn handle_stream_closed(&mut self) {
        self.term_tx = None;
        self.enter_error(None);
    }

    /// The MPA framing below this connection (the marker stripper, RFC 5044 §5) found
    /// the stream broken — a bad marker or a CRC mismatch over marked bytes — so no
    /// segment could be parsed: queues a Terminate with that MPA error code (RFC 5044
    /// §8, no headers copied), moves to Error and flushes, like any other violation.
    pub fn handle_framing_error(&mut self, code: MpaErrorCode) -> ConnError {
        if self.state != State::Rts {
            return ConnError::InError;
        }
        let cause = TermCause::Mpa(code);
        self.term_tx = Some(TermOut::local(cause));
        self.enter_error(None);
        ConnError::Violation(cause)
    }

    /// True when the next send-queue slot is a Read and ORD Reads are outstanding.
    fn read_blocked_by_ord(&self) -> bool {
        match self.sq.get(self.sq_tx) {
            Some(slot) => {
                matches!(slot.op, SendOp::Read { .. }) && self.orq_user_reads() >= self.cfg.ord
            }
            None => false,
        }
    }

    /// Outstanding Reads issued from the send queue (the RTR slot does not count).
    fn orq_user_reads(&self) -> usize {
        (0..self.orq.len())
            .filter(|i| self.orq.get(*i).is_some_and(|e| e.sq_seq.is_some()))
            .count()
    }

    /// Pushes an event; the ring is sized so that this never overflows.
    fn push_event(&mut self, event: ConnEvent) {
        let _ = self.events.push(event);
    }

    /// Completes every leading send-queue slot that is done (posting order).
    fn drain_sq(&mut self) {
        while let Some(slot) = self.sq.front() {
            let SlotState::Done(status) = slot.state else {
                break;
            };
            let c = Completion {
                wr_id: slot.wr_id,
                opcode: op_kind(slot.op),
                status,
                byte_len: if status == CompletionStatus::Success {
                    slot.len
                } else {
                    0
                },
                solicited: false,
                invalidated_stag: None,
            };
            self.cq.push(c);
            self.sq.pop_front();
            self.sq_seq += 1;
            self.sq_tx = self.sq_tx.saturating_sub(1);
        }
    }

    /// Moves to Error (RFC 5040 §6): the first send-queue slot that is not done gets
    /// `sq_status` (if given), every other outstanding request `WrFlushError`, in order.
    fn enter_error(&mut self, sq_status: Option<CompletionStatus>) {
        if self.state == State::Error {
            return;
        }
        self.state = State::Error;
        let mut first = sq_status;
        for i in 0..self.sq.len() {
            if let Some(slot) = self.sq.get_mut(i) {
                slot.state = match slot.state {
                    // A failure recorded on this slot is kept.
                    SlotState::Done(status) if status != CompletionStatus::Success => {
                        SlotState::Done(status)
                    }
                    // A request on the wire (a Read awaiting its response, a message
                    // partly sent) is the one a received Terminate refers to.
                    SlotState::AwaitingResponse | SlotState::Queued
                        if slot.state == SlotState::AwaitingResponse || slot.sent > 0 =>
                    {
                        SlotState::Done(first.take().unwrap_or(CompletionStatus::WrFlushError))
                    }
                    _ => SlotState::Done(CompletionStatus::WrFlushError),
                };
            }
        }
        self.drain_sq();
        self.flush_rq(None);
        while self.orq.pop().is_some() {}
        while self.irq.pop().is_some() {}
        self.tx_cur = TxCur::Idle;
        self.rtr_tx = None;
        self.rx_len = 0;
        self.push_event(ConnEvent::EnteredError);
    }

    /// Completes every posted receive: the head one with `head_status` if given, the
    /// rest with `WrFlushError`.
    fn flush_rq(&mut self, head_status: Option<CompletionStatus>) {
        let mut first = head_status;
        while let Some(slot) = self.rq.pop() {
            let mut c = flushed_recv(slot.wr_id);
            if let Some(status) = first.take() {
                c.status = status;
            }
            self.cq.push(c);
        }
        self.rx_send_started = false;
    }
}

/// The completion opcode of a send operation.
fn op_kind(op: SendOp) -> WcOpcode {
    match op {
        SendOp::Send | SendOp::SendSe | SendOp::SendInv { .. } | SendOp::SendSeInv { .. } => {
            WcOpcode::Send
        }
        SendOp::Write { .. } => WcOpcode::Write,
        SendOp::Read { .. } => WcOpcode::Read,
    }
}

/// A receive completed with `WrFlushError`.
fn flushed_recv(wr_id: u64) -> Completion {
    Completion {
        wr_id,
        opcode: WcOpcode::Recv,
        status: CompletionStatus::WrFlushError,
        byte_len: 0,
        solicited: false,
        invalidated_stag: None,
    }
}

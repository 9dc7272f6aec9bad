//! A lossless, ordered, bidirectional message channel over one RC queue pair:
//! SEND/RECV into pre-posted receive slots with credit-based flow control
//! ([`MessageChannel`]), the channel for orders and executions.
//!
//! # Protocol
//!
//! Each side registers `slots` (K) receive slots of `slot_size` bytes and posts all of
//! them before its QP is first progressed. The parameters travel in the connection's
//! private data ([`ChannelParams`], both directions), so each side knows how many
//! receives the peer has posted (its initial credits) and how large a message the peer
//! takes. The initiator asks for RFC 6581 peer-to-peer setup, so the responder sends
//! nothing before the initiator's ready-to-receive message, i.e. before the
//! initiator's receives are posted; the responder posts its receives before it first
//! progresses its QP, so the initiator's first SEND always finds one. (A hardware
//! backend gets the same guarantee by posting receives between creating the QP and
//! accepting, as rdma_cm applications do.)
//!
//! Every SEND carries an 8-byte header in front of the payload:
//!
//! ```text
//!  0                4        5                 8
//!  +----------------+--------+-----------------+------------------+
//!  | credits (u32)  |  kind  |  reserved (0)   |  payload ...     |
//!  +----------------+--------+-----------------+------------------+
//!  kind 0: data (payload follows), kind 1: credit return (no payload)
//! ```
//!
//! Credits: a side may post one SEND per credit. A receive slot the application has
//! consumed is reposted at once and its credit is *owed* to the peer; owed credits ride
//! on the next data message, or go back in an explicit credit-return message once at
//! least `max(K/2, 2)` are owed. Data needs two credits, a credit return one: the last
//! credit is kept for returning credits, so two peers can never both sit at zero
//! credits owing each other. A credit return consumes a slot too, but it alone never
//! triggers another before K/2 of them have accumulated, so returns die out instead of
//! ping-ponging. Hence K is at least 4.
//!
//! Backpressure is [`ChannelError::WouldBlock`] from [`MessageChannel::try_send`]:
//! nothing is dropped and the peer never receives a SEND without a posted receive
//! (which would be a fatal Terminate, RFC 5041 §7.2: no buffer available). While blocked, keep calling
//! [`MessageChannel::try_recv`] or [`MessageChannel::progress`]: credits come back
//! through the CQ.
//!
//! The channel owns its QP and CQ; polling the CQ progresses the QP (soft backend). It
//! must not allocate after setup, drop or reorder a message, or read a clock.

use std::net::SocketAddr;

use thiserror::Error;

use crate::stats::TransportStats;
use crate::verbs::{
    Access, CmError, Completion, CompletionQueue, ConnectParams, ConnectRequest, Device, MemError,
    MemoryRegion, PostError, ProtectionDomain, QpInit, QueuePair, RecvWr, SendWr, VerbsError,
    WcOpcode, WcStatus,
};

/// Bytes of the header in front of every message.
pub const HEADER_LEN: usize = 8;
/// Header kind: a data message.
const KIND_DATA: u8 = 0;
/// Header kind: a credit return without payload.
const KIND_CREDIT: u8 = 1;
/// Fewest receive slots (see the credit rules in the module docs).
const MIN_SLOTS: u32 = 4;
/// Most receive slots.
const MAX_SLOTS: u32 = 1 << 16;
/// Largest receive slot (1 MiB): bounds the staging memory a peer can demand.
const MAX_SLOT_SIZE: u32 = 1 << 20;
/// Completions handled per CQ poll.
const POLL_BATCH: usize = 32;
/// [`ChannelParams`] layout version.
const PARAMS_VERSION: u8 = 1;

/// Why [`ChannelParams`] were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ParamsError {
    /// Fewer bytes than the parameters.
    #[error("channel parameters truncated: need {need} bytes, have {have}")]
    Truncated {
        /// [`ChannelParams::LEN`].
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// An unknown layout version.
    #[error("unsupported channel parameters version {0}")]
    Version(u8),
    /// The reserved bytes are not zero.
    #[error("reserved channel parameter bytes are not zero")]
    Reserved,
    /// The slot count is outside `[4, 65536]`.
    #[error("{0} receive slots, need 4 to 65536")]
    Slots(u32),
    /// The slot size is outside `[16, 1 MiB]`.
    #[error("receive slot of {0} bytes, need 16 to 1048576")]
    SlotSize(u32),
}

/// What one side advertises: its posted receive slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelParams {
    /// Receive slots posted (the peer's initial credits).
    pub slots: u32,
    /// Bytes per receive slot, header included.
    pub slot_size: u32,
}

impl ChannelParams {
    /// Encoded size in bytes.
    ///
    /// ```text
    ///  0         1        4            8                12
    ///  +---------+--------+------------+----------------+
    ///  | version | 0 0 0  | slots u32  | slot_size u32  |   little-endian
    ///  +---------+--------+------------+----------------+
    /// ```
    pub const LEN: usize = 12;

    /// Checks the ranges [`ChannelParams::from_bytes`] enforces.
    pub fn validate(&self) -> Result<(), ParamsError> {
        if !(MIN_SLOTS..=MAX_SLOTS).contains(&self.slots) {
            return Err(ParamsError::Slots(self.slots));
        }
        if !(2 * HEADER_LEN as u32..=MAX_SLOT_SIZE).contains(&self.slot_size) {
            return Err(ParamsError::SlotSize(self.slot_size));
        }
        Ok(())
    }

    /// Payload bytes per message at most.
    pub fn max_message(&self) -> usize {
        (self.slot_size as usize).saturating_sub(HEADER_LEN)
    }

    /// Encodes the parameters (layout above).
    pub fn to_bytes(&self) -> [u8; ChannelParams::LEN] {
        let mut out = [0u8; ChannelParams::LEN];
        out[0] = PARAMS_VERSION;
        out[4..8].copy_from_slice(&self.slots.to_le_bytes());
        out[8..12].copy_from_slice(&self.slot_size.to_le_bytes());
        out
    }

    /// Decodes and validates parameters from the first [`ChannelParams::LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<ChannelParams, ParamsError> {
        let Some(b) = bytes.first_chunk::<{ ChannelParams::LEN }>() else {
            return Err(ParamsError::Truncated {
                need: ChannelParams::LEN,
                have: bytes.len(),
            });
        };
        if b[0] != PARAMS_VERSION {
            return Err(ParamsError::Version(b[0]));
        }
        if b[1..4] != [0, 0, 0] {
            return Err(ParamsError::Reserved);
        }
        let params = ChannelParams {
            slots: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            slot_size: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
        };
        params.validate()?;
        Ok(params)
    }
}

/// Local resources of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Receive slots to post (K, 4 to 65536).
    pub slots: u32,
    /// Bytes per receive slot including the 8-byte header (16 bytes to 1 MiB).
    pub slot_size: u32,
    /// SENDs in flight at most (send-queue depth and staging slots).
    pub send_depth: u32,
}

impl Default for ChannelConfig {
    /// 64 slots of 256 bytes (248-byte messages), 64 SENDs in flight.
    fn default() -> ChannelConfig {
        ChannelConfig {
            slots: 64,
            slot_size: 256,
            send_depth: 64,
        }
    }
}

/// What a responder lets a peer's [`ChannelParams`] make it commit (see
/// [`MessageChannel::accept_with`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerLimits {
    /// Largest peer slot size used (header included); larger proposals are clamped.
    pub max_slot_size: u32,
    /// Most peer slots used as credits; larger proposals are clamped.
    pub max_slots: u32,
}

impl PeerLimits {
    /// No clamping beyond the protocol's own ranges (1 MiB slots, 65536 of them).
    pub const NONE: PeerLimits = PeerLimits {
        max_slot_size: MAX_SLOT_SIZE,
        max_slots: MAX_SLOTS,
    };

    /// `peer` with its slot size and count clamped to these limits (never below the
    /// protocol's minimums, which `peer` already meets).
    pub fn clamp(&self, peer: ChannelParams) -> ChannelParams {
        ChannelParams {
            slots: peer.slots.min(self.max_slots.max(MIN_SLOTS)),
            slot_size: peer
                .slot_size
                .min(self.max_slot_size.max(2 * HEADER_LEN as u32)),
        }
    }
}

/// Most application bytes after the [`ChannelParams`] in a connection request: the 508
/// bytes of ULP private data MPA revision 2 leaves (RFC 5044 §7.1, RFC 6581 §3) less
/// [`ChannelParams::LEN`].
pub const MAX_APP_DATA: usize = 496;

/// The application data of a connection request from [`MessageChannel::connect`]: the
/// private data after the [`ChannelParams`] (empty when there is none).
pub fn request_app_data(request: &ConnectRequest) -> &[u8] {
    request
        .private_data()
        .get(ChannelParams::LEN..)
        .unwrap_or_default()
}

impl ChannelConfig {
    /// Bytes a channel with this configuration commits at most when the peer's
    /// proposal is clamped to `limits` (see [`MessageChannel::committed_bytes`]).
    pub fn committed_bytes(&self, limits: PeerLimits) -> usize {
        self.slots as usize * self.slot_size as usize
            + self.send_depth as usize * limits.max_slot_size as usize
            + self.slots as usize * std::mem::size_of::<Ready>()
    }

    fn params(&self) -> ChannelParams {
        ChannelParams {
            slots: self.slots,
            slot_size: self.slot_size,
        }
    }
}

/// Why a channel could not be set up.
#[derive(Debug, Error)]
pub enum ChannelSetupError {
    /// The local configuration or the peer's parameters are invalid.
    #[error("channel parameters: {0}")]
    Params(#[from] ParamsError),
    /// `send_depth` is zero.
    #[error("send_depth must be at least 1")]
    SendDepth,
    /// The application private data is too long.
    #[error("{0} bytes of application private data, at most 496 allowed")]
    AppData(usize),
    /// A verbs resource could not be created.
    #[error("verbs: {0}")]
    Verbs(#[from] VerbsError),
    /// Connection setup failed.
    #[error("connection: {0}")]
    Cm(#[from] CmError),
    /// A receive could not be posted.
    #[error("post receive: {0}")]
    Post(#[from] PostError),
    /// Registered memory refused an access.
    #[error("memory: {0}")]
    Memory(#[from] MemError),
}

/// Why a send or receive did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ChannelError {
    /// No credit (or no send-queue entry) now; retry after receiving or progressing.
    #[error("no credit: the peer has not freed a receive slot yet")]
    WouldBlock,
    /// The message is larger than the peer's receive slots.
    #[error("message of {len} bytes, the peer takes at most {max}")]
    TooLarge {
        /// Payload bytes.
        len: usize,
        /// The peer's [`ChannelParams::max_message`].
        max: usize,
    },
    /// `out` is shorter than the next message; nothing was consumed.
    #[error("message of {need} bytes, buffer of {have}")]
    BufferTooSmall {
        /// Payload bytes of the message.
        need: usize,
        /// `out.len()`.
        have: usize,
    },
    /// The connection is closed (by either side); messages received before are still
    /// delivered by [`MessageChannel::try_recv`].
    #[error("channel disconnected")]
    Disconnected,
    /// A work request failed.
    #[error("work request failed: {0:?}")]
    Failed(WcStatus),
    /// The peer broke the channel protocol.
    #[error("peer protocol violation: {0}")]
    Protocol(&'static str),
    /// A work request could not be posted.
    #[error("post: {0}")]
    Post(#[from] PostError),
    /// Registered memory refused an access (a bug: offsets are checked at setup).
    #[error("memory: {0}")]
    Memory(#[from] MemError),
}

/// A received message the application has not consumed yet.
#[derive(Clone, Copy, Debug, Default)]
struct Ready {
    slot: u32,
    len: u32,
}

/// A lossless message channel (see the module docs for the protocol).
#[derive(Debug)]
pub struct MessageChannel {
    qp: QueuePair,
    cq: CompletionQueue,
    recv: MemoryRegion,
    staging: MemoryRegion,
    local: ChannelParams,
    peer: ChannelParams,
    /// SENDs this side may still post.
    credits: u32,
    /// Reposted receive slots whose credit the peer has not got back yet.
    owed: u32,
    /// Owed credits that trigger an explicit credit return.
    return_threshold: u32,
    send_depth: usize,
    in_flight: usize,
    /// SENDs posted so far (selects the staging slot).
    sent: u64,
    /// Received, unconsumed messages in arrival order (a ring of `slots` entries).
    ready: Box<[Ready]>,
    ready_head: usize,
    ready_len: usize,
    failed: Option<ChannelError>,
    completions: [Completion; POLL_BATCH],
    /// Times a send found the peer out of credit (once per stall, not per retry).
    credit_stalls: u64,
    /// The last send attempt found no credit.
    stalled: bool,
}

impl MessageChannel {
    /// Connects to a channel listener at `addr`. The private data sent is this side's
    /// [`ChannelParams`] followed by `params.private_data` (application data, e.g. a
    /// credential, at most [`MAX_APP_DATA`] bytes, which the listener reads with
    /// [`request_app_data`]); peer-to-peer setup is forced on.
    pub fn connect(
        dev: &Device,
        pd: &ProtectionDomain,
        addr: SocketAddr,
        config: ChannelConfig,
        params: &ConnectParams,
    ) -> Result<MessageChannel, ChannelSetupError> {
        let local = checked(config)?;
        if params.private_data.len() > MAX_APP_DATA {
            return Err(ChannelSetupError::AppData(params.private_data.len()));
        }
        let recv = alloc_recv(pd, local)?;
        let cq = dev.create_cq(config.send_depth as usize + config.slots as usize)?;
        let init = qp_init(&cq, config);
        let mut private_data = local.to_bytes().to_vec();
        private_data.extend_from_slice(&params.private_data);
        let params = ConnectParams {
            private_data,
            p2p: true,
            ..params.clone()
        };
        let (qp, info) =
            pd.connect_prepared(addr, &init, &params, |qp| post_all_slots(qp, &recv, local))?;
        let peer = match ChannelParams::from_bytes(&info.private_data) {
            Ok(peer) => peer,
            Err(e) => {
                qp.disconnect();
                return Err(e.into());
            }
        };
        MessageChannel::start(pd, qp, cq, recv, local, peer, config.send_depth)
    }

    /// Accepts a connection request from [`MessageChannel::connect`]; a request without
    /// valid [`ChannelParams`] is rejected with a reason. The peer sizes this side's
    /// send staging (`send_depth ×` its slot size, up to 1 MiB per slot): a server facing
    /// untrusted peers uses [`MessageChannel::accept_with`].
    pub fn accept(
        dev: &Device,
        pd: &ProtectionDomain,
        request: ConnectRequest,
        config: ChannelConfig,
    ) -> Result<MessageChannel, ChannelSetupError> {
        MessageChannel::accept_with(dev, pd, request, config, PeerLimits::NONE)
    }

    /// Like [`MessageChannel::accept`], but the peer's proposal is clamped to `limits`
    /// before any memory is allocated: this side sends messages of at most
    /// `limits.max_slot_size` bytes (header included) and uses at most
    /// `limits.max_slots` credits, whatever the peer advertised, so the memory of the
    /// channel is bounded by [`ChannelConfig::committed_bytes`] alone.
    pub fn accept_with(
        dev: &Device,
        pd: &ProtectionDomain,
        request: ConnectRequest,
        config: ChannelConfig,
        limits: PeerLimits,
    ) -> Result<MessageChannel, ChannelSetupError> {
        let local = checked(config)?;
        let peer = match ChannelParams::from_bytes(request.private_data()) {
            Ok(peer) => limits.clamp(peer),
            Err(e) => {
                request.reject(b"invalid message channel parameters")?;
                return Err(e.into());
            }
        };
        let recv = alloc_recv(pd, local)?;
        let cq = dev.create_cq(config.send_depth as usize + config.slots as usize)?;
        let init = qp_init(&cq, config);
        let (qp, _) = request.accept_prepared(&init, &local.to_bytes(), |qp| {
            post_all_slots(qp, &recv, local)
        })?;
        MessageChannel::start(pd, qp, cq, recv, local, peer, config.send_depth)
    }

    /// Allocates the send staging memory and builds the channel; every receive slot
    /// was posted already, before the connection was established.
    fn start(
        pd: &ProtectionDomain,
        qp: QueuePair,
        cq: CompletionQueue,
        recv: MemoryRegion,
        local: ChannelParams,
        peer: ChannelParams,
        send_depth: u32,
    ) -> Result<MessageChannel, ChannelSetupError> {
        let send_depth = send_depth as usize;
        let staging = pd.alloc_mr(send_depth * peer.slot_size as usize, Access::NONE)?;
        let channel = MessageChannel {
            qp,
            cq,
            recv,
            staging,
            local,
            peer,
            credits: peer.slots,
            owed: 0,
            return_threshold: (local.slots / 2).max(2),
            send_depth,
            in_flight: 0,
            sent: 0,
            ready: vec![Ready::default(); local.slots as usize].into_boxed_slice(),
            ready_head: 0,
            ready_len: 0,
            failed: None,
            completions: [Completion::default(); POLL_BATCH],
            credit_stalls: 0,
            stalled: false,
        };
        // Every slot was posted before the connection was established
        // (`post_all_slots`): the peer starts with every slot as credit.
        Ok(channel)
    }

    /// Bytes of memory this channel committed: receive slots, send staging and the
    /// ready ring (the QP's own buffers not included).
    pub fn committed_bytes(&self) -> usize {
        self.recv.len() + self.staging.len() + self.ready.len() * std::mem::size_of::<Ready>()
    }

    /// What this side advertised.
    pub fn local_params(&self) -> ChannelParams {
        self.local
    }

    /// What the peer advertised.
    pub fn peer_params(&self) -> ChannelParams {
        self.peer
    }

    /// Payload bytes per message at most (the peer's slot size minus the header).
    pub fn max_message(&self) -> usize {
        self.peer.max_message()
    }

    /// SENDs this side may post now (data needs two: the last is kept for credit returns).
    pub fn credits(&self) -> u32 {
        self.credits
    }

    /// Times a send found the peer out of credit (its receive slots all in use): one
    /// per stall, however often the send is retried before credit comes back.
    pub fn credit_stalls(&self) -> u64 {
        self.credit_stalls
    }

    /// The connection's [`TransportStats`] (`None` on hardware, see
    /// [`QueuePair::transport_stats`]).
    pub fn transport_stats(&self) -> Option<TransportStats> {
        self.qp.transport_stats()
    }

    /// Sends `msg` if a credit and a send-queue entry are free; otherwise
    /// [`ChannelError::WouldBlock`] and nothing is sent. Never allocates.
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), ChannelError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let max = self.peer.max_message();
        if msg.len() > max {
            return Err(ChannelError::TooLarge {
                len: msg.len(),
                max,
            });
        }
        if !self.can_send_data() {
            self.progress()?;
            if !self.can_send_data() {
                if self.credits < 2 && !self.stalled {
                    self.stalled = true;
                    self.credit_stalls += 1;
                }
                return Err(ChannelError::WouldBlock);
            }
        }
        self.stalled = false;
        let stage = self.stage_offset();
        self.staging.write(stage + HEADER_LEN, msg)?;
        self.post_message(stage, KIND_DATA, msg.len())?;
        // Transmits (soft backend) and reaps what finished.
        self.poll_cq();
        Ok(())
    }

    /// Copies the next message into `out` and returns its length, or `None` when none
    /// has arrived. Messages received before a disconnect are delivered before the
    /// error. Never allocates.
    pub fn try_recv(&mut self, out: &mut [u8]) -> Result<Option<usize>, ChannelError> {
        if self.ready_len == 0 {
            self.poll_cq();
        }
        let Some(next) = self
            .ready
            .get(self.ready_head)
            .copied()
            .filter(|_| self.ready_len > 0)
        else {
            return match self.failed {
                Some(err) => Err(err),
                None => Ok(None),
            };
        };
        let len = next.len as usize;
        let Some(dst) = out.get_mut(..len) else {
            return Err(ChannelError::BufferTooSmall {
                need: len,
                have: out.len(),
            });
        };
        let slot_size = self.local.slot_size as usize;
        self.recv
            .read(next.slot as usize * slot_size + HEADER_LEN, dst)?;
        self.ready_head = (self.ready_head + 1) % self.ready.len();
        self.ready_len -= 1;
        // The message is the caller's now; a failure to recycle its slot surfaces on
        // the next call instead of losing the message.
        if self.failed.is_none() {
            let recycled = self
                .post_slot(next.slot)
                .map_err(ChannelError::from)
                .and_then(|()| self.return_credits_if_due());
            if let Err(err) = recycled {
                self.failed = Some(err);
            }
        }
        Ok(Some(len))
    }

    /// Polls the CQ once (progressing the QP), then returns owed credits if due.
    /// Returns the completions handled.
    pub fn progress(&mut self) -> Result<usize, ChannelError> {
        let n = self.poll_cq();
        if let Some(err) = self.failed {
            return Err(err);
        }
        self.return_credits_if_due()?;
        Ok(n)
    }

    /// Closes the connection; the peer sees [`ChannelError::Disconnected`].
    pub fn disconnect(&mut self) {
        self.qp.disconnect();
        self.failed.get_or_insert(ChannelError::Disconnected);
    }

    /// Data needs two credits (one is kept for credit returns) and a send-queue entry.
    fn can_send_data(&self) -> bool {
        self.credits >= 2 && self.in_flight < self.send_depth
    }

    /// Offset of the staging slot of the next SEND. Completions arrive in posting
    /// order and at most `send_depth` SENDs are in flight, so it is free.
    fn stage_offset(&self) -> usize {
        (self.sent % self.send_depth as u64) as usize * self.peer.slot_size as usize
    }

    /// Writes the header at `stage` (payload already behind it) and posts the SEND.
    fn post_message(&mut self, stage: usize, kind: u8, len: usize) -> Result<(), ChannelError> {
        let header = u64::from(self.owed) | u64::from(kind) << 32;
        self.staging.store_u64_release(stage, header)?;
        let sgl = [self.staging.sge(stage as u64, (HEADER_LEN + len) as u32)];
        self.qp.post_send(&SendWr::send(self.sent, &sgl))?;
        self.credits -= 1;
        self.owed = 0;
        self.in_flight += 1;
        self.sent += 1;
        Ok(())
    }

    /// Sends an explicit credit return once `return_threshold` credits are owed.
    fn return_credits_if_due(&mut self) -> Result<(), ChannelError> {
        if self.owed >= self.return_threshold
            && self.credits >= 1
            && self.in_flight < self.send_depth
            && self.failed.is_none()
        {
            let stage = self.stage_offset();
            self.post_message(stage, KIND_CREDIT, 0)?;
            self.poll_cq();
        }
        Ok(())
    }

    /// Reposts receive slot `slot`; its credit is now owed to the peer.
    fn post_slot(&mut self, slot: u32) -> Result<(), PostError> {
        post_slot_on(&self.qp, &self.recv, self.local.slot_size, slot)?;
        self.owed += 1;
        Ok(())
    }

    /// Polls the CQ once and handles what completed; a failure is recorded in `failed`.
    fn poll_cq(&mut self) -> usize {
        let n = self.cq.poll(&mut self.completions);
        for i in 0..n {
            if let Some(c) = self.completions.get(i).copied() {
                if let Err(err) = self.handle(&c) {
                    self.failed.get_or_insert(err);
                }
            }
        }
        n
    }

    fn handle(&mut self, c: &Completion) -> Result<(), ChannelError> {
        if c.opcode != WcOpcode::Recv {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        match c.status {
            WcStatus::Success => {}
            WcStatus::WrFlushError => return Err(ChannelError::Disconnected),
            other => return Err(ChannelError::Failed(other)),
        }
        if c.opcode != WcOpcode::Recv {
            return Ok(());
        }
        let slot = u32::try_from(c.wr_id)
            .ok()
            .filter(|s| *s < self.local.slots)
            .ok_or(ChannelError::Protocol(
                "completion for an unknown receive slot",
            ))?;
        let len = (c.byte_len as usize)
            .checked_sub(HEADER_LEN)
            .ok_or(ChannelError::Protocol(
                "message shorter than the channel header",
            ))?;
        let header = self
            .recv
            .load_u64_acquire(slot as usize * self.local.slot_size as usize)?;
        let returned = header as u32;
        let credits = self
            .credits
            .checked_add(returned)
            .filter(|c| *c <= self.peer.slots)
            .ok_or(ChannelError::Protocol(
                "peer returned more credits than it had",
            ))?;
        self.credits = credits;
        match (header >> 32) as u8 {
            KIND_DATA => {
                let at = (self.ready_head + self.ready_len) % self.ready.len();
                let entry = self
                    .ready
                    .get_mut(at)
                    .filter(|_| self.ready_len < self.local.slots as usize)
                    .ok_or(ChannelError::Protocol("more messages than receive slots"))?;
                *entry = Ready {
                    slot,
                    len: len as u32,
                };
                self.ready_len += 1;
                Ok(())
            }
            KIND_CREDIT if len == 0 => Ok(self.post_slot(slot)?),
            _ => Err(ChannelError::Protocol("unknown message kind")),
        }
    }
}

impl Drop for MessageChannel {
    /// Closes the connection so the peer sees [`ChannelError::Disconnected`] at once.
    fn drop(&mut self) {
        self.qp.disconnect();
    }
}

/// Validates a configuration into the parameters it advertises.
fn checked(config: ChannelConfig) -> Result<ChannelParams, ChannelSetupError> {
    let params = config.params();
    params.validate()?;
    if config.send_depth == 0 {
        return Err(ChannelSetupError::SendDepth);
    }
    Ok(params)
}

/// The receive slots, zeroed, writable by the local QP.
fn alloc_recv(
    pd: &ProtectionDomain,
    local: ChannelParams,
) -> Result<MemoryRegion, ChannelSetupError> {
    Ok(pd.alloc_mr(
        local.slots as usize * local.slot_size as usize,
        Access::LOCAL_WRITE,
    )?)
}

/// Posts receive slot `slot` of `recv` on `qp`.
fn post_slot_on(
    qp: &QueuePair,
    recv: &MemoryRegion,
    slot_size: u32,
    slot: u32,
) -> Result<(), PostError> {
    let sgl = [recv.sge(u64::from(slot) * u64::from(slot_size), slot_size)];
    qp.post_recv(&RecvWr {
        wr_id: u64::from(slot),
        sgl: &sgl,
    })
}

/// Posts every receive slot; runs between creating the QP and establishing the
/// connection, so the peer's first SEND finds a buffer on any backend.
fn post_all_slots(
    qp: &QueuePair,
    recv: &MemoryRegion,
    local: ChannelParams,
) -> Result<(), PostError> {
    (0..local.slots).try_for_each(|slot| post_slot_on(qp, recv, local.slot_size, slot))
}

/// QP sizes for a configuration: the send queue holds `send_depth`, the receive queue
/// every slot.
fn qp_init(cq: &CompletionQueue, config: ChannelConfig) -> QpInit<'_> {
    QpInit {
        sq_depth: config.send_depth as usize,
        rq_depth: config.slots as usize,
        max_sge: 1,
        max_message_size: u64::from(MAX_SLOT_SIZE),
        ..QpInit::new(cq, cq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn params_layout_is_fixed() {
        let p = ChannelParams {
            slots: 64,
            slot_size: 256,
        };
        assert_eq!(p.to_bytes(), [1, 0, 0, 0, 64, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(ChannelParams::from_bytes(&p.to_bytes()), Ok(p));
        assert_eq!(p.max_message(), 248);
    }

    #[test]
    fn params_refuse_bad_values() {
        let enc = |slots, slot_size| ChannelParams { slots, slot_size }.to_bytes();
        assert_eq!(
            ChannelParams::from_bytes(&enc(3, 256)),
            Err(ParamsError::Slots(3))
        );
        assert_eq!(
            ChannelParams::from_bytes(&enc(4, 8)),
            Err(ParamsError::SlotSize(8))
        );
        assert_eq!(
            ChannelParams::from_bytes(&enc(4, (1 << 20) + 1)),
            Err(ParamsError::SlotSize((1 << 20) + 1))
        );
        let mut b = enc(4, 64);
        b[2] = 1;
        assert_eq!(ChannelParams::from_bytes(&b), Err(ParamsError::Reserved));
        b[0] = 9;
        assert_eq!(ChannelParams::from_bytes(&b), Err(ParamsError::Version(9)));
        assert_eq!(
            ChannelParams::from_bytes(&b[..5]),
            Err(ParamsError::Truncated { need: 12, have: 5 })
        );
    }

    proptest! {
        #[test]
        fn params_round_trip(slots in MIN_SLOTS..=MAX_SLOTS, slot_size in 16u32..=MAX_SLOT_SIZE) {
            let p = ChannelParams { slots, slot_size };
            prop_assert_eq!(ChannelParams::from_bytes(&p.to_bytes()), Ok(p));
        }

        #[test]
        fn params_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            if let Ok(p) = ChannelParams::from_bytes(&bytes) {
                prop_assert_eq!(&p.to_bytes()[..], &bytes[..ChannelParams::LEN]);
            }
        }
    }
}

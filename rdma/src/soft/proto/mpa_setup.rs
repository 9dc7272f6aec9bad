//! MPA connection setup (RFC 5044 §7.1, RFC 6581): the exchange of one MPA Request and
//! one MPA Reply that turns a fresh TCP stream into an MPA stream, as a sans-IO state
//! machine.
//!
//! Inputs are [`MpaSetup::handle_bytes`] (stream bytes, split anywhere),
//! [`MpaSetup::handle_timeout`], [`MpaSetup::handle_closed`] and, on the responder, the
//! application's [`MpaSetup::accept`] / [`MpaSetup::reject`]; outputs are
//! [`MpaSetup::poll_transmit`] (bytes to write), [`MpaSetup::poll_timeout`] (the MPA
//! deadline) and [`MpaSetup::poll_event`] ([`MpaEvent::Negotiated`] with the
//! [`MpaParams`] the data path needs, or [`MpaEvent::Failed`]).
//!
//! Negotiation rules:
//! - Revision: the initiator offers its configured revision; the responder answers
//!   `min(offered, configured)` and refuses revision 0. A Reply with a higher revision
//!   than offered, or 0, fails the initiator.
//! - CRC (`C`, RFC 5044 §7.1): used in both directions when either side sets it, unless
//!   a side's policy is [`CrcPolicy::Refuse`] (then the responder rejects, or the
//!   initiator fails).
//! - Markers (`M`): per direction; each side's `M` asks for markers in what it receives.
//!   A responder that does not accept markers rejects the Request with `M` cleared, as
//!   Linux `siw` does; the initiator reports [`MpaError::MarkersRefused`] so the caller
//!   can reconnect without markers.
//! - RFC 6581 enhanced setup (revision 2): IRD/ORD words; the responder answers
//!   `IRD = min(own IRD, peer ORD)` and `ORD = min(own ORD, peer IRD)` (what `siw` does);
//!   an initiator whose peer's ORD exceeds its IRD fails with `InsufficientIrd`.
//!   Peer-to-peer: the initiator sets `A` and offers RTR types; the responder echoes `A`
//!   and picks exactly one offered type (zero-length Write preferred).
//!
//! Setup stops exactly at the end of the peer's Request/Reply: `handle_bytes` returns
//! how many bytes it consumed and the rest (the first FPDUs, the RTR) belongs to the
//! connection. Sending the RTR and waiting for the peer's is the connection's job, as
//! are markers and CRC on FPDUs. Linux `siw` as a responder may stall on an FPDU sent
//! right after its Reply (see `../shared/siw-vm/README.md`); pacing that is the driver's.
//!
//! This module reads no clock (time is an argument), owns no socket and does not
//! allocate: frames are assembled in fixed buffers.

use core::fmt;
use core::time::Duration;

use tickwarp_runtime::Nanos;

use crate::soft::wire::mpa::{
    self, EnhancedParams, FrameKind, HEADER_LEN, MAX_PD_LEN, MAX_ULP_PD_LEN,
};
use crate::soft::wire::rdmap::MpaErrorCode;
use crate::soft::wire::{self, MpaFrame, MpaRepr};

/// Largest MPA Request/Reply frame (header plus 512 bytes of private data).
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_PD_LEN;
/// Default MPA timeout (Linux `siw` waits 10 s for a Reply).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest IRD/ORD value (14 bits, RFC 6581 §9.1).
pub const MAX_IRD_ORD: u16 = mpa::IRD_ORD_MASK;

/// Private data of a Request or Reply, held inline (no allocation).
#[derive(Clone, Copy)]
pub struct PrivateData {
    len: u16,
    bytes: [u8; MAX_PD_LEN],
}

impl PrivateData {
    /// No private data.
    pub const EMPTY: PrivateData = PrivateData {
        len: 0,
        bytes: [0; MAX_PD_LEN],
    };

    /// Copies `data`; `Err` when longer than 512 bytes.
    pub fn new(data: &[u8]) -> Result<PrivateData, ConfigError> {
        if data.len() > MAX_PD_LEN {
            return Err(ConfigError::PrivateDataTooLong {
                len: data.len(),
                max: MAX_PD_LEN,
            });
        }
        let mut pd = PrivateData::EMPTY;
        pd.bytes[..data.len()].copy_from_slice(data);
        // Cannot truncate: at most 512.
        pd.len = data.len() as u16;
        Ok(pd)
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for PrivateData {
    fn default() -> PrivateData {
        PrivateData::EMPTY
    }
}

impl PartialEq for PrivateData {
    fn eq(&self, other: &PrivateData) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for PrivateData {}

impl fmt::Debug for PrivateData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateData({} bytes: ", self.len)?;
        for b in self.as_slice().iter().take(32) {
            write!(f, "{b:02x}")?;
        }
        if self.len() > 32 {
            f.write_str("…")?;
        }
        f.write_str(")")
    }
}

/// Which end of the TCP connection this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends the MPA Request (the active, connecting side).
    Initiator,
    /// Receives the Request and answers with a Reply (the listening side).
    Responder,
}

/// What to do about CRC32c (RFC 5044 §7.1 `C`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CrcPolicy {
    /// Ask for CRC (`C` = 1); CRC is then on for the connection.
    #[default]
    Request,
    /// Do not ask, but use CRC when the peer asks (Linux `siw`'s default).
    Accept,
    /// Never use CRC: a responder rejects a Request with `C`, an initiator fails on a
    /// Reply with `C`.
    Refuse,
}

/// What to do about markers (RFC 5044 §5, §7.1 `M`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MarkerPolicy {
    /// Never use markers: a responder rejects a Request with `M` (as `siw` does), an
    /// initiator fails on a Reply with `M`.
    #[default]
    Refuse,
    /// Do not ask for markers on receive, but insert them when the peer asks.
    Accept,
    /// Ask for markers in the FPDUs this side receives.
    Request,
}

/// An RFC 6581 ready-to-receive message type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RtrType {
    /// Zero-length RDMA Write (`C` in the ORD word).
    Write,
    /// Zero-length RDMA Read Request (`D` in the ORD word).
    Read,
}

/// A set of RTR types: offered by an initiator, accepted by a responder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RtrSet {
    /// Zero-length RDMA Write.
    pub write: bool,
    /// Zero-length RDMA Read.
    pub read: bool,
}

impl RtrSet {
    /// Only zero-length Write (the default, and the cheapest: no response needed).
    pub const WRITE: RtrSet = RtrSet {
        write: true,
        read: false,
    };
    /// Only zero-length Read.
    pub const READ: RtrSet = RtrSet {
        write: false,
        read: true,
    };
    /// Both (what kernel `siw` offers).
    pub const BOTH: RtrSet = RtrSet {
        write: true,
        read: true,
    };

    /// True when `rtr` is in the set.
    pub const fn contains(self, rtr: RtrType) -> bool {
        match rtr {
            RtrType::Write => self.write,
            RtrType::Read => self.read,
        }
    }
}

/// Configuration of one side of MPA setup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpaConfig {
    /// MPA revision to offer (initiator) or the highest to accept (responder): 1 or 2.
    pub revision: u8,
    /// CRC32c policy.
    pub crc: CrcPolicy,
    /// Marker policy.
    pub markers: MarkerPolicy,
    /// RFC 6581 enhanced setup (IRD/ORD exchange); needs revision 2.
    pub enhanced: bool,
    /// Inbound RDMA Read queue depth offered (at most 0x3FFF).
    pub ird: u16,
    /// Outbound RDMA Read queue depth offered (at most 0x3FFF).
    pub ord: u16,
    /// Initiator: request peer-to-peer mode offering these RTR types (`None`:
    /// client-server). Needs enhanced setup.
    pub p2p: Option<RtrSet>,
    /// Responder: RTR types accepted when the initiator asks for peer-to-peer.
    pub rtr_accepted: RtrSet,
    /// Initiator: ULP private data of the Request (responders pass theirs to `accept`).
    pub private_data: PrivateData,
    /// Time allowed for the whole exchange (responder: including the accept decision).
    pub timeout: Duration,
}

impl Default for MpaConfig {
    fn default() -> MpaConfig {
        MpaConfig {
            revision: 2,
            crc: CrcPolicy::Request,
            markers: MarkerPolicy::Refuse,
            enhanced: true,
            ird: 16,
            ord: 16,
            p2p: None,
            rtr_accepted: RtrSet::BOTH,
            private_data: PrivateData::EMPTY,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl MpaConfig {
    /// The same configuration with markers refused: the retry after
    /// [`MpaError::MarkersRefused`].
    pub fn without_markers(mut self) -> MpaConfig {
        self.markers = MarkerPolicy::Refuse;
        self
    }

    /// Checks revision, IRD/ORD, peer-to-peer and private data length.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=2).contains(&self.revision) {
            return Err(ConfigError::Revision(self.revision));
        }
        if self.ird > MAX_IRD_ORD || self.ord > MAX_IRD_ORD {
            return Err(ConfigError::IrdOrdTooLarge);
        }
        let enhanced = self.uses_enhanced();
        if let Some(offer) = self.p2p {
            if !enhanced {
                return Err(ConfigError::P2pNeedsEnhanced);
            }
            if !offer.write && !offer.read {
                return Err(ConfigError::NoRtrOffered);
            }
        }
        let max = if enhanced { MAX_ULP_PD_LEN } else { MAX_PD_LEN };
        if self.private_data.len() > max {
            return Err(ConfigError::PrivateDataTooLong {
                len: self.private_data.len(),
                max,
            });
        }
        Ok(())
    }

    /// True when this side sends RFC 6581 IRD/ORD words at its configured revision.
    pub const fn uses_enhanced(&self) -> bool {
        self.enhanced && self.revision >= 2
    }
}

/// A configuration or API call the state machine refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Revision other than 1 or 2.
    #[error("MPA revision {0} not supported (1 or 2)")]
    Revision(u8),
    /// IRD or ORD above 0x3FFF.
    #[error("IRD/ORD above 0x3FFF")]
    IrdOrdTooLarge,
    /// Peer-to-peer asked without RFC 6581 enhanced setup at revision 2.
    #[error("peer-to-peer needs enhanced setup (revision 2)")]
    P2pNeedsEnhanced,
    /// Peer-to-peer asked with an empty RTR set.
    #[error("peer-to-peer with no RTR type offered")]
    NoRtrOffered,
    /// Private data does not fit the frame.
    #[error("private data of {len} bytes, at most {max}")]
    PrivateDataTooLong {
        /// Bytes given.
        len: usize,
        /// Bytes allowed.
        max: usize,
    },
    /// `accept`/`reject` called when no Request is waiting for a decision.
    #[error("no MPA Request is waiting for a decision")]
    NotAwaitingDecision,
}

/// Why setup failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MpaError {
    /// No Request/Reply (or accept decision) within the MPA timeout.
    #[error("MPA setup timed out")]
    Timeout,
    /// The TCP stream ended before setup finished.
    #[error("TCP stream closed during MPA setup")]
    PeerClosed,
    /// The peer's frame is not a valid Request/Reply (bad key, bad length, ...).
    #[error("invalid MPA frame from peer: {0}")]
    Malformed(wire::Error),
    /// The peer's revision cannot be used (0, or a Reply above the offered revision).
    #[error("MPA revision {0} from peer not usable")]
    Revision(u8),
    /// The peer rejected the connection; its reason is in `peer_private_data()`.
    #[error("peer rejected the connection")]
    Rejected,
    /// The peer rejected a Request that asked for markers (as `siw` does): reconnect
    /// with `MpaConfig::without_markers()`.
    #[error("peer rejected the request for markers; retry without markers")]
    MarkersRefused,
    /// The peer wants markers and this side's policy refuses them.
    #[error("peer requires markers, which are refused here")]
    MarkersUnsupported,
    /// The peer wants CRC and this side's policy refuses it.
    #[error("peer requires CRC, which is refused here")]
    CrcRefused,
    /// This side's application rejected the Request.
    #[error("connection rejected by the local application")]
    RejectedLocally,
    /// RFC 6581: no RTR type both sides support, or a Reply choosing none or several.
    #[error("no matching RTR type for peer-to-peer setup")]
    NoMatchingRtr,
    /// RFC 6581: the peer's ORD exceeds this side's IRD.
    #[error("peer ORD exceeds local IRD")]
    InsufficientIrd,
}

impl MpaError {
    /// The RFC 5044 §8 / RFC 6581 LLP error code matching this failure, if any.
    pub const fn mpa_error_code(&self) -> Option<MpaErrorCode> {
        match self {
            MpaError::PeerClosed => Some(MpaErrorCode::TcpClosed),
            MpaError::Malformed(_)
            | MpaError::Revision(_)
            | MpaError::MarkersUnsupported
            | MpaError::CrcRefused => Some(MpaErrorCode::InvalidRequestReply),
            MpaError::NoMatchingRtr => Some(MpaErrorCode::NoMatchingRtr),
            MpaError::InsufficientIrd => Some(MpaErrorCode::InsufficientIrd),
            MpaError::Timeout
            | MpaError::Rejected
            | MpaError::MarkersRefused
            | MpaError::RejectedLocally => None,
        }
    }
}

/// What setup agreed on: everything the data path needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpaParams {
    /// Negotiated MPA revision.
    pub revision: u8,
    /// CRC32c on FPDUs in both directions.
    pub crc: bool,
    /// The peer inserts markers in what it sends (strip them on receive).
    pub markers_rx: bool,
    /// This side inserts markers in what it sends.
    pub markers_tx: bool,
    /// IRD/ORD came from an RFC 6581 exchange (else they are this side's own config).
    pub enhanced: bool,
    /// Inbound RDMA Reads this side must accept at once.
    pub ird: u16,
    /// Outbound RDMA Reads this side may have outstanding.
    pub ord: u16,
    /// Peer-to-peer with this RTR: the initiator sends it as its first FPDU; the
    /// responder sends nothing before receiving it.
    pub p2p: Option<RtrType>,
    /// The peer's ULP private data (after the IRD/ORD words).
    pub peer_private_data: PrivateData,
}

/// An output of the state machine for the driver or application.
// `Negotiated` carries the peer's private data inline (up to 512 bytes) so that setup
// never allocates; there is one such event per connection, so its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MpaEvent {
    /// Responder: a valid Request arrived; inspect `peer_frame()` and call `accept` or
    /// `reject`.
    RequestReceived,
    /// Setup finished; after `poll_transmit` is drained the stream carries FPDUs.
    Negotiated(MpaParams),
    /// Setup failed; drain `poll_transmit` (a Reject may be queued), then close.
    Failed(MpaError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the peer's Request (responder) or Reply (initiator).
    AwaitPeer,
    /// Responder: Request received, waiting for `accept`/`reject`.
    AwaitDecision,
    /// Negotiated.
    Done,
    /// Failed.
    Failed,
}

/// Capacity of the event queue: at most RequestReceived then Negotiated/Failed.
const EVENT_CAP: usize = 2;

/// One side of MPA connection setup.
#[derive(Clone, Debug)]
pub struct MpaSetup {
    role: Role,
    config: MpaConfig,
    state: State,
    deadline: Nanos,
    rx: [u8; MAX_FRAME_LEN],
    rx_len: usize,
    tx: [u8; MAX_FRAME_LEN],
    tx_len: usize,
    tx_sent: usize,
    /// Flags, revision and IRD/ORD of the Request this side sent (initiator).
    sent: Option<SentRequest>,
    events: [Option<MpaEvent>; EVENT_CAP],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SentRequest {
    revision: u8,
    crc: bool,
    markers: bool,
    enhanced: Option<EnhancedParams>,
}

/// What a responder will answer, worked out when the Request arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ReplyPlan {
    revision: u8,
    crc: bool,
    markers_rx: bool,
    markers_tx: bool,
    enhanced: Option<EnhancedParams>,
    p2p: Option<RtrType>,
}

impl MpaSetup {
    /// An initiator: its Request is queued for `poll_transmit` at once; the timeout
    /// runs from `now`.
    pub fn initiator(config: MpaConfig, now: Nanos) -> Result<MpaSetup, ConfigError> {
        config.validate()?;
        let mut s = MpaSetup::new(Role::Initiator, config, now);
        let enhanced = config.uses_enhanced().then(|| {
            let offer = config.p2p;
            EnhancedParams {
                ird: config.ird,
                ord: config.ord,
                peer_to_peer: offer.is_some(),
                send_rtr: false,
                write_rtr: offer.is_some_and(|o| o.write),
                read_rtr: offer.is_some_and(|o| o.read),
            }
        });
        let sent = SentRequest {
            revision: config.revision,
            crc: config.crc == CrcPolicy::Request,
            markers: config.markers == MarkerPolicy::Request,
            enhanced,
        };
        let repr = MpaRepr {
            kind: FrameKind::Request,
            markers: sent.markers,
            crc: sent.crc,
            reject: false,
            res: 0,
            revision: sent.revision,
            enhanced,
            private_data: config.private_data.as_slice(),
        };
        s.queue_frame(&repr);
        s.sent = Some(sent);
        Ok(s)
    }

    /// A responder waiting for a Request; the timeout runs from `now`.
    pub fn responder(config: MpaConfig, now: Nanos) -> Result<MpaSetup, ConfigError> {
        config.validate()?;
        Ok(MpaSetup::new(Role::Responder, config, now))
    }

    fn new(role: Role, config: MpaConfig, now: Nanos) -> MpaSetup {
        MpaSetup {
            role,
            config,
            state: State::AwaitPeer,
            deadline: now.saturating_add(config.timeout),
            rx: [0; MAX_FRAME_LEN],
            rx_len: 0,
            tx: [0; MAX_FRAME_LEN],
            tx_len: 0,
            tx_sent: 0,
            sent: None,
            events: [None; EVENT_CAP],
        }
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// True once negotiated.
    pub fn is_established(&self) -> bool {
        self.state == State::Done
    }

    /// True once failed.
    pub fn is_failed(&self) -> bool {
        self.state == State::Failed
    }

    /// Feeds stream bytes; returns how many belong to the peer's Request/Reply. The
    /// rest (FPDUs after the frame) is the caller's; after setup ends this returns 0.
    #[must_use = "bytes not consumed belong to the FPDU stream"]
    pub fn handle_bytes(&mut self, now: Nanos, data: &[u8]) -> usize {
        self.handle_timeout(now);
        if self.state != State::AwaitPeer {
            return 0;
        }
        let mut consumed = self.fill_rx(data, HEADER_LEN);
        if self.rx_len < HEADER_LEN {
            return consumed;
        }
        let header = MpaFrame::new_unchecked(&self.rx[..HEADER_LEN]);
        let expected = match self.role {
            Role::Initiator => FrameKind::Reply,
            Role::Responder => FrameKind::Request,
        };
        match header.kind() {
            Ok(k) if k == expected => {}
            Ok(_) | Err(_) => {
                self.fail(MpaError::Malformed(wire::Error::BadKey));
                return consumed;
            }
        }
        let pd_len = usize::from(header.pd_length());
        if pd_len > MAX_PD_LEN {
            self.fail(MpaError::Malformed(wire::Error::Malformed(
                wire::Field::PdLength,
            )));
            return consumed;
        }
        let rest = data.get(consumed..).unwrap_or(&[]);
        consumed += self.fill_rx(rest, HEADER_LEN + pd_len);
        if self.rx_len == HEADER_LEN + pd_len {
            match self.role {
                Role::Initiator => self.on_reply(),
                Role::Responder => self.on_request(),
            }
        }
        consumed
    }

    /// Copies from `data` until `rx` holds `upto` bytes; returns bytes taken.
    fn fill_rx(&mut self, data: &[u8], upto: usize) -> usize {
        let want = upto.saturating_sub(self.rx_len).min(data.len());
        self.rx[self.rx_len..self.rx_len + want].copy_from_slice(&data[..want]);
        self.rx_len += want;
        want
    }

    /// The peer's Request or Reply once it has fully arrived.
    pub fn peer_frame(&self) -> Option<MpaRepr<'_>> {
        if self.rx_len < HEADER_LEN {
            return None;
        }
        let frame = MpaFrame::new_checked(&self.rx[..self.rx_len]).ok()?;
        MpaRepr::parse(&frame).ok()
    }

    /// The peer's ULP private data (a Reject's reason, too); empty until it arrived.
    pub fn peer_private_data(&self) -> &[u8] {
        match self.peer_frame() {
            Some(r) => r.private_data,
            None => &[],
        }
    }

    /// Responder: accepts the waiting Request, answering with `private_data`.
    pub fn accept(&mut self, private_data: &[u8]) -> Result<(), ConfigError> {
        if self.state != State::AwaitDecision {
            return Err(ConfigError::NotAwaitingDecision);
        }
        let plan = self
            .plan_reply()
            .map_err(|_| ConfigError::NotAwaitingDecision)?;
        let max = if plan.enhanced.is_some() {
            MAX_ULP_PD_LEN
        } else {
            MAX_PD_LEN
        };
        if private_data.len() > max {
            return Err(ConfigError::PrivateDataTooLong {
                len: private_data.len(),
                max,
            });
        }
        let params = MpaParams {
            revision: plan.revision,
            crc: plan.crc,
            markers_rx: plan.markers_rx,
            markers_tx: plan.markers_tx,
            enhanced: plan.enhanced.is_some(),
            ird: plan.enhanced.map_or(self.config.ird, |e| e.ird),
            ord: plan.enhanced.map_or(self.config.ord, |e| e.ord),
            p2p: plan.p2p,
            peer_private_data: self.peer_pd(),
        };
        let repr = MpaRepr {
            kind: FrameKind::Reply,
            markers: plan.markers_rx,
            crc: plan.crc,
            reject: false,
            res: 0,
            revision: plan.revision,
            enhanced: plan.enhanced,
            private_data,
        };
        self.queue_frame(&repr);
        self.state = State::Done;
        self.push_event(MpaEvent::Negotiated(params));
        Ok(())
    }

    /// Responder: rejects the waiting Request, sending `reason` as private data.
    pub fn reject(&mut self, reason: &[u8]) -> Result<(), ConfigError> {
        if self.state != State::AwaitDecision {
            return Err(ConfigError::NotAwaitingDecision);
        }
        let enhanced = self.reject_enhanced();
        let max = if enhanced.is_some() {
            MAX_ULP_PD_LEN
        } else {
            MAX_PD_LEN
        };
        if reason.len() > max {
            return Err(ConfigError::PrivateDataTooLong {
                len: reason.len(),
                max,
            });
        }
        self.queue_reject(reason);
        self.fail(MpaError::RejectedLocally);
        Ok(())
    }

    /// Bytes to send: copies up to `buf.len()` of the queued frame; 0 when none.
    #[must_use = "queued setup bytes must be written to the stream"]
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> usize {
        let n = (self.tx_len - self.tx_sent).min(buf.len());
        buf[..n].copy_from_slice(&self.tx[self.tx_sent..self.tx_sent + n]);
        self.tx_sent += n;
        n
    }

    /// True while queued bytes wait for `poll_transmit`.
    pub fn has_pending_transmit(&self) -> bool {
        self.tx_sent < self.tx_len
    }

    /// The MPA deadline while setup is in progress.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Nanos> {
        match self.state {
            State::AwaitPeer | State::AwaitDecision => Some(self.deadline),
            State::Done | State::Failed => None,
        }
    }

    /// Fails setup with [`MpaError::Timeout`] once `now` reaches the deadline.
    pub fn handle_timeout(&mut self, now: Nanos) {
        if now >= self.deadline && self.poll_timeout().is_some() {
            self.fail(MpaError::Timeout);
        }
    }

    /// The TCP stream ended (FIN or error): fails setup if it was in progress.
    pub fn handle_closed(&mut self) {
        if self.poll_timeout().is_some() {
            self.fail(MpaError::PeerClosed);
        }
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<MpaEvent> {
        let ev = self.events[0].take();
        self.events.rotate_left(1);
        ev
    }

    fn push_event(&mut self, ev: MpaEvent) {
        if let Some(slot) = self.events.iter_mut().find(|e| e.is_none()) {
            *slot = Some(ev);
        }
    }

    fn fail(&mut self, err: MpaError) {
        self.state = State::Failed;
        self.push_event(MpaEvent::Failed(err));
    }

    fn queue_frame(&mut self, repr: &MpaRepr<'_>) {
        let len = repr.buffer_len();
        repr.emit(&mut MpaFrame::new_unchecked(&mut self.tx[..len]));
        self.tx_len = len;
        self.tx_sent = 0;
    }

    fn peer_pd(&self) -> PrivateData {
        PrivateData::new(self.peer_private_data()).unwrap_or_default()
    }

    /// Responder: the IRD/ORD words of a Reject (zeros, as `siw` sends), when the
    /// Request was enhanced and the answer is revision 2.
    fn reject_enhanced(&self) -> Option<EnhancedParams> {
        let req = self.peer_frame()?;
        let rev = req.revision.min(self.config.revision);
        (rev >= 2 && req.enhanced.is_some()).then(EnhancedParams::default)
    }

    fn queue_reject(&mut self, reason: &[u8]) {
        let Some(req) = self.peer_frame() else {
            return;
        };
        let revision = match req.revision {
            0 => self.config.revision,
            r => r.min(self.config.revision),
        };
        let crc = req.crc && self.config.crc != CrcPolicy::Refuse;
        let enhanced = self.reject_enhanced();
        let mut buf = [0u8; MAX_FRAME_LEN];
        let max = MAX_PD_LEN - enhanced.map_or(0, |_| mpa::ENHANCED_LEN);
        let reason = &reason[..reason.len().min(max)];
        buf[..reason.len()].copy_from_slice(reason);
        let repr = MpaRepr {
            kind: FrameKind::Reply,
            markers: false,
            crc,
            reject: true,
            res: 0,
            revision,
            enhanced,
            private_data: &buf[..reason.len()],
        };
        self.queue_frame(&repr);
    }

    /// Responder: the Reply the configuration allows for the received Request
    /// (RFC 5044 §7.1, RFC 6581 §9), or why it must be rejected.
    fn plan_reply(&self) -> Result<ReplyPlan, MpaError> {
        let req = self
            .peer_frame()
            .ok_or(MpaError::Malformed(wire::Error::BadKey))?;
        let cfg = &self.config;
        if req.revision == 0 {
            return Err(MpaError::Revision(0));
        }
        let revision = req.revision.min(cfg.revision);
        if req.markers && cfg.markers == MarkerPolicy::Refuse {
            return Err(MpaError::MarkersUnsupported);
        }
        if req.crc && cfg.crc == CrcPolicy::Refuse {
            return Err(MpaError::CrcRefused);
        }
        let crc = req.crc || cfg.crc == CrcPolicy::Request;
        let markers_rx = cfg.markers == MarkerPolicy::Request;
        let (enhanced, p2p) = match req.enhanced {
            Some(peer) if revision >= 2 && cfg.enhanced => {
                let p2p = if peer.peer_to_peer {
                    let offered = RtrSet {
                        write: peer.write_rtr,
                        read: peer.read_rtr,
                    };
                    let pick = [RtrType::Write, RtrType::Read]
                        .into_iter()
                        .find(|&t| offered.contains(t) && cfg.rtr_accepted.contains(t));
                    Some(pick.ok_or(MpaError::NoMatchingRtr)?)
                } else {
                    None
                };
                let reply = EnhancedParams {
                    ird: cfg.ird.min(peer.ord),
                    ord: cfg.ord.min(peer.ird),
                    peer_to_peer: peer.peer_to_peer,
                    send_rtr: false,
                    write_rtr: p2p == Some(RtrType::Write),
                    read_rtr: p2p == Some(RtrType::Read),
                };
                (Some(reply), p2p)
            }
            _ => (None, None),
        };
        Ok(ReplyPlan {
            revision,
            crc,
            markers_rx,
            markers_tx: req.markers,
            enhanced,
            p2p,
        })
    }

    /// Responder: a whole Request is in `rx`.
    fn on_request(&mut self) {
        let parsed = {
            let frame = MpaFrame::new_unchecked(&self.rx[..self.rx_len]);
            MpaRepr::parse(&frame).map(|_| ())
        };
        if let Err(e) = parsed {
            self.fail(MpaError::Malformed(e));
            return;
        }
        match self.plan_reply() {
            Ok(_) => {
                self.state = State::AwaitDecision;
                self.push_event(MpaEvent::RequestReceived);
            }
            Err(err) => {
                let reason = match err {
                    MpaError::MarkersUnsupported => &b"markers not supported"[..],
                    MpaError::CrcRefused => b"CRC not supported",
                    MpaError::Revision(_) => b"MPA revision not supported",
                    MpaError::NoMatchingRtr => b"no matching RTR type",
                    _ => b"",
                };
                self.queue_reject(reason);
                self.fail(err);
            }
        }
    }

    /// Initiator: a whole Reply is in `rx`.
    fn on_reply(&mut self) {
        match self.check_reply() {
            Ok(params) => {
                self.state = State::Done;
                self.push_event(MpaEvent::Negotiated(params));
            }
            Err(err) => self.fail(err),
        }
    }

    /// Initiator: what the Reply means for the Request sent (RFC 5044 §7.1, RFC 6581 §9).
    fn check_reply(&self) -> Result<MpaParams, MpaError> {
        let frame = MpaFrame::new_unchecked(&self.rx[..self.rx_len]);
        let rep = MpaRepr::parse(&frame).map_err(MpaError::Malformed)?;
        let sent = self.sent.ok_or(MpaError::Malformed(wire::Error::BadKey))?;
        let cfg = &self.config;
        if rep.reject {
            return Err(if sent.markers && !rep.markers {
                MpaError::MarkersRefused
            } else {
                MpaError::Rejected
            });
        }
        if rep.revision == 0 || rep.revision > sent.revision {
            return Err(MpaError::Revision(rep.revision));
        }
        if rep.crc && !sent.crc && cfg.crc == CrcPolicy::Refuse {
            return Err(MpaError::CrcRefused);
        }
        if rep.markers && cfg.markers == MarkerPolicy::Refuse {
            return Err(MpaError::MarkersUnsupported);
        }
        let mut params = MpaParams {
            revision: rep.revision,
            crc: sent.crc || rep.crc,
            markers_rx: sent.markers,
            markers_tx: rep.markers,
            enhanced: false,
            ird: cfg.ird,
            ord: cfg.ord,
            p2p: None,
            peer_private_data: PrivateData::new(rep.private_data).unwrap_or_default(),
        };
        if let (Some(mine), Some(peer), 2) = (sent.enhanced, rep.enhanced, rep.revision) {
            if peer.ord > cfg.ird {
                return Err(MpaError::InsufficientIrd);
            }
            params.enhanced = true;
            params.ird = peer.ord;
            params.ord = cfg.ord.min(peer.ird);
            params.p2p = match (peer.peer_to_peer, peer.write_rtr, peer.read_rtr) {
                (false, false, false) => None,
                (true, true, false) if mine.write_rtr => Some(RtrType::Write),
                (true, false, true) if mine.read_rtr => Some(RtrType::Read),
                _ => return Err(MpaError::NoMatchingRtr),
            };
            if params.p2p.is_some() && !mine.peer_to_peer {
                return Err(MpaError::NoMatchingRtr);
            }
        }
        Ok(params)
    }
}

#[cfg(test)]
mod tests;

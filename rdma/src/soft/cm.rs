//! Connection management of the soft backend (rdma_cm-style listen / accept / reject /
//! connect with private data): a blocking TCP handshake with deadlines that runs the
//! sans-IO MPA negotiation of [`crate::soft::proto::mpa_setup`] (RFC 5044 §7, RFC 6581)
//! and hands the negotiated stream to a QP, which switches it to non-blocking.
//!
//! Markers (RFC 5044 §5): Linux `siw` refuses them. A peer that refuses a markers
//! request is reconnected without markers and [`ConnectInfo::markers_refused`] reports
//! it; a listener rejects requests for markers unless [`ListenParams::markers`] says
//! otherwise. When markers are agreed, the QP's driver inserts and strips them.
//!
//! This module must not parse or build MPA frames itself (that is `wire` and `proto`),
//! must not touch the data path, and reads the clock only to enforce deadlines.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tickwarp_runtime::Nanos;
use tickwarp_runtime::clock::monotonic_now;

use crate::soft::driver::{FrameTap, TapDirection};
use crate::soft::proto::conn::{ConfigError, RtrKind};
use crate::soft::proto::mpa_setup::{
    self, MpaConfig, MpaEvent, MpaParams, MpaSetup, PrivateData, RtrSet,
};
pub use crate::soft::proto::mpa_setup::{CrcPolicy, MarkerPolicy, MpaError};
use crate::soft::wire::mpa;

/// MPA revision to request (RFC 5044 §7.1 `Rev`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MpaRevision {
    /// Revision 1 (RFC 5044): no IRD/ORD exchange, no peer-to-peer setup.
    V1,
    /// Revision 2 (RFC 6581 enhanced connection setup), what Linux `siw` speaks.
    #[default]
    V2,
}

/// Parameters of an active connect (rdma_cm `rdma_conn_param` plus MPA options).
#[derive(Clone, Debug)]
pub struct ConnectParams {
    /// Private data for the peer's connection request handler (at most 508 bytes with
    /// revision 2, 512 with revision 1).
    pub private_data: Vec<u8>,
    /// Ask for CRC32c on every FPDU (RFC 5044 §4.4).
    pub crc: bool,
    /// MPA revision.
    pub revision: MpaRevision,
    /// Ask for markers (RFC 5044 §5.3); a refusal falls back to no markers.
    pub markers: bool,
    /// Peer-to-peer model (RFC 6581 §3): send a ready-to-receive message first.
    pub p2p: bool,
    /// Pause after the MPA Reply before the QP may send its first FPDU. Linux `siw` as
    /// responder can stall on an FPDU that follows its Reply at once; use 50 ms when
    /// the peer is kernel `siw` (see `shared/siw-vm/README.md`). Zero by default.
    pub settle: Duration,
    /// The whole connect (TCP + MPA exchange, fallback included) must finish in this.
    pub timeout: Duration,
}

impl Default for ConnectParams {
    fn default() -> ConnectParams {
        ConnectParams {
            private_data: Vec::new(),
            crc: false,
            revision: MpaRevision::V2,
            markers: false,
            p2p: false,
            settle: Duration::ZERO,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Responder options of a listener (what its MPA Replies agree to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenParams {
    /// CRC32c: `Accept` (default, as Linux `siw`: on when the initiator asks),
    /// `Request` (always on), `Refuse` (reject initiators that ask).
    pub crc: CrcPolicy,
    /// Markers: `Refuse` (default, as `siw`: reject requests for markers, the
    /// initiator then falls back), `Accept` (insert them when asked), `Request` (also
    /// ask for them in what this side receives).
    pub markers: MarkerPolicy,
}

impl Default for ListenParams {
    fn default() -> ListenParams {
        ListenParams {
            crc: CrcPolicy::Accept,
            markers: MarkerPolicy::Refuse,
        }
    }
}

/// What a completed connection setup negotiated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectInfo {
    /// The peer's private data (ULP part, without the RFC 6581 IRD/ORD words).
    pub private_data: Vec<u8>,
    /// Local address of the stream.
    pub local_addr: SocketAddr,
    /// Peer address of the stream.
    pub peer_addr: SocketAddr,
    /// MPA revision in use.
    pub revision: u8,
    /// CRC32c on every FPDU.
    pub crc: bool,
    /// Markers were requested and refused; the connection runs without them.
    pub markers_refused: bool,
    /// The peer inserts markers in what it sends (this side strips them).
    pub markers_rx: bool,
    /// This side inserts markers in what it sends.
    pub markers_tx: bool,
    /// Peer-to-peer setup with this ready-to-receive message.
    pub rtr: Option<RtrKind>,
    /// Inbound RDMA Reads the peer may have outstanding.
    pub ird: u16,
    /// Outbound RDMA Reads this side may have outstanding.
    pub ord: u16,
}

/// Why connection setup failed.
#[derive(Debug, Error)]
pub enum CmError {
    /// The deadline passed (TCP connect, or a peer that never answered MPA).
    #[error("connection setup timed out")]
    Timeout,
    /// The peer rejected the request; `reason` is its reject private data.
    #[error("rejected by peer ({} bytes of reason)", reason.len())]
    Rejected {
        /// The peer's private data in the reject.
        reason: Vec<u8>,
    },
    /// A socket operation failed.
    #[error("I/O error: {0}")]
    Io(#[source] io::Error),
    /// The peer closed the stream during setup.
    #[error("peer closed the connection during setup")]
    Closed,
    /// The peer's MPA frames were malformed or its choices unacceptable.
    #[error("MPA negotiation failed: {0}")]
    Mpa(#[source] MpaError),
    /// A parameter is out of range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(&'static str),
    /// The MPA parameters or private data were refused before anything was sent.
    #[error("MPA configuration: {0}")]
    MpaConfig(#[source] mpa_setup::ConfigError),
    /// The negotiated parameters do not make a valid connection.
    #[error("connection configuration: {0}")]
    Config(#[source] ConfigError),
}

impl CmError {
    /// Maps an I/O error, turning socket timeouts into [`CmError::Timeout`].
    pub(crate) fn io(e: io::Error) -> CmError {
        match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => CmError::Timeout,
            ErrorKind::UnexpectedEof => CmError::Closed,
            _ => CmError::Io(e),
        }
    }
}

/// A point in monotonic time after which setup gives up.
#[derive(Clone, Copy, Debug)]
struct Deadline(Nanos);

impl Deadline {
    fn after(timeout: Duration) -> Deadline {
        Deadline(monotonic_now().saturating_add(timeout))
    }

    /// Time left, or `Timeout` when none is.
    fn remaining(self) -> Result<Duration, CmError> {
        let left = self.0.saturating_sub(monotonic_now());
        if left == Nanos::ZERO {
            Err(CmError::Timeout)
        } else {
            Ok(left.as_duration())
        }
    }
}

/// A stream during setup: blocking reads and writes bounded by a deadline, copied to
/// the tap when there is one.
struct SetupStream<'a> {
    stream: TcpStream,
    deadline: Deadline,
    tap: Option<&'a Arc<dyn FrameTap>>,
}

impl SetupStream<'_> {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), CmError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            self.stream
                .set_write_timeout(Some(self.deadline.remaining()?))
                .map_err(CmError::io)?;
            match self.stream.write(rest) {
                Ok(0) => return Err(CmError::Closed),
                Ok(n) => {
                    if let (Some(tap), Some(sent)) = (self.tap, rest.get(..n)) {
                        tap.on_bytes(TapDirection::Sent, sent);
                    }
                    rest = rest.get(n..).unwrap_or_default();
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(CmError::io(e)),
            }
        }
        Ok(())
    }

    /// Reads into `buf`, at most `buf.len()` bytes; returns how many (never 0).
    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, CmError> {
        loop {
            self.stream
                .set_read_timeout(Some(self.deadline.remaining()?))
                .map_err(CmError::io)?;
            match self.stream.read(buf) {
                Ok(0) => return Err(CmError::Closed),
                Ok(n) => {
                    if let (Some(tap), Some(got)) = (self.tap, buf.get(..n)) {
                        tap.on_bytes(TapDirection::Received, got);
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(CmError::io(e)),
            }
        }
    }

    /// Clears the setup timeouts and gives the stream back.
    fn finish(self) -> Result<TcpStream, CmError> {
        self.stream.set_read_timeout(None).map_err(CmError::io)?;
        self.stream.set_write_timeout(None).map_err(CmError::io)?;
        Ok(self.stream)
    }
}

/// A stream that finished MPA setup, ready for a QP.
#[derive(Debug)]
pub(crate) struct Negotiated {
    /// The stream, still blocking; the driver switches it to non-blocking.
    pub(crate) stream: TcpStream,
    /// Bytes received after the peer's Request/Reply: the start of the FPDU stream.
    pub(crate) early: Vec<u8>,
    /// CRC32c on FPDUs.
    pub(crate) crc: bool,
    /// Largest ULPDU per FPDU this side sends (RFC 5044 §4.3, from the TCP MSS).
    pub(crate) mulpdu: usize,
    /// Negotiated IRD.
    pub(crate) ird: u16,
    /// Negotiated ORD.
    pub(crate) ord: u16,
    /// Initiator in peer-to-peer mode: the RTR to send first.
    pub(crate) send_rtr: Option<RtrKind>,
    /// Responder in peer-to-peer mode: send nothing until the peer's RTR arrived.
    pub(crate) await_rtr: bool,
    /// Responder without peer-to-peer mode: send nothing until the initiator's first
    /// FPDU arrived (RFC 5044 §7.1.4; Linux `siw` as initiator fails the connection
    /// when data follows the MPA Reply before it sent anything).
    pub(crate) await_first_fpdu: bool,
    /// Markers in received bytes.
    pub(crate) markers_rx: bool,
    /// Markers in sent bytes.
    pub(crate) markers_tx: bool,
}

/// MULPDU for this stream: from the kernel's MSS (RFC 5044 §4.3, less the markers when
/// this side sends them), and a conservative Ethernet MSS when the kernel will not say.
fn stream_mulpdu(stream: &TcpStream, markers: bool) -> usize {
    let mss = socket2::SockRef::from(stream)
        .tcp_mss()
        .map_or(1460, |m| m as usize);
    mpa::mulpdu(mss.clamp(536, usize::from(u16::MAX)), markers)
}

/// The `Negotiated` and `ConnectInfo` of a finished setup.
fn finish(
    io: SetupStream<'_>,
    params: &MpaParams,
    early: &[u8],
    markers_refused: bool,
    initiator: bool,
) -> Result<(Negotiated, ConnectInfo), CmError> {
    let stream = io.finish()?;
    let info = ConnectInfo {
        private_data: params.peer_private_data.as_slice().to_vec(),
        local_addr: stream.local_addr().map_err(CmError::io)?,
        peer_addr: stream.peer_addr().map_err(CmError::io)?,
        revision: params.revision,
        crc: params.crc,
        markers_refused,
        markers_rx: params.markers_rx,
        markers_tx: params.markers_tx,
        rtr: params.p2p,
        ird: params.ird,
        ord: params.ord,
    };
    let neg = Negotiated {
        mulpdu: stream_mulpdu(&stream, params.markers_tx),
        stream,
        early: early.to_vec(),
        crc: params.crc,
        ird: params.ird,
        ord: params.ord,
        send_rtr: if initiator { params.p2p } else { None },
        await_rtr: !initiator && params.p2p.is_some(),
        await_first_fpdu: !initiator && params.p2p.is_none(),
        markers_rx: params.markers_rx,
        markers_tx: params.markers_tx,
    };
    Ok((neg, info))
}

/// Writes whatever the setup machine has queued.
fn flush_setup(setup: &mut MpaSetup, io: &mut SetupStream<'_>) -> Result<(), CmError> {
    let mut buf = [0u8; mpa_setup::MAX_FRAME_LEN];
    while setup.has_pending_transmit() {
        let n = setup.poll_transmit(&mut buf);
        io.write_all(buf.get(..n).unwrap_or_default())?;
    }
    Ok(())
}

/// The error for a failed setup; a peer's reject carries its reason.
fn setup_error(setup: &MpaSetup, e: MpaError) -> CmError {
    match e {
        MpaError::Timeout => CmError::Timeout,
        MpaError::PeerClosed => CmError::Closed,
        MpaError::Rejected => CmError::Rejected {
            reason: setup.peer_private_data().to_vec(),
        },
        e => CmError::Mpa(e),
    }
}

/// What an initiator's attempt ended with.
enum Attempt {
    Done(Box<(Negotiated, ConnectInfo)>),
    MarkersRefused,
}

/// Connects to `addr` as MPA initiator (RFC 5044 §7.1); retries once without markers
/// when the peer refuses them.
pub(crate) fn connect(
    addr: SocketAddr,
    params: &ConnectParams,
    ird: u16,
    ord: u16,
    tap: Option<&Arc<dyn FrameTap>>,
) -> Result<(Negotiated, ConnectInfo), CmError> {
    let deadline = Deadline::after(params.timeout);
    let config = MpaConfig {
        revision: match params.revision {
            MpaRevision::V1 => 1,
            MpaRevision::V2 => 2,
        },
        crc: if params.crc {
            CrcPolicy::Request
        } else {
            CrcPolicy::Accept
        },
        markers: if params.markers {
            MarkerPolicy::Request
        } else {
            MarkerPolicy::Refuse
        },
        enhanced: true,
        ird,
        ord,
        p2p: params.p2p.then_some(RtrSet::BOTH),
        rtr_accepted: RtrSet::BOTH,
        private_data: PrivateData::new(&params.private_data).map_err(CmError::MpaConfig)?,
        timeout: params.timeout,
    };
    config.validate().map_err(CmError::MpaConfig)?;
    let negotiated = match connect_once(addr, config, deadline, tap, false)? {
        Attempt::Done(done) => *done,
        Attempt::MarkersRefused => {
            match connect_once(addr, config.without_markers(), deadline, tap, true)? {
                Attempt::Done(done) => *done,
                Attempt::MarkersRefused => return Err(CmError::Mpa(MpaError::MarkersRefused)),
            }
        }
    };
    if !params.settle.is_zero() {
        std::thread::sleep(params.settle.min(deadline.remaining()?));
    }
    Ok(negotiated)
}

/// One TCP connection and MPA exchange.
fn connect_once(
    addr: SocketAddr,
    config: MpaConfig,
    deadline: Deadline,
    tap: Option<&Arc<dyn FrameTap>>,
    markers_refused: bool,
) -> Result<Attempt, CmError> {
    let stream = TcpStream::connect_timeout(&addr, deadline.remaining()?).map_err(CmError::io)?;
    stream.set_nodelay(true).map_err(CmError::io)?;
    if let Some(tap) = tap {
        tap.on_open(stream.local_addr().map_err(CmError::io)?, addr);
    }
    let attempt = exchange(stream, config, deadline, tap, markers_refused);
    if let (Some(tap), Ok(Attempt::MarkersRefused) | Err(_)) = (tap, &attempt) {
        // This flow ends here; a successful one ends when its QP closes.
        tap.on_close();
    }
    attempt
}

/// The MPA Request/Reply exchange of [`connect_once`] on a connected stream.
fn exchange(
    stream: TcpStream,
    config: MpaConfig,
    deadline: Deadline,
    tap: Option<&Arc<dyn FrameTap>>,
    markers_refused: bool,
) -> Result<Attempt, CmError> {
    let mut io = SetupStream {
        stream,
        deadline,
        tap,
    };
    let mut config = config;
    config.timeout = deadline.remaining()?;
    let mut setup = MpaSetup::initiator(config, monotonic_now()).map_err(CmError::MpaConfig)?;
    flush_setup(&mut setup, &mut io)?;
    let mut buf = [0u8; mpa_setup::MAX_FRAME_LEN];
    loop {
        let (n, closed) = match io.read_some(&mut buf) {
            Ok(n) => (n, false),
            Err(CmError::Closed) => {
                setup.handle_closed();
                (0, true)
            }
            Err(e) => return Err(e),
        };
        let data = buf.get(..n).unwrap_or_default();
        let used = setup.handle_bytes(monotonic_now(), data);
        while let Some(event) = setup.poll_event() {
            match event {
                MpaEvent::Negotiated(p) => {
                    let early = data.get(used..).unwrap_or_default();
                    return Ok(Attempt::Done(Box::new(finish(
                        io,
                        &p,
                        early,
                        markers_refused,
                        true,
                    )?)));
                }
                MpaEvent::Failed(MpaError::MarkersRefused) => return Ok(Attempt::MarkersRefused),
                MpaEvent::Failed(e) => return Err(setup_error(&setup, e)),
                MpaEvent::RequestReceived => {}
            }
        }
        if closed {
            return Err(CmError::Closed);
        }
    }
}

/// A listening socket (rdma_cm `rdma_listen`).
#[derive(Debug)]
pub(crate) struct Listener {
    listener: TcpListener,
    local: SocketAddr,
    params: ListenParams,
}

impl Listener {
    /// Binds `addr` (port 0 picks a free port).
    pub(crate) fn bind(addr: SocketAddr, params: ListenParams) -> Result<Listener, CmError> {
        let listener = TcpListener::bind(addr).map_err(CmError::io)?;
        let local = listener.local_addr().map_err(CmError::io)?;
        Ok(Listener {
            listener,
            local,
            params,
        })
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Waits up to `timeout` for a connection whose MPA Request is acceptable. Requests
    /// the MPA rules refuse (markers, bad frames) are answered and dropped here, as the
    /// kernel does, and waiting goes on.
    pub(crate) fn accept(&self, timeout: Duration) -> Result<Pending, CmError> {
        let deadline = Deadline::after(timeout);
        loop {
            let stream = self.accept_tcp(deadline)?;
            match read_request(stream, self.params, deadline) {
                Ok(pending) => return Ok(pending),
                Err(CmError::Timeout) => return Err(CmError::Timeout),
                Err(e) => tracing::debug!(error = %e, "dropped a connection request"),
            }
        }
    }

    /// A TCP connection, waiting until `deadline` (Linux honours `SO_RCVTIMEO` on
    /// `accept`, socket(7)).
    fn accept_tcp(&self, deadline: Deadline) -> Result<TcpStream, CmError> {
        let sock = socket2::SockRef::from(&self.listener);
        loop {
            sock.set_read_timeout(Some(deadline.remaining()?))
                .map_err(CmError::io)?;
            match self.listener.accept() {
                Ok((stream, _)) => return Ok(stream),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    // Timed out: `remaining` fails once the deadline really passed.
                    deadline.remaining()?;
                }
                Err(e) => return Err(CmError::io(e)),
            }
        }
    }
}

/// The responder's MPA configuration for a listener's policy and a QP's IRD/ORD.
fn responder_config(params: ListenParams, ird: u16, ord: u16, timeout: Duration) -> MpaConfig {
    MpaConfig {
        revision: 2,
        crc: params.crc,
        markers: params.markers,
        enhanced: true,
        ird: ird.min(mpa_setup::MAX_IRD_ORD),
        ord: ord.min(mpa_setup::MAX_IRD_ORD),
        p2p: None,
        rtr_accepted: RtrSet::BOTH,
        private_data: PrivateData::EMPTY,
        timeout,
    }
}

/// Reads one MPA Request from a fresh stream; answers and fails when it is refused.
fn read_request(
    stream: TcpStream,
    params: ListenParams,
    deadline: Deadline,
) -> Result<Pending, CmError> {
    stream.set_nodelay(true).map_err(CmError::io)?;
    let mut io = SetupStream {
        stream,
        deadline,
        tap: None,
    };
    let mut setup = MpaSetup::responder(
        responder_config(params, 0, 0, deadline.remaining()?),
        monotonic_now(),
    )
    .map_err(CmError::MpaConfig)?;
    let mut raw = Vec::with_capacity(mpa_setup::MAX_FRAME_LEN);
    let mut buf = [0u8; mpa_setup::MAX_FRAME_LEN];
    loop {
        let n = io.read_some(&mut buf)?;
        let data = buf.get(..n).unwrap_or_default();
        let used = setup.handle_bytes(monotonic_now(), data);
        raw.extend_from_slice(data.get(..used).unwrap_or_default());
        while let Some(event) = setup.poll_event() {
            match event {
                MpaEvent::RequestReceived => {
                    let early = data.get(used..).unwrap_or_default().to_vec();
                    let peer = io.stream.peer_addr().map_err(CmError::io)?;
                    let private_data = setup.peer_private_data().to_vec();
                    return Ok(Pending {
                        params,
                        stream: io.stream,
                        raw,
                        early,
                        peer,
                        private_data,
                    });
                }
                MpaEvent::Failed(e) => {
                    // A Reject may be queued (markers, CRC, revision): send it, then drop.
                    flush_setup(&mut setup, &mut io)?;
                    return Err(setup_error(&setup, e));
                }
                MpaEvent::Negotiated(_) => {}
            }
        }
    }
}

/// A connection whose MPA Request arrived, waiting for accept or reject.
#[derive(Debug)]
pub(crate) struct Pending {
    params: ListenParams,
    stream: TcpStream,
    /// The Request's bytes, replayed into the responder once IRD/ORD are known.
    raw: Vec<u8>,
    /// Bytes after the Request (a well-behaved initiator sends none).
    early: Vec<u8>,
    peer: SocketAddr,
    private_data: Vec<u8>,
}

/// Time allowed for answering an accepted or rejected request.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

impl Pending {
    /// The initiator's private data (ULP part).
    pub(crate) fn private_data(&self) -> &[u8] {
        &self.private_data
    }

    /// The initiator's address.
    pub(crate) fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// A responder that has seen the Request again, now with this QP's IRD/ORD.
    fn replay(&self, ird: u16, ord: u16) -> Result<MpaSetup, CmError> {
        let mut setup = MpaSetup::responder(
            responder_config(self.params, ird, ord, ANSWER_TIMEOUT),
            monotonic_now(),
        )
        .map_err(CmError::MpaConfig)?;
        let _ = setup.handle_bytes(monotonic_now(), &self.raw);
        match setup.poll_event() {
            Some(MpaEvent::RequestReceived) => Ok(setup),
            Some(MpaEvent::Failed(e)) => Err(CmError::Mpa(e)),
            Some(MpaEvent::Negotiated(_)) | None => Err(CmError::Mpa(MpaError::Timeout)),
        }
    }

    /// Accepts with `private_data` (RFC 5044 §7.1 Reply, RFC 6581 IRD/ORD).
    pub(crate) fn accept(
        self,
        private_data: &[u8],
        ird: u16,
        ord: u16,
        tap: Option<&Arc<dyn FrameTap>>,
    ) -> Result<(Negotiated, ConnectInfo), CmError> {
        let mut setup = self.replay(ird, ord)?;
        setup.accept(private_data).map_err(CmError::MpaConfig)?;
        if let Some(tap) = tap {
            tap.on_open(self.stream.local_addr().map_err(CmError::io)?, self.peer);
            tap.on_bytes(TapDirection::Received, &self.raw);
            if !self.early.is_empty() {
                tap.on_bytes(TapDirection::Received, &self.early);
            }
        }
        let mut io = SetupStream {
            stream: self.stream,
            deadline: Deadline::after(ANSWER_TIMEOUT),
            tap,
        };
        flush_setup(&mut setup, &mut io)?;
        match setup.poll_event() {
            Some(MpaEvent::Negotiated(p)) => finish(io, &p, &self.early, false, false),
            Some(MpaEvent::Failed(e)) => Err(setup_error(&setup, e)),
            Some(MpaEvent::RequestReceived) | None => Err(CmError::Mpa(MpaError::Timeout)),
        }
    }

    /// Rejects with `reason` as private data (RFC 5044 §7.1 Reply with `R`), then closes.
    pub(crate) fn reject(self, reason: &[u8]) -> Result<(), CmError> {
        let mut setup = self.replay(0, 0)?;
        setup.reject(reason).map_err(CmError::MpaConfig)?;
        let mut io = SetupStream {
            stream: self.stream,
            deadline: Deadline::after(ANSWER_TIMEOUT),
            tap: None,
        };
        flush_setup(&mut setup, &mut io)?;
        // The peer may already have gone; the Reject was written either way.
        let _ = io.stream.shutdown(std::net::Shutdown::Both);
        Ok(())
    }
}

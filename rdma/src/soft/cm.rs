//! Connection management of the soft backend (rdma_cm-style listen / accept / reject /
//! connect with private data): TCP handshakes that run the sans-IO MPA negotiation of
//! [`crate::soft::proto::mpa_setup`] (RFC 5044 §7, RFC 6581) and hand the negotiated
//! stream to a QP, which switches it to non-blocking. The initiator blocks with a
//! deadline; the [`Listener`] runs every responder handshake concurrently on one poll,
//! each with its own deadline and a cap on half-open handshakes, so a stalled or slow
//! peer never delays another.
//!
//! Markers (RFC 5044 §5): Linux `siw` refuses them. A peer that refuses a markers
//! request is reconnected without markers and [`ConnectInfo::markers_refused`] reports
//! it; a listener rejects requests for markers unless [`ListenParams::markers`] says
//! otherwise. When markers are agreed, the QP's driver inserts and strips them.
//!
//! This module must not parse or build MPA frames itself (that is `wire` and `proto`),
//! must not touch the data path, and reads the clock only to enforce deadlines.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mio::{Events, Interest, Poll, Token};

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
    /// A connection must deliver its whole MPA Request within this, else it is closed
    /// (default 5 s).
    pub handshake_timeout: Duration,
    /// Handshakes in progress at most; a new connection beyond this evicts the oldest
    /// (default 256).
    pub max_half_open: usize,
}

impl Default for ListenParams {
    fn default() -> ListenParams {
        ListenParams {
            crc: CrcPolicy::Accept,
            markers: MarkerPolicy::Refuse,
            handshake_timeout: Duration::from_secs(5),
            max_half_open: 256,
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

/// A listening socket (rdma_cm `rdma_listen`) that runs many MPA exchanges at once.
///
/// Every TCP connection the kernel completed is taken at once into a set of half-open
/// handshakes (non-blocking sockets on one `mio` poll), each with its own deadline
/// ([`ListenParams::handshake_timeout`]). [`Listener::accept`] progresses all of them and
/// returns the first whose MPA Request is complete, so a peer that sends nothing, or
/// half a Request, never delays another. At most [`ListenParams::max_half_open`]
/// handshakes are kept; a new connection beyond that evicts the oldest one (an honest
/// initiator sends its Request within one round trip, so the oldest is the likeliest
/// staller). Memory is bounded by `max_half_open × (MAX_FRAME_LEN + a socket)`.
#[derive(Debug)]
pub(crate) struct Listener {
    local: SocketAddr,
    params: ListenParams,
    state: Mutex<Handshakes>,
}

/// The listener's sockets and its half-open handshakes, oldest first.
#[derive(Debug)]
struct Handshakes {
    poll: Poll,
    events: Events,
    listener: mio::net::TcpListener,
    open: VecDeque<Handshake>,
    next_token: usize,
    stats: ListenerStats,
}

/// Counters of a listener's handshakes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerStats {
    /// Handshakes in progress now.
    pub half_open: usize,
    /// Handshakes dropped because their deadline passed.
    pub timed_out: u64,
    /// Handshakes evicted because `max_half_open` were in progress.
    pub evicted: u64,
    /// Requests refused by the MPA rules or malformed (answered with a Reject when the
    /// rules give one), and peers that closed during setup.
    pub refused: u64,
}

/// One connection whose MPA Request has not fully arrived.
#[derive(Debug)]
struct Handshake {
    stream: mio::net::TcpStream,
    peer: SocketAddr,
    setup: MpaSetup,
    /// The Request's bytes so far.
    raw: Vec<u8>,
}

/// The listener's own poll token.
const LISTENER_TOKEN: Token = Token(0);
/// Bytes read per `read` during setup.
const SETUP_READ: usize = mpa_setup::MAX_FRAME_LEN;
/// Listen backlog: connections the kernel completes before we take them.
const BACKLOG: i32 = 1024;

/// How one handshake progressed.
enum Progress {
    /// Still waiting for bytes.
    Waiting,
    /// The Request is complete; bytes after it.
    Ready(Vec<u8>),
    /// Drop it: refused (Reject sent when due), closed, or timed out.
    Drop(CmError),
}

impl Listener {
    /// Binds `addr` (port 0 picks a free port).
    pub(crate) fn bind(addr: SocketAddr, params: ListenParams) -> Result<Listener, CmError> {
        if params.max_half_open == 0 {
            return Err(CmError::InvalidParameter(
                "max_half_open must be at least 1",
            ));
        }
        if params.handshake_timeout.is_zero() {
            return Err(CmError::InvalidParameter(
                "handshake_timeout must not be zero",
            ));
        }
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .map_err(CmError::io)?;
        socket.set_reuse_address(true).map_err(CmError::io)?;
        socket.bind(&addr.into()).map_err(CmError::io)?;
        socket.listen(BACKLOG).map_err(CmError::io)?;
        socket.set_nonblocking(true).map_err(CmError::io)?;
        let std_listener: TcpListener = socket.into();
        let local = std_listener.local_addr().map_err(CmError::io)?;
        let mut listener = mio::net::TcpListener::from_std(std_listener);
        let poll = Poll::new().map_err(CmError::io)?;
        poll.registry()
            .register(&mut listener, LISTENER_TOKEN, Interest::READABLE)
            .map_err(CmError::io)?;
        Ok(Listener {
            local,
            params,
            state: Mutex::new(Handshakes {
                poll,
                events: Events::with_capacity(256),
                listener,
                open: VecDeque::new(),
                next_token: 1,
                stats: ListenerStats::default(),
            }),
        })
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The handshake counters.
    pub(crate) fn stats(&self) -> ListenerStats {
        let state = self.lock();
        ListenerStats {
            half_open: state.open.len(),
            ..state.stats
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Handshakes> {
        // A panic while holding the lock leaves only sockets behind: keep using them.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits up to `timeout` for a connection whose MPA Request is acceptable, while
    /// progressing every other handshake. Requests the MPA rules refuse (markers, bad
    /// frames) are answered and dropped here, as the kernel does, and waiting goes on.
    pub(crate) fn accept(&self, timeout: Duration) -> Result<Pending, CmError> {
        let deadline = Deadline::after(timeout);
        let mut state = self.lock();
        loop {
            state.take_connections(self.params)?;
            if let Some(pending) = state.progress(self.params)? {
                return Ok(pending);
            }
            let now = monotonic_now();
            let wake = state
                .open
                .iter()
                .filter_map(|h| h.setup.poll_timeout())
                .fold(deadline.0, Nanos::min);
            let wait = wake.saturating_sub(now);
            if wait == Nanos::ZERO && deadline.remaining().is_err() {
                return Err(CmError::Timeout);
            }
            let Handshakes { poll, events, .. } = &mut *state;
            match poll.poll(events, Some(wait.as_duration())) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(CmError::io(e)),
            }
        }
    }
}

impl Handshakes {
    /// Takes every connection the kernel completed, evicting the oldest handshakes
    /// beyond `max_half_open`.
    fn take_connections(&mut self, params: ListenParams) -> Result<(), CmError> {
        loop {
            let (mut stream, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Per-connection failures (ECONNABORTED, EMFILE...) must not stop
                    // the listener; EMFILE clears once handshakes time out.
                    tracing::debug!(error = %e, "TCP accept failed");
                    return Ok(());
                }
            };
            if self.open.len() >= params.max_half_open {
                if let Some(mut oldest) = self.open.pop_front() {
                    tracing::debug!(peer = %oldest.peer, "half-open MPA handshake evicted");
                    let _ = self.poll.registry().deregister(&mut oldest.stream);
                    self.stats.evicted += 1;
                }
            }
            let token = Token(self.next_token);
            self.next_token = self.next_token.wrapping_add(1).max(1);
            if let Err(e) = stream.set_nodelay(true).and_then(|()| {
                self.poll
                    .registry()
                    .register(&mut stream, token, Interest::READABLE)
            }) {
                tracing::debug!(%peer, error = %e, "dropped a connection");
                continue;
            }
            let setup = MpaSetup::responder(
                responder_config(params, 0, 0, params.handshake_timeout),
                monotonic_now(),
            )
            .map_err(CmError::MpaConfig)?;
            self.open.push_back(Handshake {
                stream,
                peer,
                setup,
                raw: Vec::new(),
            });
        }
    }

    /// Progresses every handshake; returns the first complete Request.
    fn progress(&mut self, params: ListenParams) -> Result<Option<Pending>, CmError> {
        let mut i = 0;
        while let Some(h) = self.open.get_mut(i) {
            match h.progress() {
                Progress::Waiting => i += 1,
                Progress::Ready(early) => {
                    let Some(mut h) = self.open.remove(i) else {
                        return Ok(None);
                    };
                    let _ = self.poll.registry().deregister(&mut h.stream);
                    let stream = TcpStream::from(h.stream);
                    // The answer is written with blocking I/O and a deadline.
                    if let Err(e) = stream.set_nonblocking(false) {
                        tracing::debug!(peer = %h.peer, error = %e, "dropped a connection");
                        continue;
                    }
                    return Ok(Some(Pending {
                        params,
                        stream,
                        private_data: h.setup.peer_private_data().to_vec(),
                        raw: h.raw,
                        early,
                        peer: h.peer,
                    }));
                }
                Progress::Drop(e) => {
                    if let Some(mut h) = self.open.remove(i) {
                        let _ = self.poll.registry().deregister(&mut h.stream);
                        match e {
                            CmError::Timeout => {
                                tracing::debug!(peer = %h.peer, "MPA handshake timed out");
                                self.stats.timed_out += 1;
                            }
                            e => {
                                tracing::debug!(peer = %h.peer, error = %e, "dropped a connection request");
                                self.stats.refused += 1;
                            }
                        }
                    }
                }
            }
        }
        Ok(None)
    }
}

impl Handshake {
    /// Reads what has arrived (until the socket would block) into the MPA responder.
    fn progress(&mut self) -> Progress {
        let mut buf = [0u8; SETUP_READ];
        loop {
            let (n, closed) = match self.stream.read(&mut buf) {
                Ok(0) => (0, true),
                Ok(n) => (n, false),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.setup.handle_timeout(monotonic_now());
                    return self.outcome(&[], 0);
                }
                Err(e) => return Progress::Drop(CmError::io(e)),
            };
            let data = buf.get(..n).unwrap_or_default();
            let used = self.setup.handle_bytes(monotonic_now(), data);
            self.raw
                .extend_from_slice(data.get(..used).unwrap_or_default());
            if closed {
                self.setup.handle_closed();
            }
            match self.outcome(data, used) {
                Progress::Waiting if closed => return Progress::Drop(CmError::Closed),
                Progress::Waiting => {}
                done => return done,
            }
        }
    }

    /// What the responder's events say after `data[..used]` was consumed.
    fn outcome(&mut self, data: &[u8], used: usize) -> Progress {
        while let Some(event) = self.setup.poll_event() {
            match event {
                MpaEvent::RequestReceived => {
                    return Progress::Ready(data.get(used..).unwrap_or_default().to_vec());
                }
                MpaEvent::Failed(e) => {
                    // A Reject may be queued (markers, CRC, revision): it is small and
                    // goes into an empty socket buffer, so one non-blocking try suffices.
                    let mut frame = [0u8; mpa_setup::MAX_FRAME_LEN];
                    while self.setup.has_pending_transmit() {
                        let n = self.setup.poll_transmit(&mut frame);
                        let _ = self.stream.write(frame.get(..n).unwrap_or_default());
                    }
                    return Progress::Drop(setup_error(&self.setup, e));
                }
                MpaEvent::Negotiated(_) => {}
            }
        }
        Progress::Waiting
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

//! [`FixAcceptor`]: the FIX 4.4 acceptor's driver — many sessions on one thread over
//! non-blocking mio sockets, with a front door that no client can block, starve or
//! exhaust.
//!
//! **Anonymous until authenticated.** A new connection owns nothing. It is anonymous
//! until its first frame, which must be a complete Logon within
//! [`FrontDoor::max_logon_bytes`] and [`FrontDoor::logon_timeout_ms`], names a
//! configured session by its CompIDs, and carries that session's Username (553, when
//! configured) and Password (554). The password is verified against the session's
//! argon2id hash on the verifier thread ([`auth`]); only then is the connection bound to
//! the session's store and the Logon fed to the session layer. At most
//! [`FrontDoor::max_anonymous`] connections are anonymous at once: a new one beyond that
//! closes the *oldest* anonymous connection (a real client sends its Logon at once and
//! stays anonymous for a few duty cycles; a squatter has to keep opening connections
//! faster than that, and each eviction counts as a failure of the evicted address).
//!
//! **One connection per session.** A second authenticated Logon for a session that has a
//! live connection is refused with a Logout and the established connection keeps the
//! session (QuickFIX does the same); a dead established connection is found by the
//! session's heartbeat and TestRequest timers, after which the client logs on again.
//!
//! **Failed logons** (unknown CompIDs, wrong username or password, a first frame that is
//! not a Logon, too big, garbled or late) touch no session store: no MsgSeqNum is
//! consumed and nothing is synced. They are logged at WARN with the peer address and
//! CompIDs (at most [`FrontDoor::log_lines_per_sec`] lines a second; the rest are
//! counted in a summary line) and counted per source address and per session
//! ([`guard`]): past [`FrontDoor::delay_after`] failures in the window each further
//! answer waits a doubling delay; past [`FrontDoor::lockout_after`] the address is locked
//! out (its connections are closed at accept) for [`FrontDoor::lockout_secs`]; past
//! [`FrontDoor::session_lockout_after`] the session verifies no new password for that
//! time, but a client whose password verified since start still logs on (its password is
//! checked against the cached MAC). A failed Logon that named a session is answered with
//! a Logout carrying the session's next outbound MsgSeqNum, which it does not consume.
//!
//! **Fairness and bounded memory.** Each duty cycle reads at most
//! [`FrontDoor::read_budget`] bytes from each connection (a connection with more waiting
//! is read again the next cycle), so a flooding session delays a quiet one by at most one
//! duty cycle. A session whose outbound queue exceeds [`FrontDoor::max_outbound_bytes`]
//! (a consumer that does not read) is sent a Logout saying so and disconnected; what it
//! had not received is in its session store and goes out by resend after its next Logon.
//! Reports for a session without a connection are stored in its session store at once
//! (see [`report`]), never kept in memory.
//!
//! **TLS.** With [`TlsSettings`] the listener speaks only TLS (rustls, [`transport`]):
//! each accepted socket is wrapped in a server connection, the handshake runs in the
//! same non-blocking duty cycle, and the connection is anonymous until its Logon came
//! over the finished handshake. Handshake bytes count against the anonymous budget
//! ([`FrontDoor::max_handshake_bytes`] on top of [`FrontDoor::max_logon_bytes`], both
//! counted in bytes read from the socket) and the same logon deadline, so a stalled or
//! bloated handshake is dropped and never delays another connection. Reads and writes
//! go through the same read budget and bounded outbound queue as plain TCP (rustls
//! holds at most 64 KiB of records per connection beyond the queue). A TLS failure (a
//! plaintext client, a bad record, a missing or unverifiable client certificate, an
//! alert from the peer) is answered with rustls' alert, logged once at WARN with the
//! peer address (rate-limited like failed logons), counted as a failure of the address
//! before logon, and the connection is closed. Client certificates, when required, are
//! verified against the configured CA; they are not matched to the session's CompIDs
//! (the password still authenticates the session).
//!
//! **Drop copies.** A session configured as a drop copy is read-only and receives a copy
//! of every ExecutionReport of its accounts, journaled in its store whether or not it is
//! connected (`drop_copy.rs`).
//!
//! What this module must not do: block (every socket is non-blocking and the poll has a
//! zero timeout), read a clock, run argon2 on its own thread, or decide anything about
//! orders (the core does).

mod auth;
mod counts;
mod disconnect;
mod drop_copy;
mod guard;
mod limits;
mod report;
mod retail;
mod sync_round;
mod tls;
mod transport;

use std::collections::{HashMap, VecDeque};
use std::io::{self, ErrorKind};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use tickwarp_runtime::Nanos;
use tickwarp_wire::{InstrumentTable, TickCause};

use super::core::{CoreError, OrderCore, Origin, Report};
use crate::fix::codec::{Framing, Message, MessageWriter, scan_frame};
use crate::fix::fields::tag;
use crate::fix::{
    MessageCounts, MsgType, Now, Session, SessionConfig, SessionEvent, SessionState, SessionStore,
    SharedStore,
};
use crate::venue::{VenueSession, VenueTime};

pub use auth::{Credential, CredentialError, check_phc, hash_password, verify_password};
pub use limits::{FrontDoor, FrontDoorError};
pub use tls::{TlsAcceptor, TlsConfigError, TlsSettings, crypto_provider};

use auth::{MacValue, PasswordMac, QueueError, Verifier, ct_eq};
use guard::{Failures, LogLimit, Policy};
use report::{send_report, store_offline};
use sync_round::SyncRound;
use transport::{ReadOutcome, Stream};

/// The listener's token.
const LISTENER: Token = Token(0);
/// Source addresses tracked for failed logons (a full table fails closed).
const MAX_TRACKED_ADDRS: usize = 65_536;

/// One configured session as the acceptor is given it.
#[derive(Debug)]
pub struct AcceptorSession {
    /// The session layer's configuration (its `password` is ignored: the acceptor
    /// authenticates with `credential` before the session sees the Logon).
    pub config: SessionConfig,
    /// How its Logon is authenticated.
    pub credential: Credential,
    /// Its store (sequence numbers and sent messages).
    pub store: SharedStore,
}

/// A configured session: its store while no connection has it, its live session while
/// one does.
#[derive(Debug)]
struct Slot {
    config: SessionConfig,
    credential: Credential,
    /// MAC of the password that last verified (see [`auth`]).
    verified: Option<MacValue>,
    store: Option<SharedStore>,
    live: Option<(Token, Session<SharedStore>)>,
    /// Cancel-on-disconnect ([`disconnect`]).
    watch: disconnect::Watch,
    /// Copies of a drop-copy session ([`drop_copy`]).
    copies: drop_copy::Copies,
}

impl Slot {
    /// The next outbound MsgSeqNum, without consuming it.
    fn next_out(&self) -> u64 {
        match (&self.store, &self.live) {
            (Some(store), _) => store.seq_nums().next_out,
            (None, Some((_, session))) => session.seq_nums().next_out,
            (None, None) => 1,
        }
    }
}

/// Where a connection is.
#[derive(Debug)]
enum ConnState {
    /// Waiting for a complete Logon.
    Anonymous {
        /// Bytes so far.
        rx: Vec<u8>,
    },
    /// Its Logon for `slot` is complete; the password is being verified.
    Verifying {
        /// The Logon and whatever followed it.
        rx: Vec<u8>,
        /// The session it names.
        slot: usize,
        /// The verification request.
        job: u64,
        /// MAC of the password, cached in the slot if it verifies.
        mac: MacValue,
    },
    /// A failed logon waiting out its delay; `answer` is written, then it closes.
    Penalized {
        /// When to answer.
        until: Nanos,
        /// The Logout to send (empty: just close).
        answer: Vec<u8>,
    },
    /// Bound to `slots[_]`.
    Bound(usize),
}

#[derive(Debug)]
struct Conn {
    stream: Stream,
    peer: SocketAddr,
    state: ConnState,
    /// When an anonymous or verifying connection is closed.
    deadline: Nanos,
    /// Bytes read from the socket while anonymous (TLS handshake included).
    received: usize,
    /// Flush what is queued, then close.
    closing: bool,
    /// Write once more, then close whatever is left (a consumer that fell behind).
    overflowed: bool,
}

impl Conn {
    fn is_anonymous(&self) -> bool {
        matches!(
            self.state,
            ConnState::Anonymous { .. } | ConnState::Verifying { .. }
        )
    }
}

/// What a connection's timer found.
#[derive(Clone, Copy, Debug)]
enum Due {
    /// An anonymous connection sent no complete Logon in time.
    Late,
    /// Its password was not verified in time (for this slot).
    Unverified(usize),
    /// A failed logon's delay is over.
    Answer,
}

/// Why a logon failed (the WARN line's reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    UnknownSession,
    BadCredentials,
    NotLogon,
    Garbled,
    TooBig,
    Timeout,
    Evicted,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownSession => "unknown CompIDs",
            Refusal::BadCredentials => "invalid username or password",
            Refusal::NotLogon => "first message is not a Logon",
            Refusal::Garbled => "garbled first frame",
            Refusal::TooBig => "Logon too big",
            Refusal::Timeout => "no Logon in time",
            Refusal::Evicted => "evicted by newer anonymous connections",
        }
    }
}

/// Counters of the front door, for tests and operators.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrontDoorStats {
    /// Logons that authenticated and were handed to their session.
    pub authenticated: u64,
    /// Failed logons (every [`Refusal`] kind).
    pub failed: u64,
    /// Connections closed at accept because their address is locked out.
    pub locked_out: u64,
    /// Authenticated Logons refused because the session already has a connection.
    pub duplicate: u64,
    /// Logons told to retry because the verifier queue was full or the session locked.
    pub busy: u64,
    /// Anonymous connections closed to make room for newer ones.
    pub evicted: u64,
    /// Sessions logged out because their outbound queue passed the bound.
    pub overflowed: u64,
    /// Password verifications run by argon2 (not answered from the cache).
    pub argon2_verifications: u64,
    /// Largest outbound queue of one session seen before a write, bytes.
    pub outbound_high_water: usize,
    /// Reports stored for sessions without a connection.
    pub stored_offline: u64,
    /// Connections closed because TLS failed (handshake, record or alert); before
    /// logon these are also counted in `failed`.
    pub tls_failed: u64,
}

/// The FIX acceptor (see the module docs).
#[derive(Debug)]
pub struct FixAcceptor {
    poll: Poll,
    events: Events,
    ready: Vec<Token>,
    /// Connections that used their read budget and may have more waiting.
    carry: Vec<Token>,
    listener: TcpListener,
    local_addr: SocketAddr,
    /// TLS for every accepted connection, when configured.
    tls: Option<TlsAcceptor>,
    instruments: InstrumentTable,
    slots: Vec<Slot>,
    /// (client's SenderCompID, client's TargetCompID) → slot.
    by_comp: HashMap<(Vec<u8>, Vec<u8>), usize>,
    /// Configured session id → slot.
    by_id: HashMap<u32, usize>,
    conns: HashMap<Token, Conn>,
    /// Anonymous connections in accept order (may hold tokens no longer anonymous).
    anonymous_order: VecDeque<Token>,
    anonymous: usize,
    penalized: usize,
    next_token: usize,
    next_job: u64,
    front: FrontDoor,
    verifier: Verifier,
    mac: PasswordMac,
    addr_failures: Failures<IpAddr>,
    session_failures: Failures<usize>,
    log_limit: LogLimit,
    stats: FrontDoorStats,
    /// The duty cycle's one sync round (see [`FixAcceptor::sync_round`]).
    round: SyncRound,
    /// Messages of connections closed since the metrics last took them ([`counts`]).
    closed_counts: MessageCounts,
    buf: Vec<u8>,
    scratch: Vec<u8>,
}

impl FixAcceptor {
    /// Listens on `addr` for `sessions`, trading `instruments`, with the `front` limits
    /// (already validated), over TLS when `tls` is given. Starts the verifier thread.
    pub fn bind(
        addr: SocketAddr,
        sessions: Vec<AcceptorSession>,
        instruments: InstrumentTable,
        front: FrontDoor,
        tls: Option<TlsAcceptor>,
    ) -> io::Result<FixAcceptor> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(addr)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let local_addr = listener.local_addr()?;
        let mut slots = Vec::with_capacity(sessions.len());
        let mut by_comp = HashMap::with_capacity(sessions.len());
        let mut by_id = HashMap::with_capacity(sessions.len());
        for AcceptorSession {
            mut config,
            credential,
            store,
        } in sessions
        {
            let ix = slots.len();
            by_comp.insert(
                (
                    config.target_comp_id.as_bytes().to_vec(),
                    config.sender_comp_id.as_bytes().to_vec(),
                ),
                ix,
            );
            by_id.insert(config.session_id.0, ix);
            if credential == Credential::NoPassword {
                tracing::warn!(
                    session = config.session_id.0,
                    client = %config.target_comp_id,
                    "FIX session without a password (allow_no_password): anyone who knows its CompIDs can log on"
                );
            }
            // The acceptor authenticates; the session layer compares no password.
            config.password = None;
            slots.push(Slot {
                watch: disconnect::Watch::at_start(&config),
                config,
                credential,
                verified: None,
                store: Some(store),
                live: None,
                copies: drop_copy::Copies::default(),
            });
        }
        let policy = |lockout_after: u32| Policy {
            window: Duration::from_secs(front.failure_window_secs),
            delay_after: front.delay_after,
            delay_base: Duration::from_millis(front.delay_base_ms),
            delay_max: Duration::from_millis(front.delay_max_ms),
            lockout_after,
            lockout: Duration::from_secs(front.lockout_secs),
        };
        Ok(FixAcceptor {
            poll,
            events: Events::with_capacity(256),
            ready: Vec::with_capacity(256),
            carry: Vec::with_capacity(64),
            listener,
            local_addr,
            tls,
            instruments,
            by_comp,
            by_id,
            conns: HashMap::new(),
            anonymous_order: VecDeque::with_capacity(front.max_anonymous),
            anonymous: 0,
            penalized: 0,
            next_token: 1,
            next_job: 1,
            verifier: Verifier::start(front.verify_queue)?,
            mac: PasswordMac::random(),
            addr_failures: Failures::new(policy(front.lockout_after), MAX_TRACKED_ADDRS),
            session_failures: Failures::new(policy(front.session_lockout_after), slots.len()),
            log_limit: LogLimit::new(front.log_lines_per_sec),
            stats: FrontDoorStats::default(),
            round: SyncRound::new(slots.iter().filter_map(|s| s.store.as_ref()))?,
            closed_counts: MessageCounts::default(),
            buf: vec![0; front.read_budget.min(64 << 10)],
            scratch: Vec::with_capacity(1 << 10),
            slots,
            front,
        })
    }

    /// The address it listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Connections open (bound, anonymous or waiting out a failed logon).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Anonymous connections open (not authenticated yet).
    pub fn anonymous_connections(&self) -> usize {
        self.anonymous
    }

    /// The front door's counters.
    pub fn stats(&self) -> FrontDoorStats {
        self.stats
    }

    /// The state of session `id`'s connection, if it has one.
    pub fn session_state(&self, id: u32) -> Option<SessionState> {
        let slot = self.slots.get(*self.by_id.get(&id)?)?;
        slot.live.as_ref().map(|(_, s)| s.state())
    }

    /// Reads what arrived (at most the read budget per connection), collects password
    /// verdicts, runs the timers, and hands session events to `core`. Returns the work
    /// done.
    pub fn poll_input<V: VenueSession>(
        &mut self,
        now: Now,
        core: &mut OrderCore<V>,
    ) -> Result<usize, CoreError> {
        let mut work = 0;
        match self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => tracing::error!(error = %e, "FIX acceptor poll failed"),
        }
        self.ready.clear();
        self.ready.extend(self.events.iter().map(|e| e.token()));
        self.ready.append(&mut self.carry);
        self.ready.sort_unstable();
        self.ready.dedup();
        for i in 0..self.ready.len() {
            let Some(&token) = self.ready.get(i) else {
                break;
            };
            work += 1;
            if token == LISTENER {
                self.accept_all(now);
            } else {
                self.read_conn(now, token);
            }
        }
        work += self.poll_verdicts(now);
        work += self.run_timers(now);
        work += self.handle_events(now, core)?;
        self.check_outbound(now);
        Ok(work)
    }

    /// Hands `report` to session `id`: sent when it is logged on, else stored in its
    /// session store for the resend after its next Logon.
    pub fn deliver(&mut self, now: Now, id: u32, report: Report) {
        let Some(ix) = self.by_id.get(&id).copied() else {
            tracing::error!(
                session = id,
                exec_id = report.exec_id,
                "report for an unknown FIX session: it stays in the order journal only"
            );
            return;
        };
        let live = self.slots.get(ix).and_then(|s| s.live.as_ref());
        match live {
            Some((_, session))
                if matches!(
                    session.state(),
                    SessionState::Active | SessionState::LoggingOut
                ) =>
            {
                if let Some((_, session)) = self.slots.get_mut(ix).and_then(|s| s.live.as_mut()) {
                    send_report(session, now, &report);
                }
                self.check_outbound(now);
                return;
            }
            Some(&(token, _)) => {
                // Connected but not logged on (its Logon failed in the session layer, or
                // it is going away): end the connection so the store takes the report,
                // after one try at writing what the session queued (its Logout).
                self.flush_once(token);
                self.close(token);
            }
            None => {}
        }
        let Some(slot) = self.slots.get_mut(ix) else {
            return;
        };
        let Some(store) = slot.store.as_mut() else {
            return;
        };
        match store_offline(
            store,
            &slot.config,
            &self.instruments,
            now,
            &report,
            &mut self.scratch,
        ) {
            Ok(seq) => {
                self.stats.stored_offline += 1;
                tracing::debug!(session = id, seq, "report stored for the next logon");
            }
            Err(e) => tracing::error!(
                session = id,
                exec_id = report.exec_id,
                error = %e,
                "report not stored in the FIX session store: it stays in the order journal only"
            ),
        }
    }

    /// The duty cycle's one durable point, after the reports are routed and before
    /// [`FixAcceptor::poll_output`]: syncs `journal` (from [`OrderCore::begin_sync`]) and
    /// the sessions' shared store log at once ([`sync_round`]: at most two syncs,
    /// whatever the number of sessions that wrote), offline drop copies' records too
    /// (`drop_copy.rs`); returns the syncs run. A failed order-journal sync is the error;
    /// a failed log sync ends every session it left uncovered (stops a drop copy).
    pub fn sync_round<V: VenueSession>(
        &mut self,
        journal: Option<tickwarp_wire::journal::SyncTicket>,
        core: &mut OrderCore<V>,
        now: Now,
    ) -> Result<usize, CoreError> {
        let synced = self.round.run(journal, core, &mut self.slots);
        self.settle_copies(now);
        synced
    }

    /// Session `id`'s store (its live session's while it is connected).
    pub fn session_store(&self, id: u32) -> Option<&SharedStore> {
        let slot = self.slots.get(*self.by_id.get(&id)?)?;
        match &slot.live {
            Some((_, session)) => Some(session.store()),
            None => slot.store.as_ref(),
        }
    }

    /// Sync rounds run so far (one per duty cycle that had something to make durable).
    pub fn sync_rounds(&self) -> u64 {
        self.round.rounds()
    }

    /// Syncs of the sessions' shared store log so far (one per round at most, plus any
    /// a session's own flush ran outside a round): the seam that counts store syncs.
    pub fn session_log_syncs(&self) -> u64 {
        self.round.log_syncs()
    }

    /// Writes what the sessions queued and closes connections that are done. Returns the
    /// bytes written.
    pub fn poll_output(&mut self) -> usize {
        let mut written = 0;
        let mut done: Vec<Token> = Vec::new();
        for (&token, conn) in &mut self.conns {
            let ConnState::Bound(ix) = conn.state else {
                // Handshake records the socket could not take at once.
                if conn.stream.wants_write() {
                    if let Err(e) = conn.stream.flush() {
                        tracing::debug!(error = %e, "FIX TLS handshake write failed");
                        done.push(token);
                    }
                }
                continue;
            };
            let Some((_, session)) = self.slots.get_mut(ix).and_then(|s| s.live.as_mut()) else {
                done.push(token);
                continue;
            };
            // Releases what the duty cycle's sync round covered (a store the round did
            // not sync, e.g. with no round before this call, is synced here).
            session.flush();
            self.stats.outbound_high_water = self
                .stats
                .outbound_high_water
                .max(session.transmit_queue().len());
            loop {
                let pending = session.transmit_queue();
                if pending.is_empty() {
                    // TLS records rustls still holds go out before the connection ends.
                    match conn.stream.flush() {
                        Ok(true) if conn.closing || conn.overflowed => done.push(token),
                        Ok(false) if conn.overflowed => done.push(token),
                        Ok(_) => {}
                        Err(e) => {
                            tracing::debug!(error = %e, "FIX connection write failed");
                            done.push(token);
                        }
                    }
                    break;
                }
                match conn.stream.write(pending) {
                    Ok(0) => {
                        done.push(token);
                        break;
                    }
                    Ok(n) => {
                        written += n;
                        session.consume_transmit(n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if conn.overflowed {
                            done.push(token);
                        }
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "FIX connection write failed");
                        done.push(token);
                        break;
                    }
                }
            }
        }
        for token in done {
            self.close(token);
        }
        written
    }

    /// One non-blocking write of a bound connection's queued bytes.
    fn flush_once(&mut self, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let ConnState::Bound(ix) = conn.state else {
            return;
        };
        if let Some((_, session)) = self.slots.get_mut(ix).and_then(|s| s.live.as_mut()) {
            if let Ok(n) = conn.stream.write(session.transmit_queue()) {
                session.consume_transmit(n);
            }
        }
    }

    /// Logs out every session whose outbound queue passed the bound.
    fn check_outbound(&mut self, now: Now) {
        let bound = self.front.max_outbound_bytes;
        for slot in &mut self.slots {
            let Some((token, session)) = slot.live.as_mut() else {
                continue;
            };
            let queued = session.transmit_queue().len();
            if queued <= bound {
                continue;
            }
            let Some(conn) = self.conns.get_mut(token) else {
                continue;
            };
            if conn.overflowed {
                continue;
            }
            conn.overflowed = true;
            self.stats.overflowed += 1;
            tracing::warn!(
                session = slot.config.session_id.0,
                peer = %conn.peer,
                queued,
                bound,
                "FIX client does not read: logged out and disconnected; unsent messages go out by resend after its next logon"
            );
            session.initiate_logout(now, Some("outbound queue full: client does not read"));
        }
    }

    /// Accepts every pending connection.
    fn accept_all(&mut self, now: Now) {
        loop {
            match self.listener.accept() {
                Ok((tcp, peer)) => {
                    if self.addr_failures.locked(&peer.ip(), now.mono) {
                        self.stats.locked_out += 1;
                        if self.log_allowed(now) {
                            tracing::warn!(%peer, "FIX connection from a locked-out address closed");
                        }
                        continue;
                    }
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::debug!(error = %e, "TCP_NODELAY failed");
                    }
                    let mut stream = match Stream::new(tcp, self.tls.as_ref()) {
                        Ok(stream) => stream,
                        Err(e) => {
                            tracing::warn!(error = %e, %peer, "cannot start TLS for a FIX connection");
                            continue;
                        }
                    };
                    let token = Token(self.next_token);
                    self.next_token += 1;
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(stream.socket(), token, Interest::READABLE)
                    {
                        tracing::warn!(error = %e, %peer, "cannot register FIX connection");
                        continue;
                    }
                    tracing::debug!(%peer, "FIX connection accepted");
                    if self.anonymous >= self.front.max_anonymous {
                        self.evict_oldest(now);
                    }
                    self.conns.insert(
                        token,
                        Conn {
                            stream,
                            peer,
                            state: ConnState::Anonymous { rx: Vec::new() },
                            deadline: now.mono.saturating_add(self.front.logon_timeout()),
                            received: 0,
                            closing: false,
                            overflowed: false,
                        },
                    );
                    self.anonymous += 1;
                    self.anonymous_order.push_back(token);
                    if self.anonymous_order.len() > self.front.max_anonymous.saturating_mul(2) {
                        let conns = &self.conns;
                        self.anonymous_order
                            .retain(|t| conns.get(t).is_some_and(Conn::is_anonymous));
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(error = %e, "FIX accept failed");
                    return;
                }
            }
        }
    }

    /// Closes the oldest anonymous connection.
    fn evict_oldest(&mut self, now: Now) {
        while let Some(token) = self.anonymous_order.pop_front() {
            if self.conns.get(&token).is_some_and(Conn::is_anonymous) {
                self.stats.evicted += 1;
                self.refuse(now, token, None, Refusal::Evicted);
                return;
            }
        }
    }

    /// Reads a connection up to its budget (mio readiness is edge-triggered: one that
    /// used its budget is read again next cycle).
    fn read_conn(&mut self, now: Now, token: Token) {
        let mut budget = self.front.read_budget;
        // Plain TCP: the Logon's own bound applies (`on_anonymous_bytes`); TLS adds
        // the handshake's.
        let anonymous_wire_limit = match self.tls {
            Some(_) => self
                .front
                .max_logon_bytes
                .saturating_add(self.front.max_handshake_bytes),
            None => usize::MAX,
        };
        while budget > 0 {
            let Some(conn) = self.conns.get_mut(&token) else {
                return;
            };
            if matches!(
                conn.state,
                ConnState::Verifying { .. } | ConnState::Penalized { .. }
            ) {
                // Read after the verdict (a bound connection is carried then).
                return;
            }
            let want = budget.min(self.buf.len());
            let Some(buf) = self.buf.get_mut(..want) else {
                return;
            };
            let (plain, wire) = match conn.stream.read(buf) {
                ReadOutcome::Data { plain: 0, wire: 0 } => return,
                ReadOutcome::Data { plain, wire } => (plain, wire),
                ReadOutcome::Closed => {
                    self.close(token);
                    return;
                }
                ReadOutcome::TlsFailed(e) => {
                    self.tls_failed(now, token, &e);
                    return;
                }
            };
            // Socket bytes and application bytes both count (TLS: records, handshake).
            budget = budget.saturating_sub(plain.max(wire));
            let data = self.buf.get(..plain).unwrap_or_default();
            match &mut conn.state {
                ConnState::Bound(ix) => {
                    if let Some((_, session)) =
                        self.slots.get_mut(*ix).and_then(|s| s.live.as_mut())
                    {
                        if !data.is_empty() {
                            session.handle_bytes(now, data);
                        }
                    }
                }
                ConnState::Anonymous { rx } => {
                    conn.received = conn.received.saturating_add(wire);
                    if conn.received > anonymous_wire_limit {
                        self.refuse(now, token, None, Refusal::TooBig);
                        return;
                    }
                    if !data.is_empty() {
                        rx.extend_from_slice(data);
                        self.on_anonymous_bytes(now, token);
                    }
                }
                ConnState::Verifying { .. } | ConnState::Penalized { .. } => {}
            }
        }
        self.carry.push(token);
    }

    /// Looks for a complete Logon in an anonymous connection's bytes.
    fn on_anonymous_bytes(&mut self, now: Now, token: Token) {
        let max = self.front.max_logon_bytes;
        let Some(Conn {
            state: ConnState::Anonymous { rx },
            ..
        }) = self.conns.get(&token)
        else {
            return;
        };
        match scan_frame(rx, max) {
            Framing::Incomplete if rx.len() <= max => {}
            Framing::Incomplete => self.refuse(now, token, None, Refusal::TooBig),
            Framing::Garbled { .. } => self.refuse(now, token, None, Refusal::Garbled),
            Framing::Complete(len) if len > max => self.refuse(now, token, None, Refusal::TooBig),
            Framing::Complete(len) => self.on_logon_frame(now, token, len),
        }
    }

    /// Authenticates the Logon in the first `len` bytes of an anonymous connection.
    fn on_logon_frame(&mut self, now: Now, token: Token, len: usize) {
        let Some(Conn {
            state: ConnState::Anonymous { rx },
            ..
        }) = self.conns.get(&token)
        else {
            return;
        };
        let Some(msg) = rx.get(..len).and_then(|f| Message::decode(f).ok()) else {
            self.refuse(now, token, None, Refusal::Garbled);
            return;
        };
        if msg.msg_type() != MsgType::LOGON {
            self.refuse(now, token, None, Refusal::NotLogon);
            return;
        }
        let comp = (
            msg.get(tag::SENDER_COMP_ID).unwrap_or_default(),
            msg.get(tag::TARGET_COMP_ID).unwrap_or_default(),
        );
        let Some(ix) = self
            .by_comp
            .get(&(comp.0.to_vec(), comp.1.to_vec()))
            .copied()
        else {
            self.refuse(now, token, None, Refusal::UnknownSession);
            return;
        };
        let Some(slot) = self.slots.get(ix) else {
            return;
        };
        let user_ok = slot
            .config
            .username
            .as_deref()
            .is_none_or(|u| ct_eq(msg.get(tag::USERNAME).unwrap_or_default(), u.as_bytes()));
        let password = msg.get(tag::PASSWORD).unwrap_or_default();
        let mac = self.mac.mac(password);
        let verdict = match (&slot.credential, &slot.verified) {
            (Credential::NoPassword, _) => Some(true),
            (Credential::Hash(_), Some(known)) => Some(ct_eq(known, &mac)),
            (Credential::Hash(_), None) => None,
        };
        match verdict {
            Some(ok) => {
                if ok && user_ok {
                    self.bind_session(now, token, ix);
                } else {
                    self.refuse(now, token, Some(ix), Refusal::BadCredentials);
                }
            }
            None if !user_ok => self.refuse(now, token, Some(ix), Refusal::BadCredentials),
            None => {
                if self.session_failures.locked(&ix, now.mono) {
                    self.busy(
                        now,
                        token,
                        ix,
                        "session temporarily locked after failed logons",
                    );
                    return;
                }
                let Credential::Hash(phc) = &slot.credential else {
                    return;
                };
                let job = self.next_job;
                match self.verifier.submit(job, phc, password) {
                    Ok(()) => {
                        self.next_job += 1;
                        self.stats.argon2_verifications += 1;
                        if let Some(conn) = self.conns.get_mut(&token) {
                            if let ConnState::Anonymous { rx } = &mut conn.state {
                                let rx = std::mem::take(rx);
                                conn.state = ConnState::Verifying {
                                    rx,
                                    slot: ix,
                                    job,
                                    mac,
                                };
                            }
                        }
                    }
                    Err(QueueError::Full) => self.busy(now, token, ix, "logon busy, retry"),
                    Err(QueueError::Gone) => {
                        tracing::error!("FIX password verifier thread is gone");
                        self.busy(now, token, ix, "logon unavailable");
                    }
                }
            }
        }
    }

    /// Takes the verifier's answers.
    fn poll_verdicts(&mut self, now: Now) -> usize {
        let mut work = 0;
        while let Some(verdict) = self.verifier.poll() {
            work += 1;
            let found = self.conns.iter().find_map(|(&token, c)| match c.state {
                ConnState::Verifying { job, slot, mac, .. } if job == verdict.id => {
                    Some((token, slot, mac))
                }
                _ => None,
            });
            let Some((token, ix, mac)) = found else {
                continue;
            };
            if verdict.ok {
                if let Some(slot) = self.slots.get_mut(ix) {
                    slot.verified = Some(mac);
                }
                self.bind_session(now, token, ix);
                self.carry.push(token);
            } else {
                self.refuse(now, token, Some(ix), Refusal::BadCredentials);
            }
        }
        work
    }

    /// Hands an authenticated connection its session, unless the session already has
    /// a live connection.
    fn bind_session(&mut self, now: Now, token: Token, ix: usize) {
        if self.refuse_stopped_drop_copy(now, token, ix) {
            return;
        }
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let rx = match &mut conn.state {
            ConnState::Anonymous { rx } | ConnState::Verifying { rx, .. } => std::mem::take(rx),
            ConnState::Penalized { .. } | ConnState::Bound(_) => return,
        };
        let peer = conn.peer;
        let Some(slot) = self.slots.get_mut(ix) else {
            return;
        };
        let Some(store) = slot.store.take() else {
            self.stats.duplicate += 1;
            tracing::warn!(
                session = slot.config.session_id.0,
                %peer,
                "second logon for a connected FIX session refused; the established connection keeps it"
            );
            let answer = logout(
                &slot.config,
                slot.next_out(),
                now,
                "session already logged on from another connection",
                &mut self.scratch,
            );
            self.answer_and_close(token, &answer);
            return;
        };
        self.anonymous = self.anonymous.saturating_sub(1);
        self.stats.authenticated += 1;
        tracing::info!(session = slot.config.session_id.0, %peer, "FIX logon authenticated");
        let mut session = Session::new(slot.config.clone(), self.instruments.clone(), store, now);
        session.handle_bytes(now, &rx);
        slot.live = Some((token, session));
        conn.state = ConnState::Bound(ix);
    }

    /// Answers a Logon that authenticated or could not be checked now with a Logout
    /// asking to retry; counts no failure.
    fn busy(&mut self, now: Now, token: Token, ix: usize, text: &str) {
        self.stats.busy += 1;
        let Some(slot) = self.slots.get(ix) else {
            return;
        };
        let answer = logout(&slot.config, slot.next_out(), now, text, &mut self.scratch);
        self.answer_and_close(token, &answer);
    }

    /// A failed logon: counted, logged, answered after its delay (see the module docs).
    fn refuse(&mut self, now: Now, token: Token, slot: Option<usize>, why: Refusal) {
        let Some(conn) = self.conns.get(&token) else {
            return;
        };
        let peer = conn.peer;
        let (sender, target) = match &conn.state {
            ConnState::Anonymous { rx } | ConnState::Verifying { rx, .. } => comp_ids(rx),
            _ => (String::new(), String::new()),
        };
        self.stats.failed += 1;
        let by_addr = self.addr_failures.record(peer.ip(), now.mono);
        let by_session = slot.map(|ix| self.session_failures.record(ix, now.mono));
        let delay = by_session.map_or(by_addr.delay, |s| s.delay.max(by_addr.delay));
        if self.log_allowed(now) {
            tracing::warn!(
                %peer,
                sender = %sender,
                target = %target,
                reason = why.as_str(),
                failures_from_addr = by_addr.count,
                addr_locked_out = by_addr.locked,
                session_locked = by_session.is_some_and(|s| s.locked),
                delay_ms = delay.as_millis() as u64,
                "FIX logon failed"
            );
        }
        let answer = match slot.and_then(|ix| self.slots.get(ix)) {
            Some(s) if why == Refusal::BadCredentials => logout(
                &s.config,
                s.next_out(),
                now,
                why.as_str(),
                &mut self.scratch,
            ),
            _ => Vec::new(),
        };
        if delay.is_zero() || self.penalized >= self.front.max_penalized {
            self.answer_and_close(token, &answer);
            return;
        }
        if let Some(conn) = self.conns.get_mut(&token) {
            if conn.is_anonymous() {
                self.anonymous = self.anonymous.saturating_sub(1);
            }
            conn.state = ConnState::Penalized {
                until: now.mono.saturating_add(delay),
                answer,
            };
            self.penalized += 1;
        }
    }

    /// A connection whose TLS failed: logged once, counted against its address when it
    /// had not logged on, closed (rustls' alert was written, best effort).
    fn tls_failed(&mut self, now: Now, token: Token, error: &rustls::Error) {
        let Some(conn) = self.conns.get(&token) else {
            return;
        };
        let peer = conn.peer;
        let anonymous = conn.is_anonymous();
        self.stats.tls_failed += 1;
        let by_addr = if anonymous {
            self.stats.failed += 1;
            Some(self.addr_failures.record(peer.ip(), now.mono))
        } else {
            None
        };
        if self.log_allowed(now) {
            match by_addr {
                Some(f) => tracing::warn!(
                    %peer,
                    %error,
                    failures_from_addr = f.count,
                    addr_locked_out = f.locked,
                    "FIX TLS handshake failed"
                ),
                None => tracing::warn!(%peer, %error, "FIX TLS connection failed"),
            }
        }
        self.close(token);
    }

    /// Writes `answer` once (best effort: the peer is not trusted to read) and closes.
    fn answer_and_close(&mut self, token: Token, answer: &[u8]) {
        if let Some(conn) = self.conns.get_mut(&token) {
            if !answer.is_empty() {
                if let Err(e) = conn.stream.write(answer) {
                    tracing::debug!(error = %e, "logon answer not written");
                }
            }
        }
        self.close(token);
    }

    /// Whether a front-door WARN line may be written now (see [`guard::LogLimit`]).
    fn log_allowed(&mut self, now: Now) -> bool {
        let (allowed, dropped) = self.log_limit.allow(now.mono);
        if dropped > 0 {
            tracing::warn!(
                lines = dropped,
                "FIX front-door WARN lines suppressed (rate limit)"
            );
        }
        allowed
    }

    /// Runs due session timers; ends anonymous connections past their deadline and
    /// answers failed logons whose delay is over.
    fn run_timers(&mut self, now: Now) -> usize {
        let mut work = 0;
        for slot in &mut self.slots {
            if let Some((_, session)) = slot.live.as_mut() {
                if session.poll_timeout().is_some_and(|t| t <= now.mono) {
                    session.handle_timeout(now);
                    work += 1;
                }
            }
        }
        let due: Vec<(Token, Due)> = self
            .conns
            .iter()
            .filter_map(|(&t, c)| match c.state {
                ConnState::Anonymous { .. } if c.deadline <= now.mono => Some((t, Due::Late)),
                ConnState::Verifying { slot, .. } if c.deadline <= now.mono => {
                    Some((t, Due::Unverified(slot)))
                }
                ConnState::Penalized { until, .. } if until <= now.mono => Some((t, Due::Answer)),
                _ => None,
            })
            .collect();
        for (token, due) in due {
            work += 1;
            match due {
                Due::Answer => {
                    let answer = match self.conns.get_mut(&token).map(|c| &mut c.state) {
                        Some(ConnState::Penalized { answer, .. }) => std::mem::take(answer),
                        _ => Vec::new(),
                    };
                    self.answer_and_close(token, &answer);
                }
                Due::Late => self.refuse(now, token, None, Refusal::Timeout),
                // The verifier is behind: not the client's fault, so not a failure.
                Due::Unverified(ix) => self.busy(now, token, ix, "logon busy, retry"),
            }
        }
        work
    }

    /// Hands every session's events to the core.
    fn handle_events<V: VenueSession>(
        &mut self,
        now: Now,
        core: &mut OrderCore<V>,
    ) -> Result<usize, CoreError> {
        let vt = VenueTime {
            wall: now.wall,
            mono: now.mono,
        };
        let mut work = 0;
        for slot in &mut self.slots {
            let Some((token, session)) = slot.live.as_mut() else {
                continue;
            };
            let origin = Origin::Fix(slot.config.session_id.0);
            while let Some(event) = session.poll_event() {
                work += 1;
                match event {
                    SessionEvent::LoggedOn { session: id, reset } => {
                        tracing::info!(session = id.0, reset, "FIX session logged on");
                        slot.watch.logged_on(&slot.config);
                    }
                    SessionEvent::NewOrderSingle(order) => {
                        core.handle_new(vt, origin, &order.to_wire(TickCause::NONE))?;
                    }
                    SessionEvent::OrderCancelRequest(cancel) => {
                        core.handle_cancel(vt, origin, &cancel.to_wire(TickCause::NONE))?;
                    }
                    SessionEvent::OrderCancelReplaceRequest(replace) => {
                        core.handle_replace(vt, origin, &replace.to_wire(TickCause::NONE))?;
                    }
                    SessionEvent::OrderStatusRequest(req) => {
                        let h = crate::fix::retail::ORDER_STATUS_REQUEST;
                        if retail::throttle(session, now, core, origin, req.msg_seq, h) {
                            retail::order_status(session, now, core, &req);
                        }
                    }
                    SessionEvent::OrderMassStatusRequest(req) => {
                        let af = crate::fix::retail::ORDER_MASS_STATUS_REQUEST;
                        if retail::throttle(session, now, core, origin, req.msg_seq, af) {
                            let bound = self.front.max_outbound_bytes;
                            retail::mass_status(session, now, core, &req, bound);
                        }
                    }
                    SessionEvent::OrderMassCancelRequest(req) => {
                        retail::mass_cancel(session, now, core, origin, &req)?;
                    }
                    SessionEvent::RequestForPositions(req) => {
                        let an = crate::fix::positions::REQUEST_FOR_POSITIONS;
                        if retail::throttle(session, now, core, origin, req.msg_seq, an) {
                            retail::positions(session, now, core, &req);
                        }
                    }
                    SessionEvent::LoggedOut { session: id } => {
                        tracing::info!(session = id.0, "FIX session logged out");
                        if let Some(conn) = self.conns.get_mut(token) {
                            conn.closing = true;
                        }
                    }
                    SessionEvent::Disconnect {
                        session: id,
                        reason,
                    } => {
                        tracing::info!(session = id.0, %reason, "FIX session disconnects");
                        if let Some(conn) = self.conns.get_mut(token) {
                            conn.closing = true;
                        }
                    }
                }
            }
        }
        for slot in &mut self.slots {
            work += slot.watch.run(&slot.config, now, core)?;
        }
        Ok(work)
    }

    /// Closes a connection; a bound session's store goes back to its slot.
    fn close(&mut self, token: Token) {
        let Some(mut conn) = self.conns.remove(&token) else {
            return;
        };
        conn.stream.close_notify();
        if let Err(e) = self.poll.registry().deregister(conn.stream.socket()) {
            tracing::debug!(error = %e, "deregister failed");
        }
        match conn.state {
            ConnState::Anonymous { .. } | ConnState::Verifying { .. } => {
                self.anonymous = self.anonymous.saturating_sub(1);
            }
            ConnState::Penalized { .. } => self.penalized = self.penalized.saturating_sub(1),
            ConnState::Bound(ix) => {
                if let Some(slot) = self.slots.get_mut(ix) {
                    if slot.live.as_ref().is_some_and(|(t, _)| *t == token) {
                        if let Some((_, mut session)) = slot.live.take() {
                            self.closed_counts += session.take_counts();
                            slot.store = Some(session.into_store());
                            slot.watch.connection_ended();
                        }
                    }
                }
            }
        }
    }
}

/// The CompIDs of a Logon's bytes, for a log line (lossy, at most 32 characters each).
fn comp_ids(rx: &[u8]) -> (String, String) {
    let text = |tag_no: u32| -> String {
        let Framing::Complete(len) = scan_frame(rx, rx.len()) else {
            return String::new();
        };
        rx.get(..len)
            .and_then(|f| Message::decode(f).ok())
            .and_then(|m| {
                // Peer-controlled text: printable ASCII only, so it cannot forge lines.
                m.get(tag_no).map(|v| {
                    v.iter()
                        .take(32)
                        .map(|&b| {
                            if b.is_ascii_graphic() {
                                char::from(b)
                            } else {
                                '?'
                            }
                        })
                        .collect()
                })
            })
            .unwrap_or_default()
    };
    (text(tag::SENDER_COMP_ID), text(tag::TARGET_COMP_ID))
}

/// A Logout with `text` from session `config`, carrying MsgSeqNum `seq` (which the
/// session does not consume: it is never stored).
fn logout(
    config: &SessionConfig,
    seq: u64,
    now: Now,
    text: &str,
    scratch: &mut Vec<u8>,
) -> Vec<u8> {
    scratch.clear();
    let mut w = MessageWriter::begin(scratch, MsgType::LOGOUT);
    report::header(&mut w, config, seq, now);
    w.str(tag::TEXT, text);
    let range = w.finish();
    scratch.get(range).unwrap_or_default().to_vec()
}

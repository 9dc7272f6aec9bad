//! [`FixAcceptor`]: the FIX 4.4 acceptor's driver — many sessions on one thread over
//! non-blocking mio sockets.
//!
//! A new connection is unbound until its first complete frame: that must be a Logon
//! whose SenderCompID/TargetCompID name a configured session that has no connection
//! yet; the connection is then bound to a [`Session`] built on that session's
//! [`JournalStore`] (sequence numbers and sent messages survive restarts) and the frame
//! is fed to it. Anything else closes the connection (the session layer answers bad
//! credentials itself, with a Logout). Each duty cycle reads what arrived, runs the
//! session timers at `now`, turns session events into order-core requests, and writes
//! what the sessions queued. Reports for a session that is not logged on wait in its
//! backlog (in memory) and go out after its next Logon.
//!
//! What this module must not do: block (every socket is non-blocking and the poll has a
//! zero timeout), read a clock, or decide anything about orders (the core does).

use std::collections::{HashMap, VecDeque};
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use tickwarp_runtime::Nanos;
use tickwarp_wire::{InstrumentTable, OrderType, TickCause};

use super::core::{CoreError, OrderCore, Origin, Report};
use crate::fix::codec::{Framing, Message, scan_frame};
use crate::fix::fields::tag;
use crate::fix::{
    ExecType, ExecutionReport, JournalStore, Now, OrdStatus as FixOrdStatus, OrderCancelReject,
    Session, SessionConfig, SessionEvent, SessionState,
};
use crate::orders::{OrdStatus, Order};
use crate::venue::{Execution, VenueSession, VenueTime};

/// The listener's token.
const LISTENER: Token = Token(0);
/// Reports kept for a session that is not logged on; older ones are dropped beyond it.
const MAX_BACKLOG: usize = 100_000;
/// Bytes an unbound connection may send before its Logon is complete.
const MAX_UNBOUND: usize = 16 << 10;
/// Read buffer size.
const READ_CHUNK: usize = 64 << 10;

/// A configured session: its store while no connection has it, its live session while
/// one does, and reports waiting for its next Logon.
#[derive(Debug)]
struct Slot {
    config: SessionConfig,
    store: Option<JournalStore>,
    live: Option<(Token, Session<JournalStore>)>,
    backlog: VecDeque<Report>,
}

/// Where a connection is.
#[derive(Debug)]
enum ConnState {
    /// Waiting for the Logon that names its session.
    Unbound {
        /// Bytes so far.
        rx: Vec<u8>,
        /// When it is closed if the Logon has not arrived.
        deadline: Nanos,
    },
    /// Bound to `slots[_]`.
    Bound(usize),
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    state: ConnState,
    /// Flush what is queued, then close.
    closing: bool,
}

/// What reading a socket found.
enum ReadOutcome {
    /// `n` bytes in the buffer (0: nothing now).
    Data(usize),
    /// The peer closed, or the socket failed.
    Closed,
}

fn read_some(stream: &mut TcpStream, buf: &mut [u8]) -> ReadOutcome {
    loop {
        match stream.read(buf) {
            Ok(0) => return ReadOutcome::Closed,
            Ok(n) => return ReadOutcome::Data(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return ReadOutcome::Data(0),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::debug!(error = %e, "FIX connection read failed");
                return ReadOutcome::Closed;
            }
        }
    }
}

/// The FIX acceptor (see the module docs).
#[derive(Debug)]
pub struct FixAcceptor {
    poll: Poll,
    events: Events,
    ready: Vec<Token>,
    listener: TcpListener,
    local_addr: SocketAddr,
    instruments: InstrumentTable,
    slots: Vec<Slot>,
    /// (client's SenderCompID, client's TargetCompID) → slot.
    by_comp: HashMap<(Vec<u8>, Vec<u8>), usize>,
    /// Configured session id → slot.
    by_id: HashMap<u32, usize>,
    conns: HashMap<Token, Conn>,
    next_token: usize,
    logon_timeout: Duration,
    buf: Vec<u8>,
}

impl FixAcceptor {
    /// Listens on `addr` for `sessions` (each with its store), trading `instruments`.
    pub fn bind(
        addr: SocketAddr,
        sessions: Vec<(SessionConfig, JournalStore)>,
        instruments: InstrumentTable,
    ) -> io::Result<FixAcceptor> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(addr)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let local_addr = listener.local_addr()?;
        let mut slots = Vec::with_capacity(sessions.len());
        let mut by_comp = HashMap::with_capacity(sessions.len());
        let mut by_id = HashMap::with_capacity(sessions.len());
        let mut logon_timeout = Duration::from_secs(10);
        for (config, store) in sessions {
            let ix = slots.len();
            by_comp.insert(
                (
                    config.target_comp_id.as_bytes().to_vec(),
                    config.sender_comp_id.as_bytes().to_vec(),
                ),
                ix,
            );
            by_id.insert(config.session_id.0, ix);
            logon_timeout = logon_timeout.max(config.logon_timeout);
            slots.push(Slot {
                config,
                store: Some(store),
                live: None,
                backlog: VecDeque::new(),
            });
        }
        Ok(FixAcceptor {
            poll,
            events: Events::with_capacity(256),
            ready: Vec::with_capacity(256),
            listener,
            local_addr,
            instruments,
            slots,
            by_comp,
            by_id,
            conns: HashMap::new(),
            next_token: 1,
            logon_timeout,
            buf: vec![0; READ_CHUNK],
        })
    }

    /// The address it listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Connections open (bound or waiting for their Logon).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// The state of session `id`'s connection, if it has one.
    pub fn session_state(&self, id: u32) -> Option<SessionState> {
        let slot = self.slots.get(*self.by_id.get(&id)?)?;
        slot.live.as_ref().map(|(_, s)| s.state())
    }

    /// Reads what arrived, runs the session timers, and hands session events to `core`.
    /// Returns the work done.
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
        work += self.run_timers(now);
        work += self.handle_events(now, core)?;
        Ok(work)
    }

    /// Hands `report` to session `id`, or its backlog when it is not logged on.
    pub fn deliver(&mut self, now: Now, id: u32, report: Report) {
        let Some(slot) = self.by_id.get(&id).and_then(|&ix| self.slots.get_mut(ix)) else {
            tracing::warn!(session = id, "report for an unknown FIX session dropped");
            return;
        };
        match slot.live.as_mut() {
            Some((_, session))
                if matches!(
                    session.state(),
                    SessionState::Active | SessionState::LoggingOut
                ) =>
            {
                send_report(session, now, &report);
            }
            _ => {
                if slot.backlog.len() >= MAX_BACKLOG {
                    tracing::warn!(session = id, "FIX backlog full: oldest report dropped");
                    slot.backlog.pop_front();
                }
                slot.backlog.push_back(report);
            }
        }
    }

    /// Makes each session's stored state durable (one sync per session that changed),
    /// then writes what the sessions queued and closes connections that are done.
    /// Returns the bytes written.
    pub fn poll_output(&mut self) -> usize {
        let mut written = 0;
        let mut done: Vec<Token> = Vec::new();
        for (&token, conn) in &mut self.conns {
            let ConnState::Bound(ix) = conn.state else {
                continue;
            };
            let Some((_, session)) = self.slots.get_mut(ix).and_then(|s| s.live.as_mut()) else {
                done.push(token);
                continue;
            };
            // One store sync covers everything this duty cycle queued for the session.
            session.flush();
            loop {
                let pending = session.transmit_queue();
                if pending.is_empty() {
                    if conn.closing {
                        done.push(token);
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
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
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

    /// Accepts every pending connection.
    fn accept_all(&mut self, now: Now) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, peer)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "TCP_NODELAY failed");
                    }
                    let token = Token(self.next_token);
                    self.next_token += 1;
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(&mut stream, token, Interest::READABLE)
                    {
                        tracing::warn!(error = %e, %peer, "cannot register FIX connection");
                        continue;
                    }
                    tracing::debug!(%peer, "FIX connection accepted");
                    self.conns.insert(
                        token,
                        Conn {
                            stream,
                            state: ConnState::Unbound {
                                rx: Vec::new(),
                                deadline: now.mono.saturating_add(self.logon_timeout),
                            },
                            closing: false,
                        },
                    );
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

    /// Reads a connection until it would block (mio readiness is edge-triggered).
    fn read_conn(&mut self, now: Now, token: Token) {
        loop {
            let Some(conn) = self.conns.get_mut(&token) else {
                return;
            };
            let n = match read_some(&mut conn.stream, &mut self.buf) {
                ReadOutcome::Data(0) => return,
                ReadOutcome::Data(n) => n,
                ReadOutcome::Closed => {
                    self.close(token);
                    return;
                }
            };
            let data = self.buf.get(..n).unwrap_or_default();
            match &mut conn.state {
                ConnState::Bound(ix) => {
                    if let Some((_, session)) =
                        self.slots.get_mut(*ix).and_then(|s| s.live.as_mut())
                    {
                        session.handle_bytes(now, data);
                    }
                }
                ConnState::Unbound { rx, .. } => {
                    rx.extend_from_slice(data);
                    if !self.bind_session(now, token) {
                        self.close(token);
                        return;
                    }
                }
            }
        }
    }

    /// Binds an unbound connection once its Logon is complete; false closes it.
    fn bind_session(&mut self, now: Now, token: Token) -> bool {
        let Some(conn) = self.conns.get_mut(&token) else {
            return false;
        };
        let ConnState::Unbound { rx, .. } = &mut conn.state else {
            return true;
        };
        let len = match scan_frame(rx, MAX_UNBOUND) {
            Framing::Incomplete => return rx.len() <= MAX_UNBOUND,
            Framing::Garbled { reason, .. } => {
                tracing::warn!(%reason, "garbled first frame; closing");
                return false;
            }
            Framing::Complete(len) => len,
        };
        let Some(frame) = rx.get(..len) else {
            return false;
        };
        let Ok(msg) = Message::decode(frame) else {
            tracing::warn!("undecodable first frame; closing");
            return false;
        };
        let comp = (
            msg.get(tag::SENDER_COMP_ID).unwrap_or_default().to_vec(),
            msg.get(tag::TARGET_COMP_ID).unwrap_or_default().to_vec(),
        );
        let Some(&ix) = self.by_comp.get(&comp) else {
            tracing::warn!(
                sender = %String::from_utf8_lossy(&comp.0),
                target = %String::from_utf8_lossy(&comp.1),
                "connection for an unknown session; closing"
            );
            return false;
        };
        let Some(slot) = self.slots.get_mut(ix) else {
            return false;
        };
        let Some(store) = slot.store.take() else {
            tracing::warn!(
                session = slot.config.session_id.0,
                "session already connected; closing the new connection"
            );
            return false;
        };
        let rx = std::mem::take(rx);
        let mut session = Session::new(slot.config.clone(), self.instruments.clone(), store, now);
        session.handle_bytes(now, &rx);
        slot.live = Some((token, session));
        conn.state = ConnState::Bound(ix);
        true
    }

    /// Runs due session timers; closes unbound connections past their deadline.
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
        let expired: Vec<Token> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                matches!(c.state, ConnState::Unbound { deadline, .. } if deadline <= now.mono)
            })
            .map(|(&t, _)| t)
            .collect();
        for token in expired {
            tracing::debug!("no Logon in time; closing");
            self.close(token);
            work += 1;
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
                        while let Some(report) = slot.backlog.pop_front() {
                            send_report(session, now, &report);
                        }
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
        Ok(work)
    }

    /// Closes a connection; a bound session's store goes back to its slot.
    fn close(&mut self, token: Token) {
        let Some(mut conn) = self.conns.remove(&token) else {
            return;
        };
        if let Err(e) = self.poll.registry().deregister(&mut conn.stream) {
            tracing::debug!(error = %e, "deregister failed");
        }
        if let ConnState::Bound(ix) = conn.state {
            if let Some(slot) = self.slots.get_mut(ix) {
                if slot.live.as_ref().is_some_and(|(t, _)| *t == token) {
                    if let Some((_, session)) = slot.live.take() {
                        slot.store = Some(session.into_store());
                    }
                }
            }
        }
    }
}

/// The FIX OrdStatus (39) of an order status. A replaced ClOrdID is done; its report
/// is the successor's, so it never reaches a client as such.
fn fix_status(status: OrdStatus) -> FixOrdStatus {
    match status {
        OrdStatus::PendingNew => FixOrdStatus::PendingNew,
        OrdStatus::New => FixOrdStatus::New,
        OrdStatus::PartiallyFilled => FixOrdStatus::PartiallyFilled,
        OrdStatus::Filled => FixOrdStatus::Filled,
        OrdStatus::PendingCancel => FixOrdStatus::PendingCancel,
        OrdStatus::Canceled | OrdStatus::Replaced => FixOrdStatus::Canceled,
        OrdStatus::PendingReplace => FixOrdStatus::PendingReplace,
        OrdStatus::Rejected => FixOrdStatus::Rejected,
        OrdStatus::Expired => FixOrdStatus::Expired,
        OrdStatus::DoneForDay => FixOrdStatus::DoneForDay,
    }
}

/// Sends `report` as an ExecutionReport or OrderCancelReject.
fn send_report(session: &mut Session<JournalStore>, now: Now, report: &Report) {
    let sent = match (&report.event, report.order) {
        (Execution::CancelRejected(cr), order) => {
            let reject = OrderCancelReject {
                order_id: cr.order_id(),
                cl_ord_id: cr.cl_ord_id(),
                orig_cl_ord_id: cr.orig_cl_ord_id(),
                ord_status: order.map_or(FixOrdStatus::Rejected, |o| fix_status(o.status())),
                response_to: cr.response_to(),
                reason: cr.reason(),
                text: report.text.as_deref(),
            };
            session.send_order_cancel_reject(now, &reject)
        }
        (event, Some(order)) => {
            let er = execution_report(report, event, &order);
            session.send_execution_report(now, &er)
        }
        (event, None) => {
            tracing::warn!(?event, "execution without its order: not reported");
            return;
        }
    };
    if let Err(e) = sent {
        tracing::warn!(session = session.config().session_id.0, error = %e, "report not sent");
    }
}

/// The ExecutionReport of an execution event of `order`.
fn execution_report<'a>(
    report: &'a Report,
    event: &Execution,
    order: &Order,
) -> ExecutionReport<'a> {
    let (exec_type, meta, orig, fill, reason) = match event {
        Execution::Accepted(a) => (ExecType::New, a.meta(), None, None, None),
        Execution::Rejected(r) => (ExecType::Rejected, r.meta(), None, None, Some(r.reason())),
        Execution::Filled(f) => (ExecType::Trade, f.meta(), None, Some(f.fill()), None),
        Execution::Canceled(c) => (ExecType::Canceled, c.meta(), c.orig_cl_ord_id(), None, None),
        Execution::Replaced(r) => (
            ExecType::Replaced,
            r.meta(),
            Some(r.orig_cl_ord_id()),
            None,
            None,
        ),
        Execution::CancelRejected(c) => (
            ExecType::Rejected,
            c.meta(),
            Some(c.orig_cl_ord_id()),
            None,
            Some(c.reason()),
        ),
    };
    ExecutionReport {
        order_id: meta.order_id,
        exec_id: report.exec_id,
        exec_type,
        ord_status: fix_status(order.status()),
        cl_ord_id: meta.cl_ord_id,
        orig_cl_ord_id: orig,
        instrument: order.instrument(),
        side: order.side(),
        ord_type: Some(order.ord_type()),
        price: (order.ord_type() == OrderType::Limit).then(|| order.price()),
        tif: Some(order.tif()),
        order_qty: order.qty(),
        last_qty: fill.map(|f| f.last_qty),
        last_px: fill.map(|f| f.last_px),
        leaves_qty: order.leaves_qty(),
        cum_qty: order.cum_qty(),
        avg_px: order.avg_px(),
        transact_time: meta.transact_time,
        reject_reason: reason,
        text: report.text.as_deref(),
    }
}

//! The FIX 4.4 session layer, acceptor side, as a sans-IO state machine (FIX 4.4 Vol. 2
//! "Session Protocol").
//!
//! Bytes go in through [`Session::handle_bytes`] (split anywhere), time through
//! [`Session::handle_timeout`]; bytes to send come out of [`Session::poll_transmit`],
//! application events out of [`Session::poll_event`], and the next deadline out of
//! [`Session::poll_timeout`]. The application answers with
//! [`Session::send_execution_report`], [`Session::send_order_cancel_reject`] and
//! [`Session::send_business_reject`]. One `Session` lives for one connection; its
//! [`SessionStore`] carries sequence numbers and sent messages over to the next one.
//!
//! What it must not do: touch a socket, read a clock (every input carries [`Now`]),
//! block, or allocate per message once its buffers have grown (inbound bytes, outbound
//! bytes and events live in reused buffers; a store may allocate, see `store`).
//! After a [`SessionEvent::Disconnect`] the driver flushes what `poll_transmit` still
//! yields and closes the connection; the session ignores further input.
//!
//! Durability: store writes are group-committed. Outbound bytes become visible in
//! [`Session::transmit_queue`] only after [`Session::flush`] has synced the store, so
//! the driver handles all input, flushes once, then writes.
//!
//! Decisions where the spec leaves a choice: messages beyond a sequence gap are kept
//! (bounded: 1,024 messages and 64 × `max_body_len` bytes; past that they are dropped and
//! come again, since the ResendRequest asks for everything from the gap on, EndSeqNo 0)
//! and processed once the gap is filled; one ResendRequest is outstanding at a time; a
//! ResendRequest received is served from the store in chunks of 256 sequence numbers per
//! step (several requests merge into one cursor), so a huge range or a flood of requests
//! grows no buffer without bound; garbled frames (bad BeginString framing, BodyLength,
//! CheckSum, MsgType not the third field) are dropped without consuming a MsgSeqNum and
//! the stream resynchronizes on the next `8=FIX`; a Logon with a wrong CompID,
//! credentials or SendingTime is answered with a Logout carrying Text (58), then the
//! connection is closed, and changes nothing in the store; a Logon with
//! ResetSeqNumFlag=Y on a logged-on session resets both sides and is answered with a
//! Logon 141=Y; an unsupported but defined application MsgType gets a
//! BusinessMessageReject, an undefined one a Reject (373=11). Replies to a message with
//! third-party routing (OnBehalfOf*/DeliverTo*) carry them reversed. The TestRequest
//! grace ("reasonable transmission time") is 20 % of HeartBtInt.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tickwarp_runtime::{Nanos, UnixNanos};
use tickwarp_wire::{AccountId, InstrumentTable};

use super::codec::{
    DecodeError, Framing, GarbleReason, Message, MessageWriter, parse_uint, scan_frame,
};
use super::dictionary::{Dictionary, ValidationOptions, validate};
use super::fields::{BusinessRejectReason, MsgType, SessionRejectReason, parse_timestamp, tag};
use super::messages::{
    AppRejectError, BusinessMessageReject, ExecutionReport, NewOrderSingle, OrderCancelReject,
    OrderCancelReplaceRequest, OrderCancelRequest, ParseContext, Refusal, SessionId,
    refusal_msg_type, write_refusal,
};
use super::store::{SeqNums, SessionStore, StoreError};

pub(crate) mod liveness;
pub(crate) mod outbox;
pub(crate) mod resend;
mod route;

use liveness::{Due, Liveness};
use outbox::Outbox;
use resend::{CompIds, ResendCursor, ResendError, write_header};
use route::Route;

/// The time of an input: monotonic for timers, wall clock for SendingTime (52).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time, for heartbeats and timeouts.
    pub mono: Nanos,
    /// Wall-clock time, for SendingTime and its accuracy check.
    pub wall: UnixNanos,
}

/// How one acceptor session is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// The session id put on events.
    pub session_id: SessionId,
    /// Our CompID: SenderCompID (49) of what we send, TargetCompID (56) of what we accept.
    pub sender_comp_id: String,
    /// The client's CompID: SenderCompID (49) we accept, TargetCompID (56) we send.
    pub target_comp_id: String,
    /// Username (553) the Logon must carry, if any.
    pub username: Option<String>,
    /// Password (554) the Logon must carry, if any.
    pub password: Option<String>,
    /// The trading account of every order on this session.
    pub account: AccountId,
    /// Smallest HeartBtInt (108) accepted.
    pub min_heartbeat: Duration,
    /// Largest HeartBtInt (108) accepted.
    pub max_heartbeat: Duration,
    /// How long after connecting the Logon must arrive.
    pub logon_timeout: Duration,
    /// How long to wait for the answer to our Logout.
    pub logout_timeout: Duration,
    /// Largest BodyLength (9) accepted; longer frames are garbled.
    pub max_body_len: usize,
    /// Largest difference between SendingTime (52) and our wall clock; `None` disables.
    pub sending_time_tolerance: Option<Duration>,
    /// Reset both sequence numbers to 1 on every Logon (QuickFIX ResetOnLogon).
    pub reset_on_logon: bool,
    /// Reset both sequence numbers to 1 after a Logout (QuickFIX ResetOnLogout).
    pub reset_on_logout: bool,
    /// Reset both sequence numbers to 1 when a logged-on connection ends, for any
    /// reason (QuickFIX ResetOnDisconnect).
    pub reset_on_disconnect: bool,
    /// Data dictionary validation switches.
    pub validation: ValidationOptions,
}

impl SessionConfig {
    /// A configuration with the usual defaults: HeartBtInt 1–120 s, 10 s logon and
    /// logout timeouts, 8 KiB bodies, 2 minutes of SendingTime tolerance, no credentials.
    pub fn new(
        session_id: SessionId,
        sender_comp_id: &str,
        target_comp_id: &str,
        account: AccountId,
    ) -> SessionConfig {
        SessionConfig {
            session_id,
            sender_comp_id: sender_comp_id.to_owned(),
            target_comp_id: target_comp_id.to_owned(),
            username: None,
            password: None,
            account,
            min_heartbeat: Duration::from_secs(1),
            max_heartbeat: Duration::from_secs(120),
            logon_timeout: Duration::from_secs(10),
            logout_timeout: Duration::from_secs(10),
            max_body_len: 8192,
            sending_time_tolerance: Some(Duration::from_secs(120)),
            reset_on_logon: false,
            reset_on_logout: false,
            reset_on_disconnect: false,
            validation: ValidationOptions::default(),
        }
    }
}

/// Why the session ends the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DisconnectReason {
    /// No Logon within the logon timeout.
    #[error("no Logon within the logon timeout")]
    LogonTimeout,
    /// The first message was not a Logon.
    #[error("first message was not a Logon")]
    FirstMessageNotLogon,
    /// SenderCompID/TargetCompID do not name this session.
    #[error("unknown CompID")]
    BadCompId,
    /// Username/Password wrong.
    #[error("invalid credentials")]
    BadCredentials,
    /// A Logon field is missing or invalid (HeartBtInt, EncryptMethod, ResetSeqNumFlag).
    #[error("invalid Logon")]
    BadLogon,
    /// BeginString is not FIX.4.4.
    #[error("BeginString is not FIX.4.4")]
    UnsupportedBeginString,
    /// MsgSeqNum (34) missing or unreadable.
    #[error("MsgSeqNum missing")]
    MissingSeqNum,
    /// MsgSeqNum lower than expected without PossDupFlag.
    #[error("MsgSeqNum too low: expected {expected}, received {received}")]
    SeqTooLow {
        /// The expected MsgSeqNum.
        expected: u64,
        /// The MsgSeqNum received.
        received: u64,
    },
    /// SendingTime (52) too far from our clock, or OrigSendingTime after SendingTime.
    #[error("SendingTime accuracy problem")]
    SendingTimeAccuracy,
    /// A second Logon on a logged-on session.
    #[error("unexpected Logon")]
    UnexpectedLogon,
    /// No answer to a TestRequest.
    #[error("no answer to TestRequest")]
    TestRequestTimeout,
    /// The peer logged out (we answered).
    #[error("peer logged out")]
    PeerLogout,
    /// The peer answered our Logout.
    #[error("logout complete")]
    LogoutComplete,
    /// The peer did not answer our Logout in time.
    #[error("no answer to Logout")]
    LogoutTimeout,
    /// The session store failed; the state is no longer durable.
    #[error("session store failed")]
    StoreFailed,
    /// A stored message asked for by a ResendRequest is not the one sent under its
    /// MsgSeqNum on this session (wrong MsgSeqNum or TargetCompID in the stored frame).
    #[error("stored message {msg_seq} does not belong to this session")]
    StoreCorrupt {
        /// The MsgSeqNum asked for.
        msg_seq: u64,
    },
}

/// What the application learns from the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The client logged on.
    LoggedOn {
        /// The session.
        session: SessionId,
        /// Whether sequence numbers were reset to 1 (ResetSeqNumFlag).
        reset: bool,
    },
    /// A NewOrderSingle (D).
    NewOrderSingle(NewOrderSingle),
    /// An OrderCancelRequest (F).
    OrderCancelRequest(OrderCancelRequest),
    /// An OrderCancelReplaceRequest (G).
    OrderCancelReplaceRequest(OrderCancelReplaceRequest),
    /// The Logout handshake completed.
    LoggedOut {
        /// The session.
        session: SessionId,
    },
    /// Close the connection (after flushing `poll_transmit`).
    Disconnect {
        /// The session.
        session: SessionId,
        /// Why.
        reason: DisconnectReason,
    },
}

/// Where the session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Connected, waiting for the client's Logon.
    AwaitingLogon,
    /// Logged on.
    Active,
    /// We sent a Logout and wait for the answer.
    LoggingOut,
    /// Done; the connection should be closed.
    Disconnected,
}

/// Why the application could not send a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The session is not logged on.
    #[error("session is not logged on")]
    NotLoggedOn,
    /// The instrument has no symbol in the instrument table.
    #[error("instrument {0} has no symbol")]
    UnknownInstrument(tickwarp_wire::InstrumentId),
    /// The store failed; the session disconnects.
    #[error("session store failed")]
    StoreFailed,
}

/// A small text buffer for Text (58) values built from numbers, without allocating.
struct TextBuf {
    buf: [u8; 128],
    len: usize,
}

impl TextBuf {
    fn new() -> TextBuf {
        TextBuf {
            buf: [0; 128],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

impl core::fmt::Write for TextBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Messages kept beyond a sequence gap; more are dropped (the ResendRequest, EndSeqNo 0,
/// brings them again).
const MAX_QUEUED: usize = 1024;

/// The acceptor side of one FIX 4.4 session over one connection.
#[derive(Debug)]
pub struct Session<S: SessionStore> {
    config: SessionConfig,
    instruments: InstrumentTable,
    store: S,
    state: SessionState,
    seq: SeqNums,
    deadline: Nanos,
    /// Heartbeat and TestRequest timing.
    liveness: Liveness,
    resend_until: Option<u64>,
    /// The ResendRequest being served.
    resend: ResendCursor,
    /// Messages received beyond a sequence gap, by MsgSeqNum, until the gap is filled
    /// (an empty frame: already processed, only its MsgSeqNum is still to consume).
    queue: BTreeMap<u64, Vec<u8>>,
    queued_bytes: usize,
    /// Third-party routing of the message being processed, reversed, for its replies.
    route: Route,
    /// Whether a Logon was accepted on this connection.
    logged_on: bool,
    /// The time of the latest input, for work done without one (see `into_store`).
    last_now: Now,
    rx: Vec<u8>,
    out: Outbox,
    events: VecDeque<SessionEvent>,
}

/// Outcome of the sequence number check of an inbound message.
enum SeqCheck {
    /// Process it.
    Expected,
    /// Beyond a gap (a ResendRequest went out): keep it until the gap is filled.
    Gap,
    /// Handled (ignored, gap requested, or disconnected): stop.
    Done,
}

impl<S: SessionStore> Session<S> {
    /// A session on a connection accepted at `now`, waiting for the client's Logon.
    pub fn new(config: SessionConfig, instruments: InstrumentTable, store: S, now: Now) -> Self {
        let seq = store.seq_nums();
        let deadline = now.mono.saturating_add(config.logon_timeout);
        let rx_capacity = config.max_body_len.saturating_mul(2).max(4096);
        Session {
            config,
            instruments,
            store,
            state: SessionState::AwaitingLogon,
            seq,
            deadline,
            liveness: Liveness::new(Duration::from_secs(30), now.mono),
            resend_until: None,
            resend: ResendCursor::default(),
            queue: BTreeMap::new(),
            queued_bytes: 0,
            route: Route::default(),
            logged_on: false,
            last_now: now,
            rx: Vec::with_capacity(rx_capacity),
            out: Outbox::with_capacity(16 << 10),
            events: VecDeque::with_capacity(64),
        }
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The next inbound and outbound MsgSeqNum.
    pub fn seq_nums(&self) -> SeqNums {
        self.seq
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The heartbeat interval agreed at Logon (30 s before it).
    pub fn heartbeat_interval(&self) -> Duration {
        self.liveness.heartbeat()
    }

    /// The session store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Ends this connection's session and returns its store, flushed, for the next
    /// connection (reset first if `reset_on_disconnect` and it ended while logged on).
    pub fn into_store(mut self) -> S {
        if self.state != SessionState::Disconnected {
            self.disconnect_with_reset(false);
        }
        // What this connection changed is made durable even if no flush came after it.
        if let Err(e) = self.store.flush() {
            tracing::error!(session = self.config.session_id.0, error = %e, "session store failed");
        }
        self.store
    }

    /// Feeds bytes received from the connection (any split).
    pub fn handle_bytes(&mut self, now: Now, bytes: &[u8]) {
        if self.state == SessionState::Disconnected {
            return;
        }
        self.last_now = now;
        let mut rx = core::mem::take(&mut self.rx);
        rx.extend_from_slice(bytes);
        let mut consumed = 0;
        while self.state != SessionState::Disconnected {
            let pending = rx.get(consumed..).unwrap_or_default();
            match scan_frame(pending, self.config.max_body_len) {
                Framing::Incomplete => break,
                Framing::Garbled { skip, reason } => {
                    tracing::warn!(session = self.config.session_id.0, %reason, "dropping garbled bytes");
                    consumed += skip;
                }
                Framing::Complete(len) => {
                    let frame = pending.get(..len).unwrap_or_default();
                    self.on_frame(now, frame);
                    self.drain_queue(now);
                    consumed += len;
                }
            }
        }
        rx.drain(..consumed.min(rx.len()));
        self.rx = rx;
        self.serve_resend(now);
    }

    /// Processes queued messages that the sequence has reached (FIX 4.4 Vol. 2
    /// "Message Recovery": messages beyond a gap are processed once it is filled).
    fn drain_queue(&mut self, now: Now) {
        while self.state != SessionState::Disconnected {
            let next = self.seq.next_in;
            while let Some(entry) = self.queue.first_entry() {
                if *entry.key() >= next {
                    break;
                }
                self.queued_bytes -= entry.remove().len();
            }
            let Some(frame) = self.queue.remove(&next) else {
                return;
            };
            self.queued_bytes -= frame.len();
            if frame.is_empty() {
                self.advance_in(now, next + 1);
            } else {
                self.on_frame(now, &frame);
            }
        }
    }

    /// Keeps a message received beyond a gap until the gap is filled, within bounds.
    fn enqueue(&mut self, seq: u64, frame: &[u8]) {
        let bound = self.config.max_body_len.saturating_mul(64);
        if self.queue.len() >= MAX_QUEUED || self.queued_bytes + frame.len() > bound {
            tracing::debug!(session = self.config.session_id.0, seq, "gap queue full");
            return;
        }
        self.queued_bytes += frame.len();
        if let Some(old) = self.queue.insert(seq, frame.to_vec()) {
            self.queued_bytes -= old.len();
        }
    }

    /// Runs the timers due at `now`: heartbeat, TestRequest, logon and logout timeouts.
    pub fn handle_timeout(&mut self, now: Now) {
        self.last_now = now;
        self.serve_resend(now);
        match self.state {
            SessionState::Disconnected => {}
            SessionState::AwaitingLogon => {
                if now.mono >= self.deadline {
                    self.disconnect(DisconnectReason::LogonTimeout);
                }
            }
            SessionState::LoggingOut if now.mono >= self.deadline => {
                self.disconnect(DisconnectReason::LogoutTimeout);
            }
            SessionState::Active | SessionState::LoggingOut => match self.liveness.poll(now.mono) {
                Due::Timeout => self.disconnect(DisconnectReason::TestRequestTimeout),
                Due::TestRequest(id) => self.send_admin(now, MsgType::TEST_REQUEST, |w| {
                    w.uint(tag::TEST_REQ_ID, id);
                }),
                Due::Heartbeat => self.send_admin(now, MsgType::HEARTBEAT, |_| {}),
                Due::Nothing => {}
            },
        }
    }

    /// When [`Session::handle_timeout`] next has work, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Nanos> {
        match self.state {
            SessionState::Disconnected => None,
            SessionState::AwaitingLogon => Some(self.deadline),
            SessionState::Active | SessionState::LoggingOut if self.resend.is_pending() => {
                Some(Nanos::ZERO)
            }
            SessionState::Active | SessionState::LoggingOut => {
                let mut next = self.liveness.deadline();
                if self.state == SessionState::LoggingOut {
                    next = next.min(self.deadline);
                }
                Some(next)
            }
        }
    }

    /// Makes everything this session stored since the last flush durable (one store
    /// sync, by its fsync policy) and releases the outbound bytes it covers to
    /// [`Session::transmit_queue`]. A driver calls it once per duty cycle, after all
    /// input and application sends, before writing. If the store fails, the bytes it
    /// does not cover are dropped and the session disconnects.
    pub fn flush(&mut self) {
        if let Err(e) = self.out.flush(&mut self.store) {
            self.store_failed(&e);
        }
    }

    /// Flushes (see [`Session::flush`]), then copies pending outbound bytes into `buf`;
    /// returns how many.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> usize {
        if self.out.needs_flush() {
            self.flush();
        }
        self.out.copy_out(buf)
    }

    /// The outbound bytes a flush has covered, for a driver that writes them in place.
    pub fn transmit_queue(&self) -> &[u8] {
        self.out.queue()
    }

    /// Whether outbound bytes wait for a [`Session::flush`].
    pub fn needs_flush(&self) -> bool {
        self.out.needs_flush()
    }

    /// Marks `n` bytes of [`Session::transmit_queue`] as sent.
    pub fn consume_transmit(&mut self, n: usize) {
        self.out.consume(n);
    }

    /// The next application event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Starts the Logout handshake (FIX 4.4 Vol. 2 "Logout"): sends Logout and waits
    /// for the answer until the logout timeout.
    pub fn initiate_logout(&mut self, now: Now, text: Option<&str>) {
        if self.state != SessionState::Active {
            return;
        }
        self.send_admin(now, MsgType::LOGOUT, |w| {
            if let Some(t) = text {
                w.str(tag::TEXT, t);
            }
        });
        if self.state == SessionState::Active {
            self.state = SessionState::LoggingOut;
            self.deadline = now.mono.saturating_add(self.config.logout_timeout);
        }
    }

    /// Sends an ExecutionReport (35=8); returns its MsgSeqNum.
    pub fn send_execution_report(
        &mut self,
        now: Now,
        report: &ExecutionReport<'_>,
    ) -> Result<u64, SendError> {
        let symbol = self
            .instruments
            .symbol_of(report.instrument)
            .ok_or(SendError::UnknownInstrument(report.instrument))?;
        let account = self.config.account;
        self.send_app(now, MsgType::EXECUTION_REPORT, |w| {
            report.write_body(w, account, symbol.as_bytes());
        })
    }

    /// Sends an OrderCancelReject (35=9); returns its MsgSeqNum.
    pub fn send_order_cancel_reject(
        &mut self,
        now: Now,
        reject: &OrderCancelReject<'_>,
    ) -> Result<u64, SendError> {
        self.send_app(now, MsgType::ORDER_CANCEL_REJECT, |w| reject.write_body(w))
    }

    /// Sends a BusinessMessageReject (35=j); returns its MsgSeqNum.
    pub fn send_business_reject(
        &mut self,
        now: Now,
        reject: &BusinessMessageReject<'_>,
    ) -> Result<u64, SendError> {
        self.send_app(now, MsgType::BUSINESS_MESSAGE_REJECT, |w| {
            reject.write_body(w)
        })
    }

    /// Sends a session message with the next MsgSeqNum; admin messages are not stored
    /// (a resend gap-fills over them).
    fn send_admin(
        &mut self,
        now: Now,
        msg_type: MsgType,
        body: impl FnOnce(&mut MessageWriter<'_>),
    ) {
        let seq = self.seq.next_out;
        let ids = comp_ids(&self.config);
        let mut w = MessageWriter::begin(self.out.buf(), msg_type);
        write_header(&mut w, ids, seq, now.wall);
        self.route.write(&mut w);
        body(&mut w);
        let _ = w.finish();
        self.seq.next_out += 1;
        self.liveness.on_sent(now.mono);
        self.persist(now);
    }

    /// Sends and stores an application message; returns its MsgSeqNum.
    fn send_app(
        &mut self,
        now: Now,
        msg_type: MsgType,
        body: impl FnOnce(&mut MessageWriter<'_>),
    ) -> Result<u64, SendError> {
        if !matches!(self.state, SessionState::Active | SessionState::LoggingOut) {
            return Err(SendError::NotLoggedOn);
        }
        let seq = self.seq.next_out;
        let ids = comp_ids(&self.config);
        let mut w = MessageWriter::begin(self.out.buf(), msg_type);
        write_header(&mut w, ids, seq, now.wall);
        self.route.write(&mut w);
        body(&mut w);
        let range = w.finish();
        self.seq.next_out += 1;
        self.liveness.on_sent(now.mono);
        let frame = self.out.frame(range);
        match self
            .store
            .append_outbound(seq, frame, self.seq, now.wall, now.mono)
        {
            Ok(()) => Ok(seq),
            Err(e) => {
                self.store_failed(&e);
                Err(SendError::StoreFailed)
            }
        }
    }

    /// Saves the sequence numbers; a failure disconnects. Before a Logon is accepted
    /// nothing is saved: a refused Logon changes no state and costs no sync.
    fn persist(&mut self, now: Now) {
        if self.state == SessionState::AwaitingLogon {
            return;
        }
        if let Err(e) = self.store.save_seq_nums(self.seq, now.wall, now.mono) {
            self.store_failed(&e);
        }
    }

    fn store_failed(&mut self, e: &StoreError) {
        tracing::error!(session = self.config.session_id.0, error = %e, "session store failed");
        self.disconnect(DisconnectReason::StoreFailed);
    }

    fn disconnect(&mut self, reason: DisconnectReason) {
        if self.state == SessionState::Disconnected {
            return;
        }
        let logout = matches!(
            reason,
            DisconnectReason::PeerLogout
                | DisconnectReason::LogoutComplete
                | DisconnectReason::LogoutTimeout
        );
        self.disconnect_with_reset(logout);
        self.events.push_back(SessionEvent::Disconnect {
            session: self.config.session_id,
            reason,
        });
    }

    /// Ends the session; resets the store if `reset_on_disconnect` (or, after a Logout,
    /// `reset_on_logout`) asks for it and a Logon was accepted on this connection.
    fn disconnect_with_reset(&mut self, logout: bool) {
        self.state = SessionState::Disconnected;
        let config = &self.config;
        let reset = config.reset_on_disconnect || (logout && config.reset_on_logout);
        if !(reset && self.logged_on) {
            return;
        }
        let now = self.last_now;
        match self.store.reset(now.wall, now.mono) {
            Ok(()) => self.seq = SeqNums::INITIAL,
            Err(e) => {
                tracing::error!(session = self.config.session_id.0, error = %e, "session store reset failed");
            }
        }
    }

    /// Sends Logout with `text`, then disconnects.
    fn logout_and_disconnect(&mut self, now: Now, text: &str, reason: DisconnectReason) {
        self.send_admin(now, MsgType::LOGOUT, |w| {
            w.str(tag::TEXT, text);
        });
        self.disconnect(reason);
    }

    /// Sends a Reject (35=3) (FIX 4.4 Vol. 2 "Reject (session-level)").
    fn reject(
        &mut self,
        now: Now,
        ref_seq: u64,
        ref_msg_type: MsgType,
        ref_tag: u32,
        reason: SessionRejectReason,
    ) {
        let mut text = TextBuf::new();
        let _ = core::fmt::Write::write_fmt(&mut text, format_args!("{reason}"));
        self.send_admin(now, MsgType::REJECT, |w| {
            w.uint(tag::REF_SEQ_NUM, ref_seq);
            if ref_tag != 0 {
                w.uint(tag::REF_TAG_ID, u64::from(ref_tag));
            }
            if !ref_msg_type.as_bytes().is_empty() {
                w.bytes(tag::REF_MSG_TYPE, ref_msg_type.as_bytes());
            }
            w.uint(tag::SESSION_REJECT_REASON, u64::from(reason.code()))
                .str(tag::TEXT, text.as_str());
        });
    }

    /// Sends a ResendRequest for everything from the expected MsgSeqNum on (EndSeqNo 0),
    /// unless one is outstanding (FIX 4.4 Vol. 2 "Message Recovery"); it stays
    /// outstanding until the highest MsgSeqNum seen meanwhile has been processed.
    fn request_resend(&mut self, now: Now, received: u64) {
        if let Some(until) = self.resend_until.as_mut() {
            *until = (*until).max(received);
            return;
        }
        let begin = self.seq.next_in;
        self.send_admin(now, MsgType::RESEND_REQUEST, |w| {
            w.uint(tag::BEGIN_SEQ_NO, begin).uint(tag::END_SEQ_NO, 0);
        });
        self.resend_until = Some(received);
    }

    /// Accepts `seq` as processed: the next expected is `next`.
    fn advance_in(&mut self, now: Now, next: u64) {
        self.seq.next_in = next;
        if self.resend_until.is_some_and(|until| next > until) {
            self.resend_until = None;
        }
        self.persist(now);
    }

    /// One complete frame from the stream.
    fn on_frame(&mut self, now: Now, frame: &[u8]) {
        let msg = match Message::decode(frame) {
            Ok(msg) => msg,
            Err(DecodeError::Garbled {
                reason: GarbleReason::UnsupportedBeginString,
            }) => {
                self.logout_and_disconnect(
                    now,
                    "BeginString must be FIX.4.4",
                    DisconnectReason::UnsupportedBeginString,
                );
                return;
            }
            Err(DecodeError::Garbled { reason }) => {
                // FIX 4.4 Vol. 2 "Message Validation" 1: garbled messages are ignored,
                // without a Reject and without consuming their MsgSeqNum.
                tracing::warn!(session = self.config.session_id.0, %reason, "dropping garbled message");
                return;
            }
            Err(DecodeError::Invalid {
                tag: tag::MSG_TYPE,
                reason: SessionRejectReason::TagOutOfOrder | SessionRejectReason::RequiredTagMissing,
                ..
            }) => {
                // MsgType (35) is not the third field: garbled too (Vol. 2 case 2t).
                tracing::warn!(
                    session = self.config.session_id.0,
                    "dropping message: MsgType is not the third field"
                );
                return;
            }
            Err(DecodeError::Invalid {
                tag: t,
                reason,
                msg_type,
                seq,
            }) => {
                self.on_invalid(now, t, reason, msg_type, seq);
                return;
            }
        };
        self.liveness.on_received(now.mono);
        // A SequenceReset in Reset mode is accepted whatever its MsgSeqNum, even 0
        // (Vol. 2 case 11).
        let reset_mode = msg.msg_type() == MsgType::SEQUENCE_RESET
            && !msg.get_flag(tag::GAP_FILL_FLAG).unwrap_or(false);
        let seq = match msg.get(tag::MSG_SEQ_NUM).and_then(parse_uint) {
            Some(seq) if seq > 0 || reset_mode => seq,
            _ => {
                let reason = DisconnectReason::MissingSeqNum;
                self.logout_and_disconnect(now, "MsgSeqNum (34) missing or invalid", reason);
                return;
            }
        };
        // Replies to this message, Rejects included, reverse its third-party routing.
        self.route.capture(&msg);
        self.on_message(now, &msg, seq, frame);
        self.route.clear();
    }

    /// A decoded message with a usable MsgSeqNum: dictionary validation, then Logon,
    /// Reset-Logon, or the sequence checks and dispatch.
    fn on_message(&mut self, now: Now, msg: &Message<'_>, seq: u64, frame: &[u8]) {
        // A first Logon without SendingTime gets `on_logon`'s own Logout, which names the
        // missing tag (Vol. 2 case 1d), rather than the generic invalid-Logon answer.
        let logon_without_time = self.state == SessionState::AwaitingLogon
            && msg.msg_type() == MsgType::LOGON
            && msg.get(tag::SENDING_TIME).is_none();
        if !logon_without_time {
            if let Err(r) = validate(msg, Dictionary::fix44(), &self.config.validation) {
                self.on_invalid(now, r.ref_tag_id, r.reason, r.ref_msg_type, r.ref_seq_num);
                return;
            }
        }
        if self.state == SessionState::AwaitingLogon {
            if msg.msg_type() == MsgType::LOGON {
                self.on_logon(now, msg, seq);
            } else {
                let reason = DisconnectReason::FirstMessageNotLogon;
                self.logout_and_disconnect(now, "first message must be Logon", reason);
            }
            return;
        }
        if msg.msg_type() == MsgType::LOGON && msg.get_flag(tag::RESET_SEQ_NUM_FLAG) == Ok(true) {
            self.on_reset_logon(now, msg, seq);
        } else {
            match self.check_header(now, msg, seq) {
                SeqCheck::Expected => self.dispatch(now, msg, seq),
                SeqCheck::Gap => self.enqueue(seq, frame),
                SeqCheck::Done => {}
            }
        }
    }

    /// A Logon with ResetSeqNumFlag=Y on a logged-on session (FIX 4.4 Vol. 2 "Sequence
    /// Reset", ResetSeqNumFlag): both sides start again at 1; we answer with a Logon
    /// carrying 141=Y and MsgSeqNum 1.
    fn on_reset_logon(&mut self, now: Now, msg: &Message<'_>, seq: u64) {
        let comp_ids_ok = msg.get(tag::SENDER_COMP_ID)
            == Some(self.config.target_comp_id.as_bytes())
            && msg.get(tag::TARGET_COMP_ID) == Some(self.config.sender_comp_id.as_bytes());
        if !comp_ids_ok {
            self.reject(
                now,
                seq,
                MsgType::LOGON,
                tag::SENDER_COMP_ID,
                SessionRejectReason::CompIdProblem,
            );
            self.logout_and_disconnect(now, "CompID problem", DisconnectReason::BadCompId);
            return;
        }
        if seq != 1 {
            let reason = DisconnectReason::BadLogon;
            self.logout_and_disconnect(now, "ResetSeqNumFlag=Y requires MsgSeqNum 1", reason);
            return;
        }
        let hb = msg
            .get(tag::HEART_BT_INT)
            .and_then(parse_uint)
            .map(Duration::from_secs)
            .filter(|d| (self.config.min_heartbeat..=self.config.max_heartbeat).contains(d));
        let Some(hb) = hb else {
            let reason = DisconnectReason::BadLogon;
            self.logout_and_disconnect(now, "HeartBtInt (108) out of range", reason);
            return;
        };
        if let Err(e) = self.store.reset(now.wall, now.mono) {
            self.store_failed(&e);
            return;
        }
        self.seq = SeqNums::INITIAL;
        self.resend_until = None;
        self.resend.clear();
        self.queue.clear();
        self.queued_bytes = 0;
        self.liveness.set_heartbeat(hb);
        let hb_secs = hb.as_secs();
        self.send_admin(now, MsgType::LOGON, |w| {
            w.uint(tag::ENCRYPT_METHOD, 0)
                .uint(tag::HEART_BT_INT, hb_secs)
                .flag(tag::RESET_SEQ_NUM_FLAG, true);
        });
        self.advance_in(now, 2);
        self.events.push_back(SessionEvent::LoggedOn {
            session: self.config.session_id,
            reset: true,
        });
    }

    /// A well-framed message with a bad field: Reject it if it is the expected one.
    fn on_invalid(
        &mut self,
        now: Now,
        t: u32,
        reason: SessionRejectReason,
        msg_type: MsgType,
        seq: u64,
    ) {
        if self.state == SessionState::AwaitingLogon {
            let reason = DisconnectReason::FirstMessageNotLogon;
            self.logout_and_disconnect(now, "first message must be a valid Logon", reason);
            return;
        }
        self.liveness.on_received(now.mono);
        let expected = self.seq.next_in;
        if seq > expected {
            self.request_resend(now, seq);
            return;
        }
        self.reject(now, seq, msg_type, t, reason);
        if seq == expected {
            self.advance_in(now, expected + 1);
        }
    }

    /// Logon processing (FIX 4.4 Vol. 2 "Logon"): CompIDs, credentials, EncryptMethod,
    /// HeartBtInt, ResetSeqNumFlag and MsgSeqNum.
    fn on_logon(&mut self, now: Now, msg: &Message<'_>, seq: u64) {
        let comp_ids_ok = msg.get(tag::SENDER_COMP_ID)
            == Some(self.config.target_comp_id.as_bytes())
            && msg.get(tag::TARGET_COMP_ID) == Some(self.config.sender_comp_id.as_bytes());
        if !comp_ids_ok {
            self.logout_and_disconnect(now, "unknown CompID", DisconnectReason::BadCompId);
            return;
        }
        let user_ok = self
            .config
            .username
            .as_deref()
            .is_none_or(|u| msg.get(tag::USERNAME) == Some(u.as_bytes()));
        let password_ok = self
            .config
            .password
            .as_deref()
            .is_none_or(|p| msg.get(tag::PASSWORD) == Some(p.as_bytes()));
        if !(user_ok && password_ok) {
            let reason = DisconnectReason::BadCredentials;
            self.logout_and_disconnect(now, "invalid username or password", reason);
            return;
        }
        // SendingTime accuracy applies to the Logon too (Vol. 2 case 1d).
        if let Err(text) = self.sending_time(now, msg) {
            self.logout_and_disconnect(now, text, DisconnectReason::SendingTimeAccuracy);
            return;
        }
        if msg.get(tag::ENCRYPT_METHOD) != Some(b"0") {
            let reason = DisconnectReason::BadLogon;
            self.logout_and_disconnect(now, "EncryptMethod (98) must be 0", reason);
            return;
        }
        let hb = msg
            .get(tag::HEART_BT_INT)
            .and_then(parse_uint)
            .map(Duration::from_secs)
            .filter(|d| (self.config.min_heartbeat..=self.config.max_heartbeat).contains(d));
        let Some(hb) = hb else {
            let mut text = TextBuf::new();
            let _ = core::fmt::Write::write_fmt(
                &mut text,
                format_args!(
                    "HeartBtInt (108) must be {} to {} seconds",
                    self.config.min_heartbeat.as_secs(),
                    self.config.max_heartbeat.as_secs()
                ),
            );
            self.logout_and_disconnect(now, text.as_str(), DisconnectReason::BadLogon);
            return;
        };
        let reset = match msg.get_flag(tag::RESET_SEQ_NUM_FLAG) {
            Ok(reset) => reset,
            Err(_) => {
                let reason = DisconnectReason::BadLogon;
                self.logout_and_disconnect(now, "ResetSeqNumFlag (141) must be Y or N", reason);
                return;
            }
        };
        if reset && seq != 1 {
            let reason = DisconnectReason::BadLogon;
            self.logout_and_disconnect(now, "ResetSeqNumFlag=Y requires MsgSeqNum 1", reason);
            return;
        }
        if reset || self.config.reset_on_logon {
            if let Err(e) = self.store.reset(now.wall, now.mono) {
                self.store_failed(&e);
                return;
            }
            self.seq = SeqNums::INITIAL;
        }
        let expected = self.seq.next_in;
        if seq < expected {
            self.seq_too_low(now, expected, seq);
            return;
        }
        self.liveness.set_heartbeat(hb);
        self.state = SessionState::Active;
        self.logged_on = true;
        let hb_secs = hb.as_secs();
        self.send_admin(now, MsgType::LOGON, |w| {
            w.uint(tag::ENCRYPT_METHOD, 0)
                .uint(tag::HEART_BT_INT, hb_secs);
            if reset {
                w.flag(tag::RESET_SEQ_NUM_FLAG, true);
            }
        });
        if self.state == SessionState::Disconnected {
            return;
        }
        self.events.push_back(SessionEvent::LoggedOn {
            session: self.config.session_id,
            reset,
        });
        if seq > expected {
            self.request_resend(now, seq);
        } else {
            self.advance_in(now, seq + 1);
        }
    }

    /// Checks SendingTime (52) of a Logon against our clock: the Logout text if wrong.
    fn sending_time(&self, now: Now, msg: &Message<'_>) -> Result<(), &'static str> {
        let sent = match msg.get(tag::SENDING_TIME).map(parse_timestamp) {
            None => return Err("SendingTime (52) missing"),
            Some(None) => return Err("SendingTime (52) has an incorrect data format"),
            Some(Some(t)) => t,
        };
        match self.config.sending_time_tolerance {
            Some(tolerance) if skew(sent, now.wall) > Nanos::from(tolerance) => {
                Err("SendingTime accuracy problem")
            }
            _ => Ok(()),
        }
    }

    fn seq_too_low(&mut self, now: Now, expected: u64, received: u64) {
        let mut text = TextBuf::new();
        let _ = core::fmt::Write::write_fmt(
            &mut text,
            format_args!("MsgSeqNum too low, expecting {expected} but received {received}"),
        );
        let reason = DisconnectReason::SeqTooLow { expected, received };
        self.logout_and_disconnect(now, text.as_str(), reason);
    }

    /// CompIDs, SendingTime, PossDup and MsgSeqNum checks of a logged-on session
    /// (FIX 4.4 Vol. 2 "Message Validation" 2–4).
    fn check_header(&mut self, now: Now, msg: &Message<'_>, seq: u64) -> SeqCheck {
        let msg_type = msg.msg_type();
        let expected = self.seq.next_in;
        // A missing CompID is a missing header field (Vol. 2 case 14b): Reject, no Logout.
        for t in [tag::SENDER_COMP_ID, tag::TARGET_COMP_ID] {
            if msg.get(t).is_none() {
                self.on_invalid(
                    now,
                    t,
                    SessionRejectReason::RequiredTagMissing,
                    msg_type,
                    seq,
                );
                return SeqCheck::Done;
            }
        }
        let bad_comp =
            if msg.get(tag::SENDER_COMP_ID) != Some(self.config.target_comp_id.as_bytes()) {
                Some(tag::SENDER_COMP_ID)
            } else if msg.get(tag::TARGET_COMP_ID) != Some(self.config.sender_comp_id.as_bytes()) {
                Some(tag::TARGET_COMP_ID)
            } else {
                None
            };
        if let Some(t) = bad_comp {
            self.reject(now, seq, msg_type, t, SessionRejectReason::CompIdProblem);
            if seq == expected {
                self.advance_in(now, expected + 1);
            }
            self.logout_and_disconnect(now, "CompID problem", DisconnectReason::BadCompId);
            return SeqCheck::Done;
        }
        let sending_time = match msg.get(tag::SENDING_TIME).map(parse_timestamp) {
            None => Err((tag::SENDING_TIME, SessionRejectReason::RequiredTagMissing)),
            Some(None) => Err((tag::SENDING_TIME, SessionRejectReason::IncorrectDataFormat)),
            Some(Some(t)) => Ok(t),
        };
        let sending_time = match sending_time {
            Ok(t) => t,
            Err((t, reason)) => {
                self.on_invalid(now, t, reason, msg_type, seq);
                return SeqCheck::Done;
            }
        };
        if let Some(tolerance) = self.config.sending_time_tolerance {
            if skew(sending_time, now.wall) > Nanos::from(tolerance) {
                self.reject(
                    now,
                    seq,
                    msg_type,
                    tag::SENDING_TIME,
                    SessionRejectReason::SendingTimeAccuracy,
                );
                if seq == expected {
                    self.advance_in(now, expected + 1);
                }
                let reason = DisconnectReason::SendingTimeAccuracy;
                self.logout_and_disconnect(now, "SendingTime accuracy problem", reason);
                return SeqCheck::Done;
            }
        }
        let poss_dup = msg.get_flag(tag::POSS_DUP_FLAG).unwrap_or(false);
        // SequenceReset in Reset mode ignores MsgSeqNum (FIX 4.4 Vol. 2 "Sequence Reset").
        if msg_type == MsgType::SEQUENCE_RESET && !msg.get_flag(tag::GAP_FILL_FLAG).unwrap_or(false)
        {
            return SeqCheck::Expected;
        }
        if poss_dup {
            match msg.get(tag::ORIG_SENDING_TIME).map(parse_timestamp) {
                None if msg_type != MsgType::SEQUENCE_RESET => {
                    self.reject(
                        now,
                        seq,
                        msg_type,
                        tag::ORIG_SENDING_TIME,
                        SessionRejectReason::RequiredTagMissing,
                    );
                    if seq == expected {
                        self.advance_in(now, expected + 1);
                    }
                    return SeqCheck::Done;
                }
                Some(None) => {
                    self.reject(
                        now,
                        seq,
                        msg_type,
                        tag::ORIG_SENDING_TIME,
                        SessionRejectReason::IncorrectDataFormat,
                    );
                    if seq == expected {
                        self.advance_in(now, expected + 1);
                    }
                    return SeqCheck::Done;
                }
                Some(Some(orig)) if orig > sending_time => {
                    self.reject(
                        now,
                        seq,
                        msg_type,
                        tag::ORIG_SENDING_TIME,
                        SessionRejectReason::SendingTimeAccuracy,
                    );
                    if seq == expected {
                        self.advance_in(now, expected + 1);
                    }
                    let reason = DisconnectReason::SendingTimeAccuracy;
                    self.logout_and_disconnect(now, "OrigSendingTime after SendingTime", reason);
                    return SeqCheck::Done;
                }
                _ => {}
            }
        }
        if seq > expected {
            // A gap: ask for it and keep this message until the gap is filled. A
            // ResendRequest is answered first (only its MsgSeqNum waits); a Logout
            // ends the session anyway.
            return match msg_type {
                MsgType::RESEND_REQUEST => {
                    self.on_resend_request(now, msg, seq);
                    self.request_resend(now, seq);
                    self.enqueue(seq, &[]);
                    SeqCheck::Done
                }
                MsgType::LOGOUT => {
                    self.on_logout(now);
                    SeqCheck::Done
                }
                _ => {
                    self.request_resend(now, seq);
                    SeqCheck::Gap
                }
            };
        }
        if seq < expected {
            if !poss_dup {
                self.seq_too_low(now, expected, seq);
            }
            // A possible duplicate of something already processed: ignore it.
            return SeqCheck::Done;
        }
        SeqCheck::Expected
    }

    /// Processes a message whose MsgSeqNum is the expected one (or a Reset-mode
    /// SequenceReset).
    fn dispatch(&mut self, now: Now, msg: &Message<'_>, seq: u64) {
        let msg_type = msg.msg_type();
        if msg_type == MsgType::SEQUENCE_RESET {
            self.on_sequence_reset(now, msg, seq);
            return;
        }
        self.advance_in(now, seq + 1);
        if self.state == SessionState::Disconnected {
            return;
        }
        match msg_type {
            MsgType::HEARTBEAT | MsgType::REJECT => {}
            MsgType::TEST_REQUEST => match msg.get(tag::TEST_REQ_ID) {
                Some(id) => self.send_admin(now, MsgType::HEARTBEAT, |w| {
                    w.bytes(tag::TEST_REQ_ID, id);
                }),
                None => self.reject(
                    now,
                    seq,
                    msg_type,
                    tag::TEST_REQ_ID,
                    SessionRejectReason::RequiredTagMissing,
                ),
            },
            MsgType::RESEND_REQUEST => self.on_resend_request(now, msg, seq),
            MsgType::LOGOUT => self.on_logout(now),
            MsgType::LOGON => {
                let reason = DisconnectReason::UnexpectedLogon;
                self.logout_and_disconnect(now, "Logon on a logged-on session", reason);
            }
            MsgType::NEW_ORDER_SINGLE
            | MsgType::ORDER_CANCEL_REQUEST
            | MsgType::ORDER_CANCEL_REPLACE_REQUEST => {
                self.on_application(now, msg, seq);
            }
            other if other.is_defined() && !other.is_admin() => {
                let reject = BusinessMessageReject {
                    ref_seq_num: seq,
                    ref_msg_type: other,
                    ref_id: None,
                    reason: BusinessRejectReason::UnsupportedMsgType,
                    text: Some("unsupported message type"),
                };
                let _ = self.send_business_reject(now, &reject);
            }
            other => self.reject(
                now,
                seq,
                other,
                tag::MSG_TYPE,
                SessionRejectReason::InvalidMsgType,
            ),
        }
    }

    /// D, F or G: parse and hand to the application, or reject.
    fn on_application(&mut self, now: Now, msg: &Message<'_>, seq: u64) {
        let ctx = ParseContext {
            session: self.config.session_id,
            account: self.config.account,
            instruments: &self.instruments,
        };
        let parsed = match msg.msg_type() {
            MsgType::NEW_ORDER_SINGLE => {
                NewOrderSingle::parse(msg, seq, &ctx).map(SessionEvent::NewOrderSingle)
            }
            MsgType::ORDER_CANCEL_REQUEST => {
                OrderCancelRequest::parse(msg, seq, &ctx).map(SessionEvent::OrderCancelRequest)
            }
            _ => OrderCancelReplaceRequest::parse(msg, seq, &ctx)
                .map(SessionEvent::OrderCancelReplaceRequest),
        };
        match parsed {
            Ok(event) => self.events.push_back(event),
            Err(AppRejectError::Session { tag: t, reason }) => {
                self.reject(now, seq, msg.msg_type(), t, reason);
            }
            Err(AppRejectError::Refused {
                tag: t,
                reason,
                text,
            }) => {
                let refusal = Refusal {
                    request: msg,
                    account: self.config.account,
                    out_seq: self.seq.next_out,
                    now: now.wall,
                    tag: t,
                    reason,
                    text,
                };
                let msg_type = refusal_msg_type(msg.msg_type());
                let _ = self.send_app(now, msg_type, |w| write_refusal(w, &refusal));
            }
        }
    }

    /// SequenceReset (FIX 4.4 Vol. 2 "Sequence Reset (Gap Fill)"): GapFill mode moves
    /// the expected MsgSeqNum forward; Reset mode sets it, and never lowers it.
    fn on_sequence_reset(&mut self, now: Now, msg: &Message<'_>, seq: u64) {
        let gap_fill = msg.get_flag(tag::GAP_FILL_FLAG).unwrap_or(false);
        let expected = self.seq.next_in;
        let new_seq = match msg.get_uint(tag::NEW_SEQ_NO) {
            Ok(Some(n)) => n,
            Ok(None) => {
                self.reject(
                    now,
                    seq,
                    MsgType::SEQUENCE_RESET,
                    tag::NEW_SEQ_NO,
                    SessionRejectReason::RequiredTagMissing,
                );
                if gap_fill {
                    self.advance_in(now, expected + 1);
                }
                return;
            }
            Err((t, reason)) => {
                self.reject(now, seq, MsgType::SEQUENCE_RESET, t, reason);
                if gap_fill {
                    self.advance_in(now, expected + 1);
                }
                return;
            }
        };
        if new_seq > expected {
            self.advance_in(now, new_seq);
        } else if new_seq == expected && !gap_fill {
            tracing::warn!(
                session = self.config.session_id.0,
                new_seq,
                "SequenceReset to the expected MsgSeqNum"
            );
        } else {
            // Lowering the expected sequence number is not allowed.
            self.reject(
                now,
                seq,
                MsgType::SEQUENCE_RESET,
                tag::NEW_SEQ_NO,
                SessionRejectReason::ValueIncorrect,
            );
            if gap_fill {
                self.advance_in(now, expected + 1);
            }
        }
    }

    /// Logout from the peer: answer it (unless it answers ours) and disconnect.
    fn on_logout(&mut self, now: Now) {
        if self.state == SessionState::LoggingOut {
            self.events.push_back(SessionEvent::LoggedOut {
                session: self.config.session_id,
            });
            self.disconnect(DisconnectReason::LogoutComplete);
            return;
        }
        self.send_admin(now, MsgType::LOGOUT, |_| {});
        self.events.push_back(SessionEvent::LoggedOut {
            session: self.config.session_id,
        });
        self.disconnect(DisconnectReason::PeerLogout);
    }

    /// ResendRequest (FIX 4.4 Vol. 2 "Resend Request"): resends stored application
    /// messages with PossDupFlag=Y and OrigSendingTime, and gap-fills over admin
    /// messages with SequenceReset-GapFill.
    fn on_resend_request(&mut self, now: Now, msg: &Message<'_>, seq: u64) {
        let begin = match msg.get_uint(tag::BEGIN_SEQ_NO) {
            Ok(Some(b)) => b,
            Ok(None) => {
                self.reject(
                    now,
                    seq,
                    MsgType::RESEND_REQUEST,
                    tag::BEGIN_SEQ_NO,
                    SessionRejectReason::RequiredTagMissing,
                );
                return;
            }
            Err((t, reason)) => {
                self.reject(now, seq, MsgType::RESEND_REQUEST, t, reason);
                return;
            }
        };
        let end = match msg.get_uint(tag::END_SEQ_NO) {
            Ok(Some(e)) => e,
            Ok(None) => {
                self.reject(
                    now,
                    seq,
                    MsgType::RESEND_REQUEST,
                    tag::END_SEQ_NO,
                    SessionRejectReason::RequiredTagMissing,
                );
                return;
            }
            Err((t, reason)) => {
                self.reject(now, seq, MsgType::RESEND_REQUEST, t, reason);
                return;
            }
        };
        self.resend.request(begin, end, self.seq.next_out);
    }

    /// Serves the next chunk of the ResendRequest in progress (see `resend`); a stored
    /// frame that is not this session's message under its MsgSeqNum stops the session.
    fn serve_resend(&mut self, now: Now) {
        if !self.resend.is_pending() {
            return;
        }
        if !matches!(self.state, SessionState::Active | SessionState::LoggingOut) {
            self.resend.clear();
            return;
        }
        let ids = comp_ids(&self.config);
        match self
            .resend
            .serve(&mut self.store, self.out.buf(), ids, now.wall)
        {
            Ok(()) => self.liveness.on_sent(now.mono),
            Err(ResendError::Foreign { msg_seq }) => {
                tracing::error!(
                    session = self.config.session_id.0,
                    msg_seq,
                    "stored message does not match its MsgSeqNum or this session's TargetCompID"
                );
                self.disconnect(DisconnectReason::StoreCorrupt { msg_seq });
            }
            Err(ResendError::Store(e)) => self.store_failed(&e),
        }
    }
}

/// The CompIDs on what this session sends.
fn comp_ids(config: &SessionConfig) -> CompIds<'_> {
    CompIds {
        sender: &config.sender_comp_id,
        target: &config.target_comp_id,
    }
}

/// How far apart two wall-clock times are.
fn skew(a: UnixNanos, b: UnixNanos) -> Nanos {
    if a >= b {
        a.saturating_sub(b)
    } else {
        b.saturating_sub(a)
    }
}

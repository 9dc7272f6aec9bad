//! The FIX 4.4 session layer as one sans-IO state machine for both roles (FIX 4.4 Vol. 2
//! "Session Protocol"), modelled on Philadelphia's `FIXConnection`: the gateway's
//! acceptor ([`crate::fix::acceptor`]) and the venue initiator
//! ([`crate::venue::FixVenue`]) are both a [`Connection`] plus their application layer.
//!
//! A [`Connection`] owns sequence numbers, Logon and Logout, heartbeats and TestRequests,
//! ResendRequest and gap fill (both directions), SequenceReset in both modes, PossDup and
//! OrigSendingTime checks, the garbled-message rules and dictionary validation. The
//! [`Role`] is the only difference: an acceptor waits for the peer's Logon, checks its
//! credentials and answers it; an initiator sends its Logon when created and waits for the
//! answer.
//!
//! Bytes go in through [`Connection::handle_bytes`] (split anywhere), time through
//! [`Connection::handle_timeout`]; bytes to send come out of
//! [`Connection::poll_transmit`], session events out of [`Connection::poll_event`], the
//! next deadline out of [`Connection::poll_timeout`]. Application messages (every defined
//! MsgType that is not a session message) leave it as `(seq, &Message)` through
//! [`Application::on_message`], in sequence, exactly once; the application answers
//! through [`Connection::send_app`] and [`Connection::send_reject`]. One `Connection`
//! lives for one network connection; its [`SessionStore`] carries sequence numbers and
//! sent messages over to the next one.
//!
//! What it must not do: touch a socket, read a clock (every input carries [`Now`]),
//! block, know any order type, or allocate per message once its buffers have grown
//! (inbound bytes, outbound bytes and events live in reused buffers; a store may
//! allocate, see `store`). After a [`ConnectionEvent::Disconnect`] the driver flushes what
//! `poll_transmit` still yields and closes the connection; the session ignores further
//! input.
//!
//! Durability: store writes are group-committed. Outbound bytes become visible in
//! [`Connection::transmit_queue`] only after [`Connection::flush`] has synced the store,
//! so the driver handles all input, flushes once, then writes.
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
//! credentials, SendingTime, EncryptMethod or HeartBtInt is answered with a Logout
//! carrying Text (58), then the connection is closed; an acceptor's refused Logon changes
//! nothing in the store (an initiator's own Logon did consume its MsgSeqNum); a Logon with
//! ResetSeqNumFlag=Y on a logged-on session resets both sides and is answered with a Logon
//! 141=Y, whatever the role; an application message the application does not handle gets
//! a BusinessMessageReject, an undefined MsgType a Reject (373=11). Replies to a message
//! with third-party routing (OnBehalfOf*/DeliverTo*) carry them reversed. The TestRequest
//! grace ("reasonable transmission time") is 20 % of HeartBtInt.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tickwarp_runtime::{Nanos, UnixNanos};

use super::codec::{
    DecodeError, Framing, GarbleReason, Message, MessageWriter, parse_uint, scan_frame,
};
use super::dictionary::{Dictionary, ValidationOptions, validate};
use super::fields::{BusinessRejectReason, MsgType, SessionRejectReason, parse_timestamp, tag};
use super::messages::BusinessMessageReject;
use super::store::{SeqNums, SessionStore, StoreError};

mod endpoint;
mod garble_log;
mod liveness;
mod logon;
mod outbox;
mod resend;
mod route;
mod text;

use garble_log::GarbleLog;
use liveness::{Due, Liveness};
use outbox::Outbox;
use resend::{CompIds, ResendCursor, ResendError, write_header};
use route::Route;

pub use endpoint::Endpoint;

/// The time of an input: monotonic for timers, wall clock for SendingTime (52).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time, for heartbeats and timeouts.
    pub mono: Nanos,
    /// Wall-clock time, for SendingTime and its accuracy check.
    pub wall: UnixNanos,
}

/// What differs between the two ends of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Waits for the peer's Logon, checks it and answers it.
    Acceptor {
        /// Username (553) the Logon must carry, if any.
        username: Option<String>,
        /// Password (554) the Logon must carry, if any.
        password: Option<String>,
        /// Smallest HeartBtInt (108) accepted.
        min_heartbeat: Duration,
        /// Largest HeartBtInt (108) accepted.
        max_heartbeat: Duration,
    },
    /// Sends its Logon when created and waits for the peer's answer.
    Initiator {
        /// HeartBtInt (108) proposed (whole seconds, at least one); the answer must agree.
        heartbeat: Duration,
        /// Username (553) sent in the Logon, if any.
        username: Option<String>,
        /// Password (554) sent in the Logon, if any.
        password: Option<String>,
    },
}

impl Role {
    /// The HeartBtInt values a Logon from the peer may carry.
    fn heartbeats(&self) -> (Duration, Duration) {
        match self {
            Role::Acceptor {
                min_heartbeat,
                max_heartbeat,
                ..
            } => (*min_heartbeat, *max_heartbeat),
            Role::Initiator { heartbeat, .. } => {
                let hb = Duration::from_secs(heartbeat.as_secs().max(1));
                (hb, hb)
            }
        }
    }
}

/// How one session connection is set up (both roles).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// Acceptor or initiator, with what only that role needs.
    pub role: Role,
    /// Our CompID: SenderCompID (49) of what we send, TargetCompID (56) of what we accept.
    pub sender_comp_id: String,
    /// The peer's CompID: SenderCompID (49) we accept, TargetCompID (56) we send.
    pub target_comp_id: String,
    /// How long after connecting the peer's Logon must arrive.
    pub logon_timeout: Duration,
    /// How long to wait for the answer to our Logout.
    pub logout_timeout: Duration,
    /// Largest BodyLength (9) accepted; longer frames are garbled.
    pub max_body_len: usize,
    /// Largest difference between SendingTime (52) and our wall clock; `None` disables.
    pub sending_time_tolerance: Option<Duration>,
    /// Reset both sequence numbers to 1 on every Logon (QuickFIX ResetOnLogon); an
    /// initiator then sends ResetSeqNumFlag=Y.
    pub reset_on_logon: bool,
    /// Reset both sequence numbers to 1 after a Logout (QuickFIX ResetOnLogout).
    pub reset_on_logout: bool,
    /// Reset both sequence numbers to 1 when a logged-on connection ends, for any
    /// reason (QuickFIX ResetOnDisconnect).
    pub reset_on_disconnect: bool,
    /// Data dictionary validation switches.
    pub validation: ValidationOptions,
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

/// What the driver learns from the session (application messages go to the
/// [`Application`] instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// The Logon handshake completed.
    LoggedOn {
        /// Whether sequence numbers were reset to 1 (ResetSeqNumFlag).
        reset: bool,
    },
    /// The peer answered our Logon with a Logout (initiator).
    LogonRefused,
    /// The Logout handshake completed (either side started it).
    LoggedOut,
    /// Close the connection (after flushing `poll_transmit`).
    Disconnect {
        /// Why.
        reason: DisconnectReason,
    },
}

/// Where the session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Connected, waiting for the peer's Logon (an initiator's is sent).
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

/// Whether the application took an application message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Handled (answered, queued or rejected by the application).
    Handled,
    /// Not a message type this application handles: the session answers with a
    /// BusinessMessageReject (380=3).
    Unsupported,
}

/// The application layer above a [`Connection`]: it sees application messages in
/// sequence, may answer through the connection it is handed, and says what the driver
/// learns.
pub trait Application<S: SessionStore> {
    /// What the driver learns from an [`Endpoint`] with this application.
    type Event;

    /// An application message (a defined, non-session MsgType) with the expected
    /// MsgSeqNum, validated and already counted as received.
    fn on_message(
        &mut self,
        conn: &mut Connection<S>,
        now: Now,
        seq: u64,
        msg: &Message<'_>,
    ) -> Delivery;

    /// A session-level Reject (35=3) the peer sent about one of our messages.
    fn on_reject(&mut self, conn: &mut Connection<S>, now: Now, msg: &Message<'_>) {
        let _ = (conn, now, msg);
    }

    /// The next event, session events of `conn` included, in the order they happened.
    fn poll_event(&mut self, conn: &mut Connection<S>) -> Option<Self::Event>;
}

/// Messages kept beyond a sequence gap; more are dropped (the ResendRequest, EndSeqNo 0,
/// brings them again).
const MAX_QUEUED: usize = 1024;

/// One FIX 4.4 session over one connection, either role.
#[derive(Debug)]
pub struct Connection<S: SessionStore> {
    config: ConnectionConfig,
    store: S,
    state: SessionState,
    seq: SeqNums,
    deadline: Nanos,
    /// Heartbeat and TestRequest timing.
    liveness: Liveness,
    resend_until: Option<u64>,
    /// The peer's ResendRequest being served.
    resend: ResendCursor,
    /// Messages received beyond a sequence gap, by MsgSeqNum, until the gap is filled
    /// (an empty frame: already processed, only its MsgSeqNum is still to consume).
    queue: BTreeMap<u64, Vec<u8>>,
    queued_bytes: usize,
    /// Third-party routing of the message being processed, reversed, for its replies.
    route: Route,
    /// Whether a Logon was accepted on this connection.
    logged_on: bool,
    /// Whether our own Logon asked for a reset (initiator).
    reset_requested: bool,
    /// The time of the latest input, for work done without one (see `into_store`).
    last_now: Now,
    rx: Vec<u8>,
    out: Outbox,
    events: VecDeque<ConnectionEvent>,
    /// Rate limit on the WARN lines about garbled input.
    garbled: GarbleLog,
    /// Messages in and out since the driver last took them (metrics).
    counts: MessageCounts,
}

/// Messages a session handled, for metrics (see [`Connection::take_counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// Complete frames received (garbled bytes excluded).
    pub received: u64,
    /// Messages sent with a new MsgSeqNum (admin and application).
    pub sent: u64,
    /// ResendRequests received from the peer (each served from the store).
    pub resend_requests: u64,
}

impl std::ops::AddAssign for MessageCounts {
    fn add_assign(&mut self, o: MessageCounts) {
        self.received += o.received;
        self.sent += o.sent;
        self.resend_requests += o.resend_requests;
    }
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

impl<S: SessionStore> Connection<S> {
    /// A session on a connection opened at `now`. An acceptor waits for the peer's
    /// Logon; an initiator queues its own (FIX 4.4 Vol. 2 "Logon"), after resetting the
    /// store if `reset_on_logon`, and waits for the answer. Both until the logon timeout.
    pub fn new(config: ConnectionConfig, store: S, now: Now) -> Self {
        let seq = store.seq_nums();
        let deadline = now.mono.saturating_add(config.logon_timeout);
        let rx_capacity = config.max_body_len.saturating_mul(2).max(4096);
        let heartbeat = match &config.role {
            Role::Acceptor { .. } => Duration::from_secs(30),
            Role::Initiator { .. } => config.role.heartbeats().0,
        };
        let mut conn = Connection {
            config,
            store,
            state: SessionState::AwaitingLogon,
            seq,
            deadline,
            liveness: Liveness::new(heartbeat, now.mono),
            resend_until: None,
            resend: ResendCursor::default(),
            queue: BTreeMap::new(),
            queued_bytes: 0,
            route: Route::default(),
            logged_on: false,
            reset_requested: false,
            last_now: now,
            rx: Vec::with_capacity(rx_capacity),
            out: Outbox::with_capacity(16 << 10),
            events: VecDeque::with_capacity(64),
            garbled: GarbleLog::new(now.mono),
            counts: MessageCounts::default(),
        };
        if matches!(conn.config.role, Role::Initiator { .. }) {
            conn.send_logon(now);
        }
        conn
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The next inbound and outbound MsgSeqNum.
    pub fn seq_nums(&self) -> SeqNums {
        self.seq
    }

    /// The messages counted since the last call, and zeroes the counts.
    pub fn take_counts(&mut self) -> MessageCounts {
        std::mem::take(&mut self.counts)
    }

    /// The configuration.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// The heartbeat interval (agreed at Logon; before it, 30 s for an acceptor, the
    /// proposed one for an initiator).
    pub fn heartbeat_interval(&self) -> Duration {
        self.liveness.heartbeat()
    }

    /// The session store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The session store, for a driver's sync round only (appending through it would
    /// bypass the session's sequence numbers).
    pub(crate) fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Ends this connection's session and returns its store, flushed, for the next
    /// connection (reset first if `reset_on_disconnect` and it ended while logged on).
    pub fn into_store(mut self) -> S {
        if self.state != SessionState::Disconnected {
            self.disconnect_with_reset(false);
        }
        // What this connection changed is made durable even if no flush came after it.
        if let Err(e) = self.store.flush() {
            tracing::error!(peer = %self.config.target_comp_id, error = %e, "session store failed");
        }
        self.store
    }

    /// Feeds bytes received from the connection (any split); application messages go to
    /// `app` in sequence.
    pub fn handle_bytes<A: Application<S>>(&mut self, now: Now, bytes: &[u8], app: &mut A) {
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
                    let peer = self.config.target_comp_id.as_str();
                    if self.garbled.admit(now.mono, peer) {
                        tracing::warn!(peer, %reason, "dropping garbled bytes");
                    }
                    consumed += skip;
                }
                Framing::Complete(len) => {
                    let frame = pending.get(..len).unwrap_or_default();
                    self.on_frame(now, frame, app);
                    self.drain_queue(now, app);
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
    fn drain_queue<A: Application<S>>(&mut self, now: Now, app: &mut A) {
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
                self.on_frame(now, &frame, app);
            }
        }
    }

    /// Keeps a message received beyond a gap until the gap is filled, within bounds.
    fn enqueue(&mut self, seq: u64, frame: &[u8]) {
        let bound = self.config.max_body_len.saturating_mul(64);
        if self.queue.len() >= MAX_QUEUED || self.queued_bytes + frame.len() > bound {
            tracing::debug!(peer = %self.config.target_comp_id, seq, "gap queue full");
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
        self.garbled.poll(now.mono, &self.config.target_comp_id);
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

    /// When [`Connection::handle_timeout`] next has work, if ever.
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
    /// [`Connection::transmit_queue`]. A driver calls it once per duty cycle, after all
    /// input and application sends, before writing. If the store fails, the bytes it
    /// does not cover are dropped and the session disconnects.
    pub fn flush(&mut self) {
        if let Err(e) = self.out.flush(&mut self.store) {
            self.store_failed(&e);
        }
    }

    /// Flushes (see [`Connection::flush`]), then copies pending outbound bytes into
    /// `buf`; returns how many.
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

    /// Whether outbound bytes wait for a [`Connection::flush`].
    pub fn needs_flush(&self) -> bool {
        self.out.needs_flush()
    }

    /// Marks `n` bytes of [`Connection::transmit_queue`] as sent.
    pub fn consume_transmit(&mut self, n: usize) {
        self.out.consume(n);
    }

    /// The next session event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ConnectionEvent> {
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

    /// Sends and stores an application message with the next MsgSeqNum (and the
    /// reversed routing of the message being answered); returns its MsgSeqNum.
    pub fn send_app(
        &mut self,
        now: Now,
        msg_type: MsgType,
        body: impl FnOnce(&mut MessageWriter<'_>),
    ) -> Result<u64, SendError> {
        if !matches!(self.state, SessionState::Active | SessionState::LoggingOut) {
            return Err(SendError::NotLoggedOn);
        }
        let seq = self.seq.next_out;
        let range = self.write(now, msg_type, body);
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

    /// Sends a Reject (35=3) (FIX 4.4 Vol. 2 "Reject (session-level)") of message
    /// `ref_seq`, with the spec's text for `reason`.
    pub fn send_reject(
        &mut self,
        now: Now,
        ref_seq: u64,
        ref_msg_type: MsgType,
        ref_tag: u32,
        reason: SessionRejectReason,
    ) {
        self.send_admin(now, MsgType::REJECT, |w| {
            w.uint(tag::REF_SEQ_NUM, ref_seq);
            if ref_tag != 0 {
                w.uint(tag::REF_TAG_ID, u64::from(ref_tag));
            }
            if !ref_msg_type.as_bytes().is_empty() {
                w.bytes(tag::REF_MSG_TYPE, ref_msg_type.as_bytes());
            }
            w.uint(tag::SESSION_REJECT_REASON, u64::from(reason.code()))
                .str(tag::TEXT, reason.spec_text());
        });
    }

    /// Writes one message with the next MsgSeqNum into the outbox; returns its bytes.
    fn write(
        &mut self,
        now: Now,
        msg_type: MsgType,
        body: impl FnOnce(&mut MessageWriter<'_>),
    ) -> core::ops::Range<usize> {
        let seq = self.seq.next_out;
        let ids = CompIds {
            sender: &self.config.sender_comp_id,
            target: &self.config.target_comp_id,
        };
        let mut w = MessageWriter::begin(self.out.buf(), msg_type);
        write_header(&mut w, ids, seq, now.wall);
        self.route.write(&mut w);
        body(&mut w);
        let range = w.finish();
        self.seq.next_out += 1;
        self.counts.sent += 1;
        self.liveness.on_sent(now.mono);
        range
    }

    /// Sends a session message with the next MsgSeqNum; admin messages are not stored
    /// (a resend gap-fills over them).
    fn send_admin(
        &mut self,
        now: Now,
        msg_type: MsgType,
        body: impl FnOnce(&mut MessageWriter<'_>),
    ) {
        let _ = self.write(now, msg_type, body);
        self.persist(now);
    }

    /// Saves the sequence numbers; a failure disconnects. Before an acceptor accepts a
    /// Logon nothing is saved: a refused Logon changes no state and costs no sync.
    fn persist(&mut self, now: Now) {
        let acceptor = matches!(self.config.role, Role::Acceptor { .. });
        if acceptor && self.state == SessionState::AwaitingLogon {
            return;
        }
        if let Err(e) = self.store.save_seq_nums(self.seq, now.wall, now.mono) {
            self.store_failed(&e);
        }
    }

    fn store_failed(&mut self, e: &StoreError) {
        tracing::error!(peer = %self.config.target_comp_id, error = %e, "session store failed");
        self.disconnect(DisconnectReason::StoreFailed);
    }

    fn disconnect(&mut self, reason: DisconnectReason) {
        if self.state == SessionState::Disconnected {
            return;
        }
        self.garbled.finish(&self.config.target_comp_id);
        let logout = matches!(
            reason,
            DisconnectReason::PeerLogout
                | DisconnectReason::LogoutComplete
                | DisconnectReason::LogoutTimeout
        );
        self.disconnect_with_reset(logout);
        self.events
            .push_back(ConnectionEvent::Disconnect { reason });
    }

    /// Ends the session; resets the store if `reset_on_disconnect` (or, after a Logout,
    /// `reset_on_logout`) asks for it and a Logon was accepted on this connection.
    fn disconnect_with_reset(&mut self, logout: bool) {
        self.state = SessionState::Disconnected;
        self.resend.clear();
        let config = &self.config;
        let reset = config.reset_on_disconnect || (logout && config.reset_on_logout);
        if !(reset && self.logged_on) {
            return;
        }
        let now = self.last_now;
        match self.store.reset(now.wall, now.mono) {
            Ok(()) => self.seq = SeqNums::INITIAL,
            Err(e) => {
                tracing::error!(peer = %self.config.target_comp_id, error = %e, "session store reset failed");
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

    /// Rejects message `seq` and, if it is the expected one, consumes its MsgSeqNum.
    fn reject_and_advance(
        &mut self,
        now: Now,
        seq: u64,
        msg_type: MsgType,
        ref_tag: u32,
        reason: SessionRejectReason,
    ) {
        let expected = self.seq.next_in;
        self.send_reject(now, seq, msg_type, ref_tag, reason);
        if seq == expected {
            self.advance_in(now, expected + 1);
        }
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

    /// Accepts `next - 1` as processed: the next expected is `next`.
    fn advance_in(&mut self, now: Now, next: u64) {
        self.seq.next_in = next;
        if self.resend_until.is_some_and(|until| next > until) {
            self.resend_until = None;
        }
        self.persist(now);
    }

    /// One complete frame from the stream.
    fn on_frame<A: Application<S>>(&mut self, now: Now, frame: &[u8], app: &mut A) {
        self.counts.received += 1;
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
                let peer = self.config.target_comp_id.as_str();
                if self.garbled.admit(now.mono, peer) {
                    tracing::warn!(peer, %reason, "dropping garbled message");
                }
                return;
            }
            Err(DecodeError::Invalid {
                tag: tag::MSG_TYPE,
                reason: SessionRejectReason::TagOutOfOrder | SessionRejectReason::RequiredTagMissing,
                ..
            }) => {
                // MsgType (35) is not the third field: garbled too (Vol. 2 case 2t).
                let peer = self.config.target_comp_id.as_str();
                if self.garbled.admit(now.mono, peer) {
                    tracing::warn!(peer, "dropping message: MsgType is not the third field");
                }
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
        self.on_message(now, &msg, seq, frame, app);
        self.route.clear();
    }

    /// A decoded message with a usable MsgSeqNum: dictionary validation, then Logon,
    /// Reset-Logon, or the sequence checks and dispatch.
    fn on_message<A: Application<S>>(
        &mut self,
        now: Now,
        msg: &Message<'_>,
        seq: u64,
        frame: &[u8],
        app: &mut A,
    ) {
        let awaiting_logon = self.state == SessionState::AwaitingLogon;
        // A first Logon without SendingTime gets `on_logon`'s own Logout, which names the
        // missing tag (Vol. 2 case 1d), rather than the generic invalid-Logon answer.
        let logon_without_time = awaiting_logon
            && msg.msg_type() == MsgType::LOGON
            && msg.get(tag::SENDING_TIME).is_none();
        // An initiator's Logon answered by a Logout is a refusal, whatever it carries.
        let refusal = awaiting_logon
            && msg.msg_type() == MsgType::LOGOUT
            && matches!(self.config.role, Role::Initiator { .. });
        if !(logon_without_time || refusal) {
            if let Err(r) = validate(msg, Dictionary::fix44(), &self.config.validation) {
                self.on_invalid(now, r.ref_tag_id, r.reason, r.ref_msg_type, r.ref_seq_num);
                return;
            }
        }
        if awaiting_logon {
            match msg.msg_type() {
                MsgType::LOGON => self.on_logon(now, msg, seq),
                MsgType::LOGOUT if refusal => {
                    let text = msg.get(tag::TEXT).unwrap_or_default();
                    tracing::warn!(
                        peer = %self.config.target_comp_id,
                        text = %String::from_utf8_lossy(text),
                        "peer refused our Logon"
                    );
                    self.events.push_back(ConnectionEvent::LogonRefused);
                    self.disconnect(DisconnectReason::PeerLogout);
                }
                _ => {
                    let reason = DisconnectReason::FirstMessageNotLogon;
                    self.logout_and_disconnect(now, "first message must be Logon", reason);
                }
            }
            return;
        }
        if msg.msg_type() == MsgType::LOGON && msg.get_flag(tag::RESET_SEQ_NUM_FLAG) == Ok(true) {
            self.on_reset_logon(now, msg, seq);
        } else {
            match self.check_header(now, msg, seq) {
                SeqCheck::Expected => self.dispatch(now, msg, seq, app),
                SeqCheck::Gap => self.enqueue(seq, frame),
                SeqCheck::Done => {}
            }
        }
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
        if seq > self.seq.next_in {
            self.request_resend(now, seq);
            return;
        }
        self.reject_and_advance(now, seq, msg_type, t, reason);
    }

    /// CompIDs, SendingTime, PossDup and MsgSeqNum checks of a logged-on session
    /// (FIX 4.4 Vol. 2 "Message Validation" 2–4).
    fn check_header(&mut self, now: Now, msg: &Message<'_>, seq: u64) -> SeqCheck {
        let msg_type = msg.msg_type();
        // A missing CompID is a missing header field (Vol. 2 case 14b): Reject, no Logout.
        for t in [tag::SENDER_COMP_ID, tag::TARGET_COMP_ID] {
            if msg.get(t).is_none() {
                let reason = SessionRejectReason::RequiredTagMissing;
                self.on_invalid(now, t, reason, msg_type, seq);
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
            self.reject_and_advance(now, seq, msg_type, t, SessionRejectReason::CompIdProblem);
            self.logout_and_disconnect(now, "CompID problem", DisconnectReason::BadCompId);
            return SeqCheck::Done;
        }
        let sending_time = match msg.get(tag::SENDING_TIME).map(parse_timestamp) {
            Some(Some(t)) => t,
            found => {
                let reason = if found.is_none() {
                    SessionRejectReason::RequiredTagMissing
                } else {
                    SessionRejectReason::IncorrectDataFormat
                };
                self.on_invalid(now, tag::SENDING_TIME, reason, msg_type, seq);
                return SeqCheck::Done;
            }
        };
        if let Some(tolerance) = self.config.sending_time_tolerance {
            if skew(sending_time, now.wall) > Nanos::from(tolerance) {
                let reason = SessionRejectReason::SendingTimeAccuracy;
                self.reject_and_advance(now, seq, msg_type, tag::SENDING_TIME, reason);
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
            let orig = msg.get(tag::ORIG_SENDING_TIME).map(parse_timestamp);
            let problem = match orig {
                None if msg_type != MsgType::SEQUENCE_RESET => {
                    Some(SessionRejectReason::RequiredTagMissing)
                }
                Some(None) => Some(SessionRejectReason::IncorrectDataFormat),
                Some(Some(orig)) if orig > sending_time => {
                    Some(SessionRejectReason::SendingTimeAccuracy)
                }
                _ => None,
            };
            if let Some(reason) = problem {
                self.reject_and_advance(now, seq, msg_type, tag::ORIG_SENDING_TIME, reason);
                if reason == SessionRejectReason::SendingTimeAccuracy {
                    let text = "OrigSendingTime after SendingTime";
                    self.logout_and_disconnect(now, text, DisconnectReason::SendingTimeAccuracy);
                }
                return SeqCheck::Done;
            }
        }
        let expected = self.seq.next_in;
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
    fn dispatch<A: Application<S>>(&mut self, now: Now, msg: &Message<'_>, seq: u64, app: &mut A) {
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
            MsgType::HEARTBEAT => {}
            MsgType::REJECT => app.on_reject(self, now, msg),
            MsgType::TEST_REQUEST => match msg.get(tag::TEST_REQ_ID) {
                Some(id) => self.send_admin(now, MsgType::HEARTBEAT, |w| {
                    w.bytes(tag::TEST_REQ_ID, id);
                }),
                None => self.send_reject(
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
            other if other.is_defined() && !other.is_admin() => {
                if app.on_message(self, now, seq, msg) == Delivery::Unsupported {
                    let reject = BusinessMessageReject {
                        ref_seq_num: seq,
                        ref_msg_type: other,
                        ref_id: None,
                        reason: BusinessRejectReason::UnsupportedMsgType,
                        text: Some("unsupported message type"),
                    };
                    let sent = self.send_app(now, MsgType::BUSINESS_MESSAGE_REJECT, |w| {
                        reject.write_body(w);
                    });
                    if let Err(e) = sent {
                        tracing::error!(peer = %self.config.target_comp_id, error = %e, "BusinessMessageReject not sent");
                    }
                }
            }
            other => self.send_reject(
                now,
                seq,
                other,
                tag::MSG_TYPE,
                SessionRejectReason::InvalidMsgType,
            ),
        }
    }

    /// SequenceReset (FIX 4.4 Vol. 2 "Sequence Reset (Gap Fill)"): GapFill mode moves
    /// the expected MsgSeqNum forward; Reset mode sets it, and never lowers it.
    fn on_sequence_reset(&mut self, now: Now, msg: &Message<'_>, seq: u64) {
        let gap_fill = msg.get_flag(tag::GAP_FILL_FLAG).unwrap_or(false);
        let expected = self.seq.next_in;
        let new_seq = match msg.get_uint(tag::NEW_SEQ_NO) {
            Ok(Some(n)) => Ok(n),
            Ok(None) => Err((tag::NEW_SEQ_NO, SessionRejectReason::RequiredTagMissing)),
            Err(e) => Err(e),
        };
        let problem = match new_seq {
            Ok(n) if n > expected => {
                self.advance_in(now, n);
                None
            }
            Ok(n) if n == expected && !gap_fill => {
                tracing::warn!(peer = %self.config.target_comp_id, new_seq = n, "SequenceReset to the expected MsgSeqNum");
                None
            }
            // Lowering the expected sequence number is not allowed.
            Ok(_) => Some((tag::NEW_SEQ_NO, SessionRejectReason::ValueIncorrect)),
            Err(e) => Some(e),
        };
        if let Some((t, reason)) = problem {
            self.send_reject(now, seq, MsgType::SEQUENCE_RESET, t, reason);
            if gap_fill {
                self.advance_in(now, expected + 1);
            }
        }
    }

    /// Logout from the peer: answer it (unless it answers ours) and disconnect.
    fn on_logout(&mut self, now: Now) {
        if self.state == SessionState::LoggingOut {
            self.events.push_back(ConnectionEvent::LoggedOut);
            self.disconnect(DisconnectReason::LogoutComplete);
            return;
        }
        self.send_admin(now, MsgType::LOGOUT, |_| {});
        self.events.push_back(ConnectionEvent::LoggedOut);
        self.disconnect(DisconnectReason::PeerLogout);
    }

    /// ResendRequest (FIX 4.4 Vol. 2 "Resend Request"): resends stored application
    /// messages with PossDupFlag=Y and OrigSendingTime, and gap-fills over admin
    /// messages with SequenceReset-GapFill, a chunk per step (see `serve_resend`).
    fn on_resend_request(&mut self, now: Now, msg: &Message<'_>, seq: u64) {
        let required = |t| {
            msg.get_uint(t)
                .and_then(|v| v.ok_or((t, SessionRejectReason::RequiredTagMissing)))
        };
        match (required(tag::BEGIN_SEQ_NO), required(tag::END_SEQ_NO)) {
            (Ok(begin), Ok(end)) => {
                self.counts.resend_requests += 1;
                self.resend.request(begin, end, self.seq.next_out);
            }
            (Err((t, reason)), _) | (_, Err((t, reason))) => {
                self.send_reject(now, seq, MsgType::RESEND_REQUEST, t, reason);
            }
        }
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
        let ids = CompIds {
            sender: &self.config.sender_comp_id,
            target: &self.config.target_comp_id,
        };
        match self
            .resend
            .serve(&mut self.store, self.out.buf(), ids, now.wall)
        {
            Ok(()) => self.liveness.on_sent(now.mono),
            Err(ResendError::Foreign { msg_seq }) => {
                tracing::error!(
                    peer = %self.config.target_comp_id,
                    msg_seq,
                    "stored message does not match its MsgSeqNum or this session's TargetCompID"
                );
                self.disconnect(DisconnectReason::StoreCorrupt { msg_seq });
            }
            Err(ResendError::Store(e)) => self.store_failed(&e),
        }
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

//! [`FixVenue`]: the FIX 4.4 initiator to an external venue, the second
//! [`VenueSession`] implementation beside [`super::VenueSim`].
//!
//! The session layer is the initiator side of FIX 4.4 Vol. 2 "Session Protocol": it sends
//! Logon (with HeartBtInt, optional Username/Password and ResetSeqNumFlag) when created,
//! waits for the venue's Logon, sends Heartbeats and TestRequests, requests resends on a
//! gap, answers ResendRequests (stored application messages again with PossDupFlag and
//! OrigSendingTime, SequenceReset-GapFill over admin messages), and runs the Logout
//! handshake. The application layer turns [`VenueSession`] commands into NewOrderSingle
//! (D), OrderCancelRequest (F) and OrderCancelReplaceRequest (G) with the codec's message
//! bodies, and ExecutionReport (8), OrderCancelReject (9), BusinessMessageReject (j) and
//! session Reject (3) of our requests back into [`Execution`] events.
//!
//! It is sans-IO like the acceptor: bytes in through [`FixVenue::handle_bytes`], bytes out
//! through [`FixVenue::poll_transmit`], timers through [`FixVenue::poll_timeout`] and
//! [`FixVenue::handle_timeout`], session events through [`FixVenue::poll_event`]. It must
//! not own a socket, read a clock or block; sequence numbers and sent application
//! messages live in a [`SessionStore`], as for the acceptor.
//!
//! Decisions where the spec or the venue leaves a choice:
//! - A venue that fills without acknowledging first (the QuickFIX `executor` does) gets
//!   an `Accepted` synthesized before the first fill, so the [`VenueSession`] contract
//!   (exactly one `Accepted` or `Rejected` first) holds whatever the venue sends.
//! - A command while not logged on, for an instrument without a symbol, or with a ClOrdID
//!   already in flight is refused locally (`Rejected`/`CancelRejected`) without sending.
//!   A cancel or replace of an order this connection does not know (done, or sent on an
//!   earlier connection) is sent anyway: the venue decides.
//! - A BusinessMessageReject or session Reject whose RefSeqNum (45) is one of our D/F/G
//!   becomes `Rejected` (D) or `CancelRejected` (F, G) with reason `VenueRejected`.
//! - A fill larger than the order's remaining quantity is reported up to that quantity.
//! - Messages beyond a sequence gap are dropped and asked for again (EndSeqNo 0), one
//!   ResendRequest at a time. The venue's SendingTime is not policed.
//! - ExecIDs and OrderIDs that are not decimal numbers are hashed (FNV-1a) to `u64`.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tickwarp_runtime::Nanos;
use tickwarp_wire::{
    AccountId, CancelOrder, CancelRejected, ClientOrderId, CxlRejResponseTo, ExecMeta, Fill,
    InstrumentId, InstrumentTable, NewOrder, OrderAccepted, OrderCanceled, OrderFilled,
    OrderRejected, OrderReplaced, OrderSpec, OrderType, Qty, RejectReason, ReplaceOrder, Replaced,
    Side, Symbol, TimeInForce,
};

use super::{Execution, VenueSession, VenueTime};
use crate::fix::codec::{
    DecodeError, Framing, GarbleReason, Message, MessageWriter, parse_price, parse_qty, parse_uint,
    scan_frame,
};
use crate::fix::fields::{
    BusinessRejectReason, MsgType, SessionRejectReason, parse_timestamp, tag,
};
use crate::fix::messages::{
    NewOrderSingle, OrderCancelReplaceRequest, OrderCancelRequest, SessionId,
};
use crate::fix::session::DisconnectReason;
use crate::fix::session::liveness::{Due, Liveness};
use crate::fix::session::outbox::Outbox;
use crate::fix::session::resend::{CompIds, ResendCursor, ResendError, write_header};
use crate::fix::store::{SeqNums, SessionStore, StoreError};

/// How the initiator session to one venue is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixVenueConfig {
    /// Our CompID: SenderCompID (49) of what we send.
    pub sender_comp_id: String,
    /// The venue's CompID: TargetCompID (56) of what we send.
    pub target_comp_id: String,
    /// HeartBtInt (108) proposed in our Logon (whole seconds, at least one).
    pub heartbeat: Duration,
    /// Username (553) sent in the Logon, if any.
    pub username: Option<String>,
    /// Password (554) sent in the Logon, if any.
    pub password: Option<String>,
    /// Send ResetSeqNumFlag (141=Y) and start both sequence numbers at 1.
    pub reset_seq_num: bool,
    /// How long to wait for the venue's Logon.
    pub logon_timeout: Duration,
    /// How long to wait for the answer to our Logout.
    pub logout_timeout: Duration,
    /// Largest BodyLength (9) accepted; longer frames are garbled.
    pub max_body_len: usize,
}

impl FixVenueConfig {
    /// A configuration with the usual defaults: 30 s heartbeat, 10 s logon and logout
    /// timeouts, 8 KiB bodies, no credentials, no sequence reset.
    pub fn new(sender_comp_id: &str, target_comp_id: &str) -> FixVenueConfig {
        FixVenueConfig {
            sender_comp_id: sender_comp_id.to_owned(),
            target_comp_id: target_comp_id.to_owned(),
            heartbeat: Duration::from_secs(30),
            username: None,
            password: None,
            reset_seq_num: false,
            logon_timeout: Duration::from_secs(10),
            logout_timeout: Duration::from_secs(10),
            max_body_len: 8192,
        }
    }
}

/// Where the initiator session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixVenueState {
    /// Our Logon is sent; waiting for the venue's.
    AwaitingLogon,
    /// Logged on: orders may be sent.
    Active,
    /// We sent a Logout and wait for the answer.
    LoggingOut,
    /// Done; the connection should be closed.
    Disconnected,
}

/// What the driver learns from the initiator session (executions come out of
/// [`VenueSession::poll_execution`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixVenueEvent {
    /// The venue answered our Logon.
    LoggedOn {
        /// Whether sequence numbers were reset to 1 (ResetSeqNumFlag).
        reset: bool,
    },
    /// The venue answered our Logon with a Logout.
    LogonRefused,
    /// The Logout handshake completed (either side started it).
    LoggedOut,
    /// Close the connection (after flushing `poll_transmit`).
    Disconnect {
        /// Why.
        reason: DisconnectReason,
    },
}

/// An order sent on this session and not yet done.
#[derive(Clone, Copy, Debug)]
struct LiveOrder {
    instrument: InstrumentId,
    account: AccountId,
    side: Side,
    ord_type: OrderType,
    tif: TimeInForce,
    qty: Qty,
    cum: Qty,
    /// Whether `Accepted` was reported.
    acknowledged: bool,
    /// MsgSeqNum of the NewOrderSingle while unacknowledged.
    msg_seq: u64,
}

/// A cancel or replace request in flight.
#[derive(Clone, Copy, Debug)]
struct PendingRequest {
    /// `None` for a cancel, the new terms for a replace.
    replace: Option<OrderSpec>,
    orig: ClientOrderId,
    instrument: InstrumentId,
    account: AccountId,
    msg_seq: u64,
}

impl PendingRequest {
    fn response_to(&self) -> CxlRejResponseTo {
        match self.replace {
            None => CxlRejResponseTo::Cancel,
            Some(_) => CxlRejResponseTo::Replace,
        }
    }
}

/// Outcome of the header checks of an inbound message.
enum SeqCheck {
    /// Process it.
    Expected,
    /// Handled (ignored, gap requested, or disconnected): stop.
    Done,
}

/// The FIX 4.4 initiator session to an external venue over one connection.
#[derive(Debug)]
pub struct FixVenue<S: SessionStore> {
    config: FixVenueConfig,
    instruments: InstrumentTable,
    store: S,
    state: FixVenueState,
    seq: SeqNums,
    deadline: Nanos,
    /// Heartbeat and TestRequest timing.
    liveness: Liveness,
    resend_until: Option<u64>,
    /// The venue's ResendRequest being served, a chunk per step.
    resend: ResendCursor,
    rx: Vec<u8>,
    out: Outbox,
    events: VecDeque<FixVenueEvent>,
    executions: VecDeque<Execution>,
    orders: HashMap<ClientOrderId, LiveOrder>,
    requests: HashMap<ClientOrderId, PendingRequest>,
    by_msg_seq: HashMap<u64, ClientOrderId>,
}

impl<S: SessionStore> FixVenue<S> {
    /// A session on a connection opened at `now`: queues our Logon (FIX 4.4 Vol. 2
    /// "Logon") and waits for the venue's until the logon timeout.
    pub fn connect(
        config: FixVenueConfig,
        instruments: InstrumentTable,
        store: S,
        now: VenueTime,
    ) -> Self {
        let seq = store.seq_nums();
        let heartbeat_secs = config.heartbeat.as_secs().max(1);
        let rx_capacity = config.max_body_len.saturating_mul(2).max(4096);
        let mut venue = FixVenue {
            deadline: now.mono.saturating_add(config.logon_timeout),
            liveness: Liveness::new(Duration::from_secs(heartbeat_secs), now.mono),
            config,
            instruments,
            store,
            state: FixVenueState::AwaitingLogon,
            seq,
            resend_until: None,
            rx: Vec::with_capacity(rx_capacity),
            resend: ResendCursor::default(),
            out: Outbox::with_capacity(16 << 10),
            events: VecDeque::with_capacity(16),
            executions: VecDeque::with_capacity(256),
            orders: HashMap::with_capacity(1024),
            requests: HashMap::with_capacity(256),
            by_msg_seq: HashMap::with_capacity(1024),
        };
        if venue.config.reset_seq_num {
            if let Err(e) = venue.store.reset(now.wall, now.mono) {
                venue.store_failed(&e);
                return venue;
            }
            venue.seq = SeqNums::INITIAL;
        }
        let reset = venue.config.reset_seq_num;
        let username = venue.config.username.clone();
        let password = venue.config.password.clone();
        venue.send_admin(now, MsgType::LOGON, |w| {
            w.uint(tag::ENCRYPT_METHOD, 0)
                .uint(tag::HEART_BT_INT, heartbeat_secs);
            if reset {
                w.flag(tag::RESET_SEQ_NUM_FLAG, true);
            }
            if let Some(u) = &username {
                w.str(tag::USERNAME, u);
            }
            if let Some(p) = &password {
                w.str(tag::PASSWORD, p);
            }
        });
        venue
    }

    /// The current state.
    pub fn state(&self) -> FixVenueState {
        self.state
    }

    /// The next inbound and outbound MsgSeqNum.
    pub fn seq_nums(&self) -> SeqNums {
        self.seq
    }

    /// The configuration.
    pub fn config(&self) -> &FixVenueConfig {
        &self.config
    }

    /// Orders sent and not yet done (filled, canceled or rejected).
    pub fn open_orders(&self) -> usize {
        self.orders.len()
    }

    /// Ends this connection's session and returns its store, flushed, for the next
    /// connection.
    pub fn into_store(mut self) -> S {
        if let Err(e) = self.store.flush() {
            tracing::error!(venue = %self.config.target_comp_id, error = %e, "session store failed");
        }
        self.store
    }

    /// Feeds bytes received from the connection (any split).
    pub fn handle_bytes(&mut self, now: VenueTime, bytes: &[u8]) {
        if self.state == FixVenueState::Disconnected {
            return;
        }
        let mut rx = core::mem::take(&mut self.rx);
        rx.extend_from_slice(bytes);
        let mut consumed = 0;
        while self.state != FixVenueState::Disconnected {
            let pending = rx.get(consumed..).unwrap_or_default();
            match scan_frame(pending, self.config.max_body_len) {
                Framing::Incomplete => break,
                Framing::Garbled { skip, reason } => {
                    tracing::warn!(venue = %self.config.target_comp_id, %reason, "dropping garbled bytes");
                    consumed += skip;
                }
                Framing::Complete(len) => {
                    let frame = pending.get(..len).unwrap_or_default();
                    self.on_frame(now, frame);
                    consumed += len;
                }
            }
        }
        rx.drain(..consumed.min(rx.len()));
        self.rx = rx;
        self.serve_resend(now);
    }

    /// Runs the timers due at `now`: heartbeat, TestRequest, logon and logout timeouts.
    pub fn handle_timeout(&mut self, now: VenueTime) {
        self.serve_resend(now);
        match self.state {
            FixVenueState::Disconnected => {}
            FixVenueState::AwaitingLogon => {
                if now.mono >= self.deadline {
                    self.disconnect(DisconnectReason::LogonTimeout);
                }
            }
            FixVenueState::LoggingOut if now.mono >= self.deadline => {
                self.disconnect(DisconnectReason::LogoutTimeout);
            }
            FixVenueState::Active | FixVenueState::LoggingOut => match self.liveness.poll(now.mono)
            {
                Due::Timeout => self.disconnect(DisconnectReason::TestRequestTimeout),
                Due::TestRequest(id) => self.send_admin(now, MsgType::TEST_REQUEST, |w| {
                    w.uint(tag::TEST_REQ_ID, id);
                }),
                Due::Heartbeat => self.send_admin(now, MsgType::HEARTBEAT, |_| {}),
                Due::Nothing => {}
            },
        }
    }

    /// When [`FixVenue::handle_timeout`] next has work, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Nanos> {
        match self.state {
            FixVenueState::Disconnected => None,
            FixVenueState::AwaitingLogon => Some(self.deadline),
            FixVenueState::Active | FixVenueState::LoggingOut if self.resend.is_pending() => {
                Some(Nanos::ZERO)
            }
            FixVenueState::Active | FixVenueState::LoggingOut => {
                let mut next = self.liveness.deadline();
                if self.state == FixVenueState::LoggingOut {
                    next = next.min(self.deadline);
                }
                Some(next)
            }
        }
    }

    /// Makes everything stored since the last flush durable (one store sync, by its
    /// fsync policy) and releases the outbound bytes it covers to
    /// [`FixVenue::transmit_queue`]; once per duty cycle, before writing. If the store
    /// fails, the bytes it does not cover are dropped and the session disconnects.
    pub fn flush(&mut self) {
        if let Err(e) = self.out.flush(&mut self.store) {
            self.store_failed(&e);
        }
    }

    /// Flushes (see [`FixVenue::flush`]), then copies pending outbound bytes into
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

    /// Marks `n` bytes of [`FixVenue::transmit_queue`] as sent.
    pub fn consume_transmit(&mut self, n: usize) {
        self.out.consume(n);
    }

    /// The next session event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<FixVenueEvent> {
        self.events.pop_front()
    }

    /// Starts the Logout handshake (FIX 4.4 Vol. 2 "Logout"): sends Logout and waits
    /// for the answer until the logout timeout.
    pub fn initiate_logout(&mut self, now: VenueTime, text: Option<&str>) {
        if self.state != FixVenueState::Active {
            return;
        }
        self.send_admin(now, MsgType::LOGOUT, |w| {
            if let Some(t) = text {
                w.str(tag::TEXT, t);
            }
        });
        if self.state == FixVenueState::Active {
            self.state = FixVenueState::LoggingOut;
            self.deadline = now.mono.saturating_add(self.config.logout_timeout);
        }
    }

    /// Sends a session message with the next MsgSeqNum; admin messages are not stored
    /// (a resend gap-fills over them).
    fn send_admin(
        &mut self,
        now: VenueTime,
        msg_type: MsgType,
        body: impl FnOnce(&mut MessageWriter<'_>),
    ) {
        let seq = self.seq.next_out;
        let ids = comp_ids(&self.config);
        let mut w = MessageWriter::begin(self.out.buf(), msg_type);
        write_header(&mut w, ids, seq, now.wall);
        body(&mut w);
        let _ = w.finish();
        self.seq.next_out += 1;
        self.liveness.on_sent(now.mono);
        self.persist(now);
    }

    /// Sends and stores an application message; its MsgSeqNum, or `None` if the store
    /// failed (the session then disconnects).
    fn send_app(
        &mut self,
        now: VenueTime,
        msg_type: MsgType,
        body: impl FnOnce(&mut MessageWriter<'_>),
    ) -> Option<u64> {
        let seq = self.seq.next_out;
        let ids = comp_ids(&self.config);
        let mut w = MessageWriter::begin(self.out.buf(), msg_type);
        write_header(&mut w, ids, seq, now.wall);
        body(&mut w);
        let range = w.finish();
        self.seq.next_out += 1;
        self.liveness.on_sent(now.mono);
        let frame = self.out.frame(range);
        match self
            .store
            .append_outbound(seq, frame, self.seq, now.wall, now.mono)
        {
            Ok(()) => Some(seq),
            Err(e) => {
                self.store_failed(&e);
                None
            }
        }
    }

    /// Saves the sequence numbers; a failure disconnects.
    fn persist(&mut self, now: VenueTime) {
        if let Err(e) = self.store.save_seq_nums(self.seq, now.wall, now.mono) {
            self.store_failed(&e);
        }
    }

    fn store_failed(&mut self, e: &StoreError) {
        tracing::error!(venue = %self.config.target_comp_id, error = %e, "session store failed");
        self.disconnect(DisconnectReason::StoreFailed);
    }

    fn disconnect(&mut self, reason: DisconnectReason) {
        if self.state == FixVenueState::Disconnected {
            return;
        }
        self.state = FixVenueState::Disconnected;
        self.events.push_back(FixVenueEvent::Disconnect { reason });
    }

    /// Sends Logout with `text`, then disconnects.
    fn logout_and_disconnect(&mut self, now: VenueTime, text: &str, reason: DisconnectReason) {
        self.send_admin(now, MsgType::LOGOUT, |w| {
            w.str(tag::TEXT, text);
        });
        self.disconnect(reason);
    }

    /// Sends a Reject (35=3) (FIX 4.4 Vol. 2 "Reject (session-level)").
    fn reject(
        &mut self,
        now: VenueTime,
        ref_seq: u64,
        ref_msg_type: MsgType,
        ref_tag: u32,
        reason: SessionRejectReason,
    ) {
        let text = reason.to_string();
        self.send_admin(now, MsgType::REJECT, |w| {
            w.uint(tag::REF_SEQ_NUM, ref_seq);
            if ref_tag != 0 {
                w.uint(tag::REF_TAG_ID, u64::from(ref_tag));
            }
            if !ref_msg_type.as_bytes().is_empty() {
                w.bytes(tag::REF_MSG_TYPE, ref_msg_type.as_bytes());
            }
            w.uint(tag::SESSION_REJECT_REASON, u64::from(reason.code()))
                .str(tag::TEXT, &text);
        });
    }

    /// Rejects message `seq` for field `t`: missing, or present in a bad format.
    fn reject_field(&mut self, now: VenueTime, seq: u64, msg_type: MsgType, t: u32, missing: bool) {
        let reason = if missing {
            SessionRejectReason::RequiredTagMissing
        } else {
            SessionRejectReason::IncorrectDataFormat
        };
        self.reject(now, seq, msg_type, t, reason);
    }

    /// Sends a ResendRequest for everything from the expected MsgSeqNum on (EndSeqNo 0),
    /// unless one is outstanding (FIX 4.4 Vol. 2 "Message Recovery").
    fn request_resend(&mut self, now: VenueTime, received: u64) {
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

    /// Accepts `next - 1` as processed.
    fn advance_in(&mut self, now: VenueTime, next: u64) {
        self.seq.next_in = next;
        if self.resend_until.is_some_and(|until| next > until) {
            self.resend_until = None;
        }
        self.persist(now);
    }

    /// One complete frame from the stream.
    fn on_frame(&mut self, now: VenueTime, frame: &[u8]) {
        let msg = match Message::decode(frame) {
            Ok(msg) => msg,
            Err(DecodeError::Garbled {
                reason: GarbleReason::UnsupportedBeginString,
            }) => {
                let reason = DisconnectReason::UnsupportedBeginString;
                self.logout_and_disconnect(now, "BeginString must be FIX.4.4", reason);
                return;
            }
            Err(DecodeError::Garbled { reason }) => {
                // FIX 4.4 Vol. 2 "Message Validation" 1: garbled messages are ignored.
                tracing::warn!(venue = %self.config.target_comp_id, %reason, "dropping garbled message");
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
        let Some(seq) = msg
            .get(tag::MSG_SEQ_NUM)
            .and_then(parse_uint)
            .filter(|&s| s > 0)
        else {
            let reason = DisconnectReason::MissingSeqNum;
            self.logout_and_disconnect(now, "MsgSeqNum (34) missing or invalid", reason);
            return;
        };
        if self.state == FixVenueState::AwaitingLogon {
            match msg.msg_type() {
                MsgType::LOGON => self.on_logon(now, &msg, seq),
                MsgType::LOGOUT => {
                    let text = msg.get(tag::TEXT).unwrap_or_default();
                    tracing::warn!(
                        venue = %self.config.target_comp_id,
                        text = %String::from_utf8_lossy(text),
                        "venue refused our Logon"
                    );
                    self.events.push_back(FixVenueEvent::LogonRefused);
                    self.disconnect(DisconnectReason::PeerLogout);
                }
                _ => {
                    let reason = DisconnectReason::FirstMessageNotLogon;
                    self.logout_and_disconnect(now, "first message must be Logon", reason);
                }
            }
            return;
        }
        if let SeqCheck::Done = self.check_header(now, &msg, seq) {
            return;
        }
        self.dispatch(now, &msg, seq);
    }

    /// A well-framed message with a bad field: Reject it if it is the expected one.
    fn on_invalid(
        &mut self,
        now: VenueTime,
        t: u32,
        reason: SessionRejectReason,
        msg_type: MsgType,
        seq: u64,
    ) {
        if self.state == FixVenueState::AwaitingLogon {
            let reason = DisconnectReason::BadLogon;
            self.logout_and_disconnect(now, "invalid Logon", reason);
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

    /// The venue's answer to our Logon (FIX 4.4 Vol. 2 "Logon"): CompIDs,
    /// ResetSeqNumFlag and MsgSeqNum.
    fn on_logon(&mut self, now: VenueTime, msg: &Message<'_>, seq: u64) {
        let comp_ids_ok = msg.get(tag::SENDER_COMP_ID)
            == Some(self.config.target_comp_id.as_bytes())
            && msg.get(tag::TARGET_COMP_ID) == Some(self.config.sender_comp_id.as_bytes());
        if !comp_ids_ok {
            self.logout_and_disconnect(now, "unknown CompID", DisconnectReason::BadCompId);
            return;
        }
        let Ok(reset) = msg.get_flag(tag::RESET_SEQ_NUM_FLAG) else {
            let reason = DisconnectReason::BadLogon;
            self.logout_and_disconnect(now, "ResetSeqNumFlag (141) must be Y or N", reason);
            return;
        };
        if reset {
            // The venue reset its outbound numbers (we asked, or it resets on every
            // Logon): its Logon is MsgSeqNum 1.
            if seq != 1 {
                let reason = DisconnectReason::BadLogon;
                self.logout_and_disconnect(now, "ResetSeqNumFlag=Y requires MsgSeqNum 1", reason);
                return;
            }
            self.seq.next_in = 1;
        }
        let expected = self.seq.next_in;
        if seq < expected {
            let reason = DisconnectReason::SeqTooLow {
                expected,
                received: seq,
            };
            let text = format!("MsgSeqNum too low, expecting {expected} but received {seq}");
            self.logout_and_disconnect(now, &text, reason);
            return;
        }
        self.state = FixVenueState::Active;
        self.events.push_back(FixVenueEvent::LoggedOn {
            reset: reset || self.config.reset_seq_num,
        });
        if seq > expected {
            self.request_resend(now, seq);
        } else {
            self.advance_in(now, seq + 1);
        }
    }

    /// CompIDs, PossDup and MsgSeqNum checks of a logged-on session (FIX 4.4 Vol. 2
    /// "Message Validation" 2–4).
    fn check_header(&mut self, now: VenueTime, msg: &Message<'_>, seq: u64) -> SeqCheck {
        let msg_type = msg.msg_type();
        let expected = self.seq.next_in;
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
        // SequenceReset in Reset mode ignores MsgSeqNum (FIX 4.4 Vol. 2 "Sequence Reset").
        if msg_type == MsgType::SEQUENCE_RESET && !msg.get_flag(tag::GAP_FILL_FLAG).unwrap_or(false)
        {
            return SeqCheck::Expected;
        }
        if seq > expected {
            // A gap: ask for it and drop this message (it comes again in the resend).
            match msg_type {
                MsgType::RESEND_REQUEST => {
                    self.on_resend_request(now, msg, seq);
                    self.request_resend(now, seq);
                }
                MsgType::LOGOUT => self.on_logout(now),
                _ => self.request_resend(now, seq),
            }
            return SeqCheck::Done;
        }
        if seq < expected {
            if !msg.get_flag(tag::POSS_DUP_FLAG).unwrap_or(false) {
                let reason = DisconnectReason::SeqTooLow {
                    expected,
                    received: seq,
                };
                let text = format!("MsgSeqNum too low, expecting {expected} but received {seq}");
                self.logout_and_disconnect(now, &text, reason);
            }
            // A possible duplicate of something already processed: ignore it.
            return SeqCheck::Done;
        }
        SeqCheck::Expected
    }

    /// Processes a message whose MsgSeqNum is the expected one (or a Reset-mode
    /// SequenceReset).
    fn dispatch(&mut self, now: VenueTime, msg: &Message<'_>, seq: u64) {
        let msg_type = msg.msg_type();
        if msg_type == MsgType::SEQUENCE_RESET {
            self.on_sequence_reset(now, msg, seq);
            return;
        }
        self.advance_in(now, seq + 1);
        if self.state == FixVenueState::Disconnected {
            return;
        }
        match msg_type {
            MsgType::HEARTBEAT => {}
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
            MsgType::REJECT | MsgType::BUSINESS_MESSAGE_REJECT => {
                self.on_reject_of_ours(now, msg);
            }
            MsgType::EXECUTION_REPORT => self.on_execution_report(now, msg, seq),
            MsgType::ORDER_CANCEL_REJECT => self.on_cancel_reject(now, msg, seq),
            other if other.is_defined() && !other.is_admin() => {
                self.send_business_reject(now, seq, other);
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

    /// A BusinessMessageReject (35=j) for an application message we do not handle.
    fn send_business_reject(&mut self, now: VenueTime, seq: u64, msg_type: MsgType) {
        let sent = self.send_app(now, MsgType::BUSINESS_MESSAGE_REJECT, |w| {
            w.uint(tag::REF_SEQ_NUM, seq)
                .bytes(tag::REF_MSG_TYPE, msg_type.as_bytes())
                .uint(
                    tag::BUSINESS_REJECT_REASON,
                    u64::from(BusinessRejectReason::UnsupportedMsgType.code()),
                )
                .str(tag::TEXT, "unsupported message type");
        });
        if sent.is_none() {
            tracing::error!(venue = %self.config.target_comp_id, "BusinessMessageReject not stored");
        }
    }

    /// SequenceReset (FIX 4.4 Vol. 2 "Sequence Reset (Gap Fill)"): GapFill mode moves
    /// the expected MsgSeqNum forward; Reset mode sets it, and never lowers it.
    fn on_sequence_reset(&mut self, now: VenueTime, msg: &Message<'_>, seq: u64) {
        let gap_fill = msg.get_flag(tag::GAP_FILL_FLAG).unwrap_or(false);
        let expected = self.seq.next_in;
        let new_seq = match msg.get_uint(tag::NEW_SEQ_NO) {
            Ok(Some(n)) => Ok(n),
            Ok(None) => Err((tag::NEW_SEQ_NO, SessionRejectReason::RequiredTagMissing)),
            Err(e) => Err(e),
        };
        match new_seq {
            Ok(n) if n > expected => self.advance_in(now, n),
            Ok(n) if n == expected && !gap_fill => {}
            Ok(_) => {
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
            Err((t, reason)) => {
                self.reject(now, seq, MsgType::SEQUENCE_RESET, t, reason);
                if gap_fill {
                    self.advance_in(now, expected + 1);
                }
            }
        }
    }

    /// Logout from the venue: answer it (unless it answers ours) and disconnect.
    fn on_logout(&mut self, now: VenueTime) {
        if self.state == FixVenueState::LoggingOut {
            self.events.push_back(FixVenueEvent::LoggedOut);
            self.disconnect(DisconnectReason::LogoutComplete);
            return;
        }
        self.send_admin(now, MsgType::LOGOUT, |_| {});
        self.events.push_back(FixVenueEvent::LoggedOut);
        self.disconnect(DisconnectReason::PeerLogout);
    }

    /// ResendRequest (FIX 4.4 Vol. 2 "Resend Request"): resends stored application
    /// messages with PossDupFlag=Y and OrigSendingTime, and gap-fills over admin
    /// messages with SequenceReset-GapFill.
    fn on_resend_request(&mut self, now: VenueTime, msg: &Message<'_>, seq: u64) {
        let range = (
            msg.get_uint(tag::BEGIN_SEQ_NO).and_then(|b| {
                b.ok_or((tag::BEGIN_SEQ_NO, SessionRejectReason::RequiredTagMissing))
            }),
            msg.get_uint(tag::END_SEQ_NO)
                .and_then(|e| e.ok_or((tag::END_SEQ_NO, SessionRejectReason::RequiredTagMissing))),
        );
        let (begin, end) = match range {
            (Ok(b), Ok(e)) => (b, e),
            (Err((t, reason)), _) | (_, Err((t, reason))) => {
                self.reject(now, seq, MsgType::RESEND_REQUEST, t, reason);
                return;
            }
        };
        self.resend.request(begin, end, self.seq.next_out);
    }

    /// Serves the next chunk of the venue's ResendRequest (see `fix::session::resend`);
    /// a stored frame that is not ours under its MsgSeqNum stops the session.
    fn serve_resend(&mut self, now: VenueTime) {
        if !self.resend.is_pending() {
            return;
        }
        if !matches!(
            self.state,
            FixVenueState::Active | FixVenueState::LoggingOut
        ) {
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
                tracing::error!(venue = %self.config.target_comp_id, msg_seq, "stored message does not match its MsgSeqNum or TargetCompID");
                self.disconnect(DisconnectReason::StoreCorrupt { msg_seq });
            }
            Err(ResendError::Store(e)) => self.store_failed(&e),
        }
    }

    /// The fields every execution of `cl_ord_id` carries.
    fn meta(
        now: VenueTime,
        msg: Option<&Message<'_>>,
        cl_ord_id: ClientOrderId,
        instrument: InstrumentId,
        account: AccountId,
    ) -> ExecMeta {
        let order_id = msg.and_then(|m| m.get(tag::ORDER_ID)).map_or(0, venue_id);
        let transact_time = msg
            .and_then(|m| m.get(tag::TRANSACT_TIME))
            .and_then(parse_timestamp)
            .unwrap_or(now.wall);
        ExecMeta {
            instrument,
            account,
            cl_ord_id,
            order_id,
            transact_time,
            gateway_ts: now.mono,
        }
    }

    /// Reports `Accepted` for `cl_ord_id` if it was not yet.
    fn acknowledge(&mut self, now: VenueTime, msg: &Message<'_>, cl_ord_id: ClientOrderId) {
        let Some(order) = self.orders.get_mut(&cl_ord_id) else {
            return;
        };
        if order.acknowledged {
            return;
        }
        order.acknowledged = true;
        let order = *order;
        self.by_msg_seq.remove(&order.msg_seq);
        let meta = Self::meta(now, Some(msg), cl_ord_id, order.instrument, order.account);
        self.executions
            .push_back(Execution::Accepted(OrderAccepted::new(
                meta,
                order.side,
                order.ord_type,
                order.tif,
            )));
    }

    /// ExecutionReport (35=8) (FIX 4.4 Vol. 4 "Execution Reports"), by ExecType (150).
    fn on_execution_report(&mut self, now: VenueTime, msg: &Message<'_>, seq: u64) {
        let cl_ord_id = match msg.get(tag::CL_ORD_ID).map(ClientOrderId::from_bytes) {
            Some(Ok(id)) => id,
            Some(Err(_)) => {
                tracing::warn!(venue = %self.config.target_comp_id, seq, "ExecutionReport for a ClOrdID we never sent");
                return;
            }
            None => {
                let reason = SessionRejectReason::RequiredTagMissing;
                self.reject(now, seq, msg.msg_type(), tag::CL_ORD_ID, reason);
                return;
            }
        };
        let Some(&[exec_type]) = msg.get(tag::EXEC_TYPE) else {
            let reason = SessionRejectReason::RequiredTagMissing;
            self.reject(now, seq, msg.msg_type(), tag::EXEC_TYPE, reason);
            return;
        };
        match exec_type {
            b'0' => self.acknowledge(now, msg, cl_ord_id),
            b'8' => self.on_order_rejected(now, msg, cl_ord_id),
            // F = Trade (FIX 4.4); 1 and 2 are the FIX 4.2 partial fill and fill.
            b'F' | b'1' | b'2' => self.on_fill(now, msg, seq, cl_ord_id),
            // 4 = Canceled, C = Expired: the order left the book.
            b'4' | b'C' => self.on_canceled(now, msg, cl_ord_id),
            b'5' => self.on_replaced(now, msg, cl_ord_id),
            // Pending states, order status, restatements and done-for-day change nothing
            // the gateway tracks.
            _ => {}
        }
    }

    fn on_order_rejected(&mut self, now: VenueTime, msg: &Message<'_>, cl_ord_id: ClientOrderId) {
        let reason = msg
            .get(tag::ORD_REJ_REASON)
            .and_then(parse_uint)
            .map_or(RejectReason::VenueRejected, ord_rej_reason);
        match self.orders.get(&cl_ord_id) {
            Some(order) if !order.acknowledged => {
                let order = *order;
                self.orders.remove(&cl_ord_id);
                self.by_msg_seq.remove(&order.msg_seq);
                let meta = Self::meta(now, Some(msg), cl_ord_id, order.instrument, order.account);
                self.executions
                    .push_back(Execution::Rejected(OrderRejected::new(meta, reason)));
            }
            _ => {
                tracing::warn!(venue = %self.config.target_comp_id, cl_ord_id = cl_ord_id.as_str(), "reject for an order not pending");
            }
        }
    }

    fn on_fill(&mut self, now: VenueTime, msg: &Message<'_>, seq: u64, cl_ord_id: ClientOrderId) {
        let last_qty = match msg.get(tag::LAST_QTY).map(parse_qty) {
            Some(Some(q)) => q,
            other => {
                self.reject_field(now, seq, msg.msg_type(), tag::LAST_QTY, other.is_none());
                return;
            }
        };
        let last_px = match msg.get(tag::LAST_PX).map(parse_price) {
            Some(Some(p)) => p,
            other => {
                self.reject_field(now, seq, msg.msg_type(), tag::LAST_PX, other.is_none());
                return;
            }
        };
        if !self.orders.contains_key(&cl_ord_id) {
            tracing::warn!(venue = %self.config.target_comp_id, cl_ord_id = cl_ord_id.as_str(), "fill for an order not open");
            return;
        }
        self.acknowledge(now, msg, cl_ord_id);
        let Some(order) = self.orders.get_mut(&cl_ord_id) else {
            return;
        };
        let remaining = order.qty.saturating_sub(order.cum);
        let last_qty = if last_qty > remaining {
            tracing::warn!(
                cl_ord_id = cl_ord_id.as_str(),
                "venue filled more than the order's remaining quantity"
            );
            remaining
        } else {
            last_qty
        };
        if last_qty.is_zero() {
            return;
        }
        order.cum = Qty(order.cum.get().saturating_add(last_qty.get()));
        let order = *order;
        let leaves = order.qty.saturating_sub(order.cum);
        let exec_id = msg.get(tag::EXEC_ID).map_or(0, venue_id);
        let fill = Fill {
            exec_id,
            last_px,
            last_qty,
            cum_qty: order.cum,
            leaves_qty: leaves,
        };
        if leaves.is_zero() {
            self.orders.remove(&cl_ord_id);
        }
        let meta = Self::meta(now, Some(msg), cl_ord_id, order.instrument, order.account);
        self.executions
            .push_back(Execution::Filled(OrderFilled::new(meta, order.side, fill)));
    }

    /// The order's quantity and traded quantity as the report states them (OrderQty
    /// 38, CumQty 14), for an order this connection did not send.
    fn reported_qty(msg: &Message<'_>) -> (Qty, Qty) {
        let get = |t| msg.get(t).and_then(parse_qty).unwrap_or(Qty::ZERO);
        (get(tag::ORDER_QTY), get(tag::CUM_QTY))
    }

    fn on_canceled(&mut self, now: VenueTime, msg: &Message<'_>, cl_ord_id: ClientOrderId) {
        // Asked for: ClOrdID is our cancel request's, OrigClOrdID the order's (which may
        // have been sent on an earlier connection). Unsolicited: ClOrdID is the order's.
        let request = self
            .requests
            .get(&cl_ord_id)
            .copied()
            .filter(|r| r.replace.is_none());
        let orig = request.map_or(cl_ord_id, |r| r.orig);
        let order = self.orders.remove(&orig);
        let (instrument, account, qty, cum) = match (order, request) {
            (Some(o), _) => (o.instrument, o.account, o.qty, o.cum),
            (None, Some(r)) => {
                let (qty, cum) = Self::reported_qty(msg);
                (r.instrument, r.account, qty, cum)
            }
            (None, None) => {
                tracing::warn!(venue = %self.config.target_comp_id, cl_ord_id = cl_ord_id.as_str(), "cancel of an order not open");
                return;
            }
        };
        if let Some(r) = request {
            self.requests.remove(&cl_ord_id);
            self.by_msg_seq.remove(&r.msg_seq);
        }
        if let Some(o) = order.filter(|o| !o.acknowledged) {
            self.by_msg_seq.remove(&o.msg_seq);
        }
        let meta = Self::meta(now, Some(msg), cl_ord_id, instrument, account);
        let canceled = qty.saturating_sub(cum);
        let orig = request.map(|r| r.orig);
        self.executions
            .push_back(Execution::Canceled(OrderCanceled::new(
                meta, orig, canceled, cum,
            )));
    }

    fn on_replaced(&mut self, now: VenueTime, msg: &Message<'_>, cl_ord_id: ClientOrderId) {
        let Some((request, spec)) = self
            .requests
            .get(&cl_ord_id)
            .and_then(|r| Some((*r, r.replace?)))
        else {
            tracing::warn!(venue = %self.config.target_comp_id, cl_ord_id = cl_ord_id.as_str(), "Replaced for no replace request");
            return;
        };
        self.requests.remove(&cl_ord_id);
        self.by_msg_seq.remove(&request.msg_seq);
        // The order may have been sent on an earlier connection: then the report's
        // CumQty (14) says what traded.
        let cum = self
            .orders
            .remove(&request.orig)
            .map_or_else(|| Self::reported_qty(msg).1, |o| o.cum);
        let order = LiveOrder {
            instrument: spec.instrument,
            account: spec.account,
            side: spec.side,
            ord_type: spec.ord_type,
            tif: spec.tif,
            qty: spec.qty,
            cum,
            acknowledged: true,
            msg_seq: request.msg_seq,
        };
        let leaves = order.qty.saturating_sub(order.cum);
        let meta = Self::meta(now, Some(msg), cl_ord_id, order.instrument, order.account);
        let replaced = Replaced {
            price: spec.price,
            qty: spec.qty,
            leaves_qty: leaves,
            cum_qty: order.cum,
        };
        if !leaves.is_zero() {
            self.orders.insert(cl_ord_id, order);
        }
        self.executions
            .push_back(Execution::Replaced(OrderReplaced::new(
                meta,
                request.orig,
                replaced,
            )));
    }

    /// OrderCancelReject (35=9) (FIX 4.4 Vol. 4 "Order Cancel Reject").
    fn on_cancel_reject(&mut self, now: VenueTime, msg: &Message<'_>, seq: u64) {
        let Some(cl_ord_id) = msg
            .get(tag::CL_ORD_ID)
            .and_then(|v| ClientOrderId::from_bytes(v).ok())
        else {
            let reason = SessionRejectReason::RequiredTagMissing;
            self.reject(now, seq, msg.msg_type(), tag::CL_ORD_ID, reason);
            return;
        };
        let reason = msg
            .get(tag::CXL_REJ_REASON)
            .and_then(parse_uint)
            .map_or(RejectReason::VenueRejected, cxl_rej_reason);
        self.fail_request(now, Some(msg), cl_ord_id, reason);
    }

    /// A session Reject (3) or BusinessMessageReject (j): if RefSeqNum (45) names one of
    /// our requests still in flight, it failed.
    fn on_reject_of_ours(&mut self, now: VenueTime, msg: &Message<'_>) {
        let text = msg.get(tag::TEXT).unwrap_or_default();
        tracing::warn!(
            venue = %self.config.target_comp_id,
            msg_type = %String::from_utf8_lossy(msg.msg_type().as_bytes()),
            text = %String::from_utf8_lossy(text),
            "venue rejected a message of ours"
        );
        let Some(cl_ord_id) = msg
            .get(tag::REF_SEQ_NUM)
            .and_then(parse_uint)
            .and_then(|s| self.by_msg_seq.get(&s).copied())
        else {
            return;
        };
        self.fail_request(now, None, cl_ord_id, RejectReason::VenueRejected);
    }

    /// Request `cl_ord_id` failed: `CancelRejected` for a cancel or replace, `Rejected`
    /// for an unacknowledged new order.
    fn fail_request(
        &mut self,
        now: VenueTime,
        msg: Option<&Message<'_>>,
        cl_ord_id: ClientOrderId,
        reason: RejectReason,
    ) {
        if let Some(r) = self.requests.remove(&cl_ord_id) {
            self.by_msg_seq.remove(&r.msg_seq);
            let meta = Self::meta(now, msg, cl_ord_id, r.instrument, r.account);
            self.executions
                .push_back(Execution::CancelRejected(CancelRejected::new(
                    meta,
                    r.orig,
                    r.response_to(),
                    reason,
                )));
            return;
        }
        match self.orders.get(&cl_ord_id) {
            Some(order) if !order.acknowledged => {
                let order = *order;
                self.orders.remove(&cl_ord_id);
                self.by_msg_seq.remove(&order.msg_seq);
                let meta = Self::meta(now, msg, cl_ord_id, order.instrument, order.account);
                self.executions
                    .push_back(Execution::Rejected(OrderRejected::new(meta, reason)));
            }
            _ => {
                tracing::warn!(venue = %self.config.target_comp_id, cl_ord_id = cl_ord_id.as_str(), "reject for no request in flight");
            }
        }
    }

    /// Whether `cl_ord_id` is already in use by an open order or a request in flight.
    fn in_use(&self, cl_ord_id: &ClientOrderId) -> bool {
        self.orders.contains_key(cl_ord_id) || self.requests.contains_key(cl_ord_id)
    }

    /// Refuses a new order locally.
    fn refuse_new(&mut self, now: VenueTime, order: &NewOrder, reason: RejectReason) {
        let meta = Self::meta(
            now,
            None,
            order.cl_ord_id(),
            order.instrument(),
            order.account(),
        );
        self.executions
            .push_back(Execution::Rejected(OrderRejected::new(meta, reason)));
    }

    /// Refuses a cancel or replace locally.
    fn refuse_request(
        &mut self,
        now: VenueTime,
        ids: (ClientOrderId, ClientOrderId),
        on: (InstrumentId, AccountId),
        response_to: CxlRejResponseTo,
        reason: RejectReason,
    ) {
        let meta = Self::meta(now, None, ids.0, on.0, on.1);
        self.executions
            .push_back(Execution::CancelRejected(CancelRejected::new(
                meta,
                ids.1,
                response_to,
                reason,
            )));
    }

    /// The Symbol (55) to send a command for `instrument` with, or why it cannot be
    /// sent now.
    fn sendable(
        &self,
        cl_ord_id: &ClientOrderId,
        instrument: InstrumentId,
    ) -> Result<Symbol, RejectReason> {
        if self.state != FixVenueState::Active {
            return Err(RejectReason::VenueRejected);
        }
        if self.in_use(cl_ord_id) {
            return Err(RejectReason::DuplicateClOrdId);
        }
        self.instruments
            .symbol_of(instrument)
            .ok_or(RejectReason::UnknownInstrument)
    }
}

impl<S: SessionStore> VenueSession for FixVenue<S> {
    fn submit_new(&mut self, now: VenueTime, order: &NewOrder) {
        let cl_ord_id = order.cl_ord_id();
        let spec = order.spec();
        let symbol = match self.sendable(&cl_ord_id, spec.instrument) {
            Ok(symbol) => symbol,
            Err(reason) => {
                self.refuse_new(now, order, reason);
                return;
            }
        };
        let request = NewOrderSingle {
            session: SessionId::default(),
            msg_seq: self.seq.next_out,
            cl_ord_id,
            spec,
            post_only: order.post_only(),
            transact_time: now.wall,
        };
        let Some(msg_seq) = self.send_app(now, MsgType::NEW_ORDER_SINGLE, |w| {
            request.write_body(w, symbol.as_bytes());
        }) else {
            self.refuse_new(now, order, RejectReason::VenueRejected);
            return;
        };
        self.by_msg_seq.insert(msg_seq, cl_ord_id);
        self.orders.insert(
            cl_ord_id,
            LiveOrder {
                instrument: spec.instrument,
                account: spec.account,
                side: spec.side,
                ord_type: spec.ord_type,
                tif: spec.tif,
                qty: spec.qty,
                cum: Qty::ZERO,
                acknowledged: false,
                msg_seq,
            },
        );
    }

    fn submit_cancel(&mut self, now: VenueTime, cancel: &CancelOrder) {
        let ids = (cancel.cl_ord_id(), cancel.orig_cl_ord_id());
        let on = (cancel.instrument(), cancel.account());
        let response_to = CxlRejResponseTo::Cancel;
        let symbol = match self.sendable(&ids.0, on.0) {
            Ok(symbol) => symbol,
            Err(reason) => {
                self.refuse_request(now, ids, on, response_to, reason);
                return;
            }
        };
        let request = OrderCancelRequest {
            session: SessionId::default(),
            msg_seq: self.seq.next_out,
            cl_ord_id: ids.0,
            orig_cl_ord_id: ids.1,
            instrument: on.0,
            account: on.1,
            side: cancel.side(),
            order_qty: self.orders.get(&ids.1).map(|o| o.qty),
            transact_time: now.wall,
        };
        let Some(msg_seq) = self.send_app(now, MsgType::ORDER_CANCEL_REQUEST, |w| {
            request.write_body(w, symbol.as_bytes());
        }) else {
            self.refuse_request(now, ids, on, response_to, RejectReason::VenueRejected);
            return;
        };
        self.by_msg_seq.insert(msg_seq, ids.0);
        self.requests.insert(
            ids.0,
            PendingRequest {
                replace: None,
                orig: ids.1,
                instrument: on.0,
                account: on.1,
                msg_seq,
            },
        );
    }

    fn submit_replace(&mut self, now: VenueTime, replace: &ReplaceOrder) {
        let ids = (replace.cl_ord_id(), replace.orig_cl_ord_id());
        let spec = replace.spec();
        let on = (spec.instrument, spec.account);
        let response_to = CxlRejResponseTo::Replace;
        let symbol = match self.sendable(&ids.0, on.0) {
            Ok(symbol) => symbol,
            Err(reason) => {
                self.refuse_request(now, ids, on, response_to, reason);
                return;
            }
        };
        let request = OrderCancelReplaceRequest {
            session: SessionId::default(),
            msg_seq: self.seq.next_out,
            cl_ord_id: ids.0,
            orig_cl_ord_id: ids.1,
            spec,
            transact_time: now.wall,
        };
        let Some(msg_seq) = self.send_app(now, MsgType::ORDER_CANCEL_REPLACE_REQUEST, |w| {
            request.write_body(w, symbol.as_bytes());
        }) else {
            self.refuse_request(now, ids, on, response_to, RejectReason::VenueRejected);
            return;
        };
        self.by_msg_seq.insert(msg_seq, ids.0);
        self.requests.insert(
            ids.0,
            PendingRequest {
                replace: Some(spec),
                orig: ids.1,
                instrument: on.0,
                account: on.1,
                msg_seq,
            },
        );
    }

    fn poll_execution(&mut self) -> Option<Execution> {
        self.executions.pop_front()
    }
}

/// The CompIDs on what this session sends.
fn comp_ids(config: &FixVenueConfig) -> CompIds<'_> {
    CompIds {
        sender: &config.sender_comp_id,
        target: &config.target_comp_id,
    }
}

/// A venue's OrderID (37) or ExecID (17) as `u64`: the number itself when it is decimal,
/// else its FNV-1a hash.
fn venue_id(value: &[u8]) -> u64 {
    parse_uint(value).unwrap_or_else(|| {
        value.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    })
}

/// OrdRejReason (103) to our reason (FIX 4.4 Vol. 6, field 103).
fn ord_rej_reason(code: u64) -> RejectReason {
    match code {
        1 => RejectReason::UnknownInstrument,
        2 => RejectReason::MarketClosed,
        3 => RejectReason::MaxQtyExceeded,
        4 => RejectReason::TooLateToCancel,
        5 => RejectReason::UnknownOrder,
        6 => RejectReason::DuplicateClOrdId,
        13 => RejectReason::InvalidQty,
        15 => RejectReason::UnknownAccount,
        _ => RejectReason::VenueRejected,
    }
}

/// CxlRejReason (102) to our reason (FIX 4.4 Vol. 6, field 102).
fn cxl_rej_reason(code: u64) -> RejectReason {
    match code {
        0 => RejectReason::TooLateToCancel,
        1 => RejectReason::UnknownOrder,
        6 => RejectReason::DuplicateClOrdId,
        _ => RejectReason::VenueRejected,
    }
}

#[cfg(test)]
mod tests;

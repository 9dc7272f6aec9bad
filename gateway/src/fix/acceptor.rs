//! The FIX 4.4 acceptor for retail clients: the session core ([`Connection`] in the
//! acceptor [`Role`]) plus the application layer that turns NewOrderSingle (D),
//! OrderCancelRequest (F) and OrderCancelReplaceRequest (G) into [`SessionEvent`]s and
//! sends ExecutionReport, OrderCancelReject and BusinessMessageReject back.
//!
//! Bytes go in through [`Session::handle_bytes`], time through
//! [`Session::handle_timeout`]; bytes out of [`Session::poll_transmit`] (after
//! [`Session::flush`]), events out of [`Session::poll_event`] in the order they happened,
//! the next deadline out of [`Session::poll_timeout`]. A request that cannot be parsed
//! for business reasons (unknown symbol, unsupported instruction) is answered here with
//! an ExecutionReport or OrderCancelReject reject; one with a bad field with a session
//! Reject; any other application MsgType with a BusinessMessageReject (by the core).
//!
//! What it must not do: own a socket, read a clock, block, or make trading decisions
//! (risk and order state are the caller's, behind the events); session rules live in
//! [`crate::fix::session`], not here.

use std::collections::VecDeque;
use std::time::Duration;

use tickwarp_runtime::Nanos;
use tickwarp_wire::{AccountId, InstrumentTable};

use super::codec::Message;
use super::dictionary::ValidationOptions;
use super::fields::MsgType;
use super::messages::{
    AppRejectError, BusinessMessageReject, ExecutionReport, NewOrderSingle, OrderCancelReject,
    OrderCancelReplaceRequest, OrderCancelRequest, ParseContext, Refusal, SessionId,
    refusal_msg_type, write_refusal,
};
use super::session::{
    Application, Connection, ConnectionConfig, ConnectionEvent, Delivery, DisconnectReason, Now,
    Role, SendError, SessionState,
};
use super::store::{SeqNums, SessionStore};

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

    /// The session core's configuration (acceptor role).
    fn connection(&self) -> ConnectionConfig {
        ConnectionConfig {
            role: Role::Acceptor {
                username: self.username.clone(),
                password: self.password.clone(),
                min_heartbeat: self.min_heartbeat,
                max_heartbeat: self.max_heartbeat,
            },
            sender_comp_id: self.sender_comp_id.clone(),
            target_comp_id: self.target_comp_id.clone(),
            logon_timeout: self.logon_timeout,
            logout_timeout: self.logout_timeout,
            max_body_len: self.max_body_len,
            sending_time_tolerance: self.sending_time_tolerance,
            reset_on_logon: self.reset_on_logon,
            reset_on_logout: self.reset_on_logout,
            reset_on_disconnect: self.reset_on_disconnect,
            validation: self.validation,
        }
    }
}

/// What the application learns from an acceptor session.
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

/// The acceptor's application layer: parses D, F and G, answers business refusals.
#[derive(Debug)]
struct Orders {
    session_id: SessionId,
    account: AccountId,
    instruments: InstrumentTable,
    events: VecDeque<SessionEvent>,
}

impl Orders {
    /// Moves the core's events into the one ordered queue.
    fn take_events<S: SessionStore>(&mut self, conn: &mut Connection<S>) {
        let session = self.session_id;
        while let Some(event) = conn.poll_event() {
            self.events.push_back(match event {
                ConnectionEvent::LoggedOn { reset } => SessionEvent::LoggedOn { session, reset },
                ConnectionEvent::LoggedOut | ConnectionEvent::LogonRefused => {
                    SessionEvent::LoggedOut { session }
                }
                ConnectionEvent::Disconnect { reason } => {
                    SessionEvent::Disconnect { session, reason }
                }
            });
        }
    }
}

impl<S: SessionStore> Application<S> for Orders {
    /// D, F or G: parse and hand to the caller, or refuse; anything else is unsupported.
    fn on_message(
        &mut self,
        conn: &mut Connection<S>,
        now: Now,
        seq: u64,
        msg: &Message<'_>,
    ) -> Delivery {
        self.take_events(conn);
        let ctx = ParseContext {
            session: self.session_id,
            account: self.account,
            instruments: &self.instruments,
        };
        let parsed = match msg.msg_type() {
            MsgType::NEW_ORDER_SINGLE => {
                NewOrderSingle::parse(msg, seq, &ctx).map(SessionEvent::NewOrderSingle)
            }
            MsgType::ORDER_CANCEL_REQUEST => {
                OrderCancelRequest::parse(msg, seq, &ctx).map(SessionEvent::OrderCancelRequest)
            }
            MsgType::ORDER_CANCEL_REPLACE_REQUEST => {
                OrderCancelReplaceRequest::parse(msg, seq, &ctx)
                    .map(SessionEvent::OrderCancelReplaceRequest)
            }
            _ => return Delivery::Unsupported,
        };
        match parsed {
            Ok(event) => self.events.push_back(event),
            Err(AppRejectError::Session { tag: t, reason }) => {
                conn.send_reject(now, seq, msg.msg_type(), t, reason);
            }
            Err(AppRejectError::Refused {
                tag: t,
                reason,
                text,
            }) => {
                let refusal = Refusal {
                    request: msg,
                    account: self.account,
                    out_seq: conn.seq_nums().next_out,
                    now: now.wall,
                    tag: t,
                    reason,
                    text,
                };
                let msg_type = refusal_msg_type(msg.msg_type());
                let _ = conn.send_app(now, msg_type, |w| write_refusal(w, &refusal));
            }
        }
        Delivery::Handled
    }
}

/// The acceptor side of one FIX 4.4 session over one connection.
#[derive(Debug)]
pub struct Session<S: SessionStore> {
    config: SessionConfig,
    conn: Connection<S>,
    app: Orders,
}

impl<S: SessionStore> Session<S> {
    /// A session on a connection accepted at `now`, waiting for the client's Logon.
    pub fn new(config: SessionConfig, instruments: InstrumentTable, store: S, now: Now) -> Self {
        let conn = Connection::new(config.connection(), store, now);
        let app = Orders {
            session_id: config.session_id,
            account: config.account,
            instruments,
            events: VecDeque::with_capacity(64),
        };
        Session { config, conn, app }
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.conn.state()
    }

    /// The next inbound and outbound MsgSeqNum.
    pub fn seq_nums(&self) -> SeqNums {
        self.conn.seq_nums()
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The heartbeat interval agreed at Logon (30 s before it).
    pub fn heartbeat_interval(&self) -> Duration {
        self.conn.heartbeat_interval()
    }

    /// The session store.
    pub fn store(&self) -> &S {
        self.conn.store()
    }

    /// Ends this connection's session and returns its store, flushed, for the next
    /// connection (reset first if `reset_on_disconnect` and it ended while logged on).
    pub fn into_store(self) -> S {
        self.conn.into_store()
    }

    /// Feeds bytes received from the connection (any split).
    pub fn handle_bytes(&mut self, now: Now, bytes: &[u8]) {
        self.conn.handle_bytes(now, bytes, &mut self.app);
    }

    /// Runs the timers due at `now`: heartbeat, TestRequest, logon and logout timeouts.
    pub fn handle_timeout(&mut self, now: Now) {
        self.conn.handle_timeout(now);
    }

    /// When [`Session::handle_timeout`] next has work, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Nanos> {
        self.conn.poll_timeout()
    }

    /// Makes everything stored since the last flush durable (one store sync, by its
    /// fsync policy) and releases the outbound bytes it covers (see
    /// [`Connection::flush`]); once per duty cycle, before writing.
    pub fn flush(&mut self) {
        self.conn.flush();
    }

    /// Flushes, then copies pending outbound bytes into `buf`; returns how many.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> usize {
        self.conn.poll_transmit(buf)
    }

    /// The outbound bytes a flush has covered, for a driver that writes them in place.
    pub fn transmit_queue(&self) -> &[u8] {
        self.conn.transmit_queue()
    }

    /// Whether outbound bytes wait for a [`Session::flush`].
    pub fn needs_flush(&self) -> bool {
        self.conn.needs_flush()
    }

    /// Marks `n` bytes of [`Session::transmit_queue`] as sent.
    pub fn consume_transmit(&mut self, n: usize) {
        self.conn.consume_transmit(n);
    }

    /// The next event, in the order events happened.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.app.take_events(&mut self.conn);
        self.app.events.pop_front()
    }

    /// Starts the Logout handshake (FIX 4.4 Vol. 2 "Logout"): sends Logout and waits
    /// for the answer until the logout timeout.
    pub fn initiate_logout(&mut self, now: Now, text: Option<&str>) {
        self.conn.initiate_logout(now, text);
    }

    /// Sends an ExecutionReport (35=8); returns its MsgSeqNum.
    pub fn send_execution_report(
        &mut self,
        now: Now,
        report: &ExecutionReport<'_>,
    ) -> Result<u64, SendError> {
        let symbol = self
            .app
            .instruments
            .symbol_of(report.instrument)
            .ok_or(SendError::UnknownInstrument(report.instrument))?;
        let account = self.config.account;
        self.conn.send_app(now, MsgType::EXECUTION_REPORT, |w| {
            report.write_body(w, account, symbol.as_bytes());
        })
    }

    /// Sends an OrderCancelReject (35=9); returns its MsgSeqNum.
    pub fn send_order_cancel_reject(
        &mut self,
        now: Now,
        reject: &OrderCancelReject<'_>,
    ) -> Result<u64, SendError> {
        self.conn
            .send_app(now, MsgType::ORDER_CANCEL_REJECT, |w| reject.write_body(w))
    }

    /// Sends a BusinessMessageReject (35=j); returns its MsgSeqNum.
    pub fn send_business_reject(
        &mut self,
        now: Now,
        reject: &BusinessMessageReject<'_>,
    ) -> Result<u64, SendError> {
        self.conn
            .send_app(now, MsgType::BUSINESS_MESSAGE_REJECT, |w| {
                reject.write_body(w)
            })
    }
}

//! The FIX 4.4 acceptor for retail clients: the session core ([`Connection`] in the
//! acceptor [`Role`]) plus the application layer that turns NewOrderSingle (D),
//! OrderCancelRequest (F), OrderCancelReplaceRequest (G), OrderStatusRequest (H),
//! OrderMassStatusRequest (AF), OrderMassCancelRequest (q) and RequestForPositions (AN)
//! into [`SessionEvent`]s and sends ExecutionReport, OrderCancelReject,
//! OrderMassCancelReport, RequestForPositionsAck, PositionReport and
//! BusinessMessageReject back.
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

use tickwarp_wire::{AccountId, InstrumentTable};

use super::codec::Message;
use super::dictionary::ValidationOptions;
use super::drop_copy::{self, DropCopyScope};
use super::fields::MsgType;
use super::messages::{
    AppRejectError, BusinessMessageReject, ExecutionReport, NewOrderSingle, OrderCancelReject,
    OrderCancelReplaceRequest, OrderCancelRequest, ParseContext, Refusal, SessionId,
    refusal_msg_type, write_refusal,
};
use super::positions::{self, PositionReport, PositionsAck, RequestForPositions};
use super::retail::{
    self, OrderMassCancelReport, OrderMassCancelRequest, OrderMassStatusRequest,
    OrderStatusRequest, RetailRejectError, StatusFields, UnknownOrderStatus,
};
use super::session::{
    Application, Connection, ConnectionConfig, ConnectionEvent, Delivery, DisconnectReason,
    Endpoint, Now, Role, SendError,
};
use super::store::SessionStore;

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
    /// Cancel-on-disconnect: the grace period after the logged-on connection ends before
    /// the session's open orders are canceled; `None` leaves them working.
    pub cancel_on_disconnect: Option<Duration>,
    /// A drop-copy session: read-only, it receives copies of the ExecutionReports of
    /// these accounts ([`super::drop_copy`]); `None` for an order session.
    pub drop_copy: Option<DropCopyScope>,
}

impl SessionConfig {
    /// A configuration with the usual defaults: HeartBtInt 1–120 s, 10 s logon and
    /// logout timeouts, 8 KiB bodies, 2 minutes of SendingTime tolerance, no credentials,
    /// no cancel-on-disconnect.
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
            cancel_on_disconnect: None,
            drop_copy: None,
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
    /// An OrderStatusRequest (H).
    OrderStatusRequest(OrderStatusRequest),
    /// An OrderMassStatusRequest (AF).
    OrderMassStatusRequest(OrderMassStatusRequest),
    /// An OrderMassCancelRequest (q).
    OrderMassCancelRequest(OrderMassCancelRequest),
    /// A RequestForPositions (AN).
    RequestForPositions(RequestForPositions),
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
pub struct AcceptorApp {
    config: SessionConfig,
    instruments: InstrumentTable,
    events: VecDeque<SessionEvent>,
}

impl AcceptorApp {
    /// Moves the core's events into the one ordered queue.
    fn take_events<S: SessionStore>(&mut self, conn: &mut Connection<S>) {
        let session = self.config.session_id;
        while let Some(event) = conn.poll_event() {
            self.events.push_back(match event {
                ConnectionEvent::LoggedOn { reset } => SessionEvent::LoggedOn { session, reset },
                // LogonRefused is an initiator's event; an acceptor never sees it.
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

impl<S: SessionStore> Application<S> for AcceptorApp {
    type Event = SessionEvent;

    /// D, F or G: parse and hand to the caller, or refuse; anything else is unsupported.
    fn on_message(
        &mut self,
        conn: &mut Connection<S>,
        now: Now,
        seq: u64,
        msg: &Message<'_>,
    ) -> Delivery {
        self.take_events(conn);
        if self.config.drop_copy.is_some() {
            drop_copy::refuse(conn, now, seq, msg);
            return Delivery::Handled;
        }
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
            MsgType::ORDER_CANCEL_REPLACE_REQUEST => {
                OrderCancelReplaceRequest::parse(msg, seq, &ctx)
                    .map(SessionEvent::OrderCancelReplaceRequest)
            }
            t if t.as_bytes() == retail::ORDER_STATUS_REQUEST => {
                OrderStatusRequest::parse(msg, seq, &ctx).map(SessionEvent::OrderStatusRequest)
            }
            t if t.as_bytes() == retail::ORDER_MASS_CANCEL_REQUEST => {
                OrderMassCancelRequest::parse(msg, seq, &ctx)
                    .map(SessionEvent::OrderMassCancelRequest)
            }
            t if t.as_bytes() == positions::REQUEST_FOR_POSITIONS => {
                RequestForPositions::parse(msg, seq, &ctx).map(SessionEvent::RequestForPositions)
            }
            t if t.as_bytes() == retail::ORDER_MASS_STATUS_REQUEST => {
                match OrderMassStatusRequest::parse(msg, seq, &ctx) {
                    Ok(req) => Ok(SessionEvent::OrderMassStatusRequest(req)),
                    Err(RetailRejectError::Field(e)) => Err(e),
                    Err(RetailRejectError::Business { reason, text }) => {
                        let reject = BusinessMessageReject {
                            ref_seq_num: seq,
                            ref_msg_type: msg.msg_type(),
                            ref_id: msg.get(retail::tags::MASS_STATUS_REQ_ID),
                            reason,
                            text: Some(text),
                        };
                        let _ = conn.send_app(now, MsgType::BUSINESS_MESSAGE_REJECT, |w| {
                            reject.write_body(w)
                        });
                        return Delivery::Handled;
                    }
                }
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
                    account: self.config.account,
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

    fn poll_event(&mut self, conn: &mut Connection<S>) -> Option<SessionEvent> {
        self.take_events(conn);
        self.events.pop_front()
    }
}

/// The acceptor side of one FIX 4.4 session over one connection: the session core
/// with the acceptor's application layer.
pub type Session<S> = Endpoint<S, AcceptorApp>;

impl<S: SessionStore> Endpoint<S, AcceptorApp> {
    /// A session on a connection accepted at `now`, waiting for the client's Logon.
    pub fn new(config: SessionConfig, instruments: InstrumentTable, store: S, now: Now) -> Self {
        let conn = Connection::new(config.connection(), store, now);
        let app = AcceptorApp {
            config,
            instruments,
            events: VecDeque::with_capacity(64),
        };
        Endpoint { conn, app }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.app.config
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
        let account = self.app.config.account;
        self.conn.send_app(now, MsgType::EXECUTION_REPORT, |w| {
            report.write_body(w, account, symbol.as_bytes());
        })
    }

    /// Sends an ExecutionReport (35=8) answering a status request (ExecType I, ExecID
    /// `S` and its MsgSeqNum, the request ids of `status`); returns its MsgSeqNum.
    pub fn send_status_report(
        &mut self,
        now: Now,
        report: &ExecutionReport<'_>,
        status: &StatusFields,
    ) -> Result<u64, SendError> {
        let symbol = self
            .app
            .instruments
            .symbol_of(report.instrument)
            .ok_or(SendError::UnknownInstrument(report.instrument))?;
        let account = self.app.config.account;
        let out_seq = self.conn.seq_nums().next_out;
        self.conn.send_app(now, MsgType::EXECUTION_REPORT, |w| {
            report.write_status_body(w, account, symbol.as_bytes(), status, out_seq);
        })
    }

    /// Sends the status ExecutionReport for an unknown order (OrdStatus 8, OrdRejReason 5,
    /// ExecType I); `answer.out_seq` is set here. Returns its MsgSeqNum.
    pub fn send_unknown_order_status(
        &mut self,
        now: Now,
        answer: &UnknownOrderStatus<'_>,
    ) -> Result<u64, SendError> {
        let account = self.app.config.account.get();
        let answer = UnknownOrderStatus {
            out_seq: self.conn.seq_nums().next_out,
            ..*answer
        };
        self.conn.send_app(now, MsgType::EXECUTION_REPORT, |w| {
            answer.write_body(w, account);
        })
    }

    /// Sends an OrderMassCancelReport (35=r); returns its MsgSeqNum.
    pub fn send_mass_cancel_report(
        &mut self,
        now: Now,
        report: &OrderMassCancelReport<'_>,
    ) -> Result<u64, SendError> {
        let msg_type = retail::msg_type(retail::ORDER_MASS_CANCEL_REPORT);
        self.conn.send_app(now, msg_type, |w| report.write_body(w))
    }

    /// Sends a RequestForPositionsAck (35=AO); its PosMaintRptID is set here. Returns its
    /// MsgSeqNum.
    pub fn send_positions_ack(
        &mut self,
        now: Now,
        ack: &PositionsAck<'_>,
    ) -> Result<u64, SendError> {
        let account = self.app.config.account;
        let ack = PositionsAck {
            out_seq: self.conn.seq_nums().next_out,
            ..*ack
        };
        let msg_type = retail::msg_type(positions::REQUEST_FOR_POSITIONS_ACK);
        self.conn
            .send_app(now, msg_type, |w| ack.write_body(w, account))
    }

    /// Sends a PositionReport (35=AP); its PosMaintRptID is set here. Returns its
    /// MsgSeqNum.
    pub fn send_position_report(
        &mut self,
        now: Now,
        report: &PositionReport<'_>,
    ) -> Result<u64, SendError> {
        let account = self.app.config.account;
        let report = PositionReport {
            out_seq: self.conn.seq_nums().next_out,
            ..*report
        };
        let msg_type = retail::msg_type(positions::POSITION_REPORT);
        self.conn
            .send_app(now, msg_type, |w| report.write_body(w, account))
    }

    /// The instruments, to write a Symbol (55).
    pub fn instruments(&self) -> &InstrumentTable {
        &self.app.instruments
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

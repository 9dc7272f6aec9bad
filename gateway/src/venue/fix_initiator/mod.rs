//! [`FixVenue`]: the FIX 4.4 initiator to an external venue, the second
//! [`VenueSession`] implementation beside [`super::VenueSim`].
//!
//! The session layer is the shared session core ([`Connection`]) in the initiator
//! [`Role`]: it sends Logon (with HeartBtInt, optional Username/Password and
//! ResetSeqNumFlag) when created, waits for the venue's Logon, and from then on follows
//! the same rules as the gateway's acceptor (heartbeats and TestRequests, resends in both
//! directions, SequenceReset, PossDup, SendingTime accuracy, dictionary validation,
//! Logout). The application layer (`orders`) turns [`VenueSession`] commands into
//! NewOrderSingle (D), OrderCancelRequest (F) and OrderCancelReplaceRequest (G) with the
//! codec's message bodies, and ExecutionReport (8), OrderCancelReject (9),
//! BusinessMessageReject (j) and session Reject (3) of our requests back into
//! [`Execution`] events.
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
//! - The venue's Logon must echo our HeartBtInt.
//! - ExecIDs and OrderIDs that are not decimal numbers are hashed (FNV-1a) to `u64`.

use std::time::Duration;

use tickwarp_wire::{
    CancelOrder, CxlRejResponseTo, InstrumentTable, NewOrder, Qty, RejectReason, ReplaceOrder,
};

use super::{Execution, VenueSession, VenueTime};
use crate::fix::dictionary::ValidationOptions;
use crate::fix::fields::MsgType;
use crate::fix::messages::{
    NewOrderSingle, OrderCancelReplaceRequest, OrderCancelRequest, SessionId,
};
use crate::fix::session::{
    Connection, ConnectionConfig, ConnectionEvent, Endpoint, Now, Role, SessionState,
};
use crate::fix::store::SessionStore;

mod orders;

pub use orders::VenueApp;

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
    /// Largest difference between the venue's SendingTime (52) and our wall clock;
    /// `None` disables.
    pub sending_time_tolerance: Option<Duration>,
    /// Data dictionary validation switches for what the venue sends.
    pub validation: ValidationOptions,
}

impl FixVenueConfig {
    /// A configuration with the usual defaults: 30 s heartbeat, 10 s logon and logout
    /// timeouts, 8 KiB bodies, 2 minutes of SendingTime tolerance, no credentials, no
    /// sequence reset.
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
            sending_time_tolerance: Some(Duration::from_secs(120)),
            validation: ValidationOptions::default(),
        }
    }

    /// The session core's configuration (initiator role).
    fn connection(&self) -> ConnectionConfig {
        ConnectionConfig {
            role: Role::Initiator {
                heartbeat: self.heartbeat,
                username: self.username.clone(),
                password: self.password.clone(),
            },
            sender_comp_id: self.sender_comp_id.clone(),
            target_comp_id: self.target_comp_id.clone(),
            logon_timeout: self.logon_timeout,
            logout_timeout: self.logout_timeout,
            max_body_len: self.max_body_len,
            sending_time_tolerance: self.sending_time_tolerance,
            reset_on_logon: self.reset_seq_num,
            reset_on_logout: false,
            reset_on_disconnect: false,
            validation: self.validation,
        }
    }
}

/// Where the initiator session is in its life (the session core's states).
pub type FixVenueState = SessionState;

/// What the driver learns from the initiator session (the session core's events;
/// executions come out of [`VenueSession::poll_execution`]).
pub type FixVenueEvent = ConnectionEvent;

impl From<VenueTime> for Now {
    fn from(now: VenueTime) -> Now {
        Now {
            mono: now.mono,
            wall: now.wall,
        }
    }
}

/// The FIX 4.4 initiator session to an external venue over one connection: the
/// session core with the venue application layer.
pub type FixVenue<S> = Endpoint<S, VenueApp>;

impl<S: SessionStore> Endpoint<S, VenueApp> {
    /// A session on a connection opened at `now`: queues our Logon (FIX 4.4 Vol. 2
    /// "Logon") and waits for the venue's until the logon timeout.
    pub fn connect(
        config: FixVenueConfig,
        instruments: InstrumentTable,
        store: S,
        now: VenueTime,
    ) -> Self {
        let conn = Connection::new(config.connection(), store, now.into());
        Endpoint {
            conn,
            app: VenueApp::new(config, instruments),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &FixVenueConfig {
        &self.app.config
    }

    /// Orders sent and not yet done (filled, canceled or rejected).
    pub fn open_orders(&self) -> usize {
        self.app.orders.len()
    }
}

impl<S: SessionStore> VenueSession for Endpoint<S, VenueApp> {
    fn submit_new(&mut self, now: VenueTime, order: &NewOrder) {
        let cl_ord_id = order.cl_ord_id();
        let spec = order.spec();
        let active = self.conn.state() == SessionState::Active;
        let symbol = match self.app.sendable(active, &cl_ord_id, spec.instrument) {
            Ok(symbol) => symbol,
            Err(reason) => {
                self.app.refuse_new(now, order, reason);
                return;
            }
        };
        let request = NewOrderSingle {
            session: SessionId::default(),
            msg_seq: self.conn.seq_nums().next_out,
            cl_ord_id,
            spec,
            post_only: order.post_only(),
            transact_time: now.wall,
        };
        let Ok(msg_seq) = self
            .conn
            .send_app(now.into(), MsgType::NEW_ORDER_SINGLE, |w| {
                request.write_body(w, symbol.as_bytes());
            })
        else {
            self.app.refuse_new(now, order, RejectReason::VenueRejected);
            return;
        };
        self.app.by_msg_seq.insert(msg_seq, cl_ord_id);
        let order = orders::LiveOrder::new(&spec, Qty::ZERO, false, msg_seq);
        self.app.orders.insert(cl_ord_id, order);
    }

    fn submit_cancel(&mut self, now: VenueTime, cancel: &CancelOrder) {
        let ids = (cancel.cl_ord_id(), cancel.orig_cl_ord_id());
        let on = (cancel.instrument(), cancel.account());
        let response_to = CxlRejResponseTo::Cancel;
        let active = self.conn.state() == SessionState::Active;
        let symbol = match self.app.sendable(active, &ids.0, on.0) {
            Ok(symbol) => symbol,
            Err(reason) => {
                self.app.refuse_request(now, ids, on, response_to, reason);
                return;
            }
        };
        let request = OrderCancelRequest {
            session: SessionId::default(),
            msg_seq: self.conn.seq_nums().next_out,
            cl_ord_id: ids.0,
            orig_cl_ord_id: ids.1,
            instrument: on.0,
            account: on.1,
            side: cancel.side(),
            order_qty: self.app.orders.get(&ids.1).map(|o| o.qty),
            transact_time: now.wall,
        };
        let Ok(msg_seq) = self
            .conn
            .send_app(now.into(), MsgType::ORDER_CANCEL_REQUEST, |w| {
                request.write_body(w, symbol.as_bytes());
            })
        else {
            self.app
                .refuse_request(now, ids, on, response_to, RejectReason::VenueRejected);
            return;
        };
        self.app.by_msg_seq.insert(msg_seq, ids.0);
        self.app.requests.insert(
            ids.0,
            orders::PendingRequest {
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
        let active = self.conn.state() == SessionState::Active;
        let symbol = match self.app.sendable(active, &ids.0, on.0) {
            Ok(symbol) => symbol,
            Err(reason) => {
                self.app.refuse_request(now, ids, on, response_to, reason);
                return;
            }
        };
        let request = OrderCancelReplaceRequest {
            session: SessionId::default(),
            msg_seq: self.conn.seq_nums().next_out,
            cl_ord_id: ids.0,
            orig_cl_ord_id: ids.1,
            spec,
            transact_time: now.wall,
        };
        let Ok(msg_seq) =
            self.conn
                .send_app(now.into(), MsgType::ORDER_CANCEL_REPLACE_REQUEST, |w| {
                    request.write_body(w, symbol.as_bytes());
                })
        else {
            self.app
                .refuse_request(now, ids, on, response_to, RejectReason::VenueRejected);
            return;
        };
        self.app.by_msg_seq.insert(msg_seq, ids.0);
        self.app.requests.insert(
            ids.0,
            orders::PendingRequest {
                replace: Some(spec),
                orig: ids.1,
                instrument: on.0,
                account: on.1,
                msg_seq,
            },
        );
    }

    fn poll_execution(&mut self) -> Option<Execution> {
        self.app.executions.pop_front()
    }
}

#[cfg(test)]
mod tests;

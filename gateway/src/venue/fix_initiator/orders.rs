//! The application layer of [`super::FixVenue`]: orders and requests in flight on one
//! connection, and the mapping of ExecutionReport (8), OrderCancelReject (9),
//! BusinessMessageReject (j) and session Reject (3) of our requests to [`Execution`]
//! events.
//!
//! What it must not do: enforce session rules (sequence numbers, resends, logon and
//! logout are the session core's, [`crate::fix::session`]) or send anything but through
//! the [`Connection`] it is handed.

use std::collections::{HashMap, VecDeque};

use tickwarp_wire::{
    AccountId, CancelRejected, ClientOrderId, CxlRejResponseTo, ExecMeta, Fill, InstrumentId,
    InstrumentTable, NewOrder, OrderAccepted, OrderCanceled, OrderFilled, OrderRejected,
    OrderReplaced, OrderSpec, OrderType, Qty, RejectReason, Replaced, Side, Symbol, TimeInForce,
};

use super::FixVenueConfig;
use crate::fix::codec::{Message, parse_price, parse_qty, parse_uint};
use crate::fix::fields::{MsgType, SessionRejectReason, parse_timestamp, tag};
use crate::fix::session::{Application, Connection, ConnectionEvent, Delivery, Now};
use crate::fix::store::SessionStore;
use crate::venue::{Execution, VenueTime};

/// An order sent on this session and not yet done.
#[derive(Clone, Copy, Debug)]
pub(super) struct LiveOrder {
    pub(super) instrument: InstrumentId,
    pub(super) account: AccountId,
    pub(super) side: Side,
    pub(super) ord_type: OrderType,
    pub(super) tif: TimeInForce,
    pub(super) qty: Qty,
    pub(super) cum: Qty,
    /// Whether `Accepted` was reported.
    pub(super) acknowledged: bool,
    /// MsgSeqNum of the NewOrderSingle while unacknowledged.
    pub(super) msg_seq: u64,
}

/// A cancel or replace request in flight.
#[derive(Clone, Copy, Debug)]
pub(super) struct PendingRequest {
    /// `None` for a cancel, the new terms for a replace.
    pub(super) replace: Option<OrderSpec>,
    pub(super) orig: ClientOrderId,
    pub(super) instrument: InstrumentId,
    pub(super) account: AccountId,
    pub(super) msg_seq: u64,
}

impl LiveOrder {
    /// An order on `spec` with `cum` traded, sent as MsgSeqNum `msg_seq`.
    pub(super) fn new(spec: &OrderSpec, cum: Qty, acknowledged: bool, msg_seq: u64) -> Self {
        LiveOrder {
            instrument: spec.instrument,
            account: spec.account,
            side: spec.side,
            ord_type: spec.ord_type,
            tif: spec.tif,
            qty: spec.qty,
            cum,
            acknowledged,
            msg_seq,
        }
    }
}

impl PendingRequest {
    pub(super) fn response_to(&self) -> CxlRejResponseTo {
        match self.replace {
            None => CxlRejResponseTo::Cancel,
            Some(_) => CxlRejResponseTo::Replace,
        }
    }
}

/// The venue initiator's application layer: orders and requests in flight on one
/// connection, and the executions they produced.
#[derive(Debug)]
pub struct VenueApp {
    pub(super) config: FixVenueConfig,
    pub(super) instruments: InstrumentTable,
    pub(super) executions: VecDeque<Execution>,
    pub(super) orders: HashMap<ClientOrderId, LiveOrder>,
    pub(super) requests: HashMap<ClientOrderId, PendingRequest>,
    pub(super) by_msg_seq: HashMap<u64, ClientOrderId>,
}

impl<S: SessionStore> Application<S> for VenueApp {
    type Event = ConnectionEvent;

    fn poll_event(&mut self, conn: &mut Connection<S>) -> Option<ConnectionEvent> {
        conn.poll_event()
    }

    fn on_message(
        &mut self,
        conn: &mut Connection<S>,
        now: Now,
        seq: u64,
        msg: &Message<'_>,
    ) -> Delivery {
        let now = VenueTime {
            wall: now.wall,
            mono: now.mono,
        };
        match msg.msg_type() {
            MsgType::BUSINESS_MESSAGE_REJECT => self.on_reject_of_ours(now, msg),
            MsgType::EXECUTION_REPORT => self.on_execution_report(conn, now, msg, seq),
            MsgType::ORDER_CANCEL_REJECT => self.on_cancel_reject(conn, now, msg, seq),
            _ => return Delivery::Unsupported,
        }
        Delivery::Handled
    }

    fn on_reject(&mut self, _conn: &mut Connection<S>, now: Now, msg: &Message<'_>) {
        let now = VenueTime {
            wall: now.wall,
            mono: now.mono,
        };
        self.on_reject_of_ours(now, msg);
    }
}

impl VenueApp {
    /// The application layer of a new connection.
    pub(super) fn new(config: FixVenueConfig, instruments: InstrumentTable) -> VenueApp {
        VenueApp {
            config,
            instruments,
            executions: VecDeque::with_capacity(256),
            orders: HashMap::with_capacity(1024),
            requests: HashMap::with_capacity(256),
            by_msg_seq: HashMap::with_capacity(1024),
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
    pub(super) fn on_execution_report<S: SessionStore>(
        &mut self,
        conn: &mut Connection<S>,
        now: VenueTime,
        msg: &Message<'_>,
        seq: u64,
    ) {
        let cl_ord_id = match msg.get(tag::CL_ORD_ID).map(ClientOrderId::from_bytes) {
            Some(Ok(id)) => id,
            Some(Err(_)) => {
                tracing::warn!(venue = %self.config.target_comp_id, seq, "ExecutionReport for a ClOrdID we never sent");
                return;
            }
            None => {
                let reason = SessionRejectReason::RequiredTagMissing;
                conn.send_reject(now.into(), seq, msg.msg_type(), tag::CL_ORD_ID, reason);
                return;
            }
        };
        let Some(&[exec_type]) = msg.get(tag::EXEC_TYPE) else {
            let reason = SessionRejectReason::RequiredTagMissing;
            conn.send_reject(now.into(), seq, msg.msg_type(), tag::EXEC_TYPE, reason);
            return;
        };
        match exec_type {
            b'0' => self.acknowledge(now, msg, cl_ord_id),
            b'8' => self.on_order_rejected(now, msg, cl_ord_id),
            // F = Trade (FIX 4.4); 1 and 2 are the FIX 4.2 partial fill and fill.
            b'F' | b'1' | b'2' => self.on_fill(conn, now, msg, seq, cl_ord_id),
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

    fn on_fill<S: SessionStore>(
        &mut self,
        conn: &mut Connection<S>,
        now: VenueTime,
        msg: &Message<'_>,
        seq: u64,
        cl_ord_id: ClientOrderId,
    ) {
        let last_qty = match msg.get(tag::LAST_QTY).map(parse_qty) {
            Some(Some(q)) => q,
            other => {
                reject_field(
                    conn,
                    now,
                    seq,
                    msg.msg_type(),
                    tag::LAST_QTY,
                    other.is_none(),
                );
                return;
            }
        };
        let last_px = match msg.get(tag::LAST_PX).map(parse_price) {
            Some(Some(p)) => p,
            other => {
                reject_field(
                    conn,
                    now,
                    seq,
                    msg.msg_type(),
                    tag::LAST_PX,
                    other.is_none(),
                );
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
        let order = LiveOrder::new(&spec, cum, true, request.msg_seq);
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
    pub(super) fn on_cancel_reject<S: SessionStore>(
        &mut self,
        conn: &mut Connection<S>,
        now: VenueTime,
        msg: &Message<'_>,
        seq: u64,
    ) {
        let Some(cl_ord_id) = msg
            .get(tag::CL_ORD_ID)
            .and_then(|v| ClientOrderId::from_bytes(v).ok())
        else {
            let reason = SessionRejectReason::RequiredTagMissing;
            conn.send_reject(now.into(), seq, msg.msg_type(), tag::CL_ORD_ID, reason);
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
    pub(super) fn on_reject_of_ours(&mut self, now: VenueTime, msg: &Message<'_>) {
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
    pub(super) fn refuse_new(&mut self, now: VenueTime, order: &NewOrder, reason: RejectReason) {
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
    pub(super) fn refuse_request(
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
    pub(super) fn sendable(
        &self,
        active: bool,
        cl_ord_id: &ClientOrderId,
        instrument: InstrumentId,
    ) -> Result<Symbol, RejectReason> {
        if !active {
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

/// Rejects message `seq` for field `t`: missing, or present in a bad format.
fn reject_field<S: SessionStore>(
    conn: &mut Connection<S>,
    now: VenueTime,
    seq: u64,
    msg_type: MsgType,
    t: u32,
    missing: bool,
) {
    let reason = if missing {
        SessionRejectReason::RequiredTagMissing
    } else {
        SessionRejectReason::IncorrectDataFormat
    };
    conn.send_reject(now.into(), seq, msg_type, t, reason);
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

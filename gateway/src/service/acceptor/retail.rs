//! Answers to the retail requests that need the order state: OrderStatusRequest (H) and
//! OrderMassStatusRequest (AF) from the order store, RequestForPositions (AN) from the
//! positions built from the journaled fills, OrderMassCancelRequest (q) through
//! [`OrderCore::mass_cancel`] (the cancels are journaled like any cancel and reported
//! through the normal path after the OrderMassCancelReport).
//!
//! Bounded output: a mass status whose reports would not fit in the session's outbound
//! queue at once (4 MiB by default, [`FrontDoor::max_outbound_bytes`]; a report is
//! counted at [`REPORT_BYTES`]) is refused with a BusinessMessageReject that says how
//! many orders matched and asks for a narrower request (by Symbol or Side), instead of
//! filling the queue and being logged out for it.
//!
//! Status and position requests count against the session's message rate like orders
//! (risk's throttle): past it they get a BusinessMessageReject saying so, so a flood of
//! lookups cannot take the duty cycle.
//!
//! What this module must not do: read a clock, touch a socket, or show a session an order
//! of another account.
//!
//! [`FrontDoor::max_outbound_bytes`]: super::FrontDoor::max_outbound_bytes

use tickwarp_wire::OrderType;

use super::super::core::{CoreError, MassCancel, OrderCore, Origin};
use super::report::fix_status;
use crate::fix::{
    BusinessMessageReject, BusinessRejectReason, ExecType, ExecutionReport, MassCancelRejectReason,
    MassCancelScope, Now, OrderIdRef, OrderMassCancelReport, OrderMassCancelRequest,
    OrderMassStatusRequest, OrderStatusRequest, PosReqResult, PositionReport, PositionsAck,
    RequestForPositions, Session, SharedStore, StatusFields, SymbolFilter, UnknownOrderStatus,
};
use crate::orders::{Order, Position};
use crate::venue::{VenueSession, VenueTime};

/// Bytes a status ExecutionReport is counted at against the outbound bound (the largest
/// one this gateway writes is about 330 bytes).
pub(crate) const REPORT_BYTES: usize = 400;

/// Counts a lookup request (H, AF, AN) against `origin`'s message rate; when the rate
/// is exceeded answers it with a BusinessMessageReject and returns false.
pub(crate) fn throttle<V: VenueSession>(
    session: &mut Session<SharedStore>,
    now: Now,
    core: &mut OrderCore<V>,
    origin: Origin,
    msg_seq: u64,
    msg_type: &[u8],
) -> bool {
    let Err(reject) = core
        .risk_mut()
        .check_cancel(now.mono, origin.risk_session())
    else {
        return true;
    };
    let text = reject.to_string();
    let answer = BusinessMessageReject {
        ref_seq_num: msg_seq,
        ref_msg_type: crate::fix::retail::msg_type(msg_type),
        ref_id: None,
        reason: BusinessRejectReason::Other,
        text: Some(&text),
    };
    if let Err(e) = session.send_business_reject(now, &answer) {
        tracing::warn!(error = %e, "throttle reject not sent");
    }
    false
}

/// The status ExecutionReport (ExecType I) of `order`.
fn status_report(order: &Order, order_id: u64, now: Now) -> ExecutionReport<'static> {
    ExecutionReport {
        order_id,
        exec_id: 0,
        exec_type: ExecType::OrderStatus,
        ord_status: fix_status(order.status()),
        cl_ord_id: order.cl_ord_id(),
        orig_cl_ord_id: order.orig_cl_ord_id(),
        instrument: order.instrument(),
        side: order.side(),
        ord_type: Some(order.ord_type()),
        price: (order.ord_type() == OrderType::Limit).then(|| order.price()),
        tif: Some(order.tif()),
        order_qty: order.qty(),
        last_qty: None,
        last_px: None,
        leaves_qty: order.leaves_qty(),
        cum_qty: order.cum_qty(),
        avg_px: order.avg_px(),
        transact_time: now.wall,
        reject_reason: None,
        text: None,
    }
}

/// Answers an OrderStatusRequest (H): the order's status, or unknown order.
pub(crate) fn order_status<V: VenueSession>(
    session: &mut Session<SharedStore>,
    now: Now,
    core: &OrderCore<V>,
    req: &OrderStatusRequest,
) {
    let account = session.config().account;
    let status = StatusFields {
        ord_status_req_id: req.req_id,
        mass: None,
    };
    let found = match (req.foreign_account, req.order_id) {
        (true, _) | (false, Some(OrderIdRef::Unmatched)) => None,
        (false, Some(OrderIdRef::Number(id))) => core.find_order(account, Some(id), req.cl_ord_id),
        (false, None) => core.find_order(account, None, req.cl_ord_id),
    }
    .filter(|o| o.side() == req.side && req.symbol.matches(o.instrument()))
    .and_then(|o| Some((core.order_id_of(&crate::orders::OrderKey::of(&o))?, o)));
    let sent = match found {
        Some((order_id, order)) => {
            session.send_status_report(now, &status_report(&order, order_id, now), &status)
        }
        None => {
            let order_id_buf = match req.order_id {
                Some(OrderIdRef::Number(id)) => Some(itoa_buf(id)),
                _ => None,
            };
            // An OrderID that is not a number of ours is answered as NONE.
            let order_id = order_id_buf.as_ref().map(ItoaBuf::as_bytes);
            let symbol = symbol_of(session, req.symbol);
            let answer = UnknownOrderStatus {
                order_id,
                cl_ord_id: Some(req.cl_ord_id),
                symbol: symbol.as_ref().map(|s| s.as_bytes()),
                side: Some(req.side),
                status,
                out_seq: 0,
                now: now.wall,
            };
            session.send_unknown_order_status(now, &answer)
        }
    };
    if let Err(e) = sent {
        tracing::warn!(session = req.session.0, error = %e, "order status not sent");
    }
}

/// An OrderID as decimal text on the stack.
struct ItoaBuf {
    buf: [u8; 20],
    start: usize,
}

impl ItoaBuf {
    fn as_bytes(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }
}

fn itoa_buf(mut n: u64) -> ItoaBuf {
    let mut b = ItoaBuf {
        buf: [0; 20],
        start: 20,
    };
    loop {
        b.start -= 1;
        if let Some(d) = b.buf.get_mut(b.start) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || b.start == 0 {
            return b;
        }
    }
}

fn symbol_of(
    session: &Session<SharedStore>,
    filter: SymbolFilter,
) -> Option<tickwarp_wire::Symbol> {
    match filter {
        SymbolFilter::Instrument(i) => session.instruments().symbol_of(i),
        SymbolFilter::Any | SymbolFilter::Unknown => None,
    }
}

/// Answers an OrderMassStatusRequest (AF): one status report per open order selected, the
/// last with LastRptRequested Y; an unknown-order report when none; a
/// BusinessMessageReject when the reports would not fit the outbound bound.
pub(crate) fn mass_status<V: VenueSession>(
    session: &mut Session<SharedStore>,
    now: Now,
    core: &OrderCore<V>,
    req: &OrderMassStatusRequest,
    max_outbound_bytes: usize,
) {
    let account = session.config().account;
    let selected: Vec<(u64, Order)> = core
        .open_orders_of(account)
        .into_iter()
        .filter(|(_, o)| req.matches(o.instrument(), o.side()))
        .collect();
    let total = selected.len() as u64;
    let room = max_outbound_bytes.saturating_sub(session.transmit_queue().len()) / REPORT_BYTES;
    if selected.len() > room {
        let mut text = String::new();
        let _ = core::fmt::Write::write_fmt(
            &mut text,
            format_args!(
                "{total} orders match, more than the {room} reports the outbound queue takes at once: narrow the request by Symbol (55) or Side (54)"
            ),
        );
        let reject = BusinessMessageReject {
            ref_seq_num: req.msg_seq,
            ref_msg_type: crate::fix::retail::msg_type(
                crate::fix::retail::ORDER_MASS_STATUS_REQUEST,
            ),
            ref_id: Some(req.req_id.as_str().as_bytes()),
            reason: BusinessRejectReason::Other,
            text: Some(&text),
        };
        if let Err(e) = session.send_business_reject(now, &reject) {
            tracing::warn!(session = req.session.0, error = %e, "mass status reject not sent");
        }
        return;
    }
    if selected.is_empty() {
        let symbol = match req.scope {
            crate::fix::MassStatusScope::Security(f) => symbol_of(session, f),
            _ => None,
        };
        let answer = UnknownOrderStatus {
            order_id: None,
            cl_ord_id: None,
            symbol: symbol.as_ref().map(|s| s.as_bytes()),
            side: req.side,
            status: StatusFields {
                ord_status_req_id: None,
                mass: Some((req.req_id, 0, true)),
            },
            out_seq: 0,
            now: now.wall,
        };
        if let Err(e) = session.send_unknown_order_status(now, &answer) {
            tracing::warn!(session = req.session.0, error = %e, "mass status not sent");
        }
        return;
    }
    for (i, (order_id, order)) in selected.iter().enumerate() {
        let status = StatusFields {
            ord_status_req_id: None,
            mass: Some((req.req_id, total, i + 1 == selected.len())),
        };
        if let Err(e) =
            session.send_status_report(now, &status_report(order, *order_id, now), &status)
        {
            tracing::warn!(session = req.session.0, error = %e, "mass status report not sent");
            return;
        }
    }
}

/// Carries out an OrderMassCancelRequest (q) and answers it with an OrderMassCancelReport
/// (r); the cancels' ExecutionReports follow through the order path.
pub(crate) fn mass_cancel<V: VenueSession>(
    session: &mut Session<SharedStore>,
    now: Now,
    core: &mut OrderCore<V>,
    origin: Origin,
    req: &OrderMassCancelRequest,
) -> Result<(), CoreError> {
    let account = session.config().account;
    let vt = VenueTime {
        wall: now.wall,
        mono: now.mono,
    };
    let symbol = match req.scope {
        Ok(MassCancelScope::Security(i)) => session.instruments().symbol_of(i),
        _ => None,
    };
    let (order_id, outcome, text) = match req.scope {
        Err(reason) => {
            let text = match reason {
                MassCancelRejectReason::UnknownSecurity => {
                    "MassCancelRequestType 1 needs the Symbol (55) of a traded instrument"
                }
                _ => "MassCancelRequestType not supported: 1 (security) and 7 (all) only",
            };
            (0, Err(reason), Some(text.to_owned()))
        }
        // Another account's orders are not this session's to cancel: none is affected.
        Ok(_) if req.foreign_account => (
            0,
            Ok(0),
            Some("Account (1) is not this session's account".to_owned()),
        ),
        Ok(scope) => {
            let instrument = match scope {
                MassCancelScope::Security(i) => Some(i),
                MassCancelScope::All => None,
            };
            let scope = MassCancel {
                account,
                instrument,
                side: req.side,
            };
            match core.mass_cancel(vt, origin, scope)? {
                Ok(done) => (done.first_seq, Ok(done.affected), None),
                Err(refused) => (0, Err(MassCancelRejectReason::Other), Some(refused.text)),
            }
        }
    };
    let report = OrderMassCancelReport {
        cl_ord_id: req.cl_ord_id,
        order_id,
        request_type: req.request_type,
        outcome,
        symbol: symbol.as_ref().map(|s| s.as_bytes()),
        side: req.side,
        transact_time: now.wall,
        text: text.as_deref(),
    };
    if let Err(e) = session.send_mass_cancel_report(now, &report) {
        tracing::warn!(session = req.session.0, error = %e, "mass cancel report not sent");
    }
    Ok(())
}

/// Answers a RequestForPositions (AN): an AO with the number of reports, then one
/// PositionReport per instrument the account traded (the Symbol filter applied); or an
/// AO alone saying why not.
pub(crate) fn positions<V: VenueSession>(
    session: &mut Session<SharedStore>,
    now: Now,
    core: &OrderCore<V>,
    req: &RequestForPositions,
) {
    let account = session.config().account;
    let selected: Vec<(tickwarp_wire::Symbol, Position)> = match req.supported {
        Ok(()) => core
            .positions_of(account)
            .into_iter()
            .filter(|(i, _)| req.symbol.matches(*i))
            .filter_map(|(i, p)| Some((session.instruments().symbol_of(i)?, p)))
            .collect(),
        Err(_) => Vec::new(),
    };
    let total = selected.len() as u64;
    let (result, text) = match req.supported {
        Err(PosReqResult::NotAuthorized) => (
            PosReqResult::NotAuthorized,
            Some("Account (1) is not this session's account"),
        ),
        Err(r) => (r, Some("PosReqType 0 (positions) as a snapshot only")),
        Ok(()) if selected.is_empty() => (PosReqResult::NoPositions, None),
        Ok(()) => (PosReqResult::Valid, None),
    };
    let ack = PositionsAck {
        request: req,
        total,
        result,
        out_seq: 0,
        text,
    };
    if let Err(e) = session.send_positions_ack(now, &ack) {
        tracing::warn!(session = req.session.0, error = %e, "positions ack not sent");
        return;
    }
    for (symbol, p) in &selected {
        let report = PositionReport {
            request: req,
            total,
            symbol: symbol.as_bytes(),
            bought: p.bought.0,
            sold: p.sold.0,
            avg_px: p.avg_px(),
            realized: p.realized(),
            out_seq: 0,
        };
        if let Err(e) = session.send_position_report(now, &report) {
            tracing::warn!(session = req.session.0, error = %e, "position report not sent");
            return;
        }
    }
}

//! Order-core reports as FIX messages: ExecutionReport and OrderCancelReject, sent on a
//! logged-on session or, when the session has no connection, stored in its session
//! store under the next MsgSeqNum so that the client's ResendRequest after its next
//! Logon brings them (what QuickFIX does with messages sent while disconnected). No
//! report is kept only in memory, so none is dropped for lack of room.
//!
//! What this module must not do: read a clock or touch a socket.

use tickwarp_wire::{CancelRejected, InstrumentTable, OrderType};

use super::super::core::Report;
use crate::fix::codec::MessageWriter;
use crate::fix::fields::tag;
use crate::fix::{
    ExecType, ExecutionReport, MsgType, Now, OrdStatus as FixOrdStatus, OrderCancelReject, SeqNums,
    Session, SessionConfig, SessionStore, SharedStore, StoreError,
};
use crate::orders::{OrdStatus, Order};
use crate::venue::Execution;

/// Why a report could not be stored for a session without a connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OfflineError {
    /// The report's instrument has no symbol.
    #[error("instrument {0} has no symbol")]
    UnknownInstrument(u32),
    /// An execution without its order.
    #[error("execution without its order")]
    NoOrder,
    /// The store refused it.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The FIX OrdStatus (39) of an order status. A replaced ClOrdID is done; its report
/// is the successor's, so it never reaches a client as such.
pub(crate) fn fix_status(status: OrdStatus) -> FixOrdStatus {
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

/// The OrderCancelReject (35=9) for a refused cancel or replace.
fn cancel_reject<'a>(
    report: &'a Report,
    cr: &'a CancelRejected,
    order: Option<&Order>,
) -> OrderCancelReject<'a> {
    OrderCancelReject {
        order_id: cr.order_id(),
        cl_ord_id: cr.cl_ord_id(),
        orig_cl_ord_id: cr.orig_cl_ord_id(),
        ord_status: order.map_or(FixOrdStatus::Rejected, |o| fix_status(o.status())),
        response_to: cr.response_to(),
        reason: cr.reason(),
        text: report.text.as_deref(),
    }
}

/// Sends `report` as an ExecutionReport or OrderCancelReject.
pub(crate) fn send_report(session: &mut Session<SharedStore>, now: Now, report: &Report) {
    let sent = match (&report.event, report.order) {
        (Execution::CancelRejected(cr), order) => {
            let reject = cancel_reject(report, cr, order.as_ref());
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
pub(crate) fn execution_report<'a>(
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

/// Stores `report` for a session with no connection (see the module docs); returns the
/// MsgSeqNum it took.
pub(crate) fn store_offline(
    store: &mut SharedStore,
    config: &SessionConfig,
    instruments: &InstrumentTable,
    now: Now,
    report: &Report,
    scratch: &mut Vec<u8>,
) -> Result<u64, OfflineError> {
    let before = store.seq_nums();
    let seq = before.next_out;
    scratch.clear();
    let range = match (&report.event, report.order) {
        (Execution::CancelRejected(cr), order) => {
            let reject = cancel_reject(report, cr, order.as_ref());
            let mut w = MessageWriter::begin(scratch, MsgType::ORDER_CANCEL_REJECT);
            header(&mut w, config, seq, now);
            reject.write_body(&mut w);
            w.finish()
        }
        (event, Some(order)) => {
            let er = execution_report(report, event, &order);
            let symbol = instruments
                .symbol_of(er.instrument)
                .ok_or(OfflineError::UnknownInstrument(er.instrument.0))?;
            let mut w = MessageWriter::begin(scratch, MsgType::EXECUTION_REPORT);
            header(&mut w, config, seq, now);
            er.write_body(&mut w, config.account, symbol.as_bytes());
            w.finish()
        }
        (_, None) => return Err(OfflineError::NoOrder),
    };
    let frame = scratch.get(range).unwrap_or_default();
    let after = SeqNums {
        next_out: seq + 1,
        ..before
    };
    store.append_outbound(seq, frame, after, now.wall, now.mono)?;
    // Nobody flushes an offline store once per duty cycle: make the report durable now.
    store.flush()?;
    Ok(seq)
}

/// The standard header of what we send (FIX 4.4 Vol. 1 "Standard Message Header"), in
/// the session layer's field order.
pub(crate) fn header(w: &mut MessageWriter<'_>, config: &SessionConfig, seq: u64, now: Now) {
    w.uint(tag::MSG_SEQ_NUM, seq)
        .str(tag::SENDER_COMP_ID, &config.sender_comp_id)
        .timestamp(tag::SENDING_TIME, now.wall)
        .str(tag::TARGET_COMP_ID, &config.target_comp_id);
}

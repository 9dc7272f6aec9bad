//! From order-journal records to database rows: one [`ExecutionRow`] per execution
//! record, and the new state of every order a record changed ([`OrderRow`]).
//!
//! The [`Projector`] keeps the working orders (those a later record can still change) in
//! memory, keyed by the gateway's OrderID and by (account, ClOrdID); an order leaves it
//! when it is done (filled, canceled, rejected). Its state is exactly what the `orders`
//! table holds for those orders, so after a restart the tailer rebuilds it from the
//! database ([`Projector::with_open_orders`]) and continues at the stored position.
//!
//! Record layouts are those of `tickwarp_gateway::service::recovery` (the origin prefix,
//! then the wire record). No I/O, no clock: bytes in, rows out.

use std::collections::HashMap;

use tickwarp_gateway::service::recovery::{
    RECORD_CANCEL_REQUEST, RECORD_EXECUTION, RECORD_KILL_SWITCH, RECORD_ORDER_NEW,
    RECORD_REPLACE_REQUEST,
};
use tickwarp_wire::{
    AccountId, ClientOrderId, CxlRejResponseTo, InstrumentId, InstrumentTable, Message, OrderType,
    Price, Qty, Side, TimeInForce, decode,
};

/// Bytes of the origin prefix of every order-journal payload.
const PREFIX_LEN: usize = 8;
/// Execution flag: the gateway refused the request before the order state saw it.
const FLAG_LOCAL_REJECT: u8 = 2;

/// Why a journal record cannot be turned into rows (the journal and this code disagree).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("order journal record {seq} cannot be copied: {reason}")]
pub struct DecodeError {
    /// The record's sequence number.
    pub seq: u64,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// An order's status as the `orders` and `executions` tables spell it (FIX OrdStatus).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrdStatus {
    /// Journaled, not yet accepted by the venue (FIX `A`).
    PendingNew,
    /// Working, nothing filled (FIX `0`).
    New,
    /// Working, partly filled (FIX `1`).
    PartiallyFilled,
    /// Done: filled (FIX `2`).
    Filled,
    /// Done: canceled (FIX `4`).
    Canceled,
    /// Done: rejected (FIX `8`).
    Rejected,
    /// A cancel request is pending (FIX `6`).
    PendingCancel,
    /// A replace request is pending (FIX `E`).
    PendingReplace,
}

impl OrdStatus {
    /// The text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            OrdStatus::PendingNew => "pending_new",
            OrdStatus::New => "new",
            OrdStatus::PartiallyFilled => "partially_filled",
            OrdStatus::Filled => "filled",
            OrdStatus::Canceled => "canceled",
            OrdStatus::Rejected => "rejected",
            OrdStatus::PendingCancel => "pending_cancel",
            OrdStatus::PendingReplace => "pending_replace",
        }
    }

    /// The status for a stored text.
    pub fn parse(s: &str) -> Option<OrdStatus> {
        [
            OrdStatus::PendingNew,
            OrdStatus::New,
            OrdStatus::PartiallyFilled,
            OrdStatus::Filled,
            OrdStatus::Canceled,
            OrdStatus::Rejected,
            OrdStatus::PendingCancel,
            OrdStatus::PendingReplace,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// True when no later record can change the order.
    pub fn is_done(self) -> bool {
        matches!(
            self,
            OrdStatus::Filled | OrdStatus::Canceled | OrdStatus::Rejected
        )
    }
}

/// What an execution record reports (stored as text in `executions.exec_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecType {
    /// The order was accepted (FIX ExecType `0`).
    New,
    /// The order was rejected (FIX `8`).
    Rejected,
    /// A fill (FIX `F`).
    Trade,
    /// The order was canceled (FIX `4`).
    Canceled,
    /// The order was replaced (FIX `5`).
    Replaced,
    /// A cancel or replace request was refused (FIX OrderCancelReject, 35=9).
    CancelRejected,
}

impl ExecType {
    /// The text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecType::New => "new",
            ExecType::Rejected => "rejected",
            ExecType::Trade => "trade",
            ExecType::Canceled => "canceled",
            ExecType::Replaced => "replaced",
            ExecType::CancelRejected => "cancel_rejected",
        }
    }
}

/// One row of `orders`: an order as it stands after the last record that changed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRow {
    /// The gateway's OrderID (the journal seq of the order; kept across replaces).
    pub order_id: u64,
    /// Its current ClOrdID (a replace changes it).
    pub cl_ord_id: String,
    /// The account.
    pub account: u32,
    /// The instrument id.
    pub instrument: u32,
    /// The instrument's symbol, when the configuration names it.
    pub symbol: Option<String>,
    /// `buy` or `sell`.
    pub side: &'static str,
    /// `limit` or `market`.
    pub ord_type: &'static str,
    /// Limit price in ticks of [`Price::SCALE`] (0 for a market order).
    pub price_ticks: i64,
    /// Order quantity.
    pub qty: i64,
    /// `day`, `gtc`, `ioc` or `fok`.
    pub tif: &'static str,
    /// Status.
    pub status: OrdStatus,
    /// Filled so far.
    pub cum_qty: i64,
    /// Still working.
    pub leaves_qty: i64,
    /// Who entered it (`fix:ID`, `rdma:ID`, `gateway`).
    pub origin: String,
    /// Journal timestamp of the order record (Unix ns).
    pub created_ns: i64,
    /// Journal seq of the last record that changed it.
    pub updated_seq: u64,
    /// Journal timestamp of that record (Unix ns).
    pub updated_ns: i64,
}

/// One row of `executions`: one execution record of the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionRow {
    /// ExecID: the journal seq of the record (what FIX clients saw in tag 17).
    pub exec_id: u64,
    /// The gateway's OrderID; `None` for a request refused before it had one.
    pub order_id: Option<u64>,
    /// ClOrdID of the request the execution answers.
    pub cl_ord_id: String,
    /// OrigClOrdID (cancels, replaces, cancel rejects).
    pub orig_cl_ord_id: Option<String>,
    /// The account.
    pub account: u32,
    /// The instrument id.
    pub instrument: u32,
    /// The instrument's symbol, when the configuration names it.
    pub symbol: Option<String>,
    /// `buy`/`sell`, when known.
    pub side: Option<&'static str>,
    /// The order's limit price in ticks, when the order is known.
    pub price_ticks: Option<i64>,
    /// The order quantity, when the order is known.
    pub qty: Option<i64>,
    /// What happened.
    pub exec_type: ExecType,
    /// The order's status after it, when the order is known.
    pub ord_status: Option<OrdStatus>,
    /// Fill price in ticks (trades).
    pub last_px_ticks: Option<i64>,
    /// Fill quantity (trades).
    pub last_qty: Option<i64>,
    /// Filled so far, when known.
    pub cum_qty: Option<i64>,
    /// Still working, when known.
    pub leaves_qty: Option<i64>,
    /// The venue's trade id (trades).
    pub venue_exec_id: Option<u64>,
    /// Reject reason code (rejects, cancel rejects; see `tickwarp_wire::RejectReason`).
    pub reject_code: Option<u16>,
    /// Reject reason name.
    pub reject_reason: Option<String>,
    /// True when the gateway refused the request itself (validation, risk).
    pub refused_by_gateway: bool,
    /// Whom it was reported to (`fix:ID`, `rdma:ID`, `gateway`).
    pub reported_to: String,
    /// FIX TransactTime (Unix ns).
    pub transact_time_ns: i64,
    /// Journal timestamp (Unix ns).
    pub journal_ns: i64,
}

/// The rows of a run of records, ready for one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    /// Executions in journal order.
    pub executions: Vec<ExecutionRow>,
    /// The last state of each order changed, in the order first changed.
    pub orders: Vec<OrderRow>,
    /// Index into `orders` by OrderID.
    index: HashMap<u64, usize>,
    /// The last journal seq the batch covers (0 when empty).
    pub last_seq: u64,
    /// That record's timestamp (Unix ns).
    pub last_ns: i64,
    /// Records the batch covers (copied or not).
    pub records: usize,
}

impl Batch {
    /// Forgets every row (keeps the allocations).
    pub fn clear(&mut self) {
        self.executions.clear();
        self.orders.clear();
        self.index.clear();
        self.last_seq = 0;
        self.last_ns = 0;
        self.records = 0;
    }

    /// True when the batch covers no record.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    fn upsert(&mut self, row: &OrderRow) {
        match self.index.get(&row.order_id) {
            Some(&i) => {
                if let Some(slot) = self.orders.get_mut(i) {
                    slot.clone_from(row);
                }
            }
            None => {
                self.index.insert(row.order_id, self.orders.len());
                self.orders.push(row.clone());
            }
        }
    }
}

/// How an execution changes the order it is about.
type Change = Box<dyn FnOnce(&mut OrderRow)>;

/// Turns journal records into rows; see the module docs.
#[derive(Debug)]
pub struct Projector {
    symbols: HashMap<u32, String>,
    /// Working orders by OrderID.
    open: HashMap<u64, OrderRow>,
    /// OrderID by (account, current ClOrdID).
    by_key: HashMap<(u32, String), u64>,
}

fn i64_of(q: Qty, seq: u64) -> Result<i64, DecodeError> {
    i64::try_from(q.0).map_err(|_| DecodeError {
        seq,
        reason: "quantity above 2^63",
    })
}

fn side_str(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn type_str(t: OrderType) -> &'static str {
    match t {
        OrderType::Limit => "limit",
        OrderType::Market => "market",
    }
}

fn tif_str(t: TimeInForce) -> &'static str {
    match t {
        TimeInForce::Day => "day",
        TimeInForce::Gtc => "gtc",
        TimeInForce::Ioc => "ioc",
        TimeInForce::Fok => "fok",
    }
}

fn ns(t: tickwarp_wire::UnixNanos) -> i64 {
    i64::try_from(t.0).unwrap_or(i64::MAX)
}

/// Working status from the quantities (after a refused cancel/replace, or a replace).
fn working(cum: i64) -> OrdStatus {
    if cum > 0 {
        OrdStatus::PartiallyFilled
    } else {
        OrdStatus::New
    }
}

impl Projector {
    /// A projector with no working orders; `instruments` names the symbols.
    pub fn new(instruments: &InstrumentTable) -> Projector {
        Projector::with_open_orders(instruments, Vec::new())
    }

    /// A projector continuing from the working orders stored in the database.
    pub fn with_open_orders(instruments: &InstrumentTable, open: Vec<OrderRow>) -> Projector {
        let symbols = instruments
            .iter()
            .map(|e| (e.id.0, e.symbol.as_str().to_owned()))
            .collect();
        let mut p = Projector {
            symbols,
            open: HashMap::new(),
            by_key: HashMap::new(),
        };
        for row in open {
            p.by_key
                .insert((row.account, row.cl_ord_id.clone()), row.order_id);
            p.open.insert(row.order_id, row);
        }
        p
    }

    /// Working orders held (for tests and logs).
    pub fn open_orders(&self) -> usize {
        self.open.len()
    }

    fn symbol(&self, instrument: InstrumentId) -> Option<String> {
        self.symbols.get(&instrument.0).cloned()
    }

    fn order_of(&self, account: AccountId, cl: ClientOrderId) -> Option<u64> {
        self.by_key
            .get(&(account.0, cl.as_str().to_owned()))
            .copied()
    }

    /// Changes the working order `order_id` with `f`, adds its new state to `batch`, and
    /// drops it from memory when it is done. Returns the row after the change.
    fn touch(
        &mut self,
        order_id: u64,
        seq: u64,
        ts: i64,
        batch: &mut Batch,
        f: impl FnOnce(&mut OrderRow),
    ) -> Option<OrderRow> {
        let row = self.open.get_mut(&order_id)?;
        let old_key = (row.account, row.cl_ord_id.clone());
        f(row);
        row.updated_seq = seq;
        row.updated_ns = ts;
        let row = row.clone();
        batch.upsert(&row);
        let new_key = (row.account, row.cl_ord_id.clone());
        if row.status.is_done() {
            self.open.remove(&order_id);
            self.by_key.remove(&old_key);
        } else if new_key != old_key {
            self.by_key.remove(&old_key);
            self.by_key.insert(new_key, order_id);
        }
        Some(row)
    }

    /// Adds the rows of record `seq` (type `record_type`, journal time `ts_ns`) to `batch`.
    pub fn apply(
        &mut self,
        seq: u64,
        record_type: u16,
        ts_ns: i64,
        payload: &[u8],
        batch: &mut Batch,
    ) -> Result<(), DecodeError> {
        let bad = |reason| DecodeError { seq, reason };
        let head = payload.get(..PREFIX_LEN).ok_or(bad("no origin prefix"))?;
        let id = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let origin = match head[0] {
            0 => "gateway".to_owned(),
            1 => format!("fix:{id}"),
            2 => format!("rdma:{id}"),
            _ => return Err(bad("unknown origin")),
        };
        let flags = head[1];
        let body = payload.get(PREFIX_LEN..).unwrap_or_default();
        match record_type {
            RECORD_ORDER_NEW => {
                let rest = body.get(8..).ok_or(bad("order record too short"))?;
                let Ok(Message::NewOrder(cmd)) = decode(rest) else {
                    return Err(bad("not a NewOrder"));
                };
                let qty = i64_of(cmd.qty(), seq)?;
                let row = OrderRow {
                    order_id: seq,
                    cl_ord_id: cmd.cl_ord_id().as_str().to_owned(),
                    account: cmd.account().0,
                    instrument: cmd.instrument().0,
                    symbol: self.symbol(cmd.instrument()),
                    side: side_str(cmd.side()),
                    ord_type: type_str(cmd.ord_type()),
                    price_ticks: cmd.price().ticks(),
                    qty,
                    tif: tif_str(cmd.tif()),
                    status: OrdStatus::PendingNew,
                    cum_qty: 0,
                    leaves_qty: qty,
                    origin,
                    created_ns: ts_ns,
                    updated_seq: seq,
                    updated_ns: ts_ns,
                };
                batch.upsert(&row);
                self.by_key
                    .insert((row.account, row.cl_ord_id.clone()), seq);
                self.open.insert(seq, row);
            }
            RECORD_CANCEL_REQUEST => {
                let Ok(Message::CancelOrder(cmd)) = decode(body) else {
                    return Err(bad("not a CancelOrder"));
                };
                // The kill switch cancels underneath the order's state: no pending status.
                if head[0] != 0 {
                    if let Some(oid) = self.order_of(cmd.account(), cmd.orig_cl_ord_id()) {
                        self.touch(oid, seq, ts_ns, batch, |o| {
                            o.status = OrdStatus::PendingCancel;
                        });
                    }
                }
            }
            RECORD_REPLACE_REQUEST => {
                let rest = body.get(8..).ok_or(bad("replace record too short"))?;
                let Ok(Message::ReplaceOrder(cmd)) = decode(rest) else {
                    return Err(bad("not a ReplaceOrder"));
                };
                if let Some(oid) = self.order_of(cmd.account(), cmd.orig_cl_ord_id()) {
                    self.touch(oid, seq, ts_ns, batch, |o| {
                        o.status = OrdStatus::PendingReplace;
                    });
                }
            }
            RECORD_EXECUTION => {
                let local = flags & FLAG_LOCAL_REJECT != 0;
                self.execution(seq, ts_ns, body, origin, local, batch)?;
            }
            // Not an order state change: nothing to copy (the cancels it issues are).
            RECORD_KILL_SWITCH => {}
            _ => return Err(bad("unknown record type")),
        }
        batch.last_seq = seq;
        batch.last_ns = ts_ns;
        batch.records += 1;
        Ok(())
    }

    fn execution(
        &mut self,
        seq: u64,
        ts_ns: i64,
        body: &[u8],
        reported_to: String,
        local: bool,
        batch: &mut Batch,
    ) -> Result<(), DecodeError> {
        let bad = |reason| DecodeError { seq, reason };
        let msg = decode(body).map_err(|_| bad("not an execution record"))?;
        let meta = match &msg {
            Message::OrderAccepted(r) => r.meta(),
            Message::OrderRejected(r) => r.meta(),
            Message::OrderFilled(r) => r.meta(),
            Message::OrderCanceled(r) => r.meta(),
            Message::CancelRejected(r) => r.meta(),
            Message::OrderReplaced(r) => r.meta(),
            _ => return Err(bad("not an execution record")),
        };
        let mut row = ExecutionRow {
            exec_id: seq,
            order_id: (meta.order_id != 0).then_some(meta.order_id),
            cl_ord_id: meta.cl_ord_id.as_str().to_owned(),
            orig_cl_ord_id: None,
            account: meta.account.0,
            instrument: meta.instrument.0,
            symbol: self.symbol(meta.instrument),
            side: None,
            price_ticks: None,
            qty: None,
            exec_type: ExecType::New,
            ord_status: None,
            last_px_ticks: None,
            last_qty: None,
            cum_qty: None,
            leaves_qty: None,
            venue_exec_id: None,
            reject_code: None,
            reject_reason: None,
            refused_by_gateway: local,
            reported_to,
            transact_time_ns: ns(meta.transact_time),
            journal_ns: ts_ns,
        };
        // The order the execution is about, and how it changes.
        let (target, change): (Option<u64>, Option<Change>) = match msg {
            Message::OrderAccepted(r) => {
                row.exec_type = ExecType::New;
                row.side = Some(side_str(r.side()));
                let target = self.order_of(meta.account, meta.cl_ord_id);
                (
                    target,
                    Some(Box::new(|o: &mut OrderRow| o.status = OrdStatus::New)),
                )
            }
            Message::OrderRejected(r) => {
                row.exec_type = ExecType::Rejected;
                row.reject_code = Some(r.reason().to_u16());
                row.reject_reason = Some(r.reason().to_string());
                row.ord_status = Some(OrdStatus::Rejected);
                let target = if local {
                    None
                } else {
                    self.order_of(meta.account, meta.cl_ord_id)
                };
                (
                    target,
                    Some(Box::new(|o: &mut OrderRow| {
                        o.status = OrdStatus::Rejected;
                        o.leaves_qty = 0;
                    })),
                )
            }
            Message::OrderFilled(r) => {
                let fill = r.fill();
                let (cum, leaves) = (i64_of(fill.cum_qty, seq)?, i64_of(fill.leaves_qty, seq)?);
                row.exec_type = ExecType::Trade;
                row.side = Some(side_str(r.side()));
                row.last_px_ticks = Some(fill.last_px.ticks());
                row.last_qty = Some(i64_of(fill.last_qty, seq)?);
                row.cum_qty = Some(cum);
                row.leaves_qty = Some(leaves);
                row.venue_exec_id = Some(fill.exec_id);
                let target = self.order_of(meta.account, meta.cl_ord_id);
                (
                    target,
                    Some(Box::new(move |o: &mut OrderRow| {
                        o.cum_qty = cum;
                        o.leaves_qty = leaves;
                        o.status = if leaves == 0 {
                            OrdStatus::Filled
                        } else if o.status == OrdStatus::PendingCancel
                            || o.status == OrdStatus::PendingReplace
                        {
                            o.status
                        } else {
                            OrdStatus::PartiallyFilled
                        };
                    })),
                )
            }
            Message::OrderCanceled(r) => {
                let order_cl = r.orig_cl_ord_id().unwrap_or(meta.cl_ord_id);
                row.exec_type = ExecType::Canceled;
                row.orig_cl_ord_id = r.orig_cl_ord_id().map(|c| c.as_str().to_owned());
                let cum = i64_of(r.cum_qty(), seq)?;
                row.cum_qty = Some(cum);
                row.leaves_qty = Some(0);
                let target = self.order_of(meta.account, order_cl);
                (
                    target,
                    Some(Box::new(move |o: &mut OrderRow| {
                        o.status = OrdStatus::Canceled;
                        o.cum_qty = cum;
                        o.leaves_qty = 0;
                    })),
                )
            }
            Message::CancelRejected(r) => {
                row.exec_type = ExecType::CancelRejected;
                row.orig_cl_ord_id = Some(r.orig_cl_ord_id().as_str().to_owned());
                row.reject_code = Some(r.reason().to_u16());
                row.reject_reason = Some(r.reason().to_string());
                let target = self.order_of(meta.account, r.orig_cl_ord_id());
                let pending = match r.response_to() {
                    CxlRejResponseTo::Cancel => OrdStatus::PendingCancel,
                    CxlRejResponseTo::Replace => OrdStatus::PendingReplace,
                };
                // A request refused before it made the order pending changes nothing.
                let change: Option<Change> = if local {
                    None
                } else {
                    Some(Box::new(move |o: &mut OrderRow| {
                        if o.status == pending {
                            o.status = working(o.cum_qty);
                        }
                    }))
                };
                (target, change)
            }
            Message::OrderReplaced(r) => {
                let rep = r.replaced();
                let (qty, cum, leaves) = (
                    i64_of(rep.qty, seq)?,
                    i64_of(rep.cum_qty, seq)?,
                    i64_of(rep.leaves_qty, seq)?,
                );
                row.exec_type = ExecType::Replaced;
                row.orig_cl_ord_id = Some(r.orig_cl_ord_id().as_str().to_owned());
                row.cum_qty = Some(cum);
                row.leaves_qty = Some(leaves);
                let new_cl = meta.cl_ord_id.as_str().to_owned();
                let px = rep.price.ticks();
                let target = self.order_of(meta.account, r.orig_cl_ord_id());
                (
                    target,
                    Some(Box::new(move |o: &mut OrderRow| {
                        o.cl_ord_id = new_cl;
                        o.price_ticks = px;
                        o.qty = qty;
                        o.cum_qty = cum;
                        o.leaves_qty = leaves;
                        o.status = if leaves == 0 && cum > 0 {
                            OrdStatus::Filled
                        } else {
                            working(cum)
                        };
                    })),
                )
            }
            _ => return Err(bad("not an execution record")),
        };
        let after = match (target, change) {
            (Some(oid), Some(f)) => self.touch(oid, seq, ts_ns, batch, f),
            (Some(oid), None) => self.open.get(&oid).cloned(),
            (None, _) => None,
        };
        if let Some(o) = after {
            row.order_id = Some(o.order_id);
            row.side = Some(o.side);
            row.price_ticks = Some(o.price_ticks);
            row.qty = Some(o.qty);
            row.ord_status = Some(o.status);
            row.cum_qty = Some(o.cum_qty);
            row.leaves_qty = Some(o.leaves_qty);
        }
        batch.executions.push(row);
        Ok(())
    }
}

/// A price in ticks as decimal text (`100.5`), as the SQLite tables store it.
pub fn price_text(ticks: i64) -> String {
    Price::from_ticks(ticks).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_text() {
        for st in [
            OrdStatus::PendingNew,
            OrdStatus::New,
            OrdStatus::PartiallyFilled,
            OrdStatus::Filled,
            OrdStatus::Canceled,
            OrdStatus::Rejected,
            OrdStatus::PendingCancel,
            OrdStatus::PendingReplace,
        ] {
            assert_eq!(OrdStatus::parse(st.as_str()), Some(st));
        }
        assert_eq!(OrdStatus::parse("done"), None);
    }

    #[test]
    fn bad_records_are_typed_errors_and_leave_the_batch_alone() {
        let mut p = Projector::new(&InstrumentTable::new());
        let mut batch = Batch::default();
        let cases: [(u16, &[u8], &str); 4] = [
            (RECORD_EXECUTION, &[1, 0, 0], "no origin prefix"),
            (
                RECORD_EXECUTION,
                &[7, 0, 0, 0, 0, 0, 0, 0],
                "unknown origin",
            ),
            (0x4799, &[1, 0, 0, 0, 1, 0, 0, 0], "unknown record type"),
            (
                RECORD_ORDER_NEW,
                &[1, 0, 0, 0, 1, 0, 0, 0, 1],
                "order record too short",
            ),
        ];
        for (ty, payload, reason) in cases {
            assert_eq!(
                p.apply(5, ty, 0, payload, &mut batch),
                Err(DecodeError { seq: 5, reason })
            );
        }
        assert!(batch.is_empty());
    }

    proptest::proptest! {
        /// Arbitrary bytes as any record type never panic.
        #[test]
        fn arbitrary_records_never_panic(
            ty in 0x4700u16..0x4708,
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let mut p = Projector::new(&InstrumentTable::new());
            let mut batch = Batch::default();
            let _ = p.apply(1, ty, 0, &payload, &mut batch);
        }
    }
}

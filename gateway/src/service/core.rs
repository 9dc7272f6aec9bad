//! [`OrderCore`]: the gateway's order flow, sans-IO. Requests from any origin (a FIX
//! session, an RDMA client, the gateway's own kill switch) go through validation →
//! pre-trade risk ([`RiskEngine`]) → order state ([`OrderStore`]) → the write-ahead
//! journal; only once the journal holds them (synced by the journal's fsync policy) does
//! the venue see them and does anyone hear about them. Venue executions go through order
//! state → journal → back to the origin as [`Report`]s.
//!
//! Inputs are `handle_new`/`handle_cancel`/`handle_replace`/`engage_kill_switch` with the
//! time as an argument; [`OrderCore::flush`] makes what was journaled durable, hands the
//! commands to the venue, journals its executions and makes durable again; reports come
//! out of [`OrderCore::poll_report`]. Every refusal carries a wire [`RejectReason`] and a
//! human text (FIX Text 58).
//!
//! Decisions: OrderID (37) is the journal sequence number of the order, stable across
//! restarts and replace chains; ExecID (17) is the journal sequence number of the
//! execution record. A cancel or replace needs a ClOrdID of its own, and one request at a
//! time per order. The built-in venue keeps no state across a restart, so recovery
//! resubmits every open order (acknowledged ones quietly, with their remaining quantity)
//! and every pending request, in journal order.
//!
//! When the journal cannot take a record (disk full, any write error, a failed sync that
//! poisoned the writer) the request is refused with [`JOURNAL_UNAVAILABLE`] and a text
//! ("order journal unavailable: no space left on device") and nothing reaches the venue;
//! the core stays up. A refusal acknowledges nothing, so one the journal cannot hold goes
//! out unjournaled with ExecID 0. A poisoned writer is reopened by [`OrderCore::flush`]
//! at most once per [`REOPEN_RETRY`]; new orders are refused until it succeeds. Failures
//! that would lose a journaled record (a batched sync discarding earlier records, a venue
//! execution that cannot be journaled) still stop the core with [`CoreError`].
//!
//! What this module must not do: touch a socket, read a clock, or tell anyone about an
//! order or execution before the journal holds it.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use tickwarp_wire::journal::{
    FsyncPolicy, JournalConfig, JournalError, JournalReader, JournalWriter, SyncTicket,
};
use tickwarp_wire::{
    CancelOrder, CancelRejected, ClientOrderId, CxlRejResponseTo, ExecMeta, Fill, InstrumentId,
    IntoBytes, NewOrder, OrderAccepted, OrderCanceled, OrderFilled, OrderRejected, OrderReplaced,
    OrderSpec, Price, Qty, RejectReason, ReplaceOrder, Replaced, SeqNo, TickCause,
};

use super::recovery::{
    ApplyError, FLAG_LOCAL_REJECT, FLAG_RISK_CLAIMED, RECORD_CANCEL_REQUEST, RECORD_EXECUTION,
    RECORD_KILL_SWITCH, RECORD_ORDER_NEW, RECORD_REPLACE_REQUEST, RequestKind, State, key,
    kill_body, prefix,
};
use crate::orders::{Live, OrdStatus, Order, OrderEvent, OrderKey, OrderStore};
use crate::risk::{KillScope, LimitsError, RiskEngine, RiskLimits, RiskReject, SessionId};
use crate::venue::{Execution, VenueSession, VenueTime};
use tickwarp_runtime::Nanos;

mod retail;
pub use retail::{MassCancel, MassCancelRefused, MassCanceled};

/// The reject reason for a request the order journal could not take (wire code 99; FIX
/// OrdRejReason 99, Other).
pub const JOURNAL_UNAVAILABLE: RejectReason = RejectReason::Other(99);

/// How long a poisoned order journal waits between reopen attempts.
pub const REOPEN_RETRY: Duration = Duration::from_secs(1);

/// Who sent a request, and so who hears about its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The gateway itself (kill switch); its reports go to the order's origin.
    Gateway,
    /// A FIX session, by its configured id.
    Fix(u32),
    /// An RDMA client connection, by its id (unique across restarts).
    Rdma(u32),
}

impl Origin {
    /// The throttling unit in risk: FIX session ids as they are, RDMA client ids with the
    /// top bit set (FIX session ids stay below 2^31).
    pub fn risk_session(self) -> SessionId {
        match self {
            Origin::Gateway => SessionId(0),
            Origin::Fix(id) => SessionId(id),
            Origin::Rdma(id) => SessionId(id | 1 << 31),
        }
    }
}

/// How the core is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreConfig {
    /// The order journal directory.
    pub journal_dir: PathBuf,
    /// Its segment size and fsync policy.
    pub journal: JournalConfig,
    /// Order store capacity.
    pub max_orders: usize,
    /// Pre-trade risk limits.
    pub limits: RiskLimits,
    /// Instruments traded (others are refused before risk).
    pub instruments: Vec<InstrumentId>,
    /// Initial reference prices (collars) until the venue trades.
    pub references: Vec<(InstrumentId, Price)>,
}

/// Why the core stopped: the journal is unusable, or it disagrees with the order state.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The order journal failed; nothing more may be acknowledged.
    #[error("order journal: {0}")]
    Journal(#[from] JournalError),
    /// The risk limits are unusable.
    #[error("risk limits: {0}")]
    Limits(#[from] LimitsError),
    /// A journal record cannot be read back.
    #[error("order journal record {seq} is corrupt: {reason}")]
    Corrupt {
        /// Its sequence number.
        seq: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A journaled request did not apply to the order state it was checked against.
    #[error("order state: {0}")]
    State(#[from] ApplyError),
}

/// An execution for the origin of a request: the wire record (what an RDMA client
/// receives), the order after it (what a FIX ExecutionReport is built from) and a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Whom to tell.
    pub origin: Origin,
    /// ExecID: the journal sequence number of the execution record.
    pub exec_id: u64,
    /// The execution as journaled.
    pub event: Execution,
    /// The order after the event (for a refused request, the order it was about, or the
    /// refused new order itself).
    pub order: Option<Order>,
    /// Why, for refusals and unsolicited cancels.
    pub text: Option<String>,
}

/// What recovery found in the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// What the journal's own recovery did (torn tail).
    pub journal: tickwarp_wire::journal::RecoveryReport,
    /// Records replayed.
    pub records: u64,
    /// Orders rebuilt.
    pub orders: usize,
    /// Of which open, resubmitted to the venue.
    pub open_orders: usize,
    /// Cancel/replace requests resubmitted.
    pub pending_requests: usize,
}

/// A command waiting for the journal sync before it goes to the venue.
#[derive(Clone, Copy, Debug)]
enum VenueCmd {
    New(NewOrder),
    Cancel(CancelOrder),
    Replace(ReplaceOrder),
}

/// A venue execution as the gateway reports it.
struct Outcome {
    record: Execution,
    route: Origin,
    order: OrderKey,
    text: Option<String>,
}

/// The order-flow core (see the module docs).
#[derive(Debug)]
pub struct OrderCore<V: VenueSession> {
    venue: V,
    journal: JournalWriter,
    fsync: FsyncPolicy,
    state: State,
    instruments: HashSet<InstrumentId>,
    /// Acknowledged orders resubmitted after a restart: the venue's ack is not news.
    restoring: HashSet<OrderKey>,
    to_venue: VecDeque<VenueCmd>,
    staged: VecDeque<Report>,
    ready: VecDeque<Report>,
    payload: Vec<u8>,
    /// Set while the journal refuses records: why (the refusal text) and when a poisoned
    /// writer may next be reopened.
    outage: Option<Outage>,
}

/// The order journal is refusing records.
#[derive(Debug)]
struct Outage {
    /// The Text of the refusals: "order journal unavailable: …".
    text: String,
    /// The earliest time of the next reopen attempt (poisoned writer only).
    retry_at: Nanos,
}

/// The refusal text for a journal error.
fn outage_text(error: &JournalError) -> String {
    let why = if error.is_disk_full() {
        "no space left on device".to_owned()
    } else {
        match error {
            JournalError::Poisoned => "sync failed; reopening".to_owned(),
            JournalError::Io { op, source, .. } => format!("{op} failed: {source}"),
            other => other.to_string(),
        }
    };
    format!("{JOURNAL_UNAVAILABLE_PREFIX}: {why}")
}

/// How every refusal for want of the order journal begins.
const JOURNAL_UNAVAILABLE_PREFIX: &str = "order journal unavailable";

/// `src` with the gateway's ClOrdID and OrderID.
fn meta_for(src: ExecMeta, cl_ord_id: ClientOrderId, order_id: u64) -> ExecMeta {
    ExecMeta {
        cl_ord_id,
        order_id,
        ..src
    }
}

/// Whether risk claimed the ClOrdID before refusing.
fn risk_claimed(reject: &RiskReject) -> bool {
    !matches!(
        reject,
        RiskReject::RateLimited { .. }
            | RiskReject::TooManyOrders { .. }
            | RiskReject::DuplicateClOrdId(_)
    )
}

impl<V: VenueSession> OrderCore<V> {
    /// Opens the order journal, replays it (orders, pending requests, risk usage, kill
    /// switches), resubmits the open orders to `venue` and flushes.
    pub fn open(
        config: CoreConfig,
        venue: V,
        now: VenueTime,
    ) -> Result<(OrderCore<V>, RecoveryReport), CoreError> {
        // Under `every_record` the core commits as a group: the writer does not sync each
        // append, `flush` syncs (once before the requests reach an outside venue, once for
        // the venue's answers), and no report is released before the sync that covers it.
        // One fsync per record would cost a sync per request and per execution.
        let writer_config = JournalConfig {
            fsync: match config.journal.fsync {
                FsyncPolicy::EveryRecord => FsyncPolicy::Never,
                other => other,
            },
            ..config.journal
        };
        let (journal, journal_report) = JournalWriter::open(&config.journal_dir, writer_config)?;
        // A torn tail was logged by the journal's recovery (segment, offset, bytes, copy).
        let mut state = State::new(config.limits, config.max_orders)?;
        for &(instrument, px) in &config.references {
            state.risk.update_reference(instrument, px);
        }
        let mut records = 0;
        let mut reader = JournalReader::open(&config.journal_dir, SeqNo(1))?;
        while let Some(record) = reader.next()? {
            state.replay(record.seq.get(), record.record_type, record.payload)?;
            records += 1;
        }
        let mut core = OrderCore {
            venue,
            journal,
            fsync: config.journal.fsync,
            state,
            instruments: config.instruments.into_iter().collect(),
            restoring: HashSet::new(),
            to_venue: VecDeque::with_capacity(1024),
            staged: VecDeque::with_capacity(1024),
            ready: VecDeque::with_capacity(1024),
            payload: Vec::with_capacity(256),
            outage: None,
        };
        let (open_orders, pending_requests) = core.resubmit();
        let report = RecoveryReport {
            journal: journal_report,
            records,
            orders: core.state.orders.len(),
            open_orders,
            pending_requests,
        };
        core.flush(now)?;
        Ok((core, report))
    }

    /// Queues every open order and pending request for the venue, in journal order.
    fn resubmit(&mut self) -> (usize, usize) {
        let mut open: Vec<(u64, Order)> = self
            .state
            .orders
            .open_orders(None)
            .filter_map(|o| {
                let entry = self.state.entries.get(&OrderKey::of(o))?;
                Some((entry.order_id, *o))
            })
            .collect();
        open.sort_unstable_by_key(|&(id, _)| id);
        for &(_, order) in &open {
            let acknowledged = order.live() != Live::PendingNew;
            let spec = OrderSpec {
                instrument: order.instrument(),
                account: order.account(),
                side: order.side(),
                ord_type: order.ord_type(),
                tif: order.tif(),
                price: order.price(),
                qty: order.qty().saturating_sub(order.cum_qty()),
            };
            if acknowledged {
                self.restoring.insert(OrderKey::of(&order));
            }
            let cmd = NewOrder::new(order.cl_ord_id(), &spec, TickCause::NONE)
                .with_post_only(order.post_only());
            self.to_venue.push_back(VenueCmd::New(cmd));
        }
        let mut pending: Vec<_> = self.state.pending.values().copied().collect();
        pending.sort_unstable_by_key(|p| p.seq);
        for p in &pending {
            let cmd = match p.kind {
                RequestKind::Cancel(cmd) => VenueCmd::Cancel(cmd),
                RequestKind::Replace(cmd, _) => {
                    // The venue took the order back with only its remaining quantity.
                    let cum = self
                        .state
                        .orders
                        .get(&p.target)
                        .map_or(Qty::ZERO, Order::cum_qty);
                    let spec = OrderSpec {
                        qty: cmd.qty().saturating_sub(cum),
                        ..cmd.spec()
                    };
                    VenueCmd::Replace(ReplaceOrder::new(
                        cmd.cl_ord_id(),
                        cmd.orig_cl_ord_id(),
                        &spec,
                        cmd.cause(),
                    ))
                }
            };
            self.to_venue.push_back(cmd);
        }
        (open.len(), pending.len())
    }

    /// The orders.
    pub fn orders(&self) -> &OrderStore {
        &self.state.orders
    }

    /// Pre-trade risk (usage, positions, kill switches).
    pub fn risk(&self) -> &RiskEngine {
        &self.state.risk
    }

    /// Pre-trade risk, to update reference prices or reload limits.
    pub fn risk_mut(&mut self) -> &mut RiskEngine {
        &mut self.state.risk
    }

    /// The venue session.
    pub fn venue(&self) -> &V {
        &self.venue
    }

    /// The venue session (to drain its market data, or seed it).
    pub fn venue_mut(&mut self) -> &mut V {
        &mut self.venue
    }

    /// Who entered the order under `key`, and its OrderID.
    pub fn origin_of(&self, key: &OrderKey) -> Option<(Origin, u64)> {
        self.state.entries.get(key).map(|e| (e.origin, e.order_id))
    }

    /// An RDMA client id no journaled order carries.
    pub fn next_rdma_client(&self) -> u32 {
        self.state.max_rdma_client.saturating_add(1)
    }

    /// The highest order-journal sequence number known to be on stable storage. Unless
    /// the fsync policy is `never`, every report [`poll_report`](Self::poll_report)
    /// releases after [`flush`](Self::flush) (after [`finish_sync`](Self::finish_sync)
    /// with [`flush_deferred`](Self::flush_deferred)) has an `exec_id` at or below it (or 0: a refusal the journal could not
    /// take, which acknowledges nothing).
    pub fn durable_seq(&self) -> u64 {
        self.journal.durable_seq().get()
    }

    /// Order-journal syncs (`fdatasync`s that covered new records) since open.
    pub fn sync_count(&self) -> u64 {
        self.journal.sync_count()
    }

    /// The next report for an origin, once the journal holds it.
    #[must_use]
    pub fn poll_report(&mut self) -> Option<Report> {
        self.ready.pop_front()
    }

    /// Appends one record: origin prefix, then `parts`. Returns its sequence number.
    fn append(
        &mut self,
        record_type: u16,
        now: VenueTime,
        origin: Origin,
        flags: u8,
        parts: &[&[u8]],
    ) -> Result<u64, CoreError> {
        self.payload.clear();
        self.payload.extend_from_slice(&prefix(origin, flags));
        for part in parts {
            self.payload.extend_from_slice(part);
        }
        let seq = self
            .journal
            .append(record_type, now.wall, &self.payload, now.mono)?;
        Ok(seq.get())
    }

    /// Like [`OrderCore::append`], but a write error that cost nothing except this record
    /// (see [`OrderCore::lost_only_this_record`]) is `Ok(Err(text))`: the caller refuses
    /// the request. Other failures stop the core. New orders and replaces are refused the
    /// same way while the journal cannot reserve its headroom (a nearly full disk): that
    /// space stays for the venue's answers to work already accepted, and for cancels.
    fn try_append(
        &mut self,
        record_type: u16,
        now: VenueTime,
        origin: Origin,
        flags: u8,
        parts: &[&[u8]],
    ) -> Result<Result<u64, String>, CoreError> {
        let adds_work = matches!(record_type, RECORD_ORDER_NEW | RECORD_REPLACE_REQUEST);
        if adds_work && !self.journal.is_poisoned() && !self.journal.has_headroom() {
            return Ok(Err(format!(
                "{JOURNAL_UNAVAILABLE_PREFIX}: no space left on device"
            )));
        }
        let attempted = self.journal.next_seq();
        match self.append(record_type, now, origin, flags, parts) {
            Ok(seq) => {
                if self.outage.take().is_some() {
                    tracing::warn!("order journal recovered; accepting orders again");
                }
                Ok(Ok(seq))
            }
            Err(CoreError::Journal(e)) if self.lost_only_this_record(&e, attempted) => {
                let text = outage_text(&e);
                if self.outage.is_none() {
                    tracing::warn!(error = %e, "order journal unavailable; refusing requests until it recovers");
                }
                let retry_at = self.outage.as_ref().map_or(now.mono, |o| o.retry_at);
                self.outage = Some(Outage {
                    text: text.clone(),
                    retry_at,
                });
                Ok(Err(text))
            }
            Err(e) => Err(e),
        }
    }

    /// Whether a failed append of the record numbered `attempted` lost nothing else: a
    /// writer already poisoned (it wrote nothing), or a write error with every earlier
    /// record durable, so neither the writer's rollback nor a later reopen takes back a
    /// record the state holds. Under group commit the earlier records of this duty cycle
    /// may not be synced yet: they are synced here, and if that fails too the core stops.
    fn lost_only_this_record(&mut self, error: &JournalError, attempted: SeqNo) -> bool {
        match error {
            JournalError::Poisoned => true,
            JournalError::Io { .. } => {
                let rolled_back = self.journal.next_seq() == attempted;
                if rolled_back
                    && self.journal.durable_seq().next() < attempted
                    && self.journal.sync().is_err()
                {
                    return false;
                }
                let earlier_durable = self.journal.durable_seq().next() >= attempted;
                earlier_durable && (rolled_back || self.journal.is_poisoned())
            }
            _ => false,
        }
    }

    /// Appends a refusal's record. A refusal acknowledges nothing, so if the journal
    /// cannot take it, it goes out unjournaled: ExecID 0.
    fn append_refusal(
        &mut self,
        now: VenueTime,
        origin: Origin,
        flags: u8,
        record: &[u8],
    ) -> Result<u64, CoreError> {
        Ok(self
            .try_append(RECORD_EXECUTION, now, origin, flags, &[record])?
            .unwrap_or(0))
    }

    /// The refusal text while a poisoned journal waits for its reopen.
    fn poisoned_text(&self) -> Option<String> {
        if !self.journal.is_poisoned() {
            return None;
        }
        Some(
            self.outage
                .as_ref()
                .map_or_else(|| outage_text(&JournalError::Poisoned), |o| o.text.clone()),
        )
    }

    /// Reopens a poisoned journal once its retry time has come; true if it is usable.
    fn retry_reopen(&mut self, now: Nanos) -> bool {
        if !self.journal.is_poisoned() {
            return true;
        }
        let due = self.outage.as_ref().is_none_or(|o| now >= o.retry_at);
        if !due {
            return false;
        }
        match self.journal.reopen() {
            Ok(report) => {
                tracing::warn!(?report, "order journal reopened; accepting orders again");
                self.outage = None;
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "order journal reopen failed; will retry");
                let text = outage_text(&e);
                self.outage = Some(Outage {
                    text,
                    retry_at: now.saturating_add(REOPEN_RETRY),
                });
                false
            }
        }
    }

    fn stage(&mut self, report: Report) {
        if report.origin != Origin::Gateway {
            self.staged.push_back(report);
        }
    }

    /// Open replace requests (each needs a slot for its successor).
    fn pending_replaces(&self) -> usize {
        self.state
            .pending
            .values()
            .filter(|p| matches!(p.kind, RequestKind::Replace(..)))
            .count()
    }

    fn store_full(&self) -> bool {
        self.state.orders.len() + self.pending_replaces() >= self.state.orders.capacity()
    }

    /// A new order from `origin`.
    pub fn handle_new(
        &mut self,
        now: VenueTime,
        origin: Origin,
        cmd: &NewOrder,
    ) -> Result<(), CoreError> {
        let spec = cmd.spec();
        let k = key(spec.account, cmd.cl_ord_id());
        if !self.instruments.contains(&spec.instrument) {
            let text = format!("unknown instrument {}", spec.instrument);
            return self.reject_new(now, origin, cmd, RejectReason::UnknownInstrument, text, 0);
        }
        if self.state.orders.contains(&k) || self.state.pending.contains_key(&k) {
            let text = format!("duplicate ClOrdID {}", k.cl_ord_id);
            return self.reject_new(now, origin, cmd, RejectReason::DuplicateClOrdId, text, 0);
        }
        if self.store_full() {
            let text = "order store full".to_owned();
            return self.reject_new(now, origin, cmd, RejectReason::Unspecified, text, 0);
        }
        if let Some(text) = self.poisoned_text() {
            return self.reject_new(now, origin, cmd, JOURNAL_UNAVAILABLE, text, 0);
        }
        let checked =
            self.state
                .risk
                .check_new(now.mono, origin.risk_session(), cmd.cl_ord_id(), &spec);
        let exposure = match checked {
            Ok(exposure) => exposure,
            Err(reject) => {
                let flags = if risk_claimed(&reject) {
                    FLAG_RISK_CLAIMED
                } else {
                    0
                };
                return self.reject_new(
                    now,
                    origin,
                    cmd,
                    reject.reason(),
                    reject.to_string(),
                    flags,
                );
            }
        };
        let px = exposure.reserve_px.ticks().to_le_bytes();
        let seq = match self.try_append(RECORD_ORDER_NEW, now, origin, 0, &[&px, cmd.as_bytes()])? {
            Ok(seq) => seq,
            Err(text) => {
                self.state.risk.release(&exposure, spec.qty);
                return self.reject_new(now, origin, cmd, JOURNAL_UNAVAILABLE, text, 0);
            }
        };
        self.state
            .apply_new(seq, origin, exposure.reserve_px, cmd, false)?;
        self.to_venue.push_back(VenueCmd::New(*cmd));
        Ok(())
    }

    /// Refuses a new order: journaled, reported with `reason` and `text`.
    fn reject_new(
        &mut self,
        now: VenueTime,
        origin: Origin,
        cmd: &NewOrder,
        reason: RejectReason,
        text: String,
        flags: u8,
    ) -> Result<(), CoreError> {
        let meta = ExecMeta {
            instrument: cmd.instrument(),
            account: cmd.account(),
            cl_ord_id: cmd.cl_ord_id(),
            order_id: 0,
            transact_time: now.wall,
            gateway_ts: now.mono,
        };
        let record = OrderRejected::new(meta, reason);
        let flags = flags | FLAG_LOCAL_REJECT;
        let seq = self.append_refusal(now, origin, flags, record.as_bytes())?;
        let mut order = Order::from_command(cmd, Price::ZERO);
        // PendingNew → Rejected is always legal.
        let _ = order.apply(OrderEvent::OrderRejected);
        self.stage(Report {
            origin,
            exec_id: seq,
            event: Execution::Rejected(record),
            order: Some(order),
            text: Some(text),
        });
        Ok(())
    }

    /// Refuses a cancel or replace request: journaled, reported as a CancelRejected.
    #[allow(clippy::too_many_arguments)]
    fn reject_request(
        &mut self,
        now: VenueTime,
        origin: Origin,
        request: OrderKey,
        target: OrderKey,
        instrument: InstrumentId,
        response_to: CxlRejResponseTo,
        reason: RejectReason,
        text: String,
        flags: u8,
    ) -> Result<(), CoreError> {
        let order_id = self.state.entries.get(&target).map_or(0, |e| e.order_id);
        let meta = ExecMeta {
            instrument,
            account: request.account,
            cl_ord_id: request.cl_ord_id,
            order_id,
            transact_time: now.wall,
            gateway_ts: now.mono,
        };
        let record = CancelRejected::new(meta, target.cl_ord_id, response_to, reason);
        let flags = flags | FLAG_LOCAL_REJECT;
        let seq = self.append_refusal(now, origin, flags, record.as_bytes())?;
        self.stage(Report {
            origin,
            exec_id: seq,
            event: Execution::CancelRejected(record),
            order: self.state.orders.get(&target).copied(),
            text: Some(text),
        });
        Ok(())
    }

    /// Checks common to cancels and replaces; the refusal if any.
    fn check_request(
        &self,
        request: OrderKey,
        target: OrderKey,
        instrument: InstrumentId,
        side: tickwarp_wire::Side,
    ) -> Option<(RejectReason, String)> {
        let Some(order) = self.state.orders.get(&target) else {
            return Some((
                RejectReason::UnknownOrder,
                format!("unknown order {}", target.cl_ord_id),
            ));
        };
        if order.instrument() != instrument || order.side() != side {
            return Some((
                RejectReason::UnknownOrder,
                format!(
                    "instrument or side does not match order {}",
                    target.cl_ord_id
                ),
            ));
        }
        let status = order.status();
        if status.is_done() {
            return Some((RejectReason::TooLateToCancel, format!("order is {status}")));
        }
        if matches!(status, OrdStatus::PendingCancel | OrdStatus::PendingReplace) {
            return Some((
                RejectReason::Unspecified,
                format!("order is {status}: one request at a time"),
            ));
        }
        if self.state.orders.contains(&request) || self.state.pending.contains_key(&request) {
            return Some((
                RejectReason::DuplicateClOrdId,
                format!("duplicate ClOrdID {}", request.cl_ord_id),
            ));
        }
        None
    }

    /// A cancel request from `origin`.
    pub fn handle_cancel(
        &mut self,
        now: VenueTime,
        origin: Origin,
        cmd: &CancelOrder,
    ) -> Result<(), CoreError> {
        let request = key(cmd.account(), cmd.cl_ord_id());
        let target = key(cmd.account(), cmd.orig_cl_ord_id());
        let to = CxlRejResponseTo::Cancel;
        let instrument = cmd.instrument();
        if let Err(reject) = self
            .state
            .risk
            .check_cancel(now.mono, origin.risk_session())
        {
            let text = reject.to_string();
            return self.reject_request(
                now,
                origin,
                request,
                target,
                instrument,
                to,
                reject.reason(),
                text,
                0,
            );
        }
        if let Some((reason, text)) = self.check_request(request, target, instrument, cmd.side()) {
            return self.reject_request(
                now, origin, request, target, instrument, to, reason, text, 0,
            );
        }
        let seq = match self.try_append(RECORD_CANCEL_REQUEST, now, origin, 0, &[cmd.as_bytes()])? {
            Ok(seq) => seq,
            Err(text) => {
                let reason = JOURNAL_UNAVAILABLE;
                return self.reject_request(
                    now, origin, request, target, instrument, to, reason, text, 0,
                );
            }
        };
        self.state.apply_cancel_request(seq, origin, cmd)?;
        self.to_venue.push_back(VenueCmd::Cancel(*cmd));
        Ok(())
    }

    /// A cancel/replace request from `origin`.
    pub fn handle_replace(
        &mut self,
        now: VenueTime,
        origin: Origin,
        cmd: &ReplaceOrder,
    ) -> Result<(), CoreError> {
        let spec = cmd.spec();
        let request = key(spec.account, cmd.cl_ord_id());
        let target = key(spec.account, cmd.orig_cl_ord_id());
        let to = CxlRejResponseTo::Replace;
        let refusal = self
            .check_request(request, target, spec.instrument, spec.side)
            .or_else(|| {
                let order = self.state.orders.get(&target)?;
                if order.ord_type() != spec.ord_type || order.tif() != spec.tif {
                    Some((
                        RejectReason::Unspecified,
                        "a replace may not change the order type or time in force".to_owned(),
                    ))
                } else if spec.qty <= order.cum_qty() {
                    Some((
                        RejectReason::InvalidQty,
                        format!(
                            "quantity {} not above the {} traded",
                            spec.qty,
                            order.cum_qty()
                        ),
                    ))
                } else if self.store_full() {
                    Some((RejectReason::Unspecified, "order store full".to_owned()))
                } else {
                    None
                }
            });
        if let Some((reason, text)) = refusal {
            return self.reject_request(
                now,
                origin,
                request,
                target,
                spec.instrument,
                to,
                reason,
                text,
                0,
            );
        }
        let (Some(order), Some(entry)) = (
            self.state.orders.get(&target).copied(),
            self.state.entries.get(&target).copied(),
        ) else {
            return Err(ApplyError::UnknownOrder(target).into());
        };
        let checked = self.state.risk.check_replace(
            now.mono,
            origin.risk_session(),
            cmd.cl_ord_id(),
            (&entry.exposure, order.leaves_qty()),
            order.cum_qty(),
            &spec,
        );
        let exposure = match checked {
            Ok(exposure) => exposure,
            Err(reject) => {
                let flags = if risk_claimed(&reject) {
                    FLAG_RISK_CLAIMED
                } else {
                    0
                };
                let text = reject.to_string();
                return self.reject_request(
                    now,
                    origin,
                    request,
                    target,
                    spec.instrument,
                    to,
                    reject.reason(),
                    text,
                    flags,
                );
            }
        };
        let px = exposure.reserve_px.ticks().to_le_bytes();
        let appended = self.try_append(
            RECORD_REPLACE_REQUEST,
            now,
            origin,
            0,
            &[&px, cmd.as_bytes()],
        )?;
        let seq = match appended {
            Ok(seq) => seq,
            Err(text) => {
                return self.reject_request(
                    now,
                    origin,
                    request,
                    target,
                    spec.instrument,
                    to,
                    JOURNAL_UNAVAILABLE,
                    text,
                    0,
                );
            }
        };
        self.state
            .apply_replace_request(seq, origin, exposure.reserve_px, cmd, false)?;
        self.to_venue.push_back(VenueCmd::Replace(*cmd));
        Ok(())
    }

    /// Engages the kill switch for `scope`: new orders and replaces are refused and every
    /// open order in scope is canceled. Returns the number of cancels issued.
    pub fn engage_kill_switch(
        &mut self,
        now: VenueTime,
        scope: KillScope,
    ) -> Result<usize, CoreError> {
        self.append(
            RECORD_KILL_SWITCH,
            now,
            Origin::Gateway,
            0,
            &[&kill_body(true, scope)],
        )?;
        let keys = self
            .state
            .risk
            .engage_kill_switch(scope, &self.state.orders);
        let mut issued = 0;
        for k in keys {
            let Some(order) = self.state.orders.get(&k).copied() else {
                continue;
            };
            // The kill switch's cancel of an order uses the order's own ClOrdID.
            if self.state.pending.contains_key(&k) {
                continue;
            }
            let cmd = CancelOrder::new(
                k.cl_ord_id,
                k.cl_ord_id,
                order.instrument(),
                k.account,
                order.side(),
                TickCause::NONE,
            );
            let seq = self.append(
                RECORD_CANCEL_REQUEST,
                now,
                Origin::Gateway,
                0,
                &[cmd.as_bytes()],
            )?;
            self.state
                .apply_cancel_request(seq, Origin::Gateway, &cmd)?;
            self.to_venue.push_back(VenueCmd::Cancel(cmd));
            issued += 1;
        }
        Ok(issued)
    }

    /// Disengages the kill switch for `scope`.
    pub fn revive(&mut self, now: VenueTime, scope: KillScope) -> Result<(), CoreError> {
        self.append(
            RECORD_KILL_SWITCH,
            now,
            Origin::Gateway,
            0,
            &[&kill_body(false, scope)],
        )?;
        self.state.apply_kill(false, scope);
        Ok(())
    }

    /// Makes everything journaled durable (by the fsync policy), then hands queued
    /// commands to the venue, journals its executions, and repeats until the venue is
    /// quiet; the reports are then ready. A venue that needs no write-ahead (see
    /// [`VenueSession::needs_write_ahead`]) gets the commands before the sync, and one
    /// sync at the end covers the duty cycle. Call once per duty cycle. Returns the venue
    /// executions handled.
    pub fn flush(&mut self, now: VenueTime) -> Result<usize, CoreError> {
        self.flush_with(now, false)
    }

    /// [`OrderCore::flush`] for a driver that syncs the order journal in its own sync
    /// round: the last sync of the duty cycle is left out and the reports are ready
    /// before it. The driver must then call [`OrderCore::begin_sync`] before it routes
    /// the reports, and let nothing they carry leave before [`OrderCore::finish_sync`]
    /// accepted the outcome (the FIX acceptor's outboxes hold them until its round).
    pub fn flush_deferred(&mut self, now: VenueTime) -> Result<usize, CoreError> {
        self.flush_with(now, true)
    }

    /// The order journal's share of a sync round: writes its commit mark and returns the
    /// ticket to sync (see `JournalWriter::begin_sync`); `None` under
    /// [`FsyncPolicy::Never`], when everything is durable, or while the journal is
    /// poisoned (its reports wait for the reopen).
    pub fn begin_sync(&mut self) -> Result<Option<SyncTicket>, CoreError> {
        if self.fsync == FsyncPolicy::Never || self.journal.is_poisoned() {
            return Ok(None);
        }
        Ok(self.journal.begin_sync()?)
    }

    /// Takes the outcome of the ticket from [`OrderCore::begin_sync`]; a failed sync
    /// poisons the journal and stops the core, as in [`OrderCore::flush`].
    pub fn finish_sync(
        &mut self,
        ticket: &SyncTicket,
        synced: std::io::Result<()>,
    ) -> Result<(), CoreError> {
        Ok(self.journal.finish_sync(ticket, synced)?)
    }

    fn flush_with(&mut self, now: VenueTime, defer_last_sync: bool) -> Result<usize, CoreError> {
        let mut handled = 0;
        if !self.retry_reopen(now.mono) {
            // Every append fails while the writer is poisoned: release only the reports
            // whose records are durable (and unjournaled refusals, ExecID 0); the venue
            // waits for the reopen.
            let durable = self.journal.durable_seq().get();
            while self.staged.front().is_some_and(|r| r.exec_id <= durable) {
                self.ready.extend(self.staged.pop_front());
            }
            return Ok(handled);
        }
        let write_ahead = self.venue.needs_write_ahead();
        loop {
            handled += self.drain_venue(now)?;
            if write_ahead || self.to_venue.is_empty() {
                if !(defer_last_sync && self.to_venue.is_empty()) {
                    self.sync()?;
                }
                self.ready.extend(self.staged.drain(..));
            }
            if self.to_venue.is_empty() {
                return Ok(handled);
            }
            while let Some(cmd) = self.to_venue.pop_front() {
                match cmd {
                    VenueCmd::New(c) => self.venue.submit_new(now, &c),
                    VenueCmd::Cancel(c) => self.venue.submit_cancel(now, &c),
                    VenueCmd::Replace(c) => self.venue.submit_replace(now, &c),
                }
            }
        }
    }

    /// Syncs the order journal and marks its segment cleanly closed; call on shutdown.
    pub fn close(&mut self) -> Result<(), CoreError> {
        Ok(self.journal.close()?)
    }

    fn sync(&mut self) -> Result<(), CoreError> {
        if self.fsync != FsyncPolicy::Never {
            self.journal.sync()?;
        }
        Ok(())
    }

    fn drain_venue(&mut self, now: VenueTime) -> Result<usize, CoreError> {
        let mut handled = 0;
        while let Some(exec) = self.venue.poll_execution() {
            handled += 1;
            let Some(outcome) = self.translate(&exec) else {
                continue;
            };
            if let Err(e) = self.state.apply_execution(&outcome.record) {
                tracing::warn!(error = %e, ?exec, "venue execution does not apply; ignored");
                continue;
            }
            let bytes = execution_bytes(&outcome.record);
            let seq = self.append(RECORD_EXECUTION, now, outcome.route, 0, &[bytes])?;
            let order = self.state.orders.get(&outcome.order).copied();
            self.stage(Report {
                origin: outcome.route,
                exec_id: seq,
                event: outcome.record,
                order,
                text: outcome.text,
            });
        }
        Ok(handled)
    }

    /// The gateway's record of a venue execution (its OrderID, its quantities across
    /// restarts and replace chains) and whom to tell; `None` for executions of orders
    /// that are not the gateway's (house liquidity) or that are not news (the venue
    /// taking back a restored order).
    fn translate(&mut self, exec: &Execution) -> Option<Outcome> {
        let state = &self.state;
        match exec {
            Execution::Accepted(a) => {
                let k = key(a.account(), a.cl_ord_id());
                if self.restoring.remove(&k) {
                    return None;
                }
                let e = state.entries.get(&k)?;
                let meta = meta_for(a.meta(), k.cl_ord_id, e.order_id);
                Some(Outcome {
                    record: Execution::Accepted(OrderAccepted::new(
                        meta,
                        a.side(),
                        a.ord_type(),
                        a.tif(),
                    )),
                    route: e.origin,
                    order: k,
                    text: None,
                })
            }
            Execution::Rejected(r) => {
                let k = key(r.account(), r.cl_ord_id());
                let e = state.entries.get(&k)?;
                let order = state.orders.get(&k)?;
                let meta = meta_for(r.meta(), k.cl_ord_id, e.order_id);
                if self.restoring.remove(&k) {
                    // The venue would not take an acknowledged order back after a restart.
                    let record =
                        OrderCanceled::new(meta, None, order.leaves_qty(), order.cum_qty());
                    return Some(Outcome {
                        record: Execution::Canceled(record),
                        route: e.origin,
                        order: k,
                        text: Some(format!(
                            "venue refused the order on restart: {}",
                            r.reason()
                        )),
                    });
                }
                Some(Outcome {
                    record: Execution::Rejected(OrderRejected::new(meta, r.reason())),
                    route: e.origin,
                    order: k,
                    text: Some(format!("venue rejected the order: {}", r.reason())),
                })
            }
            Execution::Filled(f) => {
                let k = key(f.account(), f.cl_ord_id());
                let e = state.entries.get(&k)?;
                let order = state.orders.get(&k)?;
                let venue_fill = f.fill();
                let fill = Fill {
                    exec_id: venue_fill.exec_id,
                    last_px: venue_fill.last_px,
                    last_qty: venue_fill.last_qty,
                    cum_qty: Qty(order.cum_qty().0.saturating_add(venue_fill.last_qty.0)),
                    leaves_qty: order.leaves_qty().saturating_sub(venue_fill.last_qty),
                };
                let meta = meta_for(f.meta(), k.cl_ord_id, e.order_id);
                Some(Outcome {
                    record: Execution::Filled(OrderFilled::new(meta, f.side(), fill)),
                    route: e.origin,
                    order: k,
                    text: None,
                })
            }
            Execution::Canceled(c) => {
                let target = key(c.account(), c.orig_cl_ord_id().unwrap_or(c.cl_ord_id()));
                let e = state.entries.get(&target)?;
                let order = state.orders.get(&target)?;
                let request = state
                    .pending
                    .get(&key(c.account(), c.cl_ord_id()))
                    .filter(|p| p.target == target);
                let killed = request.is_some_and(|p| p.origin == Origin::Gateway);
                let (route, orig, text) = match request {
                    Some(p) if !killed => (p.origin, c.orig_cl_ord_id(), None),
                    _ if killed => (
                        e.origin,
                        None,
                        Some("canceled by the gateway (kill switch, mass cancel or cancel on disconnect)".to_owned()),
                    ),
                    _ => (e.origin, None, None),
                };
                let meta = meta_for(c.meta(), c.cl_ord_id(), e.order_id);
                let record = OrderCanceled::new(meta, orig, order.leaves_qty(), order.cum_qty());
                Some(Outcome {
                    record: Execution::Canceled(record),
                    route,
                    order: target,
                    text,
                })
            }
            Execution::CancelRejected(cr) => {
                let request = key(cr.account(), cr.cl_ord_id());
                let p = state.pending.get(&request)?;
                let order_id = state.entries.get(&p.target).map_or(0, |e| e.order_id);
                let meta = meta_for(cr.meta(), request.cl_ord_id, order_id);
                let record =
                    CancelRejected::new(meta, cr.orig_cl_ord_id(), cr.response_to(), cr.reason());
                Some(Outcome {
                    record: Execution::CancelRejected(record),
                    route: p.origin,
                    order: p.target,
                    text: Some(format!("venue refused the request: {}", cr.reason())),
                })
            }
            Execution::Replaced(rp) => {
                let new_key = key(rp.account(), rp.cl_ord_id());
                let p = state.pending.get(&new_key)?;
                let RequestKind::Replace(cmd, _) = p.kind else {
                    return None;
                };
                let e = state.entries.get(&p.target)?;
                let order = state.orders.get(&p.target)?;
                let cum = order.cum_qty();
                let replaced = Replaced {
                    price: cmd.price(),
                    qty: cmd.qty(),
                    leaves_qty: cmd.qty().saturating_sub(cum),
                    cum_qty: cum,
                };
                let meta = meta_for(rp.meta(), new_key.cl_ord_id, e.order_id);
                Some(Outcome {
                    record: Execution::Replaced(OrderReplaced::new(
                        meta,
                        rp.orig_cl_ord_id(),
                        replaced,
                    )),
                    route: p.origin,
                    order: new_key,
                    text: None,
                })
            }
        }
    }
}

/// The wire bytes of an execution record.
pub fn execution_bytes(exec: &Execution) -> &[u8] {
    match exec {
        Execution::Accepted(r) => r.as_bytes(),
        Execution::Rejected(r) => r.as_bytes(),
        Execution::Filled(r) => r.as_bytes(),
        Execution::Canceled(r) => r.as_bytes(),
        Execution::CancelRejected(r) => r.as_bytes(),
        Execution::Replaced(r) => r.as_bytes(),
    }
}

#[cfg(test)]
mod tests;

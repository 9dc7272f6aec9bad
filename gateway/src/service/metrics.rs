//! [`GatewayMetrics`]: the gateway's counters in a counters file
//! ([`tickwarp_metrics::CountersFile`]), read live by `tickwarp stat` and served on
//! `/metrics` by an exporter thread when `[metrics] listen` is set ([`MetricsSection`]).
//!
//! ```toml
//! [metrics]
//! dir = "/var/lib/tickwarp/gateway/metrics"  # default: <journal.dir>/metrics
//! listen = "127.0.0.1:9464"                  # optional: Prometheus /metrics
//! allow_remote = false                       # a non-loopback listen needs true
//! ```
//!
//! What is counted, all on the gateway's duty-cycle thread (the only writer):
//!
//! | family | what |
//! |---|---|
//! | `tickwarp_gateway_orders_total{result}` | new orders the order core answered (FIX and RDMA): `accepted`, `rejected_<reason>` (one per wire [`RejectReason`], `rejected_journal_unavailable`, `rejected_other`); a NewOrderSingle the FIX session layer refuses (Reject, BusinessMessageReject) never reaches the core and is only in the message counts |
//! | `tickwarp_gateway_cancels_total` | orders canceled (asked for, unsolicited IOC/FOK rests, kill switch) |
//! | `tickwarp_gateway_executions_total` | fills (partial and full) |
//! | `tickwarp_fix_sessions_logged_on` | FIX sessions logged on (gauge, updated on cycles that did work) |
//! | `tickwarp_fix_messages_total{direction}` | FIX frames received (`in`) and messages sent with a new MsgSeqNum (`out`) |
//! | `tickwarp_fix_resends_total` | ResendRequests received and served |
//! | `tickwarp_journal_syncs_total` | order-journal fsyncs |
//! | `tickwarp_journal_sync_seconds` | each durable point of a duty cycle that synced: the flush with its write-ahead fsync, and the sync round (order journal and session stores at once) |
//! | `tickwarp_order_ack_latency_seconds` | from the duty cycle that read a new order (the time the core and the venue stamp as its `gateway_ts`) to the end of the cycle that wrote its ack or reject |
//! | `tickwarp_gateway_duty_cycles_total`, `tickwarp_gateway_work_total` | duty cycles run and the work they reported |
//! | `tickwarp_gateway_cycle_seconds` | time between the starts of consecutive duty cycles (Aeron's duty-cycle tracker: work plus idle) |
//!
//!
//! With RDMA order entry on (`[rdma]`), its own families and the transport's, copied
//! from [`RdmaEntry`]'s plain counters, the accept thread's admission counters and the
//! connections' [`TransportStats`] at the end of each duty cycle that did work (a
//! connection taken or closed, a refusal, a message in or out is work):
//!
//! | family | what |
//! |---|---|
//! | `tickwarp_rdma_entry_connections` | clients connected (gauge) |
//! | `tickwarp_rdma_entry_connections_total{result}` | connection requests: `accepted` (taken by the duty cycle), `rejected_auth` (credential missing, malformed or wrong), `rejected_locked_out`, `rejected_capacity` (connection cap or memory budget) |
//! | `tickwarp_rdma_entry_closes_total{reason}` | connections closed: `peer` (disconnect, transport failure, Terminate), `bad_message` (not an order command), `slow_reader` (executions not read) |
//! | `tickwarp_rdma_entry_messages_total{direction}` | messages received (`in`) and execution records sent (`out`) |
//! | `tickwarp_rdma_entry_account_mismatches_total` | commands for another account than the connection's, refused |
//! | `tickwarp_rdma_entry_outbox` | execution records waiting for client credit (gauge) |
//! | `tickwarp_transport_connections` | transport connections open (gauge) |
//! | `tickwarp_transport_connections_opened_total`, `tickwarp_transport_connections_closed_total` | transport connections opened and closed |
//! | `tickwarp_transport_bytes_total{direction}` | stream bytes `sent` and `received` after connection setup (soft iWARP; a hardware RNIC counts in its port counters) |
//! | `tickwarp_transport_terminates_total{direction,layer,code}` | Terminates `sent` and `received`, one series per RFC 5040/5041/5044 cause ([`TERMINATE_LABELS`]), anything else under `code="other"` |
//! | `tickwarp_transport_credit_stalls_total` | sends to a client that found it out of credit (once per stall) |
//!
//! RDMA orders are counted in the order families like FIX ones.
//!
//! Times: the duty cycle's `now` and, for the two durations, reads of
//! `tickwarp_runtime::clock` taken only on cycles that did work. The ack latency needs
//! the time the acks left, so it is recorded by [`crate::service::GatewayAgent`]'s
//! `do_work` after the cycle; a caller that drives `step` with its own clock records
//! none.
//!
//! What this module must not do: allocate, lock or block when recording (a test proves
//! it), or record from any thread but the gateway's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tickwarp_metrics::{
    Counter, CountersFile, Exporter, Gauge, Histogram, MetricsError, ProcessInfo,
};
use tickwarp_runtime::{Nanos, clock};
use tickwarp_wire::RejectReason;

use tickwarp_rdma::TransportStats;
use tickwarp_rdma::stats::TERMINATE_LABELS;

use super::acceptor::FixAcceptor;
use super::core::{JOURNAL_UNAVAILABLE, Report};
use super::rdma_entry::RdmaEntry;
use crate::fix::Now;
use crate::venue::Execution;

/// Slots of the gateway's counters file.
const CAPACITY: usize = 384;
/// Terminate causes with a series each (every RFC cause and `other`).
const TERMINATES: usize = TERMINATE_LABELS.len();
/// Distinct order times waiting for their acks' write in one duty cycle; more merge
/// into the last (in practice one: every ack of a cycle answers that cycle's orders).
const PENDING_TIMES: usize = 64;
/// Wire reject reasons with a label of their own (codes 0..=20).
const NAMED_REASONS: [&str; 21] = [
    "rejected_unspecified",
    "rejected_unknown_instrument",
    "rejected_unknown_account",
    "rejected_duplicate_cl_ord_id",
    "rejected_invalid_price",
    "rejected_invalid_qty",
    "rejected_max_qty_exceeded",
    "rejected_max_notional_exceeded",
    "rejected_price_outside_collar",
    "rejected_insufficient_credit",
    "rejected_rate_limited",
    "rejected_kill_switch",
    "rejected_market_closed",
    "rejected_unknown_order",
    "rejected_too_late_to_cancel",
    "rejected_venue_rejected",
    "rejected_restricted_instrument",
    "rejected_position_limit",
    "rejected_max_orders_per_day",
    "rejected_no_reference_price",
    "rejected_would_cross",
];

/// The `[metrics]` section of the gateway configuration (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// The run directory of the counters file (default `<journal.dir>/metrics`).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Where the exporter serves `GET /metrics`; none: no exporter.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Accept a non-loopback `listen` (the metrics then reach the network unencrypted
    /// and unauthenticated).
    #[serde(default)]
    pub allow_remote: bool,
}

impl MetricsSection {
    /// The run directory, given the journal directory.
    pub fn dir(&self, journal_dir: &Path) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| journal_dir.join("metrics"))
    }

    /// Checks `listen` against `allow_remote`.
    pub fn validate(&self) -> Result<(), String> {
        match self.listen {
            Some(addr) if !addr.ip().is_loopback() && !self.allow_remote => Err(format!(
                "metrics.listen = {addr} is not a loopback address: /metrics has no \
                 authentication or TLS; set metrics.allow_remote = true to serve it anyway"
            )),
            _ => Ok(()),
        }
    }
}

/// The gateway's metrics (see the module docs).
#[derive(Debug)]
pub struct GatewayMetrics {
    accepted: Counter,
    rejected: [Counter; NAMED_REASONS.len()],
    rejected_journal: Counter,
    rejected_other: Counter,
    cancels: Counter,
    executions: Counter,
    logged_on: Gauge,
    messages_in: Counter,
    messages_out: Counter,
    resends: Counter,
    syncs: Counter,
    sync_time: Histogram,
    ack_latency: Histogram,
    cycles: Counter,
    work: Counter,
    cycle_time: Histogram,
    last_cycle: Option<Nanos>,
    /// `(order time, acks)` of the acks routed this cycle, for [`Self::acks_written`].
    pending: [(Nanos, u64); PENDING_TIMES],
    pending_len: usize,
    rdma: Option<RdmaMetrics>,
    // Declared last: dropped after the handles and the exporter that read it.
    exporter: Option<Exporter>,
    file: CountersFile,
}

impl GatewayMetrics {
    /// Creates the counters file in `section`'s directory (`journal_dir/metrics` by
    /// default), registers every family (RDMA order entry's and the transport's if
    /// `rdma_entry`) and starts the exporter if `listen` is set.
    pub fn open(
        section: &MetricsSection,
        journal_dir: &Path,
        now: Now,
        rdma_entry: bool,
    ) -> Result<GatewayMetrics, MetricsError> {
        let info = ProcessInfo {
            pid: std::process::id(),
            start_unix_nanos: now.wall.get(),
            name: "tickwarp gateway".to_owned(),
        };
        let mut f = CountersFile::create(&section.dir(journal_dir), &info, CAPACITY)?;
        const ORDERS: &str = "tickwarp_gateway_orders_total";
        const ORDERS_HELP: &str = "New orders answered, by result (accepted or rejected_<reason>).";
        let accepted = f.counter(ORDERS, &[("result", "accepted")], ORDERS_HELP)?;
        let mut rejected = Vec::with_capacity(NAMED_REASONS.len());
        for label in NAMED_REASONS {
            rejected.push(f.counter(ORDERS, &[("result", label)], ORDERS_HELP)?);
        }
        let rejected: [Counter; NAMED_REASONS.len()] = rejected
            .try_into()
            .map_err(|_| MetricsError::Full { capacity: CAPACITY })?;
        let journal = [("result", "rejected_journal_unavailable")];
        let rejected_journal = f.counter(ORDERS, &journal, ORDERS_HELP)?;
        let rejected_other = f.counter(ORDERS, &[("result", "rejected_other")], ORDERS_HELP)?;
        const MESSAGES: &str = "tickwarp_fix_messages_total";
        const MESSAGES_HELP: &str =
            "FIX frames received (in) and messages sent with a new MsgSeqNum (out).";
        let mut metrics = GatewayMetrics {
            accepted,
            rejected,
            rejected_journal,
            rejected_other,
            cancels: f.counter(
                "tickwarp_gateway_cancels_total",
                &[],
                "Orders canceled (requested, unsolicited or by the kill switch).",
            )?,
            executions: f.counter(
                "tickwarp_gateway_executions_total",
                &[],
                "Fills (partial and full).",
            )?,
            logged_on: f.gauge(
                "tickwarp_fix_sessions_logged_on",
                &[],
                "FIX sessions logged on.",
            )?,
            messages_in: f.counter(MESSAGES, &[("direction", "in")], MESSAGES_HELP)?,
            messages_out: f.counter(MESSAGES, &[("direction", "out")], MESSAGES_HELP)?,
            resends: f.counter(
                "tickwarp_fix_resends_total",
                &[],
                "FIX ResendRequests received and served.",
            )?,
            syncs: f.counter("tickwarp_journal_syncs_total", &[], "Order journal fsyncs.")?,
            sync_time: f.histogram(
                "tickwarp_journal_sync_seconds",
                &[],
                "Durable points of the duty cycle that synced (write-ahead flush, sync round).",
            )?,
            ack_latency: f.histogram(
                "tickwarp_order_ack_latency_seconds",
                &[],
                "New order read to its ack or reject written.",
            )?,
            cycles: f.counter(
                "tickwarp_gateway_duty_cycles_total",
                &[],
                "Gateway duty cycles.",
            )?,
            work: f.counter(
                "tickwarp_gateway_work_total",
                &[],
                "Work reported by the gateway's duty cycles.",
            )?,
            cycle_time: f.histogram(
                "tickwarp_gateway_cycle_seconds",
                &[],
                "Time between the starts of consecutive gateway duty cycles.",
            )?,
            last_cycle: None,
            pending: [(Nanos(0), 0); PENDING_TIMES],
            pending_len: 0,
            rdma: None,
            exporter: None,
            file: f,
        };
        if rdma_entry {
            metrics.rdma = Some(RdmaMetrics::register(&mut metrics.file)?);
        }
        if let Some(listen) = section.listen {
            metrics.exporter = Some(Exporter::start(listen, metrics.file.path())?);
        }
        Ok(metrics)
    }

    /// The counters file.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Where `/metrics` is served, if it is.
    pub fn exporter_addr(&self) -> Option<SocketAddr> {
        self.exporter.as_ref().map(Exporter::local_addr)
    }

    /// The start of a duty cycle at `now`.
    pub(crate) fn cycle_started(&mut self, now: Nanos) {
        if let Some(last) = self.last_cycle {
            self.cycle_time.record(now.0.saturating_sub(last.0));
        }
        self.last_cycle = Some(now);
        // Acks a caller of `step` never reported written are not timed.
        self.pending_len = 0;
    }

    /// A report routed to its origin.
    pub(crate) fn report_routed(&mut self, report: &Report) {
        let ordered = match &report.event {
            Execution::Accepted(a) => {
                self.accepted.inc();
                a.gateway_ts()
            }
            Execution::Rejected(r) => {
                let reason = r.reason();
                let code = usize::from(reason.to_u16());
                match self.rejected.get_mut(code) {
                    Some(c) if !matches!(reason, RejectReason::Other(_)) => c.inc(),
                    _ if reason == JOURNAL_UNAVAILABLE => self.rejected_journal.inc(),
                    _ => self.rejected_other.inc(),
                }
                r.gateway_ts()
            }
            Execution::Filled(_) => {
                self.executions.inc();
                return;
            }
            Execution::Canceled(_) => {
                self.cancels.inc();
                return;
            }
            Execution::CancelRejected(_) | Execution::Replaced(_) => return,
        };
        match self.pending.get_mut(..self.pending_len) {
            Some([.., (t, n)]) if *t == ordered => *n += 1,
            _ => {
                if let Some(slot) = self.pending.get_mut(self.pending_len) {
                    *slot = (ordered, 1);
                    self.pending_len += 1;
                } else if let Some((_, n)) = self.pending.last_mut() {
                    *n += 1;
                }
            }
        }
    }

    /// A clock read for a duration, on cycles that did work only.
    pub(crate) fn time_if(&self, busy: bool) -> Option<Nanos> {
        busy.then(clock::monotonic_now)
    }

    /// A durable point that began at `start` (see [`Self::time_if`]) ended now, and
    /// synced if `synced`.
    pub(crate) fn synced_since(&mut self, start: Option<Nanos>, synced: bool) {
        if let (Some(start), true) = (start, synced) {
            let end = clock::monotonic_now();
            self.sync_time.record(end.0.saturating_sub(start.0));
        }
    }

    /// The end of a duty cycle that did `work` and ran `syncs` order-journal fsyncs.
    pub(crate) fn cycle_done(
        &mut self,
        work: usize,
        syncs: u64,
        fix: &mut FixAcceptor,
        rdma: Option<&RdmaEntry>,
    ) {
        self.cycles.inc();
        if work == 0 {
            return;
        }
        if let (Some(m), Some(entry)) = (self.rdma.as_mut(), rdma) {
            m.observe(entry);
        }
        self.work.add(work as u64);
        self.syncs.add(syncs);
        let counts = fix.take_message_counts();
        self.messages_in.add(counts.received);
        self.messages_out.add(counts.sent);
        self.resends.add(counts.resend_requests);
        self.logged_on.set(fix.sessions_logged_on() as u64);
    }

    /// The acks of this cycle were written: records their latencies, reading the clock
    /// only if there were any.
    pub(crate) fn acks_written(&mut self) {
        if self.pending_len == 0 {
            return;
        }
        let now = clock::monotonic_now();
        for &(ordered, n) in self.pending.get(..self.pending_len).unwrap_or_default() {
            self.ack_latency
                .record_n(now.0.saturating_sub(ordered.0), n);
        }
        self.pending_len = 0;
    }
}

/// Brings a counter up to `total` (a cumulative count its source keeps).
fn catch_up(counter: &mut Counter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.add(total - now);
    }
}

/// RDMA order entry's and the transport's families (see the module docs).
#[derive(Debug)]
struct RdmaMetrics {
    connections: Gauge,
    accepted: Counter,
    rejected_auth: Counter,
    rejected_locked_out: Counter,
    rejected_capacity: Counter,
    closed_peer: Counter,
    closed_bad_message: Counter,
    closed_slow_reader: Counter,
    messages_in: Counter,
    messages_out: Counter,
    account_mismatches: Counter,
    outbox: Gauge,
    transport_open: Gauge,
    transport_opened: Counter,
    transport_closed: Counter,
    bytes_sent: Counter,
    bytes_received: Counter,
    terminates_sent: [Counter; TERMINATES],
    terminates_received: [Counter; TERMINATES],
    credit_stalls: Counter,
}

impl RdmaMetrics {
    fn register(f: &mut CountersFile) -> Result<RdmaMetrics, MetricsError> {
        const CONN: &str = "tickwarp_rdma_entry_connections_total";
        const CONN_HELP: &str = "RDMA order entry connection requests, by result.";
        const CLOSES: &str = "tickwarp_rdma_entry_closes_total";
        const CLOSES_HELP: &str = "RDMA order entry connections closed, by reason.";
        const MSGS: &str = "tickwarp_rdma_entry_messages_total";
        const MSGS_HELP: &str =
            "RDMA order entry messages received (in) and execution records sent (out).";
        const BYTES: &str = "tickwarp_transport_bytes_total";
        const BYTES_HELP: &str = "Transport stream bytes after connection setup.";
        const TERMS: &str = "tickwarp_transport_terminates_total";
        const TERMS_HELP: &str = "iWARP Terminates sent and received, by RFC 5040/5041/5044 cause.";
        let mut terminates = |direction: &str| -> Result<[Counter; TERMINATES], MetricsError> {
            let mut v = Vec::with_capacity(TERMINATES);
            for l in &TERMINATE_LABELS {
                let labels = [
                    ("direction", direction),
                    ("layer", l.layer),
                    ("code", l.code),
                ];
                v.push(f.counter(TERMS, &labels, TERMS_HELP)?);
            }
            v.try_into()
                .map_err(|_| MetricsError::Full { capacity: CAPACITY })
        };
        let terminates_sent = terminates("sent")?;
        let terminates_received = terminates("received")?;
        Ok(RdmaMetrics {
            connections: f.gauge(
                "tickwarp_rdma_entry_connections",
                &[],
                "RDMA order entry clients connected.",
            )?,
            accepted: f.counter(CONN, &[("result", "accepted")], CONN_HELP)?,
            rejected_auth: f.counter(CONN, &[("result", "rejected_auth")], CONN_HELP)?,
            rejected_locked_out: f.counter(
                CONN,
                &[("result", "rejected_locked_out")],
                CONN_HELP,
            )?,
            rejected_capacity: f.counter(CONN, &[("result", "rejected_capacity")], CONN_HELP)?,
            closed_peer: f.counter(CLOSES, &[("reason", "peer")], CLOSES_HELP)?,
            closed_bad_message: f.counter(CLOSES, &[("reason", "bad_message")], CLOSES_HELP)?,
            closed_slow_reader: f.counter(CLOSES, &[("reason", "slow_reader")], CLOSES_HELP)?,
            messages_in: f.counter(MSGS, &[("direction", "in")], MSGS_HELP)?,
            messages_out: f.counter(MSGS, &[("direction", "out")], MSGS_HELP)?,
            account_mismatches: f.counter(
                "tickwarp_rdma_entry_account_mismatches_total",
                &[],
                "RDMA order entry commands for another account than the connection's, refused.",
            )?,
            outbox: f.gauge(
                "tickwarp_rdma_entry_outbox",
                &[],
                "Execution records waiting for RDMA client credit.",
            )?,
            transport_open: f.gauge(
                "tickwarp_transport_connections",
                &[],
                "Transport connections open.",
            )?,
            transport_opened: f.counter(
                "tickwarp_transport_connections_opened_total",
                &[],
                "Transport connections opened.",
            )?,
            transport_closed: f.counter(
                "tickwarp_transport_connections_closed_total",
                &[],
                "Transport connections closed.",
            )?,
            bytes_sent: f.counter(BYTES, &[("direction", "sent")], BYTES_HELP)?,
            bytes_received: f.counter(BYTES, &[("direction", "received")], BYTES_HELP)?,
            terminates_sent,
            terminates_received,
            credit_stalls: f.counter(
                "tickwarp_transport_credit_stalls_total",
                &[],
                "Sends that found the peer out of credit (once per stall).",
            )?,
        })
    }

    /// Copies `entry`'s counts in (no allocation; one QP lock per open connection).
    fn observe(&mut self, entry: &RdmaEntry) {
        let counts = entry.counts();
        let admission = entry.stats();
        let open = entry.clients() as u64;
        let closed = counts.closed_by_peer + counts.closed_bad_message + counts.closed_slow_reader;
        self.connections.set(open);
        catch_up(&mut self.accepted, counts.opened);
        catch_up(&mut self.rejected_auth, admission.auth_failures);
        catch_up(&mut self.rejected_locked_out, admission.locked_out);
        catch_up(&mut self.rejected_capacity, admission.over_capacity);
        catch_up(&mut self.closed_peer, counts.closed_by_peer);
        catch_up(&mut self.closed_bad_message, counts.closed_bad_message);
        catch_up(&mut self.closed_slow_reader, counts.closed_slow_reader);
        catch_up(&mut self.messages_in, counts.messages_in);
        catch_up(&mut self.messages_out, counts.messages_out);
        catch_up(&mut self.account_mismatches, counts.account_mismatches);
        self.outbox.set(counts.outbox);
        self.transport_open.set(open);
        catch_up(&mut self.transport_opened, counts.opened);
        catch_up(&mut self.transport_closed, closed);
        let (stats, stalls) = entry.transport_totals();
        self.transport(&stats, stalls);
    }

    /// Copies summed transport stats in.
    fn transport(&mut self, stats: &TransportStats, stalls: u64) {
        catch_up(&mut self.bytes_sent, stats.bytes_sent);
        catch_up(&mut self.bytes_received, stats.bytes_received);
        for (i, c) in self.terminates_sent.iter_mut().enumerate() {
            catch_up(c, stats.terminates_sent.get(i));
        }
        for (i, c) in self.terminates_received.iter_mut().enumerate() {
            catch_up(c, stats.terminates_received.get(i));
        }
        catch_up(&mut self.credit_stalls, stalls);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::core::Origin;
    use tickwarp_metrics::{CountersReader, Value};
    use tickwarp_runtime::UnixNanos;
    use tickwarp_wire::{
        AccountId, ClientOrderId, ExecMeta, InstrumentId, OrderAccepted, OrderRejected, OrderType,
        Side, TimeInForce,
    };

    fn meta(gateway_ts: u64) -> ExecMeta {
        ExecMeta {
            instrument: InstrumentId(1),
            account: AccountId(1),
            cl_ord_id: ClientOrderId::new("A").unwrap_or_else(|e| panic!("{e}")),
            order_id: 1,
            transact_time: UnixNanos(0),
            gateway_ts: Nanos(gateway_ts),
        }
    }

    fn report(event: Execution) -> Report {
        Report {
            origin: Origin::Fix(1),
            exec_id: 1,
            event,
            order: None,
            text: None,
        }
    }

    #[test]
    fn rejects_are_counted_by_reason_and_acks_timed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let now = Now {
            mono: Nanos(1_000),
            wall: UnixNanos(5),
        };
        let mut m = GatewayMetrics::open(&MetricsSection::default(), dir.path(), now, true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.path(), dir.path().join("metrics/tickwarp.counters"));
        m.cycle_started(Nanos(1_000));
        let accepted =
            OrderAccepted::new(meta(1_000), Side::Buy, OrderType::Limit, TimeInForce::Day);
        m.report_routed(&report(Execution::Accepted(accepted)));
        for reason in [
            RejectReason::MaxQtyExceeded,
            RejectReason::WouldCross,
            JOURNAL_UNAVAILABLE,
            RejectReason::Other(77),
            RejectReason::Other(5),
        ] {
            let rejected = OrderRejected::new(meta(1_000), reason);
            m.report_routed(&report(Execution::Rejected(rejected)));
        }
        m.acks_written();
        let reader = CountersReader::open(m.path()).unwrap_or_else(|e| panic!("{e}"));
        let snap = reader.snapshot().unwrap_or_else(|e| panic!("{e}"));
        let value = |result: &str| {
            snap.metrics
                .iter()
                .find(|x| x.labels == [("result".to_owned(), result.to_owned())])
                .map(|x| x.value.clone())
        };
        assert_eq!(value("accepted"), Some(Value::Counter(1)));
        assert_eq!(value("rejected_max_qty_exceeded"), Some(Value::Counter(1)));
        assert_eq!(value("rejected_would_cross"), Some(Value::Counter(1)));
        assert_eq!(
            value("rejected_journal_unavailable"),
            Some(Value::Counter(1))
        );
        assert_eq!(value("rejected_other"), Some(Value::Counter(1)));
        // The record carries the wire code: Other(5) is InvalidQty's code.
        assert_eq!(value("rejected_invalid_qty"), Some(Value::Counter(1)));
        assert_eq!(value("rejected_kill_switch"), Some(Value::Counter(0)));
        let acks = snap
            .metrics
            .iter()
            .find(|x| x.name == "tickwarp_order_ack_latency_seconds")
            .map(|x| x.value.clone());
        assert!(
            matches!(acks, Some(Value::Histogram(ref h)) if h.count == 6),
            "{acks:?}"
        );
        // RDMA entry's families are there; a Terminate is counted under its cause.
        let mut stats = TransportStats::default();
        stats.terminates_sent.record(1, 1, 0x00);
        stats.terminates_received.record(7, 7, 7);
        stats.bytes_sent = 99;
        if let Some(rdma) = m.rdma.as_mut() {
            rdma.transport(&stats, 2);
            rdma.transport(&stats, 2);
        }
        let snap = reader.snapshot().unwrap_or_else(|e| panic!("{e}"));
        let series = |name: &str, labels: &[(&str, &str)]| {
            snap.metrics
                .iter()
                .find(|x| {
                    x.name == name
                        && x.labels.len() == labels.len()
                        && x.labels
                            .iter()
                            .zip(labels)
                            .all(|((k, v), (k2, v2))| k == k2 && v == v2)
                })
                .map(|x| x.value.clone())
        };
        let terms = "tickwarp_transport_terminates_total";
        let sent = [
            ("direction", "sent"),
            ("layer", "ddp"),
            ("code", "tagged_invalid_stag"),
        ];
        assert_eq!(series(terms, &sent), Some(Value::Counter(1)));
        let other = [
            ("direction", "received"),
            ("layer", "other"),
            ("code", "other"),
        ];
        assert_eq!(series(terms, &other), Some(Value::Counter(1)));
        let n = snap.metrics.iter().filter(|x| x.name == terms).count();
        assert_eq!(n, 2 * TERMINATES);
        let bytes = [("direction", "sent")];
        let stalls = "tickwarp_transport_credit_stalls_total";
        assert_eq!(
            series("tickwarp_transport_bytes_total", &bytes),
            Some(Value::Counter(99))
        );
        assert_eq!(series(stalls, &[]), Some(Value::Counter(2)));
        // A second gateway on the same directory is refused while this one runs.
        let other = CountersFile::create(
            &dir.path().join("metrics"),
            &ProcessInfo {
                pid: std::process::id() + 1,
                start_unix_nanos: 0,
                name: String::new(),
            },
            8,
        );
        assert!(
            matches!(other, Err(MetricsError::InUse { .. })),
            "{other:?}"
        );
    }

    #[test]
    fn remote_listen_needs_allow_remote() {
        let mut s = MetricsSection {
            listen: Some(SocketAddr::from(([0, 0, 0, 0], 9464))),
            ..MetricsSection::default()
        };
        assert!(s.validate().is_err_and(|e| e.contains("allow_remote")));
        s.allow_remote = true;
        assert!(s.validate().is_ok());
        s.listen = Some(SocketAddr::from(([127, 0, 0, 1], 9464)));
        s.allow_remote = false;
        assert!(s.validate().is_ok());
    }
}

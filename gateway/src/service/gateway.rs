//! [`GatewayAgent`]: the whole gateway as one [`Agent`] — the FIX acceptor, RDMA order
//! entry, the order-flow core and the venue simulator, driven in one duty cycle:
//! read input → core requests → journal and venue → reports routed to their origins
//! (held in the FIX outboxes) → one sync round for the order journal and every live
//! session store → write output. Built from a [`GatewayConfig`], recovering from its journals.
//!
//! The clock is read once per duty cycle ([`Agent::do_work`] gets monotonic time and
//! reads the wall clock through `tickwarp_runtime::clock`); [`GatewayAgent::step`] takes
//! both as arguments for callers that run their own clock. Nothing here blocks.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tickwarp_runtime::{Agent, AgentError, Nanos, clock};
use tickwarp_wire::{
    ClientOrderId, NewOrder, OrderSpec, OrderType, Price, SeqNo, TickCause, TimeInForce,
};

use super::acceptor::{AcceptorSession, FixAcceptor, TlsConfigError};
use super::config::{ConfigError, GatewayConfig, ORDERS_JOURNAL, session_journal};
use super::core::{CoreConfig, CoreError, OrderCore, Origin, RecoveryReport, Report};
use super::manifest::{Manifest, ManifestError};
use super::metrics::GatewayMetrics;
use super::rdma_entry::{RdmaEntry, RdmaEntryError, RdmaEntryStats, RdmaStatsHandle};
use crate::fix::codec::Message;
use crate::fix::fields::tag;
use crate::fix::session_log::{DROP_COPY_LOG_DIR, SESSION_LOG_DIR};
use crate::fix::{
    MsgType, Now, SessionConfig, SessionId, SessionLog, SharedStore, StoreError, session_key,
};
use crate::risk::RiskLimits;
use crate::venue::{MdEvent, VenueConfig, VenueSim, VenueTime};

/// Why the gateway could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The order core failed (journal).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The journal directory lacks a journal an earlier run created.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A FIX session store could not be opened.
    #[error("FIX session store: {0}")]
    SessionStore(#[from] StoreError),
    /// The FIX listener could not bind.
    #[error("FIX listener on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: io::Error,
    },
    /// The FIX listener's TLS files are unusable.
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
    /// A FIX session store holds ExecutionReports for order-journal records the journal
    /// does not have, older than the store's last sync round: not the trace of an
    /// interrupted round (that is cut at start, with a copy kept) but an order journal
    /// older than its session stores (restored from a backup, or damaged).
    #[error(
        "FIX session log {} holds ExecutionReport MsgSeqNum {msg_seq} of session {session} with ExecID {exec_id}, past the order journal's last record {journal_last}, and older than the log's last sync round: the order journal is older than the session log (restored from a backup?) and acknowledged orders may be missing from it. Restore the order journal that belongs with this log; to accept dropping the log's records (of every session) from there on, run `tickwarp journal repair {} --truncate-after {keep}`",
        .dir.display(),
        .dir.display()
    )]
    StoreAheadOfJournal {
        /// The session log's directory.
        dir: PathBuf,
        /// The session's key.
        session: String,
        /// MsgSeqNum of the first such message.
        msg_seq: u64,
        /// Its ExecID (17).
        exec_id: u64,
        /// The order journal's last record.
        journal_last: u64,
        /// The store's last journal record to keep.
        keep: u64,
    },
    /// A per-session store directory of an older version (before the shared session
    /// log): refused, never read or changed (see the README's durability section).
    #[error(
        "{} is a FIX session store of an older tickwarp (one journal per session); this version keeps every session in {}. It is not migrated: with the older version, let the session's clients log out and reset its sequence numbers (or make sure nothing in it is still needed), then move the directory out of the journal directory and remove its line `{name}` from the GATEWAY manifest; the session then starts at MsgSeqNum 1",
        .dir.display(),
        .log.display()
    )]
    OldSessionStore {
        /// The old store's directory.
        dir: PathBuf,
        /// Its name in the manifest.
        name: String,
        /// The shared log's directory.
        log: PathBuf,
    },
    /// RDMA order entry could not start.
    #[error(transparent)]
    Rdma(#[from] RdmaEntryError),
    /// The counters file or the metrics exporter could not start.
    #[error("metrics: {0}")]
    Metrics(#[from] tickwarp_metrics::MetricsError),
}

/// The gateway agent (see the module docs).
#[derive(Debug)]
pub struct GatewayAgent {
    core: OrderCore<VenueSim>,
    fix: FixAcceptor,
    rdma: Option<RdmaEntry>,
    recovery: RecoveryReport,
    limits: LimitsReload,
    metrics: Option<GatewayMetrics>,
}

/// Hands new risk limits to a running [`GatewayAgent`] from another thread (the CLI
/// does it on SIGHUP): the agent applies them at the start of its next duty cycle.
/// Checking costs one relaxed atomic load per cycle when nothing is pending.
#[derive(Clone, Debug, Default)]
pub struct LimitsReload {
    pending: Arc<(AtomicBool, Mutex<Option<RiskLimits>>)>,
}

impl LimitsReload {
    /// Queues `limits` for the agent (replacing any not yet applied).
    pub fn request(&self, limits: RiskLimits) {
        let (flag, slot) = &*self.pending;
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(limits);
        flag.store(true, Ordering::Release);
    }

    /// The queued limits, if any.
    fn take(&self) -> Option<RiskLimits> {
        let (flag, slot) = &*self.pending;
        if !flag.swap(false, Ordering::Acquire) {
            return None;
        }
        slot.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// The ClOrdID of the `i`th house order.
fn house_id(i: usize) -> Option<ClientOrderId> {
    ClientOrderId::new(&format!("HOUSE{i}")).ok()
}

impl GatewayAgent {
    /// Builds the gateway from `config` at `now`: seeds the simulator, recovers the order
    /// journal and the FIX session stores, binds the listeners.
    pub fn from_config(config: &GatewayConfig, now: Now) -> Result<GatewayAgent, ServiceError> {
        let table = config.instrument_table()?;
        let vt = VenueTime {
            wall: now.wall,
            mono: now.mono,
        };
        let mut venue_config = VenueConfig {
            instruments: config.instruments.iter().map(|i| i.id).collect(),
            ..VenueConfig::default()
        };
        if let Some(max) = config.venue.max_resting_orders {
            venue_config.max_resting_orders = max;
        }
        let mut venue = VenueSim::new(&venue_config);
        for (i, h) in config.venue.liquidity.iter().enumerate() {
            let (Some(instrument), Some(cl_ord_id)) = (table.id_of_str(&h.symbol), house_id(i))
            else {
                continue;
            };
            let spec = OrderSpec {
                instrument,
                account: config.house_account(),
                side: h.side.side(),
                ord_type: OrderType::Limit,
                tif: TimeInForce::Gtc,
                price: h.price,
                qty: h.qty,
            };
            venue.handle_new(vt, &NewOrder::new(cl_ord_id, &spec, TickCause::NONE));
        }
        let core_config = CoreConfig {
            journal_dir: config.journal.orders_dir(),
            journal: config.journal.journal_config(),
            max_orders: config.max_orders,
            limits: config.risk_limits()?.clone(),
            instruments: config.instruments.iter().map(|i| i.id).collect(),
            references: config
                .instruments
                .iter()
                .filter_map(|i| Some((i.id, i.reference_price?)))
                .collect(),
        };
        let mut journals = vec![ORDERS_JOURNAL.to_string()];
        journals.extend(session_logs(config).map(str::to_string));
        let mut manifest = Manifest::check(&config.journal.dir, &journals)?;
        let (mut core, recovery) = OrderCore::open(core_config, venue, vt)?;
        tracing::info!(?recovery, "order journal recovered");
        let mut sessions = Vec::with_capacity(config.sessions.len());
        let mut configs = Vec::with_capacity(config.sessions.len());
        for s in &config.sessions {
            let mut sc = SessionConfig::new(
                SessionId(s.id),
                &s.sender_comp_id,
                &s.target_comp_id,
                s.trading_account(),
            );
            sc.drop_copy = s.drop_copy_scope();
            sc.username.clone_from(&s.username);
            if let Some(secs) = s.min_heartbeat_secs {
                sc.min_heartbeat = std::time::Duration::from_secs(secs);
            }
            if let Some(secs) = s.max_heartbeat_secs {
                sc.max_heartbeat = std::time::Duration::from_secs(secs);
            }
            sc.reset_on_logon = s.reset_on_logon;
            sc.reset_on_logout = s.reset_on_logout;
            sc.reset_on_disconnect = s.reset_on_disconnect;
            sc.cancel_on_disconnect = s.cancel_on_disconnect.then(|| {
                std::time::Duration::from_millis(s.cancel_on_disconnect_grace_ms.unwrap_or(0))
            });
            configs.push((sc, s.credential()));
        }
        let stores = open_session_stores(config, recovery.journal.last_seq.get())?;
        for ((sc, credential), store) in configs.into_iter().zip(stores) {
            sessions.push(AcceptorSession {
                config: sc,
                credential,
                store,
            });
        }
        manifest.record(&journals)?;
        let front = config.front_door.clone();
        let tls = match &config.tls {
            Some(settings) => Some(settings.acceptor("tls")?),
            None => None,
        };
        let fix =
            FixAcceptor::bind(config.listen, sessions, table, front, tls).map_err(|source| {
                ServiceError::Listen {
                    addr: config.listen,
                    source,
                }
            })?;
        let rdma = match &config.rdma {
            Some(r) => Some(RdmaEntry::bind(r.settings()?, core.next_rdma_client())?),
            None => None,
        };
        update_references(&mut core);
        let metrics = match &config.metrics {
            Some(m) => Some(GatewayMetrics::open(
                m,
                &config.journal.dir,
                now,
                rdma.is_some(),
            )?),
            None => None,
        };
        let mut agent = GatewayAgent {
            core,
            fix,
            rdma,
            recovery,
            limits: LimitsReload::default(),
            metrics,
        };
        agent.route_reports(now);
        Ok(agent)
    }

    /// The FIX listen address.
    pub fn fix_addr(&self) -> SocketAddr {
        self.fix.local_addr()
    }

    /// The RDMA listen address, when RDMA order entry is on.
    pub fn rdma_addr(&self) -> Option<SocketAddr> {
        self.rdma.as_ref().map(RdmaEntry::local_addr)
    }

    /// RDMA order entry's counters (connections, committed memory, refusals), if enabled.
    pub fn rdma_stats(&self) -> Option<RdmaEntryStats> {
        self.rdma.as_ref().map(RdmaEntry::stats)
    }

    /// A handle that reads RDMA order entry's counters from another thread, if enabled.
    pub fn rdma_stats_handle(&self) -> Option<RdmaStatsHandle> {
        self.rdma.as_ref().map(RdmaEntry::stats_handle)
    }

    /// What recovery found at start.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The order core.
    pub fn core(&self) -> &OrderCore<VenueSim> {
        &self.core
    }

    /// The order core (kill switch, limits reload, seeding the simulator).
    pub fn core_mut(&mut self) -> &mut OrderCore<VenueSim> {
        &mut self.core
    }

    /// A handle that reloads the risk limits of this agent while it runs.
    pub fn limits_reload(&self) -> LimitsReload {
        self.limits.clone()
    }

    /// The FIX acceptor.
    pub fn fix(&self) -> &FixAcceptor {
        &self.fix
    }

    /// The metrics (counters file, exporter), when `[metrics]` is configured.
    pub fn metrics(&self) -> Option<&GatewayMetrics> {
        self.metrics.as_ref()
    }

    /// One duty cycle at `now`; returns the work done.
    pub fn step(&mut self, now: Now) -> Result<usize, ServiceError> {
        let vt = VenueTime {
            wall: now.wall,
            mono: now.mono,
        };
        if let Some(limits) = self.limits.take() {
            match self.core.risk_mut().reload(limits, now.mono) {
                Ok(()) => tracing::info!("risk limits reloaded"),
                Err(e) => tracing::warn!(%e, "risk limits reload refused; the old limits stay"),
            }
        }
        if let Some(m) = self.metrics.as_mut() {
            m.cycle_started(now.mono);
        }
        let mut work = self.fix.poll_input(now, &mut self.core)?;
        if let Some(rdma) = self.rdma.as_mut() {
            work += rdma.poll_input(vt, &mut self.core)?;
        }
        let (syncs, busy) = (self.core.sync_count(), work > 0);
        let timer = self.metrics.as_ref().and_then(|m| m.time_if(busy));
        // One durable point per duty cycle: journal and route first (nothing leaves
        // yet), then sync the order journal and every session store at once.
        work += self.core.flush_deferred(vt)?;
        let journal = self.core.begin_sync()?;
        if let Some(m) = self.metrics.as_mut() {
            m.synced_since(timer, self.core.sync_count() > syncs);
        }
        work += update_references(&mut self.core);
        work += self.route_reports(now);
        let timer = self
            .metrics
            .as_ref()
            .and_then(|m| m.time_if(busy || journal.is_some()));
        let synced = self.fix.sync_round(journal, &mut self.core, now)?;
        if let Some(m) = self.metrics.as_mut() {
            m.synced_since(timer, synced > 0);
        }
        work += synced;
        work += self.fix.poll_output();
        if let Some(rdma) = self.rdma.as_mut() {
            work += rdma.poll_output();
        }
        if let Some(m) = self.metrics.as_mut() {
            m.cycle_done(
                work,
                self.core.sync_count().saturating_sub(syncs),
                &mut self.fix,
                self.rdma.as_ref(),
            );
        }
        Ok(work)
    }

    /// Sends every ready report to its origin.
    fn route_reports(&mut self, now: Now) -> usize {
        let mut routed = 0;
        while let Some(report) = self.core.poll_report() {
            routed += 1;
            self.route(now, report);
        }
        routed
    }

    fn route(&mut self, now: Now, report: Report) {
        self.fix.copy_report(now, &report);
        if let Some(m) = self.metrics.as_mut() {
            m.report_routed(&report);
        }
        match report.origin {
            Origin::Fix(id) => self.fix.deliver(now, id, report),
            Origin::Rdma(id) => match self.rdma.as_mut() {
                Some(rdma) => rdma.deliver(id, &report),
                None => tracing::debug!(client = id, "RDMA entry off: execution dropped"),
            },
            Origin::Gateway => {}
        }
    }
}

/// The first stored ExecutionReport whose ExecID (an order-journal record) the order
/// journal does not have.
struct StoreAhead {
    /// Its MsgSeqNum.
    msg_seq: u64,
    /// Its ExecID (17).
    exec_id: u64,
    /// The order journal's last record.
    journal_last: u64,
    /// The store's journal record just before it: what a cut keeps.
    keep: u64,
}

impl StoreAhead {
    /// The refusal, for a log ahead by more than its last sync round.
    fn into_error(self, dir: &std::path::Path, session: &str) -> ServiceError {
        ServiceError::StoreAheadOfJournal {
            dir: dir.to_path_buf(),
            session: session.to_string(),
            msg_seq: self.msg_seq,
            exec_id: self.exec_id,
            journal_last: self.journal_last,
            keep: self.keep,
        }
    }
}

/// Opens the sessions' shared store logs (refusing per-session stores of an older
/// version) and takes every configured session's store from them, in configuration
/// order: order sessions share [`SESSION_LOG_DIR`], drop copies [`DROP_COPY_LOG_DIR`] (so
/// a drop copy's failing store, e.g. its own full file system, never stops the order
/// path, as `acceptor/drop_copy.rs` promises).
fn open_session_stores(
    config: &GatewayConfig,
    journal_last: u64,
) -> Result<Vec<SharedStore>, ServiceError> {
    for s in &config.sessions {
        let old = config
            .journal
            .session_dir(&s.sender_comp_id, &s.target_comp_id);
        if tickwarp_wire::journal::exists(&old).map_err(StoreError::from)? {
            return Err(ServiceError::OldSessionStore {
                dir: old,
                name: session_journal(&s.sender_comp_id, &s.target_comp_id),
                log: config.journal.dir.join(SESSION_LOG_DIR),
            });
        }
    }
    let mut stores: Vec<Option<SharedStore>> = config.sessions.iter().map(|_| None).collect();
    for (log_dir, drop_copies) in [(SESSION_LOG_DIR, false), (DROP_COPY_LOG_DIR, true)] {
        let members: Vec<(usize, String)> = config
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| s.drop_copy_scope().is_some() == drop_copies)
            .map(|(ix, s)| (ix, session_key(&s.sender_comp_id, &s.target_comp_id)))
            .collect();
        if members.is_empty() {
            continue;
        }
        let dir = config.journal.dir.join(log_dir);
        let keys: Vec<&str> = members.iter().map(|(_, k)| k.as_str()).collect();
        let opened = open_session_log(config, &dir, &keys, journal_last)?;
        for ((ix, _), store) in members.iter().zip(opened) {
            if let Some(slot) = stores.get_mut(*ix) {
                *slot = Some(store);
            }
        }
    }
    Ok(stores.into_iter().flatten().collect())
}

/// The session logs a configuration uses, by name under the journal directory.
fn session_logs(config: &GatewayConfig) -> impl Iterator<Item = &'static str> + '_ {
    let any = |drop_copy: bool| {
        config
            .sessions
            .iter()
            .any(|s| s.drop_copy_scope().is_some() == drop_copy)
    };
    [(SESSION_LOG_DIR, false), (DROP_COPY_LOG_DIR, true)]
        .into_iter()
        .filter(move |&(_, drop_copy)| any(drop_copy))
        .map(|(name, _)| name)
}

/// Opens the shared log in `dir` and takes the stores of `keys` from it. When a crash
/// interrupted a sync round after the log's share reached the disk but the order
/// journal's did not, the log holds reports whose order records are gone: none of them
/// left (nothing leaves before the whole round), so the log is cut before the first of
/// them (a copy of every byte kept) and reopened; anything ahead of the order journal
/// older than the log's last round is refused. Sessions in the log that are no longer
/// configured are kept and reported.
fn open_session_log(
    config: &GatewayConfig,
    dir: &std::path::Path,
    keys: &[&str],
    journal_last: u64,
) -> Result<Vec<SharedStore>, ServiceError> {
    // Session stores follow the order journal's fsync policy and group commit: the
    // acceptor syncs the log once per duty cycle, before anything it covers is written.
    let previous_sync = previous_sync(dir)?;
    let mut cut_done = false;
    loop {
        let log = SessionLog::open(dir, config.journal.journal_config())?;
        let mut stores = Vec::with_capacity(keys.len());
        let mut first: Option<(StoreAhead, &str)> = None;
        for &key in keys {
            let mut store = log.session(key)?;
            if let Some(ahead) = store_ahead_of_journal(&mut store, journal_last)? {
                if ahead.keep < previous_sync || cut_done {
                    return Err(ahead.into_error(dir, key));
                }
                if first.as_ref().is_none_or(|(f, _)| ahead.keep < f.keep) {
                    first = Some((ahead, key));
                }
            }
            stores.push(store);
        }
        let Some((ahead, key)) = first else {
            for gone in log.unclaimed() {
                tracing::warn!(
                    log = %dir.display(),
                    session = %gone.key,
                    next_in = gone.seq.next_in,
                    next_out = gone.seq.next_out,
                    messages = gone.messages,
                    "FIX session log holds a session that is not configured: kept, not deleted"
                );
            }
            return Ok(stores);
        };
        // Only the interrupted round is ahead: it never left; cut it (a copy of every
        // byte is kept) and open again.
        drop(stores);
        drop(log);
        let cut =
            tickwarp_wire::journal::repair(dir, SeqNo(ahead.keep)).map_err(StoreError::from)?;
        tracing::warn!(
            log = %dir.display(),
            session = key,
            msg_seq = ahead.msg_seq,
            exec_id = ahead.exec_id,
            journal_last,
            copies = ?cut.cut.iter().map(|c| c.copy.display().to_string()).collect::<Vec<_>>(),
            "FIX session log held the messages of a sync round a crash interrupted \
             (the order journal lost that round's records, so none of it was sent): \
             cut from record {} on, a copy kept",
            ahead.keep + 1
        );
        cut_done = true;
    }
}

/// The order journal and the session stores sync in one round at once, so after a
/// power loss a store may hold the round's reports while the order journal lost the
/// round's records. Those reports never left (nothing leaves before the whole round),
/// but a resend would replay them and their ExecIDs would be reused. This finds the
/// first ExecutionReport whose ExecID is past `journal_last`, the order journal's last
/// record as recovered (before the core journals anything new).
fn store_ahead_of_journal(
    store: &mut SharedStore,
    journal_last: u64,
) -> Result<Option<StoreAhead>, ServiceError> {
    let exec_id = |frame: &[u8]| -> u64 {
        let Ok(msg) = Message::decode(frame) else {
            return 0;
        };
        if msg.msg_type() != MsgType::EXECUTION_REPORT {
            return 0;
        }
        msg.get(tag::EXEC_ID)
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(0)
    };
    // The search stops calling this at the first match, so `first` is that one's.
    let mut first = 0;
    let found = store.first_outbound_where(&mut |frame| {
        let id = exec_id(frame);
        first = id;
        id > journal_last
    })?;
    let Some((msg_seq, keep)) = found else {
        return Ok(None);
    };
    Ok(Some(StoreAhead {
        msg_seq,
        exec_id: first,
        journal_last,
        keep: keep.get(),
    }))
}

/// The store journal record that its last sync round's predecessor made durable, as the
/// newest segment header says on disk (the header is rewritten after each sync and
/// reaches the disk with the next one), read before the store is opened (opening
/// rewrites it). Records past it belong to the last sync round at most; 0 for a new
/// store. Errs on the side of a smaller value: then the start refuses instead of cutting.
fn previous_sync(dir: &std::path::Path) -> Result<u64, ServiceError> {
    if !tickwarp_wire::journal::exists(dir).map_err(StoreError::from)? {
        return Ok(0);
    }
    let report = tickwarp_wire::journal::verify(dir).map_err(StoreError::from)?;
    Ok(report
        .segments
        .last()
        .and_then(|s| s.header.as_ref())
        .map_or(0, |h| h.durable_seq.get()))
}

/// Takes the simulator's market data as reference prices for risk: trades, else the
/// middle of a two-sided top of book.
fn update_references(core: &mut OrderCore<VenueSim>) -> usize {
    let mut n = 0;
    while let Some(md) = core.venue_mut().poll_market_data() {
        n += 1;
        match md {
            MdEvent::Trade(trade, _) => {
                core.risk_mut()
                    .update_reference(trade.instrument(), trade.price());
            }
            MdEvent::Bbo(bbo) => {
                let (bid, ask) = (bbo.bid(), bbo.ask());
                if !bid.qty.is_zero() && !ask.qty.is_zero() {
                    let mid = (bid.px.ticks() / 2).saturating_add(ask.px.ticks() / 2);
                    core.risk_mut()
                        .update_reference(bbo.instrument(), Price::from_ticks(mid));
                }
            }
            MdEvent::Add(_) | MdEvent::Cancel(_) => {}
        }
    }
    n
}

impl Agent for GatewayAgent {
    fn role_name(&self) -> &str {
        "gateway"
    }

    fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError> {
        let now = Now {
            mono: now,
            wall: clock::unix_now(),
        };
        let work = self.step(now)?;
        if let Some(m) = self.metrics.as_mut() {
            m.acks_written();
        }
        Ok(work)
    }

    /// Seals the order journal, so the next start finds it closed cleanly.
    fn on_close(&mut self) {
        match self.core.close() {
            Ok(()) => tracing::info!("order journal closed"),
            Err(e) => tracing::warn!(error = %e, "order journal did not close cleanly"),
        }
    }
}

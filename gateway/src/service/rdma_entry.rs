//! [`RdmaEntry`]: binary order entry over RDMA. Clients connect a
//! [`MessageChannel`] (soft iWARP, or a verbs device) and SEND `tickwarp-wire` order
//! commands (`NewOrder`, `CancelOrder`, `ReplaceOrder`, `MassCancelRequest`, one record
//! per message); the gateway SENDs back the execution records of their orders
//! (`OrderAccepted`, `OrderRejected`, `OrderFilled`, `OrderCanceled`, `CancelRejected`,
//! `OrderReplaced`), the same records it journals.
//!
//! A `MassCancelRequest` is answered at once by a `MassCancelReport` (orders affected,
//! or why none was), then each canceled order's `OrderCanceled` follows as the venue
//! confirms it, routed to the connection that entered the order (the core journals the
//! cancels under the gateway's origin and routes their reports to the order's origin).
//! Only orders this connection entered are reported to it; the account's orders entered
//! over FIX or an earlier connection are canceled too and reported to their own origin.
//!
//! Connection setup (the MPA exchange) blocks, so a small accept thread owns the
//! listener and hands each established channel to the duty cycle, which only ever calls
//! the channel's non-blocking `try_recv`/`try_send`. Each connection gets a client id
//! that no journaled order carries (ids continue after the journal's highest), and the
//! executions of its orders go to that connection only: a client that reconnects does
//! not receive the executions of its earlier connection (the journal still has them).
//! A message that is not an order command closes the connection; an order for another
//! account than the one the connection authenticated is refused with `UnknownAccount`
//! without reaching the core (a mass cancel for another account gets a
//! `MassCancelReport` rejected with `UnknownAccount`). Executions the peer has no credit for wait in a
//! per-client queue.
//!
//! # Trust
//!
//! Admission is [`Admission`]'s, shared with the compute server: before any channel
//! memory is committed, the accept thread checks, in this order, the peer address is
//! not locked out by earlier failures; the MPA private data carries a [`Credential`]
//! (account id and token, see [`client_connect_params`]); the connection cap and the
//! memory budget have room; the token matches the account's argon2id hash (one
//! verification, on that thread). Any failure is an MPA Reject (R=1) with one of the
//! `REJECT_*` reasons below in its private data and, for a missing or wrong credential,
//! a WARN line with the peer address; failures lock the address out for a growing delay.
//!
//! The gateway decides the memory of a connection: it posts `max_slots` receive slots
//! of `max_slot_bytes` and clamps the client's proposal to the same maxima
//! ([`PeerLimits`]), so one connection commits at most
//! [`RdmaEntrySettings::connection_bytes`] (2 × `max_slots` × `max_slot_bytes` plus
//! 8 bytes per slot: 33,280 bytes with the defaults of 64 slots of 256 bytes) and the
//! listener at most `max_connections` × that (64 × 33,280 B ≈ 2 MiB by default), never
//! more than `memory_budget_bytes`. Half-open MPA handshakes are bounded separately by
//! the soft listener (`max_half_open` × about 1 KiB and a socket each).
//!
//! # Counts
//!
//! The duty cycle keeps plain counters ([`RdmaEntryCounts`]: connections taken and
//! closed by reason, messages in and out, account mismatches) and sums its connections'
//! transport stats ([`RdmaEntry::transport_totals`], closed connections' kept); the
//! gateway's metrics copy them, with the accept thread's admission counters, into the
//! counters file. Taking or closing a connection and seeing a new refusal count as work,
//! so the cycle that did it reports it.
//!
//! What this module must not do: block in the duty cycle, read a clock outside the
//! accept thread (which reads it for the throttle), or decide anything about orders
//! beyond the account check.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use tickwarp_rdma::TransportStats;
use tickwarp_rdma::channel::{ChannelConfig, ChannelError, MessageChannel, PeerLimits};
use tickwarp_rdma::verbs::{
    Backend, CmError, ConnectParams, Device, ListenParams, Listener, VerbsError,
};
use tickwarp_wire::IntoBytes;
use tickwarp_wire::{
    AccountId, CancelRejected, CxlRejResponseTo, ExecMeta, MassCancelReport, MassCancelRequest,
    Message, OrderRejected, RejectReason, decode,
};

use super::core::{CoreError, MassCancel, OrderCore, Origin, Report, execution_bytes};
use super::rdma_admission::{
    Admission, AdmissionGauges, AdmissionLimits, AdmissionStats, AdmissionTexts, Admitted, Lease,
};
use super::rdma_auth::{Credential, CredentialError, TokenTable};
use crate::venue::{VenueSession, VenueTime};

/// Largest record exchanged (order commands and executions are 64 or 128 bytes).
pub const MAX_RECORD: usize = 128;
/// Messages read from one client per duty cycle.
const RECV_BATCH: usize = 64;
/// Executions queued for a client without credit before it is disconnected.
const MAX_OUTBOX: usize = 65_536;
/// Established channels waiting for the duty cycle.
const HANDOFF_DEPTH: usize = 64;

/// Reject reason: the credential is missing or malformed.
pub const REJECT_NO_CREDENTIAL: &[u8] = b"tickwarp: credential missing or malformed";
/// Reject reason: wrong account or token.
pub const REJECT_AUTH: &[u8] = b"tickwarp: authentication failed";
/// Reject reason: the address failed too often recently.
pub const REJECT_LOCKED_OUT: &[u8] = b"tickwarp: too many failed attempts, retry later";
/// Reject reason: `max_connections` clients are connected.
pub const REJECT_CAP: &[u8] = b"tickwarp: connection limit reached";
/// Reject reason: the memory budget has no room for another connection.
pub const REJECT_BUDGET: &[u8] = b"tickwarp: memory budget exhausted";

/// What admission logs and answers.
const TEXTS: AdmissionTexts = AdmissionTexts {
    service: "RDMA order entry",
    no_credential: REJECT_NO_CREDENTIAL,
    auth: REJECT_AUTH,
    locked_out: REJECT_LOCKED_OUT,
    cap: REJECT_CAP,
    budget: REJECT_BUDGET,
};

/// Why RDMA order entry could not start.
#[derive(Debug, thiserror::Error)]
pub enum RdmaEntryError {
    /// No device for the listen address.
    #[error("RDMA device: {0}")]
    Verbs(#[from] VerbsError),
    /// The listener could not bind.
    #[error("RDMA listener: {0}")]
    Listen(#[from] CmError),
    /// The accept thread could not start.
    #[error("RDMA accept thread: {0}")]
    Thread(#[from] std::io::Error),
    /// The settings are inconsistent.
    #[error("RDMA order entry: {0}")]
    Settings(String),
}

/// How RDMA order entry listens, whom it admits and what it commits (from `[rdma]`).
#[derive(Clone, Debug)]
pub struct RdmaEntrySettings {
    /// Soft iWARP, a verbs device, or whichever serves the address.
    pub backend: Backend,
    /// Listen address.
    pub listen: SocketAddr,
    /// The accounts clients may authenticate as, with their token hashes.
    pub tokens: TokenTable,
    /// Clients connected at once at most.
    pub max_connections: usize,
    /// Receive slots per connection, and the most credits a client's proposal gives.
    pub max_slots: u32,
    /// Bytes per receive slot (header included), and the largest client slot used.
    pub max_slot_bytes: u32,
    /// Channel memory of all connections together at most, bytes.
    pub memory_budget_bytes: usize,
    /// A connection must complete its MPA Request within this.
    pub handshake_timeout: Duration,
    /// MPA handshakes in progress at most (the soft listener's cap).
    pub max_half_open: usize,
}

impl RdmaEntrySettings {
    /// The gateway's side of every channel.
    pub fn channel_config(&self) -> ChannelConfig {
        ChannelConfig {
            slots: self.max_slots,
            slot_size: self.max_slot_bytes,
            send_depth: self.max_slots,
        }
    }

    /// The clamp applied to a client's proposal.
    pub fn peer_limits(&self) -> PeerLimits {
        PeerLimits {
            max_slot_size: self.max_slot_bytes,
            max_slots: self.max_slots,
        }
    }

    /// Channel memory one connection commits at most.
    pub fn connection_bytes(&self) -> usize {
        self.limits().connection_bytes()
    }

    /// What admission allows.
    fn limits(&self) -> AdmissionLimits {
        AdmissionLimits {
            max_connections: self.max_connections,
            memory_budget_bytes: self.memory_budget_bytes,
            channel: self.channel_config(),
            peer: self.peer_limits(),
            min_message: MAX_RECORD,
        }
    }

    fn check(&self) -> Result<(), RdmaEntryError> {
        let need = MAX_RECORD + tickwarp_rdma::channel::HEADER_LEN;
        if (self.max_slot_bytes as usize) < need {
            return Err(RdmaEntryError::Settings(format!(
                "max_slot_bytes = {} cannot hold an order record ({need} bytes)",
                self.max_slot_bytes
            )));
        }
        let worst = self.max_connections.saturating_mul(self.connection_bytes());
        if worst > self.memory_budget_bytes {
            return Err(RdmaEntryError::Settings(format!(
                "max_connections × connection memory = {} × {} B = {worst} B exceeds memory_budget_bytes = {}",
                self.max_connections,
                self.connection_bytes(),
                self.memory_budget_bytes
            )));
        }
        Ok(())
    }
}

/// The [`ConnectParams`] a client passes to `MessageChannel::connect` to authenticate as
/// `credential.account` (the credential rides in the MPA private data).
pub fn client_connect_params(
    credential: &Credential<'_>,
) -> Result<ConnectParams, CredentialError> {
    Ok(ConnectParams {
        private_data: credential.to_bytes()?,
        ..ConnectParams::default()
    })
}

/// Counters of RDMA order entry: connections, committed memory, refusals.
pub type RdmaEntryStats = AdmissionStats;

/// Reads [`RdmaEntryStats`] from another thread than the duty cycle's.
#[derive(Clone, Debug)]
pub struct RdmaStatsHandle(Arc<AdmissionGauges>);

impl RdmaStatsHandle {
    /// The counters now.
    pub fn get(&self) -> RdmaEntryStats {
        self.0.get()
    }
}

/// One fixed-size outbound record.
#[derive(Clone, Copy, Debug)]
struct Outbound {
    bytes: [u8; MAX_RECORD],
    len: usize,
}

impl Outbound {
    fn new(src: &[u8]) -> Outbound {
        let mut bytes = [0u8; MAX_RECORD];
        let len = src.len().min(MAX_RECORD);
        if let (Some(dst), Some(src)) = (bytes.get_mut(..len), src.get(..len)) {
            dst.copy_from_slice(src);
        }
        Outbound { bytes, len }
    }

    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// What RDMA order entry's duty cycle counted, for the gateway's metrics: plain
/// counters, written and read on the duty-cycle thread only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RdmaEntryCounts {
    /// Connections the duty cycle took from the accept thread.
    pub opened: u64,
    /// Connections closed by the peer or a transport failure (a Terminate included).
    pub closed_by_peer: u64,
    /// Connections closed for a message that is not an order command.
    pub closed_bad_message: u64,
    /// Connections closed because their client stopped reading its executions.
    pub closed_slow_reader: u64,
    /// Messages received.
    pub messages_in: u64,
    /// Execution records sent.
    pub messages_out: u64,
    /// Commands refused for naming another account than the connection's.
    pub account_mismatches: u64,
    /// Execution records waiting for credit now, all clients together.
    pub outbox: u64,
}

/// Why a client's connection is being closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Close {
    /// The peer disconnected or the transport failed.
    Peer,
    /// It sent something that is not an order command.
    BadMessage,
    /// Its outbox overflowed.
    SlowReader,
}

#[derive(Debug)]
struct Client {
    id: u32,
    channel: MessageChannel,
    /// The account it authenticated as: the only one it may trade for.
    account: AccountId,
    outbox: VecDeque<Outbound>,
    close: Option<Close>,
    _lease: Lease,
}

/// RDMA order entry (see the module docs).
#[derive(Debug)]
pub struct RdmaEntry {
    accepted: Receiver<Admitted>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    local_addr: SocketAddr,
    gauges: Arc<AdmissionGauges>,
    clients: Vec<Client>,
    next_id: u32,
    buf: [u8; MAX_RECORD],
    counts: RdmaEntryCounts,
    /// Admission refusals seen so far (all reasons).
    refusals: u64,
    /// Transport stats and credit stalls of the connections already closed.
    closed_transport: TransportStats,
    closed_stalls: u64,
}

impl RdmaEntry {
    /// Listens as `settings` say; client ids start at `first_id`.
    pub fn bind(settings: RdmaEntrySettings, first_id: u32) -> Result<RdmaEntry, RdmaEntryError> {
        settings.check()?;
        let dev = Device::open_for(settings.backend, settings.listen.ip())?;
        let pd = dev.alloc_pd();
        let listen = ListenParams {
            handshake_timeout: settings.handshake_timeout,
            max_half_open: settings.max_half_open,
            ..ListenParams::default()
        };
        let listener = Listener::bind_with(&pd, settings.listen, listen)?;
        let local_addr = listener.local_addr();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, accepted) = sync_channel(HANDOFF_DEPTH);
        let limits = settings.limits();
        let admission = Admission::new(dev, pd, settings.tokens, limits, TEXTS);
        let gauges = admission.gauges();
        let thread = admission.spawn("gw-rdma-accept", listener, tx, Arc::clone(&stop))?;
        Ok(RdmaEntry {
            accepted,
            stop,
            thread: Some(thread),
            local_addr,
            gauges,
            clients: Vec::new(),
            next_id: first_id.max(1),
            buf: [0; MAX_RECORD],
            counts: RdmaEntryCounts::default(),
            refusals: 0,
            closed_transport: TransportStats::default(),
            closed_stalls: 0,
        })
    }

    /// Counters: connections, committed memory, refusals.
    pub fn stats(&self) -> RdmaEntryStats {
        self.stats_handle().get()
    }

    /// A handle that reads the counters from any thread.
    pub fn stats_handle(&self) -> RdmaStatsHandle {
        RdmaStatsHandle(Arc::clone(&self.gauges))
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Clients connected.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// What the duty cycle counted (see [`RdmaEntryCounts`]).
    pub fn counts(&self) -> RdmaEntryCounts {
        RdmaEntryCounts {
            outbox: self.clients.iter().map(|c| c.outbox.len() as u64).sum(),
            ..self.counts
        }
    }

    /// The transport stats of every connection so far, open and closed, summed, and
    /// their credit stalls (sends that found the client out of credit). Takes each
    /// open connection's QP lock once; never allocates. A hardware connection adds
    /// no transport stats (see `QueuePair::transport_stats`).
    pub fn transport_totals(&self) -> (TransportStats, u64) {
        let mut total = self.closed_transport;
        let mut stalls = self.closed_stalls;
        for client in &self.clients {
            if let Some(stats) = client.channel.transport_stats() {
                total.add(&stats);
            }
            stalls += client.channel.credit_stalls();
        }
        (total, stalls)
    }

    /// Drops the clients being closed, keeping their counts. Returns how many.
    fn reap(&mut self) -> usize {
        let before = self.clients.len();
        let (counts, transport, stalls) = (
            &mut self.counts,
            &mut self.closed_transport,
            &mut self.closed_stalls,
        );
        self.clients.retain(|c| {
            let Some(close) = c.close else {
                return true;
            };
            match close {
                Close::Peer => counts.closed_by_peer += 1,
                Close::BadMessage => counts.closed_bad_message += 1,
                Close::SlowReader => counts.closed_slow_reader += 1,
            }
            if let Some(stats) = c.channel.transport_stats() {
                transport.add(&stats);
            }
            *stalls += c.channel.credit_stalls();
            false
        });
        before - self.clients.len()
    }

    /// Takes new clients, reads their commands into `core`. Returns the work done.
    pub fn poll_input<V: VenueSession>(
        &mut self,
        now: VenueTime,
        core: &mut OrderCore<V>,
    ) -> Result<usize, CoreError> {
        let mut work = 0;
        // A refusal on the accept thread is work too: the metrics copy it then.
        let refused = self.stats();
        let refusals = refused.auth_failures + refused.locked_out + refused.over_capacity;
        if refusals != self.refusals {
            self.refusals = refusals;
            work += 1;
        }
        while let Ok(admitted) = self.accepted.try_recv() {
            let id = self.next_id;
            self.next_id = self.next_id.saturating_add(1);
            self.clients.push(Client {
                id,
                channel: admitted.channel,
                account: admitted.account,
                outbox: VecDeque::with_capacity(256),
                close: None,
                _lease: admitted.lease,
            });
            self.counts.opened += 1;
            work += 1;
        }
        for client in &mut self.clients {
            for _ in 0..RECV_BATCH {
                let len = match client.channel.try_recv(&mut self.buf) {
                    Ok(Some(len)) => len,
                    Ok(None) => break,
                    Err(e) => {
                        if e != ChannelError::Disconnected {
                            tracing::warn!(client = client.id, error = %e, "RDMA client failed");
                        }
                        client.close.get_or_insert(Close::Peer);
                        break;
                    }
                };
                work += 1;
                self.counts.messages_in += 1;
                let msg = self.buf.get(..len).unwrap_or_default();
                if !handle_message(now, client, msg, core, &mut self.counts)? {
                    client.channel.disconnect();
                    client.close.get_or_insert(Close::BadMessage);
                    break;
                }
            }
        }
        // A close is work: the cycle that saw it reports it to the metrics.
        Ok(work + self.reap())
    }

    /// Queues `report` for client `id` (dropped if it is gone).
    pub fn deliver(&mut self, id: u32, report: &Report) {
        let Some(client) = self.clients.iter_mut().find(|c| c.id == id) else {
            tracing::debug!(
                client = id,
                "execution for a disconnected RDMA client dropped"
            );
            return;
        };
        enqueue(client, execution_bytes(&report.event));
    }

    /// Sends what the clients have credit for. Returns the messages sent.
    pub fn poll_output(&mut self) -> usize {
        let mut sent = 0;
        for client in &mut self.clients {
            while let Some(out) = client.outbox.front() {
                match client.channel.try_send(out.as_slice()) {
                    Ok(()) => {
                        client.outbox.pop_front();
                        sent += 1;
                    }
                    Err(ChannelError::WouldBlock) => {
                        if let Err(e) = client.channel.progress() {
                            tracing::debug!(client = client.id, error = %e, "RDMA client gone");
                            client.close.get_or_insert(Close::Peer);
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(client = client.id, error = %e, "RDMA client gone");
                        client.close.get_or_insert(Close::Peer);
                        break;
                    }
                }
            }
        }
        self.counts.messages_out += sent as u64;
        sent + self.reap()
    }
}

impl Drop for RdmaEntry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for client in &mut self.clients {
            client.channel.disconnect();
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("RDMA accept thread panicked");
            }
        }
    }
}

/// Queues one record for `client`; a client that stopped reading is disconnected.
fn enqueue(client: &mut Client, bytes: &[u8]) {
    if client.outbox.len() >= MAX_OUTBOX {
        tracing::warn!(
            client = client.id,
            "RDMA client does not read: disconnecting"
        );
        client.channel.disconnect();
        client.close.get_or_insert(Close::SlowReader);
        return;
    }
    client.outbox.push_back(Outbound::new(bytes));
}

/// One message from a client; false when it is not an order command.
fn handle_message<V: VenueSession>(
    now: VenueTime,
    client: &mut Client,
    msg: &[u8],
    core: &mut OrderCore<V>,
    counts: &mut RdmaEntryCounts,
) -> Result<bool, CoreError> {
    let origin = Origin::Rdma(client.id);
    let refused = |instrument, account, cl_ord_id| ExecMeta {
        instrument,
        account,
        cl_ord_id,
        order_id: 0,
        transact_time: now.wall,
        gateway_ts: now.mono,
    };
    match decode(msg) {
        Ok(Message::NewOrder(cmd)) => {
            if cmd.account() == client.account {
                core.handle_new(now, origin, cmd)?;
            } else {
                counts.account_mismatches += 1;
                let meta = refused(cmd.instrument(), cmd.account(), cmd.cl_ord_id());
                let reject = OrderRejected::new(meta, RejectReason::UnknownAccount);
                enqueue(client, reject.as_bytes());
            }
        }
        Ok(Message::CancelOrder(cmd)) => {
            if cmd.account() == client.account {
                core.handle_cancel(now, origin, cmd)?;
            } else {
                counts.account_mismatches += 1;
                let meta = refused(cmd.instrument(), cmd.account(), cmd.cl_ord_id());
                let reject = CancelRejected::new(
                    meta,
                    cmd.orig_cl_ord_id(),
                    CxlRejResponseTo::Cancel,
                    RejectReason::UnknownAccount,
                );
                enqueue(client, reject.as_bytes());
            }
        }
        Ok(Message::ReplaceOrder(cmd)) => {
            if cmd.account() == client.account {
                core.handle_replace(now, origin, cmd)?;
            } else {
                counts.account_mismatches += 1;
                let meta = refused(cmd.instrument(), cmd.account(), cmd.cl_ord_id());
                let reject = CancelRejected::new(
                    meta,
                    cmd.orig_cl_ord_id(),
                    CxlRejResponseTo::Replace,
                    RejectReason::UnknownAccount,
                );
                enqueue(client, reject.as_bytes());
            }
        }
        Ok(Message::MassCancelRequest(cmd)) => {
            if cmd.account() != client.account {
                counts.account_mismatches += 1;
            }
            let outcome = mass_cancel(now, client, cmd, core)?;
            let report =
                MassCancelReport::new(cmd.request_id(), cmd.scope(), outcome, now.wall, now.mono);
            enqueue(client, report.as_bytes());
        }
        Ok(other) => {
            tracing::warn!(client = client.id, msg_type = ?other.msg_type(), "not an order command; disconnecting");
            return Ok(false);
        }
        Err(e) => {
            tracing::warn!(client = client.id, error = %e, "undecodable message; disconnecting");
            return Ok(false);
        }
    }
    Ok(true)
}

/// Carries out `cmd` for `client`: the number of orders canceled, or why none was (another
/// account than the connection's is `UnknownAccount` and never reaches the core).
fn mass_cancel<V: VenueSession>(
    now: VenueTime,
    client: &Client,
    cmd: &MassCancelRequest,
    core: &mut OrderCore<V>,
) -> Result<Result<u64, RejectReason>, CoreError> {
    if cmd.account() != client.account {
        tracing::warn!(
            client = client.id,
            account = %cmd.account(),
            "mass cancel for another account refused"
        );
        return Ok(Err(RejectReason::UnknownAccount));
    }
    let scope = MassCancel {
        account: client.account,
        instrument: cmd.instrument(),
        side: cmd.side(),
    };
    Ok(
        match core.mass_cancel(now, Origin::Rdma(client.id), scope)? {
            Ok(done) => Ok(done.affected),
            Err(refused) => {
                tracing::info!(
                    client = client.id,
                    reason = %refused.reason,
                    text = %refused.text,
                    "mass cancel refused"
                );
                Err(refused.reason)
            }
        },
    )
}

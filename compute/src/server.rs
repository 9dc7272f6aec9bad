//! [`ComputeServer`]: `tickwarp compute serve`. Clients connect a `MessageChannel` (soft
//! iWARP, or any verbs device), SEND [`Job`](crate::Job)s and [`Cancel`]s inline, one record per
//! message, and receive one [`JobResult`] per job, in a SEND.
//!
//! Three kinds of threads: an accept thread owns the listener (connection setup
//! blocks) and hands each admitted channel to the duty cycle; the duty cycle
//! (`compute-io`) only calls the channels' non-blocking `try_recv`/`try_send`, decodes,
//! answers what needs no computation (busy, invalid, cancelled, expired) at once, queues
//! jobs in the fair [`Scheduler`] and hands at most `threads` jobs at a time to the
//! worker pool (a rayon pool of `threads` threads, on which Monte Carlo also
//! parallelizes); the workers send results back through a channel the duty cycle drains.
//!
//! Answers: a job whose deadline passed before it started is expired; a job beyond the
//! client's or the server's queue bound is busy (nothing buffered); a bad parameter or a
//! job costing more than `max_job_cost` is invalid with the field; a cancel removes a
//! queued job (answered cancelled), a job already computing completes as usual. A record
//! that is not a job or cancel closes the connection. A client whose results pile up
//! (it stopped reading) is not read from until it catches up, so its credits run out and
//! the server's memory for it stays bounded.
//!
//! # Trust
//!
//! The gateway's RDMA order entry rules, with its code ([`Admission`]): the accept thread
//! checks the failure throttle, that the MPA private data carries a
//! [`Credential`](tickwarp_gateway::service::rdma_auth::Credential) (see
//! [`client_connect_params`]), the connection cap and memory budget, then the token
//! against the account's argon2id hash; any failure is an MPA Reject with a reason. The
//! server decides each channel's memory (its own slots, the client's proposal clamped
//! to [`PeerLimits`]). Jobs and results travel in SENDs into receive buffers each side
//! posted itself: this server registers no memory for remote access, so no client can
//! make it write anywhere.
//!
//! What this module must not do: block or allocate per message in the duty cycle
//! (beyond bounded queues), read a clock other than through `tickwarp_runtime::clock`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Deserialize;
use tickwarp_gateway::service::rdma_admission::{
    Admission, AdmissionGauges, AdmissionLimits, AdmissionTexts, Admitted, Lease,
};
use tickwarp_gateway::service::rdma_auth::TokenTable;
pub use tickwarp_gateway::service::rdma_entry::client_connect_params;
use tickwarp_rdma::channel::{ChannelConfig, ChannelError, HEADER_LEN, MessageChannel, PeerLimits};
use tickwarp_rdma::verbs::{Backend, CmError, Device, ListenParams, Listener, VerbsError};
use tickwarp_runtime::clock::monotonic_now;
use tickwarp_runtime::idle::{Backoff, IdleStrategy};
use tickwarp_wire::AccountId;

use crate::exec::{cost, cost_field, execute};
use crate::job::{Cancel, JobResult, MAX_RECORD, RESULT_LEN, Request, Status};
use crate::sched::{Next, Scheduler};

/// Records read from one client per duty cycle.
const RECV_BATCH: usize = 32;
/// A client with this many unsent results is not read from until it drains them.
const OUTBOX_HIGH: usize = 256;
/// Established channels waiting for the duty cycle.
const HANDOFF_DEPTH: usize = 64;

/// Reject reason: the credential is missing or malformed.
pub const REJECT_NO_CREDENTIAL: &[u8] = b"tickwarp compute: credential missing or malformed";
/// Reject reason: wrong account or token.
pub const REJECT_AUTH: &[u8] = b"tickwarp compute: authentication failed";
/// Reject reason: the address failed too often recently.
pub const REJECT_LOCKED_OUT: &[u8] = b"tickwarp compute: too many failed attempts, retry later";
/// Reject reason: `max_clients` clients are connected.
pub const REJECT_CAP: &[u8] = b"tickwarp compute: connection limit reached";
/// Reject reason: the memory budget has no room for another connection.
pub const REJECT_BUDGET: &[u8] = b"tickwarp compute: memory budget exhausted";

/// What admission logs and answers.
const TEXTS: AdmissionTexts = AdmissionTexts {
    service: "compute",
    no_credential: REJECT_NO_CREDENTIAL,
    auth: REJECT_AUTH,
    locked_out: REJECT_LOCKED_OUT,
    cap: REJECT_CAP,
    budget: REJECT_BUDGET,
};

/// Why the compute server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No device for the listen address.
    #[error("RDMA device: {0}")]
    Verbs(#[from] VerbsError),
    /// The listener could not bind.
    #[error("RDMA listener: {0}")]
    Listen(#[from] CmError),
    /// A thread could not start.
    #[error("thread: {0}")]
    Thread(#[from] std::io::Error),
    /// The worker pool could not start.
    #[error("worker pool: {0}")]
    Pool(#[from] rayon::ThreadPoolBuildError),
    /// The settings are inconsistent.
    #[error("compute server settings: {0}")]
    Settings(String),
    /// The credentials file is unreadable or invalid.
    #[error("credentials {path}: {reason}")]
    Credentials {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// How the server listens, whom it admits, what it commits and computes.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    /// Soft iWARP, a verbs device, or whichever serves the address.
    pub backend: Backend,
    /// Listen address.
    pub listen: SocketAddr,
    /// Worker threads (jobs computed at once, and the pool Monte Carlo runs on).
    pub threads: usize,
    /// Clients connected at once at most.
    pub max_clients: usize,
    /// The accounts clients may authenticate as, with their token hashes.
    pub tokens: TokenTable,
    /// Receive slots per connection, and the most credits a client's proposal gives.
    pub slots: u32,
    /// Bytes per receive slot (header included), and the largest client slot used.
    pub slot_bytes: u32,
    /// Channel memory of all connections together at most, bytes.
    pub memory_budget_bytes: usize,
    /// Jobs queued per client at most (beyond: busy).
    pub queue_per_client: usize,
    /// Jobs queued in all at most (beyond: busy).
    pub queue_total: usize,
    /// Largest job accepted, in [`crate::exec::cost`] units (beyond: invalid, naming
    /// paths or steps).
    pub max_job_cost: u64,
    /// A connection must complete its MPA Request within this.
    pub handshake_timeout: Duration,
    /// MPA handshakes in progress at most.
    pub max_half_open: usize,
}

impl ServerSettings {
    /// Defaults for everything but where to listen, the threads and whom to admit: 64
    /// clients, 64 slots of 256 bytes each, 16 MiB budget, 1,024 queued jobs per client
    /// and 16,384 in all, jobs up to 10^10 path-steps.
    pub fn new(listen: SocketAddr, threads: usize, tokens: TokenTable) -> ServerSettings {
        ServerSettings {
            backend: Backend::Auto,
            listen,
            threads,
            max_clients: 64,
            tokens,
            slots: 64,
            slot_bytes: 256,
            memory_budget_bytes: 16 << 20,
            queue_per_client: 1024,
            queue_total: 16_384,
            max_job_cost: 10_000_000_000,
            handshake_timeout: Duration::from_secs(5),
            max_half_open: 256,
        }
    }

    /// The server's side of every channel.
    pub fn channel_config(&self) -> ChannelConfig {
        ChannelConfig {
            slots: self.slots,
            slot_size: self.slot_bytes,
            send_depth: self.slots,
        }
    }

    /// The clamp applied to a client's proposal.
    pub fn peer_limits(&self) -> PeerLimits {
        PeerLimits {
            max_slot_size: self.slot_bytes,
            max_slots: self.slots,
        }
    }

    /// Channel memory one connection commits at most.
    pub fn connection_bytes(&self) -> usize {
        self.limits().connection_bytes()
    }

    /// What admission allows.
    fn limits(&self) -> AdmissionLimits {
        AdmissionLimits {
            max_connections: self.max_clients,
            memory_budget_bytes: self.memory_budget_bytes,
            channel: self.channel_config(),
            peer: self.peer_limits(),
            min_message: RESULT_LEN,
        }
    }

    fn check(&self) -> Result<(), ServerError> {
        let bad = |m: String| Err(ServerError::Settings(m));
        if self.threads == 0 || self.max_clients == 0 {
            return bad("threads and max_clients must be at least 1".into());
        }
        if (self.slot_bytes as usize) < MAX_RECORD + HEADER_LEN {
            return bad(format!(
                "slot_bytes = {} cannot hold a job ({} bytes)",
                self.slot_bytes,
                MAX_RECORD + HEADER_LEN
            ));
        }
        if self.queue_per_client == 0 || self.queue_total == 0 {
            return bad("queue bounds must be at least 1".into());
        }
        let worst = self.max_clients.saturating_mul(self.connection_bytes());
        if worst > self.memory_budget_bytes {
            return bad(format!(
                "max_clients × connection memory = {} × {} B = {worst} B exceeds the memory budget of {} B",
                self.max_clients,
                self.connection_bytes(),
                self.memory_budget_bytes
            ));
        }
        Ok(())
    }
}

/// The credentials file: the gateway's `[[rdma.tokens]]` entries.
///
/// ```toml
/// [[tokens]]
/// account = 201
/// token_hash = "$argon2id$v=19$..."   # `tickwarp passwd`
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    tokens: Vec<TokenEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    account: AccountId,
    token_hash: String,
}

/// Reads a credentials file (TOML, `[[tokens]]` with `account` and `token_hash`).
pub fn load_credentials(path: &Path) -> Result<TokenTable, ServerError> {
    let err = |reason: String| ServerError::Credentials {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let file: CredentialsFile = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
    if file.tokens.is_empty() {
        return Err(err("no [[tokens]] entry: nobody could connect".into()));
    }
    TokenTable::new(
        file.tokens
            .iter()
            .map(|t| (t.account, t.token_hash.as_str())),
    )
    .map_err(|e| err(e.to_string()))
}

/// Counters of the compute server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections admitted and not yet closed.
    pub connections: usize,
    /// Channel memory those connections committed, bytes.
    pub committed_bytes: usize,
    /// Requests rejected for a missing, malformed or wrong credential.
    pub auth_failures: u64,
    /// Requests rejected because the address was locked out.
    pub locked_out: u64,
    /// Requests rejected by the connection cap or the memory budget.
    pub over_capacity: u64,
    /// Jobs computed (done or failed).
    pub computed: u64,
    /// Jobs answered busy.
    pub busy: u64,
    /// Jobs answered expired.
    pub expired: u64,
    /// Jobs answered invalid.
    pub invalid: u64,
    /// Jobs answered cancelled.
    pub cancelled: u64,
    /// Connections closed for a record that is not a job or cancel.
    pub protocol_errors: u64,
}

/// The job counters (admission counts in [`AdmissionGauges`]).
#[derive(Debug, Default)]
struct Gauges {
    computed: AtomicU64,
    busy: AtomicU64,
    expired: AtomicU64,
    invalid: AtomicU64,
    cancelled: AtomicU64,
    protocol_errors: AtomicU64,
}

/// The running compute server; dropping it stops it.
#[derive(Debug)]
pub struct ComputeServer {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    local_addr: SocketAddr,
    admission: Arc<AdmissionGauges>,
    gauges: Arc<Gauges>,
}

impl ComputeServer {
    /// Listens as `settings` say and starts the accept thread, the duty cycle and the
    /// worker pool.
    pub fn bind(settings: ServerSettings) -> Result<ComputeServer, ServerError> {
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
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(settings.threads)
            .thread_name(|i| format!("compute-w{i}"))
            .build()?;
        let stop = Arc::new(AtomicBool::new(false));
        let gauges = Arc::new(Gauges::default());
        let (tx, admitted) = sync_channel(HANDOFF_DEPTH);
        let (done_tx, done_rx) = channel();
        let io = DutyCycle {
            admitted,
            clients: Vec::new(),
            sched: Scheduler::new(settings.queue_per_client, settings.queue_total),
            pool,
            done_tx,
            done_rx,
            in_flight: 0,
            threads: settings.threads,
            max_job_cost: settings.max_job_cost,
            next_key: 1,
            gauges: Arc::clone(&gauges),
            buf: vec![0; settings.slot_bytes as usize],
        };
        let limits = settings.limits();
        let admission = Admission::new(dev, pd, settings.tokens, limits, TEXTS);
        let admission_gauges = admission.gauges();
        let accept = admission.spawn("compute-accept", listener, tx, Arc::clone(&stop))?;
        let io_stop = Arc::clone(&stop);
        let io = std::thread::Builder::new()
            .name("compute-io".to_owned())
            .spawn(move || io.run(&io_stop));
        let io = match io {
            Ok(io) => io,
            Err(e) => {
                stop.store(true, Ordering::Release);
                if accept.join().is_err() {
                    tracing::error!("compute accept thread panicked");
                }
                return Err(e.into());
            }
        };
        Ok(ComputeServer {
            stop,
            threads: vec![accept, io],
            local_addr,
            admission: admission_gauges,
            gauges,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The counters now.
    pub fn stats(&self) -> ServerStats {
        let g = &self.gauges;
        let get = |a: &AtomicU64| a.load(Ordering::Acquire);
        let admission = self.admission.get();
        ServerStats {
            connections: admission.connections,
            committed_bytes: admission.committed_bytes,
            auth_failures: admission.auth_failures,
            locked_out: admission.locked_out,
            over_capacity: admission.over_capacity,
            computed: get(&g.computed),
            busy: get(&g.busy),
            expired: get(&g.expired),
            invalid: get(&g.invalid),
            cancelled: get(&g.cancelled),
            protocol_errors: get(&g.protocol_errors),
        }
    }

    /// Whether the server's threads are still running.
    pub fn is_running(&self) -> bool {
        self.threads.iter().all(|t| !t.is_finished())
    }
}

impl Drop for ComputeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                tracing::error!("compute server thread panicked");
            }
        }
    }
}

/// One connected client in the duty cycle.
#[derive(Debug)]
struct Client {
    key: u64,
    channel: MessageChannel,
    account: AccountId,
    outbox: VecDeque<[u8; RESULT_LEN]>,
    closed: bool,
    _lease: Lease,
}

/// The `compute-io` thread's state.
struct DutyCycle {
    admitted: Receiver<Admitted>,
    clients: Vec<Client>,
    sched: Scheduler,
    pool: rayon::ThreadPool,
    done_tx: Sender<(u64, JobResult)>,
    done_rx: Receiver<(u64, JobResult)>,
    in_flight: usize,
    threads: usize,
    max_job_cost: u64,
    next_key: u64,
    gauges: Arc<Gauges>,
    /// One receive slot's worth, so an oversized record is read and refused.
    buf: Vec<u8>,
}

impl DutyCycle {
    fn run(mut self, stop: &AtomicBool) {
        let mut idle = Backoff::new(
            100,
            100,
            Duration::from_micros(1),
            Duration::from_micros(200),
        );
        while !stop.load(Ordering::Acquire) {
            let work = self.do_work();
            idle.idle(work);
        }
        for c in &mut self.clients {
            c.channel.disconnect();
        }
    }

    fn do_work(&mut self) -> usize {
        let now = monotonic_now();
        let mut work = 0;
        while let Ok(a) = self.admitted.try_recv() {
            let key = self.next_key;
            self.next_key += 1;
            self.clients.push(Client {
                key,
                channel: a.channel,
                account: a.account,
                outbox: VecDeque::with_capacity(OUTBOX_HIGH),
                closed: false,
                _lease: a.lease,
            });
            work += 1;
        }
        work += self.read_clients(now);
        work += self.dispatch(now);
        work += self.collect();
        work += self.flush();
        let before = self.clients.len();
        for c in self.clients.iter().filter(|c| c.closed) {
            let dropped = self.sched.remove_client(c.key);
            tracing::info!(account = %c.account, dropped, "compute client disconnected");
        }
        self.clients.retain(|c| !c.closed);
        work + (before - self.clients.len())
    }

    /// Reads and handles up to [`RECV_BATCH`] records per client that keeps up.
    fn read_clients(&mut self, now: tickwarp_runtime::Nanos) -> usize {
        let mut work = 0;
        for c in self.clients.iter_mut().filter(|c| !c.closed) {
            for _ in 0..RECV_BATCH {
                if c.outbox.len() >= OUTBOX_HIGH {
                    break;
                }
                let len = match c.channel.try_recv(&mut self.buf) {
                    Ok(Some(len)) => len,
                    Ok(None) => break,
                    Err(e) => {
                        if e != ChannelError::Disconnected {
                            tracing::warn!(account = %c.account, error = %e, "compute client failed");
                        }
                        c.closed = true;
                        break;
                    }
                };
                work += 1;
                let msg = self.buf.get(..len).unwrap_or_default();
                let answer = match Request::from_bytes(msg) {
                    Ok(Request::Job(job)) => {
                        if cost(&job) > self.max_job_cost {
                            Some(JobResult::invalid(
                                job.id,
                                cost_field(&job),
                                cost(&job) as f64,
                            ))
                        } else {
                            match self.sched.push(c.key, job, now) {
                                Ok(()) => None,
                                Err(_) => Some(JobResult::empty(job.id, Status::Busy)),
                            }
                        }
                    }
                    Ok(Request::Cancel(Cancel { id })) => self
                        .sched
                        .cancel(c.key, id)
                        .then(|| JobResult::empty(id, Status::Cancelled)),
                    Err(e) => match (e.invalid_field(), Request::id_of(msg)) {
                        (Some(field), Some(id)) => Some(JobResult::invalid(id, field, 0.0)),
                        _ => {
                            tracing::warn!(account = %c.account, error = %e, "compute: not a job or cancel; disconnecting");
                            self.gauges.protocol_errors.fetch_add(1, Ordering::AcqRel);
                            c.channel.disconnect();
                            c.closed = true;
                            break;
                        }
                    },
                };
                if let Some(r) = answer {
                    count(&self.gauges, r.status);
                    c.outbox.push_back(r.to_bytes());
                }
            }
        }
        work
    }

    /// Hands queued jobs to free workers; answers expired ones.
    fn dispatch(&mut self, now: tickwarp_runtime::Nanos) -> usize {
        let mut work = 0;
        while self.in_flight < self.threads {
            let Some(next) = self.sched.next(now) else {
                break;
            };
            work += 1;
            match next {
                Next::Expired { client, job } => {
                    let r = JobResult::empty(job.id, Status::Expired);
                    count(&self.gauges, r.status);
                    if let Some(c) = self.clients.iter_mut().find(|c| c.key == client) {
                        c.outbox.push_back(r.to_bytes());
                    }
                }
                Next::Run { client, job } => {
                    self.in_flight += 1;
                    let tx = self.done_tx.clone();
                    self.pool.spawn(move || {
                        let r = execute(&job);
                        // The duty cycle holds the receiver until every worker is done.
                        let _ = tx.send((client, r));
                    });
                }
            }
        }
        work
    }

    /// Takes finished results into their clients' outboxes.
    fn collect(&mut self) -> usize {
        let mut work = 0;
        while let Ok((client, r)) = self.done_rx.try_recv() {
            self.in_flight -= 1;
            work += 1;
            count(&self.gauges, r.status);
            match self.clients.iter_mut().find(|c| c.key == client) {
                Some(c) => c.outbox.push_back(r.to_bytes()),
                None => tracing::debug!(job = r.id, "result for a disconnected client dropped"),
            }
        }
        work
    }

    /// Sends what the clients have credit for.
    fn flush(&mut self) -> usize {
        let mut sent = 0;
        for c in self.clients.iter_mut().filter(|c| !c.closed) {
            while let Some(out) = c.outbox.front() {
                match c.channel.try_send(out) {
                    Ok(()) => {
                        c.outbox.pop_front();
                        sent += 1;
                    }
                    Err(ChannelError::WouldBlock) => {
                        if c.channel.progress().is_err() {
                            c.closed = true;
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(account = %c.account, error = %e, "compute client gone");
                        c.closed = true;
                        break;
                    }
                }
            }
        }
        sent
    }
}

/// Counts an answer by status.
fn count(g: &Gauges, s: Status) {
    let counter = match s {
        Status::Done | Status::Failed => &g.computed,
        Status::Busy => &g.busy,
        Status::Expired => &g.expired,
        Status::Invalid => &g.invalid,
        Status::Cancelled => &g.cancelled,
    };
    counter.fetch_add(1, Ordering::AcqRel);
}

//! [`Admission`]: who may open an RDMA channel to a server, and what it may commit. One
//! admission path for every RDMA server that authenticates its peers with a
//! [`Credential`] (the gateway's order entry and the compute server): an accept thread
//! ([`Admission::spawn`]) owns the listener, admits or rejects each request and hands
//! each established channel, with its [`Lease`], to the server's duty cycle.
//!
//! Before any channel memory is committed, a request passes, in this order: the peer
//! address is not locked out by earlier failures ([`FailureThrottle`]); the MPA private
//! data carries a [`Credential`]; the connection cap and the memory budget have room (a
//! [`Lease`] on both); the token matches the account's argon2id hash (one verification,
//! on the accept thread). Any failure is an MPA Reject (R=1) with the server's reason
//! text ([`AdmissionTexts`]) and, for a missing or wrong credential, a WARN line with
//! the peer address; failures lock the address out for a growing delay. An admitted
//! channel whose slots cannot hold [`AdmissionLimits::min_message`] is disconnected.
//!
//! What this module must not do: run on a duty cycle (verification takes tens of
//! milliseconds), read a clock other than through `tickwarp_runtime::clock` (once per
//! request, for the throttle), or log a token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::Duration;

use tickwarp_rdma::channel::{ChannelConfig, MessageChannel, PeerLimits, request_app_data};
use tickwarp_rdma::verbs::{CmError, ConnectRequest, Device, Listener, ProtectionDomain};
use tickwarp_runtime::clock::monotonic_now;
use tickwarp_wire::AccountId;

use super::rdma_auth::{Credential, FailureThrottle, TokenTable};

/// How long the accept thread waits for a request before checking for shutdown.
const ACCEPT_POLL: Duration = Duration::from_millis(50);
/// First lockout after a failed authentication; it doubles with each failure.
const LOCKOUT_BASE: Duration = Duration::from_millis(250);
/// Longest lockout.
const LOCKOUT_MAX: Duration = Duration::from_secs(60);
/// Peer addresses the throttle remembers.
const THROTTLE_CAPACITY: usize = 4096;

/// What a server says: the name in its log lines and the reasons of its MPA Rejects.
#[derive(Clone, Copy, Debug)]
pub struct AdmissionTexts {
    /// The server's name in log lines (`"RDMA order entry"`, `"compute"`).
    pub service: &'static str,
    /// Reject reason: the credential is missing or malformed.
    pub no_credential: &'static [u8],
    /// Reject reason: wrong account or token.
    pub auth: &'static [u8],
    /// Reject reason: the address failed too often recently.
    pub locked_out: &'static [u8],
    /// Reject reason: the connection cap is reached.
    pub cap: &'static [u8],
    /// Reject reason: the memory budget has no room for another connection.
    pub budget: &'static [u8],
}

/// What a server admits and commits per connection.
#[derive(Clone, Copy, Debug)]
pub struct AdmissionLimits {
    /// Clients connected at once at most.
    pub max_connections: usize,
    /// Channel memory of all connections together at most, bytes.
    pub memory_budget_bytes: usize,
    /// The server's side of every channel.
    pub channel: ChannelConfig,
    /// The clamp applied to a client's proposal.
    pub peer: PeerLimits,
    /// The largest message the server sends: a client whose slots are smaller is
    /// disconnected after the accept.
    pub min_message: usize,
}

impl AdmissionLimits {
    /// Channel memory one connection commits at most.
    pub fn connection_bytes(&self) -> usize {
        self.channel.committed_bytes(self.peer)
    }
}

/// Counters of one server's admission, shared between its accept thread, its duty
/// cycle (through the [`Lease`]s) and readers on any thread.
#[derive(Debug, Default)]
pub struct AdmissionGauges {
    connections: AtomicUsize,
    committed: AtomicUsize,
    auth_failures: AtomicU64,
    locked_out: AtomicU64,
    over_capacity: AtomicU64,
}

/// A snapshot of [`AdmissionGauges`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdmissionStats {
    /// Connections admitted and not yet closed (including those not yet taken by the
    /// duty cycle).
    pub connections: usize,
    /// Channel memory those connections committed, bytes.
    pub committed_bytes: usize,
    /// Requests rejected for a missing, malformed or wrong credential.
    pub auth_failures: u64,
    /// Requests rejected because the address was locked out.
    pub locked_out: u64,
    /// Requests rejected by the connection cap or the memory budget.
    pub over_capacity: u64,
}

impl AdmissionGauges {
    /// The counters now.
    pub fn get(&self) -> AdmissionStats {
        AdmissionStats {
            connections: self.connections.load(Ordering::Acquire),
            committed_bytes: self.committed.load(Ordering::Acquire),
            auth_failures: self.auth_failures.load(Ordering::Acquire),
            locked_out: self.locked_out.load(Ordering::Acquire),
            over_capacity: self.over_capacity.load(Ordering::Acquire),
        }
    }
}

/// One admitted connection's share of the cap and the budget, released on drop.
#[derive(Debug)]
pub struct Lease {
    gauges: Arc<AdmissionGauges>,
    bytes: usize,
}

impl Lease {
    /// Adjusts the reservation to what the channel really committed.
    fn settle(&mut self, bytes: usize) {
        if bytes < self.bytes {
            self.gauges
                .committed
                .fetch_sub(self.bytes - bytes, Ordering::AcqRel);
            self.bytes = bytes;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.gauges.connections.fetch_sub(1, Ordering::AcqRel);
        self.gauges
            .committed
            .fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// An authenticated, established connection on its way to the duty cycle.
#[derive(Debug)]
pub struct Admitted {
    /// The channel, connected.
    pub channel: MessageChannel,
    /// The account it authenticated as.
    pub account: AccountId,
    /// Its share of the cap and the budget; keep it as long as the channel.
    pub lease: Lease,
}

/// The accept thread's state: admission checks, then channel setup (see the module docs).
pub struct Admission {
    dev: Device,
    pd: ProtectionDomain,
    tokens: TokenTable,
    limits: AdmissionLimits,
    texts: AdmissionTexts,
    throttle: FailureThrottle,
    gauges: Arc<AdmissionGauges>,
}

impl Admission {
    /// Admission into channels on `dev`/`pd` for the accounts of `tokens`.
    pub fn new(
        dev: Device,
        pd: ProtectionDomain,
        tokens: TokenTable,
        limits: AdmissionLimits,
        texts: AdmissionTexts,
    ) -> Admission {
        Admission {
            dev,
            pd,
            tokens,
            limits,
            texts,
            throttle: FailureThrottle::new(LOCKOUT_BASE, LOCKOUT_MAX, THROTTLE_CAPACITY),
            gauges: Arc::new(AdmissionGauges::default()),
        }
    }

    /// The counters, for the server's stats.
    pub fn gauges(&self) -> Arc<AdmissionGauges> {
        Arc::clone(&self.gauges)
    }

    /// Starts the accept thread `name`: it admits the requests of `listener` into `tx`
    /// until `stop` is set or the receiver of `tx` is gone.
    pub fn spawn(
        mut self,
        name: &str,
        listener: Listener,
        tx: SyncSender<Admitted>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    match listener.accept(ACCEPT_POLL) {
                        Ok(request) => {
                            if let Some(admitted) = self.admit(request) {
                                if tx.send(admitted).is_err() {
                                    return;
                                }
                            }
                        }
                        Err(CmError::Timeout) => {}
                        Err(e) => {
                            let service = self.texts.service;
                            tracing::warn!(error = %e, "{service}: connection request failed");
                            std::thread::sleep(ACCEPT_POLL);
                        }
                    }
                }
            })
    }

    /// Admits or rejects one request (see the module docs).
    fn admit(&mut self, request: ConnectRequest) -> Option<Admitted> {
        let peer = request.peer_addr();
        let now = monotonic_now();
        let texts = self.texts;
        let service = texts.service;
        if let Err(wait) = self.throttle.check(peer.ip(), now) {
            self.gauges.locked_out.fetch_add(1, Ordering::AcqRel);
            tracing::debug!(%peer, ?wait, "{service}: request from a locked-out address rejected");
            reject(request, texts.locked_out, service);
            return None;
        }
        let app = request_app_data(&request).to_vec();
        let credential = match Credential::parse(&app) {
            Ok(c) => c,
            Err(e) => {
                self.gauges.auth_failures.fetch_add(1, Ordering::AcqRel);
                let lockout = self.throttle.record_failure(peer.ip(), now);
                tracing::warn!(%peer, error = %e, ?lockout, "{service}: no valid credential; rejected");
                reject(request, texts.no_credential, service);
                return None;
            }
        };
        let Some(mut lease) = self.reserve() else {
            self.gauges.over_capacity.fetch_add(1, Ordering::AcqRel);
            let max = self.limits.max_connections;
            let full = self.gauges.connections.load(Ordering::Acquire) >= max;
            tracing::warn!(%peer, max_connections = max, "{service}: full; rejected");
            reject(
                request,
                if full { texts.cap } else { texts.budget },
                service,
            );
            return None;
        };
        if !self.tokens.verify(&credential) {
            // Released before the peer hears the answer.
            drop(lease);
            self.gauges.auth_failures.fetch_add(1, Ordering::AcqRel);
            let lockout = self.throttle.record_failure(peer.ip(), now);
            tracing::warn!(%peer, account = %credential.account, ?lockout, "{service}: authentication failed; rejected");
            reject(request, texts.auth, service);
            return None;
        }
        self.throttle.record_success(peer.ip());
        let account = credential.account;
        let accepted = MessageChannel::accept_with(
            &self.dev,
            &self.pd,
            request,
            self.limits.channel,
            self.limits.peer,
        );
        let mut channel = match accepted {
            Ok(channel) => channel,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "{service}: accept failed");
                return None;
            }
        };
        if channel.max_message() < self.limits.min_message {
            let need = self.limits.min_message;
            tracing::warn!(%peer, need, "{service}: client slots too small; disconnected");
            channel.disconnect();
            return None;
        }
        lease.settle(channel.committed_bytes());
        tracing::info!(%peer, %account, "{service}: client connected");
        Some(Admitted {
            channel,
            account,
            lease,
        })
    }

    /// A share of the cap and the budget for one more connection, if both have room.
    /// Only the accept thread adds, so the check and the add cannot race.
    fn reserve(&self) -> Option<Lease> {
        let bytes = self.limits.connection_bytes();
        let connections = self.gauges.connections.load(Ordering::Acquire);
        let committed = self.gauges.committed.load(Ordering::Acquire);
        if connections >= self.limits.max_connections
            || committed.saturating_add(bytes) > self.limits.memory_budget_bytes
        {
            return None;
        }
        self.gauges.connections.fetch_add(1, Ordering::AcqRel);
        self.gauges.committed.fetch_add(bytes, Ordering::AcqRel);
        Some(Lease {
            gauges: Arc::clone(&self.gauges),
            bytes,
        })
    }
}

/// Sends an MPA Reject with `reason`; the peer may already be gone.
fn reject(request: ConnectRequest, reason: &[u8], service: &str) {
    let peer: SocketAddr = request.peer_addr();
    if let Err(e) = request.reject(reason) {
        tracing::debug!(%peer, error = %e, "{service}: reject not delivered");
    }
}

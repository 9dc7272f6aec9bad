//! [`RdmaEntry`]: binary order entry over RDMA. Clients connect a
//! [`MessageChannel`] (soft iWARP, or a verbs device) and SEND `tickwarp-wire` order
//! commands (`NewOrder`, `CancelOrder`, `ReplaceOrder`, one record per message); the
//! gateway SENDs back the execution records of their orders (`OrderAccepted`,
//! `OrderRejected`, `OrderFilled`, `OrderCanceled`, `CancelRejected`, `OrderReplaced`),
//! the same records it journals.
//!
//! Connection setup (the MPA exchange) blocks, so a small accept thread owns the
//! listener and hands each established channel to the duty cycle, which only ever calls
//! the channel's non-blocking `try_recv`/`try_send`. Each connection gets a client id
//! that no journaled order carries (ids continue after the journal's highest), and the
//! executions of its orders go to that connection only: a client that reconnects does
//! not receive the executions of its earlier connection (the journal still has them).
//! A message that is not an order command closes the connection; an order for an
//! account the configuration does not allow is refused with `UnknownAccount` without
//! reaching the core. Executions the peer has no credit for wait in a per-client queue.
//!
//! What this module must not do: block in the duty cycle, read a clock, or decide
//! anything about orders beyond the account check.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use tickwarp_rdma::channel::{ChannelConfig, ChannelError, MessageChannel};
use tickwarp_rdma::verbs::{Backend, CmError, Device, Listener, VerbsError};
use tickwarp_wire::IntoBytes;
use tickwarp_wire::{
    AccountId, CancelRejected, CxlRejResponseTo, ExecMeta, Message, OrderRejected, RejectReason,
    decode,
};

use super::core::{CoreError, OrderCore, Origin, Report, execution_bytes};
use crate::venue::{VenueSession, VenueTime};

/// How long the accept thread waits for a request before checking for shutdown.
const ACCEPT_POLL: Duration = Duration::from_millis(50);
/// Largest record exchanged (order commands and executions are 64 or 128 bytes).
const MAX_RECORD: usize = 128;
/// Messages read from one client per duty cycle.
const RECV_BATCH: usize = 64;
/// Executions queued for a client without credit before it is disconnected.
const MAX_OUTBOX: usize = 65_536;
/// Established channels waiting for the duty cycle.
const HANDOFF_DEPTH: usize = 64;

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

#[derive(Debug)]
struct Client {
    id: u32,
    channel: MessageChannel,
    outbox: VecDeque<Outbound>,
    closed: bool,
}

/// RDMA order entry (see the module docs).
#[derive(Debug)]
pub struct RdmaEntry {
    accepted: Receiver<MessageChannel>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    local_addr: SocketAddr,
    accounts: HashSet<AccountId>,
    clients: Vec<Client>,
    next_id: u32,
    buf: [u8; MAX_RECORD],
}

impl RdmaEntry {
    /// Listens on `addr` (soft iWARP unless `backend` picks a verbs device) for clients
    /// trading `accounts`; client ids start at `first_id`.
    pub fn bind(
        backend: Backend,
        addr: SocketAddr,
        config: ChannelConfig,
        accounts: &[AccountId],
        first_id: u32,
    ) -> Result<RdmaEntry, RdmaEntryError> {
        let dev = Device::open_for(backend, addr.ip())?;
        let pd = dev.alloc_pd();
        let listener = Listener::bind(&pd, addr)?;
        let local_addr = listener.local_addr();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, accepted) = sync_channel(HANDOFF_DEPTH);
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("gw-rdma-accept".to_owned())
            .spawn(move || {
                while !thread_stop.load(Ordering::Acquire) {
                    let request = match listener.accept(ACCEPT_POLL) {
                        Ok(request) => request,
                        Err(CmError::Timeout) => continue,
                        Err(e) => {
                            tracing::warn!(error = %e, "RDMA connection request failed");
                            std::thread::sleep(ACCEPT_POLL);
                            continue;
                        }
                    };
                    let peer = request.peer_addr();
                    match MessageChannel::accept(&dev, &pd, request, config) {
                        Ok(channel) if channel.max_message() < MAX_RECORD => {
                            tracing::warn!(%peer, "RDMA client slots too small for orders");
                            let mut channel = channel;
                            channel.disconnect();
                        }
                        Ok(channel) => {
                            tracing::info!(%peer, "RDMA order entry client connected");
                            if tx.send(channel).is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!(%peer, error = %e, "RDMA accept failed"),
                    }
                }
            })?;
        Ok(RdmaEntry {
            accepted,
            stop,
            thread: Some(thread),
            local_addr,
            accounts: accounts.iter().copied().collect(),
            clients: Vec::new(),
            next_id: first_id.max(1),
            buf: [0; MAX_RECORD],
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Clients connected.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// Takes new clients, reads their commands into `core`. Returns the work done.
    pub fn poll_input<V: VenueSession>(
        &mut self,
        now: VenueTime,
        core: &mut OrderCore<V>,
    ) -> Result<usize, CoreError> {
        let mut work = 0;
        while let Ok(channel) = self.accepted.try_recv() {
            let id = self.next_id;
            self.next_id = self.next_id.saturating_add(1);
            self.clients.push(Client {
                id,
                channel,
                outbox: VecDeque::with_capacity(256),
                closed: false,
            });
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
                        client.closed = true;
                        break;
                    }
                };
                work += 1;
                let msg = self.buf.get(..len).unwrap_or_default();
                if !handle_message(now, client, &self.accounts, msg, core)? {
                    client.channel.disconnect();
                    client.closed = true;
                    break;
                }
            }
        }
        self.clients.retain(|c| !c.closed);
        Ok(work)
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
                            client.closed = true;
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(client = client.id, error = %e, "RDMA client gone");
                        client.closed = true;
                        break;
                    }
                }
            }
        }
        self.clients.retain(|c| !c.closed);
        sent
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
        client.closed = true;
        return;
    }
    client.outbox.push_back(Outbound::new(bytes));
}

/// One message from a client; false when it is not an order command.
fn handle_message<V: VenueSession>(
    now: VenueTime,
    client: &mut Client,
    accounts: &HashSet<AccountId>,
    msg: &[u8],
    core: &mut OrderCore<V>,
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
            if accounts.contains(&cmd.account()) {
                core.handle_new(now, origin, cmd)?;
            } else {
                let meta = refused(cmd.instrument(), cmd.account(), cmd.cl_ord_id());
                let reject = OrderRejected::new(meta, RejectReason::UnknownAccount);
                enqueue(client, reject.as_bytes());
            }
        }
        Ok(Message::CancelOrder(cmd)) => {
            if accounts.contains(&cmd.account()) {
                core.handle_cancel(now, origin, cmd)?;
            } else {
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
            if accounts.contains(&cmd.account()) {
                core.handle_replace(now, origin, cmd)?;
            } else {
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

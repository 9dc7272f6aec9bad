//! Soft RC queue pairs: a sans-IO [`Connection`] plus its socket [`Driver`], behind one
//! mutex, progressed by whoever polls an attached CQ, calls `progress`, or runs a
//! progress agent.
//!
//! Progress moves bytes both ways (socket → `handle_bytes`, `poll_transmit` → socket),
//! maps a peer close, an I/O error or a Terminate to the Error state with every
//! outstanding work request flushed, and routes completions to the send or receive
//! CQ. It never allocates and never blocks. Also here: the glue from connection
//! management ([`cm`]) to a running QP (listen, accept, reject, connect).
//!
//! This module must not parse wire bytes or negotiate MPA itself; that is `proto`'s job.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::soft::Pd;
use crate::soft::cm::{self, CmError, ConnectInfo, ConnectParams, ListenParams, Negotiated};
use crate::soft::cq::Cq;
use crate::soft::driver::{Driver, FrameTap, MarkerFraming, Received, SocketOptions};
use crate::soft::mem::MrTable;
use crate::soft::proto::conn::{
    self, ConnConfig, ConnError, ConnEvent, Connection, RecvRequest, SendRequest,
};
use crate::stats::TransportStats;
use crate::verbs::{Completion, PostError, QpState, RecvWr, SendOp, SendWr, WcOpcode, WcStatus};

/// Reads per progress call at most, so one busy QP cannot starve the others of a CQ.
const MAX_READS_PER_PROGRESS: usize = 8;

/// Creation parameters of a soft QP, translated from `verbs::QpInit`.
#[derive(Clone, Debug)]
pub(crate) struct QpConfig {
    pub(crate) send_cq: Arc<Cq>,
    pub(crate) recv_cq: Arc<Cq>,
    pub(crate) sq_depth: usize,
    pub(crate) rq_depth: usize,
    pub(crate) max_sge: usize,
    pub(crate) max_inline: usize,
    pub(crate) max_message_size: u64,
    pub(crate) ird: u16,
    pub(crate) ord: u16,
    pub(crate) tap: Option<Arc<dyn FrameTap>>,
    pub(crate) busy_poll_us: u32,
}

/// The mutable part of a QP: protocol core and socket.
#[derive(Debug)]
struct Inner {
    conn: Connection,
    driver: Driver,
    /// RFC 6581 §3: a responder in the peer-to-peer model sends nothing until the
    /// initiator's ready-to-receive message arrived.
    awaiting_rtr: bool,
    /// Responder without peer-to-peer mode: nothing is sent before the initiator's first
    /// bytes arrived (RFC 5044 §7.1.4).
    awaiting_first_fpdu: bool,
    /// The stream is gone (closed, failed, or shut down after a Terminate).
    closed: bool,
    /// A Terminate is queued: shut the stream down once it has been written.
    close_after_flush: bool,
    /// MPA markers, when negotiated in either direction (RFC 5044 §4.3).
    markers: Option<MarkerFraming>,
    /// Stream bytes that arrived with the peer's MPA Reply/Request.
    early_bytes: u64,
}

/// A QP as shared between the application's handles, its CQs and progress agents.
#[derive(Debug)]
pub(crate) struct QpShared {
    qp_num: u32,
    table: Arc<MrTable>,
    send_cq: Arc<Cq>,
    recv_cq: Arc<Cq>,
    inner: Mutex<Inner>,
}

/// A handle to a soft QP.
#[derive(Clone, Debug)]
pub(crate) struct Qp {
    shared: Arc<QpShared>,
}

impl Qp {
    /// Builds a running QP on a negotiated stream and attaches it to its CQs.
    fn start(pd: &Pd, cfg: &QpConfig, neg: Negotiated) -> Result<Qp, CmError> {
        let conn_cfg = ConnConfig {
            crc: neg.crc,
            mulpdu: neg.mulpdu,
            sq_depth: cfg.sq_depth,
            rq_depth: cfg.rq_depth,
            ird: usize::from(neg.ird),
            ord: usize::from(neg.ord),
            max_message_size: u32::try_from(cfg.max_message_size).unwrap_or(u32::MAX),
            max_sge: cfg.max_sge,
            max_inline: cfg.max_inline,
            pd: pd.id(),
        };
        let mut conn = Connection::new(conn_cfg).map_err(CmError::Config)?;
        let sends_rtr = neg.send_rtr.is_some();
        if let Some(kind) = neg.send_rtr {
            conn.send_rtr(kind);
        }
        let mut markers = (neg.markers_rx || neg.markers_tx)
            .then(|| MarkerFraming::new(neg.crc, neg.markers_rx, neg.markers_tx));
        // FPDUs that arrived with the peer's Reply/Request are the stream's first bytes.
        let failed_early = match feed(&mut conn, markers.as_mut(), pd.table(), &neg.early) {
            Fed::All => false,
            Fed::Violation | Fed::Ended => true,
        };
        let driver = Driver::new(
            neg.stream,
            cfg.tap.clone(),
            SocketOptions {
                busy_poll_us: cfg.busy_poll_us,
            },
        )
        .map_err(CmError::io)?;
        let shared = Arc::new(QpShared {
            qp_num: pd.device().next_qp_num(),
            table: Arc::clone(pd.table()),
            send_cq: Arc::clone(&cfg.send_cq),
            recv_cq: Arc::clone(&cfg.recv_cq),
            inner: Mutex::new(Inner {
                conn,
                driver,
                awaiting_rtr: neg.await_rtr,
                awaiting_first_fpdu: neg.await_first_fpdu && neg.early.is_empty(),
                closed: false,
                close_after_flush: failed_early,
                markers,
                early_bytes: neg.early.len() as u64,
            }),
        });
        // An initiator's RTR (RFC 6581) goes out now, with the connection, not at the
        // application's first progress call: the responder sends nothing before it.
        // Transmit only: receiving before the caller posted its receives (see
        // `accept_prepared`) could find a SEND with no buffer for it.
        if sends_rtr {
            let mut inner = shared.lock();
            shared.transmit(&mut inner);
        }
        shared.send_cq.attach(&shared);
        if !Arc::ptr_eq(&shared.send_cq, &shared.recv_cq) {
            shared.recv_cq.attach(&shared);
        }
        Ok(Qp { shared })
    }

    /// The QP number.
    pub(crate) fn qp_num(&self) -> u32 {
        self.shared.qp_num
    }

    /// Rts or Error.
    pub(crate) fn state(&self) -> QpState {
        if self.shared.lock().conn.is_error() {
            QpState::Error
        } else {
            QpState::Rts
        }
    }

    /// Queues a send work request (no allocation, no I/O).
    pub(crate) fn post_send(&self, wr: &SendWr<'_>) -> Result<(), PostError> {
        let solicited = wr.solicited;
        let op = match wr.op {
            SendOp::Send if solicited => conn::SendOp::SendSe,
            SendOp::Send => conn::SendOp::Send,
            SendOp::SendWithInvalidate { stag } if solicited => {
                conn::SendOp::SendSeInv { inv_stag: stag }
            }
            SendOp::SendWithInvalidate { stag } => conn::SendOp::SendInv { inv_stag: stag },
            SendOp::RdmaWrite { remote } => conn::SendOp::Write {
                remote_stag: remote.stag,
                remote_to: remote.offset,
            },
            SendOp::RdmaRead { remote } => conn::SendOp::Read {
                remote_stag: remote.stag,
                remote_to: remote.offset,
            },
        };
        let req = SendRequest {
            wr_id: wr.wr_id,
            op,
            payload: wr.payload,
        };
        let mut guard = self.shared.lock();
        let inner = &mut *guard;
        inner.conn.post_send(&req).map_err(post_error)?;
        // The doorbell: push the new FPDUs to the socket now, as an RNIC starts on a
        // posted work request, rather than at the next progress call, which reads the
        // socket first (one wasted read per message: ~10% of a 64 B ping-pong's p50
        // here, `bench --bin rdma_pingpong`).
        // While the peer's RTR or first FPDU is still awaited, a full progress step
        // reads it (if it is there) before transmitting.
        if inner.awaiting_rtr || inner.awaiting_first_fpdu {
            self.shared.progress_locked(inner);
        } else if !inner.closed {
            self.shared.transmit(inner);
        }
        Ok(())
    }

    /// Queues a receive work request (no allocation, no I/O).
    pub(crate) fn post_recv(&self, wr: &RecvWr<'_>) -> Result<(), PostError> {
        let req = RecvRequest {
            wr_id: wr.wr_id,
            sges: wr.sgl,
        };
        self.shared.lock().conn.post_recv(&req).map_err(post_error)
    }

    /// Drives I/O once; returns the work done (bytes moved plus completions).
    pub(crate) fn progress(&self) -> usize {
        self.shared.progress()
    }

    /// Bytes moved on the stream and the Terminates sent and received so far.
    pub(crate) fn stats(&self) -> TransportStats {
        let inner = self.shared.lock();
        let (bytes_sent, bytes_received) = inner.driver.byte_counts();
        let mut stats = TransportStats {
            bytes_sent,
            bytes_received: bytes_received + inner.early_bytes,
            ..TransportStats::default()
        };
        let fields = |c: conn::TermCause| (c.layer() as u8, c.error_type(), c.error_code());
        if let Some((l, t, c)) = inner.conn.terminate_sent().map(fields) {
            stats.terminates_sent.record(l, t, c);
        }
        if let Some((l, t, c)) = inner.conn.terminate_received().map(fields) {
            stats.terminates_received.record(l, t, c);
        }
        stats
    }

    /// Sends what is already queued (best effort, without blocking), closes the stream
    /// and flushes every outstanding work request.
    pub(crate) fn disconnect(&self) {
        let mut inner = self.shared.lock();
        let inner = &mut *inner;
        if !inner.closed {
            // Best effort: whatever the socket takes now goes out before the FIN.
            let _ = inner.driver.flush();
            inner.driver.shutdown();
            inner.closed = true;
        }
        inner.conn.handle_stream_closed();
        self.shared.drain_completions(&mut inner.conn);
    }
}

impl QpShared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        super::count_lock();
        // Every field update is a plain assignment or a call into the connection that
        // leaves it consistent, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One progress step: receive, react to events, transmit, complete.
    pub(crate) fn progress(&self) -> usize {
        let mut guard = self.lock();
        self.progress_locked(&mut guard)
    }

    /// [`QpShared::progress`] with the lock held.
    fn progress_locked(&self, inner: &mut Inner) -> usize {
        let mut work = 0;
        if !inner.closed {
            work += self.receive(inner);
        }
        while let Some(event) = inner.conn.poll_event() {
            match event {
                ConnEvent::RtrReceived(_) => inner.awaiting_rtr = false,
                // In Error nothing but a queued Terminate is sent; close after it.
                ConnEvent::TerminateSent(_) | ConnEvent::EnteredError => {
                    inner.close_after_flush = true;
                }
                ConnEvent::TerminateReceived(_) => inner.close_now(),
            }
        }
        if !inner.closed {
            work += self.transmit(inner);
            let staged = inner
                .markers
                .as_ref()
                .is_some_and(MarkerFraming::has_staged);
            if inner.close_after_flush
                && !staged
                && !inner.driver.has_pending()
                && !inner.conn.wants_transmit()
            {
                inner.close_now();
            }
        }
        work + self.drain_completions(&mut inner.conn)
    }

    /// Reads what the socket has (bounded) and feeds it to the connection.
    fn receive(&self, inner: &mut Inner) -> usize {
        let mut work = 0;
        for _ in 0..MAX_READS_PER_PROGRESS {
            match inner.driver.read() {
                Ok(Received::Bytes(n)) => {
                    work += n;
                    inner.awaiting_first_fpdu = false;
                    let Inner {
                        conn,
                        driver,
                        markers,
                        ..
                    } = &mut *inner;
                    match feed(conn, markers.as_mut(), &self.table, driver.received()) {
                        Fed::All => {}
                        // A Terminate is queued for transmit; the stream closes after it.
                        Fed::Violation => {
                            inner.close_after_flush = true;
                            break;
                        }
                        Fed::Ended => {
                            inner.close_now();
                            break;
                        }
                    }
                    if n < inner.driver.capacity() {
                        break;
                    }
                }
                Ok(Received::WouldBlock) => break,
                Ok(Received::Closed) | Err(_) => {
                    inner.close_now();
                    break;
                }
            }
        }
        work
    }

    /// Writes pending bytes, then lets the connection fill the transmit buffer until it
    /// has nothing more or the socket pushes back.
    fn transmit(&self, inner: &mut Inner) -> usize {
        let mut work = 0;
        loop {
            if inner.driver.has_pending() {
                match inner.driver.flush() {
                    Ok(n) => work += n,
                    Err(_) => {
                        inner.close_now();
                        return work;
                    }
                }
                if inner.driver.has_pending() {
                    return work;
                }
            }
            if (inner.awaiting_rtr || inner.awaiting_first_fpdu) && !inner.conn.is_error() {
                return work;
            }
            if let Some(m) = inner.markers.as_mut().filter(|m| m.inserts()) {
                if !m.has_staged() {
                    if !inner.conn.wants_transmit() {
                        return work;
                    }
                    let n = inner.conn.poll_transmit(&*self.table, m.stage());
                    if n == 0 {
                        return work;
                    }
                    m.staged(n);
                }
                match m.mark_into(inner.driver.tx_space()) {
                    // The transmit buffer is empty here and larger than any marked
                    // FPDU, so nothing fitting means nothing is staged.
                    Ok(0) => return work,
                    Ok(n) => inner.driver.commit(n),
                    Err(_) => {
                        inner.close_now();
                        return work;
                    }
                }
                continue;
            }
            if !inner.conn.wants_transmit() {
                return work;
            }
            let n = inner
                .conn
                .poll_transmit(&*self.table, inner.driver.tx_space());
            if n == 0 {
                return work;
            }
            inner.driver.commit(n);
        }
    }

    /// Moves completions from the connection to the CQs while both have room.
    fn drain_completions(&self, conn: &mut Connection) -> usize {
        // Checked first: an idle poll (the common case) takes no CQ lock.
        if !conn.has_completion() {
            return 0;
        }
        let mut n = 0;
        while self.send_cq.free() > 0 && self.recv_cq.free() > 0 {
            let Some(c) = conn.poll_completion() else {
                break;
            };
            let wc = self.completion(c);
            if wc.opcode == WcOpcode::Recv {
                self.recv_cq.push(wc);
            } else {
                self.send_cq.push(wc);
            }
            n += 1;
        }
        n
    }

    /// The verbs completion of a connection completion.
    fn completion(&self, c: conn::Completion) -> Completion {
        let opcode = match c.opcode {
            conn::WcOpcode::Send => WcOpcode::Send,
            conn::WcOpcode::Write => WcOpcode::RdmaWrite,
            conn::WcOpcode::Read => WcOpcode::RdmaRead,
            conn::WcOpcode::Recv | conn::WcOpcode::RecvWithInvalidate => WcOpcode::Recv,
        };
        let status = match c.status {
            conn::CompletionStatus::Success => WcStatus::Success,
            conn::CompletionStatus::LocalLengthError => WcStatus::LocalLengthError,
            conn::CompletionStatus::LocalProtectionError => WcStatus::LocalProtectionError,
            conn::CompletionStatus::RemoteAccessError => WcStatus::RemoteAccessError,
            conn::CompletionStatus::RemoteOperationError => WcStatus::RemoteOperationError,
            conn::CompletionStatus::RemoteInvalidateError => WcStatus::RemoteInvalidRequest,
            conn::CompletionStatus::WrFlushError => WcStatus::WrFlushError,
        };
        Completion {
            wr_id: c.wr_id,
            opcode,
            status,
            byte_len: c.byte_len,
            qp_num: self.qp_num,
            solicited: c.solicited,
            invalidated_stag: c.invalidated_stag,
        }
    }
}

impl Inner {
    /// The stream is gone: close the socket and flush the connection.
    fn close_now(&mut self) {
        if !self.closed {
            self.closed = true;
            self.driver.shutdown();
        }
        self.conn.handle_stream_closed();
    }
}

/// How feeding received bytes to the connection went.
enum Fed {
    /// Every byte was taken.
    All,
    /// The peer broke a rule: a Terminate is queued, send it and close.
    Violation,
    /// The stream is over (Terminate received, already in Error, or marker framing broken).
    Ended,
}

/// Feeds received stream bytes to the connection, through the marker stripper when the
/// peer sends markers.
fn feed(
    conn: &mut Connection,
    markers: Option<&mut MarkerFraming>,
    table: &MrTable,
    bytes: &[u8],
) -> Fed {
    let mut outcome = Ok(0);
    let framing = match markers {
        Some(m) => m.strip(bytes, |plain| {
            outcome = conn.handle_bytes(table, plain);
            outcome.is_ok()
        }),
        None => {
            outcome = conn.handle_bytes(table, bytes);
            Ok(())
        }
    };
    match (framing, outcome) {
        // A marker or marked-CRC error: the stream cannot be parsed any further, but the
        // peer still gets a Terminate with the MPA error code (RFC 5044 §8).
        (Err(e), _) => match conn.handle_framing_error(e.mpa_error_code()) {
            ConnError::Violation(_) => Fed::Violation,
            ConnError::TerminateReceived(_) | ConnError::InError => Fed::Ended,
        },
        (Ok(()), Ok(_)) => Fed::All,
        (Ok(()), Err(ConnError::Violation(_))) => Fed::Violation,
        (Ok(()), Err(ConnError::TerminateReceived(_) | ConnError::InError)) => Fed::Ended,
    }
}

/// The verbs error for a refused post.
fn post_error(e: conn::PostError) -> PostError {
    match e {
        conn::PostError::QueueFull => PostError::QueueFull,
        conn::PostError::TooManySge { given, max } => PostError::TooManySge { have: given, max },
        conn::PostError::InlineTooLong { len, max } => PostError::InlineTooLong { len, max },
        conn::PostError::InlineRead => PostError::Unsupported("RDMA READ with an inline payload"),
        conn::PostError::ReadSinkSge(_) => {
            PostError::Unsupported("RDMA READ into more than one SGE")
        }
        conn::PostError::MessageTooLong { len, max } => PostError::MessageTooLong {
            len,
            max: u64::from(max),
        },
    }
}

/// A soft listener: a bound TCP socket plus the PD its QPs belong to.
#[derive(Debug)]
pub(crate) struct Listener {
    pd: Pd,
    inner: cm::Listener,
}

impl Listener {
    /// Binds `addr`.
    pub(crate) fn bind(
        pd: &Pd,
        addr: SocketAddr,
        params: ListenParams,
    ) -> Result<Listener, CmError> {
        Ok(Listener {
            pd: pd.clone(),
            inner: cm::Listener::bind(addr, params)?,
        })
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }

    /// The handshake counters.
    pub(crate) fn stats(&self) -> cm::ListenerStats {
        self.inner.stats()
    }

    /// Waits for a connection and its MPA Request.
    pub(crate) fn accept(&self, timeout: Duration) -> Result<Request, CmError> {
        Ok(Request {
            pd: self.pd.clone(),
            inner: self.inner.accept(timeout)?,
        })
    }
}

/// A received connection request awaiting accept or reject.
#[derive(Debug)]
pub(crate) struct Request {
    pd: Pd,
    inner: cm::Pending,
}

impl Request {
    /// The peer's private data (ULP part, without the RFC 6581 IRD/ORD words).
    pub(crate) fn private_data(&self) -> &[u8] {
        self.inner.private_data()
    }

    /// The peer's address.
    pub(crate) fn peer_addr(&self) -> SocketAddr {
        self.inner.peer_addr()
    }

    /// Accepts: sends the MPA Reply and starts the QP.
    pub(crate) fn accept(
        self,
        cfg: &QpConfig,
        private_data: &[u8],
    ) -> Result<(Qp, ConnectInfo), CmError> {
        let (neg, info) = self
            .inner
            .accept(private_data, cfg.ird, cfg.ord, cfg.tap.as_ref())?;
        Ok((Qp::start(&self.pd, cfg, neg)?, info))
    }

    /// Rejects with `reason` as private data.
    pub(crate) fn reject(self, reason: &[u8]) -> Result<(), CmError> {
        self.inner.reject(reason)
    }
}

/// Connects to `addr` as MPA initiator and starts the QP.
pub(crate) fn connect(
    pd: &Pd,
    addr: SocketAddr,
    cfg: &QpConfig,
    params: &ConnectParams,
) -> Result<(Qp, ConnectInfo), CmError> {
    let (neg, info) = cm::connect(addr, params, cfg.ird, cfg.ord, cfg.tap.as_ref())?;
    Ok((Qp::start(pd, cfg, neg)?, info))
}

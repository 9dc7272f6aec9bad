//! Shared helpers of the rdma integration tests: connected QP pairs over 127.0.0.1 and
//! bounded, yielding progress loops (never a busy spin, never an unbounded wait).

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tickwarp_rdma::verbs::{
    Backend, Completion, CompletionQueue, ConnectInfo, ConnectParams, Device, Listener,
    ProtectionDomain, QpInit, QueuePair,
};
use tickwarp_runtime::Nanos;
use tickwarp_runtime::clock::monotonic_now;

/// Generous bound for anything a test waits for.
pub const WAIT: Duration = Duration::from_secs(20);

/// Loopback, any free port.
pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// One side of a connection: device, PD, one CQ for both queues.
pub struct Side {
    pub dev: Device,
    pub pd: ProtectionDomain,
    pub cq: CompletionQueue,
}

impl Side {
    pub fn new(cq_depth: usize) -> Result<Side> {
        let dev = Device::open(Backend::Soft)?;
        let pd = dev.alloc_pd();
        let cq = dev.create_cq(cq_depth)?;
        Ok(Side { dev, pd, cq })
    }

    pub fn init(&self) -> QpInit<'_> {
        QpInit::new(&self.cq, &self.cq)
    }
}

/// A connected pair: client (initiator) and server (responder).
pub struct Pair {
    pub client: Side,
    pub server: Side,
    pub cqp: QueuePair,
    pub sqp: QueuePair,
    pub client_info: ConnectInfo,
    pub server_info: ConnectInfo,
}

/// Connects a client QP to a server QP through a listener; the server accepts with
/// `server_pdata`. Setup runs on two threads (both sides block in the handshake).
pub fn connect_pair(params: &ConnectParams, server_pdata: &[u8]) -> Result<Pair> {
    let client = Side::new(1024)?;
    let server = Side::new(1024)?;
    let listener = Listener::bind(&server.pd, any_port())?;
    let addr = listener.local_addr();
    let (cqp, client_info, sqp, server_info) = thread::scope(|s| -> Result<_> {
        let srv = s.spawn(|| -> Result<_> {
            let req = listener.accept(WAIT).context("accept")?;
            let (qp, info) = req
                .accept(&server.init(), server_pdata)
                .context("accept request")?;
            Ok((qp, info))
        });
        let connected = client
            .pd
            .connect(addr, &client.init(), params)
            .context("connect");
        let (sqp, server_info) = srv
            .join()
            .map_err(|_| anyhow::anyhow!("server thread panicked"))??;
        let (cqp, client_info) = connected?;
        Ok((cqp, client_info, sqp, server_info))
    })?;
    Ok(Pair {
        client,
        server,
        cqp,
        sqp,
        client_info,
        server_info,
    })
}

/// A yielding, then sleeping idle that resets whenever work was done.
pub struct Idle {
    idle_rounds: u32,
}

impl Idle {
    pub fn new() -> Idle {
        Idle { idle_rounds: 0 }
    }

    pub fn idle(&mut self, work: usize) {
        if work > 0 {
            self.idle_rounds = 0;
            return;
        }
        self.idle_rounds += 1;
        if self.idle_rounds < 32 {
            thread::yield_now();
        } else {
            let micros = 20u64 << (self.idle_rounds - 32).min(6);
            thread::sleep(Duration::from_micros(micros));
        }
    }
}

/// A deadline on the monotonic clock.
pub struct Deadline(Nanos);

impl Deadline {
    pub fn after(d: Duration) -> Deadline {
        Deadline(monotonic_now().saturating_add(d))
    }

    pub fn passed(&self) -> bool {
        monotonic_now() >= self.0
    }
}

/// Polls `cq` until `n` completions arrived, progressing `others` (the peer's QPs) on
/// the same thread; fails after `timeout`.
pub fn poll_until(
    cq: &CompletionQueue,
    n: usize,
    timeout: Duration,
    others: &[&QueuePair],
) -> Result<Vec<Completion>> {
    let deadline = Deadline::after(timeout);
    let mut got = Vec::with_capacity(n);
    let mut buf = [Completion::default(); 16];
    let mut idle = Idle::new();
    while got.len() < n {
        let mut work: usize = others.iter().map(|qp| qp.progress()).sum();
        let k = cq.poll(&mut buf[..(n - got.len()).min(16)]);
        got.extend_from_slice(&buf[..k]);
        work += k;
        if got.len() >= n {
            break;
        }
        if deadline.passed() {
            bail!(
                "timed out after {timeout:?} with {} of {n} completions: {got:?}",
                got.len()
            );
        }
        idle.idle(work);
    }
    Ok(got)
}

/// Progresses `qps` until `cond` holds; fails after `timeout`.
pub fn progress_until(
    qps: &[&QueuePair],
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> bool,
) -> Result<()> {
    let deadline = Deadline::after(timeout);
    let mut idle = Idle::new();
    loop {
        let work: usize = qps.iter().map(|qp| qp.progress()).sum();
        if cond() {
            return Ok(());
        }
        if deadline.passed() {
            bail!("timed out after {timeout:?} waiting until {what}");
        }
        idle.idle(work);
    }
}

/// A deterministic test pattern.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

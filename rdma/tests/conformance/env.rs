//! The backend a conformance case runs on, and the connected pairs the cases use.

#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, SocketAddr};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tickwarp_rdma::verbs::{
    Backend, CompletionQueue, ConnectInfo, ConnectParams, Device, Listener, PostError,
    ProtectionDomain, QpInit, QueuePair, list_devices,
};

use crate::util::WAIT;

/// Environment variable naming the local address a verbs device serves.
pub const HW_ADDR_VAR: &str = "TICKWARP_HW_ADDR";

/// Where a case runs: a backend and the local address its endpoints use.
#[derive(Clone, Copy, Debug)]
pub struct Env {
    pub backend: Backend,
    pub ip: IpAddr,
}

impl Env {
    /// The soft stack on 127.0.0.1.
    pub fn soft() -> Env {
        Env {
            backend: Backend::Soft,
            ip: IpAddr::from([127, 0, 0, 1]),
        }
    }

    /// A verbs device: the one serving `TICKWARP_HW_ADDR` (required when set), else
    /// the first device address `list_devices` reports; `None` when there is none.
    pub fn hardware() -> Result<Option<Env>> {
        if let Ok(text) = std::env::var(HW_ADDR_VAR) {
            let ip: IpAddr = text
                .parse()
                .with_context(|| format!("{HW_ADDR_VAR}={text} is not an IP address"))?;
            Device::open_for(Backend::Hardware, ip)
                .with_context(|| format!("{HW_ADDR_VAR}={ip}: no verbs device serves it"))?;
            return Ok(Some(Env {
                backend: Backend::Hardware,
                ip,
            }));
        }
        let ip = list_devices()
            .into_iter()
            .filter(|d| d.backend == Backend::Hardware)
            .flat_map(|d| d.addresses)
            .min_by_key(|ip| (ip.is_loopback(), ip.is_ipv6()));
        Ok(ip.map(|ip| Env {
            backend: Backend::Hardware,
            ip,
        }))
    }

    pub fn is_hw(&self) -> bool {
        self.backend == Backend::Hardware
    }

    /// A listening address (any port) on this environment's address.
    pub fn any_port(&self) -> SocketAddr {
        SocketAddr::new(self.ip, 0)
    }

    /// Connect parameters for this backend: kernel `siw` as responder can stall on an
    /// FPDU that follows its MPA Reply at once, so hardware waits 50 ms.
    pub fn params(&self) -> ConnectParams {
        ConnectParams {
            settle: if self.is_hw() {
                Duration::from_millis(50)
            } else {
                Duration::ZERO
            },
            timeout: WAIT,
            ..ConnectParams::default()
        }
    }

    /// A device, PD and CQ of this backend.
    pub fn side(&self, cq_depth: usize) -> Result<Side> {
        let dev = Device::open_for(self.backend, self.ip)?;
        if dev.backend() != self.backend {
            bail!("asked for {:?}, got {:?}", self.backend, dev.backend());
        }
        let pd = dev.try_alloc_pd()?;
        let cq = dev.create_cq(cq_depth)?;
        Ok(Side { dev, pd, cq })
    }
}

/// One side of a connection: device, PD, one CQ for both queues.
pub struct Side {
    pub dev: Device,
    pub pd: ProtectionDomain,
    pub cq: CompletionQueue,
}

impl Side {
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

/// Connects a client QP to a server QP with default QP sizes.
pub fn pair(env: &Env) -> Result<Pair> {
    pair_with(env, &env.params(), b"", |init| init)
}

/// Connects a client to a server accepting with `server_pdata`; `shape` adjusts both
/// QPs' creation parameters. Setup runs on two threads (both sides block).
pub fn pair_with(
    env: &Env,
    params: &ConnectParams,
    server_pdata: &[u8],
    shape: impl Fn(QpInit<'_>) -> QpInit<'_> + Sync,
) -> Result<Pair> {
    let client = env.side(1024)?;
    let server = env.side(1024)?;
    let listener = Listener::bind(&server.pd, env.any_port())?;
    let addr = listener.local_addr();
    let (cqp, client_info, sqp, server_info) = thread::scope(|s| -> Result<_> {
        let srv = s.spawn(|| -> Result<_> {
            let req = listener.accept(WAIT).context("accept")?;
            req.accept_prepared(&shape(server.init()), server_pdata, |_| {
                Ok::<(), PostError>(())
            })
            .context("accept request")
        });
        let connected = client
            .pd
            .connect(addr, &shape(client.init()), params)
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

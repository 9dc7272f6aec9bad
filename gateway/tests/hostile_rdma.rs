//! Hostile RDMA order-entry peers (issue 10), against a real gateway agent on loopback
//! (soft iWARP): unauthenticated and wrongly authenticated peers are rejected with an
//! MPA Reject and a reason before any channel memory is committed; failures lock the
//! address out; a client's oversized slot proposal is clamped to the gateway's maxima;
//! the connection cap holds; 20 hostile connections each claiming 65,536 slots of 1 MiB
//! commit 20 × 33,280 B of channel memory (they used to commit 64 MiB each).
//! Assertions are on counters and outcomes; every wait is bounded.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_gateway::fix::Now;
use tickwarp_gateway::service::rdma_auth::{Credential, hash_token};
use tickwarp_gateway::service::rdma_entry::{
    REJECT_AUTH, REJECT_CAP, REJECT_LOCKED_OUT, REJECT_NO_CREDENTIAL,
};
use tickwarp_gateway::service::{
    GatewayAgent, GatewayConfig, RdmaEntryStats, RdmaStatsHandle, client_connect_params,
};
use tickwarp_rdma::channel::{
    ChannelConfig, ChannelError, ChannelParams, ChannelSetupError, MessageChannel,
};
use tickwarp_rdma::verbs::{
    Backend, CmError, ConnectParams, Device, ProtectionDomain, QpInit, QueuePair,
};
use tickwarp_runtime::Agent;
use tickwarp_runtime::clock;
use tickwarp_wire::{
    AccountId, ClientOrderId, InstrumentId, IntoBytes, NewOrder, OrderSpec, OrderType, Price, Qty,
    Side, TickCause, TimeInForce,
};

/// Longest wait for anything.
const WAIT: Duration = Duration::from_secs(20);
/// The token of account 201.
const TOKEN: &[u8] = b"token-of-201";
/// Channel memory of one connection with the default `[rdma]` maxima (64 slots of 256 B):
/// receive slots + send staging (64 × 256 B each) + 64 ready entries of 8 B.
const CONNECTION_BYTES: usize = 2 * 64 * 256 + 64 * 8;

fn config(dir: &Path, rdma_extra: &str) -> Result<GatewayConfig> {
    let text = format!(
        r#"
        listen = "127.0.0.1:0"
        [journal]
        dir = "{dir}"
        fsync = "never"
        [risk]
        max_order_qty = 1000
        max_notional = "1000000"
        collar_bps = 0
        credit_limit = "10000000"
        max_position = 100000
        max_orders_per_day = 1000
        [[instruments]]
        symbol = "ACME"
        id = 1
        [rdma]
        listen = "127.0.0.1:0"
        accounts = [201]
        backend = "soft"
        {rdma_extra}
        [[rdma.tokens]]
        account = 201
        token_hash = "{hash}"
        "#,
        dir = dir.display(),
        hash = hash_token(TOKEN)?,
    );
    Ok(GatewayConfig::from_toml(&text, dir)?)
}

/// The gateway agent on its own thread.
struct Running {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
    stats: RdmaStatsHandle,
    _dir: tempfile::TempDir,
}

impl Running {
    fn start(rdma_extra: &str) -> Result<Running> {
        let dir = tempfile::tempdir()?;
        let now = Now {
            mono: clock::monotonic_now(),
            wall: clock::unix_now(),
        };
        let mut agent = GatewayAgent::from_config(&config(dir.path(), rdma_extra)?, now)?;
        let addr = agent.rdma_addr().context("RDMA entry is on")?;
        let stats = agent.rdma_stats_handle().context("RDMA entry is on")?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("gateway-hostile".to_owned())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    match agent.do_work(clock::monotonic_now()) {
                        Ok(0) => thread::sleep(Duration::from_micros(200)),
                        Ok(_) => {}
                        Err(e) => panic!("gateway agent failed: {e}"),
                    }
                }
            })?;
        Ok(Running {
            thread: Some(thread),
            stop,
            addr,
            stats,
            _dir: dir,
        })
    }

    fn stats(&self) -> RdmaEntryStats {
        self.stats.get()
    }

    /// Waits until `pred` holds for the counters.
    fn wait_for(&self, what: &str, pred: impl Fn(&RdmaEntryStats) -> bool) -> Result<()> {
        let deadline = clock::monotonic_now().saturating_add(WAIT);
        while !pred(&self.stats()) {
            if clock::monotonic_now() >= deadline {
                bail!("{what}: not reached within {WAIT:?}: {:?}", self.stats());
            }
            thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A client's device, PD and channel.
struct Client {
    channel: MessageChannel,
    _pd: ProtectionDomain,
    _dev: Device,
}

fn connect(
    addr: SocketAddr,
    config: ChannelConfig,
    params: &ConnectParams,
) -> Result<Client, ChannelSetupError> {
    let dev = Device::open(Backend::Soft)?;
    let pd = dev.alloc_pd();
    let channel = MessageChannel::connect(&dev, &pd, addr, config, params)?;
    Ok(Client {
        channel,
        _pd: pd,
        _dev: dev,
    })
}

fn credential(account: u32, token: &[u8]) -> Result<ConnectParams> {
    Ok(client_connect_params(&Credential {
        account: AccountId(account),
        token,
    })?)
}

/// The reject reason of a refused connect.
fn reject_reason(result: Result<Client, ChannelSetupError>) -> Result<Vec<u8>> {
    match result {
        Err(ChannelSetupError::Cm(CmError::Rejected { reason })) => Ok(reason),
        Err(e) => bail!("expected an MPA Reject, got {e}"),
        Ok(_) => bail!("expected an MPA Reject, got a connection"),
    }
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_peer_without_credential_is_rejected_before_memory_is_committed() -> Result<()> {
    let gw = Running::start("")?;
    let reason = reject_reason(connect(
        gw.addr,
        ChannelConfig::default(),
        &ConnectParams::default(),
    ))?;
    ensure!(reason == REJECT_NO_CREDENTIAL, "{}", show(&reason));
    let stats = gw.stats();
    ensure!(
        stats.connections == 0 && stats.committed_bytes == 0,
        "{stats:?}"
    );
    ensure!(stats.auth_failures == 1, "{stats:?}");
    // The failure locked the address out: even the right token waits.
    let reason = reject_reason(connect(
        gw.addr,
        ChannelConfig::default(),
        &credential(201, TOKEN)?,
    ))?;
    ensure!(reason == REJECT_LOCKED_OUT, "{}", show(&reason));
    ensure!(gw.stats().locked_out == 1, "{:?}", gw.stats());
    ensure!(gw.stats().committed_bytes == 0, "{:?}", gw.stats());
    Ok(())
}

#[test]
fn a_wrong_token_or_unknown_account_is_rejected() -> Result<()> {
    let gw = Running::start("")?;
    let reason = reject_reason(connect(
        gw.addr,
        ChannelConfig::default(),
        &credential(201, b"guess")?,
    ))?;
    ensure!(reason == REJECT_AUTH, "{}", show(&reason));
    let stats = gw.stats();
    ensure!(
        stats.auth_failures == 1 && stats.connections == 0 && stats.committed_bytes == 0,
        "{stats:?}"
    );
    // The lockout lasts 250 ms after a first failure; wait it out (bounded), then an
    // unknown account fails the same way.
    let deadline = clock::monotonic_now().saturating_add(WAIT);
    loop {
        let reason = reject_reason(connect(
            gw.addr,
            ChannelConfig::default(),
            &credential(999, TOKEN)?,
        ))?;
        if reason == REJECT_AUTH {
            break;
        }
        ensure!(reason == REJECT_LOCKED_OUT, "{}", show(&reason));
        ensure!(
            clock::monotonic_now() < deadline,
            "still locked out after {WAIT:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
    ensure!(gw.stats().auth_failures == 2, "{:?}", gw.stats());
    ensure!(gw.stats().committed_bytes == 0, "{:?}", gw.stats());
    Ok(())
}

fn order(cl_ord_id: &str, account: u32) -> Result<NewOrder> {
    let spec = OrderSpec {
        instrument: InstrumentId(1),
        account: AccountId(account),
        side: Side::Buy,
        ord_type: OrderType::Limit,
        tif: TimeInForce::Day,
        price: Price::from_ticks(100 * Price::SCALE),
        qty: Qty(1),
    };
    Ok(NewOrder::new(
        ClientOrderId::new(cl_ord_id)?,
        &spec,
        TickCause::NONE,
    ))
}

/// Sends `msg` and returns the type name of the first reply.
fn round_trip(client: &mut Client, msg: &[u8]) -> Result<String> {
    let deadline = clock::monotonic_now().saturating_add(WAIT);
    loop {
        match client.channel.try_send(msg) {
            Ok(()) => break,
            Err(ChannelError::WouldBlock) if clock::monotonic_now() < deadline => {
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => bail!("send: {e}"),
        }
    }
    let mut buf = [0u8; 256];
    loop {
        if let Some(n) = client.channel.try_recv(&mut buf)? {
            let msg = tickwarp_wire::decode(buf.get(..n).unwrap_or_default())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            return Ok(format!("{:?}", msg.msg_type()));
        }
        ensure!(
            clock::monotonic_now() < deadline,
            "no reply within {WAIT:?}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn an_oversized_slot_proposal_is_clamped_and_the_channel_works() -> Result<()> {
    let gw = Running::start("")?;
    let greedy = ChannelConfig {
        slots: 8,
        slot_size: 1 << 20,
        send_depth: 8,
    };
    let mut client = connect(gw.addr, greedy, &credential(201, TOKEN)?)?;
    let stats = gw.stats();
    ensure!(stats.connections == 1, "{stats:?}");
    ensure!(
        stats.committed_bytes == CONNECTION_BYTES,
        "a 1 MiB-slot proposal committed {} B, the gateway's maxima allow {CONNECTION_BYTES}",
        stats.committed_bytes
    );
    // The gateway advertised its own slots, not the client's.
    ensure!(client.channel.peer_params().slot_size == 256);
    let reply = round_trip(&mut client, order("C1", 201)?.as_bytes())?;
    ensure!(reply == "OrderAccepted", "{reply}");
    // The connection trades only for the account it authenticated as.
    let reply = round_trip(&mut client, order("C2", 202)?.as_bytes())?;
    ensure!(reply == "OrderRejected", "{reply}");
    Ok(())
}

#[test]
fn the_connection_cap_rejects_with_a_reason_and_frees_on_disconnect() -> Result<()> {
    let gw = Running::start("max_connections = 2")?;
    let first = connect(gw.addr, ChannelConfig::default(), &credential(201, TOKEN)?)?;
    let _second = connect(gw.addr, ChannelConfig::default(), &credential(201, TOKEN)?)?;
    let reason = reject_reason(connect(
        gw.addr,
        ChannelConfig::default(),
        &credential(201, TOKEN)?,
    ))?;
    ensure!(reason == REJECT_CAP, "{}", show(&reason));
    let stats = gw.stats();
    ensure!(
        stats.connections == 2
            && stats.over_capacity == 1
            && stats.committed_bytes == 2 * CONNECTION_BYTES,
        "{stats:?}"
    );
    let mut first = first;
    first.channel.disconnect();
    drop(first);
    gw.wait_for("the first connection released", |s| s.connections == 1)?;
    let _third = connect(gw.addr, ChannelConfig::default(), &credential(201, TOKEN)?)?;
    ensure!(gw.stats().connections == 2, "{:?}", gw.stats());
    Ok(())
}

/// Resident set size of this process, bytes (Linux).
fn rss_bytes() -> Result<usize> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .context("VmRSS missing")?;
    Ok(kib * 1024)
}

/// A raw QP connection that claims 65,536 receive slots of 1 MiB without posting any.
fn hostile_connect(
    pd: &ProtectionDomain,
    init: &QpInit<'_>,
    addr: SocketAddr,
) -> Result<QueuePair> {
    let claim = ChannelParams {
        slots: 1 << 16,
        slot_size: 1 << 20,
    };
    let mut private_data = claim.to_bytes().to_vec();
    private_data.extend_from_slice(
        &Credential {
            account: AccountId(201),
            token: TOKEN,
        }
        .to_bytes()?,
    );
    let params = ConnectParams {
        private_data,
        p2p: true,
        timeout: WAIT,
        ..ConnectParams::default()
    };
    let (qp, _) = pd.connect(addr, init, &params)?;
    Ok(qp)
}

#[test]
fn twenty_hostile_connections_keep_memory_bounded() -> Result<()> {
    let gw = Running::start("")?;
    let dev = Device::open(Backend::Soft)?;
    let pd = dev.alloc_pd();
    let cq = dev.create_cq(64)?;
    let init = QpInit::new(&cq, &cq);
    let before = rss_bytes()?;
    let mut qps = Vec::new();
    for i in 0..20 {
        qps.push(hostile_connect(&pd, &init, gw.addr).with_context(|| format!("hostile {i}"))?);
    }
    gw.wait_for("20 connections admitted", |s| s.connections == 20)?;
    let stats = gw.stats();
    // Stated bound: 20 × 33,280 B = 665,600 B of channel memory (each claimed 64 MiB of
    // the gateway's send staging before the clamp: 1.28 GB for 20).
    ensure!(
        stats.committed_bytes == 20 * CONNECTION_BYTES,
        "20 hostile connections committed {} B",
        stats.committed_bytes
    );
    let grown = rss_bytes()?.saturating_sub(before);
    eprintln!("RSS growth with 20 hostile connections: {grown} B");
    ensure!(
        grown < 100 << 20,
        "RSS grew by {grown} B with 20 hostile connections (bound: 100 MiB)"
    );
    drop(qps);
    Ok(())
}

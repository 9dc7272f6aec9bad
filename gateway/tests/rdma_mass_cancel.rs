//! Mass cancel over RDMA order entry (issue 17, item 3), against a real gateway agent on
//! loopback (soft iWARP): a `MassCancelRequest` is answered by a `MassCancelReport`
//! counting the orders it canceled, then one `OrderCanceled` per order reaches the client
//! that entered it; a request naming another account is rejected with `UnknownAccount`
//! and cancels nothing. Assertions are on the records received, in order; every wait is
//! bounded.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_gateway::fix::Now;
use tickwarp_gateway::service::rdma_auth::{Credential, hash_token};
use tickwarp_gateway::service::{GatewayAgent, GatewayConfig, client_connect_params};
use tickwarp_rdma::channel::{ChannelConfig, ChannelError, MessageChannel};
use tickwarp_rdma::verbs::{Backend, Device, ProtectionDomain};
use tickwarp_runtime::Agent;
use tickwarp_runtime::clock;
use tickwarp_wire::{
    AccountId, ClientOrderId, InstrumentId, IntoBytes, MassCancelReport, MassCancelRequest,
    MassCancelScope, Message, NewOrder, OrderCanceled, OrderSpec, OrderType, Price, Qty,
    RejectReason, Side, TickCause, TimeInForce,
};

/// Longest wait for anything.
const WAIT: Duration = Duration::from_secs(20);
const TOKEN_201: &[u8] = b"token-of-201";
const TOKEN_202: &[u8] = b"token-of-202";

fn config(dir: &Path) -> Result<GatewayConfig> {
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
        [risk.throttle]
        msgs_per_sec = 100000
        burst = 1000
        [[instruments]]
        symbol = "ACME"
        id = 1
        [[instruments]]
        symbol = "BETA"
        id = 2
        [rdma]
        listen = "127.0.0.1:0"
        accounts = [201, 202]
        backend = "soft"
        [[rdma.tokens]]
        account = 201
        token_hash = "{hash_201}"
        [[rdma.tokens]]
        account = 202
        token_hash = "{hash_202}"
        "#,
        dir = dir.display(),
        hash_201 = hash_token(TOKEN_201)?,
        hash_202 = hash_token(TOKEN_202)?,
    );
    Ok(GatewayConfig::from_toml(&text, dir)?)
}

/// The gateway agent on its own thread.
struct Running {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Running {
    fn start() -> Result<Running> {
        let dir = tempfile::tempdir()?;
        let now = Now {
            mono: clock::monotonic_now(),
            wall: clock::unix_now(),
        };
        let mut agent = GatewayAgent::from_config(&config(dir.path())?, now)?;
        let addr = agent.rdma_addr().context("RDMA entry is on")?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("gateway-mass-cancel".to_owned())
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
            _dir: dir,
        })
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

/// A record received from the gateway, copied out of the channel.
#[derive(Debug)]
enum Reply {
    Accepted(ClientOrderId),
    Canceled(OrderCanceled),
    Report(MassCancelReport),
}

/// An authenticated client's device, PD and channel.
struct Client {
    channel: MessageChannel,
    _pd: ProtectionDomain,
    _dev: Device,
}

impl Client {
    fn connect(addr: SocketAddr, account: u32, token: &[u8]) -> Result<Client> {
        let dev = Device::open(Backend::Soft)?;
        let pd = dev.alloc_pd();
        let params = client_connect_params(&Credential {
            account: AccountId(account),
            token,
        })?;
        let channel = MessageChannel::connect(&dev, &pd, addr, ChannelConfig::default(), &params)?;
        Ok(Client {
            channel,
            _pd: pd,
            _dev: dev,
        })
    }

    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let deadline = clock::monotonic_now().saturating_add(WAIT);
        loop {
            match self.channel.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(ChannelError::WouldBlock) if clock::monotonic_now() < deadline => {
                    thread::sleep(Duration::from_millis(1));
                }
                Err(e) => bail!("send: {e}"),
            }
        }
    }

    /// The next record from the gateway.
    fn recv(&mut self) -> Result<Reply> {
        let deadline = clock::monotonic_now().saturating_add(WAIT);
        let mut buf = [0u8; 256];
        loop {
            if let Some(n) = self.channel.try_recv(&mut buf)? {
                let msg = tickwarp_wire::decode(buf.get(..n).unwrap_or_default())
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                return Ok(match msg {
                    Message::OrderAccepted(a) => Reply::Accepted(a.cl_ord_id()),
                    Message::OrderCanceled(c) => Reply::Canceled(*c),
                    Message::MassCancelReport(r) => Reply::Report(*r),
                    other => bail!("unexpected record {other:?}"),
                });
            }
            ensure!(
                clock::monotonic_now() < deadline,
                "no record within {WAIT:?}"
            );
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Enters order `id` (it rests: nothing trades against it) and waits for its accept.
    fn rest(&mut self, id: &str, account: u32, instrument: u32, side: Side) -> Result<()> {
        let price = match side {
            Side::Buy => 100,
            Side::Sell => 110,
        };
        let spec = OrderSpec {
            instrument: InstrumentId(instrument),
            account: AccountId(account),
            side,
            ord_type: OrderType::Limit,
            tif: TimeInForce::Day,
            price: Price::from_ticks(price * Price::SCALE),
            qty: Qty(1),
        };
        let order = NewOrder::new(ClientOrderId::new(id)?, &spec, TickCause::NONE);
        self.send(order.as_bytes())?;
        match self.recv()? {
            Reply::Accepted(got) if got.as_str() == id => Ok(()),
            other => bail!("{id}: expected OrderAccepted, got {other:?}"),
        }
    }

    /// Sends mass cancel `request_id` for `scope` and returns its report.
    fn mass_cancel(&mut self, request_id: u64, scope: MassCancelScope) -> Result<MassCancelReport> {
        let request = MassCancelRequest::new(request_id, scope, TickCause::NONE);
        self.send(request.as_bytes())?;
        match self.recv()? {
            Reply::Report(r) => {
                ensure!(r.request_id() == request_id, "report for {r:?}");
                ensure!(r.scope() == scope, "report scope {r:?}");
                Ok(r)
            }
            other => bail!("request {request_id}: expected MassCancelReport, got {other:?}"),
        }
    }

    /// The ids of the next `n` records, each of which must be an unsolicited cancel.
    fn canceled(&mut self, n: usize) -> Result<Vec<String>> {
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            match self.recv()? {
                Reply::Canceled(c) => {
                    ensure!(
                        c.orig_cl_ord_id().is_none(),
                        "a gateway cancel names no request: {c:?}"
                    );
                    ensure!(c.canceled_qty() == Qty(1), "{c:?}");
                    ids.push(c.cl_ord_id().as_str().to_owned());
                }
                other => bail!("expected OrderCanceled, got {other:?}"),
            }
        }
        ids.sort();
        Ok(ids)
    }
}

fn scope(account: u32, instrument: Option<u32>, side: Option<Side>) -> MassCancelScope {
    MassCancelScope {
        account: AccountId(account),
        instrument: instrument.map(InstrumentId),
        side,
    }
}

#[test]
fn mass_cancel_by_instrument_then_all_and_a_foreign_account_is_refused() -> Result<()> {
    let gw = Running::start()?;
    let mut client = Client::connect(gw.addr, 201, TOKEN_201)?;
    let mut other = Client::connect(gw.addr, 202, TOKEN_202)?;
    client.rest("A1", 201, 1, Side::Buy)?;
    client.rest("A2", 201, 1, Side::Sell)?;
    client.rest("B1", 201, 2, Side::Buy)?;
    other.rest("X1", 202, 1, Side::Buy)?;

    // Account 201's connection naming account 202: refused, nothing canceled (X1 is
    // still open at the end).
    let refused = client.mass_cancel(1, scope(202, None, None))?;
    ensure!(
        refused.outcome() == Err(RejectReason::UnknownAccount),
        "{refused:?}"
    );

    // Instrument 1: its two orders, reported, then canceled one by one.
    let by_instrument = client.mass_cancel(2, scope(201, Some(1), None))?;
    ensure!(by_instrument.outcome() == Ok(2), "{by_instrument:?}");
    ensure!(client.canceled(2)? == ["A1", "A2"]);

    // All: the last one.
    let all = client.mass_cancel(3, scope(201, None, None))?;
    ensure!(all.outcome() == Ok(1), "{all:?}");
    ensure!(client.canceled(1)? == ["B1"]);

    // Nothing is left; the next record is the report, with no cancel before it.
    let empty = client.mass_cancel(4, scope(201, None, None))?;
    ensure!(empty.outcome() == Ok(0), "{empty:?}");

    // Account 202's order survived the foreign request: its owner's own mass cancel (by
    // side) takes it.
    let sells = other.mass_cancel(5, scope(202, None, Some(Side::Sell)))?;
    ensure!(sells.outcome() == Ok(0), "{sells:?}");
    let buys = other.mass_cancel(6, scope(202, Some(1), Some(Side::Buy)))?;
    ensure!(buys.outcome() == Ok(1), "{buys:?}");
    ensure!(other.canceled(1)? == ["X1"]);
    Ok(())
}

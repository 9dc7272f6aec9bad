//! Allocation proof on the gateway's production path: a real `GatewayAgent` (RDMA order
//! entry over soft iWARP, `OrderCore` with its journal, the venue simulator, market data)
//! runs its duty cycle on its own thread, counting that thread's allocations, while an
//! RDMA client on the test thread sends orders and cancels one at a time. After a
//! warm-up, the steady state allocates nothing, with `fsync = "never"` and with
//! `"every_record"`, metrics recording (`[metrics]`, with its exporter) included.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_gateway::fix::Now;
use tickwarp_gateway::service::rdma_auth::{Credential, hash_token};
use tickwarp_gateway::service::{GatewayAgent, GatewayConfig, client_connect_params};
use tickwarp_rdma::channel::{ChannelConfig, ChannelError, MessageChannel};
use tickwarp_rdma::verbs::{Backend, Device};
use tickwarp_runtime::Agent;
use tickwarp_runtime::clock;
use tickwarp_testkit::{CountingAllocator, thread_allocations};
use tickwarp_wire::{
    AccountId, CancelOrder, ClientOrderId, InstrumentId, IntoBytes, MessageType, NewOrder,
    OrderSpec, OrderType, Price, Qty, Side, TickCause, TimeInForce,
};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// Longest wait for any one reply.
const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &[u8] = b"token-of-201";
const ACCOUNT: u32 = 201;

/// The agent thread's phases, set by the test thread.
const WARM: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;
/// Set by the agent thread once it has stopped counting.
const STOPPED: u8 = 3;

fn config(dir: &Path, fsync: &str) -> Result<GatewayConfig> {
    let text = format!(
        r#"
        listen = "127.0.0.1:0"
        [journal]
        dir = "{dir}"
        fsync = "{fsync}"
        [risk]
        max_order_qty = 1000
        max_notional = "1000000"
        collar_bps = 0
        credit_limit = "10000000"
        max_position = 100000
        max_orders_per_day = 100000
        [risk.throttle]
        msgs_per_sec = 100000
        burst = 1000
        [[instruments]]
        symbol = "ACME"
        id = 1
        [rdma]
        listen = "127.0.0.1:0"
        accounts = [{ACCOUNT}]
        backend = "soft"
        [[rdma.tokens]]
        account = {ACCOUNT}
        token_hash = "{hash}"
        [metrics]
        listen = "127.0.0.1:0"
        "#,
        dir = dir.display(),
        hash = hash_token(TOKEN)?,
    );
    Ok(GatewayConfig::from_toml(&text, dir)?)
}

fn spec() -> OrderSpec {
    OrderSpec {
        instrument: InstrumentId(1),
        account: AccountId(ACCOUNT),
        side: Side::Buy,
        ord_type: OrderType::Limit,
        tif: TimeInForce::Day,
        price: Price::from_ticks(100 * Price::SCALE),
        qty: Qty(1),
    }
}

/// Sends `msg` and waits for the first reply, which must be of type `want`.
fn round_trip(channel: &mut MessageChannel, msg: &[u8], want: MessageType) -> Result<()> {
    let deadline = clock::monotonic_now().saturating_add(WAIT);
    loop {
        match channel.try_send(msg) {
            Ok(()) => break,
            Err(ChannelError::WouldBlock) if clock::monotonic_now() < deadline => {
                thread::yield_now();
            }
            Err(e) => bail!("send: {e}"),
        }
    }
    let mut buf = [0u8; 256];
    loop {
        if let Some(n) = channel.try_recv(&mut buf)? {
            let reply = tickwarp_wire::decode(buf.get(..n).unwrap_or_default())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            ensure!(reply.msg_type() == want, "expected {want:?}, got {reply:?}");
            return Ok(());
        }
        ensure!(
            clock::monotonic_now() < deadline,
            "no reply within {WAIT:?}"
        );
        thread::yield_now();
    }
}

/// Order `n` (it rests) and its cancel, made before they are sent.
fn pair(n: u32) -> Result<(NewOrder, CancelOrder)> {
    let new_id = ClientOrderId::new(&format!("N{n}"))?;
    let cxl_id = ClientOrderId::new(&format!("C{n}"))?;
    Ok((
        NewOrder::new(new_id, &spec(), TickCause::NONE),
        CancelOrder::new(
            cxl_id,
            new_id,
            InstrumentId(1),
            AccountId(ACCOUNT),
            Side::Buy,
            TickCause::NONE,
        ),
    ))
}

/// Allocations on the agent thread while `measured` order/cancel pairs go through, after
/// `warm` pairs.
fn agent_allocations(fsync: &str, warm: u32, measured: u32) -> Result<u64> {
    let dir = tempfile::tempdir()?;
    let now = Now {
        mono: clock::monotonic_now(),
        wall: clock::unix_now(),
    };
    let mut agent = GatewayAgent::from_config(&config(dir.path(), fsync)?, now)?;
    let addr = agent.rdma_addr().context("RDMA entry is on")?;
    let phase = Arc::new(AtomicU8::new(WARM));
    let seen = Arc::clone(&phase);
    let gateway = thread::Builder::new()
        .name("gateway-alloc".to_owned())
        .spawn(move || -> Result<(u64, u64)> {
            let first = thread_allocations();
            let mut start = first;
            loop {
                match seen.load(Ordering::Acquire) {
                    WARM => start = thread_allocations(),
                    MEASURE => {}
                    _ => {
                        let counted = (start - first, thread_allocations() - start);
                        seen.store(STOPPED, Ordering::Release);
                        return Ok(counted);
                    }
                }
                let work = agent
                    .do_work(clock::monotonic_now())
                    .map_err(|e| anyhow::anyhow!("gateway agent failed: {e}"))?;
                if work == 0 {
                    thread::yield_now();
                }
            }
        })?;
    let pairs = (0..warm + measured).map(pair).collect::<Result<Vec<_>>>()?;
    let dev = Device::open(Backend::Soft)?;
    let pd = dev.alloc_pd();
    let params = client_connect_params(&Credential {
        account: AccountId(ACCOUNT),
        token: TOKEN,
    })?;
    let driven = (|| -> Result<()> {
        let mut channel =
            MessageChannel::connect(&dev, &pd, addr, ChannelConfig::default(), &params)?;
        for (i, (new, cancel)) in pairs.iter().enumerate() {
            if i == warm as usize {
                phase.store(MEASURE, Ordering::Release);
            }
            round_trip(&mut channel, new.as_bytes(), MessageType::OrderAccepted)
                .with_context(|| format!("order {i}"))?;
            round_trip(&mut channel, cancel.as_bytes(), MessageType::OrderCanceled)
                .with_context(|| format!("cancel {i}"))?;
        }
        // Stop counting before the channel closes: its teardown is not the steady state.
        phase.store(STOP, Ordering::Release);
        let deadline = clock::monotonic_now().saturating_add(WAIT);
        while phase.load(Ordering::Acquire) != STOPPED {
            ensure!(
                clock::monotonic_now() < deadline,
                "the agent thread did not stop within {WAIT:?}"
            );
            thread::yield_now();
        }
        Ok(())
    })();
    phase.store(STOP, Ordering::Release);
    let (warming, allocations) = gateway
        .join()
        .map_err(|_| anyhow::anyhow!("the agent thread panicked"))??;
    driven?;
    // Accepting the connection allocates: proof that this thread's count is live.
    ensure!(
        warming > 0,
        "no allocation counted while the agent accepted the connection: is the counting \
         allocator installed?"
    );
    Ok(allocations)
}

#[test]
fn rdma_order_entry_steady_state_allocates_nothing_with_never() -> Result<()> {
    let allocations = agent_allocations("never", 300, 2_000)?;
    ensure!(
        allocations == 0,
        "never: {allocations} allocations on the agent thread in 2000 order/cancel pairs"
    );
    Ok(())
}

#[test]
fn rdma_order_entry_steady_state_allocates_nothing_with_every_record() -> Result<()> {
    let allocations = agent_allocations("every_record", 300, 300)?;
    ensure!(
        allocations == 0,
        "every_record: {allocations} allocations on the agent thread in 300 order/cancel pairs"
    );
    Ok(())
}

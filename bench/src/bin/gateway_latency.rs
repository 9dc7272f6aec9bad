//! Order-in → ack-out latency through the whole gateway, per fsync policy of the order
//! journal, in process and end to end over RDMA order entry.
//!
//! Run: `cargo run --release -p tickwarp-bench --bin gateway_latency [-- --orders N]`
//!
//! Each configuration builds a [`GatewayAgent`] from a [`GatewayConfig`] (the crate's own
//! construction: seeded `VenueSim` house liquidity, risk limits, an order journal in a
//! temporary directory) and sends it `NewOrder`s. Most orders rest below the house bid /
//! above the house ask; every `--trade-every`th one crosses the house liquidity and
//! trades; once more than `--resting` orders rest, the oldest is canceled (untimed) so
//! the book and the order state stay small.
//!
//! - **in-process** (`Never`, `Batched`, `EveryRecord`): the agent's `OrderCore` is
//!   driven on this thread as the agent's duty cycle drives it — `--burst` orders through
//!   `handle_new` (validation, risk, order state, journal append), one `flush` (journal
//!   sync by the policy, venue submit, the venue's executions journaled and synced), the
//!   venue's market data drained, then `poll_report`. A sample runs from just before the
//!   order's `handle_new` to the moment its `OrderAccepted` is polled: the
//!   acknowledgement is ready to send. The core syncs in every `flush` unless the policy
//!   is `Never`, so `Batched` only saves syncs when a duty cycle carries several orders
//!   (`--burst`).
//! - **rdma** (`Never`): a soft-iWARP `MessageChannel` client on this thread SENDs one
//!   order at a time to the agent running its duty cycle on a second thread (RDMA order
//!   entry) and busy-polls for the `OrderAccepted` record; the sample is the client's
//!   round trip.
//!
//! Prints percentiles per configuration, the ratio of each to `Never` in process, and
//! writes every distribution to `--hlog`. After each run every journal file is synced
//! (untimed) so the next run does not pay for its write-back. A run's timed phase stops
//! after `--budget-secs` (slow disks), and every wait is bounded by `--timeout-secs`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use clap::Parser;
use tickwarp_bench::report::{
    Run, Unit, new_histogram, print_ratio, print_table, round_share, write_hlog,
};
use tickwarp_bench::spin::{Deadline, Idle, Spin};
use tickwarp_gateway::fix::Now;
use tickwarp_gateway::service::rdma_auth::{Credential, hash_token};
use tickwarp_gateway::service::{GatewayAgent, GatewayConfig, Origin, client_connect_params};
use tickwarp_gateway::venue::{Execution, VenueTime};
use tickwarp_rdma::channel::{ChannelConfig, ChannelError, MessageChannel};
use tickwarp_rdma::verbs::{Backend, Device};
use tickwarp_runtime::clock::{monotonic_now, unix_now};
use tickwarp_runtime::{Clock, Nanos};
use tickwarp_wire::{
    AccountId, CancelOrder, ClientOrderId, InstrumentId, IntoBytes, Message, NewOrder, OrderSpec,
    OrderType, Price, Qty, Side, TickCause, TimeInForce, decode,
};

/// Order-in → ack-out latency per fsync policy, in process and over RDMA order entry.
#[derive(Debug, Parser)]
struct Args {
    /// Timed orders for `Never` (in process and over RDMA).
    #[arg(long, default_value_t = 20_000)]
    orders: u64,
    /// Timed orders for `EveryRecord` and `Batched` (each pays fsyncs).
    #[arg(long, default_value_t = 1_000)]
    sync_orders: u64,
    /// Untimed orders before each round of the `Never` runs.
    #[arg(long, default_value_t = 2_000)]
    warm_up: u64,
    /// Untimed orders before each round of the `EveryRecord` and `Batched` runs.
    #[arg(long, default_value_t = 50)]
    sync_warm_up: u64,
    /// Longest timed phase of one configuration in seconds (over all rounds): a run on
    /// a slow disk stops early with fewer samples (the table's count column says how
    /// many).
    #[arg(long, default_value_t = 12)]
    budget_secs: u64,
    /// Rounds: each configuration runs its share of the orders once per round, in turn
    /// with the others, so a change in the machine's load spreads over all of them.
    #[arg(long, default_value_t = 4)]
    rounds: u32,
    /// Orders entering in one duty cycle in process (group commit with `Batched`).
    #[arg(long, default_value_t = 1)]
    burst: u64,
    /// Resting orders kept; beyond this the oldest is canceled.
    #[arg(long, default_value_t = 64)]
    resting: usize,
    /// Every n-th order trades against the house liquidity (0: none trade).
    #[arg(long, default_value_t = 10)]
    trade_every: u64,
    /// `Batched` policy: pending records that trigger a sync.
    #[arg(long, default_value_t = 64)]
    batch_records: u32,
    /// `Batched` policy: age in µs of the oldest pending record that triggers a sync.
    #[arg(long, default_value_t = 1_000)]
    batch_delay_us: u64,
    /// Directory in which the temporary journals are created (on the disk to measure).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Longest any run may take before the benchmark gives up, in seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
    /// Where to write the interval log of every run.
    #[arg(long, default_value = "target/bench/gateway_latency.hlog")]
    hlog: PathBuf,
}

/// The instrument traded.
const INSTRUMENT: InstrumentId = InstrumentId(1);
/// The account of the benchmark's orders (allowed on RDMA order entry).
const ACCOUNT: AccountId = AccountId(201);
/// House bid and ask in whole currency units; orders that trade cross them.
const HOUSE_BID: i64 = 99;
/// See [`HOUSE_BID`].
const HOUSE_ASK: i64 = 101;
/// House quantity on each side: more than any run trades.
const HOUSE_QTY: u64 = 100_000_000;
/// Largest record the client receives.
const FRAME: usize = 256;

/// Where a configuration's orders enter the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    /// The order core, driven on this thread.
    InProcess,
    /// RDMA order entry, the agent on its own thread.
    Rdma,
}

/// The RDMA order-entry token of [`ACCOUNT`] in these runs.
const RDMA_TOKEN: &[u8] = b"bench-token";

/// The gateway configuration for one run: the journal under `dir` with `fsync` (TOML),
/// room for `max_orders`, RDMA order entry when `rdma`.
fn gateway_config(
    dir: &Path,
    fsync: &str,
    max_orders: u64,
    rdma: bool,
) -> anyhow::Result<GatewayConfig> {
    let rdma_section = if rdma {
        format!(
            "[rdma]\nlisten = \"127.0.0.1:0\"\naccounts = [{a}]\nbackend = \"soft\"\n\
             tokens = [{{ account = {a}, token_hash = \"{h}\" }}]\n",
            a = ACCOUNT.0,
            h = hash_token(RDMA_TOKEN)?,
        )
    } else {
        String::new()
    };
    let text = format!(
        r#"
listen = "127.0.0.1:0"
max_orders = {max_orders}

[journal]
dir = "{dir}"
fsync = {fsync}

[risk]
max_order_qty = 1000
max_notional = "10000000"
collar_bps = 0
credit_limit = "1000000000"
max_position = 100000000
max_orders_per_day = 10000000

[risk.throttle]
msgs_per_sec = 1000000000
burst = 1000000000

[[instruments]]
symbol = "ACME"
id = {instrument}

{rdma_section}
[[venue.liquidity]]
symbol = "ACME"
side = "buy"
price = "{HOUSE_BID}"
qty = {HOUSE_QTY}

[[venue.liquidity]]
symbol = "ACME"
side = "sell"
price = "{HOUSE_ASK}"
qty = {HOUSE_QTY}
"#,
        dir = dir.display(),
        instrument = INSTRUMENT.0,
    );
    GatewayConfig::from_toml(&text, dir).context("benchmark gateway configuration")
}

/// The order mix: resting orders away from the house quotes, every `trade_every`th one
/// crossing them, and cancels of the oldest resting orders beyond `resting`.
#[derive(Debug)]
struct OrderFlow {
    resting: VecDeque<(ClientOrderId, Side)>,
    max_resting: usize,
    trade_every: u64,
    /// ClOrdIDs issued (orders and cancels).
    next_id: u64,
    /// Orders issued.
    orders: u64,
}

impl OrderFlow {
    fn new(args: &Args) -> OrderFlow {
        OrderFlow {
            resting: VecDeque::with_capacity(args.resting + 1),
            max_resting: args.resting,
            trade_every: args.trade_every,
            next_id: 0,
            orders: 0,
        }
    }

    fn fresh_id(&mut self, prefix: char) -> anyhow::Result<ClientOrderId> {
        self.next_id += 1;
        ClientOrderId::new(&format!("{prefix}{}", self.next_id))
            .map_err(|e| anyhow!("ClOrdID {prefix}{}: {e}", self.next_id))
    }

    /// The next order (one that trades does not rest).
    fn next_order(&mut self) -> anyhow::Result<NewOrder> {
        let cl_ord_id = self.fresh_id('N')?;
        self.orders += 1;
        let n = self.orders;
        let trades = self.trade_every > 0 && n % self.trade_every == 0;
        let side = if (n / 2) % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        // Resting orders spread over 16 ticks away from the house quotes.
        let away = i64::try_from(n % 16).unwrap_or(0) * (Price::SCALE / 100);
        let price = match (side, trades) {
            (Side::Buy, true) => HOUSE_ASK * Price::SCALE,
            (Side::Sell, true) => HOUSE_BID * Price::SCALE,
            (Side::Buy, false) => (HOUSE_BID - 1) * Price::SCALE - away,
            (Side::Sell, false) => (HOUSE_ASK + 1) * Price::SCALE + away,
        };
        let spec = OrderSpec {
            instrument: INSTRUMENT,
            account: ACCOUNT,
            side,
            ord_type: OrderType::Limit,
            tif: TimeInForce::Day,
            price: Price::from_ticks(price),
            qty: Qty(if trades { 1 } else { 10 }),
        };
        if !trades {
            self.resting.push_back((cl_ord_id, side));
        }
        Ok(NewOrder::new(cl_ord_id, &spec, TickCause::NONE))
    }

    /// A cancel of the oldest resting order once too many rest.
    fn due_cancel(&mut self) -> anyhow::Result<Option<CancelOrder>> {
        if self.resting.len() <= self.max_resting {
            return Ok(None);
        }
        let Some((orig, side)) = self.resting.pop_front() else {
            return Ok(None);
        };
        let cl_ord_id = self.fresh_id('C')?;
        Ok(Some(CancelOrder::new(
            cl_ord_id,
            orig,
            INSTRUMENT,
            ACCOUNT,
            side,
            TickCause::NONE,
        )))
    }
}

/// Monotonic and wall time, read once.
fn now() -> VenueTime {
    VenueTime {
        wall: unix_now(),
        mono: monotonic_now(),
    }
}

/// Drives the order core of a gateway journaling with `fsync` for `count` timed orders,
/// `--burst` of them per duty cycle.
fn in_process(
    dir: &Path,
    name: &str,
    fsync: &str,
    (warm, count): (u64, u64),
    args: &Args,
) -> anyhow::Result<Run> {
    let total = warm + count;
    let budget = Duration::from_secs(args.budget_secs) / args.rounds.max(1);
    let config = gateway_config(dir, fsync, total + 1_024, false)?;
    let start = Now {
        mono: monotonic_now(),
        wall: unix_now(),
    };
    let mut agent = GatewayAgent::from_config(&config, start).context("starting the gateway")?;
    let core = agent.core_mut();
    let origin = Origin::Rdma(core.next_rdma_client());
    let mut flow = OrderFlow::new(args);
    let clock = Clock::new();
    let mut histogram = new_histogram()?;
    let deadline = Deadline::after(Duration::from_secs(args.timeout_secs));
    let burst = args.burst.max(1);
    let mut orders = Vec::with_capacity(burst as usize);
    // The orders of the duty cycle not yet acknowledged: ClOrdID, entry time, timed.
    let mut waiting = Vec::with_capacity(burst as usize);
    let mut issued = 0;
    let (mut fills, mut cancels) = (0u64, 0u64);
    let mut timed_from = None;
    while issued < total {
        ensure!(
            !deadline.passed(),
            "{name}: deadline passed after {issued} orders"
        );
        if timed_from.is_some_and(|from| clock.now().saturating_sub(from).as_duration() > budget) {
            println!(
                "  {name}: time budget spent after {} timed orders",
                histogram.len()
            );
            break;
        }
        orders.clear();
        for _ in 0..burst.min(total - issued) {
            orders.push(flow.next_order()?);
        }
        let t = now();
        if issued >= warm && timed_from.is_none() {
            timed_from = Some(clock.now());
        }
        for order in &orders {
            let before = clock.now();
            core.handle_new(t, origin, order)?;
            waiting.push((order.cl_ord_id(), before, issued >= warm));
            issued += 1;
        }
        core.flush(t)?;
        while core.venue_mut().poll_market_data().is_some() {}
        while let Some(report) = core.poll_report() {
            let accepted = match report.event {
                Execution::Accepted(accepted) => accepted,
                Execution::Filled(_) => {
                    fills += 1;
                    continue;
                }
                _ => continue,
            };
            let id = accepted.cl_ord_id();
            if let Some(slot) = waiting.iter().position(|w| w.0 == id) {
                let (_, before, timed) = waiting.swap_remove(slot);
                if timed {
                    let after = clock.now();
                    histogram.saturating_record(after.saturating_sub(before).get());
                }
            }
        }
        ensure!(
            waiting.is_empty(),
            "{name}: {} orders not acknowledged in their duty cycle",
            waiting.len()
        );
        while let Some(cancel) = flow.due_cancel()? {
            let id = cancel.cl_ord_id();
            let t = now();
            core.handle_cancel(t, origin, &cancel)?;
            core.flush(t)?;
            while core.venue_mut().poll_market_data().is_some() {}
            let mut canceled = false;
            while let Some(report) = core.poll_report() {
                canceled |= matches!(report.event, Execution::Canceled(c) if c.cl_ord_id() == id);
            }
            ensure!(canceled, "{name}: cancel {id} not done in its duty cycle");
            cancels += 1;
        }
    }
    let elapsed = timed_from.map_or(Duration::ZERO, |from| {
        clock.now().saturating_sub(from).as_duration()
    });
    drop(agent);
    settle(dir)?;
    println!("    {name}: {issued} orders (warm-up included), {fills} fills, {cancels} cancels");
    Ok(Run {
        name: name.to_owned(),
        histogram,
        elapsed,
    })
}

/// Makes every file under `dir` durable, so the next run does not pay for this run's
/// write-back (an ext4 journal commit can wait for other files' dirty data).
fn settle(dir: &Path) -> anyhow::Result<()> {
    let mut dirs = vec![dir.to_path_buf()];
    // Ends: the journal tree is a few directories deep and has no links.
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                std::fs::File::open(&path)
                    .and_then(|f| f.sync_all())
                    .with_context(|| format!("syncing {}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// An RDMA order-entry client on the soft stack.
struct Client {
    channel: MessageChannel,
    buf: [u8; FRAME],
}

impl Client {
    fn connect(addr: SocketAddr) -> anyhow::Result<Client> {
        let dev = Device::open(Backend::Soft)?;
        let pd = dev.alloc_pd();
        let credential = Credential {
            account: ACCOUNT,
            token: RDMA_TOKEN,
        };
        let channel = MessageChannel::connect(
            &dev,
            &pd,
            addr,
            ChannelConfig::default(),
            &client_connect_params(&credential)?,
        )
        .context("connecting to RDMA order entry")?;
        Ok(Client {
            channel,
            buf: [0; FRAME],
        })
    }

    fn send(&mut self, bytes: &[u8], spin: &mut Spin<'_>) -> anyhow::Result<()> {
        loop {
            match self.channel.try_send(bytes) {
                Ok(()) => return Ok(()),
                Err(ChannelError::WouldBlock) => {
                    self.channel.progress()?;
                    spin.check("send credit")?;
                }
                Err(e) => bail!("send: {e}"),
            }
        }
    }

    /// Receives until a record for which `want` holds (skipping fills and the like).
    fn await_record(
        &mut self,
        spin: &mut Spin<'_>,
        what: &'static str,
        want: impl Fn(&Message<'_>) -> bool,
    ) -> anyhow::Result<()> {
        loop {
            match self.channel.try_recv(&mut self.buf)? {
                Some(len) => {
                    let bytes = self.buf.get(..len).unwrap_or_default();
                    let msg = decode(bytes).map_err(|e| anyhow!("gateway sent garbage: {e}"))?;
                    if let Message::OrderRejected(r) = msg {
                        bail!("order {} rejected: {:?}", r.cl_ord_id(), r.reason());
                    }
                    if want(&msg) {
                        return Ok(());
                    }
                }
                None => spin.check(what)?,
            }
        }
    }
}

/// The same orders end to end over RDMA order entry to a gateway journaling with `Never`.
fn over_rdma(
    dir: &Path,
    name: &str,
    (warm, count): (u64, u64),
    args: &Args,
) -> anyhow::Result<Run> {
    let config = gateway_config(dir, "\"never\"", count + warm + 1_024, true)?;
    let start = Now {
        mono: monotonic_now(),
        wall: unix_now(),
    };
    let mut agent = GatewayAgent::from_config(&config, start).context("starting the gateway")?;
    let addr = agent
        .rdma_addr()
        .context("RDMA order entry is configured")?;
    let deadline = Deadline::after(Duration::from_secs(args.timeout_secs));
    let stop = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let result = thread::scope(|s| {
        let gateway = thread::Builder::new()
            .name("gateway".to_owned())
            .spawn_scoped(s, || -> anyhow::Result<()> {
                let mut spin = Spin::new(deadline, &stop, Idle::BusySpin);
                let result = loop {
                    if done.load(Ordering::Acquire) {
                        break Ok(());
                    }
                    let t = now();
                    match agent.step(Now {
                        mono: t.mono,
                        wall: t.wall,
                    }) {
                        Ok(0) => {
                            if let Err(e) = spin.check("client orders") {
                                break Err(e.into());
                            }
                        }
                        Ok(_) => {}
                        Err(e) => break Err(anyhow::Error::from(e).context("gateway duty cycle")),
                    }
                };
                if result.is_err() {
                    spin.stop_all();
                }
                result
            })
            .context("starting the gateway thread")?;
        let client = client_run(addr, name, count, warm, args, deadline, &stop);
        if client.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        done.store(true, Ordering::Release);
        let served = gateway
            .join()
            .map_err(|_| anyhow!("the gateway thread panicked"))?;
        match (client, served) {
            (Ok(run), Ok(())) => Ok(run),
            (Err(e), Ok(())) | (Ok(_), Err(e)) => Err(e),
            (Err(e), Err(g)) => Err(e.context(format!("and the gateway failed: {g:#}"))),
        }
    });
    drop(agent);
    settle(dir)?;
    result
}

/// The client side of [`over_rdma`]: one order in flight, timed from before its SEND to
/// the receipt of its `OrderAccepted`.
fn client_run(
    addr: SocketAddr,
    name: &str,
    count: u64,
    warm: u64,
    args: &Args,
    deadline: Deadline,
    stop: &AtomicBool,
) -> anyhow::Result<Run> {
    let mut client = Client::connect(addr)?;
    let mut spin = Spin::new(deadline, stop, Idle::BusySpin);
    let mut flow = OrderFlow::new(args);
    let clock = Clock::new();
    let mut histogram = new_histogram()?;
    let mut timed_from = None;
    let budget = Duration::from_secs(args.budget_secs) / args.rounds.max(1);
    for i in 0..warm + count {
        if timed_from
            .is_some_and(|from: Nanos| clock.now().saturating_sub(from).as_duration() > budget)
        {
            println!(
                "  {name}: time budget spent after {} timed orders",
                histogram.len()
            );
            break;
        }
        let order = flow.next_order()?;
        let id = order.cl_ord_id();
        let before = clock.now();
        if i == warm {
            timed_from = Some(before);
        }
        client.send(order.as_bytes(), &mut spin)?;
        client
            .await_record(
                &mut spin,
                "OrderAccepted",
                |m| matches!(m, Message::OrderAccepted(a) if a.cl_ord_id() == id),
            )
            .with_context(|| format!("{name}: order {i}"))?;
        let after = clock.now();
        if i >= warm {
            histogram.saturating_record(after.saturating_sub(before).get());
        }
        while let Some(cancel) = flow.due_cancel()? {
            let id = cancel.cl_ord_id();
            client.send(cancel.as_bytes(), &mut spin)?;
            client
                .await_record(
                    &mut spin,
                    "OrderCanceled",
                    |m| matches!(m, Message::OrderCanceled(c) if c.cl_ord_id() == id),
                )
                .with_context(|| format!("{name}: cancel after order {i}"))?;
        }
    }
    let elapsed = timed_from.map_or(Duration::ZERO, |from| {
        clock.now().saturating_sub(from).as_duration()
    });
    client.channel.disconnect();
    Ok(Run {
        name: name.to_owned(),
        histogram,
        elapsed,
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = match &args.dir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .context("creating the benchmark directory")?;
    println!(
        "gateway_latency: {} orders ({} with fsync) in {} rounds, {} warm-up ({} with fsync) \
         per round, {} per duty cycle in process, {} resting, 1 in {} trades, journals in {}",
        args.orders,
        args.sync_orders,
        args.rounds,
        args.warm_up,
        args.sync_warm_up,
        args.burst,
        args.resting,
        args.trade_every,
        base.path().display()
    );
    let batched_name = format!(
        "in-process Batched{{{},{}us}}",
        args.batch_records, args.batch_delay_us
    );
    let batched = format!(
        "{{ batched = {{ max_records = {}, max_delay_us = {} }} }}",
        args.batch_records, args.batch_delay_us
    );
    let clock = Clock::new();
    let never = (args.warm_up, args.orders);
    let synced = (args.sync_warm_up, args.sync_orders);
    let configs = [
        (Entry::InProcess, "in-process Never", "\"never\"", never),
        (
            Entry::InProcess,
            batched_name.as_str(),
            batched.as_str(),
            synced,
        ),
        (
            Entry::InProcess,
            "in-process EveryRecord",
            "\"every_record\"",
            synced,
        ),
        (Entry::Rdma, "rdma Never", "\"never\"", never),
    ];
    let rounds = u64::from(args.rounds.max(1));
    let mut runs: Vec<Run> = Vec::with_capacity(configs.len());
    for round in 0..rounds {
        for (i, &(entry, name, fsync, (warm, total))) in configs.iter().enumerate() {
            let count = round_share(total, rounds, round);
            let dir = base.path().join(format!("{i}-{round}"));
            let began = clock.now();
            let run = match entry {
                Entry::InProcess => in_process(&dir, name, fsync, (warm, count), &args)?,
                Entry::Rdma => over_rdma(&dir, name, (warm, count), &args)?,
            };
            let took = clock.now().saturating_sub(began).as_duration();
            println!(
                "  round {}/{rounds} {name}: {} timed orders, {:.1} s",
                round + 1,
                run.histogram.len(),
                took.as_secs_f64()
            );
            match runs.get_mut(i) {
                Some(merged) => merged.merge(&run)?,
                None => runs.push(run),
            }
        }
    }
    println!();
    print_table("order-in → ack-out latency", Unit::Micros, &runs)?;
    if let Some((baseline, rest)) = runs.split_first() {
        for run in rest {
            print_ratio(run, baseline)?;
        }
    }
    write_hlog(
        &args.hlog,
        "tickwarp gateway_latency order-in to ack-out latencies (ns)",
        &runs,
    )?;
    println!("\nwrote {}", args.hlog.display());
    Ok(())
}

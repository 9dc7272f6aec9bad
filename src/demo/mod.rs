//! `tickwarp demo` and the node runner behind it and `tickwarp run`.
//!
//! The demo is the embedded default topology ([`Topology::demo`]) as one node: the venue
//! simulator with synthetic house flow → ITCH → feed → market data ring → strategy engine
//! (a market maker and a pinger) → order channel → gateway (risk, order state, journal)
//! → venue, every arrow a soft-iWARP RC connection on loopback. Threading follows the
//! core count (one shared thread with a backoff idle on a 2-core machine). It prints
//! progress once a second on stderr, and at the end (after `--duration` or Ctrl-C) a
//! summary table on stdout, the `.hlog`, SVG and JSON files under the run directory, and
//! their paths.
//!
//! Components live in [`venue`], [`feed`], [`engine`] and [`gateway`]; [`node`] wires
//! them; [`summary`] builds, checks and prints the results. The binary's only
//! production logic is the wiring; the trading logic is in the library crates.

pub(crate) mod engine;
pub(crate) mod feed;
pub(crate) mod gateway;
pub(crate) mod metrics;
pub(crate) mod node;
pub(crate) mod options;
pub(crate) mod peer;
pub(crate) mod stats;
pub(crate) mod summary;
pub(crate) mod venue;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use tickwarp_runtime::clock::monotonic_now;
use tickwarp_runtime::{IdleConfig, Nanos, ThreadingMode};

use tickwarp_gateway::service::metrics::MetricsSection;

use crate::config::Topology;

/// Threading modes on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ThreadingArg {
    /// One thread per component.
    Dedicated,
    /// All components on one thread.
    Shared,
    /// All components on the main thread.
    Invoker,
}

impl From<ThreadingArg> for ThreadingMode {
    fn from(t: ThreadingArg) -> ThreadingMode {
        match t {
            ThreadingArg::Dedicated => ThreadingMode::Dedicated,
            ThreadingArg::Shared => ThreadingMode::Shared,
            ThreadingArg::Invoker => ThreadingMode::Invoker,
        }
    }
}

/// Idle strategies on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum IdleArg {
    /// Spin (needs a core per thread).
    BusySpin,
    /// Yield the core.
    Yielding,
    /// Spin, then yield, then park up to 1 ms.
    Backoff,
}

impl From<IdleArg> for IdleConfig {
    fn from(i: IdleArg) -> IdleConfig {
        match i {
            IdleArg::BusySpin => IdleConfig::BusySpin,
            IdleArg::Yielding => IdleConfig::Yielding,
            IdleArg::Backoff => IdleConfig::default_backoff(),
        }
    }
}

/// `tickwarp demo` options.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Seconds to run (Ctrl-C ends earlier).
    #[arg(long, default_value_t = 10.0)]
    pub(crate) duration: f64,
    /// Run directory for the journal and the reports (default: a new temporary
    /// directory, kept).
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Threading (default: shared on 2 cores or fewer, dedicated otherwise).
    #[arg(long, value_enum)]
    pub(crate) threading: Option<ThreadingArg>,
    /// Idle strategy (default: backoff unless every thread has its own core).
    #[arg(long, value_enum)]
    pub(crate) idle: Option<IdleArg>,
    /// House order events per second at the venue.
    #[arg(long, default_value_t = 5_000)]
    pub(crate) rate: u32,
    /// Write the node's counters file (read by `tickwarp stat --dir DIR`) in DIR.
    #[arg(long, value_name = "DIR")]
    pub(crate) metrics_dir: Option<PathBuf>,
    /// Serve Prometheus `GET /metrics` here (loopback only; needs --metrics-dir).
    #[arg(long, value_name = "ADDR", requires = "metrics_dir")]
    pub(crate) metrics_listen: Option<std::net::SocketAddr>,
    /// Copy every execution and order state of the gateway's journal into this SQLite
    /// file (tables `executions`, `orders`). The demo's journal syncs only when it
    /// closes (`fsync = "never"`), so the copy completes at the end of the run.
    #[arg(long, value_name = "PATH")]
    pub(crate) drop_copy_sqlite: Option<PathBuf>,
    /// The same into PostgreSQL (`postgresql://user@host:port/db`).
    #[arg(long, value_name = "URL")]
    pub(crate) drop_copy_postgres: Option<String>,
    /// Add an option chain on the underlying and an options market maker quoting it
    /// around Black-Scholes values (priced locally unless --compute is given).
    #[arg(long)]
    pub(crate) options: bool,
    /// Price the options on the compute server at ADDR:PORT (`tickwarp compute serve`).
    #[arg(long, value_name = "ADDR:PORT", requires_all = ["options", "compute_account", "compute_token_file"])]
    pub(crate) compute: Option<std::net::SocketAddr>,
    /// The account to authenticate as on the compute server.
    #[arg(long, requires = "compute")]
    pub(crate) compute_account: Option<u32>,
    /// A file holding that account's token.
    #[arg(long, requires = "compute")]
    pub(crate) compute_token_file: Option<PathBuf>,
}

/// The threading and idle strategy for this machine: a shared thread with backoff on
/// 2 cores or fewer; dedicated threads otherwise, busy-spinning and pinned only when
/// every component and the main thread get a core of their own.
fn auto_threading(cores: usize) -> (ThreadingMode, IdleConfig, bool) {
    match cores {
        0..=2 => (ThreadingMode::Shared, IdleConfig::default_backoff(), false),
        3..=5 => (
            ThreadingMode::Dedicated,
            IdleConfig::default_backoff(),
            false,
        ),
        _ => (ThreadingMode::Dedicated, IdleConfig::BusySpin, true),
    }
}

/// Runs the demo; `Ok(false)` if the summary found an inconsistency.
pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<bool> {
    let cores = thread::available_parallelism().map_or(1, usize::from);
    let (mode, idle, pin) = auto_threading(cores);
    let mode = args.threading.map_or(mode, ThreadingMode::from);
    let idle = args.idle.map_or(idle, IdleConfig::from);
    let mut topology = Topology::demo(mode, idle, args.rate.max(1));
    if pin && args.threading.is_none() {
        if let Some(node) = topology.nodes.first_mut() {
            pin_demo(node);
        }
    }
    if args.options {
        options::add_chain(&mut topology)?;
    }
    topology.validate().context("the demo topology")?;
    let dir = run_dir(args.dir.as_ref())?;
    eprintln!(
        "tickwarp demo: {cores} cores, {} threading, {} idle, soft iWARP on loopback; run directory {}",
        format!("{mode:?}").to_lowercase(),
        describe_idle(idle),
        dir.display()
    );
    let interrupted = node::interrupt_flag()?;
    let stats = std::sync::Arc::new(stats::NodeStats::default());
    if let (Some(addr), Some(account), Some(token)) = (
        args.compute,
        args.compute_account,
        args.compute_token_file.as_deref(),
    ) {
        let engine = topology.nodes.first().and_then(|n| n.engines.first());
        let name = engine.context("the demo's engine")?.name.clone();
        stats
            .pricers
            .put(&name, Box::new(options::connect(addr, account, token)?));
        eprintln!("tickwarp demo: options priced on the compute server at {addr}");
    }
    let _metrics = match &args.metrics_dir {
        Some(metrics_dir) => {
            let section = MetricsSection {
                dir: Some(metrics_dir.clone()),
                listen: args.metrics_listen,
                allow_remote: false,
            };
            let node = topology.nodes.first().context("the demo topology's node")?;
            let m = metrics::NodeMetrics::open(&section, &dir, node, &stats.metrics)?;
            m.announce();
            Some(m)
        }
        None => None,
    };
    let targets = crate::drop_copy::Targets {
        sqlite: args.drop_copy_sqlite.clone(),
        postgres: args.drop_copy_postgres.clone(),
    };
    let mut running = node::start(&topology, "demo", &dir, stats, &interrupted)?;
    // After the gateway recovered its journal; stopped after the agents (module docs of
    // `crate::drop_copy`).
    let copy = match (&running.journal_dir, targets.any()) {
        (Some(journal), true) => {
            let table = node::instrument_table(&topology)?;
            let copy = crate::drop_copy::start(journal.clone(), table, &targets)?;
            eprintln!("tickwarp demo: drop copy of {} started", journal.display());
            Some(copy)
        }
        _ => None,
    };
    let duration = Nanos::from(Duration::from_secs_f64(args.duration.max(0.1)));
    let ran = progress_loop(&mut running, duration, &interrupted);
    let elapsed = monotonic_now().saturating_sub(running.started);
    let journal = running.journal_dir.clone();
    let stopped = running.stop();
    // Also after a failed run: what the journal made durable is copied.
    let copy_problems = copy
        .map(|c| crate::drop_copy::stop(c, "tickwarp demo"))
        .unwrap_or_default();
    ran?;
    let stats = stopped?;
    let mut summary =
        summary::NodeSummary::collect(&topology, "demo", &stats, elapsed, journal.as_deref())?;
    summary.problems.extend(copy_problems);
    let files = summary::write_files(&dir, "demo", &summary, &stats)?;
    summary::print(&summary, &files)?;
    Ok(summary.problems.is_empty())
}

/// A short name for an idle strategy.
fn describe_idle(idle: IdleConfig) -> String {
    match idle {
        IdleConfig::BusySpin => "busy-spin".to_owned(),
        IdleConfig::Yielding => "yielding".to_owned(),
        IdleConfig::Backoff { max_park_ns, .. } => {
            format!(
                "backoff (spin, yield, park up to {} µs)",
                max_park_ns / 1_000
            )
        }
        IdleConfig::Sleeping { period_ns } => format!("sleeping {} µs", period_ns / 1_000),
        IdleConfig::NoOp => "no-op".to_owned(),
    }
}

/// Pins the demo's components to cores 1..=4 (core 0 for the main thread and the OS).
fn pin_demo(node: &mut crate::config::NodeConfig) {
    if let Some(v) = node.venue.as_mut() {
        v.core = Some(1);
    }
    if let Some(f) = node.feed.as_mut() {
        f.core = Some(2);
    }
    for e in &mut node.engines {
        e.core = Some(3);
    }
    if let Some(g) = node.gateway.as_mut() {
        g.core = Some(4);
    }
}

/// The run directory: the one given (created), or a new kept temporary one.
pub(crate) fn run_dir(given: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            Ok(dir.clone())
        }
        None => Ok(tempfile::Builder::new()
            .prefix("tickwarp-demo-")
            .tempdir()
            .context("creating a run directory")?
            .keep()),
    }
}

/// Prints a progress line about once a second until `duration` passes, a signal
/// arrives or an agent stops.
pub(crate) fn progress_loop(
    running: &mut node::RunningNode,
    duration: Nanos,
    interrupted: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<()> {
    let start = running.started;
    let mut last_line = start;
    let mut last = summary::Counts::read(&running.stats);
    loop {
        let now = monotonic_now();
        if now.saturating_sub(start) >= duration || interrupted.load(Ordering::Relaxed) {
            return Ok(());
        }
        if !running.is_running() {
            // The stop reports the agent's error.
            return Ok(());
        }
        if running.is_invoker() {
            if running.invoke()? == 0 {
                thread::yield_now();
            }
        } else {
            thread::sleep(Duration::from_millis(10));
        }
        let since = now.saturating_sub(last_line);
        if since >= Nanos(1_000_000_000) {
            let counts = summary::Counts::read(&running.stats);
            summary::progress_line(
                &running.stats,
                &last,
                &counts,
                since,
                now.saturating_sub(start),
            );
            last = counts;
            last_line = now;
        }
    }
}

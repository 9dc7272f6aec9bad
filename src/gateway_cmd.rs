//! `tickwarp gateway --config FILE`: runs the order gateway — FIX acceptor, optional RDMA
//! order entry, risk, order state, the write-ahead order journal and the built-in venue
//! simulator — on one agent thread until SIGINT or SIGTERM. SIGHUP reloads the risk
//! limits from the configuration file without a restart (a file that does not load or
//! validate is reported and the old limits stay).
//!
//! On start it recovers the journals and prints, one line each on stdout, what it
//! recovered and where it listens (`FIX listening on ADDR`, `RDMA listening on ADDR`,
//! `counters in PATH` and `metrics listening on ADDR` with `[metrics]`), so
//! scripts and tests that bind port 0 learn the port. The logic lives in
//! `tickwarp_gateway::service`; this is CLI and process plumbing only.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use tickwarp_gateway::fix::Now;
use tickwarp_gateway::service::{GatewayAgent, GatewayConfig, LimitsReload};
use tickwarp_runtime::{AgentRunner, IdleConfig, RunnerConfig, clock};

/// How often the main thread checks for a signal or a stopped agent.
const SUPERVISE_PERIOD: Duration = Duration::from_millis(50);

/// Options of `tickwarp gateway`.
#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    /// The gateway configuration (TOML; see deploy/gateway.example.toml).
    #[arg(long, short)]
    config: PathBuf,
    /// Pin the gateway thread to this core.
    #[arg(long)]
    core: Option<usize>,
    /// Busy-spin when idle (an isolated core) instead of backing off to short parks.
    #[arg(long)]
    busy_spin: bool,
}

/// Runs the gateway until a signal (true) or until it fails (an error).
pub(crate) fn run(args: &GatewayArgs) -> Result<bool> {
    let config = GatewayConfig::load(&args.config)
        .with_context(|| format!("loading {}", crate::shown(&args.config)))?;
    let now = Now {
        mono: clock::monotonic_now(),
        wall: clock::unix_now(),
    };
    let agent = GatewayAgent::from_config(&config, now).context("starting the gateway")?;
    let reload = agent.limits_reload();
    // After the journal's recovery: the drop copy checks its databases against it.
    let drop_copy = crate::drop_copy::start(
        config.journal.orders_dir(),
        config.instrument_table()?,
        &crate::drop_copy::Targets {
            sqlite: config.drop_copy.sqlite.clone(),
            postgres: config.drop_copy.postgres.clone(),
        },
    )?;
    // Handlers before the addresses are printed: whoever waits for them may signal at once.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let hangup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hangup))
        .context("installing the SIGHUP handler")?;
    let recovery = agent.recovery();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "tickwarp gateway: recovered {} orders ({} open, {} requests pending) from {} journal records",
        recovery.orders, recovery.open_orders, recovery.pending_requests, recovery.records
    )?;
    writeln!(
        out,
        "tickwarp gateway: FIX listening on {}",
        agent.fix_addr()
    )?;
    if let Some(addr) = agent.rdma_addr() {
        writeln!(out, "tickwarp gateway: RDMA listening on {addr}")?;
    }
    if let Some(m) = agent.metrics() {
        writeln!(out, "tickwarp gateway: counters in {}", m.path().display())?;
        if let Some(addr) = m.exporter_addr() {
            writeln!(out, "tickwarp gateway: metrics listening on {addr}")?;
        }
    }
    out.flush()?;
    drop(out);

    let idle = if args.busy_spin {
        IdleConfig::BusySpin
    } else {
        IdleConfig::Backoff {
            max_spins: 10,
            max_yields: 20,
            min_park_ns: 1_000,
            max_park_ns: 200_000,
        }
    };
    let mut runner_config = RunnerConfig::new("gateway").with_idle(idle);
    if let Some(core) = args.core {
        runner_config = runner_config.with_core(core, false);
    }
    let runner = AgentRunner::start(runner_config, agent)?;
    while runner.is_running() && !stop.load(Ordering::Acquire) {
        if hangup.swap(false, Ordering::AcqRel) {
            reload_limits(args, &reload);
        }
        thread::sleep(SUPERVISE_PERIOD);
    }
    let signaled = stop.load(Ordering::Acquire);
    let stopped = runner.stop().context("gateway agent");
    // The journal is closed (synced): the drop copy copies the rest, then stops.
    crate::drop_copy::stop(drop_copy, "tickwarp gateway");
    stopped?;
    Ok(signaled)
}

/// Loads the configuration file again and hands its risk limits to the running agent.
fn reload_limits(args: &GatewayArgs, reload: &LimitsReload) {
    let limits = GatewayConfig::load(&args.config)
        .map_err(anyhow::Error::from)
        .and_then(|c| Ok(c.risk_limits()?.clone()));
    match limits {
        Ok(limits) => {
            reload.request(limits);
            eprintln!(
                "tickwarp gateway: SIGHUP: new risk limits from {} passed validation; the gateway applies them on its next duty cycle (it logs whether it did)",
                crate::shown(&args.config)
            );
        }
        Err(e) => eprintln!(
            "tickwarp gateway: SIGHUP: keeping the old risk limits: {} does not load: {}",
            crate::shown(&args.config),
            crate::causes(&e)
        ),
    }
}

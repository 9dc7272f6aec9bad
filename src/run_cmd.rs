//! `tickwarp run --config FILE [--node NAME]`: starts one node of a topology file. Its
//! components connect to each other and, over RDMA, to the components of the other
//! nodes (which may start in any order). It runs until SIGINT/SIGTERM or `--duration`,
//! printing progress once a second on stderr, then drains, stops and prints the node's
//! summary (also written as `summary-<node>.json` in `--dir`). `--check` only loads and
//! validates the file.
//!
//! When a peer dies (a channel closes or fails, the feed falls silent) or cannot be
//! reached, the node logs one WARN naming the peer (role, node, address) and the cause,
//! tears all its components down and starts them again: it reconnects, pausing 100 ms,
//! then twice as long after each failed attempt up to the node's
//! `reconnect.max_backoff_ms`, for ever unless `reconnect.give_up_after_s` is set. Each
//! new start resynchronizes: the feed's subscribers start from a snapshot, order
//! channels from fresh credits, the gateway from its journal (open orders resubmitted),
//! engines in a new client order id epoch. Counters carry over between starts. Any
//! other failure (a journal, a device) ends the process with one line naming the cause.
//!
//! A gateway node with `[node.drop_copy]` starts the drop copy after its first start
//! opened (recovered) the journal, keeps it through reconnects (it tails the files,
//! whichever start writes them) and stops it after the final stop, so a clean exit
//! copies everything durable.
//! This module must not hold component logic: it supervises [`node`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, bail};
use clap::Args;
use tickwarp_runtime::Nanos;
use tickwarp_runtime::clock::monotonic_now;

use crate::config::{INITIAL_BACKOFF_MS, ReconnectConfig, Topology};
use crate::demo::metrics::NodeMetrics;
use crate::demo::peer::{PeerLost, peer_lost};
use crate::demo::stats::NodeStats;
use crate::demo::{node, progress_loop, run_dir, summary};

/// `tickwarp run` options.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The topology file (TOML).
    #[arg(long)]
    pub(crate) config: PathBuf,
    /// The node to start (optional when the file has one node).
    #[arg(long)]
    pub(crate) node: Option<String>,
    /// Run directory: relative journal directories and the summary go here (default:
    /// the current directory).
    #[arg(long, default_value = ".")]
    pub(crate) dir: PathBuf,
    /// Stop after this many seconds (default: run until SIGINT or SIGTERM).
    #[arg(long)]
    pub(crate) duration: Option<f64>,
    /// Only load and validate the file, then print what each node runs.
    #[arg(long)]
    pub(crate) check: bool,
}

/// Runs the command; `Ok(false)` if the node's summary found an inconsistency.
pub(crate) fn run(args: &RunArgs) -> anyhow::Result<bool> {
    let topology = Topology::load(&args.config)?;
    if args.check {
        describe(&topology);
        return Ok(true);
    }
    let name = match (&args.node, topology.nodes.as_slice()) {
        (Some(name), _) => name.clone(),
        (None, [only]) => only.name.clone(),
        (None, nodes) => {
            let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
            bail!(
                "--node is required: the file has nodes {}",
                names.join(", ")
            );
        }
    };
    if topology.node(&name).is_none() {
        let names: Vec<&str> = topology.nodes.iter().map(|n| n.name.as_str()).collect();
        bail!(
            "no node {name:?} in {} (nodes: {})",
            args.config.display(),
            names.join(", ")
        );
    }
    let dir = run_dir(Some(&args.dir))?;
    let interrupted = node::interrupt_flag()?;
    eprintln!("tickwarp run: node {name} of {}", args.config.display());
    let duration = args.duration.map_or(Nanos::MAX, |s| {
        Nanos::from(Duration::from_secs_f64(s.max(0.0)))
    });
    let stats = Arc::new(NodeStats::default());
    let node_config = topology
        .node(&name)
        .ok_or_else(|| anyhow!("no node {name:?}"))?;
    // Registered once: the agents of every start take and put back the same handles.
    let _metrics = match &node_config.metrics {
        Some(m) => {
            let metrics = NodeMetrics::open(&m.section(&dir), &dir, node_config, &stats.metrics)?;
            metrics.announce();
            Some(metrics)
        }
        None => None,
    };
    let began = monotonic_now();
    let mut copy = CopyPlan {
        targets: node_config
            .drop_copy
            .as_ref()
            .map(|d| d.targets(&dir))
            .unwrap_or_default(),
        running: None,
    };
    let supervised = supervise(
        &topology,
        &name,
        &dir,
        &stats,
        duration,
        &interrupted,
        &mut copy,
    );
    // Also after a failure: what the journal made durable is copied.
    let copy_problems = copy
        .running
        .map(|c| crate::drop_copy::stop(c, "tickwarp run"))
        .unwrap_or_default();
    let journal = supervised?;
    let elapsed = monotonic_now().saturating_sub(began);
    let mut summary =
        summary::NodeSummary::collect(&topology, &name, &stats, elapsed, journal.as_deref())?;
    summary.problems.extend(copy_problems);
    let files = summary::write_files(&dir, &name, &summary, &stats)?;
    summary::print(&summary, &files)?;
    Ok(summary.problems.is_empty())
}

/// The node's drop copy: where it goes, and the copy once the first start opened the
/// journal.
struct CopyPlan {
    targets: crate::drop_copy::Targets,
    running: Option<tickwarp_dropcopy::DropCopy>,
}

impl CopyPlan {
    /// Starts the copy of `journal` if it is configured and not running yet.
    fn start_once(&mut self, topology: &Topology, journal: &Path) -> anyhow::Result<()> {
        if self.running.is_none() && self.targets.any() {
            let table = node::instrument_table(topology)?;
            let copy = crate::drop_copy::start(journal.to_path_buf(), table, &self.targets)?;
            eprintln!("tickwarp run: drop copy of {} started", journal.display());
            self.running = Some(copy);
        }
        Ok(())
    }
}

/// An outage: since when the node has been without a peer, why, and how many starts
/// failed since.
struct Outage {
    since: Nanos,
    lost: PeerLost,
    attempts: u32,
}

/// Starts node `name` and keeps it running until `duration` passes or a signal arrives,
/// starting it again whenever a peer is lost (module docs), counting into `stats`.
/// Starts the drop copy of `copy` after the first start. Returns the gateway's journal
/// directory, if any, after the final drained stop.
fn supervise(
    topology: &Topology,
    name: &str,
    dir: &Path,
    stats: &Arc<NodeStats>,
    duration: Nanos,
    interrupted: &AtomicBool,
    copy: &mut CopyPlan,
) -> anyhow::Result<Option<PathBuf>> {
    let reconnect = topology.node(name).map(|n| n.reconnect).unwrap_or_default();
    let end = Nanos(monotonic_now().get().saturating_add(duration.get()));
    let mut pause = Duration::from_millis(INITIAL_BACKOFF_MS);
    let mut outage: Option<Outage> = None;
    let mut journal = None;
    loop {
        let attempt = monotonic_now();
        let (lost, since) = match node::start(topology, name, dir, Arc::clone(stats), interrupted) {
            Ok(mut running) => {
                if let Some(o) = outage.take() {
                    let secs = monotonic_now().saturating_sub(o.since).get() as f64 / 1e9;
                    eprintln!(
                        "tickwarp run: node {name} reconnected after {secs:.1} s ({} failed \
                         attempts)",
                        o.attempts
                    );
                }
                pause = Duration::from_millis(INITIAL_BACKOFF_MS);
                journal.clone_from(&running.journal_dir);
                if let Some(j) = &journal {
                    if let Err(e) = copy.start_once(topology, j) {
                        // Stopped so that the journal closes before the caller returns.
                        let _ = running.abort();
                        return Err(e);
                    }
                }
                let left = end.saturating_sub(monotonic_now());
                progress_loop(&mut running, left, interrupted)?;
                if running.is_running() {
                    // The run is over (duration or signal): drain and stop.
                    running.stop()?;
                    return Ok(journal);
                }
                let error = match running.abort() {
                    Ok(()) => bail!("node {name}: the agents stopped without saying why"),
                    Err(error) => error,
                };
                match peer_lost(&error) {
                    Some(lost) => (lost.clone(), monotonic_now()),
                    None => return Err(error.context(format!("node {name}"))),
                }
            }
            // A signal during set-up: nothing runs, nothing to drain.
            Err(_) if interrupted.load(Ordering::Relaxed) => return Ok(journal),
            // An outage that starts with a failed start began with the attempt.
            Err(error) => match peer_lost(&error) {
                Some(lost) => (lost.clone(), attempt),
                None => return Err(error.context(format!("starting node {name}"))),
            },
        };
        let now = monotonic_now();
        match outage.as_mut() {
            Some(o) => {
                o.attempts += 1;
                tracing::info!(
                    node = name,
                    attempt = o.attempts,
                    "{lost}; still reconnecting"
                );
            }
            None => {
                tracing::warn!(
                    node = name,
                    "{lost}; reconnecting (pauses up to {} ms, {})",
                    reconnect.max_backoff_ms,
                    give_up_text(&reconnect)
                );
                outage = Some(Outage {
                    since,
                    lost,
                    attempts: 0,
                });
            }
        }
        if let Some(o) = &outage {
            let limit = reconnect.give_up_after_s;
            if limit > 0
                && now.saturating_sub(o.since) >= Nanos(limit.saturating_mul(1_000_000_000))
            {
                bail!(
                    "node {name} gave up reconnecting after {limit} s \
                     (reconnect.give_up_after_s): {}",
                    o.lost
                );
            }
        }
        if !pause_unless_stopped(pause, end, interrupted) {
            // Stopped while reconnecting: nothing runs, nothing to drain.
            return Ok(journal);
        }
        pause = (pause * 2).min(Duration::from_millis(reconnect.max_backoff_ms));
    }
}

/// How long a node keeps trying, in words.
fn give_up_text(reconnect: &ReconnectConfig) -> String {
    match reconnect.give_up_after_s {
        0 => "never giving up".to_owned(),
        s => format!("giving up after {s} s"),
    }
}

/// Sleeps `pause` in short steps; false if a signal arrived or `end` passed first.
fn pause_unless_stopped(pause: Duration, end: Nanos, interrupted: &AtomicBool) -> bool {
    let until = monotonic_now().saturating_add(pause);
    loop {
        let now = monotonic_now();
        if interrupted.load(Ordering::Relaxed) || now >= end {
            return false;
        }
        if now >= until {
            return true;
        }
        thread::sleep(Duration::from_millis(20).min(until.saturating_sub(now).as_duration()));
    }
}

/// Prints what each node of a valid topology runs.
fn describe(topology: &Topology) {
    println!("topology ok: {} nodes", topology.nodes.len());
    for node in &topology.nodes {
        let mut parts = Vec::new();
        if let Some(v) = &node.venue {
            parts.push(format!(
                "venue (md {}, orders {})",
                v.md_listen, v.orders_listen
            ));
        }
        if let Some(f) = &node.feed {
            parts.push(format!("feed ({})", f.listen));
        }
        if let Some(g) = &node.gateway {
            parts.push(format!(
                "gateway ({}, {} FIX sessions)",
                g.listen,
                g.fix_sessions.len()
            ));
        }
        if let Some(d) = &node.drop_copy {
            let mut into = Vec::new();
            if let Some(path) = &d.sqlite {
                into.push(format!("sqlite {}", path.display()));
            }
            if d.postgres.is_some() {
                into.push("postgres".to_owned());
            }
            parts.push(format!("drop copy ({})", into.join(", ")));
        }
        for e in &node.engines {
            let names: Vec<&str> = e.strategies.iter().map(|s| s.name.as_str()).collect();
            parts.push(format!("engine {} [{}]", e.name, names.join(", ")));
        }
        println!(
            "  {}: {:?} backend, {:?} threading: {}",
            node.name,
            node.backend,
            node.threading,
            parts.join("; ")
        );
    }
}

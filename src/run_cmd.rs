//! `tickwarp run --config FILE [--node NAME]`: starts one node of a topology file. Its
//! components connect to each other and, over RDMA, to the components of the other
//! nodes (which may start in any order: connections are retried for 30 s). It runs
//! until SIGINT/SIGTERM or `--duration`, printing progress once a second on stderr, then
//! drains, stops and prints the node's summary (also written as
//! `summary-<node>.json` in `--dir`). `--check` only loads and validates the file.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use tickwarp_runtime::Nanos;
use tickwarp_runtime::clock::monotonic_now;

use crate::config::Topology;
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
    let mut running =
        node::start(&topology, &name, &dir).with_context(|| format!("starting node {name}"))?;
    let duration = args.duration.map_or(Nanos::MAX, |s| {
        Nanos::from(std::time::Duration::from_secs_f64(s.max(0.0)))
    });
    progress_loop(&mut running, duration, &interrupted)?;
    let elapsed = monotonic_now().saturating_sub(running.started);
    let journal = running.journal_dir.clone();
    let stats = running.stop()?;
    let summary =
        summary::NodeSummary::collect(&topology, &name, &stats, elapsed, journal.as_deref())?;
    let files = summary::write_files(&dir, &name, &summary, &stats)?;
    summary::print(&summary, &files)?;
    Ok(summary.problems.is_empty())
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

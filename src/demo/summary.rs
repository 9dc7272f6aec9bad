//! What a run reports: the live progress line, the end-of-run summary (checked for
//! consistency: fills never exceed orders, every order the gateway took is journaled,
//! the engines' positions equal the gateway's), the files (`.hlog`, SVG percentile plot,
//! JSON summary) and the table printed at the end.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tickwarp_bench::pipeline::{Hop, HopSummary, write_percentile_svg};
use tickwarp_bench::report::write_hlog;
use tickwarp_gateway::service::recovery::RECORD_ORDER_NEW;
use tickwarp_runtime::Nanos;
use tickwarp_wire::journal::JournalReader;

use super::stats::NodeStats;
use crate::config::Topology;

/// A snapshot of the counters the progress line shows.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    ticks: u64,
    orders: u64,
    fills: u64,
}

impl Counts {
    /// Reads the counters.
    pub(crate) fn read(stats: &NodeStats) -> Counts {
        Counts {
            ticks: stats
                .feed_records
                .load(Ordering::Relaxed)
                .max(stats.engine_ticks.load(Ordering::Relaxed)),
            orders: stats
                .gw_new
                .load(Ordering::Relaxed)
                .max(stats.engine_orders.load(Ordering::Relaxed)),
            fills: stats
                .gw_fills
                .load(Ordering::Relaxed)
                .max(stats.venue_fills.load(Ordering::Relaxed)),
        }
    }
}

/// Prints one progress line to stderr: rates over `interval`, totals, and the
/// tick-to-trade percentiles of the orders since the last line.
pub(crate) fn progress_line(
    stats: &NodeStats,
    last: &Counts,
    now: &Counts,
    interval: Nanos,
    elapsed: Nanos,
) {
    let secs = interval.get().max(1) as f64 / 1e9;
    let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
    let latency = stats
        .live
        .snapshot(true)
        .map(|h| h.summary().tick_to_trade)
        .filter(|t| t.count > 0)
        .map_or_else(
            || "tick-to-trade -".to_owned(),
            |t| format!("tick-to-trade p50 {} p99 {}", micros(t.p50), micros(t.p99)),
        );
    eprintln!(
        "[{:5.1}s] {:>8.0} ticks/s {:>7.0} orders/s | orders {} fills {} | {latency}",
        elapsed.get() as f64 / 1e9,
        rate(now.ticks, last.ticks),
        rate(now.orders, last.orders),
        now.orders,
        now.fills,
    );
}

/// Nanoseconds as microseconds with two decimals.
fn micros(ns: u64) -> String {
    format!("{:.2} µs", ns as f64 / 1_000.0)
}

/// One strategy's results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StrategyLine {
    /// Engine name.
    pub(crate) engine: String,
    /// Strategy name.
    pub(crate) name: String,
    /// New orders sent.
    pub(crate) orders: u64,
    /// Cancel and replace requests sent.
    pub(crate) amends: u64,
    /// Fill events.
    pub(crate) fills: u64,
    /// Quantity filled.
    pub(crate) filled_qty: u64,
    /// Net position, summed over instruments (bought minus sold).
    pub(crate) position: i64,
    /// Realized plus unrealized PnL.
    pub(crate) pnl: String,
}

/// A position as the gateway and as the engines saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PositionLine {
    /// Instrument id.
    pub(crate) instrument: u32,
    /// Net quantity from the gateway's fills (all accounts).
    pub(crate) gateway: i64,
    /// Net quantity from the engines' positions.
    pub(crate) engines: i64,
}

/// The end-of-run summary of one node (the JSON file's content).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct NodeSummary {
    /// Node name.
    pub(crate) node: String,
    /// Seconds the agents ran.
    pub(crate) seconds: f64,
    /// House events at the venue.
    pub(crate) house_events: u64,
    /// Market data records the feed published.
    pub(crate) ticks_published: u64,
    /// Ticks the engines handled.
    pub(crate) ticks: u64,
    /// New orders the engines sent.
    pub(crate) orders_sent: u64,
    /// New orders the gateway received.
    pub(crate) orders_received: u64,
    /// New orders rejected (by the gateway's checks or the venue).
    pub(crate) rejected: u64,
    /// Commands the gateway journaled.
    pub(crate) commands_journaled: u64,
    /// New orders found in the journal when read back.
    pub(crate) orders_in_journal: u64,
    /// Records found in the journal when read back.
    pub(crate) journal_records: u64,
    /// Commands the gateway handed to the venue.
    pub(crate) commands_to_venue: u64,
    /// Fill events the gateway passed on.
    pub(crate) fills: u64,
    /// Order acceptances the gateway passed on.
    pub(crate) accepted: u64,
    /// Cancels the gateway passed on.
    pub(crate) canceled: u64,
    /// Cancel and replace rejects the gateway passed on.
    pub(crate) cancel_rejected: u64,
    /// Replaces the gateway passed on.
    pub(crate) replaced: u64,
    /// Fill events the engines' strategies received.
    pub(crate) fills_received: u64,
    /// Quantity filled.
    pub(crate) filled_qty: u64,
    /// Orders still open at the gateway at the end.
    pub(crate) open_orders: u64,
    /// Per-strategy results.
    pub(crate) strategies: Vec<StrategyLine>,
    /// Positions, gateway against engines.
    pub(crate) positions: Vec<PositionLine>,
    /// Tick-to-trade and hops, nanoseconds.
    pub(crate) latency: HopSummary,
    /// Where the gateway journal is.
    pub(crate) journal: Option<PathBuf>,
    /// Inconsistencies found (empty when all is well).
    pub(crate) problems: Vec<String>,
}

/// Counts the records and new orders of the journal in `dir` after its first `skip`
/// records.
fn read_journal(dir: &Path, skip: u64) -> anyhow::Result<(u64, u64)> {
    let mut reader = JournalReader::open(dir, tickwarp_wire::SeqNo(1))
        .with_context(|| format!("reading the journal in {}", dir.display()))?;
    let (mut records, mut orders) = (0, 0);
    let (mut seen, new_order) = (0, RECORD_ORDER_NEW);
    while let Some(record) = reader.next().context("reading the journal")? {
        seen += 1;
        if seen <= skip {
            continue;
        }
        records += 1;
        if record.record_type == new_order {
            orders += 1;
        }
    }
    Ok((records, orders))
}

impl NodeSummary {
    /// Builds and checks the summary of node `name` after its agents stopped.
    pub(crate) fn collect(
        topology: &Topology,
        name: &str,
        stats: &NodeStats,
        elapsed: Nanos,
        journal: Option<&Path>,
    ) -> anyhow::Result<NodeSummary> {
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let mut s = NodeSummary {
            node: name.to_owned(),
            seconds: elapsed.get() as f64 / 1e9,
            house_events: load(&stats.venue_house),
            ticks_published: load(&stats.feed_records),
            ticks: load(&stats.engine_ticks),
            orders_sent: load(&stats.engine_orders),
            orders_received: load(&stats.gw_new),
            rejected: load(&stats.gw_risk_rejects),
            commands_journaled: load(&stats.gw_journaled),
            commands_to_venue: load(&stats.gw_to_venue),
            fills: load(&stats.gw_fills),
            accepted: load(&stats.gw_accepted),
            canceled: load(&stats.gw_canceled),
            cancel_rejected: load(&stats.gw_cancel_rejects),
            replaced: load(&stats.gw_replaced),
            journal: journal.map(Path::to_path_buf),
            ..NodeSummary::default()
        };
        if let Some(h) = stats.total.snapshot(false) {
            s.latency = h.summary();
        }
        let engines = stats.engines.lock().map(|e| e.clone()).unwrap_or_default();
        let mut engine_net: Vec<(u32, i64)> = Vec::new();
        for engine in &engines {
            for st in &engine.strategies {
                let position = st.positions.iter().map(|p| p.qty()).sum();
                for p in &st.positions {
                    match engine_net.iter_mut().find(|(i, _)| *i == p.instrument().0) {
                        Some((_, q)) => *q += p.qty(),
                        None => engine_net.push((p.instrument().0, p.qty())),
                    }
                }
                s.fills_received += st.stats.fills;
                s.strategies.push(StrategyLine {
                    engine: engine.name.clone(),
                    name: st.name.clone(),
                    orders: st.stats.new_orders,
                    amends: st.stats.cancels + st.stats.replaces,
                    fills: st.stats.fills,
                    filled_qty: st.stats.filled_qty,
                    position,
                    pnl: st.total().to_string(),
                });
            }
        }
        let gateway = stats.gateway.lock().ok().and_then(|g| g.clone());
        let mut gateway_net: Vec<(u32, i64)> = Vec::new();
        if let Some(g) = &gateway {
            s.filled_qty = g.filled_qty;
            s.open_orders = g.open_orders as u64;
            for (_, instrument, net) in &g.positions {
                let net = i64::try_from(*net).unwrap_or(i64::MAX);
                match gateway_net.iter_mut().find(|(i, _)| *i == instrument.0) {
                    Some((_, q)) => *q += net,
                    None => gateway_net.push((instrument.0, net)),
                }
            }
        }
        let mut instruments: Vec<u32> = gateway_net
            .iter()
            .chain(&engine_net)
            .map(|(i, _)| *i)
            .collect();
        instruments.sort_unstable();
        instruments.dedup();
        let of =
            |list: &[(u32, i64)], i: u32| list.iter().find(|(j, _)| *j == i).map_or(0, |(_, q)| *q);
        s.positions = instruments
            .into_iter()
            .map(|i| PositionLine {
                instrument: i,
                gateway: of(&gateway_net, i),
                engines: of(&engine_net, i),
            })
            .collect();
        if let Some(dir) = journal {
            let skip = stats.journal_before.get().copied().unwrap_or(0);
            let (records, orders) = read_journal(dir, skip)?;
            s.journal_records = records;
            s.orders_in_journal = orders;
        }
        s.check(topology, name, gateway.is_some(), !engines.is_empty());
        Ok(s)
    }

    /// Records every inconsistency in `problems`.
    fn check(&mut self, topology: &Topology, name: &str, has_gateway: bool, has_engines: bool) {
        let mut problem = |p: String| self.problems.push(p);
        if has_gateway {
            if self.fills > self.commands_to_venue {
                problem(format!(
                    "{} fills for {} orders sent to the venue",
                    self.fills, self.commands_to_venue
                ));
            }
            if self.orders_in_journal + self.rejected < self.orders_received {
                problem(format!(
                    "{} new orders journaled, {} received and {} rejected",
                    self.orders_in_journal, self.orders_received, self.rejected
                ));
            }
            // FIX orders are journaled too but not counted as received from engines.
            let fix = topology
                .node(name)
                .and_then(|n| n.gateway.as_ref())
                .is_some_and(|g| g.fix_listen.is_some());
            if !fix && self.orders_in_journal > self.orders_received {
                problem(format!(
                    "{} new orders in the journal but {} received",
                    self.orders_in_journal, self.orders_received
                ));
            }
        }
        if has_engines && self.fills_received > 0 && self.orders_sent == 0 {
            problem("fills without orders".to_owned());
        }
        let whole = topology
            .node(name)
            .is_some_and(|n| n.gateway.is_some() && n.venue.is_some() && !n.engines.is_empty())
            && topology.engines().all(|(n, _)| n.name == name);
        if whole {
            if self.orders_sent != self.orders_received {
                self.problems.push(format!(
                    "engines sent {} new orders, the gateway received {}",
                    self.orders_sent, self.orders_received
                ));
            }
            if self.fills_received != self.fills {
                self.problems.push(format!(
                    "the gateway passed on {} fills, the strategies received {}",
                    self.fills, self.fills_received
                ));
            }
            for p in &self.positions {
                if p.gateway != p.engines {
                    self.problems.push(format!(
                        "instrument {}: gateway position {} but engines hold {}",
                        p.instrument, p.gateway, p.engines
                    ));
                }
            }
        }
    }
}

/// Paths of the files a run wrote.
#[derive(Clone, Debug, Default)]
pub(crate) struct Files {
    /// The JSON summary.
    pub(crate) json: PathBuf,
    /// The HdrHistogram log, if any order was timed.
    pub(crate) hlog: Option<PathBuf>,
    /// The SVG percentile plot, if any order was timed.
    pub(crate) svg: Option<PathBuf>,
}

/// Writes `summary-<node>.json` and, when orders were timed, `tick-to-trade-<node>.hlog`
/// and `.svg` into `dir`.
pub(crate) fn write_files(
    dir: &Path,
    node: &str,
    summary: &NodeSummary,
    stats: &NodeStats,
) -> anyhow::Result<Files> {
    let json = dir.join(format!("summary-{node}.json"));
    let text = serde_json::to_string_pretty(summary).context("encoding the summary")?;
    std::fs::write(&json, text).with_context(|| format!("writing {}", json.display()))?;
    let mut files = Files {
        json,
        ..Files::default()
    };
    if let Some(h) = stats.total.snapshot(false).filter(|h| h.orders() > 0) {
        let hlog = dir.join(format!("tick-to-trade-{node}.hlog"));
        let elapsed = Duration::from_secs_f64(summary.seconds.max(0.0));
        write_hlog(
            &hlog,
            "tickwarp tick-to-trade and hops (ns)",
            &h.runs("", elapsed),
        )?;
        let svg = dir.join(format!("tick-to-trade-{node}.svg"));
        let series: Vec<(&str, &hdrhistogram::Histogram<u64>)> = Hop::ALL
            .iter()
            .map(|&hop| (hop.label(), h.hop(hop)))
            .collect();
        write_percentile_svg(
            &svg,
            "tickwarp tick-to-trade (soft iWARP, loopback)",
            &series,
        )?;
        files.hlog = Some(hlog);
        files.svg = Some(svg);
    }
    Ok(files)
}

/// Prints the summary table and the file paths to stdout.
pub(crate) fn print(s: &NodeSummary, files: &Files) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "\ntickwarp {}: {:.1} s", s.node, s.seconds)?;
    let rows: [(&str, u64); 16] = [
        ("house events at the venue", s.house_events),
        ("market data records published", s.ticks_published),
        ("ticks handled by strategies", s.ticks),
        ("new orders sent by strategies", s.orders_sent),
        ("new orders at the gateway", s.orders_received),
        ("new orders rejected", s.rejected),
        ("new orders accepted", s.accepted),
        ("commands journaled and sent on", s.commands_journaled),
        ("new orders in the journal", s.orders_in_journal),
        ("commands to the venue", s.commands_to_venue),
        ("fills", s.fills),
        ("cancels", s.canceled),
        ("cancel/replace rejects", s.cancel_rejected),
        ("replaces", s.replaced),
        ("fills received by strategies", s.fills_received),
        ("quantity filled", s.filled_qty),
    ];
    for (label, value) in rows {
        writeln!(out, "  {label:<32} {value:>12}")?;
    }
    if !s.strategies.is_empty() {
        writeln!(
            out,
            "\n  {:<10} {:<14} {:>9} {:>9} {:>7} {:>9} {:>9} {:>14}",
            "engine", "strategy", "orders", "amends", "fills", "filled", "position", "pnl"
        )?;
        for st in &s.strategies {
            writeln!(
                out,
                "  {:<10} {:<14} {:>9} {:>9} {:>7} {:>9} {:>9} {:>14}",
                st.engine,
                st.name,
                st.orders,
                st.amends,
                st.fills,
                st.filled_qty,
                st.position,
                st.pnl
            )?;
        }
    }
    for p in &s.positions {
        writeln!(
            out,
            "  instrument {}: position {} at the gateway, {} at the engines",
            p.instrument, p.gateway, p.engines
        )?;
    }
    if s.latency.tick_to_trade.count > 0 || s.latency.gateway_to_venue.count > 0 {
        writeln!(out)?;
        let rows = [
            (Hop::TickToTrade, s.latency.tick_to_trade),
            (Hop::FeedToStrategy, s.latency.feed_to_strategy),
            (Hop::StrategyToGateway, s.latency.strategy_to_gateway),
            (Hop::GatewayToVenue, s.latency.gateway_to_venue),
        ];
        writeln!(
            out,
            "  {:<20} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "latency (µs)", "orders", "p50", "p90", "p99", "p99.9", "p99.99", "max"
        )?;
        for (hop, l) in rows {
            let us = |v: u64| format!("{:.2}", v as f64 / 1_000.0);
            writeln!(
                out,
                "  {:<20} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
                hop.label(),
                l.count,
                us(l.p50),
                us(l.p90),
                us(l.p99),
                us(l.p99_9),
                us(l.p99_99),
                us(l.max)
            )?;
        }
    }
    writeln!(out)?;
    if let Some(j) = &s.journal {
        writeln!(out, "  journal      {}", j.display())?;
        let md = j.with_file_name("md");
        if md.is_dir() {
            writeln!(out, "  market data  {}", md.display())?;
            writeln!(
                out,
                "               replay: tickwarp replay --journal {} --strategy market_maker",
                md.display()
            )?;
        }
    }
    if let Some(h) = &files.hlog {
        writeln!(out, "  histograms   {}", h.display())?;
    }
    if let Some(svg) = &files.svg {
        writeln!(out, "  plot         {}", svg.display())?;
    }
    writeln!(out, "  summary      {}", files.json.display())?;
    if s.problems.is_empty() {
        writeln!(
            out,
            "  checks       fills <= orders, orders journaled, positions match fills: ok"
        )?;
    } else {
        for p in &s.problems {
            writeln!(out, "  PROBLEM      {p}")?;
        }
    }
    Ok(())
}

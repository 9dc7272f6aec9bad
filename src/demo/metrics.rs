//! A node's counters file (`--metrics-dir` of `tickwarp demo`, `[metrics]` of a
//! topology node): the same [`tickwarp_metrics`] file, exporter and `tickwarp stat` as
//! the gateway service's.
//!
//! | family | what, recorded by |
//! |---|---|
//! | `tickwarp_feed_ticks_published_total` | market data records the feed published (feed) |
//! | `tickwarp_engine_orders_sent_total{engine}` | new orders the engine's strategies sent (that engine) |
//! | `tickwarp_engine_executions_total{engine}` | execution events the engine received (that engine) |
//! | `tickwarp_feed_gaps_total{engine,kind}` | market data the engine's subscriber lost: `ring_lapped` (the feed overwrote slots before they were read) or `sequence_jump` (a feed sequence number skipped without a ring gap) (that engine) |
//! | `tickwarp_feed_resyncs_total{engine}` | snapshots the engine's subscriber applied to rebuild its books after a loss (that engine) |
//! | `tickwarp_gateway_orders_total{result}` | new orders answered, `accepted` or `rejected` (gateway) |
//! | `tickwarp_gateway_executions_total` | fills (gateway) |
//! | `tickwarp_tick_to_trade_seconds` | tick received by the feed to order handed to the venue: the summary's timestamps (gateway) |
//! | `tickwarp_agent_duty_cycles_total{agent}`, `tickwarp_agent_work_total{agent}` | duty cycles and the work they reported (each agent) |
//!
//! Everything is registered when the process starts ([`NodeMetrics::open`]); each
//! agent takes its own handles from [`MetricsSlots`] when it is built and puts them
//! back when it closes, so that `tickwarp run` keeps counting across a node's restarts
//! and each value has one writer.
//!
//! What this module must not do: allocate, lock or read a clock when recording.

use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use tickwarp_feed::publisher::SubscriberStats;
use tickwarp_gateway::service::metrics::MetricsSection;
use tickwarp_metrics::{Counter, CountersFile, Exporter, Histogram, ProcessInfo};
use tickwarp_runtime::clock::unix_now;

use crate::config::NodeConfig;

/// Slots of a node's counters file: the fixed families, a histogram and two per agent.
fn capacity(engines: usize) -> usize {
    32 + tickwarp_metrics::layout::BUCKETS + 2 + 7 * engines
}

/// One agent's duty cycles and work.
#[derive(Debug)]
pub(crate) struct Cycles {
    cycles: Counter,
    work: Counter,
}

impl Cycles {
    /// Registers the pair for `agent`.
    fn register(f: &mut CountersFile, agent: &str) -> anyhow::Result<Cycles> {
        let labels = [("agent", agent)];
        Ok(Cycles {
            cycles: f.counter(
                "tickwarp_agent_duty_cycles_total",
                &labels,
                "Duty cycles run, by agent.",
            )?,
            work: f.counter(
                "tickwarp_agent_work_total",
                &labels,
                "Work reported by the duty cycles, by agent.",
            )?,
        })
    }

    /// A duty cycle that did `work`.
    pub(crate) fn record(&mut self, work: usize) {
        self.cycles.inc();
        if work > 0 {
            self.work.add(work as u64);
        }
    }
}

/// The feed's handles.
#[derive(Debug)]
pub(crate) struct FeedMetrics {
    /// Its duty cycles.
    pub(crate) cycles: Cycles,
    /// Records published.
    pub(crate) published: Counter,
}

/// One engine's handles.
#[derive(Debug)]
pub(crate) struct EngineMetrics {
    /// Its duty cycles.
    pub(crate) cycles: Cycles,
    /// New orders sent.
    pub(crate) orders: Counter,
    /// Execution events received.
    pub(crate) executions: Counter,
    /// Ring gaps of its market data subscriber.
    ring_gaps: Counter,
    /// Feed sequence jumps without a ring gap.
    seq_jumps: Counter,
    /// Snapshots applied.
    resyncs: Counter,
}

impl EngineMetrics {
    /// Copies the counts of the engine's market data subscriber in (cumulative:
    /// only what grew since the last call is added).
    pub(crate) fn observe_feed(&mut self, md: &SubscriberStats) {
        catch_up(&mut self.ring_gaps, md.ring_gaps);
        catch_up(&mut self.seq_jumps, md.seq_jumps);
        catch_up(&mut self.resyncs, md.resyncs);
    }
}

/// Brings `counter` up to `total`, a cumulative count its source keeps.
fn catch_up(counter: &mut Counter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.add(total - now);
    }
}

/// The gateway's handles.
#[derive(Debug)]
pub(crate) struct GatewayMetrics {
    /// Its duty cycles.
    pub(crate) cycles: Cycles,
    /// New orders accepted.
    pub(crate) accepted: Counter,
    /// New orders rejected (by the gateway or the venue).
    pub(crate) rejected: Counter,
    /// Fills.
    pub(crate) fills: Counter,
    /// Tick-to-trade of each new order handed to the venue.
    pub(crate) tick_to_trade: Histogram,
}

/// Where the agents of a node take their handles from and put them back (none when
/// the node has no counters file).
#[derive(Debug, Default)]
pub(crate) struct MetricsSlots {
    /// The venue's duty cycles.
    pub(crate) venue: Mutex<Option<Cycles>>,
    /// The feed's.
    pub(crate) feed: Mutex<Option<FeedMetrics>>,
    /// Each engine's, by name.
    pub(crate) engines: Mutex<Vec<(String, EngineMetrics)>>,
    /// The gateway's.
    pub(crate) gateway: Mutex<Option<GatewayMetrics>>,
}

impl MetricsSlots {
    /// Takes the handles of engine `name`.
    pub(crate) fn take_engine(&self, name: &str) -> Option<EngineMetrics> {
        let mut engines = self.engines.lock().ok()?;
        let i = engines.iter().position(|(n, _)| n == name)?;
        Some(engines.swap_remove(i).1)
    }

    /// Puts back the handles of engine `name`.
    pub(crate) fn put_engine(&self, name: &str, m: EngineMetrics) {
        if let Ok(mut engines) = self.engines.lock() {
            engines.push((name.to_owned(), m));
        }
    }
}

/// Takes what `slot` holds.
pub(crate) fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().ok().and_then(|mut s| s.take())
}

/// Puts `value` back into `slot`.
pub(crate) fn put<T>(slot: &Mutex<Option<T>>, value: Option<T>) {
    if let (Some(v), Ok(mut s)) = (value, slot.lock()) {
        *s = Some(v);
    }
}

/// A node process's counters file and exporter.
#[derive(Debug)]
pub(crate) struct NodeMetrics {
    // Declared first: dropped before the file it reads.
    exporter: Option<Exporter>,
    file: CountersFile,
}

impl NodeMetrics {
    /// Creates the counters file in `section`'s directory (default
    /// `<run_dir>/metrics`), registers the families of `node`'s components into
    /// `slots` and starts the exporter if `listen` is set.
    pub(crate) fn open(
        section: &MetricsSection,
        run_dir: &Path,
        node: &NodeConfig,
        slots: &MetricsSlots,
    ) -> anyhow::Result<NodeMetrics> {
        section.validate().map_err(anyhow::Error::msg)?;
        let dir = section
            .dir
            .clone()
            .unwrap_or_else(|| run_dir.join("metrics"));
        let info = ProcessInfo {
            pid: std::process::id(),
            start_unix_nanos: unix_now().get(),
            name: format!("tickwarp node {}", node.name),
        };
        let mut f = CountersFile::create(&dir, &info, capacity(node.engines.len()))
            .with_context(|| format!("creating the counters file in {}", dir.display()))?;
        if node.venue.is_some() {
            put(&slots.venue, Some(Cycles::register(&mut f, "venue")?));
        }
        if node.feed.is_some() {
            let feed = FeedMetrics {
                cycles: Cycles::register(&mut f, "feed")?,
                published: f.counter(
                    "tickwarp_feed_ticks_published_total",
                    &[],
                    "Market data records the feed published.",
                )?,
            };
            put(&slots.feed, Some(feed));
        }
        const GAPS: &str = "tickwarp_feed_gaps_total";
        const GAPS_HELP: &str = "Market data the engine's subscriber lost, by kind.";
        for e in &node.engines {
            let labels = [("engine", e.name.as_str())];
            let engine = EngineMetrics {
                cycles: Cycles::register(&mut f, &e.name)?,
                orders: f.counter(
                    "tickwarp_engine_orders_sent_total",
                    &labels,
                    "New orders the engine's strategies sent.",
                )?,
                executions: f.counter(
                    "tickwarp_engine_executions_total",
                    &labels,
                    "Execution events the engine received.",
                )?,
                ring_gaps: f.counter(
                    GAPS,
                    &[("engine", e.name.as_str()), ("kind", "ring_lapped")],
                    GAPS_HELP,
                )?,
                seq_jumps: f.counter(
                    GAPS,
                    &[("engine", e.name.as_str()), ("kind", "sequence_jump")],
                    GAPS_HELP,
                )?,
                resyncs: f.counter(
                    "tickwarp_feed_resyncs_total",
                    &labels,
                    "Snapshots the engine's market data subscriber applied after a loss.",
                )?,
            };
            slots.put_engine(&e.name, engine);
        }
        if node.gateway.is_some() {
            const ORDERS: &str = "tickwarp_gateway_orders_total";
            const HELP: &str = "New orders answered, by result (accepted or rejected).";
            let gateway = GatewayMetrics {
                cycles: Cycles::register(&mut f, "gateway")?,
                accepted: f.counter(ORDERS, &[("result", "accepted")], HELP)?,
                rejected: f.counter(ORDERS, &[("result", "rejected")], HELP)?,
                fills: f.counter(
                    "tickwarp_gateway_executions_total",
                    &[],
                    "Fills (partial and full).",
                )?,
                tick_to_trade: f.histogram(
                    "tickwarp_tick_to_trade_seconds",
                    &[],
                    "Tick received by the feed to the order handed to the venue.",
                )?,
            };
            put(&slots.gateway, Some(gateway));
        }
        let exporter = match section.listen {
            Some(listen) => Some(Exporter::start(listen, f.path())?),
            None => None,
        };
        Ok(NodeMetrics { exporter, file: f })
    }

    /// Says on stderr where the counters are (file and `/metrics`).
    pub(crate) fn announce(&self) {
        match self.exporter.as_ref().map(Exporter::local_addr) {
            Some(addr) => eprintln!(
                "metrics: counters file {}, Prometheus on http://{addr}/metrics",
                self.file.path().display()
            ),
            None => eprintln!("metrics: counters file {}", self.file.path().display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwarp_metrics::{CountersReader, Value};

    #[test]
    fn a_lapped_subscriber_counts_its_gaps_and_resyncs_once() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let info = ProcessInfo {
            pid: std::process::id(),
            start_unix_nanos: 0,
            name: "test".to_owned(),
        };
        let mut f = CountersFile::create(dir.path(), &info, 16)?;
        let mut m = EngineMetrics {
            cycles: Cycles::register(&mut f, "e1")?,
            orders: f.counter("o_total", &[], "o")?,
            executions: f.counter("x_total", &[], "x")?,
            ring_gaps: f.counter("gaps_total", &[("kind", "ring_lapped")], "g")?,
            seq_jumps: f.counter("gaps_total", &[("kind", "sequence_jump")], "g")?,
            resyncs: f.counter("resyncs_total", &[], "r")?,
        };
        // Lapped once and resynced: the stats are cumulative, so seeing them on every
        // duty cycle counts each event once.
        let lapped = SubscriberStats {
            ring_gaps: 1,
            resyncs: 1,
            ..SubscriberStats::default()
        };
        m.observe_feed(&lapped);
        m.observe_feed(&lapped);
        m.observe_feed(&SubscriberStats {
            seq_jumps: 2,
            ..lapped
        });
        let snap = CountersReader::open(f.path())?.snapshot()?;
        let value = |name: &str, kind: Option<&str>| {
            snap.metrics
                .iter()
                .find(|x| {
                    x.name == name
                        && kind.is_none_or(|k| x.labels.first().is_some_and(|(_, v)| v == k))
                })
                .map(|x| x.value.clone())
        };
        assert_eq!(
            value("gaps_total", Some("ring_lapped")),
            Some(Value::Counter(1))
        );
        assert_eq!(
            value("gaps_total", Some("sequence_jump")),
            Some(Value::Counter(2))
        );
        assert_eq!(value("resyncs_total", None), Some(Value::Counter(1)));
        Ok(())
    }
}

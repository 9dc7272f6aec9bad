//! Tick-to-trade measurement of the trading pipeline, shared by `tickwarp demo` and the
//! `tick_to_trade` benchmark: per-order histograms of the whole path and of each hop
//! ([`HopHistograms`]), their machine-readable summary ([`HopSummary`]) and an SVG
//! percentile plot ([`write_percentile_svg`]).
//!
//! The path of one order, from the timestamps it carries ([`TickCause`]) and the two the
//! gateway takes:
//!
//! ```text
//!  tick recv_ts ──feed→strategy──▶ send_ts ──strategy→gateway──▶ gateway in ──gateway→venue──▶ venue out
//!  (feed received the tick)        (strategy sent)               (gateway took the order)      (handed to the venue session)
//!  └──────────────────────────────────── tick-to-trade ─────────────────────────────────────────────┘
//! ```
//!
//! All four are `CLOCK_MONOTONIC` readings, comparable across the processes of one host.
//! Orders not caused by a tick (a timer's) have no tick-to-trade and are only counted.
//! This module records and reports; it must not read a clock (times are arguments) and
//! must not allocate when recording.

use std::path::Path;

use anyhow::{Context, anyhow};
use hdrhistogram::Histogram;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use tickwarp_runtime::Nanos;
use tickwarp_wire::TickCause;

use crate::report::{Percentiles, new_histogram};

/// The measured segments, in the order tables list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hop {
    /// Tick received by the feed to order handed to the venue session.
    TickToTrade,
    /// Tick received by the feed to order sent by the strategy (ring transit included).
    FeedToStrategy,
    /// Order sent by the strategy to order taken by the gateway.
    StrategyToGateway,
    /// Order taken by the gateway (risk, order state, journal) to order handed to the
    /// venue session.
    GatewayToVenue,
}

impl Hop {
    /// Every hop, the whole path first.
    pub const ALL: [Hop; 4] = [
        Hop::TickToTrade,
        Hop::FeedToStrategy,
        Hop::StrategyToGateway,
        Hop::GatewayToVenue,
    ];

    /// The row label.
    pub const fn label(self) -> &'static str {
        match self {
            Hop::TickToTrade => "tick-to-trade",
            Hop::FeedToStrategy => "feed -> strategy",
            Hop::StrategyToGateway => "strategy -> gateway",
            Hop::GatewayToVenue => "gateway -> venue",
        }
    }
}

/// One histogram per [`Hop`], in nanoseconds.
#[derive(Clone, Debug)]
pub struct HopHistograms {
    hops: [Histogram<u64>; 4],
    /// Orders recorded without a causing tick.
    untimed: u64,
}

impl HopHistograms {
    /// Empty histograms (1 ns to one hour, 3 significant digits).
    pub fn new() -> anyhow::Result<HopHistograms> {
        Ok(HopHistograms {
            hops: [
                new_histogram()?,
                new_histogram()?,
                new_histogram()?,
                new_histogram()?,
            ],
            untimed: 0,
        })
    }

    /// Records one order: its cause, when the gateway took it and when it handed it to
    /// the venue. Out-of-order stamps (another host's clock) count as zero.
    pub fn record(&mut self, cause: &TickCause, gateway_in: Nanos, venue_out: Nanos) {
        let [t2t, f2s, s2g, g2v] = &mut self.hops;
        // Values above the histogram's bound saturate at it.
        let put = |h: &mut Histogram<u64>, later: Nanos, earlier: Nanos| {
            h.saturating_record(later.saturating_sub(earlier).get().max(1));
        };
        put(g2v, venue_out, gateway_in);
        if cause.recv_ts == Nanos::ZERO {
            self.untimed += 1;
            return;
        }
        put(t2t, venue_out, cause.recv_ts);
        put(f2s, cause.send_ts, cause.recv_ts);
        put(s2g, gateway_in, cause.send_ts);
    }

    /// The histogram of `hop`.
    pub fn hop(&self, hop: Hop) -> &Histogram<u64> {
        let [t2t, f2s, s2g, g2v] = &self.hops;
        match hop {
            Hop::TickToTrade => t2t,
            Hop::FeedToStrategy => f2s,
            Hop::StrategyToGateway => s2g,
            Hop::GatewayToVenue => g2v,
        }
    }

    /// Orders recorded without a causing tick.
    pub fn untimed(&self) -> u64 {
        self.untimed
    }

    /// Orders recorded.
    pub fn orders(&self) -> u64 {
        self.hop(Hop::GatewayToVenue).len()
    }

    /// Adds `other`'s samples to these.
    pub fn add(&mut self, other: &HopHistograms) -> anyhow::Result<()> {
        for (mine, theirs) in self.hops.iter_mut().zip(&other.hops) {
            mine.add(theirs)
                .map_err(|e| anyhow!("merging histograms: {e:?}"))?;
        }
        self.untimed += other.untimed;
        Ok(())
    }

    /// Forgets every sample.
    pub fn reset(&mut self) {
        for h in &mut self.hops {
            h.reset();
        }
        self.untimed = 0;
    }

    /// The histograms as report runs named `prefix` plus the hop label, all over
    /// `elapsed`.
    pub fn runs(&self, prefix: &str, elapsed: std::time::Duration) -> Vec<crate::report::Run> {
        Hop::ALL
            .iter()
            .map(|&hop| crate::report::Run {
                name: format!("{prefix}{}", hop.label()),
                histogram: self.hop(hop).clone(),
                elapsed,
            })
            .collect()
    }

    /// The machine-readable summary.
    pub fn summary(&self) -> HopSummary {
        let of = |hop| LatencySummary::from(Percentiles::of(self.hop(hop)));
        HopSummary {
            tick_to_trade: of(Hop::TickToTrade),
            feed_to_strategy: of(Hop::FeedToStrategy),
            strategy_to_gateway: of(Hop::StrategyToGateway),
            gateway_to_venue: of(Hop::GatewayToVenue),
            untimed_orders: self.untimed,
        }
    }
}

/// Percentiles of one histogram in nanoseconds, for JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// 99.99th percentile.
    pub p99_99: u64,
    /// Largest sample.
    pub max: u64,
}

impl From<Percentiles> for LatencySummary {
    fn from(p: Percentiles) -> LatencySummary {
        LatencySummary {
            count: p.count,
            p50: p.p50,
            p90: p.p90,
            p99: p.p99,
            p99_9: p.p99_9,
            p99_99: p.p99_99,
            max: p.max,
        }
    }
}

/// Every hop's percentiles, for JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopSummary {
    /// Tick received by the feed to order handed to the venue.
    pub tick_to_trade: LatencySummary,
    /// Tick received by the feed to order sent by the strategy.
    pub feed_to_strategy: LatencySummary,
    /// Order sent by the strategy to order taken by the gateway.
    pub strategy_to_gateway: LatencySummary,
    /// Order taken by the gateway to order handed to the venue.
    pub gateway_to_venue: LatencySummary,
    /// Orders without a causing tick (no tick-to-trade).
    pub untimed_orders: u64,
}

/// Highest "nines" plotted: 4 is p99.99.
const PLOT_NINES: f64 = 4.0;
/// Points per series.
const PLOT_POINTS: u32 = 400;

/// Writes an SVG plot of latency (µs) against percentile (log scale of `1 / (1 - q)`,
/// the HdrHistogram convention) for each named histogram.
pub fn write_percentile_svg(
    path: &Path,
    title: &str,
    series: &[(&str, &Histogram<u64>)],
) -> anyhow::Result<()> {
    let curves: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(name, h)| {
            let points = (0..=PLOT_POINTS)
                .map(|i| {
                    let nines = PLOT_NINES * f64::from(i) / f64::from(PLOT_POINTS);
                    let q = 1.0 - 10f64.powf(-nines);
                    (nines, h.value_at_quantile(q) as f64 / 1_000.0)
                })
                .collect();
            (*name, points)
        })
        .collect();
    let y_max = curves
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, y)| y))
        .fold(1.0f64, f64::max)
        * 1.05;
    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    let draw = |e| anyhow!("drawing {}: {e:?}", path.display());
    root.fill(&WHITE).map_err(draw)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..PLOT_NINES, 0f64..y_max)
        .map_err(draw)?;
    chart
        .configure_mesh()
        .x_labels(PLOT_NINES as usize + 1)
        .x_label_formatter(&|x| nines_label(*x))
        .x_desc("percentile")
        .y_desc("latency (µs)")
        .draw()
        .map_err(draw)?;
    let palette = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for (i, (name, points)) in curves.into_iter().enumerate() {
        let color = palette.get(i % palette.len()).copied().unwrap_or(BLACK);
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(draw)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(draw)?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))
}

/// The percentile a number of nines stands for: 0 → p0, 1 → p90, 2 → p99, 3 → p99.9.
fn nines_label(nines: f64) -> String {
    let n = nines.round().max(0.0) as usize;
    match n {
        0 => "p0".to_owned(),
        1 => "p90".to_owned(),
        2 => "p99".to_owned(),
        _ => format!("p99.{}", "9".repeat(n - 2)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwarp_wire::{SeqNo, UnixNanos};

    fn cause(recv: u64, send: u64) -> TickCause {
        TickCause {
            feed_seq: SeqNo(1),
            venue_ts: UnixNanos(1),
            recv_ts: Nanos(recv),
            send_ts: Nanos(send),
        }
    }

    #[test]
    fn records_each_hop_from_the_order_stamps() -> anyhow::Result<()> {
        let mut h = HopHistograms::new()?;
        h.record(&cause(1_000, 3_000), Nanos(7_000), Nanos(8_000));
        h.record(&TickCause::NONE, Nanos(10), Nanos(20));
        assert_eq!(h.orders(), 2);
        assert_eq!(h.untimed(), 1);
        let s = h.summary();
        assert_eq!(s.tick_to_trade.count, 1);
        assert_eq!(
            s.tick_to_trade.max,
            h.hop(Hop::TickToTrade).highest_equivalent(7_000)
        );
        assert_eq!(
            s.feed_to_strategy.p50,
            h.hop(Hop::FeedToStrategy).highest_equivalent(2_000)
        );
        assert_eq!(
            s.strategy_to_gateway.p50,
            h.hop(Hop::StrategyToGateway).highest_equivalent(4_000)
        );
        assert_eq!(s.gateway_to_venue.count, 2);
        Ok(())
    }

    #[test]
    fn stamps_out_of_order_count_as_the_smallest_value() -> anyhow::Result<()> {
        let mut h = HopHistograms::new()?;
        h.record(&cause(5_000, 4_000), Nanos(3_000), Nanos(2_000));
        assert_eq!(h.hop(Hop::TickToTrade).max(), 1);
        assert_eq!(h.hop(Hop::GatewayToVenue).max(), 1);
        Ok(())
    }

    #[test]
    fn merges_and_resets() -> anyhow::Result<()> {
        let (mut a, mut b) = (HopHistograms::new()?, HopHistograms::new()?);
        a.record(&cause(1, 2), Nanos(3), Nanos(4));
        b.record(&cause(1, 2), Nanos(3), Nanos(4));
        b.record(&TickCause::NONE, Nanos(3), Nanos(4));
        a.add(&b)?;
        assert_eq!((a.orders(), a.untimed()), (3, 1));
        a.reset();
        assert_eq!((a.orders(), a.untimed()), (0, 0));
        Ok(())
    }

    #[test]
    fn labels_name_the_percentiles() {
        let labels: Vec<String> = (0..=4).map(|n| nines_label(n as f64)).collect();
        assert_eq!(labels, ["p0", "p90", "p99", "p99.9", "p99.99"]);
    }

    #[test]
    fn writes_an_svg_plot() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("plot.svg");
        let mut h = new_histogram()?;
        for v in 1..1_000u64 {
            h.record(v * 100)?;
        }
        let empty = new_histogram()?;
        write_percentile_svg(&path, "test", &[("a", &h), ("empty", &empty)])?;
        let text = std::fs::read_to_string(&path)?;
        assert!(text.starts_with("<svg"), "{}", &text[..text.len().min(80)]);
        assert!(text.contains("<polyline") || text.contains("<path"));
        Ok(())
    }
}

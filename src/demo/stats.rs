//! Counters and latency histograms the agents of a node share with the thread that
//! reports progress, and the per-component results they leave when they close.
//!
//! Counters are relaxed atomics written by one agent each; latency is recorded by the
//! gateway into its own [`HopHistograms`] and merged into the shared ones about ten
//! times a second ([`LatencyShare`]), so the order path never takes a contended lock.
//! Nothing here reads a clock.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Mutex, OnceLock};

use tickwarp_bench::pipeline::HopHistograms;
use tickwarp_strategies::StrategySummary;
use tickwarp_wire::{AccountId, InstrumentId};

/// Live counters of one node's components.
#[derive(Debug, Default)]
pub(crate) struct NodeStats {
    /// Set to stop the venue's house flow (the run is draining).
    pub(crate) quiesce: AtomicBool,
    /// House events generated.
    pub(crate) venue_house: AtomicU64,
    /// ITCH messages the venue produced.
    pub(crate) venue_md: AtomicU64,
    /// Order commands the venue received from the gateway.
    pub(crate) venue_orders: AtomicU64,
    /// Order commands the venue could not decode.
    pub(crate) venue_bad: AtomicU64,
    /// Fills of gateway orders the venue reported.
    pub(crate) venue_fills: AtomicU64,
    /// Market data records the feed published.
    pub(crate) feed_records: AtomicU64,
    /// ITCH messages the feed handled.
    pub(crate) feed_messages: AtomicU64,
    /// Ticks the engines handled.
    pub(crate) engine_ticks: AtomicU64,
    /// New orders the engines sent.
    pub(crate) engine_orders: AtomicU64,
    /// Execution events the engines received.
    pub(crate) engine_execs: AtomicU64,
    /// Order commands the gateway received.
    pub(crate) gw_commands: AtomicU64,
    /// New orders the gateway received.
    pub(crate) gw_new: AtomicU64,
    /// New orders the gateway or the venue rejected.
    pub(crate) gw_risk_rejects: AtomicU64,
    /// Commands journaled and handed to the venue.
    pub(crate) gw_journaled: AtomicU64,
    /// Commands handed to the venue.
    pub(crate) gw_to_venue: AtomicU64,
    /// Execution events the gateway received from the venue.
    pub(crate) gw_execs_in: AtomicU64,
    /// Execution events the gateway sent to engines (its own rejects included).
    pub(crate) gw_execs_out: AtomicU64,
    /// Fills the gateway passed on.
    pub(crate) gw_fills: AtomicU64,
    /// Order acceptances the gateway passed on.
    pub(crate) gw_accepted: AtomicU64,
    /// Cancels (requested or unsolicited) the gateway passed on.
    pub(crate) gw_canceled: AtomicU64,
    /// Cancel or replace rejects the gateway passed on.
    pub(crate) gw_cancel_rejects: AtomicU64,
    /// Replaces the gateway passed on.
    pub(crate) gw_replaced: AtomicU64,
    /// Latency of the orders since the last progress line.
    pub(crate) live: LatencyShare,
    /// Latency of every order of the run.
    pub(crate) total: LatencyShare,
    /// What each engine left when it closed.
    pub(crate) engines: Mutex<Vec<EngineResult>>,
    /// What the gateway left when it closed.
    pub(crate) gateway: Mutex<Option<GatewayResult>>,
    /// Records the gateway's journal held when this process first opened it (from an
    /// earlier run): the summary checks only the records after them.
    pub(crate) journal_before: OnceLock<u64>,
    /// The agents' counters-file handles, while no agent holds them.
    pub(crate) metrics: super::metrics::MetricsSlots,
    /// Pricers for the engines (`demo --options --compute`), until their agents take them.
    pub(crate) pricers: super::options::PricerSlots,
}

/// A histogram set behind a lock, merged into by the gateway now and then.
#[derive(Debug, Default)]
pub(crate) struct LatencyShare {
    inner: Mutex<Option<HopHistograms>>,
}

impl LatencyShare {
    /// Adds `h`'s samples.
    pub(crate) fn add(&self, h: &HopHistograms) {
        if let Ok(mut guard) = self.inner.lock() {
            match guard.as_mut() {
                Some(mine) => {
                    // Both come from `HopHistograms::new`, so the bounds agree.
                    let _ = mine.add(h);
                }
                None => *guard = Some(h.clone()),
            }
        }
    }

    /// The samples so far, leaving the share empty when `reset`.
    pub(crate) fn snapshot(&self, reset: bool) -> Option<HopHistograms> {
        let mut guard = self.inner.lock().ok()?;
        if reset { guard.take() } else { guard.clone() }
    }
}

/// One engine's results.
#[derive(Clone, Debug)]
pub(crate) struct EngineResult {
    /// Engine name.
    pub(crate) name: String,
    /// Per-strategy results.
    pub(crate) strategies: Vec<StrategySummary>,
}

/// The gateway's results.
#[derive(Clone, Debug, Default)]
pub(crate) struct GatewayResult {
    /// Net traded quantity per account and instrument, from the fills the gateway saw.
    pub(crate) positions: Vec<(AccountId, InstrumentId, i128)>,
    /// Quantity filled, all orders.
    pub(crate) filled_qty: u64,
    /// Orders still open at the gateway.
    pub(crate) open_orders: usize,
}

//! Helpers shared by the tests that drive `OrderCore` directly: one instrument (ACME),
//! generous risk limits, the venue simulator, a clock in test nanoseconds.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use tickwarp_gateway::risk::RiskLimits;
use tickwarp_gateway::service::{CoreConfig, OrderCore};
use tickwarp_gateway::venue::{VenueConfig, VenueSim, VenueTime};
use tickwarp_runtime::{Nanos, UnixNanos};
use tickwarp_wire::journal::{FsyncPolicy, JournalConfig};
use tickwarp_wire::{ClientOrderId, InstrumentId};

/// The one instrument.
pub const ACME: InstrumentId = InstrumentId(1);

/// Test time `t` nanoseconds after a fixed start.
pub fn now(t: u64) -> VenueTime {
    VenueTime {
        wall: UnixNanos(1_764_064_800_000_000_000 + t),
        mono: Nanos(1_000_000_000 + t),
    }
}

/// A client order id, panicking on a bad one.
pub fn id(s: &str) -> ClientOrderId {
    ClientOrderId::new(s).unwrap_or_else(|e| panic!("{e}"))
}

/// Opens a core journaling in `journal` with the `fsync` policy and limits no test
/// order reaches.
pub fn open_core(journal: &Path, fsync: FsyncPolicy) -> OrderCore<VenueSim> {
    let limits = r#"
        max_order_qty = 1000
        max_notional = "1000000"
        collar_bps = 0
        credit_limit = "1000000000"
        max_position = 100000000
        max_orders_per_day = 100000
    "#;
    let config = CoreConfig {
        journal_dir: journal.to_path_buf(),
        journal: JournalConfig {
            fsync,
            ..JournalConfig::default()
        },
        max_orders: 100_000,
        limits: RiskLimits::from_toml(limits).unwrap_or_else(|e| panic!("{e}")),
        instruments: vec![ACME],
        references: Vec::new(),
    };
    let venue = VenueSim::new(&VenueConfig {
        instruments: vec![ACME],
        ..VenueConfig::default()
    });
    OrderCore::open(config, venue, now(0))
        .unwrap_or_else(|e| panic!("open {}: {e}", journal.display()))
        .0
}

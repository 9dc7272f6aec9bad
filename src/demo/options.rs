//! `tickwarp demo --options`: the options market maker (`options_mm`) on a small chain
//! over the demo's underlying, priced by the engine's local pricer or, with `--compute`,
//! by a compute server over RDMA.
//!
//! [`add_chain`] adds the chain's instruments to the topology's universe (after the
//! underlying, ids 2, 3, …: for each strike a call, then a put, as the strategy numbers
//! them; the venue's synthetic flow for each starts at its Black–Scholes value at the
//! underlying's start price) and the strategy to the first engine. [`connect`] opens
//! the compute server connection whose client [`PricerSlots`] hands to the engine
//! agent (`tickwarp_strategies::Engine::with_pricer`). Only wiring: the strategy and the
//! pricing are in the library crates.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use tickwarp_compute::{ComputeClient, PricingClient};
use tickwarp_pricing::{OptionType, black_scholes};
use tickwarp_rdma::verbs::Backend;
use tickwarp_strategies::Pricer;
use tickwarp_strategies::builtin::{OptionsMm, OptionsMmConfig};
use tickwarp_wire::{AccountId, InstrumentId, Price};

use crate::config::{InstrumentConfig, StrategyConfig, Topology};

/// Adds the default option chain on instrument 1 and an `options_mm` quoting it to the
/// first engine of the first node.
pub(crate) fn add_chain(topology: &mut Topology) -> Result<()> {
    let underlying = topology
        .instruments
        .first()
        .context("the topology has no underlying")?
        .clone();
    let first = u32::try_from(topology.instruments.len() + 1).context("too many instruments")?;
    let config = OptionsMmConfig {
        underlying: InstrumentId(1),
        first_option: InstrumentId(first),
        ..OptionsMmConfig::default()
    };
    let mm = OptionsMm::new(config.clone()).context("the options market maker")?;
    for &strike in &config.strikes {
        for (kind, letter) in [(OptionType::Call, 'C'), (OptionType::Put, 'P')] {
            let job = mm.job(kind, strike, underlying.start_price);
            let value = black_scholes(&job.contract)
                .with_context(|| format!("pricing the {letter} {strike} start price"))?
                .price;
            let tick = underlying.tick_size.ticks().max(1);
            let ticks = ((value * Price::SCALE as f64) / tick as f64).round() as i64 * tick;
            let strike_units = strike.ticks() / Price::SCALE;
            topology.instruments.push(InstrumentConfig {
                symbol: format!("TW{letter}{strike_units}"),
                start_price: Price::from_ticks(ticks.max(tick)),
                tick_size: underlying.tick_size,
            });
        }
    }
    let fields = toml::Table::try_from(&config).context("the options_mm configuration")?;
    let engine = topology
        .nodes
        .first_mut()
        .and_then(|n| n.engines.first_mut())
        .context("the topology has no strategy engine")?;
    engine.strategies.push(StrategyConfig {
        name: OptionsMm::NAME.to_owned(),
        fields,
    });
    Ok(())
}

/// Connects to the compute server at `addr` as `account` with the token in
/// `token_file`; a remote [`PricingClient`].
pub(crate) fn connect(addr: SocketAddr, account: u32, token_file: &Path) -> Result<PricingClient> {
    let token = crate::compute_cmd::read_token_file(token_file)
        .with_context(|| format!("--compute-token-file {}", token_file.display()))?;
    if token.is_empty() {
        bail!("--compute-token-file {} is empty", token_file.display());
    }
    let client = ComputeClient::connect(Backend::Auto, addr, AccountId(account), &token)
        .with_context(|| format!("connecting to the compute server at {addr}"))?;
    Ok(PricingClient::remote(client))
}

/// Pricers waiting for the engine agent they are meant for (by engine name).
#[derive(Debug, Default)]
pub(crate) struct PricerSlots {
    slots: Mutex<Vec<(String, Box<dyn Pricer>)>>,
}

impl PricerSlots {
    /// Leaves `pricer` for the engine named `engine`.
    pub(crate) fn put(&self, engine: &str, pricer: Box<dyn Pricer>) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.push((engine.to_owned(), pricer));
        }
    }

    /// Takes the pricer left for the engine named `engine`, if any.
    pub(crate) fn take(&self, engine: &str) -> Option<Box<dyn Pricer>> {
        let mut slots = self.slots.lock().ok()?;
        let i = slots.iter().position(|(name, _)| name == engine)?;
        Some(slots.swap_remove(i).1)
    }
}

#[cfg(test)]
mod tests {
    use tickwarp_runtime::{IdleConfig, ThreadingMode};

    use super::*;

    #[test]
    fn the_chain_extends_the_universe_and_the_engine() -> Result<()> {
        let mut t = Topology::demo(ThreadingMode::Shared, IdleConfig::NoOp, 1_000);
        add_chain(&mut t)?;
        let symbols: Vec<&str> = t.instruments.iter().map(|i| i.symbol.as_str()).collect();
        assert_eq!(
            symbols,
            [
                "TWRP", "TWC95", "TWP95", "TWC100", "TWP100", "TWC105", "TWP105"
            ]
        );
        // At the money, 2160/8760 year, 25 %, 3 %: call 5.3083, put 4.5713 (closed form
        // computed independently), on the underlying's 0.01 tick.
        let start = |i: usize| t.instruments[i].start_price.ticks();
        assert_eq!((start(3), start(4)), (53_100, 45_700));
        let engine = &t.nodes[0].engines[0];
        assert_eq!(
            engine.strategies.last().map(|s| s.name.as_str()),
            Some("options_mm")
        );
        t.validate()?;
        Ok(())
    }

    #[test]
    fn a_pricer_goes_to_its_engine_once() {
        let slots = PricerSlots::default();
        slots.put("engine", Box::new(tickwarp_strategies::LocalPricer::new(4)));
        assert!(slots.take("other").is_none());
        assert!(slots.take("engine").is_some());
        assert!(slots.take("engine").is_none());
    }
}

//! [`RiskLimits`]: the pre-trade limits, as read from TOML, and their validation.
//!
//! Money amounts (notional, credit) are written as [`Price`] strings (four decimals, in
//! the quote currency): `max_notional = "1000000"`. A zero `collar_bps` turns the price
//! collar off for limit orders. Limits not given for an account or instrument fall back to
//! the top-level values. Example:
//!
//! ```toml
//! max_order_qty = 10000
//! max_notional = "1000000"
//! collar_bps = 500
//! credit_limit = "5000000"
//! max_position = 50000
//! max_orders_per_day = 100000
//! restricted = [13]
//!
//! [throttle]
//! msgs_per_sec = 1000
//! burst = 100
//!
//! [[accounts]]
//! account = 7
//! credit_limit = "100000"
//!
//! [[instruments]]
//! instrument = 1
//! max_order_qty = 500
//! ```
//!
//! Every numeric key has a range ([`RANGES`], checked on the TOML before it is
//! deserialized, so an error names the key: `risk.max_orders_per_day = 1e13 is out of
//! range 1..=10_000_000`). `max_orders_per_day` sizes the duplicate-ClOrdID set (twice
//! that many entries, presized so the hot path never grows it): at the upper bound of
//! 10,000,000 that is about 20 M entries of 32 bytes, ~640 MB, so choose it with care.
//!
//! This module reads no file (the caller hands the text over), reads no clock and is not
//! on the hot path.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use tickwarp_wire::{AccountId, InstrumentId, Price, Qty};

use crate::ranges::{self, KeyRange, RangeError};

/// Most distinct ClOrdIDs per day that may be configured.
pub const MAX_ORDERS_PER_DAY: usize = 10_000_000;
/// Largest order quantity that may be configured.
pub const MAX_ORDER_QTY: u64 = 1_000_000_000;
/// Largest position limit that may be configured.
pub const MAX_POSITION: u64 = 1_000_000_000_000;
/// Largest throttle rate or burst that may be configured.
pub const MAX_THROTTLE: u32 = 1_000_000_000;

/// The allowed range of every numeric key of the limits (keys relative to `[risk]`).
pub const RANGES: &[KeyRange] = &[
    KeyRange::new("max_order_qty", 1, MAX_ORDER_QTY as i64),
    KeyRange::new("collar_bps", 0, 9_999),
    KeyRange::new("max_position", 0, MAX_POSITION as i64),
    KeyRange::new("max_orders_per_day", 1, MAX_ORDERS_PER_DAY as i64),
    KeyRange::new("throttle.msgs_per_sec", 1, MAX_THROTTLE as i64),
    KeyRange::new("throttle.burst", 1, MAX_THROTTLE as i64),
    KeyRange::new("restricted[]", 0, u32::MAX as i64),
    KeyRange::new("accounts[].account", 0, u32::MAX as i64),
    KeyRange::new("accounts[].max_position", 0, MAX_POSITION as i64),
    KeyRange::new("instruments[].instrument", 0, u32::MAX as i64),
    KeyRange::new("instruments[].max_order_qty", 1, MAX_ORDER_QTY as i64),
    KeyRange::new("instruments[].collar_bps", 0, 9_999),
];

/// The pre-trade limits (SEC 15c3-5 style), for every account and instrument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskLimits {
    /// Largest quantity of one order.
    pub max_order_qty: Qty,
    /// Largest notional (price × quantity) of one order, in currency.
    pub max_notional: Price,
    /// Price collar half-width in basis points of the reference price (0: no collar).
    pub collar_bps: u32,
    /// Credit per account: working orders' notional plus traded notional, in currency.
    pub credit_limit: Price,
    /// Largest absolute position per account and instrument, counting working orders.
    pub max_position: Qty,
    /// Most distinct ClOrdIDs accepted for checking per trading day (all accounts).
    pub max_orders_per_day: usize,
    /// Message rate per session.
    #[serde(default)]
    pub throttle: ThrottleLimits,
    /// Instruments nobody may trade.
    #[serde(default)]
    pub restricted: Vec<InstrumentId>,
    /// Per-account overrides.
    #[serde(default)]
    pub accounts: Vec<AccountLimits>,
    /// Per-instrument overrides.
    #[serde(default)]
    pub instruments: Vec<InstrumentLimits>,
}

/// A session's message rate: a token bucket of `burst` tokens refilled at
/// `msgs_per_sec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleLimits {
    /// Sustained messages per second.
    pub msgs_per_sec: u32,
    /// Messages allowed back to back.
    pub burst: u32,
}

impl Default for ThrottleLimits {
    fn default() -> ThrottleLimits {
        ThrottleLimits {
            msgs_per_sec: 1_000,
            burst: 100,
        }
    }
}

/// Limits of one account that differ from the top-level ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountLimits {
    /// The account.
    pub account: AccountId,
    /// Its credit limit.
    #[serde(default)]
    pub credit_limit: Option<Price>,
    /// Its largest absolute position per instrument.
    #[serde(default)]
    pub max_position: Option<Qty>,
}

/// Limits of one instrument that differ from the top-level ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentLimits {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Its largest order quantity.
    #[serde(default)]
    pub max_order_qty: Option<Qty>,
    /// Its largest order notional.
    #[serde(default)]
    pub max_notional: Option<Price>,
    /// Its collar half-width in basis points.
    #[serde(default)]
    pub collar_bps: Option<u32>,
}

/// Why a set of limits is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum LimitsError {
    /// A money amount below zero.
    #[error("{field} is negative")]
    Negative {
        /// The offending field.
        field: &'static str,
    },
    /// A collar of 100% or more.
    #[error("collar of {bps} bps, at most 9999 allowed")]
    CollarTooWide {
        /// The configured width.
        bps: u32,
    },
    /// A throttle that lets nothing through.
    #[error("throttle needs msgs_per_sec and burst of at least 1")]
    ZeroThrottle,
    /// No order could ever be accepted.
    #[error("max_orders_per_day must be at least 1")]
    ZeroOrdersPerDay,
    /// The same account listed twice.
    #[error("account {0} listed twice")]
    DuplicateAccount(AccountId),
    /// The same instrument listed twice.
    #[error("instrument {0} listed twice")]
    DuplicateInstrument(InstrumentId),
    /// A count outside its range (see [`RANGES`]).
    #[error("{field} = {value} is out of range {min}..={max}")]
    OutOfRange {
        /// The key.
        field: &'static str,
        /// The value.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// The memory these limits need could not be reserved.
    #[error("cannot reserve room for {entries} ClOrdIDs (max_orders_per_day)")]
    NoMemory {
        /// Entries asked for.
        entries: usize,
    },
}

/// Why limits could not be loaded from TOML.
#[derive(Debug, thiserror::Error)]
pub enum LoadLimitsError {
    /// The text is not valid TOML for [`RiskLimits`].
    #[error("risk limits: {0}")]
    Toml(#[from] toml::de::Error),
    /// The limits parse but are unusable.
    #[error("risk limits: {0}")]
    Invalid(#[from] LimitsError),
    /// A numeric key is out of its range.
    #[error("risk limits: {0}")]
    Range(#[from] RangeError),
}

impl RiskLimits {
    /// Parses and validates limits from TOML text.
    pub fn from_toml(text: &str) -> Result<RiskLimits, LoadLimitsError> {
        let table: toml::Table = toml::from_str(text)?;
        ranges::check(&table, "risk.", RANGES)?;
        let limits: RiskLimits = toml::from_str(text)?;
        limits.validate()?;
        Ok(limits)
    }

    /// Checks that the limits are usable.
    pub fn validate(&self) -> Result<(), LimitsError> {
        let non_negative = |p: Price, field| {
            if p < Price::ZERO {
                Err(LimitsError::Negative { field })
            } else {
                Ok(())
            }
        };
        let collar = |bps: u32| {
            if bps >= 10_000 {
                Err(LimitsError::CollarTooWide { bps })
            } else {
                Ok(())
            }
        };
        non_negative(self.max_notional, "max_notional")?;
        non_negative(self.credit_limit, "credit_limit")?;
        collar(self.collar_bps)?;
        if self.throttle.msgs_per_sec == 0 || self.throttle.burst == 0 {
            return Err(LimitsError::ZeroThrottle);
        }
        if self.max_orders_per_day == 0 {
            return Err(LimitsError::ZeroOrdersPerDay);
        }
        let range = |field, value: u64, min: u64, max: u64| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(LimitsError::OutOfRange {
                    field,
                    value,
                    min,
                    max,
                })
            }
        };
        range(
            "max_orders_per_day",
            self.max_orders_per_day as u64,
            1,
            MAX_ORDERS_PER_DAY as u64,
        )?;
        range("max_order_qty", self.max_order_qty.0, 1, MAX_ORDER_QTY)?;
        range("max_position", self.max_position.0, 0, MAX_POSITION)?;
        let t = self.throttle;
        range(
            "throttle.msgs_per_sec",
            t.msgs_per_sec.into(),
            1,
            MAX_THROTTLE.into(),
        )?;
        range("throttle.burst", t.burst.into(), 1, MAX_THROTTLE.into())?;
        let mut accounts = HashSet::new();
        for a in &self.accounts {
            if !accounts.insert(a.account) {
                return Err(LimitsError::DuplicateAccount(a.account));
            }
            if let Some(c) = a.credit_limit {
                non_negative(c, "accounts.credit_limit")?;
            }
            if let Some(p) = a.max_position {
                range("accounts.max_position", p.0, 0, MAX_POSITION)?;
            }
        }
        let mut instruments = HashSet::new();
        for i in &self.instruments {
            if !instruments.insert(i.instrument) {
                return Err(LimitsError::DuplicateInstrument(i.instrument));
            }
            if let Some(n) = i.max_notional {
                non_negative(n, "instruments.max_notional")?;
            }
            if let Some(bps) = i.collar_bps {
                collar(bps)?;
            }
            if let Some(q) = i.max_order_qty {
                range("instruments.max_order_qty", q.0, 1, MAX_ORDER_QTY)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        max_order_qty = 10000
        max_notional = "1000000"
        collar_bps = 500
        credit_limit = "5000000"
        max_position = 50000
        max_orders_per_day = 100000
        restricted = [13]

        [throttle]
        msgs_per_sec = 1000
        burst = 100

        [[accounts]]
        account = 7
        credit_limit = "100000"

        [[instruments]]
        instrument = 1
        max_order_qty = 500
    "#;

    #[test]
    fn example_parses_and_round_trips() -> Result<(), LoadLimitsError> {
        let l = RiskLimits::from_toml(EXAMPLE)?;
        assert_eq!(l.max_notional, Price::from_ticks(1_000_000 * 10_000));
        assert_eq!(l.accounts.first().and_then(|a| a.max_position), None);
        assert_eq!(l.restricted, [InstrumentId(13)]);
        let text = toml::to_string(&l).unwrap_or_default();
        assert_eq!(RiskLimits::from_toml(&text)?, l);
        Ok(())
    }

    #[test]
    fn invalid_limits_are_named() {
        let bad = EXAMPLE.replace("collar_bps = 500", "collar_bps = 10000");
        assert_eq!(
            RiskLimits::from_toml(&bad).map_err(|e| e.to_string()),
            Err("risk limits: risk.collar_bps = 10000 is out of range 0..=9999".to_owned())
        );
        let bad = EXAMPLE.replace("burst = 100", "burst = 0");
        assert!(matches!(
            RiskLimits::from_toml(&bad),
            Err(LoadLimitsError::Range(_))
        ));
        // Limits built in code are checked by `validate` alone.
        let mut collar = RiskLimits::from_toml(EXAMPLE).map_err(|e| e.to_string());
        if let Ok(l) = collar.as_mut() {
            l.collar_bps = 10_000;
        }
        assert_eq!(
            collar.map(|l| l.validate()),
            Ok(Err(LimitsError::CollarTooWide { bps: 10_000 }))
        );
        let bad = EXAMPLE.replace("credit_limit = \"100000\"", "credit_limit = \"-1\"");
        assert!(matches!(
            RiskLimits::from_toml(&bad),
            Err(LoadLimitsError::Invalid(LimitsError::Negative { .. }))
        ));
        let bad = format!("{EXAMPLE}\n[[accounts]]\naccount = 7\n");
        assert!(matches!(
            RiskLimits::from_toml(&bad),
            Err(LoadLimitsError::Invalid(LimitsError::DuplicateAccount(
                AccountId(7)
            )))
        ));
        let bad = EXAMPLE.replace("max_orders_per_day = 100000", "max_orders_per_day = 1e13");
        assert_eq!(
            RiskLimits::from_toml(&bad).map_err(|e| e.to_string()),
            Err(
                "risk limits: risk.max_orders_per_day = 1e13 is out of range 1..=10_000_000"
                    .to_owned()
            )
        );
        for (from, to, key) in [
            (
                "max_orders_per_day = 100000",
                "max_orders_per_day = 0",
                "max_orders_per_day",
            ),
            (
                "max_order_qty = 10000",
                "max_order_qty = -1",
                "max_order_qty",
            ),
            (
                "max_position = 50000",
                "max_position = 1e30",
                "max_position",
            ),
            (
                "msgs_per_sec = 1000",
                "msgs_per_sec = 1.5",
                "throttle.msgs_per_sec",
            ),
            (
                "instrument = 1",
                "instrument = 99999999999",
                "instruments[0].instrument",
            ),
        ] {
            let bad = EXAMPLE.replace(from, to);
            let err = RiskLimits::from_toml(&bad).map_err(|e| e.to_string());
            assert!(
                matches!(&err, Err(m) if m.contains(&format!("risk.{key} = "))),
                "{to}: {err:?}"
            );
        }
        let mut huge = RiskLimits::from_toml(EXAMPLE).map_err(|e| e.to_string());
        if let Ok(l) = huge.as_mut() {
            l.max_orders_per_day = usize::MAX;
        }
        assert!(matches!(
            huge.map(|l| l.validate()),
            Ok(Err(LimitsError::OutOfRange {
                field: "max_orders_per_day",
                ..
            }))
        ));
        let bad = EXAMPLE.replace("max_order_qty = 10000", "max_order_qty = 1\nbogus = 2");
        assert!(matches!(
            RiskLimits::from_toml(&bad),
            Err(LoadLimitsError::Toml(_))
        ));
    }
}

//! Derivatives pricing kernels for tickwarp: Black–Scholes–Merton price, Greeks and implied
//! volatility, Cox–Ross–Rubinstein and Leisen–Reimer trees for American options, Monte
//! Carlo under geometric Brownian motion (European and arithmetic-average Asian, with the
//! geometric-Asian closed form as control variate) and the Heston semi-closed-form
//! European price.
//!
//! It is pure computation: it must not do I/O, read clocks, manage threads of its own
//! (Monte Carlo runs on the rayon pool it is called in: the caller's, or rayon's global
//! one) or keep global mutable state. Every input is
//! validated and a bad one is a typed [`PricingError`] naming the field, never a panic or a
//! NaN result.
//!
//! Units and conventions (QuantLib's, which the cross-check in `tests/quantlib.rs` relies
//! on): rates, dividend yields and volatilities are continuously compounded, per year, as
//! fractions (0.05 = 5 %); expiry is in years. Vega is per 1.00 of volatility, rho per 1.00
//! of rate, theta is the derivative by calendar time per year (divide by 365 for a day).
//!
//! Random numbers come from a counter-based Philox 4x32-10 generator ([`philox`]); a Monte
//! Carlo path draws from a stream keyed by the seed and indexed by the path number, and
//! paths are reduced in fixed chunks in path order, so a result depends only on its inputs
//! and seed, never on the number of threads.
//!
//! Jobs: [`job`] is the compute job protocol (fixed-layout records, byte layout only) and
//! [`exec`] prices a job through these kernels: the one code path the compute server, its
//! clients' local backend and the strategies' local pricer share, so a job gives the
//! bit-identical result wherever it runs. They live here, in the pure crate, so that
//! strategy code can build jobs and price them locally without linking the server.

pub mod black_scholes;
mod error;
pub mod exec;
pub mod heston;
pub mod job;
pub mod mc;
pub mod normal;
pub mod philox;
pub mod tree;

pub use black_scholes::{Greeks, Priced, black_scholes, implied_vol};
pub use error::PricingError;
pub use heston::{HestonParams, heston_price};
pub use job::{Cancel, DecodeError, Field, Job, JobResult, Model, Request, Status};
pub use mc::{McEstimate, asian_arithmetic_mc, european_mc, geometric_asian};
pub use tree::{Exercise, Lattice, TreePriced, binomial, crr, leisen_reimer};

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionType {
    /// The right to buy at the strike.
    Call,
    /// The right to sell at the strike.
    Put,
}

impl OptionType {
    /// The payoff at `spot` of one option struck at `strike`.
    pub fn payoff(self, spot: f64, strike: f64) -> f64 {
        match self {
            OptionType::Call => (spot - strike).max(0.0),
            OptionType::Put => (strike - spot).max(0.0),
        }
    }
}

/// A vanilla option on an asset with a continuous dividend yield, under a flat rate and
/// volatility.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contract {
    /// Call or put.
    pub kind: OptionType,
    /// Spot price of the underlying (> 0).
    pub spot: f64,
    /// Strike (> 0).
    pub strike: f64,
    /// Risk-free rate, continuously compounded, per year.
    pub rate: f64,
    /// Continuous dividend yield, per year.
    pub div: f64,
    /// Volatility, per year (> 0).
    pub vol: f64,
    /// Time to expiry in years (> 0).
    pub expiry: f64,
}

/// Largest magnitude accepted for a rate or a dividend yield (1000 % a year).
const MAX_RATE: f64 = 10.0;
/// Largest volatility accepted (10000 % a year).
const MAX_VOL: f64 = 100.0;
/// Longest expiry accepted, in years.
const MAX_EXPIRY: f64 = 1000.0;

impl Contract {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), PricingError> {
        positive("spot", self.spot, f64::MAX)?;
        positive("strike", self.strike, f64::MAX)?;
        bounded("rate", self.rate, MAX_RATE)?;
        bounded("div", self.div, MAX_RATE)?;
        positive("vol", self.vol, MAX_VOL)?;
        positive("expiry", self.expiry, MAX_EXPIRY)?;
        Ok(())
    }

    /// Discount factor `exp(-rate * expiry)`.
    pub fn df_rate(&self) -> f64 {
        (-self.rate * self.expiry).exp()
    }

    /// Dividend discount factor `exp(-div * expiry)`.
    pub fn df_div(&self) -> f64 {
        (-self.div * self.expiry).exp()
    }
}

/// `value` must be finite, > 0 and <= `max`.
pub(crate) fn positive(field: &'static str, value: f64, max: f64) -> Result<(), PricingError> {
    if !value.is_finite() {
        return Err(PricingError::invalid(
            field,
            value,
            "must be a finite number",
        ));
    }
    if value <= 0.0 {
        return Err(PricingError::invalid(
            field,
            value,
            "must be greater than 0",
        ));
    }
    if value > max {
        return Err(PricingError::invalid(field, value, "is too large"));
    }
    Ok(())
}

/// `value` must be finite and `|value| <= max`.
pub(crate) fn bounded(field: &'static str, value: f64, max: f64) -> Result<(), PricingError> {
    if !value.is_finite() {
        return Err(PricingError::invalid(
            field,
            value,
            "must be a finite number",
        ));
    }
    if value.abs() > max {
        return Err(PricingError::invalid(field, value, "is out of range"));
    }
    Ok(())
}

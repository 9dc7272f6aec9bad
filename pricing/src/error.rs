//! The one error type of the pricing kernels.

use thiserror::Error;

/// Why a price could not be computed.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum PricingError {
    /// An input is out of its domain; `field` is the name of the input (as the CLI flag).
    #[error("invalid {field}: {reason} (got {value})")]
    InvalidInput {
        /// Name of the input.
        field: &'static str,
        /// The value given.
        value: f64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An integer input (steps, paths) is out of range.
    #[error("invalid {field}: must be between {min} and {max} (got {value})")]
    OutOfRange {
        /// Name of the input.
        field: &'static str,
        /// The value given.
        value: u64,
        /// Smallest value accepted.
        min: u64,
        /// Largest value accepted.
        max: u64,
    },
    /// A target price for implied volatility is outside the no-arbitrage bounds, so no
    /// volatility reproduces it.
    #[error(
        "no implied volatility: price {price} is outside the no-arbitrage bounds ({lower}, {upper})"
    )]
    PriceOutsideBounds {
        /// The target price.
        price: f64,
        /// Lower bound (discounted intrinsic value), exclusive.
        lower: f64,
        /// Upper bound, exclusive.
        upper: f64,
    },
    /// The implied volatility would exceed the largest volatility searched.
    #[error("no implied volatility below {max_vol} reproduces price {price}")]
    VolatilityTooHigh {
        /// The target price.
        price: f64,
        /// The largest volatility tried.
        max_vol: f64,
    },
    /// A binomial tree's risk-neutral probability is outside (0, 1): too few steps for this
    /// rate, dividend yield and volatility.
    #[error("tree probability {probability} is outside (0, 1): use more steps")]
    TreeProbability {
        /// The up-move probability the tree would use.
        probability: f64,
    },
    /// A numerical method did not reach its tolerance.
    #[error("{method} did not converge")]
    NoConvergence {
        /// Which method.
        method: &'static str,
    },
}

impl PricingError {
    /// An [`PricingError::InvalidInput`].
    pub(crate) fn invalid(field: &'static str, value: f64, reason: &'static str) -> Self {
        PricingError::InvalidInput {
            field,
            value,
            reason,
        }
    }

    /// The input field this error names, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            PricingError::InvalidInput { field, .. } | PricingError::OutOfRange { field, .. } => {
                Some(field)
            }
            PricingError::PriceOutsideBounds { .. } | PricingError::VolatilityTooHigh { .. } => {
                Some("price")
            }
            PricingError::TreeProbability { .. } => Some("steps"),
            PricingError::NoConvergence { .. } => None,
        }
    }
}

/// `value` must be in `min..=max`.
pub(crate) fn in_range(
    field: &'static str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<(), PricingError> {
    if value < min || value > max {
        return Err(PricingError::OutOfRange {
            field,
            value,
            min,
            max,
        });
    }
    Ok(())
}

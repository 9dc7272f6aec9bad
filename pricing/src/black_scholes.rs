//! Black–Scholes–Merton (continuous dividend yield) European price, Greeks and implied
//! volatility. Formulas as in Hull, "Options, Futures, and Other Derivatives", ch. 17–19,
//! and Haug, "The Complete Guide to Option Pricing Formulas", §1.1.6.

use crate::error::PricingError;
use crate::normal::{cdf, pdf};
use crate::{Contract, OptionType};

/// First- and second-order sensitivities of a price.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Greeks {
    /// dV/dS.
    pub delta: f64,
    /// d²V/dS².
    pub gamma: f64,
    /// dV/dσ, per 1.00 of volatility.
    pub vega: f64,
    /// dV/dt (calendar time), per year.
    pub theta: f64,
    /// dV/dr, per 1.00 of rate.
    pub rho: f64,
}

/// A closed-form price with its Greeks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Priced {
    /// Present value.
    pub price: f64,
    /// Sensitivities.
    pub greeks: Greeks,
}

/// European price and Greeks under Black–Scholes–Merton.
pub fn black_scholes(c: &Contract) -> Result<Priced, PricingError> {
    c.validate()?;
    Ok(unchecked(c))
}

/// [`black_scholes`] without validation (callers validated `c`).
pub(crate) fn unchecked(c: &Contract) -> Priced {
    let sqrt_t = c.expiry.sqrt();
    let sd = c.vol * sqrt_t;
    let d1 = ((c.spot / c.strike).ln() + (c.rate - c.div + 0.5 * c.vol * c.vol) * c.expiry) / sd;
    let d2 = d1 - sd;
    let (dfr, dfq) = (c.df_rate(), c.df_div());
    let s = c.spot * dfq;
    let k = c.strike * dfr;
    let decay = -s * pdf(d1) * c.vol / (2.0 * sqrt_t);
    let gamma = dfq * pdf(d1) / (c.spot * sd);
    let vega = s * pdf(d1) * sqrt_t;
    let (price, delta, theta, rho) = match c.kind {
        OptionType::Call => (
            s * cdf(d1) - k * cdf(d2),
            dfq * cdf(d1),
            decay - c.rate * k * cdf(d2) + c.div * s * cdf(d1),
            k * c.expiry * cdf(d2),
        ),
        OptionType::Put => (
            k * cdf(-d2) - s * cdf(-d1),
            -dfq * cdf(-d1),
            decay + c.rate * k * cdf(-d2) - c.div * s * cdf(-d1),
            -k * c.expiry * cdf(-d2),
        ),
    };
    Priced {
        price,
        greeks: Greeks {
            delta,
            gamma,
            vega,
            theta,
            rho,
        },
    }
}

/// Largest volatility the implied-volatility search tries.
const MAX_IMPLIED_VOL: f64 = 100.0;

/// The volatility at which [`black_scholes`] gives `price` for the contract `c` (its `vol`
/// field is ignored). Brackets the root, then iterates Newton steps kept inside the bracket
/// (bisection when a step would leave it), to 1e-12 in volatility.
pub fn implied_vol(c: &Contract, price: f64) -> Result<f64, PricingError> {
    Contract { vol: 0.2, ..*c }.validate()?;
    if !price.is_finite() {
        return Err(PricingError::invalid(
            "price",
            price,
            "must be a finite number",
        ));
    }
    let (s, k) = (c.spot * c.df_div(), c.strike * c.df_rate());
    let (lower, upper) = match c.kind {
        OptionType::Call => ((s - k).max(0.0), s),
        OptionType::Put => ((k - s).max(0.0), k),
    };
    if price <= lower || price >= upper {
        return Err(PricingError::PriceOutsideBounds {
            price,
            lower,
            upper,
        });
    }
    let at = |vol: f64| unchecked(&Contract { vol, ..*c });
    // Price is increasing in vol: find hi with price(hi) >= target.
    let (mut lo, mut hi) = (0.0_f64, 0.5_f64);
    while at(hi).price < price {
        lo = hi;
        hi *= 2.0;
        if hi > MAX_IMPLIED_VOL {
            return Err(PricingError::VolatilityTooHigh {
                price,
                max_vol: MAX_IMPLIED_VOL,
            });
        }
    }
    let mut vol = 0.5 * (lo + hi);
    for _ in 0..200 {
        let p = at(vol);
        let diff = p.price - price;
        if diff > 0.0 {
            hi = vol;
        } else {
            lo = vol;
        }
        let newton = vol - diff / p.greeks.vega;
        let next = if p.greeks.vega > 0.0 && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - vol).abs() < 1e-12 || hi - lo < 1e-14 {
            return Ok(next);
        }
        vol = next;
    }
    Err(PricingError::NoConvergence {
        method: "implied volatility",
    })
}

//! Heston (1993) stochastic-volatility European price, semi-closed form.
//!
//! The characteristic function of ln S_T is written in the "little Heston trap" form of
//! Albrecher, Mayer, Schoutens and Tistaert (Wilmott, 2007), which stays on the principal
//! branch of the complex logarithm for long expiries:
//!
//! ```text
//! b = κ − ρξiu,  d = √(b² + ξ²(iu + u²)),  g = (b − d)/(b + d)
//! C = (κθ/ξ²)·[(b − d)T − 2 ln((1 − g e^{−dT})/(1 − g))]
//! D = ((b − d)/ξ²)·(1 − e^{−dT})/(1 − g e^{−dT})
//! φ(u) = exp(iu(ln S + (r − q)T) + C + D v₀)
//! ```
//!
//! The call is `e^{−qT}S·P₁ − e^{−rT}K·P₂` with `P₁ = ½ + (1/π)∫₀^∞ Re[e^{−iu ln K}
//! φ(u − i)/(iu φ(−i))]du` and `P₂ = ½ + (1/π)∫₀^∞ Re[e^{−iu ln K} φ(u)/(iu)]du`, combined
//! into one integral and evaluated by 16-point Gauss–Legendre on unit panels until the
//! panels' contributions vanish. The put follows from put–call parity.

use std::f64::consts::PI;
use std::sync::OnceLock;

use num_complex::Complex64;

use crate::error::PricingError;
use crate::{Contract, OptionType, bounded, positive};

/// Heston model parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HestonParams {
    /// Mean-reversion speed κ of the variance (> 0).
    pub kappa: f64,
    /// Long-run variance θ (> 0).
    pub theta: f64,
    /// Volatility of variance ξ (> 0).
    pub xi: f64,
    /// Correlation ρ of the asset and variance Brownian motions, in [−1, 1].
    pub rho: f64,
    /// Initial variance v₀ (≥ 0).
    pub v0: f64,
}

impl HestonParams {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), PricingError> {
        positive("kappa", self.kappa, 1e3)?;
        positive("theta", self.theta, 1e2)?;
        positive("xi", self.xi, 1e2)?;
        bounded("rho", self.rho, 1.0)?;
        bounded("v0", self.v0, 1e2)?;
        if self.v0 < 0.0 {
            return Err(PricingError::invalid("v0", self.v0, "must not be negative"));
        }
        Ok(())
    }
}

/// Gauss–Legendre order per panel.
const ORDER: usize = 16;
/// Width of one integration panel in u.
const PANEL: f64 = 1.0;
/// Integration stops once this many consecutive panels each add less than [`TAIL_TOL`].
const QUIET_PANELS: usize = 4;
/// A panel contribution (relative to the spot) below which it counts as vanished.
const TAIL_TOL: f64 = 1e-16;
/// Panels integrated at most (u up to 20000).
const MAX_PANELS: usize = 20_000;

/// European price of `c` under Heston (the contract's `vol` is unused: the variance
/// process gives the volatility).
pub fn heston_price(c: &Contract, h: &HestonParams) -> Result<f64, PricingError> {
    Contract { vol: 0.2, ..*c }.validate()?;
    h.validate()?;
    let (nodes, weights) = gauss_legendre();
    let ln_k = c.strike.ln();
    let integrand = |u: f64| -> f64 {
        let z = Complex64::new(u, 0.0);
        let i = Complex64::i();
        let num = cf(c, h, z - i) - c.strike * cf(c, h, z);
        ((-i * u * ln_k).exp() * num / (i * u)).re
    };
    let mut total = 0.0;
    let mut quiet = 0;
    let mut converged = false;
    for panel in 0..MAX_PANELS {
        let a = panel as f64 * PANEL;
        let half = 0.5 * PANEL;
        let mid = a + half;
        let part: f64 = nodes
            .iter()
            .zip(weights)
            .map(|(x, w)| w * integrand(mid + half * x))
            .sum::<f64>()
            * half;
        if !part.is_finite() {
            return Err(PricingError::NoConvergence {
                method: "Heston integral",
            });
        }
        total += part;
        if part.abs() * c.df_rate() < TAIL_TOL * c.spot {
            quiet += 1;
            if quiet == QUIET_PANELS {
                converged = true;
                break;
            }
        } else {
            quiet = 0;
        }
    }
    if !converged {
        return Err(PricingError::NoConvergence {
            method: "Heston integral",
        });
    }
    let (s, k) = (c.spot * c.df_div(), c.strike * c.df_rate());
    let call = 0.5 * (s - k) + c.df_rate() * total / PI;
    let price = match c.kind {
        OptionType::Call => call,
        OptionType::Put => call - s + k,
    };
    if !price.is_finite() {
        return Err(PricingError::NoConvergence {
            method: "Heston integral",
        });
    }
    Ok(price)
}

/// Characteristic function of ln S_T at complex `u` (the "little trap" form).
fn cf(c: &Contract, h: &HestonParams, u: Complex64) -> Complex64 {
    let i = Complex64::i();
    let xi2 = h.xi * h.xi;
    let b = h.kappa - h.rho * h.xi * i * u;
    let d = (b * b + xi2 * (i * u + u * u)).sqrt();
    let g = (b - d) / (b + d);
    let e = (-d * c.expiry).exp();
    let big_c =
        h.kappa * h.theta / xi2 * ((b - d) * c.expiry - 2.0 * ((1.0 - g * e) / (1.0 - g)).ln());
    let big_d = (b - d) / xi2 * (1.0 - e) / (1.0 - g * e);
    let drift = c.spot.ln() + (c.rate - c.div) * c.expiry;
    (i * u * drift + big_c + big_d * h.v0).exp()
}

/// Nodes and weights of the [`ORDER`]-point Gauss–Legendre rule on [−1, 1], computed once
/// by Newton's method on the Legendre polynomial (Golub–Welsch accuracy, ~1e-15).
fn gauss_legendre() -> &'static ([f64; ORDER], [f64; ORDER]) {
    static RULE: OnceLock<([f64; ORDER], [f64; ORDER])> = OnceLock::new();
    RULE.get_or_init(|| {
        let n = ORDER;
        let mut x = [0.0; ORDER];
        let mut w = [0.0; ORDER];
        for k in 0..n {
            let mut z = (PI * (k as f64 + 0.75) / (n as f64 + 0.5)).cos();
            let mut dp = 1.0;
            for _ in 0..100 {
                let (mut p0, mut p1) = (1.0, z);
                for j in 2..=n {
                    let p2 = ((2 * j - 1) as f64 * z * p1 - (j - 1) as f64 * p0) / j as f64;
                    p0 = p1;
                    p1 = p2;
                }
                dp = n as f64 * (z * p1 - p0) / (z * z - 1.0);
                let step = p1 / dp;
                z -= step;
                if step.abs() < 1e-16 {
                    break;
                }
            }
            x[k] = z;
            w[k] = 2.0 / ((1.0 - z * z) * dp * dp);
        }
        (x, w)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule integrates polynomials of degree 2·ORDER−1 exactly and its weights sum to 2.
    #[test]
    fn gauss_legendre_is_exact_for_polynomials() {
        let (x, w) = gauss_legendre();
        assert!((w.iter().sum::<f64>() - 2.0).abs() < 1e-14);
        let int: f64 = x.iter().zip(w).map(|(x, w)| w * x.powi(30)).sum();
        assert!((int - 2.0 / 31.0).abs() < 1e-14, "{int}");
    }
}

//! Cox–Ross–Rubinstein binomial trees (Cox, Ross, Rubinstein 1979; Hull ch. 21) for American
//! and European vanilla options, with delta, gamma and theta read off the tree.
//!
//! Up factor `u = exp(σ√Δt)`, down `d = 1/u`, risk-neutral up probability
//! `p = (exp((r−q)Δt) − d) / (u − d)` (Hull eq. 21.10–21.13). QuantLib's
//! `BinomialVanillaEngine<CoxRossRubinstein>` uses the first-order probability
//! `½ + ½(r−q−σ²/2)Δt/(σ√Δt)` instead; both converge to the same price at rate O(Δt).

use crate::Contract;
use crate::error::{PricingError, in_range};

/// Largest number of tree steps accepted (memory is O(steps)).
pub const MAX_STEPS: u64 = 100_000;

/// When the option may be exercised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exercise {
    /// Only at expiry.
    European,
    /// At any time up to expiry (at every tree node).
    American,
}

/// A tree price with the Greeks a tree gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TreePriced {
    /// Present value.
    pub price: f64,
    /// dV/dS from the two nodes after one step.
    pub delta: f64,
    /// d²V/dS² from the three nodes after two steps.
    pub gamma: f64,
    /// dV/dt per year, from the middle node after two steps.
    pub theta: f64,
}

/// Prices `c` on a CRR tree with `steps` steps.
pub fn crr(c: &Contract, exercise: Exercise, steps: u64) -> Result<TreePriced, PricingError> {
    c.validate()?;
    in_range("steps", steps, 2, MAX_STEPS)?;
    let n = steps as usize;
    let dt = c.expiry / steps as f64;
    let u = (c.vol * dt.sqrt()).exp();
    let d = 1.0 / u;
    let p = (((c.rate - c.div) * dt).exp() - d) / (u - d);
    if !(p > 0.0 && p < 1.0) {
        return Err(PricingError::TreeProbability { probability: p });
    }
    let disc = (-c.rate * dt).exp();
    let (pu, pd) = (disc * p, disc * (1.0 - p));
    // Node (i, j): after i steps, j up moves: S u^j d^(i-j) = S u^(2j-i).
    let node_spot = |i: usize, j: usize| c.spot * u.powi(2 * j as i32 - i as i32);
    let mut values: Vec<f64> = (0..=n)
        .map(|j| c.kind.payoff(node_spot(n, j), c.strike))
        .collect();
    let mut level2 = [0.0; 3];
    let mut level1 = [0.0; 2];
    for i in (0..n).rev() {
        for j in 0..=i {
            let cont = pu * values[j + 1] + pd * values[j];
            values[j] = match exercise {
                Exercise::European => cont,
                Exercise::American => cont.max(c.kind.payoff(node_spot(i, j), c.strike)),
            };
        }
        if i == 2 {
            level2.copy_from_slice(&values[..3]);
        }
        if i == 1 {
            level1.copy_from_slice(&values[..2]);
        }
    }
    let price = values[0];
    let (s_u, s_d) = (c.spot * u, c.spot * d);
    let delta = (level1[1] - level1[0]) / (s_u - s_d);
    let (s_uu, s_dd) = (c.spot * u * u, c.spot * d * d);
    let delta_up = (level2[2] - level2[1]) / (s_uu - c.spot);
    let delta_down = (level2[1] - level2[0]) / (c.spot - s_dd);
    let gamma = (delta_up - delta_down) / (0.5 * (s_uu - s_dd));
    let theta = (level2[1] - price) / (2.0 * dt);
    Ok(TreePriced {
        price,
        delta,
        gamma,
        theta,
    })
}

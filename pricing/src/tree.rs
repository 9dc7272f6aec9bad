//! Binomial trees for American and European vanilla options, with delta, gamma and theta
//! read off the tree: Cox–Ross–Rubinstein (Cox, Ross, Rubinstein 1979; Hull ch. 21) and
//! Leisen–Reimer (Leisen & Reimer 1996, Peizer–Pratt method 2 inversion), which converges
//! at O(1/n²) for European options and is laid out exactly as QuantLib's `LeisenReimer`.
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
    /// The number of steps the tree used.
    pub steps: u64,
}

/// How the tree's up and down moves and probability are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lattice {
    /// Cox–Ross–Rubinstein: `u = e^{σ√Δt}`, `d = 1/u`, Hull's exact up probability.
    CoxRossRubinstein,
    /// Leisen–Reimer with Peizer–Pratt method 2; an even step count becomes the next odd
    /// one (as in QuantLib), since the method needs an odd count.
    LeisenReimer,
}

/// Prices `c` on a CRR tree with `steps` steps.
pub fn crr(c: &Contract, exercise: Exercise, steps: u64) -> Result<TreePriced, PricingError> {
    binomial(c, Lattice::CoxRossRubinstein, exercise, steps)
}

/// Prices `c` on a Leisen–Reimer tree with `steps` steps (rounded up to odd).
pub fn leisen_reimer(
    c: &Contract,
    exercise: Exercise,
    steps: u64,
) -> Result<TreePriced, PricingError> {
    binomial(c, Lattice::LeisenReimer, exercise, steps)
}

/// Peizer–Pratt method 2 inversion: the binomial probability that approximates N(z) with
/// `n` (odd) steps (Leisen & Reimer 1996, eq. 7; QuantLib `PeizerPrattMethod2Inversion`).
fn peizer_pratt_2(z: f64, n: f64) -> f64 {
    let a = z / (n + 1.0 / 3.0 + 0.1 / (n + 1.0));
    let e = (-a * a * (n + 1.0 / 6.0)).exp();
    0.5 + z.signum() * (0.25 * (1.0 - e)).sqrt()
}

/// Prices `c` on a binomial tree of the given lattice.
pub fn binomial(
    c: &Contract,
    lattice: Lattice,
    exercise: Exercise,
    steps: u64,
) -> Result<TreePriced, PricingError> {
    c.validate()?;
    in_range("steps", steps, 2, MAX_STEPS)?;
    let steps = match lattice {
        Lattice::CoxRossRubinstein => steps,
        Lattice::LeisenReimer => steps | 1,
    };
    let n = steps as usize;
    let dt = c.expiry / steps as f64;
    let growth = ((c.rate - c.div) * dt).exp();
    let (u, d, p) = match lattice {
        Lattice::CoxRossRubinstein => {
            let u = (c.vol * dt.sqrt()).exp();
            let d = 1.0 / u;
            (u, d, (growth - d) / (u - d))
        }
        Lattice::LeisenReimer => {
            let sd = c.vol * c.expiry.sqrt();
            let d2 =
                ((c.spot / c.strike).ln() + (c.rate - c.div - 0.5 * c.vol * c.vol) * c.expiry) / sd;
            let p = peizer_pratt_2(d2, steps as f64);
            let p_dash = peizer_pratt_2(d2 + sd, steps as f64);
            let u = growth * p_dash / p;
            (u, (growth - p * u) / (1.0 - p), p)
        }
    };
    if !(p > 0.0 && p < 1.0) {
        return Err(PricingError::TreeProbability { probability: p });
    }
    let disc = (-c.rate * dt).exp();
    let (pu, pd) = (disc * p, disc * (1.0 - p));
    // Node (i, j): after i steps, j up moves: S u^j d^(i-j).
    let node_spot = |i: usize, j: usize| c.spot * u.powi(j as i32) * d.powi((i - j) as i32);
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
    let delta = (level1[1] - level1[0]) / (node_spot(1, 1) - node_spot(1, 0));
    let (s_dd, s_ud, s_uu) = (node_spot(2, 0), node_spot(2, 1), node_spot(2, 2));
    let delta_up = (level2[2] - level2[1]) / (s_uu - s_ud);
    let delta_down = (level2[1] - level2[0]) / (s_ud - s_dd);
    let gamma = (delta_up - delta_down) / (0.5 * (s_uu - s_dd));
    let theta = (level2[1] - price) / (2.0 * dt);
    Ok(TreePriced {
        price,
        delta,
        gamma,
        theta,
        steps,
    })
}

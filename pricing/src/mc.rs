//! Monte Carlo under geometric Brownian motion: European options (exact terminal draw) and
//! arithmetic-average Asian options (discrete monitoring at `T·i/steps`, i = 1..=steps)
//! with the discrete geometric-average Asian closed form as control variate.
//!
//! Determinism: path `p` draws from the Philox stream (seed, p); paths are grouped in fixed
//! chunks of [`CHUNK`] consecutive indices, each chunk sums in path order, and the chunk sums
//! are added in chunk order. rayon may run the chunks on any number of threads; the result
//! is bit-identical for every thread count.

use rayon::prelude::*;

use crate::error::{PricingError, in_range};
use crate::normal::cdf;
use crate::philox::PathStream;
use crate::{Contract, OptionType};

/// Paths per chunk (the unit of parallel work and of the fixed reduction order).
pub const CHUNK: u64 = 4096;
/// Largest number of paths accepted.
pub const MAX_PATHS: u64 = 1 << 40;
/// Largest number of monitoring dates accepted for an Asian option.
pub const MAX_STEPS: u64 = 100_000;
/// Largest paths × steps accepted for one job.
pub const MAX_PATH_STEPS: u64 = 1 << 40;

/// A Monte Carlo price with its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct McEstimate {
    /// Estimated present value.
    pub price: f64,
    /// Standard error of the estimate.
    pub std_error: f64,
    /// Number of paths used.
    pub paths: u64,
}

/// Sums over a chunk of paths of the payoff X and the control Y.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    x: f64,
    xx: f64,
    y: f64,
    yy: f64,
    xy: f64,
}

impl Sums {
    fn add(&mut self, x: f64, y: f64) {
        self.x += x;
        self.xx += x * x;
        self.y += y;
        self.yy += y * y;
        self.xy += x * y;
    }

    fn merge(mut self, o: Sums) -> Sums {
        self.x += o.x;
        self.xx += o.xx;
        self.y += o.y;
        self.yy += o.yy;
        self.xy += o.xy;
        self
    }
}

/// Runs `path(stream) -> (x, y)` for every path in fixed chunks and reduces in order.
fn simulate<F>(paths: u64, seed: u64, path: F) -> Sums
where
    F: Fn(&mut PathStream) -> (f64, f64) + Sync,
{
    let chunks = paths.div_ceil(CHUNK);
    let partial: Vec<Sums> = (0..chunks)
        .into_par_iter()
        .map(|chunk| {
            let mut sums = Sums::default();
            let end = ((chunk + 1) * CHUNK).min(paths);
            for p in chunk * CHUNK..end {
                let (x, y) = path(&mut PathStream::new(seed, p));
                sums.add(x, y);
            }
            sums
        })
        .collect();
    partial.into_iter().fold(Sums::default(), Sums::merge)
}

/// European price by Monte Carlo: one exact draw of S_T per path.
pub fn european_mc(c: &Contract, paths: u64, seed: u64) -> Result<McEstimate, PricingError> {
    c.validate()?;
    in_range("paths", paths, 2, MAX_PATHS)?;
    let drift = (c.rate - c.div - 0.5 * c.vol * c.vol) * c.expiry;
    let sd = c.vol * c.expiry.sqrt();
    let df = c.df_rate();
    let sums = simulate(paths, seed, |s| {
        let st = c.spot * (drift + sd * s.normal()).exp();
        (df * c.kind.payoff(st, c.strike), 0.0)
    });
    let n = paths as f64;
    let mean = sums.x / n;
    let var = ((sums.xx - n * mean * mean) / (n - 1.0)).max(0.0);
    Ok(McEstimate {
        price: mean,
        std_error: (var / n).sqrt(),
        paths,
    })
}

/// Discrete geometric-average Asian price (closed form; Kemna & Vorst 1990, discrete
/// monitoring at `T·i/steps`, i = 1..=steps): ln G is normal with mean
/// `ln S + (r − q − σ²/2)·T(n+1)/(2n)` and variance `σ²T(n+1)(2n+1)/(6n²)`.
pub fn geometric_asian(c: &Contract, steps: u64) -> Result<f64, PricingError> {
    c.validate()?;
    in_range("steps", steps, 1, MAX_STEPS)?;
    Ok(geometric_asian_unchecked(c, steps))
}

fn geometric_asian_unchecked(c: &Contract, steps: u64) -> f64 {
    let n = steps as f64;
    let mu =
        c.spot.ln() + (c.rate - c.div - 0.5 * c.vol * c.vol) * c.expiry * (n + 1.0) / (2.0 * n);
    let var = c.vol * c.vol * c.expiry * (n + 1.0) * (2.0 * n + 1.0) / (6.0 * n * n);
    let sd = var.sqrt();
    let d1 = (mu - c.strike.ln() + var) / sd;
    let d2 = d1 - sd;
    let forward = (mu + 0.5 * var).exp();
    let df = c.df_rate();
    match c.kind {
        OptionType::Call => df * (forward * cdf(d1) - c.strike * cdf(d2)),
        OptionType::Put => df * (c.strike * cdf(-d2) - forward * cdf(-d1)),
    }
}

/// Arithmetic-average Asian price by Monte Carlo with the geometric-average option as
/// control variate (coefficient estimated from the same paths).
pub fn asian_arithmetic_mc(
    c: &Contract,
    steps: u64,
    paths: u64,
    seed: u64,
) -> Result<McEstimate, PricingError> {
    c.validate()?;
    in_range("steps", steps, 1, MAX_STEPS)?;
    in_range("paths", paths, 3, MAX_PATHS)?;
    in_range("paths", paths.saturating_mul(steps), 3, MAX_PATH_STEPS)?;
    let dt = c.expiry / steps as f64;
    let drift = (c.rate - c.div - 0.5 * c.vol * c.vol) * dt;
    let sd = c.vol * dt.sqrt();
    let df = c.df_rate();
    let ln_s0 = c.spot.ln();
    let n = steps as f64;
    let sums = simulate(paths, seed, |s| {
        let (mut ln_s, mut sum, mut sum_ln) = (ln_s0, 0.0, 0.0);
        for _ in 0..steps {
            ln_s += drift + sd * s.normal();
            sum += ln_s.exp();
            sum_ln += ln_s;
        }
        let arith = c.kind.payoff(sum / n, c.strike);
        let geo = c.kind.payoff((sum_ln / n).exp(), c.strike);
        (df * arith, df * geo)
    });
    let m = paths as f64;
    let (mx, my) = (sums.x / m, sums.y / m);
    let sxx = sums.xx - m * mx * mx;
    let syy = sums.yy - m * my * my;
    let sxy = sums.xy - m * mx * my;
    let beta = if syy > 0.0 { sxy / syy } else { 0.0 };
    let price = mx - beta * (my - geometric_asian_unchecked(c, steps));
    let resid = ((sxx - beta * sxy) / (m - 2.0)).max(0.0);
    Ok(McEstimate {
        price,
        std_error: (resid / m).sqrt(),
        paths,
    })
}

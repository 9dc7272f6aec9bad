//! A job through the `tickwarp-pricing` kernels: the one code path the compute server and
//! local pricing (`tickwarp compute price --local`, the local `PricingClient` backend)
//! share, so a job gives the bit-identical result wherever it runs (the kernels'
//! results never depend on the thread count).
//!
//! Pure computation: no I/O, no clock. Monte Carlo runs on the rayon pool it is called in.

use crate::{Exercise, PricingError, asian_arithmetic_mc, binomial, black_scholes, heston_price};

use crate::job::{Field, Job, JobResult, Model, Status};

/// Prices `job`; a bad parameter is the kernels' typed error naming it.
pub fn price(job: &Job) -> Result<JobResult, PricingError> {
    let c = &job.contract;
    let done = JobResult::empty(job.id, Status::Done);
    Ok(match job.model {
        Model::BlackScholes => {
            let r = black_scholes(c)?;
            JobResult {
                price: r.price,
                delta: Some(r.greeks.delta),
                gamma: Some(r.greeks.gamma),
                vega: Some(r.greeks.vega),
                theta: Some(r.greeks.theta),
                rho: Some(r.greeks.rho),
                ..done
            }
        }
        Model::American => {
            let r = binomial(c, job.tree, Exercise::American, job.steps)?;
            JobResult {
                price: r.price,
                delta: Some(r.delta),
                gamma: Some(r.gamma),
                theta: Some(r.theta),
                steps: Some(r.steps),
                ..done
            }
        }
        Model::AsianMc => {
            let r = asian_arithmetic_mc(c, job.steps, job.paths, job.seed)?;
            JobResult {
                price: r.price,
                stderr: Some(r.std_error),
                steps: Some(job.steps),
                ..done
            }
        }
        Model::Heston => JobResult {
            price: heston_price(c, &job.heston)?,
            ..done
        },
    })
}

/// Prices `job` and maps every failure to a status: a bad parameter is
/// [`Status::Invalid`] with its field and value, a numerical failure or a non-finite
/// value [`Status::Failed`].
pub fn execute(job: &Job) -> JobResult {
    match price(job) {
        Ok(r) if is_finite(&r) => r,
        Ok(_) => JobResult::empty(job.id, Status::Failed),
        Err(e) => from_error(job.id, &e),
    }
}

/// Whether every value of a result is finite.
pub fn is_finite(r: &JobResult) -> bool {
    [r.stderr, r.delta, r.gamma, r.vega, r.theta, r.rho]
        .iter()
        .flatten()
        .chain(std::iter::once(&r.price))
        .all(|x| x.is_finite())
}

/// The result a pricing error gives.
pub fn from_error(id: u64, e: &PricingError) -> JobResult {
    match *e {
        PricingError::InvalidInput { field, value, .. } => match Field::from_name(field) {
            Some(f) => JobResult::invalid(id, f, value),
            None => JobResult::empty(id, Status::Failed),
        },
        PricingError::OutOfRange { field, value, .. } => match Field::from_name(field) {
            Some(f) => JobResult::invalid(id, f, value as f64),
            None => JobResult::empty(id, Status::Failed),
        },
        // Too few steps for the tree's parameters: the steps are the field to change.
        PricingError::TreeProbability { .. } => JobResult::invalid(id, Field::Steps, 0.0),
        PricingError::PriceOutsideBounds { .. }
        | PricingError::VolatilityTooHigh { .. }
        | PricingError::NoConvergence { .. } => JobResult::empty(id, Status::Failed),
    }
}

/// The work of a job in abstract units (about one option price or one path-step each),
/// for fair scheduling and the server's per-job cap. Saturates; never zero.
pub fn cost(job: &Job) -> u64 {
    match job.model {
        Model::BlackScholes => 1,
        // A tree of n steps has about n²/2 nodes.
        Model::American => job.steps.saturating_mul(job.steps) / 2,
        Model::AsianMc => job.paths.saturating_mul(job.steps),
        // The semi-closed form integrates numerically: a few thousand complex evaluations.
        Model::Heston => 2_000,
    }
    .max(1)
}

/// The field to name when a job's [`cost`] exceeds a cap.
pub fn cost_field(job: &Job) -> Field {
    match job.model {
        Model::AsianMc => Field::Paths,
        _ => Field::Steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Contract, HestonParams, Lattice, OptionType};

    fn job(model: Model) -> Job {
        Job {
            id: 5,
            model,
            contract: Contract {
                kind: OptionType::Call,
                spot: 100.0,
                strike: 100.0,
                rate: 0.05,
                div: 0.0,
                vol: 0.2,
                expiry: 1.0,
            },
            tree: Lattice::CoxRossRubinstein,
            steps: 50,
            paths: 2_000,
            seed: 1,
            heston: HestonParams {
                kappa: 2.0,
                theta: 0.04,
                xi: 0.3,
                rho: -0.7,
                v0: 0.04,
            },
            deadline_ns: 0,
        }
    }

    #[test]
    fn every_model_prices() {
        for m in [
            Model::BlackScholes,
            Model::American,
            Model::AsianMc,
            Model::Heston,
        ] {
            let r = execute(&job(m));
            assert_eq!(r.status, Status::Done, "{m:?}");
            assert_eq!(r.id, 5);
            assert!(r.price > 5.0 && r.price < 15.0, "{m:?}: {}", r.price);
        }
        let bs = execute(&job(Model::BlackScholes));
        assert!((bs.price - 10.450_583_572_185_565).abs() < 1e-9);
        assert!(bs.vega.is_some() && bs.stderr.is_none());
        assert!(execute(&job(Model::AsianMc)).stderr.is_some());
    }

    #[test]
    fn bad_parameters_name_their_field() {
        let mut j = job(Model::BlackScholes);
        j.contract.spot = -1.0;
        let r = execute(&j);
        assert_eq!(
            (r.status, r.field, r.value),
            (Status::Invalid, Some(Field::Spot), -1.0)
        );
        let mut j = job(Model::AsianMc);
        j.paths = 1;
        assert_eq!(execute(&j).field, Some(Field::Paths));
        let mut j = job(Model::Heston);
        j.heston.rho = 2.0;
        assert_eq!(execute(&j).field, Some(Field::Rho));
        let mut j = job(Model::American);
        j.contract.vol = f64::NAN;
        assert_eq!(execute(&j).field, Some(Field::Vol));
    }

    #[test]
    fn cost_grows_with_work_and_saturates() {
        assert_eq!(cost(&job(Model::BlackScholes)), 1);
        assert_eq!(cost(&job(Model::AsianMc)), 100_000);
        let mut j = job(Model::AsianMc);
        j.paths = u64::MAX;
        assert_eq!(cost(&j), u64::MAX);
        assert_eq!(cost_field(&j), Field::Paths);
    }
}

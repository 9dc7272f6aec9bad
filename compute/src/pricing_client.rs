//! [`PricingClient`]: one submit/poll API over two backends, so strategy code runs the
//! same against a compute server and in replay or tests: [`PricingClient::remote`]
//! (a [`ComputeClient`] connection) or [`PricingClient::local`] (the strategies'
//! [`LocalPricer`]: the same [`tickwarp_pricing::exec::execute`] the server runs, on the
//! caller's thread).
//!
//! Neither call blocks on the network: a remote submit without credit is
//! [`ClientError::WouldBlock`], a poll with nothing arrived is `None`. The local backend
//! computes at submit, deterministically (replay needs the same answers in the same
//! order), so a large local job takes the caller's time; it holds at most `capacity`
//! unpolled results (beyond: `WouldBlock`, as a remote client out of credit) in a
//! buffer allocated once.
//!
//! [`PricingClient`] is a [`Pricer`]: `tickwarp demo --options --compute ADDR` hands a
//! remote one to the strategy engine ([`tickwarp_strategies::Engine::with_pricer`]),
//! whose duty cycle polls it; that is how strategies reach a compute server without the
//! strategies crate linking this one.

use tickwarp_strategies::pricer::{LocalPricer, Pricer, PricerError};

use crate::client::{ClientError, ComputeClient};
use crate::job::{Job, JobResult};

/// Submits pricing jobs and polls their results without blocking (module docs).
#[derive(Debug)]
pub enum PricingClient {
    /// Jobs go to a compute server (boxed once: the connection is large).
    Remote(Box<ComputeClient>),
    /// Jobs are priced on this thread at submit.
    Local(LocalPricer),
}

impl PricingClient {
    /// A client of the compute server `client` is connected to.
    pub fn remote(client: ComputeClient) -> PricingClient {
        PricingClient::Remote(Box::new(client))
    }

    /// A local backend holding at most `capacity` unpolled results (at least 1).
    pub fn local(capacity: usize) -> PricingClient {
        PricingClient::Local(LocalPricer::new(capacity))
    }

    /// Submits `job`; [`ClientError::WouldBlock`] when it cannot be taken now (poll,
    /// then retry).
    pub fn try_submit(&mut self, job: &Job) -> Result<(), ClientError> {
        match self {
            PricingClient::Remote(c) => c.try_submit(job),
            PricingClient::Local(l) => l.try_submit(job).map_err(|_| ClientError::WouldBlock),
        }
    }

    /// Asks to cancel job `id`. A job that already started completes as usual; the local
    /// backend computes at submit, so there it never finds one to cancel.
    pub fn try_cancel(&mut self, id: u64) -> Result<(), ClientError> {
        match self {
            PricingClient::Remote(c) => c.try_cancel(id),
            PricingClient::Local(_) => Ok(()),
        }
    }

    /// The next result, if one is ready.
    pub fn try_poll(&mut self) -> Result<Option<JobResult>, ClientError> {
        match self {
            PricingClient::Remote(c) => c.try_poll(),
            PricingClient::Local(l) => Ok(l.try_poll().unwrap_or(None)),
        }
    }
}

/// A client error as the strategies see it: no credit is [`PricerError::WouldBlock`],
/// anything else a failed backend with its reason.
fn pricer_error(e: ClientError) -> PricerError {
    match e {
        ClientError::WouldBlock => PricerError::WouldBlock,
        other => PricerError::Failed(other.to_string()),
    }
}

impl Pricer for PricingClient {
    fn try_submit(&mut self, job: &Job) -> Result<(), PricerError> {
        PricingClient::try_submit(self, job).map_err(pricer_error)
    }

    fn try_cancel(&mut self, id: u64) -> Result<(), PricerError> {
        PricingClient::try_cancel(self, id).map_err(pricer_error)
    }

    fn try_poll(&mut self) -> Result<Option<JobResult>, PricerError> {
        PricingClient::try_poll(self).map_err(pricer_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Model, Status};
    use tickwarp_pricing::exec::execute;
    use tickwarp_pricing::{Contract, HestonParams, Lattice, OptionType};

    fn job(id: u64) -> Job {
        Job {
            id,
            model: Model::BlackScholes,
            contract: Contract {
                kind: OptionType::Call,
                spot: 100.0 + id as f64,
                strike: 100.0,
                rate: 0.01,
                div: 0.0,
                vol: 0.2,
                expiry: 1.0,
            },
            tree: Lattice::CoxRossRubinstein,
            steps: 0,
            paths: 0,
            seed: 0,
            heston: HestonParams {
                kappa: 0.0,
                theta: 0.0,
                xi: 0.0,
                rho: 0.0,
                v0: 0.0,
            },
            deadline_ns: 0,
        }
    }

    #[test]
    fn local_backend_answers_in_order_and_pushes_back_when_full() {
        let mut c = PricingClient::local(2);
        assert!(c.try_poll().expect("local").is_none());
        c.try_submit(&job(1)).expect("room");
        c.try_submit(&job(2)).expect("room");
        assert!(matches!(
            c.try_submit(&job(3)),
            Err(ClientError::WouldBlock)
        ));
        let r = c.try_poll().expect("local").expect("a result");
        assert_eq!((r.id, r.status), (1, Status::Done));
        assert_eq!(r.to_bytes(), execute(&job(1)).to_bytes());
        c.try_submit(&job(3)).expect("room again");
        c.try_cancel(3).expect("no-op");
        let ids: Vec<u64> = std::iter::from_fn(|| c.try_poll().expect("local"))
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, [2, 3]);
    }

    #[test]
    fn as_a_pricer_no_credit_is_would_block() {
        let mut c = PricingClient::local(1);
        let p: &mut dyn Pricer = &mut c;
        assert_eq!(p.try_submit(&job(1)), Ok(()));
        assert_eq!(p.try_submit(&job(2)), Err(PricerError::WouldBlock));
        assert!(matches!(p.try_poll(), Ok(Some(r)) if r.id == 1));
        assert_eq!(
            pricer_error(ClientError::Rejected("authentication failed".into())),
            PricerError::Failed("rejected by the server: authentication failed".into())
        );
    }
}

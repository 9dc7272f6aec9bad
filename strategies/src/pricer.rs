//! [`Pricer`]: how strategy code prices options without blocking. A strategy submits a
//! pricing job ([`tickwarp_pricing::Job`]) through [`Ctx::price`](crate::Ctx::price); the
//! engine's duty cycle polls the pricer ([`Engine::handle_pricing`](crate::Engine::handle_pricing))
//! and hands each result to the strategy that submitted it
//! ([`Strategy::on_pricing`](crate::Strategy::on_pricing)).
//!
//! Two backends sit behind the trait: [`LocalPricer`] here (the kernels on the caller's
//! thread, for replay and tests: deterministic, the same answers in the same order) and
//! the compute server's client, which `tickwarp-compute` implements the trait for and
//! the binary injects ([`Engine::with_pricer`](crate::Engine::with_pricer)). This crate
//! never links the server (it depends on the gateway's admission); the job types and
//! their pricing live in the pure `tickwarp-pricing` crate, which both share.
//!
//! What a pricer must not do: block. A submit that cannot be taken now (no credit at the
//! server, a full local result buffer) is [`PricerError::WouldBlock`]: poll, then retry.

use std::collections::VecDeque;
use std::fmt::Debug;

use tickwarp_pricing::exec::execute;
use tickwarp_pricing::{Job, JobResult};

/// Why a pricer refused a request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PricerError {
    /// It cannot take the job now (no credit, buffer full): poll results, then retry.
    #[error("the pricer cannot take a job now (no credit): retry after results arrive")]
    WouldBlock,
    /// The backend failed (the compute server's connection closed or misbehaved).
    #[error("pricing backend failed: {0}")]
    Failed(String),
}

/// Submits pricing jobs and polls their results without blocking (module doc).
pub trait Pricer: Debug + Send {
    /// Submits `job`; [`PricerError::WouldBlock`] when it cannot be taken now.
    fn try_submit(&mut self, job: &Job) -> Result<(), PricerError>;

    /// Asks to cancel job `id` (a job already computing completes as usual).
    fn try_cancel(&mut self, id: u64) -> Result<(), PricerError>;

    /// The next result, if one is ready.
    fn try_poll(&mut self) -> Result<Option<JobResult>, PricerError>;
}

impl<P: Pricer + ?Sized> Pricer for Box<P> {
    fn try_submit(&mut self, job: &Job) -> Result<(), PricerError> {
        (**self).try_submit(job)
    }

    fn try_cancel(&mut self, id: u64) -> Result<(), PricerError> {
        (**self).try_cancel(id)
    }

    fn try_poll(&mut self) -> Result<Option<JobResult>, PricerError> {
        (**self).try_poll()
    }
}

/// The local backend: prices a job at submit on the caller's thread (the same
/// [`execute`] the compute server runs, so the same job gives the bit-identical result)
/// and holds at most `capacity` unpolled results, in a buffer allocated once; beyond
/// that a submit is [`PricerError::WouldBlock`], as a remote client out of credit.
#[derive(Debug)]
pub struct LocalPricer {
    done: VecDeque<JobResult>,
    capacity: usize,
}

impl LocalPricer {
    /// Unpolled results a [`LocalPricer::default`] holds.
    pub const DEFAULT_CAPACITY: usize = 64;

    /// A local pricer holding at most `capacity` unpolled results (at least 1).
    pub fn new(capacity: usize) -> LocalPricer {
        let capacity = capacity.max(1);
        LocalPricer {
            done: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Results waiting to be polled.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// Whether no result waits.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }
}

impl Default for LocalPricer {
    /// [`LocalPricer::DEFAULT_CAPACITY`] unpolled results.
    fn default() -> Self {
        LocalPricer::new(Self::DEFAULT_CAPACITY)
    }
}

impl Pricer for LocalPricer {
    fn try_submit(&mut self, job: &Job) -> Result<(), PricerError> {
        if self.done.len() >= self.capacity {
            return Err(PricerError::WouldBlock);
        }
        self.done.push_back(execute(job));
        Ok(())
    }

    /// Jobs are priced at submit, so there is never one to cancel.
    fn try_cancel(&mut self, _id: u64) -> Result<(), PricerError> {
        Ok(())
    }

    fn try_poll(&mut self) -> Result<Option<JobResult>, PricerError> {
        Ok(self.done.pop_front())
    }
}

#[cfg(test)]
mod tests {
    use tickwarp_pricing::{Contract, OptionType, Status};

    use super::*;

    fn job(id: u64, strike: f64) -> Job {
        Job::black_scholes(
            id,
            Contract {
                kind: OptionType::Call,
                spot: 100.0,
                strike,
                rate: 0.05,
                div: 0.0,
                vol: 0.2,
                expiry: 1.0,
            },
        )
    }

    #[test]
    fn results_come_back_in_submit_order_with_their_ids() {
        let mut p = LocalPricer::new(4);
        for (id, k) in [(7, 90.0), (8, 100.0), (9, 110.0)] {
            assert_eq!(p.try_submit(&job(id, k)), Ok(()));
        }
        let mut prices = Vec::new();
        while let Ok(Some(r)) = p.try_poll() {
            assert_eq!(r.status, Status::Done);
            prices.push((r.id, r.price));
        }
        assert_eq!(prices.iter().map(|p| p.0).collect::<Vec<_>>(), [7, 8, 9]);
        assert!(prices[0].1 > prices[1].1 && prices[1].1 > prices[2].1);
        assert_eq!(p.try_poll(), Ok(None));
    }

    #[test]
    fn a_full_buffer_is_would_block_until_polled() {
        let mut p = LocalPricer::new(2);
        assert_eq!(p.try_submit(&job(1, 100.0)), Ok(()));
        assert_eq!(p.try_submit(&job(2, 100.0)), Ok(()));
        assert_eq!(p.try_submit(&job(3, 100.0)), Err(PricerError::WouldBlock));
        assert_eq!(p.len(), 2);
        assert!(matches!(p.try_poll(), Ok(Some(r)) if r.id == 1));
        assert_eq!(p.try_submit(&job(3, 100.0)), Ok(()));
    }
}

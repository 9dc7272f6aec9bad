//! The compute server's job queue: bounded, and fair across clients weighted by job
//! cost (start-time fair queuing: each client has a virtual time that advances by the
//! cost of each job it gets computed; the next job comes from the client with the
//! least virtual time, and a client that was idle starts at the least virtual time of
//! the busy ones, so it can neither bank idleness nor be starved by a flood).
//!
//! Sans-IO: time is an argument, no clock, no threads. Bounded: a client holds at most
//! `per_client` queued jobs and all clients at most `total`; a job beyond either is
//! refused ([`Full`]) and answered busy, never buffered.

use std::collections::VecDeque;

use tickwarp_runtime::Nanos;

use crate::exec::cost;
use crate::job::Job;

/// A job refused because a queue is full (answer [`crate::Status::Busy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// What [`Scheduler::next`] hands out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Next {
    /// Compute this job of this client now.
    Run {
        /// The client's key.
        client: u64,
        /// The job.
        job: Job,
    },
    /// This job's deadline passed before it could start: answer expired.
    Expired {
        /// The client's key.
        client: u64,
        /// The job.
        job: Job,
    },
}

#[derive(Clone, Copy, Debug)]
struct Queued {
    job: Job,
    /// When computing must have started ([`Nanos::MAX`] for no deadline).
    start_by: Nanos,
}

#[derive(Debug)]
struct ClientQueue {
    client: u64,
    jobs: VecDeque<Queued>,
    /// Cost of the jobs computed, shifted to stay comparable with the other clients.
    vtime: u64,
}

/// The bounded fair queue (see the module docs).
#[derive(Debug)]
pub struct Scheduler {
    queues: Vec<ClientQueue>,
    per_client: usize,
    total: usize,
    queued: usize,
}

impl Scheduler {
    /// A queue holding at most `per_client` jobs per client and `total` in all.
    pub fn new(per_client: usize, total: usize) -> Scheduler {
        Scheduler {
            queues: Vec::new(),
            per_client,
            total,
            queued: 0,
        }
    }

    /// Jobs queued.
    pub fn len(&self) -> usize {
        self.queued
    }

    /// Whether no job is queued.
    pub fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Queues `job` from `client`, received at `now`.
    pub fn push(&mut self, client: u64, job: Job, now: Nanos) -> Result<(), Full> {
        if self.queued >= self.total {
            return Err(Full);
        }
        let floor = self.min_busy_vtime();
        let i = match self.queues.iter().position(|q| q.client == client) {
            Some(i) => i,
            None => {
                self.queues.push(ClientQueue {
                    client,
                    jobs: VecDeque::new(),
                    vtime: 0,
                });
                self.queues.len() - 1
            }
        };
        let per_client = self.per_client;
        let Some(q) = self.queues.get_mut(i) else {
            return Err(Full);
        };
        if q.jobs.len() >= per_client {
            return Err(Full);
        }
        if q.jobs.is_empty() {
            q.vtime = q.vtime.max(floor.unwrap_or(q.vtime));
        }
        let start_by = if job.deadline_ns == 0 {
            Nanos::MAX
        } else {
            Nanos(now.get().saturating_add(job.deadline_ns))
        };
        q.jobs.push_back(Queued { job, start_by });
        self.queued += 1;
        Ok(())
    }

    /// Removes `client`'s queued job `id`; true when it was queued.
    pub fn cancel(&mut self, client: u64, id: u64) -> bool {
        let Some(q) = self.queues.iter_mut().find(|q| q.client == client) else {
            return false;
        };
        let Some(at) = q.jobs.iter().position(|j| j.job.id == id) else {
            return false;
        };
        q.jobs.remove(at);
        self.queued -= 1;
        true
    }

    /// Forgets `client` and its queued jobs (it disconnected); returns how many.
    pub fn remove_client(&mut self, client: u64) -> usize {
        let Some(i) = self.queues.iter().position(|q| q.client == client) else {
            return 0;
        };
        let q = self.queues.swap_remove(i);
        self.queued -= q.jobs.len();
        q.jobs.len()
    }

    /// The next job to compute at `now`, from the client with the least virtual time;
    /// a job whose deadline passed comes out as [`Next::Expired`] (not charged).
    pub fn next(&mut self, now: Nanos) -> Option<Next> {
        let q = self
            .queues
            .iter_mut()
            .filter(|q| !q.jobs.is_empty())
            .min_by_key(|q| q.vtime)?;
        let head = q.jobs.pop_front()?;
        self.queued -= 1;
        let client = q.client;
        if now > head.start_by {
            return Some(Next::Expired {
                client,
                job: head.job,
            });
        }
        q.vtime = q.vtime.saturating_add(cost(&head.job));
        Some(Next::Run {
            client,
            job: head.job,
        })
    }

    /// The least virtual time of the clients with queued jobs.
    fn min_busy_vtime(&self) -> Option<u64> {
        self.queues
            .iter()
            .filter(|q| !q.jobs.is_empty())
            .map(|q| q.vtime)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Model;
    use tickwarp_pricing::{Contract, HestonParams, Lattice, OptionType};

    fn job(id: u64, paths: u64, deadline_ns: u64) -> Job {
        Job {
            id,
            model: Model::AsianMc,
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
            steps: 1,
            paths,
            seed: 1,
            heston: HestonParams {
                kappa: 1.0,
                theta: 0.04,
                xi: 0.3,
                rho: 0.0,
                v0: 0.04,
            },
            deadline_ns,
        }
    }

    fn run_client(n: Option<Next>) -> u64 {
        match n {
            Some(Next::Run { client, .. }) => client,
            other => panic!("expected a job to run, got {other:?}"),
        }
    }

    #[test]
    fn a_flood_does_not_starve_another_client() {
        let mut s = Scheduler::new(1000, 2000);
        for i in 0..1000 {
            s.push(1, job(i, 100, 0), Nanos(0)).expect("room");
        }
        // Client 1 ran ten jobs before client 2 arrives.
        for _ in 0..10 {
            assert_eq!(run_client(s.next(Nanos(0))), 1);
        }
        for i in 0..3 {
            s.push(2, job(i, 100, 0), Nanos(0)).expect("room");
        }
        // Equal costs: the two clients alternate.
        let order: Vec<u64> = (0..6).map(|_| run_client(s.next(Nanos(0)))).collect();
        assert_eq!(order.iter().filter(|c| **c == 2).count(), 3, "{order:?}");
        assert!(order[..2].contains(&2), "client 2 waited: {order:?}");
    }

    #[test]
    fn fairness_is_weighted_by_cost() {
        let mut s = Scheduler::new(100, 200);
        for i in 0..100 {
            s.push(1, job(i, 10_000, 0), Nanos(0)).expect("room");
            s.push(2, job(i, 100, 0), Nanos(0)).expect("room");
        }
        let first: Vec<u64> = (0..102).map(|_| run_client(s.next(Nanos(0)))).collect();
        // One big job of client 1 buys client 2 a hundred small ones.
        assert_eq!(first.iter().filter(|c| **c == 1).count(), 2, "{first:?}");
    }

    #[test]
    fn queues_are_bounded() {
        let mut s = Scheduler::new(2, 3);
        assert!(s.push(1, job(1, 10, 0), Nanos(0)).is_ok());
        assert!(s.push(1, job(2, 10, 0), Nanos(0)).is_ok());
        assert_eq!(s.push(1, job(3, 10, 0), Nanos(0)), Err(Full));
        assert!(s.push(2, job(1, 10, 0), Nanos(0)).is_ok());
        assert_eq!(s.push(3, job(1, 10, 0), Nanos(0)), Err(Full));
        assert_eq!(s.len(), 3);
        assert_eq!(s.remove_client(1), 2);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn deadlines_and_cancels() {
        let mut s = Scheduler::new(10, 10);
        s.push(1, job(1, 10, 100), Nanos(1_000)).expect("room");
        s.push(1, job(2, 10, 100), Nanos(1_000)).expect("room");
        s.push(1, job(3, 10, 0), Nanos(1_000)).expect("room");
        assert!(s.cancel(1, 2));
        assert!(!s.cancel(1, 2));
        assert!(!s.cancel(9, 1));
        // At exactly the deadline it may still start; one nanosecond later it expired.
        assert!(matches!(s.next(Nanos(1_100)), Some(Next::Run { job, .. }) if job.id == 1));
        s.push(1, job(4, 10, 100), Nanos(1_000)).expect("room");
        assert!(matches!(s.next(Nanos(1_101)), Some(Next::Run { job, .. }) if job.id == 3));
        assert!(matches!(s.next(Nanos(1_101)), Some(Next::Expired { job, .. }) if job.id == 4));
        assert_eq!(s.next(Nanos(2_000)), None);
        assert!(s.is_empty());
    }
}

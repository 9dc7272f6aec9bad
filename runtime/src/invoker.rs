//! [`AgentInvoker`]: drives an agent on the caller's thread (Aeron's `AgentInvoker`).
//!
//! For tests (time is whatever `now` the test passes) and for hosts with too few cores
//! to give an agent its own thread. The caller chooses when to `invoke` and how to idle.
//! `invoke` records the duty cycle and allocates nothing itself. This module must not
//! spawn threads, read the clock or contain trading logic.

use std::time::Duration;

use crate::agent::{Agent, AgentError};
use crate::duty::{DEFAULT_CYCLE_THRESHOLD, DutyCycleStats, DutyCycleTracker};
use crate::time::Nanos;

/// Where an invoker is in the agent's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvokerState {
    /// `start` not called yet.
    New,
    /// Started: `invoke` runs `do_work`.
    Running,
    /// Closed: `on_close` has run; `invoke` does nothing.
    Closed,
}

/// Runs an agent on the caller's thread. Dropping a started invoker closes the agent.
#[derive(Debug)]
pub struct AgentInvoker<A: Agent> {
    /// The agent.
    agent: A,
    /// Lifecycle position.
    state: InvokerState,
    /// Duty-cycle counters.
    tracker: DutyCycleTracker,
}

impl<A: Agent> AgentInvoker<A> {
    /// An invoker for `agent` with the default duty-cycle threshold (1 ms).
    pub fn new(agent: A) -> AgentInvoker<A> {
        AgentInvoker::with_cycle_threshold(agent, DEFAULT_CYCLE_THRESHOLD)
    }

    /// An invoker counting cycles longer than `threshold` as over-long.
    pub fn with_cycle_threshold(agent: A, threshold: Duration) -> AgentInvoker<A> {
        AgentInvoker {
            agent,
            state: InvokerState::New,
            tracker: DutyCycleTracker::new(threshold),
        }
    }

    /// Calls `on_start` once; if it fails the agent is closed and the error returned.
    pub fn start(&mut self) -> Result<(), AgentError> {
        if self.state != InvokerState::New {
            return Ok(());
        }
        self.state = InvokerState::Running;
        let started = self.agent.on_start();
        if started.is_err() {
            self.close();
        }
        started
    }

    /// One duty cycle at `now`: record it and call `do_work`; returns 0 unless running.
    ///
    /// An error is returned as is; the agent keeps running until the caller closes it.
    #[inline]
    pub fn invoke(&mut self, now: Nanos) -> Result<usize, AgentError> {
        if self.state != InvokerState::Running {
            return Ok(0);
        }
        self.tracker.record(now);
        self.agent.do_work(now)
    }

    /// Calls `on_close` once if the agent was started.
    pub fn close(&mut self) {
        if self.state == InvokerState::Running {
            self.state = InvokerState::Closed;
            self.agent.on_close();
        } else {
            self.state = InvokerState::Closed;
        }
    }

    /// Where the agent is in its life.
    pub fn state(&self) -> InvokerState {
        self.state
    }

    /// The agent.
    pub fn agent(&self) -> &A {
        &self.agent
    }

    /// The agent, mutably (for tests that feed it input).
    pub fn agent_mut(&mut self) -> &mut A {
        &mut self.agent
    }

    /// The duty-cycle counters.
    pub fn duty_stats(&self) -> DutyCycleStats {
        self.tracker.stats()
    }
}

impl<A: Agent> Drop for AgentInvoker<A> {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts lifecycle calls; `do_work` returns `now` modulo 3.
    #[derive(Debug, Default)]
    struct Counter {
        starts: u32,
        works: u32,
        closes: u32,
        fail_start: bool,
    }

    impl Agent for Counter {
        fn role_name(&self) -> &str {
            "counter"
        }

        fn on_start(&mut self) -> Result<(), AgentError> {
            self.starts += 1;
            if self.fail_start {
                Err(AgentError::msg("nope"))
            } else {
                Ok(())
            }
        }

        fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError> {
            self.works += 1;
            Ok((now.get() % 3) as usize)
        }

        fn on_close(&mut self) {
            self.closes += 1;
        }
    }

    #[test]
    fn lifecycle_runs_each_hook_once() -> Result<(), AgentError> {
        let mut invoker = AgentInvoker::new(Counter::default());
        assert_eq!(invoker.invoke(Nanos(1))?, 0, "not started");
        assert_eq!(invoker.agent().works, 0);
        invoker.start()?;
        invoker.start()?;
        assert_eq!(invoker.state(), InvokerState::Running);
        assert_eq!(invoker.invoke(Nanos(10))?, 1);
        assert_eq!(invoker.invoke(Nanos(2_000_012))?, 2);
        invoker.close();
        invoker.close();
        assert_eq!(invoker.invoke(Nanos(3_000_000))?, 0, "closed");
        let agent = invoker.agent();
        assert_eq!((agent.starts, agent.works, agent.closes), (1, 2, 1));
        let duty = invoker.duty_stats().snapshot();
        assert_eq!(
            (duty.cycles, duty.max_cycle, duty.over_threshold),
            (2, Nanos(2_000_002), 1)
        );
        Ok(())
    }

    #[test]
    fn failed_start_closes() {
        let mut invoker = AgentInvoker::new(Counter {
            fail_start: true,
            ..Counter::default()
        });
        assert!(invoker.start().is_err());
        assert_eq!(invoker.state(), InvokerState::Closed);
        assert_eq!(invoker.agent().closes, 1);
    }

    #[test]
    fn never_started_is_never_closed() {
        let mut invoker = AgentInvoker::new(Counter::default());
        invoker.close();
        assert_eq!(invoker.agent().closes, 0);
        assert_eq!(invoker.agent_mut().starts, 0);
    }

    #[test]
    fn drop_closes_a_started_agent() -> Result<(), AgentError> {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU32, Ordering};

        /// Counts closes into a shared counter that outlives the invoker.
        struct Closes(Arc<AtomicU32>);

        impl Agent for Closes {
            fn role_name(&self) -> &str {
                "closes"
            }

            fn do_work(&mut self, _now: Nanos) -> Result<usize, AgentError> {
                Ok(0)
            }

            fn on_close(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }

        let closes = Arc::new(AtomicU32::new(0));
        let mut invoker = AgentInvoker::new(Closes(Arc::clone(&closes)));
        invoker.start()?;
        drop(invoker);
        assert_eq!(closes.load(Ordering::SeqCst), 1);
        drop(AgentInvoker::new(Closes(Arc::clone(&closes))));
        assert_eq!(
            closes.load(Ordering::SeqCst),
            1,
            "an unstarted agent is not closed"
        );
        Ok(())
    }
}

//! Shared test agents for the runtime integration tests.

// Each test binary includes this module and uses a different subset of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tickwarp_runtime::{Agent, AgentError, IdleConfig, Nanos};

/// Generous bound for every wait in these tests; reaching it means something is broken.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// A backoff that parks at most 50 µs, so idle runners neither spin nor sleep long.
pub(crate) const GENTLE_BACKOFF: IdleConfig = IdleConfig::Backoff {
    max_spins: 10,
    max_yields: 20,
    min_park_ns: 1_000,
    max_park_ns: 50_000,
};

/// Lifecycle counters of a [`Probe`], shared with the test.
#[derive(Debug, Default)]
pub(crate) struct Calls {
    /// `on_start` calls.
    pub(crate) starts: AtomicU64,
    /// `do_work` calls.
    pub(crate) works: AtomicU64,
    /// `on_close` calls.
    pub(crate) closes: AtomicU64,
}

impl Calls {
    /// `(starts, works, closes)`.
    pub(crate) fn get(&self) -> (u64, u64, u64) {
        (
            self.starts.load(Ordering::SeqCst),
            self.works.load(Ordering::SeqCst),
            self.closes.load(Ordering::SeqCst),
        )
    }
}

/// What a [`Probe`] does on a given `do_work` call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Nothing unusual.
    #[default]
    None,
    /// `on_start` fails.
    Start,
    /// The n-th `do_work` (1-based) returns an error.
    ErrorAt(u64),
    /// The n-th `do_work` (1-based) panics.
    PanicAt(u64),
    /// The n-th `do_work` (1-based) sleeps this long.
    SleepAt(u64, Duration),
}

/// A test agent that counts its lifecycle calls and can misbehave on cue.
#[derive(Debug)]
pub(crate) struct Probe {
    /// Role name.
    pub(crate) role: String,
    /// Shared counters.
    pub(crate) calls: Arc<Calls>,
    /// Work count returned by each `do_work`.
    pub(crate) work: usize,
    /// Misbehaviour.
    pub(crate) fault: Fault,
}

impl Probe {
    /// A well-behaved probe doing no work, and its counters.
    pub(crate) fn new(role: &str) -> (Probe, Arc<Calls>) {
        let calls = Arc::new(Calls::default());
        (
            Probe {
                role: role.to_owned(),
                calls: Arc::clone(&calls),
                work: 0,
                fault: Fault::None,
            },
            calls,
        )
    }

    /// This probe with a fault.
    pub(crate) fn with_fault(mut self, fault: Fault) -> Probe {
        self.fault = fault;
        self
    }
}

impl Agent for Probe {
    fn role_name(&self) -> &str {
        &self.role
    }

    fn on_start(&mut self) -> Result<(), AgentError> {
        self.calls.starts.fetch_add(1, Ordering::SeqCst);
        if self.fault == Fault::Start {
            return Err(AgentError::msg("cannot start"));
        }
        Ok(())
    }

    fn do_work(&mut self, _now: Nanos) -> Result<usize, AgentError> {
        let n = self.calls.works.fetch_add(1, Ordering::SeqCst) + 1;
        match self.fault {
            Fault::ErrorAt(at) if at == n => {
                return Err(AgentError::msg(format!("failed at cycle {n}")));
            }
            Fault::PanicAt(at) if at == n => panic!("boom at cycle {n}"),
            Fault::SleepAt(at, d) if at == n => std::thread::sleep(d),
            _ => {}
        }
        Ok(self.work)
    }

    fn on_close(&mut self) {
        self.calls.closes.fetch_add(1, Ordering::SeqCst);
    }
}

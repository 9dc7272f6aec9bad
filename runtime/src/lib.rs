//! tickwarp-runtime: agents, idle strategies, pinned runners and clocks.
//!
//! Aeron's duty-cycle model: an [`Agent`] does a bounded unit of work per
//! `do_work(now)` and returns how much it did; an [`IdleStrategy`] decides what to do
//! when it did none; an [`AgentRunner`] runs an agent on a named, optionally pinned
//! thread, a [`CompositeAgent`] shares one thread among several agents, and an
//! [`AgentInvoker`] runs one on the caller's thread. Which of these is used is
//! configuration ([`ThreadingMode`], [`IdleConfig`]). The clock is read once per duty
//! cycle, by [`clock`] only, and [`duty`] tracks how long cycles take.
//!
//! This crate must not contain trading logic and must not do I/O other than managing
//! threads and reading clocks. Time units live in [`time`].

pub mod agent;
pub mod clock;
pub mod composite;
pub mod duty;
pub mod idle;
pub mod invoker;
pub mod runner;
pub mod threading;
pub mod time;

pub use agent::{Agent, AgentError};
pub use clock::Clock;
pub use composite::CompositeAgent;
pub use duty::{DutyCycleStats, DutyCycleTracker, DutySnapshot};
pub use idle::{
    Backoff, BackoffState, BusySpin, Idle, IdleConfig, IdleStrategy, NoOp, Sleeping, Yielding,
};
pub use invoker::{AgentInvoker, InvokerState};
pub use runner::{AgentRunner, PinOutcome, RunnerConfig, RunnerError, RunnerExit, StopHandle};
pub use threading::{Launched, NamedAgent, ThreadingMode, launch};
pub use time::{Nanos, UnixNanos};

//! [`AgentRunner`]: runs one agent on its own named, optionally pinned thread.
//!
//! The thread pins itself (if asked), calls `on_start`, then loops: read the clock once,
//! record the duty cycle, `do_work(now)`, `idle(work_count)`, until the stop flag is set or
//! `do_work` fails. `on_close` runs exactly once whenever `on_start` was called, including
//! after an error or a panic, which are caught and handed to the owner through
//! [`AgentRunner::stop`], [`AgentRunner::join`] or [`AgentRunner::try_result`].
//!
//! This module manages threads only; it must not contain trading logic or do I/O.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::agent::{Agent, AgentError};
use crate::clock::Clock;
use crate::duty::{DEFAULT_CYCLE_THRESHOLD, DutyCycleStats, DutyCycleTracker, DutySnapshot};
use crate::idle::{Idle, IdleConfig, IdleStrategy};
use crate::time::Nanos;

/// How to run an agent: thread name, core, idle strategy, duty-cycle threshold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerConfig {
    /// Thread name (Linux shows the first 15 bytes).
    pub name: String,
    /// The core to pin the thread to; `None` leaves it to the scheduler.
    #[serde(default)]
    pub core: Option<usize>,
    /// Fail instead of running unpinned when pinning to `core` fails.
    #[serde(default)]
    pub require_pin: bool,
    /// What to do after a cycle with no work.
    #[serde(default)]
    pub idle: IdleConfig,
    /// Duty cycles longer than this many nanoseconds count as over-long.
    #[serde(default = "default_cycle_threshold_ns")]
    pub cycle_threshold_ns: u64,
}

/// Serde default for `cycle_threshold_ns`.
fn default_cycle_threshold_ns() -> u64 {
    Nanos::from(DEFAULT_CYCLE_THRESHOLD).get()
}

impl RunnerConfig {
    /// A config with this thread name, unpinned, busy-spinning, 1 ms cycle threshold.
    pub fn new(name: impl Into<String>) -> RunnerConfig {
        RunnerConfig {
            name: name.into(),
            core: None,
            require_pin: false,
            idle: IdleConfig::default(),
            cycle_threshold_ns: default_cycle_threshold_ns(),
        }
    }

    /// This config with a different idle strategy.
    pub fn with_idle(mut self, idle: IdleConfig) -> RunnerConfig {
        self.idle = idle;
        self
    }

    /// This config pinned to `core`; `required` makes a failed pin fatal.
    pub fn with_core(mut self, core: usize, required: bool) -> RunnerConfig {
        self.core = Some(core);
        self.require_pin = required;
        self
    }

    /// The duty-cycle threshold as a duration.
    pub fn cycle_threshold(&self) -> Duration {
        Duration::from_nanos(self.cycle_threshold_ns)
    }
}

/// Whether the runner thread was pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinOutcome {
    /// No core was requested.
    NotRequested,
    /// The thread runs on this core only.
    Pinned(usize),
    /// Pinning to this core failed; the thread ran unpinned.
    Failed(usize),
}

/// How a runner ended when it ended cleanly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunnerExit {
    /// The runner's thread name.
    pub name: String,
    /// The agent's role name.
    pub role: String,
    /// Whether the thread was pinned.
    pub pin: PinOutcome,
    /// Final duty-cycle counters.
    pub duty: DutySnapshot,
}

/// Why a runner failed.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The OS refused to create the thread.
    #[error("cannot spawn runner thread {name}")]
    Spawn {
        /// The runner's thread name.
        name: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Pinning failed and the config required it; the agent was not started.
    #[error("runner {name} could not be pinned to core {core}")]
    Pin {
        /// The runner's thread name.
        name: String,
        /// The requested core.
        core: usize,
    },
    /// `on_start` failed; `on_close` has run.
    #[error("agent {role} failed to start")]
    Start {
        /// The agent's role name.
        role: String,
        /// What `on_start` returned.
        #[source]
        source: AgentError,
    },
    /// `do_work` failed, stopping the runner; `on_close` has run.
    #[error("agent {role} failed")]
    Agent {
        /// The agent's role name.
        role: String,
        /// What `do_work` returned.
        #[source]
        source: AgentError,
    },
    /// The agent panicked (in `on_start`, `do_work` or `on_close`) with this message.
    #[error("agent panicked: {0}")]
    Panicked(String),
}

/// A flag that asks a runner to stop; clone it to stop the runner from elsewhere.
#[derive(Clone, Debug)]
pub struct StopHandle {
    /// Set to stop.
    flag: Arc<AtomicBool>,
    /// The runner thread, unparked so a parked idle strategy sees the flag at once.
    thread: thread::Thread,
}

impl StopHandle {
    /// Asks the runner to stop after its current duty cycle.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::Release);
        self.thread.unpark();
    }

    /// Whether a stop was requested.
    pub fn is_stop_requested(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

/// What the runner thread returns.
type Outcome = Result<RunnerExit, RunnerError>;

/// One agent running on its own thread. Dropping it stops and joins the thread.
#[derive(Debug)]
pub struct AgentRunner {
    /// The thread name.
    name: String,
    /// The running thread, until joined.
    handle: Option<JoinHandle<Outcome>>,
    /// The outcome, once joined by [`AgentRunner::try_result`].
    outcome: Option<Outcome>,
    /// Stops the thread.
    stop: StopHandle,
    /// Duty-cycle counters of the agent.
    stats: DutyCycleStats,
}

impl AgentRunner {
    /// Starts `agent` on a new thread configured by `config`.
    pub fn start<A: Agent + Send + 'static>(
        config: RunnerConfig,
        agent: A,
    ) -> Result<AgentRunner, RunnerError> {
        if config.name.contains('\0') {
            let source = std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "thread name contains a NUL byte",
            );
            return Err(RunnerError::Spawn {
                name: config.name,
                source,
            });
        }
        let tracker = DutyCycleTracker::new(config.cycle_threshold());
        let stats = tracker.stats();
        let flag = Arc::new(AtomicBool::new(false));
        let name = config.name.clone();
        let thread_flag = Arc::clone(&flag);
        let handle = thread::Builder::new()
            .name(config.name.clone())
            .spawn(move || run_thread(config, agent, tracker, &thread_flag))
            .map_err(|source| RunnerError::Spawn {
                name: name.clone(),
                source,
            })?;
        let stop = StopHandle {
            flag,
            thread: handle.thread().clone(),
        };
        Ok(AgentRunner {
            name,
            handle: Some(handle),
            outcome: None,
            stop,
            stats,
        })
    }

    /// The runner's thread name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The agent's duty-cycle counters, readable while it runs.
    pub fn duty_stats(&self) -> DutyCycleStats {
        self.stats.clone()
    }

    /// A handle that stops this runner from elsewhere.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Whether the runner thread is still running (it ends on stop, error or panic).
    pub fn is_running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// The outcome if the thread has ended, without blocking.
    pub fn try_result(&mut self) -> Option<&Result<RunnerExit, RunnerError>> {
        if self.handle.as_ref().is_some_and(JoinHandle::is_finished) {
            self.outcome = self.handle.take().map(join_outcome);
        }
        self.outcome.as_ref()
    }

    /// Asks the agent to stop, waits for `on_close`, and returns how it ended.
    pub fn stop(self) -> Result<RunnerExit, RunnerError> {
        self.stop.stop();
        self.join()
    }

    /// Waits for the runner to end by itself (an error, a panic, or a [`StopHandle`]).
    pub fn join(mut self) -> Result<RunnerExit, RunnerError> {
        match (self.handle.take(), self.outcome.take()) {
            (Some(handle), _) => join_outcome(handle),
            (None, Some(outcome)) => outcome,
            // `handle` is taken only to fill `outcome`, and both are consumed only here.
            (None, None) => Err(RunnerError::Panicked(format!(
                "runner {} outcome already taken",
                self.name
            ))),
        }
    }
}

impl Drop for AgentRunner {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.stop.stop();
            if let Err(error) = join_outcome(handle) {
                tracing::warn!(runner = %self.name, %error, "agent runner dropped after failing");
            }
        }
    }
}

/// Joins the runner thread; a panic that escaped the thread body becomes `Panicked`.
fn join_outcome(handle: JoinHandle<Outcome>) -> Outcome {
    handle
        .join()
        .unwrap_or_else(|payload| Err(RunnerError::Panicked(panic_message(payload.as_ref()))))
}

/// The runner thread: pin, start, duty cycle until stopped, close.
fn run_thread<A: Agent>(
    config: RunnerConfig,
    mut agent: A,
    mut tracker: DutyCycleTracker,
    stop: &AtomicBool,
) -> Outcome {
    let pin = match config.core {
        None => PinOutcome::NotRequested,
        Some(core) => pin_current_thread(core),
    };
    if let PinOutcome::Failed(core) = pin {
        if config.require_pin {
            return Err(RunnerError::Pin {
                name: config.name,
                core,
            });
        }
        tracing::warn!(runner = %config.name, core, "could not pin runner thread; running unpinned");
    }
    let role = agent.role_name().to_owned();
    let mut idle = Idle::from(config.idle);
    let worked = catch_unwind(AssertUnwindSafe(|| -> Result<(), RunnerError> {
        agent.on_start().map_err(|source| RunnerError::Start {
            role: role.clone(),
            source,
        })?;
        duty_cycle(&mut agent, &mut idle, &mut tracker, stop).map_err(|source| RunnerError::Agent {
            role: role.clone(),
            source,
        })
    }));
    let closed = catch_unwind(AssertUnwindSafe(|| agent.on_close()));
    match (worked, closed) {
        (Ok(Ok(())), Ok(())) => Ok(RunnerExit {
            name: config.name,
            role,
            pin,
            duty: tracker.stats().snapshot(),
        }),
        (Ok(Err(error)), _) => Err(error),
        (Err(payload), _) | (Ok(Ok(())), Err(payload)) => {
            Err(RunnerError::Panicked(panic_message(payload.as_ref())))
        }
    }
}

/// Runs duty cycles until `stop` is set or `do_work` fails, with the idle strategy's
/// `match` hoisted out of the loop.
fn duty_cycle<A: Agent>(
    agent: &mut A,
    idle: &mut Idle,
    tracker: &mut DutyCycleTracker,
    stop: &AtomicBool,
) -> Result<(), AgentError> {
    match idle {
        Idle::BusySpin(s) => cycle_until_stopped(agent, s, tracker, stop),
        Idle::Yielding(s) => cycle_until_stopped(agent, s, tracker, stop),
        Idle::Backoff(s) => cycle_until_stopped(agent, s, tracker, stop),
        Idle::Sleeping(s) => cycle_until_stopped(agent, s, tracker, stop),
        Idle::NoOp(s) => cycle_until_stopped(agent, s, tracker, stop),
    }
}

/// The duty cycle: one clock read, record, `do_work(now)`, idle.
#[inline]
fn cycle_until_stopped<A: Agent, I: IdleStrategy>(
    agent: &mut A,
    idle: &mut I,
    tracker: &mut DutyCycleTracker,
    stop: &AtomicBool,
) -> Result<(), AgentError> {
    let clock = Clock::new();
    while !stop.load(Ordering::Acquire) {
        let now = clock.now();
        tracker.record(now);
        let work = agent.do_work(now)?;
        idle.idle(work);
    }
    Ok(())
}

/// Pins the calling thread to `core`.
fn pin_current_thread(core: usize) -> PinOutcome {
    let known = core_affinity::get_core_ids().is_some_and(|ids| ids.iter().any(|id| id.id == core));
    if known && core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
        PinOutcome::Pinned(core)
    } else {
        PinOutcome::Failed(core)
    }
}

/// The text of a panic payload (`&str` or `String`).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_from_toml_with_defaults() -> Result<(), toml::de::Error> {
        let config: RunnerConfig = toml::from_str(
            r#"
            name = "md-feed"
            core = 1
            idle = { kind = "backoff", max_spins = 3 }
            "#,
        )?;
        assert_eq!(config.name, "md-feed");
        assert_eq!(config.core, Some(1));
        assert!(!config.require_pin);
        assert_eq!(
            config.idle,
            IdleConfig::Backoff {
                max_spins: 3,
                max_yields: 20,
                min_park_ns: 1_000,
                max_park_ns: 1_000_000
            }
        );
        assert_eq!(config.cycle_threshold(), DEFAULT_CYCLE_THRESHOLD);
        let minimal: RunnerConfig = toml::from_str(r#"name = "x""#)?;
        assert_eq!(minimal, RunnerConfig::new("x"));
        assert!(
            toml::from_str::<RunnerConfig>(
                r#"name = "x"
            cores = 2"#
            )
            .is_err()
        );
        Ok(())
    }

    #[test]
    fn a_nul_in_the_thread_name_is_an_error_not_a_panic() {
        struct Idle0;
        impl Agent for Idle0 {
            fn role_name(&self) -> &str {
                "idle0"
            }
            fn do_work(&mut self, _now: Nanos) -> Result<usize, AgentError> {
                Ok(0)
            }
        }
        let result = AgentRunner::start(RunnerConfig::new("bad\0name"), Idle0);
        assert!(
            matches!(result, Err(RunnerError::Spawn { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn pinning_to_a_missing_core_fails() {
        assert_eq!(
            pin_current_thread(usize::MAX),
            PinOutcome::Failed(usize::MAX)
        );
    }

    #[test]
    fn panic_messages_are_extracted() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&7u8), "panic with a non-string payload");
    }
}

//! Proves that duty cycles allocate nothing in steady state, with the testkit's
//! per-thread counting allocator.

mod util;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tickwarp_runtime::{
    Agent, AgentError, AgentInvoker, AgentRunner, Backoff, Clock, CompositeAgent, Idle, IdleConfig,
    IdleStrategy, Nanos, RunnerConfig, Yielding,
};
use tickwarp_testkit::{CountingAllocator, count_allocations, thread_allocations, wait_until};
use util::{GENTLE_BACKOFF, WAIT};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Cycles run before counting, so one-off lazy initialisation is not counted.
const WARM_UP: u64 = 200;
/// Cycles counted.
const MEASURED: u64 = 2_000;

/// Sums into a preallocated buffer; reports work on every 40th cycle, so a backoff idle
/// strategy walks through spinning, yielding and parking between bursts.
struct Summer {
    buffer: Vec<u64>,
    cycles: u64,
}

impl Summer {
    fn new() -> Summer {
        Summer {
            buffer: vec![0; 256],
            cycles: 0,
        }
    }
}

impl Agent for Summer {
    fn role_name(&self) -> &str {
        "summer"
    }

    fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError> {
        self.cycles += 1;
        for (i, slot) in self.buffer.iter_mut().enumerate() {
            *slot = slot.wrapping_add(now.get() ^ i as u64);
        }
        black_box(&self.buffer);
        Ok(usize::from(self.cycles % 40 == 0))
    }
}

/// Runs `cycles` duty cycles the way a runner does: read the clock, invoke, idle.
fn drive<A: Agent, I: IdleStrategy>(
    invoker: &mut AgentInvoker<A>,
    idle: &mut I,
    cycles: u64,
) -> Result<(), AgentError> {
    let clock = Clock::new();
    for _ in 0..cycles {
        let work = invoker.invoke(clock.now())?;
        idle.idle(work);
    }
    Ok(())
}

fn assert_steady_state_allocates_nothing<A: Agent, I: IdleStrategy>(
    agent: A,
    mut idle: I,
) -> Result<(), AgentError> {
    let mut invoker = AgentInvoker::new(agent);
    invoker.start()?;
    drive(&mut invoker, &mut idle, WARM_UP)?;
    let (result, allocations) = count_allocations(|| drive(&mut invoker, &mut idle, MEASURED));
    result?;
    assert_eq!(allocations, 0, "steady-state duty cycles allocated");
    assert_eq!(invoker.duty_stats().cycles(), WARM_UP + MEASURED);
    invoker.close();
    Ok(())
}

/// A backoff that parks at most 16 µs so the test stays fast while visiting every state.
fn short_backoff() -> Backoff {
    Backoff::new(
        10,
        20,
        std::time::Duration::from_micros(1),
        std::time::Duration::from_micros(16),
    )
}

#[test]
fn the_counter_is_installed() {
    let (v, allocations) = count_allocations(|| black_box(Vec::<u64>::with_capacity(16)));
    assert!(v.capacity() >= 16);
    assert!(
        allocations >= 1,
        "the counting allocator is not the global allocator"
    );
}

#[test]
fn invoker_with_backoff_allocates_nothing() -> Result<(), AgentError> {
    assert_steady_state_allocates_nothing(Summer::new(), short_backoff())
}

#[test]
fn invoker_with_yielding_allocates_nothing() -> Result<(), AgentError> {
    assert_steady_state_allocates_nothing(Summer::new(), Yielding)
}

#[test]
fn invoker_over_composite_with_configured_idle_allocates_nothing() -> Result<(), AgentError> {
    let composite = CompositeAgent::new(vec![Box::new(Summer::new()), Box::new(Summer::new())]);
    let idle = Idle::from(IdleConfig::Backoff {
        max_spins: 10,
        max_yields: 20,
        min_park_ns: 1_000,
        max_park_ns: 16_000,
    });
    assert_steady_state_allocates_nothing(composite, idle)
}

/// Measures its own thread's allocations between two cycle counts, from inside the
/// runner's duty cycle.
struct SelfCounting {
    inner: Summer,
    start_at: u64,
    end_at: u64,
    before: u64,
    result: Arc<AtomicU64>,
}

impl Agent for SelfCounting {
    fn role_name(&self) -> &str {
        "self-counting"
    }

    fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError> {
        let work = self.inner.do_work(now)?;
        let cycle = self.inner.cycles;
        if cycle == self.start_at {
            self.before = thread_allocations();
        } else if cycle == self.end_at {
            self.result
                .store(thread_allocations() - self.before, Ordering::SeqCst);
        }
        Ok(work)
    }
}

#[test]
fn runner_duty_cycle_allocates_nothing() -> anyhow::Result<()> {
    let result = Arc::new(AtomicU64::new(u64::MAX));
    let agent = SelfCounting {
        inner: Summer::new(),
        start_at: WARM_UP,
        end_at: WARM_UP + MEASURED,
        before: 0,
        result: Arc::clone(&result),
    };
    let runner = AgentRunner::start(
        RunnerConfig::new("no-alloc").with_idle(GENTLE_BACKOFF),
        agent,
    )?;
    wait_until("the measured cycles are done", WAIT, || {
        result.load(Ordering::SeqCst) != u64::MAX
    })?;
    runner.stop()?;
    assert_eq!(
        result.load(Ordering::SeqCst),
        0,
        "the runner's duty cycle allocated"
    );
    Ok(())
}

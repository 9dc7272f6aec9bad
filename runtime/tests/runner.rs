//! AgentRunner, StopHandle and the threading launcher on real threads.

mod util;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tickwarp_runtime::{
    Agent, AgentError, AgentRunner, Launched, NamedAgent, Nanos, PinOutcome, RunnerConfig,
    RunnerError, ThreadingMode, launch,
};
use tickwarp_testkit::wait_until;
use util::{Fault, GENTLE_BACKOFF, Probe, WAIT};

fn config(name: &str) -> RunnerConfig {
    RunnerConfig::new(name).with_idle(GENTLE_BACKOFF)
}

#[test]
fn stop_runs_on_close_exactly_once() -> anyhow::Result<()> {
    let (probe, calls) = Probe::new("probe");
    let runner = AgentRunner::start(config("stop-test"), probe)?;
    assert_eq!(runner.name(), "stop-test");
    wait_until("three duty cycles", WAIT, || {
        calls.works.load(Ordering::SeqCst) >= 3
    })?;
    assert!(runner.is_running());
    let exit = runner.stop()?;
    let (starts, works, closes) = calls.get();
    assert_eq!((starts, closes), (1, 1));
    assert_eq!(exit.name, "stop-test");
    assert_eq!(exit.role, "probe");
    assert_eq!(exit.pin, PinOutcome::NotRequested);
    assert_eq!(exit.duty.cycles, works, "one duty-cycle record per do_work");
    assert_eq!(
        calls.get(),
        (1, works, 1),
        "nothing runs after stop returns"
    );
    Ok(())
}

#[test]
fn agent_error_stops_the_runner_and_is_reported() -> anyhow::Result<()> {
    let (probe, calls) = Probe::new("faulty");
    let mut runner = AgentRunner::start(config("error-test"), probe.with_fault(Fault::ErrorAt(5)))?;
    wait_until("the runner stops by itself", WAIT, || !runner.is_running())?;
    let seen = match runner.try_result() {
        Some(Err(RunnerError::Agent { role, source })) => format!("{role}: {source}"),
        other => anyhow::bail!("expected an agent error, got {other:?}"),
    };
    assert_eq!(seen, "faulty: failed at cycle 5");
    assert_eq!(calls.get(), (1, 5, 1));
    match runner.stop() {
        Err(error @ RunnerError::Agent { .. }) => {
            assert_eq!(error.to_string(), "agent faulty failed");
            let source = std::error::Error::source(&error).map(|s| s.to_string());
            assert_eq!(source.as_deref(), Some("failed at cycle 5"));
        }
        other => anyhow::bail!("stop should repeat the agent error, got {other:?}"),
    }
    assert_eq!(calls.get(), (1, 5, 1));
    Ok(())
}

#[test]
fn panic_is_caught_reported_and_on_close_still_runs() -> anyhow::Result<()> {
    let (probe, calls) = Probe::new("panicky");
    let runner = AgentRunner::start(config("panic-test"), probe.with_fault(Fault::PanicAt(3)))?;
    wait_until("the runner stops by itself", WAIT, || !runner.is_running())?;
    match runner.join() {
        Err(RunnerError::Panicked(message)) => assert_eq!(message, "boom at cycle 3"),
        other => anyhow::bail!("expected a panic report, got {other:?}"),
    }
    assert_eq!(calls.get(), (1, 3, 1));
    Ok(())
}

#[test]
fn failed_start_is_reported_and_closed_without_work() -> anyhow::Result<()> {
    let (probe, calls) = Probe::new("unstartable");
    let runner = AgentRunner::start(config("start-test"), probe.with_fault(Fault::Start))?;
    match runner.join() {
        Err(RunnerError::Start { role, source }) => {
            assert_eq!(role, "unstartable");
            assert_eq!(source.to_string(), "cannot start");
        }
        other => anyhow::bail!("expected a start error, got {other:?}"),
    }
    assert_eq!(calls.get(), (1, 0, 1));
    Ok(())
}

#[test]
fn required_pin_to_a_missing_core_fails_before_start() -> anyhow::Result<()> {
    let (probe, calls) = Probe::new("pinned");
    let runner = AgentRunner::start(config("pin-test").with_core(usize::MAX, true), probe)?;
    match runner.join() {
        Err(RunnerError::Pin { name, core }) => {
            assert_eq!((name.as_str(), core), ("pin-test", usize::MAX))
        }
        other => anyhow::bail!("expected a pin error, got {other:?}"),
    }
    assert_eq!(calls.get(), (0, 0, 0));
    Ok(())
}

#[test]
fn optional_pin_failure_is_reported_not_fatal() -> anyhow::Result<()> {
    let (probe, calls) = Probe::new("loose");
    let runner = AgentRunner::start(config("loose-pin").with_core(usize::MAX, false), probe)?;
    wait_until("a duty cycle", WAIT, || {
        calls.works.load(Ordering::SeqCst) >= 1
    })?;
    let exit = runner.stop()?;
    assert_eq!(exit.pin, PinOutcome::Failed(usize::MAX));
    Ok(())
}

#[test]
fn pinning_to_an_available_core_succeeds() -> anyhow::Result<()> {
    // The first core this process may run on (a container's cpuset may exclude core 0).
    let core = core_affinity::get_core_ids().and_then(|ids| ids.first().map(|id| id.id));
    let Some(core) = core else {
        anyhow::bail!("this host reports no cores to pin to");
    };
    let (probe, calls) = Probe::new("pinned");
    let runner = AgentRunner::start(config("pinned").with_core(core, true), probe)?;
    wait_until("a duty cycle", WAIT, || {
        calls.works.load(Ordering::SeqCst) >= 1
    })?;
    assert_eq!(runner.stop()?.pin, PinOutcome::Pinned(core));
    Ok(())
}

#[test]
fn stop_handle_stops_from_another_thread_and_drop_closes() -> anyhow::Result<()> {
    let (probe, calls) = Probe::new("remote");
    let runner = AgentRunner::start(config("remote-stop"), probe)?;
    let handle = runner.stop_handle();
    let stopper = std::thread::spawn(move || handle.stop());
    wait_until("the runner honours the stop handle", WAIT, || {
        !runner.is_running()
    })?;
    assert!(runner.stop_handle().is_stop_requested());
    assert!(stopper.join().is_ok());
    assert!(runner.join().is_ok());
    assert_eq!(calls.closes.load(Ordering::SeqCst), 1);

    let (probe, calls) = Probe::new("dropped");
    let runner = AgentRunner::start(config("drop-stop"), probe)?;
    wait_until("a duty cycle", WAIT, || {
        calls.works.load(Ordering::SeqCst) >= 1
    })?;
    drop(runner);
    assert_eq!(
        calls.closes.load(Ordering::SeqCst),
        1,
        "drop stops, joins and closes"
    );
    Ok(())
}

#[test]
fn duty_cycle_max_is_observed_from_another_thread() -> anyhow::Result<()> {
    let sleep = Duration::from_millis(3);
    let (probe, calls) = Probe::new("slow");
    let mut cfg = config("duty-test");
    cfg.cycle_threshold_ns = 1_000_000;
    let runner = AgentRunner::start(cfg, probe.with_fault(Fault::SleepAt(2, sleep)))?;
    let stats = runner.duty_stats();
    // The sleeping cycle is closed when cycle 3 starts.
    wait_until("the slow cycle is recorded", WAIT, || stats.cycles() >= 3)?;
    assert!(
        stats.max_cycle() >= Nanos::from(sleep),
        "max {:?}",
        stats.max_cycle()
    );
    assert!(stats.over_threshold() >= 1);
    assert_eq!(stats.threshold(), Nanos(1_000_000));
    runner.stop()?;
    assert_eq!(calls.closes.load(Ordering::SeqCst), 1);
    Ok(())
}

/// Records the name of the thread it starts on.
struct ThreadNamer {
    role: &'static str,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl Agent for ThreadNamer {
    fn role_name(&self) -> &str {
        self.role
    }

    fn on_start(&mut self) -> Result<(), AgentError> {
        let thread = std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_owned();
        self.seen
            .lock()
            .map_err(|_| AgentError::msg("poisoned"))?
            .push((self.role.to_owned(), thread));
        Ok(())
    }

    fn do_work(&mut self, _now: Nanos) -> Result<usize, AgentError> {
        Ok(1)
    }
}

fn namers(seen: &Arc<Mutex<Vec<(String, String)>>>) -> Vec<NamedAgent> {
    vec![
        NamedAgent::new(
            "tw-feed",
            ThreadNamer {
                role: "feed",
                seen: Arc::clone(seen),
            },
        ),
        NamedAgent::new(
            "tw-gateway",
            ThreadNamer {
                role: "gateway",
                seen: Arc::clone(seen),
            },
        ),
    ]
}

fn sorted(seen: &Arc<Mutex<Vec<(String, String)>>>) -> Vec<(String, String)> {
    let mut v = seen.lock().map(|v| v.clone()).unwrap_or_default();
    v.sort();
    v
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn launch_dedicated_gives_each_agent_its_thread() -> anyhow::Result<()> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let launched = launch(ThreadingMode::Dedicated, &config("unused"), namers(&seen))?;
    wait_until("both agents started", WAIT, || sorted(&seen).len() == 2)?;
    assert!(launched.is_running());
    assert_eq!(
        sorted(&seen),
        pairs(&[("feed", "tw-feed"), ("gateway", "tw-gateway")])
    );
    let exits = launched.stop()?;
    let roles: Vec<&str> = exits.iter().map(|e| e.role.as_str()).collect();
    assert_eq!(roles, ["feed", "gateway"]);
    Ok(())
}

#[test]
fn launch_shared_runs_all_agents_on_one_thread() -> anyhow::Result<()> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let launched = launch(ThreadingMode::Shared, &config("tw-shared"), namers(&seen))?;
    wait_until("both agents started", WAIT, || sorted(&seen).len() == 2)?;
    assert_eq!(
        sorted(&seen),
        pairs(&[("feed", "tw-shared"), ("gateway", "tw-shared")])
    );
    let exits = launched.stop()?;
    assert_eq!(exits.len(), 1);
    assert_eq!(
        exits.first().map(|e| e.role.as_str()),
        Some("[feed,gateway]")
    );
    Ok(())
}

#[test]
fn launch_invoker_runs_on_the_callers_thread() -> anyhow::Result<()> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let here = std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_owned();
    let mut launched = launch(ThreadingMode::Invoker, &config("unused"), namers(&seen))?;
    assert_eq!(sorted(&seen), pairs(&[("feed", &here), ("gateway", &here)]));
    let Launched::Invoker(invoker) = &mut launched else {
        anyhow::bail!("expected an invoker, got {launched:?}");
    };
    assert_eq!(
        invoker.invoke(Nanos(1)).map_err(|e| anyhow::anyhow!(e))?,
        2,
        "work counts are summed"
    );
    assert!(launched.stop()?.is_empty());
    Ok(())
}

#[test]
fn launch_reports_a_failed_invoker_start() {
    let (probe, calls) = Probe::new("bad");
    let result = launch(
        ThreadingMode::Invoker,
        &config("unused"),
        vec![NamedAgent::new("bad", probe.with_fault(Fault::Start))],
    );
    assert!(
        matches!(result, Err(RunnerError::Start { ref role, .. }) if role == "[bad]"),
        "{result:?}"
    );
    assert_eq!(calls.get(), (1, 0, 1));
}

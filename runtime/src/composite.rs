//! [`CompositeAgent`]: several agents sharing one thread (Aeron's `CompositeAgent`).
//!
//! Each duty cycle calls every agent's `do_work` in order with the same `now` and sums the
//! work counts. `on_start` starts the agents in order and stops at the first failure;
//! `on_close` closes every agent whose `on_start` was called, even if an earlier one
//! panics while closing (the first panic is re-raised after all are closed). This module
//! must not contain trading logic or I/O.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::agent::{Agent, AgentError};
use crate::time::Nanos;

/// Several agents run as one, in order, on one thread.
pub struct CompositeAgent {
    /// The agents, in duty-cycle order.
    agents: Vec<Box<dyn Agent + Send>>,
    /// `[a,b,c]` from the agents' role names.
    role: String,
    /// How many agents (from the front) had `on_start` called and await `on_close`.
    started: usize,
}

impl CompositeAgent {
    /// Combines `agents`; the role name is their role names joined, e.g. `[feed,gateway]`.
    pub fn new(agents: Vec<Box<dyn Agent + Send>>) -> CompositeAgent {
        let names: Vec<&str> = agents.iter().map(|a| a.role_name()).collect();
        let role = format!("[{}]", names.join(","));
        CompositeAgent {
            agents,
            role,
            started: 0,
        }
    }

    /// The number of agents combined.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether no agents are combined.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }
}

impl std::fmt::Debug for CompositeAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompositeAgent")
            .field("role", &self.role)
            .field("started", &self.started)
            .finish()
    }
}

impl Agent for CompositeAgent {
    fn role_name(&self) -> &str {
        &self.role
    }

    fn on_start(&mut self) -> Result<(), AgentError> {
        for agent in &mut self.agents[self.started..] {
            // Counted before the call: `on_close` follows any `on_start` attempt.
            self.started += 1;
            agent.on_start().map_err(|e| e.in_role(agent.role_name()))?;
        }
        Ok(())
    }

    fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError> {
        let mut work = 0usize;
        for agent in &mut self.agents {
            match agent.do_work(now) {
                Ok(n) => work = work.saturating_add(n),
                Err(e) => return Err(e.in_role(agent.role_name())),
            }
        }
        Ok(work)
    }

    fn on_close(&mut self) {
        let mut first_panic = None;
        for agent in &mut self.agents[..self.started] {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| agent.on_close())) {
                first_panic.get_or_insert(payload);
            }
        }
        self.started = 0;
        if let Some(payload) = first_panic {
            resume_unwind(payload);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records lifecycle calls into a shared log; can fail or panic on request.
    struct Probe {
        name: &'static str,
        log: Arc<Mutex<Vec<String>>>,
        work: usize,
        fail_start: bool,
        fail_work: bool,
        panic_close: bool,
    }

    impl Probe {
        fn new(name: &'static str, log: &Arc<Mutex<Vec<String>>>, work: usize) -> Probe {
            Probe {
                name,
                log: Arc::clone(log),
                work,
                fail_start: false,
                fail_work: false,
                panic_close: false,
            }
        }

        fn note(&self, what: &str) {
            if let Ok(mut log) = self.log.lock() {
                log.push(format!("{}:{what}", self.name));
            }
        }
    }

    impl Agent for Probe {
        fn role_name(&self) -> &str {
            self.name
        }

        fn on_start(&mut self) -> Result<(), AgentError> {
            self.note("start");
            if self.fail_start {
                Err(AgentError::msg("no start"))
            } else {
                Ok(())
            }
        }

        fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError> {
            self.note(&format!("work@{}", now.get()));
            if self.fail_work {
                Err(AgentError::msg("broken"))
            } else {
                Ok(self.work)
            }
        }

        fn on_close(&mut self) {
            self.note("close");
            assert!(!self.panic_close, "close failed in {}", self.name);
        }
    }

    fn log_of(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
        log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    #[test]
    fn sums_work_and_joins_roles() -> Result<(), AgentError> {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut c = CompositeAgent::new(vec![
            Box::new(Probe::new("a", &log, 2)),
            Box::new(Probe::new("b", &log, 0)),
            Box::new(Probe::new("c", &log, 5)),
        ]);
        assert_eq!(c.role_name(), "[a,b,c]");
        assert_eq!(c.len(), 3);
        c.on_start()?;
        assert_eq!(c.do_work(Nanos(9))?, 7);
        c.on_close();
        c.on_close();
        assert_eq!(
            log_of(&log),
            [
                "a:start", "b:start", "c:start", "a:work@9", "b:work@9", "c:work@9", "a:close",
                "b:close", "c:close"
            ]
        );
        Ok(())
    }

    #[test]
    fn failed_start_closes_the_agents_started_so_far() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut b = Probe::new("b", &log, 0);
        b.fail_start = true;
        let mut c = CompositeAgent::new(vec![
            Box::new(Probe::new("a", &log, 0)),
            Box::new(b),
            Box::new(Probe::new("c", &log, 0)),
        ]);
        let error = c.on_start().err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("agent b: no start"));
        c.on_close();
        assert_eq!(log_of(&log), ["a:start", "b:start", "a:close", "b:close"]);
    }

    #[test]
    fn work_error_names_the_agent() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut b = Probe::new("b", &log, 1);
        b.fail_work = true;
        let mut c = CompositeAgent::new(vec![Box::new(Probe::new("a", &log, 1)), Box::new(b)]);
        let error = c.do_work(Nanos(1)).err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("agent b: broken"));
    }

    #[test]
    fn close_reaches_every_agent_even_if_one_panics() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut a = Probe::new("a", &log, 0);
        a.panic_close = true;
        let mut c = CompositeAgent::new(vec![Box::new(a), Box::new(Probe::new("b", &log, 0))]);
        assert!(c.on_start().is_ok());
        let closed = catch_unwind(AssertUnwindSafe(|| c.on_close()));
        let message = closed
            .err()
            .map(|p| crate::runner::panic_message(p.as_ref()));
        assert_eq!(message.as_deref(), Some("close failed in a"));
        assert_eq!(log_of(&log), ["a:start", "b:start", "a:close", "b:close"]);
    }
}

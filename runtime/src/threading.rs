//! Threading modes: how agents are mapped onto threads, as configuration (Aeron's
//! `ThreadingMode`).
//!
//! - [`ThreadingMode::Dedicated`]: one [`AgentRunner`] per agent, each on its own core.
//! - [`ThreadingMode::Shared`]: one runner with a [`CompositeAgent`] of all agents.
//! - [`ThreadingMode::Invoker`]: no thread; an [`AgentInvoker`] over a [`CompositeAgent`]
//!   that the caller drives (tests, 2-core hosts).
//!
//! [`launch`] turns a mode and a list of named agents into running agents. This module
//! must not contain trading logic.

use serde::{Deserialize, Serialize};

use crate::agent::Agent;
use crate::composite::CompositeAgent;
use crate::invoker::AgentInvoker;
use crate::runner::{AgentRunner, RunnerConfig, RunnerError, RunnerExit};

/// How agents are mapped onto threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadingMode {
    /// One thread per agent.
    #[default]
    Dedicated,
    /// All agents on one thread.
    Shared,
    /// All agents on the caller's thread.
    Invoker,
}

/// An agent with the thread name and core it gets in dedicated mode.
pub struct NamedAgent {
    /// Thread name in dedicated mode.
    pub name: String,
    /// Core to pin to in dedicated mode.
    pub core: Option<usize>,
    /// The agent.
    pub agent: Box<dyn Agent + Send>,
}

impl NamedAgent {
    /// An unpinned named agent.
    pub fn new(name: impl Into<String>, agent: impl Agent + Send + 'static) -> NamedAgent {
        NamedAgent {
            name: name.into(),
            core: None,
            agent: Box::new(agent),
        }
    }

    /// This agent pinned to `core` in dedicated mode.
    pub fn on_core(mut self, core: usize) -> NamedAgent {
        self.core = Some(core);
        self
    }
}

impl std::fmt::Debug for NamedAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedAgent")
            .field("name", &self.name)
            .field("core", &self.core)
            .field("role", &self.agent.role_name())
            .finish()
    }
}

/// Agents launched in some [`ThreadingMode`].
#[derive(Debug)]
pub enum Launched {
    /// One runner per agent, in the order given.
    Dedicated(Vec<AgentRunner>),
    /// One runner for all agents.
    Shared(AgentRunner),
    /// A started invoker for the caller to drive.
    Invoker(AgentInvoker<CompositeAgent>),
}

impl Launched {
    /// Whether every launched thread is still running (always true for an invoker).
    pub fn is_running(&self) -> bool {
        match self {
            Launched::Dedicated(runners) => runners.iter().all(AgentRunner::is_running),
            Launched::Shared(runner) => runner.is_running(),
            Launched::Invoker(_) => true,
        }
    }

    /// Stops everything (all runners, even if one failed) and returns the exits, or the
    /// first error. An invoker is closed and yields no exits.
    pub fn stop(self) -> Result<Vec<RunnerExit>, RunnerError> {
        match self {
            Launched::Dedicated(runners) => {
                for runner in &runners {
                    runner.stop_handle().stop();
                }
                let mut exits = Vec::with_capacity(runners.len());
                let mut first_error = None;
                for runner in runners {
                    match runner.join() {
                        Ok(exit) => exits.push(exit),
                        Err(error) => {
                            first_error.get_or_insert(error);
                        }
                    }
                }
                first_error.map_or(Ok(exits), Err)
            }
            Launched::Shared(runner) => runner.stop().map(|exit| vec![exit]),
            Launched::Invoker(mut invoker) => {
                invoker.close();
                Ok(Vec::new())
            }
        }
    }
}

/// Launches `agents` in `mode`. `template` supplies the idle strategy, threshold and pin
/// policy; in dedicated mode each runner takes its name and core from its [`NamedAgent`],
/// in shared mode the single runner uses the template's name and core. If one runner
/// cannot start, those already started are stopped and the error returned.
pub fn launch(
    mode: ThreadingMode,
    template: &RunnerConfig,
    agents: Vec<NamedAgent>,
) -> Result<Launched, RunnerError> {
    match mode {
        ThreadingMode::Dedicated => {
            let mut runners = Vec::with_capacity(agents.len());
            for named in agents {
                let config = RunnerConfig {
                    name: named.name,
                    core: named.core,
                    ..template.clone()
                };
                // On error the runners already started are dropped, which stops them.
                runners.push(AgentRunner::start(config, named.agent)?);
            }
            Ok(Launched::Dedicated(runners))
        }
        ThreadingMode::Shared => {
            let composite = CompositeAgent::new(agents.into_iter().map(|n| n.agent).collect());
            Ok(Launched::Shared(AgentRunner::start(
                template.clone(),
                composite,
            )?))
        }
        ThreadingMode::Invoker => {
            let composite = CompositeAgent::new(agents.into_iter().map(|n| n.agent).collect());
            let mut invoker =
                AgentInvoker::with_cycle_threshold(composite, template.cycle_threshold());
            match invoker.start() {
                Ok(()) => Ok(Launched::Invoker(invoker)),
                Err(source) => Err(RunnerError::Start {
                    role: invoker.agent().role_name().to_owned(),
                    source,
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_parses_snake_case() -> Result<(), toml::de::Error> {
        #[derive(Deserialize)]
        struct Doc {
            mode: ThreadingMode,
        }
        for (text, want) in [
            ("dedicated", ThreadingMode::Dedicated),
            ("shared", ThreadingMode::Shared),
            ("invoker", ThreadingMode::Invoker),
        ] {
            let doc: Doc = toml::from_str(&format!("mode = \"{text}\""))?;
            assert_eq!(doc.mode, want);
        }
        assert!(toml::from_str::<Doc>(r#"mode = "Shared""#).is_err());
        Ok(())
    }
}

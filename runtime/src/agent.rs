//! The [`Agent`] trait: a bounded unit of work per duty cycle (Aeron's `Agent`).
//!
//! An agent's `do_work(now)` does what is ready, never blocks, and returns how much it
//! did; an [`IdleStrategy`](crate::idle::IdleStrategy) turns a zero into spinning, yielding
//! or parking. Who calls it (a dedicated thread, a shared thread, or the caller) is
//! configuration ([`crate::threading`]). This module defines the contract only; it must not
//! contain trading logic or I/O.

use std::error::Error;
use std::fmt;
use std::ops::Deref;

use crate::time::Nanos;

/// A unit of work driven in a duty cycle: start once, `do_work` repeatedly, close once.
pub trait Agent {
    /// A short name for logs, thread names and errors.
    fn role_name(&self) -> &str;

    /// Called once on the agent's thread before the first `do_work`.
    fn on_start(&mut self) -> Result<(), AgentError> {
        Ok(())
    }

    /// Does whatever work is ready at `now` without blocking; returns how much was done
    /// (0 lets the idle strategy back off). An error stops the agent.
    fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError>;

    /// Called once after the last `do_work` (also after an error or a panic), on the
    /// agent's thread, whenever `on_start` was called (even if it failed).
    fn on_close(&mut self) {}
}

impl<A: Agent + ?Sized> Agent for Box<A> {
    fn role_name(&self) -> &str {
        (**self).role_name()
    }

    fn on_start(&mut self) -> Result<(), AgentError> {
        (**self).on_start()
    }

    fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError> {
        (**self).do_work(now)
    }

    fn on_close(&mut self) {
        (**self).on_close()
    }
}

/// Why an agent stopped: any error converts into it with `?` (boxed: errors are off the
/// hot path).
///
/// Like `anyhow::Error` it does not implement [`Error`] itself (that would collide with the
/// blanket conversion) but dereferences to `dyn Error`, so it can be a `#[source]`.
pub struct AgentError {
    /// The underlying error.
    inner: Box<dyn Error + Send + Sync + 'static>,
}

impl AgentError {
    /// An error carrying only a message.
    pub fn msg(message: impl Into<String>) -> AgentError {
        AgentError {
            inner: Box::new(Message(message.into())),
        }
    }

    /// Wraps this error with the role of the agent that raised it.
    pub fn in_role(self, role: &str) -> AgentError {
        AgentError {
            inner: Box::new(InRole {
                role: role.to_owned(),
                source: self.inner,
            }),
        }
    }

    /// The underlying error.
    pub fn as_error(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.inner
    }

    /// The underlying error, boxed.
    pub fn into_inner(self) -> Box<dyn Error + Send + Sync + 'static> {
        self.inner
    }
}

impl<E: Error + Send + Sync + 'static> From<E> for AgentError {
    fn from(error: E) -> AgentError {
        AgentError {
            inner: Box::new(error),
        }
    }
}

impl From<AgentError> for Box<dyn Error + Send + Sync + 'static> {
    fn from(error: AgentError) -> Self {
        error.inner
    }
}

impl Deref for AgentError {
    type Target = dyn Error + Send + Sync + 'static;

    fn deref(&self) -> &Self::Target {
        &*self.inner
    }
}

impl fmt::Debug for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

/// An error that is only a message ([`AgentError::msg`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

/// An error tagged with the role of the agent that raised it ([`AgentError::in_role`]).
#[derive(Debug, thiserror::Error)]
#[error("agent {role}: {source}")]
struct InRole {
    /// The agent's role name.
    role: String,
    /// What went wrong.
    source: Box<dyn Error + Send + Sync + 'static>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An agent whose work fails through `?` on a std error.
    struct Parser;

    impl Agent for Parser {
        fn role_name(&self) -> &str {
            "parser"
        }

        fn do_work(&mut self, _now: Nanos) -> Result<usize, AgentError> {
            let n: usize = "not a number".parse()?;
            Ok(n)
        }
    }

    #[test]
    fn std_errors_convert_with_question_mark() {
        let mut agent: Box<dyn Agent + Send> = Box::new(Parser);
        assert!(agent.on_start().is_ok());
        let error = agent.do_work(Nanos::ZERO).err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("invalid digit found in string"));
        agent.on_close();
    }

    #[test]
    fn message_and_role_display() {
        let error = AgentError::msg("queue full").in_role("gateway");
        assert_eq!(error.to_string(), "agent gateway: queue full");
        assert_eq!(
            error.as_error().source().map(|s| s.to_string()).as_deref(),
            Some("queue full")
        );
    }

    #[test]
    fn usable_as_a_thiserror_source() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] AgentError);
        let outer = Outer(AgentError::msg("inner"));
        assert_eq!(
            outer.source().map(|s| s.to_string()).as_deref(),
            Some("inner")
        );
    }
}

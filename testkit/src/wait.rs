//! Bounded waits for tests: poll a condition, or run a closure on a thread, with a limit.
//!
//! Every wait a test makes goes through here so that a broken component fails the test
//! with a message naming what was awaited, instead of hanging the suite. These helpers
//! read the wall clock directly (test support, not a hot path) and must not be used by
//! production code.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

/// The first polls only yield; after that the poll sleeps, doubling up to this period.
const MAX_POLL_SLEEP: Duration = Duration::from_millis(5);
/// Polls that only yield before [`wait_until`] starts sleeping.
const YIELD_POLLS: u32 = 16;
/// The first sleep of [`wait_until`]'s backoff.
const MIN_POLL_SLEEP: Duration = Duration::from_micros(20);

/// Polls `cond` until it returns true, failing if `timeout` passes first.
///
/// The poll backs off from yielding to sleeping (20 µs doubling to 5 ms), so a waiting
/// test never busy-spins. The error names `what` and the timeout.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    #[allow(clippy::disallowed_methods)] // test support: bounds a wait, not a hot path
    let start = Instant::now();
    let mut polls = 0u32;
    let mut sleep = MIN_POLL_SLEEP;
    loop {
        if cond() {
            return Ok(());
        }
        #[allow(clippy::disallowed_methods)] // test support: bounds a wait, not a hot path
        let waited = start.elapsed();
        if waited >= timeout {
            bail!("timed out after {timeout:?} waiting until {what}");
        }
        if polls < YIELD_POLLS {
            polls += 1;
            thread::yield_now();
        } else {
            thread::sleep(sleep);
            sleep = (sleep * 2).min(MAX_POLL_SLEEP);
        }
    }
}

/// Runs `f` on a new thread named after `what` and returns its result, failing if it
/// does not finish within `timeout` or if it panics (the error carries the panic message).
///
/// On a timeout the thread is left running detached: Rust cannot kill it, but the test
/// fails instead of hanging.
pub fn run_bounded<T: Send + 'static>(
    what: &str,
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let (tx, rx) = mpsc::sync_channel(1);
    let handle = thread::Builder::new()
        .name(thread_name(what))
        .spawn(move || {
            let outcome = catch_unwind(AssertUnwindSafe(f));
            // The receiver is gone only if the caller already timed out; nobody is left to tell.
            let _ = tx.send(outcome);
        })
        .with_context(|| format!("spawning a thread to run {what}"))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(value)) => {
            // The closure has returned; the thread only has to exit now.
            let _ = handle.join();
            Ok(value)
        }
        Ok(Err(payload)) => {
            let _ = handle.join();
            Err(anyhow!(
                "{what} panicked: {}",
                panic_message(payload.as_ref())
            ))
        }
        Err(RecvTimeoutError::Timeout) => Err(anyhow!("{what} did not finish within {timeout:?}")),
        Err(RecvTimeoutError::Disconnected) => Err(anyhow!("{what} ended without a result")),
    }
}

/// The text of a panic payload (`&str` or `String`), or a placeholder for other payloads.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// A thread name derived from `what`: Linux shows at most 15 bytes, and names may not
/// contain NUL.
fn thread_name(what: &str) -> String {
    what.chars().filter(|c| *c != '\0').take(15).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    #[test]
    fn wait_until_returns_once_condition_holds() {
        let mut calls = 0;
        let result = wait_until("three polls", Duration::from_secs(10), || {
            calls += 1;
            calls >= 3
        });
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(calls, 3);
    }

    #[test]
    fn wait_until_times_out_with_a_message() {
        let result = wait_until("the impossible", Duration::from_millis(20), || false);
        let message = result.err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(message.contains("the impossible"), "{message}");
        assert!(message.contains("20ms"), "{message}");
    }

    #[test]
    fn wait_until_sees_another_thread() {
        let flag = Arc::new(AtomicBool::new(false));
        let setter = {
            let flag = Arc::clone(&flag);
            thread::spawn(move || flag.store(true, Ordering::Release))
        };
        let result = wait_until("flag set", Duration::from_secs(10), || {
            flag.load(Ordering::Acquire)
        });
        assert!(result.is_ok(), "{result:?}");
        assert!(setter.join().is_ok());
    }

    #[test]
    fn run_bounded_returns_the_value() {
        let result = run_bounded("sum", Duration::from_secs(10), || (1..=10).sum::<u32>());
        assert_eq!(result.ok(), Some(55));
    }

    #[test]
    fn run_bounded_reports_a_panic_with_its_message() {
        let result: anyhow::Result<()> = run_bounded("doomed", Duration::from_secs(10), || {
            panic!("kaboom {}", 42)
        });
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("doomed"), "{message}");
        assert!(message.contains("kaboom 42"), "{message}");
    }

    #[test]
    fn run_bounded_times_out() {
        let release = Arc::new(AtomicU32::new(0));
        let result = {
            let release = Arc::clone(&release);
            run_bounded("stuck", Duration::from_millis(20), move || {
                // Bounded itself, so the detached thread ends soon after the test.
                let _ = wait_until("released", Duration::from_secs(10), || {
                    release.load(Ordering::Acquire) == 1
                });
            })
        };
        release.store(1, Ordering::Release);
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("stuck did not finish within 20ms"),
            "{message}"
        );
    }

    #[test]
    fn thread_names_are_truncated() {
        assert_eq!(thread_name("a\0b"), "ab");
        assert_eq!(thread_name("a very long description of work").len(), 15);
    }
}

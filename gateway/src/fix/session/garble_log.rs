//! [`GarbleLog`]: the rate limit on one connection's WARN lines about garbled input
//! (FIX 4.4 Vol. 2 "Message Validation" 1: garbled messages are dropped, so a peer that
//! sends garbage gets no answer, only our log lines). Without a limit a flood of 84 MB
//! of garbage wrote 572 MB of log.
//!
//! Per window of [`WINDOW`] the first [`LINES_PER_WINDOW`] garbled frames are logged
//! each; the rest are counted, and the count goes out as one summary line when the
//! window has passed (at the next garbled frame or the next timer run, whichever comes
//! first) or when the connection ends. So a connection writes at most
//! `LINES_PER_WINDOW + 1` lines per window, whatever it sends.
//!
//! What it must not do: read a clock (time is the caller's `now`) or allocate.

use std::time::Duration;

use tickwarp_runtime::Nanos;

/// Garbled frames logged each, per window and connection.
pub(crate) const LINES_PER_WINDOW: u32 = 5;
/// The window after which the suppressed count is reported and counting starts again.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);

/// Per-connection state of the limit (see the module docs).
#[derive(Clone, Copy, Debug)]
pub(crate) struct GarbleLog {
    window_start: Nanos,
    logged: u32,
    suppressed: u64,
}

impl GarbleLog {
    /// No garbled input yet; the first window starts at `now`.
    pub(crate) fn new(now: Nanos) -> GarbleLog {
        GarbleLog {
            window_start: now,
            logged: 0,
            suppressed: 0,
        }
    }

    /// A garbled frame at `now`: true if it gets its own line (the caller logs it),
    /// false if it is only counted. Reports the last window's count first if it passed.
    pub(crate) fn admit(&mut self, now: Nanos, peer: &str) -> bool {
        self.poll(now, peer);
        if self.logged < LINES_PER_WINDOW {
            self.logged += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }

    /// Reports the suppressed count once the window has passed at `now`, and starts a
    /// new window.
    pub(crate) fn poll(&mut self, now: Nanos, peer: &str) {
        if now.saturating_sub(self.window_start) < Nanos::from(WINDOW) {
            return;
        }
        self.finish(peer);
        self.window_start = now;
        self.logged = 0;
    }

    /// Reports the suppressed count, if any (the connection ends, or a window passed).
    pub(crate) fn finish(&mut self, peer: &str) {
        if self.suppressed > 0 {
            tracing::warn!(
                peer,
                dropped = self.suppressed,
                window_secs = WINDOW.as_secs(),
                "dropped more garbled input from this connection without logging each"
            );
            self.suppressed = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_lines_of_a_window_are_logged_then_counted() {
        let mut log = GarbleLog::new(Nanos(0));
        let logged = (0..100).filter(|_| log.admit(Nanos(5), "C1")).count();
        assert_eq!(logged, LINES_PER_WINDOW as usize);
        assert_eq!(log.suppressed, 100 - u64::from(LINES_PER_WINDOW));
        // The window passes: the count is reported and lines are admitted again.
        let later = Nanos(0).saturating_add(WINDOW);
        assert!(log.admit(later, "C1"));
        assert_eq!(log.suppressed, 0);
        assert_eq!(log.logged, 1);
    }
}

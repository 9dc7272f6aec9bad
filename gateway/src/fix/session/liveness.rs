//! Heartbeat and TestRequest timing of a FIX session, shared by both roles (FIX 4.4
//! Vol. 2 "Heartbeat", "Test Request"): a Heartbeat after HeartBtInt of our silence; a
//! TestRequest after HeartBtInt plus a reasonable transmission time (20 %) of inbound
//! silence; a disconnect if that goes unanswered as long again.
//!
//! What it must not do: read a clock (time is an argument) or send anything (it says
//! what is due; its owner sends).

use std::time::Duration;

use tickwarp_runtime::Nanos;

/// What the timers ask for at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing.
    Nothing,
    /// Send a Heartbeat.
    Heartbeat,
    /// Send a TestRequest with this TestReqID.
    TestRequest(u64),
    /// The TestRequest went unanswered: disconnect.
    Timeout,
}

/// The timing state of one connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Liveness {
    heartbeat: Nanos,
    last_sent: Nanos,
    last_received: Nanos,
    test_request_sent: Option<Nanos>,
    test_requests: u64,
}

impl Liveness {
    /// Timing with interval `heartbeat`, starting at `now`.
    pub(crate) fn new(heartbeat: Duration, now: Nanos) -> Liveness {
        Liveness {
            heartbeat: Nanos::from(heartbeat),
            last_sent: now,
            last_received: now,
            test_request_sent: None,
            test_requests: 0,
        }
    }

    /// The heartbeat interval.
    pub(crate) fn heartbeat(&self) -> Duration {
        self.heartbeat.as_duration()
    }

    /// Sets the heartbeat interval (agreed at Logon).
    pub(crate) fn set_heartbeat(&mut self, heartbeat: Duration) {
        self.heartbeat = Nanos::from(heartbeat);
    }

    /// We sent something at `now`.
    pub(crate) fn on_sent(&mut self, now: Nanos) {
        self.last_sent = now;
    }

    /// We received a message at `now`: any message answers a TestRequest.
    pub(crate) fn on_received(&mut self, now: Nanos) {
        self.last_received = now;
        self.test_request_sent = None;
    }

    /// HeartBtInt plus the transmission grace (20 %).
    fn silence_limit(&self) -> Nanos {
        let hb = self.heartbeat.get();
        Nanos(hb.saturating_add(hb / 5))
    }

    /// What is due at `now`; a TestRequest is counted as sent (its owner sends it).
    pub(crate) fn poll(&mut self, now: Nanos) -> Due {
        let limit = self.silence_limit();
        match self.test_request_sent {
            Some(sent) if now.saturating_sub(sent) >= limit => return Due::Timeout,
            None if now.saturating_sub(self.last_received) >= limit => {
                self.test_requests += 1;
                self.test_request_sent = Some(now);
                return Due::TestRequest(self.test_requests);
            }
            _ => {}
        }
        if now.saturating_sub(self.last_sent) >= self.heartbeat {
            Due::Heartbeat
        } else {
            Due::Nothing
        }
    }

    /// When [`Liveness::poll`] next has something due.
    pub(crate) fn deadline(&self) -> Nanos {
        let heartbeat = self.last_sent.saturating_add(self.heartbeat.as_duration());
        let inbound = self
            .test_request_sent
            .unwrap_or(self.last_received)
            .saturating_add(self.silence_limit().as_duration());
        heartbeat.min(inbound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn heartbeat_then_test_request_then_timeout() {
        let mut l = Liveness::new(Duration::from_secs(30), Nanos(0));
        assert_eq!(l.deadline(), Nanos(30 * S));
        assert_eq!(l.poll(Nanos(29 * S)), Due::Nothing);
        assert_eq!(l.poll(Nanos(30 * S)), Due::Heartbeat);
        l.on_sent(Nanos(30 * S));
        assert_eq!(l.deadline(), Nanos(36 * S));
        assert_eq!(l.poll(Nanos(36 * S)), Due::TestRequest(1));
        l.on_sent(Nanos(36 * S));
        assert_eq!(l.poll(Nanos(71 * S)), Due::Heartbeat);
        l.on_sent(Nanos(71 * S));
        assert_eq!(l.poll(Nanos(72 * S)), Due::Timeout);
        l.on_received(Nanos(72 * S));
        assert_eq!(l.poll(Nanos(72 * S)), Due::Nothing);
    }
}

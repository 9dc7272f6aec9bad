//! [`FrontDoor`]: the FIX acceptor's limits for connections that have not authenticated
//! yet, for failed logons, and for each logged-on connection (read budget, outbound
//! queue). Read from the `[front_door]` table of the gateway configuration; every key
//! has a default and a range checked at load.
//!
//! This module holds numbers and their checks only; it does no I/O.

use std::time::Duration;

use serde::Deserialize;

/// The acceptor's front-door limits (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrontDoor {
    /// Bytes an anonymous connection may send before its Logon frame is complete.
    pub max_logon_bytes: usize,
    /// With TLS: bytes of handshake an anonymous connection may send on top of
    /// `max_logon_bytes` (counted as read from the socket, records included).
    pub max_handshake_bytes: usize,
    /// Milliseconds an anonymous connection has to complete and authenticate its Logon.
    pub logon_timeout_ms: u64,
    /// Anonymous connections at once; a new one beyond it closes the oldest.
    pub max_anonymous: usize,
    /// Connections held for a delayed failed-logon answer at once; beyond it a failure
    /// is answered at once.
    pub max_penalized: usize,
    /// Password verifications (argon2id) waiting for the verifier thread; a Logon that
    /// finds the queue full is told to retry and is not counted as a failure.
    pub verify_queue: usize,
    /// Bytes read from one connection per duty cycle.
    pub read_budget: usize,
    /// Outbound bytes queued for one session; a consumer beyond it is logged out.
    pub max_outbound_bytes: usize,
    /// Seconds over which failed logons are counted (per source address, per session).
    pub failure_window_secs: u64,
    /// Failures in the window after which each further failure is answered late.
    pub delay_after: u32,
    /// First delay in milliseconds; it doubles with each further failure.
    pub delay_base_ms: u64,
    /// Longest delay in milliseconds.
    pub delay_max_ms: u64,
    /// Failures from one address in the window that lock the address out.
    pub lockout_after: u32,
    /// Failures for one session in the window that stop password verification for it
    /// (a client whose password was verified since start still logs on).
    pub session_lockout_after: u32,
    /// Seconds a lockout lasts.
    pub lockout_secs: u64,
    /// WARN lines about failed logons per second; the rest are counted and summarized.
    pub log_lines_per_sec: u32,
}

impl Default for FrontDoor {
    fn default() -> FrontDoor {
        FrontDoor {
            max_logon_bytes: 4 << 10,
            max_handshake_bytes: 16 << 10,
            logon_timeout_ms: 2_000,
            max_anonymous: 64,
            max_penalized: 256,
            verify_queue: 8,
            read_budget: 64 << 10,
            max_outbound_bytes: 4 << 20,
            failure_window_secs: 60,
            delay_after: 3,
            delay_base_ms: 250,
            delay_max_ms: 8_000,
            lockout_after: 10,
            session_lockout_after: 50,
            lockout_secs: 300,
            log_lines_per_sec: 10,
        }
    }
}

/// A front-door key outside its range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("front_door.{key} = {value} is outside {min}..={max}")]
pub struct FrontDoorError {
    /// The key.
    pub key: &'static str,
    /// Its value.
    pub value: u64,
    /// Smallest accepted.
    pub min: u64,
    /// Largest accepted.
    pub max: u64,
}

impl FrontDoor {
    /// Checks every key against its range.
    pub fn validate(&self) -> Result<(), FrontDoorError> {
        let as_u64 = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        let checks: [(&'static str, u64, u64, u64); 16] = [
            (
                "max_logon_bytes",
                as_u64(self.max_logon_bytes),
                256,
                64 << 10,
            ),
            (
                "max_handshake_bytes",
                as_u64(self.max_handshake_bytes),
                1 << 10,
                64 << 10,
            ),
            ("logon_timeout_ms", self.logon_timeout_ms, 100, 60_000),
            ("max_anonymous", as_u64(self.max_anonymous), 1, 10_000),
            ("max_penalized", as_u64(self.max_penalized), 0, 10_000),
            ("verify_queue", as_u64(self.verify_queue), 1, 1_024),
            ("read_budget", as_u64(self.read_budget), 1 << 10, 16 << 20),
            (
                "max_outbound_bytes",
                as_u64(self.max_outbound_bytes),
                64 << 10,
                1 << 30,
            ),
            ("failure_window_secs", self.failure_window_secs, 1, 86_400),
            ("delay_after", u64::from(self.delay_after), 0, 1_000),
            ("delay_base_ms", self.delay_base_ms, 1, 60_000),
            ("delay_max_ms", self.delay_max_ms, 1, 600_000),
            ("lockout_after", u64::from(self.lockout_after), 1, 1_000_000),
            (
                "session_lockout_after",
                u64::from(self.session_lockout_after),
                1,
                1_000_000,
            ),
            ("lockout_secs", self.lockout_secs, 1, 86_400),
            (
                "log_lines_per_sec",
                u64::from(self.log_lines_per_sec),
                1,
                10_000,
            ),
        ];
        for (key, value, min, max) in checks {
            if !(min..=max).contains(&value) {
                return Err(FrontDoorError {
                    key,
                    value,
                    min,
                    max,
                });
            }
        }
        Ok(())
    }

    /// The anonymous logon timeout.
    pub fn logon_timeout(&self) -> Duration {
        Duration::from_millis(self.logon_timeout_ms)
    }
}

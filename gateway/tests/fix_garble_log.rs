//! Issue 10: a garbage flood writes a bounded number of log lines. A logged-on session is
//! fed garbled frames for a minute of virtual time; the WARN lines are captured through a
//! `tracing` fmt subscriber. Per connection and 10 s window the first 5 garbled frames
//! get a line each and the rest one summary line with their count, so the lines are
//! bounded by the windows, not by the bytes, and the counts add up to what was sent.

mod util;

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tickwarp_gateway::fix::store::MemoryStore;
use tickwarp_gateway::fix::{SessionEvent, SessionState};
use util::Harness;

/// A writer into a shared buffer, for the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Runs `f` with WARN and above captured; returns the lines.
fn capture(f: impl FnOnce()) -> Vec<String> {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    captured.lines()
}

fn logged_on() -> Harness<MemoryStore> {
    let mut h = Harness::new(MemoryStore::new());
    h.logon();
    h
}

/// The `dropped=N` of a summary line.
fn dropped(line: &str) -> Option<u64> {
    let rest = line.split("dropped=").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn a_flood_of_garbled_messages_logs_a_bounded_number_of_lines_whose_counts_add_up() {
    let mut h = logged_on();
    let mut heartbeat = h.client_msg("0", 2, "");
    let n = heartbeat.len();
    heartbeat[n - 3] ^= 1; // a wrong CheckSum: garbled, dropped, no MsgSeqNum consumed
    let per_step = 200;
    let steps = 600; // 60 s of virtual time, 100 ms apart: 120,000 garbled frames
    let mut flood = Vec::with_capacity(heartbeat.len() * per_step);
    for _ in 0..per_step {
        flood.extend_from_slice(&heartbeat);
    }
    let lines = capture(|| {
        for _ in 0..steps {
            h.feed(&flood);
            h.advance(Duration::from_millis(100));
        }
        // The connection ends: the last window's count is reported.
        h.send("5", "");
    });
    let sent = (per_step * steps) as u64;
    let each = lines
        .iter()
        .filter(|l| l.contains("dropping garbled message"))
        .count() as u64;
    let summarized: u64 = lines.iter().filter_map(|l| dropped(l)).sum();
    assert!(
        lines.len() <= 6 * 7 + 2,
        "{} log lines for {sent} garbled frames over 60 s (bound: 6 per 10 s window): {:?}",
        lines.len(),
        lines.get(..10)
    );
    assert_eq!(
        each + summarized,
        sent,
        "{each} lines and {summarized} summarized for {sent} frames: {lines:?}"
    );
    assert!(
        each >= 5,
        "the first garbled frames are logged each: {lines:?}"
    );
    // Nothing consumed a MsgSeqNum: the Logout with MsgSeqNum 2 was processed.
    let events = h.events();
    assert!(
        matches!(events.last(), Some(SessionEvent::Disconnect { .. }))
            || h.session.state() != SessionState::Active,
        "{events:?}"
    );
}

#[test]
fn a_flood_of_raw_garbage_logs_a_bounded_number_of_lines() {
    let mut h = logged_on();
    // 8 MiB of bytes that are no FIX frame, 64 KiB per read, 10 ms apart (1.28 s).
    let junk: Vec<u8> = (0..64 << 10)
        .map(|i: u32| b"x8=FIX9=\x01"[i as usize % 9])
        .collect();
    let lines = capture(|| {
        for _ in 0..128 {
            h.feed(&junk);
            h.advance(Duration::from_millis(10));
        }
    });
    assert!(
        lines.len() <= 6,
        "{} log lines for 8 MiB of garbage in one window: {:?}",
        lines.len(),
        lines.get(..10)
    );
    assert!(!lines.is_empty(), "garbage was not logged at all");
}

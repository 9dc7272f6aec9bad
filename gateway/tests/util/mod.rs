//! Test harness for the FIX session: a scripted client on a virtual clock.
//!
//! Messages are written with `|` for SOH. The harness frames them (BodyLength, CheckSum),
//! feeds them to a [`Session`], advances a virtual clock, and decodes what the session
//! sends back into [`Out`] values that tests inspect field by field.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use tickwarp_gateway::fix::codec::{Framing, Message, checksum, scan_frame};
use tickwarp_gateway::fix::fields::format_timestamp;
use tickwarp_gateway::fix::{Now, Session, SessionConfig, SessionEvent, SessionId, SessionStore};
use tickwarp_runtime::{Nanos, UnixNanos};
use tickwarp_wire::{AccountId, InstrumentId, InstrumentTable};

/// 2025-11-25 10:00:00 UTC.
pub const START_WALL: UnixNanos = UnixNanos(1_764_064_800_000_000_000);
/// Monotonic start of every test.
pub const START_MONO: Nanos = Nanos(1_000_000_000);

/// `|` to SOH.
pub fn soh(s: &str) -> Vec<u8> {
    s.bytes().map(|b| if b == b'|' { 1 } else { b }).collect()
}

/// A frame around `body` (with `|` for SOH) with correct BodyLength and CheckSum.
pub fn frame(body: &str) -> Vec<u8> {
    let body = soh(body);
    let mut out = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
    out.extend_from_slice(&body);
    let sum = checksum(&out);
    out.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    out
}

/// The session configuration of the tests: we are `GW`, the client is `CLIENT`.
pub fn config() -> SessionConfig {
    let mut c = SessionConfig::new(SessionId(7), "GW", "CLIENT", AccountId(42));
    c.username = Some("alice".to_owned());
    c.password = Some("secret".to_owned());
    c
}

/// Instruments: ACME = 1, INIT = 2.
pub fn instruments() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    for (s, id) in [("ACME", 1), ("INIT", 2)] {
        t.insert_str(s, InstrumentId(id))
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    t
}

/// One message the session sent, as `(tag, value)` text pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Out {
    /// The fields after BodyLength, before CheckSum.
    pub fields: Vec<(u32, String)>,
}

impl Out {
    /// MsgType (35).
    pub fn msg_type(&self) -> &str {
        self.get(35).unwrap_or("")
    }

    /// A field value.
    pub fn get(&self, tag: u32) -> Option<&str> {
        self.fields
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric field value (panics with the message if absent).
    pub fn num(&self, tag: u32) -> u64 {
        self.get(tag)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("tag {tag} missing or not a number in {self:?}"))
    }

    /// MsgSeqNum (34).
    pub fn seq(&self) -> u64 {
        self.num(34)
    }
}

/// A session and a scripted client on a virtual clock.
pub struct Harness<S: SessionStore> {
    /// The session under test.
    pub session: Session<S>,
    /// The virtual clock.
    pub now: Now,
    /// The client's next MsgSeqNum.
    pub client_seq: u64,
    rx: Vec<u8>,
}

impl<S: SessionStore> Harness<S> {
    /// A freshly connected session over `store`.
    pub fn new(store: S) -> Harness<S> {
        Self::with_config(config(), store)
    }

    /// A freshly connected session with `config` over `store`.
    pub fn with_config(config: SessionConfig, store: S) -> Harness<S> {
        let now = Now {
            mono: START_MONO,
            wall: START_WALL,
        };
        let client_seq = store.seq_nums().next_in;
        Harness {
            session: Session::new(config, instruments(), store, now),
            now,
            client_seq,
            rx: Vec::new(),
        }
    }

    /// The client's SendingTime for now.
    pub fn sending_time(&self) -> String {
        String::from_utf8_lossy(&format_timestamp(self.now.wall)).into_owned()
    }

    /// A client message of `msg_type` with MsgSeqNum `seq` and `body` (`|` for SOH).
    pub fn client_msg(&self, msg_type: &str, seq: u64, body: &str) -> Vec<u8> {
        frame(&format!(
            "35={msg_type}|34={seq}|49=CLIENT|52={}|56=GW|{body}",
            self.sending_time()
        ))
    }

    /// Sends a client message with the client's next MsgSeqNum.
    pub fn send(&mut self, msg_type: &str, body: &str) {
        let bytes = self.client_msg(msg_type, self.client_seq, body);
        self.client_seq += 1;
        self.feed(&bytes);
    }

    /// Sends a client message with an explicit MsgSeqNum (the client's counter is untouched).
    pub fn send_seq(&mut self, msg_type: &str, seq: u64, body: &str) {
        let bytes = self.client_msg(msg_type, seq, body);
        self.feed(&bytes);
    }

    /// Feeds raw bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.session.handle_bytes(self.now, bytes);
    }

    /// The standard valid Logon.
    pub fn logon(&mut self) {
        self.send("A", "98=0|108=30|553=alice|554=secret|");
        let out = self.outbound();
        assert_eq!(out.first().map(Out::msg_type), Some("A"), "{out:?}");
        let events = self.events();
        assert!(
            matches!(events.first(), Some(SessionEvent::LoggedOn { .. })),
            "{events:?}"
        );
    }

    /// Advances the virtual clock by `d` and runs the session's timers.
    pub fn advance(&mut self, d: Duration) {
        self.now.mono = self.now.mono.saturating_add(d);
        self.now.wall = UnixNanos(self.now.wall.0 + d.as_nanos() as u64);
        self.session.handle_timeout(self.now);
    }

    /// Everything the session sent since the last call, decoded.
    pub fn outbound(&mut self) -> Vec<Out> {
        let mut buf = [0u8; 1024];
        loop {
            let n = self.session.poll_transmit(&mut buf);
            if n == 0 {
                break;
            }
            self.rx.extend_from_slice(&buf[..n]);
        }
        let mut out = Vec::new();
        loop {
            match scan_frame(&self.rx, 1 << 20) {
                Framing::Complete(len) => {
                    let bytes: Vec<u8> = self.rx.drain(..len).collect();
                    let msg = Message::decode(&bytes)
                        .unwrap_or_else(|e| panic!("session sent an undecodable frame: {e}"));
                    out.push(Out {
                        fields: msg
                            .fields()
                            .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
                            .collect(),
                    });
                }
                Framing::Incomplete => break,
                Framing::Garbled { reason, .. } => panic!("session sent garbage: {reason}"),
            }
        }
        out
    }

    /// Every event since the last call.
    pub fn events(&mut self) -> Vec<SessionEvent> {
        std::iter::from_fn(|| self.session.poll_event()).collect()
    }
}

//! Fuzz target: the FIX acceptor session (session core and retail application layer,
//! sans-IO) fed an arbitrary byte stream as the client, split into pieces whose size
//! the first byte picks, with time advancing between pieces and a long silence at the
//! end. Nothing may panic, and the session must not hold more outbound bytes than its
//! bounds allow.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tickwarp_gateway::fix::messages::SessionId;
use tickwarp_gateway::fix::session::Now;
use tickwarp_gateway::fix::{MemoryStore, Session, SessionConfig};
use tickwarp_runtime::{Nanos, UnixNanos};
use tickwarp_wire::{AccountId, InstrumentId, InstrumentTable};

/// 2026-01-01T00:00:00Z, the SendingTime of the seeds.
const WALL: u64 = 1_767_225_600_000_000_000;

fn at(ms: u64) -> Now {
    Now {
        mono: Nanos(1_000_000_000 + ms * 1_000_000),
        wall: UnixNanos(WALL + ms * 1_000_000),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, stream)) = data.split_first() else {
        return;
    };
    let mut config = SessionConfig::new(SessionId(1), "GW", "CLIENT", AccountId(201));
    config.password = (mode & 1 == 1).then(|| "secret".to_owned());
    let mut instruments = InstrumentTable::new();
    instruments
        .insert_str("ACME", InstrumentId(1))
        .expect("instrument");
    let mut session = Session::new(config, instruments, MemoryStore::new(), at(0));
    let chunk = 1 + usize::from(mode >> 1) * 4;
    let mut out = vec![0u8; 4096];
    let mut ms = 0;
    for piece in stream.chunks(chunk) {
        ms += 10;
        session.handle_bytes(at(ms), piece);
        session.handle_timeout(at(ms));
        while session.poll_event().is_some() {}
        session.flush();
        while session.poll_transmit(&mut out) > 0 {}
        assert!(session.transmit_queue().is_empty(), "transmit not drained");
    }
    for silence in [30_000, 60_000, 120_000] {
        session.handle_timeout(at(ms + silence));
        while session.poll_event().is_some() {}
        session.flush();
        while session.poll_transmit(&mut out) > 0 {}
    }
});

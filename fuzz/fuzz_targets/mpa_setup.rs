//! Fuzz target: MPA connection setup (RFC 5044 §7.1, RFC 6581) fed arbitrary bytes as
//! the peer. The first byte picks the role and policies and how the stream is split;
//! the rest is what the peer sends. Nothing may panic; setup consumes only bytes it was
//! given, queues at most one frame, ends at most once, takes nothing after it ended, and
//! a timeout always ends it.
#![no_main]
use core::time::Duration;
use libfuzzer_sys::fuzz_target;
use tickwarp_rdma::soft::proto::mpa_setup::{
    CrcPolicy, MAX_FRAME_LEN, MarkerPolicy, MpaConfig, MpaEvent, MpaSetup, RtrSet,
};
use tickwarp_runtime::Nanos;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, stream)) = data.split_first() else {
        return;
    };
    let responder = mode & 1 == 0;
    let enhanced = mode & 2 == 0;
    let config = MpaConfig {
        revision: if enhanced { 2 } else { 1 + (mode >> 2 & 1) },
        crc: [CrcPolicy::Request, CrcPolicy::Accept, CrcPolicy::Refuse]
            [usize::from(mode >> 3 & 3) % 3],
        markers: if mode & 0x20 == 0 {
            MarkerPolicy::Refuse
        } else {
            MarkerPolicy::Accept
        },
        enhanced,
        p2p: (enhanced && !responder && mode & 0x40 != 0).then_some(RtrSet::BOTH),
        timeout: Duration::from_secs(1),
        ..MpaConfig::default()
    };
    let start = Nanos(1_000);
    let made = if responder {
        MpaSetup::responder(config, start)
    } else {
        MpaSetup::initiator(config, start)
    };
    let Ok(mut setup) = made else { return };
    let chunk = 1 + usize::from(mode >> 7) * 15;
    let mut out = [0u8; MAX_FRAME_LEN + 1];
    let mut ended = false;
    let mut now = start;
    for piece in stream.chunks(chunk) {
        now = Nanos(now.0 + 1);
        let used = setup.handle_bytes(now, piece);
        assert!(used <= piece.len(), "consumed {used} of {}", piece.len());
        if ended {
            assert_eq!(used, 0, "bytes taken after setup ended");
        }
        while let Some(event) = setup.poll_event() {
            match event {
                MpaEvent::RequestReceived => {
                    assert!(responder, "an initiator received a Request");
                    let decided = if piece.first().is_some_and(|b| b & 1 == 1) {
                        setup.reject(b"fuzz")
                    } else {
                        setup.accept(b"ok")
                    };
                    assert!(decided.is_ok(), "{decided:?}");
                }
                MpaEvent::Negotiated(params) => {
                    assert!(!ended, "setup ended twice");
                    assert!((1..=2).contains(&params.revision));
                    ended = true;
                }
                MpaEvent::Failed(_) => {
                    assert!(!ended, "setup ended twice");
                    ended = true;
                }
            }
        }
        assert!(setup.poll_transmit(&mut out) <= MAX_FRAME_LEN);
    }
    setup.handle_timeout(Nanos(now.0 + 2_000_000_000));
    while let Some(event) = setup.poll_event() {
        assert!(
            matches!(event, MpaEvent::Failed(_)) && !ended,
            "{event:?} after the end"
        );
        ended = true;
    }
    assert!(
        ended || setup.is_established() || setup.is_failed(),
        "a timeout did not end setup"
    );
});

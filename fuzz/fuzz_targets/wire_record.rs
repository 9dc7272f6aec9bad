//! Fuzz target: `tickwarp_wire::decode` on arbitrary bytes must never panic, and a
//! record it accepts must decode again from its own bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = tickwarp_wire::decode(data) {
        assert_eq!(tickwarp_wire::decode(msg.as_bytes()), Ok(msg));
    }
});

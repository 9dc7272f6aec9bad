//! Fuzz target: ITCH 5.0 decoding never panics; an accepted message emits back to its bytes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(m) = tickwarp_feed::itch::Message::parse(data) {
        let mut buf = [0u8; tickwarp_feed::itch::MAX_MESSAGE_LEN];
        assert_eq!(m.emit(&mut buf).ok().and_then(|n| buf.get(..n)), Some(data));
    }
    tickwarp_feed::itch::stream::StreamDecoder::new(data).for_each(drop);
    let _ = tickwarp_feed::itch::moldudp64::parse(data).map(|(_, b)| b.for_each(drop));
});

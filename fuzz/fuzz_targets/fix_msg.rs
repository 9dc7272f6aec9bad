//! Fuzz target: FIX framing, decoding and dictionary validation never panic; an accepted message re-encodes to the same fields.
#![no_main]
use tickwarp_gateway::fix::{Dictionary, Message, MessageWriter, ValidationOptions, scan_frame, validate};
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = scan_frame(data, 8192);
    let Ok(m) = Message::decode(data) else { return };
    let _ = validate(&m, Dictionary::fix44(), &ValidationOptions::default());
    let mut buf = Vec::new();
    let mut w = MessageWriter::begin(&mut buf, m.msg_type());
    m.fields().skip(1).for_each(|(t, v)| _ = w.bytes(t, v));
    let range = w.finish();
    assert!(Message::decode(&buf[range]).is_ok_and(|r| r.fields().eq(m.fields())));
});

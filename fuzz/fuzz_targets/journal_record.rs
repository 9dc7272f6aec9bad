//! Fuzz `parse_record` and the segment header parser: no input may panic them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tickwarp_wire::journal::{SegmentHeader, parse_record};

fuzz_target!(|data: &[u8]| {
    let _ = parse_record(data)
        .map(|(rec, used)| assert!(used == rec.encoded_len() && used <= data.len()));
    let _ = SegmentHeader::parse(data);
});

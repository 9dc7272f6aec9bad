//! Fuzz `parse_frame` (records and commit marks) and the segment header parser: no input
//! may panic them, and a parsed frame never claims more bytes than it was given.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tickwarp_wire::journal::{Frame, MARK_LEN, SegmentHeader, parse_frame};

fuzz_target!(|data: &[u8]| {
    match parse_frame(data) {
        Ok((Frame::Record(rec), used)) => assert!(used == rec.encoded_len() && used <= data.len()),
        Ok((Frame::Mark(_), used)) => assert_eq!(used, MARK_LEN),
        Err(_) => {}
    }
    let _ = SegmentHeader::parse(data);
});

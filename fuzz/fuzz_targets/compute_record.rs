//! Fuzz target: the compute job protocol's decoders on arbitrary bytes must never
//! panic, and a record they accept must encode back to the same bytes.
#![no_main]

use tickwarp_compute::{JobResult, Request};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    match Request::from_bytes(data) {
        Ok(Request::Job(job)) => assert_eq!(&job.to_bytes()[..], data),
        Ok(Request::Cancel(cancel)) => assert_eq!(&cancel.to_bytes()[..], data),
        Err(_) => {}
    }
    if let Ok(r) = JobResult::from_bytes(data) {
        // Compared as bytes: a NaN never equals itself.
        let again = JobResult::from_bytes(&r.to_bytes()).map(|x| x.to_bytes());
        assert_eq!(again, Ok(r.to_bytes()));
    }
});

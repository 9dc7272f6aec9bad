#![no_main]
use libfuzzer_sys::fuzz_target;
use tickwarp_rdma::soft::wire::{DdpFrame, DdpRepr};

fuzz_target!(|data: &[u8]| {
    let frame = DdpFrame::new_unchecked(data);
    let _ = DdpRepr::parse(&frame).map(|_| frame.payload().len());
});

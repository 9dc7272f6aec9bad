#![no_main]
use libfuzzer_sys::fuzz_target;
use tickwarp_rdma::soft::wire::{DdpFrame, RdmapRepr, RdmapTerminateFrame, RdmapTerminateRepr};

fuzz_target!(|data: &[u8]| {
    let _ = RdmapRepr::parse(&DdpFrame::new_unchecked(data));
    let _ = RdmapTerminateRepr::parse(&RdmapTerminateFrame::new_unchecked(data));
});

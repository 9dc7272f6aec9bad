#![no_main]
use libfuzzer_sys::fuzz_target;
use tickwarp_rdma::soft::wire::{MpaFpduFrame, MpaFrame, MpaRepr};

fuzz_target!(|data: &[u8]| {
    let _ = MpaRepr::parse(&MpaFrame::new_unchecked(data));
    let _ = MpaFpduFrame::new_checked(data).map(|f| (f.check_crc(), f.ulpdu().len()));
});

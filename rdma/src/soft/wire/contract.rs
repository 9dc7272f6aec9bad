//! Property tests of the panic contract (module doc of `soft::wire`): for arbitrary
//! bytes that pass `check_len`, any sequence of setters leaves the frame checked (a
//! refused setter returns its error and leaves every byte as it was, an accepted one
//! reads back), and afterwards every getter and `Repr::parse` run without panicking.

use proptest::prelude::*;

use super::ddp::{self, Frame as DdpFrame};
use super::mpa::{self, FpduFrame, Frame as MpaFrame, FrameKind};
use super::rdmap::{
    self, ReadRequestFrame, ReadRequestRepr, TerminateCause, TerminateFrame, TerminateRepr,
};
use super::{Error, Result};

/// Small values that a buffer can often hold, and any value.
fn len16() -> impl Strategy<Value = u16> {
    prop_oneof![0u16..80, any::<u16>()]
}

/// One setter call on a DDP frame (or a write through its payload).
#[derive(Clone, Debug)]
enum DdpOp {
    Control(u8),
    RsvdUlp(u8),
    Stag(u32),
    To(u64),
    RsvdUlpExt(u32),
    Qn(u32),
    Msn(u32),
    Mo(u32),
    Payload(u8),
}

fn ddp_op() -> impl Strategy<Value = DdpOp> {
    prop_oneof![
        any::<u8>().prop_map(DdpOp::Control),
        any::<u8>().prop_map(DdpOp::RsvdUlp),
        any::<u32>().prop_map(DdpOp::Stag),
        any::<u64>().prop_map(DdpOp::To),
        any::<u32>().prop_map(DdpOp::RsvdUlpExt),
        any::<u32>().prop_map(DdpOp::Qn),
        any::<u32>().prop_map(DdpOp::Msn),
        any::<u32>().prop_map(DdpOp::Mo),
        any::<u8>().prop_map(DdpOp::Payload),
    ]
}

/// Applies `op`; an accepted setter must read back.
fn apply_ddp(f: &mut DdpFrame<&mut [u8]>, op: &DdpOp) -> Result<()> {
    match *op {
        DdpOp::Control(v) => f.set_control(v).map(|()| assert_eq!(f.control(), v)),
        DdpOp::RsvdUlp(v) => {
            f.set_rsvd_ulp(v);
            assert_eq!(f.rsvd_ulp(), v);
            Ok(())
        }
        DdpOp::Stag(v) => f.set_stag(v).map(|()| assert_eq!(f.stag(), v)),
        DdpOp::To(v) => f.set_to(v).map(|()| assert_eq!(f.to(), v)),
        DdpOp::RsvdUlpExt(v) => f
            .set_rsvd_ulp_ext(v)
            .map(|()| assert_eq!(f.rsvd_ulp_ext(), v)),
        DdpOp::Qn(v) => f.set_qn(v).map(|()| assert_eq!(f.qn(), v)),
        DdpOp::Msn(v) => f.set_msn(v).map(|()| assert_eq!(f.msn(), v)),
        DdpOp::Mo(v) => f.set_mo(v).map(|()| assert_eq!(f.mo(), v)),
        DdpOp::Payload(v) => {
            f.payload_mut().fill(v);
            Ok(())
        }
    }
}

/// Every getter of a DDP frame, and the DDP and RDMAP parsers over it.
fn read_all_ddp(b: &[u8]) {
    let f = DdpFrame::new_unchecked(b);
    let _ = (f.control(), f.tagged(), f.last(), f.version(), f.rsvd_ulp());
    let _ = (f.header_len(), f.stag(), f.to(), f.rsvd_ulp_ext());
    let _ = (f.qn(), f.msn(), f.mo(), f.payload(), f.payload_ref());
    let _ = ddp::Repr::parse(&f);
    let _ = rdmap::Repr::parse(&f);
}

/// One setter call on an MPA Request/Reply frame.
#[derive(Clone, Debug)]
enum MpaOp {
    Kind(bool),
    Flags(u8),
    Revision(u8),
    PdLength(u16),
    PrivateData(u8),
}

fn mpa_op() -> impl Strategy<Value = MpaOp> {
    prop_oneof![
        any::<bool>().prop_map(MpaOp::Kind),
        any::<u8>().prop_map(MpaOp::Flags),
        any::<u8>().prop_map(MpaOp::Revision),
        len16().prop_map(MpaOp::PdLength),
        any::<u8>().prop_map(MpaOp::PrivateData),
    ]
}

fn apply_mpa(f: &mut MpaFrame<&mut [u8]>, op: &MpaOp) -> Result<()> {
    match *op {
        MpaOp::Kind(request) => {
            let kind = if request {
                FrameKind::Request
            } else {
                FrameKind::Reply
            };
            f.set_kind(kind);
            assert_eq!(f.kind(), Ok(kind));
            Ok(())
        }
        MpaOp::Flags(v) => {
            f.set_flags(v);
            assert_eq!(f.flags(), v);
            Ok(())
        }
        MpaOp::Revision(v) => {
            f.set_revision(v);
            assert_eq!(f.revision(), v);
            Ok(())
        }
        MpaOp::PdLength(v) => f.set_pd_length(v).map(|()| assert_eq!(f.pd_length(), v)),
        MpaOp::PrivateData(v) => {
            f.private_data_mut().fill(v);
            Ok(())
        }
    }
}

fn read_all_mpa(b: &[u8]) {
    let f = MpaFrame::new_unchecked(b);
    let _ = (
        f.key(),
        f.kind(),
        f.flags(),
        f.markers(),
        f.crc(),
        f.reject(),
    );
    let _ = (
        f.enhanced(),
        f.res(),
        f.revision(),
        f.pd_length(),
        f.frame_len(),
    );
    let _ = (f.private_data(), f.private_data_ref());
    let _ = mpa::Repr::parse(&f);
}

/// One setter call on an FPDU.
#[derive(Clone, Debug)]
enum FpduOp {
    UlpduLen(u16),
    Crc(u32),
    FillTrailer(bool),
    Ulpdu(u8),
}

fn fpdu_op() -> impl Strategy<Value = FpduOp> {
    prop_oneof![
        len16().prop_map(FpduOp::UlpduLen),
        any::<u32>().prop_map(FpduOp::Crc),
        any::<bool>().prop_map(FpduOp::FillTrailer),
        any::<u8>().prop_map(FpduOp::Ulpdu),
    ]
}

fn apply_fpdu(f: &mut FpduFrame<&mut [u8]>, op: &FpduOp) -> Result<()> {
    match *op {
        FpduOp::UlpduLen(v) => f.set_ulpdu_len(v).map(|()| assert_eq!(f.ulpdu_len(), v)),
        FpduOp::Crc(v) => {
            f.set_crc(v);
            assert_eq!(f.crc(), v);
            Ok(())
        }
        FpduOp::FillTrailer(crc_on) => {
            f.fill_trailer(crc_on);
            if crc_on {
                assert_eq!(f.check_crc(), Ok(()));
            } else {
                assert_eq!(f.crc(), 0);
            }
            Ok(())
        }
        FpduOp::Ulpdu(v) => {
            f.ulpdu_mut().fill(v);
            Ok(())
        }
    }
}

fn read_all_fpdu(b: &[u8]) {
    let f = FpduFrame::new_unchecked(b);
    let _ = (
        f.ulpdu_len(),
        f.pad_len(),
        f.total_len(),
        f.ulpdu(),
        f.ulpdu_ref(),
    );
    let _ = (f.crc(), f.compute_crc(), f.check_crc());
    let _ = mpa::peek_fpdu_len(b);
}

/// One setter call on a Terminate header.
#[derive(Clone, Debug)]
enum TerminateOp {
    Cause(u8, u8, u8),
    HdrCt(u8),
    DdpSegmentLen(u16),
}

fn terminate_op() -> impl Strategy<Value = TerminateOp> {
    prop_oneof![
        (0u8..3, 0u8..3, any::<u8>()).prop_map(|(l, t, c)| TerminateOp::Cause(l, t, c)),
        any::<u8>().prop_map(TerminateOp::HdrCt),
        any::<u16>().prop_map(TerminateOp::DdpSegmentLen),
    ]
}

fn apply_terminate(f: &mut TerminateFrame<&mut [u8]>, op: &TerminateOp) -> Result<()> {
    match *op {
        TerminateOp::Cause(l, t, c) => {
            if let Ok(cause) = TerminateCause::from_fields(l, t, c) {
                f.set_cause(cause);
                assert_eq!(
                    TerminateCause::from_fields(f.layer(), f.error_type(), f.error_code()),
                    Ok(cause)
                );
            }
            Ok(())
        }
        TerminateOp::HdrCt(v) => f.set_hdrct(v).map(|()| {
            assert_eq!(
                f.hdrct(),
                v & (rdmap::HDRCT_M | rdmap::HDRCT_D | rdmap::HDRCT_R)
            )
        }),
        TerminateOp::DdpSegmentLen(v) => f
            .set_ddp_segment_len(v)
            .map(|()| assert_eq!(f.ddp_segment_len(), v)),
    }
}

fn read_all_terminate(b: &[u8]) {
    let f = TerminateFrame::new_unchecked(b);
    let _ = (f.layer(), f.error_type(), f.error_code(), f.hdrct());
    let _ = (f.ddp_header_len(), f.header_len(), f.ddp_segment_len());
    let _ = (f.ddp_header(), f.rdma_header());
    let _ = TerminateRepr::parse(&f);
}

/// One setter call on a Read Request header.
#[derive(Clone, Copy, Debug)]
enum ReadRequestOp {
    SinkStag(u32),
    SinkTo(u64),
    ReadSize(u32),
    SrcStag(u32),
    SrcTo(u64),
}

fn read_request_op() -> impl Strategy<Value = ReadRequestOp> {
    prop_oneof![
        any::<u32>().prop_map(ReadRequestOp::SinkStag),
        any::<u64>().prop_map(ReadRequestOp::SinkTo),
        any::<u32>().prop_map(ReadRequestOp::ReadSize),
        any::<u32>().prop_map(ReadRequestOp::SrcStag),
        any::<u64>().prop_map(ReadRequestOp::SrcTo),
    ]
}

fn apply_read_request(f: &mut ReadRequestFrame<&mut [u8]>, op: ReadRequestOp) -> Result<()> {
    match op {
        ReadRequestOp::SinkStag(v) => {
            f.set_sink_stag(v);
            assert_eq!(f.sink_stag(), v);
        }
        ReadRequestOp::SinkTo(v) => {
            f.set_sink_to(v);
            assert_eq!(f.sink_to(), v);
        }
        ReadRequestOp::ReadSize(v) => {
            f.set_read_size(v);
            assert_eq!(f.read_size(), v);
        }
        ReadRequestOp::SrcStag(v) => {
            f.set_src_stag(v);
            assert_eq!(f.src_stag(), v);
        }
        ReadRequestOp::SrcTo(v) => {
            f.set_src_to(v);
            assert_eq!(f.src_to(), v);
        }
    }
    Ok(())
}

fn read_all_read_request(b: &[u8]) {
    let f = ReadRequestFrame::new_unchecked(b);
    let _ = (
        f.sink_stag(),
        f.sink_to(),
        f.read_size(),
        f.src_stag(),
        f.src_to(),
    );
    let _ = ReadRequestRepr::parse(&f);
}

/// Runs `ops` on the checked bytes `b`: after every setter the bytes still pass
/// `check`, a refused setter changed nothing, and every getter runs.
fn run<Op>(
    b: &mut [u8],
    ops: &[Op],
    check: impl Fn(&[u8]) -> Result<()>,
    mut apply: impl FnMut(&mut [u8], &Op) -> Result<()>,
    read_all: impl Fn(&[u8]),
) -> core::result::Result<(), TestCaseError> {
    prop_assert_eq!(check(b), Ok(()));
    read_all(b);
    for op in ops {
        let before = b.to_vec();
        match apply(b, op) {
            Ok(()) => {}
            Err(Error::Truncated { .. } | Error::Absent(_)) => {
                prop_assert_eq!(&before[..], &b[..], "a refused setter changed the frame");
            }
            Err(e) => prop_assert!(false, "setter failed with {e}"),
        }
        prop_assert_eq!(check(b), Ok(()), "a setter broke check_len");
        read_all(b);
    }
    Ok(())
}

/// A 20-byte MPA header announcing `pd` bytes, then `pd + extra` bytes.
fn mpa_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 20),
        0usize..64,
        proptest::collection::vec(any::<u8>(), 0..80),
    )
        .prop_map(|(key, mut b, pd, rest)| {
            if key {
                b[..16].copy_from_slice(&mpa::KEY_REQUEST);
            }
            let pd = pd.min(rest.len());
            b[18..20].copy_from_slice(&(pd as u16).to_be_bytes());
            b.extend_from_slice(&rest);
            b
        })
}

/// An FPDU whose `ULPDU_Length` the buffer holds, maybe with bytes after it.
fn fpdu_bytes() -> impl Strategy<Value = Vec<u8>> {
    (0u16..64, proptest::collection::vec(any::<u8>(), 0..90)).prop_map(|(len, rest)| {
        let mut b = len.to_be_bytes().to_vec();
        b.extend_from_slice(&rest);
        let need = mpa::fpdu_len(usize::from(len));
        if b.len() < need {
            b.resize(need, 0x5a);
        }
        b
    })
}

/// A Terminate header: random control word, then enough bytes for what `HdrCt` says.
fn terminate_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(any::<u8>(), 7),
        proptest::collection::vec(any::<u8>(), 0..60),
    )
        .prop_map(|(head, rest)| {
            let mut b = head;
            b.extend_from_slice(&rest);
            let need = TerminateFrame::new_unchecked(&b[..]).header_len();
            if b.len() < need {
                b.resize(need, 0);
            }
            b
        })
}

proptest! {
    #[test]
    fn ddp_setters_keep_the_frame_checked(
        mut b in proptest::collection::vec(any::<u8>(), 14..40),
        ops in proptest::collection::vec(ddp_op(), 0..24),
    ) {
        if DdpFrame::new_checked(&b[..]).is_ok() {
            run(
                &mut b,
                &ops,
                |b| DdpFrame::new_unchecked(b).check_len(),
                |b, op| apply_ddp(&mut DdpFrame::new_unchecked(b), op),
                read_all_ddp,
            )?;
        }
    }

    #[test]
    fn mpa_setters_keep_the_frame_checked(
        mut b in mpa_bytes(),
        ops in proptest::collection::vec(mpa_op(), 0..24),
    ) {
        run(
            &mut b,
            &ops,
            |b| MpaFrame::new_unchecked(b).check_len(),
            |b, op| apply_mpa(&mut MpaFrame::new_unchecked(b), op),
            read_all_mpa,
        )?;
    }

    #[test]
    fn fpdu_setters_keep_the_frame_checked(
        mut b in fpdu_bytes(),
        ops in proptest::collection::vec(fpdu_op(), 0..24),
    ) {
        run(
            &mut b,
            &ops,
            |b| FpduFrame::new_unchecked(b).check_len(),
            |b, op| apply_fpdu(&mut FpduFrame::new_unchecked(b), op),
            read_all_fpdu,
        )?;
    }

    #[test]
    fn terminate_setters_keep_the_frame_checked(
        mut b in terminate_bytes(),
        ops in proptest::collection::vec(terminate_op(), 0..24),
    ) {
        run(
            &mut b,
            &ops,
            |b| TerminateFrame::new_unchecked(b).check_len(),
            |b, op| apply_terminate(&mut TerminateFrame::new_unchecked(b), op),
            read_all_terminate,
        )?;
    }

    #[test]
    fn read_request_setters_keep_the_frame_checked(
        mut b in proptest::collection::vec(any::<u8>(), 28..40),
        ops in proptest::collection::vec(read_request_op(), 0..12),
    ) {
        run(
            &mut b,
            &ops,
            |b| ReadRequestFrame::new_unchecked(b).check_len(),
            |b, op| apply_read_request(&mut ReadRequestFrame::new_unchecked(b), *op),
            read_all_read_request,
        )?;
    }

    #[test]
    fn fallible_setters_never_panic_even_unchecked(
        mut b in proptest::collection::vec(any::<u8>(), 0..24),
        v in any::<u32>(),
        h in any::<u8>(),
    ) {
        let len = b.len();
        let mut d = DdpFrame::new_unchecked(&mut b[..]);
        let _ = (d.set_control(h), d.set_stag(v), d.set_to(u64::from(v)));
        let _ = (d.set_rsvd_ulp_ext(v), d.set_qn(v), d.set_msn(v), d.set_mo(v));
        let _ = MpaFrame::new_unchecked(&mut b[..]).set_pd_length(v as u16);
        let _ = FpduFrame::new_unchecked(&mut b[..]).set_ulpdu_len(v as u16);
        let mut t = TerminateFrame::new_unchecked(&mut b[..]);
        let _ = (t.set_hdrct(h), t.set_ddp_segment_len(v as u16));
        prop_assert_eq!(b.len(), len);
    }
}

//! Tests of the MPA Request/Reply and FPDU layouts against kernel siw's bytes.

use super::*;
use crate::soft::wire::hex;
use proptest::prelude::*;

/// Kernel siw rping client's MPA Request (golden-rping-trace.tsv frame 188):
/// rev 2, enhanced, IRD 1, ORD 1.
static SIW_REQUEST_V2: &str = "4d504120494420526571204672616d65 10 02 0004 0001 0001";
/// Kernel siw's Reply to it (golden-rping-trace.tsv frame 190).
static SIW_REPLY_V2: &str = "4d504120494420526570204672616d65 10 02 0004 0001 0001";
/// siw P2P Request: WRITE_RTR + READ_RTR offered (siw-vm README, initiator table).
static SIW_REQUEST_P2P: &str = "4d504120494420526571204672616d65 10 02 0004 8001 c001";
/// siw Reject of a v2 request with M and C (siw-vm README, responder table).
static SIW_REJECT_MARKERS_CRC: &str = "4d504120494420526570204672616d65 70 02 0004 0000 0000";
/// siw Reply to a v1 request with C (siw-vm README, responder table).
static SIW_REPLY_V1_CRC: &str = "4d504120494420526570204672616d65 40 01 0000";
/// siw GSO-experimental Request, private Res bit 0x08 (siw-vm README, SIWVARIANT=gso).
static SIW_REQUEST_GSO: &str = "4d504120494420526571204672616d65 18 02 0004 0001 0001";
/// Enhanced Request with 8 bytes of ULP private data "ULPDATA!"
/// (results/tshark-mpa-fields.tsv frame 44).
static REQUEST_ULP_PDATA: &str =
    "4d504120494420526571204672616d65 10 02 000c 0010 0010 554c504441544121";

/// siw FPDU with CRC on: Send QN 0 MSN 1 (siw-vm README, SIWVARIANT=crc), CRC 9d5b5725.
static SIW_SEND_FPDU_CRC: &str = "0022 4143 00000000 00000000 00000001 00000000 \
     0000555d03524370c91d620000000040 9d5b5725";
/// siw FPDU with CRC off: Send (golden-rping-trace.tsv frame 192).
static SIW_SEND_FPDU_NO_CRC: &str = "0022 4143 00000000 00000000 00000001 00000000 \
     0000558e6f99c37020751d0000000040 00000000";

fn round_trip_setup(bytes: &[u8]) -> Repr<'_> {
    let frame = Frame::new_checked(bytes).unwrap();
    let repr = Repr::parse(&frame).unwrap();
    assert_eq!(repr.buffer_len(), bytes.len());
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Frame::new_unchecked(&mut out[..]));
    assert_eq!(out, bytes, "emit(parse(x)) != x");
    repr
}

#[test]
fn siw_request_and_reply() {
    let req = hex(SIW_REQUEST_V2);
    let r = round_trip_setup(&req);
    assert_eq!(r.kind, FrameKind::Request);
    assert_eq!(
        (r.markers, r.crc, r.reject, r.res, r.revision),
        (false, false, false, 0, 2)
    );
    assert_eq!(
        r.enhanced,
        Some(EnhancedParams {
            ird: 1,
            ord: 1,
            ..Default::default()
        })
    );
    assert!(r.private_data.is_empty());
    let rep = hex(SIW_REPLY_V2);
    assert_eq!(round_trip_setup(&rep).kind, FrameKind::Reply);
}

#[test]
fn siw_p2p_request() {
    let b = hex(SIW_REQUEST_P2P);
    let r = round_trip_setup(&b);
    assert_eq!(
        r.enhanced,
        Some(EnhancedParams {
            ird: 1,
            ord: 1,
            peer_to_peer: true,
            send_rtr: false,
            write_rtr: true,
            read_rtr: true,
        })
    );
}

#[test]
fn siw_reject_v1_and_res_bits() {
    let b = hex(SIW_REJECT_MARKERS_CRC);
    let r = round_trip_setup(&b);
    assert!(r.reject && r.crc && !r.markers);
    assert_eq!(r.enhanced, Some(EnhancedParams::default()));
    let b = hex(SIW_REPLY_V1_CRC);
    let r = round_trip_setup(&b);
    assert_eq!((r.revision, r.crc, r.enhanced), (1, true, None));
    let b = hex(SIW_REQUEST_GSO);
    assert_eq!(round_trip_setup(&b).res, 0x08);
    let b = hex(REQUEST_ULP_PDATA);
    let r = round_trip_setup(&b);
    assert_eq!(r.private_data, b"ULPDATA!");
    assert_eq!(r.enhanced.map(|e| (e.ird, e.ord)), Some((16, 16)));
}

#[test]
fn setup_frame_errors() {
    let mut b = hex(SIW_REQUEST_V2);
    assert_eq!(
        Repr::parse(&Frame::new_unchecked(&b[..19])),
        Err(Error::Truncated { need: 20, have: 19 })
    );
    assert_eq!(
        Repr::parse(&Frame::new_unchecked(&b[..22])),
        Err(Error::Truncated { need: 24, have: 22 })
    );
    b[0] = b'm';
    assert_eq!(
        Repr::parse(&Frame::new_unchecked(&b[..])),
        Err(Error::BadKey)
    );
    let mut b = hex(SIW_REQUEST_V2);
    b[18..20].copy_from_slice(&513u16.to_be_bytes());
    assert_eq!(
        Repr::parse(&Frame::new_unchecked(&b[..])),
        Err(Error::Malformed(Field::PdLength))
    );
    let mut b = hex(SIW_REPLY_V1_CRC);
    b[16] |= FLAG_ENHANCED;
    assert_eq!(
        Repr::parse(&Frame::new_unchecked(&b[..])),
        Err(Error::Malformed(Field::EnhancedParams))
    );
}

#[test]
fn fpdu_with_crc_from_siw() {
    let b = hex(SIW_SEND_FPDU_CRC);
    let f = FpduFrame::new_checked(&b[..]).unwrap();
    assert_eq!(f.ulpdu_len(), 34);
    assert_eq!(f.pad_len(), 0);
    assert_eq!(f.total_len(), b.len());
    assert_eq!(f.crc(), 0x25575b9d);
    assert_eq!(f.check_crc(), Ok(()));
    let mut out = b.clone();
    out[b.len() - 4..].fill(0xee);
    let mut g = FpduFrame::new_unchecked(&mut out[..]);
    g.fill_trailer(true);
    assert_eq!(out, b);
}

#[test]
fn fpdu_without_crc_from_siw() {
    let b = hex(SIW_SEND_FPDU_NO_CRC);
    let f = FpduFrame::new_checked(&b[..]).unwrap();
    assert_eq!(f.crc(), 0);
    // siw-vm README, initiator table: crc32c_of_fpdu(le) of this kind of frame is not 0.
    if !cfg!(fuzzing) {
        assert!(matches!(
            f.check_crc(),
            Err(Error::BadCrc { stored: 0, .. })
        ));
    }
    let mut out = b.clone();
    FpduFrame::new_unchecked(&mut out[..]).fill_trailer(false);
    assert_eq!(out, b);
}

#[test]
fn fpdu_pad_and_truncation() {
    // A 14-byte ULPDU (zero-length Write) needs no pad: 2 + 14 = 16.
    assert_eq!(pad_len(14), 0);
    assert_eq!(fpdu_len(14), 20);
    assert_eq!(pad_len(15), 3);
    assert_eq!(pad_len(16), 2);
    assert_eq!(pad_len(17), 1);
    assert_eq!(fpdu_len(17), 2 + 17 + 1 + 4);
    for len in 0..64 {
        assert_eq!((2 + len + pad_len(len)) % 4, 0);
    }
    let b = hex(SIW_SEND_FPDU_CRC);
    assert_eq!(
        FpduFrame::new_checked(&b[..1]).unwrap_err(),
        Error::Truncated { need: 2, have: 1 }
    );
    assert_eq!(
        FpduFrame::new_checked(&b[..b.len() - 1]).unwrap_err(),
        Error::Truncated { need: 40, have: 39 }
    );
    assert_eq!(peek_fpdu_len(&b[..1]), None);
    assert_eq!(peek_fpdu_len(&b), Some(40));
}

#[test]
fn length_setters_refuse_what_the_buffer_cannot_hold() {
    // A checked 40-byte FPDU: a longer ULPDU_Length would make `ulpdu()` and `crc()`
    // index past the end, so the setter refuses and leaves the frame as it was.
    let mut b = hex(SIW_SEND_FPDU_CRC);
    let before = b.clone();
    let mut f = FpduFrame::new_checked(&mut b[..]).unwrap();
    assert_eq!(
        f.set_ulpdu_len(35),
        Err(Error::Truncated { need: 44, have: 40 })
    );
    assert_eq!(f.check_len(), Ok(()));
    assert_eq!(f.check_crc(), Ok(()));
    assert_eq!(f.into_inner(), &before[..]);
    let mut f = FpduFrame::new_checked(&mut b[..]).unwrap();
    assert_eq!(f.set_ulpdu_len(2), Ok(()));
    assert_eq!((f.total_len(), f.ulpdu().len()), (8, 2));
    assert_eq!(b[2..], before[2..]);

    // A checked 24-byte Request with 4 bytes of private data.
    let mut b = hex(SIW_REQUEST_V2);
    let before = b.clone();
    let mut f = Frame::new_checked(&mut b[..]).unwrap();
    assert_eq!(
        f.set_pd_length(5),
        Err(Error::Truncated { need: 25, have: 24 })
    );
    assert_eq!(f.private_data(), &before[20..]);
    assert_eq!(f.set_pd_length(0), Ok(()));
    assert!(f.private_data().is_empty());
    // Unchecked and too short even for the header: refused, not a panic.
    let mut short = [0u8; 7];
    assert_eq!(
        Frame::new_unchecked(&mut short[..]).set_pd_length(0),
        Err(Error::Truncated { need: 20, have: 7 })
    );
    assert_eq!(
        FpduFrame::new_unchecked(&mut short[..1]).set_ulpdu_len(0),
        Err(Error::Truncated { need: 8, have: 1 })
    );
}

#[test]
fn mulpdu_rfc5044() {
    // Without markers: EMSS - (6 + EMSS mod 4).
    assert_eq!(mulpdu(1460, false), 1454);
    assert_eq!(mulpdu(1461, false), 1454);
    assert_eq!(fpdu_len(mulpdu(1460, false)), 1460);
    // With markers: EMSS - (6 + 4 * ceil(EMSS / 512) + EMSS mod 4).
    assert_eq!(mulpdu(1460, true), 1460 - (6 + 12));
    assert_eq!(mulpdu(512, true), 512 - (6 + 4));
    assert_eq!(mulpdu(3, false), 0);
    assert_eq!(mulpdu(1 << 20, false), u16::MAX as usize);
}

fn arb_enhanced() -> impl Strategy<Value = EnhancedParams> {
    (0..=IRD_ORD_MASK, 0..=IRD_ORD_MASK, any::<[bool; 4]>()).prop_map(|(ird, ord, f)| {
        EnhancedParams {
            ird,
            ord,
            peer_to_peer: f[0],
            send_rtr: f[1],
            write_rtr: f[2],
            read_rtr: f[3],
        }
    })
}

proptest! {
    #[test]
    fn setup_round_trip(
        request in any::<bool>(),
        flags in any::<[bool; 3]>(),
        res in 0u8..=RES_MASK,
        revision in any::<u8>(),
        enhanced in proptest::option::of(arb_enhanced()),
        pd in proptest::collection::vec(any::<u8>(), 0..=MAX_ULP_PD_LEN),
    ) {
        let repr = Repr {
            kind: if request { FrameKind::Request } else { FrameKind::Reply },
            markers: flags[0],
            crc: flags[1],
            reject: flags[2],
            res,
            revision,
            enhanced,
            private_data: &pd,
        };
        let mut b = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Frame::new_unchecked(&mut b[..]));
        prop_assert_eq!(Repr::parse(&Frame::new_checked(&b[..]).unwrap()), Ok(repr));
    }

    #[test]
    fn setup_parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64), key in any::<bool>()) {
        let mut b = b;
        if key && b.len() >= 16 {
            b[..16].copy_from_slice(&KEY_REPLY);
        }
        let f = Frame::new_unchecked(&b[..]);
        if let Ok(r) = Repr::parse(&f) {
            prop_assert!(r.buffer_len() <= b.len());
        }
    }

    #[test]
    fn fpdu_round_trip(ulpdu in proptest::collection::vec(any::<u8>(), 0..80), crc_on in any::<bool>()) {
        let mut b = vec![0xa5u8; fpdu_len(ulpdu.len())];
        let mut f = FpduFrame::new_unchecked(&mut b[..]);
        f.set_ulpdu_len(ulpdu.len() as u16).unwrap();
        f.ulpdu_mut().copy_from_slice(&ulpdu);
        f.fill_trailer(crc_on);
        let f = FpduFrame::new_checked(&b[..]).unwrap();
        prop_assert_eq!(f.ulpdu(), &ulpdu[..]);
        prop_assert_eq!(f.total_len() % 4, 0);
        if crc_on {
            prop_assert_eq!(f.check_crc(), Ok(()));
        } else {
            prop_assert_eq!(f.crc(), 0);
        }
    }

    #[test]
    fn fpdu_parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(f) = FpduFrame::new_checked(&b[..]) {
            let _ = (f.ulpdu(), f.crc(), f.check_crc(), f.pad_len());
        }
    }
}

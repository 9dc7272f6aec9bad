//! Tests of the RDMAP layout against kernel siw's FPDUs and of the error tables.

use super::*;
use crate::soft::wire::mpa::FpduFrame;
use crate::soft::wire::{DdpFrame, hex};
use proptest::prelude::*;

/// Whole FPDUs (CRC off) from `../shared/siw-vm/results/golden-rping-trace.tsv`.
/// Frame 192: client Send, QN 0 MSN 1, 16 bytes (buf, rkey, size).
static GOLDEN_SEND: &str = "0022 4143 00000000 00000000 00000001 00000000 \
     0000558e6f99c370 20751d00 00000040 00000000";
/// Frame 193: server RDMA Read Request, QN 1 MSN 1.
static GOLDEN_READ_REQUEST: &str = "002e 4141 00000000 00000001 00000001 00000000 \
     2a148100 00007fbd6c000e00 00000040 20751d00 0000558e6f99c370 00000000";
/// Frame 194: client RDMA Read Response, 64 bytes, last.
static GOLDEN_READ_RESPONSE: &str = "004e c142 2a148100 00007fbd6c000e00 \
     72646d612d70696e672d303a204142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d\
     5e5f606162636465666768696a6b6c6d6e6f70717200 00000000";
/// Frame 197: server RDMA Write, 64 bytes, last.
static GOLDEN_WRITE: &str = "004e c140 0a68ae00 0000558e6f99c550 \
     72646d612d70696e672d303a204142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d\
     5e5f606162636465666768696a6b6c6d6e6f70717200 00000000";
/// Frame 195: server "go ahead" Send of 16 zero bytes.
static GOLDEN_SEND_ZEROS: &str = "0022 4143 00000000 00000000 00000001 00000000 \
     00000000000000000000000000000000 00000000";
/// siw P2P zero-length RDMA Write RTR (siw-vm README, SIWVARIANT=p2p).
static SIW_WRITE_RTR: &str = "000e c140 00000001 0000000000000000 00000000";
/// siw Send with CRC on (siw-vm README, SIWVARIANT=crc).
static SIW_SEND_CRC: &str = "0022 4143 00000000 00000000 00000001 00000000 \
     0000555d03524370c91d620000000040 9d5b5725";

/// Parses FPDU → DDP → RDMAP, re-emits all of it and checks the bytes are identical.
fn golden(fpdu_hex: &str, crc_on: bool) -> (Repr, Vec<u8>) {
    let bytes = hex(fpdu_hex);
    let fpdu = FpduFrame::new_checked(&bytes[..]).unwrap();
    assert_eq!(fpdu.total_len(), bytes.len());
    if crc_on {
        fpdu.check_crc().unwrap();
    }
    let ulpdu = fpdu.ulpdu_ref();
    let ddp = DdpFrame::new_checked(ulpdu).unwrap();
    let repr = Repr::parse(&ddp).unwrap();
    let payload = ulpdu[repr.header_len()..].to_vec();

    let mut out = vec![0u8; bytes.len()];
    let mut f = FpduFrame::new_unchecked(&mut out[..]);
    f.set_ulpdu_len((repr.header_len() + payload.len()) as u16)
        .unwrap();
    let u = f.ulpdu_mut();
    repr.emit(&mut DdpFrame::new_unchecked(&mut u[..]));
    u[repr.header_len()..].copy_from_slice(&payload);
    f.fill_trailer(crc_on);
    assert_eq!(out, bytes, "emit(parse(x)) != x");
    (repr, payload)
}

#[test]
fn golden_send() {
    let (r, payload) = golden(GOLDEN_SEND, false);
    assert_eq!(
        r,
        Repr::Send {
            solicited: false,
            invalidate: None,
            msn: 1,
            mo: 0,
            last: true
        }
    );
    assert_eq!(payload, hex("0000558e6f99c370 20751d00 00000040"));
    let (r, payload) = golden(GOLDEN_SEND_ZEROS, false);
    assert_eq!(r.opcode(), Opcode::Send);
    assert_eq!(payload, [0u8; 16]);
}

#[test]
fn golden_read_request() {
    let (r, payload) = golden(GOLDEN_READ_REQUEST, false);
    assert_eq!(
        r,
        Repr::ReadRequest {
            msn: 1,
            request: ReadRequestRepr {
                sink_stag: 0x2a14_8100,
                sink_to: 0x0000_7fbd_6c00_0e00,
                size: 64,
                src_stag: 0x2075_1d00,
                src_to: 0x0000_558e_6f99_c370,
            }
        }
    );
    assert!(payload.is_empty());
}

#[test]
fn golden_read_response_and_write() {
    let (r, payload) = golden(GOLDEN_READ_RESPONSE, false);
    assert_eq!(
        r,
        Repr::ReadResponse {
            stag: 0x2a14_8100,
            to: 0x0000_7fbd_6c00_0e00,
            last: true
        }
    );
    assert_eq!(payload.len(), 64);
    assert!(payload.starts_with(b"rdma-ping-0: ABC"));
    let (r, payload) = golden(GOLDEN_WRITE, false);
    assert_eq!(
        r,
        Repr::Write {
            stag: 0x0a68_ae00,
            to: 0x0000_558e_6f99_c550,
            last: true
        }
    );
    assert_eq!(payload.len(), 64);
}

#[test]
fn siw_write_rtr_and_crc_send() {
    let (r, payload) = golden(SIW_WRITE_RTR, false);
    assert_eq!(
        r,
        Repr::Write {
            stag: 1,
            to: 0,
            last: true
        }
    );
    assert!(payload.is_empty());
    let (r, _) = golden(SIW_SEND_CRC, true);
    assert_eq!(r.opcode(), Opcode::Send);
}

/// Every FPDU of `../shared/siw-vm/results/golden-rping-trace.tsv` (kernel siw rping
/// client <-> server, CRC off): (frame number, summary, TCP payload).
static GOLDEN_TRACE: &[(u32, &str, &str)] = &[
    (
        192,
        "Send [last DDP segment]",
        "00224143000000000000000000000001000000000000558e6f99c37020751d000000004000000000",
    ),
    (
        193,
        "Read Request [last DDP segment]",
        "002e4141000000000000000100000001000000002a14810000007fbd6c000e000000004020751d000000558e6f99c37000000000",
    ),
    (
        194,
        "Read Response [last DDP segment]",
        "004ec1422a14810000007fbd6c000e0072646d612d70696e672d303a204142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f7071720000000000",
    ),
    (
        195,
        "Send [last DDP segment]",
        "00224143000000000000000000000001000000000000000000000000000000000000000000000000",
    ),
    (
        196,
        "Send [last DDP segment]",
        "00224143000000000000000000000002000000000000558e6f99c5500a68ae000000004000000000",
    ),
    (
        197,
        "Write [last DDP segment]",
        "004ec1400a68ae000000558e6f99c55072646d612d70696e672d303a204142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f7071720000000000",
    ),
    (
        198,
        "Send [last DDP segment]",
        "00224143000000000000000000000002000000000000000000000000000000000000000000000000",
    ),
    (
        200,
        "Send [last DDP segment]",
        "00224143000000000000000000000003000000000000558e6f99c37020751d000000004000000000",
    ),
    (
        201,
        "Read Request [last DDP segment]",
        "002e4141000000000000000100000002000000002a14810000007fbd6c000e000000004020751d000000558e6f99c37000000000",
    ),
    (
        202,
        "Read Response [last DDP segment]",
        "004ec1422a14810000007fbd6c000e0072646d612d70696e672d313a2042434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172730000000000",
    ),
    (
        203,
        "Send [last DDP segment]",
        "00224143000000000000000000000003000000000000000000000000000000000000000000000000",
    ),
    (
        204,
        "Send [last DDP segment]",
        "00224143000000000000000000000004000000000000558e6f99c5500a68ae000000004000000000",
    ),
    (
        205,
        "Write [last DDP segment]",
        "004ec1400a68ae000000558e6f99c55072646d612d70696e672d313a2042434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172730000000000",
    ),
    (
        206,
        "Send [last DDP segment]",
        "00224143000000000000000000000004000000000000000000000000000000000000000000000000",
    ),
    (
        208,
        "Send [last DDP segment]",
        "00224143000000000000000000000005000000000000558e6f99c37020751d000000004000000000",
    ),
    (
        209,
        "Read Request [last DDP segment]",
        "002e4141000000000000000100000003000000002a14810000007fbd6c000e000000004020751d000000558e6f99c37000000000",
    ),
    (
        210,
        "Read Response [last DDP segment]",
        "004ec1422a14810000007fbd6c000e0072646d612d70696e672d323a20434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f70717273740000000000",
    ),
    (
        211,
        "Send [last DDP segment]",
        "00224143000000000000000000000005000000000000000000000000000000000000000000000000",
    ),
    (
        212,
        "Send [last DDP segment]",
        "00224143000000000000000000000006000000000000558e6f99c5500a68ae000000004000000000",
    ),
    (
        213,
        "Write [last DDP segment]",
        "004ec1400a68ae000000558e6f99c55072646d612d70696e672d323a20434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f70717273740000000000",
    ),
    (
        214,
        "Send [last DDP segment]",
        "00224143000000000000000000000006000000000000000000000000000000000000000000000000",
    ),
];

#[test]
fn every_golden_trace_fpdu_round_trips() {
    for (frame, summary, payload) in GOLDEN_TRACE {
        let (r, _) = golden(payload, false);
        let name = match r.opcode() {
            Opcode::Write => "Write",
            Opcode::ReadRequest => "Read Request",
            Opcode::ReadResponse => "Read Response",
            Opcode::Send => "Send",
            other => panic!("frame {frame}: unexpected {other:?}"),
        };
        assert!(
            summary.starts_with(name),
            "frame {frame}: {summary} vs {name}"
        );
    }
}

fn parse_ulpdu(b: &[u8]) -> Result<Repr> {
    Repr::parse(&DdpFrame::new_unchecked(b))
}

#[test]
fn model_and_queue_checks() {
    // Send on a tagged segment.
    let b = hex("c143 00000001 0000000000000000");
    assert_eq!(parse_ulpdu(&b), Err(Error::Malformed(Field::Opcode)));
    // Write on an untagged segment.
    let b = hex("4140 00000000 00000000 00000001 00000000");
    assert_eq!(parse_ulpdu(&b), Err(Error::Malformed(Field::Opcode)));
    // Send on QN 1.
    let b = hex("4143 00000000 00000001 00000001 00000000");
    assert_eq!(parse_ulpdu(&b), Err(Error::Malformed(Field::QueueNumber)));
    // Read Request with MO 4.
    let mut b = hex("4141 00000000 00000001 00000001 00000004");
    b.extend_from_slice(&[0u8; 28]);
    assert_eq!(parse_ulpdu(&b), Err(Error::Malformed(Field::MessageOffset)));
    // Read Request without L.
    b[0] = 0x01;
    b[17] = 0;
    assert_eq!(parse_ulpdu(&b), Err(Error::Malformed(Field::LastFlag)));
    // Read Request with a short header.
    let b = hex("4141 00000000 00000001 00000001 00000000 00000000");
    assert_eq!(parse_ulpdu(&b), Err(Error::Truncated { need: 28, have: 4 }));
    // RDMAP version 2, opcode 8.
    let b = hex("c180 00000001 0000000000000000");
    assert_eq!(
        parse_ulpdu(&b),
        Err(Error::Unsupported(Field::RdmapVersion))
    );
    let b = hex("c148 00000001 0000000000000000");
    assert_eq!(parse_ulpdu(&b), Err(Error::Unsupported(Field::Opcode)));
}

#[test]
fn send_variants_use_rsvd_ulp_as_invalidate_stag() {
    let b = hex("4146 12345678 00000000 00000007 00000010");
    assert_eq!(
        parse_ulpdu(&b),
        Ok(Repr::Send {
            solicited: true,
            invalidate: Some(0x1234_5678),
            msn: 7,
            mo: 16,
            last: true
        })
    );
}

/// RFC 5040 §7.1 / RFC 5041 §7.2 / RFC 5044 §8 + RFC 6581: every (layer, type, code).
static ERROR_TABLE: &[(u8, u8, u8)] = &[
    (0, 0, 0x00),
    (0, 1, 0x00),
    (0, 1, 0x01),
    (0, 1, 0x02),
    (0, 1, 0x03),
    (0, 1, 0x04),
    (0, 1, 0x09),
    (0, 1, 0xff),
    (0, 2, 0x05),
    (0, 2, 0x06),
    (0, 2, 0x07),
    (0, 2, 0x08),
    (0, 2, 0x09),
    (0, 2, 0xff),
    (1, 0, 0x00),
    (1, 1, 0x00),
    (1, 1, 0x01),
    (1, 1, 0x02),
    (1, 1, 0x03),
    (1, 1, 0x04),
    (1, 2, 0x01),
    (1, 2, 0x02),
    (1, 2, 0x03),
    (1, 2, 0x04),
    (1, 2, 0x05),
    (1, 2, 0x06),
    (2, 0, 0x01),
    (2, 0, 0x02),
    (2, 0, 0x03),
    (2, 0, 0x04),
    (2, 0, 0x05),
    (2, 0, 0x06),
    (2, 0, 0x07),
];

#[test]
fn error_table_is_exact() {
    let mut known = 0;
    for layer in 0..16u8 {
        for etype in 0..16u8 {
            for ecode in 0..=255u8 {
                match TerminateCause::from_fields(layer, etype, ecode) {
                    Ok(c) => {
                        assert!(ERROR_TABLE.contains(&(layer, etype, ecode)));
                        assert_eq!(
                            (c.layer() as u8, c.error_type(), c.error_code()),
                            (layer, etype, ecode)
                        );
                        known += 1;
                    }
                    Err(_) => assert!(!ERROR_TABLE.contains(&(layer, etype, ecode))),
                }
            }
        }
    }
    assert_eq!(known, ERROR_TABLE.len());
    assert_eq!(
        TerminateCause::RdmapProtection(RdmapProtectionCode::AccessRights).error_code(),
        0x02
    );
    assert_eq!(
        TerminateCause::for_parse_error(Error::Unsupported(Field::DdpVersion), true),
        TerminateCause::DdpTagged(DdpTaggedCode::InvalidVersion)
    );
    assert_eq!(
        TerminateCause::for_parse_error(Error::Malformed(Field::QueueNumber), false),
        TerminateCause::DdpUntagged(DdpUntaggedCode::InvalidQn)
    );
}

/// A Terminate as siw would send for an invalid STag on an RDMA Write: layer 0,
/// type 1, code 0, M+D, segment length 0x004e, copied tagged header (hand-built from
/// RFC 5040 §4.8 and golden frame 197's header).
static TERMINATE_INVALID_STAG: &str = "4147 00000000 00000002 00000001 00000000 \
     01 00 c0 00 004e c140 0a68ae00 0000558e6f99c550";

#[test]
fn terminate_with_copied_header() {
    let b = hex(TERMINATE_INVALID_STAG);
    let r = parse_ulpdu(&b).unwrap();
    let Repr::Terminate { msn, terminate } = r else {
        panic!("not a terminate: {r:?}");
    };
    assert_eq!(msn, 1);
    assert_eq!(
        terminate.cause,
        TerminateCause::RdmapProtection(RdmapProtectionCode::InvalidStag)
    );
    assert!(terminate.segment_len_valid);
    let ddp = terminate.ddp.unwrap();
    assert_eq!(ddp.segment_len, 0x4e);
    assert_eq!(
        ddp.header.as_bytes(),
        &hex("c140 0a68ae00 0000558e6f99c550")[..]
    );
    assert_eq!(terminate.rdma, None);
    assert_eq!(r.header_len(), b.len());
    let mut out = vec![0u8; r.header_len()];
    r.emit(&mut DdpFrame::new_unchecked(&mut out[..]));
    assert_eq!(out, b);
}

fn arb_cause() -> impl Strategy<Value = TerminateCause> {
    proptest::sample::select(ERROR_TABLE)
        .prop_map(|(l, t, c)| TerminateCause::from_fields(l, t, c).unwrap())
}

fn arb_read_request() -> impl Strategy<Value = ReadRequestRepr> {
    (
        any::<u32>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
    )
        .prop_map(
            |(sink_stag, sink_to, size, src_stag, src_to)| ReadRequestRepr {
                sink_stag,
                sink_to,
                size,
                src_stag,
                src_to,
            },
        )
}

fn arb_terminate() -> impl Strategy<Value = TerminateRepr> {
    let header = prop_oneof![
        any::<[u8; 14]>().prop_map(|mut h| {
            h[0] |= ddp::FLAG_TAGGED;
            TerminatedDdpHeader::Tagged(h)
        }),
        any::<[u8; 18]>().prop_map(|mut h| {
            h[0] &= !ddp::FLAG_TAGGED;
            TerminatedDdpHeader::Untagged(h)
        }),
    ];
    let ddp = proptest::option::of((any::<u16>(), header).prop_map(|(segment_len, header)| {
        TerminatedDdp {
            segment_len,
            header,
        }
    }));
    (
        arb_cause(),
        any::<bool>(),
        ddp,
        proptest::option::of(arb_read_request()),
    )
        .prop_map(|(cause, segment_len_valid, ddp, rdma)| TerminateRepr {
            cause,
            segment_len_valid,
            ddp,
            rdma,
        })
}

fn arb_repr() -> impl Strategy<Value = Repr> {
    prop_oneof![
        (any::<u32>(), any::<u64>(), any::<bool>()).prop_map(|(stag, to, last)| Repr::Write {
            stag,
            to,
            last
        }),
        (any::<u32>(), any::<u64>(), any::<bool>())
            .prop_map(|(stag, to, last)| Repr::ReadResponse { stag, to, last }),
        (any::<u32>(), arb_read_request())
            .prop_map(|(msn, request)| Repr::ReadRequest { msn, request }),
        (
            any::<bool>(),
            proptest::option::of(any::<u32>()),
            any::<u32>(),
            any::<u32>(),
            any::<bool>()
        )
            .prop_map(|(solicited, invalidate, msn, mo, last)| Repr::Send {
                solicited,
                invalidate,
                msn,
                mo,
                last
            }),
        (any::<u32>(), arb_terminate())
            .prop_map(|(msn, terminate)| Repr::Terminate { msn, terminate }),
    ]
}

proptest! {
    #[test]
    fn round_trip(r in arb_repr()) {
        let mut b = vec![0u8; r.header_len()];
        r.emit(&mut DdpFrame::new_unchecked(&mut b[..]));
        prop_assert_eq!(parse_ulpdu(&b), Ok(r));
    }

    #[test]
    fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..96)) {
        let _ = parse_ulpdu(&b);
        let _ = TerminateRepr::parse(&TerminateFrame::new_unchecked(&b[..]));
        let f = TerminateFrame::new_unchecked(&b[..]);
        if f.check_len().is_ok() {
            let _ = (f.ddp_header(), f.rdma_header(), f.ddp_segment_len());
        }
    }

    #[test]
    fn parse_never_panics_rdmap_v1(mut b in proptest::collection::vec(any::<u8>(), 2..96)) {
        // Steer past the version checks so the opcode-specific paths get exercised.
        b[0] = (b[0] & !ddp::VERSION_MASK) | ddp::VERSION;
        b[1] = (b[1] & !control::VERSION_MASK) | control::VERSION_1;
        let _ = parse_ulpdu(&b);
    }
}

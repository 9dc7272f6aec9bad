//! State-machine tests of [`Connection`]: golden frames from kernel `siw`, every opcode
//! through a [`Pair`], split-anywhere delivery, RFC 5042 violations, IRD/ORD, flush,
//! queue limits and a property test over random operation sequences.

use proptest::prelude::*;

use super::pair::{PD, Pair, hex, messages, segments, terminate_in};
use super::*;
use crate::soft::wire::ddp;
use crate::soft::wire::rdmap::{
    self, DdpTaggedCode, DdpUntaggedCode, MpaErrorCode, RdmapOperationCode, RdmapProtectionCode,
};

/// A memory that allows every access and reads `0x00` (for golden-frame tests whose
/// STags are kernel `siw`'s).
struct Permissive;

impl MemoryAccess for Permissive {
    fn check_remote(
        &self,
        _: u32,
        _: u64,
        _: usize,
        _: RemoteAccess,
        _: PdId,
    ) -> Result<(), ProtectionFault> {
        Ok(())
    }
    fn write_remote(&self, _: u32, _: u64, _: &[u8]) -> Result<(), ProtectionFault> {
        Ok(())
    }
    fn read_remote(&self, _: u32, to: u64, out: &mut [u8]) -> Result<(), ProtectionFault> {
        for (i, b) in out.iter_mut().enumerate() {
            *b = (to as usize + i) as u8;
        }
        Ok(())
    }
    fn check_local(&self, _: &Sge, _: LocalAccess, _: PdId) -> Result<(), LocalFault> {
        Ok(())
    }
    fn read_local(&self, _: &Sge, _: usize, out: &mut [u8]) -> Result<(), LocalFault> {
        out.fill(0);
        Ok(())
    }
    fn write_local(&self, _: &Sge, _: usize, _: &[u8]) -> Result<(), LocalFault> {
        Ok(())
    }
    fn invalidate(&self, _: u32, _: PdId) -> Result<(), ProtectionFault> {
        Ok(())
    }
}

/// siw-vm README "Wire spec" step 2: the client's Send, CRC off.
static GOLDEN_SEND: &str = "0022 41 43 00000000 00000000 00000001 00000000 |
    000055b3f5074370 e93bac00 00000040 | 00000000";
/// siw-vm README "Wire spec" step 3: the server's RDMA Read Request, CRC off.
static GOLDEN_READ_REQUEST: &str = "002e 41 41 00000000 00000001 00000001 00000000 |
    6cf84e00 00007facf0000e00 00000040 e93bac00 000055b3f5074370 | 00000000";
/// siw-vm README "kernel siw as MPA initiator", p2p row: siw's Write RTR.
static GOLDEN_WRITE_RTR: &str = "000e c140 00000001 0000000000000000 00000000";

fn conn(cfg: ConnConfig) -> Connection {
    Connection::new(cfg).expect("valid config")
}

fn transmit_all<M: MemoryAccess>(c: &mut Connection, mem: &M) -> Vec<u8> {
    let mut out = vec![0u8; 1 << 16];
    let n = c.poll_transmit(mem, &mut out);
    out.truncate(n);
    out
}

fn send(wr_id: u64, op: SendOp, sges: &[Sge]) -> SendRequest<'_> {
    SendRequest {
        wr_id,
        op,
        payload: Payload::Sgl(sges),
    }
}

fn ok(wr_id: u64, opcode: WcOpcode, byte_len: u32) -> Completion {
    Completion {
        wr_id,
        opcode,
        status: CompletionStatus::Success,
        byte_len,
        solicited: false,
        invalidated_stag: None,
    }
}

fn flushed(wr_id: u64, opcode: WcOpcode) -> Completion {
    Completion {
        wr_id,
        opcode,
        status: CompletionStatus::WrFlushError,
        byte_len: 0,
        solicited: false,
        invalidated_stag: None,
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Registers a source region filled with `data` in `mem`; returns its SGE.
fn source(mem: &VecMemory, base: u64, data: &[u8]) -> Sge {
    let key = mem.register(PD, base, data.len(), VecAccess::ALL);
    mem.fill(key, data);
    Sge {
        lkey: key,
        addr: base,
        len: data.len() as u32,
    }
}

/// Registers a zeroed region of `len` bytes with every right.
fn sink(mem: &VecMemory, base: u64, len: usize) -> Sge {
    let key = mem.register(PD, base, len, VecAccess::ALL);
    Sge {
        lkey: key,
        addr: base,
        len: len as u32,
    }
}

#[test]
fn send_matches_siw_golden_frame() {
    let mut c = conn(ConnConfig::new(PD));
    let payload = hex("000055b3f5074370 e93bac00 00000040");
    let wr = SendRequest {
        wr_id: 1,
        op: SendOp::Send,
        payload: Payload::Inline(&payload),
    };
    c.post_send(&wr).unwrap();
    assert_eq!(transmit_all(&mut c, &Permissive), hex(GOLDEN_SEND));
    assert_eq!(c.poll_completion(), Some(ok(1, WcOpcode::Send, 16)));
}

#[test]
fn read_request_matches_siw_golden_frame() {
    let mut c = conn(ConnConfig::new(PD));
    let sink = Sge {
        lkey: 0x6cf8_4e00,
        addr: 0x7fac_f000_0e00,
        len: 64,
    };
    let op = SendOp::Read {
        remote_stag: 0xe93b_ac00,
        remote_to: 0x55b3_f507_4370,
    };
    c.post_send(&send(1, op, &[sink])).unwrap();
    assert_eq!(transmit_all(&mut c, &Permissive), hex(GOLDEN_READ_REQUEST));
    assert_eq!(
        c.poll_completion(),
        None,
        "a Read completes on its response"
    );
}

#[test]
fn read_response_to_siw_request_is_tagged_with_sink_stag() {
    let mut c = conn(ConnConfig::new(PD));
    assert_eq!(
        c.handle_bytes(&Permissive, &hex(GOLDEN_READ_REQUEST)),
        Ok(52)
    );
    let out = transmit_all(&mut c, &Permissive);
    // siw-vm README step 4: `004e c1 42 6cf84e00 00007facf0000e00 | 64 bytes | 00000000`.
    assert_eq!(out.len(), 2 + 14 + 64 + 4);
    assert_eq!(out[..16], hex("004e c1 42 6cf84e00 00007facf0000e00")[..]);
    assert_eq!(out[16..80], pattern_from_to(0x55b3_f507_4370, 64)[..]);
    assert_eq!(out[80..], [0, 0, 0, 0]);
}

fn pattern_from_to(to: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (to as usize + i) as u8).collect()
}

#[test]
fn write_rtr_matches_siw_and_is_reported_once() {
    let mut c = conn(ConnConfig::new(PD));
    c.send_rtr(RtrKind::Write);
    let out = transmit_all(&mut c, &Permissive);
    assert_eq!(out, hex(GOLDEN_WRITE_RTR));
    let mut peer = conn(ConnConfig::new(PD));
    // No protection check: the empty memory knows no STag 1.
    assert_eq!(peer.handle_bytes(&VecMemory::new(), &out), Ok(out.len()));
    assert_eq!(
        peer.poll_event(),
        Some(ConnEvent::RtrReceived(RtrKind::Write))
    );
    assert_eq!(peer.handle_bytes(&VecMemory::new(), &out), Ok(out.len()));
    assert_eq!(peer.poll_event(), None, "only the first FPDU is an RTR");
}

#[test]
fn read_rtr_gets_zero_length_response_and_no_completion() {
    let mut p = Pair::new(Pair::cfg());
    p.a.send_rtr(RtrKind::Read);
    p.drive();
    assert_eq!(p.events_b(), vec![ConnEvent::RtrReceived(RtrKind::Read)]);
    assert!(p.completions_a().is_empty());
    assert!(!p.a.is_error() && !p.b.is_error());
    let sent = messages(&p.ab.log);
    assert!(matches!(
        sent[..],
        [rdmap::Repr::ReadRequest { msn: 1, request }] if request.size == 0 && request.src_stag == 1
    ));
    assert!(matches!(
        messages(&p.ba.log)[..],
        [rdmap::Repr::ReadResponse {
            stag: 1,
            to: 0,
            last: true
        }]
    ));
}

#[test]
fn crc_on_produces_valid_crc_matching_tshark_example() {
    // siw-vm README tshark capture: Read Request with "CRC check: 0x2feacc75 (Good CRC32)".
    let cfg = ConnConfig {
        crc: true,
        ..ConnConfig::new(PD)
    };
    let mut c = conn(cfg);
    let sink = Sge {
        lkey: 0x18d4_2e00,
        addr: 0x7fad_0000_0e00,
        len: 64,
    };
    let op = SendOp::Read {
        remote_stag: 0x1234,
        remote_to: 0x7f00_0000_1000,
    };
    c.post_send(&send(1, op, &[sink])).unwrap();
    let out = transmit_all(&mut c, &Permissive);
    assert_eq!(out.len(), 52);
    assert_eq!(
        u32::from_be_bytes(out[48..52].try_into().unwrap()),
        0x2fea_cc75
    );
}

#[test]
fn every_send_flavour_delivers_with_flags() {
    let mut p = Pair::new(Pair::cfg());
    let inv_target = p.mem_b.register(PD, 0x9000, 8, VecAccess::ALL);
    let ops = [
        SendOp::Send,
        SendOp::SendSe,
        SendOp::SendInv {
            inv_stag: inv_target,
        },
        SendOp::SendSeInv {
            inv_stag: inv_target + 0x100,
        },
    ];
    let inv_target2 = p.mem_b.register(PD, 0xa000, 8, VecAccess::ALL);
    assert_eq!(inv_target2, inv_target + 0x100);
    let mut sinks = Vec::new();
    for i in 0..4u64 {
        let s = sink(&p.mem_b, 0x1000 * (i + 1), 64);
        sinks.push(s);
        p.b.post_recv(&RecvRequest {
            wr_id: 100 + i,
            sges: &[s],
        })
        .unwrap();
    }
    for (i, op) in ops.iter().enumerate() {
        let data = pattern(10 + i, i as u8);
        let src = source(&p.mem_a, 0x10_0000 * (i as u64 + 1), &data);
        p.a.post_send(&send(i as u64, *op, &[src])).unwrap();
    }
    p.drive();
    let a = p.completions_a();
    assert_eq!(a.len(), 4);
    for (i, c) in a.iter().enumerate() {
        assert_eq!(*c, ok(i as u64, WcOpcode::Send, 10 + i as u32));
    }
    let b = p.completions_b();
    let flags: Vec<_> = b
        .iter()
        .map(|c| {
            (
                c.wr_id,
                c.opcode,
                c.status,
                c.byte_len,
                c.solicited,
                c.invalidated_stag,
            )
        })
        .collect();
    let s = CompletionStatus::Success;
    assert_eq!(
        flags,
        vec![
            (100, WcOpcode::Recv, s, 10, false, None),
            (101, WcOpcode::Recv, s, 11, true, None),
            (
                102,
                WcOpcode::RecvWithInvalidate,
                s,
                12,
                false,
                Some(inv_target)
            ),
            (
                103,
                WcOpcode::RecvWithInvalidate,
                s,
                13,
                true,
                Some(inv_target2)
            ),
        ]
    );
    for (i, s) in sinks.iter().enumerate() {
        assert_eq!(
            p.mem_b.contents(s.lkey)[..10 + i],
            pattern(10 + i, i as u8)[..]
        );
    }
    // The invalidated STag no longer accepts remote writes.
    assert_eq!(
        p.mem_b
            .check_remote(inv_target, 0x9000, 1, RemoteAccess::Write, PD),
        Err(ProtectionFault::Invalidated)
    );
}

#[test]
fn msn_starts_at_one_per_queue_and_mo_advances() {
    let mut p = Pair::new(Pair::cfg());
    for i in 0..3 {
        let s = sink(&p.mem_b, 0x1000 * (i + 1), 400);
        p.b.post_recv(&RecvRequest {
            wr_id: i,
            sges: &[s],
        })
        .unwrap();
    }
    let remote = sink(&p.mem_b, 0x8000, 64);
    let src = source(&p.mem_a, 0x1000, &pattern(300, 1));
    let rsink = sink(&p.mem_a, 0x9000, 64);
    p.a.post_send(&send(1, SendOp::Send, &[src])).unwrap();
    let read = SendOp::Read {
        remote_stag: remote.lkey,
        remote_to: remote.addr,
    };
    p.a.post_send(&send(2, read, &[rsink])).unwrap();
    p.a.post_send(&send(3, SendOp::Send, &[])).unwrap();
    p.a.post_send(&send(4, read, &[rsink])).unwrap();
    p.drive();
    let untagged: Vec<(u32, u32, u32, bool)> = segments(&p.ab.log)
        .iter()
        .filter_map(
            |s| match ddp::Repr::parse(&ddp::Frame::new_unchecked(&s[..])).unwrap() {
                ddp::Repr {
                    last,
                    model: ddp::BufferModel::Untagged { qn, msn, mo, .. },
                    ..
                } => Some((qn, msn, mo, last)),
                _ => None,
            },
        )
        .collect();
    // 300 bytes at 110 per segment (MULPDU 128 - 18): MO 0, 110, 220.
    assert_eq!(
        untagged,
        vec![
            (0, 1, 0, false),
            (0, 1, 110, false),
            (0, 1, 220, true),
            (1, 1, 0, true),
            (0, 2, 0, true),
            (1, 2, 0, true),
        ]
    );
    let a: Vec<_> = p
        .completions_a()
        .iter()
        .map(|c| (c.wr_id, c.status))
        .collect();
    let s = CompletionStatus::Success;
    assert_eq!(a, vec![(1, s), (2, s), (3, s), (4, s)]);
}

#[test]
fn multi_segment_messages_scatter_and_gather_across_sges_at_every_split() {
    for split in [1usize, 2, 3, 7, 64, 131, 1000] {
        let mut p = Pair::new(Pair::cfg());
        p.splits = vec![split];
        let data = pattern(1000, 9);
        let s1 = source(&p.mem_a, 0x1000, &data[..100]);
        let s2 = source(&p.mem_a, 0x2000, &data[100..700]);
        let s3 = source(&p.mem_a, 0x3000, &data[700..]);
        let r1 = sink(&p.mem_b, 0x1000, 333);
        let r2 = sink(&p.mem_b, 0x2000, 1000);
        p.b.post_recv(&RecvRequest {
            wr_id: 7,
            sges: &[r1, r2],
        })
        .unwrap();
        p.a.post_send(&send(1, SendOp::Send, &[s1, s2, s3]))
            .unwrap();
        // A Write of the same data and a Read back of it.
        let w = sink(&p.mem_b, 0x10_0000, 1000);
        let write = SendOp::Write {
            remote_stag: w.lkey,
            remote_to: w.addr,
        };
        p.a.post_send(&send(2, write, &[s1, s2, s3])).unwrap();
        let back = sink(&p.mem_a, 0x20_0000, 1000);
        let read = SendOp::Read {
            remote_stag: w.lkey,
            remote_to: w.addr,
        };
        p.a.post_send(&send(3, read, &[back])).unwrap();
        p.drive();
        assert_eq!(p.ab.error, None, "split {split}");
        assert_eq!(p.ba.error, None, "split {split}");
        assert_eq!(
            p.completions_a(),
            vec![
                ok(1, WcOpcode::Send, 1000),
                ok(2, WcOpcode::Write, 1000),
                ok(3, WcOpcode::Read, 1000)
            ]
        );
        assert_eq!(p.completions_b(), vec![ok(7, WcOpcode::Recv, 1000)]);
        let mut got = p.mem_b.contents(r1.lkey);
        got.extend(&p.mem_b.contents(r2.lkey)[..667]);
        assert_eq!(got, data, "split {split}");
        assert_eq!(p.mem_b.contents(w.lkey), data);
        assert_eq!(p.mem_a.contents(back.lkey), data);
    }
}

#[test]
fn zero_length_send_write_and_read_complete() {
    let mut p = Pair::new(Pair::cfg());
    let r = sink(&p.mem_b, 0x1000, 8);
    p.b.post_recv(&RecvRequest {
        wr_id: 9,
        sges: &[r],
    })
    .unwrap();
    p.a.post_send(&send(1, SendOp::Send, &[])).unwrap();
    // A zero-length Write names an STag that does not exist: no buffer is touched.
    let write = SendOp::Write {
        remote_stag: 0xdead_beef,
        remote_to: 0,
    };
    p.a.post_send(&send(2, write, &[])).unwrap();
    let read = SendOp::Read {
        remote_stag: 0xdead_beef,
        remote_to: 0,
    };
    p.a.post_send(&send(3, read, &[])).unwrap();
    p.drive();
    assert_eq!(
        p.completions_a(),
        vec![
            ok(1, WcOpcode::Send, 0),
            ok(2, WcOpcode::Write, 0),
            ok(3, WcOpcode::Read, 0)
        ]
    );
    assert_eq!(p.completions_b(), vec![ok(9, WcOpcode::Recv, 0)]);
    assert!(p.events_b().is_empty(), "not the first FPDU: no RTR event");
}

#[test]
fn inline_payload_is_copied_at_post_time() {
    let mut p = Pair::new(Pair::cfg());
    let r = sink(&p.mem_b, 0x1000, 64);
    p.b.post_recv(&RecvRequest {
        wr_id: 5,
        sges: &[r],
    })
    .unwrap();
    let mut data = *b"inline bytes";
    let wr = SendRequest {
        wr_id: 1,
        op: SendOp::Send,
        payload: Payload::Inline(&data),
    };
    p.a.post_send(&wr).unwrap();
    data.fill(0);
    p.drive();
    assert_eq!(&p.mem_b.contents(r.lkey)[..12], b"inline bytes");
    let too_long = vec![0u8; 129];
    let wr = SendRequest {
        wr_id: 2,
        op: SendOp::Send,
        payload: Payload::Inline(&too_long),
    };
    assert_eq!(
        p.a.post_send(&wr),
        Err(PostError::InlineTooLong { len: 129, max: 128 })
    );
}

/// Sends a one-segment Write of 8 bytes from a to `stag`/`to` of b and returns what
/// happened.
fn write_violation(
    setup: impl FnOnce(&VecMemory) -> (u32, u64),
) -> (Pair, Option<rdmap::TerminateRepr>) {
    let mut p = Pair::new(Pair::cfg());
    let (stag, to) = setup(&p.mem_b);
    let src = source(&p.mem_a, 0x1000, &pattern(8, 3));
    let write = SendOp::Write {
        remote_stag: stag,
        remote_to: to,
    };
    p.a.post_send(&send(1, write, &[src])).unwrap();
    p.drive();
    let term = terminate_in(&p.ba.log);
    (p, term)
}

#[test]
fn rfc5042_write_violations_terminate_and_place_nothing() {
    let other_pd = |m: &VecMemory| (m.register(PdId(99), 0x1000, 64, VecAccess::ALL), 0x1000);
    let read_only = |m: &VecMemory| {
        let access = VecAccess {
            remote_read: true,
            local_write: true,
            remote_write: false,
        };
        (m.register(PD, 0x1000, 64, access), 0x1000)
    };
    let out_of_bounds = |m: &VecMemory| (m.register(PD, 0x1000, 64, VecAccess::ALL), 0x1000 + 60);
    let before_base = |m: &VecMemory| (m.register(PD, 0x1000, 64, VecAccess::ALL), 0xffc);
    let invalidated = |m: &VecMemory| {
        let k = m.register(PD, 0x1000, 64, VecAccess::ALL);
        m.invalidate(k, PD).unwrap();
        (k, 0x1000)
    };
    let to_wrap = |m: &VecMemory| (m.register(PD, 0x1000, 64, VecAccess::ALL), u64::MAX - 3);
    let bad_stag = |m: &VecMemory| (m.register(PD, 0x1000, 64, VecAccess::ALL) ^ 0xff00, 0x1000);
    type Setup = fn(&VecMemory) -> (u32, u64);
    let cases: [(&str, Setup, TermCause); 7] = [
        (
            "bad STag",
            bad_stag,
            TermCause::DdpTagged(DdpTaggedCode::InvalidStag),
        ),
        (
            "wrong PD",
            other_pd,
            TermCause::DdpTagged(DdpTaggedCode::StagNotAssociated),
        ),
        (
            "no remote write",
            read_only,
            TermCause::RdmapProtection(RdmapProtectionCode::AccessRights),
        ),
        (
            "past the end",
            out_of_bounds,
            TermCause::DdpTagged(DdpTaggedCode::BaseOrBounds),
        ),
        (
            "before the base",
            before_base,
            TermCause::DdpTagged(DdpTaggedCode::BaseOrBounds),
        ),
        (
            "invalidated",
            invalidated,
            TermCause::DdpTagged(DdpTaggedCode::InvalidStag),
        ),
        (
            "TO wrap",
            to_wrap,
            TermCause::DdpTagged(DdpTaggedCode::ToWrap),
        ),
    ];
    for (name, setup, cause) in cases {
        let (mut p, term) = write_violation(setup);
        let term = term.unwrap_or_else(|| panic!("{name}: no Terminate"));
        assert_eq!(term.cause, cause, "{name}");
        assert!(term.segment_len_valid, "{name}: M bit");
        let copied = term.ddp.expect("D bit");
        assert_eq!(copied.segment_len, 14 + 8, "{name}");
        assert_eq!(
            copied.header.as_bytes(),
            &segments(&p.ab.log)[0][..14],
            "{name}"
        );
        assert_eq!(term.rdma, None, "{name}: R only for Read Requests");
        assert_eq!(p.ab.error, Some(ConnError::Violation(cause)), "{name}");
        assert!(
            p.mem_b.contents(0x15a).iter().all(|b| *b == 0),
            "{name}: placed nothing"
        );
        assert_eq!(
            p.events_b(),
            vec![ConnEvent::EnteredError, ConnEvent::TerminateSent(cause)]
        );
        assert_eq!(
            p.events_a(),
            vec![ConnEvent::TerminateReceived(cause), ConnEvent::EnteredError]
        );
        assert!(p.a.is_error() && p.b.is_error());
    }
}

#[test]
fn rfc5042_read_request_violations_terminate_with_rdmap_codes() {
    type Setup = fn(&VecMemory) -> (u32, u64);
    let write_only: Setup = |m| {
        let access = VecAccess {
            remote_write: true,
            ..VecAccess::default()
        };
        (m.register(PD, 0x1000, 64, access), 0x1000)
    };
    let cases: [(Setup, RdmapProtectionCode); 5] = [
        (
            |m| (m.register(PD, 0x1000, 64, VecAccess::ALL) + 0x100, 0x1000),
            RdmapProtectionCode::InvalidStag,
        ),
        (
            |m| (m.register(PdId(5), 0x1000, 64, VecAccess::ALL), 0x1000),
            RdmapProtectionCode::StagNotAssociated,
        ),
        (write_only, RdmapProtectionCode::AccessRights),
        (
            |m| (m.register(PD, 0x1000, 64, VecAccess::ALL), 0x1001),
            RdmapProtectionCode::BaseOrBounds,
        ),
        (
            |m| (m.register(PD, 0x1000, 64, VecAccess::ALL), u64::MAX - 8),
            RdmapProtectionCode::ToWrap,
        ),
    ];
    for (setup, code) in cases {
        let mut p = Pair::new(Pair::cfg());
        let (stag, to) = setup(&p.mem_b);
        let back = sink(&p.mem_a, 0x4000, 64);
        let read = SendOp::Read {
            remote_stag: stag,
            remote_to: to,
        };
        p.a.post_send(&send(1, read, &[back])).unwrap();
        p.drive();
        let term = terminate_in(&p.ba.log).expect("Terminate");
        assert_eq!(term.cause, TermCause::RdmapProtection(code));
        let rr = term.rdma.expect("R bit: Read Request header copied");
        assert_eq!((rr.src_stag, rr.src_to, rr.size), (stag, to, 64));
        assert_eq!(
            p.completions_a(),
            vec![Completion {
                status: CompletionStatus::RemoteAccessError,
                ..flushed(1, WcOpcode::Read)
            }]
        );
    }
}

#[test]
fn corrupted_byte_with_crc_terminates_with_mpa_crc_error_and_places_nothing() {
    let cfg = ConnConfig {
        crc: true,
        ..Pair::cfg()
    };
    for corrupt_at in [0usize, 1, 5, 20, 25, 33] {
        let mut p = Pair::new(cfg);
        let w = sink(&p.mem_b, 0x1000, 64);
        let src = source(&p.mem_a, 0x1000, &pattern(16, 1));
        let write = SendOp::Write {
            remote_stag: w.lkey,
            remote_to: w.addr,
        };
        p.a.post_send(&send(1, write, &[src])).unwrap();
        let mut out = vec![0u8; 256];
        let n = p.a.poll_transmit(&p.mem_a, &mut out);
        assert_eq!(n, 36);
        // Byte 0 is the high length byte: corrupting it makes a longer FPDU; pad the
        // stream so it completes.
        out[corrupt_at] ^= 0x10;
        let stream_len = if corrupt_at == 0 { 36 + 0x1000 } else { 36 };
        out.resize(stream_len.max(n), 0);
        let cause = TermCause::Mpa(MpaErrorCode::CrcError);
        assert_eq!(
            p.b.handle_bytes(&p.mem_b, &out[..stream_len]),
            Err(ConnError::Violation(cause))
        );
        assert!(
            p.mem_b.contents(w.lkey).iter().all(|b| *b == 0),
            "corrupt {corrupt_at}"
        );
        let reply = transmit_all(&mut p.b, &p.mem_b);
        let term = terminate_in(&reply).expect("Terminate");
        assert_eq!(
            (
                term.cause.layer() as u8,
                term.cause.error_type(),
                term.cause.error_code()
            ),
            (2, 0, 2)
        );
    }
}

#[test]
fn crc_off_ignores_crc_field() {
    let mut p = Pair::new(Pair::cfg());
    let r = sink(&p.mem_b, 0x1000, 64);
    p.b.post_recv(&RecvRequest {
        wr_id: 1,
        sges: &[r],
    })
    .unwrap();
    let mut fpdu = hex(GOLDEN_SEND);
    let len = fpdu.len();
    fpdu[len - 1] = 0x77;
    assert_eq!(p.b.handle_bytes(&p.mem_b, &fpdu), Ok(len));
    assert_eq!(p.completions_b(), vec![ok(1, WcOpcode::Recv, 16)]);
}

#[test]
fn send_without_posted_receive_terminates() {
    let mut p = Pair::new(Pair::cfg());
    p.a.post_send(&send(1, SendOp::Send, &[])).unwrap();
    p.drive();
    let cause = TermCause::DdpUntagged(DdpUntaggedCode::InvalidMsnNoBuffer);
    let term = terminate_in(&p.ba.log).expect("Terminate");
    assert_eq!(term.cause, cause);
    assert_eq!(term.ddp.map(|d| d.header.as_bytes().len()), Some(18));
    assert_eq!(p.ab.error, Some(ConnError::Violation(cause)));
    assert_eq!(p.ba.error, Some(ConnError::TerminateReceived(cause)));
}

#[test]
fn receive_too_small_fails_with_length_error() {
    let mut p = Pair::new(Pair::cfg());
    let r = sink(&p.mem_b, 0x1000, 8);
    p.b.post_recv(&RecvRequest {
        wr_id: 4,
        sges: &[r],
    })
    .unwrap();
    p.b.post_recv(&RecvRequest {
        wr_id: 5,
        sges: &[r],
    })
    .unwrap();
    let src = source(&p.mem_a, 0x1000, &pattern(9, 0));
    p.a.post_send(&send(1, SendOp::Send, &[src])).unwrap();
    p.drive();
    assert_eq!(
        terminate_in(&p.ba.log).map(|t| t.cause),
        Some(TermCause::DdpUntagged(DdpUntaggedCode::MessageTooLong))
    );
    assert_eq!(
        p.completions_b(),
        vec![
            Completion {
                status: CompletionStatus::LocalLengthError,
                ..flushed(4, WcOpcode::Recv)
            },
            flushed(5, WcOpcode::Recv)
        ]
    );
    assert!(p.mem_b.contents(r.lkey).iter().all(|b| *b == 0));
}

/// Builds an FPDU (CRC off) for `msg` with `payload`, then lets `tweak` edit the ULPDU.
fn fpdu(msg: rdmap::Repr, payload: &[u8], tweak: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let hl = msg.header_len();
    let mut ulpdu = vec![0u8; hl + payload.len()];
    msg.emit(&mut ddp::Frame::new_unchecked(&mut ulpdu[..hl]));
    ulpdu[hl..].copy_from_slice(payload);
    tweak(&mut ulpdu);
    let mut out = (ulpdu.len() as u16).to_be_bytes().to_vec();
    out.extend(&ulpdu);
    out.resize(crate::soft::wire::mpa::fpdu_len(ulpdu.len()), 0);
    out
}

#[test]
fn malformed_segments_terminate_with_the_right_code() {
    let send1 = rdmap::Repr::Send {
        solicited: false,
        invalidate: None,
        msn: 1,
        mo: 0,
        last: true,
    };
    let write = rdmap::Repr::Write {
        stag: 0x15a,
        to: 0x1000,
        last: true,
    };
    let cases: Vec<(&str, Vec<u8>, TermCause)> = vec![
        (
            "DDP version 2 untagged",
            fpdu(send1, b"x", |u| u[0] = 0x42),
            TermCause::DdpUntagged(DdpUntaggedCode::InvalidVersion),
        ),
        (
            "DDP version 0 tagged",
            fpdu(write, b"x", |u| u[0] = 0xc0),
            TermCause::DdpTagged(DdpTaggedCode::InvalidVersion),
        ),
        (
            "RDMAP version 0",
            fpdu(send1, b"x", |u| u[1] = 0x03),
            TermCause::RdmapOperation(RdmapOperationCode::InvalidVersion),
        ),
        (
            "opcode 8",
            fpdu(send1, b"x", |u| u[1] = 0x48),
            TermCause::RdmapOperation(RdmapOperationCode::UnexpectedOpcode),
        ),
        (
            "Send tagged",
            fpdu(write, b"x", |u| u[1] = 0x43),
            TermCause::RdmapOperation(RdmapOperationCode::UnexpectedOpcode),
        ),
        (
            "Send on QN 1",
            fpdu(send1, b"x", |u| u[9] = 1),
            TermCause::DdpUntagged(DdpUntaggedCode::InvalidQn),
        ),
        (
            "Send MSN 2",
            fpdu(send1, b"x", |u| u[13] = 2),
            TermCause::DdpUntagged(DdpUntaggedCode::InvalidMsnRange),
        ),
        (
            "MO past buffer",
            fpdu(send1, b"x", |u| u[16] = 1),
            TermCause::DdpUntagged(DdpUntaggedCode::InvalidMo),
        ),
        (
            "message too long",
            fpdu(send1, &[7; 65], |_| ()),
            TermCause::DdpUntagged(DdpUntaggedCode::MessageTooLong),
        ),
        (
            "short header",
            vec![0, 3, 0x41, 0x43, 0, 0, 0, 0, 0, 0, 0, 0],
            TermCause::RdmapOperation(RdmapOperationCode::CatastrophicStream),
        ),
        (
            "Read Response unasked",
            fpdu(
                rdmap::Repr::ReadResponse {
                    stag: 1,
                    to: 0,
                    last: true,
                },
                b"",
                |_| (),
            ),
            TermCause::DdpTagged(DdpTaggedCode::InvalidStag),
        ),
    ];
    for (name, bytes, cause) in cases {
        let mem = VecMemory::new();
        let r = sink(&mem, 0x1000, 64);
        let mut c = conn(Pair::cfg());
        c.post_recv(&RecvRequest {
            wr_id: 1,
            sges: &[r],
        })
        .unwrap();
        assert_eq!(
            c.handle_bytes(&mem, &bytes),
            Err(ConnError::Violation(cause)),
            "{name}"
        );
        let term = terminate_in(&transmit_all(&mut c, &mem)).expect(name);
        assert_eq!(term.cause, cause, "{name}");
        assert!(mem.contents(r.lkey).iter().all(|b| *b == 0), "{name}");
        assert_eq!(
            c.handle_bytes(&mem, &bytes),
            Err(ConnError::InError),
            "{name}"
        );
    }
}

#[test]
fn ord_limits_outstanding_reads_without_error() {
    let cfg = ConnConfig {
        ord: 1,
        ..Pair::cfg()
    };
    let mut p = Pair::new(cfg);
    let remote = source(&p.mem_b, 0x1000, &pattern(64, 4));
    let read = SendOp::Read {
        remote_stag: remote.lkey,
        remote_to: remote.addr,
    };
    let sinks: Vec<Sge> = (0..3)
        .map(|i| sink(&p.mem_a, 0x10_000 * (i + 1), 64))
        .collect();
    for (i, s) in sinks.iter().enumerate() {
        p.a.post_send(&send(i as u64, read, &[*s])).unwrap();
    }
    let out = transmit_all(&mut p.a, &p.mem_a);
    assert_eq!(
        messages(&out).len(),
        1,
        "ORD 1: one Read Request on the wire"
    );
    assert!(!p.a.wants_transmit());
    p.ab.in_flight.extend(&out);
    p.ab.log.extend(&out);
    p.drive();
    let done: Vec<_> = p
        .completions_a()
        .iter()
        .map(|c| (c.wr_id, c.status))
        .collect();
    let s = CompletionStatus::Success;
    assert_eq!(done, vec![(0, s), (1, s), (2, s)]);
    for s in &sinks {
        assert_eq!(p.mem_a.contents(s.lkey), pattern(64, 4));
    }
}

#[test]
fn reads_beyond_ird_terminate() {
    let a_cfg = ConnConfig {
        ord: 4,
        ..Pair::cfg()
    };
    let b_cfg = ConnConfig {
        ird: 2,
        ..Pair::cfg()
    };
    let mut p = Pair::with(a_cfg, b_cfg);
    // Room for all three Read Requests in one transmit, so they arrive together.
    p.tx_buf = 4096;
    let remote = source(&p.mem_b, 0x1000, &pattern(64, 4));
    let read = SendOp::Read {
        remote_stag: remote.lkey,
        remote_to: remote.addr,
    };
    let back = sink(&p.mem_a, 0x1000, 64);
    for i in 0..3 {
        p.a.post_send(&send(i, read, &[back])).unwrap();
    }
    p.drive();
    let term = terminate_in(&p.ba.log).expect("Terminate");
    assert_eq!(
        term.cause,
        TermCause::DdpUntagged(DdpUntaggedCode::InvalidMsnNoBuffer)
    );
    assert!(term.rdma.is_some());
}

#[test]
fn error_flushes_every_outstanding_request_in_order() {
    let mut p = Pair::new(Pair::cfg());
    for i in 0..3 {
        let r = sink(&p.mem_a, 0x1000 * (i + 1), 16);
        p.a.post_recv(&RecvRequest {
            wr_id: 10 + i,
            sges: &[r],
        })
        .unwrap();
    }
    let remote = source(&p.mem_b, 0x1000, &pattern(16, 0));
    let back = sink(&p.mem_a, 0x9000, 16);
    let read = SendOp::Read {
        remote_stag: remote.lkey,
        remote_to: remote.addr,
    };
    p.a.post_send(&send(1, read, &[back])).unwrap();
    p.a.post_send(&send(2, SendOp::Send, &[])).unwrap();
    p.a.post_send(&send(3, SendOp::Send, &[])).unwrap();
    // Transmit everything but deliver nothing; then the stream dies.
    let _ = transmit_all(&mut p.a, &p.mem_a);
    p.a.handle_stream_closed();
    assert_eq!(
        p.completions_a(),
        vec![
            flushed(1, WcOpcode::Read),
            flushed(2, WcOpcode::Send),
            flushed(3, WcOpcode::Send),
            flushed(10, WcOpcode::Recv),
            flushed(11, WcOpcode::Recv),
            flushed(12, WcOpcode::Recv),
        ]
    );
    assert_eq!(p.events_a(), vec![ConnEvent::EnteredError]);
    // Posting in Error completes at once with a flush.
    p.a.post_send(&send(4, SendOp::Send, &[])).unwrap();
    p.a.post_recv(&RecvRequest {
        wr_id: 13,
        sges: &[],
    })
    .unwrap();
    assert_eq!(
        p.completions_a(),
        vec![flushed(4, WcOpcode::Send), flushed(13, WcOpcode::Recv)]
    );
    assert_eq!(transmit_all(&mut p.a, &p.mem_a), Vec::<u8>::new());
}

#[test]
fn local_protection_error_fails_the_request_and_terminates() {
    let mut p = Pair::new(Pair::cfg());
    let bogus = Sge {
        lkey: 0x4242,
        addr: 0,
        len: 4,
    };
    p.a.post_send(&send(1, SendOp::Send, &[bogus])).unwrap();
    p.a.post_send(&send(2, SendOp::Send, &[])).unwrap();
    p.drive();
    assert_eq!(
        p.completions_a(),
        vec![
            Completion {
                status: CompletionStatus::LocalProtectionError,
                ..flushed(1, WcOpcode::Send)
            },
            flushed(2, WcOpcode::Send)
        ]
    );
    assert_eq!(
        terminate_in(&p.ab.log).map(|t| t.cause),
        Some(TermCause::RdmapCatastrophic)
    );
}

#[test]
fn queues_refuse_when_full_and_never_drop() {
    let cfg = ConnConfig {
        sq_depth: 2,
        rq_depth: 1,
        ..Pair::cfg()
    };
    let mut p = Pair::new(cfg);
    p.a.post_send(&send(1, SendOp::Send, &[])).unwrap();
    p.a.post_send(&send(2, SendOp::Send, &[])).unwrap();
    assert_eq!(
        p.a.post_send(&send(3, SendOp::Send, &[])),
        Err(PostError::QueueFull)
    );
    p.b.post_recv(&RecvRequest {
        wr_id: 1,
        sges: &[],
    })
    .unwrap();
    assert_eq!(
        p.b.post_recv(&RecvRequest {
            wr_id: 2,
            sges: &[]
        }),
        Err(PostError::QueueFull)
    );
    let _ = transmit_all(&mut p.a, &p.mem_a);
    // Transmitted but not polled: the slots are still taken.
    assert_eq!(
        p.a.post_send(&send(3, SendOp::Send, &[])),
        Err(PostError::QueueFull)
    );
    assert_eq!(p.a.poll_completion().map(|c| c.wr_id), Some(1));
    p.a.post_send(&send(3, SendOp::Send, &[])).unwrap();
    let sges = [Sge::default(); 5];
    assert_eq!(
        p.b.post_send(&send(4, SendOp::Send, &sges)),
        Err(PostError::TooManySge { given: 5, max: 4 })
    );
}

#[test]
fn post_validates_requests() {
    let mut c = conn(Pair::cfg());
    let read = SendOp::Read {
        remote_stag: 1,
        remote_to: 0,
    };
    let two = [Sge::default(); 2];
    assert_eq!(
        c.post_send(&send(1, read, &two)),
        Err(PostError::ReadSinkSge(2))
    );
    let wr = SendRequest {
        wr_id: 1,
        op: read,
        payload: Payload::Inline(b"x"),
    };
    assert_eq!(c.post_send(&wr), Err(PostError::InlineRead));
    let huge = [Sge {
        lkey: 1,
        addr: 0,
        len: u32::MAX,
    }];
    assert!(matches!(
        c.post_send(&send(1, SendOp::Send, &huge)),
        Err(PostError::MessageTooLong { .. })
    ));
    assert_eq!(
        Connection::new(ConnConfig {
            mulpdu: 71,
            ..Pair::cfg()
        })
        .err(),
        Some(ConfigError::Mulpdu(71))
    );
    assert_eq!(
        Connection::new(ConnConfig {
            max_sge: 5,
            ..Pair::cfg()
        })
        .err(),
        Some(ConfigError::MaxSge(5))
    );
    assert_eq!(
        Connection::new(ConnConfig {
            sq_depth: 0,
            ..Pair::cfg()
        })
        .err(),
        Some(ConfigError::ZeroDepth)
    );
}

#[test]
fn small_transmit_buffer_waits_for_a_whole_fpdu() {
    let mut c = conn(Pair::cfg());
    let mem = VecMemory::new();
    let src = source(&mem, 0x1000, &pattern(100, 0));
    c.post_send(&send(1, SendOp::Send, &[src])).unwrap();
    let mut small = [0u8; 64];
    assert_eq!(c.poll_transmit(&mem, &mut small), 0);
    assert!(c.wants_transmit());
    let mut big = vec![0u8; c.max_fpdu_len()];
    assert_eq!(c.poll_transmit(&mem, &mut big), 2 + 18 + 100 + 4);
}

/// One operation of the property test.
#[derive(Clone, Debug)]
enum Op {
    Send(usize),
    Write(usize),
    Read(usize),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..600).prop_map(Op::Send),
        (0usize..600).prop_map(Op::Write),
        (0usize..600).prop_map(Op::Read),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random operations over random split points deliver exactly the right bytes.
    #[test]
    fn random_ops_over_random_splits_deliver_correct_data(
        ops in prop::collection::vec(op_strategy(), 1..12),
        splits in prop::collection::vec(1usize..300, 1..8),
        crc in any::<bool>(),
        mulpdu in 72usize..400,
    ) {
        let cfg = ConnConfig { crc, mulpdu, ..Pair::cfg() };
        let mut p = Pair::new(cfg);
        p.splits = splits;
        let remote = source(&p.mem_b, 0x100_0000, &pattern(600, 77));
        let mut expect_a = Vec::new();
        let mut checks = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let i = i as u64;
            let base = 0x1_0000 * (i + 1);
            match *op {
                Op::Send(len) => {
                    let data = pattern(len, i as u8);
                    let src = source(&p.mem_a, base, &data);
                    let dst = sink(&p.mem_b, base, 600);
                    p.b.post_recv(&RecvRequest { wr_id: i, sges: &[dst] }).unwrap();
                    p.a.post_send(&send(i, SendOp::Send, &[src])).unwrap();
                    expect_a.push(ok(i, WcOpcode::Send, len as u32));
                    checks.push((true, dst.lkey, data));
                }
                Op::Write(len) => {
                    let data = pattern(len, i as u8);
                    let src = source(&p.mem_a, base, &data);
                    let dst = sink(&p.mem_b, base, len);
                    let op = SendOp::Write { remote_stag: dst.lkey, remote_to: dst.addr };
                    p.a.post_send(&send(i, op, &[src])).unwrap();
                    expect_a.push(ok(i, WcOpcode::Write, len as u32));
                    checks.push((true, dst.lkey, data));
                }
                Op::Read(len) => {
                    let dst = sink(&p.mem_a, base, len);
                    let op = SendOp::Read { remote_stag: remote.lkey, remote_to: remote.addr };
                    p.a.post_send(&send(i, op, &[dst])).unwrap();
                    expect_a.push(ok(i, WcOpcode::Read, len as u32));
                    checks.push((false, dst.lkey, pattern(600, 77)[..len].to_vec()));
                }
            }
        }
        p.drive();
        prop_assert_eq!(p.ab.error, None);
        prop_assert_eq!(p.ba.error, None);
        prop_assert_eq!(p.completions_a(), expect_a);
        for (on_b, key, data) in checks {
            let mem = if on_b { &p.mem_b } else { &p.mem_a };
            prop_assert_eq!(&mem.contents(key)[..data.len()], &data[..]);
        }
    }

    /// Arbitrary bytes never panic the receive path, whatever the split.
    #[test]
    fn arbitrary_input_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        split in 1usize..64,
        crc in any::<bool>(),
    ) {
        let mem = VecMemory::new();
        let r = sink(&mem, 0x1000, 64);
        let mut c = conn(ConnConfig { crc, ..Pair::cfg() });
        c.post_recv(&RecvRequest { wr_id: 1, sges: &[r] }).unwrap();
        for chunk in bytes.chunks(split) {
            if c.handle_bytes(&mem, chunk).is_err() {
                break;
            }
        }
        let _ = transmit_all(&mut c, &mem);
        while c.poll_completion().is_some() {}
    }
}

#[test]
fn send_with_invalidate_of_foreign_stag_terminates() {
    let mut p = Pair::new(Pair::cfg());
    let foreign = p.mem_b.register(PdId(77), 0x5000, 8, VecAccess::ALL);
    let r = sink(&p.mem_b, 0x1000, 16);
    p.b.post_recv(&RecvRequest {
        wr_id: 3,
        sges: &[r],
    })
    .unwrap();
    p.a.post_send(&send(1, SendOp::SendInv { inv_stag: foreign }, &[]))
        .unwrap();
    p.drive();
    let cause = TermCause::RdmapOperation(RdmapOperationCode::CannotInvalidate);
    assert_eq!(terminate_in(&p.ba.log).map(|t| t.cause), Some(cause));
    assert_eq!(
        p.completions_b(),
        vec![Completion {
            status: CompletionStatus::RemoteInvalidateError,
            ..flushed(3, WcOpcode::Recv)
        }]
    );
    assert_eq!(
        p.mem_b
            .check_remote(foreign, 0x5000, 8, RemoteAccess::Write, PdId(77)),
        Ok(())
    );
}

#[test]
fn read_response_off_track_is_refused() {
    let mut c = conn(Pair::cfg());
    let mem = VecMemory::new();
    let back = sink(&mem, 0x1000, 64);
    let read = SendOp::Read {
        remote_stag: 9,
        remote_to: 0,
    };
    c.post_send(&send(1, read, &[back])).unwrap();
    let _ = transmit_all(&mut c, &mem);
    let resp = |to: u64, len: usize, last: bool| {
        fpdu(
            rdmap::Repr::ReadResponse {
                stag: back.lkey,
                to,
                last,
            },
            &pattern(len, 0),
            |_| (),
        )
    };
    let bounds = TermCause::DdpTagged(DdpTaggedCode::BaseOrBounds);
    // Wrong TO.
    let mut c2 = conn(Pair::cfg());
    c2.post_send(&send(1, read, &[back])).unwrap();
    let _ = transmit_all(&mut c2, &mem);
    assert_eq!(
        c2.handle_bytes(&mem, &resp(0x1008, 8, false)),
        Err(ConnError::Violation(bounds))
    );
    // Too long.
    assert_eq!(
        c.handle_bytes(&mem, &resp(0x1000, 65, true)),
        Err(ConnError::Violation(bounds))
    );
    assert!(mem.contents(back.lkey).iter().all(|b| *b == 0));
    assert_eq!(
        c.poll_completion(),
        Some(Completion {
            status: CompletionStatus::RemoteOperationError,
            ..flushed(1, WcOpcode::Read)
        })
    );
}

#[test]
fn terminate_frame_is_byte_exact() {
    // siw's golden Send arriving with no receive posted (RFC 5040 §4.8 layout: control
    // word 0x12 0x02 M|D, DDP Segment Length, the Send's 18-byte DDP header).
    let mut c = conn(ConnConfig::new(PD));
    let cause = TermCause::DdpUntagged(DdpUntaggedCode::InvalidMsnNoBuffer);
    assert_eq!(
        c.handle_bytes(&Permissive, &hex(GOLDEN_SEND)),
        Err(ConnError::Violation(cause))
    );
    let expected = hex("002a 41 47 00000000 00000002 00000001 00000000 |
         12 02 c0 00 | 0022 | 41 43 00000000 00000000 00000001 00000000 | 00000000");
    assert_eq!(transmit_all(&mut c, &Permissive), expected);
    assert_eq!(
        std::iter::from_fn(|| c.poll_event()).collect::<Vec<_>>(),
        vec![ConnEvent::EnteredError, ConnEvent::TerminateSent(cause)]
    );
}

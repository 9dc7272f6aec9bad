//! MPA setup tests: a `Pair` of initiator and responder driven in memory, and the
//! kernel siw frames of `../shared/siw-vm/README.md` fed to each side.

use super::*;
use crate::soft::wire::hex;
use proptest::prelude::*;

const T0: Nanos = Nanos(1_000);

/// Kernel siw rping client's Request (golden-rping-trace.tsv frame 188).
static SIW_REQUEST: &str = "4d504120494420526571204672616d65 10 02 0004 0001 0001";
/// Kernel siw server's Reply (golden-rping-trace.tsv frame 190).
static SIW_REPLY: &str = "4d504120494420526570204672616d65 10 02 0004 0001 0001";
/// siw's Reject of a v2 Request with M (siw-vm README, responder table).
static SIW_REJECT_MARKERS: &str = "4d504120494420526570204672616d65 30 02 0004 0000 0000";
/// siw's P2P Reply choosing WRITE_RTR (siw-vm README, responder table).
static SIW_REPLY_P2P_WRITE: &str = "4d504120494420526570204672616d65 10 02 0004 8010 8010";
/// siw's P2P Reply choosing READ_RTR (siw-vm README, responder table).
static SIW_REPLY_P2P_READ: &str = "4d504120494420526570204672616d65 10 02 0004 8010 4010";
/// siw P2P Request offering both RTR types (siw-vm README, initiator table).
static SIW_REQUEST_P2P: &str = "4d504120494420526571204672616d65 10 02 0004 8001 c001";
/// The first FPDU after the Reply: siw's zero-length Write RTR.
static SIW_WRITE_RTR: &str = "000e c140 00000001 0000000000000000 00000000";

/// Both ends of one setup, with the bytes each has sent but the other not yet read.
struct Pair {
    init: MpaSetup,
    resp: MpaSetup,
    now: Nanos,
    to_resp: Vec<u8>,
    to_init: Vec<u8>,
}

/// How the responder's application answers a Request.
#[derive(Clone, Copy)]
enum Decision<'a> {
    Accept(&'a [u8]),
    Reject(&'a [u8]),
}

impl Pair {
    fn new(init: MpaConfig, resp: MpaConfig) -> Pair {
        Pair {
            init: MpaSetup::initiator(init, T0).unwrap(),
            resp: MpaSetup::responder(resp, T0).unwrap(),
            now: T0,
            to_resp: Vec::new(),
            to_init: Vec::new(),
        }
    }

    fn drain(setup: &mut MpaSetup, out: &mut Vec<u8>) {
        let mut buf = [0u8; 7];
        loop {
            let n = setup.poll_transmit(&mut buf);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Runs to completion; returns the last event of each side.
    fn run(&mut self, decision: Decision<'_>) -> (Option<MpaEvent>, Option<MpaEvent>) {
        let (mut ie, mut re) = (None, None);
        for _ in 0..8 {
            Pair::drain(&mut self.init, &mut self.to_resp);
            let n = self.resp.handle_bytes(self.now, &self.to_resp);
            self.to_resp.drain(..n);
            while let Some(ev) = self.resp.poll_event() {
                if ev == MpaEvent::RequestReceived {
                    match decision {
                        Decision::Accept(pd) => self.resp.accept(pd).unwrap(),
                        Decision::Reject(why) => self.resp.reject(why).unwrap(),
                    }
                } else {
                    re = Some(ev);
                }
            }
            Pair::drain(&mut self.resp, &mut self.to_init);
            let n = self.init.handle_bytes(self.now, &self.to_init);
            self.to_init.drain(..n);
            while let Some(ev) = self.init.poll_event() {
                ie = Some(ev);
            }
            if ie.is_some() && re.is_some() {
                break;
            }
        }
        (ie, re)
    }
}

fn negotiated(ev: Option<MpaEvent>) -> MpaParams {
    match ev {
        Some(MpaEvent::Negotiated(p)) => p,
        other => panic!("expected Negotiated, got {other:?}"),
    }
}

fn cfg() -> MpaConfig {
    MpaConfig::default()
}

#[test]
fn v2_default_crc_on() {
    let mut pair = Pair::new(
        MpaConfig {
            private_data: PrivateData::new(b"hello").unwrap(),
            ..cfg()
        },
        cfg(),
    );
    let (i, r) = pair.run(Decision::Accept(b"welcome"));
    let (i, r) = (negotiated(i), negotiated(r));
    assert_eq!(
        (i.revision, i.crc, i.enhanced, i.ird, i.ord),
        (2, true, true, 16, 16)
    );
    assert_eq!(
        (r.revision, r.crc, r.enhanced, r.ird, r.ord),
        (2, true, true, 16, 16)
    );
    assert_eq!(i.peer_private_data.as_slice(), b"welcome");
    assert_eq!(r.peer_private_data.as_slice(), b"hello");
    assert!(!i.markers_rx && !i.markers_tx && i.p2p.is_none());
    assert!(pair.init.is_established() && pair.resp.is_established());
    assert_eq!(pair.init.poll_timeout(), None);
}

#[test]
fn v1_both_sides() {
    let v1 = MpaConfig {
        revision: 1,
        ..cfg()
    };
    let mut pair = Pair::new(v1, v1);
    let (i, r) = pair.run(Decision::Accept(b""));
    let (i, r) = (negotiated(i), negotiated(r));
    assert_eq!((i.revision, i.enhanced), (1, false));
    assert_eq!((r.revision, r.enhanced), (1, false));
    // Without the RFC 6581 exchange each side keeps its own configured IRD/ORD.
    assert_eq!((i.ird, i.ord), (16, 16));
}

#[test]
fn v2_initiator_downgrades_to_v1_responder() {
    let mut pair = Pair::new(
        MpaConfig {
            ird: 4,
            ord: 2,
            ..cfg()
        },
        MpaConfig {
            revision: 1,
            ..cfg()
        },
    );
    let (i, r) = pair.run(Decision::Accept(b"v1 here"));
    let (i, r) = (negotiated(i), negotiated(r));
    assert_eq!((i.revision, r.revision), (1, 1));
    assert!(!i.enhanced && !r.enhanced);
    assert_eq!(i.peer_private_data.as_slice(), b"v1 here");
    // The responder saw the IRD/ORD words split off the private data.
    assert!(r.peer_private_data.is_empty());
}

#[test]
fn crc_if_either_side_asks() {
    let accept = MpaConfig {
        crc: CrcPolicy::Accept,
        ..cfg()
    };
    for (ic, rc, want) in [
        (CrcPolicy::Request, CrcPolicy::Accept, true),
        (CrcPolicy::Accept, CrcPolicy::Request, true),
        (CrcPolicy::Accept, CrcPolicy::Accept, false),
        (CrcPolicy::Refuse, CrcPolicy::Accept, false),
    ] {
        let mut pair = Pair::new(
            MpaConfig { crc: ic, ..accept },
            MpaConfig { crc: rc, ..accept },
        );
        let (i, r) = pair.run(Decision::Accept(b""));
        assert_eq!(negotiated(i).crc, want, "{ic:?}/{rc:?}");
        assert_eq!(negotiated(r).crc, want, "{ic:?}/{rc:?}");
    }
}

#[test]
fn crc_refused_either_side() {
    let mut pair = Pair::new(
        cfg(),
        MpaConfig {
            crc: CrcPolicy::Refuse,
            ..cfg()
        },
    );
    let (i, r) = pair.run(Decision::Accept(b""));
    assert_eq!(r, Some(MpaEvent::Failed(MpaError::CrcRefused)));
    assert_eq!(i, Some(MpaEvent::Failed(MpaError::Rejected)));
    assert_eq!(pair.init.peer_private_data(), b"CRC not supported");
    let mut pair = Pair::new(
        MpaConfig {
            crc: CrcPolicy::Refuse,
            ..cfg()
        },
        cfg(),
    );
    let (i, _) = pair.run(Decision::Accept(b""));
    assert_eq!(i, Some(MpaEvent::Failed(MpaError::CrcRefused)));
}

#[test]
fn markers_refused_then_fallback() {
    let wants_markers = MpaConfig {
        markers: MarkerPolicy::Request,
        ..cfg()
    };
    let mut pair = Pair::new(wants_markers, cfg());
    let (i, r) = pair.run(Decision::Accept(b""));
    assert_eq!(r, Some(MpaEvent::Failed(MpaError::MarkersUnsupported)));
    assert_eq!(i, Some(MpaEvent::Failed(MpaError::MarkersRefused)));
    // The clean fallback: same config without markers.
    let mut pair = Pair::new(wants_markers.without_markers(), cfg());
    let (i, _) = pair.run(Decision::Accept(b""));
    assert!(!negotiated(i).markers_rx);
}

#[test]
fn markers_accepted_per_direction() {
    let mut pair = Pair::new(
        MpaConfig {
            markers: MarkerPolicy::Request,
            ..cfg()
        },
        MpaConfig {
            markers: MarkerPolicy::Accept,
            ..cfg()
        },
    );
    let (i, r) = pair.run(Decision::Accept(b""));
    let (i, r) = (negotiated(i), negotiated(r));
    assert!(i.markers_rx && !i.markers_tx);
    assert!(!r.markers_rx && r.markers_tx);
}

#[test]
fn siw_reject_of_markers_reads_as_markers_refused() {
    let mut init = MpaSetup::initiator(
        MpaConfig {
            markers: MarkerPolicy::Request,
            ..cfg()
        },
        T0,
    )
    .unwrap();
    let reply = hex(SIW_REJECT_MARKERS);
    assert_eq!(init.handle_bytes(T0, &reply), reply.len());
    assert_eq!(
        init.poll_event(),
        Some(MpaEvent::Failed(MpaError::MarkersRefused))
    );
    init.handle_closed();
    assert_eq!(init.poll_event(), None);
}

#[test]
fn p2p_write_and_read_rtr() {
    for (offer, accepted, want) in [
        (RtrSet::WRITE, RtrSet::BOTH, RtrType::Write),
        (RtrSet::READ, RtrSet::BOTH, RtrType::Read),
        (RtrSet::BOTH, RtrSet::BOTH, RtrType::Write),
        (RtrSet::BOTH, RtrSet::READ, RtrType::Read),
    ] {
        let mut pair = Pair::new(
            MpaConfig {
                p2p: Some(offer),
                ..cfg()
            },
            MpaConfig {
                rtr_accepted: accepted,
                ..cfg()
            },
        );
        let (i, r) = pair.run(Decision::Accept(b""));
        assert_eq!(negotiated(i).p2p, Some(want));
        assert_eq!(negotiated(r).p2p, Some(want));
    }
    let mut pair = Pair::new(
        MpaConfig {
            p2p: Some(RtrSet::READ),
            ..cfg()
        },
        MpaConfig {
            rtr_accepted: RtrSet::WRITE,
            ..cfg()
        },
    );
    let (i, r) = pair.run(Decision::Accept(b""));
    assert_eq!(r, Some(MpaEvent::Failed(MpaError::NoMatchingRtr)));
    assert_eq!(i, Some(MpaEvent::Failed(MpaError::Rejected)));
}

#[test]
fn ird_ord_clamped_like_siw() {
    let mut pair = Pair::new(
        MpaConfig {
            ird: 200,
            ord: 300,
            ..cfg()
        },
        MpaConfig {
            ird: 128,
            ord: 128,
            ..cfg()
        },
    );
    let (i, r) = pair.run(Decision::Accept(b""));
    let (i, r) = (negotiated(i), negotiated(r));
    assert_eq!((r.ird, r.ord), (128, 128));
    assert_eq!((i.ird, i.ord), (128, 128));
}

#[test]
fn reject_with_reason() {
    let mut pair = Pair::new(cfg(), cfg());
    let (i, r) = pair.run(Decision::Reject(b"go away"));
    assert_eq!(r, Some(MpaEvent::Failed(MpaError::RejectedLocally)));
    assert_eq!(i, Some(MpaEvent::Failed(MpaError::Rejected)));
    assert_eq!(pair.init.peer_private_data(), b"go away");
    let rep = pair.init.peer_frame().unwrap();
    assert!(rep.reject);
    assert_eq!(rep.enhanced, Some(EnhancedParams::default()));
}

#[test]
fn timeout_both_roles() {
    let mut init = MpaSetup::initiator(cfg(), T0).unwrap();
    let deadline = init.poll_timeout().unwrap();
    assert_eq!(deadline, T0.saturating_add(DEFAULT_TIMEOUT));
    init.handle_timeout(Nanos(deadline.0 - 1));
    assert_eq!(init.poll_event(), None);
    init.handle_timeout(deadline);
    assert_eq!(init.poll_event(), Some(MpaEvent::Failed(MpaError::Timeout)));
    assert_eq!(init.poll_timeout(), None);
    assert_eq!(init.handle_bytes(deadline, &hex(SIW_REPLY)), 0);

    // A responder whose application never decides also times out.
    let mut resp = MpaSetup::responder(cfg(), T0).unwrap();
    let req = hex(SIW_REQUEST);
    assert_eq!(resp.handle_bytes(T0, &req), req.len());
    assert_eq!(resp.poll_event(), Some(MpaEvent::RequestReceived));
    resp.handle_timeout(deadline);
    assert_eq!(resp.poll_event(), Some(MpaEvent::Failed(MpaError::Timeout)));
    assert_eq!(resp.accept(b""), Err(ConfigError::NotAwaitingDecision));
}

#[test]
fn garbage_key_and_wrong_frame() {
    let mut resp = MpaSetup::responder(cfg(), T0).unwrap();
    let garbage = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(resp.handle_bytes(T0, garbage), HEADER_LEN);
    assert_eq!(
        resp.poll_event(),
        Some(MpaEvent::Failed(MpaError::Malformed(wire::Error::BadKey)))
    );
    assert!(!resp.has_pending_transmit());
    // An initiator receiving a Request instead of a Reply.
    let mut init = MpaSetup::initiator(cfg(), T0).unwrap();
    let _ = init.handle_bytes(T0, &hex(SIW_REQUEST));
    assert_eq!(
        init.poll_event(),
        Some(MpaEvent::Failed(MpaError::Malformed(wire::Error::BadKey)))
    );
    // PD_Length above 512.
    let mut resp = MpaSetup::responder(cfg(), T0).unwrap();
    let mut req = hex(SIW_REQUEST);
    req[18..20].copy_from_slice(&600u16.to_be_bytes());
    let _ = resp.handle_bytes(T0, &req);
    assert_eq!(
        resp.poll_event(),
        Some(MpaEvent::Failed(MpaError::Malformed(
            wire::Error::Malformed(wire::Field::PdLength)
        )))
    );
}

#[test]
fn revision_rules() {
    // A responder refuses revision 0 with a Reject.
    let mut resp = MpaSetup::responder(cfg(), T0).unwrap();
    let mut req = hex("4d504120494420526571204672616d65 00 00 0000");
    let _ = resp.handle_bytes(T0, &req);
    assert_eq!(
        resp.poll_event(),
        Some(MpaEvent::Failed(MpaError::Revision(0)))
    );
    assert!(resp.has_pending_transmit());
    // Revision 3 is answered with the responder's 2.
    let mut resp = MpaSetup::responder(cfg(), T0).unwrap();
    req[17] = 3;
    let _ = resp.handle_bytes(T0, &req);
    assert_eq!(resp.poll_event(), Some(MpaEvent::RequestReceived));
    resp.accept(b"").unwrap();
    assert_eq!(negotiated(resp.poll_event()).revision, 2);
    // An initiator refuses a Reply above the revision it offered.
    let mut init = MpaSetup::initiator(
        MpaConfig {
            revision: 1,
            ..cfg()
        },
        T0,
    )
    .unwrap();
    let _ = init.handle_bytes(T0, &hex(SIW_REPLY));
    assert_eq!(
        init.poll_event(),
        Some(MpaEvent::Failed(MpaError::Revision(2)))
    );
}

#[test]
fn interop_with_siw_frames() {
    // Our initiator, configured like the kernel rping client, sends siw's exact bytes.
    let rping = MpaConfig {
        crc: CrcPolicy::Accept,
        ird: 1,
        ord: 1,
        ..cfg()
    };
    let mut init = MpaSetup::initiator(rping, T0).unwrap();
    let mut sent = [0u8; MAX_FRAME_LEN];
    let n = init.poll_transmit(&mut sent);
    assert_eq!(sent[..n], hex(SIW_REQUEST)[..]);
    // siw's Reply followed by the first FPDU: only the Reply is consumed.
    let mut stream = hex(SIW_REPLY);
    let reply_len = stream.len();
    stream.extend_from_slice(&hex(SIW_WRITE_RTR));
    assert_eq!(init.handle_bytes(T0, &stream), reply_len);
    let p = negotiated(init.poll_event());
    assert_eq!(
        (p.revision, p.crc, p.ird, p.ord, p.p2p),
        (2, false, 1, 1, None)
    );

    // Our responder with siw's limits answers siw's Request with siw's exact Reply.
    let siw_like = MpaConfig {
        crc: CrcPolicy::Accept,
        ird: 128,
        ord: 128,
        ..cfg()
    };
    let mut resp = MpaSetup::responder(siw_like, T0).unwrap();
    let req = hex(SIW_REQUEST);
    assert_eq!(resp.handle_bytes(T0, &req), req.len());
    assert_eq!(resp.poll_event(), Some(MpaEvent::RequestReceived));
    resp.accept(b"").unwrap();
    let n = resp.poll_transmit(&mut sent);
    assert_eq!(sent[..n], hex(SIW_REPLY)[..]);

    // siw's P2P Request: we pick WRITE_RTR and answer as siw does (A echoed).
    let mut resp = MpaSetup::responder(siw_like, T0).unwrap();
    let _ = resp.handle_bytes(T0, &hex(SIW_REQUEST_P2P));
    assert_eq!(resp.poll_event(), Some(MpaEvent::RequestReceived));
    resp.accept(b"").unwrap();
    assert_eq!(negotiated(resp.poll_event()).p2p, Some(RtrType::Write));
    let n = resp.poll_transmit(&mut sent);
    assert_eq!(sent[16..n], hex("10 02 0004 8001 8001")[..]);

    // siw's P2P Replies to our P2P Request offering both.
    for (reply, want) in [
        (SIW_REPLY_P2P_WRITE, RtrType::Write),
        (SIW_REPLY_P2P_READ, RtrType::Read),
    ] {
        let mut init = MpaSetup::initiator(
            MpaConfig {
                p2p: Some(RtrSet::BOTH),
                ..rping
            },
            T0,
        )
        .unwrap();
        let n = init.poll_transmit(&mut sent);
        assert_eq!(sent[16..n], hex("10 02 0004 8001 c001")[..]);
        // siw mirrors IRD/ORD 16 here; our IRD of 1 is below its ORD of 16.
        let _ = init.handle_bytes(T0, &hex(reply));
        assert_eq!(
            init.poll_event(),
            Some(MpaEvent::Failed(MpaError::InsufficientIrd))
        );
        let mut init = MpaSetup::initiator(
            MpaConfig {
                p2p: Some(RtrSet::BOTH),
                ird: 16,
                ord: 16,
                ..rping
            },
            T0,
        )
        .unwrap();
        let _ = init.handle_bytes(T0, &hex(reply));
        assert_eq!(negotiated(init.poll_event()).p2p, Some(want));
    }
}

#[test]
fn config_validation() {
    let bad = |c: MpaConfig| MpaSetup::initiator(c, T0).map(|_| ()).unwrap_err();
    assert_eq!(
        bad(MpaConfig {
            revision: 3,
            ..cfg()
        }),
        ConfigError::Revision(3)
    );
    assert_eq!(
        bad(MpaConfig {
            ird: 0x4000,
            ..cfg()
        }),
        ConfigError::IrdOrdTooLarge
    );
    assert_eq!(
        bad(MpaConfig {
            revision: 1,
            p2p: Some(RtrSet::WRITE),
            ..cfg()
        }),
        ConfigError::P2pNeedsEnhanced
    );
    assert_eq!(
        bad(MpaConfig {
            p2p: Some(RtrSet {
                write: false,
                read: false
            }),
            ..cfg()
        }),
        ConfigError::NoRtrOffered
    );
    let big = PrivateData::new(&[7u8; 510]).unwrap();
    assert_eq!(
        bad(MpaConfig {
            private_data: big,
            ..cfg()
        }),
        ConfigError::PrivateDataTooLong { len: 510, max: 508 }
    );
    assert!(PrivateData::new(&[0u8; 513]).is_err());
    let mut resp = MpaSetup::responder(cfg(), T0).unwrap();
    assert_eq!(resp.reject(b""), Err(ConfigError::NotAwaitingDecision));
    let _ = resp.handle_bytes(T0, &hex(SIW_REQUEST));
    let _ = resp.poll_event();
    assert_eq!(
        resp.accept(&[0u8; 509]),
        Err(ConfigError::PrivateDataTooLong { len: 509, max: 508 })
    );
}

/// Feeds `stream` to `setup` in two pieces cut at `cut`; returns bytes consumed.
fn feed_split(setup: &mut MpaSetup, stream: &[u8], cut: usize) -> usize {
    let (a, b) = stream.split_at(cut);
    let n = setup.handle_bytes(T0, a);
    assert!(n <= a.len());
    if n < a.len() {
        // Setup ended inside the first piece; the rest is not ours.
        return n;
    }
    n + setup.handle_bytes(T0, b)
}

#[test]
fn byte_split_at_every_position() {
    let pd = b"private data that makes the frame longer";
    let init_cfg = MpaConfig {
        private_data: PrivateData::new(pd).unwrap(),
        ..cfg()
    };
    let mut request = vec![0u8; MAX_FRAME_LEN];
    let n = MpaSetup::initiator(init_cfg, T0)
        .unwrap()
        .poll_transmit(&mut request);
    request.truncate(n);
    for cut in 0..=request.len() {
        let mut resp = MpaSetup::responder(cfg(), T0).unwrap();
        assert_eq!(feed_split(&mut resp, &request, cut), request.len());
        assert_eq!(
            resp.poll_event(),
            Some(MpaEvent::RequestReceived),
            "cut {cut}"
        );
        assert_eq!(resp.peer_private_data(), pd);
    }
    let mut reply = hex(SIW_REPLY);
    let reply_len = reply.len();
    reply.extend_from_slice(&hex(SIW_WRITE_RTR));
    for cut in 0..=reply.len() {
        let mut init = MpaSetup::initiator(
            MpaConfig {
                ird: 1,
                ord: 1,
                ..cfg()
            },
            T0,
        )
        .unwrap();
        assert_eq!(feed_split(&mut init, &reply, cut), reply_len, "cut {cut}");
        assert!(matches!(init.poll_event(), Some(MpaEvent::Negotiated(_))));
    }
}

#[test]
fn transmit_in_small_pieces() {
    let mut init = MpaSetup::initiator(cfg(), T0).unwrap();
    let mut out = Vec::new();
    let mut one = [0u8; 1];
    while init.poll_transmit(&mut one) == 1 {
        out.push(one[0]);
    }
    assert_eq!(out.len(), HEADER_LEN + 4);
    assert!(!init.has_pending_transmit());
    assert_eq!(init.poll_transmit(&mut [0u8; 64]), 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn responder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600), chunk in 1usize..64) {
        let mut resp = MpaSetup::responder(cfg(), T0).unwrap();
        for piece in data.chunks(chunk) {
            let n = resp.handle_bytes(T0, piece);
            prop_assert!(n <= piece.len());
        }
        while resp.poll_event().is_some() {}
        let _ = resp.accept(b"x");
        let _ = resp.poll_transmit(&mut [0u8; MAX_FRAME_LEN]);
    }

    #[test]
    fn initiator_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..600), chunk in 1usize..64) {
        let mut init = MpaSetup::initiator(cfg(), T0).unwrap();
        let mut data = mpa::KEY_REPLY.to_vec();
        data.extend_from_slice(&tail);
        for piece in data.chunks(chunk) {
            let n = init.handle_bytes(T0, piece);
            prop_assert!(n <= piece.len());
        }
        while init.poll_event().is_some() {}
    }

    #[test]
    fn any_config_pair_ends_consistently(
        irev in 1u8..=2, rrev in 1u8..=2,
        icrc in 0usize..3, rcrc in 0usize..3,
        imark in 0usize..3, rmark in 0usize..3,
        ird in 0u16..300, ord in 0u16..300,
    ) {
        let crc = [CrcPolicy::Request, CrcPolicy::Accept, CrcPolicy::Refuse];
        let mark = [MarkerPolicy::Refuse, MarkerPolicy::Accept, MarkerPolicy::Request];
        let mut pair = Pair::new(
            MpaConfig { revision: irev, crc: crc[icrc], markers: mark[imark], ird, ord, ..cfg() },
            MpaConfig { revision: rrev, crc: crc[rcrc], markers: mark[rmark], ..cfg() },
        );
        let (i, r) = pair.run(Decision::Accept(b""));
        let (ic, rc, im, rm) = (crc[icrc], crc[rcrc], mark[imark], mark[rmark]);
        let conflict = (im == MarkerPolicy::Request && rm == MarkerPolicy::Refuse)
            || (rm == MarkerPolicy::Request && im == MarkerPolicy::Refuse)
            || (ic == CrcPolicy::Request && rc == CrcPolicy::Refuse)
            || (rc == CrcPolicy::Request && ic == CrcPolicy::Refuse);
        let both_ok = matches!((i, r), (Some(MpaEvent::Negotiated(_)), Some(MpaEvent::Negotiated(_))));
        prop_assert_eq!(both_ok, !conflict, "{:?} / {:?}", i, r);
        match (i, r) {
            (Some(MpaEvent::Negotiated(i)), Some(MpaEvent::Negotiated(r))) => {
                prop_assert_eq!(i.revision, r.revision);
                prop_assert_eq!(i.crc, r.crc);
                prop_assert_eq!((i.markers_rx, i.markers_tx), (r.markers_tx, r.markers_rx));
                if i.enhanced {
                    prop_assert!(i.ord <= r.ird && r.ord <= i.ird);
                }
            }
            (Some(MpaEvent::Failed(_)), Some(_)) | (Some(_), Some(MpaEvent::Failed(_))) => {}
            other => prop_assert!(false, "unfinished: {:?}", other),
        }
    }
}
